/* ingest_imap_state: a mailbox's lease, position and held-back messages in
 * Redis. Scripts run through EVALSHA (the ACL of deploy/redis allows no
 * EVAL), registered on the connection and reloaded after reconnects. */
#include "ingest_imap_state.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_util.h"

#define S_KEY_MAX 1200

/* Renew only our own lease: a copy that stalled past its lease must not
 * extend the one another copy has taken since. */
static const char s_renew_lua[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end\n"
    "return 0\n";

static const char s_release_lua[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  redis.call('DEL', KEYS[1]) end\n"
    "return 1\n";

/* The position moves only under our lease. */
static const char s_pos_lua[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end\n"
    "redis.call('HSET', KEYS[2], 'uidvalidity', ARGV[2], 'last_uid', "
    "ARGV[3])\n"
    "return 1\n";

struct ingest_imap_state {
    kj_redis_t *redis; /* borrowed */
    char *prefix;
    char *owner;      /* this copy's lease token */
    int64_t lease_ms; /* lease length */
    int renew;        /* script handles */
    int release;
    int pos;
};

ingest_imap_state_t *
ingest_imap_state_new(kj_redis_t *redis, const char *prefix, const char *owner,
                      int64_t lease_ms)
{
    ingest_imap_state_t *self = kj_calloc(1, sizeof *self);
    self->redis = redis;
    self->prefix = kj_strdup(prefix);
    self->owner = kj_strdup(owner);
    self->lease_ms = lease_ms;
    self->renew = kj_redis_script_add(redis, s_renew_lua);
    self->release = kj_redis_script_add(redis, s_release_lua);
    self->pos = kj_redis_script_add(redis, s_pos_lua);
    return self;
}

void
ingest_imap_state_destroy(ingest_imap_state_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ingest_imap_state_t *self = *self_p;
    free(self->prefix);
    free(self->owner);
    free(self);
    *self_p = NULL;
}

static void
s_key(const ingest_imap_state_t *self, const char *mailbox, const char *what,
      char out[S_KEY_MAX])
{
    snprintf(out, S_KEY_MAX, "%s:imap:{%s}:%s", self->prefix, mailbox, what);
}

/* One EVALSHA; the integer it returned, or -1. */
static long long
s_eval(ingest_imap_state_t *self, int script, int nkeys, const char **argv,
       int argc)
{
    kj_redis_eval_t call = {.nkeys = nkeys, .argc = argc, .argv = argv};
    long long rc = -1;
    if (kj_redis_eval_batch(self->redis, script, &call, 1) == 0 && call.reply &&
        call.reply->type == REDIS_REPLY_INTEGER)
        rc = call.reply->integer;
    kj_redis_eval_clear(&call, 1);
    return rc;
}

int
ingest_imap_lease_take(ingest_imap_state_t *self, const char *mailbox)
{
    char key[S_KEY_MAX], ms[32];
    s_key(self, mailbox, "lease", key);
    snprintf(ms, sizeof ms, "%" PRId64, self->lease_ms);
    redisReply *r = kj_redis_command(self->redis, "SET %s %s NX PX %s", key,
                                     self->owner, ms);
    if (!r)
        return -1;
    bool taken = r->type == REDIS_REPLY_STATUS;
    bool error = r->type == REDIS_REPLY_ERROR;
    freeReplyObject(r);
    if (error)
        return -1;
    if (taken)
        return 1;
    const char *argv[] = {key, self->owner, ms};
    long long rc = s_eval(self, self->renew, 1, argv, 3);
    return rc < 0 ? -1 : (int)rc;
}

int
ingest_imap_lease_release(ingest_imap_state_t *self, const char *mailbox)
{
    char key[S_KEY_MAX];
    s_key(self, mailbox, "lease", key);
    const char *argv[] = {key, self->owner};
    return s_eval(self, self->release, 1, argv, 2) < 0 ? -1 : 0;
}

int
ingest_imap_pos_get(ingest_imap_state_t *self, const char *mailbox,
                    uint64_t *uidvalidity, uint64_t *last_uid)
{
    char key[S_KEY_MAX];
    s_key(self, mailbox, "pos", key);
    *uidvalidity = 0;
    *last_uid = 0;
    redisReply *r =
        kj_redis_command(self->redis, "HMGET %s uidvalidity last_uid", key);
    if (!r)
        return -1;
    int rc = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        rc = 0;
        if (r->element[0]->type == REDIS_REPLY_STRING &&
            r->element[1]->type == REDIS_REPLY_STRING) {
            *uidvalidity = strtoull(r->element[0]->str, NULL, 10);
            *last_uid = strtoull(r->element[1]->str, NULL, 10);
            rc = 1;
        }
    }
    freeReplyObject(r);
    return rc;
}

int
ingest_imap_pos_set(ingest_imap_state_t *self, const char *mailbox,
                    uint64_t uidvalidity, uint64_t last_uid)
{
    char lease[S_KEY_MAX], pos[S_KEY_MAX], v[32], u[32];
    s_key(self, mailbox, "lease", lease);
    s_key(self, mailbox, "pos", pos);
    snprintf(v, sizeof v, "%" PRIu64, uidvalidity);
    snprintf(u, sizeof u, "%" PRIu64, last_uid);
    const char *argv[] = {lease, pos, self->owner, v, u};
    long long rc = s_eval(self, self->pos, 2, argv, 5);
    return rc < 0 ? -1 : (int)rc;
}

int
ingest_imap_park(ingest_imap_state_t *self, const char *mailbox,
                 uint64_t uidvalidity, const ingest_imap_parked_t *items,
                 size_t n)
{
    char key[S_KEY_MAX], field[64];
    if (n == 0)
        return 0;
    if (kj_redis_connect(self->redis) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        s_key(self, mailbox, items[i].kind, key);
        snprintf(field, sizeof field, "%" PRIu64 ":%" PRIu64, uidvalidity,
                 items[i].uid);
        if (kj_redis_append(self->redis, "HSET %s %s %s", key, field,
                            items[i].json) < 0) {
            /* Replies of the commands already sent would be read as the
             * next caller's: drop the connection instead. */
            kj_redis_fail(self->redis, "imap park: append failed");
            return -1;
        }
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        redisReply *r = kj_redis_get_reply(self->redis);
        if (!r)
            return -1; /* the connection is gone: no more replies */
        if (r->type == REDIS_REPLY_ERROR)
            rc = -1;
        freeReplyObject(r);
    }
    return rc;
}
