/* kujo-ingest: the public HTTP API. Takes complaints in, writes each to
 * Redis before answering 202, and pushes it to the classifier.
 * Table of contents: configuration, objects, run, destroy in reverse. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "ingest_api.h"
#include "ingest_loop.h"
#include "ingest_metrics.h"
#include "kj_admin.h"
#include "kj_config.h"
#include "kj_http.h"
#include "kj_log.h"
#include "kj_mq.h"
#include "kj_redis.h"
#include "kj_signal.h"
#include "kj_store.h"

#define S_REDIS_TIMEOUT_MS 2000
#define S_PUSH_TIMEOUT_MS 20   /* a full classifier slows ingest this much */
#define S_BATCH_MAX 512        /* complaints per Redis pipeline */
#define S_CONN_LIMIT 1000      /* open client connections */
#define S_CONN_TIMEOUT_S 30    /* idle client connections are closed */
#define S_STREAM_MAXLEN 100000 /* events kept per partition stream */
#define S_IDEM_TTL_S 86400     /* Idempotency-Keys are remembered 24 h */

static char *s_redis_url, *s_prefix, *s_admin_addr, *s_log_level, *s_http_addr;
static int64_t s_max_attempts, s_lease_ms, s_max_body, s_hwm, s_drain_ms;

static const kj_cfg_opt_t s_opts[] = {
    {"KUJO_REDIS_URL", "redis-url", KJ_CFG_STR, "redis://127.0.0.1:6379/0", 0,
     0, "Redis URL: redis://[:password@]host[:port][/db]", true, true,
     &s_redis_url},
    {"KUJO_PREFIX", "prefix", KJ_CFG_STR, "kj", 0, 0, "Redis key prefix", false,
     true, &s_prefix},
    {"KUJO_ADMIN_ADDR", "admin-addr", KJ_CFG_STR, "127.0.0.1:9101", 0, 0,
     "admin port (/healthz, /readyz, /metrics) host:port", false, true,
     &s_admin_addr},
    {"KUJO_LOG_LEVEL", "log-level", KJ_CFG_STR, "info", 0, 0,
     "debug, info, warn or error", false, true, &s_log_level},
    {"KUJO_MAX_ATTEMPTS", "max-attempts", KJ_CFG_INT, "5", 1, 100,
     "attempts before a record is dead-lettered", false, false,
     &s_max_attempts},
    {"KUJO_LEASE_MS", "lease-ms", KJ_CFG_INT, "10000", 100, 3600000,
     "ms a pushed record is owned before the classifier claims it", false,
     false, &s_lease_ms},
    {"KUJO_HTTP_ADDR", "http-addr", KJ_CFG_STR, "127.0.0.1:8080", 0, 0,
     "public API host:port", false, true, &s_http_addr},
    {"KUJO_MAX_BODY", "max-body", KJ_CFG_INT, "65536", 1024, 16777216,
     "largest request body in bytes (larger: 413)", false, false, &s_max_body},
    {"KUJO_HWM", "hwm", KJ_CFG_INT, "1000", 1, 1000000,
     "ZeroMQ high-water mark toward the classifier", false, false, &s_hwm},
    {"KUJO_DRAIN_MS", "drain-ms", KJ_CFG_INT, "10000", 0, 600000,
     "longest a SIGTERM drain may take", false, false, &s_drain_ms},
};
#define S_NOPTS (sizeof s_opts / sizeof s_opts[0])

int
main(int argc, char **argv)
{
    int code = 0;
    int sigfd = -1;
    kj_metrics_t *registry = NULL;
    kj_redis_t *redis = NULL;
    kj_store_t *store = NULL;
    void *zctx = NULL;
    kj_push_t *push = NULL;
    kj_admin_t *admin = NULL;
    ingest_api_t *api = NULL;
    ingest_metrics_t metrics;

    if (kj_config_parse(s_opts, S_NOPTS, argc, argv, "kujo-ingest",
                        "the public HTTP API: validates complaints, stores "
                        "them in Redis and pushes them to the classifier",
                        &code) != 0)
        goto out;
    /* Values the table cannot check: a bad one is a configuration error
     * (78), found before anything starts. */
    struct sockaddr_in sa;
    int level = kj_log_level_parse(s_log_level);
    if (level < 0)
        fprintf(stderr, "kujo-ingest: KUJO_LOG_LEVEL: unknown level \"%s\"\n",
                s_log_level);
    if (kj_http_sockaddr(s_http_addr, &sa) < 0)
        fprintf(stderr,
                "kujo-ingest: KUJO_HTTP_ADDR: expected host:port, "
                "got \"%s\"\n",
                s_http_addr);
    if (kj_http_sockaddr(s_admin_addr, &sa) < 0)
        fprintf(stderr,
                "kujo-ingest: KUJO_ADMIN_ADDR: expected host:port, "
                "got \"%s\"\n",
                s_admin_addr);
    if (level < 0 || kj_http_sockaddr(s_http_addr, &sa) < 0 ||
        kj_http_sockaddr(s_admin_addr, &sa) < 0) {
        code = KJ_EX_CONFIG;
        goto out;
    }
    kj_log_init("ingest", (kj_log_level_t)level);
    kj_config_log(s_opts, S_NOPTS);

    /* Before any thread (admin server, ZeroMQ I/O) starts, so that every
     * thread inherits the blocked signals and only the signalfd sees them. */
    sigfd = kj_signal_init();
    if (sigfd < 0) {
        kj_error("signal setup failed");
        code = 1;
        goto out;
    }
    registry = kj_metrics_new("ingest");
    ingest_metrics_init(&metrics, registry);

    char err[256];
    redis = kj_redis_new(s_redis_url, S_REDIS_TIMEOUT_MS, err, sizeof err);
    if (!redis) {
        kj_error("bad KUJO_REDIS_URL", "s:error", err);
        code = KJ_EX_CONFIG;
        goto out;
    }
    kj_store_opts_t sopts = {
        .prefix = s_prefix,
        .lease_ms = s_lease_ms,
        .max_attempts = (int)s_max_attempts,
        .stream_maxlen = S_STREAM_MAXLEN,
        .retention_s = 0,
        .idem_ttl_s = S_IDEM_TTL_S,
    };
    store = kj_store_new(redis, &sopts);
    /* Not fatal if Redis is down: /readyz says so and the loop retries. */
    kj_redis_connect(redis);

    zctx = zmq_ctx_new();
    push = kj_push_new(zctx, (int)s_hwm, S_PUSH_TIMEOUT_MS);
    admin = kj_admin_new(s_admin_addr, registry);
    ingest_api_opts_t aopts = {
        .http_addr = s_http_addr,
        .max_body = s_max_body,
        .batch_max = S_BATCH_MAX,
        .conn_limit = S_CONN_LIMIT,
        .conn_timeout_s = S_CONN_TIMEOUT_S,
    };
    if (!store || !push || !admin ||
        !(api = ingest_api_new(&aopts, store, push, &metrics))) {
        code = 1; /* each constructor logged why */
        goto out;
    }
    kj_info("listening", "s:http_addr", s_http_addr, "i:http_port",
            ingest_api_port(api), "s:admin_addr", s_admin_addr, "i:admin_port",
            kj_admin_port(admin));

    ingest_loop_opts_t lopts = {
        .api = api,
        .redis = redis,
        .store = store,
        .push = push,
        .admin = admin,
        .metrics = &metrics,
        .sigfd = sigfd,
        .prefix = s_prefix,
        .drain_ms = s_drain_ms,
    };
    code = ingest_loop_run(&lopts);
    kj_info("stopped", "i:code", code);

out:
    ingest_api_destroy(&api);
    kj_admin_destroy(&admin);
    kj_push_destroy(&push);
    if (zctx)
        zmq_ctx_term(zctx);
    kj_store_destroy(&store);
    kj_redis_destroy(&redis);
    kj_metrics_destroy(&registry);
    if (sigfd >= 0)
        close(sigfd);
    kj_config_free(s_opts, S_NOPTS);
    return code;
}
