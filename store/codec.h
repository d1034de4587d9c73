/* Byte-level helpers shared by the store's key, chunk and summary codecs:
 * the bounds-checked reader of stored bytes (cs__rd), on top of the
 * project's capped buffer (common/buf.h) and protobuf varints
 * (common/pbwire.h). Internal to store/; every read of stored bytes goes
 * through cs__rd so a truncated or corrupt record sets an error flag
 * instead of reading past its end.
 *
 * Trusted sizes: none from the record. A length prefix is checked against
 * the bytes left (cs__rd_bytes) before any pointer is formed; varints are
 * at most 10 bytes; output buffers are capped (cs_buf's max). */
#ifndef CS_STORE_CODEC_H
#define CS_STORE_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pbwire.h"
#include "span.h"

static inline void cs__buf_str(cs_buf *b, cs_str s) {
  cs_buf_varint(b, s.n);
  cs_buf_put(b, s.p, s.n);
}

static inline uint64_t cs__zigzag(int64_t v) {
  return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int64_t cs__unzigzag(uint64_t v) {
  return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

typedef struct cs__rd {
  const uint8_t *p, *end;
  int err; /* sticky: set on the first out-of-bounds or malformed read */
} cs__rd;

static inline cs__rd cs__rd_make(const void *p, size_t n) {
  cs__rd r = {(const uint8_t *)p, (const uint8_t *)p + n, 0};
  return r;
}

static inline uint8_t cs__rd_u8(cs__rd *r) {
  if (r->err || r->p >= r->end) {
    r->err = 1;
    return 0;
  }
  return *r->p++;
}

static inline uint64_t cs__rd_varint(cs__rd *r) {
  uint64_t v;
  size_t k = r->err ? 0 : pb_read_varint(r->p, (size_t)(r->end - r->p), PB_VARINT_MAX, &v);
  if (!k) {
    r->err = 1;
    return 0;
  }
  r->p += k;
  return v;
}

static inline uint64_t cs__rd_be64(cs__rd *r) {
  if (r->err || r->end - r->p < 8) {
    r->err = 1;
    return 0;
  }
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | r->p[i];
  r->p += 8;
  return v;
}

/* Returns a pointer to n bytes inside the record, or NULL (err set). */
static inline const uint8_t *cs__rd_bytes(cs__rd *r, size_t n) {
  if (r->err || (size_t)(r->end - r->p) < n) {
    r->err = 1;
    return NULL;
  }
  const uint8_t *p = r->p;
  r->p += n;
  return p;
}

static inline cs_str cs__rd_str(cs__rd *r) {
  cs_str s = {"", 0};
  uint64_t n = cs__rd_varint(r);
  if (n > UINT32_MAX) {
    r->err = 1;
    return s;
  }
  const uint8_t *p = cs__rd_bytes(r, (size_t)n);
  if (p) {
    s.p = (const char *)p;
    s.n = (uint32_t)n;
  }
  return s;
}

/* A fast 64-bit hash, 8 bytes per step with a final avalanche; used for
 * in-memory sets and chunk identities (stable across processes), never for
 * security. h chains calls (0 to start). */
static inline uint64_t cs__hash(const void *d, size_t n, uint64_t h) {
  const uint8_t *p = d;
  h ^= 0x9E3779B97F4A7C15ULL + n;
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 31;
    p += 8;
    n -= 8;
  }
  if (n) {
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0x94d049bb133111ebULL;
    h ^= h >> 29;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

static inline int cs__str_eq(cs_str a, cs_str b) {
  return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static inline int cs__str_cmp(cs_str a, cs_str b) {
  size_t m = a.n < b.n ? a.n : b.n;
  int c = m ? memcmp(a.p, b.p, m) : 0;
  if (c) return c;
  return a.n < b.n ? -1 : a.n > b.n;
}

#endif
