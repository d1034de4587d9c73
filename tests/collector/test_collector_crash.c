/* Durability of acknowledgements: a sender streams pipelined batches over
 * TCP, the collector is killed with SIGKILL mid-stream, restarted on the
 * same data directory, and every span of every acknowledged batch must be
 * in the store; the same with SIGTERM, which must also exit 0.
 * argv[1]: the callscope-collector binary. */
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "daemon.h"
#include "otlp_build.h"
#include "store.h"
#include "workload.h"

#define TRACES_PER_FRAME 2
#define SPANS_PER_TRACE 10
#define WINDOW 32
#define MAX_FRAMES 100000

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int send_frame(int fd, uint64_t f) {
  ob b;
  ob_init(&b);
  for (int t = 0; t < TRACES_PER_FRAME; t++)
    wl_add_trace(&b, NULL, f * TRACES_PER_FRAME + (uint64_t)t, SPANS_PER_TRACE);
  size_t len;
  uint8_t *buf = ob_pack(&b, CS_FRAME_TRACES, f, &len);
  int rc = send_all(fd, buf, len);
  free(buf);
  ob_release(&b);
  return rc;
}

/* Streams frames for run_ms, then SIGKILLs (or SIGTERMs) the daemon while
 * frames are in flight. Returns how many frames were acknowledged (a
 * prefix: acks are in order). */
static uint64_t stream_and_kill(daemon_t *d, int run_ms, int sig) {
  int fd = tcp_connect(d->tcp_port);
  CHECK(fd >= 0);
  uint64_t sent = 0, acked = 0, t0 = now_ms();
  int killed = 0;
  while (!killed) {
    while (sent - acked < WINDOW && sent < MAX_FRAMES)
      if (send_frame(fd, sent++)) break;
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, 1000) > 0) {
      uint64_t seq;
      cs_ack ack;
      if (read_ack(fd, 1000, &seq, &ack) == 0) {
        CHECK_EQ(seq, acked);
        CHECK_EQ(ack.accepted, TRACES_PER_FRAME * SPANS_PER_TRACE);
        acked++;
      }
    }
    if (now_ms() - t0 >= (uint64_t)run_ms && sent > acked) {
      if (sig == SIGKILL) daemon_kill9(d);
      else kill(d->pid, sig);
      killed = 1;
    }
  }
  /* Acks already in our socket buffer were sent before the kill: they
   * count too. */
  uint64_t seq;
  cs_ack ack;
  while (read_ack(fd, sig == SIGKILL ? 100 : 5000, &seq, &ack) == 0) {
    CHECK_EQ(seq, acked);
    acked++;
  }
  fprintf(stderr, "  sent %llu frames, %llu acknowledged before %s\n", (unsigned long long)sent,
          (unsigned long long)acked, sig == SIGKILL ? "SIGKILL" : "the stop");
  /* Usually some frames are still unacknowledged here; when the collector
   * happened to finish them all before dying, the check below still holds. */
  CHECK(acked > 0);
  close(fd);
  return acked;
}

/* Every span of the first `acked` frames is in the store at dir. */
static void check_acked(const char *data, uint64_t acked) {
  CHECK_EQ(wl_count_incomplete(data, acked * TRACES_PER_FRAME, SPANS_PER_TRACE), 0);
}

static const char *bin;
static char dir[256];

static void acked_spans_survive_kill9_and_restart(void) {
  char data[300], logp[300];
  snprintf(data, sizeof data, "%s/kill9", dir);
  snprintf(logp, sizeof logp, "%s/kill9.log", dir);
  daemon_t d;
  if (daemon_start(&d, bin, data, logp, NULL) != 0) {
    CHECK(!"collector did not start");
    return;
  }
  uint64_t acked = stream_and_kill(&d, 1500, SIGKILL);
  /* Restart on the same directory: RocksDB replays its WAL. */
  snprintf(logp, sizeof logp, "%s/kill9-restart.log", dir);
  if (daemon_start(&d, bin, data, logp, NULL) != 0) {
    CHECK(!"collector did not restart");
    return;
  }
  CHECK_EQ(daemon_stop(&d), 0);
  check_acked(data, acked);
}

/* SIGTERM under load: the daemon drains what it read, acknowledges it,
 * closes the connection and exits 0; everything acknowledged is stored. */
static void sigterm_under_load_drains_and_exits_zero(void) {
  char data[300], logp[300];
  snprintf(data, sizeof data, "%s/term", dir);
  snprintf(logp, sizeof logp, "%s/term.log", dir);
  daemon_t d;
  if (daemon_start(&d, bin, data, logp, NULL) != 0) {
    CHECK(!"collector did not start");
    return;
  }
  uint64_t acked = stream_and_kill(&d, 800, SIGTERM);
  CHECK_EQ(daemon_wait(&d, 20000), 0);
  CHECK_EQ(daemon_log_count(&d, "stopped: "), 1);
  check_acked(data, acked);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s path/to/callscope-collector\n", argv[0]);
    return 2;
  }
  bin = argv[1];
  signal(SIGPIPE, SIG_IGN);
  CHECK_EQ(tmpdir_make(dir, sizeof dir), 0);
  RUN(acked_spans_survive_kill9_and_restart);
  RUN(sigterm_under_load_drains_and_exits_zero);
  if (!cs_check_failures) tmpdir_remove(dir);
  else fprintf(stderr, "logs kept in %s\n", dir);
  return CHECK_DONE();
}
