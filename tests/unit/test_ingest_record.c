/* ingest_record: a stored record -> the JSON of GET /v1/complaints/{id},
 * in the shape docs/ARCHITECTURE.md promises. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ingest_record.h"
#include "kj_util.h"

/* A complaint as ingest stores it: received, no triage yet. */
static void
s_received(kj_store_record_t *rec, kj_envelope_t *env)
{
    memset(rec, 0, sizeof *rec);
    memset(env, 0, sizeof *env);
    kj_strlcpy(rec->state, "received", sizeof rec->state);
    rec->attempts = 1;
    rec->created_ms = 1795424400123LL;
    rec->updated_ms = 1795424400123LL;
    kj_complaint_t *c = &env->complaint;
    kj_strlcpy(c->id, "0193a0b1c2d3e4f5a6b7", sizeof c->id);
    kj_strlcpy(c->tenant, "default", sizeof c->tenant);
    kj_strlcpy(c->channel, "x", sizeof c->channel);
    kj_strlcpy(c->customer.id, "c-17", sizeof c->customer.id);
    kj_strlcpy(c->customer.tier, "gold", sizeof c->customer.tier);
    kj_strlcpy(c->customer.email, "secret@example.com",
               sizeof c->customer.email);
    kj_strlcpy(c->text, "アプリが落ちます mail me at secret@example.com",
               sizeof c->text);
    c->is_public = true;
    c->received_at_ms = 1795424400000LL;
    c->accepted_at_ms = 1795424400123LL;
    kj_strlcpy(env->trace_id, "0123456789abcdef0123456789abcdef",
               sizeof env->trace_id);
    kj_envelope_stamp(env, "ingest", 1795424400100LL, 1795424400120LL);
}

static json_t *
s_render(const kj_store_record_t *rec, const kj_envelope_t *env)
{
    char *s = ingest_record_json(rec, env);
    cr_assert(not(eq(ptr, s, NULL)));
    json_error_t jerr;
    json_t *j = json_loads(s, 0, &jerr);
    cr_assert(not(eq(ptr, j, NULL)), "not JSON: %s", jerr.text);
    free(s);
    return j;
}

/* The JSON type of o[key], -1 if absent. */
static int
s_type(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return v ? (int)json_typeof(v) : -1;
}

static const char *
s_str(json_t *o, const char *key)
{
    cr_assert(eq(int, s_type(o, key), JSON_STRING), "%s", key);
    return json_string_value(json_object_get(o, key));
}

Test(ingest_record, usage_example)
{
    kj_store_record_t rec;
    kj_envelope_t env;
    s_received(&rec, &env);
    char *s = ingest_record_json(&rec, &env);
    /* The first keys in the documented order. */
    const char *want = "{\"id\":\"0193a0b1c2d3e4f5a6b7\",\"state\":"
                       "\"received\",\"attempts\":1,\"reason\":null,";
    cr_assert(eq(int, strncmp(s, want, strlen(want)), 0), "%s", s);
    free(s);
}

Test(ingest_record, received_record)
{
    kj_store_record_t rec;
    kj_envelope_t env;
    s_received(&rec, &env);
    json_t *j = s_render(&rec, &env);
    cr_assert(eq(str, (char *)s_str(j, "trace_id"),
                 "0123456789abcdef0123456789abcdef"));
    cr_assert(eq(str, (char *)s_str(j, "tenant"), "default"));
    cr_assert(eq(str, (char *)s_str(j, "channel"), "x"));
    cr_assert(eq(int, s_type(j, "public"), JSON_TRUE));
    json_t *cust = json_object_get(j, "customer");
    cr_assert(eq(str, (char *)s_str(cust, "id"), "c-17"));
    cr_assert(eq(str, (char *)s_str(cust, "tier"), "gold"));
    /* Contact details stay out of the API answer. */
    cr_assert(eq(ptr, json_object_get(cust, "email"), NULL));
    /* Not yet masked: text and subject are withheld, never shown raw. */
    cr_assert(eq(int, s_type(j, "text"), -1));
    cr_assert(eq(int, s_type(j, "subject"), -1));
    cr_assert(eq(str, (char *)s_str(j, "text_withheld"), "not yet classified"));
    cr_assert(eq(int, s_type(j, "original"), -1));
    cr_assert(
        eq(str, (char *)s_str(j, "received_at"), "2026-11-23T09:00:00.000Z"));
    cr_assert(
        eq(str, (char *)s_str(j, "accepted_at"), "2026-11-23T09:00:00.123Z"));
    cr_assert(
        eq(str, (char *)s_str(j, "created_at"), "2026-11-23T09:00:00.123Z"));
    cr_assert(eq(int, s_type(j, "triage"), JSON_NULL));
    cr_assert(eq(int, s_type(j, "assignment"), JSON_NULL));
    cr_assert(eq(int, s_type(j, "e2e_ms"), JSON_NULL));
    cr_assert(eq(int, s_type(j, "reason"), JSON_NULL));
    cr_assert(eq(sz, json_array_size(json_object_get(j, "deliveries")), 0));
    json_t *ingest = json_object_get(json_object_get(j, "stages"), "ingest");
    cr_assert(eq(i64, json_integer_value(json_object_get(ingest, "in_ms")),
                 1795424400100LL));
    cr_assert(eq(i64, json_integer_value(json_object_get(ingest, "out_ms")),
                 1795424400120LL));
    json_decref(j);
}

Test(ingest_record, delivered_record)
{
    kj_store_record_t rec;
    kj_envelope_t env;
    s_received(&rec, &env);
    kj_strlcpy(rec.state, "delivered", sizeof rec.state);
    env.has_triage = true;
    kj_triage_t *t = &env.triage;
    kj_strlcpy(t->language, "ja", sizeof t->language);
    t->language_confidence = 0.98f;
    kj_strlcpy(t->sentiment, "negative", sizeof t->sentiment);
    t->sentiment_score = -0.7f;
    kj_strlcpy(t->category, "outage", sizeof t->category);
    kj_strlcpy(t->urgency, "high", sizeof t->urgency);
    t->actionable = true;
    kj_strlcpy(t->masked_text, "アプリが落ちます mail me at [email]",
               sizeof t->masked_text);
    /* The classifier stores the subject masked in place. */
    kj_strlcpy(env.complaint.subject, "card [card]",
               sizeof env.complaint.subject);
    t->n_pii = 1;
    kj_strlcpy(t->pii[0].kind, "email", sizeof t->pii[0].kind);
    t->pii[0].start = 38;
    t->pii[0].end = 56;
    kj_strlcpy(t->model, "rules", sizeof t->model);
    env.has_assignment = true;
    kj_assignment_t *a = &env.assignment;
    kj_strlcpy(a->team, "care-ja", sizeof a->team);
    kj_strlcpy(a->priority, "p2", sizeof a->priority);
    kj_strlcpy(a->sla_policy, "social", sizeof a->sla_policy);
    a->due_at_ms = 1795428000000LL;
    kj_strlcpy(a->rule, "ja-outage", sizeof a->rule);
    kj_delivery_t *d = kj_envelope_delivery(&env, "team_alert");
    kj_strlcpy(d->endpoint, "http://hooks.example/care", sizeof d->endpoint);
    kj_strlcpy(d->status, "delivered", sizeof d->status);
    d->attempts = 2;
    d->http_status = 200;
    d->at_ms = 1795424400140LL;
    kj_envelope_stamp(&env, "classifier", 1795424400121LL, 1795424400125LL);
    kj_envelope_stamp(&env, "notifier", 1795424400130LL, 1795424400142LL);

    json_t *j = s_render(&rec, &env);
    cr_assert(eq(str, (char *)s_str(j, "state"), "delivered"));
    /* Once classified, only the masked text is shown. */
    cr_assert(eq(str, (char *)s_str(j, "text"),
                 "アプリが落ちます mail me at [email]"));
    cr_assert(eq(str, (char *)s_str(j, "subject"), "card [card]"));
    cr_assert(eq(int, s_type(j, "text_withheld"), -1));
    json_t *tr = json_object_get(j, "triage");
    cr_assert(eq(str, (char *)s_str(tr, "language"), "ja"));
    cr_assert(eq(dbl,
                 json_real_value(json_object_get(tr, "language_confidence")),
                 0.98));
    cr_assert(
        eq(dbl, json_real_value(json_object_get(tr, "sentiment_score")), -0.7));
    cr_assert(eq(int, s_type(tr, "actionable"), JSON_TRUE));
    /* Not spam, and the model's P(spam) (0 when it was not asked). */
    cr_assert(eq(int, s_type(tr, "spam"), JSON_FALSE));
    cr_assert(eq(int, s_type(tr, "spam_confidence"), JSON_REAL));
    json_t *pii = json_array_get(json_object_get(tr, "pii"), 0);
    cr_assert(eq(str, (char *)s_str(pii, "kind"), "email"));
    cr_assert(eq(i64, json_integer_value(json_object_get(pii, "start")), 38));
    cr_assert(eq(i64, json_integer_value(json_object_get(pii, "end")), 56));
    json_t *as = json_object_get(j, "assignment");
    cr_assert(eq(str, (char *)s_str(as, "team"), "care-ja"));
    cr_assert(eq(str, (char *)s_str(as, "due_at"), "2026-11-23T10:00:00.000Z"));
    cr_assert(eq(i64, json_integer_value(json_object_get(as, "due_at_ms")),
                 1795428000000LL));
    cr_assert(eq(int, s_type(as, "resolve_due_at"), JSON_NULL));
    json_t *dl = json_array_get(json_object_get(j, "deliveries"), 0);
    cr_assert(eq(str, (char *)s_str(dl, "kind"), "team_alert"));
    cr_assert(
        eq(i64, json_integer_value(json_object_get(dl, "http_status")), 200));
    cr_assert(eq(str, (char *)s_str(dl, "at"), "2026-11-23T09:00:00.140Z"));
    json_t *stages = json_object_get(j, "stages");
    cr_assert(eq(sz, json_object_size(stages), 3));
    /* notifier out (142) - ingest in (100) */
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "e2e_ms")), 42));
    json_decref(j);
}

Test(ingest_record, dead_record_has_reason)
{
    kj_store_record_t rec;
    kj_envelope_t env;
    s_received(&rec, &env);
    kj_strlcpy(rec.state, "dead", sizeof rec.state);
    kj_strlcpy(rec.reason, "webhook: HTTP 500 after 5 attempts",
               sizeof rec.reason);
    rec.attempts = 5;
    json_t *j = s_render(&rec, &env);
    cr_assert(eq(str, (char *)s_str(j, "reason"),
                 "webhook: HTTP 500 after 5 attempts"));
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "attempts")), 5));
    cr_assert(eq(int, s_type(j, "e2e_ms"), JSON_NULL));
    json_decref(j);
}

Test(ingest_record, broken_utf8_is_replaced_not_fatal)
{
    kj_store_record_t rec;
    kj_envelope_t env;
    s_received(&rec, &env);
    /* A text cut in the middle of a three-byte character. */
    env.has_triage = true;
    memcpy(env.triage.masked_text, "ab\xe8\x8b", 5);
    json_t *j = s_render(&rec, &env);
    cr_assert(eq(str, (char *)s_str(j, "text"), "ab\xef\xbf\xbd\xef\xbf\xbd"));
    json_decref(j);
}

Test(ingest_record, originals_only_when_asked_for)
{
    kj_store_record_t rec;
    kj_envelope_t env;
    s_received(&rec, &env);
    char text[] = "mail me at secret@example.com";
    char name[] = "Hana Sato";
    kj_store_pii_record_t pii = {.name = name, .text = text};
    char *s = ingest_record_json_pii(&rec, &env, &pii);
    json_error_t jerr;
    json_t *j = json_loads(s, 0, &jerr);
    cr_assert(not(eq(ptr, j, NULL)), "not JSON: %s", jerr.text);
    free(s);
    /* The masked view is unchanged; the originals are beside it. */
    cr_assert(eq(str, (char *)s_str(j, "text_withheld"), "not yet classified"));
    json_t *o = json_object_get(j, "original");
    cr_assert(eq(str, (char *)s_str(o, "text"), text));
    cr_assert(eq(int, s_type(o, "subject"), JSON_NULL));
    json_t *cust = json_object_get(o, "customer");
    cr_assert(eq(str, (char *)s_str(cust, "name"), name));
    cr_assert(eq(int, s_type(cust, "email"), JSON_NULL));
    json_decref(j);
}

Test(ingest_record, outbox_deliveries_follow_the_team_alert)
{
    kj_store_record_t rec;
    kj_envelope_t env;
    s_received(&rec, &env);
    kj_delivery_t *d = kj_envelope_delivery(&env, "team_alert");
    kj_strlcpy(d->status, "delivered", sizeof d->status);
    json_t *outbox = json_loads(
        "[{\"kind\":\"customer_ack\",\"endpoint\":\"http://x:80\","
        "\"status\":\"delivered\",\"attempts\":2,\"http_status\":200,"
        "\"error\":\"\",\"at_ms\":1795424400123,"
        "\"idempotency_key\":\"0193a0b1c2d3e4f5a6b7:customer_ack\"}]",
        0, NULL);
    cr_assert(not(eq(ptr, outbox, NULL)));
    char *s = ingest_record_json_with(&rec, &env, NULL, outbox);
    json_decref(outbox);
    json_t *j = json_loads(s, 0, NULL);
    free(s);
    json_t *ds = json_object_get(j, "deliveries");
    cr_assert(eq(sz, json_array_size(ds), 2));
    cr_assert(
        eq(str, (char *)s_str(json_array_get(ds, 0), "kind"), "team_alert"));
    json_t *ack = json_array_get(ds, 1);
    cr_assert(eq(str, (char *)s_str(ack, "kind"), "customer_ack"));
    cr_assert(eq(str, (char *)s_str(ack, "status"), "delivered"));
    cr_assert(eq(str, (char *)s_str(ack, "at"), "2026-11-23T09:00:00.123Z"));
    cr_assert(eq(str, (char *)s_str(ack, "idempotency_key"),
                 "0193a0b1c2d3e4f5a6b7:customer_ack"));
    cr_assert(eq(i64, json_integer_value(json_object_get(ack, "attempts")), 2));
    json_decref(j);
}
