/* /api/v1/stats from the store's per-minute statistics rows
 * (cs_store_scan_stats, written at ingest by the store itself), so both
 * the all-in-one daemon and callscope-query answer the same numbers at
 * once, whatever the age of the data. Percentiles come from the rows' log
 * histograms (1% relative error); counts, errors and maxima are exact. */
#include <stdlib.h>
#include <string.h>

#include "query_int.h"

#define MIN_NS 60000000000ull
/* Rows and histogram pairs one request may hold: about 100 MB of arena at
 * most, far beyond an hour (a service with 100 operations over a day is
 * about 150,000 rows). */
#define MAX_ROWS 2000000u
#define MAX_PAIRS 8000000u

/* One store row kept for this request (arrays copied into the arena). */
typedef struct srow {
  cs_str op;
  uint32_t step;
  uint32_t nb;
  uint64_t count, errors, max_ns;
  const uint16_t *b;
  const uint64_t *c;
} srow;

typedef struct sctx {
  qreq *x;
  cs_str operation;
  unsigned kinds; /* 1 << CS_KIND_* of the kinds counted */
  uint64_t base_ns, step_ns;
  q_strmap ops; /* operation names, interned once */
  srow *rows;
  size_t n, cap, pairs;
  uint64_t seen; /* rows read, kept or not (for the deadline check) */
  int fail; /* 1 = over the caps, 2 = out of memory, 3 = deadline */
} sctx;

static int on_row(void *ud, const cs_stats_row *r) {
  sctx *c = ud;
  if ((c->seen++ & 1023) == 0 && q_expired(c->x)) return c->fail = 3;
  if (c->operation.n && !q_str_eq(r->operation, c->operation)) return 0;
  if (r->kind >= 32 || !(c->kinds & (1u << r->kind))) return 0;
  if (c->n >= MAX_ROWS || c->pairs + r->n_buckets > MAX_PAIRS) return c->fail = 1;
  int32_t g = q_strmap_intern(&c->ops, r->operation.p, r->operation.n);
  if (g < 0) return c->fail = 1;
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 1024;
    srow *nr = realloc(c->rows, cap * sizeof *nr);
    if (!nr) return c->fail = 2;
    c->rows = nr;
    c->cap = cap;
  }
  uint16_t *b = cs_arena_alloc(c->x->a, sizeof(uint16_t) * (r->n_buckets + 1u));
  uint64_t *n = cs_arena_alloc(c->x->a, sizeof(uint64_t) * (r->n_buckets + 1u));
  if (!b || !n) return c->fail = 2;
  if (r->n_buckets) {
    memcpy(b, r->bucket, sizeof(uint16_t) * r->n_buckets);
    memcpy(n, r->bucket_count, sizeof(uint64_t) * r->n_buckets);
  }
  uint64_t m = r->minute_ns < c->base_ns ? c->base_ns : r->minute_ns;
  c->rows[c->n++] = (srow){c->ops.keys[g], (uint32_t)((m - c->base_ns) / c->step_ns),
                           r->n_buckets, r->count, r->errors, r->max_ns, b, n};
  c->pairs += r->n_buckets;
  return 0;
}

static int srow_cmp(const void *pa, const void *pb) {
  const srow *a = pa, *b = pb;
  size_t m = a->op.n < b->op.n ? a->op.n : b->op.n;
  int c = m ? memcmp(a->op.p, b->op.p, m) : 0;
  if (!c && a->op.n != b->op.n) c = a->op.n < b->op.n ? -1 : 1;
  if (c) return c;
  return a->step < b->step ? -1 : a->step > b->step;
}

/* A merge buffer over the store's bucket indexes: zeroed once, cleared
 * over the touched range after each group. */
typedef struct dense {
  uint64_t c[CS_STATS_BUCKETS];
  uint64_t count, errors, max_ns;
  uint32_t lo, hi;
} dense;

static void dense_add(dense *d, const srow *r) {
  if (!d->count) d->lo = CS_STATS_BUCKETS - 1, d->hi = 0;
  for (uint32_t k = 0; k < r->nb; k++) {
    uint32_t i = r->b[k] < CS_STATS_BUCKETS ? r->b[k] : CS_STATS_BUCKETS - 1;
    d->c[i] += r->c[k];
    if (i < d->lo) d->lo = i;
    if (i > d->hi) d->hi = i;
  }
  d->count += r->count;
  d->errors += r->errors;
  if (r->max_ns > d->max_ns) d->max_ns = r->max_ns;
}

static void dense_clear(dense *d) {
  if (d->count && d->hi >= d->lo) memset(d->c + d->lo, 0, sizeof(uint64_t) * (d->hi - d->lo + 1u));
  d->count = d->errors = d->max_ns = 0;
}

/* p50, p90, p95, p99 in one walk: nearest rank (the smallest value with at
 * least q of all values at or below it), as the exact path computes it,
 * so a bucket's representative is within 1% of the exact answer; capped at
 * the exact maximum. */
static void dense_quantiles(const dense *d, uint64_t out[4]) {
  cs_quantiles4(d->c, d->lo, d->hi, d->count, d->max_ns, cs_stats_bucket_value, out);
}

static void dense_fields(cs_json *j, const dense *d) {
  uint64_t q[4];
  dense_quantiles(d, q);
  cs_json_key(j, "count"), cs_json_uint(j, d->count);
  cs_json_key(j, "errors"), cs_json_uint(j, d->errors);
  cs_json_key(j, "errorRate"), cs_json_double(j, d->count ? (double)d->errors / (double)d->count : 0.0);
  cs_json_key(j, "p50Ns"), cs_json_uint(j, q[0]);
  cs_json_key(j, "p90Ns"), cs_json_uint(j, q[1]);
  cs_json_key(j, "p95Ns"), cs_json_uint(j, q[2]);
  cs_json_key(j, "p99Ns"), cs_json_uint(j, q[3]);
  cs_json_key(j, "maxNs"), cs_json_uint(j, d->max_ns);
}

/* Readable upper bounds m * 10^e ns, m from one of these series (in
 * hundredths), finest first; the finest giving at most Q_HIST_MAX buckets
 * between the smallest and largest duration is used (q_hist_bounds). */
static const uint16_t SERIES_10[] = {100, 125, 150, 200, 250, 300, 400, 500, 600, 800};
static const uint16_t SERIES_3[] = {100, 200, 500};
static const uint16_t SERIES_1[] = {100};
static const struct {
  const uint16_t *m;
  size_t n;
} SERIES[] = {{SERIES_10, 10}, {SERIES_3, 3}, {SERIES_1, 1}};

/* Bounds of series s from the first >= lo to the first >= hi; returns how
 * many (up to cap; more when the range needs more). */
static size_t series_bounds(size_t s, uint64_t lo, uint64_t hi, uint64_t *out, size_t cap) {
  size_t n = 0;
  uint64_t p10 = 1, prev = 0;
  for (int e = 0; e <= 17; e++, p10 *= 10) {
    for (size_t k = 0; k < SERIES[s].n; k++) {
      uint64_t b = SERIES[s].m[k] * p10 / 100;
      if (b <= prev || b < lo) continue;
      if (n < cap) out[n] = b;
      n++;
      prev = b;
      if (b >= hi) return n;
    }
  }
  if (n < cap) out[n] = hi; /* beyond 10^19 ns: end at the maximum */
  return n + 1;
}

size_t q_hist_bounds(uint64_t lo, uint64_t hi, uint64_t le[Q_HIST_MAX]) {
  uint64_t tmp[Q_HIST_MAX + 1];
  size_t nb = 0;
  for (size_t s = 0; s < sizeof SERIES / sizeof SERIES[0]; s++)
    if ((nb = series_bounds(s, lo, hi, tmp, Q_HIST_MAX + 1)) <= Q_HIST_MAX) break;
  if (nb > Q_HIST_MAX) nb = Q_HIST_MAX, tmp[nb - 1] = hi; /* cannot happen: 19 decades */
  memcpy(le, tmp, nb * sizeof *le);
  return nb;
}

/* The histogram coarsened to readable bounds: [{leNs, count}] where count
 * is the durations in (previous leNs, leNs], empty buckets included, each
 * store bucket counted by its representative value. */
static void dense_histogram(cs_json *j, const dense *d) {
  cs_json_key(j, "histogram"), cs_json_arr(j);
  if (d->count && d->hi >= d->lo) {
    uint64_t lo = cs_stats_bucket_value((uint16_t)d->lo), hi = cs_stats_bucket_value((uint16_t)d->hi);
    if (hi > d->max_ns) hi = d->max_ns;
    if (lo > hi) lo = hi;
    uint64_t le[Q_HIST_MAX], cnt[Q_HIST_MAX];
    size_t nb = q_hist_bounds(lo, hi, le);
    memset(cnt, 0, sizeof cnt);
    size_t k = 0;
    for (uint32_t i = d->lo; i <= d->hi; i++) {
      if (!d->c[i]) continue;
      uint64_t v = cs_stats_bucket_value((uint16_t)i);
      while (k + 1 < nb && v > le[k]) k++;
      cnt[k] += d->c[i];
    }
    for (size_t b = 0; b < nb; b++) {
      cs_json_obj(j);
      cs_json_key(j, "leNs"), cs_json_uint(j, le[b]);
      cs_json_key(j, "count"), cs_json_uint(j, cnt[b]);
      cs_json_end(j);
    }
  }
  cs_json_end(j);
}

/* Aggregate, histogram and series of r[0..n) (sorted by step). */
static void emit_group(cs_json *j, const srow *r, size_t n, dense *d, uint64_t base_ns,
                       uint64_t step_ns) {
  for (size_t i = 0; i < n; i++) dense_add(d, &r[i]);
  dense_fields(j, d);
  dense_histogram(j, d);
  dense_clear(d);
  cs_json_key(j, "series"), cs_json_arr(j);
  for (size_t i = 0; i < n;) {
    size_t k = i;
    while (k < n && r[k].step == r[i].step) dense_add(d, &r[k++]);
    cs_json_obj(j);
    cs_json_key(j, "timeUs"), cs_json_uint(j, (base_ns + r[i].step * step_ns) / 1000);
    dense_fields(j, d);
    cs_json_end(j);
    dense_clear(d);
    i = k;
  }
  cs_json_end(j);
}

void q_stats_from_store(qreq *x, cs_str service, cs_str operation, unsigned kinds,
                        uint64_t start_ns, uint64_t end_ns, uint64_t step_ns) {
  uint64_t m0 = start_ns / MIN_NS, m1 = (end_ns + MIN_NS - 1) / MIN_NS;
  if (m1 <= m0) m1 = m0 + 1;
  sctx c;
  memset(&c, 0, sizeof c);
  c.x = x;
  c.operation = operation;
  c.kinds = kinds;
  c.base_ns = m0 * MIN_NS;
  c.step_ns = step_ns;
  if (q_strmap_init(&c.ops, x->a, 100000)) {
    q_error(x, 500, "out of memory");
    return;
  }
  /* The store's window is inclusive of the last minute's start. */
  int rc = cs_store_scan_stats(x->q->st, service, m0 * MIN_NS, (m1 - 1) * MIN_NS, on_row, &c);
  dense *d = NULL;
  if (rc) q_error(x, 500, "storage error: %s", cs_store_strerror(rc));
  else if (c.fail == 1)
    q_error(x, 422, "window holds too many statistics rows to summarise: narrow it or filter by operation");
  else if (c.fail == 3) q_scan_error(x);
  else if (c.fail == 2 || !(d = calloc(1, sizeof *d))) q_error(x, 500, "out of memory");
  if (rc || c.fail || !d) {
    free(c.rows);
    return;
  }
  /* A service with no rows leaves c.rows NULL, which qsort may not get. */
  if (c.n) qsort(c.rows, c.n, sizeof *c.rows, srow_cmp);
  cs_json *j = &x->j;
  cs_json_obj(j);
  cs_json_key(j, "service"), cs_json_cs(j, service);
  cs_json_key(j, "startTimeUs"), cs_json_uint(j, c.base_ns / 1000);
  cs_json_key(j, "endTimeUs"), cs_json_uint(j, m1 * MIN_NS / 1000);
  cs_json_key(j, "stepNs"), cs_json_uint(j, step_ns);
  q_json_span_kinds(j, kinds);
  cs_json_key(j, "source"), cs_json_str(j, "store");
  cs_json_key(j, "storeRows"), cs_json_uint(j, c.n);
  cs_json_key(j, "scannedTraces"), cs_json_uint(j, 0);
  cs_json_key(j, "operations"), cs_json_arr(j);
  for (size_t i = 0; i < c.n;) {
    size_t k = i;
    while (k < c.n && q_str_eq(c.rows[k].op, c.rows[i].op)) k++;
    cs_json_obj(j);
    cs_json_key(j, "operation"), cs_json_cs(j, c.rows[i].op);
    emit_group(j, c.rows + i, k - i, d, c.base_ns, step_ns);
    cs_json_end(j);
    i = k;
  }
  cs_json_end(j);
  /* Totals: the same rows ordered by step alone. */
  for (size_t i = 0; i < c.n; i++) c.rows[i].op = (cs_str){"", 0};
  if (c.n) qsort(c.rows, c.n, sizeof *c.rows, srow_cmp);
  cs_json_key(j, "total"), cs_json_obj(j);
  emit_group(j, c.rows, c.n, d, c.base_ns, step_ns);
  cs_json_end(j);
  cs_json_end(j);
  free(d);
  free(c.rows);
  q_send_json(x, 200);
}
