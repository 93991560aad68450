/* Hashed word and character n-gram features. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "classifier_features.h"
#include "classifier_normalize.h"

static classifier_norm_t *s_norm;
static classifier_feats_t *s_feats;

static void
s_setup(void)
{
    s_norm = classifier_norm_new();
    s_feats = classifier_feats_new();
}

static void
s_teardown(void)
{
    classifier_norm_destroy(&s_norm);
    classifier_feats_destroy(&s_feats);
}

/* Features of a text under cfg, normalised with every flag. */
static const classifier_feat_t *
s_extract(const char *text, const classifier_feat_config_t *cfg, size_t *n)
{
    size_t ncp;
    classifier_norm_run(s_norm, text, strlen(text), CLASSIFIER_NORM_ALL);
    const int32_t *cps = classifier_norm_codepoints(s_norm, &ncp);
    classifier_feats_extract(s_feats, cfg, cps, ncp);
    return classifier_feats_items(s_feats, n);
}

static size_t
s_count_family(const classifier_feat_t *it, size_t n, int family)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (it[i].family == family)
            c++;
    return c;
}

TestSuite(features, .init = s_setup, .fini = s_teardown);

Test(features, usage_example)
{
    /* Normalise, then extract with the model's setting; both objects are
     * reused for every text (one pair per thread). */
    classifier_feat_config_t cfg = {.hash_bits = 20,
                                    .word_min = 1,
                                    .word_max = 2,
                                    .char_min = 1,
                                    .char_max = 3};
    char err[128];
    cr_assert(eq(int, classifier_feat_config_check(&cfg, err, sizeof(err)), 0));
    size_t n;
    const classifier_feat_t *it = s_extract("my bag is lost", &cfg, &n);
    /* 4 words + 3 bigrams, and character n-grams */
    cr_assert(eq(sz, s_count_family(it, n, CLASSIFIER_FEAT_WORD), 7));
    cr_assert(gt(sz, s_count_family(it, n, CLASSIFIER_FEAT_CHAR), 20));
    for (size_t i = 0; i < n; i++)
        cr_assert(lt(u32, it[i].bucket, 1u << 20));
}

Test(features, counts_repeats)
{
    classifier_feat_config_t cfg = {20, 1, 1, 0, 0};
    size_t n;
    const classifier_feat_t *it = s_extract("late late late", &cfg, &n);
    cr_assert(eq(sz, n, 1));
    cr_assert(eq(u16, it[0].count, 3));
}

Test(features, character_ngrams_are_padded)
{
    /* " ab ": unigrams a, b (a lone space is skipped); bigrams " a", "ab",
     * "b " */
    classifier_feat_config_t cfg = {20, 0, 0, 1, 2};
    size_t n;
    const classifier_feat_t *it = s_extract("ab", &cfg, &n);
    cr_assert(eq(sz, n, 5));
    cr_assert(eq(sz, s_count_family(it, n, CLASSIFIER_FEAT_CHAR), 5));
}

Test(features, hash_is_stable)
{
    /* Shipped model files depend on these exact buckets (hash version 1):
     * changing the hash must change the format version. */
    classifier_feat_config_t word = {20, 1, 1, 0, 0};
    int32_t delay[] = {'d', 'e', 'l', 'a', 'y'};
    classifier_feats_extract(s_feats, &word, delay, 5);
    size_t n;
    const classifier_feat_t *it = classifier_feats_items(s_feats, &n);
    cr_assert(eq(sz, n, 1));
    cr_assert(eq(u32, it[0].bucket, 994641));
    classifier_feat_config_t tri = {20, 0, 0, 3, 3};
    int32_t heya[] = {0x90e8, 0x5c4b}; /* 部屋 */
    classifier_feats_extract(s_feats, &tri, heya, 2);
    it = classifier_feats_items(s_feats, &n);
    cr_assert(eq(sz, n, 2));
    cr_assert(eq(u32, it[0].bucket, 781017));
    cr_assert(eq(u32, it[1].bucket, 920735));
}

Test(features, same_text_same_features)
{
    classifier_feat_config_t cfg = {18, 1, 2, 1, 4};
    size_t n1, n2;
    const classifier_feat_t *a = s_extract("Cancelled flight again", &cfg, &n1);
    classifier_feat_t copy[512];
    cr_assert(lt(sz, n1, 512));
    memcpy(copy, a, n1 * sizeof(*a));
    /* another extractor, a different text in between */
    s_extract("something else entirely", &cfg, &n2);
    classifier_feats_t *other = classifier_feats_new();
    size_t ncp;
    classifier_norm_run(s_norm, "Cancelled flight again", 22,
                        CLASSIFIER_NORM_ALL);
    const int32_t *cps = classifier_norm_codepoints(s_norm, &ncp);
    classifier_feats_extract(other, &cfg, cps, ncp);
    const classifier_feat_t *b = classifier_feats_items(other, &n2);
    cr_assert(eq(sz, n1, n2));
    for (size_t i = 0; i < n1; i++) {
        cr_assert(eq(u32, copy[i].bucket, b[i].bucket));
        cr_assert(eq(u16, copy[i].count, b[i].count));
    }
    classifier_feats_destroy(&other);
}

Test(features, japanese_splits_at_script_changes)
{
    /* 部屋 / が / 狭 / い: four word-like tokens */
    classifier_feat_config_t cfg = {20, 1, 1, 0, 0};
    size_t n;
    s_extract("部屋が狭い", &cfg, &n);
    cr_assert(eq(sz, n, 4));
    /* the long vowel mark stays inside katakana: スーパー is one token */
    s_extract("スーパー", &cfg, &n);
    cr_assert(eq(sz, n, 1));
}

Test(features, english_tokens)
{
    classifier_feat_config_t cfg = {20, 1, 1, 0, 0};
    size_t n;
    s_extract("don't", &cfg, &n);
    cr_assert(eq(sz, n, 1));
    /* a run of one punctuation character is one token */
    s_extract("wow!!!", &cfg, &n);
    cr_assert(eq(sz, n, 2));
    s_extract("?!", &cfg, &n);
    cr_assert(eq(sz, n, 2));
}

Test(features, families_are_optional)
{
    classifier_feat_config_t words = {16, 1, 2, 0, 0};
    classifier_feat_config_t chars = {16, 0, 0, 2, 3};
    size_t n;
    const classifier_feat_t *it = s_extract("the flight was late", &words, &n);
    cr_assert(eq(sz, s_count_family(it, n, CLASSIFIER_FEAT_CHAR), 0));
    it = s_extract("the flight was late", &chars, &n);
    cr_assert(eq(sz, s_count_family(it, n, CLASSIFIER_FEAT_WORD), 0));
    for (size_t i = 0; i < n; i++)
        cr_assert(lt(u32, it[i].bucket, 1u << 16));
}

Test(features, empty_text_has_no_features)
{
    classifier_feat_config_t cfg = {20, 1, 2, 1, 3};
    size_t n;
    s_extract("", &cfg, &n);
    cr_assert(eq(sz, n, 0));
    s_extract("   ", &cfg, &n);
    cr_assert(eq(sz, n, 0));
}

Test(features, config_check_rejects_bad_settings)
{
    char err[128];
    classifier_feat_config_t bad_bits = {8, 1, 2, 1, 3};
    cr_assert(
        eq(int, classifier_feat_config_check(&bad_bits, err, sizeof(err)), -1));
    cr_assert(not(eq(ptr, strstr(err, "hash_bits"), NULL)));
    classifier_feat_config_t none = {20, 0, 0, 0, 0};
    cr_assert(
        eq(int, classifier_feat_config_check(&none, err, sizeof(err)), -1));
    classifier_feat_config_t backwards = {20, 2, 1, 0, 0};
    cr_assert(eq(
        int, classifier_feat_config_check(&backwards, err, sizeof(err)), -1));
    classifier_feat_config_t too_long = {20, 0, 0, 1, 9};
    cr_assert(
        eq(int, classifier_feat_config_check(&too_long, err, sizeof(err)), -1));
}

Test(features, huge_text_is_bounded)
{
    size_t len = 20000;
    char *text = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        text[i] = (char)('a' + (i * 7 + i / 26) % 26);
    text[len] = '\0';
    classifier_feat_config_t cfg = {20, 1, 3, 1, 6};
    size_t n;
    const classifier_feat_t *it = s_extract(text, &cfg, &n);
    cr_assert(gt(sz, n, 0));
    cr_assert(
        le(sz, n,
           (CLASSIFIER_FEAT_MAX_CPS + 2) * 6 + CLASSIFIER_FEAT_MAX_CPS * 3));
    cr_assert(lt(u32, it[n - 1].bucket, 1u << 20));
    free(text);
}

Test(features, scripts)
{
    cr_assert(eq(int, classifier_script('a'), CLASSIFIER_SCRIPT_LATIN));
    cr_assert(eq(int, classifier_script(0xE9), CLASSIFIER_SCRIPT_LATIN));
    cr_assert(eq(int, classifier_script(0x3042), CLASSIFIER_SCRIPT_HIRAGANA));
    cr_assert(eq(int, classifier_script(0x30A2), CLASSIFIER_SCRIPT_KATAKANA));
    cr_assert(eq(int, classifier_script(0x30FC), CLASSIFIER_SCRIPT_KATAKANA));
    cr_assert(eq(int, classifier_script(0x6F22), CLASSIFIER_SCRIPT_HAN));
    cr_assert(eq(int, classifier_script(0xD55C), CLASSIFIER_SCRIPT_HANGUL));
    cr_assert(eq(int, classifier_script(0x0434), CLASSIFIER_SCRIPT_CYRILLIC));
    cr_assert(eq(int, classifier_script(0x0645), CLASSIFIER_SCRIPT_ARABIC));
    cr_assert(eq(int, classifier_script('1'), CLASSIFIER_SCRIPT_NONE));
    cr_assert(eq(int, classifier_script('!'), CLASSIFIER_SCRIPT_NONE));
    cr_assert(eq(int, classifier_script(0x1F621), CLASSIFIER_SCRIPT_NONE));
}
