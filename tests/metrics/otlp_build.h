/* Test helpers: build OTLP ExportMetricsServiceRequest structs by hand
 * (what protobuf-c would unpack), and look for lines in rendered output.
 * Every allocation goes into one tracker freed with ot_free. */
#ifndef CS_TEST_OTLP_BUILD_H
#define CS_TEST_OTLP_BUILD_H

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest ot_req;
typedef Opentelemetry__Proto__Metrics__V1__Metric ot_metric;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint ot_num;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint ot_hist;
typedef Opentelemetry__Proto__Common__V1__KeyValue ot_kv;

typedef struct ot {
  void *ptrs[8192];
  int n;
} ot;

static inline void *ot_alloc(ot *o, size_t n) {
  void *p = calloc(1, n);
  if (!p || o->n == (int)(sizeof o->ptrs / sizeof o->ptrs[0])) abort();
  o->ptrs[o->n++] = p;
  return p;
}

static inline void ot_free(ot *o) {
  for (int i = 0; i < o->n; i++) free(o->ptrs[i]);
  o->n = 0;
}

static inline char *ot_str(ot *o, const char *s) {
  size_t n = strlen(s);
  char *p = ot_alloc(o, n + 1);
  memcpy(p, s, n);
  return p;
}

/* Grows a protobuf-c repeated field (count + pointer array) by one. */
#define OT_PUSH(o, arr, n, item)                                     \
  do {                                                               \
    void **na_ = ot_alloc((o), ((n) + 1) * sizeof(void *));          \
    if ((n)) memcpy(na_, (arr), (n) * sizeof(void *));               \
    (arr) = (void *)na_;                                             \
    (arr)[(n)++] = (item);                                           \
  } while (0)

static inline ot_kv *ot_kv_str(ot *o, const char *k, const char *v) {
  ot_kv *kv = ot_alloc(o, sizeof *kv);
  opentelemetry__proto__common__v1__key_value__init(kv);
  kv->key = ot_str(o, k);
  kv->value = ot_alloc(o, sizeof *kv->value);
  opentelemetry__proto__common__v1__any_value__init(kv->value);
  kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
  kv->value->string_value = ot_str(o, v);
  return kv;
}

static inline ot_kv *ot_kv_int(ot *o, const char *k, int64_t v) {
  ot_kv *kv = ot_kv_str(o, k, "");
  kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
  kv->value->int_value = v;
  return kv;
}

/* A request with one resource (service.name, optional instance id and
 * host.name; NULL leaves them out) and one scope. */
static inline ot_req *ot_request(ot *o, const char *service, const char *instance, const char *host) {
  ot_req *r = ot_alloc(o, sizeof *r);
  opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__init(r);
  Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm = ot_alloc(o, sizeof *rm);
  opentelemetry__proto__metrics__v1__resource_metrics__init(rm);
  rm->resource = ot_alloc(o, sizeof *rm->resource);
  opentelemetry__proto__resource__v1__resource__init(rm->resource);
  if (service) OT_PUSH(o, rm->resource->attributes, rm->resource->n_attributes, ot_kv_str(o, "service.name", service));
  if (instance) OT_PUSH(o, rm->resource->attributes, rm->resource->n_attributes, ot_kv_str(o, "service.instance.id", instance));
  if (host) OT_PUSH(o, rm->resource->attributes, rm->resource->n_attributes, ot_kv_str(o, "host.name", host));
  Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm = ot_alloc(o, sizeof *sm);
  opentelemetry__proto__metrics__v1__scope_metrics__init(sm);
  OT_PUSH(o, rm->scope_metrics, rm->n_scope_metrics, sm);
  OT_PUSH(o, r->resource_metrics, r->n_resource_metrics, rm);
  return r;
}

static inline ot_metric *ot_metric_add(ot *o, ot_req *r, const char *name, const char *unit,
                                const char *desc) {
  ot_metric *m = ot_alloc(o, sizeof *m);
  opentelemetry__proto__metrics__v1__metric__init(m);
  m->name = ot_str(o, name);
  m->unit = ot_str(o, unit ? unit : "");
  m->description = ot_str(o, desc ? desc : "");
  Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm = r->resource_metrics[0]->scope_metrics[0];
  OT_PUSH(o, sm->metrics, sm->n_metrics, m);
  return m;
}

#define OT_DELTA OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA
#define OT_CUMULATIVE OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE

static inline void ot_make_sum(ot *o, ot_metric *m, int monotonic, int temporality) {
  m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
  m->sum = ot_alloc(o, sizeof *m->sum);
  opentelemetry__proto__metrics__v1__sum__init(m->sum);
  m->sum->is_monotonic = monotonic;
  m->sum->aggregation_temporality = temporality;
}

static inline void ot_make_gauge(ot *o, ot_metric *m) {
  m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
  m->gauge = ot_alloc(o, sizeof *m->gauge);
  opentelemetry__proto__metrics__v1__gauge__init(m->gauge);
}

static inline void ot_make_histogram(ot *o, ot_metric *m, int temporality) {
  m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
  m->histogram = ot_alloc(o, sizeof *m->histogram);
  opentelemetry__proto__metrics__v1__histogram__init(m->histogram);
  m->histogram->aggregation_temporality = temporality;
}

/* Adds a double point; n_kv attribute KeyValues follow. */
static inline ot_num *ot_point(ot *o, ot_metric *m, double v, uint64_t t, int n_kv, ...) {
  ot_num *p = ot_alloc(o, sizeof *p);
  opentelemetry__proto__metrics__v1__number_data_point__init(p);
  p->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE;
  p->as_double = v;
  p->time_unix_nano = t;
  va_list ap;
  va_start(ap, n_kv);
  for (int i = 0; i < n_kv; i++) OT_PUSH(o, p->attributes, p->n_attributes, va_arg(ap, ot_kv *));
  va_end(ap);
  if (m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM)
    OT_PUSH(o, m->sum->data_points, m->sum->n_data_points, p);
  else
    OT_PUSH(o, m->gauge->data_points, m->gauge->n_data_points, p);
  return p;
}

static inline ot_hist *ot_hpoint(ot *o, ot_metric *m, const double *bounds, size_t nb,
                          const uint64_t *counts, double sum, uint64_t t, int n_kv, ...) {
  ot_hist *p = ot_alloc(o, sizeof *p);
  opentelemetry__proto__metrics__v1__histogram_data_point__init(p);
  p->n_explicit_bounds = nb;
  p->explicit_bounds = ot_alloc(o, (nb + 1) * sizeof(double));
  memcpy(p->explicit_bounds, bounds, nb * sizeof(double));
  p->n_bucket_counts = nb + 1;
  p->bucket_counts = ot_alloc(o, (nb + 1) * sizeof(uint64_t));
  memcpy(p->bucket_counts, counts, (nb + 1) * sizeof(uint64_t));
  for (size_t i = 0; i <= nb; i++) p->count += counts[i];
  p->sum = sum;
  p->sum_present_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__SUM_PRESENT_SUM;
  p->time_unix_nano = t;
  va_list ap;
  va_start(ap, n_kv);
  for (int i = 0; i < n_kv; i++) OT_PUSH(o, p->attributes, p->n_attributes, va_arg(ap, ot_kv *));
  va_end(ap);
  OT_PUSH(o, m->histogram->data_points, m->histogram->n_data_points, p);
  return p;
}

/* 1 when text holds exactly this line (without its newline). */
static inline int has_line(const char *text, const char *line) {
  size_t n = strlen(line);
  for (const char *p = text; p && *p;) {
    const char *e = strchr(p, '\n');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && memcmp(p, line, n) == 0) return 1;
    p = e ? e + 1 : NULL;
  }
  return 0;
}

/* Needs check.h first: prints the whole output when the line is missing. */
#define CHECK_LINE(text, line)                                                   \
  do {                                                                           \
    if (!has_line((text), (line))) {                                             \
      fprintf(stderr, "%s:%d: missing line: %s\n--- output ---\n%s--- end ---\n", \
              __FILE__, __LINE__, (line), (text));                               \
      cs_check_failures++;                                                       \
    }                                                                            \
  } while (0)

#define CHECK_NO_LINE(text, line)                                                \
  do {                                                                           \
    if (has_line((text), (line))) {                                              \
      fprintf(stderr, "%s:%d: unexpected line: %s\n", __FILE__, __LINE__, (line)); \
      cs_check_failures++;                                                       \
    }                                                                            \
  } while (0)

#endif
