/* ingest_inbound_sig: the three signature schemes of the inbound
 * webhooks. Every comparison is constant-time (CRYPTO_memcmp) over
 * a fixed length, so a forger learns nothing from how long a refusal
 * took. */
#include "ingest_inbound.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "kj_hmac.h"
#include "kj_util.h"

#define S_B64_LEN 44 /* base64 of 32 bytes, with its '=' */

bool
ingest_inbound_verify_line(const char *secret, const char *header,
                           const char *body, size_t len)
{
    if (!secret || !header || strlen(header) != S_B64_LEN)
        return false;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    static const unsigned char empty[1];
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret),
              len ? (const unsigned char *)body : empty, len, md, &md_len) ||
        md_len != 32)
        abort(); /* only on a broken OpenSSL */
    unsigned char b64[S_B64_LEN + 1];
    EVP_EncodeBlock(b64, md, 32);
    return CRYPTO_memcmp(b64, header, S_B64_LEN) == 0;
}

/* "sha256=" then 64 hex digits, compared to hex HMAC of msg; Meta and
 * GitHub send lowercase, so uppercase is refused rather than folded. */
static bool
s_sha256_eq(const char *secret, const char *header, const void *msg,
            size_t msg_len)
{
    static const char tag[] = "sha256=";
    if (!secret || !header || strlen(header) != sizeof tag - 1 + 64 ||
        strncmp(header, tag, sizeof tag - 1) != 0)
        return false;
    char hex[65];
    kj_hmac_sha256_hex(secret, strlen(secret), msg, msg_len, hex);
    return CRYPTO_memcmp(hex, header + sizeof tag - 1, 64) == 0;
}

bool
ingest_inbound_verify_meta(const char *secret, const char *header,
                           const char *body, size_t len)
{
    return s_sha256_eq(secret, header, body, len);
}

bool
ingest_inbound_verify_social(const char *secret, const char *ts,
                             const char *header, const char *body, size_t len,
                             int64_t now_s, int64_t tolerance_s)
{
    int64_t t;
    size_t tlen = ts ? strlen(ts) : 0;
    /* Digits only: "+5" or " 5" would sign a different string than the
     * one the sender meant. */
    if (tlen == 0 || tlen > 18 || ts[0] == '0' ||
        strspn(ts, "0123456789") != tlen || kj_parse_i64(ts, tlen, &t) < 0)
        return false;
    if (t > now_s + tolerance_s || t < now_s - tolerance_s)
        return false;
    char *msg = kj_malloc(tlen + 1 + len + 1);
    memcpy(msg, ts, tlen);
    msg[tlen] = '.';
    if (len)
        memcpy(msg + tlen + 1, body, len);
    bool ok = s_sha256_eq(secret, header, msg, tlen + 1 + len);
    free(msg);
    return ok;
}
