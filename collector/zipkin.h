/* Zipkin v2 JSON spans into the span model (docs/receivers.md has the
 * mapping): local endpoint to the resource, remote endpoint to peer
 * attributes, tags to attributes, annotations to events, 64- and 128-bit
 * trace IDs, microsecond timestamps. The server half of a shared span gets
 * a span ID of its own, derived from the shared one, with the client half
 * as its parent, so both halves are kept and the call tree stays intact.
 *
 * Trusted sizes: none from the body. JSON goes through the capped-arena
 * parser (nesting capped at 16); protobuf through common/pbwire.h, every
 * length checked against the bytes left; IDs must be 16 or 32 hex digits;
 * tags and annotations per span are capped by cs_limits. */
#ifndef CS_ZIPKIN_H
#define CS_ZIPKIN_H

#include <stddef.h>
#include <stdint.h>

#include "decode.h"

/* Decodes a JSON array of Zipkin v2 spans. Valid spans go to *out (session
 * filled, validated with cs_span_check), rejected ones are counted in rej.
 * Returns CS_DECODE_OK, EPROTO (not a JSON array of objects; err says why)
 * or ENOMEM (the arena's cap). Everything lives in a.
 * Thread-safety: uses only its arguments. */
int cs_zipkin_decode(const char *json, size_t n, cs_arena *a, const cs_limits *lim, cs_span **out,
                     size_t *n_out, cs_reject_counts *rej, char *err, size_t err_len);

/* Same for a zipkin.proto3 ListOfSpans (application/x-protobuf): IDs of
 * 8 or 16 bytes, addresses as 4 or 16 bytes, the same mapping and checks.
 * EPROTO when the bytes are not a well-formed message. */
int cs_zipkin_decode_proto(const uint8_t *buf, size_t n, cs_arena *a, const cs_limits *lim,
                           cs_span **out, size_t *n_out, cs_reject_counts *rej, char *err,
                           size_t err_len);

/* The span ID given to the server half of a shared span: a fixed mixing
 * of the shared ID (never zero, never the shared ID itself), so a resent
 * span lands on the same key. */
void cs_zipkin_shared_id(const uint8_t id[8], uint8_t out[8]);

#endif
