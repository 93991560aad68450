/* ingest_email_quote: keep the customer's own words. Replies carry the
 * whole thread below (or between) them; agents and the classifier must see
 * only what is new, or every reply would re-read as the first complaint. */
#include "ingest_email_internal.h"

#include <string.h>
#include <strings.h>

#include "kj_util.h"

/* A line of the text, without its \n. */
typedef struct {
    const char *p;
    size_t len;
} s_line_t;

/* How many lines after an attribution ("On … wrote:") or a From: line we
 * look for its continuation or for the rest of an Outlook header block. */
#define S_LOOKAHEAD 4

static bool
s_starts(const char *p, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(p, prefix, n) == 0;
}

static bool
s_starts_nocase(const char *p, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && strncasecmp(p, prefix, n) == 0;
}

static bool
s_ends(const char *p, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && memcmp(p + len - n, suffix, n) == 0;
}

/* The line without leading blanks: ASCII space and tab and U+3000, the
 * ideographic space Japanese mailers indent with. */
static s_line_t
s_lstrip(s_line_t l)
{
    for (;;) {
        if (l.len > 0 && (l.p[0] == ' ' || l.p[0] == '\t')) {
            l.p++;
            l.len--;
        } else if (s_starts(l.p, l.len, "\xe3\x80\x80" /* U+3000 */)) {
            l.p += 3;
            l.len -= 3;
        } else {
            return l;
        }
    }
}

/* The line without trailing blanks (the same set, plus CR and NBSP). */
static s_line_t
s_rstrip(s_line_t l)
{
    for (;;) {
        if (l.len > 0 && (l.p[l.len - 1] == ' ' || l.p[l.len - 1] == '\t' ||
                          l.p[l.len - 1] == '\r')) {
            l.len--;
        } else if (s_ends(l.p, l.len, "\xe3\x80\x80" /* U+3000 */)) {
            l.len -= 3;
        } else if (s_ends(l.p, l.len, "\xc2\xa0" /* NBSP */)) {
            l.len -= 2;
        } else {
            return l;
        }
    }
}

static s_line_t
s_strip(s_line_t l)
{
    return s_rstrip(s_lstrip(l));
}

/* "> text" and the full-width "＞ text" of Japanese mailers. */
static bool
s_is_quoted(s_line_t l)
{
    l = s_lstrip(l);
    return s_starts(l.p, l.len, ">") || s_starts(l.p, l.len, "＞");
}

/* "-- " (RFC 3676's signature separator) and the "--" that mailers which
 * strip trailing spaces leave of it. */
static bool
s_is_signature(s_line_t l)
{
    return (l.len == 3 && memcmp(l.p, "-- ", 3) == 0) ||
           (l.len == 2 && memcmp(l.p, "--", 2) == 0);
}

/* A run of at least four horizontal bars (―, ─, —): the line Japanese
 * mailers draw above forwarded or quoted originals. */
static bool
s_is_bar_line(s_line_t l)
{
    static const char *const bars[] = {"―", "─", "—"};
    l = s_strip(l);
    int n = 0;
    while (l.len >= 3) {
        bool bar = false;
        for (size_t i = 0; i < KJ_ARRAY_LEN(bars); i++)
            if (memcmp(l.p, bars[i], 3) == 0)
                bar = true;
        if (!bar)
            break;
        n++;
        l.p += 3;
        l.len -= 3;
    }
    return n >= 4;
}

/* "-----Original Message-----", "----- Original Message -----" and the
 * Japanese Outlook's "-----元のメッセージ-----". */
static bool
s_is_original_message(s_line_t l)
{
    l = s_strip(l);
    if (!s_starts(l.p, l.len, "--"))
        return false;
    while (l.len > 0 && (l.p[0] == '-' || l.p[0] == ' ')) {
        l.p++;
        l.len--;
    }
    return s_starts_nocase(l.p, l.len, "original message") ||
           s_starts(l.p, l.len, "元のメッセージ");
}

/* A header-like line "Name:" (ASCII or full-width colon), bold markers
 * of Outlook's plain-text rendering ("*From:*") allowed. */
static bool
s_is_field(s_line_t l, const char *name)
{
    l = s_lstrip(l);
    if (s_starts(l.p, l.len, "*")) {
        l.p++;
        l.len--;
    }
    size_t n = strlen(name);
    if (!s_starts_nocase(l.p, l.len, name))
        return false;
    l.p += n;
    l.len -= n;
    return s_starts(l.p, l.len, ":") || s_starts(l.p, l.len, "：");
}

static bool
s_is_from_field(s_line_t l)
{
    return s_is_field(l, "From") || s_is_field(l, "差出人") ||
           s_is_field(l, "送信者");
}

/* The fields that follow From: in a quoted header block. */
static bool
s_is_block_field(s_line_t l)
{
    return s_is_field(l, "Sent") || s_is_field(l, "Date") ||
           s_is_field(l, "To") || s_is_field(l, "Subject") ||
           s_is_field(l, "送信日時") || s_is_field(l, "日付") ||
           s_is_field(l, "宛先") || s_is_field(l, "件名");
}

/* Does the attribution on line i end on line i or i + 1? Returns the
 * number of lines it takes (a long one wraps), or 0. */
static size_t
s_attribution(const s_line_t *lines, size_t n, size_t i)
{
    s_line_t l = s_strip(lines[i]);
    s_line_t next = i + 1 < n ? s_strip(lines[i + 1]) : (s_line_t){"", 0};
    /* "On Fri, Dec 4, 2026 at 10:00 AM Taro <taro@example.jp> wrote:" */
    if (s_starts(l.p, l.len, "On ")) {
        if (s_ends(l.p, l.len, "wrote:"))
            return 1;
        if (s_ends(next.p, next.len, "wrote:"))
            return 2;
        return 0;
    }
    /* "2026年12月4日(金) 10:00 山田 太郎 <taro@example.jp>:" (Gmail's
     * Japanese form) or "2026/12/04 10:00、山田 太郎 wrote:". A date
     * alone with a colon is not enough: a customer may start a sentence
     * that way, and an attribution followed by unquoted text cuts all. */
    size_t d = 0;
    while (d < l.len && d < 4 && l.p[d] >= '0' && l.p[d] <= '9')
        d++;
    if (d != 4 || !(s_starts(l.p + 4, l.len - 4, "年") ||
                    s_starts(l.p + 4, l.len - 4, "/")))
        return 0;
    if (s_ends(l.p, l.len, ">:") || s_ends(l.p, l.len, ">：") ||
        s_ends(l.p, l.len, "wrote:") || s_ends(l.p, l.len, "書きました:"))
        return 1;
    if (s_ends(next.p, next.len, ">:") || s_ends(next.p, next.len, ">："))
        return 2;
    return 0;
}

/* Is line i the start of a quoted header block: From: then, within a few
 * lines, Sent:/Date:/To:/Subject: or their Japanese names? */
static bool
s_is_header_block(const s_line_t *lines, size_t n, size_t i)
{
    if (!s_is_from_field(lines[i]))
        return false;
    for (size_t j = i + 1; j < n && j <= i + S_LOOKAHEAD; j++)
        if (s_is_block_field(lines[j]))
            return true;
    return false;
}

/* Everything from line i to the end is history. */
static bool
s_starts_history(const s_line_t *lines, size_t n, size_t i)
{
    return s_is_signature(lines[i]) || s_is_original_message(lines[i]) ||
           s_is_bar_line(lines[i]) || s_is_header_block(lines, n, i);
}

/* Split text into lines (\r\n, \r and \n all end one). */
static s_line_t *
s_split(const char *text, size_t len, size_t *count)
{
    size_t cap = 1;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n' || text[i] == '\r')
            cap++;
    s_line_t *lines = kj_calloc(cap, sizeof *lines);
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && text[i] != '\n' && text[i] != '\r')
            continue;
        lines[n++] = (s_line_t){text + start, i - start};
        if (i + 1 < len && text[i] == '\r' && text[i + 1] == '\n')
            i++;
        start = i + 1;
    }
    *count = n;
    return lines;
}

char *
ingest_email_cut_history(const char *text, size_t len)
{
    size_t n;
    s_line_t *lines = s_split(text, len, &n);
    char *out = kj_malloc(len + 1);
    size_t o = 0;
    size_t blanks = 0; /* blank lines held back: written only before text */
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        if (s_starts_history(lines, n, i))
            break;
        size_t a = s_attribution(lines, n, i);
        if (a > 0) {
            /* An attribution followed by quoted lines is dropped with
             * them, and the reply may go on below (inline answers); one
             * followed by unquoted text introduces history as it is. */
            size_t j = i + a;
            while (j < n && s_strip(lines[j]).len == 0)
                j++;
            if (j < n && s_is_quoted(lines[j])) {
                i += a - 1;
                continue;
            }
            break;
        }
        if (s_is_quoted(lines[i]))
            continue;
        s_line_t l = s_rstrip(lines[i]);
        if (s_lstrip(l).len == 0) {
            blanks++;
            continue;
        }
        /* Runs of blank lines become one; leading ones go. */
        if (any && blanks > 0)
            out[o++] = '\n';
        if (any)
            out[o++] = '\n';
        blanks = 0;
        memcpy(out + o, l.p, l.len);
        o += l.len;
        any = true;
    }
    out[o] = '\0';
    free(lines);
    return out;
}

bool
ingest_email_copy_utf8(char *dst, size_t size, const char *src)
{
    size_t len = strlen(src);
    bool cut = len >= size;
    if (cut) {
        /* Back up to the first byte of a character: a continuation byte
         * is 10xxxxxx. */
        len = size - 1;
        while (len > 0 && ((unsigned char)src[len] & 0xc0) == 0x80)
            len--;
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
    return cut;
}

bool
ingest_email_copy_line(char *dst, size_t size, const char *src)
{
    size_t len = strlen(src);
    char *tmp = kj_malloc(len + 1);
    size_t o = 0;
    bool space = true; /* drops leading spaces */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c < 0x20 || c == 0x7f || c == ' ') {
            if (!space)
                tmp[o++] = ' ';
            space = true;
            continue;
        }
        tmp[o++] = (char)c;
        space = false;
    }
    while (o > 0 && tmp[o - 1] == ' ')
        o--;
    tmp[o] = '\0';
    bool cut = ingest_email_copy_utf8(dst, size, tmp);
    free(tmp);
    return cut;
}
