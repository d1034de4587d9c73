/* Decoding and validation of OTLP trace and metrics payloads: every field
 * converted, every reject reason counted, bad spans not spoiling their
 * batch, UTF-8 repair, hostile payloads refused without a crash, and the
 * wire format's corners (unknown fields, order, repeats, truncation,
 * over-long encodings, nesting, huge counts). */
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
  /* Decided where decoded spans go to the writer (collector.c), not by the
   * decoder: tests/receivers/test_recv_native covers them. */
  covered[CS_REJ_EXPIRED] = covered[CS_REJ_FUTURE] = 1;
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

/* ---- Wire-level cases, on hand-written protobuf bytes ---- */

/* A growable protobuf writer: fields are appended in the order given, so
 * tests control order, repeats and encodings exactly. */
typedef struct pw {
  uint8_t *b;
  size_t n, cap;
} pw;

static void pw_raw(pw *w, const void *p, size_t n) {
  if (w->n + n > w->cap) {
    w->cap = (w->n + n) * 2 + 64;
    w->b = realloc(w->b, w->cap);
  }
  if (n) memcpy(w->b + w->n, p, n);
  w->n += n;
}
static void pw_varint(pw *w, uint64_t v) {
  do {
    uint8_t c = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    pw_raw(w, &c, 1);
    v >>= 7;
  } while (v);
}
static void pw_tag(pw *w, uint32_t field, unsigned wt) { pw_varint(w, (uint64_t)field << 3 | wt); }
static void pw_uint(pw *w, uint32_t field, uint64_t v) {
  pw_tag(w, field, 0);
  pw_varint(w, v);
}
static void pw_bytes(pw *w, uint32_t field, const void *p, size_t n) {
  pw_tag(w, field, 2);
  pw_varint(w, n);
  pw_raw(w, p, n);
}
static void pw_str(pw *w, uint32_t field, const char *s) { pw_bytes(w, field, s, strlen(s)); }
static void pw_sub(pw *w, uint32_t field, const pw *sub) { pw_bytes(w, field, sub->b, sub->n); }
static void pw_fixed64(pw *w, uint32_t field, uint64_t v) {
  pw_tag(w, field, 1);
  pw_raw(w, &v, 8);
}
static void pw_fixed32(pw *w, uint32_t field, uint32_t v) {
  pw_tag(w, field, 5);
  pw_raw(w, &v, 4);
}
static void pw_reset(pw *w) { w->n = 0; }
static void pw_free(pw *w) { free(w->b), w->b = NULL, w->n = w->cap = 0; }

static const uint8_t TID[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* A valid span: IDs, name, times. */
static void span_fields(pw *s, uint8_t id, const char *name) {
  uint8_t sid[8] = {0, 0, 0, 0, 0, 0, 0, id};
  pw_bytes(s, 1, TID, 16);
  pw_bytes(s, 2, sid, 8);
  pw_str(s, 5, name);
  pw_fixed64(s, 7, T0);
  pw_fixed64(s, 8, T0 + 10);
}

/* request { resource_spans { resource { service.name = svc } scope_spans
 * { scope { name } spans... } } } around n span bodies. */
static void wrap_request(pw *out, const pw *spans, size_t n) {
  pw kv = {0}, any = {0}, res = {0}, scope = {0}, ss = {0}, rs = {0};
  pw_str(&any, 1, "svc");
  pw_str(&kv, 1, "service.name");
  pw_sub(&kv, 2, &any);
  pw_sub(&res, 1, &kv);
  pw_str(&scope, 1, "lib");
  pw_sub(&ss, 1, &scope);
  for (size_t i = 0; i < n; i++) pw_sub(&ss, 2, &spans[i]);
  pw_sub(&rs, 1, &res);
  pw_sub(&rs, 2, &ss);
  pw_reset(out);
  pw_sub(out, 1, &rs);
  pw_free(&kv), pw_free(&any), pw_free(&res), pw_free(&scope), pw_free(&ss), pw_free(&rs);
}

static void decode_bytes(const uint8_t *p, size_t n, decoded *d) {
  memset(d, 0, sizeof *d);
  uint8_t *copy = malloc(n ? n : 1);
  if (n) memcpy(copy, p, n);
  cs_arena_init(&d->a, cs_decode_arena_chunk(n), cs_decode_arena_cap(n));
  d->rc = cs_decode_traces(copy, n, &d->a, &lim, &d->spans, &d->n, &d->rej);
  memset(copy, 0xee, n); /* the spans must not point into the caller's buffer */
  free(copy);
}

static int decode_one(const pw *span, decoded *d) {
  pw req = {0};
  wrap_request(&req, span, 1);
  decode_bytes(req.b, req.n, d);
  pw_free(&req);
  return d->rc;
}

/* Unknown fields of every wire type, at every level, are skipped. */
static void wire_skips_unknown_fields(void) {
  pw unk = {0};
  pw_uint(&unk, 99, 12345);
  pw_fixed64(&unk, 100, 7);
  pw_str(&unk, 1000, "later versions"); /* two-byte tag */
  pw_fixed32(&unk, 101, 9);
  pw_raw(&unk, "\x80\x00\x00", 3); /* field 0 in a two-byte tag, varint 0 */
  pw any = {0}, kv = {0}, ev = {0}, st = {0}, s = {0};
  pw_raw(&any, unk.b, unk.n);
  pw_str(&any, 1, "v");
  pw_raw(&kv, unk.b, unk.n);
  pw_str(&kv, 1, "k");
  pw_sub(&kv, 2, &any);
  pw_raw(&ev, unk.b, unk.n);
  pw_str(&ev, 2, "ev");
  pw_raw(&st, unk.b, unk.n);
  pw_uint(&st, 3, 2);
  pw_uint(&st, 1, 5); /* reserved field 1 */
  pw_raw(&s, unk.b, unk.n);
  span_fields(&s, 1, "op");
  pw_sub(&s, 9, &kv);
  pw_sub(&s, 11, &ev);
  pw_sub(&s, 15, &st);
  pw_raw(&s, unk.b, unk.n);
  pw req = {0};
  wrap_request(&req, &s, 1);
  pw_raw(&req, unk.b, unk.n); /* and at the top */
  decoded d;
  decode_bytes(req.b, req.n, &d);
  CHECK_EQ(d.rc, CS_DECODE_OK);
  CHECK_EQ(d.n, 1);
  if (d.n == 1) {
    const cs_span *o = &d.spans[0];
    CHECK_STRN(o->name.p, o->name.n, "op");
    CHECK_EQ(o->n_attrs, 1);
    if (o->n_attrs) CHECK_STRN(o->attrs[0].v.s.p, o->attrs[0].v.s.n, "v");
    CHECK_EQ(o->n_events, 1);
    CHECK_EQ(o->status_code, CS_STATUS_ERROR);
    CHECK_STRN(o->resource->service.p, o->resource->service.n, "svc");
    CHECK_STRN(o->scope_name.p, o->scope_name.n, "lib");
  }
  cs_arena_release(&d.a);
  pw_free(&unk), pw_free(&any), pw_free(&kv), pw_free(&ev), pw_free(&st), pw_free(&s), pw_free(&req);
}

/* Groups (wire types 3 and 4), wire types 6 and 7, and known fields with
 * the wrong wire type fail the whole payload. */
static void wire_refuses_groups_and_wrong_wire_types(void) {
  static const uint8_t bad[][2] = {
      {0xcb, 0x01}, /* field 25, start group */
      {0xcc, 0x01}, /* field 25, end group */
      {0xce, 0x01}, /* wire type 6 */
      {0xcf, 0x01}, /* wire type 7 */
      {0x08, 0x01}, /* trace_id as a varint */
      {0x38, 0x01}, /* start time as a varint */
      {0x48, 0x01}, /* attributes as a varint */
      {0x78, 0x01}, /* status as a varint */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    pw s = {0};
    span_fields(&s, 1, "op");
    pw_raw(&s, bad[i], 2);
    decoded d;
    if (decode_one(&s, &d) != CS_DECODE_EPROTO) fprintf(stderr, "  case %zu\n", i);
    CHECK_EQ(d.rc, CS_DECODE_EPROTO);
    CHECK_EQ(cs_reject_total(&d.rej), 0);
    cs_arena_release(&d.a);
    pw_free(&s);
  }
  /* Wrong wire types deeper down: kind as a string, flags as fixed64, an
   * attribute value's int as fixed32, a link's flags as a varint. */
  pw s = {0}, any = {0}, kv = {0}, link = {0};
  span_fields(&s, 1, "op");
  pw_str(&s, 6, "2");
  decoded d;
  CHECK_EQ(decode_one(&s, &d), CS_DECODE_EPROTO);
  cs_arena_release(&d.a);
  pw_reset(&s);
  span_fields(&s, 1, "op");
  pw_fixed64(&s, 16, 1);
  CHECK_EQ(decode_one(&s, &d), CS_DECODE_EPROTO);
  cs_arena_release(&d.a);
  pw_reset(&s);
  span_fields(&s, 1, "op");
  pw_fixed32(&any, 3, 1);
  pw_str(&kv, 1, "k");
  pw_sub(&kv, 2, &any);
  pw_sub(&s, 9, &kv);
  CHECK_EQ(decode_one(&s, &d), CS_DECODE_EPROTO);
  cs_arena_release(&d.a);
  pw_reset(&s);
  span_fields(&s, 1, "op");
  pw_uint(&link, 6, 1);
  pw_sub(&s, 13, &link);
  CHECK_EQ(decode_one(&s, &d), CS_DECODE_EPROTO);
  cs_arena_release(&d.a);
  pw_free(&s), pw_free(&any), pw_free(&kv), pw_free(&link);
}

/* Every proper prefix of a request is refused (the outer length runs past
 * the end), as are over-long varints, tags and length prefixes. */
static void wire_refuses_truncated_and_overlong(void) {
  pw s = {0}, req = {0};
  span_fields(&s, 1, "op");
  pw_str(&s, 3, "k=v");
  wrap_request(&req, &s, 1);
  size_t refused = 0;
  for (size_t cut = 1; cut < req.n; cut++) {
    decoded d;
    decode_bytes(req.b, cut, &d);
    refused += d.rc == CS_DECODE_EPROTO;
    cs_arena_release(&d.a);
  }
  CHECK_EQ(refused, req.n - 1);
  static const struct {
    const char *bytes;
    size_t n;
    int rc;
  } cases[] = {
      {"\x30\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11, CS_DECODE_OK}, /* kind, 10-byte varint */
      {"\x30\xff\xff\xff\xff\xff\xff\xff\xff\xff\x81\x01", 12, CS_DECODE_EPROTO}, /* 11 bytes */
      {"\x30\xff\xff", 3, CS_DECODE_EPROTO},                    /* varint cut short */
      {"\xa2\x80\x80\x80\x80\x00", 6, CS_DECODE_EPROTO},      /* 6-byte tag */
      {"\xa2\x80\x80\x80\x00\x00", 6, CS_DECODE_OK},          /* 5-byte tag: unknown field */
      {"\x1a\x80\x80\x80\x80\x80\x00", 7, CS_DECODE_EPROTO},  /* 6-byte length */
      {"\x1a\x80\x80\x80\x80\x00", 6, CS_DECODE_OK},          /* 5-byte length 0 */
      {"\x1a\x05\x61\x62", 4, CS_DECODE_EPROTO},              /* length past the end */
      {"\x1a\xff\xff\xff\xff\x0f", 6, CS_DECODE_EPROTO},      /* length 2^32 - 1 */
      {"\x39\x01\x02\x03", 4, CS_DECODE_EPROTO},              /* fixed64 cut short */
      {"\x85\x01\x01\x02", 4, CS_DECODE_EPROTO},              /* fixed32 cut short */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    pw_reset(&s);
    span_fields(&s, 1, "op");
    pw_raw(&s, cases[i].bytes, cases[i].n);
    decoded d;
    if (decode_one(&s, &d) != cases[i].rc) fprintf(stderr, "  case %zu: rc %d\n", i, d.rc);
    CHECK_EQ(d.rc, cases[i].rc);
    CHECK_EQ(d.n, cases[i].rc == CS_DECODE_OK);
    cs_arena_release(&d.a);
  }
  pw_free(&s), pw_free(&req);
}

/* Fields in any order; a scalar given twice keeps the last value. */
static void wire_fields_in_any_order_last_wins(void) {
  uint8_t sid[8] = {0, 0, 0, 0, 0, 0, 0, 9}, other[16] = {7};
  pw any = {0}, kv = {0}, s = {0}, scope = {0}, ss = {0}, res = {0}, rkv = {0}, rany = {0}, rs = {0},
     req = {0};
  pw_str(&any, 1, "first");
  pw_uint(&any, 3, 42); /* oneof: the last member set wins */
  pw_sub(&kv, 2, &any); /* value before key */
  pw_str(&kv, 1, "k");
  pw_fixed64(&s, 8, T0 + 99);
  pw_sub(&s, 9, &kv);
  pw_str(&s, 5, "first-name");
  pw_fixed64(&s, 7, T0);
  pw_uint(&s, 6, 3);
  pw_bytes(&s, 2, sid, 8);
  pw_bytes(&s, 1, other, 16);
  pw_bytes(&s, 1, TID, 16); /* the last trace ID counts */
  pw_str(&s, 5, "second-name");
  pw_uint(&s, 6, 2);
  pw_fixed32(&s, 16, 1);
  pw_sub(&ss, 2, &s); /* spans before their scope */
  pw_str(&scope, 2, "v9");
  pw_str(&scope, 1, "lib");
  pw_sub(&ss, 1, &scope);
  pw_str(&rany, 1, "late-svc");
  pw_str(&rkv, 1, "service.name");
  pw_sub(&rkv, 2, &rany);
  pw_sub(&res, 1, &rkv);
  pw_sub(&rs, 2, &ss); /* scope_spans before the resource */
  pw_sub(&rs, 1, &res);
  pw_sub(&req, 1, &rs);
  decoded d;
  decode_bytes(req.b, req.n, &d);
  CHECK_EQ(d.rc, CS_DECODE_OK);
  CHECK_EQ(d.n, 1);
  if (d.n == 1) {
    const cs_span *o = &d.spans[0];
    CHECK(!memcmp(o->trace_id, TID, 16));
    CHECK_EQ(o->span_id[7], 9);
    CHECK_STRN(o->name.p, o->name.n, "second-name");
    CHECK_EQ(o->kind, CS_KIND_SERVER);
    CHECK_EQ(o->flags, 1);
    CHECK(o->end_ns == T0 + 99);
    CHECK_STRN(o->scope_name.p, o->scope_name.n, "lib");
    CHECK_STRN(o->scope_version.p, o->scope_version.n, "v9");
    CHECK_STRN(o->resource->service.p, o->resource->service.n, "late-svc");
    CHECK(o->n_attrs == 1 && o->attrs[0].type == CS_VAL_INT && o->attrs[0].v.i == 42);
    CHECK_STRN(o->attrs[0].key.p, o->attrs[0].key.n, "k");
  }
  cs_arena_release(&d.a);
  pw_free(&any), pw_free(&kv), pw_free(&s), pw_free(&scope), pw_free(&ss), pw_free(&res);
  pw_free(&rkv), pw_free(&rany), pw_free(&rs), pw_free(&req);
}

/* A singular submessage given twice merges field by field (protobuf's
 * rule): status code from one, message from the other; a later empty
 * AnyValue leaves the earlier value. */
static void wire_repeated_submessages_merge(void) {
  pw s = {0}, st1 = {0}, st2 = {0}, any1 = {0}, any2 = {0}, kv = {0};
  span_fields(&s, 1, "op");
  pw_uint(&st1, 3, 2);
  pw_str(&st2, 2, "boom");
  pw_sub(&s, 15, &st1);
  pw_sub(&s, 15, &st2);
  pw_str(&any1, 1, "kept");
  pw_str(&kv, 1, "k");
  pw_sub(&kv, 2, &any1);
  pw_sub(&kv, 2, &any2); /* empty */
  pw_sub(&s, 9, &kv);
  decoded d;
  CHECK_EQ(decode_one(&s, &d), CS_DECODE_OK);
  CHECK_EQ(d.n, 1);
  if (d.n == 1) {
    CHECK_EQ(d.spans[0].status_code, CS_STATUS_ERROR);
    CHECK_STRN(d.spans[0].status_msg.p, d.spans[0].status_msg.n, "boom");
    CHECK(d.spans[0].n_attrs == 1 && d.spans[0].attrs[0].type == CS_VAL_STR);
    if (d.spans[0].n_attrs) CHECK_STRN(d.spans[0].attrs[0].v.s.p, d.spans[0].attrs[0].v.s.n, "kept");
  }
  cs_arena_release(&d.a);
  pw_free(&s), pw_free(&st1), pw_free(&st2), pw_free(&any1), pw_free(&any2), pw_free(&kv);
}

/* Huge counts cost a count, not memory: 200k attributes, 100k events, 100k
 * empty spans. Each payload decodes (its spans rejected) within a few
 * times its size in arena (plus one ordinary chunk), where protobuf-c's
 * structs took 20 to 40 times. */
static void wire_huge_counts_are_bounded(void) {
  pw s = {0}, req = {0};
  span_fields(&s, 1, "op");
  for (int i = 0; i < 200000; i++) pw_raw(&s, "\x4a\x03\x0a\x01k", 5); /* attributes { key "k" } */
  decoded d;
  CHECK_EQ(decode_one(&s, &d), CS_DECODE_OK);
  CHECK_EQ(d.rej.n[CS_REJ_TOO_MANY_ATTRS], 1);
  CHECK(d.a.reserved < s.n * 4 + cs_decode_arena_chunk(s.n));
  cs_arena_release(&d.a);
  pw_reset(&s);
  span_fields(&s, 1, "op");
  for (int i = 0; i < 100000; i++) pw_raw(&s, "\x5a\x03\x12\x01\x65", 5); /* events { name "e" } */
  CHECK_EQ(decode_one(&s, &d), CS_DECODE_OK);
  CHECK_EQ(d.rej.n[CS_REJ_TOO_MANY_EVENTS], 1);
  CHECK(d.a.reserved < s.n * 4 + cs_decode_arena_chunk(s.n));
  cs_arena_release(&d.a);
  pw ss = {0}, rs = {0};
  for (int i = 0; i < 100000; i++) pw_raw(&ss, "\x12\x00", 2); /* spans {} */
  pw_sub(&rs, 2, &ss);
  pw_sub(&req, 1, &rs);
  decode_bytes(req.b, req.n, &d);
  CHECK_EQ(d.rc, CS_DECODE_OK);
  CHECK_EQ(d.n, 0);
  CHECK_EQ(d.rej.n[CS_REJ_TRACE_ID_LEN], 100000);
  CHECK(d.a.reserved < req.n * 4 + cs_decode_arena_chunk(req.n));
  cs_arena_release(&d.a);
  pw_free(&s), pw_free(&req), pw_free(&ss), pw_free(&rs);
}

/* Strings end at a NUL byte (as protobuf-c's C strings did); bytes values
 * keep theirs. Numbers read as protobuf-c reads them: enums from the low 32
 * bits of a varint, a bool from any non-zero bit, int64 from 10 bytes. */
static void wire_strings_and_numbers(void) {
  pw s = {0}, a1 = {0}, k1 = {0}, a2 = {0}, k2 = {0}, a3 = {0}, k3 = {0};
  span_fields(&s, 1, "op");
  pw_bytes(&s, 5, "ab\0cd", 5);
  pw_uint(&s, 6, (1ull << 32) | 3); /* kind: low 32 bits, CLIENT */
  pw_bytes(&a1, 7, "a\0b", 3);
  pw_bytes(&k1, 1, "ke\0y", 4);
  pw_sub(&k1, 2, &a1);
  pw_sub(&s, 9, &k1);
  pw_uint(&a2, 3, (uint64_t)-5);
  pw_str(&k2, 1, "i");
  pw_sub(&k2, 2, &a2);
  pw_sub(&s, 9, &k2);
  pw_raw(&a3, "\x10\x80\x00", 3); /* bool_value: a two-byte zero */
  pw_str(&k3, 1, "b");
  pw_sub(&k3, 2, &a3);
  pw_sub(&s, 9, &k3);
  decoded d;
  CHECK_EQ(decode_one(&s, &d), CS_DECODE_OK);
  CHECK_EQ(d.n, 1);
  if (d.n == 1 && d.spans[0].n_attrs == 3) {
    const cs_span *o = &d.spans[0];
    CHECK_STRN(o->name.p, o->name.n, "ab");
    CHECK_EQ(o->kind, CS_KIND_CLIENT);
    CHECK_STRN(o->attrs[0].key.p, o->attrs[0].key.n, "ke");
    CHECK(o->attrs[0].type == CS_VAL_BYTES && o->attrs[0].v.s.n == 3 &&
          !memcmp(o->attrs[0].v.s.p, "a\0b", 3));
    CHECK(o->attrs[1].type == CS_VAL_INT && o->attrs[1].v.i == -5);
    CHECK(o->attrs[2].type == CS_VAL_BOOL && o->attrs[2].v.b == 0);
  } else {
    CHECK(0);
  }
  cs_arena_release(&d.a);
  pw_free(&s), pw_free(&a1), pw_free(&k1), pw_free(&a2), pw_free(&k2), pw_free(&a3), pw_free(&k3);
}

/* Messages nest at most 40 deep: a value whose innermost AnyValue sits at
 * depth 39 is only rejected (too deep a value), one level more fails the
 * payload. Depth: request 0, ResourceSpans 1, ScopeSpans 2, Span 3,
 * KeyValue 4, AnyValue 5, then 2 per array. */
static void wire_nesting_limit_is_exact(void) {
  for (int extra = 0; extra < 2; extra++) {
    pw v = {0}, t = {0};
    pw_uint(&v, 3, 1);
    for (int k = 0; k < 17 + extra; k++) {
      pw arr = {0};
      pw_sub(&arr, 1, &v);
      pw_reset(&t);
      pw_sub(&t, 5, &arr);
      pw_reset(&v);
      pw_raw(&v, t.b, t.n);
      pw_free(&arr);
    }
    pw kv = {0}, s = {0};
    pw_str(&kv, 1, "deep");
    pw_sub(&kv, 2, &v);
    span_fields(&s, 1, "op");
    pw_sub(&s, 9, &kv);
    decoded d;
    decode_one(&s, &d);
    CHECK_EQ(d.rc, extra ? CS_DECODE_EPROTO : CS_DECODE_OK);
    if (!extra) CHECK_EQ(d.rej.n[CS_REJ_TOO_DEEP], 1);
    cs_arena_release(&d.a);
    pw_free(&v), pw_free(&t), pw_free(&kv), pw_free(&s);
  }
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
  RUN(wire_skips_unknown_fields);
  RUN(wire_refuses_groups_and_wrong_wire_types);
  RUN(wire_refuses_truncated_and_overlong);
  RUN(wire_fields_in_any_order_last_wins);
  RUN(wire_repeated_submessages_merge);
  RUN(wire_huge_counts_are_bounded);
  RUN(wire_strings_and_numbers);
  RUN(wire_nesting_limit_is_exact);
  RUN(decode_metrics_counts_points);
  RUN(parse_durations_and_numbers);
  return CHECK_DONE();
}
