/* notifier_smtp: customer mail over SMTP (see notifier_smtp.h). */
#include "notifier_smtp.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <gmime/gmime.h>

#include "kj_envelope.h"
#include "kj_log.h"
#include "kj_store.h"
#include "kj_url.h"
#include "kj_util.h"

#define S_ADDR_MAX 254  /* RFC 5321's path limit less the brackets */
#define S_LOCAL_MAX 64  /* RFC 5321 local part */
#define S_REFS_MAX 2048 /* bytes of the References header we write */
#define S_MSGID_MAX 512 /* a Message-ID we make */
#define S_SUBJECT_MAX 512

struct notifier_smtp {
    char *url;         /* the server, smtp:// or smtps:// */
    char *from_addr;   /* MAIL FROM and From:'s address */
    char *from_name;   /* From:'s display name, NULL if none */
    char *from_domain; /* right of the '@': the Message-IDs' domain */
    char *user;        /* AUTH user, NULL: no AUTH */
    char *password;    /* AUTH password */
    long use_ssl;      /* CURLOPT_USE_SSL for smtp:// */
    kj_store_t *store; /* records and PII records; NULL without Redis */
    kj_codec_t *codec; /* decodes the record's envelope */
    kj_envelope_t env; /* the job's complaint, reused */
    char refs[KJ_MAX_REFS][KJ_REF_MAX + 1]; /* its references, unbracketed */
};

/* One mail in flight: what curl reads, and the envelope recipient. */
typedef struct {
    const notifier_smtp_t *owner; /* outlives the slots (see outbox) */
    char *msg;                    /* the RFC 5322 text, CRLF */
    size_t len, pos;              /* its length and what curl has read */
    char mail_from[S_ADDR_MAX + 3];
    struct curl_slist *rcpt; /* "<to>" */
} s_mail_t;

/* GMime is set up once per process and never shut down: g_mime_init
 * after g_mime_shutdown does not work, and ingest's parser may share it. */
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void
s_gmime_init(void)
{
    g_mime_init();
}

static bool
s_atext(unsigned char c)
{
    /* RFC 5322 atext less the characters no sane mailbox needs and some
     * MTAs mishandle ('|', '`', '{', '}' stay allowed: they are atext). */
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

bool
notifier_smtp_address_ok(const char *addr)
{
    if (!addr)
        return false;
    size_t n = strlen(addr);
    const char *at = strchr(addr, '@');
    if (n < 3 || n > S_ADDR_MAX || !at || strchr(at + 1, '@'))
        return false;
    size_t local = (size_t)(at - addr);
    if (local == 0 || local > S_LOCAL_MAX || addr[0] == '.' || at[-1] == '.')
        return false;
    for (const char *p = addr; p < at; p++) {
        if (*p == '.') {
            if (p[1] == '.')
                return false;
            continue;
        }
        if (!s_atext((unsigned char)*p))
            return false;
    }
    /* Domain: labels of letters, digits and '-', not starting or ending
     * with '-', separated by single dots. */
    const char *d = at + 1;
    size_t label = 0;
    for (const char *p = d;; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || p[-1] == '-')
                return false;
            if (c == '\0')
                break;
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '-';
        if (!ok || (label == 0 && c == '-'))
            return false;
        label++;
    }
    return true;
}

/* A Message-ID from a record (external_id, references), without angle
 * brackets: printable ASCII with one '@', no spaces or brackets. */
static bool
s_msgid_ok(const char *id)
{
    size_t n = strlen(id);
    if (n < 3 || n > KJ_REF_MAX || !strchr(id, '@'))
        return false;
    for (const char *p = id; *p; p++)
        if (*p <= ' ' || *p >= 127 || *p == '<' || *p == '>' || *p == '"' ||
            *p == '\\' || *p == ',')
            return false;
    return true;
}

/* id with one pair of surrounding angle brackets removed, into out. */
static void
s_unbracket(const char *id, char *out, size_t size)
{
    size_t n = strlen(id);
    if (n >= 2 && id[0] == '<' && id[n - 1] == '>') {
        id++;
        n -= 2;
    }
    if (n >= size)
        n = size - 1;
    memcpy(out, id, n);
    out[n] = '\0';
}

int
notifier_smtp_message_id(const char *job_id, const char *domain, char *out,
                         size_t size)
{
    size_t o = 0;
    const char *pre = "kujo.";
    for (const char *p = pre; *p && o < size; p++)
        out[o++] = *p;
    for (const char *p = job_id; *p && o < size; p++) {
        unsigned char c = (unsigned char)*p;
        /* Job ids are "<complaint>:<kind>[:<n>]"; ':' is not atext. */
        out[o++] = c == ':' ? '.' : s_atext(c) ? (char)c : '-';
    }
    int w = o < size ? snprintf(out + o, size - o, "@%s", domain) : -1;
    if (w < 0 || (size_t)w >= size - o) {
        if (size)
            out[0] = '\0';
        return -1;
    }
    return 0;
}

void
notifier_smtp_subject(const char *kind, const char *language,
                      const char *case_number, char *out, size_t size)
{
    bool ja = language && strncmp(language, "ja", 2) == 0;
    const char *what;
    if (strcmp(kind, "customer_ack") == 0)
        what = ja ? "お問い合わせを受け付けました"
                  : "We have received your message";
    else if (strcmp(kind, "survey_request") == 0)
        what = ja ? "アンケートへのご協力のお願い" : "How did we do?";
    else if (strcmp(kind, "incident_notice") == 0)
        what = ja ? "障害発生のお知らせ" : "Service notice: a known problem";
    else if (strcmp(kind, "incident_resolved") == 0)
        what = ja ? "障害復旧のお知らせ" : "Resolved: the known problem";
    else
        what = ja ? "お問い合わせについてのご連絡" : "About your message";
    if (ja)
        snprintf(out, size, "%s（ケース番号 %s）", what, case_number);
    else
        snprintf(out, size, "%s (case %s)", what, case_number);
}

/* text with every bare LF made CRLF: the canonical form of text/plain. */
static char *
s_crlf(const char *text)
{
    size_t n = strlen(text), extra = 0;
    for (size_t i = 0; i < n; i++)
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
            extra++;
    char *out = kj_malloc(n + extra + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
            out[o++] = '\r';
        out[o++] = text[i];
    }
    out[o] = '\0';
    return out;
}

/* A header value of UTF-8 text as RFC 2047 "B" encoded-words, folded: the
 * raw value GMime writes after "Name:" (leading space, LF line ends; the
 * DOS format makes them CRLF). Each word carries at most S_WORD_BYTES
 * whole characters, so a word is at most 68 characters (RFC 2047: 75) and
 * "Subject: " plus a word fits in 78. GMime's own encoder writes longer
 * words for long Japanese subjects. Caller frees. */
#define S_WORD_BYTES 42

static char *
s_rfc2047(const char *text)
{
    size_t n = strlen(text), cap = n * 2 + 64, o = 0, i = 0;
    char *out = kj_malloc(cap + 1);
    while (i < n) {
        size_t take = n - i < S_WORD_BYTES ? n - i : S_WORD_BYTES;
        /* Back off to a character boundary (no continuation byte next). */
        while (take > 0 && i + take < n &&
               ((unsigned char)text[i + take] & 0xC0) == 0x80)
            take--;
        if (take == 0) /* not UTF-8: one byte at a time, still encoded */
            take = 1;
        gchar *b64 = g_base64_encode((const guchar *)text + i, take);
        size_t need = strlen(b64) + 16;
        if (o + need > cap) {
            cap = (o + need) * 2;
            out = kj_realloc(out, cap + 1);
        }
        o += (size_t)snprintf(out + o, cap + 1 - o, " =?UTF-8?B?%s?=\n", b64);
        g_free(b64);
        i += take;
    }
    out[o] = '\0';
    return out;
}

static bool
s_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80 || *s == '\r' || *s == '\n')
            return false;
    return true;
}

char *
notifier_smtp_build(const notifier_smtp_msg_t *m, size_t *len)
{
    if (!notifier_smtp_address_ok(m->from) || !notifier_smtp_address_ok(m->to))
        return NULL;
    pthread_once(&s_once, s_gmime_init);
    GMimeMessage *msg = g_mime_message_new(TRUE);
    GMimeObject *o = GMIME_OBJECT(msg);
    g_mime_message_add_mailbox(
        msg, GMIME_ADDRESS_TYPE_FROM,
        m->from_name && m->from_name[0] ? m->from_name : NULL, m->from);
    g_mime_message_add_mailbox(msg, GMIME_ADDRESS_TYPE_TO, NULL, m->to);
    /* Stored as UTF-8; written as RFC 2047 encoded-words (ours) when not
     * ASCII. */
    g_mime_message_set_subject(msg, m->subject, "utf-8");
    if (!s_ascii(m->subject)) {
        char *raw = s_rfc2047(m->subject);
        g_mime_header_set_raw_value(
            g_mime_header_list_get_header(g_mime_object_get_header_list(o),
                                          "Subject"),
            raw);
        free(raw);
    }
    GDateTime *dt = g_date_time_new_from_unix_utc(m->date_s);
    g_mime_message_set_date(msg, dt);
    g_date_time_unref(dt);
    g_mime_message_set_message_id(msg, m->message_id);
    char buf[S_REFS_MAX];
    if (m->in_reply_to && m->in_reply_to[0]) {
        snprintf(buf, sizeof buf, "<%s>", m->in_reply_to);
        g_mime_object_set_header(o, "In-Reply-To", buf, NULL);
    }
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < m->n_references; i++) {
        int w = snprintf(buf + used, sizeof buf - used, "%s<%s>",
                         used ? " " : "", m->references[i]);
        if (w < 0 || (size_t)w >= sizeof buf - used) {
            buf[used] = '\0'; /* the oldest are dropped first: see below */
            break;
        }
        used += (size_t)w;
    }
    if (used)
        g_mime_object_set_header(o, "References", buf, NULL);
    /* RFC 3834: an automatic answer, so that auto-responders stay quiet. */
    g_mime_object_set_header(o, "Auto-Submitted", "auto-replied", NULL);

    char *text = s_crlf(m->text);
    GMimeTextPart *part = g_mime_text_part_new_with_subtype("plain");
    g_mime_text_part_set_text(part, text);
    g_mime_text_part_set_charset(part, "utf-8");
    free(text);
    /* Quoted-printable for mostly ASCII, base64 for Japanese: GMime picks
     * the shorter that keeps to 7 bits. */
    g_mime_part_set_content_encoding(
        GMIME_PART(part),
        g_mime_part_get_best_content_encoding(GMIME_PART(part),
                                              GMIME_ENCODING_CONSTRAINT_7BIT));
    g_mime_message_set_mime_part(msg, GMIME_OBJECT(part));
    g_object_unref(part);

    GMimeFormatOptions *fo = g_mime_format_options_clone(NULL);
    g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
    char *s = g_mime_object_to_string(o, fo);
    g_mime_format_options_free(fo);
    g_object_unref(msg);
    if (!s)
        return NULL;
    *len = strlen(s);
    char *out = kj_malloc(*len + 1);
    memcpy(out, s, *len + 1);
    g_free(s);
    return out;
}

static char *
s_dup_or_null(const char *s)
{
    return s && s[0] ? kj_strdup(s) : NULL;
}

notifier_smtp_t *
notifier_smtp_new(const notifier_smtp_opts_t *opts, char *err, size_t err_size)
{
    const char *url = opts->url ? opts->url : "";
    bool smtps = strncasecmp(url, "smtps://", 8) == 0;
    if (!smtps && strncasecmp(url, "smtp://", 7) != 0) {
        snprintf(err, err_size, "KUJO_SMTP_URL must be smtp:// or smtps://");
        return NULL;
    }
    kj_url_t u;
    if (kj_url_parse(url, &u, NULL, 0) != 0 || !u.host[0] ||
        strlen(url) >= KJ_URL_MAX || strpbrk(url, " \r\n")) {
        snprintf(err, err_size, "KUJO_SMTP_URL names no host");
        return NULL;
    }
    long use_ssl = (long)CURLUSESSL_TRY;
    const char *tls = opts->tls && opts->tls[0] ? opts->tls : "try";
    if (strcmp(tls, "require") == 0)
        use_ssl = (long)CURLUSESSL_ALL;
    else if (strcmp(tls, "off") == 0)
        use_ssl = (long)CURLUSESSL_NONE;
    else if (strcmp(tls, "try") != 0) {
        snprintf(err, err_size, "KUJO_SMTP_TLS must be try, require or off");
        return NULL;
    }
    if (smtps && use_ssl == (long)CURLUSESSL_NONE) {
        snprintf(err, err_size,
                 "KUJO_SMTP_TLS=off contradicts an smtps:// URL (always TLS)");
        return NULL;
    }

    pthread_once(&s_once, s_gmime_init);
    char *from_addr = NULL, *from_name = NULL;
    InternetAddressList *list =
        opts->from ? internet_address_list_parse(NULL, opts->from) : NULL;
    if (list && internet_address_list_length(list) == 1) {
        InternetAddress *a = internet_address_list_get_address(list, 0);
        if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
            const char *addr =
                internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
            if (notifier_smtp_address_ok(addr)) {
                from_addr = kj_strdup(addr);
                from_name = s_dup_or_null(internet_address_get_name(a));
            }
        }
    }
    if (list)
        g_object_unref(list);
    if (!from_addr || (opts->from && strpbrk(opts->from, "\r\n"))) {
        free(from_addr);
        free(from_name);
        snprintf(err, err_size,
                 "KUJO_SMTP_FROM must be one address (\"care@example.jp\" or "
                 "\"Name <care@example.jp>\")");
        return NULL;
    }

    notifier_smtp_t *self = kj_calloc(1, sizeof *self);
    self->url = kj_strdup(url);
    self->from_addr = from_addr;
    self->from_name = from_name;
    self->from_domain = kj_strdup(strchr(from_addr, '@') + 1);
    self->user = s_dup_or_null(opts->user);
    self->password = kj_strdup(opts->password ? opts->password : "");
    self->use_ssl = use_ssl;
    self->codec = kj_codec_new();
    if (opts->redis) {
        kj_store_opts_t so = {.prefix = opts->prefix ? opts->prefix : "kj",
                              .lease_ms = 30000,
                              .max_attempts = 5};
        self->store = kj_store_new(opts->redis, &so);
        if (!self->store) {
            snprintf(err, err_size, "store setup failed");
            notifier_smtp_destroy(&self);
            return NULL;
        }
    }
    return self;
}

void
notifier_smtp_destroy(notifier_smtp_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    notifier_smtp_t *self = *self_p;
    kj_store_destroy(&self->store);
    kj_codec_destroy(&self->codec);
    free(self->url);
    free(self->from_addr);
    free(self->from_name);
    free(self->from_domain);
    free(self->user);
    /* A secret: not left in freed memory. */
    for (volatile char *p = self->password; p && *p; p++)
        *p = '\0';
    free(self->password);
    free(self);
    *self_p = NULL;
}

const char *
notifier_smtp_url(const notifier_smtp_t *self)
{
    return self->url;
}

static size_t
s_read(char *buf, size_t size, size_t nmemb, void *userdata)
{
    s_mail_t *m = userdata;
    size_t n = size * nmemb, left = m->len - m->pos;
    if (n > left)
        n = left;
    memcpy(buf, m->msg + m->pos, n);
    m->pos += n;
    return n;
}

static int
s_setup(CURL *e, void *data, char *err, size_t err_size)
{
    s_mail_t *m = data;
    const notifier_smtp_t *o = m->owner;
    (void)err;
    (void)err_size;
    m->pos = 0;
    curl_easy_setopt(e, CURLOPT_URL, o->url);
    /* Only mail: KUJO_SMTP_URL cannot turn into anything else. */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(e, CURLOPT_USE_SSL, o->use_ssl);
    curl_easy_setopt(e, CURLOPT_MAIL_FROM, m->mail_from);
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, m->rcpt);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, s_read);
    curl_easy_setopt(e, CURLOPT_READDATA, m);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)m->len);
    if (o->user) {
        curl_easy_setopt(e, CURLOPT_USERNAME, o->user);
        curl_easy_setopt(e, CURLOPT_PASSWORD, o->password);
    }
    return 0;
}

static void
s_release(void *data)
{
    s_mail_t *m = data;
    if (!m)
        return;
    free(m->msg);
    curl_slist_free_all(m->rcpt);
    free(m);
}

static const char *
s_jstr(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

/* References of the reply, oldest first: the customer's mail's own
 * (the envelope keeps them newest first), then the mail itself. */
static size_t
s_references(const kj_complaint_t *c, const char *parent,
             const char *out[KJ_MAX_REFS + 1],
             char store[KJ_MAX_REFS][KJ_REF_MAX + 1])
{
    size_t n = 0;
    for (size_t i = c->n_references; i-- > 0;) {
        s_unbracket(c->references[i], store[n], sizeof store[n]);
        if (!s_msgid_ok(store[n]) || strcmp(store[n], parent) == 0)
            continue;
        out[n] = store[n];
        n++;
    }
    if (parent[0])
        out[n++] = parent;
    return n;
}

notifier_smtp_rc_t
notifier_smtp_prepare(notifier_smtp_t *self, const kj_outbox_job_t *job,
                      json_t *payload, int64_t now_ms,
                      notifier_transfer_t *xfer, char *domain,
                      size_t domain_size, char *err, size_t err_size)
{
    notifier_smtp_rc_t rc = NOTIFIER_SMTP_ERROR;
    kj_store_record_t rec;
    kj_store_pii_record_t pii;
    memset(&rec, 0, sizeof rec);
    memset(&pii, 0, sizeof pii);
    domain[0] = '\0';
    err[0] = '\0';
    if (!self->store) {
        snprintf(err, err_size, "no Redis to read the complaint from");
        goto out;
    }
    int got = kj_store_get(self->store, job->complaint_id, &rec);
    if (got < 0) {
        snprintf(err, err_size, "complaint record not read (Redis)");
        goto out;
    }
    kj_envelope_t *env = &self->env;
    memset(env, 0, sizeof *env);
    if (got == 1 &&
        kj_envelope_decode(self->codec, rec.env, rec.env_len, env) != 0) {
        snprintf(err, err_size, "complaint record does not decode");
        goto out;
    }
    /* The address lives in the PII record only (envelopes after ingest
     * carry none); reading it is audited like any other read. */
    if (kj_store_pii_get(self->store, job->complaint_id, "notifier", now_ms,
                         &pii) < 0) {
        snprintf(err, err_size, "PII record not read (Redis)");
        goto out;
    }
    const char *to =
        pii.email && pii.email[0] ? pii.email : env->complaint.customer.email;
    if (!to[0]) {
        rc = NOTIFIER_SMTP_NO_ADDRESS;
        goto out;
    }
    if (!notifier_smtp_address_ok(to)) {
        rc = NOTIFIER_SMTP_REFUSED;
        snprintf(err, err_size, "%s",
                 strpbrk(to, "\r\n")
                     ? "recipient address contains CR or LF (header "
                       "injection refused)"
                     : "recipient address is not one plain address "
                       "(local@domain, ASCII, no spaces or commas)");
        goto out;
    }
    kj_strlcpy(domain, strchr(to, '@') + 1, domain_size);
    const char *text = s_jstr(payload, "text");
    if (!text[0]) {
        rc = NOTIFIER_SMTP_REFUSED;
        snprintf(err, err_size, "job has no text to send");
        goto out;
    }

    char subject[S_SUBJECT_MAX], msgid[S_MSGID_MAX];
    const char *lang = s_jstr(payload, "language");
    if (!lang[0])
        lang = env->triage.language;
    const char *case_no = s_jstr(payload, "case_id");
    if (!case_no[0])
        case_no = job->case_id[0] ? job->case_id : job->complaint_id;
    notifier_smtp_subject(job->kind, lang, case_no, subject, sizeof subject);
    if (notifier_smtp_message_id(job->id, self->from_domain, msgid,
                                 sizeof msgid) != 0) {
        rc = NOTIFIER_SMTP_REFUSED;
        snprintf(err, err_size, "job id too long for a Message-ID");
        goto out;
    }
    /* Threading: a complaint that came by mail has its Message-ID as
     * external_id; other channels' ids are not Message-IDs. */
    char parent[KJ_REF_MAX + 1] = "";
    if (strcmp(env->complaint.channel, "email") == 0) {
        s_unbracket(env->complaint.external_id, parent, sizeof parent);
        if (!s_msgid_ok(parent))
            parent[0] = '\0';
    }
    const char *refs[KJ_MAX_REFS + 1];
    size_t n_refs =
        parent[0] ? s_references(&env->complaint, parent, refs, self->refs) : 0;
    notifier_smtp_msg_t m = {.from_name = self->from_name,
                             .from = self->from_addr,
                             .to = to,
                             .subject = subject,
                             .text = text,
                             .message_id = msgid,
                             .in_reply_to = parent,
                             .references = refs,
                             .n_references = n_refs,
                             .date_s = now_ms / 1000};
    s_mail_t *mail = kj_calloc(1, sizeof *mail);
    mail->owner = self;
    mail->msg = notifier_smtp_build(&m, &mail->len);
    if (!mail->msg) {
        s_release(mail);
        rc = NOTIFIER_SMTP_REFUSED;
        snprintf(err, err_size, "message could not be built");
        goto out;
    }
    snprintf(mail->mail_from, sizeof mail->mail_from, "<%s>", self->from_addr);
    char rcpt[S_ADDR_MAX + 3];
    snprintf(rcpt, sizeof rcpt, "<%s>", to);
    mail->rcpt = curl_slist_append(NULL, rcpt);
    if (!mail->rcpt)
        abort(); /* curl_slist_append fails only when out of memory */
    *xfer = (notifier_transfer_t){
        .setup = s_setup, .release = s_release, .data = mail, .smtp = true};
    rc = NOTIFIER_SMTP_READY;
out:
    free(rec.env);
    kj_store_pii_clear(&pii);
    return rc;
}
