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
    return root;
}
