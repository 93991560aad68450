/* Forged envelopes (issue 10): a stage never lets a pushed envelope
 * overwrite what Redis holds, and the notifier takes endpoints only from
 * its own configuration and rules. Two parts:
 *
 *   store_sum  kj_store against a real redis-server: every write of an
 *              envelope keeps its kj_sum, and a write or a verify whose
 *              envelope is not the stored one is refused.
 *   forgery    the real pipeline (kj_harness), real webhook receivers
 *              (kj_sink) and a raw ZeroMQ PUSH to the notifier's
 *              registered endpoint, in plain loopback mode: a forged
 *              envelope for a real id or a made-up one changes nothing
 *              and sends nothing; a team's own webhook from the rules
 *              still gets its alerts. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <zmq.h>

#include "kj_envelope.h"
#include "kj_harness.h"
#include "kj_id.h"
#include "kj_redis.h"
#include "kj_registry.h"
#include "kj_store.h"
#include "kj_sum.h"
#include "kj_testredis.h"
#include "kj_util.h"

#define NOW 1800000000000LL

static uint64_t g_rng = 7;

/* ------------------------------------------------------------------ */
/* store_sum */

static kj_testredis_t g_srv;
static kj_redis_t *g_r;
static kj_store_t *g_s;

static void
store_up(void)
{
    cr_assert(eq(int, kj_testredis_start(&g_srv, false), 0));
    char err[128];
    g_r = kj_redis_new(g_srv.url, 2000, err, sizeof err);
    cr_assert(ne(ptr, g_r, NULL), "%s", err);
    const kj_store_opts_t o = {.prefix = "fs",
                               .lease_ms = 10000,
                               .max_attempts = 3,
                               .stream_maxlen = 100,
                               .retention_s = 0,
                               .idem_ttl_s = 3600};
    g_s = kj_store_new(g_r, &o);
    cr_assert(ne(ptr, g_s, NULL));
}

static void
store_down(void)
{
    kj_store_destroy(&g_s);
    kj_redis_destroy(&g_r);
    kj_testredis_stop(&g_srv);
}

/* Encoded envelope bytes for id with text. */
static size_t
encode(const char *id, const char *text, uint8_t *out, size_t size)
{
    kj_codec_t *codec = kj_codec_new();
    kj_envelope_t *env = calloc(1, sizeof *env);
    kj_strlcpy(env->complaint.id, id, sizeof env->complaint.id);
    strcpy(env->complaint.tenant, "default");
    strcpy(env->complaint.channel, "email");
    kj_strlcpy(env->complaint.text, text, sizeof env->complaint.text);
    const uint8_t *b;
    int n = kj_envelope_encode(codec, env, &b);
    cr_assert(gt(int, n, 0));
    cr_assert(le(sz, (size_t)n, size));
    memcpy(out, b, (size_t)n);
    free(env);
    kj_codec_destroy(&codec);
    return (size_t)n;
}

/* One field of id's record hash as a malloc'ed copy (*len its size), or
 * NULL when absent. */
static char *
field(const char *id, const char *name, size_t *len)
{
    char key[256], what[64];
    snprintf(what, sizeof what, "c:%s", id);
    kj_store_key(g_s, key, sizeof key, kj_id_partition(id), what);
    redisReply *rep = kj_redis_command(g_r, "HGET %s %s", key, name);
    cr_assert(ne(ptr, rep, NULL));
    char *v = NULL;
    if (rep->type == REDIS_REPLY_STRING) {
        v = malloc(rep->len + 1);
        memcpy(v, rep->str, rep->len);
        v[rep->len] = '\0';
        if (len)
            *len = rep->len;
    }
    freeReplyObject(rep);
    return v;
}

/* The stored sum equals kj_sum of bytes[len]. */
static void
assert_sum(const char *id, const uint8_t *bytes, size_t len)
{
    uint8_t want[KJ_SUM_LEN];
    kj_sum(bytes, len, want);
    size_t n = 0;
    char *got = field(id, "sum", &n);
    cr_assert(ne(ptr, got, NULL), "record %s has no sum", id);
    cr_assert(eq(sz, n, (size_t)KJ_SUM_LEN));
    cr_assert(kj_sum_equal((const uint8_t *)got, want));
    free(got);
}

static void
create(const char *id, const uint8_t *env, size_t len)
{
    kj_store_create_t c = {.id = id, .env = env, .env_len = len};
    cr_assert(eq(int, kj_store_create(g_s, &c, 1, NOW), 0));
    cr_assert(eq(int, c.result, 1));
}

TestSuite(store_sum, .init = store_up, .fini = store_down, .timeout = 60);

Test(store_sum, every_write_of_an_envelope_keeps_its_sum)
{
    char id[KJ_ID_LEN + 1];
    kj_id_new(id, NOW, -1, &g_rng);
    uint8_t a[512], b[512], c[512];
    size_t la = encode(id, "first", a, sizeof a);
    size_t lb = encode(id, "second", b, sizeof b);
    size_t lc = encode(id, "third", c, sizeof c);
    create(id, a, la);
    assert_sum(id, a, la);

    uint8_t sa[KJ_SUM_LEN], sb[KJ_SUM_LEN];
    kj_sum(a, la, sa);
    kj_sum(b, lb, sb);
    kj_store_transition_t t = {.id = id,
                               .from = "received",
                               .to = "classified",
                               .env = b,
                               .env_len = lb,
                               .due_ms = NOW + 10000,
                               .want_sum = sa};
    cr_assert(eq(int, kj_store_transition(g_s, &t, 1, NOW + 1), 0));
    cr_assert(eq(int, t.result, 1));
    assert_sum(id, b, lb);

    kj_store_retry_t r = {.id = id,
                          .state = "classified",
                          .next_ms = NOW + 5000,
                          .error = "retry: test",
                          .env = c,
                          .env_len = lc,
                          .want_sum = sb};
    cr_assert(eq(int, kj_store_retry(g_s, &r, 1, NOW + 2), 0));
    cr_assert(eq(int, r.result, 1));
    assert_sum(id, c, lc);

    /* A write that keeps the envelope keeps its sum too. */
    uint8_t sc[KJ_SUM_LEN];
    kj_sum(c, lc, sc);
    kj_store_transition_t keep = {.id = id,
                                  .from = "classified",
                                  .to = "dead",
                                  .reason = "dead: test",
                                  .want_sum = sc};
    cr_assert(eq(int, kj_store_transition(g_s, &keep, 1, NOW + 3), 0));
    cr_assert(eq(int, keep.result, 1));
    assert_sum(id, c, lc);
}

Test(store_sum, a_write_for_another_envelope_changes_nothing)
{
    char id[KJ_ID_LEN + 1];
    kj_id_new(id, NOW, -1, &g_rng);
    uint8_t real[512], forged[512];
    size_t lr = encode(id, "the real complaint", real, sizeof real);
    size_t lf = encode(id, "a forged complaint", forged, sizeof forged);
    create(id, real, lr);
    uint8_t sf[KJ_SUM_LEN];
    kj_sum(forged, lf, sf);

    /* A transition and a retry carrying the forged envelope's sum. */
    kj_store_transition_t t = {.id = id,
                               .from = "received",
                               .to = "classified",
                               .env = forged,
                               .env_len = lf,
                               .due_ms = NOW + 10000,
                               .want_sum = sf};
    cr_assert(eq(int, kj_store_transition(g_s, &t, 1, NOW + 1), 0),
              "a forged item is no Redis failure");
    cr_assert(eq(int, t.result, KJ_STORE_FORGED));
    kj_store_retry_t r = {.id = id,
                          .state = "received",
                          .next_ms = NOW + 5000,
                          .error = "retry: forged",
                          .env = forged,
                          .env_len = lf,
                          .want_sum = sf};
    cr_assert(eq(int, kj_store_retry(g_s, &r, 1, NOW + 1), 0));
    cr_assert(eq(int, r.result, KJ_STORE_FORGED));

    kj_store_record_t rec;
    cr_assert(eq(int, kj_store_get(g_s, id, &rec), 1));
    cr_assert(eq(str, rec.state, "received"));
    cr_assert(eq(sz, rec.env_len, lr));
    cr_assert(zero(int, memcmp(rec.env, real, lr)));
    cr_assert(eq(str, rec.last_error, ""));
    cr_assert(eq(i64, rec.updated_ms, NOW));
    free(rec.env);
    assert_sum(id, real, lr);

    /* A stale state still answers stale, before any sum is looked at. */
    kj_store_transition_t st = {
        .id = id, .from = "routed", .to = "delivered", .want_sum = sf};
    cr_assert(eq(int, kj_store_transition(g_s, &st, 1, NOW + 1), 0));
    cr_assert(eq(int, st.result, 0));
}

Test(store_sum, verify_tells_match_stale_and_forged)
{
    char id[KJ_ID_LEN + 1], other[KJ_ID_LEN + 1];
    kj_id_new(id, NOW, -1, &g_rng);
    kj_id_new(other, NOW, -1, &g_rng);
    uint8_t real[512], forged[512];
    size_t lr = encode(id, "the real complaint", real, sizeof real);
    size_t lf = encode(id, "a forged complaint", forged, sizeof forged);
    create(id, real, lr);
    uint8_t sr[KJ_SUM_LEN], sf[KJ_SUM_LEN];
    kj_sum(real, lr, sr);
    kj_sum(forged, lf, sf);
    kj_store_verify_t v[] = {
        {.id = id, .state = "received", .sum = sr},
        {.id = id, .state = "routed", .sum = sr},
        {.id = id, .state = "received", .sum = sf},
        {.id = other, .state = "received", .sum = sr},
        {.id = "not-an-id", .state = "received", .sum = sr},
    };
    cr_assert(eq(int, kj_store_verify(g_s, v, 5), 0));
    cr_assert(eq(int, v[0].result, 1));
    cr_assert(eq(int, v[1].result, 0));
    cr_assert(eq(int, v[2].result, KJ_STORE_FORGED));
    cr_assert(eq(int, v[3].result, KJ_STORE_FORGED));
    cr_assert(eq(int, v[4].result, KJ_STORE_FORGED));
}

/* Records written before sums existed keep moving after an upgrade. */
Test(store_sum, a_record_without_a_sum_is_not_stuck)
{
    char id[KJ_ID_LEN + 1];
    kj_id_new(id, NOW, -1, &g_rng);
    uint8_t real[512], next[512];
    size_t lr = encode(id, "old record", real, sizeof real);
    size_t ln = encode(id, "classified", next, sizeof next);
    create(id, real, lr);
    char key[256], what[64];
    snprintf(what, sizeof what, "c:%s", id);
    kj_store_key(g_s, key, sizeof key, kj_id_partition(id), what);
    redisReply *rep = kj_redis_command(g_r, "HDEL %s sum", key);
    cr_assert(ne(ptr, rep, NULL));
    freeReplyObject(rep);

    uint8_t sr[KJ_SUM_LEN];
    kj_sum(real, lr, sr);
    kj_store_verify_t v = {.id = id, .state = "received", .sum = sr};
    cr_assert(eq(int, kj_store_verify(g_s, &v, 1), 0));
    cr_assert(eq(int, v.result, 1));
    kj_store_transition_t t = {.id = id,
                               .from = "received",
                               .to = "classified",
                               .env = next,
                               .env_len = ln,
                               .due_ms = NOW + 10000,
                               .want_sum = sr};
    cr_assert(eq(int, kj_store_transition(g_s, &t, 1, NOW + 1), 0));
    cr_assert(eq(int, t.result, 1));
    assert_sum(id, next, ln);
}

/* ------------------------------------------------------------------ */
/* forgery: the real pipeline */

static kj_pipeline_t *PL;
static kj_sink_t *ATTACKER; /* where forged envelopes point */
static kj_sink_t *TECHOPS;  /* tech-ops's own webhook, from the rules */
static char RULES[128];
static int TECHOPS_PORT;
static kj_redis_t *PR; /* the test's connection to the pipeline's redis */
static kj_store_t *PS;

/* deploy/rules.json with a webhook of its own for team tech-ops. */
static void
write_rules(void)
{
    json_error_t jerr;
    json_t *rules =
        json_load_file(KJ_SOURCE_DIR "/deploy/rules.json", 0, &jerr);
    cr_assert_not_null(rules, "%s", jerr.text);
    json_t *teams = json_object_get(rules, "teams");
    size_t i;
    json_t *team;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/tech-ops", TECHOPS_PORT);
    bool found = false;
    json_array_foreach(teams, i, team)
    {
        if (strcmp(json_string_value(json_object_get(team, "name")),
                   "tech-ops") == 0) {
            json_object_set_new(team, "webhook", json_string(url));
            found = true;
        }
    }
    cr_assert(found);
    snprintf(RULES, sizeof RULES, "/tmp/kj-it-forgery-%d.rules.json",
             (int)getpid());
    cr_assert(eq(int, json_dump_file(rules, RULES, 0), 0));
    json_decref(rules);
}

/* The pipeline with the rules above for every stage; notifier_copies as
 * kj_pipeline_opts_t takes them (-1: none yet). */
static void
pipeline_up(int notifier_copies)
{
    TECHOPS_PORT = kj_test_free_port();
    cr_assert(gt(int, TECHOPS_PORT, 0));
    write_rules();
    static char rules_env[160];
    snprintf(rules_env, sizeof rules_env, "KUJO_RULES=%s", RULES);
    const char *env[] = {rules_env, NULL};
    kj_pipeline_opts_t o = {.env = env, .lease_ms = 5000};
    o.copies[KJ_SVC_NOTIFIER] = notifier_copies;
    o.copies[KJ_SVC_ANALYTICS] = -1;
    PL = kj_pipeline_new(&o);
    cr_assert_not_null(PL);
    TECHOPS = kj_sink_new("127.0.0.1", TECHOPS_PORT, kj_pipeline_secret(PL));
    cr_assert_not_null(TECHOPS);
    ATTACKER = kj_sink_new("127.0.0.1", 0, NULL);
    cr_assert_not_null(ATTACKER);
    char err[128];
    PR = kj_redis_new(kj_pipeline_redis(PL)->url, 2000, err, sizeof err);
    cr_assert_not_null(PR, "%s", err);
    const kj_store_opts_t so = {
        .prefix = kj_pipeline_prefix(PL), .lease_ms = 5000, .max_attempts = 5};
    PS = kj_store_new(PR, &so);
    cr_assert_not_null(PS);
}

static void
pipeline_down(void)
{
    kj_store_destroy(&PS);
    kj_redis_destroy(&PR);
    kj_sink_destroy(&ATTACKER);
    kj_sink_destroy(&TECHOPS);
    kj_pipeline_destroy(&PL);
    if (RULES[0])
        unlink(RULES);
}

/* Push bytes with a raw ZeroMQ PUSH to the notifier's registered PULL. */
static void
raw_push(const uint8_t *bytes, size_t len)
{
    char **list = NULL;
    int n = kj_registry_list(PR, kj_pipeline_prefix(PL), "notifier",
                             kj_now_ms(), &list);
    cr_assert(gt(int, n, 0), "no notifier registered");
    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_PUSH);
    int linger = 2000;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    cr_assert(eq(int, zmq_connect(sock, list[0]), 0));
    cr_assert(eq(int, (int)zmq_send(sock, bytes, len, 0), (int)len));
    zmq_close(sock);
    zmq_ctx_term(ctx);
    kj_registry_free(list);
}

static double
forged_count(void)
{
    double v = 0;
    if (kj_pipeline_metric(PL, KJ_SVC_NOTIFIER, 0,
                           "kujo_envelopes_failed_total", "reason=\"forged\"",
                           &v) != 0)
        return 0;
    return v;
}

/* Wait until the notifier has refused at least want forged envelopes. */
static void
wait_forged(double want)
{
    int64_t deadline = kj_mono_ms() + 5000;
    while (forged_count() < want && kj_mono_ms() < deadline)
        kj_test_sleep_ms(50);
    KJ_PL_ASSERT(PL, forged_count() >= want, "forged count %g, wanted %g",
                 forged_count(), want);
}

/* An envelope like env, rewritten the way the attacker did: other text,
 * customer, team and received_at, and a webhook of the attacker's. */
static size_t
forge(const kj_envelope_t *real, const char *id, uint8_t **out)
{
    kj_envelope_t *f = malloc(sizeof *f);
    memcpy(f, real, sizeof *f);
    kj_strlcpy(f->complaint.id, id, sizeof f->complaint.id);
    strcpy(f->complaint.text, "FORGED text: wire the refund to me");
    strcpy(f->triage.masked_text, "FORGED text: wire the refund to me");
    strcpy(f->complaint.customer.id, "mallory");
    f->complaint.received_at_ms = 1000;
    f->has_assignment = true;
    strcpy(f->assignment.team, "billing");
    kj_sink_url(ATTACKER, f->assignment.webhook_url,
                sizeof f->assignment.webhook_url);
    kj_codec_t *codec = kj_codec_new();
    const uint8_t *b;
    int n = kj_envelope_encode(codec, f, &b);
    cr_assert(gt(int, n, 0));
    *out = malloc((size_t)n);
    memcpy(*out, b, (size_t)n);
    kj_codec_destroy(&codec);
    free(f);
    return (size_t)n;
}

static unsigned
alerts_for(kj_sink_t *sink, const char *id)
{
    char key[64];
    snprintf(key, sizeof key, "%s:team_alert", id);
    return kj_sink_key_signed(sink, key);
}

TestSuite(forgery, .fini = pipeline_down, .timeout = 120);

Test(forgery, a_forged_envelope_for_a_real_record_changes_nothing)
{
    /* No notifier yet: the record waits in routed, due after the lease. */
    pipeline_up(-1);
    char *body = kj_test_complaint("email", "cust-1", "gold",
                                   "my parcel never arrived", NULL);
    char id[32];
    KJ_PL_ASSERT(PL, kj_pipeline_post(PL, body, "forgery-1", id) == 202,
                 "post");
    free(body);
    json_t *routed = kj_pipeline_wait_state(PL, id, "routed", 10000);
    KJ_PL_ASSERT(PL, routed != NULL, "not routed");
    json_decref(routed);
    kj_store_record_t before;
    cr_assert(eq(int, kj_store_get(PS, id, &before), 1));
    kj_envelope_t *real = malloc(sizeof *real);
    kj_codec_t *codec = kj_codec_new();
    cr_assert(eq(
        int, kj_envelope_decode(codec, before.env, before.env_len, real), 0));
    kj_codec_destroy(&codec);

    /* The router would make the record due at once when a notifier
     * appears (kj_downstream); stopped, it leaves the record to the lease,
     * so the forged push surely comes first. */
    kj_proc_t *router = kj_pipeline_proc(PL, KJ_SVC_ROUTER, 0);
    cr_assert(eq(int, kj_proc_signal(router, SIGSTOP), 0));
    cr_assert(ge(int, kj_pipeline_start_copy(PL, KJ_SVC_NOTIFIER), 0));
    KJ_PL_ASSERT(PL,
                 kj_pipeline_wait_ready(PL, KJ_SVC_NOTIFIER, 0, 10000) == 0 &&
                     kj_pipeline_wait_registered(PL, "notifier", 1, 10000) > 0,
                 "notifier did not start");
    uint8_t *forged;
    size_t len = forge(real, id, &forged);
    raw_push(forged, len);
    free(forged);
    wait_forged(1);

    /* The record is as the router left it, and nothing was sent. */
    kj_store_record_t after;
    cr_assert(eq(int, kj_store_get(PS, id, &after), 1));
    cr_assert(eq(str, after.state, "routed"));
    cr_assert(eq(sz, after.env_len, before.env_len));
    cr_assert(zero(int, memcmp(after.env, before.env, before.env_len)));
    cr_assert(eq(i64, after.updated_ms, before.updated_ms));
    free(after.env);
    kj_sink_stats_t st;
    kj_sink_stats(ATTACKER, &st);
    cr_assert(eq(u64, st.requests, 0));
    cr_assert(eq(u32, alerts_for(kj_pipeline_sink(PL), id), 0));

    /* The real alert still reaches the real team. */
    cr_assert(eq(int, kj_proc_signal(router, SIGCONT), 0));
    json_t *done = kj_pipeline_wait_state(PL, id, "delivered", 15000);
    KJ_PL_ASSERT(PL, done != NULL, "not delivered");
    json_decref(done);
    cr_assert(eq(u32, alerts_for(kj_pipeline_sink(PL), id), 1));
    char key[64];
    snprintf(key, sizeof key, "%s:team_alert", id);
    json_t *alert = kj_sink_key_body(kj_pipeline_sink(PL), key);
    cr_assert_not_null(alert);
    cr_assert(eq(str, (char *)json_string_value(json_object_get(alert, "team")),
                 real->assignment.team));
    cr_assert(eq(str,
                 (char *)json_string_value(
                     json_object_get(json_object_get(alert, "customer"), "id")),
                 "cust-1"));
    json_decref(alert);
    kj_sink_stats(ATTACKER, &st);
    cr_assert(eq(u64, st.requests, 0));
    free(before.env);
    free(real);
}

Test(forgery, a_made_up_id_sends_and_writes_nothing)
{
    pipeline_up(0);
    /* A real delivered complaint, whose envelope the attacker reuses. */
    char *body = kj_test_complaint("email", "cust-2", NULL,
                                   "my parcel never arrived", NULL);
    char id[32];
    KJ_PL_ASSERT(PL, kj_pipeline_post(PL, body, "forgery-2", id) == 202,
                 "post");
    free(body);
    json_t *done = kj_pipeline_wait_state(PL, id, "delivered", 10000);
    KJ_PL_ASSERT(PL, done != NULL, "not delivered");
    json_decref(done);
    kj_store_record_t rec;
    cr_assert(eq(int, kj_store_get(PS, id, &rec), 1));
    kj_envelope_t *real = malloc(sizeof *real);
    kj_codec_t *codec = kj_codec_new();
    cr_assert(
        eq(int, kj_envelope_decode(codec, rec.env, rec.env_len, real), 0));
    kj_codec_destroy(&codec);
    free(rec.env);
    kj_sink_stats_t before;
    kj_sink_stats(kj_pipeline_sink(PL), &before);

    char fake[KJ_ID_LEN + 1];
    kj_id_new(fake, kj_now_ms(), -1, &g_rng);
    uint8_t *forged;
    size_t len = forge(real, fake, &forged);
    /* The state is delivered in the reused envelope's history; the
     * record named does not exist at all. */
    raw_push(forged, len);
    free(forged);
    wait_forged(1);

    kj_test_sleep_ms(300);
    kj_sink_stats_t st;
    kj_sink_stats(ATTACKER, &st);
    cr_assert(eq(u64, st.requests, 0));
    kj_sink_stats(kj_pipeline_sink(PL), &st);
    cr_assert(eq(u64, st.requests, before.requests));
    kj_sink_stats(TECHOPS, &st);
    cr_assert(eq(u64, st.requests, 0));
    kj_store_record_t none;
    cr_assert(eq(int, kj_store_get(PS, fake, &none), 0));
    free(real);
}

Test(forgery, a_teams_own_webhook_from_the_rules_gets_its_alerts)
{
    pipeline_up(0);
    /* Outage -> route "outage" -> team tech-ops, whose webhook the rules
     * name; every other team uses KUJO_WEBHOOK_URL. */
    char *body = kj_test_complaint(
        "email", "cust-3", NULL, "the app is down, error 503 everywhere", NULL);
    char id[32];
    KJ_PL_ASSERT(PL, kj_pipeline_post(PL, body, "forgery-3", id) == 202,
                 "post");
    free(body);
    json_t *done = kj_pipeline_wait_state(PL, id, "delivered", 10000);
    KJ_PL_ASSERT(PL, done != NULL, "not delivered");
    json_decref(done);
    KJ_PL_ASSERT(PL, alerts_for(TECHOPS, id) == 1, "tech-ops got %u",
                 alerts_for(TECHOPS, id));
    cr_assert(eq(u32, alerts_for(kj_pipeline_sink(PL), id), 0));
    cr_assert(eq(dbl, forged_count(), 0.0));
}
