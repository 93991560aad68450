/* libFuzzer target: kujo's generic signed social format through the
 * inbound framework (fuzz_inbound.h), signed with the source's secret
 * over "<timestamp>.<body>". */
#include <stdio.h>

#include "fuzz_inbound.h"
#include "kj_hmac.h"

#define SECRET "fuzz-x-secret"
#define TS "1700000000"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ingest_inbound_t *in;
    if (!in) {
        ingest_inbound_opts_t o = {
            .social_secrets = "x=" SECRET ",reviews=other", .tolerance_s = 300};
        char msg[128];
        in = ingest_inbound_new(&o, NULL, msg, sizeof msg);
    }
    char *msg = malloc(sizeof TS + size);
    memcpy(msg, TS ".", sizeof TS);
    if (size)
        memcpy(msg + sizeof TS, data, size);
    char hex[65], sig[80];
    kj_hmac_sha256_hex(SECRET, strlen(SECRET), msg, sizeof TS + size, hex);
    free(msg);
    snprintf(sig, sizeof sig, "sha256=%s", hex);
    fuzz_headers_t good = {
        {"X-Kujo-Source", "X-Kujo-Timestamp", "X-Kujo-Signature"},
        {"x", TS, sig}};
    /* The right signature, the wrong source's secret. */
    fuzz_headers_t bad = {
        {"X-Kujo-Source", "X-Kujo-Timestamp", "X-Kujo-Signature"},
        {"reviews", TS, sig}};
    fuzz_run(in, "/v1/inbound/social", &good, &bad, data, size);
    return 0;
}
