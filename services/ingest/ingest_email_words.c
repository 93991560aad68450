/* ingest_email_words: RFC 2047 encoded words decoded with our charset
 * table. GMime decodes =?ISO-2022-JP?…?= with glibc's ISO-2022-JP, which
 * refuses the NEC and IBM extensions Windows mailers use, and then falls
 * back to mojibake: a sender called ㈱山田 came out as "?蟷嚇?". */
#include "ingest_email_mime.h"

#include <string.h>
#include <strings.h>

#include "kj_util.h"

#define S_CHARSET_MAX 64
#define S_WORD_MAX 1024 /* bytes of an encoded word's text: lenient */

/* One encoded word: =?charset[*lang]?B|Q?text?= */
typedef struct {
    char charset[S_CHARSET_MAX];
    char enc; /* 'B' or 'Q' */
    const char *text;
    size_t text_len;
} s_word_t;

/* The length of the encoded word at p, or 0 if p does not start one. */
static size_t
s_word(const char *p, s_word_t *w)
{
    if (p[0] != '=' || p[1] != '?')
        return 0;
    const char *cs = p + 2;
    const char *q = strchr(cs, '?');
    if (!q || q == cs || (size_t)(q - cs) >= S_CHARSET_MAX)
        return 0;
    char enc = q[1];
    if (!(enc == 'B' || enc == 'b' || enc == 'Q' || enc == 'q') || q[2] != '?')
        return 0;
    /* A word has no white space and RFC 2047 keeps it under 76 bytes;
     * bounding the search keeps a header of many unterminated "=?"
     * linear instead of quadratic. */
    const char *text = q + 3;
    const char *end = text;
    while (*end && end - text < S_WORD_MAX &&
           !(end[0] == '?' && end[1] == '=')) {
        if (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            return 0;
        end++;
    }
    if (end[0] != '?' || end[1] != '=')
        return 0;
    size_t n = (size_t)(q - cs);
    memcpy(w->charset, cs, n);
    w->charset[n] = '\0';
    w->charset[strcspn(w->charset, "*")] = '\0'; /* RFC 2231 language */
    w->enc = (char)(enc & ~0x20);
    w->text = text;
    w->text_len = (size_t)(end - text);
    return (size_t)(end + 2 - p);
}

static int
s_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Append the word's decoded bytes to run. */
static void
s_decode(const s_word_t *w, GString *run)
{
    if (w->enc == 'B') {
        unsigned char *buf = kj_malloc(w->text_len + 4);
        int state = 0;
        guint32 save = 0;
        size_t n = g_mime_encoding_base64_decode_step(
            (const unsigned char *)w->text, w->text_len, buf, &state, &save);
        g_string_append_len(run, (const char *)buf, (gssize)n);
        free(buf);
        return;
    }
    for (size_t i = 0; i < w->text_len; i++) {
        char c = w->text[i];
        int hi, lo;
        if (c == '_') {
            g_string_append_c(run, ' ');
        } else if (c == '=' && i + 2 < w->text_len &&
                   (hi = s_hex(w->text[i + 1])) >= 0 &&
                   (lo = s_hex(w->text[i + 2])) >= 0) {
            g_string_append_c(run, (char)(hi * 16 + lo));
            i += 2;
        } else {
            g_string_append_c(run, c);
        }
    }
}

/* Convert the bytes of a run of words and add them to out. */
static void
s_flush(GString *run, const char *charset, GString *out,
        GMimeParserOptions *opts)
{
    if (run->len == 0)
        return;
    char *text = ingest_email_to_utf8(run->str, run->len, charset, opts);
    g_string_append(out, text);
    free(text);
    g_string_truncate(run, 0);
}

bool
ingest_email_has_jis_word(const char *raw)
{
    static const char tag[] = "=?iso-2022-jp?";
    for (const char *p = raw; p && *p; p++)
        if (strncasecmp(p, tag, sizeof tag - 1) == 0)
            return true;
    return false;
}

char *
ingest_email_decode_words(const char *raw, size_t len, GMimeParserOptions *opts)
{
    char *v = kj_strndup(raw, len);
    GString *out = g_string_new(NULL);
    /* Adjacent words of one charset are converted together: mailers
     * split a long ISO-2022-JP text anywhere, even inside a character. */
    GString *run = g_string_new(NULL);
    char run_cs[S_CHARSET_MAX] = "";
    const char *p = v;
    while (*p) {
        s_word_t w;
        size_t n = s_word(p, &w);
        if (n > 0) {
            if (run->len > 0 && strcasecmp(w.charset, run_cs) != 0)
                s_flush(run, run_cs, out, opts);
            kj_strlcpy(run_cs, w.charset, sizeof run_cs);
            s_decode(&w, run);
            p += n;
            continue;
        }
        size_t ws = strspn(p, " \t\r\n");
        if (ws > 0) {
            /* White space between two encoded words is not text. */
            s_word_t next;
            if (run->len > 0 && s_word(p + ws, &next) > 0) {
                p += ws;
                continue;
            }
            s_flush(run, run_cs, out, opts);
            g_string_append_c(out, ' ');
            p += ws;
            continue;
        }
        s_flush(run, run_cs, out, opts);
        g_string_append_c(out, *p);
        p++;
    }
    s_flush(run, run_cs, out, opts);
    /* Text outside the words was taken as it came: make it valid. */
    char *result = kj_malloc(3 * out->len + 1);
    kj_utf8_sanitize(out->str, out->len, result);
    g_string_free(out, TRUE);
    g_string_free(run, TRUE);
    free(v);
    return result;
}
