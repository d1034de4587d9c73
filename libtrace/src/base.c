/* Small process-wide pieces: error strings, the clock, the per-thread ID
 * generator and its seeding, fork detection, and the log helper. */
#include <stdarg.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

CST_TLS __cst_tls __cst_t;
atomic_uint_fast64_t __cst_fork_gen;

const char *cst_strerror(int err) {
  switch (err) {
  case CST_OK: return "ok";
#define CST_ERR_STR_(name, val, msg)                                                               \
  case CST_##name: return msg;
    CST_ERRNO_MAP(CST_ERR_STR_)
#undef CST_ERR_STR_
  }
  return "unknown error";
}

/* Out of line: its timespec would otherwise give __cst_now's fast path a
 * stack-protector check (see u64_u in span.c). */
static __attribute__((noinline)) uint64_t realtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Span timestamps. clock_gettime costs ~28 ns in this VM and a span needs
 * two; reading the TSC and scaling it costs ~16. On x86-64 with an
 * invariant TSC the exporter thread calibrates TSC -> CLOCK_REALTIME
 * (anchor and rate, re-anchored every second, rate measured over up to
 * ten seconds) and publishes it through a seqlock over two slots; readers
 * never block and fall back to clock_gettime whenever the calibration is
 * missing, being replaced, or too old. Elsewhere: clock_gettime. */
#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
typedef struct calib {
  atomic_uint_fast64_t tsc, ns, mult; /* mult: ns per tick << 32 */
} calib;
static calib cal[2];
static atomic_uint cal_seq;
static atomic_int cal_ready;

uint64_t __cst_now(void) {
  if (CST_LIKELY(atomic_load_explicit(&cal_ready, memory_order_relaxed))) {
    unsigned s = atomic_load_explicit(&cal_seq, memory_order_acquire);
    const calib *c = &cal[s & 1];
    uint64_t bt = atomic_load_explicit(&c->tsc, memory_order_relaxed);
    uint64_t bn = atomic_load_explicit(&c->ns, memory_order_relaxed);
    uint64_t m = atomic_load_explicit(&c->mult, memory_order_relaxed);
    uint64_t t = __rdtsc();
    atomic_thread_fence(memory_order_acquire);
    uint64_t d = t - bt;
    /* Within ~2^34 ticks (a few seconds) of the anchor, and not replaced. */
    if (atomic_load_explicit(&cal_seq, memory_order_relaxed) == s && d < (1ull << 34))
      return bn + (uint64_t)(((__uint128_t)d * m) >> 32);
  }
  return realtime_ns();
}

static pthread_mutex_t cal_mu = PTHREAD_MUTEX_INITIALIZER;
static int tsc_usable = -1;
static uint64_t rate_tsc, rate_ns, last_anchor_ns;

static void sample(uint64_t *tsc, uint64_t *ns) {
  /* Bracket the clock read with two TSC reads; keep the tightest of three. */
  uint64_t best = UINT64_MAX;
  for (int i = 0; i < 3; i++) {
    uint64_t a = __rdtsc(), n = realtime_ns(), b = __rdtsc();
    if (b - a < best) {
      best = b - a;
      *tsc = a + (b - a) / 2;
      *ns = n;
    }
  }
}

void __cst_clock_calibrate(void) {
  pthread_mutex_lock(&cal_mu);
  if (tsc_usable < 0) {
    unsigned a, b, c, d;
    tsc_usable = __get_cpuid(0x80000007, &a, &b, &c, &d) && (d & (1u << 8)); /* invariant TSC */
  }
  if (!tsc_usable)
    goto out;
  uint64_t t = 0, n = 0;
  sample(&t, &n);
  if (!rate_ns || n < rate_ns || t < rate_tsc) { /* first call, or the clock stepped back */
    rate_tsc = t;
    rate_ns = n;
    atomic_store(&cal_ready, 0);
    goto out;
  }
  if (n - rate_ns > 10000000000ull) { /* measure the rate over the last ~10 s only */
    rate_tsc = t;
    rate_ns = n;
    goto out; /* the published calibration stays in use meanwhile */
  }
  if (n - rate_ns < 20000000ull)
    goto out; /* 20 ms of baseline first */
  if (atomic_load(&cal_ready) && n - last_anchor_ns < 1000000000ull)
    goto out; /* once a second */
  uint64_t mult = (uint64_t)(((__uint128_t)(n - rate_ns) << 32) / (t - rate_tsc));
  unsigned s = atomic_load(&cal_seq) + 1;
  calib *c = &cal[s & 1];
  atomic_store_explicit(&c->tsc, t, memory_order_relaxed);
  atomic_store_explicit(&c->ns, n, memory_order_relaxed);
  atomic_store_explicit(&c->mult, mult, memory_order_relaxed);
  atomic_store_explicit(&cal_seq, s, memory_order_release);
  atomic_store_explicit(&cal_ready, 1, memory_order_relaxed);
  last_anchor_ns = n;
out:
  pthread_mutex_unlock(&cal_mu);
}
int __cst_clock_tsc(void) {
  return atomic_load(&cal_ready);
}
void __cst_clock_after_fork(void) {
  pthread_mutex_init(&cal_mu, NULL);
}
#else
uint64_t __cst_now(void) {
  return realtime_ns();
}
void __cst_clock_calibrate(void) {}
int __cst_clock_tsc(void) {
  return 0;
}
void __cst_clock_after_fork(void) {}
#endif

uint64_t cst_now_ns(void) {
  return __cst_now();
}

static void on_fork_child(void) {
  /* Tracers created before the fork become inert, and every thread's
   * generator reseeds, so parent and child never share IDs. */
  atomic_fetch_add(&__cst_fork_gen, 1);
  __cst_t.ring = NULL;
  __cst_t.ring_gen = 0;
  /* A parent's exporter may have held the calibration lock at the fork;
   * the child's first exporter must not wait for it forever. */
  __cst_clock_after_fork();
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void install_atfork(void) {
  pthread_atfork(NULL, NULL, on_fork_child);
}

/* Seeds the calling thread's generator from the OS once (and again after a
 * fork). getrandom costs hundreds of ns, so it must never be per span. */
void __cst_rng_seed(void) {
  pthread_once(&fork_once, install_atfork);
  uint64_t seed = 0;
  ssize_t n = getrandom(&seed, sizeof seed, GRND_NONBLOCK);
  if (n != (ssize_t)sizeof seed) {
    /* Early boot without entropy: mix what differs between threads. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    seed ^= (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid() << 32 ^
            (uint64_t)(uintptr_t)&__cst_t;
  }
  __cst_t.rng = seed;
  __cst_t.rng_fork_gen = atomic_load(&__cst_fork_gen) + 1;
}

void __cst_log(const cst_tracer *t, int level, const char *fmt, ...) {
  if (!t || !t->cfg.log || level > t->cfg.log_level)
    return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  t->cfg.log(t->cfg.log_user, level, msg);
}
