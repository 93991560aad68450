/* notifier_deliver: the notifier stage's work. For each routed envelope it
 * picks the endpoint (the team's webhook from the rules, else
 * KUJO_WEBHOOK_URL), builds and signs the team alert, starts the POST and
 * returns PENDING; when the answer comes it records the delivery in the
 * envelope and completes it: delivered, retried with backoff (the store
 * turns the last retry into dead), or dead when retrying cannot help.
 *
 * In-flight requests are bounded by max_inflight slots (default four
 * batches, see notifier_opts_t). When every slot is busy, further envelopes
 * are retried a second later: that costs them an attempt, so size the pool
 * above batch size x (HTTP timeout / typical answer time). */
#ifndef NOTIFIER_DELIVER_H
#define NOTIFIER_DELIVER_H

#include <stddef.h>
#include <stdint.h>

#include "kj_stage.h"

typedef struct {
    const char *webhook_url;    /* default endpoint; NULL: teams must name */
    const char *webhook_secret; /* HMAC key; NULL or "": unsigned */
    int64_t http_timeout_ms;    /* per request, end to end */
    int64_t retry_base_ms;      /* backoff base */
    int64_t retry_cap_ms;       /* backoff cap */
    size_t max_inflight;        /* slots; 0: 4 x batch_max, at least 256 */
    int64_t batch_max;          /* the stage's batch, to size the slots */
} notifier_opts_t;

typedef struct notifier notifier_t;

/* The delivery side of the stage. stage is borrowed (completions and
 * metrics go to it); it may be NULL in tests that only call process.
 * NULL if curl cannot start. */
notifier_t *notifier_new(kj_stage_t *stage, const notifier_opts_t *opts);

void notifier_destroy(notifier_t **self_p);

/* The kj_stage_process_fn: start a delivery and return PENDING, or DEAD
 * when there is no usable endpoint. ctx is the notifier_t. */
kj_verdict_t notifier_process(void *ctx, kj_envelope_t *env, int64_t now_ms,
                              char *err, size_t err_size, int64_t *retry_at_ms);

/* The hooks that let the stage's loop drive curl (ctx: the notifier_t). */
const kj_stage_hooks_t *notifier_hooks(void);

/* Requests in flight. */
size_t notifier_inflight(const notifier_t *self);

#endif
