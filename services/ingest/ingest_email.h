/* ingest_email: a raw RFC 822 message (as an inbound mail connector hands
 * it over) -> the fields of an e-mail complaint: sender, decoded subject,
 * the customer's own words in UTF-8 (quoted history and signature cut),
 * threading ids, attachments (described, never kept) and a noise label.
 * Pure: no I/O, no clock, no global state beyond GMime's one-time init, so
 * it is unit-tested and fuzzed. Not an HTTP route: the inbound route
 * framework calls ingest_email_parse on the body it received and posts
 * ingest_email_complaint's JSON like any POST /v1/complaints body.
 *
 * The complaint JSON carries the noise label, the thread (In-Reply-To,
 * then References newest first: "references") and the attachments'
 * descriptions; the router keeps noise out of cases and replies, and
 * joins a reply to the case of the message it answers. */
#ifndef INGEST_EMAIL_H
#define INGEST_EMAIL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "ingest_validate.h"
#include "kj_envelope.h"

/* Bytes of a raw message accepted (attachments included; the usual MTA
 * limit). A route may well refuse less before calling. */
#define INGEST_EMAIL_RAW_MAX (25 * 1024 * 1024)
#define INGEST_EMAIL_REFS_MAX 4   /* References kept: the root + 3 latest */
#define INGEST_EMAIL_ATTACH_MAX 8 /* attachments described */
#define INGEST_EMAIL_LANG_MAX 16

/* Why a message is not a customer writing to us. */
typedef enum {
    INGEST_EMAIL_NOISE_NONE = 0, /* "none" */
    INGEST_EMAIL_AUTO_REPLY, /* "auto_reply": out of office, autoresponder */
    INGEST_EMAIL_BULK,       /* "bulk": lists, newsletters */
    INGEST_EMAIL_BOUNCE,     /* "bounce": a delivery status notification */
} ingest_email_noise_t;

/* One attachment as described by the message; its content is not kept. */
typedef struct {
    char name[KJ_NAME_MAX];  /* decoded file name, "" when it has none */
    char type[KJ_SHORT_MAX]; /* "application/pdf" */
    size_t size;             /* decoded bytes */
} ingest_email_attachment_t;

typedef struct {
    char message_id[KJ_NAME_MAX];  /* without <>; "" when absent */
    char in_reply_to[KJ_NAME_MAX]; /* without <>; "" when absent */
    /* The thread's root first, then the latest ancestors: enough to find
     * the case a reply belongs to without keeping a long chain. */
    char references[INGEST_EMAIL_REFS_MAX][KJ_NAME_MAX];
    size_t n_references;
    char from_addr[KJ_NAME_MAX];      /* "taro@example.jp", as written */
    char from_name[KJ_NAME_MAX];      /* decoded display name, or "" */
    char subject[KJ_SUBJECT_MAX + 1]; /* decoded UTF-8, one line, or "" */
    char text[KJ_TEXT_MAX + 1];       /* UTF-8, history cut, trimmed */
    bool text_truncated;              /* cut at KJ_TEXT_MAX */
    bool text_from_html;              /* no text/plain part: HTML made text */
    char lang[INGEST_EMAIL_LANG_MAX]; /* "ja" from charset or header, or "" */
    ingest_email_attachment_t attachments[INGEST_EMAIL_ATTACH_MAX];
    size_t n_attachments;       /* described in attachments[] */
    size_t n_attachments_total; /* all of them, may exceed the array */
    ingest_email_noise_t noise;
} ingest_email_t;

/* Parse raw[len] and fill *out (zeroed first). Returns 0, or -1 with *err
 * set: body_too_large (413) over INGEST_EMAIL_RAW_MAX, invalid_value (400)
 * when the bytes are not a message, missing_field (400) without a From
 * address, empty_text (400) when nothing is left once history and
 * signature are cut. Noise is labelled, not refused. Never asserts on
 * input; thread-safe. */
int
ingest_email_parse(const char *raw, size_t len, ingest_email_t *out,
                   ingest_error_t *err);

/* The public complaint body for a parsed message: channel "email",
 * customer {id: From lower-cased, name, email}, subject, text, lang,
 * external_id: Message-ID. Caller owns the result (json_decref). */
json_t *
ingest_email_complaint(const ingest_email_t *mail);

/* The stable name of a noise label: "none", "auto_reply", "bulk",
 * "bounce". */
const char *
ingest_email_noise_name(ingest_email_noise_t noise);

#endif
