/* analytics_sla: the SLA counts as Prometheus counters,
 * kujo_sla_breaches_total{team,priority} and kujo_sla_met_total{team,
 * priority}, exported from the SLA hashes in Redis (analytics_consumer.h)
 * rather than counted in this process: every analytics copy shows the same
 * cluster-wide totals, and a restart resumes them instead of starting at
 * 0. Aggregate copies with max(), not sum().
 *
 * Series exist from the start for every team x priority the rules can
 * route to, and team="other",priority="other" always (so the metrics are
 * on the page even without rules). A pair first seen in Redis (the rules
 * changed) gets its own series while fewer than ANALYTICS_SLA_SERIES
 * exist; later ones add up in "other". */
#ifndef ANALYTICS_SLA_H
#define ANALYTICS_SLA_H

#include <stddef.h>

#include "kj_metrics.h"
#include "kj_redis.h"
#include "kj_rules.h"

/* Team x priority pairs with series of their own. */
#define ANALYTICS_SLA_SERIES 512

typedef struct analytics_sla analytics_sla_t;

/* metrics is borrowed. Caller owns the result. */
analytics_sla_t *
analytics_sla_new(kj_metrics_t *metrics, const char *prefix);

void
analytics_sla_destroy(analytics_sla_t **self_p);

/* Series at 0 for every team x priority a route of rules names. */
void
analytics_sla_track_rules(analytics_sla_t *self, const kj_rules_t *rules);

/* Series for one pair (at 0 if new). 0, or -1 if a label is unusable. */
int
analytics_sla_track(analytics_sla_t *self, const char *team,
                    const char *priority);

/* Read the 16 SLA hashes (one pipelined round trip) and raise each
 * counter to its total. 0, or -1 if Redis failed (nothing changed). */
int
analytics_sla_refresh(analytics_sla_t *self, kj_redis_t *redis);

/* The same from hash fields given one by one, for tests: begin, add every
 * field of every partition, then commit raises the counters. add returns
 * -1 for a field that is not an SLA field (it is ignored). */
void
analytics_sla_begin(analytics_sla_t *self);
int
analytics_sla_add(analytics_sla_t *self, const char *field, size_t flen,
                  const char *value, size_t vlen);
void
analytics_sla_commit(analytics_sla_t *self);

#endif
