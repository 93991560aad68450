/* kujo-ingest: the public HTTP API. Takes complaints in, writes each to
 * Redis before answering 202, and pushes it to the classifier.
 * Table of contents: configuration and runtime (kj_service), objects,
 * run (ingest_loop), destroy in reverse. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <zmq.h>

#include "ingest_api.h"
#include "ingest_auth.h"
#include "ingest_cases.h"
#include "ingest_loop.h"
#include "ingest_metrics.h"
#include "kj_cases.h"
#include "kj_outbox.h"
#include "kj_downstream.h"
#include "kj_http.h"
#include "kj_log.h"
#include "kj_mq.h"
#include "kj_service.h"
#include "kj_store.h"

#define S_PUSH_TIMEOUT_MS 20   /* a full classifier slows ingest this much */
#define S_BATCH_MAX 512        /* complaints per Redis pipeline */
#define S_CONN_LIMIT 1000      /* open client connections */
#define S_CONN_TIMEOUT_S 30    /* idle client connections are closed */
#define S_STREAM_MAXLEN 100000 /* events kept per partition stream */
#define S_IDEM_TTL_S 86400     /* Idempotency-Keys are remembered 24 h */

static char *s_http_addr;
static int64_t s_max_body;
static int64_t s_header_timeout_ms;
static int64_t s_body_timeout_ms;
static int64_t s_per_ip_limit;
static char *s_auth;
static int64_t s_key_rate, s_key_burst, s_tenant_rate, s_tenant_burst;

static const kj_cfg_opt_t s_own[] = {
    {.env = "KUJO_HTTP_ADDR",
     .flag = "http-addr",
     .type = KJ_CFG_STR,
     .def = "127.0.0.1:8080",
     .help = "public API host:port",
     .required = true,
     .dest = &s_http_addr},
    {.env = "KUJO_MAX_BODY",
     .flag = "max-body",
     .type = KJ_CFG_INT,
     .def = "65536",
     .min = 1024,
     .max = 16777216,
     .help = "largest request body in bytes (larger: 413)",
     .dest = &s_max_body},
    {.env = "KUJO_HTTP_HEADER_TIMEOUT_MS",
     .flag = "http-header-timeout-ms",
     .type = KJ_CFG_INT,
     .def = "10000",
     .min = 100,
     .max = 600000,
     .help = "a connection's request headers must be in within this "
             "(slow clients are cut)",
     .dest = &s_header_timeout_ms},
    {.env = "KUJO_HTTP_BODY_TIMEOUT_MS",
     .flag = "http-body-timeout-ms",
     .type = KJ_CFG_INT,
     .def = "30000",
     .min = 100,
     .max = 600000,
     .help = "a request's body must be in within this after its headers",
     .dest = &s_body_timeout_ms},
    {.env = "KUJO_HTTP_PER_IP_LIMIT",
     .flag = "http-per-ip-limit",
     .type = KJ_CFG_INT,
     .def = "64",
     .min = 0,
     .max = 100000,
     .help = "open connections per client IP (0: no limit); behind a proxy "
             "every client has the proxy's address, so raise it or use 0",
     .dest = &s_per_ip_limit},
    {.env = "KUJO_AUTH",
     .flag = "auth",
     .type = KJ_CFG_STR,
     .def = "keys",
     .help = "keys: every request needs an API key (kujo-admin key "
             "create); open: none, the tenant is the body's (only when "
             "every HTTP bind is loopback)",
     .required = true,
     .dest = &s_auth},
    {.env = "KUJO_RATE_LIMIT",
     .flag = "rate-limit",
     .type = KJ_CFG_INT,
     .def = "100",
     .min = 0,
     .max = 10000000,
     .help = "requests per second of one API key (0: unlimited); a key's "
             "own --rate from kujo-admin wins",
     .dest = &s_key_rate},
    {.env = "KUJO_RATE_BURST",
     .flag = "rate-burst",
     .type = KJ_CFG_INT,
     .def = "200",
     .min = 1,
     .max = 10000000,
     .help = "requests one API key may send at once above its rate",
     .dest = &s_key_burst},
    {.env = "KUJO_TENANT_RATE_LIMIT",
     .flag = "tenant-rate-limit",
     .type = KJ_CFG_INT,
     .def = "1000",
     .min = 0,
     .max = 10000000,
     .help = "requests per second of all of one tenant's keys (0: "
             "unlimited)",
     .dest = &s_tenant_rate},
    {.env = "KUJO_TENANT_RATE_BURST",
     .flag = "tenant-rate-burst",
     .type = KJ_CFG_INT,
     .def = "2000",
     .min = 1,
     .max = 10000000,
     .help = "requests one tenant may send at once above its rate",
     .dest = &s_tenant_burst},
};

static int
s_check(const kj_service_cfg_t *cfg)
{
    int problems = 0;
    struct sockaddr_in sa;
    if (kj_http_sockaddr(s_http_addr, &sa) < 0) {
        fprintf(stderr,
                "kujo-ingest: KUJO_HTTP_ADDR: expected host:port, got "
                "\"%s\"\n",
                s_http_addr);
        problems++;
    }
    problems += kj_http_check_auth_mode("kujo-ingest", s_auth, s_http_addr,
                                        cfg->admin_addr);
    return problems;
}

static const kj_service_def_t s_def = {
    .binary = "kujo-ingest",
    .name = "ingest",
    .summary = "the public HTTP API: validates complaints, stores them in "
               "Redis and pushes them to the classifier",
    .admin_default = "127.0.0.1:9101",
    .features = KJ_SVC_PUSH | KJ_SVC_RULES,
    .rules_required = false,
    .rules_help = "rules file, optional: its \"cases\" settings (offline "
                  "agents hand back cases, trajectory length); reread on "
                  "SIGHUP",
    .own = s_own,
    .n_own = sizeof s_own / sizeof s_own[0],
    .check = s_check,
};

int
main(int argc, char **argv)
{
    kj_store_t *store = NULL;
    void *zctx = NULL;
    kj_push_t *push = NULL;
    kj_downstream_t *down = NULL;
    ingest_api_t *api = NULL;
    ingest_auth_t *auth = NULL;
    kj_cases_t *cases = NULL;
    kj_outbox_t *outbox = NULL;
    ingest_cases_t *case_api = NULL;
    kj_ratelimit_t *limiter = NULL;
    ingest_metrics_t metrics;
    int code = 0;

    kj_service_t *service = kj_service_new_from_args(&s_def, argc, argv, &code);
    if (!service)
        return code;
    const kj_service_cfg_t *cfg = kj_service_cfg(service);
    ingest_metrics_init(&metrics, kj_service_metrics(service));

    kj_redis_t *redis = kj_service_redis(service);
    const kj_store_opts_t sopts = {
        .prefix = cfg->prefix,
        .lease_ms = cfg->lease_ms,
        .max_attempts = (int)cfg->max_attempts,
        .stream_maxlen = S_STREAM_MAXLEN,
        .retention_s = 0,
        .idem_ttl_s = S_IDEM_TTL_S,
    };
    store = kj_store_new(redis, &sopts);
    /* Not fatal if Redis is down: /readyz says so and the loop retries. */
    kj_redis_connect(redis);

    if (strcmp(s_auth, "open") == 0)
        kj_warn("AUTH OPEN: no API keys are checked, any caller may write "
                "and read every tenant's complaints; loopback only, for demos "
                "and tests",
                "s:http_addr", s_http_addr);
    else {
        auth = ingest_auth_new(redis, cfg->prefix, INGEST_AUTH_TTL_MS);
        const kj_ratelimit_opts_t lopts = {
            .prefix = cfg->prefix,
            .key_rate = (double)s_key_rate,
            .key_burst = s_key_burst,
            .tenant_rate = (double)s_tenant_rate,
            .tenant_burst = s_tenant_burst,
        };
        limiter = kj_ratelimit_new(redis, &lopts);
    }

    cases = kj_cases_new(redis, cfg->prefix);
    case_api = ingest_cases_new(cases, service);
    outbox = kj_outbox_new(redis, cfg->prefix);

    zctx = zmq_ctx_new();
    push = kj_push_new_curve(zctx, (int)cfg->hwm, S_PUSH_TIMEOUT_MS,
                             kj_service_curve(service));
    const ingest_api_opts_t aopts = {
        .http_addr = s_http_addr,
        .max_body = s_max_body,
        .batch_max = S_BATCH_MAX,
        .conn_limit = S_CONN_LIMIT,
        .conn_timeout_s = S_CONN_TIMEOUT_S,
        .header_timeout_ms = s_header_timeout_ms,
        .body_timeout_ms = s_body_timeout_ms,
        .per_ip_limit = (unsigned)s_per_ip_limit,
        .auth = auth,
        .limiter = limiter,
        .cases = case_api,
        .outbox = outbox,
    };
    if (!store || !push || (auth && !limiter) ||
        !(api = ingest_api_new(&aopts, store, push, &metrics))) {
        code = 1; /* each constructor logged why */
        goto out;
    }
    down =
        kj_downstream_new(redis, push, cfg->prefix, "classifier", "received");
    kj_info("listening", "s:http_addr", s_http_addr, "i:http_port",
            ingest_api_port(api), "s:admin_addr", cfg->admin_addr,
            "i:admin_port", kj_service_admin_port(service));

    ingest_loop_t loop = {
        .service = service,
        .api = api,
        .store = store,
        .down = down,
        .metrics = &metrics,
    };
    code = ingest_loop_run(&loop);
    kj_info("stopped", "i:code", code);

out:
    ingest_api_destroy(&api);
    ingest_auth_destroy(&auth);
    ingest_cases_destroy(&case_api);
    kj_cases_destroy(&cases);
    kj_outbox_destroy(&outbox);
    kj_ratelimit_destroy(&limiter);
    kj_downstream_destroy(&down);
    kj_push_destroy(&push);
    if (zctx)
        zmq_ctx_term(zctx);
    kj_store_destroy(&store);
    kj_service_destroy(&service);
    return code;
}
