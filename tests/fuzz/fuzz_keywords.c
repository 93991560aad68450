/* libFuzzer target for the model keyword table loader (models/keywords.tsv
 * ships with the models and operators may edit it): any bytes either load
 * or give a non-empty "kw.tsv:..." message that fits its buffer, and a
 * table that loads matches its own source text without failing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "classifier_keywords.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[128];
    memset(err, 'x', sizeof err);
    classifier_keywords_t *kw = classifier_keywords_parse(
        "kw.tsv", (const char *)data, size, err, sizeof err);
    if (!kw) {
        /* Always terminated within the buffer, never empty, always naming
         * the file. */
        if (!memchr(err, '\0', sizeof err) || strncmp(err, "kw.tsv", 6) != 0)
            abort();
        return 0;
    }
    size_t classes = classifier_keywords_classes(kw);
    if (classes < CLASSIFIER_KW_REASON || classes > CLASSIFIER_KW_CLASSES_MAX ||
        classifier_keywords_count(kw) == 0 ||
        classes != CLASSIFIER_KW_REASON + classifier_keywords_n_reasons(kw))
        abort();
    for (size_t i = 0; i < classifier_keywords_n_reasons(kw); i++)
        if (!classifier_keywords_reason(kw, i))
            abort();
    /* The input, as text, stands in for a folded complaint. */
    int hits[CLASSIFIER_KW_CLASSES_MAX] = {0};
    classifier_keywords_match(kw, (const char *)data, size, hits);
    for (size_t i = 0; i < CLASSIFIER_KW_CLASSES_MAX; i++)
        if (hits[i] < 0 || (i >= classes && hits[i] != 0))
            abort();
    classifier_keywords_destroy(&kw);
    if (kw)
        abort();
    return 0;
}
