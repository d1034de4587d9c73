/* A program built outside the tree against the installed library: one
 * span, one counter, one propagation round trip. Prints "tiny ok". */
#include <callscope/trace.h>
#include <stdio.h>
#include <string.h>

static char tp[64];
static const char *get(void *u, const char *k, size_t *n) {
  if (strcmp(k, "traceparent") != 0 || !tp[0])
    return NULL;
  *n = strlen(tp);
  return tp;
}
static int set(void *u, const char *k, const char *v) {
  if (strcmp(k, "traceparent") == 0)
    snprintf(tp, sizeof tp, "%s", v);
  return 0;
}

int main(void) {
  cst_config cfg;
  cst_config_defaults(&cfg);
  cfg.endpoint = "udp://127.0.0.1:9";
  cfg.service_name = "tiny";
  cst_tracer *t;
  int rc = cst_tracer_new(&cfg, &t);
  if (rc != CST_OK) {
    printf("tracer: %s\n", cst_strerror(rc));
    return 1;
  }
  cst_span *s = cst_span_start(t, "tiny", CST_KIND_SERVER, NULL);
  cst_span_set_str(s, "k", "v");
  cst_carrier c = {get, set, NULL};
  cst_inject(cst_span_context(s), &c, CST_PROP_TRACECONTEXT);
  cst_context *x = cst_extract(&c, CST_PROP_TRACECONTEXT);
  int same = cst_context_is_valid(x);
  cst_context_free(x);
  cst_span_end(s);
  cst_counter *n = cst_counter_new(t, "tiny.count", "1", NULL, NULL, 0);
  cst_counter_add(n, 1);
  cst_tracer_free(t);
  printf(same ? "tiny ok\n" : "tiny propagation failed\n");
  return same ? 0 : 1;
}
