/* Metrics registry benchmark: RED ingest cost per span on the shared
 * workload (what the collector's writer thread pays per batch), OTLP point
 * ingest, and /metrics render time (median, p99) at 10,000 series.
 * Usage: metrics_bench [spans (default 500000)] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "metrics.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "workload.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void bench_spans(size_t total) {
  cs_metrics *reg = cs_metrics_new(NULL);
  cs_workload w;
  cs_workload_init(&w, 42, 0);
  cs_arena a;
  cs_arena_init(&a, 1u << 20, 256u << 20);
  double spent = 0;
  size_t done = 0;
  while (done < total) {
    cs_arena_reset(&a);
    cs_span *spans;
    size_t n = cs_workload_batch(&w, &a, 1000, &spans);
    if (!n) break;
    double t0 = now_s();
    cs_metrics_ingest_spans(reg, spans, n);
    spent += now_s() - t0;
    done += n;
  }
  printf("span RED ingest   %zu spans in batches of ~1000: %.0f ns/span, %.2f M spans/s, %zu series\n",
         done, spent * 1e9 / (double)done, (double)done / spent / 1e6, cs_metrics_series_count(reg));
  cs_arena_release(&a);
  cs_metrics_free(reg);
}

/* A request of n gauge points, each with 3 attributes, one resource. */
static void bench_otlp(cs_metrics *reg, size_t n, int rounds) {
  typedef Opentelemetry__Proto__Common__V1__KeyValue KV;
  typedef Opentelemetry__Proto__Common__V1__AnyValue AV;
  KV *kvs = calloc(n * 3 + 1, sizeof *kvs);
  AV *avs = calloc(n * 3 + 1, sizeof *avs);
  KV **kvp = calloc(n * 3 + 1, sizeof *kvp);
  char (*vals)[32] = calloc(n, sizeof *vals);
  Opentelemetry__Proto__Metrics__V1__NumberDataPoint *pts = calloc(n, sizeof *pts);
  Opentelemetry__Proto__Metrics__V1__NumberDataPoint **ptp = calloc(n, sizeof *ptp);
  static const char *keys[] = {"http.route", "http.method", "region"};
  for (size_t i = 0; i < n; i++) {
    snprintf(vals[i], sizeof vals[i], "/route/%zu", i);
    for (int k = 0; k < 3; k++) {
      KV *kv = &kvs[i * 3 + k];
      AV *av = &avs[i * 3 + k];
      opentelemetry__proto__common__v1__key_value__init(kv);
      opentelemetry__proto__common__v1__any_value__init(av);
      kv->key = (char *)keys[k];
      kv->value = av;
      av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
      av->string_value = k == 0 ? vals[i] : (char *)(k == 1 ? "GET" : "eu-west-1");
      kvp[i * 3 + k] = kv;
    }
    opentelemetry__proto__metrics__v1__number_data_point__init(&pts[i]);
    pts[i].n_attributes = 3;
    pts[i].attributes = &kvp[i * 3];
    pts[i].value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE;
    pts[i].as_double = (double)i;
    ptp[i] = &pts[i];
  }
  Opentelemetry__Proto__Metrics__V1__Gauge g = OPENTELEMETRY__PROTO__METRICS__V1__GAUGE__INIT;
  g.n_data_points = n;
  g.data_points = ptp;
  Opentelemetry__Proto__Metrics__V1__Metric m = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__INIT;
  m.name = "http.server.active_requests";
  m.description = "Active requests";
  m.unit = "{request}";
  m.data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
  m.gauge = &g;
  Opentelemetry__Proto__Metrics__V1__Metric *mp = &m;
  Opentelemetry__Proto__Metrics__V1__ScopeMetrics sm = OPENTELEMETRY__PROTO__METRICS__V1__SCOPE_METRICS__INIT;
  sm.n_metrics = 1;
  sm.metrics = &mp;
  Opentelemetry__Proto__Metrics__V1__ScopeMetrics *smp = &sm;
  KV svc = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
  AV svcv = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
  svc.key = "service.name";
  svc.value = &svcv;
  svcv.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
  svcv.string_value = "bench";
  KV *svcp = &svc;
  Opentelemetry__Proto__Resource__V1__Resource res = OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
  res.n_attributes = 1;
  res.attributes = &svcp;
  Opentelemetry__Proto__Metrics__V1__ResourceMetrics rm = OPENTELEMETRY__PROTO__METRICS__V1__RESOURCE_METRICS__INIT;
  rm.resource = &res;
  rm.n_scope_metrics = 1;
  rm.scope_metrics = &smp;
  Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rmp = &rm;
  Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest req =
      OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT;
  req.n_resource_metrics = 1;
  req.resource_metrics = &rmp;
  double t0 = now_s();
  for (int r = 0; r < rounds; r++) cs_metrics_ingest_otlp(reg, &req);
  double dt = now_s() - t0;
  if (rounds > 1)
    printf("OTLP gauge ingest %zu points x %d requests: %.0f ns/point\n", n, rounds,
           dt * 1e9 / (double)(n * (size_t)rounds));
  free(kvs), free(avs), free(kvp), free(vals), free(pts), free(ptp);
}

static void bench_render(const char *what, cs_metrics *reg, int om) {
  enum { RUNS = 40 };
  double t[RUNS];
  size_t len = 0;
  for (int i = 0; i < RUNS; i++) {
    char *buf;
    double t0 = now_s();
    if (cs_metrics_render(reg, om, &buf, &len) != 0) return;
    t[i] = now_s() - t0;
    free(buf);
  }
  qsort(t, RUNS, sizeof t[0], cmp_d);
  printf("render %-28s %s: %zu series, %zu KiB, median %.2f ms, p99 %.2f ms\n", what,
         om ? "OpenMetrics" : "text 0.0.4", cs_metrics_series_count(reg), len / 1024,
         t[RUNS / 2] * 1e3, t[RUNS - 1] * 1e3);
}

int main(int argc, char **argv) {
  size_t spans = 500000;
  if (argc > 1) {
    char *end;
    unsigned long long v = strtoull(argv[1], &end, 10);
    if (*end || v == 0 || v > 100000000ull) {
      fprintf(stderr, "usage: metrics_bench [spans]\n");
      return 2;
    }
    spans = (size_t)v;
  }
  bench_spans(spans);

  cs_metrics *reg = cs_metrics_new(NULL);
  bench_otlp(reg, 1000, 200);
  cs_metrics_free(reg);

  /* 10,000 gauge series from OTLP. */
  reg = cs_metrics_new(NULL);
  bench_otlp(reg, 10000, 1);
  bench_render("10k gauge series", reg, 0);
  bench_render("10k gauge series", reg, 1);
  cs_metrics_free(reg);

  /* 10,000 series of RED metrics: calls, errors and duration histograms
   * (17 buckets each), from spans of 2,500 operations. */
  reg = cs_metrics_new(NULL);
  cs_resource r = {CS_STR_LIT("svc"), NULL, 0};
  enum { OPS = 2500, PER = 2 };
  static char names[OPS][24];
  cs_span *s = calloc(OPS * PER, sizeof *s);
  for (int i = 0; i < OPS * PER; i++) {
    snprintf(names[i % OPS], sizeof names[0], "GET /api/item/%d", i % OPS);
    s[i].resource = &r;
    s[i].name = (cs_str){names[i % OPS], (uint32_t)strlen(names[i % OPS])};
    s[i].kind = CS_KIND_SERVER;
    s[i].status_code = (uint8_t)(i / OPS); /* unset, then ok */
    s[i].start_ns = 0;
    s[i].end_ns = (uint64_t)(i % 97) * 1000000;
  }
  cs_metrics_ingest_spans(reg, s, OPS * PER);
  bench_render("RED (2.5k ops, histograms)", reg, 0);
  bench_render("RED (2.5k ops, histograms)", reg, 1);
  free(s);
  cs_metrics_free(reg);
  return 0;
}
