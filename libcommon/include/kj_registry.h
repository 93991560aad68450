/* kj_registry: where each stage's copies listen. Each copy heartbeats its
 * endpoint into <prefix>:reg:<stage> (a zset, score = expiry ms); upstream
 * copies list the live ones and connect to all of them. */
#ifndef KJ_REGISTRY_H
#define KJ_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "kj_redis.h"

/* Announce endpoint as live until now + ttl. 0 or -1. */
int
kj_registry_heartbeat(kj_redis_t *r, const char *prefix, const char *stage,
                      const char *endpoint, int64_t now_ms, int64_t ttl_ms);

/* Withdraw endpoint (on drain). 0 or -1. */
int
kj_registry_remove(kj_redis_t *r, const char *prefix, const char *stage,
                   const char *endpoint);

/* Live endpoints of stage, pruning expired ones. *out is a NULL-terminated
 * array the caller frees with kj_registry_free. Returns count or -1. */
int
kj_registry_list(kj_redis_t *r, const char *prefix, const char *stage,
                 int64_t now_ms, char ***out);

void
kj_registry_free(char **list);

#endif
