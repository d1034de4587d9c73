/* Storage benchmark: writes N workload spans through cs_store_write, forces
 * a full compaction and prints spans/s, CPU seconds per million spans
 * (including RocksDB's background flushes and compactions during the
 * writes), bytes on disk per span and peak RSS; the median of several runs.
 * Then the CPU time of reads on the compacted store: a whole trace, a
 * summary, the newest 20 traces of a service.
 * --split sends each service's spans of a trace in a separate batch, as
 * independent services do in production (more chunks and summary operands
 * per trace). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "store.h"
#include "workload.h"

typedef struct result {
  double spans_s, cpu_per_m, bytes_span, sst_bytes_span, compact_s;
  double get_trace_us, get_summary_us, scan_us;
} result;

#define MAX_SAMPLES 4096

static double now_s(void);

/* This thread's CPU time: on a shared machine, wall-clock latencies of
 * single reads mostly measure waiting for a core. */
static double thread_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int count_cb(void *ud, const uint8_t id[16], uint64_t start) {
  (void)id, (void)start;
  return ++*(int *)ud >= 20; /* a search page: the newest 20 */
}

/* Read latencies after compaction: whole traces and summaries of sampled
 * trace IDs, and "newest 20 traces of a service" scans. */
static void measure_reads(cs_store *st, uint8_t (*ids)[16], size_t nids, result *out) {
  cs_arena a;
  cs_arena_init(&a, 1 << 16, 0);
  double t0 = thread_cpu_s();
  size_t bad = 0;
  for (size_t i = 0; i < nids; i++) {
    cs_span *sp;
    size_t n;
    if (cs_store_get_trace(st, ids[i], &a, &sp, &n) || n == 0) bad++;
    cs_arena_reset(&a);
  }
  out->get_trace_us = (thread_cpu_s() - t0) / (double)nids * 1e6;
  t0 = thread_cpu_s();
  for (size_t i = 0; i < nids; i++) {
    cs_trace_summary s;
    if (cs_store_get_summary(st, ids[i], &a, &s)) bad++;
    cs_arena_reset(&a);
  }
  out->get_summary_us = (thread_cpu_s() - t0) / (double)nids * 1e6;
  t0 = thread_cpu_s();
  int scans = 1000;
  for (int i = 0; i < scans; i++) {
    const char *svc = cs_workload_service(i % CS_WORKLOAD_SERVICES);
    cs_index_query q = {.kind = CS_IDX_SERVICE, .service = {svc, (uint32_t)strlen(svc)}};
    int got = 0;
    if (cs_store_scan_index(st, &q, count_cb, &got) || got != 20) bad++;
  }
  out->scan_us = (thread_cpu_s() - t0) / scans * 1e6;
  if (bad) fprintf(stderr, "store_bench: %zu reads failed or found nothing\n", bad);
  cs_arena_release(&a);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

static unsigned long long dir_bytes(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "du -sb '%s' | cut -f1", dir);
  FILE *f = popen(cmd, "r");
  unsigned long long v = 0;
  if (f) {
    if (fscanf(f, "%llu", &v) != 1) v = 0;
    pclose(f);
  }
  return v;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int service_index(const cs_span *s) {
  for (int i = 0; i < CS_WORKLOAD_SERVICES; i++)
    if (strncmp(s->resource->service.p, cs_workload_service(i), s->resource->service.n) == 0 &&
        cs_workload_service(i)[s->resource->service.n] == 0)
      return i;
  return 0;
}

static int run(const char *base, int r, size_t total, size_t batch, int split, result *out) {
  char dir[512];
  snprintf(dir, sizeof(dir), "%s/run%d", base, r);
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0) return -1;
  static const char *keys[] = {"http.status_code"};
  cs_store_opts o = {.dir = dir, .index_keys = keys, .n_index_keys = 1};
  cs_store *st;
  char err[256];
  if (cs_store_open(&o, &st, err, sizeof(err))) {
    fprintf(stderr, "open failed: %s\n", err);
    return -1;
  }
  cs_workload w;
  cs_workload_init(&w, 42, 0);
  cs_arena a;
  cs_arena_init(&a, 1 << 20, (size_t)1 << 30);
  cs_span *sorted = malloc((batch + CS_WORKLOAD_MAX_TRACE_SPANS) * sizeof(cs_span));
  size_t done = 0;
  double wall = 0, cpu = 0;
  static uint8_t ids[MAX_SAMPLES][16];
  size_t nids = 0;
  while (done < total) {
    cs_arena_reset(&a);
    cs_span *spans;
    size_t n = cs_workload_batch(&w, &a, batch, &spans);
    if (!n) return -1;
    double t0 = now_s(), c0 = cpu_s();
    if (split) {
      /* One write per service, each holding that service's spans. */
      for (int s = 0; s < CS_WORKLOAD_SERVICES; s++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
          if (service_index(&spans[i]) == s) sorted[m++] = spans[i];
        if (m && cs_store_write(st, sorted, m)) return -1;
      }
    } else if (cs_store_write(st, spans, n)) {
      return -1;
    }
    wall += now_s() - t0;
    cpu += cpu_s() - c0;
    done += n;
    for (size_t i = 0; i < n && nids < MAX_SAMPLES; i += 997) memcpy(ids[nids++], spans[i].trace_id, 16);
  }
  double t0 = now_s();
  cs_store_compact(st);
  double compact = now_s() - t0;
  cs_store_stats stats;
  cs_store_get_stats(st, &stats);
  measure_reads(st, ids, nids, out);
  cs_store_close(st);
  unsigned long long disk = dir_bytes(dir);
  out->spans_s = done / wall;
  out->cpu_per_m = cpu / done * 1e6;
  out->bytes_span = (double)disk / done;
  out->sst_bytes_span = (double)stats.live_sst_bytes / done;
  out->compact_s = compact;
  printf("run %d: %zu spans in %.2f s: %.0f spans/s, %.2f CPU s per M spans, "
         "%.1f B/span on disk (%.1f B/span in SSTs), compaction %.2f s; read CPU: trace %.0f us, "
         "summary %.0f us, newest 20 of a service %.0f us\n",
         r, done, wall, out->spans_s, out->cpu_per_m, out->bytes_span, out->sst_bytes_span,
         compact, out->get_trace_us, out->get_summary_us, out->scan_us);
  fflush(stdout);
  free(sorted);
  cs_arena_release(&a);
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0) return -1;
  return 0;
}

int main(int argc, char **argv) {
  size_t total = 1000000, batch = 5000;
  int runs = 3, split = 0;
  const char *dir = "/tmp/cs_store_bench";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--spans") && i + 1 < argc) total = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = (int)strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
    else if (!strcmp(argv[i], "--split")) split = 1;
    else {
      fprintf(stderr,
              "usage: store_bench [--spans N] [--batch N] [--runs N] [--split] [--dir DIR]\n");
      return 2;
    }
  }
  if (!total || !batch || runs < 1 || runs > 15) {
    fprintf(stderr, "store_bench: --spans and --batch must be positive, --runs 1..15\n");
    return 2;
  }
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
  if (system(cmd) != 0) return 1;
  printf("store_bench: %zu spans per run, batches of %zu%s, %d runs\n", total, batch,
         split ? " split by service" : "", runs);
  result res[15];
  double v[8][15];
  for (int r = 0; r < runs; r++) {
    if (run(dir, r, total, batch, split, &res[r])) {
      fprintf(stderr, "store_bench: run %d failed\n", r);
      return 1;
    }
    v[0][r] = res[r].spans_s;
    v[1][r] = res[r].cpu_per_m;
    v[2][r] = res[r].bytes_span;
    v[3][r] = res[r].sst_bytes_span;
    v[4][r] = res[r].compact_s;
    v[5][r] = res[r].get_trace_us;
    v[6][r] = res[r].get_summary_us;
    v[7][r] = res[r].scan_us;
  }
  for (int k = 0; k < 8; k++) qsort(v[k], runs, sizeof(double), cmp_double);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  int m = runs / 2;
  printf("median: %.0f spans/s | %.2f CPU s per M spans | %.1f B/span on disk | "
         "%.1f B/span in SSTs | compaction %.2f s | peak RSS %ld MB | CPU per read: get_trace "
         "%.0f us, get_summary %.0f us, newest-20 service scan %.0f us\n",
         v[0][m], v[1][m], v[2][m], v[3][m], v[4][m], ru.ru_maxrss / 1024, v[5][m], v[6][m],
         v[7][m]);
  return 0;
}
