/* ingest_validate: the POST /v1/complaints body and headers, checked field
 * by field so that every refusal names the field and what was wrong. */
#include "ingest_validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <utf8proc.h>

#include "kj_assert.h"
#include "kj_channels.h"
#include "kj_time.h"
#include "kj_util.h"

/* Top-level fields the body may carry. Anything else is unknown_field, so
 * that a typo ("custmer") is caught instead of silently dropped. */
static const char *const s_fields[] = {
    "channel",     "customer", "text",       "subject",
    "public",      "lang",     "tenant",     "external_id",
    "received_at", "noise",    "references", "attachments",
};

static const char *const s_noise[] = {"auto_reply", "bulk", "bounce"};
static const char *const s_attachment_fields[] = {"name", "type", "size"};

static const char *const s_customer_fields[] = {"id", "tier", "name", "email"};

#define S_LANG_MAX 15
#define S_TENANT_MAX 63
#define S_FIELD_ECHO_MAX 64 /* bytes of a client's field name in a message */

void
ingest_error_set(ingest_error_t *err, kj_rc_t rc, const char *fmt, ...)
{
    err->rc = rc;
    err->status = kj_rc_http_status(rc);
    kj_assert(err->status >= 400); /* only HTTP-facing codes come here */
    kj_strlcpy(err->code, kj_rc_name(rc), sizeof err->code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    /* Messages can quote a client's field name or jansson's view of the
     * input; keeping them printable ASCII means every error body is valid
     * JSON and safe in any terminal, whatever the client sent. */
    for (char *p = err->message; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c > 0x7e)
            *p = '?';
    }
}

/* JSON type names as a client would say them. */
static const char *
s_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

/* Copy a client's field name into buf for a message, shortened. */
static const char *
s_echo(char *buf, size_t size, const char *name)
{
    size_t n = strlen(name);
    if (n > S_FIELD_ECHO_MAX)
        snprintf(buf, size, "%.*s...", S_FIELD_ECHO_MAX, name);
    else
        snprintf(buf, size, "%s", name);
    return buf;
}

static int
s_wrong_type(ingest_error_t *err, const char *field, const char *want,
             const json_t *got)
{
    ingest_error_set(err, KJ_ERR_WRONG_TYPE,
                     "field \"%s\": expected %s, got %s", field, want,
                     s_type_name(got));
    return -1;
}

static bool
s_in_list(const char *s, size_t len, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && memcmp(list[i], s, len) == 0)
            return true;
    return false;
}

bool
ingest_channel_known(const char *channel, size_t len)
{
    return kj_channel_valid(channel, len);
}

/* An optional string field of at most max bytes, copied into dst (which
 * holds at least max + 1). A missing field leaves dst alone. */
static int
s_opt_string(const json_t *obj, const char *key, const char *field, size_t max,
             char *dst, ingest_error_t *err)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_string(v))
        return s_wrong_type(err, field, "a string", v);
    size_t len = json_string_length(v);
    if (len > max) {
        ingest_error_set(err, KJ_ERR_FIELD_TOO_LONG,
                         "field \"%s\": %zu bytes, at most %zu allowed", field,
                         len, max);
        return -1;
    }
    memcpy(dst, json_string_value(v), len);
    dst[len] = '\0';
    return 0;
}

/* The first key of obj that is not in the allowed list, or NULL. */
static const char *
s_unknown_key(json_t *obj, const char *const *allowed, size_t n)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        (void)v;
        if (!s_in_list(key, strlen(key), allowed, n))
            return key;
    }
    return NULL;
}

static int
s_customer(json_t *root, kj_customer_t *c, ingest_error_t *err)
{
    json_t *cust = json_object_get(root, "customer");
    char echo[S_FIELD_ECHO_MAX + 8];
    if (!cust) {
        ingest_error_set(err, KJ_ERR_MISSING_FIELD,
                         "field \"customer\" is required");
        return -1;
    }
    if (!json_is_object(cust))
        return s_wrong_type(err, "customer", "an object", cust);
    const char *bad =
        s_unknown_key(cust, s_customer_fields, KJ_ARRAY_LEN(s_customer_fields));
    if (bad) {
        ingest_error_set(err, KJ_ERR_UNKNOWN_FIELD,
                         "unknown field \"customer.%s\"",
                         s_echo(echo, sizeof echo, bad));
        return -1;
    }
    const json_t *id = json_object_get(cust, "id");
    if (!id) {
        ingest_error_set(err, KJ_ERR_MISSING_FIELD,
                         "field \"customer.id\" is required");
        return -1;
    }
    if (s_opt_string(cust, "id", "customer.id", sizeof c->id - 1, c->id, err) <
        0)
        return -1;
    if (c->id[0] == '\0') {
        ingest_error_set(err, KJ_ERR_MISSING_FIELD,
                         "field \"customer.id\" must not be empty");
        return -1;
    }
    if (s_opt_string(cust, "tier", "customer.tier", sizeof c->tier - 1, c->tier,
                     err) < 0 ||
        s_opt_string(cust, "name", "customer.name", sizeof c->name - 1, c->name,
                     err) < 0 ||
        s_opt_string(cust, "email", "customer.email", sizeof c->email - 1,
                     c->email, err) < 0)
        return -1;
    return 0;
}

static int
s_text(json_t *root, kj_complaint_t *out, ingest_error_t *err)
{
    const json_t *v = json_object_get(root, "text");
    if (!v) {
        ingest_error_set(err, KJ_ERR_MISSING_FIELD,
                         "field \"text\" is required");
        return -1;
    }
    if (!json_is_string(v))
        return s_wrong_type(err, "text", "a string", v);
    size_t len = json_string_length(v);
    if (len > KJ_TEXT_MAX) {
        ingest_error_set(err, KJ_ERR_TEXT_TOO_LONG,
                         "field \"text\": %zu bytes, at most %d allowed", len,
                         KJ_TEXT_MAX);
        return -1;
    }
    const char *s = json_string_value(v);
    if (ingest_only_space(s, len)) {
        ingest_error_set(err, KJ_ERR_EMPTY_TEXT,
                         "field \"text\" is empty or only white space");
        return -1;
    }
    memcpy(out->text, s, len);
    out->text[len] = '\0';
    return 0;
}

static int
s_channel(json_t *root, kj_complaint_t *out, ingest_error_t *err)
{
    const json_t *v = json_object_get(root, "channel");
    if (!v) {
        ingest_error_set(err, KJ_ERR_MISSING_FIELD,
                         "field \"channel\" is required");
        return -1;
    }
    if (!json_is_string(v))
        return s_wrong_type(err, "channel", "a string", v);
    size_t len = json_string_length(v);
    if (!ingest_channel_known(json_string_value(v), len)) {
        ingest_error_set(err, KJ_ERR_UNKNOWN_CHANNEL,
                         "field \"channel\": not one of email, chat, web, "
                         "form, survey, x, facebook, instagram, phone, sms, "
                         "app_review, line, social");
        return -1;
    }
    memcpy(out->channel, json_string_value(v), len);
    out->channel[len] = '\0';
    return 0;
}

/* "noise": the sender's own label for a message no customer wrote. */
static int
s_noise_label(json_t *root, kj_complaint_t *out, ingest_error_t *err)
{
    const json_t *v = json_object_get(root, "noise");
    if (!v)
        return 0;
    if (!json_is_string(v))
        return s_wrong_type(err, "noise", "a string", v);
    if (!s_in_list(json_string_value(v), json_string_length(v), s_noise,
                   KJ_ARRAY_LEN(s_noise))) {
        ingest_error_set(err, KJ_ERR_INVALID_VALUE,
                         "field \"noise\": not one of auto_reply, bulk, "
                         "bounce");
        return -1;
    }
    kj_strlcpy(out->noise, json_string_value(v), sizeof out->noise);
    return 0;
}

/* "references": the ids of the messages this one answers, newest first;
 * each non-empty, printable, at most KJ_REF_MAX - 1 bytes. */
static int
s_references(json_t *root, kj_complaint_t *out, ingest_error_t *err)
{
    const json_t *v = json_object_get(root, "references");
    if (!v)
        return 0;
    if (!json_is_array(v))
        return s_wrong_type(err, "references", "an array of strings", v);
    if (json_array_size(v) > KJ_MAX_REFS) {
        ingest_error_set(err, KJ_ERR_INVALID_VALUE,
                         "field \"references\": %zu entries, at most %d",
                         json_array_size(v), KJ_MAX_REFS);
        return -1;
    }
    size_t i;
    const json_t *r;
    json_array_foreach(v, i, r)
    {
        if (!json_is_string(r))
            return s_wrong_type(err, "references[]", "a string", r);
        const char *s = json_string_value(r);
        size_t len = json_string_length(r);
        if (len == 0 || len >= KJ_REF_MAX) {
            ingest_error_set(err, KJ_ERR_INVALID_VALUE,
                             "field \"references[%zu]\": 1..%d bytes", i,
                             KJ_REF_MAX - 1);
            return -1;
        }
        for (size_t k = 0; k < len; k++)
            if ((unsigned char)s[k] < 0x20 || s[k] == 0x7f) {
                ingest_error_set(err, KJ_ERR_INVALID_VALUE,
                                 "field \"references[%zu]\": control "
                                 "character",
                                 i);
                return -1;
            }
        memcpy(out->references[i], s, len + 1);
    }
    out->n_references = json_array_size(v);
    return 0;
}

/* "attachments": [{name, type, size}], described only. */
static int
s_attachments(json_t *root, kj_complaint_t *out, ingest_error_t *err)
{
    const json_t *v = json_object_get(root, "attachments");
    if (!v)
        return 0;
    if (!json_is_array(v))
        return s_wrong_type(err, "attachments", "an array of objects", v);
    if (json_array_size(v) > KJ_MAX_ATTACHMENTS) {
        ingest_error_set(err, KJ_ERR_INVALID_VALUE,
                         "field \"attachments\": %zu entries, at most %d",
                         json_array_size(v), KJ_MAX_ATTACHMENTS);
        return -1;
    }
    size_t i;
    json_t *a;
    char echo[S_FIELD_ECHO_MAX + 8];
    json_array_foreach(v, i, a)
    {
        if (!json_is_object(a))
            return s_wrong_type(err, "attachments[]", "an object", a);
        const char *bad = s_unknown_key(a, s_attachment_fields,
                                        KJ_ARRAY_LEN(s_attachment_fields));
        if (bad) {
            ingest_error_set(err, KJ_ERR_UNKNOWN_FIELD,
                             "unknown field \"attachments[].%s\"",
                             s_echo(echo, sizeof echo, bad));
            return -1;
        }
        kj_attachment_t *d = &out->attachments[i];
        if (s_opt_string(a, "name", "attachments[].name", sizeof d->name - 1,
                         d->name, err) < 0 ||
            s_opt_string(a, "type", "attachments[].type",
                         sizeof d->content_type - 1, d->content_type, err) < 0)
            return -1;
        const json_t *size = json_object_get(a, "size");
        if (size && (!json_is_integer(size) || json_integer_value(size) < 0))
            return s_wrong_type(err, "attachments[].size",
                                "a non-negative integer", size);
        d->size = size ? (uint64_t)json_integer_value(size) : 0;
    }
    out->n_attachments = json_array_size(v);
    return 0;
}

/* key_tenant: the tenant of the caller's API key, or NULL in open mode
 * (the body says, "default" when it does not). With a key the body may
 * only repeat the key's tenant. */
static int
s_tenant(json_t *root, const char *key_tenant, kj_complaint_t *out,
         ingest_error_t *err)
{
    const json_t *v = json_object_get(root, "tenant");
    if (!v) {
        kj_strlcpy(out->tenant, key_tenant ? key_tenant : "default",
                   sizeof out->tenant);
        return 0;
    }
    if (s_opt_string(root, "tenant", "tenant", S_TENANT_MAX, out->tenant, err) <
        0)
        return -1;
    /* Tenants appear in Redis keys and idempotency scopes ("t:key"), so
     * they are kept to a character set that cannot collide with the ':'
     * separator or need escaping anywhere. */
    bool ok = out->tenant[0] != '\0';
    for (const char *p = out->tenant; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            ok = false;
    if (!ok) {
        ingest_error_set(err, KJ_ERR_WRONG_TYPE,
                         "field \"tenant\": expected 1..%d characters of "
                         "[a-z0-9_-]",
                         S_TENANT_MAX);
        return -1;
    }
    if (key_tenant && strcmp(out->tenant, key_tenant) != 0) {
        ingest_error_set(err, KJ_ERR_FORBIDDEN,
                         "field \"tenant\": not the tenant of this API key "
                         "(leave it out: the key says which)");
        return -1;
    }
    return 0;
}

int
ingest_validate_complaint(const char *body, size_t len, kj_complaint_t *out,
                          ingest_error_t *err)
{
    return ingest_validate_complaint_as(body, len, NULL, out, err);
}

int
ingest_validate_complaint_as(const char *body, size_t len,
                             const char *key_tenant, kj_complaint_t *out,
                             ingest_error_t *err)
{
    int rc = -1;
    json_t *root = NULL;
    char echo[S_FIELD_ECHO_MAX + 8];

    memset(out, 0, sizeof *out);
    /* jansson refuses bad UTF-8 too, but as a syntax error; checking the
     * raw bytes first gives the client the precise code. */
    if (!kj_utf8_valid(body, len)) {
        ingest_error_set(err, KJ_ERR_INVALID_UTF8,
                         "the body is not valid UTF-8");
        goto out;
    }
    json_error_t jerr;
    root =
        json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        if (json_error_code(&jerr) == json_error_null_character)
            ingest_error_set(err, KJ_ERR_INVALID_JSON,
                             "invalid JSON at line %d, column %d: \\u0000 "
                             "is not allowed in strings",
                             jerr.line, jerr.column);
        else
            ingest_error_set(err, KJ_ERR_INVALID_JSON,
                             "invalid JSON at line %d, column %d: %s",
                             jerr.line, jerr.column, jerr.text);
        goto out;
    }
    if (!json_is_object(root)) {
        ingest_error_set(err, KJ_ERR_WRONG_TYPE,
                         "the body: expected an object, got %s",
                         s_type_name(root));
        goto out;
    }
    const char *bad = s_unknown_key(root, s_fields, KJ_ARRAY_LEN(s_fields));
    if (bad) {
        ingest_error_set(err, KJ_ERR_UNKNOWN_FIELD, "unknown field \"%s\"",
                         s_echo(echo, sizeof echo, bad));
        goto out;
    }
    if (s_channel(root, out, err) < 0 ||
        s_customer(root, &out->customer, err) < 0 || s_text(root, out, err) < 0)
        goto out;
    if (s_opt_string(root, "subject", "subject", KJ_SUBJECT_MAX, out->subject,
                     err) < 0 ||
        s_opt_string(root, "lang", "lang", S_LANG_MAX, out->lang_hint, err) <
            0 ||
        s_opt_string(root, "external_id", "external_id",
                     sizeof out->external_id - 1, out->external_id, err) < 0 ||
        s_tenant(root, key_tenant, out, err) < 0 ||
        s_noise_label(root, out, err) < 0 || s_references(root, out, err) < 0 ||
        s_attachments(root, out, err) < 0)
        goto out;
    const json_t *pub = json_object_get(root, "public");
    if (pub) {
        if (!json_is_boolean(pub)) {
            s_wrong_type(err, "public", "a boolean", pub);
            goto out;
        }
        out->is_public = json_is_true(pub);
    }
    const json_t *at = json_object_get(root, "received_at");
    if (at) {
        if (!json_is_string(at)) {
            s_wrong_type(err, "received_at", "a string", at);
            goto out;
        }
        if (ingest_parse_time(json_string_value(at), json_string_length(at),
                              &out->received_at_ms) < 0) {
            ingest_error_set(err, KJ_ERR_INVALID_TIME,
                             "field \"received_at\": expected an RFC 3339 "
                             "time like 2026-11-23T09:00:00.000Z");
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int
ingest_validate_idem_key(const char *key, ingest_error_t *err)
{
    size_t len = 0;
    for (; key[len]; len++) {
        unsigned char c = (unsigned char)key[len];
        if (c < 0x20 || c > 0x7e || len >= INGEST_IDEM_KEY_MAX) {
            len = 0; /* reported below as out of range */
            break;
        }
    }
    if (len == 0) {
        ingest_error_set(err, KJ_ERR_INVALID_IDEM_KEY,
                         "header Idempotency-Key: expected 1..%d printable "
                         "ASCII characters",
                         INGEST_IDEM_KEY_MAX);
        return -1;
    }
    return 0;
}

/* Skip optional white space (RFC 9110 OWS). */
static const char *
s_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

bool
ingest_media_type_is(const char *type, const char *want)
{
    size_t n = strlen(want);
    const char *p = type ? s_ows(type) : NULL;
    if (!p || strncasecmp(p, want, n) != 0)
        return false;
    p = s_ows(p + n);
    /* Parameters: only charset, and only UTF-8, which JSON requires
     * anyway (RFC 8259); anything else would be decoded wrongly. */
    while (*p == ';') {
        p = s_ows(p + 1);
        if (strncasecmp(p, "charset=", 8) != 0)
            return false;
        p += 8;
        bool quoted = *p == '"';
        p += quoted;
        if (strncasecmp(p, "utf-8", 5) != 0)
            return false;
        p += 5;
        if (quoted && *p++ != '"')
            return false;
        p = s_ows(p);
    }
    return *p == '\0';
}

int
ingest_validate_content_type(const char *type, ingest_error_t *err)
{
    if (ingest_media_type_is(type, "application/json"))
        return 0;
    ingest_error_set(err, KJ_ERR_UNSUPPORTED_MEDIA_TYPE,
                     "Content-Type must be application/json "
                     "(optionally with charset=utf-8)");
    return -1;
}

bool
ingest_only_space(const char *s, size_t len)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    utf8proc_ssize_t left = (utf8proc_ssize_t)len;
    while (left > 0) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
        if (n <= 0)
            return false; /* not UTF-8: not white space either */
        p += n;
        left -= n;
        /* Besides Unicode's separators (which include U+3000, the
         * ideographic space of Japanese input methods), the ASCII and C1
         * controls that act as space, and the invisible characters that
         * a copy-paste leaves behind. */
        utf8proc_category_t cat = utf8proc_category(cp);
        if (cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
            cat == UTF8PROC_CATEGORY_ZP)
            continue;
        if ((cp >= 0x09 && cp <= 0x0d) || cp == 0x85 || cp == 0x200b ||
            cp == 0x200c || cp == 0x200d || cp == 0x2060 || cp == 0xfeff)
            continue;
        return false;
    }
    return true;
}

int
ingest_parse_time(const char *s, size_t len, int64_t *ms)
{
    return kj_time_parse_rfc3339(s, len, ms);
}
