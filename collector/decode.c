/* OTLP trace and metrics payloads into the span model (see decode.h).
 * protobuf-c allocates from the frame's arena; a pre-pass bounds message
 * nesting because protobuf-c's unpack recurses once per level and would
 * otherwise let a few kilobytes of nested values exhaust the stack. */
#include "decode.h"

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

const char *cs_decode_strerror(int err) {
  switch (err) {
  case CS_DECODE_OK: return "ok";
  case CS_DECODE_EPROTO: return "malformed protobuf payload";
  case CS_DECODE_ENOMEM: return "payload needs more memory than its arena cap";
  }
  return "unknown decode error";
}

size_t cs_decode_arena_chunk(size_t len) {
  size_t c = len * 4;
  if (c < 4096) c = 4096;
  if (c > (1u << 20)) c = 1u << 20;
  return c;
}

size_t cs_decode_arena_cap(size_t len) {
  /* Measured: ordinary trace payloads take about 8x their size in arena
   * (protobuf-c's structs plus the span model), 12x reserved; hostile
   * payloads of empty submessages reach about 40x, which the cap refuses
   * instead of serving. */
  size_t cap = len * 24 + (256u << 10);
  if (cap > ((size_t)96 << 20)) cap = (size_t)96 << 20;
  return cap;
}

/* protobuf-c's allocator hooks; remembering a refusal tells an arena at
 * its cap apart from a malformed payload, which unpack does not. */
typedef struct pb_alloc_ud {
  cs_arena *a;
  int failed;
} pb_alloc_ud;

static void *arena_pb_alloc(void *ud, size_t n) {
  pb_alloc_ud *u = ud;
  void *p = cs_arena_alloc(u->a, n);
  if (!p) u->failed = 1;
  return p;
}

static void arena_pb_free(void *ud, void *p) { (void)ud, (void)p; }

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
  if (depth > MAX_MSG_DEPTH) return 1;
  size_t i = 0;
  while (i < n) {
    uint64_t key, len;
    size_t k = get_varint(p + i, n - i, &key);
    if (!k) return 0;
    i += k;
    switch (key & 7) {
    case 0:
      if (!(k = get_varint(p + i, n - i, &len))) return 0;
      i += k;
      break;
    case 1: i += 8; break;
    case 5: i += 4; break;
    case 2: {
      if (!(k = get_varint(p + i, n - i, &len))) return 0;
      i += k;
      if (len > n - i) return 0;
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
  if (!m) *err = u.failed ? CS_DECODE_ENOMEM : CS_DECODE_EPROTO;
  return m;
}

static int conv_resource(cs_conv *c, const otlp_resource *pr, cs_resource **out) {
  cs_resource *r = cs_arena_calloc(c->a, sizeof *r);
  if (!r) return CS_CONV_NOMEM;
  *out = r;
  r->service = CS_STR_LIT("unknown_service");
  if (!pr) return CS_CONV_OK;
  int rc = __cs_conv_attrs(c, pr->attributes, pr->n_attributes, &r->attrs, &r->n_attrs);
  if (rc) return rc;
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
    if (p[i]) return 0;
  return 1;
}

static int conv_events(cs_conv *c, const otlp_span *ps, cs_span *s) {
  if (ps->n_events == 0) return CS_CONV_OK;
  if (ps->n_events > c->lim->max_events) return reject(c, CS_REJ_TOO_MANY_EVENTS);
  s->events = cs_arena_calloc(c->a, ps->n_events * sizeof *s->events);
  if (!s->events) return CS_CONV_NOMEM;
  s->n_events = (uint32_t)ps->n_events;
  for (size_t i = 0; i < ps->n_events; i++) {
    const Opentelemetry__Proto__Trace__V1__Span__Event *pe = ps->events[i];
    cs_event *e = &s->events[i];
    e->time_ns = pe->time_unix_nano;
    e->dropped_attrs = pe->dropped_attributes_count;
    int rc = __cs_conv_str(c, pe->name, &e->name);
    if (!rc) rc = __cs_conv_attrs(c, pe->attributes, pe->n_attributes, &e->attrs, &e->n_attrs);
    if (rc) return rc;
  }
  return CS_CONV_OK;
}

static int conv_links(cs_conv *c, const otlp_span *ps, cs_span *s) {
  if (ps->n_links == 0) return CS_CONV_OK;
  if (ps->n_links > c->lim->max_links) return reject(c, CS_REJ_TOO_MANY_LINKS);
  s->links = cs_arena_calloc(c->a, ps->n_links * sizeof *s->links);
  if (!s->links) return CS_CONV_NOMEM;
  s->n_links = (uint32_t)ps->n_links;
  for (size_t i = 0; i < ps->n_links; i++) {
    const Opentelemetry__Proto__Trace__V1__Span__Link *pl = ps->links[i];
    cs_link *l = &s->links[i];
    if (pl->trace_id.len != 16 || pl->span_id.len != 8) return reject(c, CS_REJ_LINK_ID);
    memcpy(l->trace_id, pl->trace_id.data, 16);
    memcpy(l->span_id, pl->span_id.data, 8);
    l->flags = pl->flags;
    l->dropped_attrs = pl->dropped_attributes_count;
    int rc = __cs_conv_str(c, pl->trace_state, &l->trace_state);
    if (!rc) rc = __cs_conv_attrs(c, pl->attributes, pl->n_attributes, &l->attrs, &l->n_attrs);
    if (rc) return rc;
  }
  return CS_CONV_OK;
}

/* Converts one span; CS_CONV_REJECT with c->reason for an invalid one. */
static int conv_span(cs_conv *c, const otlp_span *ps, cs_span *s) {
  memset(s, 0, sizeof *s);
  if (ps->trace_id.len != 16) return reject(c, CS_REJ_TRACE_ID_LEN);
  if (ps->span_id.len != 8) return reject(c, CS_REJ_SPAN_ID_LEN);
  if (ps->parent_span_id.len != 0 && ps->parent_span_id.len != 8)
    return reject(c, CS_REJ_PARENT_ID_LEN);
  memcpy(s->trace_id, ps->trace_id.data, 16);
  memcpy(s->span_id, ps->span_id.data, 8);
  if (ps->parent_span_id.len == 8) memcpy(s->parent_id, ps->parent_span_id.data, 8);
  /* Cheap checks first, so a flood of bad spans costs little. */
  if (all_zero(s->trace_id, 16)) return reject(c, CS_REJ_ZERO_TRACE_ID);
  if (all_zero(s->span_id, 8)) return reject(c, CS_REJ_ZERO_SPAN_ID);
  s->start_ns = ps->start_time_unix_nano;
  s->end_ns = ps->end_time_unix_nano;
  if (s->start_ns == 0) return reject(c, CS_REJ_NO_START);
  if (s->end_ns < s->start_ns) return reject(c, CS_REJ_END_BEFORE_START);
  /* Unknown enum values from newer senders degrade to "unspecified". */
  int kind = (int)ps->kind;
  s->kind = kind >= 0 && kind <= CS_KIND_CONSUMER ? (uint8_t)kind : CS_KIND_UNSPECIFIED;
  s->flags = ps->flags;
  s->dropped_attrs = ps->dropped_attributes_count;
  s->dropped_events = ps->dropped_events_count;
  s->dropped_links = ps->dropped_links_count;
  int rc = __cs_conv_str(c, ps->name, &s->name);
  if (!rc) rc = __cs_conv_str(c, ps->trace_state, &s->trace_state);
  if (!rc && ps->status) {
    int code = ps->status->code;
    s->status_code = code >= 0 && code <= CS_STATUS_ERROR ? (uint8_t)code : CS_STATUS_UNSET;
    rc = __cs_conv_str(c, ps->status->message, &s->status_msg);
  }
  if (!rc) rc = __cs_conv_attrs(c, ps->attributes, ps->n_attributes, &s->attrs, &s->n_attrs);
  if (!rc) rc = conv_events(c, ps, s);
  if (!rc) rc = conv_links(c, ps, s);
  return rc;
}

int cs_decode_traces(const uint8_t *buf, size_t len, cs_arena *a, const cs_limits *lim,
                     cs_span **out, size_t *n, cs_reject_counts *rej) {
  *out = NULL;
  *n = 0;
  int err = CS_DECODE_EPROTO;
  otlp_traces *req = unpack(&opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor,
                            buf, len, a, &err);
  if (!req) return err;
  size_t total = 0;
  for (size_t i = 0; i < req->n_resource_spans; i++)
    for (size_t j = 0; j < req->resource_spans[i]->n_scope_spans; j++)
      total += req->resource_spans[i]->scope_spans[j]->n_spans;
  cs_span *spans = total ? cs_arena_alloc(a, total * sizeof *spans) : NULL;
  if (total && !spans) return CS_DECODE_ENOMEM;

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
    if (rrc == CS_CONV_NOMEM) return CS_DECODE_ENOMEM;
    if (rrc == CS_CONV_REJECT) rreason = c.reason;
    else if (cs_resource_check(res, lim)) rreason = cs_resource_check(res, lim);
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
        if (rc == CS_CONV_NOMEM) return CS_DECODE_ENOMEM;
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
  for (int r = 0; r < CS_REJ__COUNT; r++) rej->n[r] += local.n[r];
  rej->utf8_repaired += c.utf8_repaired;
  *out = spans;
  *n = ok;
  return CS_DECODE_OK;
}

static size_t count_points(const Opentelemetry__Proto__Metrics__V1__Metric *m) {
  switch (m->data_case) {
  case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE: return m->gauge->n_data_points;
  case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM: return m->sum->n_data_points;
  case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
    return m->histogram->n_data_points;
  case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM:
  case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY: return 1;
  default: return 0;
  }
}

int cs_decode_metrics(const uint8_t *buf, size_t len, cs_arena *a, const cs_limits *lim,
                      cs_otlp_metrics **out, cs_resource **resources, size_t *n_points) {
  *out = NULL;
  *resources = NULL;
  *n_points = 0;
  int err = CS_DECODE_EPROTO;
  cs_otlp_metrics *req = unpack(
      &opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__descriptor,
      buf, len, a, &err);
  if (!req) return err;
  cs_resource *res = NULL;
  if (req->n_resource_metrics) {
    res = cs_arena_calloc(a, req->n_resource_metrics * sizeof *res);
    if (!res) return CS_DECODE_ENOMEM;
  }
  cs_conv c = {.a = a, .lim = lim};
  size_t points = 0;
  for (size_t i = 0; i < req->n_resource_metrics; i++) {
    const cs_otlp_resource_metrics *rm = req->resource_metrics[i];
    cs_resource *r;
    int rc = conv_resource(&c, rm->resource, &r);
    if (rc == CS_CONV_NOMEM) return CS_DECODE_ENOMEM;
    if (rc == CS_CONV_OK) res[i] = *r;
    else res[i].service = CS_STR_LIT("unknown_service"); /* over the caps: attributes dropped */
    for (size_t j = 0; j < rm->n_scope_metrics; j++)
      for (size_t k = 0; k < rm->scope_metrics[j]->n_metrics; k++)
        points += count_points(rm->scope_metrics[j]->metrics[k]);
  }
  *out = req;
  *resources = res;
  *n_points = points;
  return CS_DECODE_OK;
}
