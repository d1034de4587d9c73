/* Integration: the all-in-one callscope daemon filled through its real
 * collector (native frames over TCP), every endpoint asked over real HTTP:
 * Jaeger shapes, search and cursor, a session spread over traces and key
 * spellings, call trees with missing parents, skew and a tree sent in
 * shuffled batches, percentiles against exact values, dependencies against
 * the known topology, bad input, static files, /metrics, and a
 * callscope-query secondary seeing new spans within a second. */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "qhelp.h"
#include "tree.h"

#define N 60
#define MS 1000000ull

static const char *bin_all, *bin_query;
static char dir[256], data_dir[512], ui_dir[512], log_path[512];
static int qport, tport;
static qh_proc aio;
static uint64_t base_ns;
static uint64_t pay_dur[N], cart_client_dur[N];

static cs_attr host1 = {CS_STR_LIT("host.name"), CS_VAL_STR, {.s = CS_STR_LIT("h1")}};
static cs_attr host2 = {CS_STR_LIT("host.name"), CS_VAL_STR, {.s = CS_STR_LIT("h2")}};
static cs_attr host3 = {CS_STR_LIT("host.name"), CS_VAL_STR, {.s = CS_STR_LIT("h3")}};
static cs_attr sess_res[2] = {{CS_STR_LIT("host.name"), CS_VAL_STR, {.s = CS_STR_LIT("h1")}},
                              {CS_STR_LIT("SessionID"), CS_VAL_STR, {.s = CS_STR_LIT("sess-42")}}};
static cs_resource r_front = {CS_STR_LIT("frontend"), &host1, 1};
static cs_resource r_cart = {CS_STR_LIT("cart"), &host2, 1};
static cs_resource r_pay = {CS_STR_LIT("payment"), &host3, 1};
static cs_resource r_front_sess = {CS_STR_LIT("frontend"), sess_res, 2};
static cs_resource r_late = {CS_STR_LIT("late"), &host1, 1};

static void tid_of(uint8_t t[16], uint8_t kind, uint32_t i) {
  memset(t, 0, 16);
  t[0] = kind;
  t[12] = (uint8_t)(i >> 24), t[13] = (uint8_t)(i >> 16), t[14] = (uint8_t)(i >> 8), t[15] = (uint8_t)i;
}

static void tid_hex(const uint8_t t[16], char out[33]) {
  for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", t[i]);
}

static cs_span mk(const uint8_t tid[16], uint64_t id, uint64_t parent, const char *name, int kind,
                  uint64_t start, uint64_t dur, const cs_resource *r) {
  cs_span s;
  memset(&s, 0, sizeof s);
  memcpy(s.trace_id, tid, 16);
  for (int b = 0; b < 8; b++) s.span_id[b] = (uint8_t)(id >> (56 - 8 * b));
  for (int b = 0; parent && b < 8; b++) s.parent_id[b] = (uint8_t)(parent >> (56 - 8 * b));
  s.name = (cs_str){name, (uint32_t)strlen(name)};
  s.kind = (uint8_t)kind;
  s.start_ns = start;
  s.end_ns = start + dur;
  s.resource = r;
  return s;
}

/* Attribute storage that lives as long as the spans sent from it. */
static cs_attr gold = {CS_STR_LIT("customer.tier"), CS_VAL_STR, {.s = CS_STR_LIT("gold")}};
static cs_attr silver = {CS_STR_LIT("customer.tier"), CS_VAL_STR, {.s = CS_STR_LIT("silver")}};
static cs_attr region = {CS_STR_LIT("region"), CS_VAL_STR, {.s = CS_STR_LIT("eu")}};
static cs_attr peer = {CS_STR_LIT("peer.service"), CS_VAL_STR, {.s = CS_STR_LIT("redis")}};

static void send_or_fail(int fd, cs_span *s, size_t n, uint64_t *seq) {
  int acc = qh_send_spans(fd, s, n, ++*seq);
  CHECK_EQ(acc, (int)n);
}

/* frontend -> cart -> (redis by peer.service), frontend -> payment. */
static void fill_topology(int fd, uint64_t *seq) {
  for (uint32_t i = 0; i < N; i++) {
    uint8_t t[16];
    tid_of(t, 0xa0, i);
    uint64_t T = base_ns + i * 1000 * MS;
    uint64_t cd = 2 * MS + (i % 7) * 100000ull;
    pay_dur[i] = 1 * MS + ((i * 7919u) % 1000u) * 37000ull;
    cart_client_dur[i] = cd + 2 * MS;
    cs_span s[6];
    s[0] = mk(t, 1, 0, "GET /checkout", CS_KIND_SERVER, T, 100 * MS + (i % 4) * 100 * MS, &r_front);
    s[0].attrs = i % 3 == 0 ? &gold : &silver;
    s[0].n_attrs = 1;
    s[1] = mk(t, 2, 1, "call cart", CS_KIND_CLIENT, T + 1 * MS, cart_client_dur[i], &r_front);
    s[2] = mk(t, 3, 2, "AddItem", CS_KIND_SERVER, T + 2 * MS, cd, &r_cart);
    if (i % 2 == 0) s[2].attrs = &region, s[2].n_attrs = 1;
    s[3] = mk(t, 4, 3, "redis GET", CS_KIND_CLIENT, T + 3 * MS, 1 * MS, &r_cart);
    s[3].attrs = &peer;
    s[3].n_attrs = 1;
    s[4] = mk(t, 5, 1, "call payment", CS_KIND_CLIENT, T + 50 * MS, pay_dur[i] + 1 * MS, &r_front);
    s[5] = mk(t, 6, 5, "Charge", CS_KIND_SERVER, T + 50 * MS + 500000ull, pay_dur[i], &r_pay);
    if (i % 5 == 0) s[5].status_code = s[4].status_code = CS_STATUS_ERROR;
    send_or_fail(fd, s, 6, seq);
  }
}

static cs_attr sa0 = {CS_STR_LIT("session.id"), CS_VAL_STR, {.s = CS_STR_LIT("sess-42")}};
static cs_attr sa1 = {CS_STR_LIT("sessionId"), CS_VAL_STR, {.s = CS_STR_LIT("sess-42")}};
static cs_attr sa3 = {CS_STR_LIT("session_id"), CS_VAL_STR, {.s = CS_STR_LIT("sess-42")}};
static cs_attr sa9 = {CS_STR_LIT("session.id"), CS_VAL_STR, {.s = CS_STR_LIT("sess-43")}};

/* One session over four traces, each spelling the key differently (one in
 * the resource), sent newest first; plus a decoy session. */
static void fill_session(int fd, uint64_t *seq) {
  for (int k = 4; k >= 0; k--) {
    uint8_t t[16];
    tid_of(t, 0xb0, (uint32_t)k);
    uint64_t T = base_ns + 100000 * MS + (uint64_t)k * 10000 * MS;
    cs_span s[2];
    s[0] = mk(t, 1, 0, "GET /page", CS_KIND_SERVER, T, 10 * MS, k == 2 ? &r_front_sess : &r_front);
    s[1] = mk(t, 2, 1, "AddItem", CS_KIND_SERVER, T + MS, 5 * MS, &r_cart);
    cs_attr *a = k == 0 ? &sa0 : k == 1 ? &sa1 : k == 3 ? &sa3 : k == 4 ? &sa9 : NULL;
    /* The session key sits on the child span: the index must still find it. */
    if (a) s[1].attrs = a, s[1].n_attrs = 1;
    send_or_fail(fd, s, 2, seq);
  }
}

/* A child on another host that starts 20 ms before its parent, and a span
 * whose parent never arrives. */
static void fill_skew(int fd, uint64_t *seq) {
  uint8_t t[16];
  tid_of(t, 0xc0, 0);
  uint64_t T = base_ns + 200000 * MS;
  cs_span s[3];
  s[0] = mk(t, 1, 0, "GET /skew", CS_KIND_SERVER, T, 100 * MS, &r_front);
  s[1] = mk(t, 2, 1, "AddItem", CS_KIND_SERVER, T - 20 * MS, 30 * MS, &r_cart);
  static cs_attr ev_attr = {CS_STR_LIT("attempt"), CS_VAL_INT, {.i = 2}};
  static cs_event ev;
  ev = (cs_event){T - 15 * MS, CS_STR_LIT("retry"), &ev_attr, 1, 0};
  s[1].events = &ev;
  s[1].n_events = 1;
  s[2] = mk(t, 3, 0xdead, "Orphan", CS_KIND_SERVER, T + 40 * MS, 5 * MS, &r_pay);
  /* The orphan carries its scope and a link (with trace state and an
   * attribute) to another trace. */
  static cs_attr link_attr = {CS_STR_LIT("link.reason"), CS_VAL_STR, {.s = CS_STR_LIT("retry of")}};
  static cs_link link;
  memset(&link, 0, sizeof link);
  tid_of(link.trace_id, 0xa0, 7);
  link.span_id[7] = 0x42;
  link.trace_state = CS_STR_LIT("vendor=1");
  link.attrs = &link_attr;
  link.n_attrs = 1;
  s[2].links = &link;
  s[2].n_links = 1;
  s[2].scope_name = CS_STR_LIT("payments-lib");
  s[2].scope_version = CS_STR_LIT("1.4.2");
  send_or_fail(fd, s, 3, seq);
}

#define PT 150
static cs_span prop[PT];

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

/* A random tree, shuffled and split into three frames. */
static void fill_property_tree(int fd, uint64_t *seq) {
  uint8_t t[16];
  tid_of(t, 0xd0, 0);
  uint64_t T = base_ns + 300000 * MS;
  prop[0] = mk(t, 1, 0, "root", CS_KIND_SERVER, T, 1000 * MS, &r_front);
  for (uint64_t i = 1; i < PT; i++) {
    size_t p = rnd() % i;
    uint64_t ps = prop[p].start_ns, pd = prop[p].end_ns - ps;
    uint64_t off = rnd() % (pd / 2 + 1), d = 1 + rnd() % (pd - off);
    uint64_t pid = 0;
    for (int b = 0; b < 8; b++) pid = (pid << 8) | prop[p].span_id[b];
    prop[i] = mk(t, 1 + i, pid, "work", CS_KIND_INTERNAL, ps + off, d, &r_front);
  }
  cs_span sh[PT];
  memcpy(sh, prop, sizeof sh);
  for (size_t i = PT; i > 1; i--) {
    size_t j = rnd() % i;
    cs_span x = sh[i - 1];
    sh[i - 1] = sh[j];
    sh[j] = x;
  }
  send_or_fail(fd, sh, 40, seq);
  send_or_fail(fd, sh + 40, 70, seq);
  send_or_fail(fd, sh + 110, PT - 110, seq);
}

/* Many short, recent traces: a duration-only search must not read them
 * all to find the few long ones behind them. */
#define FILLERS 2200
static void fill_short_recent(int fd, uint64_t *seq) {
  static cs_span f[FILLERS];
  uint64_t T = qh_now_ns() - 600ull * 1000000000ull;
  for (uint32_t i = 0; i < FILLERS; i++) {
    uint8_t t[16];
    tid_of(t, 0xf0, i);
    f[i] = mk(t, 1, 0, "quick", CS_KIND_SERVER, T + i * MS, MS, &r_cart);
  }
  for (size_t k = 0; k < FILLERS; k += 550) send_or_fail(fd, f + k, 550, seq);
}

/* A trace whose root never arrives: two internal spans under a missing
 * parent, the later one sent first. */
static void fill_rootless(int fd, uint64_t *seq) {
  uint8_t t[16];
  tid_of(t, 0xc0, 1);
  uint64_t T = base_ns + 200000 * MS;
  cs_span s[2];
  s[0] = mk(t, 2, 0x99, "settle", CS_KIND_INTERNAL, T + 2 * MS, MS, &r_cart);
  s[1] = mk(t, 3, 0x99, "late work", CS_KIND_INTERNAL, T + 1 * MS, 3 * MS, &r_cart);
  send_or_fail(fd, &s[0], 1, seq);
  send_or_fail(fd, &s[1], 1, seq);
}

static int get(const char *path, qh_resp *r) {
  if (qh_get(qport, path, r)) {
    fprintf(stderr, "GET %s failed\n", path);
    memset(r, 0, sizeof *r);
    r->body = calloc(1, 1);
    return -1;
  }
  return 0;
}

#define EXPECT_STATUS(path, code)                                             \
  do {                                                                        \
    qh_resp r_;                                                               \
    get(path, &r_);                                                           \
    if (r_.status != (code)) fprintf(stderr, "%s -> %d %s\n", path, r_.status, r_.body); \
    CHECK_EQ(r_.status, code);                                                \
    CHECK(strstr(r_.ctype, "application/json") != NULL);                     \
    qh_free(&r_);                                                             \
  } while (0)

static void jaeger_services_and_operations(void) {
  qh_resp r;
  get("/api/services", &r);
  CHECK_EQ(r.status, 200);
  CHECK(strstr(r.body, "\"data\":[\"cart\",\"frontend\",\"late\"") || strstr(r.body, "\"data\":[\"cart\",\"frontend\",\"payment\"]"));
  CHECK(strstr(r.body, "\"total\":3,\"limit\":0,\"offset\":0,\"errors\":null}") != NULL);
  qh_free(&r);
  get("/api/services/cart/operations", &r);
  CHECK_EQ(r.status, 200);
  CHECK(strstr(r.body, "\"AddItem\"") && strstr(r.body, "\"redis GET\""));
  qh_free(&r);
  get("/api/operations?service=cart&spanKind=server", &r);
  CHECK_EQ(r.status, 200);
  CHECK(strstr(r.body, "{\"data\":[{\"name\":\"AddItem\",\"spanKind\":\"server\"},{\"name\":\"quick\",\"spanKind\":\"server\"}],\"total\":2") != NULL);
  qh_free(&r);
  get("/api/operations?service=cart&spanKind=client", &r);
  CHECK(strstr(r.body, "{\"data\":[{\"name\":\"redis GET\",\"spanKind\":\"client\"}],\"total\":1") != NULL);
  qh_free(&r);
  EXPECT_STATUS("/api/operations", 400);
  EXPECT_STATUS("/api/operations?service=cart&spanKind=sideways", 400);
}

static void jaeger_trace_shape(void) {
  uint8_t t[16];
  char hex[33], path[128];
  tid_of(t, 0xa0, 5);
  tid_hex(t, hex);
  snprintf(path, sizeof path, "/api/traces/%s", hex);
  qh_resp r;
  get(path, &r);
  CHECK_EQ(r.status, 200);
  char want[256];
  snprintf(want, sizeof want, "{\"data\":[{\"traceID\":\"%s\",\"spans\":[{\"traceID\":\"%s\",\"spanID\":\"0000000000000001\"", hex, hex);
  CHECK(strstr(r.body, want) != NULL);
  CHECK_EQ(qh_count(r.body, "\"spanID\":\"00000000000000"), 6 + 5); /* spans + references */
  CHECK_EQ(qh_count(r.body, "{\"refType\":\"CHILD_OF\""), 5);
  CHECK(strstr(r.body, "\"operationName\":\"Charge\"") != NULL);
  CHECK_EQ(qh_num(r.body, "startTime"), (long long)((base_ns + 5 * 1000 * MS) / 1000));
  CHECK_EQ(qh_num(strstr(r.body, "\"operationName\":\"Charge\""), "duration"), (long long)(pay_dur[5] / 1000));
  CHECK(strstr(r.body, "{\"key\":\"error\",\"type\":\"bool\",\"value\":true}") != NULL);
  CHECK(strstr(r.body, "{\"key\":\"span.kind\",\"type\":\"string\",\"value\":\"server\"}") != NULL);
  CHECK(strstr(r.body, "{\"key\":\"peer.service\",\"type\":\"string\",\"value\":\"redis\"}") != NULL);
  CHECK(strstr(r.body, "\"logs\":[]") != NULL);
  CHECK(strstr(r.body, "\"processID\":\"p1\"") && strstr(r.body, "\"processID\":\"p3\""));
  CHECK(strstr(r.body, "\"processes\":{\"p1\":{\"serviceName\":\"frontend\",\"tags\":[{\"key\":\"host.name\",\"type\":\"string\",\"value\":\"h1\"}]}") != NULL);
  CHECK(strstr(r.body, "\"warnings\":null}],\"total\":1,\"limit\":0,\"offset\":0,\"errors\":null}") != NULL);
  qh_free(&r);
  /* Several traces by ID through the search endpoint. */
  char hex2[33];
  tid_of(t, 0xa0, 6);
  tid_hex(t, hex2);
  snprintf(path, sizeof path, "/api/traces?traceID=%s&traceID=%s", hex, hex2);
  get(path, &r);
  CHECK_EQ(r.status, 200);
  CHECK_EQ(qh_num(r.body, "total"), 2);
  CHECK(strstr(r.body, hex) && strstr(r.body, hex2));
  qh_free(&r);
  /* Callscope's own trace endpoint: summary plus the Jaeger shape. */
  snprintf(path, sizeof path, "/api/v1/traces/%s", hex);
  get(path, &r);
  CHECK_EQ(r.status, 200);
  CHECK(strstr(r.body, "{\"summary\":{\"traceID\":\"") != NULL);
  CHECK_EQ(qh_num(r.body, "spanCount"), 6);
  CHECK_EQ(qh_num(r.body, "errorCount"), 2); /* i % 5 == 0: client and server failed */
  CHECK(strstr(r.body, "\"trace\":{\"traceID\":\"") != NULL);
  qh_free(&r);
  get("/api/v1/services", &r);
  CHECK_EQ(r.status, 200);
  CHECK(strstr(r.body, "{\"name\":\"payment\",\"operations\":[{\"name\":\"Charge\",\"kind\":\"server\"},{\"name\":\"Orphan\",\"kind\":\"server\"}]}") != NULL);
  qh_free(&r);
  /* HEAD answers like GET without a body. */
  qh_raw(qport, "HEAD /api/services HTTP/1.0\r\n\r\n", 32, &r);
  CHECK_EQ(r.status, 200);
  CHECK_EQ(r.body_len, 0);
  qh_free(&r);
  /* Short IDs are left-padded like Jaeger's 64-bit IDs; unknown is 404. */
  EXPECT_STATUS("/api/traces/1", 404);
  EXPECT_STATUS("/api/traces/not-hex", 400);
  EXPECT_STATUS("/api/traces/0123456789abcdef0123456789abcdef00", 400);
}

static void jaeger_search(void) {
  qh_resp r;
  char path[512];
  uint64_t s_us = base_ns / 1000 - 1000000, e_us = qh_now_ns() / 1000;
  snprintf(path, sizeof path, "/api/traces?service=payment&tags=%%7B%%22error%%22%%3A%%22true%%22%%7D&start=%llu&end=%llu&limit=100",
           (unsigned long long)s_us, (unsigned long long)e_us);
  get(path, &r);
  CHECK_EQ(r.status, 200);
  CHECK_EQ(qh_num(r.body, "total"), 12);
  CHECK_EQ(qh_count(r.body, "\"operationName\":\"GET /checkout\""), 12);
  qh_free(&r);
  /* Duration applies to a span of the service (Jaeger's semantics). */
  int want = 0;
  for (int i = 0; i < N; i++) want += pay_dur[i] >= 30 * MS;
  get("/api/traces?service=payment&minDuration=30ms&limit=1000", &r);
  CHECK_EQ(r.status, 200);
  CHECK_EQ(qh_num(r.body, "total"), want);
  qh_free(&r);
  /* As Jaeger UI asks: lookback=custom beside start/end, empty durations. */
  snprintf(path, sizeof path,
           "/api/traces?service=frontend&operation=GET%%20/checkout&tag=customer.tier:gold&limit=5"
           "&lookback=custom&start=%llu&end=%llu&minDuration=&maxDuration=",
           (unsigned long long)s_us, (unsigned long long)e_us);
  get(path, &r);
  CHECK_EQ(r.status, 200);
  CHECK_EQ(qh_num(r.body, "total"), 5);
  CHECK_EQ(qh_num(r.body, "limit"), 5);
  qh_free(&r);
  EXPECT_STATUS("/api/traces?service=x&minDuration=fast", 400);
  EXPECT_STATUS("/api/traces?service=x&lookback=custom", 400);
  EXPECT_STATUS("/api/traces?service=x&limit=99999999", 400);
  EXPECT_STATUS("/api/traces?service=x&limit=-1", 400);
  EXPECT_STATUS("/api/traces?service=x&tag=novalue", 400);
  EXPECT_STATUS("/api/traces?service=x&tags=%7Bbroken", 400);
  EXPECT_STATUS("/api/traces?service=x&start=20&end=10", 400);
  EXPECT_STATUS("/api/traces?service=x&start=0&end=9999999999999999", 400);
}

static void v1_search_cursor_pages(void) {
  char path[512], seen[64][33];
  int n_seen = 0, pages = 0;
  char cursor[128] = "";
  for (;;) {
    snprintf(path, sizeof path, "/api/v1/search?attr=customer.tier:gold&limit=7&lookback=24h%s%s",
             cursor[0] ? "&cursor=" : "", cursor);
    qh_resp r;
    get(path, &r);
    CHECK_EQ(r.status, 200);
    pages++;
    for (const char *s = r.body; (s = strstr(s, "{\"traceID\":\"")); s += 12) {
      char id[33];
      memcpy(id, s + 12, 32);
      id[32] = '\0';
      for (int k = 0; k < n_seen; k++) CHECK(strcmp(seen[k], id) != 0);
      if (n_seen < 64) memcpy(seen[n_seen++], id, 33);
    }
    const char *c = strstr(r.body, "\"nextCursor\":\"");
    if (c) {
      size_t l = strcspn(c + 14, "\"");
      memcpy(cursor, c + 14, l < sizeof cursor ? l : sizeof cursor - 1);
      cursor[l < sizeof cursor ? l : sizeof cursor - 1] = '\0';
    }
    qh_free(&r);
    if (!c || pages > 10) break;
  }
  CHECK_EQ(n_seen, 20);
  CHECK_EQ(pages, 3);
  qh_resp r;
  /* Trace-level duration, no service needed. */
  get("/api/v1/search?service=frontend&operation=GET%20/checkout&minDuration=250ms&limit=100&lookback=24h", &r);
  CHECK_EQ(r.status, 200);
  CHECK_EQ(qh_num(r.body, "count"), 30);
  qh_free(&r);
  get("/api/v1/search?maxDuration=150ms&attr=customer.tier:silver&limit=100&lookback=24h", &r);
  CHECK_EQ(qh_num(r.body, "count"), 10); /* i%4==0 and i%3!=0 */
  qh_free(&r);
  /* A key the store does not index: found by loading the traces. */
  get("/api/v1/search?attr=region:eu&limit=100&lookback=24h", &r);
  CHECK_EQ(qh_num(r.body, "count"), 30);
  CHECK(strstr(r.body, "\"rootService\":\"frontend\",\"rootOperation\":\"GET /checkout\","
                       "\"firstService\":\"frontend\",\"firstOperation\":\"GET /checkout\","
                       "\"spanCount\":6") != NULL);
  qh_free(&r);
  /* Long traces behind thousands of short ones: the duration index finds
   * them without reading every summary (15 of 400 ms and the 1 s tree). */
  get("/api/v1/search?minDuration=350ms&limit=100&lookback=24h", &r);
  CHECK_EQ(r.status, 200);
  CHECK_EQ(qh_num(r.body, "count"), 16);
  CHECK(qh_num(r.body, "scanned") < 100);
  CHECK(strstr(r.body, "\"nextCursor\":null") != NULL);
  qh_free(&r);
  EXPECT_STATUS("/api/v1/search?cursor=bogus", 400);
  EXPECT_STATUS("/api/v1/search?operation=x", 400);
  EXPECT_STATUS("/api/v1/search?minDuration=5s&maxDuration=1s", 400);
}

static void v1_session_any_spelling(void) {
  qh_resp r;
  get("/api/v1/sessions/sess-42", &r);
  CHECK_EQ(r.status, 200);
  CHECK_EQ(qh_num(r.body, "count"), 4);
  /* Oldest first: b0..03 in order. */
  const char *p = r.body;
  for (uint32_t k = 0; k < 4; k++) {
    uint8_t t[16];
    char hex[33];
    tid_of(t, 0xb0, k);
    tid_hex(t, hex);
    const char *q = strstr(p, hex);
    CHECK(q != NULL);
    if (q) p = q;
  }
  qh_free(&r);
  get("/api/v1/search?attr=sessionId:sess-42&lookback=24h", &r);
  CHECK_EQ(qh_num(r.body, "count"), 4);
  qh_free(&r);
  get("/api/v1/sessions/no-such-session", &r);
  CHECK_EQ(r.status, 200);
  CHECK_EQ(qh_num(r.body, "count"), 0);
  qh_free(&r);
}

/* A summary names a rootless trace after its earliest span, so lists need
 * not fetch the tree. */
static void summary_names_rootless_trace_by_earliest_span(void) {
  uint8_t t[16];
  char hex[33], path[160];
  tid_of(t, 0xc0, 1);
  tid_hex(t, hex);
  qh_resp r;
  snprintf(path, sizeof path, "/api/v1/traces/%s", hex);
  get(path, &r);
  CHECK_EQ(r.status, 200);
  if (!strstr(r.body, "\"rootService\":\"\",\"rootOperation\":\"\",\"firstService\":\"cart\","
                      "\"firstOperation\":\"late work\",\"spanCount\":2"))
    fprintf(stderr, "%.400s\n", r.body);
  CHECK(strstr(r.body, "\"rootService\":\"\",\"rootOperation\":\"\",\"firstService\":\"cart\","
                       "\"firstOperation\":\"late work\",\"spanCount\":2") != NULL);
  qh_free(&r);
  snprintf(path, sizeof path, "/api/v1/search?service=cart&operation=settle&lookback=24h");
  get(path, &r);
  CHECK(strstr(r.body, "\"firstService\":\"cart\",\"firstOperation\":\"late work\"") != NULL);
  qh_free(&r);
}

static void v1_tree_marks_orphans_and_skew(void) {
  uint8_t t[16];
  char hex[33], path[128];
  tid_of(t, 0xc0, 0);
  tid_hex(t, hex);
  snprintf(path, sizeof path, "/api/v1/traces/%s/tree", hex);
  qh_resp r;
  get(path, &r);
  CHECK_EQ(r.status, 200);
  CHECK_EQ(qh_num(r.body, "missingParents"), 1);
  CHECK_EQ(qh_num(r.body, "skewAdjusted"), 1);
  const char *c = strstr(r.body, "\"operation\":\"AddItem\"");
  CHECK(c != NULL);
  CHECK_EQ(qh_num(c, "skewNs"), (long long)(55 * MS));
  CHECK_EQ(qh_num(c, "offsetNs"), (long long)(35 * MS));
  const char *o = strstr(r.body, "\"operation\":\"Orphan\"");
  CHECK(o && strstr(o, "\"missingParent\":true"));
  CHECK(o && strstr(o, "\"scopeName\":\"payments-lib\",\"scopeVersion\":\"1.4.2\""));
  CHECK(o && strstr(o, "\"links\":[{\"traceID\":\"a0000000000000000000000000000007\",\"spanID\":\"0000000000000042\","
                       "\"traceState\":\"vendor=1\",\"attributes\":{\"link.reason\":\"retry of\"}}]"));
  CHECK(c && strstr(c, "\"links\":[]"));
  CHECK_EQ(qh_num(r.body, "selfNs"), (long long)(70 * MS)); /* the root's */
  qh_free(&r);
  snprintf(path, sizeof path, "/api/traces/%s", hex);
  get(path, &r);
  CHECK(strstr(r.body, "clock skew adjustment") != NULL);
  /* The event moved with its span: 5 ms after the span's adjusted start. */
  char want[256];
  snprintf(want, sizeof want,
           "\"logs\":[{\"timestamp\":%llu,\"fields\":[{\"key\":\"event\",\"type\":\"string\",\"value\":\"retry\"},"
           "{\"key\":\"attempt\",\"type\":\"int64\",\"value\":2}]}]",
           (unsigned long long)((base_ns + 200000 * MS + 40 * MS) / 1000));
  CHECK(strstr(r.body, want) != NULL);
  CHECK(strstr(r.body, "parent span is not in the trace") != NULL);
  qh_free(&r);
  EXPECT_STATUS("/api/v1/traces/xyz/tree", 400);
  EXPECT_STATUS("/api/v1/traces/42/tree", 404);
}

static void v1_tree_from_batches_matches_local_build(void) {
  cs_arena a;
  cs_arena_init(&a, 0, 0);
  cs_tree t;
  CHECK_EQ(cs_tree_build(prop, PT, &a, &t), 0);
  char hex[33], path[128];
  tid_hex(prop[0].trace_id, hex);
  snprintf(path, sizeof path, "/api/v1/traces/%s/tree", hex);
  qh_resp r;
  get(path, &r);
  CHECK_EQ(r.status, 200);
  CHECK_EQ(qh_num(r.body, "spanCount"), PT);
  const char *p = strstr(r.body, "\"spans\":[");
  for (size_t k = 0; k < t.n && p; k++) {
    const cs_tree_node *nd = &t.nodes[t.order[k]];
    char id[17];
    for (int b = 0; b < 8; b++) snprintf(id + 2 * b, 3, "%02x", nd->span->span_id[b]);
    p = strstr(p, "{\"spanID\":\"");
    CHECK(p && strncmp(p + 11, id, 16) == 0);
    if (!p) break;
    CHECK_EQ(qh_num(p, "depth"), nd->depth);
    CHECK_EQ(qh_num(p, "selfNs"), (long long)nd->self_ns);
    p += 11;
  }
  qh_free(&r);
  cs_arena_release(&a);
}

static int u64cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static uint64_t exact_q(const uint64_t *sorted, size_t n, double q) {
  size_t rank = (size_t)(q * (double)n + 0.999999999);
  if (rank < 1) rank = 1;
  return sorted[rank - 1];
}

static int within_1pct(long long got, uint64_t want) {
  double d = (double)got - (double)want;
  if (d < 0) d = -d;
  return d <= 0.01 * (double)want;
}

/* The "histogram" array after from: bounds ascending, at most 32 buckets,
 * counts adding up to N and, bucket by bucket, the exact count of pay_dur
 * at or below each bound (give or take durations within 1% of the bound
 * when the store's log buckets answer). */
static void check_histogram(const char *from, int exact) {
  const char *h = strstr(from, "\"histogram\":[");
  CHECK(h != NULL);
  if (!h) return;
  const char *end = strchr(h, ']');
  long long total = 0, prev = 0;
  int nb = 0;
  for (const char *p = h; (p = strstr(p, "{\"leNs\":")) && p < end; p++, nb++) {
    long long le = qh_num(p, "leNs");
    CHECK(le > prev);
    prev = le;
    total += qh_num(p, "count");
    long long want = 0, near = 0;
    for (int i = 0; i < N; i++) {
      want += (long long)pay_dur[i] <= le;
      near += (double)pay_dur[i] >= 0.99 * (double)le && (double)pay_dur[i] <= 1.01 * (double)le;
    }
    long long diff = total > want ? total - want : want - total;
    if (exact) CHECK_EQ(total, want);
    else CHECK(diff <= near);
  }
  CHECK(nb >= 8 && nb <= 32);
  CHECK_EQ(total, N);
  uint64_t mx = 0;
  for (int i = 0; i < N; i++) mx = pay_dur[i] > mx ? pay_dur[i] : mx;
  CHECK(prev >= (long long)mx);
}

static void check_stats(const char *path, const char *source) {
  uint64_t sorted[N];
  memcpy(sorted, pay_dur, sizeof sorted);
  qsort(sorted, N, sizeof sorted[0], u64cmp);
  qh_resp r;
  get(path, &r);
  CHECK_EQ(r.status, 200);
  CHECK(strstr(r.body, source) != NULL);
  const char *op = strstr(r.body, "\"operation\":\"Charge\"");
  CHECK(op != NULL);
  CHECK_EQ(qh_num(op, "count"), N);
  CHECK_EQ(qh_num(op, "errors"), 12);
  static const struct {
    const char *k;
    double q;
  } ps[] = {{"p50Ns", 0.5}, {"p90Ns", 0.9}, {"p95Ns", 0.95}, {"p99Ns", 0.99}, {"maxNs", 1.0}};
  for (size_t i = 0; i < 5; i++) {
    long long got = qh_num(op, ps[i].k);
    uint64_t want = exact_q(sorted, N, ps[i].q);
    if (!within_1pct(got, want)) fprintf(stderr, "%s: %lld vs exact %llu\n", ps[i].k, got, (unsigned long long)want);
    CHECK(within_1pct(got, want));
  }
  check_histogram(op, strstr(source, "exact") != NULL);
  /* Per-minute series add up to the total: one trace a second over 60 s. */
  long long sum = 0;
  const char *s = strstr(op, "\"series\":[");
  const char *end = strstr(op, "]}");
  for (const char *p = s; p && (p = strstr(p, "{\"timeUs\":")) && (!end || p < end); p++)
    sum += qh_num(p, "count");
  CHECK_EQ(sum, N);
  qh_free(&r);
}

static void v1_stats_percentiles_match_exact(void) {
  qh_resp r;
  /* Exact (scan) path, then the store's per-minute rows: no trace is
   * read, even on the first request. */
  check_stats("/api/v1/stats?service=payment&operation=Charge&lookback=24h&exact=true", "\"source\":\"exact\"");
  check_stats("/api/v1/stats?service=payment&operation=Charge&lookback=24h", "\"source\":\"store\"");
  check_stats("/api/v1/stats?service=payment&lookback=24h", "\"scannedTraces\":0");
  /* A step that is not whole minutes cannot come from per-minute rows. */
  check_stats("/api/v1/stats?service=payment&operation=Charge&lookback=24h&step=30s", "\"source\":\"exact\"");
  /* Requests are server (and consumer) spans by default, as Jaeger's
   * service performance monitoring counts them; spanKind=all counts every
   * span, both from the store's rows and from an exact scan. */
  const char *modes[] = {"", "&exact=true"};
  for (int m = 0; m < 2; m++) {
    char path[200];
    snprintf(path, sizeof path, "/api/v1/stats?service=frontend&lookback=24h%s", modes[m]);
    get(path, &r);
    CHECK_EQ(r.status, 200);
    CHECK(strstr(r.body, "\"operation\":\"GET /checkout\"") != NULL);
    CHECK(strstr(r.body, "\"operation\":\"call cart\"") == NULL);
    CHECK(strstr(r.body, "\"spanKinds\":[\"server\",\"consumer\"]") != NULL);
    long long def = qh_num(strstr(r.body, "\"total\":"), "count");
    qh_free(&r);
    snprintf(path, sizeof path,
             "/api/v1/stats?service=frontend&lookback=24h&spanKind=consumer,server%s", modes[m]);
    get(path, &r);
    CHECK_EQ(def, qh_num(strstr(r.body, "\"total\":"), "count"));
    CHECK(def >= N);
    qh_free(&r);
    snprintf(path, sizeof path, "/api/v1/stats?service=frontend&lookback=24h&spanKind=all%s",
             modes[m]);
    get(path, &r);
    CHECK_EQ(r.status, 200);
    CHECK(strstr(r.body, "\"operation\":\"call cart\"") && strstr(r.body, "\"operation\":\"GET /checkout\""));
    /* Each checkout trace has two frontend client spans besides its server span. */
    CHECK(qh_num(strstr(r.body, "\"total\":"), "count") >= def + 2 * N);
    long long all = qh_num(strstr(r.body, "\"total\":"), "count");
    qh_free(&r);
    snprintf(path, sizeof path,
             "/api/v1/stats?service=frontend&lookback=24h&spanKind=unspecified,internal,server,"
             "client,producer,consumer%s", modes[m]);
    get(path, &r);
    CHECK_EQ(all, qh_num(strstr(r.body, "\"total\":"), "count"));
    qh_free(&r);
    snprintf(path, sizeof path, "/api/v1/stats?service=frontend&lookback=24h&spanKind=client%s",
             modes[m]);
    get(path, &r);
    CHECK(strstr(r.body, "\"operation\":\"call cart\"") != NULL);
    CHECK(strstr(r.body, "\"operation\":\"GET /checkout\"") == NULL);
    CHECK(strstr(r.body, "\"spanKinds\":[\"client\"]") != NULL);
    qh_free(&r);
  }
  EXPECT_STATUS("/api/v1/stats?service=frontend&spanKind=server,client", 200);
  EXPECT_STATUS("/api/v1/stats?service=frontend&spanKind=server,", 400);
  EXPECT_STATUS("/api/v1/stats?service=frontend&spanKind=bogus", 400);
  EXPECT_STATUS("/api/v1/stats", 400);
  EXPECT_STATUS("/api/v1/stats?service=a&step=1ms", 400);
  EXPECT_STATUS("/api/v1/stats?service=a&lookback=30d", 400);
}

static void check_deps(const char *path, int exact) {
  qh_resp r;
  get(path, &r);
  CHECK_EQ(r.status, 200);
  CHECK(strstr(r.body, exact ? "\"source\":\"exact\"" : "\"source\":\"sketch\"") != NULL);
  const char *fc = strstr(r.body, "{\"parent\":\"frontend\",\"child\":\"cart\"");
  const char *fp = strstr(r.body, "{\"parent\":\"frontend\",\"child\":\"payment\"");
  const char *cr = strstr(r.body, "{\"parent\":\"cart\",\"child\":\"redis\"");
  CHECK(fc && fp && cr);
  if (fc && fp && cr) {
    CHECK_EQ(qh_num(fp, "callCount"), N);
    CHECK_EQ(qh_num(fp, "errorCount"), 12);
    CHECK_EQ(qh_num(cr, "callCount"), N);
    /* Every redis call took 1 ms: exact, or within the sketch's 0.5%. */
    if (exact) CHECK_EQ(qh_num(cr, "p99Ns"), (long long)MS);
    else CHECK(within_1pct(qh_num(cr, "p99Ns"), MS));
    CHECK_EQ(qh_num(cr, "maxNs"), (long long)MS);
    /* frontend->cart: the session traces (4 calls from frontend to cart
     * by parent/child) and the skew trace add to the 60 client calls. */
    CHECK_EQ(qh_num(fc, "callCount"), N + 5 + 1);
    uint64_t sorted[N];
    memcpy(sorted, cart_client_dur, sizeof sorted);
    qsort(sorted, N, sizeof sorted[0], u64cmp);
    CHECK(qh_num(fc, "maxNs") >= (long long)sorted[N - 1]);
    /* Payment calls are timed by the client span: pay_dur + 1 ms. */
    uint64_t pay[N];
    for (int i = 0; i < N; i++) pay[i] = pay_dur[i] + MS;
    qsort(pay, N, sizeof pay[0], u64cmp);
    long long p90 = qh_num(fp, "p90Ns");
    if (exact) CHECK_EQ(p90, (long long)exact_q(pay, N, 0.9));
    else CHECK(within_1pct(p90, exact_q(pay, N, 0.9)));
  }
  qh_free(&r);
}

static void dependencies_match_topology(void) {
  qh_resp r;
  check_deps("/api/v1/dependencies?lookback=24h&exact=true", 1);
  /* The sketches: filled by the first request, read back by the second. */
  check_deps("/api/v1/dependencies?lookback=24h", 0);
  check_deps("/api/v1/dependencies?lookback=24h", 0);
  get("/api/v1/dependencies?lookback=24h", &r);
  CHECK_EQ(qh_num(r.body, "scannedTraces"), 0); /* closed minutes come from the cache */
  CHECK(qh_num(r.body, "filledMinutes") <= 3);   /* only the still-open ones */
  CHECK(strstr(r.body, "{\"parent\":\"cart\",\"child\":\"frontend\"") == NULL);
  qh_free(&r);
  char path[128];
  snprintf(path, sizeof path, "/api/dependencies?endTs=%llu&lookback=86400000",
           (unsigned long long)(qh_now_ns() / 1000000));
  get(path, &r);
  CHECK_EQ(r.status, 200);
  CHECK(strstr(r.body, "{\"data\":[{\"parent\":\"cart\",\"child\":\"redis\",\"callCount\":60}") != NULL);
  CHECK(strstr(r.body, "{\"parent\":\"frontend\",\"child\":\"payment\",\"callCount\":60}") != NULL);
  CHECK(strstr(r.body, "\"errors\":null}") != NULL);
  qh_free(&r);
  EXPECT_STATUS("/api/dependencies?lookback=99999999999", 400);
}

static long long edge_count(const char *q) {
  char path[256];
  snprintf(path, sizeof path, "/api/v1/search?%s&lookback=24h&limit=1000", q);
  qh_resp r;
  get(path, &r);
  CHECK_EQ(r.status, 200);
  long long n = qh_num(r.body, "count");
  qh_free(&r);
  return n;
}

/* Traces where one service calls another, as the dependency graph counts
 * calls: parent/child across services, and peer.service for a callee
 * that sends no spans. */
static void v1_search_by_edge(void) {
  CHECK_EQ(edge_count("edge=frontend%3Epayment"), N);
  CHECK_EQ(edge_count("parent=frontend&child=payment"), N);
  CHECK_EQ(edge_count("edge=frontend>cart"), N + 5 + 1); /* + session and skew traces */
  CHECK_EQ(edge_count("edge=cart>redis"), N);             /* redis is only a peer */
  CHECK_EQ(edge_count("edge=payment>frontend"), 0);
  CHECK_EQ(edge_count("edge=cart>payment"), 0);           /* both in the trace, no call */
  CHECK_EQ(edge_count("edge=frontend>payment&attr=customer.tier:gold"), N / 3);
  CHECK_EQ(edge_count("edge=frontend>payment&minDuration=350ms"), N / 4);
  EXPECT_STATUS("/api/v1/search?edge=frontend", 400);
  EXPECT_STATUS("/api/v1/search?edge=cart>cart", 400);
  EXPECT_STATUS("/api/v1/search?parent=cart", 400);
  EXPECT_STATUS("/api/v1/search?edge=a>b&child=b", 400);
}

static void bad_input_gets_clear_4xx(void) {
  EXPECT_STATUS("/api/nope", 404);
  EXPECT_STATUS("/api/v1/nope", 404);
  /* Huge tags JSON: over the 8 KiB cap but under the URL limit. */
  static char path[12000];
  int n = snprintf(path, sizeof path, "/api/traces?service=a&tags=%%7B%%22k%%22%%3A%%22");
  while (n < 10000) path[n++] = 'x';
  snprintf(path + n, sizeof path - (size_t)n, "%%22%%7D");
  EXPECT_STATUS(path, 400);
  /* Unescaped and control characters, a path escaping the root, a body. */
  const char *raws[] = {
      "GET /api/traces?service=a\"b&tags={\"x\":1} HTTP/1.0\r\n\r\n",
      "GET /api/traces/%00%01 HTTP/1.0\r\n\r\n",
      "GET /../../etc/passwd HTTP/1.0\r\n\r\n",
      "POST /api/services HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello",
      "GET /api/v1/search?attr=%ZZ HTTP/1.0\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof raws / sizeof raws[0]; i++) {
    qh_resp r;
    int rc = qh_raw(qport, raws[i], strlen(raws[i]), &r);
    CHECK_EQ(rc, 0);
    if (r.status < 200 || r.status >= 500) fprintf(stderr, "raw %zu -> %d\n", i, r.status);
    CHECK(r.status >= 200 && r.status < 500);
    qh_free(&r);
  }
  /* A URL past the connection memory limit is refused by the HTTP layer. */
  char *big = malloc(200000);
  memcpy(big, "GET /api/traces?service=", 24);
  memset(big + 24, 'a', 150000);
  memcpy(big + 24 + 150000, " HTTP/1.0\r\n\r\n", 14);
  qh_resp r;
  if (qh_raw(qport, big, 24 + 150000 + 13, &r) == 0) {
    CHECK(r.status >= 400 && r.status < 500);
    qh_free(&r);
  }
  free(big);
  EXPECT_STATUS("/api/services", 200);
}

/* Every error answers in the shape of its path's API: Jaeger's envelope
 * under /api/ (data null, errors [{code, msg}]), {"error":{code,message}}
 * under /api/v1/ and elsewhere, whichever layer refused the request. */
static void check_error_shape(const qh_resp *r, const char *what, int code, int jaeger) {
  char want[160];
  if (jaeger)
    snprintf(want, sizeof want,
             "{\"data\":null,\"total\":0,\"limit\":0,\"offset\":0,\"errors\":[{\"code\":%d,\"msg\":\"",
             code);
  else
    snprintf(want, sizeof want, "{\"error\":{\"code\":%d,\"message\":\"", code);
  if (r->status != code || strncmp(r->body, want, strlen(want)) != 0)
    fprintf(stderr, "%s -> %d %s\n", what, r->status, r->body);
  CHECK_EQ(r->status, code);
  CHECK(strncmp(r->body, want, strlen(want)) == 0);
  CHECK(strstr(r->ctype, "application/json") != NULL);
}

static void errors_keep_the_shape_of_their_api(void) {
  static const struct {
    const char *req;
    int code, jaeger;
  } cases[] = {
      {"POST /api/services HTTP/1.0\r\n\r\n", 405, 1},
      {"DELETE /api/traces/1 HTTP/1.0\r\n\r\n", 405, 1},
      {"POST /api/v1/search HTTP/1.0\r\n\r\n", 405, 0},
      {"PUT /metrics HTTP/1.0\r\n\r\n", 405, 0},
      {"GET /api/services HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello", 413, 1},
      {"GET /api/v1/services HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello", 413, 0},
      {"GET /api/nope HTTP/1.0\r\n\r\n", 404, 1},
      {"GET /api HTTP/1.0\r\n\r\n", 404, 1},
      {"GET /api/v1/nope HTTP/1.0\r\n\r\n", 404, 0},
      {"GET /api/v1 HTTP/1.0\r\n\r\n", 404, 0},
      {"GET /api/v10/x HTTP/1.0\r\n\r\n", 404, 1},
      {"GET /api/traces/zz HTTP/1.0\r\n\r\n", 400, 1},
      {"GET /api/v1/traces/zz HTTP/1.0\r\n\r\n", 400, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    qh_resp r;
    CHECK_EQ(qh_raw(qport, cases[i].req, strlen(cases[i].req), &r), 0);
    check_error_shape(&r, cases[i].req, cases[i].code, cases[i].jaeger);
    qh_free(&r);
  }
}

/* Day units work in every lookback, and the 7-day window limit is a
 * clear error naming it. */
static void lookback_takes_days_up_to_the_window_limit(void) {
  EXPECT_STATUS("/api/v1/stats?service=payment&lookback=7d", 200);
  EXPECT_STATUS("/api/v1/search?lookback=2d", 200);
  EXPECT_STATUS("/api/traces?service=payment&lookback=2d", 200);
  EXPECT_STATUS("/api/dependencies?lookback=2d", 200);
  EXPECT_STATUS("/api/dependencies?lookback=172800000", 200);
  EXPECT_STATUS("/api/v1/dependencies?lookback=1d12h", 200);
  const char *too_long[] = {"/api/v1/stats?service=payment&lookback=8d",
                            "/api/traces?service=payment&lookback=169h",
                            "/api/dependencies?lookback=8d",
                            "/api/dependencies?lookback=691200000"};
  for (size_t i = 0; i < sizeof too_long / sizeof too_long[0]; i++) {
    qh_resp r;
    get(too_long[i], &r);
    if (r.status != 400 || !strstr(r.body, "too long: at most 7d"))
      fprintf(stderr, "%s -> %d %s\n", too_long[i], r.status, r.body);
    CHECK_EQ(r.status, 400);
    CHECK(strstr(r.body, "too long: at most 7d") != NULL);
    qh_free(&r);
  }
  EXPECT_STATUS("/api/v1/stats?service=payment&lookback=7x", 400);
}

static void *heavy(void *arg) {
  int *status = arg;
  qh_resp r;
  if (qh_get(qport, "/api/v1/dependencies?lookback=168h", &r) == 0) {
    *status = r.status;
    if (r.status == 429) check_error_shape(&r, "heavy", 429, 0);
    qh_free(&r);
  }
  return NULL;
}

static void concurrent_heavy_queries_are_bounded(void) {
  pthread_t th[8];
  int st[8] = {0};
  for (int i = 0; i < 8; i++) pthread_create(&th[i], NULL, heavy, &st[i]);
  for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
  int ok = 0;
  for (int i = 0; i < 8; i++) {
    CHECK(st[i] == 200 || st[i] == 429);
    ok += st[i] == 200;
  }
  CHECK(ok >= 1);
  EXPECT_STATUS("/api/services", 200);
}

static void static_files_and_metrics(void) {
  qh_resp r;
  get("/", &r);
  CHECK_EQ(r.status, 200);
  CHECK(strstr(r.ctype, "text/html") != NULL);
  CHECK(strstr(r.body, "callscope ui") != NULL);
  qh_free(&r);
  get("/app.js", &r);
  CHECK_EQ(r.status, 200);
  CHECK(strstr(r.ctype, "text/javascript") != NULL);
  qh_free(&r);
  get("/%2e%2e/secret.txt", &r);
  CHECK(r.status == 404 || r.status == 400);
  CHECK(strstr(r.body, "top secret") == NULL);
  qh_free(&r);
  get("/missing.css", &r);
  CHECK_EQ(r.status, 404);
  qh_free(&r);
  get("/metrics", &r);
  CHECK_EQ(r.status, 200);
  CHECK(strstr(r.ctype, "text/plain") != NULL);
  CHECK(strstr(r.body, "callscope_query_requests_total{") != NULL);
  CHECK(strstr(r.body, "callscope_collector_spans_rejected_by_reason_total{reason=") != NULL);
  /* The whole exposition, with the all-in-one's own series, passes
   * promtool's checks (Debian's prometheus package) when it is installed. */
  if (system("command -v promtool >/dev/null 2>&1") == 0) {
    char file[700], cmd[800];
    snprintf(file, sizeof file, "%s/metrics.txt", dir);
    FILE *f = fopen(file, "w");
    if (f) {
      fwrite(r.body, 1, r.body_len, f);
      fclose(f);
    }
    snprintf(cmd, sizeof cmd, "promtool check metrics < '%s'", file);
    CHECK_EQ(system(cmd), 0);
  } else {
    fprintf(stderr, "promtool not installed: exposition not linted\n");
  }
  qh_free(&r);
}

static void secondary_sees_new_spans_within_a_second(int fd, uint64_t *seq) {
  char sec[600], port_s[16];
  snprintf(sec, sizeof sec, "%s/secondary", dir);
  char *argv[] = {(char *)bin_query, "--data-dir", data_dir, "--secondary-dir", sec,
                  "--query-port", "0", "--index-key", "customer.tier", "--max-scan", "5",
                  NULL};
  qh_proc q;
  CHECK_EQ(qh_spawn(&q, argv, log_path), 0);
  int port = qh_line_int(&q, "127.0.0.1:");
  CHECK(port > 0);
  snprintf(port_s, sizeof port_s, "%d", port);
  qh_resp r;
  CHECK_EQ(qh_get(port, "/api/services", &r), 0);
  CHECK_EQ(r.status, 200);
  CHECK(strstr(r.body, "\"payment\"") != NULL);
  qh_free(&r);
  /* Statistics need no scan (the cap of 5 traces does not bite) and match
   * the all-in-one daemon's to the byte. */
  uint64_t now_us = qh_now_ns() / 1000;
  char sp[200];
  snprintf(sp, sizeof sp, "/api/v1/stats?service=payment&start=%llu&end=%llu",
           (unsigned long long)(now_us - 86400000000ull), (unsigned long long)now_us);
  qh_resp r2;
  CHECK_EQ(qh_get(port, sp, &r), 0);
  CHECK_EQ(r.status, 200);
  get(sp, &r2);
  CHECK(r.body && r2.body && strcmp(r.body, r2.body) == 0);
  CHECK(r.body && strstr(r.body, "\"count\":60") != NULL);
  qh_free(&r);
  qh_free(&r2);
  /* The scan cap answers a clear 422 instead of working on. */
  CHECK_EQ(qh_get(port, "/api/v1/dependencies?lookback=24h", &r), 0);
  CHECK_EQ(r.status, 422);
  CHECK(strstr(r.body, "more than 5 traces") != NULL);
  qh_free(&r);

  uint8_t t[16];
  char hex[33], path[128];
  tid_of(t, 0xe0, 0);
  tid_hex(t, hex);
  snprintf(path, sizeof path, "/api/traces/%s", hex);
  cs_span s = mk(t, 1, 0, "late op", CS_KIND_SERVER, qh_now_ns(), MS, &r_late);
  send_or_fail(fd, &s, 1, seq);
  uint64_t t0 = qh_mono_ns();
  int seen = 0;
  while (qh_mono_ns() - t0 < 3000000000ull) {
    if (qh_get(port, path, &r) == 0) {
      seen = r.status == 200;
      qh_free(&r);
      if (seen) break;
    }
    usleep(20000);
  }
  double ms = (double)(qh_mono_ns() - t0) / 1e6;
  fprintf(stderr, "secondary saw the new trace after %.0f ms\n", ms);
  CHECK(seen);
  CHECK(ms < 1000.0);
  CHECK_EQ(qh_stop(&q), 0);

  /* A deadline too short for any scan: a clear 503, and the server goes on. */
  char *argv2[] = {(char *)bin_query, "--data-dir", data_dir, "--secondary-dir", sec,
                   "--query-port", "0", "--query-timeout", "1us", NULL};
  CHECK_EQ(qh_spawn(&q, argv2, log_path), 0);
  port = qh_line_int(&q, "127.0.0.1:");
  CHECK_EQ(qh_get(port, "/api/v1/dependencies?lookback=24h", &r), 0);
  CHECK_EQ(r.status, 503);
  CHECK(strstr(r.body, "timed out") != NULL);
  check_error_shape(&r, "v1 timeout", 503, 0);
  qh_free(&r);
  CHECK_EQ(qh_get(port, "/api/dependencies?lookback=86400000", &r), 0);
  check_error_shape(&r, "jaeger timeout", 503, 1);
  qh_free(&r);
  /* Reading statistics rows checks the deadline too. */
  CHECK_EQ(qh_get(port, "/api/v1/stats?service=payment&lookback=24h", &r), 0);
  CHECK_EQ(r.status, 503);
  qh_free(&r);
  CHECK_EQ(qh_get(port, "/api/services", &r), 0);
  CHECK_EQ(r.status, 200);
  qh_free(&r);
  CHECK_EQ(qh_stop(&q), 0);
}

/* Runs argv to completion; its stderr lands in err. Returns the exit
 * status, or -1. */
static int run_capture(char *const argv[], char *err, size_t cap) {
  int fds[2];
  if (pipe(fds)) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    dup2(fds[1], 2);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 1);
    close(fds[0]);
    close(fds[1]);
    execv(argv[0], argv);
    _exit(127);
  }
  close(fds[1]);
  size_t n = 0;
  ssize_t r;
  while (n + 1 < cap && (r = read(fds[0], err + n, cap - 1 - n)) > 0) n += (size_t)r;
  err[n] = '\0';
  close(fds[0]);
  int st;
  if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) return -1;
  return WEXITSTATUS(st);
}

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++) n += *s == '\n';
  return n;
}

/* Both daemons take the query flags under the same names (old spellings
 * as aliases), report a bad flag in one line plus "try --help", and
 * callscope-query announces its start once. Runs after the main daemon
 * has stopped, so callscope can open the same data directory. */
static void daemons_share_query_flags(void) {
  char err[4096];
  char *bogus[] = {(char *)bin_all, "--bogus", NULL};
  CHECK_EQ(run_capture(bogus, err, sizeof err), 2);
  CHECK(strcmp(err, "callscope: unknown option --bogus\n"
                    "try 'callscope --help' for the options\n") == 0);
  if (count_lines(err) != 2) fprintf(stderr, "callscope --bogus said:\n%s", err);
  /* Each spelling on each program is a known flag: a bad value is
   * reported under the canonical name, not as an unknown option. */
  static const struct {
    const char *flag, *canon;
  } flags[] = {{"--query-threads", "--query-threads"}, {"--threads", "--query-threads"},
               {"--query-timeout", "--query-timeout"}, {"--timeout", "--query-timeout"},
               {"--max-scan", "--max-scan"}};
  const char *bins[2] = {bin_all, bin_query};
  for (int b = 0; b < 2; b++)
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
      char *argv[] = {(char *)bins[b], "--data-dir", data_dir, (char *)flags[i].flag, "0", NULL};
      char want[128];
      snprintf(want, sizeof want, ": invalid value for %s: 0\ntry '", flags[i].canon);
      int rc = run_capture(argv, err, sizeof err);
      if (rc != 2 || !strstr(err, want) || count_lines(err) != 2)
        fprintf(stderr, "%s %s 0 -> %d: %s", bins[b], flags[i].flag, rc, err);
      CHECK_EQ(rc, 2);
      CHECK(strstr(err, want) != NULL);
      CHECK_EQ(count_lines(err), 2);
    }
  /* The values take effect on the all-in-one daemon too. */
  char *scan[] = {(char *)bin_all, "--data-dir", data_dir, "--query-port", "0", "--tcp-port", "0",
                  "--udp-port", "-1", "--no-otlp-http", "--no-zipkin", "--no-statsd",
                  "--max-scan", "5", "--threads", "2", NULL};
  qh_proc p;
  CHECK_EQ(qh_spawn(&p, scan, log_path), 0);
  int port = qh_line_int(&p, "127.0.0.1:");
  qh_resp r;
  CHECK_EQ(qh_get(port, "/api/v1/dependencies?lookback=24h", &r), 0);
  CHECK_EQ(r.status, 422);
  CHECK(strstr(r.body, "more than 5 traces") != NULL);
  qh_free(&r);
  CHECK_EQ(qh_stop(&p), 0);
  char *slow[] = {(char *)bin_all, "--data-dir", data_dir, "--query-port", "0", "--tcp-port", "0",
                  "--udp-port", "-1", "--no-otlp-http", "--no-zipkin", "--no-statsd",
                  "--timeout", "1us", NULL};
  CHECK_EQ(qh_spawn(&p, slow, log_path), 0);
  port = qh_line_int(&p, "127.0.0.1:");
  CHECK_EQ(qh_get(port, "/api/v1/dependencies?lookback=24h", &r), 0);
  CHECK_EQ(r.status, 503);
  qh_free(&r);
  CHECK_EQ(qh_stop(&p), 0);
  /* callscope-query said it was listening on stdout only (read by
   * qh_spawn), not again in the log. */
  FILE *f = fopen(log_path, "r");
  CHECK(f != NULL);
  if (f) {
    char line[1024];
    int repeats = 0;
    while (fgets(line, sizeof line, f)) repeats += strstr(line, "serving http://") != NULL;
    fclose(f);
    CHECK_EQ(repeats, 0);
  }
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s CALLSCOPE CALLSCOPE_QUERY\n", argv[0]);
    return 2;
  }
  bin_all = argv[1];
  bin_query = argv[2];
  signal(SIGPIPE, SIG_IGN);
  snprintf(dir, sizeof dir, "/tmp/cs-query-test-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  snprintf(data_dir, sizeof data_dir, "%s/data", dir);
  snprintf(ui_dir, sizeof ui_dir, "%s/ui", dir);
  snprintf(log_path, sizeof log_path, "%s/daemon.log", dir);
  mkdir(ui_dir, 0755);
  char f[700];
  snprintf(f, sizeof f, "%s/index.html", ui_dir);
  write_file(f, "<html>callscope ui</html>\n");
  snprintf(f, sizeof f, "%s/app.js", ui_dir);
  write_file(f, "console.log(1);\n");
  snprintf(f, sizeof f, "%s/secret.txt", dir);
  write_file(f, "top secret\n");

  char *args[] = {(char *)bin_all, "--data-dir", data_dir, "--query-port", "0", "--tcp-port", "0",
                  "--udp-port", "-1", "--ui-dir", ui_dir, "--index-key", "customer.tier",
                  "--stats-interval", "0", "--no-otlp-http", "--no-zipkin", "--no-statsd", NULL};
  if (qh_spawn(&aio, args, log_path)) {
    fprintf(stderr, "callscope did not start\n");
    return 1;
  }
  qport = qh_line_int(&aio, "127.0.0.1:");
  tport = qh_line_int(&aio, "tcp ");
  fprintf(stderr, "callscope: %s\n", aio.line);
  CHECK(qport > 0 && tport > 0);
  int fd = qh_connect(tport);
  CHECK(fd >= 0);
  uint64_t seq = 0;
  base_ns = qh_now_ns() - 3600ull * 1000000000ull + 60ull * 1000000000ull;
  base_ns -= base_ns % (60ull * 1000000000ull); /* whole minutes: 60 traces fill one */
  fill_topology(fd, &seq);
  fill_session(fd, &seq);
  fill_skew(fd, &seq);
  fill_property_tree(fd, &seq);
  fill_short_recent(fd, &seq);
  fill_rootless(fd, &seq);

  RUN(jaeger_services_and_operations);
  RUN(jaeger_trace_shape);
  RUN(jaeger_search);
  RUN(v1_search_cursor_pages);
  RUN(v1_session_any_spelling);
  RUN(summary_names_rootless_trace_by_earliest_span);
  RUN(v1_tree_marks_orphans_and_skew);
  RUN(v1_tree_from_batches_matches_local_build);
  RUN(v1_stats_percentiles_match_exact);
  RUN(dependencies_match_topology);
  RUN(v1_search_by_edge);
  RUN(bad_input_gets_clear_4xx);
  RUN(errors_keep_the_shape_of_their_api);
  RUN(lookback_takes_days_up_to_the_window_limit);
  RUN(concurrent_heavy_queries_are_bounded);
  RUN(static_files_and_metrics);
  int before = cs_check_failures;
  secondary_sees_new_spans_within_a_second(fd, &seq);
  fprintf(stderr, "%s secondary_sees_new_spans_within_a_second\n", cs_check_failures == before ? "ok  " : "FAIL");
  close(fd);
  int rc = qh_stop(&aio);
  CHECK_EQ(rc, 0);
  RUN(daemons_share_query_flags);
  if (!cs_check_failures) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "cannot remove %s\n", dir);
  } else {
    fprintf(stderr, "logs and data kept in %s\n", dir);
  }
  return CHECK_DONE();
}
