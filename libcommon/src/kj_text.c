/* kj_text: Unicode folding with utf8proc. utf8proc refuses invalid UTF-8
 * outright, so the input is first made valid (each bad byte becomes
 * U+FFFD) and only then mapped. */
#include "kj_text.h"

#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "kj_utf8.h"
#include "kj_util.h"

static const char s_replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Length of the valid, non-NUL UTF-8 sequence at s[0..left), 0 if none:
 * a NUL would end the folded C string early. */
static size_t
s_seq_len(const unsigned char *s, size_t left)
{
    if (s[0] == 0)
        return 0;
    return kj_utf8_decode((const char *)s, left, NULL);
}

/* A valid copy of in[len]: bad bytes and NULs (which would end the C
 * string early) become U+FFFD. Caller frees. */
static char *
s_sanitize(const char *in, size_t len, size_t *out_len)
{
    const unsigned char *s = (const unsigned char *)in;
    /* Every input byte yields at most three output bytes. */
    char *buf = kj_malloc(len * 3 + 1);
    size_t n = 0, i = 0;
    while (i < len) {
        size_t k = s_seq_len(s + i, len - i);
        if (k == 0) {
            memcpy(buf + n, s_replacement, 3);
            n += 3;
            i++;
        } else {
            memcpy(buf + n, s + i, k);
            n += k;
            i += k;
        }
    }
    buf[n] = '\0';
    *out_len = n;
    return buf;
}

/* Copy valid UTF-8 src[len] into out[size], cut on a character boundary. */
static long
s_copy(const char *src, size_t len, char *out, size_t size)
{
    size_t n = len < size - 1 ? len : size - 1;
    /* If the first byte left out is a continuation byte, the cut is inside
     * a character: back up to its start. */
    while (n > 0 && n < len && ((unsigned char)src[n] & 0xC0) == 0x80)
        n--;
    memcpy(out, src, n);
    out[n] = '\0';
    return (long)n;
}

long
kj_text_fold(const char *in, size_t len, char *out, size_t size)
{
    if (size == 0)
        return -1;
    if (!in)
        len = 0;
    size_t clean_len;
    char *clean = s_sanitize(in ? in : "", len, &clean_len);
    utf8proc_uint8_t *mapped = NULL;
    utf8proc_ssize_t mapped_len = utf8proc_map(
        (const utf8proc_uint8_t *)clean, (utf8proc_ssize_t)clean_len, &mapped,
        UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE |
            UTF8PROC_CASEFOLD | UTF8PROC_IGNORE);
    long rc;
    if (mapped_len < 0) {
        /* Cannot happen on sanitized input short of running out of
         * memory inside utf8proc; the unfolded text is still valid. */
        rc = s_copy(clean, clean_len, out, size);
    } else {
        rc = s_copy((const char *)mapped, (size_t)mapped_len, out, size);
    }
    free(mapped);
    free(clean);
    return rc;
}
