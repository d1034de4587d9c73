/* Per-minute sketches: bucket values within 0.5% of any duration they
 * hold, entries per (service, operation, kind, minute), the filled flag,
 * and the observer counting only minutes it saw from their start. */
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

static void agg_observer_counts_from_first_whole_minute(void) {
  cs_agg g;
  CHECK_EQ(cs_agg_init(&g, 0), 0);
  cs_resource r = {CS_STR_LIT("svc"), NULL, 0};
  const uint64_t M = 60000000000ull;
  cs_span sp[3];
  memset(sp, 0, sizeof sp);
  for (int i = 0; i < 3; i++) {
    sp[i].resource = &r;
    sp[i].name = CS_STR_LIT("op");
    sp[i].kind = 2;
  }
  sp[0].start_ns = 100 * M + 5, sp[0].end_ns = sp[0].start_ns + 10;   /* the minute it began in */
  sp[1].start_ns = 101 * M + 5, sp[1].end_ns = sp[1].start_ns + 20;   /* next minute: counted */
  sp[2].start_ns = 50 * M, sp[2].end_ns = 50 * M + 1;                 /* old: left to scans */
  cs_agg_observe(&g, sp, 3, 100 * M + 30);
  CHECK_EQ(g.observed_since, 101);
  int64_t s = cs_agg_str(&g, "svc", 3, 0);
  CHECK(s >= 0);
  CHECK_EQ(cs_agg_head(&g, (uint32_t)s, 100, NULL), -1);
  CHECK_EQ(cs_agg_head(&g, (uint32_t)s, 50, NULL), -1);
  int32_t h = cs_agg_head(&g, (uint32_t)s, 101, NULL);
  CHECK(h >= 0);
  if (h >= 0) CHECK_EQ(g.e[h].count, 1);
  cs_agg_release(&g);
}

static void agg_clears_at_the_cap_and_restarts_minutes(void) {
  cs_agg g;
  CHECK_EQ(cs_agg_init(&g, 3), 0); /* three bucket pairs in all */
  cs_resource r = {CS_STR_LIT("svc"), NULL, 0};
  const uint64_t M = 60000000000ull;
  cs_span sp[5];
  memset(sp, 0, sizeof sp);
  cs_agg_observe(&g, NULL, 0, 100 * M); /* observing from minute 101 */
  for (int i = 0; i < 5; i++) {
    sp[i].resource = &r;
    sp[i].name = CS_STR_LIT("op");
    sp[i].start_ns = 101 * M + (uint64_t)i;
    sp[i].end_ns = sp[i].start_ns + 1000 * (uint64_t)(i + 1) * 50; /* five buckets */
  }
  cs_agg_observe(&g, sp, 5, 101 * M + 10);
  /* The fourth distinct bucket hit the cap: all dropped, minute 101 is no
   * longer complete from ingest (it restarts at 102). */
  CHECK_EQ(g.n_e, 0);
  CHECK_EQ(g.observed_since, 102);
  CHECK_EQ(g.full, 0);
  CHECK_EQ(cs_agg_str(&g, "svc", 3, 0), -1);
  cs_agg_release(&g);
}

int main(void) {
  RUN(agg_bucket_value_within_half_percent);
  RUN(agg_counts_per_entry_and_minute);
  RUN(agg_observer_counts_from_first_whole_minute);
  RUN(agg_clears_at_the_cap_and_restarts_minutes);
  return CHECK_DONE();
}
