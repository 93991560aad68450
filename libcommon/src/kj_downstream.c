/* kj_downstream: follow the next stage's copies (see kj_downstream.h). */
#include "kj_downstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "kj_id.h"
#include "kj_keys.h"
#include "kj_log.h"
#include "kj_registry.h"
#include "kj_util.h"

#define S_EVERY_MS 1000      /* refresh while copies are known */
#define S_EVERY_NONE_MS 200  /* refresh while none is */
#define S_RELEASE_MAX 100000 /* records released per partition per call */
#define S_KEY_MAX 256

struct kj_downstream {
    kj_redis_t *redis;           /* borrowed */
    kj_push_t *push;             /* borrowed */
    char *prefix, *next, *state; /* owned copies */
    int64_t next_at;             /* monotonic ms of the next refresh */
    uint64_t added;              /* kj_push_added at the last refresh */
    int peers;                   /* connected after the last refresh */
    uint64_t released;           /* records made due early, in all */
    bool release_owed;           /* a copy appeared but the release failed */
};

kj_downstream_t *
kj_downstream_new(kj_redis_t *redis, kj_push_t *push, const char *prefix,
                  const char *next, const char *state)
{
    kj_downstream_t *self = kj_calloc(1, sizeof *self);
    self->redis = redis;
    self->push = push;
    self->prefix = kj_strdup(prefix);
    self->next = kj_strdup(next);
    self->state = kj_strdup(state);
    self->added = kj_push_added(push);
    return self;
}

void
kj_downstream_destroy(kj_downstream_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kj_downstream_t *self = *self_p;
    free(self->prefix);
    free(self->next);
    free(self->state);
    free(self);
    *self_p = NULL;
}

int
kj_downstream_refresh(kj_downstream_t *self, int64_t mono_ms, int64_t now_ms)
{
    if (mono_ms < self->next_at)
        return self->peers;
    char **list = NULL;
    int n =
        kj_registry_list(self->redis, self->prefix, self->next, now_ms, &list);
    if (n < 0) {
        /* Keep the copies we have: they may well still be alive. */
        self->next_at = mono_ms + S_EVERY_NONE_MS;
        return -1;
    }
    self->peers = (int)kj_push_set_peers(self->push, list, (size_t)n);
    kj_registry_free(list);
    self->next_at = mono_ms + (self->peers > 0 ? S_EVERY_MS : S_EVERY_NONE_MS);
    uint64_t added = kj_push_added(self->push);
    if (added != self->added) {
        self->added = added;
        self->release_owed = true;
    }
    if (self->release_owed && self->peers > 0) {
        int64_t got = kj_downstream_release_leases(
            self->redis, self->prefix, self->state, now_ms, S_RELEASE_MAX);
        if (got < 0)
            return -1; /* owed still: tried again next refresh */
        self->release_owed = false;
        self->released += (uint64_t)got;
        if (got > 0)
            kj_info("downstream copy appeared; handed-on work made due now",
                    "s:next", self->next, "s:state", self->state, "l:records",
                    (long long)got);
    }
    return self->peers;
}

int
kj_downstream_peers(const kj_downstream_t *self)
{
    return self->peers;
}

uint64_t
kj_downstream_released(const kj_downstream_t *self)
{
    return self->released;
}

int64_t
kj_downstream_release_leases(kj_redis_t *redis, const char *prefix,
                             const char *state, int64_t now_ms, int64_t max)
{
    if (kj_redis_connect(redis) != 0)
        return -1;
    char keys[KJ_PARTITIONS][S_KEY_MAX], now[24], lim[24];
    /* "(" makes the bound exclusive: work already due stays as it is. */
    snprintf(now, sizeof now, "(%lld", (long long)now_ms);
    snprintf(lim, sizeof lim, "%lld", (long long)max);
    for (int p = 0; p < KJ_PARTITIONS; p++) {
        if (kj_keys_make(keys[p], sizeof keys[p], prefix, p, KJ_KEY_DUE,
                         state) < 0)
            return -1;
        const char *argv[] = {"ZRANGEBYSCORE", keys[p], now, "+inf",
                              "LIMIT",         "0",     lim};
        if (kj_redis_appendargv(redis, 7, argv, NULL) != 0)
            return -1;
    }
    redisReply *found[KJ_PARTITIONS] = {0};
    int64_t total = 0;
    bool bad = false;
    for (int p = 0; p < KJ_PARTITIONS; p++) {
        found[p] = kj_redis_get_reply(redis);
        if (!found[p])
            bad = true;
        else if (found[p]->type != REDIS_REPLY_ARRAY)
            bad = true;
    }
    /* ZADD XX only moves members still there: a record that moved on
     * between the two round trips is not brought back. */
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    int sent = 0;
    for (int p = 0; p < KJ_PARTITIONS && !bad; p++) {
        redisReply *r = found[p];
        if (r->elements == 0)
            continue;
        size_t argc = 3 + 2 * r->elements;
        const char **argv = kj_calloc(argc, sizeof *argv);
        size_t *lens = kj_calloc(argc, sizeof *lens);
        argv[0] = "ZADD";
        argv[1] = keys[p];
        argv[2] = "XX";
        argc = 3;
        for (size_t i = 0; i < r->elements; i++) {
            if (r->element[i]->type != REDIS_REPLY_STRING)
                continue;
            argv[argc] = now;
            argv[argc + 1] = r->element[i]->str;
            argc += 2;
        }
        for (size_t i = 0; i < argc; i++)
            lens[i] = strlen(argv[i]);
        if (argc > 3) {
            if (kj_redis_appendargv(redis, (int)argc, argv, lens) != 0)
                bad = true;
            else
                sent++;
            total += (int64_t)(argc - 3) / 2;
        }
        free(lens);
        free(argv);
    }
    for (int i = 0; i < sent; i++) {
        redisReply *r = kj_redis_get_reply(redis);
        if (!r || r->type == REDIS_REPLY_ERROR)
            bad = true;
        if (r)
            freeReplyObject(r);
    }
    for (int p = 0; p < KJ_PARTITIONS; p++)
        if (found[p])
            freeReplyObject(found[p]);
    return bad ? -1 : total;
}
