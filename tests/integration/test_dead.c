/* kujo-admin dead (issue 18) on a real redis-server, run as a process and
 * read as an operator would: dead pipeline records (kj_store, retried past
 * max_attempts) and dead outbox jobs (kj_outbox, retried past
 * max_attempts) of two tenants are listed with their reasons, filtered,
 * replayed with their original ids (every idempotency key derives from
 * them) and dropped; drop --all wants --yes; nothing printed holds the
 * complaint's text or contact details. Each test has its own prefix. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "kj_envelope.h"
#include "kj_harness.h"
#include "kj_id.h"
#include "kj_keys.h"
#include "kj_outbox.h"
#include "kj_redis.h"
#include "kj_store.h"
#include "kj_testredis.h"
#include "kj_util.h"

#define NOW 1800000000000LL /* 2027-01-15T08:00:00Z */
#define LEASE 30000LL
#define SECRET_TEXT "SECRET-TEXT my parcel never arrived"
#define SECRET_EMAIL "hanako@example.jp"

static kj_testredis_t g_srv;
static kj_redis_t *g_r;
static uint64_t g_rng = 18;
static char g_url[256]; /* what kujo-admin connects with */

static void
setup(void)
{
    cr_assert(eq(int, kj_testredis_start(&g_srv, false), 0));
    char err[128];
    g_r = kj_redis_new(g_srv.url, 5000, err, sizeof err);
    cr_assert(ne(ptr, g_r, NULL), "%s", err);
    kj_strlcpy(g_url, g_srv.url, sizeof g_url);
}

/* Redis with deploy/redis/kujo-acl.sh's user for prefix (password in
 * <dir>/pw), which kujo-admin connects as; the test's own connection is
 * the default user, who may do everything. */
static void
setup_acl(const char *prefix)
{
    char dir[] = "/tmp/kj_dead_XXXXXX", pwfile[64], cmd[512], line[1024];
    cr_assert(ne(ptr, mkdtemp(dir), NULL));
    snprintf(pwfile, sizeof pwfile, "%s/pw", dir);
    FILE *f = fopen(pwfile, "w");
    cr_assert(ne(ptr, f, NULL));
    fputs("dead-letters-pw", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "sh '%s/deploy/redis/kujo-acl.sh' '%s' '%s'",
             KJ_SOURCE_DIR, pwfile, prefix);
    FILE *p = popen(cmd, "r");
    cr_assert(ne(ptr, p, NULL));
    bool got = fgets(line, sizeof line, p) != NULL;
    cr_assert(eq(int, pclose(p), 0));
    cr_assert(got);
    line[strcspn(line, "\n")] = '\0';
    unlink(pwfile);
    rmdir(dir);
    cr_assert(eq(int, kj_testredis_start_acl(&g_srv, false, line), 0));
    char err[128];
    g_r = kj_redis_new(g_srv.url, 5000, err, sizeof err);
    cr_assert(ne(ptr, g_r, NULL), "%s", err);
    snprintf(g_url, sizeof g_url, "redis://kujo:dead-letters-pw@127.0.0.1:%d/0",
             g_srv.port);
}

static void
teardown(void)
{
    kj_redis_destroy(&g_r);
    kj_testredis_stop(&g_srv);
}

TestSuite(dead, .init = setup, .fini = teardown, .timeout = 120);

/* ---- kujo-admin as a process ------------------------------------------- */

typedef struct {
    int code;          /* exit code */
    char out[65536];   /* stdout */
    char err[8192];    /* stderr */
    json_t *lines[64]; /* stdout's NDJSON lines, parsed */
    size_t n;
} admin_t;

static void
admin_free(admin_t *a)
{
    for (size_t i = 0; i < a->n; i++)
        json_decref(a->lines[i]);
    a->n = 0;
}

/* Run kujo-admin with args against prefix; every stdout line must be a
 * JSON object. */
static void
admin(admin_t *a, const char *prefix, const char *args)
{
    memset(a, 0, sizeof *a);
    char errpath[320], cmd[2048];
    snprintf(errpath, sizeof errpath, "%s/admin.err", g_srv.dir);
    snprintf(cmd, sizeof cmd,
             "env KUJO_REDIS_URL='%s' KUJO_PREFIX=%s '" KJ_BIN_DIR
             "/kujo-admin' %s 2>'%s'",
             g_url, prefix, args, errpath);
    FILE *p = popen(cmd, "r");
    cr_assert(ne(ptr, p, NULL));
    size_t n = fread(a->out, 1, sizeof a->out - 1, p);
    a->out[n] = '\0';
    int st = pclose(p);
    a->code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    FILE *e = fopen(errpath, "r");
    cr_assert(ne(ptr, e, NULL));
    n = fread(a->err, 1, sizeof a->err - 1, e);
    a->err[n] = '\0';
    fclose(e);
    char *save = NULL;
    char copy[sizeof a->out];
    memcpy(copy, a->out, sizeof copy);
    for (char *line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        bool object = json_is_object(j);
        cr_assert(object, "not a JSON object line: %s", line);
        size_t room = KJ_ARRAY_LEN(a->lines);
        cr_assert(lt(sz, a->n, room));
        a->lines[a->n++] = j;
    }
}

static const char *
str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The line whose field k is v, or NULL. */
static json_t *
find(const admin_t *a, const char *k, const char *v)
{
    for (size_t i = 0; i < a->n; i++)
        if (str(a->lines[i], k) && strcmp(str(a->lines[i], k), v) == 0)
            return a->lines[i];
    return NULL;
}

/* ---- making dead letters ------------------------------------------------ */

typedef struct {
    kj_store_t *store;
    kj_outbox_t *outbox;
    char rec[2][KJ_ID_LEN + 1]; /* dead records: acme (email), globex (web) */
    char job[2][KJ_OUTBOX_JOB_MAX]; /* dead jobs: acme, globex */
} world_t;

static kj_store_t *
new_store(const char *prefix)
{
    kj_store_opts_t o = {.prefix = prefix,
                         .lease_ms = LEASE,
                         .max_attempts = 1,
                         .stream_maxlen = 1000,
                         .retention_s = 3600,
                         .idem_ttl_s = 86400};
    kj_store_t *s = kj_store_new(g_r, &o);
    cr_assert(ne(ptr, s, NULL));
    return s;
}

/* A record of tenant on channel, created and then failed once with error
 * (max_attempts 1: dead, died in received). */
static void
dead_record(kj_store_t *s, const char *tenant, const char *channel,
            const char *error, char id[KJ_ID_LEN + 1])
{
    kj_id_new(id, NOW, -1, &g_rng);
    kj_codec_t *codec = kj_codec_new();
    kj_envelope_t *env = kj_calloc(1, sizeof *env);
    kj_trace_id_new(env->trace_id, &g_rng);
    kj_strlcpy(env->complaint.id, id, sizeof env->complaint.id);
    kj_strlcpy(env->complaint.tenant, tenant, sizeof env->complaint.tenant);
    kj_strlcpy(env->complaint.channel, channel, sizeof env->complaint.channel);
    kj_strlcpy(env->complaint.text, SECRET_TEXT, sizeof env->complaint.text);
    kj_strlcpy(env->complaint.customer.email, SECRET_EMAIL,
               sizeof env->complaint.customer.email);
    env->complaint.accepted_at_ms = NOW;
    const uint8_t *bytes;
    int n = kj_envelope_encode(codec, env, &bytes);
    cr_assert(gt(int, n, 0));
    uint8_t *copy = kj_calloc(1, (size_t)n);
    memcpy(copy, bytes, (size_t)n);
    kj_event_t ev;
    kj_event_from_envelope(&ev, env, "received", "ingest", NOW);
    const uint8_t *evb;
    int en = kj_event_encode(codec, &ev, &evb);
    cr_assert(gt(int, en, 0));
    kj_store_create_t c = {.id = id,
                           .env = copy,
                           .env_len = (size_t)n,
                           .event = evb,
                           .event_len = (size_t)en};
    cr_assert(eq(int, kj_store_create(s, &c, 1, NOW), 0));
    cr_assert(eq(int, c.result, 1));
    kj_store_retry_t r = {.id = id,
                          .state = "received",
                          .next_ms = NOW + LEASE,
                          .error = error,
                          .dead_event = evb,
                          .dead_event_len = (size_t)en};
    cr_assert(eq(int, kj_store_retry(s, &r, 1, NOW + 10), 0));
    cr_assert(eq(int, r.result, 2), "not dead: %d", r.result);
    free(copy);
    free(env);
    kj_codec_destroy(&codec);
}

/* A customer_ack of tenant owed, claimed and failed with error
 * (max_attempts 1: dead). */
static void
dead_job(kj_outbox_t *o, const char *tenant, const char *error,
         char job[KJ_OUTBOX_JOB_MAX])
{
    char cid[KJ_ID_LEN + 1];
    kj_id_new(cid, NOW, -1, &g_rng);
    snprintf(job, KJ_OUTBOX_JOB_MAX, "%s:customer_ack", cid);
    cr_assert(eq(int,
                 kj_outbox_put(o, tenant, job, "customer_ack", cid, "C9",
                               "{\"text\":\"" SECRET_TEXT
                               "\",\"to\":\"" SECRET_EMAIL "\"}",
                               NOW),
                 1));
    /* Claim until this job comes (the other tenant's may come too). */
    kj_outbox_job_t jobs[8];
    size_t n = 0;
    cr_assert(eq(int, kj_outbox_claim(o, NOW, LEASE, jobs, 8, &n), 0));
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(jobs[i].id, job) == 0) {
            found = true;
            cr_assert(
                eq(int,
                   kj_outbox_retry(o, &jobs[i], NOW + LEASE, error, 1, false,
                                   "http://sink:80", 503, NOW + 20),
                   KJ_OUTBOX_DEAD));
        }
        kj_outbox_job_clear(&jobs[i]);
    }
    cr_assert(found);
}

static void
world_new(world_t *w, const char *prefix)
{
    w->store = new_store(prefix);
    w->outbox = kj_outbox_new(g_r, prefix);
    dead_record(w->store, "acme", "email", "classifier: timeout", w->rec[0]);
    dead_record(w->store, "globex", "web", "rules: no route", w->rec[1]);
    dead_job(w->outbox, "acme", "http 503 from connector", w->job[0]);
    dead_job(w->outbox, "globex", "connect refused", w->job[1]);
}

static void
world_free(world_t *w)
{
    kj_outbox_destroy(&w->outbox);
    kj_store_destroy(&w->store);
}

static long long
cmd_int(const char *fmt, const char *a, const char *b)
{
    redisReply *r = kj_redis_command(g_r, fmt, a, b);
    cr_assert(ne(ptr, r, NULL));
    cr_assert(eq(int, r->type, REDIS_REPLY_INTEGER), "%s",
              r->type == REDIS_REPLY_ERROR ? r->str : "not an integer");
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* A field of a hash as a malloc'ed string, NULL when absent. */
static char *
hget(const char *key, const char *field)
{
    redisReply *r = kj_redis_command(g_r, "HGET %s %s", key, field);
    cr_assert(ne(ptr, r, NULL));
    char *s = r->type == REDIS_REPLY_STRING ? kj_strdup(r->str) : NULL;
    freeReplyObject(r);
    return s;
}

static void
rec_key(const char *prefix, const char *id, char *buf, size_t size)
{
    kj_keys_make(buf, size, prefix, kj_id_partition(id), KJ_KEY_RECORD, id);
}

static void
dead_key(const char *prefix, const char *id, char *buf, size_t size)
{
    kj_keys_make(buf, size, prefix, kj_id_partition(id), KJ_KEY_DEAD, NULL);
}

/* ---- tests -------------------------------------------------------------- */

/* Usage: list every dead letter, one JSON object a line. */
Test(dead, list_shows_both_kinds_with_reasons)
{
    world_t w;
    world_new(&w, "d1");
    admin_t a;
    admin(&a, "d1", "dead list");
    cr_assert(eq(int, a.code, 0), "%s", a.err);
    cr_assert(eq(sz, a.n, 4), "%s", a.out);

    json_t *r = find(&a, "id", w.rec[0]);
    cr_assert(ne(ptr, r, NULL), "%s", a.out);
    cr_assert(eq(str, (char *)str(r, "kind"), "pipeline"));
    cr_assert(eq(str, (char *)str(r, "tenant"), "acme"));
    cr_assert(eq(str, (char *)str(r, "channel"), "email"));
    cr_assert(eq(str, (char *)str(r, "died_in"), "received"));
    cr_assert(eq(str, (char *)str(r, "reason"), "classifier: timeout"));
    cr_assert(eq(i64, json_integer_value(json_object_get(r, "attempts")), 1));
    cr_assert(eq(str, (char *)str(r, "at"), "2027-01-15T08:00:00.010Z"));
    r = find(&a, "id", w.rec[1]);
    cr_assert(ne(ptr, r, NULL));
    cr_assert(eq(str, (char *)str(r, "tenant"), "globex"));
    cr_assert(eq(str, (char *)str(r, "channel"), "web"));
    cr_assert(eq(str, (char *)str(r, "reason"), "rules: no route"));

    json_t *j = find(&a, "job", w.job[0]);
    cr_assert(ne(ptr, j, NULL), "%s", a.out);
    cr_assert(eq(str, (char *)str(j, "kind"), "outbox"));
    cr_assert(eq(str, (char *)str(j, "tenant"), "acme"));
    cr_assert(eq(str, (char *)str(j, "delivery"), "customer_ack"));
    cr_assert(eq(str, (char *)str(j, "case"), "C9"));
    cr_assert(eq(int, strncmp(str(j, "complaint"), w.job[0], KJ_ID_LEN), 0));
    cr_assert(eq(str, (char *)str(j, "reason"), "http 503 from connector"));
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "attempts")), 1));
    cr_assert(eq(str, (char *)str(j, "at"), "2027-01-15T08:00:00.020Z"));
    j = find(&a, "job", w.job[1]);
    cr_assert(ne(ptr, j, NULL));
    cr_assert(eq(str, (char *)str(j, "tenant"), "globex"));
    cr_assert(eq(str, (char *)str(j, "reason"), "connect refused"));
    admin_free(&a);
    world_free(&w);
}

Test(dead, list_filters)
{
    world_t w;
    world_new(&w, "d2");
    admin_t a;
    admin(&a, "d2", "dead list --kind pipeline");
    cr_assert(eq(sz, a.n, 2));
    cr_assert(ne(ptr, find(&a, "id", w.rec[0]), NULL));
    cr_assert(ne(ptr, find(&a, "id", w.rec[1]), NULL));
    admin_free(&a);

    admin(&a, "d2", "dead list --kind outbox --tenant acme");
    cr_assert(eq(sz, a.n, 1));
    cr_assert(ne(ptr, find(&a, "job", w.job[0]), NULL));
    admin_free(&a);

    admin(&a, "d2", "dead list --tenant globex");
    cr_assert(eq(sz, a.n, 2));
    cr_assert(ne(ptr, find(&a, "id", w.rec[1]), NULL));
    cr_assert(ne(ptr, find(&a, "job", w.job[1]), NULL));
    admin_free(&a);

    admin(&a, "d2", "dead list --reason 503");
    cr_assert(eq(sz, a.n, 1));
    cr_assert(ne(ptr, find(&a, "job", w.job[0]), NULL));
    admin_free(&a);

    admin(&a, "d2", "dead list --reason 'no route'");
    cr_assert(eq(sz, a.n, 1));
    cr_assert(ne(ptr, find(&a, "id", w.rec[1]), NULL));
    admin_free(&a);

    /* The records died 10 ms after NOW, the jobs 20 ms after. */
    admin(&a, "d2", "dead list --since 2027-01-15T08:00:00.015Z");
    cr_assert(eq(sz, a.n, 2));
    cr_assert(ne(ptr, find(&a, "job", w.job[0]), NULL));
    admin_free(&a);
    admin(&a, "d2", "dead list --since 2027-01-15T17:00:00+09:00");
    cr_assert(eq(sz, a.n, 4), "an offset names the same instant");
    admin_free(&a);
    admin(&a, "d2", "dead list --since 2030-01-01T00:00:00Z");
    cr_assert(eq(int, a.code, 0));
    cr_assert(eq(sz, a.n, 0));
    admin_free(&a);

    admin(&a, "d2", "dead list --limit 3");
    cr_assert(eq(sz, a.n, 3));
    admin_free(&a);
    admin(&a, "d2", "dead list --tenant nobody");
    cr_assert(eq(sz, a.n, 0));
    admin_free(&a);
    world_free(&w);
}

Test(dead, replay_one_keeps_its_id_and_idempotency_key)
{
    world_t w;
    world_new(&w, "d3");
    char args[512];
    snprintf(args, sizeof args, "dead replay %s %s", w.rec[0], w.job[0]);
    admin_t a;
    admin(&a, "d3", args);
    cr_assert(eq(int, a.code, 0), "%s %s", a.out, a.err);
    cr_assert(eq(sz, a.n, 2));
    cr_assert(
        eq(str, (char *)str(find(&a, "id", w.rec[0]), "result"), "replayed"));
    cr_assert(
        eq(str, (char *)str(find(&a, "job", w.job[0]), "result"), "replayed"));
    cr_assert(ne(ptr, strstr(a.err, "2 replayed"), NULL), "%s", a.err);
    admin_free(&a);

    /* The record is back where it died, same id, due at once. */
    kj_store_record_t got;
    cr_assert(eq(int, kj_store_get(w.store, w.rec[0], &got), 1));
    cr_assert(eq(str, got.state, "received"));
    cr_assert(eq(int, got.attempts, 1));
    free(got.env);
    char dk[256];
    dead_key("d3", w.rec[0], dk, sizeof dk);
    redisReply *z = kj_redis_command(g_r, "ZSCORE %s %s", dk, w.rec[0]);
    cr_assert(eq(int, z->type, REDIS_REPLY_NIL));
    freeReplyObject(z);
    kj_store_claim_t cl[4];
    cr_assert(
        eq(int, kj_store_claim(w.store, "received", kj_now_ms(), cl, 4), 1));
    cr_assert(eq(str, cl[0].id, w.rec[0]));

    /* The job is owed again under its own id, attempts reset, the error
     * it died of kept for audit. */
    char ob[256];
    snprintf(ob, sizeof ob, "d3:{t:acme}:ob:%s", w.job[0]);
    char *v = hget(ob, "attempts");
    cr_assert(eq(str, v, "0"));
    free(v);
    v = hget(ob, "replayed_from");
    cr_assert(eq(str, v, "http 503 from connector"));
    free(v);
    cr_assert(eq(ptr, hget(ob, "last_error"), NULL));
    cr_assert(eq(i64, cmd_int("ZCARD %s", "d3:{t:acme}:outbox_dead", NULL), 0));
    cr_assert(
        eq(i64, cmd_int("ZCARD %s", "d3:{t:globex}:outbox_dead", NULL), 1));
    kj_outbox_job_t jobs[8];
    size_t n = 0;
    cr_assert(
        eq(int, kj_outbox_claim(w.outbox, kj_now_ms(), LEASE, jobs, 8, &n), 0));
    cr_assert(eq(sz, n, 1));
    cr_assert(eq(str, jobs[0].id, w.job[0])); /* the Idempotency-Key */
    cr_assert(eq(str, jobs[0].tenant, "acme"));
    cr_assert(eq(i64, jobs[0].attempts, 1));
    cr_assert(eq(
        int,
        kj_outbox_done(w.outbox, &jobs[0], "http://sink:80", 200, kj_now_ms()),
        1));
    kj_outbox_job_clear(&jobs[0]);

    /* Again: not dead any more, nothing changes, exit 1. */
    admin(&a, "d3", args);
    cr_assert(eq(int, a.code, 1));
    cr_assert(eq(sz, a.n, 2));
    cr_assert(
        eq(str, (char *)str(find(&a, "id", w.rec[0]), "result"), "not_dead"));
    cr_assert(
        eq(str, (char *)str(find(&a, "job", w.job[0]), "result"), "not_dead"));
    admin_free(&a);
    cr_assert(eq(int, kj_store_get(w.store, w.rec[0], &got), 1));
    cr_assert(eq(str, got.state, "received"));
    free(got.env);

    /* The other two are still dead. */
    admin(&a, "d3", "dead list");
    cr_assert(eq(sz, a.n, 2));
    cr_assert(ne(ptr, find(&a, "id", w.rec[1]), NULL));
    cr_assert(ne(ptr, find(&a, "job", w.job[1]), NULL));
    admin_free(&a);
    world_free(&w);
}

Test(dead, outbox_replay_from_c_is_atomic_and_idempotent)
{
    world_t w;
    world_new(&w, "d4");
    cr_assert(eq(int, kj_outbox_replay(w.outbox, "acme", w.job[0], NOW + 50),
                 KJ_OUTBOX_DEAD_DONE));
    cr_assert(eq(int, kj_outbox_replay(w.outbox, "acme", w.job[0], NOW + 60),
                 KJ_OUTBOX_DEAD_NOT_DEAD));
    /* Not dead: drop leaves an owed job (and its hash) alone. */
    cr_assert(eq(int, kj_outbox_drop(w.outbox, "acme", w.job[0]),
                 KJ_OUTBOX_DEAD_NOT_DEAD));
    char ob[256];
    snprintf(ob, sizeof ob, "d4:{t:acme}:ob:%s", w.job[0]);
    cr_assert(eq(i64, cmd_int("EXISTS %s", ob, NULL), 1));
    /* Its due time is the replay's, not the second call's. */
    redisReply *z =
        kj_redis_command(g_r, "ZSCORE d4:{t:acme}:outbox %s", w.job[0]);
    cr_assert(eq(str, z->str, "1800000000050"));
    freeReplyObject(z);
    /* A job in the wrong tenant is not dead there. */
    cr_assert(eq(int, kj_outbox_replay(w.outbox, "acme", w.job[1], NOW),
                 KJ_OUTBOX_DEAD_NOT_DEAD));
    cr_assert(eq(int, kj_outbox_replay(w.outbox, "a{b", w.job[1], NOW),
                 KJ_OUTBOX_DEAD_FAILED));
    /* A dead job whose hash was deleted by hand: only drop helps. */
    snprintf(ob, sizeof ob, "d4:{t:globex}:ob:%s", w.job[1]);
    cr_assert(eq(i64, cmd_int("DEL %s", ob, NULL), 1));
    cr_assert(eq(int, kj_outbox_replay(w.outbox, "globex", w.job[1], NOW),
                 KJ_OUTBOX_DEAD_NO_JOB));
    cr_assert(eq(int, kj_outbox_drop(w.outbox, "globex", w.job[1]),
                 KJ_OUTBOX_DEAD_DONE));
    cr_assert(
        eq(i64, cmd_int("ZCARD %s", "d4:{t:globex}:outbox_dead", NULL), 0));
    world_free(&w);
}

Test(dead, replay_all_with_a_reason_filter_replays_only_those)
{
    world_t w;
    world_new(&w, "d5");
    admin_t a;
    admin(&a, "d5", "dead replay --all --reason 'no route'");
    cr_assert(eq(int, a.code, 0), "%s", a.err);
    cr_assert(eq(sz, a.n, 1), "%s", a.out);
    cr_assert(eq(str, (char *)str(a.lines[0], "id"), w.rec[1]));
    cr_assert(eq(str, (char *)str(a.lines[0], "tenant"), "globex"));
    cr_assert(eq(str, (char *)str(a.lines[0], "result"), "replayed"));
    admin_free(&a);
    admin(&a, "d5", "dead list");
    cr_assert(eq(sz, a.n, 3));
    cr_assert(eq(ptr, find(&a, "id", w.rec[1]), NULL));
    admin_free(&a);

    admin(&a, "d5", "dead replay --all --kind outbox --tenant acme");
    cr_assert(eq(int, a.code, 0));
    cr_assert(eq(sz, a.n, 1));
    cr_assert(eq(str, (char *)str(a.lines[0], "job"), w.job[0]));
    admin_free(&a);

    admin(&a, "d5", "dead replay --all");
    cr_assert(eq(int, a.code, 0));
    cr_assert(eq(sz, a.n, 2));
    cr_assert(ne(ptr, find(&a, "id", w.rec[0]), NULL));
    cr_assert(ne(ptr, find(&a, "job", w.job[1]), NULL));
    admin_free(&a);
    admin(&a, "d5", "dead list");
    cr_assert(eq(sz, a.n, 0));
    admin_free(&a);
    /* Nothing left: --all finds nothing and that is no failure. */
    admin(&a, "d5", "dead replay --all");
    cr_assert(eq(int, a.code, 0));
    cr_assert(eq(sz, a.n, 0));
    admin_free(&a);
    world_free(&w);
}

Test(dead, drop_removes_and_drop_all_wants_yes)
{
    world_t w;
    world_new(&w, "d6");
    admin_t a;
    admin(&a, "d6", "dead drop --all");
    cr_assert(eq(int, a.code, 64));
    cr_assert(ne(ptr, strstr(a.err, "--yes"), NULL), "%s", a.err);
    cr_assert(eq(sz, a.n, 0));
    admin_free(&a);
    admin(&a, "d6", "dead drop --all --kind outbox");
    cr_assert(eq(int, a.code, 64));
    admin_free(&a);
    admin(&a, "d6", "dead list");
    cr_assert(eq(sz, a.n, 4), "nothing was dropped");
    admin_free(&a);

    /* One of each by id. */
    char args[512];
    snprintf(args, sizeof args, "dead drop %s %s", w.rec[0], w.job[0]);
    admin(&a, "d6", args);
    cr_assert(eq(int, a.code, 0), "%s", a.err);
    cr_assert(
        eq(str, (char *)str(find(&a, "id", w.rec[0]), "result"), "dropped"));
    cr_assert(
        eq(str, (char *)str(find(&a, "job", w.job[0]), "result"), "dropped"));
    admin_free(&a);
    char rk[256], dk[256], ob[256];
    rec_key("d6", w.rec[0], rk, sizeof rk);
    dead_key("d6", w.rec[0], dk, sizeof dk);
    redisReply *z = kj_redis_command(g_r, "ZSCORE %s %s", dk, w.rec[0]);
    cr_assert(eq(int, z->type, REDIS_REPLY_NIL));
    freeReplyObject(z);
    /* The record itself stays dead and keeps expiring as before. */
    char *state = hget(rk, "state");
    cr_assert(eq(str, state, "dead"));
    free(state);
    cr_assert(gt(i64, cmd_int("TTL %s", rk, NULL), 0));
    snprintf(ob, sizeof ob, "d6:{t:acme}:ob:%s", w.job[0]);
    cr_assert(eq(i64, cmd_int("EXISTS %s", ob, NULL), 0));

    /* A filter picks letters out: no --yes needed. */
    admin(&a, "d6", "dead drop --all --tenant globex --kind outbox");
    cr_assert(eq(int, a.code, 0), "%s", a.err);
    cr_assert(eq(sz, a.n, 1));
    cr_assert(eq(str, (char *)str(a.lines[0], "job"), w.job[1]));
    admin_free(&a);

    admin(&a, "d6", "dead drop --all --yes");
    cr_assert(eq(int, a.code, 0), "%s", a.err);
    cr_assert(eq(sz, a.n, 1));
    cr_assert(eq(str, (char *)str(a.lines[0], "id"), w.rec[1]));
    admin_free(&a);
    admin(&a, "d6", "dead list");
    cr_assert(eq(sz, a.n, 0));
    admin_free(&a);
    world_free(&w);
}

Test(dead, output_never_holds_complaint_text_or_contact_details)
{
    world_t w;
    world_new(&w, "d7");
    const char *runs[] = {"dead list", "dead list --kind pipeline",
                          "dead replay --all --kind pipeline",
                          "dead drop --all --yes"};
    for (size_t i = 0; i < KJ_ARRAY_LEN(runs); i++) {
        admin_t a;
        admin(&a, "d7", runs[i]);
        cr_assert(eq(int, a.code, 0), "%s: %s", runs[i], a.err);
        cr_assert(gt(sz, a.n, 0), "%s printed nothing", runs[i]);
        cr_assert(eq(ptr, strstr(a.out, "SECRET"), NULL), "%s: %s", runs[i],
                  a.out);
        cr_assert(eq(ptr, strstr(a.out, "hanako"), NULL), "%s", a.out);
        cr_assert(eq(ptr, strstr(a.err, "SECRET"), NULL), "%s", a.err);
        cr_assert(eq(ptr, strstr(a.err, "hanako"), NULL), "%s", a.err);
        admin_free(&a);
    }
    world_free(&w);
}

Test(dead, bad_usage_is_64)
{
    const char *runs[] = {
        "dead",
        "dead nope",
        "dead replay",
        "dead drop",
        "dead replay --all 0123456789abcdefghij",
        "dead list --kind mail",
        "dead list --since yesterday",
        "dead list --since 2026-13-01T00:00:00Z",
        "dead list --limit 0",
        "dead list --limit",
        "dead list 0123456789abcdefghij",
        "dead list --all",
        "dead replay --all --yes",
        "dead drop --all --reason ''",
    };
    for (size_t i = 0; i < KJ_ARRAY_LEN(runs); i++) {
        admin_t a;
        admin(&a, "d8", runs[i]);
        cr_assert(eq(int, a.code, 64), "%s: %d", runs[i], a.code);
        cr_assert(eq(sz, a.n, 0));
    }
    /* An id that is no dead letter: said so, exit 1. */
    admin_t a;
    admin(&a, "d8", "dead replay 0123456789abcdefghij");
    cr_assert(eq(int, a.code, 1));
    cr_assert(eq(sz, a.n, 1));
    cr_assert(eq(str, (char *)str(a.lines[0], "result"), "not_dead"));
    admin_free(&a);
}

/* As the restricted user the services run as (deploy/redis/kujo-acl.sh),
 * which may not SCAN (it would show key names outside the prefix): the
 * tenants come from <prefix>:tenants instead, and everything else kujo-admin
 * dead sends is allowed. */
/* A reason that is not UTF-8 (written by hand) still makes a JSON line
 * with every field. */
Test(dead, a_reason_that_is_not_utf8_is_still_a_json_line)
{
    world_t w;
    world_new(&w, "d10");
    char ob[256];
    snprintf(ob, sizeof ob, "d10:{t:acme}:ob:%s", w.job[0]);
    redisReply *r =
        kj_redis_command(g_r, "HSET %s last_error %b", ob, "bad \xff!", 6);
    cr_assert(ne(ptr, r, NULL));
    freeReplyObject(r);
    admin_t a;
    admin(&a, "d10", "dead list --kind outbox --tenant acme");
    cr_assert(eq(int, a.code, 0), "%s", a.err);
    cr_assert(eq(sz, a.n, 1), "%s", a.out);
    cr_assert(eq(str, (char *)str(a.lines[0], "reason"), "bad \xef\xbf\xbd!"));
    admin_free(&a);
    world_free(&w);
}

TestSuite(dead_acl, .fini = teardown, .timeout = 120);

Test(dead_acl, runs_as_the_restricted_acl_user)
{
    setup_acl("d9");
    world_t w;
    world_new(&w, "d9");
    admin_t a;
    admin(&a, "d9", "dead list");
    cr_assert(eq(int, a.code, 0), "%s", a.err);
    cr_assert(eq(sz, a.n, 4), "%s %s", a.out, a.err);
    cr_assert(ne(ptr, strstr(a.err, "d9:tenants"), NULL), "%s", a.err);
    admin_free(&a);
    admin(&a, "d9", "dead replay --all --tenant acme");
    cr_assert(eq(int, a.code, 0), "%s", a.err);
    cr_assert(eq(sz, a.n, 2));
    admin_free(&a);
    admin(&a, "d9", "dead drop --all --yes");
    cr_assert(eq(int, a.code, 0), "%s", a.err);
    cr_assert(eq(sz, a.n, 2));
    admin_free(&a);
    world_free(&w);
}
