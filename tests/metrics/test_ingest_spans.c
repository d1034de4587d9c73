/* Unit tests of metrics/ingest_spans.c: RED metrics (calls, errors, a
 * duration histogram) per service, operation, span kind and status, from
 * span batches, including batches with more distinct keys than one chunk. */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "metrics.h"
#include "otlp_build.h"

static cs_span mk(const cs_resource *res, const char *op, int kind, int status, uint64_t dur_ns) {
  cs_span s;
  memset(&s, 0, sizeof s);
  s.resource = res;
  s.name = (cs_str){op, (uint32_t)strlen(op)};
  s.kind = (uint8_t)kind;
  s.status_code = (uint8_t)status;
  s.start_ns = 1700000000000000000ull;
  s.end_ns = s.start_ns + dur_ns;
  return s;
}

static char *render(cs_metrics *reg) {
  char *buf = NULL;
  size_t len = 0;
  CHECK_EQ(cs_metrics_render(reg, 0, &buf, &len), 0);
  return buf;
}

static void spans_red_counts_and_buckets(void) {
  cs_metrics *reg = cs_metrics_new(NULL);
  cs_resource front = {CS_STR_LIT("frontend"), NULL, 0};
  cs_resource db = {CS_STR_LIT("db"), NULL, 0};
  cs_span s[6];
  s[0] = mk(&front, "GET /", CS_KIND_SERVER, CS_STATUS_UNSET, 2000000);    /* 2 ms */
  s[1] = mk(&front, "GET /", CS_KIND_SERVER, CS_STATUS_UNSET, 20000000);   /* 20 ms */
  s[2] = mk(&front, "GET /", CS_KIND_SERVER, CS_STATUS_ERROR, 3000000000); /* 3 s */
  s[3] = mk(&db, "SELECT", CS_KIND_CLIENT, CS_STATUS_OK, 400000);          /* 0.4 ms */
  s[4] = mk(&db, "SELECT", CS_KIND_CLIENT, CS_STATUS_OK, 100000000000);    /* 100 s */
  s[5] = mk(&db, "SELECT", 9, 7, 1000);                                    /* bad enums */
  CHECK_EQ(cs_metrics_ingest_spans(reg, s, 6), 0);
  CHECK_EQ(cs_metrics_ingest_spans(reg, s, 1), 0);
  char *out = render(reg);
  CHECK_LINE(out, "# TYPE callscope_span_calls_total counter");
  CHECK_LINE(out, "callscope_span_calls_total{operation=\"GET /\",service=\"frontend\",span_kind=\"server\",status_code=\"unset\"} 3");
  CHECK_LINE(out, "callscope_span_calls_total{operation=\"GET /\",service=\"frontend\",span_kind=\"server\",status_code=\"error\"} 1");
  CHECK_LINE(out, "callscope_span_calls_total{operation=\"SELECT\",service=\"db\",span_kind=\"unspecified\",status_code=\"unset\"} 1");
  CHECK_LINE(out, "callscope_span_errors_total{operation=\"GET /\",service=\"frontend\",span_kind=\"server\"} 1");
  CHECK_LINE(out, "callscope_span_errors_total{operation=\"SELECT\",service=\"db\",span_kind=\"client\"} 0");
  CHECK_LINE(out, "# TYPE callscope_span_duration_seconds histogram");
  const char *k = "operation=\"GET /\",service=\"frontend\",span_kind=\"server\",status_code=\"unset\"";
  char line[512];
  snprintf(line, sizeof line, "callscope_span_duration_seconds_bucket{%s,le=\"0.001\"} 0", k);
  CHECK_LINE(out, line);
  snprintf(line, sizeof line, "callscope_span_duration_seconds_bucket{%s,le=\"0.0025\"} 2", k);
  CHECK_LINE(out, line);
  snprintf(line, sizeof line, "callscope_span_duration_seconds_bucket{%s,le=\"0.025\"} 3", k);
  CHECK_LINE(out, line);
  snprintf(line, sizeof line, "callscope_span_duration_seconds_bucket{%s,le=\"+Inf\"} 3", k);
  CHECK_LINE(out, line);
  snprintf(line, sizeof line, "callscope_span_duration_seconds_sum{%s} ", k);
  const char *sum = strstr(out, line);
  CHECK(sum != NULL);
  if (sum) {
    double v = strtod(sum + strlen(line), NULL);
    CHECK(v > 0.024 - 1e-12 && v < 0.024 + 1e-12);
  }
  const char *k2 = "operation=\"SELECT\",service=\"db\",span_kind=\"client\",status_code=\"ok\"";
  snprintf(line, sizeof line, "callscope_span_duration_seconds_bucket{%s,le=\"0.0005\"} 1", k2);
  CHECK_LINE(out, line);
  snprintf(line, sizeof line, "callscope_span_duration_seconds_bucket{%s,le=\"60\"} 1", k2);
  CHECK_LINE(out, line);
  snprintf(line, sizeof line, "callscope_span_duration_seconds_bucket{%s,le=\"+Inf\"} 2", k2);
  CHECK_LINE(out, line);
  snprintf(line, sizeof line, "callscope_span_duration_seconds_count{%s} 2", k2);
  CHECK_LINE(out, line);
  free(out);
  cs_metrics_free(reg);
}

/* More distinct keys than one aggregation chunk (256) in one batch. */
static void spans_large_batch_spills_chunks(void) {
  cs_metrics *reg = cs_metrics_new(NULL);
  cs_resource res = {CS_STR_LIT("svc"), NULL, 0};
  enum { N = 3000, OPS = 700 };
  static char names[OPS][16];
  cs_span *s = calloc(N, sizeof *s);
  for (int i = 0; i < OPS; i++) snprintf(names[i], sizeof names[i], "op%03d", i);
  for (int i = 0; i < N; i++) s[i] = mk(&res, names[i % OPS], CS_KIND_SERVER, CS_STATUS_OK, 1000);
  CHECK_EQ(cs_metrics_ingest_spans(reg, s, N), 0);
  char *out = render(reg);
  /* 3000 = 4 * 700 + 200: the first 200 operations got 5 spans. */
  CHECK_LINE(out, "callscope_span_calls_total{operation=\"op000\",service=\"svc\",span_kind=\"server\",status_code=\"ok\"} 5");
  CHECK_LINE(out, "callscope_span_calls_total{operation=\"op699\",service=\"svc\",span_kind=\"server\",status_code=\"ok\"} 4");
  /* calls + errors + duration per operation, plus the registry's own. */
  CHECK_INT(cs_metrics_series_count(reg), >=, 3 * OPS);
  free(out);
  free(s);
  cs_metrics_free(reg);
}

static void spans_without_resource_service_are_unknown(void) {
  cs_metrics *reg = cs_metrics_new(NULL);
  cs_resource res = {{NULL, 0}, NULL, 0};
  cs_span s = mk(&res, "caf\xc3", CS_KIND_INTERNAL, CS_STATUS_UNSET, 5);
  CHECK_EQ(cs_metrics_ingest_spans(reg, &s, 1), 0);
  CHECK_EQ(cs_metrics_ingest_spans(reg, NULL, 0), 0);
  CHECK_EQ(cs_metrics_ingest_spans(reg, NULL, 1), CS_METRICS_EINVAL);
  char *out = render(reg);
  /* The invalid UTF-8 byte is repaired, not passed to the scraper. */
  CHECK_LINE(out, "callscope_span_calls_total{operation=\"caf\xef\xbf\xbd\",service=\"unknown_service\",span_kind=\"internal\",status_code=\"unset\"} 1");
  free(out);
  cs_metrics_free(reg);
}

int main(void) {
  RUN(spans_red_counts_and_buckets);
  RUN(spans_large_batch_spills_chunks);
  RUN(spans_without_resource_service_are_unknown);
  return CHECK_DONE();
}
