/* No lease waits: a complaint posted the moment ingest says ready is
 * delivered at once, and work held by a classifier that was killed is
 * taken by its restarted copy at once, not after the lease. The lease is
 * the production default (10 s), so waiting it out would fail both. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <stdlib.h>

#include <curl/curl.h>

#include "kj_harness.h"
#include "kj_util.h"

#define LEASE_MS 10000
#define N_INFLIGHT 100

static kj_pipeline_t *s_pl;

static void
s_teardown(void)
{
    kj_pipeline_destroy(&s_pl);
}

/* GET url; the HTTP status or -1. */
static long
s_status(const char *url)
{
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 500L);
    curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
    FILE *sink = fopen("/dev/null", "w");
    curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
    long status = -1;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    fclose(sink);
    curl_easy_cleanup(c);
    return status;
}

TestSuite(coldstart, .fini = s_teardown, .timeout = 120);

Test(coldstart, posted_the_moment_ingest_is_ready_is_delivered_within_1s)
{
    kj_pipeline_opts_t o = {.lease_ms = LEASE_MS, .no_wait = true};
    s_pl = kj_pipeline_new(&o);
    cr_assert(ne(ptr, s_pl, NULL));
    char url[128];
    snprintf(url, sizeof url, "%s/readyz",
             kj_pipeline_admin_url(s_pl, KJ_SVC_INGEST, 0));
    int64_t deadline = kj_mono_ms() + 15000;
    while (s_status(url) != 200 && kj_mono_ms() < deadline)
        kj_test_sleep_ms(5);
    KJ_PL_ASSERT(s_pl, kj_mono_ms() < deadline, "ingest never became ready");

    char *body = kj_test_complaint("web", "cold-1", NULL,
                                   "The app crashes when I open my bill", NULL);
    char id[32];
    int64_t posted = kj_mono_ms();
    cr_assert(eq(int, kj_pipeline_post(s_pl, body, "cold-1", id), 202));
    free(body);
    json_t *rec = kj_pipeline_wait_state(s_pl, id, "delivered", 5000);
    int64_t took = kj_mono_ms() - posted;
    KJ_PL_ASSERT(s_pl, rec != NULL, "not delivered");
    json_decref(rec);
    KJ_PL_ASSERT(s_pl, took <= 1000, "delivered after %lld ms",
                 (long long)took);
}

Test(coldstart, restarted_classifier_takes_the_backlog_at_once)
{
    kj_pipeline_opts_t o = {.lease_ms = LEASE_MS};
    s_pl = kj_pipeline_new(&o);
    cr_assert(ne(ptr, s_pl, NULL));

    /* 100 complaints in flight when the classifier dies: posted, then the
     * classifier killed before it could finish them all. */
    static char ids[N_INFLIGHT][32];
    for (int i = 0; i < N_INFLIGHT; i++) {
        char key[32], text[96];
        snprintf(key, sizeof key, "restart-%d", i);
        snprintf(text, sizeof text,
                 "Order %d never arrived and nobody "
                 "answers the phone",
                 i);
        char *body = kj_test_complaint("email", key, NULL, text, NULL);
        if (i == N_INFLIGHT / 10)
            cr_assert(
                eq(int, kj_pipeline_kill9(s_pl, KJ_SVC_CLASSIFIER, 0), 0));
        cr_assert(eq(int, kj_pipeline_post(s_pl, body, key, ids[i]), 202));
        free(body);
    }
    /* Nothing moves while it is gone (and the lease is far off). */
    kj_test_sleep_ms(500);

    cr_assert(eq(int, kj_pipeline_restart(s_pl, KJ_SVC_CLASSIFIER, 0), 0));
    int64_t restarted = kj_mono_ms();
    int done = kj_pipeline_wait_all(s_pl, ids, N_INFLIGHT, "delivered", 8000);
    int64_t took = kj_mono_ms() - restarted;
    KJ_PL_ASSERT(s_pl, done == N_INFLIGHT, "%d of %d delivered", done,
                 N_INFLIGHT);
    KJ_PL_ASSERT(s_pl, took <= 2000,
                 "the backlog took %lld ms after the restart", (long long)took);
}
