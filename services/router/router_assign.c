/* router_assign: rules-based assignment of one envelope. Everything it
 * needs is in the envelope and the rules, so it does no I/O and allocates
 * nothing per message. */
#include "router_assign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_assert.h"
#include "kj_hours.h"
#include "kj_log.h"
#include "kj_util.h"
#include "router_cases.h"
#include "router_clocks.h"
#include "router_playbook.h"
#include "router_rules.h"

#define S_RETRY_MS 1000 /* cases unavailable: try again */

struct router_assign {
    /* The service's rules (kj_service holds them and swaps them on
     * SIGHUP, telling us through router_assign_rules_changed). */
    const kj_rules_t *rules;
    router_cases_t *cases;   /* NULL: no cases (router_assign_use_cases) */
    router_clocks_t *clocks; /* NULL: no SLA timers swept */
    kj_envelope_t **routed;  /* a batch's envelopes with a triage */
    router_case_input_t *inputs_of; /* ... what filing them needs */
    /* ... and the ids and playbook texts those point at */
    char (*case_ids)[KJ_ID_LEN + 1];
    router_playbook_texts_t *texts;
    kj_counter_t *no_reply[3]; /* by kj_playbook_triage_t; NULL: none */
    kj_counter_t *quarantined[2]; /* noise, spam; NULL: none */
    size_t cap_routed;
};

/* Categories a care team should not discuss in public replies. The
 * category names are the operator's, so the usual spellings are all
 * listed; deploy/rules.json uses billing, account and security. */
static const char *const s_sensitive[] = {"billing", "account", "security",
                                          "privacy", "payment", "fraud"};

router_assign_t *
router_assign_new(const kj_rules_t *rules)
{
    kj_assert(rules);
    router_assign_t *self = kj_calloc(1, sizeof *self);
    self->rules = rules;
    return self;
}

void
router_assign_destroy(router_assign_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    router_cases_destroy(&(*self_p)->cases);
    router_clocks_destroy(&(*self_p)->clocks);
    free((*self_p)->routed);
    free((*self_p)->inputs_of);
    free((*self_p)->case_ids);
    free((*self_p)->texts);
    free(*self_p);
    *self_p = NULL;
}

const kj_rules_t *
router_assign_rules(const router_assign_t *self)
{
    return self->rules;
}

int
router_assign_rules_changed(void *ctx, const kj_rules_t *rules, char *err,
                            size_t err_size)
{
    router_assign_t *self = ctx;
    (void)err;
    (void)err_size;
    self->rules = rules;
    return 0;
}

bool
router_assign_sensitive(const char *category)
{
    for (size_t i = 0; category && i < KJ_ARRAY_LEN(s_sensitive); i++)
        if (strcmp(category, s_sensitive[i]) == 0)
            return true;
    return false;
}

void
router_assign_use_cases(router_assign_t *self, kj_redis_t *redis,
                        const char *prefix)
{
    kj_assert(!self->cases);
    self->cases = router_cases_new(redis, prefix);
}

void
router_assign_use_metrics(router_assign_t *self, kj_metrics_t *metrics)
{
    const char *name = "kujo_router_no_auto_reply_total";
    const char *help = "Complaints the playbook found vague or abusive: no "
                       "automatic reply, routed one priority step lower";
    self->no_reply[KJ_PLAYBOOK_VAGUE] =
        kj_metrics_counter(metrics, name, help, "assessment=\"vague\"");
    self->no_reply[KJ_PLAYBOOK_ABUSIVE] =
        kj_metrics_counter(metrics, name, help, "assessment=\"abusive\"");
    name = "kujo_router_quarantined_total";
    help = "Messages filed in the noise or spam queue: no case, no reply, "
           "no team alert";
    self->quarantined[0] =
        kj_metrics_counter(metrics, name, help, "queue=\"noise\"");
    self->quarantined[1] =
        kj_metrics_counter(metrics, name, help, "queue=\"spam\"");
}

void
router_assign_use_clocks(router_assign_t *self, kj_redis_t *redis,
                         const char *prefix, int64_t offset_ms,
                         int64_t lease_ms, kj_metrics_t *metrics)
{
    kj_assert(!self->clocks);
    self->clocks =
        router_clocks_new(redis, prefix, offset_ms, lease_ms, metrics);
}

long
router_assign_timeout_ms(void *ctx)
{
    router_assign_t *self = ctx;
    return self->clocks ? router_clocks_timeout_ms(self->clocks, kj_now_ms())
                        : -1;
}

void
router_assign_after_poll(void *ctx, const zmq_pollitem_t *items, size_t n,
                         int64_t now_ms)
{
    router_assign_t *self = ctx;
    (void)items;
    (void)n;
    if (self->clocks)
        router_clocks_sweep(self->clocks, self->rules, now_ms);
}

/* The rules' decision for env, into its assignment (pure); clocks, if
 * not NULL, gets what its case's clocks need beyond it. */
static void
s_route(router_assign_t *self, kj_envelope_t *env, int64_t now_ms,
        router_case_input_t *clocks)
{
    const kj_complaint_t *c = &env->complaint;
    const kj_triage_t *t = &env->triage;
    router_rules_input_t in = {
        .language = t->language,
        .category = t->category,
        .channel = c->channel,
        .tier = c->customer.tier,
        .urgency = t->urgency,
        .sentiment = t->sentiment,
        .is_public = c->is_public,
    };
    kj_route_t route;
    router_rules_route(self->rules, &in, &route);

    kj_assignment_t *a = &env->assignment;
    memset(a, 0, sizeof *a);
    kj_strlcpy(a->team, route.team, sizeof a->team);
    kj_strlcpy(a->priority, route.priority, sizeof a->priority);
    kj_strlcpy(a->sla_policy, route.sla, sizeof a->sla_policy);
    kj_strlcpy(a->rule, route.rule, sizeof a->rule);
    if (route.webhook)
        kj_strlcpy(a->webhook_url, route.webhook, sizeof a->webhook_url);
    /* The SLA clock starts when ingest accepted the complaint, not when
     * the router got to it: a backlog must not extend the deadline. */
    int64_t start = c->accepted_at_ms > 0 ? c->accepted_at_ms : now_ms;
    /* Human clocks count the policy's business hours (NULL: 24/7); the
     * automatic acknowledgement does not wait for office hours. */
    a->due_at_ms =
        kj_hours_deadline(route.hours, start, route.first_response_ms);
    a->resolve_due_at_ms =
        kj_hours_deadline(route.hours, start, route.resolution_ms);
    a->ack_due_at_ms = start + route.ack_ms;
    a->take_private =
        c->is_public && (t->n_pii > 0 || router_assign_sensitive(t->category));
    env->has_assignment = true;
    if (!clocks)
        return;
    /* Warnings at 75 % of each clock's open time; a message after a
     * human reply owes the next response from its acceptance. */
    const kj_hours_t *h = route.hours;
    *clocks = (router_case_input_t){
        .hours = h ? kj_hours_name(h) : "",
        .fr_warn_ms =
            kj_hours_deadline(h, start, route.first_response_ms * 3 / 4),
        .res_warn_ms = kj_hours_deadline(h, start, route.resolution_ms * 3 / 4),
        .nr_due_ms = kj_hours_deadline(h, start, route.next_response_ms),
        .nr_warn_ms =
            kj_hours_deadline(h, start, route.next_response_ms * 3 / 4),
    };
}

/* Noise or spam (kj_envelope_quarantine): into the queue of that name at
 * the lowest priority, with no deadline, no case and nothing said to
 * anyone; kept and counted, so a mislabelled message can still be found. */
static void
s_quarantine(router_assign_t *self, kj_envelope_t *env, const char *queue)
{
    kj_assignment_t *a = &env->assignment;
    memset(a, 0, sizeof *a);
    kj_strlcpy(a->team, queue, sizeof a->team);
    kj_strlcpy(a->priority, "p4", sizeof a->priority);
    kj_strlcpy(a->rule, "quarantine", sizeof a->rule);
    env->has_assignment = true;
    kj_counter_t *c = self->quarantined[strcmp(queue, "spam") == 0];
    if (c)
        kj_counter_inc(c);
    kj_info("quarantined", "s:id", env->complaint.id, "s:queue", queue);
}

/* The playbook's choices for a routed env (see router_playbook.h),
 * counted by assessment. */
static void
s_playbook(router_assign_t *self, kj_envelope_t *env, const char *case_id,
           router_playbook_texts_t *texts)
{
    kj_playbook_triage_t v =
        router_playbook_apply(self->rules, env, case_id, texts);
    if (v == KJ_PLAYBOOK_SPECIFIC)
        return;
    if (self->no_reply[v])
        kj_counter_inc(self->no_reply[v]);
    /* Never dropped: a human looks at it, later. */
    kj_info("no automatic reply", "s:id", env->complaint.id, "s:assessment",
            kj_playbook_triage_name(v), "s:priority", env->assignment.priority);
}

void
router_assign_before_batch(void *ctx, kj_envelope_t *const *envs, size_t n,
                           int64_t now_ms)
{
    router_assign_t *self = ctx;
    if (!self->cases)
        return;
    if (n > self->cap_routed) {
        self->routed = kj_realloc(self->routed, n * sizeof *self->routed);
        self->inputs_of =
            kj_realloc(self->inputs_of, n * sizeof *self->inputs_of);
        self->case_ids = kj_realloc(self->case_ids, n * sizeof *self->case_ids);
        self->texts = kj_realloc(self->texts, n * sizeof *self->texts);
        self->cap_routed = n;
    }
    size_t m = 0;
    kj_envelope_t **routed = self->routed;
    for (size_t i = 0; i < n; i++) {
        if (!envs[i]->has_triage || kj_envelope_quarantine(envs[i]))
            continue; /* process dead-letters or quarantines it */
        router_case_input_t *in = &self->inputs_of[m];
        s_route(self, envs[i], now_ms, in);
        /* The id a case opened by this message gets, known before the
         * filing so that the acknowledgement can quote it. */
        router_cases_new_id(self->cases, now_ms, self->case_ids[m]);
        s_playbook(self, envs[i], self->case_ids[m], &self->texts[m]);
        in->new_case_id = self->case_ids[m];
        in->ack_text = self->texts[m].ack;
        in->follow_up_text = self->texts[m].follow_up;
        in->tone_drop = kj_rules_cases(self->rules)->tone_drop;
        routed[m++] = envs[i];
    }
    router_cases_file(self->cases, routed, self->inputs_of, m,
                      kj_rules_cases(self->rules)->reopen_ms, now_ms);
}

kj_verdict_t
router_assign_process(void *ctx, kj_envelope_t *env, int64_t now_ms, char *err,
                      size_t err_size, int64_t *retry_at)
{
    router_assign_t *self = ctx;
    if (!env->has_triage) {
        kj_rc_reason(err, err_size, KJ_ERR_INVALID,
                     "router: envelope has no triage");
        return KJ_VERDICT_DEAD;
    }
    const char *queue = kj_envelope_quarantine(env);
    if (queue) {
        s_quarantine(self, env, queue);
        return KJ_VERDICT_DONE;
    }
    /* Routed and filed with its batch (before_batch); alone (no batch,
     * or no cases), routed here. */
    int filed = self->cases ? router_cases_take(self->cases, env) : -2;
    if (filed == -2) {
        s_route(self, env, now_ms, NULL);
        s_playbook(self, env, NULL, NULL);
    }
    if (filed == -1) {
        kj_rc_reason(err, err_size, KJ_ERR_REDIS,
                     "router: could not file the complaint in a case");
        *retry_at = now_ms + S_RETRY_MS;
        return KJ_VERDICT_RETRY;
    }
    return KJ_VERDICT_DONE;
}
