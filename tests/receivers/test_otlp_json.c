/* OTLP JSON into spans (collector/otlp_json.c): the OTLP JSON rules (hex
 * IDs, integer or named enums, 64-bit integers as strings or numbers,
 * unknown fields ignored) and the same validation as protobuf bodies. */
#include <stdlib.h>

#include "check.h"
#include "otlp_json.h"

static const char *GOOD =
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"svc\"}}]},"
    "\"scopeSpans\":[{\"scope\":{\"name\":\"lib\",\"version\":\"1\"},\"futureField\":{\"x\":[1,2]},\"spans\":[{"
    "\"traceId\":\"5B8EFFF798038103D269B633813FC60C\",\"spanId\":\"eee19b7ec3c1b174\",\"parentSpanId\":\"eee19b7ec3c1b173\","
    "\"name\":\"op\",\"kind\":\"SPAN_KIND_CLIENT\",\"startTimeUnixNano\":\"1700000000123456789\","
    "\"endTimeUnixNano\":1700000000223456789,\"flags\":257,"
    "\"attributes\":[{\"key\":\"big\",\"value\":{\"intValue\":\"9007199254740993\"}},"
    "{\"key\":\"d\",\"value\":{\"doubleValue\":2.5}},{\"key\":\"b\",\"value\":{\"boolValue\":true}},"
    "{\"key\":\"raw\",\"value\":{\"bytesValue\":\"aGk=\"}},"
    "{\"key\":\"arr\",\"value\":{\"arrayValue\":{\"values\":[{\"stringValue\":\"a\"},{\"intValue\":3}]}}},"
    "{\"key\":\"sessionId\",\"value\":{\"stringValue\":\"S-1\"}}],"
    "\"events\":[{\"timeUnixNano\":\"1700000000130000000\",\"name\":\"ev\",\"attributes\":[{\"key\":\"k\",\"value\":{\"stringValue\":\"v\"}}]}],"
    "\"links\":[{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0102030405060708\",\"traceState\":\"a=b\"}],"
    "\"status\":{\"code\":2,\"message\":\"bad\"}},"
    "{\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b1\",\"name\":\"short id\",\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\"},"
    "{\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b175\",\"name\":\"backwards\",\"startTimeUnixNano\":\"5\",\"endTimeUnixNano\":\"4\"}"
    "]}]}]}";

static int decode(const char *json, cs_arena *a, cs_span **spans, size_t *n, cs_reject_counts *rej) {
  cs_limits lim;
  cs_limits_default(&lim);
  memset(rej, 0, sizeof *rej);
  char err[256];
  return cs_decode_traces_json(json, strlen(json), a, &lim, spans, n, rej, err, sizeof err);
}

static const cs_attr *attr(const cs_span *s, const char *k) {
  for (uint32_t i = 0; i < s->n_attrs; i++)
    if (s->attrs[i].key.n == strlen(k) && !memcmp(s->attrs[i].key.p, k, s->attrs[i].key.n))
      return &s->attrs[i];
  return NULL;
}

static void otlp_json_decodes_every_field(void) {
  cs_arena a;
  cs_arena_init(&a, 4096, 1 << 22);
  cs_span *s;
  size_t n;
  cs_reject_counts rej;
  CHECK_EQ(decode(GOOD, &a, &s, &n, &rej), CS_DECODE_OK);
  CHECK_EQ(n, 1);
  CHECK_EQ(rej.n[CS_REJ_SPAN_ID_LEN], 1);
  CHECK_EQ(rej.n[CS_REJ_END_BEFORE_START], 1);
  if (n != 1) return;
  CHECK_EQ(s->trace_id[0], 0x5b);
  CHECK_EQ(s->trace_id[15], 0x0c);
  CHECK_EQ(s->span_id[7], 0x74);
  CHECK_EQ(s->parent_id[7], 0x73);
  CHECK(s->start_ns == 1700000000123456789ull); /* not through a double */
  CHECK(s->end_ns == 1700000000223456789ull);
  CHECK_EQ(s->kind, CS_KIND_CLIENT);
  CHECK_EQ(s->flags, 257);
  CHECK_EQ(s->status_code, CS_STATUS_ERROR);
  CHECK_STRN(s->status_msg.p, s->status_msg.n, "bad");
  CHECK_STRN(s->resource->service.p, s->resource->service.n, "svc");
  CHECK_STRN(s->scope_name.p, s->scope_name.n, "lib");
  const cs_attr *at = attr(s, "big");
  CHECK(at && at->type == CS_VAL_INT && at->v.i == 9007199254740993ll);
  at = attr(s, "d");
  CHECK(at && at->type == CS_VAL_DOUBLE && at->v.d == 2.5);
  at = attr(s, "b");
  CHECK(at && at->type == CS_VAL_BOOL && at->v.b);
  at = attr(s, "raw");
  CHECK(at && at->type == CS_VAL_BYTES && at->v.s.n == 2 && !memcmp(at->v.s.p, "hi", 2));
  at = attr(s, "arr");
  CHECK(at && at->type == CS_VAL_ARRAY);
  if (at) CHECK_STRN(at->v.s.p, at->v.s.n, "[\"a\",3]");
  CHECK_STRN(s->session_id.p, s->session_id.n, "S-1");
  CHECK_EQ(s->n_events, 1);
  CHECK(s->events[0].time_ns == 1700000000130000000ull);
  CHECK_EQ(s->events[0].n_attrs, 1);
  CHECK_EQ(s->n_links, 1);
  CHECK_EQ(s->links[0].trace_id[15], 0x10);
  CHECK_EQ(s->links[0].span_id[0], 0x01);
  CHECK_STRN(s->links[0].trace_state.p, s->links[0].trace_state.n, "a=b");
  cs_arena_release(&a);
}

static void otlp_json_rejects_bad_bodies(void) {
  static const char *bad[] = {
      "[]",                                                           /* not an object */
      "{\"resourceSpans\":{}}",                                       /* repeated not array */
      "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"xyz0\"}]}]}]}", /* not hex */
      "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"abc\"}]}]}]}",  /* odd */
      "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":5}]}]}]}",           /* type */
      "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"startTimeUnixNano\":\"1.5\"}]}]}]}",
      "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"startTimeUnixNano\":\"-1\"}]}]}]}",
      "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"kind\":true}]}]}]}",
      "{\"resourceSpans\":[{\"resource\":[]}]}",                        /* message not object */
      "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":[{\"key\":\"k\",\"value\":{\"bytesValue\":\"!!\"}}]}]}]}]}",
      "{\"resourceSpans\":[",                                         /* truncated */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cs_arena a;
    cs_arena_init(&a, 4096, 1 << 20);
    cs_span *s;
    size_t n;
    cs_reject_counts rej;
    int rc = decode(bad[i], &a, &s, &n, &rej);
    if (rc != CS_DECODE_EPROTO) fprintf(stderr, "accepted: %s\n", bad[i]);
    CHECK_EQ(rc, CS_DECODE_EPROTO);
    cs_arena_release(&a);
  }
}

static void otlp_json_nulls_and_unknown_fields_are_ignored(void) {
  const char *j = "{\"resourceSpans\":[{\"resource\":null,\"scopeSpans\":[{\"spans\":[{"
                  "\"trace_id\":\"0102030405060708090a0b0c0d0e0f10\",\"span_id\":\"0102030405060708\","
                  "\"name\":null,\"start_time_unix_nano\":10,\"endTimeUnixNano\":\"20\",\"unknown\":[{}],"
                  "\"kind\":\"SPAN_KIND_FROM_THE_FUTURE\"}]}]}],\"extra\":1}";
  cs_arena a;
  cs_arena_init(&a, 4096, 1 << 20);
  cs_span *s;
  size_t n;
  cs_reject_counts rej;
  CHECK_EQ(decode(j, &a, &s, &n, &rej), CS_DECODE_OK);
  CHECK_EQ(n, 1);
  if (n == 1) {
    CHECK_EQ(s->name.n, 0);
    CHECK(s->start_ns == 10 && s->end_ns == 20);
    CHECK_STRN(s->resource->service.p, s->resource->service.n, "unknown_service");
  }
  cs_arena_release(&a);
}

static void otlp_json_metrics_decode(void) {
  const char *j =
      "{\"resourceMetrics\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"m\"}}]},"
      "\"scopeMetrics\":[{\"metrics\":[{\"name\":\"c\",\"sum\":{\"aggregationTemporality\":2,\"isMonotonic\":true,"
      "\"dataPoints\":[{\"asInt\":\"5\",\"timeUnixNano\":\"1700000000000000000\"}]}},"
      "{\"name\":\"h\",\"histogram\":{\"aggregationTemporality\":1,\"dataPoints\":[{\"count\":\"3\",\"sum\":7.5,"
      "\"bucketCounts\":[\"1\",\"2\"],\"explicitBounds\":[5],\"min\":1,\"max\":5}]}}]}]}]}";
  cs_arena a;
  cs_arena_init(&a, 4096, 1 << 20);
  cs_limits lim;
  cs_limits_default(&lim);
  cs_otlp_metrics *m;
  cs_resource *res;
  size_t points;
  CHECK_EQ(cs_decode_metrics_json(j, strlen(j), &a, &lim, &m, &res, &points, NULL, 0), CS_DECODE_OK);
  CHECK_EQ(points, 2);
  if (m && m->n_resource_metrics == 1) {
    const Opentelemetry__Proto__Metrics__V1__Metric *c = m->resource_metrics[0]->scope_metrics[0]->metrics[0];
    const Opentelemetry__Proto__Metrics__V1__Metric *h = m->resource_metrics[0]->scope_metrics[0]->metrics[1];
    CHECK(c->sum->is_monotonic && c->sum->data_points[0]->as_int == 5);
    CHECK(h->histogram->data_points[0]->count == 3 && h->histogram->data_points[0]->sum == 7.5);
    CHECK_EQ(h->histogram->data_points[0]->n_bucket_counts, 2);
    CHECK(h->histogram->data_points[0]->bucket_counts[1] == 2);
    CHECK(h->histogram->data_points[0]->explicit_bounds[0] == 5.0);
    CHECK_STRN(res[0].service.p, res[0].service.n, "m");
  } else {
    CHECK(0);
  }
  cs_arena_release(&a);
}

int main(void) {
  RUN(otlp_json_decodes_every_field);
  RUN(otlp_json_rejects_bad_bodies);
  RUN(otlp_json_nulls_and_unknown_fields_are_ignored);
  RUN(otlp_json_metrics_decode);
  return CHECK_DONE();
}
