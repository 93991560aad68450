/* kj_cases against a real redis-server: threading complaints into cases,
 * fair assignment (capacity, languages, skills, oldest first, two router
 * copies racing), agents going offline, the agent actions and their
 * illegal transitions, and the JSON views. Time is an input: each test
 * sets its own clock. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_cases.h"
#include "kj_envelope.h"
#include "kj_id.h"
#include "kj_redis.h"
#include "kj_testredis.h"
#include "kj_util.h"

#define NOW 1800000000000LL
#define DAY (86400000LL)
#define TENANT "acme"

static kj_testredis_t g_srv;
static kj_redis_t *g_r;
static kj_cases_t *g_c;
static uint64_t g_rng = 7;

static kj_redis_t *
connect_redis(void)
{
    char err[128];
    kj_redis_t *r = kj_redis_new(g_srv.url, 5000, err, sizeof err);
    cr_assert(ne(ptr, r, NULL), "%s", err);
    return r;
}

static void
setup(void)
{
    cr_assert(eq(int, kj_testredis_start(&g_srv, false), 0));
    g_r = connect_redis();
    g_c = kj_cases_new(g_r, "kt");
}

static void
teardown(void)
{
    kj_cases_destroy(&g_c);
    kj_redis_destroy(&g_r);
    kj_testredis_stop(&g_srv);
}

TestSuite(cases, .init = setup, .fini = teardown, .timeout = 120);

/* A routed envelope: customer, team, language, category. */
static kj_envelope_t *
routed(const char *customer, const char *team, const char *lang,
       const char *category, int64_t now)
{
    kj_envelope_t *e = kj_calloc(1, sizeof *e);
    kj_id_new(e->complaint.id, now, -1, &g_rng);
    kj_strlcpy(e->complaint.tenant, TENANT, sizeof e->complaint.tenant);
    kj_strlcpy(e->complaint.channel, "x", sizeof e->complaint.channel);
    kj_strlcpy(e->complaint.customer.id, customer,
               sizeof e->complaint.customer.id);
    e->complaint.is_public = true;
    e->has_triage = true;
    kj_strlcpy(e->triage.language, lang, sizeof e->triage.language);
    kj_strlcpy(e->triage.category, category, sizeof e->triage.category);
    kj_strlcpy(e->triage.sentiment, "negative", sizeof e->triage.sentiment);
    e->triage.sentiment_score = -0.8f;
    e->has_assignment = true;
    kj_strlcpy(e->assignment.team, team, sizeof e->assignment.team);
    kj_strlcpy(e->assignment.priority, "p3", sizeof e->assignment.priority);
    e->assignment.ack_due_at_ms = now + 5 * 60000;
    e->assignment.due_at_ms = now + 60 * 60000;
    e->assignment.resolve_due_at_ms = now + DAY;
    return e;
}

/* File one complaint with cases c; its result. */
static kj_case_route_t
file_with(kj_cases_t *c, kj_envelope_t *e, int64_t now)
{
    kj_case_route_t it = {.env = e, .reopen_ms = 7 * DAY, .retention_s = 3600};
    cr_assert(eq(int, kj_cases_route(c, &it, 1, now), 0));
    cr_assert(eq(int, it.result, 1));
    return it;
}

static kj_case_route_t
file(const char *customer, const char *team, const char *lang,
     const char *category, int64_t now)
{
    kj_envelope_t *e = routed(customer, team, lang, category, now);
    kj_case_route_t it = file_with(g_c, e, now);
    free(e);
    return it;
}

static void
agent(const char *id, const char *teams, const char *langs, const char *skills,
      int capacity, const char *status, int64_t now)
{
    kj_agent_t a = {.tenant = TENANT,
                    .id = id,
                    .name = id,
                    .teams = teams,
                    .languages = langs,
                    .skills = skills,
                    .capacity = capacity,
                    .status = status};
    cr_assert(eq(int, kj_cases_agent_put(g_c, &a, true, now, NULL), 0));
}

static kj_case_event_t
event(const char *case_id, const char *type, const char *agent_id, int64_t now)
{
    kj_case_event_t ev = {.tenant = TENANT,
                          .case_id = case_id,
                          .type = type,
                          .agent = agent_id,
                          .text = "thanks for waiting"};
    cr_assert(eq(int, kj_cases_event(g_c, &ev, now), 0));
    return ev;
}

/* The case as the API shows it. */
static json_t *
case_json(const char *case_id)
{
    char *s = NULL;
    cr_assert(eq(int, kj_cases_case_json(g_c, TENANT, case_id, &s), 1));
    json_t *o = json_loads(s, 0, NULL);
    free(s);
    cr_assert(ne(ptr, o, NULL));
    return o;
}

static const char *
jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static long long
agent_int(const char *id, const char *field)
{
    redisReply *r =
        kj_redis_command(g_r, "HGET kt:{t:" TENANT "}:agent:%s %s", id, field);
    cr_assert(ne(ptr, r, NULL));
    long long v = r->type == REDIS_REPLY_STRING ? atoll(r->str) : -1;
    freeReplyObject(r);
    return v;
}

Test(cases, threading_by_customer)
{
    kj_case_route_t a = file("cust-1", "care", "en", "billing", NOW);
    cr_assert(eq(str, a.how, "opened"));
    kj_case_route_t b = file("cust-1", "care", "en", "billing", NOW + 1000);
    cr_assert(eq(str, b.how, "joined"));
    cr_assert(eq(str, b.case_id, a.case_id));
    kj_case_route_t c = file("cust-2", "care", "en", "billing", NOW + 2000);
    cr_assert(eq(str, c.how, "opened"));
    cr_assert(ne(str, c.case_id, a.case_id));
    /* No customer id: nothing to thread on, a case each. */
    kj_case_route_t d = file("", "care", "en", "billing", NOW + 3000);
    kj_case_route_t e = file("", "care", "en", "billing", NOW + 4000);
    cr_assert(ne(str, d.case_id, e.case_id));

    json_t *o = case_json(a.case_id);
    cr_assert(eq(str, (char *)jstr(o, "status"), "open"));
    cr_assert(eq(str, (char *)jstr(o, "team"), "care"));
    cr_assert(json_object_get(o, "assignee") != NULL &&
                  json_is_null(json_object_get(o, "assignee")),
              "unassigned");
    cr_assert(eq(sz, json_array_size(json_object_get(o, "complaints")), 2));
    json_t *clocks = json_object_get(o, "clocks");
    cr_assert(
        eq(str,
           (char *)jstr(json_object_get(clocks, "first_response"), "state"),
           "running"),
        "due in 2027 (the test's clock), not yet met");
    json_t *tl = json_object_get(o, "timeline");
    cr_assert(eq(str, (char *)jstr(json_array_get(tl, 0), "type"), "opened"));
    cr_assert(eq(str, (char *)jstr(json_array_get(tl, 1), "type"), "message"));
    cr_assert(ne(ptr, json_object_get(json_array_get(tl, 0), "at"), NULL));
    json_decref(o);
}

Test(cases, filing_twice_changes_nothing)
{
    kj_envelope_t *e = routed("cust-9", "care", "en", "billing", NOW);
    kj_case_route_t a = file_with(g_c, e, NOW);
    kj_case_route_t b = file_with(g_c, e, NOW + 5000);
    cr_assert(eq(str, b.how, "filed"));
    cr_assert(eq(str, b.case_id, a.case_id));
    json_t *o = case_json(a.case_id);
    cr_assert(eq(sz, json_array_size(json_object_get(o, "complaints")), 1));
    json_decref(o);
    free(e);
}

Test(cases, assignment_oldest_first_and_capacity)
{
    agent("ann", "[\"care\"]", "[]", "[]", 1, "online", NOW);
    kj_case_route_t c1 = file("c1", "care", "en", "billing", NOW);
    kj_case_route_t c2 = file("c2", "care", "en", "billing", NOW + 10);
    kj_case_route_t c3 = file("c3", "care", "en", "billing", NOW + 20);
    cr_assert(eq(str, c1.assignee, "ann"));
    cr_assert(eq(str, c2.assignee, ""));
    cr_assert(eq(str, c3.assignee, ""));
    cr_assert(eq(i64, agent_int("ann", "load"), 1));
    /* Room frees: the oldest waiting case goes first, never a newer one. */
    kj_case_event_t ev = event(c1.case_id, "resolve", "ann", NOW + 100);
    cr_assert(eq(int, ev.rc, KJ_OK));
    cr_assert(eq(str, ev.status, "resolved"));
    json_t *o2 = case_json(c2.case_id), *o3 = case_json(c3.case_id);
    cr_assert(eq(str, (char *)jstr(o2, "assignee"), "ann"));
    cr_assert(json_object_get(o3, "assignee") != NULL &&
                  json_is_null(json_object_get(o3, "assignee")),
              "unassigned");
    json_decref(o2);
    json_decref(o3);
    cr_assert(eq(i64, agent_int("ann", "load"), 1));
    /* Capacity raised: the next oldest goes at once. */
    agent("ann", "[\"care\"]", "[]", "[]", 2, "online", NOW + 200);
    o3 = case_json(c3.case_id);
    cr_assert(eq(str, (char *)jstr(o3, "assignee"), "ann"));
    json_decref(o3);
    cr_assert(eq(i64, agent_int("ann", "load"), 2));
}

Test(cases, languages_and_skills)
{
    agent("en-billing", "[\"care\"]", "[\"en\"]", "[\"billing\"]", 5, "online",
          NOW);
    kj_case_route_t ja = file("j1", "care", "ja", "billing", NOW);
    kj_case_route_t outage = file("o1", "care", "en", "outage", NOW + 1);
    kj_case_route_t bill = file("b1", "care", "en", "billing", NOW + 2);
    cr_assert(eq(str, ja.assignee, ""));
    cr_assert(eq(str, outage.assignee, ""));
    cr_assert(eq(str, bill.assignee, "en-billing"));
    /* A Japanese speaker of every skill takes both waiting cases. */
    agent("ja-all", "[\"care\"]", "[\"ja\",\"en\"]", "[]", 5, "online",
          NOW + 10);
    json_t *o = case_json(ja.case_id);
    cr_assert(eq(str, (char *)jstr(o, "assignee"), "ja-all"));
    json_decref(o);
    o = case_json(outage.case_id);
    cr_assert(eq(str, (char *)jstr(o, "assignee"), "ja-all"));
    json_decref(o);
    /* Another team's agent never takes this team's cases. */
    agent("other", "[\"billing\"]", "[]", "[]", 5, "online", NOW + 20);
    kj_case_route_t x = file("x1", "care", "fr", "billing", NOW + 30);
    cr_assert(eq(str, x.assignee, ""));
}

Test(cases, offline_hands_back_and_away_keeps)
{
    agent("a", "[\"care\"]", "[]", "[]", 2, "online", NOW);
    kj_case_route_t c1 = file("u1", "care", "en", "billing", NOW);
    kj_case_route_t c2 = file("u2", "care", "en", "billing", NOW + 1);
    cr_assert(eq(str, c1.assignee, "a"));
    cr_assert(eq(str, c2.assignee, "a"));
    agent("b", "[\"care\"]", "[]", "[]", 1, "away", NOW + 2);
    /* Away keeps the cases, takes no new ones. */
    cr_assert(eq(int,
                 kj_cases_agent_status(g_c, TENANT, "a", "away", true, NOW + 3),
                 1));
    cr_assert(eq(i64, agent_int("a", "load"), 2));
    /* Offline hands both back; b (online now, room for one) takes the
     * oldest, the other waits. */
    cr_assert(eq(
        int, kj_cases_agent_status(g_c, TENANT, "b", "online", true, NOW + 4),
        1));
    cr_assert(eq(
        int, kj_cases_agent_status(g_c, TENANT, "a", "offline", true, NOW + 5),
        1));
    cr_assert(eq(i64, agent_int("a", "load"), 0));
    json_t *o1 = case_json(c1.case_id), *o2 = case_json(c2.case_id);
    cr_assert(eq(str, (char *)jstr(o1, "assignee"), "b"));
    cr_assert(json_object_get(o2, "assignee") != NULL &&
                  json_is_null(json_object_get(o2, "assignee")),
              "unassigned");
    json_decref(o1);
    json_decref(o2);
    cr_assert(eq(
        int, kj_cases_agent_status(g_c, TENANT, "nobody", "online", true, NOW),
        0));
}

Test(cases, agent_actions_and_illegal_transitions)
{
    agent("ann", "[\"care\"]", "[]", "[]", 1, "online", NOW);
    agent("bob", "[\"care\"]", "[]", "[]", 1, "online", NOW);
    kj_case_route_t c = file("p1", "care", "en", "billing", NOW);
    const char *who = c.assignee;
    const char *other = strcmp(who, "ann") == 0 ? "bob" : "ann";

    kj_case_event_t ev = event(c.case_id, "reply", who, NOW + 60000);
    cr_assert(eq(int, ev.rc, KJ_OK));
    json_t *o = case_json(c.case_id);
    json_t *fr =
        json_object_get(json_object_get(o, "clocks"), "first_response");
    cr_assert(eq(str, (char *)jstr(fr, "state"), "met"));
    json_decref(o);

    cr_assert(eq(int, event(c.case_id, "pending", who, NOW + 1).rc, KJ_OK));
    cr_assert(eq(int, event(c.case_id, "pending", who, NOW + 2).rc,
                 KJ_ERR_ILLEGAL_TRANSITION));
    /* The customer writes again: same case, open again. */
    kj_case_route_t again = file("p1", "care", "en", "billing", NOW + 3);
    cr_assert(eq(str, again.case_id, c.case_id));
    cr_assert(eq(str, again.status, "open"));

    cr_assert(eq(int, event(c.case_id, "escalate", who, NOW + 4).rc, KJ_OK));
    o = case_json(c.case_id);
    cr_assert(eq(str, (char *)jstr(o, "priority"), "p2"));
    json_decref(o);
    /* The other agent is full: assigning to them is refused. */
    kj_case_route_t full = file("p2", "care", "en", "billing", NOW + 5);
    cr_assert(eq(str, full.assignee, (char *)other));
    cr_assert(eq(int, event(c.case_id, "assign", other, NOW + 6).rc,
                 KJ_ERR_AT_CAPACITY));
    cr_assert(eq(int, event(c.case_id, "note", "ghost", NOW + 7).rc,
                 KJ_ERR_NO_SUCH_AGENT));
    /* An agent of another team cannot be given the case. */
    agent("olga", "[\"billing\"]", "[]", "[]", 5, "online", NOW + 7);
    cr_assert(eq(int, event(c.case_id, "assign", "olga", NOW + 7).rc,
                 KJ_ERR_NOT_IN_TEAM));
    char missing[KJ_ID_LEN + 1];
    kj_id_new(missing, NOW, -1, &g_rng);
    cr_assert(
        eq(int, event(missing, "note", who, NOW + 8).rc, KJ_ERR_NO_SUCH_CASE));

    cr_assert(eq(int, event(c.case_id, "resolve", who, NOW + 9).rc, KJ_OK));
    cr_assert(eq(int, event(c.case_id, "resolve", who, NOW + 10).rc,
                 KJ_ERR_ILLEGAL_TRANSITION));
    cr_assert(eq(int, event(c.case_id, "pending", who, NOW + 11).rc,
                 KJ_ERR_ILLEGAL_TRANSITION));
    cr_assert(eq(i64, agent_int(who, "load"), 0));
    /* A message within reopen_ms reopens it; back to its agent. */
    kj_case_route_t re = file("p1", "care", "en", "billing", NOW + DAY);
    cr_assert(eq(str, re.how, "reopened"));
    cr_assert(eq(str, re.case_id, c.case_id));
    cr_assert(eq(str, re.assignee, (char *)who));
    cr_assert(eq(i64, agent_int(who, "load"), 1));
    cr_assert(
        eq(int, event(c.case_id, "resolve", who, NOW + DAY + 1).rc, KJ_OK));
    /* After the window a new case opens. */
    kj_case_route_t late = file("p1", "care", "en", "billing", NOW + 9 * DAY);
    cr_assert(eq(str, late.how, "opened"));
    cr_assert(ne(str, late.case_id, c.case_id));

    o = case_json(c.case_id);
    size_t n = json_array_size(json_object_get(o, "timeline"));
    cr_assert(ge(sz, n, 10), "every step is on the timeline (%zu)", n);
    json_decref(o);

    char *cust = NULL;
    cr_assert(eq(int, kj_cases_customer_json(g_c, TENANT, "p1", 10, &cust), 1));
    json_t *u = json_loads(cust, 0, NULL);
    free(cust);
    cr_assert(eq(sz, json_array_size(json_object_get(u, "cases")), 2));
    cr_assert(eq(sz, json_array_size(json_object_get(u, "complaints")), 4));
    cr_assert(eq(sz, json_array_size(json_object_get(u, "trajectory")), 4));
    json_decref(u);
    cr_assert(
        eq(int, kj_cases_customer_json(g_c, TENANT, "nobody", 10, &cust), 0));
}

Test(cases, tenants_are_apart)
{
    kj_case_route_t c = file("t1", "care", "en", "billing", NOW);
    char *s = NULL;
    cr_assert(eq(int, kj_cases_case_json(g_c, "other", c.case_id, &s), 0));
    kj_case_event_t ev = {
        .tenant = "other", .case_id = c.case_id, .type = "note", .agent = "x"};
    cr_assert(eq(int, kj_cases_event(g_c, &ev, NOW), 0));
    cr_assert(eq(int, ev.rc, KJ_ERR_NO_SUCH_CASE));
    char base[KJ_CASES_BASE_MAX];
    cr_assert(eq(int, kj_cases_base(g_c, "a}b", base, sizeof base), -1));
    cr_assert(eq(int, kj_cases_base(g_c, "", base, sizeof base), -1));
}

/* ---- two router copies, five agents, 1,000 cases ------------------ */

#define N_CASES 1000
#define N_AGENTS 5

typedef struct {
    int from, to; /* case numbers this copy files */
} filer_t;

static void *
s_filer(void *arg)
{
    filer_t *f = arg;
    kj_redis_t *r = connect_redis();
    kj_cases_t *c = kj_cases_new(r, "kt");
    for (int i = f->from; i < f->to; i += 10) {
        kj_envelope_t *envs[10];
        kj_case_route_t items[10];
        int n = 0;
        for (int k = i; k < i + 10 && k < f->to; k++, n++) {
            char cust[32];
            snprintf(cust, sizeof cust, "fair-%d", k);
            envs[n] = routed(cust, "care", "en", "billing", NOW + k);
            items[n] = (kj_case_route_t){
                .env = envs[n], .reopen_ms = 0, .retention_s = 3600};
        }
        cr_assert(eq(int, kj_cases_route(c, items, (size_t)n, NOW + i), 0));
        for (int k = 0; k < n; k++) {
            cr_assert(eq(int, items[k].result, 1));
            free(envs[k]);
        }
    }
    kj_cases_destroy(&c);
    kj_redis_destroy(&r);
    return NULL;
}

/* No agent above capacity, and each agent's load is its open cases. */
static void
check_capacity(const char *const *ids)
{
    for (int a = 0; a < N_AGENTS; a++) {
        long long load = agent_int(ids[a], "load");
        long long cap = agent_int(ids[a], "capacity");
        cr_assert(le(i64, load, cap), "%s holds %lld > %lld", ids[a], load,
                  cap);
        redisReply *r = kj_redis_command(
            g_r, "SCARD kt:{t:" TENANT "}:agent:%s:cases", ids[a]);
        cr_assert(eq(i64, r->integer, load));
        freeReplyObject(r);
    }
}

/* The open assigned case assigned earliest, or "" if none. */
static void
oldest_assigned(const char *const *ids, char out[KJ_ID_LEN + 1])
{
    long long best = -1;
    out[0] = '\0';
    for (int a = 0; a < N_AGENTS; a++) {
        redisReply *r = kj_redis_command(
            g_r, "SMEMBERS kt:{t:" TENANT "}:agent:%s:cases", ids[a]);
        for (size_t i = 0; i < r->elements; i++) {
            redisReply *h = kj_redis_command(
                g_r, "HGET kt:{t:" TENANT "}:case:%s assigned_seq",
                r->element[i]->str);
            long long seq = h->type == REDIS_REPLY_STRING ? atoll(h->str) : 0;
            freeReplyObject(h);
            if (best < 0 || seq < best) {
                best = seq;
                kj_strlcpy(out, r->element[i]->str, KJ_ID_LEN + 1);
            }
        }
        freeReplyObject(r);
    }
}

Test(cases, fair_shares_two_routers, .timeout = 300)
{
    const char *ids[N_AGENTS] = {"c1", "c2", "c3", "c4", "c5"};
    for (int a = 0; a < N_AGENTS; a++)
        agent(ids[a], "[\"care\"]", "[\"en\"]", "[]", a + 1, "online", NOW);
    filer_t f[2] = {{0, N_CASES / 2}, {N_CASES / 2, N_CASES}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        cr_assert(eq(int, pthread_create(&t[i], NULL, s_filer, &f[i]), 0));
    /* Resolve the earliest assigned open case, again and again, checking
     * capacity after every resolve, while both copies file. */
    int per_agent[N_AGENTS] = {0};
    int resolved = 0;
    int64_t deadline = kj_mono_ms() + 240000;
    while (resolved < N_CASES && kj_mono_ms() < deadline) {
        char cid[KJ_ID_LEN + 1];
        oldest_assigned(ids, cid);
        if (!cid[0])
            continue; /* the filers are behind: poll again */
        json_t *o = case_json(cid);
        char who[64];
        kj_strlcpy(who, jstr(o, "assignee"), sizeof who);
        json_decref(o);
        kj_case_event_t ev =
            event(cid, "resolve", who, NOW + N_CASES + resolved);
        cr_assert(eq(int, ev.rc, KJ_OK));
        for (int a = 0; a < N_AGENTS; a++)
            if (strcmp(who, ids[a]) == 0)
                per_agent[a]++;
        resolved++;
        check_capacity(ids);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    cr_assert(eq(int, resolved, N_CASES));
    /* Shares proportional to capacity (1..5 of 15) within 2 points. */
    for (int a = 0; a < N_AGENTS; a++) {
        double share = (double)per_agent[a] / N_CASES;
        double want = (a + 1) / 15.0;
        cr_assert(le(dbl, share > want ? share - want : want - share, 0.02),
                  "%s: %.3f of the cases, capacity share %.3f", ids[a], share,
                  want);
    }
    /* Every case was assigned exactly once. */
    redisReply *r =
        kj_redis_command(g_r, "XRANGE kt:{t:" TENANT "}:events - +");
    int assigned = 0;
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *fields = r->element[i]->element[1];
        for (size_t k = 0; k + 1 < fields->elements; k += 2)
            if (strcmp(fields->element[k]->str, "type") == 0 &&
                strcmp(fields->element[k + 1]->str, "assigned") == 0)
                assigned++;
    }
    freeReplyObject(r);
    cr_assert(eq(int, assigned, N_CASES));
}

/* The customer's tone falls on an open case: the assignee owes a
 * follow_up, the case a priority step up. */
Test(cases, tone_drop_owes_a_follow_up)
{
    agent("ann", "[\"care\"]", "[]", "[]", 5, "online", NOW);
    kj_envelope_t *e = routed("moody", "care", "en", "billing", NOW);
    e->triage.sentiment_score = 0.6f;
    kj_strlcpy(e->triage.sentiment, "positive", sizeof e->triage.sentiment);
    kj_case_route_t first = file_with(g_c, e, NOW);
    free(e);
    /* A small dip is no drop. */
    e = routed("moody", "care", "en", "billing", NOW + 1000);
    e->triage.sentiment_score = 0.4f;
    kj_strlcpy(e->triage.sentiment, "neutral", sizeof e->triage.sentiment);
    kj_case_route_t it = {.env = e,
                          .reopen_ms = 7 * DAY,
                          .retention_s = 3600,
                          .tone_drop = 0.5,
                          .follow_up_text = "The customer's tone dropped."};
    cr_assert(eq(int, kj_cases_route(g_c, &it, 1, NOW + 1000), 0));
    free(e);
    json_t *o = case_json(first.case_id);
    cr_assert(eq(str, (char *)jstr(o, "priority"), "p3"));
    json_decref(o);
    /* From neutral to negative, -0.8: a drop. */
    e = routed("moody", "care", "en", "billing", NOW + 2000);
    it.env = e;
    cr_assert(eq(int, kj_cases_route(g_c, &it, 1, NOW + 2000), 0));
    cr_assert(eq(str, it.case_id, first.case_id));
    o = case_json(first.case_id);
    cr_assert(eq(str, (char *)jstr(o, "priority"), "p2"));
    json_decref(o);
    char job[64];
    snprintf(job, sizeof job, "%s:follow_up", e->complaint.id);
    redisReply *r =
        kj_redis_command(g_r, "HGET kt:{t:" TENANT "}:ob:%s kind", job);
    cr_assert(eq(int, r->type, REDIS_REPLY_STRING), "no follow_up owed");
    cr_assert(eq(str, r->str, "follow_up"));
    freeReplyObject(r);
    r = kj_redis_command(g_r, "HGET kt:{t:" TENANT "}:ob:%s payload", job);
    cr_assert(ne(ptr, strstr(r->str, "\"to\":\"ann\""), NULL), "%s", r->str);
    freeReplyObject(r);
    free(e);
}

/* A resolve owes a survey, but not twice within the cooldown. */
Test(cases, survey_once_per_cooldown)
{
    agent("ann", "[\"care\"]", "[]", "[]", 5, "online", NOW);
    kj_case_route_t c = file("surveyed", "care", "en", "billing", NOW);
    kj_case_event_t ev = {.tenant = TENANT,
                          .case_id = c.case_id,
                          .type = "resolve",
                          .agent = "ann",
                          .survey_text = "Thank you! How did we do?",
                          .survey_cooldown_ms = 30 * DAY};
    cr_assert(eq(int, kj_cases_event(g_c, &ev, NOW + 1000), 0));
    cr_assert(eq(int, ev.rc, KJ_OK));
    /* The customer writes again; resolved again a day later. */
    kj_case_route_t again =
        file("surveyed", "care", "en", "billing", NOW + DAY);
    cr_assert(eq(str, again.how, "reopened"));
    cr_assert(eq(int, kj_cases_event(g_c, &ev, NOW + DAY + 1000), 0));
    cr_assert(eq(int, ev.rc, KJ_OK));
    redisReply *r = kj_redis_command(g_r, "ZCARD kt:{t:" TENANT "}:outbox");
    cr_assert(eq(i64, r->integer, 1), "one survey_request owed");
    freeReplyObject(r);
    json_t *o = case_json(c.case_id);
    bool skipped = false;
    json_t *tl = json_object_get(o, "timeline");
    for (size_t i = 0; i < json_array_size(tl); i++)
        skipped |=
            strcmp(jstr(json_array_get(tl, i), "type"), "survey_skipped") == 0;
    cr_assert(skipped, "the second resolve says why no survey went out");
    json_decref(o);
}
