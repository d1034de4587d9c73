/* Internal to the collector: the HTTP side shared by the OTLP/HTTP and
 * Zipkin receivers, served by the collector's own HTTP/1.1 server
 * (recv_http_conn.c, recv_http.c, http_parse.c). It reads a POST body under
 * a size cap, inflates gzip under a second cap, enforces deadlines and
 * connection caps, and hands the whole body to a receiver's handler; it
 * also queues decoded items and waits for the writer so that a 2xx means
 * "durable in the store". */
#ifndef CS_RECV_HTTP_H
#define CS_RECV_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "collector_int.h"

typedef struct cs_rh_server cs_rh_server;

/* One request with its complete, decompressed body. */
typedef struct cs_rh_req {
  const char *path;           /* without the query string */
  const char *content_type;   /* media type only, lowercased, no parameters; "" when absent */
  const uint8_t *body;
  size_t len;
  int *slot_held; /* the request holds a decode slot (see __cs_rh_slot_release) */
} cs_rh_req;

/* The handler's answer. body is malloc'ed (taken over) or NULL. */
typedef struct cs_rh_resp {
  int status;
  const char *content_type; /* static string; NULL = text/plain */
  char *body;
  size_t len;
  int retry_after_s;        /* > 0 adds Retry-After */
} cs_rh_resp;

/* Per-receiver counters, indexes into the stats (see collector.h). */
typedef struct cs_rh_stats_ix {
  int requests, too_large, bad_type, timeouts;
} cs_rh_stats_ix;

typedef void (*cs_rh_handler)(cs_collector *c, const cs_rh_req *rq, cs_rh_resp *rs);

/* Starts an HTTP server for one receiver on the collector's listen address
 * and port (0 = ephemeral). name is for logs ("otlp-http"). Returns 0 and
 * sets *out and *bound, or a negative libuv error. Connections run on a
 * loop thread of the server's own; handlers run on its worker threads,
 * since a handler waits for the writer. */
int __cs_rh_start(cs_collector *c, const char *name, int port, cs_rh_handler h, cs_rh_server **out,
                  int *bound);

/* Stops accepting, lets running requests finish, frees the server.
 * Accepts NULL. Must run while the writer still runs. */
void __cs_rh_stop(cs_rh_server *s);

/* Outcome of queueing an item and waiting for the store. */
enum { CS_RH_DURABLE = 0, CS_RH_BUSY = 1, CS_RH_FAILED = 2 };

/* Queues it (type, spans/metrics and counts set by the caller; arena
 * taken over) unless the queue is above its high watermark (CS_RH_BUSY,
 * item freed), then waits until the writer has committed it. */
int __cs_rh_submit(cs_collector *c, cs_item *it);

/* Gives back the request's decode slot once its body is decoded, before
 * waiting for the writer, so waiting requests do not hold up decoding.
 * Safe to call twice. */
void __cs_rh_slot_release(cs_collector *c, const cs_rh_req *rq);

/* Formats a plain-text error body into rs. */
void __cs_rh_text(cs_rh_resp *rs, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Receiver handlers (recv_otlp_http.c, recv_zipkin.c). */
void __cs_otlp_http_handle(cs_collector *c, const cs_rh_req *rq, cs_rh_resp *rs);
void __cs_zipkin_handle(cs_collector *c, const cs_rh_req *rq, cs_rh_resp *rs);

/* Rate-limited warning usable from any thread (HTTP threads included). */
void __cs_recv_warn(cs_collector *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
