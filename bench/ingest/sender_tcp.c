/* TCP sender: streams frames on one connection with a window of
 * unacknowledged frames, reads the collector's ACKs, and on a broken
 * connection reconnects and resends every frame not yet acknowledged (a
 * resent span overwrites itself in the store, so this is safe). */
#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loadgen.h"
#include "wire.h"

typedef struct slot {
  uint8_t *buf;
  size_t len;
  uint64_t seq;
  uint32_t nspans;
  int used;
  double sent_at; /* when its last byte went out (0 = not yet) */
} slot;

typedef struct tcp_conn {
  lg_thread *t;
  int fd;
  slot *slots;
  uint32_t window;
  uint64_t next_seq; /* next frame to generate */
  uint64_t send_seq; /* next frame to write */
  size_t send_off;   /* bytes of send_seq's frame already written */
  uint64_t inflight;
  uint8_t rbuf[4096];
  size_t rlen;
} tcp_conn;

/* Connects, retrying for cfg->connect_s (the collector may still be
 * starting, or restarting after a kill). Returns the fd or -1. */
static int tcp_connect(const lg_config *cfg) {
  double until = lg_now() + cfg->connect_s;
  for (;;) {
    int fd = socket(cfg->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      return -1;
    if (connect(fd, (const struct sockaddr *)&cfg->addr, cfg->addrlen) == 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    close(fd);
    if (lg_now() > until)
      return -1;
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

static slot *slot_of(tcp_conn *c, uint64_t seq) {
  return &c->slots[seq % c->window];
}

/* Handles the bytes read so far: every complete ACK frees its slot. */
static int consume_acks(tcp_conn *c) {
  size_t off = 0;
  while (c->rlen - off >= CS_FRAME_HDR_LEN) {
    cs_frame_hdr h;
    int rc = cs_frame_parse_header(c->rbuf + off, c->rlen - off, 1024, &h);
    if (rc == CS_WIRE_NEED_MORE)
      break;
    if (rc != CS_WIRE_OK) {
      fprintf(stderr, "loadgen: bad frame from collector: %s\n", cs_wire_strerror(rc));
      return -1;
    }
    if (c->rlen - off < CS_FRAME_HDR_LEN + h.len)
      break;
    const uint8_t *payload = c->rbuf + off + CS_FRAME_HDR_LEN;
    off += CS_FRAME_HDR_LEN + h.len;
    if (h.type != CS_FRAME_ACK)
      continue;
    cs_ack ack;
    if (cs_frame_parse_ack(payload, h.len, &ack) != CS_WIRE_OK) {
      fprintf(stderr, "loadgen: malformed ack for seq %llu\n", (unsigned long long)h.seq);
      return -1;
    }
    slot *s = slot_of(c, h.seq);
    if (!s->used || s->seq != h.seq)
      continue; /* duplicate or stale */
    s->used = 0;
    c->inflight--;
    lg_stats *st = &c->t->st;
    atomic_fetch_add(&st->acked_frames, 1);
    atomic_fetch_add(&st->acked_spans, s->nspans);
    atomic_fetch_add(&st->accepted, ack.accepted);
    atomic_fetch_add(&st->rejected, ack.rejected);
  }
  memmove(c->rbuf, c->rbuf + off, c->rlen - off);
  c->rlen -= off;
  return 0;
}

/* Oldest frame still unacknowledged (or next_seq when none). */
static uint64_t oldest_unacked(tcp_conn *c) {
  uint64_t seq = c->next_seq > c->window ? c->next_seq - c->window : 0;
  for (; seq < c->next_seq; seq++)
    if (slot_of(c, seq)->used && slot_of(c, seq)->seq == seq)
      return seq;
  return c->next_seq;
}

static int reconnect(tcp_conn *c) {
  lg_stats *st = &c->t->st;
  close(c->fd);
  c->fd = tcp_connect(c->t->cfg);
  if (c->fd < 0)
    return -1;
  atomic_fetch_add(&st->reconnects, 1);
  c->rlen = 0;
  c->send_off = 0;
  uint64_t first = oldest_unacked(c);
  atomic_fetch_add(&st->resent_frames, c->send_seq - first);
  c->send_seq = first;
  for (uint64_t q = first; q < c->next_seq; q++)
    slot_of(c, q)->sent_at = 0;
  return 0;
}

/* Writes as much of the unsent frames as the socket takes. */
static int flush_some(tcp_conn *c) {
  while (c->send_seq < c->next_seq) {
    slot *s = slot_of(c, c->send_seq);
    if (!s->used || s->seq != c->send_seq) { /* acked already (after a resend) */
      c->send_seq++;
      c->send_off = 0;
      continue;
    }
    ssize_t n =
        send(c->fd, s->buf + c->send_off, s->len - c->send_off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return 0;
      return -1;
    }
    c->send_off += (size_t)n;
    if (c->send_off == s->len) {
      s->sent_at = lg_now();
      c->send_seq++;
      c->send_off = 0;
    }
  }
  return 0;
}

void *lg_run_tcp(void *arg) {
  lg_thread *t = arg;
  const lg_config *cfg = t->cfg;
  lg_stats *st = &t->st;
  tcp_conn c = {.t = t, .fd = -1, .window = cfg->window};
  lg_producer p;
  size_t cap = (size_t)cfg->batch * 2048 + 65536;
  if (cap > CS_FRAME_MAX_DEFAULT + CS_FRAME_HDR_LEN)
    cap = CS_FRAME_MAX_DEFAULT + CS_FRAME_HDR_LEN;
  c.slots = calloc(c.window, sizeof *c.slots);
  if (!c.slots || lg_producer_init(&p, cfg, t->index, cfg->batch, cap) != 0) {
    fprintf(stderr, "loadgen: out of memory\n");
    t->st.failed = 1;
    free(c.slots);
    return NULL;
  }
  for (uint32_t i = 0; i < c.window; i++)
    if (!(c.slots[i].buf = malloc(cap)))
      t->st.failed = 1;
  c.fd = t->st.failed ? -1 : tcp_connect(cfg);
  if (c.fd < 0 && !t->st.failed) {
    fprintf(stderr, "loadgen: cannot connect: %s\n", strerror(errno));
    t->st.failed = 1;
  }
  double t0 = lg_now(), drain_until = 0;
  int generating = !t->st.failed;
  while (!t->st.failed) {
    /* Fill free window slots with new frames. */
    while (generating) {
      uint64_t sent = atomic_load(&st->sent_spans);
      if (atomic_load(&lg_stop) || (t->quota && sent >= t->quota)) {
        generating = 0;
        drain_until = lg_now() + cfg->drain_s;
        break;
      }
      slot *s = slot_of(&c, c.next_seq);
      if (s->used)
        break;
      if (t->rate && lg_now() < t0 + (double)sent / (double)t->rate)
        break;
      if (lg_producer_next(&p, s->buf, cap, c.next_seq, &s->len, &s->nspans) != 0) {
        fprintf(stderr, "loadgen: a span does not fit in a frame\n");
        t->st.failed = 1;
        break;
      }
      s->seq = c.next_seq++;
      s->used = 1;
      c.inflight++;
      atomic_fetch_add(&st->sent_spans, s->nspans);
      atomic_fetch_add(&st->sent_frames, 1);
      atomic_fetch_add(&st->sent_bytes, s->len);
    }
    if (!generating && (c.inflight == 0 || lg_now() > drain_until))
      break;
    int rc = flush_some(&c);
    struct pollfd pfd = {c.fd, POLLIN, 0};
    if (c.send_seq < c.next_seq)
      pfd.events |= POLLOUT;
    if (rc == 0)
      rc = poll(&pfd, 1, 20) < 0 && errno != EINTR ? -1 : 0;
    if (rc == 0 && (pfd.revents & (POLLIN | POLLERR | POLLHUP))) {
      ssize_t n = recv(c.fd, c.rbuf + c.rlen, sizeof c.rbuf - c.rlen, MSG_DONTWAIT);
      if (n > 0) {
        c.rlen += (size_t)n;
        rc = consume_acks(&c);
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        rc = -1;
      }
    }
    /* A frame written long ago and still unacknowledged: the collector
     * lost it (or the connection is wedged); start over on a new one. */
    if (rc == 0 && cfg->ack_timeout_s > 0 && c.inflight) {
      slot *old = slot_of(&c, oldest_unacked(&c));
      if (old->used && old->sent_at > 0 && lg_now() - old->sent_at > cfg->ack_timeout_s) {
        fprintf(stderr, "loadgen: no ack for seq %llu after %.1f s, reconnecting\n",
                (unsigned long long)old->seq, cfg->ack_timeout_s);
        rc = -1;
      }
    }
    if (rc < 0) {
      atomic_fetch_add(&st->send_errors, 1);
      if (reconnect(&c) != 0) {
        fprintf(stderr, "loadgen: connection lost and reconnecting failed\n");
        t->st.failed = 1;
      }
    }
  }
  if (c.inflight)
    fprintf(stderr, "loadgen: connection %d: %llu frames never acknowledged\n", t->index,
            (unsigned long long)c.inflight);
  if (c.fd >= 0)
    close(c.fd);
  for (uint32_t i = 0; i < c.window; i++)
    free(c.slots[i].buf);
  free(c.slots);
  lg_producer_release(&p);
  return NULL;
}
