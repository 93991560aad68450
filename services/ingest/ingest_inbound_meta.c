/* ingest_inbound_meta: a Facebook Page or Instagram webhook body ->
 * complaints. Two shapes arrive in "entry":
 *   changes[]   field feed|comments: a new post or comment, public;
 *   messaging[] a Messenger or Instagram Direct message, private.
 * What is not a customer's new text is acknowledged and counted as
 * ignored: edits and removals, reactions, read and delivery receipts,
 * attachments without text, and above all the page's own posts and
 * replies (from.id is the page, or the message is an echo), which would
 * otherwise come back as complaints against ourselves. */
#include "ingest_inbound.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_time.h"

/* A field of the object, printed as its path. */
#define S_F(obj, key, type, req, where, out)                                   \
    (ingest_inbound_field((obj), (key), (type), (req), (where), (out), err) < 0)

/* Add one complaint; at_ms <= 0 leaves received_at out. */
static int
s_add(ingest_inbound_list_t *out, const char *channel, json_t *who,
      json_t *name, json_t *text, json_t *id, bool public, int64_t at_ms,
      ingest_error_t *err)
{
    json_t *c =
        json_pack("{s:s,s:{s:O},s:O,s:O,s:b}", "channel", channel, "customer",
                  "id", who, "text", text, "external_id", id, "public", public);
    if (!c)
        abort(); /* out of memory: every value above is a valid string */
    if (name && json_string_length(name) > 0)
        json_object_set(json_object_get(c, "customer"), "name", name);
    if (at_ms > 0) {
        char at[KJ_TIME_RFC3339_LEN];
        if (kj_time_rfc3339(at_ms, at, sizeof at) > 0)
            json_object_set_new(c, "received_at", json_string(at));
    }
    return ingest_inbound_list_add(out, &c, "meta", json_string_value(id), err);
}

/* entry[].changes[k]: feed (Page posts and comments: "message") or
 * comments (Instagram: "text", the comment's id in "id"). */
static int
s_change(json_t *ch, const char *where, const char *channel, const char *page,
         ingest_inbound_list_t *out, ingest_error_t *err)
{
    json_t *field, *value, *item, *verb, *from, *fid, *fname, *text, *id,
        *created;
    if (!json_is_object(ch)) {
        ingest_error_set(err, KJ_ERR_WRONG_TYPE,
                         "field \"%s\": expected an object", where);
        return -1;
    }
    if (S_F(ch, "field", JSON_STRING, true, where, &field) ||
        S_F(ch, "value", JSON_OBJECT, true, where, &value))
        return -1;
    const char *f = json_string_value(field);
    if (strcmp(f, "feed") != 0 && strcmp(f, "comments") != 0) {
        out->ignored++;
        return 0;
    }
    char vw[96];
    snprintf(vw, sizeof vw, "%s.value", where);
    if (S_F(value, "item", JSON_STRING, false, vw, &item) ||
        S_F(value, "verb", JSON_STRING, false, vw, &verb) ||
        S_F(value, "from", JSON_OBJECT, false, vw, &from))
        return -1;
    const char *it = item ? json_string_value(item) : "comment";
    /* Only what a customer wrote anew: a comment, or a post on the page
     * (status: a text-only post). */
    bool wanted = strcmp(it, "comment") == 0 || strcmp(it, "post") == 0 ||
                  strcmp(it, "status") == 0;
    if (!wanted || (verb && strcmp(json_string_value(verb), "add") != 0) ||
        !from) {
        out->ignored++;
        return 0;
    }
    char fw[112];
    snprintf(fw, sizeof fw, "%s.from", vw);
    if (S_F(from, "id", JSON_STRING, true, fw, &fid) ||
        S_F(from, "name", JSON_STRING, false, fw, &fname))
        return -1;
    if (!fname && S_F(from, "username", JSON_STRING, false, fw, &fname))
        return -1;
    if (page && strcmp(json_string_value(fid), page) == 0) {
        out->ignored++; /* the page's own reply */
        return 0;
    }
    if (S_F(value, "message", JSON_STRING, false, vw, &text) ||
        (!text && S_F(value, "text", JSON_STRING, false, vw, &text)))
        return -1;
    if (!text || json_string_length(text) == 0) {
        out->ignored++; /* a photo or a sticker alone */
        return 0;
    }
    /* The comment's own id: comment_id (Page), id (Instagram), else the
     * post's. */
    if (S_F(value, "comment_id", JSON_STRING, false, vw, &id) ||
        (!id && S_F(value, "id", JSON_STRING, false, vw, &id)) ||
        (!id && S_F(value, "post_id", JSON_STRING, false, vw, &id)))
        return -1;
    if (!id) {
        ingest_error_set(err, KJ_ERR_MISSING_FIELD,
                         "field \"%s\": comment_id, id or post_id is "
                         "required",
                         vw);
        return -1;
    }
    if (S_F(value, "created_time", JSON_INTEGER, false, vw, &created))
        return -1;
    int64_t at = created ? json_integer_value(created) * 1000 : 0;
    return s_add(out, channel, fid, fname, text, id, true, at, err);
}

/* entry[].messaging[k]: a message, or a receipt or postback (ignored). */
static int
s_messaging(json_t *m, const char *where, const char *channel,
            ingest_inbound_list_t *out, ingest_error_t *err)
{
    json_t *sender, *sid, *msg, *mid, *text, *echo, *ts;
    if (!json_is_object(m)) {
        ingest_error_set(err, KJ_ERR_WRONG_TYPE,
                         "field \"%s\": expected an object", where);
        return -1;
    }
    if (S_F(m, "message", JSON_OBJECT, false, where, &msg) ||
        S_F(m, "timestamp", JSON_INTEGER, false, where, &ts))
        return -1;
    if (!msg) {
        out->ignored++;
        return 0;
    }
    char mw[96], sw[96];
    snprintf(mw, sizeof mw, "%s.message", where);
    snprintf(sw, sizeof sw, "%s.sender", where);
    if (S_F(msg, "is_echo", JSON_TRUE, false, mw, &echo) ||
        S_F(msg, "text", JSON_STRING, false, mw, &text))
        return -1;
    /* An echo is the page's own message sent back to it. */
    if ((echo && json_is_true(echo)) || !text ||
        json_string_length(text) == 0) {
        out->ignored++;
        return 0;
    }
    if (S_F(m, "sender", JSON_OBJECT, true, where, &sender) ||
        S_F(sender, "id", JSON_STRING, true, sw, &sid) ||
        S_F(msg, "mid", JSON_STRING, true, mw, &mid))
        return -1;
    int64_t at = ts ? json_integer_value(ts) : 0;
    return s_add(out, channel, sid, NULL, text, mid, false, at, err);
}

static int
s_entry(json_t *e, size_t i, const char *channel, ingest_inbound_list_t *out,
        ingest_error_t *err)
{
    char where[48], w[80];
    snprintf(where, sizeof where, "entry[%zu]", i);
    json_t *page, *changes, *messaging, *v;
    size_t k;
    if (!json_is_object(e)) {
        ingest_error_set(err, KJ_ERR_WRONG_TYPE,
                         "field \"%s\": expected an object", where);
        return -1;
    }
    if (S_F(e, "id", JSON_STRING, false, where, &page) ||
        S_F(e, "changes", JSON_ARRAY, false, where, &changes) ||
        S_F(e, "messaging", JSON_ARRAY, false, where, &messaging))
        return -1;
    const char *pid = page ? json_string_value(page) : NULL;
    json_array_foreach(changes, k, v)
    {
        snprintf(w, sizeof w, "%s.changes[%zu]", where, k);
        if (s_change(v, w, channel, pid, out, err) < 0)
            return -1;
    }
    json_array_foreach(messaging, k, v)
    {
        snprintf(w, sizeof w, "%s.messaging[%zu]", where, k);
        if (s_messaging(v, w, channel, out, err) < 0)
            return -1;
    }
    return 0;
}

int
ingest_inbound_parse_meta(const char *body, size_t len, const char *source,
                          ingest_inbound_list_t *out, ingest_error_t *err)
{
    (void)source;
    json_t *root = ingest_inbound_load(body, len, err);
    if (!root)
        return -1;
    int rc = -1;
    json_t *object, *entries, *e;
    size_t i;
    if (S_F(root, "object", JSON_STRING, true, "", &object) ||
        S_F(root, "entry", JSON_ARRAY, true, "", &entries))
        goto out;
    const char *obj = json_string_value(object);
    const char *channel = strcmp(obj, "page") == 0        ? "facebook"
                          : strcmp(obj, "instagram") == 0 ? "instagram"
                                                          : NULL;
    if (!channel) {
        ingest_error_set(err, KJ_ERR_INVALID_VALUE,
                         "field \"object\": expected page or instagram");
        goto out;
    }
    json_array_foreach(entries, i, e)
    {
        if (s_entry(e, i, channel, out, err) < 0)
            goto out;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}
