/* The reliability contract under crashes: once ingest has answered 202, a
 * complaint reaches a final state whatever process dies in between. 2,000
 * complaints go in while the classifier, then the router, then the notifier
 * are frozen, fed, killed with SIGKILL and restarted at once, so each dies
 * holding work; every one must end up delivered and the receiver must have
 * seen an alert for each (repeats are allowed: delivery is at least once,
 * with an idempotency key). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "kj_harness.h"
#include "kj_util.h"

#define S_N 2000

static kj_pipeline_t *s_pl;
static char (*s_ids)[32];

static void
s_teardown(void)
{
    kj_pipeline_destroy(&s_pl);
    free(s_ids);
    s_ids = NULL;
}

TestSuite(crash, .fini = s_teardown, .timeout = 300);

static const char *const s_channels[] = {
    "x", "facebook", "email", "chat", "web", "survey", "app_review", "phone"};
static const char *const s_texts[] = {
    "アプリに今朝からログインできません。至急対応してください",
    "I was charged twice for my order, please refund the duplicate.",
    "注文した荷物がまだ届かないです。配送予定日から一週間過ぎています。",
    "The app crashes every time I open the order history screen.",
    "オペレーターの態度がとても失礼でした。",
    "My package is delayed and the tracking page has not changed.",
    "身に覚えのないログイン通知が届きました。不正アクセスでしょうか。",
    "worst company ever",
};

/* Freeze one stage (SIGSTOP): upstream keeps pushing to its socket, so
 * work piles up inside a process that is about to die. */
static void
s_freeze(kj_svc_t svc)
{
    kj_proc_t *p = kj_pipeline_proc(s_pl, svc, 0);
    cr_assert(p != NULL);
    bool was_alive = kj_proc_alive(p);
    KJ_PL_ASSERT(s_pl, was_alive, "%s died on its own before the kill",
                 kj_svc_name(svc));
    cr_assert(eq(int, kj_proc_signal(p, SIGSTOP), 0));
}

/* Kill the frozen stage with SIGKILL, taking whatever it held, and start
 * it again at once, without waiting for it to be ready: the posts keep
 * coming meanwhile. */
static void
s_crash(kj_svc_t svc)
{
    cr_assert(eq(int, kj_pipeline_kill9(s_pl, svc, 0), 0));
    cr_assert(eq(int, kj_pipeline_restart(s_pl, svc, 0), 0),
              "could not restart %s", kj_svc_name(svc));
}

Test(crash, kill9_of_each_stage_mid_stream_loses_nothing)
{
    kj_pipeline_opts_t o = {.lease_ms = 1500, .log_level = "warn"};
    s_pl = kj_pipeline_new(&o);
    cr_assert(s_pl != NULL, "the pipeline did not start");
    s_ids = kj_calloc(S_N, sizeof *s_ids);

    int64_t t0 = kj_mono_ms();
    for (int i = 0; i < S_N; i++) {
        char cust[32], key[32], text[256];
        snprintf(cust, sizeof cust, "crash-%d", i % 97);
        snprintf(key, sizeof key, "crash-%d", i);
        snprintf(text, sizeof text, "%s (#%d)",
                 s_texts[i % KJ_ARRAY_LEN(s_texts)], i);
        char *body =
            kj_test_complaint(s_channels[i % KJ_ARRAY_LEN(s_channels)], cust,
                              i % 3 ? "standard" : "gold", text, NULL);
        int status = kj_pipeline_post(s_pl, body, key, s_ids[i]);
        free(body);
        KJ_PL_ASSERT(s_pl, status == 202, "POST #%d answered %d", i, status);
        /* Each stage dies with the 100 complaints posted since it froze
         * in flight. */
        if (i == 500)
            s_freeze(KJ_SVC_CLASSIFIER);
        else if (i == 600)
            s_crash(KJ_SVC_CLASSIFIER);
        else if (i == 1000)
            s_freeze(KJ_SVC_ROUTER);
        else if (i == 1100)
            s_crash(KJ_SVC_ROUTER);
        else if (i == 1500)
            s_freeze(KJ_SVC_NOTIFIER);
        else if (i == 1600)
            s_crash(KJ_SVC_NOTIFIER);
    }
    fprintf(stderr, "crash: posted %d in %lld ms\n", S_N,
            (long long)(kj_mono_ms() - t0));

    int delivered = kj_pipeline_wait_all(s_pl, s_ids, S_N, "delivered", 120000);
    fprintf(stderr, "crash: %d delivered after %lld ms\n", delivered,
            (long long)(kj_mono_ms() - t0));
    KJ_PL_ASSERT(s_pl, delivered == S_N, "%d of %d delivered", delivered, S_N);

    /* The receiver saw an alert for every complaint, under the key the
     * contract gives it, and nothing else. */
    kj_sink_t *sink = kj_pipeline_sink(s_pl);
    int missing = 0;
    for (int i = 0; i < S_N; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s:team_alert", s_ids[i]);
        if (kj_sink_key_count(sink, key) == 0) {
            if (missing < 5)
                fprintf(stderr, "crash: no alert for %s\n", s_ids[i]);
            missing++;
        }
    }
    kj_sink_stats_t st;
    kj_sink_stats(sink, &st);
    fprintf(stderr, "crash: sink saw %llu requests, %llu distinct keys\n",
            (unsigned long long)st.requests,
            (unsigned long long)st.distinct_keys);
    cr_assert(eq(int, missing, 0));
    cr_assert(eq(u64, st.distinct_keys, (uint64_t)S_N));
    cr_assert(eq(u64, st.bad_signature, 0));
    cr_assert(eq(u64, st.key_mismatch, 0));

    /* The restarted copies are serving, and what the dead ones held came
     * back through their own claims of overdue records. */
    static const kj_svc_t restarted[] = {KJ_SVC_CLASSIFIER, KJ_SVC_ROUTER,
                                         KJ_SVC_NOTIFIER};
    for (size_t k = 0; k < KJ_ARRAY_LEN(restarted); k++) {
        const char *name = kj_svc_name(restarted[k]);
        int ready = kj_pipeline_wait_ready(s_pl, restarted[k], 0, 5000);
        KJ_PL_ASSERT(s_pl, ready == 0, "%s is not ready after its restart",
                     name);
        double reclaimed = 0;
        int rc = kj_pipeline_metric(s_pl, restarted[k], 0,
                                    "kujo_reclaimed_total", NULL, &reclaimed);
        fprintf(stderr, "crash: restarted %s reclaimed %g\n", name, reclaimed);
        cr_assert(eq(int, rc, 0), "%s has no kujo_reclaimed_total", name);
        cr_assert(gt(dbl, reclaimed, 0.0),
                  "%s's lost work was not reclaimed by the restarted copy",
                  name);
    }
}
