/* Validates rendered output with outside parsers: `promtool check metrics`
 * (Debian package prometheus) for text 0.0.4, and the strict OpenMetrics
 * parser of python3-prometheus-client for OpenMetrics text. Exits 77
 * (skipped) when promtool is missing. `--dump` prints the text output. */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "sample_registry.h"

static int have(const char *cmd) {
  char q[256];
  snprintf(q, sizeof q, "command -v %s >/dev/null 2>&1", cmd);
  return system(q) == 0;
}

static int exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

static char *render(cs_metrics *reg, int om, size_t *len) {
  char *buf = NULL;
  CHECK_EQ(cs_metrics_render(reg, om, &buf, len), 0);
  return buf;
}

static int write_temp(const char *text, size_t len, char *path, size_t cap) {
  snprintf(path, cap, "/tmp/cs_metrics_XXXXXX");
  int fd = mkstemp(path);
  if (fd < 0) return -1;
  ssize_t w = write(fd, text, len);
  close(fd);
  return w == (ssize_t)len ? 0 : -1;
}

/* promtool exits 1 for a parse error, 3 for lint problems only. */
static int promtool(const char *text, size_t len) {
  char path[64], cmd[256];
  if (write_temp(text, len, path, sizeof path)) return -1;
  snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
  int rc = exit_code(system(cmd));
  unlink(path);
  return rc;
}

static void promtool_accepts_text_output_without_lint_problems(void) {
  cs_metrics *reg = cs_metrics_new(NULL);
  sample_fill(reg);
  size_t len;
  char *out = render(reg, 0, &len);
  CHECK_EQ(promtool(out, len), 0);
  free(out);
  cs_metrics_free(reg);
}

/* User metrics may break naming conventions (promtool lints them) but the
 * output must still parse. */
static void promtool_parses_output_with_user_chosen_names(void) {
  cs_metrics *reg = cs_metrics_new(NULL);
  ot b = {0};
  ot_req *r = ot_request(&b, "svc", "i", NULL);
  ot_metric *m = ot_metric_add(&b, r, "myApp.requestLatency", "ms", "");
  ot_make_histogram(&b, m, OT_CUMULATIVE);
  const double bounds[] = {1, 10};
  const uint64_t counts[] = {1, 2, 3};
  ot_hpoint(&b, m, bounds, 2, counts, 50, 1, 1, ot_kv_str(&b, "le", "\xff"));
  ot_metric *g = ot_metric_add(&b, r, "123", "", "");
  ot_make_gauge(&b, g);
  ot_point(&b, g, 1.0 / 3, 1, 1, ot_kv_str(&b, "9", "nine"));
  CHECK_EQ(cs_metrics_ingest_otlp(reg, r), 0);
  size_t len;
  char *out = render(reg, 0, &len);
  int rc = promtool(out, len);
  CHECK(rc == 0 || rc == 3);
  free(out);
  ot_free(&b);
  cs_metrics_free(reg);
}

static const char *om_check_py =
    "import sys\n"
    "from prometheus_client.openmetrics.parser import text_string_to_metric_families as f\n"
    "n = sum(len(m.samples) for m in f(open(sys.argv[1], encoding='utf-8').read()))\n"
    "assert n > 0\n";

static void openmetrics_output_parses_strictly(void) {
  if (system("/usr/bin/python3 -c 'import prometheus_client' >/dev/null 2>&1") != 0) {
    fprintf(stderr, "skip: python3-prometheus-client missing, OpenMetrics parse not checked\n");
    return;
  }
  cs_metrics *reg = cs_metrics_new(NULL);
  sample_fill(reg);
  size_t len;
  char *out = render(reg, 1, &len);
  char data[64], script[64], cmd[256];
  CHECK_EQ(write_temp(out, len, data, sizeof data), 0);
  CHECK_EQ(write_temp(om_check_py, strlen(om_check_py), script, sizeof script), 0);
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s", script, data);
  CHECK_EQ(exit_code(system(cmd)), 0);
  /* The parser must be able to fail: a truncated document has no # EOF. */
  unlink(data);
  CHECK_EQ(write_temp(out, len - 6, data, sizeof data), 0);
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s 2>/dev/null", script, data);
  CHECK(exit_code(system(cmd)) != 0);
  unlink(data);
  unlink(script);
  free(out);
  cs_metrics_free(reg);
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "--dump")) {
    cs_metrics *reg = cs_metrics_new(NULL);
    sample_fill(reg);
    size_t len;
    char *out = render(reg, argc > 2, &len);
    fwrite(out, 1, len, stdout);
    free(out);
    cs_metrics_free(reg);
    return 0;
  }
  if (!have("promtool")) {
    fprintf(stderr, "skip: promtool not found (Debian package prometheus); output not validated\n");
    return 77;
  }
  RUN(promtool_accepts_text_output_without_lint_problems);
  RUN(promtool_parses_output_with_user_chosen_names);
  RUN(openmetrics_output_parses_strictly);
  return CHECK_DONE();
}
