/* kj_apikey: the API keys of the public HTTP API. A key is
 *
 *   kj_<16 lowercase hex: its id>_<43 base64url characters: 32 random bytes>
 *
 * shown once when it is made; Redis keeps only its SHA-256, with the one
 * tenant it is bound to and its scopes:
 *
 *   <prefix>:key:<id>   hash {sha256, tenant, scopes, name, rate, created_ms}
 *   <prefix>:keys       set of every id, for listing
 *
 * This module parses the Authorization header (strictly: "Bearer " and the
 * grammar above, nothing else), makes and hashes keys, turns scope lists
 * into a bitmask and back, and creates, lists, revokes and looks up keys
 * in Redis. Caching lookups is the caller's business (ingest_auth). */
#ifndef KJ_APIKEY_H
#define KJ_APIKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kj_redis.h"

#define KJ_APIKEY_ID_LEN 16     /* hex digits of the id */
#define KJ_APIKEY_SECRET_LEN 43 /* base64url characters of 32 bytes */
#define KJ_APIKEY_LEN (3 + KJ_APIKEY_ID_LEN + 1 + KJ_APIKEY_SECRET_LEN)
#define KJ_APIKEY_TENANT_MAX 63 /* as ingest's body "tenant" */
#define KJ_APIKEY_NAME_MAX 64   /* bytes of the optional --name */
#define KJ_APIKEY_SCOPES_TEXT_MAX 512
#define KJ_APIKEY_ERR_MAX 200 /* a message from this module fits */

/* Scopes. The bits are stored only as text ("complaints:write,admin"), so
 * their values may change; the names may not. inbound:<adapter> takes one
 * bit per channel of kj_channels (an adapter is named by the channel it
 * brings complaints in on). */
enum {
    KJ_SCOPE_COMPLAINTS_WRITE = 1u << 0,    /* POST /v1/complaints */
    KJ_SCOPE_COMPLAINTS_READ = 1u << 1,     /* GET /v1/complaints/{id} */
    KJ_SCOPE_COMPLAINTS_READ_PII = 1u << 2, /* originals, audited */
    KJ_SCOPE_AGENTS = 1u << 3,              /* the agents' console */
    KJ_SCOPE_ADMIN = 1u << 4,               /* replay and operations */
    KJ_SCOPE_INBOUND_SHIFT = 8, /* inbound:<channel i>: 1 << (8+i) */
};

/* One key as Redis holds it (never the key text itself). */
typedef struct {
    char id[KJ_APIKEY_ID_LEN + 1];
    char tenant[KJ_APIKEY_TENANT_MAX + 1];
    uint32_t scopes;
    char name[KJ_APIKEY_NAME_MAX + 1];
    int64_t rate;       /* requests per second; 0: the default limit */
    int64_t created_ms; /* ms since the epoch */
} kj_apikey_info_t;

/* Parse an Authorization header value (value[len], NULL for a missing
 * header): exactly "Bearer " followed by a key of the grammar above and
 * nothing else. Returns 0 with the key copied to key (NUL-terminated) and
 * its id to id; -1 with a precise message in err (printable ASCII, never
 * any of the value). */
int
kj_apikey_parse_header(const char *value, size_t len,
                       char key[KJ_APIKEY_LEN + 1],
                       char id[KJ_APIKEY_ID_LEN + 1], char *err,
                       size_t err_size);

/* True if key[len] follows the key grammar. */
bool
kj_apikey_valid(const char *key, size_t len);

/* A new key from getrandom: text to key, its id to id. 0, or -1 if the
 * kernel gave no randomness (errno set). */
int
kj_apikey_generate(char key[KJ_APIKEY_LEN + 1], char id[KJ_APIKEY_ID_LEN + 1]);

/* SHA-256 of key[len]. */
void
kj_apikey_hash(const char *key, size_t len, uint8_t out[32]);

/* Parse "s1,s2,..." (no spaces, no empty items, at least one) into a
 * bitmask. 0, or -1 with the offending scope and the known ones in err. */
int
kj_apikey_scopes_parse(const char *text, uint32_t *out, char *err,
                       size_t err_size);

/* The canonical text of scopes into buf[size] (comma-separated, fixed
 * order; "" for none). Returns the length, or -1 if it does not fit. */
int
kj_apikey_scopes_format(uint32_t scopes, char *buf, size_t size);

/* True if tenant is 1..63 characters of [a-z0-9_-], as ingest accepts. */
bool
kj_apikey_tenant_valid(const char *tenant);

/* Make a key for tenant with scopes and store its hash. name may be NULL;
 * rate >= 0. The key text goes to key (shown once, never stored) and what
 * was stored to *info. 0, or -1 with err (Redis error or bad argument). */
int
kj_apikey_create(kj_redis_t *redis, const char *prefix, const char *tenant,
                 uint32_t scopes, const char *name, int64_t rate,
                 int64_t now_ms, char key[KJ_APIKEY_LEN + 1],
                 kj_apikey_info_t *info, char *err, size_t err_size);

/* Every stored key, sorted by creation time then id, into *out (caller
 * frees) and *n. 0, or -1 with err. */
int
kj_apikey_list(kj_redis_t *redis, const char *prefix, kj_apikey_info_t **out,
               size_t *n, char *err, size_t err_size);

/* Delete key id. 1 if it existed, 0 if not, -1 with err. */
int
kj_apikey_revoke(kj_redis_t *redis, const char *prefix, const char *id,
                 char *err, size_t err_size);

/* Look up key (of the grammar, as kj_apikey_parse_header gives it):
 * 1 with *info when a stored key has its hash (compared in constant
 * time), 0 when none does (unknown, revoked, or a bad secret for a known
 * id), -1 when Redis could not answer. */
int
kj_apikey_lookup(kj_redis_t *redis, const char *prefix, const char *key,
                 kj_apikey_info_t *info);

#endif
