/* Per-minute latency sketches for the dependency edges (deps.c): for each
 * (key, operation, minute) a count, an error count, the exact maximum and
 * a log-bucket sketch of durations whose quantiles are within 0.5% of the
 * exact value (buckets grow by gamma = 1.005/0.995, DDSketch's rule).
 * Sketches merge by adding counts, so an hour is 60 merges instead of a
 * scan. Minutes are filled by scanning the store once and cached when they
 * are closed. (Per-operation statistics come from the store's own rows,
 * stats_store.c.) */
#ifndef CS_QUERY_AGG_H
#define CS_QUERY_AGG_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define CS_SK_BUCKETS 4400 /* enough for 1 ns .. 2^63 ns */

typedef struct cs_sk_pair {
  uint16_t idx;
  uint32_t n;
} cs_sk_pair;

typedef struct cs_agg_entry {
  uint32_t svc, op, minute;
  uint8_t kind;
  int32_t next; /* next entry of the same (service, minute); -1 ends */
  uint64_t count, errors, max_ns;
  cs_sk_pair *b; /* sorted by idx */
  uint32_t nb, capb;
} cs_agg_entry;

typedef struct cs_amap {
  uint64_t *ka, *kb;
  uint32_t *val; /* value + 1; 0 = empty */
  size_t cap, n;
} cs_amap;

typedef struct cs_agg {
  pthread_rwlock_t lock; /* callers take it; the functions below do not */
  cs_amap strs_by_hash;  /* unused slot kept for layout clarity */
  char **strs;           /* interned strings by id */
  uint32_t *str_len;
  size_t n_strs, cap_strs;
  cs_amap str_index;     /* (hash, len) -> id + 1 */
  cs_agg_entry *e;
  size_t n_e, cap_e;
  cs_amap entries;       /* (svc<<32|op, kind<<32|minute) -> entry */
  cs_amap heads;         /* (svc, minute) -> first entry; bit 31 of the value = filled */
  size_t pairs;          /* bucket pairs held, for the memory cap */
  size_t max_pairs;
  int full;              /* the cap was hit: no more inserts */
} cs_agg;

int cs_agg_init(cs_agg *g, size_t max_pairs);
void cs_agg_release(cs_agg *g);

/* Bucket of a duration and a bucket's representative value. */
uint16_t cs_sk_index(uint64_t ns);
uint64_t cs_sk_value(uint16_t idx);

/* Interned string ID, or -1 (create = 0 and unknown, or out of memory). */
int64_t cs_agg_str(cs_agg *g, const char *p, size_t n, int create);

/* Adds one span's duration. Returns 0, or -1 when full or out of memory. */
int cs_agg_add(cs_agg *g, uint32_t svc, uint32_t op, uint8_t kind, uint32_t minute, uint64_t dur,
               int err);

/* Adds n durations known only by their bucket (merging sketches), with
 * their error count and maximum. */
int cs_agg_add_bucket(cs_agg *g, uint32_t svc, uint32_t op, uint8_t kind, uint32_t minute,
                      uint16_t idx, uint32_t n, uint32_t errs, uint64_t max_ns);

/* Adds entry e of another aggregate (strings re-interned here). */
int cs_agg_merge_entry(cs_agg *g, const cs_agg *src, const cs_agg_entry *e);

/* First entry of (service, minute), -1 when none; *filled tells whether a
 * scan filled that minute. */
int32_t cs_agg_head(const cs_agg *g, uint32_t svc, uint32_t minute, int *filled);
void cs_agg_mark_filled(cs_agg *g, uint32_t svc, uint32_t minute);

/* A merge buffer: bucket counts of any number of entries, with the exact
 * count, errors and maximum. Zero it once (calloc); clear after use. */
typedef struct cs_sk_dense {
  uint64_t c[CS_SK_BUCKETS];
  uint64_t count, errors, max_ns;
  uint16_t lo, hi; /* touched bucket range, so walks skip empty ends */
} cs_sk_dense;
void cs_sk_dense_add(cs_sk_dense *d, const cs_agg_entry *e);
void cs_sk_dense_clear(cs_sk_dense *d);
/* p50, p90, p95 and p99 (nearest rank, capped at the exact maximum). */
void cs_sk_dense_quantiles(const cs_sk_dense *d, uint64_t out[4]);

/* The same walk over any log-bucketed counts: c[lo..hi] holds count values
 * in all, value(i) is bucket i's representative, and no answer exceeds
 * max_ns. Shared by the dependency sketches and the store's stats rows. */
void cs_quantiles4(const uint64_t *c, uint32_t lo, uint32_t hi, uint64_t count,
                   uint64_t max_ns, uint64_t (*value)(uint16_t), uint64_t out[4]);

/* Drops every entry (at the memory cap); caller holds the write lock. */
void cs_agg_clear(cs_agg *g);

#endif
