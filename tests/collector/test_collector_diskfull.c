/* A full disk: the all-in-one callscope runs on a small tmpfs, a filler
 * file takes the last byte while a sender streams acknowledged frames, and
 * the disk stays full for 35 s (RocksDB's recovery loop used to abort the
 * daemon 20 s in). Meanwhile the daemon must stay up, answer queries,
 * acknowledge nothing, refuse OTLP/HTTP with 429 and say so once in its
 * log; once the filler is gone it must resume by itself, acknowledge what
 * it held and new frames, and every acknowledged span must be stored.
 * Needs root (mount); skipped (exit 77) where mounting is not permitted.
 * argv[1]: the callscope binary. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "daemon.h"
#include "otlp_build.h"
#include "query/qhelp.h"
#include "store.h"
#include "workload.h"

#define SKIP 77
#define TRACES_PER_FRAME 2
#define SPANS_PER_TRACE 20
#define WINDOW 16
#define FULL_SECS 35

static char dir[256], mnt[300], data[320], logp[320], filler[320];

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint8_t *frame(uint64_t f, size_t *len) {
  ob b;
  ob_init(&b);
  for (int t = 0; t < TRACES_PER_FRAME; t++)
    wl_add_trace(&b, NULL, f * TRACES_PER_FRAME + (uint64_t)t, SPANS_PER_TRACE);
  uint8_t *buf = ob_pack(&b, CS_FRAME_TRACES, f, len);
  ob_release(&b);
  return buf;
}

/* One pipelined connection: frames 0, 1, 2, ... with at most WINDOW
 * unacknowledged; acks come back in order. */
typedef struct sender {
  int fd;
  uint64_t sent, acked;
  int broken; /* the connection failed: checked once, then nothing more */
} sender;

static void send_more(sender *s, uint64_t upto) {
  while (!s->broken && s->sent < upto && s->sent - s->acked < WINDOW) {
    size_t len;
    uint8_t *buf = frame(s->sent, &len);
    int rc = send_all(s->fd, buf, len);
    free(buf);
    if (rc) {
      CHECK(!"send failed");
      s->broken = 1;
      return;
    }
    s->sent++;
  }
}

/* Reads the acks that arrive within ms; returns how many. */
static uint64_t read_acks(sender *s, int ms) {
  uint64_t got = 0, end = now_ms() + (uint64_t)ms;
  while (!s->broken) {
    uint64_t now = now_ms();
    if (now >= end)
      break;
    struct pollfd pfd = {s->fd, POLLIN, 0};
    if (poll(&pfd, 1, (int)(end - now)) <= 0)
      continue;
    uint64_t seq;
    cs_ack ack;
    if (read_ack(s->fd, 1000, &seq, &ack) != 0) {
      CHECK(!"connection closed or garbage instead of an ack");
      s->broken = 1;
      return got;
    }
    CHECK_EQ(seq, s->acked);
    CHECK_EQ(ack.accepted, TRACES_PER_FRAME * SPANS_PER_TRACE);
    s->acked++;
    got++;
  }
  return got;
}

/* Streams until frame upto is acknowledged or ms pass. */
static void stream_until(sender *s, uint64_t upto, int ms) {
  uint64_t end = now_ms() + (uint64_t)ms;
  while (!s->broken && s->acked < upto && now_ms() < end) {
    send_more(s, upto);
    read_acks(s, 5);
  }
}

static int log_count(const char *needle) {
  FILE *f = fopen(logp, "r");
  if (!f)
    return 0;
  char line[4096];
  int n = 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, needle))
      n++;
  fclose(f);
  return n;
}

static int log_lines(void) {
  return log_count("");
}

/* Takes every free byte of the file system. */
static int fill_disk(void) {
  int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    return -1;
  struct statvfs v;
  if (statvfs(mnt, &v) == 0) {
    off_t want = (off_t)v.f_bavail * (off_t)v.f_frsize;
    if (want > 0)
      posix_fallocate(fd, 0, want);
  }
  static char block[4096];
  while (write(fd, block, sizeof block) > 0) {
  }
  close(fd);
  return statvfs(mnt, &v) == 0 && v.f_bavail == 0 ? 0 : -1;
}

static double metric(int qport, const char *name) {
  qh_resp r;
  double v = -1;
  if (qh_get(qport, "/metrics", &r) == 0) {
    char pat[160];
    snprintf(pat, sizeof pat, "\n%s ", name);
    const char *p = strstr(r.body, pat);
    if (p)
      v = strtod(p + strlen(pat), NULL);
    qh_free(&r);
  }
  return v;
}

/* POSTs the payload of a native frame (an ExportTraceServiceRequest) to
 * OTLP/HTTP; returns the status and sets *retry_after when the answer
 * carries Retry-After. */
static int otlp_post(int port, int *retry_after) {
  size_t len;
  uint8_t *buf = frame(999999, &len);
  size_t body = len - CS_FRAME_HDR_LEN;
  char head[256];
  int hn = snprintf(head, sizeof head,
                    "POST /v1/traces HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: "
                    "application/x-protobuf\r\nContent-Length: %zu\r\n\r\n",
                    body);
  *retry_after = 0;
  int fd = tcp_connect(port), status = -1;
  if (fd >= 0 && send_all(fd, head, (size_t)hn) == 0 &&
      send_all(fd, buf + CS_FRAME_HDR_LEN, body) == 0) {
    char ans[8192];
    size_t n = 0;
    struct pollfd pfd = {fd, POLLIN, 0};
    while (n + 1 < sizeof ans && poll(&pfd, 1, 10000) > 0) {
      ssize_t k = read(fd, ans + n, sizeof ans - 1 - n);
      if (k <= 0)
        break;
      n += (size_t)k;
    }
    ans[n] = '\0';
    if (sscanf(ans, "HTTP/1.%*d %d", &status) != 1)
      status = -1;
    *retry_after = strcasestr(ans, "\r\nRetry-After: ") != NULL;
  }
  if (fd >= 0)
    close(fd);
  free(buf);
  return status;
}

static int read_line(int fd, char *out, size_t cap) {
  size_t n = 0;
  uint64_t end = now_ms() + 10000;
  while (n + 1 < cap && now_ms() < end) {
    struct pollfd pf = {fd, POLLIN, 0};
    if (poll(&pf, 1, 100) <= 0)
      continue;
    if (read(fd, out + n, 1) <= 0)
      break;
    if (out[n] == '\n')
      break;
    n++;
  }
  out[n] = '\0';
  return n ? 0 : -1;
}

static const char *bin;

static void full_disk_holds_acks_keeps_answering_and_resumes(void) {
  snprintf(data, sizeof data, "%s/data", mnt);
  snprintf(logp, sizeof logp, "%s/callscope.log", dir);
  snprintf(filler, sizeof filler, "%s/filler", mnt);
  char *argv[] = {(char *)bin,   "--data-dir",       data, "--query-port",      "0", "--tcp-port",
                  "0",           "--udp-port",       "0",  "--otlp-http-port",  "0", "--no-zipkin",
                  "--no-statsd", "--stats-interval", "0",  "--write-buffer-mb", "4", NULL};
  qh_proc p;
  if (qh_spawn(&p, argv, logp) != 0) {
    CHECK(!"callscope did not start");
    return;
  }
  int qport = qh_line_int(&p, "127.0.0.1:");
  int tport = qh_line_int(&p, "tcp ");
  char line2[256];
  CHECK_EQ(read_line(p.out_fd, line2, sizeof line2), 0);
  const char *o = strstr(line2, "otlp-http ");
  int hport = o ? (int)strtol(o + 10, NULL, 10) : -1;
  CHECK(qport > 0 && tport > 0 && hport > 0);

  sender s = {tcp_connect(tport), 0, 0, 0};
  CHECK(s.fd >= 0);
  stream_until(&s, 50, 10000);
  CHECK_EQ(s.acked, 50);
  int retry;
  CHECK_EQ(otlp_post(hport, &retry), 200);

  /* The disk fills up under the stream: the next WAL append fails. */
  CHECK_EQ(fill_disk(), 0);
  uint64_t t0 = now_ms();
  while (!log_count("store out of disk space") && now_ms() - t0 < 15000) {
    send_more(&s, UINT64_MAX);
    read_acks(&s, 5);
  }
  CHECK_EQ(log_count("store out of disk space"), 1);
  /* Acks written just before the stall may still be on their way. */
  read_acks(&s, 1000);
  uint64_t acked_full = s.acked;
  fprintf(stderr, "  disk full after %llu acked frames (%llu sent)\n", (unsigned long long)s.acked,
          (unsigned long long)s.sent);

  uint64_t full_from = now_ms();
  int checks = 0;
  while (now_ms() - full_from < FULL_SECS * 1000) {
    send_more(&s, UINT64_MAX);
    CHECK_EQ(read_acks(&s, 5000), 0);
    int wst;
    if (waitpid(p.pid, &wst, WNOHANG) != 0) {
      CHECK(!"callscope died while the disk was full");
      p.pid = 0;
      return;
    }
    qh_resp r;
    CHECK_EQ(qh_get(qport, "/api/services", &r), 0);
    CHECK_EQ(r.status, 200);
    CHECK(r.body && strstr(r.body, "frontend"));
    qh_free(&r);
    CHECK_EQ(metric(qport, "callscope_collector_write_stalled"), 1);
    CHECK_EQ(metric(qport, "callscope_store_disk_full"), 1);
    CHECK_EQ(otlp_post(hport, &retry), 429);
    CHECK_EQ(retry, 1);
    checks++;
  }
  CHECK_EQ(s.acked, acked_full);
  CHECK(checks >= 6);
  /* One line for the state (and the store's first error), not one or two
   * per refused batch. */
  CHECK_EQ(log_count("store out of disk space"), 1);
  CHECK_INT(log_count("write failed"), <=, 1);
  CHECK_INT(log_lines(), <, 40);

  /* Space comes back: RocksDB recovers within its 5 s poll, the held
   * frames are acknowledged, then new ones. */
  CHECK_EQ(unlink(filler), 0);
  uint64_t freed = now_ms();
  uint64_t want = s.sent;
  stream_until(&s, want, 20000);
  CHECK_EQ(s.acked, want);
  fprintf(stderr, "  %llu held frames acknowledged %.1f s after the space came back\n",
          (unsigned long long)(want - acked_full), (double)(now_ms() - freed) / 1000.0);
  uint64_t t1 = now_ms();
  stream_until(&s, want + 20, 5000);
  CHECK_EQ(s.acked, want + 20);
  CHECK_INT(now_ms() - t1, <, 5000);
  CHECK_EQ(log_count("store writable again"), 1);
  CHECK_EQ(metric(qport, "callscope_collector_write_stalled"), 0);
  CHECK_EQ(metric(qport, "callscope_collector_write_stalls_total"), 1);
  CHECK_EQ(otlp_post(hport, &retry), 200);

  /* The last acknowledged trace answers through the query API. */
  uint8_t id[16];
  wl_trace_id(s.acked * TRACES_PER_FRAME - 1, id);
  char path[64] = "/api/traces/";
  for (int i = 0; i < 16; i++)
    snprintf(path + 12 + 2 * i, 3, "%02x", id[i]);
  qh_resp r;
  CHECK_EQ(qh_get(qport, path, &r), 0);
  CHECK_EQ(r.status, 200);
  CHECK_EQ(qh_count(r.body, "\"operationName\""), SPANS_PER_TRACE);
  qh_free(&r);

  close(s.fd);
  CHECK_EQ(qh_stop(&p), 0);
  CHECK_EQ(wl_count_incomplete(data, s.acked * TRACES_PER_FRAME, SPANS_PER_TRACE), 0);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s path/to/callscope\n", argv[0]);
    return 2;
  }
  bin = argv[1];
  signal(SIGPIPE, SIG_IGN);
  CHECK_EQ(tmpdir_make(dir, sizeof dir), 0);
  snprintf(mnt, sizeof mnt, "%s/disk", dir);
  CHECK_EQ(mkdir(mnt, 0755), 0);
  /* The daemon runs with 4 MiB write buffers: RocksDB preallocates about
   * that much for its WAL and wants as much free to resume. */
  if (mount("tmpfs", mnt, "tmpfs", 0, "size=24m") != 0) {
    fprintf(stderr, "skipped: cannot mount a tmpfs for the full disk (%s; needs root)\n",
            strerror(errno));
    tmpdir_remove(dir);
    return SKIP;
  }
  RUN(full_disk_holds_acks_keeps_answering_and_resumes);
  umount2(mnt, MNT_DETACH);
  if (!cs_check_failures)
    tmpdir_remove(dir);
  else
    fprintf(stderr, "log kept in %s\n", dir);
  return CHECK_DONE();
}
