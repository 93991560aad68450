/* ingest_batch: accepted complaints -> Redis (one pipeline) -> classifier.
 * The order is the reliability contract: a complaint is answered 202 only
 * once its record, its deadline and its event are in Redis. */
#include "ingest_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_id.h"
#include "kj_log.h"
#include "kj_util.h"

typedef struct {
    kj_complaint_t complaint;           /* filled in place by the validator */
    char scoped[INGEST_SCOPED_KEY_MAX]; /* "" when not deduplicated */
    char trace_id[33];
    int64_t in_ms;           /* when the request was complete */
    size_t env_off, env_len; /* the encoded envelope in the arena */
    size_t ev_off, ev_len;   /* the encoded event in the arena */
    kj_store_pii_t pii;      /* the originals, pointing into complaint */
    long create_ix;          /* index in creates, -1: not written */
    bool held;               /* left out of the flush (rate limit) */
} s_item_t;

struct ingest_batch {
    size_t cap;                     /* most items per turn */
    size_t n;                       /* items taken this turn */
    s_item_t *items;                /* [cap] */
    kj_store_create_t *creates;     /* [cap], the store's view of items */
    ingest_batch_result_t *results; /* [cap] */
    uint8_t *arena;                 /* encoded envelopes and events */
    size_t arena_len, arena_cap;
    kj_codec_t *codec;
    kj_envelope_t *env;        /* scratch envelope, reused per item */
    uint64_t rng;              /* ids and trace ids */
    ingest_metrics_t *metrics; /* borrowed */
};

ingest_batch_t *
ingest_batch_new(size_t cap, ingest_metrics_t *metrics)
{
    ingest_batch_t *self = kj_calloc(1, sizeof *self);
    self->cap = cap ? cap : 1;
    self->items = kj_calloc(self->cap, sizeof *self->items);
    self->creates = kj_calloc(self->cap, sizeof *self->creates);
    self->results = kj_calloc(self->cap, sizeof *self->results);
    /* A typical envelope is well under 1 kB; the arena grows (and stays
     * grown) if a turn brings larger ones. */
    self->arena_cap = self->cap * 2048;
    self->arena = kj_malloc(self->arena_cap);
    self->codec = kj_codec_new();
    self->env = kj_calloc(1, sizeof *self->env);
    self->rng = kj_seed();
    self->metrics = metrics;
    return self;
}

void
ingest_batch_destroy(ingest_batch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ingest_batch_t *self = *self_p;
    kj_codec_destroy(&self->codec);
    free(self->env);
    free(self->arena);
    free(self->results);
    free(self->creates);
    free(self->items);
    free(self);
    *self_p = NULL;
}

size_t
ingest_batch_count(const ingest_batch_t *self)
{
    return self->n;
}

bool
ingest_batch_full(const ingest_batch_t *self)
{
    return self->n >= self->cap;
}

kj_complaint_t *
ingest_batch_slot(ingest_batch_t *self)
{
    if (self->n >= self->cap)
        abort(); /* the caller flushes a full batch first */
    return &self->items[self->n].complaint;
}

void
ingest_scoped_key(const kj_complaint_t *c, const char *idem_key,
                  char out[INGEST_SCOPED_KEY_MAX])
{
    /* Tenants are [a-z0-9_-] and channels a fixed list, so the ':'
     * separators cannot be forged by the parts. */
    if (idem_key && idem_key[0])
        snprintf(out, INGEST_SCOPED_KEY_MAX, "%s:%s", c->tenant, idem_key);
    else if (c->external_id[0])
        snprintf(out, INGEST_SCOPED_KEY_MAX, "ext:%s:%s:%s", c->tenant,
                 c->channel, c->external_id);
    else
        out[0] = '\0';
}

void
ingest_batch_add(ingest_batch_t *self, void *owner, const char *idem_key,
                 int64_t in_ms)
{
    s_item_t *it = &self->items[self->n];
    ingest_scoped_key(&it->complaint, idem_key, it->scoped);
    int partition = it->scoped[0] ? kj_key_partition(it->scoped) : -1;
    kj_id_new(it->complaint.id, in_ms, partition, &self->rng);
    kj_trace_id_new(it->trace_id, &self->rng);
    it->in_ms = in_ms;
    it->held = false;
    if (it->complaint.received_at_ms == 0)
        it->complaint.received_at_ms = in_ms;
    ingest_batch_result_t *res = &self->results[self->n];
    res->owner = owner;
    res->result = -1;
    kj_strlcpy(res->id, it->complaint.id, sizeof res->id);
    self->n++;
}

/* Append bytes to the arena, growing it (offsets stay valid). */
static size_t
s_arena_put(ingest_batch_t *self, const uint8_t *data, size_t len)
{
    if (self->arena_len + len > self->arena_cap) {
        while (self->arena_len + len > self->arena_cap)
            self->arena_cap *= 2;
        self->arena = kj_realloc(self->arena, self->arena_cap);
    }
    size_t off = self->arena_len;
    memcpy(self->arena + off, data, len);
    self->arena_len += len;
    return off;
}

/* Build, stamp and encode item i's envelope and event. -1 if the envelope
 * cannot be encoded (larger than the wire limit: validation prevents it). */
static int
s_encode(ingest_batch_t *self, s_item_t *it, int64_t now_ms)
{
    /* The scratch envelope was zeroed once; ingest sets only these, so
     * triage, assignment and deliveries stay empty. */
    kj_envelope_t *env = self->env;
    memcpy(&env->complaint, &it->complaint, sizeof env->complaint);
    env->complaint.accepted_at_ms = now_ms;
    /* Contact details live only in the PII record: no envelope copy (in
     * Redis, on the wire, in any later stage) carries them. The raw text
     * stays for the classifier, which stores it masked. */
    env->complaint.customer.name[0] = '\0';
    env->complaint.customer.email[0] = '\0';
    it->pii = (kj_store_pii_t){
        .name = it->complaint.customer.name,
        .email = it->complaint.customer.email,
        .text = it->complaint.text,
        .subject = it->complaint.subject,
    };
    kj_strlcpy(env->trace_id, it->trace_id, sizeof env->trace_id);
    env->attempt = 1;
    env->n_stages = 0;
    kj_envelope_stamp(env, "ingest", it->in_ms, now_ms);
    const uint8_t *out;
    int len = kj_envelope_encode(self->codec, env, &out);
    if (len < 0)
        return -1;
    it->env_off = s_arena_put(self, out, (size_t)len);
    it->env_len = (size_t)len;
    kj_event_t ev;
    kj_event_from_envelope(&ev, env, "received", "ingest", now_ms);
    len = kj_event_encode(self->codec, &ev, &out);
    if (len < 0)
        return -1;
    it->ev_off = s_arena_put(self, out, (size_t)len);
    it->ev_len = (size_t)len;
    return 0;
}

void
ingest_batch_hold(ingest_batch_t *self, size_t i)
{
    if (i < self->n)
        self->items[i].held = true;
}

void *
ingest_batch_owner(const ingest_batch_t *self, size_t i)
{
    return i < self->n ? self->results[i].owner : NULL;
}

int
ingest_batch_flush(ingest_batch_t *self, kj_store_t *store, int64_t now_ms)
{
    if (self->n == 0)
        return 0;
    self->arena_len = 0;
    for (size_t i = 0; i < self->n; i++) {
        s_item_t *it = &self->items[i];
        it->env_len = 0;
        if (it->held)
            continue;
        if (s_encode(self, it, now_ms) < 0) {
            /* Validation bounds every field, so this is a bug, logged
             * once here; the client gets a 5xx and nothing is written. */
            kj_error("envelope could not be encoded", "s:id", it->complaint.id,
                     "s:error", kj_codec_error(self->codec));
            it->env_len = 0;
        }
    }
    /* The arena no longer moves: point the store's items into it. An item
     * left out keeps create_ix -1 and result -1. */
    size_t n = 0;
    for (size_t i = 0; i < self->n; i++) {
        s_item_t *it = &self->items[i];
        it->create_ix = -1;
        if (it->env_len == 0)
            continue;
        self->creates[n] = (kj_store_create_t){
            .id = it->complaint.id,
            .idem_key = it->scoped[0] ? it->scoped : NULL,
            .env = self->arena + it->env_off,
            .env_len = it->env_len,
            .event = self->arena + it->ev_off,
            .event_len = it->ev_len,
            .pii = &it->pii,
            .result = -1,
        };
        it->create_ix = (long)n++;
    }
    int rc = 0;
    if (n > 0 && kj_store_create(store, self->creates, n, now_ms) < 0) {
        kj_counter_inc(self->metrics->redis_errors);
        rc = -1;
    }
    for (size_t i = 0; i < self->n; i++) {
        s_item_t *it = &self->items[i];
        ingest_batch_result_t *res = &self->results[i];
        res->result = it->held ? INGEST_BATCH_HELD : -1;
        if (it->create_ix < 0)
            continue;
        const kj_store_create_t *cr = &self->creates[it->create_ix];
        /* Each item's own result: a pipeline that broke half-way still
         * created the records it answered for, and those it sent but got
         * no answer for may exist (KJ_STORE_UNKNOWN). */
        res->result = cr->result;
        if (res->result == 0 && kj_id_valid(cr->existing_id))
            kj_strlcpy(res->id, cr->existing_id, sizeof res->id);
        else if (res->result == 0)
            res->result = -1; /* a duplicate must name its record */
        if (res->result == 1)
            kj_counter_inc(self->metrics->in);
        else if (res->result < 0)
            kj_counter_inc(self->metrics->failed_redis);
    }
    return rc;
}

const ingest_batch_result_t *
ingest_batch_result(const ingest_batch_t *self, size_t i)
{
    return i < self->n ? &self->results[i] : NULL;
}

size_t
ingest_batch_push(ingest_batch_t *self, kj_push_t *push)
{
    size_t sent = 0;
    /* With no classifier registered a send would only wait out its
     * timeout; the records are due in Redis and a classifier that comes
     * up claims them. */
    if (!push || kj_push_peers(push) == 0)
        return 0;
    for (size_t i = 0; i < self->n; i++) {
        if (self->results[i].result != 1)
            continue;
        const s_item_t *it = &self->items[i];
        if (kj_push_send(push, self->arena + it->env_off, it->env_len) < 0) {
            kj_counter_inc(self->metrics->zmq_errors);
            break;
        }
        sent++;
    }
    kj_counter_add(self->metrics->out, sent);
    return sent;
}

void
ingest_batch_clear(ingest_batch_t *self)
{
    self->n = 0;
    self->arena_len = 0;
}
