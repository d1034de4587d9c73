/* UDP under the exporter: datagram sends, and what the kernel reports about
 * them. A send to a closed port succeeds; the ICMP error comes back after
 * it. With IP_RECVERR / IPV6_RECVERR each error is queued on the socket's
 * error queue, read here, so a span counts as exported only once its
 * datagram was sent and no error came back within UDP_ERROR_WINDOW_MS after
 * it. Runs only on the exporter thread. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h> /* before linux/errqueue.h, which uses struct timespec */

#include <linux/errqueue.h>

#include "exporter_int.h"

/* Refusals this far apart or more start a new episode, logged as a warning
 * (the others at debug level). */
#define UDP_WARN_QUIET_MS 10000

int __cst_udp_open(struct __cst_exporter *ex) {
  cst_tracer *t = ex->t;
  ex->fd = socket(t->ep.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (ex->fd < 0)
    return -1;
  /* Without an error queue the kernel keeps one pending error, which fails
   * the next send and is then forgotten: to a closed port every other send
   * looked delivered. IP_RECVERR also covers IPv4-mapped peers of an IPv6
   * socket, so it is set on both. */
  int one = 1;
  setsockopt(ex->fd, IPPROTO_IP, IP_RECVERR, &one, sizeof one);
  if (t->ep.family == AF_INET6)
    setsockopt(ex->fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof one);
  /* Connected, so the kernel reports an unreachable collector to us. */
  return connect(ex->fd, (struct sockaddr *)&t->ep.addr, t->ep.addrlen);
}

/* The collector refused a datagram (or the network reported it lost): every
 * span still inside its window counts as dropped, not only the refused
 * datagram's. The kernel sends at most icmp_msgs_burst (50) ICMP errors at
 * once and icmp_msgs_per_sec (1000) after that, so a refusing collector does
 * not answer every datagram; one refusal stands for all sent just before. */
static void refused(struct __cst_exporter *ex) {
  __cst_inc(&ex->t->dropped_export, ex->pend_spans);
  ex->pend_n = 0;
  ex->pend_spans = 0;
}

static void log_refusal(struct __cst_exporter *ex, uint64_t now, const char *what, int err,
                        uint64_t seq) {
  int level =
      ex->udp_warn_ms && now - ex->udp_warn_ms < UDP_WARN_QUIET_MS ? CST_LOG_DEBUG : CST_LOG_WARN;
  if (level == CST_LOG_WARN)
    ex->udp_warn_ms = now;
  __cst_log(ex->t, level, "%s: seq %llu: %s", what, (unsigned long long)seq, strerror(err));
}

void __cst_tx_udp_send(struct __cst_exporter *ex, frame *f) {
  cst_tracer *t = ex->t;
  ssize_t n = send(ex->fd, f->data, f->len, MSG_DONTWAIT | MSG_NOSIGNAL);
  uint64_t now = __cst_mono_ms();
  if (n == (ssize_t)f->len) {
    __cst_inc(&t->frames_sent, 1);
    if (f->type == CS_FRAME_METRICS)
      __cst_inc(&t->metric_exports, 1);
    if (f->n) {
      /* Frames sent in the same millisecond share a slot; when all slots
       * are taken the newest absorbs the frame and takes its time, so a
       * span never settles before its window has passed. */
      __cst_udp_pend *p =
          ex->pend_n ? &ex->pend[(ex->pend_head + ex->pend_n - 1) % UDP_PEND_SLOTS] : NULL;
      if (!p || (p->ms != now && ex->pend_n < UDP_PEND_SLOTS)) {
        p = &ex->pend[(ex->pend_head + ex->pend_n++) % UDP_PEND_SLOTS];
        p->spans = 0;
      }
      p->ms = now;
      p->spans += f->n;
      ex->pend_spans += f->n;
    }
  } else {
    int err = n < 0 ? errno : EMSGSIZE;
    __cst_inc(&t->export_errors, 1);
    __cst_inc(&t->dropped_export, f->n);
    /* A full socket buffer is ours; anything else (ECONNREFUSED: the kernel
     * reporting an earlier datagram's ICMP error) is the network's. */
    if (err != EAGAIN && err != EWOULDBLOCK && err != ENOBUFS && err != ENOMEM && err != EINTR) {
      log_refusal(ex, now, "udp send to the collector failed", err, f->seq);
      refused(ex);
    } else {
      __cst_log(t, CST_LOG_DEBUG, "udp send failed: %s", strerror(err));
    }
  }
  __cst_frame_free(f);
}

/* Reads the error queue to its end; each entry is one datagram the network
 * reported undeliverable. Its first bytes are the datagram's own, so the
 * frame header names the sequence number (for the log). */
static void read_errors(struct __cst_exporter *ex) {
  for (;;) {
    uint8_t data[CS_FRAME_HDR_LEN];
    union {
      char buf[CMSG_SPACE(sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in6))];
      struct cmsghdr align;
    } ctl;
    struct iovec iov = {data, sizeof data};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl.buf;
    m.msg_controllen = sizeof ctl.buf;
    ssize_t n = recvmsg(ex->fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return; /* EAGAIN: the queue is empty */
    }
    int err = EIO;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
      if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
          (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
        struct sock_extended_err ee;
        memcpy(&ee, CMSG_DATA(c), sizeof ee);
        err = ee.ee_errno ? (int)ee.ee_errno : EIO;
      }
    }
    cs_frame_hdr h;
    uint64_t seq = 0;
    if (cs_frame_parse_header(data, (size_t)n, UINT32_MAX, &h) == CS_WIRE_OK)
      seq = h.seq;
    uint64_t now = __cst_mono_ms();
    __cst_inc(&ex->t->export_errors, 1);
    log_refusal(ex, now, "udp datagram to the collector refused", err, seq);
    refused(ex);
  }
}

void __cst_udp_settle(struct __cst_exporter *ex) {
  read_errors(ex);
  uint64_t now = __cst_mono_ms();
  while (ex->pend_n && now - ex->pend[ex->pend_head].ms >= UDP_ERROR_WINDOW_MS) {
    __cst_udp_pend *p = &ex->pend[ex->pend_head];
    __cst_inc(&ex->t->spans_exported, p->spans);
    ex->pend_spans -= p->spans;
    ex->pend_head = (ex->pend_head + 1) % UDP_PEND_SLOTS;
    ex->pend_n--;
  }
}

uint64_t __cst_udp_next_settle(const struct __cst_exporter *ex) {
  return ex->pend_n ? ex->pend[ex->pend_head].ms + UDP_ERROR_WINDOW_MS : UINT64_MAX;
}

int __cst_udp_settled_by(const struct __cst_exporter *ex, uint64_t ms) {
  return ex->pend_n == 0 || ex->pend[ex->pend_head].ms > ms;
}

void __cst_udp_finish(struct __cst_exporter *ex) {
  __cst_udp_settle(ex);
  /* Still inside their window when the shutdown timeout ran out: not known
   * to be delivered, so counted as given up, like unacknowledged TCP. */
  __cst_inc(&ex->t->dropped_export, ex->pend_spans);
  ex->pend_n = 0;
  ex->pend_spans = 0;
}
