/* PII in its place, on the real pipeline (redis-server, the five binaries,
 * the webhook sink): a complaint whose customer, text and subject carry a
 * name, e-mails, a phone and a card number. Before classification GET
 * withholds the text; after delivery no envelope copy, event, alert,
 * answer, log line or other key holds any of it; the PII record holds the
 * originals, expires with the record, and is read back only with an audit
 * entry. The store-level cases run on their own redis with a one-second
 * retention. */
#define _GNU_SOURCE /* memmem */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_envelope.h"
#include "kj_harness.h"
#include "kj_id.h"
#include "kj_keys.h"
#include "kj_redis.h"
#include "kj_store.h"
#include "kj_testredis.h"
#include "kj_util.h"

#define S_NAME "Hana Sato"
#define S_EMAIL "hana.sato@example.jp"
#define S_SUBJECT "refund to card 4111 1111 1111 1111"
#define S_TEXT                                                                 \
    "Call me at 090-1234-5678 or mail hana.private@example.com: my card "      \
    "4111-1111-1111-1111 was charged twice for one order. Please refund."

/* What must appear nowhere but in the PII record. */
static const char *const s_secrets[] = {
    S_NAME,
    "Hana",
    S_EMAIL,
    "hana.private@",
    "090-1234-5678",
    "1234-5678",
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
};

static const char *
s_leak(const void *data, size_t len)
{
    for (size_t i = 0; i < KJ_ARRAY_LEN(s_secrets); i++)
        if (memmem(data, len, s_secrets[i], strlen(s_secrets[i])))
            return s_secrets[i];
    return NULL;
}

static const char s_body[] =
    "{\"channel\":\"email\",\"customer\":{\"id\":\"c-pii-1\",\"tier\":"
    "\"gold\",\"name\":\"" S_NAME "\",\"email\":\"" S_EMAIL "\"},"
    "\"subject\":\"" S_SUBJECT "\",\"text\":\"" S_TEXT "\"}";

static redisContext *
s_connect(int port)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    cr_assert(c && !c->err, "redis connect");
    return c;
}

static long long
s_ttl(redisContext *c, const char *key)
{
    redisReply *r = redisCommand(c, "TTL %s", key);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER);
    long long t = r->integer;
    freeReplyObject(r);
    return t;
}

/* Every string of a reply tree, checked for secrets. */
static const char *
s_reply_leak(const redisReply *r)
{
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
        return s_leak(r->str, r->len);
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements; i++) {
            const char *s = s_reply_leak(r->element[i]);
            if (s)
                return s;
        }
    return NULL;
}

/* Read every key but skip (and the audit stream) and check its contents
 * for secrets. Returns the number of keys read. */
static int
s_scan_redis(redisContext *c, const char *skip)
{
    redisReply *keys = redisCommand(c, "KEYS *");
    cr_assert(keys && keys->type == REDIS_REPLY_ARRAY);
    int n = 0;
    for (size_t i = 0; i < keys->elements; i++) {
        const char *k = keys->element[i]->str;
        if (strcmp(k, skip) == 0)
            continue;
        redisReply *t = redisCommand(c, "TYPE %s", k);
        cr_assert(t && t->type == REDIS_REPLY_STATUS);
        redisReply *v = NULL;
        if (strcmp(t->str, "hash") == 0)
            v = redisCommand(c, "HGETALL %s", k);
        else if (strcmp(t->str, "stream") == 0)
            v = redisCommand(c, "XRANGE %s - +", k);
        else if (strcmp(t->str, "zset") == 0)
            v = redisCommand(c, "ZRANGE %s 0 -1", k);
        else if (strcmp(t->str, "string") == 0)
            v = redisCommand(c, "GET %s", k);
        else if (strcmp(t->str, "set") == 0)
            v = redisCommand(c, "SMEMBERS %s", k);
        else if (strcmp(t->str, "list") == 0)
            v = redisCommand(c, "LRANGE %s 0 -1", k);
        cr_assert(v != NULL, "cannot read %s (%s)", k, t->str);
        const char *leak = s_reply_leak(v);
        cr_assert(leak == NULL, "%s (%s) holds \"%s\"", k, t->str,
                  leak ? leak : "");
        n++;
        freeReplyObject(v);
        freeReplyObject(t);
    }
    freeReplyObject(keys);
    return n;
}

static void
s_scan_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f != NULL, "%s", path);
    char *buf = kj_malloc(1 << 22);
    size_t n = fread(buf, 1, (1 << 22) - 1, f);
    fclose(f);
    const char *leak = s_leak(buf, n);
    cr_assert(leak == NULL, "%s logs \"%s\"", path, leak ? leak : "");
    free(buf);
}

static const char *
s_jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* ------------------------------------------------------------------ */

static kj_pipeline_t *s_pl;

static void
s_teardown(void)
{
    kj_pipeline_destroy(&s_pl);
}

Test(pii, originals_stay_in_the_pii_record, .fini = s_teardown, .timeout = 180)
{
    s_pl = kj_pipeline_new(NULL);
    cr_assert(s_pl != NULL, "the pipeline did not start");
    /* No classifier while the complaint is fresh: GET sees it received. */
    KJ_PL_ASSERT(s_pl, kj_pipeline_stop(s_pl, KJ_SVC_CLASSIFIER, 0, 10000) >= 0,
                 "the classifier did not stop");

    char id[32];
    int status = kj_pipeline_post(s_pl, s_body, "pii-1", id);
    KJ_PL_ASSERT(s_pl, status == 202, "POST answered %d", status);
    json_t *rec = kj_pipeline_record(s_pl, id);
    cr_assert(rec != NULL);
    char *dump = json_dumps(rec, JSON_COMPACT);
    cr_assert(eq(str, (char *)s_jstr(rec, "state"), "received"));
    cr_assert(eq(ptr, json_object_get(rec, "text"), NULL), "%s", dump);
    cr_assert(eq(ptr, json_object_get(rec, "subject"), NULL), "%s", dump);
    cr_assert(
        eq(str, (char *)s_jstr(rec, "text_withheld"), "not yet classified"));
    cr_assert(s_leak(dump, strlen(dump)) == NULL, "GET leaks: %s", dump);
    free(dump);
    json_decref(rec);

    /* Even the received envelope (raw text, for the classifier to mask)
     * carries no contact details. */
    const kj_testredis_t *srv = kj_pipeline_redis(s_pl);
    const char *prefix = kj_pipeline_prefix(s_pl);
    int p = kj_id_partition(id);
    char rkey[128], pkey[128], ekey[128], akey[64];
    kj_keys_make(rkey, sizeof rkey, prefix, p, KJ_KEY_RECORD, id);
    kj_keys_make(pkey, sizeof pkey, prefix, p, KJ_KEY_PII, id);
    kj_keys_make(ekey, sizeof ekey, prefix, p, KJ_KEY_EVENTS, NULL);
    kj_keys_audit(akey, sizeof akey, prefix);
    redisContext *c = s_connect(srv->port);
    redisReply *r = redisCommand(c, "HGET %s env", rkey);
    cr_assert(r && r->type == REDIS_REPLY_STRING);
    cr_assert(zero(ptr, memmem(r->str, r->len, S_NAME, strlen(S_NAME))));
    cr_assert(zero(ptr, memmem(r->str, r->len, S_EMAIL, strlen(S_EMAIL))));
    freeReplyObject(r);

    KJ_PL_ASSERT(s_pl, kj_pipeline_restart(s_pl, KJ_SVC_CLASSIFIER, 0) == 0,
                 "the classifier did not restart");
    rec = kj_pipeline_wait_state(s_pl, id, "delivered", 30000);
    KJ_PL_ASSERT(s_pl, rec != NULL, "%s was not delivered", id);
    /* GET shows the masked text and subject only. */
    dump = json_dumps(rec, JSON_COMPACT);
    cr_assert(s_leak(dump, strlen(dump)) == NULL, "GET leaks: %s", dump);
    cr_assert(ne(ptr, strstr(s_jstr(rec, "subject"), "refund to card"), NULL),
              "%s", dump);
    cr_assert(ne(ptr, strstr(s_jstr(rec, "text"), "charged twice"), NULL), "%s",
              dump);
    free(dump);
    json_decref(rec);

    /* The stored envelope: customer id and tier stay, contact details and
     * raw text are gone, in the decoded fields and anywhere in its bytes. */
    r = redisCommand(c, "HGET %s env", rkey);
    cr_assert(r && r->type == REDIS_REPLY_STRING);
    cr_assert(s_leak(r->str, r->len) == NULL, "the stored envelope leaks");
    kj_codec_t *codec = kj_codec_new();
    kj_envelope_t *env = calloc(1, sizeof *env);
    cr_assert(
        eq(int, kj_envelope_decode(codec, (uint8_t *)r->str, r->len, env), 0));
    freeReplyObject(r);
    cr_assert(eq(str, env->complaint.customer.id, "c-pii-1"));
    cr_assert(eq(str, env->complaint.customer.tier, "gold"));
    cr_assert(eq(str, env->complaint.customer.name, ""));
    cr_assert(eq(str, env->complaint.customer.email, ""));
    cr_assert(eq(str, env->complaint.text, env->triage.masked_text));
    free(env);
    kj_codec_destroy(&codec);

    /* The events stream has this complaint's events and nothing else. */
    r = redisCommand(c, "XRANGE %s - +", ekey);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    cr_assert(ge(sz, r->elements, 4), "events: %zu", r->elements);
    cr_assert(s_reply_leak(r) == NULL, "the events stream leaks");
    freeReplyObject(r);

    /* The alert the team got (signed, through the real sink). */
    char key[64];
    snprintf(key, sizeof key, "%s:team_alert", id);
    json_t *alert = kj_sink_key_body(kj_pipeline_sink(s_pl), key);
    cr_assert(alert != NULL, "the sink never saw %s", key);
    dump = json_dumps(alert, JSON_COMPACT);
    cr_assert(s_leak(dump, strlen(dump)) == NULL, "the webhook leaks: %s",
              dump);
    cr_assert(ne(ptr, strstr(dump, "c-pii-1"), NULL), "%s", dump);
    free(dump);
    json_decref(alert);

    /* The PII record holds the originals and expires with the record. */
    r = redisCommand(c, "HMGET %s name email text subject", pkey);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 4);
    cr_assert(eq(str, r->element[0]->str, S_NAME));
    cr_assert(eq(str, r->element[1]->str, S_EMAIL));
    cr_assert(eq(str, r->element[2]->str, S_TEXT));
    cr_assert(eq(str, r->element[3]->str, S_SUBJECT));
    freeReplyObject(r);
    long long rttl = s_ttl(c, rkey), pttl = s_ttl(c, pkey);
    cr_assert(gt(i64, rttl, 0));
    cr_assert(gt(i64, pttl, 0));
    cr_assert(le(i64, llabs(rttl - pttl), 2), "ttl %lld vs %lld", rttl, pttl);

    /* Everything else in Redis, after delivery: no secret anywhere. */
    cr_assert(gt(int, s_scan_redis(c, pkey), 5));
    for (int s = 0; s < KJ_SVC_COUNT; s++)
        s_scan_file(kj_proc_log_path(kj_pipeline_proc(s_pl, (kj_svc_t)s, 0)));

    /* Reading the originals is audited. */
    char err[128];
    kj_redis_t *redis = kj_redis_new(srv->url, 2000, err, sizeof err);
    cr_assert(redis != NULL, "%s", err);
    kj_store_opts_t so = {.prefix = prefix,
                          .lease_ms = 2000,
                          .max_attempts = 5,
                          .stream_maxlen = 1000};
    kj_store_t *store = kj_store_new(redis, &so);
    kj_store_pii_record_t pii;
    cr_assert(eq(int, kj_store_pii_get(store, id, "key-ops-7", 1234, &pii), 1));
    cr_assert(eq(str, pii.name, S_NAME));
    cr_assert(eq(str, pii.email, S_EMAIL));
    cr_assert(eq(str, pii.text, S_TEXT));
    cr_assert(eq(str, pii.subject, S_SUBJECT));
    kj_store_pii_clear(&pii);
    cr_assert(eq(ptr, pii.text, NULL));
    r = redisCommand(c, "XRANGE %s - +", akey);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    redisReply *f = r->element[0]->element[1];
    cr_assert(eq(sz, f->elements, 6));
    cr_assert(eq(str, f->element[0]->str, "who"));
    cr_assert(eq(str, f->element[1]->str, "key-ops-7"));
    cr_assert(eq(str, f->element[2]->str, "id"));
    cr_assert(eq(str, f->element[3]->str, id));
    cr_assert(eq(str, f->element[4]->str, "at_ms"));
    cr_assert(eq(str, f->element[5]->str, "1234"));
    freeReplyObject(r);
    kj_store_destroy(&store);
    kj_redis_destroy(&redis);
    redisFree(c);
}

/* ------------------------------------------------------------------ */
/* The store alone, with a retention of one second. */

#define NOW 1800000000000LL

static kj_testredis_t g_srv;
static kj_redis_t *g_r;
static kj_store_t *g_store;
static redisContext *g_c;
static uint64_t g_rng = 7;

static void
s_setup_store(void)
{
    cr_assert(eq(int, kj_testredis_start(&g_srv, false), 0));
    char err[128];
    g_r = kj_redis_new(g_srv.url, 2000, err, sizeof err);
    cr_assert(g_r != NULL, "%s", err);
    kj_store_opts_t so = {.prefix = "tp",
                          .lease_ms = 10000,
                          .max_attempts = 1,
                          .stream_maxlen = 100,
                          .retention_s = 1};
    g_store = kj_store_new(g_r, &so);
    cr_assert(g_store != NULL);
    g_c = s_connect(g_srv.port);
}

static void
s_teardown_store(void)
{
    redisFree(g_c);
    kj_store_destroy(&g_store);
    kj_redis_destroy(&g_r);
    kj_testredis_stop(&g_srv);
}

TestSuite(pii_store, .init = s_setup_store, .fini = s_teardown_store,
          .timeout = 60);

/* Create one record with originals; its id into id, its keys into rkey,
 * pkey. */
static void
s_create(char id[KJ_ID_LEN + 1], char rkey[128], char pkey[128])
{
    kj_id_new(id, NOW, -1, &g_rng);
    kj_store_pii_t pii = {.name = S_NAME, .email = S_EMAIL, .text = S_TEXT};
    kj_store_create_t it = {
        .id = id, .env = (const uint8_t *)"e", .env_len = 1, .pii = &pii};
    cr_assert(eq(int, kj_store_create(g_store, &it, 1, NOW), 0));
    cr_assert(eq(int, it.result, 1));
    int p = kj_id_partition(id);
    kj_keys_make(rkey, 128, "tp", p, KJ_KEY_RECORD, id);
    kj_keys_make(pkey, 128, "tp", p, KJ_KEY_PII, id);
}

static void
s_move(const char *id, const char *from, const char *to)
{
    kj_store_transition_t t = {.id = id, .from = from, .to = to};
    cr_assert(eq(int, kj_store_transition(g_store, &t, 1, NOW), 0));
    cr_assert(eq(int, t.result, 1));
}

static long long
s_exists(const char *key)
{
    redisReply *r = redisCommand(g_c, "EXISTS %s", key);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER);
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

Test(pii_store, the_pii_record_expires_with_a_delivered_record)
{
    char id[KJ_ID_LEN + 1], rkey[128], pkey[128];
    s_create(id, rkey, pkey);
    /* Empty fields are not stored; live records do not expire. */
    redisReply *r = redisCommand(g_c, "HGETALL %s", pkey);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    cr_assert(eq(sz, r->elements, 6));
    freeReplyObject(r);
    s_move(id, "received", "classified");
    s_move(id, "classified", "routed");
    cr_assert(eq(i64, s_ttl(g_c, pkey), -1));
    s_move(id, "routed", "delivered");
    cr_assert(gt(i64, s_ttl(g_c, pkey), 0));
    kj_test_sleep_ms(2100);
    cr_assert(eq(i64, s_exists(rkey), 0));
    cr_assert(eq(i64, s_exists(pkey), 0));
    kj_store_pii_record_t pii;
    cr_assert(eq(int, kj_store_pii_get(g_store, id, "k", NOW, &pii), 0));
}

Test(pii_store, a_dead_record_takes_its_pii_record_along_until_replayed)
{
    char id[KJ_ID_LEN + 1], rkey[128], pkey[128];
    s_create(id, rkey, pkey);
    /* Dead through a failed last attempt (max_attempts is 1). */
    kj_store_retry_t rt = {
        .id = id, .state = "received", .next_ms = NOW, .error = "t: gave up"};
    cr_assert(eq(int, kj_store_retry(g_store, &rt, 1, NOW), 0));
    cr_assert(eq(int, rt.result, 2));
    cr_assert(gt(i64, s_ttl(g_c, pkey), 0));
    /* A replay keeps both again. */
    cr_assert(eq(int, kj_store_replay(g_store, id, NOW), 1));
    cr_assert(eq(i64, s_ttl(g_c, rkey), -1));
    cr_assert(eq(i64, s_ttl(g_c, pkey), -1));
    /* Dead through a transition. */
    s_move(id, "received", "dead");
    cr_assert(gt(i64, s_ttl(g_c, pkey), 0));
}

Test(pii_store, no_audit_entry_when_nothing_is_returned)
{
    char id[KJ_ID_LEN + 1];
    kj_id_new(id, NOW, -1, &g_rng);
    kj_store_pii_record_t pii;
    cr_assert(eq(int, kj_store_pii_get(g_store, id, "k", NOW, &pii), 0));
    cr_assert(
        eq(int, kj_store_pii_get(g_store, "not-an-id", "k", NOW, &pii), 0));
    cr_assert(eq(i64, s_exists("tp:audit"), 0));
    /* A record created without originals has no PII record. */
    kj_id_new(id, NOW, -1, &g_rng);
    kj_store_create_t it = {
        .id = id, .env = (const uint8_t *)"e", .env_len = 1};
    cr_assert(eq(int, kj_store_create(g_store, &it, 1, NOW), 0));
    cr_assert(eq(int, it.result, 1));
    char pkey[128];
    kj_keys_make(pkey, sizeof pkey, "tp", kj_id_partition(id), KJ_KEY_PII, id);
    cr_assert(eq(i64, s_exists(pkey), 0));
    cr_assert(eq(int, kj_store_pii_get(g_store, id, "k", NOW, &pii), 0));
    cr_assert(eq(i64, s_exists("tp:audit"), 0));
}

Test(pii_store, a_duplicate_writes_no_second_pii_record)
{
    char id[KJ_ID_LEN + 1], id2[KJ_ID_LEN + 1];
    const char *idem = "t:dup-1";
    int p = kj_key_partition(idem);
    kj_id_new(id, NOW, p, &g_rng);
    kj_id_new(id2, NOW, p, &g_rng);
    kj_store_pii_t pii = {.name = S_NAME, .text = S_TEXT};
    kj_store_create_t it[2] = {
        {.id = id,
         .idem_key = idem,
         .env = (const uint8_t *)"e",
         .env_len = 1,
         .pii = &pii},
        {.id = id2,
         .idem_key = idem,
         .env = (const uint8_t *)"e",
         .env_len = 1,
         .pii = &pii},
    };
    cr_assert(eq(int, kj_store_create(g_store, it, 2, NOW), 0));
    cr_assert(eq(int, it[0].result, 1));
    cr_assert(eq(int, it[1].result, 0));
    cr_assert(eq(str, it[1].existing_id, id));
    char pkey[128];
    kj_keys_make(pkey, sizeof pkey, "tp", p, KJ_KEY_PII, id2);
    cr_assert(eq(i64, s_exists(pkey), 0));
    kj_store_pii_record_t out;
    cr_assert(eq(int, kj_store_pii_get(g_store, id, "ops", NOW, &out), 1));
    cr_assert(eq(str, out.name, S_NAME));
    cr_assert(eq(ptr, out.email, NULL));
    kj_store_pii_clear(&out);
}
