/* The query server's flags, defined once for both programs that run it:
 * the all-in-one callscope and the standalone callscope-query (which also
 * takes the data directory, secondary directory, listen address, index
 * keys and catch-up interval, flags the all-in-one gets from the
 * collector's group). */
#ifndef CS_QFLAGS_H
#define CS_QFLAGS_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "query.h"

#define CS_QFLAGS_MAX_INDEX_KEYS 64

typedef struct cs_qflags {
  cs_query_opts qo;
  /* callscope-query only */
  const char *data_dir, *secondary_dir;
  const char *keys[CS_QFLAGS_MAX_INDEX_KEYS]; /* borrowed from argv */
  size_t n_keys;
  uint64_t catch_up_ns;
} cs_qflags;

/* Defaults: cs_query_opts_default, the UI directory of the source tree or
 * of the installation when present, catch-up every 200 ms. */
void cs_qflags_init(cs_qflags *f);

/* The options of both programs and callscope-query's own (values in the
 * CS_CLI_QUERY range of common/cli.h), each zero-terminated. */
extern const struct option cs_qflags_options[];
extern const struct option cs_qflags_standalone_options[];

/* Applies one option getopt_long returned: 1 taken, 0 not a query option,
 * -2 after reporting a bad value (cs_cli_fail). */
int cs_qflags_apply(cs_qflags *f, const char *prog, int opt, const char *arg);

/* The usage lines; standalone adds callscope-query's own options. */
void cs_qflags_usage(FILE *out, int standalone);

#endif
