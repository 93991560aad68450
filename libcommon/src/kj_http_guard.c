/* kj_http_guard: strict header checks (see kj_http_guard.h). The fields
 * are folded one at a time into a small state, so a request with many
 * headers costs no allocation and the MHD iterator needs no array. */
#include "kj_http_guard.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#define S_LENGTH_DIGITS_MAX 18 /* fits int64_t; any real body is shorter */

/* What the fields seen so far add up to. */
typedef struct {
    kj_rc_t rc;        /* the first refusal, KJ_OK until one */
    const char *why;   /* its message */
    bool http11;       /* HTTP/1.1: Host is required */
    unsigned hosts;    /* Host fields seen */
    bool has_length;   /* a Content-Length seen */
    uint64_t length;   /* its value */
    bool has_transfer; /* a Transfer-Encoding seen */
} s_state_t;

/* RFC 9110 tchar: "!#$%&'*+-.^_`|~", digits and letters. */
static bool
s_tchar(unsigned char ch)
{
    if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
        (ch >= 'A' && ch <= 'Z'))
        return true;
    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static bool
s_name_is(const kj_http_field_t *f, const char *name)
{
    size_t n = strlen(name);
    return f->name_len == n && strncasecmp(f->name, name, n) == 0;
}

/* The first refusal stands, except that a bad character outranks a
 * framing problem: it says the most about what was sent. */
static void
s_refuse(s_state_t *st, kj_rc_t rc, const char *why)
{
    if (st->rc == KJ_OK ||
        (rc == KJ_ERR_INVALID_HEADER && st->rc != KJ_ERR_INVALID_HEADER)) {
        st->rc = rc;
        st->why = why;
    }
}

/* A Content-Length value: 1..18 digits and nothing else. */
static bool
s_parse_length(const char *v, size_t len, uint64_t *out)
{
    if (len == 0 || len > S_LENGTH_DIGITS_MAX)
        return false;
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        n = n * 10 + (uint64_t)(v[i] - '0');
    }
    *out = n;
    return true;
}

static void
s_field(s_state_t *st, const kj_http_field_t *f)
{
    if (f->name_len == 0) {
        s_refuse(st, KJ_ERR_INVALID_HEADER, "a header field has no name");
        return;
    }
    for (size_t i = 0; i < f->name_len; i++)
        if (!s_tchar((unsigned char)f->name[i])) {
            s_refuse(st, KJ_ERR_INVALID_HEADER,
                     "a header name holds a character a name may not "
                     "(space, colon, control or non-ASCII)");
            return;
        }
    for (size_t i = 0; i < f->value_len; i++) {
        unsigned char ch = (unsigned char)f->value[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            s_refuse(st, KJ_ERR_INVALID_HEADER,
                     "a header value holds a control character");
            return;
        }
    }
    if (s_name_is(f, "Host")) {
        st->hosts++;
    } else if (s_name_is(f, "Content-Length")) {
        uint64_t n = 0;
        if (!s_parse_length(f->value, f->value_len, &n))
            s_refuse(st, KJ_ERR_BAD_REQUEST,
                     "Content-Length must be a decimal number of bytes");
        else if (st->has_length && n != st->length)
            s_refuse(st, KJ_ERR_BAD_REQUEST,
                     "two Content-Length headers with different values");
        st->has_length = true;
        st->length = n;
    } else if (s_name_is(f, "Transfer-Encoding")) {
        /* Exactly one "chunked": a list ("gzip, chunked") or a second
         * header would be a coding libmicrohttpd does not decode. */
        if (st->has_transfer || f->value_len != 7 ||
            strncasecmp(f->value, "chunked", 7) != 0)
            s_refuse(st, KJ_ERR_NOT_IMPLEMENTED,
                     "only Transfer-Encoding: chunked is implemented");
        st->has_transfer = true;
    }
}

static kj_rc_t
s_finish(s_state_t *st, const char **why)
{
    if (st->rc == KJ_OK && st->has_length && st->has_transfer)
        s_refuse(st, KJ_ERR_BAD_REQUEST,
                 "Content-Length and Transfer-Encoding together: the body's "
                 "length is ambiguous");
    if (st->rc == KJ_OK && st->http11 && st->hosts == 0)
        s_refuse(st, KJ_ERR_BAD_REQUEST,
                 "an HTTP/1.1 request needs a Host header");
    if (st->rc == KJ_OK && st->hosts > 1)
        s_refuse(st, KJ_ERR_BAD_REQUEST, "more than one Host header");
    *why = st->rc == KJ_OK ? "" : st->why;
    return st->rc;
}

kj_rc_t
kj_http_guard_check(const kj_http_field_t *fields, size_t n, bool http11,
                    const char **why)
{
    s_state_t st = {.rc = KJ_OK, .http11 = http11};
    for (size_t i = 0; i < n; i++)
        s_field(&st, &fields[i]);
    return s_finish(&st, why);
}

static enum MHD_Result
s_each(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    s_state_t *st = cls;
    kj_http_field_t f = {key, key ? strlen(key) : 0, value,
                         value ? strlen(value) : 0};
    s_field(st, &f);
    return MHD_YES;
}

kj_rc_t
kj_http_guard_connection(struct MHD_Connection *c, const char *version,
                         const char **why)
{
    s_state_t st = {.rc = KJ_OK,
                    .http11 = version && strcmp(version, "HTTP/1.1") == 0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, s_each, &st);
    return s_finish(&st, why);
}
