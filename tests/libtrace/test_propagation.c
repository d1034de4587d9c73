/* Propagation tables written from the W3C Trace Context, W3C Baggage and
 * B3 specifications (and ../shared/OTLP-FIELDS.md): every malformed value
 * is ignored as a whole; valid ones round-trip. Ends with a session ID
 * travelling across a simulated three-service call. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "callscope/trace.h"
#include "check.h"
#include "fake_collector.h"
#include "internal.h"

/* ---- a header carrier ---------------------------------------------------- */

typedef struct hdrs {
  char k[24][32];
  char *v[24];
  int n;
} hdrs;

static const char *h_get(void *u, const char *key, size_t *len) {
  hdrs *h = u;
  for (int i = 0; i < h->n; i++)
    if (strcasecmp(h->k[i], key) == 0) {
      *len = strlen(h->v[i]);
      return h->v[i];
    }
  return NULL;
}

static int h_set(void *u, const char *key, const char *value) {
  hdrs *h = u;
  int i = 0;
  while (i < h->n && strcasecmp(h->k[i], key) != 0)
    i++;
  if (i == 24)
    return -1;
  if (i == h->n)
    h->n++;
  else
    free(h->v[i]);
  snprintf(h->k[i], sizeof h->k[i], "%s", key);
  h->v[i] = strdup(value);
  return 0;
}

static void h_clear(hdrs *h) {
  for (int i = 0; i < h->n; i++)
    free(h->v[i]);
  h->n = 0;
}

/* Appends src to the NUL-terminated string in dst (capacity cap), bounded. */
static void append(char *dst, size_t cap, const char *src) {
  size_t n = strlen(dst);
  snprintf(dst + n, cap - n, "%s", src);
}

static cst_carrier carrier(hdrs *h) {
  return (cst_carrier){h_get, h_set, h};
}

static cst_context *extract1(const char *key, const char *value, unsigned formats) {
  hdrs h = {.n = 0};
  if (key)
    h_set(&h, key, value);
  cst_carrier c = carrier(&h);
  cst_context *ctx = cst_extract(&c, formats);
  h_clear(&h);
  return ctx;
}

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define SID "00f067aa0ba902b7"

/* ---- traceparent --------------------------------------------------------- */

static void traceparent_table(void) {
  static const struct {
    const char *in;
    int valid, sampled;
  } cases[] = {
      {"00-" TID "-" SID "-01", 1, 1},
      {"00-" TID "-" SID "-00", 1, 0},
      {"00-" TID "-" SID "-09", 1, 1},              /* unknown flag bits kept out, sampled set */
      {"  00-" TID "-" SID "-01\t", 1, 1},          /* surrounding whitespace trimmed */
      {"cc-" TID "-" SID "-01", 1, 1},              /* future version, exactly 55 */
      {"01-" TID "-" SID "-01-future-stuff", 1, 1}, /* future version, longer with '-' */
      {"01-" TID "-" SID "-01x", 0, 0},             /* future version, no '-' after prefix */
      {"00-" TID "-" SID "-01-", 0, 0},             /* version 00 must be exactly 55 */
      {"00-" TID "-" SID "-0", 0, 0},               /* too short */
      {"ff-" TID "-" SID "-01", 0, 0},              /* version ff is invalid */
      {"0g-" TID "-" SID "-01", 0, 0},              /* version not hex */
      {"00-4BF92F3577B34DA6A3CE929D0E0E4736-" SID "-01", 0, 0},          /* uppercase trace id */
      {"00-" TID "-00F067AA0BA902B7-01", 0, 0},                          /* uppercase span id */
      {"00-" TID "-" SID "-0A", 0, 0},                                   /* uppercase flags */
      {"00-00000000000000000000000000000000-" SID "-01", 0, 0},          /* zero trace id */
      {"00-" TID "-0000000000000000-01", 0, 0},                          /* zero span id */
      {"00_" TID "_" SID "_01", 0, 0},                                   /* wrong separators */
      {"00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", 0, 0}, /* shifted dash */
      {"00-4bf92f3577b34da6a3ce929d0e0e473g-" SID "-01", 0, 0},          /* non-hex */
      {"00-" TID "-" SID "-\xc3\xa9", 0, 0},                             /* non-ASCII */
      {"", 0, 0},
      {"00", 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    hdrs h = {.n = 0};
    h_set(&h, "traceparent", cases[i].in);
    h_set(&h, "tracestate", "rojo=1");
    cst_carrier c = carrier(&h);
    cst_context *ctx = cst_extract(&c, CST_PROP_TRACECONTEXT);
    if (cst_context_is_valid(ctx) != cases[i].valid)
      fprintf(stderr, "traceparent case %zu: \"%s\"\n", i, cases[i].in);
    CHECK_EQ(cst_context_is_valid(ctx), cases[i].valid);
    CHECK_EQ(cst_context_is_sampled(ctx), cases[i].sampled);
    /* tracestate is dropped together with an invalid traceparent */
    CHECK_STR(cst_context_tracestate(ctx), cases[i].valid ? "rojo=1" : "");
    if (cases[i].valid) {
      char hex[33], shex[17];
      cst_context_trace_id_hex(ctx, hex);
      cst_context_span_id_hex(ctx, shex);
      CHECK_STR(hex, TID);
      CHECK_STR(shex, SID);
      CHECK(cst_context_is_remote(ctx));
    }
    cst_context_free(ctx);
    h_clear(&h);
  }
}

/* ---- tracestate ----------------------------------------------------------- */

static char *repeat(char c, size_t n) {
  char *s = malloc(n + 1);
  memset(s, c, n);
  s[n] = 0;
  return s;
}

static void tracestate_table(void) {
  char *k256 = repeat('a', 256), *k257 = repeat('a', 257), *v257 = repeat('v', 257);
  char long_key[300], long_val[300], ok_key[300];
  snprintf(ok_key, sizeof ok_key, "%s=1", k256);
  snprintf(long_key, sizeof long_key, "%s=1", k257);
  snprintf(long_val, sizeof long_val, "k=%s", v257);
  char n32[400] = "", n33[400] = "";
  for (int i = 0; i < 33; i++) {
    char m[16];
    snprintf(m, sizeof m, "%sk%d=v", i ? "," : "", i);
    if (i < 32)
      append(n32, sizeof n32, m);
    append(n33, sizeof n33, m);
  }
  const struct {
    const char *in, *out; /* out NULL = ignored as a whole */
  } cases[] = {
      {"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"},
      {"rojo=00f067aa0ba902b7 ,\tcongo=t61rcWkgMzE ", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"},
      {"foo@bar=1", "foo@bar=1"},
      {"1tenant@sys=1", "1tenant@sys=1"},
      {"a/b*c_d-e=x y", "a/b*c_d-e=x y"},
      {",,rojo=1,,", "rojo=1"},
      {ok_key, ok_key},
      {n32, n32},
      {n33, NULL},             /* more than 32 members */
      {long_key, NULL},        /* key over 256 */
      {long_val, NULL},        /* value over 256 */
      {"Rojo=1", NULL},        /* uppercase key */
      {"rojo=1,rojo=2", NULL}, /* duplicate key */
      {"rojo", NULL},
      {"rojo=", NULL},
      {"rojo=a,b", NULL},
      {"rojo=x=y", NULL},
      {"@bar=1", NULL},
      {"foo@=1", NULL},
      {"foo@toolongsystemid=1", NULL},
      {"foo@Bar=1", NULL},
      {"rojo=caf\xc3\xa9", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    hdrs h = {.n = 0};
    h_set(&h, "traceparent", "00-" TID "-" SID "-01");
    h_set(&h, "tracestate", cases[i].in);
    cst_carrier c = carrier(&h);
    cst_context *ctx = cst_extract(&c, 0);
    CHECK(cst_context_is_valid(ctx)); /* a bad tracestate never costs the traceparent */
    const char *got = cst_context_tracestate(ctx);
    if (strcmp(got, cases[i].out ? cases[i].out : "") != 0)
      fprintf(stderr, "tracestate case %zu: \"%.60s\" -> \"%.60s\"\n", i, cases[i].in, got);
    CHECK_STR(got, cases[i].out ? cases[i].out : "");
    cst_context_free(ctx);
    h_clear(&h);
  }
  free(k256);
  free(k257);
  free(v257);
}

static void tracestate_truncated_by_whole_entries_on_inject(void) {
  char ts[2000] = "";
  char *v = repeat('x', 90);
  for (int i = 0; i < 10; i++) {
    char m[128];
    snprintf(m, sizeof m, "%sk%d=%s", i ? "," : "", i, v);
    append(ts, sizeof ts, m);
  }
  free(v);
  hdrs in = {.n = 0}, out = {.n = 0};
  h_set(&in, "traceparent", "00-" TID "-" SID "-01");
  h_set(&in, "tracestate", ts);
  cst_carrier ci = carrier(&in), co = carrier(&out);
  cst_context *ctx = cst_extract(&ci, 0);
  CHECK_STR(cst_context_tracestate(ctx), ts);
  CHECK_EQ(cst_inject(ctx, &co, CST_PROP_TRACECONTEXT), CST_OK);
  size_t n;
  const char *w = h_get(&out, "tracestate", &n);
  CHECK(w != NULL);
  if (w) {
    CHECK(n <= 512 && n >= 512 - 94); /* at least as much as fits, whole entries */
    CHECK(strncmp(ts, w, n) == 0 && ts[n] == ',');
  }
  cst_context_free(ctx);
  h_clear(&in);
  h_clear(&out);
}

/* ---- baggage ---------------------------------------------------------------- */

static void baggage_table(void) {
  /* 180 / 181 entries; exactly 8192 / 8193 bytes. */
  char *e180 = malloc(4096), *e181 = malloc(4096);
  e180[0] = e181[0] = 0;
  for (int i = 0; i < 181; i++) {
    char m[16];
    snprintf(m, sizeof m, "%sk%d=1", i ? "," : "", i);
    if (i < 180)
      append(e180, 4096, m);
    append(e181, 4096, m);
  }
  char *b8192 = malloc(8200), *b8193 = malloc(8200);
  memcpy(b8192, "k=", 2);
  memset(b8192 + 2, 'v', 8190);
  b8192[8192] = 0;
  memcpy(b8193, b8192, 8192);
  b8193[8192] = 'v';
  b8193[8193] = 0;
  const struct {
    const char *in;
    int valid;
    const char *key, *value;
  } cases[] = {
      {"userId=alice,serverNode=DF%2028,isProduction=false", 1, "serverNode", "DF 28"},
      {"key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue", 1,
       "key2", "value2"},
      {"k=", 1, "k", ""},
      {"k=%E2%9C%93", 1, "k", "\xe2\x9c\x93"},
      {"k=1,k=2", 1, "k", "2"},
      {e180, 1, "k179", "1"},
      {e181, 0, "k0", NULL}, /* over 180 entries */
      {b8192, 1, "k", NULL},
      {b8193, 0, "k", NULL},    /* over 8192 bytes */
      {"k=v,=x", 0, "k", NULL}, /* empty key: the whole header goes */
      {"k=v,bad key=1", 0, "k", NULL},
      {"k=v\"q", 0, "k", NULL},
      {"k=%zz", 0, "k", NULL},
      {"k=%4", 0, "k", NULL},
      {"k=caf\xc3\xa9", 0, "k", NULL}, /* raw non-ASCII */
      {"k=v,", 0, "k", NULL},
      {"k", 0, "k", NULL},
      {"k=v;=p", 0, "k", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cst_context *ctx = extract1("baggage", cases[i].in, CST_PROP_BAGGAGE);
    size_t len = 0;
    const char *v = cst_context_baggage(ctx, cases[i].key, &len);
    if ((v != NULL) != cases[i].valid)
      fprintf(stderr, "baggage case %zu: \"%.50s\"\n", i, cases[i].in);
    CHECK_EQ(v != NULL, cases[i].valid);
    if (v && cases[i].value)
      CHECK_STR(v, cases[i].value);
    cst_context_free(ctx);
  }
  free(e180);
  free(e181);
  free(b8192);
  free(b8193);
}

static void baggage_round_trips_with_percent_encoding(void) {
  hdrs in = {.n = 0}, out = {.n = 0};
  h_set(&in, "traceparent", "00-" TID "-" SID "-01");
  h_set(&in, "baggage", "a=x%2Cy%20z;p=1,b=plain");
  cst_carrier ci = carrier(&in), co = carrier(&out);
  cst_context *ctx = cst_extract(&ci, 0);
  CHECK_STR(cst_context_baggage(ctx, "a", NULL), "x,y z");
  CHECK_EQ(cst_inject(ctx, &co, 0), CST_OK);
  size_t n;
  CHECK_STR(h_get(&out, "baggage", &n), "a=x%2Cy%20z;p=1,b=plain");
  cst_context *back = cst_extract(&co, 0);
  CHECK_STR(cst_context_baggage(back, "a", NULL), "x,y z");
  CHECK_STR(cst_context_baggage(back, "b", NULL), "plain");
  cst_context_free(ctx);
  cst_context_free(back);
  h_clear(&in);
  h_clear(&out);
}

static void session_key_spellings_are_recognised(void) {
  const char *spellings[] = {"session.id=s1", "sessionId=s1", "session_id=s1", "SessionID=s1",
                             "session-id=s1"};
  for (size_t i = 0; i < 5; i++) {
    cst_context *ctx = extract1("baggage", spellings[i], 0);
    CHECK_STR(cst_context_session(ctx), "s1");
    cst_context_free(ctx);
  }
  cst_context *ctx = extract1("baggage", "sessions=s1", 0);
  CHECK(cst_context_session(ctx) == NULL);
  cst_context_free(ctx);
}

/* ---- B3 ----------------------------------------------------------------------- */

static cst_tracer *tracer_parent_based(void) {
  cst_config cfg;
  cst_config_defaults(&cfg);
  cfg.endpoint = "udp://127.0.0.1:9"; /* discard: nothing is read back here */
  cfg.sampler = CST_SAMPLER_PARENT_ALWAYS_ON;
  cst_tracer *t = NULL;
  CHECK_EQ(cst_tracer_new(&cfg, &t), CST_OK);
  return t;
}

#define B3T "80f198ee56343ba864fe8b2a57d3eff7"
#define B3S "e457b5a2e4d86bd1"

static void b3_single_table(void) {
  cst_tracer *t = tracer_parent_based();
  const struct {
    const char *in;
    int valid;        /* context with IDs */
    int span_sampled; /* decision of a child span under parentbased_always_on */
    const char *trace;
  } cases[] = {
      {B3T "-" B3S "-1-05e3ac9a4f6e3b90", 1, 1, B3T},
      {B3T "-" B3S "-0", 1, 0, B3T},
      {B3T "-" B3S "-d", 1, 1, B3T},
      {B3T "-" B3S, 1, 1, B3T}, /* deferred: our sampler decides (always on) */
      {"a3ce929d0e0e4736-" B3S "-0", 1, 0, "0000000000000000a3ce929d0e0e4736"},
      {"0", 0, 0, NULL}, /* deny: new trace, not sampled */
      {"1", 0, 1, NULL},
      {"d", 0, 1, NULL},
      {"80F198EE56343BA864FE8B2A57D3EFF7-" B3S "-1", 0, 1, NULL},
      {"80f198ee56343ba864fe-" B3S "-1", 0, 1, NULL}, /* 20 hex */
      {B3T "-" B3S "-2", 0, 1, NULL},
      {B3T "-" B3S "-1-0000000000000000", 0, 1, NULL},
      {B3T "-" B3S "-1-05e3ac9a4f6e3b9", 0, 1, NULL},
      {B3T "-" B3S "-1-05e3ac9a4f6e3b90-x", 0, 1, NULL},
      {"00000000000000000000000000000000-" B3S "-1", 0, 1, NULL},
      {"2", 0, 1, NULL},
      {"", 0, 1, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cst_context *ctx = extract1("b3", cases[i].in, CST_PROP_B3);
    if (cst_context_is_valid(ctx) != cases[i].valid)
      fprintf(stderr, "b3 case %zu: \"%s\"\n", i, cases[i].in);
    CHECK_EQ(cst_context_is_valid(ctx), cases[i].valid);
    if (cases[i].trace) {
      char hex[33];
      cst_context_trace_id_hex(ctx, hex);
      CHECK_STR(hex, cases[i].trace);
    }
    cst_span *s = cst_span_start(t, "b3", CST_KIND_SERVER, ctx);
    if (cst_span_is_recording(s) != cases[i].span_sampled)
      fprintf(stderr, "b3 sampling case %zu\n", i);
    CHECK_EQ(cst_span_is_recording(s), cases[i].span_sampled);
    cst_span_end(s);
    cst_context_free(ctx);
  }
  cst_tracer_free(t);
}

static void b3_multi_table(void) {
  cst_tracer *t = tracer_parent_based();
  const struct {
    const char *tid, *sid, *pid, *sampled, *flags;
    int valid, span_sampled;
  } cases[] = {
      {B3T, B3S, NULL, "1", NULL, 1, 1},
      {B3T, B3S, "05e3ac9a4f6e3b90", "0", NULL, 1, 0},
      {"a3ce929d0e0e4736", B3S, NULL, "1", NULL, 1, 1},
      {B3T, B3S, NULL, NULL, "1", 1, 1},    /* debug */
      {B3T, B3S, NULL, "true", NULL, 1, 1}, /* legacy spelling */
      {B3T, B3S, NULL, "false", NULL, 1, 0},
      {B3T, B3S, NULL, NULL, NULL, 1, 1}, /* deferred */
      {B3T, B3S, "zz", "1", NULL, 0, 1},  /* bad parent id voids all */
      {B3T, B3S, NULL, "2", NULL, 0, 1},
      {B3T, NULL, NULL, "1", NULL, 0, 1}, /* span id missing */
      {"80F198EE56343BA864FE8B2A57D3EFF7", B3S, NULL, "1", NULL, 0, 1},
      {B3T, "E457B5A2E4D86BD1", NULL, "1", NULL, 0, 1},
      {NULL, NULL, NULL, "0", NULL, 0, 0}, /* decision only */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    hdrs h = {.n = 0};
    if (cases[i].tid)
      h_set(&h, "x-b3-traceid", cases[i].tid); /* lowercase on the wire */
    if (cases[i].sid)
      h_set(&h, "X-B3-SpanId", cases[i].sid);
    if (cases[i].pid)
      h_set(&h, "X-B3-ParentSpanId", cases[i].pid);
    if (cases[i].sampled)
      h_set(&h, "X-B3-Sampled", cases[i].sampled);
    if (cases[i].flags)
      h_set(&h, "X-B3-Flags", cases[i].flags);
    cst_carrier c = carrier(&h);
    cst_context *ctx = cst_extract(&c, CST_PROP_B3_MULTI);
    if (cst_context_is_valid(ctx) != cases[i].valid)
      fprintf(stderr, "b3 multi case %zu\n", i);
    CHECK_EQ(cst_context_is_valid(ctx), cases[i].valid);
    cst_span *s = cst_span_start(t, "b3m", CST_KIND_SERVER, ctx);
    CHECK_EQ(cst_span_is_recording(s), cases[i].span_sampled);
    cst_span_end(s);
    cst_context_free(ctx);
    h_clear(&h);
  }
  cst_tracer_free(t);
}

static void inject_writes_every_requested_format(void) {
  cst_tracer *t = tracer_parent_based();
  cst_span *s = cst_span_start(t, "client", CST_KIND_CLIENT, NULL);
  cst_span_set_baggage(s, "tenant", "a b");
  hdrs h = {.n = 0};
  cst_carrier c = carrier(&h);
  CHECK_EQ(cst_inject(cst_span_context(s), &c,
                      CST_PROP_TRACECONTEXT | CST_PROP_BAGGAGE | CST_PROP_B3 | CST_PROP_B3_MULTI),
           CST_OK);
  char tid[33], sid[17], want[64];
  cst_context_trace_id_hex(cst_span_context(s), tid);
  cst_context_span_id_hex(cst_span_context(s), sid);
  size_t n;
  snprintf(want, sizeof want, "00-%s-%s-01", tid, sid);
  CHECK_STR(h_get(&h, "traceparent", &n), want);
  snprintf(want, sizeof want, "%s-%s-1", tid, sid);
  CHECK_STR(h_get(&h, "b3", &n), want);
  CHECK_STR(h_get(&h, "X-B3-TraceId", &n), tid);
  CHECK_STR(h_get(&h, "X-B3-SpanId", &n), sid);
  CHECK_STR(h_get(&h, "X-B3-Sampled", &n), "1");
  CHECK_STR(h_get(&h, "baggage", &n), "tenant=a%20b");
  /* Each format alone extracts the same context. */
  unsigned fmts[] = {CST_PROP_TRACECONTEXT, CST_PROP_B3, CST_PROP_B3_MULTI};
  for (int i = 0; i < 3; i++) {
    cst_context *x = cst_extract(&c, fmts[i]);
    char xt[33], xs[17];
    cst_context_trace_id_hex(x, xt);
    cst_context_span_id_hex(x, xs);
    CHECK_STR(xt, tid);
    CHECK_STR(xs, sid);
    CHECK(cst_context_is_sampled(x));
    cst_context_free(x);
  }
  /* An invalid context with no baggage has nothing to write. */
  cst_context *none = extract1(NULL, NULL, 0);
  hdrs h2 = {.n = 0};
  cst_carrier c2 = carrier(&h2);
  CHECK_EQ(cst_inject(none, &c2, 0), CST_EINVAL);
  CHECK_EQ(h2.n, 0);
  cst_context_free(none);
  cst_span_end(s);
  h_clear(&h);
  cst_tracer_free(t);
}

/* ---- session across three services ----------------------------------------- */

static void session_travels_across_three_hops(void) {
  fake_collector fc;
  memset(&fc, 0, sizeof fc);
  CHECK_EQ(fc_start(&fc, 1, 0), 0);
  char ep[64];
  fc_endpoint(&fc, ep, sizeof ep);
  const char *svc[] = {"frontend", "orders", "payments"};
  cst_tracer *t[3];
  for (int i = 0; i < 3; i++) {
    cst_config cfg;
    cst_config_defaults(&cfg);
    cfg.endpoint = ep;
    cfg.service_name = svc[i];
    CHECK_EQ(cst_tracer_new(&cfg, &t[i]), CST_OK);
  }
  /* hop 1: the edge sets the session once */
  hdrs wire1 = {.n = 0}, wire2 = {.n = 0};
  cst_carrier c1 = carrier(&wire1), c2 = carrier(&wire2);
  cst_span *edge = cst_span_start(t[0], "GET /checkout", CST_KIND_SERVER, NULL);
  CHECK_EQ(cst_span_set_session(edge, "sess-7"), CST_OK);
  cst_span *call1 = cst_span_start(t[0], "POST orders", CST_KIND_CLIENT, cst_span_context(edge));
  CHECK_EQ(cst_inject(cst_span_context(call1), &c1, 0), CST_OK);
  /* hop 2: no session code at all */
  cst_context *in2 = cst_extract(&c1, 0);
  cst_span *srv2 = cst_span_start(t[1], "POST /orders", CST_KIND_SERVER, in2);
  cst_span *call2 = cst_span_start(t[1], "POST payments", CST_KIND_CLIENT, cst_span_context(srv2));
  CHECK_EQ(cst_inject(cst_span_context(call2), &c2, 0), CST_OK);
  /* hop 3 */
  cst_context *in3 = cst_extract(&c2, 0);
  cst_span *srv3 = cst_span_start(t[2], "POST /payments", CST_KIND_SERVER, in3);
  cst_span *db = cst_span_start(t[2], "INSERT payment", CST_KIND_CLIENT, cst_span_context(srv3));
  cst_span_end(db);
  cst_span_end(srv3);
  cst_span_end(call2);
  cst_span_end(srv2);
  cst_span_end(call1);
  cst_span_end(edge);
  for (int i = 0; i < 3; i++)
    cst_tracer_flush(t[i], 5000);
  CHECK(fc_wait(&fc, 6, 3000));
  const char *names[] = {"GET /checkout", "POST orders",    "POST /orders",
                         "POST payments", "POST /payments", "INSERT payment"};
  const char *services[] = {"frontend", "frontend", "orders", "orders", "payments", "payments"};
  fc_span sp[6];
  for (int i = 0; i < 6; i++) {
    CHECK(fc_find(&fc, names[i], &sp[i]));
    CHECK_STR(sp[i].service, services[i]);
    const fc_attr *a = fc_attr_get(&sp[i], "session.id");
    if (!a)
      fprintf(stderr, "no session.id on %s\n", names[i]);
    CHECK(a && strcmp(a->s, "sess-7") == 0);
    CHECK(memcmp(sp[i].trace_id, sp[0].trace_id, 16) == 0);
    if (i)
      CHECK(memcmp(sp[i].parent, sp[i - 1].span_id, 8) == 0);
  }
  CHECK_EQ(sp[2].flags, 0x301); /* server span of a remote parent */
  CHECK_EQ(sp[1].flags, 0x101);
  cst_context_free(in2);
  cst_context_free(in3);
  h_clear(&wire1);
  h_clear(&wire2);
  for (int i = 0; i < 3; i++)
    cst_tracer_free(t[i]);
  fc_free(&fc);
}

int main(void) {
  RUN(traceparent_table);
  RUN(tracestate_table);
  RUN(tracestate_truncated_by_whole_entries_on_inject);
  RUN(baggage_table);
  RUN(baggage_round_trips_with_percent_encoding);
  RUN(session_key_spellings_are_recognised);
  RUN(b3_single_table);
  RUN(b3_multi_table);
  RUN(inject_writes_every_requested_format);
  RUN(session_travels_across_three_hops);
  return CHECK_DONE();
}
