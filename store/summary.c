/* Summary codec and the merge operator that folds summary operands
 * (summary.h). A corrupt operand is skipped rather than failing the merge:
 * a failed merge inside a compaction would stop the whole database. */
#include "summary.h"

void cs__sum_init(cs__sum *s) {
  memset(s, 0, sizeof(*s));
  s->start_ns = UINT64_MAX;
}

void cs__sum_add_service(cs__sum *s, cs_str svc) {
  uint32_t i = 0;
  while (i < s->n_svcs) {
    int c = cs__str_cmp(s->svcs[i], svc);
    if (c == 0) return;
    if (c > 0) break;
    i++;
  }
  if (s->n_svcs == CS__SUM_MAX_SERVICES) return;
  memmove(&s->svcs[i + 1], &s->svcs[i], (s->n_svcs - i) * sizeof(cs_str));
  s->svcs[i] = svc;
  s->n_svcs++;
}

void cs__sum_offer_first(cs__sum *s, uint64_t start_ns, cs_str svc, cs_str name) {
  if (s->has_first) {
    if (start_ns > s->first_start) return;
    if (start_ns == s->first_start) {
      int c = cs__str_cmp(svc, s->first_svc);
      if (c > 0 || (c == 0 && cs__str_cmp(name, s->first_name) >= 0)) return;
    }
  }
  s->has_first = 1;
  s->first_start = start_ns;
  s->first_svc = svc;
  s->first_name = name;
}

static int has_id(const cs__sum *s, uint32_t id) {
  for (uint32_t i = 0; i < s->n_ids; i++)
    if (s->ids[i] == id) return 1;
  return 0;
}

void cs__sum_merge(cs__sum *dst, const cs__sum *src) {
  int dup = src->n_ids > 0;
  for (uint32_t i = 0; i < src->n_ids && dup; i++)
    if (!has_id(dst, src->ids[i])) dup = 0;
  if (!dup) {
    dst->n_spans += src->n_spans;
    dst->n_errors += src->n_errors;
    for (uint32_t i = 0; i < src->n_ids; i++) {
      if (has_id(dst, src->ids[i])) continue;
      if (dst->n_ids == CS__SUM_MAX_IDS) { /* forget the oldest */
        memmove(dst->ids, dst->ids + 1, (CS__SUM_MAX_IDS - 1) * sizeof(uint32_t));
        dst->n_ids--;
      }
      dst->ids[dst->n_ids++] = src->ids[i];
    }
  }
  if (src->start_ns < dst->start_ns) dst->start_ns = src->start_ns;
  if (src->end_ns > dst->end_ns) dst->end_ns = src->end_ns;
  if (src->has_root && (!dst->has_root || src->root_start < dst->root_start)) {
    dst->has_root = 1;
    dst->root_start = src->root_start;
    dst->root_svc = src->root_svc;
    dst->root_name = src->root_name;
  }
  if (src->has_first) cs__sum_offer_first(dst, src->first_start, src->first_svc, src->first_name);
  for (uint32_t i = 0; i < src->n_svcs; i++) cs__sum_add_service(dst, src->svcs[i]);
}

/* How the earliest span is stored after the root (version 2). */
enum { FIRST_NONE = 0, FIRST_OWN = 1, FIRST_IS_ROOT = 2 };

void cs__sum_encode(const cs__sum *s, cs_buf *out) {
  uint64_t start = s->start_ns == UINT64_MAX ? 0 : s->start_ns;
  cs_buf_u8(out, CS__SUM_VERSION);
  cs_buf_varint(out, start);
  cs_buf_varint(out, s->end_ns > start ? s->end_ns - start : 0);
  cs_buf_varint(out, s->n_spans);
  cs_buf_varint(out, s->n_errors);
  cs_buf_u8(out, s->has_root ? 1 : 0);
  if (s->has_root) {
    cs_buf_varint(out, cs__zigzag((int64_t)(s->root_start - start)));
    cs__buf_str(out, s->root_svc);
    cs__buf_str(out, s->root_name);
  }
  /* Usually the root is the earliest span: one byte instead of its
   * strings again. */
  if (!s->has_first) {
    cs_buf_u8(out, FIRST_NONE);
  } else if (s->has_root && s->first_start == s->root_start &&
             !cs__str_cmp(s->first_svc, s->root_svc) && !cs__str_cmp(s->first_name, s->root_name)) {
    cs_buf_u8(out, FIRST_IS_ROOT);
  } else {
    cs_buf_u8(out, FIRST_OWN);
    cs_buf_varint(out, cs__zigzag((int64_t)(s->first_start - start)));
    cs__buf_str(out, s->first_svc);
    cs__buf_str(out, s->first_name);
  }
  cs_buf_varint(out, s->n_svcs);
  for (uint32_t i = 0; i < s->n_svcs; i++) cs__buf_str(out, s->svcs[i]);
  cs_buf_varint(out, s->n_ids);
  for (uint32_t i = 0; i < s->n_ids; i++) {
    uint8_t b[4] = {(uint8_t)s->ids[i], (uint8_t)(s->ids[i] >> 8), (uint8_t)(s->ids[i] >> 16),
                    (uint8_t)(s->ids[i] >> 24)};
    cs_buf_put(out, b, 4);
  }
}

int cs__sum_decode(const void *p, size_t n, cs__sum *s) {
  cs__rd r = cs__rd_make(p, n);
  cs__sum_init(s);
  uint8_t version = cs__rd_u8(&r);
  if (version != 1 && version != CS__SUM_VERSION) return -1;
  s->start_ns = cs__rd_varint(&r);
  s->end_ns = s->start_ns + cs__rd_varint(&r);
  uint64_t ns = cs__rd_varint(&r), ne = cs__rd_varint(&r);
  if (ns > UINT32_MAX || ne > UINT32_MAX) return -1;
  s->n_spans = (uint32_t)ns;
  s->n_errors = (uint32_t)ne;
  uint8_t root = cs__rd_u8(&r);
  if (root > 1) return -1;
  if (root) {
    s->has_root = 1;
    s->root_start = s->start_ns + (uint64_t)cs__unzigzag(cs__rd_varint(&r));
    s->root_svc = cs__rd_str(&r);
    s->root_name = cs__rd_str(&r);
  }
  uint8_t first = version >= 2 ? cs__rd_u8(&r) : FIRST_NONE;
  if (first == FIRST_IS_ROOT && root) {
    s->has_first = 1;
    s->first_start = s->root_start;
    s->first_svc = s->root_svc;
    s->first_name = s->root_name;
  } else if (first == FIRST_OWN) {
    s->has_first = 1;
    s->first_start = s->start_ns + (uint64_t)cs__unzigzag(cs__rd_varint(&r));
    s->first_svc = cs__rd_str(&r);
    s->first_name = cs__rd_str(&r);
  } else if (first != FIRST_NONE) {
    return -1;
  }
  uint64_t nsv = cs__rd_varint(&r);
  if (nsv > CS__SUM_MAX_SERVICES) return -1;
  for (uint64_t i = 0; i < nsv; i++) s->svcs[i] = cs__rd_str(&r);
  s->n_svcs = (uint32_t)nsv;
  uint64_t nid = cs__rd_varint(&r);
  if (nid > CS__SUM_MAX_IDS) return -1;
  for (uint64_t i = 0; i < nid; i++) {
    const uint8_t *b = cs__rd_bytes(&r, 4);
    if (b) s->ids[i] = b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
  }
  s->n_ids = (uint32_t)nid;
  if (r.err || r.p != r.end) return -1;
  return 0;
}

char *cs__sum_merge_values(const char *existing, size_t elen, const char *const *ops,
                           const size_t *olens, int nops, size_t *new_len) {
  /* Two cs__sum structs are a few KB each: on the heap, not the compaction
   * thread's stack. */
  cs__sum *acc = malloc(2 * sizeof(cs__sum));
  cs_buf out = {0};
  if (!acc) return NULL;
  cs__sum *tmp = acc + 1;
  cs__sum_init(acc);
  if (existing && cs__sum_decode(existing, elen, tmp) == 0) cs__sum_merge(acc, tmp);
  for (int i = 0; i < nops; i++)
    if (cs__sum_decode(ops[i], olens[i], tmp) == 0) cs__sum_merge(acc, tmp);
  cs__sum_encode(acc, &out);
  free(acc);
  if (out.err) {
    cs_buf_free(&out);
    return NULL;
  }
  *new_len = out.n;
  return (char *)out.p;
}

