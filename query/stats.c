/* Latency statistics and dependency edges, computed from spans: the traces
 * in the window are found through an index, loaded one at a time into a
 * scratch arena, and reduced to small records; percentiles are exact
 * (nearest rank over the sorted durations), so they are well within the
 * 1% the API promises. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_int.h"

typedef struct ids_ctx {
  qreq *x;
  q_idset set;
  uint8_t (*list)[16];
  size_t n, cap;
  int failed;
} ids_ctx;

static int collect_id(void *ud, const uint8_t tid[16], uint64_t start_ns) {
  ids_ctx *c = ud;
  int fresh = q_idset_add(&c->set, tid);
  if (fresh < 0) return c->failed = 1;
  if (!fresh) return 0;
  if (c->n >= c->x->q->o.limits.max_scan) return c->x->scan_capped = 1;
  if ((c->n & 255) == 0 && q_expired(c->x)) return 1;
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 1024;
    void *p = cs_arena_alloc(c->x->a, 16 * cap);
    if (!p) return c->failed = 1;
    if (c->n) memcpy(p, c->list, 16 * c->n);
    c->list = p;
    c->cap = cap;
  }
  memcpy(c->list[c->n++], tid, 16);
  return 0;
}

typedef int (*trace_fn)(void *ud, const cs_span *spans, size_t n);

/* Calls fn for every distinct trace the index query finds; -1 after
 * replying with an error. */
static int for_each_trace(qreq *x, const cs_index_query *iq, trace_fn fn, void *ud) {
  ids_ctx c;
  memset(&c, 0, sizeof c);
  c.x = x;
  if (q_idset_init(&c.set, x->a, 1024)) return q_error(x, 500, "out of memory");
  int rc = cs_store_scan_index(x->q->st, iq, collect_id, &c);
  if (c.failed) return q_error(x, 500, "out of memory while scanning");
  if (x->timed_out || x->scan_capped) return q_scan_error(x);
  if (rc && rc != CS_STORE_ENOTFOUND) return q_error(x, 500, "storage error: %s", cs_store_strerror(rc));
  cs_arena scratch;
  cs_arena_init(&scratch, 65536, x->q->o.limits.arena_mb << 20);
  for (size_t i = 0; i < c.n; i++) {
    if ((i & 15) == 0 && q_expired(x)) break;
    cs_span *spans;
    size_t n;
    cs_arena_reset(&scratch);
    rc = cs_store_get_trace(x->q->st, c.list[i], &scratch, &spans, &n);
    if (rc) continue; /* a trace expired or too large is skipped, not fatal */
    x->scanned++;
    if (fn(ud, spans, n)) {
      cs_arena_release(&scratch);
      return -1;
    }
  }
  cs_arena_release(&scratch);
  if (x->timed_out) return q_scan_error(x);
  return 0;
}

/* ---- statistics ---- */

typedef struct rec {
  uint64_t dur;
  uint32_t group; /* operation or edge */
  uint32_t bucket;
  uint8_t err;
} rec;

typedef struct recs {
  rec *r;
  size_t n, cap, max;
} recs;

static int recs_push(recs *v, rec r) {
  if (v->n == v->cap) {
    if (v->n >= v->max) return -1;
    size_t cap = v->cap ? v->cap * 2 : 4096;
    rec *p = realloc(v->r, sizeof(rec) * cap);
    if (!p) return -1;
    v->r = p;
    v->cap = cap;
  }
  v->r[v->n++] = r;
  return 0;
}

static int by_group_bucket_dur(const void *pa, const void *pb) {
  const rec *a = pa, *b = pb;
  if (a->group != b->group) return a->group < b->group ? -1 : 1;
  if (a->bucket != b->bucket) return a->bucket < b->bucket ? -1 : 1;
  return a->dur < b->dur ? -1 : a->dur > b->dur;
}

static int u64_cmp(const void *pa, const void *pb) {
  uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
  return a < b ? -1 : a > b;
}

/* Count, errors, rate and percentiles of sorted durations d[0..n). */
static void agg_fields(cs_json *j, const uint64_t *d, size_t n, uint64_t errs) {
  cs_json_key(j, "count"), cs_json_uint(j, n);
  cs_json_key(j, "errors"), cs_json_uint(j, errs);
  cs_json_key(j, "errorRate"), cs_json_double(j, n ? (double)errs / (double)n : 0.0);
  cs_json_key(j, "p50Ns"), cs_json_uint(j, q_percentile(d, n, 0.50));
  cs_json_key(j, "p90Ns"), cs_json_uint(j, q_percentile(d, n, 0.90));
  cs_json_key(j, "p95Ns"), cs_json_uint(j, q_percentile(d, n, 0.95));
  cs_json_key(j, "p99Ns"), cs_json_uint(j, q_percentile(d, n, 0.99));
  cs_json_key(j, "maxNs"), cs_json_uint(j, n ? d[n - 1] : 0);
}

/* Aggregate of one group r[0..n), sorted by (bucket, dur). */
static void group_agg(cs_json *j, const rec *r, size_t n, uint64_t *tmp) {
  uint64_t errs = 0;
  for (size_t i = 0; i < n; i++) tmp[i] = r[i].dur, errs += r[i].err;
  qsort(tmp, n, sizeof(uint64_t), u64_cmp);
  agg_fields(j, tmp, n, errs);
}

/* Per-bucket series of one group r[0..n), sorted by (bucket, dur); only
 * buckets with spans are listed. */
static void group_series(cs_json *j, const rec *r, size_t n, uint64_t *tmp, uint64_t start_ns,
                         uint64_t step_ns) {
  cs_json_key(j, "series"), cs_json_arr(j);
  for (size_t i = 0; i < n;) {
    size_t k = i;
    uint64_t errs = 0;
    while (k < n && r[k].bucket == r[i].bucket) tmp[k - i] = r[k].dur, errs += r[k].err, k++;
    cs_json_obj(j);
    cs_json_key(j, "timeUs"), cs_json_uint(j, (start_ns + r[i].bucket * step_ns) / 1000);
    agg_fields(j, tmp, k - i, errs);
    cs_json_end(j);
    i = k;
  }
  cs_json_end(j);
}

typedef struct stats_ctx {
  qreq *x;
  cs_str service, operation;
  int kind; /* -1 = any */
  uint64_t start_ns, end_ns, step_ns;
  q_strmap ops;
  recs v;
  int overflow;
} stats_ctx;

static int stats_trace(void *ud, const cs_span *spans, size_t n) {
  stats_ctx *c = ud;
  for (size_t i = 0; i < n; i++) {
    const cs_span *s = &spans[i];
    if (!s->resource || !q_str_eq(s->resource->service, c->service)) continue;
    if (c->operation.n && !q_str_eq(s->name, c->operation)) continue;
    if (c->kind >= 0 && s->kind != c->kind) continue;
    if (s->start_ns < c->start_ns || s->start_ns >= c->end_ns) continue;
    int32_t g = q_strmap_intern(&c->ops, s->name.p, s->name.n);
    rec r = {s->end_ns > s->start_ns ? s->end_ns - s->start_ns : 0, (uint32_t)g,
             (uint32_t)((s->start_ns - c->start_ns) / c->step_ns),
             s->status_code == CS_STATUS_ERROR};
    if (g < 0 || recs_push(&c->v, r)) {
      c->overflow = 1;
      return q_error(c->x, 422,
                     "window holds too many spans or operations to summarise: narrow it");
    }
  }
  return 0;
}

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

/* Adds a local entry into the shared sketches (caller holds the write
 * lock): bucket counts add up, the maximum carries over exactly. */
static int merge_entry(cs_agg *g, const cs_agg *src, const cs_agg_entry *e) {
  int64_t svc = cs_agg_str(g, src->strs[e->svc], src->str_len[e->svc], 1);
  int64_t op = cs_agg_str(g, src->strs[e->op], src->str_len[e->op], 1);
  if (svc < 0 || op < 0) return -1;
  for (uint32_t k = 0; k < e->nb; k++)
    if (cs_agg_add_bucket(g, (uint32_t)svc, (uint32_t)op, e->kind, e->minute, e->b[k].idx,
                          e->b[k].n, k == 0 ? (uint32_t)e->errors : 0, e->max_ns))
      return -1;
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

typedef struct dense {
  uint64_t c[CS_SK_BUCKETS];
  uint64_t count, errors, max_ns;
  uint16_t lo, hi; /* touched bucket range, so walks skip empty ends */
} dense;

static void dense_add(dense *d, const cs_agg_entry *e) {
  if (!d->count && !d->errors) d->lo = CS_SK_BUCKETS - 1, d->hi = 0;
  for (uint32_t k = 0; k < e->nb; k++) {
    uint16_t i = e->b[k].idx;
    d->c[i] += e->b[k].n;
    if (i < d->lo) d->lo = i;
    if (i > d->hi) d->hi = i;
  }
  d->count += e->count;
  d->errors += e->errors;
  if (e->max_ns > d->max_ns) d->max_ns = e->max_ns;
}

static void dense_clear(dense *d) {
  if (d->count && d->hi >= d->lo) memset(d->c + d->lo, 0, sizeof(uint64_t) * (d->hi - d->lo + 1u));
  d->count = d->errors = d->max_ns = 0;
}

/* p50, p90, p95, p99 in one walk (nearest rank, capped at the exact max). */
static void dense_quantiles(const dense *d, uint64_t out[4]) {
  static const double qs[4] = {0.50, 0.90, 0.95, 0.99};
  uint64_t rank[4];
  for (int k = 0; k < 4; k++) {
    double r = qs[k] * (double)d->count;
    rank[k] = (uint64_t)r;
    if ((double)rank[k] < r) rank[k]++;
    if (rank[k] < 1) rank[k] = 1;
    out[k] = 0;
  }
  if (!d->count) return;
  uint64_t cum = 0;
  int k = 0;
  for (uint32_t i = d->lo; i <= d->hi && k < 4; i++) {
    cum += d->c[i];
    while (k < 4 && cum >= rank[k]) {
      uint64_t v = cs_sk_value((uint16_t)i);
      out[k++] = v > d->max_ns ? d->max_ns : v;
    }
  }
  for (; k < 4; k++) out[k] = d->max_ns;
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

/* Aggregate and series of t[0..n) (sorted by bucket), using two scratch
 * dense arrays. */
static void emit_group(cs_json *j, const tup *t, size_t n, dense *tot, dense *pt,
                       uint64_t start_ns, uint64_t step_ns) {
  for (size_t i = 0; i < n; i++) dense_add(tot, t[i].e);
  dense_fields(j, tot);
  dense_clear(tot);
  cs_json_key(j, "series"), cs_json_arr(j);
  for (size_t i = 0; i < n;) {
    size_t k = i;
    while (k < n && t[k].bucket == t[i].bucket) dense_add(pt, t[k++].e);
    cs_json_obj(j);
    cs_json_key(j, "timeUs"), cs_json_uint(j, (start_ns + t[i].bucket * step_ns) / 1000);
    dense_fields(j, pt);
    cs_json_end(j);
    dense_clear(pt);
    i = k;
  }
  cs_json_end(j);
}

/* Answers from the sketches: 1 when this path does not apply (the caller
 * scans instead), 0 when answered, -1 after an error reply. */
static int stats_from_sketches(qreq *x, cs_str service, cs_str operation, int kind,
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
    int rc = 0;
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
      rc = for_each_trace(x, &iq, fill_trace, &f);
      if (!rc && f.failed) rc = 1;
      if (rc) break;
      /* Closed minutes will not change: keep them. */
      pthread_rwlock_wrlock(&g->lock);
      for (size_t i = 0; i < local.n_e; i++) {
        uint32_t m = local.e[i].minute;
        if (m >= c0 && m < c1 && closed[m - m0]) merge_entry(g, &local, &local.e[i]);
      }
      int64_t gs = cs_agg_str(g, service.p, service.n, 1);
      for (uint32_t m = c0; m < c1 && gs >= 0; m++)
        if (need[m - m0] && closed[m - m0]) cs_agg_mark_filled(g, (uint32_t)gs, m);
      pthread_rwlock_unlock(&g->lock);
    }
    q_heavy_leave(x);
    if (rc) {
      cs_agg_release(&local);
      return rc < 0 ? -1 : 1; /* 1: too many distinct buckets, scan exactly instead */
    }
  }

  dense *tot = calloc(1, sizeof(dense)), *pt = calloc(1, sizeof(dense));
  size_t cap = 1024, nt = 0;
  tup *t = malloc(cap * sizeof *t);
  int rc = 0;
  if (!tot || !pt || !t) rc = q_error(x, 500, "out of memory");
  pthread_rwlock_rdlock(&g->lock);
  svc = cs_agg_str(g, service.p, service.n, 0);
  int64_t lsvc = have_local ? cs_agg_str(&local, service.p, service.n, 0) : -1;
  uint64_t base = (uint64_t)m0 * MIN_NS;
  for (uint32_t m = m0; m < m1 && !rc; m++) {
    int use_local = need[m - m0] && !closed[m - m0];
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

static int kind_from(cs_str k) {
  static const char *const names[] = {"unspecified", "internal", "server",
                                      "client",      "producer", "consumer"};
  for (int i = 0; i < 6; i++)
    if (q_str_eqc(k, names[i])) return i;
  return -2;
}

/* GET /api/v1/stats?service=&operation=&spanKind=&start=&end=&lookback=&step= */
void h_v1_stats(qreq *x) {
  stats_ctx c;
  memset(&c, 0, sizeof c);
  c.x = x;
  c.kind = -1;
  cs_str kind;
  if (q_arg_str(x, "service", 1024, &c.service) || q_arg_str(x, "operation", 1024, &c.operation) ||
      q_arg_str(x, "spanKind", 32, &kind))
    return;
  if (!c.service.n) {
    q_error(x, 400, "parameter 'service' is required");
    return;
  }
  if (kind.n && (c.kind = kind_from(kind)) < -1) {
    q_error(x, 400, "bad spanKind: %.32s", kind.p);
    return;
  }
  if (q_arg_window(x, 3600ull * 1000000000ull, &c.start_ns, &c.end_ns)) return;
  if (q_arg_duration(x, "step", 60ull * 1000000000ull, &c.step_ns)) return;
  if (c.step_ns < 1000000000ull) {
    q_error(x, 400, "step too small: at least 1s");
    return;
  }
  if (c.end_ns == c.start_ns) c.end_ns++;
  if ((c.end_ns - c.start_ns) / c.step_ns > 10080) {
    q_error(x, 400, "too many steps: at most 10080 per window, use a larger step");
    return;
  }
  /* Sketches answer unless the caller asks for exact values. */
  const char *exact = cs_http_arg(x->r, "exact");
  if (!exact || strcmp(exact, "true") != 0) {
    int rc = stats_from_sketches(x, c.service, c.operation, c.kind, c.start_ns, c.end_ns, c.step_ns);
    if (rc <= 0) return;
  }
  if (q_strmap_init(&c.ops, x->a, 10000)) {
    q_error(x, 500, "out of memory");
    return;
  }
  c.v.max = 8u << 20;
  cs_index_query iq;
  memset(&iq, 0, sizeof iq);
  iq.kind = c.operation.n ? CS_IDX_OPERATION : CS_IDX_SERVICE;
  iq.service = c.service;
  iq.operation = c.operation;
  /* A trace that started up to the lookback before the window may still
   * hold spans inside it; traces longer than that are rare enough to miss. */
  iq.start_ns = c.start_ns > 60000000000ull ? c.start_ns - 60000000000ull : 0;
  iq.end_ns = c.end_ns;
  if (q_heavy_enter(x)) return;
  int rc = for_each_trace(x, &iq, stats_trace, &c);
  q_heavy_leave(x);
  if (rc) {
    free(c.v.r);
    return;
  }
  uint64_t *tmp = cs_arena_alloc(x->a, sizeof(uint64_t) * (c.v.n ? c.v.n : 1));
  /* Operation names in order for a stable output. */
  uint32_t *order = cs_arena_alloc(x->a, sizeof(uint32_t) * (c.ops.n ? c.ops.n : 1));
  if (!tmp || !order) {
    free(c.v.r);
    q_error(x, 500, "out of memory");
    return;
  }
  qsort(c.v.r, c.v.n, sizeof(rec), by_group_bucket_dur);
  size_t *first = cs_arena_alloc(x->a, sizeof(size_t) * (c.ops.n + 1));
  if (!first) {
    free(c.v.r);
    q_error(x, 500, "out of memory");
    return;
  }
  for (size_t g = 0, i = 0; g <= c.ops.n; g++) {
    while (i < c.v.n && c.v.r[i].group < g) i++;
    first[g] = i;
  }
  for (size_t g = 0; g < c.ops.n; g++) order[g] = (uint32_t)g;
  /* Insertion sort by name: operation counts are small. */
  for (size_t g = 1; g < c.ops.n; g++) {
    uint32_t v = order[g];
    size_t k = g;
    while (k > 0) {
      cs_str a = c.ops.keys[order[k - 1]], b = c.ops.keys[v];
      size_t m = a.n < b.n ? a.n : b.n;
      int cmp = m ? memcmp(a.p, b.p, m) : 0;
      if (cmp < 0 || (cmp == 0 && a.n <= b.n)) break;
      order[k] = order[k - 1];
      k--;
    }
    order[k] = v;
  }
  cs_json *j = &x->j;
  cs_json_obj(j);
  cs_json_key(j, "service"), cs_json_cs(j, c.service);
  cs_json_key(j, "startTimeUs"), cs_json_uint(j, c.start_ns / 1000);
  cs_json_key(j, "endTimeUs"), cs_json_uint(j, c.end_ns / 1000);
  cs_json_key(j, "stepNs"), cs_json_uint(j, c.step_ns);
  cs_json_key(j, "source"), cs_json_str(j, "exact");
  cs_json_key(j, "scannedTraces"), cs_json_uint(j, x->scanned);
  cs_json_key(j, "operations"), cs_json_arr(j);
  for (size_t o = 0; o < c.ops.n; o++) {
    uint32_t g = order[o];
    const rec *r = c.v.r + first[g];
    size_t n = first[g + 1] - first[g];
    cs_json_obj(j);
    cs_json_key(j, "operation"), cs_json_cs(j, c.ops.keys[g]);
    group_agg(j, r, n, tmp);
    group_series(j, r, n, tmp, c.start_ns, c.step_ns);
    cs_json_end(j);
  }
  cs_json_end(j);
  /* Totals over every operation: one group. */
  for (size_t i = 0; i < c.v.n; i++) c.v.r[i].group = 0;
  qsort(c.v.r, c.v.n, sizeof(rec), by_group_bucket_dur);
  cs_json_key(j, "total"), cs_json_obj(j);
  group_agg(j, c.v.r, c.v.n, tmp);
  group_series(j, c.v.r, c.v.n, tmp, c.start_ns, c.step_ns);
  cs_json_end(j);
  cs_json_end(j);
  free(c.v.r);
  q_send_json(x, 200);
}

/* ---- dependencies ---- */

typedef struct sid {
  uint8_t id[8];
  uint32_t i;
} sid;

static int sid_cmp(const void *pa, const void *pb) { return memcmp(pa, pb, 8); }

typedef struct deps_ctx {
  qreq *x;
  q_strmap edges;
  recs v;
  sid *ids;
  uint8_t *remote;
  size_t cap;
} deps_ctx;

static cs_str svc_of(const cs_span *s) {
  return s->resource ? s->resource->service : CS_STR_LIT("unknown_service");
}

static int add_edge(deps_ctx *c, cs_str from, cs_str to, uint64_t dur, int err) {
  char key[2048];
  if ((size_t)from.n + to.n + 4 > sizeof key) return 0; /* absurd names: not graphed */
  memcpy(key, &from.n, 4);
  memcpy(key + 4, from.p, from.n);
  memcpy(key + 4 + from.n, to.p, to.n);
  int32_t g = q_strmap_intern(&c->edges, key, 4 + (size_t)from.n + to.n);
  if (g < 0 || recs_push(&c->v, (rec){dur, (uint32_t)g, 0, (uint8_t)(err != 0)}))
    return q_error(c->x, 422, "window holds too many calls to summarise: narrow it");
  return 0;
}

/* Edges come from spans whose parent is in another service: a client span
 * and the server span it caused are one call, timed by the client (what
 * the caller waited for). A client span with no child in another service
 * but a peer.service attribute is a call to an uninstrumented service. */
static int deps_trace(void *ud, const cs_span *spans, size_t n) {
  deps_ctx *c = ud;
  if (n > c->cap) {
    sid *ids = realloc(c->ids, sizeof(sid) * n);
    if (ids) c->ids = ids;
    uint8_t *rm = realloc(c->remote, n);
    if (rm) c->remote = rm;
    if (!ids || !rm) return q_error(c->x, 500, "out of memory");
    c->cap = n;
  }
  for (size_t i = 0; i < n; i++) {
    memcpy(c->ids[i].id, spans[i].span_id, 8);
    c->ids[i].i = (uint32_t)i;
    c->remote[i] = 0;
  }
  qsort(c->ids, n, sizeof(sid), sid_cmp);
  for (size_t i = 0; i < n; i++) {
    const cs_span *s = &spans[i];
    if (cs_span_is_root(s)) continue;
    const sid *p = bsearch(s->parent_id, c->ids, n, sizeof(sid), sid_cmp);
    if (!p) continue;
    const cs_span *ps = &spans[p->i];
    cs_str from = svc_of(ps), to = svc_of(s);
    if (q_str_eq(from, to)) continue;
    c->remote[p->i] = 1;
    int client = ps->kind == CS_KIND_CLIENT || ps->kind == CS_KIND_PRODUCER;
    const cs_span *timed = client ? ps : s;
    uint64_t d = timed->end_ns > timed->start_ns ? timed->end_ns - timed->start_ns : 0;
    int err = s->status_code == CS_STATUS_ERROR || (client && ps->status_code == CS_STATUS_ERROR);
    if (add_edge(c, from, to, d, err)) return -1;
  }
  for (size_t i = 0; i < n; i++) {
    const cs_span *s = &spans[i];
    if (s->kind != CS_KIND_CLIENT || c->remote[i]) continue;
    for (uint32_t a = 0; a < s->n_attrs; a++)
      if (s->attrs[a].type == CS_VAL_STR && s->attrs[a].v.s.n &&
          q_str_eqc(s->attrs[a].key, "peer.service") && !q_str_eq(s->attrs[a].v.s, svc_of(s))) {
        uint64_t d = s->end_ns > s->start_ns ? s->end_ns - s->start_ns : 0;
        if (add_edge(c, svc_of(s), s->attrs[a].v.s, d, s->status_code == CS_STATUS_ERROR))
          return -1;
        break;
      }
  }
  return 0;
}

void q_dependencies(qreq *x, uint64_t start_ns, uint64_t end_ns, int jaeger_shape) {
  deps_ctx c;
  memset(&c, 0, sizeof c);
  c.x = x;
  c.v.max = 8u << 20;
  if (q_strmap_init(&c.edges, x->a, 10000)) {
    q_error(x, 500, "out of memory");
    return;
  }
  cs_index_query iq;
  memset(&iq, 0, sizeof iq);
  iq.kind = CS_IDX_ALL;
  iq.start_ns = start_ns;
  iq.end_ns = end_ns;
  if (q_heavy_enter(x)) return;
  int rc = for_each_trace(x, &iq, deps_trace, &c);
  q_heavy_leave(x);
  free(c.ids);
  free(c.remote);
  if (rc) {
    free(c.v.r);
    return;
  }
  qsort(c.v.r, c.v.n, sizeof(rec), by_group_bucket_dur);
  uint64_t *tmp = cs_arena_alloc(x->a, sizeof(uint64_t) * (c.v.n ? c.v.n : 1));
  uint32_t *order = cs_arena_alloc(x->a, sizeof(uint32_t) * (c.edges.n ? c.edges.n : 1));
  size_t *first = cs_arena_alloc(x->a, sizeof(size_t) * (c.edges.n + 1));
  if (!tmp || !order || !first) {
    free(c.v.r);
    q_error(x, 500, "out of memory");
    return;
  }
  for (size_t g = 0, i = 0; g <= c.edges.n; g++) {
    while (i < c.v.n && c.v.r[i].group < g) i++;
    first[g] = i;
  }
  /* Edges sorted by (parent, child): the key's byte order is not that, so
   * compare the decoded names. */
  for (size_t g = 0; g < c.edges.n; g++) order[g] = (uint32_t)g;
  for (size_t g = 1; g < c.edges.n; g++) {
    uint32_t v = order[g];
    size_t k = g;
    while (k > 0) {
      cs_str a = c.edges.keys[order[k - 1]], b = c.edges.keys[v];
      uint32_t la, lb;
      memcpy(&la, a.p, 4);
      memcpy(&lb, b.p, 4);
      size_t m = la < lb ? la : lb;
      int cmp = m ? memcmp(a.p + 4, b.p + 4, m) : 0;
      if (!cmp) cmp = la < lb ? -1 : la > lb;
      if (!cmp) {
        size_t ca = a.n - 4 - la, cb = b.n - 4 - lb, mm = ca < cb ? ca : cb;
        cmp = mm ? memcmp(a.p + 4 + la, b.p + 4 + lb, mm) : 0;
        if (!cmp) cmp = ca < cb ? -1 : ca > cb;
      }
      if (cmp <= 0) break;
      order[k] = order[k - 1];
      k--;
    }
    order[k] = v;
  }
  cs_json *j = &x->j;
  cs_json_obj(j);
  cs_json_key(j, jaeger_shape ? "data" : "edges"), cs_json_arr(j);
  for (size_t o = 0; o < c.edges.n; o++) {
    uint32_t g = order[o];
    cs_str k = c.edges.keys[g];
    uint32_t lp;
    memcpy(&lp, k.p, 4);
    cs_json_obj(j);
    cs_json_key(j, "parent"), cs_json_strn(j, k.p + 4, lp);
    cs_json_key(j, "child"), cs_json_strn(j, k.p + 4 + lp, k.n - 4 - lp);
    if (jaeger_shape) {
      cs_json_key(j, "callCount"), cs_json_uint(j, first[g + 1] - first[g]);
    } else {
      size_t n = first[g + 1] - first[g];
      uint64_t errs = 0;
      for (size_t i = 0; i < n; i++) tmp[i] = c.v.r[first[g] + i].dur, errs += c.v.r[first[g] + i].err;
      qsort(tmp, n, sizeof(uint64_t), u64_cmp);
      cs_json_key(j, "callCount"), cs_json_uint(j, n);
      cs_json_key(j, "errorCount"), cs_json_uint(j, errs);
      cs_json_key(j, "errorRate"), cs_json_double(j, n ? (double)errs / (double)n : 0.0);
      cs_json_key(j, "p50Ns"), cs_json_uint(j, q_percentile(tmp, n, 0.50));
      cs_json_key(j, "p90Ns"), cs_json_uint(j, q_percentile(tmp, n, 0.90));
      cs_json_key(j, "p95Ns"), cs_json_uint(j, q_percentile(tmp, n, 0.95));
      cs_json_key(j, "p99Ns"), cs_json_uint(j, q_percentile(tmp, n, 0.99));
      cs_json_key(j, "maxNs"), cs_json_uint(j, n ? tmp[n - 1] : 0);
    }
    cs_json_end(j);
  }
  cs_json_end(j);
  if (jaeger_shape) {
    cs_json_key(j, "total"), cs_json_uint(j, c.edges.n);
    cs_json_key(j, "limit"), cs_json_int(j, 0);
    cs_json_key(j, "offset"), cs_json_int(j, 0);
    cs_json_key(j, "errors"), cs_json_null(j);
  } else {
    cs_json_key(j, "startTimeUs"), cs_json_uint(j, start_ns / 1000);
    cs_json_key(j, "endTimeUs"), cs_json_uint(j, end_ns / 1000);
    cs_json_key(j, "scannedTraces"), cs_json_uint(j, x->scanned);
  }
  cs_json_end(j);
  free(c.v.r);
  q_send_json(x, 200);
}

/* GET /api/v1/dependencies?start=&end=&lookback= (microseconds). */
void h_v1_dependencies(qreq *x) {
  uint64_t s, e;
  if (q_arg_window(x, 3600ull * 1000000000ull, &s, &e)) return;
  q_dependencies(x, s, e, 0);
}
