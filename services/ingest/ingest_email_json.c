/* ingest_email_json: a parsed message as the body POST /v1/complaints
 * takes, so e-mail enters the pipeline through the same validation as
 * every other channel. */
#include "ingest_email.h"

#include <string.h>

#include "kj_assert.h"
#include "kj_util.h"

/* Set key to s unless it is empty. The parser made every field valid
 * UTF-8, so jansson refusing one is a programming error. */
static void
s_set(json_t *obj, const char *key, const char *s)
{
    if (!s[0])
        return;
    json_t *v = json_string(s);
    kj_assert(v != NULL);
    json_object_set_new(obj, key, v);
}

/* The messages this one answers, nearest first: In-Reply-To, then
 * References from its end (the latest ancestors) back to the thread's
 * root; each once, at most KJ_MAX_REFS, each shorter than KJ_REF_MAX. */
static json_t *
s_references(const ingest_email_t *mail)
{
    const char *ids[1 + INGEST_EMAIL_REFS_MAX];
    size_t n = 0;
    ids[n++] = mail->in_reply_to;
    for (size_t i = mail->n_references; i-- > 0;)
        ids[n++] = mail->references[i];
    json_t *out = json_array();
    for (size_t i = 0; i < n && json_array_size(out) < KJ_MAX_REFS; i++) {
        if (!ids[i][0] || strlen(ids[i]) >= KJ_REF_MAX)
            continue;
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcmp(ids[k], ids[i]) == 0;
        if (!seen)
            json_array_append_new(out, json_string(ids[i]));
    }
    return out;
}

json_t *
ingest_email_complaint(const ingest_email_t *mail)
{
    json_t *root = json_object();
    json_t *cust = json_object();
    /* The customer id is the address, lower-cased so that Taro@Example.JP
     * and taro@example.jp are one customer with one case. Only ASCII is
     * folded: an internationalised local part is left as written. */
    char id[sizeof mail->from_addr];
    kj_strlcpy(id, mail->from_addr, sizeof id);
    for (char *p = id; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    s_set(root, "channel", "email");
    s_set(cust, "id", id);
    s_set(cust, "name", mail->from_name);
    s_set(cust, "email", mail->from_addr);
    json_object_set_new(root, "customer", cust);
    s_set(root, "subject", mail->subject);
    s_set(root, "text", mail->text);
    s_set(root, "lang", mail->lang);
    s_set(root, "external_id", mail->message_id);
    if (mail->noise != INGEST_EMAIL_NOISE_NONE)
        s_set(root, "noise", ingest_email_noise_name(mail->noise));
    json_t *refs = s_references(mail);
    if (json_array_size(refs) > 0)
        json_object_set_new(root, "references", refs);
    else
        json_decref(refs);
    if (mail->n_attachments > 0) {
        json_t *list = json_array();
        for (size_t i = 0; i < mail->n_attachments; i++) {
            const ingest_email_attachment_t *a = &mail->attachments[i];
            json_t *o = json_object();
            s_set(o, "name", a->name);
            s_set(o, "type", a->type);
            json_object_set_new(o, "size", json_integer((json_int_t)a->size));
            json_array_append_new(list, o);
        }
        json_object_set_new(root, "attachments", list);
    }
    return root;
}
