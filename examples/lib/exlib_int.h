/* Internals shared by the files of examples/lib: the service object and the
 * worker pool behind it. Services see only exlib.h. */
#ifndef CS_EXAMPLES_EXLIB_INT_H
#define CS_EXAMPLES_EXLIB_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "exlib.h"

#define EX_MAX_ROUTES 16
#define EX_POOL_MAX 32

/* Metric handles bound once per route, so recording is lock-free. */
typedef struct ex_route_metrics {
  cst_counter *ok, *error;
  cst_histogram *latency;
} ex_route_metrics;

struct ex_svc {
  const ex_svc_def *def;
  ex_opts opts;
  cst_tracer *tracer;
  void *user;
  unsigned extract_formats;
  atomic_uint_fast64_t n_requests; /* for fail_every / slow_every */
  ex_route_metrics rm[EX_MAX_ROUTES];
  cst_counter *client_retries, *client_timeouts;
  cst_updown *in_flight;

  /* worker pool for fan-out */
  pthread_mutex_t mu;
  pthread_cond_t cv_work, cv_done;
  ex_task *head, *tail;
  pthread_t workers[EX_POOL_MAX];
  unsigned n_workers;
  int stopping;
};

int ex_pool_start(ex_svc *svc, unsigned n);
void ex_pool_stop(ex_svc *svc);

#endif
