/* kj_survey: the signed, single-use survey token a survey_request link
 * carries (POST /v1/feedback). The token is the credential: it names the
 * tenant, the resolved case, its first complaint and the customer, and
 * carries an expiry and a random nonce (the single-use key), all signed
 * with HMAC-SHA256 under the server's KUJO_SURVEY_SECRET.
 *
 * Wire form: base64url without padding of
 *   version (1 byte, 1) | expiry (8 bytes, unix seconds, big-endian) |
 *   nonce (16 bytes) | 4 x (length byte, bytes): tenant, case id,
 *   complaint id, customer id | HMAC-SHA256 over everything before (32).
 * Pure apart from the MAC: no clock (now is passed in), no I/O. */
#ifndef KJ_SURVEY_H
#define KJ_SURVEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kj_id.h"
#include "kj_rc.h"

#define KJ_SURVEY_NONCE_LEN 16     /* random bytes of a token's nonce */
#define KJ_SURVEY_TENANT_MAX 63    /* bytes of a tenant name */
#define KJ_SURVEY_CUSTOMER_MAX 128 /* bytes of a customer id */
#define KJ_SURVEY_TOKEN_MAX 512    /* characters of the longest token */
#define KJ_SURVEY_SECRET_MIN 16    /* bytes a usable secret has at least */

/* What a token says. Strings are NUL-terminated. */
typedef struct {
    char tenant[KJ_SURVEY_TENANT_MAX + 1];
    char case_id[KJ_ID_LEN + 1];
    char complaint_id[KJ_ID_LEN + 1];
    char customer[KJ_SURVEY_CUSTOMER_MAX + 1]; /* "" if the case had none */
    int64_t expires_s;                         /* unix seconds */
    char nonce[2 * KJ_SURVEY_NONCE_LEN + 1];   /* lowercase hex */
} kj_survey_claims_t;

/* Sign claims (nonce taken from nonce[], claims->nonce ignored) into
 * out[size]. Returns the token's length, or -1 if a claim is empty where
 * it must not be (tenant, case id, complaint id), too long, or out is too
 * small. */
int
kj_survey_token_mint(const void *secret, size_t secret_len,
                     const kj_survey_claims_t *claims,
                     const uint8_t nonce[KJ_SURVEY_NONCE_LEN], char *out,
                     size_t size);

/* The same with a fresh random nonce (getrandom). -1 also if the system
 * gave no randomness. */
int
kj_survey_token_new(const void *secret, size_t secret_len,
                    const kj_survey_claims_t *claims, char *out, size_t size);

/* Check token[len] at now_s: decode, MAC compared in constant time, then
 * the expiry. KJ_OK with *claims filled, or KJ_ERR_BAD_TOKEN for anything
 * else (malformed, forged, truncated, expired, another version). Never
 * asserts on input. */
kj_rc_t
kj_survey_token_verify(const void *secret, size_t secret_len, const char *token,
                       size_t len, int64_t now_s, kj_survey_claims_t *claims);

/* "base + ?token=<token>" (or "&token=" if base has a query) into
 * out[size]. -1 if it does not fit. */
int
kj_survey_url(const char *base, const char *token, char *out, size_t size);

#endif
