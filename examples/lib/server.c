/* The instrumented HTTP server of the example services (the only file that
 * touches libmicrohttpd): option parsing, tracer set-up, one SERVER span per
 * request with the caller's context extracted from the headers, per-route
 * metrics, one log line per request, and a clean SIGTERM shutdown. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exlib_int.h"

#define EX_BODY_MAX 4096

struct ex_req {
  struct MHD_Connection *conn;
  const char *method, *path, *tail;
  cst_span *span;
  char body[EX_BODY_MAX];
  size_t body_len;
};

const ex_opts *ex_svc_opts(const ex_svc *svc) { return &svc->opts; }
cst_tracer *ex_svc_tracer(const ex_svc *svc) { return svc->tracer; }
void *ex_svc_user(const ex_svc *svc) { return svc->user; }
void ex_svc_set_user(ex_svc *svc, void *user) { svc->user = user; }
const char *ex_req_method(const ex_req *req) { return req->method; }
const char *ex_req_path(const ex_req *req) { return req->path; }
const char *ex_req_tail(const ex_req *req) { return req->tail; }
cst_span *ex_req_span(const ex_req *req) { return req->span; }

const char *ex_req_arg(const ex_req *req, const char *key) {
  return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *ex_req_header(const ex_req *req, const char *name) {
  return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

void ex_reply(ex_req *req, const char *fmt, ...) {
  if (req->body_len >= sizeof req->body - 1) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(req->body + req->body_len, sizeof req->body - req->body_len, fmt, ap);
  va_end(ap);
  if (n > 0) req->body_len += (size_t)n;
  if (req->body_len >= sizeof req->body) req->body_len = sizeof req->body - 1;
}

int ex_work(ex_svc *svc) {
  const ex_opts *o = &svc->opts;
  uint64_t no = atomic_fetch_add(&svc->n_requests, 1) + 1;
  uint32_t ms = o->latency_ms + (o->jitter_ms ? (uint32_t)(ex_rand() % (o->jitter_ms + 1)) : 0);
  int slow = (o->slow_every && no % o->slow_every == 0) || (o->slow_rate > 0 && ex_rand01() < o->slow_rate);
  int failed = (o->fail_every && no % o->fail_every == 0) || (o->error_rate > 0 && ex_rand01() < o->error_rate);
  cst_span *cur = cst_current_span();
  if (slow) {
    ms += o->slow_ms;
    cst_attr a[] = {CST_INT("delay_ms", o->slow_ms)};
    cst_span_add_event(cur, "simulated slowness", a, 1);
  }
  if (ms) ex_sleep_ms(ms);
  if (failed) {
    cst_attr a[] = {CST_STR("exception.type", "SimulatedFault"),
                    CST_STR("exception.message", "injected failure")};
    cst_span_add_event(cur, "exception", a, 2);
  }
  return failed ? -1 : 0;
}

/* ---- request handling */

/* Incoming headers for cst_extract: MHD looks header names up
 * case-insensitively, as HTTP wants. */
static const char *hdr_get(void *user, const char *key, size_t *len) {
  const char *v = MHD_lookup_connection_value(user, MHD_HEADER_KIND, key);
  if (v) *len = strlen(v);
  return v;
}

static const ex_route *match(const ex_svc *svc, const char *method, const char *path, size_t *ri,
                             int *wrong_method) {
  *wrong_method = 0;
  for (size_t i = 0; i < svc->def->n_routes; i++) {
    const ex_route *r = &svc->def->routes[i];
    size_t pl = strlen(r->path);
    int hit = r->path[pl - 1] == '/' ? strncmp(path, r->path, pl) == 0 && path[pl]
                                     : strcmp(path, r->path) == 0;
    if (!hit) continue;
    if (strcmp(method, r->method) != 0) {
      *wrong_method = 1;
      continue;
    }
    *ri = i;
    return r;
  }
  return NULL;
}

/* cst_inject's set side for the traceresponse header: keeps traceparent. */
static int keep_traceparent(void *user, const char *key, const char *value) {
  if (strcmp(key, "traceparent") == 0) snprintf(user, 56, "%s", value);
  return 0;
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, int status, const char *body,
                                  size_t len, const char *traceresponse) {
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!resp) return MHD_NO;
  MHD_add_response_header(resp, "Content-Type", "application/json");
  /* W3C Trace Context Level 2: the server's span as the caller's handle on
   * the trace (same format as traceparent), so a user can look up their
   * request; browsers may read it cross-origin. */
  if (traceresponse[0]) {
    MHD_add_response_header(resp, "traceresponse", traceresponse);
    MHD_add_response_header(resp, "Access-Control-Expose-Headers", "traceresponse");
  }
  enum MHD_Result r = MHD_queue_response(conn, (unsigned)status, resp);
  MHD_destroy_response(resp);
  return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
  static int first_call_marker;
  ex_svc *svc = cls;
  (void)version, (void)upload_data;
  if (*con_cls == NULL) {
    *con_cls = &first_call_marker;
    return MHD_YES;
  }
  if (*upload_data_size) { /* request bodies are not used: discard them */
    *upload_data_size = 0;
    return MHD_YES;
  }
  double t0 = ex_now_ms();
  size_t ri = 0;
  int wrong_method;
  const ex_route *r = match(svc, method, url, &ri, &wrong_method);

  /* The caller's context: W3C or B3, plus baggage (the session ID). */
  cst_carrier carrier = {hdr_get, NULL, conn};
  cst_context *parent = cst_extract(&carrier, svc->extract_formats);
  char name[160];
  /* Span names have low cardinality: the route template, or only the
   * method when no route matched (never the raw path). */
  if (r) snprintf(name, sizeof name, "%s %s", method, r->route);
  else snprintf(name, sizeof name, "%s", method);
  cst_span *span = cst_span_start(svc->tracer, name, CST_KIND_SERVER, parent);
  cst_context_free(parent);
  cst_span_set_str(span, "http.method", method);
  cst_span_set_str(span, "http.target", url);
  if (r) cst_span_set_str(span, "http.route", r->route);
  cst_span_set_str(span, "http.scheme", "http");
  cst_span_set_int(span, "net.host.port", svc->opts.port);
  const char *ua = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent");
  if (ua) cst_span_set_str(span, "http.user_agent", ua);

  ex_req *req = malloc(sizeof *req);
  if (!req) {
    cst_span_set_status(span, CST_STATUS_ERROR, "out of memory");
    cst_span_end(span);
    return MHD_NO;
  }
  req->conn = conn;
  req->method = method;
  req->path = url;
  req->tail = r ? url + strlen(r->path) : url;
  req->span = span;
  req->body_len = 0;
  req->body[0] = '\0';
  cst_updown_add(svc->in_flight, 1);
  int status;
  {
    CST_SCOPED(span);
    if (r) {
      status = r->fn(svc, req);
    } else {
      status = wrong_method ? 405 : 404;
      ex_reply(req, "{\"error\":\"%s\"}", wrong_method ? "method not allowed" : "not found");
    }
  }
  cst_updown_add(svc->in_flight, -1);
  cst_span_set_int(span, "http.status_code", status);
  /* Server spans: only 5xx is an error of this service (4xx is the caller's). */
  if (status >= 500) {
    char msg[32];
    snprintf(msg, sizeof msg, "HTTP %d", status);
    cst_span_set_status(span, CST_STATUS_ERROR, msg);
  }
  char trace[33], traceresponse[56] = "";
  cst_context_trace_id_hex(cst_span_context(span), trace);
  cst_carrier tr = {NULL, keep_traceparent, traceresponse};
  cst_inject(cst_span_context(span), &tr, CST_PROP_TRACECONTEXT);
  const char *session = cst_context_session(cst_span_context(span));
  char sess[80];
  snprintf(sess, sizeof sess, "%s", session ? session : "-");
  cst_span_end(span);
  double ms = ex_now_ms() - t0;
  if (r) {
    cst_counter_add(status >= 500 ? svc->rm[ri].error : svc->rm[ri].ok, 1);
    cst_histogram_record(svc->rm[ri].latency, ms / 1000.0); /* base unit: seconds */
  }
  ex_log(status >= 500 ? "warn" : "info", "%s %s %d %.1f ms trace=%s session=%s", method, url,
         status, ms, trace, sess);
  enum MHD_Result res = send_reply(conn, status, req->body, req->body_len, traceresponse);
  free(req);
  return res;
}

/* ---- options */

static void usage(const ex_svc_def *def, FILE *f) {
  fprintf(f,
          "usage: cs-%s [options]\n%s\n\n"
          "  --port N            listen port (default %d; 0 = any free port)\n"
          "  --host ADDR         listen address (default 127.0.0.1)\n"
          "  --service-name S    service.name of the spans (default %s)\n"
          "  --endpoint URL      collector, tcp://host:port or udp://host:port\n"
          "                      (default $CALLSCOPE_ENDPOINT, then udp://127.0.0.1:4320)\n"
          "  --threads N         HTTP worker threads (default 8)\n"
          "  --error-rate P      probability 0..1 that a request fails with 503\n"
          "  --fail-every N      every Nth request fails (deterministic, for tests)\n"
          "  --latency-ms N      base work time per request (default 2)\n"
          "  --jitter-ms N       plus a uniform random 0..N ms (default 3)\n"
          "  --slow-rate P       probability 0..1 that a request is slow\n"
          "  --slow-every N      every Nth request is slow (deterministic)\n"
          "  --slow-ms N         extra time of a slow request (default 1500)\n",
          def->name, def->summary, def->default_port, def->name);
  if (def->downstreams)
    fprintf(f,
            "  --timeout-ms N      per-attempt timeout of downstream calls (default 1000)\n"
            "  --retries N         extra attempts for idempotent calls (default 2)\n");
  if (def->downstreams & EX_DS_ORDERS)
    fprintf(f, "  --orders URL        orders service (default http://127.0.0.1:8081)\n");
  if (def->downstreams & EX_DS_INVENTORY)
    fprintf(f, "  --inventory URL     inventory service (default http://127.0.0.1:8082)\n");
  if (def->downstreams & EX_DS_PAYMENTS)
    fprintf(f, "  --payments URL      payments service (default http://127.0.0.1:8083)\n");
  fprintf(f,
          "  --help              this text\n\n"
          "Environment: CALLSCOPE_ENDPOINT, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER,\n"
          "OTEL_TRACES_SAMPLER_ARG, OTEL_PROPAGATORS, OTEL_METRIC_EXPORT_INTERVAL.\n"
          "Logs one line per request on stderr; SIGTERM or SIGINT stops it cleanly.\n");
}

static int parse_u32(const char *s, uint32_t max, uint32_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < 0 || v > (long long)max) return -1;
  *out = (uint32_t)v;
  return 0;
}

static int parse_prob(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= 0.0 && v <= 1.0)) return -1;
  *out = v;
  return 0;
}

/* Returns 0 to run, 1 to exit 0 (--help), 2 on a usage error. */
static int parse_opts(const ex_svc_def *def, int argc, char **argv, ex_opts *o) {
  enum { O_PORT = 1, O_HOST, O_NAME, O_EP, O_THREADS, O_ERR, O_FAILN, O_LAT, O_JIT, O_SLOWR,
         O_SLOWN, O_SLOWMS, O_TMO, O_RETRIES, O_ORD, O_INV, O_PAY, O_HELP };
  static const struct option lo[] = {
      {"port", required_argument, 0, O_PORT},         {"host", required_argument, 0, O_HOST},
      {"service-name", required_argument, 0, O_NAME}, {"endpoint", required_argument, 0, O_EP},
      {"threads", required_argument, 0, O_THREADS},   {"error-rate", required_argument, 0, O_ERR},
      {"fail-every", required_argument, 0, O_FAILN},  {"latency-ms", required_argument, 0, O_LAT},
      {"jitter-ms", required_argument, 0, O_JIT},     {"slow-rate", required_argument, 0, O_SLOWR},
      {"slow-every", required_argument, 0, O_SLOWN},  {"slow-ms", required_argument, 0, O_SLOWMS},
      {"timeout-ms", required_argument, 0, O_TMO},    {"retries", required_argument, 0, O_RETRIES},
      {"orders", required_argument, 0, O_ORD},        {"inventory", required_argument, 0, O_INV},
      {"payments", required_argument, 0, O_PAY},      {"help", no_argument, 0, O_HELP},
      {0, 0, 0, 0}};
  *o = (ex_opts){.service = def->name, .host = "127.0.0.1", .port = def->default_port,
                 .threads = 8, .latency_ms = 2, .jitter_ms = 3, .slow_ms = 1500,
                 .timeout_ms = 1000, .retries = 2,
                 .orders_url = "http://127.0.0.1:8081", .inventory_url = "http://127.0.0.1:8082",
                 .payments_url = "http://127.0.0.1:8083"};
  int opt;
  uint32_t v;
  while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
    const char *bad = NULL;
    switch (opt) {
    case O_PORT:
      if (parse_u32(optarg, 65535, &v)) bad = "--port";
      else o->port = (int)v;
      break;
    case O_HOST: o->host = optarg; break;
    case O_NAME: o->service = optarg; break;
    case O_EP: o->endpoint = optarg; break;
    case O_THREADS:
      if (parse_u32(optarg, 256, &o->threads) || !o->threads) bad = "--threads";
      break;
    case O_ERR: if (parse_prob(optarg, &o->error_rate)) bad = "--error-rate"; break;
    case O_FAILN: if (parse_u32(optarg, 1000000, &o->fail_every)) bad = "--fail-every"; break;
    case O_LAT: if (parse_u32(optarg, 60000, &o->latency_ms)) bad = "--latency-ms"; break;
    case O_JIT: if (parse_u32(optarg, 60000, &o->jitter_ms)) bad = "--jitter-ms"; break;
    case O_SLOWR: if (parse_prob(optarg, &o->slow_rate)) bad = "--slow-rate"; break;
    case O_SLOWN: if (parse_u32(optarg, 1000000, &o->slow_every)) bad = "--slow-every"; break;
    case O_SLOWMS: if (parse_u32(optarg, 60000, &o->slow_ms)) bad = "--slow-ms"; break;
    case O_TMO:
      if (parse_u32(optarg, 600000, &o->timeout_ms) || !o->timeout_ms) bad = "--timeout-ms";
      break;
    case O_RETRIES: if (parse_u32(optarg, 10, &o->retries)) bad = "--retries"; break;
    case O_ORD: o->orders_url = optarg; break;
    case O_INV: o->inventory_url = optarg; break;
    case O_PAY: o->payments_url = optarg; break;
    case O_HELP:
    case 'h': usage(def, stdout); return 1;
    default: usage(def, stderr); return 2;
    }
    if ((opt == O_ORD && !(def->downstreams & EX_DS_ORDERS)) ||
        (opt == O_INV && !(def->downstreams & EX_DS_INVENTORY)) ||
        (opt == O_PAY && !(def->downstreams & EX_DS_PAYMENTS)))
      bad = lo[opt - 1].name;
    if (bad) {
      fprintf(stderr, "%s: invalid or unsupported %s %s\n", def->name, bad, optarg ? optarg : "");
      usage(def, stderr);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "%s: unexpected argument %s\n", def->name, argv[optind]);
    return 2;
  }
  return 0;
}

/* ---- lifecycle */

static void on_lib_log(void *user, int level, const char *msg) {
  (void)user;
  ex_log(level <= CST_LOG_ERROR ? "error" : level == CST_LOG_WARN ? "warn" : "info",
         "libtrace: %s", msg);
}

static int make_metrics(ex_svc *svc) {
  for (size_t i = 0; i < svc->def->n_routes && i < EX_MAX_ROUTES; i++) {
    const ex_route *r = &svc->def->routes[i];
    cst_label ok[] = {{"http.route", r->route}, {"http.method", r->method}, {"outcome", "ok"}};
    cst_label er[] = {{"http.route", r->route}, {"http.method", r->method}, {"outcome", "error"}};
    svc->rm[i].ok = cst_counter_new(svc->tracer, "http.server.requests", "{request}",
                                    "HTTP requests handled", ok, 3);
    svc->rm[i].error = cst_counter_new(svc->tracer, "http.server.requests", "{request}",
                                       "HTTP requests handled", er, 3);
    /* Seconds, the base unit Prometheus expects (http_server_duration_seconds),
     * with libtrace's default latency bounds, which are in seconds. */
    svc->rm[i].latency = cst_histogram_new(svc->tracer, "http.server.duration", "s",
                                           "HTTP request latency", ok, 2, NULL, 0);
  }
  if (svc->def->downstreams) {
    svc->client_retries = cst_counter_new(svc->tracer, "http.client.retries", "{attempt}",
                                          "downstream attempts after the first", NULL, 0);
    svc->client_timeouts = cst_counter_new(svc->tracer, "http.client.timeouts", "{attempt}",
                                           "downstream attempts that timed out", NULL, 0);
  }
  svc->in_flight = cst_updown_new(svc->tracer, "http.server.active_requests", "{request}",
                                  "requests being handled", NULL, 0);
  return 0;
}

int ex_svc_main(const ex_svc_def *def, int argc, char **argv) {
  if (def->n_routes > EX_MAX_ROUTES) return 1;
  ex_svc *svc = calloc(1, sizeof *svc);
  if (!svc) return 1;
  svc->def = def;
  int rc = parse_opts(def, argc, argv, &svc->opts);
  if (rc) {
    free(svc);
    return rc == 1 ? 0 : 2;
  }
  ex_log_init(svc->opts.service);
  struct in_addr ia;
  if (inet_pton(AF_INET, svc->opts.host, &ia) != 1) {
    fprintf(stderr, "%s: --host wants an IPv4 address, got %s\n", def->name, svc->opts.host);
    free(svc);
    return 2;
  }

  /* Block the stop signals before any thread starts so only sigwait sees
   * them; ignore SIGPIPE from peers that hang up. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  signal(SIGPIPE, SIG_IGN);

  cst_config cfg;
  if (cst_config_init(&cfg) == CST_EENV) ex_log("warn", "ignoring a malformed OTEL_* variable");
  cfg.service_name = svc->opts.service;
  cfg.service_version = "0.1.0";
  if (svc->opts.endpoint) cfg.endpoint = svc->opts.endpoint;
  cfg.log = on_lib_log;
  rc = cst_tracer_new(&cfg, &svc->tracer);
  if (rc != CST_OK) {
    /* Tracing is never fatal: the service runs with a NULL tracer. */
    ex_log("warn", "tracing disabled: %s", cst_strerror(rc));
    svc->tracer = NULL;
  }
  /* Servers accept every format a caller may send. */
  svc->extract_formats = CST_PROP_TRACECONTEXT | CST_PROP_BAGGAGE | CST_PROP_B3 | CST_PROP_B3_MULTI;
  make_metrics(svc);
  struct MHD_Daemon *d = NULL;
  int exit_code = 1;
  if (def->downstreams && ex_pool_start(svc, 2 * svc->opts.threads) != 0) {
    ex_log("error", "cannot start worker threads");
    goto out_tracer;
  }
  if (def->init && def->init(svc) != 0) goto out_pool;

  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)svc->opts.port),
                           .sin_addr = ia};
  d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, (uint16_t)svc->opts.port,
                       NULL, NULL, on_request, svc, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                       MHD_OPTION_THREAD_POOL_SIZE, (unsigned)svc->opts.threads,
                       MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT, 512u,
                       MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536, MHD_OPTION_END);
  if (!d) {
    ex_log("error", "cannot listen on %s:%d: %s", svc->opts.host, svc->opts.port, strerror(errno));
    goto out_fini;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  if (info && info->port) svc->opts.port = info->port;
  ex_log("info", "listening on http://%s:%d/ (pid %ld)", svc->opts.host, svc->opts.port,
         (long)getpid());

  int sig = 0;
  while (sigwait(&stop, &sig) != 0) {
  }
  ex_log("info", "received signal %d: stopping", sig);
  /* MHD_stop_daemon waits for running handlers, so every span they start
   * has ended before the tracer flushes. */
  MHD_stop_daemon(d);
  exit_code = 0;
out_fini:
  if (def->fini) def->fini(svc);
out_pool:
  if (def->downstreams) ex_pool_stop(svc);
out_tracer:;
  cst_stats st;
  memset(&st, 0, sizeof st);
  if (svc->tracer) cst_tracer_stats(svc->tracer, &st);
  cst_tracer_free(svc->tracer);
  ex_log("info", "exit: %llu spans started, %llu exported before the final flush, %llu dropped",
         (unsigned long long)st.spans_started, (unsigned long long)st.spans_exported,
         (unsigned long long)(st.dropped_queue_full + st.dropped_too_large + st.dropped_threads +
                              st.dropped_export));
  free(svc);
  return exit_code;
}
