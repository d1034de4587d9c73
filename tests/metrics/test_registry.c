/* Unit tests of metrics/registry.c: the self-health API, type conflicts,
 * staleness, the series cap and its self metric, render hooks, and
 * concurrent writers with a renderer. */
#include <pthread.h>
#include <stdlib.h>

#include "check.h"
#include "internal.h"
#include "metrics.h"
#include "otlp_build.h"

static char *render(cs_metrics *reg, int om) {
  char *buf = NULL;
  size_t len = 0;
  int rc = cs_metrics_render(reg, om, &buf, &len);
  CHECK_EQ(rc, 0);
  if (buf) CHECK_EQ(strlen(buf), len);
  return buf;
}

static void registry_counter_gauge_histogram_roundtrip(void) {
  cs_metrics *reg = cs_metrics_new(NULL);
  cs_metrics_label l[] = {{"reason", "too_large"}};
  CHECK_EQ(cs_metrics_counter_add(reg, "callscope_spans_rejected", "Spans rejected", l, 1, 2), 0);
  CHECK_EQ(cs_metrics_counter_add(reg, "callscope_spans_rejected_total", "Spans rejected", l, 1, 3), 0);
  CHECK_EQ(cs_metrics_counter_add(reg, "callscope_spans_rejected", NULL, l, 1, -1), CS_METRICS_EINVAL);
  CHECK_EQ(cs_metrics_gauge_set(reg, "callscope_queue_depth", "Queued batches", NULL, 0, 7), 0);
  CHECK_EQ(cs_metrics_gauge_add(reg, "callscope_queue_depth", NULL, NULL, 0, -2), 0);
  const double b[] = {0.1, 1};
  CHECK_EQ(cs_metrics_histogram_observe(reg, "callscope_http_request_duration_seconds", "Latency",
                                        b, 2, NULL, 0, 0.05), 0);
  CHECK_EQ(cs_metrics_histogram_observe(reg, "callscope_http_request_duration_seconds", NULL, b,
                                        2, NULL, 0, 5), 0);
  const double other[] = {0.2};
  CHECK_EQ(cs_metrics_histogram_observe(reg, "callscope_http_request_duration_seconds", NULL,
                                        other, 1, NULL, 0, 5), CS_METRICS_ETYPE);
  CHECK_EQ(cs_metrics_gauge_set(reg, "callscope_spans_rejected", NULL, NULL, 0, 1), CS_METRICS_ETYPE);
  char *out = render(reg, 0);
  CHECK_LINE(out, "# HELP callscope_spans_rejected_total Spans rejected");
  CHECK_LINE(out, "# TYPE callscope_spans_rejected_total counter");
  CHECK_LINE(out, "callscope_spans_rejected_total{reason=\"too_large\"} 5");
  CHECK_LINE(out, "callscope_queue_depth 5");
  CHECK_LINE(out, "callscope_http_request_duration_seconds_bucket{le=\"0.1\"} 1");
  CHECK_LINE(out, "callscope_http_request_duration_seconds_bucket{le=\"1\"} 1");
  CHECK_LINE(out, "callscope_http_request_duration_seconds_bucket{le=\"+Inf\"} 2");
  CHECK_LINE(out, "callscope_http_request_duration_seconds_sum 5.05");
  CHECK_LINE(out, "callscope_http_request_duration_seconds_count 2");
  free(out);
  cs_metrics_free(reg);
}

static int hook_calls;
static void hook(cs_metrics *reg, void *ud) {
  hook_calls++;
  cs_metrics_counter_set(reg, "callscope_spans_received", "Spans received", NULL, 0,
                         (double)*(long *)ud);
}

static void registry_render_hooks_publish_current_values(void) {
  cs_metrics *reg = cs_metrics_new(NULL);
  long received = 10;
  CHECK_EQ(cs_metrics_add_render_hook(reg, hook, &received), 0);
  char *out = render(reg, 0);
  CHECK_LINE(out, "callscope_spans_received_total 10");
  free(out);
  received = 25;
  out = render(reg, 0);
  CHECK_LINE(out, "callscope_spans_received_total 25");
  CHECK_EQ(hook_calls, 2);
  free(out);
  cs_metrics_free(reg);
}

/* An ingested series (OTLP) goes stale; a self-health series never does. */
static void registry_stale_series_expire(void) {
  cs_metrics_opts o = {.stale_ns = 1000000000ull};
  cs_metrics *reg = cs_metrics_new(&o);
  ot b = {0};
  ot_req *r = ot_request(&b, "shop", "i-1", NULL);
  ot_metric *m = ot_metric_add(&b, r, "orders", "", "Orders");
  ot_make_sum(&b, m, 1, OT_CUMULATIVE);
  ot_point(&b, m, 3, 0, 0);
  CHECK_EQ(cs_metrics_ingest_otlp(reg, r), 0);
  cs_metrics_gauge_set(reg, "callscope_up", "Up", NULL, 0, 1);
  CHECK_EQ(cs_metrics_series_count(reg), 2);
  uint64_t now = __cs_metrics_now_ns();
  CHECK_EQ(cs_metrics_expire(reg, now), 0);
  CHECK_EQ(cs_metrics_expire(reg, now + 2000000000ull), 1);
  CHECK_EQ(cs_metrics_series_count(reg), 1);
  char *out = render(reg, 0);
  CHECK_NO_LINE(out, "# TYPE orders_total counter");
  CHECK_LINE(out, "callscope_up 1");
  CHECK_LINE(out, "callscope_metrics_series_expired_total 1");
  free(out);
  /* The family comes back when the service reports again. */
  CHECK_EQ(cs_metrics_ingest_otlp(reg, r), 0);
  out = render(reg, 0);
  CHECK_LINE(out, "orders_total{instance=\"i-1\",service=\"shop\"} 3");
  free(out);
  ot_free(&b);
  cs_metrics_free(reg);
}

static void registry_series_cap_refuses_and_counts(void) {
  cs_metrics_opts o = {.max_series = 5};
  cs_metrics *reg = cs_metrics_new(&o);
  ot b = {0};
  ot_req *r = ot_request(&b, "shop", NULL, NULL);
  ot_metric *m = ot_metric_add(&b, r, "hits", "", "Hits");
  ot_make_gauge(&b, m);
  char v[16];
  for (int i = 0; i < 8; i++) {
    snprintf(v, sizeof v, "u%d", i);
    ot_point(&b, m, i, 0, 1, ot_kv_str(&b, "user", v));
  }
  CHECK_EQ(cs_metrics_ingest_otlp(reg, r), 0);
  char *out = render(reg, 0);
  CHECK_LINE(out, "hits{service=\"shop\",user=\"u4\"} 4");
  CHECK_NO_LINE(out, "hits{service=\"shop\",user=\"u5\"} 5");
  CHECK_LINE(out, "callscope_metrics_series_dropped_total 3");
  CHECK_LINE(out, "callscope_metrics_series 5");
  CHECK_LINE(out, "callscope_metrics_series_limit 5");
  free(out);
  /* Existing series keep updating at the cap; self-health is exempt. */
  m->gauge->data_points[0]->as_double = 100;
  CHECK_EQ(cs_metrics_ingest_otlp(reg, r), 0);
  CHECK_EQ(cs_metrics_gauge_set(reg, "callscope_up", "Up", NULL, 0, 1), 0);
  out = render(reg, 0);
  CHECK_LINE(out, "hits{service=\"shop\",user=\"u0\"} 100");
  CHECK_LINE(out, "callscope_up 1");
  CHECK_LINE(out, "callscope_metrics_series_dropped_total 6");
  /* Logged once, the other refusals within 10 s only counted. */
  CHECK_EQ(reg->cap_log_suppressed, 5);
  free(out);
  ot_free(&b);
  cs_metrics_free(reg);
}

static void registry_render_size_cap(void) {
  cs_metrics_opts o = {.max_render_bytes = 200};
  cs_metrics *reg = cs_metrics_new(&o);
  char *buf = (char *)1;
  size_t len = 9;
  CHECK_EQ(cs_metrics_render(reg, 0, &buf, &len), CS_METRICS_ETOOBIG);
  CHECK(buf == NULL);
  CHECK_EQ(len, 0);
  cs_metrics_free(reg);
}

static void registry_strerror_covers_codes(void) {
  CHECK_STR(cs_metrics_strerror(CS_METRICS_ECAP), "series cap reached, new series refused");
  CHECK_STR(cs_metrics_strerror(0), "ok");
  CHECK_STR(cs_metrics_strerror(-99), "unknown error");
  cs_metrics_free(NULL);
}

typedef struct worker_arg {
  cs_metrics *reg;
  int id;
} worker_arg;

static void *writer(void *p) {
  worker_arg *a = p;
  char v[16];
  snprintf(v, sizeof v, "w%d", a->id);
  cs_metrics_label l[] = {{"worker", v}};
  for (int i = 0; i < 20000; i++) {
    cs_metrics_counter_add(a->reg, "callscope_test_ops", "Ops", l, 1, 1);
    if (i % 1000 == 0) cs_metrics_histogram_observe(a->reg, "callscope_test_seconds", "Lat",
                                                    cs_metrics_latency_bounds,
                                                    cs_metrics_latency_n_bounds, l, 1, 0.01);
  }
  return NULL;
}

static void *renderer(void *p) {
  cs_metrics *reg = p;
  for (int i = 0; i < 50; i++) {
    char *buf = NULL;
    size_t len;
    if (cs_metrics_render(reg, i & 1, &buf, &len) == 0) free(buf);
  }
  return NULL;
}

static void registry_concurrent_writers_and_renders(void) {
  cs_metrics *reg = cs_metrics_new(NULL);
  pthread_t t[4];
  worker_arg a[3];
  for (int i = 0; i < 3; i++) {
    a[i] = (worker_arg){reg, i};
    pthread_create(&t[i], NULL, writer, &a[i]);
  }
  pthread_create(&t[3], NULL, renderer, reg);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  char *out = render(reg, 0);
  CHECK_LINE(out, "callscope_test_ops_total{worker=\"w0\"} 20000");
  CHECK_LINE(out, "callscope_test_ops_total{worker=\"w2\"} 20000");
  CHECK_LINE(out, "callscope_test_seconds_count{worker=\"w1\"} 20");
  free(out);
  cs_metrics_free(reg);
}

int main(void) {
  RUN(registry_counter_gauge_histogram_roundtrip);
  RUN(registry_render_hooks_publish_current_values);
  RUN(registry_stale_series_expire);
  RUN(registry_series_cap_refuses_and_counts);
  RUN(registry_render_size_cap);
  RUN(registry_strerror_covers_codes);
  RUN(registry_concurrent_writers_and_renders);
  return CHECK_DONE();
}
