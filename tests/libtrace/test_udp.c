/* UDP export counts what it says (libtrace/src/udp.c): to a closed port no
 * span counts as exported, every one is dropped and counted (the kernel's
 * ICMP errors are read from the socket's error queue); to an open port all
 * of them are exported; and once a collector is back on the port, spans
 * count as exported again; a flush waits for its own spans' window only.
 * IPv4 and IPv6 loopback. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "callscope/trace.h"
#include "check.h"
#include "fake_collector.h"

enum { ROUNDS = 20, PER_ROUND = 100, N = ROUNDS * PER_ROUND };

/* A UDP port on loopback that nobody listens on (bound, then closed). */
static int closed_udp_port(int v6) {
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  struct sockaddr *sa = v6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a4;
  socklen_t len = v6 ? sizeof a6 : sizeof a4;
  int port = -1;
  if (fd >= 0 && bind(fd, sa, len) == 0 && getsockname(fd, sa, &len) == 0)
    port = ntohs(v6 ? a6.sin6_port : a4.sin_port);
  if (fd >= 0)
    close(fd);
  return port;
}

static cst_tracer *udp_tracer(int v6, int port) {
  char ep[64];
  snprintf(ep, sizeof ep, v6 ? "udp://[::1]:%d" : "udp://127.0.0.1:%d", port);
  cst_config cfg;
  cst_config_defaults(&cfg);
  cfg.endpoint = ep;
  cfg.service_name = "udp";
  cfg.batch_max_spans = 50; /* several datagrams per round */
  cfg.batch_timeout_ms = 20;
  cst_tracer *t = NULL;
  CHECK_EQ(cst_tracer_new(&cfg, &t), CST_OK);
  return t;
}

/* rounds of n spans, each round flushed (paced, so a local socket buffer
 * never overflows). With idle_ms, a round (one datagram: n <= 50) is
 * instead left to the batch timeout (20 ms) and followed by idle_ms without
 * sending: then only the error queue tells that it was refused, as no later
 * send fails on the socket's pending error within the window. */
static void record(cst_tracer *t, const char *name, int rounds, int n, int idle_ms) {
  for (int r = 0; r < rounds; r++) {
    for (int i = 0; i < n; i++) {
      cst_span *s = cst_span_start(t, name, CST_KIND_INTERNAL, NULL);
      cst_span_set_int(s, "i", i);
      cst_span_end(s);
    }
    if (idle_ms)
      usleep((unsigned)idle_ms * 1000);
    else
      CHECK_EQ(cst_tracer_flush(t, 5000), CST_OK);
  }
  if (idle_ms)
    CHECK_EQ(cst_tracer_flush(t, 5000), CST_OK);
}

static void closed_port_exports_nothing(int v6) {
  int port = closed_udp_port(v6);
  if (port < 0) {
    fprintf(stderr, "skipped: no %s loopback\n", v6 ? "IPv6" : "IPv4");
    return;
  }
  cst_tracer *t = udp_tracer(v6, port);
  record(t, "refused", 10, 10, 150); /* idle longer than the error window (100 ms) */
  record(t, "refused", ROUNDS, PER_ROUND, 0);
  cst_stats st;
  cst_tracer_stats(t, &st);
  fprintf(stderr, "closed %s port: %llu frames sent, %llu exported, %llu dropped, %llu errors\n",
          v6 ? "IPv6" : "IPv4", (unsigned long long)st.frames_sent,
          (unsigned long long)st.spans_exported, (unsigned long long)st.dropped_export,
          (unsigned long long)st.export_errors);
  CHECK_EQ(st.spans_sampled, 100 + N);
  CHECK_EQ(st.spans_exported, 0);
  CHECK_EQ(st.dropped_export, 100 + N);
  CHECK(st.export_errors >= 10 + ROUNDS); /* at least one refusal seen per round */
  cst_tracer_free(t);
}

static void udp_to_a_closed_port_exports_nothing_v4(void) {
  closed_port_exports_nothing(0);
}
static void udp_to_a_closed_port_exports_nothing_v6(void) {
  closed_port_exports_nothing(1);
}

/* The kernel sends at most icmp_msgs_burst (50) ICMP errors at once, then
 * icmp_msgs_per_sec (1000): of a burst of 400 datagrams to a closed port,
 * not every one sent gets its error. Those without one were still inside
 * their window when the others' errors came, so they count as dropped. */
static void udp_refusals_beyond_the_icmp_rate_limit_count_as_dropped(void) {
  enum { SPANS = 20000 };
  int port = closed_udp_port(0);
  char ep[64];
  snprintf(ep, sizeof ep, "udp://127.0.0.1:%d", port);
  cst_config cfg;
  cst_config_defaults(&cfg);
  cfg.endpoint = ep;
  cfg.service_name = "udp";
  cfg.batch_max_spans = 50;
  cfg.batch_timeout_ms = 10000; /* only the flush sends: one burst */
  cfg.ring_bytes = 8u << 20;
  cst_tracer *t = NULL;
  CHECK_EQ(cst_tracer_new(&cfg, &t), CST_OK);
  for (int i = 0; i < SPANS; i++)
    cst_span_end(cst_span_start(t, "burst", CST_KIND_INTERNAL, NULL));
  CHECK_EQ(cst_tracer_flush(t, 10000), CST_OK);
  cst_stats st;
  cst_tracer_stats(t, &st);
  fprintf(stderr,
          "burst to a closed port: %llu frames sent, %llu exported, %llu dropped, %llu errors\n",
          (unsigned long long)st.frames_sent, (unsigned long long)st.spans_exported,
          (unsigned long long)st.dropped_export, (unsigned long long)st.export_errors);
  CHECK_EQ(st.dropped_queue_full, 0);
  CHECK_EQ(st.spans_exported, 0);
  CHECK_EQ(st.dropped_export, SPANS);
  cst_tracer_free(t);
}

static void udp_to_an_open_port_exports_every_span(void) {
  fake_collector fc = {0};
  CHECK_EQ(fc_start(&fc, 1, 0), 0);
  cst_tracer *t = udp_tracer(0, fc.port);
  record(t, "open", ROUNDS, PER_ROUND, 0);
  cst_stats st;
  cst_tracer_stats(t, &st);
  CHECK_EQ(st.spans_exported, N);
  CHECK_EQ(st.dropped_export + st.dropped_queue_full + st.dropped_too_large, 0);
  CHECK_EQ(st.export_errors, 0);
  CHECK(fc_wait(&fc, N, 3000));
  CHECK_EQ(fc_count(&fc), N);
  cst_tracer_free(t);
  fc_free(&fc);
}

/* Refused first, then a collector binds the port: spans count as exported
 * again. */
static void udp_exports_again_once_the_collector_is_back(void) {
  int port = closed_udp_port(0);
  cst_tracer *t = udp_tracer(0, port);
  record(t, "refused", ROUNDS, PER_ROUND, 0);
  fake_collector fc = {0};
  CHECK_EQ(fc_start(&fc, 1, port), 0);
  cst_stats before, st;
  cst_tracer_stats(t, &before);
  record(t, "back", ROUNDS, PER_ROUND, 0);
  cst_tracer_stats(t, &st);
  CHECK_EQ(before.spans_exported, 0);
  CHECK_EQ(st.spans_exported, N);
  CHECK_EQ(st.dropped_export, N); /* only the first N */
  CHECK(fc_wait(&fc, N, 3000));
  cst_tracer_free(t);
  fc_free(&fc);
}

static atomic_int busy_stop;

static void *busy(void *arg) {
  while (!atomic_load(&busy_stop)) {
    cst_span_end(cst_span_start(arg, "busy", CST_KIND_INTERNAL, NULL));
    usleep(2000);
  }
  return NULL;
}

/* Another thread keeps sending (a datagram every 20 ms, so some span is
 * always inside its window): a flush still returns once what was recorded
 * before it has settled. */
static void udp_flush_is_not_held_up_by_other_threads_traffic(void) {
  fake_collector fc = {0};
  CHECK_EQ(fc_start(&fc, 1, 0), 0);
  cst_tracer *t = udp_tracer(0, fc.port);
  atomic_store(&busy_stop, 0);
  pthread_t th;
  pthread_create(&th, NULL, busy, t);
  usleep(100 * 1000);
  for (int i = 0; i < 3; i++) {
    cst_span_end(cst_span_start(t, "mine", CST_KIND_INTERNAL, NULL));
    CHECK_EQ(cst_tracer_flush(t, 2000), CST_OK);
  }
  atomic_store(&busy_stop, 1);
  pthread_join(th, NULL);
  cst_tracer_free(t);
  fc_free(&fc);
}

int main(void) {
  RUN(udp_to_a_closed_port_exports_nothing_v4);
  RUN(udp_to_a_closed_port_exports_nothing_v6);
  RUN(udp_refusals_beyond_the_icmp_rate_limit_count_as_dropped);
  RUN(udp_to_an_open_port_exports_every_span);
  RUN(udp_exports_again_once_the_collector_is_back);
  RUN(udp_flush_is_not_held_up_by_other_threads_traffic);
  return CHECK_DONE();
}
