/* Summary codec and merge operator: the earliest span is kept whatever the
 * merge order, stored as one byte when it is the root, and version 1
 * values already on disk (no earliest span) still decode and merge with
 * version 2 operands. Truncations are corrupt, never out of bounds. */
#include "check.h"
#include "store.h"
#include "summary.h"

static cs_str S(const char *s) {
  return (cs_str){s, (uint32_t)strlen(s)};
}

static int str_is(cs_str a, const char *b) {
  return a.n == strlen(b) && !memcmp(a.p, b, a.n);
}

/* An operand as the write path builds it: one chunk of spans. */
static void operand(cs_buf *out, uint32_t chunk, uint64_t start, const char *svc, const char *name,
                    int root) {
  cs__sum s;
  cs__sum_init(&s);
  s.start_ns = start;
  s.end_ns = start + 100;
  s.n_spans = 1;
  s.ids[0] = chunk;
  s.n_ids = 1;
  if (root) {
    s.has_root = 1;
    s.root_start = start;
    s.root_svc = S(svc);
    s.root_name = S(name);
  }
  cs__sum_offer_first(&s, start, S(svc), S(name));
  cs__sum_add_service(&s, S(svc));
  out->n = 0;
  cs__sum_encode(&s, out);
}

static char *merge(cs_buf *ops, const int *order, int n, size_t *len) {
  const char *p[4];
  size_t l[4];
  for (int i = 0; i < n; i++)
    p[i] = (const char *)ops[order[i]].p, l[i] = ops[order[i]].n;
  return cs__sum_merge_values(NULL, 0, p, l, n, len);
}

static void summary_keeps_earliest_span_in_any_merge_order(void) {
  cs_buf ops[3] = {{0}, {0}, {0}};
  operand(&ops[0], 1, 5000, "cart", "AddItem", 0);
  operand(&ops[1], 2, 3000, "payment", "Charge", 0);
  operand(&ops[2], 3, 3000, "checkout", "late work", 0); /* tie: smaller service wins */
  static const int orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                   {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  for (int o = 0; o < 6; o++) {
    size_t len;
    char *v = merge(ops, orders[o], 3, &len);
    CHECK(v != NULL);
    cs__sum s;
    CHECK_EQ(cs__sum_decode(v, len, &s), 0);
    CHECK_EQ(s.has_root, 0);
    CHECK_EQ(s.has_first, 1);
    CHECK(s.first_start == 3000);
    CHECK(str_is(s.first_svc, "checkout") && str_is(s.first_name, "late work"));
    CHECK_EQ(s.n_spans, 3);
    free(v);
  }
  for (int i = 0; i < 3; i++)
    cs_buf_free(&ops[i]);
}

static void summary_stores_root_as_first_in_one_byte(void) {
  cs_buf a = {0}, b = {0};
  operand(&a, 1, 1000, "frontend", "GET /", 1);
  /* The same summary with no earliest span at all: the root standing for
   * it costs nothing more (the first-span byte is there either way). */
  cs__sum s;
  CHECK_EQ(cs__sum_decode(a.p, a.n, &s), 0);
  s.has_first = 0;
  cs__sum_encode(&s, &b);
  CHECK_EQ(a.n, b.n);
  CHECK_EQ(cs__sum_decode(a.p, a.n, &s), 0);
  CHECK(s.has_first && s.has_root && s.first_start == 1000);
  CHECK(str_is(s.first_svc, "frontend") && str_is(s.first_name, "GET /"));
  /* A root that arrives later and earlier than everything takes over. */
  cs_buf ops[2] = {{0}, {0}};
  operand(&ops[0], 1, 5000, "cart", "AddItem", 0);
  operand(&ops[1], 2, 4000, "frontend", "GET /", 1);
  static const int order[2] = {0, 1};
  size_t len;
  char *v = merge(ops, order, 2, &len);
  CHECK_EQ(cs__sum_decode(v, len, &s), 0);
  CHECK(str_is(s.first_svc, "frontend") && str_is(s.root_svc, "frontend"));
  free(v);
  cs_buf_free(&a);
  cs_buf_free(&b);
  cs_buf_free(&ops[0]);
  cs_buf_free(&ops[1]);
}

/* A version 1 value as earlier builds wrote it: no first-span byte. */
static void v1_value(cs_buf *out) {
  cs_buf_u8(out, 1);
  cs_buf_varint(out, 2000); /* start */
  cs_buf_varint(out, 500);  /* end - start */
  cs_buf_varint(out, 4);    /* spans */
  cs_buf_varint(out, 1);    /* errors */
  cs_buf_u8(out, 0);        /* no root */
  cs_buf_varint(out, 1);    /* services */
  cs__buf_str(out, S("backend"));
  cs_buf_varint(out, 1); /* chunk IDs */
  cs_buf_put(out, "\x09\x00\x00\x00", 4);
}

static void summary_reads_and_merges_version_1_values(void) {
  cs_buf old = {0}, op = {0};
  v1_value(&old);
  cs__sum s;
  CHECK_EQ(cs__sum_decode(old.p, old.n, &s), 0);
  CHECK_EQ(s.n_spans, 4);
  CHECK_EQ(s.has_first, 0);
  CHECK_EQ(s.n_svcs, 1);
  CHECK_EQ(s.ids[0], 9);
  /* The merge operator folds the old value and a new operand. */
  operand(&op, 10, 2100, "cart", "AddItem", 0);
  const char *p[1] = {(const char *)op.p};
  size_t l[1] = {op.n}, len;
  char *v = cs__sum_merge_values((const char *)old.p, old.n, p, l, 1, &len);
  CHECK(v != NULL);
  CHECK_EQ((uint8_t)v[0], CS__SUM_VERSION);
  CHECK_EQ(cs__sum_decode(v, len, &s), 0);
  CHECK_EQ(s.n_spans, 5);
  CHECK_EQ(s.n_errors, 1);
  CHECK(s.start_ns == 2000);
  CHECK_EQ(s.n_svcs, 2);
  CHECK(s.has_first && str_is(s.first_svc, "cart"));
  free(v);
  cs_buf_free(&old);
  cs_buf_free(&op);
}

static void summary_truncations_are_corrupt(void) {
  cs_buf a = {0};
  cs__sum s;
  operand(&a, 1, 1000, "cart", "AddItem", 0);
  for (size_t n = 0; n < a.n; n++) {
    uint8_t *copy = malloc(n ? n : 1); /* exact size so ASan sees overreads */
    memcpy(copy, a.p, n);
    CHECK(cs__sum_decode(copy, n, &s) != 0);
    free(copy);
  }
  a.p[0] = 3; /* unknown version */
  CHECK(cs__sum_decode(a.p, a.n, &s) != 0);
  cs_buf_free(&a);
}

int main(void) {
  RUN(summary_keeps_earliest_span_in_any_merge_order);
  RUN(summary_stores_root_as_first_in_one_byte);
  RUN(summary_reads_and_merges_version_1_values);
  RUN(summary_truncations_are_corrupt);
  return CHECK_DONE();
}
