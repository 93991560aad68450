/* ingest_cases: the case, agent and customer endpoints of the public API
 * over kj_cases (issue 11):
 *
 *   GET  /v1/cases/{id}               the case, its complaints, clocks and
 *                                     timeline
 *   POST /v1/cases/{id}/events        an agent's action: {"type", "agent",
 *                                     "text"?, "public"?}
 *   GET  /v1/agents                   every agent of the tenant
 *   GET  /v1/agents/{id}
 *   PUT  /v1/agents/{id}              {"name", "teams", "languages",
 *                                     "skills", "capacity", "status"}
 *   POST /v1/agents/{id}/status       {"status"}
 *   GET  /v1/customers/{id}           cases, complaints, sentiment
 *                                     trajectory
 *
 * Everything is the caller's tenant's (its API key's; "default" in open
 * mode). Reads need the agents scope, actions too; PUT /v1/agents (the
 * roster) needs admin. ingest_api routes, reads the body and answers;
 * this module matches paths, validates bodies and does the work. */
#ifndef INGEST_CASES_H
#define INGEST_CASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest_validate.h"
#include "kj_cases.h"
#include "kj_rules.h"
#include "kj_service.h"

typedef enum {
    INGEST_CASES_NONE, /* not one of these paths */
    INGEST_CASES_CASE,
    INGEST_CASES_CASE_EVENTS,
    INGEST_CASES_AGENTS,
    INGEST_CASES_AGENT,
    INGEST_CASES_AGENT_STATUS,
    INGEST_CASES_CUSTOMER,
} ingest_cases_route_t;

/* A matched request. */
typedef struct {
    ingest_cases_route_t route;
    char id[KJ_CASES_NAME_MAX + 1]; /* the path's id, "" if none */
    const char *allow;              /* the methods the path takes */
    bool method_ok;                 /* the request's method is one */
    bool body;                      /* the method takes a JSON body */
    bool admin;                     /* needs the admin scope */
} ingest_cases_req_t;

typedef struct ingest_cases ingest_cases_t;

/* cases is borrowed (it uses the API thread's Redis); so is service,
 * whose rules (KUJO_RULES, optional for ingest) give the "cases"
 * settings: how many sentiment scores a customer's view shows, and
 * whether an agent going offline hands their open cases back. NULL
 * service: the defaults. */
ingest_cases_t *
ingest_cases_new(kj_cases_t *cases, kj_service_t *service);

/* Sign a survey token into every survey_request a resolve owes, valid
 * ttl_s, under secret (copied; NULL or "": no token, the link as the
 * rules have it). url_base (KUJO_SURVEY_URL, may be NULL or "") is the
 * survey page the token is appended to, else the rules' playbook
 * survey_url. */
void
ingest_cases_set_survey(ingest_cases_t *self, const char *secret, int64_t ttl_s,
                        const char *url_base);

void
ingest_cases_destroy(ingest_cases_t **self_p);

/* Match url and method. Returns false for paths not under /v1/cases,
 * /v1/agents or /v1/customers; true with out filled otherwise (a path
 * under them that names nothing is route NONE). An id that cannot be one
 * (too long, bad characters, not a case id) is answered 404 later. */
bool
ingest_cases_match(const char *url, const char *method,
                   ingest_cases_req_t *out);

/* Do a complete request for tenant. Returns the HTTP status with *json
 * (caller frees) the answer body, or with err filled for a 4xx/5xx
 * (*json NULL). -1 means storage failed: answer 503. */
int
ingest_cases_handle(ingest_cases_t *self, const ingest_cases_req_t *req,
                    const char *tenant, const char *body, size_t len,
                    char **json, ingest_error_t *err);

#endif
