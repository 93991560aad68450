#include "analytics_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>

#include "analytics_consumer.h"
#include "analytics_count.h"
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
    struct MHD_Daemon *daemon;      /* the polling thread */
    kj_redis_t *redis;              /* used only on the MHD thread */
    char stats[KJ_PARTITIONS][128]; /* stats hash per partition */
    char sla[KJ_PARTITIONS][128];   /* SLA hash per partition */
    kj_metrics_t *metrics;          /* borrowed */
    kj_counter_t *answers[4];       /* http_requests_total{code} */
    bool keys;                      /* KUJO_AUTH=keys: an admin key */
    char prefix[64];                /* where the keys are */
};

/* The codes this API answers, in the order of answers[]. */
static const unsigned s_codes[] = {200, 404, 405, 503};

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
             enum MHD_Result *refused)
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
                           "/v1/stats needs an API key with the scope admin");
        return false;
    }
    if (found == 1)
        return true;
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

static enum MHD_Result
s_handler(void *cls, struct MHD_Connection *c, const char *url,
          const char *method, const char *version, const char *upload_data,
          size_t *upload_data_size, void **con_cls)
{
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    analytics_api_t *self = cls;
    /* Every answer is decided from the request line, so it is queued on
     * the first call; a body, if any, is never read or buffered. */
    if (strcmp(url, "/v1/stats") != 0) {
        return s_error(self, c, KJ_ERR_NOT_FOUND, "no such resource");
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        return s_error(self, c, KJ_ERR_METHOD_NOT_ALLOWED,
                       "/v1/stats answers GET only");
    }
    const char *why = NULL;
    kj_rc_t bad = kj_http_guard_connection(c, version, &why);
    if (bad != KJ_OK)
        return s_error(self, c, bad, why);
    if (self->keys) {
        enum MHD_Result refused;
        if (!s_authorized(self, c, &refused))
            return refused;
    }
    return s_stats(self, c);
}

analytics_api_t *
analytics_api_new(const char *addr, const char *redis_url, const char *prefix,
                  bool keys, kj_metrics_t *metrics)
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
        MHD_OPTION_END);
    if (!self->daemon) {
        kj_error("cannot listen", "s:addr", addr);
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
    kj_redis_destroy(&self->redis);
    free(self);
    *self_p = NULL;
}

int
analytics_api_port(const analytics_api_t *self)
{
    return kj_http_daemon_port(self->daemon);
}
