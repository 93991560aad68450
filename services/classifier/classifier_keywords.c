/* classifier_keywords: keywords indexed by their first bytes, so that a
 * text is scanned once whatever the size of the table. One-byte keywords
 * are indexed by that byte, two-byte ones by both bytes, longer ones by a
 * 16-bit hash of the first three (the many Japanese keywords that share a
 * UTF-8 lead pair then do not share a bucket). */
#include "classifier_keywords.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier_model.h"
#include "kj_text.h"
#include "kj_util.h"

#define S_KEY2_BASE 0u
#define S_KEY3_BASE 65536u
#define S_KEY1_BASE 131072u
#define S_BUCKETS (S_KEY1_BASE + 256u)
/* NFKC can expand one code point to at most 18 (U+FDFA), as in kj_rules. */
#define S_FOLD_GROWTH 18

typedef struct {
    char *text; /* folded */
    uint32_t len;
    uint16_t cls;
    bool prefix;     /* "refund*": any ending */
    bool edge_start; /* starts with an ASCII letter/digit: needs a boundary */
    bool edge_end;   /* ends with one (and not prefix): needs a boundary */
} s_kw_t;

struct classifier_keywords {
    s_kw_t *kw; /* sorted by bucket */
    size_t n_kw, cap;
    uint32_t *bucket; /* S_BUCKETS + 1 offsets into kw */
    size_t n_classes;
    char **reasons; /* reason labels of a loaded table */
    size_t n_reasons;
};

static bool
s_alnum(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

static unsigned
s_key1(const uint8_t *t)
{
    return S_KEY1_BASE + t[0];
}

static unsigned
s_key2(const uint8_t *t)
{
    return S_KEY2_BASE + ((unsigned)t[0] << 8 | t[1]);
}

static unsigned
s_key3(const uint8_t *t)
{
    uint32_t v = (uint32_t)t[0] << 16 | (uint32_t)t[1] << 8 | t[2];
    return S_KEY3_BASE + ((v * 0x9e3779b1u) >> 16);
}

static unsigned
s_key(const s_kw_t *k)
{
    const uint8_t *t = (const uint8_t *)k->text;
    return k->len == 1 ? s_key1(t) : k->len == 2 ? s_key2(t) : s_key3(t);
}

static classifier_keywords_t *
s_new(void)
{
    return kj_calloc(1, sizeof(classifier_keywords_t));
}

/* Add folded text[len] (len > 0) as evidence of cls. */
static void
s_add(classifier_keywords_t *self, const char *text, size_t len, size_t cls,
      bool prefix, bool edge_start, bool edge_end)
{
    if (self->n_kw == self->cap) {
        self->cap = self->cap ? 2 * self->cap : 64;
        self->kw = kj_realloc(self->kw, self->cap * sizeof(s_kw_t));
    }
    s_kw_t *k = &self->kw[self->n_kw++];
    k->text = kj_strndup(text, len);
    k->len = (uint32_t)len;
    k->cls = (uint16_t)cls;
    k->prefix = prefix;
    k->edge_start = edge_start;
    k->edge_end = edge_end;
    if (cls + 1 > self->n_classes)
        self->n_classes = cls + 1;
}

static int
s_kw_cmp(const void *a, const void *b)
{
    const s_kw_t *x = a, *y = b;
    unsigned px = s_key(x), py = s_key(y);
    if (px != py)
        return px < py ? -1 : 1;
    return (int)x->cls - (int)y->cls;
}

static void
s_index(classifier_keywords_t *self)
{
    if (self->n_kw)
        qsort(self->kw, self->n_kw, sizeof(s_kw_t), s_kw_cmp);
    self->bucket = kj_calloc(S_BUCKETS + 1, sizeof(uint32_t));
    for (size_t i = 0; i < self->n_kw; i++)
        self->bucket[s_key(&self->kw[i]) + 1]++;
    for (size_t i = 1; i <= S_BUCKETS; i++)
        self->bucket[i] += self->bucket[i - 1];
}

void
classifier_keywords_destroy(classifier_keywords_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    classifier_keywords_t *self = *self_p;
    for (size_t i = 0; i < self->n_kw; i++)
        free(self->kw[i].text);
    free(self->kw);
    free(self->bucket);
    for (size_t i = 0; i < self->n_reasons; i++)
        free(self->reasons[i]);
    free(self->reasons);
    free(self);
    *self_p = NULL;
}

static void
s_add_sets(classifier_keywords_t *self, const kj_rules_kwset_t *sets, size_t n,
           size_t base)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < sets[i].n_kws; j++) {
            const kj_rules_keyword_t *k = &sets[i].kws[j];
            s_add(self, k->text, k->len, base + i, false, k->edge_start,
                  k->edge_end);
        }
}

classifier_keywords_t *
classifier_keywords_from_rules(const kj_rules_t *rules)
{
    classifier_keywords_t *self = s_new();
    size_t n_cat, n_urg;
    const kj_rules_kwset_t *cats = kj_rules_categories(rules, &n_cat);
    const kj_rules_kwset_t *urg = kj_rules_urgency_levels(rules, &n_urg);
    s_add_sets(self, cats, n_cat, 0);
    s_add_sets(self, urg, n_urg, n_cat);
    /* Every set is a class even if its keywords fold to nothing. */
    if (self->n_classes < n_cat + n_urg)
        self->n_classes = n_cat + n_urg;
    s_index(self);
    return self;
}

const char *
classifier_keywords_category(const kj_rules_t *rules, const int *hits, int *n)
{
    size_t n_cat;
    const kj_rules_kwset_t *cats = kj_rules_categories(rules, &n_cat);
    const char *best = "other";
    int best_hits = 0;
    for (size_t i = 0; i < n_cat; i++)
        if (hits[i] > best_hits) {
            best_hits = hits[i];
            best = cats[i].name;
        }
    if (n)
        *n = best_hits;
    return best;
}

const char *
classifier_keywords_urgency(const kj_rules_t *rules, const int *hits, int *n)
{
    size_t n_cat, n_urg;
    (void)kj_rules_categories(rules, &n_cat);
    const kj_rules_kwset_t *urg = kj_rules_urgency_levels(rules, &n_urg);
    for (size_t j = 0; j < n_urg; j++)
        if (hits[n_cat + j] > 0) {
            if (n)
                *n = hits[n_cat + j];
            return urg[j].name;
        }
    if (n)
        *n = 0;
    return "normal";
}

const char *
classifier_keywords_map_label(const kj_rules_t *rules, const char *label)
{
    size_t n;
    const kj_rules_label_t *labels = kj_rules_labels(rules, &n);
    for (size_t i = 0; label && i < n; i++)
        if (strcmp(labels[i].label, label) == 0)
            return labels[i].category;
    return NULL;
}

/* ---- the model keyword file ---------------------------------------- */

static const char *const s_class_names[] = {
    [CLASSIFIER_KW_CRITICAL] = "critical",
    [CLASSIFIER_KW_HIGH] = "high",
    [CLASSIFIER_KW_LOW] = "low",
    [CLASSIFIER_KW_SPECIFIC] = "specific",
    [CLASSIFIER_KW_ABUSE] = "abuse",
    [CLASSIFIER_KW_EN_CUE] = "en_cue",
    [CLASSIFIER_KW_OTHER_CUE] = "other_cue"};

#define S_REASON_PREFIX "reason:"

/* The class named by cls[len], adding a reason label if new; -1 with a
 * message in what[] if unknown. */
static int
s_class(classifier_keywords_t *self, const char *cls, size_t len, char *what,
        size_t what_size)
{
    for (size_t i = 0; i < KJ_ARRAY_LEN(s_class_names); i++)
        if (strlen(s_class_names[i]) == len &&
            memcmp(s_class_names[i], cls, len) == 0)
            return (int)i;
    size_t plen = strlen(S_REASON_PREFIX);
    if (len < plen || memcmp(cls, S_REASON_PREFIX, plen) != 0) {
        snprintf(what, what_size,
                 "unknown class \"%.*s\" (critical, high, low, specific, "
                 "abuse, en_cue, other_cue or reason:<model label>)",
                 (int)(len > 64 ? 64 : len), cls);
        return -1;
    }
    const char *label = cls + plen;
    size_t llen = len - plen;
    if (llen == 0 || llen >= CLASSIFIER_MODEL_LABEL_MAX) {
        snprintf(what, what_size, "a reason label must be 1..%d bytes",
                 CLASSIFIER_MODEL_LABEL_MAX - 1);
        return -1;
    }
    for (size_t i = 0; i < self->n_reasons; i++)
        if (strlen(self->reasons[i]) == llen &&
            memcmp(self->reasons[i], label, llen) == 0)
            return CLASSIFIER_KW_REASON + (int)i;
    if (CLASSIFIER_KW_REASON + self->n_reasons + 1 >
        CLASSIFIER_KW_CLASSES_MAX) {
        snprintf(what, what_size, "more than %d reason labels",
                 CLASSIFIER_KW_CLASSES_MAX - CLASSIFIER_KW_REASON);
        return -1;
    }
    self->reasons =
        kj_realloc(self->reasons, (self->n_reasons + 1) * sizeof(char *));
    self->reasons[self->n_reasons] = kj_strndup(label, llen);
    return CLASSIFIER_KW_REASON + (int)self->n_reasons++;
}

/* Parse one non-comment line; -1 with a message in what[]. */
static int
s_line(classifier_keywords_t *self, const char *line, size_t len, char *what,
       size_t what_size)
{
    const char *tab = memchr(line, '\t', len);
    if (!tab) {
        snprintf(what, what_size, "expected CLASS<TAB>KEYWORD");
        return -1;
    }
    size_t clen = (size_t)(tab - line);
    const char *kw = tab + 1;
    size_t klen = len - clen - 1;
    if (memchr(kw, '\t', klen)) {
        snprintf(what, what_size,
                 "more than one tab (expected CLASS<TAB>KEYWORD)");
        return -1;
    }
    int cls = s_class(self, line, clen, what, what_size);
    if (cls < 0)
        return -1;
    bool prefix = klen > 0 && kw[klen - 1] == '*';
    if (prefix)
        klen--;
    if (klen == 0) {
        snprintf(what, what_size, "empty keyword");
        return -1;
    }
    if (memchr(kw, '*', klen)) {
        snprintf(what, what_size, "'*' is only allowed at the end");
        return -1;
    }
    if (kw[0] == ' ' || kw[klen - 1] == ' ') {
        snprintf(what, what_size, "keyword starts or ends with a space");
        return -1;
    }
    char folded[CLASSIFIER_KW_LINE_MAX * S_FOLD_GROWTH + 8];
    long flen = kj_text_fold(kw, klen, folded, sizeof(folded));
    if (flen <= 0) {
        snprintf(what, what_size,
                 "keyword is empty once folded (NFKC + case folding)");
        return -1;
    }
    for (size_t i = 0; i < self->n_kw; i++) {
        const s_kw_t *k = &self->kw[i];
        if (k->cls == cls && k->prefix == prefix && k->len == (size_t)flen &&
            memcmp(k->text, folded, (size_t)flen) == 0) {
            snprintf(what, what_size, "duplicate keyword \"%.*s\"",
                     (int)(klen > 64 ? 64 : klen), kw);
            return -1;
        }
    }
    const uint8_t *f = (const uint8_t *)folded;
    s_add(self, folded, (size_t)flen, (size_t)cls, prefix, s_alnum(f[0]),
          !prefix && s_alnum(f[flen - 1]));
    return 0;
}

classifier_keywords_t *
classifier_keywords_parse(const char *name, const char *buf, size_t len,
                          char *err, size_t err_size)
{
    char dummy[1];
    if (!err || err_size == 0) {
        err = dummy;
        err_size = sizeof(dummy);
    }
    if (len > CLASSIFIER_KW_FILE_MAX) {
        snprintf(err, err_size, "%s: larger than %d bytes", name,
                 CLASSIFIER_KW_FILE_MAX);
        return NULL;
    }
    classifier_keywords_t *self = s_new();
    /* Every fixed class exists even if the file lists none of it. */
    self->n_classes = CLASSIFIER_KW_REASON;
    char what[256];
    size_t off = 0;
    int lineno = 0;
    while (off < len) {
        lineno++;
        const char *line = buf + off;
        const char *nl = memchr(line, '\n', len - off);
        size_t n = nl ? (size_t)(nl - line) : len - off;
        off += n + (nl ? 1 : 0);
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n > CLASSIFIER_KW_LINE_MAX) {
            snprintf(what, sizeof(what), "line longer than %d bytes",
                     CLASSIFIER_KW_LINE_MAX);
            goto fail;
        }
        if (memchr(line, '\0', n)) {
            snprintf(what, sizeof(what), "NUL byte");
            goto fail;
        }
        if (!kj_utf8_valid(line, n)) {
            snprintf(what, sizeof(what), "invalid UTF-8");
            goto fail;
        }
        if (n == 0 || line[0] == '#')
            continue;
        if (s_line(self, line, n, what, sizeof(what)) < 0)
            goto fail;
    }
    if (self->n_kw == 0) {
        snprintf(err, err_size, "%s: no keywords", name);
        classifier_keywords_destroy(&self);
        return NULL;
    }
    s_index(self);
    return self;
fail:
    snprintf(err, err_size, "%s:%d: %s", name, lineno, what);
    classifier_keywords_destroy(&self);
    return NULL;
}

classifier_keywords_t *
classifier_keywords_load(const char *path, char *err, size_t err_size)
{
    char dummy[1];
    if (!err || err_size == 0) {
        err = dummy;
        err_size = sizeof(dummy);
    }
    classifier_keywords_t *self = NULL;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    /* One byte past the cap, so an oversized file is detected. */
    buf = kj_malloc(CLASSIFIER_KW_FILE_MAX + 1);
    size_t n = fread(buf, 1, CLASSIFIER_KW_FILE_MAX + 1, f);
    if (ferror(f)) {
        snprintf(err, err_size, "%s: read error", path);
        goto out;
    }
    self = classifier_keywords_parse(path, buf, n, err, err_size);
out:
    if (f)
        fclose(f);
    free(buf);
    return self;
}

size_t
classifier_keywords_classes(const classifier_keywords_t *self)
{
    return self->n_classes;
}

size_t
classifier_keywords_count(const classifier_keywords_t *self)
{
    return self->n_kw;
}

size_t
classifier_keywords_n_reasons(const classifier_keywords_t *self)
{
    return self->n_reasons;
}

const char *
classifier_keywords_reason(const classifier_keywords_t *self, size_t i)
{
    return i < self->n_reasons ? self->reasons[i] : NULL;
}

/* ---- matching ------------------------------------------------------ */

/* Hits of the keywords in bucket p at t[i]. */
static void
s_bucket(const classifier_keywords_t *self, unsigned p, const uint8_t *t,
         size_t len, size_t i, int *hits)
{
    for (uint32_t j = self->bucket[p]; j < self->bucket[p + 1]; j++) {
        const s_kw_t *k = &self->kw[j];
        if (k->len > len - i || memcmp(t + i, k->text, k->len) != 0)
            continue;
        if (k->edge_start && i > 0 && s_alnum(t[i - 1]))
            continue;
        if (k->edge_end && i + k->len < len && s_alnum(t[i + k->len]))
            continue;
        hits[k->cls]++;
    }
}

void
classifier_keywords_match(const classifier_keywords_t *self, const char *folded,
                          size_t len, int *hits)
{
    const uint8_t *t = (const uint8_t *)folded;
    for (size_t i = 0; folded && i < len; i++) {
        /* Keywords start on a character, never inside one. */
        if ((t[i] & 0xC0) == 0x80)
            continue;
        s_bucket(self, s_key1(t + i), t, len, i, hits);
        if (i + 1 < len)
            s_bucket(self, s_key2(t + i), t, len, i, hits);
        if (i + 2 < len)
            s_bucket(self, s_key3(t + i), t, len, i, hits);
    }
}
