/* libtrace against the real callscope-collector (integration): batches are
 * acknowledged and land in the store with their call tree and session IDs,
 * and with TCP every span ended while the collector was briefly restarting
 * (killed, then started again on the same port) arrives exactly once. The
 * store is read back with cs_store_open after the collector has stopped. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "callscope/trace.h"
#include "check.h"
#include "daemon.h"
#include "store.h"

static const char *bin;

static cst_tracer *tracer_for(int port, int udp) {
  char ep[64];
  snprintf(ep, sizeof ep, "%s://127.0.0.1:%d", udp ? "udp" : "tcp", port);
  cst_config cfg;
  cst_config_defaults(&cfg);
  cfg.endpoint = ep;
  cfg.service_name = "itest";
  cfg.batch_max_spans = 50;
  cfg.batch_timeout_ms = 20;
  cfg.backoff_initial_ms = 20;
  cfg.backoff_max_ms = 200;
  cfg.ring_bytes = 1u << 22;
  cfg.shutdown_timeout_ms = 5000;
  cst_tracer *t = NULL;
  CHECK_EQ(cst_tracer_new(&cfg, &t), CST_OK);
  return t;
}

/* Reads one trace back from a stopped collector's data directory. */
static size_t read_trace(const char *dir, const uint8_t tid[16],
                         int (*check)(const cs_span *, size_t)) {
  cs_store_opts o = {.dir = dir};
  cs_store *st;
  char err[256];
  if (cs_store_open(&o, &st, err, sizeof err) != 0) {
    fprintf(stderr, "store open failed: %s\n", err);
    return 0;
  }
  cs_arena a;
  cs_arena_init(&a, 1 << 16, 256u << 20);
  cs_span *spans = NULL;
  size_t n = 0;
  CHECK_EQ(cs_store_get_trace(st, tid, &a, &spans, &n), 0);
  if (check)
    CHECK(check(spans, n));
  cs_arena_release(&a);
  cs_store_close(st);
  return n;
}

static int tree_ok(const cs_span *s, size_t n) {
  int roots = 0, sessions = 0, servers = 0, clients = 0;
  for (size_t i = 0; i < n; i++) {
    roots += cs_span_is_root(&s[i]);
    sessions += s[i].session_id.n == 7 && memcmp(s[i].session_id.p, "user-99", 7) == 0;
    servers += s[i].kind == CS_KIND_SERVER;
    clients += s[i].kind == CS_KIND_CLIENT;
    if (!cs_span_is_root(&s[i])) { /* every parent is in the trace */
      size_t j = 0;
      while (j < n && memcmp(s[j].span_id, s[i].parent_id, 8) != 0)
        j++;
      if (j == n)
        return 0;
    }
  }
  if (roots != 1 || sessions != (int)n || servers != 1 || clients != (int)n - 1)
    fprintf(stderr, "tree: roots %d sessions %d servers %d clients %d of %zu\n", roots, sessions,
            servers, clients, n);
  return roots == 1 && sessions == (int)n && servers == 1 && clients == (int)n - 1;
}

static void batches_acked_and_stored_with_tree_and_session(void) {
  char dir[256], log[300];
  CHECK_EQ(tmpdir_make(dir, sizeof dir), 0);
  snprintf(log, sizeof log, "%s.log", dir);
  daemon_t d;
  if (daemon_start(&d, bin, dir, log, NULL) != 0) {
    CHECK(!"collector did not start");
    return;
  }
  uint8_t tid[16], tid_udp[16];
  for (int udp = 0; udp < 2; udp++) {
    cst_tracer *t = tracer_for(udp ? d.udp_port : d.tcp_port, udp);
    cst_span *root = cst_span_start(t, "GET /cart", CST_KIND_SERVER, NULL);
    cst_span_set_session(root, "user-99");
    cst_context_trace_id(cst_span_context(root), udp ? tid_udp : tid);
    for (int i = 0; i < 199; i++) {
      cst_span *c = cst_span_start(t, "GET item", CST_KIND_CLIENT, cst_span_context(root));
      cst_span_set_int(c, "i", i);
      cst_span_end(c);
    }
    cst_span_end(root);
    CHECK_EQ(cst_tracer_flush(t, 10000), CST_OK);
    cst_stats st;
    cst_tracer_stats(t, &st);
    if (!udp) {
      CHECK_EQ(st.spans_exported, 200);
      CHECK(st.frames_acked >= 4); /* batches of 50 */
      CHECK_EQ(st.spans_rejected, 0);
    }
    cst_tracer_free(t);
  }
  usleep(300 * 1000); /* UDP has no ack: give the collector a moment */
  CHECK_EQ(daemon_stop(&d), 0);
  CHECK_EQ(read_trace(dir, tid, tree_ok), 200);
  CHECK_EQ(read_trace(dir, tid_udp, tree_ok), 200);
  tmpdir_remove(dir);
  unlink(log);
}

/* ---- restart ------------------------------------------------------------- */

enum { TRACES = 40, PER_TRACE = 100 };
static cst_tracer *rt;
static uint8_t rt_tids[TRACES][16];

static void *steady_load(void *arg) {
  /* 4000 spans over ~3 s, 40 traces of 100 spans each */
  for (int tr = 0; tr < TRACES; tr++) {
    cst_span *root = cst_span_start(rt, "job", CST_KIND_SERVER, NULL);
    cst_context_trace_id(cst_span_context(root), rt_tids[tr]);
    for (int i = 0; i < PER_TRACE - 1; i++) {
      cst_span *c = cst_span_start(rt, "step", CST_KIND_INTERNAL, cst_span_context(root));
      cst_span_end(c);
      usleep(750);
    }
    cst_span_end(root);
  }
  return NULL;
}

static void tcp_spans_survive_a_collector_restart_exactly_once(void) {
  char dir[256], log[300], log2[300], port[16];
  CHECK_EQ(tmpdir_make(dir, sizeof dir), 0);
  snprintf(log, sizeof log, "%s.log", dir);
  snprintf(log2, sizeof log2, "%s.2.log", dir);
  daemon_t d;
  if (daemon_start(&d, bin, dir, log, NULL) != 0) {
    CHECK(!"collector did not start");
    return;
  }
  rt = tracer_for(d.tcp_port, 0);
  pthread_t th;
  pthread_create(&th, NULL, steady_load, NULL);
  usleep(1000 * 1000);
  daemon_kill9(&d); /* crash: frames in flight are not acknowledged */
  usleep(300 * 1000);
  snprintf(port, sizeof port, "%d", d.tcp_port);
  const char *same_port[] = {"--tcp-port", port, NULL};
  CHECK_EQ(daemon_start(&d, bin, dir, log2, same_port), 0);
  pthread_join(th, NULL);
  CHECK_EQ(cst_tracer_flush(rt, 15000), CST_OK);
  cst_stats st;
  cst_tracer_stats(rt, &st);
  CHECK_EQ(st.spans_started, TRACES * PER_TRACE);
  CHECK_EQ(st.dropped_queue_full + st.dropped_export + st.dropped_too_large, 0);
  CHECK(st.reconnects >= 1);
  CHECK(st.spans_exported >= TRACES * PER_TRACE);
  cst_tracer_free(rt);
  CHECK_EQ(daemon_stop(&d), 0);
  size_t total = 0;
  for (int tr = 0; tr < TRACES; tr++) {
    size_t n = read_trace(dir, rt_tids[tr], NULL);
    if (n != PER_TRACE)
      fprintf(stderr, "trace %d: %zu spans in the store\n", tr, n);
    total += n;
  }
  CHECK_EQ(total, TRACES * PER_TRACE); /* none lost, none twice */
  tmpdir_remove(dir);
  unlink(log);
  unlink(log2);
}

/* ---- metrics exports interleaved with span batches --------------------- */

/* A metrics export used to overwrite the open span batch (spans lost right
 * before every export, no counter moved). Spans 10 ms apart, metrics every
 * 25 ms, a partial batch sent after 100 ms: every span must be stored, each
 * once (one span per trace, so a trace holding 0 or 2 spans shows it). */
static void interleaved_metrics_lose_no_span(void) {
  enum { N = 60 };
  char dir[256], log[300];
  CHECK_EQ(tmpdir_make(dir, sizeof dir), 0);
  snprintf(log, sizeof log, "%s.log", dir);
  daemon_t d;
  if (daemon_start(&d, bin, dir, log, NULL) != 0) {
    CHECK(!"collector did not start");
    return;
  }
  static uint8_t tids[2][N][16];
  for (int udp = 0; udp < 2; udp++) {
    char ep[64];
    snprintf(ep, sizeof ep, "%s://127.0.0.1:%d", udp ? "udp" : "tcp",
             udp ? d.udp_port : d.tcp_port);
    cst_config cfg;
    cst_config_defaults(&cfg);
    cfg.endpoint = ep;
    cfg.service_name = "itest-metrics";
    cfg.metrics_interval_ms = 25;
    cfg.batch_timeout_ms = 100;
    cst_tracer *t = NULL;
    CHECK_EQ(cst_tracer_new(&cfg, &t), CST_OK);
    cst_counter *c = cst_counter_new(t, "itest.ops", NULL, NULL, NULL, 0);
    for (int i = 0; i < N; i++) {
      cst_span *s = cst_span_start(t, "tick", CST_KIND_SERVER, NULL);
      cst_context_trace_id(cst_span_context(s), tids[udp][i]);
      cst_span_end(s);
      cst_counter_add(c, 1);
      usleep(10 * 1000);
    }
    CHECK_EQ(cst_tracer_flush(t, 10000), CST_OK);
    cst_stats st;
    cst_tracer_stats(t, &st);
    CHECK(st.metric_exports >= 10);
    CHECK_EQ(st.spans_exported, N);
    CHECK_EQ(st.spans_rejected + st.dropped_queue_full + st.dropped_export + st.dropped_too_large,
             0);
    cst_tracer_free(t);
  }
  usleep(300 * 1000); /* UDP has no ack: give the collector a moment */
  CHECK_EQ(daemon_stop(&d), 0);
  for (int udp = 0; udp < 2; udp++) {
    int bad = 0;
    for (int i = 0; i < N; i++) {
      size_t n = read_trace(dir, tids[udp][i], NULL);
      if (n != 1)
        fprintf(stderr, "%s span %d: %zu copies in the store\n", udp ? "udp" : "tcp", i, n);
      bad += n != 1;
    }
    CHECK_EQ(bad, 0);
  }
  tmpdir_remove(dir);
  unlink(log);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s path/to/callscope-collector\n", argv[0]);
    return 2;
  }
  bin = argv[1];
  RUN(interleaved_metrics_lose_no_span);
  RUN(batches_acked_and_stored_with_tree_and_session);
  RUN(tcp_spans_survive_a_collector_restart_exactly_once);
  return CHECK_DONE();
}
