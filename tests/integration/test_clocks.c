/* SLA timers against the real router binary: 500 cases whose first-
 * response clocks are all due, the router killed with SIGKILL while it
 * fires them and started again - every clock still fires exactly once
 * (one breach on each timeline, one escalation delivery owed per case),
 * and a paused case's clocks wait for it. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_cases.h"
#include "kj_envelope.h"
#include "kj_harness.h"
#include "kj_id.h"
#include "kj_redis.h"
#include "kj_testredis.h"
#include "kj_util.h"

#define N_CASES 500
#define TENANT "clocks"

static kj_pipeline_t *g_p;
static kj_redis_t *g_r;
static kj_cases_t *g_c;
static uint64_t g_rng = 99;

static void
setup(void)
{
    /* No notifier: the deliveries the timers owe stay in the outbox,
     * where the test counts them. */
    kj_pipeline_opts_t o = {.lease_ms = 1000};
    o.copies[KJ_SVC_NOTIFIER] = -1;
    o.copies[KJ_SVC_ANALYTICS] = -1;
    g_p = kj_pipeline_new(&o);
    cr_assert(ne(ptr, g_p, NULL));
    char err[128];
    g_r = kj_redis_new(kj_pipeline_redis(g_p)->url, 5000, err, sizeof err);
    cr_assert(ne(ptr, g_r, NULL), "%s", err);
    g_c = kj_cases_new(g_r, kj_pipeline_prefix(g_p));
}

static void
teardown(void)
{
    kj_cases_destroy(&g_c);
    kj_redis_destroy(&g_r);
    kj_pipeline_destroy(&g_p);
}

TestSuite(clocks, .init = setup, .fini = teardown, .timeout = 180);

/* File n cases whose first-response clock (and its warning) fire at
 * fr_ms; the rest of their clocks far ahead. Their ids into ids. */
static void
file_cases(int n, int64_t fr_ms, char (*ids)[KJ_ID_LEN + 1])
{
    int64_t now = kj_now_ms();
    for (int i = 0; i < n; i++) {
        kj_envelope_t *e = kj_calloc(1, sizeof *e);
        kj_id_new(e->complaint.id, now, -1, &g_rng);
        kj_strlcpy(e->complaint.tenant, TENANT, sizeof e->complaint.tenant);
        kj_strlcpy(e->complaint.channel, "email", sizeof e->complaint.channel);
        snprintf(e->complaint.customer.id, sizeof e->complaint.customer.id,
                 "cust-%d-%lld", i, (long long)fr_ms);
        e->has_triage = true;
        kj_strlcpy(e->triage.language, "en", sizeof e->triage.language);
        e->has_assignment = true;
        kj_strlcpy(e->assignment.team, "care-en", sizeof e->assignment.team);
        kj_strlcpy(e->assignment.priority, "p3", sizeof e->assignment.priority);
        e->assignment.due_at_ms = fr_ms;
        e->assignment.resolve_due_at_ms = now + 86400000LL;
        kj_case_route_t it = {.env = e,
                              .reopen_ms = 1,
                              .retention_s = 3600,
                              .fr_warn_ms = fr_ms - 1,
                              .res_warn_ms = now + 86400000LL};
        cr_assert(eq(int, kj_cases_route(g_c, &it, 1, now), 0));
        cr_assert(eq(int, it.result, 1));
        kj_strlcpy(ids[i], it.case_id, KJ_ID_LEN + 1);
        free(e);
    }
}

/* How many timeline entries of type the case has. */
static int
count_steps(const char *case_id, const char *type)
{
    char *s = NULL;
    cr_assert(eq(int, kj_cases_case_json(g_c, TENANT, case_id, &s), 1));
    json_t *o = json_loads(s, 0, NULL);
    free(s);
    json_t *tl = json_object_get(o, "timeline");
    int n = 0;
    for (size_t i = 0; i < json_array_size(tl); i++)
        if (strcmp(json_string_value(
                       json_object_get(json_array_get(tl, i), "type")),
                   type) == 0)
            n++;
    json_decref(o);
    return n;
}

static long long
zcard(const char *what)
{
    redisReply *r = kj_redis_command(g_r, "ZCARD %s:{t:" TENANT "}:%s",
                                     kj_pipeline_prefix(g_p), what);
    cr_assert(ne(ptr, r, NULL));
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

Test(clocks, kill9_mid_sweep_every_clock_fires_exactly_once)
{
    static char ids[N_CASES][KJ_ID_LEN + 1];
    /* Stop the router first, so all 500 are due when it comes back. */
    cr_assert(eq(int, kj_pipeline_stop(g_p, KJ_SVC_ROUTER, 0, 5000), 0));
    file_cases(N_CASES, kj_now_ms() - 1000, ids);
    /* fr_warn, fr, res_warn and res for each. */
    cr_assert(eq(i64, zcard("clocks"), 4 * N_CASES));

    /* Start it and kill it as soon as it has fired some. */
    cr_assert(eq(int, kj_pipeline_restart(g_p, KJ_SVC_ROUTER, 0), 0));
    int64_t deadline = kj_mono_ms() + 20000;
    while (zcard("outbox") < 50 && kj_mono_ms() < deadline)
        kj_test_sleep_ms(5);
    cr_assert(eq(int, kj_pipeline_kill9(g_p, KJ_SVC_ROUTER, 0), 0));
    long long owed_at_kill = zcard("outbox");
    cr_assert(lt(i64, owed_at_kill, 2 * N_CASES),
              "killed too late to test anything (%lld owed)", owed_at_kill);

    /* Again: what the dead copy had claimed comes back after its lease. */
    cr_assert(eq(int, kj_pipeline_restart(g_p, KJ_SVC_ROUTER, 0), 0));
    deadline = kj_mono_ms() + 60000;
    while (zcard("outbox") < 2 * N_CASES && kj_mono_ms() < deadline)
        kj_test_sleep_ms(50);
    /* One warning and one escalation owed per case, nothing more. */
    cr_assert(eq(i64, zcard("outbox"), 2 * N_CASES));
    kj_test_sleep_ms(1500); /* a lease more: nothing fires twice */
    cr_assert(eq(i64, zcard("outbox"), 2 * N_CASES));
    for (int i = 0; i < N_CASES; i++) {
        cr_assert(eq(int, count_steps(ids[i], "breached"), 1), "%s", ids[i]);
        cr_assert(eq(int, count_steps(ids[i], "sla_warning"), 1), "%s", ids[i]);
        cr_assert(eq(int, count_steps(ids[i], "escalation"), 1), "%s", ids[i]);
    }
    /* Only the resolution timers (a day ahead) are left. */
    cr_assert(eq(i64, zcard("clocks"), 2 * N_CASES));
}

Test(clocks, a_pending_case_waits_and_resumes)
{
    char ids[1][KJ_ID_LEN + 1];
    kj_agent_t a = {.tenant = TENANT,
                    .id = "ann",
                    .teams = "[\"care-en\"]",
                    .languages = "[]",
                    .skills = "[]",
                    .capacity = 5,
                    .status = "online"};
    cr_assert(eq(int, kj_cases_agent_put(g_c, &a, true, kj_now_ms(), NULL), 0));
    /* Due in 3 s: paused at once, it must not fire while pending. */
    file_cases(1, kj_now_ms() + 3000, ids);
    kj_case_event_t ev = {
        .tenant = TENANT, .case_id = ids[0], .type = "pending", .agent = "ann"};
    cr_assert(eq(int, kj_cases_event(g_c, &ev, kj_now_ms()), 0));
    cr_assert(eq(int, ev.rc, KJ_OK));
    kj_test_sleep_ms(4000);
    cr_assert(eq(int, count_steps(ids[0], "breached"), 0));
    /* The customer writes: it resumes with the ~3 s it had left. */
    kj_envelope_t *e = kj_calloc(1, sizeof *e);
    kj_id_new(e->complaint.id, kj_now_ms(), -1, &g_rng);
    kj_strlcpy(e->complaint.tenant, TENANT, sizeof e->complaint.tenant);
    char *s = NULL;
    cr_assert(eq(int, kj_cases_case_json(g_c, TENANT, ids[0], &s), 1));
    json_t *o = json_loads(s, 0, NULL);
    free(s);
    kj_strlcpy(e->complaint.customer.id,
               json_string_value(json_object_get(o, "customer")),
               sizeof e->complaint.customer.id);
    json_decref(o);
    e->has_triage = true;
    e->has_assignment = true;
    kj_strlcpy(e->assignment.team, "care-en", sizeof e->assignment.team);
    kj_case_route_t it = {.env = e, .reopen_ms = 1, .retention_s = 3600};
    cr_assert(eq(int, kj_cases_route(g_c, &it, 1, kj_now_ms()), 0));
    cr_assert(eq(str, it.case_id, ids[0]));
    cr_assert(eq(str, it.status, "open"));
    free(e);
    int64_t deadline = kj_mono_ms() + 15000;
    while (count_steps(ids[0], "breached") == 0 && kj_mono_ms() < deadline)
        kj_test_sleep_ms(100);
    cr_assert(eq(int, count_steps(ids[0], "breached"), 1),
              "the resumed clock fired once");
}
