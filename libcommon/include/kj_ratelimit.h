/* kj_ratelimit: token-bucket rate limits in Redis, one bucket per API key
 * and one per tenant, checked and charged together by one Lua script
 * (libcommon/lua/ratelimit_take.lua) so that concurrent callers on any
 * number of hosts share them exactly. Keys:
 *
 *   <prefix>:rl:{<tenant>}:k:<key id>   hash {tokens, ts_ms}: the key's bucket
 *   <prefix>:rl:{<tenant>}:t            hash {tokens, ts_ms}: the tenant's
 *
 * Both carry the tenant as hash tag (one Redis Cluster slot, one script),
 * and vanish after twice their refill time idle: a missing bucket is full.
 *
 * On -1 (Redis unreachable) the caller decides whether to fail open or
 * closed. Fail open, with a log and a metric, is the recommended choice:
 * the limiter protects capacity, not secrets, and refusing everything
 * while Redis is down would add an outage to an outage.
 * Not thread-safe: one per kj_redis_t (one per thread). */
#ifndef KJ_RATELIMIT_H
#define KJ_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "kj_redis.h"

typedef struct kj_ratelimit kj_ratelimit_t;

typedef struct {
    const char *prefix;   /* key prefix, "kj" when NULL */
    double key_rate;      /* tokens/s of each API key, 0: unlimited */
    int64_t key_burst;    /* an API key's bucket size (>= 1 if limited) */
    double tenant_rate;   /* tokens/s of each tenant, 0: unlimited */
    int64_t tenant_burst; /* a tenant's bucket size (>= 1 if limited) */
} kj_ratelimit_opts_t;

/* redis is borrowed; the script is registered on it. NULL (logged) if an
 * option is out of range. */
kj_ratelimit_t *
kj_ratelimit_new(kj_redis_t *redis, const kj_ratelimit_opts_t *opts);

/* Destroy and set *self_p to NULL. Safe on NULL. */
void
kj_ratelimit_destroy(kj_ratelimit_t **self_p);

/* One key's share of a batch: up to cost requests, the first `admitted`
 * of which may pass. */
typedef struct {
    const char *key_id;     /* in: the API key's id (never the secret) */
    const char *tenant;     /* in: the key's tenant: not empty, no '}' */
    int64_t cost;           /* in: requests to admit, up to this many (>= 0) */
    double key_rate;        /* in: this key's tokens/s, 0: opts' key_rate */
    int64_t key_burst;      /* in: this key's bucket size, 0: opts' key_burst
                             * (or ceil(key_rate) when that is 0 too) */
    int64_t admitted;       /* out: 0..cost, or -1 if not decided */
    int64_t retry_after_ms; /* out: when the limiting bucket has its next
                             * token, 0 when all were admitted */
} kj_ratelimit_take_t;

/* Take tokens for every item, all in one pipeline (one round trip), at
 * now_ms (the caller's wall clock, kj_now_ms(); tests pass their own).
 * Items with nothing limited or cost 0 are answered without Redis.
 * Returns 0, or -1 if Redis failed or an item was invalid (logged): the
 * items with admitted -1 were not decided, the others were (and charged). */
int
kj_ratelimit_take(kj_ratelimit_t *self, kj_ratelimit_take_t *items, size_t n,
                  int64_t now_ms);

#endif
