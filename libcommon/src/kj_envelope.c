/* kj_envelope: plain structs <-> protobuf wire format (see kj_envelope.h).
 *
 * The only file that includes the generated protobuf-c header. Encoding
 * points the generated structs at the caller's strings (nothing is copied)
 * and packs into a buffer the codec owns. Decoding hands protobuf-c a bump
 * allocator over an arena the codec owns, so steady-state decoding does no
 * heap allocation at all; the arena is reset at the start of every decode
 * and protobuf-c's free calls are no-ops. */
#include "kj_envelope.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_assert.h"
#include "kj_util.h"
#include "kujo/v1/kujo.pb-c.h"

/* Input is capped at KJ_ENVELOPE_WIRE_MAX (64 KiB); the largest valid
 * envelope unpacks into well under 100 KiB of structs and strings. Hostile
 * input (thousands of empty repeated sub-messages) can ask for more; it
 * fails cleanly when the arena runs out instead of growing it. */
#define KJ_ARENA_SIZE (512 * 1024)

struct kj_codec {
    uint8_t *arena;           /* bump-allocated during one decode */
    size_t arena_used;        /* bytes handed out since the last reset */
    bool arena_exhausted;     /* an allocation failed in this decode */
    ProtobufCAllocator alloc; /* protobuf-c's view of the arena */
    uint8_t *out;             /* encode output, KJ_ENVELOPE_WIRE_MAX */
    char err[KJ_ERRMSG_MAX];  /* last decode/encode error */
};

/* ---- arena allocator ----------------------------------------------- */

static void *
s_arena_alloc(void *data, size_t size)
{
    kj_codec_t *self = data;
    const size_t align = alignof(max_align_t);
    size_t start = (self->arena_used + align - 1) & ~(align - 1);
    if (start > KJ_ARENA_SIZE || size > KJ_ARENA_SIZE - start) {
        self->arena_exhausted = true;
        return NULL;
    }
    self->arena_used = start + size;
    return self->arena + start;
}

/* Everything is released at once by the next reset. */
static void
s_arena_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr;
}

kj_codec_t *
kj_codec_new(void)
{
    kj_codec_t *self = kj_calloc(1, sizeof *self);
    self->arena = kj_malloc(KJ_ARENA_SIZE);
    self->alloc.alloc = s_arena_alloc;
    self->alloc.free = s_arena_free;
    self->alloc.allocator_data = self;
    return self;
}

void
kj_codec_destroy(kj_codec_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kj_codec_t *self = *self_p;
    free(self->arena);
    free(self->out);
    free(self);
    *self_p = NULL;
}

const char *
kj_codec_error(const kj_codec_t *self)
{
    return self->err;
}

static void
s_arena_reset(kj_codec_t *self)
{
    self->arena_used = 0;
    self->arena_exhausted = false;
    self->err[0] = '\0';
}

/* ---- encode -------------------------------------------------------- */

/* The generated structs take char *, but packing only reads them. */
static char *
s_str(const char *s)
{
    return (char *)s;
}

static int
s_pack(kj_codec_t *self, const ProtobufCMessage *msg, const uint8_t **out)
{
    size_t need = protobuf_c_message_get_packed_size(msg);
    if (need > KJ_ENVELOPE_WIRE_MAX) {
        snprintf(self->err, sizeof self->err, "encoded size %zu bytes > %d",
                 need, KJ_ENVELOPE_WIRE_MAX);
        return -1;
    }
    /* Grown once, to the most we will ever write. */
    if (!self->out)
        self->out = kj_malloc(KJ_ENVELOPE_WIRE_MAX);
    size_t len = protobuf_c_message_pack(msg, self->out);
    kj_assert(len == need);
    *out = self->out;
    return (int)len;
}

int
kj_envelope_encode(kj_codec_t *self, const kj_envelope_t *env,
                   const uint8_t **out)
{
    self->err[0] = '\0';
    const kj_complaint_t *c = &env->complaint;

    Kujo__V1__Customer cu = KUJO__V1__CUSTOMER__INIT;
    cu.id = s_str(c->customer.id);
    cu.tier = s_str(c->customer.tier);
    cu.name = s_str(c->customer.name);
    cu.email = s_str(c->customer.email);

    Kujo__V1__Complaint co = KUJO__V1__COMPLAINT__INIT;
    co.id = s_str(c->id);
    co.tenant = s_str(c->tenant);
    co.channel = s_str(c->channel);
    co.customer = &cu;
    co.text = s_str(c->text);
    co.subject = s_str(c->subject);
    co.public_ = c->is_public;
    co.lang_hint = s_str(c->lang_hint);
    co.external_id = s_str(c->external_id);
    co.received_at_ms = c->received_at_ms;
    co.accepted_at_ms = c->accepted_at_ms;
    co.noise = s_str(c->noise);
    char *refs[KJ_MAX_REFS];
    size_t nr = c->n_references < KJ_MAX_REFS ? c->n_references : KJ_MAX_REFS;
    for (size_t i = 0; i < nr; i++)
        refs[i] = (char *)c->references[i];
    co.n_references = nr;
    co.references = nr ? refs : NULL;
    Kujo__V1__Attachment at[KJ_MAX_ATTACHMENTS];
    Kujo__V1__Attachment *at_p[KJ_MAX_ATTACHMENTS];
    size_t na = c->n_attachments < KJ_MAX_ATTACHMENTS ? c->n_attachments
                                                      : KJ_MAX_ATTACHMENTS;
    for (size_t i = 0; i < na; i++) {
        kujo__v1__attachment__init(&at[i]);
        at[i].name = s_str(c->attachments[i].name);
        at[i].content_type = s_str(c->attachments[i].content_type);
        at[i].size = c->attachments[i].size;
        at_p[i] = &at[i];
    }
    co.n_attachments = na;
    co.attachments = na ? at_p : NULL;
    /* Field 15 only on a survey comment, so other envelopes stay as
     * small as before. */
    Kujo__V1__Feedback fb = KUJO__V1__FEEDBACK__INIT;
    if (c->feedback.kind[0]) {
        fb.kind = s_str(c->feedback.kind);
        fb.score = c->feedback.score;
        fb.case_id = s_str(c->feedback.case_id);
        fb.complaint_id = s_str(c->feedback.complaint_id);
        co.feedback = &fb;
    }

    Kujo__V1__Envelope e = KUJO__V1__ENVELOPE__INIT;
    e.trace_id = s_str(env->trace_id);
    e.attempt = env->attempt;
    e.complaint = &co;

    /* Counts beyond the arrays are a programming error in the caller;
     * clamp rather than read past the struct. */
    Kujo__V1__Triage tr = KUJO__V1__TRIAGE__INIT;
    Kujo__V1__PiiSpan pii[KJ_MAX_PII];
    Kujo__V1__PiiSpan *pii_p[KJ_MAX_PII];
    if (env->has_triage) {
        const kj_triage_t *t = &env->triage;
        tr.language = s_str(t->language);
        tr.language_confidence = t->language_confidence;
        tr.sentiment = s_str(t->sentiment);
        tr.sentiment_score = t->sentiment_score;
        tr.sentiment_confidence = t->sentiment_confidence;
        tr.category = s_str(t->category);
        tr.category_confidence = t->category_confidence;
        tr.urgency = s_str(t->urgency);
        tr.urgency_confidence = t->urgency_confidence;
        tr.actionable = t->actionable;
        tr.actionable_confidence = t->actionable_confidence;
        tr.masked_text = s_str(t->masked_text);
        tr.reason = s_str(t->reason);
        tr.model = s_str(t->model);
        tr.spam = t->spam;
        tr.spam_confidence = t->spam_confidence;
        size_t n = t->n_pii < KJ_MAX_PII ? t->n_pii : KJ_MAX_PII;
        for (size_t i = 0; i < n; i++) {
            kujo__v1__pii_span__init(&pii[i]);
            pii[i].kind = s_str(t->pii[i].kind);
            pii[i].start = t->pii[i].start;
            pii[i].end = t->pii[i].end;
            pii_p[i] = &pii[i];
        }
        tr.n_pii = n;
        tr.pii = n ? pii_p : NULL;
        e.triage = &tr;
    }

    Kujo__V1__Assignment as = KUJO__V1__ASSIGNMENT__INIT;
    if (env->has_assignment) {
        const kj_assignment_t *a = &env->assignment;
        as.team = s_str(a->team);
        as.priority = s_str(a->priority);
        as.sla_policy = s_str(a->sla_policy);
        as.due_at_ms = a->due_at_ms;
        as.webhook_url = s_str(a->webhook_url);
        as.rule = s_str(a->rule);
        as.resolve_due_at_ms = a->resolve_due_at_ms;
        as.ack_template = s_str(a->ack_template);
        as.take_private = a->take_private;
        as.case_id = s_str(a->case_id);
        as.assignee = s_str(a->assignee);
        as.ack_due_at_ms = a->ack_due_at_ms;
        as.suggested_reply = s_str(a->suggested_reply);
        e.assignment = &as;
    }

    Kujo__V1__Delivery dl[KJ_MAX_DELIVERIES];
    Kujo__V1__Delivery *dl_p[KJ_MAX_DELIVERIES];
    size_t nd = env->n_deliveries < KJ_MAX_DELIVERIES ? env->n_deliveries
                                                      : KJ_MAX_DELIVERIES;
    for (size_t i = 0; i < nd; i++) {
        const kj_delivery_t *d = &env->deliveries[i];
        kujo__v1__delivery__init(&dl[i]);
        dl[i].kind = s_str(d->kind);
        dl[i].endpoint = s_str(d->endpoint);
        dl[i].status = s_str(d->status);
        dl[i].attempts = d->attempts;
        dl[i].http_status = d->http_status;
        dl[i].error = s_str(d->error);
        dl[i].at_ms = d->at_ms;
        dl[i].idempotency_key = s_str(d->idempotency_key);
        dl_p[i] = &dl[i];
    }
    e.n_deliveries = nd;
    e.deliveries = nd ? dl_p : NULL;

    Kujo__V1__StageTime st[KJ_MAX_STAGES];
    Kujo__V1__StageTime *st_p[KJ_MAX_STAGES];
    size_t ns = env->n_stages < KJ_MAX_STAGES ? env->n_stages : KJ_MAX_STAGES;
    for (size_t i = 0; i < ns; i++) {
        kujo__v1__stage_time__init(&st[i]);
        st[i].stage = s_str(env->stages[i].stage);
        st[i].in_ms = env->stages[i].in_ms;
        st[i].out_ms = env->stages[i].out_ms;
        st_p[i] = &st[i];
    }
    e.n_stages = ns;
    e.stages = ns ? st_p : NULL;

    return s_pack(self, &e.base, out);
}

int
kj_event_encode(kj_codec_t *self, const kj_event_t *ev, const uint8_t **out)
{
    self->err[0] = '\0';
    Kujo__V1__Event e = KUJO__V1__EVENT__INIT;
    e.complaint_id = s_str(ev->complaint_id);
    e.state = s_str(ev->state);
    e.stage = s_str(ev->stage);
    e.at_ms = ev->at_ms;
    e.tenant = s_str(ev->tenant);
    e.channel = s_str(ev->channel);
    e.language = s_str(ev->language);
    e.category = s_str(ev->category);
    e.sentiment = s_str(ev->sentiment);
    e.urgency = s_str(ev->urgency);
    e.team = s_str(ev->team);
    e.priority = s_str(ev->priority);
    e.e2e_ms = ev->e2e_ms;
    e.reason = s_str(ev->reason);
    e.due_at_ms = ev->due_at_ms;
    return s_pack(self, &e.base, out);
}

/* ---- decode -------------------------------------------------------- */

/* Copy a decoded string into a fixed field, rejecting what does not fit
 * (truncating would silently change ids, keys and URLs) and what is not
 * UTF-8 (proto3 requires it, and the JSON we write downstream does too).
 * Messages name the field but never quote the content: it may be PII. */
static int
s_copy(kj_codec_t *self, char *dst, size_t size, const char *src,
       const char *field)
{
    if (!src) {
        dst[0] = '\0';
        return 0;
    }
    size_t len = strlen(src);
    if (len >= size) {
        snprintf(self->err, sizeof self->err, "%s: %zu bytes > %zu", field, len,
                 size - 1);
        return -1;
    }
    if (!kj_utf8_valid(src, len)) {
        snprintf(self->err, sizeof self->err, "%s: invalid UTF-8", field);
        return -1;
    }
    memcpy(dst, src, len + 1);
    return 0;
}

#define S_COPY(self, dst, src, field)                                          \
    s_copy((self), (dst), sizeof(dst), (src), (field))

static int
s_count(kj_codec_t *self, size_t n, size_t max, const char *field)
{
    if (n <= max)
        return 0;
    snprintf(self->err, sizeof self->err, "%s: %zu entries > %zu", field, n,
             max);
    return -1;
}

/* Unpack with the arena; NULL with a message in self->err. */
static ProtobufCMessage *
s_unpack(kj_codec_t *self, const ProtobufCMessageDescriptor *desc,
         const uint8_t *data, size_t len, const char *what)
{
    s_arena_reset(self);
    if (len > KJ_ENVELOPE_WIRE_MAX) {
        snprintf(self->err, sizeof self->err, "%s: %zu bytes > %d", what, len,
                 KJ_ENVELOPE_WIRE_MAX);
        return NULL;
    }
    ProtobufCMessage *m =
        protobuf_c_message_unpack(desc, &self->alloc, len, data);
    if (m)
        return m;
    if (self->arena_exhausted)
        snprintf(self->err, sizeof self->err,
                 "%s: needs more than %d bytes to decode", what, KJ_ARENA_SIZE);
    else
        snprintf(self->err, sizeof self->err,
                 "%s: not valid protobuf (%zu "
                 "bytes)",
                 what, len);
    return NULL;
}

static int
s_decode_complaint(kj_codec_t *self, const Kujo__V1__Complaint *co,
                   kj_complaint_t *c)
{
    if (!co) {
        snprintf(self->err, sizeof self->err, "complaint: missing");
        return -1;
    }
    if (S_COPY(self, c->id, co->id, "complaint.id") != 0)
        return -1;
    if (!kj_id_valid(c->id)) {
        snprintf(self->err, sizeof self->err,
                 "complaint.id: not a valid id (%zu bytes)", strlen(c->id));
        return -1;
    }
    if (S_COPY(self, c->tenant, co->tenant, "complaint.tenant") != 0 ||
        S_COPY(self, c->channel, co->channel, "complaint.channel") != 0 ||
        S_COPY(self, c->text, co->text, "complaint.text") != 0 ||
        S_COPY(self, c->subject, co->subject, "complaint.subject") != 0 ||
        S_COPY(self, c->lang_hint, co->lang_hint, "complaint.lang_hint") != 0 ||
        S_COPY(self, c->external_id, co->external_id,
               "complaint.external_id") != 0)
        return -1;
    c->is_public = co->public_;
    c->received_at_ms = co->received_at_ms;
    c->accepted_at_ms = co->accepted_at_ms;
    if (S_COPY(self, c->noise, co->noise, "complaint.noise") != 0 ||
        s_count(self, co->n_references, KJ_MAX_REFS, "complaint.references") !=
            0 ||
        s_count(self, co->n_attachments, KJ_MAX_ATTACHMENTS,
                "complaint.attachments") != 0)
        return -1;
    for (size_t i = 0; i < co->n_references; i++)
        if (S_COPY(self, c->references[i], co->references[i],
                   "complaint.references[]") != 0)
            return -1;
    c->n_references = co->n_references;
    for (size_t i = 0; i < co->n_attachments; i++) {
        const Kujo__V1__Attachment *a = co->attachments[i];
        kj_attachment_t *d = &c->attachments[i];
        if (S_COPY(self, d->name, a->name, "complaint.attachments[].name") !=
                0 ||
            S_COPY(self, d->content_type, a->content_type,
                   "complaint.attachments[].content_type") != 0)
            return -1;
        d->size = a->size;
    }
    c->n_attachments = co->n_attachments;
    const Kujo__V1__Customer *cu = co->customer;
    if (cu &&
        (S_COPY(self, c->customer.id, cu->id, "complaint.customer.id") != 0 ||
         S_COPY(self, c->customer.tier, cu->tier, "complaint.customer.tier") !=
             0 ||
         S_COPY(self, c->customer.name, cu->name, "complaint.customer.name") !=
             0 ||
         S_COPY(self, c->customer.email, cu->email,
                "complaint.customer.email") != 0))
        return -1;
    const Kujo__V1__Feedback *fb = co->feedback;
    if (fb && (S_COPY(self, c->feedback.kind, fb->kind,
                      "complaint.feedback.kind") != 0 ||
               S_COPY(self, c->feedback.case_id, fb->case_id,
                      "complaint.feedback.case_id") != 0 ||
               S_COPY(self, c->feedback.complaint_id, fb->complaint_id,
                      "complaint.feedback.complaint_id") != 0))
        return -1;
    if (fb)
        c->feedback.score = fb->score;
    /* A kind is what makes it a survey answer (and what encode writes):
     * without one the rest means nothing. */
    if (!c->feedback.kind[0])
        memset(&c->feedback, 0, sizeof c->feedback);
    return 0;
}

static int
s_decode_triage(kj_codec_t *self, const Kujo__V1__Triage *tr, kj_triage_t *t)
{
    if (S_COPY(self, t->language, tr->language, "triage.language") != 0 ||
        S_COPY(self, t->sentiment, tr->sentiment, "triage.sentiment") != 0 ||
        S_COPY(self, t->category, tr->category, "triage.category") != 0 ||
        S_COPY(self, t->urgency, tr->urgency, "triage.urgency") != 0 ||
        S_COPY(self, t->masked_text, tr->masked_text, "triage.masked_text") !=
            0 ||
        S_COPY(self, t->reason, tr->reason, "triage.reason") != 0 ||
        S_COPY(self, t->model, tr->model, "triage.model") != 0)
        return -1;
    t->language_confidence = tr->language_confidence;
    t->sentiment_score = tr->sentiment_score;
    t->sentiment_confidence = tr->sentiment_confidence;
    t->category_confidence = tr->category_confidence;
    t->urgency_confidence = tr->urgency_confidence;
    t->actionable = tr->actionable;
    t->actionable_confidence = tr->actionable_confidence;
    t->spam = tr->spam;
    t->spam_confidence = tr->spam_confidence;
    if (s_count(self, tr->n_pii, KJ_MAX_PII, "triage.pii") != 0)
        return -1;
    for (size_t i = 0; i < tr->n_pii; i++) {
        const Kujo__V1__PiiSpan *p = tr->pii[i];
        if (S_COPY(self, t->pii[i].kind, p->kind, "triage.pii.kind") != 0)
            return -1;
        t->pii[i].start = p->start;
        t->pii[i].end = p->end;
    }
    t->n_pii = tr->n_pii;
    return 0;
}

static int
s_decode_assignment(kj_codec_t *self, const Kujo__V1__Assignment *as,
                    kj_assignment_t *a)
{
    if (S_COPY(self, a->team, as->team, "assignment.team") != 0 ||
        S_COPY(self, a->priority, as->priority, "assignment.priority") != 0 ||
        S_COPY(self, a->sla_policy, as->sla_policy, "assignment.sla_policy") !=
            0 ||
        S_COPY(self, a->webhook_url, as->webhook_url,
               "assignment.webhook_url") != 0 ||
        S_COPY(self, a->rule, as->rule, "assignment.rule") != 0 ||
        S_COPY(self, a->ack_template, as->ack_template,
               "assignment.ack_template") != 0 ||
        S_COPY(self, a->case_id, as->case_id, "assignment.case_id") != 0 ||
        S_COPY(self, a->assignee, as->assignee, "assignment.assignee") != 0 ||
        S_COPY(self, a->suggested_reply, as->suggested_reply,
               "assignment.suggested_reply") != 0)
        return -1;
    a->due_at_ms = as->due_at_ms;
    a->ack_due_at_ms = as->ack_due_at_ms;
    a->resolve_due_at_ms = as->resolve_due_at_ms;
    a->take_private = as->take_private;
    return 0;
}

int
kj_envelope_decode(kj_codec_t *self, const uint8_t *data, size_t len,
                   kj_envelope_t *env)
{
    memset(env, 0, sizeof *env);
    Kujo__V1__Envelope *e = (Kujo__V1__Envelope *)s_unpack(
        self, &kujo__v1__envelope__descriptor, data, len, "envelope");
    if (!e)
        return -1;
    int rc = -1;
    if (S_COPY(self, env->trace_id, e->trace_id, "trace_id") != 0)
        goto out;
    env->attempt = e->attempt;
    if (s_decode_complaint(self, e->complaint, &env->complaint) != 0)
        goto out;
    if (e->triage) {
        if (s_decode_triage(self, e->triage, &env->triage) != 0)
            goto out;
        env->has_triage = true;
    }
    if (e->assignment) {
        if (s_decode_assignment(self, e->assignment, &env->assignment) != 0)
            goto out;
        env->has_assignment = true;
    }
    if (s_count(self, e->n_deliveries, KJ_MAX_DELIVERIES, "deliveries") != 0)
        goto out;
    for (size_t i = 0; i < e->n_deliveries; i++) {
        const Kujo__V1__Delivery *s = e->deliveries[i];
        kj_delivery_t *d = &env->deliveries[i];
        if (S_COPY(self, d->kind, s->kind, "deliveries.kind") != 0 ||
            S_COPY(self, d->endpoint, s->endpoint, "deliveries.endpoint") !=
                0 ||
            S_COPY(self, d->status, s->status, "deliveries.status") != 0 ||
            S_COPY(self, d->error, s->error, "deliveries.error") != 0 ||
            S_COPY(self, d->idempotency_key, s->idempotency_key,
                   "deliveries.idempotency_key") != 0)
            goto out;
        d->attempts = s->attempts;
        d->http_status = s->http_status;
        d->at_ms = s->at_ms;
    }
    env->n_deliveries = e->n_deliveries;
    if (s_count(self, e->n_stages, KJ_MAX_STAGES, "stages") != 0)
        goto out;
    for (size_t i = 0; i < e->n_stages; i++) {
        const Kujo__V1__StageTime *s = e->stages[i];
        if (S_COPY(self, env->stages[i].stage, s->stage, "stages.stage") != 0)
            goto out;
        env->stages[i].in_ms = s->in_ms;
        env->stages[i].out_ms = s->out_ms;
    }
    env->n_stages = e->n_stages;
    rc = 0;
out:
    /* The arena is reset by the next decode; nothing to free. On failure
     * the caller must not see half a message. */
    if (rc != 0)
        memset(env, 0, sizeof *env);
    return rc;
}

int
kj_event_decode(kj_codec_t *self, const uint8_t *data, size_t len,
                kj_event_t *ev)
{
    memset(ev, 0, sizeof *ev);
    Kujo__V1__Event *e = (Kujo__V1__Event *)s_unpack(
        self, &kujo__v1__event__descriptor, data, len, "event");
    if (!e)
        return -1;
    int rc = -1;
    if (S_COPY(self, ev->complaint_id, e->complaint_id, "complaint_id") != 0)
        goto out;
    if (!kj_id_valid(ev->complaint_id)) {
        snprintf(self->err, sizeof self->err,
                 "complaint_id: not a valid id (%zu bytes)",
                 strlen(ev->complaint_id));
        goto out;
    }
    if (S_COPY(self, ev->state, e->state, "state") != 0 ||
        S_COPY(self, ev->stage, e->stage, "stage") != 0 ||
        S_COPY(self, ev->tenant, e->tenant, "tenant") != 0 ||
        S_COPY(self, ev->channel, e->channel, "channel") != 0 ||
        S_COPY(self, ev->language, e->language, "language") != 0 ||
        S_COPY(self, ev->category, e->category, "category") != 0 ||
        S_COPY(self, ev->sentiment, e->sentiment, "sentiment") != 0 ||
        S_COPY(self, ev->urgency, e->urgency, "urgency") != 0 ||
        S_COPY(self, ev->team, e->team, "team") != 0 ||
        S_COPY(self, ev->priority, e->priority, "priority") != 0 ||
        S_COPY(self, ev->reason, e->reason, "reason") != 0)
        goto out;
    ev->at_ms = e->at_ms;
    ev->e2e_ms = e->e2e_ms;
    ev->due_at_ms = e->due_at_ms;
    rc = 0;
out:
    if (rc != 0)
        memset(ev, 0, sizeof *ev);
    return rc;
}

/* ---- helpers on the plain structs ----------------------------------- */

void
kj_event_from_envelope(kj_event_t *ev, const kj_envelope_t *env,
                       const char *state, const char *stage, int64_t now_ms)
{
    memset(ev, 0, sizeof *ev);
    const kj_complaint_t *c = &env->complaint;
    kj_strlcpy(ev->complaint_id, c->id, sizeof ev->complaint_id);
    kj_strlcpy(ev->state, state, sizeof ev->state);
    kj_strlcpy(ev->stage, stage, sizeof ev->stage);
    ev->at_ms = now_ms;
    kj_strlcpy(ev->tenant, c->tenant, sizeof ev->tenant);
    kj_strlcpy(ev->channel, c->channel, sizeof ev->channel);
    if (env->has_triage) {
        kj_strlcpy(ev->language, env->triage.language, sizeof ev->language);
        kj_strlcpy(ev->category, env->triage.category, sizeof ev->category);
        kj_strlcpy(ev->sentiment, env->triage.sentiment, sizeof ev->sentiment);
        kj_strlcpy(ev->urgency, env->triage.urgency, sizeof ev->urgency);
    }
    if (env->has_assignment) {
        kj_strlcpy(ev->team, env->assignment.team, sizeof ev->team);
        kj_strlcpy(ev->priority, env->assignment.priority, sizeof ev->priority);
        ev->due_at_ms = env->assignment.due_at_ms;
    }
    /* An envelope that was never accepted has no clock to measure from. */
    ev->e2e_ms = c->accepted_at_ms > 0 ? now_ms - c->accepted_at_ms : 0;
}

void
kj_envelope_stamp(kj_envelope_t *env, const char *stage, int64_t in_ms,
                  int64_t out_ms)
{
    size_t n = env->n_stages < KJ_MAX_STAGES ? env->n_stages : KJ_MAX_STAGES;
    kj_stage_time_t *st = NULL;
    for (size_t i = 0; i < n && !st; i++)
        if (strncmp(env->stages[i].stage, stage, sizeof env->stages[i].stage) ==
            0)
            st = &env->stages[i];
    if (!st) {
        /* Full (more stages than the pipeline has): the newest wins. */
        if (n < KJ_MAX_STAGES)
            n++;
        st = &env->stages[n - 1];
        env->n_stages = n;
        kj_strlcpy(st->stage, stage, sizeof st->stage);
    }
    st->in_ms = in_ms;
    st->out_ms = out_ms;
}

kj_delivery_t *
kj_envelope_delivery(kj_envelope_t *env, const char *kind)
{
    size_t n = env->n_deliveries < KJ_MAX_DELIVERIES ? env->n_deliveries
                                                     : KJ_MAX_DELIVERIES;
    for (size_t i = 0; i < n; i++)
        if (strncmp(env->deliveries[i].kind, kind,
                    sizeof env->deliveries[i].kind) == 0)
            return &env->deliveries[i];
    /* Full: reuse the last slot rather than fail; the pipeline has fewer
     * delivery kinds than slots, so this only guards against misuse. */
    if (n < KJ_MAX_DELIVERIES)
        n++;
    kj_delivery_t *d = &env->deliveries[n - 1];
    env->n_deliveries = n;
    memset(d, 0, sizeof *d);
    kj_strlcpy(d->kind, kind, sizeof d->kind);
    return d;
}

const char *
kj_envelope_quarantine(const kj_envelope_t *env)
{
    if (env->complaint.noise[0])
        return "noise";
    if (env->has_triage && env->triage.spam)
        return "spam";
    return NULL;
}
