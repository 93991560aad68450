/* libFuzzer target: the model file parser (a model file is outside input:
 * operators copy them around). Each input is parsed as it is, and once
 * more with its checksum recomputed, so that mutations also reach the
 * metadata and weight checks behind it. A file that parses must also
 * score text with probabilities that sum to one and save again. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "classifier_model.h"
#include "kj_util.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static classifier_norm_t *s_norm;
static classifier_feats_t *s_feats;

static void
s_one(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_norm) {
        s_norm = classifier_norm_new();
        s_feats = classifier_feats_new();
    }
    s_one(data, size);
    if (size > 8) {
        uint8_t *copy = malloc(size);
        memcpy(copy, data, size);
        uint64_t h = kj_hash64(copy, size - 8);
        for (int i = 0; i < 8; i++)
            copy[size - 8 + i] = (uint8_t)(h >> (8 * i));
        s_one(copy, size);
        free(copy);
    }
    return 0;
}

static void
s_one(const uint8_t *data, size_t size)
{
    char err[512] = "";
    classifier_model_t *m =
        classifier_model_parse(data, size, NULL, err, sizeof(err));
    if (!m) {
        if (err[0] == '\0')
            abort(); /* every failure says why */
        return;
    }
    float probs[CLASSIFIER_MODEL_MAX_LABELS];
    const char *text = "My flight was delayed, 荷物が届かない";
    int best = classifier_model_predict_text(m, s_norm, s_feats, text,
                                             strlen(text), probs);
    uint32_t k = classifier_model_n_labels(m);
    if (best < 0 || (uint32_t)best >= k)
        abort();
    float sum = 0;
    for (uint32_t i = 0; i < k; i++)
        sum += probs[i];
    if (!(fabsf(sum - 1.0f) < 1e-3f))
        abort();
    /* What loads must save and load again to the same checksum. */
    size_t len;
    void *buf = classifier_model_serialise(m, &len);
    classifier_model_t *again =
        classifier_model_parse(buf, len, NULL, err, sizeof(err));
    if (!again)
        abort();
    classifier_model_destroy(&again);
    free(buf);
    classifier_model_destroy(&m);
}
