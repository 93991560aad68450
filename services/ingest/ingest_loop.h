/* ingest_loop: kujo-ingest's single-threaded event loop. It polls the
 * HTTP server's epoll fd and the signalfd, runs the server (which writes
 * each turn's batch to Redis), and once a second reconnects Redis, refreshes
 * the classifier peers from the registry, updates the queue depth and the
 * readiness. The first SIGTERM/SIGINT drains: /readyz 503, no new
 * connections, requests in progress finish (bounded by drain_ms); a second
 * signal exits at once. */
#ifndef INGEST_LOOP_H
#define INGEST_LOOP_H

#include <stdint.h>

#include "ingest_api.h"
#include "ingest_metrics.h"
#include "kj_admin.h"
#include "kj_mq.h"
#include "kj_redis.h"
#include "kj_store.h"

typedef struct {
    ingest_api_t *api;       /* everything borrowed */
    kj_redis_t *redis;
    kj_store_t *store;
    kj_push_t *push;
    kj_admin_t *admin;
    ingest_metrics_t *metrics;
    int sigfd;               /* from kj_signal_init */
    const char *prefix;      /* registry key prefix */
    int64_t drain_ms;        /* longest a drain may take */
} ingest_loop_opts_t;

/* Run until drained or told to stop. Returns the exit code: 0 after a
 * complete drain, 1 after a drain that ran out of time or a second
 * signal. */
int
ingest_loop_run(const ingest_loop_opts_t *opts);

#endif
