/* UDP's share of the writer queue (max_udp_queue_bytes): with the writer
 * held inside a commit, a UDP flood fills only its own share and is then
 * dropped and counted, while a TCP sender keeps being read; once the
 * writer goes on, every TCP frame is acknowledged and every UDP span sent
 * is accounted for exactly, as stored or dropped. And with a share above
 * half the queue, a paused TCP sender resumes while UDP keeps its share
 * full. No step depends on how fast anything runs: the span observer
 * holds the writer or lets it through one batch at a time, and each wait
 * is for a counter to reach a value (with a bound against a hang). */
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

/* The writer, held inside the span observer while `hold` is set, except
 * for `steps` more batches. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int hold, held, steps;
static uint64_t batch_tcp, batch_udp;   /* spans of the batch last observed */
static uint64_t stored_udp, stored_tcp; /* spans committed, by sender */
static uint64_t udp_sent;               /* datagrams sent to this collector */

static void observer(void *ud, const cs_span *spans, size_t n) {
  (void)ud;
  pthread_mutex_lock(&mu);
  batch_tcp = batch_udp = 0;
  for (size_t i = 0; i < n; i++) {
    const cs_str *svc = &spans[i].resource->service;
    if (svc->n >= 4 && !memcmp(svc->p, "udp-", 4))
      batch_udp++;
    else
      batch_tcp++;
  }
  stored_udp += batch_udp;
  stored_tcp += batch_tcp;
  held = hold;
  pthread_cond_broadcast(&cv);
  while (hold && !steps)
    pthread_cond_wait(&cv, &mu);
  if (steps)
    steps--;
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

/* Polls the stats into st until cond holds or the hang bound passes. */
#define WAIT_STATS(st, cond)                                                                       \
  do {                                                                                             \
    st = stats();                                                                                  \
    for (int i_ = 0; i_ < HANG_MS / 10 && !(cond); i_++) {                                         \
      usleep(10000);                                                                               \
      st = stats();                                                                                \
    }                                                                                              \
  } while (0)

static void hold_writer(void) {
  pthread_mutex_lock(&mu);
  hold = 1;
  pthread_mutex_unlock(&mu);
}

static void wait_writer_held(void) {
  pthread_mutex_lock(&mu);
  while (!held)
    pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
}

static void release_writer(void) {
  pthread_mutex_lock(&mu);
  hold = 0;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

/* Lets exactly one batch (one frame: max_batch_spans is SPANS) through. */
static void step_writer(void) {
  cs_collector_stats st = stats();
  uint64_t items = st.queue_items;
  pthread_mutex_lock(&mu);
  steps = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  WAIT_STATS(st, st.queue_items < items);
  CHECK_EQ(st.queue_items, items - 1);
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

/* Sends n datagrams of SPANS spans, then waits until the collector has
 * dealt with every one (so the socket buffer never overflows). */
static void send_udp(int u, int port, int n) {
  for (int k = 0; k < n; k++, udp_sent++) {
    ob b;
    ob_init(&b);
    wl_add_trace(&b, "udp-", 100000 + udp_sent, SPANS);
    size_t len;
    uint8_t *dg = ob_pack(&b, CS_FRAME_TRACES, 0, &len);
    CHECK_EQ(udp_send(u, port, dg, len), 0);
    free(dg);
    ob_release(&b);
  }
  cs_collector_stats st;
  WAIT_STATS(st, udp_seen(&st) >= udp_sent);
  CHECK_EQ(udp_seen(&st), udp_sent);
}

/* Sends datagrams one by one until one is dropped: UDP's share is full. */
static void fill_udp_share(int u, int port) {
  uint64_t dropped = stats().udp_dropped;
  for (int k = 0; k < 1000 && stats().udp_dropped == dropped; k++)
    send_udp(u, port, 1);
  CHECK(stats().udp_dropped > dropped);
}

/* Reads the ACKs of frames 0..n-1, in order, all spans accepted. */
static void read_acks(int fd, uint64_t n) {
  uint64_t got = 0;
  int in_order = 1;
  for (uint64_t f = 0; f < n; f++) {
    uint64_t seq;
    cs_ack ack;
    if (read_ack(fd, HANG_MS, &seq, &ack) != 0)
      break;
    got++;
    in_order &= seq == f && ack.accepted == SPANS && ack.rejected == 0;
  }
  CHECK_EQ(got, n);
  CHECK(in_order);
}

/* Once the queue has drained: every span sent is stored or, for UDP,
 * counted as dropped, by the collector or by the kernel. */
static void check_accounting(uint64_t tcp_frames) {
  cs_collector_stats st;
  WAIT_STATS(st, st.queue_items == 0 && udp_seen(&st) >= udp_sent);
  CHECK_EQ(st.queue_items, 0);
  CHECK_EQ(st.queue_bytes_udp, 0);
  pthread_mutex_lock(&mu);
  uint64_t udp = stored_udp, tcp = stored_tcp;
  pthread_mutex_unlock(&mu);
  CHECK_EQ(tcp, tcp_frames * SPANS);
  CHECK_EQ(udp, st.spans_udp);
  CHECK_EQ(st.udp_dropped_spans, st.udp_dropped * SPANS);
  CHECK_EQ(udp + st.udp_dropped_spans + st.udp_kernel_drops * SPANS, udp_sent * SPANS);
  fprintf(stderr, "  udp sent=%llu stored=%llu dropped=%llu kernel=%llu; tcp pauses=%llu\n",
          (unsigned long long)udp_sent, (unsigned long long)st.frames_udp,
          (unsigned long long)st.udp_dropped, (unsigned long long)st.udp_kernel_drops,
          (unsigned long long)st.tcp_pauses);
}

static void udp_flood_keeps_to_its_share_and_tcp_is_still_read(void) {
  int tcp_port, udp_port;
  cs_collector_ports(col, &tcp_port, &udp_port);
  int fd = tcp_connect(tcp_port), u = udp_socket();
  CHECK(fd >= 0 && u >= 0);
  hold_writer(); /* inside the commit of TCP frame 0 */
  CHECK_EQ(send_tcp_frame(fd, 0), 0);
  wait_writer_held();

  for (int k = 0; k < UDP_FRAMES / UDP_BURST; k++)
    send_udp(u, udp_port, UDP_BURST);
  cs_collector_stats st = stats();
  uint64_t item = st.frames_udp ? st.queue_bytes_udp / st.frames_udp : 0;
  /* Without the share, the flood alone would have filled the queue. */
  CHECK(item > 0 && item * UDP_FRAMES > QUEUE_BYTES);
  CHECK(st.frames_udp >= 1);
  CHECK(st.udp_dropped >= 1);
  CHECK(st.queue_bytes_udp <= UDP_QUEUE_BYTES + item); /* one frame's overshoot */

  /* Frame by frame, each read before the next is sent: a paused
   * connection stops at the first. */
  uint64_t f = 1;
  for (; f <= TCP_FRAMES; f++) {
    CHECK_EQ(send_tcp_frame(fd, f), 0);
    WAIT_STATS(st, st.frames_tcp >= f + 1);
    if (st.frames_tcp < f + 1)
      break;
  }
  CHECK_EQ(st.frames_tcp, TCP_FRAMES + 1);
  CHECK_EQ(st.tcp_pauses, 0);

  release_writer();
  read_acks(fd, f);
  close(fd);
  close(u);
  check_accounting(f);
}

/* A share above the low mark (half the queue) would keep the queue above
 * it for as long as UDP refills its share; reading resumes anyway once
 * the acknowledged frames are down to half of what is left to them. */
static void paused_tcp_resumes_while_udp_holds_its_share(void) {
  int tcp_port, udp_port;
  cs_collector_ports(col, &tcp_port, &udp_port);
  int fd = tcp_connect(tcp_port), u = udp_socket();
  CHECK(fd >= 0 && u >= 0);
  hold_writer();
  CHECK_EQ(send_tcp_frame(fd, 0), 0);
  wait_writer_held();
  fill_udp_share(u, udp_port);

  cs_collector_stats st;
  uint64_t f = 1;
  for (; f < 1000; f++) { /* until the queue is full and reading stops */
    CHECK_EQ(send_tcp_frame(fd, f), 0);
    WAIT_STATS(st, st.frames_tcp >= f + 1);
    CHECK_EQ(st.frames_tcp, f + 1);
    if (st.tcp_paused || st.frames_tcp < f + 1)
      break;
  }
  f++;
  CHECK_EQ(st.tcp_paused, 1);

  /* One frame at a time through the writer, UDP's share refilled after
   * each, until reading resumes. */
  uint64_t udp_at_resume = 0;
  for (int k = 0; k < 1000 && st.tcp_paused; k++) {
    step_writer();
    st = stats();
    udp_at_resume = st.queue_bytes_udp;
    if (st.tcp_paused)
      fill_udp_share(u, udp_port);
  }
  CHECK_EQ(st.tcp_paused, 0);
  CHECK(udp_at_resume > QUEUE_BYTES / 2); /* the old rule alone would not resume */
  fprintf(stderr, "  resumed with %llu bytes queued, %llu of them udp (low mark %u)\n",
          (unsigned long long)st.queue_bytes, (unsigned long long)udp_at_resume, QUEUE_BYTES / 2);

  release_writer();
  read_acks(fd, f);
  close(fd);
  close(u);
  check_accounting(f);
}

/* The writer takes acknowledged frames before a UDP backlog queued ahead
 * of them: UDP fills at most a quarter of a batch (and at least one frame)
 * while they wait. */
static void acked_frames_go_before_the_udp_backlog(void) {
  int tcp_port, udp_port;
  cs_collector_ports(col, &tcp_port, &udp_port);
  int fd = tcp_connect(tcp_port), u = udp_socket();
  CHECK(fd >= 0 && u >= 0);
  hold_writer();
  CHECK_EQ(send_tcp_frame(fd, 0), 0);
  wait_writer_held();
  fill_udp_share(u, udp_port); /* about 15 frames, all queued before frame 1 */
  cs_collector_stats st;
  CHECK_EQ(send_tcp_frame(fd, 1), 0);
  WAIT_STATS(st, st.frames_tcp >= 2);
  CHECK_EQ(st.frames_tcp, 2);
  CHECK(st.frames_udp > 4);

  /* Let frame 0's batch finish; the writer then holds the next one. */
  pthread_mutex_lock(&mu);
  held = 0;
  steps = 1;
  pthread_cond_broadcast(&cv);
  while (!held)
    pthread_cond_wait(&cv, &mu);
  uint64_t tcp = batch_tcp, udp = batch_udp;
  pthread_mutex_unlock(&mu);
  fprintf(stderr, "  the batch after frame 0: %llu tcp spans, %llu udp spans\n",
          (unsigned long long)tcp, (unsigned long long)udp);
  CHECK_EQ(tcp, SPANS);
  CHECK_EQ(udp, SPANS);

  release_writer();
  read_acks(fd, 2);
  close(fd);
  close(u);
  check_accounting(2);
}

static void with_collector(void (*test)(void), size_t udp_share, size_t max_batch_spans) {
  char dir[256], data[300];
  CHECK_EQ(tmpdir_make(dir, sizeof dir), 0);
  snprintf(data, sizeof data, "%s/data", dir);
  cs_store_opts so = {.dir = data};
  cs_store *st = NULL;
  char err[256];
  if (cs_store_open(&so, &st, err, sizeof err) != 0) {
    fprintf(stderr, "store: %s\n", err);
    CHECK(0);
    return;
  }
  cs_collector_opts o;
  cs_collector_opts_default(&o);
  o.tcp_port = 0;
  o.udp_port = 0;
  o.otlp_http_port = o.zipkin_port = o.statsd_port = -1;
  o.max_queue_bytes = QUEUE_BYTES;
  o.max_udp_queue_bytes = udp_share;
  o.max_batch_spans = max_batch_spans;
  o.stats_interval_ms = 0;
  col = cs_collector_new(&o, st);
  cs_collector_set_span_observer(col, observer, NULL);
  stored_udp = stored_tcp = udp_sent = 0;
  uv_loop_init(&loop);
  CHECK_EQ(cs_collector_start(col, &loop), 0);
  pthread_t th;
  pthread_create(&th, NULL, loop_main, NULL);
  test();
  release_writer();
  cs_collector_stop(col);
  pthread_join(th, NULL);
  CHECK_EQ(uv_loop_close(&loop), 0);
  cs_collector_free(col);
  cs_store_close(st);
  tmpdir_remove(dir);
}

static void udp_share_bounds_udp_alone(void) {
  with_collector(udp_flood_keeps_to_its_share_and_tcp_is_still_read, UDP_QUEUE_BYTES, 16384);
}

static void udp_share_above_the_low_mark(void) {
  with_collector(paused_tcp_resumes_while_udp_holds_its_share, QUEUE_BYTES / 4 * 3, SPANS);
}

static void writer_prefers_acked_frames(void) {
  with_collector(acked_frames_go_before_the_udp_backlog, 0 /* a quarter */, 4 * SPANS);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  RUN(udp_share_bounds_udp_alone);
  RUN(udp_share_above_the_low_mark);
  RUN(writer_prefers_acked_frames);
  return CHECK_DONE();
}
