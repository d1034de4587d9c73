/* Internal side of the per-minute latency statistics (stats.c): the value
 * codec, the merge rule and the writer's per-batch aggregation. The public
 * read API is in store.h. */
#ifndef CS_STORE_STATS_H
#define CS_STORE_STATS_H

#include <rocksdb/c.h>

#include "codec.h"
#include "store.h"

typedef struct cs__stats {
  uint64_t count, errors, sum_ns, max_ns;
  uint32_t n; /* non-empty buckets, ascending */
  uint16_t bucket[CS_STATS_BUCKETS];
  uint64_t bucket_count[CS_STATS_BUCKETS];
} cs__stats;

void cs__stats_encode(const cs__stats *s, cs_buf *out);
int cs__stats_decode(const void *v, size_t n, cs__stats *s);

/* Adds rows up (existing may be NULL); a malloc'd value, NULL when out of
 * memory. Corrupt inputs are skipped. */
char *cs__stats_merge(const char *existing, size_t elen, const char *const *ops,
                      const size_t *olens, int nops, size_t *new_len);

/* Per-batch aggregation in the writer: rows keyed by (bucket, service,
 * operation, kind, minute); flush adds one merge operand per row. */
typedef struct cs__statagg cs__statagg;
cs__statagg *cs__statagg_new(void);
void cs__statagg_free(cs__statagg *a);
void cs__statagg_reset(cs__statagg *a);
int cs__statagg_add(cs__statagg *a, rocksdb_column_family_handle_t *cf, const cs_span *s,
                    cs_str svc);
int cs__statagg_flush(cs__statagg *a, rocksdb_writebatch_t *wb);

#endif
