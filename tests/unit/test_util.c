/* kj_util: allocation, strings, UTF-8 validation, hashing, PRNG, names. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdlib.h>
#include <string.h>

#include "kj_util.h"

Test(util, usage_example)
{
    /* Allocation never returns NULL; strings are bounded; names are
     * stable. */
    char *s = kj_strdup("kujo");
    char buf[3];
    cr_assert(eq(sz, kj_strlcpy(buf, s, sizeof(buf)), 4));
    cr_assert(eq(str, buf, "ku"));
    cr_assert(kj_utf8_valid("苦情", strlen("苦情")));
    cr_assert(eq(str, (char *)kj_rc_name(KJ_ERR_STALE), "stale"));
    free(s);
}

Test(util, alloc_zero_and_realloc)
{
    void *p = kj_malloc(0);
    cr_assert(not(eq(ptr, p, NULL)));
    p = kj_realloc(p, 100);
    memset(p, 'x', 100);
    free(p);
    int *z = kj_calloc(10, sizeof(int));
    for (int i = 0; i < 10; i++)
        cr_assert(eq(int, z[i], 0));
    free(z);
    char *d = kj_strndup("abcdef", 3);
    cr_assert(eq(str, d, "abc"));
    free(d);
    d = kj_strndup("ab", 10);
    cr_assert(eq(str, d, "ab"));
    free(d);
}

Test(util, strlcpy_edges)
{
    char buf[8];
    memset(buf, 'z', sizeof(buf));
    cr_assert(eq(sz, kj_strlcpy(buf, "", sizeof(buf)), 0));
    cr_assert(eq(str, buf, ""));
    cr_assert(eq(sz, kj_strlcpy(buf, "1234567", sizeof(buf)), 7));
    cr_assert(eq(str, buf, "1234567"));
    cr_assert(eq(sz, kj_strlcpy(buf, "12345678", sizeof(buf)), 8));
    cr_assert(eq(str, buf, "1234567"));
    buf[0] = 'q';
    cr_assert(eq(sz, kj_strlcpy(buf, "abc", 0), 3));
    cr_assert(eq(chr, buf[0], 'q'));
}

Test(util, utf8_valid_accepts)
{
    static const char *const good[] = {
        "",
        "plain ascii",
        "\xC2\x80",         /* U+0080, smallest 2-byte */
        "\xDF\xBF",         /* U+07FF */
        "\xE0\xA0\x80",     /* U+0800, smallest 3-byte */
        "\xED\x9F\xBF",     /* U+D7FF, just below surrogates */
        "\xEE\x80\x80",     /* U+E000, just above */
        "\xEF\xBF\xBD",     /* U+FFFD */
        "\xF0\x90\x80\x80", /* U+10000 */
        "\xF4\x8F\xBF\xBF", /* U+10FFFF */
        "日本語のテキスト 😀",
    };
    for (size_t i = 0; i < KJ_ARRAY_LEN(good); i++)
        cr_assert(kj_utf8_valid(good[i], strlen(good[i])), "case %zu", i);
    /* NUL is a valid code point when the length says so. */
    cr_assert(kj_utf8_valid("a\0b", 3));
}

Test(util, utf8_valid_rejects)
{
    static const char *const bad[] = {
        "\x80", /* lone continuation */
        "\xBF",
        "\xC0\x80",         /* overlong NUL */
        "\xC1\xBF",         /* overlong */
        "\xE0\x80\x80",     /* overlong 3-byte */
        "\xE0\x9F\xBF",     /* overlong U+07FF */
        "\xF0\x80\x80\x80", /* overlong 4-byte */
        "\xF0\x8F\xBF\xBF", /* overlong U+FFFF */
        "\xED\xA0\x80",     /* U+D800 surrogate */
        "\xED\xBF\xBF",     /* U+DFFF surrogate */
        "\xF4\x90\x80\x80", /* U+110000 */
        "\xF5\x80\x80\x80", /* lead byte past range */
        "\xFF",
        "\xFE",
        "\xC2",         /* truncated */
        "\xE3\x81",     /* truncated */
        "\xF0\x9F\x98", /* truncated emoji */
        "\xC2\x41",     /* continuation missing */
        "\xE3\x41\x81",
        "ok then \xE3\x81", /* truncated at the end */
    };
    for (size_t i = 0; i < KJ_ARRAY_LEN(bad); i++)
        cr_assert(not(kj_utf8_valid(bad[i], strlen(bad[i]))), "case %zu", i);
    /* The length bounds the check: a valid prefix of a longer buffer. */
    cr_assert(kj_utf8_valid("ab\xFF", 2));
    cr_assert(not(kj_utf8_valid("\xE3\x81\x82", 2)));
}

Test(util, hash64_fnv1a_vectors)
{
    /* Published FNV-1a 64 test vectors. */
    cr_assert(eq(u64, kj_hash64("", 0), 0xcbf29ce484222325ULL));
    cr_assert(eq(u64, kj_hash64("a", 1), 0xaf63dc4c8601ec8cULL));
    cr_assert(eq(u64, kj_hash64("foobar", 6), 0x85944171f73967e8ULL));
}

Test(util, rand64_splitmix_vectors)
{
    /* splitmix64 from state 0 (reference implementation's outputs). */
    uint64_t st = 0;
    cr_assert(eq(u64, kj_rand64(&st), 0xe220a8397b1dcdafULL));
    cr_assert(eq(u64, kj_rand64(&st), 0x6e789e6aa1b965f4ULL));
    cr_assert(eq(u64, kj_rand64(&st), 0x06c45d188009454fULL));
}

Test(util, seeds_differ)
{
    uint64_t a = kj_seed(), b = kj_seed();
    cr_assert(not(eq(u64, a, b)));
}

Test(util, clocks)
{
    int64_t now = kj_now_ms();
    /* After 2020-01-01 and before 2100. */
    cr_assert(gt(i64, now, 1577836800000LL));
    cr_assert(lt(i64, now, 4102444800000LL));
    int64_t m1 = kj_mono_ms(), m2 = kj_mono_ms();
    cr_assert(le(i64, m1, m2));
}

Test(util, rc_names)
{
    /* The shipped order: values are only ever appended, so a new name goes
     * at the end of this list and no earlier row ever changes. */
    static const char *const names[] = {
        "ok",
        "invalid",
        "no_memory",
        "redis_error",
        "zmq_error",
        "decode_error",
        "stale",
        "timeout",
        "http_error",
        "max_attempts",
        "config_error",
        "too_big",
        "io_error",
        "retry",
        "dead",
        "deferred",
        "push_failed",
        "busy",
        "circuit_open",
        "stage_timeout",
        "internal_error",
        "unavailable",
        "not_found",
        "method_not_allowed",
        "body_too_large",
        "no_such_complaint",
        "not_dead",
        "unsupported_media_type",
        "invalid_idempotency_key",
        "invalid_json",
        "invalid_utf8",
        "wrong_type",
        "missing_field",
        "unknown_field",
        "field_too_long",
        "text_too_long",
        "empty_text",
        "unknown_channel",
        "invalid_time",
        "unauthorized",
        "forbidden",
        "rate_limited",
        "invalid_header",
        "bad_request",
        "not_implemented",
        "outcome_unknown",
        "forged",
        "too_slow",
        "no_such_case",
        "no_such_agent",
        "no_such_customer",
        "illegal_transition",
        "at_capacity",
        "invalid_value",
        "not_in_team",
        "bad_signature",
        "bad_token",
        "token_used",
    };
    cr_assert(eq(sz, KJ_ARRAY_LEN(names), (size_t)KJ_RC_COUNT));
    for (int i = 0; i < KJ_RC_COUNT; i++)
        cr_assert(eq(str, (char *)kj_rc_name((kj_rc_t)i), (char *)names[i]));
    cr_assert(eq(str, (char *)kj_rc_name(KJ_RC_COUNT), "unknown"));
    cr_assert(eq(str, (char *)kj_rc_name((kj_rc_t)-1), "unknown"));
}

Test(util, parse_i64)
{
    int64_t v = -1;
    cr_assert(eq(int, kj_parse_i64("42xyz", 2, &v), 0));
    cr_assert(eq(i64, v, 42));
    cr_assert(eq(int, kj_parse_i64("-7", 2, &v), 0));
    cr_assert(eq(i64, v, -7));
    cr_assert(eq(int, kj_parse_i64("9223372036854775807", 19, &v), 0));
    cr_assert(eq(i64, v, INT64_MAX));
    v = 5;
    cr_assert(eq(int, kj_parse_i64("", 0, &v), -1));
    cr_assert(eq(int, kj_parse_i64("12a", 3, &v), -1));
    cr_assert(eq(int, kj_parse_i64("1 ", 2, &v), -1));
    cr_assert(eq(int, kj_parse_i64("9223372036854775808", 19, &v), -1));
    cr_assert(eq(int, kj_parse_i64("1234567890123456789012345", 25, &v), -1));
    cr_assert(eq(i64, v, 5), "a failed parse leaves *out alone");
}

Test(util, format_i64_pads_and_signs)
{
    char b[48];
    size_t n = kj_format_i64(b, 7, 3);
    cr_assert(eq(str, (b[n] = '\0', b), "007"));
    n = kj_format_i64(b, -42, 1);
    cr_assert(eq(str, (b[n] = '\0', b), "-42"));
    n = kj_format_i64(b, INT64_MIN, 1);
    cr_assert(eq(str, (b[n] = '\0', b), "-9223372036854775808"));
    n = kj_format_i64(b, 0, 0);
    cr_assert(eq(str, (b[n] = '\0', b), "0"));
}
