/* OTLP trace encoder (see otlp_encode.h). Protobuf is written back to front:
 * after a submessage's body is written its length is known, so the length
 * prefix and tag go in front of it with no sizing pass and no copy. Fields
 * are therefore written in descending field-number order, so that the
 * bytes come out in ascending order, as protobuf encoders usually emit them. */
#include "otlp_encode.h"

#include <string.h>

#include "pbwire.h"

/* Reverse writer: p moves down towards lo; full is sticky. */
typedef struct rw {
  uint8_t *lo;
  uint8_t *p;
  int full;
} rw;

static void put_raw(rw *w, const void *d, size_t n) {
  if (w->full || (size_t)(w->p - w->lo) < n) {
    w->full = 1;
    return;
  }
  w->p -= n;
  if (n)
    memcpy(w->p, d, n);
}

static void put_varint(rw *w, uint64_t v) {
  uint8_t tmp[PB_VARINT_MAX];
  put_raw(w, tmp, pb_put_varint(tmp, v));
}

static void put_tag(rw *w, uint32_t field, int wt) {
  put_varint(w, (uint64_t)field << 3 | (uint32_t)wt);
}

/* Closes a length-delimited field whose body spans [w->p, end). */
static void close_len(rw *w, const uint8_t *end, uint32_t field) {
  put_varint(w, (uint64_t)(end - w->p));
  put_tag(w, field, PB_LEN);
}

static void put_len_field(rw *w, uint32_t field, const void *d, size_t n) {
  uint8_t *end = w->p;
  put_raw(w, d, n);
  if (!w->full)
    close_len(w, end, field);
}

/* proto3 scalars: default values are not written. */
static void put_str(rw *w, uint32_t field, cs_str s) {
  if (s.n)
    put_len_field(w, field, s.p, s.n);
}

static void put_uint(rw *w, uint32_t field, uint64_t v) {
  if (!v)
    return;
  put_varint(w, v);
  put_tag(w, field, PB_VARINT);
}

static void put_fixed64_always(rw *w, uint32_t field, uint64_t v) {
  uint8_t b[8];
  for (int i = 0; i < 8; i++)
    b[i] = (uint8_t)(v >> (8 * i));
  put_raw(w, b, 8);
  put_tag(w, field, PB_I64);
}

static void put_fixed64(rw *w, uint32_t field, uint64_t v) {
  if (v)
    put_fixed64_always(w, field, v);
}

static void put_fixed32(rw *w, uint32_t field, uint32_t v) {
  if (!v)
    return;
  uint8_t b[4];
  for (int i = 0; i < 4; i++)
    b[i] = (uint8_t)(v >> (8 * i));
  put_raw(w, b, 4);
  put_tag(w, field, PB_I32);
}

static int all_zero(const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (b[i])
      return 0;
  return 1;
}

/* AnyValue members form a oneof: they are written even when zero or empty,
 * or the reader would not know the value's type. */
static void put_anyvalue(rw *w, const cs_attr *a) {
  switch (a->type) {
  case CS_VAL_BOOL:
    put_varint(w, a->v.b ? 1 : 0);
    put_tag(w, 2, PB_VARINT);
    break;
  case CS_VAL_INT:
    put_varint(w, (uint64_t)a->v.i);
    put_tag(w, 3, PB_VARINT);
    break;
  case CS_VAL_DOUBLE: {
    uint64_t bits;
    memcpy(&bits, &a->v.d, 8);
    put_fixed64_always(w, 4, bits);
    break;
  }
  case CS_VAL_BYTES: put_len_field(w, 7, a->v.s.p, a->v.s.n); break;
  default: /* STR, and ARRAY / KVLIST as their JSON text */
    put_len_field(w, 1, a->v.s.p, a->v.s.n);
    break;
  }
}

static void put_kv(rw *w, uint32_t field, const cs_attr *a) {
  uint8_t *end = w->p;
  uint8_t *vend = w->p;
  put_anyvalue(w, a);
  close_len(w, vend, 2);
  put_str(w, 1, a->key);
  close_len(w, end, field);
}

static void put_attrs(rw *w, uint32_t field, const cs_attr *attrs, uint32_t n) {
  for (uint32_t i = n; i-- > 0 && !w->full;)
    put_kv(w, field, &attrs[i]);
}

static void put_event(rw *w, const cs_event *e) {
  uint8_t *end = w->p;
  put_uint(w, 4, e->dropped_attrs);
  put_attrs(w, 3, e->attrs, e->n_attrs);
  put_str(w, 2, e->name);
  put_fixed64(w, 1, e->time_ns);
  close_len(w, end, 11);
}

static void put_link(rw *w, const cs_link *l) {
  uint8_t *end = w->p;
  put_fixed32(w, 6, l->flags);
  put_uint(w, 5, l->dropped_attrs);
  put_attrs(w, 4, l->attrs, l->n_attrs);
  put_str(w, 3, l->trace_state);
  put_len_field(w, 2, l->span_id, 8);
  put_len_field(w, 1, l->trace_id, 16);
  close_len(w, end, 13);
}

static void put_span(rw *w, const cs_span *s) {
  uint8_t *end = w->p;
  put_fixed32(w, 16, s->flags);
  if (s->status_code || s->status_msg.n) {
    uint8_t *send = w->p;
    put_uint(w, 3, s->status_code);
    put_str(w, 2, s->status_msg);
    close_len(w, send, 15);
  }
  put_uint(w, 14, s->dropped_links);
  for (uint32_t i = s->n_links; i-- > 0 && !w->full;)
    put_link(w, &s->links[i]);
  put_uint(w, 12, s->dropped_events);
  for (uint32_t i = s->n_events; i-- > 0 && !w->full;)
    put_event(w, &s->events[i]);
  put_uint(w, 10, s->dropped_attrs);
  put_attrs(w, 9, s->attrs, s->n_attrs);
  put_fixed64(w, 8, s->end_ns);
  put_fixed64(w, 7, s->start_ns);
  put_uint(w, 6, s->kind);
  put_str(w, 5, s->name);
  if (!all_zero(s->parent_id, 8))
    put_len_field(w, 4, s->parent_id, 8);
  put_str(w, 3, s->trace_state);
  put_len_field(w, 2, s->span_id, 8);
  put_len_field(w, 1, s->trace_id, 16);
  close_len(w, end, 2);
}

static void put_resource(rw *w, const cs_resource *r) {
  uint8_t *end = w->p;
  if (r) {
    int has_name = 0;
    for (uint32_t i = 0; i < r->n_attrs; i++)
      if (r->attrs[i].key.n == 12 && memcmp(r->attrs[i].key.p, "service.name", 12) == 0)
        has_name = 1;
    put_attrs(w, 1, r->attrs, r->n_attrs);
    if (!has_name && r->service.n) {
      cs_attr a = {.key = CS_STR_LIT("service.name"), .type = CS_VAL_STR};
      a.v.s = r->service;
      put_kv(w, 1, &a);
    }
  }
  close_len(w, end, 1);
}

static int str_eq(cs_str a, cs_str b) {
  return a.n == b.n && (a.p == b.p || a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

/* Groups are tracked in small fixed tables; a batch with more distinct
 * resources or scopes is cut into segments, each encoded on its own (a
 * resource may then appear in two ResourceSpans, which OTLP allows). */
#define GROUP_MAX 64

typedef struct group {
  const cs_resource *res;
  cs_str scope_name, scope_version;
} group;

static int same_group(const group *g, const cs_span *s) {
  return g->res == s->resource && str_eq(g->scope_name, s->scope_name) &&
         str_eq(g->scope_version, s->scope_version);
}

/* Encodes spans[from, to), which holds at most GROUP_MAX distinct scopes. */
static void put_segment(rw *w, const cs_span *spans, size_t from, size_t to) {
  group g[GROUP_MAX];
  const cs_resource *res[GROUP_MAX];
  size_t ng = 0, nr = 0;
  for (size_t j = from; j < to; j++) {
    size_t k = 0;
    while (k < ng && !same_group(&g[k], &spans[j]))
      k++;
    if (k < ng)
      continue;
    g[ng++] = (group){spans[j].resource, spans[j].scope_name, spans[j].scope_version};
    size_t r = 0;
    while (r < nr && res[r] != spans[j].resource)
      r++;
    if (r == nr)
      res[nr++] = spans[j].resource;
  }
  for (size_t r = nr; r-- > 0 && !w->full;) {
    uint8_t *rend = w->p;
    for (size_t k = ng; k-- > 0 && !w->full;) {
      if (g[k].res != res[r])
        continue;
      uint8_t *send = w->p;
      for (size_t j = to; j-- > from && !w->full;)
        if (same_group(&g[k], &spans[j]))
          put_span(w, &spans[j]);
      if (g[k].scope_name.n || g[k].scope_version.n) {
        uint8_t *scend = w->p;
        put_str(w, 2, g[k].scope_version);
        put_str(w, 1, g[k].scope_name);
        close_len(w, scend, 1);
      }
      close_len(w, send, 2);
    }
    put_resource(w, res[r]);
    close_len(w, rend, 1);
  }
}

int cs_otlp_encode_traces_tail(const cs_span *spans, size_t n, uint8_t *buf, size_t cap,
                               size_t *len) {
  rw w = {buf, buf + cap, 0};
  /* Segments are found from the end backwards so that, written back to
   * front, they come out in input order. */
  size_t to = n;
  while (to > 0 && !w.full) {
    group g[GROUP_MAX];
    size_t ng = 0, from = to;
    while (from > 0) {
      const cs_span *s = &spans[from - 1];
      size_t k = 0;
      while (k < ng && !same_group(&g[k], s))
        k++;
      if (k == ng) {
        if (ng == GROUP_MAX)
          break;
        g[ng++] = (group){s->resource, s->scope_name, s->scope_version};
      }
      from--;
    }
    put_segment(&w, spans, from, to);
    to = from;
  }
  if (w.full)
    return CS_OTLP_ENOSPC;
  *len = (size_t)(buf + cap - w.p);
  return 0;
}

int cs_otlp_encode_traces(const cs_span *spans, size_t n, uint8_t *buf, size_t cap, size_t *len) {
  int rc = cs_otlp_encode_traces_tail(spans, n, buf, cap, len);
  if (rc == 0)
    memmove(buf, buf + cap - *len, *len);
  return rc;
}
