/* ingest_inbound: signed webhook bodies -> complaint bodies. The
 * payloads are the seed corpus of the fuzz targets
 * (tests/fuzz/corpus/inbound_*), realistic deliveries as LINE, Meta and
 * a listening tool send them. The signature vectors were computed
 * independently of kujo, with OpenSSL's command line, over those exact
 * files (no trailing newline):
 *
 *   openssl dgst -sha256 -hmac line-channel-secret -binary \
 *       inbound_line/text_follow_sticker.json | base64
 *   openssl dgst -sha256 -hmac meta-app-secret \
 *       inbound_meta/page_feed_comment.json
 *   (printf 1700000000.; cat inbound_social/x_post.json) | \
 *       openssl dgst -sha256 -hmac x-secret
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ingest_inbound.h"
#include "kj_hmac.h"

#define CORPUS KJ_SOURCE_DIR "/tests/fuzz/corpus/"
#define LINE_SIG "Enl03y4lrk9oin7jqpA0FGy7NqeLjKMsxPjUueBsF4w="
#define META_SIG                                                               \
    "sha256=3a8a169ab197e317066d6e425f3283c6f2e0dac20619f0c80bbf9a67a0929823"
#define SOCIAL_SIG                                                             \
    "sha256=f774aa381b36c477a89fbc693aa245dfb06b4f5c499908706941a88b91c8c391"
#define NOW 1700000000

static char *
s_read(const char *rel, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, CORPUS "%s", rel);
    FILE *f = fopen(path, "rb");
    cr_assert(ne(ptr, f, NULL), "cannot open %s", path);
    char *buf = malloc(65536);
    *len = fread(buf, 1, 65535, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* Request headers for ingest_inbound_handle. */
typedef struct {
    const char *names[3];
    const char *values[3];
} s_headers_t;

static const char *
s_get(void *ctx, const char *name)
{
    const s_headers_t *h = ctx;
    for (int i = 0; i < 3 && h->names[i]; i++)
        if (strcasecmp(h->names[i], name) == 0)
            return h->values[i];
    return NULL;
}

static ingest_inbound_t *
s_inbound(void)
{
    ingest_inbound_opts_t o = {
        .line_secret = "line-channel-secret",
        .meta_secret = "meta-app-secret",
        .meta_verify_token = "verify-me",
        .social_secrets = "x=x-secret,reviews=reviews-secret",
        .tenant = "acme",
        .tolerance_s = 300,
    };
    char msg[128];
    ingest_inbound_t *in = ingest_inbound_new(&o, NULL, msg, sizeof msg);
    cr_assert(ne(ptr, in, NULL));
    return in;
}

static const char *
s_str(const json_t *c, const char *path)
{
    /* "customer.id" or "text" */
    const char *dot = strchr(path, '.');
    if (dot) {
        char head[32];
        snprintf(head, sizeof head, "%.*s", (int)(dot - path), path);
        return json_string_value(
            json_object_get(json_object_get(c, head), dot + 1));
    }
    return json_string_value(json_object_get(c, path));
}

/* "public": 1 true, 0 false, -1 absent or not a boolean. */
static int
s_public(const json_t *c)
{
    const json_t *v = json_object_get(c, "public");
    return json_is_true(v) ? 1 : json_is_false(v) ? 0 : -1;
}

Test(ingest_inbound, usage_example_line_delivery)
{
    ingest_inbound_t *in = s_inbound();
    const ingest_inbound_adapter_t *a =
        ingest_inbound_match("/v1/inbound/line");
    cr_assert(ne(ptr, (void *)a, NULL));
    size_t len;
    char *body = s_read("inbound_line/text_follow_sticker.json", &len);
    s_headers_t h = {{"X-Line-Signature"}, {LINE_SIG}};
    ingest_inbound_list_t list = {0};
    ingest_error_t err;
    cr_assert(
        eq(int,
           ingest_inbound_handle(in, a, s_get, &h, body, len, NOW, &list, &err),
           0));
    /* A text message; the follow and the sticker are acknowledged only. */
    cr_assert(eq(sz, list.n, 1));
    cr_assert(eq(sz, list.ignored, 2));
    const json_t *c = list.items[0].complaint;
    cr_assert(eq(str, list.items[0].key, "line:01H810YECXQQZ37VAXPF6H9E6T"));
    cr_assert(eq(str, (char *)s_str(c, "channel"), "line"));
    cr_assert(eq(str, (char *)s_str(c, "customer.id"),
                 "U4af4980629a0b1c2d3e4f5a6b7c8d9e0"));
    cr_assert(
        eq(str, (char *)s_str(c, "external_id"), "01H810YECXQQZ37VAXPF6H9E6T"));
    cr_assert(eq(str, (char *)s_str(c, "text"),
                 "注文した商品がまだ届きません。3日も待っています"));
    cr_assert(
        eq(str, (char *)s_str(c, "received_at"), "2023-08-17T05:54:26.727Z"));
    cr_assert(eq(int, s_public(c), 0));
    cr_assert(eq(str, (char *)ingest_inbound_tenant(in), "acme"));
    ingest_inbound_list_free(&list);
    free(body);
    ingest_inbound_destroy(&in);
}

Test(ingest_inbound, line_signature_vectors)
{
    size_t len;
    char *body = s_read("inbound_line/text_follow_sticker.json", &len);
    cr_assert(
        ingest_inbound_verify_line("line-channel-secret", LINE_SIG, body, len));
    cr_assert(not(
        ingest_inbound_verify_line("line-channel-secre", LINE_SIG, body, len)));
    cr_assert(not(ingest_inbound_verify_line("line-channel-secret", LINE_SIG,
                                             body, len - 1)));
    /* base64 is case-sensitive; a truncated or padded value is refused */
    cr_assert(not(ingest_inbound_verify_line(
        "line-channel-secret",
        "enl03y4lrk9oin7jqpA0FGy7NqeLjKMsxPjUueBsF4w=", body, len)));
    cr_assert(not(ingest_inbound_verify_line(
        "line-channel-secret", "Enl03y4lrk9oin7jqpA0FGy7NqeLjKMsxPjUueBsF4w",
        body, len)));
    cr_assert(
        not(ingest_inbound_verify_line("line-channel-secret", "", body, len)));
    body[10] ^= 1; /* one bit of the body */
    cr_assert(not(ingest_inbound_verify_line("line-channel-secret", LINE_SIG,
                                             body, len)));
    free(body);
}

Test(ingest_inbound, wrong_or_missing_signature_parses_nothing)
{
    ingest_inbound_t *in = s_inbound();
    const ingest_inbound_adapter_t *a =
        ingest_inbound_match("/v1/inbound/line");
    size_t len;
    char *body = s_read("inbound_line/text_follow_sticker.json", &len);
    ingest_inbound_list_t list = {0};
    ingest_error_t err;
    s_headers_t none = {{NULL}, {NULL}};
    cr_assert(eq(
        int,
        ingest_inbound_handle(in, a, s_get, &none, body, len, NOW, &list, &err),
        -1));
    cr_assert(eq(str, err.code, "bad_signature"));
    cr_assert(eq(u32, err.status, 401));
    cr_assert(eq(sz, list.n, 0));
    /* The Meta signature of another body. */
    s_headers_t wrong = {{"x-line-signature"},
                         {"3a8a169ab197e317066d6e425f3283c6f2e0dac20619f0c8"}};
    cr_assert(eq(int,
                 ingest_inbound_handle(in, a, s_get, &wrong, body, len, NOW,
                                       &list, &err),
                 -1));
    cr_assert(eq(str, err.code, "bad_signature"));
    /* Not even JSON: the signature is refused first, not the syntax. */
    cr_assert(eq(
        int,
        ingest_inbound_handle(in, a, s_get, &wrong, "{", 1, NOW, &list, &err),
        -1));
    cr_assert(eq(str, err.code, "bad_signature"));
    ingest_inbound_list_free(&list);
    free(body);
    ingest_inbound_destroy(&in);
}

/* Parse a corpus file with a parser; 0 or -1. */
static int
s_parse(ingest_inbound_parse_fn parse, const char *rel, const char *source,
        ingest_inbound_list_t *list, ingest_error_t *err)
{
    size_t len;
    char *body = s_read(rel, &len);
    int rc = parse(body, len, source, list, err);
    free(body);
    return rc;
}

Test(ingest_inbound, line_edge_events)
{
    ingest_inbound_list_t list = {0};
    ingest_error_t err;
    cr_assert(eq(int,
                 s_parse(ingest_inbound_parse_line,
                         "inbound_line/verify_empty.json", "", &list, &err),
                 0));
    cr_assert(eq(sz, list.n, 0)); /* LINE's "Verify" button */
    /* A group member without a userId, and a postback: acknowledged. */
    cr_assert(
        eq(int,
           s_parse(ingest_inbound_parse_line,
                   "inbound_line/group_no_user_postback.json", "", &list, &err),
           0));
    cr_assert(eq(sz, list.n, 0));
    cr_assert(eq(sz, list.ignored, 2));
    ingest_inbound_list_clear(&list);
    cr_assert(eq(int,
                 s_parse(ingest_inbound_parse_line,
                         "inbound_line/wrong_type.json", "", &list, &err),
                 -1));
    cr_assert(eq(str, err.code, "missing_field"));
    cr_assert(eq(str, err.message, "field \"events[0].source\" is required"));
    /* No webhookEventId (older deliveries): the message id is the key. */
    const char *old =
        "{\"events\":[{\"type\":\"message\",\"message\":{\"type\":\"text\","
        "\"id\":\"4687\",\"text\":\"遅い\"},\"timestamp\":1,\"source\":"
        "{\"type\":\"user\",\"userId\":\"U1\"}}]}";
    cr_assert(eq(
        int, ingest_inbound_parse_line(old, strlen(old), "", &list, &err), 0));
    cr_assert(eq(str, list.items[0].key, "line:4687"));
    ingest_inbound_list_clear(&list);
    const char *bad = "{\"events\":{}}";
    cr_assert(eq(
        int, ingest_inbound_parse_line(bad, strlen(bad), "", &list, &err), -1));
    cr_assert(eq(str, err.message, "field \"events\": expected an array"));
    ingest_inbound_list_free(&list);
}

Test(ingest_inbound, meta_signature_vector)
{
    size_t len;
    char *body = s_read("inbound_meta/page_feed_comment.json", &len);
    cr_assert(
        ingest_inbound_verify_meta("meta-app-secret", META_SIG, body, len));
    cr_assert(not(ingest_inbound_verify_meta("meta-app-secret", META_SIG + 7,
                                             body, len)));
    cr_assert(not(ingest_inbound_verify_meta(
        "meta-app-secret",
        "sha1=3a8a169ab197e317066d6e425f3283c6f2e0dac20619f0c80bbf9a67a0929823",
        body, len)));
    cr_assert(not(ingest_inbound_verify_meta("other", META_SIG, body, len)));
    free(body);
}

Test(ingest_inbound, facebook_page_feed_comment)
{
    ingest_inbound_list_t list = {0};
    ingest_error_t err;
    cr_assert(
        eq(int,
           s_parse(ingest_inbound_parse_meta,
                   "inbound_meta/page_feed_comment.json", "", &list, &err),
           0));
    cr_assert(eq(sz, list.n, 1));
    const json_t *c = list.items[0].complaint;
    cr_assert(eq(str, list.items[0].key, "meta:222_333444555"));
    cr_assert(eq(str, (char *)s_str(c, "channel"), "facebook"));
    cr_assert(eq(str, (char *)s_str(c, "customer.id"), "7781234567890123"));
    cr_assert(eq(str, (char *)s_str(c, "customer.name"), "Jane Doe"));
    cr_assert(eq(str, (char *)s_str(c, "external_id"), "222_333444555"));
    cr_assert(
        eq(str, (char *)s_str(c, "received_at"), "2023-11-14T22:13:20.000Z"));
    cr_assert(eq(int, s_public(c), 1));
    ingest_inbound_list_free(&list);
}

Test(ingest_inbound, instagram_comment)
{
    ingest_inbound_list_t list = {0};
    ingest_error_t err;
    cr_assert(
        eq(int,
           s_parse(ingest_inbound_parse_meta,
                   "inbound_meta/instagram_comment.json", "", &list, &err),
           0));
    cr_assert(eq(sz, list.n, 1));
    const json_t *c = list.items[0].complaint;
    cr_assert(eq(str, list.items[0].key, "meta:17865799348089039"));
    cr_assert(eq(str, (char *)s_str(c, "channel"), "instagram"));
    cr_assert(eq(str, (char *)s_str(c, "customer.id"), "17841455555555555"));
    cr_assert(eq(str, (char *)s_str(c, "customer.name"), "hana_k"));
    cr_assert(eq(str, (char *)s_str(c, "text"),
                 "The strap broke after two days. Very disappointed."));
    cr_assert(eq(int, s_public(c), 1));
    ingest_inbound_list_free(&list);
}

Test(ingest_inbound, messenger_message_is_private_echo_and_read_ignored)
{
    ingest_inbound_list_t list = {0};
    ingest_error_t err;
    cr_assert(eq(int,
                 s_parse(ingest_inbound_parse_meta,
                         "inbound_meta/messenger_message_echo_read.json", "",
                         &list, &err),
                 0));
    cr_assert(eq(sz, list.n, 1));
    cr_assert(eq(sz, list.ignored, 2));
    const json_t *c = list.items[0].complaint;
    cr_assert(eq(str, list.items[0].key, "meta:m_AbCdEfGhIjKlMnOpQrStUv"));
    cr_assert(eq(str, (char *)s_str(c, "channel"), "facebook"));
    cr_assert(eq(str, (char *)s_str(c, "customer.id"), "6543210987654321"));
    cr_assert(
        eq(str, (char *)s_str(c, "received_at"), "2023-11-14T22:16:39.000Z"));
    cr_assert(eq(int, s_public(c), 0));
    ingest_inbound_list_free(&list);
}

Test(ingest_inbound, meta_reactions_edits_and_own_replies_ignored)
{
    ingest_inbound_list_t list = {0};
    ingest_error_t err;
    cr_assert(eq(int,
                 s_parse(ingest_inbound_parse_meta,
                         "inbound_meta/ignored_changes.json", "", &list, &err),
                 0));
    cr_assert(eq(sz, list.n, 0));
    cr_assert(eq(sz, list.ignored, 3));
    cr_assert(eq(int,
                 s_parse(ingest_inbound_parse_meta,
                         "inbound_meta/bad_object.json", "", &list, &err),
                 -1));
    cr_assert(eq(str, err.code, "invalid_value"));
    cr_assert(
        eq(str, err.message, "field \"object\": expected page or instagram"));
    ingest_inbound_list_free(&list);
}

Test(ingest_inbound, social_signature_and_tolerance)
{
    size_t len;
    char *body = s_read("inbound_social/x_post.json", &len);
    const char *ts = "1700000000";
    cr_assert(ingest_inbound_verify_social("x-secret", ts, SOCIAL_SIG, body,
                                           len, NOW, 300));
    cr_assert(ingest_inbound_verify_social("x-secret", ts, SOCIAL_SIG, body,
                                           len, NOW + 300, 300));
    cr_assert(ingest_inbound_verify_social("x-secret", ts, SOCIAL_SIG, body,
                                           len, NOW - 300, 300));
    /* Older or newer than the tolerance: a replay, or a wrong clock. */
    cr_assert(not(ingest_inbound_verify_social("x-secret", ts, SOCIAL_SIG, body,
                                               len, NOW + 301, 300)));
    cr_assert(not(ingest_inbound_verify_social("x-secret", ts, SOCIAL_SIG, body,
                                               len, NOW - 301, 300)));
    /* The timestamp is signed: another one does not match. */
    cr_assert(not(ingest_inbound_verify_social(
        "x-secret", "1700000001", SOCIAL_SIG, body, len, NOW, 300)));
    cr_assert(not(ingest_inbound_verify_social(
        "x-secret", "+1700000000", SOCIAL_SIG, body, len, NOW, 300)));
    cr_assert(not(ingest_inbound_verify_social("reviews-secret", ts, SOCIAL_SIG,
                                               body, len, NOW, 300)));
    free(body);
}

Test(ingest_inbound, social_through_the_framework)
{
    ingest_inbound_t *in = s_inbound();
    const ingest_inbound_adapter_t *a =
        ingest_inbound_match("/v1/inbound/social");
    size_t len;
    char *body = s_read("inbound_social/x_post.json", &len);
    ingest_inbound_list_t list = {0};
    ingest_error_t err;
    s_headers_t h = {{"X-Kujo-Source", "X-Kujo-Timestamp", "X-Kujo-Signature"},
                     {"x", "1700000000", SOCIAL_SIG}};
    cr_assert(
        eq(int,
           ingest_inbound_handle(in, a, s_get, &h, body, len, NOW, &list, &err),
           0));
    cr_assert(eq(sz, list.n, 1));
    const json_t *c = list.items[0].complaint;
    cr_assert(eq(str, list.items[0].key, "social:x:1790000000000000001"));
    cr_assert(eq(str, (char *)s_str(c, "channel"), "x"));
    cr_assert(eq(str, (char *)s_str(c, "customer.id"), "4455667788"));
    cr_assert(eq(str, (char *)s_str(c, "customer.name"), "@angry_customer"));
    cr_assert(eq(str, (char *)s_str(c, "received_at"), "2026-11-23T09:00:00Z"));
    cr_assert(eq(int, s_public(c), 1));
    /* The post it answers: its case takes this one. */
    const json_t *refs = json_object_get(c, "references");
    cr_assert(eq(sz, json_array_size(refs), 1));
    cr_assert(eq(str, (char *)json_string_value(json_array_get(refs, 0)),
                 "1789999999999999999"));
    /* Stale: 401, whatever the body. */
    cr_assert(eq(int,
                 ingest_inbound_handle(in, a, s_get, &h, body, len, NOW + 301,
                                       &list, &err),
                 -1));
    cr_assert(eq(str, err.code, "bad_signature"));
    /* A source nobody configured. */
    h.values[0] = "reddit";
    cr_assert(
        eq(int,
           ingest_inbound_handle(in, a, s_get, &h, body, len, NOW, &list, &err),
           -1));
    cr_assert(eq(str, err.code, "bad_signature"));
    ingest_inbound_list_free(&list);
    free(body);
    ingest_inbound_destroy(&in);
}

Test(ingest_inbound, social_other_platform_and_unknown_field)
{
    ingest_inbound_list_t list = {0};
    ingest_error_t err;
    cr_assert(eq(int,
                 s_parse(ingest_inbound_parse_social,
                         "inbound_social/review_private.json", "reviews", &list,
                         &err),
                 0));
    const json_t *c = list.items[0].complaint;
    cr_assert(eq(str, (char *)s_str(c, "channel"), "social"));
    cr_assert(eq(str, list.items[0].key, "social:reviews:r-99"));
    cr_assert(eq(int, s_public(c), 0));
    ingest_inbound_list_clear(&list);
    cr_assert(eq(int,
                 s_parse(ingest_inbound_parse_social,
                         "inbound_social/unknown_field.json", "x", &list, &err),
                 -1));
    cr_assert(eq(str, err.code, "unknown_field"));
    cr_assert(eq(str, err.message, "unknown field \"extra\""));
    const char *no_author = "{\"platform\":\"x\",\"post_id\":\"1\","
                            "\"text\":\"t\"}";
    cr_assert(eq(int,
                 ingest_inbound_parse_social(no_author, strlen(no_author), "x",
                                             &list, &err),
                 -1));
    cr_assert(eq(str, err.message, "field \"author\" is required"));
    ingest_inbound_list_free(&list);
}

Test(ingest_inbound, bad_bodies_get_the_stable_codes)
{
    ingest_inbound_t *in = s_inbound();
    const ingest_inbound_adapter_t *a =
        ingest_inbound_match("/v1/inbound/meta");
    ingest_inbound_list_t list = {0};
    ingest_error_t err;
    static const struct {
        const char *body;
        const char *code;
        unsigned status;
    } cases[] = {
        {"{\"object\":", "invalid_json", 400},
        {"{\"object\":\"page\xff\"}", "invalid_utf8", 400},
        {"[]", "wrong_type", 400},
        {"{\"entry\":[]}", "missing_field", 400},
        /* Valid Meta, but no complaint POST /v1/complaints would take. */
        {"{\"object\":\"page\",\"entry\":[{\"messaging\":[{\"sender\":{\"id\":"
         "\"1\"},\"message\":{\"mid\":\"m1\",\"text\":\"  \"}}]}]}",
         "empty_text", 400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *b = cases[i].body;
        char hex[65], sig[80];
        kj_hmac_sha256_hex("meta-app-secret", 15, b, strlen(b), hex);
        snprintf(sig, sizeof sig, "sha256=%s", hex);
        s_headers_t h = {{"X-Hub-Signature-256"}, {sig}};
        cr_assert(eq(int,
                     ingest_inbound_handle(in, a, s_get, &h, b, strlen(b), NOW,
                                           &list, &err),
                     -1),
                  "case %zu", i);
        cr_assert(eq(str, err.code, (char *)cases[i].code), "case %zu", i);
        cr_assert(eq(u32, err.status, cases[i].status));
        cr_assert(eq(sz, list.n, 0));
    }
    cr_assert(eq(str, err.message,
                 "complaint 1 of the delivery: field \"text\" is empty or "
                 "only white space"));
    ingest_inbound_list_free(&list);
    ingest_inbound_destroy(&in);
}

Test(ingest_inbound, routes_and_unconfigured_adapters)
{
    cr_assert(ne(ptr, (void *)ingest_inbound_match("/v1/inbound/meta"), NULL));
    cr_assert(eq(ptr, (void *)ingest_inbound_match("/v1/inbound/lines"), NULL));
    cr_assert(eq(ptr, (void *)ingest_inbound_match("/v1/inbound/"), NULL));
    cr_assert(
        eq(ptr, (void *)ingest_inbound_match("/v1/inbound/line/x"), NULL));
    ingest_inbound_opts_t o = {.meta_secret = "s"};
    char msg[128];
    ingest_inbound_t *in = ingest_inbound_new(&o, NULL, msg, sizeof msg);
    cr_assert(not(
        ingest_inbound_enabled(in, ingest_inbound_match("/v1/inbound/line"))));
    cr_assert(not(ingest_inbound_enabled(
        in, ingest_inbound_match("/v1/inbound/social"))));
    cr_assert(
        ingest_inbound_enabled(in, ingest_inbound_match("/v1/inbound/meta")));
    cr_assert(not(ingest_inbound_enabled(in, NULL)));
    cr_assert(eq(str, (char *)ingest_inbound_tenant(in), "default"));
    ingest_inbound_destroy(&in);
}

Test(ingest_inbound, meta_handshake)
{
    ingest_inbound_t *in = s_inbound();
    const ingest_inbound_adapter_t *a =
        ingest_inbound_match("/v1/inbound/meta");
    cr_assert(ingest_inbound_has_get(a));
    cr_assert(
        not(ingest_inbound_has_get(ingest_inbound_match("/v1/inbound/line"))));
    const char *answer = NULL;
    ingest_error_t err;
    s_headers_t q = {{"hub.mode", "hub.verify_token", "hub.challenge"},
                     {"subscribe", "verify-me", "1158201444"}};
    cr_assert(
        eq(u32, ingest_inbound_get(in, a, s_get, &q, &answer, &err), 200));
    cr_assert(eq(str, (char *)answer, "1158201444"));
    q.values[1] = "verify-mE";
    cr_assert(
        eq(u32, ingest_inbound_get(in, a, s_get, &q, &answer, &err), 403));
    cr_assert(eq(str, err.code, "forbidden"));
    q.values[1] = "verify-me";
    q.values[0] = "unsubscribe";
    cr_assert(
        eq(u32, ingest_inbound_get(in, a, s_get, &q, &answer, &err), 403));
    ingest_inbound_destroy(&in);
}

Test(ingest_inbound, social_secrets_syntax)
{
    char msg[200];
    cr_assert(
        eq(int, ingest_inbound_check_secrets("x=s1", msg, sizeof msg), 0));
    cr_assert(eq(
        int, ingest_inbound_check_secrets("x=s1,reviews=s=2", msg, sizeof msg),
        0)); /* '=' may be in a secret; ',' may not */
    static const char *const bad[] = {
        "", "x", "=s", "x=", "X=s", "x=s,", "x=s,x=t", "a b=s",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert(
            eq(int, ingest_inbound_check_secrets(bad[i], msg, sizeof msg), -1),
            "\"%s\"", bad[i]);
    cr_assert(eq(str, msg,
                 "entry 1: expected <source>=<secret>, source 1..32 "
                 "of [a-z0-9_-], secret 1..256 bytes without ','"));
}

Test(ingest_inbound, answer_lists_every_id)
{
    ingest_inbound_list_t list = {0};
    ingest_error_t err;
    json_t *c = json_object();
    cr_assert(
        eq(int, ingest_inbound_list_add(&list, &c, "line", "e1", &err), 0));
    cr_assert(eq(ptr, c, NULL));
    c = json_object();
    cr_assert(
        eq(int, ingest_inbound_list_add(&list, &c, "line", "e2", &err), 0));
    list.items[0].result = 1;
    strcpy(list.items[0].id, "0193a0b1c2d3e4f5a6b7");
    list.items[1].result = 0;
    strcpy(list.items[1].id, "0193a0b1c2d3e4f5a6b8");
    list.ignored = 3;
    char *s = ingest_inbound_answer(&list);
    cr_assert(eq(str, s,
                 "{\"recorded\":1,\"duplicates\":1,\"ignored\":3,\"ids\":"
                 "[\"0193a0b1c2d3e4f5a6b7\",\"0193a0b1c2d3e4f5a6b8\"]}"));
    free(s);
    /* An event id no idempotency key can hold. */
    c = json_object();
    cr_assert(
        eq(int, ingest_inbound_list_add(&list, &c, "line", "a\nb", &err), -1));
    cr_assert(eq(str, err.code, "invalid_value"));
    ingest_inbound_list_free(&list);
}
