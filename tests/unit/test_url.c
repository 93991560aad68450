/* kj_url: the one URL parser (webhooks, Redis) and its safe-to-show
 * forms. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <string.h>

#include "kj_url.h"

Test(url, usage_example)
{
    kj_url_t u;
    char err[128] = "", origin[128];
    int rc = kj_url_parse("HTTPS://bot:s%40cret@Hooks.Example:8443/t/X?y#z", &u,
                          err, sizeof err);
    cr_assert(eq(int, rc, 0), "%s", err);
    cr_assert(eq(str, u.scheme, "https"));
    cr_assert(eq(str, u.user, "bot"));
    cr_assert(eq(str, u.password, "s@cret"));
    cr_assert(eq(str, u.host, "Hooks.Example"));
    cr_assert(eq(int, u.port, 8443));
    cr_assert(eq(str, (char *)u.rest, "/t/X?y#z"));
    cr_assert(eq(int, kj_url_origin(&u, origin, sizeof origin), 0));
    cr_assert(eq(str, origin, "https://hooks.example:8443"));
}

Test(url, default_port_by_scheme)
{
    kj_url_t u;
    cr_assert(eq(int, kj_url_parse("http://h", &u, NULL, 0), 0));
    cr_assert(eq(int, u.port, 80));
    cr_assert(not(u.port_given));
    cr_assert(eq(str, (char *)u.rest, ""));
    cr_assert(eq(int, kj_url_parse("https://h/", &u, NULL, 0), 0));
    cr_assert(eq(int, u.port, 443));
    cr_assert(eq(int, kj_url_parse("redis://h", &u, NULL, 0), 0));
    cr_assert(eq(int, u.port, 6379));
    /* "host:" is the default port (RFC 3986), and says so. */
    cr_assert(eq(int, kj_url_parse("http://h:/a", &u, NULL, 0), 0));
    cr_assert(eq(int, u.port, 80));
    cr_assert(u.port_empty);
    cr_assert(not(u.port_given));
    /* An unknown scheme has no default port, hence no origin. */
    char out[64];
    cr_assert(eq(int, kj_url_parse("ftp://h/x", &u, NULL, 0), 0));
    cr_assert(eq(int, u.port, 0));
    cr_assert(eq(int, kj_url_origin(&u, out, sizeof out), -1));
    cr_assert(eq(str, out, ""));
}

Test(url, ipv6_hosts)
{
    kj_url_t u;
    char out[64];
    cr_assert(eq(int, kj_url_parse("http://[::1]:9000?q", &u, NULL, 0), 0));
    cr_assert(eq(str, u.host, "::1"));
    cr_assert(u.ipv6);
    cr_assert(eq(int, u.port, 9000));
    cr_assert(eq(str, (char *)u.rest, "?q"));
    kj_url_origin(&u, out, sizeof out);
    cr_assert(eq(str, out, "http://[::1]:9000"));
    cr_assert(eq(int, kj_url_parse("https://[FE80::1]/a", &u, NULL, 0), 0));
    kj_url_origin(&u, out, sizeof out);
    cr_assert(eq(str, out, "https://[fe80::1]:443"));
}

Test(url, userinfo)
{
    kj_url_t u;
    /* The last '@' ends the userinfo. */
    cr_assert(eq(int, kj_url_parse("redis://:a@b@h:1", &u, NULL, 0), 0));
    cr_assert(u.has_userinfo);
    cr_assert(u.has_password);
    cr_assert(eq(str, u.user, ""));
    cr_assert(eq(str, u.password, "a@b"));
    cr_assert(eq(str, u.host, "h"));
    cr_assert(eq(int, kj_url_parse("http://only@h", &u, NULL, 0), 0));
    cr_assert(eq(str, u.user, "only"));
    cr_assert(not(u.has_password));
    cr_assert(eq(int, kj_url_parse("http://h", &u, NULL, 0), 0));
    cr_assert(not(u.has_userinfo));
}

typedef struct {
    const char *url;
    const char *err;
} bad_t;

Test(url, bad_input_is_rejected_with_a_message)
{
    static const bad_t cases[] = {
        {"", "no scheme:// at the start"},
        {"hooks.example/x", "no scheme:// at the start"},
        {"mailto:a@b.c", "no scheme:// at the start"},
        {"1http://h", "no scheme:// at the start"},
        {"http://", "no host"},
        {"http:///path", "no host"},
        {"http://:80/", "no host"},
        {"http://u@/", "no host"},
        {"http://h:0/", "bad port (1..65535)"},
        {"http://h:65536/", "bad port (1..65535)"},
        {"http://h:99999/", "bad port (1..65535)"},
        {"http://h:8a/", "bad port (1..65535)"},
        {"http://h:-1", "bad port (1..65535)"},
        {"http://[::1/", "unclosed [ in host"},
        {"http://[::1]x/", "bad port (1..65535)"},
        {"http://a b/", "control character or space in URL"},
        {"http://a/\n", "control character or space in URL"},
        {"http://:%4@h", "bad or too long password"},
        {"http://%zz:p@h", "bad or too long user"},
        {"http://:%00@h", "bad or too long password"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kj_url_t u;
        char err[128] = "";
        cr_assert(eq(int, kj_url_parse(cases[i].url, &u, err, sizeof err), -1),
                  "%s", cases[i].url);
        cr_assert(eq(str, err, (char *)cases[i].err), "%s", cases[i].url);
    }
    kj_url_t u;
    cr_assert(eq(int, kj_url_parse(NULL, &u, NULL, 0), -1));
}

Test(url, long_hosts_are_refused_not_cut)
{
    char url[600] = "http://";
    memset(url + 7, 'a', 300);
    kj_url_t u;
    char err[128];
    cr_assert(eq(int, kj_url_parse(url, &u, err, sizeof err), -1));
    cr_assert(eq(str, err, "host longer than 255 bytes"));
    char out[8];
    cr_assert(eq(int, kj_url_parse("http://h.example/", &u, NULL, 0), 0));
    cr_assert(eq(int, kj_url_origin(&u, out, sizeof out), -1));
    cr_assert(eq(str, out, ""));
}

Test(url, redact_keeps_only_scheme_host_and_port)
{
    char out[128];
    kj_url_redact("https://hooks.slack.com/services/T0/B0/XXXX", out,
                  sizeof out);
    cr_assert(eq(str, out, "https://hooks.slack.com/..."));
    kj_url_redact("http://user:pw@10.0.0.7:9000/alerts?token=1", out,
                  sizeof out);
    cr_assert(eq(str, out, "http://10.0.0.7:9000/..."));
    kj_url_redact("redis://:s3cret@[::1]:6390/2", out, sizeof out);
    cr_assert(eq(str, out, "redis://[::1]:6390/..."));
    kj_url_redact("http://example.com/", out, sizeof out);
    cr_assert(eq(str, out, "http://example.com"));
    kj_url_redact("http://example.com#f", out, sizeof out);
    cr_assert(eq(str, out, "http://example.com/..."));
    kj_url_redact("nonsense", out, sizeof out);
    cr_assert(eq(str, out, "(invalid URL)"));
    /* Cut to fit, never past the buffer. */
    kj_url_redact("http://example.com/", out, 8);
    cr_assert(eq(str, out, "http://"));
}
