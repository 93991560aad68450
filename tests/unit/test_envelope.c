/* kj_envelope: the codec and the helpers on the plain structs. Malformed
 * input is built byte by byte, because the plain structs cannot hold what
 * the decoder must reject. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_envelope.h"

#define ID "0193a5b6c7d8a1b2c3d4"

/* ---- a tiny protobuf writer for hand-made wire bytes ----------------- */

typedef struct {
    uint8_t *buf;
    size_t len, cap;
} wbuf_t;

static void
w_byte(wbuf_t *w, uint8_t b)
{
    if (w->len == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 256;
        w->buf = realloc(w->buf, w->cap);
        cr_assert(ne(ptr, w->buf, NULL));
    }
    w->buf[w->len++] = b;
}

static void
w_varint(wbuf_t *w, uint64_t v)
{
    while (v >= 0x80) {
        w_byte(w, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    w_byte(w, (uint8_t)v);
}

/* A length-delimited field (strings and sub-messages). */
static void
w_bytes(wbuf_t *w, unsigned field, const void *data, size_t len)
{
    w_varint(w, (uint64_t)field << 3 | 2);
    w_varint(w, len);
    for (size_t i = 0; i < len; i++)
        w_byte(w, ((const uint8_t *)data)[i]);
}

static void
w_str(wbuf_t *w, unsigned field, const char *s)
{
    w_bytes(w, field, s, strlen(s));
}

/* An Envelope whose complaint holds id and, optionally, extra fields
 * already encoded in extra. */
static wbuf_t
w_envelope(const char *id, const wbuf_t *complaint_extra)
{
    wbuf_t c = {0}, e = {0};
    w_str(&c, 1, id);
    if (complaint_extra)
        for (size_t i = 0; i < complaint_extra->len; i++)
            w_byte(&c, complaint_extra->buf[i]);
    w_str(&e, 1, "trace");
    w_bytes(&e, 3, c.buf, c.len);
    free(c.buf);
    return e;
}

static void
fill(kj_envelope_t *env)
{
    memset(env, 0, sizeof *env);
    strcpy(env->trace_id, "0123456789abcdef0123456789abcdef");
    env->attempt = 2;
    kj_complaint_t *c = &env->complaint;
    strcpy(c->id, ID);
    strcpy(c->tenant, "default");
    strcpy(c->channel, "x");
    strcpy(c->customer.id, "c-17");
    strcpy(c->customer.tier, "gold");
    strcpy(c->customer.name, "Hanako");
    strcpy(c->customer.email, "h@example.jp");
    strcpy(c->text, "アプリが起動しません。至急対応してください");
    strcpy(c->subject, "down");
    c->is_public = true;
    strcpy(c->lang_hint, "ja");
    strcpy(c->external_id, "tweet-1");
    c->received_at_ms = 1000;
    c->accepted_at_ms = 2000;
    strcpy(c->noise, "auto_reply");
    for (size_t i = 0; i < KJ_MAX_REFS; i++)
        snprintf(c->references[i], sizeof c->references[i], "m%zu@x.jp", i);
    c->n_references = KJ_MAX_REFS;
    for (size_t i = 0; i < KJ_MAX_ATTACHMENTS; i++) {
        snprintf(c->attachments[i].name, sizeof c->attachments[i].name,
                 "請求書%zu.pdf", i);
        strcpy(c->attachments[i].content_type, "application/pdf");
        c->attachments[i].size = 1000 + i;
    }
    c->n_attachments = KJ_MAX_ATTACHMENTS;
}

/* Usage: encode into the codec's buffer, decode into a struct. */
Test(envelope, usage_round_trip)
{
    kj_codec_t *codec = kj_codec_new();
    kj_envelope_t in, out;
    fill(&in);
    const uint8_t *wire = NULL;
    int len = kj_envelope_encode(codec, &in, &wire);
    cr_assert(gt(int, len, 0));
    cr_assert(eq(int, kj_envelope_decode(codec, wire, (size_t)len, &out), 0),
              "%s", kj_codec_error(codec));
    cr_assert(eq(str, out.complaint.id, ID));
    cr_assert(eq(str, out.complaint.text, in.complaint.text));
    cr_assert(eq(str, out.complaint.customer.tier, "gold"));
    cr_assert(eq(str, out.complaint.customer.email, "h@example.jp"));
    cr_assert(eq(str, out.trace_id, in.trace_id));
    cr_assert(eq(u32, out.attempt, 2));
    cr_assert(out.complaint.is_public);
    cr_assert(eq(i64, out.complaint.received_at_ms, 1000));
    cr_assert(eq(i64, out.complaint.accepted_at_ms, 2000));
    cr_assert(not(out.has_triage));
    cr_assert(not(out.has_assignment));
    kj_codec_destroy(&codec);
    cr_assert(eq(ptr, codec, NULL));
    kj_codec_destroy(&codec); /* safe twice */
}

Test(envelope, full_round_trip)
{
    kj_codec_t *codec = kj_codec_new();
    kj_envelope_t in, out;
    fill(&in);
    in.has_triage = true;
    kj_triage_t *t = &in.triage;
    strcpy(t->language, "ja");
    t->language_confidence = 0.98f;
    strcpy(t->sentiment, "negative");
    t->sentiment_score = -0.7f;
    strcpy(t->category, "outage");
    strcpy(t->urgency, "high");
    t->actionable = true;
    strcpy(t->masked_text, "[email] down");
    for (size_t i = 0; i < KJ_MAX_PII; i++) {
        strcpy(t->pii[i].kind, "email");
        t->pii[i].start = (uint32_t)i;
        t->pii[i].end = (uint32_t)i + 5;
    }
    t->n_pii = KJ_MAX_PII;
    strcpy(t->model, "rules-1");
    t->spam = true;
    t->spam_confidence = 0.93f;
    in.has_assignment = true;
    strcpy(in.assignment.team, "care-ja");
    strcpy(in.assignment.priority, "p2");
    in.assignment.due_at_ms = 99;
    in.assignment.take_private = true;
    strcpy(in.assignment.webhook_url, "http://127.0.0.1:9/hook");
    for (int i = 0; i < KJ_MAX_DELIVERIES; i++) {
        kj_delivery_t *d = &in.deliveries[i];
        snprintf(d->kind, sizeof d->kind, "kind%d", i);
        d->attempts = i;
        d->http_status = 200 + i;
        strcpy(d->idempotency_key, ID ":team_alert");
    }
    in.n_deliveries = KJ_MAX_DELIVERIES;
    kj_envelope_stamp(&in, "ingest", 1, 2);
    kj_envelope_stamp(&in, "classifier", 3, 4);

    const uint8_t *wire = NULL;
    int len = kj_envelope_encode(codec, &in, &wire);
    cr_assert(gt(int, len, 0));
    cr_assert(eq(int, kj_envelope_decode(codec, wire, (size_t)len, &out), 0),
              "%s", kj_codec_error(codec));
    cr_assert(out.has_triage);
    cr_assert(eq(str, out.triage.category, "outage"));
    cr_assert(eq(flt, out.triage.sentiment_score, -0.7f));
    cr_assert(eq(sz, out.triage.n_pii, KJ_MAX_PII));
    cr_assert(eq(u32, out.triage.pii[31].end, 36));
    cr_assert(out.triage.spam);
    cr_assert(eq(flt, out.triage.spam_confidence, 0.93f));
    cr_assert(out.has_assignment);
    cr_assert(eq(str, out.assignment.team, "care-ja"));
    cr_assert(eq(i64, out.assignment.due_at_ms, 99));
    cr_assert(out.assignment.take_private);
    cr_assert(eq(sz, out.n_deliveries, KJ_MAX_DELIVERIES));
    cr_assert(eq(str, out.deliveries[7].kind, "kind7"));
    cr_assert(eq(i32, out.deliveries[7].http_status, 207));
    cr_assert(eq(sz, out.n_stages, 2));
    cr_assert(eq(str, out.stages[1].stage, "classifier"));
    cr_assert(eq(i64, out.stages[1].out_ms, 4));
    cr_assert(eq(str, out.complaint.noise, "auto_reply"));
    cr_assert(eq(sz, out.complaint.n_references, KJ_MAX_REFS));
    cr_assert(eq(str, out.complaint.references[7], "m7@x.jp"));
    cr_assert(eq(sz, out.complaint.n_attachments, KJ_MAX_ATTACHMENTS));
    cr_assert(eq(str, out.complaint.attachments[2].name, "請求書2.pdf"));
    cr_assert(eq(u64, out.complaint.attachments[7].size, 1007));
    cr_assert(eq(str, (char *)kj_envelope_quarantine(&out), "noise"));
    out.complaint.noise[0] = '\0';
    cr_assert(out.triage.spam);
    cr_assert(eq(str, (char *)kj_envelope_quarantine(&out), "spam"));
    out.triage.spam = false;
    cr_assert(eq(ptr, (void *)kj_envelope_quarantine(&out), NULL));
    out.triage.spam = true;
    out.complaint.noise[0] = 'a';
    /* What went in comes out byte for byte when re-encoded. */
    uint8_t *copy = malloc((size_t)len);
    memcpy(copy, wire, (size_t)len);
    const uint8_t *again = NULL;
    cr_assert(eq(int, kj_envelope_encode(codec, &out, &again), len));
    cr_assert(eq(int, memcmp(copy, again, (size_t)len), 0));
    free(copy);
    kj_codec_destroy(&codec);
}

Test(envelope, rejects_oversize_input)
{
    kj_codec_t *codec = kj_codec_new();
    kj_envelope_t env;
    uint8_t *big = calloc(1, KJ_ENVELOPE_WIRE_MAX + 1);
    cr_assert(eq(int,
                 kj_envelope_decode(codec, big, KJ_ENVELOPE_WIRE_MAX + 1, &env),
                 -1));
    cr_assert(eq(str, (char *)kj_codec_error(codec),
                 "envelope: 65537 bytes > 65536"));
    free(big);
    kj_codec_destroy(&codec);
}

Test(envelope, rejects_garbage)
{
    kj_codec_t *codec = kj_codec_new();
    kj_envelope_t env;
    /* A length prefix running past the end. */
    static const uint8_t junk[] = {0x1a, 0xff, 0xff, 0x03, 0x00};
    cr_assert(eq(int, kj_envelope_decode(codec, junk, sizeof junk, &env), -1));
    cr_assert(eq(str, (char *)kj_codec_error(codec),
                 "envelope: not valid protobuf (5 bytes)"));
    kj_codec_destroy(&codec);
}

Test(envelope, rejects_missing_complaint_and_bad_id)
{
    kj_codec_t *codec = kj_codec_new();
    kj_envelope_t env;
    wbuf_t w = {0};
    w_str(&w, 1, "trace");
    cr_assert(eq(int, kj_envelope_decode(codec, w.buf, w.len, &env), -1));
    cr_assert(eq(str, (char *)kj_codec_error(codec), "complaint: missing"));
    free(w.buf);

    w = w_envelope("0193A5B6C7D8A1B2C3D4", NULL); /* upper case */
    cr_assert(eq(int, kj_envelope_decode(codec, w.buf, w.len, &env), -1));
    cr_assert(eq(str, (char *)kj_codec_error(codec),
                 "complaint.id: not a valid id (20 bytes)"));
    free(w.buf);

    /* Empty input is an envelope with nothing in it. */
    cr_assert(
        eq(int, kj_envelope_decode(codec, (const uint8_t *)"", 0, &env), -1));
    cr_assert(eq(str, (char *)kj_codec_error(codec), "complaint: missing"));
    kj_codec_destroy(&codec);
}

Test(envelope, rejects_fields_longer_than_their_limit)
{
    kj_codec_t *codec = kj_codec_new();
    kj_envelope_t env;
    char *text = malloc(9001);
    memset(text, 'a', 9000);
    text[9000] = '\0';
    wbuf_t extra = {0};
    w_str(&extra, 5, text);
    wbuf_t w = w_envelope(ID, &extra);
    cr_assert(eq(int, kj_envelope_decode(codec, w.buf, w.len, &env), -1));
    cr_assert(eq(str, (char *)kj_codec_error(codec),
                 "complaint.text: 9000 bytes > 8192"));
    /* Nothing half-decoded is left behind. */
    cr_assert(eq(str, env.complaint.id, ""));
    free(w.buf);
    free(extra.buf);

    /* Exactly at the limit is fine. */
    text[8192] = '\0';
    extra = (wbuf_t){0};
    w_str(&extra, 5, text);
    w = w_envelope(ID, &extra);
    cr_assert(eq(int, kj_envelope_decode(codec, w.buf, w.len, &env), 0), "%s",
              kj_codec_error(codec));
    cr_assert(eq(sz, strlen(env.complaint.text), 8192));
    free(w.buf);
    free(extra.buf);

    /* A nested field: the customer's tier (63 bytes max). */
    wbuf_t cust = {0};
    text[64] = '\0';
    w_str(&cust, 2, text);
    extra = (wbuf_t){0};
    w_bytes(&extra, 4, cust.buf, cust.len);
    w = w_envelope(ID, &extra);
    cr_assert(eq(int, kj_envelope_decode(codec, w.buf, w.len, &env), -1));
    cr_assert(eq(str, (char *)kj_codec_error(codec),
                 "complaint.customer.tier: 64 bytes > 63"));
    free(w.buf);
    free(extra.buf);
    free(cust.buf);
    free(text);
    kj_codec_destroy(&codec);
}

Test(envelope, rejects_invalid_utf8)
{
    kj_codec_t *codec = kj_codec_new();
    kj_envelope_t env;
    wbuf_t extra = {0};
    w_str(&extra, 6, "ok \xc3\x28 not"); /* subject */
    wbuf_t w = w_envelope(ID, &extra);
    cr_assert(eq(int, kj_envelope_decode(codec, w.buf, w.len, &env), -1));
    cr_assert(eq(str, (char *)kj_codec_error(codec),
                 "complaint.subject: invalid UTF-8"));
    free(w.buf);
    free(extra.buf);
    kj_codec_destroy(&codec);
}

Test(envelope, rejects_repeated_fields_over_their_cap)
{
    kj_codec_t *codec = kj_codec_new();
    kj_envelope_t env;
    wbuf_t w = w_envelope(ID, NULL);
    for (int i = 0; i < KJ_MAX_DELIVERIES + 1; i++)
        w_bytes(&w, 6, "", 0); /* an empty Delivery */
    cr_assert(eq(int, kj_envelope_decode(codec, w.buf, w.len, &env), -1));
    cr_assert(
        eq(str, (char *)kj_codec_error(codec), "deliveries: 9 entries > 8"));
    free(w.buf);

    wbuf_t tr = {0};
    for (int i = 0; i < KJ_MAX_PII + 1; i++)
        w_bytes(&tr, 13, "", 0);
    w = w_envelope(ID, NULL);
    w_bytes(&w, 4, tr.buf, tr.len);
    cr_assert(eq(int, kj_envelope_decode(codec, w.buf, w.len, &env), -1));
    cr_assert(
        eq(str, (char *)kj_codec_error(codec), "triage.pii: 33 entries > 32"));
    free(w.buf);
    free(tr.buf);
    kj_codec_destroy(&codec);
}

/* Tens of thousands of empty sub-messages fit in 64 KiB of wire but would
 * unpack into megabytes: the arena runs out and the decode fails cleanly,
 * and the next decode works again. */
Test(envelope, arena_exhaustion_fails_cleanly)
{
    kj_codec_t *codec = kj_codec_new();
    kj_envelope_t env;
    wbuf_t tr = {0};
    for (int i = 0; i < 30000; i++)
        w_bytes(&tr, 13, "", 0);
    wbuf_t w = w_envelope(ID, NULL);
    w_bytes(&w, 4, tr.buf, tr.len);
    cr_assert(le(sz, w.len, KJ_ENVELOPE_WIRE_MAX));
    cr_assert(eq(int, kj_envelope_decode(codec, w.buf, w.len, &env), -1));
    cr_assert(eq(str, (char *)kj_codec_error(codec),
                 "envelope: needs more than 524288 bytes to decode"));
    free(w.buf);
    free(tr.buf);

    w = w_envelope(ID, NULL);
    cr_assert(eq(int, kj_envelope_decode(codec, w.buf, w.len, &env), 0), "%s",
              kj_codec_error(codec));
    cr_assert(eq(str, env.complaint.id, ID));
    cr_assert(eq(str, env.trace_id, "trace"));
    free(w.buf);
    kj_codec_destroy(&codec);
}

Test(envelope, unknown_fields_are_skipped)
{
    /* A newer producer may add fields: a v1 reader must still decode. */
    kj_codec_t *codec = kj_codec_new();
    kj_envelope_t env;
    wbuf_t w = w_envelope(ID, NULL);
    w_str(&w, 99, "from the future");
    w_varint(&w, (uint64_t)100 << 3 | 0);
    w_varint(&w, 12345);
    cr_assert(eq(int, kj_envelope_decode(codec, w.buf, w.len, &env), 0), "%s",
              kj_codec_error(codec));
    cr_assert(eq(str, env.complaint.id, ID));
    free(w.buf);
    kj_codec_destroy(&codec);
}

Test(envelope, event_round_trip_and_from_envelope)
{
    kj_codec_t *codec = kj_codec_new();
    kj_envelope_t env;
    fill(&env);
    env.has_triage = true;
    strcpy(env.triage.language, "ja");
    strcpy(env.triage.category, "outage");
    strcpy(env.triage.sentiment, "negative");
    strcpy(env.triage.urgency, "high");
    env.has_assignment = true;
    strcpy(env.assignment.team, "care-ja");
    strcpy(env.assignment.priority, "p2");
    env.assignment.due_at_ms = 5000;

    kj_event_t ev, back;
    kj_event_from_envelope(&ev, &env, "routed", "router", 2500);
    cr_assert(eq(str, ev.complaint_id, ID));
    cr_assert(eq(str, ev.state, "routed"));
    cr_assert(eq(str, ev.stage, "router"));
    cr_assert(eq(i64, ev.at_ms, 2500));
    cr_assert(eq(i64, ev.e2e_ms, 500)); /* now - accepted_at_ms */
    cr_assert(eq(str, ev.team, "care-ja"));
    cr_assert(eq(str, ev.language, "ja"));
    cr_assert(eq(i64, ev.due_at_ms, 5000));
    strcpy(ev.reason, "why not");

    const uint8_t *wire = NULL;
    int len = kj_event_encode(codec, &ev, &wire);
    cr_assert(gt(int, len, 0));
    cr_assert(eq(int, kj_event_decode(codec, wire, (size_t)len, &back), 0),
              "%s", kj_codec_error(codec));
    cr_assert(eq(int, memcmp(&ev, &back, sizeof ev), 0));

    /* Without triage or assignment those fields stay empty. */
    env.has_triage = false;
    env.has_assignment = false;
    kj_event_from_envelope(&ev, &env, "received", "ingest", 2000);
    cr_assert(eq(str, ev.category, ""));
    cr_assert(eq(str, ev.team, ""));
    cr_assert(eq(i64, ev.e2e_ms, 0));

    /* An event must name a complaint. */
    static const uint8_t no_id[] = {0x12, 0x01, 'x'}; /* state = "x" */
    cr_assert(eq(int, kj_event_decode(codec, no_id, sizeof no_id, &back), -1));
    cr_assert(eq(str, (char *)kj_codec_error(codec),
                 "complaint_id: not a valid id (0 bytes)"));
    kj_codec_destroy(&codec);
}

Test(envelope, stamp_replaces_same_stage_and_caps)
{
    kj_envelope_t env;
    fill(&env);
    kj_envelope_stamp(&env, "ingest", 1, 2);
    kj_envelope_stamp(&env, "classifier", 3, 4);
    kj_envelope_stamp(&env, "ingest", 5, 6); /* a retry restamps */
    cr_assert(eq(sz, env.n_stages, 2));
    cr_assert(eq(str, env.stages[0].stage, "ingest"));
    cr_assert(eq(i64, env.stages[0].in_ms, 5));
    cr_assert(eq(i64, env.stages[0].out_ms, 6));

    for (int i = 0; i < KJ_MAX_STAGES + 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "s%d", i);
        kj_envelope_stamp(&env, name, i, i);
    }
    cr_assert(eq(sz, env.n_stages, KJ_MAX_STAGES));
    cr_assert(eq(str, env.stages[KJ_MAX_STAGES - 1].stage, "s10"));
}

Test(envelope, delivery_finds_by_kind_or_appends)
{
    kj_envelope_t env;
    fill(&env);
    kj_delivery_t *a = kj_envelope_delivery(&env, "team_alert");
    a->attempts = 1;
    kj_delivery_t *b = kj_envelope_delivery(&env, "customer_ack");
    cr_assert(eq(sz, env.n_deliveries, 2));
    cr_assert(eq(ptr, kj_envelope_delivery(&env, "team_alert"), a));
    cr_assert(eq(i32, a->attempts, 1));
    cr_assert(eq(str, b->kind, "customer_ack"));
    cr_assert(eq(sz, env.n_deliveries, 2));
}
