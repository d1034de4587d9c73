/* A small load tool for the collector (not a test): pre-builds frames of
 * 5 traces x 20 spans (tests/collector/workload.c), measures decode speed
 * on one core, then either streams them over TCP with a window of 64
 * unacknowledged frames per connection and reports acknowledged spans/s,
 * or paces them over UDP at 1000 datagrams/s (100k spans/s).
 *   collector_load TCP_PORT FRAMES [CONNS]      collector_load TCP_PORT FRAMES 1 UDP_PORT
 * The official ingest benchmark is bench/ingest; this one isolates the
 * collector with the test workload. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "decode.h"
#include "otlp_build.h"
#include "parse.h"
#include "workload.h"

#define TRACES_PER_FRAME 5
#define WINDOW 64

typedef struct frame {
  uint8_t *p;
  size_t n;
} frame;

static frame *frames;
static uint64_t n_frames, n_conns = 1, tcp_port;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef struct conn_arg {
  uint64_t first, count;
  uint64_t spans;
} conn_arg;

static void *run_conn(void *p) {
  conn_arg *a = p;
  int fd = tcp_connect((int)tcp_port);
  if (fd < 0) return NULL;
  uint64_t sent = 0, acked = 0;
  while (acked < a->count) {
    while (sent - acked < WINDOW && sent < a->count) {
      frame *f = &frames[a->first + sent++];
      if (send_all(fd, f->p, f->n)) return NULL;
    }
    uint64_t seq;
    cs_ack ack;
    if (read_ack(fd, 10000, &seq, &ack)) {
      fprintf(stderr, "no ack within 10 s\n");
      break;
    }
    a->spans += ack.accepted;
    acked++;
  }
  close(fd);
  return NULL;
}

int main(int argc, char **argv) {
  uint64_t udp_port = 0;
  if (argc < 3 || cs_parse_u64(argv[1], 1, 65535, &tcp_port) ||
      cs_parse_u64(argv[2], 1, 1000000, &n_frames) ||
      (argc > 3 && cs_parse_u64(argv[3], 1, 16, &n_conns)) ||
      (argc > 4 && cs_parse_u64(argv[4], 1, 65535, &udp_port))) {
    fprintf(stderr, "usage: %s TCP_PORT FRAMES [CONNS [UDP_PORT]]\n", argv[0]);
    return 2;
  }
  frames = calloc(n_frames, sizeof *frames);
  uint64_t per_conn = n_frames / n_conns;
  size_t bytes = 0;
  for (uint64_t f = 0; f < n_frames; f++) {
    ob b;
    ob_init(&b);
    for (int t = 0; t < TRACES_PER_FRAME; t++)
      wl_add_trace(&b, NULL, f * TRACES_PER_FRAME + (uint64_t)t + 1000000, 20);
    frames[f].p = ob_pack(&b, CS_FRAME_TRACES, f % per_conn, &frames[f].n);
    bytes += frames[f].n;
    ob_release(&b);
  }
  printf("frames: %llu of %zu bytes on average, %d spans each\n", (unsigned long long)n_frames,
         bytes / n_frames, TRACES_PER_FRAME * 20);

  cs_limits lim;
  cs_limits_default(&lim);
  double t0 = now();
  size_t spans = 0;
  for (uint64_t f = 0; f < n_frames && f < 3000; f++) {
    cs_arena a;
    size_t n = frames[f].n - CS_FRAME_HDR_LEN;
    cs_arena_init(&a, cs_decode_arena_chunk(n), cs_decode_arena_cap(n));
    cs_span *s;
    size_t ns = 0;
    cs_reject_counts r;
    memset(&r, 0, sizeof r);
    cs_decode_traces(frames[f].p + CS_FRAME_HDR_LEN, n, &a, &lim, &s, &ns, &r);
    spans += ns;
    cs_arena_release(&a);
  }
  printf("decode and validate: %.0f spans/s on one core\n", (double)spans / (now() - t0));

  if (udp_port) {
    int u = udp_socket(), errors = 0;
    t0 = now();
    for (uint64_t f = 0; f < n_frames; f++) {
      while (now() < t0 + (double)f / 1000.0) usleep(100);
      errors += udp_send(u, (int)udp_port, frames[f].p, frames[f].n) != 0;
    }
    double dt = now() - t0;
    printf("udp: %llu datagrams in %.2f s (%.0f spans/s offered), %d send errors; compare "
           "frames udp= in the collector's stats line\n",
           (unsigned long long)n_frames, dt, (double)n_frames * TRACES_PER_FRAME * 20 / dt, errors);
    return 0;
  }
  pthread_t th[16];
  conn_arg args[16];
  t0 = now();
  for (uint64_t i = 0; i < n_conns; i++) {
    args[i] = (conn_arg){i * per_conn, per_conn, 0};
    pthread_create(&th[i], NULL, run_conn, &args[i]);
  }
  uint64_t total = 0;
  for (uint64_t i = 0; i < n_conns; i++) {
    pthread_join(th[i], NULL);
    total += args[i].spans;
  }
  double dt = now() - t0;
  printf("tcp: %llu spans acknowledged in %.2f s = %.0f spans/s over %llu connection(s)\n",
         (unsigned long long)total, dt, (double)total / dt, (unsigned long long)n_conns);
  return 0;
}
