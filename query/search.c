/* Trace search over the store's indexes, shared by Jaeger's /api/traces
 * (span-level matching, whole traces) and /api/v1/search (trace-level
 * duration, summaries, cursor). The most selective index available drives
 * the scan; every other condition is checked on the summary or, when it
 * needs spans, on the loaded trace. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_int.h"
#include "session.h"

typedef struct scan_ctx {
  qreq *x;
  const q_search *s;
  q_idset seen;
  q_hit *hits;
  size_t n, cap;
  int more, failed, ascending;
  int need_spans; /* some condition needs the trace's spans */
  int skip_service_check;
  int edge_instrumented; /* the edge's callee sends spans of its own */
  cs_arena scratch; /* candidates are checked here; only hits go in x->a */
  uint32_t budget;  /* stop after examining this many (0 = no budget) */
  int budget_hit;
  /* Candidates gathered from the duration index, sorted newest first. */
  struct cand {
    uint8_t tid[16];
    uint64_t start_ns;
  } *cands;
  size_t n_cands, cap_cands;
} scan_ctx;

static int before_cursor(const struct scan_ctx *c, const uint8_t tid[16], uint64_t t);

static int on_duration_entry(void *ud, const uint8_t tid[16], uint64_t start_ns) {
  scan_ctx *c = ud;
  if (before_cursor(c, tid, start_ns)) return 0;
  int fresh = q_idset_add(&c->seen, tid);
  if (fresh < 0) return c->failed = 1;
  if (!fresh) return 0;
  if (c->n_cands >= c->x->q->o.limits.max_scan) return c->x->scan_capped = 1;
  if ((c->n_cands & 255) == 0 && q_expired(c->x)) return 1;
  if (c->n_cands == c->cap_cands) {
    size_t cap = c->cap_cands ? c->cap_cands * 2 : 256;
    struct cand *p = cs_arena_alloc(c->x->a, cap * sizeof *p);
    if (!p) return c->failed = 1;
    if (c->n_cands) memcpy(p, c->cands, c->n_cands * sizeof *p);
    c->cands = p;
    c->cap_cands = cap;
  }
  memcpy(c->cands[c->n_cands].tid, tid, 16);
  c->cands[c->n_cands++].start_ns = start_ns;
  return 0;
}

static int cand_newest_first(const void *pa, const void *pb) {
  const struct cand *a = pa, *b = pb;
  if (a->start_ns != b->start_ns) return a->start_ns > b->start_ns ? -1 : 1;
  return -memcmp(a->tid, b->tid, 16);
}

static int span_matches(const q_search *s, const cs_span *sp) {
  if (s->service.n && (!sp->resource || !q_str_eq(sp->resource->service, s->service))) return 0;
  if (s->operation.n && !q_str_eq(sp->name, s->operation)) return 0;
  uint64_t d = sp->end_ns > sp->start_ns ? sp->end_ns - sp->start_ns : 0;
  if (d < s->min_dur_ns) return 0;
  if (s->max_dur_ns && d > s->max_dur_ns) return 0;
  for (size_t c = 0; c < s->n_conds; c++)
    if (!q_span_has(sp, s->conds[c].key, s->conds[c].val)) return 0;
  return 1;
}

/* Trace-level semantics: each condition may be met by a different span. */
static int trace_matches(const q_search *s, const cs_span *sp, size_t n) {
  if (s->operation.n) {
    size_t i = 0;
    for (; i < n; i++)
      if (q_str_eq(sp[i].name, s->operation) &&
          (!s->service.n || (sp[i].resource && q_str_eq(sp[i].resource->service, s->service))))
        break;
    if (i == n) return 0;
  }
  for (size_t c = 0; c < s->n_conds; c++) {
    size_t i = 0;
    for (; i < n; i++)
      if (q_span_has(&sp[i], s->conds[c].key, s->conds[c].val)) break;
    if (i == n) return 0;
  }
  return 1;
}

/* Span IDs sorted for parent lookups. */
typedef struct sid {
  uint8_t id[8];
  uint32_t i;
} sid;

static int sid_cmp(const void *a, const void *b) { return memcmp(a, b, 8); }

static cs_str svc_of(const cs_span *s) { return s->resource ? s->resource->service : CS_STR_LIT(""); }

/* Does service `from` call service `to` in this trace, as the dependency
 * graph counts calls (deps.c): a span of `to` whose parent span is of
 * `from`, or a client span of `from` with peer.service `to` and no child
 * in another service (a call to an uninstrumented service)? */
static int edge_matches(const q_search *s, const cs_span *sp, size_t n, cs_arena *a) {
  sid *ids = cs_arena_alloc(a, sizeof(sid) * (n ? n : 1));
  if (!ids) return 0;
  for (size_t i = 0; i < n; i++) memcpy(ids[i].id, sp[i].span_id, 8), ids[i].i = (uint32_t)i;
  qsort(ids, n, sizeof(sid), sid_cmp);
  for (size_t i = 0; i < n; i++) {
    if (cs_span_is_root(&sp[i]) || !q_str_eq(svc_of(&sp[i]), s->edge_child)) continue;
    const sid *p = bsearch(sp[i].parent_id, ids, n, sizeof(sid), sid_cmp);
    if (p && q_str_eq(svc_of(&sp[p->i]), s->edge_parent)) return 1;
  }
  for (size_t i = 0; i < n; i++) {
    const cs_span *c = &sp[i];
    if (c->kind != CS_KIND_CLIENT || !q_str_eq(svc_of(c), s->edge_parent)) continue;
    cs_str peer = {0};
    for (uint32_t k = 0; k < c->n_attrs; k++)
      if (c->attrs[k].type == CS_VAL_STR && q_str_eqc(c->attrs[k].key, "peer.service")) {
        peer = c->attrs[k].v.s;
        break;
      }
    if (!q_str_eq(peer, s->edge_child)) continue;
    /* The peer case only counts when no child of this span is remote. */
    int remote = 0;
    for (size_t k = 0; k < n && !remote; k++)
      remote = !cs_span_is_root(&sp[k]) && memcmp(sp[k].parent_id, c->span_id, 8) == 0 &&
               !q_str_eq(svc_of(&sp[k]), s->edge_parent);
    if (!remote) return 1;
  }
  return 0;
}

static int has_service(const cs_trace_summary *sum, cs_str svc) {
  for (uint32_t i = 0; i < sum->n_services; i++)
    if (q_str_eq(sum->services[i], svc)) return 1;
  return 0;
}

/* Position relative to the cursor: skip entries at or before it in scan
 * order. */
static int before_cursor(const struct scan_ctx *c, const uint8_t tid[16], uint64_t t) {
  const cs_cursor *k = c->s->after;
  if (!k) return 0;
  int cmp = t == k->start_ns ? memcmp(tid, k->trace_id, 16) : (t < k->start_ns ? -1 : 1);
  return c->ascending ? cmp <= 0 : cmp >= 0;
}

static int eval_candidate(scan_ctx *c, const uint8_t tid[16], uint64_t start_ns);

static int on_entry(void *ud, const uint8_t tid[16], uint64_t start_ns) {
  scan_ctx *c = ud;
  qreq *x = c->x;
  if (before_cursor(c, tid, start_ns)) return 0;
  int fresh = q_idset_add(&c->seen, tid);
  if (fresh < 0) return c->failed = 1;
  if (!fresh) return 0;
  if (c->budget && x->scanned >= c->budget) return c->budget_hit = 1;
  return eval_candidate(c, tid, start_ns);
}

/* Checks one candidate trace against every condition; keeps it as a hit.
 * Returns nonzero to stop the scan. */
static int eval_candidate(scan_ctx *c, const uint8_t tid[16], uint64_t start_ns) {
  qreq *x = c->x;
  const q_search *s = c->s;
  if (++x->scanned > x->q->o.limits.max_scan) return x->scan_capped = 1;
  if ((x->scanned & 31) == 0 && q_expired(x)) return 1;

  q_hit h;
  memset(&h, 0, sizeof h);
  memcpy(h.trace_id, tid, 16);
  h.index_ns = start_ns;
  cs_arena_reset(&c->scratch);
  if (!s->span_level) {
    int rc = cs_store_get_summary(x->q->st, tid, &c->scratch, &h.sum);
    if (rc == CS_STORE_ENOTFOUND) return 0;
    if (rc) return c->failed = 1;
    h.have_sum = 1;
    if (h.sum.start_ns < s->start_ns || (s->end_ns && h.sum.start_ns > s->end_ns)) return 0;
    if (h.sum.duration_ns < s->min_dur_ns) return 0;
    if (s->max_dur_ns && h.sum.duration_ns > s->max_dur_ns) return 0;
    if (s->service.n && !c->skip_service_check && !has_service(&h.sum, s->service)) return 0;
    /* Summaries list the services that sent spans: the caller always did,
     * the callee unless it is only a peer. */
    if (s->edge_parent.n && !has_service(&h.sum, s->edge_parent)) return 0;
    if (c->edge_instrumented && !has_service(&h.sum, s->edge_child)) return 0;
  }
  if (c->need_spans || s->load_spans) {
    int rc = cs_store_get_trace(x->q->st, tid, &c->scratch, &h.spans, &h.n_spans);
    if (rc == CS_STORE_ELIMIT) return 0; /* too large to check: not a hit */
    if (rc) return c->failed = 1;
    if (!h.n_spans) return 0;
    if (s->span_level) {
      size_t i = 0;
      for (; i < h.n_spans; i++)
        if (span_matches(s, &h.spans[i])) break;
      if (i == h.n_spans) return 0;
    } else if (!trace_matches(s, h.spans, h.n_spans)) {
      return 0;
    }
    if (s->edge_child.n && !edge_matches(s, h.spans, h.n_spans, &c->scratch)) return 0;
    h.spans = NULL, h.n_spans = 0;
  }
  if (c->n == s->limit) {
    c->more = 1;
    return 1;
  }
  /* A hit: read it again into the request's arena, which outlives the scan. */
  if (h.have_sum && cs_store_get_summary(x->q->st, tid, x->a, &h.sum)) return c->failed = 1;
  if (s->load_spans && cs_store_get_trace(x->q->st, tid, x->a, &h.spans, &h.n_spans))
    return c->failed = 1;
  c->hits[c->n++] = h;
  return 0;
}

static int first_entry(void *ud, const uint8_t tid[16], uint64_t start_ns) {
  (void)tid, (void)start_ns;
  *(int *)ud = 1;
  return 1;
}

int q_run_search(qreq *x, const q_search *s, q_hit **hits, size_t *n, int *more) {
  scan_ctx c;
  memset(&c, 0, sizeof c);
  c.x = x;
  c.s = s;
  c.hits = cs_arena_alloc(x->a, sizeof(q_hit) * (s->limit + 1));
  if (!c.hits || q_idset_init(&c.seen, x->a, (size_t)s->limit * 4))
    return q_error(x, 500, "out of memory");

  cs_index_query iq;
  memset(&iq, 0, sizeof iq);
  iq.start_ns = s->start_ns;
  iq.end_ns = s->end_ns;
  /* The cursor bounds the scan too, so later pages do not rescan the
   * earlier ones (ties at the same time are skipped by before_cursor). */
  int cond_used = -1;
  if (s->edge_child.n) {
    /* Does the callee send spans of its own (has traces in the window)? */
    cs_index_query cq;
    memset(&cq, 0, sizeof cq);
    cq.kind = CS_IDX_SERVICE;
    cq.service = s->edge_child;
    cq.start_ns = s->start_ns;
    cq.end_ns = s->end_ns;
    int rc = cs_store_scan_index(x->q->st, &cq, first_entry, &c.edge_instrumented);
    if (rc && rc != CS_STORE_ENOTFOUND) return q_error(x, 500, "storage error: %s", cs_store_strerror(rc));
  }
  if (s->session.n) {
    iq.kind = CS_IDX_SESSION;
    iq.session = s->session;
  } else {
    for (size_t i = 0; i < s->n_conds && cond_used < 0; i++)
      if (cs_is_session_key(s->conds[i].key.p, s->conds[i].key.n)) {
        iq.kind = CS_IDX_SESSION;
        iq.session = s->conds[i].val;
        cond_used = (int)i;
      }
    for (size_t i = 0; i < s->n_conds && cond_used < 0; i++)
      if (q_key_indexed(x->q, s->conds[i].key)) {
        iq.kind = CS_IDX_ATTR;
        iq.key = s->conds[i].key;
        iq.value = s->conds[i].val;
        cond_used = (int)i;
      }
    if (cond_used < 0) {
      if (s->service.n && s->operation.n) {
        iq.kind = CS_IDX_OPERATION;
        iq.service = s->service;
        iq.operation = s->operation;
      } else if (s->service.n) {
        iq.kind = CS_IDX_SERVICE;
        iq.service = s->service;
      } else if (s->edge_child.n) {
        /* The callee's traces, or the caller's when the callee is only
         * known as a peer.service (it has no service index). */
        iq.kind = CS_IDX_SERVICE;
        iq.service = c.edge_instrumented ? s->edge_child : s->edge_parent;
      } else {
        iq.kind = CS_IDX_ALL;
      }
    }
  }
  c.ascending = iq.kind == CS_IDX_SESSION;
  if (s->after) {
    if (c.ascending && s->after->start_ns > iq.start_ns) iq.start_ns = s->after->start_ns;
    if (!c.ascending && (!iq.end_ns || s->after->start_ns < iq.end_ns))
      iq.end_ns = s->after->start_ns;
  }
  c.skip_service_check = (iq.kind == CS_IDX_SERVICE && q_str_eq(iq.service, s->service)) ||
                         iq.kind == CS_IDX_OPERATION;
  /* Conditions the index cannot answer need the spans: other attributes,
   * and an operation unless the operation index drove the scan. */
  c.need_spans = s->span_level || (s->operation.n && iq.kind != CS_IDX_OPERATION) ||
                 s->n_conds > (cond_used >= 0 ? 1u : 0u) || (s->session.n && s->n_conds) ||
                 s->edge_child.n;

  cs_arena_init(&c.scratch, 65536, x->q->o.limits.arena_mb << 20);
  /* A duration-only search reads every trace's summary in time order; a
   * selective duration would read them all. Try a small budget that way
   * first, then ask the duration index and order its answers by time. */
  int by_duration = iq.kind == CS_IDX_ALL && !s->span_level && (s->min_dur_ns || s->max_dur_ns);
  if (by_duration) c.budget = 512;
  int rc = cs_store_scan_index(x->q->st, &iq, on_entry, &c);
  if (by_duration && c.budget_hit && !c.failed && !x->timed_out && !x->scan_capped) {
    c.n = 0;
    c.more = 0;
    c.budget = 0;
    x->scanned = 0;
    if (q_idset_init(&c.seen, x->a, 1024)) c.failed = 1;
    iq.kind = CS_IDX_DURATION;
    iq.min_duration_ns = s->min_dur_ns;
    iq.max_duration_ns = s->max_dur_ns;
    if (!c.failed) rc = cs_store_scan_index(x->q->st, &iq, on_duration_entry, &c);
    if (!c.failed && !x->timed_out && !x->scan_capped) {
      qsort(c.cands, c.n_cands, sizeof *c.cands, cand_newest_first);
      for (size_t i = 0; i < c.n_cands; i++)
        if (eval_candidate(&c, c.cands[i].tid, c.cands[i].start_ns)) break;
    }
  }
  cs_arena_release(&c.scratch);
  if (c.failed) return q_error(x, 500, "storage error while searching");
  if (x->timed_out || x->scan_capped) return q_scan_error(x);
  if (rc && rc != CS_STORE_ENOTFOUND) return q_error(x, 500, "storage error: %s", cs_store_strerror(rc));
  *hits = c.hits;
  *n = c.n;
  *more = c.more;
  return 0;
}

int q_parse_conds(qreq *x, const char *name, const char *json_name, q_cond **conds, size_t *n) {
  const char *vals[Q_MAX_CONDS];
  size_t nv = name ? cs_http_args(x->r, name, vals, Q_MAX_CONDS) : 0;
  if (nv > Q_MAX_CONDS)
    return q_error(x, 400, "too many %s conditions: %zu, limit %d", name, nv, Q_MAX_CONDS);
  q_cond *out = cs_arena_alloc(x->a, sizeof(q_cond) * Q_MAX_CONDS * 2);
  if (!out) return q_error(x, 500, "out of memory");
  size_t k = 0;
  for (size_t i = 0; i < nv; i++) {
    size_t len = strnlen(vals[i], Q_MAX_TAGS_JSON + 1);
    if (len > Q_MAX_TAGS_JSON)
      return q_error(x, 400, "%s condition too long: limit %d bytes", name, Q_MAX_TAGS_JSON);
    if (cs_qp_tag(vals[i], len, &out[k].key, &out[k].val))
      return q_error(x, 400, "bad %s: %.64s (want key:value)", name, vals[i]);
    k++;
  }
  const char *js = json_name ? cs_http_arg(x->r, json_name) : NULL;
  if (js && *js) {
    size_t len = strnlen(js, Q_MAX_TAGS_JSON + 1);
    if (len > Q_MAX_TAGS_JSON)
      return q_error(x, 400, "%s too long: limit %d bytes", json_name, Q_MAX_TAGS_JSON);
    cs_str *keys, *jv;
    size_t np;
    char err[128];
    if (cs_json_parse_flat(js, len, x->a, &keys, &jv, &np, Q_MAX_CONDS, err, sizeof err))
      return q_error(x, 400, "bad %s: %s (want a flat JSON object of strings)", json_name, err);
    for (size_t i = 0; i < np; i++) {
      if (k >= Q_MAX_CONDS)
        return q_error(x, 400, "too many conditions: limit %d", Q_MAX_CONDS);
      if (!keys[i].n) return q_error(x, 400, "bad %s: empty key", json_name);
      out[k].key = keys[i];
      out[k].val = jv[i];
      k++;
    }
  }
  *conds = out;
  *n = k;
  return 0;
}
