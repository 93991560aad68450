/* PII masking: a table of positives and near-misses in English and
 * Japanese, spans as byte offsets, and bounded output. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "classifier_pii.h"

Test(pii, usage_example)
{
    const char *text = "Call 090-1234-5678 or mail taro@example.jp";
    char out[128];
    classifier_pii_span_t spans[4];
    size_t total;
    size_t n = classifier_pii_mask(text, strlen(text), out, sizeof(out), spans,
                                   4, &total);
    cr_assert(eq(str, out, "Call [PHONE] or mail [EMAIL]"));
    cr_assert(eq(sz, n, strlen(out)));
    cr_assert(eq(sz, total, 2));
    cr_assert(eq(int, spans[0].kind, CLASSIFIER_PII_PHONE));
    cr_assert(eq(u32, spans[0].start, 5));
    cr_assert(eq(u32, spans[0].end, 18));
    cr_assert(
        eq(str, (char *)classifier_pii_kind_name(spans[1].kind), "email"));
    cr_assert(eq(u32, spans[1].start, 27));
    cr_assert(eq(u32, spans[1].end, (uint32_t)strlen(text)));
}

typedef struct {
    const char *in;
    const char *masked;
} s_case_t;

/* Text that must be masked. */
static const s_case_t s_positive[] = {
    /* e-mail */
    {"mail me: john.smith+care@mail.example.co.uk.", "mail me: [EMAIL]."},
    {"連絡先はtaro_yamada@example.jpです", "連絡先は[EMAIL]です"},
    {"a.b@c-d.example.org", "[EMAIL]"},
    {"taro＠example.com", "[EMAIL]"},
    /* Japanese phones */
    {"090-1234-5678", "[PHONE]"},
    {"電話は03-1234-5678までお願いします", "電話は[PHONE]までお願いします"},
    {"TEL:06-6123-4567", "TEL:[PHONE]"},
    {"携帯09012345678に", "携帯[PHONE]に"},
    {"０９０−１２３４−５６７８", "[PHONE]"},
    {"０９０ー１２３４ー５６７８に折り返し", "[PHONE]に折り返し"},
    {"０３（１２３４）５６７８", "[PHONE]"},
    {"(03)1234-5678", "[PHONE]"},
    {"0120-123-456", "[PHONE]"},
    {"0312345678", "[PHONE]"},
    {"+81 90 1234 5678", "[PHONE]"},
    {"+81-3-1234-5678", "[PHONE]"},
    {"＋８１ ９０ １２３４ ５６７８", "[PHONE]"},
    /* international and North American */
    {"call +1 (415) 555-0100 now", "call [PHONE] now"},
    {"(415) 555-0100", "[PHONE]"},
    {"415-555-0100", "[PHONE]"},
    {"415.555.0100", "[PHONE]"},
    {"1-800-555-0100", "[PHONE]"},
    {"+44 20 7946 0958", "[PHONE]"},
    {"No. 2 090-1234-5678", "No. 2 [PHONE]"},
    /* cards (Luhn-valid test numbers) */
    {"card 4111 1111 1111 1111 please", "card [CARD] please"},
    {"4111-1111-1111-1111", "[CARD]"},
    {"4111111111111111", "[CARD]"},
    {"Amex 3782 822463 10005", "Amex [CARD]"},
    {"カード番号は５５５５ ５５５５ ５５５５ ４４４４です",
     "カード番号は[CARD]です"},
    {"6011000990139424.", "[CARD]."},
    /* several in one text */
    {"a@b.co, 03-1234-5678, 4111111111111111", "[EMAIL], [PHONE], [CARD]"},
};

/* Text that looks close but must stay as it is. */
static const char *const s_negative[] = {
    "order #12345678 shipped",
    "注文番号：123-4567-8901",
    "注文番号 1234567890",
    "tracking 1234-5678-9012",
    "追跡番号は1234-5678-9012です",
    "on 2024-01-15 at 10:30",
    "2024年1月15日 10時30分",
    "2024/01/15",
    "price ¥12,800 or $1,234.56",
    "合計3,000円(税込)",
    "〒150-0001 東京都渋谷区",
    "flight UA 1234 delayed 45 minutes",
    "4111 1111 1111 1112", /* fails Luhn */
    "1234567890123456",    /* fails Luhn */
    "ABC09012345678",      /* glued to letters */
    "09012345678X",
    "@united where is my bag",
    "me@home",
    "a@b.c",
    "version 1.2.3.4",
    "192.168.0.1",
    "+5 points",
    "+20%",
    "room 0123",
    "000-0000",
};

Test(pii, positives)
{
    for (size_t i = 0; i < sizeof(s_positive) / sizeof(s_positive[0]); i++) {
        char out[256];
        classifier_pii_span_t spans[8];
        size_t total;
        const char *in = s_positive[i].in;
        classifier_pii_mask(in, strlen(in), out, sizeof(out), spans, 8, &total);
        cr_expect(eq(str, out, (char *)s_positive[i].masked), "input: %s", in);
        cr_expect(gt(sz, total, 0), "input: %s", in);
    }
}

Test(pii, near_misses)
{
    for (size_t i = 0; i < sizeof(s_negative) / sizeof(s_negative[0]); i++) {
        char out[256];
        classifier_pii_span_t spans[8];
        size_t total;
        const char *in = s_negative[i];
        classifier_pii_mask(in, strlen(in), out, sizeof(out), spans, 8, &total);
        cr_expect(eq(str, out, (char *)in), "input: %s", in);
        cr_expect(eq(sz, total, 0), "input: %s", in);
    }
}

Test(pii, spans_are_original_byte_offsets)
{
    /* full-width digits are 3 bytes each */
    const char *text = "電話０３−１２３４−５６７８";
    classifier_pii_span_t sp[2];
    size_t n = classifier_pii_find(text, strlen(text), sp, 2);
    cr_assert(eq(sz, n, 1));
    cr_assert(eq(u32, sp[0].start, 6));
    cr_assert(eq(u32, sp[0].end, (uint32_t)strlen(text)));
    cr_assert(eq(int, sp[0].kind, CLASSIFIER_PII_PHONE));
}

Test(pii, every_span_is_masked_past_the_record_limit)
{
    char text[2048] = "";
    for (int i = 0; i < 40; i++)
        strcat(text, "x@y.jp ");
    char out[4096];
    classifier_pii_span_t sp[4];
    size_t total;
    classifier_pii_mask(text, strlen(text), out, sizeof(out), sp, 4, &total);
    cr_assert(eq(sz, total, 40));
    cr_assert(eq(ptr, strchr(out, '@'), NULL));
    cr_assert(eq(sz, classifier_pii_find(text, strlen(text), sp, 4), 40));
}

Test(pii, short_output_never_leaks_or_splits)
{
    const char *text = "あいう 090-1234-5678";
    char out[12];
    size_t n = classifier_pii_mask(text, strlen(text), out, sizeof(out), NULL,
                                   0, NULL);
    /* "あいう " is 10 bytes; "[PHONE]" does not fit and is dropped whole */
    cr_assert(eq(sz, n, 10));
    cr_assert(eq(str, out, "あいう "));
    char tiny[4];
    n = classifier_pii_mask(text, strlen(text), tiny, sizeof(tiny), NULL, 0,
                            NULL);
    cr_assert(eq(sz, n, 3));
    cr_assert(eq(str, tiny, "あ"));
    /* size 0 writes nothing but still counts */
    size_t total;
    classifier_pii_mask(text, strlen(text), NULL, 0, NULL, 0, &total);
    cr_assert(eq(sz, total, 1));
}

Test(pii, binary_input_is_safe)
{
    char junk[512];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (char)((i * 131 + 7) & 0xff);
    char out[2 * sizeof(junk) + 1];
    classifier_pii_span_t sp[8];
    size_t total;
    size_t n = classifier_pii_mask(junk, sizeof(junk), out, sizeof(out), sp, 8,
                                   &total);
    cr_assert(le(sz, n, 2 * sizeof(junk)));
    for (size_t i = 0; i < total && i < 8; i++)
        cr_assert(le(u32, sp[i].end, (uint32_t)sizeof(junk)));
}

Test(pii, luhn)
{
    cr_assert(eq(int, classifier_pii_luhn("79927398713", 11), 1));
    cr_assert(eq(int, classifier_pii_luhn("79927398710", 11), 0));
    cr_assert(eq(int, classifier_pii_luhn("", 0), 0));
    cr_assert(eq(int, classifier_pii_luhn("12a4", 4), 0));
}
