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
