/* ingest_email: one raw message in, the fields of a complaint out. GMime
 * does the RFC 822/MIME/RFC 2047 work; ingest_email_mime picks the body,
 * ingest_email_quote cuts the history, ingest_email_noise labels what no
 * customer wrote. */
#include "ingest_email.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>

#include "ingest_email_internal.h"
#include "ingest_email_mime.h"
#include "kj_util.h"

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
/* Read-only once made, so every thread shares it. */
static GMimeParserOptions *s_opts;

static void
s_init(void)
{
    g_mime_init();
    xmlInitParser();
    s_opts = g_mime_parser_options_new();
    /* What raw 8-bit headers and undeclared bodies are tried as, best
     * fit first: Japanese customers' mailers, then Western Windows. */
    const char *fallback[] = {"UTF-8", "CP932", "EUC-JP", "CP1252", NULL};
    g_mime_parser_options_set_fallback_charsets(s_opts, fallback);
    /* Real mail breaks the RFCs: encoded words inside words (common in
     * Japanese subjects), bare "MAILER-DAEMON" senders. */
    g_mime_parser_options_set_rfc2047_compliance_mode(
        s_opts, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_address_compliance_mode(
        s_opts, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_parameter_compliance_mode(
        s_opts, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_allow_addresses_without_domain(s_opts, TRUE);
}

/* Copy a GMime-decoded header value: made valid UTF-8, on one line. */
static void
s_copy_header(char *dst, size_t size, const char *v)
{
    if (!v)
        return;
    size_t len = strlen(v);
    char *clean = kj_malloc(3 * len + 1);
    kj_utf8_sanitize(v, len, clean);
    ingest_email_copy_line(dst, size, clean);
    free(clean);
}

/* The first mailbox of a From list (groups searched too). */
static InternetAddressMailbox *
s_first_mailbox(InternetAddressList *list, int depth)
{
    if (!list || depth > 2)
        return NULL;
    int n = internet_address_list_length(list);
    for (int i = 0; i < n; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
            const char *addr =
                internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
            if (addr && addr[0])
                return INTERNET_ADDRESS_MAILBOX(ia);
        } else if (INTERNET_ADDRESS_IS_GROUP(ia)) {
            InternetAddressMailbox *mb = s_first_mailbox(
                internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)),
                depth + 1);
            if (mb)
                return mb;
        }
    }
    return NULL;
}

static const char *
s_raw_header(GMimeMessage *msg, const char *name)
{
    GMimeHeader *h = g_mime_header_list_get_header(
        g_mime_object_get_header_list(GMIME_OBJECT(msg)), name);
    return h ? g_mime_header_get_raw_value(h) : NULL;
}

/* Subject and the sender's name, decoded by GMime unless they hold
 * ISO-2022-JP words (see ingest_email_words.c). */
static void
s_subject_and_name(GMimeMessage *msg, InternetAddressMailbox *from,
                   ingest_email_t *out)
{
    const char *raw = s_raw_header(msg, "Subject");
    if (raw && ingest_email_has_jis_word(raw)) {
        char *s = ingest_email_decode_words(raw, strlen(raw), s_opts);
        s_copy_header(out->subject, sizeof out->subject, s);
        free(s);
    } else {
        s_copy_header(out->subject, sizeof out->subject,
                      g_mime_message_get_subject(msg));
    }
    /* The display name is what comes before the last '<' of From. */
    raw = s_raw_header(msg, "From");
    const char *lt = raw ? strrchr(raw, '<') : NULL;
    if (lt && ingest_email_has_jis_word(raw)) {
        char *s = ingest_email_decode_words(raw, (size_t)(lt - raw), s_opts);
        for (char *q = s; *q; q++)
            if (*q == '"')
                *q = ' ';
        s_copy_header(out->from_name, sizeof out->from_name, s);
        free(s);
    } else {
        s_copy_header(out->from_name, sizeof out->from_name,
                      internet_address_get_name(INTERNET_ADDRESS(from)));
    }
}

/* In-Reply-To's first id, and of References the root and the latest. */
static void
s_threading(GMimeMessage *msg, ingest_email_t *out)
{
    GMimeObject *obj = GMIME_OBJECT(msg);
    const char *irt = g_mime_object_get_header(obj, "In-Reply-To");
    if (irt) {
        GMimeReferences *refs = g_mime_references_parse(s_opts, irt);
        if (refs && g_mime_references_length(refs) > 0)
            s_copy_header(out->in_reply_to, sizeof out->in_reply_to,
                          g_mime_references_get_message_id(refs, 0));
        if (refs)
            g_mime_references_free(refs);
    }
    const char *hdr = g_mime_object_get_header(obj, "References");
    if (!hdr)
        return;
    GMimeReferences *refs = g_mime_references_parse(s_opts, hdr);
    if (!refs)
        return;
    int n = g_mime_references_length(refs);
    for (int i = 0; i < n; i++) {
        if (i > 0 && i < n - (INGEST_EMAIL_REFS_MAX - 1))
            continue;
        s_copy_header(out->references[out->n_references],
                      sizeof out->references[0],
                      g_mime_references_get_message_id(refs, i));
        out->n_references++;
    }
    g_mime_references_free(refs);
}

/* Content-Language's first tag, when it is a plain language tag. */
static void
s_language(GMimeMessage *msg, ingest_email_t *out)
{
    const char *v =
        g_mime_object_get_header(GMIME_OBJECT(msg), "Content-Language");
    if (!v)
        return;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = 0;
    while ((v[n] >= 'a' && v[n] <= 'z') || (v[n] >= 'A' && v[n] <= 'Z') ||
           (v[n] >= '0' && v[n] <= '9') || v[n] == '-')
        n++;
    if (n >= 2 && n < sizeof out->lang) {
        memcpy(out->lang, v, n);
        out->lang[n] = '\0';
    }
}

static void
s_noise(GMimeMessage *msg, ingest_email_t *out)
{
    GMimeObject *obj = GMIME_OBJECT(msg);
    GMimeObject *top = g_mime_message_get_mime_part(msg);
    GMimeContentType *ct = top ? g_mime_object_get_content_type(top) : NULL;
    ingest_email_signals_t sig = {
        .auto_submitted = g_mime_object_get_header(obj, "Auto-Submitted"),
        .x_autoreply = g_mime_object_get_header(obj, "X-Autoreply"),
        .x_autorespond = g_mime_object_get_header(obj, "X-Autorespond"),
        .precedence = g_mime_object_get_header(obj, "Precedence"),
        .list_unsubscribe = g_mime_object_get_header(obj, "List-Unsubscribe"),
        .failed_rcpts = g_mime_object_get_header(obj, "X-Failed-Recipients"),
        .is_report =
            ct && g_mime_content_type_is_type(ct, "multipart", "report"),
        .report_type =
            ct ? g_mime_content_type_get_parameter(ct, "report-type") : NULL,
        .from_addr = out->from_addr,
        .subject = out->subject,
    };
    out->noise = ingest_email_noise(&sig);
}

int
ingest_email_parse(const char *raw, size_t len, ingest_email_t *out,
                   ingest_error_t *err)
{
    int rc = -1;
    GMimeMessage *msg = NULL;
    char *body = NULL, *cut = NULL;

    memset(out, 0, sizeof *out);
    if (len > INGEST_EMAIL_RAW_MAX) {
        ingest_error_set(err, KJ_ERR_BODY_TOO_LARGE,
                         "the message is %zu bytes, at most %d accepted", len,
                         INGEST_EMAIL_RAW_MAX);
        goto out;
    }
    if (len == 0) {
        ingest_error_set(err, KJ_ERR_INVALID_VALUE,
                         "not an RFC 822 message: no bytes");
        goto out;
    }
    pthread_once(&s_once, s_init);
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(raw, len);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    g_object_unref(stream); /* the parser holds its own reference */
    g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
    msg = g_mime_parser_construct_message(parser, s_opts);
    g_object_unref(parser);
    if (!msg || g_mime_header_list_get_count(
                    g_mime_object_get_header_list(GMIME_OBJECT(msg))) == 0) {
        ingest_error_set(err, KJ_ERR_INVALID_VALUE,
                         "not an RFC 822 message: no header fields");
        goto out;
    }

    InternetAddressMailbox *from =
        s_first_mailbox(g_mime_message_get_from(msg), 0);
    if (!from) {
        ingest_error_set(err, KJ_ERR_MISSING_FIELD,
                         "the message has no From address");
        goto out;
    }
    s_copy_header(out->from_addr, sizeof out->from_addr,
                  internet_address_mailbox_get_addr(from));
    s_subject_and_name(msg, from, out);
    s_copy_header(out->message_id, sizeof out->message_id,
                  g_mime_message_get_message_id(msg));
    s_threading(msg, out);
    s_noise(msg, out);

    body = ingest_email_mime_body(msg, s_opts, out);
    s_language(msg, out);
    if (!body) {
        ingest_error_set(err, KJ_ERR_EMPTY_TEXT,
                         "the message has no text/plain or text/html part");
        goto out;
    }
    cut = ingest_email_cut_history(body, strlen(body));
    if (ingest_only_space(cut, strlen(cut))) {
        ingest_error_set(err, KJ_ERR_EMPTY_TEXT,
                         "no text left once quoted history and signature "
                         "are cut");
        goto out;
    }
    out->text_truncated =
        ingest_email_copy_utf8(out->text, sizeof out->text, cut);
    rc = 0;
out:
    free(body);
    free(cut);
    if (msg)
        g_object_unref(msg);
    return rc;
}
