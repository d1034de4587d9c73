/* Spans end to end through a fake collector: what the caller records
 * (attributes, events, links, status, kinds, parents, scopes, limits,
 * session IDs) is what arrives, decoded by protobuf-c. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "callscope/trace.h"
#include "check.h"
#include "fake_collector.h"
#include "internal.h"

static fake_collector fc;

/* Flushes and waits until the fake collector has decoded n more spans. */
static void sync_spans(cst_tracer *t, size_t before, size_t n) {
  CHECK_EQ(cst_tracer_flush(t, 5000), CST_OK);
  CHECK(fc_wait(&fc, before + n, 3000));
}

static cst_tracer *mk(const char *service) {
  cst_config cfg;
  cst_config_defaults(&cfg);
  char ep[64];
  cfg.endpoint = fc_endpoint(&fc, ep, sizeof ep);
  cfg.service_name = service;
  cfg.service_version = "1.2.3";
  cfg.resource_attributes = "deployment.environment=test,team=a%2Cb";
  cst_tracer *t = NULL;
  CHECK_EQ(cst_tracer_new(&cfg, &t), CST_OK);
  return t;
}

static void span_fields_arrive_intact(void) {
  cst_tracer *t = mk("svc-a");
  cst_span *root = cst_span_start(t, "GET /orders", CST_KIND_SERVER, NULL);
  cst_span_set_str(root, "http.method", "GET");
  cst_span_set_int(root, "http.status_code", 503);
  cst_span_set_double(root, "ratio", 0.25);
  cst_span_set_bool(root, "cache.hit", 0);
  cst_span_set_strn(root, "bytes", "abcdef", 3);
  cst_attr ev[] = {CST_STR("retry.reason", "timeout"), CST_INT("attempt", 2)};
  cst_span_add_event(root, "retry", ev, 2);
  cst_span_set_status(root, CST_STATUS_ERROR, "upstream unavailable");
  cst_span *child = cst_span_start(t, "SELECT", CST_KIND_CLIENT, cst_span_context(root));
  cst_span_add_link(child, cst_span_context(root), NULL, 0);
  cst_span_end(child);
  cst_span_end(root);
  sync_spans(t, 0, 2);
  fc_span r, c;
  CHECK(fc_find(&fc, "GET /orders", &r));
  CHECK(fc_find(&fc, "SELECT", &c));
  CHECK_EQ(r.kind, CST_KIND_SERVER);
  CHECK_EQ(c.kind, CST_KIND_CLIENT);
  CHECK_EQ(r.has_parent, 0);
  CHECK_EQ(c.has_parent, 1);
  CHECK(memcmp(c.parent, r.span_id, 8) == 0);
  CHECK(memcmp(c.trace_id, r.trace_id, 16) == 0);
  CHECK(memcmp(c.link0_trace, r.trace_id, 16) == 0);
  CHECK(memcmp(c.link0_span, r.span_id, 8) == 0);
  CHECK_EQ(c.link0_flags, 0x101);
  CHECK_EQ(r.flags, 0x101); /* sampled, parent-is-remote known and false */
  CHECK_STR(r.service, "svc-a");
  const fc_attr *a = fc_attr_get(&r, "http.method");
  CHECK(a && a->type == 1 && strcmp(a->s, "GET") == 0);
  a = fc_attr_get(&r, "http.status_code");
  CHECK(a && a->type == 3 && a->i == 503);
  a = fc_attr_get(&r, "ratio");
  CHECK(a && a->type == 4 && a->d == 0.25);
  a = fc_attr_get(&r, "cache.hit");
  CHECK(a && a->type == 2 && a->i == 0);
  a = fc_attr_get(&r, "bytes");
  CHECK(a && strcmp(a->s, "abc") == 0);
  CHECK_EQ(r.n_events, 1);
  CHECK_STR(r.event0, "retry");
  CHECK_EQ(r.event0_attrs, 2);
  CHECK_EQ(r.status, CST_STATUS_ERROR);
  CHECK_STR(r.status_msg, "upstream unavailable");
  CHECK(r.start > 0 && r.end >= r.start);
  cst_tracer_free(t);
}

static void resource_has_service_and_env_attributes(void) {
  /* Decoded by hand from the resource bytes the tracer built. */
  cst_tracer *t = mk("svc-res");
  const char *want[] = {"service.name",
                        "svc-res",
                        "service.version",
                        "1.2.3",
                        "deployment.environment",
                        "test",
                        "team",
                        "a,b",
                        "telemetry.sdk.name",
                        "callscope-trace"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    CHECK(memmem(t->resource_pb, t->resource_len, want[i], strlen(want[i])) != NULL);
  CHECK(memmem(t->resource_pb, t->resource_len, "process.pid", 11) != NULL);
  CHECK(memmem(t->resource_pb, t->resource_len, "host.name", 9) != NULL);
  cst_tracer_free(t);
}

static void same_key_twice_keeps_last_value(void) {
  cst_tracer *t = mk("svc-b");
  size_t before = fc_count(&fc);
  cst_span *s = cst_span_start(t, "dup", CST_KIND_INTERNAL, NULL);
  cst_span_set_str(s, "k", "first");
  cst_span_set_str(s, "k", "second");
  cst_span_end(s);
  sync_spans(t, before, 1);
  fc_span r;
  CHECK(fc_find(&fc, "dup", &r));
  CHECK_EQ(r.n_all_attrs, 1);
  const fc_attr *a = fc_attr_get(&r, "k");
  CHECK(a && strcmp(a->s, "second") == 0);
  cst_tracer_free(t);
}

static void limits_drop_and_count(void) {
  cst_tracer *t = mk("svc-c");
  size_t before = fc_count(&fc);
  cst_span *s = cst_span_start(t, "many", CST_KIND_INTERNAL, NULL);
  char key[32];
  for (int i = 0; i < 200; i++) {
    snprintf(key, sizeof key, "k%d", i);
    cst_span_set_int(s, key, i);
  }
  for (int i = 0; i < 130; i++)
    cst_span_add_event(s, "e", NULL, 0);
  cst_span_end(s);
  /* A value larger than the span byte cap is dropped, not truncated. */
  cst_span *big = cst_span_start(t, "big", CST_KIND_INTERNAL, NULL);
  char *huge = malloc(40000);
  memset(huge, 'x', 39999);
  huge[39999] = 0;
  cst_span_set_str(big, "huge", huge);
  cst_span_set_str(big, "small", "ok");
  free(huge);
  cst_span_end(big);
  sync_spans(t, before, 2);
  fc_span r, b;
  CHECK(fc_find(&fc, "many", &r));
  CHECK_EQ(r.n_all_attrs, CST_MAX_ATTRIBUTES);
  CHECK_EQ(r.dropped_attrs, 200 - CST_MAX_ATTRIBUTES);
  CHECK_EQ(r.n_events, CST_MAX_EVENTS);
  CHECK_EQ(r.dropped_events, 2);
  CHECK(fc_find(&fc, "big", &b));
  CHECK_EQ(b.dropped_attrs, 1);
  CHECK(fc_attr_get(&b, "small") != NULL);
  cst_stats st;
  cst_tracer_stats(t, &st);
  CHECK_EQ(st.dropped_attributes, 200 - CST_MAX_ATTRIBUTES + 2 + 1);
  cst_tracer_free(t);
}

static void scope_sets_default_parent_and_restores(void) {
  cst_tracer *t = mk("svc-d");
  size_t before = fc_count(&fc);
  CHECK(cst_current_span() == NULL);
  cst_span *outer = cst_span_start(t, "outer", CST_KIND_SERVER, NULL);
  cst_scope so = cst_scope_enter(outer);
  CHECK(cst_current_span() == outer);
  cst_span *inner = cst_span_start(t, "inner", CST_KIND_INTERNAL, NULL);
  {
    CST_SCOPED(inner);
    CHECK(cst_current_span() == inner);
    cst_span *leaf = cst_span_start(t, "leaf", CST_KIND_INTERNAL, NULL);
    cst_span_end(leaf);
    cst_span_end(inner); /* ending inside its own scope is allowed */
    CHECK(cst_current_span() == outer);
  }
  CHECK(cst_current_span() == outer);
  cst_span *root2 = cst_span_start_opts(t, "root2", &(cst_span_opts){.new_root = 1});
  cst_span_end(root2);
  cst_scope_exit(so);
  CHECK(cst_current_span() == NULL);
  cst_span_end(outer);
  sync_spans(t, before, 4);
  fc_span o, i, l, r2;
  CHECK(fc_find(&fc, "outer", &o));
  CHECK(fc_find(&fc, "inner", &i));
  CHECK(fc_find(&fc, "leaf", &l));
  CHECK(fc_find(&fc, "root2", &r2));
  CHECK(memcmp(i.parent, o.span_id, 8) == 0);
  CHECK(memcmp(l.parent, i.span_id, 8) == 0);
  CHECK(memcmp(l.trace_id, o.trace_id, 16) == 0);
  CHECK_EQ(r2.has_parent, 0);
  CHECK(memcmp(r2.trace_id, o.trace_id, 16) != 0);
  cst_tracer_free(t);
}

static void unsampled_spans_record_nothing_but_propagate(void) {
  cst_config cfg;
  cst_config_defaults(&cfg);
  char ep[64];
  cfg.endpoint = fc_endpoint(&fc, ep, sizeof ep);
  cfg.sampler = CST_SAMPLER_PARENT_ALWAYS_OFF;
  cst_tracer *t;
  CHECK_EQ(cst_tracer_new(&cfg, &t), CST_OK);
  size_t before = fc_count(&fc);
  cst_span *s = cst_span_start(t, "off", CST_KIND_SERVER, NULL);
  CHECK(!cst_span_is_recording(s));
  CHECK(cst_context_is_valid(cst_span_context(s)));
  CHECK(!cst_context_is_sampled(cst_span_context(s)));
  cst_span_set_str(s, "ignored", "x");
  CHECK_EQ(cst_span_set_session(s, "sess-off"), CST_OK); /* baggage flows regardless */
  cst_span *c = cst_span_start(t, "off-child", CST_KIND_CLIENT, cst_span_context(s));
  CHECK_STR(cst_context_session(cst_span_context(c)), "sess-off");
  cst_span_end(c);
  cst_span_end(s);
  cst_tracer_flush(t, 3000);
  CHECK_EQ(fc_count(&fc), before);
  cst_stats st;
  cst_tracer_stats(t, &st);
  CHECK_EQ(st.spans_started, 2);
  CHECK_EQ(st.spans_sampled, 0);
  cst_tracer_free(t);
}

static void null_tracer_gives_inert_span(void) {
  cst_span *s = cst_span_start(NULL, "x", CST_KIND_SERVER, NULL);
  CHECK(s != NULL);
  CHECK(!cst_span_is_recording(s));
  cst_span_set_str(s, "a", "b");
  cst_span_add_event(s, "e", NULL, 0);
  CHECK(cst_span_set_session(s, "x") != CST_OK);
  cst_span_end(s);
  cst_span_end(NULL);
  cst_tracer_free(NULL);
}

static void session_id_is_an_attribute_of_every_span_in_the_flow(void) {
  cst_tracer *t = mk("svc-e");
  size_t before = fc_count(&fc);
  cst_span *edge = cst_span_start(t, "edge", CST_KIND_SERVER, NULL);
  CHECK_EQ(cst_span_set_session(edge, "user-42"), CST_OK);
  CST_SCOPED(edge);
  cst_span *a = cst_span_start(t, "work", CST_KIND_INTERNAL, NULL);
  cst_span *b = cst_span_start(t, "call", CST_KIND_CLIENT, cst_span_context(a));
  cst_span_end(b);
  cst_span_end(a);
  cst_span_end(edge);
  sync_spans(t, before, 3);
  const char *names[] = {"edge", "work", "call"};
  for (int i = 0; i < 3; i++) {
    fc_span s;
    CHECK(fc_find(&fc, names[i], &s));
    const fc_attr *at = fc_attr_get(&s, "session.id");
    CHECK(at && strcmp(at->s, "user-42") == 0);
  }
  cst_tracer_free(t);
}

int main(void) {
  if (fc_start(&fc, 1, 0) != 0)
    return 2;
  RUN(span_fields_arrive_intact);
  RUN(resource_has_service_and_env_attributes);
  RUN(same_key_twice_keeps_last_value);
  RUN(limits_drop_and_count);
  RUN(scope_sets_default_parent_and_restores);
  RUN(unsampled_spans_record_nothing_but_propagate);
  RUN(null_tracer_gives_inert_span);
  RUN(session_id_is_an_attribute_of_every_span_in_the_flow);
  fc_free(&fc);
  return CHECK_DONE();
}
