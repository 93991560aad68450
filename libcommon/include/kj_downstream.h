/* kj_downstream: how a stage (or ingest) follows the next stage's copies.
 * Each refresh reads the registry and connects the PUSH socket to every
 * live copy. When a copy appears — the first after none, a new one, or
 * one that came back after a restart — the work this stage already handed
 * on in `state` (leased, waiting for a push that may have gone nowhere) is
 * made due at once, so the new copy claims it now instead of after the
 * lease. Refreshes every second while copies are known, five times as
 * often while none is. */
#ifndef KJ_DOWNSTREAM_H
#define KJ_DOWNSTREAM_H

#include <stdint.h>

#include "kj_mq.h"
#include "kj_redis.h"

typedef struct kj_downstream kj_downstream_t;

/* Follow the copies registered as next; state is what this stage hands on
 * ("received" for ingest). redis and push are borrowed. Caller owns the
 * result. */
kj_downstream_t *
kj_downstream_new(kj_redis_t *redis, kj_push_t *push, const char *prefix,
                  const char *next, const char *state);

void
kj_downstream_destroy(kj_downstream_t **self_p);

/* Refresh if due at mono_ms (monotonic; now_ms is wall time for the
 * registry and the deadlines). Returns the number of connected copies, or
 * -1 when Redis failed (the known copies stay connected). */
int
kj_downstream_refresh(kj_downstream_t *self, int64_t mono_ms, int64_t now_ms);

/* Copies connected after the last refresh. */
int
kj_downstream_peers(const kj_downstream_t *self);

/* Records made due at once because a copy appeared, since start. */
uint64_t
kj_downstream_released(const kj_downstream_t *self);

/* Make every record leased in state (deadline after now_ms) due at now_ms,
 * at most max per partition. Returns how many, or -1 on Redis failure. A
 * record that moved on meanwhile is not brought back (ZADD XX). */
int64_t
kj_downstream_release_leases(kj_redis_t *redis, const char *prefix,
                             const char *state, int64_t now_ms, int64_t max);

#endif
