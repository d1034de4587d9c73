/* The storage module: the one place that talks to RocksDB. Data lives in
 * time-bucketed column families (one per bucket of trace start time) so
 * retention drops whole buckets; names of services and operations live in
 * the default column family. docs/storage.md explains the layout. */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "chunk.h"
#include "internal.h"
#include "keys.h"
#include "log.h"
#include "session.h"
#include "summary.h"

const char *cs_store_strerror(int err) {
  switch (err) {
  case CS_STORE_OK:
    return "ok";
#define CS_STORE_MSG(name, val, msg) \
  case CS_STORE_##name:              \
    return msg;
    CS_STORE_ERRNO_MAP(CS_STORE_MSG)
#undef CS_STORE_MSG
  }
  return "unknown storage error";
}

/* ---- open / close ---------------------------------------------------- */

static unsigned char px_in_domain(void *st, const char *k, size_t n) {
  return n >= CS__PREFIX_LEN && (k[0] == CS__K_CHUNK || k[0] == CS__K_SUMMARY) &&
         k[1] == CS__KEY_VERSION;
}
static char *px_transform(void *st, const char *k, size_t n, size_t *out) {
  *out = CS__PREFIX_LEN;
  return (char *)k;
}
static unsigned char px_in_range(void *st, const char *k, size_t n) { return 0; }
static void px_destroy(void *st) {}
static const char *px_name(void *st) { return "cs_trace_prefix_v1"; }

static void set_err(char *err, size_t errlen, const char *what, const char *detail) {
  if (err && errlen) snprintf(err, errlen, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
}

/* Parses "b<width>_<start>" bucket names; 0 when name is a bucket. */
static int parse_bucket(const char *name, uint64_t *width, uint64_t *start) {
  if (name[0] != 'b') return -1;
  char *end;
  errno = 0;
  unsigned long long w = strtoull(name + 1, &end, 10);
  if (errno || *end != '_' || w == 0) return -1;
  unsigned long long s = strtoull(end + 1, &end, 10);
  if (errno || *end) return -1;
  *width = w;
  *start = s;
  return 0;
}

static int bucket_cmp(const void *a, const void *b) {
  const cs__bucket *x = a, *y = b;
  return x->start_s < y->start_s ? -1 : x->start_s > y->start_s;
}

static void free_buckets(cs_store *st) {
  for (size_t i = 0; i < st->nb; i++) rocksdb_column_family_handle_destroy(st->b[i].cf);
  st->nb = 0;
  if (st->def) rocksdb_column_family_handle_destroy(st->def);
  st->def = NULL;
}

/* Reads the name of the primary's live MANIFEST from its CURRENT file into
 * out (empty when unreadable). Every open of a primary writes a new
 * MANIFEST, so the name identifies one run of the primary. */
static void read_current(const cs_store *st, char *out, size_t n) {
  out[0] = 0;
  char path[4096];
  if ((size_t)snprintf(path, sizeof(path), "%s/CURRENT", st->dir) >= sizeof(path)) return;
  FILE *f = fopen(path, "r");
  if (!f) return;
  size_t got = fread(out, 1, n - 1, f);
  fclose(f);
  out[got] = 0;
}

/* Opens the database with every column family it has. */
static int open_db(cs_store *st, char *err, size_t errlen) {
  char *e = NULL;
  size_t ncf = 0;
  char **names = rocksdb_list_column_families(st->opts, st->dir, &ncf, &e);
  if (e) { /* a new database: only the default family */
    free(e);
    e = NULL;
    free(names); /* RocksDB returns an empty malloc'd array even on error */
    names = NULL;
    ncf = 0;
    if (st->secondary) {
      set_err(err, errlen, "cannot open secondary: no primary database at", st->dir);
      return CS_STORE_EIO;
    }
  }
  size_t n = ncf ? ncf : 1;
  const char **cfn = calloc(n, sizeof(char *));
  const rocksdb_options_t **cfo = calloc(n, sizeof(void *));
  rocksdb_column_family_handle_t **h = calloc(n, sizeof(void *));
  cs__bucket *nbk = calloc(n, sizeof(cs__bucket));
  int rc = CS_STORE_ENOMEM;
  if (!cfn || !cfo || !h || !nbk) goto out;
  for (size_t i = 0; i < n; i++) {
    cfn[i] = ncf ? names[i] : "default";
    cfo[i] = st->opts;
  }
  /* Read before opening: should the primary restart meanwhile, the next
   * catch-up sees a changed name and reopens once more (harmless). */
  if (st->secondary) read_current(st, st->manifest, sizeof(st->manifest));
  if (st->secondary)
    st->db = rocksdb_open_as_secondary_column_families(st->opts, st->dir, st->sdir, (int)n, cfn,
                                                       cfo, h, &e);
  else
    st->db = rocksdb_open_column_families(st->opts, st->dir, (int)n, cfn, cfo, h, &e);
  if (e) {
    set_err(err, errlen, "cannot open rocksdb", e);
    free(e);
    st->db = NULL;
    rc = CS_STORE_EIO;
    goto out;
  }
  free(st->b);
  st->b = nbk;
  nbk = NULL;
  st->capb = n;
  st->nb = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t w, s;
    if (strcmp(cfn[i], "default") == 0) {
      st->def = h[i];
    } else if (parse_bucket(cfn[i], &w, &s) == 0) {
      st->b[st->nb++] = (cs__bucket){s, w, h[i]};
      st->width_s = w; /* existing buckets fix the width */
    } else {
      rocksdb_column_family_handle_destroy(h[i]); /* not ours: ignore */
    }
  }
  if (st->nb > 1) qsort(st->b, st->nb, sizeof(cs__bucket), bucket_cmp);
  rc = 0;
out:
  if (names) rocksdb_list_column_families_destroy(names, ncf);
  free(cfn);
  free(cfo);
  free(h);
  free(nbk);
  return rc;
}

static char *dupstr(const char *s) {
  size_t n = strlen(s);
  char *p = malloc(n + 1);
  if (p) memcpy(p, s, n + 1);
  return p;
}

int cs_store_open(const cs_store_opts *o, cs_store **out, char *err, size_t errlen) {
  *out = NULL;
  if (!o || !o->dir || (o->secondary && !o->secondary_dir)) {
    set_err(err, errlen, "invalid store options", NULL);
    return CS_STORE_EINVAL;
  }
  cs_store *st = calloc(1, sizeof(*st));
  if (!st) return CS_STORE_ENOMEM;
  int rc = CS_STORE_ENOMEM;
  /* Writer-preferring, so a steady stream of readers cannot starve bucket
   * creation (and with it every write); cs__rdlock makes nested read calls
   * from a scan callback safe with such a lock. */
  pthread_rwlockattr_t la;
  pthread_rwlockattr_init(&la);
  pthread_rwlockattr_setkind_np(&la, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&st->lock, &la);
  pthread_rwlockattr_destroy(&la);
  st->dir = dupstr(o->dir);
  st->sdir = o->secondary ? dupstr(o->secondary_dir) : NULL;
  if (!st->dir || (o->secondary && !st->sdir)) goto fail;
  st->secondary = o->secondary;
  st->retention_s = o->retention_s;
  /* Bucket width: an eighth of the retention (so at most ~1/8 extra data is
   * kept past its expiry), between one minute and one day. */
  uint64_t w = o->retention_s ? o->retention_s / 8 : 86400;
  st->width_s = w < 60 ? 60 : w > 86400 ? 86400 : w;
  if (o->n_index_keys) {
    st->index_keys = calloc(o->n_index_keys, sizeof(cs_str));
    if (!st->index_keys) goto fail;
    for (size_t i = 0; i < o->n_index_keys; i++) {
      const char *key = o->index_keys[i];
      /* Session IDs have their own index, which attribute queries on any
       * session spelling read. */
      if (!key || !*key || cs_is_session_key(key, strlen(key))) continue;
      char *k = dupstr(key);
      if (!k) goto fail;
      st->index_keys[st->n_index_keys++] = (cs_str){k, (uint32_t)strlen(k)};
    }
  }

  size_t cache_mb = o->cache_mb ? o->cache_mb : 64;
  size_t wb_mb = o->write_buffer_mb ? o->write_buffer_mb : 64;
  st->cache = rocksdb_cache_create_lru(cache_mb << 20);
  st->bbo = rocksdb_block_based_options_create();
  rocksdb_block_based_options_set_block_cache(st->bbo, st->cache);
  rocksdb_block_based_options_set_block_size(st->bbo, 32 << 10);
  rocksdb_block_based_options_set_filter_policy(st->bbo, rocksdb_filterpolicy_create_bloom_full(10));
  /* Only chunk and summary keys are in the prefix domain; whole-key filters
   * would spend bloom bits on every index key for no lookup that uses them. */
  rocksdb_block_based_options_set_whole_key_filtering(st->bbo, 0);
  rocksdb_block_based_options_set_format_version(st->bbo, 5);
  rocksdb_block_based_options_set_cache_index_and_filter_blocks(st->bbo, 1);
  rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(st->bbo, 1);

  st->opts = rocksdb_options_create();
  rocksdb_options_set_create_if_missing(st->opts, 1);
  rocksdb_options_set_create_missing_column_families(st->opts, 1);
  rocksdb_options_set_block_based_table_factory(st->opts, st->bbo);
  rocksdb_options_set_write_buffer_size(st->opts, wb_mb << 20);
  rocksdb_options_set_db_write_buffer_size(st->opts, (wb_mb * 2) << 20);
  /* After running out of space RocksDB resumes once this much is free
   * (its SstFileManager reserves one write buffer per column family). */
  st->headroom_bytes = (uint64_t)wb_mb << 20;
  rocksdb_options_set_max_write_buffer_number(st->opts, 3);
  /* A bucket that only gets the odd late span would otherwise pin every
   * WAL file since its last flush; past this size RocksDB flushes it. */
  rocksdb_options_set_max_total_wal_size(st->opts, (uint64_t)(wb_mb * 4) << 20);
  rocksdb_options_set_max_background_jobs(st->opts, 2);
  rocksdb_options_set_level_compaction_dynamic_level_bytes(st->opts, 1);
  rocksdb_options_set_max_open_files(st->opts, st->secondary ? -1 : 512);
  /* RocksDB's own info log lives in the data directory: keep it small. */
  rocksdb_options_set_max_log_file_size(st->opts, 8 << 20);
  rocksdb_options_set_keep_log_file_num(st->opts, 3);
  /* Only the header (version, options) goes to that LOG, at open. On a
   * full disk the LOG's own append fails, and Debian's librocksdb 7.8
   * (built with assertions) aborts at the next line logged into it:
   * WritableFileWriter::AssertFalseAndGetStatusForPrevError, reached from
   * the SstFileManager's recovery loop, which logs every 5 s while space
   * is short, so the daemon died 20 s into a full disk. Our own log says
   * what matters instead (cs_store_write, the collector's writer). */
  rocksdb_options_set_info_log_level(st->opts, 5 /* HEADER_LEVEL */);
  /* LZ4 where data is young and rewritten soon, ZSTD level 3 with a 32 KB
   * dictionary at the bottom, where most bytes end up. The dictionary
   * (worth 9 B/span) is sampled data, not a trained one: training cost 15%
   * of the write path's CPU for 0.4 B/span (docs/storage.md). */
  rocksdb_options_set_compression(st->opts, rocksdb_lz4_compression);
  rocksdb_options_set_bottommost_compression(st->opts, rocksdb_zstd_compression);
  rocksdb_options_set_bottommost_compression_options(st->opts, -14, 3, 0, 32 << 10, 1);
  rocksdb_options_set_bottommost_compression_options_zstd_max_train_bytes(st->opts, 0, 1);
  /* RocksDB buffers an output file's data to sample the dictionary from;
   * unbounded, that is up to a whole file (64 MB) of memory. */
  rocksdb_options_set_bottommost_compression_options_max_dict_buffer_bytes(st->opts, 4 << 20, 1);
  st->merge_op = cs__merge_operator();
  rocksdb_options_set_merge_operator(st->opts, st->merge_op);
  st->prefix = rocksdb_slicetransform_create(NULL, px_destroy, px_transform, px_in_domain,
                                             px_in_range, px_name);
  rocksdb_options_set_prefix_extractor(st->opts, st->prefix);

  st->wo = rocksdb_writeoptions_create();
  rocksdb_writeoptions_set_sync(st->wo, o->sync ? 1 : 0);
  st->ro_prefix = rocksdb_readoptions_create();
  rocksdb_readoptions_set_prefix_same_as_start(st->ro_prefix, 1);
  st->ro_total = rocksdb_readoptions_create();
  rocksdb_readoptions_set_total_order_seek(st->ro_total, 1);
  st->batch = rocksdb_writebatch_create();
  st->gd = cs__gdict_new();
  if (!st->gd) goto fail;
  st->enc = cs__chunk_enc_new(st->gd);
  if (!st->enc || cs__writer_init(st)) goto fail;

  rc = open_db(st, err, errlen);
  if (rc) goto fail;
  if (cs__gdict_load(st->gd, st->db, st->def, st->ro_total)) {
    rc = CS_STORE_ENOMEM;
    goto fail;
  }
  *out = st;
  return 0;
fail:
  if (rc == CS_STORE_ENOMEM) set_err(err, errlen, "out of memory opening store", NULL);
  cs_store_close(st);
  return rc;
}

void cs_store_close(cs_store *st) {
  if (!st) return;
  free_buckets(st);
  if (st->db) rocksdb_close(st->db);
  /* The options own the merge operator, prefix extractor and table factory
   * once set; the block cache is ours. */
  if (st->opts) rocksdb_options_destroy(st->opts);
  if (st->bbo) rocksdb_block_based_options_destroy(st->bbo);
  if (st->cache) rocksdb_cache_destroy(st->cache);
  if (st->wo) rocksdb_writeoptions_destroy(st->wo);
  if (st->ro_prefix) rocksdb_readoptions_destroy(st->ro_prefix);
  if (st->ro_total) rocksdb_readoptions_destroy(st->ro_total);
  if (st->batch) rocksdb_writebatch_destroy(st->batch);
  cs__chunk_enc_free(st->enc);
  cs__writer_release(st);
  cs__gdict_free(st->gd);
  for (size_t i = 0; i < st->n_index_keys && st->index_keys; i++)
    free((void *)st->index_keys[i].p);
  free(st->index_keys);
  free(st->b);
  free(st->dir);
  free(st->sdir);
  pthread_rwlock_destroy(&st->lock);
  free(st);
}

/* ---- locking ---------------------------------------------------------- */

/* The store a thread holds the read lock of, and how deeply: a read call
 * made from inside a scan callback must not lock again, or it would wait
 * behind a queued writer that waits for the outer call. */
static _Thread_local cs_store *tl_store;
static _Thread_local int tl_depth;

void cs__rdlock(cs_store *st) {
  if (tl_store == st && tl_depth > 0) {
    tl_depth++;
    return;
  }
  pthread_rwlock_rdlock(&st->lock);
  if (tl_depth == 0) {
    tl_store = st;
    tl_depth = 1;
  }
}

void cs__rdunlock(cs_store *st) {
  if (tl_store == st && tl_depth > 1) {
    tl_depth--;
    return;
  }
  if (tl_store == st) {
    tl_depth = 0;
    tl_store = NULL;
  }
  pthread_rwlock_unlock(&st->lock);
}

/* ---- buckets --------------------------------------------------------- */

cs__bucket *cs__bucket_find(cs_store *st, uint64_t start_s) {
  size_t lo = 0, hi = st->nb;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (st->b[mid].start_s < start_s) lo = mid + 1;
    else hi = mid;
  }
  return lo < st->nb && st->b[lo].start_s == start_s ? &st->b[lo] : NULL;
}

/* Creates the bucket column family for start_s; caller holds no lock. */
int cs__bucket_create(cs_store *st, uint64_t start_s) {
  int rc = 0;
  pthread_rwlock_wrlock(&st->lock);
  if (cs__bucket_find(st, start_s)) goto out;
  if (st->nb == st->capb) {
    size_t nc = st->capb ? st->capb * 2 : 8;
    cs__bucket *nb = realloc(st->b, nc * sizeof(*nb));
    if (!nb) {
      rc = CS_STORE_ENOMEM;
      goto out;
    }
    st->b = nb;
    st->capb = nc;
  }
  char name[64];
  snprintf(name, sizeof(name), "b%" PRIu64 "_%" PRIu64, st->width_s, start_s);
  char *e = NULL;
  rocksdb_column_family_handle_t *h = rocksdb_create_column_family(st->db, st->opts, name, &e);
  if (e) {
    cs__log_rocksdb("cannot create bucket", e);
    rc = cs__rocksdb_rc(e);
    free(e);
    goto out;
  }
  st->b[st->nb++] = (cs__bucket){start_s, st->width_s, h};
  qsort(st->b, st->nb, sizeof(cs__bucket), bucket_cmp);
out:
  pthread_rwlock_unlock(&st->lock);
  return rc;
}

int cs_store_expire(cs_store *st, uint64_t now_ns) {
  if (st->secondary) return CS_STORE_EREADONLY;
  if (!st->retention_s) return 0;
  uint64_t now_s = now_ns / 1000000000u;
  if (now_s <= st->retention_s) return 0;
  uint64_t horizon = now_s - st->retention_s;
  int rc = 0;
  pthread_rwlock_wrlock(&st->lock);
  atomic_store(&st->horizon_s, horizon);
  size_t keep = 0;
  for (size_t i = 0; i < st->nb; i++) {
    cs__bucket *b = &st->b[i];
    if (b->start_s + b->width_s <= horizon) {
      char *e = NULL;
      rocksdb_drop_column_family(st->db, b->cf, &e);
      if (e) {
        cs__log_rocksdb("cannot drop bucket", e);
        free(e);
        rc = CS_STORE_EIO;
        st->b[keep++] = *b;
        continue;
      }
      rocksdb_column_family_handle_destroy(b->cf);
    } else {
      st->b[keep++] = *b;
    }
  }
  st->nb = keep;
  pthread_rwlock_unlock(&st->lock);
  return rc;
}

/* ---- secondary ------------------------------------------------------- */

/* True when the primary created or dropped buckets since this secondary
 * opened: a secondary only sees the column families it was opened with. */
static int buckets_changed(cs_store *st) {
  char *e = NULL;
  size_t ncf = 0;
  char **names = rocksdb_list_column_families(st->opts, st->dir, &ncf, &e);
  if (e) {
    free(e);
    free(names);
    return 0;
  }
  size_t known = 0, nbuckets = 0;
  for (size_t i = 0; i < ncf; i++) {
    uint64_t w, s;
    if (parse_bucket(names[i], &w, &s) == 0) {
      nbuckets++;
      if (cs__bucket_find(st, s)) known++;
    }
  }
  rocksdb_list_column_families_destroy(names, ncf);
  return known != st->nb || nbuckets != st->nb;
}

int cs_store_catch_up(cs_store *st) {
  if (!st->secondary) return 0;
  char *e = NULL;
  /* Exclusive: in-flight reads finish first, none start until done. */
  pthread_rwlock_wrlock(&st->lock);
  int rc = 0;
  if (!st->db) { /* the last reopen failed: try again now */
    char msg[256];
    rc = open_db(st, msg, sizeof(msg));
    pthread_rwlock_unlock(&st->lock);
    return rc;
  }
  rocksdb_try_catch_up_with_primary(st->db, &e);
  if (e) {
    free(e);
    e = NULL;
    rc = CS_STORE_EIO;
  }
  /* A restarted primary (graceful or after kill -9) replays its old WAL
   * into a new SST and starts a new MANIFEST. This instance's memtables,
   * built by tailing that WAL, still hold the same merge operands, and
   * RocksDB 7.8's catch-up keeps them: statistics rows (which add) were
   * counted twice. Reopening drops the memtables; the primary's restart is
   * seen as a new MANIFEST name in CURRENT. */
  char cur[sizeof(st->manifest)];
  read_current(st, cur, sizeof(cur));
  int restarted = cur[0] && strcmp(cur, st->manifest) != 0;
  if (restarted || buckets_changed(st)) {
    free_buckets(st);
    rocksdb_close(st->db);
    st->db = NULL;
    /* A primary in the middle of its own open may leave files that a
     * secondary cannot open for a moment: retry briefly before giving up. */
    char msg[256];
    for (int attempt = 0; attempt < 5; attempt++) {
      rc = open_db(st, msg, sizeof(msg));
      if (!rc) break;
      nanosleep(&(struct timespec){0, 100000000}, NULL);
    }
    /* Reads answer CS_STORE_EIO meanwhile; the next catch-up tries again. */
    if (rc) cs__log_rocksdb("cannot reopen secondary", msg);
  }
  pthread_rwlock_unlock(&st->lock);
  return rc;
}

/* ---- maintenance and statistics --------------------------------------- */

int cs_store_compact(cs_store *st) {
  if (st->secondary) return CS_STORE_EREADONLY;
  rocksdb_compactoptions_t *co = rocksdb_compactoptions_create();
  rocksdb_compactoptions_set_bottommost_level_compaction(co, 2 /* kForce */);
  rocksdb_compactoptions_set_change_level(co, 0);
  cs__rdlock(st);
  rocksdb_compact_range_cf_opt(st->db, st->def, co, NULL, 0, NULL, 0);
  for (size_t i = 0; i < st->nb; i++)
    rocksdb_compact_range_cf_opt(st->db, st->b[i].cf, co, NULL, 0, NULL, 0);
  cs__rdunlock(st);
  rocksdb_compactoptions_destroy(co);
  return 0;
}

static uint64_t prop(cs_store *st, rocksdb_column_family_handle_t *cf, const char *name) {
  uint64_t v = 0;
  if (rocksdb_property_int_cf(st->db, cf, name, &v) != 0) return 0;
  return v;
}

int cs_store_get_stats(cs_store *st, cs_store_stats *out) {
  memset(out, 0, sizeof(*out));
  cs__rdlock(st);
  for (size_t i = 0; st->db && i <= st->nb; i++) {
    rocksdb_column_family_handle_t *cf = i < st->nb ? st->b[i].cf : st->def;
    out->live_sst_bytes += prop(st, cf, "rocksdb.live-sst-files-size");
    out->memtable_bytes += prop(st, cf, "rocksdb.cur-size-all-mem-tables");
    out->estimated_keys += prop(st, cf, "rocksdb.estimate-num-keys");
  }
  cs__rdunlock(st);
  out->batches_written = atomic_load(&st->batches_written);
  out->spans_written = atomic_load(&st->spans_written);
  return 0;
}

int cs_store_space_get(cs_store *st, cs_store_space *out) {
  memset(out, 0, sizeof(*out));
  out->dir = st->dir;
  out->headroom_bytes = st->headroom_bytes;
  out->full = atomic_load(&st->nospace);
  struct statvfs v;
  if (statvfs(st->dir, &v) != 0) return CS_STORE_EIO;
  out->free_bytes = (uint64_t)v.f_bavail * (uint64_t)v.f_frsize;
  return 0;
}

int cs__rocksdb_rc(const char *err) {
  /* RocksDB reports ENOSPC as Status::NoSpace, "IO error: No space left on
   * device: <what>: <strerror>", and its SstFileManager's own cap as
   * "Max allowed space was reached". */
  if (err && (strstr(err, "No space left on device") || strstr(err, "Max allowed space")))
    return CS_STORE_ENOSPC;
  return CS_STORE_EIO;
}

void cs__log_rocksdb(const char *what, const char *detail) {
  cs_log(CS_LOG_ERROR, "store", "%s: %s", what, detail ? detail : "");
}
