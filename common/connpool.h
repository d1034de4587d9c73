/* Admission of a listener's connections (native TCP and the HTTP
 * receivers): a cap on all connections and one per source address. A
 * newcomer that meets either cap is still admitted when a connection in its
 * way can be given up, the one that has waited longest for its peer (idle,
 * or in the middle of a request that is taking too long); it is refused
 * only when every such connection is busy (its request is being served).
 * So a crowd of idle or slow peers cannot keep a real sender out, and one
 * source at its cap only ever displaces its own connections. */
#ifndef CS_CONNPOOL_H
#define CS_CONNPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Embedded in each connection; the owner keeps since_ms and busy true. */
typedef struct cs_pool_conn {
  struct cs_pool_conn *prev, *next;
  uint8_t addr[16];  /* source address, IPv4 as ::ffff:a.b.c.d */
  uint64_t since_ms; /* last time the peer made progress (accept, request done, bytes) */
  int busy;          /* being served: never displaced */
} cs_pool_conn;

typedef struct cs_connpool {
  cs_pool_conn *head;
  uint32_t n;
  uint32_t max_total;      /* >= 1 */
  uint32_t max_per_source; /* 0 = no per-source cap */
} cs_connpool;

/* What cs_connpool_admit decided. */
enum {
  CS_POOL_ROOM = 0,         /* under both caps */
  CS_POOL_EVICT = 1,        /* at the total cap: close *victim (still in the pool) first */
  CS_POOL_EVICT_SOURCE = 2, /* at the per-source cap: same */
  CS_POOL_FULL = -1,        /* at the total cap, every connection busy */
  CS_POOL_SOURCE_FULL = -2, /* at the per-source cap, all of that source's busy */
};

/* Fills addr (16 bytes) from an IPv4 or IPv6 socket address; zeros for
 * anything else. */
void cs_pool_addr(uint8_t addr[16], const struct sockaddr *sa);

/* Decides on a newcomer from addr. The victim, when there is one, is the
 * connection with the oldest since_ms that is not busy, among the
 * source's own connections when the per-source cap is what is reached.
 * Thread-safety: one pool, one thread. O(n). */
int cs_connpool_admit(const cs_connpool *p, const uint8_t addr[16], cs_pool_conn **victim);

void cs_connpool_add(cs_connpool *p, cs_pool_conn *e);
/* Removes e; safe to call for an entry that is not in the pool. */
void cs_connpool_remove(cs_connpool *p, cs_pool_conn *e);

#endif
