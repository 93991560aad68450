/* libFuzzer target: kujo-ingest's validator over arbitrary request bodies
 * and header values. Whatever the bytes, validation returns 0 or -1; a
 * refusal is a 4xx with a stable code and a printable message; an
 * acceptance yields a complaint within every limit that encodes as an
 * envelope and renders as a record. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_record.h"
#include "ingest_validate.h"
#include "kj_envelope.h"
#include "kj_util.h"

static kj_codec_t *g_codec;
static kj_envelope_t g_env;
static kj_complaint_t g_c;

static void
s_check_error(const ingest_error_t *err)
{
    if (err->status != 400 && err->status != 413 && err->status != 415)
        abort(); /* bad input is never a 5xx */
    if (err->code[0] == '\0' || err->message[0] == '\0')
        abort();
    for (const char *p = err->message; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            abort();
}

/* A field filled from input must be terminated inside its array. */
#define S_BOUNDED(field)                                                       \
    do {                                                                       \
        if (memchr((field), '\0', sizeof(field)) == NULL)                      \
            abort();                                                           \
    } while (0)

static void
s_check_complaint(const kj_complaint_t *c)
{
    S_BOUNDED(c->tenant);
    S_BOUNDED(c->channel);
    S_BOUNDED(c->customer.id);
    S_BOUNDED(c->customer.tier);
    S_BOUNDED(c->customer.name);
    S_BOUNDED(c->customer.email);
    S_BOUNDED(c->text);
    S_BOUNDED(c->subject);
    S_BOUNDED(c->lang_hint);
    S_BOUNDED(c->external_id);
    size_t tlen = strlen(c->text);
    if (tlen == 0 || tlen > KJ_TEXT_MAX || !kj_utf8_valid(c->text, tlen))
        abort();
    if (ingest_only_space(c->text, tlen))
        abort();
    if (!ingest_channel_known(c->channel, strlen(c->channel)))
        abort();
    if (c->customer.id[0] == '\0' || c->tenant[0] == '\0')
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_codec)
        g_codec = kj_codec_new();
    ingest_error_t err;
    if (ingest_validate_complaint((const char *)data, size, &g_c, &err) == 0) {
        s_check_complaint(&g_c);
        /* What validation accepts must fit the wire and render. */
        memset(&g_env, 0, sizeof g_env);
        g_env.complaint = g_c;
        kj_strlcpy(g_env.complaint.id, "0193a0b1c2d3e4f5a6b7",
                   sizeof g_env.complaint.id);
        g_env.attempt = 1;
        kj_envelope_stamp(&g_env, "ingest", 1, 2);
        const uint8_t *out;
        if (kj_envelope_encode(g_codec, &g_env, &out) < 0)
            abort();
        kj_store_record_t rec;
        memset(&rec, 0, sizeof rec);
        kj_strlcpy(rec.state, "received", sizeof rec.state);
        char *json = ingest_record_json(&rec, &g_env);
        if (!json)
            abort();
        free(json);
    } else {
        s_check_error(&err);
    }

    /* The same bytes as header values and as a time. */
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    if (ingest_validate_idem_key(s, &err) < 0)
        s_check_error(&err);
    else if (strlen(s) == 0 || strlen(s) > INGEST_IDEM_KEY_MAX)
        abort();
    if (ingest_validate_content_type(s, &err) < 0)
        s_check_error(&err);
    int64_t ms;
    (void)ingest_parse_time(s, size, &ms);
    free(s);
    return 0;
}
