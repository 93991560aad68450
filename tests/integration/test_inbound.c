/* Signed inbound webhooks (issue 13) on the real pipeline: redis-server
 * and the five services, ingest checking API keys (the webhooks need
 * none: their signature authenticates). Signatures are computed here with
 * OpenSSL directly, not with kujo's code. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "kj_apikey.h"
#include "kj_channels.h"
#include "kj_harness.h"
#include "kj_redis.h"
#include "kj_util.h"

#define LINE_SECRET "it-line-secret"
#define META_SECRET "it-meta-secret"
#define META_TOKEN "it-verify-token"
#define X_SECRET "it-x-secret"

static kj_pipeline_t *g_pl;
static char g_secret_file[64];

typedef struct {
    long status;
    char body[8192];
    size_t len;
    char type[96];
} s_resp_t;

static size_t
s_on_body(char *p, size_t size, size_t n, void *ud)
{
    s_resp_t *r = ud;
    size_t len = size * n, room = sizeof r->body - 1 - r->len;
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
    if (len > 13 && strncasecmp(p, "Content-Type:", 13) == 0)
        snprintf(r->type, sizeof r->type, "%.*s", (int)(len - 15), p + 14);
    return len;
}

/* METHOD path on ingest with headers (NULL-terminated "Name: value"). */
static void
s_http(const char *method, const char *path, const char *const *headers,
       const char *body, s_resp_t *out)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    char url[512];
    snprintf(url, sizeof url, "%s%s", kj_pipeline_url(g_pl, KJ_SVC_INGEST, 0),
             path);
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    for (size_t i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    cr_assert(eq(int, curl_easy_perform(c), CURLE_OK));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static void
s_hmac(const char *secret, const char *msg, size_t len, unsigned char md[32])
{
    unsigned int n = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg,
         len, md, &n);
    cr_assert(eq(u32, n, 32));
}

static void
s_hex(const unsigned char md[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* POST a LINE delivery signed with secret. */
static void
s_post_line(const char *secret, const char *body, s_resp_t *out)
{
    unsigned char md[32];
    s_hmac(secret, body, strlen(body), md);
    char b64[64], hdr[128];
    EVP_EncodeBlock((unsigned char *)b64, md, 32);
    snprintf(hdr, sizeof hdr, "x-line-signature: %s", b64);
    const char *h[] = {"Content-Type: application/json", hdr, NULL};
    s_http("POST", "/v1/inbound/line", h, body, out);
}

static void
s_post_meta(const char *secret, const char *body, s_resp_t *out)
{
    unsigned char md[32];
    char hex[65], hdr[128];
    s_hmac(secret, body, strlen(body), md);
    s_hex(md, hex);
    snprintf(hdr, sizeof hdr, "X-Hub-Signature-256: sha256=%s", hex);
    const char *h[] = {"Content-Type: application/json", hdr, NULL};
    s_http("POST", "/v1/inbound/meta", h, body, out);
}

static void
s_post_social(const char *source, const char *secret, long long ts,
              const char *body, s_resp_t *out)
{
    char *msg = malloc(strlen(body) + 32);
    int n = sprintf(msg, "%lld.%s", ts, body);
    unsigned char md[32];
    char hex[65], h1[96], h2[64], h3[128];
    s_hmac(secret, msg, (size_t)n, md);
    free(msg);
    s_hex(md, hex);
    snprintf(h1, sizeof h1, "X-Kujo-Source: %s", source);
    snprintf(h2, sizeof h2, "X-Kujo-Timestamp: %lld", ts);
    snprintf(h3, sizeof h3, "X-Kujo-Signature: sha256=%s", hex);
    const char *h[] = {"Content-Type: application/json", h1, h2, h3, NULL};
    s_http("POST", "/v1/inbound/social", h, body, out);
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

/* The answer's ids[i], copied into id[32]. */
static void
s_id(const s_resp_t *r, size_t i, char id[32])
{
    json_t *j = json_loads(r->body, 0, NULL);
    const char *s =
        json_string_value(json_array_get(json_object_get(j, "ids"), i));
    cr_assert(ne(ptr, (void *)s, NULL), "no ids[%zu] in %s", i, r->body);
    snprintf(id, 32, "%s", s);
    json_decref(j);
}

static const char *
s_code(const s_resp_t *r, char buf[64])
{
    json_t *j = json_loads(r->body, 0, NULL);
    const char *s =
        json_string_value(json_object_get(json_object_get(j, "error"), "code"));
    snprintf(buf, 64, "%s", s ? s : "");
    json_decref(j);
    return buf;
}

static void
s_start(void)
{
    /* The Meta secret comes from a file, as a Kubernetes Secret mounts it. */
    snprintf(g_secret_file, sizeof g_secret_file, "/tmp/kj-meta-%d",
             (int)getpid());
    FILE *f = fopen(g_secret_file, "w");
    cr_assert(ne(ptr, f, NULL));
    fputs(META_SECRET "\n", f);
    fclose(f);
    static char file_env[96];
    snprintf(file_env, sizeof file_env, "KUJO_META_APP_SECRET_FILE=%s",
             g_secret_file);
    static const char *env[8];
    env[0] = "KUJO_LINE_CHANNEL_SECRET=" LINE_SECRET;
    env[1] = file_env;
    env[2] = "KUJO_META_VERIFY_TOKEN=" META_TOKEN;
    env[3] = "KUJO_SOCIAL_SECRETS=x=" X_SECRET ",reviews=other";
    env[4] = NULL;
    kj_pipeline_opts_t o = {.auth_keys = true, .env = env};
    g_pl = kj_pipeline_new(&o);
    cr_assert(ne(ptr, g_pl, NULL), "the pipeline did not start");
}

static void
s_stop(void)
{
    kj_pipeline_destroy(&g_pl);
    unlink(g_secret_file);
}

TestSuite(inbound, .init = s_start, .fini = s_stop, .timeout = 120);

static const char s_line_body[] =
    "{\"destination\":\"U0123\",\"events\":[{\"type\":\"message\",\"message\":"
    "{\"type\":\"text\",\"id\":\"468789577898262530\",\"text\":\"注文した商品"
    "がまだ届きません。返金してください\"},\"webhookEventId\":"
    "\"01H810YECXQQZ37VAXPF6H9E6T\",\"deliveryContext\":{\"isRedelivery\":"
    "false},\"timestamp\":1692251666727,\"source\":{\"type\":\"user\","
    "\"userId\":\"U4af4980629a0b1c2d3e4f5a6b7c8d9e0\"},\"replyToken\":\"r1\","
    "\"mode\":\"active\"},{\"type\":\"follow\",\"timestamp\":1692251666800,"
    "\"source\":{\"type\":\"user\",\"userId\":\"U99\"},\"webhookEventId\":"
    "\"01H810YECXQQZ37VAXPF6H9E6U\"}]}";

Test(inbound, line_delivery_is_recorded_triaged_and_replay_keeps_its_id)
{
    s_resp_t r;
    char code[64];
    /* Wrong secret: 401 and nothing written. */
    long long before = s_keys("*:c:*");
    s_post_line("not-the-secret", s_line_body, &r);
    cr_assert(eq(i64, r.status, 401), "%s", r.body);
    cr_assert(eq(str, (char *)s_code(&r, code), "bad_signature"));
    const char *none[] = {"Content-Type: application/json", NULL};
    s_http("POST", "/v1/inbound/line", none, s_line_body, &r);
    cr_assert(eq(i64, r.status, 401), "%s", r.body);
    cr_assert(eq(i64, s_keys("*:c:*"), before));
    cr_assert(eq(i64, s_keys("*:idem:*line:*"), 0));

    s_post_line(LINE_SECRET, s_line_body, &r);
    KJ_PL_ASSERT(g_pl, r.status == 200, "LINE answered %ld: %s", r.status,
                 r.body);
    json_t *ans = json_loads(r.body, 0, NULL);
    cr_assert(eq(int, json_integer_value(json_object_get(ans, "recorded")), 1));
    cr_assert(eq(int, json_integer_value(json_object_get(ans, "ignored")), 1));
    json_decref(ans);
    char id[32], again[32];
    s_id(&r, 0, id);
    /* Recorded before the 200: readable at once, and then triaged. */
    json_t *rec = kj_pipeline_record(g_pl, id);
    cr_assert(ne(ptr, rec, NULL));
    json_decref(rec);
    rec = kj_pipeline_wait_state(g_pl, id, "delivered", 30000);
    KJ_PL_ASSERT(g_pl, rec != NULL, "%s never delivered", id);
    cr_assert(eq(str,
                 (char *)json_string_value(json_object_get(rec, "channel")),
                 "line"));
    cr_assert(ne(ptr,
                 json_object_get(json_object_get(rec, "triage"), "category"),
                 NULL));
    json_decref(rec);

    /* LINE redelivers: the same complaint, no second record. */
    long long records = s_keys("*:c:*");
    s_post_line(LINE_SECRET, s_line_body, &r);
    cr_assert(eq(i64, r.status, 200), "%s", r.body);
    s_id(&r, 0, again);
    cr_assert(eq(str, again, id));
    cr_assert(strstr(r.body, "\"duplicates\":1") != NULL, "%s", r.body);
    cr_assert(eq(i64, s_keys("*:c:*"), records));

    /* Bad JSON, correctly signed: the stable code, nothing written. */
    s_post_line(LINE_SECRET, "{\"events\":[", &r);
    cr_assert(eq(i64, r.status, 400));
    cr_assert(eq(str, (char *)s_code(&r, code), "invalid_json"));
    cr_assert(eq(i64, s_keys("*:c:*"), records));
}

Test(inbound, meta_handshake_comment_and_message)
{
    s_resp_t r;
    char code[64];
    s_http("GET",
           "/v1/inbound/meta?hub.mode=subscribe&hub.verify_token=" META_TOKEN
           "&hub.challenge=1158201444",
           NULL, NULL, &r);
    cr_assert(eq(i64, r.status, 200), "%s", r.body);
    cr_assert(eq(str, r.body, "1158201444"));
    cr_assert(strncmp(r.type, "text/plain", 10) == 0, "type %s", r.type);
    s_http("GET",
           "/v1/inbound/meta?hub.mode=subscribe&hub.verify_token=wrong"
           "&hub.challenge=1158201444",
           NULL, NULL, &r);
    cr_assert(eq(i64, r.status, 403));

    const char *body =
        "{\"object\":\"page\",\"entry\":[{\"id\":\"1048576\",\"time\":"
        "1700000000,\"changes\":[{\"field\":\"feed\",\"value\":{\"from\":"
        "{\"id\":\"7781234\",\"name\":\"Jane Doe\"},\"message\":\"You charged "
        "me twice and nobody answers.\",\"post_id\":\"1048576_222\","
        "\"comment_id\":\"222_333\",\"created_time\":1700000000,\"item\":"
        "\"comment\",\"verb\":\"add\"}}],\"messaging\":[{\"sender\":{\"id\":"
        "\"654321\"},\"recipient\":{\"id\":\"1048576\"},\"timestamp\":"
        "1700000199000,\"message\":{\"mid\":\"m_Abc\",\"text\":\"Where is my "
        "refund?\"}}]}]}";
    long long before = s_keys("*:c:*");
    s_post_meta("wrong-app-secret", body, &r);
    cr_assert(eq(i64, r.status, 401));
    cr_assert(eq(str, (char *)s_code(&r, code), "bad_signature"));
    cr_assert(eq(i64, s_keys("*:c:*"), before));

    s_post_meta(META_SECRET, body, &r);
    KJ_PL_ASSERT(g_pl, r.status == 200, "Meta answered %ld: %s", r.status,
                 r.body);
    char comment[32], message[32];
    s_id(&r, 0, comment);
    s_id(&r, 1, message);
    json_t *rec = kj_pipeline_record(g_pl, comment);
    cr_assert(ne(ptr, rec, NULL));
    cr_assert(eq(str,
                 (char *)json_string_value(json_object_get(rec, "channel")),
                 "facebook"));
    cr_assert(eq(int, json_is_true(json_object_get(rec, "public")), 1));
    json_decref(rec);
    rec = kj_pipeline_record(g_pl, message);
    cr_assert(ne(ptr, rec, NULL));
    cr_assert(eq(int, json_is_false(json_object_get(rec, "public")), 1));
    json_decref(rec);
}

Test(inbound, social_signed_stale_and_unconfigured)
{
    s_resp_t r;
    char code[64], id[32];
    const char *body =
        "{\"platform\":\"x\",\"post_id\":\"1790000000000000001\",\"author\":"
        "{\"id\":\"4455667788\",\"name\":\"@angry\"},\"text\":\"Third late "
        "order this month. Not acceptable.\",\"public\":true,\"url\":"
        "\"https://x.com/angry/status/1790000000000000001\"}";
    long long now = (long long)time(NULL);
    long long before = s_keys("*:c:*");
    /* Well past the 300 s tolerance either way: a second ticking over
     * between here and the server must not make the future one fresh. */
    s_post_social("x", X_SECRET, now - 360, body, &r);
    cr_assert(eq(i64, r.status, 401), "%s", r.body);
    cr_assert(eq(str, (char *)s_code(&r, code), "bad_signature"));
    s_post_social("x", X_SECRET, now + 360, body, &r);
    cr_assert(eq(i64, r.status, 401));
    s_post_social("reviews", X_SECRET, now, body, &r);
    cr_assert(eq(i64, r.status, 401));
    cr_assert(eq(i64, s_keys("*:c:*"), before));

    s_post_social("x", X_SECRET, now, body, &r);
    KJ_PL_ASSERT(g_pl, r.status == 200, "social answered %ld: %s", r.status,
                 r.body);
    s_id(&r, 0, id);
    json_t *rec = kj_pipeline_wait_state(g_pl, id, "delivered", 30000);
    KJ_PL_ASSERT(g_pl, rec != NULL, "%s never delivered", id);
    cr_assert(eq(
        str, (char *)json_string_value(json_object_get(rec, "channel")), "x"));
    json_decref(rec);

    /* The webhooks take no API key, and a key does not replace the
     * signature. Unknown adapters are 404. */
    s_http("POST", "/v1/inbound/sms", NULL, "{}", &r);
    cr_assert(eq(i64, r.status, 404));
    s_http("PUT", "/v1/inbound/line", NULL, "{}", &r);
    cr_assert(eq(i64, r.status, 405));
}

/* A fixture of tests/data/email (raw bytes) into buf; its length. */
static size_t
s_fixture(const char *name, char *buf, size_t size)
{
    char path[512];
    snprintf(path, sizeof path, KJ_SOURCE_DIR "/tests/data/email/%s", name);
    FILE *f = fopen(path, "rb");
    cr_assert(ne(ptr, f, NULL), "%s", path);
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n;
}

/* An inbound-mail relay posts raw messages with a key holding the
 * inbound:email scope: the message becomes a complaint of the key's
 * tenant; its Message-ID makes a retry the same complaint; no key, a key
 * without the scope or another Content-Type is refused before the body is
 * read; an out-of-office is counted, not recorded. */
Test(inbound, email_relay_posts_raw_messages_with_a_key)
{
    size_t email = 0;
    while (email < kj_channels_count && strcmp(kj_channels[email], "email"))
        email++;
    cr_assert(lt(sz, email, kj_channels_count));
    char err[256], key[KJ_APIKEY_LEN + 1], auth[KJ_APIKEY_LEN + 32];
    kj_apikey_info_t info;
    kj_redis_t *redis =
        kj_redis_new(kj_pipeline_redis(g_pl)->url, 2000, err, sizeof err);
    cr_assert(ne(ptr, redis, NULL), "%s", err);
    cr_assert(eq(int,
                 kj_apikey_create(redis, kj_pipeline_prefix(g_pl), "default",
                                  1u << (KJ_SCOPE_INBOUND_SHIFT + email),
                                  "relay", 0, kj_now_ms(), key, &info, err,
                                  sizeof err),
                 0),
              "%s", err);
    kj_redis_destroy(&redis);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    char raw[16384];
    s_fixture("iso2022jp.eml", raw, sizeof raw);

    s_resp_t r;
    char code[64];
    long long before = s_keys("*:c:*");
    const char *no_key[] = {"Content-Type: message/rfc822", NULL};
    s_http("POST", "/v1/inbound/email", no_key, raw, &r);
    cr_assert(eq(i64, r.status, 401), "%s", r.body);
    char harness[KJ_APIKEY_LEN + 32];
    snprintf(harness, sizeof harness, "Authorization: Bearer %s",
             kj_pipeline_api_key(g_pl));
    const char *no_scope[] = {"Content-Type: message/rfc822", harness, NULL};
    s_http("POST", "/v1/inbound/email", no_scope, raw, &r);
    cr_assert(eq(i64, r.status, 403), "%s", r.body);
    const char *json_type[] = {"Content-Type: application/json", auth, NULL};
    s_http("POST", "/v1/inbound/email", json_type, raw, &r);
    cr_assert(eq(i64, r.status, 415), "%s", r.body);
    cr_assert(eq(str, (char *)s_code(&r, code), "unsupported_media_type"));
    cr_assert(eq(i64, s_keys("*:c:*"), before));

    const char *ok[] = {"Content-Type: message/rfc822", auth, NULL};
    s_http("POST", "/v1/inbound/email", ok, raw, &r);
    KJ_PL_ASSERT(g_pl, r.status == 200, "e-mail answered %ld: %s", r.status,
                 r.body);
    char id[32], again[32];
    s_id(&r, 0, id);
    json_t *rec = kj_pipeline_wait_state(g_pl, id, "delivered", 30000);
    KJ_PL_ASSERT(g_pl, rec != NULL, "%s never delivered", id);
    cr_assert(eq(str,
                 (char *)json_string_value(json_object_get(rec, "channel")),
                 "email"));
    cr_assert(eq(str,
                 (char *)json_string_value(json_object_get(rec, "subject")),
                 "請求が二重になっています"));
    cr_assert(eq(str,
                 (char *)json_string_value(json_object_get(
                     json_object_get(rec, "triage"), "language")),
                 "ja"));
    json_decref(rec);

    /* The relay retries: the same complaint, nothing new. */
    long long records = s_keys("*:c:*");
    s_http("POST", "/v1/inbound/email", ok, raw, &r);
    cr_assert(eq(i64, r.status, 200), "%s", r.body);
    s_id(&r, 0, again);
    cr_assert(eq(str, again, id));
    cr_assert(strstr(r.body, "\"duplicates\":1") != NULL, "%s", r.body);

    /* An out-of-office answers our own mail: recorded with its label in
     * the noise queue, never acknowledged, no case, nobody paged. */
    s_fixture("ooo_en.eml", raw, sizeof raw);
    s_http("POST", "/v1/inbound/email", ok, raw, &r);
    cr_assert(eq(i64, r.status, 200), "%s", r.body);
    cr_assert(strstr(r.body, "\"recorded\":1") != NULL, "%s", r.body);
    s_id(&r, 0, again);
    rec = kj_pipeline_wait_state(g_pl, again, "delivered", 30000);
    KJ_PL_ASSERT(g_pl, rec != NULL, "%s never delivered", again);
    cr_assert(eq(str, (char *)json_string_value(json_object_get(rec, "noise")),
                 "auto_reply"));
    cr_assert(json_object_get(rec, "case_id") &&
                  json_is_null(json_object_get(rec, "case_id")),
              "a case for noise");
    json_t *as = json_object_get(rec, "assignment");
    cr_assert(eq(str, (char *)json_string_value(json_object_get(as, "team")),
                 "noise"));
    json_t *dl = json_object_get(rec, "deliveries");
    cr_assert(eq(sz, json_array_size(dl), 1), "%s",
              json_dumps(dl, JSON_COMPACT));
    json_t *d0 = json_array_get(dl, 0);
    cr_assert(eq(str, (char *)json_string_value(json_object_get(d0, "kind")),
                 "team_alert"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(d0, "status")),
                 "skipped"));
    json_decref(rec);
    cr_assert(eq(i64, s_keys("*:c:*"), records + 1));
    records++;

    /* Not a message at all: 400, nothing written. */
    s_http("POST", "/v1/inbound/email", ok, "hello", &r);
    cr_assert(eq(i64, r.status, 400), "%s", r.body);
    cr_assert(eq(i64, s_keys("*:c:*"), records));

    /* An English complaint through the real classifier with the shipped
     * models: the spam model is asked (English e-mail) and says no. */
    s_fixture("signature.eml", raw, sizeof raw);
    s_http("POST", "/v1/inbound/email", ok, raw, &r);
    KJ_PL_ASSERT(g_pl, r.status == 200, "e-mail answered %ld: %s", r.status,
                 r.body);
    s_id(&r, 0, id);
    rec = kj_pipeline_wait_state(g_pl, id, "delivered", 30000);
    KJ_PL_ASSERT(g_pl, rec != NULL, "%s never delivered", id);
    json_t *triage = json_object_get(rec, "triage");
    cr_assert(eq(str,
                 (char *)json_string_value(json_object_get(triage, "language")),
                 "en"));
    const json_t *spam = json_object_get(triage, "spam");
    const json_t *p_spam = json_object_get(triage, "spam_confidence");
    bool is_false = json_is_false(spam), is_number = json_is_number(p_spam);
    cr_assert(is_false, "triage.spam should be false");
    cr_assert(is_number, "triage.spam_confidence should be a number");
    cr_assert(lt(dbl, json_number_value(p_spam), 0.5));
    json_decref(rec);
}

/* A raw message from `from` with Message-ID mid answering `reply_to` (or
 * none), posted by the relay; the complaint id into id. */
static void
s_mail(const char *auth, const char *from, const char *mid,
       const char *reply_to, const char *text, char id[32])
{
    char raw[2048], irt[300] = "";
    if (reply_to)
        snprintf(irt, sizeof irt, "In-Reply-To: <%s>\r\nReferences: <%s>\r\n",
                 reply_to, reply_to);
    snprintf(raw, sizeof raw,
             "From: %s\r\nTo: support@example.com\r\n"
             "Subject: Order 4411 never arrived\r\nMessage-ID: <%s>\r\n%s"
             "Date: Mon, 07 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
             "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n\r\n"
             "> quoted history that is cut\r\n",
             from, mid, irt, text);
    const char *h[] = {"Content-Type: message/rfc822", auth, NULL};
    s_resp_t r;
    s_http("POST", "/v1/inbound/email", h, raw, &r);
    KJ_PL_ASSERT(g_pl, r.status == 200, "mail answered %ld: %s", r.status,
                 r.body);
    s_id(&r, 0, id);
}

/* The case of a delivered complaint (a copy in out[32]). */
static void
s_case_of(const char *id, char out[32])
{
    json_t *rec = kj_pipeline_wait_state(g_pl, id, "delivered", 30000);
    KJ_PL_ASSERT(g_pl, rec != NULL, "%s never delivered", id);
    const char *c = json_string_value(json_object_get(rec, "case_id"));
    cr_assert(ne(ptr, (void *)c, NULL), "%s has no case", id);
    snprintf(out, 32, "%s", c);
    json_decref(rec);
}

/* A reply joins the case of the mail it answers (In-Reply-To/References)
 * even from another address; a mail answering nothing kujo knows opens
 * its own case. */
Test(inbound, email_reply_joins_the_case_of_the_mail_it_answers)
{
    size_t email = 0;
    while (email < kj_channels_count && strcmp(kj_channels[email], "email"))
        email++;
    char err[256], key[KJ_APIKEY_LEN + 1], auth[KJ_APIKEY_LEN + 32];
    kj_apikey_info_t info;
    kj_redis_t *redis =
        kj_redis_new(kj_pipeline_redis(g_pl)->url, 2000, err, sizeof err);
    cr_assert(ne(ptr, redis, NULL), "%s", err);
    cr_assert(
        eq(int,
           kj_apikey_create(redis, kj_pipeline_prefix(g_pl), "default",
                            1u << (KJ_SCOPE_INBOUND_SHIFT + email), "relay", 0,
                            kj_now_ms(), key, &info, err, sizeof err),
           0),
        "%s", err);
    kj_redis_destroy(&redis);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);

    char first[32], reply[32], other[32];
    char c_first[32], c_reply[32], c_other[32];
    s_mail(auth, "Ken Ito <ken@example.org>", "t1-4411@mail.example.org", NULL,
           "My order 4411 has not arrived after two weeks. Where is it?",
           first);
    s_case_of(first, c_first);
    /* His colleague answers in the same thread from her own address. */
    s_mail(auth, "Mia Ito <mia@example.org>", "t2-4411@mail.example.org",
           "t1-4411@mail.example.org",
           "Still nothing today, and the tracking page shows no update.",
           reply);
    s_case_of(reply, c_reply);
    cr_assert(eq(str, c_reply, c_first), "the reply opened another case");
    /* Another customer answering an unknown message: a case of its own. */
    s_mail(auth, "Sam Lee <sam@example.net>", "t3@mail.example.net",
           "never-seen@mail.example.net",
           "My parcel was left in the rain and the box is soaked.", other);
    s_case_of(other, c_other);
    cr_assert(ne(str, c_other, c_first));

    json_t *rec = kj_pipeline_wait_state(g_pl, reply, "delivered", 1000);
    json_t *refs = json_object_get(rec, "references");
    cr_assert(eq(sz, json_array_size(refs), 1));
    cr_assert(eq(str, (char *)json_string_value(json_array_get(refs, 0)),
                 "t1-4411@mail.example.org"));
    json_decref(rec);
}

/* How a hostile row is signed: with the right secret (so the body itself
 * is what is judged), or as given in its header. */
typedef enum { S_SIGN_NONE, S_SIGN_LINE, S_SIGN_META, S_SIGN_SOCIAL } s_sign_t;

/* The row's request, signed as it says. */
static void
s_send_signed(const char *method, const char *path, s_sign_t sign,
              const char *header, const char *body, s_resp_t *out)
{
    if (sign == S_SIGN_LINE) {
        s_post_line(LINE_SECRET, body, out);
    } else if (sign == S_SIGN_META) {
        s_post_meta(META_SECRET, body, out);
    } else if (sign == S_SIGN_SOCIAL) {
        s_post_social("x", X_SECRET, (long long)time(NULL), body, out);
    } else {
        const char *h[] = {"Content-Type: application/json", header, NULL};
        s_http(method, path, h, body, out);
    }
}

/* Someone hostile at the webhook doors: every answer is the exact status
 * and code, and nothing is written. */
Test(inbound, hostile_inputs)
{
    const struct {
        const char *method, *path;
        s_sign_t sign;
        const char *header, *body;
        long status;
        const char *code;
    } rows[] = {
        /* Signed with the right secret, but not what the platform sends. */
        {"POST", "/v1/inbound/line", S_SIGN_LINE, NULL, "{\"events\":", 400,
         "invalid_json"},
        {"POST", "/v1/inbound/line", S_SIGN_LINE, NULL, "[]", 400,
         "wrong_type"},
        {"POST", "/v1/inbound/line", S_SIGN_LINE, NULL, "{\"events\":{}}", 400,
         "wrong_type"},
        {"POST", "/v1/inbound/line", S_SIGN_LINE, NULL,
         "{\"events\":[],\"events\":[]}", 400, "invalid_json"},
        {"POST", "/v1/inbound/line", S_SIGN_LINE, NULL,
         "{\"events\":[{\"type\":\"message\",\"message\":{\"type\":\"text\","
         "\"id\":\"1\",\"text\":\"a\\u0000b\"},\"webhookEventId\":\"E1\","
         "\"source\":{\"type\":\"user\",\"userId\":\"U1\"}}]}",
         400, "invalid_json"},
        {"POST", "/v1/inbound/line", S_SIGN_LINE, NULL,
         "{\"events\":[{\"type\":\"message\",\"message\":{\"type\":\"text\","
         "\"id\":\"1\",\"text\":\"caf\xc3\x28\"},\"webhookEventId\":\"E2\","
         "\"source\":{\"type\":\"user\",\"userId\":\"U1\"}}]}",
         400, "invalid_utf8"},
        {"POST", "/v1/inbound/meta", S_SIGN_META, NULL, "{\"object\":7}", 400,
         "wrong_type"},
        {"POST", "/v1/inbound/meta", S_SIGN_META, NULL,
         "{\"object\":\"page\",\"entry\":\"x\"}", 400, "wrong_type"},
        {"POST", "/v1/inbound/social", S_SIGN_SOCIAL, NULL,
         "{\"platform\":\"x\",\"post_id\":\"1\",\"author\":{\"id\":\"a\"},"
         "\"text\":\"hi\",\"admin\":true}",
         400, "unknown_field"},
        {"POST", "/v1/inbound/social", S_SIGN_SOCIAL, NULL,
         "{\"platform\":\"x\",\"post_id\":\"\",\"author\":{\"id\":\"a\"},"
         "\"text\":\"hi\"}",
         400, "missing_field"},
        /* Signatures that are not signatures. */
        {"POST", "/v1/inbound/line", S_SIGN_NONE, "x-line-signature: ",
         "{\"events\":[]}", 401, "bad_signature"},
        {"POST", "/v1/inbound/line", S_SIGN_NONE,
         "x-line-signature: !!!not-base64!!!", "{\"events\":[]}", 401,
         "bad_signature"},
        {"POST", "/v1/inbound/meta", S_SIGN_NONE,
         "X-Hub-Signature-256: sha1=0000", "{\"object\":\"page\"}", 401,
         "bad_signature"},
        {"POST", "/v1/inbound/meta", S_SIGN_NONE,
         "X-Hub-Signature-256: sha256=zz", "{\"object\":\"page\"}", 401,
         "bad_signature"},
        {"POST", "/v1/inbound/social", S_SIGN_NONE,
         "X-Kujo-Signature: sha256=00", "{}", 401, "bad_signature"},
        /* The Meta handshake with the wrong token or without a challenge. */
        {"GET",
         "/v1/inbound/meta?hub.mode=subscribe&hub.verify_token=guess&"
         "hub.challenge=1",
         S_SIGN_NONE, NULL, NULL, 403, "forbidden"},
        {"GET",
         "/v1/inbound/meta?hub.mode=subscribe&hub.verify_token=" META_TOKEN,
         S_SIGN_NONE, NULL, NULL, 403, "forbidden"},
        /* Paths and methods that are not doors. */
        {"POST", "/v1/inbound/%2e%2e/complaints", S_SIGN_NONE, NULL, "{}",
         404, "not_found"},
        {"POST", "/v1/inbound/line/extra", S_SIGN_NONE, NULL, "{}", 404,
         "not_found"},
        {"DELETE", "/v1/openapi.json", S_SIGN_NONE, NULL, NULL, 405,
         "method_not_allowed"},
        {"POST", "/v1/openapi.json", S_SIGN_NONE, NULL, "{}", 405,
         "method_not_allowed"},
    };
    long long before = s_keys("*:c:*");
    char code[64];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        s_resp_t r;
        s_send_signed(rows[i].method, rows[i].path, rows[i].sign,
                      rows[i].header, rows[i].body, &r);
        cr_expect(eq(i64, r.status, rows[i].status), "row %zu %s %s: %s", i,
                  rows[i].method, rows[i].path, r.body);
        cr_expect(eq(str, (char *)s_code(&r, code), (char *)rows[i].code),
                  "row %zu %s %s: %s", i, rows[i].method, rows[i].path,
                  r.body);
        cr_expect(strstr(r.type, "application/json") != NULL,
                  "row %zu: Content-Type %s", i, r.type);
    }
    /* A body over the limit, signed: refused before it is parsed. */
    size_t big = 2 * 1024 * 1024;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    huge[big] = '\0';
    s_resp_t r;
    s_post_line(LINE_SECRET, huge, &r);
    cr_expect(eq(i64, r.status, 413), "%s", r.body);
    cr_expect(eq(str, (char *)s_code(&r, code), "body_too_large"));
    free(huge);
    cr_assert(eq(i64, s_keys("*:c:*"), before), "a hostile request wrote");
    /* The document itself is served, the same for anyone. */
    s_http("GET", "/v1/openapi.json?x=%00", NULL, NULL, &r);
    cr_expect(eq(i64, r.status, 200));
}
