/* kj_playbook: the care playbook (issue 11) over the rules file's
 * "templates" and "playbook" sections (kj_rules.h): which template a
 * situation calls for, its rendering with the case's variables, and
 * whether a message deserves an automatic reply at all. Pure: no I/O,
 * no clock, no state; the caller (router, notifier) decides what to send
 * and when, e.g. skipping a survey_request within survey_cooldown_days.
 *
 *   public negative post  -> "customer_ack" (apologise, invite to DM or
 *                            e-mail; the shipped texts hold no personal
 *                            data and no {{customer_name}})
 *   specific, actionable  -> "suggested_reply" in the team alert, with
 *                            the category's two alternatives
 *   vague or abusive      -> no automatic reply (see kj_playbook_assess)
 *   resolved              -> "survey_request" with {{survey_url}}
 *   tone drops            -> "follow_up" for the assigned agent */
#ifndef KJ_PLAYBOOK_H
#define KJ_PLAYBOOK_H

#include <stdbool.h>
#include <stddef.h>

#include "kj_envelope.h"
#include "kj_rules.h"

/* What a template's "when" is tested against. A NULL or empty value
 * fails any test of its field (as in routing). */
typedef struct {
    const char *language; /* the complaint's, e.g. "ja"; NULL: English */
    const char *channel;
    bool is_public;
    const char *sentiment;
    const char *category;
    const char *urgency;
    bool actionable;
} kj_playbook_input_t;

/* The variables a template may use. NULL means not known. Only these
 * (and the template's own alternatives) ever reach the output, never
 * anything from the complaint: the caller passes a customer_name only
 * if it decided that name is safe to show, and for a public post it
 * must pass NULL (a public reply never repeats personal data). */
typedef struct {
    const char *customer_name; /* NULL: "お客様" (ja) or "customer" */
    const char *case_number;
    const char *agent_name;
    const char *team;
    const char *survey_url; /* usually kj_rules_playbook(r)->survey_url */
} kj_playbook_vars_t;

/* What a message is, for the playbook: only a specific message gets an
 * automatic reply or a suggested one. A vague or abusive message gets no
 * automatic reply but is never dropped: the caller logs and counts it
 * and routes it at lower priority for a human look. */
typedef enum {
    KJ_PLAYBOOK_SPECIFIC,
    KJ_PLAYBOOK_VAGUE,
    KJ_PLAYBOOK_ABUSIVE
} kj_playbook_triage_t;

/* The first template (file order) of this kind whose "when" passes, in
 * the input's language if one exists, else in "en"; NULL if none. A
 * template's language "ja" also serves "ja-JP" (primary subtag, any
 * case). Borrowed from the rules. */
const kj_rules_template_t *
kj_playbook_choose(const kj_rules_t *rules, const char *kind,
                   const kj_playbook_input_t *in);

/* Render the template into out[size] (NUL-terminated): each {{variable}}
 * becomes its value from vars (alternative_1/2 from the template), a
 * missing one a neutral fallback: customer_name "お客様" in a Japanese
 * template ("{{customer_name}}様" then reads "お客様", not "お客様様") or
 * "customer", everything else empty. Values are inserted with control
 * characters dropped, invalid UTF-8 replaced and "{{" broken up, so the
 * output is valid UTF-8 and never contains "{{". Returns the length, or
 * -1 (out "" if size > 0) if it does not fit. */
int
kj_playbook_render(const kj_rules_template_t *tpl,
                   const kj_playbook_vars_t *vars, char *out, size_t size);

/* Classify a message: ABUSIVE if its folded text (kj_text_fold) holds
 * one of the playbook's abusive_words; else VAGUE if the triage says not
 * actionable and the category is "other" or empty or the text has fewer
 * than vague_max_chars code points (whitespace not counted); else
 * SPECIFIC. text NULL: the triage's masked_text. Only the first
 * KJ_TEXT_MAX bytes are read. */
kj_playbook_triage_t
kj_playbook_assess(const kj_rules_t *rules, const kj_triage_t *t,
                   const char *text);

/* "specific", "vague" or "abusive", for logs and metric labels. */
const char *
kj_playbook_triage_name(kj_playbook_triage_t v);

#endif
