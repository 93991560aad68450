/* ingest_case_bodies: the JSON bodies of the case and agent endpoints
 * (ingest_cases), parsed and checked strictly like a complaint's: unknown
 * fields, wrong types, out-of-range values and malformed ids are refused
 * with the field named. Pure: no I/O, so it is unit-tested and fuzzed
 * (fuzz_case_bodies). */
#ifndef INGEST_CASE_BODIES_H
#define INGEST_CASE_BODIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest_validate.h"

#define INGEST_TOKEN_MAX 64      /* an agent id, team, language or skill */
#define INGEST_LIST_MAX 64       /* entries of teams, languages, skills */
#define INGEST_TEXT_MAX 4000     /* bytes of an agent's reply or note */
#define INGEST_CAPACITY_MAX 1000 /* open cases one agent may hold */
#define INGEST_AGENT_NAME_MAX 128

/* True if s[len] is 1..INGEST_TOKEN_MAX of [A-Za-z0-9._-]. */
bool
ingest_token_ok(const char *s, size_t len);

/* POST /v1/cases/{id}/events: {"type", "agent", "text"?, "public"?}. The
 * strings point into the parsed document: valid until the clear. */
typedef struct {
    void *doc; /* the parsed JSON (jansson), owned */
    const char *type;
    const char *agent;
    const char *text; /* NULL when absent */
    bool is_public;
} ingest_event_body_t;

/* 0, or -1 with err set (and nothing to clear). */
int
ingest_event_body_parse(const char *body, size_t len, ingest_event_body_t *out,
                        ingest_error_t *err);

void
ingest_event_body_clear(ingest_event_body_t *b);

/* PUT /v1/agents/{id}: {"name"?, "teams", "languages"?, "skills"?,
 * "capacity", "status"?}; the lists come back as compact JSON arrays. */
typedef struct {
    void *doc;                        /* the parsed JSON (jansson), owned */
    const char *name;                 /* NULL when absent */
    const char *status;               /* NULL when absent */
    char *teams, *languages, *skills; /* owned */
    int64_t capacity;
} ingest_agent_body_t;

int
ingest_agent_body_parse(const char *body, size_t len, ingest_agent_body_t *out,
                        ingest_error_t *err);

void
ingest_agent_body_clear(ingest_agent_body_t *b);

/* POST /v1/agents/{id}/status: {"status"}, into status[16]. */
int
ingest_status_body_parse(const char *body, size_t len, char status[16],
                         ingest_error_t *err);

#endif
