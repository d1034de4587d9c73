/* OTLP/HTTP and Zipkin under back pressure, in process. A span observer
 * holds the writer inside a commit, so the queue stays above its (tiny)
 * watermark. A request in flight must not be answered before its commit
 * finished; new requests must get 429 with Retry-After and be counted;
 * once the writer moves on, everything is answered 200/202. */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "collector.h"
#include "otlp_encode.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int entered, released;

/* Runs on the writer thread after each commit: the first one waits for
 * the test to let it go. */
static void observer(void *ud, const cs_span *spans, size_t n) {
  (void)ud, (void)spans, (void)n;
  pthread_mutex_lock(&mu);
  entered++;
  pthread_cond_broadcast(&cv);
  while (!released) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
}

static int wait_entered(int want, int ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  pthread_mutex_lock(&mu);
  while (entered < want)
    if (pthread_cond_timedwait(&cv, &mu, &ts)) break;
  int ok = entered >= want;
  pthread_mutex_unlock(&mu);
  return ok;
}

/* One POST on a fresh connection; returns the status, copies Retry-After. */
static int post(int port, const char *path, const char *ctype, const void *body, size_t len,
                char *retry, size_t retry_cap) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) return -1;
  char head[256];
  int hn = snprintf(head, sizeof head,
                    "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                    "Connection: close\r\n\r\n",
                    path, ctype, len);
  if (write(fd, head, (size_t)hn) != hn || write(fd, body, len) != (ssize_t)len) {
    close(fd);
    return -1;
  }
  char buf[4096];
  size_t n = 0;
  ssize_t r;
  while (n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)r;
  buf[n] = '\0';
  close(fd);
  int status = -1;
  if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) return -1;
  if (retry) {
    retry[0] = '\0';
    const char *h = strstr(buf, "Retry-After: ");
    if (h) sscanf(h + 13, "%15s", retry);
    (void)retry_cap;
  }
  return status;
}

static uint8_t body[4096];
static size_t body_len;

static void make_body(void) {
  cs_resource res = {.service = CS_STR_LIT("bp")};
  cs_span s;
  memset(&s, 0, sizeof s);
  for (int i = 0; i < 16; i++) s.trace_id[i] = (uint8_t)(i + 1);
  for (int i = 0; i < 8; i++) s.span_id[i] = (uint8_t)(i + 1);
  s.name = CS_STR_LIT("op");
  s.start_ns = 1700000000000000000ull;
  s.end_ns = s.start_ns + 1000;
  s.resource = &res;
  if (cs_otlp_encode_traces(&s, 1, body, sizeof body, &body_len)) body_len = 0;
}

typedef struct inflight {
  int port, status, done;
} inflight;

static void *send_first(void *arg) {
  inflight *f = arg;
  f->status = post(f->port, "/v1/traces", "application/x-protobuf", body, body_len, NULL, 0);
  __atomic_store_n(&f->done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

static uv_loop_t loop;
static void *loop_main(void *arg) {
  (void)arg;
  uv_run(&loop, UV_RUN_DEFAULT);
  return NULL;
}

static void receivers_answer_after_commit_and_429_when_full(void) {
  char dir[] = "/tmp/cs-recv-bp-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char err[256];
  cs_store_opts so = {.dir = dir};
  cs_store *st = NULL;
  CHECK_EQ(cs_store_open(&so, &st, err, sizeof err), 0);
  if (!st) return;
  cs_collector_opts o;
  cs_collector_opts_default(&o);
  o.tcp_port = o.udp_port = o.statsd_port = -1;
  o.otlp_http_port = o.zipkin_port = 0;
  o.max_queue_bytes = 1; /* any queued item is over the watermark */
  o.stats_interval_ms = 0;
  cs_collector *c = cs_collector_new(&o, st);
  cs_collector_set_span_observer(c, observer, NULL);
  uv_loop_init(&loop);
  CHECK_EQ(cs_collector_start(c, &loop), 0);
  int otlp = 0, zipkin = 0;
  cs_collector_recv_ports(c, &otlp, &zipkin, NULL);
  CHECK(otlp > 0 && zipkin > 0);
  pthread_t lt, ft;
  pthread_create(&lt, NULL, loop_main, NULL);
  make_body();
  CHECK(body_len > 0);

  inflight f = {.port = otlp};
  pthread_create(&ft, NULL, send_first, &f);
  CHECK(wait_entered(1, 5000)); /* the writer committed and is held */
  usleep(200000);
  CHECK_EQ(__atomic_load_n(&f.done, __ATOMIC_SEQ_CST), 0); /* no answer before the commit is over */

  char retry[16];
  CHECK_EQ(post(otlp, "/v1/traces", "application/x-protobuf", body, body_len, retry, sizeof retry), 429);
  CHECK_STR(retry, "1");
  const char *zj = "[{\"traceId\":\"463ac35c9f6413ad\",\"id\":\"a2fb4a1d1a96d312\",\"timestamp\":1700000000000000}]";
  CHECK_EQ(post(zipkin, "/api/v2/spans", "application/json", zj, strlen(zj), retry, sizeof retry), 429);
  CHECK_STR(retry, "1");
  cs_collector_stats s;
  cs_collector_get_stats(c, &s);
  CHECK_EQ(s.otlp_http_throttled, 1);
  CHECK_EQ(s.zipkin_throttled, 1);

  pthread_mutex_lock(&mu);
  released = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  pthread_join(ft, NULL);
  CHECK_EQ(f.status, 200);
  /* Retried after the writer moved on: accepted. The answer to the first
   * request comes at commit, a moment before the writer gives its queue
   * bytes back, so a retry may still meet a 429: retry as clients do. */
  int st_otlp = 0, st_zipkin = 0, tries_otlp = 0, tries_zipkin = 0;
  while (tries_otlp++ < 50 &&
         (st_otlp = post(otlp, "/v1/traces", "application/x-protobuf", body, body_len, NULL, 0)) == 429)
    usleep(20000);
  while (tries_zipkin++ < 50 &&
         (st_zipkin = post(zipkin, "/api/v2/spans", "application/json", zj, strlen(zj), NULL, 0)) == 429)
    usleep(20000);
  CHECK_EQ(st_otlp, 200);
  CHECK_EQ(st_zipkin, 202);
  cs_collector_get_stats(c, &s);
  CHECK_EQ(s.spans_written, 3);
  CHECK_EQ(s.otlp_http_requests, 2 + tries_otlp);
  CHECK_EQ(s.zipkin_requests, 1 + tries_zipkin);

  cs_collector_stop(c);
  pthread_join(lt, NULL);
  cs_collector_free(c);
  uv_loop_close(&loop);
  cs_store_close(st);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK_EQ(system(cmd), 0);
}

/* Bodies being read share one byte budget (max_conn_buffer_bytes): a slow
 * upload that holds most of it makes the next request wait with 429, and
 * the budget comes back when the slow request ends. */
static void receivers_share_a_body_budget(void) {
  char dir[] = "/tmp/cs-recv-bb-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char err[256];
  cs_store_opts so = {.dir = dir};
  cs_store *st = NULL;
  CHECK_EQ(cs_store_open(&so, &st, err, sizeof err), 0);
  if (!st) return;
  cs_collector_opts o;
  cs_collector_opts_default(&o);
  o.tcp_port = o.udp_port = o.statsd_port = o.zipkin_port = -1;
  o.otlp_http_port = 0;
  o.max_conn_buffer_bytes = 1 << 20;
  o.stats_interval_ms = 0;
  cs_collector *c = cs_collector_new(&o, st);
  uv_loop_init(&loop);
  CHECK_EQ(cs_collector_start(c, &loop), 0);
  int otlp = 0;
  cs_collector_recv_ports(c, &otlp, NULL, NULL);
  pthread_t lt;
  pthread_create(&lt, NULL, loop_main, NULL);
  make_body();

  /* A slow upload announcing 900 KB, of which it sends a little. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)otlp)};
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  CHECK_EQ(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  const char *head = "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
                     "Content-Length: 900000\r\n\r\n";
  CHECK(write(fd, head, strlen(head)) == (ssize_t)strlen(head));
  CHECK(write(fd, body, 10) == 10);
  usleep(200000);
  /* 200 KB more would pass the 1 MiB budget. */
  size_t big_len = 200000;
  uint8_t *big = calloc(1, big_len);
  char retry[16];
  CHECK_EQ(post(otlp, "/v1/traces", "application/x-protobuf", big, big_len, retry, sizeof retry), 429);
  CHECK_STR(retry, "1");
  /* Small requests still fit. */
  CHECK_EQ(post(otlp, "/v1/traces", "application/x-protobuf", body, body_len, NULL, 0), 200);
  close(fd); /* the slow upload gives its reservation back */
  usleep(300000);
  CHECK_EQ(post(otlp, "/v1/traces", "application/x-protobuf", big, big_len, NULL, 0), 400); /* zeros: not OTLP */
  free(big);
  cs_collector_stats s;
  cs_collector_get_stats(c, &s);
  CHECK_EQ(s.otlp_http_throttled, 1);

  cs_collector_stop(c);
  pthread_join(lt, NULL);
  cs_collector_free(c);
  uv_loop_close(&loop);
  cs_store_close(st);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK_EQ(system(cmd), 0);
}

int main(void) {
  RUN(receivers_answer_after_commit_and_429_when_full);
  RUN(receivers_share_a_body_budget);
  return CHECK_DONE();
}
