/* libFuzzer target for the care playbook (kj_playbook): rendering takes
 * variables a caller got from outside (a display name, an agent's name)
 * and assessing takes complaint text. For any bytes, split into the
 * variables and a text, every template of a fixed playbook renders to
 * valid UTF-8 with no "{{" and no control characters but the template's
 * own newlines, returns its length or -1 exactly when the buffer is too
 * small (a smaller buffer gives the same text or -1), and assess returns
 * one of its three verdicts. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kj_playbook.h"
#include "kj_rules.h"
#include "kj_utf8.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char s_rules[] =
    "{\"version\":1,"
    "\"categories\":[{\"name\":\"billing\",\"keywords\":[\"refund\"]}],"
    "\"teams\":[{\"name\":\"t\"}],"
    "\"sla_policies\":[{\"name\":\"s\",\"first_response_minutes\":1,"
    "\"resolution_hours\":1}],"
    "\"routes\":[{\"name\":\"d\",\"team\":\"t\",\"priority\":\"p3\","
    "\"sla\":\"s\"}],"
    "\"playbook\":{\"vague_max_chars\":10,"
    "\"abusive_words\":[\"idiot\",\"shut up\",\"馬鹿\"]},"
    "\"templates\":["
    "{\"name\":\"all\",\"kind\":\"suggested_reply\",\"language\":\"en\","
    "\"text\":\"{{customer_name}}{{case_number}}{{agent_name}}{{team}}"
    "{{survey_url}}{{alternative_1}}{{alternative_2}}{\","
    "\"alternatives\":[\"a{\",\"{b\"]},"
    "{\"name\":\"ja\",\"kind\":\"customer_ack\",\"language\":\"ja\","
    "\"when\":{\"public\":false},"
    "\"text\":\"{{customer_name}}様\\n{ {{case_number}}様{{agent_name}}\"},"
    "{\"name\":\"en\",\"kind\":\"customer_ack\",\"language\":\"en\","
    "\"text\":\"Dear {{customer_name}},\\n\\t{{team}}}}{\"}]}";

/* Output a template may give: valid UTF-8, no "{{", and no control
 * characters except the newline and tab its text may hold. */
static void
s_check(const char *out, int n)
{
    if (n < 0) {
        if (out[0] != '\0')
            abort();
        return;
    }
    if ((size_t)n != strlen(out) || !kj_utf8_valid(out, (size_t)n) ||
        strstr(out, "{{"))
        abort();
    for (int i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)out[i];
        if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7f)
            abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kj_rules_t *rules;
    if (!rules) {
        rules = kj_rules_parse(s_rules, sizeof s_rules - 1, NULL, 0);
        if (!rules)
            abort();
    }
    /* Byte 0: flags; then NUL-separated customer_name, case_number,
     * agent_name, team, survey_url; the rest is the text. A field the
     * input does not reach stays NULL. */
    unsigned flags = size > 0 ? data[0] : 0;
    char *buf = malloc(size + 1);
    if (!buf)
        abort();
    if (size > 1)
        memcpy(buf, data + 1, size - 1);
    buf[size > 0 ? size - 1 : 0] = '\0';
    size_t len = size > 0 ? size - 1 : 0;
    const char *fields[6] = {NULL};
    size_t at = 0;
    for (int f = 0; f < 6 && at <= len && size > 0; f++) {
        fields[f] = buf + at;
        at += strlen(buf + at) + 1;
    }
    kj_playbook_vars_t vars = {.customer_name = fields[0],
                               .case_number = fields[1],
                               .agent_name = fields[2],
                               .team = fields[3],
                               .survey_url = fields[4]};
    const char *text = fields[5] ? fields[5] : "";

    size_t n;
    const kj_rules_template_t *t = kj_rules_templates(rules, &n);
    static char full[1 << 16], small[1 << 16];
    for (size_t i = 0; i < n; i++) {
        int nf = kj_playbook_render(&t[i], &vars, full, sizeof full);
        s_check(full, nf);
        size_t cap = 1 + (flags * 7u + len) % 300;
        int ns = kj_playbook_render(&t[i], &vars, small, cap);
        s_check(small, ns);
        /* The same text if it fits, -1 exactly when it does not. */
        if (nf >= 0 && ((size_t)nf < cap) != (ns >= 0))
            abort();
        if (ns >= 0 && (ns != nf || strcmp(small, full) != 0))
            abort();
    }

    static const char *const cats[] = {"billing", "other", "", "delivery"};
    kj_playbook_input_t in = {.language = (flags & 4) ? "ja" : text,
                              .channel = text,
                              .is_public = flags & 1,
                              .category = cats[(flags >> 4) & 3],
                              .actionable = flags & 2};
    const char *const kinds[] = {"customer_ack", "suggested_reply", "follow_up",
                                 text};
    for (size_t k = 0; k < 4; k++) {
        const kj_rules_template_t *c = kj_playbook_choose(rules, kinds[k], &in);
        if (c && strcmp(c->kind, kinds[k]) != 0)
            abort();
    }

    static kj_triage_t tri;
    memset(&tri, 0, sizeof tri);
    tri.actionable = flags & 2;
    strcpy(tri.category, cats[(flags >> 4) & 3]);
    size_t tl = strlen(text);
    if (tl > KJ_TEXT_MAX)
        tl = KJ_TEXT_MAX;
    memcpy(tri.masked_text, text, tl);
    tri.masked_text[tl] = '\0';
    kj_playbook_triage_t v1 = kj_playbook_assess(rules, &tri, text);
    kj_playbook_triage_t v2 = kj_playbook_assess(rules, &tri, NULL);
    if (v1 != v2 || (v1 != KJ_PLAYBOOK_SPECIFIC && v1 != KJ_PLAYBOOK_VAGUE &&
                     v1 != KJ_PLAYBOOK_ABUSIVE))
        abort();
    /* Actionable and not abusive is always specific. */
    if (tri.actionable && v1 == KJ_PLAYBOOK_VAGUE)
        abort();
    free(buf);
    return 0;
}
