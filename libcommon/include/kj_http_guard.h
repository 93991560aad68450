/* kj_http_guard: strict checks of a request's header fields, made when the
 * headers are in and before anything else looks at them.
 *
 *   invalid_header (400)   a control character (< 0x20 but HTAB, or 0x7f)
 *                          in a value, or a name that is not an RFC 9110
 *                          token (a space, a colon, empty, ...)
 *   bad_request (400)      Content-Length not all digits, two different
 *                          lengths, Content-Length with Transfer-Encoding,
 *                          HTTP/1.1 without exactly one Host
 *   not_implemented (501)  any Transfer-Encoding but "chunked"
 *
 * The checking is pure (kj_http_guard_check over name/value pairs) so that
 * it is unit-tested and fuzzed; kj_http_guard_connection reads the pairs
 * out of a libmicrohttpd connection.
 *
 * What libmicrohttpd 0.9.75 never lets us see, found with raw sockets
 * (tests/integration/test_http_hostile.c):
 *   - a NUL inside a header line: the line is cut at the NUL before the
 *     handler runs ("Idempotency-Key: nulkey\0BBBB" arrives as "nulkey");
 *   - a Content-Length that does not parse ("-1", "+5") and a header line
 *     without a colon: libmicrohttpd answers 400 itself, with an HTML
 *     body (and, for Content-Length, its status line twice).
 * The HAProxy in front (deploy/images/lb/haproxy.cfg) refuses all three
 * with a JSON body; tests/integration/test_lb_hostile.sh shows it.
 * MHD_OPTION_STRICT_FOR_CLIENT=1 was tried: it only makes libmicrohttpd
 * refuse HTTP/1.1 without Host itself, in HTML, so it stays off and the
 * check is made here, in JSON. */
#ifndef KJ_HTTP_GUARD_H
#define KJ_HTTP_GUARD_H

#include <stdbool.h>
#include <stddef.h>

#include "kj_rc.h"

struct MHD_Connection;

/* One header field as received. Neither string needs a terminating NUL. */
typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} kj_http_field_t;

/* Check n fields of one request; http11 is true for HTTP/1.1 (which needs
 * a Host). Returns KJ_OK, or KJ_ERR_INVALID_HEADER, KJ_ERR_BAD_REQUEST or
 * KJ_ERR_NOT_IMPLEMENTED with *why set to a constant printable message
 * (no input is copied into it). */
kj_rc_t
kj_http_guard_check(const kj_http_field_t *fields, size_t n, bool http11,
                    const char **why);

/* The same over every request header of c (MHD_HEADER_KIND); version is
 * the request line's ("HTTP/1.1"). */
kj_rc_t
kj_http_guard_connection(struct MHD_Connection *c, const char *version,
                         const char **why);

#endif
