/* kj_outbox: the outbox scripts (libcommon/lua/outbox_*.lua) from C. See
 * kj_outbox.h. */
#include "kj_outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_assert.h"
#include "kj_log.h"
#include "kj_lua.h"
#include "kj_util.h"

#define S_BASE_MAX (KJ_OUTBOX_TENANT_MAX + 80) /* "<prefix>:{t:<tenant>}" */
#define S_KEY_MAX (S_BASE_MAX + 16)
#define S_TENANTS_MAX 4096 /* tenants swept per claim */

struct kj_outbox {
    kj_redis_t *redis; /* borrowed */
    char prefix[64];   /* "kj" */
    int s_put;         /* script handles */
    int s_claim;
    int s_done;
    int s_retry;
    int s_replay;
    int s_drop;
    size_t turn; /* the tenant the next claim starts with */
};

/* The incident kinds are owed by analytics (incident_owe.lua) to every
 * customer an incident affects; they go where a customer_ack would. */
static const char *const s_customer_kinds[] = {
    "customer_ack", "survey_request", "incident_notice", "incident_resolved"};
static const char *const s_internal_kinds[] = {"sla_warning", "escalation",
                                               "follow_up"};

kj_outbox_t *
kj_outbox_new(kj_redis_t *redis, const char *prefix)
{
    kj_assert(redis);
    kj_outbox_t *self = kj_calloc(1, sizeof *self);
    self->redis = redis;
    kj_strlcpy(self->prefix, prefix ? prefix : "kj", sizeof self->prefix);
    self->s_put = kj_redis_script_add(redis, kj_lua_outbox_put);
    self->s_claim = kj_redis_script_add(redis, kj_lua_outbox_claim);
    self->s_done = kj_redis_script_add(redis, kj_lua_outbox_done);
    self->s_retry = kj_redis_script_add(redis, kj_lua_outbox_retry);
    self->s_replay = kj_redis_script_add(redis, kj_lua_outbox_replay);
    self->s_drop = kj_redis_script_add(redis, kj_lua_outbox_drop);
    return self;
}

void
kj_outbox_destroy(kj_outbox_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

bool
kj_outbox_kind_customer(const char *kind)
{
    for (size_t i = 0; kind && i < KJ_ARRAY_LEN(s_customer_kinds); i++)
        if (strcmp(kind, s_customer_kinds[i]) == 0)
            return true;
    return false;
}

bool
kj_outbox_kind_valid(const char *kind)
{
    if (kj_outbox_kind_customer(kind))
        return true;
    for (size_t i = 0; kind && i < KJ_ARRAY_LEN(s_internal_kinds); i++)
        if (strcmp(kind, s_internal_kinds[i]) == 0)
            return true;
    return false;
}

/* "<prefix>:{t:<tenant>}" and "<base>:outbox"; -1 if tenant cannot be in
 * a hash tag ('{' or '}' would end it early) or is too long. */
static int
s_keys(const kj_outbox_t *self, const char *tenant, char *base, char *key)
{
    if (!tenant || !*tenant || strpbrk(tenant, "{}") ||
        strlen(tenant) >= KJ_OUTBOX_TENANT_MAX)
        return -1;
    snprintf(base, S_BASE_MAX, "%s:{t:%s}", self->prefix, tenant);
    snprintf(key, S_KEY_MAX, "%s:outbox", base);
    return 0;
}

static void
s_script_failed(const char *op, const redisReply *rep)
{
    kj_error("redis script failed", "s:op", op, "s:error",
             rep && rep->type == REDIS_REPLY_ERROR ? rep->str
                                                   : "unexpected reply");
}

/* One script call with one key; the reply, or NULL (logged). */
static redisReply *
s_eval(kj_outbox_t *self, int script, const char *op, const char **argv,
       int argc)
{
    kj_redis_eval_t e = {.nkeys = 1, .argc = argc, .argv = argv};
    if (kj_redis_eval_batch(self->redis, script, &e, 1) != 0 || !e.reply) {
        kj_redis_eval_clear(&e, 1);
        kj_error("redis failed", "s:op", op, "s:error",
                 kj_redis_errstr(self->redis));
        return NULL;
    }
    if (e.reply->type == REDIS_REPLY_ERROR) {
        s_script_failed(op, e.reply);
        kj_redis_eval_clear(&e, 1);
        return NULL;
    }
    return e.reply;
}

int
kj_outbox_put(kj_outbox_t *self, const char *tenant, const char *job,
              const char *kind, const char *complaint_id, const char *case_id,
              const char *payload, int64_t due_ms)
{
    char base[S_BASE_MAX], key[S_KEY_MAX], due[24];
    if (s_keys(self, tenant, base, key) < 0 || !job || !*job ||
        strlen(job) >= KJ_OUTBOX_JOB_MAX || !kj_outbox_kind_valid(kind) ||
        !complaint_id || !*complaint_id || !payload ||
        strlen(payload) > KJ_OUTBOX_PAYLOAD_MAX)
        return -1;
    snprintf(due, sizeof due, "%lld", (long long)due_ms);
    const char *argv[] = {key,     base,         job,
                          kind,    complaint_id, case_id ? case_id : "",
                          payload, due};
    redisReply *rep =
        s_eval(self, self->s_put, "outbox_put", argv, (int)KJ_ARRAY_LEN(argv));
    if (!rep)
        return -1;
    int rc = rep->type == REDIS_REPLY_INTEGER ? (int)rep->integer : -1;
    freeReplyObject(rep);
    /* The sweep's list of tenants (outside the tag: a set of its own). */
    rep = kj_redis_command(self->redis, "SADD %s:tenants %s", self->prefix,
                           tenant);
    if (!rep || rep->type == REDIS_REPLY_ERROR)
        rc = -1;
    if (rep)
        freeReplyObject(rep);
    return rc;
}

void
kj_outbox_job_clear(kj_outbox_job_t *job)
{
    free(job->payload);
    job->payload = NULL;
}

/* A string element i of an array reply into dst; false if it is not one
 * or does not fit. */
static bool
s_str(const redisReply *a, size_t i, char *dst, size_t size)
{
    if (i >= a->elements || a->element[i]->type != REDIS_REPLY_STRING ||
        a->element[i]->len >= size)
        return false;
    memcpy(dst, a->element[i]->str, a->element[i]->len + 1);
    return true;
}

/* The claimed jobs of one tenant's reply into jobs[*n..max). */
static void
s_take(const redisReply *rep, const char *tenant, kj_outbox_job_t *jobs,
       size_t max, size_t *n)
{
    for (size_t i = 0; i < rep->elements && *n < max; i++) {
        const redisReply *r = rep->element[i];
        kj_outbox_job_t *j = &jobs[*n];
        memset(j, 0, sizeof *j);
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 6 ||
            r->element[4]->type != REDIS_REPLY_STRING ||
            r->element[5]->type != REDIS_REPLY_INTEGER ||
            !s_str(r, 0, j->id, sizeof j->id) ||
            !s_str(r, 1, j->kind, sizeof j->kind) ||
            !s_str(r, 2, j->complaint_id, sizeof j->complaint_id) ||
            !s_str(r, 3, j->case_id, sizeof j->case_id)) {
            /* Only kj_outbox_put and Lua owe jobs; a job that does not
             * fit was written by hand. It stays leased, then comes back. */
            kj_warn("outbox job malformed, skipped", "s:tenant", tenant);
            continue;
        }
        kj_strlcpy(j->tenant, tenant, sizeof j->tenant);
        j->payload = kj_strdup(r->element[4]->str);
        j->attempts = r->element[5]->integer;
        (*n)++;
    }
}

int
kj_outbox_claim(kj_outbox_t *self, int64_t now_ms, int64_t lease_ms,
                kj_outbox_job_t *jobs, size_t max, size_t *n)
{
    *n = 0;
    if (max == 0)
        return 0;
    redisReply *ts =
        kj_redis_command(self->redis, "SMEMBERS %s:tenants", self->prefix);
    if (!ts || ts->type != REDIS_REPLY_ARRAY) {
        if (ts)
            freeReplyObject(ts);
        return -1;
    }
    size_t all = ts->elements < S_TENANTS_MAX ? ts->elements : S_TENANTS_MAX;
    /* Every job a script claims must fit in jobs[max], or it would sit
     * leased and unsent: each tenant gets an equal share, and with more
     * tenants than max, max of them take turns, one job each. */
    size_t nt = all < max ? all : max;
    if (nt == 0) {
        freeReplyObject(ts);
        return 0;
    }
    typedef struct {
        char base[S_BASE_MAX];
        char key[S_KEY_MAX];
        const char *argv[5];
    } s_call_t;
    s_call_t *calls = kj_calloc(nt, sizeof *calls);
    kj_redis_eval_t *evals = kj_calloc(nt, sizeof *evals);
    size_t *of = kj_calloc(nt, sizeof *of);
    char now[24], lease[24], want[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    snprintf(lease, sizeof lease, "%lld", (long long)lease_ms);
    snprintf(want, sizeof want, "%zu", max / nt);
    size_t m = 0;
    size_t first = self->turn++ % all;
    for (size_t k = 0; k < nt; k++) {
        size_t i = (first + k) % all;
        const redisReply *t = ts->element[i];
        if (t->type != REDIS_REPLY_STRING ||
            s_keys(self, t->str, calls[m].base, calls[m].key) < 0)
            continue;
        const char *argv[] = {calls[m].key, calls[m].base, now, lease, want};
        memcpy(calls[m].argv, argv, sizeof argv);
        evals[m] =
            (kj_redis_eval_t){.nkeys = 1, .argc = 5, .argv = calls[m].argv};
        of[m++] = i;
    }
    int rc = m ? kj_redis_eval_batch(self->redis, self->s_claim, evals, m) : 0;
    /* -2: some claims may have run unanswered; their jobs come back when
     * the lease ends. Those answered are taken. */
    for (size_t k = 0; rc != -1 && k < m; k++) {
        const redisReply *rep = evals[k].reply;
        if (!rep)
            continue;
        if (rep->type != REDIS_REPLY_ARRAY) {
            s_script_failed("outbox_claim", rep);
            continue;
        }
        s_take(rep, ts->element[of[k]]->str, jobs, max, n);
    }
    kj_redis_eval_clear(evals, m);
    free(of);
    free(evals);
    free(calls);
    freeReplyObject(ts);
    return rc == -1 ? -1 : 0;
}

int
kj_outbox_done(kj_outbox_t *self, const kj_outbox_job_t *job,
               const char *endpoint, int http_status, int64_t now_ms)
{
    char base[S_BASE_MAX], key[S_KEY_MAX], now[24], status[16], ret[24];
    if (s_keys(self, job->tenant, base, key) < 0)
        return -1;
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    snprintf(status, sizeof status, "%d", http_status);
    snprintf(ret, sizeof ret, "%d", KJ_OUTBOX_RETENTION_S);
    const char *argv[] = {key,    base, job->id, now, endpoint ? endpoint : "",
                          status, ret};
    redisReply *rep = s_eval(self, self->s_done, "outbox_done", argv,
                             (int)KJ_ARRAY_LEN(argv));
    if (!rep)
        return -1;
    int rc = rep->type == REDIS_REPLY_INTEGER ? (int)rep->integer : -1;
    freeReplyObject(rep);
    return rc;
}

int
kj_outbox_done_batch(kj_outbox_t *self, kj_outbox_done_t *items, size_t n,
                     int64_t now_ms)
{
    enum { S_ARGS = 7 };
    if (n == 0)
        return 0;
    char(*bases)[S_BASE_MAX] = kj_calloc(n, sizeof *bases);
    char(*keys)[S_KEY_MAX] = kj_calloc(n, sizeof *keys);
    char(*status)[16] = kj_calloc(n, sizeof *status);
    const char *(*argv)[S_ARGS] = kj_calloc(n, sizeof *argv);
    kj_redis_eval_t *ev = kj_calloc(n, sizeof *ev);
    size_t *of = kj_calloc(n, sizeof *of);
    char now[24], ret[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    snprintf(ret, sizeof ret, "%d", KJ_OUTBOX_RETENTION_S);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        items[i].result = -1;
        if (s_keys(self, items[i].job->tenant, bases[m], keys[m]) < 0)
            continue;
        snprintf(status[m], sizeof status[m], "%d", items[i].http_status);
        const char *a[S_ARGS] = {keys[m],
                                 bases[m],
                                 items[i].job->id,
                                 now,
                                 items[i].endpoint ? items[i].endpoint : "",
                                 status[m],
                                 ret};
        memcpy(argv[m], a, sizeof a);
        ev[m] = (kj_redis_eval_t){.nkeys = 1, .argc = S_ARGS, .argv = argv[m]};
        of[m++] = i;
    }
    int rc = m ? kj_redis_eval_batch(self->redis, self->s_done, ev, m) : 0;
    for (size_t k = 0; rc == 0 && k < m; k++) {
        const redisReply *rep = ev[k].reply;
        if (rep && rep->type == REDIS_REPLY_INTEGER)
            items[of[k]].result = (int)rep->integer;
        else
            s_script_failed("outbox_done", rep);
    }
    if (rc != 0)
        kj_error("redis failed", "s:op", "outbox_done", "s:error",
                 kj_redis_errstr(self->redis));
    kj_redis_eval_clear(ev, m);
    free(of);
    free(ev);
    free(argv);
    free(status);
    free(keys);
    free(bases);
    return rc == 0 ? 0 : -1;
}

kj_outbox_retry_rc_t
kj_outbox_retry(kj_outbox_t *self, const kj_outbox_job_t *job, int64_t next_ms,
                const char *error, int64_t max_attempts, bool defer,
                const char *endpoint, int http_status, int64_t now_ms)
{
    char base[S_BASE_MAX], key[S_KEY_MAX];
    char nums[5][24];
    if (s_keys(self, job->tenant, base, key) < 0)
        return KJ_OUTBOX_FAILED;
    snprintf(nums[0], 24, "%lld", (long long)now_ms);
    snprintf(nums[1], 24, "%lld", (long long)next_ms);
    snprintf(nums[2], 24, "%lld", (long long)job->attempts);
    snprintf(nums[3], 24, "%lld", (long long)max_attempts);
    snprintf(nums[4], 24, "%d", http_status);
    char ret[24];
    snprintf(ret, sizeof ret, "%d", KJ_OUTBOX_RETENTION_S);
    const char *argv[] = {key,
                          base,
                          job->id,
                          nums[0],
                          nums[1],
                          error ? error : "",
                          nums[2],
                          nums[3],
                          defer ? "1" : "0",
                          endpoint ? endpoint : "",
                          nums[4],
                          ret};
    redisReply *rep = s_eval(self, self->s_retry, "outbox_retry", argv,
                             (int)KJ_ARRAY_LEN(argv));
    if (!rep)
        return KJ_OUTBOX_FAILED;
    kj_outbox_retry_rc_t rc = KJ_OUTBOX_FAILED;
    if (rep->type == REDIS_REPLY_STATUS || rep->type == REDIS_REPLY_STRING) {
        if (strcmp(rep->str, "retry") == 0)
            rc = KJ_OUTBOX_RETRY;
        else if (strcmp(rep->str, "dead") == 0)
            rc = KJ_OUTBOX_DEAD;
        else if (strcmp(rep->str, "gone") == 0)
            rc = KJ_OUTBOX_GONE;
        else if (strcmp(rep->str, "stale") == 0)
            rc = KJ_OUTBOX_STALE;
    }
    if (rc == KJ_OUTBOX_FAILED)
        s_script_failed("outbox_retry", rep);
    freeReplyObject(rep);
    return rc;
}

/* A replay or drop script's word as a kj_outbox_dead_rc_t. */
static kj_outbox_dead_rc_t
s_dead_rc(const char *op, redisReply *rep, const char *done)
{
    kj_outbox_dead_rc_t rc = KJ_OUTBOX_DEAD_FAILED;
    if (rep->type == REDIS_REPLY_STATUS || rep->type == REDIS_REPLY_STRING) {
        if (strcmp(rep->str, done) == 0)
            rc = KJ_OUTBOX_DEAD_DONE;
        else if (strcmp(rep->str, "not_dead") == 0)
            rc = KJ_OUTBOX_DEAD_NOT_DEAD;
        else if (strcmp(rep->str, "no_job") == 0)
            rc = KJ_OUTBOX_DEAD_NO_JOB;
    }
    if (rc == KJ_OUTBOX_DEAD_FAILED)
        s_script_failed(op, rep);
    freeReplyObject(rep);
    return rc;
}

kj_outbox_dead_rc_t
kj_outbox_replay(kj_outbox_t *self, const char *tenant, const char *job,
                 int64_t now_ms)
{
    char base[S_BASE_MAX], key[S_KEY_MAX], now[24];
    if (s_keys(self, tenant, base, key) < 0 || !job || !*job ||
        strlen(job) >= KJ_OUTBOX_JOB_MAX)
        return KJ_OUTBOX_DEAD_FAILED;
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    const char *argv[] = {key, base, job, now};
    redisReply *rep = s_eval(self, self->s_replay, "outbox_replay", argv,
                             (int)KJ_ARRAY_LEN(argv));
    if (!rep)
        return KJ_OUTBOX_DEAD_FAILED;
    kj_outbox_dead_rc_t rc = s_dead_rc("outbox_replay", rep, "replayed");
    if (rc != KJ_OUTBOX_DEAD_DONE)
        return rc;
    /* The claim sweeps only the tenants in this set (outside the tag, so
     * not in the script); kj_outbox_put put it there, but say so again. */
    rep = kj_redis_command(self->redis, "SADD %s:tenants %s", self->prefix,
                           tenant);
    if (!rep || rep->type == REDIS_REPLY_ERROR)
        rc = KJ_OUTBOX_DEAD_FAILED;
    if (rep)
        freeReplyObject(rep);
    return rc;
}

kj_outbox_dead_rc_t
kj_outbox_drop(kj_outbox_t *self, const char *tenant, const char *job)
{
    char base[S_BASE_MAX], key[S_KEY_MAX];
    if (s_keys(self, tenant, base, key) < 0 || !job || !*job ||
        strlen(job) >= KJ_OUTBOX_JOB_MAX)
        return KJ_OUTBOX_DEAD_FAILED;
    const char *argv[] = {key, base, job};
    redisReply *rep = s_eval(self, self->s_drop, "outbox_drop", argv,
                             (int)KJ_ARRAY_LEN(argv));
    if (!rep)
        return KJ_OUTBOX_DEAD_FAILED;
    return s_dead_rc("outbox_drop", rep, "dropped");
}

int
kj_outbox_deliveries(kj_outbox_t *self, const char *tenant,
                     const char *complaint_id, json_t **array)
{
    *array = NULL;
    char base[S_BASE_MAX], key[S_KEY_MAX];
    /* kj_outbox_put refuses such a tenant, so nothing was delivered. */
    if (s_keys(self, tenant, base, key) < 0 || !complaint_id) {
        *array = json_array();
        return 0;
    }
    redisReply *rep = kj_redis_command(self->redis, "LRANGE %s:dl:%s 0 -1",
                                       base, complaint_id);
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        if (rep)
            freeReplyObject(rep);
        return -1;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *e = rep->element[i];
        if (e->type != REDIS_REPLY_STRING)
            continue;
        json_t *o = json_loadb(e->str, e->len, 0, NULL);
        /* Only outbox_done/outbox_retry write here, as objects. */
        if (json_is_object(o))
            json_array_append_new(arr, o);
        else
            json_decref(o);
    }
    freeReplyObject(rep);
    *array = arr;
    return 0;
}

int
kj_outbox_rates_parse(const char *spec, kj_outbox_rate_t *rates, size_t max,
                      size_t *n, char *err, size_t err_size)
{
    *n = 0;
    if (err_size)
        err[0] = '\0';
    const char *p = spec ? spec : "";
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t nlen = eq ? (size_t)(eq - p) : 0;
        if (!eq || nlen == 0 || nlen >= KJ_OUTBOX_CHANNEL_MAX) {
            snprintf(err, err_size,
                     "expected channel=notices_per_second at \"%.*s\"",
                     (int)(len > 40 ? 40 : len), p);
            return -1;
        }
        char num[32];
        size_t vlen = len - nlen - 1;
        if (vlen == 0 || vlen >= sizeof num) {
            snprintf(err, err_size, "no rate for \"%.*s\"", (int)nlen, p);
            return -1;
        }
        memcpy(num, eq + 1, vlen);
        num[vlen] = '\0';
        char *stop = NULL;
        double v = strtod(num, &stop);
        /* Not NaN, positive, and a rate a clock in ms can space. */
        if (!stop || *stop || !(v > 0) || v > 100000) {
            snprintf(err, err_size,
                     "rate for \"%.*s\" must be a number in (0, 100000]",
                     (int)nlen, p);
            return -1;
        }
        if (*n >= max) {
            snprintf(err, err_size, "more than %zu channels", max);
            return -1;
        }
        memcpy(rates[*n].channel, p, nlen);
        rates[*n].channel[nlen] = '\0';
        rates[*n].per_s = v;
        (*n)++;
        p = end ? end + 1 : p + len;
    }
    return 0;
}

double
kj_outbox_rate_for(const kj_outbox_rate_t *rates, size_t n, const char *channel)
{
    double any = 0;
    for (size_t i = 0; i < n; i++) {
        if (channel && strcmp(rates[i].channel, channel) == 0)
            return rates[i].per_s;
        if (strcmp(rates[i].channel, "*") == 0)
            any = rates[i].per_s;
    }
    return any;
}
