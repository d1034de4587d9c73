/* OTLP encoder: writes internal spans (span.h) as an OTLP
 * ExportTraceServiceRequest straight into a caller's buffer, without
 * building protobuf-c structs first. Used by the load generator and tests;
 * the output decodes with protobuf-c and any OTLP implementation. */
#ifndef CS_OTLP_ENCODE_H
#define CS_OTLP_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "span.h"

#define CS_OTLP_ENOSPC (-1) /* the buffer is too small */

/* Encodes n spans into the END of buf[0, cap): on success returns 0, sets
 * *len, and the payload is buf[cap - *len, cap). Writing from the end lets
 * the caller put a frame header just before the payload without a copy.
 * Spans sharing a resource (same pointer) go into one ResourceSpans, spans
 * sharing a scope (name, version) into one ScopeSpans; span and attribute
 * order is kept. A resource without a service.name attribute gets one from
 * cs_resource.service. CS_VAL_ARRAY and CS_VAL_KVLIST values, which the span
 * model keeps as JSON text, are encoded as string values.
 * Returns CS_OTLP_ENOSPC when cap is too small (buf contents undefined).
 * Thread-safety: pure function of its arguments. */
int cs_otlp_encode_traces_tail(const cs_span *spans, size_t n, uint8_t *buf, size_t cap,
                               size_t *len);

/* Same, but the payload starts at buf[0]. */
int cs_otlp_encode_traces(const cs_span *spans, size_t n, uint8_t *buf, size_t cap, size_t *len);

#endif
