/* The log-line budget: lines per window, the suppressed count reported once
 * when the next window opens. */
#include "check.h"
#include "log.h"

static void lograte_allows_lines_per_window_then_counts(void) {
  cs_lograte r = {0};
  uint64_t dropped = 99;
  int ok = 0;
  for (int i = 0; i < 5; i++)
    ok += cs_lograte_take(&r, 1000, 2, 1000, &dropped);
  CHECK_EQ(ok, 2);
  CHECK_EQ(dropped, 0);
  CHECK_EQ(cs_lograte_take(&r, 1999, 2, 1000, &dropped), 0);
  CHECK_EQ(dropped, 0);
  CHECK_EQ(cs_lograte_take(&r, 2000, 2, 1000, &dropped), 1);
  CHECK_EQ(dropped, 4);
  CHECK_EQ(cs_lograte_take(&r, 2001, 2, 1000, &dropped), 1);
  CHECK_EQ(dropped, 0);
}

int main(void) {
  RUN(lograte_allows_lines_per_window_then_counts);
  return CHECK_DONE();
}
