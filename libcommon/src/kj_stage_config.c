#include "kj_stage_config.h"

#include <stdio.h>

#include "kj_log.h"
#include "kj_redis.h"

void
kj_stage_cfg_opts(kj_stage_cfg_t *cfg, const char *admin_default,
                  int64_t batch_limit, kj_cfg_opt_t *out)
{
    const kj_cfg_opt_t opts[KJ_STAGE_CFG_N] = {
        {"KUJO_REDIS_URL", "redis-url", KJ_CFG_STR, "redis://127.0.0.1:6379/0",
         0, 0, "Redis URL: redis://[:password@]host[:port][/db]", true, true,
         &cfg->redis_url},
        {"KUJO_PREFIX", "prefix", KJ_CFG_STR, "kj", 0, 0, "key prefix in Redis",
         false, true, &cfg->prefix},
        {"KUJO_ADMIN_ADDR", "admin-addr", KJ_CFG_STR, admin_default, 0, 0,
         "admin HTTP (/healthz /readyz /metrics) host:port", false, true,
         &cfg->admin_addr},
        {"KUJO_LOG_LEVEL", "log-level", KJ_CFG_STR, "info", 0, 0,
         "debug, info, warn or error", false, true, &cfg->log_level},
        {"KUJO_MAX_ATTEMPTS", "max-attempts", KJ_CFG_INT, "5", 1, 100,
         "attempts before a complaint is dead-lettered", false, false,
         &cfg->max_attempts},
        {"KUJO_LEASE_MS", "lease-ms", KJ_CFG_INT, "10000", 100, 3600000,
         "ms a taken complaint is owned before others may claim it", false,
         false, &cfg->lease_ms},
        {"KUJO_ZMQ_BIND", "zmq-bind", KJ_CFG_STR, "tcp://127.0.0.1:*", 0, 0,
         "ZeroMQ PULL endpoint to bind", false, true, &cfg->zmq_bind},
        {"KUJO_ZMQ_ADVERTISE", "zmq-advertise", KJ_CFG_STR, NULL, 0, 0,
         "host to register instead of the bound one", false, false,
         &cfg->zmq_advertise},
        {"KUJO_BATCH", "batch", KJ_CFG_INT, "256", 1, batch_limit,
         "most complaints handled per Redis round trip", false, false,
         &cfg->batch},
        {"KUJO_HWM", "hwm", KJ_CFG_INT, "1000", 1, 1000000,
         "ZeroMQ high-water mark (messages queued per peer)", false, false,
         &cfg->hwm},
        {"KUJO_DRAIN_MS", "drain-ms", KJ_CFG_INT, "10000", 0, 600000,
         "longest time to finish work after SIGTERM", false, false,
         &cfg->drain_ms},
    };
    for (size_t i = 0; i < KJ_STAGE_CFG_N; i++)
        out[i] = opts[i];
}

int
kj_stage_cfg_check(const kj_stage_cfg_t *cfg, const char *binary,
                   const char *svc)
{
    int level = kj_log_level_parse(cfg->log_level);
    if (level < 0) {
        fprintf(stderr,
                "%s: KUJO_LOG_LEVEL: unknown level \"%s\" (debug, info, "
                "warn, error)\n",
                binary, cfg->log_level);
        return KJ_EX_CONFIG;
    }
    /* A bad URL is a configuration error (78), not a failure to start. */
    char err[512], host[256], password[256];
    int port = 0, db = 0;
    if (kj_redis_parse_url(cfg->redis_url, host, sizeof host, &port, &db,
                           password, sizeof password, err, sizeof err) != 0) {
        fprintf(stderr, "%s: KUJO_REDIS_URL: %s\n", binary, err);
        return KJ_EX_CONFIG;
    }
    kj_log_init(svc, (kj_log_level_t)level);
    return 0;
}

kj_stage_opts_t
kj_stage_cfg_stage_opts(const kj_stage_cfg_t *cfg, const char *name,
                        const char *in_state, const char *out_state,
                        const char *next)
{
    return (kj_stage_opts_t){
        .name = name,
        .in_state = in_state,
        .out_state = out_state,
        .next = next,
        .redis_url = cfg->redis_url,
        .prefix = cfg->prefix,
        .admin_addr = cfg->admin_addr,
        .zmq_bind = cfg->zmq_bind,
        .zmq_advertise = cfg->zmq_advertise,
        .lease_ms = cfg->lease_ms,
        .max_attempts = cfg->max_attempts,
        .batch_max = cfg->batch,
        .hwm = cfg->hwm,
        .retention_s = 30 * 24 * 3600,
        .stream_maxlen = 100000,
        .drain_ms = cfg->drain_ms,
    };
}
