/* analytics_incident's body parsers: POST /v1/incidents and POST
 * /v1/incidents/{id}/resolve, and the Idempotency-Key check. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <string.h>

#include "analytics_incident.h"

#define NOW 1796716800000LL /* 2026-12-08T00:00:00Z */

static kj_rc_t
s_open(const char *body, analytics_incident_req_t *req, char *err,
       size_t err_size)
{
    return analytics_incident_parse_open(body, strlen(body), NOW, req, err,
                                         err_size);
}

Test(incident, usage)
{
    const char *body =
        "{\"category\": \"delivery\", \"window\": {\"from\": "
        "\"2026-12-07T00:00:00Z\", \"to\": \"2026-12-07T12:00:00+09:00\"},"
        " \"customers\": [\"U1\", \"U2\"], \"title\": \"Late parcels\","
        " \"message\": {\"ja\": \"配送が遅れています\", \"en\": \"Parcels are "
        "late\"}}";
    analytics_incident_req_t req;
    char err[256];
    cr_assert(eq(int, s_open(body, &req, err, sizeof err), KJ_OK), "%s", err);
    cr_assert(eq(str, req.category, "delivery"));
    cr_assert(eq(str, req.title, "Late parcels"));
    cr_assert(eq(i64, req.from_ms, 1796601600000LL));
    cr_assert(eq(i64, req.to_ms, 1796612400000LL)); /* 03:00Z */
    cr_assert(eq(sz, json_array_size(req.customers), 2));
    cr_assert(eq(str, req.message_ja, "配送が遅れています"));
    cr_assert(eq(str, req.message_en, "Parcels are late"));
    analytics_incident_req_clear(&req);
    analytics_incident_req_clear(&req); /* safe twice */
}

Test(incident, to_defaults_to_now_and_customers_alone_suffice)
{
    analytics_incident_req_t req;
    char err[256];
    cr_assert(eq(int,
                 s_open("{\"category\":\"billing\",\"window\":{\"from\":"
                        "\"2026-12-07T00:00:00Z\"},\"message\":{\"en\":\"x\"}}",
                        &req, err, sizeof err),
                 KJ_OK));
    cr_assert(eq(i64, req.to_ms, NOW));
    cr_assert(eq(str, req.message_ja, ""));
    analytics_incident_req_clear(&req);
    cr_assert(eq(int,
                 s_open("{\"customers\":[\"a\"],\"message\":{\"ja\":\"x\"}}",
                        &req, err, sizeof err),
                 KJ_OK));
    cr_assert(eq(str, req.category, ""));
    analytics_incident_req_clear(&req);
}

Test(incident, product_and_region_need_attributes)
{
    analytics_incident_req_t req;
    char err[256];
    const char *bodies[] = {
        "{\"product\":\"p1\",\"message\":{\"en\":\"x\"}}",
        "{\"region\":\"kanto\",\"customers\":[\"a\"],\"message\":{\"en\":\"x\"}"
        "}",
    };
    for (size_t i = 0; i < 2; i++) {
        cr_assert(eq(int, s_open(bodies[i], &req, err, sizeof err),
                     KJ_ERR_INVALID_VALUE));
        cr_assert(ne(ptr, strstr(err, "issue 14"), NULL), "%s", err);
        analytics_incident_req_clear(&req);
    }
}

Test(incident, refusals)
{
    struct {
        const char *body;
        kj_rc_t rc;
    } cases[] = {
        {"", KJ_ERR_INVALID_JSON},
        {"[]", KJ_ERR_WRONG_TYPE},
        {"{\"message\":{\"en\":\"x\"}}", KJ_ERR_MISSING_FIELD},
        {"{\"customers\":[],\"message\":{\"en\":\"x\"}}", KJ_ERR_MISSING_FIELD},
        {"{\"customers\":[\"a\"]}", KJ_ERR_MISSING_FIELD},
        {"{\"customers\":[\"a\"],\"message\":{}}", KJ_ERR_EMPTY_TEXT},
        {"{\"customers\":[\"a\"],\"message\":{\"fr\":\"x\"}}",
         KJ_ERR_UNKNOWN_FIELD},
        {"{\"customers\":[1],\"message\":{\"en\":\"x\"}}",
         KJ_ERR_INVALID_VALUE},
        {"{\"customers\":[\"\"],\"message\":{\"en\":\"x\"}}",
         KJ_ERR_INVALID_VALUE},
        {"{\"customers\":\"a\",\"message\":{\"en\":\"x\"}}", KJ_ERR_WRONG_TYPE},
        {"{\"category\":\"a b\",\"window\":{\"from\":\"2026-12-07T00:00:00Z\"},"
         "\"message\":{\"en\":\"x\"}}",
         KJ_ERR_INVALID_VALUE},
        {"{\"category\":\"a{b}\",\"window\":{\"from\":"
         "\"2026-12-07T00:00:00Z\"},\"message\":{\"en\":\"x\"}}",
         KJ_ERR_INVALID_VALUE},
        {"{\"category\":\"a\",\"message\":{\"en\":\"x\"}}",
         KJ_ERR_MISSING_FIELD},
        {"{\"category\":\"a\",\"window\":{\"from\":\"yesterday\"},"
         "\"message\":{\"en\":\"x\"}}",
         KJ_ERR_INVALID_TIME},
        {"{\"category\":\"a\",\"window\":{\"from\":\"2026-12-08T00:00:00Z\","
         "\"to\":\"2026-12-07T00:00:00Z\"},\"message\":{\"en\":\"x\"}}",
         KJ_ERR_INVALID_VALUE},
        {"{\"customers\":[\"a\"],\"window\":{\"from\":"
         "\"2026-12-07T00:00:00Z\"},\"message\":{\"en\":\"x\"}}",
         KJ_ERR_INVALID_VALUE},
        {"{\"customers\":[\"a\"],\"message\":{\"en\":\"x\"},\"extra\":1}",
         KJ_ERR_UNKNOWN_FIELD},
        {"{\"customers\":[\"a\"],\"customers\":[\"b\"],\"message\":{\"en\":"
         "\"x\"}}",
         KJ_ERR_INVALID_JSON},
        /* jansson refuses \u0000 unless asked (JSON_ALLOW_NUL). */
        {"{\"customers\":[\"a\\u0000b\"],\"message\":{\"en\":\"x\"}}",
         KJ_ERR_INVALID_JSON},
        {"{\"customers\":[\"a\"],\"message\":{\"en\":\"x\\u0000\"}}",
         KJ_ERR_INVALID_JSON},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        analytics_incident_req_t req;
        char err[256];
        kj_rc_t rc = s_open(cases[i].body, &req, err, sizeof err);
        cr_expect(eq(int, rc, cases[i].rc), "case %zu: %s", i, err);
        cr_expect(rc == KJ_OK || err[0] != '\0', "case %zu has no message", i);
        analytics_incident_req_clear(&req);
    }
}

Test(incident, message_too_long)
{
    size_t n = ANALYTICS_INCIDENT_TEXT_MAX + 1;
    char *body = malloc(n + 64);
    int w = snprintf(body, 64, "{\"customers\":[\"a\"],\"message\":{\"en\":\"");
    memset(body + w, 'x', n);
    strcpy(body + w + n, "\"}}");
    analytics_incident_req_t req;
    char err[256];
    cr_assert(
        eq(int, s_open(body, &req, err, sizeof err), KJ_ERR_FIELD_TOO_LONG));
    analytics_incident_req_clear(&req);
    free(body);
}

Test(incident, resolve_body)
{
    analytics_incident_req_t req;
    char err[256];
    const char *ok = "{\"message\":{\"ja\":\"復旧しました\",\"en\":\"Fixed\"}}";
    cr_assert(eq(
        int,
        analytics_incident_parse_resolve(ok, strlen(ok), &req, err, sizeof err),
        KJ_OK));
    cr_assert(eq(str, req.message_en, "Fixed"));
    analytics_incident_req_clear(&req);
    const char *bad = "{\"message\":{\"en\":\"x\"},\"category\":\"a\"}";
    cr_assert(eq(int,
                 analytics_incident_parse_resolve(bad, strlen(bad), &req, err,
                                                  sizeof err),
                 KJ_ERR_UNKNOWN_FIELD));
    analytics_incident_req_clear(&req);
}

Test(incident, idempotency_key)
{
    cr_assert(analytics_incident_idem_ok("op-2026-12-08-1", 15));
    cr_assert(not(analytics_incident_idem_ok("", 0)));
    cr_assert(not(analytics_incident_idem_ok("a b", 3)));
    cr_assert(not(analytics_incident_idem_ok("a{b", 3)));
    char long_key[130];
    memset(long_key, 'k', sizeof long_key);
    cr_assert(not(analytics_incident_idem_ok(long_key, sizeof long_key)));
}

Test(incident, notice_rates)
{
    kj_outbox_rate_t r[KJ_OUTBOX_RATES_MAX];
    size_t n = 0;
    char err[200];
    cr_assert(
        eq(int,
           kj_outbox_rates_parse("email=50,line=20.5,*=7", r,
                                 KJ_OUTBOX_RATES_MAX, &n, err, sizeof err),
           0),
        "%s", err);
    cr_assert(eq(sz, n, 3));
    cr_assert(eq(dbl, kj_outbox_rate_for(r, n, "line"), 20.5));
    cr_assert(eq(dbl, kj_outbox_rate_for(r, n, "web"), 7.0));
    cr_assert(eq(int, kj_outbox_rates_parse("", r, 4, &n, err, sizeof err), 0));
    cr_assert(eq(sz, n, 0));
    cr_assert(eq(dbl, kj_outbox_rate_for(r, n, "line"), 0.0));
    const char *bad[] = {
        "email",    "email=",    "=5",       "email=0",
        "email=-1", "email=nan", "email=5x", "a=1,b=2,c=3,d=4,e=5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect(eq(int,
                     kj_outbox_rates_parse(bad[i], r, 4, &n, err, sizeof err),
                     -1),
                  "%s accepted", bad[i]);
}
