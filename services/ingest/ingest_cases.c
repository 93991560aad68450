/* ingest_cases: paths and answers of the case, agent and customer
 * endpoints (see ingest_cases.h); their bodies are ingest_case_bodies'. */
#include "ingest_cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kj_assert.h"
#include "ingest_case_bodies.h"
#include "kj_playbook.h"
#include "kj_survey.h"
#include "kj_time.h"
#include "kj_util.h"

#define S_CASES "/v1/cases"
#define S_AGENTS "/v1/agents"
#define S_CUSTOMERS "/v1/customers"

struct ingest_cases {
    kj_cases_t *cases;     /* borrowed */
    kj_service_t *service; /* borrowed: its current rules, if any */
    int trajectory;        /* from the rules' "cases", else defaults */
    bool requeue;
    int64_t close_ms, survey_cooldown_ms;
    const kj_rules_t *rules; /* the service's now, or NULL */
    char *survey_secret;     /* signs survey tokens; NULL: none */
    int64_t survey_ttl_s;    /* a token's life */
    char *survey_url;        /* KUJO_SURVEY_URL; NULL: the rules' */
};

/* A resolve's survey link: the token and the URL carrying it. */
typedef struct {
    char token[KJ_SURVEY_TOKEN_MAX + 1];
    char url[KJ_URL_MAX + KJ_SURVEY_TOKEN_MAX + 16];
} s_survey_link_t;

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

void
ingest_cases_set_survey(ingest_cases_t *self, const char *secret, int64_t ttl_s,
                        const char *url_base)
{
    free(self->survey_secret);
    free(self->survey_url);
    self->survey_secret = secret && *secret ? kj_strdup(secret) : NULL;
    self->survey_url = url_base && *url_base ? kj_strdup(url_base) : NULL;
    self->survey_ttl_s = ttl_s > 0 ? ttl_s : 30 * 86400;
}

/* Sign the token a resolve's survey carries and the link with it (both
 * "" without a secret, or for a case with no first complaint). -1 if
 * Redis failed. */
static int
s_survey_link(ingest_cases_t *self, const char *tenant, const char *id,
              s_survey_link_t *link)
{
    link->token[0] = link->url[0] = '\0';
    if (!self->survey_secret)
        return 0;
    kj_survey_claims_t c;
    memset(&c, 0, sizeof c);
    if (kj_cases_case_who(self->cases, tenant, id, c.customer,
                          sizeof c.customer, c.complaint_id,
                          sizeof c.complaint_id) < 0)
        return -1;
    kj_strlcpy(c.tenant, tenant, sizeof c.tenant);
    kj_strlcpy(c.case_id, id, sizeof c.case_id);
    c.expires_s = kj_now_ms() / 1000 + self->survey_ttl_s;
    if (!kj_id_valid(c.complaint_id) ||
        kj_survey_token_new(self->survey_secret, strlen(self->survey_secret),
                            &c, link->token, sizeof link->token) < 0) {
        link->token[0] = '\0';
        return 0;
    }
    const char *base =
        self->survey_url
            ? self->survey_url
            : (self->rules ? kj_rules_playbook(self->rules)->survey_url : NULL);
    if (base &&
        kj_survey_url(base, link->token, link->url, sizeof link->url) < 0)
        link->url[0] = '\0';
    return 0;
}

/* The thank-you with the survey link a resolve owes, in the case's
 * language, into out ("" without rules or a template); the link carries
 * the signed token when there is one. -1 if Redis failed. */
static int
s_survey_text(ingest_cases_t *self, const char *tenant, const char *id,
              const s_survey_link_t *link, char *out, size_t size)
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
        .survey_url = link->url[0] ? link->url
                                   : kj_rules_playbook(self->rules)->survey_url,
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
    free((*self_p)->survey_secret);
    free((*self_p)->survey_url);
    free(*self_p);
    *self_p = NULL;
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
    int rc = ingest_token_ok(id, strlen(id))
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
    case KJ_ERR_NOT_IN_TEAM:
        ingest_error_set(err, ev->rc,
                         "agent %s is not in the case's team; add them to "
                         "it first (PUT /v1/agents/%s)",
                         agent, agent);
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
    ingest_event_body_t b;
    if (ingest_event_body_parse(body, len, &b, err) < 0)
        return (int)err->status;
    int status;
    char survey[KJ_REPLY_MAX + 1] = "";
    s_survey_link_t link = {.token = "", .url = ""};
    if (!kj_id_valid(id)) {
        ingest_error_set(err, KJ_ERR_NO_SUCH_CASE, "no case with id %.128s",
                         id);
        status = (int)err->status;
    } else if (strcmp(b.type, "resolve") == 0 &&
               (s_survey_link(self, tenant, id, &link) < 0 ||
                s_survey_text(self, tenant, id, &link, survey, sizeof survey) <
                    0)) {
        status = -1;
    } else {
        kj_case_event_t ev = {.tenant = tenant,
                              .case_id = id,
                              .type = b.type,
                              .agent = b.agent,
                              .text = b.text,
                              .is_public = b.is_public,
                              .close_ms = self->close_ms,
                              .survey_text = survey,
                              .survey_cooldown_ms = self->survey_cooldown_ms,
                              .survey_token = link.token,
                              .survey_url = link.url};
        status = kj_cases_event(self->cases, &ev, kj_now_ms()) < 0
                     ? -1
                     : s_event_answer(&ev, id, b.type, b.agent, json, err);
    }
    /* type and agent belong to the parsed body: cleared only now. */
    ingest_event_body_clear(&b);
    return status;
}

static int
s_put_agent(ingest_cases_t *self, const char *tenant, const char *id,
            const char *body, size_t len, char **json, ingest_error_t *err)
{
    if (!ingest_token_ok(id, strlen(id))) {
        ingest_error_set(err, KJ_ERR_INVALID_VALUE,
                         "an agent id is 1 to %d of A-Z a-z 0-9 . _ -",
                         INGEST_TOKEN_MAX);
        return (int)err->status;
    }
    ingest_agent_body_t b;
    if (ingest_agent_body_parse(body, len, &b, err) < 0)
        return (int)err->status;
    kj_agent_t a = {.tenant = tenant,
                    .id = id,
                    .name = b.name ? b.name : id,
                    .teams = b.teams,
                    .languages = b.languages,
                    .skills = b.skills,
                    .capacity = b.capacity,
                    .status = b.status ? b.status : "online"};
    int created = 0;
    int rc = -1;
    if (kj_cases_agent_put(self->cases, &a, self->requeue, kj_now_ms(),
                           &created) == 0) {
        int got = kj_cases_agent_json(self->cases, tenant, id, json);
        rc = got < 0 ? -1 : got == 0 ? 500 : created ? 201 : 200;
        if (got == 0)
            ingest_error_set(err, KJ_ERR_INTERNAL, "the agent vanished");
    }
    ingest_agent_body_clear(&b);
    return rc;
}

static int
s_agent_status(ingest_cases_t *self, const char *tenant, const char *id,
               const char *body, size_t len, char **json, ingest_error_t *err)
{
    char status[16];
    if (ingest_status_body_parse(body, len, status, err) < 0)
        return (int)err->status;
    int found = ingest_token_ok(id, strlen(id))
                    ? kj_cases_agent_status(self->cases, tenant, id, status,
                                            self->requeue, kj_now_ms())
                    : 0;
    int rc = s_found(found, json, err, KJ_ERR_NO_SUCH_AGENT, "agent", id);
    if (rc == 200 && kj_cases_agent_json(self->cases, tenant, id, json) < 0)
        rc = -1;
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
