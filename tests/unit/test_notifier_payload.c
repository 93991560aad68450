/* The team alert's wire format: JSON fields from an envelope, the one-line
 * summary, the headers and their signature. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "kj_hmac.h"
#include "notifier_http.h"
#include "notifier_payload.h"

static kj_envelope_t *
s_routed(void)
{
    kj_envelope_t *env = calloc(1, sizeof *env);
    strcpy(env->trace_id, "0123456789abcdef0123456789abcdef");
    env->attempt = 2;
    strcpy(env->complaint.id, "0193a5b2c3d4e5f6a7b8");
    strcpy(env->complaint.tenant, "default");
    strcpy(env->complaint.channel, "x");
    strcpy(env->complaint.customer.id, "c-17");
    strcpy(env->complaint.customer.tier, "gold");
    strcpy(env->complaint.customer.email, "hidden@example.com");
    strcpy(env->complaint.text, "my card 4111 1111 1111 1111 was charged");
    env->complaint.is_public = true;
    env->has_triage = true;
    strcpy(env->triage.language, "ja");
    strcpy(env->triage.sentiment, "negative");
    strcpy(env->triage.category, "outage");
    strcpy(env->triage.urgency, "high");
    env->triage.actionable = true;
    strcpy(env->triage.masked_text, "my card [card] was charged");
    env->has_assignment = true;
    strcpy(env->assignment.team, "care-ja");
    strcpy(env->assignment.priority, "p2");
    strcpy(env->assignment.sla_policy, "social");
    env->assignment.due_at_ms = 1795428000000; /* 2026-11-23T10:00:00Z */
    return env;
}

Test(notifier_payload, usage)
{
    kj_envelope_t *env = s_routed();
    size_t len = 0;
    char *body = notifier_payload(env, &len);
    cr_assert(eq(sz, len, strlen(body)));

    notifier_headers_t h;
    cr_assert(eq(int,
                 notifier_headers(&h, env, NOTIFIER_KIND_TEAM_ALERT, "s3cret",
                                  1795420000, body, len),
                 0));
    cr_assert(eq(str, h.content_type, "application/json"));
    cr_assert(eq(str, h.user_agent, "kujo/" KJ_VERSION));
    cr_assert(eq(str, h.idempotency_key, "0193a5b2c3d4e5f6a7b8:team_alert"));
    cr_assert(
        kj_signature_verify("s3cret", h.signature, body, len, 1795420010, 300));
    free(body);
    free(env);
}

Test(notifier_payload, fields_in_documented_order)
{
    kj_envelope_t *env = s_routed();
    size_t len;
    char *body = notifier_payload(env, &len);
    json_error_t jerr;
    json_t *o = json_loadb(body, len, 0, &jerr);
    cr_assert_not_null(o, "%s", jerr.text);

    cr_assert(eq(str, (char *)json_string_value(json_object_get(o, "text")),
                 "[p2] outage complaint (ja, x) for care-ja, first reply due "
                 "2026-11-23T10:00:00Z"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(o, "kind")),
                 "team_alert"));
    cr_assert(eq(str,
                 (char *)json_string_value(json_object_get(o, "complaint_id")),
                 "0193a5b2c3d4e5f6a7b8"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(o, "trace_id")),
                 env->trace_id));
    cr_assert(eq(int, json_integer_value(json_object_get(o, "attempt")), 2));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(o, "team")),
                 "care-ja"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(o, "priority")),
                 "p2"));
    cr_assert(eq(str,
                 (char *)json_string_value(json_object_get(o, "sla_policy")),
                 "social"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(o, "due_at")),
                 "2026-11-23T10:00:00.000Z"));
    cr_assert(eq(int, json_is_true(json_object_get(o, "public")), 1));
    cr_assert(eq(int, json_is_true(json_object_get(o, "actionable")), 1));
    cr_assert(eq(str,
                 (char *)json_string_value(json_object_get(o, "sentiment")),
                 "negative"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(o, "urgency")),
                 "high"));
    cr_assert(eq(str,
                 (char *)json_string_value(json_object_get(o, "masked_text")),
                 "my card [card] was charged"));
    json_t *cust = json_object_get(o, "customer");
    cr_assert(eq(str, (char *)json_string_value(json_object_get(cust, "id")),
                 "c-17"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(cust, "tier")),
                 "gold"));
    /* Exactly id and tier: no e-mail, name or original text leave kujo. */
    cr_assert(eq(sz, json_object_size(cust), 2));
    cr_assert_null(strstr(body, "hidden@example.com"));
    cr_assert_null(strstr(body, "4111"));

    /* The documented order: text first, customer last. */
    const char *keys[] = {
        "text",       "kind",     "complaint_id", "trace_id",  "attempt",
        "team",       "priority", "sla_policy",   "due_at",    "channel",
        "public",     "case_id",  "assignee",     "suggested_reply",
        "language",   "category", "sentiment",    "urgency",   "actionable",
        "subject",    "masked_text", "customer"};
    const char *prev = body;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char quoted[32];
        snprintf(quoted, sizeof quoted, "\"%s\":", keys[i]);
        const char *at = strstr(body, quoted);
        cr_assert_not_null(at, "missing %s", keys[i]);
        cr_assert(ge(ptr, (void *)at, (void *)prev), "%s out of order",
                  keys[i]);
        prev = at;
    }
    cr_assert(eq(sz, json_object_size(o), sizeof keys / sizeof keys[0]));
    json_decref(o);
    free(body);
    free(env);
}

Test(notifier_payload, summary_leaves_out_unknown_parts)
{
    kj_envelope_t *env = calloc(1, sizeof *env);
    strcpy(env->complaint.id, "0193a5b2c3d4e5f6a7b8");
    strcpy(env->complaint.channel, "email");
    char out[256];
    size_t n = notifier_summary(env, out, sizeof out);
    cr_assert(eq(str, out, "complaint (email)"));
    cr_assert(eq(sz, n, strlen(out)));

    env->has_assignment = true;
    strcpy(env->assignment.team, "care-en");
    strcpy(env->assignment.priority, "p3");
    notifier_summary(env, out, sizeof out);
    cr_assert(eq(str, out, "[p3] complaint (email) for care-en"));

    /* Without a triage the payload says so with nulls, not empty guesses. */
    size_t len;
    char *body = notifier_payload(env, &len);
    json_t *o = json_loadb(body, len, 0, NULL);
    cr_assert_not_null(o);
    cr_assert(eq(int, json_is_null(json_object_get(o, "language")), 1));
    cr_assert(eq(int, json_is_null(json_object_get(o, "actionable")), 1));
    cr_assert(eq(int, json_is_null(json_object_get(o, "due_at")), 1));
    json_decref(o);
    free(body);
    free(env);
}

Test(notifier_payload, summary_escapes_slack_markup_and_stays_one_line)
{
    kj_envelope_t *env = s_routed();
    strcpy(env->assignment.team, "care <ja> & co\nnext");
    char out[256];
    notifier_summary(env, out, sizeof out);
    cr_assert_not_null(strstr(out, "for care &lt;ja&gt; &amp; co next,"));
    cr_assert_null(strchr(out, '\n'));

    /* A small buffer truncates without splitting an escape. */
    char small[24];
    size_t n = notifier_summary(env, small, sizeof small);
    cr_assert(eq(sz, n, strlen(small)));
    cr_assert(lt(sz, n, sizeof small));
    free(env);
}

Test(notifier_payload, invalid_utf8_is_replaced_not_dropped)
{
    kj_envelope_t *env = s_routed();
    strcpy(env->complaint.subject, "bad \xff\xfe bytes");
    size_t len;
    char *body = notifier_payload(env, &len);
    json_t *o = json_loadb(body, len, 0, NULL);
    cr_assert_not_null(o);
    cr_assert(eq(str, (char *)json_string_value(json_object_get(o, "subject")),
                 "bad ?? bytes"));
    json_decref(o);
    free(body);
    free(env);
}

Test(notifier_payload, nothing_unmasked_without_a_triage)
{
    kj_envelope_t *env = s_routed();
    env->has_triage = false;
    strcpy(env->complaint.subject, "refund 4111 1111 1111 1111");
    size_t len;
    char *body = notifier_payload(env, &len);
    cr_assert(zero(ptr, strstr(body, "4111")), "%s", body);
    cr_assert(zero(ptr, strstr(body, "hidden@example.com")), "%s", body);
    free(body);
    free(env);
}

Test(notifier_payload, no_secret_no_signature)
{
    kj_envelope_t *env = s_routed();
    size_t len;
    char *body = notifier_payload(env, &len);
    notifier_headers_t h;
    cr_assert(eq(
        int,
        notifier_headers(&h, env, NOTIFIER_KIND_TEAM_ALERT, NULL, 1, body, len),
        0));
    cr_assert(eq(str, h.signature, ""));
    cr_assert(eq(
        int,
        notifier_headers(&h, env, NOTIFIER_KIND_TEAM_ALERT, "", 1, body, len),
        0));
    cr_assert(eq(str, h.signature, ""));
    free(body);
    free(env);
}

Test(notifier_payload, signature_fails_for_changed_body_or_wrong_secret)
{
    kj_envelope_t *env = s_routed();
    size_t len;
    char *body = notifier_payload(env, &len);
    notifier_headers_t h;
    cr_assert(eq(int,
                 notifier_headers(&h, env, NOTIFIER_KIND_TEAM_ALERT, "k", 100,
                                  body, len),
                 0));
    cr_assert(eq(int, strncmp(h.signature, "t=100,v1=", 9), 0));
    cr_assert(eq(sz, strlen(h.signature), 9 + 64));
    cr_assert(kj_signature_verify("k", h.signature, body, len, 100, 0));
    cr_assert_not(kj_signature_verify("other", h.signature, body, len, 100, 0));
    body[len - 2] ^= 1;
    cr_assert_not(kj_signature_verify("k", h.signature, body, len, 100, 0));
    free(body);
    free(env);
}

/* The delivery engine's pure edges: which URLs are accepted, what of them
 * is stored, and the bound on requests in flight. */

Test(notifier_http, url_checks)
{
    cr_assert(notifier_url_ok("http://hooks.example.com/a"));
    cr_assert(notifier_url_ok("HTTPS://hooks.example.com:8443"));
    cr_assert_not(notifier_url_ok("file:///etc/passwd"));
    cr_assert_not(notifier_url_ok("gopher://example.com/"));
    cr_assert_not(notifier_url_ok("http://"));
    cr_assert_not(notifier_url_ok("http:///path"));
    cr_assert_not(notifier_url_ok("http://a b/"));
    cr_assert_not(notifier_url_ok("http://a/\n"));
    cr_assert_not(notifier_url_ok(""));
}

Test(notifier_http, origin_hides_credentials_and_paths)
{
    char out[128];
    notifier_url_origin("https://hooks.slack.com/services/T0/B0/XXXX", out,
                        sizeof out);
    cr_assert(eq(str, out, "https://hooks.slack.com:443"));
    notifier_url_origin("http://user:pw@10.0.0.7:9000/alerts?token=1", out,
                        sizeof out);
    cr_assert(eq(str, out, "http://10.0.0.7:9000"));
    notifier_url_origin("http://Example.COM/", out, sizeof out);
    cr_assert(eq(str, out, "http://example.com:80"));
    notifier_url_origin("http://example.com?q", out, sizeof out);
    cr_assert(eq(str, out, "http://example.com:80"));
    notifier_url_origin("https://u:p@[::1]:8443#frag", out, sizeof out);
    cr_assert(eq(str, out, "https://[::1]:8443"));
    notifier_url_origin("nonsense", out, sizeof out);
    cr_assert(eq(str, out, "(invalid URL)"));
}

static void
s_never(void *ctx, kj_envelope_t *env, const char *url,
        const notifier_result_t *res)
{
    (void)ctx;
    (void)env;
    (void)url;
    (void)res;
    cr_fail("no request may finish in this test");
}

Test(notifier_http, slots_bound_requests_in_flight)
{
    cr_assert(eq(int, curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK));
    notifier_http_t *http = notifier_http_new(1000, 2, s_never, NULL);
    cr_assert_not_null(http);
    cr_assert(eq(sz, notifier_http_capacity(http), 2));
    kj_envelope_t *env = s_routed();
    notifier_headers_t h;
    char err[128];
    /* Port 9 (discard) on loopback: nothing is sent before after_poll, so
     * these stay in flight for the whole test. */
    for (int i = 0; i < 3; i++) {
        size_t len;
        char *body = notifier_payload(env, &len);
        cr_assert(eq(int,
                     notifier_headers(&h, env, NOTIFIER_KIND_TEAM_ALERT, "k", 1,
                                      body, len),
                     0));
        int rc = notifier_http_start(http, "http://127.0.0.1:9/x", env, &body,
                                     len, &h, err, sizeof err);
        if (i < 2) {
            cr_assert(eq(int, rc, 0), "%s", err);
            cr_assert_null(body); /* taken */
        } else {
            cr_assert(eq(int, rc, -1));
            cr_assert(eq(str, err, "all 2 delivery slots busy"));
            cr_assert_not_null(body); /* still the caller's */
            free(body);
        }
    }
    cr_assert(eq(sz, notifier_http_inflight(http), 2));
    /* curl asked to be called at once to start them. */
    cr_assert(eq(long, notifier_http_timeout_ms(http), 0));
    /* Destroying with requests in flight frees them without callbacks. */
    notifier_http_destroy(&http);
    cr_assert_null(http);
    free(env);
    curl_global_cleanup();
}
