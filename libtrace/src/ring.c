/* The per-thread span ring: single producer (the recording thread), single
 * consumer (the exporter). The producer touches only its own head and a
 * cached copy of tail, so a push is a bounds check, a memcpy and one
 * release store: no lock, no read-modify-write, no system call. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int __cst_ring_init(__cst_ring *r, uint32_t cap) {
  memset(r, 0, sizeof *r);
  r->data = aligned_alloc(64, cap);
  if (!r->data)
    return CST_ENOMEM;
  /* Touch every page now, once per thread, so no span ever pays a page
   * fault (a hidden system call) on its first trip around the ring. */
  memset(r->data, 0, cap);
  r->cap = cap;
  r->mask = cap - 1;
  return CST_OK;
}

void __cst_ring_release(__cst_ring *r) {
  free(r->data);
  r->data = NULL;
}

static void put_hdr(uint8_t *p, uint32_t len, uint32_t type) {
  memcpy(p, &len, 4);
  memcpy(p + 4, &type, 4);
}

int __cst_ring_push(__cst_ring *r, const void *rec, uint32_t len) {
  uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
  uint32_t pos = (uint32_t)head & r->mask;
  uint32_t room_to_end = r->cap - pos;
  uint64_t need = len <= room_to_end ? len : (uint64_t)room_to_end + len;
  if (head + need - r->tail_cache > r->cap) {
    r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
    if (head + need - r->tail_cache > r->cap)
      return -1;
  }
  if (len > room_to_end) {
    put_hdr(r->data + pos, room_to_end, __CST_REC_PAD);
    head += room_to_end;
    pos = 0;
  }
  memcpy(r->data + pos, rec, len);
  atomic_store_explicit(&r->head, head + len, memory_order_release);
  return 0;
}

const uint8_t *__cst_ring_peek(__cst_ring *r) {
  for (;;) {
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    /* Read the producer's head only when the cached view is used up, so
     * draining a batch costs one cross-core read, not one per record. */
    if (tail == r->head_cache) {
      r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
      if (tail == r->head_cache)
        return NULL;
    }
    const uint8_t *p = r->data + ((uint32_t)tail & r->mask);
    uint32_t len, type;
    memcpy(&len, p, 4);
    memcpy(&type, p + 4, 4);
    if (type != __CST_REC_PAD)
      return p;
    atomic_store_explicit(&r->tail, tail + len, memory_order_release);
  }
}

void __cst_ring_pop(__cst_ring *r, uint32_t len) {
  uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
  atomic_store_explicit(&r->tail, tail + len, memory_order_release);
}

uint64_t __cst_ring_used(const __cst_ring *r) {
  uint64_t head = atomic_load_explicit(&((__cst_ring *)r)->head, memory_order_relaxed);
  uint64_t tail = atomic_load_explicit(&((__cst_ring *)r)->tail, memory_order_relaxed);
  return head - tail;
}
