/* ingest_auth: the API key cache in front of kj_apikey_lookup (see
 * ingest_auth.h). */
#include "ingest_auth.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kj_util.h"

typedef struct {
    uint8_t digest[32]; /* SHA-256 of the key text */
    int64_t expires_ms; /* 0: empty */
    bool found;
    kj_apikey_info_t info; /* when found */
} s_slot_t;

struct ingest_auth {
    kj_redis_t *redis; /* borrowed */
    char *prefix;
    int64_t ttl_ms;
    s_slot_t slots[INGEST_AUTH_SLOTS];
};

ingest_auth_t *
ingest_auth_new(kj_redis_t *redis, const char *prefix, int64_t ttl_ms)
{
    ingest_auth_t *self = kj_calloc(1, sizeof *self);
    self->redis = redis;
    self->prefix = kj_strdup(prefix);
    self->ttl_ms = ttl_ms;
    return self;
}

void
ingest_auth_destroy(ingest_auth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ingest_auth_t *self = *self_p;
    free(self->prefix);
    free(self);
    *self_p = NULL;
}

int
ingest_auth_lookup(ingest_auth_t *self, const char *key, int64_t now_ms,
                   kj_apikey_info_t *info)
{
    uint8_t digest[32];
    kj_apikey_hash(key, strlen(key), digest);
    /* The digest is uniform: its first bytes are a fine slot index. A
     * colliding key simply replaces the entry. */
    size_t i = ((size_t)digest[0] << 8 | digest[1]) % INGEST_AUTH_SLOTS;
    s_slot_t *s = &self->slots[i];
    if (s->expires_ms > now_ms &&
        memcmp(s->digest, digest, sizeof digest) == 0) {
        if (s->found)
            *info = s->info;
        return s->found ? 1 : 0;
    }
    int rc = kj_apikey_lookup(self->redis, self->prefix, key, info);
    if (rc < 0)
        return -1;
    memcpy(s->digest, digest, sizeof digest);
    s->expires_ms = now_ms + self->ttl_ms;
    s->found = rc == 1;
    if (s->found)
        s->info = *info;
    else
        memset(&s->info, 0, sizeof s->info);
    return rc;
}
