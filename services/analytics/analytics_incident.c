/* analytics_incident: see analytics_incident.h. */
#include "analytics_incident.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kj_assert.h"
#include "kj_log.h"
#include "kj_lua.h"
#include "kj_time.h"
#include "kj_util.h"

#define S_BASE_MAX (KJ_OUTBOX_TENANT_MAX + 80) /* "<prefix>:{t:<tenant>}" */
#define S_KEY_MAX (S_BASE_MAX + 64)
#define S_IDEM_TTL_S 86400  /* an Idempotency-Key names its incident a day */
#define S_LIST_MEMBERS 1000 /* members GET /v1/incidents/{id} shows */
#define S_TIMELINE_MAX 500

static const char *const s_kinds[] = {"incident_notice", "incident_resolved"};

struct analytics_incidents {
    kj_redis_t *redis; /* borrowed */
    char prefix[64];   /* "kj" */
    char *rates_json;  /* {"email": 50, ...} for incident_owe.lua */
    int s_open;        /* script handles */
    int s_owe;
    int s_resolve;
    uint64_t rng; /* incident ids */
};

/* ------------------------------------------------------------------ */
/* Bodies */

static kj_rc_t
s_fail(char *err, size_t err_size, kj_rc_t rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err_size)
        vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    return rc;
}

void
analytics_incident_req_clear(analytics_incident_req_t *req)
{
    if (!req)
        return;
    free(req->message_ja);
    free(req->message_en);
    json_decref(req->customers);
    memset(req, 0, sizeof *req);
}

/* {"ja": "...", "en": "..."}: either or both, not empty, bounded. */
static kj_rc_t
s_message(json_t *m, analytics_incident_req_t *out, char *err, size_t err_size)
{
    if (!m)
        return s_fail(err, err_size, KJ_ERR_MISSING_FIELD,
                      "message is required: {\"ja\": \"...\", \"en\": "
                      "\"...\"}");
    if (!json_is_object(m))
        return s_fail(err, err_size, KJ_ERR_WRONG_TYPE,
                      "message must be an object {\"ja\", \"en\"}");
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v)
    {
        if (strcmp(k, "ja") != 0 && strcmp(k, "en") != 0)
            return s_fail(err, err_size, KJ_ERR_UNKNOWN_FIELD,
                          "message takes ja and en only");
        if (!json_is_string(v))
            return s_fail(err, err_size, KJ_ERR_WRONG_TYPE,
                          "message.%s must be a string", k);
        if (json_string_length(v) > ANALYTICS_INCIDENT_TEXT_MAX)
            return s_fail(err, err_size, KJ_ERR_FIELD_TOO_LONG,
                          "message.%s is longer than %d bytes", k,
                          ANALYTICS_INCIDENT_TEXT_MAX);
        /* A NUL inside would be cut short as a Redis argument's C
         * string; refuse it rather than send half a message. */
        if (strlen(json_string_value(v)) != json_string_length(v))
            return s_fail(err, err_size, KJ_ERR_INVALID_VALUE,
                          "message.%s contains a NUL", k);
    }
    const char *ja = json_string_value(json_object_get(m, "ja"));
    const char *en = json_string_value(json_object_get(m, "en"));
    if ((!ja || !*ja) && (!en || !*en))
        return s_fail(err, err_size, KJ_ERR_EMPTY_TEXT,
                      "message needs a text in ja or en");
    out->message_ja = kj_strdup(ja ? ja : "");
    out->message_en = kj_strdup(en ? en : "");
    return KJ_OK;
}

static json_t *
s_load(const char *body, size_t len, char *err, size_t err_size, kj_rc_t *rc)
{
    if (!body || len == 0) {
        *rc = s_fail(err, err_size, KJ_ERR_INVALID_JSON, "empty body");
        return NULL;
    }
    if (len > ANALYTICS_INCIDENT_BODY_MAX) {
        *rc =
            s_fail(err, err_size, KJ_ERR_BODY_TOO_LARGE,
                   "body is larger than %d bytes", ANALYTICS_INCIDENT_BODY_MAX);
        return NULL;
    }
    json_error_t je;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        *rc = s_fail(err, err_size, KJ_ERR_INVALID_JSON, "body is not JSON: %s",
                     je.text);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        *rc = s_fail(err, err_size, KJ_ERR_WRONG_TYPE,
                     "body must be a JSON object");
        return NULL;
    }
    *rc = KJ_OK;
    return o;
}

/* A category names a key (B:cases_by:<category>): word characters. */
static bool
s_category_ok(const char *s, size_t len)
{
    if (len == 0 || len >= ANALYTICS_INCIDENT_CATEGORY_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

static kj_rc_t
s_time(json_t *v, const char *name, int64_t *ms, char *err, size_t err_size)
{
    if (!json_is_string(v))
        return s_fail(err, err_size, KJ_ERR_WRONG_TYPE,
                      "window.%s must be an RFC 3339 string", name);
    if (kj_time_parse_rfc3339(json_string_value(v), json_string_length(v),
                              ms) != 0)
        return s_fail(err, err_size, KJ_ERR_INVALID_TIME,
                      "window.%s is not an RFC 3339 time "
                      "(2026-12-08T09:00:00Z)",
                      name);
    return KJ_OK;
}

static kj_rc_t
s_window(json_t *w, int64_t now_ms, analytics_incident_req_t *out, char *err,
         size_t err_size)
{
    if (!json_is_object(w))
        return s_fail(err, err_size, KJ_ERR_WRONG_TYPE,
                      "window must be an object {\"from\", \"to\"}");
    const char *k;
    json_t *v;
    json_object_foreach(w, k, v)
    {
        if (strcmp(k, "from") != 0 && strcmp(k, "to") != 0)
            return s_fail(err, err_size, KJ_ERR_UNKNOWN_FIELD,
                          "window takes from and to only");
    }
    json_t *from = json_object_get(w, "from"), *to = json_object_get(w, "to");
    if (!from)
        return s_fail(err, err_size, KJ_ERR_MISSING_FIELD,
                      "window.from is required");
    kj_rc_t rc = s_time(from, "from", &out->from_ms, err, err_size);
    if (rc != KJ_OK)
        return rc;
    out->to_ms = now_ms;
    if (to && (rc = s_time(to, "to", &out->to_ms, err, err_size)) != KJ_OK)
        return rc;
    if (out->from_ms > out->to_ms)
        return s_fail(err, err_size, KJ_ERR_INVALID_VALUE,
                      "window.from is after window.to");
    return KJ_OK;
}

static kj_rc_t
s_customers(json_t *a, analytics_incident_req_t *out, char *err,
            size_t err_size)
{
    if (!json_is_array(a))
        return s_fail(err, err_size, KJ_ERR_WRONG_TYPE,
                      "customers must be an array of customer ids");
    if (json_array_size(a) > ANALYTICS_INCIDENT_CUSTOMERS_MAX)
        return s_fail(err, err_size, KJ_ERR_FIELD_TOO_LONG,
                      "customers lists more than %d ids",
                      ANALYTICS_INCIDENT_CUSTOMERS_MAX);
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        size_t n = json_string_length(v);
        if (!json_is_string(v) || n == 0 ||
            n > ANALYTICS_INCIDENT_CUSTOMER_MAX ||
            strlen(json_string_value(v)) != n)
            return s_fail(err, err_size, KJ_ERR_INVALID_VALUE,
                          "customers[%zu] must be a customer id (1 to %d "
                          "bytes, no NUL)",
                          i, ANALYTICS_INCIDENT_CUSTOMER_MAX);
    }
    out->customers = json_incref(a);
    return KJ_OK;
}

kj_rc_t
analytics_incident_parse_open(const char *body, size_t len, int64_t now_ms,
                              analytics_incident_req_t *out, char *err,
                              size_t err_size)
{
    memset(out, 0, sizeof *out);
    if (err_size)
        err[0] = '\0';
    kj_rc_t rc;
    json_t *o = s_load(body, len, err, err_size, &rc);
    if (!o)
        return rc;
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        if (strcmp(k, "product") == 0 || strcmp(k, "region") == 0) {
            rc = s_fail(err, err_size, KJ_ERR_INVALID_VALUE,
                        "%s needs complaint attributes, which complaints do "
                        "not carry yet (issue 14): name a category and/or "
                        "list the customers",
                        k);
            goto out;
        }
        if (strcmp(k, "category") != 0 && strcmp(k, "window") != 0 &&
            strcmp(k, "customers") != 0 && strcmp(k, "title") != 0 &&
            strcmp(k, "message") != 0) {
            rc = s_fail(err, err_size, KJ_ERR_UNKNOWN_FIELD,
                        "unknown field \"%.64s\"", k);
            goto out;
        }
    }
    json_t *cat = json_object_get(o, "category");
    if (cat) {
        if (!json_is_string(cat) ||
            !s_category_ok(json_string_value(cat), json_string_length(cat))) {
            rc = s_fail(err, err_size, KJ_ERR_INVALID_VALUE,
                        "category must be a category name (letters, digits, "
                        "_ - ., up to %d bytes)",
                        ANALYTICS_INCIDENT_CATEGORY_MAX - 1);
            goto out;
        }
        kj_strlcpy(out->category, json_string_value(cat), sizeof out->category);
    }
    json_t *w = json_object_get(o, "window");
    if (w && !cat) {
        rc = s_fail(err, err_size, KJ_ERR_INVALID_VALUE,
                    "window selects a category's cases: name the category");
        goto out;
    }
    if (cat && !w) {
        rc = s_fail(err, err_size, KJ_ERR_MISSING_FIELD,
                    "window is required with a category: {\"from\": "
                    "RFC 3339, \"to\": RFC 3339 (default now)}");
        goto out;
    }
    if (w && (rc = s_window(w, now_ms, out, err, err_size)) != KJ_OK)
        goto out;
    json_t *cs = json_object_get(o, "customers");
    if (cs && (rc = s_customers(cs, out, err, err_size)) != KJ_OK)
        goto out;
    if (!out->customers)
        out->customers = json_array();
    if (!cat && json_array_size(out->customers) == 0) {
        rc = s_fail(err, err_size, KJ_ERR_MISSING_FIELD,
                    "name a category (with a window) or list customers");
        goto out;
    }
    json_t *t = json_object_get(o, "title");
    if (t) {
        if (!json_is_string(t) ||
            json_string_length(t) > ANALYTICS_INCIDENT_TITLE_MAX ||
            strlen(json_string_value(t)) != json_string_length(t)) {
            rc = s_fail(err, err_size, KJ_ERR_INVALID_VALUE,
                        "title must be a string of up to %d bytes",
                        ANALYTICS_INCIDENT_TITLE_MAX);
            goto out;
        }
        kj_strlcpy(out->title, json_string_value(t), sizeof out->title);
    }
    rc = s_message(json_object_get(o, "message"), out, err, err_size);
out:
    json_decref(o);
    return rc;
}

kj_rc_t
analytics_incident_parse_resolve(const char *body, size_t len,
                                 analytics_incident_req_t *out, char *err,
                                 size_t err_size)
{
    memset(out, 0, sizeof *out);
    if (err_size)
        err[0] = '\0';
    kj_rc_t rc;
    json_t *o = s_load(body, len, err, err_size, &rc);
    if (!o)
        return rc;
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        if (strcmp(k, "message") != 0) {
            /* The message quotes k, which o owns: free o after. */
            rc = s_fail(err, err_size, KJ_ERR_UNKNOWN_FIELD,
                        "unknown field \"%.64s\" (a resolve takes message)",
                        k);
            json_decref(o);
            return rc;
        }
    }
    rc = s_message(json_object_get(o, "message"), out, err, err_size);
    json_decref(o);
    return rc;
}

bool
analytics_incident_idem_ok(const char *key, size_t len)
{
    if (!key || len == 0 || len > 128)
        return false;
    for (size_t i = 0; i < len; i++)
        if (key[i] <= ' ' || key[i] > '~' || key[i] == '{' || key[i] == '}')
            return false;
    return true;
}

/* ------------------------------------------------------------------ */
/* Redis */

analytics_incidents_t *
analytics_incidents_new(kj_redis_t *redis, const char *prefix,
                        const kj_outbox_rate_t *rates, size_t n_rates)
{
    kj_assert(redis);
    analytics_incidents_t *self = kj_calloc(1, sizeof *self);
    self->redis = redis;
    kj_strlcpy(self->prefix, prefix ? prefix : "kj", sizeof self->prefix);
    json_t *r = json_object();
    for (size_t i = 0; i < n_rates; i++)
        json_object_set_new(r, rates[i].channel, json_real(rates[i].per_s));
    self->rates_json = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    kj_assert(self->rates_json);
    self->s_open = kj_redis_script_add(redis, kj_lua_incident_open);
    self->s_owe = kj_redis_script_add(redis, kj_lua_incident_owe);
    self->s_resolve = kj_redis_script_add(redis, kj_lua_incident_resolve);
    self->rng = (uint64_t)kj_now_ms() ^ ((uint64_t)getpid() << 32) ^
                (uint64_t)(uintptr_t)self;
    return self;
}

void
analytics_incidents_destroy(analytics_incidents_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->rates_json);
    free(*self_p);
    *self_p = NULL;
}

/* "<prefix>:{t:<tenant>}"; -1 if tenant cannot be in a hash tag. */
static int
s_base(const analytics_incidents_t *self, const char *tenant, char *base)
{
    if (!tenant || !*tenant || strpbrk(tenant, "{}\t") ||
        strlen(tenant) >= KJ_OUTBOX_TENANT_MAX)
        return -1;
    snprintf(base, S_BASE_MAX, "%s:{t:%s}", self->prefix, tenant);
    return 0;
}

/* One script call; the reply (caller frees) or NULL, logged. */
static redisReply *
s_eval(analytics_incidents_t *self, int script, const char *op,
       const char **argv, int argc)
{
    kj_redis_eval_t e = {.nkeys = 1, .argc = argc, .argv = argv};
    if (kj_redis_eval_batch(self->redis, script, &e, 1) != 0 || !e.reply) {
        kj_redis_eval_clear(&e, 1);
        kj_error("redis failed", "s:op", op, "s:error",
                 kj_redis_errstr(self->redis));
        return NULL;
    }
    if (e.reply->type == REDIS_REPLY_ERROR) {
        kj_error("redis script failed", "s:op", op, "s:error", e.reply->str);
        kj_redis_eval_clear(&e, 1);
        return NULL;
    }
    return e.reply;
}

/* A simple command's reply type check: 0 or -1 (logged). */
static int
s_cmd_ok(analytics_incidents_t *self, redisReply *r, const char *op)
{
    int rc = r && r->type != REDIS_REPLY_ERROR ? 0 : -1;
    if (rc < 0)
        kj_error("redis failed", "s:op", op, "s:error",
                 r ? r->str : kj_redis_errstr(self->redis));
    freeReplyObject(r);
    return rc;
}

/* "<tenant>\t<id>\t<kind>": a broadcast owed and not finished. */
static int
s_pending(analytics_incidents_t *self, bool add, const char *tenant,
          const char *id, const char *kind)
{
    char key[96], member[KJ_OUTBOX_TENANT_MAX + KJ_ID_LEN + 40];
    snprintf(key, sizeof key, "%s:incident_broadcasts", self->prefix);
    snprintf(member, sizeof member, "%s\t%s\t%s", tenant, id, kind);
    return s_cmd_ok(self,
                    kj_redis_command(self->redis, "%s %s %s",
                                     add ? "SADD" : "SREM", key, member),
                    add ? "incident_pending_add" : "incident_pending_done");
}

/* Owe kind to every member of incident id, a batch per script, from the
 * cursor on. 0 done, -1 Redis failed (the broadcast stays pending). */
static int
s_broadcast(analytics_incidents_t *self, const char *tenant, const char *id,
            const char *kind, int64_t now_ms)
{
    char base[S_BASE_MAX], key[S_KEY_MAX], now[24], n[16];
    if (s_base(self, tenant, base) < 0 || !kj_id_valid(id) ||
        (strcmp(kind, s_kinds[0]) != 0 && strcmp(kind, s_kinds[1]) != 0)) {
        kj_warn("incident broadcast not owed: bad tenant, id or kind",
                "s:incident", id, "s:kind", kind);
        return s_pending(self, false, tenant, id, kind);
    }
    snprintf(key, sizeof key, "%s:incident:%s", base, id);
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    snprintf(n, sizeof n, "%d", ANALYTICS_INCIDENT_BATCH);
    /* The notifier sweeps the outboxes of <prefix>:tenants only. */
    char tenants[96];
    snprintf(tenants, sizeof tenants, "%s:tenants", self->prefix);
    if (s_cmd_ok(self,
                 kj_redis_command(self->redis, "SADD %s %s", tenants, tenant),
                 "incident_tenant") < 0)
        return -1;
    const char *argv[] = {key,   base, id, kind, now, n, self->rates_json,
                          tenant};
    long long owed = 0;
    for (int round = 0;
         round <= ANALYTICS_INCIDENT_MEMBERS_MAX / ANALYTICS_INCIDENT_BATCH + 1;
         round++) {
        redisReply *r = s_eval(self, self->s_owe, "incident_owe", argv,
                               (int)KJ_ARRAY_LEN(argv));
        if (!r)
            return -1;
        bool ok = r->type == REDIS_REPLY_ARRAY && r->elements == 3;
        long long got = ok ? r->element[0]->integer : -1;
        bool done = ok && r->element[2]->integer == 1;
        freeReplyObject(r);
        if (got < 0) /* the incident is gone: nothing more to owe */
            break;
        owed += got;
        if (done)
            break;
    }
    kj_info("incident broadcast owed", "s:incident", id, "s:kind", kind,
            "l:owed", owed);
    return s_pending(self, false, tenant, id, kind);
}

int
analytics_incidents_open(analytics_incidents_t *self, const char *tenant,
                         const analytics_incident_req_t *req, const char *idem,
                         int64_t now_ms, char id[KJ_ID_LEN + 1], bool *created)
{
    char base[S_BASE_MAX], key[S_KEY_MAX], now[24], from[24], to[24], max[16],
        ttl[16];
    *created = false;
    if (s_base(self, tenant, base) < 0)
        return -1;
    char fresh[KJ_ID_LEN + 1];
    kj_id_new(fresh, now_ms, -1, &self->rng);
    snprintf(key, sizeof key, "%s:incidents", base);
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    snprintf(from, sizeof from, "%lld", (long long)req->from_ms);
    snprintf(to, sizeof to, "%lld", (long long)req->to_ms);
    snprintf(max, sizeof max, "%d", ANALYTICS_INCIDENT_MEMBERS_MAX);
    snprintf(ttl, sizeof ttl, "%d", S_IDEM_TTL_S);
    char *customers = json_dumps(req->customers, JSON_COMPACT);
    kj_assert(customers);
    const char *argv[] = {key,
                          base,
                          fresh,
                          now,
                          idem ? idem : "",
                          req->title,
                          req->category,
                          from,
                          to,
                          req->message_ja ? req->message_ja : "",
                          req->message_en ? req->message_en : "",
                          customers,
                          max,
                          ttl};
    redisReply *r = s_eval(self, self->s_open, "incident_open", argv,
                           (int)KJ_ARRAY_LEN(argv));
    free(customers);
    if (!r)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[0]->len != KJ_ID_LEN) {
        freeReplyObject(r);
        kj_error("redis script failed", "s:op", "incident_open", "s:error",
                 "unexpected reply");
        return -1;
    }
    kj_strlcpy(id, r->element[0]->str, KJ_ID_LEN + 1);
    *created = r->element[1]->integer == 1;
    int64_t members = r->element[2]->integer;
    freeReplyObject(r);
    if (*created)
        kj_info("incident opened", "s:tenant", tenant, "s:incident", id,
                "s:category", req->category, "l:members", (long long)members);
    /* Listed before the first batch, so that a crash from here on leaves
     * it for analytics_incidents_resume; a repeat (same key) resumes a
     * broadcast that stopped, and owes nothing twice. */
    if (s_pending(self, true, tenant, id, "incident_notice") < 0)
        return -1;
    return s_broadcast(self, tenant, id, "incident_notice", now_ms);
}

int
analytics_incidents_resolve(analytics_incidents_t *self, const char *tenant,
                            const char *id, const analytics_incident_req_t *req,
                            int64_t now_ms)
{
    char base[S_BASE_MAX], key[S_KEY_MAX], now[24];
    if (s_base(self, tenant, base) < 0 || !kj_id_valid(id))
        return 0;
    snprintf(key, sizeof key, "%s:incident:%s", base, id);
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    const char *argv[] = {key, now, req->message_ja ? req->message_ja : "",
                          req->message_en ? req->message_en : ""};
    redisReply *r = s_eval(self, self->s_resolve, "incident_resolve", argv,
                           (int)KJ_ARRAY_LEN(argv));
    if (!r)
        return -1;
    long long rc = r->type == REDIS_REPLY_INTEGER ? r->integer : -2;
    freeReplyObject(r);
    if (rc == -1)
        return 0;
    if (rc < -1)
        return -1;
    if (rc == 1)
        kj_info("incident resolved", "s:tenant", tenant, "s:incident", id);
    if (s_pending(self, true, tenant, id, "incident_resolved") < 0)
        return -1;
    return s_broadcast(self, tenant, id, "incident_resolved", now_ms) < 0 ? -1
                                                                          : 1;
}

/* field of an HGETALL reply, or NULL. */
static const char *
s_field(const redisReply *h, const char *name)
{
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (h->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(h->element[i]->str, name) == 0 &&
            h->element[i + 1]->type == REDIS_REPLY_STRING)
            return h->element[i + 1]->str;
    return NULL;
}

static json_int_t
s_int(const redisReply *h, const char *name)
{
    const char *v = s_field(h, name);
    return v ? (json_int_t)strtoll(v, NULL, 10) : 0;
}

static json_t *
s_time_json(const char *ms)
{
    if (!ms || !*ms)
        return json_null();
    char buf[KJ_TIME_RFC3339_LEN];
    kj_time_rfc3339(strtoll(ms, NULL, 10), buf, sizeof buf);
    return json_string(buf);
}

/* The incident hash h as the API shows it. */
static json_t *
s_incident_json(const redisReply *h, const char *tenant)
{
    const char *status = s_field(h, "status");
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:o, s:{s:s, s:s}, s:I}", "id",
        s_field(h, "id") ? s_field(h, "id") : "", "tenant", tenant, "status",
        status ? status : "", "title",
        s_field(h, "title") ? s_field(h, "title") : "", "category",
        s_field(h, "category") ? s_field(h, "category") : "", "opened_at",
        s_time_json(s_field(h, "opened_ms")), "message", "ja",
        s_field(h, "message_ja") ? s_field(h, "message_ja") : "", "en",
        s_field(h, "message_en") ? s_field(h, "message_en") : "",
        "members_total", s_int(h, "members"));
    const char *cat = s_field(h, "category");
    if (cat && *cat)
        json_object_set_new(o, "window",
                            json_pack("{s:o, s:o}", "from",
                                      s_time_json(s_field(h, "from_ms")), "to",
                                      s_time_json(s_field(h, "to_ms"))));
    json_object_set_new(o, "resolved_at",
                        s_time_json(s_field(h, "resolved_ms")));
    for (size_t k = 0; k < KJ_ARRAY_LEN(s_kinds); k++) {
        char f[64];
        json_t *b = json_object();
        snprintf(f, sizeof f, "%s_owed", s_kinds[k]);
        json_object_set_new(b, "owed", json_integer(s_int(h, f)));
        snprintf(f, sizeof f, "%s_skipped", s_kinds[k]);
        json_object_set_new(b, "skipped", json_integer(s_int(h, f)));
        snprintf(f, sizeof f, "%s_done", s_kinds[k]);
        json_object_set_new(b, "done", json_boolean(s_int(h, f) == 1));
        json_object_set_new(o, k == 0 ? "notices" : "follow_ups", b);
    }
    return o;
}

int
analytics_incidents_get(analytics_incidents_t *self, const char *tenant,
                        const char *id, bool with_members, json_t **out)
{
    char base[S_BASE_MAX], key[S_KEY_MAX], sub[S_KEY_MAX + 16];
    *out = NULL;
    if (s_base(self, tenant, base) < 0 || !kj_id_valid(id))
        return 0;
    snprintf(key, sizeof key, "%s:incident:%s", base, id);
    redisReply *h = kj_redis_command(self->redis, "HGETALL %s", key);
    if (!h || h->type != REDIS_REPLY_ARRAY) {
        s_cmd_ok(self, h, "incident_get");
        return -1;
    }
    if (h->elements == 0) {
        freeReplyObject(h);
        return 0;
    }
    json_t *o = s_incident_json(h, tenant);
    freeReplyObject(h);
    if (!with_members) {
        *out = o;
        return 1;
    }
    snprintf(sub, sizeof sub, "%s:members", key);
    redisReply *m = kj_redis_command(self->redis, "ZRANGE %s 0 %d", sub,
                                     S_LIST_MEMBERS - 1);
    snprintf(sub, sizeof sub, "%s:timeline", key);
    redisReply *t = kj_redis_command(self->redis, "LRANGE %s 0 %d", sub,
                                     S_TIMELINE_MAX - 1);
    if (!m || m->type != REDIS_REPLY_ARRAY || !t ||
        t->type != REDIS_REPLY_ARRAY) {
        s_cmd_ok(self, m && m->type == REDIS_REPLY_ARRAY ? NULL : m,
                 "incident_members");
        if (m && m->type == REDIS_REPLY_ARRAY)
            freeReplyObject(m);
        freeReplyObject(t);
        json_decref(o);
        return -1;
    }
    json_t *members = json_array();
    for (size_t i = 0; i < m->elements; i++)
        if (m->element[i]->type == REDIS_REPLY_STRING)
            json_array_append_new(members, json_string(m->element[i]->str));
    json_t *timeline = json_array();
    for (size_t i = 0; i < t->elements; i++) {
        if (t->element[i]->type != REDIS_REPLY_STRING)
            continue;
        json_t *e = json_loads(t->element[i]->str, 0, NULL);
        if (!json_is_object(e)) {
            json_decref(e);
            continue;
        }
        json_t *at = json_object_get(e, "at_ms");
        if (json_is_number(at)) {
            char buf[KJ_TIME_RFC3339_LEN];
            kj_time_rfc3339((int64_t)json_number_value(at), buf, sizeof buf);
            json_object_set_new(e, "at", json_string(buf));
            json_object_del(e, "at_ms");
        }
        json_array_append_new(timeline, e);
    }
    freeReplyObject(m);
    freeReplyObject(t);
    json_object_set_new(o, "members", members);
    json_object_set_new(o, "timeline", timeline);
    *out = o;
    return 1;
}

int
analytics_incidents_list(analytics_incidents_t *self, const char *tenant,
                         size_t limit, json_t **out)
{
    char base[S_BASE_MAX], key[S_KEY_MAX];
    json_t *list = json_array();
    *out = json_pack("{s:o}", "incidents", list);
    if (s_base(self, tenant, base) < 0)
        return 0;
    snprintf(key, sizeof key, "%s:incidents", base);
    redisReply *ids = kj_redis_command(self->redis,
                                       "ZRANGE %s +inf -inf BYSCORE REV "
                                       "LIMIT 0 %llu",
                                       key, (unsigned long long)limit);
    if (!ids || ids->type != REDIS_REPLY_ARRAY) {
        s_cmd_ok(self, ids, "incident_list");
        json_decref(*out);
        *out = NULL;
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < ids->elements; i++) {
        json_t *o = NULL;
        if (ids->element[i]->type != REDIS_REPLY_STRING)
            continue;
        int got = analytics_incidents_get(self, tenant, ids->element[i]->str,
                                          false, &o);
        if (got < 0) {
            rc = -1;
            break;
        }
        if (got == 1)
            json_array_append_new(list, o);
    }
    freeReplyObject(ids);
    if (rc < 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int
analytics_incidents_resume(analytics_incidents_t *self, int64_t now_ms)
{
    char key[96];
    snprintf(key, sizeof key, "%s:incident_broadcasts", self->prefix);
    redisReply *r = kj_redis_command(self->redis, "SMEMBERS %s", key);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        s_cmd_ok(self, r, "incident_resume");
        return -1;
    }
    int n = 0;
    for (size_t i = 0; i < r->elements; i++) {
        char m[KJ_OUTBOX_TENANT_MAX + KJ_ID_LEN + 40];
        if (r->element[i]->type != REDIS_REPLY_STRING ||
            r->element[i]->len >= sizeof m)
            continue;
        memcpy(m, r->element[i]->str, r->element[i]->len + 1);
        char *t1 = strchr(m, '\t');
        char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2)
            continue;
        *t1 = *t2 = '\0';
        if (s_broadcast(self, m, t1 + 1, t2 + 1, now_ms) < 0) {
            freeReplyObject(r);
            return -1;
        }
        n++;
    }
    freeReplyObject(r);
    return n;
}
