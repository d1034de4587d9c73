/* A registry holding every kind of series the endpoint can serve (self
 * health, RED from spans, OTLP counters, gauges and histograms, awkward
 * label values), shared by the promtool and Prometheus scrape tests. */
#ifndef CS_TEST_SAMPLE_REGISTRY_H
#define CS_TEST_SAMPLE_REGISTRY_H

#include "metrics.h"
#include "otlp_build.h"

static inline void sample_fill(cs_metrics *reg) {
  cs_metrics_label reason[] = {{"reason", "too_large"}};
  cs_metrics_counter_add(reg, "callscope_collector_spans_rejected", "Spans rejected, by reason",
                         reason, 1, 4);
  cs_metrics_counter_add(reg, "callscope_collector_spans_received", "Spans received", NULL, 0, 1234);
  cs_metrics_gauge_set(reg, "callscope_collector_queue_depth", "Batches waiting for the writer",
                       NULL, 0, 3);
  cs_metrics_label route[] = {{"route", "/api/traces"}, {"code", "200"}};
  cs_metrics_histogram_observe(reg, "callscope_query_request_duration_seconds",
                               "Query server request latency", cs_metrics_latency_bounds,
                               cs_metrics_latency_n_bounds, route, 2, 0.004);

  cs_resource res = {CS_STR_LIT("checkout"), NULL, 0};
  const char *ops[] = {"GET /cart", "op with \"quotes\" and \\ and \n newline", "caf\xc3\xa9",
                       "bad\xff utf8"};
  cs_span s[8];
  memset(s, 0, sizeof s);
  for (int i = 0; i < 8; i++) {
    s[i].resource = &res;
    s[i].name = (cs_str){ops[i % 4], (uint32_t)strlen(ops[i % 4])};
    s[i].kind = (uint8_t)(i % 6);
    s[i].status_code = (uint8_t)(i % 3);
    s[i].start_ns = 1000;
    s[i].end_ns = 1000 + (uint64_t)i * 7000000;
  }
  cs_metrics_ingest_spans(reg, s, 8);

  ot b = {0};
  ot_req *r = ot_request(&b, "payments", "pay-1", NULL);
  ot_metric *c = ot_metric_add(&b, r, "payments.processed", "{payment}", "Payments processed");
  ot_make_sum(&b, c, 1, OT_CUMULATIVE);
  ot_point(&b, c, 17, 10, 1, ot_kv_str(&b, "currency", "EUR"));
  ot_point(&b, c, 5, 10, 1, ot_kv_str(&b, "currency", "x\"y\\z\n"));
  ot_metric *g = ot_metric_add(&b, r, "process.memory.usage", "By", "Resident memory");
  ot_make_gauge(&b, g);
  ot_point(&b, g, 52428800, 10, 0);
  ot_metric *h = ot_metric_add(&b, r, "payment.duration", "s", "Payment latency");
  ot_make_histogram(&b, h, OT_DELTA);
  const double bounds[] = {0.05, 0.5, 5};
  const uint64_t counts[] = {2, 7, 1, 1};
  ot_hpoint(&b, h, bounds, 3, counts, 3.25, 10, 1, ot_kv_str(&b, "method", "card"));
  ot_metric *u = ot_metric_add(&b, r, "cpu.utilization", "1", "CPU utilization");
  ot_make_gauge(&b, u);
  ot_point(&b, u, 0.25, 10, 0);
  cs_metrics_ingest_otlp(reg, r);
  ot_free(&b);
}

#endif
