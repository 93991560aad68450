/* ingest_inbound: signed webhooks from messaging and social platforms
 * (POST /v1/inbound/<adapter>), turned into public complaint bodies.
 *
 * The framework owns what every adapter shares: the route, the adapter's
 * configuration (an adapter without a secret is off: 404), signature
 * verification before anything parses the body, validation of each
 * complaint with the POST /v1/complaints validator, and the answer. An
 * adapter is a row of s_adapters in ingest_inbound.c: a verifier and a
 * pure parser (raw body -> list of complaint JSON objects, each with an
 * idempotency key derived from the source's own event id), in a file of
 * its own (ingest_inbound_line.c, _meta.c, _social.c). No I/O here: the
 * API (ingest_api) writes the complaints through the same batch as
 * POST /v1/complaints, record before answer. */
#ifndef INGEST_INBOUND_H
#define INGEST_INBOUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ingest_validate.h"
#include "kj_id.h"
#include "kj_metrics.h"

#define INGEST_INBOUND_PREFIX "/v1/inbound/"
#define INGEST_INBOUND_MAX_ITEMS 256 /* complaints in one delivery */
#define INGEST_INBOUND_SOURCE_MAX 32 /* bytes of a social source's name */
#define INGEST_INBOUND_SECRET_MAX 256
#define INGEST_INBOUND_SOURCES_MAX 16 /* sources in KUJO_SOCIAL_SECRETS */

/* One complaint of a delivery. */
typedef struct {
    json_t *complaint;                 /* a POST /v1/complaints body (owned) */
    char key[INGEST_IDEM_KEY_MAX + 1]; /* idempotency key: "line:<event>" */
    int result;                        /* after the write: as the batch's */
    char id[KJ_ID_LEN + 1];            /* after the write: its complaint */
} ingest_inbound_item_t;

/* What a parser made of one delivery. */
typedef struct {
    ingest_inbound_item_t *items; /* [n] of [cap] */
    size_t n, cap;
    size_t ignored; /* events acknowledged but not complaints (follow, ...) */
} ingest_inbound_list_t;

/* Append a complaint (ownership of *complaint is taken, the pointer
 * cleared) under the idempotency key "<kind>:<id>". -1 with *err set if
 * the key would be too long or not printable ASCII, or the delivery holds
 * too many complaints; the complaint is freed either way on failure. */
int
ingest_inbound_list_add(ingest_inbound_list_t *self, json_t **complaint,
                        const char *kind, const char *id, ingest_error_t *err);

/* Free every item (the storage is kept for reuse). */
void
ingest_inbound_list_clear(ingest_inbound_list_t *self);

/* Free everything. */
void
ingest_inbound_list_free(ingest_inbound_list_t *self);

/* A parser: a verified raw body -> complaints appended to out. source is
 * the verified sender ("" unless the adapter has several, as social
 * does). 0, or -1 with *err (a 4xx with a stable code). Pure. */
typedef int (*ingest_inbound_parse_fn)(const char *body, size_t len,
                                       const char *source,
                                       ingest_inbound_list_t *out,
                                       ingest_error_t *err);

/* Reads one request header (or query argument) by name, case-insensitive
 * for headers; NULL if absent. ctx is the caller's (an MHD connection). */
typedef const char *(*ingest_inbound_get_fn)(void *ctx, const char *name);

/* The settings (KUJO_LINE_CHANNEL_SECRET, ...); NULL or "" leaves an
 * adapter off. Strings are copied. */
typedef struct {
    const char *line_secret;       /* LINE channel secret */
    const char *meta_secret;       /* Meta app secret */
    const char *meta_verify_token; /* the GET handshake's hub.verify_token */
    const char *social_secrets;    /* "x=secret1,reviews=secret2" */
    const char *tenant;            /* tenant of every inbound complaint */
    int64_t tolerance_s;           /* social timestamp skew allowed */
} ingest_inbound_opts_t;

typedef struct ingest_inbound ingest_inbound_t;
typedef struct ingest_inbound_adapter ingest_inbound_adapter_t;

/* The framework with its settings; counters go to metrics (borrowed, may
 * be NULL). NULL with msg[size] set if social_secrets is malformed. */
ingest_inbound_t *
ingest_inbound_new(const ingest_inbound_opts_t *opts, kj_metrics_t *metrics,
                   char *msg, size_t size);

void
ingest_inbound_destroy(ingest_inbound_t **self_p);

/* Check KUJO_SOCIAL_SECRETS syntax: "<source>=<secret>[,...]", source
 * [a-z0-9_-]{1,32}, secret 1..256 bytes without ',', no source twice.
 * 0, or -1 with msg[size] saying what is wrong (never the secret). */
int
ingest_inbound_check_secrets(const char *spec, char *msg, size_t size);

/* The adapter a request path names ("/v1/inbound/line"), or NULL. */
const ingest_inbound_adapter_t *
ingest_inbound_match(const char *url);

/* The adapter's name ("line"): its path segment and metric label. */
const char *
ingest_inbound_name(const ingest_inbound_adapter_t *a);

/* True if a's secret is set (an adapter without one answers 404). */
bool
ingest_inbound_enabled(const ingest_inbound_t *self,
                       const ingest_inbound_adapter_t *a);

/* True if a is authenticated by an API key (scope inbound:<name>, the
 * key's tenant) rather than a signature: the caller checks the key before
 * the body, and passes the key's tenant to ingest_inbound_handle_as. */
bool
ingest_inbound_by_key(const ingest_inbound_adapter_t *a);

/* The Content-Type a's body must have ("message/rfc822"), or NULL for
 * JSON adapters (checked by their parsers). */
const char *
ingest_inbound_content_type(const ingest_inbound_adapter_t *a);

/* True if a answers GET (a subscription handshake). */
bool
ingest_inbound_has_get(const ingest_inbound_adapter_t *a);

/* The tenant of inbound complaints. */
const char *
ingest_inbound_tenant(const ingest_inbound_t *self);

/* A complete POST: verify the signature over the raw body first (401
 * bad_signature, nothing parsed), then parse, then validate each
 * complaint as POST /v1/complaints would under the inbound tenant.
 * now_s is the wall clock in seconds. 0 with out filled, or -1 with *err.
 * Counts outcomes in the metrics. */
int
ingest_inbound_handle(ingest_inbound_t *self, const ingest_inbound_adapter_t *a,
                      ingest_inbound_get_fn header, void *ctx, const char *body,
                      size_t len, int64_t now_s, ingest_inbound_list_t *out,
                      ingest_error_t *err);

/* ingest_inbound_handle for a key-authenticated adapter: the complaints
 * are validated under tenant (the key's) instead of the inbound tenant. */
int
ingest_inbound_handle_as(ingest_inbound_t *self,
                         const ingest_inbound_adapter_t *a, const char *tenant,
                         ingest_inbound_get_fn header, void *ctx,
                         const char *body, size_t len, int64_t now_s,
                         ingest_inbound_list_t *out, ingest_error_t *err);

/* A GET handshake: the status (200 or 403) and, on 200, the text to
 * answer in *answer (borrowed from query's storage). */
unsigned
ingest_inbound_get(const ingest_inbound_t *self,
                   const ingest_inbound_adapter_t *a,
                   ingest_inbound_get_fn query, void *ctx, const char **answer,
                   ingest_error_t *err);

/* The 200 answer of a written delivery: {"recorded":n,"duplicates":n,
 * "ignored":n,"ids":[...]}. Caller frees. */
char *
ingest_inbound_answer(const ingest_inbound_list_t *list);

/* Count complaints written by the batch for a. */
void
ingest_inbound_count_written(ingest_inbound_t *self,
                             const ingest_inbound_adapter_t *a, size_t created,
                             size_t duplicates);

/* ------------------------------------------------------------------ */
/* Verifiers and parsers, exposed for the unit tests and fuzz targets. */

/* Constant-time check of a LINE x-line-signature value: base64 of
 * HMAC-SHA256(secret, body). */
bool
ingest_inbound_verify_line(const char *secret, const char *header,
                           const char *body, size_t len);

/* X-Hub-Signature-256: "sha256=<hex HMAC-SHA256(secret, body)>". */
bool
ingest_inbound_verify_meta(const char *secret, const char *header,
                           const char *body, size_t len);

/* X-Kujo-Signature: "sha256=<hex HMAC-SHA256(secret, "<ts>.<body>")>",
 * ts the X-Kujo-Timestamp value (decimal seconds) within tolerance_s of
 * now_s either way. */
bool
ingest_inbound_verify_social(const char *secret, const char *ts,
                             const char *header, const char *body, size_t len,
                             int64_t now_s, int64_t tolerance_s);

int
ingest_inbound_parse_line(const char *body, size_t len, const char *source,
                          ingest_inbound_list_t *out, ingest_error_t *err);

int
ingest_inbound_parse_meta(const char *body, size_t len, const char *source,
                          ingest_inbound_list_t *out, ingest_error_t *err);

/* A raw RFC 822 message (ingest_email) -> one complaint keyed
 * "email:<Message-ID>" (or its digest); an auto-reply, list mail or bounce
 * is counted as ignored, not a complaint. */
int
ingest_inbound_parse_email(const char *body, size_t len, const char *source,
                           ingest_inbound_list_t *out, ingest_error_t *err);

int
ingest_inbound_parse_social(const char *body, size_t len, const char *source,
                            ingest_inbound_list_t *out, ingest_error_t *err);

/* Shared by the parsers: load body as one JSON object (invalid_utf8,
 * invalid_json, wrong_type on failure). NULL with *err set. */
json_t *
ingest_inbound_load(const char *body, size_t len, ingest_error_t *err);

/* Shared by the parsers: obj[key] of JSON type want (JSON_TRUE stands
 * for either boolean) into *out, borrowed. Absent or null: *out NULL, and
 * -1 (missing_field) if required. Another type: -1 (wrong_type). where
 * names obj in messages ("events[0].message"). */
int
ingest_inbound_field(const json_t *obj, const char *key, json_type want,
                     bool required, const char *where, json_t **out,
                     ingest_error_t *err);

#endif
