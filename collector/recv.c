/* The receivers for existing clients as one unit of the collector's
 * lifecycle: OTLP/HTTP (4318), Zipkin v2 (9411) and StatsD (8125) start
 * after the writer and stop before it, so every HTTP request in flight is
 * answered only once its data is durable. */
#include <stdlib.h>

#include "log.h"
#include "recv_http.h"
#include "recv_int.h"

/* Resolves a configured port: explicit (>= 0), off (-1) or the standard
 * port tried softly (CS_PORT_SOFT). */
static int want_port(int cfg, int standard, int *soft) {
  *soft = cfg == CS_PORT_SOFT;
  return *soft ? standard : cfg;
}

static int start_http(cs_collector *c, const char *name, int cfg, int standard, cs_rh_handler h,
                      cs_rh_server **srv, int *bound) {
  if (cfg == -1) return 0;
  int soft;
  int port = want_port(cfg, standard, &soft);
  int rc = __cs_rh_start(c, name, port, h, srv, bound);
  if (rc == 0) return 0;
  cs_log(soft ? CS_LOG_WARN : CS_LOG_ERROR, "collector", "cannot listen %s %s:%d: %s%s", name,
         c->listen_addr, port, uv_strerror(rc), soft ? " (receiver off)" : "");
  return soft ? 0 : rc;
}

int __cs_recv_start(cs_collector *c) {
  c->recv = calloc(1, sizeof *c->recv);
  if (!c->recv) return UV_ENOMEM;
  cs_recv *r = c->recv;
  atomic_store(&r->warn_left, 20);
  pthread_mutex_init(&r->slot_mu, NULL);
  pthread_cond_init(&r->slot_cv, NULL);
  /* The standalone collector has nowhere to put metrics (they live in the
   * all-in-one's in-memory registry): say so once instead of taking data
   * that would vanish. */
  if (!c->metrics_sink)
    cs_log(CS_LOG_WARN, "collector",
           "no metrics sink in this process: OTLP /v1/metrics answers 501, StatsD is off and "
           "native metrics frames are acknowledged as rejected (metrics need the all-in-one "
           "callscope)");
  int rc = start_http(c, "otlp-http", c->o.otlp_http_port, CS_PORT_OTLP_HTTP, __cs_otlp_http_handle,
                      &r->otlp, &r->otlp_port);
  if (!rc)
    rc = start_http(c, "zipkin", c->o.zipkin_port, CS_PORT_ZIPKIN, __cs_zipkin_handle, &r->zipkin,
                    &r->zipkin_port);
  if (!rc && c->o.statsd_port != -1 && c->metrics_sink) {
    int soft;
    int port = want_port(c->o.statsd_port, CS_PORT_STATSD, &soft);
    rc = __cs_statsd_start(c, port, &r->statsd_port);
    if (rc) {
      cs_log(soft ? CS_LOG_WARN : CS_LOG_ERROR, "collector", "cannot listen statsd %s:%d: %s%s",
             c->listen_addr, port, uv_strerror(rc), soft ? " (receiver off)" : "");
      r->statsd_port = 0;
      if (soft) rc = 0;
    }
  }
  return rc;
}

void __cs_recv_stop(cs_collector *c) {
  cs_recv *r = c->recv;
  if (!r || atomic_exchange(&r->stopping, 1)) return;
  /* New requests get 503 from here on; __cs_rh_stop waits for those in
   * flight, which the still-running writer completes. */
  __cs_rh_stop(r->otlp);
  __cs_rh_stop(r->zipkin);
  r->otlp = r->zipkin = NULL;
  __cs_statsd_stop(c);
}

void __cs_recv_free(cs_collector *c) {
  if (!c->recv) return;
  __cs_rh_stop(c->recv->otlp);
  __cs_rh_stop(c->recv->zipkin);
  __cs_statsd_free(c);
  pthread_mutex_destroy(&c->recv->slot_mu);
  pthread_cond_destroy(&c->recv->slot_cv);
  free(c->recv);
  c->recv = NULL;
}

void cs_collector_recv_ports(const cs_collector *c, int *otlp_http, int *zipkin, int *statsd) {
  const cs_recv *r = c->recv;
  if (otlp_http) *otlp_http = r ? r->otlp_port : 0;
  if (zipkin) *zipkin = r ? r->zipkin_port : 0;
  if (statsd) *statsd = r ? r->statsd_port : 0;
}

void __cs_recv_log_stats(cs_collector *c, const cs_collector_stats *s) {
  const cs_recv *r = c->recv;
  if (!r || (!r->otlp_port && !r->zipkin_port && !r->statsd_port)) return;
#define U(x) (unsigned long long)s->x
  cs_log(CS_LOG_INFO, "collector",
         "stats otlp-http requests=%llu spans=%llu rejected=%llu refused=%llu points=%llu "
         "400=%llu 413=%llu unsupported=%llu throttled=%llu timeouts=%llu; zipkin requests=%llu "
         "spans=%llu rejected=%llu refused=%llu 400=%llu 413=%llu unsupported=%llu "
         "throttled=%llu timeouts=%llu; statsd datagrams=%llu lines=%llu bad=%llu points=%llu "
         "dropped=%llu",
         U(otlp_http_requests), U(otlp_http_spans), U(otlp_http_spans_rejected),
         U(otlp_http_spans_refused), U(otlp_http_metric_points), U(otlp_http_bad_requests),
         U(otlp_http_too_large), U(otlp_http_unsupported), U(otlp_http_throttled),
         U(otlp_http_timeouts), U(zipkin_requests), U(zipkin_spans), U(zipkin_spans_rejected),
         U(zipkin_spans_refused), U(zipkin_bad_requests), U(zipkin_too_large),
         U(zipkin_unsupported), U(zipkin_throttled), U(zipkin_timeouts), U(statsd_datagrams),
         U(statsd_lines), U(statsd_bad_lines), U(statsd_points), U(statsd_dropped));
#undef U
}
