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
#include "kj_stage_config.h"
#include "kj_util.h"
#include "notifier_deliver.h"
#include "notifier_http.h"

int
main(int argc, char **argv)
{
    kj_stage_cfg_t cfg = {0};
    char *webhook_url = NULL, *webhook_secret = NULL, *rules_path = NULL;
    int64_t http_timeout_ms = 0, retry_base_ms = 0, retry_cap_ms = 0;
    int64_t circuit_failures = 0, circuit_open_ms = 0, circuit_open_max_ms = 0;
    const kj_cfg_opt_t own[] = {
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
    /* The notifier keeps up to 4 x KUJO_BATCH requests in flight, so it
     * accepts larger batches than the other stages. */
    kj_cfg_opt_t opts[KJ_STAGE_CFG_N + KJ_ARRAY_LEN(own)];
    kj_stage_cfg_opts(&cfg, "127.0.0.1:9104", 10000, opts);
    for (size_t i = 0; i < KJ_ARRAY_LEN(own); i++)
        opts[KJ_STAGE_CFG_N + i] = own[i];
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
    if ((rc = kj_stage_cfg_check(&cfg, "kujo-notifier", "notifier")) != 0)
        goto out;
    /* A request still running when its lease ends would be claimed and
     * sent again by another copy while this one waits for the answer. */
    if (cfg.lease_ms <= http_timeout_ms) {
        fprintf(stderr,
                "kujo-notifier: KUJO_LEASE_MS (%lld) must exceed "
                "KUJO_HTTP_TIMEOUT_MS (%lld)\n",
                (long long)cfg.lease_ms, (long long)http_timeout_ms);
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
    kj_config_log(opts, n_opts);

    /* curl_global_init is not thread-safe: before the stage starts its
     * admin thread. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        kj_error("curl_global_init failed");
        rc = 1;
        goto out;
    }
    curl_up = true;
    const kj_stage_opts_t so =
        kj_stage_cfg_stage_opts(&cfg, "notifier", "routed", "delivered", NULL);
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
        .batch_max = cfg.batch,
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
