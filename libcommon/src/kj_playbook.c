/* kj_playbook: choosing, rendering and the specific / vague / abusive
 * verdict over the rules' templates. Everything here is a function of its
 * arguments; rendering is one pass over a text the rules already
 * validated, with every inserted value sanitised on the way in. */
#include "kj_playbook.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kj_assert.h"
#include "kj_text.h"
#include "kj_utf8.h"
#include "kj_util.h"

/* NFKC plus case folding stays within this many bytes per input byte
 * (as for rules keywords, see kj_rules.c). */
#define S_FOLD_GROWTH 18

/* ---- choose -------------------------------------------------------- */

/* A present test passes only for a non-empty value in its list. */
static bool
s_list_pass(const kj_rules_list_t *l, const char *value)
{
    if (!l->present)
        return true;
    if (!value || !value[0])
        return false;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->vals[i], value) == 0)
            return true;
    return false;
}

static bool
s_when_pass(const kj_rules_template_t *t, const kj_playbook_input_t *in)
{
    const char *vals[KJ_TEMPLATE_FIELDS] = {
        [KJ_TEMPLATE_CHANNEL] = in->channel,
        [KJ_TEMPLATE_SENTIMENT] = in->sentiment,
        [KJ_TEMPLATE_CATEGORY] = in->category,
        [KJ_TEMPLATE_URGENCY] = in->urgency};
    if (t->public_test >= 0 && (t->public_test == 1) != in->is_public)
        return false;
    if (t->actionable_test >= 0 && (t->actionable_test == 1) != in->actionable)
        return false;
    for (int f = 0; f < KJ_TEMPLATE_FIELDS; f++)
        if (!s_list_pass(&t->when[f], vals[f]))
            return false;
    return true;
}

/* The template's language serves the wanted one: equal, or its primary
 * subtag ("ja" serves "ja-JP"), ignoring case. */
static bool
s_lang_serves(const char *have, const char *want)
{
    size_t n = strlen(have);
    if (strncasecmp(have, want, n) != 0)
        return false;
    return want[n] == '\0' || want[n] == '-';
}

static const kj_rules_template_t *
s_first(const kj_rules_t *rules, const char *kind, const char *lang,
        const kj_playbook_input_t *in)
{
    size_t n;
    const kj_rules_template_t *tpls = kj_rules_templates(rules, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(tpls[i].kind, kind) == 0 &&
            s_lang_serves(tpls[i].language, lang) && s_when_pass(&tpls[i], in))
            return &tpls[i];
    return NULL;
}

const kj_rules_template_t *
kj_playbook_choose(const kj_rules_t *rules, const char *kind,
                   const kj_playbook_input_t *in)
{
    kj_assert(rules && kind && in);
    const kj_rules_template_t *t = NULL;
    if (in->language && in->language[0])
        t = s_first(rules, kind, in->language, in);
    /* Only Japanese and English are written by us; everyone else reads
     * English rather than nothing. */
    if (!t)
        t = s_first(rules, kind, "en", in);
    return t;
}

/* ---- render -------------------------------------------------------- */

typedef struct {
    char *out;
    size_t size;
    size_t len;
    bool overflow;
} s_buf_t;

/* Append bytes, never one '{' right after another, so no "{{" can form
 * across a value and the text around it. */
static void
s_put(s_buf_t *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n && !b->overflow; i++) {
        if (s[i] == '{' && b->len > 0 && b->out[b->len - 1] == '{')
            continue;
        if (b->len + 1 >= b->size) {
            b->overflow = true;
            return;
        }
        b->out[b->len++] = s[i];
    }
}

/* Append a caller's value: valid UTF-8 only (U+FFFD for a bad byte), no
 * control characters (C0, DEL, C1), which could break a message's
 * layout or smuggle in a line of its own. */
static void
s_put_value(s_buf_t *b, const char *v)
{
    size_t left = strlen(v);
    while (left > 0 && !b->overflow) {
        int32_t cp;
        size_t k = kj_utf8_decode(v, left, &cp);
        if (k == 0) {
            s_put(b, "\xef\xbf\xbd", 3);
            v++;
            left--;
            continue;
        }
        if (!(cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)))
            s_put(b, v, k);
        v += k;
        left -= k;
    }
}

static bool
s_present(const char *v)
{
    return v && v[0];
}

int
kj_playbook_render(const kj_rules_template_t *tpl,
                   const kj_playbook_vars_t *vars, char *out, size_t size)
{
    kj_assert(tpl && out);
    static const kj_playbook_vars_t none = {0};
    if (!vars)
        vars = &none;
    s_buf_t b = {.out = out, .size = size};
    bool ja = s_lang_serves("ja", tpl->language);
    const char *p = tpl->text;
    while (*p && !b.overflow) {
        const char *open = strstr(p, "{{");
        if (!open) {
            s_put(&b, p, strlen(p));
            break;
        }
        s_put(&b, p, (size_t)(open - p));
        const char *name = open + 2;
        const char *close = strstr(name, "}}");
        /* The rules refuse both; a template built by hand loses the
         * rest rather than showing braces. */
        if (!close)
            break;
        size_t n = (size_t)(close - name);
        p = close + 2;
        const char *v = NULL;
#define S_IS(lit) (n == sizeof lit - 1 && memcmp(name, lit, n) == 0)
        if (S_IS("customer_name")) {
            v = vars->customer_name;
            if (!s_present(v)) {
                /* Japanese writes the honorific after the name. */
                if (ja && strncmp(p, "様", strlen("様")) == 0)
                    p += strlen("様");
                s_put(&b, ja ? "お客様" : "customer",
                      strlen(ja ? "お客様" : "customer"));
                continue;
            }
        } else if (S_IS("case_number")) {
            v = vars->case_number;
        } else if (S_IS("agent_name")) {
            v = vars->agent_name;
        } else if (S_IS("team")) {
            v = vars->team;
        } else if (S_IS("survey_url")) {
            v = vars->survey_url;
        } else if (S_IS("alternative_1")) {
            v = tpl->alternatives[0];
        } else if (S_IS("alternative_2")) {
            v = tpl->alternatives[1];
        }
#undef S_IS
        if (s_present(v))
            s_put_value(&b, v);
    }
    if (b.overflow || size == 0) {
        if (size > 0)
            out[0] = '\0';
        return -1;
    }
    out[b.len] = '\0';
    return (int)b.len;
}

/* ---- assess -------------------------------------------------------- */

static bool
s_is_alnum(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9');
}

/* The keyword occurs in folded text, with a word boundary at each ASCII
 * letter or digit edge (as in classifier_keywords). */
static bool
s_contains(const char *text, size_t len, const kj_rules_keyword_t *kw)
{
    const char *end = text + len;
    for (const char *p = text; p + kw->len <= end; p++) {
        p = memchr(p, kw->text[0], (size_t)(end - p));
        if (!p || p + kw->len > end)
            return false;
        if (memcmp(p, kw->text, kw->len) != 0)
            continue;
        if (kw->edge_start && p > text && s_is_alnum((unsigned char)p[-1]))
            continue;
        if (kw->edge_end && p + kw->len < end &&
            s_is_alnum((unsigned char)p[kw->len]))
            continue;
        return true;
    }
    return false;
}

static bool
s_abusive(const kj_rules_playbook_t *pb, const char *text, size_t len)
{
    if (pb->n_abusive_words == 0 || len == 0)
        return false;
    size_t size = len * S_FOLD_GROWTH + 8;
    char *folded = kj_malloc(size);
    long flen = kj_text_fold(text, len, folded, size);
    bool hit = false;
    for (size_t i = 0; flen > 0 && i < pb->n_abusive_words && !hit; i++)
        hit = s_contains(folded, (size_t)flen, &pb->abusive_words[i]);
    free(folded);
    return hit;
}

/* Code points other than whitespace (ASCII, NBSP, ideographic space): a
 * fair length for both spaced and unspaced scripts. */
static size_t
s_visible_chars(const char *s, size_t len)
{
    size_t count = 0;
    while (len > 0) {
        int32_t cp = 0xfffd;
        size_t k = kj_utf8_decode(s, len, &cp);
        if (k == 0)
            k = 1;
        if (!(cp == ' ' || (cp >= '\t' && cp <= '\r') || cp == 0xa0 ||
              cp == 0x3000))
            count++;
        s += k;
        len -= k;
    }
    return count;
}

kj_playbook_triage_t
kj_playbook_assess(const kj_rules_t *rules, const kj_triage_t *t,
                   const char *text)
{
    kj_assert(rules && t);
    if (!text)
        text = t->masked_text;
    size_t len = strnlen(text, KJ_TEXT_MAX);
    const kj_rules_playbook_t *pb = kj_rules_playbook(rules);
    if (s_abusive(pb, text, len))
        return KJ_PLAYBOOK_ABUSIVE;
    if (t->actionable)
        return KJ_PLAYBOOK_SPECIFIC;
    if (!t->category[0] || strcmp(t->category, "other") == 0 ||
        s_visible_chars(text, len) < (size_t)pb->vague_max_chars)
        return KJ_PLAYBOOK_VAGUE;
    return KJ_PLAYBOOK_SPECIFIC;
}

const char *
kj_playbook_triage_name(kj_playbook_triage_t v)
{
    switch (v) {
    case KJ_PLAYBOOK_SPECIFIC:
        return "specific";
    case KJ_PLAYBOOK_VAGUE:
        return "vague";
    case KJ_PLAYBOOK_ABUSIVE:
        return "abusive";
    }
    return "unknown";
}
