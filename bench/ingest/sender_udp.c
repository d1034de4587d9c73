/* UDP sender: one frame per datagram, paced to the configured rate, and the
 * "dry" sender that only generates and encodes (to measure what the load
 * generator itself costs). UDP has no ACKs: loss is what the collector
 * counted as received against what was sent here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loadgen.h"
#include "wire.h"

/* Spans per datagram: measured on one trace, with 10% slack; frames that
 * still come out too big are halved by the producer. */
static uint32_t spans_per_datagram(const lg_config *cfg, int index) {
  lg_producer p;
  if (lg_producer_init(&p, cfg, index, CS_WORKLOAD_MAX_TRACE_SPANS, 1 << 20) != 0)
    return 1;
  static _Thread_local uint8_t buf[1 << 20];
  size_t len = 0;
  uint32_t n = 0;
  uint32_t per = 1;
  if (lg_producer_next(&p, buf, sizeof buf, 0, &len, &n) == 0 && n > 0) {
    double per_span = (double)(len - CS_FRAME_HDR_LEN) / n * 1.1;
    double fit = (double)(cfg->udp_size - CS_FRAME_HDR_LEN - 64) / per_span;
    per = fit < 1 ? 1 : (uint32_t)fit;
    /* Batches overshoot by up to one trace: leave room for it. */
    if (per > 2 * CS_WORKLOAD_MAX_TRACE_SPANS)
      per -= CS_WORKLOAD_MAX_TRACE_SPANS;
  }
  lg_producer_release(&p);
  return per;
}

void *lg_run_udp(void *arg) {
  lg_thread *t = arg;
  const lg_config *cfg = t->cfg;
  lg_stats *st = &t->st;
  uint32_t per = spans_per_datagram(cfg, t->index);
  lg_producer p;
  uint8_t *buf = malloc(cfg->udp_size);
  int fd = socket(cfg->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (!buf || fd < 0 || lg_producer_init(&p, cfg, t->index, per, cfg->udp_size) != 0) {
    fprintf(stderr, "loadgen: udp set-up failed: %s\n", strerror(errno));
    t->st.failed = 1;
    free(buf);
    if (fd >= 0)
      close(fd);
    return NULL;
  }
  int sndbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (connect(fd, (const struct sockaddr *)&cfg->addr, cfg->addrlen) != 0) {
    fprintf(stderr, "loadgen: udp connect failed: %s\n", strerror(errno));
    t->st.failed = 1;
  }
  double t0 = lg_now();
  uint64_t seq = 0;
  while (!t->st.failed && !atomic_load(&lg_stop)) {
    uint64_t sent = atomic_load(&st->sent_spans);
    if (t->quota && sent >= t->quota)
      break;
    size_t len = 0;
    uint32_t n = 0;
    if (lg_producer_next(&p, buf, cfg->udp_size, seq++, &len, &n) != 0) {
      fprintf(stderr, "loadgen: a span does not fit in a %u-byte datagram\n", cfg->udp_size);
      t->st.failed = 1;
      break;
    }
    lg_pace(t->rate, t0, sent, n);
    /* A blocking socket: when the send buffer is full we wait rather than
     * drop, so every loss is the collector's, not ours. */
    for (int tries = 0; tries < 100; tries++) {
      if (send(fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len) {
        atomic_fetch_add(&st->sent_spans, n);
        atomic_fetch_add(&st->sent_frames, 1);
        atomic_fetch_add(&st->sent_bytes, len);
        break;
      }
      atomic_fetch_add(&st->send_errors, 1);
      /* ECONNREFUSED: an ICMP port unreachable from a previous datagram;
       * that datagram is lost, this one was not sent: try again once. */
      if (errno != EINTR && errno != ECONNREFUSED && errno != ENOBUFS)
        break;
      if (atomic_load(&lg_stop))
        break;
    }
  }
  lg_producer_release(&p);
  close(fd);
  free(buf);
  return NULL;
}

void *lg_run_dry(void *arg) {
  lg_thread *t = arg;
  const lg_config *cfg = t->cfg;
  lg_stats *st = &t->st;
  lg_producer p;
  size_t cap = (size_t)cfg->batch * 2048 + 65536;
  uint8_t *buf = malloc(cap);
  if (!buf || lg_producer_init(&p, cfg, t->index, cfg->batch, cap) != 0) {
    t->st.failed = 1;
    free(buf);
    return NULL;
  }
  uint64_t seq = 0;
  while (!atomic_load(&lg_stop)) {
    if (t->quota && atomic_load(&st->sent_spans) >= t->quota)
      break;
    size_t len = 0;
    uint32_t n = 0;
    if (lg_producer_next(&p, buf, cap, seq++, &len, &n) != 0) {
      t->st.failed = 1;
      break;
    }
    atomic_fetch_add(&st->sent_spans, n);
    atomic_fetch_add(&st->sent_frames, 1);
    atomic_fetch_add(&st->sent_bytes, len);
  }
  lg_producer_release(&p);
  free(buf);
  return NULL;
}
