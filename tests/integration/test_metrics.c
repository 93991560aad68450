/* Every service's /metrics page, after real traffic has gone through the
 * pipeline: Prometheus's own checker (promtool check metrics) accepts it,
 * every sample carries svc="<service>", and each service shows the metric
 * names docs/ARCHITECTURE.md promises. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kj_harness.h"
#include "kj_util.h"

static kj_pipeline_t *s_pl;

static void
s_teardown(void)
{
    kj_pipeline_destroy(&s_pl);
}

TestSuite(metrics, .fini = s_teardown, .timeout = 180);

enum { N = 24 };

/* Run promtool on page; its exit status (0: accepted) and what it said
 * into said[size]. */
static int
s_promtool(const char *page, char *said, size_t size)
{
    char out[] = "/tmp/kj-promtool-XXXXXX";
    int fd = mkstemp(out);
    if (fd < 0)
        return -1;
    close(fd);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "promtool check metrics >%s 2>&1", out);
    FILE *p = popen(cmd, "w");
    if (!p) {
        unlink(out);
        return -1;
    }
    fputs(page, p);
    int status = pclose(p);
    said[0] = '\0';
    FILE *f = fopen(out, "r");
    if (f) {
        size_t n = fread(said, 1, size - 1, f);
        said[n] = '\0';
        fclose(f);
    }
    unlink(out);
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Every sample line carries svc="<svc>". Returns the first line that
 * does not (caller frees), or NULL. */
static char *
s_unlabelled(const char *page, const char *svc)
{
    char want[64];
    snprintf(want, sizeof want, "svc=\"%s\"", svc);
    const char *line = page;
    while (line && *line) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len > 0 && line[0] != '#') {
            char *l = kj_strndup(line, len);
            if (!strstr(l, want))
                return l;
            free(l);
        }
        line = eol ? eol + 1 : NULL;
    }
    return NULL;
}

static void
s_run_traffic(void)
{
    s_pl = kj_pipeline_new(NULL);
    cr_assert(s_pl != NULL, "the pipeline did not start");
    static const char *const texts[] = {
        "アプリにログインできません。至急対応してください",
        "I was charged twice for my order, please refund the duplicate.",
        "荷物がまだ届きません。",
        "worst company ever",
    };
    char ids[N][32];
    for (int i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof key, "m-%d", i);
        char *body = kj_test_complaint(i % 2 ? "x" : "email", "c-m", NULL,
                                       texts[i % KJ_ARRAY_LEN(texts)], NULL);
        int status = kj_pipeline_post(s_pl, body, key, ids[i]);
        free(body);
        KJ_PL_ASSERT(s_pl, status == 202, "POST #%d answered %d", i, status);
    }
    /* One bad request, so ingest has a non-2xx answer to count. */
    char bad_id[32];
    int bad = kj_pipeline_post(s_pl, "{\"channel\":\"x\"}", NULL, bad_id);
    cr_assert(eq(int, bad, 400));
    int delivered = kj_pipeline_wait_all(s_pl, ids, N, "delivered", 30000);
    KJ_PL_ASSERT(s_pl, delivered == N, "%d of %d delivered", delivered, N);
    /* Analytics counts from the event streams, on its own schedule. */
    for (int waited = 0; waited < 15000; waited += 100) {
        json_t *st = kj_pipeline_stats(s_pl);
        json_int_t d = json_integer_value(json_object_get(st, "delivered"));
        if (st)
            json_decref(st);
        if (d >= N)
            break;
        kj_test_sleep_ms(100);
    }
}

Test(metrics, promtool_accepts_every_page_and_names_are_standard)
{
    s_run_traffic();

    /* Which names each service must show (ARCHITECTURE.md, Metrics). */
    static const char *const everyone[] = {"kujo_build_info",
                                           "kujo_redis_errors_total"};
    static const char *const stages[] = {
        "kujo_envelopes_in_total", "kujo_envelopes_out_total",
        "kujo_stage_latency_seconds", "kujo_zmq_errors_total"};
    static const char *const consumers[] = {
        "kujo_queue_depth", "kujo_reclaimed_total", "kujo_dead_letters_total"};
    for (int s = 0; s < KJ_SVC_COUNT; s++) {
        const char *svc = kj_svc_name((kj_svc_t)s);
        char *page = kj_pipeline_metrics(s_pl, (kj_svc_t)s, 0);
        KJ_PL_ASSERT(s_pl, page != NULL, "no /metrics page from %s", svc);

        char said[4096];
        int rc = s_promtool(page, said, sizeof said);
        cr_assert(eq(int, rc, 0),
                  "promtool rejects %s's /metrics:\n%s\n"
                  "--- page ---\n%.4000s",
                  svc, said, page);

        char *bad = s_unlabelled(page, svc);
        cr_assert(bad == NULL, "%s: a sample without svc=\"%s\": %s", svc, svc,
                  bad ? bad : "");

        double v = 0;
        cr_assert(
            gt(int, kj_prom_value(page, "kujo_build_info", "version=", &v), 0),
            "%s: no kujo_build_info{version=...}", svc);
        cr_assert(eq(dbl, v, 1.0));
        for (size_t k = 0; k < KJ_ARRAY_LEN(everyone); k++)
            cr_assert(kj_prom_has(page, everyone[k]), "%s lacks %s", svc,
                      everyone[k]);
        bool in_pipeline = s != KJ_SVC_ANALYTICS;
        for (size_t k = 0; in_pipeline && k < KJ_ARRAY_LEN(stages); k++)
            cr_assert(kj_prom_has(page, stages[k]), "%s lacks %s", svc,
                      stages[k]);
        bool consumer = s == KJ_SVC_CLASSIFIER || s == KJ_SVC_ROUTER ||
                        s == KJ_SVC_NOTIFIER;
        for (size_t k = 0; consumer && k < KJ_ARRAY_LEN(consumers); k++)
            cr_assert(kj_prom_has(page, consumers[k]), "%s lacks %s", svc,
                      consumers[k]);
        if (s == KJ_SVC_INGEST || s == KJ_SVC_CLASSIFIER || s == KJ_SVC_ROUTER)
            cr_assert(kj_prom_has(page, "kujo_downstream_peers"),
                      "%s lacks kujo_downstream_peers", svc);
        if (s == KJ_SVC_CLASSIFIER)
            cr_assert(kj_prom_has(page, "kujo_classifier_spam_total"),
                      "classifier lacks kujo_classifier_spam_total");

        /* The counts follow the traffic that went through. */
        switch (s) {
        case KJ_SVC_INGEST:
            cr_assert(gt(int,
                         kj_prom_value(page, "kujo_http_requests_total",
                                       "code=\"400\"", &v),
                         0),
                      "ingest did not count its 400");
            kj_prom_value(page, "kujo_envelopes_in_total", NULL, &v);
            cr_assert(ge(dbl, v, (double)N));
            break;
        case KJ_SVC_CLASSIFIER:
        case KJ_SVC_ROUTER:
            kj_prom_value(page, "kujo_envelopes_out_total", NULL, &v);
            cr_assert(ge(dbl, v, (double)N), "%s passed on %g", svc, v);
            break;
        case KJ_SVC_NOTIFIER:
            cr_assert(gt(int,
                         kj_prom_value(page, "kujo_deliveries_total",
                                       "kind=\"team_alert\"", &v),
                         0),
                      "notifier lacks kujo_deliveries_total{kind=...}");
            cr_assert(ge(dbl, v, (double)N));
            break;
        case KJ_SVC_ANALYTICS:
            cr_assert(kj_prom_has(page, "kujo_http_requests_total"));
            kj_prom_value(page, "kujo_events_processed_total", NULL, &v);
            cr_assert(ge(dbl, v, (double)N), "analytics processed %g", v);
            break;
        default:
            break;
        }
        free(page);
    }
}
