/* kj_envelope: the envelope as plain C structs with fixed-size fields, and
 * the codec to and from the protobuf wire format (proto/kujo/v1). This is
 * the only module that touches protobuf-c's generated names. Decoding into
 * a caller's struct allocates nothing per message: protobuf-c unpacks into
 * an arena owned by the codec. */
#ifndef KJ_ENVELOPE_H
#define KJ_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kj_id.h"

#define KJ_TEXT_MAX 8192 /* bytes of complaint text accepted */
#define KJ_SUBJECT_MAX 512
#define KJ_SHORT_MAX 64 /* channel, tenant, labels, states, team */
#define KJ_NAME_MAX 256 /* customer id, name, email, external id */
#define KJ_URL_MAX 512
#define KJ_ERRMSG_MAX 256
#define KJ_REPLY_MAX 2048 /* bytes of a suggested reply */
#define KJ_MAX_PII 32
#define KJ_MAX_DELIVERIES 8
#define KJ_MAX_STAGES 8
#define KJ_MAX_REFS 8        /* conversation references kept, newest first */
#define KJ_MAX_ATTACHMENTS 8 /* attachments described */
#define KJ_REF_MAX 256       /* bytes of one reference (a Message-ID) */
#define KJ_ENVELOPE_WIRE_MAX (64 * 1024) /* larger input is rejected */

typedef struct {
    char id[KJ_NAME_MAX];
    char tier[KJ_SHORT_MAX];
    char name[KJ_NAME_MAX];
    char email[KJ_NAME_MAX];
} kj_customer_t;

/* A survey answer a complaint's text is the comment of (Complaint field
 * 15); kind "" when the complaint is not one. */
typedef struct {
    char kind[8];                     /* "nps", "csat" or "" */
    int32_t score;                    /* nps 0..10, csat 1..5 */
    char case_id[KJ_ID_LEN + 1];      /* the case the survey was about */
    char complaint_id[KJ_ID_LEN + 1]; /* that case's first complaint */
} kj_feedback_t;

typedef struct {
    char name[KJ_NAME_MAX];
    char content_type[KJ_SHORT_MAX];
    uint64_t size;
} kj_attachment_t;

typedef struct {
    char id[KJ_ID_LEN + 1];
    char tenant[KJ_SHORT_MAX];
    char channel[KJ_SHORT_MAX];
    kj_customer_t customer;
    char text[KJ_TEXT_MAX + 1];
    char subject[KJ_SUBJECT_MAX + 1];
    bool is_public;
    char lang_hint[16];
    char external_id[KJ_NAME_MAX];
    int64_t received_at_ms;
    int64_t accepted_at_ms;
    char noise[16]; /* auto_reply, bulk, bounce; "" a customer writing */
    char references[KJ_MAX_REFS][KJ_REF_MAX];
    size_t n_references;
    kj_attachment_t attachments[KJ_MAX_ATTACHMENTS];
    size_t n_attachments;
    kj_feedback_t feedback; /* a survey comment's answer (kind "": none) */
} kj_complaint_t;

typedef struct {
    char kind[16]; /* email, phone, card */
    uint32_t start, end;
} kj_pii_span_t;

typedef struct {
    char language[16];
    float language_confidence;
    char sentiment[16];
    float sentiment_score;
    float sentiment_confidence;
    char category[KJ_SHORT_MAX];
    float category_confidence;
    char urgency[16];
    float urgency_confidence;
    bool actionable;
    float actionable_confidence;
    char masked_text[KJ_TEXT_MAX + 1];
    kj_pii_span_t pii[KJ_MAX_PII];
    size_t n_pii;
    char reason[KJ_SHORT_MAX];
    char model[KJ_SHORT_MAX];
    bool spam;             /* the spam model's verdict (never dropped) */
    float spam_confidence; /* its P(spam), 0 when it did not run */
} kj_triage_t;

typedef struct {
    char team[KJ_SHORT_MAX];
    char priority[8];
    char sla_policy[KJ_SHORT_MAX];
    int64_t due_at_ms;
    char webhook_url[KJ_URL_MAX];
    char rule[KJ_SHORT_MAX];
    int64_t resolve_due_at_ms;
    char ack_template[KJ_SHORT_MAX];
    bool take_private;
    char case_id[KJ_ID_LEN + 1];
    char assignee[KJ_SHORT_MAX];
    int64_t ack_due_at_ms;
    char suggested_reply[KJ_REPLY_MAX + 1];
} kj_assignment_t;

typedef struct {
    char kind[32];
    char endpoint[KJ_URL_MAX];
    char status[16];
    int32_t attempts;
    int32_t http_status;
    char error[KJ_ERRMSG_MAX];
    int64_t at_ms;
    char idempotency_key[KJ_ID_LEN + 40];
} kj_delivery_t;

typedef struct {
    char stage[16];
    int64_t in_ms, out_ms;
} kj_stage_time_t;

typedef struct {
    char trace_id[33];
    uint32_t attempt;
    kj_complaint_t complaint;
    bool has_triage;
    kj_triage_t triage;
    bool has_assignment;
    kj_assignment_t assignment;
    kj_delivery_t deliveries[KJ_MAX_DELIVERIES];
    size_t n_deliveries;
    kj_stage_time_t stages[KJ_MAX_STAGES];
    size_t n_stages;
} kj_envelope_t;

/* A state transition, for the analytics event streams. */
typedef struct {
    char complaint_id[KJ_ID_LEN + 1];
    char state[16];
    char stage[16];
    int64_t at_ms;
    char tenant[KJ_SHORT_MAX];
    char channel[KJ_SHORT_MAX];
    char language[16];
    char category[KJ_SHORT_MAX];
    char sentiment[16];
    char urgency[16];
    char team[KJ_SHORT_MAX];
    char priority[8];
    int64_t e2e_ms;
    char reason[KJ_ERRMSG_MAX];
    int64_t due_at_ms;
} kj_event_t;

typedef struct kj_codec kj_codec_t;

/* A codec with its own arena and output buffer; one per thread. */
kj_codec_t *
kj_codec_new(void);

void
kj_codec_destroy(kj_codec_t **self_p);

/* Encode env into the codec's buffer; *out is valid until the next encode
 * on this codec. Returns the length, or -1 if it exceeds
 * KJ_ENVELOPE_WIRE_MAX. */
int
kj_envelope_encode(kj_codec_t *self, const kj_envelope_t *env,
                   const uint8_t **out);

/* Decode wire bytes into *env (zeroed first). Returns 0, or -1 with a
 * precise message in the codec's error (kj_codec_error): not protobuf,
 * oversize, a field longer than its limit, a missing complaint id. */
int
kj_envelope_decode(kj_codec_t *self, const uint8_t *data, size_t len,
                   kj_envelope_t *env);

int
kj_event_encode(kj_codec_t *self, const kj_event_t *ev, const uint8_t **out);

int
kj_event_decode(kj_codec_t *self, const uint8_t *data, size_t len,
                kj_event_t *ev);

/* The last decode error message (borrowed). */
const char *
kj_codec_error(const kj_codec_t *self);

/* Fill an event for env entering state at now_ms, made by stage. */
void
kj_event_from_envelope(kj_event_t *ev, const kj_envelope_t *env,
                       const char *state, const char *stage, int64_t now_ms);

/* Record that stage took env in at in_ms and let it out at out_ms
 * (replaces an earlier entry of the same stage: a retry restamps). */
void
kj_envelope_stamp(kj_envelope_t *env, const char *stage, int64_t in_ms,
                  int64_t out_ms);

/* Why env is kept out of cases, customer replies and team alerts: "noise"
 * (ingest's label: nobody wrote it) or "spam" (the classifier's); NULL for
 * a customer's message. The router files these in the queue of that name;
 * they are recorded and counted, never dropped. */
const char *
kj_envelope_quarantine(const kj_envelope_t *env);

/* Append or update (same kind) a delivery; returns it. */
kj_delivery_t *
kj_envelope_delivery(kj_envelope_t *env, const char *kind);

#endif
