/* Command-line value parsing for the daemons: durations ("72h", "30m",
 * "7d", "45s", bare seconds) and unsigned integers, with full error checks
 * (no atoi: trailing junk and overflow are errors); and the collector's
 * flags, defined once here for callscope-collector and the all-in-one
 * callscope. */
#ifndef CS_PARSE_H
#define CS_PARSE_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "collector.h"
#include "store.h"

/* Parses a duration into seconds. Returns 0, or -1 when malformed, zero or
 * out of range. Thread-safety: pure function. */
int cs_parse_duration_s(const char *s, uint64_t *out);

/* Parses a decimal integer in [min, max]. Returns 0 or -1. */
int cs_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#define CS_CLI_MAX_INDEX_KEYS 64

/* The collector's flags and what they set. */
typedef struct cs_collector_cli {
  cs_collector_opts co;
  cs_store_opts so;
  const char *keys[CS_CLI_MAX_INDEX_KEYS]; /* --index-key values, borrowed from argv */
  size_t n_keys;
  int body_timeout_set; /* --http-body-timeout given: --http-timeout leaves it */
} cs_collector_cli;

/* Defaults: cs_collector_opts_default, data directory ./data. */
void cs_collector_cli_init(cs_collector_cli *c);

/* The collector's options (values in the CS_CLI_COLLECTOR range of
 * common/cli.h), zero-terminated. */
extern const struct option cs_collector_cli_options[];

/* Applies one option getopt_long returned. Returns 1 when it was a
 * collector option with a valid value, 0 when it is not a collector
 * option, -2 after reporting a bad value (cs_cli_fail). */
int cs_collector_cli_apply(cs_collector_cli *c, const char *prog, int opt, const char *arg);

/* After parsing: points the store options at the index keys and derives
 * the expiry interval from the retention. */
void cs_collector_cli_finish(cs_collector_cli *c);

/* The usage lines of the collector's options. */
void cs_collector_cli_usage(FILE *f);

#endif
