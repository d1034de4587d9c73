/* Helpers for tests and benchmarks that run the real daemons: spawn a
 * daemon and read the ports it prints, send spans as native frames over TCP
 * and wait for the ACK, and a minimal HTTP/1.0 GET client. */
#ifndef CS_QHELP_H
#define CS_QHELP_H

#include <arpa/inet.h>
#include <errno.h>
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

#include "otlp_encode.h"
#include "span.h"
#include "wire.h"

static inline uint64_t qh_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t qh_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

typedef struct qh_proc {
  pid_t pid;
  int out_fd;
  char line[1024];
} qh_proc;

/* Starts argv[0] with stdout piped; waits up to 10 s for its first line
 * (the daemons print their URL and ports there). stderr goes to logfile. */
static inline int qh_spawn(qh_proc *p, char *const argv[], const char *logfile) {
  int fds[2];
  if (pipe(fds)) return -1;
  p->pid = fork();
  if (p->pid < 0) return -1;
  if (p->pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    if (logfile) {
      FILE *f = freopen(logfile, "a", stderr);
      (void)f;
    }
    execv(argv[0], argv);
    _exit(127);
  }
  close(fds[1]);
  p->out_fd = fds[0];
  size_t n = 0;
  uint64_t deadline = qh_mono_ns() + 10000000000ull;
  while (n + 1 < sizeof p->line && qh_mono_ns() < deadline) {
    struct pollfd pf = {p->out_fd, POLLIN, 0};
    if (poll(&pf, 1, 100) <= 0) continue;
    ssize_t r = read(p->out_fd, p->line + n, 1);
    if (r <= 0) break;
    if (p->line[n] == '\n') break;
    n++;
  }
  p->line[n] = '\0';
  return n ? 0 : -1;
}

/* The number after "key" in the daemon's line ("127.0.0.1:" -> port). */
static inline int qh_line_int(const qh_proc *p, const char *key) {
  const char *s = strstr(p->line, key);
  return s ? (int)strtol(s + strlen(key), NULL, 10) : -1;
}

/* SIGTERM and wait up to 10 s; returns the exit status or -1. */
static inline int qh_stop(qh_proc *p) {
  if (p->pid <= 0) return -1;
  kill(p->pid, SIGTERM);
  int st = 0;
  for (int i = 0; i < 1000; i++) {
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid) {
      close(p->out_fd);
      p->pid = 0;
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    usleep(10000);
  }
  kill(p->pid, SIGKILL);
  waitpid(p->pid, &st, 0);
  close(p->out_fd);
  p->pid = 0;
  return -1;
}

static inline int qh_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static inline int qh_write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

static inline int qh_read_full(int fd, void *p, size_t n, int timeout_ms) {
  char *c = p;
  while (n) {
    struct pollfd pf = {fd, POLLIN, 0};
    if (poll(&pf, 1, timeout_ms) <= 0) return -1;
    ssize_t r = read(fd, c, n);
    if (r <= 0) return -1;
    c += r;
    n -= (size_t)r;
  }
  return 0;
}

/* Sends spans as one TRACES frame on an open collector connection and
 * waits for its ACK; returns the accepted count or -1. */
static inline int qh_send_spans(int fd, const cs_span *spans, size_t n, uint64_t seq) {
  size_t cap = 4u << 20;
  uint8_t *buf = malloc(cap);
  if (!buf) return -1;
  size_t len;
  if (cs_otlp_encode_traces_tail(spans, n, buf, cap, &len)) {
    free(buf);
    return -1;
  }
  uint8_t *frame = buf + cap - len - CS_FRAME_HDR_LEN;
  cs_frame_write_header(frame, CS_FRAME_TRACES, 0, (uint32_t)len, seq);
  int rc = qh_write_all(fd, frame, len + CS_FRAME_HDR_LEN);
  free(buf);
  if (rc) return -1;
  uint8_t ack[CS_FRAME_HDR_LEN + CS_ACK_LEN];
  if (qh_read_full(fd, ack, sizeof ack, 10000)) return -1;
  cs_frame_hdr h;
  const uint8_t *payload;
  if (cs_frame_parse_datagram(ack, sizeof ack, 64, &h, &payload) || h.type != CS_FRAME_ACK ||
      h.seq != seq)
    return -1;
  cs_ack a;
  if (cs_frame_parse_ack(payload, h.len, &a)) return -1;
  return (int)a.accepted;
}

typedef struct qh_resp {
  int status;
  char *body;      /* NUL-terminated, malloc'ed */
  size_t body_len;
  char ctype[128]; /* Content-Type */
} qh_resp;

/* Sends a raw request and reads the whole answer (HTTP/1.0, close). */
static inline int qh_raw(int port, const char *req, size_t req_len, qh_resp *r) {
  memset(r, 0, sizeof *r);
  int fd = qh_connect(port);
  if (fd < 0) return -1;
  if (qh_write_all(fd, req, req_len)) {
    close(fd);
    return -1;
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (n + 1 >= cap) {
      cap *= 2;
      char *nb = realloc(buf, cap);
      if (!nb) break;
      buf = nb;
    }
    struct pollfd pf = {fd, POLLIN, 0};
    if (poll(&pf, 1, 30000) <= 0) break;
    ssize_t k = read(fd, buf + n, cap - n - 1);
    if (k <= 0) break;
    n += (size_t)k;
  }
  close(fd);
  buf[n] = '\0';
  char *hdr_end = strstr(buf, "\r\n\r\n");
  if (!hdr_end || sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1) {
    free(buf);
    return -1;
  }
  *hdr_end = '\0';
  const char *ct = strcasestr(buf, "\r\nContent-Type: ");
  if (ct) {
    ct += 16;
    size_t l = strcspn(ct, "\r\n");
    if (l >= sizeof r->ctype) l = sizeof r->ctype - 1;
    memcpy(r->ctype, ct, l);
    r->ctype[l] = '\0';
  }
  r->body_len = n - (size_t)(hdr_end + 4 - buf);
  r->body = malloc(r->body_len + 1);
  memcpy(r->body, hdr_end + 4, r->body_len);
  r->body[r->body_len] = '\0';
  free(buf);
  return 0;
}

static inline int qh_get(int port, const char *path, qh_resp *r) {
  char req[16384];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
  if (n < 0 || (size_t)n >= sizeof req) return -1;
  return qh_raw(port, req, (size_t)n, r);
}

static inline void qh_free(qh_resp *r) {
  free(r->body);
  r->body = NULL;
}

/* Number after `"key":` at its first occurrence at or after from. */
static inline long long qh_num(const char *from, const char *key) {
  char pat[128];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *s = from ? strstr(from, pat) : NULL;
  return s ? strtoll(s + strlen(pat), NULL, 10) : -1;
}

/* Occurrences of needle in hay. */
static inline int qh_count(const char *hay, const char *needle) {
  int n = 0;
  size_t l = strlen(needle);
  for (const char *s = hay; (s = strstr(s, needle)); s += l) n++;
  return n;
}

#endif
