/* Call-tree builder: a random tree, shuffled, comes back as the same tree;
 * missing parents are kept and marked; clock skew is shifted into the
 * parent; self time and the critical path follow their definitions. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tree.h"

static cs_resource res_a = {{"svc-a", 5}, NULL, 0};
static cs_resource res_b = {{"svc-b", 5}, NULL, 0};

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static void set_id(uint8_t id[8], uint64_t v) {
  for (int i = 0; i < 8; i++) id[i] = (uint8_t)(v >> (56 - 8 * i));
}

static cs_span mk(uint64_t id, uint64_t parent, uint64_t start, uint64_t end, cs_resource *r) {
  cs_span s;
  memset(&s, 0, sizeof s);
  s.trace_id[15] = 1;
  set_id(s.span_id, id);
  if (parent) set_id(s.parent_id, parent);
  s.start_ns = start;
  s.end_ns = end;
  s.resource = r;
  s.name = CS_STR_LIT("op");
  return s;
}

/* Random tree where every child lies inside its parent (same host, so no
 * skew): returns n spans and each span's depth. */
static size_t random_tree(cs_span *out, uint32_t *depth, size_t max) {
  size_t n = 1 + rnd() % (max - 1);
  out[0] = mk(1000, 0, 1000000, 1000000 + 1000000000ull, &res_a);
  depth[0] = 0;
  for (size_t i = 1; i < n; i++) {
    size_t p = rnd() % i;
    uint64_t ps = out[p].start_ns, pd = out[p].end_ns - ps;
    uint64_t off = pd > 2 ? rnd() % (pd / 2) : 0;
    uint64_t d = pd > 2 ? 1 + rnd() % (pd - off) : 0;
    uint64_t pid = 0;
    for (int b = 0; b < 8; b++) pid = (pid << 8) | out[p].span_id[b];
    out[i] = mk(1000 + i, pid, ps + off, ps + off + d, &res_a);
    depth[i] = depth[p] + 1;
  }
  return n;
}

static void shuffle(cs_span *s, size_t n) {
  for (size_t i = n; i > 1; i--) {
    size_t j = rnd() % i;
    cs_span t = s[i - 1];
    s[i - 1] = s[j];
    s[j] = t;
  }
}

static uint64_t id_of(const cs_span *s) {
  uint64_t v = 0;
  for (int b = 0; b < 8; b++) v = (v << 8) | s->span_id[b];
  return v;
}

static void tree_shuffled_is_same_tree(void) {
  enum { MAX = 400 };
  static cs_span a[MAX], b[MAX];
  static uint32_t depth[MAX];
  for (int round = 0; round < 200; round++) {
    size_t n = random_tree(a, depth, MAX);
    memcpy(b, a, sizeof(cs_span) * n);
    /* Split into batches and deliver them in a random order: the builder
     * only ever sees the union, so a shuffle covers any batching. */
    shuffle(b, n);
    cs_arena ar1, ar2;
    cs_arena_init(&ar1, 0, 0);
    cs_arena_init(&ar2, 0, 0);
    cs_tree t1, t2;
    CHECK_EQ(cs_tree_build(a, n, &ar1, &t1), 0);
    CHECK_EQ(cs_tree_build(b, n, &ar2, &t2), 0);
    CHECK_EQ(t1.n, n);
    CHECK_EQ(t2.n, n);
    CHECK_EQ(t1.n_roots, 1);
    CHECK_EQ(t1.n_orphans, 0);
    for (size_t k = 0; k < n && k < t2.n; k++) {
      const cs_tree_node *x = &t1.nodes[t1.order[k]], *y = &t2.nodes[t2.order[k]];
      CHECK_EQ(id_of(x->span), id_of(y->span));
      CHECK_EQ(x->depth, y->depth);
      CHECK_EQ(x->self_ns, y->self_ns);
      CHECK_EQ(x->critical, y->critical);
      CHECK_EQ(x->n_children, y->n_children);
      /* Depth matches the generator's, and pre-order puts parents first. */
      CHECK_EQ(x->depth, depth[id_of(x->span) - 1000]);
      if (x->parent >= 0) CHECK(t1.nodes[x->parent].depth + 1 == x->depth);
    }
    /* Children come in start order. */
    for (size_t i = 0; i < t1.n; i++)
      for (int32_t c = t1.nodes[i].first_child; c >= 0 && t1.nodes[c].next_sibling >= 0;
           c = t1.nodes[c].next_sibling)
        CHECK(t1.nodes[c].start_ns <= t1.nodes[t1.nodes[c].next_sibling].start_ns);
    cs_arena_release(&ar1);
    cs_arena_release(&ar2);
    if (cs_check_failures) break;
  }
}

static void tree_keeps_and_marks_missing_parents(void) {
  cs_span s[5] = {
      mk(1, 0, 0, 100, &res_a), mk(2, 1, 10, 50, &res_a), mk(3, 99, 20, 30, &res_a),
      mk(4, 3, 21, 29, &res_a), mk(5, 98, 60, 70, &res_a),
  };
  cs_arena ar;
  cs_arena_init(&ar, 0, 0);
  cs_tree t;
  CHECK_EQ(cs_tree_build(s, 5, &ar, &t), 0);
  CHECK_EQ(t.n, 5);
  CHECK_EQ(t.n_orphans, 2);
  CHECK_EQ(t.n_roots, 3);
  /* True root first, then orphans by start; the orphan keeps its child. */
  CHECK_EQ(id_of(t.nodes[t.roots[0]].span), 1);
  CHECK_EQ(id_of(t.nodes[t.roots[1]].span), 3);
  CHECK_EQ(id_of(t.nodes[t.roots[2]].span), 5);
  CHECK(t.nodes[t.roots[1]].orphan);
  CHECK(!t.nodes[t.roots[0]].orphan);
  CHECK_EQ(t.nodes[t.roots[1]].n_children, 1);
  CHECK_EQ(id_of(t.nodes[t.order[3]].span), 4);
  CHECK_EQ(t.nodes[t.order[3]].depth, 1);
  cs_arena_release(&ar);
}

static void tree_breaks_parent_cycles(void) {
  cs_span s[3] = {mk(1, 2, 0, 10, &res_a), mk(2, 1, 1, 9, &res_a), mk(3, 3, 2, 5, &res_a)};
  cs_arena ar;
  cs_arena_init(&ar, 0, 0);
  cs_tree t;
  CHECK_EQ(cs_tree_build(s, 3, &ar, &t), 0);
  CHECK_EQ(t.n, 3);
  CHECK_EQ(t.n_orphans, 2); /* the self-parent and one span of the 2-cycle */
  size_t seen = 0;
  for (size_t k = 0; k < t.n; k++) seen += t.order[k] >= 0;
  CHECK_EQ(seen, 3);
  cs_arena_release(&ar);
}

static void tree_drops_duplicate_span_ids(void) {
  cs_span s[3] = {mk(1, 0, 0, 10, &res_a), mk(2, 1, 1, 9, &res_a), mk(2, 1, 1, 9, &res_a)};
  cs_arena ar;
  cs_arena_init(&ar, 0, 0);
  cs_tree t;
  CHECK_EQ(cs_tree_build(s, 3, &ar, &t), 0);
  CHECK_EQ(t.n, 2);
  CHECK_EQ(t.n_duplicates, 1);
  cs_arena_release(&ar);
}

static void tree_shifts_skewed_child_into_parent(void) {
  /* The child on another host starts 50 ns before its parent: Jaeger's
   * rule centres it, (100 - 30) / 2 = 35 ns after the parent's start. */
  cs_span s[3] = {mk(1, 0, 100, 200, &res_a), mk(2, 1, 50, 80, &res_b),
                  mk(3, 2, 60, 70, &res_b)};
  cs_arena ar;
  cs_arena_init(&ar, 0, 0);
  cs_tree t;
  CHECK_EQ(cs_tree_build(s, 3, &ar, &t), 0);
  CHECK_EQ(t.n_skewed, 1);
  const cs_tree_node *c = &t.nodes[t.order[1]], *g = &t.nodes[t.order[2]];
  CHECK_EQ(id_of(c->span), 2);
  CHECK_EQ(c->skew_ns, 85);
  CHECK_EQ(c->start_ns, 135);
  CHECK_EQ(c->end_ns, 165);
  /* Its own child (same host) moves with it. */
  CHECK_EQ(g->skew_ns, 85);
  CHECK_EQ(g->start_ns, 145);
  /* Same host: no adjustment even when outside the parent. */
  cs_span u[2] = {mk(1, 0, 100, 200, &res_a), mk(2, 1, 50, 80, &res_a)};
  CHECK_EQ(cs_tree_build(u, 2, &ar, &t), 0);
  CHECK_EQ(t.n_skewed, 0);
  CHECK_EQ(t.nodes[t.order[1]].start_ns, 50);
  /* Longer than its parent: only moved to start with it. */
  cs_span w[2] = {mk(1, 0, 100, 200, &res_a), mk(2, 1, 90, 300, &res_b)};
  CHECK_EQ(cs_tree_build(w, 2, &ar, &t), 0);
  CHECK_EQ(t.nodes[t.order[1]].start_ns, 100);
  CHECK_EQ(t.nodes[t.order[1]].skew_ns, 10);
  cs_arena_release(&ar);
}

static void tree_self_time_subtracts_union_of_children(void) {
  cs_span s[4] = {mk(1, 0, 0, 100, &res_a), mk(2, 1, 10, 30, &res_a), mk(3, 1, 20, 50, &res_a),
                  mk(4, 1, 60, 70, &res_a)};
  cs_arena ar;
  cs_arena_init(&ar, 0, 0);
  cs_tree t;
  CHECK_EQ(cs_tree_build(s, 4, &ar, &t), 0);
  CHECK_EQ(t.nodes[t.order[0]].self_ns, 50); /* 100 - (10..50) - (60..70) */
  CHECK_EQ(t.nodes[t.order[1]].self_ns, 20);
  cs_arena_release(&ar);
}

static void tree_critical_path_follows_last_finisher(void) {
  /* B finishes last and started before A: A overlaps B and is not waited
   * for; C inside B is. */
  cs_span s[4] = {mk(1, 0, 0, 100, &res_a), mk(2, 1, 20, 40, &res_a), mk(3, 1, 10, 90, &res_a),
                  mk(4, 3, 55, 85, &res_a)};
  cs_arena ar;
  cs_arena_init(&ar, 0, 0);
  cs_tree t;
  CHECK_EQ(cs_tree_build(s, 4, &ar, &t), 0);
  for (size_t i = 0; i < t.n; i++) {
    uint64_t id = id_of(t.nodes[i].span);
    CHECK_EQ(t.nodes[i].critical, id != 2);
    if (id == 1) CHECK_EQ(t.nodes[i].critical_ns, 20); /* 0..10 and 90..100 */
    if (id == 3) CHECK_EQ(t.nodes[i].critical_ns, 50);
    if (id == 4) CHECK_EQ(t.nodes[i].critical_ns, 30);
  }
  cs_arena_release(&ar);
}

static void tree_critical_path_skips_parallel_children(void) {
  /* The orders shape: GET /stock (0.1..10.47 ms) runs in parallel with
   * POST /authorize (0.179..11.5 ms), which finishes last. From authorize's
   * start the walk needs a child that had finished by then: stock has not,
   * so it is not critical; prep (0.01..0.05 ms) has, so it is. */
  cs_span s[4] = {mk(1, 0, 0, 12000, &res_a), mk(2, 1, 100, 10470, &res_a),
                  mk(3, 1, 179, 11500, &res_a), mk(4, 1, 10, 50, &res_a)};
  cs_arena ar;
  cs_arena_init(&ar, 0, 0);
  cs_tree t;
  CHECK_EQ(cs_tree_build(s, 4, &ar, &t), 0);
  for (size_t i = 0; i < t.n; i++) {
    uint64_t id = id_of(t.nodes[i].span);
    CHECK_EQ(t.nodes[i].critical, id != 2);
    if (id == 1) CHECK_EQ(t.nodes[i].critical_ns, 639); /* 0..10, 50..179, 11500..12000 */
    if (id == 2) CHECK_EQ(t.nodes[i].critical_ns, 0);
    if (id == 3) CHECK_EQ(t.nodes[i].critical_ns, 11321);
    if (id == 4) CHECK_EQ(t.nodes[i].critical_ns, 40);
  }
  cs_arena_release(&ar);
}

static void tree_critical_path_takes_touching_sequential_child(void) {
  /* A child that ends exactly where the chosen one starts is what the
   * parent waited for; one ending after that point overlaps and is not. */
  cs_span s[4] = {mk(1, 0, 0, 100, &res_a), mk(2, 1, 10, 40, &res_a), mk(3, 1, 40, 90, &res_a),
                  mk(4, 1, 5, 41, &res_a)};
  cs_arena ar;
  cs_arena_init(&ar, 0, 0);
  cs_tree t;
  CHECK_EQ(cs_tree_build(s, 4, &ar, &t), 0);
  for (size_t i = 0; i < t.n; i++) {
    uint64_t id = id_of(t.nodes[i].span);
    CHECK_EQ(t.nodes[i].critical, id != 4);
    if (id == 1) CHECK_EQ(t.nodes[i].critical_ns, 20); /* 0..10 and 90..100 */
  }
  cs_arena_release(&ar);
}

int main(void) {
  RUN(tree_shuffled_is_same_tree);
  RUN(tree_keeps_and_marks_missing_parents);
  RUN(tree_breaks_parent_cycles);
  RUN(tree_drops_duplicate_span_ids);
  RUN(tree_shifts_skewed_child_into_parent);
  RUN(tree_self_time_subtracts_union_of_children);
  RUN(tree_critical_path_follows_last_finisher);
  RUN(tree_critical_path_skips_parallel_children);
  RUN(tree_critical_path_takes_touching_sequential_child);
  return CHECK_DONE();
}
