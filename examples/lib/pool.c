/* A fixed pool of worker threads for a handler's parallel downstream calls.
 * Fixed rather than a thread per call so each worker keeps one libtrace
 * ring for the life of the process. */
#include "exlib_int.h"

static void *worker(void *arg) {
  ex_svc *svc = arg;
  pthread_mutex_lock(&svc->mu);
  for (;;) {
    while (!svc->head && !svc->stopping) pthread_cond_wait(&svc->cv_work, &svc->mu);
    if (!svc->head) break; /* stopping and the queue is drained */
    ex_task *t = svc->head;
    svc->head = t->next;
    if (!svc->head) svc->tail = NULL;
    pthread_mutex_unlock(&svc->mu);
    t->fn(t->arg);
    pthread_mutex_lock(&svc->mu);
    t->done = 1;
    pthread_cond_broadcast(&svc->cv_done);
  }
  pthread_mutex_unlock(&svc->mu);
  return NULL;
}

int ex_pool_start(ex_svc *svc, unsigned n) {
  if (n > EX_POOL_MAX) n = EX_POOL_MAX;
  pthread_mutex_init(&svc->mu, NULL);
  pthread_cond_init(&svc->cv_work, NULL);
  pthread_cond_init(&svc->cv_done, NULL);
  for (unsigned i = 0; i < n; i++) {
    if (pthread_create(&svc->workers[i], NULL, worker, svc) != 0) break;
    svc->n_workers++;
  }
  return svc->n_workers ? 0 : -1;
}

void ex_pool_stop(ex_svc *svc) {
  pthread_mutex_lock(&svc->mu);
  svc->stopping = 1;
  pthread_cond_broadcast(&svc->cv_work);
  pthread_mutex_unlock(&svc->mu);
  for (unsigned i = 0; i < svc->n_workers; i++) pthread_join(svc->workers[i], NULL);
  svc->n_workers = 0;
  pthread_cond_destroy(&svc->cv_done);
  pthread_cond_destroy(&svc->cv_work);
  pthread_mutex_destroy(&svc->mu);
}

void ex_go(ex_svc *svc, ex_task *task) {
  task->done = 0;
  task->next = NULL;
  if (!svc || !svc->n_workers) {
    task->fn(task->arg);
    task->done = 1;
    return;
  }
  pthread_mutex_lock(&svc->mu);
  if (svc->tail) svc->tail->next = task;
  else svc->head = task;
  svc->tail = task;
  pthread_cond_signal(&svc->cv_work);
  pthread_mutex_unlock(&svc->mu);
}

void ex_wait(ex_svc *svc, ex_task *task) {
  if (!svc || !svc->n_workers) return;
  pthread_mutex_lock(&svc->mu);
  while (!task->done) pthread_cond_wait(&svc->cv_done, &svc->mu);
  pthread_mutex_unlock(&svc->mu);
}
