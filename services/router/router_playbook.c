/* router_playbook: the playbook's choices for one routed complaint (see
 * router_playbook.h). */
#include "router_playbook.h"

#include <stdio.h>
#include <string.h>

#include "kj_log.h"
#include "kj_util.h"

/* One priority step down (p1 -> p2 ... p4 stays). */
static void
s_lower(char *priority, size_t size)
{
    int p = 0;
    if (sscanf(priority, "p%d", &p) == 1 && p >= 1 && p < 4)
        snprintf(priority, size, "p%d", p + 1);
}

static void
s_render(const kj_rules_t *rules, const char *kind,
         const kj_playbook_input_t *in, const kj_playbook_vars_t *vars,
         char *out, size_t size, const char **name)
{
    out[0] = '\0';
    const kj_rules_template_t *tpl = kj_playbook_choose(rules, kind, in);
    if (!tpl)
        return;
    if (kj_playbook_render(tpl, vars, out, size) < 0) {
        out[0] = '\0';
        kj_warn("playbook template too long to render", "s:template",
                tpl->name);
        return;
    }
    if (name)
        *name = tpl->name;
}

kj_playbook_triage_t
router_playbook_apply(const kj_rules_t *rules, kj_envelope_t *env,
                      const char *case_number, router_playbook_texts_t *out)
{
    const kj_complaint_t *c = &env->complaint;
    const kj_triage_t *t = &env->triage;
    kj_assignment_t *a = &env->assignment;
    if (out)
        out->ack[0] = out->follow_up[0] = '\0';
    a->ack_template[0] = a->suggested_reply[0] = '\0';
    kj_playbook_triage_t v = kj_playbook_assess(rules, t, NULL);
    const kj_playbook_input_t in = {
        .language = t->language,
        .channel = c->channel,
        .is_public = c->is_public,
        .sentiment = t->sentiment,
        .category = t->category,
        .urgency = t->urgency,
        .actionable = t->actionable,
    };
    /* The customer's name never goes into a message: the case number is
     * all a reply needs, and a public one must not repeat personal data. */
    const kj_playbook_vars_t vars = {
        .case_number = case_number,
        .team = a->team,
        .survey_url = kj_rules_playbook(rules)->survey_url,
    };
    if (out)
        s_render(rules, "follow_up", &in, &vars, out->follow_up,
                 sizeof out->follow_up, NULL);
    if (v != KJ_PLAYBOOK_SPECIFIC) {
        s_lower(a->priority, sizeof a->priority);
        return v;
    }
    const char *name = NULL;
    char ack[KJ_REPLY_MAX + 1];
    s_render(rules, "customer_ack", &in, &vars, ack, sizeof ack, &name);
    if (name) {
        kj_strlcpy(a->ack_template, name, sizeof a->ack_template);
        if (out)
            kj_strlcpy(out->ack, ack, sizeof out->ack);
    }
    if (t->actionable)
        s_render(rules, "suggested_reply", &in, &vars, a->suggested_reply,
                 sizeof a->suggested_reply, NULL);
    return v;
}

void
router_playbook_agent_text(const kj_rules_t *rules, const char *kind,
                           const char *language, const char *team,
                           const char *case_number, const char *agent,
                           char *out, size_t size)
{
    const kj_playbook_input_t in = {.language = language};
    const kj_playbook_vars_t vars = {
        .case_number = case_number,
        .agent_name = agent && *agent ? agent : NULL,
        .team = team,
    };
    s_render(rules, kind, &in, &vars, out, size, NULL);
}
