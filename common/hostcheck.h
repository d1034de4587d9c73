/* The Host header check every HTTP listener of Callscope applies (query
 * API and UI, OTLP/HTTP, Zipkin) against DNS rebinding: a page on
 * evil.example whose name an attacker re-points at 127.0.0.1 makes the
 * victim's browser send requests to our loopback port with
 * "Host: evil.example". Answering only Host names we know to be ours
 * closes that door. Trusted: nothing; the header value is hostile input. */
#ifndef CS_HOSTCHECK_H
#define CS_HOSTCHECK_H

#include <stddef.h>

#define CS_HOSTLIST_MAX 32
#define CS_HOST_NAME_MAX 253 /* longest DNS name, RFC 1035 */

/* Extra names accepted besides the loopback names and the listen address
 * (--allow-host). Names are borrowed (argv) and stored as given; matching
 * ignores case and one trailing dot. any is set by "*". */
typedef struct cs_hostlist {
  const char *names[CS_HOSTLIST_MAX];
  size_t n;
  int any;
} cs_hostlist;

/* Adds one name: a DNS name (letters, digits, '-', '_', '.'), an IPv4
 * literal, an IPv6 literal with or without brackets, or "*" (accept every
 * Host: only behind a proxy that checks it). No port: every port of an
 * accepted name is accepted. Returns 0, -1 for a malformed name, -2 when
 * the list is full. Thread-safety: writes l only. */
int cs_hostlist_add(cs_hostlist *l, const char *name);

/* Decides whether a request whose Host header is host (NUL-terminated;
 * NULL when the request has none) may be answered by a server bound to
 * listen_addr (an IP literal; NULL means 127.0.0.1). l may be NULL.
 * Accepted, with any port or none:
 *   - no Host header at all (HTTP/1.0 clients; browsers always send one,
 *     so a missing header is no rebinding vector);
 *   - localhost, any 127.0.0.0/8 address, [::1];
 *   - the listen address itself;
 *   - when bound to a wildcard (0.0.0.0 or ::), any IP literal: the
 *     server answers on all the machine's addresses and an IP literal
 *     cannot be re-pointed by DNS;
 *   - the names in l (every name when l->any).
 * Everything else, including malformed values (empty, bad port, junk,
 * longer than CS_HOST_NAME_MAX), is refused. Returns 1 to answer, 0 to
 * refuse (421). Thread-safety: pure function. */
int cs_host_allowed(const char *host, const char *listen_addr, const cs_hostlist *l);

#endif
