/* A chunk is the stored value holding the spans of one trace that arrived in
 * one write batch: a per-chunk string dictionary, timestamps delta-coded
 * against the chunk's earliest start, varints everywhere, parents referenced
 * by position when they are in the same chunk. Layout in docs/storage.md.
 *
 * Trusted sizes on decode: none from the value (RocksDB holds what an older
 * or damaged writer put there). Counts of strings, resources and spans are
 * checked against the bytes left (each needs at least one) and the caller's
 * cap before anything is allocated; string and dictionary references are
 * checked against the dictionary; every read goes through cs__rd
 * (store/codec.h). A bad value is CS_STORE_ECORRUPT, never a partial trace. */
#ifndef CS_STORE_CHUNK_H
#define CS_STORE_CHUNK_H

#include "arena.h"
#include "codec.h"
#include "gdict.h"

#define CS__CHUNK_VERSION 1

/* Reusable encoder state (string dictionary and span-ID table); owned by the
 * writer thread. */
typedef struct cs__chunk_enc cs__chunk_enc;

/* gd: the global dictionary to use and grow (NULL: chunk-local strings). */
cs__chunk_enc *cs__chunk_enc_new(cs__gdict *gd);
void cs__chunk_enc_free(cs__chunk_enc *e);

/* Encodes spans[0..n) (all of one trace) into out (appended). Returns 0,
 * CS_STORE_EINVAL for an attribute of unknown type, CS_STORE_ENOMEM. */
int cs__chunk_encode(cs__chunk_enc *e, const cs_span *const *spans, size_t n, cs_buf *out);

/* Number of spans a chunk holds, read from its header; -1 when corrupt. */
long cs__chunk_count(const void *v, size_t n);

/* Where the decoder finds global strings: get returns 0 and the string
 * (which must outlive the results), or -1 for an unknown ID. */
typedef struct cs__strsrc {
  int (*get)(void *ud, uint32_t id, cs_str *out);
  void *ud;
} cs__strsrc;

/* Decodes a chunk into out[0..count). The bytes at v must live as long as
 * the results (strings point into them); other memory comes from a.
 * Returns 0, CS_STORE_ECORRUPT (also for an unknown global string) or
 * CS_STORE_ELIMIT (arena full). */
int cs__chunk_decode(const void *v, size_t n, cs_arena *a, const cs__strsrc *gs, cs_span *out,
                     size_t cap, size_t *count);

#endif
