/* kj_stage: the pipeline stage (classifier, router, notifier) as a driver
 * of kj_service, which owns signals, the admin port, metrics, readiness and
 * the drain. The stage owns the PULL socket and its registry heartbeat,
 * the PUSH to the next stage (kj_downstream), the store, and runs:
 *
 *   poll (PULL, signalfd, the service's own fds) ->
 *   drain up to batch_max envelopes -> process each ->
 *   commit all results in one Redis pipeline -> push the applied ones on;
 *   every tick: heartbeat, refresh downstream peers, claim overdue work,
 *   update queue depth.
 *
 * First SIGTERM drains: /readyz 503, registry entry removed, queued and
 * pending work finished (bounded by drain_ms); a second one exits at once.
 * SIGHUP rereads the rules (kj_service) and calls the reload hooks. */
#ifndef KJ_STAGE_H
#define KJ_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "kj_envelope.h"
#include "kj_metrics.h"
#include "kj_redis.h"
#include "kj_service.h"
#include "kj_store.h"

typedef struct kj_stage kj_stage_t;

typedef struct {
    /* The runtime to run in; NULL: the stage makes its own from name,
     * redis_url, admin_addr and drain_ms (tests, embedders). */
    kj_service_t *service;
    const char *name;      /* "classifier": registry name, stamps, events */
    const char *in_state;  /* the state this stage consumes: "received" */
    const char *out_state; /* the state it produces: "classified" */
    const char *next;      /* registry name downstream; NULL: last stage */
    const char *redis_url; /* without a service only */
    const char *prefix;
    const char *admin_addr; /* without a service only */
    const char *zmq_bind;
    const char *zmq_advertise;
    /* CURVE keys (borrowed; its ZAP handler runs on the stage's context),
     * or NULL: plain ZeroMQ. */
    kj_curve_t *curve;
    int64_t lease_ms;
    int64_t max_attempts;
    int64_t batch_max;
    int64_t hwm;
    int64_t retention_s;
    int64_t stream_maxlen;
    int64_t drain_ms;
    /* Check each pushed envelope against its record (in in_state, same
     * kj_sum) in one pipeline per batch before process runs, dropping
     * those that do not match: for a stage whose process has side effects
     * before its transition (the notifier's POST). Without it, the
     * transition's own check still keeps a forged envelope out of Redis. */
    bool verify_pushed;
} kj_stage_opts_t;

typedef enum {
    KJ_VERDICT_DONE,    /* go to out_state and downstream */
    KJ_VERDICT_RETRY,   /* stay; try again at *retry_at_ms (error kept) */
    KJ_VERDICT_DEAD,    /* dead-letter now with the error */
    KJ_VERDICT_PENDING, /* async: the service calls kj_stage_complete */
    /* Stay; come due again at *retry_at_ms without spending an attempt:
     * nothing was tried (the notifier's circuit is open, or no slot was
     * free). Never dead-letters. The error is kept as last_error. */
    KJ_VERDICT_DEFER,
} kj_verdict_t;

/* Process one envelope in place. err[err_size] receives a short reason for
 * RETRY/DEAD/DEFER (never complaint text). */
typedef kj_verdict_t (*kj_stage_process_fn)(void *ctx, kj_envelope_t *env,
                                            int64_t now_ms, char *err,
                                            size_t err_size,
                                            int64_t *retry_at_ms);

/* Optional hooks for services with their own I/O (the notifier's curl). */
typedef struct {
    /* Add pollitems for the service's fds; returns how many were added. */
    size_t (*pollitems)(void *ctx, zmq_pollitem_t *items, size_t max);
    /* The longest the loop may sleep, in ms (-1: no limit of its own). */
    long (*timeout_ms)(void *ctx);
    /* After each poll: drive I/O, call kj_stage_complete for finished work. */
    void (*after_poll)(void *ctx, const zmq_pollitem_t *items, size_t n,
                       int64_t now_ms);
    /* Work still in flight (drain waits for it to reach 0). */
    size_t (*inflight)(void *ctx);
    /* SIGHUP read new, valid rules: adopt them (0) or refuse them (-1,
     * err filled; the old ones stay). */
    int (*rules_changed)(void *ctx, const kj_rules_t *rules, char *err,
                         size_t err_size);
    /* SIGHUP beyond the rules (models): 0, or -1 with err filled. */
    int (*reload)(void *ctx, char *err, size_t err_size);
    /* Before process runs on each envelope of a batch (pushed or
     * claimed), in the order process will see them: for work done best
     * for all at once (one Redis pipeline, the router's cases). */
    void (*before_batch)(void *ctx, kj_envelope_t *const *envs, size_t n,
                         int64_t now_ms);
} kj_stage_hooks_t;

/* Set up everything (binds, registers metrics; without a service, also
 * the admin port). NULL with a logged error if something cannot start. */
kj_stage_t *
kj_stage_new(const kj_stage_opts_t *opts);

void
kj_stage_destroy(kj_stage_t **self_p);

/* The options of a stage running in service (made from the command line):
 * its name, shared option values, final records kept 30 days, event
 * streams capped near 100k entries per partition. */
kj_stage_opts_t
kj_stage_opts_for(kj_service_t *service, const char *in_state,
                  const char *out_state, const char *next);

/* Run until drained after SIGTERM/SIGINT. Returns the process exit code:
 * 0 after a drain (even one cut short by drain_ms: unfinished work stays
 * due in Redis), 1 when a second signal, SIGQUIT or a poll failure ended
 * it at once. */
int
kj_stage_run(kj_stage_t *self, kj_stage_process_fn process,
             const kj_stage_hooks_t *hooks, void *ctx);

/* Ask the loop to stop, from any thread (or a signal handler): the first
 * call drains exactly like SIGTERM, a second one exits at once. Lets a
 * program that runs a stage on a thread (tests, embedders) end it without
 * process-wide signals. */
void
kj_stage_stop(kj_stage_t *self);

/* Finish an envelope that process returned PENDING for. env is copied. */
void
kj_stage_complete(kj_stage_t *self, const kj_envelope_t *env,
                  kj_verdict_t verdict, const char *err, int64_t retry_at_ms);

/* The stage's metrics registry (to add service-specific metrics). */
kj_metrics_t *
kj_stage_metrics(kj_stage_t *self);

/* The admin port actually bound (admin_addr may ask for port 0). */
int
kj_stage_admin_port(const kj_stage_t *self);

/* The stage's Redis connection (main thread only). */
kj_redis_t *
kj_stage_redis(kj_stage_t *self);

#endif
