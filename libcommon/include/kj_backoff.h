/* kj_backoff: exponential backoff with full jitter (AWS architecture blog):
 * delay = random(0, min(cap, base * 2^(attempt-1))). */
#ifndef KJ_BACKOFF_H
#define KJ_BACKOFF_H

#include <stdint.h>

/* Delay in ms before retry number `attempt` (1 = first retry).
 * rng is a kj_rand64 state. Never negative, never above cap_ms. */
int64_t
kj_backoff_delay_ms(int attempt, int64_t base_ms, int64_t cap_ms,
                    uint64_t *rng);

#endif
