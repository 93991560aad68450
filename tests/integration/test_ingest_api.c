/* kujo-ingest's public API against a real redis-server and the real
 * binary, over real HTTP (libcurl). Each test starts its own Redis and its
 * own kujo-ingest on free loopback ports. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <zmq.h>

#include "kj_envelope.h"
#include "kj_harness.h"
#include "kj_mq.h"
#include "kj_redis.h"
#include "kj_registry.h"
#include "kj_store.h"
#include "kj_testredis.h"
#include "kj_util.h"

#define PREFIX "itest"
#define WAIT_MS 10000

static kj_testredis_t g_redis;
static kj_proc_t *g_ingest;
/* A real PULL socket registered as the classifier: ingest is ready only
 * once it knows one, and what it pushes lands here. */
static void *g_zctx;
static kj_pull_t *g_pull;
static int g_http_port, g_admin_port;
static char g_api[64], g_admin[64], g_log[300];

/* ------------------------------------------------------------------ */
/* A small libcurl client that can send anything a client might. */

typedef struct {
    long status;
    char body[65536];
    size_t len;
    char location[128];
    char allow[64];
} s_resp_t;

typedef struct {
    const char *data;
    size_t len, off;
} s_upload_t;

static size_t
s_on_body(char *p, size_t size, size_t n, void *ud)
{
    s_resp_t *r = ud;
    size_t len = size * n;
    size_t room = sizeof r->body - 1 - r->len;
    size_t take = len < room ? len : room;
    memcpy(r->body + r->len, p, take);
    r->len += take;
    r->body[r->len] = '\0';
    return len;
}

static void
s_header_value(const char *line, size_t len, const char *name, char *dst,
               size_t size)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(line, name, nl) != 0)
        return;
    const char *v = line + nl;
    size_t vl = len - nl;
    while (vl > 0 && (*v == ' ')) {
        v++;
        vl--;
    }
    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
        vl--;
    if (vl >= size)
        vl = size - 1;
    memcpy(dst, v, vl);
    dst[vl] = '\0';
}

static size_t
s_on_header(char *p, size_t size, size_t n, void *ud)
{
    s_resp_t *r = ud;
    s_header_value(p, size * n, "Location:", r->location, sizeof r->location);
    s_header_value(p, size * n, "Allow:", r->allow, sizeof r->allow);
    return size * n;
}

static size_t
s_on_read(char *buf, size_t size, size_t n, void *ud)
{
    s_upload_t *u = ud;
    size_t want = size * n, left = u->len - u->off;
    size_t take = want < left ? want : left;
    memcpy(buf, u->data + u->off, take);
    u->off += take;
    return take;
}

/* One request. type/idem NULL: header not sent. chunked: the body goes
 * without Content-Length. Returns 0 when an answer came. */
static int
s_http(const char *method, const char *path, const char *type, const char *idem,
       const char *body, size_t len, bool chunked, s_resp_t *out)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    cr_assert(ne(ptr, c, NULL));
    char url[512];
    snprintf(url, sizeof url, "%s%s", g_api, path);
    struct curl_slist *h = NULL;
    char line[512];
    if (type) {
        snprintf(line, sizeof line, "Content-Type: %s", type);
        h = curl_slist_append(h, line);
    }
    if (idem) {
        snprintf(line, sizeof line, "Idempotency-Key: %s", idem);
        h = curl_slist_append(h, line);
    }
    /* No 100-continue round: answers must not depend on it. */
    h = curl_slist_append(h, "Expect:");
    s_upload_t up = {body, len, 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    if (body && chunked) {
        h = curl_slist_append(h, "Transfer-Encoding: chunked");
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, s_on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
    } else if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : -1;
}

static int
s_post(const char *body, const char *idem, s_resp_t *out)
{
    return s_http("POST", "/v1/complaints", "application/json", idem, body,
                  strlen(body), false, out);
}

static long
s_get_url(const char *url, char *body, size_t size)
{
    CURL *c = curl_easy_init();
    s_resp_t *r = calloc(1, sizeof *r);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (body)
        snprintf(body, size, "%s", r->body);
    curl_easy_cleanup(c);
    free(r);
    return status;
}

/* The answer's JSON field (string), or "". */
static char *
s_field(const s_resp_t *r, const char *a, const char *b, char *buf, size_t size)
{
    buf[0] = '\0';
    json_t *j = json_loads(r->body, 0, NULL);
    json_t *v = j ? json_object_get(j, a) : NULL;
    if (v && b)
        v = json_object_get(v, b);
    if (json_is_string(v))
        snprintf(buf, size, "%s", json_string_value(v));
    json_decref(j);
    return buf;
}

static long long
s_dbsize(void)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", g_redis.port, tv);
    cr_assert(ne(ptr, c, NULL));
    redisReply *r = redisCommand(c, "DBSIZE");
    cr_assert(ne(ptr, r, NULL));
    long long n = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

/* ------------------------------------------------------------------ */
/* Fixture: redis + kujo-ingest, ready. */

static void
s_wait_ready(void)
{
    char url[96];
    snprintf(url, sizeof url, "%s/readyz", g_admin);
    for (int i = 0; i < WAIT_MS / 50; i++) {
        if (s_get_url(url, NULL, 0) == 200)
            return;
        if (!kj_proc_alive(g_ingest))
            break;
        kj_test_sleep_ms(50);
    }
    kj_proc_print_log_tail(g_ingest, stderr, 40);
    cr_fatal("kujo-ingest did not become ready");
}

/* Put the fixture's classifier socket in the registry (for an hour), or
 * take it out. */
static void
s_register_classifier(bool on)
{
    if (!g_pull) {
        g_zctx = zmq_ctx_new();
        g_pull = kj_pull_new(g_zctx, "tcp://127.0.0.1:*", NULL, 100);
        cr_assert(ne(ptr, g_pull, NULL));
    }
    char err[128];
    kj_redis_t *redis = kj_redis_new(g_redis.url, 2000, err, sizeof err);
    cr_assert(ne(ptr, redis, NULL));
    const char *ep = kj_pull_endpoint(g_pull);
    int rc = on ? kj_registry_heartbeat(redis, PREFIX, "classifier", ep,
                                        kj_now_ms(), 3600 * 1000)
                : kj_registry_remove(redis, PREFIX, "classifier", ep);
    cr_assert(eq(int, rc, 0));
    kj_redis_destroy(&redis);
}

static void
setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    cr_assert(eq(int, kj_testredis_start(&g_redis, false), 0));
    g_http_port = kj_test_free_port();
    g_admin_port = kj_test_free_port();
    snprintf(g_api, sizeof g_api, "http://127.0.0.1:%d", g_http_port);
    snprintf(g_admin, sizeof g_admin, "http://127.0.0.1:%d", g_admin_port);
    snprintf(g_log, sizeof g_log, "%s/ingest.log", g_redis.dir);
    char redis_url[96], http[64], admin[64];
    snprintf(redis_url, sizeof redis_url, "KUJO_REDIS_URL=%s", g_redis.url);
    snprintf(http, sizeof http, "KUJO_HTTP_ADDR=127.0.0.1:%d", g_http_port);
    snprintf(admin, sizeof admin, "KUJO_ADMIN_ADDR=127.0.0.1:%d", g_admin_port);
    const char *env[] = {
        redis_url, http, admin, "KUJO_PREFIX=" PREFIX, "KUJO_DRAIN_MS=3000",
        /* Keys are test_auth's subject; this file tests the API itself. */
        "KUJO_AUTH=open", NULL};
    g_ingest = kj_proc_start("kujo-ingest", KJ_BIN_DIR "/kujo-ingest", NULL,
                             env, g_log);
    cr_assert(ne(ptr, g_ingest, NULL));
    s_register_classifier(true);
    s_wait_ready();
}

static void
teardown(void)
{
    kj_proc_destroy(&g_ingest);
    kj_pull_destroy(&g_pull);
    if (g_zctx)
        zmq_ctx_term(g_zctx);
    g_zctx = NULL;
    kj_testredis_stop(&g_redis);
    curl_global_cleanup();
}

TestSuite(ingest_api, .init = setup, .fini = teardown, .timeout = 60);

#define BODY_EN                                                                \
    "{\"channel\":\"x\",\"customer\":{\"id\":\"c-17\",\"tier\":\"gold\"},"     \
    "\"text\":\"The app crashes on login\",\"public\":true,"                   \
    "\"subject\":\"login\"}"

/* ------------------------------------------------------------------ */

Test(ingest_api, post_then_get)
{
    s_resp_t *r = calloc(1, sizeof *r);
    char id[64], buf[256];
    cr_assert(eq(int, s_post(BODY_EN, NULL, r), 0));
    cr_assert(eq(long, r->status, 202), "%s", r->body);
    s_field(r, "id", NULL, id, sizeof id);
    cr_assert(eq(sz, strlen(id), 20));
    cr_assert(eq(str, s_field(r, "state", NULL, buf, sizeof buf), "received"));
    char loc[96];
    snprintf(loc, sizeof loc, "/v1/complaints/%s", id);
    cr_assert(eq(str, r->location, loc));

    cr_assert(eq(int, s_http("GET", loc, NULL, NULL, NULL, 0, false, r), 0));
    cr_assert(eq(long, r->status, 200), "%s", r->body);
    json_t *j = json_loads(r->body, 0, NULL);
    cr_assert(ne(ptr, j, NULL), "%s", r->body);
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "id")), id));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "state")),
                 "received"));
    cr_assert(
        eq(str, (char *)json_string_value(json_object_get(j, "channel")), "x"));
    /* Not classified yet: text and subject are withheld, not raw. */
    cr_assert(eq(ptr, json_object_get(j, "text"), NULL));
    cr_assert(eq(ptr, json_object_get(j, "subject"), NULL));
    cr_assert(eq(str,
                 (char *)json_string_value(json_object_get(j, "text_withheld")),
                 "not yet classified"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "tenant")),
                 "default"));
    json_t *cust = json_object_get(j, "customer");
    cr_assert(eq(str, (char *)json_string_value(json_object_get(cust, "id")),
                 "c-17"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(cust, "tier")),
                 "gold"));
    cr_assert(eq(int, json_is_true(json_object_get(j, "public")), 1));
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "attempts")), 1));
    cr_assert(
        eq(sz, strlen(json_string_value(json_object_get(j, "trace_id"))), 32));
    cr_assert(eq(int, json_is_null(json_object_get(j, "triage")), 1));
    cr_assert(eq(int, json_is_null(json_object_get(j, "e2e_ms")), 1));
    json_t *st = json_object_get(json_object_get(j, "stages"), "ingest");
    json_int_t in = json_integer_value(json_object_get(st, "in_ms"));
    json_int_t out = json_integer_value(json_object_get(st, "out_ms"));
    cr_assert(gt(i64, in, 0));
    cr_assert(ge(i64, out, in));
    json_decref(j);

    /* HEAD answers like GET, without a body. */
    cr_assert(eq(int, s_http("HEAD", loc, NULL, NULL, NULL, 0, false, r), 0));
    cr_assert(eq(long, r->status, 200));
    free(r);
}

Test(ingest_api, japanese_complaint_round_trips)
{
    const char *body =
        "{\"channel\":\"email\",\"tenant\":\"acme\",\"customer\":{\"id\":"
        "\"顧客-1\"},\"text\":\"注文した商品が届きません。\","
        "\"received_at\":\"2026-11-23T18:00:00+09:00\"}";
    s_resp_t *r = calloc(1, sizeof *r);
    char id[64];
    cr_assert(
        eq(int,
           s_http("POST", "/v1/complaints", "application/json; charset=utf-8",
                  NULL, body, strlen(body), false, r),
           0));
    cr_assert(eq(long, r->status, 202), "%s", r->body);
    s_field(r, "id", NULL, id, sizeof id);
    char path[96];
    snprintf(path, sizeof path, "/v1/complaints/%s", id);
    cr_assert(eq(int, s_http("GET", path, NULL, NULL, NULL, 0, false, r), 0));
    json_t *j = json_loads(r->body, 0, NULL);
    /* GET withholds the unmasked text; the original is in the PII
     * record, byte for byte. */
    char err[128];
    kj_redis_t *redis = kj_redis_new(g_redis.url, 2000, err, sizeof err);
    cr_assert(ne(ptr, redis, NULL), "%s", err);
    kj_store_opts_t so = {.prefix = PREFIX,
                          .lease_ms = 10000,
                          .max_attempts = 1,
                          .stream_maxlen = 1000};
    kj_store_t *store = kj_store_new(redis, &so);
    kj_store_pii_record_t pii;
    cr_assert(
        eq(int, kj_store_pii_get(store, id, "test", kj_now_ms(), &pii), 1));
    cr_assert(eq(str, pii.text, "注文した商品が届きません。"));
    kj_store_pii_clear(&pii);
    kj_store_destroy(&store);
    kj_redis_destroy(&redis);
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "tenant")),
                 "acme"));
    cr_assert(eq(str,
                 (char *)json_string_value(json_object_get(j, "received_at")),
                 "2026-11-23T09:00:00.000Z"));
    json_decref(j);
    free(r);
}

Test(ingest_api, idempotency_key_repeat_returns_same_id)
{
    s_resp_t *r = calloc(1, sizeof *r);
    char id1[64], id2[64], id3[64];
    cr_assert(eq(int, s_post(BODY_EN, "order-17", r), 0));
    cr_assert(eq(long, r->status, 202), "%s", r->body);
    s_field(r, "id", NULL, id1, sizeof id1);
    long long size = s_dbsize();
    cr_assert(eq(int, s_post(BODY_EN, "order-17", r), 0));
    cr_assert(eq(long, r->status, 200), "%s", r->body);
    s_field(r, "id", NULL, id2, sizeof id2);
    cr_assert(eq(str, id1, id2));
    char loc[96];
    snprintf(loc, sizeof loc, "/v1/complaints/%s", id1);
    cr_assert(eq(str, r->location, loc));
    /* The repeat wrote no second record. */
    cr_assert(eq(i64, s_dbsize(), size));
    /* The key is scoped by tenant: another tenant's same key is new. */
    const char *other = "{\"channel\":\"x\",\"tenant\":\"other\","
                        "\"customer\":{\"id\":\"c\"},\"text\":\"hi\"}";
    cr_assert(eq(int, s_post(other, "order-17", r), 0));
    cr_assert(eq(long, r->status, 202), "%s", r->body);
    s_field(r, "id", NULL, id3, sizeof id3);
    cr_assert(ne(str, id1, id3));
    free(r);
}

Test(ingest_api, external_id_repeat_returns_same_id)
{
    const char *post = "{\"channel\":\"x\",\"customer\":{\"id\":\"@kenji\"},"
                       "\"text\":\"still down\",\"external_id\":\"tw-99\"}";
    const char *again = "{\"channel\":\"x\",\"customer\":{\"id\":\"@kenji\"},"
                        "\"text\":\"still down!\",\"external_id\":\"tw-99\"}";
    const char *other_channel =
        "{\"channel\":\"facebook\",\"customer\":{\"id\":\"@kenji\"},"
        "\"text\":\"still down\",\"external_id\":\"tw-99\"}";
    s_resp_t *r = calloc(1, sizeof *r);
    char id1[64], id2[64], id3[64];
    cr_assert(eq(int, s_post(post, NULL, r), 0));
    cr_assert(eq(long, r->status, 202), "%s", r->body);
    s_field(r, "id", NULL, id1, sizeof id1);
    cr_assert(eq(int, s_post(again, NULL, r), 0));
    cr_assert(eq(long, r->status, 200), "%s", r->body);
    s_field(r, "id", NULL, id2, sizeof id2);
    cr_assert(eq(str, id1, id2));
    cr_assert(eq(int, s_post(other_channel, NULL, r), 0));
    cr_assert(eq(long, r->status, 202), "%s", r->body);
    s_field(r, "id", NULL, id3, sizeof id3);
    cr_assert(ne(str, id1, id3));
    free(r);
}

/* A request the API must refuse, and how. */
typedef struct {
    const char *name;
    const char *method;
    const char *path;
    const char *type;
    const char *idem; /* "<long>": 201 characters */
    const char *body; /* NULL: none; "<big>": KUJO_MAX_BODY + 1 bytes */
    bool chunked;
    long status;
    const char *code;
} s_bad_t;

#define JSON "application/json"
#define VALID "{\"channel\":\"x\",\"customer\":{\"id\":\"c\"},\"text\":\"t\"}"

static const s_bad_t s_bad[] = {
    {"invalid json", "POST", "/v1/complaints", JSON, NULL, "{\"channel\":", 0,
     400, "invalid_json"},
    {"missing text", "POST", "/v1/complaints", JSON, NULL,
     "{\"channel\":\"x\",\"customer\":{\"id\":\"c\"}}", 0, 400,
     "missing_field"},
    {"wrong type", "POST", "/v1/complaints", JSON, NULL,
     "{\"channel\":\"x\",\"customer\":{\"id\":1},\"text\":\"t\"}", 0, 400,
     "wrong_type"},
    {"invalid utf8", "POST", "/v1/complaints", JSON, NULL,
     "{\"channel\":\"x\",\"customer\":{\"id\":\"c\"},\"text\":\"\xff\"}", 0,
     400, "invalid_utf8"},
    {"empty text", "POST", "/v1/complaints", JSON, NULL,
     "{\"channel\":\"x\",\"customer\":{\"id\":\"c\"},\"text\":\"  \"}", 0, 400,
     "empty_text"},
    {"unknown channel", "POST", "/v1/complaints", JSON, NULL,
     "{\"channel\":\"fax\",\"customer\":{\"id\":\"c\"},\"text\":\"t\"}", 0, 400,
     "unknown_channel"},
    {"unknown field", "POST", "/v1/complaints", JSON, NULL,
     "{\"channel\":\"x\",\"customer\":{\"id\":\"c\"},\"text\":\"t\","
     "\"priority\":1}",
     0, 400, "unknown_field"},
    {"bad received_at", "POST", "/v1/complaints", JSON, NULL,
     "{\"channel\":\"x\",\"customer\":{\"id\":\"c\"},\"text\":\"t\","
     "\"received_at\":\"now\"}",
     0, 400, "invalid_time"},
    {"duplicate keys", "POST", "/v1/complaints", JSON, NULL,
     "{\"channel\":\"x\",\"channel\":\"x\",\"customer\":{\"id\":\"c\"},"
     "\"text\":\"t\"}",
     0, 400, "invalid_json"},
    {"idempotency key too long", "POST", "/v1/complaints", JSON, "<long>",
     VALID, 0, 400, "invalid_idempotency_key"},
    {"text/plain", "POST", "/v1/complaints", "text/plain", NULL, VALID, 0, 415,
     "unsupported_media_type"},
    {"no content type", "POST", "/v1/complaints", NULL, NULL, VALID, 0, 415,
     "unsupported_media_type"},
    {"latin1 charset", "POST", "/v1/complaints",
     "application/json; charset=iso-8859-1", NULL, VALID, 0, 415,
     "unsupported_media_type"},
    {"body over the limit", "POST", "/v1/complaints", JSON, NULL, "<big>", 0,
     413, "body_too_large"},
    {"chunked body over the limit", "POST", "/v1/complaints", JSON, NULL,
     "<big>", 1, 413, "body_too_large"},
    {"GET the collection", "GET", "/v1/complaints", NULL, NULL, NULL, 0, 405,
     "method_not_allowed"},
    {"DELETE a complaint", "DELETE", "/v1/complaints/0000000000000000000f",
     NULL, NULL, NULL, 0, 405, "method_not_allowed"},
    {"PUT", "PUT", "/v1/complaints", JSON, NULL, VALID, 0, 405,
     "method_not_allowed"},
    {"GET unknown id", "GET", "/v1/complaints/0000000000000000000f", NULL, NULL,
     NULL, 0, 404, "no_such_complaint"},
    {"GET malformed id", "GET", "/v1/complaints/not-an-id", NULL, NULL, NULL, 0,
     404, "not_found"},
    {"GET upper-case id", "GET", "/v1/complaints/0000000000000000000F", NULL,
     NULL, NULL, 0, 404, "not_found"},
    {"unknown path", "GET", "/v2/complaints", NULL, NULL, NULL, 0, 404,
     "not_found"},
    {"trailing slash", "POST", "/v1/complaints/", JSON, NULL, VALID, 0, 404,
     "not_found"},
    {"replay unknown id", "POST", "/v1/complaints/0000000000000000000f/replay",
     NULL, NULL, NULL, 0, 404, "no_such_complaint"},
    {"replay with GET", "GET", "/v1/complaints/0000000000000000000f/replay",
     NULL, NULL, NULL, 0, 405, "method_not_allowed"},
};

Test(ingest_api, bad_requests_change_nothing)
{
    /* One real record, so that "nothing changed" is checked against a
     * database that is not empty. */
    s_resp_t *r = calloc(1, sizeof *r);
    cr_assert(eq(int, s_post(BODY_EN, NULL, r), 0));
    cr_assert(eq(long, r->status, 202));
    long long before = s_dbsize();
    size_t big_len = 65537;
    char *big = malloc(big_len + 1);
    memset(big, ' ', big_len);
    big[big_len] = '\0';
    for (size_t i = 0; i < sizeof s_bad / sizeof s_bad[0]; i++) {
        const s_bad_t *t = &s_bad[i];
        const char *body = t->body;
        size_t len = body ? strlen(body) : 0;
        if (body && strcmp(body, "<big>") == 0) {
            body = big;
            len = big_len;
        }
        char long_key[202];
        memset(long_key, 'k', 201);
        long_key[201] = '\0';
        const char *idem = t->idem;
        if (idem && strcmp(idem, "<long>") == 0)
            idem = long_key;
        int rc =
            s_http(t->method, t->path, t->type, idem, body, len, t->chunked, r);
        cr_expect(eq(int, rc, 0), "%s: no answer", t->name);
        cr_expect(eq(long, r->status, t->status), "%s: %s", t->name, r->body);
        char code[64];
        cr_expect(eq(str, s_field(r, "error", "code", code, sizeof code),
                     (char *)t->code),
                  "%s: %s", t->name, r->body);
        char msg[256];
        cr_expect(
            gt(sz, strlen(s_field(r, "error", "message", msg, sizeof msg)), 0),
            "%s", t->name);
        if (t->status == 405)
            cr_expect(gt(sz, strlen(r->allow), 0), "%s: no Allow header",
                      t->name);
    }
    free(big);
    cr_assert(eq(i64, s_dbsize(), before));
    /* The service is still fine after all that. */
    cr_assert(eq(int, s_post(BODY_EN, NULL, r), 0));
    cr_assert(eq(long, r->status, 202));
    free(r);
}

Test(ingest_api, endless_chunked_upload_is_cut_off)
{
    /* Past 2 x KUJO_MAX_BODY of discarded body the connection is closed
     * rather than read for ever. */
    size_t len = 3 * 1024 * 1024;
    char *body = malloc(len);
    memset(body, ' ', len);
    s_resp_t *r = calloc(1, sizeof *r);
    cr_assert(
        eq(int,
           s_http("POST", "/v1/complaints", JSON, NULL, body, len, true, r),
           -1),
        "answered %ld", r->status);
    free(body);
    cr_assert(eq(int, s_post(BODY_EN, NULL, r), 0));
    cr_assert(eq(long, r->status, 202));
    free(r);
}

Test(ingest_api, replay_puts_a_dead_record_back)
{
    s_resp_t *r = calloc(1, sizeof *r);
    char id[64], buf[64], path[128];
    cr_assert(eq(int, s_post(BODY_EN, NULL, r), 0));
    s_field(r, "id", NULL, id, sizeof id);
    snprintf(path, sizeof path, "/v1/complaints/%s/replay", id);
    /* Not dead yet. */
    cr_assert(eq(int, s_http("POST", path, NULL, NULL, NULL, 0, false, r), 0));
    cr_assert(eq(long, r->status, 409), "%s", r->body);
    cr_assert(
        eq(str, s_field(r, "error", "code", buf, sizeof buf), "not_dead"));

    /* Dead-letter it the way a stage would: a failed attempt with no
     * attempts left. */
    char err[128];
    kj_redis_t *redis = kj_redis_new(g_redis.url, 2000, err, sizeof err);
    cr_assert(ne(ptr, redis, NULL), "%s", err);
    kj_store_opts_t so = {.prefix = PREFIX,
                          .lease_ms = 10000,
                          .max_attempts = 1,
                          .stream_maxlen = 1000,
                          .idem_ttl_s = 60};
    kj_store_t *store = kj_store_new(redis, &so);
    kj_store_retry_t rt = {.id = id,
                           .state = "received",
                           .next_ms = kj_now_ms(),
                           .error = "test: gave up"};
    cr_assert(eq(int, kj_store_retry(store, &rt, 1, kj_now_ms()), 0));
    cr_assert(eq(int, rt.result, 2));
    kj_store_destroy(&store);
    kj_redis_destroy(&redis);

    char get[128];
    snprintf(get, sizeof get, "/v1/complaints/%s", id);
    cr_assert(eq(int, s_http("GET", get, NULL, NULL, NULL, 0, false, r), 0));
    cr_assert(eq(str, s_field(r, "state", NULL, buf, sizeof buf), "dead"));
    cr_assert(
        eq(str, s_field(r, "reason", NULL, buf, sizeof buf), "test: gave up"));

    cr_assert(eq(int, s_http("POST", path, NULL, NULL, NULL, 0, false, r), 0));
    cr_assert(eq(long, r->status, 202), "%s", r->body);
    cr_assert(eq(str, s_field(r, "state", NULL, buf, sizeof buf), "replayed"));
    cr_assert(eq(str, s_field(r, "id", NULL, buf, sizeof buf), id));
    cr_assert(eq(int, s_http("GET", get, NULL, NULL, NULL, 0, false, r), 0));
    cr_assert(eq(str, s_field(r, "state", NULL, buf, sizeof buf), "received"));
    free(r);
}

Test(ingest_api, accepted_complaint_is_pushed_to_a_registered_classifier)
{
    /* Ready means a classifier copy is known, and /readyz says so. */
    char metrics[65536], url[96], body[512];
    snprintf(url, sizeof url, "%s/readyz", g_admin);
    cr_assert(eq(long, s_get_url(url, body, sizeof body), 200));
    cr_assert(ne(ptr, strstr(body, "1 classifier copy"), NULL), "%s", body);
    snprintf(url, sizeof url, "%s/metrics", g_admin);
    double peers = 0;
    cr_assert(eq(long, s_get_url(url, metrics, sizeof metrics), 200));
    kj_prom_value(metrics, "kujo_downstream_peers", NULL, &peers);
    cr_assert(eq(dbl, peers, 1.0));

    s_resp_t *r = calloc(1, sizeof *r);
    char id[64];
    cr_assert(eq(int, s_post(BODY_EN, NULL, r), 0));
    cr_assert(eq(long, r->status, 202));
    s_field(r, "id", NULL, id, sizeof id);

    zmq_pollitem_t it = {kj_pull_socket(g_pull), 0, ZMQ_POLLIN, 0};
    cr_assert(eq(int, zmq_poll(&it, 1, 5000), 1), "nothing was pushed");
    const uint8_t *data;
    size_t len;
    cr_assert(eq(int, kj_pull_recv(g_pull, &data, &len), 1));
    kj_codec_t *codec = kj_codec_new();
    kj_envelope_t *env = calloc(1, sizeof *env);
    cr_assert(eq(int, kj_envelope_decode(codec, data, len, env), 0));
    cr_assert(eq(str, env->complaint.id, id));
    cr_assert(eq(str, env->complaint.text, "The app crashes on login"));
    cr_assert(eq(u32, env->attempt, 1));
    cr_assert(gt(i64, env->complaint.accepted_at_ms, 0));
    cr_assert(eq(sz, env->n_stages, 1));
    cr_assert(eq(str, env->stages[0].stage, "ingest"));

    cr_assert(eq(long, s_get_url(url, metrics, sizeof metrics), 200));
    double out = 0;
    kj_prom_value(metrics, "kujo_envelopes_out_total", NULL, &out);
    cr_assert(eq(dbl, out, 1.0));
    free(env);
    kj_codec_destroy(&codec);
    free(r);
}

Test(ingest_api, not_ready_without_a_classifier_copy)
{
    s_register_classifier(false);
    char url[96], body[512] = "";
    snprintf(url, sizeof url, "%s/readyz", g_admin);
    long ready = 200;
    for (int i = 0; i < 40 && ready != 503; i++) {
        kj_test_sleep_ms(100);
        ready = s_get_url(url, body, sizeof body);
    }
    cr_assert(eq(long, ready, 503));
    cr_assert(ne(ptr, strstr(body, "no classifier copy registered"), NULL),
              "%s", body);
    /* A copy appears: ready again within a few refreshes. */
    s_register_classifier(true);
    for (int i = 0; i < 40 && ready != 200; i++) {
        kj_test_sleep_ms(50);
        ready = s_get_url(url, body, sizeof body);
    }
    cr_assert(eq(long, ready, 200), "%s", body);
}

Test(ingest_api, metrics_pass_promtool)
{
    s_resp_t *r = calloc(1, sizeof *r);
    cr_assert(eq(int, s_post(BODY_EN, NULL, r), 0));
    cr_assert(eq(int, s_post("{", NULL, r), 0));
    char *page = malloc(1 << 20), url[96];
    snprintf(url, sizeof url, "%s/metrics", g_admin);
    cr_assert(eq(long, s_get_url(url, page, 1 << 20), 200));
    double v = 0;
    cr_assert(
        ge(int,
           kj_prom_value(page, "kujo_http_requests_total", "code=\"202\"", &v),
           1));
    cr_assert(eq(dbl, v, 1.0));
    kj_prom_value(page, "kujo_http_requests_total", "code=\"400\"", &v);
    cr_assert(eq(dbl, v, 1.0));
    kj_prom_value(page, "kujo_envelopes_in_total", NULL, &v);
    cr_assert(eq(dbl, v, 1.0));
    kj_prom_value(page, "kujo_envelopes_failed_total", "reason=\"invalid\"",
                  &v);
    cr_assert(eq(dbl, v, 1.0));
    kj_prom_value(page, "kujo_stage_latency_seconds_count", NULL, &v);
    cr_assert(eq(dbl, v, 2.0));
    cr_assert(kj_prom_has(page, "kujo_build_info"));
    cr_assert(kj_prom_has(page, "kujo_queue_depth"));

    FILE *p = popen("promtool check metrics >/dev/null 2>&1", "w");
    cr_assert(ne(ptr, p, NULL));
    fputs(page, p);
    int status = pclose(p);
    cr_assert(eq(int, WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0),
              "promtool rejected:\n%s", page);
    free(page);
    free(r);
}

Test(ingest_api, redis_down_answers_503_and_not_ready)
{
    kj_testredis_stop(&g_redis);
    s_resp_t *r = calloc(1, sizeof *r);
    char code[64];
    cr_assert(eq(int, s_post(BODY_EN, NULL, r), 0));
    cr_assert(eq(long, r->status, 503), "%s", r->body);
    cr_assert(
        eq(str, s_field(r, "error", "code", code, sizeof code), "unavailable"));
    cr_assert(eq(int,
                 s_http("GET", "/v1/complaints/0000000000000000000f", NULL,
                        NULL, NULL, 0, false, r),
                 0));
    cr_assert(eq(long, r->status, 503));
    char url[96];
    snprintf(url, sizeof url, "%s/readyz", g_admin);
    long ready = 0;
    for (int i = 0; i < 40 && ready != 503; i++) {
        ready = s_get_url(url, NULL, 0);
        kj_test_sleep_ms(100);
    }
    cr_assert(eq(long, ready, 503));
    free(r);
}

/* Redis frozen (SIGSTOP) takes the write into its socket buffer and never
 * answers: ingest cannot know whether it was applied, and says so with
 * outcome_unknown. The retry it asks for, with the same key once Redis is
 * back, finds the record the frozen Redis did store: one complaint, no
 * loss, no duplicate. */
Test(ingest_api, redis_timeout_answers_outcome_unknown_and_retry_is_safe)
{
    s_resp_t *r = calloc(1, sizeof *r);
    char code[64], id[32];
    /* An answered request first, so the connection is up and idle. */
    cr_assert(eq(int, s_post(BODY_EN, NULL, r), 0));
    cr_assert(eq(long, r->status, 202));

    cr_assert(eq(int, kill(g_redis.pid, SIGSTOP), 0));
    int rc = s_post(BODY_EN, "frozen-1", r);
    cr_assert(eq(int, kill(g_redis.pid, SIGCONT), 0));
    cr_assert(eq(int, rc, 0));
    cr_assert(eq(long, r->status, 503), "%s", r->body);
    cr_assert(eq(str, s_field(r, "error", "code", code, sizeof code),
                 "outcome_unknown"),
              "%s", r->body);

    /* Redis ran the frozen write when it woke: the retry names it. */
    long status = 0;
    for (int i = 0; i < 50 && status != 200 && status != 202; i++) {
        if (i > 0)
            kj_test_sleep_ms(100);
        cr_assert(eq(int, s_post(BODY_EN, "frozen-1", r), 0));
        status = r->status;
    }
    cr_assert(eq(long, status, 200), "%s", r->body);
    s_field(r, "id", NULL, id, sizeof id);
    cr_assert(eq(int, (int)strlen(id), KJ_ID_LEN));
    free(r);
}

/* Redis restarted while ingest was idle: the dead connection is noticed
 * before the next write, so that write is a clean reconnect (202), not a
 * 503 whose outcome is unknown. */
Test(ingest_api, redis_restart_while_idle_costs_no_request)
{
    s_resp_t *r = calloc(1, sizeof *r);
    cr_assert(eq(int, s_post(BODY_EN, NULL, r), 0));
    cr_assert(eq(long, r->status, 202));
    cr_assert(eq(int, kj_testredis_restart(&g_redis), 0));
    cr_assert(eq(int, s_post(BODY_EN, NULL, r), 0));
    cr_assert(eq(long, r->status, 202), "%s", r->body);
    free(r);
}

/* A raw connection, to hold a request half-sent across a SIGTERM. */
static int
s_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)g_http_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(eq(int, connect(fd, (struct sockaddr *)&a, sizeof a), 0));
    return fd;
}

static void
s_send(int fd, const char *s)
{
    cr_assert(eq(long, (long)write(fd, s, strlen(s)), (long)strlen(s)));
}

Test(ingest_api, sigterm_finishes_requests_in_flight_then_exits_0)
{
    const char *body = BODY_EN;
    char head[256];
    snprintf(head, sizeof head,
             "POST /v1/complaints HTTP/1.1\r\nHost: t\r\nContent-Type: "
             "application/json\r\nContent-Length: %zu\r\n\r\n",
             strlen(body));
    int fd = s_connect();
    s_send(fd, head);
    char half[64];
    snprintf(half, sizeof half, "%.10s", body);
    s_send(fd, half);
    kj_test_sleep_ms(200); /* the server has the headers and part of it */

    cr_assert(eq(int, kj_proc_signal(g_ingest, SIGTERM), 0));
    char url[96];
    snprintf(url, sizeof url, "%s/readyz", g_admin);
    long ready = 0;
    for (int i = 0; i < 40 && ready != 503; i++) {
        ready = s_get_url(url, NULL, 0);
        if (ready != 503)
            kj_test_sleep_ms(50);
    }
    cr_assert(eq(long, ready, 503), "not draining");
    cr_assert(kj_proc_alive(g_ingest), "exited with a request in flight");

    /* The request in flight is still served. */
    s_send(fd, body + 10);
    char answer[1024] = "";
    size_t got = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (got < sizeof answer - 1 && poll(&p, 1, 3000) == 1) {
        ssize_t n = read(fd, answer + got, sizeof answer - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        answer[got] = '\0';
        if (strstr(answer, "\"state\":\"received\"}"))
            break;
    }
    close(fd);
    cr_assert(eq(int, strncmp(answer, "HTTP/1.1 202", 12), 0), "%s", answer);
    /* Draining: the client is told not to reuse this connection. */
    cr_assert(ne(ptr, strstr(answer, "Connection: close"), NULL), "%s", answer);

    int status = kj_proc_wait(g_ingest, 5000);
    cr_assert(ne(int, status, -1), "still running 5 s after SIGTERM");
    cr_assert(eq(int, WIFEXITED(status) != 0, 1), "status 0x%x", status);
    cr_assert(eq(int, WEXITSTATUS(status), 0));
}

Test(ingest_api, sigterm_when_idle_exits_0_quickly)
{
    s_resp_t *r = calloc(1, sizeof *r);
    cr_assert(eq(int, s_post(BODY_EN, NULL, r), 0));
    free(r);
    int64_t t0 = kj_mono_ms();
    cr_assert(eq(int, kj_proc_signal(g_ingest, SIGTERM), 0));
    int status = kj_proc_wait(g_ingest, 5000);
    cr_assert(ne(int, status, -1));
    cr_assert(eq(int, WIFEXITED(status) != 0, 1), "status 0x%x", status);
    cr_assert(eq(int, WEXITSTATUS(status), 0));
    cr_assert(lt(i64, kj_mono_ms() - t0, 3000));
}
