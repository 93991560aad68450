/* Deliveries against a receiver that misbehaves, on the real binaries and
 * the real sink (issue 18): down for 60 s then up, failing every other
 * request, answering in 10 s. Each time every team alert and every outbox
 * job gets there, a key is never answered 2xx twice (a repeat is only a
 * retry of the same key), and a case's customer deliveries arrive in the
 * order they were owed. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kj_harness.h"
#include "kj_outbox.h"
#include "kj_redis.h"
#include "kj_sink.h"
#include "kj_util.h"

#define S_ARRIVALS_MAX 4096

/* One request the sink saw. */
typedef struct {
    char key[96];
    char kind[32];
    char case_id[32];
    unsigned status;
    int64_t at_ms; /* monotonic */
} s_arrival_t;

static struct {
    pthread_mutex_t mu;
    s_arrival_t a[S_ARRIVALS_MAX];
    size_t n;
} s_log = {.mu = PTHREAD_MUTEX_INITIALIZER};

static kj_pipeline_t *s_pl;
static kj_redis_t *s_r;
static kj_outbox_t *s_o;

static void
s_on_request(const kj_sink_event_t *ev, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&s_log.mu);
    if (s_log.n < S_ARRIVALS_MAX && ev->key) {
        s_arrival_t *a = &s_log.a[s_log.n++];
        snprintf(a->key, sizeof a->key, "%s", ev->key);
        const char *kind = json_string_value(json_object_get(ev->body, "kind"));
        const char *cid =
            json_string_value(json_object_get(ev->body, "case_id"));
        snprintf(a->kind, sizeof a->kind, "%s", kind ? kind : "");
        snprintf(a->case_id, sizeof a->case_id, "%s", cid ? cid : "");
        a->status = ev->status;
        a->at_ms = kj_mono_ms();
    }
    pthread_mutex_unlock(&s_log.mu);
}

static void
s_down(void)
{
    if (s_pl)
        kj_sink_set_callback(kj_pipeline_sink(s_pl), NULL, NULL);
    kj_outbox_destroy(&s_o);
    kj_redis_destroy(&s_r);
    kj_pipeline_destroy(&s_pl);
    s_log.n = 0;
}

TestSuite(delivery_faults, .fini = s_down, .timeout = 240);

/* The pipeline with env, every kind counted by the sink and logged. */
static void
s_up(const char *const *env, int max_attempts, int http_timeout_ms)
{
    kj_pipeline_opts_t o = {.env = env,
                            .max_attempts = max_attempts,
                            .http_timeout_ms = http_timeout_ms};
    s_pl = kj_pipeline_new(&o);
    cr_assert(s_pl != NULL, "the pipeline did not start");
    kj_sink_t *sink = kj_pipeline_sink(s_pl);
    kj_sink_only_kind(sink, NULL);
    kj_sink_set_callback(sink, s_on_request, NULL);
    char err[128];
    s_r = kj_redis_new(kj_pipeline_redis(s_pl)->url, 5000, err, sizeof err);
    cr_assert(s_r != NULL, "%s", err);
    s_o = kj_outbox_new(s_r, kj_pipeline_prefix(s_pl));
}

/* Post n complaints from n customers; their ids into ids. */
static void
s_post(char (*ids)[32], int n, const char *tag)
{
    for (int i = 0; i < n; i++) {
        char cust[32], idem[48];
        snprintf(cust, sizeof cust, "%s-%d", tag, i);
        snprintf(idem, sizeof idem, "%s-%d", tag, i);
        char *body = kj_test_complaint(
            "chat", cust, "standard",
            "I was charged twice for order 5521 and need one refunded.", NULL);
        int status = kj_pipeline_post(s_pl, body, idem, ids[i]);
        free(body);
        KJ_PL_ASSERT(s_pl, status == 202, "POST answered %d", status);
    }
}

/* Owe kind for complaint id in case, due now. */
static void
s_owe(const char *id, const char *case_id, const char *kind)
{
    char job[64], payload[384];
    snprintf(job, sizeof job, "%s:%s:t", id, kind);
    snprintf(payload, sizeof payload,
             "{\"kind\":\"%s\",\"complaint_id\":\"%s\",\"case_id\":\"%s\","
             "\"tenant\":\"default\",\"team\":\"care-en\",\"channel\":\"web\","
             "\"language\":\"en\",\"text\":\"Thank you, case %s.\"}",
             kind, id, case_id, case_id);
    cr_assert(eq(int,
                 kj_outbox_put(s_o, "default", job, kind, id, case_id, payload,
                               kj_now_ms()),
                 1));
}

/* Every logged key was answered 2xx exactly once; returns how many
 * requests were logged. */
static size_t
s_assert_once_each(void)
{
    kj_sink_t *sink = kj_pipeline_sink(s_pl);
    pthread_mutex_lock(&s_log.mu);
    size_t n = s_log.n;
    pthread_mutex_unlock(&s_log.mu);
    for (size_t i = 0; i < n; i++) {
        const char *key = s_log.a[i].key;
        cr_assert(eq(u32, kj_sink_key_ok(sink, key), 1),
                  "%s answered 2xx %u times", key, kj_sink_key_ok(sink, key));
    }
    return n;
}

/* Wait until every key the sink has seen was answered 2xx (the outbox
 * jobs a complaint owes finish after its team alert). */
static bool
s_wait_logged_ok(int timeout_ms)
{
    kj_sink_t *sink = kj_pipeline_sink(s_pl);
    int64_t end = kj_mono_ms() + timeout_ms;
    for (;;) {
        pthread_mutex_lock(&s_log.mu);
        size_t n = s_log.n, waiting = 0;
        char key[96] = "";
        for (size_t i = 0; i < n; i++)
            if (kj_sink_key_ok(sink, s_log.a[i].key) == 0) {
                waiting++;
                snprintf(key, sizeof key, "%s", s_log.a[i].key);
            }
        pthread_mutex_unlock(&s_log.mu);
        if (waiting == 0)
            return true;
        if (kj_mono_ms() > end) {
            cr_log_error("%zu requests' keys never answered 2xx, e.g. %s",
                         waiting, key);
            return false;
        }
        kj_test_sleep_ms(100);
    }
}

/* When key was first answered 2xx (or first seen if first_seen), -1 if
 * never. */
static int64_t
s_when(const char *key, bool first_seen)
{
    int64_t at = -1;
    pthread_mutex_lock(&s_log.mu);
    for (size_t i = 0; i < s_log.n && at < 0; i++)
        if (strcmp(s_log.a[i].key, key) == 0 &&
            (first_seen ||
             (s_log.a[i].status >= 200 && s_log.a[i].status < 300)))
            at = s_log.a[i].at_ms;
    pthread_mutex_unlock(&s_log.mu);
    return at;
}

/* Wait until every key in keys was answered 2xx. */
static bool
s_wait_ok(char (*keys)[64], int n, int timeout_ms)
{
    kj_sink_t *sink = kj_pipeline_sink(s_pl);
    int64_t end = kj_mono_ms() + timeout_ms;
    for (;;) {
        int got = 0;
        for (int i = 0; i < n; i++)
            got += kj_sink_key_ok(sink, keys[i]) > 0;
        if (got == n)
            return true;
        if (kj_mono_ms() > end) {
            cr_log_error("%d of %d outbox jobs delivered", got, n);
            return false;
        }
        kj_test_sleep_ms(100);
    }
}

/* The receiver is down for 60 s while complaints come in and each of ten
 * cases owes an acknowledgement then a survey; when it comes back every
 * alert and job gets there once, and no survey before its case's
 * acknowledgement. The breaker holds the backlog in Redis meanwhile (a
 * trial per open period), so nothing is dead-lettered. */
Test(delivery_faults, receiver_down_60_s_then_up)
{
    static const char *const env[] = {"KUJO_OUTBOX_POLL_MS=100",
                                      "KUJO_CIRCUIT_OPEN_MS=1000",
                                      "KUJO_CIRCUIT_OPEN_MAX_MS=4000", NULL};
    s_up(env, 100, 0);
    kj_sink_t *sink = kj_pipeline_sink(s_pl);
    cr_assert(eq(int, kj_sink_stop(sink), 0));
    int64_t down_at = kj_mono_ms();
    enum { N = 20, CASES = 10 };
    char ids[N][32], keys[2 * CASES][64];
    s_post(ids, N, "down");
    for (int c = 0; c < CASES; c++) {
        char case_id[16];
        snprintf(case_id, sizeof case_id, "K%d", c);
        s_owe(ids[c], case_id, "customer_ack");
        s_owe(ids[c], case_id, "survey_request");
        snprintf(keys[2 * c], sizeof keys[0], "%s:customer_ack:t", ids[c]);
        snprintf(keys[2 * c + 1], sizeof keys[0], "%s:survey_request:t",
                 ids[c]);
    }
    while (kj_mono_ms() - down_at < 60000)
        kj_test_sleep_ms(200);
    cr_assert(eq(int, kj_sink_start(sink), 0));
    int64_t up_at = kj_mono_ms();
    int got = kj_pipeline_wait_all(s_pl, ids, N, "delivered", 60000);
    KJ_PL_ASSERT(s_pl, got == N, "%d of %d alerts delivered", got, N);
    cr_assert(s_wait_ok(keys, 2 * CASES, 60000));
    cr_assert(s_wait_logged_ok(60000));
    cr_log_info("receiver down %lld ms; all delivered %lld ms after it "
                "came back",
                (long long)(up_at - down_at),
                (long long)(kj_mono_ms() - up_at));
    s_assert_once_each();
    for (int c = 0; c < CASES; c++) {
        int64_t ack = s_when(keys[2 * c], false);
        int64_t survey = s_when(keys[2 * c + 1], true);
        cr_assert(ack >= 0 && survey >= ack,
                  "case K%d: survey at %lld before its acknowledgement at "
                  "%lld",
                  c, (long long)survey, (long long)ack);
    }
}

/* Every other request answered 500: everything gets there, each key
 * answered 2xx once; the failed halves were retried with the same key. */
Test(delivery_faults, flapping_receiver)
{
    static const char *const env[] = {"KUJO_OUTBOX_POLL_MS=100", NULL};
    s_up(env, 50, 0);
    kj_sink_t *sink = kj_pipeline_sink(s_pl);
    kj_sink_set_flap(sink, true);
    enum { N = 30 };
    char ids[N][32];
    s_post(ids, N, "flap");
    int got = kj_pipeline_wait_all(s_pl, ids, N, "delivered", 60000);
    KJ_PL_ASSERT(s_pl, got == N, "%d of %d delivered", got, N);
    cr_assert(s_wait_logged_ok(60000));
    size_t requests = s_assert_once_each();
    kj_sink_stats_t st;
    kj_sink_stats(sink, &st);
    cr_log_info("flapping: %zu requests for %llu keys", requests,
                (unsigned long long)st.distinct_keys);
    cr_assert(gt(sz, requests, (size_t)st.distinct_keys)); /* retries */
    for (int i = 0; i < N; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s:team_alert", ids[i]);
        cr_assert(ge(u32, kj_sink_key_count(sink, key), 1), "%s", key);
    }
}

/* A receiver that takes 10 s to answer, against a 1 s request timeout:
 * the timeouts are counted, the records keep them as their last error,
 * and once it is quick again everything is delivered. A key may reach it
 * more than once here (it answered after we gave up), always the same
 * key, so the receiver can drop the repeat. */
Test(delivery_faults, slow_receiver)
{
    static const char *const env[] = {"KUJO_OUTBOX_POLL_MS=100",
                                      "KUJO_CIRCUIT_FAILURES=0", NULL};
    s_up(env, 50, 1000);
    kj_sink_t *sink = kj_pipeline_sink(s_pl);
    kj_sink_set_delay_ms(sink, 10000);
    enum { N = 5 };
    char ids[N][32];
    s_post(ids, N, "slow");
    double failed = 0;
    int64_t end = kj_mono_ms() + 20000;
    while (kj_mono_ms() < end) {
        if (kj_pipeline_metric(s_pl, KJ_SVC_NOTIFIER, 0,
                               "kujo_deliveries_total", "result=\"failed\"",
                               &failed) == 0 &&
            failed >= N)
            break;
        kj_test_sleep_ms(200);
    }
    cr_assert(ge(dbl, failed, (double)N), "timeouts counted: %g", failed);
    json_t *rec = kj_pipeline_record(s_pl, ids[0]);
    cr_assert(ne(ptr, rec, NULL));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(rec, "state")),
                 "routed"));
    json_decref(rec);
    kj_sink_set_delay_ms(sink, 0);
    int got = kj_pipeline_wait_all(s_pl, ids, N, "delivered", 60000);
    KJ_PL_ASSERT(s_pl, got == N, "%d of %d delivered", got, N);
    cr_log_info("slow receiver: %g timed-out requests before it sped up",
                failed);
}
