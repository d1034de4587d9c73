/* The collector as a library on its own loop thread (as an all-in-one
 * binary hosts it): back pressure pauses TCP without losing a frame and
 * drops UDP with a count, the span observer and metrics sink see what was
 * committed, idle peers are closed, retention runs on the writer, stats
 * are readable, and stop leaves no handle open. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "collector.h"
#include "daemon.h"
#include "otlp_build.h"
#include "workload.h"

#define FRAMES 300
#define SPANS 20

static cs_collector *col;
static uv_loop_t loop;
static _Atomic uint64_t observed, metric_calls, slow_ms;
static char metric_service[64];
static int g_tcp, g_udp;

static void observer(void *ud, const cs_span *spans, size_t n) {
  (void)ud;
  for (size_t i = 0; i < n; i++) CHECK(spans[i].resource != NULL);
  observed += n;
  if (slow_ms) usleep((useconds_t)(slow_ms * 1000)); /* a writer that falls behind */
}

static void sink(void *ud, const cs_otlp_resource_metrics *rm, const cs_resource *res) {
  (void)ud;
  CHECK(rm != NULL && rm->n_scope_metrics == 1);
  snprintf(metric_service, sizeof metric_service, "%.*s", (int)res->service.n, res->service.p);
  metric_calls++;
}

static void *loop_main(void *arg) {
  (void)arg;
  uv_run(&loop, UV_RUN_DEFAULT);
  return NULL;
}

typedef struct sender {
  int fd;
  int frames;
} sender;

static void *send_main(void *arg) {
  sender *s = arg;
  for (int f = 0; f < s->frames; f++) {
    ob b;
    ob_init(&b);
    wl_add_trace(&b, NULL, (uint64_t)f, SPANS);
    size_t len;
    uint8_t *buf = ob_pack(&b, CS_FRAME_TRACES, (uint64_t)f, &len);
    if (send_all(s->fd, buf, len)) f = s->frames;
    free(buf);
    ob_release(&b);
  }
  return NULL;
}

static void back_pressure_pauses_tcp_and_drops_udp(void) {
  int tcp_port = g_tcp, udp_port = g_udp;
  slow_ms = 20;
  int fd = tcp_connect(tcp_port);
  sender s = {fd, FRAMES};
  pthread_t th;
  pthread_create(&th, NULL, send_main, &s);
  /* While the writer crawls, UDP finds the queue full. */
  usleep(200000);
  int u = udp_socket();
  ob b;
  ob_init(&b);
  wl_add_trace(&b, "udp-", 5000, SPANS);
  size_t len;
  uint8_t *dg = ob_pack(&b, CS_FRAME_TRACES, 0, &len);
  for (int i = 0; i < 200; i++) udp_send(u, udp_port, dg, len);
  free(dg);
  ob_release(&b);
  close(u);
  int in_order = 1, got = 0;
  for (int f = 0; f < FRAMES; f++) {
    uint64_t seq;
    cs_ack ack;
    if (f == FRAMES / 2) slow_ms = 0; /* let it catch up */
    if (read_ack(fd, 10000, &seq, &ack) != 0) break;
    got++;
    in_order &= seq == (uint64_t)f && ack.accepted == SPANS;
  }
  pthread_join(th, NULL);
  close(fd);
  CHECK_EQ(got, FRAMES);
  CHECK(in_order);
  cs_collector_stats st;
  cs_collector_get_stats(col, &st);
  CHECK(st.tcp_pauses >= 1);
  CHECK(st.udp_dropped >= 1);
  /* Every span sent over UDP is accounted for: accepted, in a datagram
   * dropped for the full queue, or in one the kernel dropped (polled once
   * a second, hence the wait). */
  CHECK_EQ(st.udp_dropped_spans, st.udp_dropped * SPANS);
  for (int i = 0;
       i < 30 && st.spans_udp + st.udp_dropped_spans + st.udp_kernel_drops * SPANS < 200u * SPANS;
       i++) {
    usleep(100000);
    cs_collector_get_stats(col, &st);
  }
  CHECK_EQ(st.spans_udp + st.udp_dropped_spans + st.udp_kernel_drops * SPANS, 200u * SPANS);
  /* Bounded: the cap plus what one read can add before the pause. */
  CHECK(st.queue_bytes_peak < 2 * (256u << 10) + (1u << 20));
  fprintf(stderr, "  pauses=%llu udp_dropped=%llu kernel_drops=%llu queue_peak=%llu bytes\n",
          (unsigned long long)st.tcp_pauses, (unsigned long long)st.udp_dropped,
          (unsigned long long)st.udp_kernel_drops, (unsigned long long)st.queue_bytes_peak);
}

static void metrics_reach_the_sink(void) {
  int tcp_port = g_tcp;
  int fd = tcp_connect(tcp_port);
  size_t len;
  uint8_t *buf = ob_pack_metrics("billing", 3, CS_FRAME_METRICS, 1, &len);
  CHECK_EQ(send_all(fd, buf, len), 0);
  free(buf);
  uint64_t seq;
  cs_ack ack;
  CHECK_EQ(read_ack(fd, 5000, &seq, &ack), 0);
  CHECK_EQ(ack.accepted, 4);
  CHECK_EQ(metric_calls, 1);
  CHECK_STR(metric_service, "billing");
  close(fd);
}

static void idle_connections_are_closed_and_retention_runs(void) {
  int fd = tcp_connect(g_tcp);
  CHECK(fd >= 0);
  /* idle_timeout_ms is 1000 and connections are swept once a second. */
  CHECK(wait_closed(fd, 4000));
  close(fd);
  cs_collector_stats st;
  cs_collector_get_stats(col, &st);
  CHECK_EQ(st.conns_closed_idle, 1);
  /* expire_interval_ms is 200, but an idle writer checks only when its
   * 1 s wait for work ends: give it a few of those. */
  for (int i = 0; i < 30 && st.expire_runs == 0; i++) {
    usleep(100000);
    cs_collector_get_stats(col, &st);
  }
  CHECK(st.expire_runs >= 1);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  char dir[256], data[300];
  CHECK_EQ(tmpdir_make(dir, sizeof dir), 0);
  snprintf(data, sizeof data, "%s/data", dir);
  cs_store_opts so = {.dir = data};
  cs_store *st = NULL;
  char err[256];
  if (cs_store_open(&so, &st, err, sizeof err) != 0) {
    fprintf(stderr, "store: %s\n", err);
    return 1;
  }
  cs_collector_opts o;
  cs_collector_opts_default(&o);
  o.tcp_port = 0;
  o.udp_port = 0;
  o.max_queue_bytes = 256u << 10;
  o.max_batch_spans = 200;
  o.stats_interval_ms = 0;
  o.idle_timeout_ms = 1000;
  o.expire_interval_ms = 200;
  col = cs_collector_new(&o, st);
  cs_collector_set_span_observer(col, observer, NULL);
  cs_collector_set_metrics_sink(col, sink, NULL);
  uv_loop_init(&loop);
  CHECK_EQ(cs_collector_start(col, &loop), 0);
  int tcp_port, udp_port;
  cs_collector_ports(col, &tcp_port, &udp_port);
  CHECK(tcp_port > 0 && udp_port > 0);
  g_tcp = tcp_port;
  g_udp = udp_port;
  pthread_t th;
  pthread_create(&th, NULL, loop_main, NULL);

  RUN(metrics_reach_the_sink);
  RUN(idle_connections_are_closed_and_retention_runs);
  RUN(back_pressure_pauses_tcp_and_drops_udp);

  cs_collector_stop(col); /* from another thread than the loop's */
  pthread_join(th, NULL);
  CHECK_EQ(uv_loop_close(&loop), 0); /* every handle closed */
  cs_collector_stats s;
  cs_collector_get_stats(col, &s);
  CHECK_EQ(s.spans_written, observed);
  CHECK(s.spans_written >= FRAMES * SPANS);
  CHECK_EQ(s.queue_bytes, 0);
  CHECK_EQ(s.queue_items, 0);
  CHECK_EQ(s.conns_open, 0);
  cs_collector_free(col);
  cs_store_close(st);
  tmpdir_remove(dir);
  return CHECK_DONE();
}
