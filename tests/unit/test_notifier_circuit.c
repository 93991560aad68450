/* notifier_circuit: the per-endpoint breaker's states, keys and metrics,
 * with time passed in (no sleeping, no network). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <string.h>

#include "kj_metrics.h"
#include "notifier_circuit.h"

#define URL "http://hooks.example/alerts/s3cret"
#define T0 1700000000000LL

static const notifier_circuit_opts_t s_opts = {
    .failures = 3,
    .open_ms = 1000,
    .open_max_ms = 3000,
    .trial_timeout_ms = 5000,
};

static void
s_fail(notifier_circuit_t *c, const char *url, const char *id, int n,
       int64_t now)
{
    for (int i = 0; i < n; i++)
        notifier_circuit_report(c, url, id, NOTIFIER_OUTCOME_DOWN, "HTTP 503",
                                now);
}

Test(notifier_circuit, usage_example)
{
    notifier_circuit_t *c = notifier_circuit_new(&s_opts, NULL, 1);
    cr_assert(not(eq(ptr, c, NULL)));
    bool trial = true;
    int64_t back = 0;
    /* Closed: requests go out. */
    cr_assert(notifier_circuit_allow(c, URL, "a", T0, &trial, &back));
    cr_assert(not(trial));
    /* Three failures in a row open it for open_ms. */
    s_fail(c, URL, "a", 3, T0);
    cr_assert(eq(int, notifier_circuit_state(c, URL), NOTIFIER_CIRCUIT_OPEN));
    cr_assert(not(notifier_circuit_allow(c, URL, "b", T0 + 10, &trial, &back)));
    /* Held work comes back when it half-opens, spread by up to 10%. */
    cr_assert(ge(i64, back, T0 + 1000));
    cr_assert(le(i64, back, T0 + 1100));
    /* Then one trial goes; the others wait for its answer. */
    cr_assert(notifier_circuit_allow(c, URL, "b", T0 + 1000, &trial, &back));
    cr_assert(trial);
    cr_assert(
        eq(int, notifier_circuit_state(c, URL), NOTIFIER_CIRCUIT_HALF_OPEN));
    cr_assert(
        not(notifier_circuit_allow(c, URL, "c", T0 + 1001, &trial, &back)));
    cr_assert(ge(i64, back, T0 + 1001 + 500));
    cr_assert(le(i64, back, T0 + 1001 + 1000));
    /* Its success closes the circuit. */
    notifier_circuit_report(c, URL, "b", NOTIFIER_OUTCOME_UP, "", T0 + 1050);
    cr_assert(eq(int, notifier_circuit_state(c, URL), NOTIFIER_CIRCUIT_CLOSED));
    cr_assert(notifier_circuit_allow(c, URL, "c", T0 + 1051, &trial, &back));
    cr_assert(not(trial));
    notifier_circuit_destroy(&c);
    cr_assert(eq(ptr, c, NULL));
}

Test(notifier_circuit, endpoint_keys)
{
    static const char *const good[][2] = {
        {"HTTP://User:pw@Hooks.Example/x?y", "http://hooks.example:80"},
        {"https://h.example:8443/", "https://h.example:8443"},
        {"https://h.example", "https://h.example:443"},
        {"http://h.example:/a", "http://h.example:80"},
        {"https://[::1]/a", "https://[::1]:443"},
        {"http://[::1]:9000?q", "http://[::1]:9000"},
        {"http://10.0.0.1:80#f", "http://10.0.0.1:80"},
    };
    char out[NOTIFIER_ENDPOINT_MAX];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        cr_assert(
            eq(int, notifier_circuit_endpoint(good[i][0], out, sizeof out), 0),
            "%s", good[i][0]);
        cr_assert(eq(str, out, (char *)good[i][1]));
    }
    static const char *const bad[] = {
        "ftp://h.example/", "http://",      "http:///path", "http://h:99999/",
        "http://h:0/",      "http://h:8a/", "http://[::1/", "http://[::1]x/",
        "http://:80/",      "http://u@/",   "mailto:a@b.c", "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert(
            eq(int, notifier_circuit_endpoint(bad[i], out, sizeof out), -1),
            "%s", bad[i]);
    /* Too small a buffer is refused, not cut. */
    cr_assert(
        eq(int, notifier_circuit_endpoint("http://h.example/", out, 8), -1));
}

Test(notifier_circuit, one_breaker_per_scheme_host_port)
{
    notifier_circuit_t *c = notifier_circuit_new(&s_opts, NULL, 1);
    s_fail(c, "http://Hooks.example/a", "x", 2, T0);
    /* Same endpoint, other path and case: the third failure opens it. */
    s_fail(c, "http://hooks.EXAMPLE:80/b", "y", 1, T0);
    cr_assert(eq(int, notifier_circuit_state(c, "http://hooks.example/c"),
                 NOTIFIER_CIRCUIT_OPEN));
    /* Another port or scheme is another endpoint. */
    cr_assert(eq(int, notifier_circuit_state(c, "http://hooks.example:81/"),
                 NOTIFIER_CIRCUIT_CLOSED));
    cr_assert(eq(int, notifier_circuit_state(c, "https://hooks.example/"),
                 NOTIFIER_CIRCUIT_CLOSED));
    bool trial;
    int64_t back;
    cr_assert(notifier_circuit_allow(c, "https://hooks.example/", "z", T0,
                                     &trial, &back));
    notifier_circuit_destroy(&c);
}

Test(notifier_circuit, what_counts_as_a_failure)
{
    cr_assert(eq(int, notifier_circuit_outcome(true, false, 200),
                 NOTIFIER_OUTCOME_UP));
    cr_assert(eq(int, notifier_circuit_outcome(false, false, 0),
                 NOTIFIER_OUTCOME_DOWN)); /* refused, timeout */
    cr_assert(eq(int, notifier_circuit_outcome(false, false, 500),
                 NOTIFIER_OUTCOME_DOWN));
    cr_assert(eq(int, notifier_circuit_outcome(false, false, 503),
                 NOTIFIER_OUTCOME_DOWN));
    cr_assert(eq(int, notifier_circuit_outcome(false, false, 429),
                 NOTIFIER_OUTCOME_DOWN));
    /* The receiver rejected the message: the endpoint is up. */
    cr_assert(eq(int, notifier_circuit_outcome(false, false, 400),
                 NOTIFIER_OUTCOME_UP));
    cr_assert(eq(int, notifier_circuit_outcome(false, false, 404),
                 NOTIFIER_OUTCOME_UP));
    cr_assert(eq(int, notifier_circuit_outcome(false, false, 302),
                 NOTIFIER_OUTCOME_UP));
    /* A URL curl refuses says nothing about any endpoint. */
    cr_assert(eq(int, notifier_circuit_outcome(false, true, 0),
                 NOTIFIER_OUTCOME_NONE));
}

Test(notifier_circuit, only_consecutive_failures_open_it)
{
    notifier_circuit_t *c = notifier_circuit_new(&s_opts, NULL, 1);
    s_fail(c, URL, "a", 2, T0);
    /* A 4xx answer (or a success) resets the count. */
    notifier_circuit_report(c, URL, "a", NOTIFIER_OUTCOME_UP, "HTTP 400", T0);
    s_fail(c, URL, "a", 2, T0);
    notifier_circuit_report(c, URL, "a", NOTIFIER_OUTCOME_NONE, "", T0);
    cr_assert(eq(int, notifier_circuit_state(c, URL), NOTIFIER_CIRCUIT_CLOSED));
    s_fail(c, URL, "a", 1, T0);
    cr_assert(eq(int, notifier_circuit_state(c, URL), NOTIFIER_CIRCUIT_OPEN));
    notifier_circuit_destroy(&c);
}

/* Open the circuit at now and let the trial go at its end; returns the
 * time the trial went. */
static int64_t
s_trial(notifier_circuit_t *c, int64_t at, const char *id)
{
    bool trial = false;
    int64_t back = 0;
    cr_assert(not(notifier_circuit_allow(c, URL, "w", at, &trial, &back)));
    int64_t go = back;
    cr_assert(notifier_circuit_allow(c, URL, id, go, &trial, &back));
    cr_assert(trial);
    return go;
}

Test(notifier_circuit, failed_trials_double_the_open_time_up_to_the_cap)
{
    notifier_circuit_t *c = notifier_circuit_new(&s_opts, NULL, 1);
    s_fail(c, URL, "a", 3, T0);
    int64_t t = s_trial(c, T0, "t1");
    bool trial;
    int64_t back;
    /* 1000 -> 2000 -> 3000 (the cap) -> 3000. */
    static const int64_t want[] = {2000, 3000, 3000};
    for (size_t i = 0; i < 3; i++) {
        char id[8];
        snprintf(id, sizeof id, "t%zu", i + 1);
        notifier_circuit_report(c, URL, id, NOTIFIER_OUTCOME_DOWN, "timeout",
                                t + 5);
        cr_assert(
            eq(int, notifier_circuit_state(c, URL), NOTIFIER_CIRCUIT_OPEN));
        cr_assert(
            not(notifier_circuit_allow(c, URL, "w", t + 6, &trial, &back)));
        cr_assert(ge(i64, back, t + 5 + want[i]), "reopen %zu", i);
        cr_assert(le(i64, back, t + 5 + want[i] + want[i] / 10), "reopen %zu",
                  i);
        snprintf(id, sizeof id, "t%zu", i + 2);
        cr_assert(notifier_circuit_allow(c, URL, id, back, &trial, &back));
        cr_assert(trial);
        t = back;
    }
    /* Success closes it, and the next outage starts from open_ms again. */
    notifier_circuit_report(c, URL, "t4", NOTIFIER_OUTCOME_UP, "", t + 1);
    cr_assert(eq(int, notifier_circuit_state(c, URL), NOTIFIER_CIRCUIT_CLOSED));
    s_fail(c, URL, "a", 3, t + 2);
    cr_assert(not(notifier_circuit_allow(c, URL, "w", t + 3, &trial, &back)));
    cr_assert(le(i64, back, t + 2 + 1100));
    notifier_circuit_destroy(&c);
}

Test(notifier_circuit, answers_from_before_it_opened_change_nothing)
{
    notifier_circuit_t *c = notifier_circuit_new(&s_opts, NULL, 1);
    s_fail(c, URL, "a", 3, T0);
    /* Requests in flight when it opened: neither success nor failure
     * moves an open circuit. */
    notifier_circuit_report(c, URL, "old1", NOTIFIER_OUTCOME_UP, "", T0 + 1);
    s_fail(c, URL, "old2", 5, T0 + 1);
    cr_assert(eq(int, notifier_circuit_state(c, URL), NOTIFIER_CIRCUIT_OPEN));
    bool trial;
    int64_t back;
    cr_assert(not(notifier_circuit_allow(c, URL, "w", T0 + 2, &trial, &back)));
    cr_assert(le(i64, back, T0 + 1100));
    /* Half-open: another request's failure is not the trial's ... */
    int64_t t = s_trial(c, T0 + 2, "trial");
    s_fail(c, URL, "old3", 1, t + 1);
    cr_assert(
        eq(int, notifier_circuit_state(c, URL), NOTIFIER_CIRCUIT_HALF_OPEN));
    /* ... but any answer proves the endpoint is back. */
    notifier_circuit_report(c, URL, "old4", NOTIFIER_OUTCOME_UP, "", t + 2);
    cr_assert(eq(int, notifier_circuit_state(c, URL), NOTIFIER_CIRCUIT_CLOSED));
    notifier_circuit_destroy(&c);
}

Test(notifier_circuit, a_trial_that_says_nothing_or_is_lost)
{
    notifier_circuit_t *c = notifier_circuit_new(&s_opts, NULL, 1);
    s_fail(c, URL, "a", 3, T0);
    int64_t t = s_trial(c, T0, "t1");
    bool trial;
    int64_t back;
    /* Not sent (no slot): the next delivery may be the trial. */
    notifier_circuit_report(c, URL, "t1", NOTIFIER_OUTCOME_NONE, "", t + 1);
    cr_assert(notifier_circuit_allow(c, URL, "t2", t + 2, &trial, &back));
    cr_assert(trial);
    /* No answer within trial_timeout_ms: it failed. */
    cr_assert(
        not(notifier_circuit_allow(c, URL, "w", t + 2 + 5001, &trial, &back)));
    cr_assert(eq(int, notifier_circuit_state(c, URL), NOTIFIER_CIRCUIT_OPEN));
    cr_assert(ge(i64, back, t + 2 + 5001 + 2000));
    notifier_circuit_destroy(&c);
}

Test(notifier_circuit, zero_failures_means_no_breaker)
{
    notifier_circuit_opts_t o = s_opts;
    o.failures = 0;
    notifier_circuit_t *c = notifier_circuit_new(&o, NULL, 1);
    s_fail(c, URL, "a", 100, T0);
    bool trial;
    int64_t back;
    cr_assert(notifier_circuit_allow(c, URL, "a", T0, &trial, &back));
    cr_assert(eq(int, notifier_circuit_state(c, URL), NOTIFIER_CIRCUIT_CLOSED));
    notifier_circuit_destroy(&c);
}

Test(notifier_circuit, bad_options_are_refused)
{
    notifier_circuit_opts_t o = s_opts;
    o.open_ms = 0;
    cr_assert(eq(ptr, notifier_circuit_new(&o, NULL, 1), NULL));
    o = s_opts;
    o.open_max_ms = o.open_ms - 1;
    cr_assert(eq(ptr, notifier_circuit_new(&o, NULL, 1), NULL));
    o = s_opts;
    o.failures = -1;
    cr_assert(eq(ptr, notifier_circuit_new(&o, NULL, 1), NULL));
}

static double
s_gauge(kj_metrics_t *m, const char *endpoint)
{
    char labels[400];
    snprintf(labels, sizeof labels, "endpoint=\"%s\"", endpoint);
    return kj_gauge_value(
        kj_metrics_gauge(m, "webhook_circuit_open", "", labels));
}

static uint64_t
s_opened(kj_metrics_t *m, const char *endpoint)
{
    char labels[400];
    snprintf(labels, sizeof labels, "endpoint=\"%s\"", endpoint);
    return kj_counter_value(
        kj_metrics_counter(m, "webhook_circuit_opened_total", "", labels));
}

Test(notifier_circuit, metrics_follow_the_state)
{
    kj_metrics_t *m = kj_metrics_new("notifier");
    notifier_circuit_t *c = notifier_circuit_new(&s_opts, m, 1);
    /* Configured endpoints have their series before any delivery. */
    cr_assert(eq(int, notifier_circuit_track(c, URL), 0));
    cr_assert(eq(int, notifier_circuit_track(c, "file:///etc/passwd"), -1));
    char *page = kj_metrics_render(m);
    cr_assert(not(eq(ptr, strstr(page, "kujo_webhook_circuit_open{"), NULL)),
              "%s", page);
    cr_assert(not(eq(ptr, strstr(page, "endpoint=\"http://hooks.example:80\""),
                     NULL)),
              "%s", page);
    /* The path (often a secret) never reaches a label. */
    cr_assert(eq(ptr, strstr(page, "s3cret"), NULL));
    free(page);
    const char *ep = "http://hooks.example:80";
    cr_assert(eq(dbl, s_gauge(m, ep), 0.0));

    s_fail(c, URL, "a", 3, T0);
    cr_assert(eq(dbl, s_gauge(m, ep), 1.0));
    cr_assert(eq(u64, s_opened(m, ep), 1));
    /* Half-open and reopened: still 1, and no new outage counted. */
    int64_t t = s_trial(c, T0, "t1");
    cr_assert(eq(dbl, s_gauge(m, ep), 1.0));
    notifier_circuit_report(c, URL, "t1", NOTIFIER_OUTCOME_DOWN, "HTTP 500",
                            t + 1);
    cr_assert(eq(dbl, s_gauge(m, ep), 1.0));
    cr_assert(eq(u64, s_opened(m, ep), 1));
    t = s_trial(c, t + 2, "t2");
    notifier_circuit_report(c, URL, "t2", NOTIFIER_OUTCOME_UP, "", t + 1);
    cr_assert(eq(dbl, s_gauge(m, ep), 0.0));
    cr_assert(eq(u64, s_opened(m, ep), 1));
    notifier_circuit_destroy(&c);
    kj_metrics_destroy(&m);
}

Test(notifier_circuit, series_are_capped_and_the_rest_is_other)
{
    kj_metrics_t *m = kj_metrics_new("notifier");
    notifier_circuit_t *c = notifier_circuit_new(&s_opts, m, 1);
    cr_assert(eq(dbl, s_gauge(m, "other"), 0.0));
    char url[64];
    for (int i = 0; i < NOTIFIER_CIRCUIT_SERIES + 2; i++) {
        snprintf(url, sizeof url, "http://h%d.example/", i);
        cr_assert(eq(int, notifier_circuit_track(c, url), 0));
    }
    /* The last two share endpoint="other", which counts open circuits. */
    for (int i = NOTIFIER_CIRCUIT_SERIES; i < NOTIFIER_CIRCUIT_SERIES + 2;
         i++) {
        snprintf(url, sizeof url, "http://h%d.example/", i);
        s_fail(c, url, "a", 3, T0);
    }
    cr_assert(eq(dbl, s_gauge(m, "other"), 2.0));
    cr_assert(eq(u64, s_opened(m, "other"), 2));
    char *page = kj_metrics_render(m);
    char want[64];
    snprintf(want, sizeof want, "endpoint=\"http://h%d.example:80\"",
             NOTIFIER_CIRCUIT_SERIES - 1);
    cr_assert(not(eq(ptr, strstr(page, want), NULL)));
    snprintf(want, sizeof want, "endpoint=\"http://h%d.example:80\"",
             NOTIFIER_CIRCUIT_SERIES);
    cr_assert(eq(ptr, strstr(page, want), NULL));
    free(page);
    notifier_circuit_destroy(&c);
    kj_metrics_destroy(&m);
}

Test(notifier_circuit, the_table_is_bounded)
{
    notifier_circuit_t *c = notifier_circuit_new(&s_opts, NULL, 1);
    char url[64];
    for (int i = 0; i < NOTIFIER_CIRCUIT_MAX; i++) {
        snprintf(url, sizeof url, "http://h%d.example/", i);
        cr_assert(eq(int, notifier_circuit_track(c, url), 0));
    }
    /* Known ones are still found; a new one gets no breaker and is let
     * through however it fails. */
    cr_assert(eq(int, notifier_circuit_track(c, "http://h7.example/"), 0));
    cr_assert(eq(int, notifier_circuit_track(c, "http://new.example/"), -1));
    s_fail(c, "http://new.example/", "a", 10, T0);
    bool trial;
    int64_t back;
    cr_assert(notifier_circuit_allow(c, "http://new.example/", "a", T0 + 1,
                                     &trial, &back));
    s_fail(c, "http://h7.example/", "a", 3, T0);
    cr_assert(eq(int, notifier_circuit_state(c, "http://h7.example/"),
                 NOTIFIER_CIRCUIT_OPEN));
    notifier_circuit_destroy(&c);
}

/* Retry-After holds the endpoint until the time it named, longer than an
 * outage's open time if need be, then one trial; a hold never shortens an
 * open circuit. */
Test(notifier_circuit, retry_after_holds_the_endpoint)
{
    notifier_circuit_t *c = notifier_circuit_new(&s_opts, NULL, 1);
    bool trial = false;
    int64_t back = 0;
    notifier_circuit_hold(c, URL, T0 + 5000, T0);
    cr_assert(eq(int, notifier_circuit_state(c, URL), NOTIFIER_CIRCUIT_OPEN));
    cr_assert(not(notifier_circuit_allow(c, URL, "a", T0 + 4999, &trial, &back)));
    cr_assert(ge(i64, back, T0 + 5000));
    cr_assert(notifier_circuit_allow(c, URL, "a", T0 + 5000, &trial, &back));
    cr_assert(trial);
    notifier_circuit_report(c, URL, "a", NOTIFIER_OUTCOME_UP, "", T0 + 5010);
    cr_assert(eq(int, notifier_circuit_state(c, URL), NOTIFIER_CIRCUIT_CLOSED));
    /* A hold shorter than the open time leaves the open time. */
    s_fail(c, URL, "b", 3, T0 + 6000);
    notifier_circuit_hold(c, URL, T0 + 6100, T0 + 6000);
    cr_assert(not(notifier_circuit_allow(c, URL, "c", T0 + 6500, &trial, &back)));
    /* A hold in the past, or with the breaker off, changes nothing. */
    notifier_circuit_hold(c, "http://other.example/", T0, T0 + 10);
    cr_assert(eq(int, notifier_circuit_state(c, "http://other.example/"),
                 NOTIFIER_CIRCUIT_CLOSED));
    notifier_circuit_destroy(&c);
}

/* Places per endpoint: max_inflight at once, given back on release; other
 * endpoints are counted apart; 0 means no bound. */
Test(notifier_circuit, requests_in_flight_per_endpoint)
{
    notifier_circuit_opts_t o = s_opts;
    o.max_inflight = 2;
    notifier_circuit_t *c = notifier_circuit_new(&o, NULL, 1);
    cr_assert(notifier_circuit_acquire(c, URL));
    cr_assert(notifier_circuit_acquire(c, URL));
    cr_assert(not(notifier_circuit_acquire(c, URL)));
    cr_assert(notifier_circuit_acquire(c, "http://other.example/x"));
    notifier_circuit_release(c, URL);
    cr_assert(notifier_circuit_acquire(c, URL));
    /* Releasing more than was taken never goes below zero. */
    for (int i = 0; i < 5; i++)
        notifier_circuit_release(c, URL);
    cr_assert(notifier_circuit_acquire(c, URL));
    cr_assert(notifier_circuit_acquire(c, URL));
    cr_assert(not(notifier_circuit_acquire(c, URL)));
    notifier_circuit_destroy(&c);
    o.max_inflight = 0;
    c = notifier_circuit_new(&o, NULL, 1);
    for (int i = 0; i < 100; i++)
        cr_assert(notifier_circuit_acquire(c, URL));
    notifier_circuit_destroy(&c);
}
