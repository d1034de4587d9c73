/* Bump allocator with a hard cap: decoding one frame or answering one HTTP
 * request allocates from an arena and frees everything at once. Every arena
 * has a byte limit fixed at init, so no peer can make us allocate without
 * bound. */
#ifndef CS_ARENA_H
#define CS_ARENA_H

#include <stddef.h>
#include <stdint.h>

typedef struct cs_arena_chunk cs_arena_chunk;

typedef struct cs_arena {
  cs_arena_chunk *head;  /* current chunk; older ones chained behind */
  size_t chunk_size;     /* size of ordinary chunks */
  size_t cap;            /* hard limit on bytes obtained from malloc */
  size_t reserved;       /* bytes obtained from malloc right now */
} cs_arena;

/* Prepares an arena; allocates nothing yet. cap 0 means 64 MiB.
 * Thread-safety: an arena belongs to one thread at a time. */
void cs_arena_init(cs_arena *a, size_t chunk_size, size_t cap);

/* Returns 16-byte aligned memory, or NULL when the cap would be exceeded
 * or malloc fails. Memory lives until reset or release. */
void *cs_arena_alloc(cs_arena *a, size_t n);

/* Like cs_arena_alloc, zero-filled. */
void *cs_arena_calloc(cs_arena *a, size_t n);

/* Copies n bytes of s plus a terminating NUL. NULL on cap/oom. */
char *cs_arena_strndup(cs_arena *a, const char *s, size_t n);

/* Frees everything but the first chunk, which is kept for reuse. */
void cs_arena_reset(cs_arena *a);

/* Frees everything. The arena may be re-used after cs_arena_init. */
void cs_arena_release(cs_arena *a);

/* Bytes handed out since the last reset (for metrics and tests). */
size_t cs_arena_used(const cs_arena *a);

#endif
