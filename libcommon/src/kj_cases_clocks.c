/* kj_cases_clocks: claiming and firing case timers (see kj_cases.h and
 * clock_claim.lua, clock_fire.lua, clock_resume.lua). The sweep walks
 * <prefix>:tenants, one pipelined claim per tenant. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_cases.h"
#include "kj_cases_internal.h"
#include "kj_log.h"
#include "kj_util.h"

#define S_CLAIM_STRIDE 15 /* strings per timer in clock_claim's answer */
#define S_TENANTS_MAX 256 /* tenants swept per call */

static int64_t
s_i64(const redisReply *r)
{
    int64_t v = 0;
    if (r->type != REDIS_REPLY_STRING || kj_parse_i64(r->str, r->len, &v) != 0)
        return 0;
    return v;
}

static void
s_copy(const redisReply *r, char *dst, size_t size)
{
    dst[0] = '\0';
    if (r->type == REDIS_REPLY_STRING)
        kj_strlcpy(dst, r->str, size);
}

/* One timer out of clock_claim's answer, at element i. */
static void
s_timer(const char *tenant, const redisReply *rep, size_t i, kj_case_timer_t *t)
{
    memset(t, 0, sizeof *t);
    kj_strlcpy(t->tenant, tenant, sizeof t->tenant);
    s_copy(rep->element[i], t->member, sizeof t->member);
    s_copy(rep->element[i + 1], t->claimed, sizeof t->claimed);
    const char *colon = strchr(t->member, ':');
    if (colon && (size_t)(colon - t->member) == KJ_ID_LEN) {
        memcpy(t->case_id, t->member, KJ_ID_LEN);
        kj_strlcpy(t->timer, colon + 1, sizeof t->timer);
    }
    s_copy(rep->element[i + 2], t->team, sizeof t->team);
    s_copy(rep->element[i + 3], t->status, sizeof t->status);
    s_copy(rep->element[i + 4], t->priority, sizeof t->priority);
    s_copy(rep->element[i + 5], t->assignee, sizeof t->assignee);
    s_copy(rep->element[i + 6], t->hours, sizeof t->hours);
    t->paused_ms = s_i64(rep->element[i + 7]);
    /* The claim answers fr, fr_warn, nr, nr_warn, res, res_warn. */
    t->due[KJ_TIMER_FR] = s_i64(rep->element[i + 8]);
    t->due[KJ_TIMER_FR_WARN] = s_i64(rep->element[i + 9]);
    t->due[KJ_TIMER_NR] = s_i64(rep->element[i + 10]);
    t->due[KJ_TIMER_NR_WARN] = s_i64(rep->element[i + 11]);
    t->due[KJ_TIMER_RES] = s_i64(rep->element[i + 12]);
    t->due[KJ_TIMER_RES_WARN] = s_i64(rep->element[i + 13]);
    s_copy(rep->element[i + 14], t->language, sizeof t->language);
}

int
kj_cases_clocks_claim(kj_cases_t *self, int64_t now_ms, int64_t lease_ms,
                      kj_case_timer_t *out, size_t max)
{
    redisReply *tenants = kj_redis_command(
        self->redis, "SRANDMEMBER %s:tenants %d", self->prefix, S_TENANTS_MAX);
    if (!tenants)
        return -1;
    if (tenants->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(tenants);
        return -1;
    }
    size_t nt = tenants->elements;
    char(*bases)[KJ_CASES_BASE_MAX] = kj_calloc(nt ? nt : 1, sizeof *bases);
    char(*keys)[KJ_CASES_BASE_MAX + 8] = kj_calloc(nt ? nt : 1, sizeof *keys);
    const char *(*argv)[5] = kj_calloc(nt ? nt : 1, sizeof *argv);
    kj_redis_eval_t *ev = kj_calloc(nt ? nt : 1, sizeof *ev);
    size_t *of = kj_calloc(nt ? nt : 1, sizeof *of);
    char now[24], lease[24], each[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    snprintf(lease, sizeof lease, "%lld", (long long)lease_ms);
    /* Every tenant may take the whole batch: a sweep claims at most
     * max per tenant, and keeps max of them (the rest come back after
     * their lease, claimed again then). */
    snprintf(each, sizeof each, "%zu", max);
    size_t m = 0;
    for (size_t i = 0; i < nt; i++) {
        const redisReply *t = tenants->element[i];
        if (t->type != REDIS_REPLY_STRING ||
            kj_cases_base(self, t->str, bases[m], sizeof bases[m]) < 0)
            continue;
        snprintf(keys[m], sizeof keys[m], "%s:clocks", bases[m]);
        argv[m][0] = keys[m];
        argv[m][1] = bases[m];
        argv[m][2] = now;
        argv[m][3] = lease;
        argv[m][4] = each;
        ev[m] = (kj_redis_eval_t){.nkeys = 1, .argc = 5, .argv = argv[m]};
        of[m++] = i;
    }
    int got = 0;
    int rc = m ? kj_redis_eval_batch(self->redis, self->s_claim, ev, m) : 0;
    if (rc != 0)
        got = -1;
    for (size_t k = 0; rc == 0 && k < m; k++) {
        const redisReply *rep = ev[k].reply;
        if (!rep || rep->type != REDIS_REPLY_ARRAY ||
            rep->elements % S_CLAIM_STRIDE != 0) {
            kj_error("redis script failed", "s:op", "clock_claim", "s:error",
                     rep && rep->type == REDIS_REPLY_ERROR ? rep->str
                                                           : "unexpected");
            got = -1;
            break;
        }
        for (size_t i = 0; i < rep->elements && (size_t)got < max;
             i += S_CLAIM_STRIDE)
            s_timer(tenants->element[of[k]]->str, rep, i, &out[got++]);
    }
    kj_redis_eval_clear(ev, m);
    free(of);
    free(ev);
    free(argv);
    free(keys);
    free(bases);
    freeReplyObject(tenants);
    return got;
}

/* Run script over the claimed timer with extra ARGV after B, member,
 * claimed score and now; the reply, or NULL if Redis failed. */
static redisReply *
s_run(kj_cases_t *self, int script, const kj_case_timer_t *t, int64_t now_ms,
      const char *const *extra, int n_extra)
{
    char base[KJ_CASES_BASE_MAX], key[KJ_CASES_BASE_MAX + 8], now[24];
    if (kj_cases_base(self, t->tenant, base, sizeof base) < 0)
        return NULL;
    snprintf(key, sizeof key, "%s:clocks", base);
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    const char *argv[16] = {key, base, t->member, t->claimed, now};
    int argc = 5;
    for (int i = 0; i < n_extra && argc < 16; i++)
        argv[argc++] = extra[i];
    kj_redis_eval_t e = {.nkeys = 1, .argc = argc, .argv = argv};
    if (kj_redis_eval_batch(self->redis, script, &e, 1) != 0) {
        kj_redis_eval_clear(&e, 1);
        return NULL;
    }
    return e.reply;
}

int
kj_cases_clock_fire(kj_cases_t *self, const kj_case_timer_t *t, int64_t now_ms,
                    int64_t send_ms, const char *chain, const char *warn_text,
                    const char *escalation_text, char result[16])
{
    char send[24];
    snprintf(send, sizeof send, "%lld",
             (long long)(send_ms > 0 ? send_ms : now_ms));
    const char *extra[] = {t->tenant, chain ? chain : "",
                           warn_text ? warn_text : "",
                           escalation_text ? escalation_text : "", send};
    result[0] = '\0';
    redisReply *rep =
        s_run(self, self->s_fire, t, now_ms, extra, (int)KJ_ARRAY_LEN(extra));
    if (!rep)
        return -1;
    int rc = -1;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_STRING) {
        kj_strlcpy(result, rep->element[0]->str, 16);
        rc = 0;
    } else {
        kj_error("redis script failed", "s:op", "clock_fire", "s:error",
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected");
    }
    freeReplyObject(rep);
    return rc;
}

int
kj_cases_clock_resume(kj_cases_t *self, const kj_case_timer_t *t,
                      int64_t now_ms, const int64_t due[KJ_TIMER_N])
{
    char nums[KJ_TIMER_N][24];
    const char *extra[KJ_TIMER_N];
    for (int i = 0; i < KJ_TIMER_N; i++) {
        nums[i][0] = '\0';
        if (due[i] > 0)
            snprintf(nums[i], sizeof nums[i], "%lld", (long long)due[i]);
        extra[i] = nums[i];
    }
    redisReply *rep = s_run(self, self->s_resume, t, now_ms, extra, KJ_TIMER_N);
    if (!rep)
        return -1;
    int rc = rep->type == REDIS_REPLY_STRING ? 0 : -1;
    if (rc < 0)
        kj_error("redis script failed", "s:op", "clock_resume", "s:error",
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected");
    freeReplyObject(rep);
    return rc;
}
