/* kj_metrics: values, the text format (checked by promtool itself),
 * grouping, escaping and atomic updates from many threads. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include "kj_metrics.h"
#include "kj_util.h"

TestSuite(metrics, .timeout = 60);

Test(metrics, usage_example)
{
    kj_metrics_t *m = kj_metrics_new("classifier");
    kj_counter_t *stale =
        kj_metrics_counter(m, "envelopes_failed_total",
                           "Envelopes that failed.", "reason=\"stale\"");
    kj_counter_add(stale, 3);
    kj_gauge_t *depth =
        kj_metrics_gauge(m, "queue_depth", "Records waiting.", NULL);
    kj_gauge_set(depth, 12);
    kj_histogram_t *lat =
        kj_metrics_histogram(m, "stage_latency_seconds", "Time in this stage.",
                             NULL, kj_latency_buckets, kj_latency_buckets_len);
    kj_histogram_observe(lat, 0.003);
    char *text = kj_metrics_render(m);
    cr_assert(not(eq(ptr,
                     strstr(text, "kujo_envelopes_failed_total{svc="
                                  "\"classifier\",reason=\"stale\"} 3\n"),
                     NULL)),
              "%s", text);
    cr_assert(
        not(eq(ptr, strstr(text, "kujo_queue_depth{svc=\"classifier\"} 12\n"),
               NULL)),
        "%s", text);
    free(text);
    kj_metrics_destroy(&m);
    cr_assert(eq(ptr, m, NULL));
    kj_metrics_destroy(&m);
}

Test(metrics, same_series_same_object)
{
    kj_metrics_t *m = kj_metrics_new("ingest");
    kj_counter_t *a = kj_metrics_counter(m, "x_total", "X.", "code=\"202\"");
    kj_counter_t *b = kj_metrics_counter(m, "x_total", "X.", "code=\"202\"");
    kj_counter_t *c = kj_metrics_counter(m, "x_total", "X.", "code=\"400\"");
    kj_counter_t *d = kj_metrics_counter(m, "y_total", "Y.", NULL);
    kj_counter_t *e = kj_metrics_counter(m, "y_total", "Y.", "");
    cr_assert(eq(ptr, a, b));
    cr_assert(not(eq(ptr, a, c)));
    cr_assert(eq(ptr, d, e));
    kj_counter_inc(a);
    kj_counter_add(b, 4);
    cr_assert(eq(u64, kj_counter_value(a), 5));
    cr_assert(eq(u64, kj_counter_value(c), 0));
    kj_metrics_destroy(&m);
}

Test(metrics, gauge_values)
{
    kj_metrics_t *m = kj_metrics_new("router");
    kj_gauge_t *g = kj_metrics_gauge(m, "peers", "Peers.", NULL);
    cr_assert(eq(dbl, kj_gauge_value(g), 0.0));
    kj_gauge_set(g, 2.5);
    kj_gauge_add(g, -1.0);
    cr_assert(eq(dbl, kj_gauge_value(g), 1.5));
    kj_gauge_set(g, -0.125);
    char *text = kj_metrics_render(m);
    cr_assert(
        not(eq(ptr, strstr(text, "kujo_peers{svc=\"router\"} -0.125\n"), NULL)),
        "%s", text);
    free(text);
    kj_gauge_set(g, NAN);
    text = kj_metrics_render(m);
    cr_assert(
        not(eq(ptr, strstr(text, "kujo_peers{svc=\"router\"} NaN\n"), NULL)),
        "%s", text);
    free(text);
    kj_gauge_set(g, -INFINITY);
    text = kj_metrics_render(m);
    cr_assert(
        not(eq(ptr, strstr(text, "kujo_peers{svc=\"router\"} -Inf\n"), NULL)),
        "%s", text);
    free(text);
    kj_metrics_destroy(&m);
}

Test(metrics, histogram_cumulative)
{
    static const double bounds[] = {0.1, 1, 10};
    kj_metrics_t *m = kj_metrics_new("notifier");
    kj_histogram_t *h = kj_metrics_histogram(m, "lat_seconds", "Latency.",
                                             "kind=\"team_alert\"", bounds, 3);
    kj_histogram_observe(h, 0.05);
    kj_histogram_observe(h, 0.1); /* le is inclusive */
    kj_histogram_observe(h, 0.5);
    kj_histogram_observe(h, 20);
    kj_histogram_observe(h, NAN); /* dropped */
    char *text = kj_metrics_render(m);
    const char *want =
        "# HELP kujo_lat_seconds Latency.\n"
        "# TYPE kujo_lat_seconds histogram\n"
        "kujo_lat_seconds_bucket{svc=\"notifier\",kind=\"team_alert\","
        "le=\"0.1\"} 2\n"
        "kujo_lat_seconds_bucket{svc=\"notifier\",kind=\"team_alert\","
        "le=\"1\"} 3\n"
        "kujo_lat_seconds_bucket{svc=\"notifier\",kind=\"team_alert\","
        "le=\"10\"} 3\n"
        "kujo_lat_seconds_bucket{svc=\"notifier\",kind=\"team_alert\","
        "le=\"+Inf\"} 4\n"
        "kujo_lat_seconds_sum{svc=\"notifier\",kind=\"team_alert\"} 20.65\n"
        "kujo_lat_seconds_count{svc=\"notifier\",kind=\"team_alert\"} 4\n";
    cr_assert(eq(str, text, (char *)want));
    free(text);
    kj_metrics_destroy(&m);
}

Test(metrics, families_grouped_help_once)
{
    kj_metrics_t *m = kj_metrics_new("ingest");
    kj_counter_inc(kj_metrics_counter(m, "a_total", "A.", "code=\"1\""));
    kj_gauge_set(kj_metrics_gauge(m, "b", "B.", NULL), 1);
    kj_counter_inc(kj_metrics_counter(m, "a_total", "A again.", "code=\"2\""));
    char *text = kj_metrics_render(m);
    const char *want = "# HELP kujo_a_total A.\n"
                       "# TYPE kujo_a_total counter\n"
                       "kujo_a_total{svc=\"ingest\",code=\"1\"} 1\n"
                       "kujo_a_total{svc=\"ingest\",code=\"2\"} 1\n"
                       "# HELP kujo_b B.\n"
                       "# TYPE kujo_b gauge\n"
                       "kujo_b{svc=\"ingest\"} 1\n";
    cr_assert(eq(str, text, (char *)want));
    free(text);
    kj_metrics_destroy(&m);
}

Test(metrics, escaping)
{
    char esc[64];
    cr_assert(
        eq(int, kj_metrics_label_escape("a\"b\\c\nd", esc, sizeof(esc)), 10));
    cr_assert(eq(str, esc, "a\\\"b\\\\c\\nd"));
    cr_assert(eq(int, kj_metrics_label_escape("toolong", esc, 4), -1));
    cr_assert(eq(str, esc, ""));
    cr_assert(eq(int, kj_metrics_label_escape("abc", esc, 4), 3));

    kj_metrics_t *m = kj_metrics_new("we\"ird");
    char labels[128];
    kj_metrics_label_escape("ac\"me\\", esc, sizeof(esc));
    snprintf(labels, sizeof(labels), "tenant=\"%s\"", esc);
    kj_counter_inc(
        kj_metrics_counter(m, "t_total", "Help with \\ and\nnewline.", labels));
    char *text = kj_metrics_render(m);
    const char *want =
        "# HELP kujo_t_total Help with \\\\ and\\nnewline.\n"
        "# TYPE kujo_t_total counter\n"
        "kujo_t_total{svc=\"we\\\"ird\",tenant=\"ac\\\"me\\\\\"} "
        "1\n";
    cr_assert(eq(str, text, (char *)want));
    free(text);
    kj_metrics_destroy(&m);
}

/* Run `promtool check metrics` on text; its exit status. */
static int
s_promtool(const char *text, char *out, size_t out_size)
{
    char path[] = "/tmp/kj_test_prom_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(ge(int, fd, 0));
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    cr_assert(not(eq(ptr, p, NULL)));
    size_t n = fread(out, 1, out_size - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    unlink(path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(metrics, promtool_accepts_render)
{
    kj_metrics_t *m = kj_metrics_new("classifier");
    kj_gauge_set(kj_metrics_gauge(m, "build_info", "Build information.",
                                  "version=\"0.1.0\""),
                 1);
    kj_counter_add(kj_metrics_counter(m, "envelopes_in_total",
                                      "Envelopes taken in.", NULL),
                   10);
    kj_counter_add(kj_metrics_counter(m, "envelopes_failed_total",
                                      "Envelopes that failed.",
                                      "reason=\"stale\""),
                   3);
    kj_histogram_t *h =
        kj_metrics_histogram(m, "stage_latency_seconds", "Time in this stage.",
                             NULL, kj_latency_buckets, kj_latency_buckets_len);
    for (int i = 0; i < 100; i++)
        kj_histogram_observe(h, i * 0.013);
    kj_gauge_set(kj_metrics_gauge(m, "queue_depth", "Records waiting.", NULL),
                 4);
    /* Registered after another family: must still render grouped. */
    kj_counter_add(kj_metrics_counter(m, "envelopes_failed_total",
                                      "Envelopes that failed.",
                                      "reason=\"decode_error\""),
                   1);
    kj_counter_inc(kj_metrics_counter(m, "deliveries_total", "Deliveries.",
                                      "kind=\"team_alert\",result=\"ok\""));
    char *text = kj_metrics_render(m);
    char out[4096];
    int rc = s_promtool(text, out, sizeof(out));
    cr_assert(eq(int, rc, 0), "promtool said:\n%s\non:\n%s", out, text);
    free(text);
    kj_metrics_destroy(&m);
}

Test(metrics, promtool_rejects_split_family)
{
    /* The check above can fail: promtool does refuse a split family. */
    const char *split = "# HELP kujo_a_total A.\n# TYPE kujo_a_total counter\n"
                        "kujo_a_total{x=\"1\"} 1\n"
                        "# HELP kujo_b B.\n# TYPE kujo_b gauge\nkujo_b 1\n"
                        "kujo_a_total{x=\"2\"} 1\n";
    char out[4096];
    cr_assert(not(eq(int, s_promtool(split, out, sizeof(out)), 0)));
}

#define S_THREADS 4
#define S_ITERS 100000

typedef struct {
    kj_counter_t *c;
    kj_gauge_t *g;
    kj_histogram_t *h;
} s_targets_t;

static void *
s_hammer(void *arg)
{
    s_targets_t *t = arg;
    for (int i = 0; i < S_ITERS; i++) {
        kj_counter_inc(t->c);
        kj_gauge_add(t->g, 1.0);
        kj_histogram_observe(t->h, 0.5);
    }
    return NULL;
}

Test(metrics, atomic_updates_from_threads)
{
    static const double bounds[] = {1};
    kj_metrics_t *m = kj_metrics_new("ingest");
    s_targets_t t = {
        kj_metrics_counter(m, "c_total", "C.", NULL),
        kj_metrics_gauge(m, "g", "G.", NULL),
        kj_metrics_histogram(m, "h_seconds", "H.", NULL, bounds, 1),
    };
    pthread_t th[S_THREADS];
    for (int i = 0; i < S_THREADS; i++)
        pthread_create(&th[i], NULL, s_hammer, &t);
    /* Render concurrently with the updates. */
    for (int i = 0; i < 20; i++)
        free(kj_metrics_render(m));
    for (int i = 0; i < S_THREADS; i++)
        pthread_join(th[i], NULL);
    cr_assert(eq(u64, kj_counter_value(t.c), S_THREADS * S_ITERS));
    cr_assert(eq(dbl, kj_gauge_value(t.g), (double)(S_THREADS * S_ITERS)));
    char *text = kj_metrics_render(m);
    char want[128];
    snprintf(want, sizeof(want), "kujo_h_seconds_count{svc=\"ingest\"} %d\n",
             S_THREADS * S_ITERS);
    cr_assert(not(eq(ptr, strstr(text, want), NULL)), "%s", text);
    snprintf(want, sizeof(want), "kujo_h_seconds_sum{svc=\"ingest\"} %d\n",
             S_THREADS * S_ITERS / 2);
    cr_assert(not(eq(ptr, strstr(text, want), NULL)), "%s", text);
    free(text);
    kj_metrics_destroy(&m);
}

Test(metrics, latency_buckets)
{
    cr_assert(eq(sz, kj_latency_buckets_len, 14));
    cr_assert(eq(dbl, kj_latency_buckets[0], 0.0005));
    cr_assert(eq(dbl, kj_latency_buckets[13], 10.0));
    for (size_t i = 1; i < kj_latency_buckets_len; i++)
        cr_assert(gt(dbl, kj_latency_buckets[i], kj_latency_buckets[i - 1]));
}

Test(metrics, bad_labels_abort, .signal = SIGABRT)
{
    kj_metrics_t *m = kj_metrics_new("ingest");
    /* An unescaped quote is a programming error, caught at registration. */
    kj_metrics_counter(m, "x_total", "X.", "tenant=\"a\"b\"");
}

Test(metrics, type_clash_aborts, .signal = SIGABRT)
{
    kj_metrics_t *m = kj_metrics_new("ingest");
    kj_metrics_counter(m, "x_total", "X.", NULL);
    kj_metrics_gauge(m, "x_total", "X.", NULL);
}
