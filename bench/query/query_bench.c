/* Query benchmark: fills a store with the shared workload (default 5
 * million spans spread over the last hour, written through cs_store_write
 * as the collector does) plus traces of 20, 1,000 and 10,000 spans and
 * small sessions, then asks the query server over real HTTP and prints the
 * median and p99 latency per query type next to the targets.
 *   query_bench [--spans N] [--dir DIR] [--iters N] [--only SUBSTRING]
 * With --dir an existing store from an earlier run is reused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "qhelp.h"
#include "query.h"
#include "store.h"
#include "workload.h"
#ifdef CS_HAVE_METRICS
#include "metrics.h"
#endif

#define SEC 1000000000ull
#define N_SESS 100
#define SESS_TRACES 10

static uint64_t arg_u64(int argc, char **argv, const char *name, uint64_t def) {
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], name)) return strtoull(argv[i + 1], NULL, 10);
  return def;
}

static const char *arg_str(int argc, char **argv, const char *name, const char *def) {
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], name)) return argv[i + 1];
  return def;
}

static cs_attr big_host = {CS_STR_LIT("host.name"), CS_VAL_STR, {.s = CS_STR_LIT("big-1")}};
static cs_resource big_res = {CS_STR_LIT("bigsvc"), &big_host, 1};

/* A trace of n spans: a root with a fan of children, each with a chain of
 * three, so depth and width both matter. */
static void write_big_trace(cs_store *st, uint8_t tag, size_t n, uint64_t t0) {
  cs_span *s = calloc(n, sizeof *s);
  for (size_t i = 0; i < n; i++) {
    s[i].trace_id[0] = 0xbb;
    s[i].trace_id[15] = tag;
    uint64_t id = i + 1, parent = i == 0 ? 0 : (i % 4 == 1 ? 1 : i);
    for (int b = 0; b < 8; b++) s[i].span_id[b] = (uint8_t)(id >> (56 - 8 * b));
    for (int b = 0; parent && b < 8; b++) s[i].parent_id[b] = (uint8_t)(parent >> (56 - 8 * b));
    s[i].name = i ? CS_STR_LIT("step") : CS_STR_LIT("big root");
    s[i].kind = i ? CS_KIND_INTERNAL : CS_KIND_SERVER;
    s[i].start_ns = t0 + i * 1000;
    s[i].end_ns = i ? s[i].start_ns + 500 : t0 + n * 1000 + 1000;
    s[i].resource = &big_res;
  }
  if (cs_store_write(st, s, n)) fprintf(stderr, "write of the %zu-span trace failed\n", n);
  free(s);
}

static int fill(cs_store *st, uint64_t n_spans, uint64_t start_ns) {
  cs_workload w;
  cs_workload_init(&w, 42, start_ns);
  /* Spread the traces over one hour of simulated time. */
  w.gap_ns = 3600 * SEC / (n_spans / 20 + 1);
  cs_arena a;
  cs_arena_init(&a, 1 << 20, 1ull << 30);
  uint64_t t0 = qh_mono_ns(), written = 0;
  while (written < n_spans) {
    cs_arena_reset(&a);
    cs_span *spans;
    size_t n = cs_workload_batch(&w, &a, 16384, &spans);
    if (!n || cs_store_write(st, spans, n)) return -1;
    written += n;
    if ((written / 16384) % 50 == 0)
      fprintf(stderr, "\r%llu spans written", (unsigned long long)written);
  }
  /* Small sessions: 10 traces each, like one user's visit. */
  char sid[32];
  for (int k = 0; k < N_SESS; k++) {
    snprintf(sid, sizeof sid, "bench-sess-%d", k);
    for (int t = 0; t < SESS_TRACES; t++) {
      cs_arena_reset(&a);
      cs_span *spans;
      size_t n = cs_workload_next_trace(&w, &a, &spans);
      for (size_t i = 0; i < n; i++) spans[i].session_id = (cs_str){sid, (uint32_t)strlen(sid)};
      if (cs_store_write(st, spans, n)) return -1;
    }
  }
  write_big_trace(st, 20, 20, start_ns + 1800 * SEC);
  write_big_trace(st, 1, 1000, start_ns + 1800 * SEC);
  write_big_trace(st, 100, 10000, start_ns + 1800 * SEC);
  cs_arena_release(&a);
  fprintf(stderr, "\r%llu spans written in %.1f s\n", (unsigned long long)written,
          (double)(qh_mono_ns() - t0) / 1e9);
  return 0;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef struct qdef {
  const char *name;
  char path[512];
  int iters;
  double target_p99_ms; /* 0 = none given */
  double peer_median_ms;
  int cold; /* no warm-up: the first request is the measurement */
} qdef;

static void run(int port, qdef *q) {
  double *ms = calloc((size_t)q->iters, sizeof(double));
  int bad = 0;
  size_t bytes = 0;
  for (int i = 0; i < (q->cold ? 0 : 3); i++) {
    qh_resp r;
    if (qh_get(port, q->path, &r) == 0) qh_free(&r);
  }
  for (int i = 0; i < q->iters; i++) {
    qh_resp r;
    uint64_t t0 = qh_mono_ns();
    int rc = qh_get(port, q->path, &r);
    ms[i] = (double)(qh_mono_ns() - t0) / 1e6;
    if (rc || r.status != 200) {
      if (!bad) fprintf(stderr, "%s: status %d %.200s\n", q->name, r.status, r.body ? r.body : "");
      bad++;
    }
    bytes = r.body_len;
    if (!rc) qh_free(&r);
  }
  qsort(ms, (size_t)q->iters, sizeof(double), cmp_d);
  double med = ms[q->iters / 2], p99 = ms[(size_t)((q->iters - 1) * 0.99)];
  char target[32] = "-", peer[32] = "-";
  if (q->target_p99_ms > 0) snprintf(target, sizeof target, "%.1f", q->target_p99_ms);
  if (q->peer_median_ms > 0) snprintf(peer, sizeof peer, "%.1f", q->peer_median_ms);
  printf("| %-34s | %8.3f | %8.3f | %10s | %8s | %9zu | %s\n", q->name, med, p99, target, peer,
         bytes, bad ? "ERRORS" : (q->target_p99_ms > 0 && p99 > q->target_p99_ms ? "over target" : "ok"));
  fflush(stdout);
  free(ms);
}

int main(int argc, char **argv) {
  uint64_t n_spans = arg_u64(argc, argv, "--spans", 5000000);
  cs_log_min_level = CS_LOG_WARN; /* one line per request would swamp the table */
  int iters = (int)arg_u64(argc, argv, "--iters", 200);
  const char *dir = arg_str(argc, argv, "--dir", NULL);
  char tmp[64] = "/tmp/cs-qbench-XXXXXX", marker[600], meta[64] = "";
  if (!dir) {
    if (!mkdtemp(tmp)) return 1;
    dir = tmp;
  }
  snprintf(marker, sizeof marker, "%s/.filled", dir);
  mkdir(dir, 0755);
  const char *keys[] = {"user.tier"};
  cs_store_opts so = {.dir = dir, .index_keys = keys, .n_index_keys = 1};
  char err[256];
  cs_store *st;
  if (cs_store_open(&so, &st, err, sizeof err)) {
    fprintf(stderr, "cannot open store %s: %s\n", dir, err);
    return 1;
  }
  /* The marker holds the start time, so a reused store keeps its window. */
  uint64_t start_ns = 0;
  FILE *mf = fopen(marker, "r");
  if (mf) {
    if (fgets(meta, sizeof meta, mf)) {
      char *e;
      start_ns = strtoull(meta, &e, 10);
      uint64_t n = strtoull(e, NULL, 10);
      if (n) n_spans = n;
    }
    fclose(mf);
  }
  if (!start_ns) {
    /* The hour ends three minutes ago, so all its minutes are closed (in
     * the all-in-one daemon the open minutes come from its ingest). */
    start_ns = qh_now_ns() - 3780 * SEC;
    if (fill(st, n_spans, start_ns)) {
      fprintf(stderr, "filling the store failed\n");
      return 1;
    }
    mf = fopen(marker, "w");
    if (mf) {
      fprintf(mf, "%llu %llu\n", (unsigned long long)start_ns, (unsigned long long)n_spans);
      fclose(mf);
    }
  }

  cs_query_opts qo;
  cs_query_opts_default(&qo);
  qo.port = 0;
  qo.index_keys = keys;
  qo.n_index_keys = 1;
  qo.limits.timeout_us = 30000000;
  qo.limits.max_scan = 1000000;
  cs_query *q;
  if (cs_query_new(&qo, st, &q, err, sizeof err)) return 1;
#ifdef CS_HAVE_METRICS
  cs_metrics *m = cs_metrics_new(NULL);
  for (int i = 0; i < 10000; i++) {
    char v[16];
    snprintf(v, sizeof v, "%d", i);
    cs_metrics_label l[2] = {{"service", "bench"}, {"series", v}};
    cs_metrics_gauge_set(m, "bench_gauge", "10,000 series for the benchmark", l, 2, i);
  }
  extern int qb_render(void *, const char *, char **, size_t *, const char **);
  cs_query_set_metrics(q, qb_render, m);
#endif
  if (cs_query_start(q, err, sizeof err)) {
    fprintf(stderr, "cannot start the query server: %s\n", err);
    return 1;
  }
  int port = cs_query_port(q);
  uint64_t s_us = start_ns / 1000, e_us = (start_ns + 3600 * SEC) / 1000;

  qdef qs[20];
  int nq = 0;
  qs[nq] = (qdef){"trace by ID, 20 spans (Jaeger)", "", iters, 1.0, 14.0, 0};
  snprintf(qs[nq++].path, 512, "/api/traces/bb000000000000000000000000000014");
  qs[nq] = (qdef){"trace by ID, 1,000 spans (Jaeger)", "", iters, 5.0, 0, 0};
  snprintf(qs[nq++].path, 512, "/api/traces/bb000000000000000000000000000001");
  qs[nq] = (qdef){"trace by ID, 10,000 spans (Jaeger)", "", iters / 4 + 1, 0, 0, 0};
  snprintf(qs[nq++].path, 512, "/api/traces/bb000000000000000000000000000064");
  qs[nq] = (qdef){"call tree, 1,000 spans", "", iters, 0, 0, 0};
  snprintf(qs[nq++].path, 512, "/api/v1/traces/bb000000000000000000000000000001/tree");
  qs[nq] = (qdef){"session (10 traces, summaries)", "", iters, 2.0, 1.4, 0};
  snprintf(qs[nq++].path, 512, "/api/v1/sessions/bench-sess-7");
  /* The workload spreads 400 sessions over every trace: ~600 traces each. */
  cs_workload w0;
  cs_workload_init(&w0, 42, start_ns);
  qs[nq] = (qdef){"session, workload (~600 traces)", "", iters / 4 + 1, 0, 0, 0};
  snprintf(qs[nq++].path, 512, "/api/v1/sessions/%s", w0.sessions[0]);
  qs[nq] = (qdef){"service + attribute, 20 summaries", "", iters, 5.0, 2.5, 0};
  snprintf(qs[nq++].path, 512, "/api/v1/search?service=payments&attr=user.tier:enterprise&start=%llu&end=%llu&limit=20",
           (unsigned long long)s_us, (unsigned long long)e_us);
  qs[nq] = (qdef){"duration > 50ms, 20 summaries", "", iters, 0, 0, 0};
  snprintf(qs[nq++].path, 512, "/api/v1/search?minDuration=50ms&start=%llu&end=%llu&limit=20",
           (unsigned long long)s_us, (unsigned long long)e_us);
  qs[nq] = (qdef){"duration > 2s (rare), 20 summaries", "", iters / 4 + 1, 0, 0, 0};
  snprintf(qs[nq++].path, 512, "/api/v1/search?minDuration=2s&start=%llu&end=%llu&limit=20",
           (unsigned long long)s_us, (unsigned long long)e_us);
  qs[nq] = (qdef){"Jaeger search service+tag, 20 traces", "", iters / 4 + 1, 0, 0, 0};
  snprintf(qs[nq++].path, 512, "/api/traces?service=payments&tag=user.tier:enterprise&start=%llu&end=%llu&limit=20",
           (unsigned long long)s_us, (unsigned long long)e_us);
  /* Stats: the exact scan, then the store's per-minute rows (no fill:
   * the first request is as fast as the others). */
  const char *stats = "/api/v1/stats?service=payments&operation=POST%%20/api/payments/charge&start=%llu&end=%llu%s";
  qs[nq] = (qdef){"stats 1 h, exact scan", "", 3, 0, 0, 0};
  snprintf(qs[nq++].path, 512, stats, (unsigned long long)s_us, (unsigned long long)e_us, "&exact=true");
  qs[nq] = (qdef){"stats 1 h, store rows, first", "", 1, 0, 0, 1};
  snprintf(qs[nq++].path, 512, stats, (unsigned long long)s_us, (unsigned long long)e_us, "");
  qs[nq] = (qdef){"stats 1 h, store rows", "", iters, 10.0, 5.0, 0};
  snprintf(qs[nq++].path, 512, stats, (unsigned long long)s_us, (unsigned long long)e_us, "");
  qs[nq] = (qdef){"stats 1 h, store rows, all ops", "", iters, 10.0, 0, 0};
  snprintf(qs[nq++].path, 512, "/api/v1/stats?service=payments&start=%llu&end=%llu",
           (unsigned long long)s_us, (unsigned long long)e_us);
  const char *deps = "/api/v1/dependencies?start=%llu&end=%llu";
  qs[nq] = (qdef){"dependencies 1 h, first (fill)", "", 1, 0, 0, 1};
  snprintf(qs[nq++].path, 512, deps, (unsigned long long)s_us, (unsigned long long)e_us);
  qs[nq] = (qdef){"dependencies 1 h, sketches", "", iters, 0, 0, 0};
  snprintf(qs[nq++].path, 512, deps, (unsigned long long)s_us, (unsigned long long)e_us);
#ifdef CS_HAVE_METRICS
  qs[nq] = (qdef){"/metrics, 10,000 series", "", iters / 4 + 1, 0, 0, 0};
  snprintf(qs[nq++].path, 512, "/metrics");
#endif
  printf("query benchmark: %llu workload spans (+ sessions and the big traces) in %s, %d iterations\n",
         (unsigned long long)n_spans, dir, iters);
  printf("| %-34s | %8s | %8s | %10s | %8s | %9s |\n", "query", "median", "p99", "target p99",
         "peer med", "bytes");
  printf("|%s|\n", "------------------------------------|----------|----------|------------|----------|-----------");
  const char *only = arg_str(argc, argv, "--only", NULL);
  for (int i = 0; i < nq; i++)
    if (!only || strstr(qs[i].name, only)) run(port, &qs[i]);
  cs_query_free(q);
#ifdef CS_HAVE_METRICS
  cs_metrics_free(m);
#endif
  cs_store_close(st);
  if (dir == tmp) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd)) return 1;
  }
  return 0;
}

#ifdef CS_HAVE_METRICS
int qb_render(void *ud, const char *accept, char **body, size_t *len, const char **ct) {
  int om = 0;
  *ct = cs_metrics_negotiate(accept, &om);
  return cs_metrics_render(ud, om, body, len) ? -1 : 0;
}
#endif
