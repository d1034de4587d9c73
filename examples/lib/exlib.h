/* The example services' shared plumbing: an instrumented HTTP server
 * (libmicrohttpd, one SERVER span per request), an instrumented HTTP client
 * on plain sockets (one CLIENT span per attempt, timeouts, retries), fault
 * injection, a small worker pool for fan-out and one-line logging. Each
 * service file is then only its routes and business logic. */
#ifndef CS_EXAMPLES_EXLIB_H
#define CS_EXAMPLES_EXLIB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <callscope/trace.h>

/* ---- logging: "2026-11-26T10:00:00.123Z info orders: message" on stderr */
void ex_log_init(const char *service);
void ex_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- random numbers (per-thread, seeded once from the OS) */
uint64_t ex_rand(void);
double ex_rand01(void);
void ex_sleep_ms(uint32_t ms);
double ex_now_ms(void); /* monotonic */

/* ---- options shared by every service (see ex_usage for the text) */
enum { EX_DS_ORDERS = 1, EX_DS_INVENTORY = 2, EX_DS_PAYMENTS = 4 };

typedef struct ex_opts {
  const char *service;      /* service.name; --service-name */
  const char *host;         /* listen address, default 127.0.0.1 */
  int port;                 /* 0 = any free port */
  const char *endpoint;     /* collector; default CALLSCOPE_ENDPOINT, then libtrace's */
  uint32_t threads;         /* HTTP worker threads */
  double error_rate;        /* probability a request fails (503) */
  uint32_t fail_every;      /* every Nth request fails (deterministic; 0 = off) */
  uint32_t latency_ms;      /* base work time per request */
  uint32_t jitter_ms;       /* plus uniform 0..jitter_ms */
  double slow_rate;         /* probability of a slow request */
  uint32_t slow_every;      /* every Nth request is slow (deterministic; 0 = off) */
  uint32_t slow_ms;         /* extra time of a slow request */
  uint32_t timeout_ms;      /* per-attempt timeout of downstream calls */
  uint32_t retries;         /* extra attempts for idempotent downstream calls */
  const char *orders_url, *inventory_url, *payments_url;
} ex_opts;

/* ---- the instrumented HTTP server */
typedef struct ex_svc ex_svc;
typedef struct ex_req ex_req;

/* A handler returns the HTTP status and writes the body with ex_reply. It
 * runs with the request's SERVER span as the thread's current span. */
typedef int (*ex_handler)(ex_svc *svc, ex_req *req);

typedef struct ex_route {
  const char *method;
  const char *path;  /* exact path, or a prefix when it ends in '/' */
  const char *route; /* http.route template, e.g. "/stock/{item}" */
  ex_handler fn;
} ex_route;

typedef struct ex_svc_def {
  const char *name;        /* default service.name and log component */
  const char *summary;     /* one line for --help */
  int default_port;
  unsigned downstreams;    /* EX_DS_* options this service accepts */
  const ex_route *routes;
  size_t n_routes;
  /* Called once after the tracer exists and before the server starts
   * (create metric handles here); may be NULL. Non-zero aborts start-up. */
  int (*init)(ex_svc *svc);
  void (*fini)(ex_svc *svc);
} ex_svc_def;

/* Parses argv, creates the tracer, serves until SIGTERM/SIGINT, shuts down
 * cleanly (in-flight requests finish, spans are flushed). Returns the exit
 * status for main. */
int ex_svc_main(const ex_svc_def *def, int argc, char **argv);

const ex_opts *ex_svc_opts(const ex_svc *svc);
cst_tracer *ex_svc_tracer(const ex_svc *svc);
void *ex_svc_user(const ex_svc *svc);
void ex_svc_set_user(ex_svc *svc, void *user);

/* Request accessors; returned strings live until the handler returns. */
const char *ex_req_method(const ex_req *req);
const char *ex_req_path(const ex_req *req);
const char *ex_req_tail(const ex_req *req); /* path after a prefix route */
const char *ex_req_arg(const ex_req *req, const char *key);    /* query parameter */
const char *ex_req_header(const ex_req *req, const char *name); /* case-insensitive */
cst_span *ex_req_span(const ex_req *req);                       /* the SERVER span */
/* Appends to the response body (capped at 4 KiB; the excess is cut). */
void ex_reply(ex_req *req, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Simulated work of this service: sleeps the configured latency (longer
 * when the request is picked as slow) and decides whether the request
 * fails. Returns 0, or -1 when the request must fail. Adds events to the
 * current span for slow and failed work. */
int ex_work(ex_svc *svc);

/* ---- the instrumented HTTP client */
typedef struct ex_call {
  const char *method;
  const char *base_url;     /* "http://host:port" */
  const char *path;         /* path and query, e.g. "/stock/sku-1?qty=2" */
  const char *route;        /* span name suffix, e.g. "/stock/{item}" */
  const char *peer_service; /* peer.service attribute */
  unsigned formats;         /* CST_PROP_* to inject; 0 = the tracer's */
  uint32_t timeout_ms;      /* per attempt; 0 = 1000 */
  uint32_t max_attempts;    /* 1 = no retry; only idempotent calls retry */
  int idempotent;
} ex_call;

typedef struct ex_result {
  int status;       /* HTTP status of the last attempt; 0 = no response */
  uint32_t attempts;
  int timed_out;    /* the last attempt timed out */
  char error[128];  /* transport error of the last attempt, "" when none */
  char body[2048];  /* response body, cut to fit, NUL-terminated */
  size_t body_len;
  /* The response's W3C traceresponse header (version-traceid-spanid-flags,
   * 55 characters) when present and well formed, else "". */
  char traceresponse[56];
} ex_result;

/* Makes the call, one CLIENT span per attempt (child of parent, or of the
 * thread's current span when parent is NULL), injecting the context into
 * the request headers. Retries idempotent calls on no response or 502/503/
 * 504 with jittered exponential backoff. Returns 0 when a 2xx/4xx response
 * arrived, -1 otherwise (out tells why). Thread-safety: any thread. */
int ex_http_call(ex_svc *svc, const ex_call *c, const cst_context *parent, ex_result *out);

/* Raw request without tracing (the load generator's). extra_headers is
 * "Name: value\r\n" lines or NULL. Returns 0 when a response arrived. */
int ex_http_raw(const char *base_url, const char *method, const char *path,
                const char *extra_headers, uint32_t timeout_ms, ex_result *out);

/* ---- a fixed worker pool for fan-out (no thread per request) */
typedef struct ex_task {
  void (*fn)(void *arg);
  void *arg;
  /* private */
  int done;
  struct ex_task *next;
} ex_task;

/* Runs task on a pool thread (or inline when the pool is busy or absent).
 * ex_wait blocks until it finished. The task struct must outlive ex_wait. */
void ex_go(ex_svc *svc, ex_task *task);
void ex_wait(ex_svc *svc, ex_task *task);

#endif
