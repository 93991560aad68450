/* API keys and tenants on real binaries: a real redis-server, the real
 * kujo-ingest in keys mode and the real kujo-admin run as a process (its
 * output read as an operator would). Each test starts its own Redis and
 * ingest on free loopback ports. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <zmq.h>

#include "kj_apikey.h"
#include "kj_harness.h"
#include "kj_mq.h"
#include "kj_redis.h"
#include "kj_registry.h"
#include "kj_testredis.h"
#include "kj_util.h"

#define PREFIX "atest"
#define WAIT_MS 10000
#define BODY                                                                   \
    "{\"channel\":\"web\",\"customer\":{\"id\":\"c-1\"},"                      \
    "\"text\":\"The invoice is wrong\"}"

static kj_testredis_t g_redis;
static kj_proc_t *g_ingest;
static void *g_zctx;
static kj_pull_t *g_pull;
static char g_api[64], g_admin[64];

/* ------------------------------------------------------------------ */
/* HTTP */

typedef struct {
    long status;
    char body[16384];
    size_t len;
    char www_auth[64];
    long retry_after; /* Retry-After seconds, -1 when absent */
} s_resp_t;

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

static size_t
s_on_header(char *p, size_t size, size_t n, void *ud)
{
    s_resp_t *r = ud;
    size_t len = size * n;
    const char *name = "WWW-Authenticate:";
    size_t nl = strlen(name);
    if (len > nl && strncasecmp(p, name, nl) == 0) {
        const char *v = p + nl;
        size_t vl = len - nl;
        while (vl && (*v == ' '))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
            vl--;
        if (vl >= sizeof r->www_auth)
            vl = sizeof r->www_auth - 1;
        memcpy(r->www_auth, v, vl);
        r->www_auth[vl] = '\0';
    }
    const char *ra = "Retry-After:";
    if (len > strlen(ra) && strncasecmp(p, ra, strlen(ra)) == 0)
        r->retry_after = strtol(p + strlen(ra), NULL, 10);
    return len;
}

/* method path with Authorization: <auth> when auth is not NULL ("Bearer
 * " is not added: tests send malformed values too). body NULL: none. */
static long
s_http(const char *method, const char *path, const char *auth, const char *body,
       const char *idem, s_resp_t *r)
{
    memset(r, 0, sizeof *r);
    r->retry_after = -1;
    CURL *h = curl_easy_init();
    char url[256];
    snprintf(url, sizeof url, "%s%s", g_api, path);
    struct curl_slist *hdrs = NULL;
    char line[512];
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (auth) {
        snprintf(line, sizeof line, "Authorization: %s", auth);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (idem) {
        snprintf(line, sizeof line, "Idempotency-Key: %s", idem);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (body)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
    }
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return r->status;
}

static char g_bearer[3][128];

/* "Bearer <key>" in one of three rotating buffers. */
static const char *
s_bearer(const char *key)
{
    static int next;
    char *b = g_bearer[next++ % 3];
    snprintf(b, 128, "Bearer %s", key);
    return b;
}

/* The error code of an answer's JSON body ("" if it has none). */
static void
s_code(const s_resp_t *r, char *out, size_t size)
{
    out[0] = '\0';
    json_error_t e;
    json_t *j = json_loads(r->body, 0, &e);
    const char *c =
        json_string_value(json_object_get(json_object_get(j, "error"), "code"));
    if (c)
        kj_strlcpy(out, c, size);
    json_decref(j);
}

static void
s_field(const s_resp_t *r, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    json_error_t e;
    json_t *j = json_loads(r->body, 0, &e);
    const char *v = json_string_value(json_object_get(j, name));
    if (v)
        kj_strlcpy(out, v, size);
    json_decref(j);
}

/* ------------------------------------------------------------------ */
/* kujo-admin */

/* Run kujo-admin with args; its stdout to out. Returns its exit code. */
static int
s_admin(const char *args, char *out, size_t size)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "env KUJO_REDIS_URL='%s' KUJO_PREFIX=" PREFIX " '" KJ_BIN_DIR
             "/kujo-admin' %s",
             g_redis.url, args);
    FILE *p = popen(cmd, "r");
    cr_assert(ne(ptr, p, NULL));
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The last line of text (without its newline) into out. */
static void
s_last_line(const char *text, char *out, size_t size)
{
    size_t n = strlen(text);
    while (n && text[n - 1] == '\n')
        n--;
    size_t start = n;
    while (start && text[start - 1] != '\n')
        start--;
    size_t len = n - start < size - 1 ? n - start : size - 1;
    memcpy(out, text + start, len);
    out[len] = '\0';
}

/* A new key for tenant with scopes, as kujo-admin prints it. */
static void
s_key(const char *tenant, const char *scopes, char key[KJ_APIKEY_LEN + 1])
{
    char args[256], out[4096];
    snprintf(args, sizeof args, "key create --tenant %s --scopes %s", tenant,
             scopes);
    cr_assert(eq(int, s_admin(args, out, sizeof out), 0), "%s", out);
    s_last_line(out, key, KJ_APIKEY_LEN + 1);
    cr_assert(kj_apikey_valid(key, strlen(key)), "last line: %s", key);
}

/* ------------------------------------------------------------------ */
/* Fixture: Redis, a registered classifier socket, kujo-ingest (keys) */

static void
s_wait_ready(void)
{
    char url[96];
    snprintf(url, sizeof url, "%s/readyz", g_admin);
    for (int i = 0; i < WAIT_MS / 50; i++) {
        CURL *h = curl_easy_init();
        long st = 0;
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        if (curl_easy_perform(h) == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
        curl_easy_cleanup(h);
        if (st == 200)
            return;
        if (!kj_proc_alive(g_ingest))
            break;
        kj_test_sleep_ms(50);
    }
    kj_proc_print_log_tail(g_ingest, stderr, 40);
    cr_fatal("kujo-ingest did not become ready");
}

static void
setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    cr_assert(eq(int, kj_testredis_start(&g_redis, false), 0));
    int http_port = kj_test_free_port(), admin_port = kj_test_free_port();
    snprintf(g_api, sizeof g_api, "http://127.0.0.1:%d", http_port);
    snprintf(g_admin, sizeof g_admin, "http://127.0.0.1:%d", admin_port);
    char redis_url[96], http[64], admin[64], log[300];
    snprintf(redis_url, sizeof redis_url, "KUJO_REDIS_URL=%s", g_redis.url);
    snprintf(http, sizeof http, "KUJO_HTTP_ADDR=127.0.0.1:%d", http_port);
    snprintf(admin, sizeof admin, "KUJO_ADMIN_ADDR=127.0.0.1:%d", admin_port);
    snprintf(log, sizeof log, "%s/ingest.log", g_redis.dir);
    const char *env[] = {redis_url,
                         http,
                         admin,
                         "KUJO_PREFIX=" PREFIX,
                         "KUJO_AUTH=keys",
                         "KUJO_RATE_BURST=5",
                         NULL};
    g_ingest =
        kj_proc_start("kujo-ingest", KJ_BIN_DIR "/kujo-ingest", NULL, env, log);
    cr_assert(ne(ptr, g_ingest, NULL));
    g_zctx = zmq_ctx_new();
    g_pull = kj_pull_new(g_zctx, "tcp://127.0.0.1:*", NULL, 100);
    cr_assert(ne(ptr, g_pull, NULL));
    char err[128];
    kj_redis_t *redis = kj_redis_new(g_redis.url, 2000, err, sizeof err);
    cr_assert(eq(int,
                 kj_registry_heartbeat(redis, PREFIX, "classifier",
                                       kj_pull_endpoint(g_pull), kj_now_ms(),
                                       3600 * 1000),
                 0));
    kj_redis_destroy(&redis);
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

TestSuite(auth, .init = setup, .fini = teardown, .timeout = 60);

/* ------------------------------------------------------------------ */

Test(auth, no_or_bad_or_unknown_key_is_401_with_a_json_body)
{
    s_resp_t r;
    char code[64];
    static const char *const bad[] = {
        NULL,
        "Basic dXNlcjpwYXNz",
        "Bearer nonsense",
        /* Well-formed, never issued. */
        "Bearer "
        "kj_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert(eq(long,
                     s_http("POST", "/v1/complaints", bad[i], BODY, NULL, &r),
                     401L),
                  "%s: %s", bad[i] ? bad[i] : "(none)", r.body);
        s_code(&r, code, sizeof code);
        cr_assert(eq(str, code, "unauthorized"), "%s", r.body);
        cr_assert(eq(str, r.www_auth, "Bearer"));
    }
    cr_assert(eq(long,
                 s_http("GET", "/v1/complaints/01a2425044478cdf69c1", NULL,
                        NULL, NULL, &r),
                 401L));
    cr_assert(strstr(r.body, "no Authorization header") != NULL, "%s", r.body);
}

Test(auth, a_key_without_the_routes_scope_is_403)
{
    char reader[KJ_APIKEY_LEN + 1], writer[KJ_APIKEY_LEN + 1];
    s_key("acme", "complaints:read", reader);
    s_key("acme", "complaints:write", writer);
    s_resp_t r;
    char code[64], id[64];
    cr_assert(
        eq(long,
           s_http("POST", "/v1/complaints", s_bearer(reader), BODY, NULL, &r),
           403L));
    s_code(&r, code, sizeof code);
    cr_assert(eq(str, code, "forbidden"));
    cr_assert(strstr(r.body, "complaints:write") != NULL, "%s", r.body);

    cr_assert(
        eq(long,
           s_http("POST", "/v1/complaints", s_bearer(writer), BODY, NULL, &r),
           202L),
        "%s", r.body);
    s_field(&r, "id", id, sizeof id);
    char path[128];
    snprintf(path, sizeof path, "/v1/complaints/%s", id);
    cr_assert(
        eq(long, s_http("GET", path, s_bearer(writer), NULL, NULL, &r), 403L));
    cr_assert(
        eq(long, s_http("GET", path, s_bearer(reader), NULL, NULL, &r), 200L));
    snprintf(path, sizeof path, "/v1/complaints/%s/replay", id);
    cr_assert(
        eq(long, s_http("POST", path, s_bearer(writer), NULL, NULL, &r), 403L));
    s_code(&r, code, sizeof code);
    cr_assert(eq(str, code, "forbidden"));
}

Test(auth, another_tenants_record_is_404_as_if_it_did_not_exist)
{
    char acme[KJ_APIKEY_LEN + 1], globex[KJ_APIKEY_LEN + 1];
    char acme_admin[KJ_APIKEY_LEN + 1], globex_admin[KJ_APIKEY_LEN + 1];
    s_key("acme", "complaints:write,complaints:read", acme);
    s_key("globex", "complaints:read", globex);
    s_key("acme", "admin", acme_admin);
    s_key("globex", "admin", globex_admin);
    s_resp_t r, missing;
    char id[64], tenant[64], path[128], want[256];
    cr_assert(eq(
        long, s_http("POST", "/v1/complaints", s_bearer(acme), BODY, NULL, &r),
        202L));
    s_field(&r, "id", id, sizeof id);
    snprintf(path, sizeof path, "/v1/complaints/%s", id);

    cr_assert(
        eq(long, s_http("GET", path, s_bearer(acme), NULL, NULL, &r), 200L));
    s_field(&r, "tenant", tenant, sizeof tenant);
    cr_assert(eq(str, tenant, "acme"), "%s", r.body);

    /* The same answer a never-used id gets, byte for byte but the id. */
    cr_assert(eq(long,
                 s_http("GET", "/v1/complaints/0000000000000000aaaa",
                        s_bearer(globex), NULL, NULL, &missing),
                 404L));
    cr_assert(
        eq(long, s_http("GET", path, s_bearer(globex), NULL, NULL, &r), 404L));
    snprintf(want, sizeof want,
             "{\"error\":{\"code\":\"no_such_complaint\",\"message\":\"no "
             "complaint with id %s\"}}",
             id);
    cr_assert(eq(str, r.body, want));
    cr_assert(strstr(missing.body, "no_such_complaint") != NULL);

    snprintf(path, sizeof path, "/v1/complaints/%s/replay", id);
    cr_assert(eq(long,
                 s_http("POST", path, s_bearer(globex_admin), NULL, NULL, &r),
                 404L));
    cr_assert(eq(str, r.body, want));
    /* Its own tenant's admin gets the real answer: not dead. */
    cr_assert(eq(long,
                 s_http("POST", path, s_bearer(acme_admin), NULL, NULL, &r),
                 409L),
              "%s", r.body);
}

/* The originals (name, e-mail, raw text) only for a key that holds
 * complaints:read_pii and asks with ?pii=1; each such read leaves an audit
 * entry naming the key. */
Test(auth, originals_need_read_pii_and_are_audited)
{
    char writer[KJ_APIKEY_LEN + 1], reader[KJ_APIKEY_LEN + 1];
    char pii_reader[KJ_APIKEY_LEN + 1];
    s_key("acme", "complaints:write,complaints:read", writer);
    s_key("acme", "complaints:read", reader);
    s_key("acme", "complaints:read,complaints:read_pii", pii_reader);
    s_resp_t r;
    char id[64], path[160], code[64];
    const char *body = "{\"channel\":\"web\",\"customer\":{\"id\":\"c-9\","
                       "\"name\":\"Hanako Sato\",\"email\":\"hanako@"
                       "example.jp\"},\"text\":\"Call me on 090-1234-5678\"}";
    cr_assert(
        eq(long,
           s_http("POST", "/v1/complaints", s_bearer(writer), body, NULL, &r),
           202L),
        "%s", r.body);
    s_field(&r, "id", id, sizeof id);

    snprintf(path, sizeof path, "/v1/complaints/%s", id);
    cr_assert(
        eq(long, s_http("GET", path, s_bearer(reader), NULL, NULL, &r), 200L));
    cr_assert(eq(ptr, strstr(r.body, "Hanako"), NULL), "%s", r.body);
    cr_assert(eq(ptr, strstr(r.body, "090-1234"), NULL), "%s", r.body);

    snprintf(path, sizeof path, "/v1/complaints/%s?pii=1", id);
    cr_assert(
        eq(long, s_http("GET", path, s_bearer(reader), NULL, NULL, &r), 403L));
    s_code(&r, code, sizeof code);
    cr_assert(eq(str, code, "forbidden"));

    cr_assert(eq(long,
                 s_http("GET", path, s_bearer(pii_reader), NULL, NULL, &r),
                 200L),
              "%s", r.body);
    cr_assert(ne(ptr, strstr(r.body, "Hanako Sato"), NULL), "%s", r.body);
    cr_assert(ne(ptr, strstr(r.body, "hanako@example.jp"), NULL), "%s", r.body);
    cr_assert(ne(ptr, strstr(r.body, "090-1234-5678"), NULL), "%s", r.body);

    /* Who read what: the audit stream names the key's id, not its secret. */
    redisContext *rc = redisConnect("127.0.0.1", g_redis.port);
    cr_assert(rc && !rc->err);
    redisReply *rep = redisCommand(rc, "XRANGE " PREFIX ":audit - +");
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY);
    cr_assert(eq(sz, rep->elements, 1));
    char want_who[64];
    snprintf(want_who, sizeof want_who, "key:%.16s", pii_reader + 3);
    bool who_ok = false, id_ok = false;
    const redisReply *fields = rep->element[0]->element[1];
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const char *f = fields->element[i]->str,
                   *v = fields->element[i + 1]->str;
        if (strcmp(f, "who") == 0)
            who_ok = strcmp(v, want_who) == 0;
        if (strcmp(f, "id") == 0)
            id_ok = strcmp(v, id) == 0;
    }
    cr_assert(who_ok, "audit entry does not name %s", want_who);
    cr_assert(id_ok);
    freeReplyObject(rep);
    redisFree(rc);
}

/* A key over its rate gets 429 with Retry-After, for complaints (charged
 * in the batch) and reads (charged alone) alike; nothing over the limit is
 * stored; the bucket refills. KUJO_RATE_BURST is 5 here. */
Test(auth, over_the_rate_limit_is_429_with_retry_after)
{
    char slow[KJ_APIKEY_LEN + 1], fast[KJ_APIKEY_LEN + 1];
    char args[256], out[4096], code[64];
    snprintf(args, sizeof args,
             "key create --tenant acme --rate 1 --scopes "
             "complaints:write,complaints:read");
    cr_assert(eq(int, s_admin(args, out, sizeof out), 0), "%s", out);
    s_last_line(out, slow, sizeof slow);
    s_key("acme", "complaints:write", fast);
    s_resp_t r;
    int accepted = 0;
    for (int i = 0; i < 5; i++)
        accepted += s_http("POST", "/v1/complaints", s_bearer(slow), BODY, NULL,
                           &r) == 202;
    cr_assert(eq(int, accepted, 5), "the burst of 5 was not admitted");
    cr_assert(
        eq(long,
           s_http("POST", "/v1/complaints", s_bearer(slow), BODY, NULL, &r),
           429L),
        "%s", r.body);
    s_code(&r, code, sizeof code);
    cr_assert(eq(str, code, "rate_limited"));
    cr_assert(eq(long, r.retry_after, 1L));
    cr_assert(eq(long,
                 s_http("GET", "/v1/complaints/0000000000000000aaaa",
                        s_bearer(slow), NULL, NULL, &r),
                 429L));
    cr_assert(ge(long, r.retry_after, 1L));
    /* Another key of the same tenant has its own bucket. */
    cr_assert(eq(
        long, s_http("POST", "/v1/complaints", s_bearer(fast), BODY, NULL, &r),
        202L));
    /* Only what was admitted was stored: 5 + 1 records. */
    redisContext *rc = redisConnect("127.0.0.1", g_redis.port);
    cr_assert(rc && !rc->err);
    redisReply *rep = redisCommand(
        rc, "EVAL %s 0", "return #redis.call('KEYS', '" PREFIX ":{*}:c:*')");
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER);
    cr_assert(eq(long, (long)rep->integer, 6L));
    freeReplyObject(rep);
    redisFree(rc);
    /* A token a second: after Retry-After, one more gets in. */
    kj_test_sleep_ms(1100);
    cr_assert(
        eq(long,
           s_http("POST", "/v1/complaints", s_bearer(slow), BODY, NULL, &r),
           202L),
        "%s", r.body);
}

Test(auth, the_tenant_comes_from_the_key)
{
    char acme[KJ_APIKEY_LEN + 1];
    s_key("acme", "complaints:write,complaints:read", acme);
    s_resp_t r;
    char code[64];
    const char *other = "{\"channel\":\"web\",\"customer\":{\"id\":\"c-1\"},"
                        "\"text\":\"Refund please\",\"tenant\":\"globex\"}";
    const char *same = "{\"channel\":\"web\",\"customer\":{\"id\":\"c-1\"},"
                       "\"text\":\"Refund please\",\"tenant\":\"acme\"}";
    cr_assert(eq(
        long, s_http("POST", "/v1/complaints", s_bearer(acme), other, NULL, &r),
        403L));
    s_code(&r, code, sizeof code);
    cr_assert(eq(str, code, "forbidden"));
    cr_assert(
        eq(long,
           s_http("POST", "/v1/complaints", s_bearer(acme), same, NULL, &r),
           202L),
        "%s", r.body);
}

Test(auth, idempotency_keys_are_per_tenant)
{
    char acme[KJ_APIKEY_LEN + 1], globex[KJ_APIKEY_LEN + 1];
    s_key("acme", "complaints:write", acme);
    s_key("globex", "complaints:write", globex);
    s_resp_t r;
    char a[64], b[64], again[64];
    cr_assert(eq(
        long,
        s_http("POST", "/v1/complaints", s_bearer(acme), BODY, "order-42", &r),
        202L));
    s_field(&r, "id", a, sizeof a);
    cr_assert(eq(long,
                 s_http("POST", "/v1/complaints", s_bearer(globex), BODY,
                        "order-42", &r),
                 202L),
              "another tenant's key must not hit acme's: %s", r.body);
    s_field(&r, "id", b, sizeof b);
    cr_assert(ne(str, a, b));
    cr_assert(eq(
        long,
        s_http("POST", "/v1/complaints", s_bearer(acme), BODY, "order-42", &r),
        200L));
    s_field(&r, "id", again, sizeof again);
    cr_assert(eq(str, again, a));
}

Test(auth, a_revoked_key_is_refused_after_the_cache_ttl)
{
    char args[128], out[4096], key[KJ_APIKEY_LEN + 1];
    s_key("acme", "complaints:write", key);
    s_resp_t r;
    cr_assert(eq(
        long, s_http("POST", "/v1/complaints", s_bearer(key), BODY, NULL, &r),
        202L));
    char id[KJ_APIKEY_ID_LEN + 1];
    memcpy(id, key + 3, KJ_APIKEY_ID_LEN);
    id[KJ_APIKEY_ID_LEN] = '\0';
    snprintf(args, sizeof args, "key revoke %s", id);
    cr_assert(eq(int, s_admin(args, out, sizeof out), 0), "%s", out);
    cr_assert(eq(int, s_admin(args, out, sizeof out), 1));
    kj_test_sleep_ms(2300); /* INGEST_AUTH_TTL_MS and a margin */
    cr_assert(
        eq(long,
           s_http("POST", "/v1/complaints", s_bearer(key), BODY, NULL, &r),
           401L),
        "%s", r.body);
    cr_assert(eq(str, r.www_auth, "Bearer"));
}

/* Every value in reply (arrays flattened) that contains needle. */
static int
s_reply_has(const redisReply *r, const char *needle)
{
    if (!r)
        return 0;
    size_t nl = strlen(needle);
    if ((r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
        r->str)
        for (size_t i = 0; i + nl <= r->len; i++)
            if (memcmp(r->str + i, needle, nl) == 0)
                return 1;
    int n = 0;
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements; i++)
            n += s_reply_has(r->element[i], needle);
    return n;
}

Test(auth, admin_shows_the_key_once_and_redis_holds_only_its_hash)
{
    char out[4096], key[KJ_APIKEY_LEN + 1];
    cr_assert(eq(int,
                 s_admin("key create --tenant acme --scopes "
                         "complaints:write,inbound:email --name ci --rate 7",
                         out, sizeof out),
                 0));
    s_last_line(out, key, sizeof key);
    cr_assert(kj_apikey_valid(key, strlen(key)), "%s", out);
    /* On the last line, alone, and nowhere else in the output. */
    const char *secret = key + 4 + KJ_APIKEY_ID_LEN;
    const char *at = strstr(out, secret);
    cr_assert(ne(ptr, (void *)at, NULL));
    cr_assert(eq(ptr, strstr(at + 1, secret), NULL));

    char list[4096];
    cr_assert(eq(int, s_admin("key list", list, sizeof list), 0));
    char id[KJ_APIKEY_ID_LEN + 1];
    memcpy(id, key + 3, KJ_APIKEY_ID_LEN);
    id[KJ_APIKEY_ID_LEN] = '\0';
    cr_assert(strstr(list, id) != NULL, "%s", list);
    cr_assert(strstr(list, "acme\tcomplaints:write,inbound:email") != NULL,
              "%s", list);
    cr_assert(eq(ptr, strstr(list, secret), NULL));

    /* Unknown scopes are refused with their name. */
    cr_assert(eq(int,
                 s_admin("key create --tenant acme --scopes complaints:nuke "
                         "2>&1",
                         out, sizeof out),
                 64));
    cr_assert(strstr(out, "unknown scope \"complaints:nuke\"") != NULL, "%s",
              out);

    /* Use the key once so the keyspace has complaints too, then look at
     * every value of every key for the secret. */
    s_resp_t r;
    cr_assert(eq(
        long, s_http("POST", "/v1/complaints", s_bearer(key), BODY, "k-1", &r),
        202L));
    redisContext *c = redisConnect("127.0.0.1", g_redis.port);
    cr_assert(c && !c->err);
    redisReply *keys = redisCommand(c, "KEYS *");
    cr_assert(keys && keys->type == REDIS_REPLY_ARRAY && keys->elements > 2);
    bool saw_hash = false;
    for (size_t i = 0; i < keys->elements; i++) {
        const char *k = keys->element[i]->str;
        cr_assert(eq(ptr, strstr(k, secret), NULL));
        redisReply *t = redisCommand(c, "TYPE %s", k);
        const char *type = t->str;
        redisReply *v = NULL;
        if (strcmp(type, "string") == 0)
            v = redisCommand(c, "GET %s", k);
        else if (strcmp(type, "hash") == 0)
            v = redisCommand(c, "HGETALL %s", k);
        else if (strcmp(type, "set") == 0)
            v = redisCommand(c, "SMEMBERS %s", k);
        else if (strcmp(type, "zset") == 0)
            v = redisCommand(c, "ZRANGE %s 0 -1 WITHSCORES", k);
        else if (strcmp(type, "list") == 0)
            v = redisCommand(c, "LRANGE %s 0 -1", k);
        else if (strcmp(type, "stream") == 0)
            v = redisCommand(c, "XRANGE %s - +", k);
        cr_assert(ne(ptr, v, NULL), "%s is a %s", k, type);
        cr_assert(eq(int, s_reply_has(v, secret), 0), "%s holds the secret", k);
        if (strstr(k, ":key:"))
            saw_hash = s_reply_has(v, "sha256") && s_reply_has(v, "acme");
        freeReplyObject(v);
        freeReplyObject(t);
    }
    cr_assert(saw_hash, "the key's hash record was not found");
    freeReplyObject(keys);
    redisFree(c);
}

Test(auth_open, refused_unless_every_bind_is_loopback, .timeout = 30)
{
    char log[] = "/tmp/kj_test_auth_XXXXXX";
    int fd = mkstemp(log);
    cr_assert(fd >= 0);
    static const char *const binds[][2] = {
        {"KUJO_HTTP_ADDR=0.0.0.0:0", "KUJO_ADMIN_ADDR=127.0.0.1:0"},
        {"KUJO_HTTP_ADDR=127.0.0.1:0", "KUJO_ADMIN_ADDR=0.0.0.0:0"},
    };
    for (size_t i = 0; i < 2; i++) {
        const char *env[] = {binds[i][0], binds[i][1],
                             "KUJO_REDIS_URL=redis://127.0.0.1:1/0",
                             "KUJO_AUTH=open", NULL};
        kj_proc_t *p = kj_proc_start("kujo-ingest", KJ_BIN_DIR "/kujo-ingest",
                                     NULL, env, log);
        cr_assert(ne(ptr, p, NULL));
        int st = kj_proc_wait(p, 5000);
        bool code78 = WIFEXITED(st) && WEXITSTATUS(st) == 78;
        cr_assert(code78, "status %d", st);
        kj_proc_destroy(&p);
    }
    FILE *f = fopen(log, "r");
    char text[4096] = "";
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    close(fd);
    unlink(log);
    cr_assert(
        strstr(text, "KUJO_AUTH=open needs every HTTP bind on loopback") !=
            NULL,
        "%s", text);
}

/* The harness's keys mode: the whole pipeline with ingest checking keys,
 * the harness's client sending its key, one complaint delivered. */
Test(auth_pipeline, a_keyed_pipeline_delivers, .timeout = 120)
{
    kj_pipeline_opts_t o = {.auth_keys = true};
    kj_pipeline_t *pl = kj_pipeline_new(&o);
    cr_assert(ne(ptr, pl, NULL));
    cr_assert(kj_apikey_valid(kj_pipeline_api_key(pl),
                              strlen(kj_pipeline_api_key(pl))));
    char *body =
        kj_test_complaint("web", "c-9", "gold", "The invoice is wrong", NULL);
    char id[32] = "";
    int st = kj_pipeline_post(pl, body, "p-1", id);
    free(body);
    KJ_PL_ASSERT(pl, st == 202, "POST answered %d", st);
    json_t *rec = kj_pipeline_wait_state(pl, id, "delivered", 30000);
    KJ_PL_ASSERT(pl, rec != NULL, "not delivered");
    cr_assert(eq(str, (char *)json_string_value(json_object_get(rec, "tenant")),
                 "default"));
    json_decref(rec);

    /* Without the key the same ingest refuses. */
    kj_client_t *anon = kj_client_new(5000);
    kj_resp_t r;
    char url[160];
    snprintf(url, sizeof url, "%s/v1/complaints/%s",
             kj_pipeline_url(pl, KJ_SVC_INGEST, 0), id);
    cr_assert(eq(int, kj_client_get(anon, url, &r), 0));
    cr_assert(eq(long, r.status, 401L));
    kj_resp_free(&r);
    kj_client_set_api_key(anon, kj_pipeline_api_key(pl));
    cr_assert(eq(int, kj_client_get(anon, url, &r), 0));
    cr_assert(eq(long, r.status, 200L));
    kj_resp_free(&r);

    /* Analytics' /v1/stats (every tenant's counts) wants the admin scope:
     * no key 401, a writer's key 403, the harness's admin key 200. */
    snprintf(url, sizeof url, "%s/v1/stats",
             kj_pipeline_url(pl, KJ_SVC_ANALYTICS, 0));
    kj_client_set_api_key(anon, NULL);
    cr_assert(eq(int, kj_client_get(anon, url, &r), 0));
    cr_assert(eq(long, r.status, 401L), "%s", r.body);
    cr_assert(ne(ptr, strstr(r.body, "\"unauthorized\""), NULL), "%s", r.body);
    kj_resp_free(&r);
    char err[256], writer[KJ_APIKEY_LEN + 1];
    kj_redis_t *redis =
        kj_redis_new(kj_pipeline_redis(pl)->url, 2000, err, sizeof err);
    kj_apikey_info_t info;
    cr_assert(eq(int,
                 kj_apikey_create(redis, kj_pipeline_prefix(pl), "default",
                                  KJ_SCOPE_COMPLAINTS_WRITE, "w", 0,
                                  kj_now_ms(), writer, &info, err, sizeof err),
                 0),
              "%s", err);
    kj_redis_destroy(&redis);
    kj_client_set_api_key(anon, writer);
    cr_assert(eq(int, kj_client_get(anon, url, &r), 0));
    cr_assert(eq(long, r.status, 403L), "%s", r.body);
    kj_resp_free(&r);
    json_t *stats = kj_pipeline_stats(pl);
    cr_assert(ne(ptr, stats, NULL), "the admin key was refused /v1/stats");
    json_decref(stats);
    kj_client_destroy(&anon);
    kj_pipeline_destroy(&pl);
}
