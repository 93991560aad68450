/* kj_stage: the loop shared by classifier, router and notifier (see
 * kj_stage.h). One thread runs everything: the PULL socket, the signalfd,
 * the service's own fds, the batch commit to Redis and the periodic tick.
 * Nothing here is lost when it fails: every record is due in Redis until a
 * transition moves it on, so a dropped message or batch is claimed again
 * after its lease. */
#include "kj_stage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kj_assert.h"
#include "kj_downstream.h"
#include "kj_log.h"
#include "kj_mq.h"
#include "kj_registry.h"
#include "kj_service.h"
#include "kj_sum.h"
#include "kj_util.h"

#define S_TICK_MS 200          /* claim overdue work this often */
#define S_SECOND_MS 1000       /* heartbeat, peers and depth this often */
#define S_REG_TTL_MS 3000      /* registry entry outlives 3 missed beats */
#define S_PUSH_TIMEOUT_MS 1000 /* wait this long for room downstream */
#define S_REDIS_BACKOFF_MS 250 /* pause intake after a Redis failure */
/* After leaving the registry, upstream copies may still send until their
 * next peer refresh (every second); keep taking what arrives that long. */
#define S_DRAIN_QUIET_MS 1200
#define S_HOOK_ITEMS 63 /* the PULL socket takes one of the service's */
#define S_BATCH_LIMIT 4096
#define S_IDEM_TTL_S 86400
#define S_RETENTION_S (30 * 24 * 3600) /* final records are kept */
#define S_STREAM_MAXLEN 100000         /* events kept per partition */
#define S_ARENA_MIN (64 * 1024)

typedef enum {
    S_FAIL_DECODE,
    S_FAIL_STALE,
    S_FAIL_RETRY,
    S_FAIL_DEAD,
    S_FAIL_REDIS,
    S_FAIL_PUSH,
    S_FAIL_DEFER,
    S_FAIL_FORGED,
    S_FAIL_COUNT
} s_fail_t;

/* The reason label of each failure: a kj_rc name, so that it reads the
 * same in metrics, logs and dead-letter reasons. */
static const kj_rc_t s_fail_rc[S_FAIL_COUNT] = {
    [S_FAIL_DECODE] = KJ_ERR_DECODE, [S_FAIL_STALE] = KJ_ERR_STALE,
    [S_FAIL_RETRY] = KJ_RETRY,       [S_FAIL_DEAD] = KJ_DEAD,
    [S_FAIL_REDIS] = KJ_ERR_REDIS,   [S_FAIL_PUSH] = KJ_ERR_PUSH,
    [S_FAIL_DEFER] = KJ_DEFERRED,    [S_FAIL_FORGED] = KJ_ERR_FORGED,
};

/* One envelope's outcome, waiting to be committed. */
typedef struct {
    kj_envelope_t *env;      /* in the batch or pending array */
    kj_verdict_t verdict;    /* what process (or complete) decided */
    bool todo;               /* still to be processed in this batch */
    int64_t retry_at_ms;     /* RETRY/DEFER: when it comes due again */
    char err[KJ_ERRMSG_MAX]; /* RETRY/DEAD/DEFER: the reason, never text */
    bool keep_env;           /* DEAD from a claim: leave the stored bytes */
    /* kj_sum of the bytes this stage was given (pushed or claimed): its
     * write applies only while the record holds them. Completions carry
     * none (see kj_stage_complete). */
    uint8_t sum[KJ_SUM_LEN];
    bool has_sum;
    /* Filled by the commit: where the encoded bytes sit in the arena
     * (offsets, since the arena may move while it grows) and which store
     * item carries this result. */
    size_t env_off, env_len, ev_off, ev_len;
    size_t store_idx;
} s_result_t;

struct kj_stage {
    char *name, *in_state, *out_state, *next, *prefix; /* owned copies */
    int64_t lease_ms;     /* deadline of pushed work in out_state */
    int64_t max_attempts; /* claims beyond this go dead */
    int64_t drain_ms;     /* longest a drain may take */
    size_t batch_max;     /* envelopes per commit */
    bool verify_pushed;   /* check pushes against Redis before process */

    kj_service_t *service; /* signals, admin, metrics, Redis, drain */
    bool own_service;      /* made by kj_stage_new, destroyed with it */
    void *zctx;            /* ZeroMQ context, owned */
    kj_redis_t *redis;     /* the service's connection */
    kj_store_t *store;     /* borrows redis */
    kj_pull_t *pull;       /* our input, registered under name */
    kj_push_t *push;       /* to next; NULL for the last stage */
    kj_downstream_t *down; /* follows next's copies; NULL for the last */
    kj_codec_t *codec;     /* decode input, encode commits */
    kj_metrics_t *metrics; /* the service's registry */

    kj_counter_t *m_in, *m_out, *m_redis_errors, *m_zmq_errors;
    kj_counter_t *m_reclaimed, *m_dead_letters;
    kj_counter_t *m_failed[S_FAIL_COUNT]; /* created on first use */
    kj_histogram_t *m_latency;
    kj_gauge_t *m_depth, *m_peers;

    /* Allocated once, reused by every batch: envelopes are ~20 KB each, so
     * a malloc per message would dominate a hot loop. */
    kj_envelope_t *envs;      /* received or claimed, batch_max */
    s_result_t *res;          /* their outcomes */
    kj_envelope_t **batch;    /* batch_max: those about to be processed */
    kj_envelope_t *penvs;     /* copies given to kj_stage_complete */
    s_result_t *pres;         /* their outcomes */
    size_t n_pending;         /* queued completions */
    kj_store_claim_t *claims; /* batch_max */
    kj_store_transition_t *trans;
    kj_store_retry_t *retries;
    kj_store_verify_t *verifies; /* batch_max, with verify_pushed */
    uint8_t *arena;              /* encoded envelopes and events of a batch */
    size_t arena_len, arena_cap;

    kj_stage_process_fn process; /* set by kj_stage_run */
    const kj_stage_hooks_t *hooks;
    void *ctx;

    int64_t next_beat, next_depth; /* monotonic ms */
    size_t n_hook_items;           /* the service's items in the last poll */
    int64_t backoff_until;         /* no intake before this (Redis failed) */
    bool claim_more;               /* the last claim was full: claim again */
    bool registered;               /* our endpoint is in the registry */
    bool draining;
    bool redis_ok;         /* the last Redis call worked */
    uint64_t peer_gen;     /* kj_push_generation at the last refresh */
    int64_t decode_log_at; /* rate limit for decode error logs */
    uint64_t decode_quiet; /* decode errors not logged since */
    int64_t push_log_at;   /* rate limit for push failure logs */
    int64_t forged_log_at; /* rate limit for forged envelope logs */
    uint64_t forged_quiet; /* forged envelopes not logged since */
};

static kj_counter_t *
s_failed(kj_stage_t *self, s_fail_t why)
{
    if (!self->m_failed[why]) {
        char labels[64];
        snprintf(labels, sizeof labels, "reason=\"%s\"",
                 kj_rc_name(s_fail_rc[why]));
        self->m_failed[why] =
            kj_metrics_counter(self->metrics, "envelopes_failed_total",
                               "Envelopes not passed on, by reason", labels);
    }
    return self->m_failed[why];
}

static void
s_redis_failed(kj_stage_t *self, const char *what)
{
    kj_counter_inc(self->m_redis_errors);
    const char *err = kj_redis_errstr(self->redis);
    char reason[KJ_ERRMSG_MAX];
    snprintf(reason, sizeof reason, "redis: %s", err[0] ? err : "error");
    /* Logged when it starts failing; /readyz says it until it is back. */
    if (self->redis_ok)
        kj_error("redis failed", "s:op", what, "s:error", err);
    self->redis_ok = false;
    kj_service_set_ready(self->service, false, reason);
    self->backoff_until = kj_mono_ms() + S_REDIS_BACKOFF_MS;
}

static void
s_update_ready(kj_stage_t *self)
{
    if (kj_redis_connected(self->redis)) {
        self->redis_ok = true;
        kj_service_set_ready(self->service, true, "");
        return;
    }
    const char *err = kj_redis_errstr(self->redis);
    char reason[KJ_ERRMSG_MAX];
    snprintf(reason, sizeof reason, "redis: %s",
             err[0] ? err : "not connected");
    self->redis_ok = false;
    kj_service_set_ready(self->service, false, reason);
}

/* Append bytes to the batch arena; returns their offset. */
static size_t
s_arena_put(kj_stage_t *self, const uint8_t *data, size_t len)
{
    if (self->arena_len + len > self->arena_cap) {
        size_t cap = self->arena_cap ? self->arena_cap : S_ARENA_MIN;
        while (cap < self->arena_len + len)
            cap *= 2;
        self->arena = kj_realloc(self->arena, cap);
        self->arena_cap = cap;
    }
    size_t off = self->arena_len;
    memcpy(self->arena + off, data, len);
    self->arena_len += len;
    return off;
}

/* When this stage took env in (its own stamp), or fallback. */
static int64_t
s_in_ms(const kj_stage_t *self, const kj_envelope_t *env, int64_t fallback)
{
    for (size_t i = 0; i < env->n_stages && i < KJ_MAX_STAGES; i++)
        if (strncmp(env->stages[i].stage, self->name,
                    sizeof env->stages[i].stage - 1) == 0 &&
            env->stages[i].in_ms > 0)
            return env->stages[i].in_ms;
    return fallback;
}

/* Encode one result's envelope and event into the arena. */
static void
s_encode(kj_stage_t *self, s_result_t *r, int64_t now)
{
    const uint8_t *out;
    int len;
    kj_envelope_t *env = r->env;
    r->env_len = 0;
    r->ev_len = 0;
    /* A deferral changes nothing but the deadline: the stored envelope
     * stays, and there is no event to write. */
    if (r->verdict == KJ_VERDICT_DEFER)
        return;
    if (!r->keep_env) {
        kj_envelope_stamp(env, self->name, s_in_ms(self, env, now), now);
        /* Entering the next state is its first attempt there (the store
         * resets attempts the same way). */
        if (r->verdict == KJ_VERDICT_DONE)
            env->attempt = 1;
        len = kj_envelope_encode(self->codec, env, &out);
        if (len >= 0) {
            r->env_off = s_arena_put(self, out, (size_t)len);
            r->env_len = (size_t)len;
        } else {
            /* The service grew it past the wire limit; trying again would
             * grow it again, so it goes dead with its stored bytes. */
            r->verdict = KJ_VERDICT_DEAD;
            r->keep_env = true;
            kj_rc_reason(r->err, sizeof r->err, KJ_ERR_TOO_BIG,
                         "%s made the envelope exceed %d bytes", self->name,
                         KJ_ENVELOPE_WIRE_MAX);
        }
    }
    kj_event_t ev;
    if (r->verdict == KJ_VERDICT_DONE) {
        kj_event_from_envelope(&ev, env, self->out_state, self->name, now);
    } else {
        kj_event_from_envelope(&ev, env, "dead", self->name, now);
        kj_strlcpy(ev.reason, r->err, sizeof ev.reason);
    }
    len = kj_event_encode(self->codec, &ev, &out);
    if (len >= 0) {
        r->ev_off = s_arena_put(self, out, (size_t)len);
        r->ev_len = (size_t)len;
    } else {
        kj_error("event encode failed", "s:id", env->complaint.id);
    }
}

/* Pass an applied envelope downstream. Failure loses nothing: the record
 * is due in out_state and the next stage claims it after the lease. */
static void
s_push(kj_stage_t *self, const s_result_t *r, bool *broken)
{
    if (!self->push) {
        kj_counter_inc(self->m_out);
        return;
    }
    /* One failed send already waited the whole timeout; the rest of the
     * batch would too, so skip them rather than stall for minutes. */
    if (!*broken && kj_push_peers(self->push) > 0 &&
        kj_push_send(self->push, self->arena + r->env_off, r->env_len) == 0) {
        kj_counter_inc(self->m_out);
        return;
    }
    int64_t mono = kj_mono_ms();
    if (!*broken && mono >= self->push_log_at) {
        kj_warn("push downstream failed; the record stays due", "s:next",
                self->next, "l:peers", (long long)kj_push_peers(self->push));
        self->push_log_at = mono + S_SECOND_MS;
    }
    *broken = true;
    kj_counter_inc(self->m_zmq_errors);
    kj_counter_inc(s_failed(self, S_FAIL_PUSH));
}

static void
s_dead_lettered(kj_stage_t *self, const s_result_t *r)
{
    kj_counter_inc(self->m_dead_letters);
    kj_counter_inc(s_failed(self, S_FAIL_DEAD));
    kj_warn("dead-lettered", "s:id", r->env->complaint.id, "s:trace_id",
            r->env->trace_id, "s:reason", r->err);
}

/* An envelope that is not the one its record holds (or names no record):
 * it changed nothing. Counted; logged at most once a second, by id only,
 * since its content is whatever the sender made up. */
static void
s_forged(kj_stage_t *self, const char *id, const char *where)
{
    kj_counter_inc(s_failed(self, S_FAIL_FORGED));
    int64_t mono = kj_mono_ms();
    if (mono < self->forged_log_at) {
        self->forged_quiet++;
        return;
    }
    kj_warn("envelope does not match its record; refused", "s:id", id,
            "s:stage", self->name, "s:from", where, "l:suppressed",
            (long long)self->forged_quiet);
    self->forged_quiet = 0;
    self->forged_log_at = mono + S_SECOND_MS;
}

/* Commit n results in one transition pipeline and one retry pipeline,
 * then push the applied ones downstream. */
static void
s_commit(kj_stage_t *self, s_result_t *res, size_t n, int64_t now)
{
    size_t nt = 0, nr = 0;
    self->arena_len = 0;
    for (size_t i = 0; i < n; i++) {
        s_result_t *r = &res[i];
        if (r->verdict == KJ_VERDICT_PENDING)
            continue;
        s_encode(self, r, now);
        if (r->verdict == KJ_VERDICT_RETRY || r->verdict == KJ_VERDICT_DEFER) {
            r->store_idx = nr++;
        } else {
            r->store_idx = nt++;
        }
    }
    /* The arena has stopped moving: now point the store items into it. */
    for (size_t i = 0; i < n; i++) {
        s_result_t *r = &res[i];
        const uint8_t *env_bytes = r->env_len ? self->arena + r->env_off : NULL;
        const uint8_t *ev_bytes = r->ev_len ? self->arena + r->ev_off : NULL;
        const uint8_t *want = r->has_sum ? r->sum : NULL;
        if (r->verdict == KJ_VERDICT_DONE) {
            self->trans[r->store_idx] = (kj_store_transition_t){
                .id = r->env->complaint.id,
                .from = self->in_state,
                .to = self->out_state,
                .env = env_bytes,
                .env_len = r->env_len,
                .due_ms = self->next ? now + self->lease_ms : 0,
                .event = ev_bytes,
                .event_len = r->ev_len,
                .want_sum = want,
                .result = -1,
            };
        } else if (r->verdict == KJ_VERDICT_DEAD) {
            self->trans[r->store_idx] = (kj_store_transition_t){
                .id = r->env->complaint.id,
                .from = self->in_state,
                .to = "dead",
                .env = env_bytes,
                .env_len = r->env_len,
                .event = ev_bytes,
                .event_len = r->ev_len,
                .reason = r->err,
                .want_sum = want,
                .result = -1,
            };
        } else if (r->verdict == KJ_VERDICT_RETRY ||
                   r->verdict == KJ_VERDICT_DEFER) {
            int64_t at =
                r->retry_at_ms > 0 ? r->retry_at_ms : now + self->lease_ms;
            self->retries[r->store_idx] = (kj_store_retry_t){
                .id = r->env->complaint.id,
                .state = self->in_state,
                .next_ms = at,
                .error = r->err,
                .env = env_bytes,
                .env_len = r->env_len,
                .dead_event = ev_bytes,
                .dead_event_len = r->ev_len,
                .defer = r->verdict == KJ_VERDICT_DEFER,
                .want_sum = want,
                .result = -1,
            };
        }
    }
    bool redis_bad = false;
    if (nt > 0 && kj_store_transition(self->store, self->trans, nt, now) != 0)
        redis_bad = true;
    if (nr > 0 && kj_store_retry(self->store, self->retries, nr, now) != 0)
        redis_bad = true;

    bool broken = false;
    for (size_t i = 0; i < n; i++) {
        s_result_t *r = &res[i];
        int result;
        if (r->verdict == KJ_VERDICT_PENDING)
            continue;
        if (r->verdict == KJ_VERDICT_RETRY || r->verdict == KJ_VERDICT_DEFER)
            result = self->retries[r->store_idx].result;
        else
            result = self->trans[r->store_idx].result;
        if (result == KJ_STORE_FORGED) {
            s_forged(self, r->env->complaint.id, "commit");
            continue;
        }
        if (result < 0) {
            /* Dropped: the record is still due in Redis. */
            redis_bad = true;
            kj_counter_inc(s_failed(self, S_FAIL_REDIS));
            continue;
        }
        if (result == 0) {
            /* Someone else moved it on (a duplicate or a late claim). */
            kj_counter_inc(s_failed(self, S_FAIL_STALE));
            continue;
        }
        switch (r->verdict) {
        case KJ_VERDICT_DONE: {
            int64_t in = s_in_ms(self, r->env, now);
            kj_histogram_observe(self->m_latency, (double)(now - in) / 1000.0);
            s_push(self, r, &broken);
            break;
        }
        case KJ_VERDICT_DEAD:
            s_dead_lettered(self, r);
            break;
        case KJ_VERDICT_RETRY:
            if (result == 2)
                s_dead_lettered(self, r);
            else
                kj_counter_inc(s_failed(self, S_FAIL_RETRY));
            break;
        case KJ_VERDICT_DEFER:
            kj_counter_inc(s_failed(self, S_FAIL_DEFER));
            break;
        case KJ_VERDICT_PENDING:
            break;
        }
    }
    if (redis_bad)
        s_redis_failed(self, "commit");
}

/* The service's look at a whole batch before process runs on each of
 * its envelopes (in the same order): results still to be processed are
 * those marked todo. */
static void
s_before_batch(kj_stage_t *self, s_result_t *res, size_t n, int64_t now)
{
    if (!self->hooks || !self->hooks->before_batch || n == 0)
        return;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (res[i].todo)
            self->batch[m++] = res[i].env;
    if (m > 0)
        self->hooks->before_batch(self->ctx, self->batch, m, now);
}

/* Hand one decoded envelope to the service; r->env is set. */
static void
s_process(kj_stage_t *self, s_result_t *r, int64_t now)
{
    /* The in stamp travels in the envelope, so a PENDING completion
     * committed later still measures the whole time in this stage. */
    kj_envelope_stamp(r->env, self->name, now, 0);
    r->err[0] = '\0';
    r->retry_at_ms = 0;
    r->keep_env = false;
    kj_counter_inc(self->m_in);
    kj_verdict_t v = self->process(self->ctx, r->env, now, r->err,
                                   sizeof r->err, &r->retry_at_ms);
    kj_assert(v == KJ_VERDICT_DONE || v == KJ_VERDICT_RETRY ||
              v == KJ_VERDICT_DEAD || v == KJ_VERDICT_PENDING ||
              v == KJ_VERDICT_DEFER);
    r->verdict = v;
    if (v != KJ_VERDICT_DONE && v != KJ_VERDICT_PENDING && !r->err[0])
        kj_rc_reason(r->err, sizeof r->err,
                     v == KJ_VERDICT_DEAD ? KJ_ERR_INTERNAL : KJ_RETRY,
                     "%s gave no reason", self->name);
}

static void
s_decode_failed(kj_stage_t *self, const char *where)
{
    kj_counter_inc(s_failed(self, S_FAIL_DECODE));
    /* Input from the network: log at most once a second. */
    int64_t mono = kj_mono_ms();
    if (mono < self->decode_log_at) {
        self->decode_quiet++;
        return;
    }
    kj_warn("envelope decode failed; dropped (it stays due in Redis)", "s:from",
            where, "s:error", kj_codec_error(self->codec), "l:suppressed",
            (long long)self->decode_quiet);
    self->decode_quiet = 0;
    self->decode_log_at = mono + S_SECOND_MS;
}

/* Keep the first n pushed envelopes whose records are in in_state and
 * hold the same bytes (one pipeline), moved to the front; returns how
 * many. On a Redis failure none is kept: each record is still due and
 * gets claimed after its lease. */
static size_t
s_verify_pushed(kj_stage_t *self, size_t n)
{
    for (size_t i = 0; i < n; i++)
        self->verifies[i] = (kj_store_verify_t){
            .id = self->res[i].env->complaint.id,
            .state = self->in_state,
            .sum = self->res[i].sum,
        };
    if (kj_store_verify(self->store, self->verifies, n) != 0) {
        for (size_t i = 0; i < n; i++)
            kj_counter_inc(s_failed(self, S_FAIL_REDIS));
        s_redis_failed(self, "verify");
        return 0;
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        int v = self->verifies[i].result;
        if (v == KJ_STORE_FORGED) {
            s_forged(self, self->res[i].env->complaint.id, "push");
            continue;
        }
        if (v != 1) {
            /* Another copy moved it on already: a duplicate. */
            kj_counter_inc(s_failed(self, S_FAIL_STALE));
            continue;
        }
        if (kept != i) {
            /* Results point at their envelope; move both together. */
            memcpy(&self->envs[kept], self->res[i].env, sizeof self->envs[0]);
            self->res[kept] = self->res[i];
            self->res[kept].env = &self->envs[kept];
        }
        kept++;
    }
    return kept;
}

/* Take up to batch_max envelopes already queued on the PULL socket. */
static void
s_drain_pull(kj_stage_t *self)
{
    size_t n = 0;
    int64_t now = kj_now_ms();
    while (n < self->batch_max) {
        const uint8_t *data;
        size_t len;
        int rc = kj_pull_recv(self->pull, &data, &len);
        if (rc == 0)
            break;
        if (rc < 0) {
            kj_counter_inc(self->m_zmq_errors);
            break;
        }
        kj_envelope_t *env = &self->envs[n];
        if (kj_envelope_decode(self->codec, data, len, env) != 0) {
            s_decode_failed(self, "push");
            continue;
        }
        if (!kj_id_valid(env->complaint.id)) {
            kj_counter_inc(s_failed(self, S_FAIL_DECODE));
            continue;
        }
        s_result_t *r = &self->res[n];
        r->env = env;
        r->todo = true;
        kj_sum(data, len, r->sum);
        r->has_sum = true;
        n++;
    }
    if (self->verify_pushed && n > 0)
        n = s_verify_pushed(self, n);
    s_before_batch(self, self->res, n, now);
    for (size_t i = 0; i < n; i++)
        s_process(self, &self->res[i], now);
    if (n > 0)
        s_commit(self, self->res, n, now);
}

/* Claim overdue records of in_state and handle them like pushed ones. */
static void
s_claim(kj_stage_t *self)
{
    int64_t now = kj_now_ms();
    self->claim_more = false;
    int got = kj_store_claim(self->store, self->in_state, now, self->claims,
                             self->batch_max);
    if (got < 0) {
        s_redis_failed(self, "claim");
        return;
    }
    size_t n = (size_t)got;
    for (size_t i = 0; i < n; i++) {
        const kj_store_claim_t *c = &self->claims[i];
        kj_envelope_t *env = &self->envs[i];
        s_result_t *r = &self->res[i];
        r->env = env;
        r->todo = false;
        kj_counter_inc(self->m_reclaimed);
        kj_sum(c->env, c->env_len, r->sum);
        r->has_sum = true;
        if (kj_envelope_decode(self->codec, c->env, c->env_len, env) != 0) {
            /* Stored bytes will not get better on a later attempt. */
            s_decode_failed(self, "claim");
            memset(env, 0, sizeof *env);
            kj_strlcpy(env->complaint.id, c->id, sizeof env->complaint.id);
            r->verdict = KJ_VERDICT_DEAD;
            r->keep_env = true;
            kj_rc_reason(r->err, sizeof r->err, KJ_ERR_DECODE, "%s",
                         kj_codec_error(self->codec));
            continue;
        }
        /* The store's id is authoritative for the keys we touch. */
        kj_strlcpy(env->complaint.id, c->id, sizeof env->complaint.id);
        if (c->attempts > self->max_attempts) {
            r->verdict = KJ_VERDICT_DEAD;
            r->keep_env = true;
            if (c->last_error[0])
                kj_strlcpy(r->err, c->last_error, sizeof r->err);
            else
                kj_rc_reason(r->err, sizeof r->err, KJ_ERR_STAGE_TIMEOUT,
                             "%s did not finish in %d attempts", self->name,
                             c->attempts - 1);
            continue;
        }
        env->attempt = (uint32_t)c->attempts;
        kj_debug("claimed overdue", "s:id", c->id, "i:attempts", c->attempts);
        r->todo = true;
    }
    s_before_batch(self, self->res, n, now);
    for (size_t i = 0; i < n; i++)
        if (self->res[i].todo)
            s_process(self, &self->res[i], now);
    if (n > 0)
        s_commit(self, self->res, n, now);
    self->claim_more = n == self->batch_max;
}

static void
s_flush_pending(kj_stage_t *self)
{
    if (self->n_pending == 0)
        return;
    s_commit(self, self->pres, self->n_pending, kj_now_ms());
    self->n_pending = 0;
}

/* The service's periodic call: heartbeat, downstream copies, queue
 * depth, overdue work, readiness. Returns ms until the next one. */
static int64_t
s_tick(void *ctx)
{
    kj_stage_t *self = ctx;
    int64_t mono = kj_mono_ms();
    int64_t now = kj_now_ms();
    const char *ep = kj_pull_endpoint(self->pull);
    if (!self->draining && mono >= self->next_beat) {
        self->next_beat = mono + S_SECOND_MS;
        if (kj_registry_heartbeat(self->redis, self->prefix, self->name, ep,
                                  now, S_REG_TTL_MS) == 0) {
            if (!self->registered)
                kj_info("registered", "s:stage", self->name, "s:endpoint", ep);
            self->registered = true;
        } else {
            s_redis_failed(self, "heartbeat");
        }
    }
    /* Once a call failed, the rest of this tick would only wait out the
     * same timeout again. */
    if (self->down && kj_mono_ms() >= self->backoff_until) {
        int peers = kj_downstream_refresh(self->down, mono, now);
        if (peers >= 0)
            kj_gauge_set(self->m_peers, (double)peers);
        else
            s_redis_failed(self, "registry");
    }
    if (mono >= self->next_depth && kj_mono_ms() >= self->backoff_until) {
        self->next_depth = mono + S_SECOND_MS;
        int64_t depth = kj_store_depth(self->store, self->in_state);
        if (depth >= 0)
            kj_gauge_set(self->m_depth, (double)depth);
        else
            s_redis_failed(self, "depth");
    }
    if (!self->draining && kj_mono_ms() >= self->backoff_until)
        s_claim(self);
    s_update_ready(self);
    return S_TICK_MS;
}

/* The first SIGTERM: leave the registry so upstream stops sending. */
static void
s_drain_begin(void *ctx)
{
    kj_stage_t *self = ctx;
    self->draining = true;
    if (self->registered &&
        kj_registry_remove(self->redis, self->prefix, self->name,
                           kj_pull_endpoint(self->pull)) == 0)
        self->registered = false;
}

static size_t
s_inflight(const kj_stage_t *self)
{
    if (self->hooks && self->hooks->inflight)
        return self->hooks->inflight(self->ctx);
    return 0;
}

static bool
s_pull_idle(kj_stage_t *self)
{
    int events = 0;
    size_t len = sizeof events;
    if (zmq_getsockopt(kj_pull_socket(self->pull), ZMQ_EVENTS, &events, &len) !=
        0)
        return true;
    return (events & ZMQ_POLLIN) == 0;
}

/* Drained once upstream had time to notice we left, nothing is in flight
 * or waiting to be committed, and the socket is empty. */
static bool
s_drained(void *ctx, int64_t took_ms)
{
    kj_stage_t *self = ctx;
    int64_t quiet =
        self->drain_ms < S_DRAIN_QUIET_MS ? self->drain_ms : S_DRAIN_QUIET_MS;
    return took_ms >= quiet && s_inflight(self) == 0 && self->n_pending == 0 &&
           s_pull_idle(self);
}

static long
s_timeout_ms(void *ctx)
{
    kj_stage_t *self = ctx;
    long timeout = -1;
    if (self->claim_more && !self->draining)
        timeout = 0;
    if (self->hooks && self->hooks->timeout_ms) {
        long t = self->hooks->timeout_ms(self->ctx);
        if (t >= 0 && (timeout < 0 || t < timeout))
            timeout = t;
    }
    return timeout;
}

static size_t
s_pollitems(void *ctx, zmq_pollitem_t *items, size_t max)
{
    kj_stage_t *self = ctx;
    /* While Redis is failing, leave envelopes queued in the socket
     * (bounded by the HWM) instead of processing work we can't save. */
    bool intake = kj_mono_ms() >= self->backoff_until;
    items[0] = (zmq_pollitem_t){kj_pull_socket(self->pull), 0,
                                intake ? ZMQ_POLLIN : 0, 0};
    size_t nh = 0;
    if (self->hooks && self->hooks->pollitems)
        nh = self->hooks->pollitems(self->ctx, items + 1,
                                    max - 1 < S_HOOK_ITEMS ? max - 1
                                                           : S_HOOK_ITEMS);
    kj_assert(nh < max);
    self->n_hook_items = nh;
    return 1 + nh;
}

static void
s_after_poll(void *ctx, const zmq_pollitem_t *items, size_t n)
{
    kj_stage_t *self = ctx;
    kj_assert(n == 1 + self->n_hook_items);
    if (items[0].revents & ZMQ_POLLIN)
        s_drain_pull(self);
    if (self->hooks && self->hooks->after_poll)
        self->hooks->after_poll(self->ctx, items + 1, n - 1, kj_now_ms());
    /* Completions wait out a Redis backoff rather than fail again. */
    if (kj_mono_ms() >= self->backoff_until)
        s_flush_pending(self);
    if (self->claim_more && !self->draining &&
        kj_mono_ms() >= self->backoff_until)
        s_claim(self);
}

static int
s_rules_changed(void *ctx, const kj_rules_t *rules, char *err, size_t err_size)
{
    kj_stage_t *self = ctx;
    return self->hooks->rules_changed(self->ctx, rules, err, err_size);
}

static int
s_reload(void *ctx, char *err, size_t err_size)
{
    kj_stage_t *self = ctx;
    return self->hooks->reload(self->ctx, err, err_size);
}

int
kj_stage_run(kj_stage_t *self, kj_stage_process_fn process,
             const kj_stage_hooks_t *hooks, void *ctx)
{
    kj_assert(self && process);
    self->process = process;
    self->hooks = hooks;
    self->ctx = ctx;
    const kj_service_driver_t driver = {
        .pollitems = s_pollitems,
        .timeout_ms = s_timeout_ms,
        .after_poll = s_after_poll,
        .tick = s_tick,
        .drain_begin = s_drain_begin,
        .drained = s_drained,
        .drain_cut_note = "unfinished work stays due in Redis",
        .rules_changed = hooks && hooks->rules_changed ? s_rules_changed : NULL,
        .reload = hooks && hooks->reload ? s_reload : NULL,
    };
    int code = kj_service_run(self->service, &driver, self);
    self->process = NULL;
    return code;
}

void
kj_stage_stop(kj_stage_t *self)
{
    kj_service_stop(self->service);
}

void
kj_stage_complete(kj_stage_t *self, const kj_envelope_t *env,
                  kj_verdict_t verdict, const char *err, int64_t retry_at_ms)
{
    kj_assert(verdict != KJ_VERDICT_PENDING);
    /* A full queue commits at once: the arrays never grow. */
    if (self->n_pending == self->batch_max)
        s_flush_pending(self);
    size_t i = self->n_pending++;
    memcpy(&self->penvs[i], env, sizeof *env);
    s_result_t *r = &self->pres[i];
    r->env = &self->penvs[i];
    r->verdict = verdict;
    r->retry_at_ms = retry_at_ms;
    r->keep_env = false;
    /* No check of its own: only a stage that verified its pushes before
     * process (verify_pushed) or claimed them from Redis starts work that
     * completes later, and the copy here no longer has the received
     * bytes. The transition still applies only in in_state. */
    r->has_sum = false;
    kj_strlcpy(r->err, err ? err : "", sizeof r->err);
    if (verdict != KJ_VERDICT_DONE && !r->err[0])
        kj_rc_reason(r->err, sizeof r->err, KJ_ERR_INTERNAL,
                     "%s gave no reason", self->name);
}

kj_stage_opts_t
kj_stage_opts_for(kj_service_t *service, const char *in_state,
                  const char *out_state, const char *next)
{
    const kj_service_cfg_t *cfg = kj_service_cfg(service);
    return (kj_stage_opts_t){
        .service = service,
        .name = kj_service_name(service),
        .in_state = in_state,
        .out_state = out_state,
        .next = next,
        .prefix = cfg->prefix,
        .zmq_bind = cfg->zmq_bind,
        .zmq_advertise = cfg->zmq_advertise,
        .curve = kj_service_curve(service),
        .lease_ms = cfg->lease_ms,
        .max_attempts = cfg->max_attempts,
        .batch_max = cfg->batch,
        .hwm = cfg->hwm,
        .retention_s = S_RETENTION_S,
        .stream_maxlen = S_STREAM_MAXLEN,
        .drain_ms = cfg->drain_ms,
    };
}

kj_metrics_t *
kj_stage_metrics(kj_stage_t *self)
{
    return self->metrics;
}

int
kj_stage_admin_port(const kj_stage_t *self)
{
    return kj_service_admin_port(self->service);
}

kj_redis_t *
kj_stage_redis(kj_stage_t *self)
{
    return self->redis;
}

static void
s_register_metrics(kj_stage_t *self)
{
    kj_metrics_t *m = self->metrics;
    self->m_in =
        kj_metrics_counter(m, "envelopes_in_total", "Envelopes taken in", NULL);
    self->m_out = kj_metrics_counter(m, "envelopes_out_total",
                                     "Envelopes passed on", NULL);
    self->m_latency = kj_metrics_histogram(
        m, "stage_latency_seconds", "Time an envelope spent in this stage",
        NULL, kj_latency_buckets, kj_latency_buckets_len);
    self->m_redis_errors =
        kj_metrics_counter(m, "redis_errors_total", "Failed Redis calls", NULL);
    self->m_zmq_errors = kj_metrics_counter(
        m, "zmq_errors_total", "Failed ZeroMQ sends and receives", NULL);
    self->m_depth = kj_metrics_gauge(
        m, "queue_depth", "Records waiting in the stage's input state", NULL);
    self->m_reclaimed = kj_metrics_counter(
        m, "reclaimed_total", "Overdue records this copy claimed", NULL);
    self->m_dead_letters = kj_metrics_counter(
        m, "dead_letters_total", "Records this copy dead-lettered", NULL);
    self->m_peers = kj_metrics_gauge(
        m, "downstream_peers", "Live copies of the next stage connected", NULL);
}

static bool
s_opts_valid(const kj_stage_opts_t *o)
{
    const char *bad = NULL;
    if (!o->name || !o->name[0] || !o->in_state || !o->out_state)
        bad = "name, in_state and out_state are required";
    else if (!o->prefix || !o->zmq_bind)
        bad = "prefix and zmq_bind are required";
    else if (!o->service && (!o->redis_url || !o->admin_addr))
        bad = "redis_url and admin_addr are required without a service";
    else if (o->batch_max < 1 || o->batch_max > S_BATCH_LIMIT)
        bad = "batch_max out of range";
    else if (o->lease_ms < 1 || o->max_attempts < 1 || o->hwm < 1 ||
             o->hwm > INT32_MAX || o->max_attempts > INT32_MAX ||
             o->drain_ms < 0)
        bad = "lease_ms, max_attempts, hwm or drain_ms out of range";
    if (bad)
        kj_error("stage options invalid", "s:error", bad);
    return bad == NULL;
}

kj_stage_t *
kj_stage_new(const kj_stage_opts_t *opts)
{
    if (!s_opts_valid(opts))
        return NULL;
    kj_stage_t *self = kj_calloc(1, sizeof *self);
    self->name = kj_strdup(opts->name);
    self->in_state = kj_strdup(opts->in_state);
    self->out_state = kj_strdup(opts->out_state);
    self->next = opts->next ? kj_strdup(opts->next) : NULL;
    self->prefix = kj_strdup(opts->prefix);
    self->lease_ms = opts->lease_ms;
    self->max_attempts = opts->max_attempts;
    self->drain_ms = opts->drain_ms;
    self->batch_max = (size_t)opts->batch_max;
    self->verify_pushed = opts->verify_pushed;

    self->service = opts->service;
    if (!self->service) {
        /* A stage on its own (tests, embedders) gets a runtime of its own;
         * made first, so its signal mask is in place before ZeroMQ starts
         * threads. */
        const kj_service_opts_t so = {
            .name = opts->name,
            .redis_url = opts->redis_url,
            .admin_addr = opts->admin_addr,
            .drain_ms = opts->drain_ms,
        };
        self->service = kj_service_new(&so);
        if (!self->service)
            goto fail;
        self->own_service = true;
    }
    self->redis = kj_service_redis(self->service);
    self->metrics = kj_service_metrics(self->service);
    self->zctx = zmq_ctx_new();
    if (!self->zctx) {
        int e = zmq_errno();
        kj_error("zmq_ctx_new failed", "s:error", zmq_strerror(e));
        goto fail;
    }
    kj_store_opts_t so = {
        .prefix = opts->prefix,
        .lease_ms = opts->lease_ms,
        .max_attempts = (int)opts->max_attempts,
        .stream_maxlen = opts->stream_maxlen,
        .retention_s = opts->retention_s,
        .idem_ttl_s = S_IDEM_TTL_S,
    };
    self->store = kj_store_new(self->redis, &so);
    if (!self->store) {
        kj_error("store setup failed");
        goto fail;
    }
    /* The ZAP handler first: a CURVE server bound without one admits any
     * client key. */
    if (opts->curve &&
        kj_curve_zap_start(opts->curve, self->zctx, self->metrics) != 0)
        goto fail;
    self->pull =
        kj_pull_new_curve(self->zctx, opts->zmq_bind, opts->zmq_advertise,
                          (int)opts->hwm, opts->curve);
    if (!self->pull)
        goto fail;
    if (self->next) {
        self->push = kj_push_new_curve(self->zctx, (int)opts->hwm,
                                       S_PUSH_TIMEOUT_MS, opts->curve);
        if (!self->push)
            goto fail;
        self->down = kj_downstream_new(self->redis, self->push, self->prefix,
                                       self->next, self->out_state);
    }
    self->codec = kj_codec_new();
    s_register_metrics(self);

    size_t b = self->batch_max;
    self->envs = kj_calloc(b, sizeof *self->envs);
    self->res = kj_calloc(b, sizeof *self->res);
    self->batch = kj_calloc(b, sizeof *self->batch);
    self->penvs = kj_calloc(b, sizeof *self->penvs);
    self->pres = kj_calloc(b, sizeof *self->pres);
    self->claims = kj_calloc(b, sizeof *self->claims);
    self->trans = kj_calloc(b, sizeof *self->trans);
    self->retries = kj_calloc(b, sizeof *self->retries);
    if (self->verify_pushed)
        self->verifies = kj_calloc(b, sizeof *self->verifies);

    /* Not fatal: Redis may come up after us; /readyz says so meanwhile. */
    if (kj_redis_connect(self->redis) != 0)
        kj_warn("redis not reachable yet", "s:error",
                kj_redis_errstr(self->redis));
    self->redis_ok = true; /* so a first failure is logged */
    s_update_ready(self);
    kj_info("stage started", "s:stage", self->name, "s:in", self->in_state,
            "s:out", self->out_state, "s:next", self->next, "s:endpoint",
            kj_pull_endpoint(self->pull), "l:batch", (long long)self->batch_max,
            "l:lease_ms", (long long)self->lease_ms);
    return self;
fail:
    kj_stage_destroy(&self);
    return NULL;
}

void
kj_stage_destroy(kj_stage_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kj_stage_t *self = *self_p;
    /* Leave the registry now rather than when the heartbeat expires, so
     * upstream stops sending to a closed socket a few seconds sooner. */
    if (self->registered && self->pull && kj_redis_connected(self->redis))
        kj_registry_remove(self->redis, self->prefix, self->name,
                           kj_pull_endpoint(self->pull));
    free(self->verifies);
    free(self->retries);
    free(self->trans);
    free(self->claims);
    free(self->pres);
    free(self->penvs);
    free(self->res);
    free(self->batch);
    free(self->envs);
    free(self->arena);
    kj_codec_destroy(&self->codec);
    kj_downstream_destroy(&self->down);
    kj_push_destroy(&self->push);
    kj_pull_destroy(&self->pull);
    kj_store_destroy(&self->store);
    /* Sockets have bounded linger, so this cannot hang. */
    if (self->zctx)
        zmq_ctx_term(self->zctx);
    if (self->own_service)
        kj_service_destroy(&self->service);
    free(self->prefix);
    free(self->next);
    free(self->out_state);
    free(self->in_state);
    free(self->name);
    free(self);
    *self_p = NULL;
}
