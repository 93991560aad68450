/* kj_http_guard: strict header checks over name/value pairs. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <string.h>

#include "kj_http_guard.h"

#define F(n, v)                                                                \
    {                                                                          \
        (n), sizeof(n) - 1, (v), sizeof(v) - 1                                 \
    }

Test(http_guard, usage_example)
{
    const kj_http_field_t ok[] = {F("Host", "api"),
                                  F("Content-Type", "application/json"),
                                  F("Content-Length", "78")};
    const char *why = NULL;
    cr_assert(eq(int, kj_http_guard_check(ok, 3, true, &why), KJ_OK));
    cr_assert(eq(str, (char *)why, ""));
    const kj_http_field_t two[] = {F("Host", "api"), F("Content-Length", "78"),
                                   F("Content-Length", "5")};
    cr_assert(
        eq(int, kj_http_guard_check(two, 3, true, &why), KJ_ERR_BAD_REQUEST));
    cr_assert(gt(sz, strlen(why), 0));
}

typedef struct {
    const char *what;
    kj_http_field_t f[3];
    size_t n;
    bool http11;
    kj_rc_t want;
} s_case_t;

static const s_case_t s_cases[] = {
    {"same length twice",
     {F("Host", "a"), F("Content-Length", "7"), F("content-length", "007")},
     3,
     true,
     KJ_OK},
    {"HTTP/1.0 needs no Host", {F("Content-Length", "7")}, 1, false, KJ_OK},
    {"HTAB and obs-text in a value",
     {F("Host", "a"), F("X-A", "a\tb\xc3\xa9")},
     2,
     true,
     KJ_OK},
    {"chunked, any case",
     {F("Host", "a"), F("Transfer-Encoding", "Chunked")},
     2,
     true,
     KJ_OK},
    {"space in a name",
     {F("Host", "a"), F("Bad Name", "x")},
     2,
     true,
     KJ_ERR_INVALID_HEADER},
    {"trailing space in a name",
     {F("Host", "a"), F("X-A ", "x")},
     2,
     true,
     KJ_ERR_INVALID_HEADER},
    {"empty name",
     {F("Host", "a"), F("", "x")},
     2,
     true,
     KJ_ERR_INVALID_HEADER},
    {"NUL in a value",
     {F("Host", "a"), F("Idempotency-Key", "nul\0B")},
     2,
     true,
     KJ_ERR_INVALID_HEADER},
    {"CR in a value",
     {F("Host", "a"), F("X-A", "a\rb")},
     2,
     true,
     KJ_ERR_INVALID_HEADER},
    {"DEL in a value",
     {F("Host", "a"), F("X-A", "a\x7f")},
     2,
     true,
     KJ_ERR_INVALID_HEADER},
    {"control wins over framing",
     {F("Content-Length", "-1"), F("X-A", "\x01")},
     2,
     true,
     KJ_ERR_INVALID_HEADER},
    {"negative length",
     {F("Host", "a"), F("Content-Length", "-1")},
     2,
     true,
     KJ_ERR_BAD_REQUEST},
    {"signed length",
     {F("Host", "a"), F("Content-Length", "+7")},
     2,
     true,
     KJ_ERR_BAD_REQUEST},
    {"empty length",
     {F("Host", "a"), F("Content-Length", "")},
     2,
     true,
     KJ_ERR_BAD_REQUEST},
    {"list length",
     {F("Host", "a"), F("Content-Length", "7, 7")},
     2,
     true,
     KJ_ERR_BAD_REQUEST},
    {"19 digits",
     {F("Host", "a"), F("Content-Length", "1234567890123456789")},
     2,
     true,
     KJ_ERR_BAD_REQUEST},
    {"no Host on 1.1", {F("Content-Length", "7")}, 1, true, KJ_ERR_BAD_REQUEST},
    {"two Hosts",
     {F("Host", "a"), F("host", "b")},
     2,
     false,
     KJ_ERR_BAD_REQUEST},
    {"length and chunked",
     {F("Host", "a"), F("Content-Length", "7"),
      F("Transfer-Encoding", "chunked")},
     3,
     true,
     KJ_ERR_BAD_REQUEST},
    {"gzip, chunked",
     {F("Host", "a"), F("Transfer-Encoding", "gzip, chunked")},
     2,
     true,
     KJ_ERR_NOT_IMPLEMENTED},
    {"chunked twice",
     {F("Host", "a"), F("Transfer-Encoding", "chunked"),
      F("Transfer-Encoding", "chunked")},
     3,
     true,
     KJ_ERR_NOT_IMPLEMENTED},
    {"identity",
     {F("Host", "a"), F("Transfer-Encoding", "identity")},
     2,
     true,
     KJ_ERR_NOT_IMPLEMENTED},
};

Test(http_guard, each_rule)
{
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++) {
        const s_case_t *t = &s_cases[i];
        const char *why = NULL;
        kj_rc_t rc = kj_http_guard_check(t->f, t->n, t->http11, &why);
        cr_expect(eq(int, rc, t->want), "%s: %s", t->what, kj_rc_name(rc));
        cr_expect(ne(ptr, (void *)why, NULL), "%s", t->what);
        if (why && rc != KJ_OK)
            cr_expect(gt(sz, strlen(why), 0), "%s", t->what);
    }
}
