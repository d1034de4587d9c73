/* The per-thread span ring under two threads: a producer pushes records of
 * varying size while a consumer drains them; every record arrives once, in
 * order, intact. Also: a full ring refuses instead of overwriting. Built
 * with ThreadSanitizer in build/libtrace-tsan (-DCS_TSAN=ON). */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"

enum { N = 100000, CAP = 16384 };

static __cst_ring ring;
static int bad_order, bad_bytes;
static atomic_int done;

static uint32_t size_of(uint32_t i) {
  return 16 + (i * 37 % 63) * 8;
} /* 16..512 */

static void *producer(void *arg) {
  uint8_t rec[600];
  for (uint32_t i = 0; i < N; i++) {
    uint32_t len = size_of(i), type = __CST_REC_SPAN;
    memcpy(rec, &len, 4);
    memcpy(rec + 4, &type, 4);
    memcpy(rec + 8, &i, 4);
    for (uint32_t k = 12; k < len; k++)
      rec[k] = (uint8_t)(i + k);
    while (__cst_ring_push(&ring, rec, len) != 0) {
      sched_yield(); /* full: the real producer drops; here we wait to check every record */
    }
  }
  atomic_store(&done, 1);
  return NULL;
}

static void *consumer(void *arg) {
  uint32_t want = 0;
  while (want < N) {
    const uint8_t *p = __cst_ring_peek(&ring);
    if (!p) {
      sched_yield();
      continue;
    }
    uint32_t len, seq;
    memcpy(&len, p, 4);
    memcpy(&seq, p + 8, 4);
    if (seq != want || len != size_of(want))
      bad_order++;
    for (uint32_t k = 12; k < len; k++)
      if (p[k] != (uint8_t)(seq + k)) {
        bad_bytes++;
        break;
      }
    __cst_ring_pop(&ring, len);
    want++;
  }
  return NULL;
}

static void two_threads_every_record_once_in_order(void) {
  CHECK_EQ(__cst_ring_init(&ring, CAP), CST_OK);
  pthread_t p, c;
  pthread_create(&c, NULL, consumer, NULL);
  pthread_create(&p, NULL, producer, NULL);
  pthread_join(p, NULL);
  pthread_join(c, NULL);
  CHECK_EQ(bad_order, 0);
  CHECK_EQ(bad_bytes, 0);
  CHECK_EQ(__cst_ring_used(&ring), 0);
  CHECK(__cst_ring_peek(&ring) == NULL);
  __cst_ring_release(&ring);
}

static void full_ring_refuses_and_keeps_old_records(void) {
  __cst_ring r;
  CHECK_EQ(__cst_ring_init(&r, CAP), CST_OK);
  uint8_t rec[256] = {0};
  uint32_t len = 256, type = __CST_REC_SPAN;
  memcpy(rec, &len, 4);
  memcpy(rec + 4, &type, 4);
  int pushed = 0;
  for (uint32_t i = 0; i < 1000; i++) {
    memcpy(rec + 8, &i, 4);
    if (__cst_ring_push(&r, rec, len) != 0)
      break;
    pushed++;
  }
  CHECK_EQ(pushed, CAP / 256);
  CHECK(__cst_ring_used(&r) <= CAP);
  const uint8_t *p = __cst_ring_peek(&r);
  uint32_t first;
  memcpy(&first, p + 8, 4);
  CHECK_EQ(first, 0);
  /* After consuming one, exactly one more fits (wrapping with a pad). */
  __cst_ring_pop(&r, len);
  CHECK_EQ(__cst_ring_push(&r, rec, len), 0);
  CHECK(__cst_ring_push(&r, rec, len) != 0);
  __cst_ring_release(&r);
}

int main(void) {
  RUN(two_threads_every_record_once_in_order);
  RUN(full_ring_refuses_and_keeps_old_records);
  return CHECK_DONE();
}
