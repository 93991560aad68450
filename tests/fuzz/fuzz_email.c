/* libFuzzer target: ingest_email over arbitrary bytes as a raw message.
 * Whatever the bytes, parsing returns 0 or -1 without a leak; a refusal is
 * a 4xx with a printable message; an acceptance has valid, bounded UTF-8
 * in every field and renders as a body that ingest_validate accepts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_email.h"
#include "ingest_validate.h"
#include "kj_util.h"

static ingest_email_t g_mail;
static kj_complaint_t g_c;

/* A field filled from input must be terminated inside its array and be
 * valid UTF-8. */
#define S_TEXT(field)                                                          \
    do {                                                                       \
        if (memchr((field), '\0', sizeof(field)) == NULL ||                    \
            !kj_utf8_valid((field), strlen(field)))                            \
            abort();                                                           \
    } while (0)

static void
s_check(const ingest_email_t *m)
{
    S_TEXT(m->message_id);
    S_TEXT(m->in_reply_to);
    S_TEXT(m->from_addr);
    S_TEXT(m->from_name);
    S_TEXT(m->subject);
    S_TEXT(m->text);
    S_TEXT(m->lang);
    if (m->n_references > INGEST_EMAIL_REFS_MAX ||
        m->n_attachments > INGEST_EMAIL_ATTACH_MAX ||
        m->n_attachments > m->n_attachments_total)
        abort();
    for (size_t i = 0; i < m->n_references; i++)
        S_TEXT(m->references[i]);
    for (size_t i = 0; i < m->n_attachments; i++) {
        S_TEXT(m->attachments[i].name);
        S_TEXT(m->attachments[i].type);
    }
    if (m->from_addr[0] == '\0' || ingest_only_space(m->text, strlen(m->text)))
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ingest_error_t err;
    if (ingest_email_parse((const char *)data, size, &g_mail, &err) < 0) {
        if (err.status != 400 && err.status != 413)
            abort();
        for (const char *p = err.message; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                abort();
        return 0;
    }
    s_check(&g_mail);
    /* What the parser accepts must pass the public validation (text and
     * subject limits, UTF-8, a customer id). */
    json_t *body = ingest_email_complaint(&g_mail);
    char *s = json_dumps(body, JSON_COMPACT);
    if (!s || ingest_validate_complaint(s, strlen(s), &g_c, &err) < 0)
        abort();
    free(s);
    json_decref(body);
    return 0;
}
