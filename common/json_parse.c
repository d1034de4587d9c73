/* Recursive-descent JSON parser into an arena tree (see json_parse.h).
 * Recursion is bounded by max_depth, memory by the arena's cap; every read
 * is checked against the end of the input, which need not be
 * NUL-terminated. */
#include "json_parse.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hexb64.h"

typedef struct jp {
  const char *p, *end, *start;
  cs_arena *a;
  uint32_t max_depth;
  int rc;
  char *err;
  size_t err_len;
} jp;

static int fail(jp *j, int rc, const char *what) {
  if (j->rc) return j->rc;
  j->rc = rc;
  if (j->err && j->err_len)
    snprintf(j->err, j->err_len, "%s at offset %zu", what, (size_t)(j->p - j->start));
  return rc;
}

static void skip_ws(jp *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
    j->p++;
}

static int read_u16(jp *j, const char *q, uint32_t *out) {
  if (j->end - q < 4) return -1;
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    int h = cs_hexval((unsigned char)q[i]);
    if (h < 0) return -1;
    v = v << 4 | (uint32_t)h;
  }
  *out = v;
  return 0;
}

static size_t put_utf8(char *o, uint32_t cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xc0 | cp >> 6);
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | cp >> 12);
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | cp >> 18);
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* Reads a string at j->p (on the opening quote). The unescaped text is
 * never longer than the escaped one (\uXXXX is 6 bytes for at most 3,
 * a surrogate pair 12 for 4), so one allocation of the raw length fits. */
static int parse_string(jp *j, const char **out, uint32_t *out_n) {
  const char *q = ++j->p;
  const char *close = NULL;
  int escapes = 0;
  while (q < j->end) {
    unsigned char c = (unsigned char)*q;
    if (c == '"') {
      close = q;
      break;
    }
    if (c < 0x20) return fail(j, CS_JP_ESYNTAX, "control character in string");
    if (c == '\\') {
      escapes = 1;
      if (++q >= j->end) break;
    }
    q++;
  }
  if (!close) return fail(j, CS_JP_ESYNTAX, "unterminated string");
  size_t raw = (size_t)(close - j->p);
  if (raw > UINT32_MAX / 2) return fail(j, CS_JP_ENOMEM, "string too long");
  char *o = cs_arena_alloc(j->a, raw + 1);
  if (!o) return fail(j, CS_JP_ENOMEM, "out of memory");
  size_t n = 0;
  if (!escapes) {
    memcpy(o, j->p, raw);
    n = raw;
  } else {
    for (const char *s = j->p; s < close;) {
      if (*s != '\\') {
        o[n++] = *s++;
        continue;
      }
      s++;
      char e = *s++;
      switch (e) {
      case '"': o[n++] = '"'; break;
      case '\\': o[n++] = '\\'; break;
      case '/': o[n++] = '/'; break;
      case 'b': o[n++] = '\b'; break;
      case 'f': o[n++] = '\f'; break;
      case 'n': o[n++] = '\n'; break;
      case 'r': o[n++] = '\r'; break;
      case 't': o[n++] = '\t'; break;
      case 'u': {
        uint32_t cp, lo;
        j->p = s - 2;
        if (close - s < 4 || read_u16(j, s, &cp)) return fail(j, CS_JP_ESYNTAX, "bad \\u escape");
        s += 4;
        if (cp >= 0xd800 && cp <= 0xdbff && close - s >= 6 && s[0] == '\\' && s[1] == 'u' &&
            read_u16(j, s + 2, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          s += 6;
        } else if (cp >= 0xd800 && cp <= 0xdfff) {
          cp = 0xfffd; /* lone surrogate */
        }
        n += put_utf8(o + n, cp);
        break;
      }
      default: j->p = s - 2; return fail(j, CS_JP_ESYNTAX, "bad escape");
      }
    }
  }
  o[n] = '\0';
  *out = o;
  *out_n = (uint32_t)n;
  j->p = close + 1;
  return 0;
}

static int parse_number(jp *j, cs_jp_val *v) {
  const char *s = j->p;
  const char *q = s;
  if (q < j->end && *q == '-') q++;
  if (q >= j->end || *q < '0' || *q > '9') return fail(j, CS_JP_ESYNTAX, "bad number");
  if (*q == '0') q++;
  else
    while (q < j->end && *q >= '0' && *q <= '9') q++;
  if (q < j->end && *q == '.') {
    q++;
    if (q >= j->end || *q < '0' || *q > '9') return fail(j, CS_JP_ESYNTAX, "bad fraction");
    while (q < j->end && *q >= '0' && *q <= '9') q++;
  }
  if (q < j->end && (*q == 'e' || *q == 'E')) {
    q++;
    if (q < j->end && (*q == '+' || *q == '-')) q++;
    if (q >= j->end || *q < '0' || *q > '9') return fail(j, CS_JP_ESYNTAX, "bad exponent");
    while (q < j->end && *q >= '0' && *q <= '9') q++;
  }
  if (q - s > 4096) return fail(j, CS_JP_ESYNTAX, "number too long");
  v->type = CS_JP_NUM;
  v->s = s;
  v->n = (uint32_t)(q - s);
  j->p = q;
  return 0;
}

static int literal(jp *j, const char *word, size_t n) {
  if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n))
    return fail(j, CS_JP_ESYNTAX, "unexpected character");
  j->p += n;
  return 0;
}

static int parse_value(jp *j, cs_jp_val *v, uint32_t depth);

static int parse_container(jp *j, cs_jp_val *v, uint32_t depth, int obj) {
  if (depth >= j->max_depth) return fail(j, CS_JP_EDEPTH, "nested too deeply");
  v->type = obj ? CS_JP_OBJ : CS_JP_ARR;
  j->p++;
  skip_ws(j);
  char close = obj ? '}' : ']';
  if (j->p < j->end && *j->p == close) {
    j->p++;
    return 0;
  }
  cs_jp_val **tail = &v->child;
  for (;;) {
    cs_jp_val *m = cs_arena_calloc(j->a, sizeof *m);
    if (!m) return fail(j, CS_JP_ENOMEM, "out of memory");
    if (obj) {
      skip_ws(j);
      if (j->p >= j->end || *j->p != '"') return fail(j, CS_JP_ESYNTAX, "expected a key");
      if (parse_string(j, &m->key, &m->key_n)) return j->rc;
      skip_ws(j);
      if (j->p >= j->end || *j->p != ':') return fail(j, CS_JP_ESYNTAX, "expected ':'");
      j->p++;
    }
    if (parse_value(j, m, depth + 1)) return j->rc;
    if (v->n == UINT32_MAX) return fail(j, CS_JP_ENOMEM, "too many members");
    v->n++;
    *tail = m;
    tail = &m->next;
    skip_ws(j);
    if (j->p >= j->end) return fail(j, CS_JP_ESYNTAX, "unterminated container");
    if (*j->p == ',') {
      j->p++;
      continue;
    }
    if (*j->p == close) {
      j->p++;
      return 0;
    }
    return fail(j, CS_JP_ESYNTAX, obj ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

static int parse_value(jp *j, cs_jp_val *v, uint32_t depth) {
  skip_ws(j);
  if (j->p >= j->end) return fail(j, CS_JP_ESYNTAX, "unexpected end");
  switch (*j->p) {
  case '{': return parse_container(j, v, depth, 1);
  case '[': return parse_container(j, v, depth, 0);
  case '"':
    v->type = CS_JP_STR;
    return parse_string(j, &v->s, &v->n);
  case 't': v->type = CS_JP_BOOL; v->b = 1; return literal(j, "true", 4);
  case 'f': v->type = CS_JP_BOOL; return literal(j, "false", 5);
  case 'n': v->type = CS_JP_NULL; return literal(j, "null", 4);
  default: return parse_number(j, v);
  }
}

int cs_jp_parse(const char *p, size_t n, cs_arena *a, uint32_t max_depth, cs_jp_val **out,
                char *err, size_t err_len) {
  jp j = {.p = p, .end = p + n, .start = p, .a = a, .max_depth = max_depth ? max_depth : 64,
          .err = err, .err_len = err_len};
  *out = NULL;
  if (err && err_len) err[0] = '\0';
  cs_jp_val *v = cs_arena_calloc(a, sizeof *v);
  if (!v) return fail(&j, CS_JP_ENOMEM, "out of memory");
  if (parse_value(&j, v, 0)) return j.rc;
  skip_ws(&j);
  if (j.p != j.end) return fail(&j, CS_JP_ESYNTAX, "trailing characters");
  *out = v;
  return CS_JP_OK;
}

const cs_jp_val *cs_jp_get(const cs_jp_val *o, const char *key) {
  if (!o || o->type != CS_JP_OBJ) return NULL;
  size_t n = strlen(key);
  for (const cs_jp_val *m = o->child; m; m = m->next)
    if (m->key_n == n && !memcmp(m->key, key, n)) return m;
  return NULL;
}

int cs_jp_str_eq(const cs_jp_val *v, const char *s) {
  return v && v->type == CS_JP_STR && v->n == strlen(s) && !memcmp(v->s, s, v->n);
}

/* Digits of an integer (number or string) without sign: pointer, length,
 * negative flag. Only plain decimal integers qualify. */
static int int_text(const cs_jp_val *v, const char **d, size_t *n, int *neg) {
  if (!v || (v->type != CS_JP_NUM && v->type != CS_JP_STR)) return -1;
  const char *s = v->s;
  size_t len = v->n;
  *neg = 0;
  if (len && s[0] == '-') {
    *neg = 1;
    s++;
    len--;
  }
  if (len == 0 || len > 20) return -1;
  for (size_t i = 0; i < len; i++)
    if (s[i] < '0' || s[i] > '9') return -1;
  *d = s;
  *n = len;
  return 0;
}

int cs_jp_u64(const cs_jp_val *v, uint64_t *out) {
  const char *d;
  size_t n;
  int neg;
  if (int_text(v, &d, &n, &neg)) return -1;
  uint64_t r = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t dig = (uint64_t)(d[i] - '0');
    if (r > (UINT64_MAX - dig) / 10) return -1;
    r = r * 10 + dig;
  }
  if (neg && r) return -1;
  *out = r;
  return 0;
}

int cs_jp_i64(const cs_jp_val *v, int64_t *out) {
  const char *d;
  size_t n;
  int neg;
  if (int_text(v, &d, &n, &neg)) return -1;
  uint64_t r = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t dig = (uint64_t)(d[i] - '0');
    if (r > (UINT64_MAX - dig) / 10) return -1;
    r = r * 10 + dig;
  }
  if (neg) {
    if (r > (uint64_t)INT64_MAX + 1) return -1;
    *out = r == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)r;
  } else {
    if (r > (uint64_t)INT64_MAX) return -1;
    *out = (int64_t)r;
  }
  return 0;
}

int cs_jp_double(const cs_jp_val *v, double *out) {
  if (!v) return -1;
  if (v->type == CS_JP_STR) {
    if (cs_jp_str_eq(v, "NaN")) *out = NAN;
    else if (cs_jp_str_eq(v, "Infinity")) *out = INFINITY;
    else if (cs_jp_str_eq(v, "-Infinity")) *out = -INFINITY;
    else goto text;
    return 0;
  }
  if (v->type != CS_JP_NUM) return -1;
text:;
  char buf[128];
  if (v->n == 0 || v->n >= sizeof buf) return -1;
  memcpy(buf, v->s, v->n);
  buf[v->n] = '\0';
  char *end;
  errno = 0;
  double d = strtod(buf, &end);
  if (end != buf + v->n) return -1;
  /* Overflow gives +-HUGE_VAL, which is the nearest representable answer;
   * underflow gives 0 or a denormal: both acceptable for telemetry. */
  *out = d;
  return 0;
}
