/* kj_cases_read: the JSON views of cases, agents and customers for the
 * public API (see kj_cases.h). Reads are pipelined plain commands; the
 * answer is built with jansson from what Redis holds (case_lib.lib.lua
 * documents the keys). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kj_cases.h"
#include "kj_cases_internal.h"
#include "kj_log.h"
#include "kj_time.h"
#include "kj_util.h"

#define S_COMPLAINTS_MAX 500 /* complaint ids shown per case */
#define S_CUSTOMER_CASES 50  /* cases shown per customer */
#define S_CUSTOMER_MSGS 200  /* complaints shown per customer */

static json_t *
s_time(int64_t ms)
{
    char buf[KJ_TIME_RFC3339_LEN];
    if (ms <= 0 || kj_time_rfc3339(ms, buf, sizeof buf) == 0)
        return json_null();
    return json_string(buf);
}

/* The value of field in a HGETALL reply, or NULL. */
static const char *
s_field(const redisReply *h, const char *field)
{
    for (size_t i = 0; h && i + 1 < h->elements; i += 2)
        if (h->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(h->element[i]->str, field) == 0 &&
            h->element[i + 1]->type == REDIS_REPLY_STRING)
            return h->element[i + 1]->str;
    return NULL;
}

static int64_t
s_ms(const redisReply *h, const char *field)
{
    const char *v = s_field(h, field);
    int64_t out = 0;
    if (!v || kj_parse_i64(v, strlen(v), &out) != 0)
        return 0;
    return out;
}

/* A string field, null when absent or empty. */
static json_t *
s_str(const redisReply *h, const char *field)
{
    const char *v = s_field(h, field);
    if (!v || !*v)
        return json_null();
    json_t *s = json_string(v);
    return s ? s : json_null();
}

/* A field holding a JSON array we wrote; [] if it does not parse. */
static json_t *
s_list(const redisReply *h, const char *field)
{
    const char *v = s_field(h, field);
    json_t *arr = v ? json_loads(v, 0, NULL) : NULL;
    if (!json_is_array(arr)) {
        json_decref(arr);
        arr = json_array();
    }
    return arr;
}

static void
s_set(json_t *o, const char *key, json_t *v)
{
    json_object_set_new(o, key, v ? v : json_null());
}

static char *
s_dump(json_t *o)
{
    char *out = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(o);
    if (!out)
        abort(); /* allocation failure only */
    return out;
}

/* Run cmds (each a NULL-terminated argv) as one pipeline; replies[i]
 * set, caller frees. -1 if Redis failed (none set). */
static int
s_pipeline(kj_cases_t *self, const char *const *const *cmds, size_t n,
           redisReply **replies)
{
    if (kj_redis_connect(self->redis) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int argc = 0;
        while (cmds[i][argc])
            argc++;
        if (kj_redis_appendargv(self->redis, argc, (const char **)cmds[i],
                                NULL) != 0)
            return -1;
    }
    for (size_t i = 0; i < n; i++) {
        replies[i] = kj_redis_get_reply(self->redis);
        if (!replies[i] || replies[i]->type == REDIS_REPLY_ERROR) {
            if (replies[i])
                kj_error("redis read failed", "s:error", replies[i]->str);
            for (size_t j = 0; j <= i; j++)
                if (replies[j])
                    freeReplyObject(replies[j]);
            for (size_t j = i + 1; j < n; j++) {
                redisReply *rest = kj_redis_get_reply(self->redis);
                if (!rest)
                    break;
                freeReplyObject(rest);
            }
            return -1;
        }
    }
    return 0;
}

static void
s_free_all(redisReply **replies, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (replies[i])
            freeReplyObject(replies[i]);
}

/* A clock: its deadline, when it was stopped, and its state now:
 * met or breached once stopped, paused while the case is pending,
 * else running or breached. breached: the router recorded its breach
 * (its clock may run ahead of this one's: KUJO_CLOCK_OFFSET_MS). */
static json_t *
s_clock(int64_t due, int64_t stopped, bool paused, int64_t now_ms,
        bool breached)
{
    if (due <= 0)
        return json_null();
    json_t *o = json_object();
    s_set(o, "due_at", s_time(due));
    s_set(o, "due_at_ms", json_integer(due));
    s_set(o, "stopped_at", s_time(stopped));
    const char *state = stopped > 0
                            ? (stopped <= due && !breached ? "met" : "breached")
                        : now_ms > due || breached ? "breached"
                        : paused                   ? "paused"
                                                   : "running";
    s_set(o, "state", json_string(state));
    return o;
}

static json_t *
s_clocks(const redisReply *h, int64_t now_ms)
{
    bool paused = strcmp(s_field(h, "status") ? s_field(h, "status") : "",
                         "pending") == 0;
    json_t *o = json_object();
    s_set(o, "ack",
          s_clock(s_ms(h, "ack_due_ms"), s_ms(h, "ack_ms"), false, now_ms,
                  s_ms(h, "ack_breached") > 0));
    s_set(o, "first_response",
          s_clock(s_ms(h, "first_response_due_ms"),
                  s_ms(h, "first_response_ms"), paused, now_ms,
                  s_ms(h, "fr_breached") > 0));
    s_set(o, "next_response",
          s_clock(s_ms(h, "nr_due_ms"), 0, paused, now_ms,
                  s_ms(h, "nr_breached") > 0));
    s_set(o, "resolution",
          s_clock(s_ms(h, "resolution_due_ms"), s_ms(h, "resolved_ms"), paused,
                  now_ms, s_ms(h, "res_breached") > 0));
    return o;
}

/* Timeline entries as stored (JSON), each with "at" added. */
static json_t *
s_timeline(const redisReply *l)
{
    json_t *arr = json_array();
    for (size_t i = 0; l && i < l->elements; i++) {
        if (l->element[i]->type != REDIS_REPLY_STRING)
            continue;
        json_t *e = json_loads(l->element[i]->str, 0, NULL);
        if (!json_is_object(e)) {
            json_decref(e);
            continue;
        }
        json_t *at = json_object_get(e, "at_ms");
        if (json_is_integer(at))
            s_set(e, "at", s_time(json_integer_value(at)));
        json_array_append_new(arr, e);
    }
    return arr;
}

static json_t *
s_strings(const redisReply *l)
{
    json_t *arr = json_array();
    for (size_t i = 0; l && i < l->elements; i++)
        if (l->element[i]->type == REDIS_REPLY_STRING)
            json_array_append_new(arr, json_string(l->element[i]->str));
    return arr;
}

static json_t *
s_case_object(const redisReply *h, int64_t now_ms)
{
    json_t *o = json_object();
    s_set(o, "id", s_str(h, "id"));
    s_set(o, "status", s_str(h, "status"));
    s_set(o, "assignee", s_str(h, "assignee"));
    s_set(o, "team", s_str(h, "team"));
    s_set(o, "customer", s_str(h, "customer"));
    s_set(o, "priority", s_str(h, "priority"));
    s_set(o, "language", s_str(h, "language"));
    s_set(o, "category", s_str(h, "category"));
    s_set(o, "channel", s_str(h, "channel"));
    const char *pub = s_field(h, "public");
    s_set(o, "public", json_boolean(pub && strcmp(pub, "1") == 0));
    s_set(o, "n_complaints", json_integer(s_ms(h, "n_complaints")));
    s_set(o, "created_at", s_time(s_ms(h, "created_ms")));
    s_set(o, "updated_at", s_time(s_ms(h, "updated_ms")));
    s_set(o, "assigned_at", s_time(s_ms(h, "assigned_ms")));
    s_set(o, "resolved_at", s_time(s_ms(h, "resolved_ms")));
    s_set(o, "first_response_at", s_time(s_ms(h, "first_response_ms")));
    s_set(o, "clocks", s_clocks(h, now_ms));
    return o;
}

/* Two fields of a case's hash into a and b ("" when absent or no such
 * case). 0, or -1 if Redis failed. */
static int
s_case_two(kj_cases_t *self, const char *tenant, const char *case_id,
           const char *fa, char *a, size_t a_size, const char *fb, char *b,
           size_t b_size)
{
    char ck[KJ_CASES_BASE_MAX + 64];
    a[0] = b[0] = '\0';
    if (kj_cases_key(self, tenant, "case", case_id, ck, sizeof ck) < 0)
        return 0;
    const char *c0[] = {"HMGET", ck, fa, fb, NULL};
    const char *const *cmds[] = {c0};
    redisReply *r;
    if (s_pipeline(self, cmds, 1, &r) != 0)
        return -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        if (r->element[0]->type == REDIS_REPLY_STRING)
            kj_strlcpy(a, r->element[0]->str, a_size);
        if (r->element[1]->type == REDIS_REPLY_STRING)
            kj_strlcpy(b, r->element[1]->str, b_size);
    }
    freeReplyObject(r);
    return 0;
}

int
kj_cases_case_fields(kj_cases_t *self, const char *tenant, const char *case_id,
                     char *language, size_t language_size, char *channel,
                     size_t channel_size)
{
    return s_case_two(self, tenant, case_id, "language", language,
                      language_size, "channel", channel, channel_size);
}

int
kj_cases_case_who(kj_cases_t *self, const char *tenant, const char *case_id,
                  char *customer, size_t customer_size, char *complaint,
                  size_t complaint_size)
{
    return s_case_two(self, tenant, case_id, "customer", customer,
                      customer_size, "first_complaint", complaint,
                      complaint_size);
}

int
kj_cases_case_json(kj_cases_t *self, const char *tenant, const char *case_id,
                   char **json)
{
    char ck[KJ_CASES_BASE_MAX + 64], lk[KJ_CASES_BASE_MAX + 64],
        tk[KJ_CASES_BASE_MAX + 64];
    char last[24];
    *json = NULL;
    if (kj_cases_key(self, tenant, "case", case_id, ck, sizeof ck) < 0)
        return 0;
    snprintf(lk, sizeof lk, "%s:complaints", ck);
    snprintf(tk, sizeof tk, "%s:timeline", ck);
    snprintf(last, sizeof last, "%d", S_COMPLAINTS_MAX - 1);
    const char *c0[] = {"HGETALL", ck, NULL};
    const char *c1[] = {"LRANGE", lk, "0", last, NULL};
    const char *c2[] = {"LRANGE", tk, "0", "-1", NULL};
    const char *const *cmds[] = {c0, c1, c2};
    redisReply *r[3];
    if (s_pipeline(self, cmds, 3, r) != 0)
        return -1;
    int found = r[0]->elements > 0;
    if (found) {
        json_t *o = s_case_object(r[0], kj_now_ms());
        s_set(o, "complaints", s_strings(r[1]));
        s_set(o, "timeline", s_timeline(r[2]));
        *json = s_dump(o);
    }
    s_free_all(r, 3);
    return found;
}

static json_t *
s_agent_object(const redisReply *h, const redisReply *cases)
{
    json_t *o = json_object();
    s_set(o, "id", s_str(h, "id"));
    s_set(o, "name", s_str(h, "name"));
    s_set(o, "teams", s_list(h, "teams"));
    s_set(o, "languages", s_list(h, "languages"));
    s_set(o, "skills", s_list(h, "skills"));
    s_set(o, "capacity", json_integer(s_ms(h, "capacity")));
    s_set(o, "status", s_str(h, "status"));
    s_set(o, "load", json_integer(s_ms(h, "load")));
    s_set(o, "updated_at", s_time(s_ms(h, "updated_ms")));
    if (cases)
        s_set(o, "cases", s_strings(cases));
    return o;
}

int
kj_cases_agent_json(kj_cases_t *self, const char *tenant, const char *id,
                    char **json)
{
    char ak[KJ_CASES_BASE_MAX + KJ_CASES_NAME_MAX + 16];
    char sk[sizeof ak + 8];
    *json = NULL;
    if (kj_cases_key(self, tenant, "agent", id, ak, sizeof ak) < 0)
        return 0;
    snprintf(sk, sizeof sk, "%s:cases", ak);
    const char *c0[] = {"HGETALL", ak, NULL};
    const char *c1[] = {"SMEMBERS", sk, NULL};
    const char *const *cmds[] = {c0, c1};
    redisReply *r[2];
    if (s_pipeline(self, cmds, 2, r) != 0)
        return -1;
    int found = r[0]->elements > 0;
    if (found)
        *json = s_dump(s_agent_object(r[0], r[1]));
    s_free_all(r, 2);
    return found;
}

static int
s_by_id(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int
kj_cases_agents_json(kj_cases_t *self, const char *tenant, char **json)
{
    char setk[KJ_CASES_BASE_MAX + 16];
    *json = NULL;
    if (kj_cases_key(self, tenant, "agents", NULL, setk, sizeof setk) < 0) {
        *json = s_dump(json_pack("{s:[]}", "agents"));
        return 1;
    }
    const char *c0[] = {"SMEMBERS", setk, NULL};
    const char *const *cmds0[] = {c0};
    redisReply *ids;
    if (s_pipeline(self, cmds0, 1, &ids) != 0)
        return -1;
    size_t n = ids->elements;
    const char **names = kj_calloc(n ? n : 1, sizeof *names);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (ids->element[i]->type == REDIS_REPLY_STRING)
            names[m++] = ids->element[i]->str;
    qsort(names, m, sizeof *names, s_by_id);
    char(*keys)[KJ_CASES_BASE_MAX + KJ_CASES_NAME_MAX + 16] =
        kj_calloc(m ? m : 1, sizeof *keys);
    const char **argv = kj_calloc(m ? 3 * m : 1, sizeof *argv);
    const char *const **cmds = kj_calloc(m ? m : 1, sizeof *cmds);
    redisReply **r = kj_calloc(m ? m : 1, sizeof *r);
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        if (kj_cases_key(self, tenant, "agent", names[i], keys[k],
                         sizeof keys[k]) < 0)
            continue;
        argv[3 * k] = "HGETALL";
        argv[3 * k + 1] = keys[k];
        argv[3 * k + 2] = NULL;
        cmds[k] = &argv[3 * k];
        k++;
    }
    int rc = -1;
    if (k == 0 || s_pipeline(self, cmds, k, r) == 0) {
        json_t *arr = json_array();
        for (size_t i = 0; i < k; i++)
            if (r[i]->elements > 0)
                json_array_append_new(arr, s_agent_object(r[i], NULL));
        json_t *o = json_object();
        s_set(o, "agents", arr);
        *json = s_dump(o);
        s_free_all(r, k);
        rc = 1;
    }
    free(r);
    free(cmds);
    free(argv);
    free(keys);
    free(names);
    freeReplyObject(ids);
    return rc;
}

/* The customer's complaints (newest first) and the trajectory: the last
 * `trajectory` sentiment scores, oldest first. */
static void
s_customer_msgs(json_t *o, const redisReply *msgs, int trajectory)
{
    json_t *list = json_array();
    json_t *scores = json_array();
    for (size_t i = 0; msgs && i < msgs->elements; i++) {
        if (msgs->element[i]->type != REDIS_REPLY_STRING)
            continue;
        json_t *m = json_loads(msgs->element[i]->str, 0, NULL);
        if (!json_is_object(m)) {
            json_decref(m);
            continue;
        }
        json_t *at = json_object_get(m, "at_ms");
        if (json_is_integer(at))
            s_set(m, "at", s_time(json_integer_value(at)));
        json_t *score = json_object_get(m, "score");
        if ((int)json_array_size(scores) < trajectory && json_is_number(score))
            json_array_insert(scores, 0, score);
        json_array_append_new(list, m);
    }
    s_set(o, "complaints", list);
    s_set(o, "trajectory", scores);
}

int
kj_cases_customer_json(kj_cases_t *self, const char *tenant,
                       const char *customer, int trajectory, char **json)
{
    char uk[KJ_CASES_BASE_MAX + KJ_CASES_NAME_MAX + 16];
    char ck[sizeof uk + 8], mk[sizeof uk + 8], last[24], lastm[24];
    *json = NULL;
    if (kj_cases_key(self, tenant, "cust", customer, uk, sizeof uk) < 0)
        return 0;
    snprintf(ck, sizeof ck, "%s:cases", uk);
    snprintf(mk, sizeof mk, "%s:msgs", uk);
    snprintf(last, sizeof last, "%d", S_CUSTOMER_CASES - 1);
    snprintf(lastm, sizeof lastm, "%d", S_CUSTOMER_MSGS - 1);
    const char *c0[] = {"HGETALL", uk, NULL};
    const char *c1[] = {"LRANGE", ck, "0", last, NULL};
    const char *c2[] = {"LRANGE", mk, "0", lastm, NULL};
    const char *const *cmds[] = {c0, c1, c2};
    redisReply *r[3];
    if (s_pipeline(self, cmds, 3, r) != 0)
        return -1;
    if (r[0]->elements == 0) {
        s_free_all(r, 3);
        return 0;
    }
    /* Each case's summary, in one more round trip. */
    size_t n = r[1]->elements;
    char(*keys)[KJ_CASES_BASE_MAX + 64] = kj_calloc(n ? n : 1, sizeof *keys);
    const char **argv = kj_calloc(n ? 3 * n : 1, sizeof *argv);
    const char *const **cmds2 = kj_calloc(n ? n : 1, sizeof *cmds2);
    redisReply **cr = kj_calloc(n ? n : 1, sizeof *cr);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (r[1]->element[i]->type != REDIS_REPLY_STRING ||
            kj_cases_key(self, tenant, "case", r[1]->element[i]->str, keys[k],
                         sizeof keys[k]) < 0)
            continue;
        argv[3 * k] = "HGETALL";
        argv[3 * k + 1] = keys[k];
        argv[3 * k + 2] = NULL;
        cmds2[k] = &argv[3 * k];
        k++;
    }
    int rc = -1;
    if (k == 0 || s_pipeline(self, cmds2, k, cr) == 0) {
        int64_t now = kj_now_ms();
        json_t *o = json_object();
        s_set(o, "id", json_string(customer));
        s_set(o, "first_at", s_time(s_ms(r[0], "first_ms")));
        s_set(o, "last_at", s_time(s_ms(r[0], "last_ms")));
        s_set(o, "current_case", s_str(r[0], "case"));
        json_t *cases = json_array();
        for (size_t i = 0; i < k; i++)
            if (cr[i]->elements > 0)
                json_array_append_new(cases, s_case_object(cr[i], now));
        s_set(o, "cases", cases);
        s_customer_msgs(o, r[2], trajectory > 0 ? trajectory : 10);
        *json = s_dump(o);
        s_free_all(cr, k);
        rc = 1;
    }
    free(cr);
    free(cmds2);
    free(argv);
    free(keys);
    s_free_all(r, 3);
    return rc;
}
