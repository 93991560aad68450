/* notifier_outbox: the deliveries other stages owe (kj_outbox: customer
 * acknowledgements, survey requests, SLA warnings, escalations,
 * follow-ups). Every poll_ms the notifier's loop claims the due jobs of
 * every tenant, as many as it has free slots, and POSTs each job's payload
 * (JSON, with "kind" and "job_id" set) signed exactly like a team alert,
 * its job id as the Idempotency-Key: a job sent again after a crash or a
 * lease that ended is one delivery to a receiver that drops repeats.
 *
 * A team webhook in the "slack" format (kj_rules_webhook_format) gets the
 * job as Block Kit instead (notifier_slack_job), headers unchanged.
 *
 * Endpoints come from the notifier's configuration only, never from the
 * job: internal kinds go to the team's webhook in the rules, customer
 * kinds to the connector of the complaint's channel (rules "connectors");
 * either falls back to KUJO_WEBHOOK_URL. With SMTP configured
 * (notifier_smtp.h), a customer kind whose channel names no connector
 * goes by e-mail when the customer has an address, through the same
 * slots, retries and dead letter. Without any endpoint, the job is retried
 * later with a last_error that says so, until it is dead.
 *
 * Incident notices (incident_notice, incident_resolved) go like customer
 * acknowledgements, held to KUJO_NOTICE_RATE per channel: a job over its
 * channel's rate is deferred (no attempt spent) until the bucket has a
 * token.
 *
 * 2xx: done (recorded on the complaint). Otherwise retried with backoff up
 * to max attempts, then dead (B:outbox_dead). An open circuit defers the
 * job without spending an attempt. Requests go through a notifier_http of
 * their own, driven from the same poll loop as the team alerts. */
#ifndef NOTIFIER_OUTBOX_H
#define NOTIFIER_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "kj_metrics.h"
#include "kj_outbox.h"
#include "kj_redis.h"
#include "kj_rules.h"
#include "notifier_circuit.h"
#include "notifier_smtp.h"

typedef struct notifier_outbox notifier_outbox_t;

typedef struct {
    kj_redis_t *redis;           /* the loop's connection (borrowed) */
    const char *prefix;          /* key prefix ("kj") */
    const char *webhook_url;     /* fallback endpoint; NULL: none */
    const char *secret;          /* HMAC key; NULL: unsigned */
    const char *case_url;        /* KUJO_CASE_URL for Slack; NULL: none */
    const kj_rules_t *rules;     /* team webhooks, connectors; may be NULL */
    notifier_circuit_t *circuit; /* shared with team alerts (borrowed) */
    kj_metrics_t *metrics;       /* NULL: no metrics (tests) */
    int64_t http_timeout_ms;     /* per request */
    int64_t lease_ms;            /* a claimed job is ours this long */
    int64_t max_attempts;        /* claims before a job is dead */
    int64_t retry_base_ms;       /* backoff base */
    int64_t retry_cap_ms;        /* backoff cap */
    int64_t poll_ms;             /* how often due jobs are claimed */
    size_t max_inflight;         /* slots */
    /* Customer mail: url, from, user, password, tls (redis and prefix
     * are taken from above). NULL: customer kinds go by webhook only. */
    const notifier_smtp_opts_t *smtp;
    /* KUJO_NOTICE_RATE: incident notices per second per channel (copied),
     * held across every copy by a token bucket in Redis per tenant and
     * channel; none: unlimited. */
    const kj_outbox_rate_t *notice_rates;
    size_t n_notice_rates;
} notifier_outbox_opts_t;

/* NULL if curl cannot start. */
notifier_outbox_t *
notifier_outbox_new(const notifier_outbox_opts_t *opts);

/* Abort what is in flight (the jobs come back when their lease ends). */
void
notifier_outbox_destroy(notifier_outbox_t **self_p);

/* Adopt new rules (SIGHUP). Borrowed. */
void
notifier_outbox_set_rules(notifier_outbox_t *self, const kj_rules_t *rules);

/* The endpoint of a job of kind for team on channel (see above), or NULL.
 * Borrowed. */
const char *
notifier_outbox_endpoint(const notifier_outbox_t *self, const char *kind,
                         const char *team, const char *channel);

/* The loop's share: pollitems of curl's sockets, how long it may sleep
 * (until curl or the next claim needs it), and the work after a poll:
 * drive curl, answer finished jobs, claim due ones when it is time. */
size_t
notifier_outbox_pollitems(notifier_outbox_t *self, zmq_pollitem_t *items,
                          size_t max);

long
notifier_outbox_timeout_ms(notifier_outbox_t *self, int64_t now_ms);

void
notifier_outbox_after_poll(notifier_outbox_t *self, const zmq_pollitem_t *items,
                           size_t n, int64_t now_ms);

/* Requests in flight. */
size_t
notifier_outbox_inflight(const notifier_outbox_t *self);

#endif
