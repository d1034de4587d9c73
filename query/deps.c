/* Service dependencies (/api/dependencies and /api/v1/dependencies):
 * caller -> callee edges with call and error counts and latency
 * percentiles. By default from per-minute edge sketches, filled by
 * scanning each minute once and kept when closed; with exact=true by a
 * scan of the window's traces with exact percentiles. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_int.h"

/* ---- dependencies ---- */

typedef struct sid {
  uint8_t id[8];
  uint32_t i;
} sid;

static int sid_cmp(const void *pa, const void *pb) { return memcmp(pa, pb, 8); }

#define MIN_NS 60000000000ull
/* Edge sketches live in their own aggregate under one pseudo-service; an
 * edge is the operation, keyed by its length-prefixed (parent, child). */
static const char DEPS_SVC[] = "\x01" "deps";

typedef struct deps_ctx {
  qreq *x;
  q_strmap edges;
  q_recs v;
  sid *ids;
  uint8_t *remote;
  size_t cap;
  /* Sketch fills: edges go to local by the minute their callee started,
   * only for minutes [c0, c1) that need it. */
  cs_agg *local;
  int64_t local_svc;
  uint32_t m0, c0, c1;
  const uint8_t *need;
} deps_ctx;

static cs_str svc_of(const cs_span *s) {
  return s->resource ? s->resource->service : CS_STR_LIT("unknown_service");
}

static int add_edge(deps_ctx *c, cs_str from, cs_str to, uint64_t dur, int err, uint64_t t_ns) {
  char key[2048];
  if ((size_t)from.n + to.n + 4 > sizeof key) return 0; /* absurd names: not graphed */
  memcpy(key, &from.n, 4);
  memcpy(key + 4, from.p, from.n);
  memcpy(key + 4 + from.n, to.p, to.n);
  if (c->local) {
    uint64_t m = t_ns / MIN_NS;
    if (m < c->c0 || m >= c->c1 || !c->need[m - c->m0]) return 0;
    int64_t op = cs_agg_str(c->local, key, 4 + (size_t)from.n + to.n, 1);
    if (op < 0 || cs_agg_add(c->local, (uint32_t)c->local_svc, (uint32_t)op, 0, (uint32_t)m, dur, err))
      return q_error(c->x, 422, "window holds too many calls to summarise: narrow it");
    return 0;
  }
  int32_t g = q_strmap_intern(&c->edges, key, 4 + (size_t)from.n + to.n);
  if (g < 0 || q_recs_push(&c->v, (q_rec){dur, (uint32_t)g, 0, (uint8_t)(err != 0)}))
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
    if (add_edge(c, from, to, d, err, s->start_ns)) return -1;
  }
  for (size_t i = 0; i < n; i++) {
    const cs_span *s = &spans[i];
    if (s->kind != CS_KIND_CLIENT || c->remote[i]) continue;
    for (uint32_t a = 0; a < s->n_attrs; a++)
      if (s->attrs[a].type == CS_VAL_STR && s->attrs[a].v.s.n &&
          q_str_eqc(s->attrs[a].key, "peer.service") && !q_str_eq(s->attrs[a].v.s, svc_of(s))) {
        uint64_t d = s->end_ns > s->start_ns ? s->end_ns - s->start_ns : 0;
        if (add_edge(c, svc_of(s), s->attrs[a].v.s, d, s->status_code == CS_STATUS_ERROR,
                     s->start_ns))
          return -1;
        break;
      }
  }
  return 0;
}

/* Orders edge keys (length-prefixed parent, then child) by parent, child. */
static int edge_key_cmp(cs_str a, cs_str b) {
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
  return cmp;
}

typedef struct etup {
  cs_str key;
  const cs_agg_entry *e;
} etup;

static int etup_cmp(const void *pa, const void *pb) {
  return edge_key_cmp(((const etup *)pa)->key, ((const etup *)pb)->key);
}

static void edge_head(cs_json *j, cs_str k) {
  uint32_t lp;
  memcpy(&lp, k.p, 4);
  cs_json_key(j, "parent"), cs_json_strn(j, k.p + 4, lp);
  cs_json_key(j, "child"), cs_json_strn(j, k.p + 4 + lp, k.n - 4 - lp);
}

/* Dependencies from per-minute edge sketches: 1 when not applicable, 0
 * when answered, -1 after an error reply. */
static int deps_from_sketches(qreq *x, uint64_t start_ns, uint64_t end_ns, int jaeger_shape) {
  cs_query *q = x->q;
  if (!q->deps_ok) return 1;
  cs_agg *g = &q->deps;
  uint32_t m0 = (uint32_t)(start_ns / MIN_NS), m1 = (uint32_t)((end_ns + MIN_NS - 1) / MIN_NS);
  if (m1 <= m0) m1 = m0 + 1;
  uint64_t now_min = q_wall_ns() / MIN_NS;
  uint8_t *need = cs_arena_calloc(x->a, m1 - m0), *closed = cs_arena_calloc(x->a, m1 - m0);
  if (!need || !closed) return q_error(x, 500, "out of memory");
  size_t n_need = 0;
  uint32_t first = 0, last = 0;
  pthread_rwlock_rdlock(&g->lock);
  int64_t gs = cs_agg_str(g, DEPS_SVC, sizeof DEPS_SVC - 1, 0);
  for (uint32_t m = m0; m < m1; m++) {
    int filled = 0;
    if (gs >= 0) cs_agg_head(g, (uint32_t)gs, m, &filled);
    closed[m - m0] = (uint64_t)m + 2 <= now_min;
    if (filled) continue;
    need[m - m0] = 1;
    if (!n_need++) first = m;
    last = m;
  }
  pthread_rwlock_unlock(&g->lock);

  cs_agg local;
  int rc = 0, cleared = 0;
  if (cs_agg_init(&local, (size_t)4 << 20)) return q_error(x, 500, "out of memory");
  deps_ctx c;
  memset(&c, 0, sizeof c);
  c.x = x;
  c.local = &local;
  c.local_svc = cs_agg_str(&local, DEPS_SVC, sizeof DEPS_SVC - 1, 1);
  c.m0 = m0;
  c.need = need;
  if (n_need) {
    if (q_heavy_enter(x)) {
      cs_agg_release(&local);
      return -1;
    }
    /* Ten minutes at a time, each kept once done, as stats fills do. */
    for (uint32_t c0 = first; c0 <= last && !rc; c0 += 10) {
      uint32_t c1 = c0 + 10 < last + 1 ? c0 + 10 : last + 1;
      int any = 0;
      for (uint32_t m = c0; m < c1; m++) any |= need[m - m0];
      if (!any) continue;
      c.c0 = c0, c.c1 = c1;
      cs_index_query iq;
      memset(&iq, 0, sizeof iq);
      iq.kind = CS_IDX_ALL;
      /* A callee starts within its trace, which began at most a minute
       * earlier for nearly every trace. */
      iq.start_ns = (uint64_t)c0 * MIN_NS > MIN_NS ? (uint64_t)c0 * MIN_NS - MIN_NS : 0;
      iq.end_ns = (uint64_t)c1 * MIN_NS;
      rc = q_for_each_trace(x, &iq, deps_trace, &c);
      if (rc) break;
      pthread_rwlock_wrlock(&g->lock);
      gs = cs_agg_str(g, DEPS_SVC, sizeof DEPS_SVC - 1, 1);
      for (size_t i = 0; i < local.n_e && gs >= 0; i++) {
        uint32_t m = local.e[i].minute;
        if (m >= c0 && m < c1 && closed[m - m0] && cs_agg_merge_entry(g, &local, &local.e[i])) {
          /* At the memory cap: start over; this request scans exactly. */
          cs_agg_clear(g);
          cleared = 1;
          break;
        }
      }
      for (uint32_t m = c0; m < c1 && gs >= 0 && !cleared; m++)
        if (need[m - m0] && closed[m - m0]) cs_agg_mark_filled(g, (uint32_t)gs, m);
      pthread_rwlock_unlock(&g->lock);
      if (cleared) break;
    }
    q_heavy_leave(x);
  }
  if (cleared) {
    free(c.ids);
    free(c.remote);
    cs_agg_release(&local);
    return 1;
  }
  free(c.ids);
  free(c.remote);
  if (rc) {
    cs_agg_release(&local);
    return -1;
  }

  size_t cap = 256, nt = 0;
  etup *t = malloc(cap * sizeof *t);
  cs_sk_dense *d = calloc(1, sizeof *d);
  if (!t || !d) rc = q_error(x, 500, "out of memory");
  pthread_rwlock_rdlock(&g->lock);
  gs = cs_agg_str(g, DEPS_SVC, sizeof DEPS_SVC - 1, 0);
  for (uint32_t m = m0; m < m1 && !rc; m++) {
    int use_local = need[m - m0]; /* this request's own fill, closed or not */
    const cs_agg *src = use_local ? &local : g;
    int64_t sid_ = use_local ? c.local_svc : gs;
    if (sid_ < 0) continue;
    for (int32_t h = cs_agg_head(src, (uint32_t)sid_, m, NULL); h >= 0; h = src->e[h].next) {
      if (nt == cap) {
        etup *n2 = realloc(t, cap * 2 * sizeof *t);
        if (!n2) {
          rc = q_error(x, 500, "out of memory");
          break;
        }
        t = n2, cap *= 2;
      }
      const cs_agg_entry *e = &src->e[h];
      t[nt++] = (etup){{src->strs[e->op], src->str_len[e->op]}, e};
    }
  }
  if (!rc) {
    qsort(t, nt, sizeof *t, etup_cmp);
    cs_json *j = &x->j;
    size_t n_edges = 0;
    cs_json_obj(j);
    cs_json_key(j, jaeger_shape ? "data" : "edges"), cs_json_arr(j);
    for (size_t i = 0; i < nt;) {
      size_t k = i;
      while (k < nt && !edge_key_cmp(t[k].key, t[i].key)) cs_sk_dense_add(d, t[k++].e);
      cs_json_obj(j);
      edge_head(j, t[i].key);
      cs_json_key(j, "callCount"), cs_json_uint(j, d->count);
      if (!jaeger_shape) {
        uint64_t qv[4];
        cs_sk_dense_quantiles(d, qv);
        cs_json_key(j, "errorCount"), cs_json_uint(j, d->errors);
        cs_json_key(j, "errorRate"), cs_json_double(j, d->count ? (double)d->errors / (double)d->count : 0.0);
        cs_json_key(j, "p50Ns"), cs_json_uint(j, qv[0]);
        cs_json_key(j, "p90Ns"), cs_json_uint(j, qv[1]);
        cs_json_key(j, "p95Ns"), cs_json_uint(j, qv[2]);
        cs_json_key(j, "p99Ns"), cs_json_uint(j, qv[3]);
        cs_json_key(j, "maxNs"), cs_json_uint(j, d->max_ns);
      }
      cs_json_end(j);
      cs_sk_dense_clear(d);
      n_edges++;
      i = k;
    }
    cs_json_end(j);
    if (jaeger_shape) {
      cs_json_key(j, "total"), cs_json_uint(j, n_edges);
      cs_json_key(j, "limit"), cs_json_int(j, 0);
      cs_json_key(j, "offset"), cs_json_int(j, 0);
      cs_json_key(j, "errors"), cs_json_null(j);
    } else {
      cs_json_key(j, "startTimeUs"), cs_json_uint(j, (uint64_t)m0 * MIN_NS / 1000);
      cs_json_key(j, "endTimeUs"), cs_json_uint(j, (uint64_t)m1 * MIN_NS / 1000);
      cs_json_key(j, "source"), cs_json_str(j, "sketch");
      cs_json_key(j, "filledMinutes"), cs_json_uint(j, n_need);
      cs_json_key(j, "scannedTraces"), cs_json_uint(j, x->scanned);
    }
    cs_json_end(j);
  }
  pthread_rwlock_unlock(&g->lock);
  free(t);
  free(d);
  cs_agg_release(&local);
  if (!rc) q_send_json(x, 200);
  return rc;
}

void q_dependencies(qreq *x, uint64_t start_ns, uint64_t end_ns, int jaeger_shape) {
  const char *exact = cs_http_arg(x->r, "exact");
  if (!exact || strcmp(exact, "true") != 0) {
    int rc = deps_from_sketches(x, start_ns, end_ns, jaeger_shape);
    if (rc <= 0) return;
  }
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
  int rc = q_for_each_trace(x, &iq, deps_trace, &c);
  q_heavy_leave(x);
  free(c.ids);
  free(c.remote);
  if (rc) {
    free(c.v.r);
    return;
  }
  qsort(c.v.r, c.v.n, sizeof(q_rec), q_rec_cmp);
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
      qsort(tmp, n, sizeof(uint64_t), q_u64_cmp);
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
    cs_json_key(j, "source"), cs_json_str(j, "exact");
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
