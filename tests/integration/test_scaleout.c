/* Scale-out without containers: three ingest copies and two classifier
 * copies as plain processes against one Redis, with one router, notifier
 * and analytics and a real webhook receiver that checks signatures.
 *
 * Complaints are posted by several client threads through a round-robin
 * "load balancer" over the three ingest copies, each with an
 * Idempotency-Key. A request that gets no answer (its copy is gone) is
 * re-posted to the next copy with the same key, as a client behind a load
 * balancer would. Every copy's metrics must show work; then one copy of
 * each kind is taken away mid-stream (SIGKILL while it holds work, or
 * SIGTERM: it drains), and every complaint that was accepted must still
 * reach delivered, with the receiver seeing every complaint's key. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "kj_harness.h"
#include "kj_id.h"
#include "kj_util.h"

enum {
    S_INGESTS = 3,     /* ingest copies behind the "load balancer" */
    S_CLASSIFIERS = 2, /* classifier copies */
    S_POSTERS = 4,     /* client threads posting at once */
    S_N = 300,         /* complaints per test */
    S_ITEM_MS = 15000, /* longest one complaint may take to be accepted */
};

static kj_pipeline_t *s_pl;

static void
s_lb_stop(void);

static void
s_teardown(void)
{
    /* A failed assertion ends the test while clients may still post. */
    s_lb_stop();
    kj_pipeline_destroy(&s_pl);
}

TestSuite(scaleout, .fini = s_teardown, .timeout = 180);

static const char *const s_texts[] = {
    "アプリにログインできません。エラーが出ます。",
    "I was charged twice for the same order, please refund me.",
    "荷物がまだ届きません。追跡番号も更新されていません。",
    "The agent was rude and hung up on me.",
};

/* ------------------------------------------------------------------ */
/* The load balancer: S_POSTERS threads share the items; item i goes to
 * ingest copy i % S_INGESTS, and on no answer to the next copy. */

typedef struct {
    int status; /* final answer, -1: none */
    int tries;  /* requests it took */
    char id[32];
} s_item_t;

typedef struct {
    s_item_t items[S_N];
    atomic_int next;                 /* next item to dispatch */
    atomic_int answered;             /* items with a final answer */
    atomic_int gate;                 /* items >= gate wait for it to move */
    atomic_bool stop;                /* the test is over: post no more */
    atomic_int retried;              /* requests that got no answer */
    atomic_int refused;              /* of those, no connection at all */
    atomic_int inflight[S_INGESTS];  /* requests waiting on each copy */
    atomic_int no_answer[S_INGESTS]; /* requests each copy never answered */
    pthread_mutex_t lock;            /* guards first_err */
    char first_err[256];             /* one transport error, for the log */
    pthread_t threads[S_POSTERS];
    bool running; /* threads started and not joined */
} s_lb_t;

static s_lb_t s_lb;

static void
s_item_body(int i, char key[32], char **body)
{
    char cust[32], text[200];
    snprintf(cust, sizeof cust, "so-%d", i % 31);
    snprintf(key, 32, "so-%d", i);
    snprintf(text, sizeof text, "%s (#%d)", s_texts[i % KJ_ARRAY_LEN(s_texts)],
             i);
    *body = kj_test_complaint(i % 2 ? "email" : "chat", cust, "standard", text,
                              NULL);
}

/* Post item i until a copy answers or S_ITEM_MS passes. */
static void
s_lb_post(kj_client_t *client, int i)
{
    s_item_t *it = &s_lb.items[i];
    char key[32], err[256];
    char *body;
    s_item_body(i, key, &body);
    int copy = i % S_INGESTS;
    int64_t deadline = kj_mono_ms() + S_ITEM_MS;
    int status = -1;
    for (it->tries = 1;; it->tries++) {
        atomic_fetch_add(&s_lb.inflight[copy], 1);
        status =
            kj_pipeline_post_copy(s_pl, client, copy, body, key, it->id, err);
        atomic_fetch_sub(&s_lb.inflight[copy], 1);
        if (status >= 0 || kj_mono_ms() >= deadline || atomic_load(&s_lb.stop))
            break;
        atomic_fetch_add(&s_lb.retried, 1);
        /* curl reconnects once when a kept-alive connection dies before
         * answering, so a cut-off request mostly ends as a refused one. */
        if (strstr(err, "connect"))
            atomic_fetch_add(&s_lb.refused, 1);
        atomic_fetch_add(&s_lb.no_answer[copy], 1);
        pthread_mutex_lock(&s_lb.lock);
        if (!s_lb.first_err[0])
            snprintf(s_lb.first_err, sizeof s_lb.first_err, "ingest-%d: %s",
                     copy, err);
        pthread_mutex_unlock(&s_lb.lock);
        copy = (copy + 1) % S_INGESTS;
        /* Every copy failed in a row: give them a moment. */
        if (it->tries % S_INGESTS == 0)
            kj_test_sleep_ms(20);
    }
    free(body);
    it->status = status;
    atomic_fetch_add(&s_lb.answered, 1);
}

static void *
s_lb_thread(void *arg)
{
    (void)arg;
    kj_client_t *client = kj_client_new(5000);
    for (;;) {
        int i = atomic_fetch_add(&s_lb.next, 1);
        if (i >= S_N)
            break;
        /* The test opens the gate, or stops everything on failure. */
        while (i >= atomic_load(&s_lb.gate) && !atomic_load(&s_lb.stop))
            kj_test_sleep_ms(5);
        if (atomic_load(&s_lb.stop))
            break;
        if (client)
            s_lb_post(client, i);
        else
            atomic_fetch_add(&s_lb.answered, 1); /* status stays -1 */
    }
    kj_client_destroy(&client);
    return NULL;
}

/* Start posting every item; those from gate on wait for s_lb_open. */
static void
s_lb_start(int gate)
{
    memset(&s_lb, 0, sizeof s_lb);
    for (int i = 0; i < S_N; i++)
        s_lb.items[i].status = -1;
    atomic_store(&s_lb.gate, gate);
    pthread_mutex_init(&s_lb.lock, NULL);
    s_lb.running = true;
    for (int t = 0; t < S_POSTERS; t++)
        cr_assert(eq(
            int, pthread_create(&s_lb.threads[t], NULL, s_lb_thread, NULL), 0));
}

static void
s_lb_open(void)
{
    atomic_store(&s_lb.gate, S_N);
}

/* Wait until at least n items are answered. 0, or -1 after timeout_ms. */
static int
s_lb_wait_answered(int n, int timeout_ms)
{
    int64_t deadline = kj_mono_ms() + timeout_ms;
    while (atomic_load(&s_lb.answered) < n) {
        if (kj_mono_ms() >= deadline)
            return -1;
        kj_test_sleep_ms(5);
    }
    return 0;
}

/* Let every item through and wait for the clients to finish. */
static void
s_lb_join(void)
{
    if (!s_lb.running)
        return;
    s_lb_open();
    for (int t = 0; t < S_POSTERS; t++)
        pthread_join(s_lb.threads[t], NULL);
    pthread_mutex_destroy(&s_lb.lock);
    s_lb.running = false;
}

static void
s_lb_stop(void)
{
    atomic_store(&s_lb.stop, true);
    s_lb_join();
}

/* ------------------------------------------------------------------ */
/* Checks */

/* Start 3 ingest + 2 classifier copies and wait until every ingest copy
 * pushes to both classifiers. */
static void
s_start(void)
{
    kj_pipeline_opts_t o = {.lease_ms = 2000, .log_level = "warn"};
    o.copies[KJ_SVC_INGEST] = S_INGESTS;
    o.copies[KJ_SVC_CLASSIFIER] = S_CLASSIFIERS;
    s_pl = kj_pipeline_new(&o);
    cr_assert(s_pl != NULL, "the pipeline did not start");
    for (int i = 0; i < S_INGESTS; i++) {
        int rc = kj_pipeline_wait_peers(s_pl, KJ_SVC_INGEST, i, S_CLASSIFIERS,
                                        10000);
        KJ_PL_ASSERT(s_pl, rc == 0,
                     "ingest-%d does not see both classifier copies", i);
    }
}

/* One metric of one copy, waiting up to timeout_ms for it to be above 0
 * (work is counted when a copy finishes it). */
static double
s_metric_positive(kj_svc_t svc, int copy, const char *name, const char *labels,
                  int timeout_ms)
{
    int64_t deadline = kj_mono_ms() + timeout_ms;
    double v = 0;
    for (;;) {
        int rc = kj_pipeline_metric(s_pl, svc, copy, name, labels, &v);
        if ((rc == 0 && v > 0) || kj_mono_ms() >= deadline)
            break;
        kj_test_sleep_ms(50);
    }
    KJ_PL_ASSERT(s_pl, v > 0, "%s-%d: %s{%s} is %g: it got no work",
                 kj_svc_name(svc), copy, name, labels ? labels : "", v);
    return v;
}

/* Every copy of svc still running shows work. */
static void
s_every_copy_worked(kj_svc_t svc)
{
    for (int i = 0; i < kj_pipeline_copies(s_pl, svc); i++) {
        if (!kj_proc_alive(kj_pipeline_proc(s_pl, svc, i)))
            continue;
        double in =
            s_metric_positive(svc, i, "kujo_envelopes_in_total", NULL, 10000);
        if (svc == KJ_SVC_INGEST) {
            double ok = s_metric_positive(svc, i, "kujo_http_requests_total",
                                          "code=\"202\"", 10000);
            fprintf(stderr, "scaleout: ingest-%d took %g, answered %g 202s\n",
                    i, in, ok);
        } else {
            fprintf(stderr, "scaleout: %s-%d took %g\n", kj_svc_name(svc), i,
                    in);
        }
    }
}

static int
s_cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Every item was accepted (202; 200 only for a re-post whose first copy
 * had stored it before going away) under its own id, reached delivered,
 * and the receiver saw its signed team alert. */
static void
s_nothing_lost(void)
{
    static char ids[S_N][32];
    int dup = 0;
    for (int i = 0; i < S_N; i++) {
        const s_item_t *it = &s_lb.items[i];
        bool ok = it->status == 202 || (it->status == 200 && it->tries > 1);
        KJ_PL_ASSERT(s_pl, ok, "POST #%d: answered %d after %d tries", i,
                     it->status, it->tries);
        KJ_PL_ASSERT(s_pl, kj_id_valid(it->id), "POST #%d: no id", i);
        dup += it->status == 200;
        memcpy(ids[i], it->id, sizeof ids[i]);
    }
    fprintf(stderr,
            "scaleout: %d requests got no answer (%d could not connect) "
            "and were re-posted; %d found their complaint already "
            "stored%s%s\n",
            atomic_load(&s_lb.retried), atomic_load(&s_lb.refused), dup,
            s_lb.first_err[0] ? "; first: " : "", s_lb.first_err);
    int delivered = kj_pipeline_wait_all(s_pl, ids, S_N, "delivered", 60000);
    KJ_PL_ASSERT(s_pl, delivered == S_N, "%d of %d delivered", delivered, S_N);

    kj_sink_t *sink = kj_pipeline_sink(s_pl);
    for (int i = 0; i < S_N; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s:team_alert", ids[i]);
        unsigned seen = kj_sink_key_signed(sink, key);
        KJ_PL_ASSERT(s_pl, seen >= 1,
                     "the receiver never saw a signed %s (POST #%d)", key, i);
    }
    kj_sink_stats_t st;
    kj_sink_stats(sink, &st);
    cr_assert(eq(u64, st.bad_signature, 0));
    /* One complaint per key: re-posts made no second complaint. */
    cr_assert(eq(u64, st.distinct_keys, (uint64_t)S_N));
    qsort(ids, S_N, sizeof ids[0], s_cmp_id);
    for (int i = 1; i < S_N; i++)
        cr_assert(strcmp(ids[i - 1], ids[i]) != 0, "two keys got id %s",
                  ids[i]);
}

/* A client retrying later through any copy left gets the same complaint
 * back (200 and its id), whichever copy took it first. */
static void
s_keys_hold_across_copies(void)
{
    for (int i = 0; i < S_N; i++) {
        int copy = (i + 1) % S_INGESTS;
        while (!kj_proc_alive(kj_pipeline_proc(s_pl, KJ_SVC_INGEST, copy)))
            copy = (copy + 1) % S_INGESTS;
        char key[32], id[32], err[256];
        char *body;
        s_item_body(i, key, &body);
        int status =
            kj_pipeline_post_copy(s_pl, NULL, copy, body, key, id, err);
        free(body);
        KJ_PL_ASSERT(s_pl, status == 200,
                     "re-POST #%d to ingest-%d: %d (%s), wanted 200", i, copy,
                     status, err);
        cr_assert(eq(str, id, s_lb.items[i].id),
                  "re-POST #%d to ingest-%d named another complaint", i, copy);
    }
}

/* ------------------------------------------------------------------ */
/* Tests */

Test(scaleout, load_spreads_over_every_copy)
{
    s_start();
    s_lb_start(S_N);
    s_lb_join();
    s_nothing_lost();
    cr_assert(eq(int, atomic_load(&s_lb.retried), 0));
    s_every_copy_worked(KJ_SVC_INGEST);
    s_every_copy_worked(KJ_SVC_CLASSIFIER);
    /* Round robin with no failures: each ingest copy took exactly its
     * third, and the classifiers between them saw every complaint. */
    double sum = 0;
    for (int i = 0; i < S_INGESTS; i++) {
        double in = 0;
        kj_pipeline_metric(s_pl, KJ_SVC_INGEST, i, "kujo_envelopes_in_total",
                           NULL, &in);
        cr_assert(eq(dbl, in, (double)(S_N / S_INGESTS)), "ingest-%d took %g",
                  i, in);
    }
    for (int i = 0; i < S_CLASSIFIERS; i++) {
        double in = 0;
        kj_pipeline_metric(s_pl, KJ_SVC_CLASSIFIER, i,
                           "kujo_envelopes_in_total", NULL, &in);
        sum += in;
    }
    cr_assert(ge(dbl, sum, (double)S_N));
    s_keys_hold_across_copies();
}

/* Post S_N; once a third is answered, take copy `victim` of svc away with
 * sig while posting goes on. For SIGKILL the copy is frozen first and
 * killed only once it holds work: requests waiting on it (ingest), or
 * envelopes pushed to it (classifier). The last third is posted only after
 * it is gone, so the survivors alone take it. */
static void
s_leave_mid_stream(kj_svc_t svc, int victim, int sig)
{
    s_start();
    s_lb_start(2 * S_N / 3);
    int rc = s_lb_wait_answered(S_N / 3, 30000);
    KJ_PL_ASSERT(s_pl, rc == 0, "the first third was not answered");
    /* Before any copy leaves: every copy has work. */
    s_every_copy_worked(KJ_SVC_INGEST);
    s_every_copy_worked(KJ_SVC_CLASSIFIER);

    kj_proc_t *p = kj_pipeline_proc(s_pl, svc, victim);
    if (sig == SIGKILL) {
        cr_assert(eq(int, kj_proc_signal(p, SIGSTOP), 0));
        if (svc == KJ_SVC_INGEST) {
            /* Clients wait on the frozen copy: the kill cuts them off. */
            int64_t deadline = kj_mono_ms() + 5000;
            while (atomic_load(&s_lb.inflight[victim]) < 2 &&
                   kj_mono_ms() < deadline)
                kj_test_sleep_ms(5);
            cr_assert(ge(int, atomic_load(&s_lb.inflight[victim]), 1),
                      "no request was waiting on the frozen ingest-%d", victim);
        } else {
            /* Ingest pushes a share of the next items to the frozen copy. */
            rc = s_lb_wait_answered(S_N / 2, 30000);
            KJ_PL_ASSERT(s_pl, rc == 0, "posting stalled");
        }
        cr_assert(eq(int, kj_proc_signal(p, SIGKILL), 0));
    } else {
        cr_assert(eq(int, kj_proc_signal(p, sig), 0));
    }
    /* SIGTERM drains (KUJO_DRAIN_MS is 2 s in tests) and exits 0. */
    int status = kj_proc_wait(p, 10000);
    if (sig == SIGTERM) {
        bool clean =
            status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
        KJ_PL_ASSERT(s_pl, clean,
                     "%s-%d did not drain and exit 0 on SIGTERM (status %d)",
                     kj_svc_name(svc), victim, status);
    } else {
        cr_assert(status != -1 && WIFSIGNALED(status));
    }
    s_lb_join();

    s_nothing_lost();
    if (svc == KJ_SVC_INGEST) {
        /* Round robin kept sending to the gone copy; every such request
         * found another copy. */
        cr_assert(gt(int, atomic_load(&s_lb.no_answer[victim]), 0),
                  "no request to the gone ingest-%d went unanswered", victim);
        s_keys_hold_across_copies();
    }
    if (svc == KJ_SVC_CLASSIFIER && sig == SIGKILL) {
        /* The survivor claimed what the dead copy held. */
        double reclaimed = 0;
        rc = kj_pipeline_metric(s_pl, KJ_SVC_CLASSIFIER, 1 - victim,
                                "kujo_reclaimed_total", NULL, &reclaimed);
        cr_assert(eq(int, rc, 0));
        cr_assert(gt(dbl, reclaimed, 0.0),
                  "classifier-%d reclaimed nothing from the dead copy",
                  1 - victim);
    }
    /* The survivors show work after the loss too. */
    s_every_copy_worked(KJ_SVC_INGEST);
    s_every_copy_worked(KJ_SVC_CLASSIFIER);
}

Test(scaleout, kill9_of_an_ingest_copy_mid_stream_loses_nothing)
{
    /* Copy 0, so that record reads must move to another copy too. */
    s_leave_mid_stream(KJ_SVC_INGEST, 0, SIGKILL);
}

Test(scaleout, sigterm_of_an_ingest_copy_mid_stream_loses_nothing)
{
    s_leave_mid_stream(KJ_SVC_INGEST, 2, SIGTERM);
}

Test(scaleout, kill9_of_a_classifier_copy_mid_stream_loses_nothing)
{
    s_leave_mid_stream(KJ_SVC_CLASSIFIER, 0, SIGKILL);
}

Test(scaleout, sigterm_of_a_classifier_copy_mid_stream_loses_nothing)
{
    s_leave_mid_stream(KJ_SVC_CLASSIFIER, 1, SIGTERM);
}
