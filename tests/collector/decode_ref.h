/* Test support for the trace decoder (collector/decode_traces.c): the old
 * protobuf-c decoder as a reference, and a comparison of the two on one
 * payload. Shared by test_decode_diff and the fuzz target. */
#ifndef CS_DECODE_REF_H
#define CS_DECODE_REF_H

#include <stddef.h>
#include <stdint.h>

#include "decode.h"

/* cs_decode_traces as it was with protobuf-c (same contract). */
int cs_decode_traces_ref(const uint8_t *buf, size_t len, cs_arena *a, const cs_limits *lim,
                         cs_span **out, size_t *n, cs_reject_counts *rej);

/* True when some message of the payload holds a singular submessage field
 * (resource, scope, status, a key-value's value) more than once. protobuf-c
 * merges such repeats with quirks of its own (proto3 scalars of the earlier
 * copy are dropped, two empty AnyValues read a descriptor out of bounds), so
 * the decoders are not compared on them. */
int cs_decode_has_repeated_submessage(const uint8_t *p, size_t n);

/* Outcome of decoding one payload with both decoders. */
enum {
  CS_DIFF_SAME = 0,     /* same result code, spans and counts */
  CS_DIFF_SKIPPED = 1,  /* not comparable: see above, or the reference ran
                           out of arena (the wire decoder needs less) */
  CS_DIFF_DIFFERENT = 2,
};

/* Decodes p with both and compares everything the callers see: result
 * code, every field of every span (strings by content), resources, reject
 * counts per reason and repairs. On CS_DIFF_DIFFERENT, why (if not NULL)
 * gets a description. */
int cs_decode_diff(const uint8_t *p, size_t n, const cs_limits *lim, char *why, size_t why_len);

#endif
