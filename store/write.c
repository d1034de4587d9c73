/* The write path: one batch of spans becomes, per trace, one chunk, one
 * summary operand and index entries deduplicated within the batch, all in
 * one RocksDB WriteBatch. Index work thus grows with traces, services and
 * sessions, not with spans. Only one thread writes at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "keys.h"
#include "log.h"
#include "posting.h"
#include "session.h"
#include "stats.h"
#include "summary.h"

/* A direct-mapped cache of recently written traces: what the store already
 * knows of each trace's extent and bucket, so later batches of the same
 * trace land in the same bucket, reuse the same index timestamps (the same
 * keys, overwritten rather than duplicated) and know the merged duration
 * for the duration index without reading the summary back. */
#define TCACHE_BITS 17

typedef struct tcache_ent {
  uint8_t id[16];
  uint64_t start, end, bucket_s;
  uint32_t cids[4]; /* recent chunk IDs, to spot a resent batch */
  uint8_t used, ncid, cpos; /* ncid: valid cids (up to 4); cpos: next slot */
} tcache_ent;

typedef struct group {
  size_t first, n;       /* run in the sorted order array */
  uint64_t cmin, cmax;   /* this batch's extent of the trace */
  uint64_t start, end;   /* merged extent as far as the writer knows */
  uint64_t bucket_s;
  int hit, start_changed, end_changed, skip;
  int resent;            /* the same chunk was written recently */
  uint32_t cid;
} group;

/* Open-addressing set of 64-bit hashes; gen tags make clearing O(1). */
typedef struct hset {
  uint64_t *k;
  uint32_t *gen;
  size_t cap, n;
  uint32_t g;
} hset;

/* Posting-list terms of the current batch: each term collects the traces
 * that carry it, written at the end as one merge operand per time slot. */
typedef struct term {
  uint8_t type;
  cs_str a, b; /* point into the spans or into the writer's pool */
  uint64_t h;
  uint32_t head; /* newest pent of this term, chained by next; 0 = none */
} term;

typedef struct pent {
  uint32_t next;
  rocksdb_column_family_handle_t *cf;
  uint64_t start;
  const uint8_t *tid;
} pent;

typedef struct run_ent {
  rocksdb_column_family_handle_t *cf;
  cs__post p;
} run_ent;

struct cs__writer {
  tcache_ent *tc;
  term *terms;
  size_t nterms, capterms;
  uint32_t *tslots; /* term index + 1, open addressing; 0 = empty */
  size_t ntslots;
  pent *pents; /* [0] unused so that 0 means "none" */
  size_t npents, cappents;
  run_ent *runs;
  cs__post *posts;
  size_t capruns;
  cs_arena pool;
  const cs_span **order;
  size_t cap_order;
  uint32_t *gid, *gfirst, *gcount; /* group_by_trace scratch, cap_order each */
  uint32_t *gslots;
  size_t cap_gslots;
  group *g;
  size_t cap_g;
  hset dedup;  /* index entries of the current trace group */
  hset names;  /* service and operation names already written */
  uint64_t *pending;
  size_t npending, cap_pending;
  cs_buf key, val;
  cs__statagg *stats;
  int err;
};

static int hset_init(hset *s, size_t cap) {
  s->k = calloc(cap, sizeof(uint64_t));
  s->gen = calloc(cap, sizeof(uint32_t));
  s->cap = cap;
  s->n = 0;
  s->g = 1;
  return s->k && s->gen ? 0 : -1;
}

static void hset_free(hset *s) {
  free(s->k);
  free(s->gen);
}

static void hset_clear(hset *s) {
  s->n = 0;
  if (++s->g == 0) {
    memset(s->gen, 0, s->cap * sizeof(uint32_t));
    s->g = 1;
  }
}

static int hset_has(const hset *s, uint64_t h) {
  size_t j = h & (s->cap - 1);
  while (s->gen[j] == s->g) {
    if (s->k[j] == h) return 1;
    j = (j + 1) & (s->cap - 1);
  }
  return 0;
}

/* Returns 1 when h was added, 0 when present. Grows at half load. */
static int hset_add(hset *s, uint64_t h) {
  if ((s->n + 1) * 2 > s->cap) {
    hset ns;
    if (hset_init(&ns, s->cap * 2)) return 1; /* cannot dedup: treat as new */
    for (size_t i = 0; i < s->cap; i++)
      if (s->gen[i] == s->g) hset_add(&ns, s->k[i]);
    hset_free(s);
    *s = ns;
  }
  size_t j = h & (s->cap - 1);
  while (s->gen[j] == s->g) {
    if (s->k[j] == h) return 0;
    j = (j + 1) & (s->cap - 1);
  }
  s->gen[j] = s->g;
  s->k[j] = h;
  s->n++;
  return 1;
}

int cs__writer_init(cs_store *st) {
  cs__writer *w = calloc(1, sizeof(*w));
  if (!w) return -1;
  st->w = w;
  w->tc = calloc((size_t)1 << TCACHE_BITS, sizeof(tcache_ent));
  cs_arena_init(&w->pool, 16384, (size_t)64 << 20);
  w->stats = cs__statagg_new();
  if (!w->stats) return -1;
  if (!w->tc || hset_init(&w->dedup, 256) || hset_init(&w->names, 1024)) return -1;
  return 0;
}

void cs__writer_release(cs_store *st) {
  cs__writer *w = st->w;
  if (!w) return;
  free(w->tc);
  free(w->order);
  free(w->gid);
  free(w->gfirst);
  free(w->gcount);
  free(w->gslots);
  free(w->g);
  free(w->pending);
  free(w->terms);
  free(w->tslots);
  free(w->pents);
  free(w->runs);
  free(w->posts);
  cs_arena_release(&w->pool);
  cs__statagg_free(w->stats);
  hset_free(&w->dedup);
  hset_free(&w->names);
  cs_buf_free(&w->key);
  cs_buf_free(&w->val);
  free(w);
  st->w = NULL;
}

/* Puts the spans of each trace next to each other in w->order (traces in
 * order of first appearance, spans in batch order): a hash grouping, linear
 * in n, where a sort by trace ID cost 5% of the write path. */
static int group_by_trace(cs__writer *w, const cs_span *spans, size_t n) {
  size_t ns = 16;
  while (ns < n * 2) ns *= 2;
  if (ns > w->cap_gslots) {
    uint32_t *nsl = realloc(w->gslots, ns * sizeof(uint32_t));
    if (!nsl) return -1;
    w->gslots = nsl;
    w->cap_gslots = ns;
  }
  memset(w->gslots, 0, ns * sizeof(uint32_t));
  uint32_t ng = 0;
  for (size_t i = 0; i < n; i++) {
    const uint8_t *tid = spans[i].trace_id;
    size_t j = cs__hash(tid, 16, 0) & (ns - 1);
    for (;;) {
      uint32_t g = w->gslots[j];
      if (!g) {
        w->gfirst[ng] = (uint32_t)i;
        w->gcount[ng] = 0;
        w->gslots[j] = ++ng;
        g = ng;
      } else if (memcmp(spans[w->gfirst[g - 1]].trace_id, tid, 16) != 0) {
        j = (j + 1) & (ns - 1);
        continue;
      }
      w->gid[i] = g - 1;
      w->gcount[g - 1]++;
      break;
    }
  }
  uint32_t off = 0;
  for (uint32_t g = 0; g < ng; g++) { /* counts become start offsets */
    uint32_t c = w->gcount[g];
    w->gcount[g] = off;
    off += c;
  }
  for (size_t i = 0; i < n; i++) w->order[w->gcount[w->gid[i]]++] = &spans[i];
  return 0;
}

static tcache_ent *tcache_slot(cs__writer *w, const uint8_t id[16]) {
  /* Hashed rather than taken from the ID's bytes: not every client makes
   * random trace IDs. */
  uint64_t h = cs__hash(id, 16, 0);
  return &w->tc[h & (((size_t)1 << TCACHE_BITS) - 1)];
}

static cs_str svc_of(const cs_span *s) {
  return s->resource ? s->resource->service : CS_STR_LIT("unknown_service");
}

/* Hash of (type, a, b); lengths are mixed in so field splits differ. */
static uint64_t hash_str2(uint8_t type, cs_str a, cs_str b) {
  uint64_t h = cs__hash(a.p, a.n, ((uint64_t)type << 32) ^ a.n);
  return cs__hash(b.p, b.n, h ^ ((uint64_t)b.n << 8));
}

static void put_key(cs_store *st, rocksdb_column_family_handle_t *cf, const cs__key *k) {
  cs__writer *w = st->w;
  w->key.n = 0;
  cs__key_encode(&w->key, k);
  rocksdb_writebatch_put_cf(st->batch, cf, (const char *)w->key.p, w->key.n, "", 0);
}

static int terms_grow(cs__writer *w) {
  size_t nn = w->ntslots ? w->ntslots * 2 : 1024;
  uint32_t *ns = calloc(nn, sizeof(uint32_t));
  if (!ns) return -1;
  for (size_t i = 0; i < w->nterms; i++) {
    size_t j = w->terms[i].h & (nn - 1);
    while (ns[j]) j = (j + 1) & (nn - 1);
    ns[j] = (uint32_t)i + 1;
  }
  free(w->tslots);
  w->tslots = ns;
  w->ntslots = nn;
  return 0;
}

/* Finds or adds the batch's term (type, a, b); NULL when out of memory. */
static term *term_get(cs__writer *w, uint8_t type, cs_str a, cs_str b, uint64_t h, int copy) {
  if ((w->nterms + 1) * 2 > w->ntslots && terms_grow(w)) return NULL;
  size_t j = h & (w->ntslots - 1);
  while (w->tslots[j]) {
    term *t = &w->terms[w->tslots[j] - 1];
    if (t->h == h && t->type == type && cs__str_eq(t->a, a) && cs__str_eq(t->b, b)) return t;
    j = (j + 1) & (w->ntslots - 1);
  }
  if (w->nterms == w->capterms) {
    size_t nc = w->capterms ? w->capterms * 2 : 256;
    term *nt = realloc(w->terms, nc * sizeof(term));
    if (!nt) return NULL;
    w->terms = nt;
    w->capterms = nc;
  }
  if (copy) { /* formatted values live on the caller's stack */
    char *pa = cs_arena_strndup(&w->pool, a.p, a.n), *pb = cs_arena_strndup(&w->pool, b.p, b.n);
    if (!pa || !pb) return NULL;
    a.p = pa;
    b.p = pb;
  }
  term *t = &w->terms[w->nterms];
  *t = (term){type, a, b, h, 0};
  w->tslots[j] = (uint32_t)++w->nterms;
  return t;
}

/* Adds the trace to a posting term unless this trace group already did
 * (h = hash_str2(type, a, b)); returns 1 when it was new. */
static int index_entry_h(cs_store *st, rocksdb_column_family_handle_t *cf, const group *g,
                         const uint8_t trace_id[16], uint8_t type, cs_str a, cs_str b,
                         uint64_t h, int copy) {
  cs__writer *w = st->w;
  if (!hset_add(&w->dedup, h)) return 0;
  term *t = term_get(w, type, a, b, h, copy);
  if (!t) {
    w->err = CS_STORE_ENOMEM;
    return 1;
  }
  if (w->npents >= w->cappents) {
    size_t nc = w->cappents ? w->cappents * 2 : 4096;
    pent *np = realloc(w->pents, nc * sizeof(pent));
    if (!np) {
      w->err = CS_STORE_ENOMEM;
      return 1;
    }
    w->pents = np;
    w->cappents = nc;
  }
  w->pents[w->npents] = (pent){t->head, cf, g->start, trace_id};
  t->head = (uint32_t)w->npents++;
  return 1;
}

static void index_entry(cs_store *st, rocksdb_column_family_handle_t *cf, const group *g,
                        const uint8_t trace_id[16], uint8_t type, cs_str a, cs_str b, int copy) {
  index_entry_h(st, cf, g, trace_id, type, a, b, hash_str2(type, a, b), copy);
}

static int cmp_run(const void *x, const void *y) {
  const run_ent *a = x, *b = y;
  if (a->cf != b->cf) return (uintptr_t)a->cf < (uintptr_t)b->cf ? -1 : 1;
  uint64_t sa = a->p.start_ns >> CS__SLOT_SHIFT, sb = b->p.start_ns >> CS__SLOT_SHIFT;
  return sa < sb ? -1 : sa > sb;
}

/* Emits one merge operand per (term, bucket, slot) of the batch. */
static int write_postings(cs_store *st) {
  cs__writer *w = st->w;
  for (size_t ti = 0; ti < w->nterms; ti++) {
    term *t = &w->terms[ti];
    size_t n = 0;
    for (uint32_t e = t->head; e; e = w->pents[e].next) n++;
    if (n > w->capruns) {
      run_ent *nr = realloc(w->runs, n * sizeof(run_ent));
      if (nr) w->runs = nr;
      cs__post *np = realloc(w->posts, n * sizeof(cs__post));
      if (np) w->posts = np;
      if (!nr || !np) return CS_STORE_ENOMEM;
      w->capruns = n;
    }
    n = 0;
    for (uint32_t e = t->head; e; e = w->pents[e].next) {
      run_ent *r = &w->runs[n++];
      r->cf = w->pents[e].cf;
      r->p.start_ns = w->pents[e].start;
      memcpy(r->p.tid, w->pents[e].tid, 16);
      r->p.src = 0;
    }
    if (n > 1) qsort(w->runs, n, sizeof(run_ent), cmp_run);
    int nf = cs__key_newest_first(t->type);
    for (size_t i = 0; i < n;) {
      size_t j = i;
      uint64_t slot = w->runs[i].p.start_ns >> CS__SLOT_SHIFT;
      size_t m = 0;
      while (j < n && w->runs[j].cf == w->runs[i].cf &&
             w->runs[j].p.start_ns >> CS__SLOT_SHIFT == slot)
        w->posts[m++] = w->runs[j++].p;
      m = cs__post_sort(w->posts, m, nf);
      cs__key k = {.type = t->type, .a = t->a, .b = t->b, .slot = slot};
      w->key.n = 0;
      cs__key_encode(&w->key, &k);
      w->val.n = 0;
      cs__post_encode(w->posts, m, nf, &w->val);
      if (w->key.err || w->val.err) return CS_STORE_ENOMEM;
      rocksdb_writebatch_merge_cf(st->batch, w->runs[i].cf, (const char *)w->key.p, w->key.n,
                                  (const char *)w->val.p, w->val.n);
      i = j;
    }
  }
  return 0;
}

/* Writes a service or operation name to the default family the first time
 * this process sees it (rewrites are harmless, so the set may forget). */
static void name_entry(cs_store *st, uint8_t type, cs_str a, cs_str b, uint8_t kind, uint64_t h) {
  cs__writer *w = st->w;
  if (hset_has(&w->names, h)) return;
  for (size_t i = 0; i < w->npending; i++)
    if (w->pending[i] == h) return;
  if (w->npending == w->cap_pending) {
    size_t nc = w->cap_pending ? w->cap_pending * 2 : 64;
    uint64_t *np = realloc(w->pending, nc * sizeof(uint64_t));
    if (!np) goto put; /* still write it, just do not remember it */
    w->pending = np;
    w->cap_pending = nc;
  }
  w->pending[w->npending++] = h;
put:;
  cs__key k = {.type = type, .a = a, .b = b, .kind = kind};
  put_key(st, st->def, &k);
}

static void attr_entries(cs_store *st, rocksdb_column_family_handle_t *cf, const group *g,
                         const uint8_t *tid, const cs_attr *at, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    for (size_t j = 0; j < st->n_index_keys; j++) {
      if (!cs__str_eq(at[i].key, st->index_keys[j])) continue;
      char num[32];
      cs_str v;
      if (at[i].type == CS_VAL_STR) {
        v = at[i].v.s;
      } else if (at[i].type == CS_VAL_INT) {
        int len = snprintf(num, sizeof(num), "%lld", (long long)at[i].v.i);
        v = (cs_str){num, (uint32_t)len};
      } else if (at[i].type == CS_VAL_BOOL) {
        v = at[i].v.b ? CS_STR_LIT("true") : CS_STR_LIT("false");
      } else {
        continue;
      }
      index_entry(st, cf, g, tid, CS__K_ATTR, st->index_keys[j], v, at[i].type != CS_VAL_STR);
    }
  }
}

static int write_group(cs_store *st, group *g, rocksdb_column_family_handle_t *cf) {
  cs__writer *w = st->w;
  const cs_span *const *sp = w->order + g->first;
  const uint8_t *tid = sp[0]->trace_id;

  /* The chunk ID is order-independent, so an identical resent batch
   * rewrites the same key and its summary operand is recognised. */
  uint64_t cid = 0;
  for (size_t i = 0; i < g->n; i++) cid += cs__hash(sp[i]->span_id, 8, 0) | 1;
  cid ^= g->n * 0x9E3779B97F4A7C15ULL;
  g->cid = (uint32_t)cid;
  /* Everything below is idempotent except the latency statistics, which
   * a resent batch would count twice: skip them for a chunk the writer
   * wrote recently (a resend after a restart still counts twice). */
  g->resent = 0;
  if (g->hit) {
    const tcache_ent *ce = tcache_slot(w, tid);
    for (uint8_t i = 0; i < ce->ncid; i++)
      if (ce->cids[i] == g->cid) g->resent = 1;
  }

  w->val.n = 0;
  int rc = cs__chunk_encode(st->enc, sp, g->n, &w->val);
  if (rc) return rc;
  cs__key k = {.type = CS__K_CHUNK, .chunk_id = cid};
  memcpy(k.trace_id, tid, 16);
  w->key.n = 0;
  cs__key_encode(&w->key, &k);
  rocksdb_writebatch_put_cf(st->batch, cf, (const char *)w->key.p, w->key.n,
                            (const char *)w->val.p, w->val.n);

  cs__sum sum;
  cs__sum_init(&sum);
  sum.start_ns = g->cmin;
  sum.end_ns = g->cmax;
  sum.n_spans = (uint32_t)g->n;
  sum.ids[0] = (uint32_t)cid;
  sum.n_ids = 1;
  hset_clear(&w->dedup);
  for (size_t i = 0; i < g->n; i++) {
    const cs_span *s = sp[i];
    cs_str svc = svc_of(s);
    if (s->status_code == CS_STATUS_ERROR) sum.n_errors++;
    if (!g->resent && cs__statagg_add(w->stats, cf, s, svc)) w->err = CS_STORE_ENOMEM;
    if (cs_span_is_root(s) && (!sum.has_root || s->start_ns < sum.root_start)) {
      sum.has_root = 1;
      sum.root_start = s->start_ns;
      sum.root_svc = svc;
      sum.root_name = s->name;
    }
    cs__sum_offer_first(&sum, s->start_ns, svc, s->name);
    /* Consecutive spans mostly share a resource: only a new one can bring
     * a new service. */
    if (i == 0 || s->resource != sp[i - 1]->resource) {
      cs_str none = {"", 0};
      uint64_t hs = hash_str2(CS__K_SERVICE, svc, none);
      if (index_entry_h(st, cf, g, tid, CS__K_SERVICE, svc, none, hs, 0)) {
        cs__sum_add_service(&sum, svc);
        name_entry(st, CS__K_SVCNAME, svc, none, 0, hs);
      }
    }
    uint64_t ho = hash_str2(CS__K_OP, svc, s->name);
    index_entry_h(st, cf, g, tid, CS__K_OP, svc, s->name, ho, 0);
    uint64_t hk = ho ^ ((uint64_t)(s->kind + 1) * 0x9E3779B97F4A7C15ULL);
    if (hset_add(&w->dedup, hk)) name_entry(st, CS__K_OPNAME, svc, s->name, s->kind, hk);
    if (s->session_id.n)
      index_entry(st, cf, g, tid, CS__K_SESSION, s->session_id, (cs_str){"", 0}, 0);
    if (st->n_index_keys) {
      attr_entries(st, cf, g, tid, s->attrs, s->n_attrs);
      if (s->resource && (i == 0 || sp[i - 1]->resource != s->resource))
        attr_entries(st, cf, g, tid, s->resource->attrs, s->resource->n_attrs);
    }
  }
  w->val.n = 0;
  cs__sum_encode(&sum, &w->val);
  k = (cs__key){.type = CS__K_SUMMARY};
  memcpy(k.trace_id, tid, 16);
  w->key.n = 0;
  cs__key_encode(&w->key, &k);
  rocksdb_writebatch_merge_cf(st->batch, cf, (const char *)w->key.p, w->key.n,
                              (const char *)w->val.p, w->val.n);

  if (!g->hit || g->start_changed) {
    k = (cs__key){.type = CS__K_ALL, .start_ns = g->start};
    memcpy(k.trace_id, tid, 16);
    put_key(st, cf, &k);
  }
  /* One duration entry per change of the merged duration; readers drop the
   * entries that no longer match the summary. */
  if (!g->hit || g->start_changed || g->end_changed) {
    k = (cs__key){.type = CS__K_DURATION, .start_ns = g->start,
                  .duration_ns = g->end > g->start ? g->end - g->start : 0};
    memcpy(k.trace_id, tid, 16);
    put_key(st, cf, &k);
  }
  if (w->key.err || w->val.err) return CS_STORE_ENOMEM;
  return 0;
}

/* Finds the bucket for start_s, creating it if needed, or the nearest
 * existing one once CS__MAX_BUCKETS exist. Caller holds no lock. */
static int ensure_bucket(cs_store *st, uint64_t *start_s) {
  cs__rdlock(st);
  int found = cs__bucket_find(st, *start_s) != NULL;
  if (!found && st->nb >= CS__MAX_BUCKETS) {
    size_t best = 0;
    uint64_t bd = UINT64_MAX;
    for (size_t i = 0; i < st->nb; i++) {
      uint64_t d = st->b[i].start_s > *start_s ? st->b[i].start_s - *start_s
                                               : *start_s - st->b[i].start_s;
      if (d < bd) bd = d, best = i;
    }
    *start_s = st->b[best].start_s;
    found = 1;
  }
  cs__rdunlock(st);
  return found ? 0 : cs__bucket_create(st, *start_s);
}

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Once a write failed for lack of space, RocksDB refuses all writes until
 * it has recovered, which needs the headroom free. Building a batch only
 * to have it refused costs the writer's CPU, so attempt for real only
 * when statvfs shows the headroom, or every CS__NOSPACE_PROBE_MS in case
 * statvfs and RocksDB disagree (quotas, another file system's view). */
static int nospace_gate(cs_store *st) {
  if (!atomic_load(&st->nospace)) return 0;
  uint64_t now = mono_ms();
  cs_store_space sp;
  int room = cs_store_space_get(st, &sp) == 0 && sp.free_bytes >= sp.headroom_bytes;
  if (!room && now < st->nospace_probe_ms) return CS_STORE_ENOSPC;
  st->nospace_probe_ms = now + CS__NOSPACE_PROBE_MS;
  return 0;
}

/* A failing store fails every batch: one line per CS__NOSPACE_PROBE_MS,
 * with the number of failures not logged since the last one. */
static void log_write_error(cs_store *st, const char *e) {
  uint64_t dropped;
  if (!cs_lograte_take(&st->werr_log, mono_ms(), 1, CS__NOSPACE_PROBE_MS, &dropped)) return;
  if (dropped)
    cs_log(CS_LOG_ERROR, "store", "write failed: %s (and %llu more failed writes not logged)", e,
           (unsigned long long)dropped);
  else
    cs_log(CS_LOG_ERROR, "store", "write failed: %s", e);
}

int cs_store_write(cs_store *st, const cs_span *spans, size_t n) {
  if (st->secondary) return CS_STORE_EREADONLY;
  if (n == 0) return 0;
  if (!spans) return CS_STORE_EINVAL;
  int gate = nospace_gate(st);
  if (gate) return gate;
  cs__writer *w = st->w;
  if (n > w->cap_order) {
    const cs_span **no = realloc(w->order, n * sizeof(*no));
    group *ng = realloc(w->g, n * sizeof(*ng));
    if (no) w->order = no;
    if (ng) w->g = ng;
    uint32_t *a = realloc(w->gid, n * sizeof(uint32_t));
    if (a) w->gid = a;
    uint32_t *b = realloc(w->gfirst, n * sizeof(uint32_t));
    if (b) w->gfirst = b;
    uint32_t *c = realloc(w->gcount, n * sizeof(uint32_t));
    if (c) w->gcount = c;
    if (!no || !ng || !a || !b || !c) return CS_STORE_ENOMEM;
    w->cap_order = w->cap_g = n;
  }
  if (n > UINT32_MAX / 2 || group_by_trace(w, spans, n)) return CS_STORE_ENOMEM;

  /* Pass 1: trace groups, their extents and buckets. */
  size_t ng = 0;
  uint64_t horizon = atomic_load(&st->horizon_s);
  for (size_t i = 0; i < n;) {
    group *g = &w->g[ng++];
    memset(g, 0, sizeof(*g));
    g->first = i;
    g->cmin = UINT64_MAX;
    const uint8_t *tid = w->order[i]->trace_id;
    for (; i < n && memcmp(w->order[i]->trace_id, tid, 16) == 0; i++) {
      const cs_span *s = w->order[i];
      if (s->start_ns < g->cmin) g->cmin = s->start_ns;
      if (s->end_ns > g->cmax) g->cmax = s->end_ns;
    }
    g->n = i - g->first;
    tcache_ent *ce = tcache_slot(w, tid);
    g->hit = ce->used && memcmp(ce->id, tid, 16) == 0;
    if (g->hit) {
      g->start = g->cmin < ce->start ? g->cmin : ce->start;
      g->end = g->cmax > ce->end ? g->cmax : ce->end;
      g->start_changed = g->start != ce->start;
      g->end_changed = g->end != ce->end;
      g->bucket_s = ce->bucket_s;
    } else {
      g->start = g->cmin;
      g->end = g->cmax;
      uint64_t s = g->cmin / 1000000000u;
      g->bucket_s = s - s % st->width_s;
    }
    /* Data older than the last expiry would recreate a dropped bucket. */
    if (horizon && g->bucket_s + st->width_s <= horizon) g->skip = 1;
  }

  /* Pass 2: make sure every bucket exists (takes the lock exclusively only
   * when one must be created). */
  uint64_t last = UINT64_MAX;
  for (size_t i = 0; i < ng; i++) {
    if (w->g[i].skip) continue;
    if (w->g[i].bucket_s == last) continue;
    uint64_t want = w->g[i].bucket_s;
    int rc = ensure_bucket(st, &w->g[i].bucket_s);
    if (rc == CS_STORE_ENOSPC) atomic_store(&st->nospace, 1);
    if (rc) return rc;
    if (w->g[i].bucket_s == want) last = want;
  }

  /* Pass 3: build and commit the batch under the shared lock. */
  int rc = 0;
  size_t written = 0;
  w->npending = 0;
  w->nterms = 0;
  w->npents = 1;
  w->err = 0;
  if (w->ntslots) memset(w->tslots, 0, w->ntslots * sizeof(uint32_t));
  cs_arena_reset(&w->pool);
  cs__statagg_reset(w->stats);
  rocksdb_writebatch_clear(st->batch);
  cs__rdlock(st);
  for (size_t i = 0; i < ng && !rc; i++) {
    group *g = &w->g[i];
    if (g->skip) continue;
    cs__bucket *b = cs__bucket_find(st, g->bucket_s);
    if (!b) { /* expired between passes */
      g->skip = 1;
      continue;
    }
    rc = write_group(st, g, b->cf);
    written += g->n;
  }
  if (!rc) rc = w->err;
  if (!rc) rc = write_postings(st);
  if (!rc) rc = cs__statagg_flush(w->stats, st->batch);
  if (!rc) cs__gdict_put_pending(st->gd, st->batch, st->def);
  if (!rc) {
    char *e = NULL;
    rocksdb_write(st->db, st->wo, st->batch, &e);
    if (e) {
      rc = cs__rocksdb_rc(e);
      /* Out of space, only the first failure says so (the collector logs
       * the state); other failures are rate-limited. */
      if (rc != CS_STORE_ENOSPC || !atomic_load(&st->nospace)) log_write_error(st, e);
      free(e);
    }
  }
  cs__rdunlock(st);
  rocksdb_writebatch_clear(st->batch);
  cs__gdict_commit(st->gd, rc == 0);
  if (rc == CS_STORE_ENOSPC) atomic_store(&st->nospace, 1);
  if (rc) return rc;
  if (atomic_load(&st->nospace)) atomic_store(&st->nospace, 0);

  for (size_t i = 0; i < ng; i++) {
    group *g = &w->g[i];
    if (g->skip) continue;
    tcache_ent *ce = tcache_slot(w, w->order[g->first]->trace_id);
    if (!g->hit) ce->ncid = ce->cpos = 0;
    memcpy(ce->id, w->order[g->first]->trace_id, 16);
    ce->start = g->start;
    ce->end = g->end;
    ce->bucket_s = g->bucket_s;
    ce->used = 1;
    if (!g->resent) {
      ce->cids[ce->cpos] = g->cid;
      ce->cpos = (uint8_t)((ce->cpos + 1) % 4);
      if (ce->ncid < 4) ce->ncid++;
    }
  }
  if (w->names.n + w->npending > 65536) hset_clear(&w->names); /* bound memory */
  for (size_t i = 0; i < w->npending; i++) hset_add(&w->names, w->pending[i]);
  atomic_fetch_add(&st->batches_written, 1);
  atomic_fetch_add(&st->spans_written, written);
  return 0;
}
