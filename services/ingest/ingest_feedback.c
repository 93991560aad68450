/* ingest_feedback: the body, buckets, digest and comment complaint of
 * POST /v1/feedback (see ingest_feedback.h). */
#include "ingest_feedback.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ingest_inbound.h"
#include "kj_time.h"
#include "kj_util.h"

static const char *const s_fields[] = {"token", "nps", "csat", "comment",
                                       "lang"};

/* A score field: absent (0), an integer in [lo, hi] (1), or -1 with
 * *err. */
static int
s_score(const json_t *root, const char *name, int lo, int hi, int *out,
        ingest_error_t *err)
{
    const json_t *v = json_object_get(root, name);
    if (!v)
        return 0;
    if (!json_is_integer(v)) {
        ingest_error_set(
            err, json_is_number(v) ? KJ_ERR_INVALID_VALUE : KJ_ERR_WRONG_TYPE,
            "field \"%s\" must be a whole number from %d to %d", name, lo, hi);
        return -1;
    }
    json_int_t n = json_integer_value(v);
    if (n < lo || n > hi) {
        ingest_error_set(err, KJ_ERR_INVALID_VALUE,
                         "field \"%s\" must be from %d to %d", name, lo, hi);
        return -1;
    }
    *out = (int)n;
    return 1;
}

static bool
s_lang_ok(const char *s, size_t len)
{
    if (len == 0 || len > INGEST_FEEDBACK_LANG_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

static int
s_body(json_t *root, ingest_feedback_body_t *out, ingest_error_t *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        bool known = false;
        for (size_t i = 0; i < KJ_ARRAY_LEN(s_fields); i++)
            known |= strcmp(key, s_fields[i]) == 0;
        if (!known) {
            ingest_error_set(err, KJ_ERR_UNKNOWN_FIELD,
                             "unknown field \"%.64s\"; allowed: token, nps, "
                             "csat, comment, lang",
                             key);
            return -1;
        }
    }
    json_t *tok;
    if (ingest_inbound_field(root, "token", JSON_STRING, true, "the body", &tok,
                             err) < 0)
        return -1;
    size_t tl = json_string_length(tok);
    if (tl > KJ_SURVEY_TOKEN_MAX) {
        /* Longer than any token kujo signs: a forgery, said as one. */
        ingest_error_set(err, KJ_ERR_BAD_TOKEN,
                         "the survey token is not valid");
        return -1;
    }
    memcpy(out->token, json_string_value(tok), tl);
    out->token[tl] = '\0';
    out->token_len = tl;
    int nps = 0, csat = 0;
    int has_nps = s_score(root, "nps", 0, 10, &nps, err);
    if (has_nps < 0)
        return -1;
    int has_csat = s_score(root, "csat", 1, 5, &csat, err);
    if (has_csat < 0)
        return -1;
    if (has_nps && has_csat) {
        ingest_error_set(err, KJ_ERR_INVALID_VALUE,
                         "one answer per token: \"nps\" or \"csat\", not both");
        return -1;
    }
    if (!has_nps && !has_csat) {
        ingest_error_set(err, KJ_ERR_MISSING_FIELD,
                         "field \"nps\" (0-10) or \"csat\" (1-5) is required");
        return -1;
    }
    kj_strlcpy(out->kind, has_nps ? "nps" : "csat", sizeof out->kind);
    out->score = has_nps ? nps : csat;
    json_t *c;
    if (ingest_inbound_field(root, "comment", JSON_STRING, false, "the body",
                             &c, err) < 0)
        return -1;
    if (c) {
        size_t cl = json_string_length(c);
        if (cl > KJ_TEXT_MAX) {
            ingest_error_set(err, KJ_ERR_TEXT_TOO_LONG,
                             "field \"comment\": %zu bytes, at most %d "
                             "allowed",
                             cl, KJ_TEXT_MAX);
            return -1;
        }
        /* Only white space is no comment (nothing to triage). */
        if (!ingest_only_space(json_string_value(c), cl)) {
            memcpy(out->comment, json_string_value(c), cl);
            out->comment[cl] = '\0';
        }
    }
    json_t *l;
    if (ingest_inbound_field(root, "lang", JSON_STRING, false, "the body", &l,
                             err) < 0)
        return -1;
    if (l) {
        if (!s_lang_ok(json_string_value(l), json_string_length(l))) {
            ingest_error_set(err, KJ_ERR_INVALID_VALUE,
                             "field \"lang\" must be a language tag (1 to %d "
                             "of A-Z a-z 0-9 -)",
                             INGEST_FEEDBACK_LANG_MAX);
            return -1;
        }
        kj_strlcpy(out->lang, json_string_value(l), sizeof out->lang);
    }
    return 0;
}

int
ingest_feedback_parse(const char *body, size_t len, ingest_feedback_body_t *out,
                      ingest_error_t *err)
{
    memset(out, 0, sizeof *out);
    json_t *root = ingest_inbound_load(body, len, err);
    if (!root)
        return -1;
    int rc = s_body(root, out, err);
    json_decref(root);
    if (rc < 0)
        memset(out, 0, sizeof *out);
    return rc;
}

const char *
ingest_feedback_bucket(const char *kind, int score)
{
    if (strcmp(kind, "nps") == 0)
        return score >= 9 ? "promoter" : score >= 7 ? "passive" : "detractor";
    return score >= 4 ? "satisfied" : score == 3 ? "neutral" : "unsatisfied";
}

bool
ingest_feedback_unhappy(const char *kind, int score)
{
    return strcmp(kind, "nps") == 0 ? score <= 6 : score <= 2;
}

void
ingest_feedback_digest(const ingest_feedback_body_t *b, char out[65])
{
    /* Fields separated by a NUL, which none of them can hold. */
    char head[64];
    int n = snprintf(head, sizeof head, "%s%c%d%c%s%c", b->kind, 0, b->score, 0,
                     b->lang, 0);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(ctx, head, (size_t)n) ||
        !EVP_DigestUpdate(ctx, b->comment, strlen(b->comment)) ||
        !EVP_DigestFinal_ex(ctx, md, &mdlen))
        abort(); /* only allocation failure */
    EVP_MD_CTX_free(ctx);
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

int
ingest_feedback_complaint(const ingest_feedback_body_t *b,
                          const kj_survey_claims_t *claims, kj_complaint_t *out,
                          char key[INGEST_IDEM_KEY_MAX + 1],
                          ingest_error_t *err)
{
    snprintf(key, INGEST_IDEM_KEY_MAX + 1, "survey:%s", claims->nonce);
    /* A case opened from a complaint always has a customer; a token
     * without one still gets a stable, per-answer id. */
    char anon[64];
    snprintf(anon, sizeof anon, "survey-%s", claims->nonce);
    json_t *o = json_pack("{s:s,s:s,s:{s:s},s:s,s:s}", "channel", "survey",
                          "tenant", claims->tenant, "customer", "id",
                          claims->customer[0] ? claims->customer : anon, "text",
                          b->comment, "external_id", key);
    if (!o)
        abort(); /* allocation failure: every string is valid UTF-8 */
    if (b->lang[0])
        json_object_set_new(o, "lang", json_string(b->lang));
    char *json = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!json)
        abort();
    int rc = ingest_validate_complaint_as(json, strlen(json), claims->tenant,
                                          out, err);
    free(json);
    if (rc < 0)
        return -1;
    kj_strlcpy(out->feedback.kind, b->kind, sizeof out->feedback.kind);
    out->feedback.score = b->score;
    kj_strlcpy(out->feedback.case_id, claims->case_id,
               sizeof out->feedback.case_id);
    kj_strlcpy(out->feedback.complaint_id, claims->complaint_id,
               sizeof out->feedback.complaint_id);
    return 0;
}

char *
ingest_feedback_answer(const ingest_feedback_body_t *b,
                       const kj_survey_claims_t *claims, const char *comment_id,
                       int64_t recorded_ms)
{
    char at[KJ_TIME_RFC3339_LEN];
    if (kj_time_rfc3339(recorded_ms, at, sizeof at) == 0)
        at[0] = '\0';
    json_t *o = json_pack(
        "{s:s,s:s,s:i,s:s,s:s,s:s,s:o,s:s?}", "id", claims->nonce, "kind",
        b->kind, "score", b->score, "bucket",
        ingest_feedback_bucket(b->kind, b->score), "case_id", claims->case_id,
        "complaint_id", claims->complaint_id, "comment_id",
        comment_id && *comment_id ? json_string(comment_id) : json_null(),
        "recorded_at", at[0] ? at : NULL);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s)
        abort();
    return s;
}
