#include "analytics_count.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kj_util.h"

/* Append one increment if the label is known and there is room. */
static void
s_push(analytics_incr_t *out, size_t max, size_t *n, const char *group,
       const char *label, int64_t by)
{
    if (*n >= max)
        return;
    if (label && !label[0])
        return;
    int len;
    if (label)
        len = snprintf(out[*n].field, sizeof out[*n].field, "%s:%s", group,
                       label);
    else
        len = snprintf(out[*n].field, sizeof out[*n].field, "%s", group);
    if (len < 0 || (size_t)len >= sizeof out[*n].field)
        return; /* cannot happen with the codec's field limits */
    out[*n].by = by;
    (*n)++;
}

size_t
analytics_count_event(const kj_event_t *ev, analytics_incr_t *out, size_t max)
{
    size_t n = 0;
    s_push(out, max, &n, "events", NULL, 1);
    s_push(out, max, &n, "by_state", ev->state, 1);
    if (strcmp(ev->state, "received") == 0) {
        s_push(out, max, &n, "by_channel", ev->channel, 1);
    } else if (strcmp(ev->state, "classified") == 0) {
        s_push(out, max, &n, "by_language", ev->language, 1);
        s_push(out, max, &n, "by_category", ev->category, 1);
        s_push(out, max, &n, "by_sentiment", ev->sentiment, 1);
    } else if (strcmp(ev->state, "routed") == 0) {
        s_push(out, max, &n, "by_team", ev->team, 1);
    } else if (strcmp(ev->state, "delivered") == 0) {
        s_push(out, max, &n, "delivered", NULL, 1);
        /* A clock step between hosts can make e2e negative; counting it
         * would drag the average below what any complaint saw. */
        s_push(out, max, &n, "e2e_ms_sum", NULL,
               ev->e2e_ms > 0 ? ev->e2e_ms : 0);
    }
    return n;
}

int
analytics_sla_verdict(const kj_event_t *ev, char *field, size_t size,
                      bool *breached)
{
    bool delivered = strcmp(ev->state, "delivered") == 0;
    if (!delivered && strcmp(ev->state, "dead") != 0)
        return 0;
    /* No assignment, no clock: a complaint that died before the router
     * never had a deadline or an owner. */
    if (!ev->team[0] || !ev->priority[0] || strchr(ev->priority, ':') ||
        ev->due_at_ms <= 0)
        return 0;
    *breached = !delivered || ev->at_ms > ev->due_at_ms;
    int n = snprintf(field, size, "%s:%s:%s", *breached ? "breached" : "met",
                     ev->priority, ev->team);
    return n > 0 && (size_t)n < size ? 1 : 0;
}

int
analytics_sla_field_parse(const char *field, size_t flen, bool *breached,
                          char *priority, size_t psize, char *team,
                          size_t tsize)
{
    const char *end = field + flen;
    const char *c1 = memchr(field, ':', flen);
    if (!c1)
        return -1;
    size_t vlen = (size_t)(c1 - field);
    if (vlen == 3 && memcmp(field, "met", 3) == 0)
        *breached = false;
    else if (vlen == 8 && memcmp(field, "breached", 8) == 0)
        *breached = true;
    else
        return -1;
    const char *p = c1 + 1;
    const char *c2 = memchr(p, ':', (size_t)(end - p));
    if (!c2)
        return -1;
    size_t plen = (size_t)(c2 - p);
    size_t tlen = (size_t)(end - c2 - 1);
    if (plen == 0 || plen >= psize || tlen == 0 || tlen >= tsize ||
        memchr(field, '\0', flen))
        return -1;
    memcpy(priority, p, plen);
    priority[plen] = '\0';
    memcpy(team, c2 + 1, tlen);
    team[tlen] = '\0';
    return 0;
}

/* The label groups of the document, in the order they are rendered. */
static const char *const s_groups[] = {"by_state",     "by_channel",
                                       "by_language",  "by_category",
                                       "by_sentiment", "by_team"};
#define S_NGROUPS (sizeof s_groups / sizeof s_groups[0])

/* by_state lists every state, even at 0, in pipeline order. */
static const char *const s_states[] = {"received", "classified", "routed",
                                       "delivered", "dead"};

struct analytics_stats {
    json_t *groups[S_NGROUPS]; /* label -> json_integer sum */
    int64_t delivered;         /* complaints delivered */
    int64_t e2e_ms_sum;        /* their end-to-end times added up */
    int64_t events;            /* every event counted */
    int64_t sla_met;           /* team told by due_at */
    int64_t sla_breached;      /* told late, or dead */
    json_t *sla_team;          /* team -> {"breached": n, "met": n} */
    json_t *sla_priority;      /* priority -> the same */
    /* tenant -> day -> "<kind>:<bucket>" -> count (survey answers) */
    json_t *surveys;
};

analytics_stats_t *
analytics_stats_new(void)
{
    analytics_stats_t *self = kj_calloc(1, sizeof *self);
    for (size_t i = 0; i < S_NGROUPS; i++)
        self->groups[i] = json_object();
    self->sla_team = json_object();
    self->sla_priority = json_object();
    self->surveys = json_object();
    return self;
}

void
analytics_stats_destroy(analytics_stats_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    analytics_stats_t *self = *self_p;
    for (size_t i = 0; i < S_NGROUPS; i++)
        json_decref(self->groups[i]);
    json_decref(self->sla_team);
    json_decref(self->sla_priority);
    json_decref(self->surveys);
    free(self);
    *self_p = NULL;
}

/* Sums saturate: a counter near INT64_MAX is broken data, not a reason to
 * wrap into a negative count. */
static int64_t
s_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* True if jansson accepts s as a key (valid UTF-8). */
static bool
s_utf8(const char *s)
{
    json_t *j = json_string(s);
    if (!j)
        return false;
    json_decref(j);
    return true;
}

int
analytics_stats_add(analytics_stats_t *self, const char *field, size_t flen,
                    const char *value, size_t vlen)
{
    int64_t v;
    if (kj_parse_i64(value, vlen, &v) < 0)
        return -1;
    if (flen == 6 && memcmp(field, "events", 6) == 0) {
        self->events = s_add(self->events, v);
        return 0;
    }
    if (flen == 9 && memcmp(field, "delivered", 9) == 0) {
        self->delivered = s_add(self->delivered, v);
        return 0;
    }
    if (flen == 10 && memcmp(field, "e2e_ms_sum", 10) == 0) {
        self->e2e_ms_sum = s_add(self->e2e_ms_sum, v);
        return 0;
    }
    const char *colon = memchr(field, ':', flen);
    if (!colon)
        return -1;
    size_t glen = (size_t)(colon - field);
    size_t llen = flen - glen - 1;
    if (llen == 0 || llen >= ANALYTICS_FIELD_MAX)
        return -1;
    for (size_t i = 0; i < S_NGROUPS; i++) {
        if (strlen(s_groups[i]) != glen ||
            memcmp(field, s_groups[i], glen) != 0)
            continue;
        char label[ANALYTICS_FIELD_MAX];
        memcpy(label, colon + 1, llen);
        label[llen] = '\0';
        /* jansson keys must be UTF-8 without NUL; anything else is not a
         * label kujo wrote. */
        if (strlen(label) != llen || !s_utf8(label))
            return -1;
        json_t *cur = json_object_get(self->groups[i], label);
        if (cur) {
            json_integer_set(cur, s_add(json_integer_value(cur), v));
            return 0;
        }
        if (json_object_size(self->groups[i]) >= ANALYTICS_MAX_LABELS)
            return -1;
        json_object_set_new(self->groups[i], label, json_integer(v));
        return 0;
    }
    return -1;
}

/* Add v to the "breached" or "met" of label in group (an object of
 * {"breached": n, "met": n}); the caller checked there is room. */
static void
s_sla_add(json_t *group, const char *label, bool breached, int64_t v)
{
    json_t *o = json_object_get(group, label);
    if (!o) {
        o = json_object();
        json_object_set_new(o, "breached", json_integer(0));
        json_object_set_new(o, "met", json_integer(0));
        json_object_set_new(group, label, o);
    }
    json_t *n = json_object_get(o, breached ? "breached" : "met");
    json_integer_set(n, s_add(json_integer_value(n), v));
}

int
analytics_stats_add_sla(analytics_stats_t *self, const char *field, size_t flen,
                        const char *value, size_t vlen)
{
    int64_t v;
    bool breached;
    char priority[16], team[KJ_SHORT_MAX];
    if (kj_parse_i64(value, vlen, &v) < 0 ||
        analytics_sla_field_parse(field, flen, &breached, priority,
                                  sizeof priority, team, sizeof team) < 0 ||
        !s_utf8(team) || !s_utf8(priority))
        return -1;
    /* Both groups or neither, so that they always add up to the totals. */
    if ((!json_object_get(self->sla_team, team) &&
         json_object_size(self->sla_team) >= ANALYTICS_MAX_LABELS) ||
        (!json_object_get(self->sla_priority, priority) &&
         json_object_size(self->sla_priority) >= ANALYTICS_MAX_LABELS))
        return -1;
    s_sla_add(self->sla_team, team, breached, v);
    s_sla_add(self->sla_priority, priority, breached, v);
    if (breached)
        self->sla_breached = s_add(self->sla_breached, v);
    else
        self->sla_met = s_add(self->sla_met, v);
    return 0;
}

static int
s_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A copy of a group with its labels sorted, so that the document does not
 * change order from one request to the next. by_state starts with every
 * state in pipeline order. */
static json_t *
s_group(const json_t *g, bool states)
{
    json_t *out = json_object();
    if (states)
        for (size_t i = 0; i < KJ_ARRAY_LEN(s_states); i++) {
            const json_t *v = json_object_get(g, s_states[i]);
            json_object_set_new(out, s_states[i],
                                json_integer(v ? json_integer_value(v) : 0));
        }
    size_t n = json_object_size(g);
    const char **keys = kj_calloc(n ? n : 1, sizeof *keys);
    size_t k = 0;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)g, key, val)
    {
        keys[k++] = key;
    }
    qsort(keys, k, sizeof *keys, s_cmp);
    for (size_t i = 0; i < k; i++)
        if (!json_object_get(out, keys[i]))
            json_object_set_new(out, keys[i],
                                json_deep_copy(json_object_get(g, keys[i])));
    free(keys);
    return out;
}

static const char *const s_nps_buckets[] = {"promoter", "passive", "detractor"};
static const char *const s_csat_buckets[] = {"satisfied", "neutral",
                                             "unsatisfied"};

static bool
s_one_of(const char *s, size_t len, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(set[i]) == len && memcmp(s, set[i], len) == 0)
            return true;
    return false;
}

int
analytics_stats_add_survey(analytics_stats_t *self, const char *tenant,
                           const char *field, size_t flen, const char *value,
                           size_t vlen)
{
    /* "<kind>:<YYYY-MM-DD>:<bucket>" */
    const char *c1 = memchr(field, ':', flen);
    if (!c1)
        return -1;
    size_t klen = (size_t)(c1 - field);
    const char *day = c1 + 1;
    if ((size_t)(field + flen - day) < 12 || day[10] != ':')
        return -1;
    for (size_t i = 0; i < 10; i++)
        if (i == 4 || i == 7 ? day[i] != '-' : !isdigit((unsigned char)day[i]))
            return -1;
    const char *bucket = day + 11;
    size_t blen = (size_t)(field + flen - bucket);
    bool nps = klen == 3 && memcmp(field, "nps", 3) == 0;
    bool csat = klen == 4 && memcmp(field, "csat", 4) == 0;
    if (!(nps && s_one_of(bucket, blen, s_nps_buckets, 3)) &&
        !(csat && s_one_of(bucket, blen, s_csat_buckets, 3)))
        return -1;
    int64_t v;
    if (!s_utf8(tenant) || kj_parse_i64(value, vlen, &v) < 0 || v < 0)
        return -1;
    json_t *t = json_object_get(self->surveys, tenant);
    if (!t) {
        if (json_object_size(self->surveys) >= ANALYTICS_MAX_LABELS)
            return -1;
        t = json_object();
        json_object_set_new(self->surveys, tenant, t);
    }
    char d[11];
    memcpy(d, day, 10);
    d[10] = '\0';
    json_t *dd = json_object_get(t, d);
    if (!dd) {
        if (json_object_size(t) >= ANALYTICS_MAX_LABELS)
            return -1;
        dd = json_object();
        json_object_set_new(t, d, dd);
    }
    char key[32];
    snprintf(key, sizeof key, "%s:%.*s", nps ? "nps" : "csat", (int)blen,
             bucket);
    const json_t *old = json_object_get(dd, key);
    json_object_set_new(
        dd, key, json_integer(s_add(old ? json_integer_value(old) : 0, v)));
    return 0;
}

/* One decimal of a percentage; null without a denominator. */
static json_t *
s_pct(int64_t num, int64_t den)
{
    if (den <= 0)
        return json_null();
    return json_real(round((double)num * 1000.0 / (double)den) / 10.0);
}

/* Counts by "<kind>:<bucket>" -> {"nps": {...}, "csat": {...}}. */
static json_t *
s_survey_scores(const int64_t nps[3], const int64_t csat[3])
{
    int64_t n = nps[0] + nps[1] + nps[2];
    int64_t c = csat[0] + csat[1] + csat[2];
    return json_pack(
        "{s:{s:I,s:I,s:I,s:I,s:o},s:{s:I,s:I,s:I,s:I,s:o}}", "nps", "responses",
        (json_int_t)n, "promoters", (json_int_t)nps[0], "passives",
        (json_int_t)nps[1], "detractors", (json_int_t)nps[2], "score",
        n > 0 ? s_pct(nps[0] - nps[2], n) : json_null(), "csat", "responses",
        (json_int_t)c, "satisfied", (json_int_t)csat[0], "neutral",
        (json_int_t)csat[1], "unsatisfied", (json_int_t)csat[2], "score",
        s_pct(csat[0], c));
}

static void
s_survey_counts(const json_t *day, int64_t nps[3], int64_t csat[3])
{
    char key[32];
    for (size_t i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "nps:%s", s_nps_buckets[i]);
        const json_t *v = json_object_get(day, key);
        nps[i] = s_add(nps[i], v ? json_integer_value(v) : 0);
        snprintf(key, sizeof key, "csat:%s", s_csat_buckets[i]);
        v = json_object_get(day, key);
        csat[i] = s_add(csat[i], v ? json_integer_value(v) : 0);
    }
}

/* "surveys": overall, then per tenant and per tenant and day, sorted. */
static json_t *
s_surveys(const json_t *surveys)
{
    int64_t all_n[3] = {0}, all_c[3] = {0};
    json_t *by_tenant = json_object();
    json_t *tenants = s_group(surveys, false); /* sorted copy */
    const char *tenant;
    json_t *days;
    json_object_foreach(tenants, tenant, days)
    {
        int64_t tn[3] = {0}, tc[3] = {0};
        json_t *by_day = json_object();
        json_t *sorted = s_group(days, false);
        const char *day;
        json_t *counts;
        json_object_foreach(sorted, day, counts)
        {
            int64_t dn[3] = {0}, dc[3] = {0};
            s_survey_counts(counts, dn, dc);
            json_object_set_new(by_day, day, s_survey_scores(dn, dc));
            s_survey_counts(counts, tn, tc);
        }
        json_decref(sorted);
        json_t *t = s_survey_scores(tn, tc);
        json_object_set_new(t, "by_day", by_day);
        json_object_set_new(by_tenant, tenant, t);
        for (size_t i = 0; i < 3; i++) {
            all_n[i] = s_add(all_n[i], tn[i]);
            all_c[i] = s_add(all_c[i], tc[i]);
        }
    }
    json_decref(tenants);
    json_t *o = s_survey_scores(all_n, all_c);
    json_object_set_new(o, "by_tenant", by_tenant);
    return o;
}

char *
analytics_stats_render(const analytics_stats_t *self)
{
    json_t *o = json_object();
    const json_t *received = json_object_get(self->groups[0], "received");
    json_object_set_new(
        o, "total", json_integer(received ? json_integer_value(received) : 0));
    for (size_t i = 0; i < S_NGROUPS; i++)
        json_object_set_new(o, s_groups[i], s_group(self->groups[i], i == 0));
    json_object_set_new(o, "delivered", json_integer(self->delivered));
    if (self->delivered > 0) {
        /* One decimal is all a dashboard shows; it also keeps jansson from
         * printing 14.199999999999999. */
        double avg = (double)self->e2e_ms_sum / (double)self->delivered;
        json_object_set_new(o, "e2e_ms_avg", json_real(round(avg * 10) / 10));
    } else {
        json_object_set_new(o, "e2e_ms_avg", json_null());
    }
    json_object_set_new(o, "events", json_integer(self->events));
    json_t *sla = json_object();
    json_object_set_new(sla, "breached", json_integer(self->sla_breached));
    json_object_set_new(sla, "met", json_integer(self->sla_met));
    json_object_set_new(sla, "by_team", s_group(self->sla_team, false));
    json_object_set_new(sla, "by_priority", s_group(self->sla_priority, false));
    json_object_set_new(o, "sla", sla);
    json_object_set_new(o, "surveys", s_surveys(self->surveys));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                JSON_REAL_PRECISION(15));
    json_decref(o);
    if (!s)
        abort(); /* jansson fails only when out of memory */
    char *out = kj_strdup(s);
    free(s);
    return out;
}
