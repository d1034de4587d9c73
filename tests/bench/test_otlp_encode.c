/* Tests of the direct OTLP encoder (common/otlp_encode.c): what it writes
 * decodes through protobuf-c back to the same spans, grouped by resource. */
#include <stdlib.h>

#include "check.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "otlp_encode.h"
#include "workload.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest Req;
typedef Opentelemetry__Proto__Trace__V1__Span PbSpan;
typedef Opentelemetry__Proto__Common__V1__KeyValue PbKV;
#define REQ_UNPACK opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack
#define REQ_FREE                                                                                   \
  opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked
#define REQ_SIZE                                                                                   \
  opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size
#define REQ_PACK opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack
#define VC(x) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##x

static int str_is(const char *z, cs_str s) {
  return z && strlen(z) == s.n && memcmp(z, s.p, s.n) == 0;
}

/* Checks one decoded attribute against the source attribute. */
static void check_attr(const PbKV *kv, const cs_attr *a) {
  CHECK(str_is(kv->key, a->key));
  CHECK(kv->value != NULL);
  if (!kv->value)
    return;
  switch (a->type) {
  case CS_VAL_STR:
    CHECK_EQ(kv->value->value_case, VC(STRING_VALUE));
    CHECK(str_is(kv->value->string_value, a->v.s));
    break;
  case CS_VAL_INT:
    CHECK_EQ(kv->value->value_case, VC(INT_VALUE));
    CHECK_EQ(kv->value->int_value, a->v.i);
    break;
  case CS_VAL_BOOL:
    CHECK_EQ(kv->value->value_case, VC(BOOL_VALUE));
    CHECK_EQ(!!kv->value->bool_value, !!a->v.b);
    break;
  case CS_VAL_DOUBLE:
    CHECK_EQ(kv->value->value_case, VC(DOUBLE_VALUE));
    CHECK(kv->value->double_value == a->v.d);
    break;
  case CS_VAL_BYTES:
    CHECK_EQ(kv->value->value_case, VC(BYTES_VALUE));
    CHECK_EQ(kv->value->bytes_value.len, a->v.s.n);
    CHECK(a->v.s.n == 0 || memcmp(kv->value->bytes_value.data, a->v.s.p, a->v.s.n) == 0);
    break;
  }
}

static void check_span(const PbSpan *p, const cs_span *s) {
  CHECK_EQ(p->trace_id.len, 16);
  CHECK(p->trace_id.len == 16 && memcmp(p->trace_id.data, s->trace_id, 16) == 0);
  if (cs_span_is_root(s)) {
    CHECK_EQ(p->parent_span_id.len, 0);
  } else {
    CHECK(p->parent_span_id.len == 8 && memcmp(p->parent_span_id.data, s->parent_id, 8) == 0);
  }
  CHECK(str_is(p->name, s->name));
  CHECK_EQ(p->kind, s->kind);
  CHECK_EQ(p->start_time_unix_nano, s->start_ns);
  CHECK_EQ(p->end_time_unix_nano, s->end_ns);
  CHECK_EQ(p->flags, s->flags);
  CHECK_EQ(p->status ? p->status->code : 0, s->status_code);
  if (s->status_msg.n)
    CHECK(p->status && str_is(p->status->message, s->status_msg));
  CHECK_EQ(p->n_attributes, s->n_attrs);
  for (size_t i = 0; i < p->n_attributes && i < s->n_attrs; i++)
    check_attr(p->attributes[i], &s->attrs[i]);
}

static const cs_span *find(const cs_span *s, size_t n, const uint8_t *id) {
  for (size_t i = 0; i < n; i++)
    if (memcmp(s[i].span_id, id, 8) == 0)
      return &s[i];
  return NULL;
}

static void otlp_encode_roundtrips_workload_through_protobuf_c(void) {
  cs_workload *w = malloc(sizeof *w);
  cs_arena a;
  cs_arena_init(&a, 0, 0);
  cs_workload_init(w, 1, 0);
  cs_span *spans;
  size_t n = cs_workload_batch(w, &a, 1000, &spans);
  size_t cap = 1 << 20, len = 0;
  uint8_t *buf = malloc(cap);
  CHECK_EQ(cs_otlp_encode_traces(spans, n, buf, cap, &len), 0);
  Req *req = REQ_UNPACK(NULL, len, buf);
  CHECK(req != NULL);
  if (req) {
    /* One ResourceSpans per (service, host): 10 resources, one scope. */
    CHECK_EQ(req->n_resource_spans, CS_WORKLOAD_SERVICES * CS_WORKLOAD_INSTANCES);
    size_t seen = 0;
    for (size_t r = 0; r < req->n_resource_spans; r++) {
      const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[r];
      CHECK(rs->resource != NULL);
      CHECK_EQ(rs->n_scope_spans, 1);
      const cs_resource *res = NULL;
      for (size_t k = 0; k < rs->n_scope_spans; k++) {
        const Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = rs->scope_spans[k];
        CHECK(ss->scope && strcmp(ss->scope->name, "callscope.bench") == 0);
        CHECK(ss->scope && strcmp(ss->scope->version, "1.0.0") == 0);
        for (size_t j = 0; j < ss->n_spans; j++) {
          const PbSpan *p = ss->spans[j];
          const cs_span *s = p->span_id.len == 8 ? find(spans, n, p->span_id.data) : NULL;
          CHECK(s != NULL);
          if (!s)
            continue;
          check_span(p, s);
          if (!res)
            res = s->resource;
          CHECK(res == s->resource); /* grouped by resource */
          seen++;
        }
      }
      if (res && rs->resource) {
        CHECK_EQ(rs->resource->n_attributes, res->n_attrs);
        for (size_t i = 0; i < rs->resource->n_attributes && i < res->n_attrs; i++)
          check_attr(rs->resource->attributes[i], &res->attrs[i]);
      }
    }
    CHECK_EQ(seen, n);
    /* protobuf-c packs the decoded message to the very same bytes: the
     * encoder emits canonical field order and proto3 defaults the same way. */
    size_t plen = REQ_SIZE(req);
    CHECK_EQ(plen, len);
    uint8_t *p2 = malloc(plen);
    REQ_PACK(req, p2);
    CHECK(plen == len && memcmp(p2, buf, len) == 0);
    free(p2);
    REQ_FREE(req, NULL);
  }
  /* The tail variant writes the same bytes at the end of the buffer. */
  size_t len2 = 0;
  uint8_t *buf2 = malloc(cap);
  CHECK_EQ(cs_otlp_encode_traces_tail(spans, n, buf2, cap, &len2), 0);
  CHECK(len2 == len && memcmp(buf2 + cap - len2, buf, len) == 0);
  free(buf2);
  free(buf);
  cs_arena_release(&a);
  free(w);
}

static void otlp_encode_reports_full_buffer(void) {
  cs_workload *w = malloc(sizeof *w);
  cs_arena a;
  cs_arena_init(&a, 0, 0);
  cs_workload_init(w, 2, 0);
  cs_span *spans;
  size_t n = cs_workload_next_trace(w, &a, &spans);
  uint8_t buf[65536];
  size_t len = 0;
  CHECK_EQ(cs_otlp_encode_traces(spans, n, buf, sizeof buf, &len), 0);
  /* Every size short of the real one fails cleanly, never writing outside. */
  for (size_t cap = 0; cap < len; cap += 1 + cap / 8) {
    size_t l2 = 0;
    uint8_t *small = malloc(cap ? cap : 1);
    CHECK_EQ(cs_otlp_encode_traces(spans, n, small, cap, &l2), CS_OTLP_ENOSPC);
    free(small);
  }
  size_t l3 = 0;
  CHECK_EQ(cs_otlp_encode_traces(spans, n, buf, len, &l3), 0);
  CHECK_EQ(l3, len);
  cs_arena_release(&a);
  free(w);
}

/* Hand-made spans with what the workload never produces: events, links,
 * negative ints, empty and bytes values, a resource without service.name,
 * two scopes, and more distinct resources than one segment holds. */
static void otlp_encode_handles_every_field(void) {
  enum { NRES = 70 };
  static cs_resource res[NRES];
  static cs_span spans[NRES + 1];
  cs_attr attrs[4] = {
      {.key = CS_STR_LIT("neg"), .type = CS_VAL_INT, .v.i = -5},
      {.key = CS_STR_LIT("empty"), .type = CS_VAL_STR, .v.s = {"", 0}},
      {.key = CS_STR_LIT("raw"), .type = CS_VAL_BYTES, .v.s = {"\0\1\2", 3}},
      {.key = CS_STR_LIT("off"), .type = CS_VAL_BOOL, .v.b = 0},
  };
  cs_event ev = {.time_ns = 123, .name = CS_STR_LIT("retry"), .attrs = attrs, .n_attrs = 1};
  cs_link ln = {.trace_id = {9}, .span_id = {8}, .trace_state = CS_STR_LIT("k=v"), .flags = 1};
  for (int i = 0; i <= NRES; i++) {
    cs_span *s = &spans[i];
    memset(s, 0, sizeof *s);
    s->trace_id[0] = 1;
    s->span_id[0] = (uint8_t)(i + 1);
    s->span_id[7] = 0x5a;
    s->name = CS_STR_LIT("op");
    s->start_ns = 10;
    s->end_ns = 20;
    if (i < NRES) {
      res[i] = (cs_resource){.service = CS_STR_LIT("svc")};
      s->resource = &res[i];
    } else {
      s->resource = &res[0];
    }
    s->scope_name = (i % 2) ? CS_STR_LIT("a") : CS_STR_LIT("b");
  }
  spans[0].attrs = attrs;
  spans[0].n_attrs = 4;
  spans[0].events = &ev;
  spans[0].n_events = 1;
  spans[0].links = &ln;
  spans[0].n_links = 1;
  spans[0].dropped_attrs = 3;
  spans[0].trace_state = CS_STR_LIT("x=1");
  static uint8_t buf[1 << 16];
  size_t len = 0;
  CHECK_EQ(cs_otlp_encode_traces(spans, NRES + 1, buf, sizeof buf, &len), 0);
  Req *req = REQ_UNPACK(NULL, len, buf);
  CHECK(req != NULL);
  if (!req)
    return;
  /* 64 resources in the first segment, the other 6 and res[0] again. */
  CHECK_EQ(req->n_resource_spans, NRES + 1);
  const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs0 = req->resource_spans[0];
  CHECK_EQ(rs0->resource->n_attributes, 1);
  CHECK_STR(rs0->resource->attributes[0]->key, "service.name");
  CHECK_STR(rs0->resource->attributes[0]->value->string_value, "svc");
  const PbSpan *p = rs0->scope_spans[0]->spans[0];
  check_span(p, &spans[0]);
  CHECK_EQ(p->dropped_attributes_count, 3);
  CHECK_STR(p->trace_state, "x=1");
  CHECK_EQ(p->n_events, 1);
  if (p->n_events == 1) {
    CHECK_EQ(p->events[0]->time_unix_nano, 123);
    CHECK_STR(p->events[0]->name, "retry");
    CHECK_EQ(p->events[0]->n_attributes, 1);
  }
  CHECK_EQ(p->n_links, 1);
  if (p->n_links == 1) {
    CHECK(p->links[0]->trace_id.len == 16 && p->links[0]->trace_id.data[0] == 9);
    CHECK_STR(p->links[0]->trace_state, "k=v");
    CHECK_EQ(p->links[0]->flags, 1);
  }
  size_t total = 0;
  for (size_t r = 0; r < req->n_resource_spans; r++)
    for (size_t k = 0; k < req->resource_spans[r]->n_scope_spans; k++)
      total += req->resource_spans[r]->scope_spans[k]->n_spans;
  CHECK_EQ(total, NRES + 1);
  REQ_FREE(req, NULL);
}

int main(void) {
  RUN(otlp_encode_roundtrips_workload_through_protobuf_c);
  RUN(otlp_encode_reports_full_buffer);
  RUN(otlp_encode_handles_every_field);
  return CHECK_DONE();
}
