/* The Host header check (common/hostcheck.c): loopback names, the listen
 * address, --allow-host names and wildcard binds are answered; other
 * names and malformed values are refused. */
#include "check.h"
#include "hostcheck.h"

static void hostcheck_accepts_loopback_names_with_any_port(void) {
  const char *ok[] = {"localhost",   "localhost:16686", "LocalHost.",  "127.0.0.1",  "127.0.0.1:80",
                      "127.1.2.3:9", "[::1]",           "[::1]:16686", "[0:0::1]:1", "localhost:"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    int r = cs_host_allowed(ok[i], "127.0.0.1", NULL);
    if (!r)
      fprintf(stderr, "refused %s\n", ok[i]);
    CHECK_EQ(r, 1);
  }
}

static void hostcheck_refuses_other_names_and_junk(void) {
  const char *bad[] = {"evil.example",
                       "evil.example:16686",
                       "localhost.evil.example",
                       "localhostx",
                       "",
                       ":80",
                       "localhost:99999",
                       "localhost:8o",
                       "localhost:1:2",
                       "[::1",
                       "[::1]x",
                       "[evil]",
                       "local host",
                       "10.0.0.1",
                       "[::2]",
                       "127.0.0.1@evil",
                       "localhost:123456",
                       "."};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int r = cs_host_allowed(bad[i], "127.0.0.1", NULL);
    if (r)
      fprintf(stderr, "accepted \"%s\"\n", bad[i]);
    CHECK_EQ(r, 0);
  }
  char longname[400];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  CHECK_EQ(cs_host_allowed(longname, "127.0.0.1", NULL), 0);
}

static void hostcheck_accepts_missing_header(void) {
  CHECK_EQ(cs_host_allowed(NULL, "127.0.0.1", NULL), 1);
}

static void hostcheck_accepts_the_listen_address(void) {
  CHECK_EQ(cs_host_allowed("10.1.2.3:16686", "10.1.2.3", NULL), 1);
  CHECK_EQ(cs_host_allowed("10.1.2.4:16686", "10.1.2.3", NULL), 0);
  CHECK_EQ(cs_host_allowed("[fd00::5]:16686", "fd00::5", NULL), 1);
  CHECK_EQ(cs_host_allowed("[fd00::6]", "fd00::5", NULL), 0);
  /* Bound to every address: any IP literal is ours, names are not. */
  CHECK_EQ(cs_host_allowed("192.168.1.9:16686", "0.0.0.0", NULL), 1);
  CHECK_EQ(cs_host_allowed("[fd00::7]", "::", NULL), 1);
  CHECK_EQ(cs_host_allowed("evil.example", "0.0.0.0", NULL), 0);
  CHECK_EQ(cs_host_allowed("evil.example", "::", NULL), 0);
  /* NULL means the default 127.0.0.1. */
  CHECK_EQ(cs_host_allowed("10.1.2.3", NULL, NULL), 0);
}

static void hostcheck_accepts_allowed_names(void) {
  cs_hostlist l;
  memset(&l, 0, sizeof l);
  CHECK_EQ(cs_hostlist_add(&l, "traces.example.com"), 0);
  CHECK_EQ(cs_hostlist_add(&l, "[fd00::9]"), 0);
  CHECK_EQ(cs_hostlist_add(&l, "192.0.2.7"), 0);
  CHECK_EQ(cs_host_allowed("traces.example.com", "127.0.0.1", &l), 1);
  CHECK_EQ(cs_host_allowed("TRACES.example.com.:443", "127.0.0.1", &l), 1);
  CHECK_EQ(cs_host_allowed("x.traces.example.com", "127.0.0.1", &l), 0);
  CHECK_EQ(cs_host_allowed("[fd00::9]:1", "127.0.0.1", &l), 1);
  CHECK_EQ(cs_host_allowed("192.0.2.7", "127.0.0.1", &l), 1);
  CHECK_EQ(cs_host_allowed("evil.example", "127.0.0.1", &l), 0);
  CHECK_EQ(cs_hostlist_add(&l, "*"), 0);
  CHECK_EQ(cs_host_allowed("evil.example", "127.0.0.1", &l), 1);
  CHECK_EQ(cs_host_allowed("bad host", "127.0.0.1", &l), 0); /* still well-formed only */
}

static void hostcheck_list_rejects_bad_names_and_overflow(void) {
  cs_hostlist l;
  memset(&l, 0, sizeof l);
  CHECK_EQ(cs_hostlist_add(&l, ""), -1);
  CHECK_EQ(cs_hostlist_add(&l, "a b"), -1);
  CHECK_EQ(cs_hostlist_add(&l, "name:80"), -1);
  CHECK_EQ(cs_hostlist_add(&l, "[zz::]"), -1);
  CHECK_EQ(cs_hostlist_add(&l, NULL), -1);
  for (int i = 0; i < CS_HOSTLIST_MAX; i++)
    CHECK_EQ(cs_hostlist_add(&l, "ok.example"), 0);
  CHECK_EQ(cs_hostlist_add(&l, "one.more"), -2);
  CHECK_EQ(l.n, CS_HOSTLIST_MAX);
}

int main(void) {
  RUN(hostcheck_accepts_loopback_names_with_any_port);
  RUN(hostcheck_refuses_other_names_and_junk);
  RUN(hostcheck_accepts_missing_header);
  RUN(hostcheck_accepts_the_listen_address);
  RUN(hostcheck_accepts_allowed_names);
  RUN(hostcheck_list_rejects_bad_names_and_overflow);
  return cs_check_failures != 0;
}
