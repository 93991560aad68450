/* ingest_validate: outside input -> a kj_complaint_t, or a precise error
 * with the HTTP status and the stable code of docs/ARCHITECTURE.md. Pure:
 * no I/O, no clock, no global state, so it is unit-tested and fuzzed. */
#ifndef INGEST_VALIDATE_H
#define INGEST_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kj_envelope.h"
#include "kj_rc.h"

#define INGEST_IDEM_KEY_MAX 200 /* bytes of an Idempotency-Key header */
#define INGEST_CODE_MAX 32
#define INGEST_MSG_MAX 256

/* Why a request was refused. */
typedef struct {
    kj_rc_t rc;                   /* KJ_ERR_WRONG_TYPE */
    unsigned status;              /* its HTTP status: 400, 413, 415 */
    char code[INGEST_CODE_MAX];   /* its kj_rc name: "wrong_type" */
    char message[INGEST_MSG_MAX]; /* printable ASCII; never complaint text */
} ingest_error_t;

/* Parse and check a POST /v1/complaints body and fill *out (zeroed first;
 * id and accepted_at_ms are left for the caller, received_at_ms is 0 when
 * the body has no received_at, tenant is "default" when it has none).
 * Returns 0, or -1 with *err set. Never asserts on input. */
int
ingest_validate_complaint(const char *body, size_t len, kj_complaint_t *out,
                          ingest_error_t *err);

/* The same for a caller whose API key belongs to key_tenant (NULL: open
 * mode, as ingest_validate_complaint): the tenant is the key's; a body
 * "tenant" naming another one is 403 forbidden. */
int
ingest_validate_complaint_as(const char *body, size_t len,
                             const char *key_tenant, kj_complaint_t *out,
                             ingest_error_t *err);

/* Check an Idempotency-Key header value: 1..200 printable ASCII bytes.
 * Returns 0, or -1 with *err set (400 invalid_idempotency_key). */
int
ingest_validate_idem_key(const char *key, ingest_error_t *err);

/* Check a Content-Type header: application/json, optionally with
 * charset=utf-8. NULL (no header) is refused. 0, or -1 with *err (415). */
/* True if type is want (case-insensitive) with at most a charset=utf-8
 * parameter (quoted or not), as JSON bodies must be. */
bool
ingest_media_type_is(const char *type, const char *want);

int
ingest_validate_content_type(const char *type, ingest_error_t *err);

/* True if channel[len] is one of the channels the API accepts. */
bool
ingest_channel_known(const char *channel, size_t len);

/* Parse an RFC 3339 time ("2026-11-23T09:00:00.000Z", any offset) into
 * milliseconds since the epoch. 0, or -1 if malformed or out of range. */
int
ingest_parse_time(const char *s, size_t len, int64_t *ms);

/* True if s[len] (valid UTF-8) holds nothing but white space. */
bool
ingest_only_space(const char *s, size_t len);

/* Set *err to rc, its HTTP status and its kj_rc name as the code; the
 * message is formatted then made printable ASCII. rc must be one with an
 * HTTP status (kj_rc_http_status). */
void
ingest_error_set(ingest_error_t *err, kj_rc_t rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
