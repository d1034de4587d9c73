/* Unit tests of metrics/render.c: the two text formats, stable sorted
 * output, HELP escaping per format, and Accept header negotiation. */
#include <math.h>
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

static cs_metrics *sample_registry(void) {
  cs_metrics *reg = cs_metrics_new(NULL);
  cs_metrics_label a[] = {{"zone", "b"}}, b[] = {{"zone", "a"}};
  /* Inserted out of order on purpose. */
  cs_metrics_gauge_set(reg, "zeta", "Last family", a, 1, 1);
  cs_metrics_gauge_set(reg, "zeta", "Last family", b, 1, 2);
  cs_metrics_counter_add(reg, "alpha_requests", "Help with \"quotes\", a \\ and\na newline", NULL, 0, 3);
  const double bounds[] = {0.5};
  cs_metrics_histogram_observe(reg, "mid_seconds", "Mid", bounds, 1, NULL, 0, 0.25);
  return reg;
}

static void render_text_format(void) {
  cs_metrics *reg = sample_registry();
  char *out = render(reg, 0);
  CHECK_LINE(out, "# HELP alpha_requests_total Help with \"quotes\", a \\\\ and\\na newline");
  CHECK_LINE(out, "# TYPE alpha_requests_total counter");
  CHECK_LINE(out, "alpha_requests_total 3");
  CHECK_LINE(out, "# TYPE mid_seconds histogram");
  CHECK_LINE(out, "mid_seconds_bucket{le=\"0.5\"} 1");
  CHECK_LINE(out, "mid_seconds_bucket{le=\"+Inf\"} 1");
  CHECK_LINE(out, "mid_seconds_sum 0.25");
  CHECK_NO_LINE(out, "# EOF");
  CHECK(strstr(out, "# UNIT") == NULL);
  /* Families sorted by name, series by labels. */
  const char *pa = strstr(out, "alpha_requests_total 3");
  const char *pc = strstr(out, "callscope_metrics_series ");
  const char *pm = strstr(out, "mid_seconds_bucket");
  const char *pz1 = strstr(out, "zeta{zone=\"a\"} 2");
  const char *pz2 = strstr(out, "zeta{zone=\"b\"} 1");
  CHECK(pa && pc && pm && pz1 && pz2);
  CHECK(pa < pc && pc < pm && pm < pz1 && pz1 < pz2);
  CHECK(out[strlen(out) - 1] == '\n');
  /* Same registry, same bytes. */
  char *again = render(reg, 0);
  CHECK_STR(out, again);
  free(again);
  free(out);
  cs_metrics_free(reg);
}

static void render_openmetrics_format(void) {
  cs_metrics *reg = sample_registry();
  char *out = render(reg, 1);
  CHECK_LINE(out, "# HELP alpha_requests Help with \\\"quotes\\\", a \\\\ and\\na newline");
  CHECK_LINE(out, "# TYPE alpha_requests counter");
  CHECK_LINE(out, "alpha_requests_total 3");
  CHECK_LINE(out, "# TYPE callscope_metrics_series_dropped counter");
  CHECK_LINE(out, "callscope_metrics_series_dropped_total 0");
  CHECK_LINE(out, "mid_seconds_count 1");
  size_t n = strlen(out);
  CHECK(n > 6 && strcmp(out + n - 6, "# EOF\n") == 0);
  CHECK(strstr(out, "# EOF") == out + n - 6);
  free(out);
  cs_metrics_free(reg);
}

static void render_negotiates_format_from_accept(void) {
  int om = -1;
  /* Prometheus 2.x's scrape Accept header. */
  const char *ct = cs_metrics_negotiate(
      "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
      "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
      &om);
  CHECK_EQ(om, 1);
  CHECK_STR(ct, "application/openmetrics-text; version=1.0.0; charset=utf-8");
  ct = cs_metrics_negotiate("text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.5", &om);
  CHECK_EQ(om, 0);
  CHECK_STR(ct, "text/plain; version=0.0.4; charset=utf-8");
  cs_metrics_negotiate(NULL, &om);
  CHECK_EQ(om, 0);
  cs_metrics_negotiate("", &om);
  CHECK_EQ(om, 0);
  cs_metrics_negotiate("*/*", &om);
  CHECK_EQ(om, 0);
  cs_metrics_negotiate("Application/OpenMetrics-Text ; version=1.0.0", &om);
  CHECK_EQ(om, 1);
  cs_metrics_negotiate("application/openmetrics-text;q=0", &om);
  CHECK_EQ(om, 0);
  cs_metrics_negotiate("application/openmetrics-text;q=garbage", &om);
  CHECK_EQ(om, 0);
  cs_metrics_negotiate("application/json, application/openmetrics-text;q=0.2", &om);
  CHECK_EQ(om, 1);
}

/* OpenMetrics: _sum is counter-like, so it is left out when negative or
 * when buckets are negative, and _count goes with it (both or neither);
 * text 0.0.4 keeps both. */
static void render_openmetrics_omits_negative_sums(void) {
  cs_metrics *reg = cs_metrics_new(NULL);
  const double neg[] = {-1, 0, 1}, pos[] = {1};
  cs_metrics_histogram_observe(reg, "temp_delta", "T", neg, 3, NULL, 0, -0.5);
  cs_metrics_histogram_observe(reg, "plain", "P", pos, 1, NULL, 0, 0.5);
  char *out = render(reg, 1);
  CHECK(!strstr(out, "temp_delta_sum"));
  CHECK(!strstr(out, "temp_delta_count"));
  CHECK_LINE(out, "temp_delta_bucket{le=\"+Inf\"} 1");
  CHECK_LINE(out, "plain_sum 0.5");
  CHECK_LINE(out, "plain_count 1");
  free(out);
  out = render(reg, 0);
  CHECK_LINE(out, "temp_delta_sum -0.5");
  CHECK_LINE(out, "temp_delta_count 1");
  free(out);
  cs_metrics_free(reg);
}

/* OTLP histogram points whose sum is absent (it is optional) or NaN. */
static void render_histogram_without_sum_has_no_count_in_openmetrics(void) {
  cs_metrics *reg = cs_metrics_new(NULL);
  ot b = {0};
  ot_req *r = ot_request(&b, "svc", "i", NULL);
  const double bounds[] = {1, 10};
  const uint64_t counts[] = {1, 2, 3};
  ot_metric *m = ot_metric_add(&b, r, "absent.sum", "", "");
  ot_make_histogram(&b, m, OT_CUMULATIVE);
  ot_hist *p = ot_hpoint(&b, m, bounds, 2, counts, 0, 1, 0);
  p->sum_present_case =
      OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__SUM_PRESENT__NOT_SET;
  ot_metric *n = ot_metric_add(&b, r, "nan.sum", "", "");
  ot_make_histogram(&b, n, OT_CUMULATIVE);
  ot_hpoint(&b, n, bounds, 2, counts, NAN, 1, 0);
  CHECK_EQ(cs_metrics_ingest_otlp(reg, r), 0);
  char *out = render(reg, 1);
  CHECK_LINE(out, "absent_sum_bucket{instance=\"i\",service=\"svc\",le=\"+Inf\"} 6");
  CHECK(!strstr(out, "absent_sum_sum"));
  CHECK(!strstr(out, "absent_sum_count"));
  CHECK(!strstr(out, "nan_sum_sum"));
  CHECK(!strstr(out, "nan_sum_count"));
  free(out);
  /* Text 0.0.4: an absent sum is not made up, a NaN one is printed. */
  out = render(reg, 0);
  CHECK(!strstr(out, "absent_sum_sum"));
  CHECK(strstr(out, "absent_sum_count{") != NULL);
  CHECK(strstr(out, "nan_sum_sum{") != NULL && strstr(out, "} NaN\n") != NULL);
  free(out);
  ot_free(&b);
  cs_metrics_free(reg);
}

int main(void) {
  RUN(render_text_format);
  RUN(render_openmetrics_format);
  RUN(render_negotiates_format_from_accept);
  RUN(render_openmetrics_omits_negative_sums);
  RUN(render_histogram_without_sum_has_no_count_in_openmetrics);
  return CHECK_DONE();
}
