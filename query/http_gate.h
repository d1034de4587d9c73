/* The head gate in front of the query server's HTTP library: it accepts
 * connections, takes their connection-guard slots and looks at each request
 * head with MSG_PEEK (the bytes stay in the socket) until the head is
 * complete, then hands the socket over. A head the library could not hold
 * (a request line over limits.max_line, a head over limits.max_head, more
 * than limits.max_fields header lines) is answered here instead, by the
 * caller's refuse callback, so every refusal keeps the API's shape. The
 * gate sees one head per connection: the server answers with
 * "Connection: close". It knows no HTTP library and no cs_http_req (the
 * framing is common/http_parse.c's). */
#ifndef CS_QUERY_HTTP_GATE_H
#define CS_QUERY_HTTP_GATE_H

#include <stddef.h>
#include <sys/socket.h>

#include "connguard.h"

typedef struct cs_http_gate cs_http_gate;

typedef struct cs_gate_opts {
  int listen_fd;       /* bound and listening, non-blocking; the started gate closes it */
  cs_connguard *guard; /* borrowed */
  unsigned max_conns;  /* connections waiting in the gate at most */
  size_t max_line;     /* request line without its CRLF (414 above) */
  size_t max_head;     /* request line and header fields (431 above) */
  unsigned max_fields; /* header fields (431 above) */
  /* A complete head on fd: the server takes fd and slot over. Returns 0,
   * or -1 when it could not (it has closed fd and released the slot). */
  int (*hand_over)(void *ud, int fd, cs_cg_conn *slot, const struct sockaddr *sa, socklen_t len);
  /* A head over a limit: writes the whole answer (status line, headers,
   * body) into a malloc'ed buffer. method and path are what the request
   * line shows of them (NUL-terminated, possibly cut short). */
  char *(*refuse)(void *ud, const char *method, const char *path, int status, const char *msg,
                  size_t *len);
  void *ud;
} cs_gate_opts;

/* Starts the gate's thread. Returns NULL with a message in err. */
cs_http_gate *cs_gate_start(const cs_gate_opts *o, char *err, size_t errlen);

/* Stops the thread, closes the listening socket and every connection
 * still in the gate. Accepts NULL. */
void cs_gate_stop(cs_http_gate *g);

#endif
