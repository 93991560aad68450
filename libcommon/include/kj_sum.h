/* kj_sum: the digest of an envelope's bytes that the store keeps beside
 * them (the record's `sum` field). A stage's write is applied only if the
 * envelope it was given has the stored sum, so bytes that did not come
 * from Redis (a forged push) can never replace what Redis holds. SHA-256,
 * computed here rather than in Lua because Redis CPU is the scarce
 * resource (about 3 us for a 5 KB envelope with SHA-NI). */
#ifndef KJ_SUM_H
#define KJ_SUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KJ_SUM_LEN 32 /* raw bytes, as stored and passed in ARGV */

/* The sum of data[len] into out. */
void
kj_sum(const void *data, size_t len, uint8_t out[KJ_SUM_LEN]);

/* True if a and b are the same sum. */
bool
kj_sum_equal(const uint8_t a[KJ_SUM_LEN], const uint8_t b[KJ_SUM_LEN]);

#endif
