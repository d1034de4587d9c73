/* JSON for the query server: a streaming writer into a capped, growable
 * buffer (every response body is built with it) and a small parser for the
 * one JSON input the API takes, the flat `tags` object of /api/traces. */
#ifndef CS_QUERY_JSON_H
#define CS_QUERY_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "span.h"

#define CS_JSON_MAX_DEPTH 64

/* Writer. Commas and nesting are tracked for the caller. Once the byte
 * limit is hit or malloc fails, err is set and every later call is a
 * no-op, so callers check err once at the end.
 * Thread-safety: one writer belongs to one thread. */
typedef struct cs_json {
  cs_buf b; /* the text, capped at the limit (common/buf.h) */
  int err;
  int depth;
  int after_key;
  uint8_t first[CS_JSON_MAX_DEPTH];
  char close[CS_JSON_MAX_DEPTH];
} cs_json;

/* limit 0 means 64 MiB. Allocates nothing yet. */
void cs_json_init(cs_json *j, size_t limit);
/* Frees the buffer unless it was taken. Accepts an unused writer. */
void cs_json_release(cs_json *j);
/* Hands the malloc'ed, NUL-terminated text to the caller (free() it);
 * NULL when err is set. The writer is left empty. */
char *cs_json_take(cs_json *j, size_t *len);

void cs_json_obj(cs_json *j);
void cs_json_arr(cs_json *j);
void cs_json_end(cs_json *j);
void cs_json_key(cs_json *j, const char *k);
/* Strings are escaped; invalid UTF-8 becomes U+FFFD so the output is
 * always valid JSON. */
void cs_json_strn(cs_json *j, const char *s, size_t n);
void cs_json_str(cs_json *j, const char *s);
void cs_json_cs(cs_json *j, cs_str s);
void cs_json_int(cs_json *j, int64_t v);
void cs_json_uint(cs_json *j, uint64_t v);
/* Non-finite values are written as null. */
void cs_json_double(cs_json *j, double v);
void cs_json_bool(cs_json *j, int v);
void cs_json_null(cs_json *j);
/* Lowercase hex of n bytes, as a string. */
void cs_json_hex(cs_json *j, const uint8_t *b, size_t n);

/* Bytes as a base64 string (Jaeger's encoding of binary tags). */
void cs_json_base64(cs_json *j, const uint8_t *b, size_t n);

/* Appends printf-formatted text into the current string-free position:
 * for internal use by helpers that write numbers. */
void cs_json_raw(cs_json *j, const char *s, size_t n);

/* Parses a flat JSON object whose values are strings, numbers, booleans or
 * null into key/value string pairs allocated in a (numbers keep their
 * source text, booleans become "true"/"false", null becomes ""). Rejects
 * nesting, duplicate-free checks are the caller's. Returns 0, or -1 with a
 * message in err. At most max_pairs pairs. */
int cs_json_parse_flat(const char *s, size_t n, cs_arena *a, cs_str **keys, cs_str **vals,
                       size_t *count, size_t max_pairs, char *err, size_t errlen);

#endif
