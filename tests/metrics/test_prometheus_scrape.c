/* A real Prometheus server (Debian package prometheus) scrapes the
 * rendered registry every second from a small libmicrohttpd endpoint on
 * 127.0.0.1, once negotiating OpenMetrics and once forced to text 0.0.4,
 * and the test finds known samples through Prometheus's HTTP query API.
 * Exits 77 (skipped) when the prometheus binary is missing. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "sample_registry.h"

static cs_metrics *g_reg;
static int g_served_om, g_served_text;

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
  int om = 0;
  const char *ct;
  if (strcmp(method, "GET") != 0) return MHD_NO;
  if (!strcmp(url, "/metrics")) {
    ct = cs_metrics_negotiate(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept"), &om);
  } else if (!strcmp(url, "/metrics-text")) {
    ct = CS_METRICS_CONTENT_TYPE_TEXT; /* as a scraper asking for text only would get */
  } else {
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_NOT_FOUND, r);
    MHD_destroy_response(r);
    return rc;
  }
  char *buf = NULL;
  size_t len = 0;
  if (cs_metrics_render(g_reg, om, &buf, &len) != 0) return MHD_NO;
  __atomic_add_fetch(om ? &g_served_om : &g_served_text, 1, __ATOMIC_RELAXED);
  struct MHD_Response *r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
  MHD_add_response_header(r, "Content-Type", ct);
  enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  return rc;
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &al)) {
    if (fd >= 0) close(fd);
    return -1;
  }
  close(fd);
  return ntohs(a.sin_port);
}

/* GET http://127.0.0.1:port/path over HTTP/1.0; returns the body (malloc)
 * or NULL. Bodies are capped at 1 MiB. */
static char *http_get(int port, const char *path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (fd < 0) return NULL;
  struct timeval tv = {2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
    close(fd);
    return NULL;
  }
  char req[2048];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
  if (n <= 0 || (size_t)n >= sizeof req || write(fd, req, (size_t)n) != n) {
    close(fd);
    return NULL;
  }
  size_t cap = 1 << 20, len = 0;
  char *buf = malloc(cap + 1);
  ssize_t r;
  while (buf && len < cap && (r = read(fd, buf + len, cap - len)) > 0) len += (size_t)r;
  close(fd);
  if (!buf) return NULL;
  buf[len] = 0;
  char *body = strstr(buf, "\r\n\r\n");
  if (!body || strncmp(buf, "HTTP/1.", 7) != 0 || strncmp(buf + 9, "200", 3) != 0) {
    free(buf);
    return NULL;
  }
  memmove(buf, body + 4, len - (size_t)(body + 4 - buf) + 1);
  return buf;
}

static void url_encode(const char *in, char *out, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < cap; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
        *p == '_' || *p == '-' || *p == '.') {
      out[o++] = (char)*p;
    } else {
      out[o++] = '%';
      out[o++] = hex[*p >> 4];
      out[o++] = hex[*p & 15];
    }
  }
  out[o] = 0;
}

/* Runs a PromQL instant query; returns the JSON body or NULL. */
static char *query(int port, const char *promql) {
  char enc[1024], path[1200];
  url_encode(promql, enc, sizeof enc);
  snprintf(path, sizeof path, "/api/v1/query?query=%s", enc);
  return http_get(port, path);
}

/* Does the query's result hold every needle? */
static int query_has(int port, const char *promql, const char *n1, const char *n2) {
  char *body = query(port, promql);
  int ok = body && strstr(body, "\"status\":\"success\"") && strstr(body, n1) &&
           (!n2 || strstr(body, n2));
  free(body);
  return ok;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void dump_file(const char *path) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "tail -n 30 %s >&2", path);
  if (system(cmd)) {
  }
}

static void prometheus_scrapes_and_finds_samples(void) {
  g_reg = cs_metrics_new(NULL);
  sample_fill(g_reg);
  cs_metrics_label l[] = {{"check", "scrape \"ok\""}};
  cs_metrics_gauge_set(g_reg, "callscope_scrape_test_marker", "A known sample for the test", l, 1, 42);

  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, handler, NULL,
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a, MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
  CHECK(d != NULL);
  if (!d) return;
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  int mport = info ? info->port : 0;
  CHECK_INT(mport, >, 0);

  char dir[] = "/tmp/cs_prom_XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char cfg[128], data[128], logp[128];
  snprintf(cfg, sizeof cfg, "%s/prometheus.yml", dir);
  snprintf(data, sizeof data, "%s/data", dir);
  snprintf(logp, sizeof logp, "%s/prometheus.log", dir);
  FILE *f = fopen(cfg, "w");
  CHECK(f != NULL);
  if (f) {
    fprintf(f,
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: om\n    metrics_path: /metrics\n"
            "    static_configs:\n      - targets: ['127.0.0.1:%d']\n"
            "  - job_name: text\n    metrics_path: /metrics-text\n"
            "    static_configs:\n      - targets: ['127.0.0.1:%d']\n",
            mport, mport);
    fclose(f);
  }
  int pport = free_port();
  CHECK_INT(pport, >, 0);
  char a_cfg[160], a_data[160], a_listen[64];
  snprintf(a_cfg, sizeof a_cfg, "--config.file=%s", cfg);
  snprintf(a_data, sizeof a_data, "--storage.tsdb.path=%s", data);
  snprintf(a_listen, sizeof a_listen, "--web.listen-address=127.0.0.1:%d", pport);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execlp("prometheus", "prometheus", a_cfg, a_data, a_listen, "--log.level=warn",
           "--storage.tsdb.retention.time=1h", (char *)NULL);
    _exit(127);
  }
  CHECK(pid > 0);

  /* Prometheus needs a few seconds to start, then one or two scrapes. */
  int found_om = 0, found_text = 0, found_hist = 0, found_utf8 = 0, up = 0;
  double deadline = now_s() + 20;
  while (now_s() < deadline && !(found_om && found_text && found_hist && found_utf8 && up)) {
    usleep(500 * 1000);
    found_om = found_om || query_has(pport, "callscope_scrape_test_marker{job=\"om\"}",
                                     "\"check\":\"scrape \\\"ok\\\"\"", "\"42\"");
    found_text = found_text || query_has(pport, "callscope_scrape_test_marker{job=\"text\"}",
                                         "\"check\":\"scrape \\\"ok\\\"\"", "\"42\"");
    found_hist = found_hist ||
                 query_has(pport, "payment_duration_seconds_bucket{job=\"om\",le=\"+Inf\"}",
                           "\"method\":\"card\"", "\"11\"");
    found_utf8 = found_utf8 ||
                 query_has(pport, "callscope_span_calls_total{job=\"text\",operation=\"caf\xc3\xa9\"}",
                           "\"service\":\"checkout\"", NULL);
    up = up || query_has(pport, "sum(up)", "\"2\"", NULL);
  }
  CHECK(found_om);
  CHECK(found_text);
  CHECK(found_hist);
  CHECK(found_utf8);
  CHECK(up);
  CHECK_INT(__atomic_load_n(&g_served_om, __ATOMIC_RELAXED), >, 0);
  CHECK_INT(__atomic_load_n(&g_served_text, __ATOMIC_RELAXED), >, 0);
  if (!(found_om && found_text && found_hist && found_utf8 && up)) dump_file(logp);

  if (pid > 0) {
    kill(pid, SIGTERM);
    int st, waited = 0;
    for (int i = 0; i < 50 && !(waited = waitpid(pid, &st, WNOHANG) == pid); i++) usleep(100 * 1000);
    if (!waited) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
    }
  }
  MHD_stop_daemon(d);
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK_EQ(system(cmd), 0);
  cs_metrics_free(g_reg);
}

int main(void) {
  if (system("command -v prometheus >/dev/null 2>&1") != 0) {
    fprintf(stderr, "skip: prometheus not found (Debian package prometheus); scrape not tested\n");
    return 77;
  }
  signal(SIGPIPE, SIG_IGN);
  RUN(prometheus_scrapes_and_finds_samples);
  return CHECK_DONE();
}
