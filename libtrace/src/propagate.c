/* Propagation: W3C traceparent/tracestate/baggage and B3 single/multi,
 * parsed and written through the cst_carrier getter/setter. Every parser
 * validates the whole value before using any of it: a malformed header is
 * ignored as a unit (a new trace starts), never half-applied.
 *
 * Trusted sizes: none from the carrier (its values come off the network).
 * traceparent and B3 must have their exact lengths and lowercase hex;
 * tracestate over 16 KiB and baggage over CST_BAGGAGE_MAX_BYTES or
 * CST_BAGGAGE_MAX_ENTRIES members are ignored whole; the getter's length
 * is used, never a NUL. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TRACESTATE_IN_MAX 16384

static int all_zero(const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (b[i])
      return 0;
  return 1;
}

static int ows(char c) {
  return c == ' ' || c == '\t';
}

static void trim(const char **v, size_t *n) {
  while (*n && ows(**v))
    (*v)++, (*n)--;
  while (*n && ows((*v)[*n - 1]))
    (*n)--;
}

/* traceparent = version "-" trace-id "-" parent-id "-" trace-flags. */
int __cst_parse_traceparent(const char *v, size_t n, cst_context *out) {
  trim(&v, &n);
  if (n < 55)
    return 0;
  uint8_t ver, fl;
  if (!__cst_hex_decode(v, 2, &ver) || ver == 0xff)
    return 0;
  if (ver == 0 && n != 55)
    return 0;
  /* Future versions: parse the version-00 prefix if what follows is '-'. */
  if (ver > 0 && n > 55 && v[55] != '-')
    return 0;
  if (v[2] != '-' || v[35] != '-' || v[52] != '-')
    return 0;
  cst_context c;
  memset(&c, 0, sizeof c);
  if (!__cst_hex_decode(v + 3, 32, c.trace_id) || !__cst_hex_decode(v + 36, 16, c.span_id) ||
      !__cst_hex_decode(v + 53, 2, &fl))
    return 0;
  if (all_zero(c.trace_id, 16) || all_zero(c.span_id, 8))
    return 0;
  c.flags = fl;
  c.valid = 1;
  c.remote = 1;
  c.b3_sampling = -1;
  *out = c;
  return 1;
}

static int ts_keychar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' ||
         c == '/';
}

/* simple-key = lcalpha 0*255(keychar);
 * multi-tenant-key = (lcalpha / DIGIT) 0*240(keychar) "@" lcalpha 0*13(keychar). */
static int ts_key_ok(const char *k, size_t n) {
  const char *at = memchr(k, '@', n);
  if (!at) {
    if (n < 1 || n > 256 || !(k[0] >= 'a' && k[0] <= 'z'))
      return 0;
    for (size_t i = 1; i < n; i++)
      if (!ts_keychar(k[i]))
        return 0;
    return 1;
  }
  size_t tn = (size_t)(at - k), sn = n - tn - 1;
  if (tn < 1 || tn > 241 || sn < 1 || sn > 14)
    return 0;
  if (!((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= '0' && k[0] <= '9')))
    return 0;
  for (size_t i = 1; i < tn; i++)
    if (!ts_keychar(k[i]))
      return 0;
  if (!(at[1] >= 'a' && at[1] <= 'z'))
    return 0;
  for (size_t i = 2; i <= sn; i++)
    if (!ts_keychar(at[i]))
      return 0;
  return 1;
}

/* value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr;
 * nblk-chr = %x21-2B / %x2D-3C / %x3E-7E */
static int ts_val_ok(const char *v, size_t n) {
  if (n < 1 || n > 256 || v[n - 1] == ' ')
    return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c < 0x20 || c > 0x7e || c == ',' || c == '=')
      return 0;
  }
  return 1;
}

int __cst_parse_tracestate(const char *v, size_t n, char *out, size_t cap, size_t *out_len) {
  if (n > TRACESTATE_IN_MAX)
    return 0;
  const char *keys[CST_TRACESTATE_MAX_ENTRIES];
  size_t klens[CST_TRACESTATE_MAX_ENTRIES];
  size_t members = 0, o = 0, i = 0;
  while (i <= n) {
    size_t j = i;
    while (j < n && v[j] != ',')
      j++;
    const char *m = v + i;
    size_t mn = j - i;
    trim(&m, &mn);
    if (mn > 0) {
      const char *eq = memchr(m, '=', mn);
      if (!eq)
        return 0;
      size_t kn = (size_t)(eq - m);
      if (!ts_key_ok(m, kn) || !ts_val_ok(eq + 1, mn - kn - 1))
        return 0;
      if (members == CST_TRACESTATE_MAX_ENTRIES)
        return 0;
      for (size_t x = 0; x < members; x++)
        if (klens[x] == kn && memcmp(keys[x], m, kn) == 0)
          return 0; /* duplicate key */
      keys[members] = m;
      klens[members++] = kn;
      if (o + (o ? 1 : 0) + mn >= cap)
        return 0;
      if (o)
        out[o++] = ',';
      memcpy(out + o, m, mn);
      o += mn;
    }
    i = j + 1;
  }
  out[o] = 0;
  *out_len = o;
  return 1;
}

static int bag_octet(unsigned char c) {
  return c == 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a) ||
         (c >= 0x3c && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

/* Percent-decodes v[0..n) in place into dst; returns the length or -1. */
static long pct_decode(const char *v, size_t n, char *dst) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    if (!bag_octet(c))
      return -1;
    if (c == '%') {
      if (i + 2 >= n)
        return -1;
      int hi = cs_hexval((unsigned char)v[i + 1]), lo = cs_hexval((unsigned char)v[i + 2]);
      if (hi < 0 || lo < 0)
        return -1;
      dst[o++] = (char)(hi << 4 | lo);
      i += 2;
    } else {
      dst[o++] = (char)c;
    }
  }
  return (long)o;
}

/* property = key OWS "=" OWS value / key */
static int prop_ok(const char *p, size_t n) {
  trim(&p, &n);
  const char *eq = memchr(p, '=', n);
  size_t kn = eq ? (size_t)(eq - p) : n;
  const char *k = p;
  trim(&k, &kn);
  if (!__cst_is_token(k, kn))
    return 0;
  if (!eq)
    return 1;
  const char *val = eq + 1;
  size_t vn = n - (size_t)(val - p);
  trim(&val, &vn);
  for (size_t i = 0; i < vn; i++)
    if (!bag_octet((unsigned char)val[i]))
      return 0;
  return 1;
}

int __cst_parse_baggage(const char *v, size_t n, const char *ts, size_t ts_len, __cst_bag **out) {
  *out = NULL;
  if (n > CST_BAGGAGE_MAX_BYTES)
    return 0;
  trim(&v, &n);
  if (n == 0)
    return 1;
  char *scratch = malloc(n + 1);
  __cst_bag_entry *e = malloc(CST_BAGGAGE_MAX_ENTRIES * sizeof *e);
  int rc = 0;
  size_t ne = 0, i = 0, so = 0;
  if (!scratch || !e) {
    rc = -1;
    goto done;
  }
  while (i <= n) {
    size_t j = i;
    while (j < n && v[j] != ',')
      j++;
    const char *m = v + i;
    size_t mn = j - i;
    trim(&m, &mn);
    if (mn == 0 || ne == CST_BAGGAGE_MAX_ENTRIES)
      goto done; /* empty member or too many */
    const char *semi = memchr(m, ';', mn);
    size_t kvn = semi ? (size_t)(semi - m) : mn;
    const char *eq = memchr(m, '=', kvn);
    if (!eq)
      goto done;
    const char *k = m, *val = eq + 1;
    size_t kn = (size_t)(eq - m), vn = kvn - kn - 1;
    trim(&k, &kn);
    trim(&val, &vn);
    if (!__cst_is_token(k, kn))
      goto done;
    long dn = pct_decode(val, vn, scratch + so);
    if (dn < 0)
      goto done;
    const char *props = "";
    size_t pn = 0;
    if (semi) {
      props = semi + 1;
      pn = mn - kvn - 1;
      trim(&props, &pn);
      size_t a = 0;
      while (a <= pn) { /* each ';'-separated property */
        size_t b = a;
        while (b < pn && props[b] != ';')
          b++;
        if (!prop_ok(props + a, b - a))
          goto done;
        a = b + 1;
      }
    }
    /* A repeated key keeps its last value. */
    size_t x = 0;
    while (x < ne && !(e[x].klen == kn && memcmp(e[x].key, k, kn) == 0))
      x++;
    e[x] = (__cst_bag_entry){k, scratch + so, props, (uint32_t)kn, (uint32_t)dn, (uint32_t)pn};
    if (x == ne)
      ne++;
    so += (size_t)dn;
    i = j + 1;
  }
  rc = 1;
  if (ne) {
    *out = __cst_bag_make(ts, ts_len, e, ne);
    if (!*out)
      rc = -1;
  }
done:
  free(scratch);
  free(e);
  return rc;
}

/* b3 = TraceId "-" SpanId ["-" SamplingState ["-" ParentSpanId]] / SamplingState */
static int b3_ids(const char *tid, size_t tn, const char *sid, cst_context *c) {
  uint8_t t[16] = {0};
  if (tn == 32) {
    if (!__cst_hex_decode(tid, 32, t))
      return 0;
  } else if (tn == 16) {
    if (!__cst_hex_decode(tid, 16, t + 8))
      return 0; /* 64-bit IDs pad left */
  } else {
    return 0;
  }
  if (!__cst_hex_decode(sid, 16, c->span_id))
    return 0;
  memcpy(c->trace_id, t, 16);
  return !all_zero(c->trace_id, 16) && !all_zero(c->span_id, 8);
}

static int b3_state(char s) {
  return s == '1' ? 1 : s == 'd' ? 1 : s == '0' ? 0 : -1;
}

int __cst_parse_b3_single(const char *v, size_t n, cst_context *out) {
  trim(&v, &n);
  cst_context c;
  memset(&c, 0, sizeof c);
  c.remote = 1;
  if (n == 1) { /* sampling decision only: start a new trace with it */
    int s = b3_state(v[0]);
    if (s < 0)
      return 0;
    c.b3_sampling = (int8_t)s;
    *out = c;
    return 1;
  }
  const char *d1 = memchr(v, '-', n);
  if (!d1)
    return 0;
  size_t tn = (size_t)(d1 - v);
  const char *sid = d1 + 1;
  size_t rest = n - tn - 1;
  if (rest < 16 || !b3_ids(v, tn, sid, &c))
    return 0;
  c.b3_sampling = 2; /* deferred */
  if (rest > 16) {
    if (sid[16] != '-' || rest < 18)
      return 0;
    int s = b3_state(sid[17]);
    if (s < 0)
      return 0;
    c.b3_sampling = -1;
    c.flags = (uint8_t)s;
    if (rest > 18) {
      uint8_t pid[8];
      if (rest != 18 + 17 || sid[18] != '-' || !__cst_hex_decode(sid + 19, 16, pid) ||
          all_zero(pid, 8))
        return 0;
    }
  }
  c.valid = 1;
  *out = c;
  return 1;
}

static const char *cget(const cst_carrier *cr, const char *key, size_t *n) {
  *n = 0;
  const char *v = cr->get(cr->user, key, n);
  if (!v)
    return NULL;
  trim(&v, n);
  return v;
}

static int parse_b3_multi(const cst_carrier *cr, cst_context *out) {
  size_t tn, sn, pn, smn, fn;
  const char *tid = cget(cr, "X-B3-TraceId", &tn);
  const char *sid = cget(cr, "X-B3-SpanId", &sn);
  const char *pid = cget(cr, "X-B3-ParentSpanId", &pn);
  const char *sm = cget(cr, "X-B3-Sampled", &smn);
  const char *fl = cget(cr, "X-B3-Flags", &fn);
  cst_context c;
  memset(&c, 0, sizeof c);
  c.remote = 1;
  int s = -1;
  if (fl && fn == 1 && fl[0] == '1')
    s = 1; /* debug implies sampled */
  else if (fl && !(fn == 1 && fl[0] == '0'))
    return 0;
  if (sm && s < 0) {
    if ((smn == 1 && sm[0] == '1') || (smn == 4 && memcmp(sm, "true", 4) == 0))
      s = 1;
    else if ((smn == 1 && sm[0] == '0') || (smn == 5 && memcmp(sm, "false", 5) == 0))
      s = 0;
    else
      return 0;
  }
  if (!tid && !sid) {
    if (s < 0)
      return 0;
    c.b3_sampling = (int8_t)s;
    *out = c;
    return 1;
  }
  if (!tid || !sid || sn != 16 || !b3_ids(tid, tn, sid, &c))
    return 0;
  if (pid) {
    uint8_t p[8];
    if (pn != 16 || !__cst_hex_decode(pid, 16, p) || all_zero(p, 8))
      return 0;
  }
  c.b3_sampling = s < 0 ? 2 : -1;
  c.flags = s > 0 ? 1 : 0;
  c.valid = 1;
  *out = c;
  return 1;
}

cst_context *cst_extract(const cst_carrier *cr, unsigned formats) {
  if (!formats)
    formats = CST_PROP_DEFAULT;
  cst_context *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->b3_sampling = -1;
  c->remote = 1;
  if (!cr || !cr->get)
    return c;
  size_t n;
  const char *v;
  char *ts = NULL;
  size_t ts_len = 0;
  int found = 0;
  if (formats & CST_PROP_TRACECONTEXT) {
    v = cget(cr, "traceparent", &n);
    if (v && __cst_parse_traceparent(v, n, c)) {
      found = 1;
      const char *tsv = cget(cr, "tracestate", &n);
      if (tsv && n <= TRACESTATE_IN_MAX && (ts = malloc(n + 1)) != NULL &&
          !__cst_parse_tracestate(tsv, n, ts, n + 1, &ts_len))
        ts_len = 0;
    }
  }
  if (!found && (formats & CST_PROP_B3)) {
    v = cget(cr, "b3", &n);
    if (v && __cst_parse_b3_single(v, n, c))
      found = 1;
  }
  if (!found && (formats & CST_PROP_B3_MULTI))
    found = parse_b3_multi(cr, c);
  if (!found) {
    memset(c, 0, sizeof *c);
    c->b3_sampling = -1;
    c->remote = 1;
  }
  __cst_bag *bag = NULL;
  if (formats & CST_PROP_BAGGAGE) {
    v = cget(cr, "baggage", &n);
    if (v && __cst_parse_baggage(v, n, ts, ts_len, &bag) != 1)
      bag = NULL;
  }
  if (!bag && ts_len)
    bag = __cst_bag_make(ts, ts_len, NULL, 0);
  c->bag = bag;
  free(ts);
  return c;
}

/* Drops whole entries from the right until the header fits in the limit. */
static size_t truncate_tracestate(const char *ts, size_t n) {
  while (n > CST_TRACESTATE_MAX_OUT) {
    const char *comma = NULL;
    for (size_t i = n; i-- > 0;)
      if (ts[i] == ',') {
        comma = ts + i;
        break;
      }
    if (!comma)
      return 0;
    n = (size_t)(comma - ts);
  }
  return n;
}

static int cset(const cst_carrier *cr, const char *k, const char *v) {
  return cr->set(cr->user, k, v) == 0 ? 0 : -1;
}

int cst_inject(const cst_context *ctx, const cst_carrier *cr, unsigned formats) {
  if (!ctx || !cr || !cr->set)
    return CST_EINVAL;
  if (!formats)
    formats = CST_PROP_DEFAULT;
  int fail = 0, wrote = 0;
  char tid[33], sid[17];
  __cst_hex_encode(ctx->trace_id, 16, tid);
  __cst_hex_encode(ctx->span_id, 8, sid);
  tid[32] = sid[16] = 0;
  int sampled = ctx->flags & 1;
  if (ctx->valid && (formats & CST_PROP_TRACECONTEXT)) {
    char tp[56];
    memcpy(tp, "00-", 3);
    memcpy(tp + 3, tid, 32);
    tp[35] = '-';
    memcpy(tp + 36, sid, 16);
    tp[52] = '-';
    tp[53] = '0';
    tp[54] = sampled ? '1' : '0';
    tp[55] = 0;
    fail |= cset(cr, "traceparent", tp);
    wrote = 1;
    if (ctx->bag && ctx->bag->ts_len) {
      char out[CST_TRACESTATE_MAX_OUT + 1];
      size_t n = truncate_tracestate(ctx->bag->tracestate, ctx->bag->ts_len);
      if (n) {
        memcpy(out, ctx->bag->tracestate, n);
        out[n] = 0;
        fail |= cset(cr, "tracestate", out);
      }
    }
  }
  if (ctx->valid && (formats & CST_PROP_B3)) {
    char b3[32 + 1 + 16 + 2 + 1];
    memcpy(b3, tid, 32);
    b3[32] = '-';
    memcpy(b3 + 33, sid, 16);
    b3[49] = '-';
    b3[50] = sampled ? '1' : '0';
    b3[51] = 0;
    fail |= cset(cr, "b3", b3);
    wrote = 1;
  }
  if (ctx->valid && (formats & CST_PROP_B3_MULTI)) {
    fail |= cset(cr, "X-B3-TraceId", tid);
    fail |= cset(cr, "X-B3-SpanId", sid);
    fail |= cset(cr, "X-B3-Sampled", sampled ? "1" : "0");
    wrote = 1;
  }
  if ((formats & CST_PROP_BAGGAGE) && ctx->bag && ctx->bag->n) {
    char *out = malloc(CST_BAGGAGE_MAX_BYTES + 1);
    if (!out)
      return CST_ENOMEM;
    if (__cst_bag_format(ctx->bag, out, CST_BAGGAGE_MAX_BYTES + 1) >= 0) {
      fail |= cset(cr, "baggage", out);
      wrote = 1;
    }
    free(out);
  }
  if (fail)
    return CST_ELIMIT;
  return wrote ? CST_OK : CST_EINVAL;
}
