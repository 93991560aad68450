/* kj_hmac: HMAC-SHA256 webhook signatures. The timestamp is signed with
 * the body so that a captured request cannot be replayed later. */
#include "kj_hmac.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "kj_util.h"

static void
s_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void
kj_hmac_sha256_hex(const void *key, size_t key_len, const void *msg,
                   size_t msg_len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    /* HMAC() takes an int key length; a secret that long is a
     * configuration error caught long before, so clamp rather than wrap. */
    if (key_len > (size_t)INT32_MAX)
        key_len = (size_t)INT32_MAX;
    /* OpenSSL reads a NULL key as "no key"; an empty one must still work. */
    static const unsigned char empty[1];
    if (!HMAC(EVP_sha256(), key_len ? key : empty, (int)key_len,
              msg_len ? msg : empty, msg_len, md, &md_len) ||
        md_len != 32) {
        /* Only on a broken OpenSSL: never hand out a guessable value. */
        fprintf(stderr, "kj_hmac: HMAC-SHA256 failed\n");
        abort();
    }
    s_hex(md, md_len, out);
}

/* The signed payload "<t>.<body>". Caller frees. */
static char *
s_signed_payload(int64_t t, const void *body, size_t body_len, size_t *len)
{
    char prefix[32];
    int n = snprintf(prefix, sizeof(prefix), "%" PRId64 ".", t);
    char *buf = kj_malloc((size_t)n + body_len);
    memcpy(buf, prefix, (size_t)n);
    if (body_len)
        memcpy(buf + n, body, body_len);
    *len = (size_t)n + body_len;
    return buf;
}

int
kj_signature_header(const char *secret, int64_t t, const void *body,
                    size_t body_len, char *out, size_t size)
{
    size_t len;
    char hex[65];
    char *payload = s_signed_payload(t, body, body_len, &len);
    kj_hmac_sha256_hex(secret, strlen(secret), payload, len, hex);
    free(payload);
    int n = snprintf(out, size, "t=%" PRId64 ",v1=%s", t, hex);
    if (n < 0 || (size_t)n >= size) {
        if (size > 0)
            out[0] = '\0';
        return -1;
    }
    return n;
}

bool
kj_signature_verify(const char *secret, const char *header, const void *body,
                    size_t body_len, int64_t now_s, int64_t tolerance_s)
{
    if (!secret || !header)
        return false;
    /* Exactly "t=<1..18 digits>,v1=<64 lowercase hex>": anything else is
     * refused rather than guessed at. */
    const char *p = header;
    if (strncmp(p, "t=", 2) != 0)
        return false;
    p += 2;
    int64_t t = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
        if (++digits > 18)
            return false;
        t = t * 10 + (*p - '0');
        p++;
    }
    if (digits == 0 || strncmp(p, ",v1=", 4) != 0)
        return false;
    p += 4;
    const char *sig = p;
    for (int i = 0; i < 64; i++) {
        char c = sig[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    if (sig[64] != '\0')
        return false;
    if (tolerance_s > 0) {
        int64_t skew = now_s > t ? now_s - t : t - now_s;
        if (skew > tolerance_s)
            return false;
    }
    size_t len;
    char expect[65];
    char *payload = s_signed_payload(t, body, body_len, &len);
    kj_hmac_sha256_hex(secret, strlen(secret), payload, len, expect);
    free(payload);
    return CRYPTO_memcmp(expect, sig, 64) == 0;
}
