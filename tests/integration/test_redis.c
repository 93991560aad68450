/* kj_redis against a real redis-server: pipelined HGETALL of many keys. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_redis.h"
#include "kj_testredis.h"

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

TestSuite(redis, .init = setup, .fini = teardown, .timeout = 30);

typedef struct {
    long long sum[3]; /* per key: sum of the values */
    int fields;
} s_seen_t;

static void
s_each(void *ctx, size_t k, const char *field, size_t flen, const char *value,
       size_t vlen)
{
    s_seen_t *seen = ctx;
    (void)field;
    char buf[32];
    cr_assert(lt(sz, vlen, sizeof buf));
    memcpy(buf, value, vlen);
    buf[vlen] = '\0';
    cr_assert(gt(sz, flen, 0));
    seen->sum[k] += atoll(buf);
    seen->fields++;
}

Test(redis, hgetall_each_reads_every_key_in_order)
{
    redisReply *r = kj_redis_command(g_r, "HSET h:a x 1 y 2");
    cr_assert(ne(ptr, r, NULL));
    freeReplyObject(r);
    r = kj_redis_command(g_r, "HSET h:c z 40");
    cr_assert(ne(ptr, r, NULL));
    freeReplyObject(r);
    /* h:b does not exist: an empty hash, not an error. */
    const char *keys[] = {"h:a", "h:b", "h:c"};
    s_seen_t seen = {0};
    cr_assert(eq(int, kj_redis_hgetall_each(g_r, keys, 3, s_each, &seen), 0));
    cr_assert(eq(i64, seen.sum[0], 3));
    cr_assert(eq(i64, seen.sum[1], 0));
    cr_assert(eq(i64, seen.sum[2], 40));
    cr_assert(eq(int, seen.fields, 3));
}

Test(redis, hgetall_each_fails_on_a_key_of_another_type)
{
    redisReply *r = kj_redis_command(g_r, "SET s:plain 7");
    cr_assert(ne(ptr, r, NULL));
    freeReplyObject(r);
    r = kj_redis_command(g_r, "HSET h:a x 5");
    freeReplyObject(r);
    const char *keys[] = {"s:plain", "h:a"};
    s_seen_t seen = {0};
    cr_assert(eq(int, kj_redis_hgetall_each(g_r, keys, 2, s_each, &seen), -1));
    /* The later key is still read: one bad key does not hide the rest. */
    cr_assert(eq(i64, seen.sum[1], 5));
}

Test(redis, hgetall_each_fails_when_redis_is_gone)
{
    kj_testredis_stop(&g_srv);
    const char *keys[] = {"h:a"};
    s_seen_t seen = {0};
    cr_assert(eq(int, kj_redis_hgetall_each(g_r, keys, 1, s_each, &seen), -1));
    cr_assert(eq(int, seen.fields, 0));
}
