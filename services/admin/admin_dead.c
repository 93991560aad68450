/* admin_dead: kujo-admin's dead-letter commands. See admin_dead.h.
 *
 * Every command first selects: it reads each dead list (the 16 partition
 * zsets, then every tenant's outbox_dead found by SCAN), a page of
 * members at a time, reads their records or job hashes in one pipeline,
 * and keeps those that match the filters. `list` prints them; `replay`
 * and `drop` act on each through its atomic script, which checks again
 * that it is still dead, so two operators (or a notifier) racing on one
 * letter leave it replayed or dropped once. */
#include "admin_dead.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "admin_args.h"
#include "kj_assert.h"
#include "kj_config.h"
#include "kj_envelope.h"
#include "kj_id.h"
#include "kj_keys.h"
#include "kj_outbox.h"
#include "kj_store.h"
#include "kj_time.h"
#include "kj_utf8.h"
#include "kj_util.h"

#define S_BINARY "kujo-admin"
#define S_PAGE 500           /* members read (and looked up) per round trip */
#define S_SCAN_COUNT 1000    /* SCAN's COUNT: keys looked at per call */
#define S_KEY_MAX 512        /* a dead list's or a record's key */
#define S_TENANTS_MAX 100000 /* tenants with dead jobs, at most */

typedef enum { S_LIST, S_REPLAY, S_DROP } s_verb_t;

/* What the command line asked for. */
typedef struct {
    s_verb_t verb;
    const char *name;   /* "list", "replay", "drop" for messages */
    bool pipeline;      /* look at dead pipeline records */
    bool outbox;        /* look at dead outbox jobs */
    const char *tenant; /* exact tenant, NULL: any */
    const char *reason; /* substring of the reason, NULL: any */
    int64_t since_ms;   /* died at or after, INT64_MIN: any */
    int64_t limit;      /* at most this many items, 0: no limit */
    bool all;           /* --all */
    bool yes;           /* --yes */
    char **ids;         /* the ids or jobs named, borrowed from argv */
    bool *seen;         /* [n_ids]: selected by the scan */
    int n_ids;
} s_opts_t;

/* One run's objects and counts. */
typedef struct {
    const s_opts_t *o;
    kj_redis_t *redis;   /* borrowed */
    const char *prefix;  /* "kj" */
    kj_store_t *store;   /* pipeline replay */
    kj_outbox_t *outbox; /* outbox replay and drop */
    kj_codec_t *codec;   /* decodes a record's envelope */
    kj_envelope_t *env;  /* decoded into (large: on the heap) */
    int64_t selected;    /* items selected so far, for --limit */
    int64_t done;        /* replayed or dropped */
    int64_t not_done;    /* not dead any more, no record, unknown */
    int64_t failed;      /* Redis failed for the item */
    bool broken;         /* Redis failed while selecting */
} s_run_t;

void
admin_dead_usage(FILE *f)
{
    fprintf(f, "       " S_BINARY " dead list [filters] [--limit <n>]\n"
               "       " S_BINARY " dead replay (<id>... | --all) [filters] "
               "[--limit <n>]\n"
               "       " S_BINARY " dead drop (<id>... | --all) [filters] "
               "[--limit <n>] [--yes]\n"
               "\n"
               "dead filters: --kind pipeline|outbox, --tenant <t> (exact), "
               "--reason <text>\n"
               "  (a substring of the reason), --since <RFC 3339 time> (died "
               "then or later).\n"
               "  An <id> is a complaint id (pipeline) or an outbox job id. "
               "Output: one JSON\n"
               "  object a line; drop --all without --tenant, --reason or "
               "--since needs --yes.\n");
}

/* ---- arguments ---------------------------------------------------------- */

/* Two decimal digits of s at i into *v; false if they are not digits. */
static bool
s_digits(const char *s, size_t n, int *v)
{
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *v = *v * 10 + (s[i] - '0');
    }
    return true;
}

/* "YYYY-MM-DDTHH:MM:SS[.fff...](Z|+hh:mm|-hh:mm)" as ms since the epoch;
 * -1 if it is not that. */
static int
s_parse_time(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    if (strlen(s) < 20 || !s_digits(s, 4, &y) || s[4] != '-' ||
        !s_digits(s + 5, 2, &mo) || s[7] != '-' || !s_digits(s + 8, 2, &d) ||
        (s[10] != 'T' && s[10] != 't') || !s_digits(s + 11, 2, &h) ||
        s[13] != ':' || !s_digits(s + 14, 2, &mi) || s[16] != ':' ||
        !s_digits(s + 17, 2, &sec))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    const char *p = s + 19;
    int64_t frac = 0, scale = 1000;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        for (; *p >= '0' && *p <= '9'; p++)
            if (scale > 1) {
                scale /= 10;
                frac += (*p - '0') * scale;
            }
    }
    int sign = 0;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
        sign = 0;
    else if ((*p == '+' || *p == '-') && strlen(p) == 6 &&
             s_digits(p + 1, 2, &oh) && p[3] == ':' &&
             s_digits(p + 4, 2, &om) && oh <= 23 && om <= 59)
        sign = *p == '+' ? 1 : -1;
    else
        return -1;
    int64_t days = kj_time_days_from_civil(y, mo, d);
    int64_t t = ((days * 24 + h) * 60 + mi) * 60 + sec;
    t -= sign * (oh * 3600 + om * 60);
    *ms = t * 1000 + frac;
    return 0;
}

/* Fill o from argv; 0, or KJ_EX_USAGE after saying why on stderr. */
static int
s_parse(int argc, char **argv, s_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->pipeline = o->outbox = true;
    o->since_ms = INT64_MIN;
    o->name = argv[0];
    if (strcmp(argv[0], "list") == 0)
        o->verb = S_LIST;
    else if (strcmp(argv[0], "replay") == 0)
        o->verb = S_REPLAY;
    else if (strcmp(argv[0], "drop") == 0)
        o->verb = S_DROP;
    else {
        fprintf(stderr,
                S_BINARY ": dead: unknown command %s (list, replay, "
                         "drop)\n",
                argv[0]);
        return KJ_EX_USAGE;
    }
    o->ids = kj_calloc((size_t)argc, sizeof *o->ids);
    o->seen = kj_calloc((size_t)argc, sizeof *o->seen);
    for (int i = 1; i < argc; i++) {
        bool missing = false;
        const char *v;
        if ((v = admin_flag(argc, argv, &i, "--kind", &missing))) {
            o->pipeline = strcmp(v, "pipeline") == 0;
            o->outbox = strcmp(v, "outbox") == 0;
            if (!o->pipeline && !o->outbox) {
                fprintf(stderr, S_BINARY ": --kind: pipeline or outbox\n");
                return KJ_EX_USAGE;
            }
        } else if ((v = admin_flag(argc, argv, &i, "--tenant", &missing))) {
            if (!*v) {
                fprintf(stderr, S_BINARY ": --tenant: empty\n");
                return KJ_EX_USAGE;
            }
            o->tenant = v;
        } else if ((v = admin_flag(argc, argv, &i, "--reason", &missing))) {
            /* "" would match every letter and still count as a filter. */
            if (!*v) {
                fprintf(stderr, S_BINARY ": --reason: empty\n");
                return KJ_EX_USAGE;
            }
            o->reason = v;
        } else if ((v = admin_flag(argc, argv, &i, "--since", &missing))) {
            if (s_parse_time(v, &o->since_ms) < 0) {
                fprintf(stderr, S_BINARY ": --since: expected an RFC 3339 "
                                         "time such as "
                                         "2026-12-01T00:00:00Z\n");
                return KJ_EX_USAGE;
            }
        } else if ((v = admin_flag(argc, argv, &i, "--limit", &missing))) {
            char *end = NULL;
            errno = 0;
            long long n = strtoll(v, &end, 10);
            if (errno || end == v || *end || n < 1) {
                fprintf(stderr, S_BINARY ": --limit: a positive number\n");
                return KJ_EX_USAGE;
            }
            o->limit = n;
        } else if (strcmp(argv[i], "--all") == 0 && o->verb != S_LIST) {
            o->all = true;
        } else if (strcmp(argv[i], "--yes") == 0 && o->verb == S_DROP) {
            o->yes = true;
        } else if (!missing && argv[i][0] != '-' && o->verb != S_LIST) {
            o->ids[o->n_ids++] = argv[i];
        } else {
            fprintf(stderr, S_BINARY ": dead %s: %s %s\n", o->name,
                    missing ? "missing value after" : "unknown argument",
                    argv[i]);
            return KJ_EX_USAGE;
        }
    }
    if (o->verb != S_LIST && (o->all == (o->n_ids > 0))) {
        fprintf(stderr,
                S_BINARY ": dead %s: name the ids (or outbox job ids), or "
                         "--all, not both\n",
                o->name);
        return KJ_EX_USAGE;
    }
    /* --kind alone still takes a whole list: only a filter that picks
     * letters out spares the confirmation. */
    if (o->verb == S_DROP && o->all && !o->yes && !o->tenant && !o->reason &&
        o->since_ms == INT64_MIN) {
        fprintf(stderr, S_BINARY ": dead drop --all without --tenant, "
                                 "--reason or --since drops every dead "
                                 "letter for good; add --yes if you mean "
                                 "it\n");
        return KJ_EX_USAGE;
    }
    return 0;
}

/* ---- output ------------------------------------------------------------- */

/* Print obj as one compact line on stdout and release it. */
static void
s_print(json_t *obj)
{
    char *line =
        json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    if (line) {
        fputs(line, stdout);
        fputc('\n', stdout);
        free(line);
    }
    json_decref(obj);
}

/* A string, or JSON null for NULL. Bytes that are not UTF-8 (a reason
 * written by hand) become U+FFFD, so every field is always there. */
static json_t *
s_str_or_null(const char *s)
{
    if (!s)
        return json_null();
    size_t len = strlen(s);
    if (kj_utf8_valid(s, len))
        return json_string(s);
    char *clean = kj_calloc(3 * len + 1, 1);
    kj_utf8_sanitize(s, len, clean);
    json_t *j = json_string(clean);
    free(clean);
    return j;
}

/* The reply element i as a NUL-terminated string (borrowed), NULL if it
 * is not a string. */
static const char *
s_elem(const redisReply *r, size_t i)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || i >= r->elements ||
        r->element[i]->type != REDIS_REPLY_STRING)
        return NULL;
    return r->element[i]->str;
}

/* An integer field read as text; JSON null if absent or not a number. */
static json_t *
s_int_or_null(const char *s)
{
    if (!s)
        return json_null();
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    return end != s && !*end ? json_integer(v) : json_null();
}

/* Whether this item is one the operator asked for, counting it against
 * --limit and marking its id seen. */
static bool
s_select(s_run_t *run, const char *id, const char *tenant, const char *reason)
{
    const s_opts_t *o = run->o;
    if (o->tenant && (!tenant || strcmp(o->tenant, tenant) != 0))
        return false;
    if (o->reason && (!reason || !strstr(reason, o->reason)))
        return false;
    if (o->n_ids > 0) {
        bool named = false;
        for (int i = 0; i < o->n_ids; i++)
            if (strcmp(o->ids[i], id) == 0) {
                o->seen[i] = true;
                named = true;
            }
        if (!named)
            return false;
    }
    run->selected++;
    return true;
}

static bool
s_full(const s_run_t *run)
{
    return run->o->limit > 0 && run->selected >= run->o->limit;
}

/* Count a result and print its line: {kind, id|job, [tenant,] result}. */
static void
s_result(s_run_t *run, bool outbox, const char *id, const char *tenant,
         const char *result)
{
    if (strcmp(result, "replayed") == 0 || strcmp(result, "dropped") == 0)
        run->done++;
    else if (strcmp(result, "failed") == 0)
        run->failed++;
    else
        run->not_done++;
    json_t *o = json_object();
    if (outbox || strchr(id, ':')) {
        json_object_set_new(o, "kind", json_string("outbox"));
        json_object_set_new(o, "job", s_str_or_null(id));
    } else {
        json_object_set_new(o, "kind", json_string("pipeline"));
        json_object_set_new(o, "id", s_str_or_null(id));
    }
    if (tenant)
        json_object_set_new(o, "tenant", s_str_or_null(tenant));
    json_object_set_new(o, "result", json_string(result));
    s_print(o);
}

/* ---- reading the dead lists --------------------------------------------- */

/* The members of zset key from --since on, oldest first, with their
 * scores, read S_PAGE at a time before anything acts on them (a replay
 * or drop removes members, which would shift later pages). Returns the
 * replies (each an array of member, score pairs) in *pages[*n], or -1. */
static int
s_members(s_run_t *run, const char *key, redisReply ***pages, size_t *n)
{
    char since[24], off[24], count[24];
    if (run->o->since_ms == INT64_MIN)
        snprintf(since, sizeof since, "-inf");
    else
        snprintf(since, sizeof since, "%" PRId64, run->o->since_ms);
    snprintf(count, sizeof count, "%d", S_PAGE);
    *pages = NULL;
    *n = 0;
    size_t cap = 0;
    for (long long at = 0;; at += S_PAGE) {
        snprintf(off, sizeof off, "%lld", at);
        const char *argv[] = {"ZRANGEBYSCORE", key,     since, "+inf",
                              "WITHSCORES",    "LIMIT", off,   count};
        redisReply *r = kj_redis_commandargv(
            run->redis, (int)KJ_ARRAY_LEN(argv), argv, NULL);
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            fprintf(stderr, S_BINARY ": ZRANGEBYSCORE %s: %s\n", key,
                    r && r->type == REDIS_REPLY_ERROR
                        ? r->str
                        : kj_redis_errstr(run->redis));
            if (r)
                freeReplyObject(r);
            return -1;
        }
        if (r->elements == 0) {
            freeReplyObject(r);
            return 0;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 4;
            *pages = kj_realloc(*pages, cap * sizeof **pages);
        }
        (*pages)[(*n)++] = r;
        if (r->elements < 2 * S_PAGE)
            return 0;
    }
}

static void
s_pages_free(redisReply **pages, size_t n)
{
    for (size_t i = 0; i < n; i++)
        freeReplyObject(pages[i]);
    free(pages);
}

/* HMGET key_of(member) fields for every member of page, pipelined; the
 * replies in out[] (NULL where one failed). -1 if Redis failed. */
static int
s_lookup(s_run_t *run, const redisReply *page, const char *const *keys,
         const char *const *fields, int nfields, redisReply **out)
{
    size_t n = page->elements / 2;
    if (kj_redis_connect(run->redis) != 0)
        return -1;
    const char *argv[16];
    kj_assert((size_t)nfields + 2 <= KJ_ARRAY_LEN(argv));
    argv[0] = "HMGET";
    for (int f = 0; f < nfields; f++)
        argv[f + 2] = fields[f];
    for (size_t i = 0; i < n; i++) {
        argv[1] = keys[i];
        if (kj_redis_appendargv(run->redis, nfields + 2, argv, NULL) != 0)
            return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = kj_redis_get_reply(run->redis);
        if (!out[i]) {
            rc = -1; /* the connection is gone: no more replies */
            break;
        }
    }
    return rc;
}

/* The RFC 3339 time of a zset score ("1800000000000"). */
static json_t *
s_at(const char *score)
{
    char buf[KJ_TIME_RFC3339_LEN + 8];
    int64_t ms = score ? (int64_t)strtod(score, NULL) : 0;
    if (!score || kj_time_rfc3339(ms, buf, sizeof buf) == 0)
        return json_null();
    return json_string(buf);
}

/* ---- pipeline records --------------------------------------------------- */

/* Act on (or print) the dead records of one page of partition p. */
static void
s_pipeline_page(s_run_t *run, int p, const char *dead_key,
                const redisReply *page)
{
    static const char *const fields[] = {"state",  "env",       "attempts",
                                         "reason", "dead_from", "last_error"};
    size_t n = page->elements / 2;
    char(*keys)[S_KEY_MAX] = kj_calloc(n, sizeof *keys);
    const char **kp = kj_calloc(n, sizeof *kp);
    redisReply **recs = kj_calloc(n, sizeof *recs);
    for (size_t i = 0; i < n; i++) {
        const char *id = s_elem(page, 2 * i);
        kj_keys_make(keys[i], S_KEY_MAX, run->prefix, p, KJ_KEY_RECORD,
                     id ? id : "");
        kp[i] = keys[i];
    }
    if (s_lookup(run, page, kp, fields, (int)KJ_ARRAY_LEN(fields), recs) < 0) {
        fprintf(stderr, S_BINARY ": reading records: %s\n",
                kj_redis_errstr(run->redis));
        run->broken = true;
        goto out;
    }
    for (size_t i = 0; i < n && !s_full(run); i++) {
        const char *id = s_elem(page, 2 * i);
        const redisReply *r = recs[i];
        if (!id || !r || r->type != REDIS_REPLY_ARRAY)
            continue;
        const char *state = s_elem(r, 0);
        /* A record replayed since it was listed is not dead; one whose
         * retention ran out is still listed (gone: true) until dropped. */
        if (state && strcmp(state, "dead") != 0)
            continue;
        const char *tenant = NULL, *channel = NULL;
        if (state && r->element[1]->type == REDIS_REPLY_STRING &&
            kj_envelope_decode(run->codec, (const uint8_t *)r->element[1]->str,
                               r->element[1]->len, run->env) == 0) {
            tenant = run->env->complaint.tenant;
            channel = run->env->complaint.channel;
        }
        const char *reason = s_elem(r, 3);
        if (!reason || !*reason)
            reason = s_elem(r, 5);
        if (!s_select(run, id, tenant, reason))
            continue;
        if (run->o->verb == S_LIST) {
            json_t *o = json_object();
            json_object_set_new(o, "kind", json_string("pipeline"));
            json_object_set_new(o, "id", s_str_or_null(id));
            json_object_set_new(o, "tenant", s_str_or_null(tenant));
            json_object_set_new(o, "channel", s_str_or_null(channel));
            json_object_set_new(o, "died_in", s_str_or_null(s_elem(r, 4)));
            json_object_set_new(o, "reason", s_str_or_null(reason));
            json_object_set_new(o, "attempts", s_int_or_null(s_elem(r, 2)));
            json_object_set_new(o, "at", s_at(s_elem(page, 2 * i + 1)));
            if (!state)
                json_object_set_new(o, "gone", json_true());
            s_print(o);
        } else if (run->o->verb == S_REPLAY) {
            /* Same id, so every idempotency key derived from it (outbox
             * jobs, webhook deliveries) is the same on the way again. */
            int rc = state ? kj_store_replay(run->store, id, kj_now_ms()) : 0;
            s_result(run, false, id, tenant,
                     !state    ? "gone"
                     : rc == 1 ? "replayed"
                     : rc == 0 ? "not_dead"
                               : "failed");
        } else {
            redisReply *z =
                kj_redis_command(run->redis, "ZREM %s %s", dead_key, id);
            const char *res = !z || z->type != REDIS_REPLY_INTEGER ? "failed"
                              : z->integer == 1                    ? "dropped"
                                                                   : "not_dead";
            if (z)
                freeReplyObject(z);
            s_result(run, false, id, tenant, res);
        }
    }
out:
    for (size_t i = 0; i < n; i++)
        if (recs[i])
            freeReplyObject(recs[i]);
    free(recs);
    free(kp);
    free(keys);
}

static void
s_pipeline(s_run_t *run)
{
    /* The partitions are a fixed set (kj_id_partition), so their dead
     * lists are named, not searched: 16 keys, whatever the keyspace. */
    for (int p = 0; p < KJ_PARTITIONS && !s_full(run) && !run->broken; p++) {
        char key[S_KEY_MAX];
        kj_keys_make(key, sizeof key, run->prefix, p, KJ_KEY_DEAD, NULL);
        redisReply **pages = NULL;
        size_t np = 0;
        if (s_members(run, key, &pages, &np) < 0) {
            run->broken = true;
            break;
        }
        for (size_t i = 0; i < np && !s_full(run) && !run->broken; i++)
            s_pipeline_page(run, p, key, pages[i]);
        s_pages_free(pages, np);
    }
}

/* ---- outbox jobs -------------------------------------------------------- */

/* Act on (or print) the dead jobs of one page of tenant's outbox_dead. */
static void
s_outbox_page(s_run_t *run, const char *tenant, const char *base,
              const redisReply *page)
{
    static const char *const fields[] = {"kind", "complaint", "case",
                                         "last_error", "attempts"};
    size_t n = page->elements / 2;
    char(*keys)[S_KEY_MAX] = kj_calloc(n, sizeof *keys);
    const char **kp = kj_calloc(n, sizeof *kp);
    redisReply **jobs = kj_calloc(n, sizeof *jobs);
    for (size_t i = 0; i < n; i++) {
        const char *job = s_elem(page, 2 * i);
        snprintf(keys[i], S_KEY_MAX, "%s:ob:%s", base, job ? job : "");
        kp[i] = keys[i];
    }
    if (s_lookup(run, page, kp, fields, (int)KJ_ARRAY_LEN(fields), jobs) < 0) {
        fprintf(stderr, S_BINARY ": reading outbox jobs: %s\n",
                kj_redis_errstr(run->redis));
        run->broken = true;
        goto out;
    }
    for (size_t i = 0; i < n && !s_full(run); i++) {
        const char *job = s_elem(page, 2 * i);
        const redisReply *r = jobs[i];
        if (!job || !r || r->type != REDIS_REPLY_ARRAY)
            continue;
        const char *reason = s_elem(r, 3);
        if (!s_select(run, job, tenant, reason))
            continue;
        if (run->o->verb == S_LIST) {
            json_t *o = json_object();
            json_object_set_new(o, "kind", json_string("outbox"));
            json_object_set_new(o, "job", s_str_or_null(job));
            json_object_set_new(o, "tenant", s_str_or_null(tenant));
            json_object_set_new(o, "delivery", s_str_or_null(s_elem(r, 0)));
            json_object_set_new(o, "complaint", s_str_or_null(s_elem(r, 1)));
            json_object_set_new(o, "case", s_str_or_null(s_elem(r, 2)));
            json_object_set_new(o, "reason", s_str_or_null(reason));
            json_object_set_new(o, "attempts", s_int_or_null(s_elem(r, 4)));
            json_object_set_new(o, "at", s_at(s_elem(page, 2 * i + 1)));
            if (!s_elem(r, 0))
                json_object_set_new(o, "gone", json_true());
            s_print(o);
            continue;
        }
        kj_outbox_dead_rc_t rc =
            run->o->verb == S_REPLAY
                ? kj_outbox_replay(run->outbox, tenant, job, kj_now_ms())
                : kj_outbox_drop(run->outbox, tenant, job);
        s_result(run, true, job, tenant,
                 rc == KJ_OUTBOX_DEAD_DONE
                     ? (run->o->verb == S_REPLAY ? "replayed" : "dropped")
                 : rc == KJ_OUTBOX_DEAD_NOT_DEAD ? "not_dead"
                 : rc == KJ_OUTBOX_DEAD_NO_JOB   ? "gone"
                                                 : "failed");
    }
out:
    for (size_t i = 0; i < n; i++)
        if (jobs[i])
            freeReplyObject(jobs[i]);
    free(jobs);
    free(kp);
    free(keys);
}

/* prefix with the glob characters of SCAN's MATCH escaped. */
static void
s_glob_escape(const char *s, char *out, size_t size)
{
    size_t n = 0;
    for (; *s && n + 3 < size; s++) {
        if (strchr("*?[]\\", *s))
            out[n++] = '\\';
        out[n++] = *s;
    }
    out[n] = '\0';
}

static int
s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append s to the list *out[*n] of capacity *cap. */
static void
s_push(char ***out, size_t *n, size_t *cap, char *s)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *out = kj_realloc(*out, *cap * sizeof **out);
    }
    (*out)[(*n)++] = s;
}

/* The members of <prefix>:tenants, the set the notifier's claim sweeps,
 * into *out: for a Redis user without SCAN (deploy/redis/kujo-acl.sh
 * allows the services only what they send, and SCAN would show key names
 * outside the prefix). -1 if Redis failed. */
static int
s_tenants_set(s_run_t *run, char ***out, size_t *n, size_t *cap)
{
    redisReply *r =
        kj_redis_command(run->redis, "SMEMBERS %s:tenants", run->prefix);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        fprintf(stderr, S_BINARY ": SMEMBERS %s:tenants: %s\n", run->prefix,
                r && r->type == REDIS_REPLY_ERROR
                    ? r->str
                    : kj_redis_errstr(run->redis));
        if (r)
            freeReplyObject(r);
        return -1;
    }
    for (size_t i = 0; i < r->elements && *n < S_TENANTS_MAX; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            s_push(out, n, cap, kj_strdup(r->element[i]->str));
    freeReplyObject(r);
    return 0;
}

/* The tenants that have an outbox_dead, sorted, by SCAN (never KEYS: a
 * bounded COUNT a call, so Redis serves others in between), which also
 * finds a tenant missing from <prefix>:tenants. Where the Redis user may
 * not SCAN, the tenants set instead. -1 if Redis failed. With --tenant,
 * only that one, named. */
static int
s_tenants(s_run_t *run, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (run->o->tenant) {
        *out = kj_calloc(1, sizeof **out);
        (*out)[(*n)++] = kj_strdup(run->o->tenant);
        return 0;
    }
    char esc[256], match[320], count[16], head[300];
    s_glob_escape(run->prefix, esc, sizeof esc);
    snprintf(match, sizeof match, "%s:{t:*}:outbox_dead", esc);
    snprintf(head, sizeof head, "%s:{t:", run->prefix);
    snprintf(count, sizeof count, "%d", S_SCAN_COUNT);
    const char *tail = "}:outbox_dead";
    size_t cap = 0;
    char cursor[32] = "0";
    do {
        const char *argv[] = {"SCAN", cursor, "MATCH", match, "COUNT", count};
        redisReply *r = kj_redis_commandargv(
            run->redis, (int)KJ_ARRAY_LEN(argv), argv, NULL);
        if (r && r->type == REDIS_REPLY_ERROR &&
            strncmp(r->str, "NOPERM", 6) == 0 && *n == 0) {
            freeReplyObject(r);
            fprintf(stderr,
                    S_BINARY ": this Redis user may not SCAN: the "
                             "tenants are those in %s:tenants\n",
                    run->prefix);
            if (s_tenants_set(run, out, n, &cap) < 0)
                return -1;
            break;
        }
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            fprintf(stderr, S_BINARY ": SCAN: %s\n",
                    r && r->type == REDIS_REPLY_ERROR
                        ? r->str
                        : kj_redis_errstr(run->redis));
            if (r)
                freeReplyObject(r);
            return -1;
        }
        kj_strlcpy(cursor, r->element[0]->str, sizeof cursor);
        const redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements && *n < S_TENANTS_MAX; i++) {
            const redisReply *k = keys->element[i];
            size_t hl = strlen(head), tl = strlen(tail);
            if (k->type != REDIS_REPLY_STRING || k->len <= hl + tl ||
                strncmp(k->str, head, hl) != 0 ||
                strcmp(k->str + k->len - tl, tail) != 0)
                continue;
            s_push(out, n, &cap, kj_strndup(k->str + hl, k->len - hl - tl));
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    /* SCAN may return a key twice: sort, then keep each once. */
    if (*n > 1)
        qsort(*out, *n, sizeof **out, s_cmp_str);
    size_t m = 0;
    for (size_t i = 0; i < *n; i++) {
        if (m > 0 && strcmp((*out)[m - 1], (*out)[i]) == 0)
            free((*out)[i]);
        else
            (*out)[m++] = (*out)[i];
    }
    *n = m;
    return 0;
}

static void
s_outbox(s_run_t *run)
{
    char **tenants = NULL;
    size_t nt = 0;
    if (s_tenants(run, &tenants, &nt) < 0) {
        run->broken = true;
        return;
    }
    for (size_t t = 0; t < nt && !s_full(run) && !run->broken; t++) {
        /* A tenant that cannot be in a hash tag has no outbox. */
        if (strpbrk(tenants[t], "{}") ||
            strlen(tenants[t]) >= KJ_OUTBOX_TENANT_MAX)
            continue;
        char base[S_KEY_MAX], key[S_KEY_MAX];
        snprintf(base, sizeof base, "%s:{t:%s}", run->prefix, tenants[t]);
        snprintf(key, sizeof key, "%s:outbox_dead", base);
        redisReply **pages = NULL;
        size_t np = 0;
        if (s_members(run, key, &pages, &np) < 0) {
            run->broken = true;
            break;
        }
        for (size_t i = 0; i < np && !s_full(run) && !run->broken; i++)
            s_outbox_page(run, tenants[t], base, pages[i]);
        s_pages_free(pages, np);
    }
    for (size_t t = 0; t < nt; t++)
        free(tenants[t]);
    free(tenants);
}

/* ---- the command -------------------------------------------------------- */

int
admin_dead_run(int argc, char **argv, const char *prefix,
               kj_redis_t *(*connect)(void))
{
    if (argc < 1) {
        fprintf(stderr, S_BINARY ": dead: list, replay or drop?\n");
        return KJ_EX_USAGE;
    }
    s_opts_t o;
    int code = s_parse(argc, argv, &o);
    if (code != 0)
        goto out;
    kj_redis_t *redis = connect();
    if (!redis) {
        code = 1;
        goto out;
    }
    kj_store_opts_t so = {.prefix = prefix,
                          .lease_ms = 30000,
                          .max_attempts = 5,
                          .stream_maxlen = 100000,
                          .retention_s = 0,
                          .idem_ttl_s = 86400};
    s_run_t run = {
        .o = &o,
        .redis = redis,
        .prefix = prefix,
        .store = kj_store_new(redis, &so),
        .outbox = kj_outbox_new(redis, prefix),
        .codec = kj_codec_new(),
        .env = kj_calloc(1, sizeof(kj_envelope_t)),
    };
    if (o.pipeline)
        s_pipeline(&run);
    if (o.outbox && !run.broken && !s_full(&run))
        s_outbox(&run);
    /* A named id the lists do not hold (or the filters left out) was not
     * dead: nothing was done to it. */
    for (int i = 0; i < o.n_ids && !run.broken; i++)
        if (!o.seen[i])
            s_result(&run, false, o.ids[i], NULL, "not_dead");
    fflush(stdout);
    if (o.verb != S_LIST)
        fprintf(stderr,
                S_BINARY ": dead %s: %" PRId64 " %s, %" PRId64
                         " left as they were (not dead, or gone), %" PRId64
                         " failed%s\n",
                o.name, run.done, o.verb == S_REPLAY ? "replayed" : "dropped",
                run.not_done, run.failed,
                run.broken ? "; stopped: Redis failed" : "");
    code = run.broken || run.failed || run.not_done ? 1 : 0;
    free(run.env);
    kj_codec_destroy(&run.codec);
    kj_outbox_destroy(&run.outbox);
    kj_store_destroy(&run.store);
    kj_redis_destroy(&redis);
out:
    free(o.ids);
    free(o.seen);
    return code;
}
