/* The connection guard (common/connguard.c), without its thread: head and
 * body deadlines count from the start of the wait, not the last byte;
 * caps evict the oldest waiting connection and refuse only when every
 * connection is busy. Connections are socket pairs; "closed" means the
 * guard shut our end down, so the peer reads end of stream. */
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include "check.h"
#include "connguard.h"

typedef struct pair {
  int ours, peer;
} pair;

static pair mkpair(void) {
  int sv[2] = {-1, -1};
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  return (pair){sv[0], sv[1]};
}

/* 1 when the guard shut our end down (the peer sees end of stream). */
static int is_shut(const pair *p) {
  struct pollfd pf = {p->peer, POLLIN, 0};
  if (poll(&pf, 1, 0) <= 0)
    return 0;
  char c;
  return read(p->peer, &c, 1) == 0;
}

static void unpair(pair *p) {
  close(p->ours);
  close(p->peer);
}

static struct sockaddr_in v4(uint32_t a) {
  struct sockaddr_in s = {.sin_family = AF_INET};
  s.sin_addr.s_addr = htonl(a);
  return s;
}

#define SA(x) ((const struct sockaddr *)&(x)), sizeof(x)
#define SEC 1000000000ull

static cs_connguard *mkguard(unsigned max, unsigned per_addr) {
  cs_cg_opts o = {.max_conns = max,
                  .max_per_addr = per_addr,
                  .head_ns = 10 * SEC,
                  .body_ns = 5 * SEC,
                  .component = "test",
                  .no_thread = 1};
  cs_connguard *g = cs_cg_new(&o);
  CHECK(g != NULL);
  return g;
}

/* A guard with one connection from 127.0.0.1. */
static cs_connguard *guard_with_one(pair *p, cs_cg_conn **c) {
  cs_connguard *g = mkguard(8, 8);
  struct sockaddr_in a = v4(0x7f000001);
  *p = mkpair();
  *c = cs_cg_open(g, p->ours, SA(a));
  CHECK(*c != NULL);
  return g;
}

static void connguard_head_deadline_counts_from_accept(void) {
  uint64_t t0 = cs_cg_now_ns();
  pair p;
  cs_cg_conn *c;
  cs_connguard *g = guard_with_one(&p, &c);
  uint64_t next = cs_cg_sweep(g, t0 + 9 * SEC);
  CHECK_EQ(is_shut(&p), 0);
  CHECK(next >= t0 + 10 * SEC && next < t0 + 11 * SEC);
  cs_cg_sweep(g, t0 + 11 * SEC);
  CHECK_EQ(is_shut(&p), 1);
  cs_cg_stats s;
  cs_cg_get_stats(g, &s);
  CHECK_EQ(s.head_timeouts, 1);
  CHECK_EQ(s.open, 1); /* until the server reports the close */
  cs_cg_close(g, c);
  cs_cg_get_stats(g, &s);
  CHECK_EQ(s.open, 0);
  unpair(&p);
  cs_cg_free(g);
}

static void connguard_busy_request_has_no_deadline_and_answer_restarts_it(void) {
  pair p;
  cs_cg_conn *c;
  cs_connguard *g = guard_with_one(&p, &c);
  cs_cg_head_done(g, c, 0);
  uint64_t t0 = cs_cg_now_ns();
  CHECK_EQ(cs_cg_sweep(g, t0 + 3600 * SEC), UINT64_MAX);
  CHECK_EQ(is_shut(&p), 0);
  cs_cg_answered(g, c); /* keep-alive: waiting for the next head */
  t0 = cs_cg_now_ns();
  cs_cg_sweep(g, t0 + 9 * SEC);
  CHECK_EQ(is_shut(&p), 0);
  cs_cg_sweep(g, t0 + 11 * SEC);
  CHECK_EQ(is_shut(&p), 1);
  cs_cg_close(g, c);
  unpair(&p);
  cs_cg_free(g);
}

static void connguard_body_deadline_counts_from_head(void) {
  pair p;
  cs_cg_conn *c;
  cs_connguard *g = guard_with_one(&p, &c);
  uint64_t t0 = cs_cg_now_ns();
  cs_cg_head_done(g, c, 1);
  cs_cg_sweep(g, t0 + 4 * SEC);
  CHECK_EQ(is_shut(&p), 0);
  cs_cg_sweep(g, t0 + 6 * SEC);
  CHECK_EQ(is_shut(&p), 1);
  cs_cg_stats s;
  cs_cg_get_stats(g, &s);
  CHECK_EQ(s.body_timeouts, 1);
  CHECK_EQ(s.head_timeouts, 0);
  cs_cg_close(g, c);
  unpair(&p);
  cs_cg_free(g);
}

static void connguard_total_cap_evicts_the_oldest_waiting(void) {
  cs_connguard *g = mkguard(4, 100);
  pair p[6];
  cs_cg_conn *c[6];
  for (int i = 0; i < 4; i++) {
    struct sockaddr_in a = v4(0x0a000001u + (uint32_t)i);
    p[i] = mkpair();
    c[i] = cs_cg_open(g, p[i].ours, SA(a));
    CHECK(c[i] != NULL);
    usleep(1000); /* distinct ages */
  }
  cs_cg_head_done(g, c[0], 0); /* busy: never evicted */
  struct sockaddr_in a = v4(0x0a0000ffu);
  p[4] = mkpair();
  c[4] = cs_cg_open(g, p[4].ours, SA(a));
  CHECK(c[4] != NULL);
  CHECK_EQ(is_shut(&p[0]), 0);
  CHECK_EQ(is_shut(&p[1]), 1); /* the oldest waiting one */
  CHECK_EQ(is_shut(&p[2]), 0);
  CHECK_EQ(is_shut(&p[3]), 0);
  CHECK_EQ(is_shut(&p[4]), 0);
  cs_cg_stats s;
  cs_cg_get_stats(g, &s);
  CHECK_EQ(s.evicted, 1);
  CHECK_EQ(s.refused_total, 0);
  for (int i = 0; i < 5; i++) {
    cs_cg_close(g, c[i]);
    unpair(&p[i]);
  }
  cs_cg_free(g);
}

static void connguard_refuses_only_when_all_are_busy(void) {
  cs_connguard *g = mkguard(3, 100);
  struct sockaddr_in a = v4(0x7f000001);
  pair p[4];
  cs_cg_conn *c[4];
  for (int i = 0; i < 3; i++) {
    p[i] = mkpair();
    c[i] = cs_cg_open(g, p[i].ours, SA(a));
    cs_cg_head_done(g, c[i], 0);
  }
  p[3] = mkpair();
  c[3] = cs_cg_open(g, p[3].ours, SA(a));
  CHECK(c[3] == NULL);
  CHECK_EQ(is_shut(&p[3]), 1);
  for (int i = 0; i < 3; i++)
    CHECK_EQ(is_shut(&p[i]), 0);
  cs_cg_stats s;
  cs_cg_get_stats(g, &s);
  CHECK_EQ(s.refused_total, 1);
  CHECK_EQ(s.evicted, 0);
  CHECK_EQ(s.open, 3);
  for (int i = 0; i < 4; i++) {
    cs_cg_close(g, c[i]); /* NULL is ignored */
    unpair(&p[i]);
  }
  cs_cg_get_stats(g, &s);
  CHECK_EQ(s.open, 0);
  cs_cg_free(g);
}

static void connguard_per_addr_cap_evicts_within_the_address(void) {
  cs_connguard *g = mkguard(100, 2);
  struct sockaddr_in a = v4(0x0a000001), b = v4(0x0a000002);
  struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
  a6.sin6_addr.s6_addr[10] = a6.sin6_addr.s6_addr[11] = 0xff; /* ::ffff:10.0.0.1 is a */
  a6.sin6_addr.s6_addr[12] = 10;
  a6.sin6_addr.s6_addr[15] = 1;
  pair pb = mkpair(), p1 = mkpair(), p2 = mkpair(), p3 = mkpair(), p4 = mkpair();
  cs_cg_conn *cb = cs_cg_open(g, pb.ours, SA(b));
  usleep(1000);
  cs_cg_conn *c1 = cs_cg_open(g, p1.ours, SA(a));
  usleep(1000);
  cs_cg_conn *c2 = cs_cg_open(g, p2.ours, SA(a));
  usleep(1000);
  cs_cg_conn *c3 = cs_cg_open(g, p3.ours, SA(a6));
  CHECK(c3 != NULL);
  CHECK_EQ(is_shut(&pb), 0); /* older, but another address */
  CHECK_EQ(is_shut(&p1), 1);
  CHECK_EQ(is_shut(&p2), 0);
  /* Both of a's live connections busy: the next one from a is refused. */
  cs_cg_head_done(g, c2, 0);
  cs_cg_head_done(g, c3, 0);
  cs_cg_conn *c4 = cs_cg_open(g, p4.ours, SA(a));
  CHECK(c4 == NULL);
  CHECK_EQ(is_shut(&p4), 1);
  cs_cg_stats s;
  cs_cg_get_stats(g, &s);
  CHECK_EQ(s.evicted, 1);
  CHECK_EQ(s.refused_per_addr, 1);
  cs_cg_close(g, cb);
  cs_cg_close(g, c1);
  cs_cg_close(g, c2);
  cs_cg_close(g, c3);
  unpair(&pb), unpair(&p1), unpair(&p2), unpair(&p3), unpair(&p4);
  cs_cg_free(g);
}

/* With its thread, the guard closes a stalled head by itself. */
static void connguard_thread_closes_stalled_heads(void) {
  cs_cg_opts o = {.max_conns = 4, .head_ns = 200000000ull, .component = "test"};
  cs_connguard *g = cs_cg_new(&o);
  CHECK(g != NULL);
  struct sockaddr_in a = v4(0x7f000001);
  pair p = mkpair();
  cs_cg_conn *c = cs_cg_open(g, p.ours, SA(a));
  struct pollfd pf = {p.peer, POLLIN, 0};
  CHECK_EQ(poll(&pf, 1, 5000), 1);
  CHECK_EQ(is_shut(&p), 1);
  cs_cg_close(g, c);
  unpair(&p);
  cs_cg_free(g);
}

int main(void) {
  RUN(connguard_head_deadline_counts_from_accept);
  RUN(connguard_busy_request_has_no_deadline_and_answer_restarts_it);
  RUN(connguard_body_deadline_counts_from_head);
  RUN(connguard_total_cap_evicts_the_oldest_waiting);
  RUN(connguard_refuses_only_when_all_are_busy);
  RUN(connguard_per_addr_cap_evicts_within_the_address);
  RUN(connguard_thread_closes_stalled_heads);
  return cs_check_failures != 0;
}
