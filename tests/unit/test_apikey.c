/* kj_apikey without Redis: the Authorization header grammar, key
 * generation, hashing, scopes and tenants. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kj_apikey.h"

#define KEY                                                                    \
    "kj_0123456789abcdef_"                                                     \
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"

static int
s_parse(const char *value, char *err)
{
    char key[KJ_APIKEY_LEN + 1], id[KJ_APIKEY_ID_LEN + 1];
    return kj_apikey_parse_header(value, value ? strlen(value) : 0, key, id,
                                  err, 256);
}

Test(apikey, parses_a_bearer_key)
{
    char key[KJ_APIKEY_LEN + 1], id[KJ_APIKEY_ID_LEN + 1], err[256];
    const char *v = "Bearer " KEY;
    cr_assert(eq(int, (int)strlen(KEY), KJ_APIKEY_LEN));
    cr_assert(eq(int,
                 kj_apikey_parse_header(v, strlen(v), key, id, err, sizeof err),
                 0));
    cr_assert(eq(str, key, KEY));
    cr_assert(eq(str, id, "0123456789abcdef"));
}

Test(apikey, refuses_everything_else_with_a_precise_message)
{
    char err[256];
    cr_assert(eq(int, s_parse(NULL, err), -1));
    cr_assert(strstr(err, "no Authorization header") != NULL);
    static const char *const scheme[] = {
        "",  "Bearer",       "bearer " KEY,  "Basic " KEY, "Bearer  " KEY,
        KEY, "Bearer\t" KEY, " Bearer " KEY,
    };
    for (size_t i = 0; i < sizeof scheme / sizeof scheme[0]; i++) {
        cr_assert(eq(int, s_parse(scheme[i], err), -1), "%s", scheme[i]);
        cr_assert(strstr(err, "\"Bearer \"") != NULL, "%s: %s", scheme[i], err);
    }
    static const char *const grammar[] = {
        "Bearer ",
        "Bearer " KEY " ",
        "Bearer " KEY "x",
        "Bearer "
        "kj_0123456789ABCDEF_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq",
        "Bearer "
        "kx_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq",
        "Bearer "
        "kj_0123456789abcdef-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq",
        "Bearer kj_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmno=",
        "Bearer kj_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop",
        "Bearer "
        "kj_0123456789abcde_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqr",
    };
    for (size_t i = 0; i < sizeof grammar / sizeof grammar[0]; i++) {
        cr_assert(eq(int, s_parse(grammar[i], err), -1), "%s", grammar[i]);
        cr_assert(strstr(err, "not an API key") != NULL, "%s: %s", grammar[i],
                  err);
        /* The message never echoes what was sent. */
        cr_assert(strstr(err, "ABCDEFGH") == NULL);
    }
}

Test(apikey, a_nul_inside_the_value_is_refused)
{
    char v[] = "Bearer " KEY;
    v[20] = '\0';
    char key[KJ_APIKEY_LEN + 1], id[KJ_APIKEY_ID_LEN + 1], err[256];
    cr_assert(eq(
        int, kj_apikey_parse_header(v, sizeof v - 1, key, id, err, sizeof err),
        -1));
}

Test(apikey, generated_keys_follow_the_grammar_and_differ)
{
    char a[KJ_APIKEY_LEN + 1], b[KJ_APIKEY_LEN + 1];
    char ida[KJ_APIKEY_ID_LEN + 1], idb[KJ_APIKEY_ID_LEN + 1];
    cr_assert(eq(int, kj_apikey_generate(a, ida), 0));
    cr_assert(eq(int, kj_apikey_generate(b, idb), 0));
    cr_assert(eq(sz, strlen(a), (size_t)KJ_APIKEY_LEN));
    cr_assert(kj_apikey_valid(a, strlen(a)));
    cr_assert(kj_apikey_valid(b, strlen(b)));
    cr_assert(ne(str, a, b));
    cr_assert(ne(str, ida, idb));
    cr_assert(eq(int, memcmp(a + 3, ida, KJ_APIKEY_ID_LEN), 0));
}

Test(apikey, hash_is_sha256)
{
    uint8_t d[32];
    kj_apikey_hash("abc", 3, d);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    cr_assert(eq(str, hex,
                 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f2"
                 "0015ad"));
}

Test(apikey, scopes_round_trip_in_canonical_order)
{
    uint32_t s = 0;
    char err[256], text[KJ_APIKEY_SCOPES_TEXT_MAX];
    cr_assert(eq(int,
                 kj_apikey_scopes_parse("admin,complaints:write,inbound:sms,"
                                        "complaints:read",
                                        &s, err, sizeof err),
                 0));
    cr_assert(eq(u32, s & KJ_SCOPE_ADMIN, (uint32_t)KJ_SCOPE_ADMIN));
    cr_assert(eq(u32, s & KJ_SCOPE_COMPLAINTS_READ_PII, 0u));
    cr_assert(kj_apikey_scopes_format(s, text, sizeof text) > 0);
    cr_assert(
        eq(str, text, "complaints:write,complaints:read,admin,inbound:sms"));
    cr_assert(eq(int,
                 kj_apikey_scopes_parse("complaints:read_pii,agents", &s, err,
                                        sizeof err),
                 0));
    cr_assert(
        eq(u32, s, (uint32_t)(KJ_SCOPE_COMPLAINTS_READ_PII | KJ_SCOPE_AGENTS)));
    cr_assert(eq(int, kj_apikey_scopes_format(0, text, sizeof text), 0));
    cr_assert(eq(str, text, ""));
    cr_assert(eq(int, kj_apikey_scopes_format(s, text, 8), -1));
}

Test(apikey, unknown_scopes_are_refused_by_name)
{
    uint32_t s = 7;
    char err[256];
    static const char *const bad[] = {
        "",
        "complaints:delete",
        "complaints:write,",
        ",admin",
        "admin,,agents",
        "inbound:",
        "inbound:pigeon",
        "Admin",
        "admin ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert(
            eq(int, kj_apikey_scopes_parse(bad[i], &s, err, sizeof err), -1),
            "%s", bad[i]);
        cr_assert(eq(u32, s, 0u));
    }
    kj_apikey_scopes_parse("complaints:write,pigeon", &s, err, sizeof err);
    cr_assert(strstr(err, "unknown scope \"pigeon\"") != NULL, "%s", err);
    cr_assert(strstr(err, "complaints:write") != NULL);
}

Test(apikey, tenants_as_ingest_accepts_them)
{
    cr_assert(kj_apikey_tenant_valid("acme"));
    cr_assert(kj_apikey_tenant_valid("a-b_c9"));
    cr_assert(not(kj_apikey_tenant_valid("")));
    cr_assert(not(kj_apikey_tenant_valid("Acme")));
    cr_assert(not(kj_apikey_tenant_valid("a:b")));
    char long_t[80];
    memset(long_t, 'a', 64);
    long_t[64] = '\0';
    cr_assert(not(kj_apikey_tenant_valid(long_t)));
    long_t[63] = '\0';
    cr_assert(kj_apikey_tenant_valid(long_t));
}
