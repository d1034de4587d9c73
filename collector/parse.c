/* See parse.h. */
#include "parse.h"

#include <errno.h>
#include <stdlib.h>

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
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || v == 0) return -1;
  uint64_t mul;
  switch (*end) {
  case '\0':
  case 's': mul = 1; break;
  case 'm': mul = 60; break;
  case 'h': mul = 3600; break;
  case 'd': mul = 86400; break;
  default: return -1;
  }
  if (*end && end[1]) return -1;
  /* Anything past a century is a typo, and keeps *1e9 far from overflow. */
  if (v > 100ull * 365 * 86400 / mul) return -1;
  *out = v * mul;
  return 0;
}
