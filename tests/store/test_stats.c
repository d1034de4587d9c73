/* Per-minute latency statistics: histogram buckets bound the relative error
 * by 1%, rows written at ingest add up across batches, and scans filter by
 * service and time window. */
#include <math.h>

#include "check.h"
#include "fixtures.h"
#include "store.h"

#define SEC 1000000000ULL
static const uint64_t T0 = 1700000040ULL * SEC; /* a minute boundary */

static void stats_buckets_bound_relative_error(void) {
  uint64_t d = 1;
  int worst_ok = 1;
  uint16_t prev = 0;
  while (d < UINT64_MAX / 17) {
    for (uint64_t x = d; x < d + 3; x++) {
      uint16_t b = cs_stats_bucket_of(x);
      CHECK(b < CS_STATS_BUCKETS);
      CHECK(b >= prev || x == d); /* monotone */
      prev = b;
      double v = (double)cs_stats_bucket_value(b);
      /* 1% from the bucket width, plus rounding to whole nanoseconds. */
      if (fabs(v - (double)x) / (double)x > 0.010001 + 0.5 / (double)x) worst_ok = 0;
    }
    d = d * 17 / 16 + 1;
  }
  CHECK(worst_ok);
  CHECK_EQ(cs_stats_bucket_of(0), 0);
}

typedef struct agg {
  int rows;
  uint64_t count, errors, sum, max;
  uint64_t dense[CS_STATS_BUCKETS];
  char last_op[32];
} agg;

static int collect(void *ud, const cs_stats_row *r) {
  agg *a = ud;
  a->rows++;
  a->count += r->count;
  a->errors += r->errors;
  a->sum += r->sum_ns;
  if (r->max_ns > a->max) a->max = r->max_ns;
  for (uint32_t i = 0; i < r->n_buckets; i++) a->dense[r->bucket[i]] += r->bucket_count[i];
  snprintf(a->last_op, sizeof(a->last_op), "%.*s", (int)r->operation.n, r->operation.p);
  return 0;
}

static uint64_t quantile(const agg *a, double q) {
  static uint16_t b[CS_STATS_BUCKETS];
  static uint64_t c[CS_STATS_BUCKETS];
  uint32_t n = 0;
  for (uint32_t i = 0; i < CS_STATS_BUCKETS; i++)
    if (a->dense[i]) b[n] = (uint16_t)i, c[n++] = a->dense[i];
  return cs_stats_quantile(b, c, n, q);
}

static void stats_rows_add_up_and_filter(void) {
  char dir[64];
  CHECK(fx_tmpdir(dir, sizeof(dir)) != NULL);
  cs_store_opts o = {.dir = dir};
  cs_store *st;
  char err[128];
  CHECK_EQ(cs_store_open(&o, &st, err, sizeof(err)), 0);
  /* 1000 GET /x spans of 1..1000 ms over two batches, 10 errors; a
   * backend span; a frontend span two minutes later. */
  enum { N = 1000 };
  static cs_span sp[N];
  for (int i = 0; i < N; i++) {
    sp[i] = fx_span((uint64_t)i + 1, 1, 0, "GET /x", &fx_res_frontend, T0 + (uint64_t)i * 1000,
                    (uint64_t)(i + 1) * 1000000);
    if (i % 100 == 0) sp[i].status_code = CS_STATUS_ERROR;
  }
  CHECK_EQ(cs_store_write(st, sp, N / 2), 0);
  CHECK_EQ(cs_store_write(st, sp + N / 2, N / 2), 0);
  cs_span other[2] = {fx_span(5000, 1, 0, "SELECT", &fx_res_backend, T0, 5000),
                      fx_span(5001, 1, 0, "GET /x", &fx_res_frontend, T0 + 120 * SEC, 7)};
  CHECK_EQ(cs_store_write(st, other, 2), 0);

  static agg a;
  memset(&a, 0, sizeof(a));
  CHECK_EQ(cs_store_scan_stats(st, CS_STR_LIT("frontend"), T0, T0 + 59 * SEC, collect, &a), 0);
  CHECK_EQ(a.rows, 1); /* two batches merged into one row */
  CHECK_EQ(a.count, N);
  CHECK_EQ(a.errors, 10);
  CHECK(a.max == (uint64_t)N * 1000000);
  CHECK(a.sum == (uint64_t)N * (N + 1) / 2 * 1000000);
  uint64_t p50 = quantile(&a, 0.5), p99 = quantile(&a, 0.99);
  CHECK(fabs((double)p50 - 500e6) / 500e6 < 0.012);
  CHECK(fabs((double)p99 - 990e6) / 990e6 < 0.012);

  memset(&a, 0, sizeof(a));
  CHECK_EQ(cs_store_scan_stats(st, CS_STR_LIT("frontend"), 0, 0, collect, &a), 0);
  CHECK_EQ(a.rows, 2);
  CHECK_EQ(a.count, N + 1);
  memset(&a, 0, sizeof(a));
  CHECK_EQ(cs_store_scan_stats(st, CS_STR_LIT("frontend"), T0 + 60 * SEC, 0, collect, &a), 0);
  CHECK_EQ(a.rows, 1);
  CHECK_EQ(a.count, 1);
  memset(&a, 0, sizeof(a));
  CHECK_EQ(cs_store_scan_stats(st, (cs_str){"", 0}, T0, T0 + 59 * SEC, collect, &a), 0);
  CHECK_EQ(a.rows, 2); /* backend SELECT + frontend GET /x */
  CHECK_EQ(a.count, N + 1);
  memset(&a, 0, sizeof(a));
  CHECK_EQ(cs_store_scan_stats(st, CS_STR_LIT("backend"), 0, 0, collect, &a), 0);
  CHECK_EQ(a.rows, 1);
  CHECK_STR(a.last_op, "SELECT");
  memset(&a, 0, sizeof(a));
  CHECK_EQ(cs_store_scan_stats(st, CS_STR_LIT("back"), 0, 0, collect, &a), 0);
  CHECK_EQ(a.rows, 0);

  /* A resent batch does not count twice. */
  CHECK_EQ(cs_store_write(st, sp, N / 2), 0);
  memset(&a, 0, sizeof(a));
  CHECK_EQ(cs_store_scan_stats(st, CS_STR_LIT("frontend"), T0, T0 + 59 * SEC, collect, &a), 0);
  CHECK_EQ(a.count, N);

  /* Still one row, same numbers, after compaction folded the operands. */
  CHECK_EQ(cs_store_compact(st), 0);
  memset(&a, 0, sizeof(a));
  CHECK_EQ(cs_store_scan_stats(st, CS_STR_LIT("frontend"), T0, T0 + 59 * SEC, collect, &a), 0);
  CHECK_EQ(a.rows, 1);
  CHECK_EQ(a.count, N);
  CHECK(fabs((double)quantile(&a, 0.5) - 500e6) / 500e6 < 0.012);
  cs_store_close(st);
  fx_rmrf(dir);
}

int main(void) {
  RUN(stats_buckets_bound_relative_error);
  RUN(stats_rows_add_up_and_filter);
  return CHECK_DONE();
}
