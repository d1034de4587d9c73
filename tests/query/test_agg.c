/* Per-minute sketches (dependency edges): bucket values within 0.5% of any
 * duration they hold, entries per (key, operation, kind, minute), the
 * filled flag, and the clear at the memory cap. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"
#include "check.h"

static void agg_bucket_value_within_half_percent(void) {
  uint64_t v = 1;
  int worst_ok = 1;
  for (int i = 0; i < 4000; i++) {
    uint16_t idx = cs_sk_index(v);
    double est = (double)cs_sk_value(idx);
    double err = fabs(est - (double)v) / (double)v;
    /* Integer rounding of tiny values adds up to half a nanosecond. */
    if (err > 0.005 + 0.5 / (double)v) {
      fprintf(stderr, "value %llu -> bucket %u -> %.0f (%.4f%%)\n", (unsigned long long)v, idx, est,
              err * 100);
      worst_ok = 0;
      break;
    }
    /* Monotone: a larger value never lands in a smaller bucket. */
    CHECK(cs_sk_index(v + 1) >= idx);
    v = v + 1 + v / 97;
    if (v > (uint64_t)1 << 62) break;
  }
  CHECK(worst_ok);
  CHECK_EQ(cs_sk_index(0), 0);
  CHECK_EQ(cs_sk_value(0), 0);
  /* From about 1 us up, where buckets are wider than a nanosecond, a
   * bucket's value falls back into the same bucket. */
  for (uint16_t i = 700; i < 4000; i += 7) CHECK_EQ(cs_sk_index(cs_sk_value(i)), i);
}

static void agg_counts_per_entry_and_minute(void) {
  cs_agg g;
  CHECK_EQ(cs_agg_init(&g, 0), 0);
  int64_t s = cs_agg_str(&g, "svc", 3, 1), o1 = cs_agg_str(&g, "op1", 3, 1),
          o2 = cs_agg_str(&g, "op2", 3, 1);
  CHECK(s >= 0 && o1 >= 0 && o2 >= 0 && o1 != o2);
  CHECK_EQ(cs_agg_str(&g, "op1", 3, 0), o1);
  CHECK_EQ(cs_agg_str(&g, "nope", 4, 0), -1);
  for (int i = 0; i < 100; i++) {
    CHECK_EQ(cs_agg_add(&g, (uint32_t)s, (uint32_t)o1, 2, 10, 1000 + (uint64_t)i, i % 10 == 0), 0);
    CHECK_EQ(cs_agg_add(&g, (uint32_t)s, (uint32_t)o2, 2, 10, 5000, 0), 0);
  }
  CHECK_EQ(cs_agg_add(&g, (uint32_t)s, (uint32_t)o1, 2, 11, 7, 0), 0);
  int filled = 1;
  int32_t h = cs_agg_head(&g, (uint32_t)s, 10, &filled);
  CHECK_EQ(filled, 0);
  int n = 0;
  uint64_t total = 0, errs = 0, max = 0;
  for (; h >= 0; h = g.e[h].next, n++) {
    total += g.e[h].count;
    errs += g.e[h].errors;
    if (g.e[h].max_ns > max) max = g.e[h].max_ns;
  }
  CHECK_EQ(n, 2);
  CHECK_EQ(total, 200);
  CHECK_EQ(errs, 10);
  CHECK_EQ(max, 5000);
  cs_agg_mark_filled(&g, (uint32_t)s, 10);
  cs_agg_mark_filled(&g, (uint32_t)s, 12);
  CHECK(cs_agg_head(&g, (uint32_t)s, 10, &filled) >= 0);
  CHECK_EQ(filled, 1);
  CHECK_EQ(cs_agg_head(&g, (uint32_t)s, 12, &filled), -1);
  CHECK_EQ(filled, 1);
  /* Entries added after the mark keep it. */
  CHECK_EQ(cs_agg_add(&g, (uint32_t)s, (uint32_t)o1, 3, 12, 9, 0), 0);
  CHECK(cs_agg_head(&g, (uint32_t)s, 12, &filled) >= 0);
  CHECK_EQ(filled, 1);
  /* Merging by bucket keeps counts, errors and the exact maximum. */
  CHECK_EQ(cs_agg_add_bucket(&g, (uint32_t)s, (uint32_t)o2, 2, 10, cs_sk_index(5000), 5, 2, 5001), 0);
  for (h = cs_agg_head(&g, (uint32_t)s, 10, NULL); h >= 0 && g.e[h].op != (uint32_t)o2; h = g.e[h].next) {
  }
  CHECK(h >= 0);
  if (h >= 0) {
    CHECK_EQ(g.e[h].count, 105);
    CHECK_EQ(g.e[h].errors, 2);
    CHECK_EQ(g.e[h].max_ns, 5001);
    CHECK_EQ(g.e[h].nb, 1);
  }
  cs_agg_release(&g);
}

static void agg_clears_at_the_cap_and_restarts(void) {
  cs_agg g;
  CHECK_EQ(cs_agg_init(&g, 3), 0); /* three bucket pairs in all */
  int64_t svc = cs_agg_str(&g, "svc", 3, 1), op = cs_agg_str(&g, "op", 2, 1);
  CHECK(svc >= 0 && op >= 0);
  int rc = 0;
  for (uint64_t i = 0; i < 5 && !rc; i++) /* five distinct buckets */
    rc = cs_agg_add(&g, (uint32_t)svc, (uint32_t)op, 2, 101, 1000 * (i + 1) * 50, 0);
  /* The fourth distinct bucket hits the cap: no more inserts until cleared. */
  CHECK_EQ(rc, -1);
  CHECK_EQ(g.full, 1);
  CHECK_EQ(g.pairs, 3);
  cs_agg_clear(&g);
  CHECK_EQ(g.n_e, 0);
  CHECK_EQ(g.full, 0);
  CHECK_EQ(g.max_pairs, 3);
  CHECK_EQ(cs_agg_str(&g, "svc", 3, 0), -1);
  svc = cs_agg_str(&g, "svc", 3, 1);
  CHECK_EQ(cs_agg_add(&g, (uint32_t)svc, 0, 2, 102, 1000, 0), 0);
  cs_agg_release(&g);
}

int main(void) {
  RUN(agg_bucket_value_within_half_percent);
  RUN(agg_counts_per_entry_and_minute);
  RUN(agg_clears_at_the_cap_and_restarts);
  return CHECK_DONE();
}
