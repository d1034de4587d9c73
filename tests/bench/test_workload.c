/* Tests of the benchmark workload generator (bench/common/workload.c): the
 * documented shape holds and the same seed gives the same spans. */
#include <stdlib.h>

#include "check.h"
#include "workload.h"

static int same_str(cs_str a, cs_str b) {
  return a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
}

static void workload_is_deterministic(void) {
  cs_workload *w1 = malloc(sizeof *w1), *w2 = malloc(sizeof *w2);
  cs_arena a1, a2;
  cs_arena_init(&a1, 0, 0);
  cs_arena_init(&a2, 0, 0);
  cs_workload_init(w1, 42, 0);
  cs_workload_init(w2, 42, 0);
  for (int t = 0; t < 50; t++) {
    cs_span *s1, *s2;
    size_t n1 = cs_workload_next_trace(w1, &a1, &s1);
    size_t n2 = cs_workload_next_trace(w2, &a2, &s2);
    CHECK_EQ(n1, n2);
    for (size_t i = 0; i < n1 && i < n2; i++) {
      CHECK(memcmp(s1[i].trace_id, s2[i].trace_id, 16) == 0);
      CHECK(memcmp(s1[i].span_id, s2[i].span_id, 8) == 0);
      CHECK_EQ(s1[i].start_ns, s2[i].start_ns);
      CHECK_EQ(s1[i].end_ns, s2[i].end_ns);
      CHECK(same_str(s1[i].name, s2[i].name));
      CHECK(same_str(s1[i].attrs[5].v.s, s2[i].attrs[5].v.s));
    }
  }
  /* A different seed gives different IDs. */
  cs_workload_init(w2, 43, 0);
  cs_span *s1, *s2;
  cs_workload_next_trace(w1, &a1, &s1);
  cs_workload_next_trace(w2, &a2, &s2);
  CHECK(memcmp(s1[0].trace_id, s2[0].trace_id, 16) != 0);
  cs_arena_release(&a1);
  cs_arena_release(&a2);
  free(w1);
  free(w2);
}

static const cs_span *find_span(const cs_span *s, size_t n, const uint8_t id[8]) {
  for (size_t i = 0; i < n; i++)
    if (memcmp(s[i].span_id, id, 8) == 0)
      return &s[i];
  return NULL;
}

static void workload_traces_have_documented_shape(void) {
  cs_workload *w = malloc(sizeof *w);
  cs_arena a;
  cs_arena_init(&a, 0, 0);
  cs_workload_init(w, 7, 0);
  size_t total = 0, errors = 0, min_n = 1000, max_n = 0, bad_nesting = 0, bad_parent = 0;
  size_t kinds[6] = {0}, svc_seen[CS_WORKLOAD_SERVICES] = {0};
  static uint8_t session_seen[CS_WORKLOAD_SESSIONS];
  size_t distinct_sessions = 0;
  const int traces = 5000;
  for (int t = 0; t < traces; t++) {
    cs_span *s;
    size_t n = cs_workload_next_trace(w, &a, &s);
    if (n < min_n)
      min_n = n;
    if (n > max_n)
      max_n = n;
    total += n;
    CHECK(cs_span_is_root(&s[0]));
    for (size_t i = 0; i < n; i++) {
      CHECK(memcmp(s[i].trace_id, s[0].trace_id, 16) == 0);
      CHECK_EQ(s[i].n_attrs, 6);
      CHECK(same_str(s[i].session_id, s[0].session_id));
      CHECK(s[i].session_id.n > 0);
      CHECK(s[i].end_ns > s[i].start_ns);
      CHECK(s[i].resource != NULL);
      if (s[i].status_code == CS_STATUS_ERROR)
        errors++;
      if (s[i].kind < 6)
        kinds[s[i].kind]++;
      for (int k = 0; k < CS_WORKLOAD_SERVICES; k++)
        if (s[i].resource && strcmp(s[i].resource->service.p, cs_workload_service(k)) == 0)
          svc_seen[k]++;
      if (i == 0)
        continue;
      CHECK(!cs_span_is_root(&s[i]));
      const cs_span *p = find_span(s, n, s[i].parent_id);
      if (!p) {
        bad_parent++;
        continue;
      }
      if (s[i].start_ns < p->start_ns || s[i].end_ns > p->end_ns)
        bad_nesting++;
    }
    for (int k = 0; k < CS_WORKLOAD_SESSIONS; k++) {
      if (!session_seen[k] && memcmp(w->sessions[k], s[0].session_id.p, 21) == 0) {
        session_seen[k] = 1;
        distinct_sessions++;
      }
    }
    if (t % 100 == 99)
      cs_arena_reset(&a);
  }
  double avg = (double)total / traces, err_rate = (double)errors / (double)total;
  fprintf(stderr, "  %zu spans, %.2f per trace (%zu..%zu), %.2f%% errors, %zu sessions\n", total,
          avg, min_n, max_n, 100 * err_rate, distinct_sessions);
  CHECK(avg > 18 && avg < 22);
  CHECK(min_n >= 15 && max_n <= CS_WORKLOAD_MAX_TRACE_SPANS);
  CHECK(err_rate > 0.015 && err_rate < 0.025);
  CHECK_EQ(bad_parent, 0);
  CHECK_EQ(bad_nesting, 0);
  CHECK(kinds[CS_KIND_SERVER] > 0 && kinds[CS_KIND_CLIENT] > 0 && kinds[CS_KIND_INTERNAL] > 0);
  for (int k = 0; k < CS_WORKLOAD_SERVICES; k++)
    CHECK(svc_seen[k] > 0);
  CHECK(distinct_sessions > 300);
  CHECK_EQ(w->spans, total);
  cs_arena_release(&a);
  free(w);
}

static void workload_batch_holds_whole_traces(void) {
  cs_workload *w = malloc(sizeof *w);
  cs_arena a;
  cs_arena_init(&a, 0, 0);
  cs_workload_init(w, 9, 0);
  cs_span *s;
  size_t n = cs_workload_batch(w, &a, 1000, &s);
  CHECK(n >= 1000 && n < 1000 + CS_WORKLOAD_MAX_TRACE_SPANS);
  CHECK_EQ(w->spans, n);
  /* The last span's trace starts inside the batch: traces are not split. */
  size_t roots = 0;
  for (size_t i = 0; i < n; i++)
    roots += cs_span_is_root(&s[i]);
  CHECK_EQ(roots, w->traces);
  CHECK(cs_span_is_root(&s[0]));
  cs_arena_release(&a);
  free(w);
}

int main(void) {
  RUN(workload_is_deterministic);
  RUN(workload_traces_have_documented_shape);
  RUN(workload_batch_holds_whole_traces);
  return CHECK_DONE();
}
