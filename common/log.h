/* One-line-per-event logging for the daemons: time, level, component,
 * message. The level is checked before the arguments are evaluated. */
#ifndef CS_LOG_H
#define CS_LOG_H

enum cs_log_level { CS_LOG_DEBUG = 0, CS_LOG_INFO = 1, CS_LOG_WARN = 2, CS_LOG_ERROR = 3 };

extern int cs_log_min_level;

void cs_log_write(int level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define cs_log(level, component, ...)                                  \
  do {                                                                 \
    if ((level) >= cs_log_min_level) cs_log_write((level), (component), __VA_ARGS__); \
  } while (0)

/* Parses "debug", "info", "warn", "error"; returns -1 for anything else. */
int cs_log_parse_level(const char *s);

#endif
