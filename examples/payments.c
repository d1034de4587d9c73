/* cs-payments: authorises card payments. POST /authorize is not idempotent,
 * so callers do not retry it; it is the service that is sometimes slow
 * (callers time out) and sometimes declines with an error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exlib.h"

static int authorize(ex_svc *svc, ex_req *req) {
  const char *amount = ex_req_arg(req, "amount");
  char *end = NULL;
  errno = 0;
  long cents = amount ? strtol(amount, &end, 10) : -1;
  if (!amount || errno || *end || cents <= 0 || cents > 100000000) {
    ex_reply(req, "{\"error\":\"bad amount\"}");
    return 400;
  }
  cst_span *srv = ex_req_span(req);
  cst_span_set_int(srv, "payment.amount_cents", cents);
  cst_span_set_str(srv, "payment.currency", "EUR");

  /* The fraud check is its own step of the request: an INTERNAL span. */
  cst_span *fraud = cst_span_start(ex_svc_tracer(svc), "fraud check", CST_KIND_INTERNAL, NULL);
  int score = (int)(ex_rand() % 100);
  cst_span_set_int(fraud, "fraud.score", score);
  cst_span_end(fraud);

  if (ex_work(svc)) {
    cst_attr a[] = {CST_STR("payment.decline_reason", "processor unavailable")};
    cst_span_add_event(srv, "payment declined", a, 1);
    ex_reply(req, "{\"error\":\"payment processor unavailable\"}");
    return 503;
  }
  char id[17];
  snprintf(id, sizeof id, "%016llx", (unsigned long long)ex_rand());
  cst_span_set_str(srv, "payment.id", id);
  cst_span_add_event(srv, "payment authorized", NULL, 0);
  ex_reply(req, "{\"payment\":\"%s\",\"amount_cents\":%ld}", id, cents);
  return 200;
}

static const ex_route routes[] = {
    {"POST", "/authorize", "/authorize", authorize},
};

int main(int argc, char **argv) {
  static const ex_svc_def def = {
      .name = "payments",
      .summary = "Example payments service: authorises payments, instrumented with "
                 "callscope-trace.",
      .default_port = 8083,
      .routes = routes,
      .n_routes = sizeof routes / sizeof routes[0],
  };
  return ex_svc_main(&def, argc, argv);
}
