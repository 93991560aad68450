/* kujo-analytics: counts every state transition from the event streams
 * (a consumer group, so a restart resumes where it stopped and copies
 * share the work) and serves the sums at GET /v1/stats, and incidents
 * (opened by an operator, POST /v1/incidents) whose customers it owes
 * notices through the outbox. Never in the
 * pipeline's path: while it is down, events wait in the capped streams.
 * The runtime is kj_service; the loop's part is below: read and apply a
 * batch of events after each poll, back off while Redis fails. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "analytics_api.h"
#include "analytics_consumer.h"
#include "analytics_incident.h"
#include "analytics_sla.h"
#include "kj_http.h"
#include "kj_log.h"
#include "kj_service.h"
#include "kj_util.h"

/* XREADGROUP waits this long for new events, so a signal is seen within
 * about this much time. */
#define S_BLOCK_MS 200
/* Entries read per stream per round. */
#define S_READ_COUNT 512
/* Pause after a Redis failure, doubling up to the cap. */
#define S_BACKOFF_MIN_MS 100
#define S_BACKOFF_MAX_MS 2000
/* The SLA counters follow the Redis totals this often. */
#define S_SLA_REFRESH_MS 1000

static char *s_http_addr;
static char *s_auth;
static char *s_notice_rate;
static kj_outbox_rate_t s_rates[KJ_OUTBOX_RATES_MAX];
static size_t s_n_rates;

static const kj_cfg_opt_t s_own[] = {
    {.env = "KUJO_HTTP_ADDR",
     .flag = "http-addr",
     .type = KJ_CFG_STR,
     .def = "127.0.0.1:8090",
     .help = "stats API address",
     .required = true,
     .dest = &s_http_addr},
    {.env = "KUJO_AUTH",
     .flag = "auth",
     .type = KJ_CFG_STR,
     .def = "keys",
     .help = "keys: /v1/stats needs an API key with the admin scope (every "
             "tenant's counts); open: none (only when every HTTP bind is "
             "loopback)",
     .required = true,
     .dest = &s_auth},
    {.env = "KUJO_NOTICE_RATE",
     .flag = "notice-rate",
     .type = KJ_CFG_STR,
     .def = "",
     .help = "incident notices per second per channel, "
             "\"email=50,line=20,web=100\" (\"*\" any other channel; empty: "
             "unlimited): an incident's jobs fall due at that pace (the "
             "notifier holds the same setting)",
     .dest = &s_notice_rate},
};

static int
s_check(const kj_service_cfg_t *cfg)
{
    int bad = kj_http_check_auth_mode("kujo-analytics", s_auth, s_http_addr,
                                      cfg->admin_addr);
    char err[200];
    if (kj_outbox_rates_parse(s_notice_rate, s_rates, KJ_ARRAY_LEN(s_rates),
                              &s_n_rates, err, sizeof err) < 0) {
        fprintf(stderr, "kujo-analytics: KUJO_NOTICE_RATE: %s\n", err);
        bad++;
    }
    return bad;
}

static const kj_service_def_t s_def = {
    .binary = "kujo-analytics",
    .name = "analytics",
    .summary = "Count pipeline events and serve /v1/stats.",
    .admin_default = "127.0.0.1:9105",
    .features = KJ_SVC_RULES,
    .rules_help = "rules file whose team x priority pairs get SLA metrics "
                  "from the start (optional; reread on SIGHUP)",
    .own = s_own,
    .n_own = sizeof s_own / sizeof s_own[0],
    .check = s_check,
};

typedef struct {
    kj_service_t *service;
    analytics_consumer_t *consumer;
    analytics_sla_t *sla;
    analytics_incidents_t *incidents; /* finishes broadcasts cut short */
    int64_t backoff_ms; /* current pause after failures, 0 if none */
    int64_t resume_at;  /* monotonic ms: no reads before this */
} s_loop_t;

static long
s_timeout_ms(void *ctx)
{
    s_loop_t *l = ctx;
    int64_t wait = l->resume_at - kj_mono_ms();
    /* Reading blocks in Redis (S_BLOCK_MS), not in the poll. */
    return wait > 0 ? (long)wait : 0;
}

static void
s_after_poll(void *ctx, const zmq_pollitem_t *items, size_t n)
{
    s_loop_t *l = ctx;
    (void)items;
    (void)n;
    if (kj_service_draining(l->service) || kj_mono_ms() < l->resume_at)
        return;
    if (analytics_consumer_step(l->consumer, kj_now_ms()) >= 0) {
        l->backoff_ms = 0;
        return;
    }
    kj_redis_t *redis = kj_service_redis(l->service);
    char why[300];
    snprintf(why, sizeof why, "redis: %s", kj_redis_errstr(redis));
    kj_service_set_ready(l->service, false, why);
    l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 : S_BACKOFF_MIN_MS;
    if (l->backoff_ms > S_BACKOFF_MAX_MS)
        l->backoff_ms = S_BACKOFF_MAX_MS;
    l->resume_at = kj_mono_ms() + l->backoff_ms;
}

/* The SLA counters follow Redis; ready while reads and refreshes work. */
static int64_t
s_tick(void *ctx)
{
    s_loop_t *l = ctx;
    if (l->backoff_ms > 0)
        return S_SLA_REFRESH_MS;
    kj_redis_t *redis = kj_service_redis(l->service);
    /* A broadcast that a crash cut short is finished here (its jobs are
     * idempotent, so finishing one still running elsewhere is harmless). */
    if (analytics_incidents_resume(l->incidents, kj_now_ms()) < 0)
        kj_warn("incident broadcasts not resumed", "s:error",
                kj_redis_errstr(redis));
    if (analytics_sla_refresh(l->sla, redis) < 0) {
        char why[300];
        snprintf(why, sizeof why, "redis: %s", kj_redis_errstr(redis));
        kj_service_set_ready(l->service, false, why);
    } else {
        kj_service_set_ready(l->service, true, NULL);
    }
    return S_SLA_REFRESH_MS;
}

/* Every event applied was acknowledged in the same script, so a drain has
 * nothing to flush: what was read and not applied stays pending for the
 * next copy. */
static bool
s_drained(void *ctx, int64_t took_ms)
{
    (void)ctx;
    (void)took_ms;
    return true;
}

static int
s_rules_changed(void *ctx, const kj_rules_t *rules, char *err, size_t err_size)
{
    s_loop_t *l = ctx;
    (void)err;
    (void)err_size;
    analytics_sla_track_rules(l->sla, rules);
    return 0;
}

int
main(int argc, char **argv)
{
    analytics_consumer_t *consumer = NULL;
    analytics_api_t *api = NULL;
    analytics_sla_t *sla = NULL;
    analytics_incidents_t *incidents = NULL;
    int rc = 0;

    kj_service_t *service = kj_service_new_from_args(&s_def, argc, argv, &rc);
    if (!service)
        return rc;
    const kj_service_cfg_t *cfg = kj_service_cfg(service);
    kj_metrics_t *metrics = kj_service_metrics(service);
    kj_redis_t *redis = kj_service_redis(service);
    sla = analytics_sla_new(metrics, cfg->prefix);
    if (kj_service_rules(service))
        analytics_sla_track_rules(sla, kj_service_rules(service));
    /* The first scrape should already see the totals: a counter that a
     * restart shows at 0 and then at its old value would look to
     * Prometheus like a reset followed by that many new breaches. Redis
     * may be down now; the loop catches up. */
    if (analytics_sla_refresh(sla, redis) < 0)
        kj_warn("SLA totals not read yet", "s:error", kj_redis_errstr(redis));
    /* host:pid names this copy in the group; a restart is a new consumer
     * and the old one's leftovers are taken over after the lease. */
    char host[128] = "localhost";
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    char name[160];
    snprintf(name, sizeof name, "%s:%ld", host, (long)getpid());
    const analytics_consumer_opts_t co = {
        .prefix = cfg->prefix,
        .group = "analytics",
        .consumer = name,
        .count = S_READ_COUNT,
        .block_ms = S_BLOCK_MS,
        .claim_idle_ms = cfg->lease_ms,
    };
    consumer = analytics_consumer_new(redis, metrics, &co);
    bool keys = strcmp(s_auth, "keys") == 0;
    if (!keys)
        kj_warn("AUTH OPEN: /v1/stats answers anyone; loopback only, for demos "
                "and tests",
                "s:http_addr", s_http_addr);
    api = analytics_api_new(s_http_addr, cfg->redis_url, cfg->prefix, keys,
                            metrics, s_rates, s_n_rates);
    if (!api) {
        rc = 1;
        goto out;
    }
    kj_info("analytics running", "s:consumer", name);

    incidents = analytics_incidents_new(redis, cfg->prefix, s_rates, s_n_rates);
    s_loop_t loop = {.service = service,
                     .consumer = consumer,
                     .sla = sla,
                     .incidents = incidents};
    const kj_service_driver_t driver = {
        .timeout_ms = s_timeout_ms,
        .after_poll = s_after_poll,
        .tick = s_tick,
        .drained = s_drained,
        .rules_changed = s_rules_changed,
    };
    rc = kj_service_run(service, &driver, &loop);

out:
    analytics_api_destroy(&api);
    analytics_incidents_destroy(&incidents);
    analytics_consumer_destroy(&consumer);
    analytics_sla_destroy(&sla);
    kj_service_destroy(&service);
    return rc;
}
