/* One-line-per-event logging for the daemons: time, level, component,
 * message. The level is checked before the arguments are evaluated. */
#ifndef CS_LOG_H
#define CS_LOG_H

#include <stdint.h>

enum cs_log_level { CS_LOG_DEBUG = 0, CS_LOG_INFO = 1, CS_LOG_WARN = 2, CS_LOG_ERROR = 3 };

extern int cs_log_min_level;

void cs_log_write(int level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define cs_log(level, component, ...)                                                              \
  do {                                                                                             \
    if ((level) >= cs_log_min_level)                                                               \
      cs_log_write((level), (component), __VA_ARGS__);                                             \
  } while (0)

/* A budget of log lines for one kind of event, so that a flood caused from
 * outside cannot flood the log: at most `lines` per `window_ms`, the rest
 * counted. Zero-initialise it. Thread-safety: none; one owner thread. */
typedef struct {
  uint64_t window_end_ms;
  uint32_t used;
  uint64_t suppressed;
} cs_lograte;

/* Takes one line from the budget at now_ms (any monotonic clock). Returns 1
 * when the line may be written, 0 when it is suppressed (and counted). When
 * a new window opens, *dropped gets the number of lines suppressed since the
 * previous window opened, for the caller to report; otherwise 0. */
int cs_lograte_take(cs_lograte *r, uint64_t now_ms, uint32_t lines, uint32_t window_ms,
                    uint64_t *dropped);

/* Parses "debug", "info", "warn", "error"; returns -1 for anything else. */
int cs_log_parse_level(const char *s);

#endif
