/* OTLP JSON (the OTLP/HTTP "application/json" encoding) into the span
 * model. The JSON is transcoded into the protobuf wire bytes of the same
 * message, guided by protobuf-c's descriptors, and then decoded by the very
 * decoder the native and OTLP/HTTP protobuf paths use, so one set of
 * conversion and validation rules holds for every encoding.
 *
 * Trusted sizes: none from the body. The JSON tree lives in the caller's
 * capped arena, with nesting capped at 128; the protobuf form is a capped
 * buffer (common/buf.h) of at most 1.5 times the JSON plus 4 KiB, which no
 * honest request exceeds (hex IDs halve, base64 shrinks by a quarter);
 * bytes fields decode through common/hexb64.h into room reserved for their
 * exact decoded length. */
#ifndef CS_OTLP_JSON_H
#define CS_OTLP_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "decode.h"
#include "protobuf-c/protobuf-c.h"

enum {
  CS_OTLP_JSON_OK = 0,
  CS_OTLP_JSON_EBAD = -1,   /* not JSON, or a field of the wrong type: 400 */
  CS_OTLP_JSON_ENOMEM = -2, /* over the memory cap: 413 */
};

/* Transcodes the OTLP JSON text json[0..n) into the protobuf encoding of
 * message type d: lowerCamelCase or snake_case field names, trace and span
 * IDs as hex, other bytes as base64, enums as integers or names, 64-bit
 * integers as strings or numbers (exact), unknown fields and nulls ignored.
 * *out is malloc'ed (caller frees) with *out_len bytes. Memory for the
 * parse comes from a, whose cap bounds it. err receives a message.
 * Thread-safety: uses only its arguments. */
int cs_otlp_json_to_pb(const char *json, size_t n, const ProtobufCMessageDescriptor *d,
                       cs_arena *a, uint8_t **out, size_t *out_len, char *err, size_t err_len);

/* cs_decode_traces on an ExportTraceServiceRequest in OTLP JSON. Returns
 * CS_DECODE_OK, EPROTO (bad JSON or types; err says why) or ENOMEM. The
 * spans live in a. */
int cs_decode_traces_json(const char *json, size_t n, cs_arena *a, const cs_limits *lim,
                          cs_span **out, size_t *n_out, cs_reject_counts *rej, char *err,
                          size_t err_len);

/* cs_decode_metrics on an ExportMetricsServiceRequest in OTLP JSON. */
int cs_decode_metrics_json(const char *json, size_t n, cs_arena *a, const cs_limits *lim,
                           cs_otlp_metrics **out, cs_resource **resources, size_t *n_points,
                           char *err, size_t err_len);

/* Arena cap for parsing a JSON body of n bytes. */
size_t cs_otlp_json_arena_cap(size_t n);

#endif
