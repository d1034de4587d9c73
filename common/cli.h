/* Command-line plumbing shared by the daemons (callscope,
 * callscope-collector, callscope-query): option tables joined from
 * per-role groups, the flags every daemon has (--log-level, --help), and
 * errors reported as one line naming the problem plus a pointer to
 * --help, never the whole usage text. */
#ifndef CS_CLI_H
#define CS_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

#include "hostcheck.h"

/* Option values are grouped so tables can be joined without clashes. */
enum {
  CS_CLI_COMMON = 0x100,    /* this file's */
  CS_CLI_COLLECTOR = 0x200, /* collector/parse.h */
  CS_CLI_QUERY = 0x300,     /* query/qflags.h */
};
enum { CS_CLI_LOG_LEVEL = CS_CLI_COMMON, CS_CLI_HELP, CS_CLI_ALLOW_HOST };

/* Applies one option: returns 1 when it was taken, 0 when it is not one
 * of the callee's, -2 after reporting a bad value with cs_cli_fail. */
typedef int (*cs_cli_apply_fn)(void *ud, const char *prog, int opt, const char *arg);

/* Parses argv against the option groups (zero-terminated tables, joined)
 * plus the common options: every option goes to apply, --log-level sets
 * the log level, --allow-host adds to cs_cli_allow_hosts, --help prints
 * usage to stdout. Unknown options, missing
 * or bad values and stray arguments are reported as one line plus "try
 * --help" (getopt's own messages are off). Returns 0 to go on, 1 after
 * --help (exit 0), 2 after a usage error (exit 2). Thread-safety: uses
 * getopt's globals; call from main only. */
int cs_cli_parse(const char *prog, int argc, char **argv, const struct option *const *groups,
                 size_t n_groups, cs_cli_apply_fn apply, void *ud, void (*usage)(FILE *f));

/* Prints "prog: <message>" and "try 'prog --help' for the options" on
 * stderr; returns 2, the exit status for usage errors. */
int cs_cli_fail(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The Host names every HTTP listener of this process accepts besides
 * loopback and its listen address (see hostcheck.h), filled by
 * cs_cli_parse from --allow-host (repeatable); names borrowed from argv.
 * Daemons hand it to their HTTP servers' options. */
extern cs_hostlist cs_cli_allow_hosts;

/* The usage lines of the common options. */
extern const char cs_cli_common_usage[];

#endif
