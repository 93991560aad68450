/* ingest_record: render a record for GET /v1/complaints/{id}. The shape is
 * the contract of docs/ARCHITECTURE.md: times as RFC 3339 UTC strings,
 * *_ms fields as numbers, null for what is not set yet. */
#include "ingest_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kj_assert.h"
#include "kj_time.h"
#include "kj_utf8.h"
#include "kj_util.h"

/* A JSON string from stored text. Other stages wrote it and a truncation
 * could in principle split a character; jansson refuses invalid UTF-8, so
 * such bytes become U+FFFD rather than failing the whole answer. */
static json_t *
s_str(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t len = strlen(s);
    char *buf = kj_malloc(len * 3 + 1);
    size_t n = kj_utf8_sanitize(s, len, buf);
    j = json_stringn(buf, n);
    free(buf);
    if (!j)
        abort(); /* the buffer was made valid UTF-8 above */
    return j;
}

/* A time string, or null when the time was never set. */
static json_t *
s_time(int64_t ms)
{
    if (ms == 0)
        return json_null();
    char buf[KJ_TIME_RFC3339_LEN];
    if (kj_time_rfc3339(ms, buf, sizeof buf) == 0)
        return json_null(); /* past the year 9999 */
    return json_string(buf);
}

/* Confidences and scores are floats in the envelope; widened they would
 * print as 0.980000019, so the answer is dumped with JSON_REAL_PRECISION(6),
 * about what a float holds. */
static json_t *
s_real(float f)
{
    /* Non-finite values are not JSON (jansson refuses them). */
    double d = (double)f;
    return json_real(d == d && d - d == 0 ? d : 0.0);
}

static void
s_set(json_t *obj, const char *key, json_t *v)
{
    /* Only our own constant keys and valid values reach here: a failure
     * is a programming error (or out of memory), never input. */
    if (json_object_set_new(obj, key, v) != 0)
        abort();
}

static json_t *
s_triage(const kj_envelope_t *env)
{
    if (!env->has_triage)
        return json_null();
    const kj_triage_t *t = &env->triage;
    json_t *o = json_object();
    s_set(o, "language", s_str(t->language));
    s_set(o, "language_confidence", s_real(t->language_confidence));
    s_set(o, "sentiment", s_str(t->sentiment));
    s_set(o, "sentiment_score", s_real(t->sentiment_score));
    s_set(o, "sentiment_confidence", s_real(t->sentiment_confidence));
    s_set(o, "category", s_str(t->category));
    s_set(o, "category_confidence", s_real(t->category_confidence));
    s_set(o, "urgency", s_str(t->urgency));
    s_set(o, "urgency_confidence", s_real(t->urgency_confidence));
    s_set(o, "actionable", json_boolean(t->actionable));
    s_set(o, "actionable_confidence", s_real(t->actionable_confidence));
    s_set(o, "spam", json_boolean(t->spam));
    s_set(o, "spam_confidence", s_real(t->spam_confidence));
    s_set(o, "masked_text", s_str(t->masked_text));
    json_t *pii = json_array();
    size_t n = t->n_pii < KJ_MAX_PII ? t->n_pii : KJ_MAX_PII;
    for (size_t i = 0; i < n; i++) {
        json_t *span = json_object();
        s_set(span, "kind", s_str(t->pii[i].kind));
        s_set(span, "start", json_integer(t->pii[i].start));
        s_set(span, "end", json_integer(t->pii[i].end));
        json_array_append_new(pii, span);
    }
    s_set(o, "pii", pii);
    s_set(o, "reason", s_str(t->reason));
    s_set(o, "model", s_str(t->model));
    return o;
}

static json_t *
s_assignment(const kj_envelope_t *env)
{
    if (!env->has_assignment)
        return json_null();
    const kj_assignment_t *a = &env->assignment;
    json_t *o = json_object();
    s_set(o, "team", s_str(a->team));
    s_set(o, "priority", s_str(a->priority));
    s_set(o, "sla_policy", s_str(a->sla_policy));
    s_set(o, "due_at", s_time(a->due_at_ms));
    s_set(o, "due_at_ms", json_integer(a->due_at_ms));
    s_set(o, "resolve_due_at", s_time(a->resolve_due_at_ms));
    s_set(o, "rule", s_str(a->rule));
    s_set(o, "case_id", a->case_id[0] ? s_str(a->case_id) : json_null());
    s_set(o, "assignee", a->assignee[0] ? s_str(a->assignee) : json_null());
    s_set(o, "ack_due_at", s_time(a->ack_due_at_ms));
    s_set(o, "ack_template", a->ack_template[0] ? s_str(a->ack_template)
                                                : json_null());
    s_set(o, "suggested_reply", a->suggested_reply[0]
                                    ? s_str(a->suggested_reply)
                                    : json_null());
    return o;
}

/* The outbox's deliveries (kj_outbox_deliveries) appended to arr in the
 * shape of the team alert's. */
static void
s_outbox_deliveries(json_t *arr, const json_t *outbox)
{
    size_t i;
    json_t *d;
    json_array_foreach(outbox, i, d)
    {
        json_t *o = json_object();
        s_set(o, "kind", s_str(json_string_value(json_object_get(d, "kind"))));
        s_set(o, "endpoint",
              s_str(json_string_value(json_object_get(d, "endpoint"))));
        s_set(o, "status",
              s_str(json_string_value(json_object_get(d, "status"))));
        s_set(o, "attempts",
              json_integer(json_integer_value(json_object_get(d, "attempts"))));
        s_set(o, "http_status",
              json_integer(
                  json_integer_value(json_object_get(d, "http_status"))));
        s_set(o, "error",
              s_str(json_string_value(json_object_get(d, "error"))));
        s_set(o, "at",
              s_time((int64_t)json_number_value(json_object_get(d, "at_ms"))));
        s_set(o, "idempotency_key",
              s_str(json_string_value(json_object_get(d, "idempotency_key"))));
        json_array_append_new(arr, o);
    }
}

static json_t *
s_deliveries(const kj_envelope_t *env)
{
    json_t *arr = json_array();
    size_t n = env->n_deliveries < KJ_MAX_DELIVERIES ? env->n_deliveries
                                                     : KJ_MAX_DELIVERIES;
    for (size_t i = 0; i < n; i++) {
        const kj_delivery_t *d = &env->deliveries[i];
        json_t *o = json_object();
        s_set(o, "kind", s_str(d->kind));
        s_set(o, "endpoint", s_str(d->endpoint));
        s_set(o, "status", s_str(d->status));
        s_set(o, "attempts", json_integer(d->attempts));
        s_set(o, "http_status", json_integer(d->http_status));
        s_set(o, "error", s_str(d->error));
        s_set(o, "at", s_time(d->at_ms));
        json_array_append_new(arr, o);
    }
    return arr;
}

static const kj_stage_time_t *
s_stage(const kj_envelope_t *env, const char *name)
{
    size_t n = env->n_stages < KJ_MAX_STAGES ? env->n_stages : KJ_MAX_STAGES;
    for (size_t i = 0; i < n; i++)
        if (strcmp(env->stages[i].stage, name) == 0)
            return &env->stages[i];
    return NULL;
}

static json_t *
s_stages(const kj_envelope_t *env)
{
    json_t *o = json_object();
    size_t n = env->n_stages < KJ_MAX_STAGES ? env->n_stages : KJ_MAX_STAGES;
    for (size_t i = 0; i < n; i++) {
        const kj_stage_time_t *st = &env->stages[i];
        if (st->stage[0] == '\0')
            continue;
        json_t *t = json_object();
        s_set(t, "in_ms", json_integer(st->in_ms));
        s_set(t, "out_ms", json_integer(st->out_ms));
        /* A stage name from the envelope is a key; a bad one (not UTF-8)
         * is skipped rather than failing the answer. */
        if (json_object_set_new(o, st->stage, t) != 0)
            continue;
    }
    return o;
}

/* notifier out - ingest in, once delivered: the latency the care team
 * feels. null before, or if either stamp is missing. */
static json_t *
s_e2e(const kj_store_record_t *rec, const kj_envelope_t *env)
{
    if (strcmp(rec->state, "delivered") != 0)
        return json_null();
    const kj_stage_time_t *in = s_stage(env, "ingest");
    const kj_stage_time_t *out = s_stage(env, "notifier");
    if (!in || !out)
        return json_null();
    return json_integer(out->out_ms - in->in_ms);
}

/* A stored original, or null where the PII record has none. */
static json_t *
s_original(const char *s)
{
    return s ? s_str(s) : json_null();
}

static json_t *
s_originals(const kj_store_pii_record_t *pii)
{
    json_t *o = json_object();
    json_t *cust = json_object();
    s_set(cust, "name", s_original(pii->name));
    s_set(cust, "email", s_original(pii->email));
    s_set(o, "customer", cust);
    s_set(o, "subject", s_original(pii->subject));
    s_set(o, "text", s_original(pii->text));
    return o;
}

static json_t *
s_references(const kj_complaint_t *c)
{
    json_t *a = json_array();
    for (size_t i = 0; i < c->n_references && i < KJ_MAX_REFS; i++)
        json_array_append_new(a, s_str(c->references[i]));
    return a;
}

/* What came attached, described: the content was never kept. */
static json_t *
s_attachments(const kj_complaint_t *c)
{
    json_t *a = json_array();
    for (size_t i = 0; i < c->n_attachments && i < KJ_MAX_ATTACHMENTS; i++) {
        const kj_attachment_t *at = &c->attachments[i];
        json_t *o = json_object();
        s_set(o, "name", s_str(at->name));
        s_set(o, "type", s_str(at->content_type));
        s_set(o, "size", json_integer((json_int_t)at->size));
        json_array_append_new(a, o);
    }
    return a;
}

static char *
s_render(const kj_store_record_t *rec, const kj_envelope_t *env,
         const kj_store_pii_record_t *pii, const json_t *outbox)
{
    const kj_complaint_t *c = &env->complaint;
    json_t *o = json_object();
    s_set(o, "id", s_str(c->id));
    s_set(o, "state", s_str(rec->state));
    s_set(o, "attempts", json_integer(rec->attempts));
    s_set(o, "reason", rec->reason[0] ? s_str(rec->reason) : json_null());
    s_set(o, "trace_id", s_str(env->trace_id));
    s_set(o, "tenant", s_str(c->tenant));
    s_set(o, "channel", s_str(c->channel));
    s_set(o, "public", json_boolean(c->is_public));
    json_t *cust = json_object();
    s_set(cust, "id", s_str(c->customer.id));
    s_set(cust, "tier", s_str(c->customer.tier));
    s_set(o, "customer", cust);
    s_set(o, "external_id", s_str(c->external_id));
    s_set(o, "noise", c->noise[0] ? s_str(c->noise) : json_null());
    s_set(o, "references", s_references(c));
    s_set(o, "attachments", s_attachments(c));
    /* A survey comment carries its answer (POST /v1/feedback). */
    if (c->feedback.kind[0]) {
        json_t *fb = json_object();
        s_set(fb, "kind", s_str(c->feedback.kind));
        s_set(fb, "score", json_integer(c->feedback.score));
        s_set(fb, "case_id", s_str(c->feedback.case_id));
        s_set(fb, "complaint_id", s_str(c->feedback.complaint_id));
        s_set(o, "feedback", fb);
    }
    /* The classifier masks PII in the text and subject; until it has,
     * the envelope holds them raw, so they are withheld, never shown. */
    if (env->has_triage) {
        s_set(o, "subject", s_str(c->subject));
        s_set(o, "text", s_str(env->triage.masked_text));
    } else {
        s_set(o, "text_withheld", json_string("not yet classified"));
    }
    s_set(o, "received_at", s_time(c->received_at_ms));
    s_set(o, "accepted_at", s_time(c->accepted_at_ms));
    s_set(o, "triage", s_triage(env));
    /* The case the router filed it in (null until routed). */
    s_set(o, "case_id",
          env->has_assignment && env->assignment.case_id[0]
              ? s_str(env->assignment.case_id)
              : json_null());
    s_set(o, "assignment", s_assignment(env));
    json_t *deliveries = s_deliveries(env);
    if (outbox)
        s_outbox_deliveries(deliveries, outbox);
    s_set(o, "deliveries", deliveries);
    s_set(o, "stages", s_stages(env));
    s_set(o, "e2e_ms", s_e2e(rec, env));
    s_set(o, "created_at", s_time(rec->created_ms));
    s_set(o, "updated_at", s_time(rec->updated_ms));
    if (pii)
        s_set(o, "original", s_originals(pii));
    char *out = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(o);
    if (!out)
        abort(); /* only allocation failure, which aborts everywhere */
    return out;
}

char *
ingest_record_json(const kj_store_record_t *rec, const kj_envelope_t *env)
{
    return s_render(rec, env, NULL, NULL);
}

char *
ingest_record_json_pii(const kj_store_record_t *rec, const kj_envelope_t *env,
                       const kj_store_pii_record_t *pii)
{
    kj_assert(pii);
    return s_render(rec, env, pii, NULL);
}

char *
ingest_record_json_with(const kj_store_record_t *rec, const kj_envelope_t *env,
                        const kj_store_pii_record_t *pii, const json_t *outbox)
{
    return s_render(rec, env, pii, outbox);
}
