/* libmicrohttpd behind cs_http (see http.h): an internal polling thread
 * with a small pool of workers, a connection cap, request bodies refused,
 * and one arena per request released when MHD reports the request done. */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct cs_http {
  struct MHD_Daemon *d;
  cs_http_opts o;
  uint16_t port;
};

typedef struct conn_ctx {
  cs_http_req req;
  cs_arena arena;
  struct MHD_Connection *c;
  int answered;
  uint64_t body_bytes;
} conn_ctx;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *cs_http_arg(const cs_http_req *r, const char *name) {
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
  args_it it = {name, vals, max, 0};
  MHD_get_connection_values((struct MHD_Connection *)r->conn_, MHD_GET_ARGUMENT_KIND, collect,
                            &it);
  return it.n;
}

size_t cs_http_arg_count(const cs_http_req *r) {
  return (size_t)MHD_get_connection_values((struct MHD_Connection *)r->conn_,
                                           MHD_GET_ARGUMENT_KIND, NULL, NULL);
}

const char *cs_http_header(const cs_http_req *r, const char *name) {
  return MHD_lookup_connection_value((struct MHD_Connection *)r->conn_, MHD_HEADER_KIND, name);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls) {
  cs_http *h = cls;
  conn_ctx *x = *con_cls;
  if (!x) {
    x = calloc(1, sizeof *x);
    if (!x) return MHD_NO;
    cs_arena_init(&x->arena, 16384, h->o.arena_cap);
    x->c = c;
    x->req.arena = &x->arena;
    x->req.start_ns = now_ns();
    x->req.fd = -1;
    x->req.conn_ = c;
    x->req.method = cs_arena_strndup(&x->arena, method, strlen(method));
    x->req.path = cs_arena_strndup(&x->arena, url, strnlen(url, 8192));
    x->req.route = "unmatched";
    *con_cls = x;
    return MHD_YES;
  }
  if (*upload_size) {
    /* The API takes no bodies: count and discard, answer once complete. */
    x->body_bytes += *upload_size;
    *upload_size = 0;
    return MHD_YES;
  }
  if (x->answered) return MHD_YES;
  x->answered = 1;
  /* Refusals go through the handler too: it knows which error shape the
   * path's API uses. */
  if (!x->req.method || !x->req.path) {
    x->req.method = x->req.method ? x->req.method : "-";
    x->req.path = x->req.path ? x->req.path : "";
    x->req.refused = 500;
    x->req.refused_msg = "out of memory";
  } else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    x->req.route = "method";
    x->req.refused = 405;
    x->req.refused_msg = "method not allowed: only GET and HEAD";
  } else if (x->body_bytes) {
    x->req.refused = 413;
    x->req.refused_msg = "request bodies are not accepted";
  }
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
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  if (x->req.refused == 405) MHD_add_response_header(resp, "Allow", "GET, HEAD");
  enum MHD_Result rc = MHD_queue_response(c, (unsigned)x->req.status, resp);
  MHD_destroy_response(resp);
  return rc;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe) {
  cs_http *h = cls;
  conn_ctx *x = *con_cls;
  if (!x) return;
  if (!x->answered) x->req.status = 499; /* the client went away first */
  double ms = (double)(now_ns() - x->req.start_ns) / 1e6;
  if (h->o.done) h->o.done(h->o.ud, &x->req, ms);
  free(x->req.body);
  if (x->req.fd >= 0) close(x->req.fd);
  cs_arena_release(&x->arena);
  free(x);
  *con_cls = NULL;
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
  if (!h->o.conn_timeout_s) h->o.conn_timeout_s = 30;
  if (!h->o.arena_cap) h->o.arena_cap = (size_t)256 << 20;

  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
  struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, h->o.addr, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(h->o.port);
  } else if (inet_pton(AF_INET6, h->o.addr, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(h->o.port);
    flags |= MHD_USE_IPv6;
  } else {
    snprintf(err, errlen, "bad listen address: %s", h->o.addr);
    free(h);
    return -1;
  }
  h->d = MHD_start_daemon(
      flags, h->o.port, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned)h->o.threads, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)h->o.max_conns, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)h->o.conn_timeout_s,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536, MHD_OPTION_NOTIFY_COMPLETED, on_done, h,
      MHD_OPTION_END);
  if (!h->d) {
    snprintf(err, errlen, "cannot listen on %s port %u (in use or not permitted)", h->o.addr,
             (unsigned)h->o.port);
    free(h);
    return -1;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
  h->port = info ? info->port : h->o.port;
  *out = h;
  return 0;
}

uint16_t cs_http_port(const cs_http *h) { return h->port; }

void cs_http_stop(cs_http *h) {
  if (!h) return;
  if (h->d) MHD_stop_daemon(h->d);
  free(h);
}
