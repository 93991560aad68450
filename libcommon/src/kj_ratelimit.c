/* kj_ratelimit: the two token buckets of an API key (see kj_ratelimit.h).
 *
 * A batch is one EVALSHA of ratelimit_take.lua per item that needs Redis,
 * all appended to one pipeline (one round trip), like kj_store's batch
 * calls. The calls array only grows, so a steady batch size allocates
 * nothing per call beyond hiredis's own buffers. A NOSCRIPT answer (Redis
 * restarted or SCRIPT FLUSH) reloads the script and runs again only the
 * items that got it: an item that ran was charged and must not be charged
 * twice. */
#include "kj_ratelimit.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_assert.h"
#include "kj_log.h"
#include "kj_lua.h"
#include "kj_util.h"

#define S_PREFIX_MAX 64 /* longest key prefix accepted */
#define S_NAME_MAX 128  /* longest key id or tenant accepted */
#define S_KEY_MAX 344   /* prefix + ":rl:{" + tenant + "}:k:" + id + NUL */
#define S_RATE_MAX 1e9  /* tokens/s above which a limit means nothing */
#define S_BURST_MAX 1000000000LL /* largest bucket accepted */
#define S_NUMS 5                 /* ARGV after now_ms: n, rates and bursts */
#define S_NOSCRIPT_ROUNDS 3

/* One EVALSHA being built: its keys and numbers live here so that argv
 * can point at them until the pipeline is read. */
typedef struct {
    kj_ratelimit_take_t *item; /* the caller's item it answers */
    bool pending;              /* still to run (or rerun after NOSCRIPT) */
    char key[S_KEY_MAX];       /* KEYS[1]: the API key's bucket */
    char tenant[S_KEY_MAX];    /* KEYS[2]: the tenant's bucket */
    char nums[S_NUMS][32];     /* n, key rate/burst, tenant rate/burst */
} s_call_t;

struct kj_ratelimit {
    kj_redis_t *redis; /* borrowed */
    char prefix[S_PREFIX_MAX + 1];
    kj_ratelimit_opts_t opts; /* copy; opts.prefix points at prefix */
    int script;               /* kj_redis handle of ratelimit_take */
    s_call_t *calls;          /* the current batch's Redis calls */
    size_t cap_calls;         /* calls allocated; only grows */
};

/* A rate is 0 (unlimited) or a positive finite number of tokens/s. */
static bool
s_rate_ok(double rate)
{
    return rate == 0 || (rate > 0 && rate <= S_RATE_MAX);
}

static bool
s_bucket_ok(double rate, int64_t burst)
{
    return s_rate_ok(rate) &&
           (rate == 0 || (burst >= 1 && burst <= S_BURST_MAX));
}

kj_ratelimit_t *
kj_ratelimit_new(kj_redis_t *redis, const kj_ratelimit_opts_t *opts)
{
    kj_assert(redis && opts);
    const char *prefix = opts->prefix ? opts->prefix : "kj";
    size_t plen = strlen(prefix);
    if (plen == 0 || plen > S_PREFIX_MAX ||
        !s_bucket_ok(opts->key_rate, opts->key_burst) ||
        !s_bucket_ok(opts->tenant_rate, opts->tenant_burst)) {
        kj_error("rate limit options out of range", "i:prefix_len", (int)plen,
                 "f:key_rate", opts->key_rate, "l:key_burst",
                 (long long)opts->key_burst, "f:tenant_rate", opts->tenant_rate,
                 "l:tenant_burst", (long long)opts->tenant_burst);
        return NULL;
    }
    kj_ratelimit_t *self = kj_calloc(1, sizeof *self);
    self->redis = redis;
    memcpy(self->prefix, prefix, plen + 1);
    self->opts = *opts;
    self->opts.prefix = self->prefix;
    self->script = kj_redis_script_add(redis, kj_lua_ratelimit_take);
    return self;
}

void
kj_ratelimit_destroy(kj_ratelimit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kj_ratelimit_t *self = *self_p;
    free(self->calls);
    free(self);
    *self_p = NULL;
}

/* A name fits a key and cannot end the tenant's hash tag early: with no
 * '}' in the tenant, "{<tenant>}" is the tag of both keys, and no key id
 * can make one tenant's key name another's. */
static bool
s_name_ok(const char *s, bool is_tenant)
{
    if (!s || !*s || strlen(s) > S_NAME_MAX)
        return false;
    return !is_tenant || !strchr(s, '}');
}

/* Build the call for item, or answer it here when Redis is not needed.
 * Returns 1 if a call was built, 0 if answered, -1 if the item is
 * invalid (admitted -1). */
static int
s_prepare(const kj_ratelimit_t *self, kj_ratelimit_take_t *item, s_call_t *c)
{
    const kj_ratelimit_opts_t *o = &self->opts;
    item->admitted = -1;
    item->retry_after_ms = 0;
    if (item->cost < 0 || !s_rate_ok(item->key_rate) || item->key_burst < 0)
        return -1;
    double key_rate = item->key_rate > 0 ? item->key_rate : o->key_rate;
    int64_t key_burst = item->key_burst > 0 ? item->key_burst : o->key_burst;
    /* An override on a deployment whose keys are unlimited by default has
     * no default burst: one second's worth, at least one token. */
    if (key_rate > 0 && key_burst < 1)
        key_burst = key_rate < 1 ? 1 : (int64_t)ceil(key_rate);
    if (!s_bucket_ok(key_rate, key_burst))
        return -1;
    if (item->cost == 0 || (key_rate == 0 && o->tenant_rate == 0)) {
        item->admitted = item->cost;
        return 0;
    }
    if (!s_name_ok(item->key_id, false) || !s_name_ok(item->tenant, true))
        return -1;
    c->item = item;
    c->pending = true;
    /* Lengths are bounded above, so neither key can be cut. */
    snprintf(c->key, sizeof c->key, "%s:rl:{%s}:k:%s", self->prefix,
             item->tenant, item->key_id);
    snprintf(c->tenant, sizeof c->tenant, "%s:rl:{%s}:t", self->prefix,
             item->tenant);
    snprintf(c->nums[0], sizeof c->nums[0], "%lld", (long long)item->cost);
    snprintf(c->nums[1], sizeof c->nums[1], "%.17g", key_rate);
    snprintf(c->nums[2], sizeof c->nums[2], "%lld", (long long)key_burst);
    snprintf(c->nums[3], sizeof c->nums[3], "%.17g", o->tenant_rate);
    snprintf(c->nums[4], sizeof c->nums[4], "%lld", (long long)o->tenant_burst);
    return 1;
}

/* Read the script's {admitted, retry_after_ms} into the call's item. -1
 * (logged) for anything else: an error reply is a bug or a Redis in
 * trouble (OOM). */
static int
s_answer(s_call_t *c, const redisReply *rep)
{
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_INTEGER &&
        rep->element[1]->type == REDIS_REPLY_INTEGER) {
        c->item->admitted = rep->element[0]->integer;
        c->item->retry_after_ms = rep->element[1]->integer;
        return 0;
    }
    kj_error("redis script failed", "s:op", "ratelimit_take", "s:error",
             rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    return -1;
}

/* EVALSHA every pending call of calls[0..n) in one pipeline, answering
 * each item as its reply arrives. Calls answered NOSCRIPT run again after
 * the script is reloaded. -1 if Redis could not be reached, the
 * connection broke, or a reply was an error (those items stay -1). */
static int
s_eval(kj_ratelimit_t *self, size_t n, int64_t now_ms)
{
    kj_redis_t *r = self->redis;
    const char *sha = kj_redis_script_sha(r, self->script);
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    int rc = 0;
    for (int round = 0; round < S_NOSCRIPT_ROUNDS; round++) {
        if (kj_redis_connect(r) != 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            s_call_t *c = &self->calls[i];
            if (!c->pending)
                continue;
            const char *argv[] = {
                "EVALSHA",  sha,        "2",        c->key,     c->tenant, now,
                c->nums[0], c->nums[1], c->nums[2], c->nums[3], c->nums[4]};
            if (kj_redis_appendargv(r, (int)KJ_ARRAY_LEN(argv), argv, NULL) !=
                0)
                return -1;
        }
        bool noscript = false;
        for (size_t i = 0; i < n; i++) {
            s_call_t *c = &self->calls[i];
            if (!c->pending)
                continue;
            redisReply *rep = kj_redis_get_reply(r);
            if (!rep)
                return -1;
            if (kj_redis_is_noscript(rep)) {
                noscript = true;
            } else {
                c->pending = false;
                if (s_answer(c, rep) != 0)
                    rc = -1;
            }
            freeReplyObject(rep);
        }
        if (!noscript)
            return rc;
        kj_warn("redis lost the scripts; reloading", "s:script", sha);
        if (kj_redis_scripts_reload(r) != 0)
            return -1;
    }
    kj_error("redis keeps answering NOSCRIPT", "s:script", sha);
    return -1;
}

int
kj_ratelimit_take(kj_ratelimit_t *self, kj_ratelimit_take_t *items, size_t n,
                  int64_t now_ms)
{
    kj_assert(self && (items || n == 0));
    if (n > self->cap_calls) {
        self->calls = kj_realloc(self->calls, n * sizeof *self->calls);
        self->cap_calls = n;
    }
    size_t ncalls = 0;
    int invalid = 0;
    for (size_t i = 0; i < n; i++) {
        int built = s_prepare(self, &items[i], &self->calls[ncalls]);
        if (built > 0)
            ncalls++;
        else if (built < 0)
            invalid++;
    }
    /* Logged once per batch, not per item: a caller bug repeats. */
    if (invalid > 0)
        kj_error("rate limit items invalid", "i:count", invalid);
    int rc = invalid > 0 ? -1 : 0;
    if (ncalls > 0 && s_eval(self, ncalls, now_ms) != 0)
        rc = -1;
    return rc;
}
