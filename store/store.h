/* The storage API: the only code that touches RocksDB is in store/; the
 * collector, the query server, tests and benchmarks see this header.
 * docs/storage.md describes the key layouts behind it.
 *
 * Reads return data allocated in a caller-supplied arena (arena.h): the
 * results live until that arena is reset. */
#ifndef CS_STORE_H
#define CS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "span.h"

typedef struct cs_store cs_store;

#define CS_STORE_ERRNO_MAP(X)                                  \
  X(EIO, -1, "storage I/O error")                              \
  X(ENOMEM, -2, "out of memory")                               \
  X(EINVAL, -3, "invalid argument")                            \
  X(ENOTFOUND, -4, "not found")                                \
  X(EREADONLY, -5, "store opened read-only")                   \
  X(ECORRUPT, -6, "stored record is corrupt")                  \
  X(ELIMIT, -7, "result exceeds the arena limit")               \
  X(ENOSPC, -8, "no space left on the store's file system")

enum cs_store_err {
  CS_STORE_OK = 0,
#define CS_STORE_ENUM(name, val, msg) CS_STORE_##name = val,
  CS_STORE_ERRNO_MAP(CS_STORE_ENUM)
#undef CS_STORE_ENUM
};
const char *cs_store_strerror(int err);

typedef struct cs_store_opts {
  const char *dir;            /* data directory, created if missing */
  int secondary;              /* open as a RocksDB secondary (read-only, catches up) */
  const char *secondary_dir;  /* scratch directory for the secondary instance */
  int sync;                   /* fsync every write batch (default: WAL without fsync) */
  uint64_t retention_s;       /* 0 = keep forever */
  const char *const *index_keys; /* extra attribute keys to index (session ID always is) */
  size_t n_index_keys;
  size_t cache_mb;            /* block cache, default 64 */
  size_t write_buffer_mb;     /* memtable size, default 64 */
} cs_store_opts;

/* Opens (creating if needed) the store. err receives a message on failure.
 * Thread-safety: the returned store may be used from several threads at once
 * for reads; writes come from one thread at a time. */
int cs_store_open(const cs_store_opts *opts, cs_store **out, char *err, size_t errlen);

/* Flushes and closes. Accepts NULL. */
void cs_store_close(cs_store *st);

/* Writes validated spans (with session_id filled) and every index and
 * summary they imply, as one atomic batch. Returns once the batch is in the
 * WAL (fsync'd if opts.sync), so an ACK may be sent after it returns.
 *
 * CS_STORE_ENOSPC: the file system is full. RocksDB then refuses every
 * write until it has recovered by itself, which it tries every 5 s once
 * cs_store_space reports free >= headroom. Meanwhile this call returns
 * CS_STORE_ENOSPC at once without touching RocksDB (except for one real
 * attempt every few seconds), so the caller may simply retry the same
 * spans; nothing of a failed batch was written. */
int cs_store_write(cs_store *st, const cs_span *spans, size_t n);

typedef struct cs_store_space {
  const char *dir;         /* data directory (borrowed from the store) */
  uint64_t free_bytes;     /* available to us on its file system */
  uint64_t headroom_bytes; /* free space RocksDB wants before resuming */
  int full;                /* the last write failed for lack of space */
} cs_store_space;

/* Fills out (statvfs of the data directory). Returns 0 or CS_STORE_EIO.
 * Thread-safety: any thread. */
int cs_store_space_get(cs_store *st, cs_store_space *out);

/* Secondary instance: catch up with the primary's latest writes. */
int cs_store_catch_up(cs_store *st);

/* All spans of one trace, in no particular order. *n = 0 and CS_STORE_OK
 * when the trace is unknown. */
int cs_store_get_trace(cs_store *st, const uint8_t trace_id[16], cs_arena *a,
                       cs_span **spans, size_t *n);

typedef struct cs_trace_summary {
  uint8_t trace_id[16];
  uint64_t start_ns;       /* earliest span start */
  uint64_t duration_ns;    /* latest span end - earliest span start */
  cs_str root_service;     /* empty while the root span has not arrived */
  cs_str root_name;
  uint32_t n_spans;
  uint32_t n_errors;       /* spans with status ERROR */
  cs_str *services;        /* distinct services, sorted */
  uint32_t n_services;
  /* The earliest span (least start; ties to the smaller service, then
   * name): what a trace without its root is named after. Empty only for
   * summaries stored before this field existed (summary version 1). */
  cs_str first_service;
  cs_str first_name;
} cs_trace_summary;

/* Summary of one trace; CS_STORE_ENOTFOUND when unknown. */
int cs_store_get_summary(cs_store *st, const uint8_t trace_id[16], cs_arena *a,
                         cs_trace_summary *out);

enum cs_index_kind {
  CS_IDX_SERVICE = 1,   /* traces touching service */
  CS_IDX_OPERATION = 2, /* traces with a span named operation in service */
  CS_IDX_ATTR = 3,      /* traces with a span attribute key=value (indexed keys) */
  CS_IDX_SESSION = 4,   /* traces of a session ID (any spelling of the key) */
  CS_IDX_DURATION = 5,  /* traces by whole-trace duration */
  CS_IDX_ALL = 6,       /* every trace, by start time */
};

typedef struct cs_index_query {
  int kind;             /* enum cs_index_kind */
  cs_str service;       /* SERVICE, OPERATION */
  cs_str operation;     /* OPERATION */
  cs_str key, value;    /* ATTR */
  cs_str session;       /* SESSION */
  uint64_t min_duration_ns, max_duration_ns; /* DURATION (max 0 = unbounded) */
  uint64_t start_ns, end_ns; /* trace start time window; end 0 = unbounded */
} cs_index_query;

/* Called once per matching trace, newest first for SERVICE/OPERATION/ATTR/
 * ALL, oldest first for SESSION, shortest first for DURATION. A trace may be
 * reported more than once (one per index entry); callers deduplicate.
 * Return nonzero to stop the scan. The callback may call the other read
 * functions, but not cs_store_write, cs_store_expire or cs_store_catch_up
 * (they wait for the scan's lock). An ATTR query whose key is any spelling
 * of the session key reads the session index (newest first). */
typedef int (*cs_index_cb)(void *ud, const uint8_t trace_id[16], uint64_t start_ns);

int cs_store_scan_index(cs_store *st, const cs_index_query *q, cs_index_cb cb, void *ud);

/* Distinct service names, sorted. */
int cs_store_list_services(cs_store *st, cs_arena *a, cs_str **out, size_t *n);

typedef struct cs_operation {
  cs_str name;
  uint8_t kind; /* enum cs_span_kind */
} cs_operation;

/* Distinct (operation, kind) pairs of one service, sorted by name. */
int cs_store_list_operations(cs_store *st, cs_str service, cs_arena *a, cs_operation **out,
                             size_t *n);

/* Per-minute latency statistics, written at ingest for every span: one row
 * per (service, operation, span kind, minute) with request and error
 * counts, the sum and maximum of durations, and a histogram whose
 * log-spaced buckets bound the relative error of any percentile by 1%.
 * Rows merge by adding counts and histograms. */
#define CS_STATS_BUCKETS 2240 /* bucket indexes are 0 .. CS_STATS_BUCKETS - 1 */

typedef struct cs_stats_row {
  cs_str service, operation;
  uint8_t kind;          /* enum cs_span_kind */
  uint64_t minute_ns;    /* start of the minute (span start times) */
  uint64_t count, errors;
  uint64_t sum_ns, max_ns;
  uint32_t n_buckets;    /* non-empty histogram buckets, ascending */
  const uint16_t *bucket;
  const uint64_t *bucket_count;
} cs_stats_row;

/* Called per row; the row and its arrays are valid during the call only.
 * Return nonzero to stop the scan. */
typedef int (*cs_stats_cb)(void *ud, const cs_stats_row *row);

/* Rows of one service (all services when service.n == 0) whose minute
 * starts in [from_ns, to_ns] (to_ns 0 = unbounded), ordered by service,
 * then minute, then operation and kind within each time bucket of the
 * store. Rows of one (service, operation, kind, minute) may come more than
 * once (from two time buckets) and are then to be added up.
 * Thread-safety: like the other reads. */
int cs_store_scan_stats(cs_store *st, cs_str service, uint64_t from_ns, uint64_t to_ns,
                        cs_stats_cb cb, void *ud);

/* Histogram bucket of a duration, and a bucket's representative duration
 * (within 1% of every duration that falls in it). */
uint16_t cs_stats_bucket_of(uint64_t duration_ns);
uint64_t cs_stats_bucket_value(uint16_t bucket);

/* The q-quantile (0..1) of a sparse histogram (buckets ascending), within
 * 1% relative error; 0 when empty. */
uint64_t cs_stats_quantile(const uint16_t *bucket, const uint64_t *count, uint32_t n, double q);

/* Deletes everything older than now - retention and lets compaction give
 * the disk space back. Called periodically by the collector. */
int cs_store_expire(cs_store *st, uint64_t now_ns);

typedef struct cs_store_stats {
  uint64_t live_sst_bytes;
  uint64_t memtable_bytes;
  uint64_t estimated_keys;
  uint64_t batches_written;
  uint64_t spans_written;
} cs_store_stats;

int cs_store_get_stats(cs_store *st, cs_store_stats *out);

/* Forces a full compaction (benchmarks measure bytes per span after it). */
int cs_store_compact(cs_store *st);

#endif
