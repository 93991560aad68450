/* kj_ratelimit against a real redis-server: bursts, refill over the
 * caller's clock, partial admission of a batch, the tenant bucket shared by
 * its keys, per-key overrides, idle buckets expiring, one round trip per
 * batch, unlimited buckets, lost scripts and a Redis that is down. Each
 * test starts its own server; time is passed in, nothing sleeps. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_ratelimit.h"
#include "kj_redis.h"
#include "kj_testredis.h"
#include "kj_util.h"

#define NOW                                                                    \
    1800000000000LL /* a fixed clock: the limiter takes time as input          \
                     */

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

TestSuite(ratelimit, .init = setup, .fini = teardown, .timeout = 60);

static kj_ratelimit_t *
s_limiter(double key_rate, int64_t key_burst, double tenant_rate,
          int64_t tenant_burst)
{
    kj_ratelimit_opts_t o = {.prefix = "rlt",
                             .key_rate = key_rate,
                             .key_burst = key_burst,
                             .tenant_rate = tenant_rate,
                             .tenant_burst = tenant_burst};
    kj_ratelimit_t *rl = kj_ratelimit_new(g_r, &o);
    cr_assert(ne(ptr, rl, NULL));
    return rl;
}

/* Take cost for one key of tenant at now; the item as answered. */
static kj_ratelimit_take_t
s_take(kj_ratelimit_t *rl, const char *key, const char *tenant, int64_t cost,
       int64_t now)
{
    kj_ratelimit_take_t it = {.key_id = key, .tenant = tenant, .cost = cost};
    cr_assert(eq(int, kj_ratelimit_take(rl, &it, 1, now), 0));
    return it;
}

/* A number from INFO (a "name:value" line of any section). */
static long long
s_info(const char *section, const char *name)
{
    redisReply *rep = kj_redis_command(g_r, "INFO %s", section);
    cr_assert(ne(ptr, rep, NULL));
    cr_assert(eq(int, rep->type, REDIS_REPLY_STRING));
    char pat[96];
    snprintf(pat, sizeof pat, "\r\n%s:", name);
    const char *at = strstr(rep->str, pat);
    long long v = -1;
    if (at)
        v = strtoll(at + strlen(pat), NULL, 10);
    freeReplyObject(rep);
    cr_assert(ge(i64, v, 0), "%s not in INFO %s", name, section);
    return v;
}

/* evalsha's calls from INFO commandstats ("calls=N,..."), 0 before any. */
static long long
s_evalsha_calls(void)
{
    redisReply *rep = kj_redis_command(g_r, "INFO commandstats");
    cr_assert(ne(ptr, rep, NULL));
    const char *at = strstr(rep->str, "cmdstat_evalsha:calls=");
    long long v =
        at ? strtoll(at + strlen("cmdstat_evalsha:calls="), NULL, 10) : 0;
    freeReplyObject(rep);
    return v;
}

static long long
s_int(const char *fmt, const char *key)
{
    redisReply *rep = kj_redis_command(g_r, fmt, key);
    cr_assert(ne(ptr, rep, NULL));
    cr_assert(eq(int, rep->type, REDIS_REPLY_INTEGER));
    long long v = rep->integer;
    freeReplyObject(rep);
    return v;
}

Test(ratelimit, burst_is_admitted_then_refused)
{
    /* 10 requests/s per key, bursts of 5; tenants unlimited. */
    kj_ratelimit_t *rl = s_limiter(10, 5, 0, 0);
    for (int i = 0; i < 5; i++) {
        kj_ratelimit_take_t it = s_take(rl, "k1", "acme", 1, NOW);
        cr_assert(eq(i64, it.admitted, 1), "request %d", i);
        cr_assert(eq(i64, it.retry_after_ms, 0));
    }
    kj_ratelimit_take_t it = s_take(rl, "k1", "acme", 1, NOW);
    cr_assert(eq(i64, it.admitted, 0));
    cr_assert(eq(i64, it.retry_after_ms, 100)); /* 1000 / rate */
    /* Another key has its own bucket. */
    cr_assert(eq(i64, s_take(rl, "k2", "acme", 1, NOW).admitted, 1));
    kj_ratelimit_destroy(&rl);
    cr_assert(eq(ptr, rl, NULL));
    kj_ratelimit_destroy(&rl); /* safe on NULL */
}

Test(ratelimit, retry_after_is_when_the_next_token_appears)
{
    kj_ratelimit_t *rl = s_limiter(4, 2, 0, 0);
    cr_assert(eq(i64, s_take(rl, "k", "t", 2, NOW).admitted, 2));
    kj_ratelimit_take_t it = s_take(rl, "k", "t", 1, NOW);
    cr_assert(eq(i64, it.admitted, 0));
    cr_assert(eq(i64, it.retry_after_ms, 250));
    /* 100 ms later 0.4 of a token is there: 150 ms to go. */
    it = s_take(rl, "k", "t", 1, NOW + 100);
    cr_assert(eq(i64, it.admitted, 0));
    cr_assert(eq(i64, it.retry_after_ms, 150));
    /* A rate that does not divide 1000 rounds up, never early. */
    kj_ratelimit_t *odd = s_limiter(3, 1, 0, 0);
    cr_assert(eq(i64, s_take(odd, "odd", "t", 1, NOW).admitted, 1));
    it = s_take(odd, "odd", "t", 1, NOW);
    cr_assert(eq(i64, it.retry_after_ms, 334));
    cr_assert(eq(i64, s_take(odd, "odd", "t", 1, NOW + 333).admitted, 0));
    cr_assert(eq(i64, s_take(odd, "odd", "t", 1, NOW + 334).admitted, 1));
    kj_ratelimit_destroy(&odd);
    kj_ratelimit_destroy(&rl);
}

Test(ratelimit, tokens_refill_over_the_callers_time)
{
    kj_ratelimit_t *rl = s_limiter(4, 2, 0, 0);
    cr_assert(eq(i64, s_take(rl, "k", "t", 2, NOW).admitted, 2));
    cr_assert(eq(i64, s_take(rl, "k", "t", 1, NOW + 249).admitted, 0));
    cr_assert(eq(i64, s_take(rl, "k", "t", 1, NOW + 250).admitted, 1));
    /* Ten seconds idle fill the bucket to its burst, not beyond. */
    cr_assert(eq(i64, s_take(rl, "k", "t", 5, NOW + 10250).admitted, 2));
    /* A caller whose clock is behind gets no second credit for time the
     * bucket already counted. */
    cr_assert(eq(i64, s_take(rl, "k", "t", 1, NOW + 10000).admitted, 0));
    cr_assert(eq(i64, s_take(rl, "k", "t", 1, NOW + 10250).admitted, 0));
    cr_assert(eq(i64, s_take(rl, "k", "t", 1, NOW + 10500).admitted, 1));
    kj_ratelimit_destroy(&rl);
}

Test(ratelimit, a_batch_cost_is_admitted_in_part)
{
    kj_ratelimit_t *rl = s_limiter(2, 3, 0, 0);
    kj_ratelimit_take_t it = s_take(rl, "k", "t", 10, NOW);
    cr_assert(eq(i64, it.admitted, 3)); /* the first 3 of 10 pass */
    cr_assert(eq(i64, it.retry_after_ms, 500));
    it = s_take(rl, "k", "t", 10, NOW);
    cr_assert(eq(i64, it.admitted, 0));
    /* A cost of 0 takes nothing and passes. */
    it = s_take(rl, "k", "t", 0, NOW);
    cr_assert(eq(i64, it.admitted, 0));
    cr_assert(eq(i64, it.retry_after_ms, 0));
    kj_ratelimit_destroy(&rl);
}

Test(ratelimit, the_tenant_bucket_limits_its_keys_together)
{
    /* Keys could do 100 at once; the tenant only 5, then 1/s. */
    kj_ratelimit_t *rl = s_limiter(100, 100, 1, 5);
    cr_assert(eq(i64, s_take(rl, "a", "acme", 3, NOW).admitted, 3));
    kj_ratelimit_take_t it = s_take(rl, "b", "acme", 3, NOW);
    cr_assert(eq(i64, it.admitted, 2));
    cr_assert(eq(i64, it.retry_after_ms, 1000));
    cr_assert(eq(i64, s_take(rl, "a", "acme", 1, NOW).admitted, 0));
    /* A key refused by its tenant is not charged: a still has 100 - 3. */
    redisReply *rep =
        kj_redis_command(g_r, "HGET %s tokens", "rlt:rl:{acme}:k:a");
    cr_assert(ne(ptr, rep, NULL));
    cr_assert(eq(int, rep->type, REDIS_REPLY_STRING));
    cr_assert(eq(str, rep->str, "97"));
    freeReplyObject(rep);
    /* Another tenant is not affected. */
    cr_assert(eq(i64, s_take(rl, "a", "other", 5, NOW).admitted, 5));
    /* The tenant's next token, a second later, goes to whichever key asks. */
    cr_assert(eq(i64, s_take(rl, "b", "acme", 2, NOW + 1000).admitted, 1));
    kj_ratelimit_destroy(&rl);
}

Test(ratelimit, a_key_can_override_the_default_rate)
{
    kj_ratelimit_t *rl = s_limiter(1, 2, 0, 0);
    kj_ratelimit_take_t items[3] = {
        {.key_id = "big",
         .tenant = "t",
         .cost = 30,
         .key_rate = 50,
         .key_burst = 20},
        {.key_id = "small", .tenant = "t", .cost = 30},
        /* A rate without a burst keeps the default burst. */
        {.key_id = "fast", .tenant = "t", .cost = 30, .key_rate = 50},
    };
    cr_assert(eq(int, kj_ratelimit_take(rl, items, 3, NOW), 0));
    cr_assert(eq(i64, items[0].admitted, 20));
    cr_assert(eq(i64, items[0].retry_after_ms, 20)); /* 1000 / 50 */
    cr_assert(eq(i64, items[1].admitted, 2));
    cr_assert(eq(i64, items[1].retry_after_ms, 1000));
    cr_assert(eq(i64, items[2].admitted, 2));
    cr_assert(eq(i64, items[2].retry_after_ms, 20));
    kj_ratelimit_destroy(&rl);

    /* With unlimited keys by default, an override limits that key alone,
     * with one second's worth of burst. */
    rl = s_limiter(0, 0, 0, 0);
    kj_ratelimit_take_t one = {
        .key_id = "k", .tenant = "t", .cost = 100, .key_rate = 5};
    cr_assert(eq(int, kj_ratelimit_take(rl, &one, 1, NOW), 0));
    cr_assert(eq(i64, one.admitted, 5));
    cr_assert(eq(i64, s_take(rl, "k", "t", 100, NOW).admitted, 100));
    kj_ratelimit_destroy(&rl);
}

Test(ratelimit, idle_buckets_expire)
{
    /* Key: burst 10 at 2/s refills in 5 s -> expires after 10 s idle.
     * Tenant: burst 3 at 1/s refills in 3 s -> 6 s. */
    kj_ratelimit_t *rl = s_limiter(2, 10, 1, 3);
    cr_assert(eq(i64, s_take(rl, "k1", "acme", 1, NOW).admitted, 1));
    long long key_ttl = s_int("PTTL %s", "rlt:rl:{acme}:k:k1");
    long long tenant_ttl = s_int("PTTL %s", "rlt:rl:{acme}:t");
    cr_assert(gt(i64, key_ttl, 9000));
    cr_assert(le(i64, key_ttl, 10000));
    cr_assert(gt(i64, tenant_ttl, 5000));
    cr_assert(le(i64, tenant_ttl, 6000));
    /* A vanished bucket is a full one. */
    cr_assert(eq(i64, s_take(rl, "k1", "acme", 3, NOW).admitted, 2));
    cr_assert(eq(i64, s_int("DEL %s", "rlt:rl:{acme}:t"), 1));
    cr_assert(eq(i64, s_take(rl, "k1", "acme", 3, NOW).admitted, 3));
    kj_ratelimit_destroy(&rl);
}

Test(ratelimit, a_batch_is_one_round_trip)
{
    kj_ratelimit_t *rl = s_limiter(10, 5, 100, 1000);
    enum { N = 50 };
    kj_ratelimit_take_t items[N];
    char names[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "key%d", i);
        items[i] = (kj_ratelimit_take_t){
            .key_id = names[i], .tenant = "acme", .cost = 2};
    }
    /* Load the script first, so the count sees only the batch. */
    cr_assert(eq(int, kj_redis_connect(g_r), 0));
    long long calls = s_evalsha_calls();
    long long reads = s_info("stats", "total_reads_processed");
    cr_assert(eq(int, kj_ratelimit_take(rl, items, N, NOW), 0));
    long long batch_reads = s_info("stats", "total_reads_processed") - reads;
    cr_assert(eq(i64, s_evalsha_calls() - calls, N)); /* one per item */
    for (int i = 0; i < N; i++)
        cr_assert(eq(i64, items[i].admitted, 2));
    /* Redis read the batch at once (plus the INFO and INFO commandstats
     * after it); calling item by item reads once per item. */
    cr_assert(le(i64, batch_reads, 4));
    reads = s_info("stats", "total_reads_processed");
    for (int i = 0; i < N; i++)
        cr_assert(eq(int, kj_ratelimit_take(rl, &items[i], 1, NOW), 0));
    long long single_reads = s_info("stats", "total_reads_processed") - reads;
    cr_assert(ge(i64, single_reads, N));
    kj_ratelimit_destroy(&rl);
}

Test(ratelimit, unlimited_never_refuses)
{
    kj_ratelimit_t *rl = s_limiter(0, 0, 0, 0);
    cr_assert(eq(int, kj_redis_connect(g_r), 0));
    long long cmds = s_info("stats", "total_commands_processed");
    for (int i = 0; i < 100; i++) {
        kj_ratelimit_take_t it = s_take(rl, "k", "t", 1000000, NOW);
        cr_assert(eq(i64, it.admitted, 1000000));
        cr_assert(eq(i64, it.retry_after_ms, 0));
    }
    /* Nothing limited, nothing asked: only the second INFO ran. */
    cr_assert(eq(i64, s_info("stats", "total_commands_processed") - cmds, 1));
    redisReply *rep = kj_redis_command(g_r, "DBSIZE");
    cr_assert(ne(ptr, rep, NULL));
    cr_assert(eq(i64, rep->integer, 0)); /* no bucket was written */
    freeReplyObject(rep);
    kj_ratelimit_destroy(&rl);

    /* Unlimited keys under a limited tenant: only the tenant counts and
     * the keys' buckets are never written. */
    rl = s_limiter(0, 0, 1, 4);
    cr_assert(eq(i64, s_take(rl, "a", "t", 3, NOW).admitted, 3));
    cr_assert(eq(i64, s_take(rl, "b", "t", 3, NOW).admitted, 1));
    cr_assert(eq(i64, s_int("EXISTS %s", "rlt:rl:{t}:k:a"), 0));
    cr_assert(eq(i64, s_int("EXISTS %s", "rlt:rl:{t}:t"), 1));
    kj_ratelimit_destroy(&rl);
}

Test(ratelimit, lost_scripts_are_reloaded_and_charged_once)
{
    kj_ratelimit_t *rl = s_limiter(1, 3, 0, 0);
    cr_assert(eq(i64, s_take(rl, "k", "t", 1, NOW).admitted, 1));
    redisReply *rep = kj_redis_command(g_r, "SCRIPT FLUSH");
    cr_assert(ne(ptr, rep, NULL));
    freeReplyObject(rep);
    cr_assert(eq(i64, s_take(rl, "k", "t", 1, NOW).admitted, 1));
    /* 3 - 1 - 1: the NOSCRIPT attempt charged nothing. */
    cr_assert(eq(i64, s_take(rl, "k", "t", 5, NOW).admitted, 1));
    kj_ratelimit_destroy(&rl);
}

Test(ratelimit, invalid_items_and_a_dead_redis_are_reported)
{
    kj_ratelimit_t *rl = s_limiter(1, 3, 0, 0);
    kj_ratelimit_take_t items[3] = {
        {.key_id = "k", .tenant = "bad}tenant", .cost = 1},
        {.key_id = "k", .tenant = "good", .cost = 1},
        {.key_id = "", .tenant = "good", .cost = 1},
    };
    cr_assert(eq(int, kj_ratelimit_take(rl, items, 3, NOW), -1));
    cr_assert(eq(i64, items[0].admitted, -1));
    cr_assert(eq(i64, items[1].admitted, 1)); /* decided and charged */
    cr_assert(eq(i64, items[2].admitted, -1));

    kj_testredis_stop(&g_srv);
    kj_ratelimit_take_t it = {.key_id = "k", .tenant = "good", .cost = 1};
    cr_assert(eq(int, kj_ratelimit_take(rl, &it, 1, NOW), -1));
    cr_assert(eq(i64, it.admitted, -1)); /* the caller decides: open */
    kj_ratelimit_destroy(&rl);
}

Test(ratelimit, options_out_of_range_are_refused)
{
    kj_ratelimit_opts_t o = {.key_rate = 10, .key_burst = 0};
    cr_assert(eq(ptr, kj_ratelimit_new(g_r, &o), NULL));
    o = (kj_ratelimit_opts_t){.tenant_rate = -1, .tenant_burst = 5};
    cr_assert(eq(ptr, kj_ratelimit_new(g_r, &o), NULL));
    o = (kj_ratelimit_opts_t){.prefix = "", .key_rate = 1, .key_burst = 1};
    cr_assert(eq(ptr, kj_ratelimit_new(g_r, &o), NULL));
    o = (kj_ratelimit_opts_t){.key_rate = 1, .key_burst = 1};
    kj_ratelimit_t *rl = kj_ratelimit_new(g_r, &o); /* prefix "kj" */
    cr_assert(ne(ptr, rl, NULL));
    cr_assert(eq(i64, s_take(rl, "k", "t", 1, NOW).admitted, 1));
    cr_assert(eq(i64, s_int("EXISTS %s", "kj:rl:{t}:k:k"), 1));
    kj_ratelimit_destroy(&rl);
}
