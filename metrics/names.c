/* Prometheus naming: metric and label name sanitizing, OTLP unit suffixes,
 * UTF-8 repair and escaping of label values and HELP text, and the
 * canonical label key that identifies a series. */
#include <string.h>

#include "internal.h"

static int is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_name_char(unsigned char c) { return is_alpha(c) || is_digit(c) || c == '_'; }

/* Colons are legal in metric names but reserved for recording rules by
 * convention, so they become '_' like every other character. */
size_t __cs_metrics_sanitize_metric(const char *in, size_t n, char *out, size_t cap) {
  size_t o = 0;
  if (cap == 0) return 0;
  for (size_t i = 0; i < n && o + 1 < cap; i++) {
    unsigned char c = (unsigned char)in[i];
    char w = is_name_char(c) ? (char)c : '_';
    if (w == '_' && o > 0 && out[o - 1] == '_') continue;
    if (o == 0 && is_digit(c)) {
      out[o++] = '_';
      if (o + 1 >= cap) break;
    }
    out[o++] = w;
  }
  out[o] = 0;
  if (o == 1 && out[0] == '_') o = out[0] = 0;
  return o;
}

size_t __cs_metrics_sanitize_label(const char *in, size_t n, char *out, size_t cap) {
  size_t o = 0;
  if (cap == 0) return 0;
  const char *prefix = "";
  if (n > 0 && is_digit((unsigned char)in[0])) prefix = "key_";
  else if (n > 1 && in[0] == '_' && in[1] == '_') prefix = "key";
  for (const char *p = prefix; *p && o + 1 < cap; p++) out[o++] = *p;
  for (size_t i = 0; i < n && o + 1 < cap; i++) {
    unsigned char c = (unsigned char)in[i];
    out[o++] = is_name_char(c) ? (char)c : '_';
  }
  out[o] = 0;
  return o;
}

typedef struct unit_map {
  const char *ucum, *prom;
} unit_map;

/* From the OpenTelemetry to Prometheus compatibility specification. */
static const unit_map units[] = {
    {"d", "days"},          {"h", "hours"},         {"min", "minutes"},
    {"s", "seconds"},       {"ms", "milliseconds"}, {"us", "microseconds"},
    {"ns", "nanoseconds"},  {"By", "bytes"},        {"KiBy", "kibibytes"},
    {"MiBy", "mebibytes"},  {"GiBy", "gibibytes"},  {"TiBy", "tibibytes"},
    {"KBy", "kilobytes"},   {"MBy", "megabytes"},   {"GBy", "gigabytes"},
    {"TBy", "terabytes"},   {"m", "meters"},        {"V", "volts"},
    {"A", "amperes"},       {"J", "joules"},        {"W", "watts"},
    {"g", "grams"},         {"Cel", "celsius"},     {"Hz", "hertz"},
    {"%", "percent"},
};
static const unit_map per_units[] = {
    {"s", "second"}, {"m", "minute"}, {"h", "hour"}, {"d", "day"},
    {"w", "week"},   {"mo", "month"}, {"y", "year"},
};

/* Maps one unit word (braces already removed); unknown words are
 * sanitized and kept, as the specification asks. */
static size_t map_word(const char *w, size_t n, const unit_map *map, size_t nmap, char *out,
                       size_t cap) {
  for (size_t i = 0; i < nmap; i++) {
    if (strlen(map[i].ucum) == n && memcmp(map[i].ucum, w, n) == 0)
      return __cs_metrics_sanitize_metric(map[i].prom, strlen(map[i].prom), out, cap);
  }
  return __cs_metrics_sanitize_metric(w, n, out, cap);
}

/* Copies unit text without {annotations}. */
static size_t strip_braces(const char *in, size_t n, char *out, size_t cap) {
  size_t o = 0;
  int depth = 0;
  for (size_t i = 0; i < n && o + 1 < cap; i++) {
    if (in[i] == '{') depth++;
    else if (in[i] == '}') depth = depth > 0 ? depth - 1 : 0;
    else if (!depth) out[o++] = in[i];
  }
  out[o] = 0;
  return o;
}

size_t __cs_metrics_unit_suffix(const char *unit, int gauge, char *out, size_t cap) {
  char u[CS_METRICS_MAX_NAME + 1];
  if (cap == 0) return 0;
  out[0] = 0;
  if (!unit) return 0;
  size_t un = strip_braces(unit, strnlen(unit, CS_METRICS_MAX_NAME), u, sizeof u);
  if (un == 0) return 0;
  if (un == 1 && u[0] == '1') {
    if (!gauge) return 0;
    return __cs_metrics_sanitize_metric("ratio", 5, out, cap);
  }
  const char *slash = memchr(u, '/', un);
  if (!slash) return map_word(u, un, units, sizeof units / sizeof units[0], out, cap);
  char a[CS_METRICS_MAX_NAME + 1], b[CS_METRICS_MAX_NAME + 1];
  size_t an = map_word(u, (size_t)(slash - u), units, sizeof units / sizeof units[0], a, sizeof a);
  size_t bn = map_word(slash + 1, un - (size_t)(slash - u) - 1, per_units,
                       sizeof per_units / sizeof per_units[0], b, sizeof b);
  char joined[3 * CS_METRICS_MAX_NAME];
  size_t j = 0;
  if (an) {
    memcpy(joined, a, an);
    j = an;
    joined[j++] = '_';
  }
  if (bn) {
    memcpy(joined + j, "per_", 4);
    j += 4;
    memcpy(joined + j, b, bn);
    j += bn;
  }
  return __cs_metrics_sanitize_metric(joined, j, out, cap);
}

static int ends_with(const char *s, size_t n, const char *suf, size_t sn) {
  return n >= sn && memcmp(s + n - sn, suf, sn) == 0;
}

size_t __cs_metrics_family_name(const char *name, const char *unit, int type, char *out,
                                size_t cap, char *unit_out, size_t unit_cap) {
  size_t n = __cs_metrics_sanitize_metric(name, strnlen(name, 4 * CS_METRICS_MAX_NAME), out, cap);
  if (unit_cap) unit_out[0] = 0;
  if (n == 0) return 0;
  if (type == MT_COUNTER && n > 6 && ends_with(out, n, "_total", 6)) out[n -= 6] = 0;
  char suf[CS_METRICS_MAX_NAME + 1];
  size_t sn = __cs_metrics_unit_suffix(unit, type == MT_GAUGE, suf, sizeof suf);
  if (sn == 0) return n;
  /* "http_server_duration" + "s" gets "_seconds"; a name that already
   * ends in its unit ("request_size_bytes") is kept as it is. */
  if (!(n > sn && out[n - sn - 1] == '_' && ends_with(out, n, suf, sn))) {
    if (n + 1 + sn + 1 > cap) return n; /* no room: keep the name unsuffixed */
    out[n++] = '_';
    memcpy(out + n, suf, sn);
    n += sn;
    out[n] = 0;
  }
  if (sn + 1 <= unit_cap) {
    memcpy(unit_out, suf, sn);
    unit_out[sn] = 0;
  }
  return n;
}

/* Length of the well-formed UTF-8 sequence at s, 0 if it is not one
 * (overlong forms, surrogates and code points above U+10FFFF included). */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c == 0xE0) len = 3, lo = 0xA0;
  else if (c >= 0xE1 && c <= 0xEC) len = 3;
  else if (c == 0xED) len = 3, hi = 0x9F;
  else if (c >= 0xEE && c <= 0xEF) len = 3;
  else if (c == 0xF0) len = 4, lo = 0x90;
  else if (c >= 0xF1 && c <= 0xF3) len = 4;
  else if (c == 0xF4) len = 4, hi = 0x8F;
  else return 0;
  if (n < len) return 0;
  if (s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < len; i++)
    if (s[i] < 0x80 || s[i] > 0xBF) return 0;
  return len;
}

static const char replacement[] = "\xEF\xBF\xBD";

/* Walks valid UTF-8 (repairing as it goes) up to max output bytes; esc
 * selects which characters get a backslash: 0 none, 1 HELP text 0.0.4
 * (\\ \n), 2 label values and OpenMetrics HELP (\\ \" \n). */
static void put_text(mbuf *b, const char *s, size_t n, size_t max, int esc) {
  const unsigned char *u = (const unsigned char *)s;
  size_t used = 0;
  for (size_t i = 0; i < n;) {
    size_t len = utf8_seq(u + i, n - i);
    const char *piece = s + i;
    size_t plen = len;
    if (len == 0) {
      piece = replacement;
      plen = 3;
      len = 1;
    }
    if (used + plen > max) break;
    used += plen;
    i += len;
    if (esc && plen == 1) {
      char c = piece[0];
      if (c == '\\') { __cs_metrics_buf_add(b, "\\\\", 2); continue; }
      if (c == '\n') { __cs_metrics_buf_add(b, "\\n", 2); continue; }
      if (c == '"' && esc == 2) { __cs_metrics_buf_add(b, "\\\"", 2); continue; }
    }
    __cs_metrics_buf_add(b, piece, plen);
  }
}

void __cs_metrics_buf_utf8(mbuf *b, const char *s, size_t n, size_t max) {
  put_text(b, s, n, max, 0);
}

void __cs_metrics_buf_escape_value(mbuf *b, const char *s, size_t n) {
  put_text(b, s, n, CS_METRICS_MAX_VALUE, 2);
}

void __cs_metrics_buf_escape_help(mbuf *b, const char *s, size_t n, int openmetrics) {
  put_text(b, s, n, CS_METRICS_MAX_HELP, openmetrics ? 2 : 1);
}

void __cs_metrics_build_key(mbuf *key, mlabel *l, size_t n) {
  /* Insertion sort: stable (so joined duplicates keep input order) and n
   * is at most CS_METRICS_MAX_LABELS. */
  for (size_t i = 1; i < n; i++) {
    mlabel t = l[i];
    size_t j = i;
    while (j > 0 && strcmp(l[j - 1].name, t.name) > 0) {
      l[j] = l[j - 1];
      j--;
    }
    l[j] = t;
  }
  int first = 1;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    int any = 0;
    while (j < n && strcmp(l[j].name, l[i].name) == 0) any |= l[j++].value_len > 0;
    if (any && l[i].name[0]) {
      if (!first) __cs_metrics_buf_char(key, ',');
      first = 0;
      __cs_metrics_buf_str(key, l[i].name);
      __cs_metrics_buf_add(key, "=\"", 2);
      if (j == i + 1) {
        __cs_metrics_buf_escape_value(key, l[i].value, l[i].value_len);
        __cs_metrics_buf_char(key, '"');
        i = j;
        continue;
      }
      /* Joined values share one length cap: repair and cap first, then
       * escape the joined text. */
      mbuf raw;
      __cs_metrics_buf_init(&raw, 4 * CS_METRICS_MAX_VALUE);
      int sep = 0;
      for (size_t k = i; k < j; k++) {
        if (!l[k].value_len) continue;
        if (sep) __cs_metrics_buf_char(&raw, ';');
        sep = 1;
        __cs_metrics_buf_utf8(&raw, l[k].value, l[k].value_len, CS_METRICS_MAX_VALUE);
      }
      if (raw.err == CS_BUF_ENOMEM && !key->err)
        key->err = raw.err;
      if (raw.n)
        __cs_metrics_buf_escape_value(key, raw.s, raw.n);
      __cs_metrics_buf_release(&raw);
      __cs_metrics_buf_char(key, '"');
    }
    i = j;
  }
}
