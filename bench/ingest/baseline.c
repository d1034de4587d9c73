/* cs-ingest-baseline: the reference point of the ingest benchmark. The same
 * workload spans written with the simplest per-span schema straight into
 * RocksDB: one key per span plus 4 value-less index keys per span (service,
 * service+operation, session ID, service+duration), 1000 spans per
 * WriteBatch, default RocksDB options. Prints spans/s and bytes on disk per
 * span after a full compaction. It touches RocksDB directly on purpose: it is
 * what the product's schema is measured against, not product code. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <rocksdb/c.h>

#include "workload.h"

typedef struct buf {
  uint8_t *p;
  size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->n + n)
      cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
      fprintf(stderr, "baseline: out of memory\n");
      exit(1);
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
}

static void put_u64be(buf *b, uint64_t v) {
  uint8_t x[8];
  for (int i = 0; i < 8; i++)
    x[i] = (uint8_t)(v >> (56 - 8 * i));
  put(b, x, 8);
}

static void put_u32(buf *b, uint32_t v) {
  put(b, &v, 4);
}

static void put_str(buf *b, cs_str s) {
  put_u32(b, s.n);
  put(b, s.p, s.n);
}

/* The simple span value: fixed fields, then length-prefixed strings and
 * attributes, no dictionary, no delta coding: what a first version writes. */
static void serialize(buf *b, const cs_span *s) {
  put(b, s->parent_id, 8);
  put(b, &s->start_ns, 8);
  put(b, &s->end_ns, 8);
  put(b, &s->kind, 1);
  put(b, &s->status_code, 1);
  put(b, &s->flags, 4);
  put_str(b, s->resource->service);
  put_str(b, s->name);
  put_str(b, s->status_msg);
  put_str(b, s->scope_name);
  put_str(b, s->scope_version);
  put_u32(b, s->resource->n_attrs);
  for (uint32_t i = 0; i < s->resource->n_attrs; i++) {
    put_str(b, s->resource->attrs[i].key);
    put_str(b, s->resource->attrs[i].v.s);
  }
  put_u32(b, s->n_attrs);
  for (uint32_t i = 0; i < s->n_attrs; i++) {
    const cs_attr *a = &s->attrs[i];
    put_str(b, a->key);
    put(b, &a->type, 1);
    if (a->type == CS_VAL_STR || a->type == CS_VAL_BYTES)
      put_str(b, a->v.s);
    else
      put(b, &a->v, 8);
  }
}

/* Index key: tag, length-prefixed fields, then newest first (inverted
 * start time), trace ID and span ID to make the key unique. */
static void index_key(buf *b, char tag, cs_str f1, cs_str f2, uint64_t order, const cs_span *s) {
  b->n = 0;
  put(b, &tag, 1);
  put_str(b, f1);
  if (f2.p)
    put_str(b, f2);
  put_u64be(b, order);
  put(b, s->trace_id, 16);
  put(b, s->span_id, 8);
}

static uint64_t dir_bytes(const char *dir, uint64_t *sst) {
  uint64_t total = 0;
  DIR *d = opendir(dir);
  if (!d)
    return 0;
  struct dirent *e;
  char path[4096];
  while ((e = readdir(d))) {
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
      continue;
    /* Info logs are not data. */
    if (strncmp(e->d_name, "LOG", 3) == 0)
      continue;
    total += (uint64_t)st.st_size;
    size_t l = strlen(e->d_name);
    if (l > 4 && strcmp(e->d_name + l - 4, ".sst") == 0)
      *sst += (uint64_t)st.st_size;
  }
  closedir(d);
  return total;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec * 1e-6;
}

static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  if (!s || *s < '0' || *s > '9')
    return -1;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end)
    return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  const char *dir = NULL;
  uint64_t spans = 300000, seed = 1, batch = 1000;
  for (int i = 1; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    int bad = 0;
    if (!strcmp(argv[i], "--dir"))
      dir = v;
    else if (!strcmp(argv[i], "--spans"))
      bad = parse_u64(v, &spans) || spans == 0;
    else if (!strcmp(argv[i], "--seed"))
      bad = parse_u64(v, &seed);
    else if (!strcmp(argv[i], "--batch"))
      bad = parse_u64(v, &batch) || batch == 0 || batch > 1000000;
    else {
      fprintf(stderr, "usage: cs-ingest-baseline --dir DIR [--spans N (300000)] [--batch N (1000)] "
                      "[--seed N]\nDIR must not exist or be empty; it is left behind.\n");
      return !strcmp(argv[i], "--help") ? 0 : 2;
    }
    if (bad || !v) {
      fprintf(stderr, "baseline: bad value for %s\n", argv[i]);
      return 2;
    }
    i++;
  }
  if (!dir) {
    fprintf(stderr, "baseline: --dir is required\n");
    return 2;
  }
  rocksdb_options_t *opts = rocksdb_options_create();
  rocksdb_options_set_create_if_missing(opts, 1);
  rocksdb_options_set_error_if_exists(opts, 1);
  char *err = NULL;
  rocksdb_t *db = rocksdb_open(opts, dir, &err);
  if (err) {
    fprintf(stderr, "baseline: cannot open %s: %s\n", dir, err);
    free(err);
    return 1;
  }
  rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
  rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
  cs_workload *w = malloc(sizeof *w);
  cs_arena arena;
  cs_arena_init(&arena, 1 << 20, (size_t)256 << 20);
  struct timespec rt;
  clock_gettime(CLOCK_REALTIME, &rt);
  cs_workload_init(w, seed, (uint64_t)rt.tv_sec * 1000000000ull);
  buf key = {0}, val = {0};
  uint64_t written = 0, value_bytes = 0;
  double t0 = now_s(), c0 = cpu_s();
  while (written < spans) {
    cs_span *s;
    cs_arena_reset(&arena);
    size_t n = cs_workload_batch(w, &arena, batch, &s);
    /* Exactly `batch` spans per WriteBatch: a trace may straddle two. */
    for (size_t i = 0; i < n && written < spans; i++) {
      uint8_t k[25] = {'S'};
      memcpy(k + 1, s[i].trace_id, 16);
      memcpy(k + 17, s[i].span_id, 8);
      val.n = 0;
      serialize(&val, &s[i]);
      value_bytes += val.n;
      rocksdb_writebatch_put(wb, (const char *)k, sizeof k, (const char *)val.p, val.n);
      uint64_t inv = ~s[i].start_ns;
      cs_str svc = s[i].resource->service, none = {0, 0};
      index_key(&key, 'V', svc, none, inv, &s[i]);
      rocksdb_writebatch_put(wb, (const char *)key.p, key.n, "", 0);
      index_key(&key, 'O', svc, s[i].name, inv, &s[i]);
      rocksdb_writebatch_put(wb, (const char *)key.p, key.n, "", 0);
      index_key(&key, 'A', CS_STR_LIT("session.id"), s[i].session_id, inv, &s[i]);
      rocksdb_writebatch_put(wb, (const char *)key.p, key.n, "", 0);
      index_key(&key, 'D', svc, none, s[i].end_ns - s[i].start_ns, &s[i]);
      rocksdb_writebatch_put(wb, (const char *)key.p, key.n, "", 0);
      written++;
      if (written % batch == 0 || written == spans) {
        rocksdb_write(db, wo, wb, &err);
        if (err) {
          fprintf(stderr, "baseline: write failed: %s\n", err);
          return 1;
        }
        rocksdb_writebatch_clear(wb);
      }
    }
  }
  double secs = now_s() - t0, cpu = cpu_s() - c0;
  rocksdb_compact_range(db, NULL, 0, NULL, 0);
  rocksdb_close(db);
  uint64_t sst = 0, total = dir_bytes(dir, &sst);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("baseline: %llu spans in %.2f s: %.0f spans/s, %.2f CPU s per million spans, "
         "%.1f bytes/span on disk after compaction (%.1f in SST files, values %.1f raw)\n",
         (unsigned long long)written, secs, (double)written / secs, cpu / (double)written * 1e6,
         (double)total / (double)written, (double)sst / (double)written,
         (double)value_bytes / (double)written);
  printf("result mode=baseline spans=%llu secs=%.3f spans_per_s=%.0f cpu_s=%.3f "
         "bytes_per_span=%.1f sst_bytes=%llu disk_bytes=%llu max_rss_kb=%ld\n",
         (unsigned long long)written, secs, (double)written / secs, cpu,
         (double)total / (double)written, (unsigned long long)sst, (unsigned long long)total,
         ru.ru_maxrss);
  rocksdb_writebatch_destroy(wb);
  rocksdb_writeoptions_destroy(wo);
  rocksdb_options_destroy(opts);
  cs_arena_release(&arena);
  free(w);
  free(key.p);
  free(val.p);
  return 0;
}
