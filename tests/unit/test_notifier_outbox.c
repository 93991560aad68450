/* notifier_outbox's choice of endpoint: only from the notifier's own
 * configuration. Internal kinds go to the team's webhook, customer kinds
 * to the channel's connector; either falls back to KUJO_WEBHOOK_URL, and
 * without any there is none. No Redis is contacted: the outbox connects
 * only when it claims. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <string.h>

#include <curl/curl.h>

#include "kj_redis.h"
#include "kj_rules.h"
#include "notifier_outbox.h"

#define RULES                                                                  \
    "{\"version\":1,\"categories\":[],"                                        \
    "\"connectors\":{\"x\":\"http://127.0.0.1:9/x\"},"                         \
    "\"teams\":[{\"name\":\"care-en\",\"webhook\":\"http://127.0.0.1:9/t\"},"  \
    "{\"name\":\"care-ja\"}],"                                                 \
    "\"sla_policies\":[{\"name\":\"std\",\"first_response_minutes\":60,"       \
    "\"resolution_hours\":24}],"                                               \
    "\"routes\":[{\"name\":\"ja\",\"when\":{\"language\":[\"ja\"]},"           \
    "\"team\":\"care-ja\",\"sla\":\"std\",\"priority\":\"p3\"},"               \
    "{\"name\":\"default\",\"team\":\"care-en\",\"sla\":\"std\","              \
    "\"priority\":\"p3\"}]}"

static notifier_outbox_t *
s_new(kj_redis_t *r, const kj_rules_t *rules, const char *fallback)
{
    const notifier_outbox_opts_t o = {.redis = r,
                                      .prefix = "kt",
                                      .webhook_url = fallback,
                                      .rules = rules,
                                      .http_timeout_ms = 1000,
                                      .lease_ms = 2000,
                                      .max_attempts = 3,
                                      .retry_base_ms = 10,
                                      .retry_cap_ms = 100,
                                      .poll_ms = 100};
    notifier_outbox_t *ob = notifier_outbox_new(&o);
    cr_assert(ob != NULL);
    return ob;
}

Test(notifier_outbox, endpoints_by_kind)
{
    cr_assert(eq(int, curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK));
    char err[256];
    kj_rules_t *rules = kj_rules_parse(RULES, strlen(RULES), err, sizeof err);
    cr_assert(rules != NULL, "%s", err);
    kj_redis_t *r = kj_redis_new("redis://127.0.0.1:1/0", 100, err, sizeof err);
    cr_assert(r != NULL, "%s", err);

    notifier_outbox_t *ob = s_new(r, rules, "http://127.0.0.1:9/default");
    /* Internal: the team's webhook, else the default. */
    cr_assert(
        eq(str,
           (char *)notifier_outbox_endpoint(ob, "sla_warning", "care-en", "x"),
           "http://127.0.0.1:9/t"));
    cr_assert(eq(
        str, (char *)notifier_outbox_endpoint(ob, "escalation", "care-ja", "x"),
        "http://127.0.0.1:9/default"));
    cr_assert(eq(
        str, (char *)notifier_outbox_endpoint(ob, "follow_up", "nobody", "x"),
        "http://127.0.0.1:9/default"));
    /* Customer-facing: the channel's connector, never the team's. */
    cr_assert(
        eq(str,
           (char *)notifier_outbox_endpoint(ob, "customer_ack", "care-en", "x"),
           "http://127.0.0.1:9/x"));
    cr_assert(eq(str,
                 (char *)notifier_outbox_endpoint(ob, "survey_request",
                                                  "care-en", "email"),
                 "http://127.0.0.1:9/default"));
    notifier_outbox_destroy(&ob);

    /* Without a default, a customer kind with no connector has none. */
    ob = s_new(r, rules, NULL);
    cr_assert(zero(ptr, (void *)notifier_outbox_endpoint(ob, "customer_ack",
                                                         "care-en", "email")));
    cr_assert(
        eq(str,
           (char *)notifier_outbox_endpoint(ob, "customer_ack", "care-en", "x"),
           "http://127.0.0.1:9/x"));
    notifier_outbox_destroy(&ob);
    /* Without rules, only the default. */
    ob = s_new(r, NULL, NULL);
    cr_assert(zero(ptr, (void *)notifier_outbox_endpoint(ob, "sla_warning",
                                                         "care-en", "x")));
    notifier_outbox_destroy(&ob);
    kj_redis_destroy(&r);
    kj_rules_destroy(&rules);
    curl_global_cleanup();
}
