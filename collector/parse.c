/* See parse.h. */
#include "parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"

int cs_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
  if (!s || *s < '0' || *s > '9') return -1;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v < min || v > max) return -1;
  *out = v;
  return 0;
}

int cs_parse_duration_s(const char *s, uint64_t *out) {
  if (!s || *s < '0' || *s > '9') return -1;
  size_t n = strlen(s);
  uint64_t v, ns;
  /* A bare number is seconds; anything else is the shared duration syntax
   * (the query API's too), so "7d", "72h" and "1h30m" all work. */
  if (cs_parse_u64(s, 0, UINT64_MAX, &v) == 0) {
    if (v > UINT64_MAX / 1000000000ull) return -1;
    ns = v * 1000000000ull;
  } else if (cs_duration_parse(s, n, &ns)) {
    return -1;
  }
  v = ns / 1000000000ull;
  /* Anything past a century is a typo; under a second is no interval. */
  if (v == 0 || v > 100ull * 365 * 86400) return -1;
  *out = v;
  return 0;
}
