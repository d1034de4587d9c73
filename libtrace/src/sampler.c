/* Sampling. The ratio rule is OpenTelemetry's consistent-probability rule:
 * compare the 56 random bits at the right of the trace ID (or the explicit
 * rv: value in the ot= tracestate entry) with a 56-bit rejection threshold,
 * so every service that sees the trace ID takes the same decision. */
#include <string.h>

#include "internal.h"

#define TWO56 72057594037927936.0 /* 2^56 */

static int sample_r(uint64_t r, double ratio) {
  if (!(ratio > 0))
    return 0; /* also NaN */
  if (ratio >= 1)
    return 1;
  double tf = (1.0 - ratio) * TWO56;
  uint64_t threshold = (uint64_t)(tf + 0.5);
  if (threshold >= (1ull << 56))
    return 0;
  return r >= threshold;
}

static uint64_t r_of(const uint8_t tid[16]) {
  uint64_t r = 0;
  for (int i = 9; i < 16; i++)
    r = r << 8 | tid[i];
  return r;
}

int cst_sample_ratio(const uint8_t trace_id[16], double ratio) {
  return sample_r(r_of(trace_id), ratio);
}

/* Explicit randomness: tracestate "ot=...;rv:<14 hex>;..." overrides the
 * trace ID bits, as the OpenTelemetry tracestate handling spec says. */
static int explicit_rv(const __cst_bag *bag, uint64_t *out) {
  if (!bag || bag->ts_len < 3)
    return 0;
  const char *ts = bag->tracestate, *end = ts + bag->ts_len;
  while (ts < end) {
    const char *comma = memchr(ts, ',', (size_t)(end - ts));
    const char *me = comma ? comma : end;
    if (me - ts > 3 && memcmp(ts, "ot=", 3) == 0) {
      const char *p = ts + 3;
      while (p < me) {
        const char *semi = memchr(p, ';', (size_t)(me - p));
        const char *fe = semi ? semi : me;
        if (fe - p == 17 && memcmp(p, "rv:", 3) == 0) {
          uint8_t b[7];
          if (!__cst_hex_decode(p + 3, 14, b))
            return 0;
          uint64_t r = 0;
          for (int i = 0; i < 7; i++)
            r = r << 8 | b[i];
          *out = r;
          return 1;
        }
        p = fe + 1;
      }
      return 0;
    }
    ts = me + 1;
  }
  return 0;
}

/* Out of line, so that the local whose address explicit_rv takes gives only
 * this path a stack-protector check, not every sampling decision. */
static __attribute__((noinline)) int sample_ratio(const cst_tracer *t, const cst_context *parent,
                                                  const uint8_t trace_id[16]) {
  uint64_t r;
  if (!explicit_rv(parent ? parent->bag : NULL, &r))
    r = r_of(trace_id);
  return sample_r(r, t->ratio);
}

int __cst_should_sample(const cst_tracer *t, const cst_context *parent,
                        const uint8_t trace_id[16]) {
  if (t->parent_based && parent) {
    if (parent->valid && parent->b3_sampling != 2)
      return parent->flags & 1;
    if (!parent->valid && (parent->b3_sampling == 0 || parent->b3_sampling == 1))
      return parent->b3_sampling;
  }
  switch (t->sampler_root) {
  case CST_SAMPLER_ALWAYS_OFF: return 0;
  case CST_SAMPLER_RATIO: return sample_ratio(t, parent, trace_id);
  default: return 1;
  }
}
