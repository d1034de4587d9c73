/* The capped growable buffer every metrics output and label key is written
 * into, and number formatting for the exposition formats. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void __cs_metrics_buf_init(mbuf *b, size_t max) {
  memset(b, 0, sizeof *b);
  b->max = max;
}

void __cs_metrics_buf_release(mbuf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

/* Keeps one spare byte so the text can always be NUL-terminated. */
static int grow(mbuf *b, size_t need) {
  if (b->err) return -1;
  if (need > b->max) {
    b->err = CS_METRICS_ETOOBIG;
    return -1;
  }
  if (need + 1 <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need + 1) cap *= 2;
  if (cap > b->max + 1) cap = b->max + 1;
  char *p = realloc(b->p, cap);
  if (!p) {
    b->err = CS_METRICS_ENOMEM;
    return -1;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

void __cs_metrics_buf_add(mbuf *b, const void *p, size_t n) {
  if (n == 0 || grow(b, b->n + n)) return;
  memcpy(b->p + b->n, p, n);
  b->n += n;
  b->p[b->n] = 0;
}

void __cs_metrics_buf_str(mbuf *b, const char *s) { __cs_metrics_buf_add(b, s, strlen(s)); }

void __cs_metrics_buf_char(mbuf *b, char c) { __cs_metrics_buf_add(b, &c, 1); }

void __cs_metrics_buf_u64(mbuf *b, uint64_t v) {
  char tmp[24];
  int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
  __cs_metrics_buf_add(b, tmp, (size_t)n);
}

void __cs_metrics_buf_double(mbuf *b, double v) {
  if (isnan(v)) {
    __cs_metrics_buf_str(b, "NaN");
    return;
  }
  if (isinf(v)) {
    __cs_metrics_buf_str(b, v > 0 ? "+Inf" : "-Inf");
    return;
  }
  char tmp[40];
  int n;
  /* Integral values (most counters) print without an exponent or a point;
   * 2^53 is where doubles stop holding every integer. */
  if (v == floor(v) && fabs(v) < 9007199254740992.0) {
    n = snprintf(tmp, sizeof tmp, "%.0f", v);
  } else {
    n = 0;
    for (int prec = 15; prec <= 17; prec++) {
      n = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
      if (strtod(tmp, NULL) == v) break;
    }
  }
  __cs_metrics_buf_add(b, tmp, (size_t)n);
}
