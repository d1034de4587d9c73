/* See fake_collector.h. Decoding goes through protobuf-c, independently of
 * libtrace's hand-written encoder, so the tests check real wire output. */
#include "fake_collector.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "wire.h"

#define MAXC 16

static void copy_str(char *dst, size_t n, const char *src) {
  snprintf(dst, n, "%s", src ? src : "");
}

static void attr_of(fc_attr *a, const Opentelemetry__Proto__Common__V1__KeyValue *kv) {
  memset(a, 0, sizeof *a);
  copy_str(a->key, sizeof a->key, kv->key);
  if (!kv->value)
    return;
  a->type = (int)kv->value->value_case;
  switch (kv->value->value_case) {
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
    copy_str(a->s, sizeof a->s, kv->value->string_value);
    break;
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
    a->i = kv->value->bool_value;
    break;
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
    a->i = kv->value->int_value;
    break;
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
    a->d = kv->value->double_value;
    break;
  default: break;
  }
}

static uint32_t take_traces(fake_collector *fc, const uint8_t *p, size_t n) {
  Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req =
      opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(NULL, n, p);
  if (!req)
    return 0;
  uint32_t count = 0;
  pthread_mutex_lock(&fc->mu);
  for (size_t r = 0; r < req->n_resource_spans; r++) {
    const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[r];
    char service[64] = "";
    for (size_t i = 0; rs->resource && i < rs->resource->n_attributes; i++)
      if (strcmp(rs->resource->attributes[i]->key, "service.name") == 0 &&
          rs->resource->attributes[i]->value)
        copy_str(service, sizeof service, rs->resource->attributes[i]->value->string_value);
    for (size_t s = 0; s < rs->n_scope_spans; s++) {
      for (size_t k = 0; k < rs->scope_spans[s]->n_spans; k++) {
        const Opentelemetry__Proto__Trace__V1__Span *sp = rs->scope_spans[s]->spans[k];
        if (fc->n_spans == fc->cap) {
          size_t cap = fc->cap ? fc->cap * 2 : 256;
          fc_span *ns = realloc(fc->spans, cap * sizeof *ns);
          if (!ns)
            continue;
          fc->spans = ns;
          fc->cap = cap;
        }
        fc_span *o = &fc->spans[fc->n_spans++];
        memset(o, 0, sizeof *o);
        if (sp->trace_id.len == 16)
          memcpy(o->trace_id, sp->trace_id.data, 16);
        if (sp->span_id.len == 8)
          memcpy(o->span_id, sp->span_id.data, 8);
        if (sp->parent_span_id.len == 8) {
          memcpy(o->parent, sp->parent_span_id.data, 8);
          o->has_parent = 1;
        }
        copy_str(o->name, sizeof o->name, sp->name);
        copy_str(o->tracestate, sizeof o->tracestate, sp->trace_state);
        copy_str(o->service, sizeof o->service, service);
        o->kind = (int)sp->kind;
        o->start = sp->start_time_unix_nano;
        o->end = sp->end_time_unix_nano;
        o->flags = sp->flags;
        o->dropped_attrs = sp->dropped_attributes_count;
        o->dropped_events = sp->dropped_events_count;
        o->dropped_links = sp->dropped_links_count;
        o->n_all_attrs = (int)sp->n_attributes;
        for (size_t a = 0; a < sp->n_attributes && o->n_attrs < 24; a++)
          attr_of(&o->attrs[o->n_attrs++], sp->attributes[a]);
        if (sp->status) {
          o->status = (int)sp->status->code;
          copy_str(o->status_msg, sizeof o->status_msg, sp->status->message);
        }
        o->n_events = (int)sp->n_events;
        if (sp->n_events) {
          copy_str(o->event0, sizeof o->event0, sp->events[0]->name);
          o->event0_attrs = (int)sp->events[0]->n_attributes;
        }
        o->n_links = (int)sp->n_links;
        if (sp->n_links) {
          if (sp->links[0]->trace_id.len == 16)
            memcpy(o->link0_trace, sp->links[0]->trace_id.data, 16);
          if (sp->links[0]->span_id.len == 8)
            memcpy(o->link0_span, sp->links[0]->span_id.data, 8);
          o->link0_flags = sp->links[0]->flags;
        }
        count++;
      }
    }
  }
  fc->trace_frames++;
  pthread_mutex_unlock(&fc->mu);
  opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req,
                                                                                          NULL);
  return count;
}

static void labels_of(char *out, size_t n, Opentelemetry__Proto__Common__V1__KeyValue **kv,
                      size_t nkv) {
  size_t o = 0;
  out[0] = 0;
  for (size_t i = 0; i < nkv && o < n; i++) {
    int w = snprintf(out + o, n - o, "%s%s=%s", i ? "," : "", kv[i]->key,
                     kv[i]->value ? kv[i]->value->string_value : "");
    if (w < 0)
      break;
    o += (size_t)w;
  }
}

static uint32_t take_metrics(fake_collector *fc, const uint8_t *p, size_t n) {
  Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest *req =
      opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(NULL, n,
                                                                                           p);
  if (!req)
    return 0;
  uint32_t count = 0;
  pthread_mutex_lock(&fc->mu);
  for (size_t r = 0; r < req->n_resource_metrics; r++)
    for (size_t s = 0; s < req->resource_metrics[r]->n_scope_metrics; s++) {
      Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm =
          req->resource_metrics[r]->scope_metrics[s];
      for (size_t k = 0; k < sm->n_metrics; k++) {
        const Opentelemetry__Proto__Metrics__V1__Metric *m = sm->metrics[k];
        fc_metric x;
        memset(&x, 0, sizeof x);
        copy_str(x.name, sizeof x.name, m->name);
        x.kind = (int)m->data_case;
        if (m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM &&
            m->sum->n_data_points) {
          const Opentelemetry__Proto__Metrics__V1__NumberDataPoint *dp = m->sum->data_points[0];
          labels_of(x.labels, sizeof x.labels, dp->attributes, dp->n_attributes);
          x.monotonic = m->sum->is_monotonic;
          x.temporality = (int)m->sum->aggregation_temporality;
          x.ival = dp->as_int;
          x.dval = dp->as_double;
        } else if (m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE &&
                   m->gauge->n_data_points) {
          const Opentelemetry__Proto__Metrics__V1__NumberDataPoint *dp = m->gauge->data_points[0];
          labels_of(x.labels, sizeof x.labels, dp->attributes, dp->n_attributes);
          x.dval = dp->as_double;
        } else if (m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM &&
                   m->histogram->n_data_points) {
          const Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *dp =
              m->histogram->data_points[0];
          labels_of(x.labels, sizeof x.labels, dp->attributes, dp->n_attributes);
          x.temporality = (int)m->histogram->aggregation_temporality;
          x.count = dp->count;
          x.sum = dp->sum;
          x.min = dp->min;
          x.max = dp->max;
          x.nb = dp->n_bucket_counts < 70 ? dp->n_bucket_counts : 70;
          for (size_t i = 0; i < x.nb; i++)
            x.buckets[i] = dp->bucket_counts[i];
          for (size_t i = 0; i < dp->n_explicit_bounds && i < 70; i++)
            x.bounds[i] = dp->explicit_bounds[i];
        }
        size_t i = 0;
        while (i < fc->n_metrics && !(strcmp(fc->metrics[i].name, x.name) == 0 &&
                                      strcmp(fc->metrics[i].labels, x.labels) == 0))
          i++;
        if (i < 64) {
          fc->metrics[i] = x;
          if (i == fc->n_metrics)
            fc->n_metrics++;
        }
        count++;
      }
    }
  fc->metric_frames++;
  pthread_mutex_unlock(&fc->mu);
  opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(req,
                                                                                              NULL);
  return count;
}

static uint32_t take_frame(fake_collector *fc, const cs_frame_hdr *h, const uint8_t *payload) {
  pthread_mutex_lock(&fc->mu);
  fc->frames++;
  if (h->len + CS_FRAME_HDR_LEN > fc->max_frame)
    fc->max_frame = h->len + CS_FRAME_HDR_LEN;
  pthread_mutex_unlock(&fc->mu);
  if (h->type == CS_FRAME_TRACES)
    return take_traces(fc, payload, h->len);
  if (h->type == CS_FRAME_METRICS)
    return take_metrics(fc, payload, h->len);
  return 0;
}

typedef struct conn {
  int fd;
  uint8_t *buf;
  size_t len;
} conn;

static void *serve(void *arg) {
  fake_collector *fc = arg;
  conn c[MAXC];
  memset(c, 0, sizeof c);
  for (int i = 0; i < MAXC; i++)
    c[i].fd = -1;
  size_t cap = CS_FRAME_MAX_DEFAULT + CS_FRAME_HDR_LEN;
  uint8_t *dgram = malloc(65536);
  for (;;) {
    struct pollfd pf[MAXC + 2];
    int map[MAXC + 2];
    nfds_t n = 0;
    pf[n] = (struct pollfd){fc->stop_pipe[0], POLLIN, 0};
    map[n++] = -2;
    pf[n] = (struct pollfd){fc->lfd, POLLIN, 0};
    map[n++] = -1;
    for (int i = 0; i < MAXC; i++)
      if (c[i].fd >= 0) {
        pf[n] = (struct pollfd){c[i].fd, POLLIN, 0};
        map[n++] = i;
      }
    if (poll(pf, n, 1000) < 0 && errno != EINTR)
      break;
    if (pf[0].revents)
      break;
    for (nfds_t k = 1; k < n; k++) {
      if (!pf[k].revents)
        continue;
      if (map[k] == -1 && fc->udp) {
        ssize_t r = recv(fc->lfd, dgram, 65536, 0);
        cs_frame_hdr h;
        const uint8_t *pl;
        if (r > 0 &&
            cs_frame_parse_datagram(dgram, (size_t)r, CS_FRAME_MAX_UDP, &h, &pl) == CS_WIRE_OK)
          take_frame(fc, &h, pl);
        else if (r > 0)
          fc->bad_frames++;
      } else if (map[k] == -1) {
        int fd = accept(fc->lfd, NULL, NULL);
        int i = 0;
        while (i < MAXC && c[i].fd >= 0)
          i++;
        if (fd >= 0 && fc->close_on_accept) {
          pthread_mutex_lock(&fc->mu);
          fc->conns++;
          pthread_mutex_unlock(&fc->mu);
          close(fd);
        } else if (fd >= 0 && i < MAXC) {
          c[i].fd = fd;
          c[i].buf = malloc(cap);
          c[i].len = 0;
          pthread_mutex_lock(&fc->mu);
          fc->conns++;
          pthread_mutex_unlock(&fc->mu);
        } else if (fd >= 0) {
          close(fd);
        }
      } else {
        conn *cc = &c[map[k]];
        ssize_t r = recv(cc->fd, cc->buf + cc->len, cap - cc->len, 0);
        if (r <= 0) {
          close(cc->fd);
          free(cc->buf);
          cc->fd = -1;
          continue;
        }
        cc->len += (size_t)r;
        size_t off = 0;
        for (;;) {
          cs_frame_hdr h;
          int rc = cs_frame_parse_header(cc->buf + off, cc->len - off, CS_FRAME_MAX_DEFAULT, &h);
          if (rc == CS_WIRE_NEED_MORE ||
              (rc == CS_WIRE_OK && cc->len - off < CS_FRAME_HDR_LEN + h.len))
            break;
          if (rc != CS_WIRE_OK) {
            fc->bad_frames++;
            off = cc->len;
            break;
          }
          uint32_t got = take_frame(fc, &h, cc->buf + off + CS_FRAME_HDR_LEN);
          if (!fc->no_ack) {
            if (fc->delay_ack_ms)
              usleep((useconds_t)fc->delay_ack_ms * 1000);
            uint8_t ack[CS_FRAME_HDR_LEN + CS_ACK_LEN];
            cs_ack a = {got, 0};
            size_t al = cs_frame_write_ack(ack, h.seq, &a);
            if (send(cc->fd, ack, al, MSG_NOSIGNAL) < 0) { /* peer gone */
            }
          }
          off += CS_FRAME_HDR_LEN + h.len;
        }
        memmove(cc->buf, cc->buf + off, cc->len - off);
        cc->len -= off;
      }
    }
  }
  for (int i = 0; i < MAXC; i++)
    if (c[i].fd >= 0) {
      close(c[i].fd);
      free(c[i].buf);
    }
  free(dgram);
  return NULL;
}

int fc_start(fake_collector *fc, int udp, int port) {
  if (!fc->inited)
    pthread_mutex_init(&fc->mu, NULL);
  fc->inited = 1;
  fc->udp = udp;
  fc->lfd = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
  if (fc->lfd < 0)
    return -1;
  int one = 1;
  setsockopt(fc->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (udp) {
    int rb = 4 << 20;
    setsockopt(fc->lfd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof rb);
  }
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((uint16_t)port);
  if (bind(fc->lfd, (struct sockaddr *)&a, sizeof a) != 0)
    return -1;
  if (!udp && listen(fc->lfd, 16) != 0)
    return -1;
  socklen_t al = sizeof a;
  getsockname(fc->lfd, (struct sockaddr *)&a, &al);
  fc->port = ntohs(a.sin_port);
  if (pipe(fc->stop_pipe) != 0)
    return -1;
  return pthread_create(&fc->thr, NULL, serve, fc) == 0 ? 0 : -1;
}

void fc_stop(fake_collector *fc) {
  if (fc->lfd < 0)
    return;
  if (write(fc->stop_pipe[1], "x", 1) < 0)
    return;
  pthread_join(fc->thr, NULL);
  close(fc->stop_pipe[0]);
  close(fc->stop_pipe[1]);
  close(fc->lfd);
  fc->lfd = -1;
}

void fc_free(fake_collector *fc) {
  fc_stop(fc);
  free(fc->spans);
  fc->spans = NULL;
  pthread_mutex_destroy(&fc->mu);
}

size_t fc_count(fake_collector *fc) {
  pthread_mutex_lock(&fc->mu);
  size_t n = fc->n_spans;
  pthread_mutex_unlock(&fc->mu);
  return n;
}

int fc_wait(fake_collector *fc, size_t n, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 5) {
    if (fc_count(fc) >= n)
      return 1;
    usleep(5000);
  }
  return fc_count(fc) >= n;
}

int fc_find(fake_collector *fc, const char *name, fc_span *out) {
  int found = 0;
  pthread_mutex_lock(&fc->mu);
  for (size_t i = 0; i < fc->n_spans; i++)
    if (strcmp(fc->spans[i].name, name) == 0) {
      *out = fc->spans[i];
      found = 1;
    }
  pthread_mutex_unlock(&fc->mu);
  return found;
}

int fc_find_metric(fake_collector *fc, const char *name, const char *labels, fc_metric *out) {
  int found = 0;
  pthread_mutex_lock(&fc->mu);
  for (size_t i = 0; i < fc->n_metrics; i++)
    if (strcmp(fc->metrics[i].name, name) == 0 &&
        (!labels || strcmp(fc->metrics[i].labels, labels) == 0)) {
      *out = fc->metrics[i];
      found = 1;
    }
  pthread_mutex_unlock(&fc->mu);
  return found;
}

const fc_attr *fc_attr_get(const fc_span *s, const char *key) {
  for (int i = 0; i < s->n_attrs; i++)
    if (strcmp(s->attrs[i].key, key) == 0)
      return &s->attrs[i];
  return NULL;
}

char *fc_endpoint(const fake_collector *fc, char *buf, size_t n) {
  snprintf(buf, n, "%s://127.0.0.1:%d", fc->udp ? "udp" : "tcp", fc->port);
  return buf;
}
