/* ingest_auth: who is calling. Looks up the API key of a request's
 * Authorization header (kj_apikey) through a small in-process cache, so
 * that the hot path pays a SHA-256 and not a Redis round trip per request.
 *
 * The cache is a direct-mapped table of INGEST_AUTH_SLOTS entries keyed by
 * the SHA-256 of the key text (never the text itself); an entry, found or
 * not found, lives ttl_ms. So a revoked key is refused at most ttl_ms
 * after `kujo-admin key revoke`, and a new key works at most ttl_ms after
 * a failed attempt with it. Redis errors are never cached. */
#ifndef INGEST_AUTH_H
#define INGEST_AUTH_H

#include <stdint.h>

#include "kj_apikey.h"
#include "kj_redis.h"

#define INGEST_AUTH_SLOTS 1024
#define INGEST_AUTH_TTL_MS 2000

typedef struct ingest_auth ingest_auth_t;

/* Keys are read from redis (borrowed, same thread) under prefix (copied). */
ingest_auth_t *
ingest_auth_new(kj_redis_t *redis, const char *prefix, int64_t ttl_ms);

/* Free and set *self_p to NULL. Safe on NULL. */
void
ingest_auth_destroy(ingest_auth_t **self_p);

/* Look up key (of the kj_apikey grammar). 1 with *info when it is a live
 * key, 0 when it is not, -1 when Redis could not answer. */
int
ingest_auth_lookup(ingest_auth_t *self, const char *key, int64_t now_ms,
                   kj_apikey_info_t *info);

#endif
