/* The reference for the trace decoder: collector/decode.c's trace path as
 * it was before decode_traces.c, i.e. protobuf-c's unpack (behind a depth
 * pre-walk) and conversion of its structs. Tests and the fuzzer compare the
 * wire decoder against it (decode_ref.h). */
#include "decode_ref.h"

#include <stdio.h>
#include <string.h>

#include "attrs.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "session.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest otlp_traces;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans otlp_rs;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans otlp_ss;
typedef Opentelemetry__Proto__Trace__V1__Span otlp_span;
typedef Opentelemetry__Proto__Resource__V1__Resource otlp_resource;

/* Deepest legitimate OTLP nesting is about 9 messages (metrics exemplar
 * attributes) plus two per level of nested attribute values. */
#define MAX_MSG_DEPTH 40

/* protobuf-c's allocator hooks; remembering a refusal tells an arena at
 * its cap apart from a malformed payload, which unpack does not. */
typedef struct pb_alloc_ud {
  cs_arena *a;
  int failed;
} pb_alloc_ud;

static void *arena_pb_alloc(void *ud, size_t n) {
  pb_alloc_ud *u = ud;
  void *p = cs_arena_alloc(u->a, n);
  if (!p)
    u->failed = 1;
  return p;
}

static void arena_pb_free(void *ud, void *p) {
  (void)ud, (void)p;
}

/* Reads a varint; returns bytes used or 0 when malformed/truncated. */
static size_t get_varint(const uint8_t *p, size_t n, uint64_t *v) {
  uint64_t r = 0;
  for (size_t i = 0; i < n && i < 10; i++) {
    r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
    if (!(p[i] & 0x80)) {
      *v = r;
      return i + 1;
    }
  }
  return 0;
}

/* Walks the wire bytes of a message of type d and fails when submessages
 * nest deeper than MAX_MSG_DEPTH. Malformed bytes are left for protobuf-c
 * to reject (return 0), only depth is judged here. */
static int too_deep(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, int depth) {
  if (depth > MAX_MSG_DEPTH)
    return 1;
  size_t i = 0;
  while (i < n) {
    uint64_t key, len;
    size_t k = get_varint(p + i, n - i, &key);
    if (!k)
      return 0;
    i += k;
    switch (key & 7) {
    case 0:
      if (!(k = get_varint(p + i, n - i, &len)))
        return 0;
      i += k;
      break;
    case 1: i += 8; break;
    case 5: i += 4; break;
    case 2: {
      if (!(k = get_varint(p + i, n - i, &len)))
        return 0;
      i += k;
      if (len > n - i)
        return 0;
      const ProtobufCFieldDescriptor *f =
          key >> 3 <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3))
                                 : NULL;
      if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
          too_deep(f->descriptor, p + i, (size_t)len, depth + 1))
        return 1;
      i += (size_t)len;
      break;
    }
    default: return 0;
    }
  }
  return 0;
}

static void *unpack(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
                    cs_arena *a, int *err) {
  if (too_deep(d, buf, len, 0)) {
    *err = CS_DECODE_EPROTO;
    return NULL;
  }
  pb_alloc_ud u = {a, 0};
  ProtobufCAllocator alloc = {arena_pb_alloc, arena_pb_free, &u};
  void *m = protobuf_c_message_unpack(d, &alloc, len, buf);
  if (!m)
    *err = u.failed ? CS_DECODE_ENOMEM : CS_DECODE_EPROTO;
  return m;
}

static int conv_resource(cs_conv *c, const otlp_resource *pr, cs_resource **out) {
  cs_resource *r = cs_arena_calloc(c->a, sizeof *r);
  if (!r)
    return CS_CONV_NOMEM;
  *out = r;
  r->service = CS_STR_LIT("unknown_service");
  if (!pr)
    return CS_CONV_OK;
  int rc = __cs_conv_attrs(c, pr->attributes, pr->n_attributes, &r->attrs, &r->n_attrs);
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
  return CS_CONV_OK;
}

static int reject(cs_conv *c, int reason) {
  c->reason = reason;
  return CS_CONV_REJECT;
}

static int all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i])
      return 0;
  return 1;
}

static int conv_events(cs_conv *c, const otlp_span *ps, cs_span *s) {
  if (ps->n_events == 0)
    return CS_CONV_OK;
  if (ps->n_events > c->lim->max_events)
    return reject(c, CS_REJ_TOO_MANY_EVENTS);
  s->events = cs_arena_calloc(c->a, ps->n_events * sizeof *s->events);
  if (!s->events)
    return CS_CONV_NOMEM;
  s->n_events = (uint32_t)ps->n_events;
  for (size_t i = 0; i < ps->n_events; i++) {
    const Opentelemetry__Proto__Trace__V1__Span__Event *pe = ps->events[i];
    cs_event *e = &s->events[i];
    e->time_ns = pe->time_unix_nano;
    e->dropped_attrs = pe->dropped_attributes_count;
    int rc = __cs_conv_str(c, pe->name, &e->name);
    if (!rc)
      rc = __cs_conv_attrs(c, pe->attributes, pe->n_attributes, &e->attrs, &e->n_attrs);
    if (rc)
      return rc;
  }
  return CS_CONV_OK;
}

static int conv_links(cs_conv *c, const otlp_span *ps, cs_span *s) {
  if (ps->n_links == 0)
    return CS_CONV_OK;
  if (ps->n_links > c->lim->max_links)
    return reject(c, CS_REJ_TOO_MANY_LINKS);
  s->links = cs_arena_calloc(c->a, ps->n_links * sizeof *s->links);
  if (!s->links)
    return CS_CONV_NOMEM;
  s->n_links = (uint32_t)ps->n_links;
  for (size_t i = 0; i < ps->n_links; i++) {
    const Opentelemetry__Proto__Trace__V1__Span__Link *pl = ps->links[i];
    cs_link *l = &s->links[i];
    if (pl->trace_id.len != 16 || pl->span_id.len != 8)
      return reject(c, CS_REJ_LINK_ID);
    memcpy(l->trace_id, pl->trace_id.data, 16);
    memcpy(l->span_id, pl->span_id.data, 8);
    l->flags = pl->flags;
    l->dropped_attrs = pl->dropped_attributes_count;
    int rc = __cs_conv_str(c, pl->trace_state, &l->trace_state);
    if (!rc)
      rc = __cs_conv_attrs(c, pl->attributes, pl->n_attributes, &l->attrs, &l->n_attrs);
    if (rc)
      return rc;
  }
  return CS_CONV_OK;
}

/* Converts one span; CS_CONV_REJECT with c->reason for an invalid one. */
static int conv_span(cs_conv *c, const otlp_span *ps, cs_span *s) {
  memset(s, 0, sizeof *s);
  if (ps->trace_id.len != 16)
    return reject(c, CS_REJ_TRACE_ID_LEN);
  if (ps->span_id.len != 8)
    return reject(c, CS_REJ_SPAN_ID_LEN);
  if (ps->parent_span_id.len != 0 && ps->parent_span_id.len != 8)
    return reject(c, CS_REJ_PARENT_ID_LEN);
  memcpy(s->trace_id, ps->trace_id.data, 16);
  memcpy(s->span_id, ps->span_id.data, 8);
  if (ps->parent_span_id.len == 8)
    memcpy(s->parent_id, ps->parent_span_id.data, 8);
  /* Cheap checks first, so a flood of bad spans costs little. */
  if (all_zero(s->trace_id, 16))
    return reject(c, CS_REJ_ZERO_TRACE_ID);
  if (all_zero(s->span_id, 8))
    return reject(c, CS_REJ_ZERO_SPAN_ID);
  s->start_ns = ps->start_time_unix_nano;
  s->end_ns = ps->end_time_unix_nano;
  if (s->start_ns == 0)
    return reject(c, CS_REJ_NO_START);
  if (s->end_ns < s->start_ns)
    return reject(c, CS_REJ_END_BEFORE_START);
  /* Unknown enum values from newer senders degrade to "unspecified". */
  int kind = (int)ps->kind;
  s->kind = kind >= 0 && kind <= CS_KIND_CONSUMER ? (uint8_t)kind : CS_KIND_UNSPECIFIED;
  s->flags = ps->flags;
  s->dropped_attrs = ps->dropped_attributes_count;
  s->dropped_events = ps->dropped_events_count;
  s->dropped_links = ps->dropped_links_count;
  int rc = __cs_conv_str(c, ps->name, &s->name);
  if (!rc)
    rc = __cs_conv_str(c, ps->trace_state, &s->trace_state);
  if (!rc && ps->status) {
    int code = ps->status->code;
    s->status_code = code >= 0 && code <= CS_STATUS_ERROR ? (uint8_t)code : CS_STATUS_UNSET;
    rc = __cs_conv_str(c, ps->status->message, &s->status_msg);
  }
  if (!rc)
    rc = __cs_conv_attrs(c, ps->attributes, ps->n_attributes, &s->attrs, &s->n_attrs);
  if (!rc)
    rc = conv_events(c, ps, s);
  if (!rc)
    rc = conv_links(c, ps, s);
  return rc;
}

int cs_decode_traces_ref(const uint8_t *buf, size_t len, cs_arena *a, const cs_limits *lim,
                         cs_span **out, size_t *n, cs_reject_counts *rej) {
  *out = NULL;
  *n = 0;
  int err = CS_DECODE_EPROTO;
  otlp_traces *req =
      unpack(&opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor,
             buf, len, a, &err);
  if (!req)
    return err;
  size_t total = 0;
  for (size_t i = 0; i < req->n_resource_spans; i++)
    for (size_t j = 0; j < req->resource_spans[i]->n_scope_spans; j++)
      total += req->resource_spans[i]->scope_spans[j]->n_spans;
  cs_span *spans = total ? cs_arena_alloc(a, total * sizeof *spans) : NULL;
  if (total && !spans)
    return CS_DECODE_ENOMEM;

  cs_conv c = {.a = a, .lim = lim};
  cs_reject_counts local;
  memset(&local, 0, sizeof local);
  size_t ok = 0;
  for (size_t i = 0; i < req->n_resource_spans; i++) {
    const otlp_rs *rs = req->resource_spans[i];
    /* A resource over the caps rejects all of its spans, each counted. */
    cs_resource *res;
    int rreason = -1;
    int rrc = conv_resource(&c, rs->resource, &res);
    if (rrc == CS_CONV_NOMEM)
      return CS_DECODE_ENOMEM;
    if (rrc == CS_CONV_REJECT)
      rreason = c.reason;
    else if (cs_resource_check(res, lim))
      rreason = cs_resource_check(res, lim);
    for (size_t j = 0; j < rs->n_scope_spans; j++) {
      const otlp_ss *ss = rs->scope_spans[j];
      if (rreason >= 0) {
        local.n[rreason] += (uint32_t)ss->n_spans;
        continue;
      }
      cs_str scope_name = {"", 0}, scope_version = {"", 0};
      if (ss->scope && (__cs_conv_str(&c, ss->scope->name, &scope_name) ||
                        __cs_conv_str(&c, ss->scope->version, &scope_version)))
        return CS_DECODE_ENOMEM;
      for (size_t k = 0; k < ss->n_spans; k++) {
        cs_span *s = &spans[ok];
        int rc = conv_span(&c, ss->spans[k], s);
        if (rc == CS_CONV_NOMEM)
          return CS_DECODE_ENOMEM;
        if (rc == CS_CONV_OK) {
          s->resource = res;
          s->scope_name = scope_name;
          s->scope_version = scope_version;
          int reason = cs_span_check(s, lim);
          if (reason) {
            c.reason = reason;
            rc = CS_CONV_REJECT;
          }
        }
        if (rc == CS_CONV_REJECT) {
          local.n[c.reason]++;
          continue;
        }
        cs_span_find_session(s);
        ok++;
      }
    }
  }
  for (int r = 0; r < CS_REJ__COUNT; r++)
    rej->n[r] += local.n[r];
  rej->utf8_repaired += c.utf8_repaired;
  *out = spans;
  *n = ok;
  return CS_DECODE_OK;
}

/* ---- repeated singular submessages ---- */

static int repeated_sub(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n,
                        int depth) {
  if (depth > MAX_MSG_DEPTH + 2)
    return 0; /* refused as too deep by both anyway */
  unsigned seen[32] = {0};
  size_t i = 0;
  while (i < n) {
    uint64_t key, len;
    size_t k = get_varint(p + i, n - i, &key);
    if (!k)
      return 0;
    i += k;
    switch (key & 7) {
    case 0:
      if (!(k = get_varint(p + i, n - i, &len)))
        return 0;
      i += k;
      break;
    case 1: i += 8; break;
    case 5: i += 4; break;
    case 2: {
      if (!(k = get_varint(p + i, n - i, &len)))
        return 0;
      i += k;
      if (len > n - i)
        return 0;
      const ProtobufCFieldDescriptor *f =
          key >> 3 <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3))
                                 : NULL;
      if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
        if (f->label != PROTOBUF_C_LABEL_REPEATED && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            f->id < 32 && seen[f->id]++)
          return 1;
        if (repeated_sub(f->descriptor, p + i, (size_t)len, depth + 1))
          return 1;
      }
      i += (size_t)len;
      break;
    }
    default: return 0;
    }
  }
  return 0;
}

int cs_decode_has_repeated_submessage(const uint8_t *p, size_t n) {
  return repeated_sub(
      &opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor, p, n,
      0);
}

/* ---- comparison ---- */

typedef struct diff {
  char *why;
  size_t len;
  int bad;
} diff;

static void differ(diff *d, const char *what, size_t i) {
  if (!d->bad && d->why && d->len)
    snprintf(d->why, d->len, "span %zu: %s", i, what);
  d->bad = 1;
}

static int str_eq(cs_str a, cs_str b) {
  return a.n == b.n && (a.n == 0 || !memcmp(a.p, b.p, a.n));
}

static int attrs_eq(const cs_attr *a, uint32_t na, const cs_attr *b, uint32_t nb) {
  if (na != nb)
    return 0;
  for (uint32_t i = 0; i < na; i++) {
    if (!str_eq(a[i].key, b[i].key) || a[i].type != b[i].type)
      return 0;
    switch (a[i].type) {
    case CS_VAL_BOOL:
      if (a[i].v.b != b[i].v.b)
        return 0;
      break;
    case CS_VAL_INT:
      if (a[i].v.i != b[i].v.i)
        return 0;
      break;
    case CS_VAL_DOUBLE: /* bit for bit: NaN payloads too */
      if (memcmp(&a[i].v.d, &b[i].v.d, sizeof a[i].v.d))
        return 0;
      break;
    default:
      if (!str_eq(a[i].v.s, b[i].v.s))
        return 0;
    }
  }
  return 1;
}

static void span_eq(diff *d, size_t i, const cs_span *a, const cs_span *b) {
  if (memcmp(a->trace_id, b->trace_id, 16) || memcmp(a->span_id, b->span_id, 8) ||
      memcmp(a->parent_id, b->parent_id, 8))
    differ(d, "ids", i);
  if (!str_eq(a->name, b->name))
    differ(d, "name", i);
  if (!str_eq(a->trace_state, b->trace_state))
    differ(d, "trace_state", i);
  if (a->kind != b->kind || a->status_code != b->status_code || a->flags != b->flags)
    differ(d, "kind, status code or flags", i);
  if (!str_eq(a->status_msg, b->status_msg))
    differ(d, "status message", i);
  if (a->start_ns != b->start_ns || a->end_ns != b->end_ns)
    differ(d, "times", i);
  if (a->dropped_attrs != b->dropped_attrs || a->dropped_events != b->dropped_events ||
      a->dropped_links != b->dropped_links)
    differ(d, "dropped counts", i);
  if (!a->resource || !b->resource) {
    differ(d, "no resource", i);
  } else if (!str_eq(a->resource->service, b->resource->service) ||
             !attrs_eq(a->resource->attrs, a->resource->n_attrs, b->resource->attrs,
                       b->resource->n_attrs)) {
    differ(d, "resource", i);
  }
  if (!str_eq(a->scope_name, b->scope_name) || !str_eq(a->scope_version, b->scope_version))
    differ(d, "scope", i);
  if (!attrs_eq(a->attrs, a->n_attrs, b->attrs, b->n_attrs))
    differ(d, "attributes", i);
  if (a->n_events != b->n_events) {
    differ(d, "event count", i);
  } else {
    for (uint32_t e = 0; e < a->n_events; e++) {
      const cs_event *x = &a->events[e], *y = &b->events[e];
      if (x->time_ns != y->time_ns || !str_eq(x->name, y->name) ||
          x->dropped_attrs != y->dropped_attrs ||
          !attrs_eq(x->attrs, x->n_attrs, y->attrs, y->n_attrs))
        differ(d, "event", i);
    }
  }
  if (a->n_links != b->n_links) {
    differ(d, "link count", i);
  } else {
    for (uint32_t l = 0; l < a->n_links; l++) {
      const cs_link *x = &a->links[l], *y = &b->links[l];
      if (memcmp(x->trace_id, y->trace_id, 16) || memcmp(x->span_id, y->span_id, 8) ||
          x->flags != y->flags || x->dropped_attrs != y->dropped_attrs ||
          !str_eq(x->trace_state, y->trace_state) ||
          !attrs_eq(x->attrs, x->n_attrs, y->attrs, y->n_attrs))
        differ(d, "link", i);
    }
  }
  if (!str_eq(a->session_id, b->session_id))
    differ(d, "session id", i);
}

int cs_decode_diff(const uint8_t *p, size_t n, const cs_limits *lim, char *why, size_t why_len) {
  if (why && why_len)
    why[0] = '\0';
  if (cs_decode_has_repeated_submessage(p, n))
    return CS_DIFF_SKIPPED;
  cs_arena a, b;
  cs_arena_init(&a, cs_decode_arena_chunk(n), cs_decode_arena_cap(n));
  cs_arena_init(&b, cs_decode_arena_chunk(n), cs_decode_arena_cap(n));
  cs_span *sa = NULL, *sb = NULL;
  size_t na = 0, nb = 0;
  cs_reject_counts ra, rb;
  memset(&ra, 0, sizeof ra);
  memset(&rb, 0, sizeof rb);
  int rca = cs_decode_traces(p, n, &a, lim, &sa, &na, &ra);
  int rcb = cs_decode_traces_ref(p, n, &b, lim, &sb, &nb, &rb);
  diff d = {why, why_len, 0};
  int out = CS_DIFF_SAME;
  if (rcb == CS_DECODE_ENOMEM) {
    /* protobuf-c stopped where its memory ran out, valid bytes or not. */
    out = CS_DIFF_SKIPPED;
  } else if (rca != rcb) {
    if (why && why_len)
      snprintf(why, why_len, "result %d, reference %d", rca, rcb);
    out = CS_DIFF_DIFFERENT;
  } else if (na != nb) {
    if (why && why_len)
      snprintf(why, why_len, "%zu spans, reference %zu", na, nb);
    out = CS_DIFF_DIFFERENT;
  } else {
    for (size_t i = 0; i < na && !d.bad; i++)
      span_eq(&d, i, &sa[i], &sb[i]);
    if (!d.bad && memcmp(&ra, &rb, sizeof ra)) {
      if (why && why_len)
        snprintf(why, why_len, "reject counts differ (total %u vs %u, utf8 %u vs %u)",
                 cs_reject_total(&ra), cs_reject_total(&rb), ra.utf8_repaired, rb.utf8_repaired);
      d.bad = 1;
    }
    if (d.bad)
      out = CS_DIFF_DIFFERENT;
  }
  cs_arena_release(&a);
  cs_arena_release(&b);
  return out;
}
