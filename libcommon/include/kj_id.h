/* kj_id: complaint ids and their Redis partition. An id is 20 lowercase hex
 * digits: 12 of millisecond timestamp (so ids sort by time) then 8 random.
 * The last hex digit is the partition (0..15), which lets an
 * Idempotency-Key choose the partition of the id it will map to, so both
 * keys share a Redis Cluster hash slot. */
#ifndef KJ_ID_H
#define KJ_ID_H

#include <stdbool.h>
#include <stdint.h>

#define KJ_ID_LEN 20
#define KJ_PARTITIONS 16

/* Write a new id into out[KJ_ID_LEN + 1]. partition < 0: random. */
void
kj_id_new(char out[KJ_ID_LEN + 1], int64_t now_ms, int partition,
          uint64_t *rng);

/* True if s is a well-formed id. */
bool
kj_id_valid(const char *s);

/* The partition of a valid id. */
int
kj_id_partition(const char *id);

/* The partition an arbitrary key (an Idempotency-Key) maps to. */
int
kj_key_partition(const char *key);

/* A 32-hex-digit trace id into out[33]. */
void
kj_trace_id_new(char out[33], uint64_t *rng);

#endif
