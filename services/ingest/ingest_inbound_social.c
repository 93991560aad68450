/* ingest_inbound_social: kujo's own signed format for any other source
 * (X, review sites, a social listening tool):
 *
 *   {"platform":"x","post_id":"1790...","author":{"id":"u1","name":"..."},
 *    "text":"...","public":true,"in_reply_to":"1789...",
 *    "url":"https://...","created_at":"2026-11-23T09:00:00Z"}
 *
 * One post, one complaint. The channel is the platform when kujo knows it
 * as a channel (x, facebook, instagram, app_review, ...), else "social".
 * The key is "social:<source>:<post_id>": a source re-sending a post gets
 * its first complaint's id. Unknown fields are refused, as on
 * POST /v1/complaints, so a sender's typo is caught. in_reply_to becomes
 * the complaint's references (a reply joins the case of the post it
 * answers); url is checked but not stored. */
#include "ingest_inbound.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_channels.h"
#include "kj_util.h"

#define S_PLATFORM_MAX 32

static const char *const s_fields[] = {
    "platform", "post_id",     "author", "text",
    "public",   "in_reply_to", "url",    "created_at",
};

static const char *const s_author_fields[] = {"id", "name"};

/* The first key of obj not in allowed[n], or NULL. */
static const char *
s_unknown(json_t *obj, const char *const *allowed, size_t n)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        (void)v;
        bool ok = false;
        for (size_t i = 0; i < n && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok)
            return key;
    }
    return NULL;
}

int
ingest_inbound_parse_social(const char *body, size_t len, const char *source,
                            ingest_inbound_list_t *out, ingest_error_t *err)
{
    json_t *root = ingest_inbound_load(body, len, err);
    if (!root)
        return -1;
    int rc = -1;
    json_t *platform, *post, *author, *aid, *aname, *text, *pub, *reply, *url,
        *at;
    const char *bad = s_unknown(root, s_fields, KJ_ARRAY_LEN(s_fields));
    if (bad) {
        ingest_error_set(err, KJ_ERR_UNKNOWN_FIELD, "unknown field \"%.64s\"",
                         bad);
        goto out;
    }
    if (ingest_inbound_field(root, "platform", JSON_STRING, true, "", &platform,
                             err) < 0 ||
        ingest_inbound_field(root, "post_id", JSON_STRING, true, "", &post,
                             err) < 0 ||
        ingest_inbound_field(root, "author", JSON_OBJECT, true, "", &author,
                             err) < 0 ||
        ingest_inbound_field(root, "text", JSON_STRING, true, "", &text, err) <
            0 ||
        ingest_inbound_field(root, "public", JSON_TRUE, false, "", &pub, err) <
            0 ||
        ingest_inbound_field(root, "in_reply_to", JSON_STRING, false, "",
                             &reply, err) < 0 ||
        ingest_inbound_field(root, "url", JSON_STRING, false, "", &url, err) <
            0 ||
        ingest_inbound_field(root, "created_at", JSON_STRING, false, "", &at,
                             err) < 0)
        goto out;
    bad = s_unknown(author, s_author_fields, KJ_ARRAY_LEN(s_author_fields));
    if (bad) {
        ingest_error_set(err, KJ_ERR_UNKNOWN_FIELD,
                         "unknown field \"author.%.64s\"", bad);
        goto out;
    }
    if (ingest_inbound_field(author, "id", JSON_STRING, true, "author", &aid,
                             err) < 0 ||
        ingest_inbound_field(author, "name", JSON_STRING, false, "author",
                             &aname, err) < 0)
        goto out;
    size_t plen = json_string_length(platform);
    if (plen == 0 || plen > S_PLATFORM_MAX) {
        ingest_error_set(err, KJ_ERR_INVALID_VALUE,
                         "field \"platform\": expected 1..%d bytes",
                         S_PLATFORM_MAX);
        goto out;
    }
    if (json_string_length(post) == 0) {
        ingest_error_set(err, KJ_ERR_MISSING_FIELD,
                         "field \"post_id\" must not be empty");
        goto out;
    }
    const char *channel = json_string_value(platform);
    if (!kj_channel_valid(channel, plen))
        channel = "social";
    /* Posts found by listening are public unless the sender says not. */
    json_t *c = json_pack("{s:s,s:{s:O},s:O,s:O,s:b}", "channel", channel,
                          "customer", "id", aid, "text", text, "external_id",
                          post, "public", pub ? json_is_true(pub) : 1);
    if (!c)
        abort(); /* out of memory: every value above is a valid string */
    if (aname)
        json_object_set(json_object_get(c, "customer"), "name", aname);
    if (at)
        json_object_set(c, "received_at", at);
    /* An id too long for a reference only loses the threading. */
    size_t rlen = reply ? json_string_length(reply) : 0;
    if (rlen > 0 && rlen < KJ_REF_MAX)
        json_object_set_new(c, "references", json_pack("[O]", reply));
    char kind[sizeof "social:" + INGEST_INBOUND_SOURCE_MAX];
    snprintf(kind, sizeof kind, "social:%s", source);
    rc = ingest_inbound_list_add(out, &c, kind, json_string_value(post), err);
out:
    json_decref(root);
    return rc;
}
