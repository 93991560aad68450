/* What each event adds to the counters, and the summed /v1/stats document. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "analytics_count.h"

static kj_event_t
s_event(const char *state)
{
    kj_event_t ev;
    memset(&ev, 0, sizeof ev);
    strcpy(ev.complaint_id, "0193a5b2c3d4e5f6a7b8");
    strcpy(ev.state, state);
    strcpy(ev.channel, "x");
    strcpy(ev.language, "ja");
    strcpy(ev.category, "outage");
    strcpy(ev.sentiment, "negative");
    strcpy(ev.team, "care-ja");
    return ev;
}

/* Feed increments into a stats sum as the Lua script would HINCRBY them. */
static void
s_apply(analytics_stats_t *st, const analytics_incr_t *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char v[24];
        snprintf(v, sizeof v, "%lld", (long long)in[i].by);
        cr_assert(eq(int,
                     analytics_stats_add(st, in[i].field, strlen(in[i].field),
                                         v, strlen(v)),
                     0),
                  "field %s", in[i].field);
    }
}

static json_t *
s_render(const analytics_stats_t *st)
{
    char *s = analytics_stats_render(st);
    json_error_t err;
    json_t *o = json_loads(s, 0, &err);
    cr_assert_not_null(o, "%s: %s", err.text, s);
    free(s);
    return o;
}

static long long
s_get(json_t *o, const char *group, const char *label)
{
    json_t *g = label ? json_object_get(o, group) : o;
    json_t *v = json_object_get(g, label ? label : group);
    cr_assert(eq(int, json_is_integer(v) ? 1 : 0, 1), "%s.%s", group,
              label ? label : "");
    return json_integer_value(v);
}

Test(analytics_count, usage)
{
    kj_event_t ev = s_event("classified");
    analytics_incr_t incr[ANALYTICS_MAX_INCRS];
    size_t n = analytics_count_event(&ev, incr, ANALYTICS_MAX_INCRS);
    cr_assert(eq(sz, n, 5));
    cr_assert(eq(str, incr[0].field, "events"));
    cr_assert(eq(str, incr[1].field, "by_state:classified"));
    cr_assert(eq(str, incr[2].field, "by_language:ja"));
    cr_assert(eq(str, incr[3].field, "by_category:outage"));
    cr_assert(eq(str, incr[4].field, "by_sentiment:negative"));
    for (size_t i = 0; i < n; i++)
        cr_assert(eq(i64, incr[i].by, 1));

    analytics_stats_t *st = analytics_stats_new();
    s_apply(st, incr, n);
    json_t *o = s_render(st);
    cr_assert(eq(i64, s_get(o, "by_language", "ja"), 1));
    cr_assert(eq(i64, s_get(o, "events", NULL), 1));
    json_decref(o);
    analytics_stats_destroy(&st);
    cr_assert_null(st);
}

Test(analytics_count, each_state_counts_its_own_labels)
{
    analytics_incr_t incr[ANALYTICS_MAX_INCRS];
    kj_event_t ev = s_event("received");
    size_t n = analytics_count_event(&ev, incr, ANALYTICS_MAX_INCRS);
    cr_assert(eq(sz, n, 3));
    cr_assert(eq(str, incr[2].field, "by_channel:x"));

    ev = s_event("routed");
    n = analytics_count_event(&ev, incr, ANALYTICS_MAX_INCRS);
    cr_assert(eq(sz, n, 3));
    cr_assert(eq(str, incr[2].field, "by_team:care-ja"));

    ev = s_event("delivered");
    ev.e2e_ms = 42;
    n = analytics_count_event(&ev, incr, ANALYTICS_MAX_INCRS);
    cr_assert(eq(sz, n, 4));
    cr_assert(eq(str, incr[2].field, "delivered"));
    cr_assert(eq(str, incr[3].field, "e2e_ms_sum"));
    cr_assert(eq(i64, incr[3].by, 42));

    /* A negative end-to-end time (clock step) adds nothing to the sum. */
    ev.e2e_ms = -5;
    n = analytics_count_event(&ev, incr, ANALYTICS_MAX_INCRS);
    cr_assert(eq(i64, incr[3].by, 0));

    ev = s_event("dead");
    n = analytics_count_event(&ev, incr, ANALYTICS_MAX_INCRS);
    cr_assert(eq(sz, n, 2));
    cr_assert(eq(str, incr[1].field, "by_state:dead"));
}

Test(analytics_count, empty_labels_are_not_counted)
{
    analytics_incr_t incr[ANALYTICS_MAX_INCRS];
    kj_event_t ev = s_event("classified");
    ev.sentiment[0] = '\0';
    ev.category[0] = '\0';
    size_t n = analytics_count_event(&ev, incr, ANALYTICS_MAX_INCRS);
    cr_assert(eq(sz, n, 3));
    cr_assert(eq(str, incr[2].field, "by_language:ja"));

    /* A short output array is never overrun. */
    ev = s_event("classified");
    n = analytics_count_event(&ev, incr, 2);
    cr_assert(eq(sz, n, 2));
}

Test(analytics_count, document_sums_partitions)
{
    analytics_stats_t *st = analytics_stats_new();
    analytics_incr_t incr[ANALYTICS_MAX_INCRS];
    /* Three complaints through the pipeline; one of them dies. */
    const char *chans[] = {"x", "email", "x"};
    for (int c = 0; c < 3; c++) {
        const char *path[] = {"received", "classified", "routed",
                              c == 2 ? "dead" : "delivered"};
        for (int s = 0; s < 4; s++) {
            kj_event_t ev = s_event(path[s]);
            strcpy(ev.channel, chans[c]);
            if (c == 1)
                strcpy(ev.language, "en");
            ev.e2e_ms = c == 0 ? 10 : 15;
            size_t n = analytics_count_event(&ev, incr, ANALYTICS_MAX_INCRS);
            s_apply(st, incr, n);
        }
    }
    json_t *o = s_render(st);
    cr_assert(eq(i64, s_get(o, "total", NULL), 3));
    cr_assert(eq(i64, s_get(o, "by_state", "received"), 3));
    cr_assert(eq(i64, s_get(o, "by_state", "delivered"), 2));
    cr_assert(eq(i64, s_get(o, "by_state", "dead"), 1));
    cr_assert(eq(i64, s_get(o, "by_channel", "x"), 2));
    cr_assert(eq(i64, s_get(o, "by_channel", "email"), 1));
    cr_assert(eq(i64, s_get(o, "by_language", "ja"), 2));
    cr_assert(eq(i64, s_get(o, "by_language", "en"), 1));
    cr_assert(eq(i64, s_get(o, "by_team", "care-ja"), 3));
    cr_assert(eq(i64, s_get(o, "delivered", NULL), 2));
    cr_assert(eq(i64, s_get(o, "events", NULL), 12));
    cr_assert(eq(dbl, json_real_value(json_object_get(o, "e2e_ms_avg")), 12.5));
    json_decref(o);

    /* The same fields again, as another partition's hash: sums add up. */
    cr_assert(eq(int, analytics_stats_add(st, "by_channel:x", 12, "5", 1), 0));
    o = s_render(st);
    cr_assert(eq(i64, s_get(o, "by_channel", "x"), 7));
    json_decref(o);
    analytics_stats_destroy(&st);
}

Test(analytics_count, empty_document_has_every_key)
{
    analytics_stats_t *st = analytics_stats_new();
    char *s = analytics_stats_render(st);
    cr_assert(eq(str, s,
                 "{\"total\":0,\"by_state\":{\"received\":0,\"classified\":0,"
                 "\"routed\":0,\"delivered\":0,\"dead\":0},\"by_channel\":{},"
                 "\"by_language\":{},\"by_category\":{},\"by_sentiment\":{},"
                 "\"by_team\":{},\"delivered\":0,\"e2e_ms_avg\":null,"
                 "\"events\":0,\"sla\":{\"breached\":0,\"met\":0,"
                 "\"by_team\":{},\"by_priority\":{}},\"surveys\":{\"nps\":{"
                 "\"responses\":0,\"promoters\":0,\"passives\":0,"
                 "\"detractors\":0,\"score\":null},\"csat\":{\"responses\":0,"
                 "\"satisfied\":0,\"neutral\":0,\"unsatisfied\":0,\"score\":"
                 "null},\"by_tenant\":{}}}"));
    free(s);
    analytics_stats_destroy(&st);
}

Test(analytics_count, surveys_give_nps_and_csat_per_tenant_and_day)
{
    analytics_stats_t *st = analytics_stats_new();
#define S_ADD(t, f, v)                                                         \
    analytics_stats_add_survey(st, t, f, strlen(f), v, strlen(v))
    cr_assert(eq(int, S_ADD("acme", "nps:2026-12-07:promoter", "3"), 0));
    cr_assert(eq(int, S_ADD("acme", "nps:2026-12-07:passive", "1"), 0));
    cr_assert(eq(int, S_ADD("acme", "nps:2026-12-08:detractor", "1"), 0));
    cr_assert(eq(int, S_ADD("beta", "nps:2026-12-07:detractor", "2"), 0));
    cr_assert(eq(int, S_ADD("acme", "csat:2026-12-07:satisfied", "3"), 0));
    cr_assert(eq(int, S_ADD("acme", "csat:2026-12-07:unsatisfied", "1"), 0));
    /* Not fields kujo writes. */
    cr_assert(eq(int, S_ADD("acme", "nps:2026-12-07:satisfied", "1"), -1));
    cr_assert(eq(int, S_ADD("acme", "nps:20261207:promoter", "1"), -1));
    cr_assert(eq(int, S_ADD("acme", "ces:2026-12-07:promoter", "1"), -1));
    cr_assert(eq(int, S_ADD("acme", "nps:2026-12-07:promoter", "x"), -1));
    cr_assert(eq(int, S_ADD("acme", "nps:2026-12-07:promoter", "-1"), -1));
#undef S_ADD
    json_t *o = s_render(st);
    json_t *sv = json_object_get(o, "surveys");
    json_t *nps = json_object_get(sv, "nps");
    /* 3 promoters, 1 passive, 3 detractors: (3 - 3) / 7 = 0. */
    cr_assert(eq(i64, json_integer_value(json_object_get(nps, "responses")),
                 7));
    cr_assert(eq(dbl, json_real_value(json_object_get(nps, "score")), 0.0));
    json_t *acme = json_object_get(json_object_get(sv, "by_tenant"), "acme");
    /* acme: 3 promoters, 1 passive, 1 detractor: 60 - 20 = 40. */
    cr_assert(eq(dbl,
                 json_real_value(
                     json_object_get(json_object_get(acme, "nps"), "score")),
                 40.0));
    /* CSAT: 3 of 4 satisfied. */
    cr_assert(eq(dbl,
                 json_real_value(
                     json_object_get(json_object_get(acme, "csat"), "score")),
                 75.0));
    json_t *day = json_object_get(json_object_get(acme, "by_day"), "2026-12-08");
    cr_assert(eq(dbl,
                 json_real_value(
                     json_object_get(json_object_get(day, "nps"), "score")),
                 -100.0));
    json_decref(o);
    analytics_stats_destroy(&st);
}

Test(analytics_count, labels_are_sorted_and_average_rounded)
{
    analytics_stats_t *st = analytics_stats_new();
    analytics_stats_add(st, "by_team:zeta", 12, "1", 1);
    analytics_stats_add(st, "by_team:alpha", 13, "2", 1);
    analytics_stats_add(st, "delivered", 9, "3", 1);
    analytics_stats_add(st, "e2e_ms_sum", 10, "43", 2);
    char *s = analytics_stats_render(st);
    cr_assert_not_null(strstr(s, "\"by_team\":{\"alpha\":2,\"zeta\":1}"), "%s",
                       s);
    cr_assert_not_null(strstr(s, "\"e2e_ms_avg\":14.3"), "%s", s);
    free(s);
    analytics_stats_destroy(&st);
}

Test(analytics_count, bad_fields_and_values_are_refused)
{
    analytics_stats_t *st = analytics_stats_new();
    cr_assert(eq(int, analytics_stats_add(st, "unknown", 7, "1", 1), -1));
    cr_assert(eq(int, analytics_stats_add(st, "by_nothing:x", 12, "1", 1), -1));
    cr_assert(eq(int, analytics_stats_add(st, "by_team:", 8, "1", 1), -1));
    cr_assert(eq(int, analytics_stats_add(st, "events", 6, "1x", 2), -1));
    cr_assert(eq(int, analytics_stats_add(st, "events", 6, "", 0), -1));
    cr_assert(
        eq(int,
           analytics_stats_add(st, "events", 6, "99999999999999999999999", 23),
           -1));
    cr_assert(eq(int, analytics_stats_add(st, "by_team:\xff", 9, "1", 1), -1));
    /* Sums saturate instead of wrapping. */
    cr_assert(
        eq(int, analytics_stats_add(st, "events", 6, "9223372036854775807", 19),
           0));
    cr_assert(eq(int, analytics_stats_add(st, "events", 6, "1", 1), 0));
    json_t *o = s_render(st);
    cr_assert(eq(i64, s_get(o, "events", NULL), INT64_MAX));
    cr_assert(eq(sz, json_object_size(json_object_get(o, "by_team")), 0));
    json_decref(o);

    /* A group stops growing at its bound. */
    char field[64];
    int refused = 0;
    for (int i = 0; i < ANALYTICS_MAX_LABELS + 10; i++) {
        int n = snprintf(field, sizeof field, "by_team:t%d", i);
        if (analytics_stats_add(st, field, (size_t)n, "1", 1) < 0)
            refused++;
    }
    cr_assert(eq(int, refused, 10));
    analytics_stats_destroy(&st);
}

/* ---- SLA ------------------------------------------------------------ */

/* A final event of a complaint routed to care-ja at p2, due at 1000. */
static kj_event_t
s_final(const char *state, int64_t at_ms)
{
    kj_event_t ev = s_event(state);
    strcpy(ev.priority, "p2");
    ev.due_at_ms = 1000;
    ev.at_ms = at_ms;
    return ev;
}

Test(analytics_count, sla_verdicts)
{
    char field[ANALYTICS_SLA_FIELD_MAX];
    bool breached = true;
    /* Delivered by due_at (inclusive): met. */
    kj_event_t ev = s_final("delivered", 1000);
    cr_assert(
        eq(int, analytics_sla_verdict(&ev, field, sizeof field, &breached), 1));
    cr_assert(not(breached));
    cr_assert(eq(str, field, "met:p2:care-ja"));
    /* A millisecond late: breached. */
    ev = s_final("delivered", 1001);
    cr_assert(
        eq(int, analytics_sla_verdict(&ev, field, sizeof field, &breached), 1));
    cr_assert(breached);
    cr_assert(eq(str, field, "breached:p2:care-ja"));
    /* Dead: breached at once, even before due_at. */
    ev = s_final("dead", 10);
    cr_assert(
        eq(int, analytics_sla_verdict(&ev, field, sizeof field, &breached), 1));
    cr_assert(breached);
    cr_assert(eq(str, field, "breached:p2:care-ja"));
}

Test(analytics_count, no_verdict_without_a_clock_or_a_final_state)
{
    char field[ANALYTICS_SLA_FIELD_MAX];
    bool breached;
    static const char *const states[] = {"received", "classified", "routed"};
    for (size_t i = 0; i < 3; i++) {
        kj_event_t ev = s_final(states[i], 5000);
        cr_assert(eq(int,
                     analytics_sla_verdict(&ev, field, sizeof field, &breached),
                     0),
                  "%s", states[i]);
    }
    /* Dead before the router: no team, no due_at. */
    kj_event_t ev = s_final("dead", 5000);
    ev.due_at_ms = 0;
    cr_assert(
        eq(int, analytics_sla_verdict(&ev, field, sizeof field, &breached), 0));
    ev = s_final("dead", 5000);
    ev.team[0] = '\0';
    cr_assert(
        eq(int, analytics_sla_verdict(&ev, field, sizeof field, &breached), 0));
    ev = s_final("delivered", 5000);
    ev.priority[0] = '\0';
    cr_assert(
        eq(int, analytics_sla_verdict(&ev, field, sizeof field, &breached), 0));
    /* A priority with ':' would make the field ambiguous. */
    strcpy(ev.priority, "p:1");
    cr_assert(
        eq(int, analytics_sla_verdict(&ev, field, sizeof field, &breached), 0));
}

Test(analytics_count, sla_fields_parse_back)
{
    bool breached = false;
    char prio[16], team[64];
    const char *f = "breached:p1:team:with:colons";
    cr_assert(eq(int,
                 analytics_sla_field_parse(f, strlen(f), &breached, prio,
                                           sizeof prio, team, sizeof team),
                 0));
    cr_assert(breached);
    cr_assert(eq(str, prio, "p1"));
    cr_assert(eq(str, team, "team:with:colons"));
    static const char *const bad[] = {
        "late:p1:t", "met:p1",   "met::t",
        "met:p1:",   "breached", "met:p1234567890123456:t"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert(
            eq(int,
               analytics_sla_field_parse(bad[i], strlen(bad[i]), &breached,
                                         prio, sizeof prio, team, sizeof team),
               -1),
            "%s", bad[i]);
}

Test(analytics_count, sla_document_sums_partitions)
{
    analytics_stats_t *st = analytics_stats_new();
    /* Two partitions' hashes, as HGETALL returns them. */
    cr_assert(
        eq(int, analytics_stats_add_sla(st, "met:p2:care-ja", 14, "3", 1), 0));
    cr_assert(eq(int,
                 analytics_stats_add_sla(st, "breached:p2:care-ja", 19, "1", 1),
                 0));
    cr_assert(
        eq(int, analytics_stats_add_sla(st, "met:p2:care-ja", 14, "2", 1), 0));
    cr_assert(eq(
        int, analytics_stats_add_sla(st, "breached:p1:trust", 17, "4", 1), 0));
    cr_assert(eq(int, analytics_stats_add_sla(st, "late:p1:x", 9, "1", 1), -1));
    cr_assert(eq(int, analytics_stats_add_sla(st, "met:p1:x", 8, "1x", 2), -1));
    json_t *o = s_render(st);
    json_t *sla = json_object_get(o, "sla");
    cr_assert(eq(i64, s_get(sla, "breached", NULL), 5));
    cr_assert(eq(i64, s_get(sla, "met", NULL), 5));
    json_t *team = json_object_get(sla, "by_team");
    cr_assert(eq(i64, s_get(team, "care-ja", "met"), 5));
    cr_assert(eq(i64, s_get(team, "care-ja", "breached"), 1));
    cr_assert(eq(i64, s_get(team, "trust", "breached"), 4));
    cr_assert(eq(i64, s_get(team, "trust", "met"), 0));
    json_t *prio = json_object_get(sla, "by_priority");
    cr_assert(eq(i64, s_get(prio, "p2", "met"), 5));
    cr_assert(eq(i64, s_get(prio, "p1", "breached"), 4));
    /* The rest of the document is unchanged by SLA fields. */
    cr_assert(eq(i64, s_get(o, "events", NULL), 0));
    json_decref(o);
    char *s = analytics_stats_render(st);
    cr_assert_not_null(strstr(s, "\"by_team\":{\"care-ja\":{\"breached\":1,"
                                 "\"met\":5},\"trust\":{\"breached\":4,"
                                 "\"met\":0}}"),
                       "%s", s);
    free(s);
    analytics_stats_destroy(&st);
}
