/* IDs and sampling: IDs are never zero, do not repeat, differ between
 * threads and between a parent and a forked child; the ratio sampler
 * implements the 56-bit threshold rule exactly and is deterministic. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "callscope/trace.h"
#include "check.h"
#include "internal.h"

#if defined(__SANITIZE_THREAD__)
#define TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN_BUILD 1
#endif
#endif

static cst_tracer *tracer(cst_sampler_kind k, double ratio) {
  cst_config cfg;
  cst_config_defaults(&cfg);
  cfg.endpoint = "udp://127.0.0.1:9";
  cfg.sampler = k;
  cfg.sampler_ratio = ratio;
  cst_tracer *t = NULL;
  CHECK_EQ(cst_tracer_new(&cfg, &t), CST_OK);
  return t;
}

static int cmp16(const void *a, const void *b) {
  return memcmp(a, b, 16);
}

static void ids_are_nonzero_and_unique(void) {
  cst_tracer *t = tracer(CST_SAMPLER_ALWAYS_OFF, 1);
  enum { N = 100000 };
  uint8_t(*ids)[16] = malloc(sizeof(uint8_t[16]) * N);
  static const uint8_t zero[16];
  int zeros = 0;
  for (int i = 0; i < N; i++) {
    cst_span *s = cst_span_start(t, "x", CST_KIND_INTERNAL, NULL);
    uint8_t sid[8];
    cst_context_trace_id(cst_span_context(s), ids[i]);
    cst_context_span_id(cst_span_context(s), sid);
    zeros += memcmp(ids[i], zero, 16) == 0 || memcmp(sid, zero, 8) == 0;
    cst_span_end(s);
  }
  CHECK_EQ(zeros, 0);
  qsort(ids, N, 16, cmp16);
  int dups = 0;
  for (int i = 1; i < N; i++)
    dups += memcmp(ids[i], ids[i - 1], 16) == 0;
  CHECK_EQ(dups, 0);
  free(ids);
  cst_tracer_free(t);
}

static cst_tracer *shared_t;
static void *thread_ids(void *out) {
  cst_span *s = cst_span_start(shared_t, "x", CST_KIND_INTERNAL, NULL);
  cst_context_trace_id(cst_span_context(s), out);
  cst_span_end(s);
  return NULL;
}

static void threads_get_different_ids(void) {
  shared_t = tracer(CST_SAMPLER_ALWAYS_OFF, 1);
  uint8_t a[16], b[16];
  pthread_t x, y;
  pthread_create(&x, NULL, thread_ids, a);
  pthread_create(&y, NULL, thread_ids, b);
  pthread_join(x, NULL);
  pthread_join(y, NULL);
  CHECK(memcmp(a, b, 16) != 0);
  cst_tracer_free(shared_t);
}

static void forked_child_does_not_repeat_parent_ids(void) {
  cst_tracer *t = tracer(CST_SAMPLER_ALWAYS_OFF, 1);
  cst_span *warm = cst_span_start(t, "warm", CST_KIND_INTERNAL, NULL);
  cst_span_end(warm);
  int fds[2];
  CHECK_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    /* The old tracer is inert here; a new one works and has fresh IDs. */
    cst_span *dead = cst_span_start(t, "dead", CST_KIND_INTERNAL, NULL);
    int inert = !cst_span_is_recording(dead) && !cst_context_is_valid(cst_span_context(dead));
    cst_span_end(dead);
    cst_tracer_free(t);
    /* ...and a tracer created in the child works, exporter thread and all
     * (ThreadSanitizer cannot start threads after a multi-threaded fork). */
#if !defined(TSAN_BUILD)
    cst_tracer *fresh = tracer(CST_SAMPLER_ALWAYS_ON, 1);
    cst_span *live = cst_span_start(fresh, "child", CST_KIND_INTERNAL, NULL);
    inert = inert && cst_span_is_recording(live);
    cst_span_end(live);
    inert = inert && cst_tracer_flush(fresh, 5000) == CST_OK;
    cst_tracer_free(fresh);
#endif
    uint64_t v = __cst_rand64();
    uint8_t msg[9];
    memcpy(msg, &v, 8);
    msg[8] = (uint8_t)inert;
    ssize_t w = write(fds[1], msg, 9);
    _exit(w == 9 ? 0 : 1);
  }
  uint8_t msg[9] = {0};
  close(fds[1]);
  CHECK_EQ(read(fds[0], msg, 9), 9);
  close(fds[0]);
  int st;
  waitpid(pid, &st, 0);
  uint64_t child, mine = __cst_rand64();
  memcpy(&child, msg, 8);
  CHECK(child != mine);
  CHECK_EQ(msg[8], 1);
  cst_tracer_free(t);
}

static void tid_with_r(uint8_t tid[16], uint64_t r) {
  memset(tid, 0xab, 16);
  for (int i = 15; i >= 9; i--, r >>= 8)
    tid[i] = (uint8_t)r;
}

static void ratio_rule_is_the_56_bit_threshold(void) {
  uint8_t tid[16];
  /* ratio 0.25: T = 0.75 * 2^56; sampled iff R >= T. */
  uint64_t T = (uint64_t)(0.75 * 72057594037927936.0);
  tid_with_r(tid, T);
  CHECK_EQ(cst_sample_ratio(tid, 0.25), 1);
  tid_with_r(tid, T - 1);
  CHECK_EQ(cst_sample_ratio(tid, 0.25), 0);
  tid_with_r(tid, (1ull << 56) - 1);
  CHECK_EQ(cst_sample_ratio(tid, 0.25), 1);
  tid_with_r(tid, 0);
  CHECK_EQ(cst_sample_ratio(tid, 0.25), 0);
  CHECK_EQ(cst_sample_ratio(tid, 1.0), 1); /* R = 0 still sampled at 100% */
  tid_with_r(tid, (1ull << 56) - 1);
  CHECK_EQ(cst_sample_ratio(tid, 0.0), 0);
  /* The leftmost 9 bytes play no part. */
  uint8_t other[16];
  tid_with_r(other, T);
  memset(other, 0x00, 9);
  tid_with_r(tid, T);
  CHECK_EQ(cst_sample_ratio(other, 0.25), cst_sample_ratio(tid, 0.25));
  /* Over random IDs the fraction is the ratio. */
  int hits = 0;
  for (int i = 0; i < 200000; i++) {
    uint64_t a = __cst_rand64(), b = __cst_rand64();
    memcpy(tid, &a, 8);
    memcpy(tid + 8, &b, 8);
    hits += cst_sample_ratio(tid, 0.1);
  }
  CHECK(hits > 19000 && hits < 21000);
}

static void every_service_decides_the_same_for_a_trace(void) {
  cst_tracer *a = tracer(CST_SAMPLER_RATIO, 0.3), *b = tracer(CST_SAMPLER_RATIO, 0.3);
  int agree = 0, sampled = 0;
  for (int i = 0; i < 2000; i++) {
    cst_span *s = cst_span_start(a, "a", CST_KIND_SERVER, NULL);
    /* b sees the same trace ID through a context but ignores the flag (not
     * parent-based): its decision comes from the ID alone. */
    cst_span *c = cst_span_start(b, "b", CST_KIND_SERVER, cst_span_context(s));
    agree += cst_span_is_recording(s) == cst_span_is_recording(c);
    sampled += cst_span_is_recording(s);
    cst_span_end(c);
    cst_span_end(s);
  }
  CHECK_EQ(agree, 2000);
  CHECK(sampled > 450 && sampled < 750);
  cst_tracer_free(a);
  cst_tracer_free(b);
}

static void explicit_randomness_in_tracestate_wins(void) {
  cst_tracer *t = tracer(CST_SAMPLER_RATIO, 0.5);
  /* Trace ID with R = 0 (never sampled at 50%) but rv says max. */
  const char *hdr[][2] = {
      {"traceparent", "00-ababababababababab00000000000000-00f067aa0ba902b7-00"},
      {"tracestate", "ot=th:8;rv:ffffffffffffff,x=1"}};
  for (int with_rv = 0; with_rv < 2; with_rv++) {
    __cst_bag *bag = with_rv ? __cst_bag_make(hdr[1][1], strlen(hdr[1][1]), NULL, 0) : NULL;
    cst_context ctx;
    CHECK(__cst_parse_traceparent(hdr[0][1], strlen(hdr[0][1]), &ctx));
    ctx.bag = bag;
    cst_span *s = cst_span_start(t, "rv", CST_KIND_SERVER, &ctx);
    CHECK_EQ(cst_span_is_recording(s), with_rv);
    cst_span_end(s);
    __cst_bag_unref(bag);
  }
  cst_tracer_free(t);
}

static void parent_based_follows_the_parent(void) {
  cst_tracer *on = tracer(CST_SAMPLER_PARENT_ALWAYS_ON, 1);
  cst_tracer *off = tracer(CST_SAMPLER_PARENT_ALWAYS_OFF, 1);
  cst_tracer *ratio0 = tracer(CST_SAMPLER_PARENT_RATIO, 0);
  cst_context yes, no;
  CHECK(
      __cst_parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 55, &yes));
  CHECK(
      __cst_parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", 55, &no));
  struct {
    cst_tracer *t;
    const cst_context *p;
    int want;
  } cases[] = {{on, &yes, 1}, {on, &no, 0},   {on, NULL, 1},     {off, &yes, 1},
               {off, &no, 0}, {off, NULL, 0}, {ratio0, &yes, 1}, {ratio0, NULL, 0}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cst_span *s = cst_span_start(cases[i].t, "p", CST_KIND_SERVER, cases[i].p);
    CHECK_EQ(cst_span_is_recording(s), cases[i].want);
    cst_span_end(s);
  }
  cst_tracer_free(on);
  cst_tracer_free(off);
  cst_tracer_free(ratio0);
}

static void env_configures_sampler_and_endpoint(void) {
  setenv("OTEL_TRACES_SAMPLER", "traceidratio", 1);
  setenv("OTEL_TRACES_SAMPLER_ARG", "0.5", 1);
  setenv("OTEL_SERVICE_NAME", "env-svc", 1);
  setenv("CALLSCOPE_ENDPOINT", "tcp://127.0.0.1:4999", 1);
  setenv("OTEL_PROPAGATORS", "tracecontext,b3multi", 1);
  cst_config cfg;
  CHECK_EQ(cst_config_init(&cfg), CST_OK);
  CHECK_EQ(cfg.sampler, CST_SAMPLER_RATIO);
  CHECK(cfg.sampler_ratio == 0.5);
  CHECK_STR(cfg.service_name, "env-svc");
  CHECK_STR(cfg.endpoint, "tcp://127.0.0.1:4999");
  CHECK_EQ(cfg.propagators, CST_PROP_TRACECONTEXT | CST_PROP_B3_MULTI);
  setenv("OTEL_TRACES_SAMPLER_ARG", "1.5", 1);
  setenv("CALLSCOPE_ENDPOINT", "http://x", 1);
  CHECK_EQ(cst_config_init(&cfg), CST_EENV);
  CHECK(cfg.sampler_ratio == 1.0);
  CHECK(cfg.endpoint == NULL);
  unsetenv("OTEL_TRACES_SAMPLER");
  unsetenv("OTEL_TRACES_SAMPLER_ARG");
  unsetenv("OTEL_SERVICE_NAME");
  unsetenv("CALLSCOPE_ENDPOINT");
  unsetenv("OTEL_PROPAGATORS");
  __cst_resolved r;
  CHECK_EQ(__cst_parse_endpoint("udp://[::1]:4320", &r), CST_OK);
  CHECK_EQ(__cst_parse_endpoint("tcp://127.0.0.1:0", &r), CST_EENDPOINT);
  CHECK_EQ(__cst_parse_endpoint("tcp://127.0.0.1:65536", &r), CST_EENDPOINT);
  CHECK_EQ(__cst_parse_endpoint("tcp://127.0.0.1:12x", &r), CST_EENDPOINT);
  CHECK_EQ(__cst_parse_endpoint("127.0.0.1:4320", &r), CST_EENDPOINT);
  cst_tracer *t;
  cst_config bad;
  cst_config_defaults(&bad);
  bad.endpoint = "ftp://x:1";
  CHECK_EQ(cst_tracer_new(&bad, &t), CST_EENDPOINT);
  CHECK_STR(cst_strerror(CST_EENDPOINT),
            "malformed endpoint, want udp://host:port or tcp://host:port");
}

static uint64_t realtime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void span_clock_tracks_realtime(void) {
  /* The exporter calibrates the TSC clock within its first passes. */
  cst_tracer *t = tracer(CST_SAMPLER_ALWAYS_ON, 1);
  usleep(500 * 1000);
  int64_t worst = 0;
  uint64_t prev = 0;
  int backwards = 0;
  for (int i = 0; i < 20000; i++) {
    uint64_t a = realtime(), n = cst_now_ns(), b = realtime();
    int64_t off = n < a ? (int64_t)(a - n) : n > b ? (int64_t)(n - b) : 0;
    if (off > worst)
      worst = off;
    backwards += n < prev;
    prev = n;
    if (i % 5000 == 0)
      usleep(100 * 1000);
  }
  fprintf(stderr, "span clock (%s): worst offset from CLOCK_REALTIME %lld ns\n",
          __cst_clock_tsc() ? "tsc" : "clock_gettime", (long long)worst);
#if defined(__x86_64__)
  if (!getenv("CST_TEST_NO_TSC"))
    CHECK_EQ(__cst_clock_tsc(), 1); /* invariant TSC on x86-64 hosts */
#endif
  CHECK(worst < 20000);  /* 20 us */
  CHECK(backwards <= 3); /* at most a few ns steps at re-anchoring */
  cst_tracer_free(t);
}

int main(void) {
  RUN(ids_are_nonzero_and_unique);
  RUN(threads_get_different_ids);
  RUN(forked_child_does_not_repeat_parent_ids);
  RUN(ratio_rule_is_the_56_bit_threshold);
  RUN(every_service_decides_the_same_for_a_trace);
  RUN(explicit_randomness_in_tracestate_wins);
  RUN(parent_based_follows_the_parent);
  RUN(env_configures_sampler_and_endpoint);
  RUN(span_clock_tracks_realtime);
  return CHECK_DONE();
}
