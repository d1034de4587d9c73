/* OTLP metrics payloads (see decode.h) through protobuf-c, which allocates
 * from the frame's arena; a pre-pass bounds message nesting because
 * protobuf-c's unpack recurses once per level and would otherwise let a few
 * kilobytes of nested values exhaust the stack. Traces, the hot path, have
 * a decoder of their own (decode_traces.c). */
#include "decode.h"

#include <string.h>

#include "attrs.h"
#include "pbwire.h"

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
  /* A trace payload's copy and its span array take chunks of their own
   * (the arena gives big requests their own); the rest (attributes,
   * repaired strings) takes about 1x to 1.5x the payload, usually one
   * ordinary chunk. */
  size_t c = len * 3 / 2;
  if (c < 4096)
    c = 4096;
  if (c > (1u << 20))
    c = 1u << 20;
  return c;
}

size_t cs_decode_arena_cap(size_t len) {
  /* Measured: trace payloads take about 3x their size in arena (the copy
   * of the payload plus the span model), metrics payloads about 8x
   * (protobuf-c's structs); hostile payloads of empty submessages reach
   * about 40x through protobuf-c, which the cap refuses instead of
   * serving. */
  size_t cap = len * 24 + (256u << 10);
  if (cap > ((size_t)96 << 20))
    cap = (size_t)96 << 20;
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
  if (!p)
    u->failed = 1;
  return p;
}

static void arena_pb_free(void *ud, void *p) {
  (void)ud, (void)p;
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
    size_t k = pb_read_varint(p + i, n - i, PB_VARINT_MAX, &key);
    if (!k)
      return 0;
    i += k;
    switch (key & 7) {
    case 0:
      if (!(k = pb_read_varint(p + i, n - i, PB_VARINT_MAX, &len)))
        return 0;
      i += k;
      break;
    case 1: i += 8; break;
    case 5: i += 4; break;
    case 2: {
      if (!(k = pb_read_varint(p + i, n - i, PB_VARINT_MAX, &len)))
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

static int conv_resource(cs_conv *c, const Opentelemetry__Proto__Resource__V1__Resource *pr,
                         cs_resource **out) {
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
  if (!req)
    return err;
  cs_resource *res = NULL;
  if (req->n_resource_metrics) {
    res = cs_arena_calloc(a, req->n_resource_metrics * sizeof *res);
    if (!res)
      return CS_DECODE_ENOMEM;
  }
  cs_conv c = {.a = a, .lim = lim};
  size_t points = 0;
  for (size_t i = 0; i < req->n_resource_metrics; i++) {
    const cs_otlp_resource_metrics *rm = req->resource_metrics[i];
    cs_resource *r;
    int rc = conv_resource(&c, rm->resource, &r);
    if (rc == CS_CONV_NOMEM)
      return CS_DECODE_ENOMEM;
    if (rc == CS_CONV_OK)
      res[i] = *r;
    else
      res[i].service = CS_STR_LIT("unknown_service"); /* over the caps: attributes dropped */
    for (size_t j = 0; j < rm->n_scope_metrics; j++)
      for (size_t k = 0; k < rm->scope_metrics[j]->n_metrics; k++)
        points += count_points(rm->scope_metrics[j]->metrics[k]);
  }
  *out = req;
  *resources = res;
  *n_points = points;
  return CS_DECODE_OK;
}

/* Counts field `num` (length-delimited) in [p, p + n), walking into each
 * occurrence for the next level while levels remain. */
static long count_level(const uint8_t *p, size_t n, const uint32_t *path, int levels) {
  pb_rd r;
  pb_init(&r, p, n);
  long total = 0;
  while (pb_more(&r)) {
    pb_field f;
    if (pb_field_next(&r, &f))
      return -1;
    if (f.num != path[0])
      continue;
    if (f.wt != PB_LEN)
      return -1;
    long k = levels > 1 ? count_level(f.p, f.n, path + 1, levels - 1) : 1;
    if (k < 0)
      return -1;
    total += k;
  }
  return total;
}

long cs_decode_count_spans(const uint8_t *buf, size_t len) {
  /* resource_spans = 1, scope_spans = 2, spans = 2 */
  static const uint32_t path[] = {1, 2, 2};
  return count_level(buf, len, path, 3);
}
