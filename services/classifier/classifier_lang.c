/* classifier_lang: script counting. Complaints reaching kujo are Japanese
 * or English almost always, so the question is narrow: is there Japanese
 * in it (kana settle it; ideographs alone could be Chinese), and is the
 * Latin text English (its function words give it away)? */
#include "classifier_lang.h"

#include <string.h>

#include <utf8proc.h>

/* English words that other Latin-script languages seldom use, so one of
 * them tells English from French or Spanish. "a", "in", "on", "me", "no",
 * "do", "so" are left out because they are common words elsewhere. */
static const char *const s_function_words[] = {
    "the",    "and",    "is",     "are",   "was",    "were",    "my",
    "to",     "i",      "you",    "your",  "not",    "for",     "of",
    "this",   "that",   "it",     "with",  "have",   "has",     "had",
    "been",   "be",     "but",    "what",  "when",   "why",     "how",
    "we",     "they",   "our",    "from",  "at",     "there",   "would",
    "will",   "just",   "still",  "can't", "don't",  "didn't",  "doesn't",
    "won't",  "i'm",    "it's",   "isn't", "wasn't", "can",     "by",
    "if",     "any",    "about",  "who",   "which",  "because", "after",
    "again",  "please", "thanks", "thank", "never",  "very",    "since",
    "cannot", "hasn't", "haven't"};

/* Function words of the other Latin-script languages customers write
 * in (French, Spanish, German, Portuguese, Italian, Dutch): evidence that
 * a Latin text is not English. English homographs ("die", "son", "per",
 * "me", "con", "um") are left out. */
static const char *const s_foreign_words[] = {
    "le",   "la",   "les",   "et",    "est",   "je",    "pas",  "une",   "des",
    "mon",  "ma",   "mes",   "ne",    "du",    "que",   "pour", "avec",  "sur",
    "vous", "nous", "tres",  "c'est", "n'est", "j'ai",  "qui",  "dans",  "el",
    "los",  "las",  "y",     "es",    "mi",    "una",   "por",  "para",  "pero",
    "muy",  "esta", "del",   "lo",    "ich",   "und",   "ist",  "nicht", "der",
    "das",  "ein",  "eine",  "mit",   "mein",  "meine", "habe", "auf",   "sie",
    "wir",  "noch", "meu",   "minha", "com",   "nao",   "voce", "il",    "sono",
    "di",   "che",  "della", "de",    "un",    "het",   "een",  "niet",  "ik"};

/* A Japanese character carries roughly what three Latin letters do (an
 * English word averages about five letters, a Japanese one two or three
 * characters), so raw letter counts would let a brand name written in
 * Latin outvote the Japanese sentence around it. Other scripts are mostly
 * alphabets or syllabaries: in between. */
#define S_WEIGHT_JA 3
#define S_WEIGHT_OTHER 2
#define S_WEIGHT_LATIN 1
/* Up to this many Latin words without a function word still count as
 * English ("refund please", "app down"), but ambiguously. */
#define S_SHORT_WORDS 3
#define S_WORD_MAX 16

typedef enum { S_NONE, S_KANA, S_HIRAGANA, S_CJK, S_LATIN, S_OTHER } s_script_t;

static bool
s_is_letter(utf8proc_int32_t cp)
{
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        return true;
    default:
        return false;
    }
}

static s_script_t
s_script(utf8proc_int32_t cp)
{
    if (cp < 0x80)
        return ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) ? S_LATIN
                                                                      : S_NONE;
    /* Hiragana is counted apart: it carries Japanese grammar (particles,
     * verb endings), so it says the sentence itself is Japanese. */
    if (cp >= 0x3041 && cp <= 0x309F && cp != 0x309B && cp != 0x309C &&
        cp != 0x3099 && cp != 0x309A)
        return S_HIRAGANA;
    /* Katakana, its phonetic extension and the half-width forms (which
     * NFKC folds away, but the text may not be folded), minus the middle
     * dot, which is punctuation. */
    if ((cp >= 0x30A1 && cp <= 0x30FF && cp != 0x30FB) ||
        (cp >= 0x31F0 && cp <= 0x31FF) || (cp >= 0xFF66 && cp <= 0xFF9D) ||
        (cp >= 0x1B000 && cp <= 0x1B16F))
        return S_KANA;
    /* CJK ideographs (unified, extension A, compatibility, extensions B+),
     * plus the iteration mark 々 and 〇. */
    if ((cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
        (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x3134F) ||
        cp == 0x3005 || cp == 0x3007)
        return S_CJK;
    if (!s_is_letter(cp))
        return S_NONE;
    /* Latin-1, Latin Extended A/B, IPA, Latin Extended Additional and
     * C/D, and the full-width forms. */
    if (cp < 0x2B0 || (cp >= 0x1E00 && cp <= 0x1EFF) ||
        (cp >= 0x2C60 && cp <= 0x2C7F) || (cp >= 0xA720 && cp <= 0xA7FF) ||
        (cp >= 0xFF21 && cp <= 0xFF3A) || (cp >= 0xFF41 && cp <= 0xFF5A))
        return S_LATIN;
    return S_OTHER;
}

static bool
s_in(const char *w, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(w, list[i]) == 0)
            return true;
    return false;
}

/* The word being read: its ASCII spelling, lowercased, if it fits. */
typedef struct {
    char buf[S_WORD_MAX + 1];
    size_t len;
    bool open;  /* inside a word */
    bool ascii; /* every letter so far was ASCII and it fits in buf */
} s_word_t;

static void
s_word_end(s_word_t *w, classifier_lang_t *out)
{
    if (!w->open)
        return;
    /* A trailing apostrophe ("customers'") is not part of the word. */
    while (w->len > 0 && w->buf[w->len - 1] == '\'')
        w->len--;
    w->buf[w->len] = '\0';
    out->words++;
    if (w->ascii && w->len > 0) {
        if (s_in(w->buf, s_function_words,
                 sizeof s_function_words / sizeof *s_function_words))
            out->function_words++;
        else if (s_in(w->buf, s_foreign_words,
                      sizeof s_foreign_words / sizeof *s_foreign_words))
            out->foreign_words++;
    }
    w->open = false;
}

static void
s_word_add(s_word_t *w, utf8proc_int32_t cp)
{
    if (!w->open) {
        w->open = true;
        w->ascii = true;
        w->len = 0;
    }
    if (cp >= 0x80 || w->len >= S_WORD_MAX) {
        w->ascii = false;
        return;
    }
    char ch = (char)cp;
    if (ch >= 'A' && ch <= 'Z')
        ch = (char)(ch - 'A' + 'a');
    w->buf[w->len++] = ch;
}

static float
s_clamp(float x)
{
    return x < 0.0f ? 0.0f : x > 0.99f ? 0.99f : x;
}

void
classifier_lang_detect(const char *text, size_t len, classifier_lang_t *out)
{
    memset(out, 0, sizeof *out);
    size_t hiragana = 0;
    bool latin_ascii_only = true; /* no accented or full-width letters */
    s_word_t word = {.open = false};
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)text;
    size_t i = 0;
    while (text && i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n =
            utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
        if (n <= 0) {
            /* Invalid UTF-8: skip the byte, it ends any word. */
            s_word_end(&word, out);
            i++;
            continue;
        }
        i += (size_t)n;
        s_script_t s = s_script(cp);
        if (s == S_LATIN) {
            out->latin++;
            if (cp >= 0x80)
                latin_ascii_only = false;
            s_word_add(&word, cp);
            continue;
        }
        /* An apostrophe inside a word belongs to it: "can't", "i’m". */
        if ((cp == '\'' || cp == 0x2019) && word.open) {
            s_word_add(&word, '\'');
            continue;
        }
        s_word_end(&word, out);
        if (s == S_HIRAGANA) {
            hiragana++;
            out->kana++;
        } else if (s == S_KANA) {
            out->kana++;
        } else if (s == S_CJK) {
            out->cjk++;
        } else if (s == S_OTHER) {
            out->other++;
        }
    }
    s_word_end(&word, out);

    size_t wja = S_WEIGHT_JA * (out->kana + out->cjk);
    size_t wlat = S_WEIGHT_LATIN * out->latin;
    size_t woth = S_WEIGHT_OTHER * out->other;
    size_t total = wja + wlat + woth;
    if (total == 0) {
        out->language = "und";
        out->confidence = 0.0f;
        out->ambiguous = true;
        return;
    }
    /* Hiragana with no English function words means Japanese grammar
     * around some Latin names ("Amazon Prime Videoが見れない"). */
    bool ja_grammar = hiragana >= 2 && out->function_words == 0;
    if ((wja > 0 && wja >= wlat && wja >= woth) ||
        (ja_grammar && wja >= woth)) {
        float share = (float)wja / (float)total;
        out->language = "ja";
        if (out->kana > 0) {
            /* 0.75 for an even mix, 0.99 for Japanese only. */
            out->confidence = s_clamp(0.51f + 0.48f * share);
            if (ja_grammar && share < 0.5f)
                out->confidence = 0.6f;
        } else {
            /* Ideographs alone could be Chinese. */
            out->confidence = s_clamp(0.4f + 0.2f * share);
            out->ambiguous = true;
        }
        return;
    }
    if (wlat >= woth) {
        float share = (float)wlat / (float)total;
        size_t fw = out->function_words, ff = out->foreign_words;
        float fw_ratio = out->words ? (float)fw / (float)out->words : 0;
        if (fw > ff && (fw >= 2 || out->words <= 12)) {
            /* As for Japanese, scaled down when function words are
             * rare (English has about one in every three words). */
            float density = 0.7f + fw_ratio;
            out->language = "en";
            out->confidence =
                s_clamp((0.51f + 0.48f * share) * (density > 1 ? 1 : density));
        } else if (ff > 0 && ff >= fw) {
            /* French, Spanish, German...: some other language. */
            out->language = "other";
            out->confidence =
                s_clamp((0.51f + 0.48f * share) * (ff >= 2 ? 1.0f : 0.7f));
            out->ambiguous = ff < 2;
        } else if (out->words <= S_SHORT_WORDS || latin_ascii_only) {
            /* "App down", "Flight delayed 3 hours, no info": nothing
             * marks another language, and English is what kujo's
             * Latin-script customers write, but a hint may still win. */
            out->language = "en";
            out->confidence = s_clamp(0.5f * share);
            out->ambiguous = true;
        } else {
            /* Accented Latin without function words of either kind. */
            out->language = "other";
            out->confidence = s_clamp(0.5f * share);
            out->ambiguous = true;
        }
        return;
    }
    out->language = "other";
    out->confidence = s_clamp(0.5f + 0.49f * (float)woth / (float)total);
}

bool
classifier_lang_apply_hint(classifier_lang_t *lang, const char *hint)
{
    if (!hint || !lang->ambiguous)
        return false;
    /* Only the primary subtag matters: "ja-JP", "en_US", "EN". */
    char primary[3] = {0};
    for (size_t i = 0; i < 2 && hint[i]; i++) {
        char ch = hint[i];
        primary[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    if (hint[0] == '\0' || hint[1] == '\0' ||
        (hint[2] != '\0' && hint[2] != '-' && hint[2] != '_'))
        return false;
    if (strcmp(primary, "ja") == 0)
        lang->language = "ja";
    else if (strcmp(primary, "en") == 0)
        lang->language = "en";
    else
        return false;
    if (lang->confidence < 0.6f)
        lang->confidence = 0.6f;
    lang->ambiguous = false;
    return true;
}
