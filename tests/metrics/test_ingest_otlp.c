/* Unit tests of metrics/ingest_otlp.c: OTLP Sum, Gauge and Histogram points
 * become the right Prometheus families, delta temporality is accumulated
 * into cumulative values, and bad points are counted, not rendered. */
#include <stdlib.h>

#include "check.h"
#include "metrics.h"
#include "otlp_build.h"

static char *render(cs_metrics *reg, int om) {
  char *buf = NULL;
  size_t len = 0;
  CHECK_EQ(cs_metrics_render(reg, om, &buf, &len), 0);
  return buf;
}

/* The value field of the line [p, e): after its last space. */
static const char *line_value(const char *p, const char *e) {
  const char *sp = NULL;
  for (const char *q = p; q < e; q++)
    if (*q == ' ') sp = q;
  return sp ? sp : p;
}

/* Every histogram series of family `name` in text output: buckets are
 * cumulative (never decrease), the last is +Inf, and +Inf equals _count.
 * Returns the number of series checked. */
static int check_histograms(const char *text, const char *name) {
  char bucket[256], count[256];
  snprintf(bucket, sizeof bucket, "%s_bucket{", name);
  snprintf(count, sizeof count, "%s_count", name);
  int series = 0;
  unsigned long long prev = 0, inf = 0;
  int in_series = 0, saw_inf = 0;
  for (const char *p = text; p && *p;) {
    const char *e = strchr(p, '\n');
    if (!e) e = p + strlen(p);
    if (!strncmp(p, bucket, strlen(bucket))) {
      const char *sp = line_value(p, e);
      unsigned long long v = strtoull(sp + 1, NULL, 10);
      if (!in_series) prev = 0, saw_inf = 0;
      in_series = 1;
      CHECK_INT(v, >=, prev);
      prev = v;
      if (strstr(p, "le=\"+Inf\"") && strstr(p, "le=\"+Inf\"") < e) saw_inf = 1, inf = v;
    } else if (!strncmp(p, count, strlen(count))) {
      const char *sp = line_value(p, e);
      CHECK(saw_inf);
      CHECK_EQ(strtoull(sp + 1, NULL, 10), inf);
      in_series = 0;
      series++;
    }
    p = *e ? e + 1 : NULL;
  }
  return series;
}

static void otlp_sum_monotonic_is_counter_else_gauge(void) {
  cs_metrics *reg = cs_metrics_new(NULL);
  ot b = {0};
  ot_req *r = ot_request(&b, "checkout", "pod-7", "host-1");
  ot_metric *m = ot_metric_add(&b, r, "http.server.requests", "{request}", "Requests served");
  ot_make_sum(&b, m, 1, OT_CUMULATIVE);
  ot_point(&b, m, 41, 100, 2, ot_kv_str(&b, "http.method", "GET"), ot_kv_int(&b, "http.status_code", 200));
  ot_metric *g = ot_metric_add(&b, r, "queue.size", "", "");
  ot_make_sum(&b, g, 0, OT_CUMULATIVE);
  ot_point(&b, g, -3, 100, 0);
  ot_metric *t = ot_metric_add(&b, r, "cpu.temperature", "Cel", "CPU temperature");
  ot_make_gauge(&b, t);
  ot_point(&b, t, 61.5, 100, 0);
  CHECK_EQ(cs_metrics_ingest_otlp(reg, r), 0);
  char *out = render(reg, 0);
  CHECK_LINE(out, "# HELP http_server_requests_total Requests served");
  CHECK_LINE(out, "# TYPE http_server_requests_total counter");
  CHECK_LINE(out, "http_server_requests_total{http_method=\"GET\",http_status_code=\"200\",instance=\"pod-7\",service=\"checkout\"} 41");
  /* No description: the OTLP name is the help text. */
  CHECK_LINE(out, "# HELP queue_size queue.size");
  CHECK_LINE(out, "# TYPE queue_size gauge");
  CHECK_LINE(out, "queue_size{instance=\"pod-7\",service=\"checkout\"} -3");
  CHECK_LINE(out, "# TYPE cpu_temperature_celsius gauge");
  CHECK_LINE(out, "cpu_temperature_celsius{instance=\"pod-7\",service=\"checkout\"} 61.5");
  free(out);
  /* A newer cumulative point replaces the value. */
  m->sum->data_points[0]->as_double = 50;
  m->sum->data_points[0]->time_unix_nano = 200;
  CHECK_EQ(cs_metrics_ingest_otlp(reg, r), 0);
  out = render(reg, 0);
  CHECK_LINE(out, "http_server_requests_total{http_method=\"GET\",http_status_code=\"200\",instance=\"pod-7\",service=\"checkout\"} 50");
  free(out);
  ot_free(&b);
  cs_metrics_free(reg);
}

static void otlp_delta_sum_accumulates_and_skips_replays(void) {
  cs_metrics *reg = cs_metrics_new(NULL);
  ot b = {0};
  ot_req *r = ot_request(&b, "cart", NULL, "h1");
  ot_metric *m = ot_metric_add(&b, r, "items.added", "", "Items");
  ot_make_sum(&b, m, 1, OT_DELTA);
  ot_num *p = ot_point(&b, m, 5, 1000, 0);
  CHECK_EQ(cs_metrics_ingest_otlp(reg, r), 0);
  p->as_double = 7;
  p->time_unix_nano = 2000;
  CHECK_EQ(cs_metrics_ingest_otlp(reg, r), 0);
  /* The same batch again (a retried send) must not count twice. */
  CHECK_EQ(cs_metrics_ingest_otlp(reg, r), 0);
  char *out = render(reg, 0);
  /* instance falls back to host.name */
  CHECK_LINE(out, "items_added_total{instance=\"h1\",service=\"cart\"} 12");
  CHECK_LINE(out, "callscope_metrics_points_rejected_total{reason=\"out_of_order\"} 1");
  free(out);
  /* A non-monotonic delta sum (an UpDownCounter) accumulates as a gauge. */
  ot_metric *u = ot_metric_add(&b, r, "connections.open", "", "Open");
  ot_make_sum(&b, u, 0, OT_DELTA);
  ot_num *q = ot_point(&b, u, 4, 3000, 0);
  CHECK_EQ(cs_metrics_ingest_otlp(reg, r), 0);
  q->as_double = -1;
  q->time_unix_nano = 4000;
  CHECK_EQ(cs_metrics_ingest_otlp(reg, r), 0);
  out = render(reg, 0);
  CHECK_LINE(out, "# TYPE connections_open gauge");
  CHECK_LINE(out, "connections_open{instance=\"h1\",service=\"cart\"} 3");
  free(out);
  ot_free(&b);
  cs_metrics_free(reg);
}

static void otlp_histogram_cumulative_buckets(void) {
  cs_metrics *reg = cs_metrics_new(NULL);
  ot b = {0};
  ot_req *r = ot_request(&b, "api", "i1", NULL);
  ot_metric *m = ot_metric_add(&b, r, "http.server.duration", "s", "Request duration");
  ot_make_histogram(&b, m, OT_CUMULATIVE);
  const double bounds[] = {0.01, 0.1, 1};
  const uint64_t counts[] = {3, 5, 1, 2};
  ot_hpoint(&b, m, bounds, 3, counts, 4.5, 10, 1, ot_kv_str(&b, "route", "/a"));
  const uint64_t counts2[] = {0, 0, 0, 1};
  ot_hpoint(&b, m, bounds, 3, counts2, 9, 10, 1, ot_kv_str(&b, "route", "/b"));
  CHECK_EQ(cs_metrics_ingest_otlp(reg, r), 0);
  char *out = render(reg, 0);
  CHECK_LINE(out, "# TYPE http_server_duration_seconds histogram");
  CHECK_LINE(out, "http_server_duration_seconds_bucket{instance=\"i1\",route=\"/a\",service=\"api\",le=\"0.01\"} 3");
  CHECK_LINE(out, "http_server_duration_seconds_bucket{instance=\"i1\",route=\"/a\",service=\"api\",le=\"0.1\"} 8");
  CHECK_LINE(out, "http_server_duration_seconds_bucket{instance=\"i1\",route=\"/a\",service=\"api\",le=\"1\"} 9");
  CHECK_LINE(out, "http_server_duration_seconds_bucket{instance=\"i1\",route=\"/a\",service=\"api\",le=\"+Inf\"} 11");
  CHECK_LINE(out, "http_server_duration_seconds_sum{instance=\"i1\",route=\"/a\",service=\"api\"} 4.5");
  CHECK_LINE(out, "http_server_duration_seconds_count{instance=\"i1\",route=\"/a\",service=\"api\"} 11");
  CHECK_EQ(check_histograms(out, "http_server_duration_seconds"), 2);
  free(out);
  out = render(reg, 1);
  CHECK_LINE(out, "# TYPE http_server_duration_seconds histogram");
  CHECK_LINE(out, "# UNIT http_server_duration_seconds seconds");
  free(out);
  ot_free(&b);
  cs_metrics_free(reg);
}

static void otlp_histogram_delta_becomes_cumulative(void) {
  cs_metrics *reg = cs_metrics_new(NULL);
  ot b = {0};
  ot_req *r = ot_request(&b, "api", "i1", NULL);
  ot_metric *m = ot_metric_add(&b, r, "db.query.time", "ms", "Query time");
  ot_make_histogram(&b, m, OT_DELTA);
  const double bounds[] = {5, 50};
  const uint64_t c1[] = {1, 2, 0};
  ot_hist *p = ot_hpoint(&b, m, bounds, 2, c1, 30, 100, 0);
  CHECK_EQ(cs_metrics_ingest_otlp(reg, r), 0);
  const uint64_t c2[] = {0, 1, 4};
  memcpy(p->bucket_counts, c2, sizeof c2);
  p->count = 5;
  p->sum = 1000;
  p->time_unix_nano = 200;
  CHECK_EQ(cs_metrics_ingest_otlp(reg, r), 0);
  char *out = render(reg, 0);
  CHECK_LINE(out, "db_query_time_milliseconds_bucket{instance=\"i1\",service=\"api\",le=\"5\"} 1");
  CHECK_LINE(out, "db_query_time_milliseconds_bucket{instance=\"i1\",service=\"api\",le=\"50\"} 4");
  CHECK_LINE(out, "db_query_time_milliseconds_bucket{instance=\"i1\",service=\"api\",le=\"+Inf\"} 8");
  CHECK_LINE(out, "db_query_time_milliseconds_sum{instance=\"i1\",service=\"api\"} 1030");
  CHECK_LINE(out, "db_query_time_milliseconds_count{instance=\"i1\",service=\"api\"} 8");
  CHECK_EQ(check_histograms(out, "db_query_time_milliseconds"), 1);
  free(out);
  /* Deltas with other buckets cannot be merged: rejected, state kept. */
  const double other[] = {1, 2};
  memcpy(p->explicit_bounds, other, sizeof other);
  p->time_unix_nano = 300;
  CHECK_EQ(cs_metrics_ingest_otlp(reg, r), 0);
  out = render(reg, 0);
  CHECK_LINE(out, "db_query_time_milliseconds_count{instance=\"i1\",service=\"api\"} 8");
  CHECK_LINE(out, "callscope_metrics_points_rejected_total{reason=\"invalid\"} 1");
  free(out);
  ot_free(&b);
  cs_metrics_free(reg);
}

static void otlp_bad_points_are_counted_not_rendered(void) {
  cs_metrics *reg = cs_metrics_new(NULL);
  ot b = {0};
  ot_req *r = ot_request(&b, "svc", NULL, NULL);
  /* Bucket counts that do not match the bounds. */
  ot_metric *h = ot_metric_add(&b, r, "bad.hist", "", "x");
  ot_make_histogram(&b, h, OT_CUMULATIVE);
  const double bounds[] = {1, 2};
  const uint64_t counts[] = {1, 1, 1};
  ot_hist *hp = ot_hpoint(&b, h, bounds, 2, counts, 3, 1, 0);
  hp->n_bucket_counts = 2;
  /* Bounds out of order. */
  ot_metric *h2 = ot_metric_add(&b, r, "bad.hist2", "", "x");
  ot_make_histogram(&b, h2, OT_CUMULATIVE);
  const double desc[] = {2, 1};
  ot_hpoint(&b, h2, desc, 2, counts, 3, 1, 0);
  /* A counter going negative, and a point without a value. */
  ot_metric *c = ot_metric_add(&b, r, "bad.counter", "", "x");
  ot_make_sum(&b, c, 1, OT_CUMULATIVE);
  ot_point(&b, c, -1, 1, 0);
  ot_num *nv = ot_point(&b, c, 1, 1, 1, ot_kv_str(&b, "k", "v"));
  nv->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE__NOT_SET;
  /* Unspecified temporality, unsupported types, a type conflict. */
  ot_metric *u = ot_metric_add(&b, r, "bad.temporality", "", "x");
  ot_make_sum(&b, u, 1, 0);
  ot_point(&b, u, 1, 1, 0);
  ot_metric *e = ot_metric_add(&b, r, "exp.hist", "", "x");
  e->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM;
  ot_metric *g = ot_metric_add(&b, r, "clash", "", "x");
  ot_make_gauge(&b, g);
  ot_point(&b, g, 1, 1, 0);
  ot_metric *s = ot_metric_add(&b, r, "clash", "", "x");
  ot_make_histogram(&b, s, OT_CUMULATIVE);
  ot_hpoint(&b, s, bounds, 2, counts, 3, 1, 0);
  /* Callscope's own namespace is off limits. */
  ot_metric *own = ot_metric_add(&b, r, "callscope.span.calls", "", "x");
  ot_make_sum(&b, own, 1, OT_CUMULATIVE);
  ot_point(&b, own, 1e9, 1, 0);
  /* A "no recorded value" point is skipped silently. */
  ot_metric *nr = ot_metric_add(&b, r, "gone", "", "x");
  ot_make_gauge(&b, nr);
  ot_point(&b, nr, 1, 1, 0)->flags = 1;
  CHECK_EQ(cs_metrics_ingest_otlp(reg, r), 0);
  char *out = render(reg, 0);
  CHECK(!strstr(out, "bad_"));
  CHECK(!strstr(out, "gone"));
  CHECK(!strstr(out, "exp_hist"));
  CHECK_LINE(out, "clash{service=\"svc\"} 1");
  CHECK_LINE(out, "callscope_metrics_points_rejected_total{reason=\"invalid\"} 5");
  CHECK_LINE(out, "callscope_metrics_points_rejected_total{reason=\"unsupported\"} 1");
  CHECK_LINE(out, "callscope_metrics_points_rejected_total{reason=\"type_conflict\"} 1");
  CHECK_LINE(out, "callscope_metrics_points_rejected_total{reason=\"reserved_name\"} 1");
  CHECK(!strstr(out, "callscope_span_calls"));
  free(out);
  CHECK_EQ(cs_metrics_ingest_otlp(reg, NULL), CS_METRICS_EINVAL);
  ot_free(&b);
  cs_metrics_free(reg);
}

static void otlp_labels_sanitized_escaped_and_reserved(void) {
  cs_metrics *reg = cs_metrics_new(NULL);
  ot b = {0};
  ot_req *r = ot_request(&b, "we\"ird\\svc\n", NULL, NULL);
  ot_metric *m = ot_metric_add(&b, r, "9lives.count", "", "Lives");
  ot_make_gauge(&b, m);
  ot_point(&b, m, 1, 1, 4, ot_kv_str(&b, "service", "spoof"), ot_kv_str(&b, "user.id", "a\"b"),
           ot_kv_str(&b, "__name__", "x"), ot_kv_str(&b, "empty", ""));
  ot_metric *h = ot_metric_add(&b, r, "lat", "", "Lat");
  ot_make_histogram(&b, h, OT_CUMULATIVE);
  const double bounds[] = {1};
  const uint64_t counts[] = {1, 0};
  ot_hpoint(&b, h, bounds, 1, counts, 0.5, 1, 1, ot_kv_str(&b, "le", "own"));
  CHECK_EQ(cs_metrics_ingest_otlp(reg, r), 0);
  char *out = render(reg, 0);
  CHECK_LINE(out, "_9lives_count{exported_service=\"spoof\",key__name__=\"x\",service=\"we\\\"ird\\\\svc\\n\",user_id=\"a\\\"b\"} 1");
  CHECK_LINE(out, "lat_bucket{exported_le=\"own\",service=\"we\\\"ird\\\\svc\\n\",le=\"1\"} 1");
  free(out);
  ot_free(&b);
  cs_metrics_free(reg);
}

static void otlp_missing_service_is_unknown_service(void) {
  cs_metrics *reg = cs_metrics_new(NULL);
  ot b = {0};
  ot_req *r = ot_request(&b, NULL, NULL, NULL);
  ot_metric *m = ot_metric_add(&b, r, "x", "", "X");
  ot_make_gauge(&b, m);
  ot_point(&b, m, 2, 1, 0);
  CHECK_EQ(cs_metrics_ingest_otlp(reg, r), 0);
  char *out = render(reg, 0);
  CHECK_LINE(out, "x{service=\"unknown_service\"} 2");
  free(out);
  ot_free(&b);
  cs_metrics_free(reg);
}

/* A label set above the key cap (16 KiB rendered) is refused for that
 * point only; the other points of the metric are unaffected. */
static void otlp_oversized_label_set_rejected_alone(void) {
  cs_metrics *reg = cs_metrics_new(NULL);
  ot b = {0};
  ot_req *r = ot_request(&b, "svc", NULL, NULL);
  ot_metric *m = ot_metric_add(&b, r, "g", "", "G");
  ot_make_gauge(&b, m);
  char big[1100];
  memset(big, '"', sizeof big - 1); /* each escapes to two bytes */
  big[sizeof big - 1] = 0;
  ot_num *p = ot_point(&b, m, 1, 1, 0);
  for (int i = 0; i < 20; i++) {
    char k[8];
    snprintf(k, sizeof k, "k%d", i);
    OT_PUSH(&b, p->attributes, p->n_attributes, ot_kv_str(&b, k, big));
  }
  ot_point(&b, m, 2, 1, 1, ot_kv_str(&b, "small", "yes"));
  CHECK_EQ(cs_metrics_ingest_otlp(reg, r), 0);
  char *out = render(reg, 0);
  CHECK_LINE(out, "g{service=\"svc\",small=\"yes\"} 2");
  CHECK_LINE(out, "callscope_metrics_points_rejected_total{reason=\"too_many_labels\"} 1");
  CHECK(!strstr(out, "k19="));
  free(out);
  ot_free(&b);
  cs_metrics_free(reg);
}

/* libtrace sends its own health as callscope.trace.* from every service:
 * that one family is accepted (per service and instance); the rest of
 * callscope_*, such as the collector's series, stays reserved. */
static void otlp_libtrace_health_accepted_rest_reserved(void) {
  cs_metrics *reg = cs_metrics_new(NULL);
  ot b = {0};
  ot_req *r = ot_request(&b, "orders", "pod-2", NULL);
  ot_metric *ex = ot_metric_add(&b, r, "callscope.trace.spans.exported", "{span}",
                                "spans sent (UDP) or acknowledged (TCP)");
  ot_make_sum(&b, ex, 1, OT_CUMULATIVE);
  ot_point(&b, ex, 581, 1, 0);
  ot_metric *dr = ot_metric_add(&b, r, "callscope.trace.spans.dropped", "{span}", "spans dropped");
  ot_make_sum(&b, dr, 1, OT_CUMULATIVE);
  ot_point(&b, dr, 3, 1, 1, ot_kv_str(&b, "reason", "queue_full"));
  ot_metric *q = ot_metric_add(&b, r, "callscope.trace.queue.bytes", "By", "ring bytes in use");
  ot_make_gauge(&b, q);
  ot_point(&b, q, 4096, 1, 0);
  /* Spoofs of Callscope's own series: still refused. */
  ot_metric *col = ot_metric_add(&b, r, "callscope.collector.spans_received", "", "x");
  ot_make_sum(&b, col, 1, OT_CUMULATIVE);
  ot_point(&b, col, 1e9, 1, 0);
  ot_metric *col2 = ot_metric_add(&b, r, "callscope_collector_spans_dropped", "", "x");
  ot_make_sum(&b, col2, 1, OT_CUMULATIVE);
  ot_point(&b, col2, 1, 1, 0);
  ot_metric *near = ot_metric_add(&b, r, "callscope.tracer.x", "", "x");
  ot_make_gauge(&b, near);
  ot_point(&b, near, 1, 1, 0);
  CHECK_EQ(cs_metrics_ingest_otlp(reg, r), 0);
  char *out = render(reg, 0);
  CHECK_LINE(out, "# TYPE callscope_trace_spans_exported_total counter");
  CHECK_LINE(out, "callscope_trace_spans_exported_total{instance=\"pod-2\",service=\"orders\"} 581");
  CHECK_LINE(out, "callscope_trace_spans_dropped_total{instance=\"pod-2\",reason=\"queue_full\",service=\"orders\"} 3");
  CHECK_LINE(out, "callscope_trace_queue_bytes{instance=\"pod-2\",service=\"orders\"} 4096");
  CHECK(!strstr(out, "callscope_collector"));
  CHECK(!strstr(out, "callscope_tracer"));
  CHECK_LINE(out, "callscope_metrics_points_rejected_total{reason=\"reserved_name\"} 3");
  free(out);
  ot_free(&b);
  cs_metrics_free(reg);
}

int main(void) {
  RUN(otlp_libtrace_health_accepted_rest_reserved);
  RUN(otlp_sum_monotonic_is_counter_else_gauge);
  RUN(otlp_delta_sum_accumulates_and_skips_replays);
  RUN(otlp_histogram_cumulative_buckets);
  RUN(otlp_histogram_delta_becomes_cumulative);
  RUN(otlp_bad_points_are_counted_not_rendered);
  RUN(otlp_labels_sanitized_escaped_and_reserved);
  RUN(otlp_missing_service_is_unknown_service);
  RUN(otlp_oversized_label_set_rejected_alone);
  return CHECK_DONE();
}
