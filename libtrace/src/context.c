/* Span contexts and the immutable, reference-counted bag that carries a
 * flow's tracestate and baggage (with its session ID) from parent to child.
 * Children share the parent's bag; a change builds a new one, so a bag is
 * read without locks from any thread. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

__cst_bag *__cst_bag_ref(__cst_bag *b) {
  if (b)
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
  return b;
}

void __cst_bag_unref(__cst_bag *b) {
  if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
    free(b);
}

/* Session IDs come spelled many ways (session.id, sessionId, session_id,
 * Session-ID): compared case-insensitively with '.', '_' and '-' removed,
 * the key reads "sessionid". Same rule as common/session.c. */
int __cst_is_session_key(const char *key, size_t len) {
  static const char want[] = "sessionid";
  size_t j = 0;
  for (size_t i = 0; i < len; i++) {
    char c = key[i];
    if (c == '.' || c == '_' || c == '-')
      continue;
    if (j >= sizeof want - 1)
      return 0;
    if (tolower((unsigned char)c) != want[j++])
      return 0;
  }
  return j == sizeof want - 1;
}

/* RFC 7230 token characters. */
int __cst_is_token(const char *s, size_t n) {
  if (n == 0)
    return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (isalnum(c) && c < 0x80)
      continue;
    if (!strchr("!#$%&'*+-.^_`|~", c) || c == 0)
      return 0;
  }
  return 1;
}

__cst_bag *__cst_bag_make(const char *ts, size_t ts_len, const __cst_bag_entry *e, size_t n) {
  size_t bytes = sizeof(__cst_bag) + n * sizeof(__cst_bag_entry) + ts_len + 1;
  for (size_t i = 0; i < n; i++)
    bytes += e[i].klen + e[i].vlen + e[i].plen + 3;
  __cst_bag *b = malloc(bytes);
  if (!b)
    return NULL;
  atomic_init(&b->refs, 1);
  b->n = (uint32_t)n;
  b->session = -1;
  b->e = (__cst_bag_entry *)(b + 1);
  char *s = (char *)(b->e + n);
#define CST_COPY_(dst, src, len)                                                                   \
  do {                                                                                             \
    memcpy(s, (src), (len));                                                                       \
    s[len] = 0;                                                                                    \
    (dst) = s;                                                                                     \
    s += (len) + 1;                                                                                \
  } while (0)
  CST_COPY_(b->tracestate, ts ? ts : "", ts_len);
  b->ts_len = (uint32_t)ts_len;
  for (size_t i = 0; i < n; i++) {
    b->e[i].klen = e[i].klen;
    b->e[i].vlen = e[i].vlen;
    b->e[i].plen = e[i].plen;
    CST_COPY_(b->e[i].key, e[i].key, e[i].klen);
    CST_COPY_(b->e[i].value, e[i].value, e[i].vlen);
    CST_COPY_(b->e[i].props, e[i].props ? e[i].props : "", e[i].plen);
    if (b->session < 0 && e[i].vlen > 0 && __cst_is_session_key(e[i].key, e[i].klen))
      b->session = (int)i;
  }
#undef CST_COPY_
  return b;
}

/* Baggage value bytes that travel unencoded (W3C baggage-octet minus '%'). */
static int plain_octet(unsigned char c) {
  return c >= 0x21 && c <= 0x7e && c != '"' && c != ',' && c != ';' && c != '\\' && c != '%';
}

int __cst_bag_format(const __cst_bag *b, char *out, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (uint32_t i = 0; b && i < b->n; i++) {
    const __cst_bag_entry *e = &b->e[i];
    if (o + (i ? 1 : 0) + e->klen + 1 + e->plen + (e->plen ? 1 : 0) >= cap)
      return -1;
    if (i)
      out[o++] = ',';
    memcpy(out + o, e->key, e->klen);
    o += e->klen;
    out[o++] = '=';
    for (uint32_t j = 0; j < e->vlen; j++) {
      unsigned char c = (unsigned char)e->value[j];
      if (o + 3 >= cap)
        return -1;
      if (plain_octet(c)) {
        out[o++] = (char)c;
      } else {
        out[o++] = '%';
        out[o++] = hex[c >> 4];
        out[o++] = hex[c & 15];
      }
    }
    if (e->plen) {
      if (o + 1 + e->plen >= cap)
        return -1;
      out[o++] = ';';
      memcpy(out + o, e->props, e->plen);
      o += e->plen;
    }
  }
  if (o >= cap)
    return -1;
  out[o] = 0;
  return (int)o;
}

int __cst_bag_with(const __cst_bag *old, const char *key, size_t klen, const char *value,
                   size_t vlen, __cst_bag **out) {
  if (!__cst_is_token(key, klen))
    return CST_EINVAL;
  size_t n_old = old ? old->n : 0;
  __cst_bag_entry *e = malloc((n_old + 1) * sizeof *e);
  if (!e)
    return CST_ENOMEM;
  /* The new entry goes first, as W3C asks for a changed or added entry. */
  size_t n = 0;
  e[n++] = (__cst_bag_entry){key, value, "", (uint32_t)klen, (uint32_t)vlen, 0};
  for (size_t i = 0; i < n_old; i++) {
    const __cst_bag_entry *x = &old->e[i];
    if (x->klen == klen && memcmp(x->key, key, klen) == 0)
      continue;
    e[n++] = *x;
  }
  int rc = CST_OK;
  char *tmp = malloc(CST_BAGGAGE_MAX_BYTES + 1);
  __cst_bag *b =
      tmp ? __cst_bag_make(old ? old->tracestate : "", old ? old->ts_len : 0, e, n) : NULL;
  if (!b) {
    rc = CST_ENOMEM;
  } else if (n > CST_BAGGAGE_MAX_ENTRIES ||
             __cst_bag_format(b, tmp, CST_BAGGAGE_MAX_BYTES + 1) < 0) {
    rc = CST_ELIMIT;
    free(b);
    b = NULL;
  }
  free(tmp);
  free(e);
  *out = b;
  return rc;
}

void cst_context_free(cst_context *ctx) {
  if (!ctx)
    return;
  __cst_bag_unref(ctx->bag);
  free(ctx);
}

cst_context *cst_context_copy(const cst_context *ctx) {
  if (!ctx)
    return NULL;
  cst_context *c = malloc(sizeof *c);
  if (!c)
    return NULL;
  *c = *ctx;
  __cst_bag_ref(c->bag);
  return c;
}

int cst_context_is_valid(const cst_context *ctx) {
  return ctx && ctx->valid;
}
int cst_context_is_sampled(const cst_context *ctx) {
  return ctx && ctx->valid && (ctx->flags & 1);
}
int cst_context_is_remote(const cst_context *ctx) {
  return ctx && ctx->remote;
}

void cst_context_trace_id(const cst_context *ctx, uint8_t out[16]) {
  if (ctx && ctx->valid)
    memcpy(out, ctx->trace_id, 16);
  else
    memset(out, 0, 16);
}

void cst_context_span_id(const cst_context *ctx, uint8_t out[8]) {
  if (ctx && ctx->valid)
    memcpy(out, ctx->span_id, 8);
  else
    memset(out, 0, 8);
}

void cst_context_trace_id_hex(const cst_context *ctx, char out[33]) {
  uint8_t id[16];
  cst_context_trace_id(ctx, id);
  __cst_hex_encode(id, 16, out);
  out[32] = 0;
}

void cst_context_span_id_hex(const cst_context *ctx, char out[17]) {
  uint8_t id[8];
  cst_context_span_id(ctx, id);
  __cst_hex_encode(id, 8, out);
  out[16] = 0;
}

const char *cst_context_tracestate(const cst_context *ctx) {
  return ctx && ctx->bag ? ctx->bag->tracestate : "";
}

const char *cst_context_baggage(const cst_context *ctx, const char *key, size_t *len) {
  if (!ctx || !ctx->bag || !key)
    return NULL;
  size_t kl = strlen(key);
  for (uint32_t i = 0; i < ctx->bag->n; i++) {
    const __cst_bag_entry *e = &ctx->bag->e[i];
    if (e->klen == kl && memcmp(e->key, key, kl) == 0) {
      if (len)
        *len = e->vlen;
      return e->value;
    }
  }
  return NULL;
}

const char *cst_context_session(const cst_context *ctx) {
  if (!ctx || !ctx->bag || ctx->bag->session < 0)
    return NULL;
  return ctx->bag->e[ctx->bag->session].value;
}
