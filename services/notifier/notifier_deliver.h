/* notifier_deliver: the notifier stage's work. For each routed envelope it
 * picks the endpoint from its own configuration only (the team's webhook
 * from its rules, else KUJO_WEBHOOK_URL; never a URL in the message),
 * builds and signs the team alert (the kujo JSON, or Block Kit when the
 * endpoint's format is "slack": kj_rules_webhook_format), starts the POST and
 * returns PENDING; when the answer comes it records the delivery in the
 * envelope and completes it: delivered, retried with backoff (the store
 * turns the last retry into dead), or dead when retrying cannot help.
 *
 * Every endpoint has a circuit breaker (notifier_circuit.h). While it is
 * open, deliveries due for that endpoint are deferred to when it
 * half-opens: rescheduled in Redis without spending an attempt, so an
 * outage cannot dead-letter the backlog. Requests actually sent always
 * count, the half-open trial included, so an endpoint that fails for
 * good still dead-letters each complaint after KUJO_MAX_ATTEMPTS real
 * tries, one trial per open period.
 *
 * In-flight requests are bounded by max_inflight slots (default four
 * batches, see notifier_opts_t). When every slot is busy, further envelopes
 * are deferred a second (no attempt spent: nothing was sent). */
#ifndef NOTIFIER_DELIVER_H
#define NOTIFIER_DELIVER_H

#include <stddef.h>
#include <stdint.h>

#include "kj_redis.h"
#include "kj_rules.h"
#include "kj_stage.h"
#include "kj_outbox.h"
#include "notifier_smtp.h"

typedef struct {
    const char *webhook_url;    /* default endpoint; NULL: teams must name */
    const char *webhook_secret; /* HMAC key; NULL or "": unsigned */
    /* KUJO_CASE_URL: Slack bodies link to the case here ("{case_id}"
     * replaced); NULL or "": no button (notifier_slack.h). */
    const char *case_url;
    int64_t http_timeout_ms;     /* per request, end to end */
    int64_t retry_base_ms;       /* backoff base */
    int64_t retry_cap_ms;        /* backoff cap */
    size_t max_inflight;         /* slots; 0: 4 x batch_max, at least 256 */
    int64_t batch_max;           /* the stage's batch, to size the slots */
    int64_t circuit_failures;    /* failures that open a circuit; 0: off */
    int64_t circuit_open_ms;     /* first open period */
    int64_t circuit_open_max_ms; /* cap of the doubling open period */
    int64_t endpoint_inflight;   /* requests in flight per endpoint; 0: any */
    /* Team webhooks: borrowed for the notifier's life (kj_service's
     * rules; rules_changed adopts the next ones). NULL: only webhook_url. */
    const kj_rules_t *rules;
    /* The outbox (notifier_outbox.h): the loop's Redis connection, or
     * NULL: no outbox (tests that only call process). */
    kj_redis_t *redis;
    const char *prefix;     /* key prefix ("kj") */
    int64_t lease_ms;       /* a claimed job is ours this long */
    int64_t max_attempts;   /* claims before a job is dead */
    int64_t outbox_poll_ms; /* how often due jobs are claimed */
    size_t outbox_inflight; /* the outbox's slots; 0: 64 */
    /* Customer mail (KUJO_SMTP_*), NULL: none (notifier_outbox.h). */
    const notifier_smtp_opts_t *smtp;
    /* KUJO_NOTICE_RATE (notifier_outbox_opts_t). */
    const kj_outbox_rate_t *notice_rates;
    size_t n_notice_rates;
} notifier_opts_t;

typedef struct notifier notifier_t;

/* The delivery side of the stage. stage is borrowed (completions and
 * metrics go to it); it may be NULL in tests that only call process.
 * The endpoints of webhook_url and of every route in rules get their
 * circuit series at once. NULL if curl cannot start or the circuit
 * options are out of range. */
notifier_t *
notifier_new(kj_stage_t *stage, const notifier_opts_t *opts);

void
notifier_destroy(notifier_t **self_p);

/* The kj_stage_process_fn: start a delivery and return PENDING, DEFER
 * while the endpoint's circuit is open or every slot is busy, or DEAD
 * when there is no usable endpoint. ctx is the notifier_t. */
kj_verdict_t
notifier_process(void *ctx, kj_envelope_t *env, int64_t now_ms, char *err,
                 size_t err_size, int64_t *retry_at_ms);

/* The hooks that let the stage's loop drive curl (ctx: the notifier_t). */
const kj_stage_hooks_t *
notifier_hooks(void);

/* Requests in flight. */
size_t
notifier_inflight(const notifier_t *self);

/* The endpoint of env's alert: the webhook of its team in the rules (or
 * of the route named by assignment.rule when the team is not there), else
 * the default webhook_url; NULL if neither. Borrowed. */
const char *
notifier_endpoint(const notifier_t *self, const kj_envelope_t *env);

/* Know the endpoints of every route in rules (series at 0). */
void
notifier_track_rules(notifier_t *self, const kj_rules_t *rules);

#endif
