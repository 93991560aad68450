#include "notifier_deliver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_backoff.h"
#include "kj_log.h"
#include "kj_metrics.h"
#include "kj_rc.h"
#include "kj_util.h"
#include "notifier_circuit.h"
#include "notifier_http.h"
#include "notifier_outbox.h"
#include "notifier_payload.h"
#include "notifier_slack.h"

/* When every slot is busy, come back this much later. */
#define S_BUSY_RETRY_MS 1000
/* An endpoint at its concurrency limit frees a place within a request's
 * time: look again soon. */
#define S_ENDPOINT_BUSY_RETRY_MS 100
/* A half-open trial gets this long beyond curl's own timeout before it
 * counts as lost. */
#define S_TRIAL_SLACK_MS 1000

struct notifier {
    kj_stage_t *stage;           /* completions go here; may be NULL */
    notifier_http_t *http;       /* requests in flight */
    char *webhook_url;           /* default endpoint, NULL if none */
    char *secret;                /* HMAC key, NULL if unsigned */
    char *case_url;              /* KUJO_CASE_URL for Slack, NULL if none */
    int64_t retry_base_ms;       /* backoff base */
    int64_t retry_cap_ms;        /* backoff cap */
    uint64_t rng;                /* jitter */
    kj_counter_t *delivered;     /* deliveries_total{result="delivered"} */
    kj_counter_t *failed;        /* deliveries_total{result="failed"} */
    notifier_circuit_t *circuit; /* a breaker per endpoint */
    /* The endpoints of teams: the service's rules (kj_service swaps them
     * on SIGHUP and tells us through rules_changed), NULL without. */
    const kj_rules_t *rules;
    notifier_outbox_t *outbox; /* owed deliveries; NULL without Redis */
    size_t n_http_items;       /* the alerts' share of the last pollitems */
};

static void
s_done(void *ctx, kj_envelope_t *env, const char *url,
       const notifier_result_t *res);

notifier_t *
notifier_new(kj_stage_t *stage, const notifier_opts_t *opts)
{
    size_t slots = opts->max_inflight;
    if (slots == 0) {
        int64_t want = opts->batch_max > 0 ? opts->batch_max * 4 : 256;
        slots = want < 256 ? 256 : (size_t)want;
    }
    notifier_t *self = kj_calloc(1, sizeof *self);
    const notifier_circuit_opts_t co = {
        .failures = opts->circuit_failures,
        .open_ms = opts->circuit_open_ms,
        .open_max_ms = opts->circuit_open_max_ms,
        .trial_timeout_ms = opts->http_timeout_ms + S_TRIAL_SLACK_MS,
        .max_inflight = opts->endpoint_inflight,
    };
    self->circuit = notifier_circuit_new(
        &co, stage ? kj_stage_metrics(stage) : NULL, kj_seed());
    if (!self->circuit) {
        kj_error("circuit options out of range");
        free(self);
        return NULL;
    }
    self->http = notifier_http_new(opts->http_timeout_ms, slots, s_done, self);
    if (!self->http) {
        kj_error("curl multi handle could not start");
        notifier_circuit_destroy(&self->circuit);
        free(self);
        return NULL;
    }
    self->stage = stage;
    if (opts->webhook_url && opts->webhook_url[0])
        self->webhook_url = kj_strdup(opts->webhook_url);
    if (opts->webhook_secret && opts->webhook_secret[0])
        self->secret = kj_strdup(opts->webhook_secret);
    else
        kj_warn("no KUJO_WEBHOOK_SECRET: team alerts go out unsigned");
    if (opts->case_url && opts->case_url[0])
        self->case_url = kj_strdup(opts->case_url);
    self->retry_base_ms = opts->retry_base_ms;
    self->retry_cap_ms = opts->retry_cap_ms;
    self->rng = kj_seed();
    if (self->webhook_url)
        notifier_circuit_track(self->circuit, self->webhook_url);
    if (opts->rules)
        notifier_track_rules(self, opts->rules);
    self->rules = opts->rules;
    if (stage) {
        kj_metrics_t *m = kj_stage_metrics(stage);
        const char *help = "Webhook deliveries by kind and result";
        self->delivered =
            kj_metrics_counter(m, "deliveries_total", help,
                               "kind=\"team_alert\",result=\"delivered\"");
        self->failed =
            kj_metrics_counter(m, "deliveries_total", help,
                               "kind=\"team_alert\",result=\"failed\"");
    }
    if (opts->redis) {
        const notifier_outbox_opts_t oo = {
            .redis = opts->redis,
            .prefix = opts->prefix,
            .webhook_url = opts->webhook_url,
            .secret = opts->webhook_secret,
            .case_url = opts->case_url,
            .rules = opts->rules,
            .circuit = self->circuit,
            .metrics = stage ? kj_stage_metrics(stage) : NULL,
            .http_timeout_ms = opts->http_timeout_ms,
            .lease_ms = opts->lease_ms,
            .max_attempts = opts->max_attempts,
            .retry_base_ms = opts->retry_base_ms,
            .retry_cap_ms = opts->retry_cap_ms,
            .poll_ms = opts->outbox_poll_ms,
            .max_inflight = opts->outbox_inflight,
            .smtp = opts->smtp,
            .notice_rates = opts->notice_rates,
            .n_notice_rates = opts->n_notice_rates,
        };
        self->outbox = notifier_outbox_new(&oo);
        if (!self->outbox) {
            kj_error("curl multi handle could not start");
            notifier_destroy(&self);
            return NULL;
        }
    }
    kj_info("notifier ready", "l:slots", (long long)slots, "l:http_timeout_ms",
            (long long)opts->http_timeout_ms);
    return self;
}

void
notifier_destroy(notifier_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    notifier_t *self = *self_p;
    notifier_outbox_destroy(&self->outbox);
    notifier_http_destroy(&self->http);
    notifier_circuit_destroy(&self->circuit);
    free(self->webhook_url);
    free(self->secret);
    free(self->case_url);
    free(self);
    *self_p = NULL;
}

size_t
notifier_inflight(const notifier_t *self)
{
    return notifier_http_inflight(self->http);
}

void
notifier_track_rules(notifier_t *self, const kj_rules_t *rules)
{
    size_t n = kj_rules_n_routes(rules);
    for (size_t i = 0; i < n; i++) {
        kj_route_t rt;
        kj_rules_route_at(rules, i, &rt);
        if (rt.webhook)
            notifier_circuit_track(self->circuit, rt.webhook);
    }
}

const char *
notifier_endpoint(const notifier_t *self, const kj_envelope_t *env)
{
    const kj_rules_t *rules = self->rules;
    if (!rules || !env->has_assignment)
        return self->webhook_url;
    const kj_assignment_t *a = &env->assignment;
    size_t n = kj_rules_n_routes(rules);
    kj_route_t rt;
    /* The team's webhook first, since the alert names the team; the route
     * the router chose when the team is not (or no longer) in the rules. */
    for (size_t i = 0; a->team[0] && i < n; i++) {
        kj_rules_route_at(rules, i, &rt);
        if (strcmp(rt.team, a->team) == 0)
            return rt.webhook ? rt.webhook : self->webhook_url;
    }
    for (size_t i = 0; a->rule[0] && i < n; i++) {
        kj_rules_route_at(rules, i, &rt);
        if (strcmp(rt.rule, a->rule) == 0)
            return rt.webhook ? rt.webhook : self->webhook_url;
    }
    return self->webhook_url;
}

kj_verdict_t
notifier_process(void *ctx, kj_envelope_t *env, int64_t now_ms, char *err,
                 size_t err_size, int64_t *retry_at_ms)
{
    notifier_t *self = ctx;
    const char *queue = kj_envelope_quarantine(env);
    if (queue) {
        /* Noise and spam page nobody; the record says why. */
        kj_delivery_t *d = kj_envelope_delivery(env, "team_alert");
        kj_strlcpy(d->status, "skipped", sizeof d->status);
        snprintf(d->error, sizeof d->error, "quarantined as %s", queue);
        d->at_ms = now_ms;
        return KJ_VERDICT_DONE;
    }
    const char *team = env->has_assignment && env->assignment.team[0]
                           ? env->assignment.team
                           : "(none)";
    /* Never the envelope's assignment.webhook_url: a message must not
     * choose where an alert signed with our secret goes. */
    const char *url = notifier_endpoint(self, env);
    if (!url) {
        kj_rc_reason(err, err_size, KJ_ERR_CONFIG,
                     "no webhook configured for team %s", team);
        return KJ_VERDICT_DEAD;
    }
    if (!notifier_url_ok(url)) {
        /* A URL curl would refuse never gets better by retrying. */
        kj_rc_reason(err, err_size, KJ_ERR_CONFIG,
                     "webhook for team %s is not an http(s) URL", team);
        return KJ_VERDICT_DEAD;
    }

    /* Nothing is sent, so no attempt is spent, when there is no slot or
     * the endpoint's circuit is open. */
    if (notifier_http_inflight(self->http) >=
        notifier_http_capacity(self->http)) {
        kj_rc_reason(err, err_size, KJ_ERR_BUSY, "all delivery slots busy");
        *retry_at_ms = now_ms + S_BUSY_RETRY_MS;
        return KJ_VERDICT_DEFER;
    }
    if (!notifier_circuit_acquire(self->circuit, url)) {
        char ep[NOTIFIER_ENDPOINT_MAX];
        notifier_circuit_endpoint(url, ep, sizeof ep);
        kj_rc_reason(err, err_size, KJ_ERR_BUSY,
                     "endpoint %s at its limit of requests in flight", ep);
        *retry_at_ms = now_ms + S_ENDPOINT_BUSY_RETRY_MS;
        return KJ_VERDICT_DEFER;
    }
    bool trial = false;
    int64_t back = 0;
    if (!notifier_circuit_allow(self->circuit, url, env->complaint.id, now_ms,
                                &trial, &back)) {
        notifier_circuit_release(self->circuit, url);
        char ep[NOTIFIER_ENDPOINT_MAX];
        notifier_circuit_endpoint(url, ep, sizeof ep);
        kj_rc_reason(err, err_size, KJ_ERR_CIRCUIT_OPEN,
                     "webhook circuit open for %s", ep);
        *retry_at_ms = back;
        return KJ_VERDICT_DEFER;
    }

    /* A Slack webhook gets Block Kit, the due time in the team's zone;
     * the headers and the delivery contract stay the same. */
    size_t len = 0;
    char *body = NULL;
    if (kj_rules_webhook_format(self->rules, url) == KJ_WEBHOOK_SLACK) {
        const notifier_slack_opts_t so = {
            .hours =
                self->rules && env->has_assignment
                    ? kj_rules_team_hours(self->rules, env->assignment.team)
                    : NULL,
            .case_url = self->case_url,
        };
        body = notifier_slack_alert(env, &so, &len);
    } else {
        body = notifier_payload(env, &len);
    }
    notifier_headers_t h;
    char why[KJ_ERRMSG_MAX];
    if (notifier_headers(&h, env, NOTIFIER_KIND_TEAM_ALERT, self->secret,
                         now_ms / 1000, body, len) < 0) {
        free(body);
        notifier_circuit_release(self->circuit, url);
        notifier_circuit_report(self->circuit, url, env->complaint.id,
                                NOTIFIER_OUTCOME_NONE, NULL, now_ms);
        kj_rc_reason(err, err_size, KJ_ERR_TOO_BIG,
                     "delivery headers do not fit");
        return KJ_VERDICT_DEAD;
    }
    if (notifier_http_start(self->http, url, env, &body, len, &h, why,
                            sizeof why) < 0) {
        free(body);
        notifier_circuit_release(self->circuit, url);
        notifier_circuit_report(self->circuit, url, env->complaint.id,
                                NOTIFIER_OUTCOME_NONE, NULL, now_ms);
        kj_rc_reason(err, err_size, KJ_ERR_INTERNAL,
                     "webhook request not started: %s", why);
        *retry_at_ms = now_ms + S_BUSY_RETRY_MS;
        return KJ_VERDICT_RETRY;
    }
    return KJ_VERDICT_PENDING;
}

/* The kind of a failed request, the first word of its reason: an answer
 * that was not 2xx, no answer in time, a URL curl refused (permanent:
 * fixed in the rules, not by retrying), or the network. */
static kj_rc_t
s_failure_rc(const notifier_result_t *res)
{
    if (res->http_status > 0)
        return KJ_ERR_HTTP;
    if (res->permanent)
        return KJ_ERR_CONFIG;
    if (strcmp(res->error, "timeout") == 0)
        return KJ_ERR_TIMEOUT;
    return KJ_ERR_IO;
}

/* A request ended: record it in the envelope and complete it. */
static void
s_done(void *ctx, kj_envelope_t *env, const char *url,
       const notifier_result_t *res)
{
    notifier_t *self = ctx;
    int64_t now = kj_now_ms();
    int attempt = env->attempt > 0 ? (int)env->attempt : 1;
    char origin[KJ_URL_MAX];
    notifier_url_origin(url, origin, sizeof origin);
    notifier_circuit_release(self->circuit, url);
    notifier_circuit_report(self->circuit, url, env->complaint.id,
                            notifier_circuit_outcome(res->delivered,
                                                     res->permanent,
                                                     res->http_status),
                            res->error, now);
    /* The endpoint said when to come back (429/503 Retry-After): nothing
     * goes to it before then, this delivery included. */
    if (!res->delivered && res->retry_after_ms > 0)
        notifier_circuit_hold(self->circuit, url, now + res->retry_after_ms,
                              now);

    kj_delivery_t *d = kj_envelope_delivery(env, NOTIFIER_KIND_TEAM_ALERT);
    if (d) {
        kj_strlcpy(d->endpoint, origin, sizeof d->endpoint);
        kj_strlcpy(d->status, res->delivered ? "delivered" : "failed",
                   sizeof d->status);
        d->attempts = attempt;
        d->http_status = res->http_status;
        kj_strlcpy(d->error, res->error, sizeof d->error);
        d->at_ms = now;
        notifier_idempotency_key(env, NOTIFIER_KIND_TEAM_ALERT,
                                 d->idempotency_key, sizeof d->idempotency_key);
    }

    if (res->delivered) {
        if (self->delivered)
            kj_counter_inc(self->delivered);
        kj_info("delivered", "s:trace_id", env->trace_id, "s:id",
                env->complaint.id, "s:endpoint", origin, "i:status",
                res->http_status, "i:attempt", attempt, "l:ms",
                (long long)res->elapsed_ms);
        if (self->stage)
            kj_stage_complete(self->stage, env, KJ_VERDICT_DONE, NULL, 0);
        return;
    }

    if (self->failed)
        kj_counter_inc(self->failed);
    /* The store keeps this as last_error, and as the dead-letter reason
     * when this was the last attempt: "http_error: HTTP 500 after 5
     * attempts". */
    kj_rc_t why = s_failure_rc(res);
    char err[KJ_ERRMSG_MAX];
    kj_rc_reason(err, sizeof err, why, "%.200s after %d attempt%s", res->error,
                 attempt, attempt == 1 ? "" : "s");
    kj_warn("delivery failed", "s:trace_id", env->trace_id, "s:id",
            env->complaint.id, "s:endpoint", origin, "s:reason",
            kj_rc_name(why), "s:error", res->error, "i:attempt", attempt,
            "l:ms", (long long)res->elapsed_ms);
    if (!self->stage)
        return;
    if (res->permanent) {
        kj_stage_complete(self->stage, env, KJ_VERDICT_DEAD, err, 0);
        return;
    }
    int64_t delay = kj_backoff_delay_ms(attempt, self->retry_base_ms,
                                        self->retry_cap_ms, &self->rng);
    if (res->retry_after_ms > delay)
        delay = res->retry_after_ms;
    kj_stage_complete(self->stage, env, KJ_VERDICT_RETRY, err, now + delay);
}

static size_t
s_pollitems(void *ctx, zmq_pollitem_t *items, size_t max)
{
    notifier_t *self = ctx;
    size_t n = notifier_http_pollitems(self->http, items, max);
    self->n_http_items = n;
    if (self->outbox)
        n += notifier_outbox_pollitems(self->outbox, items + n, max - n);
    return n;
}

static long
s_timeout_ms(void *ctx)
{
    notifier_t *self = ctx;
    long t = notifier_http_timeout_ms(self->http);
    if (self->outbox) {
        long o = notifier_outbox_timeout_ms(self->outbox, kj_now_ms());
        if (o >= 0 && (t < 0 || o < t))
            t = o;
    }
    return t;
}

static void
s_after_poll(void *ctx, const zmq_pollitem_t *items, size_t n, int64_t now_ms)
{
    notifier_t *self = ctx;
    size_t nh = self->n_http_items < n ? self->n_http_items : n;
    notifier_http_after_poll(self->http, items, nh);
    if (self->outbox)
        notifier_outbox_after_poll(self->outbox, items + nh, n - nh, now_ms);
}

static size_t
s_inflight(void *ctx)
{
    notifier_t *self = ctx;
    return notifier_http_inflight(self->http) +
           (self->outbox ? notifier_outbox_inflight(self->outbox) : 0);
}

/* SIGHUP read new rules: team webhooks come from them from now on, and
 * new ones get series. Breakers already known keep their state. */
static int
s_rules_changed(void *ctx, const kj_rules_t *rules, char *err, size_t err_size)
{
    (void)err;
    (void)err_size;
    notifier_t *self = ctx;
    notifier_track_rules(self, rules);
    self->rules = rules;
    if (self->outbox)
        notifier_outbox_set_rules(self->outbox, rules);
    return 0;
}

static const kj_stage_hooks_t s_hooks = {
    .pollitems = s_pollitems,
    .timeout_ms = s_timeout_ms,
    .after_poll = s_after_poll,
    .inflight = s_inflight,
    .rules_changed = s_rules_changed,
};

const kj_stage_hooks_t *
notifier_hooks(void)
{
    return &s_hooks;
}
