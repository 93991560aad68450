/* libFuzzer target for the Unicode folding of outside text: kj_text_fold
 * must accept any bytes, always produce valid UTF-8 that fits the buffer,
 * and agree with kj_utf8_valid about what was valid. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kj_text.h"
#include "kj_util.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
s_has_fffd(const char *s, size_t len)
{
    for (size_t i = 0; i + 2 < len; i++) {
        if (memcmp(s + i, "\xEF\xBF\xBD", 3) == 0)
            return true;
    }
    return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    bool valid = kj_utf8_valid(in, size);

    /* Output sizes that force truncation, including inside a character. */
    static const size_t sizes[] = {1, 2, 3, 4, 5, 7, 16, 64, 4096};
    char out[4096];
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        long n = kj_text_fold(in, size, out, sizes[i]);
        if (n < 0 || (size_t)n >= sizes[i] || strlen(out) != (size_t)n)
            abort();
        if (!kj_utf8_valid(out, (size_t)n))
            abort();
    }
    if (kj_text_fold(in, size, out, 0) != -1)
        abort();

    /* A valid input without NULs or U+FFFD folds without U+FFFD: the
     * replacement character only ever stands for bytes that were bad. */
    if (valid && !memchr(in, 0, size) && !s_has_fffd(in, size)) {
        long n = kj_text_fold(in, size, out, sizeof(out));
        if (s_has_fffd(out, (size_t)n))
            abort();
    }
    return 0;
}
