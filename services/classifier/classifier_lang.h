/* classifier_lang: the language of a complaint from the scripts it is
 * written in. Japanese is recognised by its kana (and, less surely, by its
 * ideographs); English by Latin letters plus common English function
 * words. Cheap and allocation-free: it runs on every message. */
#ifndef CLASSIFIER_LANG_H
#define CLASSIFIER_LANG_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *language; /* "ja", "en", "other", or "und" (no letters) */
    float confidence;     /* 0..1 */
    bool ambiguous;       /* a client's language hint should win */
    /* Letters counted by script, for tests and future features. */
    size_t kana, cjk, latin, other;
    size_t words;          /* Latin-script words */
    size_t function_words; /* of them, English function words */
    size_t foreign_words;  /* French, Spanish, German... function words */
} classifier_lang_t;

/* Detect the language of text[len] (UTF-8, ideally already folded with
 * kj_text_fold; invalid bytes are skipped). Never fails. */
void
classifier_lang_detect(const char *text, size_t len, classifier_lang_t *out);

/* Apply a client's hint ("ja", "en", "ja-JP", "EN_us"...): if the hint is
 * Japanese or English and the detection is ambiguous, it wins. Returns
 * true if it did. */
bool
classifier_lang_apply_hint(classifier_lang_t *lang, const char *hint);

#endif
