/* A growable byte buffer with a hard cap: the output side of the project's
 * bounded readers and writers (common/pbwire.h is the protobuf side,
 * common/hexb64.h the text codecs). Header-only.
 *
 * - max is the most bytes the buffer may ever hold (cap never exceeds it,
 *   so the fast path needs no second check); a zeroed buffer gets
 *   CS_BUF_MAX_DEFAULT, so `cs_buf b = {0};` is capped too.
 * - A write that would pass max, or a failed allocation, sets err (sticky)
 *   and writes nothing; every later write is refused too, so a caller
 *   checks err once at the end. The contents are then incomplete.
 * - A buffer may start on caller storage: {.p = arr, .cap = sizeof arr,
 *   .max = sizeof arr} never reallocates (a write past it sets err).
 *
 * Two growable buffers stay apart on purpose, because they allocate
 * differently: collector/attrs.c's JSON text grows inside the request's
 * arena (freed with it), and collector/framer.c's partial frame is sized
 * exactly and charged to a budget shared by all connections.
 *
 * Trusted sizes: none; every length is checked against max before
 * arithmetic that could overflow. */
#ifndef CS_BUF_H
#define CS_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pbwire.h"

#define CS_BUF_MAX_DEFAULT ((size_t)1 << 30) /* 1 GiB */

enum { CS_BUF_OK = 0, CS_BUF_ETOOBIG = 1, CS_BUF_ENOMEM = 2 };

typedef struct cs_buf {
  size_t n, cap, max;
  int err;
  union {
    uint8_t *p;
    char *s; /* the same bytes, for text writers */
  };
} cs_buf;

static inline void cs_buf_init(cs_buf *b, size_t max) {
  memset(b, 0, sizeof *b);
  b->max = max;
}

static inline void cs_buf_free(cs_buf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

/* Slow path of cs_buf_reserve: grows geometrically, never past max. */
static inline int cs_buf_grow(cs_buf *b, size_t extra) {
  if (b->err)
    return -1;
  size_t max = b->max ? b->max : CS_BUF_MAX_DEFAULT;
  if (b->n > max || extra > max - b->n) {
    b->err = CS_BUF_ETOOBIG;
    return -1;
  }
  size_t need = b->n + extra, cap = b->cap ? b->cap : max < 256 ? max : 256;
  while (cap < need)
    cap = cap > max / 2 ? max : cap * 2;
  uint8_t *np = realloc(b->p, cap);
  if (!np) {
    b->err = CS_BUF_ENOMEM;
    return -1;
  }
  b->p = np;
  b->cap = cap;
  return 0;
}

/* Makes room for extra more bytes; 0 or -1 (err set). */
static inline int cs_buf_reserve(cs_buf *b, size_t extra) {
  if (!b->err && extra <= b->cap - b->n)
    return 0;
  return cs_buf_grow(b, extra);
}

static inline void cs_buf_put(cs_buf *b, const void *d, size_t n) {
  if (n == 0 || cs_buf_reserve(b, n))
    return;
  memcpy(b->p + b->n, d, n);
  b->n += n;
}

static inline void cs_buf_u8(cs_buf *b, uint8_t v) {
  if (cs_buf_reserve(b, 1))
    return;
  b->p[b->n++] = v;
}

static inline void cs_buf_varint(cs_buf *b, uint64_t v) {
  if (cs_buf_reserve(b, PB_VARINT_MAX))
    return;
  b->n += pb_put_varint(b->p + b->n, v);
}

/* Big-endian, so that byte order equals numeric order inside keys. */
static inline void cs_buf_be64(cs_buf *b, uint64_t v) {
  if (cs_buf_reserve(b, 8))
    return;
  for (int i = 7; i >= 0; i--)
    b->p[b->n++] = (uint8_t)(v >> (i * 8));
}

/* The contents as a NUL-terminated string (the NUL is not counted in n);
 * NULL when err is or becomes set. */
static inline const char *cs_buf_cstr(cs_buf *b) {
  if (cs_buf_reserve(b, 1))
    return NULL;
  b->p[b->n] = 0;
  return (const char *)b->p;
}

#endif
