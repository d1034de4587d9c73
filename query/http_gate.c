/* The head gate (http_gate.h): one thread polls the listening socket and
 * the connections whose head is not complete yet. A connection is peeked
 * again only after new bytes arrived (SO_RCVLOWAT one past what was seen)
 * and at most every GATE_REPEEK_MS, so a head trickled a byte at a time
 * costs a bounded number of copies. Refused connections get their answer,
 * a half-close, and a short drain before the close, so the answer is not
 * lost to a reset while the client is still sending. */
#include "http_gate.h"

#include "http_parse.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GATE_REPEEK_MS 10
#define GATE_DRAIN_MS 2000
#define GATE_DRAIN_BYTES (1u << 20)

typedef struct gconn {
  int fd;
  cs_cg_conn *slot;
  struct sockaddr_storage sa;
  socklen_t salen;
  size_t seen;       /* bytes looked at by the last peek */
  uint64_t next_ms;  /* earliest next peek */
  uint64_t until_ms; /* draining: close by then */
  size_t drained;
  int draining;
} gconn;

struct cs_http_gate {
  cs_gate_opts o;
  cs_http_limits lim;
  pthread_t th;
  int wake[2];
  gconn *c;
  size_t n;
  struct pollfd *pf;
  char *buf; /* max_head + 1 */
};

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void set_lowat(int fd, size_t n) {
  int v = n > (size_t)1 << 30 ? 1 << 30 : (int)n;
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v);
}

/* Removes entry i (swapped with the last); closes it unless handed over. */
static void drop(cs_http_gate *g, size_t i, int close_it) {
  if (close_it) {
    cs_cg_close(g->o.guard, g->c[i].slot);
    close(g->c[i].fd);
  }
  g->c[i] = g->c[--g->n];
}

static void accept_some(cs_http_gate *g) {
  for (int k = 0; k < 64 && g->n < g->o.max_conns; k++) {
    gconn c;
    memset(&c, 0, sizeof c);
    c.salen = sizeof c.sa;
    c.fd =
        accept4(g->o.listen_fd, (struct sockaddr *)&c.sa, &c.salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c.fd < 0)
      return;
    c.slot = cs_cg_open(g->o.guard, c.fd, (struct sockaddr *)&c.sa, c.salen);
    if (!c.slot) { /* refused: the guard has shut it down */
      close(c.fd);
      continue;
    }
    g->c[g->n++] = c;
  }
}

/* What the request line shows of its method and path, for the answer's
 * shape and the log: NUL-terminated copies cut at 4 KiB. */
static void line_parts(const char *p, size_t n, char *method, char *path) {
  size_t i = 0, m = 0, k = 0;
  while (i < n && p[i] != ' ' && p[i] != '\r' && p[i] != '\n' && m < 15)
    method[m++] = p[i++];
  method[m] = '\0';
  while (i < n && p[i] == ' ')
    i++;
  while (i < n && p[i] != ' ' && p[i] != '?' && p[i] != '\r' && p[i] != '\n' && k < 4095)
    path[k++] = p[i++];
  path[k] = '\0';
}

static void refuse(cs_http_gate *g, gconn *c, const char *head, size_t n, int status,
                   const char *msg) {
  char method[16], path[4096];
  line_parts(head, n, method, path);
  size_t len = 0;
  char *out = g->o.refuse(g->o.ud, method, path, status, msg, &len);
  /* The answer is a few hundred bytes: it fits the empty send buffer of a
   * connection that has not been answered yet. */
  if (out && send(c->fd, out, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
  }
  free(out);
  shutdown(c->fd, SHUT_WR);
  cs_cg_head_done(g->o.guard, c->slot, 0);
  set_lowat(c->fd, 1);
  c->draining = 1;
  c->until_ms = now_ms() + GATE_DRAIN_MS;
}

/* Counts the header lines of a complete head of n bytes. */
static size_t field_lines(const char *p, size_t n) {
  size_t lines = 0;
  for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
    lines++;
  return lines >= 2 ? lines - 2 : 0; /* minus the request line and the empty line */
}

/* Looks at connection i's head so far. Returns 1 when it left the gate. */
static int look(cs_http_gate *g, size_t i, short revents) {
  gconn *c = &g->c[i];
  const cs_http_limits *lim = &g->lim;
  ssize_t k = recv(c->fd, g->buf, lim->max_head + 1, MSG_PEEK | MSG_DONTWAIT);
  if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return 0;
  if (k <= 0) { /* closed (by the client, or shut down by the guard) */
    drop(g, i, 1);
    return 1;
  }
  size_t n = (size_t)k, skip = cs_http_skip_empty_lines(g->buf, n);
  cs_http_scan scan = {0};
  long e = skip < n ? cs_http_head_end(g->buf + skip, n - skip, &scan, lim) : 0;
  if (e == 0 && n > lim->max_head)
    e = -431; /* empty lines alone */
  char msg[128];
  if (e > 0 && field_lines(g->buf + skip, (size_t)e) > g->o.max_fields) {
    snprintf(msg, sizeof msg, "too many request headers: %zu, limit %u",
             field_lines(g->buf + skip, (size_t)e), g->o.max_fields);
    refuse(g, c, g->buf + skip, n - skip, 431, msg);
    return 0;
  }
  if (e > 0) {
    set_lowat(c->fd, 1);
    gconn h = *c;
    drop(g, i, 0);
    cs_cg_head_done(g->o.guard, h.slot, 0); /* busy now: no deadline while handed over */
    (void)g->o.hand_over(g->o.ud, h.fd, h.slot, (struct sockaddr *)&h.sa, h.salen);
    return 1;
  }
  if (e < 0) {
    if (e == -414)
      snprintf(msg, sizeof msg, "request line too long: over %zu bytes", lim->max_line);
    else
      snprintf(msg, sizeof msg, "request head too large: over %zu bytes", lim->max_head);
    refuse(g, c, g->buf + skip, n - skip, (int)-e, msg);
    return 0;
  }
  if (revents & (POLLRDHUP | POLLHUP | POLLERR)) { /* gone inside a head: nothing to answer */
    drop(g, i, 1);
    return 1;
  }
  c->seen = n;
  c->next_ms = now_ms() + GATE_REPEEK_MS;
  set_lowat(c->fd, n + 1);
  return 0;
}

/* A refused connection: reads and discards until the client closes, up to
 * a time and a byte budget. Returns 1 when it left the gate. */
static int drain(cs_http_gate *g, size_t i) {
  gconn *c = &g->c[i];
  char junk[16384];
  ssize_t k;
  while ((k = recv(c->fd, junk, sizeof junk, MSG_DONTWAIT)) > 0)
    if ((c->drained += (size_t)k) > GATE_DRAIN_BYTES)
      break;
  if ((k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) &&
      c->drained <= GATE_DRAIN_BYTES && now_ms() < c->until_ms)
    return 0;
  drop(g, i, 1);
  return 1;
}

static void *gate_main(void *arg) {
  cs_http_gate *g = arg;
  for (;;) {
    uint64_t now = now_ms();
    int timeout = 1000;
    size_t np = 2;
    g->pf[0] = (struct pollfd){g->wake[0], POLLIN, 0};
    g->pf[1] = (struct pollfd){g->o.listen_fd, g->n < g->o.max_conns ? POLLIN : 0, 0};
    for (size_t i = 0; i < g->n; i++) {
      gconn *c = &g->c[i];
      uint64_t at = c->draining ? c->until_ms : c->next_ms;
      short ev = c->draining || now >= c->next_ms ? POLLIN | POLLRDHUP : 0;
      if (at > now && at - now < (uint64_t)timeout)
        timeout = (int)(at - now);
      g->pf[np++] = (struct pollfd){c->fd, ev, 0};
    }
    if (poll(g->pf, np, timeout) < 0 && errno != EINTR)
      break;
    if (g->pf[0].revents)
      break;
    /* Walk backwards: drop() moves the last entry into the hole. */
    now = now_ms();
    for (size_t i = g->n; i-- > 0;) {
      short re = g->pf[2 + i].revents;
      gconn *c = &g->c[i];
      if (c->draining) {
        if (re || now >= c->until_ms)
          drain(g, i);
      } else if (re) {
        look(g, i, re);
      }
    }
    if (g->pf[1].revents)
      accept_some(g);
  }
  return NULL;
}

cs_http_gate *cs_gate_start(const cs_gate_opts *o, char *err, size_t errlen) {
  cs_http_gate *g = calloc(1, sizeof *g);
  if (!g)
    goto oom;
  g->o = *o;
  cs_http_limits_default(&g->lim);
  g->lim.max_line = o->max_line;
  g->lim.max_head = o->max_head;
  g->lim.max_fields = UINT32_MAX; /* counted here, with our message */
  g->lim.max_params = UINT32_MAX; /* checked by the server */
  g->wake[0] = g->wake[1] = -1;
  g->c = calloc(o->max_conns, sizeof *g->c);
  g->pf = calloc((size_t)o->max_conns + 2, sizeof *g->pf);
  g->buf = malloc(o->max_head + 1);
  if (!g->c || !g->pf || !g->buf)
    goto oom;
  if (pipe2(g->wake, O_CLOEXEC)) {
    snprintf(err, errlen, "cannot create the gate's pipe: %s", strerror(errno));
    goto fail;
  }
  if (pthread_create(&g->th, NULL, gate_main, g)) {
    snprintf(err, errlen, "cannot start the gate's thread");
    goto fail;
  }
  return g;
oom:
  snprintf(err, errlen, "out of memory");
fail:
  if (g) {
    if (g->wake[0] >= 0)
      close(g->wake[0]), close(g->wake[1]);
    free(g->c);
    free(g->pf);
    free(g->buf);
    free(g);
  }
  return NULL;
}

void cs_gate_stop(cs_http_gate *g) {
  if (!g)
    return;
  char b = 1;
  if (write(g->wake[1], &b, 1) != 1) {
  }
  pthread_join(g->th, NULL);
  while (g->n)
    drop(g, g->n - 1, 1);
  close(g->o.listen_fd);
  close(g->wake[0]);
  close(g->wake[1]);
  free(g->c);
  free(g->pf);
  free(g->buf);
  free(g);
}
