/* ingest_loop: kujo-ingest as a driver of kj_service. The service's loop
 * polls the HTTP server's epoll fd with its signals; after each poll the
 * server runs (each turn's batch is one Redis round trip), and on each tick
 * Redis is reconnected, the classifier copies followed (kj_downstream),
 * the queue depth measured and readiness told: ready once Redis is
 * connected and at least one classifier copy is known, so a complaint
 * accepted right after /readyz says 200 is pushed at once. The first
 * SIGTERM drains: /readyz 503, no new connections, requests in progress
 * finish (bounded by drain_ms). */
#ifndef INGEST_LOOP_H
#define INGEST_LOOP_H

#include "ingest_api.h"
#include "ingest_metrics.h"
#include "kj_downstream.h"
#include "kj_service.h"
#include "kj_store.h"

typedef struct {
    kj_service_t *service; /* everything borrowed */
    ingest_api_t *api;
    kj_store_t *store;
    kj_downstream_t *down; /* the classifier copies */
    ingest_metrics_t *metrics;
} ingest_loop_t;

/* Run until drained or told to stop; returns the exit code (see
 * kj_service_run). */
int
ingest_loop_run(ingest_loop_t *loop);

#endif
