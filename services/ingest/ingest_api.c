/* ingest_api: routing, request bodies and answers of the public API.
 *
 * libmicrohttpd calls s_handler several times per request: once when the
 * headers are in (s_begin: route, method and header checks, so a wrong
 * request is refused before its body is read), once per piece of body
 * (kept up to max_body, never more), once when the request is complete
 * (s_complete), and, for an accepted complaint whose connection was
 * suspended, once more after the batch flush resumed it (the prepared
 * answer is queued then). */
#include "ingest_api.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "ingest_auth.h"
#include "ingest_batch.h"
#include "ingest_cases.h"
#include "ingest_inbound.h"
#include "ingest_ndjson.h"
#include "ingest_openapi.h"
#include "ingest_record.h"
#include "ingest_validate.h"
#include "kj_apikey.h"
#include "kj_assert.h"
#include "kj_channels.h"
#include "kj_envelope.h"
#include "kj_http.h"
#include "kj_http_deadline.h"
#include "kj_http_guard.h"
#include "kj_id.h"
#include "kj_log.h"
#include "kj_rc.h"
#include "kj_time.h"
#include "kj_util.h"

#define S_POOL_MAX 256          /* finished requests kept for reuse */
#define S_BODY_KEEP (16 * 1024) /* larger body buffers are not kept */
#define S_ANSWER_MAX 160        /* a prepared 202/200/503 body */
#define S_PATH "/v1/complaints"
#define S_DISCARD_FACTOR                                                       \
    2                      /* drop at most this many max_body, then            \
                              close the connection */
#define S_CUT_LOG_MS 10000 /* at most one slow-client log line this often */

typedef enum {
    S_NONE,       /* no such resource */
    S_COLLECTION, /* /v1/complaints */
    S_ITEM,       /* /v1/complaints/{id} */
    S_REPLAY,     /* /v1/complaints/{id}/replay */
    S_CASES,      /* /v1/cases, /v1/agents, /v1/customers (ingest_cases) */
    S_OPENAPI,    /* /v1/openapi.json: the API's description, no key */
    S_INBOUND,    /* /v1/inbound/{adapter}: signed webhooks (issue 13) */
    S_BATCH,      /* /v1/complaints:batch: NDJSON, a result per line */
    S_FEEDBACK,   /* /v1/feedback: survey answers, token-signed (issue 13) */
} s_route_t;

/* S_FEEDBACK: the answer being recorded (kept across reuse: the body
 * holds a complaint's worth of comment). */
typedef struct {
    ingest_feedback_body_t body;
    kj_survey_claims_t claims;
    int64_t recorded_ms; /* when the answer was first recorded */
    bool repeat;         /* the same answer was recorded before */
    int result;          /* the comment's batch result */
    char comment_id[KJ_ID_LEN + 1];
} s_feedback_t;

typedef enum {
    S_READING, /* headers checked, body coming */
    S_WAITING, /* suspended in the batch */
    S_READY,   /* resumed with a prepared answer */
    S_DONE,    /* answer queued */
} s_phase_t;

/* One request in progress, found again through MHD's con_cls. */
typedef struct s_req {
    struct s_req *next;          /* the free list */
    struct MHD_Connection *conn; /* to resume after the flush */
    s_route_t route;
    ingest_cases_req_t cases; /* S_CASES: which one */
    s_phase_t phase;
    char id[KJ_ID_LEN + 1];             /* from the path, or the one assigned */
    char idem[INGEST_IDEM_KEY_MAX + 1]; /* the Idempotency-Key header */
    bool has_idem;
    bool too_big;  /* body over max_body: being discarded */
    bool close;    /* framing refused: answer with Connection: close */
    bool www_auth; /* a 401: answer carries WWW-Authenticate */
    char tenant[KJ_APIKEY_TENANT_MAX + 1]; /* the key's; "" in open mode */
    char key_id[KJ_APIKEY_ID_LEN + 1];     /* the key's; "" in open mode */
    uint32_t scopes;                       /* the key's; 0 in open mode */
    int64_t key_rate;      /* the key's own limit (req/s), 0: the default */
    int64_t retry_after_s; /* a 429: answer carries Retry-After */
    char *body;            /* the body so far, [cap] */
    size_t len, cap;
    size_t dropped;  /* bytes read past max_body */
    double done_s;   /* monotonic time it was complete */
    unsigned status; /* the prepared answer, once READY */
    char answer[S_ANSWER_MAX];
    size_t answer_len;
    bool location; /* answer carries Location: .../id */
    bool unknown;  /* a 503 whose write may have been applied */
    /* S_INBOUND (issue 13): the adapter, the delivery's complaints and
     * how many still wait in the batch; kept across reuse. */
    const ingest_inbound_adapter_t *adapter;
    ingest_inbound_list_t *inbound;
    size_t inbound_pending;
    bool text_plain; /* the answer is text/plain (a handshake) */
    /* S_BATCH: the line splitter and the result lines, freed with the
     * request (a batch's answer can be megabytes, not worth pooling). */
    ingest_ndjson_t *nd;
    ingest_ndjson_out_t nd_out;
    size_t nd_bytes;    /* bytes given to the splitter */
    bool nd_stop;       /* reading stopped (lines or bytes): a 413 */
    size_t nd_cut_line; /* the first line not read past the byte limit */
    bool nd_down;       /* Redis failed in this batch: write no more */
    bool ndjson;        /* the answer is application/x-ndjson */
    s_feedback_t *fb; /* S_FEEDBACK: the answer; kept across reuse */
} s_req_t;

struct ingest_api {
    struct MHD_Daemon *d;
    int port;
    ingest_api_opts_t opts;
    kj_store_t *store;   /* borrowed */
    kj_push_t *push;     /* borrowed */
    ingest_metrics_t *m; /* borrowed */
    ingest_batch_t *batch;
    kj_codec_t *codec;  /* decodes records for GET */
    kj_envelope_t *env; /* the decoded record, reused */
    s_req_t *pool;      /* finished requests for reuse */
    size_t pooled;
    size_t active;                 /* requests begun and not completed */
    int64_t last_redis_log_ms;     /* rate limit of the outage log line */
    int64_t last_limit_log_ms;     /* ... and of the limiter's */
    kj_ratelimit_take_t *takes;    /* [batch_max]: one batch's charges */
    size_t *take_of;               /* [batch_max]: each item's charge */
    kj_http_deadline_t *deadlines; /* header and body deadlines */
    int64_t last_cut_log_ms;       /* rate limit of the slow-client line */
    bool draining;                 /* quiesced: answers close connections */
    /* POST /v1/complaints:batch: the lines of one upload piece, written
     * before the handler returns, so one batch and one list serve every
     * request (the loop is single-threaded). */
    ingest_batch_t *nbatch;
    struct s_pend *pend; /* [batch_max]: the piece's lines, in order */
    size_t npend;
};

static double
s_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static s_req_t *
s_req_new(ingest_api_t *api)
{
    s_req_t *req = api->pool;
    if (req) {
        api->pool = req->next;
        api->pooled--;
    } else {
        req = kj_calloc(1, sizeof *req);
    }
    /* Keep the body buffer; reset everything else. */
    char *body = req->body;
    size_t cap = req->cap;
    memset(req, 0, offsetof(s_req_t, body));
    req->body = body;
    req->cap = cap;
    req->len = 0;
    req->dropped = 0;
    req->done_s = 0;
    req->status = 0;
    req->answer_len = 0;
    req->location = false;
    req->unknown = false;
    req->adapter = NULL;
    if (req->inbound)
        ingest_inbound_list_clear(req->inbound);
    req->inbound_pending = 0;
    req->text_plain = false;
    req->nd = NULL;
    req->nd_out = (ingest_ndjson_out_t){0};
    req->nd_bytes = 0;
    req->nd_stop = false;
    req->nd_cut_line = 0;
    req->nd_down = false;
    req->ndjson = false;
    api->active++;
    return req;
}

/* Free a request and what it holds. */
static void
s_req_drop(s_req_t *req)
{
    free(req->fb);
    req->fb = NULL;
    if (req->inbound) {
        ingest_inbound_list_free(req->inbound);
        free(req->inbound);
    }
    ingest_ndjson_destroy(&req->nd);
    ingest_ndjson_out_free(&req->nd_out);
    free(req->body);
    free(req);
}

static void
s_req_free(ingest_api_t *api, s_req_t *req)
{
    api->active--;
    /* A delivery's complaints are not kept in the pool. */
    if (req->inbound)
        ingest_inbound_list_clear(req->inbound);
    ingest_ndjson_destroy(&req->nd);
    ingest_ndjson_out_free(&req->nd_out);
    if (req->cap > S_BODY_KEEP) {
        free(req->body);
        req->body = NULL;
        req->cap = 0;
    }
    if (api->pooled < S_POOL_MAX) {
        req->next = api->pool;
        api->pool = req;
        api->pooled++;
    } else {
        s_req_drop(req);
    }
}

/* Queue an answer. Every answer of the API goes through here, so the
 * status counter and the latency histogram see all of them. */
static enum MHD_Result
s_answer(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req,
         unsigned status, const char *body, size_t len, const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            req->text_plain ? "text/plain; charset=utf-8"
                            : req->ndjson   ? INGEST_NDJSON_TYPE
                                            : "application/json");
    if (req->location) {
        char loc[sizeof S_PATH + KJ_ID_LEN + 2];
        snprintf(loc, sizeof loc, S_PATH "/%s", req->id);
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, loc);
    }
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    if (req->www_auth)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (req->retry_after_s > 0) {
        char secs[24];
        snprintf(secs, sizeof secs, "%" PRId64, req->retry_after_s);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, secs);
    }
    /* While draining, keep-alive clients are sent elsewhere (another copy
     * behind the load balancer) rather than kept on a closing server. */
    if (api->draining || req->close)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    kj_http_deadline_answered(c, kj_mono_ms());
    ingest_metrics_answer(api->m, status);
    if (req->route == S_COLLECTION && req->done_s > 0)
        kj_histogram_observe(api->m->latency, s_mono_s() - req->done_s);
    req->phase = S_DONE;
    return rc;
}

/* {"error":{"code":...,"message":...}}; messages are printable ASCII
 * (ingest_error_set), so the JSON cannot fail to build. */
static enum MHD_Result
s_fail(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req,
       const ingest_error_t *err, const char *allow)
{
    json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", err->code,
                          "message", err->message);
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!body)
        abort(); /* out of memory */
    if (req->route == S_COLLECTION && err->status < 500)
        kj_counter_inc(api->m->failed_invalid);
    enum MHD_Result rc =
        s_answer(api, c, req, err->status, body, strlen(body), allow);
    free(body);
    return rc;
}

static enum MHD_Result
s_unavailable(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req)
{
    ingest_error_t err;
    ingest_error_set(&err, KJ_ERR_UNAVAILABLE,
                     "storage is unavailable; nothing was changed, retry");
    return s_fail(api, c, req, &err, NULL);
}

/* Redis took the write but its answer never came: the complaint may be
 * stored. Retrying with the same Idempotency-Key is safe (a stored one
 * answers 200 with its id), so that is what the client is told. */
static enum MHD_Result
s_outcome_unknown(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req)
{
    ingest_error_t err;
    ingest_error_set(&err, KJ_ERR_OUTCOME_UNKNOWN,
                     "storage did not answer in time; the complaint may or "
                     "may not be stored: retry with the same "
                     "Idempotency-Key, which is safe");
    return s_fail(api, c, req, &err, NULL);
}

/* Which resource url names; the id segment goes to id ("" if it cannot
 * be an id). */
static s_route_t
s_route(const char *url, char id[KJ_ID_LEN + 1])
{
    id[0] = '\0';
    if (strcmp(url, INGEST_OPENAPI_PATH) == 0)
        return S_OPENAPI;
    if (strcmp(url, S_PATH ":batch") == 0)
        return S_BATCH;
    size_t plen = sizeof S_PATH - 1;
    if (strncmp(url, S_PATH, plen) != 0)
        return S_NONE;
    const char *p = url + plen;
    if (*p == '\0')
        return S_COLLECTION;
    if (*p != '/' || p[1] == '\0' || p[1] == '/')
        return S_NONE;
    p++;
    const char *end = strchr(p, '/');
    size_t seg = end ? (size_t)(end - p) : strlen(p);
    if (seg == KJ_ID_LEN) {
        memcpy(id, p, KJ_ID_LEN);
        id[KJ_ID_LEN] = '\0';
    }
    if (!end)
        return S_ITEM;
    return strcmp(end, "/replay") == 0 ? S_REPLAY : S_NONE;
}

/* The rate-limit charge of one request: its key's bucket and its
 * tenant's. */
static kj_ratelimit_take_t
s_take_for(const s_req_t *req)
{
    return (kj_ratelimit_take_t){.key_id = req->key_id,
                                 .tenant = req->tenant,
                                 .cost = 1,
                                 .key_rate = (double)req->key_rate};
}

/* 429 with Retry-After in whole seconds, rounded up. */
static enum MHD_Result
s_rate_limited(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req,
               int64_t retry_after_ms)
{
    ingest_error_t err;
    req->retry_after_s = retry_after_ms > 0 ? (retry_after_ms + 999) / 1000 : 1;
    ingest_error_set(&err, KJ_ERR_RATE_LIMITED,
                     "over the rate limit of this API key or its tenant; "
                     "retry after %" PRId64 " s",
                     req->retry_after_s);
    return s_fail(api, c, req, &err, NULL);
}

/* The scope a key-authenticated inbound adapter needs: inbound:<its
 * channel> (an adapter is named by the channel it brings complaints in
 * on); 0 matches no key if the channel is unknown. */
static uint32_t
s_inbound_scope(const s_req_t *req)
{
    const char *name = ingest_inbound_name(req->adapter);
    for (size_t i = 0; i < kj_channels_count; i++)
        if (strcmp(kj_channels[i], name) == 0)
            return 1u << (KJ_SCOPE_INBOUND_SHIFT + i);
    return 0;
}

/* Keys mode: the caller's key must be live and hold the route's scope;
 * its tenant goes to req->tenant. MHD_YES to go on with req->phase still
 * S_READING, or the refusal's result (req->phase S_DONE). */
static enum MHD_Result
s_authorize(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req)
{
    ingest_error_t err;
    const char *value = NULL;
    size_t len = 0;
    if (MHD_lookup_connection_value_n(c, MHD_HEADER_KIND, "Authorization",
                                      sizeof "Authorization" - 1, &value,
                                      &len) != MHD_YES)
        value = NULL;
    char key[KJ_APIKEY_LEN + 1], id[KJ_APIKEY_ID_LEN + 1];
    char msg[INGEST_MSG_MAX];
    if (kj_apikey_parse_header(value, len, key, id, msg, sizeof msg) < 0) {
        req->www_auth = true;
        ingest_error_set(&err, KJ_ERR_UNAUTHORIZED, "%s", msg);
        return s_fail(api, c, req, &err, NULL);
    }
    kj_apikey_info_t info;
    int found = ingest_auth_lookup(api->opts.auth, key, kj_now_ms(), &info);
    if (found < 0) {
        kj_counter_inc(api->m->redis_errors);
        return s_unavailable(api, c, req);
    }
    if (found == 0) {
        req->www_auth = true;
        ingest_error_set(&err, KJ_ERR_UNAUTHORIZED,
                         "unknown or revoked API key");
        return s_fail(api, c, req, &err, NULL);
    }
    uint32_t need = req->route == S_COLLECTION || req->route == S_BATCH
                        ? KJ_SCOPE_COMPLAINTS_WRITE
                    : req->route == S_INBOUND ? s_inbound_scope(req)
                    : req->route == S_ITEM    ? KJ_SCOPE_COMPLAINTS_READ
                    : req->route == S_CASES && !req->cases.admin
                        ? KJ_SCOPE_AGENTS
                        : KJ_SCOPE_ADMIN;
    if (!(info.scopes & need)) {
        char name[64];
        kj_apikey_scopes_format(need, name, sizeof name);
        ingest_error_set(&err, KJ_ERR_FORBIDDEN,
                         "this API key lacks the scope %s", name);
        return s_fail(api, c, req, &err, NULL);
    }
    kj_strlcpy(req->tenant, info.tenant, sizeof req->tenant);
    kj_strlcpy(req->key_id, info.id, sizeof req->key_id);
    req->scopes = info.scopes;
    req->key_rate = info.rate;
    /* Complaints are limited in the batch (one round trip for all; an
     * NDJSON batch's lines likewise, per line); a read or a replay is
     * charged here, alone. */
    if (req->route != S_COLLECTION && req->route != S_INBOUND &&
        req->route != S_BATCH && api->opts.limiter) {
        kj_ratelimit_take_t t = s_take_for(req);
        if (kj_ratelimit_take(api->opts.limiter, &t, 1, kj_now_ms()) == 0 &&
            t.admitted == 0)
            return s_rate_limited(api, c, req, t.retry_after_ms);
    }
    return MHD_YES;
}

/* Refused before the body: a Content-Length over max_body. */
static bool
s_declared_too_big(ingest_api_t *api, struct MHD_Connection *c,
                   ingest_error_t *err)
{
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (!cl)
        return false;
    char *end = NULL;
    unsigned long long n = strtoull(cl, &end, 10);
    if (end == cl || n <= (unsigned long long)api->opts.max_body)
        return false;
    ingest_error_set(err, KJ_ERR_BODY_TOO_LARGE,
                     "the body is larger than %" PRId64 " bytes",
                     api->opts.max_body);
    return true;
}

/* The headers of a case, agent or customer request are in: method,
 * key and scope, and for a body its type and declared size. */
static enum MHD_Result
s_begin_cases(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req)
{
    ingest_error_t err;
    if (!req->cases.method_ok) {
        ingest_error_set(&err, KJ_ERR_METHOD_NOT_ALLOWED,
                         "this method is not allowed here; allowed: %s",
                         req->cases.allow);
        return s_fail(api, c, req, &err, req->cases.allow);
    }
    if (api->opts.auth) {
        enum MHD_Result rc = s_authorize(api, c, req);
        if (req->phase == S_DONE)
            return rc;
    }
    if (!req->cases.body)
        return MHD_YES;
    const char *type =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (ingest_validate_content_type(type, &err) < 0 ||
        s_declared_too_big(api, c, &err))
        return s_fail(api, c, req, &err, NULL);
    return MHD_YES;
}

/* 413 for a body that went over max_body (it was read and dropped). */
static enum MHD_Result
s_too_big(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req)
{
    ingest_error_t err;
    ingest_error_set(&err, KJ_ERR_BODY_TOO_LARGE,
                     "the body is larger than %" PRId64 " bytes",
                     api->opts.max_body);
    return s_fail(api, c, req, &err, NULL);
}

/* A complete case, agent or customer request, answered now. */
static enum MHD_Result
s_cases(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req)
{
    ingest_error_t err;
    if (req->too_big)
        return s_too_big(api, c, req);
    char *json = NULL;
    const char *tenant = api->opts.auth ? req->tenant : "default";
    int status =
        ingest_cases_handle(api->opts.cases, &req->cases, tenant,
                            req->body ? req->body : "", req->len, &json, &err);
    if (status < 0) {
        kj_counter_inc(api->m->redis_errors);
        return s_unavailable(api, c, req);
    }
    if (!json)
        return s_fail(api, c, req, &err, NULL);
    enum MHD_Result rc =
        s_answer(api, c, req, (unsigned)status, json, strlen(json), NULL);
    free(json);
    return rc;
}

/* ---- issue 13: signed inbound webhooks (ingest_inbound) ---------- */

static const char *
s_header_of(void *ctx, const char *name)
{
    return MHD_lookup_connection_value(ctx, MHD_HEADER_KIND, name);
}

static const char *
s_query_of(void *ctx, const char *name)
{
    return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, name);
}

/* The headers of /v1/inbound/{adapter} are in. No API key: the source's
 * signature authenticates, and is checked once the body is complete. */
static enum MHD_Result
s_begin_inbound(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req,
                const char *url, const char *method)
{
    ingest_error_t err;
    req->route = S_INBOUND;
    req->adapter = ingest_inbound_match(url);
    if (!ingest_inbound_enabled(api->opts.inbound, req->adapter)) {
        ingest_error_set(&err, KJ_ERR_NOT_FOUND,
                         "no such inbound adapter, or it is not configured "
                         "(its secret is unset)");
        return s_fail(api, c, req, &err, NULL);
    }
    bool has_get = ingest_inbound_has_get(req->adapter);
    bool get = has_get && strcmp(method, "GET") == 0;
    if (!get && strcmp(method, "POST") != 0) {
        const char *allow = has_get ? "GET, POST" : "POST";
        ingest_error_set(&err, KJ_ERR_METHOD_NOT_ALLOWED,
                         "method %.16s is not allowed here; allowed: %s",
                         method, allow);
        return s_fail(api, c, req, &err, allow);
    }
    if (!get && s_declared_too_big(api, c, &err))
        return s_fail(api, c, req, &err, NULL);
    if (ingest_inbound_by_key(req->adapter)) {
        /* A relay's raw message: its type, then its key, before the body
         * is read (only a key's holder may send megabytes of mail). */
        const char *want = ingest_inbound_content_type(req->adapter);
        const char *type =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        size_t wl = want ? strlen(want) : 0;
        if (want && (!type || strncasecmp(type, want, wl) != 0 ||
                     (type[wl] != '\0' && type[wl] != ';' && type[wl] != ' '))) {
            ingest_error_set(&err, KJ_ERR_UNSUPPORTED_MEDIA_TYPE,
                             "Content-Type must be %s", want);
            return s_fail(api, c, req, &err, NULL);
        }
        if (api->opts.auth)
            return s_authorize(api, c, req);
    }
    return MHD_YES;
}

/* A delivery's complaints are all written (or not): one answer. Anything
 * short of all written is not a 200, so the source delivers again; the
 * idempotency keys then answer what was written with its id. */
static enum MHD_Result
s_inbound_answer(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req)
{
    const ingest_inbound_list_t *list = req->inbound;
    bool held = false, failed = false, unknown = false;
    size_t created = 0, dups = 0;
    for (size_t i = 0; list && i < list->n; i++) {
        int r = list->items[i].result;
        created += r == 1;
        dups += r == 0;
        held |= r == INGEST_BATCH_HELD;
        unknown |= r == KJ_STORE_UNKNOWN;
        failed |= r < 0 && r != INGEST_BATCH_HELD && r != KJ_STORE_UNKNOWN;
    }
    ingest_inbound_count_written(api->opts.inbound, req->adapter, created,
                                 dups);
    if (unknown)
        return s_outcome_unknown(api, c, req);
    if (failed)
        return s_unavailable(api, c, req);
    if (held)
        return s_rate_limited(api, c, req, req->retry_after_s * 1000);
    char *body = ingest_inbound_answer(list);
    enum MHD_Result rc = s_answer(api, c, req, 200, body, strlen(body), NULL);
    free(body);
    return rc;
}

/* One complaint of a delivery came out of the batch (items of a request
 * are added and flushed in order); resume the delivery after its last. */
static void
s_inbound_result(s_req_t *req, const ingest_batch_result_t *res)
{
    ingest_inbound_list_t *list = req->inbound;
    ingest_inbound_item_t *it = &list->items[list->n - req->inbound_pending];
    it->result = res->result;
    if (res->result >= 0)
        kj_strlcpy(it->id, res->id, sizeof it->id);
    if (--req->inbound_pending > 0)
        return;
    req->phase = S_READY;
    MHD_resume_connection(req->conn);
}

static void
s_flush(ingest_api_t *api);

/* A complete inbound request: the GET handshake, or verify, parse and
 * put every complaint of the delivery in the batch (record before 2xx,
 * as POST /v1/complaints). */
static enum MHD_Result
s_inbound(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req,
          const char *method)
{
    ingest_error_t err;
    ingest_inbound_t *in = api->opts.inbound;
    if (strcmp(method, "GET") == 0) {
        const char *answer = NULL;
        if (ingest_inbound_get(in, req->adapter, s_query_of, c, &answer,
                               &err) != 200)
            return s_fail(api, c, req, &err, NULL);
        req->text_plain = true;
        return s_answer(api, c, req, 200, answer, strlen(answer), NULL);
    }
    if (req->too_big)
        return s_too_big(api, c, req);
    if (!req->inbound)
        req->inbound = kj_calloc(1, sizeof *req->inbound);
    ingest_inbound_list_t *list = req->inbound;
    /* A key-authenticated adapter's complaints are the key's tenant's
     * (default in open mode), charged to the key; a signed one's go to the
     * inbound tenant, charged to a bucket per adapter. */
    bool by_key = ingest_inbound_by_key(req->adapter);
    const char *tenant = !by_key            ? ingest_inbound_tenant(in)
                         : api->opts.auth   ? req->tenant
                                            : "default";
    if (ingest_inbound_handle_as(in, req->adapter, tenant, s_header_of, c,
                                 req->body ? req->body : "", req->len,
                                 kj_now_ms() / 1000, list, &err) < 0)
        return s_fail(api, c, req, &err, NULL);
    if (list->n == 0)
        return s_inbound_answer(api, c, req);
    if (list->n > api->opts.batch_max) {
        ingest_error_set(&err, KJ_ERR_BODY_TOO_LARGE,
                         "a delivery holds at most %zu complaints",
                         api->opts.batch_max);
        return s_fail(api, c, req, &err, NULL);
    }
    kj_strlcpy(req->tenant, tenant, sizeof req->tenant);
    if (!by_key || !api->opts.auth)
        snprintf(req->key_id, sizeof req->key_id, "inbound-%s",
                 ingest_inbound_name(req->adapter));
    req->inbound_pending = list->n;
    req->phase = S_WAITING;
    int64_t now = kj_now_ms();
    for (size_t i = 0; i < list->n; i++) {
        /* A flush here cannot answer this delivery: its last complaint is
         * not in yet (inbound_pending stays above 0). */
        if (ingest_batch_full(api->batch))
            s_flush(api);
        char *json = json_dumps(list->items[i].complaint, JSON_COMPACT);
        kj_assert(json); /* jansson holds valid UTF-8 only */
        int rc = ingest_validate_complaint_as(
            json, strlen(json), tenant, ingest_batch_slot(api->batch), &err);
        free(json);
        kj_assert(rc == 0); /* ingest_inbound_handle validated the same */
        ingest_batch_add(api->batch, req, list->items[i].key, now);
    }
    MHD_suspend_connection(c);
    return MHD_YES;
}

/* ---- issue 13: survey answers, POST /v1/feedback (ingest_feedback) -- */

/* The headers of /v1/feedback are in. No API key: the survey token in
 * the body is the credential, checked once the body is complete. */
static enum MHD_Result
s_begin_feedback(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req,
                 const char *method)
{
    ingest_error_t err;
    req->route = S_FEEDBACK;
    if (!api->opts.survey_secret || !*api->opts.survey_secret ||
        !api->opts.survey_cases) {
        ingest_error_set(&err, KJ_ERR_NOT_FOUND,
                         "surveys are not configured here "
                         "(KUJO_SURVEY_SECRET is unset)");
        return s_fail(api, c, req, &err, NULL);
    }
    if (strcmp(method, "POST") != 0) {
        ingest_error_set(&err, KJ_ERR_METHOD_NOT_ALLOWED,
                         "method %.16s is not allowed here; allowed: POST",
                         method);
        return s_fail(api, c, req, &err, "POST");
    }
    const char *type =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (ingest_validate_content_type(type, &err) < 0 ||
        s_declared_too_big(api, c, &err))
        return s_fail(api, c, req, &err, NULL);
    return MHD_YES;
}

/* The answer of a recorded feedback: 202 the first time, 200 for the
 * same answer sent again (its comment's complaint id both times). */
static enum MHD_Result
s_feedback_answer(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req)
{
    s_feedback_t *fb = req->fb;
    if (fb->result == INGEST_BATCH_HELD)
        return s_rate_limited(api, c, req, req->retry_after_s * 1000);
    if (fb->result == KJ_STORE_UNKNOWN)
        return s_outcome_unknown(api, c, req);
    if (fb->result < 0)
        return s_unavailable(api, c, req);
    char *body = ingest_feedback_answer(&fb->body, &fb->claims, fb->comment_id,
                                        fb->recorded_ms);
    enum MHD_Result rc =
        s_answer(api, c, req, fb->repeat ? 200 : 202, body, strlen(body), NULL);
    free(body);
    return rc;
}

/* The comment's complaint came out of the batch. */
static void
s_feedback_result(s_req_t *req, const ingest_batch_result_t *res)
{
    req->fb->result = res->result;
    if (res->result >= 0)
        kj_strlcpy(req->fb->comment_id, res->id, sizeof req->fb->comment_id);
    req->phase = S_READY;
    MHD_resume_connection(req->conn);
}

/* A complete POST /v1/feedback: parse, verify the token, record the
 * answer once (feedback_record.lua: the token's single-use mark, the
 * case's timeline, the customer's view and the survey counters, in one
 * step), then put its comment in the batch as a complaint (record before
 * 2xx). A repeat of the recorded answer puts the comment in again: its
 * idempotency key answers with the complaint already written, or writes
 * it if the first request died between the two steps. */
static enum MHD_Result
s_feedback(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req)
{
    ingest_error_t err;
    if (req->too_big)
        return s_too_big(api, c, req);
    if (!req->fb)
        req->fb = kj_malloc(sizeof *req->fb);
    s_feedback_t *fb = req->fb;
    memset(fb, 0, sizeof *fb);
    if (ingest_feedback_parse(req->body ? req->body : "", req->len, &fb->body,
                              &err) < 0)
        return s_fail(api, c, req, &err, NULL);
    int64_t now = kj_now_ms();
    const char *secret = api->opts.survey_secret;
    if (kj_survey_token_verify(secret, strlen(secret), fb->body.token,
                               fb->body.token_len, now / 1000,
                               &fb->claims) != KJ_OK) {
        ingest_error_set(&err, KJ_ERR_BAD_TOKEN,
                         "the survey token is not valid: forged, expired "
                         "or not from this survey");
        return s_fail(api, c, req, &err, NULL);
    }
    /* Charged to the token's tenant and a bucket of its own, before any
     * write: a flood of answers cannot crowd out the tenant's keys. */
    kj_strlcpy(req->tenant, fb->claims.tenant, sizeof req->tenant);
    kj_strlcpy(req->key_id, "feedback", sizeof req->key_id);
    if (api->opts.limiter) {
        kj_ratelimit_take_t t = s_take_for(req);
        if (kj_ratelimit_take(api->opts.limiter, &t, 1, now) == 0 &&
            t.admitted == 0)
            return s_rate_limited(api, c, req, t.retry_after_ms);
    }
    char digest[65], day[16], at[KJ_TIME_RFC3339_LEN];
    ingest_feedback_digest(&fb->body, digest);
    /* Counted under the UTC day it was answered. */
    if (kj_time_rfc3339(now, at, sizeof at) == 0)
        return s_unavailable(api, c, req);
    kj_strlcpy(day, at, 11);
    int64_t ttl = fb->claims.expires_s - now / 1000;
    kj_case_feedback_t rec = {
        .tenant = fb->claims.tenant,
        .case_id = fb->claims.case_id,
        .complaint_id = fb->claims.complaint_id,
        .customer = fb->claims.customer,
        .nonce = fb->claims.nonce,
        .digest = digest,
        .kind = fb->body.kind,
        .score = fb->body.score,
        .bucket = ingest_feedback_bucket(fb->body.kind, fb->body.score),
        .day = day,
        .ttl_s = ttl > 0 ? ttl : 1,
        .has_comment = fb->body.comment[0] != '\0',
    };
    if (kj_cases_feedback(api->opts.survey_cases, &rec, now) < 0) {
        kj_counter_inc(api->m->redis_errors);
        return s_unavailable(api, c, req);
    }
    if (rec.rc == KJ_ERR_TOKEN_USED) {
        ingest_error_set(&err, KJ_ERR_TOKEN_USED,
                         "this survey was answered already");
        return s_fail(api, c, req, &err, NULL);
    }
    if (rec.rc != KJ_OK && rec.rc != KJ_ERR_STALE) {
        ingest_error_set(&err, KJ_ERR_BAD_TOKEN,
                         "the survey token is not valid");
        return s_fail(api, c, req, &err, NULL);
    }
    fb->repeat = rec.rc == KJ_ERR_STALE;
    fb->recorded_ms = rec.at_ms ? rec.at_ms : now;
    if (!rec.has_comment)
        return s_feedback_answer(api, c, req);
    if (ingest_batch_full(api->batch))
        s_flush(api);
    char key[INGEST_IDEM_KEY_MAX + 1];
    if (ingest_feedback_complaint(&fb->body, &fb->claims,
                                  ingest_batch_slot(api->batch), key, &err) < 0)
        return s_fail(api, c, req, &err, NULL);
    ingest_batch_add(api->batch, req, key, now);
    req->phase = S_WAITING;
    MHD_suspend_connection(c);
    return MHD_YES;
}

/* ---- end of issue 13 ------------------------------------------------ */

/* POST /v1/complaints:batch (its section follows s_flush). */
static enum MHD_Result
s_begin_batch(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req,
              const char *method);
static bool
s_batch_body(ingest_api_t *api, s_req_t *req, const char *data, size_t n);
static enum MHD_Result
s_batch_done(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req);

/* The headers are in: refuse what can be refused before the body. */
static enum MHD_Result
s_begin(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req,
        const char *url, const char *method, const char *version)
{
    ingest_error_t err;
    req->conn = c;
    kj_http_deadline_begin(c, kj_mono_ms());
    /* Before anything reads a header: a refused framing closes the
     * connection, since what follows on it cannot be trusted. */
    const char *why = NULL;
    kj_rc_t bad = kj_http_guard_connection(c, version, &why);
    if (bad != KJ_OK) {
        ingest_error_set(&err, bad, "%s", why);
        req->close = true;
        return s_fail(api, c, req, &err, NULL);
    }
    /* Issue 13: signed webhooks have a path and rules of their own. */
    size_t inbound = sizeof INGEST_INBOUND_PREFIX - 1;
    if (strncmp(url, INGEST_INBOUND_PREFIX, inbound) == 0)
        return s_begin_inbound(api, c, req, url, method);
    if (strcmp(url, INGEST_FEEDBACK_PATH) == 0)
        return s_begin_feedback(api, c, req, method);
    req->route = s_route(url, req->id);
    if (req->route == S_NONE && api->opts.cases &&
        ingest_cases_match(url, method, &req->cases)) {
        req->route = S_CASES;
        if (req->cases.route == INGEST_CASES_NONE)
            req->route = S_NONE;
    }
    if (req->route == S_NONE) {
        ingest_error_set(&err, KJ_ERR_NOT_FOUND,
                         "no such resource; the API is " S_PATH
                         "[/{id}[/replay]], " S_PATH ":batch, "
                         "/v1/cases/{id}[/events], "
                         "/v1/agents[/{id}[/status]], "
                         "/v1/customers/{id} and "
                         "/v1/inbound/{line,meta,social,email}, described at "
                         INGEST_OPENAPI_PATH);
        ingest_error_set(
            &err, KJ_ERR_NOT_FOUND,
            "no such resource; the API is " S_PATH
            "[/{id}[/replay]], /v1/cases/{id}[/events], "
            "/v1/agents[/{id}[/status]], "
            "/v1/customers/{id}, "
            "/v1/inbound/{line,meta,social,email} and " INGEST_FEEDBACK_PATH
            ", described at " INGEST_OPENAPI_PATH);
        return s_fail(api, c, req, &err, NULL);
    }
    if (req->route == S_CASES)
        return s_begin_cases(api, c, req);
    if (req->route == S_BATCH)
        return s_begin_batch(api, c, req, method);
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    if (req->route == S_OPENAPI) {
        /* Public like /healthz: it describes the API, holds no data. */
        if (get)
            return MHD_YES;
        ingest_error_set(&err, KJ_ERR_METHOD_NOT_ALLOWED,
                         "method %.16s is not allowed here; allowed: GET, "
                         "HEAD",
                         method);
        return s_fail(api, c, req, &err, "GET, HEAD");
    }
    if (req->route == S_ITEM ? !get : !post) {
        const char *allow = req->route == S_ITEM ? "GET, HEAD" : "POST";
        ingest_error_set(&err, KJ_ERR_METHOD_NOT_ALLOWED,
                         "method %.16s is not allowed here; allowed: %s",
                         method, allow);
        return s_fail(api, c, req, &err, allow);
    }
    if (api->opts.auth) {
        enum MHD_Result rc = s_authorize(api, c, req);
        if (req->phase == S_DONE)
            return rc;
    }
    if (req->route != S_COLLECTION && !kj_id_valid(req->id)) {
        ingest_error_set(&err, KJ_ERR_NOT_FOUND,
                         "not a complaint id: expected %d lowercase hex "
                         "digits",
                         KJ_ID_LEN);
        return s_fail(api, c, req, &err, NULL);
    }
    if (req->route != S_COLLECTION)
        return MHD_YES;
    const char *type =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (ingest_validate_content_type(type, &err) < 0)
        return s_fail(api, c, req, &err, NULL);
    const char *key =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    if (key) {
        if (ingest_validate_idem_key(key, &err) < 0)
            return s_fail(api, c, req, &err, NULL);
        kj_strlcpy(req->idem, key, sizeof req->idem);
        req->has_idem = true;
    }
    /* A declared length over the limit is refused now, unread. */
    if (s_declared_too_big(api, c, &err))
        return s_fail(api, c, req, &err, NULL);
    return MHD_YES;
}

/* Keep a piece of the body, up to max_body. Past it the request is marked
 * and the rest is read and dropped, so memory stays bounded whatever is
 * sent, and answered 413 once complete. libmicrohttpd 0.9.75 cannot answer
 * in the middle of an upload (MHD_queue_response returns MHD_NO once the
 * body is being read; tried), so a chunked upload past S_DISCARD_FACTOR x
 * max_body is cut off unanswered, and counted. Returns false to close
 * the connection. */
static bool
s_body_add(ingest_api_t *api, s_req_t *req, const char *data, size_t n)
{
    if (req->route == S_BATCH)
        return s_batch_body(api, req, data, n);
    size_t max = (size_t)api->opts.max_body;
    bool takes_body = req->route == S_COLLECTION || req->route == S_INBOUND ||
                      req->route == S_FEEDBACK ||
                      (req->route == S_CASES && req->cases.body);
    if (!takes_body || req->too_big) {
        /* Other routes take no body; either way it is only counted. */
        req->dropped += n;
        if (req->dropped <= max * S_DISCARD_FACTOR)
            return true;
        kj_counter_inc(api->m->bodies_cut);
        return false;
    }
    if (n > max - req->len) {
        req->too_big = true;
        req->dropped += n;
        return true;
    }
    if (req->len + n > req->cap) {
        size_t cap = req->cap ? req->cap : 1024;
        while (cap < req->len + n)
            cap *= 2;
        if (cap > max)
            cap = max;
        req->body = kj_realloc(req->body, cap);
        req->cap = cap;
    }
    memcpy(req->body + req->len, data, n);
    req->len += n;
    return true;
}

/* Charge the batch's complaints to their keys' and tenants' buckets: one
 * charge per key (cost = its complaints in the batch, admitted in arrival
 * order), all in one pipelined round trip. Those over the limit are held
 * out of the write and answered 429. If Redis cannot answer, they go
 * through (fail open): the limiter protects capacity, and refusing
 * complaints because of it would lose the very thing kujo is for. */
static void
s_limit_batch(ingest_api_t *api, ingest_batch_t *batch, size_t n,
              int64_t now_ms)
{
    if (!api->opts.limiter)
        return;
    size_t groups = 0;
    for (size_t i = 0; i < n; i++) {
        const s_req_t *req = ingest_batch_owner(batch, i);
        size_t g = 0;
        /* A key has one tenant, so the key alone names the charge. */
        while (g < groups && strcmp(api->takes[g].key_id, req->key_id) != 0)
            g++;
        if (g == groups)
            api->takes[groups++] = s_take_for(req);
        else
            api->takes[g].cost++;
        api->take_of[i] = g;
    }
    if (kj_ratelimit_take(api->opts.limiter, api->takes, groups, now_ms) < 0 &&
        now_ms - api->last_limit_log_ms >= 1000) {
        kj_warn("rate limits not checked; complaints let through", "s:reason",
                kj_rc_name(KJ_ERR_REDIS));
        api->last_limit_log_ms = now_ms;
    }
    for (size_t i = 0; i < n; i++) {
        kj_ratelimit_take_t *t = &api->takes[api->take_of[i]];
        if (t->admitted < 0)
            continue; /* not decided: let through */
        if (t->admitted > 0) {
            t->admitted--;
            continue;
        }
        s_req_t *req = ingest_batch_owner(batch, i);
        req->retry_after_s = (t->retry_after_ms + 999) / 1000;
        if (req->retry_after_s < 1)
            req->retry_after_s = 1;
        ingest_batch_hold(batch, i);
        kj_counter_inc(api->m->rate_limited);
    }
}

/* Write the batch, prepare each waiting request's answer and resume it;
 * then push the new records to the classifier. */
static void
s_flush(ingest_api_t *api)
{
    size_t n = ingest_batch_count(api->batch);
    if (n == 0)
        return;
    int64_t now = kj_now_ms();
    s_limit_batch(api, api->batch, n, now);
    if (ingest_batch_flush(api->batch, api->store, now) < 0 &&
        now - api->last_redis_log_ms >= 1000) {
        /* Once a second at most: an outage fails every batch. */
        kj_error("batch not stored", "s:reason", kj_rc_name(KJ_ERR_REDIS),
                 "i:count", (int)n);
        api->last_redis_log_ms = now;
    }
    for (size_t i = 0; i < n; i++) {
        const ingest_batch_result_t *res = ingest_batch_result(api->batch, i);
        s_req_t *req = res->owner;
        if (req->route == S_INBOUND) {
            s_inbound_result(req, res);
            continue;
        }
        if (req->route == S_FEEDBACK) {
            s_feedback_result(req, res);
            continue;
        }
        if (res->result == INGEST_BATCH_HELD) {
            req->status = 429;
            req->answer_len = 0;
        } else if (res->result >= 0) {
            kj_strlcpy(req->id, res->id, sizeof req->id);
            req->status = res->result == 1 ? 202 : 200;
            req->location = true;
            int len =
                snprintf(req->answer, sizeof req->answer,
                         "{\"id\":\"%s\",\"state\":\"received\"}", req->id);
            req->answer_len = (size_t)len;
        } else {
            /* 503 either way; s_handler tells "nothing written" from "may
             * be written" by the code. */
            req->status = 503;
            req->answer_len = 0;
            req->unknown = res->result == KJ_STORE_UNKNOWN;
        }
        req->phase = S_READY;
        MHD_resume_connection(req->conn);
    }
    ingest_batch_push(api->batch, api->push);
    ingest_batch_clear(api->batch);
}

/* ---- POST /v1/complaints:batch (NDJSON) ----------------------------- */

/* One line of an upload piece, in order: in the batch (valid), or its
 * refusal. */
struct s_pend {
    size_t line;        /* 1-based physical line number */
    bool valid;         /* waits in api->nbatch (the next of its items) */
    ingest_error_t err; /* else: why it is refused */
};

/* The headers of a batch are in: method, key and scope, type, and a
 * declared length over KUJO_MAX_BATCH_BODY, all refused unread with the
 * JSON error shape. */
static enum MHD_Result
s_begin_batch(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req,
              const char *method)
{
    ingest_error_t err;
    if (strcmp(method, "POST") != 0) {
        ingest_error_set(&err, KJ_ERR_METHOD_NOT_ALLOWED,
                         "method %.16s is not allowed here; allowed: POST",
                         method);
        return s_fail(api, c, req, &err, "POST");
    }
    if (api->opts.auth) {
        enum MHD_Result rc = s_authorize(api, c, req);
        if (req->phase == S_DONE)
            return rc;
    }
    const char *type =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (!ingest_ndjson_type_ok(type, &err))
        return s_fail(api, c, req, &err, NULL);
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
        char *end = NULL;
        unsigned long long n = strtoull(cl, &end, 10);
        if (end != cl && n > (unsigned long long)api->opts.max_batch_body) {
            ingest_error_set(&err, KJ_ERR_BODY_TOO_LARGE,
                             "the body is larger than %" PRId64
                             " bytes; nothing was read",
                             api->opts.max_batch_body);
            return s_fail(api, c, req, &err, NULL);
        }
    }
    /* A line is a complaint body: the single-complaint limit bounds it. */
    req->nd =
        ingest_ndjson_new((size_t)api->opts.max_body, INGEST_NDJSON_MAX_LINES);
    return MHD_YES;
}

/* Refuse a line of the piece. */
static void
s_pend_error(ingest_api_t *api, size_t line, const ingest_error_t *err)
{
    struct s_pend *p = &api->pend[api->npend++];
    p->line = line;
    p->valid = false;
    p->err = *err;
}

/* Write the piece's valid lines (one rate-limit charge and one pipelined
 * create for all), push what was created, then append every line's
 * result in line order. After a Redis failure the request writes nothing
 * more: its later lines are answered unavailable at once rather than
 * each waiting out a timeout. */
static void
s_batch_flush(ingest_api_t *api, s_req_t *req)
{
    ingest_batch_t *b = api->nbatch;
    size_t n = ingest_batch_count(b);
    bool written = false;
    if (n > 0 && !req->nd_down) {
        int64_t now = kj_now_ms();
        s_limit_batch(api, b, n, now);
        if (ingest_batch_flush(b, api->store, now) < 0) {
            req->nd_down = true;
            if (now - api->last_redis_log_ms >= 1000) {
                kj_error("batch not stored", "s:reason",
                         kj_rc_name(KJ_ERR_REDIS), "i:count", (int)n);
                api->last_redis_log_ms = now;
            }
        }
        written = true;
    }
    size_t j = 0;
    for (size_t i = 0; i < api->npend; i++) {
        struct s_pend *p = &api->pend[i];
        ingest_error_t err;
        if (p->valid) {
            const ingest_batch_result_t *res = ingest_batch_result(b, j++);
            int r = written ? res->result : -1;
            if (r == 1 || r == 0) {
                ingest_ndjson_put_id(&req->nd_out, p->line, res->id);
                kj_counter_inc(api->m->batch_accepted);
                continue;
            }
            if (r == INGEST_BATCH_HELD) {
                ingest_error_set(&err, KJ_ERR_RATE_LIMITED,
                                 "over the rate limit of this API key or "
                                 "its tenant; nothing was written, retry "
                                 "after %" PRId64 " s",
                                 req->retry_after_s);
            } else if (r == KJ_STORE_UNKNOWN) {
                ingest_error_set(&err, KJ_ERR_OUTCOME_UNKNOWN,
                                 "storage did not answer in time; this line "
                                 "may or may not be stored: send it again "
                                 "(with its external_id that is safe)");
            } else {
                if (!written)
                    kj_counter_inc(api->m->failed_redis);
                ingest_error_set(&err, KJ_ERR_UNAVAILABLE,
                                 "storage is unavailable; this line was not "
                                 "stored, send it again");
            }
            ingest_ndjson_put_error(&req->nd_out, p->line, &err);
        } else {
            ingest_ndjson_put_error(&req->nd_out, p->line, &p->err);
        }
        kj_counter_inc(api->m->batch_refused);
    }
    /* Recorded first, pushed second, answered last (the contract). */
    if (written)
        ingest_batch_push(b, api->push);
    ingest_batch_clear(b);
    api->npend = 0;
}

/* Context of the splitter's callback. */
typedef struct {
    ingest_api_t *api;
    s_req_t *req;
} s_feed_t;

/* One line of the body: validated as POST /v1/complaints validates a
 * body, into the batch, or refused. */
static void
s_batch_line(void *ctx, ingest_ndjson_kind_t kind, size_t line,
             const char *data, size_t len)
{
    s_feed_t *f = ctx;
    ingest_api_t *api = f->api;
    ingest_error_t err;
    /* Every line takes a list entry and a valid one a batch slot: write
     * what is there when either is full. */
    if (api->npend == api->opts.batch_max)
        s_batch_flush(api, f->req);
    switch (kind) {
    case INGEST_NDJSON_TOO_LONG:
        ingest_error_set(&err, KJ_ERR_BODY_TOO_LARGE,
                         "this line is longer than %" PRId64
                         " bytes (a complaint's limit); it was not read",
                         api->opts.max_body);
        kj_counter_inc(api->m->failed_invalid);
        s_pend_error(api, line, &err);
        return;
    case INGEST_NDJSON_TOO_MANY:
        ingest_error_set(&err, KJ_ERR_BODY_TOO_LARGE,
                         "a batch holds at most %d lines; this line and "
                         "the rest of the body were not read",
                         INGEST_NDJSON_MAX_LINES);
        f->req->nd_stop = true;
        s_pend_error(api, line, &err);
        return;
    case INGEST_NDJSON_LINE:
        break;
    }
    const char *tenant = api->opts.auth ? f->req->tenant : NULL;
    if (ingest_validate_complaint_as(
            data, len, tenant, ingest_batch_slot(api->nbatch), &err) < 0) {
        kj_counter_inc(api->m->failed_invalid);
        s_pend_error(api, line, &err);
        return;
    }
    /* No Idempotency-Key: a line's external_id is its key. */
    ingest_batch_add(api->nbatch, f->req, NULL, kj_now_ms());
    struct s_pend *p = &api->pend[api->npend++];
    p->line = line;
    p->valid = true;
}

/* A piece of a batch's body: split, validate, write and push its lines
 * before returning, so nothing waits between pieces and memory is one
 * line plus the result lines. Past KUJO_MAX_BATCH_BODY the line being
 * read and the rest are not read (answered 413 with the results so far);
 * the rest is dropped up to as much again, then the connection is cut.
 * Returns false to close the connection. */
static bool
s_batch_body(ingest_api_t *api, s_req_t *req, const char *data, size_t n)
{
    if (req->phase != S_READING || !req->nd || req->nd_stop) {
        req->dropped += n;
        if (req->dropped <= (size_t)api->opts.max_batch_body)
            return true;
        kj_counter_inc(api->m->bodies_cut);
        return false;
    }
    size_t room = (size_t)api->opts.max_batch_body - req->nd_bytes;
    size_t take = n < room ? n : room;
    s_feed_t f = {.api = api, .req = req};
    (void)ingest_ndjson_feed(req->nd, data, take, s_batch_line, &f);
    req->nd_bytes += take;
    if (take < n && !req->nd_stop) {
        req->nd_stop = true;
        req->nd_cut_line = ingest_ndjson_line_now(req->nd);
        req->dropped += n - take;
    }
    s_batch_flush(api, req);
    return true;
}

/* The body is complete: the last line, then the answer: 200 if every
 * line was read, 413 if reading stopped; either way one result line per
 * line read. */
static enum MHD_Result
s_batch_done(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req)
{
    if (!req->nd_stop) {
        s_feed_t f = {.api = api, .req = req};
        (void)ingest_ndjson_finish(req->nd, s_batch_line, &f);
        s_batch_flush(api, req);
    }
    if (req->nd_cut_line > 0) {
        ingest_error_t err;
        ingest_error_set(&err, KJ_ERR_BODY_TOO_LARGE,
                         "the body is larger than %" PRId64
                         " bytes; this line and the rest were not read",
                         api->opts.max_batch_body);
        ingest_ndjson_put_error(&req->nd_out, req->nd_cut_line, &err);
        kj_counter_inc(api->m->batch_refused);
    }
    req->ndjson = true;
    req->retry_after_s = 0; /* per line, in the messages */
    return s_answer(api, c, req, req->nd_stop ? 413 : 200, req->nd_out.data,
                    req->nd_out.len, NULL);
}

/* ---- end of the NDJSON batch ---------------------------------------- */

static enum MHD_Result
s_submit(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req)
{
    ingest_error_t err;
    if (req->too_big)
        return s_too_big(api, c, req);
    /* A full batch is written now, from inside the handler: resuming
     * other connections here is allowed, and it bounds the batch. */
    if (ingest_batch_full(api->batch))
        s_flush(api);
    kj_complaint_t *slot = ingest_batch_slot(api->batch);
    const char *body = req->body ? req->body : "";
    const char *tenant = api->opts.auth ? req->tenant : NULL;
    if (ingest_validate_complaint_as(body, req->len, tenant, slot, &err) < 0)
        return s_fail(api, c, req, &err, NULL);
    ingest_batch_add(api->batch, req, req->has_idem ? req->idem : NULL,
                     kj_now_ms());
    req->phase = S_WAITING;
    MHD_suspend_connection(c);
    return MHD_YES;
}

/* True if the decoded record api->env may be shown to req's caller: any
 * in open mode, else only its own tenant's. */
static bool
s_owned(const ingest_api_t *api, const s_req_t *req)
{
    return !api->opts.auth ||
           strcmp(api->env->complaint.tenant, req->tenant) == 0;
}

/* with_pii: the caller may see the originals (complaints:read_pii), and
 * who names it in the audit entry that reading them writes. */
static enum MHD_Result
s_get(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req, bool with_pii,
      const char *who)
{
    ingest_error_t err;
    kj_store_record_t rec;
    memset(&rec, 0, sizeof rec);
    kj_store_pii_record_t pii;
    memset(&pii, 0, sizeof pii);
    enum MHD_Result rc;
    int found = kj_store_get(api->store, req->id, &rec);
    if (found < 0) {
        kj_counter_inc(api->m->redis_errors);
        rc = s_unavailable(api, c, req);
        goto out;
    }
    int decoded = -1;
    if (found == 1)
        decoded =
            kj_envelope_decode(api->codec, rec.env, rec.env_len, api->env);
    /* Another tenant's record is answered exactly as a missing one. */
    if (found == 0 || (decoded == 0 && !s_owned(api, req))) {
        ingest_error_set(&err, KJ_ERR_NO_SUCH_COMPLAINT,
                         "no complaint with id %s", req->id);
        rc = s_fail(api, c, req, &err, NULL);
        goto out;
    }
    if (decoded < 0) {
        /* Stored data, not input: a bug or corruption worth a log line. */
        kj_error("stored envelope does not decode", "s:id", req->id, "s:reason",
                 kj_rc_name(KJ_ERR_DECODE), "s:error",
                 kj_codec_error(api->codec));
        ingest_error_set(&err, KJ_ERR_DECODE,
                         "the stored record could not be decoded");
        rc = s_fail(api, c, req, &err, NULL);
        goto out;
    }
    int has_pii = 0;
    if (with_pii) {
        has_pii = kj_store_pii_get(api->store, req->id, who, kj_now_ms(), &pii);
        if (has_pii < 0) {
            kj_counter_inc(api->m->redis_errors);
            rc = s_unavailable(api, c, req);
            goto out;
        }
    }
    /* What the outbox delivered for it (customer acknowledgements, SLA
     * warnings, ...), under the record's tenant. Deliveries are owed from
     * routing on, so a record not yet routed has none: no round trip for
     * the polls of a complaint on its way. */
    json_t *outbox = NULL;
    bool routed_yet = strcmp(rec.state, "received") != 0 &&
                      strcmp(rec.state, "classified") != 0;
    if (api->opts.outbox && routed_yet &&
        kj_outbox_deliveries(api->opts.outbox, api->env->complaint.tenant,
                             req->id, &outbox) < 0) {
        kj_counter_inc(api->m->redis_errors);
        rc = s_unavailable(api, c, req);
        goto out;
    }
    char *json =
        ingest_record_json_with(&rec, api->env, has_pii ? &pii : NULL, outbox);
    json_decref(outbox);
    rc = s_answer(api, c, req, 200, json, strlen(json), NULL);
    free(json);
out:
    kj_store_pii_clear(&pii);
    free(rec.env);
    return rc;
}

/* GET /v1/complaints/{id}[?pii=1]: the originals only when asked for, by
 * a key holding complaints:read_pii, and audited as "key:<id>". */
static enum MHD_Result
s_get_item(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req)
{
    const char *pii =
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "pii");
    if (!pii || strcmp(pii, "0") == 0)
        return s_get(api, c, req, false, NULL);
    ingest_error_t err;
    if (strcmp(pii, "1") != 0) {
        ingest_error_set(&err, KJ_ERR_BAD_REQUEST, "query pii must be 0 or 1");
        return s_fail(api, c, req, &err, NULL);
    }
    if (!(req->scopes & KJ_SCOPE_COMPLAINTS_READ_PII)) {
        ingest_error_set(&err, KJ_ERR_FORBIDDEN,
                         "the originals need an API key with the scope "
                         "complaints:read_pii");
        return s_fail(api, c, req, &err, NULL);
    }
    char who[sizeof "key:" + KJ_APIKEY_ID_LEN];
    snprintf(who, sizeof who, "key:%s", req->key_id);
    return s_get(api, c, req, true, who);
}

static enum MHD_Result
s_replay(ingest_api_t *api, struct MHD_Connection *c, s_req_t *req)
{
    ingest_error_t err;
    if (api->opts.auth) {
        /* Only the caller's own tenant's records: read it first. A record
         * that does not decode is nobody's to replay here. */
        kj_store_record_t own;
        memset(&own, 0, sizeof own);
        int found = kj_store_get(api->store, req->id, &own);
        bool mine = found == 1 &&
                    kj_envelope_decode(api->codec, own.env, own.env_len,
                                       api->env) == 0 &&
                    s_owned(api, req);
        free(own.env);
        if (found < 0) {
            kj_counter_inc(api->m->redis_errors);
            return s_unavailable(api, c, req);
        }
        if (!mine) {
            ingest_error_set(&err, KJ_ERR_NO_SUCH_COMPLAINT,
                             "no complaint with id %s", req->id);
            return s_fail(api, c, req, &err, NULL);
        }
    }
    int rc = kj_store_replay(api->store, req->id, kj_now_ms());
    if (rc == 1) {
        char body[S_ANSWER_MAX];
        int len = snprintf(body, sizeof body,
                           "{\"id\":\"%s\",\"state\":\"replayed\"}", req->id);
        req->location = true;
        return s_answer(api, c, req, 202, body, (size_t)len, NULL);
    }
    kj_store_record_t rec;
    memset(&rec, 0, sizeof rec);
    /* Not replayed: tell "not dead" from "no such record". */
    int found = rc == 0 ? kj_store_get(api->store, req->id, &rec) : -1;
    free(rec.env);
    if (found < 0) {
        kj_counter_inc(api->m->redis_errors);
        return s_unavailable(api, c, req);
    }
    if (found == 0)
        ingest_error_set(&err, KJ_ERR_NO_SUCH_COMPLAINT,
                         "no complaint with id %s", req->id);
    else
        ingest_error_set(&err, KJ_ERR_NOT_DEAD,
                         "complaint %s is %s, not dead; only dead "
                         "complaints can be replayed",
                         req->id, rec.state);
    return s_fail(api, c, req, &err, NULL);
}

static enum MHD_Result
s_handler(void *cls, struct MHD_Connection *c, const char *url,
          const char *method, const char *version, const char *upload,
          size_t *upload_size, void **con_cls)
{
    ingest_api_t *api = cls;
    s_req_t *req = *con_cls;
    if (!req) {
        req = s_req_new(api);
        *con_cls = req;
        return s_begin(api, c, req, url, method, version);
    }
    switch (req->phase) {
    case S_READY:
        if (req->route == S_INBOUND)
            return s_inbound_answer(api, c, req);
        if (req->route == S_FEEDBACK)
            return s_feedback_answer(api, c, req);
        if (req->status == 429)
            return s_rate_limited(api, c, req, req->retry_after_s * 1000);
        if (req->status == 503)
            return req->unknown ? s_outcome_unknown(api, c, req)
                                : s_unavailable(api, c, req);
        return s_answer(api, c, req, req->status, req->answer, req->answer_len,
                        NULL);
    case S_DONE:
    case S_WAITING:
        /* Answered already: whatever body follows is dropped. */
        *upload_size = 0;
        return MHD_YES;
    case S_READING:
        break;
    }
    if (*upload_size > 0) {
        bool go_on = s_body_add(api, req, upload, *upload_size);
        *upload_size = 0;
        return go_on ? MHD_YES : MHD_NO;
    }
    req->done_s = s_mono_s();
    switch (req->route) {
    case S_COLLECTION:
        return s_submit(api, c, req);
    case S_ITEM:
        return s_get_item(api, c, req);
    case S_REPLAY:
        return s_replay(api, c, req);
    case S_CASES:
        return s_cases(api, c, req);
    case S_OPENAPI:
        return s_answer(api, c, req, 200, ingest_openapi_json,
                        ingest_openapi_json_len, NULL);
    case S_INBOUND:
        return s_inbound(api, c, req, method);
    case S_BATCH:
        return s_batch_done(api, c, req);
    case S_FEEDBACK:
        return s_feedback(api, c, req);
    case S_NONE:
        break;
    }
    return MHD_NO; /* s_begin answered S_NONE already */
}

static void
s_completed(void *cls, struct MHD_Connection *c, void **con_cls,
            enum MHD_RequestTerminationCode toe)
{
    (void)c;
    (void)toe;
    ingest_api_t *api = cls;
    s_req_t *req = *con_cls;
    if (!req)
        return;
    *con_cls = NULL;
    if (req->phase == S_WAITING) {
        /* The batch still points at it; freeing would be a use after
         * free. Suspended connections are never completed while we run,
         * so this is a bug: keep the memory and say so. */
        kj_error("request completed while waiting in the batch");
        return;
    }
    s_req_free(api, req);
}

__attribute__((format(printf, 2, 0))) static void
s_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[256];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    kj_warn("http server", "s:detail", buf);
}

ingest_api_t *
ingest_api_new(const ingest_api_opts_t *opts, kj_store_t *store,
               kj_push_t *push, ingest_metrics_t *metrics)
{
    struct sockaddr_in sa;
    if (kj_http_sockaddr(opts->http_addr, &sa) < 0) {
        kj_error("bad listen address", "s:addr", opts->http_addr);
        return NULL;
    }
    ingest_api_t *self = kj_calloc(1, sizeof *self);
    self->opts = *opts;
    self->store = store;
    self->push = push;
    self->m = metrics;
    self->batch = ingest_batch_new(opts->batch_max, metrics);
    self->takes = kj_calloc(opts->batch_max, sizeof *self->takes);
    self->take_of = kj_calloc(opts->batch_max, sizeof *self->take_of);
    self->nbatch = ingest_batch_new(opts->batch_max, metrics);
    self->pend = kj_calloc(opts->batch_max, sizeof *self->pend);
    self->codec = kj_codec_new();
    self->env = kj_calloc(1, sizeof *self->env);
    self->deadlines =
        kj_http_deadline_new(opts->header_timeout_ms, opts->body_timeout_ms);
    /* External polling (our loop) on epoll; suspend/resume for the batch;
     * turbo skips per-connection syscalls that cost ~270 ns each here. */
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    self->d = MHD_start_daemon(
        flags, 0, NULL, NULL, s_handler, self, MHD_OPTION_EXTERNAL_LOGGER,
        s_mhd_log, self, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
        MHD_OPTION_CONNECTION_TIMEOUT, opts->conn_timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, opts->conn_limit,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        MHD_OPTION_NOTIFY_CONNECTION, kj_http_deadline_notify, self->deadlines,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, opts->per_ip_limit, MHD_OPTION_END);
    if (!self->d) {
        kj_error("cannot listen", "s:addr", opts->http_addr);
        ingest_api_destroy(&self);
        return NULL;
    }
    self->port = kj_http_daemon_port(self->d);
    return self;
}

void
ingest_api_destroy(ingest_api_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ingest_api_t *self = *self_p;
    /* Nothing may stay suspended when the daemon stops: answer (or fail)
     * whatever is still in the batch first. */
    if (self->batch)
        s_flush(self);
    if (self->d)
        MHD_stop_daemon(self->d);
    kj_http_deadline_destroy(&self->deadlines);
    while (self->pool) {
        s_req_t *req = self->pool;
        self->pool = req->next;
        s_req_drop(req);
    }
    ingest_batch_destroy(&self->batch);
    ingest_batch_destroy(&self->nbatch);
    free(self->pend);
    free(self->takes);
    free(self->take_of);
    kj_codec_destroy(&self->codec);
    free(self->env);
    free(self);
    *self_p = NULL;
}

int
ingest_api_port(const ingest_api_t *self)
{
    return self->port;
}

int
ingest_api_fd(const ingest_api_t *self)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(self->d, MHD_DAEMON_INFO_EPOLL_FD);
    return info ? info->epoll_fd : -1;
}

long
ingest_api_timeout_ms(ingest_api_t *self)
{
    if (ingest_batch_count(self->batch) > 0)
        return 0;
    MHD_UNSIGNED_LONG_LONG t;
    if (MHD_get_timeout(self->d, &t) != MHD_YES)
        return -1;
    return t > (MHD_UNSIGNED_LONG_LONG)LONG_MAX ? LONG_MAX : (long)t;
}

void
ingest_api_run(ingest_api_t *self)
{
    MHD_run(self->d);
    if (ingest_batch_count(self->batch) == 0)
        return;
    s_flush(self);
    /* Run again at once so the resumed connections get their answers in
     * this turn rather than after the next poll. */
    MHD_run(self->d);
}

void
ingest_api_quiesce(ingest_api_t *self)
{
    self->draining = true;
    MHD_socket fd = MHD_quiesce_daemon(self->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

bool
ingest_api_idle(const ingest_api_t *self)
{
    return self->active == 0 && ingest_batch_count(self->batch) == 0;
}

void
ingest_api_sweep(ingest_api_t *self, int64_t now_ms)
{
    kj_http_cut_t cut = kj_http_deadline_sweep(self->deadlines, now_ms);
    kj_counter_add(self->m->idle_cut, cut.idle);
    if (cut.headers == 0 && cut.body == 0)
        return; /* idle keep-alive closed: routine, not worth a line */
    kj_counter_add(self->m->slow_headers, cut.headers);
    kj_counter_add(self->m->slow_body, cut.body);
    /* A slowloris attack cuts hundreds a second: one line per period. */
    if (now_ms - self->last_cut_log_ms >= S_CUT_LOG_MS) {
        kj_warn("slow clients cut", "s:reason", kj_rc_name(KJ_ERR_TOO_SLOW),
                "i:headers", (int)cut.headers, "i:body", (int)cut.body,
                "i:open", (int)kj_http_deadline_count(self->deadlines));
        self->last_cut_log_ms = now_ms;
    }
}
