/* kj_survey: the signed survey token; ingest_feedback: the body of
 * POST /v1/feedback, its buckets, digest and comment complaint. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>

#include "ingest_feedback.h"
#include "kj_survey.h"

static const char S_SECRET[] = "0123456789abcdef-test-secret";
#define S_NOW 1800000000 /* 2027-01-15 */

static kj_survey_claims_t
s_claims(void)
{
    kj_survey_claims_t c;
    memset(&c, 0, sizeof c);
    strcpy(c.tenant, "acme");
    strcpy(c.case_id, "0194a1b2c3d4aabbccdd");
    strcpy(c.complaint_id, "0194a1b2c3d4eeff0011");
    strcpy(c.customer, "cust-42");
    c.expires_s = S_NOW + 30 * 86400;
    return c;
}

static const uint8_t s_nonce[KJ_SURVEY_NONCE_LEN] = {
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static int
s_mint(const kj_survey_claims_t *c, char *out, size_t size)
{
    return kj_survey_token_mint(S_SECRET, strlen(S_SECRET), c, s_nonce, out,
                                size);
}

static kj_rc_t
s_verify(const char *tok, int64_t now, kj_survey_claims_t *out)
{
    return kj_survey_token_verify(S_SECRET, strlen(S_SECRET), tok, strlen(tok),
                                  now, out);
}

Test(survey, mint_then_verify_gives_the_claims_back)
{
    kj_survey_claims_t c = s_claims(), got;
    char tok[KJ_SURVEY_TOKEN_MAX + 1];
    cr_assert(gt(int, s_mint(&c, tok, sizeof tok), 0));
    cr_assert(eq(int,
                 (int)strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijk"
                                  "lmnopqrstuvwxyz0123456789-_"),
                 (int)strlen(tok)));
    cr_assert(eq(int, s_verify(tok, S_NOW, &got), KJ_OK));
    cr_assert(eq(str, got.tenant, "acme"));
    cr_assert(eq(str, got.case_id, c.case_id));
    cr_assert(eq(str, got.complaint_id, c.complaint_id));
    cr_assert(eq(str, got.customer, "cust-42"));
    cr_assert(eq(i64, got.expires_s, c.expires_s));
    cr_assert(eq(str, got.nonce, "0102030405060708090a0b0c0d0e0f10"));
}

Test(survey, every_forged_byte_is_refused)
{
    kj_survey_claims_t c = s_claims(), got;
    char tok[KJ_SURVEY_TOKEN_MAX + 1];
    int n = s_mint(&c, tok, sizeof tok);
    static const char alpha[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (int i = 0; i < n; i++) {
        char orig = tok[i];
        /* A different character of the alphabet at position i. */
        tok[i] = strchr(alpha, orig)[1] ? strchr(alpha, orig)[1] : 'A';
        cr_assert(eq(int, s_verify(tok, S_NOW, &got), KJ_ERR_BAD_TOKEN),
                  "position %d", i);
        cr_assert(eq(str, got.tenant, ""));
        tok[i] = orig;
    }
    cr_assert(eq(int, s_verify(tok, S_NOW, &got), KJ_OK));
}

Test(survey, another_secret_is_refused)
{
    kj_survey_claims_t c = s_claims(), got;
    char tok[KJ_SURVEY_TOKEN_MAX + 1];
    s_mint(&c, tok, sizeof tok);
    static const char other[] = "another-secret-of-sixteen+";
    cr_assert(eq(int,
                 kj_survey_token_verify(other, strlen(other), tok, strlen(tok),
                                        S_NOW, &got),
                 KJ_ERR_BAD_TOKEN));
}

Test(survey, expired_is_refused)
{
    kj_survey_claims_t c = s_claims(), got;
    char tok[KJ_SURVEY_TOKEN_MAX + 1];
    s_mint(&c, tok, sizeof tok);
    cr_assert(eq(int, s_verify(tok, c.expires_s - 1, &got), KJ_OK));
    cr_assert(eq(int, s_verify(tok, c.expires_s, &got), KJ_ERR_BAD_TOKEN));
    cr_assert(
        eq(int, s_verify(tok, c.expires_s + 86400, &got), KJ_ERR_BAD_TOKEN));
}

Test(survey, a_token_for_another_tenant_names_that_tenant_only)
{
    /* The tenant is signed: a token minted for "other" cannot be turned
     * into one for "acme" (the same bytes with the tenant changed fail
     * the MAC), and a genuine one says "other". */
    kj_survey_claims_t c = s_claims(), got;
    strcpy(c.tenant, "other");
    char tok[KJ_SURVEY_TOKEN_MAX + 1], tok2[KJ_SURVEY_TOKEN_MAX + 1];
    s_mint(&c, tok, sizeof tok);
    cr_assert(eq(int, s_verify(tok, S_NOW, &got), KJ_OK));
    cr_assert(eq(str, got.tenant, "other"));
    /* Same length tenant "acme1" vs "other": splice the MAC of one onto
     * the claims of the other. */
    strcpy(c.tenant, "acme1");
    s_mint(&c, tok2, sizeof tok2);
    size_t n = strlen(tok);
    cr_assert(eq(sz, n, strlen(tok2)));
    memcpy(tok2 + n - 43, tok + n - 43, 43); /* the last 32 bytes: the MAC */
    cr_assert(eq(int, s_verify(tok2, S_NOW, &got), KJ_ERR_BAD_TOKEN));
}

Test(survey, truncated_and_extended_are_refused)
{
    kj_survey_claims_t c = s_claims(), got;
    char tok[KJ_SURVEY_TOKEN_MAX + 1];
    int n = s_mint(&c, tok, sizeof tok);
    for (int len = 0; len < n; len++)
        cr_assert(eq(int,
                     kj_survey_token_verify(S_SECRET, strlen(S_SECRET), tok,
                                            (size_t)len, S_NOW, &got),
                     KJ_ERR_BAD_TOKEN),
                  "length %d", len);
    char longer[KJ_SURVEY_TOKEN_MAX + 8];
    snprintf(longer, sizeof longer, "%sAA", tok);
    cr_assert(eq(int, s_verify(longer, S_NOW, &got), KJ_ERR_BAD_TOKEN));
}

Test(survey, base64_junk_is_refused)
{
    kj_survey_claims_t got;
    static const char *const junk[] = {
        "",
        "=",
        "====",
        "not a token",
        "AAAA====",
        "+/+/+/+/",
        "A",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "\xff\xfe\xfd",
        "AQ\n=="};
    for (size_t i = 0; i < sizeof junk / sizeof *junk; i++)
        cr_assert(eq(int, s_verify(junk[i], S_NOW, &got), KJ_ERR_BAD_TOKEN),
                  "junk %zu", i);
    cr_assert(eq(int,
                 kj_survey_token_verify(S_SECRET, strlen(S_SECRET), NULL, 0,
                                        S_NOW, &got),
                 KJ_ERR_BAD_TOKEN));
}

Test(survey, url_appends_the_token)
{
    char out[128];
    cr_assert(gt(
        int, kj_survey_url("https://s.example/x", "TOK", out, sizeof out), 0));
    cr_assert(eq(str, out, "https://s.example/x?token=TOK"));
    kj_survey_url("https://s.example/x?a=1", "TOK", out, sizeof out);
    cr_assert(eq(str, out, "https://s.example/x?a=1&token=TOK"));
    cr_assert(eq(int, kj_survey_url("https://s.example/x", "TOK", out, 8), -1));
}

/* ---- ingest_feedback ------------------------------------------------ */

static int
s_parse(const char *body, ingest_feedback_body_t *b, ingest_error_t *err)
{
    return ingest_feedback_parse(body, strlen(body), b, err);
}

Test(feedback, parse_nps_with_comment)
{
    ingest_feedback_body_t b;
    ingest_error_t err;
    cr_assert(eq(int,
                 s_parse("{\"token\":\"abc\",\"nps\":3,\"comment\":\"slow\","
                         "\"lang\":\"en\"}",
                         &b, &err),
                 0));
    cr_assert(eq(str, b.token, "abc"));
    cr_assert(eq(str, b.kind, "nps"));
    cr_assert(eq(int, b.score, 3));
    cr_assert(eq(str, b.comment, "slow"));
    cr_assert(eq(str, b.lang, "en"));
    cr_assert(eq(str, (char *)ingest_feedback_bucket("nps", 3), "detractor"));
    cr_assert(ingest_feedback_unhappy("nps", 3));
}

Test(feedback, refusals_have_stable_codes)
{
    static const struct {
        const char *body, *code;
        unsigned status;
    } cases[] = {
        {"{\"nps\":3}", "missing_field", 400},
        {"{\"token\":\"t\"}", "missing_field", 400},
        {"{\"token\":\"t\",\"nps\":3,\"csat\":4}", "invalid_value", 400},
        {"{\"token\":\"t\",\"nps\":11}", "invalid_value", 400},
        {"{\"token\":\"t\",\"nps\":-1}", "invalid_value", 400},
        {"{\"token\":\"t\",\"csat\":0}", "invalid_value", 400},
        {"{\"token\":\"t\",\"csat\":6}", "invalid_value", 400},
        {"{\"token\":\"t\",\"nps\":7.5}", "invalid_value", 400},
        {"{\"token\":\"t\",\"nps\":\"7\"}", "wrong_type", 400},
        {"{\"token\":7,\"nps\":7}", "wrong_type", 400},
        {"{\"token\":\"t\",\"nps\":7,\"comment\":3}", "wrong_type", 400},
        {"{\"token\":\"t\",\"nps\":7,\"lang\":\"e n\"}", "invalid_value", 400},
        {"{\"token\":\"t\",\"nps\":7,\"score\":7}", "unknown_field", 400},
        {"[1]", "wrong_type", 400},
        {"{\"token\":", "invalid_json", 400},
        {"{\"token\":\"\xff\",\"nps\":1}", "invalid_utf8", 400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ingest_feedback_body_t b;
        ingest_error_t err;
        cr_assert(eq(int, s_parse(cases[i].body, &b, &err), -1), "%zu", i);
        cr_assert(eq(str, err.code, (char *)cases[i].code), "%zu", i);
        cr_assert(eq(u32, err.status, cases[i].status), "%zu", i);
    }
}

Test(feedback, buckets)
{
    cr_assert(eq(str, (char *)ingest_feedback_bucket("nps", 0), "detractor"));
    cr_assert(eq(str, (char *)ingest_feedback_bucket("nps", 6), "detractor"));
    cr_assert(eq(str, (char *)ingest_feedback_bucket("nps", 7), "passive"));
    cr_assert(eq(str, (char *)ingest_feedback_bucket("nps", 8), "passive"));
    cr_assert(eq(str, (char *)ingest_feedback_bucket("nps", 9), "promoter"));
    cr_assert(eq(str, (char *)ingest_feedback_bucket("nps", 10), "promoter"));
    cr_assert(
        eq(str, (char *)ingest_feedback_bucket("csat", 1), "unsatisfied"));
    cr_assert(eq(str, (char *)ingest_feedback_bucket("csat", 3), "neutral"));
    cr_assert(eq(str, (char *)ingest_feedback_bucket("csat", 4), "satisfied"));
    cr_assert(ingest_feedback_unhappy("csat", 2));
    cr_assert(not(ingest_feedback_unhappy("csat", 3)));
    cr_assert(not(ingest_feedback_unhappy("nps", 7)));
}

Test(feedback, digest_is_of_the_answer_not_the_bytes)
{
    ingest_feedback_body_t a, b, c;
    ingest_error_t err;
    s_parse("{\"token\":\"t\",\"nps\":3,\"comment\":\"x\"}", &a, &err);
    s_parse("{ \"comment\" : \"x\", \"nps\" : 3, \"token\" : \"t\" }", &b,
            &err);
    s_parse("{\"token\":\"t\",\"nps\":4,\"comment\":\"x\"}", &c, &err);
    char da[65], db[65], dc[65];
    ingest_feedback_digest(&a, da);
    ingest_feedback_digest(&b, db);
    ingest_feedback_digest(&c, dc);
    cr_assert(eq(str, da, db));
    cr_assert(ne(str, da, dc));
}

Test(feedback, comment_becomes_a_survey_complaint)
{
    ingest_feedback_body_t b;
    ingest_error_t err;
    s_parse("{\"token\":\"t\",\"csat\":1,\"comment\":\"never again\"}", &b,
            &err);
    kj_survey_claims_t c = s_claims();
    strcpy(c.nonce, "0102030405060708090a0b0c0d0e0f10");
    static kj_complaint_t out;
    char key[INGEST_IDEM_KEY_MAX + 1];
    cr_assert(eq(int, ingest_feedback_complaint(&b, &c, &out, key, &err), 0));
    cr_assert(eq(str, key, "survey:0102030405060708090a0b0c0d0e0f10"));
    cr_assert(eq(str, out.channel, "survey"));
    cr_assert(eq(str, out.tenant, "acme"));
    cr_assert(eq(str, out.customer.id, "cust-42"));
    cr_assert(eq(str, out.text, "never again"));
    cr_assert(eq(str, out.external_id, key));
    cr_assert(eq(str, out.feedback.kind, "csat"));
    cr_assert(eq(int, out.feedback.score, 1));
    cr_assert(eq(str, out.feedback.case_id, c.case_id));
    cr_assert(eq(str, out.feedback.complaint_id, c.complaint_id));
}
