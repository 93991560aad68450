/* libFuzzer target for the rules file parser (KUJO_RULES is written by
 * operators, and a bad edit must give an error, never a crash): any bytes
 * either parse or give a non-empty message that fits its buffer, and
 * parsed rules always route (router_rules), match and map
 * (classifier_keywords) without failing, with positive clocks that run in
 * the route's business hours, bounded escalation chains and case
 * settings in range; its templates (the care playbook) render to valid
 * UTF-8 without "{{" whatever the variables, are chosen only for their
 * kind, and assess gives one of its verdicts; a webhook has one format
 * (kujo or slack) whichever route names it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier_keywords.h"
#include "kj_playbook.h"
#include "kj_rules.h"
#include "kj_utf8.h"
#include "router_rules.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[128];
    memset(err, 'x', sizeof err);
    kj_rules_t *rules =
        kj_rules_parse((const char *)data, size, err, sizeof err);
    if (!rules) {
        /* Always terminated within the buffer, never empty. */
        if (!memchr(err, '\0', sizeof err) || err[0] == '\0')
            abort();
        return 0;
    }
    /* The input, as text, stands in for a folded complaint. */
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    classifier_keywords_t *kw = classifier_keywords_from_rules(rules);
    int *counts = calloc(classifier_keywords_classes(kw) + 1, sizeof *counts);
    if (!counts)
        abort();
    classifier_keywords_match(kw, text, size, counts);
    int hits = -1;
    const char *cat = classifier_keywords_category(rules, counts, &hits);
    if (!cat || hits < 0 || (hits == 0 && strcmp(cat, "other") != 0))
        abort();
    const char *urg = classifier_keywords_urgency(rules, counts, &hits);
    if (!urg || hits < 0)
        abort();
    (void)classifier_keywords_map_label(rules, text);

    static const char *const langs[] = {NULL, "", "ja", "en"};
    for (size_t i = 0; i < sizeof langs / sizeof *langs; i++) {
        router_rules_input_t in = {.language = langs[i],
                                   .category = cat,
                                   .channel = "x",
                                   .tier = text,
                                   .urgency = urg,
                                   .sentiment = "negative",
                                   .is_public = i % 2 == 0};
        kj_route_t out;
        router_rules_route(rules, &in, &out);
        if (!out.rule || !out.team || !out.priority || !out.sla ||
            out.first_response_ms <= 0 || out.resolution_ms <= 0 ||
            out.ack_ms <= 0 || out.next_response_ms <= 0 ||
            strlen(out.priority) != 2)
            abort();
        /* A route's clocks run in its calendar (NULL: 24/7). */
        int64_t start = INT64_C(1798761600000); /* 2027-01-01 */
        if (kj_hours_deadline(out.hours, start, out.first_response_ms) < start)
            abort();
        size_t n_esc = 99;
        const char *const *esc =
            kj_rules_team_escalation(rules, out.team, &n_esc);
        if (n_esc > 8 || (n_esc > 0 && !esc))
            abort();
        for (size_t j = 0; j < n_esc; j++)
            if (!esc[j] || !esc[j][0])
                abort();
        (void)kj_rules_team_hours(rules, out.team);
        /* A webhook has one format, whichever team's route names it. */
        if (out.webhook &&
            kj_rules_webhook_format(rules, out.webhook) != out.webhook_format)
            abort();
    }
    const kj_rules_cases_t *cases = kj_rules_cases(rules);
    if (cases->reopen_ms < 0 || cases->close_ms < 0 ||
        cases->survey_cooldown_ms < 0 || cases->trajectory < 1 ||
        cases->trajectory > 100 || !(cases->tone_drop > 0) ||
        cases->tone_drop > 2)
        abort();

    /* The playbook, with the input as every variable and as the text. */
    size_t n_tpl;
    const kj_rules_template_t *tpl = kj_rules_templates(rules, &n_tpl);
    kj_playbook_vars_t vars = {.customer_name = text,
                               .case_number = text,
                               .agent_name = text,
                               .team = text,
                               .survey_url = text};
    static char out[1 << 16];
    for (size_t i = 0; i < n_tpl; i++) {
        if (!tpl[i].text || tpl[i].text_len == 0 || tpl[i].text_len > 2000 ||
            !tpl[i].kind || !tpl[i].language)
            abort();
        int n = kj_playbook_render(&tpl[i], &vars, out, sizeof out);
        if (n >= 0 && ((size_t)n != strlen(out) ||
                       !kj_utf8_valid(out, (size_t)n) || strstr(out, "{{")))
            abort();
        n = kj_playbook_render(&tpl[i], NULL, out, sizeof out);
        if (n < 0 || strstr(out, "{{"))
            abort();
    }
    static const char *const kinds[] = {"customer_ack",   "suggested_reply",
                                        "survey_request", "follow_up",
                                        "sla_warning",    "escalation"};
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        kj_playbook_input_t pin = {.language = k % 2 ? "ja" : text,
                                   .channel = "x",
                                   .is_public = k % 3 == 0,
                                   .sentiment = "negative",
                                   .category = cat,
                                   .urgency = urg,
                                   .actionable = k % 2 == 0};
        const kj_rules_template_t *c =
            kj_playbook_choose(rules, kinds[k], &pin);
        if (c && strcmp(c->kind, kinds[k]) != 0)
            abort();
    }
    static kj_triage_t tri;
    memset(&tri, 0, sizeof tri);
    snprintf(tri.category, sizeof tri.category, "%s", cat);
    kj_playbook_triage_t verdict = kj_playbook_assess(rules, &tri, text);
    if (verdict != KJ_PLAYBOOK_SPECIFIC && verdict != KJ_PLAYBOOK_VAGUE &&
        verdict != KJ_PLAYBOOK_ABUSIVE)
        abort();
    if (kj_rules_playbook(rules)->vague_max_chars < 0 ||
        kj_rules_playbook(rules)->vague_max_chars > 1000)
        abort();

    free(counts);
    classifier_keywords_destroy(&kw);
    free(text);
    kj_rules_destroy(&rules);
    if (rules)
        abort();
    return 0;
}
