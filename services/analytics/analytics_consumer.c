#include "analytics_consumer.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics_count.h"
#include "kj_envelope.h"
#include "kj_id.h"
#include "kj_keys.h"
#include "kj_log.h"
#include "kj_lua.h"
#include "kj_util.h"

/* Depth and takeover run this often, whatever claim_idle_ms says. */
#define S_DEPTH_EVERY_MS 1000
/* Rounds of XAUTOCLAIM per stream per takeover (each COUNT entries). */
#define S_CLAIM_ROUNDS 8
/* A consumer with nothing pending and silent this many takeover periods
 * is gone (copies that exited); its name is removed from the group. */
#define S_STALE_PERIODS 10

struct analytics_consumer {
    kj_redis_t *redis;     /* borrowed */
    int script;            /* handle of libcommon/lua/analytics_apply.lua */
    char *group;           /* consumer group name */
    char *consumer;        /* our name in it */
    int64_t count;         /* per stream per read */
    int64_t block_ms;      /* XREADGROUP BLOCK */
    int64_t claim_idle_ms; /* XAUTOCLAIM min idle */
    char streams[KJ_PARTITIONS][128]; /* stream key per partition */
    char stats[KJ_PARTITIONS][128];   /* stats key per partition */
    char sla[KJ_PARTITIONS][128];     /* SLA hash per partition */
    char *prefix;                     /* for record keys */
    bool groups_ok;                   /* groups exist on this connection */
    bool pending_phase;               /* our pending list not yet empty */
    int64_t next_claim_ms;            /* next takeover */
    int64_t next_depth_ms;            /* next depth update */
    kj_codec_t *codec;                /* event decoder */
    kj_counter_t *processed;          /* events_processed_total */
    kj_counter_t *decode_errors;      /* envelopes_failed{decode_error} */
    kj_counter_t *redis_errors;       /* redis_errors_total */
    kj_counter_t *claimed;            /* reclaimed_total */
    kj_gauge_t *depth;                /* queue_depth: pending + lag */
};

analytics_consumer_t *
analytics_consumer_new(kj_redis_t *redis, kj_metrics_t *metrics,
                       const analytics_consumer_opts_t *opts)
{
    analytics_consumer_t *self = kj_calloc(1, sizeof *self);
    self->redis = redis;
    self->script = kj_redis_script_add(redis, kj_lua_analytics_apply);
    self->group = kj_strdup(opts->group);
    self->consumer = kj_strdup(opts->consumer);
    self->count = opts->count > 0 ? opts->count : 512;
    self->block_ms = opts->block_ms >= 0 ? opts->block_ms : 200;
    self->claim_idle_ms = opts->claim_idle_ms > 0 ? opts->claim_idle_ms : 10000;
    for (int p = 0; p < KJ_PARTITIONS; p++) {
        kj_keys_make(self->streams[p], sizeof self->streams[p], opts->prefix, p,
                     KJ_KEY_EVENTS, NULL);
        kj_keys_make(self->stats[p], sizeof self->stats[p], opts->prefix, p,
                     KJ_KEY_STATS, NULL);
        kj_keys_make(self->sla[p], sizeof self->sla[p], opts->prefix, p,
                     KJ_KEY_SLA, NULL);
    }
    self->prefix = kj_strdup(opts->prefix);
    self->pending_phase = true;
    self->codec = kj_codec_new();
    self->processed = kj_metrics_counter(metrics, "events_processed_total",
                                         "Events counted", NULL);
    char label[64];
    snprintf(label, sizeof label, "reason=\"%s\"", kj_rc_name(KJ_ERR_DECODE));
    self->decode_errors =
        kj_metrics_counter(metrics, "envelopes_failed_total",
                           "Envelopes that failed, by reason", label);
    self->redis_errors = kj_metrics_counter(metrics, "redis_errors_total",
                                            "Redis failures", NULL);
    self->claimed = kj_metrics_counter(
        metrics, "reclaimed_total",
        "Stream entries taken over from consumers that went away", NULL);
    self->depth = kj_metrics_gauge(
        metrics, "queue_depth", "Events not yet counted (pending + lag)", NULL);
    return self;
}

void
analytics_consumer_destroy(analytics_consumer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    analytics_consumer_t *self = *self_p;
    kj_codec_destroy(&self->codec);
    free(self->prefix);
    free(self->group);
    free(self->consumer);
    free(self);
    *self_p = NULL;
}

/* Read n pipelined replies; -1 if any could not be read (the connection is
 * then dropped). err_out gets the first error reply's text. */
static int
s_read_replies(analytics_consumer_t *self, size_t n, redisReply **out)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = rc == 0 ? kj_redis_get_reply(self->redis) : NULL;
        if (!out[i])
            rc = -1;
    }
    return rc;
}

static void
s_free_replies(redisReply **r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (r[i])
            freeReplyObject(r[i]);
}

/* Every group created from the stream's start (id 0), so the first
 * analytics copy counts the history the capped streams still hold. */
static int
s_ensure_groups(analytics_consumer_t *self)
{
    for (int p = 0; p < KJ_PARTITIONS; p++) {
        const char *argv[] = {"XGROUP",    "CREATE", self->streams[p],
                              self->group, "0",      "MKSTREAM"};
        if (kj_redis_appendargv(self->redis, 6, argv, NULL) < 0)
            return -1;
    }
    redisReply *r[KJ_PARTITIONS];
    int rc = s_read_replies(self, KJ_PARTITIONS, r);
    for (int p = 0; rc == 0 && p < KJ_PARTITIONS; p++) {
        if (r[p]->type == REDIS_REPLY_ERROR &&
            strncmp(r[p]->str, "BUSYGROUP", 9) != 0) {
            kj_error("XGROUP CREATE failed", "s:error", r[p]->str);
            rc = -1;
        }
    }
    s_free_replies(r, KJ_PARTITIONS);
    return rc;
}

static bool
s_is_str(const redisReply *r)
{
    return r &&
           (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

/* Take over entries other consumers left pending longer than the claim
 * idle time (they exited or hang), and forget consumers long gone. */
static int
s_takeover(analytics_consumer_t *self)
{
    char idle[32];
    snprintf(idle, sizeof idle, "%lld", (long long)self->claim_idle_ms);
    char count[32];
    snprintf(count, sizeof count, "%lld", (long long)self->count);
    for (int p = 0; p < KJ_PARTITIONS; p++) {
        char cursor[64] = "0-0";
        for (int round = 0; round < S_CLAIM_ROUNDS; round++) {
            const char *argv[] = {
                "XAUTOCLAIM", self->streams[p], self->group, self->consumer,
                idle,         cursor,           "COUNT",     count,
                "JUSTID"};
            redisReply *r = kj_redis_commandargv(self->redis, 9, argv, NULL);
            if (!r)
                return -1;
            bool more = false;
            if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
                s_is_str(r->element[0]) &&
                r->element[1]->type == REDIS_REPLY_ARRAY) {
                size_t got = r->element[1]->elements;
                if (got > 0) {
                    kj_counter_add(self->claimed, got);
                    self->pending_phase = true;
                    kj_info("took over pending events", "i:partition", p,
                            "l:entries", (long long)got);
                }
                kj_strlcpy(cursor, r->element[0]->str, sizeof cursor);
                more = strcmp(cursor, "0-0") != 0;
            } else if (r->type == REDIS_REPLY_ERROR) {
                kj_warn("XAUTOCLAIM failed", "s:error", r->str);
                if (strncmp(r->str, "NOGROUP", 7) == 0)
                    self->groups_ok = false;
            }
            freeReplyObject(r);
            if (!more)
                break;
        }
    }

    /* Consumers named host:pid pile up with every restart. One with
     * nothing pending that has not even polled for S_STALE_PERIODS claim
     * periods is gone; a live one polls every block_ms. */
    int64_t stale_ms = self->claim_idle_ms * S_STALE_PERIODS;
    for (int p = 0; p < KJ_PARTITIONS; p++) {
        redisReply *r = kj_redis_command(self->redis, "XINFO CONSUMERS %s %s",
                                         self->streams[p], self->group);
        if (!r)
            return -1;
        for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements;
             i++) {
            const redisReply *c = r->element[i];
            if (c->type != REDIS_REPLY_ARRAY)
                continue;
            const char *name = NULL;
            long long pending = -1, idle_ms = -1;
            for (size_t k = 0; k + 1 < c->elements; k += 2) {
                const redisReply *key = c->element[k];
                const redisReply *val = c->element[k + 1];
                if (!s_is_str(key))
                    continue;
                if (strcmp(key->str, "name") == 0 && s_is_str(val))
                    name = val->str;
                else if (strcmp(key->str, "pending") == 0 &&
                         val->type == REDIS_REPLY_INTEGER)
                    pending = val->integer;
                else if (strcmp(key->str, "idle") == 0 &&
                         val->type == REDIS_REPLY_INTEGER)
                    idle_ms = val->integer;
            }
            if (!name || strcmp(name, self->consumer) == 0 || pending != 0 ||
                idle_ms < stale_ms)
                continue;
            redisReply *d =
                kj_redis_command(self->redis, "XGROUP DELCONSUMER %s %s %s",
                                 self->streams[p], self->group, name);
            if (d)
                freeReplyObject(d);
        }
        freeReplyObject(r);
    }
    return 0;
}

/* queue_depth: what the group has not counted yet, pending + lag. */
static int
s_depth(analytics_consumer_t *self)
{
    for (int p = 0; p < KJ_PARTITIONS; p++) {
        const char *argv[] = {"XINFO", "GROUPS", self->streams[p]};
        if (kj_redis_appendargv(self->redis, 3, argv, NULL) < 0)
            return -1;
    }
    redisReply *r[KJ_PARTITIONS];
    if (s_read_replies(self, KJ_PARTITIONS, r) < 0) {
        s_free_replies(r, KJ_PARTITIONS);
        return -1;
    }
    long long depth = 0;
    for (int p = 0; p < KJ_PARTITIONS; p++) {
        for (size_t i = 0;
             r[p]->type == REDIS_REPLY_ARRAY && i < r[p]->elements; i++) {
            const redisReply *g = r[p]->element[i];
            if (g->type != REDIS_REPLY_ARRAY)
                continue;
            bool ours = false;
            long long sum = 0;
            for (size_t k = 0; k + 1 < g->elements; k += 2) {
                const redisReply *key = g->element[k];
                const redisReply *val = g->element[k + 1];
                if (!s_is_str(key))
                    continue;
                if (strcmp(key->str, "name") == 0 && s_is_str(val))
                    ours = strcmp(val->str, self->group) == 0;
                /* lag is nil when Redis cannot tell (after XDEL). */
                else if ((strcmp(key->str, "pending") == 0 ||
                          strcmp(key->str, "lag") == 0) &&
                         val->type == REDIS_REPLY_INTEGER)
                    sum += val->integer;
            }
            if (ours)
                depth += sum;
        }
    }
    s_free_replies(r, KJ_PARTITIONS);
    kj_gauge_set(self->depth, (double)depth);
    return 0;
}

/* The partition of a stream name from an XREADGROUP reply, -1 if it is
 * not one of ours. */
static int
s_partition_of(const analytics_consumer_t *self, const char *name)
{
    for (int p = 0; p < KJ_PARTITIONS; p++)
        if (strcmp(self->streams[p], name) == 0)
            return p;
    return -1;
}

/* One entry of a batch: what the script is to count for it. */
typedef struct {
    int p;          /* partition */
    const char *id; /* stream entry id (borrowed from the reply) */
    size_t n;       /* increments */
    analytics_incr_t incr[ANALYTICS_MAX_INCRS];
    char by[ANALYTICS_MAX_INCRS][24];
    char n_str[8];
    char sla_field[ANALYTICS_SLA_FIELD_MAX]; /* "" when no verdict */
    const char *verdict;                     /* "met", "breached" or "" */
    char record[200];  /* the complaint's record key, with a verdict */
    char key_idx[8];   /* the record's index in the call's KEYS, "0" none */
    bool counted;      /* decoded: applied means an event was counted */
} s_entry_t;

/* Arguments of one call besides the entries': EVALSHA sha numkeys,
 * stream stats sla, group. */
#define S_FIXED_ARGS 7
/* Arguments per entry besides its increments: id record field verdict n. */
#define S_ENTRY_ARGS 5

/* The SLA verdict, if the event gives one and its record is in the
 * stream's partition (kujo writes it so; otherwise the script would touch
 * keys of two slots). */
static void
s_build_sla(analytics_consumer_t *self, s_entry_t *e, const kj_event_t *ev)
{
    bool breached = false;
    if (!kj_id_valid(ev->complaint_id) ||
        kj_id_partition(ev->complaint_id) != e->p ||
        !analytics_sla_verdict(ev, e->sla_field, sizeof e->sla_field,
                               &breached))
        return;
    if (kj_keys_make(e->record, sizeof e->record, self->prefix, e->p,
                     KJ_KEY_RECORD, ev->complaint_id) < 0) {
        e->sla_field[0] = '\0';
        return;
    }
    e->verdict = breached ? "breached" : "met";
}

/* Decode an entry and work out its increments. fields is the entry's
 * field array, NULL when the entry was trimmed away while pending: then it
 * is only acked. */
static void
s_build(analytics_consumer_t *self, s_entry_t *e, int p, const char *id,
        const redisReply *fields)
{
    e->p = p;
    e->id = id;
    e->n = 0;
    e->counted = false;
    e->sla_field[0] = '\0';
    e->verdict = "";
    if (!fields || fields->type != REDIS_REPLY_ARRAY)
        return;
    const redisReply *f = NULL;
    for (size_t k = 0; k + 1 < fields->elements; k += 2)
        if (s_is_str(fields->element[k]) &&
            strcmp(fields->element[k]->str, "e") == 0 &&
            fields->element[k + 1]->type == REDIS_REPLY_STRING)
            f = fields->element[k + 1];
    kj_event_t ev;
    if (!f || kj_event_decode(self->codec, (const uint8_t *)f->str, f->len,
                              &ev) < 0) {
        /* Acked without counting: a bad entry must not block the stream. */
        kj_counter_inc(self->decode_errors);
        kj_warn("undecodable event", "s:stream", self->streams[p], "s:entry",
                id, "s:error", f ? kj_codec_error(self->codec) : "no field e");
        return;
    }
    s_build_sla(self, e, &ev);
    e->n = analytics_count_event(&ev, e->incr, ANALYTICS_MAX_INCRS);
    for (size_t i = 0; i < e->n; i++)
        snprintf(e->by[i], sizeof e->by[i], "%lld", (long long)e->incr[i].by);
    e->counted = true;
}

/* Append one partition's call: every entry of partition p in one EVALSHA
 * (see analytics_apply.lua). argv has room for the whole batch. Returns
 * the entries it carries, or -1 when the call could not be sent. */
static int
s_append_call(analytics_consumer_t *self, int p, s_entry_t *entries,
              size_t n, const char **argv)
{
    size_t keys = 3, carried = 0;
    for (size_t i = 0; i < n; i++)
        if (entries[i].p == p && entries[i].verdict[0])
            keys++;
    size_t argc = 0;
    char numkeys[16];
    snprintf(numkeys, sizeof numkeys, "%zu", keys);
    argv[argc++] = "EVALSHA";
    argv[argc++] = kj_redis_script_sha(self->redis, self->script);
    argv[argc++] = numkeys;
    argv[argc++] = self->streams[p];
    argv[argc++] = self->stats[p];
    argv[argc++] = self->sla[p];
    size_t key = 3;
    for (size_t i = 0; i < n; i++) {
        s_entry_t *e = &entries[i];
        if (e->p != p)
            continue;
        if (e->verdict[0]) {
            argv[argc++] = e->record;
            snprintf(e->key_idx, sizeof e->key_idx, "%zu", ++key);
        } else {
            snprintf(e->key_idx, sizeof e->key_idx, "0");
        }
    }
    argv[argc++] = self->group;
    for (size_t i = 0; i < n; i++) {
        s_entry_t *e = &entries[i];
        if (e->p != p)
            continue;
        snprintf(e->n_str, sizeof e->n_str, "%zu", e->n);
        argv[argc++] = e->id;
        argv[argc++] = e->key_idx;
        argv[argc++] = e->sla_field;
        argv[argc++] = e->verdict;
        argv[argc++] = e->n_str;
        for (size_t k = 0; k < e->n; k++) {
            argv[argc++] = e->incr[k].field;
            argv[argc++] = e->by[k];
        }
        carried++;
    }
    if (carried == 0)
        return 0;
    return kj_redis_appendargv(self->redis, (int)argc, argv, NULL) < 0
               ? -1
               : (int)carried;
}

/* Apply every entry of an XREADGROUP reply: one script call per
 * partition, all in one pipeline. Returns the entries seen (applied now
 * or before), or -1 on a Redis failure. */
static int
s_apply(analytics_consumer_t *self, const redisReply *reply)
{
    size_t total = 0;
    for (size_t s = 0; s < reply->elements; s++) {
        const redisReply *st = reply->element[s];
        if (st->type == REDIS_REPLY_ARRAY && st->elements == 2 &&
            st->element[1]->type == REDIS_REPLY_ARRAY)
            total += st->element[1]->elements;
    }
    if (total == 0)
        return 0;
    s_entry_t *entries = kj_calloc(total, sizeof *entries);
    const char **argv = kj_calloc(
        S_FIXED_ARGS + total * (S_ENTRY_ARGS + 1 + 2 * ANALYTICS_MAX_INCRS),
        sizeof *argv);
    redisReply *replies[KJ_PARTITIONS] = {0};
    int parts[KJ_PARTITIONS]; /* the partition of each call sent */
    int rc = -1;
    size_t n = 0;
    for (size_t s = 0; s < reply->elements; s++) {
        const redisReply *st = reply->element[s];
        if (st->type != REDIS_REPLY_ARRAY || st->elements != 2 ||
            !s_is_str(st->element[0]) ||
            st->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        int p = s_partition_of(self, st->element[0]->str);
        if (p < 0)
            continue;
        const redisReply *list = st->element[1];
        for (size_t i = 0; i < list->elements; i++) {
            const redisReply *en = list->element[i];
            if (en->type != REDIS_REPLY_ARRAY || en->elements < 1 ||
                !s_is_str(en->element[0]))
                continue;
            s_build(self, &entries[n], p, en->element[0]->str,
                    en->elements > 1 ? en->element[1] : NULL);
            n++;
        }
    }
    /* A NOSCRIPT (Redis restarted under us, or SCRIPT FLUSH) reloads the
     * script and sends the batch again: the XACK guard makes the entries
     * that did get applied harmless the second time. */
    for (int attempt = 0; attempt < 2; attempt++) {
        size_t calls = 0;
        for (int p = 0; p < KJ_PARTITIONS; p++) {
            int carried = s_append_call(self, p, entries, n, argv);
            if (carried < 0)
                goto out;
            if (carried > 0)
                parts[calls++] = p;
        }
        if (s_read_replies(self, calls, replies) < 0)
            goto out;
        bool noscript = false;
        size_t errors = 0;
        uint64_t counted = 0;
        for (size_t c = 0; c < calls; c++) {
            const redisReply *r = replies[c];
            if (kj_redis_is_noscript(r)) {
                noscript = true;
            } else if (r->type == REDIS_REPLY_ERROR) {
                /* One line per batch: the same error repeats per call. */
                if (errors++ == 0)
                    kj_error("event apply failed", "s:error", r->str,
                             "l:entries", (long long)n);
                if (strncmp(r->str, "NOGROUP", 7) == 0)
                    self->groups_ok = false;
            } else if (r->type == REDIS_REPLY_ARRAY) {
                /* One answer per entry of the partition, in order. */
                size_t k = 0;
                for (size_t i = 0; i < n && k < r->elements; i++) {
                    if (entries[i].p != parts[c])
                        continue;
                    const redisReply *one = r->element[k++];
                    if (one->type == REDIS_REPLY_INTEGER &&
                        one->integer == 1 && entries[i].counted)
                        counted++;
                }
            }
        }
        kj_counter_add(self->processed, counted);
        s_free_replies(replies, calls);
        memset(replies, 0, sizeof replies);
        if (errors > 0)
            goto out; /* the entries stay pending; the caller backs off */
        if (!noscript) {
            rc = (int)n;
            goto out;
        }
        if (kj_redis_scripts_reload(self->redis) < 0)
            goto out;
        /* The SHA is unchanged; only the script cache was empty. */
    }
out:
    s_free_replies(replies, KJ_PARTITIONS);
    free(argv);
    free(entries);
    return rc;
}

/* XREADGROUP over every stream: id "0" re-reads our pending entries, ">"
 * waits for new ones. */
static redisReply *
s_read(analytics_consumer_t *self, bool pending)
{
    const char *argv[9 + 2 * KJ_PARTITIONS];
    int argc = 0;
    char count[32], block[32];
    snprintf(count, sizeof count, "%lld", (long long)self->count);
    snprintf(block, sizeof block, "%lld", (long long)self->block_ms);
    argv[argc++] = "XREADGROUP";
    argv[argc++] = "GROUP";
    argv[argc++] = self->group;
    argv[argc++] = self->consumer;
    argv[argc++] = "COUNT";
    argv[argc++] = count;
    if (!pending) {
        argv[argc++] = "BLOCK";
        argv[argc++] = block;
    }
    argv[argc++] = "STREAMS";
    for (int p = 0; p < KJ_PARTITIONS; p++)
        argv[argc++] = self->streams[p];
    for (int p = 0; p < KJ_PARTITIONS; p++)
        argv[argc++] = pending ? "0" : ">";
    return kj_redis_commandargv(self->redis, argc, argv, NULL);
}

int
analytics_consumer_step(analytics_consumer_t *self, int64_t now_ms)
{
    redisReply *r = NULL;
    int rc = -1;
    if (!kj_redis_connected(self->redis)) {
        /* After a reconnect the server may be a new one (or restarted
         * empty): groups again, and our pending list first. */
        self->groups_ok = false;
        self->pending_phase = true;
        if (kj_redis_connect(self->redis) < 0)
            goto out;
    }
    if (!self->groups_ok) {
        if (s_ensure_groups(self) < 0)
            goto out;
        self->groups_ok = true;
    }
    if (now_ms >= self->next_claim_ms) {
        self->next_claim_ms = now_ms + self->claim_idle_ms / 2;
        if (s_takeover(self) < 0)
            goto out;
    }
    if (now_ms >= self->next_depth_ms) {
        self->next_depth_ms = now_ms + S_DEPTH_EVERY_MS;
        if (s_depth(self) < 0)
            goto out;
    }
    bool pending = self->pending_phase;
    r = s_read(self, pending);
    if (!r)
        goto out;
    if (r->type == REDIS_REPLY_NIL) {
        rc = 0; /* BLOCK timed out: nothing new */
        goto out;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        kj_error("XREADGROUP failed", "s:error", r->str);
        if (strncmp(r->str, "NOGROUP", 7) == 0)
            self->groups_ok = false;
        goto out;
    }
    if (r->type != REDIS_REPLY_ARRAY)
        goto out;
    rc = s_apply(self, r);
    if (rc == 0 && pending)
        self->pending_phase = false;
out:
    if (r)
        freeReplyObject(r);
    if (rc < 0)
        kj_counter_inc(self->redis_errors);
    return rc;
}
