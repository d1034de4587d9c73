/* libFuzzer target for the store's posting-list values and keys
 * (store/posting.c, store/keys.c): what RocksDB hands back may be damaged
 * or foreign. The first byte picks what the rest is:
 *   0: a posting value (slot from the next 5 bytes, bit 7 of byte 0:
 *      newest first); it must decode or be refused, a decoded list must
 *      re-encode to the same postings, and merging a sorted list with
 *      itself must give it back;
 *   1: a key; a decoded key must re-encode to bytes that decode the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "posting.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_posts(const cs__post *a, const cs__post *b, long n) {
  for (long i = 0; i < n; i++)
    if (a[i].start_ns != b[i].start_ns || memcmp(a[i].tid, b[i].tid, 16))
      abort();
}

static int sorted(const cs__post *p, long n, int nf) {
  for (long i = 1; i < n; i++) {
    if (p[i].start_ns == p[i - 1].start_ns) {
      if (memcmp(p[i - 1].tid, p[i].tid, 16) >= 0)
        return 0;
    } else if (nf ? p[i].start_ns > p[i - 1].start_ns : p[i].start_ns < p[i - 1].start_ns) {
      return 0;
    }
  }
  return 1;
}

static void posting_value(const uint8_t *d, size_t n, int nf) {
  if (n < 5)
    return;
  uint64_t slot = 0;
  for (int i = 0; i < 5; i++)
    slot = slot << 8 | d[i];
  d += 5;
  n -= 5;
  long c = cs__post_count(d, n);
  size_t cap = c >= 0 ? (size_t)c : 4;
  cs__post *p = malloc((cap ? cap : 1) * sizeof *p);
  long got = cs__post_decode(d, n, slot, nf, p, cap);
  if (got >= 0) {
    if (got != c)
      abort();
    for (long i = 0; i < got; i++)
      if (p[i].start_ns >> CS__SLOT_SHIFT != (slot & (UINT64_MAX >> CS__SLOT_SHIFT)))
        abort();
    cs_buf out = {0};
    cs__post_encode(p, (size_t)got, nf, &out);
    cs__post *q = malloc((size_t)(got ? got : 1) * sizeof *q);
    if (out.err || cs__post_decode(out.p, out.n, slot, nf, q, (size_t)got) != got)
      abort();
    same_posts(p, q, got);
    if (sorted(p, got, nf)) {
      uint8_t type = cs__key_newest_first(CS__K_SERVICE) == nf ? CS__K_SERVICE : CS__K_SESSION;
      if (cs__key_newest_first(type) != nf)
        abort();
      cs__key k = {.type = type, .slot = slot, .a = {"svc", 3}};
      cs_buf key = {0};
      cs__key_encode(&key, &k);
      const char *ops[1] = {(const char *)d};
      size_t lens[1] = {n}, mn = 0;
      char *m = cs__post_merge(key.p, key.n, (const char *)d, n, ops, lens, 1, &mn);
      if (!m || cs__post_decode(m, mn, slot, nf, q, (size_t)got) != got)
        abort();
      same_posts(p, q, got);
      free(m);
      cs_buf_free(&key);
    }
    free(q);
    cs_buf_free(&out);
  }
  free(p);
}

static void key(const uint8_t *d, size_t n) {
  cs__key k, k2;
  if (cs__key_decode(d, n, &k))
    return;
  cs_buf out = {0};
  cs__key_encode(&out, &k);
  if (out.err || cs__key_decode(out.p, out.n, &k2))
    abort();
  if (k.type != k2.type || memcmp(k.trace_id, k2.trace_id, 16) || k.chunk_id != k2.chunk_id ||
      k.start_ns != k2.start_ns || k.slot != k2.slot || k.duration_ns != k2.duration_ns ||
      k.kind != k2.kind || k.a.n != k2.a.n || k.b.n != k2.b.n ||
      (k.a.n && memcmp(k.a.p, k2.a.p, k.a.n)) || (k.b.n && memcmp(k.b.p, k2.b.p, k.b.n)))
    abort();
  cs_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  if (data[0] & 1)
    key(data + 1, size - 1);
  else
    posting_value(data + 1, size - 1, data[0] >> 7);
  return 0;
}
