/* kj_store against a real redis-server: the record state machine, the due
 * sets, claims racing between connections, the dead-letter list and replay,
 * the event streams, the key layout and recovery from lost scripts. Each
 * test starts its own server and uses its own key prefix. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kj_envelope.h"
#include "kj_id.h"
#include "kj_redis.h"
#include "kj_store.h"
#include "kj_testredis.h"
#include "kj_util.h"

#define NOW 1800000000000LL /* a fixed clock: the store takes time as input */
#define LEASE 10000

static kj_testredis_t g_srv;
static kj_redis_t *g_r;
static uint64_t g_rng = 42;

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

TestSuite(store, .init = setup, .fini = teardown, .timeout = 60);

static kj_store_t *
new_store(kj_redis_t *r, const char *prefix, int max_attempts)
{
    kj_store_opts_t o = {
        .prefix = prefix,
        .lease_ms = LEASE,
        .max_attempts = max_attempts,
        .stream_maxlen = 1000,
        .retention_s = 3600,
        .idem_ttl_s = 86400,
    };
    kj_store_t *s = kj_store_new(r, &o);
    cr_assert(ne(ptr, s, NULL));
    return s;
}

/* A raw command whose reply the test inspects; never NULL. */
static redisReply *
cmd(const char *fmt, const char *a, const char *b)
{
    redisReply *rep = kj_redis_command(g_r, fmt, a, b);
    cr_assert(ne(ptr, rep, NULL), "%s", kj_redis_errstr(g_r));
    return rep;
}

static long long
cmd_int(const char *fmt, const char *a, const char *b)
{
    redisReply *rep = cmd(fmt, a, b);
    cr_assert(eq(int, rep->type, REDIS_REPLY_INTEGER), "%s",
              rep->type == REDIS_REPLY_ERROR ? rep->str : "not an integer");
    long long v = rep->integer;
    freeReplyObject(rep);
    return v;
}

/* The string reply as a malloc'ed copy, NULL for nil. */
static char *
cmd_str(const char *fmt, const char *a, const char *b)
{
    redisReply *rep = cmd(fmt, a, b);
    char *s = NULL;
    if (rep->type == REDIS_REPLY_STRING)
        s = kj_strndup(rep->str, rep->len);
    else
        cr_assert(eq(int, rep->type, REDIS_REPLY_NIL));
    freeReplyObject(rep);
    return s;
}

/* The record's key, "<prefix>:{p}:c:<id>". */
static void
rec_key(kj_store_t *s, char *buf, const char *id)
{
    char w[64];
    snprintf(w, sizeof w, "c:%s", id);
    kj_store_key(s, buf, 256, kj_id_partition(id), w);
}

/* A stored envelope and its received event, as ingest makes them. */
typedef struct {
    char id[KJ_ID_LEN + 1];
    uint8_t env[KJ_ENVELOPE_WIRE_MAX];
    size_t env_len;
    uint8_t ev[1024];
    size_t ev_len;
} rec_t;

static void
make_rec(rec_t *rec, int partition)
{
    kj_id_new(rec->id, NOW, partition, &g_rng);
    kj_codec_t *codec = kj_codec_new();
    kj_envelope_t env;
    memset(&env, 0, sizeof env);
    kj_trace_id_new(env.trace_id, &g_rng);
    kj_strlcpy(env.complaint.id, rec->id, sizeof env.complaint.id);
    strcpy(env.complaint.channel, "email");
    strcpy(env.complaint.tenant, "default");
    strcpy(env.complaint.text, "the parcel never arrived");
    env.complaint.accepted_at_ms = NOW;
    const uint8_t *out;
    int n = kj_envelope_encode(codec, &env, &out);
    cr_assert(gt(int, n, 0));
    memcpy(rec->env, out, (size_t)n);
    rec->env_len = (size_t)n;
    kj_event_t ev;
    kj_event_from_envelope(&ev, &env, "received", "ingest", NOW);
    n = kj_event_encode(codec, &ev, &out);
    cr_assert(gt(int, n, 0));
    memcpy(rec->ev, out, (size_t)n);
    rec->ev_len = (size_t)n;
    kj_codec_destroy(&codec);
}

static int
create_one(kj_store_t *s, const rec_t *rec, const char *idem, char *existing)
{
    kj_store_create_t it = {
        .id = rec->id,
        .idem_key = idem,
        .env = rec->env,
        .env_len = rec->env_len,
        .event = rec->ev,
        .event_len = rec->ev_len,
    };
    cr_assert(eq(int, kj_store_create(s, &it, 1, NOW), 0));
    if (existing)
        strcpy(existing, it.existing_id);
    return it.result;
}

static int
transition_one(kj_store_t *s, const char *id, const char *from, const char *to,
               int64_t due_ms, const char *reason)
{
    kj_store_transition_t t = {
        .id = id, .from = from, .to = to, .due_ms = due_ms, .reason = reason};
    kj_store_transition(s, &t, 1, NOW + 1);
    return t.result;
}

/* Usage: ingest creates, a stage moves the record on, anyone reads it. */
Test(store, usage)
{
    kj_store_t *s = new_store(g_r, "t_usage", 5);
    rec_t rec;
    make_rec(&rec, -1);
    cr_assert(eq(int, create_one(s, &rec, NULL, NULL), 1));

    kj_store_record_t got;
    cr_assert(eq(int, kj_store_get(s, rec.id, &got), 1));
    cr_assert(eq(str, got.state, "received"));
    cr_assert(eq(int, got.attempts, 1));
    cr_assert(eq(i64, got.created_ms, NOW));
    cr_assert(eq(sz, got.env_len, rec.env_len));
    cr_assert(eq(int, memcmp(got.env, rec.env, rec.env_len), 0));
    free(got.env);

    cr_assert(eq(
        int,
        transition_one(s, rec.id, "received", "classified", NOW + LEASE, NULL),
        1));
    cr_assert(eq(int, kj_store_get(s, rec.id, &got), 1));
    cr_assert(eq(str, got.state, "classified"));
    cr_assert(eq(i64, got.updated_ms, NOW + 1));
    free(got.env);
    kj_store_destroy(&s);
    cr_assert(eq(ptr, s, NULL));
}

Test(store, create_is_idempotent)
{
    kj_store_t *s = new_store(g_r, "t_idem", 5);
    const char *idem = "default:order-17";
    int p = kj_key_partition(idem);
    rec_t a, b;
    make_rec(&a, p);
    make_rec(&b, p);
    cr_assert(ne(str, a.id, b.id));
    char existing[KJ_ID_LEN + 1];
    cr_assert(eq(int, create_one(s, &a, idem, existing), 1));
    cr_assert(eq(str, existing, a.id));
    /* A retried POST made a new id; the key maps it to the first one. */
    cr_assert(eq(int, create_one(s, &b, idem, existing), 0));
    cr_assert(eq(str, existing, a.id));
    kj_store_record_t got;
    cr_assert(eq(int, kj_store_get(s, b.id, &got), 0));
    /* The same id twice (a replayed batch) is a duplicate too. */
    cr_assert(eq(int, create_one(s, &a, NULL, existing), 0));
    cr_assert(eq(str, existing, a.id));

    char k[256];
    char ik[256];
    snprintf(ik, sizeof ik, "t_idem:{%d}:idem:%s", p, idem);
    char *mapped = cmd_str("GET %s", ik, NULL);
    cr_assert(eq(str, mapped, a.id));
    free(mapped);
    long long ttl = cmd_int("TTL %s", ik, NULL);
    cr_assert(gt(i64, ttl, 86000));
    cr_assert(le(i64, ttl, 86400));
    /* Only one event: the duplicate wrote nothing. */
    snprintf(k, sizeof k, "t_idem:{%d}:events", p);
    cr_assert(eq(i64, cmd_int("XLEN %s", k, NULL), 1));

    /* An id outside the key's partition is refused, not half-stored. */
    rec_t c;
    make_rec(&c, (p + 1) % KJ_PARTITIONS);
    kj_store_create_t it = {.id = c.id,
                            .idem_key = "default:order-99-other",
                            .env = c.env,
                            .env_len = c.env_len};
    if (kj_key_partition(it.idem_key) == kj_id_partition(c.id))
        it.idem_key = "default:order-17";
    cr_assert(eq(int, kj_store_create(s, &it, 1, NOW), -1));
    cr_assert(eq(int, it.result, -1));
    cr_assert(eq(int, kj_store_get(s, c.id, &got), 0));
    kj_store_destroy(&s);
}

Test(store, batch_create_mixes_new_and_duplicate)
{
    kj_store_t *s = new_store(g_r, "t_batch", 5);
    enum { N = 50 };
    static rec_t recs[N];
    kj_store_create_t items[N];
    for (int i = 0; i < N; i++) {
        make_rec(&recs[i], i % KJ_PARTITIONS);
        items[i] = (kj_store_create_t){.id = recs[i].id,
                                       .env = recs[i].env,
                                       .env_len = recs[i].env_len,
                                       .event = recs[i].ev,
                                       .event_len = recs[i].ev_len};
    }
    cr_assert(eq(int, kj_store_create(s, items, N / 2, NOW), 0));
    cr_assert(eq(int, kj_store_create(s, items, N, NOW), 0));
    for (int i = 0; i < N; i++)
        cr_assert(eq(int, items[i].result, i < N / 2 ? 0 : 1), "item %d", i);
    cr_assert(eq(i64, kj_store_depth(s, "received"), N));
    cr_assert(eq(i64, kj_store_depth(s, "classified"), 0));
    kj_store_destroy(&s);
}

Test(store, transition_then_stale_duplicate)
{
    kj_store_t *s = new_store(g_r, "t_trans", 5);
    rec_t rec;
    make_rec(&rec, 3);
    cr_assert(eq(int, create_one(s, &rec, NULL, NULL), 1));
    char due_r[256], due_c[256], rk[256];
    snprintf(due_r, sizeof due_r, "t_trans:{3}:due:received");
    snprintf(due_c, sizeof due_c, "t_trans:{3}:due:classified");
    rec_key(s, rk, rec.id);
    char *score = cmd_str("ZSCORE %s %s", due_r, rec.id);
    cr_assert(eq(str, score, "1800000010000")); /* now + lease */
    free(score);

    /* Claimed once, so attempts is 2 when the stage finishes. */
    kj_store_claim_t cl[4];
    cr_assert(eq(int, kj_store_claim(s, "received", NOW + LEASE, cl, 4), 1));
    cr_assert(eq(int, cl[0].attempts, 2));

    const uint8_t newenv[] = "new envelope bytes";
    kj_store_transition_t t = {.id = rec.id,
                               .from = "received",
                               .to = "classified",
                               .env = newenv,
                               .env_len = sizeof newenv,
                               .due_ms = NOW + 2 * LEASE,
                               .event = rec.ev,
                               .event_len = rec.ev_len};
    cr_assert(eq(int, kj_store_transition(s, &t, 1, NOW + 5), 0));
    cr_assert(eq(int, t.result, 1));
    /* The same result arriving again (a duplicate push) is dropped. */
    t.env = (const uint8_t *)"other";
    t.env_len = 5;
    cr_assert(eq(int, kj_store_transition(s, &t, 1, NOW + 6), 0));
    cr_assert(eq(int, t.result, 0));

    kj_store_record_t got;
    cr_assert(eq(int, kj_store_get(s, rec.id, &got), 1));
    cr_assert(eq(str, got.state, "classified"));
    cr_assert(eq(int, got.attempts, 1)); /* entering a state resets it */
    cr_assert(eq(i64, got.updated_ms, NOW + 5));
    cr_assert(eq(sz, got.env_len, sizeof newenv));
    cr_assert(eq(int, memcmp(got.env, newenv, sizeof newenv), 0));
    free(got.env);
    cr_assert(eq(ptr, cmd_str("ZSCORE %s %s", due_r, rec.id), NULL));
    score = cmd_str("ZSCORE %s %s", due_c, rec.id);
    cr_assert(eq(str, score, "1800000020000"));
    free(score);
    /* No TTL before a final state. */
    cr_assert(eq(i64, cmd_int("TTL %s", rk, NULL), -1));

    /* A final state: no deadline, and the record expires after retention. */
    cr_assert(
        eq(int,
           transition_one(s, rec.id, "classified", "routed", NOW + LEASE, NULL),
           1));
    cr_assert(
        eq(int, transition_one(s, rec.id, "routed", "delivered", 0, NULL), 1));
    cr_assert(eq(int, kj_store_get(s, rec.id, &got), 1));
    cr_assert(eq(str, got.state, "delivered"));
    free(got.env);
    long long ttl = cmd_int("TTL %s", rk, NULL);
    cr_assert(gt(i64, ttl, 3500));
    cr_assert(eq(i64, kj_store_depth(s, "routed"), 0));
    cr_assert(eq(i64, kj_store_depth(s, "delivered"), 0));

    /* Unknown ids are stale, never created. */
    rec_t ghost;
    make_rec(&ghost, 3);
    cr_assert(eq(
        int, transition_one(s, ghost.id, "received", "classified", NOW, NULL),
        0));
    cr_assert(eq(int, kj_store_get(s, ghost.id, &got), 0));
    kj_store_destroy(&s);
}

Test(store, transition_to_dead_lists_the_record)
{
    kj_store_t *s = new_store(g_r, "t_dead", 5);
    rec_t rec;
    make_rec(&rec, 7);
    cr_assert(eq(int, create_one(s, &rec, NULL, NULL), 1));
    cr_assert(eq(int,
                 transition_one(s, rec.id, "received", "dead", 0,
                                "decode_error: complaint: missing"),
                 1));
    kj_store_record_t got;
    cr_assert(eq(int, kj_store_get(s, rec.id, &got), 1));
    cr_assert(eq(str, got.state, "dead"));
    cr_assert(eq(str, got.reason, "decode_error: complaint: missing"));
    cr_assert(eq(str, got.dead_from, "received"));
    free(got.env);
    char *score = cmd_str("ZSCORE %s %s", "t_dead:{7}:dead", rec.id);
    cr_assert(eq(str, score, "1800000000001"));
    free(score);
    cr_assert(eq(i64, kj_store_depth(s, "received"), 0));
    kj_store_destroy(&s);
}

Test(store, retry_reschedules_then_dies_after_max_attempts)
{
    kj_store_t *s = new_store(g_r, "t_retry", 3);
    rec_t rec;
    make_rec(&rec, 9);
    cr_assert(eq(int, create_one(s, &rec, NULL, NULL), 1));
    cr_assert(eq(
        int,
        transition_one(s, rec.id, "received", "classified", NOW + LEASE, NULL),
        1));
    cr_assert(
        eq(int,
           transition_one(s, rec.id, "classified", "routed", NOW + LEASE, NULL),
           1));
    kj_store_retry_t rt = {.id = rec.id,
                           .state = "routed",
                           .next_ms = NOW + 500,
                           .error = "webhook: HTTP 500",
                           .dead_event = rec.ev,
                           .dead_event_len = rec.ev_len};
    /* attempts 1 of 3: try again at next_ms. */
    cr_assert(eq(int, kj_store_retry(s, &rt, 1, NOW), 0));
    cr_assert(eq(int, rt.result, 1));
    char *score = cmd_str("ZSCORE %s %s", "t_retry:{9}:due:routed", rec.id);
    cr_assert(eq(str, score, "1800000000500"));
    free(score);
    kj_store_claim_t cl[2];
    cr_assert(eq(int, kj_store_claim(s, "routed", NOW + 499, cl, 2), 0));
    cr_assert(eq(int, kj_store_claim(s, "routed", NOW + 500, cl, 2), 1));
    cr_assert(eq(int, cl[0].attempts, 2));
    cr_assert(eq(str, cl[0].last_error, "webhook: HTTP 500"));

    /* attempts 2 of 3 */
    rt.next_ms = NOW + 1500;
    cr_assert(eq(int, kj_store_retry(s, &rt, 1, NOW + 600), 0));
    cr_assert(eq(int, rt.result, 1));
    cr_assert(eq(int, kj_store_claim(s, "routed", NOW + 1500, cl, 2), 1));
    cr_assert(eq(int, cl[0].attempts, 3));

    /* attempts 3 of 3: dead, with the error as the reason. */
    rt.error = "webhook: HTTP 500 after 3 attempts";
    cr_assert(eq(int, kj_store_retry(s, &rt, 1, NOW + 1600), 0));
    cr_assert(eq(int, rt.result, 2));
    kj_store_record_t got;
    cr_assert(eq(int, kj_store_get(s, rec.id, &got), 1));
    cr_assert(eq(str, got.state, "dead"));
    cr_assert(eq(str, got.reason, "webhook: HTTP 500 after 3 attempts"));
    cr_assert(eq(str, got.dead_from, "routed"));
    free(got.env);
    score = cmd_str("ZSCORE %s %s", "t_retry:{9}:dead", rec.id);
    cr_assert(eq(str, score, "1800000001600"));
    free(score);
    cr_assert(eq(i64, kj_store_depth(s, "routed"), 0));
    /* created, the dead event */
    cr_assert(eq(i64, cmd_int("XLEN %s", "t_retry:{9}:events", NULL), 2));
    char rk[256];
    rec_key(s, rk, rec.id);
    cr_assert(gt(i64, cmd_int("TTL %s", rk, NULL), 3500));

    /* A retry for a record no longer in the state is stale. */
    cr_assert(eq(int, kj_store_retry(s, &rt, 1, NOW + 1700), 0));
    cr_assert(eq(int, rt.result, 0));
    kj_store_destroy(&s);
}

Test(store, claim_takes_only_overdue_work)
{
    kj_store_t *s = new_store(g_r, "t_claim", 5);
    enum { N = 20 };
    static rec_t recs[N];
    for (int i = 0; i < N; i++) {
        make_rec(&recs[i], i % 5);
        cr_assert(eq(int, create_one(s, &recs[i], NULL, NULL), 1));
    }
    kj_store_claim_t cl[N];
    /* Deadline now + lease: nothing is overdue before then. */
    cr_assert(eq(int, kj_store_claim(s, "received", NOW, cl, N), 0));
    cr_assert(
        eq(int, kj_store_claim(s, "received", NOW + LEASE - 1, cl, N), 0));
    /* A small batch takes part of it ... */
    cr_assert(eq(int, kj_store_claim(s, "received", NOW + LEASE, cl, 7), 7));
    /* ... and the rest is still there; the claimed ones are not. */
    cr_assert(
        eq(int, kj_store_claim(s, "received", NOW + LEASE, cl, N), N - 7));
    cr_assert(eq(int, kj_store_claim(s, "received", NOW + LEASE, cl, N), 0));
    /* A claim's lease runs out like any other deadline. */
    int got = kj_store_claim(s, "received", NOW + 2 * LEASE, cl, N);
    cr_assert(eq(int, got, N));
    for (int i = 0; i < got; i++) {
        cr_assert(eq(int, cl[i].attempts, 3));
        const rec_t *match = NULL;
        for (int j = 0; j < N; j++)
            if (strcmp(recs[j].id, cl[i].id) == 0)
                match = &recs[j];
        cr_assert(ne(ptr, (void *)match, NULL));
        cr_assert(eq(sz, cl[i].env_len, match->env_len));
        cr_assert(eq(int, memcmp(cl[i].env, match->env, match->env_len), 0));
        cr_assert(eq(str, cl[i].last_error, ""));
    }
    cr_assert(eq(i64, kj_store_depth(s, "received"), N));
    kj_store_destroy(&s);
}

Test(store, claim_drops_stale_due_entries)
{
    kj_store_t *s = new_store(g_r, "t_stale", 5);
    rec_t rec;
    make_rec(&rec, 2);
    cr_assert(eq(int, create_one(s, &rec, NULL, NULL), 1));
    cr_assert(eq(
        int,
        transition_one(s, rec.id, "received", "classified", NOW + LEASE, NULL),
        1));
    /* A leftover entry (say, restored from an old snapshot) for a record
     * that has moved on. */
    cmd_int("ZADD t_stale:{2}:due:received 0 %s", rec.id, NULL);
    kj_store_claim_t cl[2];
    cr_assert(eq(int, kj_store_claim(s, "received", NOW, cl, 2), 0));
    cr_assert(eq(i64, kj_store_depth(s, "received"), 0));
    kj_store_destroy(&s);
}

typedef struct {
    const char *url;
    int taken;
    char ids[400][KJ_ID_LEN + 1];
} racer_t;

static void *
racer(void *arg)
{
    racer_t *rc = arg;
    char err[128];
    kj_redis_t *r = kj_redis_new(rc->url, 2000, err, sizeof err);
    kj_store_opts_t o = {.prefix = "t_race",
                         .lease_ms = LEASE,
                         .max_attempts = 5,
                         .stream_maxlen = 1000};
    kj_store_t *s = kj_store_new(r, &o);
    kj_store_claim_t cl[5];
    /* Bounded: 400 records cannot need more than 400 non-empty rounds. */
    for (int round = 0, empty = 0; round < 2000 && empty < 3; round++) {
        int n = kj_store_claim(s, "received", NOW + LEASE, cl, 5);
        if (n <= 0) {
            empty++;
            continue;
        }
        empty = 0;
        for (int i = 0; i < n && rc->taken < 400; i++)
            strcpy(rc->ids[rc->taken++], cl[i].id);
    }
    kj_store_destroy(&s);
    kj_redis_destroy(&r);
    return NULL;
}

static int
cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Two copies claiming the same overdue work at the same time, each on its
 * own connection: every record is taken exactly once. */
Test(store, racing_claimers_never_share_a_record)
{
    kj_store_t *s = new_store(g_r, "t_race", 5);
    enum { N = 400 };
    static rec_t recs[N];
    static kj_store_create_t items[N];
    for (int i = 0; i < N; i++) {
        make_rec(&recs[i], -1);
        items[i] = (kj_store_create_t){
            .id = recs[i].id, .env = recs[i].env, .env_len = recs[i].env_len};
    }
    cr_assert(eq(int, kj_store_create(s, items, N, NOW), 0));

    static racer_t a, b;
    a = (racer_t){.url = g_srv.url};
    b = (racer_t){.url = g_srv.url};
    pthread_t ta, tb;
    cr_assert(eq(int, pthread_create(&ta, NULL, racer, &a), 0));
    cr_assert(eq(int, pthread_create(&tb, NULL, racer, &b), 0));
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);

    cr_assert(eq(int, a.taken + b.taken, N));
    static char all[N][KJ_ID_LEN + 1];
    for (int i = 0; i < a.taken; i++)
        strcpy(all[i], a.ids[i]);
    for (int i = 0; i < b.taken; i++)
        strcpy(all[a.taken + i], b.ids[i]);
    qsort(all, N, sizeof all[0], cmp_id);
    for (int i = 1; i < N; i++)
        cr_assert(ne(str, all[i - 1], all[i]), "claimed twice: %s", all[i]);

    /* Alternating claims on two connections, one record at a time. */
    char err[128];
    kj_redis_t *r2 = kj_redis_new(g_srv.url, 2000, err, sizeof err);
    kj_store_t *s2 = new_store(r2, "t_race", 5);
    int total = 0;
    for (int i = 0; i < 2 * N; i++) {
        kj_store_claim_t cl[3];
        int n =
            kj_store_claim(i % 2 ? s2 : s, "received", NOW + 2 * LEASE, cl, 3);
        cr_assert(ge(int, n, 0));
        for (int j = 0; j < n; j++)
            cr_assert(eq(int, cl[j].attempts, 3));
        total += n;
        if (n == 0)
            break;
    }
    cr_assert(eq(int, total, N));
    kj_store_destroy(&s2);
    kj_redis_destroy(&r2);
    kj_store_destroy(&s);
}

Test(store, replay_puts_a_dead_record_back)
{
    kj_store_t *s = new_store(g_r, "t_replay", 5);
    rec_t rec;
    make_rec(&rec, 11);
    cr_assert(eq(int, create_one(s, &rec, NULL, NULL), 1));
    /* Not dead yet: nothing to replay. */
    cr_assert(eq(int, kj_store_replay(s, rec.id, NOW), 0));
    cr_assert(eq(
        int,
        transition_one(s, rec.id, "received", "classified", NOW + LEASE, NULL),
        1));
    cr_assert(eq(
        int,
        transition_one(s, rec.id, "classified", "dead", 0, "rules: no route"),
        1));
    char rk[256];
    rec_key(s, rk, rec.id);
    cr_assert(gt(i64, cmd_int("TTL %s", rk, NULL), 0));

    cr_assert(eq(int, kj_store_replay(s, rec.id, NOW + 100), 1));
    kj_store_record_t got;
    cr_assert(eq(int, kj_store_get(s, rec.id, &got), 1));
    cr_assert(eq(str, got.state, "classified"));
    cr_assert(eq(int, got.attempts, 1));
    cr_assert(eq(str, got.reason, ""));
    free(got.env);
    cr_assert(eq(i64, cmd_int("TTL %s", rk, NULL), -1)); /* kept again */
    cr_assert(eq(i64, cmd_int("ZCARD %s", "t_replay:{11}:dead", NULL), 0));
    /* Due at once: the router claims it on its next tick. */
    kj_store_claim_t cl[1];
    cr_assert(eq(int, kj_store_claim(s, "classified", NOW + 100, cl, 1), 1));
    cr_assert(eq(str, cl[0].id, rec.id));
    /* Twice is not dead any more. */
    cr_assert(eq(int, kj_store_replay(s, rec.id, NOW + 200), 0));
    /* No such record, or not an id at all. */
    rec_t ghost;
    make_rec(&ghost, 11);
    cr_assert(eq(int, kj_store_replay(s, ghost.id, NOW), 0));
    cr_assert(eq(int, kj_store_replay(s, "../../etc", NOW), 0));
    cr_assert(eq(int, kj_store_get(s, "nope", &got), 0));
    kj_store_destroy(&s);
}

Test(store, events_are_decodable)
{
    kj_store_t *s = new_store(g_r, "t_events", 5);
    rec_t rec;
    make_rec(&rec, 5);
    cr_assert(eq(int, create_one(s, &rec, NULL, NULL), 1));
    redisReply *rep = cmd("XRANGE %s - +", "t_events:{5}:events", NULL);
    cr_assert(eq(int, rep->type, REDIS_REPLY_ARRAY));
    cr_assert(eq(sz, rep->elements, 1));
    redisReply *fields = rep->element[0]->element[1];
    cr_assert(eq(sz, fields->elements, 2));
    cr_assert(eq(str, fields->element[0]->str, "e"));
    kj_codec_t *codec = kj_codec_new();
    kj_event_t ev;
    cr_assert(
        eq(int,
           kj_event_decode(codec, (const uint8_t *)fields->element[1]->str,
                           fields->element[1]->len, &ev),
           0),
        "%s", kj_codec_error(codec));
    cr_assert(eq(str, ev.complaint_id, rec.id));
    cr_assert(eq(str, ev.state, "received"));
    cr_assert(eq(str, ev.stage, "ingest"));
    cr_assert(eq(str, ev.channel, "email"));
    freeReplyObject(rep);
    kj_codec_destroy(&codec);
    kj_store_destroy(&s);
}

Test(store, streams_are_capped)
{
    kj_store_opts_t o = {.prefix = "t_cap",
                         .lease_ms = LEASE,
                         .max_attempts = 5,
                         .stream_maxlen = 100};
    kj_store_t *s = kj_store_new(g_r, &o);
    enum { N = 1000 };
    static rec_t recs[N];
    static kj_store_create_t items[N];
    for (int i = 0; i < N; i++) {
        make_rec(&recs[i], 0);
        items[i] = (kj_store_create_t){.id = recs[i].id,
                                       .env = recs[i].env,
                                       .env_len = recs[i].env_len,
                                       .event = recs[i].ev,
                                       .event_len = recs[i].ev_len};
    }
    cr_assert(eq(int, kj_store_create(s, items, N, NOW), 0));
    /* MAXLEN ~ trims whole macro nodes: near the cap, far below N. */
    long long len = cmd_int("XLEN %s", "t_cap:{0}:events", NULL);
    cr_assert(ge(i64, len, 100));
    cr_assert(lt(i64, len, 300));
    kj_store_destroy(&s);
}

Test(store, every_key_carries_the_partition_tag)
{
    kj_store_t *s = new_store(g_r, "t_keys", 2);
    const char *idem = "t:k1";
    int p = kj_key_partition(idem);
    rec_t rec;
    make_rec(&rec, p);
    cr_assert(eq(int, create_one(s, &rec, idem, NULL), 1));
    transition_one(s, rec.id, "received", "classified", NOW + LEASE, NULL);
    kj_store_retry_t rt = {.id = rec.id,
                           .state = "classified",
                           .next_ms = NOW,
                           .error = "x",
                           .dead_event = rec.ev,
                           .dead_event_len = rec.ev_len};
    kj_store_retry(s, &rt, 1, NOW);
    kj_store_claim_t cl[1];
    kj_store_claim(s, "classified", NOW, cl, 1);
    kj_store_retry(s, &rt, 1, NOW);
    cr_assert(eq(int, rt.result, 2));

    redisReply *rep = cmd("KEYS %s", "t_keys:*", NULL);
    cr_assert(eq(int, rep->type, REDIS_REPLY_ARRAY));
    /* record, dead, events, idem (the due sets are empty, so gone) */
    cr_assert(eq(sz, rep->elements, 4));
    char tag[16];
    snprintf(tag, sizeof tag, "t_keys:{%d}:", p);
    for (size_t i = 0; i < rep->elements; i++)
        cr_assert(eq(int, strncmp(rep->element[i]->str, tag, strlen(tag)), 0),
                  "%s", rep->element[i]->str);
    freeReplyObject(rep);
    char kbuf[64];
    cr_assert(eq(int, kj_store_key(s, kbuf, sizeof kbuf, 12, "dead"),
                 (int)strlen("t_keys:{12}:dead")));
    cr_assert(eq(str, kbuf, "t_keys:{12}:dead"));
    kj_store_destroy(&s);
}

/* Redis forgot the scripts (restart, failover, SCRIPT FLUSH): the next
 * batch gets NOSCRIPT, reloads them and still applies every item once. */
Test(store, recovers_from_noscript)
{
    kj_store_t *s = new_store(g_r, "t_noscript", 5);
    enum { N = 10 };
    static rec_t recs[N];
    kj_store_create_t items[N];
    for (int i = 0; i < N; i++) {
        make_rec(&recs[i], -1);
        items[i] = (kj_store_create_t){
            .id = recs[i].id, .env = recs[i].env, .env_len = recs[i].env_len};
    }
    redisReply *rep = cmd("SCRIPT FLUSH", NULL, NULL);
    freeReplyObject(rep);
    cr_assert(eq(int, kj_store_create(s, items, N, NOW), 0));
    for (int i = 0; i < N; i++)
        cr_assert(eq(int, items[i].result, 1));

    freeReplyObject(cmd("SCRIPT FLUSH", NULL, NULL));
    kj_store_transition_t t[N];
    for (int i = 0; i < N; i++)
        t[i] = (kj_store_transition_t){.id = recs[i].id,
                                       .from = "received",
                                       .to = "classified",
                                       .due_ms = NOW + LEASE};
    cr_assert(eq(int, kj_store_transition(s, t, N, NOW), 0));
    for (int i = 0; i < N; i++)
        cr_assert(eq(int, t[i].result, 1), "item %d", i);

    freeReplyObject(cmd("SCRIPT FLUSH", NULL, NULL));
    kj_store_claim_t cl[N];
    cr_assert(eq(int, kj_store_claim(s, "classified", NOW + LEASE, cl, N), N));
    freeReplyObject(cmd("SCRIPT FLUSH", NULL, NULL));
    cr_assert(eq(
        int, transition_one(s, recs[0].id, "classified", "dead", 0, "x"), 1));
    freeReplyObject(cmd("SCRIPT FLUSH", NULL, NULL));
    cr_assert(eq(int, kj_store_replay(s, recs[0].id, NOW), 1));
    kj_store_destroy(&s);
}

/* Redis gone: every call says so (-1, results -1) instead of blocking or
 * pretending, and the connection keeps the reason for /readyz. */
Test(store, reports_redis_down)
{
    kj_store_t *s = new_store(g_r, "t_down", 5);
    rec_t rec;
    make_rec(&rec, 1);
    cr_assert(eq(int, create_one(s, &rec, NULL, NULL), 1));
    kj_testredis_stop(&g_srv);

    kj_store_create_t it = {
        .id = rec.id, .env = rec.env, .env_len = rec.env_len};
    cr_assert(eq(int, kj_store_create(s, &it, 1, NOW), -1));
    cr_assert(eq(int, it.result, -1));
    cr_assert(not(kj_redis_connected(g_r)));
    cr_assert(ne(str, (char *)kj_redis_errstr(g_r), ""));
    kj_store_transition_t t = {
        .id = rec.id, .from = "received", .to = "classified"};
    cr_assert(eq(int, kj_store_transition(s, &t, 1, NOW), -1));
    cr_assert(eq(int, t.result, -1));
    kj_store_claim_t cl[1];
    cr_assert(eq(int, kj_store_claim(s, "received", NOW, cl, 1), -1));
    kj_store_record_t got;
    cr_assert(eq(int, kj_store_get(s, rec.id, &got), -1));
    cr_assert(eq(int, kj_store_replay(s, rec.id, NOW), -1));
    cr_assert(eq(i64, kj_store_depth(s, "received"), -1));
    kj_store_destroy(&s);
}

/* ---- the connection under the store (kj_redis) ----------------------- */

TestSuite(redis, .init = setup, .fini = teardown, .timeout = 60);

/* AUTH (classic and ACL user) and SELECT happen on connect. */
Test(redis, auth_and_select)
{
    redisReply *rep = cmd("ACL SETUSER alice on >pw2 ~* +@all", NULL, NULL);
    freeReplyObject(rep);
    freeReplyObject(cmd("CONFIG SET requirepass s3cret", NULL, NULL));

    char url[128], err[128];
    snprintf(url, sizeof url, "redis://:s3cret@127.0.0.1:%d/3", g_srv.port);
    kj_redis_t *r = kj_redis_new(url, 2000, err, sizeof err);
    cr_assert(ne(ptr, r, NULL), "%s", err);
    rep = kj_redis_command(r, "SET %s %s", "where", "db3");
    cr_assert(ne(ptr, rep, NULL), "%s", kj_redis_errstr(r));
    freeReplyObject(rep);
    cr_assert(eq(str, (char *)kj_redis_errstr(r), ""));
    kj_redis_destroy(&r);

    snprintf(url, sizeof url, "redis://alice:pw2@127.0.0.1:%d/3", g_srv.port);
    r = kj_redis_new(url, 2000, err, sizeof err);
    rep = kj_redis_command(r, "GET %s", "where");
    cr_assert(ne(ptr, rep, NULL), "%s", kj_redis_errstr(r));
    cr_assert(eq(str, rep->str, "db3"));
    freeReplyObject(rep);
    kj_redis_destroy(&r);

    /* A wrong password: not connected, and the reason is kept. */
    snprintf(url, sizeof url, "redis://:wrong@127.0.0.1:%d/0", g_srv.port);
    r = kj_redis_new(url, 2000, err, sizeof err);
    cr_assert(eq(int, kj_redis_connect(r), -1));
    cr_assert(not(kj_redis_connected(r)));
    cr_assert(eq(int, strncmp(kj_redis_errstr(r), "AUTH: ", 6), 0), "%s",
              kj_redis_errstr(r));
    kj_redis_destroy(&r);

    /* A database the server does not have. */
    snprintf(url, sizeof url, "redis://:s3cret@127.0.0.1:%d/999", g_srv.port);
    r = kj_redis_new(url, 2000, err, sizeof err);
    cr_assert(eq(int, kj_redis_connect(r), -1));
    cr_assert(eq(int, strncmp(kj_redis_errstr(r), "SELECT: ", 8), 0), "%s",
              kj_redis_errstr(r));
    kj_redis_destroy(&r);
}

/* The server drops an idle connection: the next call notices before it
 * sends anything, reconnects (scripts included) and succeeds, so nothing
 * is left in doubt. */
Test(redis, reconnects_after_the_server_drops_it)
{
    kj_store_t *s = new_store(g_r, "t_reconn", 5);
    cr_assert(eq(int, kj_redis_connect(g_r), 0));
    redisReply *rep = kj_redis_command(g_r, "CLIENT ID");
    cr_assert(ne(ptr, rep, NULL));
    long long before = rep->integer;
    freeReplyObject(rep);
    /* Kill this very connection from the server side. Redis answers,
     * then closes. */
    rep = kj_redis_command(g_r, "CLIENT KILL TYPE normal SKIPME no");
    cr_assert(ne(ptr, rep, NULL));
    freeReplyObject(rep);
    struct timespec close_wait = {0, 50 * 1000 * 1000};
    nanosleep(&close_wait, NULL); /* the close reaches us */
    rep = kj_redis_command(g_r, "CLIENT ID");
    cr_assert(ne(ptr, rep, NULL), "%s", kj_redis_errstr(g_r));
    cr_assert(rep->integer > before, "not a new connection");
    freeReplyObject(rep);
    cr_assert(kj_redis_connected(g_r));

    rec_t rec;
    make_rec(&rec, -1);
    cr_assert(eq(int, create_one(s, &rec, NULL, NULL), 1));
    cr_assert(kj_redis_connected(g_r));
    cr_assert(eq(str, (char *)kj_redis_errstr(g_r), ""));

    /* kj_redis_fail drops it on purpose (a caller saw a protocol error). */
    kj_redis_fail(g_r, "test");
    cr_assert(not(kj_redis_connected(g_r)));
    cr_assert(eq(str, (char *)kj_redis_errstr(g_r), "test"));
    kj_store_record_t got;
    cr_assert(eq(int, kj_store_get(s, rec.id, &got), 1));
    free(got.env);
    kj_store_destroy(&s);
}

/* A reply bigger than KJ_REDIS_REPLY_MAX is refused instead of buffered. */
Test(redis, reply_size_is_capped)
{
    char off[32];
    snprintf(off, sizeof off, "%d", KJ_REDIS_REPLY_MAX);
    /* Built on the server, so the test never sends 64 MiB. */
    freeReplyObject(cmd("SETRANGE big %s x", off, NULL));
    redisReply *rep = kj_redis_command(g_r, "GET big");
    cr_assert(eq(ptr, rep, NULL));
    cr_assert(not(kj_redis_connected(g_r)));
    cr_assert(eq(str, (char *)kj_redis_errstr(g_r),
                 "redis reply larger than the cap"));
    /* Smaller replies are fine again on the next connection. */
    rep = kj_redis_command(g_r, "GETRANGE big 0 9");
    cr_assert(ne(ptr, rep, NULL), "%s", kj_redis_errstr(g_r));
    cr_assert(eq(sz, rep->len, 10));
    freeReplyObject(rep);
}

Test(redis, pipelining_and_scripts)
{
    int h = kj_redis_script_add(g_r, "return ARGV[1] .. '!'");
    cr_assert(eq(int, kj_redis_connect(g_r), 0));
    const char *sha = kj_redis_script_sha(g_r, h);
    for (int i = 0; i < 100; i++) {
        char n[16];
        snprintf(n, sizeof n, "%d", i);
        const char *argv[] = {"EVALSHA", sha, "0", n};
        cr_assert(eq(int, kj_redis_appendargv(g_r, 4, argv, NULL), 0));
    }
    for (int i = 0; i < 100; i++) {
        redisReply *rep = kj_redis_get_reply(g_r);
        cr_assert(ne(ptr, rep, NULL));
        char want[16];
        snprintf(want, sizeof want, "%d!", i);
        cr_assert(eq(str, rep->str, want));
        freeReplyObject(rep);
    }
    freeReplyObject(cmd("SCRIPT FLUSH", NULL, NULL));
    const char *argv[] = {"EVALSHA", sha, "0", "x"};
    redisReply *rep = kj_redis_commandargv(g_r, 4, argv, NULL);
    cr_assert(kj_redis_is_noscript(rep));
    freeReplyObject(rep);
    cr_assert(eq(int, kj_redis_scripts_reload(g_r), 0));
    rep = kj_redis_commandargv(g_r, 4, argv, NULL);
    cr_assert(eq(str, rep->str, "x!"));
    cr_assert(not(kj_redis_is_noscript(rep)));
    freeReplyObject(rep);
}
