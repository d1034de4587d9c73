/* libFuzzer target for the query server's HTTP request glue: the real
 * server (query/http.c over libmicrohttpd, the router, the handlers) runs
 * once per process on 127.0.0.1 port 0 over a tiny store in a temporary
 * directory, and each input is sent as raw bytes on a new connection
 * (method, target with %-escapes and parameters, headers, bodies,
 * pipelined requests), followed by an end mark: a blank line, which ends
 * any head the input left open, and a last request with "Connection:
 * close". (libmicrohttpd 0.9.75 does not close a connection whose peer
 * half-closes inside a head; it waits for the head deadline, which would
 * make every such input take seconds.) Checks: the answer is a clean
 * close or starts with a well-formed status line; a 414 or 431 and every
 * answer of ours carries a JSON body; the connection is closed within a
 * bound; and afterwards the server still answers a normal request. Every
 * connection is closed before the next input, so a leak belongs to the
 * input that caused it. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "query.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ANSWER_MS 3000 /* an input's answer and close; libFuzzer's -timeout is 5 s */

static cs_store *store;
static cs_query *server;
static uint16_t port;
static char dir[64];
static char answer[1 << 20];

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void die(const char *what) {
  fprintf(stderr, "fuzz_query_http: %s\n", what);
  abort();
}

/* One trace of two spans, so trace, tree, search and session routes find
 * something. */
static void fill_store(void) {
  static cs_attr sess = {CS_STR_LIT("session.id"), CS_VAL_STR, {.s = CS_STR_LIT("s1")}};
  static cs_resource res = {CS_STR_LIT("svc"), NULL, 0};
  uint64_t now = (uint64_t)time(NULL) * 1000000000ull;
  cs_span s[2];
  memset(s, 0, sizeof s);
  for (int i = 0; i < 2; i++) {
    for (int b = 0; b < 16; b++)
      s[i].trace_id[b] = (uint8_t)(b + 1);
    s[i].span_id[7] = (uint8_t)(i + 1);
    s[i].resource = &res;
    s[i].start_ns = now - 5000000 + (uint64_t)i * 1000;
    s[i].end_ns = s[i].start_ns + 1000000;
  }
  s[0].name = CS_STR_LIT("GET /");
  s[0].kind = CS_KIND_SERVER;
  s[0].attrs = &sess;
  s[0].n_attrs = 1;
  s[0].session_id = CS_STR_LIT("s1");
  s[1].parent_id[7] = 1;
  s[1].name = CS_STR_LIT("db");
  s[1].kind = CS_KIND_CLIENT;
  s[1].status_code = CS_STATUS_ERROR;
  if (cs_store_write(store, s, 2))
    die("cannot write the seed trace");
}

static void cleanup(void) {
  cs_query_free(server);
  cs_store_close(store);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "fuzz_query_http: cannot remove %s\n", dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  signal(SIGPIPE, SIG_IGN);
  cs_log_min_level = CS_LOG_ERROR; /* one line per request would drown the fuzzer's */
  snprintf(dir, sizeof dir, "/tmp/cs-fuzz-query-http-XXXXXX");
  if (!mkdtemp(dir))
    die("mkdtemp failed");
  char data[128], ui[128], file[160], err[256];
  snprintf(data, sizeof data, "%s/data", dir);
  snprintf(ui, sizeof ui, "%s/ui", dir);
  snprintf(file, sizeof file, "%s/index.html", ui);
  if (mkdir(ui, 0755))
    die("cannot create the UI directory");
  FILE *f = fopen(file, "w");
  if (!f || fputs("<html>ui</html>\n", f) < 0 || fclose(f))
    die("cannot write index.html");
  snprintf(file, sizeof file, "%s/empty.css", ui); /* a file of no bytes */
  if (!(f = fopen(file, "w")) || fclose(f))
    die("cannot write empty.css");
  cs_store_opts so;
  memset(&so, 0, sizeof so);
  so.dir = data;
  so.cache_mb = 8;
  so.write_buffer_mb = 4;
  if (cs_store_open(&so, &store, err, sizeof err))
    die(err);
  fill_store();
  cs_query_opts qo;
  cs_query_opts_default(&qo);
  qo.port = 0;
  qo.ui_dir = ui;
  qo.threads = 1;
  /* Small caps so short inputs reach them (the request line's 64 KiB cap
   * in the gate stays out of reach). */
  qo.max_url = 1024;
  qo.max_params = 16;
  qo.max_headers = 16;
  qo.max_head = 2048; /* the head gate's 431 */
  qo.limits.timeout_us = 1000000;
  if (cs_query_new(&qo, store, &server, err, sizeof err) || cs_query_start(server, err, sizeof err))
    die(err);
  port = cs_query_port(server);
  atexit(cleanup);
  return 0;
}

static int connect_server(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0)
    die("cannot create a socket");
  /* libFuzzer's timer (SIGALRM) interrupts calls: an interrupted connect
   * goes on in the background, so wait for it. */
  if (connect(fd, (struct sockaddr *)&a, sizeof a) && errno != EINTR) {
    fprintf(stderr, "connect: %s\n", strerror(errno));
    die("cannot connect to the query server");
  }
  struct pollfd pf = {fd, POLLOUT, 0};
  int soerr = 0;
  socklen_t sl = sizeof soerr;
  while (poll(&pf, 1, ANSWER_MS) < 0 && errno == EINTR) {
  }
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) || soerr) {
    fprintf(stderr, "connect: %s\n", strerror(soerr));
    die("cannot connect to the query server");
  }
  /* Close with a reset: the server closes first, and at several hundred
   * connections a second its TIME_WAIT sockets would use up the ephemeral
   * ports within a minute; a reset in FIN_WAIT_2 leaves none. */
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  return fd;
}

static const char end_mark[] = "\r\n\r\nGET /api/v1/fuzz-end HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "Connection: close\r\n\r\n";

/* 0, or -1 when the server closed before taking it all (after a refusal). */
static int send_all(int fd, const void *p, size_t n) {
  for (size_t off = 0; off < n;) {
    ssize_t k = send(fd, (const char *)p + off, n - off, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return -1;
    off += (size_t)k;
  }
  return 0;
}

/* Sends the bytes and the end mark, reads until the server closes. Returns
 * the answer's length; a server that neither answers nor closes in time
 * is a hang. */
static size_t exchange(const uint8_t *data, size_t size) {
  /* One write, so input and end mark usually arrive as one segment and
   * the server's head gate sees them at its first look. */
  static uint8_t out[(1 << 20) + sizeof end_mark];
  if (size > 1 << 20)
    size = 1 << 20;
  memcpy(out, data, size);
  memcpy(out + size, end_mark, sizeof end_mark - 1);
  int fd = connect_server();
  (void)send_all(fd, out, size + sizeof end_mark - 1);
  shutdown(fd, SHUT_WR);
  size_t n = 0;
  uint64_t deadline = mono_ms() + ANSWER_MS;
  for (;;) {
    uint64_t now = mono_ms();
    if (now >= deadline)
      die("no close within the answer deadline");
    struct pollfd pf = {fd, POLLIN, 0};
    if (poll(&pf, 1, (int)(deadline - now)) <= 0)
      continue;
    ssize_t k = read(fd, answer + n, sizeof answer - 1 - n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      break; /* a reset after a refusal is a close too */
    n += (size_t)k;
    if (n + 1 >= sizeof answer)
      die("answer larger than 1 MiB");
  }
  close(fd);
  answer[n] = '\0';
  return n;
}

/* The status of a well-formed status line at p, or -1. */
static int status_line(const char *p, size_t n) {
  if (n < 13 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ')
    return -1;
  int code = 0;
  for (int i = 9; i < 12; i++) {
    if (p[i] < '0' || p[i] > '9')
      return -1;
    code = code * 10 + (p[i] - '0');
  }
  if (code < 100 || code > 599 || p[12] != ' ' || !memchr(p, '\n', n))
    return -1;
  return code;
}

/* The first answer: well-formed; ours (the security headers mark them)
 * and every 414/431 carry a JSON object. */
static void check_answer(size_t n) {
  if (n == 0)
    return;
  int code = status_line(answer, n);
  if (code < 0)
    die("answer does not start with a status line");
  char *end = strstr(answer, "\r\n\r\n");
  if (!end)
    die("answer head does not end");
  *end = '\0';
  int ours = strstr(answer, "\r\nX-Content-Type-Options: nosniff") != NULL;
  int json = strstr(answer, "\r\nContent-Type: application/json") != NULL;
  const char *body = end + 4;
  if ((code == 414 || code == 431) && !json)
    die("414/431 without the API's JSON error");
  /* A HEAD answer has no body; else ours is JSON or the UI's file. */
  if (json && *body && *body != '{')
    die("JSON answer whose body is not an object");
  if (ours && !json && code != 200 && code != 304)
    die("an error of ours that is not JSON");
}

/* Every connection closed on the server's side, so the next input starts
 * clean and a leak shows up under the input that caused it. */
static void wait_closed(void) {
  uint64_t deadline = mono_ms() + ANSWER_MS;
  for (;;) {
    cs_cg_stats st;
    cs_query_get_conn_stats(server, &st);
    if (st.open == 0)
      return;
    if (mono_ms() >= deadline)
      die("a connection is still open on the server");
    usleep(100);
  }
}

static void check_alive(void) {
  static const char req[] = "GET /api/v1/services HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  size_t n = exchange((const uint8_t *)req, sizeof req - 1); /* the end mark ends its head */
  if (status_line(answer, n) != 200 || !strstr(answer, "\"svc\""))
    die("the server no longer answers a normal request");
  wait_closed();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_answer(exchange(data, size));
  wait_closed();
  check_alive();
  return 0;
}
