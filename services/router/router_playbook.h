/* router_playbook: the care playbook at routing time (kj_playbook over
 * the rules' templates). For each routed complaint:
 *   - vague or abusive: no automatic reply, never dropped; the priority
 *     goes one step down for a human look, and it is counted and logged;
 *   - otherwise the acknowledgement its language, channel, public flag
 *     and sentiment call for (a customer_ack delivery when it opens a
 *     case), and for an actionable one the suggested reply the team alert
 *     carries (two alternatives where the category has them);
 *   - the follow_up text owed to the assignee if the customer's tone
 *     drops on an open case.
 * Nothing from the complaint is put in a customer-facing text: the name
 * is never used (public posts must not repeat personal data), only the
 * case number. Pure: no I/O. */
#ifndef ROUTER_PLAYBOOK_H
#define ROUTER_PLAYBOOK_H

#include <stddef.h>

#include "kj_envelope.h"
#include "kj_playbook.h"
#include "kj_rules.h"

typedef struct {
    char ack[KJ_REPLY_MAX + 1];       /* "" when none is owed */
    char follow_up[KJ_REPLY_MAX + 1]; /* "" when the rules have none */
} router_playbook_texts_t;

/* Apply the playbook to env (its assignment filled by the routes):
 * ack_template and suggested_reply set, the priority lowered for vague
 * and abusive messages. case_number names the case the acknowledgement
 * quotes (NULL: none). out may be NULL. Returns the assessment. */
kj_playbook_triage_t
router_playbook_apply(const kj_rules_t *rules, kj_envelope_t *env,
                      const char *case_number, router_playbook_texts_t *out);

/* An internal message of kind (sla_warning, escalation) for a case, in
 * language (falling back to English), into out ("" when the rules have
 * no such template). */
void
router_playbook_agent_text(const kj_rules_t *rules, const char *kind,
                           const char *language, const char *team,
                           const char *case_number, const char *agent,
                           char *out, size_t size);

#endif
