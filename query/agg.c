/* Per-minute sketches (see agg.h): a growable two-word-key hash map, string
 * interning, sorted sparse bucket lists per entry. */
#include "agg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SK_GAMMA (1.005 / 0.995)
/* Head value meaning "no entry yet" (bit 31 is the filled flag; the map
 * stores value + 1, so all ones is not available). */
#define HEAD_NONE 0x7ffffffeu

uint16_t cs_sk_index(uint64_t ns) {
  if (ns == 0) return 0;
  double i = ceil(log((double)ns) / log(SK_GAMMA));
  if (i < 0) i = 0;
  if (i > CS_SK_BUCKETS - 2) i = CS_SK_BUCKETS - 2;
  return (uint16_t)(i + 1);
}

uint64_t cs_sk_value(uint16_t idx) {
  if (idx == 0) return 0;
  double v = 2.0 * pow(SK_GAMMA, (double)(idx - 1)) / (SK_GAMMA + 1.0);
  if (v >= 9.2e18) return (uint64_t)9.2e18;
  return (uint64_t)(v + 0.5);
}

static uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t h = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull + (a << 6) + (a >> 2));
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ull;
  return h ^ (h >> 29);
}

static int amap_init(cs_amap *m, size_t cap) {
  m->cap = cap;
  m->n = 0;
  m->ka = calloc(cap, 8);
  m->kb = calloc(cap, 8);
  m->val = calloc(cap, 4);
  return m->ka && m->kb && m->val ? 0 : -1;
}

static void amap_free(cs_amap *m) {
  free(m->ka);
  free(m->kb);
  free(m->val);
  memset(m, 0, sizeof *m);
}

static uint32_t *amap_slot(cs_amap *m, uint64_t a, uint64_t b) {
  size_t i = mix(a, b) & (m->cap - 1);
  while (m->val[i] && (m->ka[i] != a || m->kb[i] != b)) i = (i + 1) & (m->cap - 1);
  return &m->val[i];
}

static int amap_get(const cs_amap *m, uint64_t a, uint64_t b, uint32_t *out) {
  uint32_t *s = amap_slot((cs_amap *)m, a, b);
  if (!*s) return 0;
  *out = *s - 1;
  return 1;
}

static int amap_put(cs_amap *m, uint64_t a, uint64_t b, uint32_t v) {
  if ((m->n + 1) * 2 > m->cap) {
    cs_amap old = *m;
    if (amap_init(m, old.cap * 2)) {
      amap_free(m);
      *m = old;
      return -1;
    }
    for (size_t i = 0; i < old.cap; i++)
      if (old.val[i]) {
        uint32_t *s = amap_slot(m, old.ka[i], old.kb[i]);
        *s = old.val[i];
        size_t k = (size_t)(s - m->val);
        m->ka[k] = old.ka[i], m->kb[k] = old.kb[i];
        m->n++;
      }
    amap_free(&old);
  }
  uint32_t *s = amap_slot(m, a, b);
  size_t k = (size_t)(s - m->val);
  if (!*s) m->n++;
  m->ka[k] = a, m->kb[k] = b;
  *s = v + 1;
  return 0;
}

int cs_agg_init(cs_agg *g, size_t max_pairs) {
  memset(g, 0, sizeof *g);
  g->max_pairs = max_pairs ? max_pairs : (size_t)16 << 20;
  if (pthread_rwlock_init(&g->lock, NULL)) return -1;
  if (amap_init(&g->str_index, 1024) || amap_init(&g->entries, 4096) ||
      amap_init(&g->heads, 1024)) {
    cs_agg_release(g);
    return -1;
  }
  return 0;
}

void cs_agg_release(cs_agg *g) {
  for (size_t i = 0; i < g->n_strs; i++) free(g->strs[i]);
  free(g->strs);
  free(g->str_len);
  for (size_t i = 0; i < g->n_e; i++) free(g->e[i].b);
  free(g->e);
  amap_free(&g->str_index);
  amap_free(&g->entries);
  amap_free(&g->heads);
  pthread_rwlock_destroy(&g->lock);
}

static uint64_t str_hash(const char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
  return h;
}

int64_t cs_agg_str(cs_agg *g, const char *p, size_t n, int create) {
  uint64_t h = str_hash(p, n);
  /* Probe every slot with this hash: collisions chain on (h, len + k). */
  for (uint64_t k = 0;; k++) {
    uint32_t id;
    if (!amap_get(&g->str_index, h, ((uint64_t)n << 16) + k, &id)) break;
    if (g->str_len[id] == n && (!n || memcmp(g->strs[id], p, n) == 0)) return id;
    if (k > 64) return -1;
  }
  if (!create) return -1;
  if (g->n_strs == g->cap_strs) {
    size_t cap = g->cap_strs ? g->cap_strs * 2 : 256;
    char **s = realloc(g->strs, cap * sizeof(char *));
    if (!s) return -1;
    g->strs = s;
    uint32_t *l = realloc(g->str_len, cap * sizeof(uint32_t));
    if (!l) return -1;
    g->str_len = l;
    g->cap_strs = cap;
  }
  char *c = malloc(n + 1);
  if (!c) return -1;
  if (n) memcpy(c, p, n);
  c[n] = '\0';
  uint64_t k = 0;
  uint32_t tmp;
  while (amap_get(&g->str_index, h, ((uint64_t)n << 16) + k, &tmp)) k++;
  if (amap_put(&g->str_index, h, ((uint64_t)n << 16) + k, (uint32_t)g->n_strs)) {
    free(c);
    return -1;
  }
  g->strs[g->n_strs] = c;
  g->str_len[g->n_strs] = (uint32_t)n;
  return (int64_t)g->n_strs++;
}

int32_t cs_agg_head(const cs_agg *g, uint32_t svc, uint32_t minute, int *filled) {
  uint32_t v;
  if (!amap_get(&g->heads, svc, minute, &v)) {
    if (filled) *filled = 0;
    return -1;
  }
  if (filled) *filled = (v >> 31) & 1;
  v &= 0x7fffffffu;
  return v == HEAD_NONE ? -1 : (int32_t)v;
}

void cs_agg_mark_filled(cs_agg *g, uint32_t svc, uint32_t minute) {
  uint32_t v;
  if (!amap_get(&g->heads, svc, minute, &v)) v = HEAD_NONE;
  amap_put(&g->heads, svc, minute, v | 0x80000000u);
}

int cs_agg_add_bucket(cs_agg *g, uint32_t svc, uint32_t op, uint8_t kind, uint32_t minute,
                      uint16_t idx, uint32_t n, uint32_t errs, uint64_t max_ns) {
  if (g->full) return -1;
  uint32_t ei;
  if (!amap_get(&g->entries, ((uint64_t)svc << 32) | op, ((uint64_t)kind << 32) | minute, &ei)) {
    if (g->n_e == g->cap_e) {
      size_t cap = g->cap_e ? g->cap_e * 2 : 1024;
      cs_agg_entry *e = realloc(g->e, cap * sizeof *e);
      if (!e) return -1;
      g->e = e;
      g->cap_e = cap;
    }
    ei = (uint32_t)g->n_e;
    cs_agg_entry *ne = &g->e[ei];
    memset(ne, 0, sizeof *ne);
    ne->svc = svc, ne->op = op, ne->kind = kind, ne->minute = minute;
    uint32_t hv = HEAD_NONE;
    amap_get(&g->heads, svc, minute, &hv);
    ne->next = (hv & 0x7fffffffu) == HEAD_NONE ? -1 : (int32_t)(hv & 0x7fffffffu);
    if (amap_put(&g->entries, ((uint64_t)svc << 32) | op, ((uint64_t)kind << 32) | minute, ei) ||
        amap_put(&g->heads, svc, minute, (hv & 0x80000000u) | ei))
      return -1;
    g->n_e++;
  }
  cs_agg_entry *e = &g->e[ei];
  e->count += n;
  e->errors += errs;
  if (max_ns > e->max_ns) e->max_ns = max_ns;
  uint32_t lo = 0, hi = e->nb;
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    if (e->b[mid].idx < idx) lo = mid + 1;
    else hi = mid;
  }
  if (lo < e->nb && e->b[lo].idx == idx) {
    e->b[lo].n += n;
    return 0;
  }
  if (g->pairs >= g->max_pairs) {
    g->full = 1;
    return -1;
  }
  if (e->nb == e->capb) {
    uint32_t cap = e->capb ? e->capb * 2 : 8;
    cs_sk_pair *b = realloc(e->b, cap * sizeof *b);
    if (!b) return -1;
    e->b = b;
    e->capb = cap;
  }
  memmove(e->b + lo + 1, e->b + lo, (e->nb - lo) * sizeof *e->b);
  e->b[lo] = (cs_sk_pair){idx, n};
  e->nb++;
  g->pairs++;
  return 0;
}

int cs_agg_add(cs_agg *g, uint32_t svc, uint32_t op, uint8_t kind, uint32_t minute, uint64_t dur,
               int err) {
  return cs_agg_add_bucket(g, svc, op, kind, minute, cs_sk_index(dur), 1, err != 0, dur);
}

void cs_agg_clear(cs_agg *g) {
  size_t max = g->max_pairs;
  pthread_rwlock_t lock = g->lock;
  for (size_t i = 0; i < g->n_strs; i++) free(g->strs[i]);
  free(g->strs);
  free(g->str_len);
  for (size_t i = 0; i < g->n_e; i++) free(g->e[i].b);
  free(g->e);
  amap_free(&g->str_index);
  amap_free(&g->entries);
  amap_free(&g->heads);
  memset(g, 0, sizeof *g);
  g->lock = lock;
  g->max_pairs = max;
  if (amap_init(&g->str_index, 1024) || amap_init(&g->entries, 4096) ||
      amap_init(&g->heads, 1024))
    g->full = 1; /* out of memory: stays full, callers fall back to scans */
}

void cs_sk_dense_add(cs_sk_dense *d, const cs_agg_entry *e) {
  if (!d->count && !d->errors) d->lo = CS_SK_BUCKETS - 1, d->hi = 0;
  for (uint32_t k = 0; k < e->nb; k++) {
    uint16_t i = e->b[k].idx;
    d->c[i] += e->b[k].n;
    if (i < d->lo) d->lo = i;
    if (i > d->hi) d->hi = i;
  }
  d->count += e->count;
  d->errors += e->errors;
  if (e->max_ns > d->max_ns) d->max_ns = e->max_ns;
}

void cs_sk_dense_clear(cs_sk_dense *d) {
  if (d->count && d->hi >= d->lo) memset(d->c + d->lo, 0, sizeof(uint64_t) * (d->hi - d->lo + 1u));
  d->count = d->errors = d->max_ns = 0;
}

/* p50, p90, p95, p99 in one walk (nearest rank, capped at the exact max). */
void cs_quantiles4(const uint64_t *c, uint32_t lo, uint32_t hi, uint64_t count,
                   uint64_t max_ns, uint64_t (*value)(uint16_t), uint64_t out[4]) {
  static const double qs[4] = {0.50, 0.90, 0.95, 0.99};
  uint64_t rank[4];
  for (int k = 0; k < 4; k++) {
    double r = qs[k] * (double)count;
    rank[k] = (uint64_t)r;
    if ((double)rank[k] < r) rank[k]++;
    if (rank[k] < 1) rank[k] = 1;
    out[k] = 0;
  }
  if (!count) return;
  uint64_t cum = 0;
  int k = 0;
  for (uint32_t i = lo; i <= hi && k < 4; i++) {
    cum += c[i];
    while (k < 4 && cum >= rank[k]) {
      uint64_t v = value((uint16_t)i);
      out[k++] = v > max_ns ? max_ns : v;
    }
  }
  for (; k < 4; k++) out[k] = max_ns;
}

void cs_sk_dense_quantiles(const cs_sk_dense *d, uint64_t out[4]) {
  cs_quantiles4(d->c, d->lo, d->hi, d->count, d->max_ns, cs_sk_value, out);
}


/* Adds a local entry into the shared sketches (caller holds the write
 * lock): bucket counts add up, the maximum carries over exactly. */
int cs_agg_merge_entry(cs_agg *g, const cs_agg *src, const cs_agg_entry *e) {
  int64_t svc = cs_agg_str(g, src->strs[e->svc], src->str_len[e->svc], 1);
  int64_t op = cs_agg_str(g, src->strs[e->op], src->str_len[e->op], 1);
  if (svc < 0 || op < 0) return -1;
  for (uint32_t k = 0; k < e->nb; k++)
    if (cs_agg_add_bucket(g, (uint32_t)svc, (uint32_t)op, e->kind, e->minute, e->b[k].idx,
                          e->b[k].n, k == 0 ? (uint32_t)e->errors : 0, e->max_ns))
      return -1;
  return 0;
}

