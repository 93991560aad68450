/* kj_text: NFKC + case folding + ignorables, invalid input, truncation. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <string.h>

#include "kj_text.h"
#include "kj_util.h"

static const char *
s_fold(const char *in, char *out, size_t size)
{
    long n = kj_text_fold(in, strlen(in), out, size);
    cr_assert(ge(long, n, 0));
    cr_assert(eq(sz, strlen(out), (size_t)n));
    cr_assert(kj_utf8_valid(out, (size_t)n));
    return out;
}

Test(text, usage_example)
{
    char out[64];
    long n =
        kj_text_fold("ＡＢＣ１２３", strlen("ＡＢＣ１２３"), out, sizeof(out));
    cr_assert(eq(long, n, 6));
    cr_assert(eq(str, out, "abc123"));
}

Test(text, nfkc_and_case)
{
    char out[128];
    cr_assert(eq(str, (char *)s_fold("ｶﾀｶﾅ", out, sizeof(out)), "カタカナ"));
    /* Half-width kana with voiced mark composes: ｶﾞ -> ガ. */
    cr_assert(eq(str, (char *)s_fold("ｶﾞｲﾄﾞ", out, sizeof(out)), "ガイド"));
    cr_assert(eq(str, (char *)s_fold("Hello WORLD", out, sizeof(out)),
                 "hello world"));
    cr_assert(eq(str, (char *)s_fold("Straße", out, sizeof(out)), "strasse"));
    cr_assert(eq(str, (char *)s_fold("ﬁle", out, sizeof(out)), "file"));
    cr_assert(eq(str, (char *)s_fold("㍻", out, sizeof(out)), "平成"));
    cr_assert(eq(str, (char *)s_fold("", out, sizeof(out)), ""));
}

Test(text, combining_marks_compose)
{
    char out[64];
    /* e + COMBINING ACUTE ACCENT -> é (U+00E9). */
    cr_assert(eq(str, (char *)s_fold("Cafe\xCC\x81", out, sizeof(out)),
                 "caf\xC3\xA9"));
    /* か + COMBINING KATAKANA-HIRAGANA VOICED SOUND MARK -> が. */
    cr_assert(eq(str,
                 (char *)s_fold("\xE3\x81\x8B\xE3\x82\x99", out, sizeof(out)),
                 "が"));
}

Test(text, ignorables_stripped_emoji_kept)
{
    char out[64];
    /* ZERO WIDTH SPACE, SOFT HYPHEN, ZWJ inside words. */
    cr_assert(eq(str,
                 (char *)s_fold("a\xE2\x80\x8B"
                                "b\xC2\xAD"
                                "c",
                                out, sizeof(out)),
                 "abc"));
    cr_assert(eq(str, (char *)s_fold("angry 😡 now", out, sizeof(out)),
                 "angry 😡 now"));
}

Test(text, invalid_bytes_become_replacement)
{
    char out[64];
    const char in[] = "A\xFF"
                      "B\xC0\xAF"
                      "C\xE3\x81";
    long n = kj_text_fold(in, sizeof(in) - 1, out, sizeof(out));
    cr_assert(eq(str, out,
                 "a\xEF\xBF\xBD"
                 "b\xEF\xBF\xBD\xEF\xBF\xBD"
                 "c\xEF\xBF\xBD\xEF\xBF\xBD"));
    cr_assert(eq(long, n, (long)strlen(out)));
    /* Surrogates encoded in UTF-8 and NUL bytes too. */
    const char sur[] = "x\xED\xA0\x80y\0z";
    n = kj_text_fold(sur, sizeof(sur) - 1, out, sizeof(out));
    cr_assert(eq(str, out,
                 "x\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                 "y\xEF\xBF\xBD"
                 "z"));
    cr_assert(eq(long, n, (long)strlen(out)));
}

Test(text, truncation_on_character_boundary)
{
    char out[8];
    /* "カタカナ" is 12 bytes; 7 bytes of room keep two whole characters. */
    long n = kj_text_fold("カタカナ", strlen("カタカナ"), out, sizeof(out));
    cr_assert(eq(long, n, 6));
    cr_assert(eq(str, out, "カタ"));
    char tiny[3];
    n = kj_text_fold("カ", strlen("カ"), tiny, sizeof(tiny));
    cr_assert(eq(long, n, 0));
    cr_assert(eq(str, tiny, ""));
    char one[1];
    n = kj_text_fold("abc", 3, one, sizeof(one));
    cr_assert(eq(long, n, 0));
    cr_assert(eq(str, one, ""));
    /* Exactly enough room. */
    char exact[13];
    n = kj_text_fold("ｶﾀｶﾅ", strlen("ｶﾀｶﾅ"), exact, sizeof(exact));
    cr_assert(eq(long, n, 12));
    cr_assert(eq(str, exact, "カタカナ"));
    /* An emoji (4 bytes) never split. */
    char e[6];
    n = kj_text_fold("a😀b", strlen("a😀b"), e, sizeof(e));
    cr_assert(eq(str, e, "a😀"));
    n = kj_text_fold("ab😀", strlen("ab😀"), e, 5);
    cr_assert(eq(str, e, "ab"));
}

Test(text, zero_size)
{
    char out[1] = {'x'};
    cr_assert(eq(long, kj_text_fold("abc", 3, out, 0), -1));
    cr_assert(eq(chr, out[0], 'x'));
}
