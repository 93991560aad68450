/* libFuzzer target for the Slack bodies (notifier_slack): customer text,
 * category, tier, subject and the playbook's text are outside input.
 * Whatever the bytes, a body is valid JSON in valid UTF-8 with a text
 * fallback and blocks; no mrkdwn text holds a raw < or > (a mention or a
 * link); the masked text's section stays within Slack's 3000 characters
 * and the header within 150; the original text never appears. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kj_utf8.h"
#include "notifier_slack.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
s_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* Whether data[size] contains the string s. */
static bool
s_contains(const uint8_t *data, size_t size, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= size; i++)
        if (memcmp(data + i, s, n) == 0)
            return true;
    return false;
}

/* Copy up to max bytes of data from *pos into out (NUL-terminated). */
static void
s_take(const uint8_t *data, size_t size, size_t *pos, char *out, size_t max)
{
    size_t n = size - *pos < max - 1 ? size - *pos : max - 1;
    memcpy(out, data + *pos, n);
    out[n] = '\0';
    *pos += n;
}

/* Every mrkdwn text in blocks: no raw < or >. */
static void
s_check_mrkdwn(json_t *v)
{
    if (json_is_object(v)) {
        const char *type = json_string_value(json_object_get(v, "type"));
        const char *text = json_string_value(json_object_get(v, "text"));
        if (type && text && strcmp(type, "mrkdwn") == 0 && strpbrk(text, "<>"))
            abort();
        const char *key;
        json_t *x;
        json_object_foreach(v, key, x) s_check_mrkdwn(x);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) s_check_mrkdwn(x);
    }
}

static void
s_check(const char *body, bool alert)
{
    if (!kj_utf8_valid(body, strlen(body)))
        abort();
    json_t *root = json_loads(body, 0, NULL);
    json_t *blocks = json_object_get(root, "blocks");
    const char *fallback = json_string_value(json_object_get(root, "text"));
    if (!root || !fallback || json_array_size(blocks) < 3 ||
        strpbrk(fallback, "<>"))
        abort();
    s_check_mrkdwn(blocks);
    const char *head = json_string_value(json_object_get(
        json_object_get(json_array_get(blocks, 0), "text"), "text"));
    const char *sect = json_string_value(json_object_get(
        json_object_get(json_array_get(blocks, 1), "text"), "text"));
    if (!head || !sect || s_chars(head) > NOTIFIER_SLACK_HEADER_MAX ||
        (alert && s_chars(sect) > NOTIFIER_SLACK_SECTION_MAX))
        abort();
    json_decref(root);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kj_envelope_t *env = calloc(1, sizeof *env);
    if (!env)
        abort();
    size_t pos = 0;
    strcpy(env->complaint.id, "0193a5b2c3d4e5f6a7b8");
    /* The original text is a marker that must never leave. */
    strcpy(env->complaint.text, "ORIGINAL-TEXT-MARKER");
    env->has_triage = size % 2 == 0;
    env->has_assignment = size % 3 != 0;
    s_take(data, size, &pos, env->triage.category, 40);
    s_take(data, size, &pos, env->complaint.customer.tier, 20);
    s_take(data, size, &pos, env->complaint.subject, 200);
    s_take(data, size, &pos, env->assignment.case_id,
           sizeof env->assignment.case_id);
    s_take(data, size, &pos, env->triage.masked_text,
           sizeof env->triage.masked_text);
    strcpy(env->assignment.priority, "p2");
    env->assignment.due_at_ms = (int64_t)size * 1000003;
    const notifier_slack_opts_t o = {.case_url = "https://c.example/{case_id}"};
    size_t len = 0;
    char *body = notifier_slack_alert(env, &o, &len);
    if (len != strlen(body))
        abort();
    /* The marker may only come from the input (the masked text). */
    if (strstr(body, "ORIGINAL-TEXT-MARKER") &&
        !s_contains(data, size, "ORIGINAL-TEXT-MARKER"))
        abort();
    s_check(body, true);
    free(body);

    const notifier_slack_job_t job = {
        .kind = size % 2 ? "sla_warning" : "escalation",
        .case_id = env->assignment.case_id,
        .complaint_id = env->complaint.id,
        .team = env->complaint.customer.tier,
        .channel = env->triage.category,
        .language = "",
        .priority = env->triage.category,
        .to = env->complaint.subject,
        .clock = env->complaint.customer.tier,
        .text = env->triage.masked_text,
        .due_at_ms = (int64_t)size * 7919,
    };
    body = notifier_slack_job(&job, &o, &len);
    s_check(body, false);
    free(body);
    free(env);
    return 0;
}
