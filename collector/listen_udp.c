/* UDP receiver: one frame per datagram, read many at a time with
 * recvmmsg (UV_UDP_RECVMMSG). Datagrams that break the framing, and all
 * datagrams while UDP's share of the writer's queue (or the whole queue)
 * is full, are dropped and counted, in datagrams, bytes and spans. */
#include <linux/sock_diag.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "collector_int.h"
#include "log.h"

#define DGRAM_SLOT 65536 /* libuv's per-message slot size with recvmmsg */
#define DGRAM_SLOTS 20   /* libuv reads at most this many per recvmmsg */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  cs_collector *c = h->data;
  (void)suggested;
  /* Reused for every read: recv_cb consumes datagrams synchronously. */
  *buf = uv_buf_init((char *)c->udp_rbuf, (unsigned)c->udp_rbuf_len);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags) {
  cs_collector *c = h->data;
  if (nread == 0 || c->stopping)
    return; /* nothing (more) to read, or buffer release */
  if (nread < 0) {
    __cs_log_peer(c, CS_LOG_WARN, "udp receive failed: %s", uv_strerror((int)nread));
    return;
  }
  (void)addr;
  if (flags & UV_UDP_PARTIAL) {
    STAT_ADD(c, udp_truncated, 1);
    STAT_ADD(c, frame_errors_udp, 1);
    return;
  }
  cs_frame_hdr hdr;
  const uint8_t *payload;
  int rc = cs_frame_parse_datagram((const uint8_t *)buf->base, (size_t)nread, CS_FRAME_MAX_UDP,
                                   &hdr, &payload);
  if (rc == CS_WIRE_OK && hdr.type == CS_FRAME_ACK)
    rc = CS_WIRE_ETYPE;
  if (rc != CS_WIRE_OK) {
    STAT_ADD(c, frame_errors_udp, 1);
    if (-rc > 0 && -rc < 16)
      STAT_ADD(c, wire_errors[-rc], 1);
    __cs_log_peer(c, CS_LOG_WARN, "dropping udp datagram of %zd bytes: %s", nread,
                  cs_wire_strerror(rc));
    return;
  }
  if (!__cs_admit(c, CS_ADMIT_UDP)) {
    STAT_ADD(c, udp_dropped, 1);
    STAT_ADD(c, udp_dropped_bytes, nread);
    if (hdr.type == CS_FRAME_TRACES) { /* a walk of three levels, no decode */
      long n = cs_decode_count_spans(payload, hdr.len);
      if (n > 0)
        STAT_ADD(c, udp_dropped_spans, n);
    }
    return;
  }
  __cs_handle_frame(c, NULL, &hdr, payload);
}

/* Asks for a large receive buffer: bursts above what the loop drains in
 * one turn wait there. As root SO_RCVBUFFORCE goes past net.core.rmem_max. */
static void size_rcvbuf(cs_collector *c) {
  uv_os_fd_t fd;
  int want = c->o.udp_rcvbuf > (size_t)(INT32_MAX / 2) ? INT32_MAX / 2 : (int)c->o.udp_rcvbuf;
  if (want <= 0)
    return;
  if (uv_fileno((uv_handle_t *)&c->udp, &fd) == 0)
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0)
      uv_recv_buffer_size((uv_handle_t *)&c->udp, &want);
  int got = 0;
  uv_recv_buffer_size((uv_handle_t *)&c->udp, &got);
  /* Linux reports twice the usable size (it counts bookkeeping). */
  cs_log(got < want ? CS_LOG_WARN : CS_LOG_INFO, "collector",
         "udp receive buffer: asked %d bytes, kernel gave %d", want, got);
}

int __cs_udp_start(cs_collector *c) {
  struct sockaddr_storage sa;
  int rc = uv_ip4_addr(c->listen_addr, c->o.udp_port, (struct sockaddr_in *)&sa);
  if (rc)
    rc = uv_ip6_addr(c->listen_addr, c->o.udp_port, (struct sockaddr_in6 *)&sa);
  if (rc) {
    cs_log(CS_LOG_ERROR, "collector", "bad listen address: %s", c->listen_addr);
    return rc;
  }
  c->udp_rbuf_len = (size_t)DGRAM_SLOT * DGRAM_SLOTS;
  c->udp_rbuf = malloc(c->udp_rbuf_len);
  if (!c->udp_rbuf)
    return UV_ENOMEM;
  if ((rc = uv_udp_init_ex(c->loop, &c->udp, AF_UNSPEC | UV_UDP_RECVMMSG)))
    return rc;
  c->udp.data = c;
  c->udp_on = 1;
  if ((rc = uv_udp_bind(&c->udp, (struct sockaddr *)&sa, 0)) ||
      (rc = uv_udp_recv_start(&c->udp, on_alloc, on_recv))) {
    cs_log(CS_LOG_ERROR, "collector", "udp bind on %s:%d failed: %s", c->listen_addr, c->o.udp_port,
           uv_strerror(rc));
    return rc;
  }
  size_rcvbuf(c);
  int salen = sizeof sa;
  uv_udp_getsockname(&c->udp, (struct sockaddr *)&sa, &salen);
  c->udp_port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                               : ((struct sockaddr_in *)&sa)->sin_port);
  cs_log(CS_LOG_INFO, "collector", "listening udp %s:%d", c->listen_addr, c->udp_port);
  return 0;
}

void __cs_udp_close(cs_collector *c) {
  if (c->udp_on && !uv_is_closing((uv_handle_t *)&c->udp)) {
    uv_udp_recv_stop(&c->udp);
    uv_close((uv_handle_t *)&c->udp, NULL);
  }
}

void __cs_udp_poll_drops(cs_collector *c) {
  /* The socket's own drop count (sk_drops: receive buffer full, mostly),
   * where /proc/net/snmp's RcvbufErrors is the whole host's. SO_MEMINFO
   * reads it without recvmsg ancillary data (SO_RXQ_OVFL), which libuv's
   * recvmmsg path does not pass on. Linux 4.6 and later. */
  uv_os_fd_t fd;
  uint32_t mi[SK_MEMINFO_VARS];
  socklen_t len = sizeof mi;
  if (!c->udp_on || uv_is_closing((uv_handle_t *)&c->udp) || uv_fileno((uv_handle_t *)&c->udp, &fd))
    return;
  if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &len) == 0 &&
      len > SK_MEMINFO_DROPS * sizeof mi[0])
    STAT_SET(c, udp_kernel_drops, mi[SK_MEMINFO_DROPS]);
}
