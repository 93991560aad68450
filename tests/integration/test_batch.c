/* POST /v1/complaints:batch (NDJSON) on the real pipeline: redis-server
 * and the five services, ingest checking API keys. One result line per
 * line, the good ones recorded before the answer and reaching the
 * classifier, repeats answered with the same ids, and the limits. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "kj_apikey.h"
#include "kj_harness.h"
#include "kj_util.h"

#define S_LINES 1000
#define S_MAX_BATCH_BODY 2000000
#define S_PATH "/v1/complaints:batch"

static kj_pipeline_t *g_pl;

typedef struct {
    long status;
    char *body; /* the whole answer, NUL-terminated */
    size_t len, cap;
    char type[96];
} s_resp_t;

typedef struct {
    const char *data;
    size_t len, off;
    size_t piece;       /* bytes per read callback: a chunk each */
    size_t trip_at;     /* once this much is sent, call trip (0: never) */
    void (*trip)(void); /* e.g. make Redis refuse writes mid-batch */
} s_upload_t;

static size_t
s_on_body(char *p, size_t size, size_t n, void *ud)
{
    s_resp_t *r = ud;
    size_t len = size * n;
    if (r->len + len + 1 > r->cap) {
        r->cap = (r->len + len + 1) * 2;
        r->body = realloc(r->body, r->cap);
    }
    memcpy(r->body + r->len, p, len);
    r->len += len;
    r->body[r->len] = '\0';
    return len;
}

static size_t
s_on_header(char *p, size_t size, size_t n, void *ud)
{
    s_resp_t *r = ud;
    size_t len = size * n;
    if (len > 15 && strncasecmp(p, "Content-Type:", 13) == 0)
        snprintf(r->type, sizeof r->type, "%.*s", (int)(len - 16), p + 14);
    return len;
}

static size_t
s_on_read(char *buf, size_t size, size_t n, void *ud)
{
    s_upload_t *u = ud;
    size_t want = size * n, left = u->len - u->off;
    if (want > u->piece)
        want = u->piece;
    size_t take = want < left ? want : left;
    if (u->trip && u->off >= u->trip_at) {
        u->trip();
        u->trip = NULL;
    }
    memcpy(buf, u->data + u->off, take);
    u->off += take;
    return take;
}

static void
s_resp_free(s_resp_t *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* POST body to the batch endpoint with the pipeline's key. type NULL:
 * no Content-Type. piece > 0: chunked transfer encoding, piece bytes a
 * chunk (so lines span chunks); 0: Content-Length. */
static void (*g_trip)(void); /* the next s_post's mid-body hook */
static size_t g_trip_at;

static void
s_post(const char *type, const char *body, size_t len, size_t piece,
       bool with_key, s_resp_t *out)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    char url[512], line[256];
    snprintf(url, sizeof url, "%s" S_PATH,
             kj_pipeline_url(g_pl, KJ_SVC_INGEST, 0));
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    if (type) {
        snprintf(line, sizeof line, "Content-Type: %s", type);
        h = curl_slist_append(h, line);
    }
    if (with_key) {
        snprintf(line, sizeof line, "Authorization: Bearer %s",
                 kj_pipeline_api_key(g_pl));
        h = curl_slist_append(h, line);
    }
    s_upload_t up = {body, len, 0, piece, g_trip_at, g_trip};
    g_trip = NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    if (piece > 0) {
        h = curl_slist_append(h, "Transfer-Encoding: chunked");
        curl_easy_setopt(c, CURLOPT_READFUNCTION, s_on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
    } else {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    CURLcode rc = curl_easy_perform(c);
    cr_assert(eq(int, rc, CURLE_OK), "%s", curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (!out->body)
        s_on_body("", 0, 0, out);
}

/* The answer's result lines, parsed: results[line] (1-based) is the
 * line's object or NULL; the count of result lines goes to *n. */
static json_t **
s_results(const s_resp_t *r, size_t max_line, size_t *n)
{
    json_t **res = calloc(max_line + 2, sizeof *res);
    *n = 0;
    for (char *p = r->body; p < r->body + r->len;) {
        char *nl = strchr(p, '\n');
        cr_assert(ne(ptr, nl, NULL), "a result line without LF");
        json_error_t jerr;
        json_t *j = json_loadb(p, (size_t)(nl - p), 0, &jerr);
        cr_assert(ne(ptr, j, NULL), "not JSON: %.*s", (int)(nl - p), p);
        json_int_t line = json_integer_value(json_object_get(j, "line"));
        cr_assert(ge(i64, (int64_t)line, 1));
        cr_assert(le(i64, (int64_t)line, (int64_t)max_line + 1));
        cr_assert(eq(ptr, res[line], NULL), "line %d answered twice",
                  (int)line);
        res[line] = j;
        (*n)++;
        p = nl + 1;
    }
    return res;
}

static void
s_results_free(json_t **res, size_t max_line)
{
    for (size_t i = 0; i <= max_line + 1; i++)
        json_decref(res[i]);
    free(res);
}

static const char *
s_id_of(json_t *j)
{
    return json_string_value(json_object_get(j, "id"));
}

static const char *
s_code_of(json_t *j)
{
    json_t *e = json_object_get(j, "error");
    return e ? json_string_value(json_object_get(e, "code")) : NULL;
}

/* How many Redis keys match pattern under the pipeline's prefix. */
static long long
s_keys(const char *pattern)
{
    struct timeval tv = {2, 0};
    redisContext *c =
        redisConnectWithTimeout("127.0.0.1", kj_pipeline_redis(g_pl)->port, tv);
    cr_assert(c && !c->err);
    redisReply *r =
        redisCommand(c, "KEYS %s:%s", kj_pipeline_prefix(g_pl), pattern);
    cr_assert(ne(ptr, r, NULL));
    long long n = (long long)r->elements;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

static double
s_metric(kj_svc_t svc, const char *name, const char *label)
{
    char url[256];
    snprintf(url, sizeof url, "%s/metrics",
             kj_pipeline_admin_url(g_pl, svc, 0));
    kj_client_t *cl = kj_client_new(2000);
    kj_resp_t resp;
    memset(&resp, 0, sizeof resp);
    cr_assert(eq(int, kj_client_get(cl, url, &resp), 0));
    double v = -1;
    kj_prom_value(resp.body, name, label, &v);
    kj_resp_free(&resp);
    kj_client_destroy(&cl);
    return v;
}

static void
s_start(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* Lines are charged to the rate limits one by one (batch_limited
     * below): unlimited here, so that only the batch is tested. */
    static const char *env[] = {"KUJO_MAX_BATCH_BODY=2000000",
                                "KUJO_RATE_LIMIT=0", "KUJO_TENANT_RATE_LIMIT=0",
                                NULL};
    kj_pipeline_opts_t o = {.auth_keys = true, .env = env};
    g_pl = kj_pipeline_new(&o);
    cr_assert(ne(ptr, g_pl, NULL), "the pipeline did not start");
}

/* Run one Redis command on the pipeline's server. */
static void
s_redis(const char *cmd)
{
    struct timeval tv = {2, 0};
    redisContext *c =
        redisConnectWithTimeout("127.0.0.1", kj_pipeline_redis(g_pl)->port, tv);
    cr_assert(c && !c->err);
    redisReply *r = redisCommand(c, cmd);
    cr_assert(ne(ptr, r, NULL));
    cr_assert(ne(int, r->type, REDIS_REPLY_ERROR), "%s: %s", cmd, r->str);
    freeReplyObject(r);
    redisFree(c);
}

/* Mid-batch, Redis stops taking writes (no replica to satisfy
 * min-replicas-to-write: every write is refused, reads still work, so
 * the test can check what was recorded). Waits first so ingest has
 * written what was sent so far. */
static void
s_refuse_writes(void)
{
    kj_test_sleep_ms(500);
    s_redis("CONFIG SET min-replicas-to-write 1");
}

/* A key of burst 50 refilling at 1 a second. */
static void
s_start_limited(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    static const char *env[] = {"KUJO_RATE_LIMIT=1", "KUJO_RATE_BURST=50",
                                NULL};
    kj_pipeline_opts_t o = {.auth_keys = true, .env = env};
    g_pl = kj_pipeline_new(&o);
    cr_assert(ne(ptr, g_pl, NULL), "the pipeline did not start");
}

static void
s_stop(void)
{
    kj_pipeline_destroy(&g_pl);
    curl_global_cleanup();
}

TestSuite(batch, .init = s_start, .fini = s_stop, .timeout = 180);

/* Which lines of the 1,000-line body are bad, and why. */
static const char *
s_bad(size_t line)
{
    switch (line) {
    case 10:
        return "missing_field";
    case 200:
        return "wrong_type";
    case 333:
        return "body_too_large"; /* a line over KUJO_MAX_BODY */
    case 500:
        return "invalid_json";
    case 777:
        return "unknown_channel";
    case 778:
        return "invalid_utf8";
    default:
        return NULL;
    }
}

/* 1,000 physical lines: good complaints with an external_id each, the
 * bad ones above, line 600 blank, CRLF on the even ones. */
static char *
s_thousand(size_t *len)
{
    size_t cap = 400 * S_LINES + 80000;
    char *b = malloc(cap);
    size_t n = 0;
    for (size_t i = 1; i <= S_LINES; i++) {
        const char *bad = s_bad(i);
        if (i == 600) {
            /* blank: no result line */
        } else if (bad && strcmp(bad, "body_too_large") == 0) {
            n += (size_t)snprintf(b + n, cap - n,
                                  "{\"channel\":\"web\",\"customer\":{\"id\":"
                                  "\"c\"},\"text\":\"");
            memset(b + n, 'a', 70000);
            n += 70000;
            n += (size_t)snprintf(b + n, cap - n, "\"}");
        } else if (bad && strcmp(bad, "missing_field") == 0) {
            n += (size_t)snprintf(b + n, cap - n, "{\"channel\":\"web\"}");
        } else if (bad && strcmp(bad, "wrong_type") == 0) {
            n += (size_t)snprintf(b + n, cap - n, "[1,2,3]");
        } else if (bad && strcmp(bad, "invalid_json") == 0) {
            n += (size_t)snprintf(b + n, cap - n, "{\"channel\":");
        } else if (bad && strcmp(bad, "unknown_channel") == 0) {
            n += (size_t)snprintf(b + n, cap - n,
                                  "{\"channel\":\"fax\",\"customer\":{\"id\":"
                                  "\"c\"},\"text\":\"x\"}");
        } else if (bad) {
            n += (size_t)snprintf(b + n, cap - n,
                                  "{\"channel\":\"web\",\"customer\":{\"id\":"
                                  "\"c\"},\"text\":\"\xff\xfe\"}");
        } else {
            n += (size_t)snprintf(
                b + n, cap - n,
                "{\"channel\":\"web\",\"customer\":{\"id\":\"cust-%zu\"},"
                "\"text\":\"Batch complaint %zu: the delivery was late "
                "again and nobody answers the phone\","
                "\"external_id\":\"batch-it-%zu\"}",
                i % 37, i, i);
        }
        if (i % 2 == 0)
            b[n++] = '\r';
        b[n++] = '\n';
    }
    *len = n;
    return b;
}

/* Check a 1,000-line answer; the ids go to ids[line]. */
static void
s_check_thousand(const s_resp_t *r, char (*ids)[32])
{
    cr_assert(eq(long, r->status, 200), "%.300s", r->body);
    cr_assert(eq(str, (char *)r->type, "application/x-ndjson"));
    size_t n;
    json_t **res = s_results(r, S_LINES, &n);
    cr_assert(eq(sz, n, S_LINES - 1)); /* every line but the blank one */
    for (size_t i = 1; i <= S_LINES; i++) {
        if (i == 600) {
            cr_assert(eq(ptr, res[i], NULL));
            continue;
        }
        cr_assert(ne(ptr, res[i], NULL), "no result for line %zu", i);
        const char *bad = s_bad(i);
        if (bad) {
            cr_assert(eq(str, (char *)s_code_of(res[i]), (char *)bad),
                      "line %zu", i);
            ids[i][0] = '\0';
        } else {
            const char *id = s_id_of(res[i]);
            cr_assert(ne(ptr, (void *)id, NULL), "line %zu: %s", i,
                      s_code_of(res[i]));
            cr_assert(eq(sz, strlen(id), 20));
            snprintf(ids[i], 32, "%s", id);
        }
    }
    s_results_free(res, S_LINES);
}

Test(batch, thousand_lines_recorded_classified_and_idempotent)
{
    size_t len;
    char *body = s_thousand(&len);
    char(*ids)[32] = calloc(S_LINES + 1, sizeof *ids);
    char(*again)[32] = calloc(S_LINES + 1, sizeof *again);
    long long before = s_keys("*:c:*");
    /* Chunked, 1,000 bytes a chunk: most lines span two chunks. */
    s_resp_t r;
    s_post("application/x-ndjson", body, len, 1000, true, &r);
    s_check_thousand(&r, ids);
    s_resp_free(&r);
    size_t good = S_LINES - 1 - 6;
    long long after = s_keys("*:c:*");
    cr_assert(eq(i64, (int64_t)(after - before), (int64_t)good));

    /* Each good line is a record of the key's tenant, readable at once. */
    for (size_t i = 1; i <= S_LINES; i++) {
        if (!ids[i][0])
            continue;
        json_t *rec = kj_pipeline_record(g_pl, ids[i]);
        cr_assert(ne(ptr, rec, NULL), "line %zu: %s not readable", i, ids[i]);
        cr_assert(eq(str, (char *)json_string_value(json_object_get(rec, "id")),
                     ids[i]));
        json_decref(rec);
    }
    /* ... and reaches the classifier (pushed, or claimed by it). */
    double in = 0;
    for (int t = 0; t < 300 && in < (double)good; t++) {
        in = s_metric(KJ_SVC_CLASSIFIER, "kujo_envelopes_in_total", NULL);
        if (in < (double)good)
            kj_test_sleep_ms(100);
    }
    cr_assert(ge(dbl, in, (double)good));
    json_t *rec = kj_pipeline_wait_state(g_pl, ids[1], "delivered", 30000);
    cr_assert(ne(ptr, rec, NULL));
    json_decref(rec);

    /* The same batch again, in one piece: the same ids, nothing new. */
    double in_ingest = s_metric(KJ_SVC_INGEST, "kujo_envelopes_in_total", NULL);
    s_post("application/x-ndjson; charset=utf-8", body, len, 0, true, &r);
    s_check_thousand(&r, again);
    s_resp_free(&r);
    for (size_t i = 1; i <= S_LINES; i++)
        cr_assert(eq(str, again[i], ids[i]), "line %zu", i);
    cr_assert(eq(i64, (int64_t)s_keys("*:c:*"), (int64_t)after));
    cr_assert(eq(dbl, s_metric(KJ_SVC_INGEST, "kujo_envelopes_in_total", NULL),
                 in_ingest));
    /* Both batches' lines are counted. */
    cr_assert(eq(dbl,
                 s_metric(KJ_SVC_INGEST, "kujo_batch_lines_total",
                          "result=\"accepted\""),
                 2.0 * (double)good));
    cr_assert(eq(
        dbl,
        s_metric(KJ_SVC_INGEST, "kujo_batch_lines_total", "result=\"refused\""),
        12.0));
    free(ids);
    free(again);
    free(body);
}

Test(batch, a_line_split_across_chunks)
{
    const char body[] =
        "{\"channel\":\"web\",\"customer\":{\"id\":\"split\"},\"text\":\""
        "\xe6\x98\xa8\xe6\x97\xa5\xe3\x81\x8b\xe3\x82\x89\xe3\x83\xad\xe3\x82"
        "\xb0\xe3\x82\xa4\xe3\x83\xb3\xe3\x81\xa7\xe3\x81\x8d\xe3\x81\xbe"
        "\xe3\x81\x9b\xe3\x82\x93\",\"external_id\":\"split-1\"}\n"
        "{\"channel\":\"web\",\"customer\":{\"id\":\"split\"},"
        "\"text\":\"second\"}";
    /* 7 bytes a chunk: the multibyte text is cut inside characters. */
    s_resp_t r;
    s_post("application/x-ndjson", body, sizeof body - 1, 7, true, &r);
    cr_assert(eq(long, r.status, 200), "%s", r.body);
    size_t n;
    json_t **res = s_results(&r, 2, &n);
    cr_assert(eq(sz, n, 2));
    const char *id = s_id_of(res[1]);
    cr_assert(ne(ptr, (void *)id, NULL), "%s", r.body);
    cr_assert(ne(ptr, (void *)s_id_of(res[2]), NULL), "%s", r.body);
    json_t *rec = kj_pipeline_record(g_pl, id);
    cr_assert(ne(ptr, rec, NULL));
    json_decref(rec);
    s_results_free(res, 2);
    s_resp_free(&r);
}

Test(batch, refused_before_the_body)
{
    const char body[] = "{\"channel\":\"web\",\"customer\":{\"id\":\"c\"},"
                        "\"text\":\"x\"}\n";
    s_resp_t r;
    long long before = s_keys("*:c:*");
    /* The JSON error shape, as POST /v1/complaints answers. */
    s_post("application/json", body, sizeof body - 1, 0, true, &r);
    cr_assert(eq(long, r.status, 415), "%s", r.body);
    cr_assert(eq(str, r.type, "application/json"));
    json_t *j = json_loads(r.body, 0, NULL);
    cr_assert(eq(str, (char *)s_code_of(j), "unsupported_media_type"));
    json_decref(j);
    s_resp_free(&r);
    s_post(NULL, body, sizeof body - 1, 0, true, &r);
    cr_assert(eq(long, r.status, 415), "%s", r.body);
    s_resp_free(&r);
    s_post("application/x-ndjson", body, sizeof body - 1, 0, false, &r);
    cr_assert(eq(long, r.status, 401), "%s", r.body);
    s_resp_free(&r);
    /* A declared length over KUJO_MAX_BATCH_BODY: nothing is read. */
    size_t big = S_MAX_BATCH_BODY + 10;
    char *huge = malloc(big);
    memset(huge, '\n', big);
    memcpy(huge, body, sizeof body - 1);
    s_post("application/x-ndjson", huge, big, 0, true, &r);
    cr_assert(eq(long, r.status, 413), "%s", r.body);
    j = json_loads(r.body, 0, NULL);
    cr_assert(eq(str, (char *)s_code_of(j), "body_too_large"));
    json_decref(j);
    s_resp_free(&r);
    free(huge);
    cr_assert(eq(i64, (int64_t)s_keys("*:c:*"), (int64_t)before));
}

Test(batch, over_the_line_limit)
{
    /* 10,001 lines: the first 10,000 answered (here all refused, so the
     * test writes nothing), the 10,001st refused and the rest unread. */
    size_t lines = 10001 + 5;
    char *body = malloc(lines * 3);
    for (size_t i = 0; i < lines; i++)
        memcpy(body + 3 * i, "{}\n", 3);
    s_resp_t r;
    s_post("application/x-ndjson", body, lines * 3, 4096, true, &r);
    cr_assert(eq(long, r.status, 413), "%.300s", r.body);
    cr_assert(eq(str, r.type, "application/x-ndjson"));
    size_t n;
    json_t **res = s_results(&r, 10001, &n);
    cr_assert(eq(sz, n, 10001));
    cr_assert(eq(str, (char *)s_code_of(res[1]), "missing_field"));
    cr_assert(eq(str, (char *)s_code_of(res[10000]), "missing_field"));
    cr_assert(eq(str, (char *)s_code_of(res[10001]), "body_too_large"));
    s_results_free(res, 10001);
    s_resp_free(&r);
    free(body);
}

Test(batch, over_the_byte_limit_while_chunked)
{
    /* 1,000-byte lines past KUJO_MAX_BATCH_BODY (2,000,000): lines 1 to
     * 2,000 answered, line 2,001 refused as the first one not read. */
    size_t lines = 2100, width = 1000;
    char *body = malloc(lines * width);
    for (size_t i = 0; i < lines; i++) {
        char *l = body + i * width;
        memset(l, ' ', width);
        l[0] = '{';
        l[width - 2] = '}';
        l[width - 1] = '\n';
    }
    s_resp_t r;
    s_post("application/x-ndjson", body, lines * width, 8192, true, &r);
    cr_assert(eq(long, r.status, 413), "%.300s", r.body);
    size_t n;
    json_t **res = s_results(&r, 2001, &n);
    cr_assert(eq(sz, n, 2001));
    cr_assert(eq(str, (char *)s_code_of(res[2000]), "missing_field"));
    cr_assert(eq(str, (char *)s_code_of(res[2001]), "body_too_large"));
    s_results_free(res, 2001);
    s_resp_free(&r);
    free(body);
}

Test(batch, redis_failing_mid_batch_is_answered_per_line)
{
    size_t lines = 600, len = 0;
    char *body = malloc(lines * 200);
    for (size_t i = 1; i <= lines; i++)
        len += (size_t)snprintf(
            body + len, 200,
            "{\"channel\":\"web\",\"customer\":{\"id\":\"c-%zu\"},"
            "\"text\":\"Redis goes away during this batch, line %zu\","
            "\"external_id\":\"down-%zu\"}\n",
            i, i, i);
    long long before = s_keys("*:c:*");
    g_trip = s_refuse_writes;
    g_trip_at = len / 3;
    s_resp_t r;
    s_post("application/x-ndjson", body, len, 2000, true, &r);
    s_redis("CONFIG SET min-replicas-to-write 0");
    cr_assert(eq(long, r.status, 200), "%.300s", r.body);
    size_t n;
    json_t **res = s_results(&r, lines, &n);
    cr_assert(eq(sz, n, lines));
    /* Lines 1..k answered with ids, every later one unavailable (nothing
     * written: after the first failure the batch writes no more). */
    size_t k = 0;
    while (k < lines && s_id_of(res[k + 1]))
        k++;
    cr_assert(gt(sz, k, 0), "%.300s", r.body);
    cr_assert(lt(sz, k, lines));
    for (size_t i = k + 1; i <= lines; i++)
        cr_assert(eq(str, (char *)s_code_of(res[i]), "unavailable"), "line %zu",
                  i);
    /* Every id answered is a record; nothing else was written. */
    cr_assert(eq(i64, (int64_t)(s_keys("*:c:*") - before), (int64_t)k));
    for (size_t i = 1; i <= k; i++) {
        json_t *rec = kj_pipeline_record(g_pl, s_id_of(res[i]));
        cr_assert(ne(ptr, rec, NULL), "line %zu", i);
        json_decref(rec);
    }
    s_results_free(res, lines);
    s_resp_free(&r);
    free(body);
}

TestSuite(batch_limited, .init = s_start_limited, .fini = s_stop,
          .timeout = 120);

Test(batch_limited, each_line_is_charged)
{
    /* 80 valid lines against a burst of 50: the first ~50 recorded, the
     * rest answered rate_limited per line, nothing written for them. */
    char *body = malloc(80 * 160);
    size_t len = 0;
    for (int i = 1; i <= 80; i++)
        len += (size_t)snprintf(body + len, 160,
                                "{\"channel\":\"web\",\"customer\":{\"id\":"
                                "\"c\"},\"text\":\"limited %d\"}\n",
                                i);
    long long before = s_keys("*:c:*");
    s_resp_t r;
    s_post("application/x-ndjson", body, len, 0, true, &r);
    cr_assert(eq(long, r.status, 200), "%.300s", r.body);
    size_t n, ok = 0, limited = 0;
    json_t **res = s_results(&r, 80, &n);
    cr_assert(eq(sz, n, 80));
    for (size_t i = 1; i <= 80; i++) {
        if (s_id_of(res[i]))
            ok++;
        else if (strcmp(s_code_of(res[i]), "rate_limited") == 0)
            limited++;
    }
    cr_assert(ge(sz, ok, 50));
    cr_assert(le(sz, ok, 52));
    cr_assert(eq(sz, ok + limited, 80));
    cr_assert(eq(i64, (int64_t)(s_keys("*:c:*") - before), (int64_t)ok));
    s_results_free(res, 80);
    s_resp_free(&r);
    free(body);
}
