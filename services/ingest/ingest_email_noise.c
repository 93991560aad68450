/* ingest_email_noise: mail no customer wrote. Our own acknowledgement
 * draws out-of-office answers and bounces; were they complaints, each
 * would be acknowledged again, and two autoresponders would talk forever. */
#include "ingest_email_internal.h"

#include <string.h>
#include <strings.h>

#include "kj_util.h"

/* The value up to its first ';' or comment, without blanks, compared to
 * word ignoring case ("auto-replied; comment" -> "auto-replied"). */
static bool
s_value_is(const char *v, const char *word)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strcspn(v, " \t;(");
    return n == strlen(word) && strncasecmp(v, word, n) == 0;
}

static bool
s_empty(const char *v)
{
    if (!v)
        return true;
    while (*v == ' ' || *v == '\t')
        v++;
    return *v == '\0';
}

/* Out-of-office subjects as autoresponders write them, in English and
 * Japanese. Only prefixes: a complaint about "your auto-reply" or a
 * parcel's 不在票 must stay a complaint. */
static bool
s_auto_subject(const char *s)
{
    static const char *const en[] = {
        "out of office", "automatic reply", "autoreply",
        "auto-reply",    "auto reply",      "auto response",
        "autoresponse",  "auto-response",   "abwesenheitsnotiz",
    };
    /* Not 不在 ("absent") alone: 不在票 is the missed-delivery slip a
     * parcel complaint talks about. */
    static const char *const ja[] = {
        "自動返信", "自動応答",   "不在通知", "不在のお知らせ",
        "不在連絡", "不在のため", "不在中",   "不在:",
        "不在：",   "不在】",     "不在」",
    };
    /* Skip blanks and the brackets subjects are decorated with:
     * 【自動返信】, [Auto-Reply], 「不在」. */
    static const char *const skip[] = {" ",  "\t", "[",  "(", "【",
                                       "「", "［", "（", "　"};
    bool more = true;
    while (more) {
        more = false;
        for (size_t i = 0; i < KJ_ARRAY_LEN(skip); i++) {
            size_t n = strlen(skip[i]);
            if (strncmp(s, skip[i], n) == 0) {
                s += n;
                more = true;
            }
        }
    }
    for (size_t i = 0; i < KJ_ARRAY_LEN(en); i++)
        if (strncasecmp(s, en[i], strlen(en[i])) == 0)
            return true;
    for (size_t i = 0; i < KJ_ARRAY_LEN(ja); i++)
        if (strncmp(s, ja[i], strlen(ja[i])) == 0)
            return true;
    return false;
}

/* MAILER-DAEMON@… and postmaster@… send bounces. */
static bool
s_daemon(const char *addr)
{
    static const char *const locals[] = {"mailer-daemon", "postmaster"};
    if (!addr)
        return false;
    size_t n = strcspn(addr, "@");
    for (size_t i = 0; i < KJ_ARRAY_LEN(locals); i++)
        if (n == strlen(locals[i]) && strncasecmp(addr, locals[i], n) == 0)
            return true;
    return false;
}

ingest_email_noise_t
ingest_email_noise(const ingest_email_signals_t *sig)
{
    if ((sig->is_report && sig->report_type &&
         s_value_is(sig->report_type, "delivery-status")) ||
        s_daemon(sig->from_addr) || !s_empty(sig->failed_rcpts))
        return INGEST_EMAIL_BOUNCE;
    /* RFC 3834: anything but "no" is automatic. */
    if ((!s_empty(sig->auto_submitted) &&
         !s_value_is(sig->auto_submitted, "no")) ||
        !s_empty(sig->x_autoreply) || !s_empty(sig->x_autorespond) ||
        (sig->subject && s_auto_subject(sig->subject)))
        return INGEST_EMAIL_AUTO_REPLY;
    if ((sig->precedence && (s_value_is(sig->precedence, "bulk") ||
                             s_value_is(sig->precedence, "list") ||
                             s_value_is(sig->precedence, "junk"))) ||
        !s_empty(sig->list_unsubscribe))
        return INGEST_EMAIL_BULK;
    return INGEST_EMAIL_NOISE_NONE;
}

const char *
ingest_email_noise_name(ingest_email_noise_t noise)
{
    switch (noise) {
    case INGEST_EMAIL_NOISE_NONE:
        return "none";
    case INGEST_EMAIL_AUTO_REPLY:
        return "auto_reply";
    case INGEST_EMAIL_BULK:
        return "bulk";
    case INGEST_EMAIL_BOUNCE:
        return "bounce";
    }
    return "unknown";
}
