/* StatsD over UDP on the collector's loop: each datagram's lines are
 * parsed and aggregated (statsd.c); a timer flushes the aggregates as one
 * OTLP metrics item through the writer queue to the metrics sink, the same
 * way OTLP metrics travel, so they show on /metrics. */
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "recv_int.h"
#include "statsd.h"

#define STATSD_MAX_DGRAM 65536
#define STATSD_MAX_SERIES 10000
#define STATSD_IDLE_NS (300ull * 1000000000ull) /* forget series idle for 5 min */

struct cs_statsd {
  uv_udp_t udp;
  uv_timer_t flush;
  cs_statsd_agg *agg;
  char *buf;
  int open; /* handles initialised and not yet closed */
};

static uint64_t wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  cs_collector *c = h->data;
  (void)suggested;
  *buf = uv_buf_init(c->recv->statsd->buf, STATSD_MAX_DGRAM);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags) {
  cs_collector *c = h->data;
  (void)addr;
  if (nread <= 0) return;
  STAT_ADD(c, statsd_datagrams, 1);
  if (flags & UV_UDP_PARTIAL) {
    STAT_ADD(c, statsd_bad_lines, 1);
    return;
  }
  uint64_t ok = 0, bad = 0, dropped = 0;
  cs_statsd_agg_datagram(c->recv->statsd->agg, buf->base, (size_t)nread, wall_ns(), &ok, &bad,
                         &dropped);
  STAT_ADD(c, statsd_lines, ok);
  if (bad) {
    STAT_ADD(c, statsd_bad_lines, bad);
    __cs_log_peer(c, CS_LOG_WARN, "statsd: %llu malformed lines in a datagram of %zd bytes",
                  (unsigned long long)bad, nread);
  }
  if (dropped) STAT_ADD(c, statsd_dropped, dropped);
}

/* Hands what was aggregated to the writer as one metrics item. Under back
 * pressure the aggregates stay and merge into the next flush, so this one
 * small item a second asks as an acknowledged sender would: a native UDP
 * flood at its own share of the queue does not hold StatsD back. */
static void flush(cs_collector *c) {
  cs_statsd *sd = c->recv->statsd;
  if (!__cs_admit(c, CS_ADMIT_ACKED)) return;
  cs_item *it = calloc(1, sizeof *it);
  if (!it) return;
  cs_arena_init(&it->arena, 64u << 10, 64u << 20);
  size_t points = 0;
  if (cs_statsd_agg_flush(sd->agg, &it->arena, wall_ns(), STATSD_IDLE_NS, &it->metrics,
                          &it->resources, &points) ||
      !it->metrics) {
    __cs_item_free(it);
    return;
  }
  it->type = CS_FRAME_METRICS;
  it->accepted = (uint32_t)points;
  it->bytes = sizeof *it + it->arena.reserved;
  STAT_ADD(c, statsd_points, points);
  __cs_queue_push(c, it);
}

static void on_flush(uv_timer_t *t) { flush(t->data); }

int __cs_statsd_start(cs_collector *c, int port, int *bound) {
  *bound = 0;
  struct sockaddr_storage sa;
  int rc = uv_ip4_addr(c->listen_addr, port, (struct sockaddr_in *)&sa);
  if (rc) rc = uv_ip6_addr(c->listen_addr, port, (struct sockaddr_in6 *)&sa);
  if (rc) return rc;
  cs_statsd *sd = calloc(1, sizeof *sd);
  if (!sd) return UV_ENOMEM;
  c->recv->statsd = sd;
  sd->buf = malloc(STATSD_MAX_DGRAM);
  sd->agg = cs_statsd_agg_new(STATSD_MAX_SERIES);
  if (!sd->buf || !sd->agg) return UV_ENOMEM;
  uv_udp_init(c->loop, &sd->udp);
  uv_timer_init(c->loop, &sd->flush);
  sd->udp.data = sd->flush.data = c;
  sd->open = 1;
  if ((rc = uv_udp_bind(&sd->udp, (struct sockaddr *)&sa, 0)) ||
      (rc = uv_udp_recv_start(&sd->udp, on_alloc, on_recv))) {
    uv_close((uv_handle_t *)&sd->udp, NULL);
    uv_close((uv_handle_t *)&sd->flush, NULL);
    sd->open = 0;
    return rc;
  }
  int salen = sizeof sa;
  uv_udp_getsockname(&sd->udp, (struct sockaddr *)&sa, &salen);
  *bound = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                          : ((struct sockaddr_in *)&sa)->sin_port);
  uint32_t every = c->o.statsd_flush_ms ? c->o.statsd_flush_ms : 1000;
  uv_timer_start(&sd->flush, on_flush, every, every);
  cs_log(CS_LOG_INFO, "collector", "listening statsd %s:%d", c->listen_addr, *bound);
  return 0;
}

void __cs_statsd_stop(cs_collector *c) {
  cs_statsd *sd = c->recv ? c->recv->statsd : NULL;
  if (!sd || !sd->open) return;
  flush(c); /* the writer drains it before exiting */
  sd->open = 0;
  uv_close((uv_handle_t *)&sd->udp, NULL);
  uv_close((uv_handle_t *)&sd->flush, NULL);
}

void __cs_statsd_free(cs_collector *c) {
  cs_statsd *sd = c->recv ? c->recv->statsd : NULL;
  if (!sd) return;
  cs_statsd_agg_free(sd->agg);
  free(sd->buf);
  free(sd);
  c->recv->statsd = NULL;
}
