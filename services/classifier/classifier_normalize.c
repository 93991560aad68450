/* classifier_normalize: sanitise, NFKC + case fold with utf8proc into a
 * reused code-point buffer, then one pass that maps spaces, placeholders
 * and repeats. See classifier_normalize.h for the steps. */
#include "classifier_normalize.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "kj_utf8.h"
#include "kj_util.h"

/* utf8proc may expand a text (NFKC of "㌀" is four code points); twice the
 * input is plenty for real text, and a pathological one is shortened until
 * it fits rather than growing a buffer. */
#define S_CPS_CAP (2 * CLASSIFIER_NORM_MAX_IN)
/* Placeholders can make the output longer than the decomposed text ("@a"
 * becomes " _user_ "); output past this is dropped. */
#define S_OUT_CAP (S_CPS_CAP + 64)

struct classifier_norm {
    uint8_t clean[3 * CLASSIFIER_NORM_MAX_IN + 4]; /* input as valid UTF-8 */
    int32_t raw[CLASSIFIER_NORM_MAX_IN + 1];       /* clean, decoded */
    uint32_t off[CLASSIFIER_NORM_MAX_IN + 1];      /* byte offset of each */
    int32_t cps[S_CPS_CAP];                        /* after NFKC + fold */
    int32_t out[S_OUT_CAP];                        /* the result */
    size_t out_n;                                  /* code points in out */
    char utf8[4 * S_OUT_CAP + 1];                  /* out encoded, on demand */
    size_t utf8_len;                               /* bytes in utf8 */
    bool utf8_ok;                                  /* utf8 matches out */
};

static const char *const s_flag_names[] = {"nfkc",    "casefold", "url",
                                           "mention", "number",   "repeat"};

classifier_norm_t *
classifier_norm_new(void)
{
    classifier_norm_t *self = kj_malloc(sizeof(*self));
    self->out_n = 0;
    self->utf8_len = 0;
    self->utf8[0] = '\0';
    self->utf8_ok = true;
    return self;
}

void
classifier_norm_destroy(classifier_norm_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

/* Decode one UTF-8 sequence (kj_utf8_decode). Returns the bytes consumed
 * (at least 1); *cp gets U+FFFD for an invalid byte, which is consumed
 * alone. */
static size_t
s_decode(const uint8_t *s, size_t n, int32_t *cp)
{
    size_t k = kj_utf8_decode((const char *)s, n, cp);
    if (k == 0) {
        *cp = 0xFFFD;
        return 1;
    }
    return k;
}

/* Copy in[len] into self->clean as valid UTF-8. Returns the bytes
 * written. */
static size_t
s_sanitise(classifier_norm_t *self, const uint8_t *in, size_t len)
{
    size_t o = 0;
    size_t i = 0;
    while (i < len) {
        int32_t cp;
        size_t k = s_decode(in + i, len - i, &cp);
        if (cp == 0xFFFD && k == 1) {
            memcpy(self->clean + o, "\xEF\xBF\xBD", 3);
            o += 3;
        } else {
            memcpy(self->clean + o, in + i, k);
            o += k;
        }
        i += k;
    }
    return o;
}

static bool
s_is_space(int32_t cp)
{
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D))
        return true;
    if (cp < 0x80)
        return cp < 0x20 || cp == 0x7F;
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL ||
           c == UTF8PROC_CATEGORY_ZP || c == UTF8PROC_CATEGORY_CC;
}

static bool
s_is_digit(int32_t cp)
{
    if (cp < 0x80)
        return cp >= '0' && cp <= '9';
    return utf8proc_category(cp) == UTF8PROC_CATEGORY_ND;
}

static bool
s_is_ascii_alnum(int32_t cp)
{
    return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') ||
           (cp >= 'A' && cp <= 'Z');
}

static int32_t
s_ascii_lower(int32_t cp)
{
    return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
}

/* True if cps[i..n) starts with the ASCII word w, ignoring ASCII case. */
static bool
s_starts_with(const int32_t *cps, size_t i, size_t n, const char *w)
{
    size_t k = strlen(w);
    if (n - i < k)
        return false;
    for (size_t j = 0; j < k; j++)
        if (s_ascii_lower(cps[i + j]) != (unsigned char)w[j])
            return false;
    return true;
}

/* The output builder: spaces are deferred so that runs collapse and the
 * ends are trimmed, and repeats are counted on what was really written. */
typedef struct {
    classifier_norm_t *self;
    unsigned flags;
    bool pending_space; /* a space is owed before the next character */
    int32_t last;       /* last code point written, -1 at the start */
    int run;            /* how many times in a row last was written */
} s_emit_t;

static void
s_put(s_emit_t *e, int32_t cp)
{
    classifier_norm_t *self = e->self;
    if (cp == ' ') {
        e->pending_space = self->out_n > 0;
        return;
    }
    if (e->pending_space) {
        if (self->out_n >= S_OUT_CAP)
            return;
        self->out[self->out_n++] = ' ';
        e->pending_space = false;
        e->last = ' ';
        e->run = 1;
    }
    if (cp == e->last) {
        if ((e->flags & CLASSIFIER_NORM_REPEAT) && e->run >= 3)
            return;
        e->run++;
    } else {
        e->last = cp;
        e->run = 1;
    }
    if (self->out_n < S_OUT_CAP)
        self->out[self->out_n++] = cp;
}

static void
s_put_word(s_emit_t *e, const char *w)
{
    s_put(e, ' ');
    for (const char *p = w; *p; p++)
        s_put(e, (unsigned char)*p);
    s_put(e, ' ');
}

/* A URL runs to the next space or non-ASCII character; trailing sentence
 * punctuation is left to the text. Returns the index after it. */
static size_t
s_url_end(const int32_t *cps, size_t i, size_t n)
{
    size_t j = i;
    while (j < n && cps[j] > 0x20 && cps[j] < 0x7F)
        j++;
    while (j > i && strchr(".,!?;:)]}'\"", (int)cps[j - 1]) != NULL)
        j--;
    return j;
}

static bool
s_is_handle_char(int32_t cp)
{
    return s_is_ascii_alnum(cp) || cp == '_';
}

static void
s_post(classifier_norm_t *self, size_t n, unsigned flags)
{
    const int32_t *cps = self->cps;
    s_emit_t e = {self, flags, false, -1, 0};
    /* What came before position i in the input, for token starts. */
    int32_t prev = ' ';
    size_t i = 0;
    while (i < n) {
        int32_t cp = cps[i];
        if ((flags & CLASSIFIER_NORM_URL) &&
            (cp == 'h' || cp == 'H' || cp == 'w' || cp == 'W') &&
            !s_is_ascii_alnum(prev) &&
            (s_starts_with(cps, i, n, "http://") ||
             s_starts_with(cps, i, n, "https://") ||
             s_starts_with(cps, i, n, "www."))) {
            size_t j = s_url_end(cps, i, n);
            s_put_word(&e, "_url_");
            prev = ' ';
            i = j;
            continue;
        }
        if ((flags & CLASSIFIER_NORM_MENTION) && cp == '@' &&
            !s_is_handle_char(prev) && i + 1 < n &&
            s_is_handle_char(cps[i + 1])) {
            size_t j = i + 1;
            while (j < n && s_is_handle_char(cps[j]))
                j++;
            s_put_word(&e, "_user_");
            prev = ' ';
            i = j;
            continue;
        }
        if ((flags & CLASSIFIER_NORM_NUMBER) && s_is_digit(cp)) {
            size_t j = i + 1;
            while (j < n) {
                if (s_is_digit(cps[j])) {
                    j++;
                } else if ((cps[j] == ',' || cps[j] == '.' || cps[j] == ':') &&
                           j + 1 < n && s_is_digit(cps[j + 1])) {
                    j += 2;
                } else {
                    break;
                }
            }
            s_put(&e, '0');
            prev = '0';
            i = j;
            continue;
        }
        if (s_is_space(cp)) {
            s_put(&e, ' ');
            prev = ' ';
        } else {
            s_put(&e, cp);
            prev = cp;
        }
        i++;
    }
}

/* True if NFKC and case folding (A-Z aside) leave cp as it is and it
 * composes with nothing before it: ASCII, kana, the main Han block and the
 * common Japanese punctuation, which is most of what kujo reads. */
static bool
s_stable(int32_t cp)
{
    return cp < 0x80 || (cp >= 0x3041 && cp <= 0x3096) ||
           (cp >= 0x30A1 && cp <= 0x30FA) || (cp >= 0x30FC && cp <= 0x30FE) ||
           (cp >= 0x4E00 && cp <= 0x9FFF) || cp == 0x3001 || cp == 0x3002 ||
           (cp >= 0x300C && cp <= 0x300F);
}

/* The whole text through utf8proc. Returns the code points in cps. */
static size_t
s_fold_slow(classifier_norm_t *self, size_t clean_len, utf8proc_option_t opt)
{
    utf8proc_ssize_t n;
    for (;;) {
        n = utf8proc_decompose_custom(self->clean, (utf8proc_ssize_t)clean_len,
                                      self->cps, S_CPS_CAP, opt, NULL, NULL);
        if (n < 0)
            return 0; /* cannot happen on sanitised input */
        if (n <= S_CPS_CAP)
            break;
        /* Too many code points: halve the text on a character start. */
        clean_len /= 2;
        while (clean_len > 0 && (self->clean[clean_len] & 0xC0) == 0x80)
            clean_len--;
    }
    if (opt & UTF8PROC_COMPOSE) {
        n = utf8proc_normalize_utf32(self->cps, n, opt);
        if (n < 0)
            return 0;
    }
    return (size_t)n;
}

/* The same result, faster: a stable code point followed by another (or
 * by the end) is copied, folding A-Z; every other stretch goes through
 * utf8proc on its own. Stretches cannot interact: nothing composes with
 * or reorders across a stable code point. Output that would not fit is
 * dropped from the first stretch that does not fit. */
static size_t
s_fold_fast(classifier_norm_t *self, size_t clean_len, utf8proc_option_t opt,
            bool casefold)
{
    size_t n = 0;
    for (size_t i = 0; i < clean_len;) {
        int32_t cp;
        size_t w = s_decode(self->clean + i, clean_len - i, &cp);
        self->raw[n] = cp;
        self->off[n++] = (uint32_t)i;
        i += w;
    }
    self->off[n] = (uint32_t)clean_len;
    size_t o = 0;
    size_t k = 0;
    while (k < n) {
        int32_t cp = self->raw[k];
        if (s_stable(cp) && (k + 1 == n || s_stable(self->raw[k + 1]))) {
            if (o == S_CPS_CAP)
                break;
            self->cps[o++] = casefold && cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
            k++;
            continue;
        }
        size_t a = k;
        while (k < n && !(s_stable(self->raw[k]) &&
                          (k + 1 == n || s_stable(self->raw[k + 1]))))
            k++;
        utf8proc_ssize_t m = utf8proc_decompose_custom(
            self->clean + self->off[a],
            (utf8proc_ssize_t)(self->off[k] - self->off[a]), self->cps + o,
            (utf8proc_ssize_t)(S_CPS_CAP - o), opt, NULL, NULL);
        if (m < 0 || (size_t)m > S_CPS_CAP - o)
            break;
        if (opt & UTF8PROC_COMPOSE) {
            m = utf8proc_normalize_utf32(self->cps + o, m, opt);
            if (m < 0)
                break;
        }
        o += (size_t)m;
    }
    return o;
}

size_t
classifier_norm_run(classifier_norm_t *self, const char *text, size_t len,
                    unsigned flags)
{
    self->out_n = 0;
    self->utf8_ok = false;
    if (!text || len == 0)
        return 0;
    if (len > CLASSIFIER_NORM_MAX_IN)
        len = CLASSIFIER_NORM_MAX_IN;
    size_t clean_len = s_sanitise(self, (const uint8_t *)text, len);

    utf8proc_option_t opt = UTF8PROC_IGNORE;
    if (flags & CLASSIFIER_NORM_NFKC)
        opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_STABLE;
    if (flags & CLASSIFIER_NORM_CASEFOLD)
        opt |= UTF8PROC_CASEFOLD;
    /* The fast path assumes NFKC (without it a stable code point could
     * still be changed by nothing, but keep one definition simple). */
    size_t n = (flags & CLASSIFIER_NORM_NFKC) && !(flags & CLASSIFIER_NORM_SLOW)
                   ? s_fold_fast(self, clean_len, opt,
                                 flags & CLASSIFIER_NORM_CASEFOLD)
                   : s_fold_slow(self, clean_len, opt);
    s_post(self, n, flags);
    return self->out_n;
}

const int32_t *
classifier_norm_codepoints(const classifier_norm_t *self, size_t *n)
{
    *n = self->out_n;
    return self->out;
}

const char *
classifier_norm_utf8(classifier_norm_t *self, size_t *len)
{
    if (!self->utf8_ok) {
        size_t o = 0;
        for (size_t i = 0; i < self->out_n; i++)
            o += (size_t)utf8proc_encode_char(self->out[i],
                                              (uint8_t *)self->utf8 + o);
        self->utf8[o] = '\0';
        self->utf8_len = o;
        self->utf8_ok = true;
    }
    if (len)
        *len = self->utf8_len;
    return self->utf8;
}

long
classifier_normalize(const char *in, size_t len, unsigned flags, char *out,
                     size_t size)
{
    if (size == 0)
        return -1;
    classifier_norm_t *norm = classifier_norm_new();
    classifier_norm_run(norm, in, len, flags);
    size_t n;
    const char *s = classifier_norm_utf8(norm, &n);
    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    classifier_norm_destroy(&norm);
    return (long)n;
}

int
classifier_norm_flags_format(unsigned flags, char *out, size_t size)
{
    size_t o = 0;
    int total = 0;
    for (size_t i = 0; i < KJ_ARRAY_LEN(s_flag_names); i++) {
        if (!(flags & (1u << i)))
            continue;
        int k = snprintf(o < size ? out + o : NULL, o < size ? size - o : 0,
                         "%s%s", total > 0 ? "," : "", s_flag_names[i]);
        total += k;
        o = (size_t)total;
    }
    if (total == 0 && size > 0)
        out[0] = '\0';
    return total;
}

int
classifier_norm_flags_parse(const char *s, unsigned *flags)
{
    unsigned f = 0;
    const char *p = s;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t k = comma ? (size_t)(comma - p) : strlen(p);
        size_t i;
        for (i = 0; i < KJ_ARRAY_LEN(s_flag_names); i++) {
            if (strlen(s_flag_names[i]) == k &&
                memcmp(s_flag_names[i], p, k) == 0)
                break;
        }
        if (i == KJ_ARRAY_LEN(s_flag_names))
            return -1;
        f |= 1u << i;
        p += k;
        if (*p == ',')
            p++;
    }
    *flags = f;
    return 0;
}
