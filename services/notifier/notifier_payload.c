#include "notifier_payload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kj_hmac.h"
#include "kj_time.h"
#include "kj_util.h"

/* Append s to out at *pos, escaping what Slack's mrkdwn treats as markup
 * (https://api.slack.com/reference/surfaces/formatting#escaping). Stops at
 * the end of out without splitting an escape. */
static void
s_append(char *out, size_t size, size_t *pos, const char *s, bool escape)
{
    for (; *s; s++) {
        const char *piece = NULL;
        char one[2] = {*s, '\0'};
        if (escape && *s == '&')
            piece = "&amp;";
        else if (escape && *s == '<')
            piece = "&lt;";
        else if (escape && *s == '>')
            piece = "&gt;";
        else if ((unsigned char)*s < 0x20)
            piece = " "; /* keep the summary on one line */
        else
            piece = one;
        size_t n = strlen(piece);
        if (*pos + n + 1 > size)
            return;
        memcpy(out + *pos, piece, n);
        *pos += n;
        out[*pos] = '\0';
    }
}

size_t
notifier_summary(const kj_envelope_t *env, char *out, size_t size)
{
    if (size == 0)
        return 0;
    out[0] = '\0';
    size_t pos = 0;
    const kj_assignment_t *a = env->has_assignment ? &env->assignment : NULL;
    const kj_triage_t *t = env->has_triage ? &env->triage : NULL;

    if (a && a->priority[0]) {
        s_append(out, size, &pos, "[", false);
        s_append(out, size, &pos, a->priority, true);
        s_append(out, size, &pos, "] ", false);
    }
    if (t && t->category[0]) {
        s_append(out, size, &pos, t->category, true);
        s_append(out, size, &pos, " ", false);
    }
    s_append(out, size, &pos, "complaint", false);

    /* "(ja, x)": language and channel, whichever are known. */
    const char *lang = t ? t->language : "";
    const char *chan = env->complaint.channel;
    if (lang[0] || chan[0]) {
        s_append(out, size, &pos, " (", false);
        s_append(out, size, &pos, lang, true);
        if (lang[0] && chan[0])
            s_append(out, size, &pos, ", ", false);
        s_append(out, size, &pos, chan, true);
        s_append(out, size, &pos, ")", false);
    }
    if (a && a->team[0]) {
        s_append(out, size, &pos, " for ", false);
        s_append(out, size, &pos, a->team, true);
    }
    if (a && a->due_at_ms > 0) {
        char due[40];
        if (kj_time_rfc3339_sec(a->due_at_ms, due, sizeof due) > 0) {
            s_append(out, size, &pos, ", first reply due ", false);
            s_append(out, size, &pos, due, false);
        }
    }
    return pos;
}

/* A JSON string for s. jansson refuses invalid UTF-8, and envelope fields
 * come from outside, so fall back to a copy with non-ASCII bytes replaced:
 * the alert still goes out rather than failing forever. */
static json_t *
s_str(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = kj_strdup(s);
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j ? j : json_string("");
}

static json_t *
s_time(int64_t ms)
{
    char buf[40];
    if (ms <= 0 || kj_time_rfc3339(ms, buf, sizeof buf) == 0)
        return json_null();
    return json_string(buf);
}

char *
notifier_payload(const kj_envelope_t *env, size_t *len)
{
    const kj_complaint_t *c = &env->complaint;
    const kj_assignment_t *a = env->has_assignment ? &env->assignment : NULL;
    const kj_triage_t *t = env->has_triage ? &env->triage : NULL;
    char text[512];
    notifier_summary(env, text, sizeof text);

    json_t *o = json_object();
    json_object_set_new(o, "text", s_str(text));
    json_object_set_new(o, "kind", json_string(NOTIFIER_KIND_TEAM_ALERT));
    json_object_set_new(o, "complaint_id", s_str(c->id));
    json_object_set_new(o, "trace_id", s_str(env->trace_id));
    json_object_set_new(o, "attempt", json_integer(env->attempt));
    json_object_set_new(o, "team", a ? s_str(a->team) : json_null());
    json_object_set_new(o, "priority", a ? s_str(a->priority) : json_null());
    json_object_set_new(o, "sla_policy",
                        a ? s_str(a->sla_policy) : json_null());
    json_object_set_new(o, "due_at", s_time(a ? a->due_at_ms : 0));
    json_object_set_new(o, "channel", s_str(c->channel));
    json_object_set_new(o, "public", json_boolean(c->is_public));
    json_object_set_new(o, "case_id",
                        a && a->case_id[0] ? s_str(a->case_id) : json_null());
    json_object_set_new(o, "assignee", a && a->assignee[0]
                                           ? s_str(a->assignee)
                                           : json_null());
    /* The playbook's suggested reply (two alternatives where the category
     * has them), for the agent to adapt: never sent to the customer as
     * is. */
    json_object_set_new(o, "suggested_reply", a && a->suggested_reply[0]
                                                  ? s_str(a->suggested_reply)
                                                  : json_null());
    json_object_set_new(o, "language", t ? s_str(t->language) : json_null());
    json_object_set_new(o, "category", t ? s_str(t->category) : json_null());
    json_object_set_new(o, "sentiment", t ? s_str(t->sentiment) : json_null());
    json_object_set_new(o, "urgency", t ? s_str(t->urgency) : json_null());
    json_object_set_new(o, "actionable",
                        t ? json_boolean(t->actionable) : json_null());
    /* Only masked text leaves kujo: the classifier replaced PII in the
     * subject and text. Without a triage neither is masked, so neither
     * is sent. */
    json_object_set_new(o, "subject", s_str(t ? c->subject : ""));
    json_object_set_new(o, "masked_text", s_str(t ? t->masked_text : ""));
    json_t *cust = json_object();
    json_object_set_new(cust, "id", s_str(c->customer.id));
    json_object_set_new(cust, "tier", s_str(c->customer.tier));
    json_object_set_new(o, "customer", cust);

    char *body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!body)
        abort(); /* jansson fails only when out of memory */
    /* Hand back memory from kj_malloc so callers free it like the rest. */
    size_t n = strlen(body);
    char *out = kj_malloc(n + 1);
    memcpy(out, body, n + 1);
    free(body);
    if (len)
        *len = n;
    return out;
}

int
notifier_idempotency_key(const kj_envelope_t *env, const char *kind, char *out,
                         size_t size)
{
    int n = snprintf(out, size, "%s:%s", env->complaint.id, kind);
    if (n < 0 || (size_t)n >= size)
        return -1;
    return n;
}

int
notifier_headers(notifier_headers_t *h, const kj_envelope_t *env,
                 const char *kind, const char *secret, int64_t now_s,
                 const char *body, size_t body_len)
{
    memset(h, 0, sizeof *h);
    kj_strlcpy(h->content_type, "application/json", sizeof h->content_type);
    int n =
        snprintf(h->user_agent, sizeof h->user_agent, "kujo/%s", KJ_VERSION);
    if (n < 0 || (size_t)n >= sizeof h->user_agent)
        return -1;
    if (notifier_idempotency_key(env, kind, h->idempotency_key,
                                 sizeof h->idempotency_key) < 0)
        return -1;
    if (secret && secret[0] &&
        kj_signature_header(secret, now_s, body, body_len, h->signature,
                            sizeof h->signature) < 0)
        return -1;
    return 0;
}
