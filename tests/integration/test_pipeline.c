/* The whole pipeline, end to end: real redis-server, the five real
 * binaries, a real webhook receiver. Japanese and English complaints from
 * several channels come in over HTTP and must come out as signed alerts,
 * with records that say what kujo made of them and analytics that counted
 * them. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "kj_harness.h"
#include "kj_util.h"

static kj_pipeline_t *s_pl;

static void
s_teardown(void)
{
    kj_pipeline_destroy(&s_pl);
}

TestSuite(pipeline, .fini = s_teardown, .timeout = 180);

typedef struct {
    const char *channel;
    const char *lang; /* what the classifier must find */
    const char *text;
} s_case_t;

static const s_case_t s_cases[] = {
    {"x", "ja",
     "アプリに今朝からログインできません。何度やってもエラーになります。"
     "至急対応してください"},
    {"email", "ja",
     "先月の請求が二重に引き落とされています。クレジットカードの明細を確認"
     "しました。返金をお願いします。"},
    {"chat", "ja",
     "注文した荷物がまだ届かないです。配送予定日から一週間過ぎています。"},
    {"app_review", "ja",
     "アップデートしてから起動しない。すぐ落ちる。使えないので星1です。"},
    {"facebook", "en",
     "The blender I bought arrived with a cracked jug and the motor smells "
     "like it is burning. Poor quality."},
    {"web", "en",
     "My order was supposed to arrive last Tuesday and the tracking page "
     "has not changed in six days. Where is my package?"},
    {"email", "en",
     "I was charged twice for the same order on my credit card. Please "
     "refund the duplicate charge as soon as possible."},
    {"survey", "en",
     "The agent I spoke to this morning was rude and hung up on me when I "
     "asked for a supervisor. Unacceptable customer service."},
};
#define S_N ((int)KJ_ARRAY_LEN(s_cases))

static const char *
s_str(const json_t *o, const char *path1, const char *path2)
{
    const json_t *v = json_object_get(o, path1);
    if (path2)
        v = v ? json_object_get(v, path2) : NULL;
    return json_string_value(v);
}

static bool
s_nonempty(const char *s)
{
    return s && *s;
}

/* Poll /v1/stats until it has counted n delivered complaints. */
static json_t *
s_wait_stats(kj_pipeline_t *pl, int n, int timeout_ms)
{
    int waited = 0;
    json_t *st = NULL;
    while (waited <= timeout_ms) {
        if (st)
            json_decref(st);
        st = kj_pipeline_stats(pl);
        if (st && json_integer_value(json_object_get(st, "delivered")) >= n)
            return st;
        kj_test_sleep_ms(100);
        waited += 100;
    }
    if (st) {
        char *dump = json_dumps(st, JSON_COMPACT);
        fprintf(stderr, "stats never counted %d delivered: %s\n", n, dump);
        free(dump);
    }
    return st;
}

static json_int_t
s_count(const json_t *stats, const char *group, const char *key)
{
    return json_integer_value(
        json_object_get(json_object_get(stats, group), key));
}

Test(pipeline, ja_and_en_complaints_are_triaged_routed_and_delivered)
{
    s_pl = kj_pipeline_new(NULL);
    cr_assert(s_pl != NULL, "the pipeline did not start");

    char ids[S_N][32];
    for (int i = 0; i < S_N; i++) {
        char cust[32], key[32];
        snprintf(cust, sizeof cust, "c-%d", 100 + i);
        snprintf(key, sizeof key, "pl-%d", i);
        char *body = kj_test_complaint(s_cases[i].channel, cust,
                                       i % 2 ? "gold" : "standard",
                                       s_cases[i].text, NULL);
        int status = kj_pipeline_post(s_pl, body, key, ids[i]);
        free(body);
        KJ_PL_ASSERT(s_pl, status == 202, "POST #%d answered %d", i, status);
        cr_assert(eq(sz, strlen(ids[i]), 20), "id %s", ids[i]);
    }

    int delivered = kj_pipeline_wait_all(s_pl, ids, S_N, "delivered", 30000);
    KJ_PL_ASSERT(s_pl, delivered == S_N, "%d of %d delivered", delivered, S_N);

    kj_sink_t *sink = kj_pipeline_sink(s_pl);
    for (int i = 0; i < S_N; i++) {
        json_t *rec = kj_pipeline_record(s_pl, ids[i]);
        cr_assert(rec != NULL, "no record for %s", ids[i]);
        cr_assert(eq(str, (char *)s_str(rec, "id", NULL), ids[i]));
        cr_assert(eq(str, (char *)s_str(rec, "state", NULL), "delivered"));
        cr_assert(eq(str, (char *)s_str(rec, "channel", NULL),
                     (char *)s_cases[i].channel));
        const char *lang = s_str(rec, "triage", "language");
        cr_assert(lang != NULL && strcmp(lang, s_cases[i].lang) == 0,
                  "#%d (%s): language %s, wanted %s", i, ids[i],
                  lang ? lang : "null", s_cases[i].lang);
        const char *category = s_str(rec, "triage", "category");
        cr_assert(s_nonempty(category), "#%d has no category", i);
        const char *team = s_str(rec, "assignment", "team");
        cr_assert(s_nonempty(team), "#%d has no team", i);
        cr_assert(s_nonempty(s_str(rec, "assignment", "due_at")),
                  "#%d has no due_at", i);

        /* The delivery the notifier recorded for the alert. */
        const json_t *dels = json_object_get(rec, "deliveries");
        bool has_dels = json_is_array(dels) && json_array_size(dels) >= 1;
        cr_assert(has_dels, "#%d has no deliveries", i);
        bool alerted = false;
        for (size_t k = 0; k < json_array_size(dels); k++) {
            const json_t *d = json_array_get(dels, k);
            const char *kind = s_str(d, "kind", NULL);
            const char *st = s_str(d, "status", NULL);
            if (kind && st && strcmp(kind, "team_alert") == 0 &&
                strcmp(st, "delivered") == 0)
                alerted = true;
        }
        cr_assert(alerted, "#%d has no delivered team_alert entry", i);
        const json_t *e2e = json_object_get(rec, "e2e_ms");
        bool e2e_ok = json_is_integer(e2e) && json_integer_value(e2e) >= 0;
        cr_assert(e2e_ok, "#%d e2e_ms is not a count of ms", i);

        /* What the receiver saw: a signed alert under the contract's
         * key, about this complaint, naming the same team. */
        char key[64];
        snprintf(key, sizeof key, "%s:team_alert", ids[i]);
        cr_assert(ge(u32, kj_sink_key_count(sink, key), 1),
                  "the sink never saw %s", key);
        cr_assert(ge(u32, kj_sink_key_signed(sink, key), 1),
                  "no valid signature on %s", key);
        json_t *alert = kj_sink_key_body(sink, key);
        cr_assert(alert != NULL);
        cr_assert(eq(str, (char *)s_str(alert, "complaint_id", NULL), ids[i]));
        cr_assert(eq(str, (char *)s_str(alert, "kind", NULL), "team_alert"));
        cr_assert(eq(str, (char *)s_str(alert, "team", NULL), (char *)team));
        cr_assert(
            eq(str, (char *)s_str(alert, "language", NULL), (char *)lang));
        cr_assert(s_nonempty(s_str(alert, "text", NULL)),
                  "the alert has no Slack text");
        json_decref(alert);
        json_decref(rec);
    }
    kj_sink_stats_t st;
    kj_sink_stats(sink, &st);
    cr_assert(eq(u64, st.bad_signature, 0));
    cr_assert(eq(u64, st.bad_body, 0));
    cr_assert(eq(u64, st.missing_key, 0));
    cr_assert(eq(u64, st.key_mismatch, 0));
    cr_assert(eq(u64, st.distinct_keys, (uint64_t)S_N));

    /* Analytics reads the event streams on its own; poll until it has
     * caught up, then check what it counted. */
    json_t *stats = s_wait_stats(s_pl, S_N, 15000);
    KJ_PL_ASSERT(s_pl, stats != NULL, "no answer from /v1/stats");
    cr_assert(
        eq(i64, json_integer_value(json_object_get(stats, "delivered")), S_N));
    cr_assert(
        eq(i64, json_integer_value(json_object_get(stats, "total")), S_N));
    cr_assert(eq(i64, s_count(stats, "by_state", "received"), S_N));
    cr_assert(eq(i64, s_count(stats, "by_state", "delivered"), S_N));
    cr_assert(eq(i64, s_count(stats, "by_language", "ja"), 4));
    cr_assert(eq(i64, s_count(stats, "by_language", "en"), 4));
    cr_assert(eq(i64, s_count(stats, "by_channel", "email"), 2));
    cr_assert(eq(i64, s_count(stats, "by_channel", "x"), 1));
    json_decref(stats);
}

Test(pipeline, a_repeated_post_is_one_complaint_and_one_alert)
{
    s_pl = kj_pipeline_new(NULL);
    cr_assert(s_pl != NULL, "the pipeline did not start");
    char *body = kj_test_complaint("web", "c-7", "standard",
                                   "The app crashes every time I open the "
                                   "order history screen.",
                                   NULL);
    char first[32], again[32];
    int st1 = kj_pipeline_post(s_pl, body, "repeat-1", first);
    int st2 = kj_pipeline_post(s_pl, body, "repeat-1", again);
    free(body);
    KJ_PL_ASSERT(s_pl, st1 == 202, "first POST answered %d", st1);
    cr_assert(eq(int, st2, 200), "a repeat answers 200");
    cr_assert(eq(str, again, first));

    json_t *rec = kj_pipeline_wait_state(s_pl, first, "delivered", 30000);
    KJ_PL_ASSERT(s_pl, rec != NULL, "%s not delivered", first);
    json_decref(rec);
    /* Give a duplicate alert time to show up if there were one. */
    kj_test_sleep_ms(500);
    kj_sink_stats_t st;
    kj_sink_stats(kj_pipeline_sink(s_pl), &st);
    cr_assert(eq(u64, st.distinct_keys, 1));
    cr_assert(eq(u64, st.requests, 1));
}

Test(pipeline, personal_data_is_masked_before_it_leaves_the_classifier)
{
    s_pl = kj_pipeline_new(NULL);
    cr_assert(s_pl != NULL, "the pipeline did not start");
    static const char email[] = "taro.yamada@example.jp";
    static const char phone[] = "090-1234-5678";
    char text[256];
    snprintf(text, sizeof text,
             "請求が二重になっています。返金してください。連絡先は %s "
             "または %s です。",
             email, phone);
    char *body = kj_test_complaint("email", "c-pii", "gold", text, NULL);
    char id[32];
    int status = kj_pipeline_post(s_pl, body, "pii-1", id);
    free(body);
    KJ_PL_ASSERT(s_pl, status == 202, "POST answered %d", status);

    json_t *rec = kj_pipeline_wait_state(s_pl, id, "delivered", 30000);
    KJ_PL_ASSERT(s_pl, rec != NULL, "%s not delivered", id);
    char *dump = json_dumps(rec, JSON_COMPACT);
    cr_assert(strstr(dump, email) == NULL,
              "the record still holds the "
              "e-mail address: %s",
              dump);
    cr_assert(strstr(dump, phone) == NULL,
              "the record still holds the "
              "phone number: %s",
              dump);
    free(dump);
    const json_t *pii = json_object_get(json_object_get(rec, "triage"), "pii");
    bool spans = json_is_array(pii) && json_array_size(pii) >= 2;
    cr_assert(spans, "triage.pii should list the e-mail and the phone number");
    json_decref(rec);

    char key[64];
    snprintf(key, sizeof key, "%s:team_alert", id);
    json_t *alert = kj_sink_key_body(kj_pipeline_sink(s_pl), key);
    cr_assert(alert != NULL, "no alert for %s", id);
    char *adump = json_dumps(alert, JSON_COMPACT);
    cr_assert(strstr(adump, email) == NULL && strstr(adump, phone) == NULL,
              "the alert carries personal data: %s", adump);
    cr_assert(s_nonempty(s_str(alert, "masked_text", NULL)));
    free(adump);
    json_decref(alert);
}

/* The receiver answers 500 for a while, then goes away entirely, then
 * comes back: the notifier retries with backoff and every alert gets
 * through, with the same Idempotency-Key each time. */
Test(pipeline, a_receiver_outage_is_retried_until_delivered)
{
    /* Enough attempts that backoff (100 ms base, 400 ms cap, full jitter)
     * outlasts the 2 s outage with room to spare. This is the retry path
     * alone: the circuit breaker, which would hold deliveries instead, has
     * its own tests (test_circuit.c). */
    const char *env[] = {"KUJO_CIRCUIT_FAILURES=0", NULL};
    kj_pipeline_opts_t o = {.max_attempts = 30,
                            .retry_base_ms = 100,
                            .retry_cap_ms = 400,
                            .env = env};
    s_pl = kj_pipeline_new(&o);
    cr_assert(s_pl != NULL, "the pipeline did not start");
    kj_sink_t *sink = kj_pipeline_sink(s_pl);
    kj_sink_set_status(sink, 500);

    enum { N = 6 };
    char ids[N][32];
    for (int i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof key, "outage-%d", i);
        char *body =
            kj_test_complaint("chat", "c-9", NULL, s_cases[i % S_N].text, NULL);
        int status = kj_pipeline_post(s_pl, body, key, ids[i]);
        free(body);
        KJ_PL_ASSERT(s_pl, status == 202, "POST #%d answered %d", i, status);
    }
    /* 1 s of 500s, 1 s of connection refused, then 200s again. */
    kj_test_sleep_ms(1000);
    cr_assert(eq(int, kj_sink_stop(sink), 0));
    kj_test_sleep_ms(1000);
    kj_sink_set_status(sink, 200);
    cr_assert(eq(int, kj_sink_start(sink), 0), "the sink could not listen "
                                               "on its port again");

    int delivered = kj_pipeline_wait_all(s_pl, ids, N, "delivered", 30000);
    KJ_PL_ASSERT(s_pl, delivered == N, "%d of %d delivered", delivered, N);
    kj_sink_stats_t st;
    kj_sink_stats(sink, &st);
    cr_assert(gt(u64, st.requests, st.answered_2xx),
              "the sink never answered 500 to anyone");
    cr_assert(eq(u64, st.distinct_keys, (uint64_t)N));
    cr_assert(eq(u64, st.bad_signature, 0));
    for (int i = 0; i < N; i++) {
        json_t *rec = kj_pipeline_record(s_pl, ids[i]);
        const json_t *d = json_array_get(json_object_get(rec, "deliveries"), 0);
        json_int_t attempts =
            json_integer_value(json_object_get(d, "attempts"));
        cr_assert(ge(i64, attempts, 2),
                  "#%d delivered at attempt %lld, "
                  "before the outage ended?",
                  i, (long long)attempts);
        json_decref(rec);
    }
}

/* A receiver that keeps failing dead-letters the complaint with a reason;
 * once it is fixed, a replay delivers it. */
Test(pipeline, dead_letter_with_a_reason_then_replay_delivers)
{
    kj_pipeline_opts_t o = {
        .max_attempts = 3, .retry_base_ms = 50, .retry_cap_ms = 200};
    s_pl = kj_pipeline_new(&o);
    cr_assert(s_pl != NULL, "the pipeline did not start");
    kj_sink_t *sink = kj_pipeline_sink(s_pl);
    kj_sink_set_status(sink, 500);

    char *body =
        kj_test_complaint("email", "c-dead", "gold", s_cases[6].text, NULL);
    char id[32];
    int status = kj_pipeline_post(s_pl, body, "dead-1", id);
    free(body);
    KJ_PL_ASSERT(s_pl, status == 202, "POST answered %d", status);

    json_t *rec = kj_pipeline_wait_state(s_pl, id, "dead", 30000);
    KJ_PL_ASSERT(s_pl, rec != NULL, "%s never went dead", id);
    const char *reason = s_str(rec, "reason", NULL);
    cr_assert(reason && strstr(reason, "500"),
              "the dead letter's reason should name the HTTP 500: %s",
              reason ? reason : "null");
    json_decref(rec);
    char key[64];
    snprintf(key, sizeof key, "%s:team_alert", id);
    cr_assert(eq(u32, kj_sink_key_count(sink, key), 3), "one try per attempt");

    kj_sink_set_status(sink, 200);
    kj_client_t *client = kj_client_new(5000);
    char url[160];
    snprintf(url, sizeof url, "%s/v1/complaints/%s/replay",
             kj_pipeline_url(s_pl, KJ_SVC_INGEST, 0), id);
    kj_resp_t r;
    cr_assert(eq(int, kj_client_post_json(client, url, "{}", NULL, &r), 0));
    cr_assert(eq(long, r.status, 202), "replay answered %ld: %s", r.status,
              r.body);
    kj_resp_free(&r);
    rec = kj_pipeline_wait_state(s_pl, id, "delivered", 30000);
    KJ_PL_ASSERT(s_pl, rec != NULL, "%s not delivered after replay", id);
    json_decref(rec);
    /* A replay of a record that is no longer dead is refused. */
    cr_assert(eq(int, kj_client_post_json(client, url, "{}", NULL, &r), 0));
    cr_assert(eq(long, r.status, 409),
              "replay of a delivered record "
              "answered %ld",
              r.status);
    kj_resp_free(&r);
    kj_client_destroy(&client);
    cr_assert(ge(u32, kj_sink_key_signed(sink, key), 4));
}
