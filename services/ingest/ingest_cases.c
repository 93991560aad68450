/* ingest_cases: paths, bodies and answers of the case, agent and customer
 * endpoints (see ingest_cases.h). Bodies are checked strictly, like a
 * complaint's: unknown fields, wrong types, out-of-range values and
 * malformed ids are 400s with the field named. */
#include "ingest_cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kj_assert.h"
#include "kj_playbook.h"
#include "kj_util.h"

#define S_CASES "/v1/cases"
#define S_AGENTS "/v1/agents"
#define S_CUSTOMERS "/v1/customers"
#define S_TOKEN_MAX 64      /* a team, language or skill name */
#define S_LIST_MAX 64       /* entries of teams, languages, skills */
#define S_TEXT_MAX 4000     /* bytes of an agent's reply or note */
#define S_CAPACITY_MAX 1000 /* open cases one agent may hold */
#define S_AGENT_NAME_MAX 128

struct ingest_cases {
    kj_cases_t *cases;     /* borrowed */
    kj_service_t *service; /* borrowed: its current rules, if any */
    int trajectory;        /* from the rules' "cases", else defaults */
    bool requeue;
    int64_t close_ms, survey_cooldown_ms;
    const kj_rules_t *rules; /* the service's now, or NULL */
};

ingest_cases_t *
ingest_cases_new(kj_cases_t *cases, kj_service_t *service)
{
    kj_assert(cases);
    ingest_cases_t *self = kj_calloc(1, sizeof *self);
    self->cases = cases;
    self->service = service;
    return self;
}

/* The rules' case settings now (they change on SIGHUP); without rules
 * their defaults. */
static void
s_settings(ingest_cases_t *self)
{
    const kj_rules_t *rules =
        self->service ? kj_service_rules(self->service) : NULL;
    const kj_rules_cases_t *c = rules ? kj_rules_cases(rules) : NULL;
    self->trajectory = c ? c->trajectory : 10;
    self->requeue = c ? c->offline_requeue : true;
    self->close_ms = c ? c->close_ms : 3 * 86400000LL;
    self->survey_cooldown_ms = c ? c->survey_cooldown_ms : 30 * 86400000LL;
    self->rules = rules;
}

/* The thank-you with the survey link a resolve owes, in the case's
 * language, into out ("" without rules or a template). -1 if Redis
 * failed. */
static int
s_survey_text(ingest_cases_t *self, const char *tenant, const char *id,
              char *out, size_t size)
{
    out[0] = '\0';
    if (!self->rules)
        return 0;
    char lang[16], channel[KJ_SHORT_MAX];
    if (kj_cases_case_fields(self->cases, tenant, id, lang, sizeof lang,
                             channel, sizeof channel) < 0)
        return -1;
    const kj_playbook_input_t in = {.language = lang, .channel = channel};
    const kj_rules_template_t *tpl =
        kj_playbook_choose(self->rules, "survey_request", &in);
    const kj_playbook_vars_t vars = {
        .case_number = id,
        .survey_url = kj_rules_playbook(self->rules)->survey_url,
    };
    if (tpl && kj_playbook_render(tpl, &vars, out, size) < 0)
        out[0] = '\0';
    return 0;
}

void
ingest_cases_destroy(ingest_cases_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

/* An agent id, team, language or skill: 1..64 of [A-Za-z0-9._-]. */
static bool
s_token_ok(const char *s, size_t len)
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

/* A customer id as complaints carry it: 1..128 bytes, no control
 * characters (it becomes part of a Redis key). */
static bool
s_customer_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > KJ_CASES_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static bool
s_prefix(const char *url, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(url, prefix, n) != 0 || (url[n] != '\0' && url[n] != '/'))
        return false;
    *rest = url + n;
    return true;
}

/* "/<id>[/<tail>]" -> id and tail ("" when none); false if there is no
 * id segment or it is too long. */
static bool
s_id_tail(const char *rest, char *id, size_t size, const char **tail)
{
    if (rest[0] != '/' || rest[1] == '\0')
        return false;
    rest++;
    const char *slash = strchr(rest, '/');
    size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
    if (len >= size)
        return false;
    memcpy(id, rest, len);
    id[len] = '\0';
    *tail = slash ? slash : "";
    return true;
}

static void
s_methods(ingest_cases_req_t *out, const char *method, const char *allow)
{
    out->allow = allow;
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (strstr(allow, "PUT") && strcmp(method, "PUT") == 0) {
        out->method_ok = out->body = out->admin = true;
    } else if (strstr(allow, "POST") && strcmp(method, "POST") == 0) {
        out->method_ok = out->body = true;
    } else {
        out->method_ok = get && strstr(allow, "GET") != NULL;
    }
}

bool
ingest_cases_match(const char *url, const char *method, ingest_cases_req_t *out)
{
    memset(out, 0, sizeof *out);
    out->allow = "";
    const char *rest, *tail;
    if (s_prefix(url, S_CASES, &rest)) {
        if (s_id_tail(rest, out->id, sizeof out->id, &tail)) {
            if (!*tail) {
                out->route = INGEST_CASES_CASE;
                s_methods(out, method, "GET, HEAD");
            } else if (strcmp(tail, "/events") == 0) {
                out->route = INGEST_CASES_CASE_EVENTS;
                s_methods(out, method, "POST");
            }
        }
        return true;
    }
    if (s_prefix(url, S_AGENTS, &rest)) {
        if (!*rest) {
            out->route = INGEST_CASES_AGENTS;
            s_methods(out, method, "GET, HEAD");
        } else if (s_id_tail(rest, out->id, sizeof out->id, &tail)) {
            if (!*tail) {
                out->route = INGEST_CASES_AGENT;
                s_methods(out, method, "GET, HEAD, PUT");
            } else if (strcmp(tail, "/status") == 0) {
                out->route = INGEST_CASES_AGENT_STATUS;
                s_methods(out, method, "POST");
            }
        }
        return true;
    }
    if (s_prefix(url, S_CUSTOMERS, &rest)) {
        /* A customer id may hold '/': the rest of the path is the id. */
        if (rest[0] == '/' && rest[1] != '\0' &&
            strlen(rest + 1) < sizeof out->id) {
            kj_strlcpy(out->id, rest + 1, sizeof out->id);
            out->route = INGEST_CASES_CUSTOMER;
            s_methods(out, method, "GET, HEAD");
        }
        return true;
    }
    return false;
}

/* ---- bodies ---------------------------------------------------------- */

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
            !s_token_ok(json_string_value(e), json_string_length(e))) {
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

/* ---- handlers -------------------------------------------------------- */

static int
s_found(int rc, char **json, ingest_error_t *err, kj_rc_t none,
        const char *what, const char *id)
{
    if (rc < 0)
        return -1;
    if (rc == 0) {
        ingest_error_set(err, none, "no %s with id %.128s", what, id);
        return (int)err->status;
    }
    (void)json;
    return 200;
}

static int
s_get_case(ingest_cases_t *self, const char *tenant, const char *id,
           char **json, ingest_error_t *err)
{
    int rc =
        kj_id_valid(id) ? kj_cases_case_json(self->cases, tenant, id, json) : 0;
    return s_found(rc, json, err, KJ_ERR_NO_SUCH_CASE, "case", id);
}

static int
s_get_agent(ingest_cases_t *self, const char *tenant, const char *id,
            char **json, ingest_error_t *err)
{
    int rc = s_token_ok(id, strlen(id))
                 ? kj_cases_agent_json(self->cases, tenant, id, json)
                 : 0;
    return s_found(rc, json, err, KJ_ERR_NO_SUCH_AGENT, "agent", id);
}

/* An event's result as the status and answer (or error). */
static int
s_event_answer(const kj_case_event_t *ev, const char *id, const char *type,
               const char *agent, char **json, ingest_error_t *err)
{
    switch (ev->rc) {
    case KJ_OK:
        break;
    case KJ_ERR_NO_SUCH_CASE:
        ingest_error_set(err, ev->rc, "no case with id %s", id);
        return (int)err->status;
    case KJ_ERR_NO_SUCH_AGENT:
        ingest_error_set(err, ev->rc, "no agent with id %s in this tenant",
                         agent);
        return (int)err->status;
    case KJ_ERR_ILLEGAL_TRANSITION:
        ingest_error_set(err, ev->rc, "a %s case cannot take %s", ev->status,
                         type);
        return (int)err->status;
    case KJ_ERR_AT_CAPACITY:
        ingest_error_set(err, ev->rc,
                         "agent %s holds as many open cases as their "
                         "capacity",
                         agent);
        return (int)err->status;
    default:
        ingest_error_set(err, KJ_ERR_INTERNAL, "the event failed");
        return (int)err->status;
    }
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:s?,s:s}", "case", id, "event", type, "status",
                  ev->status, "assignee", ev->assignee[0] ? ev->assignee : NULL,
                  "priority", ev->priority);
    *json = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!*json)
        abort(); /* allocation failure only: every string is ours */
    return 200;
}

static int
s_event(ingest_cases_t *self, const char *tenant, const char *id,
        const char *body, size_t len, char **json, ingest_error_t *err)
{
    static const char *const fields[] = {"type", "agent", "text", "public",
                                         NULL};
    json_t *root = s_parse(body, len, err);
    if (!root)
        return (int)err->status;
    const char *type, *agent, *text;
    if (s_only(root, fields, err) < 0 ||
        s_string(root, "type", true, 16, &type, err) < 0 ||
        s_string(root, "agent", true, S_TOKEN_MAX, &agent, err) < 0 ||
        s_string(root, "text", false, S_TEXT_MAX, &text, err) < 0)
        goto refused;
    json_t *pub = json_object_get(root, "public");
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
    if (!s_token_ok(agent, strlen(agent))) {
        ingest_error_set(err, KJ_ERR_INVALID_VALUE,
                         "agent must be 1 to %d of A-Z a-z 0-9 . _ -",
                         S_TOKEN_MAX);
        goto refused;
    }
    if (!kj_id_valid(id)) {
        ingest_error_set(err, KJ_ERR_NO_SUCH_CASE, "no case with id %.128s",
                         id);
        goto refused;
    }
    char survey[KJ_REPLY_MAX + 1] = "";
    if (strcmp(type, "resolve") == 0 &&
        s_survey_text(self, tenant, id, survey, sizeof survey) < 0) {
        json_decref(root);
        return -1;
    }
    kj_case_event_t ev = {.tenant = tenant,
                          .case_id = id,
                          .type = type,
                          .agent = agent,
                          .text = text,
                          .is_public = pub && json_is_true(pub),
                          .close_ms = self->close_ms,
                          .survey_text = survey,
                          .survey_cooldown_ms = self->survey_cooldown_ms};
    int rc = kj_cases_event(self->cases, &ev, kj_now_ms());
    int status = rc < 0 ? -1 : s_event_answer(&ev, id, type, agent, json, err);
    /* type and agent belong to root: free it only now. */
    json_decref(root);
    return status;
refused:
    json_decref(root);
    return (int)err->status;
}

static int
s_put_agent(ingest_cases_t *self, const char *tenant, const char *id,
            const char *body, size_t len, char **json, ingest_error_t *err)
{
    static const char *const fields[] = {
        "name", "teams", "languages", "skills", "capacity", "status", NULL};
    if (!s_token_ok(id, strlen(id))) {
        ingest_error_set(err, KJ_ERR_INVALID_VALUE,
                         "an agent id is 1 to %d of A-Z a-z 0-9 . _ -",
                         S_TOKEN_MAX);
        return (int)err->status;
    }
    json_t *root = s_parse(body, len, err);
    if (!root)
        return (int)err->status;
    char *teams = NULL, *langs = NULL, *skills = NULL;
    const char *name, *status;
    int rc;
    if (s_only(root, fields, err) < 0 ||
        s_string(root, "name", false, S_AGENT_NAME_MAX, &name, err) < 0 ||
        s_names(root, "teams", true, &teams, err) < 0 ||
        s_names(root, "languages", false, &langs, err) < 0 ||
        s_names(root, "skills", false, &skills, err) < 0 ||
        s_status_field(root, false, &status, err) < 0) {
        rc = (int)err->status;
        goto out;
    }
    json_t *cap = json_object_get(root, "capacity");
    if (!cap) {
        ingest_error_set(err, KJ_ERR_MISSING_FIELD, "capacity is required");
        rc = (int)err->status;
        goto out;
    }
    if (!json_is_integer(cap) || json_integer_value(cap) < 0 ||
        json_integer_value(cap) > S_CAPACITY_MAX) {
        ingest_error_set(err, KJ_ERR_INVALID_VALUE,
                         "capacity must be an integer from 0 to %d",
                         S_CAPACITY_MAX);
        rc = (int)err->status;
        goto out;
    }
    kj_agent_t a = {.tenant = tenant,
                    .id = id,
                    .name = name ? name : id,
                    .teams = teams,
                    .languages = langs,
                    .skills = skills,
                    .capacity = json_integer_value(cap),
                    .status = status ? status : "online"};
    int created = 0;
    if (kj_cases_agent_put(self->cases, &a, self->requeue, kj_now_ms(),
                           &created) < 0) {
        rc = -1;
        goto out;
    }
    int got = kj_cases_agent_json(self->cases, tenant, id, json);
    rc = got < 0 ? -1 : got == 0 ? 500 : created ? 201 : 200;
    if (got == 0)
        ingest_error_set(err, KJ_ERR_INTERNAL, "the agent vanished");
out:
    free(teams);
    free(langs);
    free(skills);
    json_decref(root);
    return rc;
}

static int
s_agent_status(ingest_cases_t *self, const char *tenant, const char *id,
               const char *body, size_t len, char **json, ingest_error_t *err)
{
    static const char *const fields[] = {"status", NULL};
    json_t *root = s_parse(body, len, err);
    if (!root)
        return (int)err->status;
    const char *status;
    int rc;
    if (s_only(root, fields, err) < 0 ||
        s_status_field(root, true, &status, err) < 0) {
        rc = (int)err->status;
    } else {
        int found = s_token_ok(id, strlen(id))
                        ? kj_cases_agent_status(self->cases, tenant, id, status,
                                                self->requeue, kj_now_ms())
                        : 0;
        rc = s_found(found, json, err, KJ_ERR_NO_SUCH_AGENT, "agent", id);
        if (rc == 200 && kj_cases_agent_json(self->cases, tenant, id, json) < 0)
            rc = -1;
    }
    json_decref(root);
    return rc;
}

int
ingest_cases_handle(ingest_cases_t *self, const ingest_cases_req_t *req,
                    const char *tenant, const char *body, size_t len,
                    char **json, ingest_error_t *err)
{
    *json = NULL;
    s_settings(self);
    const char *id = req->id;
    bool put = req->admin;
    switch (req->route) {
    case INGEST_CASES_CASE:
        return s_get_case(self, tenant, id, json, err);
    case INGEST_CASES_CASE_EVENTS:
        return s_event(self, tenant, id, body, len, json, err);
    case INGEST_CASES_AGENTS:
        return kj_cases_agents_json(self->cases, tenant, json) < 0 ? -1 : 200;
    case INGEST_CASES_AGENT:
        return put ? s_put_agent(self, tenant, id, body, len, json, err)
                   : s_get_agent(self, tenant, id, json, err);
    case INGEST_CASES_AGENT_STATUS:
        return s_agent_status(self, tenant, id, body, len, json, err);
    case INGEST_CASES_CUSTOMER: {
        int rc = s_customer_ok(id)
                     ? kj_cases_customer_json(self->cases, tenant, id,
                                              self->trajectory, json)
                     : 0;
        return s_found(rc, json, err, KJ_ERR_NO_SUCH_CUSTOMER, "customer", id);
    }
    case INGEST_CASES_NONE:
        break;
    }
    ingest_error_set(err, KJ_ERR_NOT_FOUND, "no such resource");
    return (int)err->status;
}
