/* classifier_features: tokenise, hash and count n-grams into a reused
 * open-addressing table. Slots carry a generation number, so starting a
 * new text costs nothing: a slot from an older generation is empty. */
#include "classifier_features.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "kj_util.h"

#define S_FNV_OFFSET 0xcbf29ce484222325ULL
#define S_FNV_PRIME 0x100000001b3ULL

/* Upper bound on distinct features of one text: every character position
 * (plus the two pads) starts at most MAX_CHAR_N n-grams, every token at
 * most MAX_WORD_N word n-grams. */
#define S_MAX_ITEMS                                                            \
    ((CLASSIFIER_FEAT_MAX_CPS + 2) * CLASSIFIER_FEAT_MAX_CHAR_N +              \
     CLASSIFIER_FEAT_MAX_CPS * CLASSIFIER_FEAT_MAX_WORD_N)
/* At least twice S_MAX_ITEMS, a power of two, so probing always ends. */
#define S_SLOT_BITS 18
#define S_SLOTS (1u << S_SLOT_BITS)

/* A slot packs three fields into 8 bytes so the table of a text fits the
 * L1 cache: bits 0-27 the key (bucket << 4 | family << 3 | n), 28-44 the
 * index into items, 45-60 the generation that filled it (an older one
 * means empty). */
typedef uint64_t s_slot_t;
#define S_KEY_MASK ((1ull << 28) - 1)
#define S_IDX_SHIFT 28
#define S_IDX_MASK ((1ull << 17) - 1)
#define S_GEN_SHIFT 45
#define S_GEN_MASK 0xffffull

struct classifier_feats {
    classifier_feat_t items[S_MAX_ITEMS];     /* the last text's features */
    size_t n_items;                           /* how many */
    s_slot_t slots[S_SLOTS];                  /* dedupe table */
    uint32_t gen;                             /* current generation, 16 bits */
    uint32_t mask;                            /* slots in use this text - 1 */
    unsigned slot_shift;                      /* 32 - log2(mask + 1) */
    unsigned shift;                           /* 64 - hash_bits */
    uint64_t tokens[CLASSIFIER_FEAT_MAX_CPS]; /* token hashes */
};

_Static_assert(S_SLOTS >= 2 * (size_t)S_MAX_ITEMS, "dedupe table too small");
_Static_assert(S_MAX_ITEMS <= S_IDX_MASK, "item index does not fit a slot");
_Static_assert(CLASSIFIER_FEAT_MAX_BITS + 4 <= 28, "key does not fit a slot");

classifier_feats_t *
classifier_feats_new(void)
{
    classifier_feats_t *self = kj_malloc(sizeof(*self));
    self->n_items = 0;
    memset(self->slots, 0, sizeof(self->slots));
    self->gen = 0;
    self->mask = 0;
    self->shift = 64 - 18;
    return self;
}

void
classifier_feats_destroy(classifier_feats_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

int
classifier_feat_config_check(const classifier_feat_config_t *cfg, char *err,
                             size_t err_size)
{
    if (cfg->hash_bits < CLASSIFIER_FEAT_MIN_BITS ||
        cfg->hash_bits > CLASSIFIER_FEAT_MAX_BITS) {
        snprintf(err, err_size, "hash_bits %u outside %d..%d", cfg->hash_bits,
                 CLASSIFIER_FEAT_MIN_BITS, CLASSIFIER_FEAT_MAX_BITS);
        return -1;
    }
    if ((cfg->word_min == 0) != (cfg->word_max == 0) ||
        cfg->word_min > cfg->word_max ||
        cfg->word_max > CLASSIFIER_FEAT_MAX_WORD_N) {
        snprintf(err, err_size, "word n-gram range %u..%u not within 1..%d",
                 cfg->word_min, cfg->word_max, CLASSIFIER_FEAT_MAX_WORD_N);
        return -1;
    }
    if ((cfg->char_min == 0) != (cfg->char_max == 0) ||
        cfg->char_min > cfg->char_max ||
        cfg->char_max > CLASSIFIER_FEAT_MAX_CHAR_N) {
        snprintf(err, err_size, "char n-gram range %u..%u not within 1..%d",
                 cfg->char_min, cfg->char_max, CLASSIFIER_FEAT_MAX_CHAR_N);
        return -1;
    }
    if (cfg->word_max == 0 && cfg->char_max == 0) {
        snprintf(err, err_size, "no feature family enabled");
        return -1;
    }
    return 0;
}

static void
s_range_union(unsigned amin, unsigned amax, unsigned bmin, unsigned bmax,
              unsigned *omin, unsigned *omax)
{
    if (amax == 0) {
        *omin = bmin;
        *omax = bmax;
    } else if (bmax == 0) {
        *omin = amin;
        *omax = amax;
    } else {
        *omin = amin < bmin ? amin : bmin;
        *omax = amax > bmax ? amax : bmax;
    }
}

classifier_feat_config_t
classifier_feat_config_union(const classifier_feat_config_t *a,
                             const classifier_feat_config_t *b)
{
    classifier_feat_config_t u = *a;
    s_range_union(a->word_min, a->word_max, b->word_min, b->word_max,
                  &u.word_min, &u.word_max);
    s_range_union(a->char_min, a->char_max, b->char_min, b->char_max,
                  &u.char_min, &u.char_max);
    return u;
}

classifier_script_t
classifier_script(int32_t cp)
{
    if (cp < 0x80) {
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z'))
            return CLASSIFIER_SCRIPT_LATIN;
        return CLASSIFIER_SCRIPT_NONE;
    }
    /* Japanese first, without a table lookup: kana and the common Han
     * block are letters throughout (ー, 々 and the iteration marks are not
     * category L but belong to words). */
    if ((cp >= 0x3041 && cp <= 0x3096) || (cp >= 0x309D && cp <= 0x309F))
        return CLASSIFIER_SCRIPT_HIRAGANA;
    if (cp >= 0x30A1 && cp <= 0x30FE && cp != 0x30FB)
        return CLASSIFIER_SCRIPT_KATAKANA;
    if ((cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3005 && cp <= 0x3007))
        return CLASSIFIER_SCRIPT_HAN;
    utf8proc_category_t c = utf8proc_category(cp);
    if (c != UTF8PROC_CATEGORY_LU && c != UTF8PROC_CATEGORY_LL &&
        c != UTF8PROC_CATEGORY_LT && c != UTF8PROC_CATEGORY_LM &&
        c != UTF8PROC_CATEGORY_LO)
        return CLASSIFIER_SCRIPT_NONE;
    if (cp <= 0x24F || (cp >= 0x1E00 && cp <= 0x1EFF) ||
        (cp >= 0x250 && cp <= 0x2AF) || (cp >= 0xFF21 && cp <= 0xFF5A))
        return CLASSIFIER_SCRIPT_LATIN;
    if ((cp >= 0x370 && cp <= 0x3FF) || (cp >= 0x1F00 && cp <= 0x1FFF))
        return CLASSIFIER_SCRIPT_GREEK;
    if (cp >= 0x400 && cp <= 0x52F)
        return CLASSIFIER_SCRIPT_CYRILLIC;
    if (cp >= 0x590 && cp <= 0x5FF)
        return CLASSIFIER_SCRIPT_HEBREW;
    if ((cp >= 0x600 && cp <= 0x6FF) || (cp >= 0x750 && cp <= 0x77F) ||
        (cp >= 0x8A0 && cp <= 0x8FF) || (cp >= 0xFB50 && cp <= 0xFDFF) ||
        (cp >= 0xFE70 && cp <= 0xFEFF))
        return CLASSIFIER_SCRIPT_ARABIC;
    if (cp >= 0x900 && cp <= 0x97F)
        return CLASSIFIER_SCRIPT_DEVANAGARI;
    if (cp >= 0xE00 && cp <= 0xE7F)
        return CLASSIFIER_SCRIPT_THAI;
    if ((cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0x3130 && cp <= 0x318F) ||
        (cp >= 0xAC00 && cp <= 0xD7AF))
        return CLASSIFIER_SCRIPT_HANGUL;
    if (cp >= 0x3041 && cp <= 0x309F)
        return CLASSIFIER_SCRIPT_HIRAGANA;
    if ((cp >= 0x30A0 && cp <= 0x30FF) || (cp >= 0x31F0 && cp <= 0x31FF) ||
        (cp >= 0xFF66 && cp <= 0xFF9F))
        return CLASSIFIER_SCRIPT_KATAKANA;
    if ((cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
        (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x3134F))
        return CLASSIFIER_SCRIPT_HAN;
    return CLASSIFIER_SCRIPT_OTHER;
}

/* What a code point is to the tokenizer, and for word characters the
 * script group that splits Japanese runs (1 Han, 2 hiragana, 3 katakana,
 * 0 any other script, -1 for marks and digits, which join whatever run
 * they are in). One script lookup per code point. */
enum { S_SPACE, S_WORD, S_PUNCT };

static int
s_kind(int32_t cp, int *group)
{
    *group = -1;
    if (cp < 0x80) {
        if (cp <= ' ' || cp == 0x7F)
            return S_SPACE;
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) {
            *group = 0;
            return S_WORD;
        }
        if ((cp >= '0' && cp <= '9') || cp == '_')
            return S_WORD;
        return S_PUNCT;
    }
    switch (classifier_script(cp)) {
    case CLASSIFIER_SCRIPT_NONE:
        break;
    case CLASSIFIER_SCRIPT_HAN:
        *group = 1;
        return S_WORD;
    case CLASSIFIER_SCRIPT_HIRAGANA:
        *group = 2;
        return S_WORD;
    case CLASSIFIER_SCRIPT_KATAKANA:
        *group = 3;
        return S_WORD;
    default:
        *group = 0;
        return S_WORD;
    }
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return S_WORD;
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_CC:
        return S_SPACE;
    default:
        return S_PUNCT;
    }
}

static inline uint64_t
s_fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static inline uint64_t
s_combine(uint64_t h, uint64_t t)
{
    return s_fmix64(h ^ (t + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)));
}

static void
s_add(classifier_feats_t *self, uint64_t h, uint32_t tag, uint8_t family,
      uint8_t n)
{
    uint32_t bucket = (uint32_t)(s_fmix64(h ^ tag) >> self->shift);
    uint32_t key = bucket << 4 | (uint32_t)family << 3 | n;
    uint64_t gen = (uint64_t)self->gen << S_GEN_SHIFT;
    /* The high bits of the product: its low bits would only depend on the
     * key's low bits, which hold the nearly constant family and n. */
    uint32_t i = (key * 0x9e3779b1u) >> self->slot_shift;
    for (;;) {
        s_slot_t s = self->slots[i];
        if ((s & (S_GEN_MASK << S_GEN_SHIFT)) != gen) {
            self->slots[i] = gen | (uint64_t)self->n_items << S_IDX_SHIFT | key;
            classifier_feat_t *it = &self->items[self->n_items++];
            it->bucket = bucket;
            it->count = 1;
            it->family = family;
            it->n = n;
            return;
        }
        if ((s & S_KEY_MASK) == key) {
            classifier_feat_t *it =
                &self->items[(s >> S_IDX_SHIFT) & S_IDX_MASK];
            if (it->count < UINT16_MAX)
                it->count++;
            return;
        }
        i = (i + 1) & self->mask;
    }
}

/* Split cps into tokens and store their hashes. Returns the count. */
static size_t
s_tokenize(classifier_feats_t *self, const int32_t *cps, size_t n)
{
    size_t nt = 0;
    size_t i = 0;
    while (i < n) {
        int32_t cp = cps[i];
        int group;
        int kind = s_kind(cp, &group);
        if (kind == S_SPACE) {
            i++;
            continue;
        }
        uint64_t h = S_FNV_OFFSET;
        if (kind == S_PUNCT) {
            /* A run of one punctuation character ("!!!") is one token. */
            size_t j = i;
            while (j < n && cps[j] == cp) {
                h = (h ^ (uint32_t)cps[j]) * S_FNV_PRIME;
                j++;
            }
            self->tokens[nt++] = h;
            i = j;
            continue;
        }
        size_t j = i;
        while (j < n) {
            int32_t c = cps[j];
            int g, g2;
            int k = s_kind(c, &g);
            if (k != S_WORD) {
                /* Keep the apostrophe of "don't" inside the word. */
                if ((c == '\'' || c == 0x2019) && j + 1 < n && j > i &&
                    s_kind(cps[j + 1], &g2) == S_WORD) {
                    h = (h ^ (uint32_t)c) * S_FNV_PRIME;
                    j++;
                    continue;
                }
                break;
            }
            if (g >= 0) {
                if (group >= 0 && g != group && (g > 0 || group > 0))
                    break;
                group = g;
            }
            h = (h ^ (uint32_t)c) * S_FNV_PRIME;
            j++;
        }
        self->tokens[nt++] = h;
        i = j;
    }
    return nt;
}

static void
s_char_ngrams(classifier_feats_t *self, const classifier_feat_config_t *cfg,
              const int32_t *cps, size_t n)
{
    /* Positions 0 and n + 1 are the padding spaces. */
    size_t padded = n + 2;
    for (size_t i = 0; i < padded; i++) {
        uint64_t h = S_FNV_OFFSET;
        for (size_t len = 1; len <= cfg->char_max && i + len <= padded; len++) {
            size_t p = i + len - 1;
            int32_t c = (p == 0 || p == n + 1) ? ' ' : cps[p - 1];
            h = (h ^ (uint32_t)c) * S_FNV_PRIME;
            if (len < cfg->char_min || (len == 1 && c == ' '))
                continue;
            s_add(self, h, ('C' << 24) | (uint32_t)len, CLASSIFIER_FEAT_CHAR,
                  (uint8_t)len);
        }
    }
}

static void
s_word_ngrams(classifier_feats_t *self, const classifier_feat_config_t *cfg,
              size_t nt)
{
    for (unsigned k = cfg->word_min; k <= cfg->word_max; k++) {
        for (size_t i = 0; i + k <= nt; i++) {
            uint64_t h = self->tokens[i];
            for (unsigned j = 1; j < k; j++)
                h = s_combine(h, self->tokens[i + j]);
            s_add(self, h, ('W' << 24) | k, CLASSIFIER_FEAT_WORD, (uint8_t)k);
        }
    }
}

size_t
classifier_feats_extract(classifier_feats_t *self,
                         const classifier_feat_config_t *cfg,
                         const int32_t *cps, size_t n)
{
    if (n > CLASSIFIER_FEAT_MAX_CPS)
        n = CLASSIFIER_FEAT_MAX_CPS;
    self->n_items = 0;
    self->shift = 64 - cfg->hash_bits;
    /* Size the table to this text so that short texts stay in cache. */
    size_t bound = 0;
    if (cfg->char_max)
        bound += (n + 2) * (cfg->char_max - cfg->char_min + 1);
    if (cfg->word_max)
        bound += n * (cfg->word_max - cfg->word_min + 1);
    uint32_t size = 256;
    unsigned bits = 8;
    while (size < 2 * bound) {
        size <<= 1;
        bits++;
    }
    self->mask = size - 1;
    self->slot_shift = 32 - bits;
    self->gen = (self->gen + 1) & S_GEN_MASK;
    if (self->gen == 0) {
        memset(self->slots, 0, sizeof(self->slots));
        self->gen = 1;
    }
    if (cfg->word_max) {
        size_t nt = s_tokenize(self, cps, n);
        s_word_ngrams(self, cfg, nt);
    }
    /* An empty text would otherwise yield the n-grams of its padding. */
    if (cfg->char_max && n > 0)
        s_char_ngrams(self, cfg, cps, n);
    return self->n_items;
}

const classifier_feat_t *
classifier_feats_items(const classifier_feats_t *self, size_t *n)
{
    *n = self->n_items;
    return self->items;
}
