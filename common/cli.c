/* Shared command-line plumbing (see cli.h). getopt's own messages are
 * turned off so that every daemon reports a bad flag the same way. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static const struct option common_options[] = {
    {"log-level", required_argument, 0, CS_CLI_LOG_LEVEL},
    {"allow-host", required_argument, 0, CS_CLI_ALLOW_HOST},
    {"help", no_argument, 0, CS_CLI_HELP},
    {0, 0, 0, 0},
};

const char cs_cli_common_usage[] =
    "  --log-level L         debug, info, warn or error (default info)\n"
    "  --allow-host NAME     also answer HTTP requests whose Host header names NAME\n"
    "                        (repeatable; any port; \"*\" = every name, only behind\n"
    "                        a proxy that checks Host). Loopback names and the\n"
    "                        listen address are always accepted; others get 421\n"
    "  --help                this text\n";

cs_hostlist cs_cli_allow_hosts;

static int join(const struct option *const *tables, size_t n, struct option *out, size_t cap) {
  size_t k = 0;
  for (size_t t = 0; t < n; t++)
    for (const struct option *o = tables[t]; o->name; o++) {
      if (k + 1 >= cap)
        return -1;
      out[k++] = *o;
    }
  if (k >= cap)
    return -1;
  memset(&out[k], 0, sizeof out[k]);
  return 0;
}

int cs_cli_fail(const char *prog, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s: %s\ntry '%s --help' for the options\n", prog, msg, prog);
  return 2;
}

static int next(const char *prog, int argc, char *const argv[], const struct option *opts) {
  opterr = 0;
  int opt = getopt_long(argc, argv, ":h", opts, NULL);
  if (opt != '?' && opt != ':')
    return opt;
  /* The word just read is argv[optind - 1]; a short option inside a
   * cluster is only known by optopt. */
  const char *last = optind >= 1 && optind - 1 < argc ? argv[optind - 1] : NULL;
  char name[80];
  if (last && last[0] == '-' && last[1] == '-') {
    size_t n = strcspn(last, "=");
    snprintf(name, sizeof name, "%.*s", (int)(n < 64 ? n : 64), last);
  } else if (optopt > 0 && optopt < 128) {
    snprintf(name, sizeof name, "-%c", optopt);
  } else {
    snprintf(name, sizeof name, "%.64s", last ? last : "?");
  }
  if (opt == ':')
    cs_cli_fail(prog, "option %s needs a value", name);
  else
    cs_cli_fail(prog, "unknown option %s", name);
  return -2;
}

int cs_cli_parse(const char *prog, int argc, char **argv, const struct option *const *groups,
                 size_t n_groups, cs_cli_apply_fn apply, void *ud, void (*usage)(FILE *f)) {
  const struct option *tables[8];
  struct option opts[128];
  if (n_groups + 1 > sizeof tables / sizeof tables[0])
    return 2;
  for (size_t i = 0; i < n_groups; i++)
    tables[i] = groups[i];
  tables[n_groups] = common_options;
  if (join(tables, n_groups + 1, opts, sizeof opts / sizeof opts[0]))
    return cs_cli_fail(prog, "too many options");
  int opt;
  while ((opt = next(prog, argc, argv, opts)) != -1) {
    if (opt == -2)
      return 2;
    if (opt == CS_CLI_HELP || opt == 'h') {
      usage(stdout);
      return 1;
    }
    if (opt == CS_CLI_LOG_LEVEL) {
      int lvl = cs_log_parse_level(optarg);
      if (lvl < 0)
        return cs_cli_fail(prog, "invalid value for --log-level: %s", optarg);
      cs_log_min_level = lvl;
      continue;
    }
    if (opt == CS_CLI_ALLOW_HOST) {
      int hrc = cs_hostlist_add(&cs_cli_allow_hosts, optarg);
      if (hrc == -2)
        return cs_cli_fail(prog, "too many --allow-host names: limit %d", CS_HOSTLIST_MAX);
      if (hrc)
        return cs_cli_fail(prog, "invalid value for --allow-host: %s", optarg);
      continue;
    }
    int rc = apply(ud, prog, opt, optarg);
    if (rc < 0)
      return 2;
    if (rc == 0)
      return cs_cli_fail(prog, "option %s is not handled", argv[optind - 1]);
  }
  if (optind < argc)
    return cs_cli_fail(prog, "unexpected argument: %s", argv[optind]);
  return 0;
}
