/* A minimal protobuf writer for the exporter thread: append-only buffer with
 * a hard size cap, and nested messages written by reserving one length byte
 * and shifting the body in the rare case the length needs more. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void __cst_buf_init(__cst_buf *b, size_t max) {
  memset(b, 0, sizeof *b);
  b->max = max;
}

void __cst_buf_release(__cst_buf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

int __cst_buf_reserve(__cst_buf *b, size_t n) {
  if (b->err) return -1;
  if (b->len + n <= b->cap) return 0;
  if (b->len + n > b->max) {
    b->err = 1;
    return -1;
  }
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + n) cap *= 2;
  if (cap > b->max) cap = b->max;
  uint8_t *p = realloc(b->p, cap);
  if (!p) {
    b->err = 1;
    return -1;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

void __cst_pb_raw(__cst_buf *b, const void *p, size_t n) {
  if (n == 0 || __cst_buf_reserve(b, n)) return;
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

static size_t varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) v >>= 7, n++;
  return n;
}

static size_t put_varint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

void __cst_pb_varint(__cst_buf *b, uint64_t v) {
  if (__cst_buf_reserve(b, 10)) return;
  b->len += put_varint(b->p + b->len, v);
}

void __cst_pb_tag(__cst_buf *b, uint32_t field, uint32_t wt) {
  __cst_pb_varint(b, (uint64_t)field << 3 | wt);
}

void __cst_pb_uint(__cst_buf *b, uint32_t field, uint64_t v) {
  if (!v) return;
  __cst_pb_tag(b, field, 0);
  __cst_pb_varint(b, v);
}

void __cst_pb_bytes(__cst_buf *b, uint32_t field, const void *p, size_t n) {
  __cst_pb_tag(b, field, 2);
  __cst_pb_varint(b, n);
  __cst_pb_raw(b, p, n);
}

void __cst_pb_fixed64(__cst_buf *b, uint32_t field, uint64_t v) {
  __cst_pb_tag(b, field, 1);
  uint8_t le[8];
  for (int i = 0; i < 8; i++) le[i] = (uint8_t)(v >> (8 * i));
  __cst_pb_raw(b, le, 8);
}

void __cst_pb_fixed32(__cst_buf *b, uint32_t field, uint32_t v) {
  __cst_pb_tag(b, field, 5);
  uint8_t le[4];
  for (int i = 0; i < 4; i++) le[i] = (uint8_t)(v >> (8 * i));
  __cst_pb_raw(b, le, 4);
}

void __cst_pb_double(__cst_buf *b, uint32_t field, double v) {
  uint64_t bits;
  memcpy(&bits, &v, 8);
  __cst_pb_fixed64(b, field, bits);
}

size_t __cst_pb_begin(__cst_buf *b, uint32_t field) {
  __cst_pb_tag(b, field, 2);
  if (__cst_buf_reserve(b, 1)) return 0;
  b->p[b->len++] = 0;
  return b->len - 1;
}

void __cst_pb_end(__cst_buf *b, size_t off) {
  if (b->err) return;
  size_t body = b->len - off - 1;
  size_t n = varint_len(body);
  if (n > 1) {
    if (__cst_buf_reserve(b, n - 1)) return;
    memmove(b->p + off + n, b->p + off + 1, body);
    b->len += n - 1;
  }
  put_varint(b->p + off, body);
}

static size_t kv_begin(__cst_buf *b, uint32_t field, const char *k, size_t kl) {
  size_t kv = __cst_pb_begin(b, field);
  __cst_pb_bytes(b, 1, k, kl);
  return kv;
}

void __cst_pb_kv_str(__cst_buf *b, uint32_t field, const char *k, size_t kl, const char *v,
                     size_t vl) {
  size_t kv = kv_begin(b, field, k, kl);
  size_t av = __cst_pb_begin(b, 2);
  __cst_pb_bytes(b, 1, v, vl);
  __cst_pb_end(b, av);
  __cst_pb_end(b, kv);
}

void __cst_pb_kv_int(__cst_buf *b, uint32_t field, const char *k, size_t kl, int64_t v) {
  size_t kv = kv_begin(b, field, k, kl);
  size_t av = __cst_pb_begin(b, 2);
  __cst_pb_tag(b, 3, 0);
  __cst_pb_varint(b, (uint64_t)v);
  __cst_pb_end(b, av);
  __cst_pb_end(b, kv);
}

void __cst_pb_kv_double(__cst_buf *b, uint32_t field, const char *k, size_t kl, double v) {
  size_t kv = kv_begin(b, field, k, kl);
  size_t av = __cst_pb_begin(b, 2);
  __cst_pb_double(b, 4, v);
  __cst_pb_end(b, av);
  __cst_pb_end(b, kv);
}

void __cst_pb_kv_bool(__cst_buf *b, uint32_t field, const char *k, size_t kl, int v) {
  size_t kv = kv_begin(b, field, k, kl);
  size_t av = __cst_pb_begin(b, 2);
  __cst_pb_tag(b, 2, 0);
  __cst_pb_varint(b, v ? 1 : 0);
  __cst_pb_end(b, av);
  __cst_pb_end(b, kv);
}
