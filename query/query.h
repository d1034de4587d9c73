/* The query server: Jaeger-compatible and Callscope's own JSON API, the
 * static UI and (through a hook) /metrics, over one cs_store. Used by the
 * standalone callscope-query (store opened as a secondary) and by the
 * all-in-one callscope daemon (store shared with the collector). */
#ifndef CS_QUERY_H
#define CS_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "connguard.h"
#include "hostcheck.h"
#include "store.h"

/* Everything a request may ask for is capped by these. */
typedef struct cs_query_limits {
  uint32_t default_limit; /* traces per search when no limit is given (20) */
  uint32_t max_limit;     /* largest accepted limit (1000) */
  uint32_t max_spans;     /* spans in one response (50000) */
  uint64_t max_range_ns;  /* widest start..end window (7 days) */
  uint32_t max_scan;      /* traces examined by one query (200000) */
  uint64_t timeout_us;    /* per-request deadline in microseconds (5 s) */
  uint32_t max_heavy;     /* scans (search, stats, dependencies) running at once (2) */
  size_t arena_mb;        /* per-request memory (256) */
  size_t max_response_mb; /* response body size (64) */
} cs_query_limits;

typedef struct cs_query_opts {
  const char *listen_addr; /* default 127.0.0.1 */
  uint16_t port;           /* default CS_PORT_QUERY; 0 = any free port */
  const char *ui_dir;      /* static files served at /; NULL = none */
  unsigned threads;        /* HTTP worker threads (4) */
  unsigned max_conns;      /* open connections (128) */
  unsigned max_conns_per_addr;    /* open connections from one address (64) */
  uint64_t head_timeout_ns;       /* whole request head, from accept or the last answer (10 s) */
  size_t max_url;                 /* request target bytes (16 KiB, at most 64 KiB) */
  unsigned max_params;            /* query parameters (256) */
  unsigned max_headers;           /* request headers (100) */
  size_t max_head;                /* request head bytes (80 KiB, also the most; 431 above) */
  const cs_hostlist *allow_hosts; /* Host names besides loopback and listen_addr; borrowed */
  /* Attribute keys the store indexes (the same list given to the store):
   * searches on them use the index, others filter loaded traces. */
  const char *const *index_keys;
  size_t n_index_keys;
  cs_query_limits limits;
} cs_query_opts;

typedef struct cs_query cs_query;

/* Fills defaults. */
void cs_query_opts_default(cs_query_opts *o);

/* Renders /metrics: given the Accept header (may be NULL), returns a
 * malloc'ed body and its content type (static string). Returns 0 or -1. */
typedef int (*cs_query_metrics_fn)(void *ud, const char *accept, char **body, size_t *len,
                                   const char **content_type);
/* Sees every finished request: route name, status and time taken. */
typedef void (*cs_query_observer_fn)(void *ud, const char *route, int status, double ms);

/* Creates the server over st (borrowed; must outlive it) without binding.
 * Strings in opts are copied. Returns 0 or -1 with a message in err. */
int cs_query_new(const cs_query_opts *opts, cs_store *st, cs_query **out, char *err,
                 size_t errlen);

/* Hooks; call before cs_query_start. */
void cs_query_set_metrics(cs_query *q, cs_query_metrics_fn fn, void *ud);
void cs_query_set_observer(cs_query *q, cs_query_observer_fn fn, void *ud);

/* Binds and starts serving on worker threads. */
int cs_query_start(cs_query *q, char *err, size_t errlen);

/* Counters of the connection guard (after start; zeros before). */
void cs_query_get_conn_stats(cs_query *q, cs_cg_stats *out);

/* The bound port (after start). */
uint16_t cs_query_port(const cs_query *q);

/* Stops serving (waits for requests in progress) and frees. Accepts NULL. */
void cs_query_free(cs_query *q);

#endif
