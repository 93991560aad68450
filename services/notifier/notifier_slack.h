/* notifier_slack: the bodies for Slack incoming webhooks (issue 18), as
 * pure functions, so that the wire format is unit-tested without a
 * network. A team whose webhook is in the "slack" format (kj_rules.h:
 * "webhook_format", or a URL under https://hooks.slack.com/) gets these
 * instead of the kujo JSON; headers, signature and the delivery contract
 * are unchanged (Slack ignores Kujo-Signature and Idempotency-Key).
 *
 * A body is {"text": <fallback>, "blocks": [...]}: Block Kit with a
 * header (priority and category, or the outbox kind), a section with the
 * MASKED text (never the original), fields (team, language, sentiment,
 * urgency, channel, customer tier), a context with the SLA due time in the
 * team's time zone, and, when KUJO_CASE_URL is set and the complaint has
 * a case, an actions block with a button that links to the case. Every
 * string from outside is escaped for mrkdwn (& < >), so customer text
 * cannot mention (<!channel>, <@U…>) or link (<http…|…>). */
#ifndef NOTIFIER_SLACK_H
#define NOTIFIER_SLACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kj_envelope.h"
#include "kj_hours.h"

/* Slack's limits: a section's text, a header's text (characters). */
#define NOTIFIER_SLACK_SECTION_MAX 3000
#define NOTIFIER_SLACK_HEADER_MAX 150

/* What a body needs beyond the envelope or job. */
typedef struct {
    /* The team's calendar, whose zone the due time is shown in (the
     * rules' kj_rules_team_hours); NULL: UTC. Borrowed. */
    const kj_hours_t *hours;
    /* KUJO_CASE_URL: "{case_id}" is replaced by the case id; NULL or "":
     * no button. */
    const char *case_url;
} notifier_slack_opts_t;

/* An outbox job addressed to a team (sla_warning, escalation), from its
 * payload (clock_fire.lua). Strings borrowed; "" when unknown. */
typedef struct {
    const char *kind;    /* sla_warning, escalation, ... */
    const char *case_id; /* for the button */
    const char *complaint_id;
    const char *team;
    const char *channel;
    const char *language;
    const char *priority; /* p1..p4 (after an escalation's step up) */
    const char *to;       /* the agent it is for ("" the team) */
    const char *clock;    /* first_response, next_response, resolution */
    const char *text;     /* the playbook's rendered text, "" none */
    int64_t due_at_ms;    /* the clock's deadline, 0 unknown */
} notifier_slack_job_t;

/* s as mrkdwn text into out[size]: & < > escaped as &amp; &lt; &gt;,
 * invalid UTF-8 as U+FFFD, control characters but newline as spaces
 * (newlines too unless multiline), at most max_chars code points of s
 * (cut with "…"). Never splits a character or an escape. Returns the
 * length written. */
size_t
notifier_slack_escape(const char *s, size_t max_chars, bool multiline,
                      char *out, size_t size);

/* at_ms in the zone of hours (NULL: UTC) for people into out[size]:
 * "Tue 9 Mar 2027 14:00 JST" with the year, "Tue 9 Mar 14:00 JST"
 * without. Returns the length written, 0 if at_ms <= 0. */
size_t
notifier_slack_time(int64_t at_ms, const kj_hours_t *hours, bool year,
                    char *out, size_t size);

/* The case link: tmpl with every "{case_id}" replaced by the
 * percent-encoded case_id, into out[size]. Returns its length, or -1 (out
 * "") if tmpl or case_id is empty or it does not fit. */
int
notifier_slack_case_url(const char *tmpl, const char *case_id, char *out,
                        size_t size);

/* The team alert of env as a Slack body (compact JSON). Caller frees;
 * *len gets the length. */
char *
notifier_slack_alert(const kj_envelope_t *env, const notifier_slack_opts_t *o,
                     size_t *len);

/* An outbox job's Slack body (compact JSON). Caller frees. */
char *
notifier_slack_job(const notifier_slack_job_t *job,
                   const notifier_slack_opts_t *o, size_t *len);

#endif
