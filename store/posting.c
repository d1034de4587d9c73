/* Posting list codec and merge (posting.h). Within a value, starts are
 * delta-coded in list order after a first offset inside the slot, each
 * followed by the 16-byte trace ID (random bytes do not compress). */
#include "posting.h"

#include "keys.h"

static int newest_first_cmp(const void *a, const void *b) {
  const cs__post *x = a, *y = b;
  if (x->start_ns != y->start_ns) return x->start_ns > y->start_ns ? -1 : 1;
  return memcmp(x->tid, y->tid, 16);
}

static int oldest_first_cmp(const void *a, const void *b) {
  const cs__post *x = a, *y = b;
  if (x->start_ns != y->start_ns) return x->start_ns < y->start_ns ? -1 : 1;
  return memcmp(x->tid, y->tid, 16);
}

size_t cs__post_sort(cs__post *p, size_t n, int newest_first) {
  if (n < 2) return n;
  qsort(p, n, sizeof(cs__post), newest_first ? newest_first_cmp : oldest_first_cmp);
  size_t j = 1;
  for (size_t i = 1; i < n; i++)
    if (p[i].start_ns != p[j - 1].start_ns || memcmp(p[i].tid, p[j - 1].tid, 16))
      p[j++] = p[i];
  return j;
}

void cs__post_encode(const cs__post *p, size_t n, int newest_first, cs_buf *out) {
  cs_buf_u8(out, CS__POSTING_VERSION);
  cs_buf_varint(out, n);
  const uint64_t mask = ((uint64_t)1 << CS__SLOT_SHIFT) - 1;
  for (size_t i = 0; i < n; i++) {
    uint64_t v;
    if (i == 0) v = newest_first ? mask - (p[0].start_ns & mask) : p[0].start_ns & mask;
    else v = newest_first ? p[i - 1].start_ns - p[i].start_ns : p[i].start_ns - p[i - 1].start_ns;
    cs_buf_varint(out, v);
    cs_buf_put(out, p[i].tid, 16);
  }
}

long cs__post_count(const void *v, size_t n) {
  cs__rd r = cs__rd_make(v, n);
  if (cs__rd_u8(&r) != CS__POSTING_VERSION) return -1;
  uint64_t c = cs__rd_varint(&r);
  if (r.err || c > n / 17) return -1;
  return (long)c;
}

long cs__post_decode(const void *v, size_t n, uint64_t slot, int newest_first, cs__post *out,
                     size_t cap) {
  cs__rd r = cs__rd_make(v, n);
  if (cs__rd_u8(&r) != CS__POSTING_VERSION) return -1;
  uint64_t c = cs__rd_varint(&r);
  if (r.err || c > cap) return -1;
  const uint64_t mask = ((uint64_t)1 << CS__SLOT_SHIFT) - 1;
  const uint64_t lo = slot << CS__SLOT_SHIFT, hi = lo | mask;
  uint64_t t = 0;
  for (uint64_t i = 0; i < c; i++) {
    uint64_t d = cs__rd_varint(&r);
    if (i == 0) {
      if (d > mask) return -1;
      t = newest_first ? hi - d : lo + d;
    } else {
      if (newest_first ? d > t - lo : d > hi - t) return -1;
      t = newest_first ? t - d : t + d;
    }
    const uint8_t *id = cs__rd_bytes(&r, 16);
    if (!id) return -1;
    out[i].start_ns = t;
    memcpy(out[i].tid, id, 16);
    out[i].src = 0;
  }
  if (r.err || r.p != r.end) return -1;
  return (long)c;
}

/* Merges two sorted runs a[0..na) and b[0..nb) into out. */
static void merge2(const cs__post *a, size_t na, const cs__post *b, size_t nb, cs__post *out,
                   int (*cmp)(const void *, const void *)) {
  size_t i = 0, j = 0, k = 0;
  while (i < na && j < nb) out[k++] = cmp(&b[j], &a[i]) < 0 ? b[j++] : a[i++];
  while (i < na) out[k++] = a[i++];
  while (j < nb) out[k++] = b[j++];
}

char *cs__post_merge(const uint8_t *key, size_t klen, const char *existing, size_t elen,
                     const char *const *ops, const size_t *olens, int nops, size_t *new_len) {
  cs__key k;
  if (klen >= 2 && cs__key_is_posting(key[0]) && key[1] < cs__key_version(key[0])) {
    /* A posting key of an older format: readers no longer seek it (its
     * prefix has the old version byte), but a failing merge would stop
     * compactions; keep the newest input until retention drops it. */
    const char *src = nops ? ops[nops - 1] : existing;
    size_t sn = nops ? olens[nops - 1] : elen;
    char *v = malloc(sn ? sn : 1);
    if (v && sn) memcpy(v, src, sn);
    *new_len = sn;
    return v;
  }
  if (cs__key_decode(key, klen, &k)) return NULL;
  if (!cs__key_is_posting(k.type)) return NULL;
  int nf = cs__key_newest_first(k.type);
  int (*cmp)(const void *, const void *) = nf ? newest_first_cmp : oldest_first_cmp;
  uint64_t slot = k.slot;
  size_t total = 0;
  long c;
  if (existing && (c = cs__post_count(existing, elen)) > 0) total += (size_t)c;
  for (int i = 0; i < nops; i++)
    if ((c = cs__post_count(ops[i], olens[i])) > 0) total += (size_t)c;
  /* Every input is sorted already: merge the runs pairwise (n log k)
   * instead of sorting them again. */
  cs__post *all = malloc((total ? total : 1) * 2 * sizeof(cs__post));
  size_t *bounds = malloc(((size_t)nops + 2) * sizeof(size_t));
  if (!all || !bounds) {
    free(all);
    free(bounds);
    return NULL;
  }
  cs__post *tmp = all + (total ? total : 1);
  size_t n = 0, runs = 0;
  bounds[0] = 0;
  if (existing && (c = cs__post_decode(existing, elen, slot, nf, all, total)) > 0) {
    n += (size_t)c;
    bounds[++runs] = n;
  }
  for (int i = 0; i < nops; i++)
    if ((c = cs__post_decode(ops[i], olens[i], slot, nf, all + n, total - n)) > 0) {
      n += (size_t)c;
      bounds[++runs] = n;
    }
  while (runs > 1) {
    size_t out_runs = 0;
    for (size_t r = 0; r < runs; r += 2) {
      size_t a0 = bounds[r], a1 = bounds[r + 1];
      size_t b1 = r + 2 <= runs ? bounds[r + 2] : a1;
      merge2(all + a0, a1 - a0, all + a1, b1 - a1, tmp + a0, cmp);
      bounds[++out_runs] = b1;
    }
    runs = out_runs;
    cs__post *sw = all;
    all = tmp;
    tmp = sw;
  }
  /* Drop duplicates (a resent batch) from the sorted list. */
  size_t m = n ? 1 : 0;
  for (size_t i = 1; i < n; i++)
    if (cmp(&all[i], &all[m - 1]) != 0) all[m++] = all[i];
  cs_buf out = {0};
  cs__post_encode(all, m, nf, &out);
  free(all < tmp ? all : tmp);
  free(bounds);
  if (out.err) {
    cs_buf_free(&out);
    return NULL;
  }
  *new_len = out.n;
  return (char *)out.p;
}
