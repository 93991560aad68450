/* kj_utf8: the one UTF-8 decoder, strict as RFC 3629 (no overlong forms,
 * no surrogates, nothing past U+10FFFF), over utf8proc_iterate. */
#ifndef KJ_UTF8_H
#define KJ_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decode the sequence at s[0..left). Returns its length (1..4) and the
 * code point in *cp (cp may be NULL), or 0 if s does not start a valid
 * sequence (or left is 0): callers then replace one byte, usually by
 * U+FFFD, and go on. A NUL byte is valid (U+0000). */
size_t
kj_utf8_decode(const char *s, size_t left, int32_t *cp);

/* True if buf[len] is valid UTF-8 (no overlongs, no surrogates). */
bool
kj_utf8_valid(const char *buf, size_t len);

/* A valid, NUL-terminated copy of in[len] in out, which has room for
 * 3 * len + 1 bytes: each invalid byte, and each NUL (which would end a C
 * string early), becomes U+FFFD. Returns the bytes written before the
 * terminating NUL. */
size_t
kj_utf8_sanitize(const char *in, size_t len, char *out);

#endif
