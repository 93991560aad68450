/* kujo-analytics: counts every state transition from the event streams
 * (a consumer group, so a restart resumes where it stopped and copies
 * share the work) and serves the sums at GET /v1/stats. Never in the
 * pipeline's path: while it is down, events wait in the capped streams. */
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analytics_api.h"
#include "analytics_consumer.h"
#include "analytics_sla.h"
#include "kj_admin.h"
#include "kj_config.h"
#include "kj_log.h"
#include "kj_metrics.h"
#include "kj_redis.h"
#include "kj_rules.h"
#include "kj_signal.h"
#include "kj_util.h"

/* XREADGROUP waits this long for new events, so a signal is seen within
 * about this much time. */
#define S_BLOCK_MS 200
/* Entries read per stream per round. */
#define S_READ_COUNT 512
/* Redis command timeout: above the BLOCK time. */
#define S_REDIS_TIMEOUT_MS 2000
/* Pause after a Redis failure, doubling up to the cap. */
#define S_BACKOFF_MIN_MS 100
#define S_BACKOFF_MAX_MS 2000
/* The SLA counters follow the Redis totals this often. */
#define S_SLA_REFRESH_MS 1000

/* Give every team x priority the rules at path can route to its SLA
 * series. 0, or -1 with the problem in err. */
static int
s_track_rules(analytics_sla_t *sla, const char *path, char *err,
              size_t err_size)
{
    kj_rules_t *rules = kj_rules_load(path, err, err_size);
    if (!rules)
        return -1;
    analytics_sla_track_rules(sla, rules);
    kj_rules_destroy(&rules);
    return 0;
}

/* Wait up to ms for a signal on fd. Returns the signal number or 0. */
static int
s_wait_signal(int fd, int64_t ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (ms > 0)
        poll(&p, 1, (int)ms);
    return kj_signal_read(fd);
}

int
main(int argc, char **argv)
{
    char *redis_url = NULL, *prefix = NULL, *admin_addr = NULL;
    char *log_level = NULL, *http_addr = NULL, *rules_path = NULL;
    int64_t lease_ms = 0, drain_ms = 0;
    const kj_cfg_opt_t opts[] = {
        {"KUJO_REDIS_URL", "redis-url", KJ_CFG_STR, "redis://127.0.0.1:6379/0",
         0, 0, "Redis URL", false, true, &redis_url},
        {"KUJO_PREFIX", "prefix", KJ_CFG_STR, "kj", 0, 0, "Redis key prefix",
         false, true, &prefix},
        {"KUJO_ADMIN_ADDR", "admin-addr", KJ_CFG_STR, "127.0.0.1:9105", 0, 0,
         "admin HTTP address (healthz, readyz, metrics)", false, true,
         &admin_addr},
        {"KUJO_LOG_LEVEL", "log-level", KJ_CFG_STR, "info", 0, 0,
         "debug, info, warn or error", false, true, &log_level},
        {"KUJO_LEASE_MS", "lease-ms", KJ_CFG_INT, "10000", 100, 3600000,
         "events another copy left unacknowledged this long are taken over",
         false, false, &lease_ms},
        {"KUJO_DRAIN_MS", "drain-ms", KJ_CFG_INT, "10000", 0, 600000,
         "longest drain after SIGTERM (analytics stops after the current "
         "read, within about 200 ms)",
         false, false, &drain_ms},
        {"KUJO_HTTP_ADDR", "http-addr", KJ_CFG_STR, "127.0.0.1:8090", 0, 0,
         "stats API address", false, true, &http_addr},
        {"KUJO_RULES", "rules", KJ_CFG_STR, NULL, 0, 0,
         "rules file whose team x priority pairs get SLA metrics from the "
         "start (optional; reread on SIGHUP)",
         false, false, &rules_path},
    };
    const size_t n_opts = KJ_ARRAY_LEN(opts);
    kj_metrics_t *metrics = NULL;
    kj_admin_t *admin = NULL;
    kj_redis_t *redis = NULL;
    analytics_consumer_t *consumer = NULL;
    analytics_api_t *api = NULL;
    analytics_sla_t *sla = NULL;
    int sigfd = -1;
    int rc = 0;

    if (kj_config_parse(opts, n_opts, argc, argv, "kujo-analytics",
                        "Count pipeline events and serve /v1/stats.", &rc) != 0)
        goto out;
    int level = kj_log_level_parse(log_level);
    if (level < 0) {
        fprintf(stderr, "kujo-analytics: bad KUJO_LOG_LEVEL '%s'\n", log_level);
        rc = KJ_EX_CONFIG;
        goto out;
    }
    kj_log_init("analytics", (kj_log_level_t)level);
    kj_config_log(opts, n_opts);

    /* Before any thread (admin, stats API) so that they inherit the
     * blocked signal mask. */
    sigfd = kj_signal_init();
    if (sigfd < 0) {
        rc = 1;
        goto out;
    }
    metrics = kj_metrics_new("analytics");
    kj_gauge_set(kj_metrics_gauge(metrics, "build_info", "Build version",
                                  "version=\"" KJ_VERSION "\""),
                 1);
    char err[512];
    sla = analytics_sla_new(metrics, prefix);
    if (rules_path && rules_path[0] &&
        s_track_rules(sla, rules_path, err, sizeof err) < 0) {
        fprintf(stderr, "kujo-analytics: KUJO_RULES: %s\n", err);
        rc = KJ_EX_CONFIG;
        goto out;
    }
    redis = kj_redis_new(redis_url, S_REDIS_TIMEOUT_MS, err, sizeof err);
    if (!redis) {
        fprintf(stderr, "kujo-analytics: bad KUJO_REDIS_URL: %s\n", err);
        rc = KJ_EX_CONFIG;
        goto out;
    }
    /* The first scrape should already see the totals: a counter that a
     * restart shows at 0 and then at its old value would look to
     * Prometheus like a reset followed by that many new breaches. Redis
     * may be down now; the loop catches up. */
    if (analytics_sla_refresh(sla, redis) < 0)
        kj_warn("SLA totals not read yet", "s:error", kj_redis_errstr(redis));
    admin = kj_admin_new(admin_addr, metrics);
    if (!admin) {
        rc = 1;
        goto out;
    }
    /* host:pid names this copy in the group; a restart is a new consumer
     * and the old one's leftovers are taken over after the lease. */
    char host[128] = "localhost";
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    char name[160];
    snprintf(name, sizeof name, "%s:%ld", host, (long)getpid());
    const analytics_consumer_opts_t co = {
        .prefix = prefix,
        .group = "analytics",
        .consumer = name,
        .count = S_READ_COUNT,
        .block_ms = S_BLOCK_MS,
        .claim_idle_ms = lease_ms,
    };
    consumer = analytics_consumer_new(redis, metrics, &co);
    api = analytics_api_new(http_addr, redis_url, prefix, metrics);
    if (!api) {
        rc = 1;
        goto out;
    }
    kj_info("analytics running", "s:consumer", name);

    bool ready = false;
    int64_t backoff = 0;
    int64_t next_sla = kj_mono_ms() + S_SLA_REFRESH_MS;
    for (;;) {
        int sig;
        bool stop = false;
        while ((sig = kj_signal_read(sigfd)) > 0) {
            if (sig != SIGHUP)
                stop = true;
            else if (!rules_path || !rules_path[0])
                kj_info("SIGHUP: nothing to reload");
            else if (s_track_rules(sla, rules_path, err, sizeof err) < 0)
                kj_error("rules reload failed; keeping the old series",
                         "s:error", err);
            else
                kj_info("reloaded");
        }
        if (stop)
            break;
        int n = analytics_consumer_step(consumer, kj_now_ms());
        if (n < 0) {
            if (ready || backoff == 0) {
                char why[300];
                snprintf(why, sizeof why, "redis: %s", kj_redis_errstr(redis));
                kj_admin_set_ready(admin, false, why);
                ready = false;
            }
            backoff = backoff ? backoff * 2 : S_BACKOFF_MIN_MS;
            if (backoff > S_BACKOFF_MAX_MS)
                backoff = S_BACKOFF_MAX_MS;
            sig = s_wait_signal(sigfd, backoff);
            if (sig > 0 && sig != SIGHUP)
                break;
            continue;
        }
        backoff = 0;
        if (kj_mono_ms() >= next_sla) {
            next_sla = kj_mono_ms() + S_SLA_REFRESH_MS;
            /* Logged by the next consumer step, which fails the same. */
            if (analytics_sla_refresh(sla, redis) < 0)
                continue;
        }
        if (!ready) {
            kj_admin_set_ready(admin, true, NULL);
            kj_info("ready");
            ready = true;
        }
    }
    /* Every event applied was acknowledged in the same script, so there is
     * nothing to flush: what was read and not applied stays pending for
     * the next copy. */
    kj_admin_set_draining(admin);
    kj_info("drained; exiting");

out:
    analytics_api_destroy(&api);
    analytics_consumer_destroy(&consumer);
    analytics_sla_destroy(&sla);
    kj_redis_destroy(&redis);
    kj_admin_destroy(&admin);
    kj_metrics_destroy(&metrics);
    if (sigfd >= 0)
        close(sigfd);
    kj_config_free(opts, n_opts);
    return rc;
}
