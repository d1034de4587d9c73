/* The Host header check (see hostcheck.h). A name is classified once into
 * an IPv4 or IPv6 address or a DNS name, so "127.0.0.1", "[::1]:80" and
 * "LOCALHOST." compare by what they mean, not how they are spelled. */
#include "hostcheck.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

enum { H_DNS, H_V4, H_V6 };

typedef struct hname {
  int kind;
  const char *p; /* H_DNS: the name, without a trailing dot */
  size_t n;
  uint8_t a[16]; /* H_V4: 4 bytes, H_V6: 16 */
} hname;

static int dns_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

/* Classifies p[0..n) (no brackets, no port). ip6 allows an IPv6 literal.
 * Returns 0 or -1 when it is neither an address nor a plausible name. */
static int classify(const char *p, size_t n, int ip6, hname *out) {
  char buf[64];
  memset(out, 0, sizeof *out);
  if (n == 0 || n > CS_HOST_NAME_MAX)
    return -1;
  if (ip6) {
    if (n >= sizeof buf)
      return -1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET6, buf, out->a) != 1)
      return -1;
    out->kind = H_V6;
    return 0;
  }
  if (p[n - 1] == '.')
    n--; /* "localhost." names the same host */
  if (n == 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    if (!dns_char(p[i]))
      return -1;
  if (n < sizeof buf) {
    memcpy(buf, p, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, out->a) == 1) {
      out->kind = H_V4;
      return 0;
    }
  }
  out->kind = H_DNS;
  out->p = p;
  out->n = n;
  return 0;
}

/* Splits a Host header value into its name and checks the optional port
 * (1 to 5 digits, at most 65535). */
static int parse_host(const char *h, hname *out) {
  size_t len = strnlen(h, CS_HOST_NAME_MAX + 16);
  if (len > CS_HOST_NAME_MAX + 8)
    return -1; /* name plus "[]" and ":65535" */
  const char *name = h, *rest;
  size_t n;
  int ip6 = 0;
  if (h[0] == '[') {
    const char *close = memchr(h, ']', len);
    if (!close)
      return -1;
    name = h + 1;
    n = (size_t)(close - name);
    rest = close + 1;
    ip6 = 1;
  } else {
    const char *colon = memchr(h, ':', len);
    n = colon ? (size_t)(colon - h) : len;
    rest = h + n;
  }
  if (*rest) {
    if (*rest != ':')
      return -1;
    rest++;
    size_t d = strlen(rest);
    if (d > 5)
      return -1; /* "host:" (empty port) is allowed by RFC 3986 */
    unsigned long port = 0;
    for (size_t i = 0; i < d; i++) {
      if (rest[i] < '0' || rest[i] > '9')
        return -1;
      port = port * 10 + (unsigned long)(rest[i] - '0');
    }
    if (port > 65535)
      return -1;
  }
  return classify(name, n, ip6, out);
}

/* A list entry or listen address: bracketed or bare IPv6, IPv4, DNS name. */
static int parse_name(const char *s, hname *out) {
  size_t n = strnlen(s, CS_HOST_NAME_MAX + 3);
  if (n >= 2 && s[0] == '[' && s[n - 1] == ']')
    return classify(s + 1, n - 2, 1, out);
  if (memchr(s, ':', n))
    return classify(s, n, 1, out);
  return classify(s, n, 0, out);
}

static int same(const hname *a, const hname *b) {
  if (a->kind != b->kind)
    return 0;
  if (a->kind == H_DNS)
    return a->n == b->n && strncasecmp(a->p, b->p, a->n) == 0;
  return memcmp(a->a, b->a, a->kind == H_V4 ? 4 : 16) == 0;
}

static int is_loopback(const hname *h) {
  static const uint8_t v6_loop[16] = {[15] = 1};
  switch (h->kind) {
  case H_V4: return h->a[0] == 127;
  case H_V6: return memcmp(h->a, v6_loop, 16) == 0;
  default: return h->n == 9 && strncasecmp(h->p, "localhost", 9) == 0;
  }
}

static int is_wildcard(const hname *h) {
  static const uint8_t zero[16];
  return h->kind != H_DNS && memcmp(h->a, zero, h->kind == H_V4 ? 4 : 16) == 0;
}

int cs_hostlist_add(cs_hostlist *l, const char *name) {
  hname h;
  if (!name)
    return -1;
  if (strcmp(name, "*") == 0) {
    l->any = 1;
    return 0;
  }
  if (parse_name(name, &h))
    return -1;
  if (l->n >= CS_HOSTLIST_MAX)
    return -2;
  l->names[l->n++] = name;
  return 0;
}

int cs_host_allowed(const char *host, const char *listen_addr, const cs_hostlist *l) {
  if (!host)
    return 1;
  hname h, la;
  if (parse_host(host, &h))
    return 0;
  if (is_loopback(&h))
    return 1;
  if (parse_name(listen_addr ? listen_addr : "127.0.0.1", &la) == 0) {
    if (same(&h, &la))
      return 1;
    if (is_wildcard(&la) && h.kind != H_DNS)
      return 1;
  }
  if (!l)
    return 0;
  if (l->any)
    return 1;
  for (size_t i = 0; i < l->n && i < CS_HOSTLIST_MAX; i++) {
    hname e;
    if (parse_name(l->names[i], &e) == 0 && same(&h, &e))
      return 1;
  }
  return 0;
}
