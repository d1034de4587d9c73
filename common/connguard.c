/* The connection guard (see connguard.h): a fixed table of slots under
 * one lock, admission by the shared cs_connpool policy (connpool.h), and a
 * sweeper thread that sleeps until the earliest deadline. Slots the guard
 * has shut down leave the pool at once (they neither count nor can be
 * chosen again) but keep their slot until the server closes them. */
#include "connguard.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connpool.h"
#include "log.h"

enum { ST_FREE = 0, ST_HEAD, ST_BODY, ST_BUSY };

struct cs_cg_conn {
  cs_pool_conn pc; /* first: a victim of cs_connpool_admit is its cs_cg_conn */
  int state;
  int doomed; /* shut down by us, waiting for the server to close it */
  int fd;
  uint64_t since_ns; /* start of the current wait (head or body) */
};

#define LOG_LINES_PER_SEC 10

struct cs_connguard {
  cs_cg_opts o;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t th;
  int has_thread, stop;
  cs_cg_conn *slots;
  size_t n_slots;
  cs_connpool pool; /* live (not doomed) connections */
  cs_cg_stats st;
  cs_lograte log; /* taken under mu */
};

uint64_t cs_cg_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One line per event, at most LOG_LINES_PER_SEC a second; the count of
 * lines left out is told with the next line that is written. */
#define cg_log(g, now, ...)                                                                        \
  do {                                                                                             \
    if (CS_LOG_WARN >= cs_log_min_level && cg_log_ok((g), (now))) {                                \
      cs_log_write(CS_LOG_WARN, (g)->o.component, __VA_ARGS__);                                    \
    }                                                                                              \
  } while (0)

static int cg_log_ok(cs_connguard *g, uint64_t now) {
  uint64_t dropped;
  int ok = cs_lograte_take(&g->log, now / 1000000ull, LOG_LINES_PER_SEC, 1000, &dropped);
  if (dropped)
    cs_log_write(CS_LOG_WARN, g->o.component, "%llu connection log lines suppressed",
                 (unsigned long long)dropped);
  return ok;
}

static void *sweeper(void *arg);

cs_connguard *cs_cg_new(const cs_cg_opts *o) {
  cs_connguard *g = calloc(1, sizeof *g);
  if (!g)
    return NULL;
  g->o = *o;
  if (!g->o.max_conns)
    g->o.max_conns = 128;
  if (!g->o.max_per_addr)
    g->o.max_per_addr = 64;
  if (!g->o.head_ns)
    g->o.head_ns = 10000000000ull;
  if (!g->o.body_ns)
    g->o.body_ns = 10000000000ull;
  if (!g->o.component)
    g->o.component = "http";
  /* Room for the connections being closed on top of the open ones. */
  g->n_slots = (size_t)g->o.max_conns * 2 + 16;
  g->slots = calloc(g->n_slots, sizeof *g->slots);
  g->pool.max_total = g->o.max_conns;
  g->pool.max_per_source = g->o.max_per_addr;
  if (!g->slots)
    goto fail;
  pthread_mutex_init(&g->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&g->cv, &ca);
  pthread_condattr_destroy(&ca);
  if (!g->o.no_thread) {
    if (pthread_create(&g->th, NULL, sweeper, g)) {
      pthread_cond_destroy(&g->cv);
      pthread_mutex_destroy(&g->mu);
      goto fail;
    }
    g->has_thread = 1;
  }
  return g;
fail:
  free(g->slots);
  free(g);
  return NULL;
}

void cs_cg_free(cs_connguard *g) {
  if (!g)
    return;
  if (g->has_thread) {
    pthread_mutex_lock(&g->mu);
    g->stop = 1;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->th, NULL);
  }
  pthread_cond_destroy(&g->cv);
  pthread_mutex_destroy(&g->mu);
  free(g->slots);
  free(g);
}

/* Shuts a slot's connection down; the slot stays until cs_cg_close. */
static void doom(cs_connguard *g, cs_cg_conn *c) {
  c->doomed = 1;
  cs_connpool_remove(&g->pool, &c->pc);
  shutdown(c->fd, SHUT_RDWR);
}

cs_cg_conn *cs_cg_open(cs_connguard *g, int fd, const struct sockaddr *addr, socklen_t len) {
  uint8_t key[16] = {0};
  if (addr && ((addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) ||
               (addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6))))
    cs_pool_addr(key, addr);
  uint64_t now = cs_cg_now_ns();
  pthread_mutex_lock(&g->mu);
  cs_cg_conn *slot = NULL;
  for (size_t i = 0; i < g->n_slots && !slot; i++)
    if (g->slots[i].state == ST_FREE)
      slot = &g->slots[i];
  cs_pool_conn *victim = NULL;
  int rc = slot ? cs_connpool_admit(&g->pool, key, &victim) : CS_POOL_FULL;
  switch (rc) {
  case CS_POOL_EVICT_SOURCE:
    cg_log(g, now, "closing the oldest waiting connection of a source address at its cap of %u",
           g->o.max_per_addr);
    break;
  case CS_POOL_EVICT:
    cg_log(g, now, "closing the oldest waiting connection: %u open, limit %u", g->pool.n,
           g->o.max_conns);
    break;
  case CS_POOL_SOURCE_FULL:
    g->st.refused_per_addr++;
    cg_log(g, now, "connection refused: every connection of its address is busy, limit %u",
           g->o.max_per_addr);
    break;
  case CS_POOL_FULL:
    g->st.refused_total++;
    cg_log(g, now, "connection refused: every connection is busy, limit %u (%zu slots)",
           g->o.max_conns, g->n_slots);
    break;
  default: break;
  }
  if (victim) {
    doom(g, (cs_cg_conn *)victim);
    g->st.evicted++;
  }
  if (rc < 0) {
    pthread_mutex_unlock(&g->mu);
    shutdown(fd, SHUT_RDWR);
    return NULL;
  }
  memset(slot, 0, sizeof *slot);
  slot->state = ST_HEAD;
  slot->fd = fd;
  slot->since_ns = now;
  memcpy(slot->pc.addr, key, 16);
  slot->pc.since_ms = now / 1000000ull;
  cs_connpool_add(&g->pool, &slot->pc);
  g->st.accepted++;
  g->st.open++;
  pthread_mutex_unlock(&g->mu);
  return slot;
}

static void set_state(cs_connguard *g, cs_cg_conn *c, int state) {
  if (!c)
    return;
  uint64_t now = cs_cg_now_ns();
  pthread_mutex_lock(&g->mu);
  if (c->state != ST_FREE) {
    c->state = state;
    c->since_ns = now;
    c->pc.since_ms = now / 1000000ull;
    c->pc.busy = state == ST_BUSY;
  }
  pthread_mutex_unlock(&g->mu);
}

void cs_cg_head_done(cs_connguard *g, cs_cg_conn *c, int expect_body) {
  set_state(g, c, expect_body ? ST_BODY : ST_BUSY);
}

void cs_cg_body_done(cs_connguard *g, cs_cg_conn *c) {
  set_state(g, c, ST_BUSY);
}

void cs_cg_answered(cs_connguard *g, cs_cg_conn *c) {
  set_state(g, c, ST_HEAD);
}

void cs_cg_close(cs_connguard *g, cs_cg_conn *c) {
  if (!c)
    return;
  pthread_mutex_lock(&g->mu);
  if (c->state != ST_FREE) {
    if (!c->doomed)
      cs_connpool_remove(&g->pool, &c->pc);
    memset(c, 0, sizeof *c);
    g->st.open--;
  }
  pthread_mutex_unlock(&g->mu);
}

static uint64_t sweep_locked(cs_connguard *g, uint64_t now) {
  uint64_t next = UINT64_MAX;
  for (size_t i = 0; i < g->n_slots; i++) {
    cs_cg_conn *c = &g->slots[i];
    if ((c->state != ST_HEAD && c->state != ST_BODY) || c->doomed)
      continue;
    int head = c->state == ST_HEAD;
    uint64_t due = c->since_ns + (head ? g->o.head_ns : g->o.body_ns);
    if (due > now) {
      if (due < next)
        next = due;
      continue;
    }
    doom(g, c);
    if (head) {
      g->st.head_timeouts++;
      cg_log(g, now, "closing a connection: request head not complete within %llu ms",
             (unsigned long long)(g->o.head_ns / 1000000ull));
    } else {
      g->st.body_timeouts++;
      cg_log(g, now, "closing a connection: request body not complete within %llu ms",
             (unsigned long long)(g->o.body_ns / 1000000ull));
    }
  }
  return next;
}

uint64_t cs_cg_sweep(cs_connguard *g, uint64_t now_ns) {
  pthread_mutex_lock(&g->mu);
  uint64_t next = sweep_locked(g, now_ns);
  pthread_mutex_unlock(&g->mu);
  return next;
}

/* Sleeps until the earliest deadline, at most a second: a connection
 * opened meanwhile has a later deadline than any already known. */
static void *sweeper(void *arg) {
  cs_connguard *g = arg;
  pthread_mutex_lock(&g->mu);
  while (!g->stop) {
    uint64_t now = cs_cg_now_ns();
    uint64_t next = sweep_locked(g, now);
    uint64_t wake = now + 1000000000ull;
    if (next < wake)
      wake = next;
    struct timespec ts = {(time_t)(wake / 1000000000ull), (long)(wake % 1000000000ull)};
    pthread_cond_timedwait(&g->cv, &g->mu, &ts);
  }
  pthread_mutex_unlock(&g->mu);
  return NULL;
}

void cs_cg_get_stats(cs_connguard *g, cs_cg_stats *out) {
  pthread_mutex_lock(&g->mu);
  *out = g->st;
  pthread_mutex_unlock(&g->mu);
}
