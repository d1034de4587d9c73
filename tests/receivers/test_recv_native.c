/* The native TCP path of the standalone callscope-collector where it meets
 * the receivers' rules: without a metrics sink a metrics frame is
 * acknowledged as rejected (not silently as accepted), and with
 * --retention a span older than the window (or far in the future) is
 * rejected at ingest and counted in the ACK. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "daemon.h"
#include "otlp_encode.h"
#include "span.h"

static const char *g_bin;

/* ExportMetricsServiceRequest{ResourceMetrics{ScopeMetrics{Metric{name:
 * "m", gauge{NumberDataPoint{as_double: 1}}}}}}, encoded by hand. */
static const uint8_t metrics_one_point[] = {
    0x0a, 0x14,                   /* resource_metrics */
    0x12, 0x12,                   /*  scope_metrics */
    0x12, 0x10,                   /*   metrics */
    0x0a, 0x01, 'm',              /*    name */
    0x2a, 0x0b,                   /*    gauge */
    0x0a, 0x09,                   /*     data_points */
    0x21, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, /* as_double 1.0 */
};

static int send_frame(int fd, uint8_t type, const uint8_t *p, size_t n, uint64_t seq) {
  uint8_t hdr[CS_FRAME_HDR_LEN];
  cs_frame_write_header(hdr, type, 0, (uint32_t)n, seq);
  return send_all(fd, hdr, sizeof hdr) || send_all(fd, p, n);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void standalone_acks_metrics_frames_as_rejected(void) {
  char dir[256], data[300], log[300];
  CHECK_EQ(tmpdir_make(dir, sizeof dir), 0);
  snprintf(data, sizeof data, "%s/data", dir);
  snprintf(log, sizeof log, "%s/log", dir);
  daemon_t d;
  const char *extra[] = {"--no-otlp-http", "--no-zipkin", NULL};
  CHECK_EQ(daemon_start(&d, g_bin, data, log, extra), 0);
  int fd = tcp_connect(d.tcp_port);
  CHECK(fd >= 0);
  CHECK_EQ(send_frame(fd, CS_FRAME_METRICS, metrics_one_point, sizeof metrics_one_point, 7), 0);
  uint64_t seq = 0;
  cs_ack ack = {9, 9};
  CHECK_EQ(read_ack(fd, 5000, &seq, &ack), 0);
  CHECK_EQ(seq, 7);
  CHECK_EQ(ack.accepted, 0);
  CHECK_EQ(ack.rejected, 1);
  close(fd);
  CHECK_EQ(daemon_stop(&d), 0);
  CHECK_EQ(daemon_log_count(&d, "no metrics sink in this process"), 2); /* startup + frame */
  tmpdir_remove(dir);
}

static void retention_rejects_old_and_future_spans_in_the_ack(void) {
  char dir[256], data[300], log[300];
  CHECK_EQ(tmpdir_make(dir, sizeof dir), 0);
  snprintf(data, sizeof data, "%s/data", dir);
  snprintf(log, sizeof log, "%s/log", dir);
  daemon_t d;
  const char *extra[] = {"--no-otlp-http", "--no-zipkin", "--retention", "1h", NULL};
  CHECK_EQ(daemon_start(&d, g_bin, data, log, extra), 0);
  cs_resource res = {.service = CS_STR_LIT("native")};
  cs_span s[3];
  memset(s, 0, sizeof s);
  uint64_t now = now_ns(), hour = 3600ull * 1000000000ull;
  uint64_t ends[3] = {now - 2 * hour, now, now + 2 * hour}; /* expired, fresh, future */
  for (int i = 0; i < 3; i++) {
    for (int k = 0; k < 16; k++) s[i].trace_id[k] = (uint8_t)(k + 1);
    s[i].span_id[7] = (uint8_t)(i + 1);
    s[i].name = CS_STR_LIT("op");
    s[i].end_ns = ends[i];
    s[i].start_ns = ends[i] - 1000;
    s[i].resource = &res;
  }
  uint8_t body[4096];
  size_t len = 0;
  CHECK_EQ(cs_otlp_encode_traces(s, 3, body, sizeof body, &len), 0);
  int fd = tcp_connect(d.tcp_port);
  CHECK(fd >= 0);
  CHECK_EQ(send_frame(fd, CS_FRAME_TRACES, body, len, 1), 0);
  uint64_t seq = 0;
  cs_ack ack = {9, 9};
  CHECK_EQ(read_ack(fd, 5000, &seq, &ack), 0);
  CHECK_EQ(ack.accepted, 1);
  CHECK_EQ(ack.rejected, 2);
  close(fd);
  CHECK_EQ(daemon_stop(&d), 0);
  CHECK(daemon_log_count(&d, "expired=1") >= 1);
  tmpdir_remove(dir);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s /path/to/callscope-collector\n", argv[0]);
    return 2;
  }
  g_bin = argv[1];
  RUN(standalone_acks_metrics_frames_as_rejected);
  RUN(retention_rejects_old_and_future_spans_in_the_ack);
  return CHECK_DONE();
}
