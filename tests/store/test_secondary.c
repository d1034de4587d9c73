/* A long-running secondary instance (callscope-query) stays equal to a
 * freshly opened one across restarts of the primary, graceful and kill -9:
 * per-minute statistics and summaries (both merge operands) must not count
 * operands twice once the restarted primary has flushed its recovered WAL
 * into an SST that the secondary's memtable already holds. */
#include <signal.h>
#include <sys/wait.h>

#include "check.h"
#include "fixtures.h"
#include "store.h"

#define SEC 1000000000ULL
static const uint64_t T0 = 1700000000ULL * SEC;
#define TRACES 8 /* per batch; each trace gets 2 spans per batch */

static cs_store *open_primary(const char *dir) {
  cs_store_opts o = {.dir = dir};
  cs_store *st = NULL;
  char err[256] = "";
  int rc = cs_store_open(&o, &st, err, sizeof(err));
  if (rc)
    fprintf(stderr, "open primary: %s\n", err);
  CHECK_EQ(rc, 0);
  return st;
}

static cs_store *open_secondary(const char *dir, const char *sdir) {
  cs_store_opts o = {.dir = dir, .secondary = 1, .secondary_dir = sdir};
  cs_store *st = NULL;
  char err[256] = "";
  int rc = cs_store_open(&o, &st, err, sizeof(err));
  if (rc)
    fprintf(stderr, "open secondary: %s\n", err);
  CHECK_EQ(rc, 0);
  return st;
}

/* Batch `round` adds two spans (new span IDs) to each of traces 1..TRACES. */
static void write_round(cs_store *st, int round) {
  cs_span sp[2 * TRACES];
  for (int t = 0; t < TRACES; t++)
    for (int k = 0; k < 2; k++) {
      uint64_t sid = (uint64_t)round * 100 + (uint64_t)t * 2 + (uint64_t)k + 1;
      sp[t * 2 + k] = fx_span((uint64_t)t + 1, sid, 0, k ? "GET /b" : "GET /a",
                              k ? &fx_res_backend : &fx_res_frontend,
                              T0 + (uint64_t)t * SEC + (uint64_t)round * 1000, 5000);
      if (k)
        sp[t * 2 + k].status_code = CS_STATUS_ERROR;
    }
  CHECK_EQ(cs_store_write(st, sp, 2 * TRACES), 0);
}

typedef struct totals {
  uint64_t count, errors, sum_ns, hist;
  uint64_t spans, sum_errors; /* over the summaries of traces 1..TRACES */
} totals;

static int add_row(void *ud, const cs_stats_row *r) {
  totals *t = ud;
  t->count += r->count;
  t->errors += r->errors;
  t->sum_ns += r->sum_ns;
  for (uint32_t i = 0; i < r->n_buckets; i++)
    t->hist += r->bucket_count[i];
  return 0;
}

static totals read_totals(cs_store *st) {
  totals t;
  memset(&t, 0, sizeof(t));
  CHECK_EQ(cs_store_scan_stats(st, (cs_str){"", 0}, 0, 0, add_row, &t), 0);
  cs_arena a;
  cs_arena_init(&a, 0, 0);
  for (uint64_t i = 1; i <= TRACES; i++) {
    uint8_t id[16];
    fx_id(id, 16, i);
    cs_trace_summary s;
    if (cs_store_get_summary(st, id, &a, &s) == 0) {
      t.spans += s.n_spans;
      t.sum_errors += s.n_errors;
    }
  }
  cs_arena_release(&a);
  return t;
}

static void expect_totals(totals got, uint64_t spans, const char *what) {
  int before = cs_check_failures;
  CHECK_EQ(got.count, spans);
  CHECK_EQ(got.hist, spans);
  CHECK_EQ(got.errors, spans / 2);
  CHECK_EQ(got.sum_ns, spans * 5000);
  CHECK_EQ(got.spans, spans);
  CHECK_EQ(got.sum_errors, spans / 2);
  if (cs_check_failures != before)
    fprintf(stderr, "  (%s)\n", what);
}

/* What a secondary opened now sees. */
static totals fresh_totals(const char *dir) {
  char sdir[64];
  totals t;
  memset(&t, 0, sizeof(t));
  CHECK(fx_tmpdir(sdir, sizeof(sdir)) != NULL);
  cs_store *s = open_secondary(dir, sdir);
  if (s)
    t = read_totals(s);
  cs_store_close(s);
  fx_rmrf(sdir);
  return t;
}

/* A child opens the primary, writes round `round` and SIGKILLs itself. */
static void write_and_kill_9(const char *dir, int round) {
  pid_t pid = fork();
  if (pid == 0) {
    cs_store *st = open_primary(dir);
    if (!st)
      _exit(1);
    write_round(st, round);
    raise(SIGKILL);
    _exit(2);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static void secondary_counts_once_across_primary_restarts(void) {
  char dir[64], sdir[64];
  CHECK(fx_tmpdir(dir, sizeof(dir)) != NULL);
  CHECK(fx_tmpdir(sdir, sizeof(sdir)) != NULL);
  const uint64_t per_round = 2 * TRACES;
  cs_store *p = open_primary(dir);
  write_round(p, 0);
  cs_store *s = open_secondary(dir, sdir);
  if (!p || !s)
    goto out;
  write_round(p, 1);
  CHECK_EQ(cs_store_catch_up(s), 0);
  expect_totals(read_totals(s), 2 * per_round, "secondary before restart");

  /* Graceful restart: the reopened primary flushes what its WAL held. */
  cs_store_close(p);
  p = open_primary(dir);
  write_round(p, 2);
  CHECK_EQ(cs_store_catch_up(s), 0);
  expect_totals(read_totals(p), 3 * per_round, "primary after restart");
  expect_totals(read_totals(s), 3 * per_round, "long-running secondary after restart");
  expect_totals(fresh_totals(dir), 3 * per_round, "fresh secondary after restart");
  CHECK_EQ(cs_store_catch_up(s), 0); /* nothing new: still equal */
  expect_totals(read_totals(s), 3 * per_round, "secondary caught up twice");

  /* kill -9: a child writes and dies, the next primary recovers the WAL. */
  write_round(p, 3);
  CHECK_EQ(cs_store_catch_up(s), 0);
  expect_totals(read_totals(s), 4 * per_round, "secondary before kill -9");
  cs_store_close(p);
  write_and_kill_9(dir, 4);
  CHECK_EQ(cs_store_catch_up(s), 0); /* sees the dead primary's WAL */
  p = open_primary(dir);
  write_round(p, 5);
  CHECK_EQ(cs_store_catch_up(s), 0);
  expect_totals(read_totals(p), 6 * per_round, "primary after kill -9");
  expect_totals(read_totals(s), 6 * per_round, "long-running secondary after kill -9");
  expect_totals(fresh_totals(dir), 6 * per_round, "fresh secondary after kill -9");
out:
  cs_store_close(s);
  cs_store_close(p);
  fx_rmrf(dir);
  fx_rmrf(sdir);
}

int main(void) {
  RUN(secondary_counts_once_across_primary_restarts);
  return CHECK_DONE();
}
