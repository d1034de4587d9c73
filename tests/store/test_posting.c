/* Posting list codec: sorted round trip with duplicates dropped, the merge
 * of operands (a resent batch adds nothing), truncated and mutated values
 * rejected without out-of-bounds reads (run under ASan). */
#include "check.h"
#include "keys.h"
#include "posting.h"

#define SLOT 1000ULL
static const uint64_t BASE = SLOT << CS__SLOT_SHIFT;

/* IDs differ only in their last 8 bytes, as 64-bit IDs padded with zeros. */
static cs__post mkp(uint64_t off, uint8_t id) {
  cs__post p = {BASE + off, {0, 0, 0, 0, 0, 0, 0, 0, id, 1, 2, 3, 4, 5, 6, 7}, 0};
  return p;
}

static cs_buf slot_key(uint8_t type) {
  cs__key k = {.type = type, .a = CS_STR_LIT("svc"), .slot = SLOT};
  cs_buf b = {0};
  cs__key_encode(&b, &k);
  return b;
}

static void posting_round_trips_sorted_and_deduplicated(void) {
  for (int nf = 0; nf <= 1; nf++) {
    cs__post p[5] = {mkp(50, 1), mkp(900000000, 2), mkp(50, 1), mkp(7, 3), mkp(50, 0)};
    size_t n = cs__post_sort(p, 5, nf);
    CHECK_EQ(n, 4);
    cs_buf b = {0};
    cs__post_encode(p, n, nf, &b);
    CHECK_EQ(cs__post_count(b.p, b.n), 4);
    cs__post out[4];
    CHECK_EQ(cs__post_decode(b.p, b.n, SLOT, nf, out, 4), 4);
    for (size_t i = 0; i < 4; i++) {
      CHECK(out[i].start_ns == p[i].start_ns);
      CHECK(memcmp(out[i].tid, p[i].tid, 16) == 0);
    }
    CHECK(nf ? out[0].start_ns == BASE + 900000000 : out[0].start_ns == BASE + 7);
    /* Too small an output array is refused, not overrun. */
    CHECK_EQ(cs__post_decode(b.p, b.n, SLOT, nf, out, 3), -1);
    cs_buf_free(&b);
  }
}

static void posting_merge_is_a_sorted_union(void) {
  cs_buf key = slot_key(CS__K_SERVICE);
  cs__post a[2] = {mkp(10, 1), mkp(30, 2)}, b[2] = {mkp(20, 3), mkp(30, 2)};
  cs__post_sort(a, 2, 1);
  cs__post_sort(b, 2, 1);
  cs_buf va = {0}, vb = {0};
  cs__post_encode(a, 2, 1, &va);
  cs__post_encode(b, 2, 1, &vb);
  const char *ops[3] = {(const char *)va.p, (const char *)vb.p, (const char *)va.p};
  size_t lens[3] = {va.n, vb.n, va.n};
  size_t n = 0;
  char *m = cs__post_merge(key.p, key.n, NULL, 0, ops, lens, 3, &n);
  CHECK(m != NULL);
  cs__post out[8];
  CHECK_EQ(cs__post_decode(m, n, SLOT, 1, out, 8), 3);
  CHECK(out[0].start_ns == BASE + 30 && out[1].start_ns == BASE + 20 &&
        out[2].start_ns == BASE + 10);
  /* Merging into an existing value keeps it idempotent. */
  size_t n2 = 0;
  char *m2 = cs__post_merge(key.p, key.n, m, n, ops, lens, 1, &n2);
  CHECK(m2 && n2 == n && memcmp(m, m2, n) == 0);
  free(m);
  free(m2);
  cs_buf_free(&va);
  cs_buf_free(&vb);
  cs_buf_free(&key);
}

/* Posting keys of format 1 (8-byte ID prefixes) may still be in a database
 * written before format 2: no reader seeks them, but their merges must not
 * fail, or RocksDB would stop compacting. */
static void posting_merge_of_old_format_key_succeeds(void) {
  cs_buf key = slot_key(CS__K_SESSION);
  key.p[1] = 1;
  const char old[] = {1, 1, 5, 1, 2, 3, 4, 5, 6, 7, 8}; /* a version 1 list */
  const char *ops[1] = {old};
  size_t lens[1] = {sizeof(old)}, n = 0;
  char *m = cs__post_merge(key.p, key.n, old, sizeof(old), ops, lens, 1, &n);
  CHECK(m != NULL);
  CHECK_EQ(n, sizeof(old));
  free(m);
  cs_buf_free(&key);
}

static void posting_truncated_or_mutated_is_rejected_safely(void) {
  cs__post p[3] = {mkp(1, 1), mkp(2, 2), mkp(3, 3)};
  cs__post_sort(p, 3, 1);
  cs_buf b = {0};
  cs__post_encode(p, 3, 1, &b);
  cs__post out[64];
  for (size_t cut = 0; cut < b.n; cut++) {
    uint8_t *c = malloc(cut ? cut : 1);
    memcpy(c, b.p, cut);
    CHECK_EQ(cs__post_decode(c, cut, SLOT, 1, out, 64), -1);
    free(c);
  }
  uint32_t seed = 7;
  for (int round = 0; round < 3000; round++) {
    uint8_t *c = malloc(b.n);
    memcpy(c, b.p, b.n);
    seed = seed * 1103515245 + 12345;
    c[(seed >> 8) % b.n] = (uint8_t)(seed >> 20);
    long got = cs__post_decode(c, b.n, SLOT, 1, out, 64);
    CHECK(got >= -1 && got <= 64);
    for (long i = 0; i < got; i++) CHECK(out[i].start_ns >> CS__SLOT_SHIFT == SLOT);
    free(c);
  }
  cs_buf_free(&b);
}

int main(void) {
  RUN(posting_round_trips_sorted_and_deduplicated);
  RUN(posting_merge_is_a_sorted_union);
  RUN(posting_truncated_or_mutated_is_rejected_safely);
  RUN(posting_merge_of_old_format_key_succeeds);
  return CHECK_DONE();
}
