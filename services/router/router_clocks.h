/* router_clocks: the router's sweep of SLA timers (kj_cases clocks). Every
 * sweep claims the due timers of every tenant and fires each once: 75 %
 * warnings to the assignee, breaches that raise the priority and escalate
 * along the team's chain (rules: teams[].escalation), closing resolved
 * cases, and resuming paused cases with deadlines recomputed in the
 * clocks' business hours (kj_hours). A router that dies mid-sweep loses
 * nothing: its claims expire and another copy (or it, restarted) fires
 * them. */
#ifndef ROUTER_CLOCKS_H
#define ROUTER_CLOCKS_H

#include <stdint.h>

#include "kj_metrics.h"
#include "kj_redis.h"
#include "kj_rules.h"

#define ROUTER_CLOCKS_SWEEP_MS 250 /* how often timers are looked at */

typedef struct router_clocks router_clocks_t;

/* redis is the stage's (borrowed, main thread); offset_ms shifts the
 * clock timers fire by (KUJO_CLOCK_OFFSET_MS: tests and demos simulate
 * hours passing; 0 in production); a claimed timer is this copy's for
 * lease_ms (the stage's KUJO_LEASE_MS). metrics may be NULL. */
router_clocks_t *
router_clocks_new(kj_redis_t *redis, const char *prefix, int64_t offset_ms,
                  int64_t lease_ms, kj_metrics_t *metrics);

void
router_clocks_destroy(router_clocks_t **self_p);

/* Sweep if ROUTER_CLOCKS_SWEEP_MS passed since the last one (now_ms is
 * the real time; the offset is added here). Returns the timers fired,
 * or -1 if Redis failed (they come back after their lease). */
int
router_clocks_sweep(router_clocks_t *self, const kj_rules_t *rules,
                    int64_t now_ms);

/* ms until the next sweep is due (for the poll timeout). */
long
router_clocks_timeout_ms(const router_clocks_t *self, int64_t now_ms);

#endif
