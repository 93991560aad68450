/* kj_id: complaint ids sort by time (12 hex digits of milliseconds) and
 * carry their Redis partition in the last hex digit. */
#include "kj_id.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_util.h"

static const char s_hex[] = "0123456789abcdef";

static void
s_put_hex(char *out, uint64_t v, int digits)
{
    for (int i = digits - 1; i >= 0; i--) {
        out[i] = s_hex[v & 15];
        v >>= 4;
    }
}

void
kj_id_new(char out[KJ_ID_LEN + 1], int64_t now_ms, int partition, uint64_t *rng)
{
    if (partition >= KJ_PARTITIONS) {
        fprintf(stderr, "kj_id_new: partition %d out of range\n", partition);
        abort();
    }
    /* 48 bits of milliseconds last until the year 10889. */
    s_put_hex(out, (uint64_t)now_ms & 0xFFFFFFFFFFFFULL, 12);
    uint64_t r = kj_rand64(rng) & 0xFFFFFFFFULL;
    if (partition >= 0)
        r = (r & ~(uint64_t)15) | (uint64_t)partition;
    s_put_hex(out + 12, r, 8);
    out[KJ_ID_LEN] = '\0';
}

static int
s_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

bool
kj_id_valid(const char *s)
{
    if (!s)
        return false;
    for (int i = 0; i < KJ_ID_LEN; i++) {
        if (s_hex_value(s[i]) < 0)
            return false;
    }
    return s[KJ_ID_LEN] == '\0';
}

int
kj_id_partition(const char *id)
{
    /* -1 for a malformed id, so a caller that forgot to validate gets an
     * obviously wrong partition rather than a plausible one. */
    if (!kj_id_valid(id))
        return -1;
    return s_hex_value(id[KJ_ID_LEN - 1]);
}

int
kj_key_partition(const char *key)
{
    return (int)(kj_hash64(key, strlen(key)) % KJ_PARTITIONS);
}

void
kj_trace_id_new(char out[33], uint64_t *rng)
{
    s_put_hex(out, kj_rand64(rng), 16);
    s_put_hex(out + 16, kj_rand64(rng), 16);
    out[32] = '\0';
}
