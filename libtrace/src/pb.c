/* A minimal protobuf writer for the exporter thread, over the capped buffer
 * (common/buf.h): nested messages written by reserving one length byte
 * and shifting the body in the rare case the length needs more. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void __cst_pb_end_long(__cst_buf *b, size_t off, size_t body) {
  size_t n = pb_varint_len(body);
  if (__cst_buf_reserve(b, n - 1))
    return;
  memmove(b->p + off + n, b->p + off + 1, body);
  b->n += n - 1;
  pb_put_varint(b->p + off, body);
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
