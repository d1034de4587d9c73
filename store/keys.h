/* Key layouts of the store (docs/storage.md has the table and the reasons).
 * Every key opens with a type byte and a format version byte; every
 * variable-length field is varint-length-prefixed, so no two field splits
 * encode to the same bytes; timestamps are big-endian, inverted where an
 * index must list newest first. */
#ifndef CS_STORE_KEYS_H
#define CS_STORE_KEYS_H

#include "codec.h"

#define CS__KEY_VERSION 1
/* Posting-list keys (SERVICE, OP, ATTR, SESSION) are at version 2 since
 * their values hold whole trace IDs (posting.h); version 1 keys of older
 * databases are ignored by readers. */
#define CS__POSTING_KEY_VERSION 2

enum cs__key_type {
  /* Per time bucket (one column family per bucket). */
  CS__K_CHUNK = 0x01,    /* trace, chunk id -> spans of one trace from one batch */
  CS__K_SUMMARY = 0x02,  /* trace -> merged summary (merge operator) */
  CS__K_ALL = 0x10,      /* inverted start, trace */
  CS__K_SERVICE = 0x11,  /* service, inverted slot -> postings (posting.h) */
  CS__K_OP = 0x12,       /* service, operation, inverted slot -> postings */
  CS__K_ATTR = 0x13,     /* key, value, inverted slot -> postings */
  CS__K_SESSION = 0x14,  /* session ID, slot (oldest first) -> postings */
  CS__K_DURATION = 0x15, /* duration, start, trace */
  CS__K_STATS = 0x20,    /* service, minute, operation, kind -> stats row (stats.c) */
  /* In the default column family, never expired. */
  CS__K_SVCNAME = 0x30,  /* service */
  CS__K_OPNAME = 0x31,   /* service, operation, span kind */
  CS__K_GDICT = 0x32,    /* ID (4 bytes) -> string of the global dictionary (gdict.h) */
};

typedef struct cs__key {
  uint8_t type;
  uint8_t trace_id[16];
  uint64_t chunk_id;    /* CHUNK */
  uint64_t start_ns;    /* ALL, DURATION (stored inverted where newest first) */
  uint64_t slot;        /* posting keys: start_ns >> CS__SLOT_SHIFT */
  uint64_t duration_ns; /* DURATION */
  cs_str a, b;          /* SERVICE: a; OP, OPNAME: a/b; ATTR: key/value; SESSION: a */
  uint8_t kind;         /* OPNAME */
} cs__key;

/* Appends the whole key. */
void cs__key_encode(cs_buf *b, const cs__key *k);

/* Appends the part of the key shared by all entries of one index prefix
 * (type, version and the variable fields), the seek start of a scan. */
void cs__key_encode_prefix(cs_buf *b, const cs__key *k);

/* The format version byte keys of this type are written with. */
uint8_t cs__key_version(uint8_t type);

/* True for the posting-list index types (SERVICE, OP, ATTR, SESSION). */
int cs__key_is_posting(uint8_t type);

/* True when the index lists newest first (its time field is inverted). */
int cs__key_newest_first(uint8_t type);

/* Parses a key; strings point into the key bytes. 0 on success, -1 when the
 * bytes are not a well-formed key of a known type and version. */
int cs__key_decode(const void *p, size_t n, cs__key *k);

#endif
