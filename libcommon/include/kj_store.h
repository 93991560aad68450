/* kj_store: complaint records and their state machine in Redis, the
 * reliability contract in one place. Every operation is a Lua script
 * (libcommon/lua/store_*.lua) over keys of one partition (the layout is
 * kj_keys.h's), so Redis Cluster can shard it later. The record hash
 * <prefix>:{<p>}:c:<id> holds state env sum attempts reason dead_from
 * last_error created_ms updated_ms, and sla: the SLA verdict analytics
 * counted, written only by kj_store's Lua function record_sla
 * (lua/store_record_sla.lib.lua), which analytics' apply script embeds so
 * that the write stays atomic with its XACK and counts.
 *
 * A complaint's originals (contact details, raw text and subject) live
 * only in its PII record <prefix>:{<p>}:pii:<id>, written with the record
 * and expiring with it; envelopes stored after received hold masked text
 * and no contact details (see kj_store_pii_get).
 *
 * States: received -> classified -> routed -> delivered, or dead. The stage
 * that consumes a state owns its due zset: it is pushed the work, and it
 * claims overdue work after a lease if the push was lost. Batch calls are
 * one pipeline (one round trip) each.
 *
 * sum is kj_sum of env, written with it by every write of env (computed
 * here, so no caller can forget it). A stage passes the sum of the
 * envelope it was given as want_sum, and its write is refused
 * (KJ_STORE_FORGED, nothing changed) when the record holds another: bytes
 * that did not come from Redis never replace what Redis holds. */
#ifndef KJ_STORE_H
#define KJ_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kj_id.h"
#include "kj_redis.h"
#include "kj_sum.h"

/* An item's result when the record's envelope is not the one the caller
 * was given (its sum differs): nothing was written. */
#define KJ_STORE_FORGED (-2)

typedef struct kj_store kj_store_t;

typedef struct {
    const char *prefix;    /* key prefix, "kj" */
    int64_t lease_ms;      /* how long a claimed or pushed item is owned */
    int max_attempts;      /* attempts before a record goes dead */
    int64_t stream_maxlen; /* approximate cap of each events stream */
    int64_t retention_s;   /* TTL of records in a final state, 0: keep */
    int64_t idem_ttl_s;    /* how long Idempotency-Keys are remembered */
} kj_store_opts_t;

/* redis is borrowed. Registers the scripts on it. */
kj_store_t *
kj_store_new(kj_redis_t *redis, const kj_store_opts_t *opts);

void
kj_store_destroy(kj_store_t **self_p);

/* Write "<prefix>:{<p>}:<what>" into buf (kj_keys_partition); returns its
 * length, or -1 if it does not fit. */
int
kj_store_key(const kj_store_t *self, char *buf, size_t size, int partition,
             const char *what);

/* A complaint's originals as the customer sent them, for the PII record.
 * Borrowed strings; NULL or empty ones are not stored. */
typedef struct {
    const char *name;
    const char *email;
    const char *text;
    const char *subject;
} kj_store_pii_t;

/* Ingest: create records in state received with deadline now + lease, an
 * event each, and the idempotency mapping - before answering 202. */
typedef struct {
    const char *id;       /* in: a fresh kj_id in the key's partition */
    const char *idem_key; /* in: NULL or the client's key (already scoped) */
    const uint8_t *env;
    size_t env_len;
    const uint8_t *event;
    size_t event_len;
    const kj_store_pii_t *pii; /* in: NULL or the originals */
    int result; /* out: 1 created, 0 duplicate, -1 error (nothing written),
                   KJ_STORE_UNKNOWN: sent, but no answer came back */
    char existing_id[KJ_ID_LEN + 1]; /* out: for duplicates */
} kj_store_create_t;

/* A write was sent but its answer never came (a timeout, or the connection
 * broke): Redis may or may not have applied it. Retrying a create with the
 * same idempotency key is safe, so ingest tells its client to do that. */
#define KJ_STORE_UNKNOWN (-3)

/* One pipeline for all n. Returns 0, or -1 if Redis failed (results -1),
 * or KJ_STORE_UNKNOWN if some results are. */
int
kj_store_create(kj_store_t *self, kj_store_create_t *items, size_t n,
                int64_t now_ms);

/* A stage's result: from -> to, only if the record is still in from. */
typedef struct {
    const char *id;
    const char *from;
    const char *to;
    const uint8_t *env; /* new envelope bytes, NULL to keep */
    size_t env_len;
    int64_t due_ms; /* deadline in `to` (0: none, e.g. final states) */
    const uint8_t *event;
    size_t event_len;
    const char *reason; /* why, when to is "dead" */
    /* kj_sum of the envelope the stage was given (pushed or claimed):
     * applied only if the record still holds it. NULL: no check. */
    const uint8_t *want_sum;
    int result; /* out: 1 applied, 0 stale (dropped), -1 error,
                   KJ_STORE_FORGED */
} kj_store_transition_t;

int
kj_store_transition(kj_store_t *self, kj_store_transition_t *items, size_t n,
                    int64_t now_ms);

/* A failed attempt: stay in state and come due again at next_ms, or go
 * dead (with dead_event) if attempts already reached max_attempts.
 * With defer set it was no attempt at all (nothing was sent): the record
 * never goes dead, and the attempt its claim counted is given back, so the
 * next claim counts the same attempt again. */
typedef struct {
    const char *id;
    const char *state;
    int64_t next_ms;
    const char *error;  /* the attempt's error, kept as last_error/reason */
    const uint8_t *env; /* NULL to keep */
    size_t env_len;
    const uint8_t *dead_event;
    size_t dead_event_len;
    bool defer; /* not an attempt: never dead, attempts not spent */
    const uint8_t *want_sum; /* as in kj_store_transition_t */
    int result;              /* out: 1 rescheduled, 2 dead, 0 stale, -1 error,
                                KJ_STORE_FORGED */
} kj_store_retry_t;

int
kj_store_retry(kj_store_t *self, kj_store_retry_t *items, size_t n,
               int64_t now_ms);

/* Overdue work claimed atomically: its deadline moves to now + lease and
 * its attempts count goes up, so two copies never both take it. */
typedef struct {
    char id[KJ_ID_LEN + 1];
    int attempts;
    const uint8_t *env; /* owned by the store until the next claim */
    size_t env_len;
    char last_error[256];
} kj_store_claim_t;

/* Claim up to max records in state whose deadline has passed, across all
 * partitions. Returns the number claimed, or -1 on Redis failure. */
int
kj_store_claim(kj_store_t *self, const char *state, int64_t now_ms,
               kj_store_claim_t *out, size_t max);

/* A pushed envelope checked against its record before a side effect (the
 * notifier's POST): the record is in state and holds sum. */
typedef struct {
    const char *id;
    const char *state;
    const uint8_t *sum; /* kj_sum of the envelope received */
    int result;         /* out: 1 matches, 0 not in state (stale), -1 error,
                           KJ_STORE_FORGED: another envelope or no such record */
} kj_store_verify_t;

/* One pipeline of reads (HMGET state sum) for all n. A record without a
 * sum (written before sums existed) matches on its state. Returns 0, or
 * -1 if Redis failed (results -1). */
int
kj_store_verify(kj_store_t *self, kj_store_verify_t *items, size_t n);

typedef struct {
    char state[16];
    int attempts;
    char reason[256];
    char dead_from[16];
    char last_error[256];
    int64_t created_ms, updated_ms;
    uint8_t *env; /* caller frees */
    size_t env_len;
} kj_store_record_t;

/* 1 found, 0 no such id, -1 Redis failure. */
int
kj_store_get(kj_store_t *self, const char *id, kj_store_record_t *rec);

/* An operator's replay of a dead record: back to the state it died in, due
 * now, attempts reset. 1 replayed, 0 not dead, -1 Redis failure. */
int
kj_store_replay(kj_store_t *self, const char *id, int64_t now_ms);

/* Records waiting in state (sum of the due zsets), -1 on failure. */
int64_t
kj_store_depth(kj_store_t *self, const char *state);

/* A PII record read back: each field NULL when it was not stored. */
typedef struct {
    char *name; /* all caller-owned: kj_store_pii_clear frees them */
    char *email;
    char *text;
    char *subject;
} kj_store_pii_record_t;

/* The originals of complaint id, for a caller allowed to see them (the
 * complaints:read_pii scope); who names that caller (an API key id).
 * Every read that returns originals is audited first: an entry {who, id,
 * at_ms} on the capped stream <prefix>:audit; if the audit cannot be
 * written nothing is returned. 1 found, 0 no PII record, -1 Redis
 * failure. */
int
kj_store_pii_get(kj_store_t *self, const char *id, const char *who,
                 int64_t now_ms, kj_store_pii_record_t *out);

/* Free out's strings and zero it. Safe on a zeroed record. */
void
kj_store_pii_clear(kj_store_pii_record_t *out);

#endif
