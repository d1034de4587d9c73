/* Per-minute latency statistics per (service, operation, span kind): the
 * writer folds each batch's spans into one merge operand per row, the merge
 * operator adds rows up, cs_store_scan_stats reads them. Histogram buckets
 * are log-spaced with ratio g = 1.01 / 0.99, so a bucket's representative
 * value 2 g^i / (g + 1) is within 1% of every duration in it. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "keys.h"
#include "stats.h"

#define STATS_VERSION 1
#define MINUTE_NS 60000000000ULL

static const double G = 1.01 / 0.99;

/* upper[i] = g^i, the upper bound of bucket i, computed once. */
static double upper[CS_STATS_BUCKETS];
static pthread_once_t upper_once = PTHREAD_ONCE_INIT;

static void upper_init(void) {
  for (int i = 0; i < CS_STATS_BUCKETS; i++) upper[i] = pow(G, i);
}

uint16_t cs_stats_bucket_of(uint64_t d) {
  if (d <= 1) return 0;
  pthread_once(&upper_once, upper_init);
  double x = (double)d, i = ceil(log(x) / log(G));
  int b = i < 0 ? 0 : i > CS_STATS_BUCKETS - 1 ? CS_STATS_BUCKETS - 1 : (int)i;
  /* Floating point can land one off near a bound: settle on the bucket
   * whose range (g^(b-1), g^b] holds d. */
  while (b > 0 && x <= upper[b - 1]) b--;
  while (b < CS_STATS_BUCKETS - 1 && x > upper[b]) b++;
  return (uint16_t)b;
}

uint64_t cs_stats_bucket_value(uint16_t b) {
  if (b >= CS_STATS_BUCKETS) b = CS_STATS_BUCKETS - 1;
  pthread_once(&upper_once, upper_init);
  double v = 2.0 * upper[b] / (G + 1.0);
  if (v < 1.0) return 1; /* bucket 0 holds 0 and 1 ns */
  if (v >= 18446744073709551615.0) return UINT64_MAX;
  return (uint64_t)llround(v);
}

uint64_t cs_stats_quantile(const uint16_t *bucket, const uint64_t *count, uint32_t n, double q) {
  uint64_t total = 0;
  for (uint32_t i = 0; i < n; i++) total += count[i];
  if (!total) return 0;
  if (q < 0) q = 0;
  if (q > 1) q = 1;
  /* The rank of the q-quantile, 0-based, as the query server computes it. */
  uint64_t rank = (uint64_t)(q * (double)(total - 1));
  uint64_t seen = 0;
  for (uint32_t i = 0; i < n; i++) {
    seen += count[i];
    if (seen > rank) return cs_stats_bucket_value(bucket[i]);
  }
  return cs_stats_bucket_value(bucket[n - 1]);
}

/* ---- value codec ------------------------------------------------------ */

void cs__stats_encode(const cs__stats *s, cs_buf *out) {
  cs_buf_u8(out, STATS_VERSION);
  cs_buf_varint(out, s->count);
  cs_buf_varint(out, s->errors);
  cs_buf_varint(out, s->sum_ns);
  cs_buf_varint(out, s->max_ns);
  cs_buf_varint(out, s->n);
  uint16_t prev = 0;
  for (uint32_t i = 0; i < s->n; i++) {
    cs_buf_varint(out, (uint64_t)(s->bucket[i] - prev));
    cs_buf_varint(out, s->bucket_count[i]);
    prev = s->bucket[i];
  }
}

int cs__stats_decode(const void *v, size_t n, cs__stats *s) {
  cs__rd r = cs__rd_make(v, n);
  if (cs__rd_u8(&r) != STATS_VERSION) return -1;
  s->count = cs__rd_varint(&r);
  s->errors = cs__rd_varint(&r);
  s->sum_ns = cs__rd_varint(&r);
  s->max_ns = cs__rd_varint(&r);
  uint64_t nb = cs__rd_varint(&r);
  if (r.err || nb > CS_STATS_BUCKETS) return -1;
  s->n = (uint32_t)nb;
  uint64_t b = 0;
  for (uint64_t i = 0; i < nb; i++) {
    uint64_t d = cs__rd_varint(&r);
    if ((i > 0 && d == 0) || d >= CS_STATS_BUCKETS - b) return -1; /* no wrap */
    b += d;
    s->bucket[i] = (uint16_t)b;
    s->bucket_count[i] = cs__rd_varint(&r);
  }
  if (r.err || r.p != r.end) return -1;
  return 0;
}

char *cs__stats_merge(const char *existing, size_t elen, const char *const *ops,
                      const size_t *olens, int nops, size_t *new_len) {
  /* Dense accumulation: 18 KB, simpler than merging sparse lists. */
  uint64_t *dense = calloc(CS_STATS_BUCKETS, sizeof(uint64_t));
  cs__stats *tmp = malloc(sizeof(cs__stats));
  cs__stats *acc = malloc(sizeof(cs__stats));
  char *res = NULL;
  if (!dense || !tmp || !acc) goto out;
  memset(acc, 0, sizeof(*acc));
  for (int i = -1; i < nops; i++) {
    const char *v = i < 0 ? existing : ops[i];
    size_t vn = i < 0 ? elen : olens[i];
    if (!v || cs__stats_decode(v, vn, tmp)) continue; /* skip corrupt inputs */
    acc->count += tmp->count;
    acc->errors += tmp->errors;
    acc->sum_ns += tmp->sum_ns;
    if (tmp->max_ns > acc->max_ns) acc->max_ns = tmp->max_ns;
    for (uint32_t j = 0; j < tmp->n; j++) dense[tmp->bucket[j]] += tmp->bucket_count[j];
  }
  for (uint32_t b = 0; b < CS_STATS_BUCKETS; b++)
    if (dense[b]) {
      acc->bucket[acc->n] = (uint16_t)b;
      acc->bucket_count[acc->n++] = dense[b];
    }
  cs_buf out = {0};
  cs__stats_encode(acc, &out);
  if (out.err) {
    cs_buf_free(&out);
    goto out;
  }
  *new_len = out.n;
  res = (char *)out.p;
out:
  free(dense);
  free(tmp);
  free(acc);
  return res;
}

/* ---- writer-side aggregation ------------------------------------------ */

typedef struct agg_row {
  rocksdb_column_family_handle_t *cf;
  cs_str svc, op;
  uint8_t kind;
  uint64_t minute;
  uint64_t h;
  uint64_t count, errors, sum_ns, max_ns;
  uint32_t head; /* newest duration entry, chained by next; 0 = none */
} agg_row;

typedef struct agg_dur {
  uint32_t next;
  uint16_t bucket;
} agg_dur;

struct cs__statagg {
  agg_row *rows;
  size_t nrows, caprows;
  uint32_t *slots; /* row index + 1 */
  size_t nslots;
  agg_dur *durs; /* [0] unused */
  size_t ndurs, capdurs;
  uint64_t *dense; /* CS_STATS_BUCKETS counters, zero between rows */
  cs__stats *tmp;
  cs_buf key, val;
};

cs__statagg *cs__statagg_new(void) {
  cs__statagg *a = calloc(1, sizeof(*a));
  if (!a) return NULL;
  a->dense = calloc(CS_STATS_BUCKETS, sizeof(uint64_t));
  a->tmp = malloc(sizeof(cs__stats));
  if (!a->dense || !a->tmp) {
    cs__statagg_free(a);
    return NULL;
  }
  a->ndurs = 1;
  return a;
}

void cs__statagg_free(cs__statagg *a) {
  if (!a) return;
  free(a->rows);
  free(a->slots);
  free(a->durs);
  free(a->dense);
  free(a->tmp);
  cs_buf_free(&a->key);
  cs_buf_free(&a->val);
  free(a);
}

void cs__statagg_reset(cs__statagg *a) {
  a->nrows = 0;
  a->ndurs = 1;
  if (a->nslots) memset(a->slots, 0, a->nslots * sizeof(uint32_t));
}

static int slots_grow(cs__statagg *a) {
  size_t nn = a->nslots ? a->nslots * 2 : 256;
  uint32_t *ns = calloc(nn, sizeof(uint32_t));
  if (!ns) return -1;
  for (size_t i = 0; i < a->nrows; i++) {
    size_t j = a->rows[i].h & (nn - 1);
    while (ns[j]) j = (j + 1) & (nn - 1);
    ns[j] = (uint32_t)i + 1;
  }
  free(a->slots);
  a->slots = ns;
  a->nslots = nn;
  return 0;
}

int cs__statagg_add(cs__statagg *a, rocksdb_column_family_handle_t *cf, const cs_span *s,
                    cs_str svc) {
  uint64_t minute = s->start_ns / MINUTE_NS;
  uint64_t dur = s->end_ns > s->start_ns ? s->end_ns - s->start_ns : 0;
  if ((a->nrows + 1) * 2 > a->nslots && slots_grow(a)) return CS_STORE_ENOMEM;
  uint64_t h = cs__hash(svc.p, svc.n, minute * 31 + s->kind);
  h = cs__hash(s->name.p, s->name.n, h ^ (uintptr_t)cf);
  size_t j = h & (a->nslots - 1);
  agg_row *r = NULL;
  while (a->slots[j]) {
    agg_row *c = &a->rows[a->slots[j] - 1];
    if (c->h == h && c->cf == cf && c->minute == minute && c->kind == s->kind &&
        cs__str_eq(c->svc, svc) && cs__str_eq(c->op, s->name)) {
      r = c;
      break;
    }
    j = (j + 1) & (a->nslots - 1);
  }
  if (!r) {
    if (a->nrows == a->caprows) {
      size_t nc = a->caprows ? a->caprows * 2 : 256;
      agg_row *nr = realloc(a->rows, nc * sizeof(agg_row));
      if (!nr) return CS_STORE_ENOMEM;
      a->rows = nr;
      a->caprows = nc;
    }
    r = &a->rows[a->nrows];
    *r = (agg_row){cf, svc, s->name, s->kind, minute, h, 0, 0, 0, 0, 0};
    a->slots[j] = (uint32_t)++a->nrows;
  }
  if (a->ndurs >= a->capdurs) {
    size_t nc = a->capdurs ? a->capdurs * 2 : 8192;
    agg_dur *nd = realloc(a->durs, nc * sizeof(agg_dur));
    if (!nd) return CS_STORE_ENOMEM;
    a->durs = nd;
    a->capdurs = nc;
  }
  a->durs[a->ndurs] = (agg_dur){r->head, cs_stats_bucket_of(dur)};
  r->head = (uint32_t)a->ndurs++;
  r->count++;
  if (s->status_code == CS_STATUS_ERROR) r->errors++;
  r->sum_ns += dur;
  if (dur > r->max_ns) r->max_ns = dur;
  return 0;
}

static void stats_key(cs_buf *b, cs_str svc, uint64_t minute, cs_str op, uint8_t kind) {
  cs_buf_u8(b, CS__K_STATS);
  cs_buf_u8(b, CS__KEY_VERSION);
  cs__buf_str(b, svc);
  cs_buf_be64(b, minute);
  cs__buf_str(b, op);
  cs_buf_u8(b, kind);
}

int cs__statagg_flush(cs__statagg *a, rocksdb_writebatch_t *wb) {
  cs__stats *s = a->tmp;
  for (size_t i = 0; i < a->nrows; i++) {
    agg_row *r = &a->rows[i];
    uint16_t lo = CS_STATS_BUCKETS, hi = 0;
    for (uint32_t d = r->head; d; d = a->durs[d].next) {
      uint16_t b = a->durs[d].bucket;
      a->dense[b]++;
      if (b < lo) lo = b;
      if (b > hi) hi = b;
    }
    s->count = r->count;
    s->errors = r->errors;
    s->sum_ns = r->sum_ns;
    s->max_ns = r->max_ns;
    s->n = 0;
    for (uint32_t b = lo; b <= hi && lo < CS_STATS_BUCKETS; b++)
      if (a->dense[b]) {
        s->bucket[s->n] = (uint16_t)b;
        s->bucket_count[s->n++] = a->dense[b];
        a->dense[b] = 0;
      }
    a->key.n = 0;
    stats_key(&a->key, r->svc, r->minute, r->op, r->kind);
    a->val.n = 0;
    cs__stats_encode(s, &a->val);
    if (a->key.err || a->val.err) return CS_STORE_ENOMEM;
    rocksdb_writebatch_merge_cf(wb, r->cf, (const char *)a->key.p, a->key.n,
                                (const char *)a->val.p, a->val.n);
  }
  return 0;
}

/* ---- reading ---------------------------------------------------------- */

/* Parses a stats key; 0 or -1. Strings point into the key. */
static int parse_key(const char *k, size_t n, cs_str *svc, uint64_t *minute, cs_str *op,
                     uint8_t *kind) {
  cs__rd r = cs__rd_make(k, n);
  if (cs__rd_u8(&r) != CS__K_STATS || cs__rd_u8(&r) != CS__KEY_VERSION) return -1;
  *svc = cs__rd_str(&r);
  *minute = cs__rd_be64(&r);
  *op = cs__rd_str(&r);
  *kind = cs__rd_u8(&r);
  return r.err || r.p != r.end ? -1 : 0;
}

int cs_store_scan_stats(cs_store *st, cs_str service, uint64_t from_ns, uint64_t to_ns,
                        cs_stats_cb cb, void *ud) {
  uint64_t from_m = from_ns / MINUTE_NS, to_m = to_ns ? to_ns / MINUTE_NS : UINT64_MAX;
  cs__stats *s = malloc(sizeof(cs__stats));
  cs_buf seek = {0};
  if (!s) return CS_STORE_ENOMEM;
  int rc = 0, stop = 0;
  const uint8_t type_pfx[2] = {CS__K_STATS, CS__KEY_VERSION};
  cs__rdlock(st);
  if (!st->db) rc = CS_STORE_EIO; /* a secondary whose reopen failed */
  for (size_t bi = 0; bi < st->nb && !rc && !stop; bi++) {
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, st->ro_total, st->b[bi].cf);
    seek.n = 0;
    cs_buf_put(&seek, type_pfx, 2);
    if (service.n) {
      cs__buf_str(&seek, service);
      cs_buf_be64(&seek, from_m);
    }
    if (seek.err) rc = CS_STORE_ENOMEM;
    if (!rc) rocksdb_iter_seek(it, (const char *)seek.p, seek.n);
    while (!rc && !stop && rocksdb_iter_valid(it)) {
      size_t kn, vn;
      const char *k = rocksdb_iter_key(it, &kn);
      if (kn < 2 || memcmp(k, type_pfx, 2) != 0) break;
      cs_stats_row row;
      if (parse_key(k, kn, &row.service, &row.minute_ns, &row.operation, &row.kind)) {
        rc = CS_STORE_ECORRUPT;
        break;
      }
      if (service.n && !cs__str_eq(row.service, service)) break;
      if (row.minute_ns < from_m || row.minute_ns > to_m) {
        /* Jump within this service to the window, or past the service. */
        seek.n = 0;
        cs_buf_put(&seek, type_pfx, 2);
        cs__buf_str(&seek, row.service);
        if (row.minute_ns < from_m) {
          cs_buf_be64(&seek, from_m);
        } else {
          if (service.n) break;
          cs_buf_put(&seek, "\xff\xff\xff\xff\xff\xff\xff\xff\xff", 9);
        }
        if (seek.err) {
          rc = CS_STORE_ENOMEM;
          break;
        }
        rocksdb_iter_seek(it, (const char *)seek.p, seek.n);
        continue;
      }
      const char *v = rocksdb_iter_value(it, &vn);
      if (cs__stats_decode(v, vn, s)) {
        rc = CS_STORE_ECORRUPT;
        break;
      }
      row.minute_ns *= MINUTE_NS;
      row.count = s->count;
      row.errors = s->errors;
      row.sum_ns = s->sum_ns;
      row.max_ns = s->max_ns;
      row.n_buckets = s->n;
      row.bucket = s->bucket;
      row.bucket_count = s->bucket_count;
      if (cb(ud, &row)) stop = 1;
      rocksdb_iter_next(it);
    }
    rocksdb_iter_destroy(it);
  }
  cs__rdunlock(st);
  free(s);
  cs_buf_free(&seek);
  return rc;
}
