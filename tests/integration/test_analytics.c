/* kujo-analytics end to end: a real redis-server, events appended to the
 * partition streams as the stages would (kj_event_encode + XADD), the real
 * binary, and its real /v1/stats answers. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "kj_envelope.h"
#include "kj_harness.h"
#include "kj_id.h"
#include "kj_redis.h"
#include "kj_store.h"
#include "kj_testredis.h"
#include "kj_util.h"

typedef struct {
    kj_testredis_t redis;
    kj_redis_t *r;
    kj_store_t *store; /* only for its key layout */
    kj_codec_t *codec;
    char prefix[32];
    char log[128];
    int admin_port;
    int http_port;
    char env[12][256];
    kj_proc_t *proc;
    kj_client_t *client;
    uint64_t rng;
} world_t;

static world_t W;

static void
world_up(void)
{
    memset(&W, 0, sizeof W);
    cr_assert(eq(int, kj_testredis_start(&W.redis, false), 0));
    char err[256];
    W.r = kj_redis_new(W.redis.url, 2000, err, sizeof err);
    cr_assert_not_null(W.r, "%s", err);
    W.codec = kj_codec_new();
    W.rng = kj_seed();
    W.client = kj_client_new(3000);
    snprintf(W.prefix, sizeof W.prefix, "ita%d", (int)getpid());
    const kj_store_opts_t so = {
        .prefix = W.prefix, .lease_ms = 1000, .max_attempts = 5};
    W.store = kj_store_new(W.r, &so);
    cr_assert_not_null(W.store);
    snprintf(W.log, sizeof W.log, "/tmp/kj-it-analytics-%d.log", (int)getpid());
    unlink(W.log);
}

static void
world_down(void)
{
    kj_proc_destroy(&W.proc);
    kj_client_destroy(&W.client);
    kj_codec_destroy(&W.codec);
    kj_store_destroy(&W.store);
    kj_redis_destroy(&W.r);
    kj_testredis_stop(&W.redis);
    unlink(W.log);
}

static int
exit_code(int status)
{
    if (status < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* Append one event to its complaint's partition stream. */
static void
add_event(const char *id, const char *state, const char *channel,
          const char *lang, const char *category, const char *sentiment,
          const char *team, int64_t e2e_ms)
{
    kj_event_t ev;
    memset(&ev, 0, sizeof ev);
    kj_strlcpy(ev.complaint_id, id, sizeof ev.complaint_id);
    kj_strlcpy(ev.state, state, sizeof ev.state);
    kj_strlcpy(ev.stage, "test", sizeof ev.stage);
    ev.at_ms = kj_now_ms();
    kj_strlcpy(ev.tenant, "default", sizeof ev.tenant);
    kj_strlcpy(ev.channel, channel, sizeof ev.channel);
    kj_strlcpy(ev.language, lang, sizeof ev.language);
    kj_strlcpy(ev.category, category, sizeof ev.category);
    kj_strlcpy(ev.sentiment, sentiment, sizeof ev.sentiment);
    kj_strlcpy(ev.team, team, sizeof ev.team);
    ev.e2e_ms = e2e_ms;
    const uint8_t *out;
    int len = kj_event_encode(W.codec, &ev, &out);
    cr_assert(gt(int, len, 0));
    /* The stages' key layout, from the store itself. */
    char key[64];
    kj_store_key(W.store, key, sizeof key, kj_id_partition(id), "events");
    redisReply *r =
        kj_redis_command(W.r, "XADD %s * e %b", key, out, (size_t)len);
    cr_assert_not_null(r);
    cr_assert(eq(int, r->type, REDIS_REPLY_STRING));
    freeReplyObject(r);
}

/* A complaint's whole life: received .. delivered (or dead). */
static void
add_complaint(char id[KJ_ID_LEN + 1], const char *channel, const char *lang,
              const char *category, const char *sentiment, const char *team,
              int64_t e2e_ms, bool dies)
{
    kj_id_new(id, kj_now_ms(), -1, &W.rng);
    add_event(id, "received", channel, "", "", "", "", 0);
    add_event(id, "classified", channel, lang, category, sentiment, "", 0);
    add_event(id, "routed", channel, lang, category, sentiment, team, 0);
    if (dies)
        add_event(id, "dead", channel, lang, category, sentiment, team, 0);
    else
        add_event(id, "delivered", channel, lang, category, sentiment, team,
                  e2e_ms);
}

static void
analytics_start(int lease_ms)
{
    W.admin_port = kj_test_free_port();
    W.http_port = kj_test_free_port();
    size_t n = 0;
    snprintf(W.env[n++], 256, "KUJO_REDIS_URL=%s", W.redis.url);
    snprintf(W.env[n++], 256, "KUJO_PREFIX=%s", W.prefix);
    snprintf(W.env[n++], 256, "KUJO_ADMIN_ADDR=127.0.0.1:%d", W.admin_port);
    snprintf(W.env[n++], 256, "KUJO_HTTP_ADDR=127.0.0.1:%d", W.http_port);
    snprintf(W.env[n++], 256, "KUJO_LEASE_MS=%d", lease_ms);
    snprintf(W.env[n++], 256, "KUJO_LOG_LEVEL=debug");
    snprintf(W.env[n++], 256, "KUJO_AUTH=open");
    const char *envp[13];
    for (size_t i = 0; i < n; i++)
        envp[i] = W.env[i];
    envp[n] = NULL;
    char *argv[] = {"kujo-analytics", NULL};
    W.proc = kj_proc_start("analytics", KJ_BIN_DIR "/kujo-analytics", argv,
                           envp, W.log);
    cr_assert_not_null(W.proc);
}

/* GET path on the admin (admin true) or API port. */
static long
get(bool admin, const char *path, kj_resp_t *out)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s",
             admin ? W.admin_port : W.http_port, path);
    memset(out, 0, sizeof *out);
    if (kj_client_get(W.client, url, out) != 0)
        return 0;
    return out->status;
}

static void
wait_ready(void)
{
    int64_t deadline = kj_mono_ms() + 10000;
    for (;;) {
        kj_resp_t r;
        long st = get(true, "/readyz", &r);
        kj_resp_free(&r);
        if (st == 200)
            return;
        if (kj_mono_ms() > deadline || !kj_proc_alive(W.proc)) {
            kj_proc_print_log_tail(W.proc, stderr, 40);
            cr_fatal("analytics not ready (last status %ld)", st);
        }
        kj_test_sleep_ms(50);
    }
}

static json_t *
stats(void)
{
    kj_resp_t r;
    long st = get(false, "/v1/stats", &r);
    json_t *j = st == 200 ? kj_resp_json(&r) : NULL;
    kj_resp_free(&r);
    return j;
}

static long long
num(json_t *o, const char *group, const char *label)
{
    json_t *v = label ? json_object_get(json_object_get(o, group), label)
                      : json_object_get(o, group);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* Poll /v1/stats until "events" is want. Returns the document. */
static json_t *
wait_events(long long want, int timeout_ms)
{
    int64_t deadline = kj_mono_ms() + timeout_ms;
    long long last = -1;
    for (;;) {
        json_t *j = stats();
        last = j ? num(j, "events", NULL) : -1;
        if (last == want)
            return j;
        json_decref(j);
        if (kj_mono_ms() > deadline) {
            kj_proc_print_log_tail(W.proc, stderr, 40);
            cr_fatal("events: %lld, wanted %lld", last, want);
        }
        kj_test_sleep_ms(50);
    }
}

static double
metric(const char *name, const char *labels)
{
    kj_resp_t r;
    double v = -1;
    if (get(true, "/metrics", &r) == 200 &&
        kj_prom_value(r.body, name, labels, &v) == 0)
        v = -1;
    kj_resp_free(&r);
    return v;
}

TestSuite(analytics, .init = world_up, .fini = world_down, .timeout = 120);

Test(analytics, counts_history_and_restart_does_not_double_count)
{
    char a[KJ_ID_LEN + 1], b[KJ_ID_LEN + 1], c[KJ_ID_LEN + 1];
    add_complaint(a, "x", "ja", "outage", "negative", "care-ja", 10, false);
    add_complaint(b, "email", "en", "billing", "neutral", "care-en", 20, false);
    add_complaint(c, "x", "en", "outage", "negative", "care-en", 0, true);

    /* Events written before analytics ever ran are counted: the group
     * starts at the beginning of each stream. */
    analytics_start(1000);
    wait_ready();
    json_t *j = wait_events(12, 10000);
    cr_assert(eq(i64, num(j, "total", NULL), 3));
    cr_assert(eq(i64, num(j, "by_state", "received"), 3));
    cr_assert(eq(i64, num(j, "by_state", "classified"), 3));
    cr_assert(eq(i64, num(j, "by_state", "routed"), 3));
    cr_assert(eq(i64, num(j, "by_state", "delivered"), 2));
    cr_assert(eq(i64, num(j, "by_state", "dead"), 1));
    cr_assert(eq(i64, num(j, "by_channel", "x"), 2));
    cr_assert(eq(i64, num(j, "by_channel", "email"), 1));
    cr_assert(eq(i64, num(j, "by_language", "ja"), 1));
    cr_assert(eq(i64, num(j, "by_language", "en"), 2));
    cr_assert(eq(i64, num(j, "by_category", "outage"), 2));
    cr_assert(eq(i64, num(j, "by_category", "billing"), 1));
    cr_assert(eq(i64, num(j, "by_sentiment", "negative"), 2));
    cr_assert(eq(i64, num(j, "by_team", "care-en"), 2));
    cr_assert(eq(i64, num(j, "by_team", "care-ja"), 1));
    cr_assert(eq(i64, num(j, "delivered", NULL), 2));
    cr_assert(eq(dbl, json_real_value(json_object_get(j, "e2e_ms_avg")), 15.0));
    json_decref(j);
    cr_assert(eq(dbl, metric("kujo_events_processed_total", NULL), 12.0));
    cr_assert(eq(dbl, metric("kujo_build_info", "version=\""), 1.0));

    /* SIGTERM: a clean exit. */
    cr_assert(eq(int, exit_code(kj_proc_stop(W.proc, 5000)), 0));

    /* A new copy (a new consumer name) finds nothing left to count. */
    kj_proc_destroy(&W.proc);
    analytics_start(1000);
    wait_ready();
    kj_test_sleep_ms(1500);
    j = stats();
    cr_assert_not_null(j);
    cr_assert(eq(i64, num(j, "events", NULL), 12));
    cr_assert(eq(i64, num(j, "total", NULL), 3));
    json_decref(j);
    cr_assert(eq(dbl, metric("kujo_events_processed_total", NULL), 0.0));

    /* New events are counted by the new copy. */
    char d[KJ_ID_LEN + 1];
    add_complaint(d, "web", "ja", "delay", "negative", "care-ja", 30, false);
    j = wait_events(16, 10000);
    cr_assert(eq(i64, num(j, "total", NULL), 4));
    cr_assert(eq(i64, num(j, "by_channel", "web"), 1));
    cr_assert(eq(i64, num(j, "by_team", "care-ja"), 2));
    cr_assert(eq(dbl, json_real_value(json_object_get(j, "e2e_ms_avg")), 20.0));
    json_decref(j);
    kj_test_sleep_ms(1200);
    cr_assert(eq(dbl, metric("kujo_queue_depth", NULL), 0.0));
}

Test(analytics, kill_9_mid_stream_counts_every_event_once)
{
    /* Enough events that the kill lands while some are read but not yet
     * applied; pending ones are taken over after the lease. */
    const int n = 4000;
    for (int i = 0; i < n; i++) {
        char id[KJ_ID_LEN + 1];
        kj_id_new(id, kj_now_ms(), i % KJ_PARTITIONS, &W.rng);
        add_event(id, "received", "sms", "", "", "", "", 0);
    }
    analytics_start(500);
    wait_ready();
    int64_t deadline = kj_mono_ms() + 10000;
    long long seen = 0;
    while (seen == 0 && kj_mono_ms() < deadline) {
        json_t *j = stats();
        seen = j ? num(j, "events", NULL) : 0;
        json_decref(j);
    }
    cr_assert(eq(int, kj_proc_kill9(W.proc), 0));
    kj_proc_destroy(&W.proc);

    analytics_start(500);
    wait_ready();
    json_t *j = wait_events(n, 20000);
    cr_assert(eq(i64, num(j, "by_channel", "sms"), n));
    json_decref(j);
    /* And it stays there: nothing is counted twice later. */
    kj_test_sleep_ms(1500);
    j = stats();
    cr_assert(eq(i64, num(j, "events", NULL), n));
    json_decref(j);
}

Test(analytics, takes_over_entries_left_pending_by_a_dead_consumer)
{
    char a[KJ_ID_LEN + 1];
    kj_id_new(a, kj_now_ms(), 3, &W.rng);
    add_event(a, "received", "chat", "", "", "", "", 0);
    add_event(a, "classified", "chat", "en", "other", "neutral", "", 0);
    /* A consumer that read both entries and died before applying them. */
    char key[64];
    kj_store_key(W.store, key, sizeof key, 3, "events");
    redisReply *r =
        kj_redis_command(W.r, "XGROUP CREATE %s analytics 0 MKSTREAM", key);
    freeReplyObject(r);
    r = kj_redis_command(W.r,
                         "XREADGROUP GROUP analytics ghost:1 COUNT 10 "
                         "STREAMS %s >",
                         key);
    cr_assert(eq(int, r->type, REDIS_REPLY_ARRAY));
    freeReplyObject(r);

    analytics_start(500);
    wait_ready();
    json_t *j = wait_events(2, 10000);
    cr_assert(eq(i64, num(j, "by_channel", "chat"), 1));
    cr_assert(eq(i64, num(j, "by_language", "en"), 1));
    json_decref(j);
    cr_assert(ge(dbl, metric("kujo_reclaimed_total", NULL), 2.0));

    /* Nothing pending anywhere, and the dead consumer's name is removed
     * once it has been silent for ten lease periods. */
    int64_t deadline = kj_mono_ms() + 15000;
    for (;;) {
        r = kj_redis_command(W.r, "XINFO CONSUMERS %s analytics", key);
        cr_assert_not_null(r);
        bool ghost = false;
        for (size_t i = 0; i < r->elements; i++)
            if (strcmp(r->element[i]->element[1]->str, "ghost:1") == 0)
                ghost = true;
        freeReplyObject(r);
        if (!ghost)
            break;
        cr_assert(lt(i64, kj_mono_ms(), deadline), "ghost still there");
        kj_test_sleep_ms(200);
    }
    r = kj_redis_command(W.r, "XPENDING %s analytics", key);
    cr_assert(eq(i64, r->element[0]->integer, 0));
    freeReplyObject(r);
    j = stats();
    cr_assert(eq(i64, num(j, "events", NULL), 2));
    json_decref(j);
}

Test(analytics, undecodable_entry_is_acked_and_counted_as_failed)
{
    char a[KJ_ID_LEN + 1];
    kj_id_new(a, kj_now_ms(), 5, &W.rng);
    add_event(a, "received", "web", "", "", "", "", 0);
    char key[64];
    kj_store_key(W.store, key, sizeof key, 5, "events");
    redisReply *r =
        kj_redis_command(W.r, "XADD %s * e %s", key, "\xff\xff not protobuf");
    freeReplyObject(r);
    r = kj_redis_command(W.r, "XADD %s * other 1", key);
    freeReplyObject(r);
    add_event(a, "classified", "web", "ja", "other", "neutral", "", 0);

    analytics_start(1000);
    wait_ready();
    json_t *j = wait_events(2, 10000);
    json_decref(j);
    int64_t deadline = kj_mono_ms() + 5000;
    while (metric("kujo_envelopes_failed_total", "decode_error") < 2.0 &&
           kj_mono_ms() < deadline)
        kj_test_sleep_ms(50);
    cr_assert(
        eq(dbl, metric("kujo_envelopes_failed_total", "decode_error"), 2.0));
    r = kj_redis_command(W.r, "XPENDING %s analytics", key);
    cr_assert(eq(i64, r->element[0]->integer, 0));
    freeReplyObject(r);
}

Test(analytics, http_errors_and_redis_down)
{
    analytics_start(1000);
    wait_ready();
    kj_resp_t r;
    cr_assert(eq(long, get(false, "/v1/nothing", &r), 404));
    json_t *j = kj_resp_json(&r);
    cr_assert(eq(str,
                 (char *)json_string_value(
                     json_object_get(json_object_get(j, "error"), "code")),
                 "not_found"));
    json_decref(j);
    kj_resp_free(&r);

    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/stats", W.http_port);
    cr_assert(eq(int, kj_client_post_json(W.client, url, "{}", NULL, &r), 0));
    cr_assert(eq(long, r.status, 405));
    j = kj_resp_json(&r);
    cr_assert(eq(str,
                 (char *)json_string_value(
                     json_object_get(json_object_get(j, "error"), "code")),
                 "method_not_allowed"));
    json_decref(j);
    kj_resp_free(&r);

    /* An empty store answers a full document of zeros. */
    j = stats();
    cr_assert_not_null(j);
    cr_assert(eq(i64, num(j, "total", NULL), 0));
    cr_assert(
        eq(int, json_is_null(json_object_get(j, "e2e_ms_avg")) ? 1 : 0, 1));
    json_decref(j);
    cr_assert(ge(dbl, metric("kujo_http_requests_total", "code=\"404\""), 1.0));

    /* Redis goes away: 503 unavailable, /readyz follows, no crash. */
    kj_testredis_stop(&W.redis);
    cr_assert(eq(long, get(false, "/v1/stats", &r), 503));
    j = kj_resp_json(&r);
    cr_assert(eq(str,
                 (char *)json_string_value(
                     json_object_get(json_object_get(j, "error"), "code")),
                 "unavailable"));
    json_decref(j);
    kj_resp_free(&r);
    int64_t deadline = kj_mono_ms() + 5000;
    long st = 0;
    while (kj_mono_ms() < deadline) {
        st = get(true, "/readyz", &r);
        kj_resp_free(&r);
        if (st == 503)
            break;
        kj_test_sleep_ms(50);
    }
    cr_assert(eq(long, st, 503));
    cr_assert(kj_proc_alive(W.proc));
    cr_assert(eq(int, exit_code(kj_proc_stop(W.proc, 5000)), 0));
}

/* Stop W.redis and start redis-server again on the same port and
 * directory, as an operator's restart would; wait until it answers. */
static void
s_redis_restart(void)
{
    cr_assert(gt(int, W.redis.pid, 0));
    kill(W.redis.pid, SIGTERM);
    waitpid(W.redis.pid, NULL, 0);
    char port[16];
    snprintf(port, sizeof port, "%d", W.redis.port);
    pid_t pid = fork();
    cr_assert(ge(int, pid, 0));
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execl(KJ_REDIS_SERVER, "redis-server", "--bind", "127.0.0.1", "--port",
              port, "--dir", W.redis.dir, "--save", "", "--appendonly", "no",
              "--protected-mode", "yes", (char *)NULL);
        _exit(127);
    }
    W.redis.pid = pid;
    int64_t deadline = kj_mono_ms() + 5000;
    for (;;) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = 200 * 1000};
        redisContext *c =
            redisConnectWithTimeout("127.0.0.1", W.redis.port, tv);
        redisReply *r = c && !c->err ? redisCommand(c, "PING") : NULL;
        bool up = r && r->type == REDIS_REPLY_STATUS;
        if (r)
            freeReplyObject(r);
        if (c)
            redisFree(c);
        if (up)
            return;
        cr_assert(lt(i64, kj_mono_ms(), deadline), "redis did not come back");
        kj_test_sleep_ms(20);
    }
}

/* A Redis restart drops the API's connection; the first GET /v1/stats
 * after Redis is back reconnects and answers 200, not 503. */
Test(analytics, first_stats_after_a_redis_restart_answers_200)
{
    char id[KJ_ID_LEN + 1];
    add_complaint(id, "email", "en", "billing", "negative", "care-en", 40,
                  false);
    analytics_start(1000);
    wait_ready();
    /* The API's connection is up: a first answer. */
    int64_t deadline = kj_mono_ms() + 10000;
    json_t *j = NULL;
    while (kj_mono_ms() < deadline) {
        j = stats();
        if (j && num(j, "total", NULL) == 1)
            break;
        json_decref(j);
        j = NULL;
        kj_test_sleep_ms(50);
    }
    cr_assert_not_null(j, "the complaint was never counted");
    json_decref(j);

    /* Redis restarts empty (no persistence here); the next GET is the
     * first the API's connection sees of it. */
    s_redis_restart();
    kj_resp_t r;
    long st = get(false, "/v1/stats", &r);
    cr_assert(eq(long, st, 200), "status %ld: %s", st, r.body ? r.body : "");
    kj_resp_free(&r);
    cr_assert(kj_proc_alive(W.proc));
    cr_assert(eq(int, exit_code(kj_proc_stop(W.proc, 5000)), 0));
}
