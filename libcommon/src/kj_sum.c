/* kj_sum: SHA-256 of an envelope (see kj_sum.h). */
#include "kj_sum.h"

#include <string.h>

#include <openssl/sha.h>

void
kj_sum(const void *data, size_t len, uint8_t out[KJ_SUM_LEN])
{
    /* SHA256 takes NULL with length 0, but be explicit about it. */
    static const uint8_t empty = 0;
    SHA256(data ? data : &empty, data ? len : 0, out);
}

bool
kj_sum_equal(const uint8_t a[KJ_SUM_LEN], const uint8_t b[KJ_SUM_LEN])
{
    /* Not a secret: nothing is learnt from how early two sums differ. */
    return memcmp(a, b, KJ_SUM_LEN) == 0;
}
