/* libtrace against the real callscope-collector (integration): batches are
 * acknowledged and land in the store with their call tree and session IDs,
 * and with TCP every span ended while the collector was briefly restarting
 * (killed, then started again on the same port) arrives exactly once;
 * after an outage long enough to open the circuit breaker, delivery resumes
 * within seconds of the collector's return, and cst_tracer_free reconnects
 * at once to a collector that is back. The store is read back with
 * cs_store_open after the collector has stopped. */
#include <pthread.h>
#include <stdatomic.h>
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

/* ---- a longer outage: the circuit opens, then delivery resumes --------- */

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static atomic_int rec_stop;
static atomic_long rec_count;

static void *record_every_ms(void *arg) {
  cst_tracer *t = arg;
  while (!atomic_load(&rec_stop)) {
    cst_span *s = cst_span_start(t, "tick", CST_KIND_INTERNAL, NULL);
    cst_span_end(s);
    atomic_fetch_add(&rec_count, 1);
    usleep(1000);
  }
  return NULL;
}

/* Records one trace of n spans (a root and n - 1 children); *tid gets its ID. */
static void record_trace(cst_tracer *t, const char *name, int n, uint8_t tid[16]) {
  cst_span *root = cst_span_start(t, name, CST_KIND_SERVER, NULL);
  cst_context_trace_id(cst_span_context(root), tid);
  for (int i = 0; i < n - 1; i++)
    cst_span_end(cst_span_start(t, name, CST_KIND_INTERNAL, cst_span_context(root)));
  cst_span_end(root);
}

/* The collector is SIGKILLed and stays away long enough for the circuit to
 * open (8 failed connects), while the host keeps recording; then it comes
 * back on the same port. Delivery must resume within a few seconds (the
 * probes are at most breaker_open_ms, 2 s, apart; it used to pause 15 s),
 * and a short outage loses nothing: what was recorded meanwhile waited in
 * the ring and the TCP queue. */
static void tcp_delivery_resumes_soon_after_the_collector_returns(void) {
  char dir[256], log[300], log2[300], port[16];
  CHECK_EQ(tmpdir_make(dir, sizeof dir), 0);
  snprintf(log, sizeof log, "%s.log", dir);
  snprintf(log2, sizeof log2, "%s.2.log", dir);
  daemon_t d;
  if (daemon_start(&d, bin, dir, log, NULL) != 0) {
    CHECK(!"collector did not start");
    return;
  }
  cst_tracer *t = tracer_for(d.tcp_port, 0); /* backoff 20-200 ms, breaker defaults */
  atomic_store(&rec_stop, 0);
  atomic_store(&rec_count, 0);
  pthread_t th;
  pthread_create(&th, NULL, record_every_ms, t);
  CHECK_EQ(cst_tracer_flush(t, 10000), CST_OK);

  daemon_kill9(&d);
  uint64_t t_kill = mono_ms();
  cst_stats st;
  do {
    usleep(20 * 1000);
    cst_tracer_stats(t, &st);
  } while (st.breaker_opens == 0 && mono_ms() - t_kill < 20000);
  CHECK(st.breaker_opens >= 1);
  fprintf(stderr, "circuit opened %llu ms after the kill\n",
          (unsigned long long)(mono_ms() - t_kill));
  usleep(1500 * 1000); /* open for a while: the probes are further apart by now */

  snprintf(port, sizeof port, "%d", d.tcp_port);
  const char *same_port[] = {"--tcp-port", port, NULL};
  CHECK_EQ(daemon_start(&d, bin, dir, log2, same_port), 0);
  uint64_t t_back = mono_ms();
  cst_stats before;
  cst_tracer_stats(t, &before);
  do {
    usleep(10 * 1000);
    cst_tracer_stats(t, &st);
  } while (st.frames_acked == before.frames_acked && mono_ms() - t_back < 20000);
  uint64_t resume_ms = mono_ms() - t_back;
  fprintf(stderr, "delivery resumed %llu ms after the collector was back (outage %llu ms)\n",
          (unsigned long long)resume_ms, (unsigned long long)(t_back - t_kill));
  CHECK(st.frames_acked > before.frames_acked);
  CHECK_INT(resume_ms, <, 5000); /* generous: the probes are at most 2 s apart */

  uint8_t tid[16];
  record_trace(t, "after", 100, tid);
  atomic_store(&rec_stop, 1);
  pthread_join(th, NULL);
  CHECK_EQ(cst_tracer_flush(t, 10000), CST_OK);
  cst_tracer_stats(t, &st);
  CHECK_EQ(st.spans_started, atomic_load(&rec_count) + 100);
  CHECK_EQ(st.spans_exported, st.spans_started); /* the outage lost nothing */
  CHECK_EQ(st.dropped_queue_full + st.dropped_export + st.dropped_too_large, 0);
  cst_tracer_free(t);
  CHECK_EQ(daemon_stop(&d), 0);
  CHECK_EQ(read_trace(dir, tid, NULL), 100); /* recorded after the restart: stored */
  tmpdir_remove(dir);
  unlink(log);
  unlink(log2);
}

/* Issue 9: cst_tracer_free's flush delivered nothing to a collector that
 * was already back, because the exporter was still waiting out its pause.
 * Here the wait after the failure is 30-60 s (the backoff itself); the
 * flush in cst_tracer_free must try at once and deliver. */
static void tracer_free_reconnects_at_once_to_a_collector_that_is_back(void) {
  char dir[256], log[300], log2[300], port[16];
  CHECK_EQ(tmpdir_make(dir, sizeof dir), 0);
  snprintf(log, sizeof log, "%s.log", dir);
  snprintf(log2, sizeof log2, "%s.2.log", dir);
  daemon_t d;
  if (daemon_start(&d, bin, dir, log, NULL) != 0) {
    CHECK(!"collector did not start");
    return;
  }
  char ep[64];
  snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", d.tcp_port);
  cst_config cfg;
  cst_config_defaults(&cfg);
  cfg.endpoint = ep;
  cfg.service_name = "itest-free";
  cfg.backoff_initial_ms = 60000;
  cfg.backoff_max_ms = 60000;
  cst_tracer *t = NULL;
  CHECK_EQ(cst_tracer_new(&cfg, &t), CST_OK);
  uint8_t tid0[16], tid[16];
  record_trace(t, "before", 10, tid0);
  CHECK_EQ(cst_tracer_flush(t, 10000), CST_OK);
  daemon_kill9(&d);
  usleep(200 * 1000); /* the exporter sees the connection break */
  record_trace(t, "meanwhile", 50, tid);
  snprintf(port, sizeof port, "%d", d.tcp_port);
  const char *same_port[] = {"--tcp-port", port, NULL};
  CHECK_EQ(daemon_start(&d, bin, dir, log2, same_port), 0);
  uint64_t t0 = mono_ms();
  cst_tracer_free(t); /* shutdown_timeout_ms 2000 */
  fprintf(stderr, "cst_tracer_free took %llu ms\n", (unsigned long long)(mono_ms() - t0));
  CHECK_EQ(daemon_stop(&d), 0);
  CHECK_EQ(read_trace(dir, tid, NULL), 50);
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
  RUN(tcp_delivery_resumes_soon_after_the_collector_returns);
  RUN(tracer_free_reconnects_at_once_to_a_collector_that_is_back);
  return CHECK_DONE();
}
