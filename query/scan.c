/* Scans shared by statistics, sketch fills and dependencies: the distinct
 * traces an index query finds, loaded one at a time into a scratch arena
 * and handed to a callback; and the growable record arrays they reduce
 * spans to. Deadline and scan caps apply throughout. */
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

/* Calls fn for every distinct trace the index query finds; -1 after
 * replying with an error. */
int q_for_each_trace(qreq *x, const cs_index_query *iq, q_trace_fn fn, void *ud) {
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

int q_recs_push(q_recs *v, q_rec r) {
  if (v->n == v->cap) {
    if (v->n >= v->max) return -1;
    size_t cap = v->cap ? v->cap * 2 : 4096;
    q_rec *p = realloc(v->r, sizeof(q_rec) * cap);
    if (!p) return -1;
    v->r = p;
    v->cap = cap;
  }
  v->r[v->n++] = r;
  return 0;
}

int q_rec_cmp(const void *pa, const void *pb) {
  const q_rec *a = pa, *b = pb;
  if (a->group != b->group) return a->group < b->group ? -1 : 1;
  if (a->bucket != b->bucket) return a->bucket < b->bucket ? -1 : 1;
  return a->dur < b->dur ? -1 : a->dur > b->dur;
}

int q_u64_cmp(const void *pa, const void *pb) {
  uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
  return a < b ? -1 : a > b;
}

