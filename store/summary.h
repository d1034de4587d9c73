/* Per-trace summaries. Every batch writes one summary operand per trace it
 * touches; a RocksDB merge operator folds them into one value, so the
 * summary of a trace whose spans arrive in many batches is read with one
 * Get and never needs a read before a write.
 *
 * Trusted sizes on decode: none from the value. Service and chunk-ID counts
 * above CS__SUM_MAX_SERVICES and CS__SUM_MAX_IDS make the value corrupt
 * (they are never written), so decoding needs no allocation; every read
 * goes through cs__rd (store/codec.h). */
#ifndef CS_STORE_SUMMARY_H
#define CS_STORE_SUMMARY_H

#include "codec.h"

/* Version 2 adds the earliest span's service and operation (so a trace
 * whose root never arrived can still be named); version 1 values already
 * on disk decode with no earliest span and merge with version 2 ones. */
#define CS__SUM_VERSION 2
#define CS__SUM_MAX_SERVICES 64 /* services kept per trace; more are dropped */
#define CS__SUM_MAX_IDS 32      /* chunk IDs remembered to make resends harmless */

typedef struct cs__sum {
  uint64_t start_ns; /* UINT64_MAX while empty */
  uint64_t end_ns;
  uint32_t n_spans, n_errors;
  int has_root;
  uint64_t root_start;
  cs_str root_svc, root_name;
  int has_first; /* the earliest span: least (start, service, name) */
  uint64_t first_start;
  cs_str first_svc, first_name;
  uint32_t n_svcs;
  cs_str svcs[CS__SUM_MAX_SERVICES]; /* sorted, distinct */
  uint32_t n_ids;
  uint32_t ids[CS__SUM_MAX_IDS]; /* oldest first */
} cs__sum;

void cs__sum_init(cs__sum *s);

/* Adds a service name (kept sorted and distinct). */
void cs__sum_add_service(cs__sum *s, cs_str svc);

/* Offers a span as the earliest one: kept when it starts before the one
 * held (ties go to the smaller service, then name, so any merge order
 * gives the same answer). Strings are views, not copied. */
void cs__sum_offer_first(cs__sum *s, uint64_t start_ns, cs_str svc, cs_str name);

/* Folds src into dst. A src whose chunk IDs were all seen already is a
 * resent batch: its counts are not added again. Strings stay views into
 * src's bytes. */
void cs__sum_merge(cs__sum *dst, const cs__sum *src);

void cs__sum_encode(const cs__sum *s, cs_buf *out);

/* Strings point into p. 0 or -1 when corrupt. */
int cs__sum_decode(const void *p, size_t n, cs__sum *s);

/* Folds an existing value (may be NULL) and operands into a malloc'd
 * value; NULL when out of memory. Corrupt inputs are skipped. */
char *cs__sum_merge_values(const char *existing, size_t elen, const char *const *ops,
                           const size_t *olens, int nops, size_t *new_len);

#endif
