/* cs-frontend: the edge service the load generator (or curl) talks to. It
 * sets the session ID of each request from the X-Session-Id header or the
 * ?session= parameter, once; libtrace then carries it to every span
 * downstream. Product pages call inventory with B3 headers (to show that
 * format works hop by hop); checkouts call orders with W3C traceparent. */
#include <stdio.h>
#include <string.h>

#include "exlib.h"

typedef struct frontend {
  cst_counter *checkouts_ok, *checkouts_failed;
} frontend;

/* The one call that makes "find everything user X did" work. */
static void edge_session(ex_req *req) {
  const char *s = ex_req_header(req, "X-Session-Id");
  if (!s || !*s) s = ex_req_arg(req, "session");
  if (!s || !*s) return;
  int rc = cst_span_set_session(ex_req_span(req), s);
  if (rc != CST_OK) ex_log("warn", "session ID not set: %s", cst_strerror(rc));
}

static int valid_item(const char *item) {
  size_t n = item ? strlen(item) : 0;
  return n > 0 && n <= 64 &&
         strspn(item, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == n;
}

static int product(ex_svc *svc, ex_req *req) {
  edge_session(req);
  const char *item = ex_req_arg(req, "item");
  if (!valid_item(item)) {
    ex_reply(req, "{\"error\":\"want item=<sku>\"}");
    return 400;
  }
  const ex_opts *o = ex_svc_opts(svc);
  char path[128];
  snprintf(path, sizeof path, "/stock/%s", item);
  /* B3 single header plus baggage: B3 has no baggage of its own. */
  ex_call c = {.method = "GET", .base_url = o->inventory_url, .path = path,
               .route = "/stock/{item}", .peer_service = "inventory",
               .formats = CST_PROP_B3 | CST_PROP_BAGGAGE, .timeout_ms = o->timeout_ms,
               .max_attempts = 1 + o->retries, .idempotent = 1};
  ex_result r;
  if (ex_http_call(svc, &c, NULL, &r) || r.status >= 400) {
    ex_reply(req, "{\"error\":\"inventory unavailable\"}");
    return r.timed_out ? 504 : 502;
  }
  ex_reply(req, "{\"item\":\"%s\",\"stock\":%s}", item, r.body);
  return 200;
}

static int checkout(ex_svc *svc, ex_req *req) {
  edge_session(req);
  frontend *fe = ex_svc_user(svc);
  const char *item = ex_req_arg(req, "item");
  if (!valid_item(item)) {
    ex_reply(req, "{\"error\":\"want item=<sku>\"}");
    return 400;
  }
  const ex_opts *o = ex_svc_opts(svc);
  char path[160];
  snprintf(path, sizeof path, "/orders?item=%s&qty=1", item);
  /* Not idempotent: no retry. Orders itself waits timeout_ms per call, so
   * give it room for its parallel step and the reservation. */
  ex_call c = {.method = "POST", .base_url = o->orders_url, .path = path, .route = "/orders",
               .peer_service = "orders", .timeout_ms = 3 * o->timeout_ms + 500,
               .max_attempts = 1};
  ex_result r;
  int rc = ex_http_call(svc, &c, NULL, &r);
  if (rc || r.status >= 500) {
    cst_counter_add(fe->checkouts_failed, 1);
    ex_reply(req, "{\"error\":\"checkout failed\"}");
    return rc && r.timed_out ? 504 : 502;
  }
  if (r.status >= 400) {
    cst_counter_add(fe->checkouts_failed, 1);
    ex_reply(req, "%s", r.body);
    return r.status;
  }
  cst_counter_add(fe->checkouts_ok, 1);
  ex_reply(req, "%s", r.body);
  return 200;
}

static int health(ex_svc *svc, ex_req *req) {
  (void)svc;
  ex_reply(req, "{\"status\":\"ok\"}");
  return 200;
}

static frontend g_fe;

static int init(ex_svc *svc) {
  cst_label ok[] = {{"result", "ok"}}, failed[] = {{"result", "failed"}};
  g_fe.checkouts_ok = cst_counter_new(ex_svc_tracer(svc), "shop.checkouts", "{checkout}",
                                      "checkouts by result", ok, 1);
  g_fe.checkouts_failed = cst_counter_new(ex_svc_tracer(svc), "shop.checkouts", "{checkout}",
                                          "checkouts by result", failed, 1);
  ex_svc_set_user(svc, &g_fe);
  return 0;
}

static const ex_route routes[] = {
    {"GET", "/product", "/product", product},
    {"POST", "/checkout", "/checkout", checkout},
    {"GET", "/health", "/health", health},
};

int main(int argc, char **argv) {
  static const ex_svc_def def = {
      .name = "frontend",
      .summary = "Example edge service: GET /product?item=, POST /checkout?item=; the session "
                 "ID comes from the X-Session-Id header or ?session=.",
      .default_port = 8080,
      .downstreams = EX_DS_ORDERS | EX_DS_INVENTORY,
      .routes = routes,
      .n_routes = sizeof routes / sizeof routes[0],
      .init = init,
  };
  return ex_svc_main(&def, argc, argv);
}
