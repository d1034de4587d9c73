/* /api/v1/stats from per-minute sketches (agg.h): minutes the all-in-one
 * daemon saw at ingest or an earlier request filled are merged; other
 * minutes are filled by a scan, ten at a time, and kept once closed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_int.h"

/* ---- statistics from per-minute sketches ---- */

#define MIN_NS 60000000000ull

typedef struct fill_ctx {
  cs_str service;
  cs_agg *local;
  uint32_t m0, m1; /* minutes [m0, m1) */
  const uint8_t *need; /* per minute of [m0, m1): 1 = fill from spans */
  uint32_t c0, c1;     /* the chunk being filled: minutes [c0, c1) */
  int failed;
} fill_ctx;

static int fill_trace(void *ud, const cs_span *spans, size_t n) {
  fill_ctx *f = ud;
  for (size_t i = 0; i < n && !f->failed; i++) {
    const cs_span *s = &spans[i];
    if (!s->resource || !q_str_eq(s->resource->service, f->service)) continue;
    uint64_t m = s->start_ns / MIN_NS;
    if (m < f->c0 || m >= f->c1 || !f->need[m - f->m0]) continue;
    int64_t svc = cs_agg_str(f->local, s->resource->service.p, s->resource->service.n, 1);
    int64_t op = cs_agg_str(f->local, s->name.p, s->name.n, 1);
    uint64_t d = s->end_ns > s->start_ns ? s->end_ns - s->start_ns : 0;
    if (svc < 0 || op < 0 ||
        cs_agg_add(f->local, (uint32_t)svc, (uint32_t)op, s->kind, (uint32_t)m, d,
                   s->status_code == CS_STATUS_ERROR))
      f->failed = 1;
  }
  return 0;
}

typedef struct tup {
  cs_str op;
  uint32_t bucket;
  const cs_agg_entry *e;
} tup;

static int tup_cmp(const void *pa, const void *pb) {
  const tup *a = pa, *b = pb;
  size_t m = a->op.n < b->op.n ? a->op.n : b->op.n;
  int c = m ? memcmp(a->op.p, b->op.p, m) : 0;
  if (!c && a->op.n != b->op.n) c = a->op.n < b->op.n ? -1 : 1;
  if (c) return c;
  return a->bucket < b->bucket ? -1 : a->bucket > b->bucket;
}

static void dense_fields(cs_json *j, const cs_sk_dense *d) {
  uint64_t q[4];
  cs_sk_dense_quantiles(d, q);
  cs_json_key(j, "count"), cs_json_uint(j, d->count);
  cs_json_key(j, "errors"), cs_json_uint(j, d->errors);
  cs_json_key(j, "errorRate"), cs_json_double(j, d->count ? (double)d->errors / (double)d->count : 0.0);
  cs_json_key(j, "p50Ns"), cs_json_uint(j, q[0]);
  cs_json_key(j, "p90Ns"), cs_json_uint(j, q[1]);
  cs_json_key(j, "p95Ns"), cs_json_uint(j, q[2]);
  cs_json_key(j, "p99Ns"), cs_json_uint(j, q[3]);
  cs_json_key(j, "maxNs"), cs_json_uint(j, d->max_ns);
}

/* Aggregate and series of t[0..n) (sorted by bucket), using two scratch
 * dense arrays. */
static void emit_group(cs_json *j, const tup *t, size_t n, cs_sk_dense *tot, cs_sk_dense *pt,
                       uint64_t start_ns, uint64_t step_ns) {
  for (size_t i = 0; i < n; i++) cs_sk_dense_add(tot, t[i].e);
  dense_fields(j, tot);
  cs_sk_dense_clear(tot);
  cs_json_key(j, "series"), cs_json_arr(j);
  for (size_t i = 0; i < n;) {
    size_t k = i;
    while (k < n && t[k].bucket == t[i].bucket) cs_sk_dense_add(pt, t[k++].e);
    cs_json_obj(j);
    cs_json_key(j, "timeUs"), cs_json_uint(j, (start_ns + t[i].bucket * step_ns) / 1000);
    dense_fields(j, pt);
    cs_json_end(j);
    cs_sk_dense_clear(pt);
    i = k;
  }
  cs_json_end(j);
}

/* Answers from the sketches: 1 when this path does not apply (the caller
 * scans instead), 0 when answered, -1 after an error reply. */
int q_stats_from_sketches(qreq *x, cs_str service, cs_str operation, int kind,
                               uint64_t start_ns, uint64_t end_ns, uint64_t step_ns) {
  cs_query *q = x->q;
  if (!q->agg_ok || step_ns % MIN_NS) return 1;
  cs_agg *g = &q->agg;
  uint32_t m0 = (uint32_t)(start_ns / MIN_NS), m1 = (uint32_t)((end_ns + MIN_NS - 1) / MIN_NS);
  if (m1 <= m0) m1 = m0 + 1;
  uint64_t now_min = q_wall_ns() / MIN_NS;
  uint8_t *need = cs_arena_calloc(x->a, m1 - m0);
  uint8_t *closed = cs_arena_calloc(x->a, m1 - m0);
  if (!need || !closed) return q_error(x, 500, "out of memory");
  size_t n_need = 0;
  uint32_t first = 0, last = 0;
  pthread_rwlock_rdlock(&g->lock);
  int64_t svc = cs_agg_str(g, service.p, service.n, 0);
  for (uint32_t m = m0; m < m1; m++) {
    int filled = 0;
    if (svc >= 0) cs_agg_head(g, (uint32_t)svc, m, &filled);
    closed[m - m0] = (uint64_t)m + 2 <= now_min;
    if ((g->observed_since && m >= g->observed_since) || filled) continue;
    need[m - m0] = 1;
    if (!n_need++) first = m;
    last = m;
  }
  pthread_rwlock_unlock(&g->lock);

  cs_agg local;
  int have_local = 0;
  if (n_need) {
    if (cs_agg_init(&local, (size_t)4 << 20)) return q_error(x, 500, "out of memory");
    have_local = 1;
    fill_ctx f = {service, &local, m0, m1, need, 0, 0, 0};
    if (q_heavy_enter(x)) {
      cs_agg_release(&local);
      return -1;
    }
    /* Ten minutes at a time, each kept as soon as it is done: a fill cut
     * short by the deadline still leaves progress for the next request. */
    int rc = 0, cleared = 0;
    for (uint32_t c0 = first; c0 <= last && !rc; c0 += 10) {
      uint32_t c1 = c0 + 10 < last + 1 ? c0 + 10 : last + 1;
      int any = 0;
      for (uint32_t m = c0; m < c1; m++) any |= need[m - m0];
      if (!any) continue;
      f.c0 = c0, f.c1 = c1;
      cs_index_query iq;
      memset(&iq, 0, sizeof iq);
      iq.kind = CS_IDX_SERVICE;
      iq.service = service;
      /* Traces that began up to a minute earlier may hold spans in range. */
      iq.start_ns = (uint64_t)c0 * MIN_NS > MIN_NS ? (uint64_t)c0 * MIN_NS - MIN_NS : 0;
      iq.end_ns = (uint64_t)c1 * MIN_NS;
      rc = q_for_each_trace(x, &iq, fill_trace, &f);
      if (!rc && f.failed) rc = 1;
      if (rc) break;
      /* Closed minutes will not change: keep them. */
      pthread_rwlock_wrlock(&g->lock);
      for (size_t i = 0; i < local.n_e; i++) {
        uint32_t m = local.e[i].minute;
        if (m >= c0 && m < c1 && closed[m - m0] && cs_agg_merge_entry(g, &local, &local.e[i])) {
          /* At the memory cap: start over; this request scans exactly. */
          cs_agg_clear(g, q_wall_ns());
          cleared = 1;
          break;
        }
      }
      int64_t gs = cleared ? -1 : cs_agg_str(g, service.p, service.n, 1);
      for (uint32_t m = c0; m < c1 && gs >= 0; m++)
        if (need[m - m0] && closed[m - m0]) cs_agg_mark_filled(g, (uint32_t)gs, m);
      pthread_rwlock_unlock(&g->lock);
      if (cleared) break;
    }
    q_heavy_leave(x);
    if (rc || cleared) {
      cs_agg_release(&local);
      return rc < 0 ? -1 : 1; /* 1: too many distinct buckets, scan exactly instead */
    }
  }

  cs_sk_dense *tot = calloc(1, sizeof(cs_sk_dense)), *pt = calloc(1, sizeof(cs_sk_dense));
  size_t cap = 1024, nt = 0;
  tup *t = malloc(cap * sizeof *t);
  int rc = 0;
  if (!tot || !pt || !t) rc = q_error(x, 500, "out of memory");
  pthread_rwlock_rdlock(&g->lock);
  svc = cs_agg_str(g, service.p, service.n, 0);
  int64_t lsvc = have_local ? cs_agg_str(&local, service.p, service.n, 0) : -1;
  uint64_t base = (uint64_t)m0 * MIN_NS;
  for (uint32_t m = m0; m < m1 && !rc; m++) {
    int use_local = need[m - m0]; /* this request's own fill, closed or not */
    const cs_agg *src = use_local ? &local : g;
    int64_t sid = use_local ? lsvc : svc;
    if (sid < 0) continue;
    for (int32_t h = cs_agg_head(src, (uint32_t)sid, m, NULL); h >= 0; h = src->e[h].next) {
      const cs_agg_entry *e = &src->e[h];
      cs_str op = {src->strs[e->op], src->str_len[e->op]};
      if (operation.n && !q_str_eq(op, operation)) continue;
      if (kind >= 0 && e->kind != kind) continue;
      if (nt == cap) {
        tup *nt2 = realloc(t, cap * 2 * sizeof *t);
        if (!nt2) {
          rc = q_error(x, 500, "out of memory");
          break;
        }
        t = nt2;
        cap *= 2;
      }
      t[nt++] = (tup){op, (uint32_t)(((uint64_t)m * MIN_NS - base) / step_ns), e};
    }
  }
  if (!rc) {
    qsort(t, nt, sizeof *t, tup_cmp);
    cs_json *j = &x->j;
    cs_json_obj(j);
    cs_json_key(j, "service"), cs_json_cs(j, service);
    cs_json_key(j, "startTimeUs"), cs_json_uint(j, base / 1000);
    cs_json_key(j, "endTimeUs"), cs_json_uint(j, (uint64_t)m1 * MIN_NS / 1000);
    cs_json_key(j, "stepNs"), cs_json_uint(j, step_ns);
    cs_json_key(j, "source"), cs_json_str(j, "sketch");
    cs_json_key(j, "filledMinutes"), cs_json_uint(j, n_need);
    cs_json_key(j, "scannedTraces"), cs_json_uint(j, x->scanned);
    cs_json_key(j, "operations"), cs_json_arr(j);
    for (size_t i = 0; i < nt;) {
      size_t k = i;
      while (k < nt && q_str_eq(t[k].op, t[i].op)) k++;
      cs_json_obj(j);
      cs_json_key(j, "operation"), cs_json_cs(j, t[i].op);
      emit_group(j, t + i, k - i, tot, pt, base, step_ns);
      cs_json_end(j);
      i = k;
    }
    cs_json_end(j);
    /* Totals: the same tuples ordered by bucket alone. */
    for (size_t i = 0; i < nt; i++) t[i].op = (cs_str){"", 0};
    qsort(t, nt, sizeof *t, tup_cmp);
    cs_json_key(j, "total"), cs_json_obj(j);
    emit_group(j, t, nt, tot, pt, base, step_ns);
    cs_json_end(j);
    cs_json_end(j);
  }
  pthread_rwlock_unlock(&g->lock);
  free(t);
  free(tot);
  free(pt);
  if (have_local) cs_agg_release(&local);
  if (!rc) q_send_json(x, 200);
  return rc;
}

