/* The HTTP module: the only file that touches libmicrohttpd. The rest of
 * the query server sees one request type with its arguments, a per-request
 * arena and a response to fill, and one handler callback. One request per
 * connection: every answer carries Connection: close, so each head passes
 * the head gate (http_gate.h) before libmicrohttpd reads it. */
#ifndef CS_QUERY_HTTP_H
#define CS_QUERY_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "connguard.h"
#include "hostcheck.h"

typedef struct cs_http cs_http;

typedef struct cs_http_req {
  const char *method;     /* "GET", "HEAD" (other methods arrive refused: 405) */
  const char *path;       /* percent-decoded path, without the query string */
  cs_arena *arena;        /* freed once the response is sent */
  uint64_t start_ns;      /* CLOCK_MONOTONIC when the request arrived */
  const char *route;      /* set by the handler for logs and metrics */
  /* Non-zero when this module refuses the request before any route runs:
   * 400 (bad percent-escape or NUL in the URL), 405 (not GET or HEAD),
   * 413 (a body was announced), 414 (URL or parameters over their caps),
   * 421 (a Host that is not ours), 431 (too many headers) or 500 (out of
   * memory).
   * The handler is still called, must answer with this status and the
   * reason in refused_msg, so errors keep the shape of their path. A head
   * refused by the head gate (request line over 64 KiB: 414; head over
   * max_head or more fields than max_headers: 431) reaches the handler
   * with no arguments and no headers (cs_http_arg, cs_http_header: NULL). */
  int refused;
  const char *refused_msg;
  /* Response, filled by the handler. body is malloc'ed and taken over by
   * the module; fd (>= 0) sends a whole file instead, closed afterwards. */
  int status;
  const char *content_type;
  char *body;
  size_t body_len;
  int fd;
  uint64_t fd_size;
  const char *cache_control;
  void *conn_; /* module-private */
} cs_http_req;

/* The first value of query argument name, NULL when absent; "" for a bare
 * "?name". Borrowed for the request's life. */
const char *cs_http_arg(const cs_http_req *r, const char *name);

/* All values of a repeated argument, in order, at most max; returns the
 * total count seen (which may exceed max so callers can reject). */
size_t cs_http_args(const cs_http_req *r, const char *name, const char **vals, size_t max);

/* Number of distinct arguments in the query string. */
size_t cs_http_arg_count(const cs_http_req *r);

/* A request header, NULL when absent. */
const char *cs_http_header(const cs_http_req *r, const char *name);

typedef void (*cs_http_handler)(void *ud, cs_http_req *r);
/* Called once per finished request (after the response is sent or the
 * client went away), with the time taken in milliseconds. */
typedef void (*cs_http_done)(void *ud, const cs_http_req *r, double ms);

/* The most a request target may be: libmicrohttpd keeps the request head
 * in a per-connection pool of twice this, so targets up to here reach our
 * code and are answered in the API's shape. */
#define CS_HTTP_URL_CAP 65536
/* The most a request head may be (request line and header fields): a
 * longer one, a request line over CS_HTTP_URL_CAP or more header fields
 * than max_headers is answered 414/431 by the head gate (http_gate.h)
 * before libmicrohttpd reads it, so that MHD's pool (2 x CS_HTTP_URL_CAP)
 * never overflows into MHD's own HTML error. */
#define CS_HTTP_HEAD_CAP (CS_HTTP_URL_CAP + 16384)

typedef struct cs_http_opts {
  const char *addr;        /* IPv4 or IPv6 literal; default 127.0.0.1 */
  uint16_t port;           /* 0 picks a free port (see cs_http_port) */
  unsigned threads;        /* worker threads; default 4 */
  unsigned max_conns;      /* open connections; default 128 */
  unsigned max_per_addr;   /* open connections from one address; default 64 */
  uint64_t head_ns;        /* whole request head, from accept or the last answer; 10 s */
  unsigned conn_timeout_s; /* per-activity timeout while answering; default 30 */
  size_t max_url;          /* request target bytes (414); default 16 KiB, at most CS_HTTP_URL_CAP */
  unsigned max_params;     /* query parameters (414); default 256 */
  unsigned max_headers;    /* request headers (431); default 100 */
  size_t max_head;         /* request head bytes (431); default and at most CS_HTTP_HEAD_CAP */
  const cs_hostlist *allow_hosts; /* extra Host names (see hostcheck.h); borrowed, may be NULL */
  size_t arena_cap;        /* per-request arena cap in bytes; default 256 MiB */
  cs_http_handler handler;
  cs_http_done done;
  void *ud;
} cs_http_opts;

/* Binds and starts the worker threads. err receives a message on failure.
 * Thread-safety: handler and done run on the worker threads concurrently. */
int cs_http_start(const cs_http_opts *opts, cs_http **out, char *err, size_t errlen);

/* The connection guard's counters (see connguard.h). */
void cs_http_get_stats(cs_http *h, cs_cg_stats *out);

/* The port actually bound. */
uint16_t cs_http_port(const cs_http *h);

/* Stops accepting, waits for the workers and frees. Accepts NULL. */
void cs_http_stop(cs_http *h);

#endif
