/* See connpool.h: connection caps in total and per source address, and the
 * choice of the connection to give up for a newcomer. */
#include "connpool.h"

#include <netinet/in.h>
#include <string.h>

void cs_pool_addr(uint8_t addr[16], const struct sockaddr *sa) {
  memset(addr, 0, 16);
  if (sa->sa_family == AF_INET6) {
    memcpy(addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
  } else if (sa->sa_family == AF_INET) {
    addr[10] = addr[11] = 0xff;
    memcpy(addr + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
  }
}

static int older(const cs_pool_conn *a, const cs_pool_conn *best) {
  return !best || a->since_ms < best->since_ms;
}

int cs_connpool_admit(const cs_connpool *p, const uint8_t addr[16], cs_pool_conn **victim) {
  *victim = NULL;
  uint32_t same = 0;
  cs_pool_conn *oldest = NULL, *oldest_same = NULL;
  for (cs_pool_conn *e = p->head; e; e = e->next) {
    int mine = memcmp(e->addr, addr, 16) == 0;
    same += (uint32_t)mine;
    if (e->busy)
      continue;
    if (older(e, oldest))
      oldest = e;
    if (mine && older(e, oldest_same))
      oldest_same = e;
  }
  if (p->max_per_source && same >= p->max_per_source) {
    *victim = oldest_same;
    return oldest_same ? CS_POOL_EVICT_SOURCE : CS_POOL_SOURCE_FULL;
  }
  if (p->n >= p->max_total) {
    *victim = oldest;
    return oldest ? CS_POOL_EVICT : CS_POOL_FULL;
  }
  return CS_POOL_ROOM;
}

void cs_connpool_add(cs_connpool *p, cs_pool_conn *e) {
  e->prev = NULL;
  e->next = p->head;
  if (p->head)
    p->head->prev = e;
  p->head = e;
  p->n++;
}

void cs_connpool_remove(cs_connpool *p, cs_pool_conn *e) {
  if (!e->prev && p->head != e)
    return; /* not in the pool */
  if (e->prev)
    e->prev->next = e->next;
  else
    p->head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  e->prev = e->next = NULL;
  p->n--;
}
