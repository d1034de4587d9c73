/* libFuzzer target for the JSON parser on its own (common/json_parse.c).
 * Any bytes must parse or fail with a cs_jp_err, within the arena's cap
 * and the depth cap. A tree that parses must hold its invariants (member
 * counts, NUL-terminated strings, numbers that are JSON numbers), and its
 * re-serialisation must parse to the same tree. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct out {
  char *p;
  size_t n, cap;
} out;

static void put(out *o, const char *s, size_t n) {
  if (o->n + n > o->cap) {
    size_t cap = o->cap ? o->cap : 256;
    while (cap < o->n + n)
      cap *= 2;
    o->p = realloc(o->p, cap);
    if (!o->p)
      abort();
    o->cap = cap;
  }
  memcpy(o->p + o->n, s, n);
  o->n += n;
}

static void put_str(out *o, const char *s, size_t n) {
  put(o, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      put(o, e, 2);
    } else if (c < 0x20) {
      char e[8];
      snprintf(e, sizeof e, "\\u%04x", c);
      put(o, e, 6);
    } else {
      put(o, (const char *)&c, 1);
    }
  }
  put(o, "\"", 1);
}

static void check_and_write(const cs_jp_val *v, out *o) {
  uint32_t members = 0;
  switch (v->type) {
  case CS_JP_NULL: put(o, "null", 4); break;
  case CS_JP_BOOL: put(o, v->b ? "true" : "false", v->b ? 4 : 5); break;
  case CS_JP_NUM: {
    if (v->n == 0 || !v->s)
      abort();
    int64_t i;
    uint64_t u;
    double d;
    /* The accessors must accept or refuse without reading past the text. */
    (void)cs_jp_i64(v, &i);
    (void)cs_jp_u64(v, &u);
    if (cs_jp_double(v, &d) && v->n < 128)
      abort(); /* the parser only keeps valid numbers */
    put(o, v->s, v->n);
    break;
  }
  case CS_JP_STR:
    if (!v->s || v->s[v->n] != '\0')
      abort();
    put_str(o, v->s, v->n);
    break;
  case CS_JP_ARR:
  case CS_JP_OBJ:
    put(o, v->type == CS_JP_ARR ? "[" : "{", 1);
    for (const cs_jp_val *m = v->child; m; m = m->next) {
      if (members++)
        put(o, ",", 1);
      if (v->type == CS_JP_OBJ) {
        if (!m->key || m->key[m->key_n] != '\0')
          abort();
        put_str(o, m->key, m->key_n);
        put(o, ":", 1);
      } else if (m->key) {
        abort();
      }
      check_and_write(m, o);
    }
    if (members != v->n)
      abort();
    put(o, v->type == CS_JP_ARR ? "]" : "}", 1);
    break;
  default: abort();
  }
}

static void same(const cs_jp_val *a, const cs_jp_val *b) {
  if (a->type != b->type || a->n != b->n || a->b != b->b)
    abort();
  if ((a->type == CS_JP_STR || a->type == CS_JP_NUM) && memcmp(a->s, b->s, a->n))
    abort();
  if (a->key_n != b->key_n || (a->key_n && memcmp(a->key, b->key, a->key_n)))
    abort();
  const cs_jp_val *x = a->child, *y = b->child;
  for (; x && y; x = x->next, y = y->next)
    same(x, y);
  if (x || y)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cs_arena a;
  cs_arena_init(&a, 4096, 64u * size + 4096);
  cs_jp_val *root;
  char err[96];
  int rc = cs_jp_parse((const char *)data, size, &a, 64, &root, err, sizeof err);
  if (rc != CS_JP_OK) {
    if (rc != CS_JP_ESYNTAX && rc != CS_JP_ENOMEM && rc != CS_JP_EDEPTH)
      abort();
    if (!memchr(err, '\0', sizeof err) || !err[0])
      abort(); /* a message, terminated */
  } else {
    out o = {0};
    check_and_write(root, &o);
    cs_arena b;
    cs_arena_init(&b, 4096, 64u * o.n + 4096);
    cs_jp_val *again;
    if (cs_jp_parse(o.p, o.n, &b, 64, &again, NULL, 0) != CS_JP_OK)
      abort();
    same(root, again);
    cs_arena_release(&b);
    free(o.p);
  }
  cs_arena_release(&a);
  return 0;
}
