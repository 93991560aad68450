/* classifier_features: hashed n-gram features of a normalised text.
 *
 * Two families, each optional:
 *   word n-grams: tokens are runs of letters, marks, digits and '_' (an
 *     apostrophe between letters stays inside: "don't"); a run also ends
 *     where the script changes between Han, hiragana, katakana and the
 *     rest, which gives Japanese cheap word-like pieces without a
 *     tokenizer (部屋が狭い -> 部屋 / が / 狭 / い); each run of one
 *     punctuation or symbol character (emoji included) is a token.
 *   character n-grams: over the code points with one space of padding at
 *     each end, spaces included (so English n-grams see word edges).
 *
 * Hash (version 1, fixed by the model format): a token or character
 * n-gram hashes as 64-bit FNV-1a over its code points (h ^= cp; h *= p);
 * a word n-gram folds its tokens' hashes with the combine step below; the
 * bucket is the top hash_bits bits of murmur3's fmix64(h ^ tag), where tag
 * is 'W' << 24 | n for word n-grams and 'C' << 24 | n for character ones.
 *
 * The output lists each distinct (family, n, bucket) once with its count,
 * in first-seen order. Items carry their n, so one extraction with the
 * union of several models' ranges serves them all: each model skips the
 * items outside its own ranges (classifier_feat_config_union). No allocation
 * per text: classifier_feats_t is reused (one per thread). */
#ifndef CLASSIFIER_FEATURES_H
#define CLASSIFIER_FEATURES_H

#include <stddef.h>
#include <stdint.h>

/* Code points looked at; a longer normalised text is cut here. */
#define CLASSIFIER_FEAT_MAX_CPS 8192
#define CLASSIFIER_FEAT_MIN_BITS 10
#define CLASSIFIER_FEAT_MAX_BITS 24
#define CLASSIFIER_FEAT_MAX_WORD_N 3
#define CLASSIFIER_FEAT_MAX_CHAR_N 6

enum { CLASSIFIER_FEAT_WORD = 0, CLASSIFIER_FEAT_CHAR = 1 };

typedef struct {
    unsigned hash_bits; /* buckets are [0, 2^hash_bits) */
    unsigned word_min;  /* word n-gram orders word_min..word_max; 0 = off */
    unsigned word_max;
    unsigned char_min; /* character n-gram lengths; 0 = off */
    unsigned char_max;
} classifier_feat_config_t;

typedef struct {
    uint32_t bucket; /* hash slot */
    uint16_t count;  /* occurrences in the text (saturates) */
    uint8_t family;  /* CLASSIFIER_FEAT_WORD or CLASSIFIER_FEAT_CHAR */
    uint8_t n;       /* n-gram order (words) or length (characters) */
} classifier_feat_t;

/* Writing systems, for tokens here and for language rules. */
typedef enum {
    CLASSIFIER_SCRIPT_NONE = 0, /* not a letter */
    CLASSIFIER_SCRIPT_LATIN,
    CLASSIFIER_SCRIPT_HAN,
    CLASSIFIER_SCRIPT_HIRAGANA,
    CLASSIFIER_SCRIPT_KATAKANA,
    CLASSIFIER_SCRIPT_HANGUL,
    CLASSIFIER_SCRIPT_CYRILLIC,
    CLASSIFIER_SCRIPT_GREEK,
    CLASSIFIER_SCRIPT_ARABIC,
    CLASSIFIER_SCRIPT_HEBREW,
    CLASSIFIER_SCRIPT_THAI,
    CLASSIFIER_SCRIPT_DEVANAGARI,
    CLASSIFIER_SCRIPT_OTHER, /* a letter of any other script */
    CLASSIFIER_SCRIPT_COUNT
} classifier_script_t;

typedef struct classifier_feats classifier_feats_t;

/* A reusable extractor (about 3 MB). Caller owns it. */
classifier_feats_t *
classifier_feats_new(void);

/* Destroy and set *self_p to NULL. Safe on NULL. */
void
classifier_feats_destroy(classifier_feats_t **self_p);

/* 0 if cfg is usable; else -1 with the reason in err. */
int
classifier_feat_config_check(const classifier_feat_config_t *cfg, char *err,
                             size_t err_size);

/* True if an item made under some config is one cfg would make too. */
static inline int
classifier_feat_wanted(const classifier_feat_config_t *cfg,
                       const classifier_feat_t *it)
{
    if (it->family == CLASSIFIER_FEAT_WORD)
        return it->n >= cfg->word_min && it->n <= cfg->word_max;
    return it->n >= cfg->char_min && it->n <= cfg->char_max;
}

/* The smallest config whose items include those of a and b (same
 * hash_bits): the ranges' union. */
classifier_feat_config_t
classifier_feat_config_union(const classifier_feat_config_t *a,
                             const classifier_feat_config_t *b);

/* Extract the features of cps[n] (normalised text) under cfg, which must
 * pass classifier_feat_config_check. Returns the number of distinct
 * features; they stay valid until the next call. */
size_t
classifier_feats_extract(classifier_feats_t *self,
                         const classifier_feat_config_t *cfg,
                         const int32_t *cps, size_t n);

/* The last extraction's features; *n gets the count. */
const classifier_feat_t *
classifier_feats_items(const classifier_feats_t *self, size_t *n);

/* The script of a code point (CLASSIFIER_SCRIPT_NONE if not a letter;
 * ー, 々 and the kana iteration marks count as letters of their block). */
classifier_script_t
classifier_script(int32_t cp);

#endif
