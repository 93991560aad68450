/* kj_rc: every outcome has one stable, unique snake_case name, and the
 * HTTP-facing ones carry the status their error bodies are sent with. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <string.h>

#include "kj_rc.h"
#include "kj_util.h"

/* The longest code an ingest error body may carry (INGEST_CODE_MAX - 1). */
#define S_CODE_MAX 31

static bool
s_snake_case(const char *s)
{
    if (!s[0] || s[0] < 'a' || s[0] > 'z')
        return false;
    for (const char *p = s; *p; p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                  (*p == '_' && p[1] != '_' && p[1] != '\0');
        if (!ok)
            return false;
    }
    return true;
}

Test(rc, snake_case_helper_rejects)
{
    /* The checker below would pass anything if this helper did. */
    cr_assert_not(s_snake_case(""));
    cr_assert_not(s_snake_case("Stale"));
    cr_assert_not(s_snake_case("push-failed"));
    cr_assert_not(s_snake_case("_x"));
    cr_assert_not(s_snake_case("x_"));
    cr_assert_not(s_snake_case("a__b"));
    cr_assert_not(s_snake_case("a b"));
    cr_assert(s_snake_case("invalid_utf8"));
}

Test(rc, every_value_has_a_unique_snake_case_name)
{
    for (int i = 0; i < KJ_RC_COUNT; i++) {
        const char *name = kj_rc_name((kj_rc_t)i);
        cr_assert(ne(str, (char *)name, "unknown"), "value %d has no name", i);
        cr_assert(s_snake_case(name), "value %d: \"%s\" is not snake_case", i,
                  name);
        cr_assert(le(sz, strlen(name), (size_t)S_CODE_MAX), "%s", name);
        for (int j = 0; j < i; j++)
            cr_assert(ne(str, (char *)name, (char *)kj_rc_name((kj_rc_t)j)),
                      "values %d and %d share \"%s\"", j, i, name);
    }
}

Test(rc, http_status)
{
    /* The documented codes of the ingest and analytics APIs. */
    static const struct {
        kj_rc_t rc;
        const char *code;
        unsigned status;
    } api[] = {
        {KJ_ERR_UNAVAILABLE, "unavailable", 503},
        {KJ_ERR_NOT_FOUND, "not_found", 404},
        {KJ_ERR_METHOD_NOT_ALLOWED, "method_not_allowed", 405},
        {KJ_ERR_BODY_TOO_LARGE, "body_too_large", 413},
        {KJ_ERR_NO_SUCH_COMPLAINT, "no_such_complaint", 404},
        {KJ_ERR_NOT_DEAD, "not_dead", 409},
        {KJ_ERR_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", 415},
        {KJ_ERR_INVALID_IDEM_KEY, "invalid_idempotency_key", 400},
        {KJ_ERR_INVALID_JSON, "invalid_json", 400},
        {KJ_ERR_INVALID_UTF8, "invalid_utf8", 400},
        {KJ_ERR_WRONG_TYPE, "wrong_type", 400},
        {KJ_ERR_MISSING_FIELD, "missing_field", 400},
        {KJ_ERR_UNKNOWN_FIELD, "unknown_field", 400},
        {KJ_ERR_FIELD_TOO_LONG, "field_too_long", 400},
        {KJ_ERR_TEXT_TOO_LONG, "text_too_long", 413},
        {KJ_ERR_EMPTY_TEXT, "empty_text", 400},
        {KJ_ERR_UNKNOWN_CHANNEL, "unknown_channel", 400},
        {KJ_ERR_INVALID_TIME, "invalid_time", 400},
        {KJ_ERR_UNAUTHORIZED, "unauthorized", 401},
        {KJ_ERR_FORBIDDEN, "forbidden", 403},
        {KJ_ERR_RATE_LIMITED, "rate_limited", 429},
        {KJ_ERR_INVALID_HEADER, "invalid_header", 400},
        {KJ_ERR_BAD_REQUEST, "bad_request", 400},
        {KJ_ERR_NOT_IMPLEMENTED, "not_implemented", 501},
        {KJ_ERR_OUTCOME_UNKNOWN, "outcome_unknown", 503},
        {KJ_ERR_TOO_SLOW, "too_slow", 408},
        {KJ_ERR_NO_SUCH_CASE, "no_such_case", 404},
        {KJ_ERR_NO_SUCH_AGENT, "no_such_agent", 404},
        {KJ_ERR_NO_SUCH_CUSTOMER, "no_such_customer", 404},
        {KJ_ERR_ILLEGAL_TRANSITION, "illegal_transition", 409},
        {KJ_ERR_AT_CAPACITY, "at_capacity", 409},
        {KJ_ERR_INVALID_VALUE, "invalid_value", 400},
        {KJ_ERR_NOT_IN_TEAM, "not_in_team", 409},
        {KJ_ERR_BAD_SIGNATURE, "bad_signature", 401},
        {KJ_ERR_BAD_TOKEN, "bad_token", 401},
        {KJ_ERR_TOKEN_USED, "token_used", 409},
        {KJ_ERR_DECODE, "decode_error", 500},
        {KJ_ERR_INTERNAL, "internal_error", 500},
    };
    for (size_t i = 0; i < KJ_ARRAY_LEN(api); i++) {
        cr_assert(eq(str, (char *)kj_rc_name(api[i].rc), (char *)api[i].code));
        cr_assert(eq(u32, kj_rc_http_status(api[i].rc), api[i].status), "%s",
                  api[i].code);
    }
    /* Pipeline outcomes never reach an HTTP client. */
    cr_assert(eq(u32, kj_rc_http_status(KJ_OK), 0));
    cr_assert(eq(u32, kj_rc_http_status(KJ_DEAD), 0));
    cr_assert(eq(u32, kj_rc_http_status(KJ_ERR_CIRCUIT_OPEN), 0));
    cr_assert(eq(u32, kj_rc_http_status(KJ_RC_COUNT), 0));
    cr_assert(eq(u32, kj_rc_http_status((kj_rc_t)-1), 0));
    /* Every status given is an error status. */
    for (int i = 0; i < KJ_RC_COUNT; i++) {
        unsigned st = kj_rc_http_status((kj_rc_t)i);
        cr_assert(st == 0 || (st >= 400 && st <= 599), "%s: %u",
                  kj_rc_name((kj_rc_t)i), st);
    }
}

Test(rc, stage_reason_labels_keep_their_strings)
{
    /* kj_stage's reason="..." labels; alert rules and
     * tests/integration/test_alert_metrics.sh match these. */
    cr_assert(eq(str, (char *)kj_rc_name(KJ_ERR_DECODE), "decode_error"));
    cr_assert(eq(str, (char *)kj_rc_name(KJ_ERR_STALE), "stale"));
    cr_assert(eq(str, (char *)kj_rc_name(KJ_RETRY), "retry"));
    cr_assert(eq(str, (char *)kj_rc_name(KJ_DEAD), "dead"));
    cr_assert(eq(str, (char *)kj_rc_name(KJ_ERR_REDIS), "redis_error"));
    cr_assert(eq(str, (char *)kj_rc_name(KJ_ERR_PUSH), "push_failed"));
    cr_assert(eq(str, (char *)kj_rc_name(KJ_DEFERRED), "deferred"));
    cr_assert(eq(str, (char *)kj_rc_name(KJ_ERR_INVALID), "invalid"));
}

Test(rc, reason_starts_with_the_name)
{
    char buf[64];
    kj_rc_reason(buf, sizeof buf, KJ_ERR_HTTP, "HTTP %d after %d attempts", 503,
                 5);
    cr_assert(eq(str, buf, "http_error: HTTP 503 after 5 attempts"));

    /* Cut, still terminated, the name first. */
    char small[16];
    kj_rc_reason(small, sizeof small, KJ_ERR_CIRCUIT_OPEN, "for %s",
                 "https://example.org:443");
    cr_assert(eq(str, small, "circuit_open: f"));
    char tiny[5];
    kj_rc_reason(tiny, sizeof tiny, KJ_ERR_CONFIG, "x");
    cr_assert(eq(str, tiny, "conf"));
}
