/* Decoding and validation of OTLP trace and metrics payloads: every field
 * converted, every reject reason counted, bad spans not spoiling their
 * batch, UTF-8 repair, and hostile payloads refused without a crash. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "decode.h"
#include "otlp_build.h"
#include "parse.h"

#define T0 1700000000000000000ull

static cs_limits lim;

typedef struct decoded {
  cs_arena a;
  cs_span *spans;
  size_t n;
  cs_reject_counts rej;
  int rc;
} decoded;

static void decode(ob *b, decoded *d) {
  size_t len;
  uint8_t *buf = ob_pack(b, 0, 0, &len);
  memset(d, 0, sizeof *d);
  cs_arena_init(&d->a, cs_decode_arena_chunk(len), cs_decode_arena_cap(len));
  d->rc = cs_decode_traces(buf, len, &d->a, &lim, &d->spans, &d->n, &d->rej);
  free(buf); /* decoded strings must not point into the payload */
}

static const cs_attr *find_attr(const cs_attr *a, uint32_t n, const char *key) {
  for (uint32_t i = 0; i < n; i++)
    if (a[i].key.n == strlen(key) && !memcmp(a[i].key.p, key, a[i].key.n)) return &a[i];
  return NULL;
}

static void decode_converts_every_field(void) {
  ob b;
  ob_init(&b);
  ob_rs *rs = ob_resource(&b, "checkout");
  ob_resource_attr(&b, rs, "host.name", ob_str(&b, "web-1"));
  ob_span *s = ob_add_span(&b, rs, 0x0102030405060708ull, 0x090a0b0c0d0e0f10ull, 0x11, 0x22,
                           "GET /cart", T0, T0 + 5000);
  s->kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT;
  s->flags = 0x101;
  s->trace_state = "k=v";
  s->dropped_attributes_count = 3;
  ob_span_attr(&b, s, "http.method", ob_str(&b, "GET"));
  ob_span_attr(&b, s, "http.status_code", ob_int(&b, -404));
  ob_span_attr(&b, s, "ratio", ob_dbl(&b, 0.5));
  ob_span_attr(&b, s, "cached", ob_bool(&b, 1));
  ob_span_attr(&b, s, "raw", ob_bytes(&b, "\x00\x01\xff", 3));
  ob_any *arr[4] = {ob_str(&b, "a\"b"), ob_int(&b, 7), ob_bool(&b, 0), ob_dbl(&b, NAN)};
  ob_span_attr(&b, s, "list", ob_array(&b, arr, 4));
  ob_kv *kvs[2] = {ob_kvp(&b, "x", ob_int(&b, 1)), ob_kvp(&b, "y", ob_bytes(&b, "hi", 2))};
  ob_span_attr(&b, s, "obj", ob_kvlist(&b, kvs, 2));
  ob_span_attr(&b, s, "sessionId", ob_str(&b, "sess-42"));
  ob_span_event(&b, s, "retry", T0 + 100);
  ob_span_link(&b, s, 7, 8, 9);
  ob_span_status(&b, s, 2, "boom");
  decoded d;
  decode(&b, &d);
  CHECK_EQ(d.rc, CS_DECODE_OK);
  CHECK_EQ(d.n, 1);
  if (d.n == 1) {
    const cs_span *o = &d.spans[0];
    CHECK_EQ(o->trace_id[0], 1);
    CHECK_EQ(o->trace_id[15], 0x10);
    CHECK_EQ(o->span_id[7], 0x11);
    CHECK_EQ(o->parent_id[7], 0x22);
    CHECK_STRN(o->name.p, o->name.n, "GET /cart");
    CHECK_STRN(o->trace_state.p, o->trace_state.n, "k=v");
    CHECK_EQ(o->kind, CS_KIND_CLIENT);
    CHECK_EQ(o->flags, 0x101);
    CHECK(o->start_ns == T0 && o->end_ns == T0 + 5000);
    CHECK_EQ(o->status_code, CS_STATUS_ERROR);
    CHECK_STRN(o->status_msg.p, o->status_msg.n, "boom");
    CHECK_EQ(o->dropped_attrs, 3);
    CHECK_STRN(o->resource->service.p, o->resource->service.n, "checkout");
    CHECK_EQ(o->resource->n_attrs, 2);
    CHECK_STRN(o->scope_name.p, o->scope_name.n, "test-scope");
    CHECK_STRN(o->scope_version.p, o->scope_version.n, "1.0");
    CHECK_EQ(o->n_attrs, 8);
    const cs_attr *a = find_attr(o->attrs, o->n_attrs, "http.status_code");
    CHECK(a && a->type == CS_VAL_INT && a->v.i == -404);
    a = find_attr(o->attrs, o->n_attrs, "ratio");
    CHECK(a && a->type == CS_VAL_DOUBLE && a->v.d == 0.5);
    a = find_attr(o->attrs, o->n_attrs, "cached");
    CHECK(a && a->type == CS_VAL_BOOL && a->v.b == 1);
    a = find_attr(o->attrs, o->n_attrs, "raw");
    CHECK(a && a->type == CS_VAL_BYTES && a->v.s.n == 3 && !memcmp(a->v.s.p, "\x00\x01\xff", 3));
    a = find_attr(o->attrs, o->n_attrs, "list");
    CHECK(a && a->type == CS_VAL_ARRAY);
    if (a) CHECK_STRN(a->v.s.p, a->v.s.n, "[\"a\\\"b\",7,false,null]");
    a = find_attr(o->attrs, o->n_attrs, "obj");
    CHECK(a && a->type == CS_VAL_KVLIST);
    if (a) CHECK_STRN(a->v.s.p, a->v.s.n, "{\"x\":1,\"y\":\"aGk=\"}");
    CHECK_STRN(o->session_id.p, o->session_id.n, "sess-42");
    CHECK_EQ(o->n_events, 1);
    if (o->n_events) {
      CHECK_STRN(o->events[0].name.p, o->events[0].name.n, "retry");
      CHECK(o->events[0].time_ns == T0 + 100);
    }
    CHECK_EQ(o->n_links, 1);
    if (o->n_links) CHECK(o->links[0].trace_id[7] == 7 && o->links[0].span_id[7] == 9);
  }
  cs_arena_release(&d.a);
  ob_release(&b);
}

static void decode_defaults_unknown_service(void) {
  ob b;
  ob_init(&b);
  ob_rs *rs = ob_resource(&b, NULL);
  ob_add_span(&b, rs, 1, 1, 1, 0, "root", T0, T0 + 1);
  ob_rs *rs2 = ob_resource(&b, NULL);
  ob_resource_attr(&b, rs2, "service.name", ob_int(&b, 5)); /* not a string */
  ob_add_span(&b, rs2, 1, 1, 2, 1, "child", T0, T0 + 1);
  decoded d;
  decode(&b, &d);
  CHECK_EQ(d.n, 2);
  for (size_t i = 0; i < d.n; i++) {
    CHECK_STRN(d.spans[i].resource->service.p, d.spans[i].resource->service.n, "unknown_service");
    CHECK(d.spans[i].session_id.n == 0);
  }
  cs_arena_release(&d.a);
  ob_release(&b);
}

/* Each case breaks one rule in one span between two good ones. */
typedef void (*breaker)(ob *b, ob_span *s);
static void br_trace_len(ob *b, ob_span *s) { (void)b, s->trace_id.len = 15; }
static void br_span_len(ob *b, ob_span *s) { (void)b, s->span_id.len = 4; }
static void br_parent_len(ob *b, ob_span *s) { (void)b, s->parent_span_id.len = 7; }
static void br_zero_trace(ob *b, ob_span *s) { (void)b, memset(s->trace_id.data, 0, 16); }
static void br_zero_span(ob *b, ob_span *s) { (void)b, memset(s->span_id.data, 0, 8); }
static void br_no_start(ob *b, ob_span *s) { (void)b, s->start_time_unix_nano = 0; }
static void br_end_before(ob *b, ob_span *s) { (void)b, s->end_time_unix_nano = T0 - 1; }
static void br_name(ob *b, ob_span *s) {
  char *n = cs_arena_calloc(&b->a, lim.max_name_len + 2);
  memset(n, 'n', lim.max_name_len + 1);
  s->name = n;
}
static void br_key(ob *b, ob_span *s) {
  char *k = cs_arena_calloc(&b->a, lim.max_key_len + 2);
  memset(k, 'k', lim.max_key_len + 1);
  ob_span_attr(b, s, k, ob_int(b, 1));
}
static void br_value(ob *b, ob_span *s) {
  char *v = cs_arena_calloc(&b->a, lim.max_value_len + 2);
  memset(v, 'v', lim.max_value_len + 1);
  ob_span_attr(b, s, "big", ob_str(b, v));
}
static void br_json_value(ob *b, ob_span *s) {
  /* Each element fits; the JSON text of the array does not. */
  size_t n = lim.max_value_len / 4;
  ob_any **vals = cs_arena_alloc(&b->a, n * sizeof *vals);
  for (size_t i = 0; i < n; i++) vals[i] = ob_int(b, 12345);
  ob_span_attr(b, s, "arr", ob_array(b, vals, n));
}
static void br_attrs(ob *b, ob_span *s) {
  for (uint32_t i = 0; i <= lim.max_attrs; i++) ob_span_attr(b, s, "a", ob_int(b, i));
}
static void br_events(ob *b, ob_span *s) {
  for (uint32_t i = 0; i <= lim.max_events; i++) ob_span_event(b, s, "e", T0);
}
static void br_links(ob *b, ob_span *s) {
  for (uint32_t i = 0; i <= lim.max_links; i++) ob_span_link(b, s, 1, 2, 3);
}
static void br_link_id(ob *b, ob_span *s) {
  ob_span_link(b, s, 1, 2, 3);
  s->links[0]->span_id.len = 3;
}
static void br_link_zero(ob *b, ob_span *s) { ob_span_link(b, s, 0, 0, 3); }
static void br_deep(ob *b, ob_span *s) {
  ob_any *v = ob_int(b, 1);
  for (uint32_t i = 0; i <= lim.max_depth; i++) {
    ob_any **one = cs_arena_alloc(&b->a, sizeof *one);
    *one = v;
    v = ob_array(b, one, 1);
  }
  ob_span_attr(b, s, "deep", v);
}
static void br_event_name(ob *b, ob_span *s) {
  char *n = cs_arena_calloc(&b->a, lim.max_name_len + 2);
  memset(n, 'e', lim.max_name_len + 1);
  ob_span_event(b, s, n, T0);
}
static void br_status_msg(ob *b, ob_span *s) {
  char *v = cs_arena_calloc(&b->a, lim.max_value_len + 2);
  memset(v, 'm', lim.max_value_len + 1);
  ob_span_status(b, s, 2, v);
}

static void decode_rejects_each_reason_alone(void) {
  struct {
    breaker f;
    int reason;
    const char *what;
  } cases[] = {
      {br_trace_len, CS_REJ_TRACE_ID_LEN, "trace id length"},
      {br_span_len, CS_REJ_SPAN_ID_LEN, "span id length"},
      {br_parent_len, CS_REJ_PARENT_ID_LEN, "parent id length"},
      {br_zero_trace, CS_REJ_ZERO_TRACE_ID, "zero trace id"},
      {br_zero_span, CS_REJ_ZERO_SPAN_ID, "zero span id"},
      {br_no_start, CS_REJ_NO_START, "no start"},
      {br_end_before, CS_REJ_END_BEFORE_START, "end before start"},
      {br_name, CS_REJ_NAME_TOO_LONG, "name"},
      {br_event_name, CS_REJ_NAME_TOO_LONG, "event name"},
      {br_key, CS_REJ_KEY_TOO_LONG, "key"},
      {br_value, CS_REJ_VALUE_TOO_LONG, "value"},
      {br_json_value, CS_REJ_VALUE_TOO_LONG, "json value"},
      {br_status_msg, CS_REJ_VALUE_TOO_LONG, "status message"},
      {br_attrs, CS_REJ_TOO_MANY_ATTRS, "attrs"},
      {br_events, CS_REJ_TOO_MANY_EVENTS, "events"},
      {br_links, CS_REJ_TOO_MANY_LINKS, "links"},
      {br_link_id, CS_REJ_LINK_ID, "link id length"},
      {br_link_zero, CS_REJ_LINK_ID, "zero link id"},
      {br_deep, CS_REJ_TOO_DEEP, "deep value"},
  };
  int covered[CS_REJ__COUNT] = {0};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    ob b;
    ob_init(&b);
    ob_rs *rs = ob_resource(&b, "svc");
    ob_add_span(&b, rs, 1, 2, 1, 0, "good1", T0, T0 + 10);
    ob_span *bad = ob_add_span(&b, rs, 1, 2, 2, 1, "bad", T0, T0 + 10);
    ob_add_span(&b, rs, 1, 2, 3, 1, "good2", T0, T0 + 10);
    cases[i].f(&b, bad);
    decoded d;
    decode(&b, &d);
    if (d.n != 2 || d.rej.n[cases[i].reason] != 1)
      fprintf(stderr, "  case %s: n=%zu rejected[%s]=%u total=%u\n", cases[i].what, d.n,
              cs_reject_name(cases[i].reason), d.rej.n[cases[i].reason], cs_reject_total(&d.rej));
    CHECK_EQ(d.rc, CS_DECODE_OK);
    CHECK_EQ(d.n, 2);
    CHECK_EQ(d.rej.n[cases[i].reason], 1);
    CHECK_EQ(cs_reject_total(&d.rej), 1);
    if (d.n == 2) {
      CHECK_STRN(d.spans[0].name.p, d.spans[0].name.n, "good1");
      CHECK_STRN(d.spans[1].name.p, d.spans[1].name.n, "good2");
    }
    covered[cases[i].reason] = 1;
    cs_arena_release(&d.a);
    ob_release(&b);
  }
  for (int r = 0; r < CS_REJ__COUNT; r++) {
    if (!covered[r]) fprintf(stderr, "  reason %s has no test case\n", cs_reject_name(r));
    CHECK(covered[r]);
  }
}

static void decode_bad_resource_rejects_only_its_spans(void) {
  ob b;
  ob_init(&b);
  ob_rs *bad = ob_resource(&b, "bad");
  for (uint32_t i = 0; i <= lim.max_attrs; i++) ob_resource_attr(&b, bad, "r", ob_int(&b, i));
  ob_add_span(&b, bad, 1, 1, 1, 0, "x", T0, T0 + 1);
  ob_add_span(&b, bad, 1, 1, 2, 0, "y", T0, T0 + 1);
  ob_rs *good = ob_resource(&b, "good");
  ob_add_span(&b, good, 1, 1, 3, 0, "z", T0, T0 + 1);
  decoded d;
  decode(&b, &d);
  CHECK_EQ(d.n, 1);
  CHECK_EQ(d.rej.n[CS_REJ_TOO_MANY_ATTRS], 2);
  cs_arena_release(&d.a);
  ob_release(&b);
}

static void decode_repairs_invalid_utf8(void) {
  ob b;
  ob_init(&b);
  ob_rs *rs = ob_resource(&b, "svc\xff");
  ob_span *s = ob_add_span(&b, rs, 1, 1, 1, 0, "na\xc3me", T0, T0 + 1);
  ob_span_attr(&b, s, "k\xed\xa0\x80", ob_str(&b, "ok \xe2\x82\xac"));
  ob_any *arr[1] = {ob_str(&b, "\xf8x")};
  ob_span_attr(&b, s, "arr", ob_array(&b, arr, 1));
  decoded d;
  decode(&b, &d);
  CHECK_EQ(d.n, 1);
  CHECK_EQ(d.rej.utf8_repaired, 4);
  if (d.n == 1) {
    const cs_span *o = &d.spans[0];
    CHECK_STRN(o->name.p, o->name.n, "na\xef\xbf\xbdme");
    CHECK_STRN(o->resource->service.p, o->resource->service.n, "svc\xef\xbf\xbd");
    CHECK(cs_utf8_valid(o->attrs[0].key.p, o->attrs[0].key.n));
    CHECK_STRN(o->attrs[0].v.s.p, o->attrs[0].v.s.n, "ok \xe2\x82\xac"); /* valid: untouched */
    CHECK_STRN(o->attrs[1].v.s.p, o->attrs[1].v.s.n, "[\"\xef\xbf\xbdx\"]");
  }
  cs_arena_release(&d.a);
  ob_release(&b);
}

static void utf8_validation_follows_rfc3629(void) {
  CHECK(cs_utf8_valid("plain ascii text, long enough for the fast path", 47));
  CHECK(cs_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
  CHECK(!cs_utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
  CHECK(!cs_utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
  CHECK(!cs_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
  CHECK(!cs_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
  CHECK(!cs_utf8_valid("abcdefgh\xe2\x82", 10)); /* truncated after fast path */
  CHECK(!cs_utf8_valid("\x80", 1));
}

static void decode_refuses_garbage(void) {
  cs_arena a;
  cs_arena_init(&a, 0, 1 << 20);
  cs_span *spans;
  size_t n = 99;
  cs_reject_counts rej;
  memset(&rej, 0, sizeof rej);
  const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02}; /* length past the end */
  CHECK_EQ(cs_decode_traces(junk, sizeof junk, &a, &lim, &spans, &n, &rej), CS_DECODE_EPROTO);
  CHECK_EQ(n, 0);
  const uint8_t badwire[] = {0x0f, 0x00}; /* wire type 7 */
  CHECK_EQ(cs_decode_traces(badwire, sizeof badwire, &a, &lim, &spans, &n, &rej), CS_DECODE_EPROTO);
  /* A valid request cut short. */
  ob b;
  ob_init(&b);
  ob_add_span(&b, ob_resource(&b, "svc"), 1, 1, 1, 0, "x", T0, T0 + 1);
  size_t len;
  uint8_t *buf = ob_pack(&b, 0, 0, &len);
  CHECK_EQ(cs_decode_traces(buf, len - 3, &a, &lim, &spans, &n, &rej), CS_DECODE_EPROTO);
  CHECK_EQ(cs_decode_traces(buf, len, &a, &lim, &spans, &n, &rej), CS_DECODE_OK);
  CHECK_EQ(n, 1);
  /* Empty payload: a valid, empty request. */
  CHECK_EQ(cs_decode_traces(buf, 0, &a, &lim, &spans, &n, &rej), CS_DECODE_OK);
  CHECK_EQ(n, 0);
  CHECK_EQ(cs_reject_total(&rej), 0);
  free(buf);
  ob_release(&b);
  cs_arena_release(&a);
}

/* Prepends tag and the varint length of the n bytes at p (messages are
 * built backwards, innermost first). */
static uint8_t *wrap(uint8_t *p, size_t n, uint8_t tag) {
  uint8_t v[10];
  size_t k = 0;
  do {
    v[k++] = (uint8_t)((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>= 7;
  } while (n);
  p -= k;
  memcpy(p, v, k);
  *--p = tag;
  return p;
}

/* A resource attribute whose value is an array nested 100k deep: under a
 * megabyte that would overflow protobuf-c's recursive unpack. */
static void decode_refuses_deep_nesting(void) {
  size_t depth = 100000, cap = depth * 16 + 64;
  uint8_t *buf = malloc(cap), *e = buf + cap, *p = e;
  *--p = 0x01; /* AnyValue.int_value = 1 */
  *--p = 0x18;
  for (size_t i = 0; i < depth; i++) {
    p = wrap(p, (size_t)(e - p), 0x0a); /* ArrayValue.values */
    p = wrap(p, (size_t)(e - p), 0x2a); /* AnyValue.array_value */
  }
  p = wrap(p, (size_t)(e - p), 0x12); /* KeyValue.value */
  *--p = 'k';
  *--p = 0x01;
  *--p = 0x0a;                        /* KeyValue.key */
  p = wrap(p, (size_t)(e - p), 0x0a); /* Resource.attributes */
  p = wrap(p, (size_t)(e - p), 0x0a); /* ResourceSpans.resource */
  p = wrap(p, (size_t)(e - p), 0x0a); /* request.resource_spans */
  cs_arena a;
  cs_arena_init(&a, 0, 0);
  cs_span *spans;
  size_t ns;
  cs_reject_counts rej;
  memset(&rej, 0, sizeof rej);
  CHECK_EQ(cs_decode_traces(p, (size_t)(e - p), &a, &lim, &spans, &ns, &rej), CS_DECODE_EPROTO);
  /* The same shape, shallow, is fine: the depth guard is what refused it. */
  p = e;
  *--p = 0x01;
  *--p = 0x18;
  for (size_t i = 0; i < 3; i++) {
    p = wrap(p, (size_t)(e - p), 0x0a);
    p = wrap(p, (size_t)(e - p), 0x2a);
  }
  p = wrap(p, (size_t)(e - p), 0x12);
  *--p = 'k';
  *--p = 0x01;
  *--p = 0x0a;
  p = wrap(p, (size_t)(e - p), 0x0a);
  p = wrap(p, (size_t)(e - p), 0x0a);
  p = wrap(p, (size_t)(e - p), 0x0a);
  CHECK_EQ(cs_decode_traces(p, (size_t)(e - p), &a, &lim, &spans, &ns, &rej), CS_DECODE_OK);
  free(buf);
  cs_arena_release(&a);
}

static void decode_reports_arena_exhaustion(void) {
  ob b;
  ob_init(&b);
  ob_rs *rs = ob_resource(&b, "svc");
  for (int i = 1; i <= 200; i++) {
    ob_span *s = ob_add_span(&b, rs, 1, 1, (uint64_t)i, 0, "span", T0, T0 + 1);
    ob_span_attr(&b, s, "k", ob_str(&b, "value"));
  }
  size_t len;
  uint8_t *buf = ob_pack(&b, 0, 0, &len);
  cs_arena a;
  cs_arena_init(&a, 4096, 16384);
  cs_span *spans;
  size_t n;
  cs_reject_counts rej;
  memset(&rej, 0, sizeof rej);
  CHECK_EQ(cs_decode_traces(buf, len, &a, &lim, &spans, &n, &rej), CS_DECODE_ENOMEM);
  CHECK(a.reserved <= 16384);
  cs_arena_release(&a);
  free(buf);
  ob_release(&b);
}

static void decode_metrics_counts_points(void) {
  size_t len;
  uint8_t *buf = ob_pack_metrics("billing", 5, 0, 0, &len);
  cs_arena a;
  cs_arena_init(&a, 0, 0);
  cs_otlp_metrics *m;
  cs_resource *res;
  size_t points = 0;
  CHECK_EQ(cs_decode_metrics(buf, len, &a, &lim, &m, &res, &points), CS_DECODE_OK);
  CHECK_EQ(points, 6);
  CHECK(m && m->n_resource_metrics == 1);
  if (res) CHECK_STRN(res[0].service.p, res[0].service.n, "billing");
  CHECK_EQ(cs_decode_metrics(buf, len - 1, &a, &lim, &m, &res, &points), CS_DECODE_EPROTO);
  cs_arena_release(&a);
  free(buf);
}

static void parse_durations_and_numbers(void) {
  uint64_t v = 0;
  CHECK(cs_parse_duration_s("72h", &v) == 0 && v == 72 * 3600);
  CHECK(cs_parse_duration_s("30m", &v) == 0 && v == 1800);
  CHECK(cs_parse_duration_s("7d", &v) == 0 && v == 7 * 86400);
  CHECK(cs_parse_duration_s("45s", &v) == 0 && v == 45);
  CHECK(cs_parse_duration_s("90", &v) == 0 && v == 90);
  const char *bad[] = {"", "h", "0", "-5m", "5x", "5hh", "99999999999999999999d", " 5m", "1000000d"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) CHECK(cs_parse_duration_s(bad[i], &v) != 0);
  CHECK(cs_parse_u64("4320", 0, 65535, &v) == 0 && v == 4320);
  CHECK(cs_parse_u64("65536", 0, 65535, &v) != 0);
  CHECK(cs_parse_u64("12a", 0, 65535, &v) != 0);
  CHECK(cs_parse_u64("-1", 0, 65535, &v) != 0);
}

int main(void) {
  cs_limits_default(&lim);
  RUN(decode_converts_every_field);
  RUN(decode_defaults_unknown_service);
  RUN(decode_rejects_each_reason_alone);
  RUN(decode_bad_resource_rejects_only_its_spans);
  RUN(decode_repairs_invalid_utf8);
  RUN(utf8_validation_follows_rfc3629);
  RUN(decode_refuses_garbage);
  RUN(decode_refuses_deep_nesting);
  RUN(decode_reports_arena_exhaustion);
  RUN(decode_metrics_counts_points);
  RUN(parse_durations_and_numbers);
  return CHECK_DONE();
}
