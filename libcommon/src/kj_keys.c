/* kj_keys: the key layout (see kj_keys.h). kj_store, kj_registry and
 * analytics each formatted their own before. */
#include "kj_keys.h"

#include <stdbool.h>
#include <stdio.h>

#include "kj_assert.h"

/* The text after the hash tag, and whether a name follows it. Indexed by
 * kj_key_t. */
static const struct {
    const char *what;
    bool named;
} s_keys[] = {
    [KJ_KEY_RECORD] = {"c:", true},  [KJ_KEY_DUE] = {"due:", true},
    [KJ_KEY_DEAD] = {"dead", false}, [KJ_KEY_EVENTS] = {"events", false},
    [KJ_KEY_IDEM] = {"idem:", true}, [KJ_KEY_STATS] = {"stats", false},
    [KJ_KEY_SLA] = {"sla", false},   [KJ_KEY_PII] = {"pii:", true},
};

static int
s_done(char *buf, size_t size, int n)
{
    if (n < 0 || (size_t)n >= size) {
        if (size)
            buf[0] = '\0';
        return -1;
    }
    return n;
}

int
kj_keys_make(char *buf, size_t size, const char *prefix, int partition,
             kj_key_t key, const char *name)
{
    kj_assert((size_t)key < sizeof s_keys / sizeof s_keys[0]);
    /* A name where none belongs (or none where one does) is a bug. */
    kj_assert(s_keys[key].named == (name != NULL));
    int n = snprintf(buf, size, "%s:{%d}:%s%s", prefix, partition,
                     s_keys[key].what, name ? name : "");
    return s_done(buf, size, n);
}

int
kj_keys_partition(char *buf, size_t size, const char *prefix, int partition,
                  const char *what)
{
    int n = snprintf(buf, size, "%s:{%d}:%s", prefix, partition, what);
    return s_done(buf, size, n);
}

int
kj_keys_registry(char *buf, size_t size, const char *prefix, const char *stage)
{
    int n = snprintf(buf, size, "%s:reg:%s", prefix, stage);
    return s_done(buf, size, n);
}

int
kj_keys_audit(char *buf, size_t size, const char *prefix)
{
    int n = snprintf(buf, size, "%s:audit", prefix);
    return s_done(buf, size, n);
}
