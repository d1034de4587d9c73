/* Small helpers of the example services: one-line logging, a per-thread
 * random generator, sleeping and the monotonic clock. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "exlib.h"

static char g_component[64] = "example";
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;

void ex_log_init(const char *service) { snprintf(g_component, sizeof g_component, "%s", service); }

void ex_log(const char *level, const char *fmt, ...) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char line[1024];
  int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   ts.tv_nsec / 1000000, level, g_component);
  if (n < 0) return;
  if ((size_t)n < sizeof line - 2) {
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - 2 - (size_t)n, fmt, ap);
    va_end(ap);
    if (m > 0) n += m;
    if ((size_t)n > sizeof line - 2) n = (int)sizeof line - 2;
  }
  line[n++] = '\n';
  /* One write per line under a lock so lines from threads never interleave. */
  pthread_mutex_lock(&g_log_mu);
  fwrite(line, 1, (size_t)n, stderr);
  fflush(stderr);
  pthread_mutex_unlock(&g_log_mu);
}

/* xorshift64*, seeded per thread from getrandom (with a clock fallback). */
static _Thread_local uint64_t t_rng;

uint64_t ex_rand(void) {
  if (!t_rng) {
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)pthread_self();
    }
    t_rng = seed ? seed : 0x9e3779b97f4a7c15ull;
  }
  t_rng ^= t_rng >> 12;
  t_rng ^= t_rng << 25;
  t_rng ^= t_rng >> 27;
  return t_rng * 0x2545f4914f6cdd1dull;
}

double ex_rand01(void) { return (double)(ex_rand() >> 11) / 9007199254740992.0; }

void ex_sleep_ms(uint32_t ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

double ex_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}
