/* kujo-classifier: takes received complaints, works out language,
 * category and urgency from the operator's rules, and passes them on to
 * the router. The loop, transport and state machine are kj_stage's; the
 * per-message work is classifier_triage.c. */
#include <stdio.h>
#include <stdlib.h>

#include "classifier_triage.h"
#include "kj_config.h"
#include "kj_log.h"
#include "kj_redis.h"
#include "kj_stage.h"

int
main(int argc, char **argv)
{
    char *redis_url = NULL, *prefix = NULL, *admin_addr = NULL;
    char *log_level = NULL, *zmq_bind = NULL, *zmq_advertise = NULL;
    char *rules_path = NULL;
    char *models_dir = NULL;
    int64_t max_attempts = 0, lease_ms = 0, batch = 0, hwm = 0, drain_ms = 0;
    const kj_cfg_opt_t opts[] = {
        {"KUJO_REDIS_URL", "redis-url", KJ_CFG_STR, "redis://127.0.0.1:6379/0",
         0, 0, "Redis URL: redis://[:password@]host[:port][/db]", true, true,
         &redis_url},
        {"KUJO_PREFIX", "prefix", KJ_CFG_STR, "kj", 0, 0, "key prefix in Redis",
         false, true, &prefix},
        {"KUJO_ADMIN_ADDR", "admin-addr", KJ_CFG_STR, "127.0.0.1:9102", 0, 0,
         "admin HTTP (/healthz /readyz /metrics) host:port", false, true,
         &admin_addr},
        {"KUJO_LOG_LEVEL", "log-level", KJ_CFG_STR, "info", 0, 0,
         "debug, info, warn or error", false, true, &log_level},
        {"KUJO_MAX_ATTEMPTS", "max-attempts", KJ_CFG_INT, "5", 1, 100,
         "attempts before a complaint is dead-lettered", false, false,
         &max_attempts},
        {"KUJO_LEASE_MS", "lease-ms", KJ_CFG_INT, "10000", 100, 3600000,
         "ms a taken complaint is owned before others may claim it", false,
         false, &lease_ms},
        {"KUJO_ZMQ_BIND", "zmq-bind", KJ_CFG_STR, "tcp://127.0.0.1:*", 0, 0,
         "ZeroMQ PULL endpoint to bind", false, true, &zmq_bind},
        {"KUJO_ZMQ_ADVERTISE", "zmq-advertise", KJ_CFG_STR, NULL, 0, 0,
         "host to register instead of the bound one", false, false,
         &zmq_advertise},
        {"KUJO_BATCH", "batch", KJ_CFG_INT, "256", 1, 1024,
         "most complaints handled per Redis round trip", false, false, &batch},
        {"KUJO_HWM", "hwm", KJ_CFG_INT, "1000", 1, 1000000,
         "ZeroMQ high-water mark (messages queued per peer)", false, false,
         &hwm},
        {"KUJO_DRAIN_MS", "drain-ms", KJ_CFG_INT, "10000", 0, 600000,
         "longest time to finish work after SIGTERM", false, false, &drain_ms},
        {"KUJO_RULES", "rules", KJ_CFG_STR, "deploy/rules.json", 0, 0,
         "rules file (categories, urgency, teams, routes)", false, true,
         &rules_path},
        {"KUJO_MODELS", "models", KJ_CFG_STR, "models", 0, 0,
         "directory of trained models (models.json); empty: rules only",
         false, false, &models_dir},
    };
    const size_t n_opts = sizeof opts / sizeof *opts;
    classifier_triage_t *triage = NULL;
    kj_stage_t *stage = NULL;
    int rc = 0;

    if (kj_config_parse(opts, n_opts, argc, argv, "kujo-classifier",
                        "language, category and urgency of complaints",
                        &rc) != 0)
        goto out;
    int level = kj_log_level_parse(log_level);
    if (level < 0) {
        fprintf(stderr,
                "kujo-classifier: KUJO_LOG_LEVEL: unknown level "
                "\"%s\" (debug, info, warn, error)\n",
                log_level);
        rc = KJ_EX_CONFIG;
        goto out;
    }
    kj_log_init("classifier", (kj_log_level_t)level);
    kj_config_log(opts, n_opts);

    /* A bad URL is a configuration error (78), not a failure to start. */
    char err[512], host[256], password[256];
    int port = 0, db = 0;
    if (kj_redis_parse_url(redis_url, host, sizeof host, &port, &db, password,
                           sizeof password, err, sizeof err) != 0) {
        fprintf(stderr, "kujo-classifier: KUJO_REDIS_URL: %s\n", err);
        rc = KJ_EX_CONFIG;
        goto out;
    }
    triage = classifier_triage_new(rules_path, err, sizeof err);
    if (!triage) {
        fprintf(stderr, "kujo-classifier: KUJO_RULES: %s\n", err);
        rc = KJ_EX_CONFIG;
        goto out;
    }
    if (models_dir && models_dir[0] &&
        classifier_triage_use_models(triage, models_dir, err, sizeof err) !=
            0) {
        fprintf(stderr, "kujo-classifier: KUJO_MODELS: %s\n", err);
        rc = KJ_EX_CONFIG;
        goto out;
    }

    const kj_stage_opts_t stage_opts = {
        .name = "classifier",
        .in_state = "received",
        .out_state = "classified",
        .next = "router",
        .redis_url = redis_url,
        .prefix = prefix,
        .admin_addr = admin_addr,
        .zmq_bind = zmq_bind,
        .zmq_advertise = zmq_advertise,
        .lease_ms = lease_ms,
        .max_attempts = max_attempts,
        .batch_max = batch,
        .hwm = hwm,
        .retention_s = 30 * 24 * 3600,
        .stream_maxlen = 100000,
        .drain_ms = drain_ms,
    };
    stage = kj_stage_new(&stage_opts);
    if (!stage) {
        rc = 1;
        goto out;
    }
    const kj_stage_hooks_t hooks = {.reload = classifier_triage_reload};
    rc = kj_stage_run(stage, classifier_triage_process, &hooks, triage);

out:
    kj_stage_destroy(&stage);
    classifier_triage_destroy(&triage);
    kj_config_free(opts, n_opts);
    return rc;
}
