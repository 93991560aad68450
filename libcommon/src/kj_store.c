/* kj_store: the record state machine as Lua scripts (see kj_store.h).
 *
 * Every operation is one EVALSHA per item, all items of a batch appended
 * to one pipeline (one round trip). Each script names every key it touches
 * in KEYS, and all of them carry the record's {partition} hash tag, so the
 * layout works unchanged on Redis Cluster. A NOSCRIPT answer (Redis
 * restarted or SCRIPT FLUSH) reloads the scripts and runs again only the
 * items that got it: an item that ran must not run twice, because a second
 * transition would report a stale result for work that was applied. */
#include "kj_store.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_assert.h"
#include "kj_keys.h"
#include "kj_log.h"
#include "kj_lua.h"
#include "kj_util.h"

#define S_PREFIX_MAX 64 /* longest key prefix accepted */
#define S_KEY_MAX 400   /* prefix + tag + an idempotency key of ~300 */
#define S_KEYS 6        /* most keys one script takes */
#define S_ARGS 14       /* most ARGV one script takes */
#define S_NUMS 6        /* numbers formatted per call */
#define S_NOSCRIPT_ROUNDS 3

/* The states whose due sets a replay may return a record to. */
static const char *const s_due_states[] = {"received", "classified", "routed"};

/* ---- Lua ------------------------------------------------------------ */

/* The scripts are libcommon/lua/store_*.lua, embedded at build time
 * (kj_lua.h); each file says its KEYS, ARGV and results. */

/* ---- the object ----------------------------------------------------- */

/* One EVALSHA being built: its keys and formatted numbers live here so
 * that argv can point at them until the pipeline is read. */
typedef struct {
    bool pending; /* still to run (or rerun after NOSCRIPT) */
    bool sent;    /* was on its way to Redis: may have run */
    int nkeys;    /* keys used */
    int nargs;    /* ARGV used */
    int nnums;    /* nums used */
    char keys[S_KEYS][S_KEY_MAX];
    char nums[S_NUMS][24];    /* decimal numbers for args */
    uint8_t sum[KJ_SUM_LEN];  /* kj_sum of the env this call writes */
    const char *args[S_ARGS]; /* ARGV, pointing at nums or the caller */
    size_t arglen[S_ARGS];
} s_call_t;

typedef enum {
    S_CREATE,
    S_TRANSITION,
    S_RETRY,
    S_CLAIM,
    S_REPLAY,
    S_SCRIPTS
} s_script_id_t;

struct kj_store {
    kj_redis_t *redis; /* borrowed */
    char prefix[S_PREFIX_MAX + 1];
    kj_store_opts_t opts;   /* copy; opts.prefix points at prefix */
    int scripts[S_SCRIPTS]; /* kj_redis script handles */
    s_call_t *calls;        /* one per item of the current batch */
    size_t cap_calls;
    redisReply **replies; /* one per call, for the current batch */
    size_t cap_replies;
    redisReply **claim_keep; /* replies claims point into */
    size_t n_claim_keep;
    size_t cap_claim_keep;
};

kj_store_t *
kj_store_new(kj_redis_t *redis, const kj_store_opts_t *opts)
{
    kj_assert(redis && opts);
    const char *prefix = opts->prefix ? opts->prefix : "kj";
    size_t plen = strlen(prefix);
    if (plen == 0 || plen > S_PREFIX_MAX || opts->max_attempts < 1) {
        kj_error("store options out of range", "i:prefix_len", (int)plen,
                 "i:max_attempts", opts->max_attempts);
        return NULL;
    }
    kj_store_t *self = kj_calloc(1, sizeof *self);
    self->redis = redis;
    memcpy(self->prefix, prefix, plen + 1);
    self->opts = *opts;
    self->opts.prefix = self->prefix;
    self->scripts[S_CREATE] = kj_redis_script_add(redis, kj_lua_store_create);
    self->scripts[S_TRANSITION] =
        kj_redis_script_add(redis, kj_lua_store_transition);
    self->scripts[S_RETRY] = kj_redis_script_add(redis, kj_lua_store_retry);
    self->scripts[S_CLAIM] = kj_redis_script_add(redis, kj_lua_store_claim);
    self->scripts[S_REPLAY] = kj_redis_script_add(redis, kj_lua_store_replay);
    return self;
}

static void
s_claim_release(kj_store_t *self)
{
    for (size_t i = 0; i < self->n_claim_keep; i++)
        freeReplyObject(self->claim_keep[i]);
    self->n_claim_keep = 0;
}

void
kj_store_destroy(kj_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kj_store_t *self = *self_p;
    s_claim_release(self);
    free(self->claim_keep);
    free(self->calls);
    free(self->replies);
    free(self);
    *self_p = NULL;
}

int
kj_store_key(const kj_store_t *self, char *buf, size_t size, int partition,
             const char *what)
{
    return kj_keys_partition(buf, size, self->prefix, partition, what);
}

/* ---- building calls -------------------------------------------------- */

/* Room for n calls and replies; the arrays only grow. */
static void
s_reserve(kj_store_t *self, size_t n)
{
    if (n > self->cap_calls) {
        self->calls = kj_realloc(self->calls, n * sizeof *self->calls);
        self->cap_calls = n;
    }
    if (n > self->cap_replies) {
        self->replies = kj_realloc(self->replies, n * sizeof *self->replies);
        self->cap_replies = n;
    }
    memset(self->replies, 0, n * sizeof *self->replies);
}

static void
s_call_init(s_call_t *c)
{
    c->pending = true;
    c->sent = false;
    c->nkeys = 0;
    c->nargs = 0;
    c->nnums = 0;
}

/* Add key `key` of partition p (kj_keys) as the next key. -1 if it does
 * not fit. */
static int
s_key(const kj_store_t *self, s_call_t *c, int p, kj_key_t key,
      const char *name)
{
    kj_assert(c->nkeys < S_KEYS);
    if (kj_keys_make(c->keys[c->nkeys], S_KEY_MAX, self->prefix, p, key, name) <
        0)
        return -1;
    c->nkeys++;
    return 0;
}

static void
s_arg(s_call_t *c, const void *data, size_t len)
{
    kj_assert(c->nargs < S_ARGS);
    c->args[c->nargs] = data ? data : "";
    c->arglen[c->nargs] = data ? len : 0;
    c->nargs++;
}

static void
s_arg_str(s_call_t *c, const char *s)
{
    s_arg(c, s, s ? strlen(s) : 0);
}

/* The new envelope's sum (empty when none is written) and the caller's
 * want_sum ('' : no check), the last two ARGV of every script that writes
 * env. */
static void
s_arg_sums(s_call_t *c, const uint8_t *env, size_t env_len,
           const uint8_t *want_sum)
{
    if (env) {
        kj_sum(env, env_len, c->sum);
        s_arg(c, c->sum, KJ_SUM_LEN);
    } else {
        s_arg(c, "", 0);
    }
    s_arg(c, want_sum, want_sum ? KJ_SUM_LEN : 0);
}

static void
s_arg_num(s_call_t *c, int64_t v)
{
    kj_assert(c->nnums < S_NUMS);
    char *buf = c->nums[c->nnums++];
    int n = snprintf(buf, sizeof c->nums[0], "%" PRId64, v);
    s_arg(c, buf, (size_t)n);
}

/* ---- running a batch ------------------------------------------------- */

static void
s_replies_free(kj_store_t *self, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (self->replies[i])
            freeReplyObject(self->replies[i]);
        self->replies[i] = NULL;
    }
}

/* EVALSHA every pending call of calls[0..n) in one pipeline; the replies
 * land in self->replies. Calls answered NOSCRIPT are run again after the
 * scripts are reloaded. -1 if Redis could not be reached (nothing was
 * sent), KJ_STORE_UNKNOWN if the connection broke or timed out once the
 * commands were on their way: Redis may have run them (replies read so far
 * are kept; the rest are NULL). */
static int
s_eval(kj_store_t *self, s_script_id_t script, size_t n)
{
    kj_redis_t *r = self->redis;
    const char *sha = kj_redis_script_sha(r, self->scripts[script]);
    for (int round = 0; round < S_NOSCRIPT_ROUNDS; round++) {
        size_t sent = 0;
        if (kj_redis_connect(r) != 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            s_call_t *c = &self->calls[i];
            if (!c->pending)
                continue;
            const char *argv[3 + S_KEYS + S_ARGS];
            size_t argvlen[3 + S_KEYS + S_ARGS];
            char nkeys[8];
            int argc = 0;
            snprintf(nkeys, sizeof nkeys, "%d", c->nkeys);
            argv[argc] = "EVALSHA";
            argvlen[argc++] = 7;
            argv[argc] = sha;
            argvlen[argc++] = 40;
            argv[argc] = nkeys;
            argvlen[argc++] = strlen(nkeys);
            for (int k = 0; k < c->nkeys; k++) {
                argv[argc] = c->keys[k];
                argvlen[argc++] = strlen(c->keys[k]);
            }
            for (int a = 0; a < c->nargs; a++) {
                argv[argc] = c->args[a];
                argvlen[argc++] = c->arglen[a];
            }
            if (kj_redis_appendargv(r, argc, argv, argvlen) != 0)
                return -1;
            c->sent = true;
            sent++;
        }
        if (sent == 0)
            return 0;
        bool noscript = false;
        for (size_t i = 0; i < n; i++) {
            s_call_t *c = &self->calls[i];
            if (!c->pending)
                continue;
            redisReply *rep = kj_redis_get_reply(r);
            if (!rep)
                return KJ_STORE_UNKNOWN;
            if (kj_redis_is_noscript(rep)) {
                freeReplyObject(rep);
                noscript = true;
                continue;
            }
            c->pending = false;
            self->replies[i] = rep;
        }
        if (!noscript)
            return 0;
        kj_warn("redis lost the scripts; reloading", "s:script", sha);
        if (kj_redis_scripts_reload(r) != 0)
            return -1;
    }
    kj_error("redis keeps answering NOSCRIPT", "s:script", sha);
    return -1;
}

/* An error reply where a script result was expected: a bug or a Redis in
 * trouble (OOM). Logged here, once per reply. */
static void
s_reply_error(const char *op, const redisReply *rep)
{
    kj_error("redis script failed", "s:op", op, "s:error",
             rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
}

static int
s_int_reply(const char *op, const redisReply *rep)
{
    if (rep && rep->type == REDIS_REPLY_INTEGER)
        return (int)rep->integer;
    if (rep)
        s_reply_error(op, rep);
    return -1;
}

static bool
s_id_ok(const char *op, const char *id)
{
    if (id && kj_id_valid(id))
        return true;
    kj_error("store called with an invalid id", "s:op", op);
    return false;
}

/* ---- create ---------------------------------------------------------- */

int
kj_store_create(kj_store_t *self, kj_store_create_t *items, size_t n,
                int64_t now_ms)
{
    s_reserve(self, n);
    for (size_t i = 0; i < n; i++) {
        kj_store_create_t *it = &items[i];
        s_call_t *c = &self->calls[i];
        s_call_init(c);
        it->result = -1;
        it->existing_id[0] = '\0';
        if (!s_id_ok("create", it->id)) {
            c->pending = false;
            continue;
        }
        int p = kj_id_partition(it->id);
        /* The idempotency key must live in the id's slot (ingest makes
         * the id in kj_key_partition(key)); otherwise a repeat would look
         * in another partition and never find it. */
        if (it->idem_key && kj_key_partition(it->idem_key) != p) {
            kj_error("idempotency key and id in different partitions", "s:id",
                     it->id);
            c->pending = false;
            continue;
        }
        if (s_key(self, c, p, KJ_KEY_RECORD, it->id) != 0 ||
            s_key(self, c, p, KJ_KEY_DUE, "received") != 0 ||
            s_key(self, c, p, KJ_KEY_EVENTS, NULL) != 0 ||
            s_key(self, c, p, KJ_KEY_PII, it->id) != 0 ||
            (it->idem_key &&
             s_key(self, c, p, KJ_KEY_IDEM, it->idem_key) != 0)) {
            kj_error("store key too long", "s:op", "create", "s:id", it->id);
            c->pending = false;
            continue;
        }
        s_arg_str(c, it->id);
        s_arg(c, it->env, it->env_len);
        s_arg_num(c, now_ms);
        s_arg_num(c, now_ms + self->opts.lease_ms);
        s_arg(c, it->event, it->event ? it->event_len : 0);
        s_arg_num(c, self->opts.stream_maxlen);
        s_arg_num(c, self->opts.idem_ttl_s);
        kj_sum(it->env, it->env_len, c->sum);
        s_arg(c, c->sum, KJ_SUM_LEN);
        /* The originals are always the script's last four ARGV. */
        const kj_store_pii_t *pii = it->pii;
        s_arg_str(c, pii ? pii->name : NULL);
        s_arg_str(c, pii ? pii->email : NULL);
        s_arg_str(c, pii ? pii->text : NULL);
        s_arg_str(c, pii ? pii->subject : NULL);
    }
    int rc = s_eval(self, S_CREATE, n);
    for (size_t i = 0; i < n; i++) {
        redisReply *rep = self->replies[i];
        kj_store_create_t *it = &items[i];
        if (!rep) {
            if (rc == KJ_STORE_UNKNOWN && self->calls[i].sent)
                it->result = KJ_STORE_UNKNOWN;
            continue;
        }
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
            rep->element[0]->type == REDIS_REPLY_INTEGER &&
            rep->element[1]->type == REDIS_REPLY_STRING) {
            it->result = (int)rep->element[0]->integer;
            kj_strlcpy(it->existing_id, rep->element[1]->str,
                       sizeof it->existing_id);
        } else {
            s_reply_error("create", rep);
        }
    }
    s_replies_free(self, n);
    for (size_t i = 0; i < n; i++)
        if (items[i].result < 0 && rc == 0)
            rc = -1;
    return rc;
}

/* ---- transition ------------------------------------------------------ */

int
kj_store_transition(kj_store_t *self, kj_store_transition_t *items, size_t n,
                    int64_t now_ms)
{
    s_reserve(self, n);
    for (size_t i = 0; i < n; i++) {
        kj_store_transition_t *it = &items[i];
        s_call_t *c = &self->calls[i];
        s_call_init(c);
        it->result = -1;
        if (!s_id_ok("transition", it->id) || !it->from || !it->to) {
            c->pending = false;
            continue;
        }
        int p = kj_id_partition(it->id);
        if (s_key(self, c, p, KJ_KEY_RECORD, it->id) != 0 ||
            s_key(self, c, p, KJ_KEY_DUE, it->from) != 0 ||
            s_key(self, c, p, KJ_KEY_DUE, it->to) != 0 ||
            s_key(self, c, p, KJ_KEY_DEAD, NULL) != 0 ||
            s_key(self, c, p, KJ_KEY_EVENTS, NULL) != 0 ||
            s_key(self, c, p, KJ_KEY_PII, it->id) != 0) {
            kj_error("store key too long", "s:op", "transition", "s:id",
                     it->id);
            c->pending = false;
            continue;
        }
        s_arg_str(c, it->id);
        s_arg_str(c, it->from);
        s_arg_str(c, it->to);
        s_arg_num(c, now_ms);
        s_arg_num(c, it->due_ms);
        s_arg(c, it->env, it->env ? it->env_len : 0);
        s_arg_str(c, it->env ? "1" : "0");
        s_arg(c, it->event, it->event ? it->event_len : 0);
        s_arg_num(c, self->opts.stream_maxlen);
        s_arg_str(c, it->reason);
        s_arg_num(c, self->opts.retention_s);
        s_arg_sums(c, it->env, it->env_len, it->want_sum);
    }
    int rc = s_eval(self, S_TRANSITION, n);
    for (size_t i = 0; i < n; i++)
        if (self->replies[i])
            items[i].result = s_int_reply("transition", self->replies[i]);
    s_replies_free(self, n);
    for (size_t i = 0; i < n; i++)
        if (items[i].result == -1)
            rc = -1;
    return rc;
}

/* ---- retry ----------------------------------------------------------- */

int
kj_store_retry(kj_store_t *self, kj_store_retry_t *items, size_t n,
               int64_t now_ms)
{
    s_reserve(self, n);
    for (size_t i = 0; i < n; i++) {
        kj_store_retry_t *it = &items[i];
        s_call_t *c = &self->calls[i];
        s_call_init(c);
        it->result = -1;
        if (!s_id_ok("retry", it->id) || !it->state) {
            c->pending = false;
            continue;
        }
        int p = kj_id_partition(it->id);
        if (s_key(self, c, p, KJ_KEY_RECORD, it->id) != 0 ||
            s_key(self, c, p, KJ_KEY_DUE, it->state) != 0 ||
            s_key(self, c, p, KJ_KEY_DEAD, NULL) != 0 ||
            s_key(self, c, p, KJ_KEY_EVENTS, NULL) != 0 ||
            s_key(self, c, p, KJ_KEY_PII, it->id) != 0) {
            kj_error("store key too long", "s:op", "retry", "s:id", it->id);
            c->pending = false;
            continue;
        }
        s_arg_str(c, it->id);
        s_arg_str(c, it->state);
        s_arg_num(c, now_ms);
        s_arg_num(c, it->next_ms);
        s_arg_str(c, it->error);
        s_arg(c, it->env, it->env ? it->env_len : 0);
        s_arg_str(c, it->env ? "1" : "0");
        s_arg(c, it->dead_event, it->dead_event ? it->dead_event_len : 0);
        s_arg_num(c, self->opts.stream_maxlen);
        s_arg_num(c, self->opts.max_attempts);
        s_arg_num(c, self->opts.retention_s);
        s_arg_str(c, it->defer ? "1" : "0");
        s_arg_sums(c, it->env, it->env_len, it->want_sum);
    }
    int rc = s_eval(self, S_RETRY, n);
    for (size_t i = 0; i < n; i++)
        if (self->replies[i])
            items[i].result = s_int_reply("retry", self->replies[i]);
    s_replies_free(self, n);
    for (size_t i = 0; i < n; i++)
        if (items[i].result == -1)
            rc = -1;
    return rc;
}

/* ---- verify ---------------------------------------------------------- */

int
kj_store_verify(kj_store_t *self, kj_store_verify_t *items, size_t n)
{
    kj_redis_t *r = self->redis;
    for (size_t i = 0; i < n; i++)
        items[i].result = -1;
    if (n == 0)
        return 0;
    if (kj_redis_connect(r) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *id = items[i].id;
        /* Ids come from the network here: one that is no id names no
         * record, and is not asked about. */
        if (!id || !kj_id_valid(id)) {
            items[i].result = KJ_STORE_FORGED;
            continue;
        }
        char key[S_KEY_MAX];
        kj_keys_make(key, sizeof key, self->prefix, kj_id_partition(id),
                     KJ_KEY_RECORD, id);
        const char *argv[] = {"HMGET", key, "state", "sum"};
        if (kj_redis_appendargv(r, 4, argv, NULL) != 0)
            return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        kj_store_verify_t *it = &items[i];
        if (it->result == KJ_STORE_FORGED)
            continue; /* not asked */
        redisReply *rep = kj_redis_get_reply(r);
        if (!rep)
            return -1;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
            s_reply_error("verify", rep);
            rc = -1;
        } else if (rep->element[0]->type != REDIS_REPLY_STRING) {
            /* Records outlive their work by the retention period: a push
             * for one that does not exist was made up. */
            it->result = KJ_STORE_FORGED;
        } else if (!it->state || strcmp(rep->element[0]->str, it->state) != 0) {
            it->result = 0;
        } else if (rep->element[1]->type == REDIS_REPLY_STRING &&
                   (rep->element[1]->len != KJ_SUM_LEN || !it->sum ||
                    !kj_sum_equal((const uint8_t *)rep->element[1]->str,
                                  it->sum))) {
            it->result = KJ_STORE_FORGED;
        } else {
            it->result = 1;
        }
        freeReplyObject(rep);
    }
    return rc;
}

/* ---- claim ----------------------------------------------------------- */

/* Step 1: the first `max` overdue ids of every partition, one pipeline.
 * Fills self->replies[0..16); -1 on Redis failure. */
static int
s_due_lists(kj_store_t *self, const char *state, int64_t now_ms, size_t max)
{
    kj_redis_t *r = self->redis;
    if (kj_redis_connect(r) != 0)
        return -1;
    char now[24], lim[24];
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    snprintf(lim, sizeof lim, "%zu", max);
    for (int p = 0; p < KJ_PARTITIONS; p++) {
        char key[S_KEY_MAX];
        kj_keys_make(key, sizeof key, self->prefix, p, KJ_KEY_DUE, state);
        const char *argv[] = {"ZRANGEBYSCORE", key, "-inf", now,
                              "LIMIT",         "0", lim};
        if (kj_redis_appendargv(r, 7, argv, NULL) != 0)
            return -1;
    }
    for (int p = 0; p < KJ_PARTITIONS; p++) {
        self->replies[p] = kj_redis_get_reply(r);
        if (!self->replies[p])
            return -1;
    }
    return 0;
}

int
kj_store_claim(kj_store_t *self, const char *state, int64_t now_ms,
               kj_store_claim_t *out, size_t max)
{
    s_claim_release(self);
    if (max == 0)
        return 0;
    if (strlen(state) > 32) {
        kj_error("store called with a bad state", "s:op", "claim");
        return -1;
    }
    s_reserve(self, KJ_PARTITIONS > max ? KJ_PARTITIONS : max);
    if (s_due_lists(self, state, now_ms, max) != 0) {
        s_replies_free(self, KJ_PARTITIONS);
        return -1;
    }
    /* Take candidates round-robin across partitions so that one busy
     * partition cannot starve the others. */
    redisReply *lists[KJ_PARTITIONS];
    bool lists_ok = true;
    for (int p = 0; p < KJ_PARTITIONS; p++) {
        lists[p] = self->replies[p];
        self->replies[p] = NULL;
        if (lists[p]->type != REDIS_REPLY_ARRAY) {
            s_reply_error("claim", lists[p]);
            lists_ok = false;
        }
    }
    if (!lists_ok) {
        for (int p = 0; p < KJ_PARTITIONS; p++)
            freeReplyObject(lists[p]);
        return -1;
    }
    size_t n = 0;
    for (size_t depth = 0; n < max; depth++) {
        bool any = false;
        for (int p = 0; p < KJ_PARTITIONS && n < max; p++) {
            if (depth >= lists[p]->elements)
                continue;
            any = true;
            const redisReply *idr = lists[p]->element[depth];
            s_call_t *c = &self->calls[n];
            s_call_init(c);
            if (idr->type != REDIS_REPLY_STRING || !kj_id_valid(idr->str) ||
                kj_id_partition(idr->str) != p)
                continue; /* not ours to parse; never written by us */
            if (s_key(self, c, p, KJ_KEY_RECORD, idr->str) != 0 ||
                s_key(self, c, p, KJ_KEY_DUE, state) != 0)
                continue;
            /* The id arg points into lists[], alive until below. */
            s_arg_str(c, idr->str);
            s_arg_str(c, state);
            s_arg_num(c, now_ms);
            s_arg_num(c, now_ms + self->opts.lease_ms);
            n++;
        }
        if (!any)
            break;
    }
    int rc = s_eval(self, S_CLAIM, n);
    int got = 0;
    for (size_t i = 0; i < n; i++) {
        redisReply *rep = self->replies[i];
        if (!rep)
            continue;
        self->replies[i] = NULL;
        if (rep->type == REDIS_REPLY_NIL) {
            freeReplyObject(rep);
            continue;
        }
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
            rep->element[0]->type != REDIS_REPLY_INTEGER ||
            rep->element[1]->type != REDIS_REPLY_STRING ||
            rep->element[2]->type != REDIS_REPLY_STRING) {
            s_reply_error("claim", rep);
            freeReplyObject(rep);
            continue;
        }
        kj_store_claim_t *cl = &out[got++];
        kj_strlcpy(cl->id, self->calls[i].args[0], sizeof cl->id);
        cl->attempts = (int)rep->element[0]->integer;
        cl->env = (const uint8_t *)rep->element[1]->str;
        cl->env_len = rep->element[1]->len;
        kj_strlcpy(cl->last_error, rep->element[2]->str, sizeof cl->last_error);
        /* Keep the reply: cl->env points into it until the next claim. */
        if (self->n_claim_keep == self->cap_claim_keep) {
            self->cap_claim_keep =
                self->cap_claim_keep ? self->cap_claim_keep * 2 : 64;
            self->claim_keep =
                kj_realloc(self->claim_keep,
                           self->cap_claim_keep * sizeof *self->claim_keep);
        }
        self->claim_keep[self->n_claim_keep++] = rep;
    }
    for (int p = 0; p < KJ_PARTITIONS; p++)
        freeReplyObject(lists[p]);
    /* Claims that went through are owned now (their lease runs) even if
     * the pipeline broke after them, so report them. */
    if (rc != 0 && got == 0)
        return -1;
    return got;
}

/* ---- get, replay, depth --------------------------------------------- */

static void
s_field(char *dst, size_t size, const redisReply *r)
{
    if (r && r->type == REDIS_REPLY_STRING)
        kj_strlcpy(dst, r->str, size);
    else
        dst[0] = '\0';
}

static int64_t
s_field_num(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_STRING)
        return 0;
    return strtoll(r->str, NULL, 10);
}

int
kj_store_get(kj_store_t *self, const char *id, kj_store_record_t *rec)
{
    memset(rec, 0, sizeof *rec);
    /* Ids here come from URLs: a malformed one simply names no record. */
    if (!id || !kj_id_valid(id))
        return 0;
    char key[S_KEY_MAX];
    kj_keys_make(key, sizeof key, self->prefix, kj_id_partition(id),
                 KJ_KEY_RECORD, id);
    const char *argv[] = {"HMGET",      key,         "state",     "env",
                          "attempts",   "reason",    "dead_from", "last_error",
                          "created_ms", "updated_ms"};
    redisReply *rep =
        kj_redis_commandargv(self->redis, (int)KJ_ARRAY_LEN(argv), argv, NULL);
    if (!rep)
        return -1;
    int rc = -1;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 8) {
        s_reply_error("get", rep);
        goto out;
    }
    redisReply **f = rep->element;
    if (f[0]->type != REDIS_REPLY_STRING) {
        rc = 0;
        goto out;
    }
    s_field(rec->state, sizeof rec->state, f[0]);
    if (f[1]->type == REDIS_REPLY_STRING) {
        rec->env = kj_malloc(f[1]->len ? f[1]->len : 1);
        memcpy(rec->env, f[1]->str, f[1]->len);
        rec->env_len = f[1]->len;
    }
    rec->attempts = (int)s_field_num(f[2]);
    s_field(rec->reason, sizeof rec->reason, f[3]);
    s_field(rec->dead_from, sizeof rec->dead_from, f[4]);
    s_field(rec->last_error, sizeof rec->last_error, f[5]);
    rec->created_ms = s_field_num(f[6]);
    rec->updated_ms = s_field_num(f[7]);
    rc = 1;
out:
    freeReplyObject(rep);
    return rc;
}

int
kj_store_replay(kj_store_t *self, const char *id, int64_t now_ms)
{
    if (!id || !kj_id_valid(id))
        return 0; /* from a URL, like get */
    s_reserve(self, 1);
    s_call_t *c = &self->calls[0];
    s_call_init(c);
    int p = kj_id_partition(id);
    s_key(self, c, p, KJ_KEY_RECORD, id);
    s_key(self, c, p, KJ_KEY_DEAD, NULL);
    s_arg_str(c, id);
    s_arg_num(c, now_ms);
    for (size_t i = 0; i < KJ_ARRAY_LEN(s_due_states); i++) {
        s_key(self, c, p, KJ_KEY_DUE, s_due_states[i]);
        s_arg_str(c, s_due_states[i]);
    }
    s_key(self, c, p, KJ_KEY_PII, id);
    int rc = s_eval(self, S_REPLAY, 1);
    int result = rc == 0 ? s_int_reply("replay", self->replies[0]) : -1;
    s_replies_free(self, 1);
    return result;
}

int64_t
kj_store_depth(kj_store_t *self, const char *state)
{
    kj_redis_t *r = self->redis;
    if (kj_redis_connect(r) != 0)
        return -1;
    for (int p = 0; p < KJ_PARTITIONS; p++) {
        char key[S_KEY_MAX];
        kj_keys_make(key, sizeof key, self->prefix, p, KJ_KEY_DUE, state);
        const char *argv[] = {"ZCARD", key};
        if (kj_redis_appendargv(r, 2, argv, NULL) != 0)
            return -1;
    }
    int64_t total = 0;
    for (int p = 0; p < KJ_PARTITIONS; p++) {
        redisReply *rep = kj_redis_get_reply(r);
        if (!rep)
            return -1;
        if (rep->type == REDIS_REPLY_INTEGER && total >= 0)
            total += rep->integer;
        else if (rep->type != REDIS_REPLY_INTEGER) {
            s_reply_error("depth", rep);
            total = -1; /* keep reading the pipeline */
        }
        freeReplyObject(rep);
    }
    return total;
}

/* ---- PII records ------------------------------------------------------ */

/* Write the audit entry of one read of id's originals by who. */
static int
s_audit(kj_store_t *self, const char *id, const char *who, int64_t now_ms)
{
    char key[S_KEY_MAX], at[24], maxlen[24];
    kj_keys_audit(key, sizeof key, self->prefix);
    snprintf(at, sizeof at, "%" PRId64, now_ms);
    snprintf(maxlen, sizeof maxlen, "%" PRId64, self->opts.stream_maxlen);
    const char *capped[] = {"XADD", key, "MAXLEN", "~", maxlen,  "*",
                            "who",  who, "id",     id,  "at_ms", at};
    const char *uncapped[] = {"XADD", key, "*",     "who", who,
                              "id",   id,  "at_ms", at};
    redisReply *rep =
        self->opts.stream_maxlen > 0
            ? kj_redis_commandargv(self->redis, (int)KJ_ARRAY_LEN(capped),
                                   capped, NULL)
            : kj_redis_commandargv(self->redis, (int)KJ_ARRAY_LEN(uncapped),
                                   uncapped, NULL);
    if (!rep)
        return -1;
    int rc = rep->type == REDIS_REPLY_STRING ? 0 : -1;
    if (rc < 0)
        s_reply_error("pii audit", rep);
    freeReplyObject(rep);
    return rc;
}

static char *
s_pii_field(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_STRING)
        return NULL;
    char *s = kj_malloc(r->len + 1);
    memcpy(s, r->str, r->len);
    s[r->len] = '\0';
    return s;
}

int
kj_store_pii_get(kj_store_t *self, const char *id, const char *who,
                 int64_t now_ms, kj_store_pii_record_t *out)
{
    memset(out, 0, sizeof *out);
    if (!id || !kj_id_valid(id))
        return 0; /* from a URL, like get */
    kj_assert(who);
    char key[S_KEY_MAX];
    kj_keys_make(key, sizeof key, self->prefix, kj_id_partition(id), KJ_KEY_PII,
                 id);
    const char *argv[] = {"HMGET", key, "name", "email", "text", "subject"};
    redisReply *rep =
        kj_redis_commandargv(self->redis, (int)KJ_ARRAY_LEN(argv), argv, NULL);
    if (!rep)
        return -1;
    int rc = -1;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 4) {
        s_reply_error("pii get", rep);
        goto out;
    }
    bool any = false;
    for (size_t i = 0; i < rep->elements; i++)
        if (rep->element[i]->type == REDIS_REPLY_STRING)
            any = true;
    if (!any) {
        rc = 0;
        goto out;
    }
    /* The audit stream is not in the record's slot, so it cannot share a
     * script with the read; it is written before anything is returned. */
    if (s_audit(self, id, who, now_ms) != 0)
        goto out;
    out->name = s_pii_field(rep->element[0]);
    out->email = s_pii_field(rep->element[1]);
    out->text = s_pii_field(rep->element[2]);
    out->subject = s_pii_field(rep->element[3]);
    rc = 1;
out:
    freeReplyObject(rep);
    return rc;
}

void
kj_store_pii_clear(kj_store_pii_record_t *out)
{
    free(out->name);
    free(out->email);
    free(out->text);
    free(out->subject);
    memset(out, 0, sizeof *out);
}
