/* The global string dictionary: strings that keep coming back in chunk
 * after chunk (attribute keys, span names, services, resource attributes,
 * common values) get a permanent ID, stored once in the default column
 * family, so chunks refer to them instead of repeating them in their own
 * dictionaries. IDs are assigned by the writer only and never change or
 * go away; readers keep every string they have seen for the life of the
 * store. Layout in docs/storage.md. */
#ifndef CS_STORE_GDICT_H
#define CS_STORE_GDICT_H

#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>

#include "codec.h"

#define CS__GDICT_MAX 65536      /* IDs 0 .. CS__GDICT_MAX - 1 */
#define CS__GDICT_MAX_LEN 64     /* longer strings stay chunk-local */
#define CS__GDICT_PROMOTE 4      /* chunks a string must appear in first */
#define CS__GDICT_CAND 65536     /* candidate counters (direct-mapped) */

typedef struct cs__gdict {
  /* Shared with readers: str[id] is valid once ready[id] is set. */
  pthread_mutex_t mu; /* serialises filling slots */
  _Atomic uint8_t ready[CS__GDICT_MAX];
  cs_str str[CS__GDICT_MAX];

  /* Writer only. */
  uint32_t next_id;
  uint32_t *map; /* open addressing: id + 1, keyed by string hash */
  size_t nmap;
  uint64_t *maph; /* hash of map slot's string */
  uint32_t cand_tag[CS__GDICT_CAND];
  uint8_t cand_cnt[CS__GDICT_CAND];
  uint32_t pending[CS__GDICT_MAX]; /* IDs promoted in the batch being built */
  char *pending_str[CS__GDICT_MAX];
  uint32_t npending, first_pending;
} cs__gdict;

cs__gdict *cs__gdict_new(void);
void cs__gdict_free(cs__gdict *g);

/* Loads every stored entry (at open): readers see them, the writer will
 * not assign them again. */
int cs__gdict_load(cs__gdict *g, rocksdb_t *db, rocksdb_column_family_handle_t *cf,
                   const rocksdb_readoptions_t *ro);

/* Writer: the ID of s (hash h) if it has one, possibly assigning one now
 * to a string seen in enough chunks; -1 when s stays chunk-local. Counts
 * one sighting per call: call once per chunk and string. */
long cs__gdict_find(cs__gdict *g, cs_str s, uint64_t h);

/* Writer: adds the entries promoted since the last call to wb. */
void cs__gdict_put_pending(cs__gdict *g, rocksdb_writebatch_t *wb,
                           rocksdb_column_family_handle_t *cf);

/* Writer: after the batch committed (ok) publishes the pending entries;
 * after a failed write forgets them so their IDs are assigned again. */
void cs__gdict_commit(cs__gdict *g, int ok);

/* Reader: the string of id, from memory or else from the database. 0, or
 * -1 when no such entry is stored (a corrupt reference). */
int cs__gdict_get(cs__gdict *g, rocksdb_t *db, rocksdb_column_family_handle_t *cf,
                  const rocksdb_readoptions_t *ro, uint32_t id, cs_str *out);

#endif
