/* analytics_sla: SLA counters raised to the totals read from the SLA
 * hashes, with series from the rules file and a bound on their number. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics_sla.h"
#include "kj_metrics.h"
#include "kj_rules.h"

#define KJ_RULES_PATH KJ_SOURCE_DIR "/deploy/rules.json"

static uint64_t
s_value(kj_metrics_t *m, const char *name, const char *team,
        const char *priority)
{
    char labels[160];
    snprintf(labels, sizeof labels, "team=\"%s\",priority=\"%s\"", team,
             priority);
    return kj_counter_value(kj_metrics_counter(m, name, "", labels));
}

static void
s_add(analytics_sla_t *sla, const char *field, const char *value)
{
    cr_assert(
        eq(int,
           analytics_sla_add(sla, field, strlen(field), value, strlen(value)),
           0),
        "%s", field);
}

Test(analytics_sla, usage_example)
{
    kj_metrics_t *m = kj_metrics_new("analytics");
    analytics_sla_t *sla = analytics_sla_new(m, "kj");
    /* Every refresh reads the totals of all partitions ... */
    analytics_sla_begin(sla);
    s_add(sla, "breached:p2:care-ja", "2");
    s_add(sla, "met:p2:care-ja", "5");
    s_add(sla, "breached:p2:care-ja", "1"); /* another partition */
    analytics_sla_commit(sla);
    /* ... and the counters show them. */
    cr_assert(eq(u64, s_value(m, "sla_breaches_total", "care-ja", "p2"), 3));
    cr_assert(eq(u64, s_value(m, "sla_met_total", "care-ja", "p2"), 5));
    /* The next refresh raises them to the new totals, never adds twice. */
    analytics_sla_begin(sla);
    s_add(sla, "breached:p2:care-ja", "4");
    s_add(sla, "met:p2:care-ja", "5");
    analytics_sla_commit(sla);
    cr_assert(eq(u64, s_value(m, "sla_breaches_total", "care-ja", "p2"), 4));
    cr_assert(eq(u64, s_value(m, "sla_met_total", "care-ja", "p2"), 5));
    analytics_sla_destroy(&sla);
    cr_assert(eq(ptr, sla, NULL));
    kj_metrics_destroy(&m);
}

Test(analytics_sla, counters_never_go_down)
{
    kj_metrics_t *m = kj_metrics_new("analytics");
    analytics_sla_t *sla = analytics_sla_new(m, "kj");
    analytics_sla_begin(sla);
    s_add(sla, "breached:p1:trust-safety", "7");
    analytics_sla_commit(sla);
    /* Redis lost its data: the counter holds until the totals pass it. */
    analytics_sla_begin(sla);
    s_add(sla, "breached:p1:trust-safety", "2");
    analytics_sla_commit(sla);
    cr_assert(
        eq(u64, s_value(m, "sla_breaches_total", "trust-safety", "p1"), 7));
    analytics_sla_begin(sla);
    s_add(sla, "breached:p1:trust-safety", "9");
    analytics_sla_commit(sla);
    cr_assert(
        eq(u64, s_value(m, "sla_breaches_total", "trust-safety", "p1"), 9));
    analytics_sla_destroy(&sla);
    kj_metrics_destroy(&m);
}

Test(analytics_sla, rules_pairs_exist_from_the_start)
{
    char err[512];
    kj_rules_t *rules = kj_rules_load(KJ_RULES_PATH, err, sizeof err);
    cr_assert(not(eq(ptr, rules, NULL)), "%s", err);
    kj_metrics_t *m = kj_metrics_new("analytics");
    analytics_sla_t *sla = analytics_sla_new(m, "kj");
    analytics_sla_track_rules(sla, rules);
    char *page = kj_metrics_render(m);
    /* Every route's team x priority, at 0, for both counters. */
    size_t n = kj_rules_n_routes(rules);
    cr_assert(gt(sz, n, 0));
    for (size_t i = 0; i < n; i++) {
        kj_route_t rt;
        kj_rules_route_at(rules, i, &rt);
        char want[200];
        snprintf(want, sizeof want,
                 "kujo_sla_breaches_total{svc=\"analytics\",team=\"%s\","
                 "priority=\"%s\"} 0",
                 rt.team, rt.priority);
        cr_assert(not(eq(ptr, strstr(page, want), NULL)), "%s in\n%s", want,
                  page);
        snprintf(want, sizeof want,
                 "kujo_sla_met_total{svc=\"analytics\",team=\"%s\","
                 "priority=\"%s\"} 0",
                 rt.team, rt.priority);
        cr_assert(not(eq(ptr, strstr(page, want), NULL)), "%s", want);
    }
    free(page);
    analytics_sla_destroy(&sla);
    kj_metrics_destroy(&m);
    kj_rules_destroy(&rules);
}

Test(analytics_sla, odd_fields_are_refused)
{
    kj_metrics_t *m = kj_metrics_new("analytics");
    analytics_sla_t *sla = analytics_sla_new(m, "kj");
    static const char *const bad[][2] = {
        {"late:p1:t", "1"}, {"met:p1", "1"}, {"met:p1:t", "x"},
        {"met:p1:t", "-1"}, {"met::t", "1"}, {"breached:p1:", "1"},
    };
    analytics_sla_begin(sla);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert(eq(int,
                     analytics_sla_add(sla, bad[i][0], strlen(bad[i][0]),
                                       bad[i][1], strlen(bad[i][1])),
                     -1),
                  "%s=%s", bad[i][0], bad[i][1]);
    analytics_sla_commit(sla);
    /* Only the overflow series, always there, at 0. */
    char *page = kj_metrics_render(m);
    cr_assert(not(eq(ptr,
                     strstr(page, "kujo_sla_breaches_total{svc=\"analytics\","
                                  "team=\"other\",priority=\"other\"} 0"),
                     NULL)),
              "%s", page);
    cr_assert(eq(ptr, strstr(page, "team=\"t\""), NULL), "%s", page);
    cr_assert(eq(ptr, strstr(page, "priority=\"p1\""), NULL), "%s", page);
    free(page);
    /* A label that needs escaping is escaped, not refused. */
    cr_assert(eq(int, analytics_sla_track(sla, "team \"q\"", "p1"), 0));
    page = kj_metrics_render(m);
    cr_assert(not(eq(ptr, strstr(page, "team=\"team \\\"q\\\"\""), NULL)), "%s",
              page);
    free(page);
    analytics_sla_destroy(&sla);
    kj_metrics_destroy(&m);
}

Test(analytics_sla, series_are_capped_and_the_rest_is_other)
{
    kj_metrics_t *m = kj_metrics_new("analytics");
    analytics_sla_t *sla = analytics_sla_new(m, "kj");
    char field[64];
    analytics_sla_begin(sla);
    for (int i = 0; i < ANALYTICS_SLA_SERIES + 3; i++) {
        snprintf(field, sizeof field, "breached:p3:t%d", i);
        s_add(sla, field, "1");
    }
    analytics_sla_commit(sla);
    cr_assert(eq(u64, s_value(m, "sla_breaches_total", "t0", "p3"), 1));
    /* The three past the cap add up in team="other",priority="other". */
    cr_assert(eq(u64, s_value(m, "sla_breaches_total", "other", "other"), 3));
    char *page = kj_metrics_render(m);
    snprintf(field, sizeof field, "team=\"t%d\"", ANALYTICS_SLA_SERIES);
    cr_assert(eq(ptr, strstr(page, field), NULL));
    free(page);
    analytics_sla_destroy(&sla);
    kj_metrics_destroy(&m);
}
