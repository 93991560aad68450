/* router_assign: the router's per-message work. It matches the triage and
 * the complaint (channel, customer tier, public or not) against the
 * operator's routes and fills env->assignment: owning team, priority, SLA
 * policy and its two deadlines, the team's webhook, the acknowledgement
 * template, and whether to take the conversation private. */
#ifndef ROUTER_ASSIGN_H
#define ROUTER_ASSIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kj_envelope.h"
#include "kj_metrics.h"
#include "kj_redis.h"
#include "kj_rules.h"
#include "kj_stage.h"

typedef struct router_assign router_assign_t;

/* Assign with rules (borrowed: the service's, kept until it replaces
 * them through router_assign_rules_changed). */
router_assign_t *
router_assign_new(const kj_rules_t *rules);

void
router_assign_destroy(router_assign_t **self_p);

/* The rules in use (borrowed; replaced by a successful reload). */
const kj_rules_t *
router_assign_rules(const router_assign_t *self);

/* kj_stage rules hook: SIGHUP read new, valid rules; use them from now on.
 * Always 0. */
int
router_assign_rules_changed(void *ctx, const kj_rules_t *rules, char *err,
                            size_t err_size);

/* True for categories whose conversation should leave a public channel
 * (payment details, account access, personal data). */
bool
router_assign_sensitive(const char *category);

/* kj_stage process function: fills env->assignment. DEAD if the envelope
 * has no triage (the classifier must run first). */
/* File routed complaints in cases (kj_cases) over redis, the stage's
 * connection (borrowed; main thread only). Without it the router only
 * routes. */
void
router_assign_use_cases(router_assign_t *self, kj_redis_t *redis,
                        const char *prefix);

/* Count what the playbook did (kujo_router_no_auto_reply_total). */
void
router_assign_use_metrics(router_assign_t *self, kj_metrics_t *metrics);

/* Sweep SLA timers (router_clocks) over redis, the stage's connection;
 * offset_ms: KUJO_CLOCK_OFFSET_MS. */
void
router_assign_use_clocks(router_assign_t *self, kj_redis_t *redis,
                         const char *prefix, int64_t offset_ms,
                         int64_t lease_ms, kj_metrics_t *metrics);

/* kj_stage hooks: the poll wakes up for the next sweep, which runs after
 * the poll. */
long
router_assign_timeout_ms(void *ctx);

void
router_assign_after_poll(void *ctx, const zmq_pollitem_t *items, size_t n,
                         int64_t now_ms);

/* kj_stage's before_batch hook: route and file the whole batch in one
 * pipeline; process then picks each envelope's case up. */
void
router_assign_before_batch(void *ctx, kj_envelope_t *const *envs, size_t n,
                           int64_t now_ms);

kj_verdict_t
router_assign_process(void *ctx, kj_envelope_t *env, int64_t now_ms, char *err,
                      size_t err_size, int64_t *retry_at);

#endif
