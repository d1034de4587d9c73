/* See otlp_build.h. Arrays grow by copying into the arena: quadratic, but
 * tests build small messages. */
#include "otlp_build.h"

#include <stdlib.h>
#include <string.h>

#include "wire.h"

static void *push(ob *b, void *arr, size_t n, void *item) {
  void **na = cs_arena_alloc(&b->a, (n + 1) * sizeof(void *));
  if (n) memcpy(na, arr, n * sizeof(void *));
  na[n] = item;
  return na;
}

static char *dup(ob *b, const char *s) { return cs_arena_strndup(&b->a, s, strlen(s)); }

void ob_init(ob *b) {
  cs_arena_init(&b->a, 65536, (size_t)1 << 30);
  opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(&b->req);
}

void ob_release(ob *b) { cs_arena_release(&b->a); }

ob_rs *ob_resource(ob *b, const char *service) {
  ob_rs *rs = cs_arena_alloc(&b->a, sizeof *rs);
  opentelemetry__proto__trace__v1__resource_spans__init(rs);
  rs->resource = cs_arena_alloc(&b->a, sizeof *rs->resource);
  opentelemetry__proto__resource__v1__resource__init(rs->resource);
  Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = cs_arena_alloc(&b->a, sizeof *ss);
  opentelemetry__proto__trace__v1__scope_spans__init(ss);
  ss->scope = cs_arena_alloc(&b->a, sizeof *ss->scope);
  opentelemetry__proto__common__v1__instrumentation_scope__init(ss->scope);
  ss->scope->name = dup(b, "test-scope");
  ss->scope->version = dup(b, "1.0");
  rs->scope_spans = push(b, rs->scope_spans, rs->n_scope_spans++, ss);
  if (service) ob_resource_attr(b, rs, "service.name", ob_str(b, service));
  b->req.resource_spans = push(b, b->req.resource_spans, b->req.n_resource_spans++, rs);
  return rs;
}

static ProtobufCBinaryData id_bytes(ob *b, uint64_t hi, uint64_t lo, int len) {
  uint8_t *p = cs_arena_alloc(&b->a, 16);
  for (int i = 0; i < 8; i++) {
    p[i] = (uint8_t)(hi >> (56 - 8 * i));
    p[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
  }
  ProtobufCBinaryData d = {(size_t)len, len == 16 ? p : p + 8};
  return d;
}

ob_span *ob_add_span(ob *b, ob_rs *rs, uint64_t trace_hi, uint64_t trace_lo, uint64_t span_id,
                     uint64_t parent_id, const char *name, uint64_t start, uint64_t end) {
  ob_span *s = cs_arena_alloc(&b->a, sizeof *s);
  opentelemetry__proto__trace__v1__span__init(s);
  s->trace_id = id_bytes(b, trace_hi, trace_lo, 16);
  s->span_id = id_bytes(b, 0, span_id, 8);
  if (parent_id) s->parent_span_id = id_bytes(b, 0, parent_id, 8);
  s->name = dup(b, name);
  s->kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER;
  s->start_time_unix_nano = start;
  s->end_time_unix_nano = end;
  Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = rs->scope_spans[0];
  ss->spans = push(b, ss->spans, ss->n_spans++, s);
  return s;
}

static ob_any *any(ob *b) {
  ob_any *v = cs_arena_alloc(&b->a, sizeof *v);
  opentelemetry__proto__common__v1__any_value__init(v);
  return v;
}

ob_any *ob_str(ob *b, const char *s) {
  ob_any *v = any(b);
  v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
  v->string_value = dup(b, s);
  return v;
}

ob_any *ob_int(ob *b, int64_t i) {
  ob_any *v = any(b);
  v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
  v->int_value = i;
  return v;
}

ob_any *ob_dbl(ob *b, double d) {
  ob_any *v = any(b);
  v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
  v->double_value = d;
  return v;
}

ob_any *ob_bool(ob *b, int x) {
  ob_any *v = any(b);
  v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
  v->bool_value = x;
  return v;
}

ob_any *ob_bytes(ob *b, const void *p, size_t n) {
  ob_any *v = any(b);
  v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE;
  v->bytes_value.data = cs_arena_alloc(&b->a, n ? n : 1);
  memcpy(v->bytes_value.data, p, n);
  v->bytes_value.len = n;
  return v;
}

ob_any *ob_array(ob *b, ob_any **vals, size_t n) {
  ob_any *v = any(b);
  v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
  v->array_value = cs_arena_alloc(&b->a, sizeof *v->array_value);
  opentelemetry__proto__common__v1__array_value__init(v->array_value);
  v->array_value->values = vals;
  v->array_value->n_values = n;
  return v;
}

ob_any *ob_kvlist(ob *b, ob_kv **kvs, size_t n) {
  ob_any *v = any(b);
  v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE;
  v->kvlist_value = cs_arena_alloc(&b->a, sizeof *v->kvlist_value);
  opentelemetry__proto__common__v1__key_value_list__init(v->kvlist_value);
  v->kvlist_value->values = kvs;
  v->kvlist_value->n_values = n;
  return v;
}

ob_kv *ob_kvp(ob *b, const char *key, ob_any *v) {
  ob_kv *kv = cs_arena_alloc(&b->a, sizeof *kv);
  opentelemetry__proto__common__v1__key_value__init(kv);
  kv->key = dup(b, key);
  kv->value = v;
  return kv;
}

void ob_span_attr(ob *b, ob_span *s, const char *key, ob_any *v) {
  s->attributes = push(b, s->attributes, s->n_attributes++, ob_kvp(b, key, v));
}

void ob_resource_attr(ob *b, ob_rs *rs, const char *key, ob_any *v) {
  rs->resource->attributes =
      push(b, rs->resource->attributes, rs->resource->n_attributes++, ob_kvp(b, key, v));
}

void ob_span_event(ob *b, ob_span *s, const char *name, uint64_t t) {
  Opentelemetry__Proto__Trace__V1__Span__Event *e = cs_arena_alloc(&b->a, sizeof *e);
  opentelemetry__proto__trace__v1__span__event__init(e);
  e->name = dup(b, name);
  e->time_unix_nano = t;
  s->events = push(b, s->events, s->n_events++, e);
}

void ob_span_link(ob *b, ob_span *s, uint64_t trace_hi, uint64_t trace_lo, uint64_t span_id) {
  Opentelemetry__Proto__Trace__V1__Span__Link *l = cs_arena_alloc(&b->a, sizeof *l);
  opentelemetry__proto__trace__v1__span__link__init(l);
  l->trace_id = id_bytes(b, trace_hi, trace_lo, 16);
  l->span_id = id_bytes(b, 0, span_id, 8);
  s->links = push(b, s->links, s->n_links++, l);
}

void ob_span_status(ob *b, ob_span *s, int code, const char *msg) {
  s->status = cs_arena_alloc(&b->a, sizeof *s->status);
  opentelemetry__proto__trace__v1__status__init(s->status);
  s->status->code = code;
  s->status->message = dup(b, msg);
}

uint8_t *ob_frame(int frame_type, uint64_t seq, const void *payload, size_t n, size_t *len) {
  size_t hdr = frame_type ? CS_FRAME_HDR_LEN : 0;
  uint8_t *out = malloc(hdr + n + 1);
  if (frame_type) cs_frame_write_header(out, (uint8_t)frame_type, 0, (uint32_t)n, seq);
  if (n) memcpy(out + hdr, payload, n);
  *len = hdr + n;
  return out;
}

uint8_t *ob_pack(ob *b, int frame_type, uint64_t seq, size_t *len) {
  size_t n = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(&b->req);
  size_t hdr = frame_type ? CS_FRAME_HDR_LEN : 0;
  uint8_t *out = malloc(hdr + n + 1);
  opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&b->req, out + hdr);
  if (frame_type) cs_frame_write_header(out, (uint8_t)frame_type, 0, (uint32_t)n, seq);
  *len = hdr + n;
  return out;
}

uint8_t *ob_pack_metrics(const char *service, size_t n_points, int frame_type, uint64_t seq,
                         size_t *len) {
  ob b;
  ob_init(&b);
  Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest req =
      OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT;
  Opentelemetry__Proto__Metrics__V1__ResourceMetrics rm =
      OPENTELEMETRY__PROTO__METRICS__V1__RESOURCE_METRICS__INIT;
  Opentelemetry__Proto__Resource__V1__Resource res = OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
  ob_kv *svc = ob_kvp(&b, "service.name", ob_str(&b, service));
  res.attributes = &svc;
  res.n_attributes = 1;
  rm.resource = &res;
  Opentelemetry__Proto__Metrics__V1__ScopeMetrics sm =
      OPENTELEMETRY__PROTO__METRICS__V1__SCOPE_METRICS__INIT;
  Opentelemetry__Proto__Metrics__V1__ScopeMetrics *smp = &sm;
  rm.scope_metrics = &smp;
  rm.n_scope_metrics = 1;
  Opentelemetry__Proto__Metrics__V1__Metric gauge = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__INIT;
  Opentelemetry__Proto__Metrics__V1__Metric hist = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__INIT;
  Opentelemetry__Proto__Metrics__V1__Metric *ms[2] = {&gauge, &hist};
  sm.metrics = ms;
  sm.n_metrics = 2;
  gauge.name = "queue_depth";
  Opentelemetry__Proto__Metrics__V1__Gauge g = OPENTELEMETRY__PROTO__METRICS__V1__GAUGE__INIT;
  gauge.data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
  gauge.gauge = &g;
  Opentelemetry__Proto__Metrics__V1__NumberDataPoint *pts = cs_arena_alloc(&b.a, (n_points + 1) * sizeof *pts);
  Opentelemetry__Proto__Metrics__V1__NumberDataPoint **pp = cs_arena_alloc(&b.a, (n_points + 1) * sizeof *pp);
  for (size_t i = 0; i < n_points; i++) {
    opentelemetry__proto__metrics__v1__number_data_point__init(&pts[i]);
    pts[i].time_unix_nano = 1000 + i;
    pts[i].value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
    pts[i].as_int = (int64_t)i;
    pp[i] = &pts[i];
  }
  g.data_points = pp;
  g.n_data_points = n_points;
  hist.name = "latency";
  Opentelemetry__Proto__Metrics__V1__Histogram h = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM__INIT;
  hist.data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
  hist.histogram = &h;
  Opentelemetry__Proto__Metrics__V1__HistogramDataPoint hp =
      OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__INIT;
  Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *hpp = &hp;
  uint64_t counts[3] = {1, 2, 3};
  double bounds[2] = {0.1, 1.0};
  hp.count = 6;
  hp.n_bucket_counts = 3;
  hp.bucket_counts = counts;
  hp.n_explicit_bounds = 2;
  hp.explicit_bounds = bounds;
  h.data_points = &hpp;
  h.n_data_points = 1;
  Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rmp = &rm;
  req.resource_metrics = &rmp;
  req.n_resource_metrics = 1;
  size_t n = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__get_packed_size(&req);
  size_t hdr = frame_type ? CS_FRAME_HDR_LEN : 0;
  uint8_t *out = malloc(hdr + n + 1);
  opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__pack(&req, out + hdr);
  if (frame_type) cs_frame_write_header(out, (uint8_t)frame_type, 0, (uint32_t)n, seq);
  *len = hdr + n;
  ob_release(&b);
  return out;
}
