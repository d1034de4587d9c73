/* Command-line value parsing for the daemons: durations ("72h", "30m",
 * "7d", "45s", bare seconds) and unsigned integers, with full error checks
 * (no atoi: trailing junk and overflow are errors). */
#ifndef CS_PARSE_H
#define CS_PARSE_H

#include <stdint.h>

/* Parses a duration into seconds. Returns 0, or -1 when malformed, zero or
 * out of range. Thread-safety: pure function. */
int cs_parse_duration_s(const char *s, uint64_t *out);

/* Parses a decimal integer in [min, max]. Returns 0 or -1. */
int cs_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
