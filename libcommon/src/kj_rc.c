/* kj_rc: one table, so a value cannot get a name without a status
 * decision and the unit test can check every row. */
#include "kj_rc.h"

#include <stdarg.h>
#include <stdio.h>

typedef struct {
    const char *name;
    unsigned http_status; /* 0: never an HTTP error code */
} s_rc_row_t;

static const s_rc_row_t s_rc[KJ_RC_COUNT] = {
    [KJ_OK] = {"ok", 0},
    [KJ_ERR_INVALID] = {"invalid", 0},
    [KJ_ERR_NOMEM] = {"no_memory", 0},
    [KJ_ERR_REDIS] = {"redis_error", 0},
    [KJ_ERR_ZMQ] = {"zmq_error", 0},
    [KJ_ERR_DECODE] = {"decode_error", 500},
    [KJ_ERR_STALE] = {"stale", 0},
    [KJ_ERR_TIMEOUT] = {"timeout", 0},
    [KJ_ERR_HTTP] = {"http_error", 0},
    [KJ_ERR_MAX_ATTEMPTS] = {"max_attempts", 0},
    [KJ_ERR_CONFIG] = {"config_error", 0},
    [KJ_ERR_TOO_BIG] = {"too_big", 0},
    [KJ_ERR_IO] = {"io_error", 0},
    [KJ_RETRY] = {"retry", 0},
    [KJ_DEAD] = {"dead", 0},
    [KJ_DEFERRED] = {"deferred", 0},
    [KJ_ERR_PUSH] = {"push_failed", 0},
    [KJ_ERR_BUSY] = {"busy", 0},
    [KJ_ERR_CIRCUIT_OPEN] = {"circuit_open", 0},
    [KJ_ERR_STAGE_TIMEOUT] = {"stage_timeout", 0},
    [KJ_ERR_INTERNAL] = {"internal_error", 500},
    [KJ_ERR_UNAVAILABLE] = {"unavailable", 503},
    [KJ_ERR_NOT_FOUND] = {"not_found", 404},
    [KJ_ERR_METHOD_NOT_ALLOWED] = {"method_not_allowed", 405},
    [KJ_ERR_BODY_TOO_LARGE] = {"body_too_large", 413},
    [KJ_ERR_NO_SUCH_COMPLAINT] = {"no_such_complaint", 404},
    [KJ_ERR_NOT_DEAD] = {"not_dead", 409},
    [KJ_ERR_UNSUPPORTED_MEDIA_TYPE] = {"unsupported_media_type", 415},
    [KJ_ERR_INVALID_IDEM_KEY] = {"invalid_idempotency_key", 400},
    [KJ_ERR_INVALID_JSON] = {"invalid_json", 400},
    [KJ_ERR_INVALID_UTF8] = {"invalid_utf8", 400},
    [KJ_ERR_WRONG_TYPE] = {"wrong_type", 400},
    [KJ_ERR_MISSING_FIELD] = {"missing_field", 400},
    [KJ_ERR_UNKNOWN_FIELD] = {"unknown_field", 400},
    [KJ_ERR_FIELD_TOO_LONG] = {"field_too_long", 400},
    [KJ_ERR_TEXT_TOO_LONG] = {"text_too_long", 413},
    [KJ_ERR_EMPTY_TEXT] = {"empty_text", 400},
    [KJ_ERR_UNKNOWN_CHANNEL] = {"unknown_channel", 400},
    [KJ_ERR_INVALID_TIME] = {"invalid_time", 400},
    [KJ_ERR_UNAUTHORIZED] = {"unauthorized", 401},
    [KJ_ERR_FORBIDDEN] = {"forbidden", 403},
    [KJ_ERR_RATE_LIMITED] = {"rate_limited", 429},
    [KJ_ERR_INVALID_HEADER] = {"invalid_header", 400},
    [KJ_ERR_BAD_REQUEST] = {"bad_request", 400},
    [KJ_ERR_NOT_IMPLEMENTED] = {"not_implemented", 501},
    [KJ_ERR_OUTCOME_UNKNOWN] = {"outcome_unknown", 503},
    [KJ_ERR_FORGED] = {"forged", 0},
    [KJ_ERR_TOO_SLOW] = {"too_slow", 408},
    [KJ_ERR_NO_SUCH_CASE] = {"no_such_case", 404},
    [KJ_ERR_NO_SUCH_AGENT] = {"no_such_agent", 404},
    [KJ_ERR_NO_SUCH_CUSTOMER] = {"no_such_customer", 404},
    [KJ_ERR_ILLEGAL_TRANSITION] = {"illegal_transition", 409},
    [KJ_ERR_AT_CAPACITY] = {"at_capacity", 409},
    [KJ_ERR_INVALID_VALUE] = {"invalid_value", 400},
    [KJ_ERR_NOT_IN_TEAM] = {"not_in_team", 409},
    [KJ_ERR_BAD_SIGNATURE] = {"bad_signature", 401},
    [KJ_ERR_BAD_TOKEN] = {"bad_token", 401},
    [KJ_ERR_TOKEN_USED] = {"token_used", 409},
};

const char *
kj_rc_name(kj_rc_t rc)
{
    if ((int)rc < 0 || rc >= KJ_RC_COUNT || !s_rc[rc].name)
        return "unknown";
    return s_rc[rc].name;
}

unsigned
kj_rc_http_status(kj_rc_t rc)
{
    if ((int)rc < 0 || rc >= KJ_RC_COUNT)
        return 0;
    return s_rc[rc].http_status;
}

void
kj_rc_reason(char *out, size_t size, kj_rc_t rc, const char *fmt, ...)
{
    if (size == 0)
        return;
    int n = snprintf(out, size, "%s: ", kj_rc_name(rc));
    if (n < 0 || (size_t)n >= size)
        return; /* the name alone filled it */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + n, size - (size_t)n, fmt, ap);
    va_end(ap);
}
