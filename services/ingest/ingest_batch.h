/* ingest_batch: the complaints accepted during one turn of the loop,
 * written to Redis with one pipelined kj_store_create (one round trip for
 * the whole batch) before any of them is answered, then pushed to the
 * classifier. Storage is allocated once: the loop's hot path does not
 * allocate per request. Knows nothing of HTTP: each item carries an opaque
 * owner (the waiting request). */
#ifndef INGEST_BATCH_H
#define INGEST_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest_metrics.h"
#include "kj_envelope.h"
#include "kj_mq.h"
#include "kj_store.h"

/* "ext:" tenant ":" channel ":" external_id, or tenant ":" key. */
#define INGEST_SCOPED_KEY_MAX 400

typedef struct ingest_batch ingest_batch_t;

/* One accepted complaint and, after the flush, what became of it. */
typedef struct {
    void *owner; /* the request waiting for the answer */
    int result;  /* 1 created, 0 duplicate, -1 failed (nothing written),
                    KJ_STORE_UNKNOWN: may or may not be stored */
    char id[KJ_ID_LEN + 1]; /* the id to answer with */
} ingest_batch_result_t;

/* Room for cap complaints. */
ingest_batch_t *
ingest_batch_new(size_t cap, ingest_metrics_t *metrics);

void
ingest_batch_destroy(ingest_batch_t **self_p);

size_t
ingest_batch_count(const ingest_batch_t *self);

bool
ingest_batch_full(const ingest_batch_t *self);

/* The complaint slot the next ingest_batch_add will take, for the validator
 * to fill in place (a complaint is 10 kB: no copy). Valid while the batch
 * is not full. */
kj_complaint_t *
ingest_batch_slot(ingest_batch_t *self);

/* Take the filled slot: give it an id (in the partition of the scoped
 * idempotency key, if any, so both keys share a hash slot) and a trace id.
 * idem_key is the client's Idempotency-Key (NULL if none). in_ms is when
 * the request was complete. The batch must not be full. */
void
ingest_batch_add(ingest_batch_t *self, void *owner, const char *idem_key,
                 int64_t in_ms);

/* Result of an item held back (ingest_batch_hold): nothing was written. */
#define INGEST_BATCH_HELD (-4)

/* Leave item i out of the next flush (over its rate limit): its result is
 * INGEST_BATCH_HELD. */
void
ingest_batch_hold(ingest_batch_t *self, size_t i);

/* Item i's owner, before the flush. */
void *
ingest_batch_owner(const ingest_batch_t *self, size_t i);

/* Write every complaint: stamp and encode the envelopes, one pipelined
 * kj_store_create, then fill the results (ingest_batch_result). Returns 0,
 * or -1 if Redis failed for some (see each result). */
int
ingest_batch_flush(ingest_batch_t *self, kj_store_t *store, int64_t now_ms);

/* Item i's result after a flush. */
const ingest_batch_result_t *
ingest_batch_result(const ingest_batch_t *self, size_t i);

/* Push the created envelopes to the classifier. A failed send loses
 * nothing (the record is due in Redis and is claimed after its lease), so
 * after one failure the rest are left to that path rather than stall the
 * loop. Returns how many were sent. */
size_t
ingest_batch_push(ingest_batch_t *self, kj_push_t *push);

/* Empty the batch for the next turn (storage is kept). */
void
ingest_batch_clear(ingest_batch_t *self);

/* The scoped idempotency key for c: "<tenant>:<key>" for a client's
 * Idempotency-Key, else "ext:<tenant>:<channel>:<external_id>" when the
 * complaint names its channel's own id (re-sent posts map to one record),
 * else "" (no dedupe). Writes into out[INGEST_SCOPED_KEY_MAX]. */
void
ingest_scoped_key(const kj_complaint_t *c, const char *idem_key,
                  char out[INGEST_SCOPED_KEY_MAX]);

#endif
