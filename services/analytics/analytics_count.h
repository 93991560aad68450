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
 *   events             every event
 *
 * and the partition's SLA hash "<prefix>:{<p>}:sla" (analytics_sla_verdict):
 *   met:<priority>:<team>, breached:<priority>:<team>    one per complaint */
#ifndef ANALYTICS_COUNT_H
#define ANALYTICS_COUNT_H

#include <stdbool.h>
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
size_t
analytics_count_event(const kj_event_t *ev, analytics_incr_t *out, size_t max);

/* Longest SLA hash field: "breached:", a priority, ":" and a team. */
#define ANALYTICS_SLA_FIELD_MAX (16 + 8 + KJ_SHORT_MAX)

/* The SLA verdict a final event gives its complaint. Until agents' replies
 * exist, kujo's own first-response duty is to tell the team: the team
 * alert delivered by the assignment's due_at. A delivered event is met if
 * at_ms <= due_at_ms, else breached; a dead event with an assignment is
 * breached at once, due_at or not, because without an operator's replay
 * the team is never told. Writes "<met|breached>:<priority>:<team>" into
 * field[size]. Returns 1, or 0 when the event gives no verdict (another
 * state, or no team, priority or due_at). */
int
analytics_sla_verdict(const kj_event_t *ev, char *field, size_t size,
                      bool *breached);

/* Split an SLA hash field. team gets everything after the priority (a
 * team name may hold ':'). 0, or -1 if it is not one kujo writes. */
int
analytics_sla_field_parse(const char *field, size_t flen, bool *breached,
                          char *priority, size_t psize, char *team,
                          size_t tsize);

typedef struct analytics_stats analytics_stats_t;

/* An empty sum. Caller owns the result. */
analytics_stats_t *
analytics_stats_new(void);

void
analytics_stats_destroy(analytics_stats_t **self_p);

/* Add one hash field and its value (decimal integer text, as HGETALL
 * returns it). Returns 0, or -1 if the field is unknown, the value is not
 * an integer, or a group is full (the field is then ignored). */
int
analytics_stats_add(analytics_stats_t *self, const char *field, size_t flen,
                    const char *value, size_t vlen);

/* Add one SLA hash field ("breached:p2:care-en") and its value. 0, or -1
 * for a malformed field or value or a full group. */
int
analytics_stats_add_sla(analytics_stats_t *self, const char *field, size_t flen,
                        const char *value, size_t vlen);

/* Add one field of a tenant's survey counters ("<prefix>:{t:<tenant>}:
 * survey", written by feedback_record.lua at the answer):
 * "nps:<YYYY-MM-DD>:<promoter|passive|detractor>" or
 * "csat:<YYYY-MM-DD>:<satisfied|neutral|unsatisfied>". 0, or -1 for a
 * malformed field or value, or a full group (then ignored). */
int
analytics_stats_add_survey(analytics_stats_t *self, const char *tenant,
                           const char *field, size_t flen, const char *value,
                           size_t vlen);

/* The stats document as compact JSON. Caller frees. Its "surveys" holds
 * NPS (% promoters - % detractors) and CSAT (% satisfied, 4-5 of 5) with
 * their counts, overall, per tenant and per tenant and UTC day; a score
 * is null without answers. */
char *
analytics_stats_render(const analytics_stats_t *self);

#endif
