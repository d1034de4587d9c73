/* Chunked bump allocator (see arena.h). Large requests get a chunk of their
 * own so that one big string does not waste a whole ordinary chunk. */
#include "arena.h"

#include <stdlib.h>
#include <string.h>

struct cs_arena_chunk {
  cs_arena_chunk *prev;
  size_t size; /* usable bytes in data */
  size_t used;
  _Alignas(16) unsigned char data[];
};

void cs_arena_init(cs_arena *a, size_t chunk_size, size_t cap) {
  a->head = NULL;
  a->chunk_size = chunk_size ? chunk_size : 16384;
  a->cap = cap ? cap : ((size_t)64 << 20);
  a->reserved = 0;
}

static cs_arena_chunk *chunk_new(cs_arena *a, size_t size) {
  size_t total = sizeof(cs_arena_chunk) + size;
  if (total > a->cap || a->reserved > a->cap - total) return NULL;
  cs_arena_chunk *c = malloc(total);
  if (!c) return NULL;
  c->size = size;
  c->used = 0;
  a->reserved += total;
  return c;
}

void *cs_arena_alloc(cs_arena *a, size_t n) {
  if (n > a->cap) return NULL;
  n = (n + 15) & ~(size_t)15;
  if (n == 0) n = 16;
  cs_arena_chunk *c = a->head;
  if (c && c->size - c->used >= n) {
    void *p = c->data + c->used;
    c->used += n;
    return p;
  }
  if (n > a->chunk_size / 4) {
    /* Big request: own chunk, linked behind the current one so the current
     * chunk's free space stays usable. */
    cs_arena_chunk *big = chunk_new(a, n);
    if (!big) return NULL;
    big->used = n;
    if (c) {
      big->prev = c->prev;
      c->prev = big;
    } else {
      big->prev = NULL;
      a->head = big;
    }
    return big->data;
  }
  cs_arena_chunk *nc = chunk_new(a, a->chunk_size);
  if (!nc) return NULL;
  nc->prev = c;
  a->head = nc;
  nc->used = n;
  return nc->data;
}

void *cs_arena_calloc(cs_arena *a, size_t n) {
  void *p = cs_arena_alloc(a, n);
  if (p) memset(p, 0, n);
  return p;
}

char *cs_arena_strndup(cs_arena *a, const char *s, size_t n) {
  char *p = cs_arena_alloc(a, n + 1);
  if (!p) return NULL;
  if (n) memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

void cs_arena_reset(cs_arena *a) {
  cs_arena_chunk *c = a->head, *keep = NULL;
  while (c) {
    cs_arena_chunk *prev = c->prev;
    /* Keep the oldest ordinary-sized chunk. */
    if (!prev && c->size == a->chunk_size) {
      keep = c;
      break;
    }
    a->reserved -= sizeof(cs_arena_chunk) + c->size;
    free(c);
    c = prev;
  }
  if (keep) keep->used = 0;
  a->head = keep;
}

void cs_arena_release(cs_arena *a) {
  cs_arena_chunk *c = a->head;
  while (c) {
    cs_arena_chunk *prev = c->prev;
    free(c);
    c = prev;
  }
  a->head = NULL;
  a->reserved = 0;
}

size_t cs_arena_used(const cs_arena *a) {
  size_t n = 0;
  for (const cs_arena_chunk *c = a->head; c; c = c->prev) n += c->used;
  return n;
}
