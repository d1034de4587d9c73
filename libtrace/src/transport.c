/* The TCP transport under the exporter: the connection with its queue of
 * frames kept until acknowledged, resent after a reconnect, exponential
 * backoff with jitter and a circuit breaker that probes while open. Runs
 * only on the exporter thread (UDP is in udp.c). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exporter_int.h"

uint64_t __cst_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void __cst_frame_free(frame *f) {
  free(f->data);
  free(f);
}

void __cst_tx_enqueue(struct __cst_exporter *ex, frame *f) {
  f->next = NULL;
  if (ex->q_tail)
    ex->q_tail->next = f;
  else
    ex->q_head = f;
  ex->q_tail = f;
  if (!ex->send_cur && ex->state == CONNECTED) {
    ex->send_cur = f;
    ex->send_off = 0;
  }
  ex->q_bytes += f->len;
  atomic_store(&ex->t->unacked_bytes, ex->q_bytes);
}

/* Closes the open frame and hands it to the transport. */
void __cst_tx_close(struct __cst_exporter *ex) {
  if (ex->fd >= 0)
    close(ex->fd);
  ex->fd = -1;
  ex->state = DISCONNECTED;
  ex->send_cur = NULL;
  ex->send_off = 0;
  ex->rlen = 0;
}

static uint64_t jitter(struct __cst_exporter *ex, uint64_t max) {
  ex->rng = ex->rng * 6364136223846793005ull + 1442695040888963407ull;
  return max ? (ex->rng >> 33) % (max + 1) : 0;
}

/* A failed connect or a broken connection: back off exponentially with
 * jitter; after breaker_failures in a row the circuit opens. While open it
 * is probed: one connect after a wait that starts at BREAKER_PROBE_MS and
 * doubles up to breaker_open_ms. A probe that connects leaves the circuit
 * half-open (failures stays at breaker_failures - 1, so one more failure
 * reopens it); the first acknowledgement closes it (on_ack). */
void __cst_tx_failed(struct __cst_exporter *ex, const char *why, int err) {
  cst_tracer *t = ex->t;
  __cst_tx_close(ex);
  __cst_inc(&t->export_errors, 1);
  ex->failures++;
  uint64_t now = __cst_mono_ms();
  if (ex->failures >= t->cfg.breaker_failures) {
    uint32_t cap = t->cfg.breaker_open_ms;
    if (ex->probe_ms == 0) {
      ex->probe_ms = BREAKER_PROBE_MS < cap ? BREAKER_PROBE_MS : cap;
      __cst_inc(&t->breaker_opens, 1);
      __cst_log(t, CST_LOG_WARN, "collector unreachable, probing every %u to %u ms: %s: %s",
                ex->probe_ms, cap, why, strerror(err));
    } else {
      ex->probe_ms = ex->probe_ms > cap / 2 ? cap : ex->probe_ms * 2;
      __cst_log(t, CST_LOG_DEBUG, "collector probe failed, next in %u ms: %s: %s", ex->probe_ms,
                why, strerror(err));
    }
    /* A little jitter (the last quarter) so that services which lost the
     * same collector do not all probe it in the same millisecond. */
    ex->next_attempt = now + ex->probe_ms - jitter(ex, ex->probe_ms / 4);
    ex->failures = t->cfg.breaker_failures - 1;
    return;
  }
  uint64_t base = t->cfg.backoff_initial_ms;
  for (uint32_t i = 1; i < ex->failures && base < t->cfg.backoff_max_ms; i++)
    base *= 2;
  if (base > t->cfg.backoff_max_ms)
    base = t->cfg.backoff_max_ms;
  /* "Equal jitter": at least half the backoff, so retries do spread out. */
  ex->next_attempt = now + base / 2 + jitter(ex, base / 2);
  __cst_log(t, CST_LOG_DEBUG, "collector connection failed: %s: %s", why, strerror(err));
}

void __cst_tx_connected(struct __cst_exporter *ex) {
  ex->state = CONNECTED;
  /* failures is reset by the first acknowledgement, not here: a collector
   * that accepts and then drops us must still back off and trip the
   * breaker. */
  if (ex->ever_connected)
    __cst_inc(&ex->t->reconnects, 1);
  ex->ever_connected = 1;
  /* Everything not acknowledged goes again; the collector's store keys
   * spans by (trace ID, span ID), so a duplicate is overwritten. */
  ex->send_cur = ex->q_head;
  ex->send_off = 0;
  int one = 1;
  setsockopt(ex->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void __cst_tx_connect(struct __cst_exporter *ex) {
  cst_tracer *t = ex->t;
  ex->fd = socket(t->ep.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (ex->fd < 0) {
    __cst_tx_failed(ex, "socket", errno);
    return;
  }
  if (connect(ex->fd, (struct sockaddr *)&t->ep.addr, t->ep.addrlen) == 0) {
    __cst_tx_connected(ex);
  } else if (errno == EINPROGRESS) {
    ex->state = CONNECTING;
    ex->connect_deadline = __cst_mono_ms() + CONNECT_TIMEOUT_MS;
  } else {
    __cst_tx_failed(ex, "connect", errno);
  }
}

/* Removes f from the queue (f must not be send_cur). */
void __cst_tx_unlink(struct __cst_exporter *ex, frame *f) {
  frame *prev = NULL, *p = ex->q_head;
  while (p && p != f)
    prev = p, p = p->next;
  if (!p)
    return;
  if (prev)
    prev->next = f->next;
  else
    ex->q_head = f->next;
  if (ex->q_tail == f)
    ex->q_tail = prev;
  ex->q_bytes -= f->len;
  atomic_store(&ex->t->unacked_bytes, ex->q_bytes);
}

static void on_ack(struct __cst_exporter *ex, const cs_frame_hdr *h, const uint8_t *payload) {
  cst_tracer *t = ex->t;
  cs_ack ack;
  if (cs_frame_parse_ack(payload, h->len, &ack) != CS_WIRE_OK)
    return;
  frame *f = ex->q_head;
  while (f && f->seq != h->seq)
    f = f->next;
  if (!f || f == ex->send_cur)
    return; /* unknown, or acked before we sent it all */
  __cst_tx_unlink(ex, f);
  ex->failures = 0; /* the collector is demonstrably healthy */
  if (ex->probe_ms) {
    ex->probe_ms = 0; /* the circuit closes */
    __cst_log(t, CST_LOG_INFO, "collector reachable again, circuit closed");
  }
  __cst_inc(&t->frames_acked, 1);
  if (f->type == CS_FRAME_TRACES) {
    /* Spans the ack does not call accepted count as rejected, even if the
     * collector's rejected count is short: none goes uncounted. */
    uint32_t ok = ack.accepted < f->n ? (uint32_t)ack.accepted : f->n;
    __cst_inc(&t->spans_exported, ok);
    __cst_inc(&t->spans_rejected, f->n - ok);
  }
  __cst_frame_free(f);
}

void __cst_tx_read(struct __cst_exporter *ex) {
  for (;;) {
    ssize_t n = recv(ex->fd, ex->rbuf + ex->rlen, sizeof ex->rbuf - ex->rlen, MSG_DONTWAIT);
    if (n == 0) {
      __cst_tx_failed(ex, "collector closed the connection", 0);
      return;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return;
      __cst_tx_failed(ex, "recv", errno);
      return;
    }
    ex->rlen += (size_t)n;
    size_t off = 0;
    for (;;) {
      cs_frame_hdr h;
      int rc = cs_frame_parse_header(ex->rbuf + off, ex->rlen - off, 64, &h);
      if (rc == CS_WIRE_NEED_MORE)
        break;
      if (rc != CS_WIRE_OK || h.type != CS_FRAME_ACK) {
        __cst_tx_failed(ex, "malformed reply from collector", EPROTO);
        return;
      }
      if (ex->rlen - off < CS_FRAME_HDR_LEN + h.len)
        break;
      on_ack(ex, &h, ex->rbuf + off + CS_FRAME_HDR_LEN);
      off += CS_FRAME_HDR_LEN + h.len;
    }
    memmove(ex->rbuf, ex->rbuf + off, ex->rlen - off);
    ex->rlen -= off;
  }
}

void __cst_tx_write(struct __cst_exporter *ex) {
  while (ex->send_cur) {
    frame *f = ex->send_cur;
    ssize_t n =
        send(ex->fd, f->data + ex->send_off, f->len - ex->send_off, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return;
      __cst_tx_failed(ex, "send", errno);
      return;
    }
    ex->send_off += (uint32_t)n;
    if (ex->send_off == f->len) {
      __cst_inc(&ex->t->frames_sent, 1);
      ex->send_cur = f->next;
      ex->send_off = 0;
      if (f->type == CS_FRAME_METRICS) {
        /* Metrics are cumulative: the next export repairs a lost one, so
         * they are not held for an acknowledgement. */
        __cst_tx_unlink(ex, f);
        __cst_inc(&ex->t->metric_exports, 1);
        __cst_frame_free(f);
      }
    }
  }
}
