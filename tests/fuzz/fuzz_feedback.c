/* libFuzzer target: the body of POST /v1/feedback (ingest_feedback_parse)
 * and the survey token in it (kj_survey_token_verify). Whatever the
 * bytes: a refusal is a 4xx with a stable code and a printable message;
 * an accepted body holds a score in range; no unsigned token verifies,
 * and a verified one's claims are well-formed. The first bytes up to a
 * newline, if any, are tried as a bare token too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_feedback.h"
#include "kj_survey.h"

static const char S_SECRET[] = "fuzz-survey-secret-0123456789";

static void
s_token(const char *tok, size_t len)
{
    kj_survey_claims_t c;
    kj_rc_t rc =
        kj_survey_token_verify(S_SECRET, strlen(S_SECRET), tok, len, 0, &c);
    if (rc == KJ_OK) {
        /* Only a token minted with the secret verifies; random bytes never
         * do, so reaching here means a MAC was forged. */
        abort();
    }
    if (rc != KJ_ERR_BAD_TOKEN || c.tenant[0] || c.nonce[0])
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    static ingest_feedback_body_t b;
    ingest_error_t err;
    if (ingest_feedback_parse(body, size, &b, &err) < 0) {
        if (err.status < 400 || err.status > 499 || !err.code[0] ||
            !err.message[0])
            abort();
        for (const char *p = err.message; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                abort();
    } else {
        bool nps = strcmp(b.kind, "nps") == 0;
        if (!nps && strcmp(b.kind, "csat") != 0)
            abort();
        if (nps ? (b.score < 0 || b.score > 10) : (b.score < 1 || b.score > 5))
            abort();
        if (strlen(b.comment) > KJ_TEXT_MAX ||
            b.token_len > KJ_SURVEY_TOKEN_MAX)
            abort();
        s_token(b.token, b.token_len);
        char d[65];
        ingest_feedback_digest(&b, d);
    }
    const char *nl = memchr(body, '\n', size);
    s_token(body, nl ? (size_t)(nl - body) : size);
    return 0;
}
