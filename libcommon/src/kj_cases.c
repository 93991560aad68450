/* kj_cases: the write side of cases and agents (see kj_cases.h). Each
 * operation is one Lua script; the router's filing is one pipeline for a
 * whole batch. The read side (JSON views) is kj_cases_read.c. */
#include "kj_cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_assert.h"
#include "kj_cases_internal.h"
#include "kj_log.h"
#include "kj_lua.h"
#include "kj_util.h"

#define S_ROUTE_ARGS 29 /* ARGV of case_route.lua */

/* One case_route call being built: its strings live here until the
 * pipeline is read. */
typedef struct s_route_call {
    char key[KJ_CASES_BASE_MAX + 8 + KJ_ID_LEN];
    char base[KJ_CASES_BASE_MAX];
    char new_id[KJ_ID_LEN + 1];
    char nums[12][24]; /* now reopen score ack fr res retention fr_warn
                          res_warn nr nr_warn tone_drop */
    char refs[KJ_MAX_REFS * KJ_REF_MAX]; /* the references, one a line */
    const char *argv[1 + S_ROUTE_ARGS];
} s_route_call_t;

kj_cases_t *
kj_cases_new(kj_redis_t *redis, const char *prefix)
{
    kj_assert(redis);
    kj_cases_t *self = kj_calloc(1, sizeof *self);
    self->redis = redis;
    kj_strlcpy(self->prefix, prefix ? prefix : "kj", sizeof self->prefix);
    self->rng = kj_seed();
    self->s_route = kj_redis_script_add(redis, kj_lua_case_route);
    self->s_event = kj_redis_script_add(redis, kj_lua_case_event);
    self->s_agent_put = kj_redis_script_add(redis, kj_lua_agent_put);
    self->s_agent_status = kj_redis_script_add(redis, kj_lua_agent_status);
    self->s_claim = kj_redis_script_add(redis, kj_lua_clock_claim);
    self->s_fire = kj_redis_script_add(redis, kj_lua_clock_fire);
    self->s_resume = kj_redis_script_add(redis, kj_lua_clock_resume);
    self->s_feedback = kj_redis_script_add(redis, kj_lua_feedback_record);
    return self;
}

void
kj_cases_destroy(kj_cases_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kj_cases_t *self = *self_p;
    free(self->route_calls);
    free(self->evals);
    free(self->of);
    free(self);
    *self_p = NULL;
}

void
kj_cases_new_id(kj_cases_t *self, int64_t now_ms, char out[KJ_ID_LEN + 1])
{
    kj_id_new(out, now_ms, -1, &self->rng);
}

int
kj_cases_base(const kj_cases_t *self, const char *tenant, char *buf,
              size_t size)
{
    buf[0] = '\0';
    if (!tenant || !*tenant || strpbrk(tenant, "{}"))
        return -1;
    int n = snprintf(buf, size, "%s:{t:%s}", self->prefix, tenant);
    if (n < 0 || (size_t)n >= size) {
        buf[0] = '\0';
        return -1;
    }
    return n;
}

int
kj_cases_key(const kj_cases_t *self, const char *tenant, const char *what,
             const char *name, char *buf, size_t size)
{
    char base[KJ_CASES_BASE_MAX];
    if (kj_cases_base(self, tenant, base, sizeof base) < 0)
        return -1;
    if (name && (!*name || strlen(name) > KJ_CASES_NAME_MAX))
        return -1;
    int n = name ? snprintf(buf, size, "%s:%s:%s", base, what, name)
                 : snprintf(buf, size, "%s:%s", base, what);
    return n < 0 || (size_t)n >= size ? -1 : n;
}

static void
s_grow(kj_cases_t *self, size_t n)
{
    if (n <= self->cap)
        return;
    self->route_calls =
        kj_realloc(self->route_calls, n * sizeof *self->route_calls);
    self->evals = kj_realloc(self->evals, n * sizeof *self->evals);
    self->of = kj_realloc(self->of, n * sizeof *self->of);
    self->cap = n;
}

static void
s_fmt(char *buf, long long v)
{
    snprintf(buf, 24, "%lld", v);
}

/* Build item's call; -1 (item answered) if its tenant or customer cannot
 * make a key. */
static int
s_route_prepare(kj_cases_t *self, kj_case_route_t *it, s_route_call_t *c,
                kj_redis_eval_t *e, int64_t now_ms)
{
    const kj_envelope_t *env = it->env;
    const kj_complaint_t *co = &env->complaint;
    const kj_triage_t *t = &env->triage;
    const kj_assignment_t *a = &env->assignment;
    if (kj_cases_base(self, co->tenant, c->base, sizeof c->base) < 0 ||
        strlen(co->customer.id) > KJ_CASES_NAME_MAX) {
        kj_warn("complaint not filed in a case: tenant or customer id "
                "cannot name a key",
                "s:id", co->id);
        return -1;
    }
    snprintf(c->key, sizeof c->key, "%s:cc:%s", c->base, co->id);
    if (it->new_case_id && kj_id_valid(it->new_case_id))
        kj_strlcpy(c->new_id, it->new_case_id, sizeof c->new_id);
    else
        kj_id_new(c->new_id, now_ms, -1, &self->rng);
    s_fmt(c->nums[0], now_ms);
    s_fmt(c->nums[1], it->reopen_ms);
    snprintf(c->nums[2], 24, "%.4f", (double)t->sentiment_score);
    s_fmt(c->nums[3], a->ack_due_at_ms);
    s_fmt(c->nums[4], a->due_at_ms);
    s_fmt(c->nums[5], a->resolve_due_at_ms);
    s_fmt(c->nums[6], it->retention_s > 0 ? it->retention_s : 30 * 86400);
    s_fmt(c->nums[7], it->fr_warn_ms);
    s_fmt(c->nums[8], it->res_warn_ms);
    s_fmt(c->nums[9], it->nr_due_ms);
    s_fmt(c->nums[10], it->nr_warn_ms);
    snprintf(c->nums[11], 24, "%.4f", it->tone_drop > 0 ? it->tone_drop : 0.5);
    /* The thread: the messages it answers, one a line (ingest refused
     * control characters in references, so a newline cannot be in one). */
    size_t at = 0;
    c->refs[0] = '\0';
    for (size_t i = 0; i < co->n_references && i < KJ_MAX_REFS; i++)
        at += (size_t)snprintf(c->refs + at, sizeof c->refs - at, "%s%s",
                               at ? "\n" : "", co->references[i]);
    const char *argv[] = {c->key,
                          c->base,
                          co->id,
                          c->new_id,
                          co->customer.id,
                          c->nums[0],
                          c->nums[1],
                          a->team,
                          t->language,
                          t->category,
                          a->priority,
                          co->channel,
                          co->is_public ? "1" : "0",
                          t->sentiment,
                          c->nums[2],
                          c->nums[3],
                          c->nums[4],
                          c->nums[5],
                          c->nums[6],
                          it->hours ? it->hours : "",
                          c->nums[7],
                          c->nums[8],
                          c->nums[9],
                          c->nums[10],
                          co->tenant,
                          it->ack_text ? it->ack_text : "",
                          c->nums[11],
                          it->follow_up_text ? it->follow_up_text : "",
                          c->refs,
                          co->external_id};
    _Static_assert(KJ_ARRAY_LEN(argv) == 1 + S_ROUTE_ARGS, "case_route ARGV");
    memcpy(c->argv, argv, sizeof argv);
    *e = (kj_redis_eval_t){
        .nkeys = 1, .argc = 1 + S_ROUTE_ARGS, .argv = c->argv};
    return 0;
}

/* A string element of an array reply into dst. */
static void
s_elem(const redisReply *rep, size_t i, char *dst, size_t size)
{
    dst[0] = '\0';
    if (i < rep->elements && rep->element[i]->type == REDIS_REPLY_STRING)
        kj_strlcpy(dst, rep->element[i]->str, size);
}

static bool
s_array_of(const redisReply *rep, size_t n)
{
    return rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == n;
}

static void
s_script_failed(const char *op, const redisReply *rep)
{
    kj_error("redis script failed", "s:op", op, "s:error",
             rep && rep->type == REDIS_REPLY_ERROR ? rep->str
                                                   : "unexpected reply");
}

/* Put tenant in <prefix>:tenants (the set the clock and outbox sweeps
 * walk) unless this process did already. -1 if Redis failed. */
static int
s_know_tenant(kj_cases_t *self, const char *tenant)
{
    for (size_t i = 0; i < self->n_known; i++)
        if (strcmp(self->known[i], tenant) == 0)
            return 0;
    redisReply *r = kj_redis_command(self->redis, "SADD %s:tenants %s",
                                     self->prefix, tenant);
    if (!r)
        return -1;
    bool ok = r->type == REDIS_REPLY_INTEGER;
    freeReplyObject(r);
    if (!ok)
        return -1;
    if (self->n_known < KJ_ARRAY_LEN(self->known))
        kj_strlcpy(self->known[self->n_known++], tenant, sizeof self->known[0]);
    return 0;
}

int
kj_cases_route(kj_cases_t *self, kj_case_route_t *items, size_t n,
               int64_t now_ms)
{
    s_grow(self, n);
    size_t m = 0;
    size_t *of = self->of;
    for (size_t i = 0; i < n; i++) {
        items[i].result = -1;
        items[i].case_id[0] = items[i].assignee[0] = '\0';
        if (s_route_prepare(self, &items[i], &self->route_calls[m],
                            &self->evals[m], now_ms) == 0)
            of[m++] = i;
    }
    /* Before any case exists for it, so no timer is ever unswept. */
    for (size_t k = 0; k < m; k++)
        if (s_know_tenant(self, items[of[k]].env->complaint.tenant) != 0)
            return -1;
    int rc =
        m ? kj_redis_eval_batch(self->redis, self->s_route, self->evals, m) : 0;
    for (size_t k = 0; rc != -1 && k < m; k++) {
        const redisReply *rep = self->evals[k].reply;
        kj_case_route_t *it = &items[of[k]];
        if (!rep)
            continue;
        if (!s_array_of(rep, 4)) {
            s_script_failed("case_route", rep);
            continue;
        }
        s_elem(rep, 0, it->case_id, sizeof it->case_id);
        s_elem(rep, 1, it->assignee, sizeof it->assignee);
        s_elem(rep, 2, it->status, sizeof it->status);
        s_elem(rep, 3, it->how, sizeof it->how);
        it->result = kj_id_valid(it->case_id) ? 1 : -1;
    }
    if (m)
        kj_redis_eval_clear(self->evals, m);
    return rc;
}

static const char *const s_event_types[] = {
    "reply", "note", "pending", "resolve", "reopen", "escalate", "assign"};

bool
kj_cases_event_type_valid(const char *type)
{
    for (size_t i = 0; type && i < KJ_ARRAY_LEN(s_event_types); i++)
        if (strcmp(type, s_event_types[i]) == 0)
            return true;
    return false;
}

bool
kj_cases_agent_status_valid(const char *status)
{
    return status &&
           (strcmp(status, "online") == 0 || strcmp(status, "away") == 0 ||
            strcmp(status, "offline") == 0);
}

/* One script call; the reply, or NULL (logged) if Redis failed. */
static redisReply *
s_eval_one(kj_cases_t *self, int script, int argc, const char **argv)
{
    kj_redis_eval_t e = {.nkeys = 1, .argc = argc, .argv = argv};
    if (kj_redis_eval_batch(self->redis, script, &e, 1) != 0) {
        kj_redis_eval_clear(&e, 1);
        return NULL;
    }
    return e.reply;
}

static kj_rc_t
s_event_code(const char *code)
{
    static const struct {
        const char *code;
        kj_rc_t rc;
    } map[] = {
        {"ok", KJ_OK},
        {"no_such_case", KJ_ERR_NO_SUCH_CASE},
        {"no_such_agent", KJ_ERR_NO_SUCH_AGENT},
        {"illegal_transition", KJ_ERR_ILLEGAL_TRANSITION},
        {"at_capacity", KJ_ERR_AT_CAPACITY},
        {"not_in_team", KJ_ERR_NOT_IN_TEAM},
    };
    for (size_t i = 0; i < KJ_ARRAY_LEN(map); i++)
        if (strcmp(code, map[i].code) == 0)
            return map[i].rc;
    return KJ_ERR_INTERNAL;
}

int
kj_cases_event(kj_cases_t *self, kj_case_event_t *ev, int64_t now_ms)
{
    char base[KJ_CASES_BASE_MAX], key[KJ_CASES_BASE_MAX + 32], now[24];
    ev->status[0] = ev->assignee[0] = ev->priority[0] = '\0';
    if (!kj_id_valid(ev->case_id) ||
        kj_cases_base(self, ev->tenant, base, sizeof base) < 0) {
        ev->rc = KJ_ERR_NO_SUCH_CASE;
        return 0;
    }
    if (!ev->agent || !*ev->agent || strlen(ev->agent) > KJ_CASES_NAME_MAX) {
        ev->rc = KJ_ERR_NO_SUCH_AGENT;
        return 0;
    }
    snprintf(key, sizeof key, "%s:case:%s", base, ev->case_id);
    s_fmt(now, now_ms);
    char close[24], cooldown[24];
    s_fmt(close, ev->close_ms > 0 ? ev->close_ms : 3 * 86400000LL);
    s_fmt(cooldown, ev->survey_cooldown_ms > 0 ? ev->survey_cooldown_ms
                                               : 30 * 86400000LL);
    const char *argv[] = {key,
                          base,
                          ev->case_id,
                          ev->type,
                          ev->agent,
                          now,
                          ev->is_public ? "1" : "0",
                          ev->text ? ev->text : "",
                          close,
                          ev->tenant,
                          ev->survey_text ? ev->survey_text : "",
                          cooldown,
                          ev->survey_token ? ev->survey_token : "",
                          ev->survey_url ? ev->survey_url : ""};
    redisReply *rep =
        s_eval_one(self, self->s_event, (int)KJ_ARRAY_LEN(argv), argv);
    if (!rep)
        return -1;
    int rc = -1;
    if (s_array_of(rep, 4) && rep->element[0]->type == REDIS_REPLY_STRING) {
        ev->rc = s_event_code(rep->element[0]->str);
        s_elem(rep, 1, ev->status, sizeof ev->status);
        s_elem(rep, 2, ev->assignee, sizeof ev->assignee);
        s_elem(rep, 3, ev->priority, sizeof ev->priority);
        rc = 0;
    } else {
        s_script_failed("case_event", rep);
    }
    freeReplyObject(rep);
    return rc;
}

int
kj_cases_agent_put(kj_cases_t *self, const kj_agent_t *agent, bool requeue,
                   int64_t now_ms, int *created)
{
    char key[KJ_CASES_BASE_MAX + KJ_CASES_NAME_MAX + 16];
    char base[KJ_CASES_BASE_MAX], now[24], cap[24];
    if (kj_cases_base(self, agent->tenant, base, sizeof base) < 0 ||
        kj_cases_key(self, agent->tenant, "agent", agent->id, key, sizeof key) <
            0)
        return -1;
    s_fmt(now, now_ms);
    s_fmt(cap, agent->capacity);
    const char *argv[] = {key,
                          base,
                          agent->id,
                          now,
                          agent->name ? agent->name : "",
                          agent->teams,
                          agent->languages,
                          agent->skills,
                          cap,
                          agent->status,
                          requeue ? "1" : "0"};
    redisReply *rep =
        s_eval_one(self, self->s_agent_put, (int)KJ_ARRAY_LEN(argv), argv);
    if (!rep)
        return -1;
    int rc = -1;
    if (s_array_of(rep, 3) && rep->element[0]->type == REDIS_REPLY_INTEGER) {
        if (created)
            *created = (int)rep->element[0]->integer;
        rc = 0;
    } else {
        s_script_failed("agent_put", rep);
    }
    freeReplyObject(rep);
    return rc;
}

int
kj_cases_agent_status(kj_cases_t *self, const char *tenant, const char *id,
                      const char *status, bool requeue, int64_t now_ms)
{
    char key[KJ_CASES_BASE_MAX + KJ_CASES_NAME_MAX + 16];
    char base[KJ_CASES_BASE_MAX], now[24];
    if (kj_cases_base(self, tenant, base, sizeof base) < 0)
        return -1;
    if (kj_cases_key(self, tenant, "agent", id, key, sizeof key) < 0)
        return 0;
    s_fmt(now, now_ms);
    const char *argv[] = {key, base, id, status, now, requeue ? "1" : "0"};
    redisReply *rep =
        s_eval_one(self, self->s_agent_status, (int)KJ_ARRAY_LEN(argv), argv);
    if (!rep)
        return -1;
    int rc = -1;
    if (s_array_of(rep, 3) && rep->element[0]->type == REDIS_REPLY_INTEGER)
        rc = rep->element[0]->integer == 1 ? 1 : 0;
    else
        s_script_failed("agent_status", rep);
    freeReplyObject(rep);
    return rc;
}

int
kj_cases_feedback(kj_cases_t *self, kj_case_feedback_t *fb, int64_t now_ms)
{
    char base[KJ_CASES_BASE_MAX], key[KJ_CASES_BASE_MAX + 48];
    char now[24], score[24], ttl[24];
    fb->rc = KJ_ERR_BAD_TOKEN;
    fb->at_ms = 0;
    /* The token was verified: a tenant that cannot make a key is not
     * one kujo signed for, and is refused like a forged token. */
    if (kj_cases_base(self, fb->tenant, base, sizeof base) < 0 ||
        strlen(fb->customer) > KJ_CASES_NAME_MAX)
        return 0;
    snprintf(key, sizeof key, "%s:fb:%s", base, fb->nonce);
    s_fmt(now, now_ms);
    s_fmt(score, fb->score);
    s_fmt(ttl, fb->ttl_s > 0 ? fb->ttl_s : 1);
    const char *argv[] = {key,          base,
                          fb->nonce,    fb->digest,
                          fb->case_id,  fb->complaint_id,
                          fb->customer, fb->kind,
                          score,        fb->bucket,
                          fb->day,      now,
                          ttl,          fb->has_comment ? "1" : "0"};
    redisReply *rep =
        s_eval_one(self, self->s_feedback, (int)KJ_ARRAY_LEN(argv), argv);
    if (!rep)
        return -1;
    int rc = -1;
    if (s_array_of(rep, 2) && rep->element[0]->type == REDIS_REPLY_STRING) {
        const char *code = rep->element[0]->str;
        char at[24];
        s_elem(rep, 1, at, sizeof at);
        fb->at_ms = strtoll(at, NULL, 10);
        fb->rc = strcmp(code, "ok") == 0       ? KJ_OK
                 : strcmp(code, "repeat") == 0 ? KJ_ERR_STALE
                                               : KJ_ERR_TOKEN_USED;
        rc = 0;
    } else {
        s_script_failed("feedback_record", rep);
    }
    freeReplyObject(rep);
    return rc;
}
