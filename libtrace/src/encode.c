/* Turns one span record from a ring into an OTLP Span message. Runs on the
 * exporter thread, so it may take its time: it re-validates the record's
 * structure and removes duplicate attribute keys (the last value wins). */
#include <string.h>

#include "internal.h"

typedef struct attr {
  const char *k;
  uint16_t kn;
  uint8_t type;
  const uint8_t *v; /* value bytes */
  uint32_t vn;
} attr;

#define GET(var, p)                                                                                \
  do {                                                                                             \
    memcpy(&(var), (p), sizeof(var));                                                              \
    (p) += sizeof(var);                                                                            \
  } while (0)

/* Decodes an ATTR/SUBATTR item body (after the tag). NULL when malformed. */
static const uint8_t *attr_decode(const uint8_t *p, const uint8_t *end, attr *a) {
  if (end - p < 3)
    return NULL;
  a->type = *p++;
  GET(a->kn, p);
  if (end - p < a->kn)
    return NULL;
  a->k = (const char *)p;
  p += a->kn;
  if (a->type == CST_ATTR_STRING) {
    if (end - p < 4)
      return NULL;
    GET(a->vn, p);
  } else if (a->type == CST_ATTR_BOOL) {
    a->vn = 1;
  } else if (a->type == CST_ATTR_INT || a->type == CST_ATTR_DOUBLE) {
    a->vn = 8;
  } else {
    return NULL;
  }
  if ((size_t)(end - p) < a->vn)
    return NULL;
  a->v = p;
  return p + a->vn;
}

static void attr_emit(__cst_buf *b, uint32_t field, const attr *a) {
  switch (a->type) {
  case CST_ATTR_STRING: __cst_pb_kv_str(b, field, a->k, a->kn, (const char *)a->v, a->vn); break;
  case CST_ATTR_BOOL: __cst_pb_kv_bool(b, field, a->k, a->kn, a->v[0]); break;
  case CST_ATTR_INT: {
    int64_t i;
    memcpy(&i, a->v, 8);
    __cst_pb_kv_int(b, field, a->k, a->kn, i);
    break;
  }
  default: {
    double d;
    memcpy(&d, a->v, 8);
    __cst_pb_kv_double(b, field, a->k, a->kn, d);
  }
  }
}

/* Emits n SUBATTR items starting at p; returns the pointer after them. */
static const uint8_t *subattrs(__cst_buf *b, uint32_t field, const uint8_t *p, const uint8_t *end,
                               uint16_t n) {
  for (uint16_t i = 0; i < n; i++) {
    attr a;
    if (p >= end || *p != __CST_IT_SUBATTR || !(p = attr_decode(p + 1, end, &a)))
      return NULL;
    attr_emit(b, field, &a);
  }
  return p;
}

#define MAX_SPAN_ATTRS (CST_MAX_ATTRIBUTES + 2)

int __cst_encode_span(__cst_buf *b, const uint8_t *rec, uint32_t len) {
  __cst_rec h;
  if (len < sizeof h)
    return -1;
  memcpy(&h, rec, sizeof h);
  const uint8_t *p = rec + sizeof h, *end = rec + len;
  const char *name = "", *msg = NULL, *ts = NULL;
  uint16_t name_n = 0, msg_n = 0, ts_n = 0;
  attr attrs[MAX_SPAN_ATTRS];
  size_t na = 0;
  const uint8_t *first_ev = NULL, *first_link = NULL;

  /* Pass 1: validate and collect. Zero padding ends the items. */
  while (p < end && *p) {
    uint8_t tag = *p++;
    uint16_t n16;
    switch (tag) {
    case __CST_IT_NAME:
    case __CST_IT_STATUS:
    case __CST_IT_TRACESTATE:
      if (end - p < 2)
        return -1;
      GET(n16, p);
      if (end - p < n16)
        return -1;
      if (tag == __CST_IT_NAME)
        name = (const char *)p, name_n = n16;
      else if (tag == __CST_IT_STATUS)
        msg = (const char *)p, msg_n = n16;
      else
        ts = (const char *)p, ts_n = n16;
      p += n16;
      break;
    case __CST_IT_ATTR: {
      attr a;
      if (!(p = attr_decode(p, end, &a)))
        return -1;
      if (na < MAX_SPAN_ATTRS)
        attrs[na++] = a;
      break;
    }
    case __CST_IT_SUBATTR: {
      attr a;
      if (!(p = attr_decode(p, end, &a)))
        return -1;
      break;
    }
    case __CST_IT_EVENT:
      if (!first_ev)
        first_ev = p - 1;
      if (end - p < 8 + 2)
        return -1;
      p += 8;
      GET(n16, p);
      if (end - p < n16 + 6)
        return -1;
      p += n16 + 6;
      break;
    case __CST_IT_LINK:
      if (!first_link)
        first_link = p - 1;
      if (end - p < 24 + 4 + 2)
        return -1;
      p += 28;
      GET(n16, p);
      if (end - p < n16 + 6)
        return -1;
      p += n16 + 6;
      break;
    default: return -1;
    }
  }

  size_t sp = __cst_pb_begin(b, 2); /* ScopeSpans.spans */
  __cst_pb_bytes(b, 1, h.trace_id, 16);
  __cst_pb_bytes(b, 2, h.span_id, 8);
  if (ts_n)
    __cst_pb_bytes(b, 3, ts, ts_n);
  if (h.has_parent)
    __cst_pb_bytes(b, 4, h.parent_id, 8);
  __cst_pb_bytes(b, 5, name, name_n);
  __cst_pb_uint(b, 6, h.kind);
  __cst_pb_fixed64(b, 7, h.start_ns);
  __cst_pb_fixed64(b, 8, h.end_ns);
  for (size_t i = 0; i < na; i++) {
    size_t j = i + 1;
    while (j < na &&
           !(attrs[j].kn == attrs[i].kn && memcmp(attrs[j].k, attrs[i].k, attrs[i].kn) == 0))
      j++;
    if (j == na)
      attr_emit(b, 9, &attrs[i]);
  }
  __cst_pb_uint(b, 10, h.dropped_attrs);

  /* Pass 2: events and links, with their attributes. */
  const uint8_t *q = first_ev && first_link ? (first_ev < first_link ? first_ev : first_link)
                     : first_ev             ? first_ev
                                            : first_link;
  while (q && q < end && *q) {
    uint8_t tag = *q++;
    uint16_t n16, nattr;
    uint32_t dropped;
    if (tag == __CST_IT_EVENT) {
      uint64_t tm;
      GET(tm, q);
      GET(n16, q);
      size_t ev = __cst_pb_begin(b, 11);
      __cst_pb_fixed64(b, 1, tm);
      __cst_pb_bytes(b, 2, q, n16);
      q += n16;
      GET(nattr, q);
      GET(dropped, q);
      if (!(q = subattrs(b, 3, q, end, nattr)))
        return -1;
      __cst_pb_uint(b, 4, dropped);
      __cst_pb_end(b, ev);
    } else if (tag == __CST_IT_LINK) {
      uint32_t flags;
      size_t lk = __cst_pb_begin(b, 13);
      __cst_pb_bytes(b, 1, q, 16);
      __cst_pb_bytes(b, 2, q + 16, 8);
      q += 24;
      GET(flags, q);
      GET(n16, q);
      if (n16)
        __cst_pb_bytes(b, 3, q, n16);
      q += n16;
      GET(nattr, q);
      GET(dropped, q);
      if (!(q = subattrs(b, 4, q, end, nattr)))
        return -1;
      __cst_pb_uint(b, 5, dropped);
      __cst_pb_fixed32(b, 6, flags);
      __cst_pb_end(b, lk);
    } else {
      /* Skip any other item; its structure was checked in pass 1. */
      attr a;
      if (tag == __CST_IT_ATTR || tag == __CST_IT_SUBATTR) {
        q = attr_decode(q, end, &a);
      } else {
        GET(n16, q);
        q += n16;
      }
    }
  }
  __cst_pb_uint(b, 12, h.dropped_events);
  __cst_pb_uint(b, 14, h.dropped_links);
  if (h.status || msg_n) {
    size_t st = __cst_pb_begin(b, 15);
    if (msg_n)
      __cst_pb_bytes(b, 2, msg, msg_n);
    __cst_pb_uint(b, 3, h.status);
    __cst_pb_end(b, st);
  }
  __cst_pb_fixed32(b, 16, (uint32_t)h.trace_flags | 0x100u | (h.parent_remote ? 0x200u : 0));
  __cst_pb_end(b, sp);
  return b->err ? -1 : 0;
}
