/* kj_utf8: the one strict UTF-8 decoder, checked against RFC 3629's
 * table of well-formed byte sequences. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <string.h>

#include "kj_utf8.h"

Test(utf8, usage_example)
{
    /* "苦情" is two three-byte characters. */
    const char *s = "\xe8\x8b\xa6\xe6\x83\x85";
    int32_t cp = 0;
    cr_assert(eq(sz, kj_utf8_decode(s, strlen(s), &cp), 3));
    cr_assert(eq(i32, cp, 0x82E6));
    cr_assert(eq(sz, kj_utf8_decode(s + 3, 3, &cp), 3));
    cr_assert(eq(i32, cp, 0x60C5));
    cr_assert(kj_utf8_valid(s, strlen(s)));
}

Test(utf8, code_points_and_lengths)
{
    int32_t cp = -1;
    cr_assert(eq(sz, kj_utf8_decode("A", 1, &cp), 1));
    cr_assert(eq(i32, cp, 'A'));
    cr_assert(eq(sz, kj_utf8_decode("\0", 1, &cp), 1));
    cr_assert(eq(i32, cp, 0));
    cr_assert(eq(sz, kj_utf8_decode("\xc3\xa9", 2, &cp), 2));
    cr_assert(eq(i32, cp, 0xE9));
    cr_assert(eq(sz, kj_utf8_decode("\xf0\x9f\x98\x80", 4, &cp), 4));
    cr_assert(eq(i32, cp, 0x1F600));
    cr_assert(eq(sz, kj_utf8_decode("\xf4\x8f\xbf\xbf", 4, &cp), 4));
    cr_assert(eq(i32, cp, 0x10FFFF));
    /* cp may be NULL when only the length matters. */
    cr_assert(eq(sz, kj_utf8_decode("\xc3\xa9", 2, NULL), 2));
    cr_assert(eq(sz, kj_utf8_decode("x", 0, &cp), 0));
}

Test(utf8, invalid_sequences)
{
    static const char *const bad[] = {
        "\x80",             /* lone continuation */
        "\xc0\xaf",         /* overlong '/' */
        "\xc1\xbf",         /* overlong */
        "\xe0\x80\xaf",     /* overlong three-byte */
        "\xed\xa0\x80",     /* surrogate U+D800 */
        "\xf0\x80\x80\xaf", /* overlong four-byte */
        "\xf4\x90\x80\x80", /* past U+10FFFF */
        "\xf5\x80\x80\x80", /* lead byte past F4 */
        "\xff",             /* never in UTF-8 */
        "\xe3\x81",         /* cut short */
        "\xe3\x41\x82",     /* ASCII inside a sequence */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert(eq(sz, kj_utf8_decode(bad[i], strlen(bad[i]), NULL), 0),
                  "case %zu", i);
        cr_assert(not(kj_utf8_valid(bad[i], strlen(bad[i]))), "case %zu", i);
    }
    /* The length bounds the read: a sequence cut by it is invalid. */
    cr_assert(eq(sz, kj_utf8_decode("\xe3\x81\x82", 2, NULL), 0));
}

/* RFC 3629, section 4: the well-formed sequences, byte by byte. Returns
 * the length of the sequence at s[0..len), 0 if ill-formed. */
static size_t
s_table(const unsigned char *s, size_t len)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        lo = c == 0xE0 ? 0xA0 : lo;
        hi = c == 0xED ? 0x9F : hi;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        lo = c == 0xF0 ? 0x90 : lo;
        hi = c == 0xF4 ? 0x8F : hi;
    } else {
        return 0;
    }
    if (len <= need || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k <= need; k++)
        if ((s[k] & 0xC0) != 0x80)
            return 0;
    return need + 1;
}

/* Every lead and second byte, with third and fourth bytes at the edges of
 * the continuation range, at every length: the decoder agrees with the
 * table (what the four decoders it replaced each implemented). */
Test(utf8, agrees_with_rfc_3629)
{
    static const unsigned char edge[] = {0x00, 0x7F, 0x80, 0xBF, 0xC0};
    for (unsigned a = 0; a < 256; a++)
        for (unsigned b = 0; b < 256; b++)
            for (size_t i = 0; i < sizeof edge; i++)
                for (size_t j = 0; j < sizeof edge; j++)
                    for (size_t len = 1; len <= 4; len++) {
                        unsigned char s[4] = {(unsigned char)a,
                                              (unsigned char)b, edge[i],
                                              edge[j]};
                        size_t want = s_table(s, len);
                        size_t got = kj_utf8_decode((const char *)s, len, NULL);
                        if (got != want)
                            cr_fatal("%02x %02x %02x %02x len %zu: %zu, "
                                     "want %zu",
                                     a, b, edge[i], edge[j], len, got, want);
                    }
}

Test(utf8, sanitize_replaces_bad_bytes_and_nuls)
{
    char out[64];
    /* A three-byte character cut short: each byte on its own is bad. */
    cr_assert(eq(sz, kj_utf8_sanitize("ab\xe8\x8b", 4, out), 8));
    cr_assert(eq(str, out, "ab\xef\xbf\xbd\xef\xbf\xbd"));
    cr_assert(eq(sz, kj_utf8_sanitize("a\0b", 3, out), 5));
    cr_assert(eq(str, out,
                 "a\xef\xbf\xbd"
                 "b"));
    /* Valid text is copied as is. */
    const char *ok = "\xe8\x8b\xa6\xe6\x83\x85 ok";
    cr_assert(eq(sz, kj_utf8_sanitize(ok, strlen(ok), out), strlen(ok)));
    cr_assert(eq(str, out, (char *)ok));
    cr_assert(eq(sz, kj_utf8_sanitize("", 0, out), 0));
    cr_assert(eq(str, out, ""));
}
