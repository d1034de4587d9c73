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
  /* Histograms OpenMetrics is strict about: negative bounds (no _sum and
   * so no _count), a negative sum, an absent sum (optional in OTLP), NaN. */
  const double neg_bounds[] = {-10, 0, 10};
  const uint64_t neg_counts[] = {1, 2, 3, 4};
  ot_metric *t = ot_metric_add(&b, r, "room.temperature.delta", "", "Temperature change");
  ot_make_histogram(&b, t, OT_CUMULATIVE);
  ot_hpoint(&b, t, neg_bounds, 3, neg_counts, -4.5, 10, 0);
  ot_metric *ns = ot_metric_add(&b, r, "refund.amount", "", "Refunds (negative sum)");
  ot_make_histogram(&b, ns, OT_CUMULATIVE);
  ot_hpoint(&b, ns, bounds, 3, counts, -3, 10, 0);
  ot_metric *as = ot_metric_add(&b, r, "queue.wait", "", "No sum sent");
  ot_make_histogram(&b, as, OT_CUMULATIVE);
  ot_hpoint(&b, as, bounds, 3, counts, 0, 10, 0)->sum_present_case =
      OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__SUM_PRESENT__NOT_SET;
  ot_metric *nan = ot_metric_add(&b, r, "broken.sum", "", "NaN sum");
  ot_make_histogram(&b, nan, OT_CUMULATIVE);
  ot_hpoint(&b, nan, bounds, 3, counts, 0.0 / 0.0, 10, 0);
  /* Names whose samples would clash with payments_processed (a counter,
   * so payments_processed_total) and payment_duration_seconds (a
   * histogram): refused, or both formats would reject the whole page. */
  ot_metric *c1 = ot_metric_add(&b, r, "payments.processed.total", "", "Clash with a counter");
  ot_make_gauge(&b, c1);
  ot_point(&b, c1, 1, 10, 0);
  ot_metric *c2 =
      ot_metric_add(&b, r, "payment.duration.seconds.count", "", "Clash with a histogram");
  ot_make_gauge(&b, c2);
  ot_point(&b, c2, 1, 10, 0);
  cs_metrics_ingest_otlp(reg, r);
  ot_free(&b);
}

#endif
