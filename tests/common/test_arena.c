/* Arena: alignment, growth, the hard cap, reset. */
#include <stdint.h>

#include "arena.h"
#include "check.h"

static void arena_aligns_and_grows(void) {
  cs_arena a;
  cs_arena_init(&a, 256, 0);
  for (int i = 0; i < 100; i++) {
    void *p = cs_arena_alloc(&a, (size_t)(i % 37) + 1);
    CHECK(p != NULL);
    CHECK_EQ((uintptr_t)p % 16, 0);
  }
  char *big = cs_arena_alloc(&a, 10000);
  CHECK(big != NULL);
  memset(big, 1, 10000);
  CHECK(cs_arena_used(&a) >= 10000);
  cs_arena_release(&a);
}

static void arena_refuses_past_cap(void) {
  cs_arena a;
  cs_arena_init(&a, 1024, 4096);
  int got = 0;
  for (int i = 0; i < 100; i++)
    if (cs_arena_alloc(&a, 512)) got++;
  CHECK(got > 0);
  CHECK(got < 8);
  CHECK(cs_arena_alloc(&a, 1u << 20) == NULL);
  CHECK(a.reserved <= 4096);
  cs_arena_release(&a);
}

static void arena_reset_keeps_one_chunk(void) {
  cs_arena a;
  cs_arena_init(&a, 1024, 0);
  for (int i = 0; i < 50; i++) cs_arena_alloc(&a, 100);
  cs_arena_alloc(&a, 5000);
  cs_arena_reset(&a);
  CHECK_EQ(cs_arena_used(&a), 0);
  CHECK(a.reserved <= 1024 + 64);
  char *s = cs_arena_strndup(&a, "hello world", 5);
  CHECK_STR(s, "hello");
  cs_arena_release(&a);
}

int main(void) {
  RUN(arena_aligns_and_grows);
  RUN(arena_refuses_past_cap);
  RUN(arena_reset_keeps_one_chunk);
  return CHECK_DONE();
}
