/* OTLP ExportTraceServiceRequest straight from the wire into cs_span, in
 * one pass and without protobuf-c: strings and bytes point into one copy of
 * the payload in the arena, nesting is bounded as the recursion goes (a
 * message deeper than MAX_MSG_DEPTH fails the payload), and every byte is
 * checked the way protobuf-c checked it. Each span is read into a raw form
 * and then converted in the old decoder's order, so the same payloads give
 * the same spans, reject reasons and repair counts; the one designed
 * difference is a singular submessage given twice, merged field by field
 * here (tests/collector/test_decode_diff.c compares the two decoders). */
#include <string.h>

#include "attrs.h"
#include "decode.h"
#include "pbwire.h"
#include "session.h"

/* Deepest legitimate OTLP nesting is about 9 messages (metrics exemplar
 * attributes) plus two per level of nested attribute values. */
#define MAX_MSG_DEPTH 40

/* A growable array of attributes as read off the wire (see attrs.h): only
 * the first max are kept, since more than max rejects them all. */
typedef struct attrv {
  cs_attr *v;
  size_t n, cap;
  size_t total; /* read, kept or not */
} attrv;

typedef struct raw_event {
  uint64_t time_ns;
  cs_str name;
  cs_attr *attrs; /* NULL when n_attrs is over the cap */
  size_t n_attrs;
  uint32_t dropped;
} raw_event;

typedef struct raw_link {
  cs_str trace_id, span_id, trace_state;
  uint32_t flags, dropped;
  cs_attr *attrs;
  size_t n_attrs;
} raw_link;

/* One Span message's fields, last one winning, before conversion. */
typedef struct raw_span {
  cs_str trace_id, span_id, parent_id, name, trace_state, status_msg;
  int32_t kind, status_code;
  int has_status;
  uint32_t flags, dropped_attrs, dropped_events, dropped_links;
  uint64_t start_ns, end_ns;
  size_t n_events, n_links; /* read; only the first max are kept */
} raw_span;

typedef struct dec {
  cs_arena *a;
  const cs_limits *lim;
  int err;   /* first CS_DECODE_E* */
  cs_conv c; /* utf8_repaired, reason */
  cs_span *spans;
  size_t n_spans, cap_spans;
  uint32_t rej[CS_REJ__COUNT];    /* committed rejects */
  uint32_t rs_rej[CS_REJ__COUNT]; /* this ResourceSpans', pending its resource */
  size_t rs_spans;                /* Span messages in this ResourceSpans */
  /* Scratch reused message after message. */
  attrv res_attrs, span_attrs, inner_attrs;
  raw_event *events;
  size_t cap_events;
  raw_link *links;
  size_t cap_links;
  cs_str scope_name, scope_version;
} dec;

static int proto_err(dec *d) {
  if (!d->err)
    d->err = CS_DECODE_EPROTO;
  return -1;
}

static int nomem(dec *d) {
  if (!d->err)
    d->err = CS_DECODE_ENOMEM;
  return -1;
}

/* Makes room for need elements of size elem in *v (capacity *cap), keeping
 * the first keep. Old arrays stay in the arena: growth doubles, so the
 * waste is at most the final size. */
static int grow(dec *d, void **v, size_t *cap, size_t need, size_t keep, size_t elem) {
  if (need <= *cap)
    return 0;
  size_t nc = *cap ? *cap * 2 : need > 16 ? need : 16;
  while (nc < need)
    nc *= 2;
  void *np = cs_arena_alloc(d->a, nc * elem);
  if (!np)
    return nomem(d);
  if (keep)
    memcpy(np, *v, keep * elem);
  *v = np;
  *cap = nc;
  return 0;
}

static cs_str slice(const pb_field *f) {
  return (cs_str){(const char *)f->p, (uint32_t)f->n};
}

/* protobuf-c reads a bool from whatever bytes follow its tag. */
static int wire_bool(const pb_field *f) {
  for (size_t i = 0; i < f->raw_n; i++)
    if (f->raw[i] & 0x7f)
      return 1;
  return 0;
}

static int parse_kv(dec *d, const uint8_t *p, size_t n, int depth, cs_attr *out);

/* ArrayValue (field 1: AnyValue) or KeyValueList (field 1: KeyValue),
 * checked only: attrs.c renders the kept ones from the same bytes. */
static int check_list(dec *d, const uint8_t *p, size_t n, int depth, int kvlist);

/* An AnyValue message. The last member set goes into *out (type and v);
 * *out is left alone when none is (so a later empty value field merges into
 * an earlier one without changing it). */
static int parse_any(dec *d, const uint8_t *p, size_t n, int depth, cs_attr *out) {
  if (depth > MAX_MSG_DEPTH)
    return proto_err(d);
  pb_rd r;
  pb_field f;
  pb_init(&r, p, n);
  while (pb_more(&r)) {
    if (pb_field_next(&r, &f))
      return proto_err(d);
    switch (f.num) {
    case 1:
    case 7:
      if (f.wt != PB_LEN)
        return proto_err(d);
      out->type = f.num == 1 ? CS_VAL_STR : CS_VAL_BYTES;
      out->v.s = slice(&f);
      break;
    case 2:
      out->type = CS_VAL_BOOL;
      out->v.b = wire_bool(&f);
      break;
    case 3:
      if (f.wt != PB_VARINT)
        return proto_err(d);
      out->type = CS_VAL_INT;
      out->v.i = (int64_t)f.v;
      break;
    case 4:
      if (f.wt != PB_I64)
        return proto_err(d);
      out->type = CS_VAL_DOUBLE;
      memcpy(&out->v.d, &f.v, sizeof out->v.d);
      break;
    case 5:
    case 6:
      if (f.wt != PB_LEN || check_list(d, f.p, f.n, depth + 1, f.num == 6))
        return proto_err(d);
      out->type = f.num == 5 ? CS_VAL_ARRAY : CS_VAL_KVLIST;
      out->v.s = slice(&f);
      break;
    default: break; /* unknown field: skipped */
    }
  }
  return 0;
}

static int check_list(dec *d, const uint8_t *p, size_t n, int depth, int kvlist) {
  if (depth > MAX_MSG_DEPTH)
    return proto_err(d);
  pb_rd r;
  pb_field f;
  pb_init(&r, p, n);
  while (pb_more(&r)) {
    if (pb_field_next(&r, &f))
      return proto_err(d);
    if (f.num != 1)
      continue;
    if (f.wt != PB_LEN)
      return proto_err(d);
    cs_attr unused;
    if (kvlist ? parse_kv(d, f.p, f.n, depth + 1, &unused)
               : parse_any(d, f.p, f.n, depth + 1, &unused))
      return -1;
  }
  return 0;
}

/* A KeyValue message into *out: raw key and value, an unset value as an
 * empty string. */
static int parse_kv(dec *d, const uint8_t *p, size_t n, int depth, cs_attr *out) {
  if (depth > MAX_MSG_DEPTH)
    return proto_err(d);
  pb_rd r;
  pb_field f;
  pb_init(&r, p, n);
  out->key = (cs_str){"", 0};
  out->type = CS_VAL_STR;
  out->v.s = (cs_str){"", 0};
  while (pb_more(&r)) {
    if (pb_field_next(&r, &f))
      return proto_err(d);
    if (f.num == 1) {
      if (f.wt != PB_LEN)
        return proto_err(d);
      out->key = slice(&f);
    } else if (f.num == 2) {
      if (f.wt != PB_LEN || parse_any(d, f.p, f.n, depth + 1, out))
        return proto_err(d);
    }
  }
  return 0;
}

/* Reads one KeyValue into v, keeping the first max (more than max are
 * rejected all together, unconverted). */
static int push_kv(dec *d, attrv *v, const pb_field *f, int depth, uint32_t max) {
  if (f->wt != PB_LEN)
    return proto_err(d);
  cs_attr unused, *slot = &unused;
  if (v->total < max) {
    if (grow(d, (void **)&v->v, &v->cap, v->n + 1, v->n, sizeof *v->v))
      return -1;
    slot = &v->v[v->n++];
  }
  v->total++;
  return parse_kv(d, f->p, f->n, depth, slot);
}

/* The kept attributes of v as an arena array (NULL when over the cap). */
static int keep_attrs(dec *d, const attrv *v, cs_attr **out) {
  *out = NULL;
  if (v->total > d->lim->max_attrs || v->n == 0)
    return 0;
  *out = cs_arena_alloc(d->a, v->n * sizeof **out);
  if (!*out)
    return nomem(d);
  memcpy(*out, v->v, v->n * sizeof **out);
  return 0;
}

/* Event and Link messages past the span's cap (keep = 0) are only checked:
 * the span will be rejected for their number. */
static int parse_event(dec *d, const uint8_t *p, size_t n, raw_event *e, int keep) {
  pb_rd r;
  pb_field f;
  pb_init(&r, p, n);
  memset(e, 0, sizeof *e);
  e->name = (cs_str){"", 0};
  attrv *av = &d->inner_attrs;
  av->n = av->total = 0;
  while (pb_more(&r)) {
    if (pb_field_next(&r, &f))
      return proto_err(d);
    switch (f.num) {
    case 1:
      if (f.wt != PB_I64)
        return proto_err(d);
      e->time_ns = f.v;
      break;
    case 2:
      if (f.wt != PB_LEN)
        return proto_err(d);
      e->name = slice(&f);
      break;
    case 3:
      if (push_kv(d, av, &f, 5, d->lim->max_attrs))
        return -1;
      break;
    case 4:
      if (f.wt != PB_VARINT)
        return proto_err(d);
      e->dropped = (uint32_t)f.v;
      break;
    default: break;
    }
  }
  e->n_attrs = av->total;
  return keep ? keep_attrs(d, av, &e->attrs) : 0;
}

static int parse_link(dec *d, const uint8_t *p, size_t n, raw_link *l, int keep) {
  pb_rd r;
  pb_field f;
  pb_init(&r, p, n);
  memset(l, 0, sizeof *l);
  l->trace_state = (cs_str){"", 0};
  attrv *av = &d->inner_attrs;
  av->n = av->total = 0;
  while (pb_more(&r)) {
    if (pb_field_next(&r, &f))
      return proto_err(d);
    switch (f.num) {
    case 1:
    case 2:
    case 3:
      if (f.wt != PB_LEN)
        return proto_err(d);
      if (f.num == 1)
        l->trace_id = slice(&f);
      else if (f.num == 2)
        l->span_id = slice(&f);
      else
        l->trace_state = slice(&f);
      break;
    case 4:
      if (push_kv(d, av, &f, 5, d->lim->max_attrs))
        return -1;
      break;
    case 5:
      if (f.wt != PB_VARINT)
        return proto_err(d);
      l->dropped = (uint32_t)f.v;
      break;
    case 6:
      if (f.wt != PB_I32)
        return proto_err(d);
      l->flags = (uint32_t)f.v;
      break;
    default: break;
    }
  }
  l->n_attrs = av->total;
  return keep ? keep_attrs(d, av, &l->attrs) : 0;
}

/* Status merges field by field when given twice, like any submessage. */
static int parse_status(dec *d, const uint8_t *p, size_t n, raw_span *s) {
  pb_rd r;
  pb_field f;
  pb_init(&r, p, n);
  s->has_status = 1;
  while (pb_more(&r)) {
    if (pb_field_next(&r, &f))
      return proto_err(d);
    if (f.num == 2) {
      if (f.wt != PB_LEN)
        return proto_err(d);
      s->status_msg = slice(&f);
    } else if (f.num == 3) {
      if (f.wt != PB_VARINT)
        return proto_err(d);
      s->status_code = (int32_t)(uint32_t)f.v;
    }
  }
  return 0;
}

/* Reads a Span message (depth 3) into s and the scratch arrays. */
static int parse_span(dec *d, const uint8_t *p, size_t n, raw_span *s) {
  static const uint8_t want_wt[17] = {
      [1] = PB_LEN,  [2] = PB_LEN,     [3] = PB_LEN,  [4] = PB_LEN,
      [5] = PB_LEN,  [6] = PB_VARINT,  [7] = PB_I64,  [8] = PB_I64,
      [9] = PB_LEN,  [10] = PB_VARINT, [11] = PB_LEN, [12] = PB_VARINT,
      [13] = PB_LEN, [14] = PB_VARINT, [15] = PB_LEN, [16] = PB_I32};
  pb_rd r;
  pb_field f;
  pb_init(&r, p, n);
  memset(s, 0, sizeof *s);
  s->name = s->trace_state = (cs_str){"", 0};
  d->span_attrs.n = d->span_attrs.total = 0;
  while (pb_more(&r)) {
    if (pb_field_next(&r, &f))
      return proto_err(d);
    if (f.num == 0 || f.num > 16)
      continue; /* unknown field */
    if (f.wt != want_wt[f.num])
      return proto_err(d);
    switch (f.num) {
    case 1: s->trace_id = slice(&f); break;
    case 2: s->span_id = slice(&f); break;
    case 3: s->trace_state = slice(&f); break;
    case 4: s->parent_id = slice(&f); break;
    case 5: s->name = slice(&f); break;
    case 6: s->kind = (int32_t)(uint32_t)f.v; break;
    case 7: s->start_ns = f.v; break;
    case 8: s->end_ns = f.v; break;
    case 9:
      if (push_kv(d, &d->span_attrs, &f, 4, d->lim->max_attrs))
        return -1;
      break;
    case 10: s->dropped_attrs = (uint32_t)f.v; break;
    case 11: {
      raw_event e;
      int keep = s->n_events < d->lim->max_events;
      if (parse_event(d, f.p, f.n, &e, keep))
        return -1;
      if (keep) {
        if (grow(d, (void **)&d->events, &d->cap_events, s->n_events + 1, s->n_events,
                 sizeof *d->events))
          return -1;
        d->events[s->n_events] = e;
      }
      s->n_events++;
      break;
    }
    case 12: s->dropped_events = (uint32_t)f.v; break;
    case 13: {
      raw_link l;
      int keep = s->n_links < d->lim->max_links;
      if (parse_link(d, f.p, f.n, &l, keep))
        return -1;
      if (keep) {
        if (grow(d, (void **)&d->links, &d->cap_links, s->n_links + 1, s->n_links,
                 sizeof *d->links))
          return -1;
        d->links[s->n_links] = l;
      }
      s->n_links++;
      break;
    }
    case 14: s->dropped_links = (uint32_t)f.v; break;
    case 15:
      if (parse_status(d, f.p, f.n, s))
        return -1;
      break;
    case 16: s->flags = (uint32_t)f.v; break;
    }
  }
  return 0;
}

static int reject(cs_conv *c, int reason) {
  c->reason = reason;
  return CS_CONV_REJECT;
}

static int all_zero(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i])
      return 0;
  return 1;
}

/* Attributes kept by the parse into a finished array: count cap first,
 * then conversion in order (the old decoder's order, for the same reject
 * reason and repair count). */
static int conv_attrs(dec *d, cs_attr *raw, size_t n, cs_attr **out, uint32_t *n_out) {
  *out = NULL;
  *n_out = 0;
  if (n == 0)
    return CS_CONV_OK;
  if (n > d->lim->max_attrs)
    return reject(&d->c, CS_REJ_TOO_MANY_ATTRS);
  int rc = __cs_conv_wire_attrs(&d->c, raw, (uint32_t)n);
  if (rc)
    return rc;
  *out = raw;
  *n_out = (uint32_t)n;
  return CS_CONV_OK;
}

static int conv_events(dec *d, const raw_span *r, cs_span *s) {
  if (r->n_events == 0)
    return CS_CONV_OK;
  if (r->n_events > d->lim->max_events)
    return reject(&d->c, CS_REJ_TOO_MANY_EVENTS);
  s->events = cs_arena_calloc(d->a, r->n_events * sizeof *s->events);
  if (!s->events)
    return CS_CONV_NOMEM;
  s->n_events = (uint32_t)r->n_events;
  for (size_t i = 0; i < r->n_events; i++) {
    const raw_event *re = &d->events[i];
    cs_event *e = &s->events[i];
    e->time_ns = re->time_ns;
    e->dropped_attrs = re->dropped;
    int rc = __cs_conv_slice_fast(&d->c, re->name.p, re->name.n, &e->name);
    if (!rc)
      rc = conv_attrs(d, re->attrs, re->n_attrs, &e->attrs, &e->n_attrs);
    if (rc)
      return rc;
  }
  return CS_CONV_OK;
}

static int conv_links(dec *d, const raw_span *r, cs_span *s) {
  if (r->n_links == 0)
    return CS_CONV_OK;
  if (r->n_links > d->lim->max_links)
    return reject(&d->c, CS_REJ_TOO_MANY_LINKS);
  s->links = cs_arena_calloc(d->a, r->n_links * sizeof *s->links);
  if (!s->links)
    return CS_CONV_NOMEM;
  s->n_links = (uint32_t)r->n_links;
  for (size_t i = 0; i < r->n_links; i++) {
    const raw_link *rl = &d->links[i];
    cs_link *l = &s->links[i];
    if (rl->trace_id.n != 16 || rl->span_id.n != 8)
      return reject(&d->c, CS_REJ_LINK_ID);
    memcpy(l->trace_id, rl->trace_id.p, 16);
    memcpy(l->span_id, rl->span_id.p, 8);
    l->flags = rl->flags;
    l->dropped_attrs = rl->dropped;
    int rc = __cs_conv_slice_fast(&d->c, rl->trace_state.p, rl->trace_state.n, &l->trace_state);
    if (!rc)
      rc = conv_attrs(d, rl->attrs, rl->n_attrs, &l->attrs, &l->n_attrs);
    if (rc)
      return rc;
  }
  return CS_CONV_OK;
}

/* Converts one parsed span; CS_CONV_REJECT with d->c.reason for an invalid
 * one. Cheap checks first, so a flood of bad spans costs little. */
static int conv_span(dec *d, const raw_span *r, cs_span *s) {
  memset(s, 0, sizeof *s);
  if (r->trace_id.n != 16)
    return reject(&d->c, CS_REJ_TRACE_ID_LEN);
  if (r->span_id.n != 8)
    return reject(&d->c, CS_REJ_SPAN_ID_LEN);
  if (r->parent_id.n != 0 && r->parent_id.n != 8)
    return reject(&d->c, CS_REJ_PARENT_ID_LEN);
  if (all_zero(r->trace_id.p, 16))
    return reject(&d->c, CS_REJ_ZERO_TRACE_ID);
  if (all_zero(r->span_id.p, 8))
    return reject(&d->c, CS_REJ_ZERO_SPAN_ID);
  if (r->start_ns == 0)
    return reject(&d->c, CS_REJ_NO_START);
  if (r->end_ns < r->start_ns)
    return reject(&d->c, CS_REJ_END_BEFORE_START);
  memcpy(s->trace_id, r->trace_id.p, 16);
  memcpy(s->span_id, r->span_id.p, 8);
  if (r->parent_id.n == 8)
    memcpy(s->parent_id, r->parent_id.p, 8);
  s->start_ns = r->start_ns;
  s->end_ns = r->end_ns;
  /* Unknown enum values from newer senders degrade to "unspecified". */
  s->kind = r->kind >= 0 && r->kind <= CS_KIND_CONSUMER ? (uint8_t)r->kind : CS_KIND_UNSPECIFIED;
  s->flags = r->flags;
  s->dropped_attrs = r->dropped_attrs;
  s->dropped_events = r->dropped_events;
  s->dropped_links = r->dropped_links;
  int rc = __cs_conv_slice_fast(&d->c, r->name.p, r->name.n, &s->name);
  if (!rc)
    rc = __cs_conv_slice_fast(&d->c, r->trace_state.p, r->trace_state.n, &s->trace_state);
  if (!rc && r->has_status) {
    int code = r->status_code;
    s->status_code = code >= 0 && code <= CS_STATUS_ERROR ? (uint8_t)code : CS_STATUS_UNSET;
    rc = __cs_conv_slice_fast(&d->c, r->status_msg.p ? r->status_msg.p : "", r->status_msg.n,
                         &s->status_msg);
  }
  if (!rc) {
    /* The attributes go from the scratch array into the arena only now
     * that the span got this far. */
    const attrv *av = &d->span_attrs;
    cs_attr *raw = NULL;
    if (av->total <= d->lim->max_attrs && av->n) {
      if (!(raw = cs_arena_alloc(d->a, av->n * sizeof *raw)))
        return CS_CONV_NOMEM;
      memcpy(raw, av->v, av->n * sizeof *raw);
    }
    rc = conv_attrs(d, raw, av->total, &s->attrs, &s->n_attrs);
  }
  if (!rc)
    rc = conv_events(d, r, s);
  if (!rc)
    rc = conv_links(d, r, s);
  return rc;
}

/* A Span message of the current ScopeSpans: parsed, converted and, when
 * it passes, left in the next output slot (checked against the scope at
 * the end of the ScopeSpans). */
static int span_msg(dec *d, const uint8_t *p, size_t n) {
  raw_span r;
  if (parse_span(d, p, n, &r))
    return -1;
  d->rs_spans++;
  if (grow(d, (void **)&d->spans, &d->cap_spans, d->n_spans + 1, d->n_spans, sizeof *d->spans))
    return -1;
  cs_span *s = &d->spans[d->n_spans];
  int rc = conv_span(d, &r, s);
  if (rc == CS_CONV_NOMEM)
    return nomem(d);
  if (rc == CS_CONV_REJECT) {
    d->rs_rej[d->c.reason]++;
    return 0;
  }
  /* The session ID from the span's own attributes while they are in cache
   * (resource NULL: those are looked at once the resource is known). */
  cs_span_find_session(s);
  d->n_spans++;
  return 0;
}

/* InstrumentationScope (depth 3): name and version; attributes are checked
 * but not kept. Given twice, the fields merge. */
static int parse_scope(dec *d, const uint8_t *p, size_t n) {
  pb_rd r;
  pb_field f;
  pb_init(&r, p, n);
  while (pb_more(&r)) {
    if (pb_field_next(&r, &f))
      return proto_err(d);
    if (f.num == 1 || f.num == 2) {
      if (f.wt != PB_LEN)
        return proto_err(d);
      if (f.num == 1)
        d->scope_name = slice(&f);
      else
        d->scope_version = slice(&f);
    } else if (f.num == 3) {
      cs_attr unused;
      if (f.wt != PB_LEN || parse_kv(d, f.p, f.n, 4, &unused))
        return proto_err(d);
    } else if (f.num == 4 && f.wt != PB_VARINT) {
      return proto_err(d);
    }
  }
  return 0;
}

static int parse_scope_spans(dec *d, const uint8_t *p, size_t n) {
  pb_rd r;
  pb_field f;
  pb_init(&r, p, n);
  size_t first = d->n_spans;
  d->scope_name = d->scope_version = (cs_str){"", 0};
  while (pb_more(&r)) {
    if (pb_field_next(&r, &f))
      return proto_err(d);
    if (f.num >= 1 && f.num <= 3 && f.wt != PB_LEN)
      return proto_err(d);
    if (f.num == 1 && parse_scope(d, f.p, f.n))
      return -1;
    if (f.num == 2 && span_msg(d, f.p, f.n))
      return -1;
  }
  /* The scope may come after the spans, so they are checked only now. */
  cs_str name, version;
  if (__cs_conv_slice_fast(&d->c, d->scope_name.p, d->scope_name.n, &name) ||
      __cs_conv_slice_fast(&d->c, d->scope_version.p, d->scope_version.n, &version))
    return nomem(d);
  size_t ok = first;
  for (size_t i = first; i < d->n_spans; i++) {
    cs_span *s = &d->spans[i];
    s->scope_name = name;
    s->scope_version = version;
    int reason = cs_span_check(s, d->lim); /* resource: checked once, later */
    if (reason) {
      d->rs_rej[reason]++;
      continue;
    }
    if (ok != i)
      d->spans[ok] = *s;
    ok++;
  }
  d->n_spans = ok;
  return 0;
}

static int parse_resource(dec *d, const uint8_t *p, size_t n) {
  pb_rd r;
  pb_field f;
  pb_init(&r, p, n);
  while (pb_more(&r)) {
    if (pb_field_next(&r, &f))
      return proto_err(d);
    if (f.num == 1) {
      if (push_kv(d, &d->res_attrs, &f, 3, d->lim->max_attrs))
        return -1;
    } else if (f.num == 2 && f.wt != PB_VARINT) {
      return proto_err(d);
    }
  }
  return 0;
}

/* The resource of a ResourceSpans into the span model; CS_CONV_REJECT when
 * it breaks a cap (every span under it is then rejected). */
static int conv_resource(dec *d, cs_resource **out) {
  cs_resource *r = cs_arena_calloc(d->a, sizeof *r);
  if (!r)
    return CS_CONV_NOMEM;
  *out = r;
  r->service = CS_STR_LIT("unknown_service");
  const attrv *av = &d->res_attrs;
  cs_attr *raw = NULL;
  if (av->total <= d->lim->max_attrs && av->n) {
    if (!(raw = cs_arena_alloc(d->a, av->n * sizeof *raw)))
      return CS_CONV_NOMEM;
    memcpy(raw, av->v, av->n * sizeof *raw);
  }
  int rc = conv_attrs(d, raw, av->total, &r->attrs, &r->n_attrs);
  if (rc)
    return rc;
  for (uint32_t i = 0; i < r->n_attrs; i++) {
    const cs_attr *at = &r->attrs[i];
    if (at->type == CS_VAL_STR && at->v.s.n > 0 && at->key.n == 12 &&
        !memcmp(at->key.p, "service.name", 12)) {
      r->service = at->v.s;
      break;
    }
  }
  int reason = cs_resource_check(r, d->lim);
  return reason ? reject(&d->c, reason) : CS_CONV_OK;
}

static int parse_resource_spans(dec *d, const uint8_t *p, size_t n) {
  pb_rd r;
  pb_field f;
  pb_init(&r, p, n);
  size_t first = d->n_spans;
  uint32_t utf8_before = d->c.utf8_repaired;
  memset(d->rs_rej, 0, sizeof d->rs_rej);
  d->rs_spans = 0;
  d->res_attrs.n = d->res_attrs.total = 0;
  while (pb_more(&r)) {
    if (pb_field_next(&r, &f))
      return proto_err(d);
    if (f.num >= 1 && f.num <= 3 && f.wt != PB_LEN)
      return proto_err(d);
    if (f.num == 1 && parse_resource(d, f.p, f.n))
      return -1;
    if (f.num == 2 && parse_scope_spans(d, f.p, f.n))
      return -1;
  }
  /* The resource (which may come last) decides for all of its spans. */
  uint32_t utf8_spans = d->c.utf8_repaired - utf8_before;
  cs_resource *res;
  int rc = conv_resource(d, &res);
  if (rc == CS_CONV_NOMEM)
    return nomem(d);
  if (rc == CS_CONV_REJECT) {
    /* Counted as if the spans had not been looked at: one reason for all,
     * no repairs of theirs. */
    d->rej[d->c.reason] += (uint32_t)d->rs_spans;
    d->c.utf8_repaired -= utf8_spans;
    d->n_spans = first;
    return 0;
  }
  for (int i = 0; i < CS_REJ__COUNT; i++)
    d->rej[i] += d->rs_rej[i];
  for (size_t i = first; i < d->n_spans; i++) {
    d->spans[i].resource = res;
    if (d->spans[i].session_id.n == 0 && res->n_attrs)
      cs_span_find_session(&d->spans[i]);
  }
  return 0;
}

int cs_decode_traces(const uint8_t *buf, size_t len, cs_arena *a, const cs_limits *lim,
                     cs_span **out, size_t *n, cs_reject_counts *rej) {
  *out = NULL;
  *n = 0;
  /* One copy of the payload holds every string and ID of the spans, so
   * they outlive the caller's buffer (a TCP read buffer, an HTTP body). */
  uint8_t *p = NULL;
  if (len) {
    if (!(p = cs_arena_alloc(a, len)))
      return CS_DECODE_ENOMEM;
    memcpy(p, buf, len);
  }
  dec d;
  memset(&d, 0, sizeof d);
  d.a = a;
  d.lim = lim;
  d.c.a = a;
  d.c.lim = lim;
  /* A first guess at the span count (OTLP spans take 100 to 300 bytes);
   * the array doubles when it is short. */
  size_t guess = len / 256 + 8;
  if (grow(&d, (void **)&d.spans, &d.cap_spans, guess < 65536 ? guess : 65536, 0, sizeof *d.spans))
    return d.err;
  pb_rd r;
  pb_field f;
  pb_init(&r, p, len);
  while (pb_more(&r)) {
    if (pb_field_next(&r, &f))
      return CS_DECODE_EPROTO;
    if (f.num != 1)
      continue;
    if (f.wt != PB_LEN)
      return CS_DECODE_EPROTO;
    if (parse_resource_spans(&d, f.p, f.n))
      return d.err;
  }
  for (int i = 0; i < CS_REJ__COUNT; i++)
    rej->n[i] += d.rej[i];
  rej->utf8_repaired += d.c.utf8_repaired;
  *out = d.n_spans ? d.spans : NULL;
  *n = d.n_spans;
  return CS_DECODE_OK;
}
