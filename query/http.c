/* libmicrohttpd behind cs_http (see http.h): an internal polling thread
 * with a small pool of workers; a connection guard (common/connguard.h)
 * that caps connections in total and per address and bounds the time of
 * a whole request head; the head gate (http_gate.h) that accepts and
 * answers heads MHD could not hold, then hands the socket to MHD; the
 * request target checked raw, before MHD decodes it; the Host header
 * checked (common/hostcheck.h); request bodies refused; one arena per
 * request released when MHD reports the request done. */
#include "http.h"

#include "http_gate.h"
#include "params.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A socket handed from the gate to MHD, until MHD reports it started. */
typedef struct handoff {
  int fd;
  cs_cg_conn *slot;
} handoff;

struct cs_http {
  struct MHD_Daemon *d;
  cs_connguard *guard;
  cs_http_gate *gate;
  cs_http_opts o;
  uint16_t port;
  pthread_mutex_t hmu;
  int hmu_ok;
  handoff *ho;
  size_t n_ho, cap_ho;
};

/* One request. Created when its request line is complete (on_uri), so the
 * raw target can be checked before MHD decodes it and parses arguments. */
typedef struct conn_ctx {
  cs_http_req req;
  cs_arena arena;
  struct MHD_Connection *c;
  int answered;
  int refused;             /* from the raw target: 400 or 414 */
  const char *refused_msg; /* static, or msg */
  char msg[192];
} conn_ctx;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *cs_http_arg(const cs_http_req *r, const char *name) {
  if (!r->conn_)
    return NULL; /* answered by the gate: no arguments parsed */
  const char *v =
      MHD_lookup_connection_value((struct MHD_Connection *)r->conn_, MHD_GET_ARGUMENT_KIND, name);
  if (v) return v;
  /* MHD reports "?name" with a NULL value; tell it apart from absence. */
  const char *k = NULL;
  return MHD_lookup_connection_value_n((struct MHD_Connection *)r->conn_,
                                       MHD_GET_ARGUMENT_KIND, name, strlen(name), &k,
                                       NULL) == MHD_YES
             ? ""
             : NULL;
}

typedef struct args_it {
  const char *name;
  const char **vals;
  size_t max, n;
} args_it;

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value) {
  args_it *it = cls;
  if (!it->name || strcmp(key, it->name) == 0) {
    if (it->n < it->max) it->vals[it->n] = value ? value : "";
    it->n++;
  }
  return MHD_YES;
}

size_t cs_http_args(const cs_http_req *r, const char *name, const char **vals, size_t max) {
  if (!r->conn_)
    return 0;
  args_it it = {name, vals, max, 0};
  MHD_get_connection_values((struct MHD_Connection *)r->conn_, MHD_GET_ARGUMENT_KIND, collect,
                            &it);
  return it.n;
}

size_t cs_http_arg_count(const cs_http_req *r) {
  if (!r->conn_)
    return 0;
  return (size_t)MHD_get_connection_values((struct MHD_Connection *)r->conn_,
                                           MHD_GET_ARGUMENT_KIND, NULL, NULL);
}

const char *cs_http_header(const cs_http_req *r, const char *name) {
  if (!r->conn_)
    return NULL;
  return MHD_lookup_connection_value((struct MHD_Connection *)r->conn_, MHD_HEADER_KIND, name);
}

static conn_ctx *ctx_new(cs_http *h, struct MHD_Connection *c) {
  conn_ctx *x = calloc(1, sizeof *x);
  if (!x)
    return NULL;
  cs_arena_init(&x->arena, 16384, h->o.arena_cap);
  x->c = c;
  x->req.arena = &x->arena;
  x->req.start_ns = now_ns();
  x->req.fd = -1;
  x->req.conn_ = c;
  x->req.route = "unmatched";
  return x;
}

/* The request line is complete: check the target as sent. A refused
 * target also loses its query string here, in MHD's own buffer, which
 * libmicrohttpd 0.9.75 parses into arguments right after this callback:
 * thousands of parameters overflow the connection's memory pool, and MHD
 * then neither answers nor closes (the connection is held until its
 * timeout). Cutting them keeps the refusal prompt. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
  cs_http *h = cls;
  conn_ctx *x = ctx_new(h, c);
  if (!x)
    return NULL;
  size_t n = strnlen(uri, CS_HTTP_URL_CAP + 1), params = 0;
  const char *why = NULL;
  const char *q = memchr(uri, '?', n);
  size_t pl = q ? (size_t)(q - uri) : n;
  x->req.path = cs_arena_strndup(&x->arena, uri, pl < 8192 ? pl : 8192); /* for logs until decoded */
  if (n > h->o.max_url) {
    x->refused = 414;
    snprintf(x->msg, sizeof x->msg, "request URL too long: %zu%s bytes, limit %zu", n,
             n > CS_HTTP_URL_CAP ? "+" : "", h->o.max_url);
    x->refused_msg = x->msg;
  } else if (cs_qp_check_target(uri, n, &params, &why)) {
    x->refused = 400;
    x->refused_msg = why;
  } else if (params > h->o.max_params) {
    x->refused = 414;
    snprintf(x->msg, sizeof x->msg, "too many query parameters: %zu, limit %u", params,
             h->o.max_params);
    x->refused_msg = x->msg;
  }
  if (x->refused && q && q[1])
    ((char *)q)[1] = '\0';
  if (x->refused && !x->refused_msg)
    x->refused_msg = "request refused";
  return x;
}

static cs_cg_conn *guard_slot(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *i =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return i ? (cs_cg_conn *)i->socket_context : NULL;
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value) {
  (void)kind, (void)key, (void)value;
  ++*(unsigned *)cls;
  return MHD_YES;
}

/* Decides every refusal from the request head, first reason wins. */
static void refuse_from_head(cs_http *h, conn_ctx *x, const char *method) {
  cs_http_req *r = &x->req;
  struct MHD_Connection *c = x->c;
  unsigned headers = 0;
  MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &headers);
  const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
  const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
  size_t args = (size_t)MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, NULL, NULL);
  if (!r->method || !r->path) {
    r->method = r->method ? r->method : "-";
    r->path = r->path ? r->path : "";
    r->refused = 500;
    r->refused_msg = "out of memory";
  } else if (x->refused) {
    r->route = x->refused == 414 ? "uri_too_long" : "bad_url";
    r->refused = x->refused;
    r->refused_msg = x->refused_msg;
  } else if (headers > h->o.max_headers) {
    r->route = "headers_too_large";
    r->refused = 431;
    snprintf(x->msg, sizeof x->msg, "too many request headers: %u, limit %u", headers,
             h->o.max_headers);
    r->refused_msg = x->msg;
  } else if (!cs_host_allowed(host, h->o.addr, h->o.allow_hosts)) {
    r->route = "host";
    r->refused = 421;
    snprintf(x->msg, sizeof x->msg,
             "misdirected request: host %.100s is not served here "
             "(see --allow-host)",
             host);
    r->refused_msg = x->msg;
  } else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    r->route = "method";
    r->refused = 405;
    r->refused_msg = "method not allowed: only GET and HEAD";
  } else if ((cl && strcmp(cl, "0") != 0) || te) {
    r->refused = 413;
    r->refused_msg = "request bodies are not accepted";
  } else if (args > h->o.max_params) {
    r->route = "uri_too_long";
    r->refused = 414;
    snprintf(x->msg, sizeof x->msg, "too many query parameters: %zu, limit %u", args,
             h->o.max_params);
    r->refused_msg = x->msg;
  }
  if (r->refused && !r->refused_msg)
    r->refused_msg = "out of memory";
}

/* On every answer, MHD's and the gate's alike. Connection: close keeps
 * one request per connection, so every head passes the gate. */
static const char *const resp_headers[][2] = {
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"Content-Security-Policy",
     "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
     "frame-ancestors 'none'"},
    {"Referrer-Policy", "no-referrer"},
    {"Connection", "close"},
};

/* Answers on the first call, as soon as the head is complete: the API
 * takes no bodies, so a request that announces one is refused (413)
 * without reading it and MHD closes the connection after the answer. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls) {
  (void)version, (void)upload_data;
  cs_http *h = cls;
  conn_ctx *x = *con_cls;
  if (x && x->answered) {
    *upload_size = 0;
    return MHD_YES;
  }
  if (!x && !(x = ctx_new(h, c)))
    return MHD_NO;
  *con_cls = x;
  x->answered = 1;
  cs_cg_head_done(h->guard, guard_slot(c), 0);
  x->req.method = cs_arena_strndup(&x->arena, method, strlen(method));
  x->req.path = cs_arena_strndup(&x->arena, url, strnlen(url, 8192));
  /* Refusals go through the handler too: it knows which error shape the
   * path's API uses. */
  refuse_from_head(h, x, method);
  *upload_size = 0;
  x->req.status = 500;
  h->o.handler(h->o.ud, &x->req);

  struct MHD_Response *resp;
  if (x->req.fd >= 0) {
    resp = MHD_create_response_from_fd64(x->req.fd_size, x->req.fd);
    if (resp) x->req.fd = -1; /* MHD closes it now */
  } else {
    size_t len = x->req.body ? x->req.body_len : 0;
    resp = MHD_create_response_from_buffer(len, x->req.body ? x->req.body : (void *)"",
                                           x->req.body ? MHD_RESPMEM_MUST_FREE
                                                       : MHD_RESPMEM_PERSISTENT);
    if (resp) x->req.body = NULL;
  }
  if (!resp) return MHD_NO;
  if (x->req.content_type) MHD_add_response_header(resp, "Content-Type", x->req.content_type);
  if (x->req.cache_control) MHD_add_response_header(resp, "Cache-Control", x->req.cache_control);
  for (size_t i = 0; i < sizeof resp_headers / sizeof resp_headers[0]; i++)
    MHD_add_response_header(resp, resp_headers[i][0], resp_headers[i][1]);
  if (x->req.refused == 405) MHD_add_response_header(resp, "Allow", "GET, HEAD");
  enum MHD_Result rc = MHD_queue_response(c, (unsigned)x->req.status, resp);
  MHD_destroy_response(resp);
  return rc;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe) {
  (void)toe;
  cs_http *h = cls;
  cs_cg_answered(h->guard, guard_slot(c));
  conn_ctx *x = *con_cls;
  if (!x) return;
  if (!x->answered) x->req.status = 499; /* the client went away first */
  if (!x->req.method)
    x->req.method = "-";
  if (!x->req.path)
    x->req.path = "";
  double ms = (double)(now_ns() - x->req.start_ns) / 1e6;
  if (h->o.done) h->o.done(h->o.ud, &x->req, ms);
  free(x->req.body);
  if (x->req.fd >= 0) close(x->req.fd);
  cs_arena_release(&x->arena);
  free(x);
  *con_cls = NULL;
}

static cs_cg_conn *handoff_take(cs_http *h, int fd) {
  cs_cg_conn *slot = NULL;
  pthread_mutex_lock(&h->hmu);
  for (size_t i = 0; i < h->n_ho; i++)
    if (h->ho[i].fd == fd) {
      slot = h->ho[i].slot;
      h->ho[i] = h->ho[--h->n_ho];
      break;
    }
  pthread_mutex_unlock(&h->hmu);
  return slot;
}

/* Every connection got its slot in the guard when the gate accepted it
 * (which may have closed an older waiting one) and gives it back before
 * MHD closes the socket. */
static void on_conn(void *cls, struct MHD_Connection *c, void **socket_context,
                    enum MHD_ConnectionNotificationCode toe) {
  cs_http *h = cls;
  if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
    cs_cg_close(h->guard, *socket_context);
    *socket_context = NULL;
    return;
  }
  const union MHD_ConnectionInfo *fi =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (fi && (*socket_context = handoff_take(h, fi->connect_fd)) != NULL)
    return;
  const union MHD_ConnectionInfo *ai =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  const struct sockaddr *sa = ai ? ai->client_addr : NULL;
  socklen_t len = !sa                         ? 0
                  : sa->sa_family == AF_INET6 ? (socklen_t)sizeof(struct sockaddr_in6)
                                              : (socklen_t)sizeof(struct sockaddr_in);
  *socket_context = fi ? cs_cg_open(h->guard, fi->connect_fd, sa, len) : NULL;
}

/* The gate's hand-over: MHD takes the socket; on_conn finds its slot. */
static int hand_over(void *ud, int fd, cs_cg_conn *slot, const struct sockaddr *sa, socklen_t len) {
  cs_http *h = ud;
  pthread_mutex_lock(&h->hmu);
  int room = h->n_ho < h->cap_ho;
  if (room)
    h->ho[h->n_ho++] = (handoff){fd, slot};
  pthread_mutex_unlock(&h->hmu);
  if (room && MHD_add_connection(h->d, fd, sa, len) == MHD_YES)
    return 0;
  /* MHD has closed fd (or it is ours to close); the slot is busy, so the
   * guard does not touch the number meanwhile. */
  if (!room || handoff_take(h, fd))
    cs_cg_close(h->guard, slot);
  if (!room)
    close(fd);
  return -1;
}

static const char *reason(int status) {
  return status == 414 ? "URI Too Long" : status == 431 ? "Request Header Fields Too Large"
                                                         : "Bad Request";
}

/* The gate's refusal: the handler fills the body as for any refused
 * request (so it has the shape of the path's API), then the answer is
 * written out whole with the headers every answer carries. */
static char *gate_refuse(void *ud, const char *method, const char *path, int status,
                         const char *msg, size_t *len) {
  cs_http *h = ud;
  conn_ctx x;
  memset(&x, 0, sizeof x);
  cs_arena_init(&x.arena, 4096, (size_t)1 << 20);
  cs_http_req *r = &x.req;
  r->arena = &x.arena;
  r->start_ns = now_ns();
  r->fd = -1;
  r->method = method;
  r->path = path;
  r->route = status == 414 ? "uri_too_long" : "headers_too_large";
  r->refused = status;
  r->refused_msg = msg;
  r->status = 500;
  h->o.handler(h->o.ud, r);
  size_t blen = r->body ? r->body_len : 0, cap = blen + 1024, n;
  char *out = malloc(cap);
  if (out) {
    n = (size_t)snprintf(out, cap, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n",
                         r->status, reason(r->status),
                         r->content_type ? r->content_type : "application/json", blen);
    for (size_t i = 0; i < sizeof resp_headers / sizeof resp_headers[0] && n < cap; i++)
      n += (size_t)snprintf(out + n, cap - n, "%s: %s\r\n", resp_headers[i][0], resp_headers[i][1]);
    if (n + 2 + blen <= cap) {
      memcpy(out + n, "\r\n", 2);
      if (blen)
        memcpy(out + n + 2, r->body, blen);
      *len = n + 2 + blen;
    } else {
      free(out);
      out = NULL;
    }
  }
  if (h->o.done)
    h->o.done(h->o.ud, r, (double)(now_ns() - r->start_ns) / 1e6);
  free(r->body);
  cs_arena_release(&x.arena);
  return out;
}

/* The listening socket, owned by the gate. Its receive buffer holds a
 * whole head up to the gate's limit, since the gate only peeks. */
static int listen_on(const struct sockaddr *sa, socklen_t len, char *err, size_t errlen) {
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1, rcv = 512 * 1024;
  if (fd < 0) {
    snprintf(err, errlen, "cannot create a socket: %s", strerror(errno));
    return -1;
  }
  (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  if (bind(fd, sa, len) || listen(fd, 128)) {
    snprintf(err, errlen, "%s", strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

void cs_http_get_stats(cs_http *h, cs_cg_stats *out) {
  cs_cg_get_stats(h->guard, out);
}

int cs_http_start(const cs_http_opts *opts, cs_http **out, char *err, size_t errlen) {
  cs_http *h = calloc(1, sizeof *h);
  if (!h) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  h->o = *opts;
  if (!h->o.addr || !*h->o.addr) h->o.addr = "127.0.0.1";
  if (!h->o.threads) h->o.threads = 4;
  if (!h->o.max_conns) h->o.max_conns = 128;
  if (!h->o.max_per_addr)
    h->o.max_per_addr = 64;
  if (!h->o.head_ns)
    h->o.head_ns = 10000000000ull;
  if (!h->o.conn_timeout_s) h->o.conn_timeout_s = 30;
  if (!h->o.max_url || h->o.max_url > CS_HTTP_URL_CAP)
    h->o.max_url = h->o.max_url ? CS_HTTP_URL_CAP : 16384;
  if (!h->o.max_params)
    h->o.max_params = 256;
  if (!h->o.max_headers)
    h->o.max_headers = 100;
  if (!h->o.max_head || h->o.max_head > CS_HTTP_HEAD_CAP)
    h->o.max_head = CS_HTTP_HEAD_CAP;
  if (!h->o.arena_cap) h->o.arena_cap = (size_t)256 << 20;
  cs_cg_opts go = {.max_conns = h->o.max_conns,
                   .max_per_addr = h->o.max_per_addr,
                   .head_ns = h->o.head_ns,
                   .component = "query"};
  h->guard = cs_cg_new(&go);
  if (!h->guard) {
    snprintf(err, errlen, "out of memory");
    free(h);
    return -1;
  }
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_NO_LISTEN_SOCKET |
                   MHD_USE_ITC;
  struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
  socklen_t slen = sizeof *s4;
  if (inet_pton(AF_INET, h->o.addr, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(h->o.port);
  } else if (inet_pton(AF_INET6, h->o.addr, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(h->o.port);
    slen = sizeof *s6;
    flags |= MHD_USE_IPv6;
  } else {
    snprintf(err, errlen, "bad listen address: %s", h->o.addr);
    cs_http_stop(h);
    return -1;
  }
  char why[128];
  int lfd = listen_on((struct sockaddr *)&ss, slen, why, sizeof why);
  if (lfd < 0) {
    snprintf(err, errlen, "cannot listen on %s port %u: %s", h->o.addr, (unsigned)h->o.port,
             why);
    cs_http_stop(h);
    return -1;
  }
  if (getsockname(lfd, (struct sockaddr *)&ss, &slen) == 0)
    h->port = ntohs(ss.ss_family == AF_INET6 ? s6->sin6_port : s4->sin_port);
  /* MHD's own cap sits above the guard's, so that the guard, not MHD,
   * decides whom to close when the pool is full; the slack covers
   * connections the guard has shut down and MHD not yet closed. */
  unsigned mhd_limit = h->o.max_conns * 2 + 8;
  h->cap_ho = mhd_limit;
  h->ho = calloc(h->cap_ho, sizeof *h->ho);
  pthread_mutex_init(&h->hmu, NULL);
  h->hmu_ok = 1;
  /* The pool holds a head the gate let through (at most CS_HTTP_HEAD_CAP
   * and max_headers fields) with room for MHD's own structures. */
  h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_THREAD_POOL_SIZE,
                          (unsigned)h->o.threads, MHD_OPTION_CONNECTION_LIMIT, mhd_limit,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)h->o.conn_timeout_s,
                          MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CS_HTTP_URL_CAP * 2,
                          MHD_OPTION_NOTIFY_COMPLETED, on_done, h, MHD_OPTION_NOTIFY_CONNECTION,
                          on_conn, h, MHD_OPTION_URI_LOG_CALLBACK, on_uri, h, MHD_OPTION_END);
  cs_gate_opts gopt = {.listen_fd = lfd,
                       .guard = h->guard,
                       .max_conns = mhd_limit,
                       .max_line = CS_HTTP_URL_CAP + 32,
                       .max_head = h->o.max_head,
                       .max_fields = h->o.max_headers,
                       .hand_over = hand_over,
                       .refuse = gate_refuse,
                       .ud = h};
  if (!h->d || !h->ho || !(h->gate = cs_gate_start(&gopt, why, sizeof why))) {
    snprintf(err, errlen, "cannot serve on %s port %u: %s", h->o.addr, (unsigned)h->o.port,
             h->d && h->ho ? why : "cannot start libmicrohttpd");
    if (!h->gate)
      close(lfd);
    cs_http_stop(h);
    return -1;
  }
  *out = h;
  return 0;
}

uint16_t cs_http_port(const cs_http *h) { return h->port; }

/* The gate first (no more hand-overs), then MHD (closes what it has),
 * then the guard, once every connection is gone. */
void cs_http_stop(cs_http *h) {
  if (!h) return;
  cs_gate_stop(h->gate);
  if (h->d) MHD_stop_daemon(h->d);
  for (size_t i = 0; i < h->n_ho; i++) /* handed over, never started */
    cs_cg_close(h->guard, h->ho[i].slot);
  cs_cg_free(h->guard);
  if (h->hmu_ok)
    pthread_mutex_destroy(&h->hmu);
  free(h->ho);
  free(h);
}
