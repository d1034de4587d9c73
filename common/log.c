/* Writes log lines to stderr with one write() each, so lines from several
 * threads never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int cs_log_min_level = CS_LOG_INFO;

static const char *level_name(int level) {
  switch (level) {
  case CS_LOG_DEBUG: return "debug";
  case CS_LOG_INFO: return "info";
  case CS_LOG_WARN: return "warn";
  default: return "error";
  }
}

void cs_log_write(int level, const char *component, const char *fmt, ...) {
  char line[1024];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  int n =
      snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ", tm.tm_year + 1900,
               tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
               level_name(level), component);
  if (n < 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 2)
    len = sizeof line - 2;
  line[len++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, len);
  (void)w;
}

int cs_log_parse_level(const char *s) {
  if (!strcmp(s, "debug"))
    return CS_LOG_DEBUG;
  if (!strcmp(s, "info"))
    return CS_LOG_INFO;
  if (!strcmp(s, "warn"))
    return CS_LOG_WARN;
  if (!strcmp(s, "error"))
    return CS_LOG_ERROR;
  return -1;
}

int cs_lograte_take(cs_lograte *r, uint64_t now_ms, uint32_t lines, uint32_t window_ms,
                    uint64_t *dropped) {
  *dropped = 0;
  if (now_ms >= r->window_end_ms) {
    *dropped = r->suppressed;
    r->suppressed = 0;
    r->used = 0;
    r->window_end_ms = now_ms + window_ms;
  }
  if (r->used >= lines) {
    r->suppressed++;
    return 0;
  }
  r->used++;
  return 1;
}
