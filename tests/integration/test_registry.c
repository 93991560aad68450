/* kj_registry against a real redis-server: heartbeats, listing live
 * endpoints, pruning expired ones, withdrawing on drain. Time is passed in,
 * so nothing sleeps. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <string.h>

#include "kj_redis.h"
#include "kj_registry.h"
#include "kj_testredis.h"

#define NOW 1800000000000LL
#define TTL 3000

static kj_testredis_t g_srv;
static kj_redis_t *g_r;

static void
setup(void)
{
    cr_assert(eq(int, kj_testredis_start(&g_srv, false), 0));
    char err[128];
    g_r = kj_redis_new(g_srv.url, 2000, err, sizeof err);
    cr_assert(ne(ptr, g_r, NULL), "%s", err);
}

static void
teardown(void)
{
    kj_redis_destroy(&g_r);
    kj_testredis_stop(&g_srv);
}

TestSuite(registry, .init = setup, .fini = teardown, .timeout = 30);

static long long
zcard(const char *key)
{
    redisReply *rep = kj_redis_command(g_r, "ZCARD %s", key);
    cr_assert(ne(ptr, rep, NULL));
    cr_assert(eq(int, rep->type, REDIS_REPLY_INTEGER));
    long long n = rep->integer;
    freeReplyObject(rep);
    return n;
}

static bool
has(char **list, const char *endpoint)
{
    for (char **p = list; *p; p++)
        if (strcmp(*p, endpoint) == 0)
            return true;
    return false;
}

/* Usage: a classifier copy announces itself, ingest finds it. */
Test(registry, usage)
{
    cr_assert(eq(int,
                 kj_registry_heartbeat(g_r, "r_usage", "classifier",
                                       "tcp://10.0.0.7:5555", NOW, TTL),
                 0));
    char **list = NULL;
    int n = kj_registry_list(g_r, "r_usage", "classifier", NOW + 1, &list);
    cr_assert(eq(int, n, 1));
    cr_assert(eq(str, list[0], "tcp://10.0.0.7:5555"));
    cr_assert(eq(ptr, list[1], NULL));
    kj_registry_free(list);
    kj_registry_free(NULL); /* safe */
}

Test(registry, heartbeats_extend_and_expired_entries_are_pruned)
{
    const char *a = "tcp://127.0.0.1:5001", *b = "tcp://127.0.0.1:5002";
    cr_assert(
        eq(int, kj_registry_heartbeat(g_r, "r_exp", "router", a, NOW, TTL), 0));
    cr_assert(
        eq(int, kj_registry_heartbeat(g_r, "r_exp", "router", b, NOW, TTL), 0));
    char **list = NULL;
    cr_assert(eq(int, kj_registry_list(g_r, "r_exp", "router", NOW, &list), 2));
    cr_assert(has(list, a) && has(list, b));
    kj_registry_free(list);

    /* a keeps beating, b stopped (its process died without removing). */
    cr_assert(eq(
        int, kj_registry_heartbeat(g_r, "r_exp", "router", a, NOW + 2000, TTL),
        0));
    cr_assert(eq(int,
                 kj_registry_list(g_r, "r_exp", "router", NOW + TTL - 1, &list),
                 2));
    kj_registry_free(list);
    /* At its expiry b is gone from the list and from Redis. */
    cr_assert(
        eq(int, kj_registry_list(g_r, "r_exp", "router", NOW + TTL, &list), 1));
    cr_assert(eq(str, list[0], (char *)a));
    kj_registry_free(list);
    cr_assert(eq(i64, zcard("r_exp:reg:router"), 1));

    /* Everything expired: an empty, still NULL-terminated list. */
    cr_assert(eq(
        int, kj_registry_list(g_r, "r_exp", "router", NOW + 10000, &list), 0));
    cr_assert(ne(ptr, list, NULL));
    cr_assert(eq(ptr, list[0], NULL));
    kj_registry_free(list);
    cr_assert(eq(i64, zcard("r_exp:reg:router"), 0));
}

Test(registry, stages_are_separate_and_remove_withdraws)
{
    const char *a = "tcp://127.0.0.1:6001";
    kj_registry_heartbeat(g_r, "r_rm", "router", a, NOW, TTL);
    kj_registry_heartbeat(g_r, "r_rm", "notifier", "tcp://127.0.0.1:6002", NOW,
                          TTL);
    char **list = NULL;
    cr_assert(eq(int, kj_registry_list(g_r, "r_rm", "router", NOW, &list), 1));
    cr_assert(eq(str, list[0], (char *)a));
    kj_registry_free(list);

    cr_assert(eq(int, kj_registry_remove(g_r, "r_rm", "router", a), 0));
    cr_assert(eq(int, kj_registry_list(g_r, "r_rm", "router", NOW, &list), 0));
    kj_registry_free(list);
    /* Removing what is not there is fine (a drain after an expiry). */
    cr_assert(eq(int, kj_registry_remove(g_r, "r_rm", "router", a), 0));
    cr_assert(
        eq(int, kj_registry_list(g_r, "r_rm", "notifier", NOW, &list), 1));
    kj_registry_free(list);
    /* Another prefix sees nothing. */
    cr_assert(
        eq(int, kj_registry_list(g_r, "r_other", "notifier", NOW, &list), 0));
    kj_registry_free(list);
}

Test(registry, many_copies)
{
    enum { N = 100 };
    for (int i = 0; i < N; i++) {
        char ep[64];
        snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", 7000 + i);
        cr_assert(eq(int,
                     kj_registry_heartbeat(g_r, "r_many", "classifier", ep, NOW,
                                           TTL + i),
                     0));
    }
    char **list = NULL;
    cr_assert(
        eq(int,
           kj_registry_list(g_r, "r_many", "classifier", NOW + TTL + 49, &list),
           50));
    cr_assert(has(list, "tcp://127.0.0.1:7099"));
    cr_assert(not(has(list, "tcp://127.0.0.1:7049")));
    kj_registry_free(list);
}

Test(registry, redis_down_is_an_error)
{
    kj_testredis_stop(&g_srv);
    char **list = (char **)1;
    cr_assert(eq(
        int,
        kj_registry_heartbeat(g_r, "r_down", "router", "tcp://x:1", NOW, TTL),
        -1));
    cr_assert(
        eq(int, kj_registry_list(g_r, "r_down", "router", NOW, &list), -1));
    cr_assert(eq(ptr, list, NULL));
    cr_assert(
        eq(int, kj_registry_remove(g_r, "r_down", "router", "tcp://x:1"), -1));
}
