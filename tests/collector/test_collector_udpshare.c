/* UDP's share of the writer queue (max_udp_queue_bytes): with the writer
 * held inside a commit, a UDP flood fills only its own share and is then
 * dropped and counted, while a TCP sender keeps being read; once the
 * writer goes on, every TCP frame is acknowledged and every UDP span sent
 * is accounted for exactly, as stored or dropped. No step depends on how
 * fast anything runs: the writer is held by the span observer, and each
 * wait is for a counter to reach a value (with a bound against a hang). */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "collector.h"
#include "daemon.h"
#include "otlp_build.h"
#include "workload.h"

#define SPANS 20       /* per frame */
#define UDP_FRAMES 400 /* far more than the whole queue holds */
#define UDP_BURST 20   /* datagrams sent before waiting for the collector */
#define TCP_FRAMES 20  /* sent while the writer is held */
#define QUEUE_BYTES (1u << 20)
#define UDP_QUEUE_BYTES (64u << 10)
#define HANG_MS 10000 /* a bound for waits that pass at once when all is well */

static cs_collector *col;
static uv_loop_t loop;

/* The writer, held inside the span observer while `hold` is set. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int hold, held;
static uint64_t stored_udp, stored_tcp; /* spans committed, by sender */

static void observer(void *ud, const cs_span *spans, size_t n) {
  (void)ud;
  pthread_mutex_lock(&mu);
  for (size_t i = 0; i < n; i++) {
    const cs_str *svc = &spans[i].resource->service;
    if (svc->n >= 4 && !memcmp(svc->p, "udp-", 4)) stored_udp++;
    else stored_tcp++;
  }
  held = hold;
  pthread_cond_broadcast(&cv);
  while (hold) pthread_cond_wait(&cv, &mu);
  held = 0;
  pthread_mutex_unlock(&mu);
}

static void *loop_main(void *arg) {
  (void)arg;
  uv_run(&loop, UV_RUN_DEFAULT);
  return NULL;
}

static cs_collector_stats stats(void) {
  cs_collector_stats st;
  cs_collector_get_stats(col, &st);
  return st;
}

/* Datagrams the collector has dealt with: queued, dropped by it, dropped
 * by the kernel (published once a second). */
static uint64_t udp_seen(const cs_collector_stats *st) {
  return st->frames_udp + st->udp_dropped + st->udp_kernel_drops;
}

/* Polls until frames_tcp reaches want (or the hang bound passes). */
static uint64_t wait_frames_tcp(uint64_t want) {
  cs_collector_stats st = stats();
  for (int i = 0; i < HANG_MS / 10 && st.frames_tcp < want; i++) {
    usleep(10000);
    st = stats();
  }
  return st.frames_tcp;
}

static int send_tcp_frame(int fd, uint64_t seq) {
  ob b;
  ob_init(&b);
  wl_add_trace(&b, NULL, seq, SPANS);
  size_t len;
  uint8_t *buf = ob_pack(&b, CS_FRAME_TRACES, seq, &len);
  int rc = send_all(fd, buf, len);
  free(buf);
  ob_release(&b);
  return rc;
}

static void udp_flood_keeps_to_its_share_and_tcp_is_still_read(void) {
  int tcp_port, udp_port;
  cs_collector_ports(col, &tcp_port, &udp_port);
  int fd = tcp_connect(tcp_port);
  CHECK(fd >= 0);

  /* Hold the writer inside the commit of TCP frame 0. */
  pthread_mutex_lock(&mu);
  hold = 1;
  pthread_mutex_unlock(&mu);
  CHECK_EQ(send_tcp_frame(fd, 0), 0);
  pthread_mutex_lock(&mu);
  while (!held) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);

  /* The flood, in bursts the socket buffer holds, each waited for. */
  int u = udp_socket();
  uint64_t sent = 0;
  while (sent < UDP_FRAMES) {
    for (int k = 0; k < UDP_BURST; k++, sent++) {
      ob b;
      ob_init(&b);
      wl_add_trace(&b, "udp-", 100000 + sent, SPANS);
      size_t len;
      uint8_t *dg = ob_pack(&b, CS_FRAME_TRACES, 0, &len);
      CHECK_EQ(udp_send(u, udp_port, dg, len), 0);
      free(dg);
      ob_release(&b);
    }
    cs_collector_stats st = stats();
    for (int i = 0; i < HANG_MS / 10 && udp_seen(&st) < sent; i++) {
      usleep(10000);
      st = stats();
    }
    CHECK_EQ(udp_seen(&st), sent);
  }
  close(u);
  cs_collector_stats st = stats();
  uint64_t item = st.frames_udp ? st.queue_bytes_udp / st.frames_udp : 0;
  fprintf(stderr, "  udp queued=%llu dropped=%llu kernel=%llu, %llu bytes queued (share %u)\n",
          (unsigned long long)st.frames_udp, (unsigned long long)st.udp_dropped,
          (unsigned long long)st.udp_kernel_drops, (unsigned long long)st.queue_bytes_udp,
          UDP_QUEUE_BYTES);
  /* Without the share, the flood alone would have filled the queue. */
  CHECK(item > 0 && item * UDP_FRAMES > QUEUE_BYTES);
  CHECK(st.frames_udp >= 1);
  CHECK(st.udp_dropped >= 1);
  CHECK(st.queue_bytes_udp <= UDP_QUEUE_BYTES + item); /* one frame's overshoot */
  CHECK_EQ(st.tcp_paused, 0);

  /* Frame by frame, each read before the next is sent: a paused
   * connection stops at the first. */
  for (uint64_t f = 1; f <= TCP_FRAMES; f++) {
    CHECK_EQ(send_tcp_frame(fd, f), 0);
    if (wait_frames_tcp(f + 1) < f + 1) {
      CHECK_EQ(stats().frames_tcp, f + 1);
      CHECK_EQ(stats().tcp_paused, 0);
      break;
    }
  }

  pthread_mutex_lock(&mu);
  hold = 0;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);

  int in_order = 1, got = 0;
  for (uint64_t f = 0; f <= TCP_FRAMES; f++) {
    uint64_t seq;
    cs_ack ack;
    if (read_ack(fd, HANG_MS, &seq, &ack) != 0) break;
    got++;
    in_order &= seq == f && ack.accepted == SPANS && ack.rejected == 0;
  }
  close(fd);
  CHECK_EQ(got, TCP_FRAMES + 1);
  CHECK(in_order);

  /* Drained: every UDP span sent is stored or counted as dropped. */
  st = stats();
  for (int i = 0; i < HANG_MS / 10 && (st.queue_items || udp_seen(&st) < UDP_FRAMES); i++) {
    usleep(10000);
    st = stats();
  }
  CHECK_EQ(st.queue_items, 0);
  CHECK_EQ(st.queue_bytes_udp, 0);
  pthread_mutex_lock(&mu);
  uint64_t udp = stored_udp, tcp = stored_tcp;
  pthread_mutex_unlock(&mu);
  CHECK_EQ(tcp, (TCP_FRAMES + 1) * SPANS);
  CHECK_EQ(udp, st.spans_udp);
  CHECK_EQ(st.udp_dropped_spans, st.udp_dropped * SPANS);
  CHECK_EQ(udp + st.udp_dropped_spans + st.udp_kernel_drops * SPANS, UDP_FRAMES * SPANS);
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
  o.otlp_http_port = o.zipkin_port = o.statsd_port = -1;
  o.max_queue_bytes = QUEUE_BYTES;
  o.max_udp_queue_bytes = UDP_QUEUE_BYTES;
  o.stats_interval_ms = 0;
  col = cs_collector_new(&o, st);
  cs_collector_set_span_observer(col, observer, NULL);
  uv_loop_init(&loop);
  CHECK_EQ(cs_collector_start(col, &loop), 0);
  pthread_t th;
  pthread_create(&th, NULL, loop_main, NULL);

  RUN(udp_flood_keeps_to_its_share_and_tcp_is_still_read);

  cs_collector_stop(col);
  pthread_join(th, NULL);
  CHECK_EQ(uv_loop_close(&loop), 0);
  cs_collector_free(col);
  cs_store_close(st);
  tmpdir_remove(dir);
  return CHECK_DONE();
}
