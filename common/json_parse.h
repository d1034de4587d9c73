/* A small JSON parser for network input (OTLP/HTTP JSON, Zipkin v2): the
 * whole document becomes a tree of nodes in a caller-supplied arena, whose
 * cap bounds memory, with a nesting cap that bounds the stack. Numbers keep
 * their source text so 64-bit integers are read exactly, never through a
 * double (nanosecond timestamps exceed 2^53).
 *
 * Trusted sizes: none from the document. Node and string memory comes from
 * the caller's arena, whose cap turns a huge document into CS_JP_ENOMEM;
 * the nesting cap is the caller's; \u escapes need four hex digits inside
 * the input and surrogates must pair. */
#ifndef CS_JSON_PARSE_H
#define CS_JSON_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"

enum cs_jp_type { CS_JP_NULL = 0, CS_JP_BOOL, CS_JP_NUM, CS_JP_STR, CS_JP_ARR, CS_JP_OBJ };

enum cs_jp_err {
  CS_JP_OK = 0,
  CS_JP_ESYNTAX = -1, /* not JSON (message in the error buffer) */
  CS_JP_ENOMEM = -2,  /* the arena's cap was reached */
  CS_JP_EDEPTH = -3,  /* nested deeper than max_depth */
};

typedef struct cs_jp_val cs_jp_val;
struct cs_jp_val {
  uint8_t type;     /* enum cs_jp_type */
  uint8_t b;        /* BOOL */
  uint32_t n;       /* STR: bytes; NUM: bytes of text; ARR/OBJ: members */
  const char *s;    /* STR: unescaped, NUL-terminated, in the arena;
                       NUM: the number's text inside the input (not NUL-terminated) */
  cs_jp_val *child; /* ARR/OBJ: first member, in document order */
  cs_jp_val *next;  /* next member of the enclosing array or object */
  const char *key;  /* member of an object: its key, unescaped, NUL-terminated */
  uint32_t key_n;
};

/* Parses p[0..n) (one value, surrounding whitespace allowed) into a tree
 * allocated from a. Strings are unescaped; \u escapes become UTF-8 and lone
 * surrogates U+FFFD. Raw bytes are not UTF-8-checked (callers repair).
 * On error err (may be NULL) receives "what at offset N".
 * Returns CS_JP_OK with *out set, or a negative cs_jp_err.
 * Thread-safety: uses only its arguments. */
int cs_jp_parse(const char *p, size_t n, cs_arena *a, uint32_t max_depth, cs_jp_val **out,
                char *err, size_t err_len);

/* Member of object o named key (the first one), or NULL (also when o is
 * NULL or not an object). */
const cs_jp_val *cs_jp_get(const cs_jp_val *o, const char *key);

/* A JSON integer (number without fraction or exponent) or a string holding
 * one, as exact 64-bit values. Return 0, or -1 when v is missing, of
 * another type, not integral or out of range. */
int cs_jp_i64(const cs_jp_val *v, int64_t *out);
int cs_jp_u64(const cs_jp_val *v, uint64_t *out);

/* A number, or one of the strings "NaN", "Infinity", "-Infinity" (protobuf
 * JSON), or a numeric string. Returns 0 or -1. */
int cs_jp_double(const cs_jp_val *v, double *out);

/* True when v is a string equal to s. */
int cs_jp_str_eq(const cs_jp_val *v, const char *s);

#endif
