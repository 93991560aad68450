/* kujo as the least-privileged Redis user compose and k8s create
 * (deploy/redis/kujo-acl.sh): the whole pipeline runs with only the
 * commands that script grants and only keys under its prefix, so a command
 * kujo starts to use without adding it there fails here (NOPERM), not in
 * production. And the user can do nothing else: no other keys, no admin
 * or dangerous commands. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "kj_harness.h"
#include "kj_outbox.h"
#include "kj_redis.h"
#include "kj_sink.h"
#include "kj_util.h"

static kj_pipeline_t *s_pl;

static void
s_teardown(void)
{
    kj_pipeline_destroy(&s_pl);
}

TestSuite(redis_acl, .fini = s_teardown, .timeout = 120);

#define S_N 8

Test(redis_acl, pipeline_runs_as_the_restricted_user)
{
    kj_pipeline_opts_t o = {.redis_acl = true};
    s_pl = kj_pipeline_new(&o);
    cr_assert(s_pl != NULL, "the pipeline did not start as the ACL user");
    cr_assert(
        ne(ptr, strstr(kj_pipeline_service_redis_url(s_pl), "kujo:"), NULL));

    char ids[S_N][32], again[32];
    for (int i = 0; i < S_N; i++) {
        char cust[32], key[32];
        snprintf(cust, sizeof cust, "acl-%d", i);
        snprintf(key, sizeof key, "acl-key-%d", i);
        char *body = kj_test_complaint(
            i % 2 ? "email" : "x", cust, "standard",
            i % 2 ? "I was charged twice for my order, please refund it."
                  : "アプリにログインできません。エラーになります。",
            NULL);
        int status = kj_pipeline_post(s_pl, body, key, ids[i]);
        KJ_PL_ASSERT(s_pl, status == 202, "POST #%d answered %d", i, status);
        if (i == 0) {
            /* The idempotency path reads as well as writes. */
            status = kj_pipeline_post(s_pl, body, key, again);
            KJ_PL_ASSERT(s_pl, status == 200, "repeat answered %d", status);
            cr_assert(eq(str, again, ids[0]));
        }
        free(body);
    }
    int delivered = kj_pipeline_wait_all(s_pl, ids, S_N, "delivered", 30000);
    KJ_PL_ASSERT(s_pl, delivered == S_N, "%d of %d delivered", delivered, S_N);

    /* Analytics (stream group, counts, SLA) works as the user too. */
    json_t *st = NULL;
    for (int i = 0; i < 100; i++) {
        json_decref(st);
        st = kj_pipeline_stats(s_pl);
        if (st && json_integer_value(json_object_get(st, "delivered")) >= S_N)
            break;
        kj_test_sleep_ms(100);
    }
    KJ_PL_ASSERT(
        s_pl, st && json_integer_value(json_object_get(st, "delivered")) == S_N,
        "analytics did not count %d delivered", S_N);
    json_decref(st);
}

/* The outbox as the user: owed (scripts, the tenants set), claimed and
 * delivered by the notifier, and read back for GET (LRANGE). */
Test(redis_acl, outbox_runs_as_the_restricted_user)
{
    kj_pipeline_opts_t o = {.redis_acl = true};
    s_pl = kj_pipeline_new(&o);
    cr_assert(s_pl != NULL);
    char err[256];
    kj_redis_t *r = kj_redis_new(kj_pipeline_service_redis_url(s_pl), 2000, err,
                                 sizeof err);
    cr_assert(ne(ptr, r, NULL), "%s", err);
    kj_outbox_t *ob = kj_outbox_new(r, kj_pipeline_prefix(s_pl));
    static const char cid[] = "0123456789abcdef0123";
    cr_assert(eq(int,
                 kj_outbox_put(ob, "acme", "0123456789abcdef0123:follow_up",
                               "follow_up", cid, "", "{\"team\":\"care-en\"}",
                               kj_now_ms()),
                 1),
              "%s", kj_redis_errstr(r));
    kj_sink_t *sink = kj_pipeline_sink(s_pl);
    kj_sink_only_kind(sink, NULL); /* a follow_up, not a team alert */
    int waited = 0;
    while (kj_sink_key_count(sink, "0123456789abcdef0123:follow_up") == 0 &&
           waited < 15000) {
        kj_test_sleep_ms(100);
        waited += 100;
    }
    KJ_PL_ASSERT(s_pl,
                 kj_sink_key_count(sink, "0123456789abcdef0123:follow_up") == 1,
                 "the job never arrived");
    json_t *arr = NULL;
    size_t n = 0;
    for (waited = 0; n == 0 && waited < 5000; waited += 100) {
        json_decref(arr);
        arr = NULL;
        cr_assert(eq(int, kj_outbox_deliveries(ob, "acme", cid, &arr), 0), "%s",
                  kj_redis_errstr(r));
        n = json_array_size(arr);
        if (n == 0)
            kj_test_sleep_ms(100);
    }
    cr_assert(eq(sz, n, 1));
    json_decref(arr);
    kj_outbox_destroy(&ob);
    kj_redis_destroy(&r);
}

/* What the user must not do, asked of a real Redis with the real ACL. */
Test(redis_acl, user_cannot_leave_its_prefix_or_administer)
{
    kj_pipeline_opts_t o = {.redis_acl = true};
    s_pl = kj_pipeline_new(&o);
    cr_assert(s_pl != NULL);
    char err[256];
    kj_redis_t *r = kj_redis_new(kj_pipeline_service_redis_url(s_pl), 2000, err,
                                 sizeof err);
    cr_assert(ne(ptr, r, NULL), "%s", err);
    cr_assert(eq(int, kj_redis_connect(r), 0), "%s", kj_redis_errstr(r));

    char own[64];
    snprintf(own, sizeof own, "%s:acl-probe", kj_pipeline_prefix(s_pl));
    redisReply *rep = kj_redis_command(r, "SET %s 1", own);
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "own prefix refused");
    freeReplyObject(rep);

    const char *refused[] = {
        "SET other:key 1", "GET other:key",   "FLUSHALL",
        "FLUSHDB",         "KEYS *",          "CONFIG GET requirepass",
        "SCRIPT FLUSH",    "ACL LIST",        "CLIENT LIST",
        "SHUTDOWN NOSAVE", "EVAL return 1 0", "SUBSCRIBE x",
    };
    for (size_t i = 0; i < KJ_ARRAY_LEN(refused); i++) {
        rep = kj_redis_command(r, refused[i]);
        cr_assert(rep != NULL, "%s: no reply", refused[i]);
        cr_assert(eq(int, rep->type, REDIS_REPLY_ERROR), "%s was allowed",
                  refused[i]);
        cr_assert(ne(ptr, strstr(rep->str, "NOPERM"), NULL), "%s: %s",
                  refused[i], rep->str);
        freeReplyObject(rep);
    }
    kj_redis_destroy(&r);
}

/* A Redis with only requirepass (no ACL users) still works: the URL's
 * password without a user is the classic AUTH. */
Test(redis_acl, requirepass_only_still_works)
{
    kj_testredis_t srv;
    cr_assert(eq(int, kj_testredis_start(&srv, false), 0));
    redisContext *admin = redisConnect("127.0.0.1", srv.port);
    cr_assert(admin && !admin->err);
    redisReply *rep = redisCommand(admin, "CONFIG SET requirepass s3cret-pw");
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    redisFree(admin);

    char url[128], err[256];
    snprintf(url, sizeof url, "redis://:s3cret-pw@127.0.0.1:%d/0", srv.port);
    kj_redis_t *r = kj_redis_new(url, 2000, err, sizeof err);
    cr_assert(ne(ptr, r, NULL), "%s", err);
    rep = kj_redis_command(r, "SET kj:probe 1");
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "%s", kj_redis_errstr(r));
    freeReplyObject(rep);
    kj_redis_destroy(&r);

    snprintf(url, sizeof url, "redis://:wrong@127.0.0.1:%d/0", srv.port);
    r = kj_redis_new(url, 2000, err, sizeof err);
    cr_assert(ne(ptr, r, NULL), "%s", err);
    cr_assert(eq(int, kj_redis_connect(r), -1));
    cr_assert(ne(ptr, strstr(kj_redis_errstr(r), "AUTH"), NULL), "%s",
              kj_redis_errstr(r));
    cr_assert(eq(ptr, strstr(kj_redis_errstr(r), "wrong"), NULL),
              "the password reached the error: %s", kj_redis_errstr(r));
    kj_redis_destroy(&r);
    kj_testredis_stop(&srv);
}
