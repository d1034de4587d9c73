/* Parsing of everything a client puts in a query string or path: Go-style
 * durations (Jaeger's syntax), bounded integers, trace and span IDs in hex,
 * tag conditions and the search cursor. All of it is outside input, so
 * every parser takes an explicit length, never reads past it, and is
 * fuzzed (fuzz/query/).
 *
 * Trusted sizes: none. Each parser gets (pointer, length) and a maximum
 * value; hex IDs must have their exact length (common/hexb64.h); a
 * percent-escape needs its two digits inside the length. */
#ifndef CS_QUERY_PARAMS_H
#define CS_QUERY_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "span.h"

/* "1.2s", "100ms", "5us", "1h30m", "250µs", "7d", "0". Units: ns, us, µs,
 * ms, s, m, h as Go's time.ParseDuration, plus d: cs_duration_parse
 * (common/duration.h), the parser every flag uses too. Returns 0, or -1
 * (empty, missing unit, negative, overflow, junk). */
int cs_qp_duration(const char *s, size_t n, uint64_t *ns);

/* Unsigned decimal, no sign, no spaces, at most max. Returns 0 or -1. */
int cs_qp_u64(const char *s, size_t n, uint64_t max, uint64_t *out);

/* 1 to 32 hex digits, left-padded with zeros (Jaeger prints 64-bit IDs
 * as 16 digits). All-zero is invalid. Returns 0 or -1. */
int cs_qp_trace_id(const char *s, size_t n, uint8_t out[16]);

/* 1 to 16 hex digits, left-padded. Returns 0 or -1. */
int cs_qp_span_id(const char *s, size_t n, uint8_t out[8]);

/* Splits "key:value" at the first ':' (Jaeger's tag=k:v). The key must be
 * non-empty. Returns 0 or -1. Views point into s. */
int cs_qp_tag(const char *s, size_t n, cs_str *key, cs_str *val);

/* Splits a dependency edge "caller>callee" at the first '>' (a service
 * name with '>' in it can be given as parent=&child= instead). Both sides
 * non-empty and different. Returns 0 or -1. Views point into s. */
int cs_qp_edge(const char *s, size_t n, cs_str *parent, cs_str *child);

/* The opaque page cursor of /api/v1/search: the newest-first position of
 * the last trace returned. Encoded as "1" + 16 hex digits of time + 32 of
 * trace ID. */
typedef struct cs_cursor {
  uint64_t start_ns;
  uint8_t trace_id[16];
} cs_cursor;

/* Checks a raw request target (path and query string as the client sent
 * it, before any decoding) of n bytes: every '%' must start a two-digit
 * hex escape and none may decode to NUL, so "/index.html%00.png" cannot
 * turn into "/index.html" after decoding; raw control bytes are refused
 * too. Counts the query parameters (the '&'-separated parts after the
 * first '?'; an empty query string has none) into *n_params. Returns 0,
 * or -1 with a static reason in *why. */
int cs_qp_check_target(const char *s, size_t n, size_t *n_params, const char **why);

#define CS_CURSOR_LEN 49
/* Writes CS_CURSOR_LEN chars plus a NUL into out. */
void cs_cursor_encode(const cs_cursor *c, char out[CS_CURSOR_LEN + 1]);
int cs_cursor_decode(const char *s, size_t n, cs_cursor *c);

#endif
