/* OTLP protobuf payloads into the internal span model. The native frame
 * receivers call these on frame payloads; OTLP/HTTP calls them on request
 * bodies. All memory comes from one caller-supplied arena, so decoding a
 * payload costs no malloc per field and is freed in one go; the arena's cap
 * bounds what a hostile payload can make us allocate. Traces are decoded
 * straight from the wire (decode_traces.c), metrics through protobuf-c.
 *
 * Trusted sizes: none from the payload. Every length prefix is checked
 * against the bytes left (common/pbwire.h); nesting is capped (40 levels);
 * attributes, events and links per span are capped by cs_limits and the
 * excess is counted as dropped; strings point into the arena copy, whose
 * cap bounds the whole decode. */
#ifndef CS_DECODE_H
#define CS_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "span.h"
#include "validate.h"

typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest cs_otlp_metrics;
typedef Opentelemetry__Proto__Metrics__V1__ResourceMetrics cs_otlp_resource_metrics;

enum cs_decode_err {
  CS_DECODE_OK = 0,
  CS_DECODE_EPROTO = -1, /* not a valid protobuf message of the expected type */
  CS_DECODE_ENOMEM = -2, /* the arena's cap was reached */
};
const char *cs_decode_strerror(int err);

/* Decodes an ExportTraceServiceRequest, converts and validates every span.
 * *out receives the valid spans (session_id filled, resource set), *n their
 * count; rejected spans are counted into rej by reason (rej is added to, not
 * cleared). Strings end at an embedded NUL; invalid UTF-8 in any string is
 * replaced by U+FFFD and counted in rej->utf8_repaired. The payload is
 * copied into a once and the spans' strings point into that copy (or into
 * repaired copies), so buf may go as soon as this returns; everything lives
 * in a until it is reset.
 * Returns CS_DECODE_OK (even when every span was rejected), EPROTO or ENOMEM;
 * on error *n is 0 and rej is untouched.
 * Thread-safety: uses only its arguments. */
int cs_decode_traces(const uint8_t *buf, size_t len, cs_arena *a, const cs_limits *lim,
                     cs_span **out, size_t *n, cs_reject_counts *rej);

/* Decodes an ExportMetricsServiceRequest. *out is the protobuf-c message;
 * (*resources)[i] is resource_metrics[i]'s resource converted to the span
 * model (service.name, attributes); *n_points counts data points of every
 * metric (exponential histograms and summaries count one per metric).
 * Everything lives in a. Same errors as cs_decode_traces. */
int cs_decode_metrics(const uint8_t *buf, size_t len, cs_arena *a, const cs_limits *lim,
                      cs_otlp_metrics **out, cs_resource **resources, size_t *n_points);

/* Counts the spans of an ExportTraceServiceRequest without decoding them
 * (resource_spans -> scope_spans -> spans, nothing else looked at), for
 * counting what a dropped frame carried. No allocation; reads only
 * [buf, buf + len). Returns the count, or -1 when the three levels are not
 * well-formed protobuf. Thread-safety: uses only its arguments. */
long cs_decode_count_spans(const uint8_t *buf, size_t len);

/* Arena chunk size and cap suited to a payload of len bytes: decoded
 * traces take about 3x the wire bytes, protobuf-c's metrics structs 8x. */
size_t cs_decode_arena_chunk(size_t len);
size_t cs_decode_arena_cap(size_t len);

#endif
