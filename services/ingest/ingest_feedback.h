/* ingest_feedback: POST /v1/feedback, a survey answer (issue 13).
 *
 *   {"token": "<signed survey token>", "nps": 0..10 | "csat": 1..5,
 *    "comment": "...", "lang": "ja"}
 *
 * The token (kj_survey) is the credential: no API key. This module owns
 * the body (pure: parsed, checked, no I/O), what a score counts as, the
 * digest that tells an exact repeat from another answer, and the
 * complaint a comment becomes (channel survey, the token's customer and
 * tenant, external_id and idempotency key "survey:<nonce>", Complaint
 * field 15 set). ingest_api writes it: feedback_record.lua first (the
 * single-use mark and the scores, atomically), then the comment through
 * the same batch as POST /v1/complaints. */
#ifndef INGEST_FEEDBACK_H
#define INGEST_FEEDBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest_validate.h"
#include "kj_envelope.h"
#include "kj_survey.h"

#define INGEST_FEEDBACK_PATH "/v1/feedback"
#define INGEST_FEEDBACK_LANG_MAX 15

/* A parsed body. */
typedef struct {
    char token[KJ_SURVEY_TOKEN_MAX + 1];
    size_t token_len;
    char kind[8];                            /* "nps" or "csat" */
    int score;                               /* nps 0..10, csat 1..5 */
    char comment[KJ_TEXT_MAX + 1];           /* "" none (or only white space) */
    char lang[INGEST_FEEDBACK_LANG_MAX + 1]; /* "" none */
} ingest_feedback_body_t;

/* Parse and check a body into *out. 0, or -1 with *err: invalid_utf8,
 * invalid_json, wrong_type (400); unknown_field (400); missing_field
 * (400: no token, or neither nps nor csat); invalid_value (400: both
 * scores, a score out of range or not an integer, a bad lang);
 * text_too_long (413: comment over KJ_TEXT_MAX bytes). The token is not
 * checked here (kj_survey_token_verify). Pure; never asserts on input. */
int
ingest_feedback_parse(const char *body, size_t len, ingest_feedback_body_t *out,
                      ingest_error_t *err);

/* What a score counts as: nps promoter (9-10), passive (7-8), detractor
 * (0-6); csat satisfied (4-5), neutral (3), unsatisfied (1-2). */
const char *
ingest_feedback_bucket(const char *kind, int score);

/* True for an unhappy answer: an NPS detractor or CSAT 1-2. */
bool
ingest_feedback_unhappy(const char *kind, int score);

/* The answer's digest (hex SHA-256 of kind, score, lang and comment, not
 * of the raw bytes: the same answer re-encoded is the same answer) into
 * out[65]. */
void
ingest_feedback_digest(const ingest_feedback_body_t *b, char out[65]);

/* The complaint b's comment becomes, as POST /v1/complaints would have
 * accepted it, into *out (id and accepted_at_ms are the batch's); key
 * gets its idempotency key "survey:<nonce>". 0, or -1 with *err (a 4xx:
 * the token names a customer no complaint may have). */
int
ingest_feedback_complaint(const ingest_feedback_body_t *b,
                          const kj_survey_claims_t *claims, kj_complaint_t *out,
                          char key[INGEST_IDEM_KEY_MAX + 1],
                          ingest_error_t *err);

/* The answer to a recorded (or repeated) feedback:
 * {"id":"<nonce>","kind":..,"score":..,"case_id":..,"complaint_id":..,
 *  "comment_id":<the comment's complaint id or null>,"recorded_at":..}.
 * Caller frees. */
char *
ingest_feedback_answer(const ingest_feedback_body_t *b,
                       const kj_survey_claims_t *claims, const char *comment_id,
                       int64_t recorded_ms);

#endif
