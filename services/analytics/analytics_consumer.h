/* analytics_consumer: reads the 16 event streams "<prefix>:{<p>}:events"
 * with a Redis consumer group and adds each event to its partition's
 * counter hash "<prefix>:{<p>}:stats" exactly once.
 *
 * Exactly once, although delivery from a consumer group is at least once:
 * one Lua script per entry acknowledges it and, only if the XACK removed
 * it from the pending list, applies the increments. A crash between read
 * and apply leaves the entry pending; it is read again (by this consumer
 * after a reconnect, or claimed from a dead one with XAUTOCLAIM) and
 * counted then; an entry counted once is never pending again.
 *
 * The same script keeps the SLA counts (analytics_sla_verdict) in the
 * partition's "<prefix>:{<p>}:sla" hash, once per complaint: the first
 * final event's verdict is stored in the record's hash as field "sla"
 * (HSETNX), so a dead complaint replayed and delivered later keeps its
 * breach and is not counted twice. */
#ifndef ANALYTICS_CONSUMER_H
#define ANALYTICS_CONSUMER_H

#include <stddef.h>
#include <stdint.h>

#include "kj_metrics.h"
#include "kj_redis.h"

typedef struct analytics_consumer analytics_consumer_t;

typedef struct {
    const char *prefix;    /* key prefix, "kj" */
    const char *group;     /* consumer group, "analytics" */
    const char *consumer;  /* this copy's name in the group: host:pid */
    int64_t count;         /* most entries read per stream per round */
    int64_t block_ms;      /* longest wait for new entries */
    int64_t claim_idle_ms; /* entries of other consumers idle this long
                              are taken over */
} analytics_consumer_opts_t;

/* redis and metrics are borrowed; the apply script is registered on
 * redis. Caller owns the result. */
analytics_consumer_t *
analytics_consumer_new(kj_redis_t *redis, kj_metrics_t *metrics,
                       const analytics_consumer_opts_t *opts);

void
analytics_consumer_destroy(analytics_consumer_t **self_p);

/* One round: create the groups after every (re)connect, now and then take
 * over entries left by dead consumers and update the queue depth, then
 * read this consumer's pending entries, or when there are none new ones
 * (waiting up to block_ms), and apply them. Returns the entries applied,
 * or -1 if Redis failed (nothing is lost: unapplied entries stay
 * pending). */
int
analytics_consumer_step(analytics_consumer_t *self, int64_t now_ms);

#endif
