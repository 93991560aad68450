/* Slack incoming webhook bodies (issue 18): the exact Block Kit structure,
 * mrkdwn escaping of hostile customer text, the due time in the team's
 * zone (DST in New York, Tokyo), the case button, Slack's size limits. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kj_hours.h"
#include "kj_utf8.h"
#include "notifier_slack.h"

/* 2027-03-09T05:00:00Z: 14:00 in Tokyo, a Tuesday. */
#define DUE_TOKYO_14 INT64_C(1804568400000)

static kj_hours_t *
s_hours(const char *zone)
{
    char buf[256];
    snprintf(buf, sizeof buf,
             "{\"name\":\"h\",\"timezone\":\"%s\",\"week\":{\"mon\":"
             "[\"09:00-17:00\"]}}",
             zone);
    json_t *o = json_loads(buf, 0, NULL);
    char err[256];
    kj_hours_t *h = kj_hours_from_json(o, err, sizeof err);
    json_decref(o);
    cr_assert(not(zero(ptr, h)), "%s", err);
    return h;
}

static kj_envelope_t *
s_routed(void)
{
    kj_envelope_t *env = calloc(1, sizeof *env);
    strcpy(env->complaint.id, "0193a5b2c3d4e5f6a7b8");
    strcpy(env->complaint.channel, "x");
    strcpy(env->complaint.customer.tier, "gold");
    strcpy(env->complaint.text, "my card 4111 1111 1111 1111 was charged");
    env->has_triage = true;
    strcpy(env->triage.language, "ja");
    strcpy(env->triage.sentiment, "negative");
    strcpy(env->triage.category, "billing");
    strcpy(env->triage.urgency, "high");
    strcpy(env->triage.masked_text, "my card [card] was charged");
    env->has_assignment = true;
    strcpy(env->assignment.team, "care-ja");
    strcpy(env->assignment.priority, "p1");
    strcpy(env->assignment.case_id, "0193a5b2c3d4e5f6c000");
    env->assignment.due_at_ms = DUE_TOKYO_14;
    return env;
}

static json_t *
s_load(const char *body)
{
    json_error_t jerr;
    json_t *o = json_loads(body, 0, &jerr);
    cr_assert(not(zero(ptr, o)), "not JSON (%s): %s", jerr.text, body);
    return o;
}

/* blocks[i].text.text, or blocks[i].elements[0].text for a context. */
static const char *
s_block_text(json_t *root, size_t i)
{
    json_t *b = json_array_get(json_object_get(root, "blocks"), i);
    json_t *t = json_object_get(b, "text");
    if (!t)
        t = json_array_get(json_object_get(b, "elements"), 0);
    const char *s = json_string_value(json_object_get(t, "text"));
    cr_assert(not(zero(ptr, (void *)s)), "block %zu has no text", i);
    return s;
}

static size_t
s_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

Test(notifier_slack, usage)
{
    kj_hours_t *tokyo = s_hours("Asia/Tokyo");
    kj_envelope_t *env = s_routed();
    const notifier_slack_opts_t o = {
        .hours = tokyo,
        .case_url = "https://care.example.com/cases/{case_id}",
    };
    size_t len = 0;
    char *body = notifier_slack_alert(env, &o, &len);
    cr_assert(eq(sz, len, strlen(body)));
    json_t *got = s_load(body);
    json_t *want = s_load(
        "{\"text\":\"[P1] billing \xe2\x80\x94 case 0193a5b2c3d4e5f6c000 "
        "\xe2\x80\x94 first reply due Tue 9 Mar 14:00 JST\","
        "\"blocks\":["
        "{\"type\":\"header\",\"text\":{\"type\":\"plain_text\","
        "\"text\":\"P1 \xc2\xb7 billing\"}},"
        "{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\","
        "\"text\":\"my card [card] was charged\"}},"
        "{\"type\":\"section\",\"fields\":["
        "{\"type\":\"mrkdwn\",\"text\":\"*Team*\\ncare-ja\"},"
        "{\"type\":\"mrkdwn\",\"text\":\"*Language*\\nja\"},"
        "{\"type\":\"mrkdwn\",\"text\":\"*Sentiment*\\nnegative\"},"
        "{\"type\":\"mrkdwn\",\"text\":\"*Urgency*\\nhigh\"},"
        "{\"type\":\"mrkdwn\",\"text\":\"*Channel*\\nx\"},"
        "{\"type\":\"mrkdwn\",\"text\":\"*Customer tier*\\ngold\"}]},"
        "{\"type\":\"context\",\"elements\":[{\"type\":\"mrkdwn\","
        "\"text\":\"First reply due *Tue 9 Mar 2027 14:00 JST* "
        "(UTC+09:00)\"}]},"
        "{\"type\":\"actions\",\"elements\":[{\"type\":\"button\","
        "\"text\":{\"type\":\"plain_text\",\"text\":\"Open case\"},"
        "\"url\":\"https://care.example.com/cases/0193a5b2c3d4e5f6c000\","
        "\"action_id\":\"open_case\"}]}]}");
    char *w = json_dumps(want, JSON_COMPACT | JSON_PRESERVE_ORDER);
    cr_assert(eq(str, body, w));
    /* The original (unmasked) text is never in the body. */
    cr_assert(zero(ptr, strstr(body, "4111")));
    free(w);
    json_decref(want);
    json_decref(got);
    free(body);
    free(env);
    kj_hours_destroy(&tokyo);
}

/* Customer text that tries to mention everyone, a user, or disguise a
 * link: every < > & is escaped, so Slack shows it as text. */
Test(notifier_slack, hostile_text_cannot_mention_or_link)
{
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        {"<!channel> refund now", "&lt;!channel&gt; refund now"},
        {"<!here|here> <!everyone>", "&lt;!here|here&gt; &lt;!everyone&gt;"},
        {"ask <@U024BE7LH> or <#C024BE7LR>",
         "ask &lt;@U024BE7LH&gt; or &lt;#C024BE7LR&gt;"},
        {"<https://evil.example/login|Reset your password>",
         "&lt;https://evil.example/login|Reset your password&gt;"},
        {"<!subteam^S012345|@oncall>", "&lt;!subteam^S012345|@oncall&gt;"},
        /* Already escaped text stays literal, not decoded into markup. */
        {"&lt;!channel&gt; &amp; more",
         "&amp;lt;!channel&amp;gt; &amp;amp; more"},
        {"<<>>&&", "&lt;&lt;&gt;&gt;&amp;&amp;"},
        {"line 1\nline 2\r\ttab", "line 1\nline 2  tab"},
        {"bad \xff utf8", "bad \xef\xbf\xbd utf8"},
        {"返金してください <!channel>", "返金してください &lt;!channel&gt;"},
    };
    kj_envelope_t *env = s_routed();
    /* Hostile values in the fields and the header too. */
    strcpy(env->triage.category, "<!channel>");
    strcpy(env->complaint.customer.tier, "<@U1|boss>");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        strcpy(env->triage.masked_text, cases[i].in);
        char *body = notifier_slack_alert(env, NULL, NULL);
        json_t *root = s_load(body);
        cr_assert(eq(str, (char *)s_block_text(root, 1), (char *)cases[i].out),
                  "case %zu", i);
        /* Nowhere in any mrkdwn text is there a raw < or >. */
        json_t *blocks = json_object_get(root, "blocks");
        const char *fields = json_string_value(json_object_get(
            json_array_get(json_object_get(json_array_get(blocks, 2), "fields"),
                           5),
            "text"));
        cr_assert(eq(str, (char *)fields, "*Customer tier*\n&lt;@U1|boss&gt;"));
        const char *fallback = json_string_value(json_object_get(root, "text"));
        cr_assert(zero(ptr, strchr(fallback, '<')), "%s", fallback);
        cr_assert(not(zero(ptr, strstr(fallback, "[P1] &lt;!channel&gt;"))));
        /* The header is plain_text: Slack never parses it. */
        cr_assert(
            eq(str, (char *)s_block_text(root, 0), "P1 \xc2\xb7 <!channel>"));
        json_decref(root);
        free(body);
    }
    free(env);
}

Test(notifier_slack, escape_function)
{
    char out[64];
    cr_assert(eq(sz,
                 notifier_slack_escape("a<b>&c", 100, false, out, sizeof out),
                 strlen("a&lt;b&gt;&amp;c")));
    cr_assert(eq(str, out, "a&lt;b&gt;&amp;c"));
    /* Single-line: newlines become spaces. */
    notifier_slack_escape("a\nb", 100, false, out, sizeof out);
    cr_assert(eq(str, out, "a b"));
    /* A cut never splits an escape or a character: "…" marks it. */
    notifier_slack_escape("ab&cd", 4, false, out, sizeof out);
    cr_assert(eq(str, out, "ab\xe2\x80\xa6"));
    notifier_slack_escape("日本語です", 3, false, out, sizeof out);
    cr_assert(eq(str, out, "日本\xe2\x80\xa6"));
    notifier_slack_escape("abc", 3, false, out, sizeof out);
    cr_assert(eq(str, out, "abc"));
    /* The buffer bounds it too. */
    notifier_slack_escape("&&&&", 100, false, out, 12);
    cr_assert(eq(str, out, "&amp;\xe2\x80\xa6"));
    notifier_slack_escape(NULL, 100, false, out, sizeof out);
    cr_assert(eq(str, out, ""));
}

/* Slack's limits: a section's text is at most 3000 characters, counting
 * the escapes; a long text is cut with "…", never inside an escape. */
Test(notifier_slack, long_text_is_cut_to_slack_limits)
{
    kj_envelope_t *env = s_routed();
    memset(env->triage.masked_text, '&', KJ_TEXT_MAX);
    env->triage.masked_text[KJ_TEXT_MAX] = '\0';
    memset(env->triage.category, 'c', KJ_SHORT_MAX - 1);
    char *body = notifier_slack_alert(env, NULL, NULL);
    json_t *root = s_load(body);
    const char *text = s_block_text(root, 1);
    cr_assert(le(sz, s_chars(text), NOTIFIER_SLACK_SECTION_MAX));
    cr_assert(ge(sz, s_chars(text), NOTIFIER_SLACK_SECTION_MAX - 5));
    size_t n = strlen(text);
    cr_assert(eq(str, (char *)text + n - 8, "&amp;\xe2\x80\xa6"));
    cr_assert(
        le(sz, s_chars(s_block_text(root, 0)), NOTIFIER_SLACK_HEADER_MAX));
    cr_assert(kj_utf8_valid(body, strlen(body)));
    json_decref(root);
    free(body);
    free(env);
}

/* Without a triage nothing is masked, so no text is shown at all; without
 * an assignment no due time; without KUJO_CASE_URL or a case no button. */
Test(notifier_slack, unmasked_text_and_missing_parts)
{
    kj_envelope_t *env = s_routed();
    env->has_triage = false;
    strcpy(env->complaint.subject, "card 4111 1111 1111 1111");
    char *body = notifier_slack_alert(env, NULL, NULL);
    cr_assert(zero(ptr, strstr(body, "4111")), "%s", body);
    json_t *root = s_load(body);
    cr_assert(eq(str, (char *)s_block_text(root, 1), "_(no masked text)_"));
    cr_assert(eq(str, (char *)s_block_text(root, 0), "P1 \xc2\xb7 complaint"));
    /* No case URL: header, text, fields, context; no actions. */
    cr_assert(eq(sz, json_array_size(json_object_get(root, "blocks")), 4));
    json_decref(root);
    free(body);

    env->has_triage = true;
    env->has_assignment = false;
    const notifier_slack_opts_t o = {.case_url = "https://c.example/{case_id}"};
    body = notifier_slack_alert(env, &o, NULL);
    root = s_load(body);
    cr_assert(eq(str, (char *)json_string_value(json_object_get(root, "text")),
                 "billing \xe2\x80\x94 complaint 0193a5b2c3d4e5f6a7b8"));
    cr_assert(eq(str, (char *)s_block_text(root, 3), "No SLA due time"));
    cr_assert(eq(sz, json_array_size(json_object_get(root, "blocks")), 4));
    json_decref(root);
    free(body);

    /* The masked subject is shown above the text, escaped. */
    env->has_assignment = true;
    strcpy(env->complaint.subject, "Re: <b>refund</b>");
    body = notifier_slack_alert(env, &o, NULL);
    root = s_load(body);
    cr_assert(
        eq(str, (char *)s_block_text(root, 1),
           "*Re: &lt;b&gt;refund&lt;/b&gt;*\nmy card [card] was charged"));
    cr_assert(eq(sz, json_array_size(json_object_get(root, "blocks")), 5));
    json_decref(root);
    free(body);
    free(env);
}

/* The due time in the team's zone, from the system zone database: New
 * York on both sides of its 2027 DST changes, Tokyo, and UTC without a
 * calendar. */
Test(notifier_slack, due_time_in_the_team_zone)
{
    kj_hours_t *ny = s_hours("America/New_York");
    kj_hours_t *tokyo = s_hours("Asia/Tokyo");
    char out[64];
    /* 2027-03-14 06:30Z and 07:30Z: 01:30 EST, then (clocks jump at 2:00
     * local) 03:30 EDT. */
    notifier_slack_time(INT64_C(1805005800000), ny, true, out, sizeof out);
    cr_assert(eq(str, out, "Sun 14 Mar 2027 01:30 EST"));
    notifier_slack_time(INT64_C(1805009400000), ny, true, out, sizeof out);
    cr_assert(eq(str, out, "Sun 14 Mar 2027 03:30 EDT"));
    /* 2027-11-07 05:30Z and 06:30Z: 01:30 EDT, then 01:30 EST again. */
    notifier_slack_time(INT64_C(1825565400000), ny, true, out, sizeof out);
    cr_assert(eq(str, out, "Sun 7 Nov 2027 01:30 EDT"));
    notifier_slack_time(INT64_C(1825569000000), ny, false, out, sizeof out);
    cr_assert(eq(str, out, "Sun 7 Nov 01:30 EST"));
    notifier_slack_time(DUE_TOKYO_14, tokyo, true, out, sizeof out);
    cr_assert(eq(str, out, "Tue 9 Mar 2027 14:00 JST"));
    notifier_slack_time(DUE_TOKYO_14, NULL, true, out, sizeof out);
    cr_assert(eq(str, out, "Tue 9 Mar 2027 05:00 UTC"));
    cr_assert(eq(sz, notifier_slack_time(0, tokyo, true, out, sizeof out), 0));
    cr_assert(eq(str, out, ""));

    /* In the body: the context names the offset, the summer one here. */
    kj_envelope_t *env = s_routed();
    env->assignment.due_at_ms = INT64_C(1805009400000);
    env->assignment.resolve_due_at_ms = INT64_C(1805009400000) + 86400000;
    const notifier_slack_opts_t o = {.hours = ny};
    char *body = notifier_slack_alert(env, &o, NULL);
    json_t *root = s_load(body);
    cr_assert(eq(str, (char *)s_block_text(root, 3),
                 "First reply due *Sun 14 Mar 2027 03:30 EDT* (UTC-04:00) "
                 "\xc2\xb7 resolution due *Mon 15 Mar 2027 03:30 EDT* "
                 "(UTC-04:00)"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(root, "text")),
                 "[P1] billing \xe2\x80\x94 case 0193a5b2c3d4e5f6c000 "
                 "\xe2\x80\x94 first reply due Sun 14 Mar 03:30 EDT"));
    json_decref(root);
    free(body);
    free(env);
    kj_hours_destroy(&ny);
    kj_hours_destroy(&tokyo);
}

Test(notifier_slack, case_url)
{
    char out[128];
    cr_assert(eq(int,
                 notifier_slack_case_url("https://c.example/cases/{case_id}",
                                         "01ABC", out, sizeof out),
                 (int)strlen("https://c.example/cases/01ABC")));
    cr_assert(eq(str, out, "https://c.example/cases/01ABC"));
    /* Every occurrence; anything but unreserved characters encoded. */
    notifier_slack_case_url("https://c.example/{case_id}?q={case_id}",
                            "a/b c&d", out, sizeof out);
    cr_assert(eq(str, out, "https://c.example/a%2Fb%20c%26d?q=a%2Fb%20c%26d"));
    cr_assert(eq(int, notifier_slack_case_url("", "x", out, sizeof out), -1));
    cr_assert(eq(int, notifier_slack_case_url(NULL, "x", out, sizeof out), -1));
    cr_assert(
        eq(int,
           notifier_slack_case_url("https://c/{case_id}", "", out, sizeof out),
           -1));
    cr_assert(eq(int,
                 notifier_slack_case_url("https://c/{case_id}", "abc", out, 10),
                 -1));
    cr_assert(eq(str, out, ""));
}

/* Outbox jobs for a team: an SLA warning and an escalation. */
Test(notifier_slack, sla_warning_and_escalation_jobs)
{
    kj_hours_t *tokyo = s_hours("Asia/Tokyo");
    const notifier_slack_opts_t o = {
        .hours = tokyo,
        .case_url = "https://care.example.com/cases/{case_id}",
    };
    notifier_slack_job_t job = {
        .kind = "sla_warning",
        .case_id = "0193a5b2c3d4e5f6c000",
        .complaint_id = "0193a5b2c3d4e5f6a7b8",
        .team = "care-ja",
        .channel = "x",
        .language = "ja",
        .priority = "p2",
        .to = "agent-7",
        .clock = "first_response",
        .text = "",
        .due_at_ms = DUE_TOKYO_14,
    };
    char *body = notifier_slack_job(&job, &o, NULL);
    json_t *got = s_load(body);
    json_t *want = s_load(
        "{\"text\":\"[P2] SLA warning \xe2\x80\x94 case 0193a5b2c3d4e5f6c000 "
        "\xe2\x80\x94 first reply due Tue 9 Mar 14:00 JST\","
        "\"blocks\":["
        "{\"type\":\"header\",\"text\":{\"type\":\"plain_text\","
        "\"text\":\"P2 \xc2\xb7 SLA warning\"}},"
        "{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\","
        "\"text\":\"The first reply of case 0193a5b2c3d4e5f6c000 is due "
        "soon: 75 % of its SLA clock has run.\"}},"
        "{\"type\":\"section\",\"fields\":["
        "{\"type\":\"mrkdwn\",\"text\":\"*Team*\\ncare-ja\"},"
        "{\"type\":\"mrkdwn\",\"text\":\"*For*\\nagent-7\"},"
        "{\"type\":\"mrkdwn\",\"text\":\"*Clock*\\nfirst reply\"},"
        "{\"type\":\"mrkdwn\",\"text\":\"*Language*\\nja\"},"
        "{\"type\":\"mrkdwn\",\"text\":\"*Channel*\\nx\"}]},"
        "{\"type\":\"context\",\"elements\":[{\"type\":\"mrkdwn\","
        "\"text\":\"First reply due *Tue 9 Mar 2027 14:00 JST* "
        "(UTC+09:00)\"}]},"
        "{\"type\":\"actions\",\"elements\":[{\"type\":\"button\","
        "\"text\":{\"type\":\"plain_text\",\"text\":\"Open case\"},"
        "\"url\":\"https://care.example.com/cases/0193a5b2c3d4e5f6c000\","
        "\"action_id\":\"open_case\"}]}]}");
    cr_assert(json_equal(got, want), "%s", body);
    json_decref(got);
    json_decref(want);
    free(body);

    /* An escalation with the playbook's text (escaped). */
    job.kind = "escalation";
    job.priority = "p1";
    job.to = "lead-ja";
    job.clock = "resolution";
    job.text = "Case escalated <!channel> & please act";
    body = notifier_slack_job(&job, &o, NULL);
    got = s_load(body);
    cr_assert(eq(str, (char *)s_block_text(got, 0), "P1 \xc2\xb7 Escalation"));
    cr_assert(eq(str, (char *)s_block_text(got, 1),
                 "Case escalated &lt;!channel&gt; &amp; please act"));
    cr_assert(eq(str, (char *)s_block_text(got, 3),
                 "Resolution due *Tue 9 Mar 2027 14:00 JST* (UTC+09:00)"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(got, "text")),
                 "[P1] Escalation \xe2\x80\x94 case 0193a5b2c3d4e5f6c000 "
                 "\xe2\x80\x94 resolution due Tue 9 Mar 14:00 JST"));
    const char *f = json_string_value(json_object_get(
        json_array_get(
            json_object_get(json_array_get(json_object_get(got, "blocks"), 2),
                            "fields"),
            1),
        "text"));
    cr_assert(eq(str, (char *)f, "*Escalated to*\nlead-ja"));
    json_decref(got);
    free(body);

    /* The payload's priority is outside input too (found by fuzz_slack). */
    job.priority = "<!channel>";
    body = notifier_slack_job(&job, &o, NULL);
    got = s_load(body);
    cr_assert(eq(str, (char *)json_string_value(json_object_get(got, "text")),
                 "[&lt;!CHANN\xe2\x80\xa6] Escalation \xe2\x80\x94 case "
                 "0193a5b2c3d4e5f6c000 \xe2\x80\x94 resolution due Tue 9 Mar "
                 "14:00 JST"));
    json_decref(got);
    free(body);
    kj_hours_destroy(&tokyo);
}
