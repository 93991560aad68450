/* kj_outbox against a real redis-server: owing a job twice, exclusive
 * claims between two connections, a lease that ends (the claimer died),
 * done recording the delivery on the complaint, retries, defer and dead,
 * a stale answer after a reclaim, and scripts lost from Redis (NOSCRIPT).
 * Time is an input: each test sets its own clock. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_outbox.h"
#include "kj_redis.h"
#include "kj_testredis.h"

#define NOW 1800000000000LL
#define LEASE 30000LL
#define TENANT "acme"
#define CID "0123456789abcdefghij"

static kj_testredis_t g_srv;
static kj_redis_t *g_r;
static kj_outbox_t *g_o;

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
    g_o = kj_outbox_new(g_r, "kt");
}

static void
teardown(void)
{
    kj_outbox_destroy(&g_o);
    kj_redis_destroy(&g_r);
    kj_testredis_stop(&g_srv);
}

TestSuite(outbox, .init = setup, .fini = teardown, .timeout = 120);

static int
put(const char *tenant, const char *job, const char *kind, int64_t due)
{
    return kj_outbox_put(g_o, tenant, job, kind, CID, "C1",
                         "{\"kind\":\"x\",\"text\":\"hello\"}", due);
}

/* Claim with conn; how many jobs came. */
static size_t
claim(kj_outbox_t *o, int64_t now, kj_outbox_job_t *jobs, size_t max)
{
    size_t n = 99;
    cr_assert(eq(int, kj_outbox_claim(o, now, LEASE, jobs, max, &n), 0));
    return n;
}

static void
clear(kj_outbox_job_t *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kj_outbox_job_clear(&jobs[i]);
}

static long long
zcard(const char *key)
{
    redisReply *r = kj_redis_command(g_r, "ZCARD %s", key);
    cr_assert(ne(ptr, r, NULL));
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

/* Usage: owe a job, claim it, deliver it, read the delivery back. */
Test(outbox, put_claim_done_deliveries)
{
    cr_assert(
        eq(int, put(TENANT, CID ":customer_ack", "customer_ack", NOW), 1));
    kj_outbox_job_t jobs[4];
    cr_assert(eq(sz, claim(g_o, NOW, jobs, 4), 1));
    cr_assert(eq(str, jobs[0].id, CID ":customer_ack"));
    cr_assert(eq(str, jobs[0].kind, "customer_ack"));
    cr_assert(eq(str, jobs[0].complaint_id, CID));
    cr_assert(eq(str, jobs[0].case_id, "C1"));
    cr_assert(eq(str, jobs[0].tenant, TENANT));
    cr_assert(eq(str, jobs[0].payload, "{\"kind\":\"x\",\"text\":\"hello\"}"));
    cr_assert(eq(i64, jobs[0].attempts, 1));
    cr_assert(eq(
        int, kj_outbox_done(g_o, &jobs[0], "http://sink:80", 200, NOW + 5), 1));
    /* A second answer for the same job records nothing more. */
    cr_assert(eq(
        int, kj_outbox_done(g_o, &jobs[0], "http://sink:80", 200, NOW + 6), 0));
    clear(jobs, 1);
    cr_assert(eq(sz, claim(g_o, NOW + 10 * LEASE, jobs, 4), 0));
    cr_assert(eq(i64, zcard("kt:{t:acme}:outbox"), 0));

    json_t *arr = NULL;
    cr_assert(eq(int, kj_outbox_deliveries(g_o, TENANT, CID, &arr), 0));
    cr_assert(eq(sz, json_array_size(arr), 1));
    json_t *d = json_array_get(arr, 0);
    cr_assert(eq(str, (char *)json_string_value(json_object_get(d, "kind")),
                 "customer_ack"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(d, "status")),
                 "delivered"));
    cr_assert(eq(
        str, (char *)json_string_value(json_object_get(d, "idempotency_key")),
        CID ":customer_ack"));
    cr_assert(
        eq(i64, json_integer_value(json_object_get(d, "http_status")), 200));
    cr_assert(eq(i64, json_integer_value(json_object_get(d, "attempts")), 1));
    json_decref(arr);

    /* The stream says so too, with the kind. */
    redisReply *r = kj_redis_command(g_r, "XRANGE kt:{t:acme}:events - +");
    cr_assert(eq(sz, r->elements, 1));
    const redisReply *f = r->element[0]->element[1];
    bool kind = false;
    for (size_t i = 0; i + 1 < f->elements; i += 2)
        if (strcmp(f->element[i]->str, "kind") == 0)
            kind = strcmp(f->element[i + 1]->str, "customer_ack") == 0;
    cr_assert(kind);
    freeReplyObject(r);
    /* dl expires like records. */
    r = kj_redis_command(g_r, "TTL kt:{t:acme}:dl:" CID);
    cr_assert(gt(i64, r->integer, 29 * 86400));
    freeReplyObject(r);
}

Test(outbox, put_twice_is_one_job)
{
    cr_assert(eq(int, put(TENANT, CID ":sla_warning", "sla_warning", NOW), 1));
    cr_assert(
        eq(int, put(TENANT, CID ":sla_warning", "sla_warning", NOW - 5), 0));
    cr_assert(eq(i64, zcard("kt:{t:acme}:outbox"), 1));
    kj_outbox_job_t jobs[4];
    cr_assert(eq(sz, claim(g_o, NOW + 1, jobs, 4), 1));
    clear(jobs, 1);
}

Test(outbox, put_refuses_what_cannot_name_keys)
{
    cr_assert(
        eq(int, put("a{b", CID ":customer_ack", "customer_ack", NOW), -1));
    cr_assert(eq(int, put("", CID ":customer_ack", "customer_ack", NOW), -1));
    cr_assert(eq(int, put(TENANT, CID ":spam", "spam", NOW), -1));
}

Test(outbox, not_due_is_not_claimed)
{
    cr_assert(
        eq(int, put(TENANT, CID ":follow_up", "follow_up", NOW + 1000), 1));
    kj_outbox_job_t jobs[4];
    cr_assert(eq(sz, claim(g_o, NOW, jobs, 4), 0));
    cr_assert(eq(sz, claim(g_o, NOW + 1000, jobs, 4), 1));
    clear(jobs, 1);
}

Test(outbox, claims_are_exclusive_between_connections)
{
    char job[64], cid[16];
    for (int i = 0; i < 20; i++) {
        /* One case each: a case's own jobs go one at a time (below). */
        snprintf(job, sizeof job, CID ":follow_up:%d", i);
        snprintf(cid, sizeof cid, "C%d", i);
        cr_assert(eq(int,
                     kj_outbox_put(g_o, i % 2 ? TENANT : "globex", job,
                                   "follow_up", CID, cid, "{\"kind\":\"x\"}",
                                   NOW),
                     1));
    }
    kj_redis_t *r2 = connect_redis();
    kj_outbox_t *o2 = kj_outbox_new(r2, "kt");
    kj_outbox_job_t a[16], b[16];
    /* Taking turns with small claims: every job once, never twice. */
    size_t na = 0, nb = 0;
    for (int round = 0; round < 4; round++) {
        na += claim(g_o, NOW, a + na, na + 3 <= 16 ? 3 : 16 - na);
        nb += claim(o2, NOW, b + nb, nb + 3 <= 16 ? 3 : 16 - nb);
    }
    size_t rest = claim(o2, NOW, b + nb, 16 - nb);
    nb += rest;
    na += claim(g_o, NOW, a + na, 16 - na);
    cr_assert(eq(sz, na + nb, 20));
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++)
            cr_assert(strcmp(a[i].id, b[j].id) != 0 ||
                          strcmp(a[i].tenant, b[j].tenant) != 0,
                      "%s claimed twice", a[i].id);
    clear(a, na);
    clear(b, nb);
    kj_outbox_destroy(&o2);
    kj_redis_destroy(&r2);
}

Test(outbox, lease_expiry_reclaims_and_fences_the_old_claim)
{
    cr_assert(eq(int, put(TENANT, CID ":escalation", "escalation", NOW), 1));
    kj_outbox_job_t first[2], second[2];
    cr_assert(eq(sz, claim(g_o, NOW, first, 2), 1));
    /* Held while the lease runs. */
    cr_assert(eq(sz, claim(g_o, NOW + LEASE - 1, second, 2), 0));
    /* The claimer died: the lease ends and another copy takes it. */
    cr_assert(eq(sz, claim(g_o, NOW + LEASE, second, 2), 1));
    cr_assert(eq(i64, second[0].attempts, 2));
    /* The first claim's late failure changes nothing now. */
    cr_assert(eq(int,
                 kj_outbox_retry(g_o, &first[0], NOW + LEASE + 5, "HTTP 500", 5,
                                 false, "http://x:80", 500, NOW + LEASE),
                 KJ_OUTBOX_STALE));
    cr_assert(
        eq(int,
           kj_outbox_done(g_o, &second[0], "http://x:80", 204, NOW + LEASE + 1),
           1));
    cr_assert(eq(int,
                 kj_outbox_retry(g_o, &first[0], NOW + LEASE + 5, "HTTP 500", 5,
                                 false, "http://x:80", 500, NOW + LEASE),
                 KJ_OUTBOX_GONE));
    clear(first, 1);
    clear(second, 1);
}

Test(outbox, retry_then_dead)
{
    cr_assert(eq(int, put(TENANT, CID ":sla_warning", "sla_warning", NOW), 1));
    kj_outbox_job_t j[2];
    int64_t now = NOW;
    for (int i = 1; i <= 3; i++) {
        cr_assert(eq(sz, claim(g_o, now, j, 2), 1));
        cr_assert(eq(i64, j[0].attempts, i));
        kj_outbox_retry_rc_t rc =
            kj_outbox_retry(g_o, &j[0], now + 1000, "HTTP 503 after 1 attempt",
                            3, false, "http://x:80", 503, now);
        cr_assert(eq(int, rc, i < 3 ? KJ_OUTBOX_RETRY : KJ_OUTBOX_DEAD));
        clear(j, 1);
        /* Not before next_ms. */
        cr_assert(eq(sz, claim(g_o, now + 999, j, 2), 0));
        now += 1000;
    }
    cr_assert(eq(sz, claim(g_o, now + 10 * LEASE, j, 2), 0));
    cr_assert(eq(i64, zcard("kt:{t:acme}:outbox_dead"), 1));
    redisReply *r = kj_redis_command(g_r, "HGET kt:{t:acme}:ob:" CID
                                          ":sla_warning last_error");
    cr_assert(eq(str, r->str, "HTTP 503 after 1 attempt"));
    freeReplyObject(r);
    json_t *arr = NULL;
    cr_assert(eq(int, kj_outbox_deliveries(g_o, TENANT, CID, &arr), 0));
    cr_assert(eq(sz, json_array_size(arr), 1));
    json_t *d = json_array_get(arr, 0);
    cr_assert(eq(str, (char *)json_string_value(json_object_get(d, "status")),
                 "failed"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(d, "kind")),
                 "sla_warning"));
    cr_assert(eq(i64, json_integer_value(json_object_get(d, "attempts")), 3));
    json_decref(arr);
}

Test(outbox, defer_gives_the_attempt_back)
{
    cr_assert(
        eq(int, put(TENANT, CID ":customer_ack", "customer_ack", NOW), 1));
    kj_outbox_job_t j[2];
    for (int i = 0; i < 5; i++) {
        cr_assert(eq(sz, claim(g_o, NOW + i, j, 2), 1));
        cr_assert(eq(i64, j[0].attempts, 1));
        cr_assert(eq(int,
                     kj_outbox_retry(g_o, &j[0], NOW + i + 1, "circuit open", 1,
                                     true, "", 0, NOW + i),
                     KJ_OUTBOX_RETRY));
        clear(j, 1);
    }
    cr_assert(eq(i64, zcard("kt:{t:acme}:outbox_dead"), 0));
}

Test(outbox, deliveries_of_an_unknown_complaint_are_empty)
{
    json_t *arr = NULL;
    cr_assert(eq(int, kj_outbox_deliveries(g_o, TENANT, CID, &arr), 0));
    cr_assert(eq(sz, json_array_size(arr), 0));
    json_decref(arr);
    cr_assert(eq(int, kj_outbox_deliveries(g_o, "a}b", CID, &arr), 0));
    cr_assert(eq(sz, json_array_size(arr), 0));
    json_decref(arr);
}

Test(outbox, scripts_flushed_are_loaded_again)
{
    cr_assert(
        eq(int, put(TENANT, CID ":customer_ack", "customer_ack", NOW), 1));
    redisReply *r = kj_redis_command(g_r, "SCRIPT FLUSH");
    freeReplyObject(r);
    kj_outbox_job_t j[2];
    cr_assert(eq(sz, claim(g_o, NOW, j, 2), 1));
    r = kj_redis_command(g_r, "SCRIPT FLUSH");
    freeReplyObject(r);
    cr_assert(eq(int, kj_outbox_done(g_o, &j[0], "http://x:80", 200, NOW), 1));
    clear(j, 1);
}

/* One case's deliveries to one audience go out one at a time, in the
 * order they were owed: its survey_request waits for its customer_ack,
 * even when both are due and the ack is retrying; its team's escalation
 * and other cases' jobs are not held up; a dead ack lets the next go. */
Test(outbox, a_case_delivers_in_order_per_audience)
{
    const char *p = "{\"kind\":\"x\"}";
    cr_assert(eq(int,
                 kj_outbox_put(g_o, TENANT, "A:customer_ack", "customer_ack",
                               "A", "K1", p, NOW),
                 1));
    cr_assert(eq(int,
                 kj_outbox_put(g_o, TENANT, "A:survey_request:1",
                               "survey_request", "A", "K1", p, NOW),
                 1));
    cr_assert(eq(int,
                 kj_outbox_put(g_o, TENANT, "A:escalation:fr1", "escalation",
                               "A", "K1", p, NOW),
                 1));
    cr_assert(eq(int,
                 kj_outbox_put(g_o, TENANT, "B:customer_ack", "customer_ack",
                               "B", "K2", p, NOW),
                 1));
    kj_outbox_job_t j[8];
    size_t n = claim(g_o, NOW, j, 8);
    cr_assert(eq(sz, n, 3), "the survey must wait for the ack");
    bool ack = false, esc = false, other = false;
    for (size_t i = 0; i < n; i++) {
        ack |= strcmp(j[i].id, "A:customer_ack") == 0;
        esc |= strcmp(j[i].id, "A:escalation:fr1") == 0;
        other |= strcmp(j[i].id, "B:customer_ack") == 0;
    }
    cr_assert(ack && esc && other);
    kj_outbox_job_t held;
    for (size_t i = 0; i < n; i++)
        if (strcmp(j[i].id, "A:customer_ack") == 0)
            held = j[i];
    /* The ack fails and retries: the survey still waits, later too. */
    cr_assert(eq(int,
                 kj_outbox_retry(g_o, &held, NOW + 1000, "HTTP 503", 2, false,
                                 "http://x:80", 503, NOW + 10),
                 KJ_OUTBOX_RETRY));
    kj_outbox_job_t k[8];
    cr_assert(eq(sz, claim(g_o, NOW + 500, k, 8), 0));
    size_t m = claim(g_o, NOW + 1000, k, 8);
    cr_assert(eq(sz, m, 1));
    cr_assert(eq(str, k[0].id, "A:customer_ack"));
    /* Dead after its second attempt: the survey goes next. */
    cr_assert(eq(int,
                 kj_outbox_retry(g_o, &k[0], NOW + 2000, "HTTP 503", 2, false,
                                 "http://x:80", 503, NOW + 1010),
                 KJ_OUTBOX_DEAD));
    clear(k, m);
    m = claim(g_o, NOW + 1500, k, 8);
    cr_assert(eq(sz, m, 1));
    cr_assert(eq(str, k[0].id, "A:survey_request:1"));
    cr_assert(eq(int, kj_outbox_done(g_o, &k[0], "http://x:80", 200, NOW + 1600),
                 1));
    clear(k, m);
    clear(j, n);
    /* The queues are empty once everything is answered. */
    redisReply *r = kj_redis_command(g_r, "EXISTS kt:{t:acme}:obq:K1:c");
    cr_assert(eq(i64, r->integer, 0));
    freeReplyObject(r);
}
