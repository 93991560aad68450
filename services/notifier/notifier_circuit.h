/* notifier_circuit: one circuit breaker per webhook endpoint
 * (scheme://host:port), the classic three states:
 *
 *   closed    requests go out; `failures` consecutive failed requests
 *             (connect error, timeout, 5xx, 429) open it. An answer that
 *             only rejects the message (other 4xx, 3xx) proves the
 *             endpoint is up and resets the count.
 *   open      no request goes out until open_until; callers reschedule
 *             their work for then, without spending an attempt.
 *   half-open at open_until one trial request goes out; the others wait
 *             a short while. Trial success closes the circuit; trial
 *             failure opens it again for twice as long, up to open_max_ms.
 *
 * State lives in this process only: each notifier copy keeps its own
 * breakers (like Envoy's outlier detection), so with N copies up to N
 * trials reach a dead endpoint per open period.
 *
 * Metrics (labels bounded): kujo_webhook_circuit_open{endpoint} is 1 while
 * open or half-open and 0 when closed; kujo_webhook_circuit_opened_total
 * {endpoint} counts closed -> open transitions (outages, not failed
 * trials). The first NOTIFIER_CIRCUIT_SERIES endpoints get their own
 * series; later ones share endpoint="other", whose gauge counts how many
 * of them are open. Time is wall-clock ms, passed in. */
#ifndef NOTIFIER_CIRCUIT_H
#define NOTIFIER_CIRCUIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kj_metrics.h"

/* Endpoints with a series of their own; the rest are endpoint="other". */
#define NOTIFIER_CIRCUIT_SERIES 64
/* Endpoints with a breaker at all; beyond this requests simply go out. */
#define NOTIFIER_CIRCUIT_MAX 1024
/* "https://" + a host of up to 255 bytes + ":65535". */
#define NOTIFIER_ENDPOINT_MAX 280

typedef struct notifier_circuit notifier_circuit_t;

typedef struct {
    int64_t failures;         /* consecutive failures that open; 0: never */
    int64_t open_ms;          /* the first open period */
    int64_t open_max_ms;      /* cap when failed trials double it */
    int64_t trial_timeout_ms; /* a trial unanswered this long has failed */
    int64_t max_inflight;     /* requests in flight per endpoint; 0: any */
} notifier_circuit_opts_t;

typedef enum {
    NOTIFIER_CIRCUIT_CLOSED,
    NOTIFIER_CIRCUIT_OPEN,
    NOTIFIER_CIRCUIT_HALF_OPEN,
} notifier_circuit_state_t;

/* What a finished request says about its endpoint. */
typedef enum {
    NOTIFIER_OUTCOME_UP,   /* it answered: 2xx, 3xx, 4xx other than 429 */
    NOTIFIER_OUTCOME_DOWN, /* no answer, timeout, 5xx or 429 */
    NOTIFIER_OUTCOME_NONE, /* nothing (not sent, or a URL curl refused) */
} notifier_outcome_t;

/* Breakers with opts (failures >= 0; open_ms > 0; open_max_ms >=
 * open_ms). metrics may be NULL (tests). NULL on bad opts. */
notifier_circuit_t *
notifier_circuit_new(const notifier_circuit_opts_t *opts, kj_metrics_t *metrics,
                     uint64_t seed);

void
notifier_circuit_destroy(notifier_circuit_t **self_p);

/* The breaker key of a web URL: lowercase scheme and host, explicit port
 * ("http://hooks.example:80"), no user, path or query. 0, or -1 if url
 * is not http(s) or the key does not fit in size. */
int
notifier_circuit_endpoint(const char *url, char *out, size_t size);

/* Know url's endpoint from the start, so its series exist at 0 before
 * the first delivery (configured endpoints). Returns 0, or -1 if url is
 * not a web URL or the table is full. */
int
notifier_circuit_track(notifier_circuit_t *self, const char *url);

/* May a request to url go out at now_ms? true: yes; if *trial, it is the
 * half-open trial, and id (the complaint) names it in the report. false:
 * the circuit is open; come back at *retry_at_ms. */
bool
notifier_circuit_allow(notifier_circuit_t *self, const char *url,
                       const char *id, int64_t now_ms, bool *trial,
                       int64_t *retry_at_ms);

/* How the request for id to url ended. error ("HTTP 503") goes in the
 * log line when this opens the circuit. */
void
notifier_circuit_report(notifier_circuit_t *self, const char *url,
                        const char *id, notifier_outcome_t outcome,
                        const char *error, int64_t now_ms);

/* The endpoint asked for quiet until until_ms (Retry-After on a 429 or
 * 503): nothing goes to it before then, and then one trial, as after an
 * outage; an open circuit stays open at least that long. */
void
notifier_circuit_hold(notifier_circuit_t *self, const char *url,
                      int64_t until_ms, int64_t now_ms);

/* Take one of url's max_inflight places for a request about to go: false
 * when all are taken (defer it: another case's request is in flight to
 * the same endpoint that many times). Breaker or not, every request that
 * goes out holds a place until notifier_circuit_release. */
bool
notifier_circuit_acquire(notifier_circuit_t *self, const char *url);

/* Give back the place of a request that ended or never started. */
void
notifier_circuit_release(notifier_circuit_t *self, const char *url);

/* The outcome a request's result means for its endpoint. */
notifier_outcome_t
notifier_circuit_outcome(bool delivered, bool permanent, int http_status);

/* url's state (CLOSED for an endpoint never seen). */
notifier_circuit_state_t
notifier_circuit_state(const notifier_circuit_t *self, const char *url);

#endif
