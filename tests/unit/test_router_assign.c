/* router_assign: triage + complaint in, team, priority, SLA deadlines,
 * acknowledgement template and "take it private" out. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kj_hours.h"
#include "kj_log.h"
#include "router_assign.h"

#define KJ_RULES_PATH KJ_SOURCE_DIR "/deploy/rules.json"
#define NOW 1700000000000LL
#define MIN 60000LL
#define HOUR 3600000LL

static void
s_quiet(void)
{
    kj_log_init("test", KJ_LOG_ERROR + 1);
}

/* The rules a test's router uses; the service holds them in the binary. */
static kj_rules_t *s_rules;

static kj_rules_t *
s_load(const char *path)
{
    char err[512];
    kj_rules_t *rules = kj_rules_load(path, err, sizeof err);
    cr_assert(not(zero(ptr, rules)), "%s", err);
    return rules;
}

static void
s_free_rules(void)
{
    kj_rules_destroy(&s_rules);
}

TestSuite(router_assign, .fini = s_free_rules);

static router_assign_t *
s_new(const char *path)
{
    kj_rules_destroy(&s_rules);
    s_rules = s_load(path);
    return router_assign_new(s_rules);
}

static kj_envelope_t *
s_env(const char *channel, bool is_public, const char *language,
      const char *category, const char *urgency)
{
    kj_envelope_t *env = calloc(1, sizeof *env);
    cr_assert(not(zero(ptr, env)));
    strcpy(env->complaint.id, "0193a5b2c3d4e5f6a7b8");
    snprintf(env->complaint.channel, sizeof env->complaint.channel, "%s",
             channel);
    env->complaint.is_public = is_public;
    env->has_triage = true;
    snprintf(env->triage.language, sizeof env->triage.language, "%s", language);
    snprintf(env->triage.category, sizeof env->triage.category, "%s", category);
    snprintf(env->triage.urgency, sizeof env->triage.urgency, "%s", urgency);
    /* A specific, actionable complaint: the playbook replies to it. */
    snprintf(env->triage.sentiment, sizeof env->triage.sentiment, "negative");
    env->triage.actionable = true;
    snprintf(env->triage.masked_text, sizeof env->triage.masked_text,
             "I was charged twice for order 1234 and need the second charge "
             "refunded before Friday.");
    return env;
}

static kj_verdict_t
s_run(router_assign_t *r, kj_envelope_t *env, char *err, size_t err_size)
{
    int64_t retry_at = 0;
    return router_assign_process(r, env, NOW, err, err_size, &retry_at);
}

Test(router_assign, usage_example, .init = s_quiet)
{
    router_assign_t *r = s_new(KJ_RULES_PATH);
    kj_envelope_t *env = s_env("email", false, "ja", "delivery", "normal");
    env->complaint.accepted_at_ms = NOW - 5000;
    char err[KJ_ERRMSG_MAX] = "";
    cr_assert(eq(int, s_run(r, env, err, sizeof err), KJ_VERDICT_DONE));
    const kj_assignment_t *a = &env->assignment;
    cr_assert(env->has_assignment);
    cr_assert(eq(str, (char *)a->team, "care-ja"));
    cr_assert(eq(str, (char *)a->priority, "p3"));
    cr_assert(eq(str, (char *)a->sla_policy, "standard"));
    cr_assert(eq(str, (char *)a->rule, "ja"));
    cr_assert(eq(str, (char *)a->webhook_url, ""));
    /* The SLA clock starts at acceptance, not when the router runs, and
     * counts care-ja's open hours (Mon-Fri 09:00-18:00 Asia/Tokyo):
     * accepted Wednesday 07:13 JST, it starts at 09:00 JST (00:00Z) and
     * its four hours end at 13:00 JST, 04:00Z. */
    cr_assert(eq(i64, a->due_at_ms, 1700020800000LL));
    cr_assert(eq(i64, a->ack_due_at_ms, NOW - 5000 + 5 * MIN));
    const kj_hours_t *tokyo =
        kj_rules_team_hours(router_assign_rules(r), "care-ja");
    cr_assert(eq(i64, a->resolve_due_at_ms,
                 kj_hours_deadline(tokyo, NOW - 5000, 48 * HOUR)));
    cr_assert(eq(str, (char *)a->ack_template, "ack_private_ja"));
    cr_assert(not(a->take_private));
    free(env);
    router_assign_destroy(&r);
    cr_assert(zero(ptr, r));
    router_assign_destroy(&r);
}

Test(router_assign, no_triage_is_dead, .init = s_quiet)
{
    router_assign_t *r = s_new(KJ_RULES_PATH);
    kj_envelope_t *env = s_env("email", false, "en", "other", "normal");
    env->has_triage = false;
    char err[KJ_ERRMSG_MAX] = "";
    cr_assert(eq(int, s_run(r, env, err, sizeof err), KJ_VERDICT_DEAD));
    cr_assert(eq(str, err, "invalid: router: envelope has no triage"));
    cr_assert(not(env->has_assignment));
    free(env);
    router_assign_destroy(&r);
}

/* Noise goes to the noise queue: lowest priority, no deadline, nothing
 * to say to the customer, whatever the rules would have chosen. */
Test(router_assign, noise_and_spam_are_quarantined, .init = s_quiet)
{
    router_assign_t *r = s_new(KJ_RULES_PATH);
    kj_envelope_t *env = s_env("email", false, "ja", "billing", "critical");
    strcpy(env->complaint.noise, "auto_reply");
    char err[KJ_ERRMSG_MAX] = "";
    cr_assert(eq(int, s_run(r, env, err, sizeof err), KJ_VERDICT_DONE));
    const kj_assignment_t *a = &env->assignment;
    cr_assert(env->has_assignment);
    cr_assert(eq(str, (char *)a->team, "noise"));
    cr_assert(eq(str, (char *)a->priority, "p4"));
    cr_assert(eq(str, (char *)a->rule, "quarantine"));
    cr_assert(eq(i64, a->due_at_ms, 0));
    cr_assert(eq(i64, a->ack_due_at_ms, 0));
    cr_assert(eq(str, (char *)a->ack_template, ""));
    cr_assert(eq(str, (char *)a->suggested_reply, ""));
    free(env);
    /* The classifier's spam label: the spam queue, likewise. */
    env = s_env("email", false, "en", "billing", "high");
    env->triage.spam = true;
    env->triage.spam_confidence = 0.97f;
    cr_assert(eq(int, s_run(r, env, err, sizeof err), KJ_VERDICT_DONE));
    cr_assert(eq(str, (char *)env->assignment.team, "spam"));
    cr_assert(eq(str, (char *)env->assignment.priority, "p4"));
    cr_assert(eq(str, (char *)env->assignment.ack_template, ""));
    free(env);
    router_assign_destroy(&r);
}

typedef struct {
    const char *channel;
    bool is_public;
    const char *language, *category, *urgency;
    size_t n_pii;
    const char *team, *priority, *sla, *ack;
    int64_t first_ms, resolve_ms;
    bool take_private;
} s_case_t;

static const s_case_t s_cases[] = {
    {"x", true, "en", "billing", "critical", 0, "trust-safety", "p1", "urgent",
     "ack_public_en", 15 * MIN, 4 * HOUR, true},
    {"facebook", true, "ja", "security", "normal", 0, "trust-safety", "p1",
     "urgent", "ack_public_ja", 15 * MIN, 4 * HOUR, true},
    {"chat", false, "ja", "outage", "high", 0, "tech-ops", "p2", "urgent",
     "ack_private_ja", 15 * MIN, 4 * HOUR, false},
    {"x", true, "en", "billing", "normal", 0, "billing", "p2", "standard",
     "ack_public_en", 240 * MIN, 48 * HOUR, true},
    {"email", false, "en", "billing", "normal", 0, "billing", "p2", "standard",
     "ack_private_en", 240 * MIN, 48 * HOUR, false},
    {"x", true, "en", "delivery", "normal", 0, "social-media", "p2", "social",
     "ack_public_en", 60 * MIN, 24 * HOUR, false},
    /* PII in a public post: take it private whatever the category. */
    {"instagram", true, "ja", "delivery", "high", 2, "social-media", "p2",
     "social", "ack_public_ja", 60 * MIN, 24 * HOUR, true},
    {"x", true, "en", "account", "normal", 0, "social-media", "p2", "social",
     "ack_public_en", 60 * MIN, 24 * HOUR, true},
    /* Private channels never need taking private. */
    {"email", false, "en", "account", "normal", 3, "care-en", "p3", "standard",
     "ack_private_en", 240 * MIN, 48 * HOUR, false},
    {"x", false, "ja", "delivery", "normal", 0, "care-ja", "p3", "standard",
     "ack_private_ja", 240 * MIN, 48 * HOUR, false},
    /* Public, but not a social channel. */
    {"app_review", true, "en", "product_quality", "low", 0, "care-en", "p3",
     "standard", "", 240 * MIN, 48 * HOUR, false},
    /* Languages without a template get the English one. */
    {"email", false, "other", "other", "normal", 0, "care-en", "p3", "standard",
     "ack_private_en", 240 * MIN, 48 * HOUR, false},
    {"web", false, "und", "other", "normal", 0, "care-en", "p3", "standard",
     "ack_private_en", 240 * MIN, 48 * HOUR, false},
    {"web", false, "", "", "", 0, "care-en", "p3", "standard", "ack_private_en",
     240 * MIN, 48 * HOUR, false},
};

Test(router_assign, table_over_the_shipped_rules, .init = s_quiet)
{
    router_assign_t *r = s_new(KJ_RULES_PATH);
    for (size_t i = 0; i < sizeof s_cases / sizeof *s_cases; i++) {
        const s_case_t *c = &s_cases[i];
        kj_envelope_t *env = s_env(c->channel, c->is_public, c->language,
                                   c->category, c->urgency);
        env->triage.n_pii = c->n_pii;
        /* accepted_at 0 (an old record): the clock starts now. */
        char err[KJ_ERRMSG_MAX] = "";
        cr_expect(eq(int, s_run(r, env, err, sizeof err), KJ_VERDICT_DONE));
        const kj_assignment_t *a = &env->assignment;
        cr_expect(eq(str, (char *)a->team, (char *)c->team), "case %zu", i);
        cr_expect(eq(str, (char *)a->priority, (char *)c->priority), "case %zu",
                  i);
        cr_expect(eq(str, (char *)a->sla_policy, (char *)c->sla), "case %zu",
                  i);
        cr_expect(eq(str, (char *)a->ack_template, (char *)c->ack), "case %zu",
                  i);
        /* Human clocks count the team's open hours; the social policy
         * (and a team without hours) counts all of them. */
        const kj_hours_t *h =
            strcmp(c->sla, "social") == 0
                ? NULL
                : kj_rules_team_hours(router_assign_rules(r), c->team);
        cr_expect(eq(i64, a->due_at_ms, kj_hours_deadline(h, NOW, c->first_ms)),
                  "case %zu", i);
        cr_expect(eq(i64, a->resolve_due_at_ms,
                     kj_hours_deadline(h, NOW, c->resolve_ms)),
                  "case %zu", i);
        cr_expect(eq(i64, a->ack_due_at_ms, NOW + 5 * MIN), "case %zu", i);
        cr_expect(eq(int, a->take_private, c->take_private), "case %zu", i);
        cr_expect(env->has_assignment, "case %zu", i);
        free(env);
    }
    router_assign_destroy(&r);
}

/* NOW is Tuesday 2023-11-14 22:13:20Z, 17:13 in New York: billing's
 * office (Mon-Fri 09:00-17:00 America/New_York) is closed, so its four
 * hours start Wednesday 09:00 EST (14:00Z) and end at 18:00Z. The 24/7
 * social desk counts from now. */
Test(router_assign, clocks_count_business_hours, .init = s_quiet)
{
    router_assign_t *r = s_new(KJ_RULES_PATH);
    kj_envelope_t *env = s_env("email", false, "en", "billing", "normal");
    char err[KJ_ERRMSG_MAX] = "";
    cr_assert(eq(int, s_run(r, env, err, sizeof err), KJ_VERDICT_DONE));
    cr_assert(eq(str, env->assignment.team, "billing"));
    cr_assert(eq(i64, env->assignment.due_at_ms, 1700071200000LL));
    free(env);
    env = s_env("x", true, "en", "delivery", "normal");
    cr_assert(eq(int, s_run(r, env, err, sizeof err), KJ_VERDICT_DONE));
    cr_assert(eq(str, env->assignment.team, "social-media"));
    cr_assert(eq(i64, env->assignment.due_at_ms, NOW + 60 * MIN));
    free(env);
    router_assign_destroy(&r);
}

/* The playbook: a vague message gets no automatic reply and goes one
 * priority step down for a human look; an actionable billing complaint
 * carries a suggested reply with the category's two alternatives. */
Test(router_assign, playbook_choices, .init = s_quiet)
{
    router_assign_t *r = s_new(KJ_RULES_PATH);
    char err[KJ_ERRMSG_MAX] = "";
    kj_envelope_t *env = s_env("email", false, "en", "other", "normal");
    env->triage.actionable = false;
    snprintf(env->triage.masked_text, sizeof env->triage.masked_text, "hmm");
    cr_assert(eq(int, s_run(r, env, err, sizeof err), KJ_VERDICT_DONE));
    cr_assert(eq(str, env->assignment.priority, "p4"), "care-en's p3, lowered");
    cr_assert(eq(str, env->assignment.ack_template, ""));
    cr_assert(eq(str, env->assignment.suggested_reply, ""));
    free(env);

    env = s_env("email", false, "en", "billing", "normal");
    cr_assert(eq(int, s_run(r, env, err, sizeof err), KJ_VERDICT_DONE));
    cr_assert(eq(str, env->assignment.priority, "p2"));
    cr_assert(eq(str, env->assignment.ack_template, "ack_private_en"));
    cr_assert(ne(ptr, strstr(env->assignment.suggested_reply, "refund"), NULL),
              "%s", env->assignment.suggested_reply);
    cr_assert(eq(ptr, strstr(env->assignment.suggested_reply, "{{"), NULL));
    free(env);
    router_assign_destroy(&r);
}

Test(router_assign, sensitive_categories)
{
    cr_assert(router_assign_sensitive("billing"));
    cr_assert(router_assign_sensitive("account"));
    cr_assert(router_assign_sensitive("security"));
    cr_assert(router_assign_sensitive("privacy"));
    cr_assert(not(router_assign_sensitive("delivery")));
    cr_assert(not(router_assign_sensitive("Billing")));
    cr_assert(not(router_assign_sensitive("")));
    cr_assert(not(router_assign_sensitive(NULL)));
}

static void
s_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(not(zero(ptr, f)));
    cr_assert(eq(int, fputs(text, f) >= 0, 1));
    cr_assert(eq(int, fclose(f), 0));
}

/* Tier and sentiment come from the envelope; a team's webhook is copied. */
static const char s_rules_fmt[] =
    "{\"version\":1,\"categories\":[],"
    "\"teams\":[{\"name\":\"vip\",\"webhook\":\"https://hooks.example/%s\"},"
    "{\"name\":\"care\"}],"
    "\"sla_policies\":[{\"name\":\"fast\",\"first_response_minutes\":5,"
    "\"resolution_hours\":2}],"
    "\"routes\":["
    "{\"name\":\"gold\",\"when\":{\"tier\":[\"gold\"]},\"team\":\"vip\","
    " \"priority\":\"p1\",\"sla\":\"fast\"},"
    "{\"name\":\"angry\",\"when\":{\"sentiment\":[\"negative\"]},"
    " \"team\":\"vip\",\"priority\":\"p2\",\"sla\":\"fast\"},"
    "{\"name\":\"d\",\"team\":\"care\",\"priority\":\"p4\",\"sla\":\"fast\"}]}";

Test(router_assign, tier_sentiment_webhook_and_reload, .init = s_quiet)
{
    char path[] = "/tmp/kj_router_rules_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    char doc[2048];
    snprintf(doc, sizeof doc, s_rules_fmt, "one");
    s_write(path, doc);
    router_assign_t *r = s_new(path);
    char err[KJ_ERRMSG_MAX] = "";

    kj_envelope_t *env = s_env("email", false, "en", "other", "normal");
    strcpy(env->complaint.customer.tier, "gold");
    s_run(r, env, err, sizeof err);
    cr_assert(eq(str, env->assignment.rule, "gold"));
    cr_assert(eq(str, env->assignment.team, "vip"));
    cr_assert(
        eq(str, env->assignment.webhook_url, "https://hooks.example/one"));
    cr_assert(eq(i64, env->assignment.due_at_ms, NOW + 5 * MIN));

    strcpy(env->complaint.customer.tier, "silver");
    strcpy(env->triage.sentiment, "negative");
    s_run(r, env, err, sizeof err);
    cr_assert(eq(str, env->assignment.rule, "angry"));

    /* A new run replaces the earlier assignment entirely. */
    strcpy(env->triage.sentiment, "");
    s_run(r, env, err, sizeof err);
    cr_assert(eq(str, env->assignment.rule, "d"));
    cr_assert(eq(str, env->assignment.priority, "p4"));
    cr_assert(eq(str, env->assignment.webhook_url, ""));

    snprintf(doc, sizeof doc, s_rules_fmt, "two");
    s_write(path, doc);
    /* SIGHUP: the service read valid rules and hands them over. */
    kj_rules_t *two = s_load(path);
    cr_assert(eq(int, router_assign_rules_changed(r, two, err, sizeof err), 0));
    strcpy(env->complaint.customer.tier, "gold");
    s_run(r, env, err, sizeof err);
    cr_assert(
        eq(str, env->assignment.webhook_url, "https://hooks.example/two"));

    cr_assert(eq(ptr, (void *)router_assign_rules(r), two));
    unlink(path);
    free(env);
    router_assign_destroy(&r);
    kj_rules_destroy(&two);
}

Test(router_assign, bad_rules_file_is_a_precise_error)
{
    char path[] = "/tmp/kj_router_rules_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    s_write(path, "{\"version\":1,\n\"teams\":[{\"name\":\"t\",\"webhook\":"
                  "\"ftp://x\"}]}");
    char err[512];
    cr_assert(zero(ptr, kj_rules_load(path, err, sizeof err)));
    cr_assert(not(zero(ptr, strstr(err, path))), "%s", err);
    cr_assert(not(zero(ptr, strstr(err, "line 1: missing key "
                                        "\"categories\""))),
              "%s", err);
    unlink(path);
}
