/* ingest_api: the public HTTP API of docs/ARCHITECTURE.md on libmicrohttpd
 * in external-polling epoll mode, driven by the loop (ingest_loop).
 *
 *   POST /v1/complaints              validate -> batch -> 202 / 200 / 503
 *   POST /v1/complaints:batch        NDJSON: a result line per line
 *   GET  /v1/complaints/{id}         the record as JSON
 *   POST /v1/complaints/{id}/replay  put a dead record back
 *   POST /v1/inbound/{adapter}       signed webhooks (ingest_inbound)
 *   GET  /v1/inbound/meta            Meta's subscription handshake
 *   POST /v1/feedback                a survey answer (ingest_feedback)
 *
 * An accepted complaint's connection is suspended while its batch is
 * written to Redis; the batch is flushed after every MHD_run, so at low
 * load batches hold one request and cost no latency. */
#ifndef INGEST_API_H
#define INGEST_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest_auth.h"
#include "ingest_cases.h"
#include "ingest_feedback.h"
#include "ingest_inbound.h"
#include "ingest_metrics.h"
#include "kj_cases.h"
#include "kj_mq.h"
#include "kj_outbox.h"
#include "kj_ratelimit.h"
#include "kj_store.h"

typedef struct {
    const char *http_addr;     /* "127.0.0.1:8080"; port 0 picks one */
    int64_t max_body;          /* bytes of a request body, more is 413 */
    int64_t max_batch_body;    /* bytes of an NDJSON batch body, more 413 */
    size_t batch_max;          /* complaints written per Redis pipeline */
    unsigned conn_limit;       /* open connections at most */
    unsigned conn_timeout_s;   /* idle connections are closed after this */
    int64_t header_timeout_ms; /* open to headers in, at most (slowloris) */
    int64_t body_timeout_ms;   /* headers in to answered, at most */
    /* Connections from one IP address at most (0: no limit); more are
     * closed at accept. Behind a proxy every client has its address. */
    unsigned per_ip_limit;
    kj_ratelimit_t *limiter; /* per key and tenant (borrowed); NULL: none */
    ingest_cases_t *cases;   /* case endpoints (borrowed); NULL: none */
    /* Outbox deliveries shown with each complaint (borrowed); NULL:
     * only the team alert's. */
    kj_outbox_t *outbox;
    ingest_auth_t *auth; /* API keys (borrowed); NULL: open mode, the
                          * tenant is the body's */
    /* Signed webhooks /v1/inbound/{adapter} (borrowed); NULL: none. */
    ingest_inbound_t *inbound;
    /* POST /v1/feedback (issue 13): the survey token secret (NULL or "":
     * the path answers 404), the cases its answers are recorded in
     * (borrowed) and a token's life (how long its used mark is kept). */
    const char *survey_secret;
    kj_cases_t *survey_cases;
    int64_t survey_ttl_s;
} ingest_api_opts_t;

typedef struct ingest_api ingest_api_t;

/* Listen and serve. store, push and metrics are borrowed and must outlive
 * the API. NULL with a logged error if the address cannot be bound. */
ingest_api_t *
ingest_api_new(const ingest_api_opts_t *opts, kj_store_t *store,
               kj_push_t *push, ingest_metrics_t *metrics);

/* Stop the server (open connections are closed) and free. Safe on NULL. */
void
ingest_api_destroy(ingest_api_t **self_p);

/* The port actually listened on. */
int
ingest_api_port(const ingest_api_t *self);

/* The descriptor to poll for input (libmicrohttpd's epoll fd). */
int
ingest_api_fd(const ingest_api_t *self);

/* How long the loop may sleep before ingest_api_run is due, in ms; -1 if
 * libmicrohttpd has no timer running; 0 if work is pending. */
long
ingest_api_timeout_ms(ingest_api_t *self);

/* Serve what is ready: run libmicrohttpd, then write the batch of accepted
 * complaints to Redis, answer them and push them on. */
void
ingest_api_run(ingest_api_t *self);

/* Cut (shutdown) the connections past their header or body deadline at
 * now_ms (kj_mono_ms), count them and log it, rate-limited. */
void
ingest_api_sweep(ingest_api_t *self, int64_t now_ms);

/* Stop accepting connections (drain); requests in progress go on. */
void
ingest_api_quiesce(ingest_api_t *self);

/* True when no request is in progress and nothing waits in the batch. */
bool
ingest_api_idle(const ingest_api_t *self);

#endif
