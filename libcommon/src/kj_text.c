/* kj_text: Unicode folding with utf8proc. utf8proc refuses invalid UTF-8
 * outright, so the input is first made valid (each bad byte becomes
 * U+FFFD) and only then mapped. */
#include "kj_text.h"

#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "kj_utf8.h"
#include "kj_util.h"

/* A valid copy of in[len] (kj_utf8_sanitize). Caller frees. */
static char *
s_sanitize(const char *in, size_t len, size_t *out_len)
{
    /* Every input byte yields at most three output bytes. */
    char *buf = kj_malloc(len * 3 + 1);
    *out_len = kj_utf8_sanitize(in, len, buf);
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
