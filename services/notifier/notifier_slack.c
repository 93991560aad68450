/* notifier_slack: Block Kit bodies for Slack incoming webhooks (see
 * notifier_slack.h). Block Kit reference:
 * https://api.slack.com/reference/block-kit/blocks; escaping:
 * https://api.slack.com/reference/surfaces/formatting#escaping. */
#include "notifier_slack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kj_utf8.h"
#include "kj_util.h"

/* Slack's limits on a field's text and a button's label; the ellipsis that
 * marks a cut. */
#define S_FIELD_MAX 2000
#define S_BUTTON_MAX 75
#define S_ELLIPSIS "\xe2\x80\xa6"
/* Room for one escaped piece of mrkdwn. */
#define S_TEXT_BUF (NOTIFIER_SLACK_SECTION_MAX * 4 + 8)

static const char *const s_wdays[7] = {"Mon", "Tue", "Wed", "Thu",
                                       "Fri", "Sat", "Sun"};
static const char *const s_months[12] = {"Jan", "Feb", "Mar", "Apr",
                                         "May", "Jun", "Jul", "Aug",
                                         "Sep", "Oct", "Nov", "Dec"};

/* Copy s into out, escaping for mrkdwn when escape (plain_text needs no
 * escaping: Slack never parses it), counting at most max_chars code
 * points of output (an escape counts as its characters). */
static size_t
s_copy(const char *s, size_t max_chars, bool multiline, bool escape, char *out,
       size_t size)
{
    if (size == 0)
        return 0;
    out[0] = '\0';
    if (!s || max_chars == 0)
        return 0;
    size_t pos = 0, chars = 0, left = strlen(s);
    while (left > 0) {
        char one[5];
        const char *piece = one;
        size_t n = kj_utf8_decode(s, left, NULL);
        size_t step = n ? n : 1;
        size_t pchars = 1;
        if (n == 0) {
            piece = "\xef\xbf\xbd"; /* U+FFFD */
        } else if (escape && *s == '&') {
            piece = "&amp;";
            pchars = 5;
        } else if (escape && *s == '<') {
            piece = "&lt;";
            pchars = 4;
        } else if (escape && *s == '>') {
            piece = "&gt;";
            pchars = 4;
        } else if (*s == '\n' && multiline) {
            piece = "\n";
        } else if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            piece = " ";
        } else {
            memcpy(one, s, n);
            one[n] = '\0';
        }
        size_t plen = strlen(piece);
        /* Keep room for the ellipsis unless this is the last piece. */
        bool last = step == left;
        size_t reserve = last ? 0 : 1;
        if (chars + pchars + reserve > max_chars ||
            pos + plen + (last ? 0 : sizeof S_ELLIPSIS - 1) + 1 > size) {
            if (pos + sizeof S_ELLIPSIS - 1 + 1 <= size && chars < max_chars) {
                memcpy(out + pos, S_ELLIPSIS, sizeof S_ELLIPSIS - 1);
                pos += sizeof S_ELLIPSIS - 1;
                out[pos] = '\0';
            }
            return pos;
        }
        memcpy(out + pos, piece, plen);
        pos += plen;
        out[pos] = '\0';
        chars += pchars;
        s += step;
        left -= step;
    }
    return pos;
}

size_t
notifier_slack_escape(const char *s, size_t max_chars, bool multiline,
                      char *out, size_t size)
{
    return s_copy(s, max_chars, multiline, true, out, size);
}

size_t
notifier_slack_time(int64_t at_ms, const kj_hours_t *hours, bool year,
                    char *out, size_t size)
{
    if (size > 0)
        out[0] = '\0';
    if (at_ms <= 0 || size == 0)
        return 0;
    kj_hours_local_t t;
    kj_hours_local(hours, at_ms, &t);
    char y[24] = "";
    if (year)
        snprintf(y, sizeof y, " %lld", (long long)t.year);
    int n = snprintf(out, size, "%s %d %s%s %02d:%02d %s", s_wdays[t.weekday],
                     t.day, s_months[t.month - 1], y, t.hour, t.minute,
                     t.abbr[0] ? t.abbr : "UTC");
    if (n < 0 || (size_t)n >= size) {
        out[0] = '\0';
        return 0;
    }
    return (size_t)n;
}

/* "UTC+09:00", "UTC-04:00", "UTC+05:45", "UTC" into out. */
static void
s_offset(int64_t at_ms, const kj_hours_t *hours, char *out, size_t size)
{
    kj_hours_local_t t;
    kj_hours_local(hours, at_ms, &t);
    int32_t off = t.utc_offset_s;
    if (off == 0) {
        snprintf(out, size, "UTC");
        return;
    }
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    snprintf(out, size, "UTC%c%02d:%02d", sign, (int)(off / 3600),
             (int)(off / 60 % 60));
}

int
notifier_slack_case_url(const char *tmpl, const char *case_id, char *out,
                        size_t size)
{
    static const char key[] = "{case_id}";
    static const char hex[] = "0123456789ABCDEF";
    if (size == 0)
        return -1;
    out[0] = '\0';
    if (!tmpl || !tmpl[0] || !case_id || !case_id[0])
        return -1;
    size_t pos = 0;
    for (const char *p = tmpl; *p;) {
        if (strncmp(p, key, sizeof key - 1) == 0) {
            for (const unsigned char *c = (const unsigned char *)case_id; *c;
                 c++) {
                bool plain = (*c >= 'a' && *c <= 'z') ||
                             (*c >= 'A' && *c <= 'Z') ||
                             (*c >= '0' && *c <= '9') || *c == '-' ||
                             *c == '.' || *c == '_' || *c == '~';
                if (pos + (plain ? 1 : 3) + 1 > size)
                    goto toolong;
                if (plain) {
                    out[pos++] = (char)*c;
                } else {
                    out[pos++] = '%';
                    out[pos++] = hex[*c >> 4];
                    out[pos++] = hex[*c & 15];
                }
            }
            p += sizeof key - 1;
            continue;
        }
        if (pos + 2 > size)
            goto toolong;
        out[pos++] = *p++;
    }
    out[pos] = '\0';
    return (int)pos;
toolong:
    out[0] = '\0';
    return -1;
}

/* ---- JSON helpers ----------------------------------------------------- */

/* A JSON string of text already made valid UTF-8 by s_copy. */
static json_t *
s_str(const char *s)
{
    json_t *j = json_string(s);
    return j ? j : json_string("");
}

/* {"type": "plain_text", "text": a clean copy of s}: Slack never parses
 * plain_text, so it needs no escaping. */
static json_t *
s_plain(const char *s, size_t max_chars)
{
    char buf[NOTIFIER_SLACK_HEADER_MAX * 4 + 8];
    s_copy(s, max_chars, false, false, buf, sizeof buf);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("plain_text"));
    json_object_set_new(o, "text", s_str(buf));
    return o;
}

/* {"type": "mrkdwn", "text": text}, text escaped already. */
static json_t *
s_mrkdwn(const char *text)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("mrkdwn"));
    json_object_set_new(o, "text", s_str(text));
    return o;
}

/* Append the field "*label*\nvalue" (value escaped) unless value is "". */
static void
s_field(json_t *fields, const char *label, const char *value)
{
    if (!value || !value[0])
        return;
    char v[S_FIELD_MAX];
    s_copy(value, 200, false, true, v, sizeof v);
    char text[S_FIELD_MAX + 64];
    snprintf(text, sizeof text, "*%s*\n%s", label, v);
    json_array_append_new(fields, s_mrkdwn(text));
}

/* "P1" for "p1": priorities are shown as people say them. A job's
 * priority comes from its payload, so it is escaped for mrkdwn too
 * (after the upper-casing, which would break an escape). */
static void
s_priority(const char *p, bool escape, char *out, size_t size)
{
    char up[40];
    s_copy(p ? p : "", 8, false, false, up, sizeof up);
    for (char *c = up; *c; c++)
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    s_copy(up, 40, false, escape, out, size);
}

/* A header block: plain_text, so nothing in it is parsed. */
static json_t *
s_header(const char *text)
{
    json_t *b = json_object();
    json_object_set_new(b, "type", json_string("header"));
    json_object_set_new(b, "text", s_plain(text, NOTIFIER_SLACK_HEADER_MAX));
    return b;
}

/* A section of mrkdwn text escaped already (and within Slack's limit). */
static json_t *
s_section(const char *text)
{
    json_t *b = json_object();
    json_object_set_new(b, "type", json_string("section"));
    json_object_set_new(b, "text", s_mrkdwn(text));
    return b;
}

/* The context block: "<what> due *<time>* (UTC+09:00)" in the team's
 * zone, for each deadline known; "No SLA due time" without any. */
static json_t *
s_context(const char *what, int64_t due_ms, const char *what2, int64_t due2_ms,
          const kj_hours_t *hours)
{
    char text[512] = "", when[64], off[16];
    size_t pos = 0;
    const char *whats[2] = {what, what2};
    int64_t dues[2] = {due_ms, due2_ms};
    for (int i = 0; i < 2; i++) {
        if (dues[i] <= 0 ||
            !notifier_slack_time(dues[i], hours, true, when, sizeof when))
            continue;
        s_offset(dues[i], hours, off, sizeof off);
        int n = snprintf(text + pos, sizeof text - pos, "%s%s due *%s* (%s)",
                         pos ? " \xc2\xb7 " : "", whats[i], when, off);
        if (n > 0 && (size_t)n < sizeof text - pos)
            pos += (size_t)n;
    }
    if (pos == 0)
        snprintf(text, sizeof text, "No SLA due time");
    json_t *els = json_array();
    json_array_append_new(els, s_mrkdwn(text));
    json_t *b = json_object();
    json_object_set_new(b, "type", json_string("context"));
    json_object_set_new(b, "elements", els);
    return b;
}

/* The actions block with the case button, or NULL without a link. */
static json_t *
s_actions(const notifier_slack_opts_t *o, const char *case_id)
{
    char url[3000];
    if (!o ||
        notifier_slack_case_url(o->case_url, case_id, url, sizeof url) < 0)
        return NULL;
    json_t *btn = json_object();
    json_object_set_new(btn, "type", json_string("button"));
    json_object_set_new(btn, "text", s_plain("Open case", S_BUTTON_MAX));
    json_object_set_new(btn, "url", s_str(url));
    json_object_set_new(btn, "action_id", json_string("open_case"));
    json_t *els = json_array();
    json_array_append_new(els, btn);
    json_t *b = json_object();
    json_object_set_new(b, "type", json_string("actions"));
    json_object_set_new(b, "elements", els);
    return b;
}

static char *
s_dump(json_t *o, size_t *len)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s)
        abort(); /* jansson fails only when out of memory */
    size_t n = strlen(s);
    char *out = kj_malloc(n + 1);
    memcpy(out, s, n + 1);
    free(s);
    if (len)
        *len = n;
    return out;
}

/* The fallback "[P1] billing — case 01J… — due Tue 9 Mar 14:00 JST",
 * every part optional, escaped (Slack parses it in notifications). */
static void
s_fallback(const char *prio, const char *what, const char *case_id,
           const char *complaint_id, const char *due_what, int64_t due_ms,
           const kj_hours_t *hours, char *out, size_t size)
{
    char p[64], w[256], id[64], when[64];
    s_priority(prio, true, p, sizeof p);
    s_copy(what, 64, false, true, w, sizeof w);
    bool is_case = case_id && case_id[0];
    s_copy(is_case ? case_id : complaint_id, 40, false, true, id, sizeof id);
    notifier_slack_time(due_ms, hours, false, when, sizeof when);
    size_t pos = 0;
    int n = snprintf(out, size, "%s%s%s%s", p[0] ? "[" : "", p,
                     p[0] ? "] " : "", w);
    pos = n > 0 && (size_t)n < size ? (size_t)n : 0;
    if (id[0]) {
        n = snprintf(out + pos, size - pos, " \xe2\x80\x94 %s %s",
                     is_case ? "case" : "complaint", id);
        if (n > 0 && (size_t)n < size - pos)
            pos += (size_t)n;
    }
    if (when[0])
        snprintf(out + pos, size - pos, " \xe2\x80\x94 %s due %s", due_what,
                 when);
}

/* ---- the bodies ------------------------------------------------------- */

char *
notifier_slack_alert(const kj_envelope_t *env, const notifier_slack_opts_t *o,
                     size_t *len)
{
    const kj_complaint_t *c = &env->complaint;
    const kj_assignment_t *a = env->has_assignment ? &env->assignment : NULL;
    const kj_triage_t *t = env->has_triage ? &env->triage : NULL;
    const kj_hours_t *hours = o ? o->hours : NULL;
    const char *prio = a ? a->priority : "";
    const char *cat = t && t->category[0] ? t->category : "complaint";
    const char *case_id = a ? a->case_id : "";
    int64_t due = a ? a->due_at_ms : 0;

    char fallback[512];
    s_fallback(prio, cat, case_id, c->id, "first reply", due, hours, fallback,
               sizeof fallback);

    char p[64], head[160];
    s_priority(prio, false, p, sizeof p);
    snprintf(head, sizeof head, "%s%s%s", p, p[0] ? " \xc2\xb7 " : "", cat);

    /* Only masked text leaves kujo: without a triage nothing is masked,
     * so nothing is shown. The subject is masked like the text. */
    size_t size = S_TEXT_BUF + 512;
    char *body = kj_malloc(size);
    size_t pos = 0;
    if (t && c->subject[0]) {
        char subj[600];
        s_copy(c->subject, 200, false, true, subj, sizeof subj);
        pos = (size_t)snprintf(body, size, "*%s*\n", subj);
    }
    /* pos counts bytes, at least the characters: within the limit. */
    if (t && t->masked_text[0])
        s_copy(t->masked_text, NOTIFIER_SLACK_SECTION_MAX - pos, true, true,
               body + pos, size - pos);
    else
        snprintf(body + pos, size - pos, "_(no masked text)_");

    json_t *blocks = json_array();
    json_array_append_new(blocks, s_header(head));
    json_array_append_new(blocks, s_section(body));
    free(body);
    json_t *fields = json_array();
    s_field(fields, "Team", a ? a->team : "");
    s_field(fields, "Language", t ? t->language : "");
    s_field(fields, "Sentiment", t ? t->sentiment : "");
    s_field(fields, "Urgency", t ? t->urgency : "");
    s_field(fields, "Channel", c->channel);
    s_field(fields, "Customer tier", c->customer.tier);
    if (json_array_size(fields) > 0) {
        json_t *b = json_object();
        json_object_set_new(b, "type", json_string("section"));
        json_object_set_new(b, "fields", fields);
        json_array_append_new(blocks, b);
    } else {
        json_decref(fields);
    }
    json_array_append_new(blocks,
                          s_context("First reply", due, "resolution",
                                    a ? a->resolve_due_at_ms : 0, hours));
    json_t *act = s_actions(o, case_id);
    if (act)
        json_array_append_new(blocks, act);

    json_t *root = json_object();
    json_object_set_new(root, "text", s_str(fallback));
    json_object_set_new(root, "blocks", blocks);
    return s_dump(root, len);
}

/* How a clock is named for people. */
static const char *
s_clock_name(const char *clock)
{
    if (clock && strcmp(clock, "first_response") == 0)
        return "first reply";
    if (clock && strcmp(clock, "next_response") == 0)
        return "next reply";
    if (clock && strcmp(clock, "resolution") == 0)
        return "resolution";
    return "reply";
}

char *
notifier_slack_job(const notifier_slack_job_t *job,
                   const notifier_slack_opts_t *o, size_t *len)
{
    const kj_hours_t *hours = o ? o->hours : NULL;
    bool warning = strcmp(job->kind, "sla_warning") == 0;
    bool escalation = strcmp(job->kind, "escalation") == 0;
    const char *what = warning      ? "SLA warning"
                       : escalation ? "Escalation"
                                    : job->kind;
    const char *clock = s_clock_name(job->clock);

    char fallback[512];
    s_fallback(job->priority, what, job->case_id, job->complaint_id, clock,
               job->due_at_ms, hours, fallback, sizeof fallback);

    char p[64], head[160];
    s_priority(job->priority, false, p, sizeof p);
    snprintf(head, sizeof head, "%s%s%s", p, p[0] ? " \xc2\xb7 " : "", what);

    /* The playbook's text when the rules have one; else a plain line. */
    char *body = kj_malloc(S_TEXT_BUF);
    if (job->text && job->text[0]) {
        s_copy(job->text, NOTIFIER_SLACK_SECTION_MAX, true, true, body,
               S_TEXT_BUF);
    } else {
        char id[64];
        s_copy(job->case_id && job->case_id[0] ? job->case_id
                                               : job->complaint_id,
               40, false, true, id, sizeof id);
        if (warning)
            snprintf(body, S_TEXT_BUF,
                     "The %s of case %s is due soon: 75 %% of its SLA "
                     "clock has run.",
                     clock, id);
        else if (escalation)
            snprintf(body, S_TEXT_BUF,
                     "The %s SLA of case %s was breached: escalated.", clock,
                     id);
        else
            snprintf(body, S_TEXT_BUF, "Case %s needs attention.", id);
    }

    json_t *blocks = json_array();
    json_array_append_new(blocks, s_header(head));
    json_array_append_new(blocks, s_section(body));
    free(body);
    json_t *fields = json_array();
    s_field(fields, "Team", job->team);
    s_field(fields, escalation ? "Escalated to" : "For", job->to);
    s_field(fields, "Clock", job->clock && job->clock[0] ? clock : "");
    s_field(fields, "Language", job->language);
    s_field(fields, "Channel", job->channel);
    if (json_array_size(fields) > 0) {
        json_t *b = json_object();
        json_object_set_new(b, "type", json_string("section"));
        json_object_set_new(b, "fields", fields);
        json_array_append_new(blocks, b);
    } else {
        json_decref(fields);
    }
    char due_what[32];
    snprintf(due_what, sizeof due_what, "%c%s", clock[0] - 'a' + 'A',
             clock + 1);
    json_array_append_new(blocks,
                          s_context(due_what, job->due_at_ms, "", 0, hours));
    json_t *act = s_actions(o, job->case_id);
    if (act)
        json_array_append_new(blocks, act);

    json_t *root = json_object();
    json_object_set_new(root, "text", s_str(fallback));
    json_object_set_new(root, "blocks", blocks);
    return s_dump(root, len);
}
