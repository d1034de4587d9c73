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
#define CST_ERR_STR_(name, val, msg) case CST_##name: return msg;
    CST_ERRNO_MAP(CST_ERR_STR_)
#undef CST_ERR_STR_
  }
  return "unknown error";
}

uint64_t __cst_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t cst_now_ns(void) { return __cst_now(); }

static void on_fork_child(void) {
  /* Tracers created before the fork become inert, and every thread's
   * generator reseeds, so parent and child never share IDs. */
  atomic_fetch_add(&__cst_fork_gen, 1);
  __cst_t.ring = NULL;
  __cst_t.ring_gen = 0;
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void install_atfork(void) { pthread_atfork(NULL, NULL, on_fork_child); }

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
  if (!t || !t->cfg.log || level > t->cfg.log_level) return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  t->cfg.log(t->cfg.log_user, level, msg);
}
