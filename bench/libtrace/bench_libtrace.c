/* libtrace benchmark. Prints ns/op (median of RUNS runs) for: the floor
 * baseline (two clock reads + 24 random bytes + a 200-byte ring push), a
 * sampled span (start + 4 attributes + end, exported over UDP to a
 * discarding receiver), an unsampled span, counter add, histogram record,
 * traceparent inject and extract; single thread and two threads. Then heap
 * allocations per span after warm-up, and span latency percentiles while
 * the collector is down (TCP to a closed port).
 * The single-thread rows are also run pinned to each allowed CPU in turn,
 * next to the floor measured on that CPU: vCPUs of one VM can differ by 20%
 * or more, so only the ratio to the same CPU's floor compares across runs. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "callscope/trace.h"
#include "exporter_int.h"
#include "internal.h"

#define RUNS 7

/* ---- allocation counting: interpose malloc for the measuring thread ---- */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
static __thread int counting;
static __thread long allocs;
void *malloc(size_t n) {
  if (counting)
    allocs++;
  return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
  if (counting)
    allocs++;
  return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
  if (counting)
    allocs++;
  return __libc_realloc(p, n);
}
void *aligned_alloc(size_t al, size_t n) {
  if (counting)
    allocs++;
  return __libc_memalign(al, n);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of the calling thread: on a shared, loaded machine wall time
 * also counts the time other processes (and our exporter) held the core. */
static uint64_t cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPUs the measuring thread was seen on (bit per CPU, sampled around each
 * timed run or chunk), so every row can say where it ran. */
static __thread uint64_t seen_cpus;
static void note_cpu(void) {
  int c = sched_getcpu();
  if (c >= 0 && c < 64)
    seen_cpus |= 1ull << c;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef void (*op_fn)(long iters, void *ctx);

/* ---- operations ------------------------------------------------------------ */

static __thread __cst_ring floor_ring;
static void op_floor(long n, void *ctx) {
  if (!floor_ring.data)
    __cst_ring_init(&floor_ring, 1u << 16);
  uint8_t rec[200];
  memset(rec, 0, sizeof rec);
  uint32_t len = 200, type = __CST_REC_SPAN;
  memcpy(rec, &len, 4);
  memcpy(rec + 4, &type, 4);
  for (long i = 0; i < n; i++) {
    struct timespec ta, tb;
    clock_gettime(CLOCK_REALTIME, &ta); /* the floor as defined: clock_gettime */
    uint64_t a = (uint64_t)ta.tv_sec * 1000000000u + (uint64_t)ta.tv_nsec;
    uint64_t r1 = __cst_rand64(), r2 = __cst_rand64(), r3 = __cst_rand64();
    clock_gettime(CLOCK_REALTIME, &tb);
    uint64_t b = (uint64_t)tb.tv_sec * 1000000000u + (uint64_t)tb.tv_nsec;
    memcpy(rec + 8, &a, 8);
    memcpy(rec + 16, &r1, 8);
    memcpy(rec + 24, &r2, 8);
    memcpy(rec + 32, &r3, 8);
    memcpy(rec + 40, &b, 8);
    __cst_ring_push(&floor_ring, rec, 200);
    /* keep the ring from filling: the consumer side's cost is not counted */
    if ((i & 63) == 63)
      atomic_store(&floor_ring.tail, atomic_load(&floor_ring.head));
  }
}

static int cst_span_is_recording_probe(cst_tracer *t) {
  cst_span *s = cst_span_start(t, "probe", CST_KIND_INTERNAL, NULL);
  int rec = cst_span_is_recording(s);
  cst_span_end(s);
  return rec;
}

static void op_span(long n, void *ctx) {
  cst_tracer *t = ctx;
  for (long i = 0; i < n; i++) {
    cst_span *s = cst_span_start(t, "GET /orders", CST_KIND_SERVER, NULL);
    cst_span_set_str(s, "http.method", "GET");
    cst_span_set_int(s, "http.status_code", 200);
    cst_span_set_str(s, "http.route", "/orders/{id}");
    cst_span_set_double(s, "load", 0.5);
    cst_span_end(s);
  }
}

static cst_counter *g_counter;
static cst_histogram *g_hist;
static void op_counter(long n, void *ctx) {
  for (long i = 0; i < n; i++)
    cst_counter_add(g_counter, 1);
}
static void op_hist(long n, void *ctx) {
  for (long i = 0; i < n; i++)
    cst_histogram_record(g_hist, (double)(i & 1023) * 1e-3); /* 0..1.023 s */
}

typedef struct one_hdr {
  char v[128];
} one_hdr;
static const char *c_get(void *u, const char *k, size_t *len) {
  one_hdr *h = u;
  if (strcmp(k, "traceparent") != 0)
    return NULL;
  *len = strlen(h->v);
  return h->v;
}
static int c_set(void *u, const char *k, const char *v) {
  one_hdr *h = u;
  snprintf(h->v, sizeof h->v, "%s", v);
  return 0;
}

static cst_context *g_ctx;
static void op_inject(long n, void *ctx) {
  one_hdr h;
  cst_carrier c = {c_get, c_set, &h};
  for (long i = 0; i < n; i++)
    cst_inject(g_ctx, &c, CST_PROP_TRACECONTEXT);
}
static void op_extract(long n, void *ctx) {
  one_hdr h = {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"};
  cst_carrier c = {c_get, c_set, &h};
  for (long i = 0; i < n; i++)
    cst_context_free(cst_extract(&c, CST_PROP_TRACECONTEXT));
}

/* ---- runner ----------------------------------------------------------------- */

typedef struct job {
  op_fn fn;
  void *ctx; /* for span ops: the tracer, flushed before each timed run */
  long n;
  double ns, cpu;
  pthread_barrier_t *bar;
  double best;     /* sampled spans: fastest chunk's CPU ns/op */
  uint64_t cpus;   /* CPUs the thread was seen on */
} job;

enum { CHUNK = 1000 };

/* Waits until the exporter has sent everything (an idle exporter and an
 * empty ring), without cst_tracer_flush's wait for the UDP error window
 * (100 ms), which would dominate a 1000-span chunk. */
static void drained(cst_tracer *t) {
  __cst_exporter_flush(t, 60000, 0);
}
static double best_chunk_cpu = 1e9, p10_chunk_cpu = 1e9;
/* single-thread runs */ /* 1000 spans of ~200 bytes fit the default 256 KiB ring */

/* Sampled spans: timed in chunks that start from a drained ring, so every
 * span is really pushed and exported (none dropped because the exporter,
 * which shares the two cores, fell behind); the run's figure is the median
 * chunk, which also keeps other processes' preemptions out of it. */
static void run_span_chunks(job *j) {
  long chunks = j->n / CHUNK;
  if (chunks < 1)
    chunks = 1;
  double *w = malloc((size_t)chunks * sizeof *w), *c = malloc((size_t)chunks * sizeof *c);
  for (long k = 0; k < chunks; k++) {
    drained(j->ctx);
    if (j->bar)
      pthread_barrier_wait(j->bar);
    note_cpu();
    uint64_t t0 = now_ns(), c0 = cpu_ns();
    j->fn(CHUNK, j->ctx);
    c[k] = (double)(cpu_ns() - c0) / CHUNK;
    w[k] = (double)(now_ns() - t0) / CHUNK;
    note_cpu();
  }
  qsort(w, (size_t)chunks, sizeof *w, cmp_d);
  qsort(c, (size_t)chunks, sizeof *c, cmp_d);
  j->ns = w[chunks / 2];
  j->cpu = c[chunks / 2];
  if (!j->bar && c[0] < best_chunk_cpu)
    best_chunk_cpu = c[0];
  if (!j->bar && c[chunks / 10] < p10_chunk_cpu)
    p10_chunk_cpu = c[chunks / 10];
  j->best = c[0];
  free(w);
  free(c);
}

static void *run_job_inner(job *j);
static void *run_job(void *arg) {
  job *j = arg;
  seen_cpus = 0;
  run_job_inner(j);
  j->cpus = seen_cpus;
  return NULL;
}

static void *run_job_inner(job *j) {
  if (j->fn == op_span)
    drained(j->ctx);
  j->fn(j->fn == op_span ? CHUNK : j->n / 10, j->ctx); /* warm-up (a span run fits the ring) */
  if (j->fn == op_span && cst_span_is_recording_probe(j->ctx)) {
    run_span_chunks(j);
    return NULL;
  }
  if (j->bar)
    pthread_barrier_wait(j->bar);
  note_cpu();
  uint64_t t0 = now_ns(), c0 = cpu_ns();
  j->fn(j->n, j->ctx);
  j->cpu = (double)(cpu_ns() - c0) / (double)j->n;
  j->ns = (double)(now_ns() - t0) / (double)j->n;
  note_cpu();
  return NULL;
}

/* Median ns/op over RUNS runs with `threads` threads (per-thread time);
 * *cpu gets the median thread-CPU ns/op, *cpus the CPUs the measuring
 * threads were seen on, *best (sampled spans) the fastest chunk. */
static double measure(op_fn fn, void *ctx, long n, int threads, double *cpu, uint64_t *cpus,
                      double *best) {
  double v[RUNS], c[RUNS];
  *cpus = 0;
  *best = 1e9;
  for (int r = 0; r < RUNS; r++) {
    if (threads == 1) {
      job j = {fn, ctx, n, 0, 0, NULL, 1e9, 0};
      run_job(&j);
      v[r] = j.ns;
      c[r] = j.cpu;
      *cpus |= j.cpus;
      if (j.best < *best)
        *best = j.best;
    } else {
      pthread_barrier_t bar;
      pthread_barrier_init(&bar, NULL, 2);
      job j[2] = {{fn, ctx, n, 0, 0, &bar, 1e9, 0}, {fn, ctx, n, 0, 0, &bar, 1e9, 0}};
      pthread_t th;
      pthread_create(&th, NULL, run_job, &j[1]);
      run_job(&j[0]);
      pthread_join(th, NULL);
      pthread_barrier_destroy(&bar);
      v[r] = (j[0].ns + j[1].ns) / 2;
      c[r] = (j[0].cpu + j[1].cpu) / 2;
      *cpus |= j[0].cpus | j[1].cpus;
    }
  }
  qsort(v, RUNS, sizeof v[0], cmp_d);
  qsort(c, RUNS, sizeof c[0], cmp_d);
  *cpu = c[RUNS / 2];
  return v[RUNS / 2];
}

/* "0", "1", "0,1": the CPUs in a mask. */
static const char *cpu_list(uint64_t m, char *buf, size_t cap) {
  size_t o = 0;
  buf[0] = 0;
  for (int c = 0; c < 64 && o < cap; c++)
    if (m & (1ull << c)) {
      int w = snprintf(buf + o, cap - o, "%s%d", o ? "," : "", c);
      if (w < 0)
        break;
      o += (size_t)w;
    }
  if (!o)
    snprintf(buf, cap, "?");
  return buf;
}

/* A UDP receiver that reads and discards, standing in for the collector. */
static int sink_fd;
static volatile int sink_stop;
static void *sink(void *arg) {
  static uint8_t buf[65536];
  while (!sink_stop)
    if (recv(sink_fd, buf, sizeof buf, 0) < 0)
      break;
  return NULL;
}

static cst_tracer *tracer(const char *ep, cst_sampler_kind k) {
  cst_config cfg;
  cst_config_defaults(&cfg);
  cfg.endpoint = ep;
  cfg.sampler = k;
  /* The default ring (256 KiB per thread); span runs are chunked to fit. */
  cfg.udp_datagram_bytes = 65000;
  cfg.batch_max_spans = 1024;
  cst_tracer *t = NULL;
  if (cst_tracer_new(&cfg, &t) != CST_OK) {
    fprintf(stderr, "cannot create tracer for %s\n", ep);
    exit(1);
  }
  return t;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
  if (n < 1000)
    n = 1000;
  sink_fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int rb = 8 << 20;
  setsockopt(sink_fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof rb);
  bind(sink_fd, (struct sockaddr *)&a, sizeof a);
  socklen_t al = sizeof a;
  getsockname(sink_fd, (struct sockaddr *)&a, &al);
  pthread_t sink_thr;
  pthread_create(&sink_thr, NULL, sink, NULL);
  char ep[64];
  snprintf(ep, sizeof ep, "udp://127.0.0.1:%d", ntohs(a.sin_port));

  cst_tracer *on = tracer(ep, CST_SAMPLER_ALWAYS_ON);
  cst_tracer *off = tracer(ep, CST_SAMPLER_ALWAYS_OFF);
  cst_label l[] = {{"route", "/orders"}};
  g_counter = cst_counter_new(on, "bench.counter", "1", NULL, l, 1);
  g_hist = cst_histogram_new(on, "bench.hist", "s", NULL, l, 1, NULL, 0);
  cst_span *root = cst_span_start(on, "root", CST_KIND_SERVER, NULL);
  g_ctx = cst_context_copy(cst_span_context(root));
  cst_span_end(root);

  usleep(300 * 1000); /* let the exporter calibrate the span clock */
  printf("libtrace benchmark: ns/op, median of %d runs (two threads: per thread); base n = %ld "
         "ops (counter and histogram: 10n)\n",
         RUNS, n);
  printf("span clock: %s; wall = elapsed time, cpu = the thread's CPU time (excludes preemption)\n",
         __cst_clock_tsc() ? "calibrated TSC" : "clock_gettime");
  struct {
    const char *name;
    op_fn fn;
    void *ctx;
    long n;
  } ops[] = {
      {"floor: 2 clocks + 24 rand bytes + 200B push", op_floor, NULL, n},
      {"span sampled (start + 4 attrs + end)", op_span, on, n},
      {"span unsampled", op_span, off, n},
      {"counter add", op_counter, NULL, n * 10},
      {"histogram record", op_hist, NULL, n * 10},
      {"traceparent inject", op_inject, NULL, n},
      {"traceparent extract", op_extract, NULL, n},
  };
  const char *only = argc > 2 ? argv[2] : NULL; /* substring filter on the name */
  size_t nops = sizeof ops / sizeof ops[0];
  char cb1[64], cb2[64];
  double best;
  uint64_t m1, m2;

  /* Pinned, single thread: each allowed CPU in turn, the floor first so
   * every row has its own CPU's floor. n/ncpu ops per run per CPU, and the
   * unpinned table below runs n/4, so the whole run takes about what the
   * unpinned-only benchmark took with n. */
  cpu_set_t all;
  CPU_ZERO(&all);
  if (sched_getaffinity(0, sizeof all, &all) != 0) {
    perror("sched_getaffinity");
    return 1;
  }
  int ncpu = CPU_COUNT(&all);
  /* The sampled tracer's exporter thread is pinned to the measuring CPU
   * too: where the exporter drains the ring decides the span's cost (on
   * another core the ring's cache lines move between cores while the chunk
   * runs), so leaving it to the scheduler makes the row bimodal. The extra
   * row puts it on another CPU on purpose, the usual case in a busy app. */
  printf("\npinned, 1 thread, each CPU in turn (sched_setaffinity on the measuring thread and the "
         "sampled tracer's exporter thread, both on CPU; the UDP receiver stays unpinned), %ld "
         "ops per run for the base n:\n",
         n / (ncpu > 1 ? ncpu : 1));
  printf("%-44s %4s %10s %10s %10s %8s\n", "operation", "CPU", "wall", "cpu", "floor cpu",
         "cpu/floor");
  for (int c = 0; c < CPU_SETSIZE; c++) {
    if (!CPU_ISSET(c, &all))
      continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(c, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) {
      perror("sched_setaffinity");
      continue;
    }
    pthread_setaffinity_np(on->ex->thr, sizeof one, &one);
    double fl_cpu = 0;
    for (size_t i = 0; i < nops; i++) {
      if (i && only && !strstr(ops[i].name, only))
        continue;
      long pn = ops[i].n / (ncpu > 1 ? ncpu : 1);
      if (pn < 1000)
        pn = 1000;
      double cc;
      double w = measure(ops[i].fn, ops[i].ctx, pn, 1, &cc, &m1, &best);
      if (i == 0)
        fl_cpu = cc;
      printf("%-44s %4s %10.1f %10.1f %10.1f %8.2f", ops[i].name, cpu_list(m1, cb1, sizeof cb1),
             w, cc, fl_cpu, fl_cpu > 0 ? cc / fl_cpu : 0);
      if (best < 1e9)
        printf("  (fastest chunk %.1f)", best);
      printf("\n");
      int other = -1;
      for (int k = 1; k < CPU_SETSIZE && other < 0; k++)
        if (CPU_ISSET((c + k) % CPU_SETSIZE, &all))
          other = (c + k) % CPU_SETSIZE;
      if (ops[i].ctx == on && other >= 0 && other != c) {
        cpu_set_t ex;
        CPU_ZERO(&ex);
        CPU_SET(other, &ex);
        pthread_setaffinity_np(on->ex->thr, sizeof ex, &ex);
        w = measure(ops[i].fn, ops[i].ctx, pn, 1, &cc, &m1, &best);
        pthread_setaffinity_np(on->ex->thr, sizeof one, &one);
        char nm[64];
        snprintf(nm, sizeof nm, "  same, exporter pinned to CPU %d", other);
        printf("%-44s %4s %10.1f %10.1f %10.1f %8.2f  (fastest chunk %.1f)\n", nm,
               cpu_list(m1, cb1, sizeof cb1), w, cc, fl_cpu, fl_cpu > 0 ? cc / fl_cpu : 0, best);
      }
    }
  }
  sched_setaffinity(0, sizeof all, &all);
  pthread_setaffinity_np(on->ex->thr, sizeof all, &all);
  best_chunk_cpu = p10_chunk_cpu = 1e9; /* the summary line below is the unpinned one */

  printf("\nunpinned (the scheduler picks the CPU; 'on' = CPUs the measuring threads were seen "
         "on), %ld ops per run for the base n:\n", n / 4);
  printf("%-44s %26s %26s\n", "", "1 thread", "2 threads");
  printf("%-44s %10s %10s %4s %10s %10s %4s\n", "operation", "wall", "cpu", "on", "wall", "cpu",
         "on");
  for (size_t i = 0; i < nops; i++) {
    if (only && !strstr(ops[i].name, only))
      continue;
    double c1, c2;
    long un = ops[i].n / 4 < 1000 ? 1000 : ops[i].n / 4;
    double one = measure(ops[i].fn, ops[i].ctx, un, 1, &c1, &m1, &best);
    double two = measure(ops[i].fn, ops[i].ctx, un, 2, &c2, &m2, &best);
    printf("%-44s %10.1f %10.1f %4s %10.1f %10.1f %4s\n", ops[i].name, one, c1,
           cpu_list(m1, cb1, sizeof cb1), two, c2, cpu_list(m2, cb2, sizeof cb2));
  }
  if (!only || strstr("span sampled", only)) {
    /* The exporter thread's CPU per exported span: what the host pays in
     * the background for batching, encoding and sending. */
    clockid_t cid;
    struct timespec e0, e1;
    cst_stats s0, s1;
    pthread_getcpuclockid(on->ex->thr, &cid);
    cst_tracer_flush(on, 60000);
    cst_tracer_stats(on, &s0);
    clock_gettime(cid, &e0);
    for (int k = 0; k < 200; k++) {
      op_span(CHUNK, on);
      drained(on);
    }
    cst_tracer_flush(on, 60000); /* the last spans' UDP error window */
    clock_gettime(cid, &e1);
    cst_tracer_stats(on, &s1);
    double ns = (double)(e1.tv_sec - e0.tv_sec) * 1e9 + (double)(e1.tv_nsec - e0.tv_nsec);
    printf("exporter thread cpu per exported span (encode + batch + UDP send): %.1f ns\n",
           ns / (double)(s1.spans_exported - s0.spans_exported));
  }
  if (best_chunk_cpu < 1e9)
    printf("unpinned sampled span, single thread, fastest 1000-span chunk: %.1f ns cpu; 10th percentile "
           "chunk: %.1f ns cpu (what the median looks like on an idle machine)\n",
           best_chunk_cpu, p10_chunk_cpu);
  cst_stats st;
  cst_tracer_stats(on, &st);
  printf("sampled tracer: %llu spans started, %llu sent, %llu dropped (ring full), %llu export "
         "errors\n",
         (unsigned long long)st.spans_started, (unsigned long long)st.spans_exported,
         (unsigned long long)st.dropped_queue_full, (unsigned long long)st.export_errors);
  if (only)
    return 0;

  /* Heap allocations per span after warm-up, on the recording thread. */
  op_span(10000, on);
  counting = 1;
  allocs = 0;
  op_span(100000, on);
  counting = 0;
  printf("heap allocations per sampled span after warm-up: %.4f (%ld in 100000)\n",
         (double)allocs / 100000, allocs);

  /* Collector down: TCP to a port nobody listens on. */
  int probe = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in pa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  bind(probe, (struct sockaddr *)&pa, sizeof pa);
  socklen_t pl = sizeof pa;
  getsockname(probe, (struct sockaddr *)&pa, &pl);
  close(probe);
  char dead_ep[64];
  snprintf(dead_ep, sizeof dead_ep, "tcp://127.0.0.1:%d", ntohs(pa.sin_port));
  cst_config cfg;
  cst_config_defaults(&cfg);
  cfg.endpoint = dead_ep;
  cfg.shutdown_timeout_ms = 200;
  cfg.backoff_initial_ms = 10; /* reach the circuit breaker within the run */
  cfg.backoff_max_ms = 40;
  cfg.breaker_failures = 4;
  cfg.breaker_open_ms = 500;
  cst_tracer *dead;
  cst_tracer_new(&cfg, &dead);
  enum { M = 1000000 };
  double *lat = malloc(M * sizeof *lat), *lat_end = malloc(M * sizeof *lat_end);
  op_span(10000, dead);
  for (long i = 0; i < M; i++) {
    uint64_t t0 = now_ns();
    cst_span *s = cst_span_start(dead, "GET /orders", CST_KIND_SERVER, NULL);
    cst_span_set_str(s, "http.method", "GET");
    cst_span_set_int(s, "http.status_code", 200);
    cst_span_set_str(s, "http.route", "/orders/{id}");
    cst_span_set_double(s, "load", 0.5);
    uint64_t t1 = now_ns();
    cst_span_end(s);
    uint64_t t2 = now_ns();
    lat[i] = (double)(t2 - t0);
    lat_end[i] = (double)(t2 - t1);
  }
  qsort(lat, M, sizeof *lat, cmp_d);
  qsort(lat_end, M, sizeof *lat_end, cmp_d);
  cst_tracer_stats(dead, &st);
  printf("collector down (TCP, closed port; timings include ~20 ns of timer):\n");
  printf("  whole span: p50 %.0f ns, p99 %.0f ns, p99.9 %.0f ns, max %.0f ns\n", lat[M / 2],
         lat[M - M / 100], lat[M - M / 1000], lat[M - 1]);
  printf("  span end:   p50 %.0f ns, p99 %.0f ns, p99.9 %.0f ns, max %.0f ns\n", lat_end[M / 2],
         lat_end[M - M / 100], lat_end[M - M / 1000], lat_end[M - 1]);
  printf("  dropped %llu of %llu spans, %llu failed connects, breaker opened %llu times\n",
         (unsigned long long)st.dropped_queue_full, (unsigned long long)st.spans_started,
         (unsigned long long)st.export_errors, (unsigned long long)st.breaker_opens);
  free(lat_end);
  free(lat);
  cst_tracer_free(dead);
  cst_context_free(g_ctx);
  cst_tracer_free(off);
  cst_tracer_free(on);
  sink_stop = 1;
  shutdown(sink_fd, SHUT_RDWR);
  close(sink_fd);
  pthread_join(sink_thr, NULL);
  return 0;
}
