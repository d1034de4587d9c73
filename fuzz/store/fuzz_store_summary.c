/* libFuzzer target for the store's other stored values: trace summaries
 * (store/summary.c) and per-minute statistics rows (store/stats.c), both
 * folded by merge operators inside compactions. The first byte picks
 * which (bit 0). A value that decodes must re-encode to one that decodes
 * the same; the merge of any inputs must succeed and decode. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "summary.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_str(cs_str a, cs_str b) {
  if (a.n != b.n || (a.n && memcmp(a.p, b.p, a.n)))
    abort();
}

static void summary(const uint8_t *d, size_t n) {
  static cs__sum s, t;
  if (cs__sum_decode(d, n, &s) == 0) {
    cs_buf out = {0};
    cs__sum_encode(&s, &out);
    if (out.err || cs__sum_decode(out.p, out.n, &t))
      abort();
    if (s.n_spans != t.n_spans || s.n_errors != t.n_errors || s.has_root != t.has_root ||
        s.has_first != t.has_first || s.n_svcs != t.n_svcs || s.n_ids != t.n_ids ||
        memcmp(s.ids, t.ids, s.n_ids * sizeof s.ids[0]))
      abort();
    /* An empty start (0) reads back as 0; the rest is relative to it. */
    if ((s.start_ns != UINT64_MAX || t.start_ns != 0) && s.start_ns != t.start_ns)
      abort();
    if (s.has_root) {
      if (s.root_start != t.root_start)
        abort();
      same_str(s.root_svc, t.root_svc);
      same_str(s.root_name, t.root_name);
    }
    if (s.has_first) {
      if (s.first_start != t.first_start)
        abort();
      same_str(s.first_svc, t.first_svc);
      same_str(s.first_name, t.first_name);
    }
    for (uint32_t i = 0; i < s.n_svcs; i++)
      same_str(s.svcs[i], t.svcs[i]);
    cs_buf_free(&out);
  }
  /* The merge operator skips corrupt inputs: any bytes, split in two. */
  size_t half = n / 2, mn = 0;
  const char *ops[2] = {(const char *)d, (const char *)d + half};
  size_t lens[2] = {half, n - half};
  char *m = cs__sum_merge_values((const char *)d, n, ops, lens, 2, &mn);
  if (!m || cs__sum_decode(m, mn, &t))
    abort();
  free(m);
}

static void stats_row(const uint8_t *d, size_t n) {
  static cs__stats s, t;
  if (cs__stats_decode(d, n, &s) == 0) {
    for (uint32_t i = 1; i < s.n; i++)
      if (s.bucket[i] <= s.bucket[i - 1])
        abort(); /* ascending, as the reader assumes */
    cs_buf out = {0};
    cs__stats_encode(&s, &out);
    if (out.err || cs__stats_decode(out.p, out.n, &t))
      abort();
    if (s.count != t.count || s.errors != t.errors || s.sum_ns != t.sum_ns ||
        s.max_ns != t.max_ns || s.n != t.n ||
        memcmp(s.bucket, t.bucket, s.n * sizeof s.bucket[0]) ||
        memcmp(s.bucket_count, t.bucket_count, s.n * sizeof s.bucket_count[0]))
      abort();
    cs_buf_free(&out);
  }
  size_t half = n / 2, mn = 0;
  const char *ops[2] = {(const char *)d, (const char *)d + half};
  size_t lens[2] = {half, n - half};
  char *m = cs__stats_merge((const char *)d, n, ops, lens, 2, &mn);
  if (!m || cs__stats_decode(m, mn, &t))
    abort();
  free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  if (data[0] & 1)
    stats_row(data + 1, size - 1);
  else
    summary(data + 1, size - 1);
  return 0;
}
