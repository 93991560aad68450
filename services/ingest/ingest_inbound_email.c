/* ingest_inbound_email: POST /v1/inbound/email, a raw RFC 822 message as an
 * inbound-mail relay hands it over (Content-Type: message/rfc822), parsed
 * by ingest_email into one complaint. The relay authenticates with an API
 * key holding the inbound:email scope (checked by ingest_api before the
 * body is read), so the complaint is the key's tenant's. Pure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_email.h"
#include "ingest_inbound.h"
#include "kj_sum.h"
#include "kj_util.h"

/* Message-IDs longer than this (or absent) are keyed by their digest: an
 * idempotency key is at most INGEST_IDEM_KEY_MAX printable bytes. */
#define S_ID_MAX 160

static bool
s_printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

/* The event id of a message: its Message-ID, or the SHA-256 of the
 * Message-ID (too long or odd) or of the raw bytes (none), so a relay's
 * retry of the same message is the same complaint. */
static void
s_event_id(const ingest_email_t *m, const char *raw, size_t len, char *out,
           size_t size)
{
    size_t n = strlen(m->message_id);
    if (n > 0 && n <= S_ID_MAX && s_printable(m->message_id)) {
        kj_strlcpy(out, m->message_id, size);
        return;
    }
    uint8_t sum[KJ_SUM_LEN];
    if (n > 0)
        kj_sum(m->message_id, n, sum);
    else
        kj_sum(raw, len, sum);
    size_t at = (size_t)snprintf(out, size, "sha256-");
    for (size_t i = 0; i < KJ_SUM_LEN && at + 2 < size; i++, at += 2)
        snprintf(out + at, size - at, "%02x", sum[i]);
}

int
ingest_inbound_parse_email(const char *body, size_t len, const char *source,
                           ingest_inbound_list_t *out, ingest_error_t *err)
{
    (void)source;
    /* About 30 KB: on the heap, not the stack of the HTTP thread. */
    ingest_email_t *m = kj_malloc(sizeof *m);
    int rc = -1;
    if (ingest_email_parse(body, len, m, err) < 0)
        goto out;
    /* Noise (an auto-reply, a list mail, a bounce) is recorded with its
     * label: kept and counted, never acknowledged (the router). */
    char id[S_ID_MAX + 1];
    s_event_id(m, body, len, id, sizeof id);
    json_t *complaint = ingest_email_complaint(m);
    rc = ingest_inbound_list_add(out, &complaint, "email", id, err);
out:
    free(m);
    return rc;
}
