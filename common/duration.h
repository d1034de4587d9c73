/* Durations as people write them in flags and query strings: Go's
 * time.ParseDuration syntax ("1.2s", "100ms", "1h30m", Jaeger's too) plus
 * a day unit ("7d"). The one parser behind every duration the daemons and
 * the query API accept, so a value that works in one place works in all. */
#ifndef CS_DURATION_H
#define CS_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* Parses n bytes of s: one or more <number><unit> parts, numbers with an
 * optional fraction, units ns, us (also µs), ms, s, m, h, d; "0" alone is
 * zero. Returns 0 with *ns set, or -1 (empty, missing unit, sign, space,
 * junk, over INT64_MAX nanoseconds as in Go). Thread-safety: pure. */
int cs_duration_parse(const char *s, size_t n, uint64_t *ns);

/* Writes ns in the largest unit that divides it exactly ("7d", "36h",
 * "90s", "250ms", "0"), NUL-terminated and truncated to cap. Returns buf.
 * Thread-safety: pure. */
char *cs_duration_format(uint64_t ns, char *buf, size_t cap);

#endif
