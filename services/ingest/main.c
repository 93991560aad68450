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
#include "ingest_inbound.h"
#include "ingest_imap.h"
#include "ingest_loop.h"
#include "ingest_metrics.h"
#include "kj_cases.h"
#include "kj_survey.h"
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
static int64_t s_max_batch_body;
static int64_t s_header_timeout_ms;
static int64_t s_body_timeout_ms;
static int64_t s_per_ip_limit;
static char *s_auth;
static int64_t s_key_rate, s_key_burst, s_tenant_rate, s_tenant_burst;
/* Signed webhooks (issue 13): an adapter without its secret is off. */
static char *s_line_secret, *s_meta_secret, *s_meta_token, *s_social_secrets;
static char *s_inbound_tenant;
static int64_t s_social_tolerance_s;
static char *s_imap_url, *s_imap_user, *s_imap_password, *s_imap_tenant;
static int64_t s_imap_poll_ms, s_imap_lease_ms, s_imap_batch;
/* Surveys (issue 13): without a secret no token is signed and
 * POST /v1/feedback answers 404. */
static char *s_survey_secret, *s_survey_url;
static int64_t s_survey_ttl_days;

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
    {.env = "KUJO_MAX_BATCH_BODY",
     .flag = "max-batch-body",
     .type = KJ_CFG_INT,
     .def = "33554432",
     .min = 1024,
     .max = 1073741824,
     .help = "largest POST /v1/complaints:batch body in bytes (larger: 413)",
     .dest = &s_max_batch_body},
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
    {.env = "KUJO_LINE_CHANNEL_SECRET",
     .flag = "line-channel-secret",
     .type = KJ_CFG_STR,
     .help = "LINE channel secret: turns on POST /v1/inbound/line "
             "(x-line-signature checked with it)",
     .secret = true,
     .dest = &s_line_secret},
    {.env = "KUJO_META_APP_SECRET",
     .flag = "meta-app-secret",
     .type = KJ_CFG_STR,
     .help = "Meta app secret: turns on /v1/inbound/meta "
             "(X-Hub-Signature-256 checked with it)",
     .secret = true,
     .dest = &s_meta_secret},
    {.env = "KUJO_META_VERIFY_TOKEN",
     .flag = "meta-verify-token",
     .type = KJ_CFG_STR,
     .help = "the hub.verify_token Meta's subscription handshake "
             "(GET /v1/inbound/meta) must send",
     .secret = true,
     .dest = &s_meta_token},
    {.env = "KUJO_SOCIAL_SECRETS",
     .flag = "social-secrets",
     .type = KJ_CFG_STR,
     .help = "source=secret[,source=secret...]: turns on POST "
             "/v1/inbound/social for those X-Kujo-Source names",
     .secret = true,
     .dest = &s_social_secrets},
    {.env = "KUJO_SOCIAL_TOLERANCE_S",
     .flag = "social-tolerance-s",
     .type = KJ_CFG_INT,
     .def = "300",
     .min = 1,
     .max = 86400,
     .help = "X-Kujo-Timestamp may be this many seconds off the clock "
             "either way (older: replayed, 401)",
     .dest = &s_social_tolerance_s},
    {.env = "KUJO_SURVEY_SECRET",
     .flag = "survey-secret",
     .type = KJ_CFG_STR,
     .help = "signs the single-use token of every survey link (at least "
             "16 bytes): turns on POST /v1/feedback",
     .secret = true,
     .dest = &s_survey_secret},
    {.env = "KUJO_SURVEY_URL",
     .flag = "survey-url",
     .type = KJ_CFG_STR,
     .def = "",
     .help = "survey page a survey_request links to, ?token=... appended "
             "(empty: the rules' playbook survey_url)",
     .dest = &s_survey_url},
    {.env = "KUJO_SURVEY_TTL_DAYS",
     .flag = "survey-ttl-days",
     .type = KJ_CFG_INT,
     .def = "30",
     .min = 1,
     .max = 366,
     .help = "days a survey token may be answered",
     .dest = &s_survey_ttl_days},
    {.env = "KUJO_INBOUND_TENANT",
     .flag = "inbound-tenant",
     .type = KJ_CFG_STR,
     .def = "default",
     .help = "tenant of the complaints that signed webhooks "
             "(/v1/inbound/...) record",
     .required = true,
     .dest = &s_inbound_tenant},
    /* IMAP polling (ingest_imap). The URL row is secret because a URL may
     * carry its own user:password (it wins over KUJO_IMAP_USER and
     * KUJO_IMAP_PASSWORD for that mailbox), so it is never logged. */
    {.env = "KUJO_IMAP_URL",
     .flag = "imap-url",
     .type = KJ_CFG_STR,
     .def = "",
     .help = "mailboxes to poll, comma-separated: "
             "imap[s]://[user[:password]@]host[:port]/MAILBOX (default "
             "INBOX); empty: no polling",
     .secret = true,
     .dest = &s_imap_url},
    {.env = "KUJO_IMAP_USER",
     .flag = "imap-user",
     .type = KJ_CFG_STR,
     .def = "",
     .help = "IMAP login for mailboxes whose URL names no user",
     .dest = &s_imap_user},
    {.env = "KUJO_IMAP_PASSWORD",
     .flag = "imap-password",
     .type = KJ_CFG_STR,
     .def = "",
     .help = "IMAP password of KUJO_IMAP_USER (or KUJO_IMAP_PASSWORD_FILE)",
     .secret = true,
     .dest = &s_imap_password},
    {.env = "KUJO_IMAP_TENANT",
     .flag = "imap-tenant",
     .type = KJ_CFG_STR,
     .def = "default",
     .help = "tenant of every complaint taken from the mailboxes",
     .dest = &s_imap_tenant},
    {.env = "KUJO_IMAP_POLL_MS",
     .flag = "imap-poll-ms",
     .type = KJ_CFG_INT,
     .def = "10000",
     .min = 100,
     .max = 3600000,
     .help = "pause between polls of the mailboxes",
     .dest = &s_imap_poll_ms},
    {.env = "KUJO_IMAP_LEASE_MS",
     .flag = "imap-lease-ms",
     .type = KJ_CFG_INT,
     .def = "30000",
     .min = 1000,
     .max = 3600000,
     .help = "a mailbox is polled by one copy at a time: its lease lasts "
             "this long unless renewed (must exceed KUJO_IMAP_POLL_MS)",
     .dest = &s_imap_lease_ms},
    {.env = "KUJO_IMAP_BATCH",
     .flag = "imap-batch",
     .type = KJ_CFG_INT,
     .def = "50",
     .min = 1,
     .max = 512,
     .help = "messages fetched, then written in one Redis round trip",
     .dest = &s_imap_batch},
};

/* Tenants are [a-z0-9_-]: they are parts of keys (ingest_scoped_key). */
static bool
s_tenant_ok(const char *t)
{
    if (!t[0] || strlen(t) >= KJ_SHORT_MAX)
        return false;
    for (; *t; t++)
        if (!((*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') ||
              *t == '_' || *t == '-'))
            return false;
    return true;
}

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
    char msg[200];
    if (s_social_secrets && *s_social_secrets &&
        ingest_inbound_check_secrets(s_social_secrets, msg, sizeof msg) < 0) {
        fprintf(stderr, "kujo-ingest: KUJO_SOCIAL_SECRETS: %s\n", msg);
        problems++;
    }
    if (s_survey_secret && *s_survey_secret &&
        strlen(s_survey_secret) < KJ_SURVEY_SECRET_MIN) {
        fprintf(stderr,
                "kujo-ingest: KUJO_SURVEY_SECRET: at least %d bytes "
                "(openssl rand -hex 32)\n",
                KJ_SURVEY_SECRET_MIN);
        problems++;
    }
    if (s_survey_url && *s_survey_url &&
        strncmp(s_survey_url, "https://", 8) != 0 &&
        strncmp(s_survey_url, "http://", 7) != 0) {
        fprintf(stderr, "kujo-ingest: KUJO_SURVEY_URL: expected an http(s) "
                        "URL\n");
        problems++;
    }
    /* The tenant goes into Redis keys: the body's tenant rule applies. */
    size_t tl = strlen(s_inbound_tenant);
    bool ok = tl >= 1 && tl <= 63 &&
              strspn(s_inbound_tenant,
                     "abcdefghijklmnopqrstuvwxyz0123456789_-") == tl;
    if (!ok) {
        fprintf(stderr,
                "kujo-ingest: KUJO_INBOUND_TENANT: expected 1..63 of "
                "[a-z0-9_-], got \"%s\"\n",
                s_inbound_tenant);
        problems++;
    }
    if (s_imap_url && s_imap_url[0]) {
        problems += ingest_imap_check_urls("kujo-ingest", s_imap_url);
        if (!s_tenant_ok(s_imap_tenant)) {
            fprintf(stderr, "kujo-ingest: KUJO_IMAP_TENANT: expected "
                            "[a-z0-9_-]+\n");
            problems++;
        }
        if (s_imap_lease_ms <= s_imap_poll_ms) {
            /* Else the lease lapses between polls and copies take turns
             * at random instead of one keeping the mailbox. */
            fprintf(stderr, "kujo-ingest: KUJO_IMAP_LEASE_MS must exceed "
                            "KUJO_IMAP_POLL_MS\n");
            problems++;
        }
    }
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
    ingest_inbound_t *inbound = NULL;
    ingest_imap_t *imap = NULL;
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
    ingest_cases_set_survey(case_api, s_survey_secret,
                            s_survey_ttl_days * 86400, s_survey_url);
    kj_info("surveys", "b:tokens", s_survey_secret && *s_survey_secret,
            "i:ttl_days", (int)s_survey_ttl_days);
    outbox = kj_outbox_new(redis, cfg->prefix);

    const ingest_inbound_opts_t iopts = {
        .line_secret = s_line_secret,
        .meta_secret = s_meta_secret,
        .meta_verify_token = s_meta_token,
        .social_secrets = s_social_secrets,
        .tenant = s_inbound_tenant,
        .tolerance_s = s_social_tolerance_s,
    };
    char imsg[200];
    /* s_check refused a bad KUJO_SOCIAL_SECRETS already. */
    inbound = ingest_inbound_new(&iopts, kj_service_metrics(service), imsg,
                                 sizeof imsg);
    kj_info("inbound webhooks", "b:line", s_line_secret && *s_line_secret,
            "b:meta", s_meta_secret && *s_meta_secret, "b:social",
            s_social_secrets && *s_social_secrets, "s:tenant",
            s_inbound_tenant);

    zctx = zmq_ctx_new();
    push = kj_push_new_curve(zctx, (int)cfg->hwm, S_PUSH_TIMEOUT_MS,
                             kj_service_curve(service));
    const ingest_api_opts_t aopts = {
        .http_addr = s_http_addr,
        .max_body = s_max_body,
        .max_batch_body = s_max_batch_body,
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
        .inbound = inbound,
        .survey_secret = s_survey_secret,
        .survey_cases = cases,
        .survey_ttl_s = s_survey_ttl_days * 86400,
    };
    if (!store || !push || (auth && !limiter) ||
        !(api = ingest_api_new(&aopts, store, push, &metrics))) {
        code = 1; /* each constructor logged why */
        goto out;
    }
    down =
        kj_downstream_new(redis, push, cfg->prefix, "classifier", "received");
    if (s_imap_url && s_imap_url[0]) {
        const ingest_imap_opts_t mopts = {
            .urls = s_imap_url,
            .user = s_imap_user,
            .password = s_imap_password,
            .tenant = s_imap_tenant,
            .poll_ms = s_imap_poll_ms,
            .lease_ms = s_imap_lease_ms,
            .batch = s_imap_batch,
            .hwm = cfg->hwm,
            .store = sopts,
        };
        imap = ingest_imap_new(&mopts, service, &metrics, zctx);
        if (!imap || ingest_imap_start(imap) < 0) {
            code = 1;
            goto out;
        }
    }
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
    /* First: it writes through its own Redis connection and push. */
    ingest_imap_destroy(&imap);
    ingest_api_destroy(&api);
    ingest_inbound_destroy(&inbound);
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
