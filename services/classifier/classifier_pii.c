/* classifier_pii: a scanner over the original bytes. Numbers are read as
 * runs of digit groups and separators; the groups of a run are tried as a
 * whole and then as shorter stretches ("No. 2 090-1234-5678" still finds
 * the phone), first as a card, then as a phone. E-mail addresses grow out
 * from each at sign. The scanner keeps no state between calls and
 * allocates nothing. */
#include "classifier_pii.h"

#include <stdbool.h>
#include <string.h>

/* Longest digit run looked at; runs past this are cut into pieces. */
#define S_MAX_GROUPS 24
#define S_MAX_DIGITS 64

const char *
classifier_pii_kind_name(classifier_pii_kind_t kind)
{
    switch (kind) {
    case CLASSIFIER_PII_EMAIL:
        return "email";
    case CLASSIFIER_PII_PHONE:
        return "phone";
    case CLASSIFIER_PII_CARD:
        return "card";
    }
    return "unknown";
}

const char *
classifier_pii_placeholder(classifier_pii_kind_t kind)
{
    switch (kind) {
    case CLASSIFIER_PII_EMAIL:
        return "[EMAIL]";
    case CLASSIFIER_PII_PHONE:
        return "[PHONE]";
    case CLASSIFIER_PII_CARD:
        return "[CARD]";
    }
    return "[PII]";
}

int
classifier_pii_luhn(const char *digits, size_t n)
{
    int sum = 0;
    bool dbl = false;
    for (size_t i = n; i-- > 0;) {
        int d = digits[i] - '0';
        if (d < 0 || d > 9)
            return 0;
        if (dbl) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
        dbl = !dbl;
    }
    return n > 0 && sum % 10 == 0;
}

/* A digit at text[i] (ASCII or full-width): its value, *w its width. */
static int
s_digit(const uint8_t *t, size_t len, size_t i, size_t *w)
{
    if (t[i] >= '0' && t[i] <= '9') {
        *w = 1;
        return t[i] - '0';
    }
    /* U+FF10..U+FF19 are EF BC 90..99. */
    if (i + 2 < len && t[i] == 0xEF && t[i + 1] == 0xBC && t[i + 2] >= 0x90 &&
        t[i + 2] <= 0x99) {
        *w = 3;
        return t[i + 2] - 0x90;
    }
    return -1;
}

/* Separator kinds inside numbers. */
enum {
    S_SEP_NONE = 0,
    S_SEP_SPACE,
    S_SEP_HYPHEN,
    S_SEP_DOT,
    S_SEP_OPEN,
    S_SEP_CLOSE,
    S_SEP_OTHER_DASH
};

static bool
s_is3(const uint8_t *t, size_t len, size_t i, uint8_t a, uint8_t b, uint8_t c)
{
    return i + 2 < len && t[i] == a && t[i + 1] == b && t[i + 2] == c;
}

/* A separator at text[i]: its kind, *w its width; S_SEP_NONE if not. */
static int
s_sep(const uint8_t *t, size_t len, size_t i, size_t *w)
{
    *w = 1;
    switch (t[i]) {
    case ' ':
        return S_SEP_SPACE;
    case '-':
        return S_SEP_HYPHEN;
    case '.':
        return S_SEP_DOT;
    case '(':
        return S_SEP_OPEN;
    case ')':
        return S_SEP_CLOSE;
    default:
        break;
    }
    *w = 3;
    if (s_is3(t, len, i, 0xE3, 0x80, 0x80)) /* U+3000 ideographic space */
        return S_SEP_SPACE;
    if (s_is3(t, len, i, 0xEF, 0xBC, 0x8D)) /* U+FF0D full-width hyphen */
        return S_SEP_HYPHEN;
    if (s_is3(t, len, i, 0xEF, 0xBC, 0x8E)) /* U+FF0E full-width stop */
        return S_SEP_DOT;
    if (s_is3(t, len, i, 0xEF, 0xBC, 0x88)) /* U+FF08 */
        return S_SEP_OPEN;
    if (s_is3(t, len, i, 0xEF, 0xBC, 0x89)) /* U+FF09 */
        return S_SEP_CLOSE;
    if (s_is3(t, len, i, 0xE2, 0x88, 0x92) || /* U+2212 minus */
        s_is3(t, len, i, 0xE2, 0x80, 0x90) || /* U+2010 hyphen */
        s_is3(t, len, i, 0xE2, 0x80, 0x91) || /* U+2011 */
        s_is3(t, len, i, 0xE2, 0x80, 0x93) || /* U+2013 en dash */
        s_is3(t, len, i, 0xE2, 0x80, 0x94) || /* U+2014 em dash */
        s_is3(t, len, i, 0xE2, 0x80, 0x95) || /* U+2015 bar */
        s_is3(t, len, i, 0xE3, 0x83, 0xBC) || /* U+30FC ー */
        s_is3(t, len, i, 0xEF, 0xBD, 0xB0))   /* U+FF70 ｰ */
        return S_SEP_OTHER_DASH;
    *w = 0;
    return S_SEP_NONE;
}

static bool
s_is_plus(const uint8_t *t, size_t len, size_t i, size_t *w)
{
    if (t[i] == '+') {
        *w = 1;
        return true;
    }
    if (s_is3(t, len, i, 0xEF, 0xBC, 0x8B)) { /* U+FF0B */
        *w = 3;
        return true;
    }
    return false;
}

static bool
s_ascii_alnum(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

/* True if the character ending just before i is a letter or digit that a
 * number must not be glued to (ASCII alnum or a full-width digit). */
static bool
s_glued_before(const uint8_t *t, size_t i)
{
    if (i == 0)
        return false;
    if (s_ascii_alnum(t[i - 1]))
        return true;
    return i >= 3 && t[i - 3] == 0xEF && t[i - 2] == 0xBC && t[i - 1] >= 0x90 &&
           t[i - 1] <= 0x99;
}

static bool
s_glued_after(const uint8_t *t, size_t len, size_t i)
{
    size_t w;
    if (i >= len)
        return false;
    return s_ascii_alnum(t[i]) || s_digit(t, len, i, &w) >= 0;
}

/* One run of digit groups. */
typedef struct {
    bool plus;                   /* a leading + */
    size_t start;                /* byte offset of the run (+ or ( or digit) */
    size_t ng;                   /* groups */
    size_t gstart[S_MAX_GROUPS]; /* byte offset of each group's first digit */
    size_t gend[S_MAX_GROUPS];   /* byte offset after each group */
    size_t gdig[S_MAX_GROUPS];   /* index of the group's first digit */
    size_t glen[S_MAX_GROUPS];   /* digits in each group */
    unsigned seps[S_MAX_GROUPS]; /* bit set of separator kinds before it */
    size_t nseps[S_MAX_GROUPS];  /* separator characters before it */
    char digits[S_MAX_DIGITS];   /* the digits as ASCII */
    size_t nd;
    size_t end; /* byte offset after the run */
} s_run_t;

/* Read the run starting at i (a digit, or + or ( before one). */
static void
s_read_run(const uint8_t *t, size_t len, size_t i, s_run_t *r)
{
    size_t w;
    r->plus = false;
    r->start = i;
    r->ng = 0;
    r->nd = 0;
    if (s_is_plus(t, len, i, &w)) {
        r->plus = true;
        i += w;
    }
    unsigned pending = 0;
    size_t nsep = 0;
    r->end = i;
    while (i < len) {
        int d = s_digit(t, len, i, &w);
        if (d >= 0) {
            if (r->nd == S_MAX_DIGITS)
                break;
            bool new_group = r->ng == 0 || nsep > 0;
            if (new_group) {
                if (r->ng == S_MAX_GROUPS)
                    break;
                r->gstart[r->ng] = i;
                r->gdig[r->ng] = r->nd;
                r->glen[r->ng] = 0;
                r->seps[r->ng] = pending;
                r->nseps[r->ng] = nsep;
                r->ng++;
            }
            r->digits[r->nd++] = (char)('0' + d);
            r->glen[r->ng - 1]++;
            i += w;
            r->gend[r->ng - 1] = i;
            r->end = i;
            pending = 0;
            nsep = 0;
            continue;
        }
        int s = s_sep(t, len, i, &w);
        /* At most two separator characters between groups: ") " or " (". */
        if (s == S_SEP_NONE || nsep == 2)
            break;
        pending |= 1u << s;
        nsep++;
        i += w;
    }
}

/* Does groups [a, b] of run r form a card number? Grouped numbers must
 * look printed on a card: one kind of single separator, a first group of
 * 4, middle groups of 4 or 6 (4-4-4-4, 4-6-5, 4-4-4-4-3). */
static bool
s_is_card(const s_run_t *r, size_t a, size_t b)
{
    if (r->plus && a == 0)
        return false;
    size_t nd = 0;
    for (size_t g = a; g <= b; g++) {
        if (g > a) {
            unsigned kind = r->seps[g];
            if (r->nseps[g] != 1 || kind != r->seps[a + 1] ||
                (kind != (1u << S_SEP_SPACE) && kind != (1u << S_SEP_HYPHEN)))
                return false;
            if (g < b && r->glen[g] != 4 && r->glen[g] != 6)
                return false;
            if (g == b && (r->glen[g] < 2 || r->glen[g] > 6))
                return false;
        }
        nd += r->glen[g];
    }
    if (b > a && r->glen[a] != 4)
        return false;
    if (nd < 13 || nd > 19)
        return false;
    return classifier_pii_luhn(r->digits + r->gdig[a], nd);
}

static bool
s_is_phone(const s_run_t *r, size_t a, size_t b)
{
    size_t nd = 0;
    for (size_t g = a; g <= b; g++)
        nd += r->glen[g];
    const char *d = r->digits + r->gdig[a];
    size_t groups = b - a + 1;
    if (r->plus && a == 0)
        return nd >= 8 && nd <= 15;
    if (d[0] == '0') {
        if (nd != 10 && nd != 11)
            return false;
        if (groups == 1) {
            if (nd == 11)
                return (d[1] == '5' || d[1] == '7' || d[1] == '8' ||
                        d[1] == '9') &&
                       d[2] == '0';
            return d[1] != '0';
        }
        return r->glen[a] >= 2 && r->glen[a] <= 5 && r->glen[b] >= 3 &&
               r->glen[b] <= 4;
    }
    if (groups == 3 && nd == 10)
        return r->glen[a] == 3 && r->glen[a + 1] == 3 && r->glen[b] == 4;
    if (groups == 4 && nd == 11)
        return d[0] == '1' && r->glen[a] == 1 && r->glen[a + 1] == 3 &&
               r->glen[a + 2] == 3 && r->glen[b] == 4;
    return false;
}

/* The first PII number starting at or after pos; false if none. */
static bool
s_next_number(const uint8_t *t, size_t len, size_t pos,
              classifier_pii_span_t *out)
{
    size_t i = pos;
    s_run_t r;
    while (i < len) {
        size_t w, w2;
        bool starts = s_digit(t, len, i, &w) >= 0;
        if (!starts && i + 1 < len &&
            (s_is_plus(t, len, i, &w) || s_sep(t, len, i, &w) == S_SEP_OPEN))
            starts = i + w < len && s_digit(t, len, i + w, &w2) >= 0;
        if (!starts || s_glued_before(t, i)) {
            /* Skip a whole glued run so that its tail is not a match. */
            if (starts) {
                s_read_run(t, len, i, &r);
                i = r.end > i ? r.end : i + 1;
                continue;
            }
            i++;
            while (i < len && (t[i] & 0xC0) == 0x80)
                i++;
            continue;
        }
        s_read_run(t, len, i, &r);
        if (r.ng == 0) {
            i++;
            continue;
        }
        bool glued = s_glued_after(t, len, r.end);
        /* Longest stretch first, from the earliest group. */
        for (size_t a = 0; a < r.ng; a++) {
            for (size_t b = r.ng; b-- > a;) {
                if (b == r.ng - 1 && glued)
                    continue;
                classifier_pii_kind_t kind;
                if (s_is_card(&r, a, b))
                    kind = CLASSIFIER_PII_CARD;
                else if (s_is_phone(&r, a, b))
                    kind = CLASSIFIER_PII_PHONE;
                else
                    continue;
                size_t start = r.gstart[a];
                if (a == 0)
                    start = r.start; /* keep a leading + or ( inside */
                out->kind = kind;
                out->start = (uint32_t)start;
                out->end = (uint32_t)r.gend[b];
                return true;
            }
        }
        i = r.end > i ? r.end : i + 1;
    }
    return false;
}

static bool
s_local_char(uint8_t c)
{
    return s_ascii_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' ||
           c == '-';
}

static bool
s_domain_char(uint8_t c)
{
    return s_ascii_alnum(c) || c == '.' || c == '-';
}

static bool
s_alpha(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* An address around the at sign at..at+aw, starting at or after pos. */
static bool
s_email_at(const uint8_t *t, size_t len, size_t pos, size_t at, size_t aw,
           classifier_pii_span_t *out)
{
    size_t s = at;
    while (s > pos && s_local_char(t[s - 1]))
        s--;
    while (s < at && t[s] == '.')
        s++;
    if (s == at)
        return false;
    size_t d = at + aw;
    size_t e = d;
    while (e < len && s_domain_char(t[e]))
        e++;
    while (e > d && (t[e - 1] == '.' || t[e - 1] == '-'))
        e--;
    if (e == d || !s_ascii_alnum(t[d]))
        return false;
    /* Labels: no empty one, at least two, the last two or more letters. */
    size_t dots = 0, last = d;
    for (size_t i = d; i < e; i++) {
        if (t[i] == '.') {
            if (i == last)
                return false;
            dots++;
            last = i + 1;
        }
    }
    if (dots == 0 || e - last < 2)
        return false;
    for (size_t i = last; i < e; i++)
        if (!s_alpha(t[i]))
            return false;
    out->kind = CLASSIFIER_PII_EMAIL;
    out->start = (uint32_t)s;
    out->end = (uint32_t)e;
    return true;
}

static bool
s_next_email(const uint8_t *t, size_t len, size_t pos,
             classifier_pii_span_t *out)
{
    for (size_t i = pos; i < len; i++) {
        size_t aw = 0;
        if (t[i] == '@')
            aw = 1;
        else if (s_is3(t, len, i, 0xEF, 0xBC, 0xA0)) /* U+FF20 ＠ */
            aw = 3;
        if (aw && s_email_at(t, len, pos, i, aw, out))
            return true;
    }
    return false;
}

/* The scan state: the next e-mail found is kept until passed, so a text
 * with many numbers is not rescanned for at signs each time. */
typedef struct {
    const uint8_t *t;
    size_t len;
    size_t pos;
    bool email_known;            /* email is the next one at or after pos */
    bool email_none;             /* there is no e-mail after pos */
    classifier_pii_span_t email; /* valid when email_known */
} s_scan_t;

static bool
s_next(s_scan_t *s, classifier_pii_span_t *out)
{
    if (s->pos >= s->len)
        return false;
    if (!s->email_none && (!s->email_known || s->email.start < s->pos)) {
        s->email_known = s_next_email(s->t, s->len, s->pos, &s->email);
        s->email_none = !s->email_known;
    }
    classifier_pii_span_t num;
    size_t limit = s->email_known ? s->email.start : s->len;
    /* Numbers are only searched up to the next e-mail. */
    bool has_num = s_next_number(s->t, limit, s->pos, &num);
    if (has_num) {
        *out = num;
    } else if (s->email_known) {
        *out = s->email;
        s->email_known = false;
    } else {
        return false;
    }
    s->pos = out->end;
    return true;
}

size_t
classifier_pii_find(const char *text, size_t len, classifier_pii_span_t *spans,
                    size_t max)
{
    s_scan_t s = {(const uint8_t *)text, len, 0, false, false, {0, 0, 0}};
    classifier_pii_span_t sp;
    size_t n = 0;
    while (s_next(&s, &sp)) {
        if (n < max)
            spans[n] = sp;
        n++;
    }
    return n;
}

size_t
classifier_pii_mask(const char *text, size_t len, char *out, size_t size,
                    classifier_pii_span_t *spans, size_t max_spans,
                    size_t *n_spans)
{
    s_scan_t s = {(const uint8_t *)text, len, 0, false, false, {0, 0, 0}};
    classifier_pii_span_t sp;
    size_t n = 0, o = 0, from = 0;
    bool full = size == 0;
    while (s_next(&s, &sp)) {
        if (n < max_spans)
            spans[n] = sp;
        n++;
        if (full)
            continue;
        /* Plain text before the span, cut on a character start. */
        size_t k = sp.start - from;
        if (o + k >= size) {
            k = size - 1 - o;
            while (k > 0 && ((uint8_t)text[from + k] & 0xC0) == 0x80)
                k--;
            full = true;
        }
        memcpy(out + o, text + from, k);
        o += k;
        const char *ph = classifier_pii_placeholder(sp.kind);
        size_t pl = strlen(ph);
        if (!full && o + pl < size) {
            memcpy(out + o, ph, pl);
            o += pl;
        } else {
            full = true;
        }
        from = sp.end;
    }
    if (!full) {
        size_t k = len - from;
        if (o + k >= size) {
            k = size - 1 - o;
            while (k > 0 && ((uint8_t)text[from + k] & 0xC0) == 0x80)
                k--;
        }
        memcpy(out + o, text + from, k);
        o += k;
    }
    if (size > 0)
        out[o] = '\0';
    if (n_spans)
        *n_spans = n;
    return o;
}
