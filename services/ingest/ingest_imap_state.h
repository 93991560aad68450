/* ingest_imap_state: what the IMAP poller keeps in Redis per mailbox, so
 * that a restart or another copy carries on exactly where the last left:
 *
 *   <prefix>:imap:{<mailbox>}:lease  owner token, SET NX PX, renewed while
 *                                    polling, deleted on exit
 *   <prefix>:imap:{<mailbox>}:pos    hash uidvalidity, last_uid: the last
 *                                    message whose outcome is in Redis
 *   <prefix>:imap:{<mailbox>}:dead   hash "<uidvalidity>:<uid>" -> JSON of a
 *                                    message that could not be parsed
 *
 * <mailbox> is the URL without credentials; the hash tag keeps one
 * mailbox's keys in one Redis Cluster slot. The position only moves while
 * the lease is ours (one script checks both), so a copy that lost its
 * lease cannot move it back. Hashes, not lists: taking a message twice
 * after a crash writes the same field again instead of a second entry. */
#ifndef INGEST_IMAP_STATE_H
#define INGEST_IMAP_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "kj_redis.h"

typedef struct ingest_imap_state ingest_imap_state_t;

/* State kept through redis (borrowed) under prefix; owner names this copy
 * in the lease; lease_ms is how long a lease lasts without renewal. */
ingest_imap_state_t *
ingest_imap_state_new(kj_redis_t *redis, const char *prefix, const char *owner,
                      int64_t lease_ms);

void
ingest_imap_state_destroy(ingest_imap_state_t **self_p);

/* Take the mailbox's lease, or renew it if it is already ours. 1 held, 0
 * another copy holds it, -1 Redis failed. */
int
ingest_imap_lease_take(ingest_imap_state_t *self, const char *mailbox);

/* Delete the lease if it is still ours. 0, or -1 Redis failed. */
int
ingest_imap_lease_release(ingest_imap_state_t *self, const char *mailbox);

/* The saved position. 1 found, 0 none yet (both set to 0), -1 Redis. */
int
ingest_imap_pos_get(ingest_imap_state_t *self, const char *mailbox,
                    uint64_t *uidvalidity, uint64_t *last_uid);

/* Save the position if the lease is still ours. 1 saved, 0 the lease is
 * lost (nothing written), -1 Redis failed. */
int
ingest_imap_pos_set(ingest_imap_state_t *self, const char *mailbox,
                    uint64_t uidvalidity, uint64_t last_uid);

/* One message held back: kind "dead" (unparsable), json its
 * description; kind names the hash it goes to. */
typedef struct {
    const char *kind;
    uint64_t uid;
    const char *json;
} ingest_imap_parked_t;

/* Write n held-back messages of one mailbox in one pipeline. 0, or -1 if
 * any write failed (all may be written again: they are idempotent). */
int
ingest_imap_park(ingest_imap_state_t *self, const char *mailbox,
                 uint64_t uidvalidity, const ingest_imap_parked_t *items,
                 size_t n);

#endif
