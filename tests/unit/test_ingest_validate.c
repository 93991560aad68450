/* ingest_validate: request bodies and headers -> complaint or precise
 * error. Table-driven: each bad body names the status and stable code the
 * API must answer with. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_validate.h"

static int
s_check(const char *body, kj_complaint_t *c, ingest_error_t *err)
{
    memset(err, 0, sizeof *err);
    return ingest_validate_complaint(body, strlen(body), c, err);
}

Test(ingest_validate, usage_example)
{
    const char *body = "{\"channel\": \"x\", \"customer\": {\"id\": \"c-17\", "
                       "\"tier\": \"gold\"}, \"text\": \"The app is down\", "
                       "\"public\": true}";
    kj_complaint_t c;
    ingest_error_t err;
    int rc = ingest_validate_complaint(body, strlen(body), &c, &err);
    cr_assert(eq(int, rc, 0));
    cr_assert(eq(str, c.channel, "x"));
    cr_assert(eq(str, c.customer.id, "c-17"));
    cr_assert(eq(str, c.customer.tier, "gold"));
    cr_assert(eq(str, c.text, "The app is down"));
    cr_assert(eq(str, c.tenant, "default"));
    cr_assert(c.is_public);
    cr_assert(eq(i64, c.received_at_ms, 0));
}

Test(ingest_validate, japanese_complaint_with_every_field)
{
    const char *body =
        "{\"channel\": \"email\", \"tenant\": \"acme-jp\", "
        "\"customer\": {\"id\": \"顧客-42\", \"tier\": \"standard\", "
        "\"name\": \"山田 太郎\", \"email\": \"taro@example.jp\"}, "
        "\"subject\": \"請求について\", "
        "\"text\": \"先月の請求が二重になっています。至急確認してください。\", "
        "\"public\": false, \"lang\": \"ja\", \"external_id\": "
        "\"<msg-1@example.jp>\", \"received_at\": "
        "\"2026-11-23T18:00:00.250+09:00\"}";
    kj_complaint_t c;
    ingest_error_t err;
    cr_assert(eq(int, s_check(body, &c, &err), 0), "%s", err.message);
    cr_assert(eq(str, c.channel, "email"));
    cr_assert(eq(str, c.tenant, "acme-jp"));
    cr_assert(eq(str, c.customer.id, "顧客-42"));
    cr_assert(eq(str, c.customer.name, "山田 太郎"));
    cr_assert(eq(str, c.customer.email, "taro@example.jp"));
    cr_assert(eq(str, c.subject, "請求について"));
    cr_assert(eq(str, c.text,
                 "先月の請求が二重になっています。至急確認してください。"));
    cr_assert(not(c.is_public));
    cr_assert(eq(str, c.lang_hint, "ja"));
    cr_assert(eq(str, c.external_id, "<msg-1@example.jp>"));
    /* 2026-11-23T09:00:00.250Z */
    cr_assert(eq(i64, c.received_at_ms, 1795424400250LL));
}

Test(ingest_validate, english_complaint_minimal)
{
    kj_complaint_t c;
    ingest_error_t err;
    cr_assert(eq(int,
                 s_check("{\"text\":\"Refund me\",\"customer\":{\"id\":\"a\"},"
                         "\"channel\":\"app_review\"}",
                         &c, &err),
                 0));
    cr_assert(eq(str, c.channel, "app_review"));
    cr_assert(eq(str, c.subject, ""));
    cr_assert(eq(str, c.customer.tier, ""));
}

/* One bad request and what the API must say about it. */
typedef struct {
    const char *name;
    const char *body;
    unsigned status;
    const char *code;
    const char *message_has; /* a part of the message, or NULL */
} s_case_t;

#define OK_CUST "\"customer\":{\"id\":\"c1\"}"
#define OK_REST "\"channel\":\"x\"," OK_CUST ",\"text\":\"hi\""

static const s_case_t s_bad[] = {
    {"empty body", "", 400, "invalid_json", NULL},
    {"not json", "hello", 400, "invalid_json", "line 1"},
    {"truncated", "{\"channel\": \"x\"", 400, "invalid_json", NULL},
    {"trailing garbage", "{" OK_REST "} x", 400, "invalid_json", NULL},
    {"duplicate key", "{" OK_REST ",\"text\":\"again\"}", 400, "invalid_json",
     "duplicate"},
    {"nul escape", "{" OK_REST ",\"subject\":\"a\\u0000b\"}", 400,
     "invalid_json", "\\u0000"},
    {"array body", "[1,2]", 400, "wrong_type", "got array"},
    {"string body", "\"text\"", 400, "wrong_type", "got string"},
    {"invalid utf8 in text",
     "{\"channel\":\"x\"," OK_CUST ",\"text\":\"caf\xc3\x28\"}", 400,
     "invalid_utf8", NULL},
    {"invalid utf8 overlong", "{" OK_REST ",\"subject\":\"\xc0\xaf\"}", 400,
     "invalid_utf8", NULL},
    {"invalid utf8 surrogate", "{" OK_REST ",\"subject\":\"\xed\xa0\x80\"}",
     400, "invalid_utf8", NULL},
    {"missing channel", "{" OK_CUST ",\"text\":\"hi\"}", 400, "missing_field",
     "\"channel\""},
    {"missing customer", "{\"channel\":\"x\",\"text\":\"hi\"}", 400,
     "missing_field", "\"customer\""},
    {"missing customer id",
     "{\"channel\":\"x\",\"customer\":{\"tier\":\"gold\"},\"text\":\"hi\"}",
     400, "missing_field", "\"customer.id\""},
    {"empty customer id",
     "{\"channel\":\"x\",\"customer\":{\"id\":\"\"},\"text\":\"hi\"}", 400,
     "missing_field", "\"customer.id\""},
    {"missing text", "{\"channel\":\"x\"," OK_CUST "}", 400, "missing_field",
     "\"text\""},
    {"channel number", "{\"channel\":7," OK_CUST ",\"text\":\"hi\"}", 400,
     "wrong_type", "field \"channel\": expected a string, got number"},
    {"customer string",
     "{\"channel\":\"x\",\"customer\":\"c1\",\"text\":\"hi\"}", 400,
     "wrong_type", "field \"customer\": expected an object, got string"},
    {"customer id number",
     "{\"channel\":\"x\",\"customer\":{\"id\":17},\"text\":\"hi\"}", 400,
     "wrong_type", "field \"customer.id\": expected a string, got number"},
    {"customer tier bool",
     "{\"channel\":\"x\",\"customer\":{\"id\":\"a\",\"tier\":true},"
     "\"text\":\"hi\"}",
     400, "wrong_type", "\"customer.tier\""},
    {"text null", "{\"channel\":\"x\"," OK_CUST ",\"text\":null}", 400,
     "wrong_type", "got null"},
    {"text array", "{\"channel\":\"x\"," OK_CUST ",\"text\":[\"hi\"]}", 400,
     "wrong_type", "got array"},
    {"public string", "{" OK_REST ",\"public\":\"yes\"}", 400, "wrong_type",
     "field \"public\": expected a boolean, got string"},
    {"subject number", "{" OK_REST ",\"subject\":1.5}", 400, "wrong_type",
     "\"subject\""},
    {"lang object", "{" OK_REST ",\"lang\":{}}", 400, "wrong_type", "\"lang\""},
    {"external_id number", "{" OK_REST ",\"external_id\":123}", 400,
     "wrong_type", "\"external_id\""},
    {"received_at number", "{" OK_REST ",\"received_at\":1700000000}", 400,
     "wrong_type", "\"received_at\""},
    {"tenant upper case", "{" OK_REST ",\"tenant\":\"Acme\"}", 400,
     "wrong_type", "\"tenant\""},
    {"tenant with colon", "{" OK_REST ",\"tenant\":\"a:b\"}", 400, "wrong_type",
     "\"tenant\""},
    {"tenant empty", "{" OK_REST ",\"tenant\":\"\"}", 400, "wrong_type",
     "\"tenant\""},
    {"empty text", "{\"channel\":\"x\"," OK_CUST ",\"text\":\"\"}", 400,
     "empty_text", NULL},
    {"ascii white space text",
     "{\"channel\":\"x\"," OK_CUST ",\"text\":\" \\t\\r\\n \"}", 400,
     "empty_text", NULL},
    {"ideographic space text",
     "{\"channel\":\"x\"," OK_CUST ",\"text\":\"\xe3\x80\x80\xe3\x80\x80\"}",
     400, "empty_text", NULL},
    {"unknown channel", "{\"channel\":\"fax\"," OK_CUST ",\"text\":\"hi\"}",
     400, "unknown_channel", NULL},
    {"channel case matters",
     "{\"channel\":\"Email\"," OK_CUST ",\"text\":\"hi\"}", 400,
     "unknown_channel", NULL},
    {"unknown field", "{" OK_REST ",\"custmer\":1}", 400, "unknown_field",
     "unknown field \"custmer\""},
    {"unknown customer field",
     "{\"channel\":\"x\",\"customer\":{\"id\":\"a\",\"phone\":\"1\"},"
     "\"text\":\"hi\"}",
     400, "unknown_field", "\"customer.phone\""},
    {"received_at not a time", "{" OK_REST ",\"received_at\":\"yesterday\"}",
     400, "invalid_time", NULL},
    {"received_at no zone",
     "{" OK_REST ",\"received_at\":\"2026-11-23T09:00:00\"}", 400,
     "invalid_time", NULL},
    {"received_at feb 30",
     "{" OK_REST ",\"received_at\":\"2026-02-30T09:00:00Z\"}", 400,
     "invalid_time", NULL},
    {"received_at hour 24",
     "{" OK_REST ",\"received_at\":\"2026-11-23T24:00:00Z\"}", 400,
     "invalid_time", NULL},
    {"received_at bad offset",
     "{" OK_REST ",\"received_at\":\"2026-11-23T09:00:00+0900\"}", 400,
     "invalid_time", NULL},
    {"received_at empty fraction",
     "{" OK_REST ",\"received_at\":\"2026-11-23T09:00:00.Z\"}", 400,
     "invalid_time", NULL},
    {"lang too long", "{" OK_REST ",\"lang\":\"abcdefghijklmnop\"}", 400,
     "field_too_long", "\"lang\""},
    {"noise unknown", "{" OK_REST ",\"noise\":\"spam\"}", 400, "invalid_value",
     "\"noise\""},
    {"noise bool", "{" OK_REST ",\"noise\":true}", 400, "wrong_type",
     "\"noise\""},
    {"references string", "{" OK_REST ",\"references\":\"m1\"}", 400,
     "wrong_type", "\"references\""},
    {"references number", "{" OK_REST ",\"references\":[1]}", 400, "wrong_type",
     "\"references[]\""},
    {"references empty id", "{" OK_REST ",\"references\":[\"\"]}", 400,
     "invalid_value", "\"references[0]\""},
    {"references newline", "{" OK_REST ",\"references\":[\"a\",\"b\\nc\"]}",
     400, "invalid_value", "\"references[1]\""},
    {"references nine",
     "{" OK_REST ",\"references\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\","
     "\"8\",\"9\"]}",
     400, "invalid_value", "at most 8"},
    {"attachments object", "{" OK_REST ",\"attachments\":{}}", 400,
     "wrong_type", "\"attachments\""},
    {"attachment unknown field",
     "{" OK_REST ",\"attachments\":[{\"name\":\"a\",\"data\":\"AAAA\"}]}", 400,
     "unknown_field", "\"attachments[].data\""},
    {"attachment negative size",
     "{" OK_REST ",\"attachments\":[{\"size\":-1}]}", 400, "wrong_type",
     "\"attachments[].size\""},
};

/* The thread, noise label and attachments an e-mail adapter (or any
 * client) may send. */
Test(ingest_validate, noise_references_and_attachments)
{
    kj_complaint_t c;
    ingest_error_t err;
    const char *body =
        "{" OK_REST ",\"noise\":\"bounce\",\"references\":[\"m2@x\","
        "\"m1@x\"],\"attachments\":[{\"name\":\"写真.jpg\",\"type\":"
        "\"image/jpeg\",\"size\":20480},{}]}";
    cr_assert(eq(int, s_check(body, &c, &err), 0), "%s", err.message);
    cr_assert(eq(str, c.noise, "bounce"));
    cr_assert(eq(sz, c.n_references, 2));
    cr_assert(eq(str, c.references[0], "m2@x"));
    cr_assert(eq(sz, c.n_attachments, 2));
    cr_assert(eq(str, c.attachments[0].name, "写真.jpg"));
    cr_assert(eq(str, c.attachments[0].content_type, "image/jpeg"));
    cr_assert(eq(u64, c.attachments[0].size, 20480));
    cr_assert(eq(str, c.attachments[1].name, ""));
}

Test(ingest_validate, bad_bodies_table)
{
    for (size_t i = 0; i < sizeof s_bad / sizeof s_bad[0]; i++) {
        const s_case_t *t = &s_bad[i];
        kj_complaint_t c;
        ingest_error_t err;
        int rc = s_check(t->body, &c, &err);
        cr_expect(eq(int, rc, -1), "case %s", t->name);
        cr_expect(eq(u32, err.status, t->status), "case %s", t->name);
        cr_expect(eq(str, err.code, (char *)t->code), "case %s: %s", t->name,
                  err.message);
        if (t->message_has)
            cr_expect(strstr(err.message, t->message_has) != NULL,
                      "case %s: message \"%s\" lacks \"%s\"", t->name,
                      err.message, t->message_has);
        cr_expect(gt(sz, strlen(err.message), 0), "case %s", t->name);
    }
}

/* A body with a string field of n bytes ('a' repeated). */
static char *
s_body_with(const char *field, size_t n)
{
    size_t size = n + 256;
    char *body = malloc(size);
    char *val = malloc(n + 1);
    memset(val, 'a', n);
    val[n] = '\0';
    if (strcmp(field, "text") == 0)
        snprintf(body, size, "{\"channel\":\"x\"," OK_CUST ",\"text\":\"%s\"}",
                 val);
    else if (strcmp(field, "customer.id") == 0)
        snprintf(body, size,
                 "{\"channel\":\"x\",\"customer\":{\"id\":\"%s\"},"
                 "\"text\":\"hi\"}",
                 val);
    else
        snprintf(body, size, "{" OK_REST ",\"%s\":\"%s\"}", field, val);
    free(val);
    return body;
}

/* Each length limit: the limit itself passes, one byte more fails. */
Test(ingest_validate, length_limits)
{
    static const struct {
        const char *field;
        size_t max;
        unsigned status;
        const char *code;
    } lim[] = {
        {"text", 8192, 413, "text_too_long"},
        {"subject", 512, 400, "field_too_long"},
        {"lang", 15, 400, "field_too_long"},
        {"external_id", 255, 400, "field_too_long"},
        {"tenant", 63, 400, "field_too_long"},
        {"customer.id", 255, 400, "field_too_long"},
    };
    for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++) {
        kj_complaint_t c;
        ingest_error_t err;
        char *ok = s_body_with(lim[i].field, lim[i].max);
        cr_expect(eq(int, s_check(ok, &c, &err), 0), "%s at %zu: %s",
                  lim[i].field, lim[i].max, err.message);
        free(ok);
        char *bad = s_body_with(lim[i].field, lim[i].max + 1);
        cr_expect(eq(int, s_check(bad, &c, &err), -1), "%s", lim[i].field);
        cr_expect(eq(u32, err.status, lim[i].status), "%s", lim[i].field);
        cr_expect(eq(str, err.code, (char *)lim[i].code), "%s", lim[i].field);
        free(bad);
    }
}

Test(ingest_validate, text_of_8192_multibyte_bytes_is_accepted)
{
    /* 2730 three-byte characters + 2 ASCII = 8192 bytes exactly. */
    size_t size = 9000;
    char *body = malloc(size);
    char *p =
        body + sprintf(body, "{\"channel\":\"x\"," OK_CUST ",\"text\":\"");
    for (int i = 0; i < 2730; i++)
        p += sprintf(p, "苦");
    p += sprintf(p, "ok\"}");
    kj_complaint_t c;
    ingest_error_t err;
    cr_assert(eq(int, s_check(body, &c, &err), 0), "%s", err.message);
    cr_assert(eq(sz, strlen(c.text), 8192));
    free(body);
}

Test(ingest_validate, every_channel_is_known)
{
    static const char *ch[] = {"email",  "chat", "web",       "form",
                               "survey", "x",    "facebook",  "instagram",
                               "phone",  "sms",  "app_review"};
    for (size_t i = 0; i < sizeof ch / sizeof ch[0]; i++)
        cr_expect(ingest_channel_known(ch[i], strlen(ch[i])), "%s", ch[i]);
    cr_expect(not(ingest_channel_known("xx", 2)));
    cr_expect(not(ingest_channel_known("", 0)));
    /* A prefix of a channel is not that channel. */
    cr_expect(not(ingest_channel_known("emai", 4)));
}

Test(ingest_validate, rfc3339_times)
{
    static const struct {
        const char *s;
        int64_t ms;
    } ok[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"1970-01-01T00:00:00.5Z", 500},
        {"1970-01-01t00:00:01.123456789z", 1123},
        {"1970-01-01 09:00:00+09:00", 0},
        {"1969-12-31T23:59:59.999Z", -1},
        {"2000-02-29T12:00:00-01:30", 951831000000LL},
        {"2026-11-23T09:00:00.000Z", 1795424400000LL},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = 42;
        cr_expect(eq(int, ingest_parse_time(ok[i].s, strlen(ok[i].s), &ms), 0),
                  "%s", ok[i].s);
        cr_expect(eq(i64, ms, ok[i].ms), "%s", ok[i].s);
    }
    static const char *bad[] = {
        "",
        "2026-11-23",
        "2026-11-23T09:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2025-02-29T00:00:00Z",
        "2026-11-23T09:60:00Z",
        "2026-11-23T09:00:61Z",
        "2026-11-23T09:00:00+24:00",
        "2026-11-23T09:00:00Zjunk",
        "2026-11-23T09:00:00.1234567890Z",
        "2026/11/23T09:00:00Z",
        "+2026-11-23T09:00:00Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms;
        cr_expect(eq(int, ingest_parse_time(bad[i], strlen(bad[i]), &ms), -1),
                  "%s", bad[i]);
    }
}

Test(ingest_validate, idempotency_keys)
{
    ingest_error_t err;
    cr_expect(eq(int, ingest_validate_idem_key("order-17/retry 2", &err), 0));
    char key[202];
    memset(key, 'k', 200);
    key[200] = '\0';
    cr_expect(eq(int, ingest_validate_idem_key(key, &err), 0));
    key[200] = 'k';
    key[201] = '\0';
    cr_expect(eq(int, ingest_validate_idem_key(key, &err), -1));
    cr_expect(eq(str, err.code, "invalid_idempotency_key"));
    cr_expect(eq(u32, err.status, 400));
    cr_expect(eq(int, ingest_validate_idem_key("", &err), -1));
    cr_expect(eq(int, ingest_validate_idem_key("tab\there", &err), -1));
    cr_expect(eq(int, ingest_validate_idem_key("キー", &err), -1));
}

Test(ingest_validate, content_types)
{
    static const char *ok[] = {
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "application/json; charset=\"utf-8\"",
    };
    ingest_error_t err;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        cr_expect(eq(int, ingest_validate_content_type(ok[i], &err), 0), "%s",
                  ok[i]);
    static const char *bad[] = {
        "text/plain",
        "application/jsonx",
        "application/json; charset=latin1",
        "application/json; boundary=x",
        "application/x-www-form-urlencoded",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect(eq(int, ingest_validate_content_type(bad[i], &err), -1), "%s",
                  bad[i]);
        cr_expect(eq(u32, err.status, 415));
        cr_expect(eq(str, err.code, "unsupported_media_type"));
    }
    cr_expect(eq(int, ingest_validate_content_type(NULL, &err), -1));
}

Test(ingest_validate, only_space)
{
    cr_expect(ingest_only_space("", 0));
    cr_expect(ingest_only_space(" \t\n", 3));
    cr_expect(ingest_only_space("\xc2\xa0\xe2\x80\x8b", 5)); /* NBSP, ZWSP */
    cr_expect(not(ingest_only_space(" a ", 3)));
    cr_expect(not(ingest_only_space("。", strlen("。"))));
}

Test(ingest_validate, messages_are_printable_ascii)
{
    /* A field name with non-ASCII and control characters is echoed back
     * safely, shortened. */
    const char *body =
        "{" OK_REST ",\"フィールド\\u0001xxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxx\":1}";
    kj_complaint_t c;
    ingest_error_t err;
    cr_assert(eq(int, s_check(body, &c, &err), -1));
    cr_assert(eq(str, err.code, "unknown_field"));
    for (const char *p = err.message; *p; p++)
        cr_assert(ge(int, (unsigned char)*p, 0x20));
    for (const char *p = err.message; *p; p++)
        cr_assert(le(int, (unsigned char)*p, 0x7e));
    cr_assert(lt(sz, strlen(err.message), 120));
}
