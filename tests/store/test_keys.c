/* Key encoding: round trips, no collisions between different field splits,
 * newest-first ordering inside an index prefix. */
#include "check.h"
#include "keys.h"

static int bytes_cmp(const cs_buf *a, const cs_buf *b) {
  size_t m = a->n < b->n ? a->n : b->n;
  int c = memcmp(a->p, b->p, m);
  return c ? c : (a->n > b->n) - (a->n < b->n);
}

static cs__key mk(uint8_t type, const char *a, const char *b, uint64_t start) {
  cs__key k = {.type = type, .start_ns = start, .slot = start >> 30};
  k.a = (cs_str){a, (uint32_t)strlen(a)};
  k.b = (cs_str){b, (uint32_t)strlen(b)};
  for (int i = 0; i < 16; i++) k.trace_id[i] = (uint8_t)(i * 7 + 1);
  return k;
}

static void keys_round_trip_every_type(void) {
  uint8_t types[] = {CS__K_CHUNK, CS__K_SUMMARY, CS__K_ALL, CS__K_SERVICE, CS__K_OP,
                     CS__K_ATTR, CS__K_SESSION, CS__K_DURATION, CS__K_SVCNAME, CS__K_OPNAME};
  for (size_t i = 0; i < sizeof(types); i++) {
    cs__key k = mk(types[i], "svc", "op", 123456789012345ULL), d;
    k.chunk_id = 0x1122334455667788ULL;
    k.duration_ns = 987654321;
    k.kind = 3;
    cs_buf b = {0};
    cs__key_encode(&b, &k);
    CHECK_EQ(b.p[0], types[i]);
    CHECK_EQ(b.p[1], cs__key_version(types[i]));
    CHECK_EQ(cs__key_decode(b.p, b.n, &d), 0);
    CHECK_EQ(d.type, types[i]);
    switch (types[i]) {
    case CS__K_CHUNK:
      CHECK(d.chunk_id == k.chunk_id);
      CHECK(memcmp(d.trace_id, k.trace_id, 16) == 0);
      break;
    case CS__K_SUMMARY:
      CHECK(memcmp(d.trace_id, k.trace_id, 16) == 0);
      break;
    case CS__K_SVCNAME:
      CHECK_STRN(d.a.p, d.a.n, "svc");
      break;
    case CS__K_OPNAME:
      CHECK_STRN(d.a.p, d.a.n, "svc");
      CHECK_STRN(d.b.p, d.b.n, "op");
      CHECK_EQ(d.kind, 3);
      break;
    case CS__K_DURATION:
      CHECK(d.duration_ns == k.duration_ns);
      CHECK(d.start_ns == k.start_ns);
      CHECK(memcmp(d.trace_id, k.trace_id, 16) == 0);
      break;
    case CS__K_ALL:
      CHECK(d.start_ns == k.start_ns);
      CHECK(memcmp(d.trace_id, k.trace_id, 16) == 0);
      break;
    default: /* posting keys: term and time slot */
      CHECK(d.slot == k.slot);
      if (types[i] == CS__K_SERVICE || types[i] == CS__K_SESSION || types[i] == CS__K_OP ||
          types[i] == CS__K_ATTR)
        CHECK_STRN(d.a.p, d.a.n, "svc");
      if (types[i] == CS__K_OP || types[i] == CS__K_ATTR) CHECK_STRN(d.b.p, d.b.n, "op");
    }
    /* Truncations and a wrong version (older or newer) never decode:
     * version 1 posting keys held 8-byte ID prefixes and are ignored. */
    for (size_t cut = 0; cut < b.n; cut++) CHECK(cs__key_decode(b.p, cut, &d) != 0);
    b.p[1] = (uint8_t)(cs__key_version(types[i]) + 1);
    CHECK(cs__key_decode(b.p, b.n, &d) != 0);
    b.p[1] = (uint8_t)(cs__key_version(types[i]) - 1);
    CHECK(cs__key_decode(b.p, b.n, &d) != 0);
    cs_buf_free(&b);
  }
}

static void keys_do_not_collide_across_field_splits(void) {
  uint8_t types[] = {CS__K_OP, CS__K_ATTR, CS__K_OPNAME};
  for (size_t i = 0; i < sizeof(types); i++) {
    cs__key x = mk(types[i], "a", "bc", 5), y = mk(types[i], "ab", "c", 5);
    cs_buf bx = {0}, by = {0}, px = {0}, py = {0};
    cs__key_encode(&bx, &x);
    cs__key_encode(&by, &y);
    CHECK(bytes_cmp(&bx, &by) != 0);
    /* Neither key's scan prefix matches the other key. */
    cs__key_encode_prefix(&px, &x);
    cs__key_encode_prefix(&py, &y);
    CHECK(!(by.n >= px.n && memcmp(by.p, px.p, px.n) == 0));
    CHECK(!(bx.n >= py.n && memcmp(bx.p, py.p, py.n) == 0));
    cs_buf_free(&bx);
    cs_buf_free(&by);
    cs_buf_free(&px);
    cs_buf_free(&py);
  }
  /* A service that is a prefix of another does not fall in its scan. */
  cs__key s1 = mk(CS__K_SERVICE, "ab", "", 5), s2 = mk(CS__K_SERVICE, "abc", "", 5);
  cs_buf p1 = {0}, k2 = {0};
  cs__key_encode_prefix(&p1, &s1);
  cs__key_encode(&k2, &s2);
  CHECK(!(k2.n >= p1.n && memcmp(k2.p, p1.p, p1.n) == 0));
  cs_buf_free(&p1);
  cs_buf_free(&k2);
}

static void keys_order_newest_first_within_prefix(void) {
  uint8_t newest[] = {CS__K_ALL, CS__K_SERVICE, CS__K_OP, CS__K_ATTR};
  for (size_t i = 0; i < sizeof(newest); i++) {
    /* Two seconds apart: different posting slots too. */
    cs__key old = mk(newest[i], "s", "o", 1000), young = mk(newest[i], "s", "o", 2000000000);
    cs_buf bo = {0}, by = {0};
    cs__key_encode(&bo, &old);
    cs__key_encode(&by, &young);
    CHECK(bytes_cmp(&by, &bo) < 0);
    cs_buf_free(&bo);
    cs_buf_free(&by);
  }
  /* Sessions list oldest first; durations shortest first. */
  cs__key so = mk(CS__K_SESSION, "x", "", 1000), sy = mk(CS__K_SESSION, "x", "", 2000000000);
  cs__key d1 = mk(CS__K_DURATION, "", "", 9), d2 = mk(CS__K_DURATION, "", "", 1);
  d1.duration_ns = 10;
  d2.duration_ns = 300;
  cs_buf a = {0}, b = {0}, c = {0}, d = {0};
  cs__key_encode(&a, &so);
  cs__key_encode(&b, &sy);
  cs__key_encode(&c, &d1);
  cs__key_encode(&d, &d2);
  CHECK(bytes_cmp(&a, &b) < 0);
  CHECK(bytes_cmp(&c, &d) < 0);
  cs_buf_free(&a);
  cs_buf_free(&b);
  cs_buf_free(&c);
  cs_buf_free(&d);
}

int main(void) {
  RUN(keys_round_trip_every_type);
  RUN(keys_do_not_collide_across_field_splits);
  RUN(keys_order_newest_first_within_prefix);
  return CHECK_DONE();
}
