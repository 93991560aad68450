#include "analytics_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>

#include "analytics_consumer.h"
#include "analytics_count.h"
#include "analytics_incident.h"
#include "kj_apikey.h"
#include "kj_http.h"
#include "kj_http_guard.h"
#include "kj_id.h"
#include "kj_keys.h"
#include "kj_log.h"
#include "kj_rc.h"
#include "kj_redis.h"
#include "kj_util.h"

/* Bounds for a small read-only API. */
#define S_MAX_CONNECTIONS 256
#define S_CONNECTION_TIMEOUT_S 10
#define S_REDIS_TIMEOUT_MS 1000

struct analytics_api {
    struct MHD_Daemon *daemon;        /* the polling thread */
    kj_redis_t *redis;                /* used only on the MHD thread */
    char stats[KJ_PARTITIONS][128];   /* stats hash per partition */
    char sla[KJ_PARTITIONS][128];     /* SLA hash per partition */
    kj_metrics_t *metrics;            /* borrowed */
    kj_counter_t *answers[6];         /* http_requests_total{code} */
    bool keys;                        /* KUJO_AUTH=keys: an admin key */
    char prefix[64];                  /* where the keys are */
    analytics_incidents_t *incidents; /* on redis, the MHD thread's */
};

/* A request in progress: its tenant (from the key) and its body. */
typedef struct {
    char tenant[KJ_APIKEY_TENANT_MAX + 1];
    char *body; /* what came so far, NUL-terminated */
    size_t len;
    bool too_big; /* more than ANALYTICS_INCIDENT_BODY_MAX: refused */
} s_req_t;

#define S_LIST_MAX 100 /* incidents GET /v1/incidents lists */

/* The codes this API answers, in the order of answers[]. */
static const unsigned s_codes[] = {200, 201, 400, 404, 405, 503};

static void
s_count(analytics_api_t *self, unsigned status)
{
    for (size_t i = 0; i < KJ_ARRAY_LEN(s_codes); i++)
        if (s_codes[i] == status) {
            kj_counter_inc(self->answers[i]);
            return;
        }
    char labels[32];
    snprintf(labels, sizeof labels, "code=\"%u\"", status);
    kj_counter_inc(kj_metrics_counter(self->metrics, "http_requests_total",
                                      "API answers by status", labels));
}

/* Sum the 16 counter hashes and the 16 SLA hashes in one pipelined round
 * trip into stats. 0 or -1. */
/* Keys 0..KJ_PARTITIONS-1 are the stats hashes, the rest the SLA ones. */
static void
s_add_field(void *ctx, size_t k, const char *field, size_t flen,
            const char *value, size_t vlen)
{
    if (k < KJ_PARTITIONS)
        analytics_stats_add(ctx, field, flen, value, vlen);
    else
        analytics_stats_add_sla(ctx, field, flen, value, vlen);
}

#define S_SURVEY_TENANTS_MAX 1024 /* tenants whose surveys are summed */

/* Keys of the survey counters: k is the tenant's index. */
typedef struct {
    analytics_stats_t *stats;
    char **tenants;
} s_survey_ctx_t;

static void
s_add_survey(void *ctx, size_t k, const char *field, size_t flen,
             const char *value, size_t vlen)
{
    s_survey_ctx_t *sc = ctx;
    analytics_stats_add_survey(sc->stats, sc->tenants[k], field, flen, value,
                               vlen);
}

/* Every tenant's survey counters ("<prefix>:{t:<tenant>}:survey", which
 * feedback_record.lua writes, once per answer), tenants from
 * <prefix>:tenants: one SMEMBERS and one pipelined HGETALL each. */
static int
s_fetch_surveys(analytics_api_t *self, analytics_stats_t *stats)
{
    redisReply *r =
        kj_redis_command(self->redis, "SMEMBERS %s:tenants", self->prefix);
    if (!r)
        return -1;
    int rc = -1;
    size_t n = 0;
    char **tenants = NULL;
    char **keys = NULL;
    if (r->type != REDIS_REPLY_ARRAY)
        goto out;
    tenants = kj_calloc(r->elements + 1, sizeof *tenants);
    keys = kj_calloc(r->elements + 1, sizeof *keys);
    for (size_t i = 0; i < r->elements && n < S_SURVEY_TENANTS_MAX; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING || strpbrk(e->str, "{}"))
            continue;
        size_t kl = strlen(self->prefix) + e->len + 16;
        keys[n] = kj_malloc(kl);
        snprintf(keys[n], kl, "%s:{t:%s}:survey", self->prefix, e->str);
        tenants[n++] = kj_strdup(e->str);
    }
    s_survey_ctx_t sc = {.stats = stats, .tenants = tenants};
    rc = n == 0 ? 0
                : kj_redis_hgetall_each(self->redis, (const char *const *)keys,
                                        n, s_add_survey, &sc);
out:
    for (size_t i = 0; i < n; i++) {
        free(keys[i]);
        free(tenants[i]);
    }
    free(keys);
    free(tenants);
    freeReplyObject(r);
    return rc;
}

static int
s_fetch(analytics_api_t *self, analytics_stats_t *stats)
{
    const char *keys[2 * KJ_PARTITIONS];
    for (int p = 0; p < KJ_PARTITIONS; p++) {
        keys[p] = self->stats[p];
        keys[KJ_PARTITIONS + p] = self->sla[p];
    }
    if (kj_redis_hgetall_each(self->redis, keys, KJ_ARRAY_LEN(keys),
                              s_add_field, stats) < 0)
        return -1;
    return s_fetch_surveys(self, stats);
}

/* An error body whose code and status both come from rc, counted. */
static enum MHD_Result
s_error(analytics_api_t *self, struct MHD_Connection *c, kj_rc_t rc,
        const char *msg)
{
    unsigned status = kj_rc_http_status(rc);
    if (status == 0) /* an rc with no HTTP meaning is a bug of ours */
        status = 500;
    s_count(self, status);
    return kj_http_error(c, status, kj_rc_name(rc), msg);
}

static enum MHD_Result
s_stats(analytics_api_t *self, struct MHD_Connection *c)
{
    analytics_stats_t *stats = analytics_stats_new();
    enum MHD_Result rc;
    bool was_up = kj_redis_connected(self->redis);
    int got = s_fetch(self, stats);
    if (got < 0 && was_up && !kj_redis_connected(self->redis)) {
        /* The connection was dropped under us (Redis restarted, an idle
         * peer cut it): this API reads only when asked, so the first read
         * after a restart is the one that finds out. Reconnect and read
         * once more, into fresh sums, before answering 503. */
        analytics_stats_destroy(&stats);
        stats = analytics_stats_new();
        got = s_fetch(self, stats);
    }
    if (got < 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "redis unavailable: %s",
                 kj_redis_errstr(self->redis));
        rc = s_error(self, c, KJ_ERR_UNAVAILABLE, msg);
        goto out;
    }
    char *body = analytics_stats_render(stats);
    s_count(self, 200);
    rc = kj_http_reply(c, 200, "application/json", body, strlen(body));
    free(body);
out:
    analytics_stats_destroy(&stats);
    return rc;
}

/* 401 (with WWW-Authenticate) or 403 into *refused and false, unless the
 * request carries a live key with the admin scope: the counts are every
 * tenant's. Stats are read rarely, so there is no cache: a revoked key
 * is refused at once. */
static bool
s_authorized(analytics_api_t *self, struct MHD_Connection *c,
             char tenant[KJ_APIKEY_TENANT_MAX + 1], enum MHD_Result *refused)
{
    const char *value = NULL;
    size_t len = 0;
    if (MHD_lookup_connection_value_n(c, MHD_HEADER_KIND, "Authorization",
                                      sizeof "Authorization" - 1, &value,
                                      &len) != MHD_YES)
        value = NULL;
    char key[KJ_APIKEY_LEN + 1], id[KJ_APIKEY_ID_LEN + 1], msg[256];
    kj_apikey_info_t info;
    int found = 0;
    if (kj_apikey_parse_header(value, len, key, id, msg, sizeof msg) == 0) {
        found = kj_apikey_lookup(self->redis, self->prefix, key, &info);
        if (found < 0) {
            *refused = s_error(self, c, KJ_ERR_UNAVAILABLE,
                               "redis unavailable: cannot check the API key");
            return false;
        }
        if (found == 0)
            snprintf(msg, sizeof msg, "unknown or revoked API key");
    }
    if (found == 1 && !(info.scopes & KJ_SCOPE_ADMIN)) {
        *refused = s_error(self, c, KJ_ERR_FORBIDDEN,
                           "this API needs an API key with the scope admin");
        return false;
    }
    if (found == 1) {
        /* Incidents are the key's tenant's; the stats every tenant's. */
        kj_strlcpy(tenant, info.tenant, KJ_APIKEY_TENANT_MAX + 1);
        return true;
    }
    struct MHD_Response *r = NULL;
    unsigned status = kj_rc_http_status(KJ_ERR_UNAUTHORIZED);
    s_count(self, status);
    json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code",
                          kj_rc_name(KJ_ERR_UNAUTHORIZED), "message", msg);
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (body)
        r = MHD_create_response_from_buffer(strlen(body), body,
                                            MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        *refused = MHD_NO;
        return false;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    *refused = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return false;
}

/* A JSON answer, counted; body is taken (freed). */
static enum MHD_Result
s_json(analytics_api_t *self, struct MHD_Connection *c, unsigned status,
       json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        return s_error(self, c, KJ_ERR_INTERNAL, "answer not encoded");
    s_count(self, status);
    enum MHD_Result rc =
        kj_http_reply(c, status, "application/json", text, strlen(text));
    free(text);
    return rc;
}

static enum MHD_Result
s_redis_down(analytics_api_t *self, struct MHD_Connection *c)
{
    char msg[300];
    snprintf(msg, sizeof msg, "redis unavailable: %s",
             kj_redis_errstr(self->redis));
    return s_error(self, c, KJ_ERR_UNAVAILABLE, msg);
}

/* POST /v1/incidents: open one and owe its notices. */
static enum MHD_Result
s_incident_open(analytics_api_t *self, struct MHD_Connection *c,
                const s_req_t *rq)
{
    char err[512], id[KJ_ID_LEN + 1];
    const char *idem = NULL;
    size_t idem_len = 0;
    if (MHD_lookup_connection_value_n(c, MHD_HEADER_KIND, "Idempotency-Key",
                                      sizeof "Idempotency-Key" - 1, &idem,
                                      &idem_len) != MHD_YES)
        idem = NULL;
    if (idem && !analytics_incident_idem_ok(idem, idem_len))
        return s_error(self, c, KJ_ERR_INVALID_IDEM_KEY,
                       "Idempotency-Key must be 1 to 128 printable ASCII "
                       "characters without spaces or braces");
    analytics_incident_req_t req;
    int64_t now = kj_now_ms();
    kj_rc_t rc = analytics_incident_parse_open(rq->body, rq->len, now, &req,
                                               err, sizeof err);
    if (rc != KJ_OK) {
        analytics_incident_req_clear(&req);
        return s_error(self, c, rc, err);
    }
    bool created = false;
    int got = analytics_incidents_open(self->incidents, rq->tenant, &req, idem,
                                       now, id, &created);
    analytics_incident_req_clear(&req);
    if (got < 0)
        return s_redis_down(self, c);
    json_t *o = NULL;
    if (analytics_incidents_get(self->incidents, rq->tenant, id, false, &o) !=
        1)
        return s_redis_down(self, c);
    return s_json(self, c, created ? 201 : 200, o);
}

/* POST /v1/incidents/{id}/resolve */
static enum MHD_Result
s_incident_resolve(analytics_api_t *self, struct MHD_Connection *c,
                   const s_req_t *rq, const char *id)
{
    char err[512];
    analytics_incident_req_t req;
    kj_rc_t rc = analytics_incident_parse_resolve(rq->body, rq->len, &req, err,
                                                  sizeof err);
    if (rc != KJ_OK) {
        analytics_incident_req_clear(&req);
        return s_error(self, c, rc, err);
    }
    int got = analytics_incidents_resolve(self->incidents, rq->tenant, id, &req,
                                          kj_now_ms());
    analytics_incident_req_clear(&req);
    if (got < 0)
        return s_redis_down(self, c);
    if (got == 0)
        return s_error(self, c, KJ_ERR_NOT_FOUND, "no such incident");
    json_t *o = NULL;
    if (analytics_incidents_get(self->incidents, rq->tenant, id, false, &o) !=
        1)
        return s_redis_down(self, c);
    return s_json(self, c, 200, o);
}

/* GET /v1/incidents and /v1/incidents/{id} */
static enum MHD_Result
s_incident_get(analytics_api_t *self, struct MHD_Connection *c,
               const s_req_t *rq, const char *id)
{
    json_t *o = NULL;
    if (!id) {
        if (analytics_incidents_list(self->incidents, rq->tenant, S_LIST_MAX,
                                     &o) < 0)
            return s_redis_down(self, c);
        return s_json(self, c, 200, o);
    }
    int got =
        analytics_incidents_get(self->incidents, rq->tenant, id, true, &o);
    if (got < 0)
        return s_redis_down(self, c);
    if (got == 0)
        return s_error(self, c, KJ_ERR_NOT_FOUND, "no such incident");
    return s_json(self, c, 200, o);
}

/* What url names: 0 stats, 1 incidents, 2 one incident, 3 its resolve,
 * -1 nothing. id[] gets the incident id. */
static int
s_route(const char *url, char id[KJ_ID_LEN + 1])
{
    static const char inc[] = "/v1/incidents";
    if (strcmp(url, "/v1/stats") == 0)
        return 0;
    if (strncmp(url, inc, sizeof inc - 1) != 0)
        return -1;
    const char *p = url + sizeof inc - 1;
    if (*p == '\0')
        return 1;
    if (*p != '/')
        return -1;
    p++;
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (n != KJ_ID_LEN)
        return -1;
    memcpy(id, p, n);
    id[n] = '\0';
    if (!kj_id_valid(id))
        return -1;
    if (!slash)
        return 2;
    return strcmp(slash, "/resolve") == 0 ? 3 : -1;
}

static enum MHD_Result
s_handler(void *cls, struct MHD_Connection *c, const char *url,
          const char *method, const char *version, const char *upload_data,
          size_t *upload_data_size, void **con_cls)
{
    analytics_api_t *self = cls;
    s_req_t *rq = *con_cls;
    char id[KJ_ID_LEN + 1] = "";
    int route = s_route(url, id);
    if (rq) {
        /* A POST's body, then (size 0) its end. */
        if (*upload_data_size) {
            size_t n = *upload_data_size;
            if (!rq->too_big && rq->len + n <= ANALYTICS_INCIDENT_BODY_MAX) {
                rq->body = kj_realloc(rq->body, rq->len + n + 1);
                memcpy(rq->body + rq->len, upload_data, n);
                rq->len += n;
                rq->body[rq->len] = '\0';
            } else {
                rq->too_big = true;
            }
            *upload_data_size = 0;
            return MHD_YES;
        }
        if (rq->too_big)
            return s_error(self, c, KJ_ERR_BODY_TOO_LARGE,
                           "body is larger than 1 MiB");
        return route == 1 ? s_incident_open(self, c, rq)
                          : s_incident_resolve(self, c, rq, id);
    }
    /* The request line and headers decide everything but a POST's
     * answer, so refusals are queued on the first call. */
    if (route < 0)
        return s_error(self, c, KJ_ERR_NOT_FOUND, "no such resource");
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    if (route == 0 && !get)
        return s_error(self, c, KJ_ERR_METHOD_NOT_ALLOWED,
                       "/v1/stats answers GET only");
    if (route == 1 && !get && !post)
        return s_error(self, c, KJ_ERR_METHOD_NOT_ALLOWED,
                       "/v1/incidents answers GET and POST");
    if (route == 2 && !get)
        return s_error(self, c, KJ_ERR_METHOD_NOT_ALLOWED,
                       "/v1/incidents/{id} answers GET only");
    if (route == 3 && !post)
        return s_error(self, c, KJ_ERR_METHOD_NOT_ALLOWED,
                       "/v1/incidents/{id}/resolve answers POST only");
    const char *why = NULL;
    kj_rc_t bad = kj_http_guard_connection(c, version, &why);
    if (bad != KJ_OK)
        return s_error(self, c, bad, why);
    s_req_t first = {.tenant = "default"};
    if (self->keys) {
        enum MHD_Result refused;
        if (!s_authorized(self, c, first.tenant, &refused))
            return refused;
    }
    if (route == 0)
        return s_stats(self, c);
    if (get)
        return s_incident_get(self, c, &first, route == 2 ? id : NULL);
    rq = kj_calloc(1, sizeof *rq);
    *rq = first;
    *con_cls = rq;
    return MHD_YES;
}

static void
s_completed(void *cls, struct MHD_Connection *c, void **con_cls,
            enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    s_req_t *rq = *con_cls;
    if (rq) {
        free(rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

analytics_api_t *
analytics_api_new(const char *addr, const char *redis_url, const char *prefix,
                  bool keys, kj_metrics_t *metrics,
                  const kj_outbox_rate_t *rates, size_t n_rates)
{
    struct sockaddr_in sa;
    if (kj_http_sockaddr(addr, &sa) < 0) {
        kj_error("bad HTTP address", "s:addr", addr);
        return NULL;
    }
    char err[256];
    kj_redis_t *redis =
        kj_redis_new(redis_url, S_REDIS_TIMEOUT_MS, err, sizeof err);
    if (!redis) {
        kj_error("bad Redis URL", "s:error", err);
        return NULL;
    }
    analytics_api_t *self = kj_calloc(1, sizeof *self);
    self->redis = redis;
    self->keys = keys;
    kj_strlcpy(self->prefix, prefix, sizeof self->prefix);
    self->metrics = metrics;
    self->incidents =
        analytics_incidents_new(self->redis, prefix, rates, n_rates);
    for (int p = 0; p < KJ_PARTITIONS; p++) {
        kj_keys_make(self->stats[p], sizeof self->stats[p], prefix, p,
                     KJ_KEY_STATS, NULL);
        kj_keys_make(self->sla[p], sizeof self->sla[p], prefix, p, KJ_KEY_SLA,
                     NULL);
    }
    for (size_t i = 0; i < KJ_ARRAY_LEN(s_codes); i++) {
        char labels[32];
        snprintf(labels, sizeof labels, "code=\"%u\"", s_codes[i]);
        self->answers[i] = kj_metrics_counter(metrics, "http_requests_total",
                                              "API answers by status", labels);
    }
    /* One internal thread: requests are tiny, and the Redis connection
     * then needs no lock. */
    self->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        s_handler, self, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)S_MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)S_CONNECTION_TIMEOUT_S,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, NULL, MHD_OPTION_END);
    if (!self->daemon) {
        kj_error("cannot listen", "s:addr", addr);
        analytics_incidents_destroy(&self->incidents);
        kj_redis_destroy(&self->redis);
        free(self);
        return NULL;
    }
    kj_info("stats API listening", "s:addr", addr, "i:port",
            kj_http_daemon_port(self->daemon));
    return self;
}

void
analytics_api_destroy(analytics_api_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    analytics_api_t *self = *self_p;
    /* Stopping joins the thread, so the connection is free after. */
    if (self->daemon)
        MHD_stop_daemon(self->daemon);
    analytics_incidents_destroy(&self->incidents);
    kj_redis_destroy(&self->redis);
    free(self);
    *self_p = NULL;
}

int
analytics_api_port(const analytics_api_t *self)
{
    return kj_http_daemon_port(self->daemon);
}
