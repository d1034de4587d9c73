/* Test helper: builds OTLP ExportTraceServiceRequest / ExportMetricsService
 * Request messages with the protobuf-c structs (memory from one arena) and
 * packs them, optionally inside a native frame. Shared by the collector's
 * unit and integration tests and the fuzz seed generator. */
#ifndef CS_OTLP_BUILD_H
#define CS_OTLP_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ob_rs;
typedef Opentelemetry__Proto__Trace__V1__Span ob_span;
typedef Opentelemetry__Proto__Common__V1__KeyValue ob_kv;
typedef Opentelemetry__Proto__Common__V1__AnyValue ob_any;

typedef struct ob {
  cs_arena a;
  Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req;
} ob;

void ob_init(ob *b);
void ob_release(ob *b);

/* A ResourceSpans with one scope ("test-scope" 1.0); service NULL = no
 * service.name attribute. */
ob_rs *ob_resource(ob *b, const char *service);
/* Appends a span with the given IDs (trace = hi,lo big-endian; parent 0 =
 * root) and times, kind SERVER. */
ob_span *ob_add_span(ob *b, ob_rs *rs, uint64_t trace_hi, uint64_t trace_lo, uint64_t span_id,
                     uint64_t parent_id, const char *name, uint64_t start, uint64_t end);

ob_any *ob_str(ob *b, const char *s);
ob_any *ob_int(ob *b, int64_t v);
ob_any *ob_dbl(ob *b, double v);
ob_any *ob_bool(ob *b, int v);
ob_any *ob_bytes(ob *b, const void *p, size_t n);
ob_any *ob_array(ob *b, ob_any **vals, size_t n);
ob_any *ob_kvlist(ob *b, ob_kv **kvs, size_t n);
ob_kv *ob_kvp(ob *b, const char *key, ob_any *v);

void ob_span_attr(ob *b, ob_span *s, const char *key, ob_any *v);
void ob_resource_attr(ob *b, ob_rs *rs, const char *key, ob_any *v);
void ob_span_event(ob *b, ob_span *s, const char *name, uint64_t t);
void ob_span_link(ob *b, ob_span *s, uint64_t trace_hi, uint64_t trace_lo, uint64_t span_id);
void ob_span_status(ob *b, ob_span *s, int code, const char *msg);

/* Packs the request into a malloc'd buffer (caller frees). With frame_type
 * nonzero the buffer starts with a native frame header carrying seq. */
uint8_t *ob_pack(ob *b, int frame_type, uint64_t seq, size_t *len);

/* A metrics request: one resource (service), a gauge with n_points points
 * and a histogram with one point. Packed like ob_pack. */
uint8_t *ob_pack_metrics(const char *service, size_t n_points, int frame_type, uint64_t seq,
                         size_t *len);

/* Frames an arbitrary payload (malloc'd result). */
uint8_t *ob_frame(int frame_type, uint64_t seq, const void *payload, size_t n, size_t *len);

#endif
