/* Smoke test of cs-loadgen against a stand-in collector in this process:
 * it decodes every frame through protobuf-c, counts spans, and ACKs (or,
 * on request, drops the connection once to force a reconnect and resend).
 * argv[1] is the cs-loadgen binary. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "wire.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest Req;
#define REQ_UNPACK opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack
#define REQ_FREE                                                                                   \
  opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked

static const char *loadgen;

typedef struct fake {
  int lfd, ufd;
  int port;
  atomic_ullong spans, frames, bad;
  atomic_ullong mixed;   /* frames with spans of more than one service */
  atomic_int drop_after; /* close a connection after this many frames, once */
  atomic_int stop;
} fake;

/* service.name of a ResourceSpans, or "". */
static const char *service_of(const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs) {
  if (!rs->resource)
    return "";
  for (size_t i = 0; i < rs->resource->n_attributes; i++) {
    const Opentelemetry__Proto__Common__V1__KeyValue *kv = rs->resource->attributes[i];
    if (strcmp(kv->key, "service.name") == 0 && kv->value && kv->value->value_case == 1)
      return kv->value->string_value;
  }
  return "";
}

/* Spans in one payload, or -1 when it does not decode; *mixed is set when
 * they belong to more than one service. */
static long count_spans(const uint8_t *p, size_t n, int *mixed) {
  Req *req = REQ_UNPACK(NULL, n, p);
  if (!req)
    return -1;
  long c = 0;
  *mixed = 0;
  for (size_t r = 0; r < req->n_resource_spans; r++) {
    if (strcmp(service_of(req->resource_spans[r]), service_of(req->resource_spans[0])) != 0)
      *mixed = 1;
    for (size_t k = 0; k < req->resource_spans[r]->n_scope_spans; k++)
      c += (long)req->resource_spans[r]->scope_spans[k]->n_spans;
  }
  REQ_FREE(req, NULL);
  return c;
}

typedef struct conn_arg {
  fake *f;
  int fd;
} conn_arg;

static int read_full(int fd, uint8_t *b, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = recv(fd, b + got, n - got, 0);
    if (r <= 0)
      return -1;
    got += (size_t)r;
  }
  return 0;
}

static void *serve_conn(void *arg) {
  conn_arg *ca = arg;
  fake *f = ca->f;
  int fd = ca->fd;
  free(ca);
  uint8_t *buf = malloc(CS_FRAME_MAX_DEFAULT);
  for (;;) {
    uint8_t hdr[CS_FRAME_HDR_LEN];
    cs_frame_hdr h;
    if (read_full(fd, hdr, sizeof hdr) != 0)
      break;
    if (cs_frame_parse_header(hdr, sizeof hdr, CS_FRAME_MAX_DEFAULT, &h) != CS_WIRE_OK ||
        h.type != CS_FRAME_TRACES || read_full(fd, buf, h.len) != 0) {
      atomic_fetch_add(&f->bad, 1);
      break;
    }
    int mixed = 0;
    long n = count_spans(buf, h.len, &mixed);
    if (mixed)
      atomic_fetch_add(&f->mixed, 1);
    if (n < 0) {
      atomic_fetch_add(&f->bad, 1);
      break;
    }
    unsigned long long frames = atomic_fetch_add(&f->frames, 1) + 1;
    int drop = atomic_load(&f->drop_after);
    if (drop && frames >= (unsigned long long)drop) {
      atomic_store(&f->drop_after, 0); /* this frame is lost, unacknowledged */
      break;
    }
    atomic_fetch_add(&f->spans, (unsigned long long)n);
    uint8_t ack[CS_FRAME_HDR_LEN + CS_ACK_LEN];
    cs_ack a = {(uint32_t)n, 0};
    size_t alen = cs_frame_write_ack(ack, h.seq, &a);
    if (send(fd, ack, alen, MSG_NOSIGNAL) != (ssize_t)alen)
      break;
  }
  free(buf);
  close(fd);
  return NULL;
}

static void *accept_loop(void *arg) {
  fake *f = arg;
  while (!atomic_load(&f->stop)) {
    int fd = accept(f->lfd, NULL, NULL);
    if (fd < 0)
      break;
    conn_arg *ca = malloc(sizeof *ca);
    ca->f = f;
    ca->fd = fd;
    pthread_t t;
    if (pthread_create(&t, NULL, serve_conn, ca) == 0)
      pthread_detach(t);
  }
  return NULL;
}

static void *udp_loop(void *arg) {
  fake *f = arg;
  static uint8_t buf[65536];
  while (!atomic_load(&f->stop)) {
    ssize_t n = recv(f->ufd, buf, sizeof buf, 0);
    if (n <= 0)
      continue; /* timeout: check stop */
    cs_frame_hdr h;
    const uint8_t *payload;
    long c = -1;
    int mixed = 0;
    if (cs_frame_parse_datagram(buf, (size_t)n, CS_FRAME_MAX_UDP, &h, &payload) == CS_WIRE_OK)
      c = count_spans(payload, h.len, &mixed);
    if (c < 0) {
      atomic_fetch_add(&f->bad, 1);
      continue;
    }
    atomic_fetch_add(&f->frames, 1);
    atomic_fetch_add(&f->spans, (unsigned long long)c);
  }
  return NULL;
}

/* Binds TCP and UDP sockets on the same free loopback port. */
static int fake_start(fake *f, pthread_t *ta, pthread_t *tu) {
  memset(f, 0, sizeof *f);
  for (int attempt = 0; attempt < 20; attempt++) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (bind(f->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(f->lfd, 16) != 0)
      return -1;
    getsockname(f->lfd, (struct sockaddr *)&sa, &sl);
    f->ufd = socket(AF_INET, SOCK_DGRAM, 0);
    if (bind(f->ufd, (struct sockaddr *)&sa, sizeof sa) == 0) {
      f->port = ntohs(sa.sin_port);
      break;
    }
    close(f->lfd);
    close(f->ufd);
  }
  if (!f->port)
    return -1;
  int rcv = 8 << 20;
  setsockopt(f->ufd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  struct timeval tv = {0, 100000};
  setsockopt(f->ufd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  pthread_create(ta, NULL, accept_loop, f);
  pthread_create(tu, NULL, udp_loop, f);
  return 0;
}

static void fake_stop(fake *f, pthread_t ta, pthread_t tu) {
  atomic_store(&f->stop, 1);
  shutdown(f->lfd, SHUT_RDWR);
  pthread_join(ta, NULL);
  pthread_join(tu, NULL);
  close(f->lfd);
  close(f->ufd);
}

typedef struct result {
  int status;
  unsigned long long sent, acked, accepted, reconnects, resent;
} result;

static unsigned long long field(const char *line, const char *key) {
  const char *p = strstr(line, key);
  return p ? strtoull(p + strlen(key), NULL, 10) : (unsigned long long)-1;
}

/* Runs cs-loadgen with args; parses its result line. */
static result run(const char *args) {
  char cmd[1024], line[2048];
  result r = {.status = -1};
  /* timeout(1): a hung load generator fails the test instead of stalling it. */
  snprintf(cmd, sizeof cmd, "timeout 60 %s %s", loadgen, args);
  FILE *p = popen(cmd, "r");
  if (!p)
    return r;
  while (fgets(line, sizeof line, p)) {
    if (strncmp(line, "result ", 7) != 0)
      continue;
    r.sent = field(line, " sent_spans=");
    r.acked = field(line, " acked_spans=");
    r.accepted = field(line, " accepted=");
    r.reconnects = field(line, " reconnects=");
    r.resent = field(line, " resent_frames=");
  }
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

static void loadgen_tcp_spans_are_all_acknowledged(void) {
  fake f;
  pthread_t ta, tu;
  CHECK_EQ(fake_start(&f, &ta, &tu), 0);
  char args[256];
  snprintf(args, sizeof args, "--tcp 127.0.0.1:%d --spans 20000 --batch 300 --window 4 --conns 2",
           f.port);
  result r = run(args);
  CHECK_EQ(r.status, 0);
  CHECK(r.sent >= 20000 && r.sent < 20000 + 2 * (300 + 40)); /* whole-trace frames */
  CHECK_EQ(r.acked, r.sent);
  CHECK_EQ(r.accepted, r.sent);
  CHECK_EQ(atomic_load(&f.spans), r.sent);
  CHECK_EQ(atomic_load(&f.bad), 0);
  CHECK_EQ(r.reconnects, 0);
  CHECK(atomic_load(&f.mixed) > 0); /* whole traces: all services in a frame */
  fake_stop(&f, ta, tu);
}

static void loadgen_per_service_frames_hold_one_service(void) {
  fake f;
  pthread_t ta, tu;
  CHECK_EQ(fake_start(&f, &ta, &tu), 0);
  char args[256];
  snprintf(args, sizeof args, "--tcp 127.0.0.1:%d --spans 10000 --batch 300 --per-service", f.port);
  result r = run(args);
  CHECK_EQ(r.status, 0);
  CHECK_EQ(r.acked, r.sent);
  CHECK_EQ(atomic_load(&f.spans), r.sent);
  CHECK(atomic_load(&f.frames) > 0);
  CHECK_EQ(atomic_load(&f.mixed), 0);
  fake_stop(&f, ta, tu);
}

static void loadgen_tcp_resends_after_a_dropped_connection(void) {
  fake f;
  pthread_t ta, tu;
  CHECK_EQ(fake_start(&f, &ta, &tu), 0);
  atomic_store(&f.drop_after, 3);
  char args[256];
  snprintf(args, sizeof args, "--tcp 127.0.0.1:%d --spans 5000 --batch 200 --window 4 --drain 3",
           f.port);
  result r = run(args);
  CHECK_EQ(r.status, 0);
  CHECK(r.reconnects >= 1 && r.reconnects != (unsigned long long)-1);
  CHECK(r.resent >= 1 && r.resent != (unsigned long long)-1);
  CHECK_EQ(r.acked, r.sent);
  /* Everything acknowledged reached the server; the dropped frame came
   * again on the new connection. */
  CHECK_EQ(atomic_load(&f.spans), r.sent);
  fake_stop(&f, ta, tu);
}

static void loadgen_udp_sends_decodable_datagrams(void) {
  fake f;
  pthread_t ta, tu;
  CHECK_EQ(fake_start(&f, &ta, &tu), 0);
  char args[256];
  snprintf(args, sizeof args, "--udp 127.0.0.1:%d --spans 4000 --rate 40000 --udp-size 8000",
           f.port);
  result r = run(args);
  CHECK_EQ(r.status, 0);
  CHECK(r.sent >= 4000 && r.sent < 4100);
  usleep(300000); /* let the receiver drain its socket */
  CHECK_EQ(atomic_load(&f.spans), r.sent);
  CHECK_EQ(atomic_load(&f.bad), 0);
  CHECK(atomic_load(&f.frames) > 4000 / 30); /* 8000-byte datagrams: under ~30 spans each */
  fake_stop(&f, ta, tu);
}

static void loadgen_fails_when_nothing_listens(void) {
  fake f;
  pthread_t ta, tu;
  CHECK_EQ(fake_start(&f, &ta, &tu), 0);
  int port = f.port;
  fake_stop(&f, ta, tu); /* the port is free again */
  char args[256];
  snprintf(args, sizeof args, "--tcp 127.0.0.1:%d --spans 100 --connect-timeout 0.3 2>/dev/null",
           port);
  result r = run(args);
  CHECK(r.status != 0 && r.status != -1);
  CHECK_EQ(r.acked, 0);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_loadgen path/to/cs-loadgen\n");
    return 2;
  }
  loadgen = argv[1];
  RUN(loadgen_tcp_spans_are_all_acknowledged);
  RUN(loadgen_per_service_frames_hold_one_service);
  RUN(loadgen_tcp_resends_after_a_dropped_connection);
  RUN(loadgen_udp_sends_decodable_datagrams);
  RUN(loadgen_fails_when_nothing_listens);
  return CHECK_DONE();
}
