/* kujo-notifier: the last pipeline stage. Takes routed complaints, POSTs a
 * signed team alert to the team's webhook, and records the complaint
 * delivered, or retries with backoff until it is dead-lettered. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <curl/curl.h>

#include "kj_config.h"
#include "kj_log.h"
#include "kj_rules.h"
#include "kj_stage.h"
#include "kj_util.h"
#include "notifier_deliver.h"
#include "notifier_http.h"

int
main(int argc, char **argv)
{
    char *redis_url = NULL, *prefix = NULL, *admin_addr = NULL;
    char *log_level = NULL, *zmq_bind = NULL, *zmq_advertise = NULL;
    char *webhook_url = NULL, *webhook_secret = NULL, *rules_path = NULL;
    int64_t max_attempts = 0, lease_ms = 0, batch = 0, hwm = 0, drain_ms = 0;
    int64_t http_timeout_ms = 0, retry_base_ms = 0, retry_cap_ms = 0;
    int64_t circuit_failures = 0, circuit_open_ms = 0, circuit_open_max_ms = 0;
    const kj_cfg_opt_t opts[] = {
        {"KUJO_REDIS_URL", "redis-url", KJ_CFG_STR, "redis://127.0.0.1:6379/0",
         0, 0, "Redis URL", false, true, &redis_url},
        {"KUJO_PREFIX", "prefix", KJ_CFG_STR, "kj", 0, 0, "Redis key prefix",
         false, true, &prefix},
        {"KUJO_ADMIN_ADDR", "admin-addr", KJ_CFG_STR, "127.0.0.1:9104", 0, 0,
         "admin HTTP address (healthz, readyz, metrics)", false, true,
         &admin_addr},
        {"KUJO_LOG_LEVEL", "log-level", KJ_CFG_STR, "info", 0, 0,
         "debug, info, warn or error", false, true, &log_level},
        {"KUJO_MAX_ATTEMPTS", "max-attempts", KJ_CFG_INT, "5", 1, 100,
         "delivery attempts before a complaint is dead-lettered", false, false,
         &max_attempts},
        {"KUJO_LEASE_MS", "lease-ms", KJ_CFG_INT, "10000", 100, 3600000,
         "how long a taken complaint is owned before others may claim it",
         false, false, &lease_ms},
        {"KUJO_ZMQ_BIND", "zmq-bind", KJ_CFG_STR, "tcp://127.0.0.1:*", 0, 0,
         "ZeroMQ PULL bind endpoint", false, true, &zmq_bind},
        {"KUJO_ZMQ_ADVERTISE", "zmq-advertise", KJ_CFG_STR, NULL, 0, 0,
         "host to advertise in the registry instead of the bound one", false,
         false, &zmq_advertise},
        {"KUJO_BATCH", "batch", KJ_CFG_INT, "256", 1, 10000,
         "most envelopes taken per loop", false, false, &batch},
        {"KUJO_HWM", "hwm", KJ_CFG_INT, "1000", 1, 1000000,
         "ZeroMQ high-water mark", false, false, &hwm},
        {"KUJO_DRAIN_MS", "drain-ms", KJ_CFG_INT, "10000", 0, 600000,
         "longest drain after SIGTERM", false, false, &drain_ms},
        {"KUJO_WEBHOOK_URL", "webhook-url", KJ_CFG_STR, NULL, 0, 0,
         "webhook for teams that name none", false, false, &webhook_url},
        {"KUJO_WEBHOOK_SECRET", "webhook-secret", KJ_CFG_STR, NULL, 0, 0,
         "HMAC-SHA256 key for Kujo-Signature", true, false, &webhook_secret},
        {"KUJO_HTTP_TIMEOUT_MS", "http-timeout-ms", KJ_CFG_INT, "5000", 100,
         600000, "webhook request timeout", false, false, &http_timeout_ms},
        {"KUJO_RETRY_BASE_MS", "retry-base-ms", KJ_CFG_INT, "500", 1, 3600000,
         "retry backoff base", false, false, &retry_base_ms},
        {"KUJO_RETRY_CAP_MS", "retry-cap-ms", KJ_CFG_INT, "60000", 1, 86400000,
         "retry backoff cap", false, false, &retry_cap_ms},
        {"KUJO_CIRCUIT_FAILURES", "circuit-failures", KJ_CFG_INT, "5", 0, 1000,
         "consecutive failed requests that open an endpoint's circuit "
         "(0: no breaker)",
         false, false, &circuit_failures},
        {"KUJO_CIRCUIT_OPEN_MS", "circuit-open-ms", KJ_CFG_INT, "30000", 10,
         3600000,
         "how long an open circuit holds deliveries before one trial request",
         false, false, &circuit_open_ms},
        {"KUJO_CIRCUIT_OPEN_MAX_MS", "circuit-open-max-ms", KJ_CFG_INT,
         "300000", 10, 86400000,
         "cap of the open time, which doubles after each failed trial", false,
         false, &circuit_open_max_ms},
        {"KUJO_RULES", "rules", KJ_CFG_STR, NULL, 0, 0,
         "rules file whose team webhooks get circuit metrics from the start "
         "(optional; reread on SIGHUP)",
         false, false, &rules_path},
    };
    const size_t n_opts = KJ_ARRAY_LEN(opts);
    kj_stage_t *stage = NULL;
    notifier_t *notifier = NULL;
    kj_rules_t *rules = NULL;
    bool curl_up = false;
    int rc = 0;

    if (kj_config_parse(opts, n_opts, argc, argv, "kujo-notifier",
                        "Deliver routed complaints to team webhooks.",
                        &rc) != 0)
        goto out;
    int level = kj_log_level_parse(log_level);
    if (level < 0) {
        fprintf(stderr, "kujo-notifier: bad KUJO_LOG_LEVEL '%s'\n", log_level);
        rc = KJ_EX_CONFIG;
        goto out;
    }
    /* A request still running when its lease ends would be claimed and
     * sent again by another copy while this one waits for the answer. */
    if (lease_ms <= http_timeout_ms) {
        fprintf(stderr,
                "kujo-notifier: KUJO_LEASE_MS (%lld) must exceed "
                "KUJO_HTTP_TIMEOUT_MS (%lld)\n",
                (long long)lease_ms, (long long)http_timeout_ms);
        rc = KJ_EX_CONFIG;
        goto out;
    }
    if (retry_cap_ms < retry_base_ms) {
        fprintf(stderr,
                "kujo-notifier: KUJO_RETRY_CAP_MS (%lld) is below "
                "KUJO_RETRY_BASE_MS (%lld)\n",
                (long long)retry_cap_ms, (long long)retry_base_ms);
        rc = KJ_EX_CONFIG;
        goto out;
    }
    if (webhook_url && webhook_url[0] && !notifier_url_ok(webhook_url)) {
        fprintf(stderr, "kujo-notifier: KUJO_WEBHOOK_URL must be an http:// or "
                        "https:// URL\n");
        rc = KJ_EX_CONFIG;
        goto out;
    }
    if (circuit_open_max_ms < circuit_open_ms) {
        fprintf(stderr,
                "kujo-notifier: KUJO_CIRCUIT_OPEN_MAX_MS (%lld) is below "
                "KUJO_CIRCUIT_OPEN_MS (%lld)\n",
                (long long)circuit_open_max_ms, (long long)circuit_open_ms);
        rc = KJ_EX_CONFIG;
        goto out;
    }
    if (rules_path && rules_path[0]) {
        char err[512];
        rules = kj_rules_load(rules_path, err, sizeof err);
        if (!rules) {
            fprintf(stderr, "kujo-notifier: KUJO_RULES: %s\n", err);
            rc = KJ_EX_CONFIG;
            goto out;
        }
    }
    kj_log_init("notifier", (kj_log_level_t)level);
    kj_config_log(opts, n_opts);

    /* curl_global_init is not thread-safe: before the stage starts its
     * admin thread. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        kj_error("curl_global_init failed");
        rc = 1;
        goto out;
    }
    curl_up = true;
    const kj_stage_opts_t so = {
        .name = "notifier",
        .in_state = "routed",
        .out_state = "delivered",
        .next = NULL,
        .redis_url = redis_url,
        .prefix = prefix,
        .admin_addr = admin_addr,
        .zmq_bind = zmq_bind,
        .zmq_advertise = zmq_advertise,
        .lease_ms = lease_ms,
        .max_attempts = max_attempts,
        .batch_max = batch,
        .hwm = hwm,
        /* The same as every stage: records kept 30 days once final, event
         * streams capped near 100k entries per partition. */
        .retention_s = 30 * 24 * 3600,
        .stream_maxlen = 100000,
        .drain_ms = drain_ms,
    };
    stage = kj_stage_new(&so);
    if (!stage) {
        rc = 1;
        goto out;
    }
    const notifier_opts_t no = {
        .webhook_url = webhook_url,
        .webhook_secret = webhook_secret,
        .http_timeout_ms = http_timeout_ms,
        .retry_base_ms = retry_base_ms,
        .retry_cap_ms = retry_cap_ms,
        .batch_max = batch,
        .circuit_failures = circuit_failures,
        .circuit_open_ms = circuit_open_ms,
        .circuit_open_max_ms = circuit_open_max_ms,
        .rules = rules,
        .rules_path = rules_path,
    };
    notifier = notifier_new(stage, &no);
    /* Only its endpoints were needed; SIGHUP reads the file again. */
    kj_rules_destroy(&rules);
    if (!notifier) {
        rc = 1;
        goto out;
    }
    rc = kj_stage_run(stage, notifier_process, notifier_hooks(), notifier);

out:
    /* The stage first: it drives the notifier's callbacks. */
    kj_stage_destroy(&stage);
    notifier_destroy(&notifier);
    kj_rules_destroy(&rules);
    if (curl_up)
        curl_global_cleanup();
    kj_config_free(opts, n_opts);
    return rc;
}
