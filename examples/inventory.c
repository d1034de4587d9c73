/* cs-inventory: the stock service. GET /stock/{item} is read-only (so
 * callers may retry it); POST /reserve/{item} reserves units. Each request
 * does its "database" work in an INTERNAL child span. */
#include <stdio.h>
#include <string.h>

#include "exlib.h"

/* Simulated query: a child span of the request with database attributes. */
static int db_query(ex_svc *svc, const char *name, const char *statement, const char *item) {
  cst_span *db = cst_span_start(ex_svc_tracer(svc), name, CST_KIND_INTERNAL, NULL);
  cst_span_set_str(db, "db.system", "sqlite");
  cst_span_set_str(db, "db.statement", statement);
  cst_span_set_str(db, "inventory.item", item);
  CST_SCOPED(db);
  int rc = ex_work(svc);
  if (rc) cst_span_set_status(db, CST_STATUS_ERROR, "database unavailable");
  cst_span_end(db);
  return rc;
}

/* A stock level that looks real and stays stable per item. */
static unsigned stock_of(const char *item) {
  unsigned h = 2166136261u;
  for (const char *p = item; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
  return h % 40;
}

static int valid_item(const char *item) {
  size_t n = strlen(item);
  if (n == 0 || n > 64) return 0;
  return strspn(item, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == n;
}

static int get_stock(ex_svc *svc, ex_req *req) {
  const char *item = ex_req_tail(req);
  if (!valid_item(item)) {
    ex_reply(req, "{\"error\":\"bad item\"}");
    return 400;
  }
  cst_span_set_str(ex_req_span(req), "inventory.item", item);
  if (db_query(svc, "SELECT inventory.stock", "SELECT qty FROM stock WHERE item = ?", item)) {
    ex_reply(req, "{\"error\":\"stock lookup failed\"}");
    return 503;
  }
  ex_reply(req, "{\"item\":\"%s\",\"available\":%u}", item, stock_of(item));
  return 200;
}

static int reserve(ex_svc *svc, ex_req *req) {
  const char *item = ex_req_tail(req);
  if (!valid_item(item)) {
    ex_reply(req, "{\"error\":\"bad item\"}");
    return 400;
  }
  cst_span_set_str(ex_req_span(req), "inventory.item", item);
  if (db_query(svc, "UPDATE inventory.stock", "UPDATE stock SET qty = qty - ? WHERE item = ?", item)) {
    ex_reply(req, "{\"error\":\"reservation failed\"}");
    return 503;
  }
  ex_reply(req, "{\"item\":\"%s\",\"reserved\":1}", item);
  return 200;
}

static const ex_route routes[] = {
    {"GET", "/stock/", "/stock/{item}", get_stock},
    {"POST", "/reserve/", "/reserve/{item}", reserve},
};

int main(int argc, char **argv) {
  static const ex_svc_def def = {
      .name = "inventory",
      .summary = "Example inventory service: stock levels and reservations, instrumented "
                 "with callscope-trace.",
      .default_port = 8082,
      .routes = routes,
      .n_routes = sizeof routes / sizeof routes[0],
  };
  return ex_svc_main(&def, argc, argv);
}
