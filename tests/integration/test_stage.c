/* kj_stage against a real redis-server and real ZeroMQ sockets: the stage
 * runs on a thread, the test plays ingest (creates records, pushes
 * envelopes) and the next stage (a PULL registered under "t2"). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <zmq.h>

#include "kj_envelope.h"
#include "kj_id.h"
#include "kj_metrics.h"
#include "kj_mq.h"
#include "kj_redis.h"
#include "kj_registry.h"
#include "kj_stage.h"
#include "kj_store.h"
#include "kj_testredis.h"
#include "kj_util.h"

#define WAIT_MS 8000

static kj_testredis_t s_redis;
static kj_redis_t *s_conn; /* the test thread's own connection */
static kj_store_t *s_store;
static kj_codec_t *s_codec;
static void *s_zctx;
static uint64_t s_rng;
static char s_prefix[32];

static kj_store_opts_t
s_store_opts(void)
{
    return (kj_store_opts_t){.prefix = s_prefix,
                             .lease_ms = 300,
                             .max_attempts = 3,
                             .stream_maxlen = 10000,
                             .retention_s = 0,
                             .idem_ttl_s = 86400};
}

static void
s_setup(void)
{
    cr_assert(eq(int, kj_testredis_start(&s_redis, false), 0));
    char err[256];
    s_conn = kj_redis_new(s_redis.url, 2000, err, sizeof err);
    cr_assert(not(eq(ptr, s_conn, NULL)), "%s", err);
    s_rng = kj_seed();
    snprintf(s_prefix, sizeof s_prefix, "t%llx",
             (unsigned long long)(kj_rand64(&s_rng) & 0xffffff));
    kj_store_opts_t so = s_store_opts();
    s_store = kj_store_new(s_conn, &so);
    cr_assert(not(eq(ptr, s_store, NULL)));
    s_codec = kj_codec_new();
    s_zctx = zmq_ctx_new();
}

static void
s_teardown(void)
{
    zmq_ctx_term(s_zctx);
    kj_codec_destroy(&s_codec);
    kj_store_destroy(&s_store);
    kj_redis_destroy(&s_conn);
    kj_testredis_stop(&s_redis);
}

TestSuite(stage, .init = s_setup, .fini = s_teardown, .timeout = 90);

/* ---- the service under test ---------------------------------------- */

typedef struct {
    kj_verdict_t verdict; /* what process answers */
    atomic_int calls;     /* how often process ran */
    atomic_uint last_attempt;
    /* PENDING mode: process keeps the envelope, after_poll completes it. */
    kj_stage_t *stage;
    kj_envelope_t held;
    atomic_int n_held;
    bool complete_held; /* false: never finish (a hung stage) */
    atomic_int inflight_forever;
} s_svc_t;

static kj_verdict_t
s_process(void *ctx, kj_envelope_t *env, int64_t now_ms, char *err,
          size_t err_size, int64_t *retry_at_ms)
{
    s_svc_t *svc = ctx;
    atomic_fetch_add(&svc->calls, 1);
    atomic_store(&svc->last_attempt, env->attempt);
    env->has_triage = true;
    kj_strlcpy(env->triage.model, "t1-test", sizeof env->triage.model);
    switch (svc->verdict) {
    case KJ_VERDICT_RETRY:
        snprintf(err, err_size, "flaky: attempt %u", env->attempt);
        *retry_at_ms = now_ms + 50;
        break;
    case KJ_VERDICT_DEAD:
        snprintf(err, err_size, "poison: test");
        break;
    case KJ_VERDICT_DEFER:
        snprintf(err, err_size, "held: test");
        *retry_at_ms = now_ms + 50;
        break;
    case KJ_VERDICT_PENDING:
        if (atomic_load(&svc->n_held) == 0) {
            memcpy(&svc->held, env, sizeof *env);
            atomic_store(&svc->n_held, 1);
        }
        break;
    case KJ_VERDICT_DONE:
        break;
    }
    return svc->verdict;
}

static void
s_after_poll(void *ctx, const zmq_pollitem_t *items, size_t n, int64_t now)
{
    (void)items;
    (void)n;
    (void)now;
    s_svc_t *svc = ctx;
    if (svc->complete_held && atomic_load(&svc->n_held) == 1) {
        kj_strlcpy(svc->held.triage.reason, "completed",
                   sizeof svc->held.triage.reason);
        kj_stage_complete(svc->stage, &svc->held, KJ_VERDICT_DONE, NULL, 0);
        atomic_store(&svc->n_held, 2);
    }
}

static long
s_timeout(void *ctx)
{
    (void)ctx;
    return 20;
}

static size_t
s_inflight(void *ctx)
{
    s_svc_t *svc = ctx;
    if (atomic_load(&svc->inflight_forever))
        return 1;
    return atomic_load(&svc->n_held) == 1 && svc->complete_held ? 1 : 0;
}

static const kj_stage_hooks_t s_hooks = {
    .timeout_ms = s_timeout,
    .after_poll = s_after_poll,
    .inflight = s_inflight,
};

typedef struct {
    kj_stage_t *stage;
    s_svc_t *svc;
    pthread_t thread;
    atomic_int done;
    int rc;
} s_runner_t;

static void *
s_run(void *arg)
{
    s_runner_t *r = arg;
    r->rc = kj_stage_run(r->stage, s_process, &s_hooks, r->svc);
    atomic_store(&r->done, 1);
    return NULL;
}

static kj_stage_opts_t
s_opts(const char *next, int64_t lease_ms, int64_t max_attempts)
{
    return (kj_stage_opts_t){
        .name = "t1",
        .in_state = "received",
        .out_state = "classified",
        .next = next,
        .redis_url = s_redis.url,
        .prefix = s_prefix,
        .admin_addr = "127.0.0.1:0",
        .zmq_bind = "tcp://127.0.0.1:*",
        .zmq_advertise = NULL,
        .lease_ms = lease_ms,
        .max_attempts = max_attempts,
        .batch_max = 64,
        .hwm = 1000,
        .retention_s = 0,
        .stream_maxlen = 10000,
        .drain_ms = 3000,
    };
}

static void
s_start(s_runner_t *r, s_svc_t *svc, const kj_stage_opts_t *opts)
{
    memset(r, 0, sizeof *r);
    r->svc = svc;
    r->stage = kj_stage_new(opts);
    cr_assert(not(eq(ptr, r->stage, NULL)));
    svc->stage = r->stage;
    cr_assert(eq(int, pthread_create(&r->thread, NULL, s_run, r), 0));
}

/* Wait up to ms for the runner to return (pthread_join cannot time out). */
static bool
s_wait_done(s_runner_t *r, int ms)
{
    int64_t deadline = kj_mono_ms() + ms;
    while (!atomic_load(&r->done) && kj_mono_ms() < deadline) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return atomic_load(&r->done) != 0;
}

static int
s_stop(s_runner_t *r)
{
    kj_stage_stop(r->stage);
    cr_assert(s_wait_done(r, 10000), "stage did not stop");
    pthread_join(r->thread, NULL);
    kj_stage_destroy(&r->stage);
    return r->rc;
}

static uint64_t
s_counter(s_runner_t *r, const char *name, const char *labels)
{
    return kj_counter_value(
        kj_metrics_counter(kj_stage_metrics(r->stage), name, "", labels));
}

/* ---- what ingest does ---------------------------------------------- */

static void
s_envelope(kj_envelope_t *env)
{
    memset(env, 0, sizeof *env);
    int64_t now = kj_now_ms();
    kj_id_new(env->complaint.id, now, -1, &s_rng);
    kj_trace_id_new(env->trace_id, &s_rng);
    env->attempt = 1;
    kj_strlcpy(env->complaint.tenant, "default", sizeof env->complaint.tenant);
    kj_strlcpy(env->complaint.channel, "web", sizeof env->complaint.channel);
    kj_strlcpy(env->complaint.customer.id, "c-1",
               sizeof env->complaint.customer.id);
    kj_strlcpy(env->complaint.text, "The app crashes on login.",
               sizeof env->complaint.text);
    env->complaint.received_at_ms = now;
    env->complaint.accepted_at_ms = now;
    kj_envelope_stamp(env, "ingest", now, now);
}

/* Create the record in "received" (due now + the store's lease) and return
 * the encoded envelope in wire[*len]. */
static void
s_create(kj_envelope_t *env, uint8_t *wire, size_t *len)
{
    s_envelope(env);
    const uint8_t *out;
    int n = kj_envelope_encode(s_codec, env, &out);
    cr_assert(n > 0);
    memcpy(wire, out, (size_t)n);
    *len = (size_t)n;
    kj_event_t ev;
    kj_event_from_envelope(&ev, env, "received", "ingest", kj_now_ms());
    uint8_t evbuf[4096];
    int evn = kj_event_encode(s_codec, &ev, &out);
    cr_assert(evn > 0 && (size_t)evn < sizeof evbuf);
    memcpy(evbuf, out, (size_t)evn);
    kj_store_create_t item = {.id = env->complaint.id,
                              .env = wire,
                              .env_len = *len,
                              .event = evbuf,
                              .event_len = (size_t)evn};
    cr_assert(eq(int, kj_store_create(s_store, &item, 1, kj_now_ms()), 0));
    cr_assert(eq(int, item.result, 1));
}

/* Wait for the stage's endpoint in the registry and connect a PUSH. */
static kj_push_t *
s_push_to(const char *stage)
{
    kj_push_t *push = kj_push_new(s_zctx, 1000, 2000);
    int64_t deadline = kj_mono_ms() + WAIT_MS;
    while (kj_mono_ms() < deadline) {
        char **list = NULL;
        int n = kj_registry_list(s_conn, s_prefix, stage, kj_now_ms(), &list);
        if (n > 0) {
            kj_push_set_peers(push, list, (size_t)n);
            kj_registry_free(list);
            return push;
        }
        if (list)
            kj_registry_free(list);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    cr_assert(false, "stage %s never registered", stage);
    return NULL;
}

/* Wait until the record is in state; fills rec (caller frees rec->env). */
static bool
s_wait_state(const char *id, const char *state, kj_store_record_t *rec)
{
    int64_t deadline = kj_mono_ms() + WAIT_MS;
    while (kj_mono_ms() < deadline) {
        memset(rec, 0, sizeof *rec);
        int rc = kj_store_get(s_store, id, rec);
        cr_assert(eq(int, rc, 1));
        if (strcmp(rec->state, state) == 0)
            return true;
        free(rec->env);
        rec->env = NULL;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return false;
}

/* Events of the id's partition stream with state, decoded into ev. */
static int
s_events(const char *id, const char *state, kj_event_t *ev)
{
    char key[128];
    kj_store_key(s_store, key, sizeof key, kj_id_partition(id), "events");
    redisReply *r = kj_redis_command(s_conn, "XRANGE %s - +", key);
    cr_assert(not(eq(ptr, r, NULL)));
    cr_assert(eq(int, r->type, REDIS_REPLY_ARRAY));
    int found = 0;
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *fields = r->element[i]->element[1];
        for (size_t f = 0; f + 1 < fields->elements; f += 2) {
            if (strcmp(fields->element[f]->str, "e") != 0)
                continue;
            kj_event_t e;
            redisReply *v = fields->element[f + 1];
            cr_assert(eq(
                int,
                kj_event_decode(s_codec, (const uint8_t *)v->str, v->len, &e),
                0));
            if (strcmp(e.complaint_id, id) == 0 &&
                strcmp(e.state, state) == 0) {
                found++;
                *ev = e;
            }
        }
    }
    freeReplyObject(r);
    return found;
}

static void
s_decode_rec(const kj_store_record_t *rec, kj_envelope_t *env)
{
    cr_assert(not(eq(ptr, rec->env, NULL)));
    cr_assert(
        eq(int, kj_envelope_decode(s_codec, rec->env, rec->env_len, env), 0));
}

static kj_envelope_t s_env, s_got;
static uint8_t s_wire[KJ_ENVELOPE_WIRE_MAX];

/* ---- tests ------------------------------------------------------------ */

Test(stage, usage_example)
{
    /* A service supplies process(); the stage does the rest: receive,
     * commit the transition and its event to Redis, pass it on. */
    s_svc_t svc = {.verdict = KJ_VERDICT_DONE};
    kj_stage_opts_t opts = s_opts(NULL, 10000, 3);
    s_runner_t run;
    s_start(&run, &svc, &opts);

    size_t len;
    s_create(&s_env, s_wire, &len);
    kj_push_t *push = s_push_to("t1");
    cr_assert(eq(int, kj_push_send(push, s_wire, len), 0));

    kj_store_record_t rec;
    cr_assert(s_wait_state(s_env.complaint.id, "classified", &rec));
    cr_assert(eq(int, rec.attempts, 1));
    s_decode_rec(&rec, &s_got);
    free(rec.env);
    cr_assert(eq(str, s_got.triage.model, "t1-test"));
    cr_assert(eq(str, s_got.trace_id, s_env.trace_id));
    /* The stage stamped its time. */
    bool stamped = false;
    for (size_t i = 0; i < s_got.n_stages; i++)
        if (strcmp(s_got.stages[i].stage, "t1") == 0) {
            stamped = true;
            cr_assert(s_got.stages[i].in_ms > 0);
            cr_assert(s_got.stages[i].out_ms >= s_got.stages[i].in_ms);
        }
    cr_assert(stamped);

    kj_event_t ev;
    cr_assert(eq(int, s_events(s_env.complaint.id, "classified", &ev), 1));
    cr_assert(eq(str, ev.stage, "t1"));

    cr_assert(eq(u64, s_counter(&run, "envelopes_in_total", NULL), 1));
    cr_assert(eq(u64, s_counter(&run, "envelopes_out_total", NULL), 1));

    /* A duplicate push finds the record moved on: stale, not redone. */
    cr_assert(eq(int, kj_push_send(push, s_wire, len), 0));
    int64_t deadline = kj_mono_ms() + WAIT_MS;
    while (s_counter(&run, "envelopes_failed_total", "reason=\"stale\"") == 0 &&
           kj_mono_ms() < deadline) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    cr_assert(eq(
        u64, s_counter(&run, "envelopes_failed_total", "reason=\"stale\""), 1));
    cr_assert(eq(int, s_events(s_env.complaint.id, "classified", &ev), 1));

    kj_push_destroy(&push);
    cr_assert(eq(int, s_stop(&run), 0));
}

Test(stage, done_is_pushed_to_the_next_stage)
{
    /* The test is stage "t2": its PULL is registered, t1 must find it. */
    kj_pull_t *next = kj_pull_new(s_zctx, "tcp://127.0.0.1:*", NULL, 1000);
    cr_assert(not(eq(ptr, next, NULL)));
    cr_assert(
        eq(int,
           kj_registry_heartbeat(s_conn, s_prefix, "t2", kj_pull_endpoint(next),
                                 kj_now_ms(), 60000),
           0));
    s_svc_t svc = {.verdict = KJ_VERDICT_DONE};
    kj_stage_opts_t opts = s_opts("t2", 10000, 3);
    s_runner_t run;
    s_start(&run, &svc, &opts);

    size_t len;
    s_create(&s_env, s_wire, &len);
    kj_push_t *push = s_push_to("t1");
    cr_assert(eq(int, kj_push_send(push, s_wire, len), 0));

    const uint8_t *data = NULL;
    size_t dlen = 0;
    int got = 0;
    int64_t deadline = kj_mono_ms() + WAIT_MS;
    while (got == 0 && kj_mono_ms() < deadline) {
        zmq_pollitem_t item = {kj_pull_socket(next), 0, ZMQ_POLLIN, 0};
        zmq_poll(&item, 1, 100);
        got = kj_pull_recv(next, &data, &dlen);
        cr_assert(got >= 0);
    }
    cr_assert(eq(int, got, 1), "nothing arrived downstream");
    cr_assert(eq(int, kj_envelope_decode(s_codec, data, dlen, &s_got), 0));
    cr_assert(eq(str, s_got.complaint.id, s_env.complaint.id));
    cr_assert(eq(str, s_got.triage.model, "t1-test"));

    /* Applied before it was pushed, and due in the next state in case the
     * push had been lost. */
    kj_store_record_t rec;
    cr_assert(s_wait_state(s_env.complaint.id, "classified", &rec));
    free(rec.env);
    char key[128];
    kj_store_key(s_store, key, sizeof key, kj_id_partition(s_env.complaint.id),
                 "due:classified");
    redisReply *r =
        kj_redis_command(s_conn, "ZSCORE %s %s", key, s_env.complaint.id);
    cr_assert(not(eq(ptr, r, NULL)));
    cr_assert(eq(int, r->type, REDIS_REPLY_STRING));
    long long due = atoll(r->str);
    freeReplyObject(r);
    cr_assert(due > kj_now_ms() + 5000, "due %lld", due);

    kj_gauge_t *peers = kj_metrics_gauge(kj_stage_metrics(run.stage),
                                         "downstream_peers", "", NULL);
    cr_assert(eq(dbl, kj_gauge_value(peers), 1.0));

    kj_push_destroy(&push);
    cr_assert(eq(int, s_stop(&run), 0));
    kj_pull_destroy(&next);
}

Test(stage, a_record_not_pushed_is_claimed_after_the_lease)
{
    s_svc_t svc = {.verdict = KJ_VERDICT_DONE};
    kj_stage_opts_t opts = s_opts(NULL, 300, 3);
    s_runner_t run;
    s_start(&run, &svc, &opts);

    size_t len;
    s_create(&s_env, s_wire, &len); /* due in 300 ms; never pushed */
    kj_store_record_t rec;
    cr_assert(s_wait_state(s_env.complaint.id, "classified", &rec));
    s_decode_rec(&rec, &s_got);
    free(rec.env);
    cr_assert(eq(str, s_got.triage.model, "t1-test"));
    /* process saw the claim's attempt; entering the next state is its
     * first attempt again. */
    cr_assert(eq(u32, atomic_load(&svc.last_attempt), 2));
    cr_assert(eq(u32, s_got.attempt, 1));
    cr_assert(eq(u64, s_counter(&run, "reclaimed_total", NULL), 1));
    cr_assert(eq(int, s_stop(&run), 0));
}

Test(stage, retry_until_max_attempts_then_dead)
{
    s_svc_t svc = {.verdict = KJ_VERDICT_RETRY};
    kj_stage_opts_t opts = s_opts(NULL, 300, 3);
    s_runner_t run;
    s_start(&run, &svc, &opts);

    size_t len;
    s_create(&s_env, s_wire, &len);
    kj_push_t *push = s_push_to("t1");
    cr_assert(eq(int, kj_push_send(push, s_wire, len), 0));

    kj_store_record_t rec;
    cr_assert(s_wait_state(s_env.complaint.id, "dead", &rec));
    free(rec.env);
    /* Attempt 1 was the push; 2 and 3 were claims when the retry came due. */
    cr_assert(eq(int, atomic_load(&svc.calls), 3));
    cr_assert(eq(str, rec.reason, "flaky: attempt 3"));
    cr_assert(eq(
        u64, s_counter(&run, "envelopes_failed_total", "reason=\"retry\""), 2));
    cr_assert(eq(u64, s_counter(&run, "dead_letters_total", NULL), 1));
    kj_event_t ev;
    cr_assert(eq(int, s_events(s_env.complaint.id, "dead", &ev), 1));
    cr_assert(eq(str, ev.reason, "flaky: attempt 3"));

    char key[128];
    kj_store_key(s_store, key, sizeof key, kj_id_partition(s_env.complaint.id),
                 "dead");
    redisReply *r =
        kj_redis_command(s_conn, "ZSCORE %s %s", key, s_env.complaint.id);
    cr_assert(eq(int, r->type, REDIS_REPLY_STRING));
    freeReplyObject(r);
    kj_push_destroy(&push);
    cr_assert(eq(int, s_stop(&run), 0));
}

/* A deferral is no attempt: however often it happens, the record never
 * goes dead, and the attempt a claim counted is given back. */
Test(stage, defer_spends_no_attempt_and_never_dead_letters)
{
    s_svc_t svc = {.verdict = KJ_VERDICT_DEFER};
    kj_stage_opts_t opts = s_opts(NULL, 300, 3);
    s_runner_t run;
    s_start(&run, &svc, &opts);
    size_t len;
    s_create(&s_env, s_wire, &len);
    kj_push_t *push = s_push_to("t1");
    cr_assert(eq(int, kj_push_send(push, s_wire, len), 0));

    /* Three times max_attempts rounds: a RETRY would be dead long ago.
     * The counter moves when the batch commits, just after the call. */
    int64_t deadline = kj_mono_ms() + WAIT_MS;
    while ((atomic_load(&svc.calls) < 9 ||
            s_counter(&run, "envelopes_failed_total", "reason=\"deferred\"") <
                9) &&
           kj_mono_ms() < deadline) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    cr_assert(ge(int, atomic_load(&svc.calls), 9));
    /* Every claim saw attempt 1: no deferral spent one. */
    cr_assert(eq(u32, atomic_load(&svc.last_attempt), 1));
    cr_assert(ge(
        u64, s_counter(&run, "envelopes_failed_total", "reason=\"deferred\""),
        9));
    cr_assert(eq(u64, s_counter(&run, "dead_letters_total", NULL), 0));
    cr_assert(eq(int, s_stop(&run), 0));
    kj_store_record_t rec;
    memset(&rec, 0, sizeof rec);
    cr_assert(eq(int, kj_store_get(s_store, s_env.complaint.id, &rec), 1));
    free(rec.env);
    cr_assert(eq(str, rec.state, "received"));
    cr_assert(eq(str, rec.last_error, "held: test"));
    cr_assert(eq(int, rec.attempts, 0));
    kj_event_t ev;
    cr_assert(eq(int, s_events(s_env.complaint.id, "dead", &ev), 0));

    /* Once the stage can do the work, the record moves on at attempt 1. */
    s_svc_t ok = {.verdict = KJ_VERDICT_DONE};
    s_start(&run, &ok, &opts);
    cr_assert(s_wait_state(s_env.complaint.id, "classified", &rec));
    free(rec.env);
    cr_assert(eq(u32, atomic_load(&ok.last_attempt), 1));
    kj_push_destroy(&push);
    cr_assert(eq(int, s_stop(&run), 0));
}

Test(stage, dead_verdict_dead_letters_at_once)
{
    s_svc_t svc = {.verdict = KJ_VERDICT_DEAD};
    kj_stage_opts_t opts = s_opts(NULL, 10000, 3);
    s_runner_t run;
    s_start(&run, &svc, &opts);
    size_t len;
    s_create(&s_env, s_wire, &len);
    kj_push_t *push = s_push_to("t1");
    cr_assert(eq(int, kj_push_send(push, s_wire, len), 0));
    kj_store_record_t rec;
    cr_assert(s_wait_state(s_env.complaint.id, "dead", &rec));
    free(rec.env);
    cr_assert(eq(str, rec.reason, "poison: test"));
    cr_assert(eq(str, rec.dead_from, "received"));
    cr_assert(eq(int, atomic_load(&svc.calls), 1));
    kj_push_destroy(&push);
    cr_assert(eq(int, s_stop(&run), 0));
}

Test(stage, a_stage_that_never_finishes_times_out_dead)
{
    /* PENDING and never completed: every lease a claim tries again, and
     * past max_attempts the record goes dead with a stage_timeout. */
    s_svc_t svc = {.verdict = KJ_VERDICT_PENDING, .complete_held = false};
    kj_stage_opts_t opts = s_opts(NULL, 300, 2);
    s_runner_t run;
    s_start(&run, &svc, &opts);
    size_t len;
    s_create(&s_env, s_wire, &len);
    kj_store_record_t rec;
    cr_assert(s_wait_state(s_env.complaint.id, "dead", &rec));
    free(rec.env);
    cr_assert(
        eq(str, rec.reason, "stage_timeout: t1 did not finish in 2 attempts"));
    cr_assert(eq(int, atomic_load(&svc.calls), 1));
    cr_assert(eq(int, s_stop(&run), 0));
}

Test(stage, pending_work_is_committed_by_complete)
{
    s_svc_t svc = {.verdict = KJ_VERDICT_PENDING, .complete_held = true};
    kj_stage_opts_t opts = s_opts(NULL, 10000, 3);
    s_runner_t run;
    s_start(&run, &svc, &opts);
    size_t len;
    s_create(&s_env, s_wire, &len);
    kj_push_t *push = s_push_to("t1");
    cr_assert(eq(int, kj_push_send(push, s_wire, len), 0));
    kj_store_record_t rec;
    cr_assert(s_wait_state(s_env.complaint.id, "classified", &rec));
    s_decode_rec(&rec, &s_got);
    free(rec.env);
    cr_assert(eq(str, s_got.triage.reason, "completed"));
    cr_assert(eq(int, atomic_load(&svc.n_held), 2));
    kj_push_destroy(&push);
    cr_assert(eq(int, s_stop(&run), 0));
}

Test(stage, garbage_is_counted_and_dropped)
{
    s_svc_t svc = {.verdict = KJ_VERDICT_DONE};
    kj_stage_opts_t opts = s_opts(NULL, 10000, 3);
    s_runner_t run;
    s_start(&run, &svc, &opts);
    kj_push_t *push = s_push_to("t1");
    cr_assert(eq(int, kj_push_send(push, "\xff\xff\xff\xff garbage", 12), 0));
    cr_assert(eq(int, kj_push_send(push, "", 0), 0));
    size_t len;
    s_create(&s_env, s_wire, &len);
    cr_assert(eq(int, kj_push_send(push, s_wire, len), 0));
    kj_store_record_t rec;
    cr_assert(s_wait_state(s_env.complaint.id, "classified", &rec));
    free(rec.env);
    cr_assert(
        eq(u64,
           s_counter(&run, "envelopes_failed_total", "reason=\"decode_error\""),
           2));
    cr_assert(eq(int, atomic_load(&svc.calls), 1));
    kj_push_destroy(&push);
    cr_assert(eq(int, s_stop(&run), 0));
}

Test(stage, stop_drains_and_leaves_the_registry)
{
    s_svc_t svc = {.verdict = KJ_VERDICT_DONE};
    kj_stage_opts_t opts = s_opts(NULL, 10000, 3);
    opts.drain_ms = 20000;
    s_runner_t run;
    s_start(&run, &svc, &opts);
    kj_push_t *push = s_push_to("t1"); /* waits until registered */
    kj_push_destroy(&push);

    /* While work is in flight a drain waits for it. */
    atomic_store(&svc.inflight_forever, 1);
    kj_stage_stop(run.stage);
    cr_assert(not(s_wait_done(&run, 1500)));
    char **list = NULL;
    cr_assert(eq(
        int, kj_registry_list(s_conn, s_prefix, "t1", kj_now_ms(), &list), 0));
    kj_registry_free(list);
    atomic_store(&svc.inflight_forever, 0);
    cr_assert(s_wait_done(&run, 2000));
    pthread_join(run.thread, NULL);
    cr_assert(eq(int, run.rc, 0));
    kj_stage_destroy(&run.stage);
    cr_assert(eq(ptr, run.stage, NULL));
}

Test(stage, a_second_stop_exits_at_once)
{
    s_svc_t svc = {.verdict = KJ_VERDICT_DONE};
    kj_stage_opts_t opts = s_opts(NULL, 10000, 3);
    opts.drain_ms = 60000;
    s_runner_t run;
    s_start(&run, &svc, &opts);
    atomic_store(&svc.inflight_forever, 1);
    kj_stage_stop(run.stage);
    cr_assert(not(s_wait_done(&run, 500)));
    int64_t t0 = kj_mono_ms();
    kj_stage_stop(run.stage);
    cr_assert(s_wait_done(&run, 3000));
    cr_assert(kj_mono_ms() - t0 < 3000);
    pthread_join(run.thread, NULL);
    cr_assert(eq(int, run.rc, 1));
    kj_stage_destroy(&run.stage);
}

static size_t
s_discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* GET http://127.0.0.1:<port><path>; the status, or -1. */
static long
s_http_status(int port, const char *path)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    cr_assert(not(eq(ptr, c, NULL)));
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_discard);
    long status = -1;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

static bool
s_wait_http(int port, const char *path, long want)
{
    int64_t deadline = kj_mono_ms() + WAIT_MS;
    while (kj_mono_ms() < deadline) {
        if (s_http_status(port, path) == want)
            return true;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return false;
}

Test(stage, redis_outage_turns_not_ready_and_loses_nothing)
{
    s_svc_t svc = {.verdict = KJ_VERDICT_DONE};
    kj_stage_opts_t opts = s_opts(NULL, 300, 5);
    s_runner_t run;
    s_start(&run, &svc, &opts);
    int port = kj_stage_admin_port(run.stage);
    cr_assert(port > 0);
    cr_assert(s_wait_http(port, "/readyz", 200));
    kj_push_t *push = s_push_to("t1");

    size_t len;
    s_create(&s_env, s_wire, &len);
    /* Redis hangs (commands time out) while the envelope arrives: the
     * commit fails, the stage says so, and the record is not lost. */
    cr_assert(eq(int, kill(s_redis.pid, SIGSTOP), 0));
    cr_assert(eq(int, kj_push_send(push, s_wire, len), 0));
    bool not_ready = s_wait_http(port, "/readyz", 503);
    uint64_t errors = s_counter(&run, "redis_errors_total", NULL);
    cr_assert(eq(int, kill(s_redis.pid, SIGCONT), 0));
    cr_assert(not_ready);
    cr_assert(errors > 0);

    cr_assert(s_wait_http(port, "/readyz", 200));
    kj_store_record_t rec;
    cr_assert(s_wait_state(s_env.complaint.id, "classified", &rec));
    free(rec.env);
    kj_push_destroy(&push);
    cr_assert(eq(int, s_stop(&run), 0));
}

Test(stage, bad_setup_fails_cleanly)
{
    kj_stage_opts_t opts = s_opts(NULL, 10000, 3);
    opts.zmq_bind = "tcp://0.0.0.0:*"; /* wildcard without advertise */
    cr_assert(eq(ptr, kj_stage_new(&opts), NULL));
    opts = s_opts(NULL, 10000, 3);
    opts.redis_url = "http://nope";
    cr_assert(eq(ptr, kj_stage_new(&opts), NULL));
    opts = s_opts(NULL, 10000, 3);
    opts.batch_max = 0;
    cr_assert(eq(ptr, kj_stage_new(&opts), NULL));
    opts = s_opts(NULL, 10000, 3);
    opts.admin_addr = "not-an-address";
    cr_assert(eq(ptr, kj_stage_new(&opts), NULL));
}
