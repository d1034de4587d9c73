/* Session key normalisation: every documented spelling, and near misses. */
#include "check.h"
#include "session.h"

static int is_key(const char *k) { return cs_is_session_key(k, strlen(k)); }

static void session_accepts_every_spelling(void) {
  const char *yes[] = {"session.id", "sessionId", "sessionid", "session_id",
                       "SessionID", "session-id", "SESSION_ID"};
  for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
    if (!is_key(yes[i])) fprintf(stderr, "  rejected %s\n", yes[i]);
    CHECK(is_key(yes[i]));
  }
}

static void session_rejects_near_misses(void) {
  const char *no[] = {"session", "id", "session.ids", "user.session.id", "sessionid2", "", "sesion.id"};
  for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
    if (is_key(no[i])) fprintf(stderr, "  accepted %s\n", no[i]);
    CHECK(!is_key(no[i]));
  }
}

static void session_prefers_span_attr_over_resource(void) {
  cs_attr rattr = {.key = CS_STR_LIT("SessionID"), .type = CS_VAL_STR, .v.s = CS_STR_LIT("from-resource")};
  cs_resource res = {.service = CS_STR_LIT("svc"), .attrs = &rattr, .n_attrs = 1};
  cs_attr sattr[2] = {
      {.key = CS_STR_LIT("session_id"), .type = CS_VAL_INT, .v.i = 5},
      {.key = CS_STR_LIT("sessionId"), .type = CS_VAL_STR, .v.s = CS_STR_LIT("from-span")},
  };
  cs_span s = {.resource = &res, .attrs = sattr, .n_attrs = 2};
  cs_span_find_session(&s);
  CHECK_STRN(s.session_id.p, s.session_id.n, "from-span");
  s.n_attrs = 1; /* only the non-string one: fall back to the resource */
  cs_span_find_session(&s);
  CHECK_STRN(s.session_id.p, s.session_id.n, "from-resource");
  s.resource = NULL;
  cs_span_find_session(&s);
  CHECK_EQ(s.session_id.n, 0);
}

int main(void) {
  RUN(session_accepts_every_spelling);
  RUN(session_rejects_near_misses);
  RUN(session_prefers_span_attr_over_resource);
  return CHECK_DONE();
}
