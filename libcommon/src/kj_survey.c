/* kj_survey: survey tokens (see kj_survey.h). base64url is written here
 * rather than taken from OpenSSL's EVP_Decode*, which accepts white space
 * and padding anywhere; a token has exactly one spelling. */
#include "kj_survey.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define S_VERSION 1
#define S_MAC_LEN 32
#define S_HEAD_LEN (1 + 8 + KJ_SURVEY_NONCE_LEN)
#define S_RAW_MAX (KJ_SURVEY_TOKEN_MAX / 4 * 3)

static const char s_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding of in[n] into out[size]; -1 if it does not
 * fit. */
static int
s_b64_encode(const uint8_t *in, size_t n, char *out, size_t size)
{
    size_t need = n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
    if (need + 1 > size)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = s_b64[(v >> 18) & 63];
        out[o++] = s_b64[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = s_b64[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = s_b64[v & 63];
    }
    out[o] = '\0';
    return (int)o;
}

static int
s_b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Strict decode: the alphabet only, no padding, no leftover bits set (so
 * that one token has one spelling). Bytes written, or -1. */
static int
s_b64_decode(const char *in, size_t n, uint8_t *out, size_t size)
{
    if (n % 4 == 1)
        return -1;
    size_t need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (need > size)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = s_b64_value(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0)
        return -1; /* non-zero leftover bits: not the canonical spelling */
    return (int)o;
}

static void
s_mac(const void *secret, size_t secret_len, const uint8_t *msg, size_t n,
      uint8_t out[S_MAC_LEN])
{
    static const unsigned char empty[1];
    unsigned int len = 0;
    if (secret_len > (size_t)INT32_MAX)
        secret_len = (size_t)INT32_MAX;
    if (!HMAC(EVP_sha256(), secret_len ? secret : empty, (int)secret_len, msg,
              n, out, &len) ||
        len != S_MAC_LEN)
        memset(out, 0, S_MAC_LEN); /* cannot match a real MAC's use */
}

static int
s_put_str(uint8_t *buf, size_t *at, size_t cap, const char *s, size_t max,
          bool required)
{
    size_t n = strlen(s);
    if (n > max || n > 255 || (required && n == 0) || *at + 1 + n > cap)
        return -1;
    buf[(*at)++] = (uint8_t)n;
    memcpy(buf + *at, s, n);
    *at += n;
    return 0;
}

int
kj_survey_token_mint(const void *secret, size_t secret_len,
                     const kj_survey_claims_t *claims,
                     const uint8_t nonce[KJ_SURVEY_NONCE_LEN], char *out,
                     size_t size)
{
    uint8_t buf[S_RAW_MAX];
    size_t at = 0;
    buf[at++] = S_VERSION;
    uint64_t exp = (uint64_t)claims->expires_s;
    for (int i = 7; i >= 0; i--)
        buf[at++] = (uint8_t)(exp >> (8 * i));
    memcpy(buf + at, nonce, KJ_SURVEY_NONCE_LEN);
    at += KJ_SURVEY_NONCE_LEN;
    if (s_put_str(buf, &at, sizeof buf - S_MAC_LEN, claims->tenant,
                  KJ_SURVEY_TENANT_MAX, true) < 0 ||
        s_put_str(buf, &at, sizeof buf - S_MAC_LEN, claims->case_id, KJ_ID_LEN,
                  true) < 0 ||
        s_put_str(buf, &at, sizeof buf - S_MAC_LEN, claims->complaint_id,
                  KJ_ID_LEN, true) < 0 ||
        s_put_str(buf, &at, sizeof buf - S_MAC_LEN, claims->customer,
                  KJ_SURVEY_CUSTOMER_MAX, false) < 0)
        return -1;
    s_mac(secret, secret_len, buf, at, buf + at);
    at += S_MAC_LEN;
    return s_b64_encode(buf, at, out, size);
}

int
kj_survey_token_new(const void *secret, size_t secret_len,
                    const kj_survey_claims_t *claims, char *out, size_t size)
{
    uint8_t nonce[KJ_SURVEY_NONCE_LEN];
    size_t got = 0;
    while (got < sizeof nonce) {
        ssize_t r = getrandom(nonce + got, sizeof nonce - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return kj_survey_token_mint(secret, secret_len, claims, nonce, out, size);
}

/* A length-prefixed string of buf[end] at *at into dst[dsize]: -1 if it
 * runs past end, is longer than max, or holds a control byte. */
static int
s_get_str(const uint8_t *buf, size_t *at, size_t end, char *dst, size_t max)
{
    if (*at >= end)
        return -1;
    size_t n = buf[(*at)++];
    if (n > max || *at + n > end)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (buf[*at + i] < 0x20 || buf[*at + i] == 0x7f)
            return -1;
    memcpy(dst, buf + *at, n);
    dst[n] = '\0';
    *at += n;
    return 0;
}

kj_rc_t
kj_survey_token_verify(const void *secret, size_t secret_len, const char *token,
                       size_t len, int64_t now_s, kj_survey_claims_t *claims)
{
    memset(claims, 0, sizeof *claims);
    uint8_t buf[S_RAW_MAX];
    if (!token || len == 0 || len > KJ_SURVEY_TOKEN_MAX)
        return KJ_ERR_BAD_TOKEN;
    int n = s_b64_decode(token, len, buf, sizeof buf);
    if (n < S_HEAD_LEN + 4 + S_MAC_LEN)
        return KJ_ERR_BAD_TOKEN;
    size_t body = (size_t)n - S_MAC_LEN;
    uint8_t mac[S_MAC_LEN];
    s_mac(secret, secret_len, buf, body, mac);
    /* The MAC first, in constant time: nothing of an unsigned token is
     * read, so a forger learns nothing from how it is refused. */
    if (CRYPTO_memcmp(mac, buf + body, S_MAC_LEN) != 0)
        return KJ_ERR_BAD_TOKEN;
    if (buf[0] != S_VERSION)
        return KJ_ERR_BAD_TOKEN;
    uint64_t exp = 0;
    for (int i = 1; i <= 8; i++)
        exp = (exp << 8) | buf[i];
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < KJ_SURVEY_NONCE_LEN; i++) {
        claims->nonce[2 * i] = hex[buf[9 + i] >> 4];
        claims->nonce[2 * i + 1] = hex[buf[9 + i] & 15];
    }
    size_t at = S_HEAD_LEN;
    if (s_get_str(buf, &at, body, claims->tenant, KJ_SURVEY_TENANT_MAX) < 0 ||
        s_get_str(buf, &at, body, claims->case_id, KJ_ID_LEN) < 0 ||
        s_get_str(buf, &at, body, claims->complaint_id, KJ_ID_LEN) < 0 ||
        s_get_str(buf, &at, body, claims->customer, KJ_SURVEY_CUSTOMER_MAX) <
            0 ||
        at != body || !claims->tenant[0] || !kj_id_valid(claims->case_id) ||
        !kj_id_valid(claims->complaint_id) || exp > (uint64_t)INT64_MAX)
        goto bad;
    claims->expires_s = (int64_t)exp;
    if (now_s >= claims->expires_s)
        goto bad;
    return KJ_OK;
bad:
    memset(claims, 0, sizeof *claims);
    return KJ_ERR_BAD_TOKEN;
}

int
kj_survey_url(const char *base, const char *token, char *out, size_t size)
{
    const char *sep = strchr(base, '?') ? "&" : "?";
    int n = snprintf(out, size, "%s%stoken=%s", base, sep, token);
    return n < 0 || (size_t)n >= size ? -1 : n;
}
