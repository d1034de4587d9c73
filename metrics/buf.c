/* Appending to the metrics buffer (common/buf.h's capped buffer) and
 * number formatting for the exposition formats. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* max is the longest text; the buffer holds one more byte for the NUL. */
void __cs_metrics_buf_init(mbuf *b, size_t max) {
  cs_buf_init(b, max < SIZE_MAX ? max + 1 : max);
}

void __cs_metrics_buf_release(mbuf *b) {
  cs_buf_free(b);
}

void __cs_metrics_buf_reserve(mbuf *b, size_t n) {
  /* Only a hint: failing here is not an error. */
  if (b->err || n <= b->cap)
    return;
  size_t max = b->max ? b->max : CS_BUF_MAX_DEFAULT;
  if (n > max)
    n = max;
  if (cs_buf_reserve(b, n - b->n))
    b->err = 0;
}

/* Keeps the text NUL-terminated (the NUL is not counted in n). */
void __cs_metrics_buf_add(mbuf *b, const void *p, size_t n) {
  if (n == 0 || n == SIZE_MAX || cs_buf_reserve(b, n + 1))
    return;
  memcpy(b->p + b->n, p, n);
  b->n += n;
  b->p[b->n] = 0;
}

void __cs_metrics_buf_str(mbuf *b, const char *s) { __cs_metrics_buf_add(b, s, strlen(s)); }

void __cs_metrics_buf_char(mbuf *b, char c) { __cs_metrics_buf_add(b, &c, 1); }

/* Renders are mostly integers (bucket counts, counters): a hand-rolled
 * conversion is several times cheaper than snprintf. */
static size_t fmt_u64(char *out, uint64_t v) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  return n;
}

void __cs_metrics_buf_u64(mbuf *b, uint64_t v) {
  char tmp[24];
  __cs_metrics_buf_add(b, tmp, fmt_u64(tmp, v));
}

size_t __cs_metrics_fmt_double(char *out, size_t cap, double v) {
  if (cap < 32) return 0;
  if (isnan(v)) {
    memcpy(out, "NaN", 3);
    return 3;
  }
  if (isinf(v)) {
    memcpy(out, v > 0 ? "+Inf" : "-Inf", 4);
    return 4;
  }
  /* Integral values (most counters) print without an exponent or a point;
   * 2^53 is where doubles stop holding every integer. */
  if (v == floor(v) && fabs(v) < 9007199254740992.0) {
    if (v < 0) {
      out[0] = '-';
      return 1 + fmt_u64(out + 1, (uint64_t)-v);
    }
    return fmt_u64(out, (uint64_t)v);
  }
  int n = 0;
  for (int prec = 15; prec <= 17; prec++) {
    n = snprintf(out, cap, "%.*g", prec, v);
    if (strtod(out, NULL) == v) break;
  }
  return n > 0 ? (size_t)n : 0;
}

void __cs_metrics_buf_double(mbuf *b, double v) {
  char tmp[40];
  __cs_metrics_buf_add(b, tmp, __cs_metrics_fmt_double(tmp, sizeof tmp, v));
}
