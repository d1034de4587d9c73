/* Zipkin v2 JSON into spans (collector/recv_zipkin.c): IDs of both
 * widths, endpoints, kind, shared spans, annotations, tags, error, and
 * the spans that must be rejected. */
#include "check.h"
#include "zipkin.h"

static int decode(const char *j, cs_arena *a, cs_span **s, size_t *n, cs_reject_counts *rej) {
  cs_limits lim;
  cs_limits_default(&lim);
  memset(rej, 0, sizeof *rej);
  return cs_zipkin_decode(j, strlen(j), a, &lim, s, n, rej, NULL, 0);
}

static const cs_attr *attr(const cs_attr *attrs, uint32_t n, const char *k) {
  for (uint32_t i = 0; i < n; i++)
    if (attrs[i].key.n == strlen(k) && !memcmp(attrs[i].key.p, k, attrs[i].key.n)) return &attrs[i];
  return NULL;
}

static void zipkin_maps_fields(void) {
  const char *j =
      "[{\"traceId\":\"463ac35c9f6413ad\",\"id\":\"a2fb4a1d1a96d312\",\"parentId\":\"0020000000000001\","
      "\"name\":\"get /api\",\"kind\":\"CLIENT\",\"timestamp\":1700000000123456,\"duration\":2500,"
      "\"localEndpoint\":{\"serviceName\":\"web\",\"ipv4\":\"10.0.0.1\",\"port\":80},"
      "\"remoteEndpoint\":{\"serviceName\":\"db\",\"ipv6\":\"::1\",\"port\":5432},"
      "\"annotations\":[{\"timestamp\":1700000000123500,\"value\":\"ws\"}],"
      "\"tags\":{\"http.path\":\"/api\",\"error\":\"timeout\",\"session_id\":\"S9\"}},"
      "{\"traceId\":\"463ac35c9f6413ad463ac35c9f6413ae\",\"id\":\"a2fb4a1d1a96d312\",\"name\":\"local\","
      "\"timestamp\":1700000000000000}]";
  cs_arena a;
  cs_arena_init(&a, 4096, 1 << 20);
  cs_span *s;
  size_t n;
  cs_reject_counts rej;
  CHECK_EQ(decode(j, &a, &s, &n, &rej), CS_DECODE_OK);
  CHECK_EQ(n, 2);
  if (n != 2) return;
  static const uint8_t tid64[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0x46, 0x3a, 0xc3, 0x5c, 0x9f, 0x64, 0x13, 0xad};
  CHECK(!memcmp(s[0].trace_id, tid64, 16)); /* 64-bit ID padded with leading zeros */
  CHECK_EQ(s[1].trace_id[0], 0x46);
  CHECK_EQ(s[1].trace_id[15], 0xae);
  CHECK_EQ(s[0].span_id[0], 0xa2);
  CHECK_EQ(s[0].parent_id[1], 0x20);
  CHECK(s[0].start_ns == 1700000000123456000ull);
  CHECK(s[0].end_ns == 1700000000125956000ull);
  CHECK_EQ(s[0].kind, CS_KIND_CLIENT);
  CHECK_EQ(s[1].kind, CS_KIND_INTERNAL);
  CHECK(cs_span_is_root(&s[1]));
  CHECK_STRN(s[0].resource->service.p, s[0].resource->service.n, "web");
  const cs_attr *at = attr(s[0].resource->attrs, s[0].resource->n_attrs, "net.host.ip");
  CHECK(at && at->v.s.n == 8);
  at = attr(s[0].attrs, s[0].n_attrs, "peer.service");
  CHECK(at && at->type == CS_VAL_STR && at->v.s.n == 2);
  at = attr(s[0].attrs, s[0].n_attrs, "net.peer.ip");
  CHECK(at && at->v.s.n == 3);
  at = attr(s[0].attrs, s[0].n_attrs, "net.peer.port");
  CHECK(at && at->type == CS_VAL_INT && at->v.i == 5432);
  at = attr(s[0].attrs, s[0].n_attrs, "http.path");
  CHECK(at && at->type == CS_VAL_STR);
  CHECK_EQ(s[0].status_code, CS_STATUS_ERROR);
  CHECK_STRN(s[0].status_msg.p, s[0].status_msg.n, "timeout");
  CHECK_STRN(s[0].session_id.p, s[0].session_id.n, "S9");
  CHECK_EQ(s[0].n_events, 1);
  CHECK(s[0].events[0].time_ns == 1700000000123500000ull);
  CHECK_STRN(s[0].events[0].name.p, s[0].events[0].name.n, "ws");
  CHECK_STRN(s[1].resource->service.p, s[1].resource->service.n, "unknown_service");
  cs_arena_release(&a);
}

static void zipkin_shared_server_span_gets_own_id(void) {
  const char *j =
      "[{\"traceId\":\"463ac35c9f6413ad\",\"id\":\"a2fb4a1d1a96d312\",\"kind\":\"CLIENT\",\"timestamp\":10,\"duration\":5},"
      "{\"traceId\":\"463ac35c9f6413ad\",\"id\":\"a2fb4a1d1a96d312\",\"kind\":\"SERVER\",\"shared\":true,\"timestamp\":11,\"duration\":3}]";
  cs_arena a;
  cs_arena_init(&a, 4096, 1 << 20);
  cs_span *s;
  size_t n;
  cs_reject_counts rej;
  CHECK_EQ(decode(j, &a, &s, &n, &rej), CS_DECODE_OK);
  CHECK_EQ(n, 2);
  if (n != 2) return;
  CHECK(memcmp(s[0].span_id, s[1].span_id, 8) != 0);
  CHECK(!memcmp(s[1].parent_id, s[0].span_id, 8));
  uint8_t again[8];
  cs_zipkin_shared_id(s[0].span_id, again);
  CHECK(!memcmp(again, s[1].span_id, 8)); /* stable across resends */
  CHECK(attr(s[1].attrs, s[1].n_attrs, "zipkin.shared") != NULL);
  cs_arena_release(&a);
}

static void zipkin_rejects_bad_spans_and_bodies(void) {
  const char *j =
      "[{\"traceId\":\"463ac35c9f6413\",\"id\":\"a2fb4a1d1a96d312\",\"timestamp\":1},"   /* short trace ID */
      "{\"traceId\":\"463ac35c9f6413ad\",\"id\":\"a2fb4a1d1a96d3\",\"timestamp\":1},"     /* short span ID */
      "{\"traceId\":\"463ac35c9f6413zz\",\"id\":\"a2fb4a1d1a96d312\",\"timestamp\":1},"   /* not hex */
      "{\"traceId\":\"463ac35c9f6413ad\",\"id\":\"a2fb4a1d1a96d312\"},"                   /* no timestamp */
      "{\"traceId\":\"0000000000000000\",\"id\":\"a2fb4a1d1a96d312\",\"timestamp\":1},"   /* zero */
      "{\"traceId\":\"463ac35c9f6413ad\",\"id\":\"a2fb4a1d1a96d312\",\"timestamp\":\"x\"},"
      "{\"traceId\":\"463ac35c9f6413ad\",\"id\":\"a2fb4a1d1a96d312\",\"timestamp\":1,\"tags\":{\"k\":{}}},"
      "7]";
  cs_arena a;
  cs_arena_init(&a, 4096, 1 << 20);
  cs_span *s;
  size_t n;
  cs_reject_counts rej;
  CHECK_EQ(decode(j, &a, &s, &n, &rej), CS_DECODE_OK);
  CHECK_EQ(n, 0);
  CHECK_EQ(cs_reject_total(&rej), 8);
  CHECK_EQ(rej.n[CS_REJ_TRACE_ID_LEN], 3);
  CHECK_EQ(rej.n[CS_REJ_SPAN_ID_LEN], 1);
  CHECK_EQ(rej.n[CS_REJ_NO_START], 2);
  CHECK_EQ(rej.n[CS_REJ_ZERO_TRACE_ID], 1);
  CHECK_EQ(decode("{\"traceId\":1}", &a, &s, &n, &rej), CS_DECODE_EPROTO);
  CHECK_EQ(decode("[{]", &a, &s, &n, &rej), CS_DECODE_EPROTO);
  cs_arena_release(&a);
}

/* A tiny protobuf writer for zipkin.proto3 test bodies. */
typedef struct pbw {
  uint8_t b[2048];
  size_t n;
} pbw;

static void w_varint(pbw *w, uint64_t v) {
  while (v >= 0x80) w->b[w->n++] = (uint8_t)(v | 0x80), v >>= 7;
  w->b[w->n++] = (uint8_t)v;
}
static void w_bytes(pbw *w, int field, const void *p, size_t n) {
  w_varint(w, (uint64_t)field << 3 | 2);
  w_varint(w, n);
  memcpy(w->b + w->n, p, n);
  w->n += n;
}
static void w_fixed64(pbw *w, int field, uint64_t v) {
  w_varint(w, (uint64_t)field << 3 | 1);
  for (int i = 0; i < 8; i++) w->b[w->n++] = (uint8_t)(v >> (8 * i));
}
static void w_uint(pbw *w, int field, uint64_t v) {
  w_varint(w, (uint64_t)field << 3);
  w_varint(w, v);
}

static void zipkin_protobuf_maps_like_json(void) {
  static const uint8_t tid[8] = {0x46, 0x3a, 0xc3, 0x5c, 0x9f, 0x64, 0x13, 0xad};
  static const uint8_t sid[8] = {0xa2, 0xfb, 0x4a, 0x1d, 0x1a, 0x96, 0xd3, 0x12};
  static const uint8_t pid[8] = {0, 0x20, 0, 0, 0, 0, 0, 1};
  static const uint8_t ip4[4] = {10, 0, 0, 1};
  static const uint8_t ip6[16] = {[15] = 1};
  pbw local = {0}, remote = {0}, ann = {0}, tag1 = {0}, tag2 = {0}, span = {0}, bad = {0}, list = {0};
  w_bytes(&local, 1, "web", 3);
  w_bytes(&local, 2, ip4, 4);
  w_uint(&local, 4, 80);
  w_bytes(&remote, 1, "db", 2);
  w_bytes(&remote, 3, ip6, 16);
  w_uint(&remote, 4, 5432);
  w_fixed64(&ann, 1, 1700000000123500ull);
  w_bytes(&ann, 2, "ws", 2);
  w_bytes(&tag1, 1, "error", 5);
  w_bytes(&tag1, 2, "timeout", 7);
  w_bytes(&tag2, 1, "sessionId", 9);
  w_bytes(&tag2, 2, "S7", 2);
  w_bytes(&span, 1, tid, 8);
  w_bytes(&span, 2, pid, 8);
  w_bytes(&span, 3, sid, 8);
  w_uint(&span, 4, 3); /* PRODUCER */
  w_bytes(&span, 5, "send", 4);
  w_fixed64(&span, 6, 1700000000123456ull);
  w_uint(&span, 7, 2500);
  w_bytes(&span, 8, local.b, local.n);
  w_bytes(&span, 9, remote.b, remote.n);
  w_bytes(&span, 10, ann.b, ann.n);
  w_bytes(&span, 11, tag1.b, tag1.n);
  w_bytes(&span, 11, tag2.b, tag2.n);
  w_uint(&span, 12, 1);  /* debug: ignored */
  w_uint(&span, 99, 7);  /* unknown: ignored */
  w_bytes(&bad, 1, tid, 8);
  w_bytes(&bad, 3, sid, 4); /* 32-bit span ID: rejected */
  w_fixed64(&bad, 6, 1);
  w_bytes(&list, 1, span.b, span.n);
  w_bytes(&list, 1, bad.b, bad.n);

  cs_limits lim;
  cs_limits_default(&lim);
  cs_arena a;
  cs_arena_init(&a, 4096, 1 << 20);
  cs_span *s;
  size_t n;
  cs_reject_counts rej = {0};
  CHECK_EQ(cs_zipkin_decode_proto(list.b, list.n, &a, &lim, &s, &n, &rej, NULL, 0), CS_DECODE_OK);
  CHECK_EQ(n, 1);
  CHECK_EQ(rej.n[CS_REJ_SPAN_ID_LEN], 1);
  if (n == 1) {
    CHECK(s->trace_id[0] == 0 && s->trace_id[8] == 0x46 && s->trace_id[15] == 0xad);
    CHECK(!memcmp(s->span_id, sid, 8) && !memcmp(s->parent_id, pid, 8));
    CHECK_EQ(s->kind, CS_KIND_PRODUCER);
    CHECK_STRN(s->name.p, s->name.n, "send");
    CHECK(s->start_ns == 1700000000123456000ull && s->end_ns == 1700000000125956000ull);
    CHECK_STRN(s->resource->service.p, s->resource->service.n, "web");
    const cs_attr *at = attr(s->resource->attrs, s->resource->n_attrs, "net.host.ip");
    CHECK(at != NULL);
    if (at) CHECK_STRN(at->v.s.p, at->v.s.n, "10.0.0.1");
    at = attr(s->attrs, s->n_attrs, "net.peer.ip");
    CHECK(at != NULL);
    if (at) CHECK_STRN(at->v.s.p, at->v.s.n, "::1");
    at = attr(s->attrs, s->n_attrs, "net.peer.port");
    CHECK(at && at->v.i == 5432);
    CHECK_EQ(s->status_code, CS_STATUS_ERROR);
    CHECK_STRN(s->session_id.p, s->session_id.n, "S7");
    CHECK_EQ(s->n_events, 1);
    if (s->n_events) CHECK(s->events[0].time_ns == 1700000000123500000ull);
  }
  /* Truncated and malformed messages are refused as a whole. */
  CHECK_EQ(cs_zipkin_decode_proto(list.b, list.n - 3, &a, &lim, &s, &n, &rej, NULL, 0), CS_DECODE_EPROTO);
  static const uint8_t junk[] = {0x0f, 0xff, 0xff};
  CHECK_EQ(cs_zipkin_decode_proto(junk, sizeof junk, &a, &lim, &s, &n, &rej, NULL, 0), CS_DECODE_EPROTO);
  cs_arena_release(&a);
}

int main(void) {
  RUN(zipkin_protobuf_maps_like_json);
  RUN(zipkin_maps_fields);
  RUN(zipkin_shared_server_span_gets_own_id);
  RUN(zipkin_rejects_bad_spans_and_bodies);
  return CHECK_DONE();
}
