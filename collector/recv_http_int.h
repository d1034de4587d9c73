/* Internal to the collector's HTTP receivers: the state recv_http.c
 * (requests) and recv_http_conn.c (connections, the loop thread, workers)
 * share. A connection belongs to its receiver's loop thread, except while
 * its request is with a worker (state RC_BUSY), when only the worker
 * touches the request. */
#ifndef CS_RECV_HTTP_INT_H
#define CS_RECV_HTTP_INT_H

#include <stddef.h>

#include "connpool.h"
#include "http_parse.h"
#include "recv_http.h"
#include "recv_int.h"

#define RH_READ_BUF 65536
#define RH_MAX_WORKERS 32
#define RH_TICK_MS 250
#define RH_LINGER_MS 2000 /* reading and dropping after a closing answer */

/* Connection states. */
enum { RC_IDLE, RC_HEAD, RC_BODY, RC_BUSY, RC_WRITING, RC_LINGER };

/* One request, from its head until its answer is written. */
typedef struct rh_txn {
  uint64_t start_ms;
  int chunked;
  uint64_t cl_left; /* Content-Length bytes still to read */
  cs_http_chunked ch;
  uint8_t *body;
  size_t len, cap;
  size_t reserved; /* bytes held in the receivers' body budget */
  int gzip;
  int too_large;   /* a chunked body crossed the cap: 413 */
  int over_budget; /* the body budget ran out mid-body: 429 */
  int preflight;   /* an OPTIONS preflight being answered */
  int head_only;   /* HEAD: the answer has no body */
  int keep_alive;
  char path[256];
  char ctype[64];
  /* CORS (--cors-origin): the Access-Control-Allow-Origin value for this
   * request's Origin, empty when CORS is off or the origin not allowed. */
  char allow_origin[256];
  cs_rh_resp rs; /* the answer, filled by a worker or early */
} rh_txn;

typedef struct rh_conn {
  uv_tcp_t h; /* first: the handle's address is the conn's */
  cs_rh_server *s;
  cs_pool_conn pe; /* since_ms: idle since, or the request's start */
  int state;
  int reading, closing;
  int close_after; /* close once the answer is written */
  uint8_t *in;     /* received, not yet consumed */
  size_t in_len, in_cap;
  cs_http_scan scan;
  uint64_t last_rx_ms, deadline_ms;
  rh_txn *tx;
  struct rh_conn *qnext; /* worker queue / done list */
} rh_conn;

#define CONN_OF(e) ((rh_conn *)((char *)(e)-offsetof(rh_conn, pe)))

struct cs_rh_server {
  cs_collector *c;
  char name[16];
  int kind; /* 0 OTLP/HTTP, 1 Zipkin: selects the stats */
  cs_rh_handler handler;
  cs_http_limits lim;
  /* Loop thread. */
  uv_loop_t loop;
  uv_tcp_t lsn;
  uv_timer_t tick;
  uv_async_t wake;
  pthread_t io;
  cs_connpool pool;
  uint8_t *rbuf;
  int stopping;
  unsigned busy; /* connections whose request is with a worker */
  atomic_int stop_req;
  /* Workers, under mu. */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  rh_conn *jobs, *jobs_tail, *done, *done_tail;
  int n_workers, idle_workers, workers_exit;
  pthread_t workers[RH_MAX_WORKERS];
};

/* Stats of one receiver kind. */
#define RH_STAT(s, field)                                                                          \
  ((s)->kind == 0 ? &(s)->c->st.otlp_http_##field : &(s)->c->st.zipkin_##field)
#define RH_ADD(s, field) atomic_fetch_add_explicit(RH_STAT(s, field), 1, memory_order_relaxed)

/* recv_http.c: requests. */
/* Frees a request and gives its body budget back. Accepts NULL. */
void __cs_rh_txn_free(cs_collector *c, rh_txn *tx);
void __cs_rh_count_status(cs_rh_server *s, int status);
/* Answers now (text, or an OTLP Status in the request's encoding);
 * close_after: close once written. */
void __cs_rh_answer(rh_conn *conn, int status, const char *msg, int close_after);
/* A head that cannot be parsed or broke a limit: answered, then closed. */
void __cs_rh_head_error(rh_conn *conn, int status, const char *msg);
/* The head is complete: checks that need no body. Returns 0 to read the
 * body, 1 when the request was answered already. */
int __cs_rh_begin(rh_conn *conn, const cs_http_req *h);
/* Feeds buffered bytes to the body: 1 complete, 0 more needed, -1
 * answered (and closing). */
int __cs_rh_body_feed(rh_conn *conn);
/* On a worker: inflate, decode, queue and wait for the store; fills tx->rs. */
void __cs_rh_finish(cs_rh_server *s, rh_txn *tx);

/* recv_http_conn.c: connections. */
/* Writes the answer in conn->tx->rs (its body taken over). */
void __cs_rh_send(rh_conn *conn);
void __cs_rh_conn_close(rh_conn *conn);

#endif
