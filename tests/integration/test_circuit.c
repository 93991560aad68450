/* The notifier's per-endpoint circuit breaker, end to end: the real
 * pipeline (redis-server, the five binaries) and the real webhook receiver
 * (kj_sink) playing an endpoint that goes down and comes back. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "kj_harness.h"
#include "kj_util.h"

static kj_pipeline_t *s_pl;
static char s_rules[128];

static void
s_teardown(void)
{
    kj_pipeline_destroy(&s_pl);
    if (s_rules[0])
        unlink(s_rules);
    s_rules[0] = '\0';
}

TestSuite(circuit, .fini = s_teardown, .timeout = 180);

static const char *const s_texts[] = {
    "The app crashes every time I open my order history.",
    "I was charged twice for one order, please refund the second charge.",
    "My parcel is a week late and the tracking page has not moved.",
    "The support agent hung up on me. Terrible service.",
    "Cannot log in since this morning, the password reset mail never comes.",
    "The blender arrived with a cracked jug.",
};
#define S_N ((int)KJ_ARRAY_LEN(s_texts))

/* The sink's endpoint label: scheme://host:port. */
static void
s_endpoint_label(char *out, size_t size)
{
    snprintf(out, size, "endpoint=\"http://127.0.0.1:%d\"",
             kj_sink_port(kj_pipeline_sink(s_pl)));
}

/* The notifier's kujo_webhook_circuit_open for the sink, -1 if absent. */
static double
s_gauge(void)
{
    char label[96];
    s_endpoint_label(label, sizeof label);
    double v = -1;
    if (kj_pipeline_metric(s_pl, KJ_SVC_NOTIFIER, 0,
                           "kujo_webhook_circuit_open", label, &v) != 0)
        return -1;
    return v;
}

static double
s_opened(void)
{
    char label[96];
    s_endpoint_label(label, sizeof label);
    double v = -1;
    if (kj_pipeline_metric(s_pl, KJ_SVC_NOTIFIER, 0,
                           "kujo_webhook_circuit_opened_total", label, &v) != 0)
        return -1;
    return v;
}

/* Poll the gauge until it reads want; false after timeout_ms. */
static bool
s_wait_gauge(double want, int timeout_ms)
{
    int64_t deadline = kj_mono_ms() + timeout_ms;
    double v = -1;
    while (kj_mono_ms() < deadline) {
        v = s_gauge();
        if (v == want)
            return true;
        kj_test_sleep_ms(50);
    }
    fprintf(stderr, "circuit gauge %g, wanted %g\n", v, want);
    return false;
}

static void
s_post(int i, char id[32])
{
    char key[32];
    snprintf(key, sizeof key, "circuit-%d", i);
    char *body =
        kj_test_complaint("web", "c-circuit", NULL, s_texts[i % S_N], NULL);
    int status = kj_pipeline_post(s_pl, body, key, id);
    free(body);
    KJ_PL_ASSERT(s_pl, status == 202, "POST #%d answered %d", i, status);
}

/* The record's state and attempts. */
static void
s_record(const char *id, char state[16], int *attempts)
{
    json_t *rec = kj_pipeline_record(s_pl, id);
    KJ_PL_ASSERT(s_pl, rec != NULL, "no record for %s", id);
    snprintf(state, 16, "%s",
             json_string_value(json_object_get(rec, "state"))
                 ? json_string_value(json_object_get(rec, "state"))
                 : "?");
    *attempts = (int)json_integer_value(json_object_get(rec, "attempts"));
    json_decref(rec);
}

/* True if the notifier's log has a line with both needles. */
static bool
s_log_has(const char *a, const char *b)
{
    const char *path =
        kj_proc_log_path(kj_pipeline_proc(s_pl, KJ_SVC_NOTIFIER, 0));
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, a) && strstr(line, b);
    fclose(f);
    return found;
}

/* The receiver is down for longer than KUJO_MAX_ATTEMPTS attempts would
 * last; the circuit opens after two failures and holds every delivery
 * without spending attempts, so nothing goes dead; once the receiver is
 * back the trial closes the circuit and everything is delivered. */
Test(circuit, an_outage_opens_it_and_nothing_goes_dead)
{
    /* Three attempts with 100..400 ms backoff would all be spent within
     * about a second; the outage below lasts three. One trial falls in
     * it (at 1.5 s), the next (at 4.5 s) after it. */
    const char *env[] = {"KUJO_CIRCUIT_FAILURES=2", "KUJO_CIRCUIT_OPEN_MS=1500",
                         "KUJO_CIRCUIT_OPEN_MAX_MS=6000", NULL};
    kj_pipeline_opts_t o = {.max_attempts = 3,
                            .retry_base_ms = 100,
                            .retry_cap_ms = 400,
                            .env = env};
    s_pl = kj_pipeline_new(&o);
    cr_assert(s_pl != NULL, "the pipeline did not start");
    kj_sink_t *sink = kj_pipeline_sink(s_pl);
    /* Present from the start, closed. */
    KJ_PL_ASSERT(s_pl, s_gauge() == 0.0, "gauge %g before any delivery",
                 s_gauge());
    KJ_PL_ASSERT(s_pl, s_opened() == 0.0, "opened_total %g", s_opened());

    cr_assert(eq(int, kj_sink_stop(sink), 0));
    char ids[S_N][32];
    for (int i = 0; i < S_N; i++)
        s_post(i, ids[i]);
    KJ_PL_ASSERT(s_pl, s_wait_gauge(1.0, 10000), "the circuit never opened");
    int64_t opened_at = kj_mono_ms();

    /* Three seconds of outage: no complaint may die. */
    while (kj_mono_ms() - opened_at < 3000) {
        for (int i = 0; i < S_N; i++) {
            char state[16];
            int attempts;
            s_record(ids[i], state, &attempts);
            KJ_PL_ASSERT(s_pl, strcmp(state, "dead") != 0,
                         "#%d went dead during the outage", i);
        }
        kj_test_sleep_ms(200);
    }
    KJ_PL_ASSERT(s_pl, s_gauge() == 1.0, "the circuit closed while down");
    /* Requests actually made: the two that opened it, at most one more
     * per complaint already in flight then, and one trial. Without the
     * breaker all 3 x S_N attempts would have been spent and failed. */
    double failed = -1, held = -1;
    kj_pipeline_metric(s_pl, KJ_SVC_NOTIFIER, 0, "kujo_deliveries_total",
                       "result=\"failed\"", &failed);
    kj_pipeline_metric(s_pl, KJ_SVC_NOTIFIER, 0, "kujo_envelopes_failed_total",
                       "reason=\"deferred\"", &held);
    KJ_PL_ASSERT(s_pl, failed >= 2 && failed <= S_N + 3,
                 "%g failed requests during the outage", failed);
    KJ_PL_ASSERT(s_pl, held >= S_N - 2, "%g deliveries held", held);

    cr_assert(eq(int, kj_sink_start(sink), 0), "the sink could not listen");
    int delivered = kj_pipeline_wait_all(s_pl, ids, S_N, "delivered", 20000);
    KJ_PL_ASSERT(s_pl, delivered == S_N, "%d of %d delivered", delivered, S_N);
    KJ_PL_ASSERT(s_pl, s_wait_gauge(0.0, 5000), "the circuit did not close");
    /* One outage, however many failed trials. */
    KJ_PL_ASSERT(s_pl, s_opened() == 1.0, "opened_total %g", s_opened());
    kj_sink_stats_t st;
    kj_sink_stats(sink, &st);
    cr_assert(eq(u64, st.distinct_keys, (uint64_t)S_N));
    cr_assert(eq(u64, st.bad_signature, 0));
    cr_assert(s_log_has("\"level\":\"warn\"", "\"msg\":\"circuit opened\""),
              "no warn line for the opening");
    cr_assert(s_log_has("\"level\":\"info\"", "\"msg\":\"circuit closed\""),
              "no info line for the closing");
}

/* While the circuit is open not one request reaches the endpoint, and the
 * deliveries it holds spend no attempt. */
Test(circuit, while_open_no_request_reaches_the_endpoint)
{
    const char *env[] = {"KUJO_CIRCUIT_FAILURES=2", "KUJO_CIRCUIT_OPEN_MS=2500",
                         NULL};
    kj_pipeline_opts_t o = {.max_attempts = 3,
                            .retry_base_ms = 50,
                            .retry_cap_ms = 100,
                            .env = env};
    s_pl = kj_pipeline_new(&o);
    cr_assert(s_pl != NULL, "the pipeline did not start");
    kj_sink_t *sink = kj_pipeline_sink(s_pl);
    /* A receiver that answers, with 503: every request is counted. */
    kj_sink_set_status(sink, 503);
    char first[32];
    s_post(0, first);
    KJ_PL_ASSERT(s_pl, s_wait_gauge(1.0, 10000), "the circuit never opened");
    kj_sink_stats_t st;
    kj_sink_stats(sink, &st);
    cr_assert(eq(u64, st.requests, 2), "two failures open it");

    char ids[S_N][32];
    memcpy(ids[0], first, sizeof first);
    for (int i = 1; i < S_N; i++)
        s_post(i, ids[i]);
    /* They reach the notifier and are held: no request, no attempt. */
    kj_test_sleep_ms(1000);
    kj_sink_stats(sink, &st);
    KJ_PL_ASSERT(s_pl, st.requests == 2, "%llu requests while open",
                 (unsigned long long)st.requests);
    for (int i = 1; i < S_N; i++) {
        char state[16];
        int attempts;
        s_record(ids[i], state, &attempts);
        KJ_PL_ASSERT(s_pl, strcmp(state, "routed") == 0, "#%d is %s", i, state);
        KJ_PL_ASSERT(s_pl, attempts == 0, "#%d spent %d attempts", i, attempts);
    }
    KJ_PL_ASSERT(s_pl, s_gauge() == 1.0, "the circuit closed early");

    /* The endpoint recovers before the trial: the trial closes it and the
     * held deliveries go, each exactly once. */
    kj_sink_set_status(sink, 200);
    int delivered = kj_pipeline_wait_all(s_pl, ids, S_N, "delivered", 20000);
    KJ_PL_ASSERT(s_pl, delivered == S_N, "%d of %d delivered", delivered, S_N);
    kj_sink_stats(sink, &st);
    cr_assert(eq(u64, st.requests, 2 + (uint64_t)S_N));
    cr_assert(eq(u64, st.answered_2xx, (uint64_t)S_N));
    KJ_PL_ASSERT(s_pl, s_wait_gauge(0.0, 5000), "the circuit did not close");
}

/* Attempts that are actually sent count, trials included: an endpoint that
 * never recovers still dead-letters each complaint after max attempts,
 * one trial per open period. */
Test(circuit, an_endpoint_that_never_recovers_still_dead_letters)
{
    const char *env[] = {"KUJO_CIRCUIT_FAILURES=1", "KUJO_CIRCUIT_OPEN_MS=200",
                         "KUJO_CIRCUIT_OPEN_MAX_MS=400", NULL};
    kj_pipeline_opts_t o = {.max_attempts = 3,
                            .retry_base_ms = 50,
                            .retry_cap_ms = 100,
                            .env = env};
    s_pl = kj_pipeline_new(&o);
    cr_assert(s_pl != NULL, "the pipeline did not start");
    kj_sink_t *sink = kj_pipeline_sink(s_pl);
    kj_sink_set_status(sink, 500);
    char id[32];
    s_post(0, id);
    json_t *rec = kj_pipeline_wait_state(s_pl, id, "dead", 20000);
    KJ_PL_ASSERT(s_pl, rec != NULL, "%s never went dead", id);
    const char *reason = json_string_value(json_object_get(rec, "reason"));
    cr_assert(reason && strstr(reason, "HTTP 500 after 3 attempts"), "%s",
              reason ? reason : "null");
    json_decref(rec);
    char key[64];
    snprintf(key, sizeof key, "%s:team_alert", id);
    /* The first try and two trials. */
    cr_assert(eq(u32, kj_sink_key_count(sink, key), 3));
}

/* Write the shipped rules with a webhook for care-en and billing into
 * s_rules; port 9 (discard) is never called in these tests. */
static void
s_write_rules(bool with_billing)
{
    json_error_t jerr;
    json_t *r = json_load_file(KJ_SOURCE_DIR "/deploy/rules.json", 0, &jerr);
    cr_assert(r != NULL, "%s", jerr.text);
    size_t i;
    json_t *team;
    json_array_foreach(json_object_get(r, "teams"), i, team)
    {
        const char *name = json_string_value(json_object_get(team, "name"));
        if (strcmp(name, "care-en") == 0)
            json_object_set_new(
                team, "webhook",
                json_string("http://Team-Hooks.example:9/care-en/s3cret"));
        if (with_billing && strcmp(name, "billing") == 0)
            json_object_set_new(
                team, "webhook",
                json_string("https://billing-hooks.example/hook/s3cret"));
    }
    if (!s_rules[0])
        snprintf(s_rules, sizeof s_rules, "/tmp/kj-it-circuit-rules-%d.json",
                 (int)getpid());
    cr_assert(eq(int, json_dump_file(r, s_rules, JSON_INDENT(1)), 0));
    json_decref(r);
}

/* Every configured endpoint has its series from the start, and SIGHUP
 * adds the endpoints of a changed rules file. */
Test(circuit, configured_endpoints_have_series_from_the_start)
{
    s_write_rules(false);
    char rules_env[160];
    snprintf(rules_env, sizeof rules_env, "KUJO_RULES=%s", s_rules);
    const char *env[] = {rules_env, NULL};
    kj_pipeline_opts_t o = {.env = env};
    s_pl = kj_pipeline_new(&o);
    cr_assert(s_pl != NULL, "the pipeline did not start");
    char *page = kj_pipeline_metrics(s_pl, KJ_SVC_NOTIFIER, 0);
    cr_assert(page != NULL);
    double v = -1;
    cr_assert(eq(int,
                 kj_prom_value(page, "kujo_webhook_circuit_open",
                               "endpoint=\"http://team-hooks.example:9\"", &v),
                 1),
              "%s", page);
    cr_assert(eq(dbl, v, 0.0));
    char label[96];
    s_endpoint_label(label, sizeof label);
    cr_assert(eq(
        int, kj_prom_value(page, "kujo_webhook_circuit_open", label, &v), 1));
    cr_assert(
        eq(int,
           kj_prom_value(page, "kujo_webhook_circuit_opened_total", label, &v),
           1));
    cr_assert(eq(dbl, v, 0.0));
    /* Webhook paths are secrets: never in a label. */
    cr_assert(eq(ptr, strstr(page, "s3cret"), NULL));
    cr_assert(eq(ptr, strstr(page, "billing-hooks"), NULL));
    free(page);

    s_write_rules(true);
    kj_proc_t *notifier = kj_pipeline_proc(s_pl, KJ_SVC_NOTIFIER, 0);
    cr_assert(eq(int, kj_proc_signal(notifier, SIGHUP), 0));
    int64_t deadline = kj_mono_ms() + 5000;
    int found = 0;
    while (!found && kj_mono_ms() < deadline) {
        kj_test_sleep_ms(50);
        page = kj_pipeline_metrics(s_pl, KJ_SVC_NOTIFIER, 0);
        if (page)
            found = kj_prom_value(page, "kujo_webhook_circuit_open",
                                  "endpoint=\"https://billing-hooks."
                                  "example:443\"",
                                  &v);
        free(page);
    }
    KJ_PL_ASSERT(s_pl, found == 1, "SIGHUP did not add the new endpoint");
}

static int
s_exit_code(int status)
{
    if (status < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

Test(circuit, bad_circuit_configuration_exits_78)
{
    const char *bad[][3] = {
        {"KUJO_CIRCUIT_OPEN_MS=5000", "KUJO_CIRCUIT_OPEN_MAX_MS=1000", NULL},
        {"KUJO_CIRCUIT_FAILURES=-1", NULL, NULL},
        {"KUJO_CIRCUIT_OPEN_MS=0", NULL, NULL},
        {"KUJO_RULES=/nonexistent/rules.json", NULL, NULL},
    };
    char log[128];
    snprintf(log, sizeof log, "/tmp/kj-it-circuit-%d.log", (int)getpid());
    char *argv[] = {"kujo-notifier", NULL};
    unlink(log);
    for (size_t i = 0; i < KJ_ARRAY_LEN(bad); i++) {
        kj_proc_t *p = kj_proc_start("notifier", KJ_BIN_DIR "/kujo-notifier",
                                     argv, bad[i], log);
        cr_assert(p != NULL);
        int status = kj_proc_wait(p, 5000);
        cr_assert(eq(int, s_exit_code(status), 78), "case %zu: status %d", i,
                  status);
        kj_proc_destroy(&p);
    }
    /* --help lists the options. */
    char *help[] = {"kujo-notifier", "--help", NULL};
    const char *none[] = {NULL};
    kj_proc_t *p =
        kj_proc_start("notifier", KJ_BIN_DIR "/kujo-notifier", help, none, log);
    cr_assert(eq(int, s_exit_code(kj_proc_wait(p, 5000)), 0));
    kj_proc_destroy(&p);
    FILE *f = fopen(log, "r");
    cr_assert(f != NULL);
    char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    unlink(log);
    cr_assert(strstr(buf, "KUJO_CIRCUIT_FAILURES") != NULL, "%s", buf);
    cr_assert(strstr(buf, "KUJO_CIRCUIT_OPEN_MS") != NULL);
    cr_assert(strstr(buf, "KUJO_CIRCUIT_OPEN_MAX_MS") != NULL);
    cr_assert(strstr(buf, "--rules") != NULL);
}
