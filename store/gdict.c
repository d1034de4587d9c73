/* The global string dictionary (gdict.h). Keys: type 0x32, version, ID as
 * 4 big-endian bytes; value: the string. An entry is written in the same
 * WriteBatch as the first chunk that refers to it, so no reader (nor a
 * secondary after catching up) can see the reference without the entry. */
#include "gdict.h"

#include <stdlib.h>
#include <string.h>

#include "keys.h"

static void key_of(uint32_t id, uint8_t k[6]) {
  k[0] = CS__K_GDICT;
  k[1] = CS__KEY_VERSION;
  k[2] = (uint8_t)(id >> 24);
  k[3] = (uint8_t)(id >> 16);
  k[4] = (uint8_t)(id >> 8);
  k[5] = (uint8_t)id;
}

cs__gdict *cs__gdict_new(void) {
  cs__gdict *g = calloc(1, sizeof(*g));
  if (!g) return NULL;
  g->nmap = (size_t)CS__GDICT_MAX * 2;
  g->map = calloc(g->nmap, sizeof(uint32_t));
  g->maph = calloc(g->nmap, sizeof(uint64_t));
  if (!g->map || !g->maph) {
    free(g->map);
    free(g->maph);
    free(g);
    return NULL;
  }
  pthread_mutex_init(&g->mu, NULL);
  return g;
}

void cs__gdict_free(cs__gdict *g) {
  if (!g) return;
  for (uint32_t i = 0; i < CS__GDICT_MAX; i++)
    if (atomic_load(&g->ready[i])) free((void *)g->str[i].p);
  for (uint32_t i = 0; i < g->npending; i++) free(g->pending_str[i]);
  free(g->map);
  free(g->maph);
  pthread_mutex_destroy(&g->mu);
  free(g);
}

/* The writer's view of an ID's string: published, or pending. */
static cs_str writer_str(const cs__gdict *g, uint32_t id) {
  if (id >= g->first_pending && id - g->first_pending < g->npending) {
    const char *p = g->pending_str[id - g->first_pending];
    return (cs_str){p, (uint32_t)strlen(p)};
  }
  return g->str[id];
}

static void map_insert(cs__gdict *g, uint64_t h, uint32_t id) {
  size_t j = h & (g->nmap - 1);
  while (g->map[j]) j = (j + 1) & (g->nmap - 1);
  g->map[j] = id + 1;
  g->maph[j] = h;
}

static int publish(cs__gdict *g, uint32_t id, const char *s, size_t n) {
  char *copy = malloc(n + 1);
  if (!copy) return -1;
  memcpy(copy, s, n);
  copy[n] = 0;
  pthread_mutex_lock(&g->mu);
  if (!atomic_load(&g->ready[id])) {
    g->str[id] = (cs_str){copy, (uint32_t)n};
    atomic_store_explicit(&g->ready[id], 1, memory_order_release);
    copy = NULL;
  }
  pthread_mutex_unlock(&g->mu);
  free(copy);
  return 0;
}

int cs__gdict_load(cs__gdict *g, rocksdb_t *db, rocksdb_column_family_handle_t *cf,
                   const rocksdb_readoptions_t *ro) {
  const uint8_t pfx[2] = {CS__K_GDICT, CS__KEY_VERSION};
  rocksdb_iterator_t *it = rocksdb_create_iterator_cf(db, ro, cf);
  int rc = 0;
  for (rocksdb_iter_seek(it, (const char *)pfx, 2); rocksdb_iter_valid(it);
       rocksdb_iter_next(it)) {
    size_t kn, vn;
    const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kn);
    if (kn < 2 || memcmp(k, pfx, 2) != 0) break;
    const char *v = rocksdb_iter_value(it, &vn);
    if (kn != 6 || vn > CS__GDICT_MAX_LEN || memchr(v, 0, vn)) continue; /* not ours */
    uint32_t id = (uint32_t)k[2] << 24 | (uint32_t)k[3] << 16 | (uint32_t)k[4] << 8 | k[5];
    if (id >= CS__GDICT_MAX) continue;
    if (publish(g, id, v, vn)) {
      rc = -1;
      break;
    }
    if (g->map) map_insert(g, cs__hash(v, vn, 0), id);
    if (id + 1 > g->next_id) g->next_id = id + 1;
  }
  rocksdb_iter_destroy(it);
  g->first_pending = g->next_id;
  return rc;
}

long cs__gdict_find(cs__gdict *g, cs_str s, uint64_t h) {
  if (s.n > CS__GDICT_MAX_LEN || s.n == 0) return -1;
  size_t j = h & (g->nmap - 1);
  while (g->map[j]) {
    uint32_t id = g->map[j] - 1;
    if (g->maph[j] == h && cs__str_eq(writer_str(g, id), s)) return id;
    j = (j + 1) & (g->nmap - 1);
  }
  /* Not (yet) global: count the sighting. A direct-mapped counter keeps
   * the frequent strings and lets rare ones evict each other. */
  size_t c = h & (CS__GDICT_CAND - 1);
  uint32_t tag = (uint32_t)(h >> 32);
  if (g->cand_tag[c] != tag) {
    g->cand_tag[c] = tag;
    g->cand_cnt[c] = 1;
    return -1;
  }
  if (++g->cand_cnt[c] < CS__GDICT_PROMOTE) return -1;
  if (g->next_id >= CS__GDICT_MAX || memchr(s.p, 0, s.n)) return -1;
  char *copy = malloc(s.n + 1);
  if (!copy) return -1;
  memcpy(copy, s.p, s.n);
  copy[s.n] = 0;
  uint32_t id = g->next_id++;
  g->pending_str[g->npending] = copy;
  g->pending[g->npending++] = id;
  map_insert(g, h, id);
  g->cand_tag[c] = 0;
  return id;
}

void cs__gdict_put_pending(cs__gdict *g, rocksdb_writebatch_t *wb,
                           rocksdb_column_family_handle_t *cf) {
  for (uint32_t i = 0; i < g->npending; i++) {
    uint8_t k[6];
    key_of(g->pending[i], k);
    rocksdb_writebatch_put_cf(wb, cf, (const char *)k, 6, g->pending_str[i],
                              strlen(g->pending_str[i]));
  }
}

void cs__gdict_commit(cs__gdict *g, int ok) {
  if (ok) {
    for (uint32_t i = 0; i < g->npending; i++) {
      if (publish(g, g->pending[i], g->pending_str[i], strlen(g->pending_str[i])))
        ok = 0; /* out of memory: readers will fetch it from the database */
      free(g->pending_str[i]);
    }
    g->npending = 0;
    g->first_pending = g->next_id;
    return;
  }
  /* The batch never reached the database: drop the pending IDs from the
   * writer's map (rebuilt from the published entries) and reuse them. */
  for (uint32_t i = 0; i < g->npending; i++) free(g->pending_str[i]);
  g->npending = 0;
  g->next_id = g->first_pending;
  memset(g->map, 0, g->nmap * sizeof(uint32_t));
  for (uint32_t id = 0; id < g->next_id; id++)
    if (atomic_load(&g->ready[id])) map_insert(g, cs__hash(g->str[id].p, g->str[id].n, 0), id);
}

int cs__gdict_get(cs__gdict *g, rocksdb_t *db, rocksdb_column_family_handle_t *cf,
                  const rocksdb_readoptions_t *ro, uint32_t id, cs_str *out) {
  if (id >= CS__GDICT_MAX) return -1;
  if (atomic_load_explicit(&g->ready[id], memory_order_acquire)) {
    *out = g->str[id];
    return 0;
  }
  uint8_t k[6];
  key_of(id, k);
  char *e = NULL;
  size_t vn = 0;
  char *v = rocksdb_get_cf(db, ro, cf, (const char *)k, 6, &vn, &e);
  if (e) {
    free(e);
    return -1;
  }
  if (!v) return -1;
  int rc = vn > CS__GDICT_MAX_LEN ? -1 : publish(g, id, v, vn);
  free(v);
  if (rc) return -1;
  *out = g->str[id];
  return 0;
}
