#include "analytics_sla.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics_consumer.h"
#include "analytics_count.h"
#include "kj_envelope.h"
#include "kj_id.h"
#include "kj_keys.h"
#include "kj_log.h"
#include "kj_util.h"

/* The pairs with series of their own plus the shared "other" one. */
#define S_MAX (ANALYTICS_SLA_SERIES + 1)
/* Open-addressing index, twice the entries so probes stay short. */
#define S_SLOTS (2 * S_MAX)
#define S_PRIORITY_MAX 16

/* One team x priority pair and its two counters. */
typedef struct {
    char team[KJ_SHORT_MAX];
    char priority[S_PRIORITY_MAX];
    kj_counter_t *breached; /* kujo_sla_breaches_total */
    kj_counter_t *met;      /* kujo_sla_met_total */
    int64_t sum_breached;   /* totals read in this refresh */
    int64_t sum_met;
} s_pair_t;

struct analytics_sla {
    kj_metrics_t *metrics;         /* borrowed */
    char keys[KJ_PARTITIONS][128]; /* the SLA hash of each partition */
    s_pair_t *pairs;               /* S_MAX, first n used */
    size_t n;                      /* pairs in use */
    int32_t slots[S_SLOTS];        /* pair index + 1; 0: empty */
    s_pair_t *other;               /* "other" x "other", always there */
    bool full_logged;              /* said once that the cap was hit */
};

static size_t
s_probe(const analytics_sla_t *self, const char *team, const char *priority);
static s_pair_t *
s_add_pair(analytics_sla_t *self, size_t slot, const char *team,
           const char *priority);

static const char s_breached_help[] =
    "Complaints whose team alert was delivered after the first-response "
    "due time, or that were dead-lettered (totals from Redis)";
static const char s_met_help[] =
    "Complaints whose team alert was delivered by the first-response due "
    "time (totals from Redis)";

analytics_sla_t *
analytics_sla_new(kj_metrics_t *metrics, const char *prefix)
{
    analytics_sla_t *self = kj_calloc(1, sizeof *self);
    self->metrics = metrics;
    self->pairs = kj_calloc(S_MAX, sizeof *self->pairs);
    for (int p = 0; p < KJ_PARTITIONS; p++)
        kj_keys_make(self->keys[p], sizeof self->keys[p], prefix, p, KJ_KEY_SLA,
                     NULL);
    /* The overflow series exists from the start, so the metrics are on
     * the page (at 0) even with no rules file. */
    self->other =
        s_add_pair(self, s_probe(self, "other", "other"), "other", "other");
    return self;
}

void
analytics_sla_destroy(analytics_sla_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    analytics_sla_t *self = *self_p;
    free(self->pairs);
    free(self);
    *self_p = NULL;
}

static size_t
s_hash(const char *team, const char *priority)
{
    uint64_t h = kj_hash64(team, strlen(team));
    h ^= kj_hash64(priority, strlen(priority)) * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h % S_SLOTS);
}

/* The slot holding the pair, or the empty one where it would go. */
static size_t
s_probe(const analytics_sla_t *self, const char *team, const char *priority)
{
    size_t i = s_hash(team, priority);
    for (;;) {
        int32_t e = self->slots[i];
        if (e == 0)
            return i;
        const s_pair_t *pr = &self->pairs[e - 1];
        if (strcmp(pr->team, team) == 0 && strcmp(pr->priority, priority) == 0)
            return i;
        i = (i + 1) % S_SLOTS;
    }
}

/* A new pair with its two series; NULL if a label cannot be escaped. */
static s_pair_t *
s_add_pair(analytics_sla_t *self, size_t slot, const char *team,
           const char *priority)
{
    char et[2 * KJ_SHORT_MAX], ep[2 * S_PRIORITY_MAX];
    if (kj_metrics_label_escape(team, et, sizeof et) < 0 ||
        kj_metrics_label_escape(priority, ep, sizeof ep) < 0)
        return NULL;
    char labels[sizeof et + sizeof ep + 32];
    snprintf(labels, sizeof labels, "team=\"%s\",priority=\"%s\"", et, ep);
    s_pair_t *pr = &self->pairs[self->n];
    memset(pr, 0, sizeof *pr);
    kj_strlcpy(pr->team, team, sizeof pr->team);
    kj_strlcpy(pr->priority, priority, sizeof pr->priority);
    pr->breached = kj_metrics_counter(self->metrics, "sla_breaches_total",
                                      s_breached_help, labels);
    pr->met =
        kj_metrics_counter(self->metrics, "sla_met_total", s_met_help, labels);
    self->slots[slot] = (int32_t)++self->n;
    return pr;
}

/* The pair's entry, created if there is room; past the cap, "other". */
static s_pair_t *
s_find(analytics_sla_t *self, const char *team, const char *priority)
{
    if (!team[0] || !priority[0] || strlen(team) >= KJ_SHORT_MAX ||
        strlen(priority) >= S_PRIORITY_MAX)
        return NULL;
    size_t slot = s_probe(self, team, priority);
    if (self->slots[slot] != 0)
        return &self->pairs[self->slots[slot] - 1];
    if (self->n < S_MAX)
        return s_add_pair(self, slot, team, priority);
    if (!self->full_logged)
        kj_warn("SLA series cap reached; new pairs count as team=\"other\"",
                "l:series", (long long)self->n);
    self->full_logged = true;
    return self->other;
}

int
analytics_sla_track(analytics_sla_t *self, const char *team,
                    const char *priority)
{
    return s_find(self, team, priority) ? 0 : -1;
}

void
analytics_sla_track_rules(analytics_sla_t *self, const kj_rules_t *rules)
{
    size_t n = kj_rules_n_routes(rules);
    for (size_t i = 0; i < n; i++) {
        kj_route_t rt;
        kj_rules_route_at(rules, i, &rt);
        analytics_sla_track(self, rt.team, rt.priority);
    }
}

void
analytics_sla_begin(analytics_sla_t *self)
{
    for (size_t i = 0; i < self->n; i++) {
        self->pairs[i].sum_breached = 0;
        self->pairs[i].sum_met = 0;
    }
}

int
analytics_sla_add(analytics_sla_t *self, const char *field, size_t flen,
                  const char *value, size_t vlen)
{
    bool breached;
    char priority[S_PRIORITY_MAX], team[KJ_SHORT_MAX];
    int64_t v;
    /* Counts only grow; a negative one is not ours. */
    if (kj_parse_i64(value, vlen, &v) < 0 || v < 0 ||
        analytics_sla_field_parse(field, flen, &breached, priority,
                                  sizeof priority, team, sizeof team) < 0)
        return -1;
    s_pair_t *pr = s_find(self, team, priority);
    if (!pr)
        return -1;
    int64_t *sum = breached ? &pr->sum_breached : &pr->sum_met;
    *sum = *sum > INT64_MAX - v ? INT64_MAX : *sum + v;
    return 0;
}

/* Raise c to total. Counters never go down: if Redis lost its data, the
 * counter waits until the new totals pass it. */
static void
s_raise(kj_counter_t *c, int64_t total)
{
    uint64_t cur = kj_counter_value(c);
    if ((uint64_t)total > cur)
        kj_counter_add(c, (uint64_t)total - cur);
}

void
analytics_sla_commit(analytics_sla_t *self)
{
    for (size_t i = 0; i < self->n; i++) {
        s_raise(self->pairs[i].breached, self->pairs[i].sum_breached);
        s_raise(self->pairs[i].met, self->pairs[i].sum_met);
    }
}

static void
s_add_field(void *ctx, size_t k, const char *field, size_t flen,
            const char *value, size_t vlen)
{
    (void)k;
    analytics_sla_add(ctx, field, flen, value, vlen);
}

int
analytics_sla_refresh(analytics_sla_t *self, kj_redis_t *redis)
{
    const char *keys[KJ_PARTITIONS];
    for (int p = 0; p < KJ_PARTITIONS; p++)
        keys[p] = self->keys[p];
    analytics_sla_begin(self);
    /* A partial read would lower nothing, but could raise some counters
     * and not others; wait for a whole one. */
    if (kj_redis_hgetall_each(redis, keys, KJ_PARTITIONS, s_add_field, self) !=
        0)
        return -1;
    analytics_sla_commit(self);
    return 0;
}
