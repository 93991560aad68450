/* SLA attainment, end to end: the real pipeline and analytics count each
 * complaint's first-response verdict once (met: the team alert delivered
 * by due_at; breached: delivered later, or dead-lettered) and show it in
 * /v1/stats and in /metrics, the same on every analytics copy and across
 * restarts. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "kj_envelope.h"
#include "kj_harness.h"
#include "kj_id.h"
#include "kj_redis.h"
#include "kj_sink.h"
#include "kj_store.h"
#include "kj_util.h"

static kj_pipeline_t *s_pl;
static kj_sink_t *s_dead_sink; /* care-dead's webhook: down, then back */
static char s_rules[128];

static void
s_teardown(void)
{
    kj_pipeline_destroy(&s_pl);
    kj_sink_destroy(&s_dead_sink);
    if (s_rules[0])
        unlink(s_rules);
    s_rules[0] = '\0';
}

TestSuite(sla, .fini = s_teardown, .timeout = 180);

/* The shipped rules plus team care-dead (webhook: url) and a first route
 * sending every sms complaint there at p4. */
static void
s_write_rules(const char *url)
{
    json_error_t jerr;
    json_t *r = json_load_file(KJ_SOURCE_DIR "/deploy/rules.json", 0, &jerr);
    cr_assert(r != NULL, "%s", jerr.text);
    json_array_append_new(
        json_object_get(r, "teams"),
        json_pack("{s:s, s:s}", "name", "care-dead", "webhook", url));
    json_array_insert_new(json_object_get(r, "routes"), 0,
                          json_pack("{s:s, s:{s:[s]}, s:s, s:s, s:s}", "name",
                                    "sms", "when", "channel", "sms", "team",
                                    "care-dead", "priority", "p4", "sla",
                                    "low"));
    snprintf(s_rules, sizeof s_rules, "/tmp/kj-it-sla-rules-%d.json",
             (int)getpid());
    cr_assert(eq(int, json_dump_file(r, s_rules, JSON_INDENT(1)), 0));
    json_decref(r);
}

static void
s_post(const char *channel, const char *text, const char *key, char id[32])
{
    char *body = kj_test_complaint(channel, "c-sla", NULL, text, NULL);
    int status = kj_pipeline_post(s_pl, body, key, id);
    free(body);
    KJ_PL_ASSERT(s_pl, status == 202, "POST %s answered %d", key, status);
}

/* A complaint ingest accepted two days ago that is only now on its way,
 * as after a long stop of the pipeline: written as ingest would, state
 * received and due at once. The router's clock starts at accepted_at, so
 * whatever route it takes (24 h at most in these rules), the alert will
 * be late. */
static void
s_put_backlogged(char id[32])
{
    char err[256];
    kj_redis_t *r =
        kj_redis_new(kj_pipeline_redis(s_pl)->url, 2000, err, sizeof err);
    cr_assert(r != NULL, "%s", err);
    const kj_store_opts_t so = {.prefix = kj_pipeline_prefix(s_pl),
                                .lease_ms = 100,
                                .max_attempts = 5,
                                .stream_maxlen = 100000,
                                .retention_s = 0,
                                .idem_ttl_s = 3600};
    kj_store_t *store = kj_store_new(r, &so);
    cr_assert(store != NULL);
    kj_codec_t *codec = kj_codec_new();
    kj_envelope_t *env = calloc(1, sizeof *env);
    int64_t now = kj_now_ms();
    int64_t then = now - 48LL * 3600 * 1000;
    uint64_t rng = kj_seed();
    kj_id_new(env->complaint.id, now, -1, &rng);
    kj_trace_id_new(env->trace_id, &rng);
    env->attempt = 1;
    strcpy(env->complaint.tenant, "default");
    strcpy(env->complaint.channel, "web");
    strcpy(env->complaint.customer.id, "c-sla");
    strcpy(env->complaint.text,
           "I was charged twice for the same order, please refund me.");
    env->complaint.received_at_ms = then;
    env->complaint.accepted_at_ms = then;
    kj_envelope_stamp(env, "ingest", then, then);

    const uint8_t *bytes;
    int len = kj_envelope_encode(codec, env, &bytes);
    cr_assert(gt(int, len, 0));
    uint8_t *env_bytes = malloc((size_t)len);
    memcpy(env_bytes, bytes, (size_t)len);
    kj_event_t ev;
    const uint8_t *evb;
    kj_event_from_envelope(&ev, env, "received", "ingest", now);
    int evlen = kj_event_encode(codec, &ev, &evb);
    cr_assert(gt(int, evlen, 0));
    kj_store_create_t c = {.id = env->complaint.id,
                           .env = env_bytes,
                           .env_len = (size_t)len,
                           .event = evb,
                           .event_len = (size_t)evlen};
    cr_assert(eq(int, kj_store_create(store, &c, 1, now), 0));
    cr_assert(eq(int, c.result, 1));
    snprintf(id, 32, "%s", env->complaint.id);
    free(env_bytes);
    free(env);
    kj_codec_destroy(&codec);
    kj_store_destroy(&store);
    kj_redis_destroy(&r);
}

static json_t *
s_sla_stats(void)
{
    json_t *st = kj_pipeline_stats(s_pl);
    if (!st)
        return NULL;
    json_t *sla = json_incref(json_object_get(st, "sla"));
    json_decref(st);
    return sla;
}

static long long
s_num(const json_t *o, const char *a, const char *b, const char *c)
{
    const json_t *v = json_object_get(o, a);
    if (b)
        v = json_object_get(v, b);
    if (c)
        v = json_object_get(v, c);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* Poll /v1/stats until sla.breached and sla.met are as wanted. */
static json_t *
s_wait_sla(long long breached, long long met, int timeout_ms)
{
    int64_t deadline = kj_mono_ms() + timeout_ms;
    json_t *sla = NULL;
    for (;;) {
        json_decref(sla);
        sla = s_sla_stats();
        if (sla && s_num(sla, "breached", NULL, NULL) == breached &&
            s_num(sla, "met", NULL, NULL) == met)
            return sla;
        if (kj_mono_ms() > deadline)
            break;
        kj_test_sleep_ms(100);
    }
    char *dump = sla ? json_dumps(sla, 0) : NULL;
    fprintf(stderr, "sla %s, wanted breached %lld met %lld\n",
            dump ? dump : "(none)", breached, met);
    free(dump);
    json_decref(sla);
    return NULL;
}

/* A metric of analytics copy `copy`, -1 if absent. */
static double
s_metric(int copy, const char *name, const char *labels)
{
    double v = -1;
    if (kj_pipeline_metric(s_pl, KJ_SVC_ANALYTICS, copy, name, labels, &v) != 0)
        return -1;
    return v;
}

/* The metric once it reads want (the counters follow Redis each second). */
static bool
s_wait_metric(int copy, const char *name, const char *labels, double want)
{
    int64_t deadline = kj_mono_ms() + 5000;
    double v = -1;
    while (kj_mono_ms() < deadline) {
        v = s_metric(copy, name, labels);
        if (v == want)
            return true;
        kj_test_sleep_ms(100);
    }
    fprintf(stderr, "analytics-%d %s{%s} = %g, wanted %g\n", copy, name,
            labels ? labels : "", v, want);
    return false;
}

Test(sla, late_and_dead_are_breached_on_time_is_met)
{
    s_dead_sink = kj_sink_new("127.0.0.1", 0, NULL);
    cr_assert(s_dead_sink != NULL);
    char dead_url[128];
    kj_sink_url(s_dead_sink, dead_url, sizeof dead_url);
    cr_assert(eq(int, kj_sink_stop(s_dead_sink), 0));
    s_write_rules(dead_url);
    char rules_env[160];
    snprintf(rules_env, sizeof rules_env, "KUJO_RULES=%s", s_rules);
    const char *env[] = {rules_env, NULL};
    kj_pipeline_opts_t o = {.max_attempts = 2,
                            .retry_base_ms = 50,
                            .retry_cap_ms = 100,
                            .env = env};
    s_pl = kj_pipeline_new(&o);
    cr_assert(s_pl != NULL, "the pipeline did not start");

    /* Every team x priority the rules route to has its series at 0. */
    KJ_PL_ASSERT(s_pl,
                 s_metric(0, "kujo_sla_breaches_total",
                          "team=\"care-dead\",priority=\"p4\"") == 0.0,
                 "no care-dead series at start");
    KJ_PL_ASSERT(s_pl,
                 s_metric(0, "kujo_sla_met_total",
                          "team=\"care-ja\",priority=\"p3\"") == 0.0,
                 "no care-ja series at start");

    /* Three on time (first reply due in 15 min at least). */
    static const char *const texts[] = {
        "My parcel is a week late and tracking has not moved.",
        "The app logs me out every time I open my order history.",
        "アプリに朝からログインできません。至急対応してください。",
    };
    char ok[3][32];
    for (int i = 0; i < 3; i++) {
        char key[16];
        snprintf(key, sizeof key, "sla-ok-%d", i);
        s_post(i == 2 ? "chat" : "web", texts[i], key, ok[i]);
    }
    int delivered = kj_pipeline_wait_all(s_pl, ok, 3, "delivered", 20000);
    KJ_PL_ASSERT(s_pl, delivered == 3, "%d of 3 delivered", delivered);
    json_t *sla = s_wait_sla(0, 3, 10000);
    KJ_PL_ASSERT(s_pl, sla != NULL, "the on-time ones were not counted met");
    json_decref(sla);

    /* One alerted late: accepted two days ago. */
    char late[32];
    s_put_backlogged(late);
    json_t *rec = kj_pipeline_wait_state(s_pl, late, "delivered", 20000);
    KJ_PL_ASSERT(s_pl, rec != NULL, "the backlogged one was not delivered");
    const json_t *as = json_object_get(rec, "assignment");
    char late_team[64], late_prio[8];
    snprintf(late_team, sizeof late_team, "%s",
             json_string_value(json_object_get(as, "team")));
    snprintf(late_prio, sizeof late_prio, "%s",
             json_string_value(json_object_get(as, "priority")));
    json_decref(rec);

    /* One dead: its team's webhook is down and two attempts are all it
     * gets. Breached at once, although its due_at is a day ahead. */
    char dead[1][32];
    s_post("sms", "Your courier left my parcel in the rain again.", "sla-dead",
           dead[0]);
    rec = kj_pipeline_wait_state(s_pl, dead[0], "dead", 20000);
    KJ_PL_ASSERT(s_pl, rec != NULL, "the sms complaint did not go dead");
    cr_assert(eq(str,
                 (char *)json_string_value(json_object_get(
                     json_object_get(rec, "assignment"), "team")),
                 "care-dead"));
    json_decref(rec);

    sla = s_wait_sla(2, 3, 10000);
    KJ_PL_ASSERT(s_pl, sla != NULL, "late and dead not counted breached");
    cr_assert(eq(i64, s_num(sla, "by_team", "care-dead", "breached"), 1));
    cr_assert(eq(i64, s_num(sla, "by_team", "care-dead", "met"), 0));
    cr_assert(ge(i64, s_num(sla, "by_team", late_team, "breached"), 1),
              "team %s", late_team);
    cr_assert(eq(i64, s_num(sla, "by_priority", "p4", "breached"), 1));
    json_decref(sla);

    char labels[128];
    KJ_PL_ASSERT(s_pl,
                 s_wait_metric(0, "kujo_sla_breaches_total",
                               "team=\"care-dead\",priority=\"p4\"", 1.0),
                 "metric for the dead one");
    snprintf(labels, sizeof labels, "team=\"%s\",priority=\"%s\"", late_team,
             late_prio);
    KJ_PL_ASSERT(s_pl, s_metric(0, "kujo_sla_breaches_total", labels) >= 1.0,
                 "metric for the late one (%s)", labels);
    KJ_PL_ASSERT(s_pl, s_wait_metric(0, "kujo_sla_breaches_total", NULL, 2.0),
                 "breaches total");
    KJ_PL_ASSERT(s_pl, s_wait_metric(0, "kujo_sla_met_total", NULL, 3.0),
                 "met total");

    /* Replayed after the webhook is fixed and delivered well before its
     * due_at: its verdict stays the first one (one per complaint). */
    cr_assert(eq(int, kj_sink_start(s_dead_sink), 0));
    kj_client_t *client = kj_client_new(5000);
    char url[160];
    snprintf(url, sizeof url, "%s/v1/complaints/%s/replay",
             kj_pipeline_url(s_pl, KJ_SVC_INGEST, 0), dead[0]);
    kj_resp_t r;
    cr_assert(eq(int, kj_client_post_json(client, url, "{}", NULL, &r), 0));
    cr_assert(eq(long, r.status, 202), "replay answered %ld", r.status);
    kj_resp_free(&r);
    kj_client_destroy(&client);
    rec = kj_pipeline_wait_state(s_pl, dead[0], "delivered", 20000);
    KJ_PL_ASSERT(s_pl, rec != NULL, "the replay was not delivered");
    json_decref(rec);
    json_t *st = NULL;
    int64_t deadline = kj_mono_ms() + 10000;
    while (kj_mono_ms() < deadline) {
        json_decref(st);
        st = kj_pipeline_stats(s_pl);
        if (st && s_num(st, "by_state", "delivered", NULL) == 5)
            break;
        kj_test_sleep_ms(100);
    }
    KJ_PL_ASSERT(s_pl, s_num(st, "by_state", "delivered", NULL) == 5,
                 "the replay's delivered event was not counted");
    cr_assert(eq(i64, s_num(st, "sla", "breached", NULL), 2));
    cr_assert(eq(i64, s_num(st, "sla", "met", NULL), 3));
    json_decref(st);

    /* A second copy and a restarted one show the same totals at once:
     * they come from Redis, not from what each process counted. */
    int copy = kj_pipeline_start_copy(s_pl, KJ_SVC_ANALYTICS);
    cr_assert(ge(int, copy, 1));
    cr_assert(eq(
        int, kj_pipeline_wait_ready(s_pl, KJ_SVC_ANALYTICS, copy, 10000), 0));
    KJ_PL_ASSERT(s_pl, s_metric(copy, "kujo_sla_breaches_total", NULL) == 2.0,
                 "second copy breaches %g",
                 s_metric(copy, "kujo_sla_breaches_total", NULL));
    KJ_PL_ASSERT(s_pl, s_metric(copy, "kujo_sla_met_total", NULL) == 3.0,
                 "second copy met");
    kj_pipeline_stop(s_pl, KJ_SVC_ANALYTICS, 0, 10000);
    cr_assert(eq(int, kj_pipeline_restart(s_pl, KJ_SVC_ANALYTICS, 0), 0));
    cr_assert(
        eq(int, kj_pipeline_wait_ready(s_pl, KJ_SVC_ANALYTICS, 0, 10000), 0));
    KJ_PL_ASSERT(s_pl, s_metric(0, "kujo_sla_breaches_total", NULL) == 2.0,
                 "restarted copy breaches %g",
                 s_metric(0, "kujo_sla_breaches_total", NULL));
    KJ_PL_ASSERT(s_pl, s_metric(0, "kujo_sla_met_total", NULL) == 3.0,
                 "restarted copy met");
}
