/* notifier_payload: what a team alert says and how it is signed, as pure
 * functions of the envelope (docs/ARCHITECTURE.md, "Team alert webhook"),
 * so that the wire format is unit-tested without a network. */
#ifndef NOTIFIER_PAYLOAD_H
#define NOTIFIER_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kj_envelope.h"

#define NOTIFIER_KIND_TEAM_ALERT "team_alert"

/* The signature header value is "t=<20 digits>,v1=<64 hex>". */
#define NOTIFIER_SIGNATURE_MAX 128

/* Request headers of one delivery (values only; names are fixed). */
typedef struct {
    char content_type[32];                  /* application/json */
    char user_agent[32];                    /* kujo/<version> */
    char idempotency_key[KJ_ID_LEN + 40];   /* <id>:<kind> */
    char signature[NOTIFIER_SIGNATURE_MAX]; /* "" when no secret */
} notifier_headers_t;

/* The one-line, Slack-compatible summary of a team alert into out[size]:
 * "[p2] outage complaint (ja, x) for care-ja, first reply due <time>".
 * Parts that are unknown are left out; never complaint text. Slack's
 * control characters (& < >) are escaped. Returns strlen of the result. */
size_t
notifier_summary(const kj_envelope_t *env, char *out, size_t size);

/* The team alert JSON body (compact, field order as documented). Strings
 * that are not valid UTF-8 have their non-ASCII bytes replaced by '?'.
 * Caller frees; *len gets the length. */
char *
notifier_payload(const kj_envelope_t *env, size_t *len);

/* "<complaint id>:<kind>" into out[size]. Returns its length, or -1 if it
 * does not fit. */
int
notifier_idempotency_key(const kj_envelope_t *env, const char *kind, char *out,
                         size_t size);

/* Every header value for body, signed at unix time now_s with secret (NULL
 * or "": no signature). Returns 0, or -1 if a value does not fit. */
int
notifier_headers(notifier_headers_t *h, const kj_envelope_t *env,
                 const char *kind, const char *secret, int64_t now_s,
                 const char *body, size_t body_len);

#endif
