/* kj_utf8: UTF-8 decoding for the log, kj_text, the classifier and
 * validation (four decoders before). utf8proc_iterate is exactly RFC
 * 3629's table (test_utf8 checks it against the table), so the library
 * does the work; ASCII is answered here without the call. */
#include "kj_utf8.h"

#include <string.h>

#include <utf8proc.h>

size_t
kj_utf8_decode(const char *s, size_t left, int32_t *cp)
{
    if (left == 0)
        return 0;
    unsigned char b = (unsigned char)s[0];
    if (b < 0x80) {
        if (cp)
            *cp = b;
        return 1;
    }
    utf8proc_int32_t v;
    utf8proc_ssize_t n = utf8proc_iterate(
        (const utf8proc_uint8_t *)s, left > 4 ? 4 : (utf8proc_ssize_t)left, &v);
    if (n <= 0)
        return 0;
    if (cp)
        *cp = v;
    return (size_t)n;
}

bool
kj_utf8_valid(const char *buf, size_t len)
{
    size_t i = 0;
    while (i < len) {
        /* Most text the pipeline checks is ASCII: skip it in the loop. */
        if ((unsigned char)buf[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = kj_utf8_decode(buf + i, len - i, NULL);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

size_t
kj_utf8_sanitize(const char *in, size_t len, char *out)
{
    size_t n = 0, i = 0;
    while (i < len) {
        size_t k = in[i] ? kj_utf8_decode(in + i, len - i, NULL) : 0;
        if (k == 0) {
            memcpy(out + n, "\xEF\xBF\xBD", 3); /* U+FFFD */
            n += 3;
            i++;
        } else {
            memcpy(out + n, in + i, k);
            n += k;
            i += k;
        }
    }
    out[n] = '\0';
    return n;
}
