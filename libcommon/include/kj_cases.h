/* kj_cases: cases, agents and fair assignment in Redis (issue 11).
 *
 * A complaint opens a case or joins its customer's open one; a case
 * waits in its team's queue until an online agent of the team who speaks
 * its language and has its category as a skill has room (open cases held
 * < capacity). The least loaded agent relative to capacity gets it, the
 * one assigned longest ago among equals; when room frees (a resolve, an
 * agent online again, a raised capacity) the oldest waiting case goes
 * first. Every change is one Lua script (libcommon/lua/case_*.lua,
 * agent_*.lua over case_lib.lib.lua, which documents the keys) over one
 * tenant's keys, all under the hash tag {t:<tenant>}: two router copies
 * never push an agent over capacity nor assign a case twice, on Redis
 * Cluster too.
 *
 * Case status: open -> pending (waiting on the customer) -> open (the
 * customer wrote) -> resolved -> closed; a message within reopen_ms of
 * the resolve reopens it. Each change is a timeline entry on the case and
 * an entry on the tenant's stream <prefix>:{t:<tenant>}:events.
 *
 * One kj_cases per thread (it uses the thread's kj_redis). */
#ifndef KJ_CASES_H
#define KJ_CASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kj_envelope.h"
#include "kj_id.h"
#include "kj_rc.h"
#include "kj_redis.h"

#define KJ_CASES_NAME_MAX 128 /* agent ids, customer ids in keys */
#define KJ_CASES_BASE_MAX 256 /* "<prefix>:{t:<tenant>}" */

typedef struct kj_cases kj_cases_t;

/* redis is borrowed; prefix as kj_store's ("kj"). Registers the scripts. */
kj_cases_t *
kj_cases_new(kj_redis_t *redis, const char *prefix);

void
kj_cases_destroy(kj_cases_t **self_p);

/* Write "<prefix>:{t:<tenant>}" into buf. -1 if tenant is empty, holds
 * '{' or '}' (it would end the hash tag early) or it does not fit. */
int
kj_cases_base(const kj_cases_t *self, const char *tenant, char *buf,
              size_t size);

/* A routed complaint to file in a case (the router). */
typedef struct {
    const kj_envelope_t *env; /* in: triage and assignment filled */
    int64_t reopen_ms;        /* a resolved case takes messages this long */
    int64_t retention_s;      /* how long complaint -> case is kept */
    /* The clocks' business hours (kj_hours name, NULL or "": 24/7) and
     * what the router computed in them: the 75 % warnings of the first-
     * response and resolution clocks, and the next-response clock a
     * message after a human reply starts (0: none). */
    const char *hours;
    int64_t fr_warn_ms, res_warn_ms, nr_due_ms, nr_warn_ms;
    /* The playbook: the acknowledgement owed when the message opens a
     * case (NULL: none), the fall of the customer's sentiment score that
     * owes the assignee a follow_up (0: the default 0.5) and its text. */
    const char *ack_text;
    double tone_drop;
    const char *follow_up_text;
    const char *new_case_id; /* the id a new case gets; NULL: a fresh one */
    /* out */
    char case_id[KJ_ID_LEN + 1];
    char assignee[KJ_SHORT_MAX]; /* "" while queued */
    char status[16];
    char how[16]; /* opened, joined, reopened, filed (done before) */
    int result;   /* 1 filed, -1 error (logged) */
} kj_case_route_t;

/* A fresh case id into out. */
void
kj_cases_new_id(kj_cases_t *self, int64_t now_ms, char out[KJ_ID_LEN + 1]);

/* File every item in one pipeline. Returns 0, -1 if Redis could not be
 * reached (results -1), -2 if the connection broke midway (results of
 * unanswered items -1; filing again is safe). */
int
kj_cases_route(kj_cases_t *self, kj_case_route_t *items, size_t n,
               int64_t now_ms);

/* An agent's action (POST /v1/cases/{id}/events); see case_event.lua. */
typedef struct {
    const char *tenant;
    const char *case_id;
    const char *type; /* reply note pending resolve reopen escalate assign */
    const char *agent;
    const char *text; /* may be NULL */
    bool is_public;
    int64_t close_ms; /* resolve: the case closes this much later */
    /* resolve: the survey_request's text (NULL: none) and how long after
     * one the customer gets no other */
    const char *survey_text;
    int64_t survey_cooldown_ms;
    /* resolve: the signed survey token (kj_survey) and the link with it,
     * put in the survey_request's payload (NULL: none) */
    const char *survey_token;
    const char *survey_url;
    /* out: KJ_OK, KJ_ERR_NO_SUCH_CASE, KJ_ERR_NO_SUCH_AGENT,
     * KJ_ERR_ILLEGAL_TRANSITION, KJ_ERR_AT_CAPACITY, KJ_ERR_NOT_IN_TEAM */
    kj_rc_t rc;
    char status[16];
    char assignee[KJ_SHORT_MAX];
    char priority[8];
} kj_case_event_t;

/* 0 (ev->rc says how it went), -1 if Redis failed. */
int
kj_cases_event(kj_cases_t *self, kj_case_event_t *ev, int64_t now_ms);

/* True for the event types kj_cases_event knows. */
bool
kj_cases_event_type_valid(const char *type);

/* An agent as PUT /v1/agents/{id} gives it; lists are JSON arrays of
 * strings (checked by the caller). */
typedef struct {
    const char *tenant;
    const char *id;
    const char *name;
    const char *teams;
    const char *languages;
    const char *skills;
    int64_t capacity;
    const char *status; /* online, away, offline */
} kj_agent_t;

/* True for online, away and offline. */
bool
kj_cases_agent_status_valid(const char *status);

/* Create or replace; requeue: an offline agent's open cases go back to
 * the queue. *created 1 for a new agent. 0, or -1 if Redis failed. */
int
kj_cases_agent_put(kj_cases_t *self, const kj_agent_t *agent, bool requeue,
                   int64_t now_ms, int *created);

/* 1 changed, 0 no such agent, -1 Redis failed. */
int
kj_cases_agent_status(kj_cases_t *self, const char *tenant, const char *id,
                      const char *status, bool requeue, int64_t now_ms);

/* ---- clocks (kj_cases_clocks.c) -------------------------------------
 * Each running clock of a case is a timer in its tenant's due set; the
 * router claims due timers (a lease, like records) and fires each once
 * (see clock_fire.lua for what each timer does). */

typedef enum {
    KJ_TIMER_FR_WARN,
    KJ_TIMER_FR,
    KJ_TIMER_NR_WARN,
    KJ_TIMER_NR,
    KJ_TIMER_RES_WARN,
    KJ_TIMER_RES,
    KJ_TIMER_N /* the clock timers a resume recomputes, in this order */
} kj_timer_t;

typedef struct {
    char tenant[KJ_SHORT_MAX];
    char member[KJ_ID_LEN + 16]; /* "<case>:<timer>" */
    char claimed[24];            /* the score the claim gave it */
    char case_id[KJ_ID_LEN + 1];
    char timer[16]; /* ack fr_warn fr nr_warn nr res_warn res close resume */
    char team[KJ_SHORT_MAX];
    char status[16];
    char priority[8];
    char assignee[KJ_SHORT_MAX];
    char hours[KJ_SHORT_MAX]; /* "" for 24/7 */
    char language[16];
    int64_t paused_ms;
    int64_t due[KJ_TIMER_N]; /* the case's deadlines (0: none) */
} kj_case_timer_t;

/* Claim up to max due timers across every tenant with cases: their
 * scores move to now + lease_ms. Returns how many, or -1 if Redis failed. */
int
kj_cases_clocks_claim(kj_cases_t *self, int64_t now_ms, int64_t lease_ms,
                      kj_case_timer_t *out, size_t max);

/* Fire a claimed timer (not "resume") at now_ms; the deliveries it owes
 * are due at send_ms (the real time; now_ms may carry a test's clock
 * offset; 0: now_ms). chain is the team's escalation
 * chain, comma-separated ("" none); the texts are the rendered warning
 * and escalation messages ("" none). result[16] gets fired, skipped,
 * lost or gone. 0, or -1 if Redis failed (the timer stays claimed and
 * comes back after its lease). */
int
kj_cases_clock_fire(kj_cases_t *self, const kj_case_timer_t *t, int64_t now_ms,
                    int64_t send_ms, const char *chain, const char *warn_text,
                    const char *escalation_text, char result[16]);

/* Finish a claimed "resume" timer with the deadlines recomputed from now
 * (0: leave alone), in kj_timer_t order. 0, or -1 if Redis failed. */
int
kj_cases_clock_resume(kj_cases_t *self, const kj_case_timer_t *t,
                      int64_t now_ms, const int64_t due[KJ_TIMER_N]);

/* A case's language and channel ("" each when there is no such case). 0,
 * or -1 if Redis failed. */
int
kj_cases_case_fields(kj_cases_t *self, const char *tenant, const char *case_id,
                     char *language, size_t language_size, char *channel,
                     size_t channel_size);

/* A case's customer and first complaint ("" each when there is no such
 * case): what a survey token names. 0, or -1 if Redis failed. */
int
kj_cases_case_who(kj_cases_t *self, const char *tenant, const char *case_id,
                  char *customer, size_t customer_size, char *complaint,
                  size_t complaint_size);

/* One survey answer (POST /v1/feedback), from a verified token. */
typedef struct {
    const char *tenant, *case_id, *complaint_id, *customer; /* the token's */
    const char *nonce;  /* the token's single-use key (hex) */
    const char *digest; /* of the request body: tells a repeat */
    const char *kind;   /* "nps" or "csat" */
    int score;          /* nps 0..10, csat 1..5 */
    const char *bucket; /* promoter passive detractor / satisfied ... */
    const char *day;    /* "YYYY-MM-DD" (UTC) it is counted under */
    int64_t ttl_s;      /* keep the used mark this long (token's life) */
    bool has_comment;
    /* out: KJ_OK (recorded now), KJ_ERR_TOKEN_USED, or KJ_ERR_STALE for
     * a repeat of the recorded body; and when it was first recorded. */
    kj_rc_t rc;
    int64_t at_ms;
} kj_case_feedback_t;

/* Record fb once, atomically (feedback_record.lua): mark the nonce used,
 * the case's timeline, the customer's view, the survey counters. 0 with
 * fb->rc set, or -1 if Redis failed (nothing or all was written). */
int
kj_cases_feedback(kj_cases_t *self, kj_case_feedback_t *fb, int64_t now_ms);

/* ---- JSON views for the API (kj_cases_read.c) -----------------------
 * Each returns 1 with *json (caller frees) set, 0 if there is no such
 * thing, -1 if Redis failed. */

/* {id, status, assignee, team, customer, priority, language, category,
 *  channel, public, complaints: [ids], clocks: {...}, timeline: [...],
 *  created_at, updated_at, ...} */
int
kj_cases_case_json(kj_cases_t *self, const char *tenant, const char *case_id,
                   char **json);

/* {id, name, teams, languages, skills, capacity, status, load, cases} */
int
kj_cases_agent_json(kj_cases_t *self, const char *tenant, const char *id,
                    char **json);

/* {agents: [...]}, sorted by id; always 1 (an empty list) or -1. */
int
kj_cases_agents_json(kj_cases_t *self, const char *tenant, char **json);

/* {id, first_at, last_at, cases: [{id, status, ...}], complaints: [{id,
 *  case, at, sentiment, score}], trajectory: [scores, oldest first]}
 * with at most trajectory scores. */
int
kj_cases_customer_json(kj_cases_t *self, const char *tenant,
                       const char *customer, int trajectory, char **json);

#endif
