/* The one RocksDB merge operator of the store: summary keys fold summary
 * operands, posting keys take the sorted union of posting lists, stats rows
 * add up. The key's type byte picks the rule. */
#include <rocksdb/c.h>

#include "internal.h"
#include "keys.h"
#include "posting.h"
#include "stats.h"
#include "summary.h"

static char *merge(const char *key, size_t klen, const char *existing, size_t elen,
                   const char *const *ops, const size_t *olens, int nops,
                   unsigned char *success, size_t *new_len) {
  char *v = NULL;
  if (klen > 0 && (uint8_t)key[0] == CS__K_SUMMARY)
    v = cs__sum_merge_values(existing, elen, ops, olens, nops, new_len);
  else if (klen > 0 && (uint8_t)key[0] == CS__K_STATS)
    v = cs__stats_merge(existing, elen, ops, olens, nops, new_len);
  else
    v = cs__post_merge((const uint8_t *)key, klen, existing, elen, ops, olens, nops, new_len);
  *success = v != NULL;
  return v;
}

static char *full_merge(void *st, const char *key, size_t klen, const char *existing,
                        size_t elen, const char *const *ops, const size_t *olens, int nops,
                        unsigned char *success, size_t *new_len) {
  return merge(key, klen, existing, elen, ops, olens, nops, success, new_len);
}

static char *partial_merge(void *st, const char *key, size_t klen, const char *const *ops,
                           const size_t *olens, int nops, unsigned char *success,
                           size_t *new_len) {
  return merge(key, klen, NULL, 0, ops, olens, nops, success, new_len);
}

static void delete_value(void *st, const char *v, size_t n) { free((void *)v); }
static void destroy(void *st) {}
static const char *name(void *st) { return "cs_store_merge_v1"; }

void *cs__merge_operator(void) {
  return rocksdb_mergeoperator_create(NULL, destroy, full_merge, partial_merge, delete_value,
                                      name);
}
