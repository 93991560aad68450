/* ingest_inbound_line: a LINE Messaging API webhook body -> complaints.
 * Text messages are complaints (customer: the LINE userId, key: the
 * webhookEventId, which a redelivery keeps); every other event (follow,
 * unfollow, postback, stickers, images, ...) is acknowledged and counted
 * as ignored, since LINE redelivers what is not answered 200. An empty
 * "events" array is LINE's "Verify" button: 200, nothing recorded. */
#include "ingest_inbound.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_time.h"

/* One event; 0 also when it is ignored. */
static int
s_event(json_t *ev, size_t i, ingest_inbound_list_t *out, ingest_error_t *err)
{
    char where[48];
    snprintf(where, sizeof where, "events[%zu]", i);
    json_t *type, *msg, *mtype, *text, *mid, *eid, *src, *user, *ts;
    if (!json_is_object(ev)) {
        ingest_error_set(err, KJ_ERR_WRONG_TYPE,
                         "field \"%s\": expected an object", where);
        return -1;
    }
    if (ingest_inbound_field(ev, "type", JSON_STRING, true, where, &type, err) <
        0)
        return -1;
    if (strcmp(json_string_value(type), "message") != 0) {
        out->ignored++;
        return 0;
    }
    if (ingest_inbound_field(ev, "message", JSON_OBJECT, true, where, &msg,
                             err) < 0 ||
        ingest_inbound_field(ev, "webhookEventId", JSON_STRING, false, where,
                             &eid, err) < 0 ||
        ingest_inbound_field(ev, "source", JSON_OBJECT, true, where, &src,
                             err) < 0 ||
        ingest_inbound_field(ev, "timestamp", JSON_INTEGER, false, where, &ts,
                             err) < 0)
        return -1;
    char mwhere[64];
    snprintf(mwhere, sizeof mwhere, "%s.message", where);
    if (ingest_inbound_field(msg, "type", JSON_STRING, true, mwhere, &mtype,
                             err) < 0)
        return -1;
    if (strcmp(json_string_value(mtype), "text") != 0) {
        out->ignored++; /* a sticker or a photo says nothing we can triage */
        return 0;
    }
    char swhere[64];
    snprintf(swhere, sizeof swhere, "%s.source", where);
    if (ingest_inbound_field(msg, "id", JSON_STRING, true, mwhere, &mid, err) <
            0 ||
        ingest_inbound_field(msg, "text", JSON_STRING, true, mwhere, &text,
                             err) < 0 ||
        ingest_inbound_field(src, "userId", JSON_STRING, false, swhere, &user,
                             err) < 0)
        return -1;
    /* In a group whose member has not agreed to share it, LINE leaves the
     * userId out: nobody to answer, so not a complaint of anyone's. */
    if (!user || json_string_length(user) == 0) {
        out->ignored++;
        return 0;
    }
    /* Older deliveries lack webhookEventId; the message id is as stable. */
    json_t *ext = eid && json_string_length(eid) > 0 ? eid : mid;
    json_t *c =
        json_pack("{s:s,s:{s:O},s:O,s:O,s:b}", "channel", "line", "customer",
                  "id", user, "text", text, "external_id", ext, "public", 0);
    if (!c)
        abort(); /* out of memory: every value above is a valid string */
    if (ts && json_integer_value(ts) > 0) {
        char at[KJ_TIME_RFC3339_LEN];
        if (kj_time_rfc3339(json_integer_value(ts), at, sizeof at) > 0)
            json_object_set_new(c, "received_at", json_string(at));
    }
    return ingest_inbound_list_add(out, &c, "line", json_string_value(ext),
                                   err);
}

int
ingest_inbound_parse_line(const char *body, size_t len, const char *source,
                          ingest_inbound_list_t *out, ingest_error_t *err)
{
    (void)source;
    json_t *root = ingest_inbound_load(body, len, err);
    if (!root)
        return -1;
    int rc = -1;
    json_t *events, *dest;
    if (ingest_inbound_field(root, "destination", JSON_STRING, false, "", &dest,
                             err) < 0 ||
        ingest_inbound_field(root, "events", JSON_ARRAY, true, "", &events,
                             err) < 0)
        goto out;
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        if (s_event(ev, i, out, err) < 0)
            goto out;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}
