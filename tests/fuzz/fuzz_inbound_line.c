/* libFuzzer target: LINE Messaging API webhook bodies through the inbound
 * framework (fuzz_inbound.h), signed as LINE signs them. */
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz_inbound.h"

#define SECRET "fuzz-line-secret"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ingest_inbound_t *in;
    if (!in) {
        ingest_inbound_opts_t o = {.line_secret = SECRET};
        char msg[128];
        in = ingest_inbound_new(&o, NULL, msg, sizeof msg);
    }
    unsigned char md[32];
    unsigned int md_len = 0;
    static const unsigned char empty[1];
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), size ? data : empty, size,
         md, &md_len);
    char sig[45];
    EVP_EncodeBlock((unsigned char *)sig, md, 32);
    fuzz_headers_t good = {{"x-line-signature"}, {sig}};
    fuzz_headers_t bad = {{"x-line-signature"},
                          {"Enl03y4lrk9oin7jqpA0FGy7NqeLjKMsxPjUueBsF4x="}};
    fuzz_run(in, "/v1/inbound/line", &good, &bad, data, size);
    return 0;
}
