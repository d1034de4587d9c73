/* JSON writer and flat-object parser (see json.h). The writer never
 * allocates past its limit: a response that would grow beyond it fails as
 * a whole instead of being cut into invalid JSON. */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hexb64.h"

void cs_json_init(cs_json *j, size_t limit) {
  memset(j, 0, sizeof *j);
  j->b.max = limit ? limit : ((size_t)64 << 20);
  j->first[0] = 1;
}

void cs_json_release(cs_json *j) {
  free(j->b.p);
  j->b.p = NULL;
  j->b.n = j->b.cap = 0;
}

char *cs_json_take(cs_json *j, size_t *len) {
  if (j->err || !j->b.s) {
    cs_json_release(j);
    if (len) *len = 0;
    return NULL;
  }
  j->b.s[j->b.n] = '\0';
  char *p = j->b.s;
  if (len)
    *len = j->b.n;
  j->b.s = NULL;
  j->b.n = j->b.cap = 0;
  return p;
}

/* Room for extra bytes and the NUL that cs_json_take writes. */
static int grow(cs_json *j, size_t extra) {
  if (j->err) return -1;
  if (extra == SIZE_MAX || cs_buf_reserve(&j->b, extra + 1)) {
    j->err = 1;
    return -1;
  }
  return 0;
}

void cs_json_raw(cs_json *j, const char *s, size_t n) {
  if (grow(j, n)) return;
  memcpy(j->b.s + j->b.n, s, n);
  j->b.n += n;
}

static void putc1(cs_json *j, char c) {
  if (grow(j, 1)) return;
  j->b.s[j->b.n++] = c;
}

/* Emits the separator a new value needs at the current position. */
static void sep(cs_json *j) {
  if (j->after_key) {
    j->after_key = 0;
    return;
  }
  if (!j->first[j->depth]) putc1(j, ',');
  j->first[j->depth] = 0;
}

static void open(cs_json *j, char o, char c) {
  sep(j);
  if (j->depth + 1 >= CS_JSON_MAX_DEPTH) {
    j->err = 1;
    return;
  }
  putc1(j, o);
  j->depth++;
  j->first[j->depth] = 1;
  j->close[j->depth] = c;
}

void cs_json_obj(cs_json *j) { open(j, '{', '}'); }
void cs_json_arr(cs_json *j) { open(j, '[', ']'); }

void cs_json_end(cs_json *j) {
  if (j->depth <= 0) {
    j->err = 1;
    return;
  }
  putc1(j, j->close[j->depth]);
  j->depth--;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  uint32_t cp;
  if ((c & 0xe0) == 0xc0) len = 2, cp = c & 0x1f;
  else if ((c & 0xf0) == 0xe0) len = 3, cp = c & 0x0f;
  else if ((c & 0xf8) == 0xf0) len = 4, cp = c & 0x07;
  else return 0;
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  /* Overlong forms, surrogates and values past U+10FFFF are invalid. */
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
      cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

/* Escapes into space reserved up front (at most 6 output bytes per input
 * byte plus quotes), so the loop writes without per-byte capacity checks. */
static void write_escaped(cs_json *j, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  if (n > (SIZE_MAX - 2) / 6 || grow(j, 6 * n + 2)) {
    j->err = 1;
    return;
  }
  char *o = j->b.s + j->b.n;
  *o++ = '"';
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    unsigned char c = u[i];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      *o++ = (char)c;
      i++;
      continue;
    }
    if (c >= 0x80) {
      size_t l = utf8_len(u + i, n - i);
      if (l) {
        memcpy(o, s + i, l);
        o += l, i += l;
      } else {
        memcpy(o, "\\ufffd", 6);
        o += 6, i++;
      }
      continue;
    }
    *o++ = '\\';
    switch (c) {
    case '"': *o++ = '"'; break;
    case '\\': *o++ = '\\'; break;
    case '\n': *o++ = 'n'; break;
    case '\r': *o++ = 'r'; break;
    case '\t': *o++ = 't'; break;
    case '\b': *o++ = 'b'; break;
    case '\f': *o++ = 'f'; break;
    default:
      *o++ = 'u', *o++ = '0', *o++ = '0';
      *o++ = hex[c >> 4];
      *o++ = hex[c & 15];
    }
    i++;
  }
  *o++ = '"';
  j->b.n = (size_t)(o - j->b.s);
}

/* Decimal digits of v, right-aligned in b[0..24); returns the start. */
static char *fmt_u64(char b[24], uint64_t v) {
  char *p = b + 24;
  do {
    *--p = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  return p;
}

void cs_json_key(cs_json *j, const char *k) {
  sep(j);
  write_escaped(j, k, strlen(k));
  putc1(j, ':');
  j->after_key = 1;
}

void cs_json_strn(cs_json *j, const char *s, size_t n) {
  sep(j);
  write_escaped(j, s ? s : "", s ? n : 0);
}

void cs_json_str(cs_json *j, const char *s) { cs_json_strn(j, s, s ? strlen(s) : 0); }
void cs_json_cs(cs_json *j, cs_str s) { cs_json_strn(j, s.p, s.n); }

void cs_json_int(cs_json *j, int64_t v) {
  char b[24];
  /* The magnitude as unsigned, so INT64_MIN does not overflow. */
  uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  char *p = fmt_u64(b, m);
  if (v < 0) *--p = '-';
  sep(j);
  cs_json_raw(j, p, (size_t)(b + 24 - p));
}

void cs_json_uint(cs_json *j, uint64_t v) {
  char b[24];
  char *p = fmt_u64(b, v);
  sep(j);
  cs_json_raw(j, p, (size_t)(b + 24 - p));
}

void cs_json_double(cs_json *j, double v) {
  if (!isfinite(v)) {
    cs_json_null(j);
    return;
  }
  char b[32];
  int n = snprintf(b, sizeof b, "%.15g", v);
  sep(j);
  cs_json_raw(j, b, (size_t)n);
}

void cs_json_bool(cs_json *j, int v) {
  sep(j);
  if (v) cs_json_raw(j, "true", 4);
  else cs_json_raw(j, "false", 5);
}

void cs_json_null(cs_json *j) {
  sep(j);
  cs_json_raw(j, "null", 4);
}

void cs_json_hex(cs_json *j, const uint8_t *b, size_t n) {
  char buf[64];
  if (n > 32) n = 32;
  cs_hex_encode(b, n, buf);
  sep(j);
  putc1(j, '"');
  cs_json_raw(j, buf, 2 * n);
  putc1(j, '"');
}

/* ---- flat object parser ---- */

typedef struct parser {
  const char *s;
  size_t n, i;
  char *err;
  size_t errlen;
} parser;

static int fail(parser *p, const char *msg) {
  snprintf(p->err, p->errlen, "%s at offset %zu", msg, p->i);
  return -1;
}

static void skip_ws(parser *p) {
  while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' ||
                         p->s[p->i] == '\r'))
    p->i++;
}

static int hex4(parser *p, uint32_t *out) {
  if (p->n - p->i < 4) return fail(p, "truncated \\u escape");
  uint32_t v = 0;
  for (int k = 0; k < 4; k++) {
    char c = p->s[p->i++];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
    else return fail(p, "bad \\u escape");
  }
  *out = v;
  return 0;
}

static size_t put_utf8(char *o, uint32_t cp) {
  if (cp < 0x80) return o[0] = (char)cp, 1;
  if (cp < 0x800) return o[0] = (char)(0xc0 | (cp >> 6)), o[1] = (char)(0x80 | (cp & 0x3f)), 2;
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* Decoded text is never longer than its escaped source, so the output
 * buffer is sized by the source span. */
static int parse_string(parser *p, cs_arena *a, cs_str *out) {
  if (p->i >= p->n || p->s[p->i] != '"') return fail(p, "expected string");
  p->i++;
  size_t start = p->i;
  while (p->i < p->n && p->s[p->i] != '"') p->i += p->s[p->i] == '\\' ? 2 : 1;
  if (p->i >= p->n) return fail(p, "unterminated string");
  size_t end = p->i;
  char *o = cs_arena_alloc(a, end - start + 1);
  if (!o) return fail(p, "out of memory");
  size_t on = 0;
  p->i = start;
  while (p->i < end) {
    unsigned char c = (unsigned char)p->s[p->i++];
    if (c < 0x20) return fail(p, "control character in string");
    if (c != '\\') {
      o[on++] = (char)c;
      continue;
    }
    char e = p->s[p->i++];
    switch (e) {
    case '"': o[on++] = '"'; break;
    case '\\': o[on++] = '\\'; break;
    case '/': o[on++] = '/'; break;
    case 'b': o[on++] = '\b'; break;
    case 'f': o[on++] = '\f'; break;
    case 'n': o[on++] = '\n'; break;
    case 'r': o[on++] = '\r'; break;
    case 't': o[on++] = '\t'; break;
    case 'u': {
      uint32_t cp;
      if (p->i > end || hex4(p, &cp)) return fail(p, "bad \\u escape");
      if (p->i > end) return fail(p, "bad \\u escape");
      if (cp >= 0xd800 && cp <= 0xdbff) {
        uint32_t lo;
        if (end - p->i < 6 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u')
          return fail(p, "unpaired surrogate");
        p->i += 2;
        if (hex4(p, &lo) || lo < 0xdc00 || lo > 0xdfff) return fail(p, "unpaired surrogate");
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      } else if (cp >= 0xdc00 && cp <= 0xdfff) {
        return fail(p, "unpaired surrogate");
      }
      on += put_utf8(o + on, cp);
      break;
    }
    default: return fail(p, "bad escape");
    }
  }
  p->i = end + 1;
  o[on] = '\0';
  out->p = o;
  out->n = (uint32_t)on;
  return 0;
}

static int parse_scalar(parser *p, cs_arena *a, cs_str *out) {
  if (p->i >= p->n) return fail(p, "expected value");
  char c = p->s[p->i];
  if (c == '"') return parse_string(p, a, out);
  if (c == '{' || c == '[') return fail(p, "nested values are not allowed");
  static const char *const words[] = {"true", "false", "null"};
  for (int w = 0; w < 3; w++) {
    size_t l = strlen(words[w]);
    if (p->n - p->i >= l && memcmp(p->s + p->i, words[w], l) == 0) {
      p->i += l;
      *out = w == 2 ? (cs_str){"", 0} : (cs_str){words[w], (uint32_t)l};
      return 0;
    }
  }
  size_t st = p->i;
  if (p->i < p->n && p->s[p->i] == '-') p->i++;
  size_t digits = 0;
  while (p->i < p->n && ((p->s[p->i] >= '0' && p->s[p->i] <= '9') || p->s[p->i] == '.' ||
                         p->s[p->i] == 'e' || p->s[p->i] == 'E' || p->s[p->i] == '+' ||
                         p->s[p->i] == '-')) {
    if (p->s[p->i] >= '0' && p->s[p->i] <= '9') digits++;
    p->i++;
  }
  if (!digits) return fail(p, "expected value");
  char *o = cs_arena_strndup(a, p->s + st, p->i - st);
  if (!o) return fail(p, "out of memory");
  out->p = o;
  out->n = (uint32_t)(p->i - st);
  return 0;
}

int cs_json_parse_flat(const char *s, size_t n, cs_arena *a, cs_str **keys, cs_str **vals,
                       size_t *count, size_t max_pairs, char *err, size_t errlen) {
  parser p = {s, n, 0, err, errlen};
  *count = 0;
  *keys = cs_arena_alloc(a, sizeof(cs_str) * (max_pairs ? max_pairs : 1));
  *vals = cs_arena_alloc(a, sizeof(cs_str) * (max_pairs ? max_pairs : 1));
  if (!*keys || !*vals) return fail(&p, "out of memory");
  skip_ws(&p);
  if (p.i >= p.n || s[p.i] != '{') return fail(&p, "expected '{'");
  p.i++;
  skip_ws(&p);
  if (p.i < p.n && s[p.i] == '}') {
    p.i++;
  } else {
    for (;;) {
      if (*count >= max_pairs) return fail(&p, "too many keys");
      skip_ws(&p);
      if (parse_string(&p, a, &(*keys)[*count])) return -1;
      skip_ws(&p);
      if (p.i >= p.n || s[p.i] != ':') return fail(&p, "expected ':'");
      p.i++;
      skip_ws(&p);
      if (parse_scalar(&p, a, &(*vals)[*count])) return -1;
      (*count)++;
      skip_ws(&p);
      if (p.i < p.n && s[p.i] == ',') {
        p.i++;
        continue;
      }
      if (p.i < p.n && s[p.i] == '}') {
        p.i++;
        break;
      }
      return fail(&p, "expected ',' or '}'");
    }
  }
  skip_ws(&p);
  if (p.i != p.n) return fail(&p, "trailing characters");
  return 0;
}

void cs_json_base64(cs_json *j, const uint8_t *b, size_t n) {
  sep(j);
  size_t e = cs_b64_encoded_len(n);
  if ((!e && n) || e > SIZE_MAX - 2 || grow(j, e + 2)) {
    j->err = 1;
    return;
  }
  char *o = j->b.s + j->b.n;
  o[0] = '"';
  cs_b64_encode(b, n, o + 1);
  o[e + 1] = '"';
  j->b.n += e + 2;
}
