/* ingest_metrics: registration of kujo-ingest's metrics. */
#include "ingest_metrics.h"

#include <stdio.h>

#include "kj_rc.h"

/* Registered up front so that dashboards see zeros, not gaps. */
static const unsigned s_statuses[] = {200, 202, 400, 401, 403, 404, 405,
                                      409, 413, 415, 429, 500, 501, 503};

static kj_counter_t *
s_status_counter(kj_metrics_t *registry, unsigned status)
{
    char labels[32];
    snprintf(labels, sizeof labels, "code=\"%u\"", status);
    return kj_metrics_counter(registry, "http_requests_total",
                              "API answers by HTTP status", labels);
}

/* envelopes_failed_total{reason}: the reason is a kj_rc name, as in the
 * other stages. */
static kj_counter_t *
s_failed_counter(kj_metrics_t *registry, kj_rc_t why)
{
    char labels[64];
    snprintf(labels, sizeof labels, "reason=\"%s\"", kj_rc_name(why));
    return kj_metrics_counter(registry, "envelopes_failed_total",
                              "Complaints not taken in, by reason", labels);
}

void
ingest_metrics_init(ingest_metrics_t *m, kj_metrics_t *registry)
{
    *m = (ingest_metrics_t){.registry = registry};
    m->in = kj_metrics_counter(registry, "envelopes_in_total",
                               "Complaints accepted for ingest", NULL);
    m->out = kj_metrics_counter(registry, "envelopes_out_total",
                                "Envelopes pushed to the classifier", NULL);
    m->failed_invalid = s_failed_counter(registry, KJ_ERR_INVALID);
    m->failed_redis = s_failed_counter(registry, KJ_ERR_REDIS);
    m->rate_limited = s_failed_counter(registry, KJ_ERR_RATE_LIMITED);
    m->redis_errors = kj_metrics_counter(registry, "redis_errors_total",
                                         "Failed Redis calls", NULL);
    m->zmq_errors = kj_metrics_counter(registry, "zmq_errors_total",
                                       "Failed ZeroMQ sends", NULL);
    m->slow_headers = kj_metrics_counter(
        registry, "http_slow_clients_cut_total",
        "Connections cut past KUJO_HTTP_HEADER_TIMEOUT_MS or "
        "KUJO_HTTP_BODY_TIMEOUT_MS",
        "phase=\"headers\"");
    m->slow_body = kj_metrics_counter(
        registry, "http_slow_clients_cut_total",
        "Connections cut past KUJO_HTTP_HEADER_TIMEOUT_MS or "
        "KUJO_HTTP_BODY_TIMEOUT_MS",
        "phase=\"body\"");
    m->idle_cut = kj_metrics_counter(
        registry, "http_idle_connections_cut_total",
        "Kept-alive connections silent past KUJO_HTTP_HEADER_TIMEOUT_MS", NULL);
    m->bodies_cut = kj_metrics_counter(
        registry, "http_bodies_cut_total",
        "Uploads closed unanswered, far past KUJO_MAX_BODY", NULL);
    m->latency =
        kj_metrics_histogram(registry, "stage_latency_seconds",
                             "From a complete request to its answer", NULL,
                             kj_latency_buckets, kj_latency_buckets_len);
    m->queue_depth = kj_metrics_gauge(
        registry, "queue_depth", "Records waiting in state received", NULL);
    m->peers = kj_metrics_gauge(registry, "downstream_peers",
                                "Classifier copies connected", NULL);
    m->batch_accepted = kj_metrics_counter(
        registry, "batch_lines_total",
        "Lines of POST /v1/complaints:batch by result", "result=\"accepted\"");
    m->batch_refused = kj_metrics_counter(
        registry, "batch_lines_total",
        "Lines of POST /v1/complaints:batch by result", "result=\"refused\"");
    for (size_t i = 0; i < sizeof s_statuses / sizeof s_statuses[0]; i++) {
        m->status[i] = s_statuses[i];
        m->requests[i] = s_status_counter(registry, s_statuses[i]);
    }
}

void
ingest_metrics_answer(ingest_metrics_t *m, unsigned status)
{
    size_t i = 0;
    for (; i < INGEST_STATUS_MAX && m->requests[i]; i++)
        if (m->status[i] == status) {
            kj_counter_inc(m->requests[i]);
            return;
        }
    /* A status not seen before: register it while there is room; the
     * statuses come from our own code, so the set stays small. */
    if (i < INGEST_STATUS_MAX) {
        m->status[i] = status;
        m->requests[i] = s_status_counter(m->registry, status);
        kj_counter_inc(m->requests[i]);
    }
}
