/* The storage API end to end on a temporary RocksDB: every read API after a
 * write, summaries merged across batches, session and duration indexes,
 * resent batches, retention, secondary instances, corrupt values and
 * durability across kill -9. */
#include <pthread.h>
#include <rocksdb/c.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "check.h"
#include "fixtures.h"
#include "keys.h"
#include "store.h"

#define SEC 1000000000ULL
static const uint64_t T0 = 1700000000ULL * SEC;

static cs_store *open_store(const char *dir, uint64_t retention_s) {
  static const char *keys[] = {"http.method"};
  cs_store_opts o = {.dir = dir, .retention_s = retention_s, .index_keys = keys, .n_index_keys = 1};
  cs_store *st = NULL;
  char err[256] = "";
  int rc = cs_store_open(&o, &st, err, sizeof(err));
  if (rc) fprintf(stderr, "open: %s\n", err);
  CHECK_EQ(rc, 0);
  return st;
}

typedef struct hits {
  uint8_t ids[64][16];
  uint64_t starts[64];
  int n;
} hits;

static int collect(void *ud, const uint8_t id[16], uint64_t start) {
  hits *h = ud;
  if (h->n < 64) {
    memcpy(h->ids[h->n], id, 16);
    h->starts[h->n++] = start;
  }
  return 0;
}

static int is_trace(const uint8_t id[16], uint64_t t) {
  uint8_t want[16];
  fx_id(want, 16, t);
  return memcmp(id, want, 16) == 0;
}

static hits scan(cs_store *st, cs_index_query q) {
  hits h;
  memset(&h, 0, sizeof(h));
  CHECK_EQ(cs_store_scan_index(st, &q, collect, &h), 0);
  return h;
}

/* Trace 1: frontend root GET /cart with a backend child; trace 2 later. */
static void write_two_traces(cs_store *st) {
  static cs_attr a_get[] = {{{"http.method", 11}, CS_VAL_STR, {.s = {"GET", 3}}},
                            {{"http.status_code", 16}, CS_VAL_INT, {.i = 200}}};
  cs_span sp[3];
  sp[0] = fx_span(1, 1, 0, "GET /cart", &fx_res_frontend, T0, 50000000);
  sp[0].attrs = a_get;
  sp[0].n_attrs = 2;
  sp[0].session_id = CS_STR_LIT("sess-42");
  sp[1] = fx_span(1, 2, 1, "SELECT cart", &fx_res_backend, T0 + 1000, 20000000);
  sp[1].status_code = CS_STATUS_ERROR;
  sp[1].session_id = CS_STR_LIT("sess-42");
  sp[2] = fx_span(2, 3, 0, "GET /home", &fx_res_frontend, T0 + 5 * SEC, 7000000);
  sp[2].session_id = CS_STR_LIT("sess-42");
  CHECK_EQ(cs_store_write(st, sp, 3), 0);
}

static void store_write_then_read_every_api(void) {
  char dir[64];
  CHECK(fx_tmpdir(dir, sizeof(dir)) != NULL);
  cs_store *st = open_store(dir, 0);
  write_two_traces(st);
  cs_arena a;
  cs_arena_init(&a, 0, 0);

  uint8_t t1[16];
  fx_id(t1, 16, 1);
  cs_span *spans;
  size_t n;
  CHECK_EQ(cs_store_get_trace(st, t1, &a, &spans, &n), 0);
  CHECK_EQ(n, 2);
  for (size_t i = 0; i < n; i++) {
    CHECK(memcmp(spans[i].trace_id, t1, 16) == 0);
    if (spans[i].span_id[7] == 1) {
      CHECK_STRN(spans[i].name.p, spans[i].name.n, "GET /cart");
      CHECK_STRN(spans[i].resource->service.p, spans[i].resource->service.n, "frontend");
      CHECK_EQ(spans[i].n_attrs, 2);
      CHECK_STRN(spans[i].attrs[0].v.s.p, spans[i].attrs[0].v.s.n, "GET");
      CHECK_EQ(spans[i].attrs[1].v.i, 200);
      CHECK(spans[i].start_ns == T0);
      CHECK(spans[i].end_ns == T0 + 50000000);
      CHECK(cs_span_is_root(&spans[i]));
    } else {
      CHECK_STRN(spans[i].name.p, spans[i].name.n, "SELECT cart");
      CHECK_EQ(spans[i].parent_id[7], 1);
      CHECK_EQ(spans[i].status_code, CS_STATUS_ERROR);
    }
  }
  uint8_t unknown[16];
  fx_id(unknown, 16, 99);
  CHECK_EQ(cs_store_get_trace(st, unknown, &a, &spans, &n), 0);
  CHECK_EQ(n, 0);

  cs_trace_summary s;
  CHECK_EQ(cs_store_get_summary(st, t1, &a, &s), 0);
  CHECK(s.start_ns == T0);
  CHECK(s.duration_ns == 50000000);
  CHECK_STRN(s.root_service.p, s.root_service.n, "frontend");
  CHECK_STRN(s.root_name.p, s.root_name.n, "GET /cart");
  CHECK_EQ(s.n_spans, 2);
  CHECK_EQ(s.n_errors, 1);
  CHECK_EQ(s.n_services, 2);
  if (s.n_services == 2) {
    CHECK_STRN(s.services[0].p, s.services[0].n, "backend");
    CHECK_STRN(s.services[1].p, s.services[1].n, "frontend");
  }
  CHECK_EQ(cs_store_get_summary(st, unknown, &a, &s), CS_STORE_ENOTFOUND);

  hits h = scan(st, (cs_index_query){.kind = CS_IDX_SERVICE, .service = CS_STR_LIT("frontend")});
  CHECK_EQ(h.n, 2);
  CHECK(is_trace(h.ids[0], 2)); /* newest first */
  CHECK(is_trace(h.ids[1], 1));
  h = scan(st, (cs_index_query){.kind = CS_IDX_SERVICE, .service = CS_STR_LIT("backend")});
  CHECK_EQ(h.n, 1);
  h = scan(st, (cs_index_query){.kind = CS_IDX_SERVICE, .service = CS_STR_LIT("front")});
  CHECK_EQ(h.n, 0);
  h = scan(st, (cs_index_query){.kind = CS_IDX_OPERATION, .service = CS_STR_LIT("backend"),
                                .operation = CS_STR_LIT("SELECT cart")});
  CHECK_EQ(h.n, 1);
  CHECK(is_trace(h.ids[0], 1));
  h = scan(st, (cs_index_query){.kind = CS_IDX_ATTR, .key = CS_STR_LIT("http.method"),
                                .value = CS_STR_LIT("GET")});
  CHECK_EQ(h.n, 1);
  h = scan(st, (cs_index_query){.kind = CS_IDX_ATTR, .key = CS_STR_LIT("http.status_code"),
                                .value = CS_STR_LIT("200")});
  CHECK_EQ(h.n, 0); /* not a configured index key */
  h = scan(st, (cs_index_query){.kind = CS_IDX_ALL});
  CHECK_EQ(h.n, 2);
  CHECK(is_trace(h.ids[0], 2));
  h = scan(st, (cs_index_query){.kind = CS_IDX_ALL, .start_ns = T0 + SEC});
  CHECK_EQ(h.n, 1);
  h = scan(st, (cs_index_query){.kind = CS_IDX_ALL, .end_ns = T0 + SEC});
  CHECK_EQ(h.n, 1);
  CHECK(is_trace(h.ids[0], 1));
  h = scan(st, (cs_index_query){.kind = CS_IDX_DURATION, .min_duration_ns = 1000000});
  CHECK_EQ(h.n, 2);
  CHECK(is_trace(h.ids[0], 2)); /* shortest first */
  h = scan(st, (cs_index_query){.kind = CS_IDX_DURATION, .min_duration_ns = 10000000,
                                .max_duration_ns = 60000000});
  CHECK_EQ(h.n, 1);
  CHECK(is_trace(h.ids[0], 1));

  cs_str *svcs;
  CHECK_EQ(cs_store_list_services(st, &a, &svcs, &n), 0);
  CHECK_EQ(n, 2);
  if (n == 2) {
    CHECK_STRN(svcs[0].p, svcs[0].n, "backend");
    CHECK_STRN(svcs[1].p, svcs[1].n, "frontend");
  }
  cs_operation *ops;
  CHECK_EQ(cs_store_list_operations(st, CS_STR_LIT("frontend"), &a, &ops, &n), 0);
  CHECK_EQ(n, 2);
  if (n == 2) {
    CHECK_STRN(ops[0].name.p, ops[0].name.n, "GET /cart");
    CHECK_EQ(ops[0].kind, CS_KIND_SERVER);
    CHECK_STRN(ops[1].name.p, ops[1].name.n, "GET /home");
  }
  cs_store_stats stats;
  CHECK_EQ(cs_store_get_stats(st, &stats), 0);
  CHECK_EQ(stats.spans_written, 3);
  CHECK_EQ(stats.batches_written, 1);

  /* Everything survives a close and reopen. */
  cs_store_close(st);
  st = open_store(dir, 0);
  CHECK_EQ(cs_store_get_trace(st, t1, &a, &spans, &n), 0);
  CHECK_EQ(n, 2);
  CHECK_EQ(cs_store_list_services(st, &a, &svcs, &n), 0);
  CHECK_EQ(n, 2);
  cs_store_close(st);
  cs_arena_release(&a);
  fx_rmrf(dir);
}

static void store_session_index_lists_oldest_first(void) {
  char dir[64];
  CHECK(fx_tmpdir(dir, sizeof(dir)) != NULL);
  cs_store *st = open_store(dir, 0);
  write_two_traces(st);
  hits h = scan(st, (cs_index_query){.kind = CS_IDX_SESSION, .session = CS_STR_LIT("sess-42")});
  CHECK_EQ(h.n, 2);
  CHECK(is_trace(h.ids[0], 1));
  CHECK(is_trace(h.ids[1], 2));
  /* As an attribute query under any spelling: newest first. */
  h = scan(st, (cs_index_query){.kind = CS_IDX_ATTR, .key = CS_STR_LIT("sessionId"),
                                .value = CS_STR_LIT("sess-42")});
  CHECK_EQ(h.n, 2);
  CHECK(is_trace(h.ids[0], 2));
  h = scan(st, (cs_index_query){.kind = CS_IDX_SESSION, .session = CS_STR_LIT("sess-4")});
  CHECK_EQ(h.n, 0);
  h = scan(st, (cs_index_query){.kind = CS_IDX_SESSION, .session = CS_STR_LIT("sess-42"),
                                .end_ns = T0 + SEC});
  CHECK_EQ(h.n, 1);
  cs_store_close(st);
  fx_rmrf(dir);
}

static void store_summary_merges_across_batches(void) {
  char dir[64];
  CHECK(fx_tmpdir(dir, sizeof(dir)) != NULL);
  cs_store *st = open_store(dir, 0);
  /* The backend's child arrives first, the frontend's root later, with an
   * earlier start and a later end. */
  cs_span c = fx_span(7, 2, 1, "SELECT", &fx_res_backend, T0 + 1000, 1000);
  c.status_code = CS_STATUS_ERROR;
  CHECK_EQ(cs_store_write(st, &c, 1), 0);
  cs_span r = fx_span(7, 1, 0, "GET /", &fx_res_frontend, T0, 9000);
  CHECK_EQ(cs_store_write(st, &r, 1), 0);
  cs_arena a;
  cs_arena_init(&a, 0, 0);
  uint8_t t[16];
  fx_id(t, 16, 7);
  cs_trace_summary s;
  CHECK_EQ(cs_store_get_summary(st, t, &a, &s), 0);
  CHECK(s.start_ns == T0);
  CHECK(s.duration_ns == 9000);
  CHECK_EQ(s.n_spans, 2);
  CHECK_EQ(s.n_errors, 1);
  CHECK_EQ(s.n_services, 2);
  CHECK_STRN(s.root_name.p, s.root_name.n, "GET /");
  /* The duration index reports the merged duration only. */
  hits h = scan(st, (cs_index_query){.kind = CS_IDX_DURATION});
  CHECK_EQ(h.n, 1);
  h = scan(st, (cs_index_query){.kind = CS_IDX_DURATION, .max_duration_ns = 5000});
  CHECK_EQ(h.n, 0);
  /* Still merged after compaction folded the operands. */
  CHECK_EQ(cs_store_compact(st), 0);
  CHECK_EQ(cs_store_get_summary(st, t, &a, &s), 0);
  CHECK_EQ(s.n_spans, 2);
  CHECK(s.duration_ns == 9000);
  cs_store_close(st);
  cs_arena_release(&a);
  fx_rmrf(dir);
}

static void store_summary_names_trace_without_root(void) {
  char dir[64];
  CHECK(fx_tmpdir(dir, sizeof(dir)) != NULL);
  cs_store *st = open_store(dir, 0);
  /* Two children of a root that never arrives, the later one first. */
  cs_span late = fx_span(8, 3, 1, "SELECT", &fx_res_backend, T0 + 5000, 1000);
  CHECK_EQ(cs_store_write(st, &late, 1), 0);
  cs_span early = fx_span(8, 2, 1, "GET /cart", &fx_res_frontend, T0 + 1000, 9000);
  CHECK_EQ(cs_store_write(st, &early, 1), 0);
  cs_arena a;
  cs_arena_init(&a, 0, 0);
  uint8_t t[16];
  fx_id(t, 16, 8);
  cs_trace_summary s;
  for (int pass = 0; pass < 2; pass++) { /* as operands, then compacted */
    CHECK_EQ(cs_store_get_summary(st, t, &a, &s), 0);
    CHECK_EQ(s.root_service.n, 0);
    CHECK_STRN(s.first_service.p, s.first_service.n, "frontend");
    CHECK_STRN(s.first_name.p, s.first_name.n, "GET /cart");
    CHECK_EQ(cs_store_compact(st), 0);
  }
  /* The root arrives at last: it is both root and earliest span. */
  cs_span root = fx_span(8, 1, 0, "GET /", &fx_res_frontend, T0, 20000);
  CHECK_EQ(cs_store_write(st, &root, 1), 0);
  CHECK_EQ(cs_store_get_summary(st, t, &a, &s), 0);
  CHECK_STRN(s.root_name.p, s.root_name.n, "GET /");
  CHECK_STRN(s.first_name.p, s.first_name.n, "GET /");
  cs_store_close(st);
  cs_arena_release(&a);
  fx_rmrf(dir);
}

static void store_resent_batch_is_harmless(void) {
  char dir[64];
  CHECK(fx_tmpdir(dir, sizeof(dir)) != NULL);
  cs_store *st = open_store(dir, 0);
  write_two_traces(st);
  write_two_traces(st);
  cs_arena a;
  cs_arena_init(&a, 0, 0);
  uint8_t t1[16];
  fx_id(t1, 16, 1);
  cs_span *spans;
  size_t n;
  CHECK_EQ(cs_store_get_trace(st, t1, &a, &spans, &n), 0);
  CHECK_EQ(n, 2);
  cs_trace_summary s;
  CHECK_EQ(cs_store_get_summary(st, t1, &a, &s), 0);
  CHECK_EQ(s.n_spans, 2);
  CHECK_EQ(s.n_errors, 1);
  /* The same span again inside a different batch: stored twice, read once. */
  cs_span again = fx_span(1, 2, 1, "SELECT cart", &fx_res_backend, T0 + 1000, 20000000);
  cs_span other = fx_span(1, 9, 1, "extra", &fx_res_backend, T0 + 2000, 10);
  cs_span b2[2] = {again, other};
  CHECK_EQ(cs_store_write(st, b2, 2), 0);
  CHECK_EQ(cs_store_get_trace(st, t1, &a, &spans, &n), 0);
  CHECK_EQ(n, 3);
  cs_store_close(st);
  cs_arena_release(&a);
  fx_rmrf(dir);
}

static uint64_t dir_bytes(const char *dir) {
  char cmd[256];
  snprintf(cmd, sizeof(cmd), "du -sb '%s' | cut -f1", dir);
  FILE *f = popen(cmd, "r");
  unsigned long long v = 0;
  if (f) {
    if (fscanf(f, "%llu", &v) != 1) v = 0;
    pclose(f);
  }
  return v;
}

static void store_retention_removes_expired_data(void) {
  char dir[64];
  CHECK(fx_tmpdir(dir, sizeof(dir)) != NULL);
  cs_store *st = open_store(dir, 3600); /* one hour: buckets of 450 s */
  /* Old traces an hour before the new ones: enough data to see on disk. */
  enum { N = 20000 };
  cs_span *sp = calloc(N, sizeof(cs_span));
  static char names[N][16];
  for (int i = 0; i < N; i++) {
    snprintf(names[i], sizeof(names[i]), "op-%d", i);
    sp[i] = fx_span(1000 + (uint64_t)i / 4, (uint64_t)i + 1, 0, names[i], &fx_res_backend,
                    T0 + (uint64_t)i * 1000, 5000);
  }
  CHECK_EQ(cs_store_write(st, sp, N), 0);
  cs_span young = fx_span(5, 1, 0, "young", &fx_res_frontend, T0 + 7200 * SEC, 10);
  CHECK_EQ(cs_store_write(st, &young, 1), 0);
  CHECK_EQ(cs_store_compact(st), 0);
  cs_store_stats s0;
  CHECK_EQ(cs_store_get_stats(st, &s0), 0);
  uint64_t before = dir_bytes(dir);

  CHECK_EQ(cs_store_expire(st, T0 + 7200 * SEC), 0);
  cs_arena a;
  cs_arena_init(&a, 0, 0);
  uint8_t t[16];
  fx_id(t, 16, 1000);
  cs_span *got;
  size_t n;
  CHECK_EQ(cs_store_get_trace(st, t, &a, &got, &n), 0);
  CHECK_EQ(n, 0);
  cs_trace_summary sum;
  CHECK_EQ(cs_store_get_summary(st, t, &a, &sum), CS_STORE_ENOTFOUND);
  hits h = scan(st, (cs_index_query){.kind = CS_IDX_SERVICE, .service = CS_STR_LIT("backend")});
  CHECK_EQ(h.n, 0);
  h = scan(st, (cs_index_query){.kind = CS_IDX_ALL});
  CHECK_EQ(h.n, 1);
  fx_id(t, 16, 5);
  CHECK_EQ(cs_store_get_trace(st, t, &a, &got, &n), 0);
  CHECK_EQ(n, 1);
  /* Late spans of the expired period are not resurrected. */
  CHECK_EQ(cs_store_write(st, sp, 1), 0);
  h = scan(st, (cs_index_query){.kind = CS_IDX_SERVICE, .service = CS_STR_LIT("backend")});
  CHECK_EQ(h.n, 0);

  CHECK_EQ(cs_store_compact(st), 0);
  cs_store_stats s1;
  CHECK_EQ(cs_store_get_stats(st, &s1), 0);
  uint64_t after = dir_bytes(dir);
  fprintf(stderr, "retention: sst %llu -> %llu bytes, dir %llu -> %llu bytes\n",
          (unsigned long long)s0.live_sst_bytes, (unsigned long long)s1.live_sst_bytes,
          (unsigned long long)before, (unsigned long long)after);
  CHECK(s1.live_sst_bytes * 4 < s0.live_sst_bytes);
  CHECK(after + 200000 < before);
  cs_store_close(st);
  cs_arena_release(&a);
  free(sp);
  fx_rmrf(dir);
}

static void store_secondary_catches_up(void) {
  char dir[64], sdir[64];
  CHECK(fx_tmpdir(dir, sizeof(dir)) != NULL);
  CHECK(fx_tmpdir(sdir, sizeof(sdir)) != NULL);
  cs_store *st = open_store(dir, 0);
  cs_span first = fx_span(1, 1, 0, "first", &fx_res_frontend, T0, 10);
  CHECK_EQ(cs_store_write(st, &first, 1), 0);
  cs_store_opts o = {.dir = dir, .secondary = 1, .secondary_dir = sdir};
  cs_store *sec = NULL;
  char err[256] = "";
  CHECK_EQ(cs_store_open(&o, &sec, err, sizeof(err)), 0);
  if (!sec) {
    fprintf(stderr, "secondary: %s\n", err);
    cs_store_close(st);
    return;
  }
  cs_arena a;
  cs_arena_init(&a, 0, 0);
  uint8_t t[16];
  cs_span *got;
  size_t n;
  fx_id(t, 16, 1);
  CHECK_EQ(cs_store_get_trace(sec, t, &a, &got, &n), 0);
  CHECK_EQ(n, 1);
  CHECK_EQ(cs_store_write(sec, &first, 1), CS_STORE_EREADONLY);
  CHECK_EQ(cs_store_expire(sec, T0), CS_STORE_EREADONLY);

  /* New data in the same bucket and in a new bucket (a new column family). */
  cs_span second = fx_span(2, 1, 0, "second", &fx_res_backend, T0 + 10, 10);
  cs_span later = fx_span(3, 1, 0, "later", &fx_res_backend, T0 + 3 * 86400 * SEC, 10);
  CHECK_EQ(cs_store_write(st, &second, 1), 0);
  CHECK_EQ(cs_store_write(st, &later, 1), 0);
  fx_id(t, 16, 2);
  CHECK_EQ(cs_store_get_trace(sec, t, &a, &got, &n), 0);
  CHECK_EQ(n, 0); /* not yet */
  CHECK_EQ(cs_store_catch_up(sec), 0);
  CHECK_EQ(cs_store_get_trace(sec, t, &a, &got, &n), 0);
  CHECK_EQ(n, 1);
  fx_id(t, 16, 3);
  CHECK_EQ(cs_store_get_trace(sec, t, &a, &got, &n), 0);
  CHECK_EQ(n, 1);
  cs_str *svcs;
  CHECK_EQ(cs_store_list_services(sec, &a, &svcs, &n), 0);
  CHECK_EQ(n, 2);
  cs_store_close(sec);
  cs_store_close(st);
  cs_arena_release(&a);
  fx_rmrf(dir);
  fx_rmrf(sdir);
}

/* Writes garbage under a real chunk key and summary key with RocksDB
 * directly (the store is closed), then reads through the API. */
static void store_corrupt_value_returns_ecorrupt(void) {
  char dir[64];
  CHECK(fx_tmpdir(dir, sizeof(dir)) != NULL);
  cs_store *st = open_store(dir, 0);
  cs_span s = fx_span(1, 1, 0, "x", &fx_res_frontend, T0, 10);
  CHECK_EQ(cs_store_write(st, &s, 1), 0);
  cs_store_close(st);

  rocksdb_options_t *o = rocksdb_options_create();
  size_t ncf = 0;
  char *e = NULL;
  char **names = rocksdb_list_column_families(o, dir, &ncf, &e);
  CHECK(e == NULL && ncf == 2);
  const rocksdb_options_t *cfo[2] = {o, o};
  rocksdb_column_family_handle_t *h[2];
  rocksdb_t *db = rocksdb_open_column_families(o, dir, 2, (const char *const *)names, cfo, h, &e);
  CHECK(e == NULL);
  int bi = strcmp(names[0], "default") == 0 ? 1 : 0;
  cs__key k = {.type = CS__K_CHUNK, .chunk_id = 1};
  fx_id(k.trace_id, 16, 1);
  cs_buf kb = {0};
  cs__key_encode(&kb, &k);
  rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
  rocksdb_put_cf(db, wo, h[bi], (const char *)kb.p, kb.n, "\x01\x05\x00\x09zz", 6, &e);
  k.type = CS__K_SUMMARY;
  kb.n = 0;
  cs__key_encode(&kb, &k);
  rocksdb_put_cf(db, wo, h[bi], (const char *)kb.p, kb.n, "\x01\x80", 2, &e);
  CHECK(e == NULL);
  rocksdb_writeoptions_destroy(wo);
  rocksdb_column_family_handle_destroy(h[0]);
  rocksdb_column_family_handle_destroy(h[1]);
  rocksdb_close(db);
  rocksdb_list_column_families_destroy(names, ncf);
  rocksdb_options_destroy(o);
  cs_buf_free(&kb);

  st = open_store(dir, 0);
  cs_arena a;
  cs_arena_init(&a, 0, 0);
  cs_span *got;
  size_t n;
  CHECK_EQ(cs_store_get_trace(st, k.trace_id, &a, &got, &n), CS_STORE_ECORRUPT);
  cs_trace_summary sum;
  CHECK_EQ(cs_store_get_summary(st, k.trace_id, &a, &sum), CS_STORE_ECORRUPT);
  cs_store_close(st);
  cs_arena_release(&a);
  fx_rmrf(dir);
}

/* A child writes and kills itself with SIGKILL right after the write
 * returned; the parent reopens and finds every span. */
static void store_write_survives_kill_9(void) {
  char dir[64];
  CHECK(fx_tmpdir(dir, sizeof(dir)) != NULL);
  pid_t pid = fork();
  if (pid == 0) {
    cs_store *st = open_store(dir, 0);
    cs_span sp[50];
    for (int i = 0; i < 50; i++)
      sp[i] = fx_span(1 + (uint64_t)i % 5, (uint64_t)i + 1, 0, "k9", &fx_res_frontend, T0, 10);
    if (cs_store_write(st, sp, 50) != 0) _exit(1);
    raise(SIGKILL);
    _exit(2);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  cs_store *st = open_store(dir, 0);
  cs_arena a;
  cs_arena_init(&a, 0, 0);
  size_t total = 0;
  for (uint64_t t = 1; t <= 5; t++) {
    uint8_t id[16];
    fx_id(id, 16, t);
    cs_span *got;
    size_t n = 0;
    CHECK_EQ(cs_store_get_trace(st, id, &a, &got, &n), 0);
    total += n;
  }
  CHECK_EQ(total, 50);
  cs_store_close(st);
  cs_arena_release(&a);
  fx_rmrf(dir);
}

/* Writes `batches` batches of 5 single-span traces named `name`, trace IDs
 * from *next on. */
static void write_named(cs_store *st, uint64_t *next, const char *name, int batches) {
  for (int b = 0; b < batches; b++) {
    cs_span sp[5];
    for (int i = 0; i < 5; i++, (*next)++)
      sp[i] = fx_span(*next, 1, 0, name, &fx_res_frontend, T0 + *next * 1000, 10);
    CHECK_EQ(cs_store_write(st, sp, 5), 0);
  }
}

static int name_is(cs_store *st, cs_arena *a, uint64_t t, const char *name) {
  uint8_t id[16];
  fx_id(id, 16, t);
  cs_span *sp;
  size_t n = 0;
  int rc = cs_store_get_trace(st, id, a, &sp, &n);
  return rc == 0 && n == 1 && sp[0].name.n == strlen(name) &&
         memcmp(sp[0].name.p, name, sp[0].name.n) == 0 &&
         cs__str_eq(sp[0].resource->service, CS_STR_LIT("frontend"));
}

/* Frequent strings move to the global dictionary: chunks written before and
 * after a restart keep their names (IDs are never reassigned), and a
 * secondary resolves IDs created after it opened. */
static void store_global_strings_survive_restart_and_reach_secondary(void) {
  char dir[64], sdir[64];
  CHECK(fx_tmpdir(dir, sizeof(dir)) != NULL);
  CHECK(fx_tmpdir(sdir, sizeof(sdir)) != NULL);
  cs_store *st = open_store(dir, 0);
  uint64_t next = 1;
  write_named(st, &next, "GET /a", 4); /* traces 1..20 */
  cs_store_opts o = {.dir = dir, .secondary = 1, .secondary_dir = sdir};
  cs_store *sec = NULL;
  char err[256] = "";
  CHECK_EQ(cs_store_open(&o, &sec, err, sizeof(err)), 0);
  write_named(st, &next, "late name", 4); /* 21..40 */
  cs_store_close(st);
  st = open_store(dir, 0);
  write_named(st, &next, "after restart", 4); /* 41..60 */
  write_named(st, &next, "GET /a", 2);        /* 61..70 */
  cs_arena a;
  cs_arena_init(&a, 0, 0);
  CHECK(name_is(st, &a, 1, "GET /a"));
  CHECK(name_is(st, &a, 20, "GET /a"));
  CHECK(name_is(st, &a, 21, "late name"));
  CHECK(name_is(st, &a, 40, "late name"));
  CHECK(name_is(st, &a, 45, "after restart"));
  CHECK(name_is(st, &a, 70, "GET /a"));
  if (sec) {
    CHECK_EQ(cs_store_catch_up(sec), 0);
    CHECK(name_is(sec, &a, 5, "GET /a"));
    CHECK(name_is(sec, &a, 39, "late name"));
    CHECK(name_is(sec, &a, 59, "after restart"));
    cs_store_close(sec);
  }
  cs_store_close(st);
  cs_arena_release(&a);
  fx_rmrf(dir);
  fx_rmrf(sdir);
}

/* One writer and three readers at once: every trace the writer finished
 * before a reader looks is complete (4 spans, summary of 4) and scans run
 * while buckets are being created. */
typedef struct conc {
  cs_store *st;
  _Atomic uint64_t written; /* traces 1..written are complete */
  _Atomic int stop;
  _Atomic int bad;
} conc;

static void *conc_reader(void *arg) {
  conc *c = arg;
  cs_arena a;
  cs_arena_init(&a, 0, 0);
  uint32_t seed = (uint32_t)(uintptr_t)&a;
  while (!atomic_load(&c->stop)) {
    uint64_t w = atomic_load(&c->written);
    if (!w) continue;
    seed = seed * 1103515245 + 12345;
    uint64_t t = 1 + (seed >> 8) % w;
    uint8_t id[16];
    fx_id(id, 16, t);
    cs_span *sp;
    size_t n;
    cs_trace_summary s;
    if (cs_store_get_trace(c->st, id, &a, &sp, &n) != 0 || n != 4) atomic_fetch_add(&c->bad, 1);
    if (cs_store_get_summary(c->st, id, &a, &s) != 0 || s.n_spans != 4) atomic_fetch_add(&c->bad, 1);
    hits h;
    memset(&h, 0, sizeof(h));
    cs_index_query q = {.kind = CS_IDX_SERVICE, .service = CS_STR_LIT("backend")};
    if (cs_store_scan_index(c->st, &q, collect, &h) != 0) atomic_fetch_add(&c->bad, 1);
    cs_str *svcs;
    if (cs_store_list_services(c->st, &a, &svcs, &n) != 0 || n != 2) atomic_fetch_add(&c->bad, 1);
    cs_arena_reset(&a);
  }
  cs_arena_release(&a);
  return NULL;
}

static void store_one_writer_many_readers(void) {
  char dir[64];
  CHECK(fx_tmpdir(dir, sizeof(dir)) != NULL);
  conc c = {.st = open_store(dir, 0)};
  enum { BATCHES = 150, TRACES = 20 };
  cs_span sp[TRACES * 4];
  /* The first batch before the readers start, so they always have data. */
  pthread_t th[3];
  for (int b = 0; b < BATCHES; b++) {
    for (int t = 0; t < TRACES; t++) {
      uint64_t tid = (uint64_t)b * TRACES + (uint64_t)t + 1;
      /* A new bucket (day) every 50 batches: column families appear while
       * readers run. */
      uint64_t start = T0 + (uint64_t)(b / 50) * 86400 * SEC + tid * 1000;
      for (int k = 0; k < 4; k++)
        sp[t * 4 + k] = fx_span(tid, tid * 8 + (uint64_t)k, k ? tid * 8 : 0, k % 2 ? "q" : "p",
                                k % 2 ? &fx_res_backend : &fx_res_frontend, start + (uint64_t)k, 100);
    }
    CHECK_EQ(cs_store_write(c.st, sp, TRACES * 4), 0);
    atomic_store(&c.written, (uint64_t)(b + 1) * TRACES);
    if (b == 0)
      for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, conc_reader, &c);
  }
  atomic_store(&c.stop, 1);
  for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
  CHECK_EQ(atomic_load(&c.bad), 0);
  cs_store_close(c.st);
  fx_rmrf(dir);
}

int main(void) {
  RUN(store_write_then_read_every_api);
  RUN(store_session_index_lists_oldest_first);
  RUN(store_summary_merges_across_batches);
  RUN(store_summary_names_trace_without_root);
  RUN(store_resent_batch_is_harmless);
  RUN(store_retention_removes_expired_data);
  RUN(store_secondary_catches_up);
  RUN(store_corrupt_value_returns_ecorrupt);
  RUN(store_write_survives_kill_9);
  RUN(store_one_writer_many_readers);
  RUN(store_global_strings_survive_restart_and_reach_secondary);
  return CHECK_DONE();
}
