/* analytics_count: what one state-transition event adds to the counters,
 * and the sum of the per-partition counter hashes rendered as the
 * /v1/stats document (docs/ARCHITECTURE.md). Pure: no Redis, no I/O.
 *
 * Counter fields, as stored in each "<prefix>:{<p>}:stats" hash:
 *   by_state:<state>   complaints that entered the state
 *   by_channel:<ch>    on received
 *   by_language:<l>, by_category:<c>, by_sentiment:<s>   on classified
 *   by_team:<team>     on routed
 *   delivered, e2e_ms_sum                                on delivered
 *   events             every event */
#ifndef ANALYTICS_COUNT_H
#define ANALYTICS_COUNT_H

#include <stddef.h>
#include <stdint.h>

#include "kj_envelope.h"

/* The most increments one event makes (state, events, three triage
 * labels; a delivered event makes four). */
#define ANALYTICS_MAX_INCRS 8

/* Longest counter field: "by_category:" and a label of KJ_SHORT_MAX. */
#define ANALYTICS_FIELD_MAX (16 + KJ_SHORT_MAX)

/* Distinct labels kept per group when summing (a bound on what a broken
 * or hostile stream can make the stats document grow to). */
#define ANALYTICS_MAX_LABELS 4096

typedef struct {
    char field[ANALYTICS_FIELD_MAX]; /* "by_state:received" */
    int64_t by;                      /* the increment */
} analytics_incr_t;

/* The increments ev makes, into out[max]. Empty labels are not counted;
 * a negative e2e_ms counts as 0. Returns how many were written. */
size_t analytics_count_event(const kj_event_t *ev, analytics_incr_t *out,
                             size_t max);

typedef struct analytics_stats analytics_stats_t;

/* An empty sum. Caller owns the result. */
analytics_stats_t *analytics_stats_new(void);

void analytics_stats_destroy(analytics_stats_t **self_p);

/* Add one hash field and its value (decimal integer text, as HGETALL
 * returns it). Returns 0, or -1 if the field is unknown, the value is not
 * an integer, or a group is full (the field is then ignored). */
int analytics_stats_add(analytics_stats_t *self, const char *field, size_t flen,
                        const char *value, size_t vlen);

/* The stats document as compact JSON. Caller frees. */
char *analytics_stats_render(const analytics_stats_t *self);

#endif
