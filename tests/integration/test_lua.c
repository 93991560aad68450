/* The embedded Lua scripts (libcommon/lua, through kj_lua.h) against a
 * real redis-server: every one compiles (SCRIPT LOAD), under the SHA1 that
 * kj_redis computes for EVALSHA. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <string.h>

#include "kj_lua.h"
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

TestSuite(lua, .init = setup, .fini = teardown, .timeout = 60);

/* SCRIPT LOAD source: the SHA1 Redis answers, or the error it gives, into
 * out. 0 for a SHA, -1 for an error. */
static int
s_load(const char *source, char *out, size_t size)
{
    const char *argv[] = {"SCRIPT", "LOAD", source};
    redisReply *rep = kj_redis_commandargv(g_r, 3, argv, NULL);
    cr_assert(ne(ptr, rep, NULL), "%s", kj_redis_errstr(g_r));
    int rc = rep->type == REDIS_REPLY_STRING ? 0 : -1;
    snprintf(out, size, "%s", rep->str ? rep->str : "unexpected reply");
    freeReplyObject(rep);
    return rc;
}

Test(lua, every_embedded_script_compiles)
{
    /* The five of kj_store, analytics' apply, kj_ratelimit's take and the
     * seven of kj_cases, the six of kj_outbox, feedback_record and the
     * three of analytics_incident. */
    cr_assert(eq(sz, kj_lua_n_scripts, 24));
    for (size_t i = 0; i < kj_lua_n_scripts; i++) {
        const kj_lua_script_t *s = &kj_lua_scripts[i];
        char answer[256];
        cr_assert(eq(int, s_load(s->source, answer, sizeof answer), 0),
                  "%s: %s", s->name, answer);
        /* EVALSHA runs what kj_redis hashed locally. */
        int h = kj_redis_script_add(g_r, s->source);
        cr_assert(eq(str, answer, (char *)kj_redis_script_sha(g_r, h)), "%s",
                  s->name);
    }
}

Test(lua, parts_are_put_in_front_of_the_scripts_that_require_them)
{
    cr_assert(not(
        eq(ptr, strstr(kj_lua_store_create, "local function event("), NULL)));
    cr_assert(not(
        eq(ptr, strstr(kj_lua_store_retry, "local function event("), NULL)));
    cr_assert(
        eq(ptr, strstr(kj_lua_store_claim, "local function event("), NULL));
    cr_assert(not(
        eq(ptr, strstr(kj_lua_analytics_apply, "local function record_sla("),
           NULL)));
    /* The part comes first: a Lua local must be defined before use. */
    cr_assert(lt(ptr, (void *)strstr(kj_lua_store_create, "local function"),
                 (void *)strstr(kj_lua_store_create, "redis.call('GET'")));
}

Test(lua, a_script_that_does_not_compile_is_refused)
{
    /* What the first test relies on: Redis compiles at SCRIPT LOAD. */
    char answer[256];
    cr_assert(eq(int, s_load("return (", answer, sizeof answer), -1));
    cr_assert(not(eq(ptr, strstr(answer, "Error compiling script"), NULL)),
              "%s", answer);
}
