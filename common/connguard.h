/* Connection guard for an HTTP listener: bounds what slow or hoarding
 * clients can hold. Every open connection has a slot; a connection that
 * is waiting for a request head (new, or idle between keep-alive
 * requests) must complete it within a deadline for the whole head, and a
 * request body must arrive within a deadline for the whole body, however
 * many bytes trickle in (a per-activity timeout restarts on every byte).
 * Connections are capped in total and per source address; when a cap is
 * reached, a newcomer closes the oldest connection that is waiting for a
 * head or a body (of the same address for the per-address cap) instead of
 * being turned away, so newcomers always have room; only when every
 * connection is inside a request is the newcomer refused. That choice is
 * cs_connpool_admit's (connpool.h), the policy the collector's listeners
 * use too; the guard adds the deadlines, the locking and the closing for
 * servers that run connections on several threads.
 *
 * It knows no HTTP library: the server reports each connection's life
 * (open, head complete, body complete, answered, closed) and the guard
 * closes a connection with shutdown(2) on its socket, which makes the
 * server see the end of the stream and close it in its own thread. Slots
 * are removed (cs_cg_close) before the server closes the descriptor, and
 * shutdown is only called under the guard's lock on a slot still present,
 * so a reused descriptor number is never hit. */
#ifndef CS_CONNGUARD_H
#define CS_CONNGUARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct cs_connguard cs_connguard;
typedef struct cs_cg_conn cs_cg_conn;

typedef struct cs_cg_opts {
  unsigned max_conns;    /* open connections in total (default 128) */
  unsigned max_per_addr; /* from one source address (default 64) */
  uint64_t head_ns;      /* whole request head, from accept or the last answer (10 s) */
  uint64_t body_ns;      /* whole request body, from the end of its head (10 s) */
  const char *component; /* log component ("query") */
  int no_thread;         /* tests: no sweeper thread, call cs_cg_sweep */
} cs_cg_opts;

typedef struct cs_cg_stats {
  uint64_t open;             /* connections open now (gauge) */
  uint64_t accepted;         /* connections admitted */
  uint64_t refused_total;    /* refused: total cap reached, none evictable */
  uint64_t refused_per_addr; /* refused: per-address cap reached, none evictable */
  uint64_t evicted;          /* closed to make room for a newcomer */
  uint64_t head_timeouts;    /* closed: head not complete within head_ns */
  uint64_t body_timeouts;    /* closed: body not complete within body_ns */
} cs_cg_stats;

/* Creates a guard (zero fields take defaults) and its sweeper thread.
 * Returns NULL when out of memory or the thread cannot start. */
cs_connguard *cs_cg_new(const cs_cg_opts *o);

/* Stops the sweeper and frees. Every connection must be closed first.
 * Accepts NULL. */
void cs_cg_free(cs_connguard *g);

/* A connection was accepted on fd from addr: takes a slot, evicting the
 * oldest waiting connection when a cap is reached. Returns the slot (to
 * pass to the calls below), or NULL when refused, in which case fd has
 * been shut down and the server will see it end. Thread-safety: all
 * cs_cg_* calls may come from any thread. */
cs_cg_conn *cs_cg_open(cs_connguard *g, int fd, const struct sockaddr *addr, socklen_t len);

/* The request head is complete; expect_body starts the body deadline,
 * otherwise the connection is busy (no deadline) until cs_cg_answered.
 * NULL slots are ignored by these calls. */
void cs_cg_head_done(cs_connguard *g, cs_cg_conn *c, int expect_body);
/* The body is complete: busy until answered. */
void cs_cg_body_done(cs_connguard *g, cs_cg_conn *c);
/* The request was answered: waiting for the next head again. */
void cs_cg_answered(cs_connguard *g, cs_cg_conn *c);
/* The connection closed (before its descriptor is closed): frees the slot. */
void cs_cg_close(cs_connguard *g, cs_cg_conn *c);

/* Shuts down every connection past its deadline at now_ns (monotonic)
 * and returns the time of the next deadline (UINT64_MAX when none). The
 * sweeper thread calls it; tests with no_thread call it directly. */
uint64_t cs_cg_sweep(cs_connguard *g, uint64_t now_ns);

void cs_cg_get_stats(cs_connguard *g, cs_cg_stats *out);

/* CLOCK_MONOTONIC in nanoseconds, the guard's clock. */
uint64_t cs_cg_now_ns(void);

#endif
