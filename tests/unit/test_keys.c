/* kj_keys: every Redis key name, and the hash tag that keeps one
 * complaint's keys in one Redis Cluster slot. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdint.h>
#include <string.h>

#include "kj_id.h"
#include "kj_keys.h"

Test(keys, usage_example)
{
    char key[128];
    int n = kj_keys_make(key, sizeof key, "kj", 7, KJ_KEY_RECORD,
                         "01JDQ7Y3A2B4C6D8E0F1G2H3J4");
    cr_assert(eq(str, key, "kj:{7}:c:01JDQ7Y3A2B4C6D8E0F1G2H3J4"));
    cr_assert(eq(int, n, (int)strlen(key)));
}

Test(keys, the_layout)
{
    static const struct {
        kj_key_t key;
        const char *name;
        const char *want;
    } cases[] = {
        {KJ_KEY_RECORD, "X", "p:{3}:c:X"},
        {KJ_KEY_DUE, "classified", "p:{3}:due:classified"},
        {KJ_KEY_DEAD, NULL, "p:{3}:dead"},
        {KJ_KEY_EVENTS, NULL, "p:{3}:events"},
        {KJ_KEY_IDEM, "acme:k-1", "p:{3}:idem:acme:k-1"},
        {KJ_KEY_STATS, NULL, "p:{3}:stats"},
        {KJ_KEY_SLA, NULL, "p:{3}:sla"},
        {KJ_KEY_PII, "X", "p:{3}:pii:X"},
    };
    char key[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kj_keys_make(key, sizeof key, "p", 3, cases[i].key, cases[i].name);
        cr_assert(eq(str, key, (char *)cases[i].want));
    }
    /* The generic form names the same keys. */
    cr_assert(
        eq(int, kj_keys_partition(key, sizeof key, "p", 3, "events"), 12));
    cr_assert(eq(str, key, "p:{3}:events"));
    cr_assert(
        eq(int, kj_keys_registry(key, sizeof key, "kj", "classifier"), 17));
    cr_assert(eq(str, key, "kj:reg:classifier"));
    cr_assert(eq(int, kj_keys_audit(key, sizeof key, "kj"), 8));
    cr_assert(eq(str, key, "kj:audit"));
    cr_assert(eq(int, kj_keys_audit(key, 8, "kj"), -1));
}

Test(keys, too_small_a_buffer_is_refused_not_cut)
{
    char key[16];
    memset(key, 'x', sizeof key);
    /* "kj:{15}:due:received" is 20 bytes. */
    cr_assert(
        eq(int, kj_keys_make(key, sizeof key, "kj", 15, KJ_KEY_DUE, "received"),
           -1));
    cr_assert(eq(str, key, ""));
    /* "kj:{1}:events" is 13: it needs 14 with the NUL. */
    cr_assert(eq(int, kj_keys_partition(key, 14, "kj", 1, "events"), 13));
    cr_assert(eq(int, kj_keys_partition(key, 13, "kj", 1, "events"), -1));
    cr_assert(eq(int, kj_keys_registry(key, 15, "kj", "notifier"), -1));
}

/* Redis Cluster's slot of a key: CRC16 (XMODEM) of the hash tag, the text
 * between the first '{' and the next '}' if not empty, else of the key. */
static unsigned
s_slot(const char *key)
{
    size_t len = strlen(key);
    const char *open = strchr(key, '{');
    if (open) {
        const char *close = strchr(open + 1, '}');
        if (close && close > open + 1) {
            key = open + 1;
            len = (size_t)(close - open - 1);
        }
    }
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)key[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021)
                               : (uint16_t)(crc << 1);
    }
    return crc & 16383;
}

Test(keys, one_complaints_keys_share_a_slot)
{
    /* The CRC16 of "123456789" is 0x31C3 (the check value of XMODEM). */
    cr_assert(eq(u32, s_slot("123456789"), 0x31C3u & 16383));
    char key[256];
    for (int p = 0; p < KJ_PARTITIONS; p++) {
        kj_keys_make(key, sizeof key, "kj", p, KJ_KEY_RECORD,
                     "01JDQ7Y3A2B4C6D8E0F1G2H3J4");
        unsigned slot = s_slot(key);
        const struct {
            kj_key_t key;
            const char *name;
        } others[] = {
            {KJ_KEY_DUE, "received"},
            {KJ_KEY_DUE, "routed"},
            {KJ_KEY_DEAD, NULL},
            {KJ_KEY_EVENTS, NULL},
            {KJ_KEY_IDEM, "t:{odd}key"},
            {KJ_KEY_STATS, NULL},
            {KJ_KEY_SLA, NULL},
            {KJ_KEY_PII, "01JDQ7Y3A2B4C6D8E0F1G2H3J4"},
        };
        for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
            kj_keys_make(key, sizeof key, "kj", p, others[i].key,
                         others[i].name);
            cr_assert(eq(u32, s_slot(key), slot), "%s", key);
        }
        /* A prefix with braces of its own would move the tag. */
        kj_keys_make(key, sizeof key, "kj", p, KJ_KEY_EVENTS, NULL);
        cr_assert(eq(u32, s_slot(key), s_slot(key + 3)), "%s", key);
    }
    /* Different partitions are different tags (and, for 16, slots). */
    char a[64], b[64];
    kj_keys_make(a, sizeof a, "kj", 0, KJ_KEY_DEAD, NULL);
    kj_keys_make(b, sizeof b, "kj", 1, KJ_KEY_DEAD, NULL);
    cr_assert(ne(u32, s_slot(a), s_slot(b)));
}
