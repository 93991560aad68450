/* ingest_metrics: the metrics kujo-ingest exports (names and meanings in
 * docs/ARCHITECTURE.md), registered once and shared by its modules. */
#ifndef INGEST_METRICS_H
#define INGEST_METRICS_H

#include "kj_metrics.h"

#define INGEST_STATUS_MAX 20 /* distinct HTTP statuses the API answers */

typedef struct {
    kj_metrics_t *registry;       /* borrowed; owns every metric below */
    kj_counter_t *in;             /* complaints accepted (written to Redis) */
    kj_counter_t *out;            /* envelopes pushed to a classifier */
    kj_counter_t *failed_invalid; /* bodies refused (4xx) */
    kj_counter_t *failed_redis;   /* accepted bodies Redis could not take */
    kj_counter_t *rate_limited;   /* complaints over their key's limit */
    kj_counter_t *redis_errors;   /* failed Redis calls of any kind */
    kj_counter_t *zmq_errors;     /* pushes that could not be sent */
    kj_counter_t *slow_headers;   /* connections cut: headers too slow */
    kj_counter_t *slow_body;      /* connections cut: body too slow */
    kj_counter_t *idle_cut;       /* kept alive, silent past the deadline */
    kj_counter_t *bodies_cut;     /* uploads cut unanswered, far too big */
    kj_histogram_t *latency;      /* request complete -> answer queued */
    kj_gauge_t *queue_depth;      /* records due in state received */
    kj_gauge_t *peers;            /* classifier endpoints connected */
    /* http_requests_total{code}, one counter per status seen; a small
     * array, because the API has a dozen statuses at most. */
    unsigned status[INGEST_STATUS_MAX];
    kj_counter_t *requests[INGEST_STATUS_MAX];
    /* POST /v1/complaints:batch lines answered with an id (created or a
     * repeat) and with an error (any reason). */
    kj_counter_t *batch_accepted;
    kj_counter_t *batch_refused;
} ingest_metrics_t;

/* Register every metric in registry (borrowed; kj_service already set
 * build_info in it). */
void
ingest_metrics_init(ingest_metrics_t *m, kj_metrics_t *registry);

/* Count one API answer with this HTTP status. */
void
ingest_metrics_answer(ingest_metrics_t *m, unsigned status);

#endif
