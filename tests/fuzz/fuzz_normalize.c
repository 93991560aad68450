/* libFuzzer target: the classifier's normaliser, feature extractor and PII
 * masker on arbitrary bytes. Checks that the normalised text is always
 * valid UTF-8 and the same through the fast path as through utf8proc
 * alone, that features stay in range, and that masking stays within its
 * bounds with ordered, non-overlapping spans. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "classifier_features.h"
#include "classifier_normalize.h"
#include "classifier_pii.h"
#include "kj_util.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static classifier_norm_t *s_norm;
static classifier_norm_t *s_slow;
static classifier_feats_t *s_feats;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_norm) {
        s_norm = classifier_norm_new();
        s_slow = classifier_norm_new();
        s_feats = classifier_feats_new();
    }
    /* The first byte picks the normaliser flags, the rest is the text. */
    unsigned flags =
        size > 0 ? data[0] & CLASSIFIER_NORM_ALL : CLASSIFIER_NORM_ALL;
    const char *text = size > 0 ? (const char *)data + 1 : "";
    size_t len = size > 0 ? size - 1 : 0;

    classifier_norm_run(s_norm, text, len, flags);
    size_t nb, ncp;
    const char *out = classifier_norm_utf8(s_norm, &nb);
    if (!kj_utf8_valid(out, nb) || strlen(out) != nb)
        abort();
    const int32_t *cps = classifier_norm_codepoints(s_norm, &ncp);
    classifier_norm_run(s_slow, text, len, flags | CLASSIFIER_NORM_SLOW);
    size_t nslow;
    const int32_t *slow = classifier_norm_codepoints(s_slow, &nslow);
    if (nslow != ncp || memcmp(slow, cps, ncp * sizeof(*cps)) != 0)
        abort();
    classifier_feat_config_t cfg = {18, 1, 3, 1, 5};
    classifier_feats_extract(s_feats, &cfg, cps, ncp);
    size_t n;
    const classifier_feat_t *it = classifier_feats_items(s_feats, &n);
    for (size_t i = 0; i < n; i++)
        if (it[i].bucket >= (1u << 18) || it[i].count == 0)
            abort();

    size_t cap = 2 * len + 1;
    char *masked = malloc(cap);
    classifier_pii_span_t spans[16];
    size_t total;
    size_t m = classifier_pii_mask(text, len, masked, cap, spans, 16, &total);
    if (m >= cap || masked[m] != '\0')
        abort();
    uint32_t prev_end = 0;
    for (size_t i = 0; i < total && i < 16; i++) {
        if (spans[i].start < prev_end || spans[i].end <= spans[i].start ||
            spans[i].end > len)
            abort();
        prev_end = spans[i].end;
    }
    free(masked);
    return 0;
}
