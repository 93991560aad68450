/* ingest_email_mime: which part is the message, in which charset, and
 * what else came with it. */
#include "ingest_email_mime.h"

#include <string.h>
#include <strings.h>

#include "ingest_email_internal.h"
#include "kj_util.h"

/* Multiparts nest as deep as a sender likes; parts below this are not
 * looked at, which keeps the walk's recursion bounded. */
#define S_DEPTH_MAX 32

/* Declared names -> what glibc's iconv decodes best. Mailers label text
 * with the narrow standard names but write the vendor supersets: Windows'
 * Shift_JIS is CP932 (①, ～), "iso-8859-1" is Windows-1252 in practice
 * (WHATWG says the same), ISO-2022-JP may carry JIS X 0212. */
static const struct {
    const char *declared;
    const char *iconv;
    bool ja;
} s_charsets[] = {
    {"shift_jis", "CP932", true},
    {"shift-jis", "CP932", true},
    {"sjis", "CP932", true},
    {"x-sjis", "CP932", true},
    {"windows-31j", "CP932", true},
    {"cp932", "CP932", true},
    {"ms_kanji", "CP932", true},
    {"csshiftjis", "CP932", true},
    {"euc-jp", "EUC-JP-MS", true},
    {"x-euc-jp", "EUC-JP-MS", true},
    {"iso-2022-jp", "ISO-2022-JP-2", true},
    {"csiso2022jp", "ISO-2022-JP-2", true},
    {"iso-8859-1", "CP1252", false},
    {"latin1", "CP1252", false},
    {"windows-1252", "CP1252", false},
    {"cp1252", "CP1252", false},
};

static const char *
s_iconv_name(const char *declared, bool *ja)
{
    for (size_t i = 0; i < KJ_ARRAY_LEN(s_charsets); i++)
        if (strcasecmp(declared, s_charsets[i].declared) == 0) {
            *ja = s_charsets[i].ja;
            return s_charsets[i].iconv;
        }
    *ja = false;
    return declared;
}

/* A valid NUL-terminated copy (NULs and stray bytes become U+FFFD). */
static char *
s_sanitized(const char *s, size_t len)
{
    char *out = kj_malloc(3 * len + 1);
    kj_utf8_sanitize(s, len, out);
    return out;
}

/* bytes in charset through iconv, or NULL if iconv does not know it.
 * GMime's converter replaces what it cannot convert and goes on. */
static char *
s_iconv(const char *bytes, size_t len, const char *charset)
{
    iconv_t cd = g_mime_iconv_open("UTF-8", charset);
    if (cd == (iconv_t)-1)
        return NULL;
    char *conv = g_mime_iconv_strndup(cd, bytes, len);
    g_mime_iconv_close(cd);
    if (!conv)
        return NULL;
    char *out = s_sanitized(conv, strlen(conv));
    g_free(conv);
    return out;
}

/* An ISO-2022-JP escape into JIS X 0208 (ESC $ B or ESC $ @)? */
static bool
s_has_jis_escape(const char *s, size_t len)
{
    for (size_t i = 0; i + 2 < len; i++)
        if (s[i] == '\x1b' && s[i + 1] == '$' &&
            (s[i + 2] == 'B' || s[i + 2] == '@'))
            return true;
    return false;
}

/* ISO-2022-JP through CP932 (see ingest_email_jis.c), else iconv's own
 * ISO-2022-JP-2. */
static char *
s_from_jis(const char *bytes, size_t len)
{
    size_t n;
    char *sjis = ingest_email_jis_to_sjis(bytes, len, &n);
    if (sjis) {
        char *out = s_iconv(sjis, n, "CP932");
        free(sjis);
        if (out)
            return out;
    }
    return s_iconv(bytes, len, "ISO-2022-JP-2");
}

char *
ingest_email_to_utf8(const char *bytes, size_t len, const char *charset,
                     GMimeParserOptions *opts)
{
    bool ja;
    /* us-ascii is what a mailer says when it says nothing, and UTF-8 is
     * checked below: both go the guessing way when the bytes disagree. */
    if (charset && strcasecmp(charset, "us-ascii") != 0 &&
        strcasecmp(charset, "utf-8") != 0 && strcasecmp(charset, "utf8") != 0) {
        const char *name = s_iconv_name(charset, &ja);
        char *out = strcmp(name, "ISO-2022-JP-2") == 0
                        ? s_from_jis(bytes, len)
                        : s_iconv(bytes, len, name);
        if (out)
            return out;
    }
    /* ISO-2022-JP is 7-bit: only its escapes tell it from ASCII. */
    if (s_has_jis_escape(bytes, len)) {
        char *out = s_from_jis(bytes, len);
        if (out)
            return out;
    }
    if (kj_utf8_valid(bytes, len))
        return s_sanitized(bytes, len);
    char *guess = g_mime_utils_decode_8bit(opts, bytes, len);
    char *out = s_sanitized(guess, strlen(guess));
    g_free(guess);
    return out;
}

/* The walk's state. */
typedef struct {
    GMimeParserOptions *opts;
    ingest_email_t *out;
    GString *plain; /* inline text/plain parts so far */
    char *html;     /* the first inline text/html part, UTF-8 */
    bool ja;        /* a body part was in a Japanese charset */
} s_walk_t;

/* A part's content with its transfer encoding (base64,
 * quoted-printable) undone, into *len bytes (free). */
static char *
s_decoded(GMimePart *part, size_t *len)
{
    GMimeDataWrapper *content = g_mime_part_get_content(part);
    GMimeStream *mem = g_mime_stream_mem_new();
    if (content)
        g_mime_data_wrapper_write_to_stream(content, mem);
    GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    *len = bytes->len;
    char *out = kj_malloc(bytes->len + 1);
    if (bytes->len > 0) /* an empty array's data is NULL */
        memcpy(out, bytes->data, bytes->len);
    out[bytes->len] = '\0';
    g_object_unref(mem);
    return out;
}

/* Decoded size without keeping the bytes. */
static size_t
s_decoded_size(GMimeObject *obj)
{
    GMimeStream *null = g_mime_stream_null_new();
    ssize_t n;
    if (GMIME_IS_PART(obj)) {
        GMimeDataWrapper *content = g_mime_part_get_content(GMIME_PART(obj));
        n = content ? g_mime_data_wrapper_write_to_stream(content, null) : 0;
    } else {
        n = g_mime_object_write_to_stream(obj, NULL, null);
    }
    g_object_unref(null);
    return n > 0 ? (size_t)n : 0;
}

static void
s_attachment(s_walk_t *w, GMimeObject *obj)
{
    ingest_email_t *out = w->out;
    out->n_attachments_total++;
    if (out->n_attachments >= INGEST_EMAIL_ATTACH_MAX)
        return;
    ingest_email_attachment_t *a = &out->attachments[out->n_attachments++];
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    char *type = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
    char *clean = s_sanitized(type ? type : "", type ? strlen(type) : 0);
    ingest_email_copy_line(a->type, sizeof a->type, clean);
    free(clean);
    g_free(type);
    const char *name =
        GMIME_IS_PART(obj) ? g_mime_part_get_filename(GMIME_PART(obj)) : NULL;
    if (name) {
        clean = s_sanitized(name, strlen(name));
        ingest_email_copy_line(a->name, sizeof a->name, clean);
        free(clean);
    }
    a->size = s_decoded_size(obj);
}

/* Body text of a text part, in UTF-8. */
static char *
s_part_text(s_walk_t *w, GMimePart *part)
{
    size_t len;
    char *raw = s_decoded(part, &len);
    const char *cs =
        g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
    bool ja = false;
    if (cs)
        (void)s_iconv_name(cs, &ja);
    if (ja || s_has_jis_escape(raw, len))
        w->ja = true;
    char *text = ingest_email_to_utf8(raw, len, cs, w->opts);
    free(raw);
    return text;
}

static void
s_leaf(s_walk_t *w, GMimeObject *obj)
{
    if (!GMIME_IS_PART(obj)) {
        s_attachment(w, obj); /* message/rfc822: a forwarded mail */
        return;
    }
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    const char *disp = g_mime_object_get_disposition(obj);
    bool attached = (disp && strcasecmp(disp, "attachment") == 0) ||
                    g_mime_part_get_filename(GMIME_PART(obj)) != NULL;
    if (!attached && ct && g_mime_content_type_is_type(ct, "text", "plain")) {
        char *text = s_part_text(w, GMIME_PART(obj));
        if (w->plain->len > 0)
            g_string_append_c(w->plain, '\n');
        g_string_append(w->plain, text);
        free(text);
        return;
    }
    if (!attached && ct && g_mime_content_type_is_type(ct, "text", "html")) {
        if (!w->html)
            w->html = s_part_text(w, GMIME_PART(obj));
        return;
    }
    s_attachment(w, obj);
}

static void
s_walk(s_walk_t *w, GMimeObject *obj, int depth)
{
    if (!obj || depth > S_DEPTH_MAX)
        return;
    if (GMIME_IS_MULTIPART(obj)) {
        GMimeMultipart *mp = GMIME_MULTIPART(obj);
        int n = g_mime_multipart_get_count(mp);
        for (int i = 0; i < n; i++)
            s_walk(w, g_mime_multipart_get_part(mp, i), depth + 1);
        return;
    }
    s_leaf(w, obj);
}

char *
ingest_email_mime_body(GMimeMessage *msg, GMimeParserOptions *opts,
                       ingest_email_t *out)
{
    s_walk_t w = {.opts = opts, .out = out, .plain = g_string_new(NULL)};
    s_walk(&w, g_mime_message_get_mime_part(msg), 0);
    char *body = NULL;
    /* Some mailers send an empty text/plain beside the real HTML. */
    if (w.plain->len > 0 && !ingest_only_space(w.plain->str, w.plain->len)) {
        body = kj_strndup(w.plain->str, w.plain->len);
    } else if (w.html) {
        body = ingest_email_html_text(w.html, strlen(w.html));
        out->text_from_html = true;
    }
    if (w.ja)
        kj_strlcpy(out->lang, "ja", sizeof out->lang);
    g_string_free(w.plain, TRUE);
    free(w.html);
    return body;
}
