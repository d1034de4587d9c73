/* Duration parsing and printing (see duration.h). Hand-written rather
 * than strtod: that accepts locale-dependent forms, leading spaces, signs
 * and hex floats that a flag or URL parameter should not. */
#include "duration.h"

#include <stdio.h>
#include <string.h>

/* The longest matching name wins, so "ms" is not read as "m". */
static const struct {
  const char *name;
  uint64_t ns;
} units[] = {
    {"ns", 1ull},
    {"us", 1000ull},
    {"\xc2\xb5s", 1000ull}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000ull}, /* U+03BC greek mu */
    {"ms", 1000000ull},
    {"s", 1000000000ull},
    {"m", 60000000000ull},
    {"h", 3600000000000ull},
    {"d", 86400000000000ull},
};

int cs_duration_parse(const char *s, size_t n, uint64_t *ns) {
  if (!s || n == 0 || n > 64)
    return -1;
  if (n == 1 && s[0] == '0') {
    *ns = 0;
    return 0;
  }
  size_t i = 0;
  uint64_t total = 0;
  while (i < n) {
    /* Integer and fraction parts, as Go does: at least one digit overall. */
    uint64_t whole = 0, frac = 0, scale = 1;
    size_t digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      if (whole > (UINT64_MAX - 9) / 10)
        return -1;
      whole = whole * 10 + (uint64_t)(s[i] - '0');
      i++, digits++;
    }
    if (i < n && s[i] == '.') {
      i++;
      while (i < n && s[i] >= '0' && s[i] <= '9') {
        /* Digits past nanosecond precision of a day are dropped. */
        if (scale < 1000000000000000ull) {
          frac = frac * 10 + (uint64_t)(s[i] - '0');
          scale *= 10;
        }
        i++, digits++;
      }
    }
    if (!digits)
      return -1;
    uint64_t unit = 0;
    size_t ul = 0;
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
      size_t l = strlen(units[u].name);
      if (n - i >= l && memcmp(s + i, units[u].name, l) == 0 && l > ul) {
        unit = units[u].ns;
        ul = l;
      }
    }
    if (!unit)
      return -1;
    i += ul;
    if (whole && unit > UINT64_MAX / whole)
      return -1;
    uint64_t v = whole * unit;
    /* frac/scale * unit: frac < scale <= 1e15 and unit <= 8.64e13, so the
     * product fits a long double's range and the quotient is below unit. */
    uint64_t fv = (uint64_t)((long double)frac * (long double)unit / (long double)scale);
    if (v > UINT64_MAX - fv)
      return -1;
    v += fv;
    if (total > UINT64_MAX - v)
      return -1;
    total += v;
  }
  /* Go's durations are int64 nanoseconds; larger ones are errors there. */
  if (total > (uint64_t)INT64_MAX)
    return -1;
  *ns = total;
  return 0;
}

char *cs_duration_format(uint64_t ns, char *buf, size_t cap) {
  if (!cap)
    return buf;
  size_t u = sizeof units / sizeof units[0];
  while (u-- > 0) {
    if (units[u].name[0] == '\xc2' || units[u].name[0] == '\xce')
      continue;
    if (ns && ns % units[u].ns == 0)
      break;
  }
  if (!ns)
    snprintf(buf, cap, "0");
  else
    snprintf(buf, cap, "%llu%s", (unsigned long long)(ns / units[u].ns), units[u].name);
  return buf;
}
