/* libFuzzer target: envelopes and events as they arrive from the network
 * (ZeroMQ) and from Redis. Whatever the bytes, decoding returns 0 or -1
 * with a message, never crashes, and what decodes re-encodes and decodes
 * to the same struct. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kj_envelope.h"

static kj_codec_t *g_codec;
static kj_envelope_t g_env, g_env2;
static kj_event_t g_ev, g_ev2;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_codec)
        g_codec = kj_codec_new();

    if (kj_envelope_decode(g_codec, data, size, &g_env) == 0) {
        const uint8_t *out;
        int len = kj_envelope_encode(g_codec, &g_env, &out);
        if (len < 0)
            abort(); /* anything decoded fits in the wire maximum */
        if (kj_envelope_decode(g_codec, out, (size_t)len, &g_env2) != 0)
            abort();
        if (memcmp(&g_env, &g_env2, sizeof g_env) != 0)
            abort();
        /* The helpers must cope with any decoded envelope. */
        kj_event_from_envelope(&g_ev, &g_env, "received", "fuzz", 0);
        kj_envelope_stamp(&g_env, "fuzz", 1, 2);
        (void)kj_envelope_delivery(&g_env, "team_alert");
    } else if (kj_codec_error(g_codec)[0] == '\0') {
        abort(); /* a failure always says why */
    }

    if (kj_event_decode(g_codec, data, size, &g_ev) == 0) {
        const uint8_t *out;
        int len = kj_event_encode(g_codec, &g_ev, &out);
        if (len < 0)
            abort();
        if (kj_event_decode(g_codec, out, (size_t)len, &g_ev2) != 0)
            abort();
        if (memcmp(&g_ev, &g_ev2, sizeof g_ev) != 0)
            abort();
    } else if (kj_codec_error(g_codec)[0] == '\0') {
        abort();
    }
    return 0;
}
