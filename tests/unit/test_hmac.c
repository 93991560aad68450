/* kj_hmac: HMAC-SHA256 against vectors computed with
 * `openssl dgst -sha256 -hmac`, and the Kujo-Signature header. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <string.h>

#include "kj_hmac.h"

static const char s_body[] = "{\"text\":\"hello\"}";
/* printf '%s' '1700000000.{"text":"hello"}' |
 *     openssl dgst -sha256 -hmac 'whsec_test' */
#define S_SIG "4de4482f0d79eb97df8f0e9ece4238de4e613a5ad29c846b70bc7dd6e1389e80"
static const char s_sig[] = S_SIG;

Test(hmac, usage_example)
{
    char header[128];
    int n = kj_signature_header("whsec_test", 1700000000, s_body,
                                strlen(s_body), header, sizeof(header));
    cr_assert(eq(str, header, "t=1700000000,v1=" S_SIG));
    cr_assert(eq(int, n, (int)strlen(header)));
    cr_assert(kj_signature_verify("whsec_test", header, s_body, strlen(s_body),
                                  1700000100, 300));
}

Test(hmac, known_vectors)
{
    char out[65];
    const char *msg = "The quick brown fox jumps over the lazy dog";
    kj_hmac_sha256_hex("key", 3, msg, strlen(msg), out);
    cr_assert(eq(str, out,
                 "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a"
                 "3cd8"));
    kj_hmac_sha256_hex("", 0, "", 0, out);
    cr_assert(eq(str, out,
                 "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292"
                 "c5ad"));
}

Test(hmac, header_too_small)
{
    char header[40];
    cr_assert(eq(int,
                 kj_signature_header("whsec_test", 1700000000, s_body,
                                     strlen(s_body), header, sizeof(header)),
                 -1));
    cr_assert(eq(str, header, ""));
}

Test(hmac, verify_rejects_tampering)
{
    char header[128];
    kj_signature_header("whsec_test", 1700000000, s_body, strlen(s_body),
                        header, sizeof(header));
    size_t len = strlen(s_body);
    cr_assert(not(kj_signature_verify("other", header, s_body, len, 0, 0)));
    cr_assert(not(kj_signature_verify("whsec_test", header,
                                      "{\"text\":\"hellO\"}", len, 0, 0)));
    cr_assert(
        not(kj_signature_verify("whsec_test", header, s_body, len - 1, 0, 0)));
    /* Same signature, other timestamp: the time is signed too. */
    char moved[128];
    memcpy(moved, header, sizeof(moved));
    moved[11] = '1';
    cr_assert(not(kj_signature_verify("whsec_test", moved, s_body, len, 0, 0)));
    /* One flipped hex digit. */
    memcpy(moved, header, sizeof(moved));
    moved[strlen(moved) - 1] = moved[strlen(moved) - 1] == '0' ? '1' : '0';
    cr_assert(not(kj_signature_verify("whsec_test", moved, s_body, len, 0, 0)));
}

Test(hmac, verify_tolerance)
{
    char header[128];
    size_t len = strlen(s_body);
    kj_signature_header("whsec_test", 1700000000, s_body, len, header,
                        sizeof(header));
    cr_assert(kj_signature_verify("whsec_test", header, s_body, len, 1700000300,
                                  300));
    cr_assert(kj_signature_verify("whsec_test", header, s_body, len, 1699999700,
                                  300));
    cr_assert(not(kj_signature_verify("whsec_test", header, s_body, len,
                                      1700000301, 300)));
    cr_assert(not(kj_signature_verify("whsec_test", header, s_body, len,
                                      1699999699, 300)));
    /* 0: no time check. */
    cr_assert(kj_signature_verify("whsec_test", header, s_body, len, 5, 0));
}

Test(hmac, verify_strict_format)
{
    size_t len = strlen(s_body);
    char upper[65];
    for (int i = 0; i < 64; i++)
        upper[i] = (char)(s_sig[i] >= 'a' ? s_sig[i] - 32 : s_sig[i]);
    upper[64] = '\0';
    char buf[256];
    const char *bad[] = {
        "",
        "t=1700000000",
        "v1=" S_SIG,
        "t=,v1=" S_SIG,
        "t=-1700000000,v1=" S_SIG,
        "t=1700000000, v1=" S_SIG,
        " t=1700000000,v1=" S_SIG,
        "t=1700000000,v1=" S_SIG " ",
        "t=1700000000,v1=" S_SIG ",v1=" S_SIG,
        "t=1700000000,v0=" S_SIG,
        "t=1700000000,v1=4de4482f",
        "t=99999999999999999999,v1=" S_SIG,
        NULL,
    };
    /* The good header is accepted, so each rejection below is about its
     * format alone. */
    cr_assert(kj_signature_verify("whsec_test", "t=1700000000,v1=" S_SIG,
                                  s_body, len, 0, 0));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert(
            not(kj_signature_verify("whsec_test", bad[i], s_body, len, 0, 0)),
            "case %zu", i);
    snprintf(buf, sizeof(buf), "t=1700000000,v1=%s", upper);
    cr_assert(not(kj_signature_verify("whsec_test", buf, s_body, len, 0, 0)));
    cr_assert(not(kj_signature_verify(NULL, buf, s_body, len, 0, 0)));
}
