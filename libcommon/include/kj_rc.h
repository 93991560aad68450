/* kj_rc: the one vocabulary of outcomes. Every expected failure and every
 * non-success outcome a service reports has a value here; kj_rc_name()
 * gives its stable snake_case name, used verbatim as the first word of a
 * dead-letter reason ("http_error: HTTP 503 after 5 attempts"), as a
 * metric reason label, as the "code" of an HTTP error body and in log
 * fields. Values are only ever appended, and a name never changes once
 * shipped: alert rules, dashboards and clients match on them. */
#ifndef KJ_RC_H
#define KJ_RC_H

#include <stddef.h>

typedef enum {
    KJ_OK = 0,
    KJ_ERR_INVALID,      /* "invalid" */
    KJ_ERR_NOMEM,        /* "no_memory" */
    KJ_ERR_REDIS,        /* "redis_error" */
    KJ_ERR_ZMQ,          /* "zmq_error" */
    KJ_ERR_DECODE,       /* "decode_error" (HTTP 500) */
    KJ_ERR_STALE,        /* "stale" */
    KJ_ERR_TIMEOUT,      /* "timeout" */
    KJ_ERR_HTTP,         /* "http_error" */
    KJ_ERR_MAX_ATTEMPTS, /* "max_attempts" */
    KJ_ERR_CONFIG,       /* "config_error" */
    KJ_ERR_TOO_BIG,      /* "too_big" */
    KJ_ERR_IO,           /* "io_error" */
    /* Stage outcomes that are not errors of their own (metric labels). */
    KJ_RETRY,    /* "retry": will be tried again later */
    KJ_DEAD,     /* "dead": dead-lettered */
    KJ_DEFERRED, /* "deferred": held back, no attempt spent */
    KJ_ERR_PUSH, /* "push_failed": downstream did not take it */
    /* Notifier and stage dead-letter reasons. */
    KJ_ERR_BUSY,          /* "busy": every delivery slot in use */
    KJ_ERR_CIRCUIT_OPEN,  /* "circuit_open": the endpoint's breaker */
    KJ_ERR_STAGE_TIMEOUT, /* "stage_timeout": a stage never finished */
    KJ_ERR_INTERNAL,      /* "internal_error" (HTTP 500) */
    /* HTTP API error codes (ingest, analytics); documented in README.md. */
    KJ_ERR_UNAVAILABLE,            /* "unavailable" (503) */
    KJ_ERR_NOT_FOUND,              /* "not_found" (404) */
    KJ_ERR_METHOD_NOT_ALLOWED,     /* "method_not_allowed" (405) */
    KJ_ERR_BODY_TOO_LARGE,         /* "body_too_large" (413) */
    KJ_ERR_NO_SUCH_COMPLAINT,      /* "no_such_complaint" (404) */
    KJ_ERR_NOT_DEAD,               /* "not_dead" (409) */
    KJ_ERR_UNSUPPORTED_MEDIA_TYPE, /* "unsupported_media_type" (415) */
    KJ_ERR_INVALID_IDEM_KEY,       /* "invalid_idempotency_key" (400) */
    KJ_ERR_INVALID_JSON,           /* "invalid_json" (400) */
    KJ_ERR_INVALID_UTF8,           /* "invalid_utf8" (400) */
    KJ_ERR_WRONG_TYPE,             /* "wrong_type" (400) */
    KJ_ERR_MISSING_FIELD,          /* "missing_field" (400) */
    KJ_ERR_UNKNOWN_FIELD,          /* "unknown_field" (400) */
    KJ_ERR_FIELD_TOO_LONG,         /* "field_too_long" (400) */
    KJ_ERR_TEXT_TOO_LONG,          /* "text_too_long" (413) */
    KJ_ERR_EMPTY_TEXT,             /* "empty_text" (400) */
    KJ_ERR_UNKNOWN_CHANNEL,        /* "unknown_channel" (400) */
    KJ_ERR_INVALID_TIME,           /* "invalid_time" (400) */
    /* Security and framing (issue 10); documented in README.md. */
    KJ_ERR_UNAUTHORIZED,    /* "unauthorized" (401): no or unknown key */
    KJ_ERR_FORBIDDEN,       /* "forbidden" (403): key lacks the scope */
    KJ_ERR_RATE_LIMITED,    /* "rate_limited" (429) + Retry-After */
    KJ_ERR_INVALID_HEADER,  /* "invalid_header" (400) */
    KJ_ERR_BAD_REQUEST,     /* "bad_request" (400): framing, e.g. no Host */
    KJ_ERR_NOT_IMPLEMENTED, /* "not_implemented" (501): Transfer-Encoding */
    KJ_ERR_OUTCOME_UNKNOWN, /* "outcome_unknown" (503): retry, same key */
    KJ_ERR_FORGED,          /* "forged": a message not matching the record */
    KJ_ERR_TOO_SLOW,        /* "too_slow" (408): headers or body too slow */
    /* Cases and agents (issue 11). */
    KJ_ERR_NO_SUCH_CASE,       /* "no_such_case" (404) */
    KJ_ERR_NO_SUCH_AGENT,      /* "no_such_agent" (404 on its path, 422
                                  when named in a body) */
    KJ_ERR_NO_SUCH_CUSTOMER,   /* "no_such_customer" (404) */
    KJ_ERR_ILLEGAL_TRANSITION, /* "illegal_transition" (409) */
    KJ_ERR_AT_CAPACITY,        /* "at_capacity" (409): agent is full */
    KJ_ERR_INVALID_VALUE,      /* "invalid_value" (400) */
    KJ_ERR_NOT_IN_TEAM, /* "not_in_team" (409): assign outside the team */
    /* Inbound webhooks (issue 13). */
    KJ_ERR_BAD_SIGNATURE, /* "bad_signature" (401): webhook not signed by
                             its source's secret, or signed too long ago */
    /* Surveys (issue 13, POST /v1/feedback). */
    KJ_ERR_BAD_TOKEN,  /* "bad_token" (401): survey token forged, expired,
                          truncated or not ours */
    KJ_ERR_TOKEN_USED, /* "token_used" (409): answered already, otherwise */
    KJ_RC_COUNT
} kj_rc_t;

/* The stable name of rc; "unknown" for a value outside the enum. */
const char *
kj_rc_name(kj_rc_t rc);

/* The HTTP status an error body with this code carries, or 0 if rc never
 * reaches an HTTP client. */
unsigned
kj_rc_http_status(kj_rc_t rc);

/* Write "<name>: <detail>" into out[size] (always NUL-terminated, cut if
 * too long): the shape of every dead-letter reason and last_error, so that
 * operators and metrics can group them by the part before the colon and
 * still read the detail. fmt formats the detail. */
void
kj_rc_reason(char *out, size_t size, kj_rc_t rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
