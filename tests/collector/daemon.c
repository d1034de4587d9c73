/* See daemon.h. */
#include "daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int tmpdir_make(char *out, size_t n) {
  const char *base = getenv("TMPDIR");
  snprintf(out, n, "%s/cs-collector-test-XXXXXX", base && *base ? base : "/tmp");
  return mkdtemp(out) ? 0 : -1;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

void tmpdir_remove(const char *dir) { nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static char *read_log(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  size_t k;
  while ((k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
    n += k;
    if (n + 1 == cap) buf = realloc(buf, cap *= 2);
  }
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static int find_port(const char *log, const char *what) {
  const char *p = strstr(log, what);
  if (!p) return 0;
  const char *eol = strchr(p, '\n');
  if (!eol) return 0; /* line not complete yet */
  /* The last colon on the line: IPv6 literals have many. */
  const char *colon = NULL;
  for (const char *q = p; q < eol; q++)
    if (*q == ':') colon = q;
  return colon ? (int)strtol(colon + 1, NULL, 10) : 0;
}

int daemon_start(daemon_t *d, const char *bin, const char *data_dir, const char *log_path,
                 const char *const *extra) {
  memset(d, 0, sizeof *d);
  snprintf(d->log_path, sizeof d->log_path, "%s", log_path);
  const char *argv[64] = {bin, "--tcp-port", "0", "--udp-port", "0", "--data-dir", data_dir};
  int argc = 7;
  for (int i = 0; extra && extra[i] && argc < 62; i++) argv[argc++] = extra[i];
  argv[argc] = NULL;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) dup2(fd, 2);
    execv(bin, (char *const *)argv);
    _exit(127);
  }
  d->pid = pid;
  for (int i = 0; i < 1000; i++) {
    char *log = read_log(log_path);
    if (log) {
      d->tcp_port = find_port(log, "listening tcp ");
      d->udp_port = find_port(log, "listening udp ");
      free(log);
    }
    if (d->tcp_port && d->udp_port) return 0;
    if (!daemon_alive(d)) break;
    sleep_ms(10);
  }
  fprintf(stderr, "collector did not start; log %s\n", log_path);
  daemon_kill9(d);
  return -1;
}

int daemon_alive(daemon_t *d) {
  if (d->pid <= 0) return 0;
  int st;
  pid_t r = waitpid(d->pid, &st, WNOHANG);
  if (r == d->pid) {
    d->pid = 0;
    return 0;
  }
  return 1;
}

int daemon_wait(daemon_t *d, int timeout_ms) {
  if (d->pid <= 0) return -1;
  for (int i = 0; i < timeout_ms / 10; i++) {
    int st;
    pid_t r = waitpid(d->pid, &st, WNOHANG);
    if (r == d->pid) {
      d->pid = 0;
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    sleep_ms(10);
  }
  return -1;
}

int daemon_stop(daemon_t *d) {
  if (d->pid <= 0) return -1;
  kill(d->pid, SIGTERM);
  int rc = daemon_wait(d, 20000);
  if (rc >= 0) return rc;
  fprintf(stderr, "collector did not stop within 20 s\n");
  daemon_kill9(d);
  return -1;
}

void daemon_kill9(daemon_t *d) {
  if (d->pid <= 0) return;
  kill(d->pid, SIGKILL);
  waitpid(d->pid, NULL, 0);
  d->pid = 0;
}

int daemon_log_count(const daemon_t *d, const char *needle) {
  char *log = read_log(d->log_path);
  int n = 0;
  for (const char *p = log; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
  free(log);
  return n;
}

int tcp_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

int send_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

static int read_full(int fd, uint8_t *p, size_t n, int timeout_ms) {
  size_t got = 0;
  while (got < n) {
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, timeout_ms) <= 0) return -1;
    ssize_t r = recv(fd, p + got, n - got, 0);
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

int read_ack(int fd, int timeout_ms, uint64_t *seq, cs_ack *ack) {
  uint8_t buf[CS_FRAME_HDR_LEN + CS_ACK_LEN];
  if (read_full(fd, buf, sizeof buf, timeout_ms)) return -1;
  cs_frame_hdr h;
  const uint8_t *payload;
  if (cs_frame_parse_datagram(buf, sizeof buf, CS_ACK_LEN, &h, &payload) || h.type != CS_FRAME_ACK)
    return -1;
  *seq = h.seq;
  return cs_frame_parse_ack(payload, CS_ACK_LEN, ack);
}

int wait_closed(int fd, int timeout_ms) {
  uint8_t buf[256];
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &t);
    long left = timeout_ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
    if (left <= 0) return 0;
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, (int)left) <= 0) return 0;
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r <= 0) return 1; /* acks that were still queued are skipped */
  }
}

int udp_socket(void) { return socket(AF_INET, SOCK_DGRAM, 0); }

int udp_send(int fd, int port, const void *p, size_t n) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sendto(fd, p, n, 0, (struct sockaddr *)&sa, sizeof sa) == (ssize_t)n ? 0 : -1;
}
