/* kj_registry: stage endpoints as a zset of expiry times (see
 * kj_registry.h). The key has no {partition} tag: it is one small key per
 * stage, touched by single-key commands only. */
#include "kj_registry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_keys.h"
#include "kj_log.h"
#include "kj_util.h"

#define S_KEY_MAX 256
/* More live copies of one stage than any deployment runs; a longer list
 * means the key holds something else, and is cut rather than trusted. */
#define S_LIST_MAX 4096

static int
s_key(char *buf, size_t size, const char *prefix, const char *stage)
{
    if (kj_keys_registry(buf, size, prefix, stage) < 0) {
        kj_error("registry key too long", "s:stage", stage);
        return -1;
    }
    return 0;
}

/* 0 if rep is a non-error reply of the wanted type; frees it. */
static int
s_check(redisReply *rep, int type, const char *op)
{
    if (!rep)
        return -1;
    int rc = 0;
    if (rep->type != type) {
        kj_error("registry command failed", "s:op", op, "s:error",
                 rep->type == REDIS_REPLY_ERROR ? rep->str
                                                : "unexpected reply");
        rc = -1;
    }
    freeReplyObject(rep);
    return rc;
}

int
kj_registry_heartbeat(kj_redis_t *r, const char *prefix, const char *stage,
                      const char *endpoint, int64_t now_ms, int64_t ttl_ms)
{
    char key[S_KEY_MAX], score[24];
    if (s_key(key, sizeof key, prefix, stage) != 0)
        return -1;
    snprintf(score, sizeof score, "%" PRId64, now_ms + ttl_ms);
    const char *argv[] = {"ZADD", key, score, endpoint};
    return s_check(kj_redis_commandargv(r, 4, argv, NULL), REDIS_REPLY_INTEGER,
                   "heartbeat");
}

int
kj_registry_remove(kj_redis_t *r, const char *prefix, const char *stage,
                   const char *endpoint)
{
    char key[S_KEY_MAX];
    if (s_key(key, sizeof key, prefix, stage) != 0)
        return -1;
    const char *argv[] = {"ZREM", key, endpoint};
    return s_check(kj_redis_commandargv(r, 3, argv, NULL), REDIS_REPLY_INTEGER,
                   "remove");
}

int
kj_registry_list(kj_redis_t *r, const char *prefix, const char *stage,
                 int64_t now_ms, char ***out)
{
    *out = NULL;
    char key[S_KEY_MAX], now[24], limit[24];
    if (s_key(key, sizeof key, prefix, stage) != 0)
        return -1;
    if (kj_redis_connect(r) != 0)
        return -1;
    /* Expired entries go first, by time alone, so that a copy that died
     * without removing itself is forgotten by whoever lists next. An
     * entry expiring exactly now is already dead. */
    snprintf(now, sizeof now, "(%" PRId64, now_ms);
    snprintf(limit, sizeof limit, "%d", S_LIST_MAX);
    char upto[24];
    snprintf(upto, sizeof upto, "%" PRId64, now_ms);
    const char *prune[] = {"ZREMRANGEBYSCORE", key, "-inf", upto};
    const char *list[] = {"ZRANGEBYSCORE", key, now,  "+inf",
                          "LIMIT",         "0", limit};
    if (kj_redis_appendargv(r, 4, prune, NULL) != 0 ||
        kj_redis_appendargv(r, 7, list, NULL) != 0)
        return -1;
    redisReply *pruned = kj_redis_get_reply(r);
    if (!pruned)
        return -1;
    redisReply *rep = kj_redis_get_reply(r);
    int rc = -1;
    if (s_check(pruned, REDIS_REPLY_INTEGER, "prune") != 0 || !rep)
        goto out;
    if (rep->type != REDIS_REPLY_ARRAY) {
        kj_error("registry command failed", "s:op", "list", "s:error",
                 rep->type == REDIS_REPLY_ERROR ? rep->str
                                                : "unexpected reply");
        goto out;
    }
    char **v = kj_calloc(rep->elements + 1, sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < rep->elements; i++)
        if (rep->element[i]->type == REDIS_REPLY_STRING)
            v[n++] = kj_strndup(rep->element[i]->str, rep->element[i]->len);
    v[n] = NULL;
    *out = v;
    rc = (int)n;
out:
    if (rep)
        freeReplyObject(rep);
    return rc;
}

void
kj_registry_free(char **list)
{
    if (!list)
        return;
    for (char **p = list; *p; p++)
        free(*p);
    free(list);
}
