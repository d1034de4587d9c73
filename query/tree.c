/* Call-tree builder (see tree.h). Spans are sorted first so that the
 * result depends only on the set of spans, never on the order batches
 * arrived in; every walk is iterative because a trace may be a chain of
 * thousands of spans. */
#include "tree.h"

#include <stdlib.h>
#include <string.h>

static int span_cmp(const void *pa, const void *pb) {
  const cs_span *a = *(const cs_span *const *)pa, *b = *(const cs_span *const *)pb;
  if (a->start_ns != b->start_ns) return a->start_ns < b->start_ns ? -1 : 1;
  int c = memcmp(a->span_id, b->span_id, 8);
  if (c) return c;
  if (a->end_ns != b->end_ns) return a->end_ns < b->end_ns ? -1 : 1;
  return memcmp(a->parent_id, b->parent_id, 8);
}

static uint64_t id_hash(const uint8_t id[8]) {
  uint64_t h;
  memcpy(&h, id, 8);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

typedef struct idmap {
  int32_t *slots; /* node index + 1; 0 = empty */
  size_t mask;
} idmap;

static int32_t idmap_find(const idmap *m, const cs_tree_node *nodes, const uint8_t id[8]) {
  for (size_t i = id_hash(id) & m->mask;; i = (i + 1) & m->mask) {
    int32_t v = m->slots[i];
    if (!v) return -1;
    if (memcmp(nodes[v - 1].span->span_id, id, 8) == 0) return v - 1;
  }
}

static void idmap_put(idmap *m, const uint8_t id[8], int32_t idx) {
  size_t i = id_hash(id) & m->mask;
  while (m->slots[i]) i = (i + 1) & m->mask;
  m->slots[i] = idx + 1;
}

static int attr_str(const cs_attr *attrs, uint32_t n, const char *key, cs_str *out) {
  size_t kl = strlen(key);
  for (uint32_t i = 0; i < n; i++)
    if (attrs[i].key.n == kl && memcmp(attrs[i].key.p, key, kl) == 0 &&
        attrs[i].type == CS_VAL_STR && attrs[i].v.s.n) {
      *out = attrs[i].v.s;
      return 1;
    }
  return 0;
}

cs_str cs_span_host(const cs_span *s) {
  cs_str h = {"", 0};
  if (!s->resource) return h;
  const cs_resource *r = s->resource;
  if (attr_str(r->attrs, r->n_attrs, "host.name", &h)) return h;
  if (attr_str(r->attrs, r->n_attrs, "host.id", &h)) return h;
  if (attr_str(r->attrs, r->n_attrs, "service.instance.id", &h)) return h;
  return r->service;
}

static int same_str(cs_str a, cs_str b) { return a.n == b.n && (!a.n || !memcmp(a.p, b.p, a.n)); }

static uint64_t dur(const cs_span *s) { return s->end_ns > s->start_ns ? s->end_ns - s->start_ns : 0; }

/* Jaeger's rule: a child that does not fit its parent is moved so that the
 * gap before and after it is equal; one longer than its parent is only
 * moved to start with it. Times here already carry the parent's shift. */
static int64_t skew_delta(int64_t ps, int64_t pd, int64_t cs, int64_t cd) {
  if (cd > pd) return cs < ps ? ps - cs : 0;
  if (cs >= ps && cs + cd <= ps + pd) return 0;
  int64_t latency = (pd - cd) / 2;
  return ps + latency - cs;
}

/* Re-links each child list in (start, span ID) order after shifting. */
static int sort_children(cs_tree *t, cs_arena *a) {
  int32_t *buf = cs_arena_alloc(a, sizeof(int32_t) * (t->n ? t->n : 1));
  if (!buf) return -1;
  for (size_t p = 0; p < t->n; p++) {
    cs_tree_node *pn = &t->nodes[p];
    if (pn->n_children < 2) continue;
    size_t k = 0;
    for (int32_t c = pn->first_child; c >= 0; c = t->nodes[c].next_sibling) buf[k++] = c;
    /* Insertion sort: lists are already nearly sorted (only shifted
     * children move). */
    for (size_t i = 1; i < k; i++) {
      int32_t v = buf[i];
      size_t j = i;
      while (j > 0) {
        const cs_tree_node *x = &t->nodes[buf[j - 1]], *y = &t->nodes[v];
        int before = x->start_ns > y->start_ns ||
                     (x->start_ns == y->start_ns &&
                      memcmp(x->span->span_id, y->span->span_id, 8) > 0);
        if (!before) break;
        buf[j] = buf[j - 1];
        j--;
      }
      buf[j] = v;
    }
    pn->first_child = buf[0];
    for (size_t i = 0; i + 1 < k; i++) t->nodes[buf[i]].next_sibling = buf[i + 1];
    t->nodes[buf[k - 1]].next_sibling = -1;
  }
  return 0;
}

/* Pre-order walk from roots[first_root..]; appends to order from k and sets
 * depth. Returns the new count of visited nodes. */
static size_t walk(cs_tree *t, size_t first_root, size_t k, int32_t *stack, uint8_t *seen) {
  for (size_t r = first_root; r < t->n_roots; r++) {
    size_t sp = 0;
    stack[sp++] = t->roots[r];
    t->nodes[t->roots[r]].depth = 0;
    while (sp) {
      int32_t v = stack[--sp];
      if (seen[v]) continue;
      seen[v] = 1;
      t->order[k++] = v;
      cs_tree_node *nv = &t->nodes[v];
      if (nv->depth > t->max_depth) t->max_depth = nv->depth;
      /* Push children in reverse so the earliest is visited first. */
      size_t base = sp;
      for (int32_t c = nv->first_child; c >= 0; c = t->nodes[c].next_sibling) {
        t->nodes[c].depth = nv->depth + 1;
        stack[sp++] = c;
      }
      for (size_t i = base, j = sp; j > i + 1; i++, j--) {
        int32_t tmp = stack[i];
        stack[i] = stack[j - 1];
        stack[j - 1] = tmp;
      }
    }
  }
  return k;
}

static void unlink_child(cs_tree *t, int32_t v) {
  cs_tree_node *p = &t->nodes[t->nodes[v].parent];
  int32_t *link = &p->first_child;
  while (*link >= 0 && *link != v) link = &t->nodes[*link].next_sibling;
  if (*link == v) *link = t->nodes[v].next_sibling;
  p->n_children--;
  t->nodes[v].parent = -1;
  t->nodes[v].next_sibling = -1;
}

static void self_times(cs_tree *t) {
  for (size_t i = 0; i < t->n; i++) {
    cs_tree_node *nv = &t->nodes[i];
    uint64_t covered = 0, cs = 0, ce = 0;
    int open = 0;
    for (int32_t c = nv->first_child; c >= 0; c = t->nodes[c].next_sibling) {
      uint64_t s = t->nodes[c].start_ns, e = t->nodes[c].end_ns;
      if (s < nv->start_ns) s = nv->start_ns;
      if (e > nv->end_ns) e = nv->end_ns;
      if (e <= s) continue;
      if (open && s <= ce) {
        if (e > ce) ce = e;
        continue;
      }
      if (open) covered += ce - cs;
      cs = s, ce = e, open = 1;
    }
    if (open) covered += ce - cs;
    uint64_t d = nv->end_ns - nv->start_ns;
    nv->self_ns = covered < d ? d - covered : 0;
  }
}

typedef struct kid {
  uint64_t end;
  const uint8_t *sid;
  int32_t idx;
} kid;

/* Latest end first; span ID breaks ties so the result is deterministic. */
static int kid_cmp(const void *pa, const void *pb) {
  const kid *a = pa, *b = pb;
  if (a->end != b->end) return a->end > b->end ? -1 : 1;
  return memcmp(a->sid, b->sid, 8);
}

typedef struct crit_frame {
  int32_t node;
  uint64_t t;  /* the critical path has been walked back to here */
  kid *kids;   /* children by end time, latest first */
  uint32_t n_kids, next;
} crit_frame;

/* Walks back from the end of the main root: at each point the child that
 * finished last at or before it is what the parent was waiting for, and the
 * walk goes on from that child's start (the rule Jaeger UI's critical path
 * uses). A child still running at the point (it overlaps the chosen one)
 * was not waited for. Ends are clipped to the parent's end, so the first
 * pick is simply the last to finish. A child ending after the current
 * point is skipped for good, since the point only moves back. Unlike
 * Jaeger's strict "ended before", a child ending exactly at the point
 * counts: sequential calls that touch are waited for in turn. */
static int critical_path(cs_tree *t, cs_arena *a) {
  if (t->main_root < 0) return 0;
  crit_frame *st = cs_arena_alloc(a, sizeof(crit_frame) * (t->max_depth + 2));
  if (!st) return -1;
  size_t sp = 0;
  st[sp++] = (crit_frame){t->main_root, t->nodes[t->main_root].end_ns, NULL, 0, 0};
  t->nodes[t->main_root].critical = 1;
  while (sp) {
    crit_frame *f = &st[sp - 1];
    cs_tree_node *nv = &t->nodes[f->node];
    if (!f->kids && nv->n_children) {
      f->kids = cs_arena_alloc(a, sizeof(kid) * nv->n_children);
      if (!f->kids) return -1;
      for (int32_t c = nv->first_child; c >= 0; c = t->nodes[c].next_sibling)
        f->kids[f->n_kids++] = (kid){t->nodes[c].end_ns, t->nodes[c].span->span_id, c};
      qsort(f->kids, f->n_kids, sizeof(kid), kid_cmp);
    }
    int32_t pick = -1;
    while (f->next < f->n_kids) {
      int32_t c = f->kids[f->next].idx;
      const cs_tree_node *cn = &t->nodes[c];
      uint64_t ce = cn->end_ns < nv->end_ns ? cn->end_ns : nv->end_ns;
      if (ce > f->t) { /* still running at the point */
        f->next++;
        continue;
      }
      if (cn->start_ns >= f->t || ce <= nv->start_ns) { /* no time before the point */
        f->next++;
        continue;
      }
      pick = c;
      f->next++;
      break;
    }
    if (pick < 0) {
      if (f->t > nv->start_ns) nv->critical_ns += f->t - nv->start_ns;
      sp--;
      continue;
    }
    cs_tree_node *cn = &t->nodes[pick];
    uint64_t ce = cn->end_ns < f->t ? cn->end_ns : f->t;
    nv->critical_ns += f->t - ce;
    f->t = cn->start_ns > nv->start_ns ? cn->start_ns : nv->start_ns;
    cn->critical = 1;
    st[sp++] = (crit_frame){pick, ce, NULL, 0, 0};
  }
  return 0;
}

int cs_tree_build(const cs_span *spans, size_t n, cs_arena *a, cs_tree *t) {
  memset(t, 0, sizeof *t);
  t->main_root = -1;
  if (n == 0) return 0;
  if (n > (size_t)INT32_MAX / 4) return -1;
  const cs_span **sorted = cs_arena_alloc(a, sizeof(*sorted) * n);
  if (!sorted) return -1;
  for (size_t i = 0; i < n; i++) sorted[i] = &spans[i];
  qsort(sorted, n, sizeof(*sorted), span_cmp);

  size_t cap = 16;
  while (cap < 2 * n) cap *= 2;
  idmap m = {cs_arena_calloc(a, sizeof(int32_t) * cap), cap - 1};
  t->nodes = cs_arena_calloc(a, sizeof(cs_tree_node) * n);
  if (!m.slots || !t->nodes) return -1;
  for (size_t i = 0; i < n; i++) {
    if (idmap_find(&m, t->nodes, sorted[i]->span_id) >= 0) {
      t->n_duplicates++;
      continue;
    }
    cs_tree_node *nv = &t->nodes[t->n];
    nv->span = sorted[i];
    nv->parent = nv->first_child = nv->next_sibling = -1;
    idmap_put(&m, sorted[i]->span_id, (int32_t)t->n);
    t->n++;
  }

  /* Link parents; children append in start order because nodes are sorted. */
  int32_t *last = cs_arena_alloc(a, sizeof(int32_t) * t->n);
  t->order = cs_arena_alloc(a, sizeof(int32_t) * t->n);
  t->roots = cs_arena_alloc(a, sizeof(int32_t) * t->n);
  int32_t *stack = cs_arena_alloc(a, sizeof(int32_t) * t->n);
  uint8_t *seen = cs_arena_calloc(a, t->n);
  if (!last || !t->order || !t->roots || !stack || !seen) return -1;
  for (size_t i = 0; i < t->n; i++) last[i] = -1;
  for (size_t i = 0; i < t->n; i++) {
    cs_tree_node *nv = &t->nodes[i];
    if (cs_span_is_root(nv->span)) continue;
    int32_t p = idmap_find(&m, t->nodes, nv->span->parent_id);
    if (p < 0 || p == (int32_t)i) {
      nv->orphan = 1;
      continue;
    }
    nv->parent = p;
    if (last[p] < 0) t->nodes[p].first_child = (int32_t)i;
    else t->nodes[last[p]].next_sibling = (int32_t)i;
    last[p] = (int32_t)i;
    t->nodes[p].n_children++;
  }
  for (size_t i = 0; i < t->n; i++)
    if (t->nodes[i].parent < 0 && !t->nodes[i].orphan) t->roots[t->n_roots++] = (int32_t)i;
  for (size_t i = 0; i < t->n; i++)
    if (t->nodes[i].orphan) t->roots[t->n_roots++] = (int32_t)i;

  /* Spans in a parent cycle are reachable from no root: the earliest of
   * each cycle is cut loose and marked like an orphan. */
  size_t visited = walk(t, 0, 0, stack, seen);
  for (size_t i = 0; visited < t->n; i++) {
    if (seen[i]) continue;
    int32_t v = (int32_t)i;
    unlink_child(t, v);
    t->nodes[v].orphan = 1;
    t->roots[t->n_roots++] = v;
    visited = walk(t, t->n_roots - 1, visited, stack, seen);
  }

  /* Clock skew, top-down so each child sees its parent's final position. */
  for (size_t k = 0; k < t->n; k++) {
    cs_tree_node *nv = &t->nodes[t->order[k]];
    const cs_span *s = nv->span;
    int64_t skew = 0;
    if (nv->parent >= 0) {
      const cs_tree_node *pn = &t->nodes[nv->parent];
      skew = pn->skew_ns;
      const uint64_t lim = (uint64_t)1 << 62; /* keeps the signed maths exact */
      if (s->start_ns < lim && s->end_ns < lim && pn->start_ns < lim &&
          !same_str(cs_span_host(s), cs_span_host(pn->span))) {
        int64_t d = skew_delta((int64_t)pn->start_ns, (int64_t)(pn->end_ns - pn->start_ns),
                               (int64_t)s->start_ns + skew, (int64_t)dur(s));
        if (d) t->n_skewed++;
        skew += d;
      }
    }
    if (skew && (s->start_ns >= ((uint64_t)1 << 62) || (int64_t)s->start_ns + skew < 0))
      skew = 0; /* absurd timestamps are shown as they are */
    nv->skew_ns = skew;
    nv->start_ns = (uint64_t)((int64_t)s->start_ns + skew);
    nv->end_ns = nv->start_ns + dur(s);
  }
  if (t->n_skewed && sort_children(t, a)) return -1;
  memset(seen, 0, t->n);
  t->max_depth = 0;
  walk(t, 0, 0, stack, seen);

  t->start_ns = UINT64_MAX;
  for (size_t i = 0; i < t->n; i++) {
    if (t->nodes[i].start_ns < t->start_ns) t->start_ns = t->nodes[i].start_ns;
    if (t->nodes[i].end_ns > t->end_ns) t->end_ns = t->nodes[i].end_ns;
    if (t->nodes[i].orphan) t->n_orphans++;
  }
  self_times(t);

  /* The main root is the longest true root, else the longest orphan. */
  for (size_t r = 0; r < t->n_roots; r++) {
    int32_t v = t->roots[r];
    if (t->main_root >= 0 && t->nodes[v].orphan && !t->nodes[t->main_root].orphan) break;
    if (t->main_root < 0 || t->nodes[v].end_ns - t->nodes[v].start_ns >
                                t->nodes[t->main_root].end_ns - t->nodes[t->main_root].start_ns)
      t->main_root = v;
  }
  return critical_path(t, a);
}
