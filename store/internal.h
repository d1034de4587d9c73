/* The store's private state, shared by store.c (open, buckets, retention),
 * write.c (the writer path) and read.c (the reader paths). */
#ifndef CS_STORE_INTERNAL_H
#define CS_STORE_INTERNAL_H

#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>

#include "chunk.h"
#include "codec.h"
#include "gdict.h"
#include "log.h"
#include "store.h"

/* Chunk and summary keys share this prefix: type, version, trace ID. */
#define CS__PREFIX_LEN 18

/* Beyond this many buckets, new data goes to the nearest existing bucket
 * instead of creating one more (spans with absurd timestamps must not make
 * thousands of column families). */
#define CS__MAX_BUCKETS 256

typedef struct cs__bucket {
  uint64_t start_s, width_s;
  rocksdb_column_family_handle_t *cf;
} cs__bucket;

typedef struct cs__writer cs__writer;

struct cs_store {
  rocksdb_t *db;
  rocksdb_options_t *opts;
  rocksdb_block_based_table_options_t *bbo;
  rocksdb_cache_t *cache;
  void *merge_op;
  rocksdb_slicetransform_t *prefix;
  rocksdb_writeoptions_t *wo;
  rocksdb_readoptions_t *ro_prefix; /* prefix_same_as_start: one trace */
  rocksdb_readoptions_t *ro_total;  /* total order: index scans, names */
  rocksdb_column_family_handle_t *def;

  /* Buckets sorted by start; the array and the handles are guarded by lock
   * (readers and the writer take it shared, bucket creation, expiry and a
   * secondary's reopen take it exclusive). */
  pthread_rwlock_t lock;
  cs__bucket *b;
  size_t nb, capb;
  uint64_t width_s;
  _Atomic uint64_t horizon_s; /* data before this was expired */

  char *dir, *sdir;
  int secondary;
  /* Secondary: the primary's CURRENT file (its MANIFEST name) when this
   * instance last opened; a new name means the primary was reopened. */
  char manifest[64];
  uint64_t retention_s;
  cs_str *index_keys;
  size_t n_index_keys;

  cs__gdict *gd; /* global string dictionary: readers and the writer */

  /* Writer-thread state. */
  rocksdb_writebatch_t *batch;
  cs__chunk_enc *enc;
  cs__writer *w;

  _Atomic uint64_t batches_written, spans_written;

  /* Out of space (writer thread sets and clears; any thread reads):
   * set by a write that failed for lack of space, cleared by the next one
   * that succeeds. While set, writes are attempted for real only when
   * statvfs shows the headroom or every CS__NOSPACE_PROBE_MS. */
  _Atomic int nospace;
  uint64_t nospace_probe_ms; /* next real attempt (monotonic ms) */
  uint64_t headroom_bytes;   /* RocksDB's reserved disk buffer */
  cs_lograte werr_log; /* write errors: one line per CS__NOSPACE_PROBE_MS */
};

#define CS__NOSPACE_PROBE_MS 5000

/* Shared lock on the bucket list, re-entrant within one thread. */
void cs__rdlock(cs_store *st);
void cs__rdunlock(cs_store *st);
cs__bucket *cs__bucket_find(cs_store *st, uint64_t start_s);
int cs__bucket_create(cs_store *st, uint64_t start_s);
void cs__log_rocksdb(const char *what, const char *detail);
/* CS_STORE_ENOSPC when a RocksDB error message says the disk is full,
 * CS_STORE_EIO otherwise. */
int cs__rocksdb_rc(const char *err);
int cs__writer_init(cs_store *st);
void *cs__merge_operator(void); /* rocksdb_mergeoperator_t* (merge.c) */
void cs__writer_release(cs_store *st);

#endif
