/* ingest_case_bodies: the case and agent endpoints' bodies (see
 * ingest_case_bodies.h). */
#include "ingest_case_bodies.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kj_cases.h"
#include "kj_util.h"

#define S_TOKEN_MAX INGEST_TOKEN_MAX
#define S_LIST_MAX INGEST_LIST_MAX

/* An agent id, team, language or skill: 1..64 of [A-Za-z0-9._-]. */
bool
ingest_token_ok(const char *s, size_t len)
{
    if (len == 0 || len > S_TOKEN_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static json_t *
s_parse(const char *body, size_t len, ingest_error_t *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        ingest_error_set(err, KJ_ERR_INVALID_JSON,
                         "the body is not valid JSON: %s at line %d column %d",
                         jerr.text, jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        ingest_error_set(err, KJ_ERR_WRONG_TYPE,
                         "the body must be a JSON object");
        json_decref(root);
        return NULL;
    }
    return root;
}

/* Every key of root is one of allowed (NULL-terminated). */
static int
s_only(json_t *root, const char *const *allowed, ingest_error_t *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok) {
            ingest_error_set(err, KJ_ERR_UNKNOWN_FIELD, "unknown field %.64s",
                             key);
            return -1;
        }
    }
    return 0;
}

/* A required (or optional, *out stays NULL) string of 1..max bytes. */
static int
s_string(json_t *root, const char *field, bool required, size_t max,
         const char **out, ingest_error_t *err)
{
    json_t *v = json_object_get(root, field);
    *out = NULL;
    if (!v) {
        if (!required)
            return 0;
        ingest_error_set(err, KJ_ERR_MISSING_FIELD, "%s is required", field);
        return -1;
    }
    if (!json_is_string(v)) {
        ingest_error_set(err, KJ_ERR_WRONG_TYPE, "%s must be a string", field);
        return -1;
    }
    size_t len = json_string_length(v);
    if (len == 0 || len > max) {
        ingest_error_set(err, KJ_ERR_FIELD_TOO_LONG,
                         "%s must be 1 to %zu bytes", field, max);
        return -1;
    }
    if (strlen(json_string_value(v)) != len) {
        ingest_error_set(err, KJ_ERR_INVALID_VALUE, "%s must not contain NUL",
                         field);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* A list of names ([A-Za-z0-9._-], at most S_LIST_MAX, no repeats) as
 * compact JSON into *out (caller frees); [] when absent and optional. */
static int
s_names(json_t *root, const char *field, bool required, char **out,
        ingest_error_t *err)
{
    json_t *v = json_object_get(root, field);
    *out = NULL;
    if (!v && !required) {
        *out = kj_strdup("[]");
        return 0;
    }
    if (!v) {
        ingest_error_set(err, KJ_ERR_MISSING_FIELD, "%s is required", field);
        return -1;
    }
    if (!json_is_array(v) || json_array_size(v) > S_LIST_MAX) {
        ingest_error_set(err, KJ_ERR_WRONG_TYPE,
                         "%s must be an array of at most %d names", field,
                         S_LIST_MAX);
        return -1;
    }
    if (required && json_array_size(v) == 0) {
        ingest_error_set(err, KJ_ERR_INVALID_VALUE, "%s must name at least one",
                         field);
        return -1;
    }
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e) ||
            !ingest_token_ok(json_string_value(e), json_string_length(e))) {
            ingest_error_set(err, KJ_ERR_INVALID_VALUE,
                             "%s[%zu] must be 1 to %d of A-Z a-z 0-9 . _ -",
                             field, i, S_TOKEN_MAX);
            return -1;
        }
        for (size_t k = 0; k < i; k++)
            if (json_equal(json_array_get(v, k), e)) {
                ingest_error_set(err, KJ_ERR_INVALID_VALUE,
                                 "%s[%zu] repeats %s", field, i,
                                 json_string_value(e));
                return -1;
            }
    }
    *out = json_dumps(v, JSON_COMPACT);
    if (!*out)
        abort(); /* allocation failure only */
    return 0;
}

static int
s_status_field(json_t *root, bool required, const char **out,
               ingest_error_t *err)
{
    if (s_string(root, "status", required, 16, out, err) < 0)
        return -1;
    if (*out && !kj_cases_agent_status_valid(*out)) {
        ingest_error_set(err, KJ_ERR_INVALID_VALUE,
                         "status must be online, away or offline");
        return -1;
    }
    return 0;
}

int
ingest_event_body_parse(const char *body, size_t len, ingest_event_body_t *out,
                        ingest_error_t *err)
{
    static const char *const fields[] = {"type", "agent", "text", "public",
                                         NULL};
    memset(out, 0, sizeof *out);
    json_t *root = s_parse(body, len, err);
    if (!root)
        return -1;
    const char *type, *agent, *text;
    json_t *pub = NULL;
    if (s_only(root, fields, err) < 0 ||
        s_string(root, "type", true, 16, &type, err) < 0 ||
        s_string(root, "agent", true, S_TOKEN_MAX, &agent, err) < 0 ||
        s_string(root, "text", false, INGEST_TEXT_MAX, &text, err) < 0)
        goto refused;
    pub = json_object_get(root, "public");
    if (pub && !json_is_boolean(pub)) {
        ingest_error_set(err, KJ_ERR_WRONG_TYPE, "public must be a boolean");
        goto refused;
    }
    if (!kj_cases_event_type_valid(type)) {
        ingest_error_set(err, KJ_ERR_INVALID_VALUE,
                         "type must be one of reply, note, pending, resolve, "
                         "reopen, escalate, assign");
        goto refused;
    }
    if (!ingest_token_ok(agent, strlen(agent))) {
        ingest_error_set(err, KJ_ERR_INVALID_VALUE,
                         "agent must be 1 to %d of A-Z a-z 0-9 . _ -",
                         S_TOKEN_MAX);
        goto refused;
    }
    *out = (ingest_event_body_t){.doc = root,
                                 .type = type,
                                 .agent = agent,
                                 .text = text,
                                 .is_public = pub && json_is_true(pub)};
    return 0;
refused:
    json_decref(root);
    return -1;
}

void
ingest_event_body_clear(ingest_event_body_t *b)
{
    json_decref(b->doc);
    memset(b, 0, sizeof *b);
}

int
ingest_agent_body_parse(const char *body, size_t len, ingest_agent_body_t *out,
                        ingest_error_t *err)
{
    static const char *const fields[] = {
        "name", "teams", "languages", "skills", "capacity", "status", NULL};
    memset(out, 0, sizeof *out);
    json_t *root = s_parse(body, len, err);
    if (!root)
        return -1;
    out->doc = root;
    if (s_only(root, fields, err) < 0 ||
        s_string(root, "name", false, INGEST_AGENT_NAME_MAX, &out->name, err) <
            0 ||
        s_names(root, "teams", true, &out->teams, err) < 0 ||
        s_names(root, "languages", false, &out->languages, err) < 0 ||
        s_names(root, "skills", false, &out->skills, err) < 0 ||
        s_status_field(root, false, &out->status, err) < 0)
        goto refused;
    json_t *cap = json_object_get(root, "capacity");
    if (!cap) {
        ingest_error_set(err, KJ_ERR_MISSING_FIELD, "capacity is required");
        goto refused;
    }
    if (!json_is_integer(cap) || json_integer_value(cap) < 0 ||
        json_integer_value(cap) > INGEST_CAPACITY_MAX) {
        ingest_error_set(err, KJ_ERR_INVALID_VALUE,
                         "capacity must be an integer from 0 to %d",
                         INGEST_CAPACITY_MAX);
        goto refused;
    }
    out->capacity = json_integer_value(cap);
    return 0;
refused:
    ingest_agent_body_clear(out);
    return -1;
}

void
ingest_agent_body_clear(ingest_agent_body_t *b)
{
    free(b->teams);
    free(b->languages);
    free(b->skills);
    json_decref(b->doc);
    memset(b, 0, sizeof *b);
}

int
ingest_status_body_parse(const char *body, size_t len, char status[16],
                         ingest_error_t *err)
{
    static const char *const fields[] = {"status", NULL};
    status[0] = '\0';
    json_t *root = s_parse(body, len, err);
    if (!root)
        return -1;
    const char *s = NULL;
    int rc =
        s_only(root, fields, err) < 0 || s_status_field(root, true, &s, err) < 0
            ? -1
            : 0;
    if (rc == 0)
        kj_strlcpy(status, s, 16);
    json_decref(root);
    return rc;
}
