/* libFuzzer target: Facebook Page, Instagram and Messenger webhook bodies
 * through the inbound framework (fuzz_inbound.h), signed as Meta signs
 * them (X-Hub-Signature-256). */
#include <stdio.h>

#include "fuzz_inbound.h"
#include "kj_hmac.h"

#define SECRET "fuzz-meta-secret"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ingest_inbound_t *in;
    if (!in) {
        ingest_inbound_opts_t o = {.meta_secret = SECRET};
        char msg[128];
        in = ingest_inbound_new(&o, NULL, msg, sizeof msg);
    }
    char hex[65], sig[80];
    kj_hmac_sha256_hex(SECRET, strlen(SECRET), data, size, hex);
    snprintf(sig, sizeof sig, "sha256=%s", hex);
    fuzz_headers_t good = {{"X-Hub-Signature-256"}, {sig}};
    char wrong[80];
    memcpy(wrong, sig, sizeof wrong);
    wrong[7] = sig[7] == '0' ? '1' : '0'; /* one digit off */
    fuzz_headers_t bad = {{"X-Hub-Signature-256"}, {wrong}};
    fuzz_run(in, "/v1/inbound/meta", &good, &bad, data, size);
    return 0;
}
