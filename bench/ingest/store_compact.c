/* cs-store-compact: opens a collector's data directory through the storage
 * API, forces a full compaction, closes it and prints the bytes left on
 * disk, so the ingest benchmark can report bytes per span the same way for
 * every schema. Run it only while no collector has the directory open. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store.h"

/* Regular files under dir, recursively, except RocksDB's info logs. */
static uint64_t tree_bytes(const char *dir, int depth) {
  uint64_t total = 0;
  DIR *d = opendir(dir);
  if (!d || depth > 4) {
    if (d)
      closedir(d);
    return 0;
  }
  struct dirent *e;
  char path[4096];
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    struct stat st;
    int n = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (n < 0 || (size_t)n >= sizeof path || lstat(path, &st) != 0)
      continue;
    if (S_ISDIR(st.st_mode))
      total += tree_bytes(path, depth + 1);
    else if (S_ISREG(st.st_mode) && strncmp(e->d_name, "LOG", 3) != 0)
      total += (uint64_t)st.st_size;
  }
  closedir(d);
  return total;
}

int main(int argc, char **argv) {
  if (argc != 2 || argv[1][0] == '-') {
    fprintf(stderr, "usage: cs-store-compact DATA_DIR\n");
    return 2;
  }
  uint64_t before = tree_bytes(argv[1], 0);
  cs_store_opts o = {.dir = argv[1]};
  cs_store *st = NULL;
  char err[256] = "";
  int rc = cs_store_open(&o, &st, err, sizeof err);
  if (rc != CS_STORE_OK) {
    fprintf(stderr, "cs-store-compact: cannot open %s: %s %s\n", argv[1], cs_store_strerror(rc),
            err);
    return 1;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  rc = cs_store_compact(st);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  cs_store_stats s;
  cs_store_get_stats(st, &s);
  cs_store_close(st);
  if (rc != CS_STORE_OK) {
    fprintf(stderr, "cs-store-compact: compaction failed: %s\n", cs_store_strerror(rc));
    return 1;
  }
  uint64_t after = tree_bytes(argv[1], 0);
  printf("result mode=compact before_bytes=%llu disk_bytes=%llu sst_bytes=%llu "
         "spans_written=%llu secs=%.3f\n",
         (unsigned long long)before, (unsigned long long)after,
         (unsigned long long)s.live_sst_bytes, (unsigned long long)s.spans_written,
         (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
  return 0;
}
