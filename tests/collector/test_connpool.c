/* connpool.c: who is displaced when a newcomer meets the total or the
 * per-source cap, and when a newcomer is refused. */
#include <arpa/inet.h>
#include <string.h>

#include "check.h"
#include "connpool.h"

static void addr4(uint8_t out[16], const char *ip) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  inet_pton(AF_INET, ip, &sa.sin_addr);
  cs_pool_addr(out, (struct sockaddr *)&sa);
}

static void connpool_admits_under_the_caps(void) {
  cs_connpool p = {.max_total = 3, .max_per_source = 2};
  cs_pool_conn a = {.since_ms = 10};
  addr4(a.addr, "10.0.0.1");
  cs_pool_conn *v = (cs_pool_conn *)1;
  CHECK_EQ(cs_connpool_admit(&p, a.addr, &v), CS_POOL_ROOM);
  CHECK(v == NULL);
  cs_connpool_add(&p, &a);
  CHECK_EQ(p.n, 1);
  cs_connpool_remove(&p, &a);
  cs_connpool_remove(&p, &a); /* twice is harmless */
  CHECK_EQ(p.n, 0);
  CHECK(p.head == NULL);
}

static void connpool_per_source_cap_displaces_only_that_source(void) {
  cs_connpool p = {.max_total = 10, .max_per_source = 2};
  cs_pool_conn x1 = {.since_ms = 5}, y1 = {.since_ms = 20}, y2 = {.since_ms = 30};
  addr4(x1.addr, "10.0.0.9");
  addr4(y1.addr, "10.0.0.2");
  addr4(y2.addr, "10.0.0.2");
  cs_connpool_add(&p, &x1);
  cs_connpool_add(&p, &y1);
  cs_connpool_add(&p, &y2);
  uint8_t y[16];
  addr4(y, "10.0.0.2");
  cs_pool_conn *v;
  /* x1 is older, but only y's own connections are in y's way. */
  CHECK_EQ(cs_connpool_admit(&p, y, &v), CS_POOL_EVICT_SOURCE);
  CHECK(v == &y1);
  y1.busy = 1;
  CHECK_EQ(cs_connpool_admit(&p, y, &v), CS_POOL_EVICT_SOURCE);
  CHECK(v == &y2);
  y2.busy = 1;
  CHECK_EQ(cs_connpool_admit(&p, y, &v), CS_POOL_SOURCE_FULL);
  CHECK(v == NULL);
  uint8_t z[16];
  addr4(z, "10.0.0.3");
  CHECK_EQ(cs_connpool_admit(&p, z, &v), CS_POOL_ROOM);
}

static void connpool_total_cap_displaces_the_oldest_not_busy(void) {
  cs_connpool p = {.max_total = 3, .max_per_source = 0};
  cs_pool_conn c[3] = {{.since_ms = 300}, {.since_ms = 100}, {.since_ms = 200}};
  for (int i = 0; i < 3; i++) {
    addr4(c[i].addr, i ? "10.0.0.1" : "10.0.0.7");
    cs_connpool_add(&p, &c[i]);
  }
  uint8_t n[16];
  addr4(n, "10.0.0.5");
  cs_pool_conn *v;
  CHECK_EQ(cs_connpool_admit(&p, n, &v), CS_POOL_EVICT);
  CHECK(v == &c[1]);
  c[1].busy = 1;
  CHECK_EQ(cs_connpool_admit(&p, n, &v), CS_POOL_EVICT);
  CHECK(v == &c[2]);
  c[0].busy = c[2].busy = 1;
  CHECK_EQ(cs_connpool_admit(&p, n, &v), CS_POOL_FULL);
  cs_connpool_remove(&p, &c[0]);
  CHECK_EQ(cs_connpool_admit(&p, n, &v), CS_POOL_ROOM);
}

static void connpool_ipv4_and_ipv6_sources_differ(void) {
  struct sockaddr_in6 s6;
  memset(&s6, 0, sizeof s6);
  s6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::1", &s6.sin6_addr);
  uint8_t a[16], b[16];
  cs_pool_addr(a, (struct sockaddr *)&s6);
  addr4(b, "127.0.0.1");
  CHECK(memcmp(a, b, 16) != 0);
  CHECK_EQ(b[10], 0xff);
  CHECK_EQ(b[15], 1);
}

int main(void) {
  RUN(connpool_admits_under_the_caps);
  RUN(connpool_per_source_cap_displaces_only_that_source);
  RUN(connpool_total_cap_displaces_the_oldest_not_busy);
  RUN(connpool_ipv4_and_ipv6_sources_differ);
  return CHECK_DONE();
}
