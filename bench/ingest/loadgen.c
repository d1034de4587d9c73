/* cs-loadgen: sends the benchmark workload (bench/common/workload.h) to a
 * collector as native frames, over TCP with acknowledgements or over UDP at
 * a target rate, on N connections, for a duration or a span count, and
 * prints what was sent and acknowledged. The last stdout line is
 * machine-readable key=value pairs (bench/ingest/run.sh parses it). */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "loadgen.h"
#include "wire.h"

static void usage(FILE *f) {
  fprintf(f, "usage: cs-loadgen (--tcp HOST:PORT | --udp HOST:PORT | --dry-run) [options]\n"
             "  --conns N          connections (threads), default 1\n"
             "  --duration SECS    stop after SECS seconds (default 10 unless --spans)\n"
             "  --spans N          stop after N spans in all\n"
             "  --rate N           spans/s over all connections, 0 = as fast as possible\n"
             "                     (default 0 for TCP, 100000 for UDP)\n"
             "  --batch N          spans per TCP frame, default 1000\n"
             "  --window N         unacknowledged TCP frames per connection, default 8\n"
             "  --udp-size BYTES   largest datagram, default 32768, max 65507\n"
             "  --seed N           workload seed, default 1\n"
             "  --start-ns NS      first trace start time, default now\n"
             "  --trace-gap-us N   simulated microseconds between traces, default 100\n"
             "  --drain SECS       wait this long for the last ACKs, default 30\n"
             "  --connect-timeout SECS  keep retrying to connect, default 10\n"
             "  --ack-timeout SECS reconnect and resend when an ACK is this late, default 30\n"
             "  --per-service      each frame holds one service's spans (as when every\n"
             "                     service exports its own), not whole traces\n"
             "  --progress         print a line per second on stderr\n");
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out) {
  char *end;
  errno = 0;
  if (!s || *s == '-' || *s == '\0')
    return -1;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v > max)
    return -1;
  *out = v;
  return 0;
}

static int parse_secs(const char *s, double *out) {
  char *end;
  errno = 0;
  if (!s)
    return -1;
  double v = strtod(s, &end);
  if (errno || *end || end == s || !(v >= 0) || v > 1e7)
    return -1;
  *out = v;
  return 0;
}

static int parse_addr(const char *s, lg_config *cfg) {
  const char *colon = s ? strrchr(s, ':') : NULL;
  if (!colon || colon == s || (size_t)(colon - s) >= 256)
    return -1;
  char host[256];
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = '\0';
  struct addrinfo hints = {.ai_family = AF_UNSPEC}, *res = NULL;
  if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res)
    return -1;
  memcpy(&cfg->addr, res->ai_addr, res->ai_addrlen);
  cfg->addrlen = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

static void on_signal(int sig) {
  (void)sig;
  atomic_store(&lg_stop, 1);
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec * 1e-6;
}

typedef struct totals {
  uint64_t sent, frames, bytes, acked, acked_frames, accepted, rejected, reconnects, errors, resent;
  int failed;
} totals;

static totals sum(const lg_thread *th, int n) {
  totals t = {0};
  for (int i = 0; i < n; i++) {
    const lg_stats *s = &th[i].st;
    t.sent += atomic_load(&s->sent_spans);
    t.frames += atomic_load(&s->sent_frames);
    t.bytes += atomic_load(&s->sent_bytes);
    t.acked += atomic_load(&s->acked_spans);
    t.acked_frames += atomic_load(&s->acked_frames);
    t.accepted += atomic_load(&s->accepted);
    t.rejected += atomic_load(&s->rejected);
    t.reconnects += atomic_load(&s->reconnects);
    t.errors += atomic_load(&s->send_errors);
    t.resent += atomic_load(&s->resent_frames);
    t.failed |= s->failed;
  }
  return t;
}

int main(int argc, char **argv) {
  lg_config cfg = {.conns = 1,
                   .batch = 1000,
                   .window = 8,
                   .udp_size = 32768,
                   .seed = 1,
                   .drain_s = 30,
                   .connect_s = 10,
                   .ack_timeout_s = 30};
  int rate_set = 0, progress = 0;
  uint64_t v;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    int bad = 0, takes = 1;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--tcp") || !strcmp(a, "--udp")) {
      cfg.mode = a[2] == 't' ? LG_TCP : LG_UDP;
      bad = parse_addr(val, &cfg);
    } else if (!strcmp(a, "--dry-run")) {
      cfg.mode = LG_DRY;
      takes = 0;
    } else if (!strcmp(a, "--per-service")) {
      cfg.per_service = 1;
      takes = 0;
    } else if (!strcmp(a, "--progress")) {
      progress = 1;
      takes = 0;
    } else if (!strcmp(a, "--conns")) {
      bad = parse_u64(val, 256, &v) || v == 0;
      cfg.conns = (int)v;
    } else if (!strcmp(a, "--duration")) {
      bad = parse_secs(val, &cfg.duration_s);
    } else if (!strcmp(a, "--spans")) {
      bad = parse_u64(val, UINT64_MAX / 2, &cfg.total_spans);
    } else if (!strcmp(a, "--rate")) {
      bad = parse_u64(val, 1000000000, &cfg.rate);
      rate_set = 1;
    } else if (!strcmp(a, "--batch")) {
      bad = parse_u64(val, 100000, &v) || v == 0;
      cfg.batch = (uint32_t)v;
    } else if (!strcmp(a, "--window")) {
      bad = parse_u64(val, 1024, &v) || v == 0;
      cfg.window = (uint32_t)v;
    } else if (!strcmp(a, "--udp-size")) {
      bad = parse_u64(val, 65507, &v) || v < 512;
      cfg.udp_size = (uint32_t)v;
    } else if (!strcmp(a, "--seed")) {
      bad = parse_u64(val, UINT64_MAX, &cfg.seed);
    } else if (!strcmp(a, "--start-ns")) {
      bad = parse_u64(val, UINT64_MAX, &cfg.start_ns);
    } else if (!strcmp(a, "--trace-gap-us")) {
      bad = parse_u64(val, 3600000000ull, &v);
      cfg.gap_ns = v * 1000;
    } else if (!strcmp(a, "--drain")) {
      bad = parse_secs(val, &cfg.drain_s);
    } else if (!strcmp(a, "--ack-timeout")) {
      bad = parse_secs(val, &cfg.ack_timeout_s);
    } else if (!strcmp(a, "--connect-timeout")) {
      bad = parse_secs(val, &cfg.connect_s);
    } else {
      fprintf(stderr, "loadgen: unknown option: %s\n", a);
      usage(stderr);
      return 2;
    }
    if (bad) {
      fprintf(stderr, "loadgen: bad value for %s: %s\n", a, val ? val : "(missing)");
      return 2;
    }
    i += takes;
  }
  if (!cfg.mode) {
    usage(stderr);
    return 2;
  }
  if (!rate_set && cfg.mode == LG_UDP)
    cfg.rate = 100000;
  if (!cfg.total_spans && cfg.duration_s == 0)
    cfg.duration_s = 10;
  /* A TCP batch must fit one frame; ~300 bytes per span leaves room. */
  if (cfg.mode != LG_UDP && (uint64_t)cfg.batch * 2048 > CS_FRAME_MAX_DEFAULT) {
    fprintf(stderr, "loadgen: --batch %u too large for a %u-byte frame\n", cfg.batch,
            CS_FRAME_MAX_DEFAULT);
    return 2;
  }

  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  lg_thread *th = calloc((size_t)cfg.conns, sizeof *th);
  pthread_t *tid = calloc((size_t)cfg.conns, sizeof *tid);
  char *joined = calloc((size_t)cfg.conns, 1);
  if (!th || !tid || !joined)
    return 1;
  void *(*run)(void *) = cfg.mode == LG_TCP   ? lg_run_tcp
                         : cfg.mode == LG_UDP ? lg_run_udp
                                              : lg_run_dry;
  double t0 = lg_now(), cpu0 = cpu_seconds();
  int started = 0;
  for (int i = 0; i < cfg.conns; i++) {
    th[i].cfg = &cfg;
    th[i].index = i;
    /* Quotas and rates are split evenly; the first threads take the rest. */
    th[i].quota = cfg.total_spans / (uint64_t)cfg.conns +
                  ((uint64_t)i < cfg.total_spans % (uint64_t)cfg.conns);
    th[i].rate = cfg.rate / (uint64_t)cfg.conns + ((uint64_t)i < cfg.rate % (uint64_t)cfg.conns);
    if (cfg.total_spans && th[i].quota == 0) {
      joined[i] = 1; /* nothing to send: no thread */
      continue;
    }
    if (pthread_create(&tid[i], NULL, run, &th[i]) != 0) {
      fprintf(stderr, "loadgen: cannot start thread %d\n", i);
      atomic_store(&lg_stop, 1);
      break;
    }
    started = i + 1;
  }
  for (int i = started; i < cfg.conns; i++)
    joined[i] = 1;
  /* The main thread keeps time: it raises the stop flag when the duration
   * is over and, with --progress, prints a line per second. */
  uint64_t last_sent = 0;
  double last_t = t0, stop_at = cfg.duration_s > 0 ? t0 + cfg.duration_s : 0;
  for (;;) {
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    double now = lg_now();
    if (stop_at && now >= stop_at)
      atomic_store(&lg_stop, 1);
    totals t = sum(th, started);
    int all_done = 1;
    for (int i = 0; i < started; i++) {
      if (!joined[i] && pthread_tryjoin_np(tid[i], NULL) == 0)
        joined[i] = 1;
      if (!joined[i])
        all_done = 0;
    }
    if (progress && now - last_t >= 1.0) {
      fprintf(stderr, "loadgen: %.0fs sent %llu (%.0f/s) acked %llu\n", now - t0,
              (unsigned long long)t.sent, (double)(t.sent - last_sent) / (now - last_t),
              (unsigned long long)t.acked);
      last_sent = t.sent;
      last_t = now;
    }
    if (all_done)
      break;
  }
  double secs = lg_now() - t0, cpu = cpu_seconds() - cpu0;
  totals t = sum(th, started);
  const char *mode = cfg.mode == LG_TCP ? "tcp" : cfg.mode == LG_UDP ? "udp" : "dry";
  uint64_t done = cfg.mode == LG_TCP ? t.acked : t.sent;
  printf("loadgen %s: %d conns, %.2f s: sent %llu spans in %llu frames (%.1f MB), acked %llu "
         "spans, %.0f spans/s, loadgen cpu %.2f s\n",
         mode, cfg.conns, secs, (unsigned long long)t.sent, (unsigned long long)t.frames,
         (double)t.bytes / 1e6, (unsigned long long)t.acked, secs > 0 ? (double)done / secs : 0,
         cpu);
  printf("result mode=%s conns=%d secs=%.3f sent_spans=%llu sent_frames=%llu sent_bytes=%llu "
         "acked_spans=%llu acked_frames=%llu accepted=%llu rejected=%llu reconnects=%llu "
         "send_errors=%llu resent_frames=%llu spans_per_s=%.0f cpu_s=%.3f failed=%d\n",
         mode, cfg.conns, secs, (unsigned long long)t.sent, (unsigned long long)t.frames,
         (unsigned long long)t.bytes, (unsigned long long)t.acked,
         (unsigned long long)t.acked_frames, (unsigned long long)t.accepted,
         (unsigned long long)t.rejected, (unsigned long long)t.reconnects,
         (unsigned long long)t.errors, (unsigned long long)t.resent,
         secs > 0 ? (double)done / secs : 0, cpu, t.failed);
  free(th);
  free(tid);
  free(joined);
  if (t.failed)
    return 1;
  if (cfg.mode == LG_TCP && t.acked < t.sent)
    return 3; /* some frames never acknowledged */
  return 0;
}
