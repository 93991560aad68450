/* kj_id: id format, partitions, time order, trace ids. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <string.h>

#include "kj_id.h"
#include "kj_util.h"

Test(id, usage_example)
{
    uint64_t rng = 1;
    char id[KJ_ID_LEN + 1];
    /* 2026-11-23T09:00:00.000Z, partition 7. */
    kj_id_new(id, 1795424400000LL, 7, &rng);
    cr_assert(eq(sz, strlen(id), 20));
    cr_assert(eq(int, strncmp(id, "01a207a23280", 12), 0), "%s", id);
    cr_assert(kj_id_valid(id));
    cr_assert(eq(int, kj_id_partition(id), 7));
    cr_assert(eq(chr, id[19], '7'));
}

Test(id, every_partition)
{
    uint64_t rng = 5;
    char id[KJ_ID_LEN + 1];
    for (int p = 0; p < KJ_PARTITIONS; p++) {
        kj_id_new(id, 1, p, &rng);
        cr_assert(kj_id_valid(id), "%s", id);
        cr_assert(eq(int, kj_id_partition(id), p), "%s", id);
    }
    /* Random partitions cover all 16. */
    int seen[KJ_PARTITIONS] = {0};
    for (int i = 0; i < 1000; i++) {
        kj_id_new(id, 1, -1, &rng);
        seen[kj_id_partition(id)]++;
    }
    for (int p = 0; p < KJ_PARTITIONS; p++)
        cr_assert(gt(int, seen[p], 20), "partition %d seen %d", p, seen[p]);
}

Test(id, sorts_by_time_and_unique)
{
    uint64_t rng = 9;
    char prev[KJ_ID_LEN + 1], id[KJ_ID_LEN + 1];
    kj_id_new(prev, 1000, -1, &rng);
    for (int64_t t = 1001; t < 2000; t++) {
        kj_id_new(id, t, -1, &rng);
        cr_assert(gt(int, strcmp(id, prev), 0), "%s !> %s", id, prev);
        memcpy(prev, id, sizeof(id));
    }
    char a[KJ_ID_LEN + 1], b[KJ_ID_LEN + 1];
    kj_id_new(a, 5000, 3, &rng);
    kj_id_new(b, 5000, 3, &rng);
    cr_assert(not(eq(str, a, b)));
}

Test(id, validity)
{
    cr_assert(kj_id_valid("0193a1b2c3d4e5f60718"));
    static const char *const bad[] = {
        "",
        "0193a1b2c3d4e5f6071",   /* 19 */
        "0193a1b2c3d4e5f607189", /* 21 */
        "0193A1B2C3D4E5F60718",  /* uppercase */
        "0193a1b2c3d4e5f6071g",
        "0193a1b2c3d4e5f6071 ",
        "../../etc/passwd0000",
    };
    for (size_t i = 0; i < KJ_ARRAY_LEN(bad); i++) {
        cr_assert(not(kj_id_valid(bad[i])), "\"%s\"", bad[i]);
        cr_assert(eq(int, kj_id_partition(bad[i]), -1));
    }
    cr_assert(not(kj_id_valid(NULL)));
    cr_assert(eq(int, kj_id_partition("0193a1b2c3d4e5f6071f"), 15));
}

Test(id, key_partition)
{
    /* kj_hash64 % 16, stable across runs. */
    const char *key = "order-123";
    cr_assert(eq(int, kj_key_partition(key),
                 (int)(kj_hash64(key, strlen(key)) % 16)));
    cr_assert(eq(int, kj_key_partition(""), (int)(0xcbf29ce484222325ULL % 16)));
    int seen[KJ_PARTITIONS] = {0};
    char k[32];
    for (int i = 0; i < 1600; i++) {
        snprintf(k, sizeof(k), "key-%d", i);
        int p = kj_key_partition(k);
        cr_assert(ge(int, p, 0));
        cr_assert(lt(int, p, KJ_PARTITIONS));
        seen[p]++;
    }
    for (int p = 0; p < KJ_PARTITIONS; p++)
        cr_assert(gt(int, seen[p], 40), "partition %d seen %d", p, seen[p]);
}

Test(id, trace_ids)
{
    uint64_t rng = 3;
    char a[33], b[33];
    kj_trace_id_new(a, &rng);
    kj_trace_id_new(b, &rng);
    cr_assert(eq(sz, strlen(a), 32));
    cr_assert(eq(sz, strspn(a, "0123456789abcdef"), 32));
    cr_assert(not(eq(str, a, b)));
}
