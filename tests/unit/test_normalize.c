/* The classifier's text normaliser: NFKC, folding, placeholders, repeats,
 * and robustness against bytes that are not UTF-8. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "classifier_normalize.h"

static const char *
s_norm(const char *in, unsigned flags)
{
    static char out[4096];
    classifier_normalize(in, strlen(in), flags, out, sizeof(out));
    return out;
}

#define ALL CLASSIFIER_NORM_ALL

Test(normalize, usage_example)
{
    /* One normaliser per thread, reused for every text. */
    classifier_norm_t *norm = classifier_norm_new();
    const char *text =
        "Ｆｌｉｇｈｔ  ＵＡ１２３ delayed!!!!!! @united http://t.co/x";
    size_t n = classifier_norm_run(norm, text, strlen(text), ALL);
    cr_assert(gt(sz, n, 0));
    const char *s = classifier_norm_utf8(norm, NULL);
    cr_assert(eq(str, (char *)s, "flight ua0 delayed!!! _user_ _url_"));
    classifier_norm_destroy(&norm);
    cr_assert(eq(ptr, norm, NULL));
}

Test(normalize, full_width_ascii_becomes_ascii)
{
    cr_assert(eq(str, (char *)s_norm("ＡＢＣ　ｄｅｆ", ALL), "abc def"));
    cr_assert(eq(str, (char *)s_norm("ＡＢＣ", CLASSIFIER_NORM_NFKC), "ABC"));
}

Test(normalize, half_width_kana_become_full_width)
{
    cr_assert(eq(str, (char *)s_norm("ｶﾞｲﾄﾞ", ALL), "ガイド"));
}

Test(normalize, combining_marks_compose)
{
    /* e + COMBINING ACUTE, か + COMBINING VOICED SOUND MARK */
    cr_assert(eq(str, (char *)s_norm("Cafe\xcc\x81", ALL), "café"));
    cr_assert(eq(str, (char *)s_norm("か\xe3\x82\x99", ALL), "が"));
    /* already composed text is unchanged */
    cr_assert(eq(str, (char *)s_norm("café が", ALL), "café が"));
}

Test(normalize, case_folding_is_unicode)
{
    cr_assert(eq(str, (char *)s_norm("Straße ÉTÉ", ALL), "strasse été"));
    cr_assert(eq(str, (char *)s_norm("ABC", CLASSIFIER_NORM_NFKC), "ABC"));
}

Test(normalize, emoji_kept_variation_selectors_dropped)
{
    /* U+1F621 + VS16, ZWJ between letters, skin tone modifier kept */
    cr_assert(eq(str, (char *)s_norm("bad \xf0\x9f\x98\xa1\xef\xb8\x8f", ALL),
                 "bad \xf0\x9f\x98\xa1"));
    cr_assert(eq(str,
                 (char *)s_norm("a\xe2\x80\x8d"
                                "b",
                                ALL),
                 "ab"));
    cr_assert(eq(str, (char *)s_norm("\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd", ALL),
                 "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd"));
}

Test(normalize, compatibility_characters_expand)
{
    cr_assert(eq(str, (char *)s_norm("ﬁle ™", ALL), "file tm"));
    /* circled digit 1 is a number after NFKC */
    cr_assert(eq(str, (char *)s_norm("①", ALL), "0"));
}

Test(normalize, whitespace_collapses_and_trims)
{
    cr_assert(eq(str, (char *)s_norm("  a\t\tb\r\n c\x0b  ", ALL), "a b c"));
    cr_assert(eq(str, (char *)s_norm("\xe3\x80\x80x\xe3\x80\x80", ALL), "x"));
    cr_assert(eq(str, (char *)s_norm("   ", ALL), ""));
    cr_assert(eq(str, (char *)s_norm("", ALL), ""));
}

Test(normalize, placeholders)
{
    cr_assert(eq(str, (char *)s_norm("see https://example.com/a?b=1.", ALL),
                 "see _url_ ."));
    cr_assert(
        eq(str, (char *)s_norm("www.example.com rocks", ALL), "_url_ rocks"));
    cr_assert(eq(str, (char *)s_norm("詳細はhttp://x.jp/aを", ALL),
                 "詳細は _url_ を"));
    cr_assert(eq(str, (char *)s_norm("@Delta_Assist hi", ALL), "_user_ hi"));
    /* an e-mail address is not a mention */
    cr_assert(eq(str, (char *)s_norm("a@b.com", ALL), "a@b.com"));
    cr_assert(eq(str, (char *)s_norm("$1,234.56 at 10:30", ALL), "$0 at 0"));
    cr_assert(eq(str, (char *)s_norm("３泊", ALL), "0泊"));
    /* flags off keep the text */
    cr_assert(
        eq(str, (char *)s_norm("@a 12", CLASSIFIER_NORM_CASEFOLD), "@a 12"));
}

Test(normalize, repeats_capped_at_three)
{
    cr_assert(
        eq(str, (char *)s_norm("sooooo goooood!!!!!!", ALL), "sooo goood!!!"));
    cr_assert(eq(str, (char *)s_norm("ｗｗｗｗｗｗ", ALL), "www"));
    cr_assert(eq(str, (char *)s_norm("aaaa", CLASSIFIER_NORM_NFKC), "aaaa"));
}

Test(normalize, invalid_utf8_becomes_replacement_character)
{
    const char bad[] = {'a', (char)0xff, 'b',        (char)0xc0, (char)0xaf,
                        'c', (char)0xed, (char)0xa0, (char)0x80, (char)0xe3};
    char out[256];
    long n = classifier_normalize(bad, sizeof(bad), CLASSIFIER_NORM_NFKC, out,
                                  sizeof(out));
    cr_assert(gt(long, n, 0));
    /* every invalid byte is one U+FFFD; nothing invalid comes out */
    cr_assert(eq(str, out,
                 "a\xef\xbf\xbd"
                 "b\xef\xbf\xbd\xef\xbf\xbd"
                 "c"
                 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"));
}

Test(normalize, nul_bytes_are_spaces)
{
    const char in[] = {'a', 0, 'b'};
    char out[16];
    classifier_normalize(in, sizeof(in), ALL, out, sizeof(out));
    cr_assert(eq(str, out, "a b"));
}

Test(normalize, long_input_is_bounded)
{
    size_t len = 3 * CLASSIFIER_NORM_MAX_IN;
    char *big = malloc(len);
    memset(big, 'x', len);
    classifier_norm_t *norm = classifier_norm_new();
    size_t n = classifier_norm_run(norm, big, len, CLASSIFIER_NORM_NFKC);
    cr_assert(eq(sz, n, CLASSIFIER_NORM_MAX_IN));
    /* a text that expands a lot under NFKC still fits */
    for (size_t i = 0; i + 3 <= len; i += 3)
        memcpy(big + i, "\xef\xb7\xba", 3); /* U+FDFA: 18 code points */
    n = classifier_norm_run(norm, big, len, ALL);
    cr_assert(gt(sz, n, 0));
    classifier_norm_destroy(&norm);
    free(big);
}

Test(normalize, output_cut_on_character_boundary)
{
    char out[5];
    long n = classifier_normalize("ああ", 6, ALL, out, sizeof(out));
    cr_assert(eq(long, n, 3));
    cr_assert(eq(str, out, "あ"));
    cr_assert(eq(long, classifier_normalize("a", 1, ALL, out, 0), -1));
}

Test(normalize, flag_names_round_trip)
{
    char buf[128];
    classifier_norm_flags_format(ALL, buf, sizeof(buf));
    cr_assert(eq(str, buf, "nfkc,casefold,url,mention,number,repeat"));
    unsigned f = 0;
    cr_assert(eq(int, classifier_norm_flags_parse(buf, &f), 0));
    cr_assert(eq(u32, f, ALL));
    cr_assert(eq(int, classifier_norm_flags_parse("", &f), 0));
    cr_assert(eq(u32, f, 0));
    cr_assert(eq(int, classifier_norm_flags_parse("nfkc,bogus", &f), -1));
    /* a short buffer reports the length needed, like snprintf */
    cr_assert(eq(int, classifier_norm_flags_format(ALL, buf, 4), 39));
}

Test(normalize, fast_path_matches_utf8proc)
{
    /* Stable code points skip utf8proc; anything next to a mark, width
     * variant or compatibility character must come out the same. */
    static const char *const texts[] = {
        "e\xcc\x81"
        "abc",
        "か\xe3\x82\x99き",
        "ｶﾞ漢字ＡＢＣ",
        "ABC DEF ghi",
        "\xe3\x82\x9b\xe3\x82\x9c",
        "ヿ〆々〇",
        "㍻㌀①Ⅻ",
        "ﬃ ß ǅ ΣΑΣ",
        "a\xcc\xa3\xcc\x87"
        "b",
        "한국어 テスト",
        "\xef\xbf\xbd\xc0",
        "か\xcc\x81\xe3\x82\x99",
        "〜～ー—",
        "\xe2\x80\x8d\xef\xb8\x8f!",
    };
    classifier_norm_t *fast = classifier_norm_new();
    classifier_norm_t *slow = classifier_norm_new();
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        for (unsigned f = 0; f <= ALL; f++) {
            classifier_norm_run(fast, texts[i], strlen(texts[i]), f);
            classifier_norm_run(slow, texts[i], strlen(texts[i]),
                                f | CLASSIFIER_NORM_SLOW);
            cr_expect(eq(str, (char *)classifier_norm_utf8(fast, NULL),
                         (char *)classifier_norm_utf8(slow, NULL)),
                      "text %zu flags %u", i, f);
        }
    }
    classifier_norm_destroy(&fast);
    classifier_norm_destroy(&slow);
}
