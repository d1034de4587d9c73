/* The query server object: options, the route table and the dispatch of
 * each request to its handler with a deadline, an arena and a JSON writer;
 * one log line per finished request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "query_int.h"
#include "wire.h"

typedef struct route {
  const char *prefix, *suffix; /* a '*' between them captures one non-empty part */
  int capture;
  int jaeger;
  const char *name;
  void (*fn)(qreq *x);
} route;

/* Most specific first: the first match wins. */
static const route routes[] = {
    {"/api/services", "", 0, 1, "jaeger_services", h_jaeger_services},
    {"/api/services/", "/operations", 1, 1, "jaeger_service_operations", h_jaeger_operations_path},
    {"/api/operations", "", 0, 1, "jaeger_operations", h_jaeger_operations},
    {"/api/traces", "", 0, 1, "jaeger_traces", h_jaeger_traces},
    {"/api/traces/", "", 1, 1, "jaeger_trace", h_jaeger_trace},
    {"/api/dependencies", "", 0, 1, "jaeger_dependencies", h_jaeger_dependencies},
    {"/api/v1/search", "", 0, 0, "v1_search", h_v1_search},
    {"/api/v1/services", "", 0, 0, "v1_services", h_v1_services},
    {"/api/v1/sessions/", "", 1, 0, "v1_session", h_v1_session},
    {"/api/v1/traces/", "/tree", 1, 0, "v1_tree", h_v1_tree},
    {"/api/v1/traces/", "", 1, 0, "v1_trace", h_v1_trace},
    {"/api/v1/stats", "", 0, 0, "v1_stats", h_v1_stats},
    {"/api/v1/dependencies", "", 0, 0, "v1_dependencies", h_v1_dependencies},
    {"/metrics", "", 0, 0, "metrics", h_metrics},
};

static int match(const route *rt, const char *path, size_t plen, cs_str *cap) {
  size_t pl = strlen(rt->prefix), sl = strlen(rt->suffix);
  if (!rt->capture) return plen == pl && memcmp(path, rt->prefix, pl) == 0;
  if (plen <= pl + sl || memcmp(path, rt->prefix, pl) != 0 ||
      memcmp(path + plen - sl, rt->suffix, sl) != 0)
    return 0;
  cap->p = path + pl;
  cap->n = (uint32_t)(plen - pl - sl);
  /* A capture is one path segment, except that a service name may hold '/'
   * (it comes percent-encoded and MHD decodes it). */
  if (rt->fn != h_jaeger_operations_path && memchr(cap->p, '/', cap->n)) return 0;
  return 1;
}

static int is_jaeger_path(const char *p) {
  if (strncmp(p, "/api", 4) != 0 || (p[4] != '/' && p[4] != '\0')) return 0;
  return !(strncmp(p + 4, "/v1", 3) == 0 && (p[7] == '/' || p[7] == '\0'));
}

static void dispatch(void *ud, cs_http_req *r) {
  cs_query *q = ud;
  qreq x;
  memset(&x, 0, sizeof x);
  x.q = q;
  x.r = r;
  x.a = r->arena;
  x.deadline_ns = r->start_ns + q->o.limits.timeout_us * 1000ull;
  cs_json_init(&x.j, q->o.limits.max_response_mb << 20);
  /* Errors take the shape of the API the path belongs to, whatever the
   * route: Jaeger's envelope under /api/ (except /api/v1/), else
   * {"error":{code,message}}. */
  x.jaeger = is_jaeger_path(r->path);
  if (r->refused) {
    q_error(&x, r->refused, "%s", r->refused_msg ? r->refused_msg : "refused");
    cs_json_release(&x.j);
    return;
  }
  size_t plen = strlen(r->path);
  /* A trailing slash names the same resource (Jaeger UI sends some). */
  if (plen > 1 && r->path[plen - 1] == '/') plen--;
  const route *hit = NULL;
  for (size_t i = 0; i < sizeof routes / sizeof routes[0] && !hit; i++)
    if (match(&routes[i], r->path, plen, &x.cap)) hit = &routes[i];
  if (hit) {
    /* Captures need a NUL for messages; copy into the arena. */
    if (x.cap.n) {
      char *c = cs_arena_strndup(x.a, x.cap.p, x.cap.n);
      if (!c) {
        q_error(&x, 500, "out of memory");
        cs_json_release(&x.j);
        return;
      }
      x.cap.p = c;
    }
    x.jaeger = hit->jaeger;
    r->route = hit->name;
    hit->fn(&x);
  } else if (strncmp(r->path, "/api/", 5) == 0 || strcmp(r->path, "/api") == 0) {
    r->route = "unknown_api";
    q_error(&x, 404, "unknown route: %.200s", r->path);
  } else {
    r->route = "static";
    h_static(&x);
  }
  q_heavy_leave(&x);
  cs_json_release(&x.j);
}

static void on_done(void *ud, const cs_http_req *r, double ms) {
  cs_query *q = ud;
  cs_log(CS_LOG_INFO, "query", "%s %.300s %d %.2f ms", r->method ? r->method : "-",
         r->path ? r->path : "-", r->status, ms);
  if (q->observer) q->observer(q->observer_ud, r->route, r->status, ms);
}

void h_metrics(qreq *x) {
  if (!x->q->metrics) {
    q_error(x, 404, "metrics are not available in this process");
    return;
  }
  char *body = NULL;
  size_t len = 0;
  const char *ct = NULL;
  if (x->q->metrics(x->q->metrics_ud, cs_http_header(x->r, "Accept"), &body, &len, &ct) || !body) {
    free(body);
    q_error(x, 500, "cannot render metrics");
    return;
  }
  x->r->body = body;
  x->r->body_len = len;
  x->r->content_type = ct ? ct : "text/plain; version=0.0.4; charset=utf-8";
  x->r->status = 200;
}

void cs_query_opts_default(cs_query_opts *o) {
  memset(o, 0, sizeof *o);
  o->listen_addr = "127.0.0.1";
  o->port = CS_PORT_QUERY;
  o->threads = 4;
  o->max_conns = 128;
  o->max_conns_per_addr = 64;
  o->head_timeout_ns = 10000000000ull;
  o->max_url = 16384;
  o->max_params = 256;
  o->max_headers = 100;
  o->max_head = CS_HTTP_HEAD_CAP;
  o->limits.default_limit = 20;
  o->limits.max_limit = 1000;
  o->limits.max_spans = 50000;
  o->limits.max_range_ns = 7ull * 86400 * 1000000000ull;
  o->limits.max_scan = 200000;
  o->limits.timeout_us = 5000000;
  o->limits.max_heavy = 2;
  o->limits.arena_mb = 256;
  o->limits.max_response_mb = 64;
}

static char *dup_or_null(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s);
  char *d = malloc(n + 1);
  if (d) memcpy(d, s, n + 1);
  return d;
}

int cs_query_new(const cs_query_opts *opts, cs_store *st, cs_query **out, char *err,
                 size_t errlen) {
  cs_query *q = calloc(1, sizeof *q);
  if (!q) goto oom;
  q->o = *opts;
  q->st = st;
  atomic_init(&q->heavy, 0);
  q->addr = dup_or_null(opts->listen_addr ? opts->listen_addr : "127.0.0.1");
  if (!q->addr) goto oom;
  if (opts->ui_dir && !(q->ui_dir = dup_or_null(opts->ui_dir))) goto oom;
  if (opts->n_index_keys) {
    q->index_keys = calloc(opts->n_index_keys, sizeof(char *));
    if (!q->index_keys) goto oom;
    for (size_t i = 0; i < opts->n_index_keys; i++)
      if (!(q->index_keys[i] = dup_or_null(opts->index_keys[i]))) goto oom;
  }
  q->o.listen_addr = q->addr;
  q->o.ui_dir = q->ui_dir;
  q->o.index_keys = (const char *const *)q->index_keys;
  cs_query_limits d;
  {
    cs_query_opts def;
    cs_query_opts_default(&def);
    d = def.limits;
  }
  /* Zero limits mean "default", so callers may fill only what they change. */
  cs_query_limits *l = &q->o.limits;
  if (!l->default_limit) l->default_limit = d.default_limit;
  if (!l->max_limit) l->max_limit = d.max_limit;
  if (l->default_limit > l->max_limit) l->default_limit = l->max_limit;
  if (!l->max_spans) l->max_spans = d.max_spans;
  if (!l->max_range_ns) l->max_range_ns = d.max_range_ns;
  if (!l->max_scan) l->max_scan = d.max_scan;
  if (!l->timeout_us) l->timeout_us = d.timeout_us;
  if (!l->max_heavy) l->max_heavy = d.max_heavy;
  if (!l->arena_mb) l->arena_mb = d.arena_mb;
  if (!l->max_response_mb) l->max_response_mb = d.max_response_mb;
  q->deps_ok = cs_agg_init(&q->deps, 0) == 0;
  *out = q;
  return 0;
oom:
  snprintf(err, errlen, "out of memory");
  cs_query_free(q);
  return -1;
}

void cs_query_set_metrics(cs_query *q, cs_query_metrics_fn fn, void *ud) {
  q->metrics = fn;
  q->metrics_ud = ud;
}

void cs_query_set_observer(cs_query *q, cs_query_observer_fn fn, void *ud) {
  q->observer = fn;
  q->observer_ud = ud;
}

int cs_query_start(cs_query *q, char *err, size_t errlen) {
  cs_http_opts ho;
  memset(&ho, 0, sizeof ho);
  ho.addr = q->addr;
  ho.port = q->o.port;
  ho.threads = q->o.threads;
  ho.max_conns = q->o.max_conns;
  ho.max_per_addr = q->o.max_conns_per_addr;
  ho.head_ns = q->o.head_timeout_ns;
  ho.max_url = q->o.max_url;
  ho.max_params = q->o.max_params;
  ho.max_headers = q->o.max_headers;
  ho.max_head = q->o.max_head;
  ho.allow_hosts = q->o.allow_hosts;
  ho.arena_cap = q->o.limits.arena_mb << 20;
  ho.handler = dispatch;
  ho.done = on_done;
  ho.ud = q;
  return cs_http_start(&ho, &q->http, err, errlen);
}

void cs_query_get_conn_stats(cs_query *q, cs_cg_stats *out) {
  if (q->http)
    cs_http_get_stats(q->http, out);
  else
    memset(out, 0, sizeof *out);
}

uint16_t cs_query_port(const cs_query *q) { return q->http ? cs_http_port(q->http) : 0; }

void cs_query_free(cs_query *q) {
  if (!q) return;
  cs_http_stop(q->http);
  if (q->deps_ok) cs_agg_release(&q->deps);
  if (q->index_keys)
    for (size_t i = 0; i < q->o.n_index_keys; i++) free(q->index_keys[i]);
  free(q->index_keys);
  free(q->addr);
  free(q->ui_dir);
  free(q);
}
