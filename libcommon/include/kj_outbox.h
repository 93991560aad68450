/* kj_outbox: deliveries owed by the router and the playbook (customer
 * acknowledgements, SLA warnings, escalations, follow-ups, survey
 * requests), delivered by the notifier exactly once per job as far as a
 * receiver can tell: a job is claimed under a lease, sent with its id as
 * the Idempotency-Key, and answered done (recorded on the complaint) or
 * retried with backoff until it is dead. Every operation is one Lua
 * script over one tenant's keys under its hash tag (case_lib.lib.lua
 * documents them: outbox, ob:<job>, dl:<complaint>, outbox_dead).
 *
 * One kj_outbox per thread (it uses the thread's kj_redis). */
#ifndef KJ_OUTBOX_H
#define KJ_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kj_id.h"
#include "kj_redis.h"

#define KJ_OUTBOX_JOB_MAX 128    /* "<complaint>:<kind>[:<n>]" and a NUL */
#define KJ_OUTBOX_KIND_MAX 32    /* customer_ack ... incident_resolved */
#define KJ_OUTBOX_TENANT_MAX 128 /* tenant ids */
#define KJ_OUTBOX_PAYLOAD_MAX (64 * 1024) /* a job's JSON */
#define KJ_OUTBOX_RETENTION_S                                                  \
    (30 * 86400) /* dl:<complaint> lives this long                             \
                  */

typedef struct kj_outbox kj_outbox_t;

/* A claimed job. payload is the caller's to free (kj_outbox_job_clear). */
typedef struct {
    char tenant[KJ_OUTBOX_TENANT_MAX];
    char id[KJ_OUTBOX_JOB_MAX]; /* the idempotency key */
    char kind[KJ_OUTBOX_KIND_MAX];
    char complaint_id[KJ_ID_LEN + 1];
    char case_id[KJ_ID_LEN + 1];
    char *payload;    /* JSON object text as owed */
    int64_t attempts; /* claims so far, this one included; fences answers */
} kj_outbox_job_t;

/* redis is borrowed; prefix as kj_store's ("kj"). Registers the scripts. */
kj_outbox_t *
kj_outbox_new(kj_redis_t *redis, const char *prefix);

void
kj_outbox_destroy(kj_outbox_t **self_p);

/* True for the kinds the outbox knows: customer_ack, survey_request,
 * incident_notice, incident_resolved (customer-facing) and sla_warning,
 * escalation, follow_up (internal). */
bool
kj_outbox_kind_valid(const char *kind);

/* True for the kinds that go to the customer through a channel
 * connector. */
bool
kj_outbox_kind_customer(const char *kind);

/* Owe a job due at due_ms (and add tenant to <prefix>:tenants). 1 new,
 * 0 owed already (nothing changed), -1 if the arguments cannot name keys
 * or Redis failed. */
int
kj_outbox_put(kj_outbox_t *self, const char *tenant, const char *job,
              const char *kind, const char *complaint_id, const char *case_id,
              const char *payload, int64_t due_ms);

/* Claim up to max due jobs across every tenant in <prefix>:tenants (one
 * pipelined claim per tenant), each leased until now_ms + lease_ms.
 * Fills jobs[0..*n). 0, or -1 if Redis failed (nothing claimed). */
int
kj_outbox_claim(kj_outbox_t *self, int64_t now_ms, int64_t lease_ms,
                kj_outbox_job_t *jobs, size_t max, size_t *n);

/* Free a claimed job's payload. */
void
kj_outbox_job_clear(kj_outbox_job_t *job);

/* The job was delivered (http_status, to endpoint: an origin safe to
 * store). 1 recorded, 0 already gone, -1 Redis failed. */
int
kj_outbox_done(kj_outbox_t *self, const kj_outbox_job_t *job,
               const char *endpoint, int http_status, int64_t now_ms);

/* Many deliveries recorded at once, one pipeline (one round trip). */
typedef struct {
    const kj_outbox_job_t *job;
    const char *endpoint;
    int http_status;
    int result; /* out: as kj_outbox_done returns */
} kj_outbox_done_t;

/* 0, or -1 if Redis failed (results -1: the jobs come back after their
 * lease and are sent again with the same key, then recorded). */
int
kj_outbox_done_batch(kj_outbox_t *self, kj_outbox_done_t *items, size_t n,
                     int64_t now_ms);

/* How kj_outbox_retry ended. */
typedef enum {
    KJ_OUTBOX_RETRY = 0, /* due again at next_ms */
    KJ_OUTBOX_DEAD,      /* max attempts spent: in outbox_dead */
    KJ_OUTBOX_GONE,      /* no longer there (done by another claim) */
    KJ_OUTBOX_STALE,     /* another claim holds it now: nothing changed */
    KJ_OUTBOX_FAILED,    /* Redis failed */
} kj_outbox_retry_rc_t;

/* The job was not delivered: error (short, no personal data) becomes its
 * last_error. defer: nothing was sent, the attempt is given back and it
 * never dies for it; else it is dead once max_attempts claims failed. */
kj_outbox_retry_rc_t
kj_outbox_retry(kj_outbox_t *self, const kj_outbox_job_t *job, int64_t next_ms,
                const char *error, int64_t max_attempts, bool defer,
                const char *endpoint, int http_status, int64_t now_ms);

/* How an operator's kj_outbox_replay or kj_outbox_drop ended. */
typedef enum {
    KJ_OUTBOX_DEAD_DONE = 0, /* replayed (due now) or dropped */
    KJ_OUTBOX_DEAD_NOT_DEAD, /* not in outbox_dead: nothing changed */
    KJ_OUTBOX_DEAD_NO_JOB,   /* listed dead, its hash gone: drop only */
    KJ_OUTBOX_DEAD_FAILED,   /* bad tenant or job, or Redis failed */
} kj_outbox_dead_rc_t;

/* Put dead job of tenant back in the outbox, due at now_ms, with the
 * same id (its idempotency key) and attempts reset; its last_error is
 * kept as replayed_from. Atomic; a job that is not dead is left alone. */
kj_outbox_dead_rc_t
kj_outbox_replay(kj_outbox_t *self, const char *tenant, const char *job,
                 int64_t now_ms);

/* Remove dead job of tenant from outbox_dead and delete its hash.
 * Atomic; a job that is not dead is left alone. */
kj_outbox_dead_rc_t
kj_outbox_drop(kj_outbox_t *self, const char *tenant, const char *job);

/* The deliveries recorded for complaint_id of tenant, oldest first, as a
 * new JSON array of objects {kind, endpoint, status, attempts,
 * http_status, error, at_ms, idempotency_key} in *array (the caller's;
 * empty for a tenant that cannot name a key). 0, or -1 if Redis failed. */
int
kj_outbox_deliveries(kj_outbox_t *self, const char *tenant,
                     const char *complaint_id, json_t **array);

/* Per-channel notice rates (KUJO_NOTICE_RATE, "email=50,line=20,web=100":
 * incident notices per second to customers of each channel; "*" names
 * every other channel). Analytics spaces an incident's jobs by them and
 * the notifier holds them (see docs/ARCHITECTURE.md, "Incidents"). */
#define KJ_OUTBOX_RATES_MAX 16
#define KJ_OUTBOX_CHANNEL_MAX 32

typedef struct {
    char channel[KJ_OUTBOX_CHANNEL_MAX]; /* a channel name, or "*" */
    double per_s;                        /* > 0 */
} kj_outbox_rate_t;

/* Parse spec ("" or NULL: no limits) into rates[0..*n) (at most max).
 * 0, or -1 with the reason in err. */
int
kj_outbox_rates_parse(const char *spec, kj_outbox_rate_t *rates, size_t max,
                      size_t *n, char *err, size_t err_size);

/* The rate for channel (its own, else "*"'s), 0 if unlimited. */
double
kj_outbox_rate_for(const kj_outbox_rate_t *rates, size_t n,
                   const char *channel);

#endif
