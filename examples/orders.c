/* cs-orders: places orders. POST /orders fans out in parallel (stock check
 * on inventory, payment authorisation on payments), then reserves the stock.
 * The parallel calls run on pool threads with the request's context passed
 * explicitly as their parent, since the thread's current span does not
 * cross threads. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exlib.h"

typedef struct call_job {
  ex_svc *svc;
  ex_call call;
  const cst_context *parent;
  char path[256];
  ex_result res;
  int rc;
} call_job;

static void run_call(void *arg) {
  call_job *j = arg;
  j->rc = ex_http_call(j->svc, &j->call, j->parent, &j->res);
}

static int valid_item(const char *item) {
  size_t n = item ? strlen(item) : 0;
  return n > 0 && n <= 64 &&
         strspn(item, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == n;
}

static int place_order(ex_svc *svc, ex_req *req) {
  const ex_opts *o = ex_svc_opts(svc);
  const char *item = ex_req_arg(req, "item");
  const char *qty_s = ex_req_arg(req, "qty");
  long qty = 1;
  if (qty_s) {
    char *end;
    errno = 0;
    qty = strtol(qty_s, &end, 10);
    if (errno || *end || qty < 1 || qty > 100) qty = 0;
  }
  if (!valid_item(item) || qty == 0) {
    ex_reply(req, "{\"error\":\"want item=<sku> and qty=1..100\"}");
    return 400;
  }
  cst_span *srv = ex_req_span(req);
  cst_span_set_str(srv, "order.item", item);
  cst_span_set_int(srv, "order.qty", qty);
  /* Owned copy: the pool threads read it while this thread keeps working. */
  cst_context *ctx = cst_context_copy(cst_span_context(srv));

  call_job stock = {.svc = svc, .parent = ctx};
  snprintf(stock.path, sizeof stock.path, "/stock/%s", item);
  stock.call = (ex_call){.method = "GET", .base_url = o->inventory_url, .path = stock.path,
                         .route = "/stock/{item}", .peer_service = "inventory",
                         .timeout_ms = o->timeout_ms, .max_attempts = 1 + o->retries,
                         .idempotent = 1};
  call_job pay = {.svc = svc, .parent = ctx};
  snprintf(pay.path, sizeof pay.path, "/authorize?amount=%ld", qty * 1999);
  pay.call = (ex_call){.method = "POST", .base_url = o->payments_url, .path = pay.path,
                       .route = "/authorize", .peer_service = "payments",
                       .timeout_ms = o->timeout_ms, .max_attempts = 1};
  ex_task t1 = {.fn = run_call, .arg = &stock}, t2 = {.fn = run_call, .arg = &pay};
  ex_go(svc, &t1);
  ex_go(svc, &t2);
  ex_wait(svc, &t1);
  ex_wait(svc, &t2);
  cst_context_free(ctx);

  if (stock.rc || pay.rc) {
    int st = pay.res.timed_out || stock.res.timed_out ? 504 : 502;
    ex_reply(req, "{\"error\":\"%s\"}", stock.rc ? "stock check failed" : "payment failed");
    return st;
  }
  if (stock.res.status >= 400 || pay.res.status >= 400) {
    ex_reply(req, "{\"error\":\"rejected by %s\"}", stock.res.status >= 400 ? "inventory" : "payments");
    return 422;
  }
  if (strstr(stock.res.body, "\"available\":0,") || strstr(stock.res.body, "\"available\":0}")) {
    cst_span_add_event(srv, "out of stock", NULL, 0);
    ex_reply(req, "{\"error\":\"out of stock\"}");
    return 409;
  }

  /* Sequential step: reserve after both answers arrived (not idempotent). */
  char path[256];
  snprintf(path, sizeof path, "/reserve/%s", item);
  ex_call rc = {.method = "POST", .base_url = o->inventory_url, .path = path,
                .route = "/reserve/{item}", .peer_service = "inventory",
                .timeout_ms = o->timeout_ms, .max_attempts = 1};
  ex_result res;
  if (ex_http_call(svc, &rc, NULL, &res) || res.status >= 400) {
    ex_reply(req, "{\"error\":\"reservation failed\"}");
    return res.timed_out ? 504 : 502;
  }
  char id[17];
  snprintf(id, sizeof id, "%016llx", (unsigned long long)ex_rand());
  cst_span_set_str(srv, "order.id", id);
  ex_reply(req, "{\"order\":\"%s\",\"item\":\"%s\",\"qty\":%ld}", id, item, qty);
  return 201;
}

static const ex_route routes[] = {
    {"POST", "/orders", "/orders", place_order},
};

int main(int argc, char **argv) {
  static const ex_svc_def def = {
      .name = "orders",
      .summary = "Example orders service: checks stock and authorises payment in parallel, "
                 "then reserves; instrumented with callscope-trace.",
      .default_port = 8081,
      .downstreams = EX_DS_INVENTORY | EX_DS_PAYMENTS,
      .routes = routes,
      .n_routes = sizeof routes / sizeof routes[0],
  };
  return ex_svc_main(&def, argc, argv);
}
