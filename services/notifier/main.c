/* kujo-notifier: the last pipeline stage. Takes routed complaints, POSTs a
 * signed team alert to the team's webhook, and records the complaint
 * delivered, or retries with backoff until it is dead-lettered; and
 * delivers what other stages owe in the outbox (notifier_outbox.c). The
 * runtime is kj_service, the loop kj_stage; delivery is notifier_deliver.c
 * over notifier_http.c. */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "kj_log.h"
#include "kj_outbox.h"
#include "kj_service.h"
#include "kj_stage.h"
#include "kj_util.h"
#include "notifier_deliver.h"
#include "notifier_http.h"
#include "notifier_smtp.h"

static char *s_webhook_url, *s_webhook_secret, *s_case_url;
static int64_t s_http_timeout_ms, s_retry_base_ms, s_retry_cap_ms;
static int64_t s_circuit_failures, s_circuit_open_ms, s_circuit_open_max_ms;
static int64_t s_endpoint_inflight;
static int64_t s_outbox_poll_ms;
static char *s_notice_rate;
static kj_outbox_rate_t s_rates[KJ_OUTBOX_RATES_MAX];
static size_t s_n_rates;
static char *s_smtp_url, *s_smtp_from, *s_smtp_user, *s_smtp_password;
static char *s_smtp_tls;

static const kj_cfg_opt_t s_own[] = {
    {.env = "KUJO_WEBHOOK_URL",
     .flag = "webhook-url",
     .type = KJ_CFG_STR,
     .help = "webhook for teams that name none",
     .secret = true, /* its path is often the secret (Slack's is) */
     .dest = &s_webhook_url},
    {.env = "KUJO_WEBHOOK_SECRET",
     .flag = "webhook-secret",
     .type = KJ_CFG_STR,
     .help = "HMAC-SHA256 key for Kujo-Signature",
     .secret = true,
     .dest = &s_webhook_secret},
    {.env = "KUJO_CASE_URL",
     .flag = "case-url",
     .type = KJ_CFG_STR,
     .help = "link to a case in Slack messages, {case_id} replaced (e.g. "
             "https://care.example.com/cases/{case_id}); unset: no button",
     .dest = &s_case_url},
    {.env = "KUJO_HTTP_TIMEOUT_MS",
     .flag = "http-timeout-ms",
     .type = KJ_CFG_INT,
     .def = "5000",
     .min = 100,
     .max = 600000,
     .help = "webhook request timeout",
     .dest = &s_http_timeout_ms},
    {.env = "KUJO_RETRY_BASE_MS",
     .flag = "retry-base-ms",
     .type = KJ_CFG_INT,
     .def = "500",
     .min = 1,
     .max = 3600000,
     .help = "retry backoff base",
     .dest = &s_retry_base_ms},
    {.env = "KUJO_RETRY_CAP_MS",
     .flag = "retry-cap-ms",
     .type = KJ_CFG_INT,
     .def = "60000",
     .min = 1,
     .max = 86400000,
     .help = "retry backoff cap",
     .dest = &s_retry_cap_ms},
    {.env = "KUJO_CIRCUIT_FAILURES",
     .flag = "circuit-failures",
     .type = KJ_CFG_INT,
     .def = "5",
     .min = 0,
     .max = 1000,
     .help = "consecutive failed requests that open an endpoint's circuit "
             "(0: no breaker)",
     .dest = &s_circuit_failures},
    {.env = "KUJO_CIRCUIT_OPEN_MS",
     .flag = "circuit-open-ms",
     .type = KJ_CFG_INT,
     .def = "30000",
     .min = 10,
     .max = 3600000,
     .help = "how long an open circuit holds deliveries before one trial "
             "request",
     .dest = &s_circuit_open_ms},
    {.env = "KUJO_CIRCUIT_OPEN_MAX_MS",
     .flag = "circuit-open-max-ms",
     .type = KJ_CFG_INT,
     .def = "300000",
     .min = 10,
     .max = 86400000,
     .help = "cap of the open time, which doubles after each failed trial",
     .dest = &s_circuit_open_max_ms},
    {.env = "KUJO_ENDPOINT_CONCURRENCY",
     .flag = "endpoint-concurrency",
     .type = KJ_CFG_INT,
     .def = "0",
     .min = 0,
     .max = 100000,
     .help = "requests in flight to one endpoint (scheme://host:port) at "
             "most; more wait without spending an attempt (0: no bound)",
     .dest = &s_endpoint_inflight},
    {.env = "KUJO_OUTBOX_POLL_MS",
     .flag = "outbox-poll-ms",
     .type = KJ_CFG_INT,
     .def = "1000",
     .min = 10,
     .max = 60000,
     .help = "how often due outbox jobs (acknowledgements, SLA warnings, "
             "escalations, follow-ups, surveys) are claimed",
     .dest = &s_outbox_poll_ms},
    {.env = "KUJO_NOTICE_RATE",
     .flag = "notice-rate",
     .type = KJ_CFG_STR,
     .def = "",
     .help = "incident notices per second per channel, "
             "\"email=50,line=20,web=100\" (\"*\" any other channel; empty: "
             "unlimited), held across copies (set analytics' the same)",
     .dest = &s_notice_rate},
    {.env = "KUJO_SMTP_URL",
     .flag = "smtp-url",
     .type = KJ_CFG_STR,
     .help = "smtp://host:port or smtps://host:port: customer "
             "acknowledgements and surveys by e-mail when no connector is "
             "named for the channel (unset: by webhook only)",
     .dest = &s_smtp_url},
    {.env = "KUJO_SMTP_FROM",
     .flag = "smtp-from",
     .type = KJ_CFG_STR,
     .help = "From: of customer e-mail, \"care@example.jp\" or "
             "\"Name <care@example.jp>\" (required with KUJO_SMTP_URL)",
     .dest = &s_smtp_from},
    {.env = "KUJO_SMTP_USER",
     .flag = "smtp-user",
     .type = KJ_CFG_STR,
     .help = "SMTP AUTH user (unset: no AUTH)",
     .secret = true,
     .dest = &s_smtp_user},
    {.env = "KUJO_SMTP_PASSWORD",
     .flag = "smtp-password",
     .type = KJ_CFG_STR,
     .help = "SMTP AUTH password",
     .secret = true,
     .dest = &s_smtp_password},
    {.env = "KUJO_SMTP_TLS",
     .flag = "smtp-tls",
     .type = KJ_CFG_STR,
     .def = "try",
     .help = "STARTTLS on smtp://: try (if offered), require, or off; "
             "smtps:// is always TLS",
     .dest = &s_smtp_tls},
};

static int
s_check(const kj_service_cfg_t *cfg);

static const kj_service_def_t s_def = {
    .binary = "kujo-notifier",
    .name = "notifier",
    .summary = "Deliver routed complaints to team webhooks.",
    .admin_default = "127.0.0.1:9104",
    .features = KJ_SVC_PUSH | KJ_SVC_PULL | KJ_SVC_RULES,
    /* Up to 4 x KUJO_BATCH requests are in flight, so it accepts larger
     * batches than the other stages. */
    .batch_limit = 10000,
    .rules_help = "rules file whose team webhooks receive the teams' alerts "
                  "(optional: without it every alert goes to "
                  "KUJO_WEBHOOK_URL; reread on SIGHUP)",
    .own = s_own,
    .n_own = sizeof s_own / sizeof s_own[0],
    .check = s_check,
};

/* Checks across options. Prints each problem; returns how many. */
static int
s_check(const kj_service_cfg_t *cfg)
{
    int problems = 0;
    /* A request still running when its lease ends would be claimed and
     * sent again by another copy while this one waits for the answer. */
    if (cfg->lease_ms <= s_http_timeout_ms) {
        fprintf(stderr,
                "kujo-notifier: KUJO_LEASE_MS (%lld) must exceed "
                "KUJO_HTTP_TIMEOUT_MS (%lld)\n",
                (long long)cfg->lease_ms, (long long)s_http_timeout_ms);
        problems++;
    }
    if (s_retry_cap_ms < s_retry_base_ms) {
        fprintf(stderr,
                "kujo-notifier: KUJO_RETRY_CAP_MS (%lld) is below "
                "KUJO_RETRY_BASE_MS (%lld)\n",
                (long long)s_retry_cap_ms, (long long)s_retry_base_ms);
        problems++;
    }
    if (s_webhook_url && s_webhook_url[0] && !notifier_url_ok(s_webhook_url)) {
        fprintf(stderr, "kujo-notifier: KUJO_WEBHOOK_URL must be an http:// or "
                        "https:// URL\n");
        problems++;
    }
    if (s_case_url && s_case_url[0] &&
        (!notifier_url_ok(s_case_url) || !strstr(s_case_url, "{case_id}"))) {
        fprintf(stderr, "kujo-notifier: KUJO_CASE_URL must be an http:// or "
                        "https:// URL containing {case_id}\n");
        problems++;
    }
    char why[200];
    if (kj_outbox_rates_parse(s_notice_rate, s_rates, KJ_ARRAY_LEN(s_rates),
                              &s_n_rates, why, sizeof why) < 0) {
        fprintf(stderr, "kujo-notifier: KUJO_NOTICE_RATE: %s\n", why);
        problems++;
    }
    if (s_circuit_open_max_ms < s_circuit_open_ms) {
        fprintf(stderr,
                "kujo-notifier: KUJO_CIRCUIT_OPEN_MAX_MS (%lld) is below "
                "KUJO_CIRCUIT_OPEN_MS (%lld)\n",
                (long long)s_circuit_open_max_ms, (long long)s_circuit_open_ms);
        problems++;
    }
    if (s_smtp_url && s_smtp_url[0]) {
        char err[KJ_ERRMSG_MAX];
        const notifier_smtp_opts_t so = {
            .url = s_smtp_url, .from = s_smtp_from, .tls = s_smtp_tls};
        notifier_smtp_t *smtp = notifier_smtp_new(&so, err, sizeof err);
        if (!smtp) {
            fprintf(stderr, "kujo-notifier: %s\n", err);
            problems++;
        }
        notifier_smtp_destroy(&smtp);
        if (s_smtp_user && s_smtp_user[0] && !s_smtp_password) {
            fprintf(stderr, "kujo-notifier: KUJO_SMTP_USER needs "
                            "KUJO_SMTP_PASSWORD (or _FILE)\n");
            problems++;
        }
    }
    return problems;
}

int
main(int argc, char **argv)
{
    kj_stage_t *stage = NULL;
    notifier_t *notifier = NULL;
    bool curl_up = false;
    int rc = 0;

    kj_service_t *service = kj_service_new_from_args(&s_def, argc, argv, &rc);
    if (!service)
        return rc;
    const kj_service_cfg_t *cfg = kj_service_cfg(service);
    /* curl_global_init is not thread-safe: before ZeroMQ and curl start
     * threads of their own. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        kj_error("curl_global_init failed");
        rc = 1;
        goto out;
    }
    curl_up = true;
    kj_stage_opts_t so =
        kj_stage_opts_for(service, "routed", "delivered", NULL);
    /* The POST happens before the transition that would refuse a forged
     * envelope, so pushes are checked against Redis first. */
    so.verify_pushed = true;
    stage = kj_stage_new(&so);
    if (!stage) {
        rc = 1;
        goto out;
    }
    const notifier_smtp_opts_t smtp = {.url = s_smtp_url,
                                       .from = s_smtp_from,
                                       .user = s_smtp_user,
                                       .password = s_smtp_password,
                                       .tls = s_smtp_tls};
    /* Credentials over a connection that may stay plain: said once. */
    if (s_smtp_url && s_smtp_user && s_smtp_user[0] &&
        strncmp(s_smtp_url, "smtps://", 8) != 0 &&
        strcmp(s_smtp_tls, "require") != 0)
        kj_warn("smtp auth may go unencrypted", "s:hint",
                "set KUJO_SMTP_TLS=require or use smtps://");
    const notifier_opts_t no = {
        .webhook_url = s_webhook_url,
        .webhook_secret = s_webhook_secret,
        .case_url = s_case_url,
        .http_timeout_ms = s_http_timeout_ms,
        .retry_base_ms = s_retry_base_ms,
        .retry_cap_ms = s_retry_cap_ms,
        .batch_max = cfg->batch,
        .circuit_failures = s_circuit_failures,
        .circuit_open_ms = s_circuit_open_ms,
        .circuit_open_max_ms = s_circuit_open_max_ms,
        .endpoint_inflight = s_endpoint_inflight,
        .rules = kj_service_rules(service),
        .redis = kj_stage_redis(stage),
        .prefix = so.prefix,
        .lease_ms = so.lease_ms,
        .max_attempts = so.max_attempts,
        .outbox_poll_ms = s_outbox_poll_ms,
        .smtp = s_smtp_url && s_smtp_url[0] ? &smtp : NULL,
        .notice_rates = s_rates,
        .n_notice_rates = s_n_rates,
    };
    notifier = notifier_new(stage, &no);
    if (!notifier) {
        rc = 1;
        goto out;
    }
    rc = kj_stage_run(stage, notifier_process, notifier_hooks(), notifier);

out:
    /* The stage first: it drives the notifier's callbacks. */
    kj_stage_destroy(&stage);
    notifier_destroy(&notifier);
    if (curl_up)
        curl_global_cleanup();
    kj_service_destroy(&service);
    return rc;
}
