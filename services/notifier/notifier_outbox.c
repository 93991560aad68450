/* notifier_outbox: claim, send and answer outbox jobs (see
 * notifier_outbox.h). */
#include "notifier_outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kj_backoff.h"
#include "kj_channels.h"
#include "kj_envelope.h"
#include "kj_log.h"
#include "kj_outbox.h"
#include "kj_ratelimit.h"
#include "kj_rc.h"
#include "kj_util.h"
#include "notifier_http.h"
#include "notifier_payload.h"
#include "notifier_slack.h"
#include "notifier_smtp.h"

#define S_CLAIM_MAX 64  /* jobs claimed at once */
#define S_RETRY_MS 1000 /* a request curl would not start comes back then */
#define S_BUSY_MS 100   /* an endpoint at its concurrency limit: soon */

/* The kinds with metric series of their own; the kinds kj_outbox knows. */
static const char *const s_kinds[] = {
    "customer_ack", "survey_request",  "sla_warning",      "escalation",
    "follow_up",    "incident_notice", "incident_resolved"};
#define S_NKINDS (sizeof s_kinds / sizeof *s_kinds)

struct notifier_outbox {
    kj_outbox_t *outbox;               /* the scripts over the loop's Redis */
    notifier_http_t *http;             /* the jobs' requests in flight */
    notifier_circuit_t *circuit;       /* borrowed: shared with team alerts */
    const kj_rules_t *rules;           /* borrowed; NULL without rules */
    char *webhook_url;                 /* fallback endpoint, NULL if none */
    char *secret;                      /* HMAC key, NULL if unsigned */
    char *case_url;                    /* KUJO_CASE_URL, NULL if none */
    int64_t lease_ms;                  /* claim lease */
    int64_t max_attempts;              /* then dead */
    int64_t retry_base_ms;             /* backoff base */
    int64_t retry_cap_ms;              /* backoff cap */
    int64_t poll_ms;                   /* claim period */
    int64_t next_claim_ms;             /* when the next claim is due */
    uint64_t rng;                      /* jitter */
    kj_envelope_t *env;                /* the job's small envelope, reused */
    kj_outbox_job_t jobs[S_CLAIM_MAX]; /* one claim's jobs */
    /* Delivered since the last flush: recorded together, one round trip
     * per poll instead of one per delivery (at most max_inflight). */
    kj_outbox_job_t *delivered;
    char (*origins)[KJ_URL_MAX];
    int *statuses;
    int64_t *elapsed;
    kj_outbox_done_t *dones;
    size_t n_delivered, cap_delivered;
    /* deliveries_total{kind,result} per kind: [0] delivered, [1] failed. */
    kj_counter_t *counters[S_NKINDS][2];
    /* Customer mail (KUJO_SMTP_URL), NULL: customer kinds go by webhook. */
    notifier_smtp_t *smtp;
    /* smtp_deliveries_total{kind,result}: [0] delivered, [1] failed,
     * [2] refused (no usable address: never sent). */
    kj_counter_t *smtp_counters[S_NKINDS][3];
    /* KUJO_NOTICE_RATE and its buckets (NULL: no rates). */
    kj_outbox_rate_t notice_rates[KJ_OUTBOX_RATES_MAX];
    size_t n_notice_rates;
    kj_ratelimit_t *notice_limit;
    kj_counter_t *notice_held; /* notices_rate_held_total */
};

static void
s_done(void *ctx, kj_envelope_t *env, const char *url,
       const notifier_result_t *res);
static void
s_flush(notifier_outbox_t *self, int64_t now_ms);

notifier_outbox_t *
notifier_outbox_new(const notifier_outbox_opts_t *opts)
{
    notifier_outbox_t *self = kj_calloc(1, sizeof *self);
    self->http = notifier_http_new(
        opts->http_timeout_ms,
        opts->max_inflight ? opts->max_inflight : S_CLAIM_MAX, s_done, self);
    if (!self->http) {
        free(self);
        return NULL;
    }
    self->outbox = kj_outbox_new(opts->redis, opts->prefix);
    self->circuit = opts->circuit;
    self->rules = opts->rules;
    if (opts->webhook_url && opts->webhook_url[0])
        self->webhook_url = kj_strdup(opts->webhook_url);
    if (opts->secret && opts->secret[0])
        self->secret = kj_strdup(opts->secret);
    if (opts->case_url && opts->case_url[0])
        self->case_url = kj_strdup(opts->case_url);
    self->lease_ms = opts->lease_ms;
    self->max_attempts = opts->max_attempts > 0 ? opts->max_attempts : 1;
    self->retry_base_ms = opts->retry_base_ms;
    self->retry_cap_ms = opts->retry_cap_ms;
    self->poll_ms = opts->poll_ms > 0 ? opts->poll_ms : 1000;
    self->rng = kj_seed();
    self->env = kj_calloc(1, sizeof *self->env);
    if (opts->metrics) {
        const char *help = "Webhook deliveries by kind and result";
        char labels[96];
        for (size_t k = 0; k < S_NKINDS; k++)
            for (int r = 0; r < 2; r++) {
                snprintf(labels, sizeof labels, "kind=\"%s\",result=\"%s\"",
                         s_kinds[k], r ? "failed" : "delivered");
                self->counters[k][r] = kj_metrics_counter(
                    opts->metrics, "deliveries_total", help, labels);
            }
    }
    if (opts->smtp) {
        char err[KJ_ERRMSG_MAX];
        notifier_smtp_opts_t so = *opts->smtp;
        so.redis = opts->redis;
        so.prefix = opts->prefix;
        self->smtp = notifier_smtp_new(&so, err, sizeof err);
        if (!self->smtp) {
            kj_error("smtp setup failed", "s:error", err);
            notifier_outbox_destroy(&self);
            return NULL;
        }
        static const char *const results[] = {"delivered", "failed", "refused"};
        for (size_t k = 0; opts->metrics && k < S_NKINDS; k++) {
            if (!kj_outbox_kind_customer(s_kinds[k]))
                continue;
            for (int r = 0; r < 3; r++) {
                char labels[96];
                snprintf(labels, sizeof labels, "kind=\"%s\",result=\"%s\"",
                         s_kinds[k], results[r]);
                self->smtp_counters[k][r] = kj_metrics_counter(
                    opts->metrics, "smtp_deliveries_total",
                    "Customer e-mails over SMTP by kind and result", labels);
            }
        }
    }
    for (size_t i = 0;
         i < opts->n_notice_rates && i < KJ_ARRAY_LEN(self->notice_rates); i++)
        self->notice_rates[self->n_notice_rates++] = opts->notice_rates[i];
    if (self->n_notice_rates) {
        const kj_ratelimit_opts_t ro = {.prefix = opts->prefix};
        self->notice_limit = kj_ratelimit_new(opts->redis, &ro);
        if (opts->metrics)
            self->notice_held = kj_metrics_counter(
                opts->metrics, "notices_rate_held_total",
                "Incident notices deferred by KUJO_NOTICE_RATE", NULL);
    }
    /* Connectors get their circuit series at once, like teams. */
    notifier_outbox_set_rules(self, opts->rules);
    return self;
}

void
notifier_outbox_destroy(notifier_outbox_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    notifier_outbox_t *self = *self_p;
    /* The slots first: a mail in flight borrows the smtp object. */
    notifier_http_destroy(&self->http);
    notifier_smtp_destroy(&self->smtp);
    s_flush(self, kj_now_ms()); /* what was delivered, recorded */
    kj_outbox_destroy(&self->outbox);
    kj_ratelimit_destroy(&self->notice_limit);
    free(self->delivered);
    free(self->origins);
    free(self->statuses);
    free(self->elapsed);
    free(self->dones);
    free(self->webhook_url);
    free(self->secret);
    free(self->case_url);
    free(self->env);
    free(self);
    *self_p = NULL;
}

void
notifier_outbox_set_rules(notifier_outbox_t *self, const kj_rules_t *rules)
{
    self->rules = rules;
    for (size_t i = 0; self->circuit && rules && i < kj_channels_count; i++) {
        const char *u = kj_rules_connector(rules, kj_channels[i]);
        if (u)
            notifier_circuit_track(self->circuit, u);
    }
}

/* The team's webhook in the rules, or NULL. */
static const char *
s_team_webhook(const kj_rules_t *rules, const char *team)
{
    size_t n = rules && team && team[0] ? kj_rules_n_routes(rules) : 0;
    kj_route_t rt;
    for (size_t i = 0; i < n; i++) {
        kj_rules_route_at(rules, i, &rt);
        if (strcmp(rt.team, team) == 0)
            return rt.webhook;
    }
    return NULL;
}

const char *
notifier_outbox_endpoint(const notifier_outbox_t *self, const char *kind,
                         const char *team, const char *channel)
{
    const char *url = kj_outbox_kind_customer(kind)
                          ? kj_rules_connector(self->rules, channel)
                          : s_team_webhook(self->rules, team);
    return url ? url : self->webhook_url;
}

static void
s_count(notifier_outbox_t *self, const char *kind, bool delivered)
{
    for (size_t k = 0; k < S_NKINDS; k++)
        if (strcmp(kind, s_kinds[k]) == 0 && self->counters[k][0])
            kj_counter_inc(self->counters[k][delivered ? 0 : 1]);
}

/* result: 0 delivered, 1 failed, 2 refused. */
static void
s_count_smtp(notifier_outbox_t *self, const char *kind, int result)
{
    for (size_t k = 0; k < S_NKINDS; k++)
        if (strcmp(kind, s_kinds[k]) == 0 && self->smtp_counters[k][0])
            kj_counter_inc(self->smtp_counters[k][result]);
}

/* True when url is the SMTP server's: a mail's result. */
static bool
s_is_smtp(const notifier_outbox_t *self, const char *url)
{
    return self->smtp && strcmp(url, notifier_smtp_url(self->smtp)) == 0;
}

/* A job that was not delivered: retried (after backoff, or at retry_at_ms
 * when deferred) or dead; logged once here. */
static void
s_fail(notifier_outbox_t *self, const kj_outbox_job_t *job, const char *error,
       bool defer, bool permanent, int64_t retry_at_ms, const char *origin,
       int http_status, int64_t now_ms)
{
    /* A deferral comes back at retry_at_ms; a failure after its backoff,
     * or at retry_at_ms (the endpoint's Retry-After) when that is later. */
    int64_t next = retry_at_ms;
    if (!defer) {
        next = now_ms + kj_backoff_delay_ms((int)job->attempts,
                                            self->retry_base_ms,
                                            self->retry_cap_ms, &self->rng);
        if (retry_at_ms > next)
            next = retry_at_ms;
    }
    /* Retrying cannot help a permanent failure: its claim is the last. */
    int64_t max = permanent ? job->attempts : self->max_attempts;
    kj_outbox_retry_rc_t rc =
        kj_outbox_retry(self->outbox, job, next, error, max, defer, origin,
                        http_status, now_ms);
    if (!defer)
        s_count(self, job->kind, false);
    if (rc == KJ_OUTBOX_DEAD)
        kj_error("outbox job dead", "s:job", job->id, "s:kind", job->kind,
                 "s:tenant", job->tenant, "s:error", error, "l:attempts",
                 (long long)job->attempts);
    else if (!defer)
        kj_warn("outbox delivery failed", "s:job", job->id, "s:kind", job->kind,
                "s:endpoint", origin, "s:error", error, "l:attempt",
                (long long)job->attempts);
}

/* The body: the job's payload with kind, job_id, complaint_id and attempt
 * set by us. NULL if the payload is not a JSON object. */
static char *
s_body(const kj_outbox_job_t *job, json_t *o, size_t *len)
{
    json_object_set_new(o, "kind", json_string(job->kind));
    json_object_set_new(o, "job_id", json_string(job->id));
    json_object_set_new(o, "complaint_id", json_string(job->complaint_id));
    json_object_set_new(o, "attempt", json_integer(job->attempts));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!s)
        abort(); /* jansson fails only when out of memory */
    *len = strlen(s);
    char *out = kj_malloc(*len + 1);
    memcpy(out, s, *len + 1);
    free(s);
    return out;
}

static const char *
s_jstr(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

/* The body for a team's Slack webhook: the job as Block Kit, the due time
 * in the team's zone (notifier_slack.h). */
static char *
s_slack_body(notifier_outbox_t *self, const kj_outbox_job_t *job, json_t *o,
             size_t *len)
{
    const char *team = s_jstr(o, "team");
    json_t *due = json_object_get(o, "due_at_ms");
    const notifier_slack_job_t sj = {
        .kind = job->kind,
        .case_id = s_jstr(o, "case_id"),
        .complaint_id = job->complaint_id,
        .team = team,
        .channel = s_jstr(o, "channel"),
        .language = s_jstr(o, "language"),
        .priority = s_jstr(o, "priority"),
        .to = s_jstr(o, "to"),
        .clock = s_jstr(o, "clock"),
        .text = s_jstr(o, "text"),
        .due_at_ms = json_is_integer(due) ? json_integer_value(due) : 0,
    };
    const notifier_slack_opts_t so = {
        .hours = self->rules ? kj_rules_team_hours(self->rules, team) : NULL,
        .case_url = self->case_url,
    };
    return notifier_slack_job(&sj, &so, len);
}

/* The small envelope a request carries: enough to answer the job when
 * the response comes. */
static void
s_job_env(kj_envelope_t *env, const kj_outbox_job_t *job)
{
    kj_strlcpy(env->complaint.id, job->complaint_id, sizeof env->complaint.id);
    kj_strlcpy(env->complaint.tenant, job->tenant,
               sizeof env->complaint.tenant);
    env->attempt = (uint32_t)job->attempts;
    kj_delivery_t *d = kj_envelope_delivery(env, job->kind);
    kj_strlcpy(d->idempotency_key, job->id, sizeof d->idempotency_key);
    d->attempts = (int32_t)job->attempts;
}

/* A customer job by mail (notifier_smtp). true: started or answered;
 * false: the customer has no address, so the job goes by webhook as
 * before. */
static bool
s_send_mail(notifier_outbox_t *self, const kj_outbox_job_t *job, json_t *o,
            int64_t now_ms)
{
    char why[KJ_ERRMSG_MAX], err[KJ_ERRMSG_MAX], domain[256],
        origin[KJ_URL_MAX];
    notifier_transfer_t xfer = {0};
    const char *url = notifier_smtp_url(self->smtp);
    notifier_url_origin(url, origin, sizeof origin);
    notifier_smtp_rc_t rc =
        notifier_smtp_prepare(self->smtp, job, o, now_ms, &xfer, domain,
                              sizeof domain, why, sizeof why);
    switch (rc) {
    case NOTIFIER_SMTP_NO_ADDRESS:
        return false;
    case NOTIFIER_SMTP_REFUSED:
        /* Nothing was sent and nothing will be: dead at once. */
        s_count_smtp(self, job->kind, 2);
        kj_rc_reason(err, sizeof err, KJ_ERR_INVALID, "%s", why);
        s_fail(self, job, err, false, true, 0, origin, 0, now_ms);
        return true;
    case NOTIFIER_SMTP_ERROR:
        kj_rc_reason(err, sizeof err, KJ_ERR_REDIS, "%s", why);
        s_fail(self, job, err, false, false, 0, origin, 0, now_ms);
        return true;
    case NOTIFIER_SMTP_READY:
        break;
    }
    kj_envelope_t *env = self->env;
    s_job_env(env, job);
    /* The recipient's domain at most: the address is personal data. */
    kj_debug("outbox mail starts", "s:job", job->id, "s:kind", job->kind,
             "s:domain", domain);
    if (notifier_http_start_transfer(self->http, url, env, &xfer, why,
                                     sizeof why) < 0) {
        kj_rc_reason(err, sizeof err, KJ_ERR_INTERNAL,
                     "mail transfer not started: %s", why);
        s_fail(self, job, err, true, false, now_ms + S_RETRY_MS, "", 0, now_ms);
    }
    return true;
}

/* True when an incident notice must wait for its channel's rate
 * (KUJO_NOTICE_RATE): it is deferred, no attempt spent, until the bucket
 * <prefix>:rl:{<tenant>}:k:notice:<channel> has a token. A bucket holds
 * one claim period's worth, so a poll can release what fell due in it
 * and any second sees at most rate + that many. Redis failing: the
 * notice goes (the limit protects receivers' capacity, not secrets). */
static bool
s_notice_held(notifier_outbox_t *self, const kj_outbox_job_t *job, json_t *o,
              int64_t now_ms)
{
    if (!self->notice_limit || strncmp(job->kind, "incident_", 9) != 0)
        return false;
    const char *channel = s_jstr(o, "channel");
    double rate =
        kj_outbox_rate_for(self->notice_rates, self->n_notice_rates, channel);
    if (rate <= 0)
        return false;
    char key[KJ_OUTBOX_CHANNEL_MAX + 16];
    snprintf(key, sizeof key, "notice:%s", channel[0] ? channel : "-");
    int64_t burst = (int64_t)(rate * (double)self->poll_ms / 1000.0);
    kj_ratelimit_take_t t = {.key_id = key,
                             .tenant = job->tenant,
                             .cost = 1,
                             .key_rate = rate,
                             .key_burst = burst > 1 ? burst : 1};
    if (kj_ratelimit_take(self->notice_limit, &t, 1, now_ms) < 0 ||
        t.admitted != 0)
        return false;
    char err[KJ_ERRMSG_MAX];
    kj_rc_reason(err, sizeof err, KJ_ERR_RATE_LIMITED,
                 "notices to channel %.32s held to %g/s", channel, rate);
    kj_counter_inc(self->notice_held);
    s_fail(self, job, err, true, false,
           now_ms + (t.retry_after_ms > 0 ? t.retry_after_ms : 1), "", 0,
           now_ms);
    return true;
}

/* Start one claimed job's request, or answer it at once. */
static void
s_send(notifier_outbox_t *self, const kj_outbox_job_t *job, int64_t now_ms)
{
    char err[KJ_ERRMSG_MAX];
    json_t *o = json_loads(job->payload, 0, NULL);
    kj_envelope_t *env = self->env;
    memset(env, 0, sizeof *env);
    if (!json_is_object(o) ||
        strlen(job->tenant) >= sizeof env->complaint.tenant ||
        strlen(job->id) >= sizeof env->deliveries[0].idempotency_key) {
        json_decref(o);
        kj_rc_reason(err, sizeof err, KJ_ERR_DECODE,
                     "job payload is not a JSON object or names too long");
        s_fail(self, job, err, false, true, 0, "", 0, now_ms);
        return;
    }
    if (s_notice_held(self, job, o, now_ms)) {
        json_decref(o);
        return;
    }
    /* Customer mail when SMTP is set and no connector is named for the
     * channel; a customer without an address falls through to the
     * webhook, as without SMTP. */
    if (self->smtp && kj_outbox_kind_customer(job->kind) &&
        !kj_rules_connector(self->rules, s_jstr(o, "channel")) &&
        s_send_mail(self, job, o, now_ms)) {
        json_decref(o);
        return;
    }
    const char *url = notifier_outbox_endpoint(
        self, job->kind, s_jstr(o, "team"), s_jstr(o, "channel"));
    if (!url || !notifier_url_ok(url)) {
        kj_rc_reason(err, sizeof err, KJ_ERR_CONFIG,
                     "no %s endpoint for %s (team \"%.64s\", channel "
                     "\"%.32s\")",
                     kj_outbox_kind_customer(job->kind) ? "connector"
                                                        : "webhook",
                     job->kind, s_jstr(o, "team"), s_jstr(o, "channel"));
        json_decref(o);
        s_fail(self, job, err, false, false, 0, "", 0, now_ms);
        return;
    }
    if (self->circuit && !notifier_circuit_acquire(self->circuit, url)) {
        char ep[NOTIFIER_ENDPOINT_MAX];
        notifier_circuit_endpoint(url, ep, sizeof ep);
        kj_rc_reason(err, sizeof err, KJ_ERR_BUSY,
                     "endpoint %s at its limit of requests in flight", ep);
        json_decref(o);
        s_fail(self, job, err, true, false, now_ms + S_BUSY_MS, "", 0, now_ms);
        return;
    }
    bool trial = false;
    int64_t back = 0;
    if (self->circuit &&
        !notifier_circuit_allow(self->circuit, url, job->complaint_id, now_ms,
                                &trial, &back)) {
        notifier_circuit_release(self->circuit, url);
        char ep[NOTIFIER_ENDPOINT_MAX];
        notifier_circuit_endpoint(url, ep, sizeof ep);
        kj_rc_reason(err, sizeof err, KJ_ERR_CIRCUIT_OPEN,
                     "webhook circuit open for %s", ep);
        json_decref(o);
        s_fail(self, job, err, true, false, back, "", 0, now_ms);
        return;
    }

    s_job_env(env, job);

    size_t len = 0;
    char *body =
        kj_outbox_kind_customer(job->kind) ||
                kj_rules_webhook_format(self->rules, url) != KJ_WEBHOOK_SLACK
            ? s_body(job, o, &len)
            : s_slack_body(self, job, o, &len);
    json_decref(o);
    notifier_headers_t h;
    char why[KJ_ERRMSG_MAX];
    int rc = notifier_headers(&h, env, job->kind, self->secret, now_ms / 1000,
                              body, len);
    /* The job id is the idempotency key: "<complaint>:<kind>[:<n>]". */
    if (rc == 0)
        kj_strlcpy(h.idempotency_key, job->id, sizeof h.idempotency_key);
    if (rc < 0 || notifier_http_start(self->http, url, env, &body, len, &h, why,
                                      sizeof why) < 0) {
        free(body);
        if (self->circuit) {
            notifier_circuit_release(self->circuit, url);
            notifier_circuit_report(self->circuit, url, job->complaint_id,
                                    NOTIFIER_OUTCOME_NONE, NULL, now_ms);
        }
        kj_rc_reason(err, sizeof err, KJ_ERR_INTERNAL,
                     "webhook request not started: %s",
                     rc < 0 ? "headers do not fit" : why);
        s_fail(self, job, err, true, false, now_ms + S_RETRY_MS, "", 0, now_ms);
    }
}

/* A delivered job, recorded at the end of this poll (s_flush). */
static void
s_delivered(notifier_outbox_t *self, const kj_outbox_job_t *job,
            const char *origin, const notifier_result_t *res)
{
    if (self->n_delivered == self->cap_delivered) {
        size_t cap = self->cap_delivered ? 2 * self->cap_delivered : 64;
        self->delivered =
            kj_realloc(self->delivered, cap * sizeof *self->delivered);
        self->origins = kj_realloc(self->origins, cap * sizeof *self->origins);
        self->statuses =
            kj_realloc(self->statuses, cap * sizeof *self->statuses);
        self->elapsed = kj_realloc(self->elapsed, cap * sizeof *self->elapsed);
        self->dones = kj_realloc(self->dones, cap * sizeof *self->dones);
        self->cap_delivered = cap;
    }
    size_t i = self->n_delivered++;
    self->delivered[i] = *job;
    self->delivered[i].payload = NULL; /* not needed to record it */
    kj_strlcpy(self->origins[i], origin, sizeof self->origins[i]);
    self->statuses[i] = res->http_status;
    self->elapsed[i] = res->elapsed_ms;
}

/* Record every delivery of this poll in one pipeline. One not recorded
 * (Redis failed) is sent again after its lease, with the same
 * Idempotency-Key, and recorded then. */
static void
s_flush(notifier_outbox_t *self, int64_t now_ms)
{
    size_t n = self->n_delivered;
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        self->dones[i] = (kj_outbox_done_t){.job = &self->delivered[i],
                                            .endpoint = self->origins[i],
                                            .http_status = self->statuses[i]};
    kj_outbox_done_batch(self->outbox, self->dones, n, now_ms);
    for (size_t i = 0; i < n; i++) {
        const kj_outbox_job_t *job = &self->delivered[i];
        if (self->dones[i].result < 0)
            kj_warn("outbox delivery not recorded", "s:job", job->id);
        else
            kj_info("outbox delivered", "s:job", job->id, "s:kind", job->kind,
                    "s:endpoint", self->origins[i], "i:status",
                    self->statuses[i], "l:attempt", (long long)job->attempts,
                    "l:ms", (long long)self->elapsed[i]);
    }
    self->n_delivered = 0;
}

/* A request ended: the job is done, retried or dead. */
static void
s_done(void *ctx, kj_envelope_t *env, const char *url,
       const notifier_result_t *res)
{
    notifier_outbox_t *self = ctx;
    int64_t now = kj_now_ms();
    kj_outbox_job_t job = {.attempts = env->attempt};
    kj_strlcpy(job.tenant, env->complaint.tenant, sizeof job.tenant);
    kj_strlcpy(job.complaint_id, env->complaint.id, sizeof job.complaint_id);
    if (env->n_deliveries > 0) {
        kj_strlcpy(job.id, env->deliveries[0].idempotency_key, sizeof job.id);
        kj_strlcpy(job.kind, env->deliveries[0].kind, sizeof job.kind);
    }
    char origin[KJ_URL_MAX];
    notifier_url_origin(url, origin, sizeof origin);
    int64_t wait_until = res->retry_after_ms ? now + res->retry_after_ms : 0;
    bool mail = s_is_smtp(self, url);
    if (mail)
        s_count_smtp(self, job.kind, res->delivered ? 0 : 1);
    /* One mail server, which queues by itself: no breaker for it. */
    if (self->circuit && !mail) {
        notifier_circuit_release(self->circuit, url);
        notifier_circuit_report(self->circuit, url, job.complaint_id,
                                notifier_circuit_outcome(res->delivered,
                                                         res->permanent,
                                                         res->http_status),
                                res->error, now);
        if (!res->delivered)
            notifier_circuit_hold(self->circuit, url, wait_until, now);
    }
    if (res->delivered) {
        s_count(self, job.kind, true);
        s_delivered(self, &job, origin, res);
        return;
    }
    kj_rc_t why = mail && res->permanent               ? KJ_ERR_INVALID
                  : mail && res->smtp_status > 0       ? KJ_ERR_IO
                  : res->http_status > 0               ? KJ_ERR_HTTP
                  : res->permanent                     ? KJ_ERR_CONFIG
                  : strcmp(res->error, "timeout") == 0 ? KJ_ERR_TIMEOUT
                                                       : KJ_ERR_IO;
    char err[KJ_ERRMSG_MAX];
    kj_rc_reason(err, sizeof err, why, "%.200s after %lld attempt%s",
                 res->error, (long long)job.attempts,
                 job.attempts == 1 ? "" : "s");
    s_fail(self, &job, err, false, res->permanent, wait_until, origin,
           res->http_status, now);
}

static void
s_claim(notifier_outbox_t *self, int64_t now_ms)
{
    size_t cap = notifier_http_capacity(self->http);
    size_t busy = notifier_http_inflight(self->http);
    size_t room = busy < cap ? cap - busy : 0;
    if (room > S_CLAIM_MAX)
        room = S_CLAIM_MAX;
    size_t n = 0;
    if (room == 0 || kj_outbox_claim(self->outbox, now_ms, self->lease_ms,
                                     self->jobs, room, &n) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        s_send(self, &self->jobs[i], now_ms);
        kj_outbox_job_clear(&self->jobs[i]);
    }
}

size_t
notifier_outbox_pollitems(notifier_outbox_t *self, zmq_pollitem_t *items,
                          size_t max)
{
    return notifier_http_pollitems(self->http, items, max);
}

long
notifier_outbox_timeout_ms(notifier_outbox_t *self, int64_t now_ms)
{
    long t = notifier_http_timeout_ms(self->http);
    int64_t wait = self->next_claim_ms - now_ms;
    if (wait < 0)
        wait = 0;
    return t >= 0 && t < wait ? t : (long)wait;
}

void
notifier_outbox_after_poll(notifier_outbox_t *self, const zmq_pollitem_t *items,
                           size_t n, int64_t now_ms)
{
    notifier_http_after_poll(self->http, items, n);
    s_flush(self, now_ms);
    if (now_ms < self->next_claim_ms)
        return;
    self->next_claim_ms = now_ms + self->poll_ms;
    s_claim(self, now_ms);
}

size_t
notifier_outbox_inflight(const notifier_outbox_t *self)
{
    return notifier_http_inflight(self->http);
}
