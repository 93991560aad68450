/* kj_apikey: API keys, their header, their scopes and their Redis records
 * (see kj_apikey.h). */
#include "kj_apikey.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "kj_channels.h"
#include "kj_util.h"

#define S_BEARER "Bearer "
#define S_KEY_MAX 200 /* bytes of "<prefix>:key:<id>" */
#define S_INBOUND "inbound:"

static const struct {
    const char *name;
    uint32_t bit;
} s_scopes[] = {
    {"complaints:write", KJ_SCOPE_COMPLAINTS_WRITE},
    {"complaints:read", KJ_SCOPE_COMPLAINTS_READ},
    {"complaints:read_pii", KJ_SCOPE_COMPLAINTS_READ_PII},
    {"agents", KJ_SCOPE_AGENTS},
    {"admin", KJ_SCOPE_ADMIN},
};

static const char s_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void
s_err(char *err, size_t size, const char *msg)
{
    if (err && size)
        kj_strlcpy(err, msg, size);
}

static bool
s_hex_lower(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool
s_b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool
kj_apikey_valid(const char *key, size_t len)
{
    if (len != KJ_APIKEY_LEN || memcmp(key, "kj_", 3) != 0)
        return false;
    for (size_t i = 3; i < 3 + KJ_APIKEY_ID_LEN; i++)
        if (!s_hex_lower(key[i]))
            return false;
    if (key[3 + KJ_APIKEY_ID_LEN] != '_')
        return false;
    for (size_t i = 4 + KJ_APIKEY_ID_LEN; i < KJ_APIKEY_LEN; i++)
        if (!s_b64url_char(key[i]))
            return false;
    return true;
}

int
kj_apikey_parse_header(const char *value, size_t len,
                       char key[KJ_APIKEY_LEN + 1],
                       char id[KJ_APIKEY_ID_LEN + 1], char *err,
                       size_t err_size)
{
    size_t blen = sizeof S_BEARER - 1;
    if (!value) {
        s_err(err, err_size,
              "no Authorization header; send Authorization: Bearer <key>");
        return -1;
    }
    if (len < blen || memcmp(value, S_BEARER, blen) != 0) {
        s_err(err, err_size,
              "Authorization: expected \"Bearer \" followed by an API key");
        return -1;
    }
    if (!kj_apikey_valid(value + blen, len - blen)) {
        s_err(err, err_size,
              "Authorization: not an API key; expected kj_<16 hex digits>_<43 "
              "base64url characters> after \"Bearer \"");
        return -1;
    }
    memcpy(key, value + blen, KJ_APIKEY_LEN);
    key[KJ_APIKEY_LEN] = '\0';
    memcpy(id, value + blen + 3, KJ_APIKEY_ID_LEN);
    id[KJ_APIKEY_ID_LEN] = '\0';
    return 0;
}

/* Fill buf with n random bytes. getrandom may return fewer than asked
 * (interrupted); a loop makes it whole. */
static int
s_random(uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

int
kj_apikey_generate(char key[KJ_APIKEY_LEN + 1], char id[KJ_APIKEY_ID_LEN + 1])
{
    uint8_t raw[KJ_APIKEY_ID_LEN / 2 + 32];
    if (s_random(raw, sizeof raw) < 0)
        return -1;
    static const char hex[] = "0123456789abcdef";
    char *p = key;
    memcpy(p, "kj_", 3);
    p += 3;
    for (size_t i = 0; i < KJ_APIKEY_ID_LEN / 2; i++) {
        *p++ = hex[raw[i] >> 4];
        *p++ = hex[raw[i] & 15];
    }
    *p++ = '_';
    /* base64url without padding: 32 bytes -> 43 characters. */
    const uint8_t *s = raw + KJ_APIKEY_ID_LEN / 2;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < 32; i++) {
        acc = (acc << 8) | s[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            *p++ = s_b64url[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        *p++ = s_b64url[(acc << (6 - bits)) & 63];
    *p = '\0';
    memcpy(id, key + 3, KJ_APIKEY_ID_LEN);
    id[KJ_APIKEY_ID_LEN] = '\0';
    OPENSSL_cleanse(raw, sizeof raw);
    return 0;
}

void
kj_apikey_hash(const char *key, size_t len, uint8_t out[32])
{
    SHA256((const unsigned char *)key, len, out);
}

/* The bit of one scope name name[len], or 0 if unknown. */
static uint32_t
s_scope_bit(const char *name, size_t len)
{
    for (size_t i = 0; i < KJ_ARRAY_LEN(s_scopes); i++)
        if (strlen(s_scopes[i].name) == len &&
            memcmp(s_scopes[i].name, name, len) == 0)
            return s_scopes[i].bit;
    size_t il = sizeof S_INBOUND - 1;
    if (len <= il || memcmp(name, S_INBOUND, il) != 0)
        return 0;
    for (size_t i = 0; i < kj_channels_count; i++)
        if (strlen(kj_channels[i]) == len - il &&
            memcmp(kj_channels[i], name + il, len - il) == 0)
            return 1u << (KJ_SCOPE_INBOUND_SHIFT + i);
    return 0;
}

int
kj_apikey_scopes_parse(const char *text, uint32_t *out, char *err,
                       size_t err_size)
{
    *out = 0;
    if (!text || !*text) {
        s_err(err, err_size, "no scopes given");
        return -1;
    }
    const char *p = text;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        uint32_t bit = s_scope_bit(p, len);
        if (!bit) {
            char shown[48];
            size_t n = len < sizeof shown - 1 ? len : sizeof shown - 1;
            for (size_t i = 0; i < n; i++)
                shown[i] = p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?';
            shown[n] = '\0';
            if (err && err_size)
                snprintf(err, err_size,
                         "unknown scope \"%s\"; known: complaints:write, "
                         "complaints:read, complaints:read_pii, agents, "
                         "admin, inbound:<channel>",
                         shown);
            *out = 0;
            return -1;
        }
        *out |= bit;
        if (!end)
            return 0;
        p = end + 1;
    }
}

int
kj_apikey_scopes_format(uint32_t scopes, char *buf, size_t size)
{
    size_t len = 0;
    if (size == 0)
        return -1;
    buf[0] = '\0';
    for (size_t i = 0; i < KJ_ARRAY_LEN(s_scopes) + kj_channels_count; i++) {
        char one[64];
        if (i < KJ_ARRAY_LEN(s_scopes)) {
            if (!(scopes & s_scopes[i].bit))
                continue;
            kj_strlcpy(one, s_scopes[i].name, sizeof one);
        } else {
            size_t c = i - KJ_ARRAY_LEN(s_scopes);
            if (!(scopes & (1u << (KJ_SCOPE_INBOUND_SHIFT + c))))
                continue;
            snprintf(one, sizeof one, S_INBOUND "%s", kj_channels[c]);
        }
        int n = snprintf(buf + len, size - len, "%s%s", len ? "," : "", one);
        if (n < 0 || (size_t)n >= size - len) {
            buf[0] = '\0';
            return -1;
        }
        len += (size_t)n;
    }
    return (int)len;
}

bool
kj_apikey_tenant_valid(const char *tenant)
{
    size_t n = strlen(tenant);
    if (n == 0 || n > KJ_APIKEY_TENANT_MAX)
        return false;
    for (const char *p = tenant; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return false;
    return true;
}

static int
s_keyname(char *buf, size_t size, const char *prefix, const char *id)
{
    int n = snprintf(buf, size, "%s:key:%s", prefix, id);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

static void
s_redis_err(char *err, size_t size, kj_redis_t *redis, const redisReply *r)
{
    if (!err || !size)
        return;
    if (r && r->type == REDIS_REPLY_ERROR)
        snprintf(err, size, "redis: %.150s", r->str);
    else
        snprintf(err, size, "redis: %.150s", kj_redis_errstr(redis));
}

int
kj_apikey_create(kj_redis_t *redis, const char *prefix, const char *tenant,
                 uint32_t scopes, const char *name, int64_t rate,
                 int64_t now_ms, char key[KJ_APIKEY_LEN + 1],
                 kj_apikey_info_t *info, char *err, size_t err_size)
{
    memset(info, 0, sizeof *info);
    if (!kj_apikey_tenant_valid(tenant)) {
        s_err(err, err_size, "tenant: expected 1..63 characters of [a-z0-9_-]");
        return -1;
    }
    if (name && strlen(name) > KJ_APIKEY_NAME_MAX) {
        s_err(err, err_size, "name: longer than 64 bytes");
        return -1;
    }
    if (rate < 0) {
        s_err(err, err_size, "rate: expected 0 or more requests per second");
        return -1;
    }
    char scopes_text[KJ_APIKEY_SCOPES_TEXT_MAX];
    if (scopes == 0 ||
        kj_apikey_scopes_format(scopes, scopes_text, sizeof scopes_text) <= 0) {
        s_err(err, err_size, "no scopes given");
        return -1;
    }
    if (kj_apikey_generate(key, info->id) < 0) {
        s_err(err, err_size, "getrandom failed: no key made");
        return -1;
    }
    uint8_t digest[32];
    char hex[65];
    kj_apikey_hash(key, KJ_APIKEY_LEN, digest);
    for (size_t i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    char hkey[S_KEY_MAX], rate_s[24], created_s[24];
    if (s_keyname(hkey, sizeof hkey, prefix, info->id) < 0) {
        s_err(err, err_size, "prefix: too long");
        return -1;
    }
    snprintf(rate_s, sizeof rate_s, "%" PRId64, rate);
    snprintf(created_s, sizeof created_s, "%" PRId64, now_ms);
    /* HSETNX on sha256 first: two ids colliding (2^-64) must not replace
     * another tenant's key. Then the rest, then the listing set. Any step
     * failing deletes the hash again, so that no key works unlisted.
     * (Not one MULTI: the hash and the set are in different cluster
     * slots.) */
    redisReply *r = kj_redis_command(redis, "HSETNX %s sha256 %s", hkey, hex);
    if (!r || r->type != REDIS_REPLY_INTEGER || r->integer != 1) {
        if (r && r->type == REDIS_REPLY_INTEGER)
            s_err(err, err_size, "key id already in use; try again");
        else
            s_redis_err(err, err_size, redis, r);
        if (r)
            freeReplyObject(r);
        goto fail;
    }
    freeReplyObject(r);
    r = kj_redis_command(redis,
                         "HSET %s tenant %s scopes %s name %s rate %s "
                         "created_ms %s",
                         hkey, tenant, scopes_text, name ? name : "", rate_s,
                         created_s);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        s_redis_err(err, err_size, redis, r);
        if (r)
            freeReplyObject(r);
        /* Half a key must not stay: without tenant it could not be used,
         * but it would be listed as garbage. */
        r = kj_redis_command(redis, "DEL %s", hkey);
        if (r)
            freeReplyObject(r);
        goto fail;
    }
    freeReplyObject(r);
    char set[S_KEY_MAX];
    snprintf(set, sizeof set, "%s:keys", prefix);
    r = kj_redis_command(redis, "SADD %s %s", set, info->id);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        s_redis_err(err, err_size, redis, r);
        if (r)
            freeReplyObject(r);
        r = kj_redis_command(redis, "DEL %s", hkey);
        if (r)
            freeReplyObject(r);
        goto fail;
    }
    freeReplyObject(r);
    kj_strlcpy(info->tenant, tenant, sizeof info->tenant);
    info->scopes = scopes;
    kj_strlcpy(info->name, name ? name : "", sizeof info->name);
    info->rate = rate;
    info->created_ms = now_ms;
    return 0;
fail:
    OPENSSL_cleanse(key, KJ_APIKEY_LEN + 1);
    key[0] = '\0';
    return -1;
}

static int64_t
s_i64(const char *s)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    return end != s && *end == '\0' ? (int64_t)v : 0;
}

/* Fill *info from an HGETALL reply; digest_hex gets the stored sha256.
 * Returns 0, or -1 if the hash is not a complete key. */
static int
s_info_from(const redisReply *r, const char *id, kj_apikey_info_t *info,
            char digest_hex[65])
{
    memset(info, 0, sizeof *info);
    digest_hex[0] = '\0';
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0)
        return -1;
    bool has_tenant = false, has_scopes = false;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (strcmp(f->str, "sha256") == 0 && v->len == 64) {
            memcpy(digest_hex, v->str, 65);
        } else if (strcmp(f->str, "tenant") == 0) {
            has_tenant = kj_apikey_tenant_valid(v->str);
            kj_strlcpy(info->tenant, v->str, sizeof info->tenant);
        } else if (strcmp(f->str, "scopes") == 0) {
            /* A scope this build does not know (written by a newer
             * kujo-admin) is dropped, never widened. */
            uint32_t bits = 0;
            const char *p = v->str;
            while (*p) {
                const char *end = strchr(p, ',');
                size_t len = end ? (size_t)(end - p) : strlen(p);
                bits |= s_scope_bit(p, len);
                p = end ? end + 1 : p + len;
            }
            info->scopes = bits;
            has_scopes = true;
        } else if (strcmp(f->str, "name") == 0) {
            kj_strlcpy(info->name, v->str, sizeof info->name);
        } else if (strcmp(f->str, "rate") == 0) {
            info->rate = s_i64(v->str);
        } else if (strcmp(f->str, "created_ms") == 0) {
            info->created_ms = s_i64(v->str);
        }
    }
    kj_strlcpy(info->id, id, sizeof info->id);
    return digest_hex[0] && has_tenant && has_scopes ? 0 : -1;
}

static int
s_unhex(const char *hex, uint8_t out[32])
{
    for (size_t i = 0; i < 32; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + (size_t)k];
            int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                           : -1;
            if (d < 0)
                return -1;
            v = v * 16 + d;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

int
kj_apikey_lookup(kj_redis_t *redis, const char *prefix, const char *key,
                 kj_apikey_info_t *info)
{
    memset(info, 0, sizeof *info);
    if (!kj_apikey_valid(key, strlen(key)))
        return 0;
    char id[KJ_APIKEY_ID_LEN + 1], hkey[S_KEY_MAX];
    memcpy(id, key + 3, KJ_APIKEY_ID_LEN);
    id[KJ_APIKEY_ID_LEN] = '\0';
    if (s_keyname(hkey, sizeof hkey, prefix, id) < 0)
        return 0;
    redisReply *r = kj_redis_command(redis, "HGETALL %s", hkey);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        if (r)
            freeReplyObject(r);
        return -1;
    }
    char hex[65];
    int found = s_info_from(r, id, info, hex);
    freeReplyObject(r);
    uint8_t want[32], got[32];
    if (found < 0 || s_unhex(hex, want) < 0) {
        memset(info, 0, sizeof *info);
        return 0;
    }
    kj_apikey_hash(key, KJ_APIKEY_LEN, got);
    if (CRYPTO_memcmp(want, got, sizeof got) != 0) {
        memset(info, 0, sizeof *info);
        return 0;
    }
    return 1;
}

static int
s_by_created(const void *a, const void *b)
{
    const kj_apikey_info_t *x = a, *y = b;
    if (x->created_ms != y->created_ms)
        return x->created_ms < y->created_ms ? -1 : 1;
    return strcmp(x->id, y->id);
}

int
kj_apikey_list(kj_redis_t *redis, const char *prefix, kj_apikey_info_t **out,
               size_t *n, char *err, size_t err_size)
{
    *out = NULL;
    *n = 0;
    char set[S_KEY_MAX];
    snprintf(set, sizeof set, "%s:keys", prefix);
    redisReply *ids = kj_redis_command(redis, "SMEMBERS %s", set);
    if (!ids || ids->type != REDIS_REPLY_ARRAY) {
        s_redis_err(err, err_size, redis, ids);
        if (ids)
            freeReplyObject(ids);
        return -1;
    }
    kj_apikey_info_t *list =
        kj_calloc(ids->elements ? ids->elements : 1, sizeof *list);
    size_t count = 0;
    int rc = 0;
    for (size_t i = 0; i < ids->elements; i++) {
        const redisReply *e = ids->element[i];
        char hkey[S_KEY_MAX];
        if (e->type != REDIS_REPLY_STRING || e->len != KJ_APIKEY_ID_LEN ||
            s_keyname(hkey, sizeof hkey, prefix, e->str) < 0)
            continue;
        redisReply *r = kj_redis_command(redis, "HGETALL %s", hkey);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            s_redis_err(err, err_size, redis, r);
            if (r)
                freeReplyObject(r);
            rc = -1;
            break;
        }
        char hex[65];
        if (s_info_from(r, e->str, &list[count], hex) == 0)
            count++;
        freeReplyObject(r);
    }
    freeReplyObject(ids);
    if (rc < 0) {
        free(list);
        return -1;
    }
    qsort(list, count, sizeof *list, s_by_created);
    *out = list;
    *n = count;
    return 0;
}

int
kj_apikey_revoke(kj_redis_t *redis, const char *prefix, const char *id,
                 char *err, size_t err_size)
{
    char hkey[S_KEY_MAX], set[S_KEY_MAX];
    if (strlen(id) != KJ_APIKEY_ID_LEN) {
        s_err(err, err_size, "not a key id: expected 16 hex digits");
        return -1;
    }
    for (const char *p = id; *p; p++)
        if (!s_hex_lower(*p)) {
            s_err(err, err_size, "not a key id: expected 16 hex digits");
            return -1;
        }
    if (s_keyname(hkey, sizeof hkey, prefix, id) < 0) {
        s_err(err, err_size, "prefix: too long");
        return -1;
    }
    /* The hash first: once it is gone the key is refused (after the
     * lookup caches expire); the set entry only lists it. */
    redisReply *r = kj_redis_command(redis, "DEL %s", hkey);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        s_redis_err(err, err_size, redis, r);
        if (r)
            freeReplyObject(r);
        return -1;
    }
    int existed = r->integer > 0;
    freeReplyObject(r);
    snprintf(set, sizeof set, "%s:keys", prefix);
    r = kj_redis_command(redis, "SREM %s %s", set, id);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        s_redis_err(err, err_size, redis, r);
        if (r)
            freeReplyObject(r);
        return -1;
    }
    existed = existed || r->integer > 0;
    freeReplyObject(r);
    return existed;
}
