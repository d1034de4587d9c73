/* Posting lists: the service, operation, attribute and session indexes keep
 * one key per (term, ~1 s time slot) whose value lists the (start, trace ID)
 * pairs of that slot, with the whole 16-byte ID: version 1 kept only the
 * first 8 bytes, which are all zero for 64-bit IDs, and mixed up traces
 * starting in the same nanosecond. A write batch adds
 * one merge operand per term and slot, so index work grows with the
 * distinct terms of a batch, not with its spans or traces. Layout in
 * docs/storage.md.
 *
 * Trusted sizes on decode: none from the value. Entries are decoded into
 * the caller's array of a given capacity and never past it; deltas that
 * would leave the key's time slot make the value corrupt; every read goes
 * through cs__rd (store/codec.h). */
#ifndef CS_STORE_POSTING_H
#define CS_STORE_POSTING_H

#include "codec.h"

#define CS__POSTING_VERSION 2
#define CS__SLOT_SHIFT 30 /* slot = start_ns >> 30: about 1.07 s */

typedef struct cs__post {
  uint64_t start_ns;
  uint8_t tid[16]; /* the trace ID */
  uint32_t src;    /* reader's use (bucket index); not stored */
} cs__post;

/* Sorts p (descending start when newest_first, else ascending; the ID
 * breaks ties) and drops exact duplicates; returns the new count. */
size_t cs__post_sort(cs__post *p, size_t n, int newest_first);

/* Encodes n sorted postings of one slot (appended to out). */
void cs__post_encode(const cs__post *p, size_t n, int newest_first, cs_buf *out);

/* Number of postings in a value, -1 when corrupt. */
long cs__post_count(const void *v, size_t n);

/* Decodes into out[0..cap); returns the count or -1 when corrupt. slot is
 * the key's slot number. */
long cs__post_decode(const void *v, size_t n, uint64_t slot, int newest_first, cs__post *out,
                     size_t cap);

/* Merge of several posting values of one key (sorted union, no duplicates).
 * Returns a malloc'd value or NULL when out of memory; corrupt inputs are
 * skipped (a failing merge would stop compactions). Keys of an older posting
 * format (no reader looks at them any more) keep their newest input as is. */
char *cs__post_merge(const uint8_t *key, size_t klen, const char *existing, size_t elen,
                     const char *const *ops, const size_t *olens, int nops, size_t *new_len);

#endif
