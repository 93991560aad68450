/* Scale-out: a second classifier copy needs no configuration anywhere
 * else. Both copies get work; when one leaves mid-stream (SIGTERM: it
 * drains; SIGKILL: its leases run out and the other copy claims its work),
 * every complaint still reaches delivered. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "kj_harness.h"
#include "kj_util.h"

static kj_pipeline_t *s_pl;

static void
s_teardown(void)
{
    kj_pipeline_destroy(&s_pl);
}

TestSuite(scaleout, .fini = s_teardown, .timeout = 180);

static const char *const s_texts[] = {
    "アプリにログインできません。エラーが出ます。",
    "I was charged twice for the same order, please refund me.",
    "荷物がまだ届きません。追跡番号も更新されていません。",
    "The agent was rude and hung up on me.",
};

/* Start a pipeline with two classifiers and wait until ingest pushes to
 * both. */
static void
s_start(void)
{
    kj_pipeline_opts_t o = {.lease_ms = 2000, .log_level = "warn"};
    o.copies[KJ_SVC_CLASSIFIER] = 2;
    s_pl = kj_pipeline_new(&o);
    cr_assert(s_pl != NULL, "the pipeline did not start");
    int peers = kj_pipeline_wait_peers(s_pl, KJ_SVC_INGEST, 0, 2, 10000);
    KJ_PL_ASSERT(s_pl, peers == 0,
                 "ingest does not see both classifier copies");
}

static void
s_post(char (*ids)[32], int from, int to)
{
    for (int i = from; i < to; i++) {
        char cust[32], key[32], text[200];
        snprintf(cust, sizeof cust, "so-%d", i % 31);
        snprintf(key, sizeof key, "so-%d", i);
        snprintf(text, sizeof text, "%s (#%d)",
                 s_texts[i % KJ_ARRAY_LEN(s_texts)], i);
        char *body = kj_test_complaint(i % 2 ? "email" : "chat", cust,
                                       "standard", text, NULL);
        int status = kj_pipeline_post(s_pl, body, key, ids[i]);
        free(body);
        KJ_PL_ASSERT(s_pl, status == 202, "POST #%d answered %d", i, status);
    }
}

static double
s_taken_in(int copy)
{
    double v = 0;
    int rc = kj_pipeline_metric(s_pl, KJ_SVC_CLASSIFIER, copy,
                                "kujo_envelopes_in_total", NULL, &v);
    KJ_PL_ASSERT(s_pl, rc == 0, "classifier-%d has no kujo_envelopes_in_total",
                 copy);
    return v;
}

Test(scaleout, two_classifier_copies_both_get_work)
{
    s_start();
    enum { N = 200 };
    char ids[N][32];
    s_post(ids, 0, N);
    int delivered = kj_pipeline_wait_all(s_pl, ids, N, "delivered", 60000);
    KJ_PL_ASSERT(s_pl, delivered == N, "%d of %d delivered", delivered, N);
    double a = s_taken_in(0), b = s_taken_in(1);
    fprintf(stderr, "scaleout: classifier-0 took %g, classifier-1 took %g\n", a,
            b);
    cr_assert(gt(dbl, a, 0.0), "classifier-0 got no work");
    cr_assert(gt(dbl, b, 0.0), "classifier-1 got no work");
    cr_assert(ge(dbl, a + b, (double)N));
}

/* Post N, and after the first third take classifier-1 away with sig
 * (SIGTERM or SIGKILL). */
static void
s_leave_mid_stream(int sig)
{
    s_start();
    enum { N = 300 };
    char ids[N][32];
    s_post(ids, 0, N / 3);
    kj_proc_t *p = kj_pipeline_proc(s_pl, KJ_SVC_CLASSIFIER, 1);
    if (sig == SIGKILL) {
        /* Freeze it first and keep posting, so that it dies holding the
         * share ingest pushed to it. */
        cr_assert(eq(int, kj_proc_signal(p, SIGSTOP), 0));
        s_post(ids, N / 3, N / 2);
        cr_assert(eq(int, kj_proc_signal(p, SIGKILL), 0));
        s_post(ids, N / 2, N);
    } else {
        cr_assert(eq(int, kj_proc_signal(p, sig), 0));
        s_post(ids, N / 3, N);
    }
    /* SIGTERM drains (KUJO_DRAIN_MS is 2 s in tests) and exits 0. */
    int status = kj_proc_wait(p, 10000);
    if (sig == SIGTERM) {
        bool clean =
            status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
        KJ_PL_ASSERT(s_pl, clean,
                     "classifier-1 did not drain and exit 0 on SIGTERM "
                     "(status %d)",
                     status);
    } else {
        cr_assert(status != -1 && WIFSIGNALED(status));
    }
    int delivered = kj_pipeline_wait_all(s_pl, ids, N, "delivered", 60000);
    KJ_PL_ASSERT(s_pl, delivered == N, "%d of %d delivered", delivered, N);
    kj_sink_stats_t st;
    kj_sink_stats(kj_pipeline_sink(s_pl), &st);
    cr_assert(eq(u64, st.distinct_keys, (uint64_t)N));
    if (sig == SIGKILL) {
        /* The survivor claimed what the dead copy held. */
        double reclaimed = 0;
        int rc = kj_pipeline_metric(s_pl, KJ_SVC_CLASSIFIER, 0,
                                    "kujo_reclaimed_total", NULL, &reclaimed);
        cr_assert(eq(int, rc, 0));
        cr_assert(gt(dbl, reclaimed, 0.0),
                  "classifier-0 reclaimed nothing from the dead copy");
    }
}

Test(scaleout, sigterm_of_one_copy_mid_stream_loses_nothing)
{
    s_leave_mid_stream(SIGTERM);
}

Test(scaleout, kill9_of_one_copy_mid_stream_loses_nothing)
{
    s_leave_mid_stream(SIGKILL);
}
