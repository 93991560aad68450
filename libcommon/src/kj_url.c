/* kj_url: the URL parser. The notifier (webhooks, circuit breaker keys)
 * and kj_redis (KUJO_REDIS_URL) each had their own before. */
#include "kj_url.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "kj_util.h"

static int
s_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decode src[len] into dst[size]. -1 on a bad escape, a NUL or no
 * room. */
static int
s_unescape(char *dst, size_t size, const char *src, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int ch = (unsigned char)src[i];
        if (ch == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = s_hexval((unsigned char)src[i + 1]);
            int lo = s_hexval((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            ch = hi * 16 + lo;
            i += 2;
        }
        if (ch == 0 || o + 1 >= size)
            return -1;
        dst[o++] = (char)ch;
    }
    dst[o] = '\0';
    return 0;
}

static int
s_fail(char *err, size_t err_size, const char *msg)
{
    if (err && err_size)
        kj_strlcpy(err, msg, err_size);
    return -1;
}

int
kj_url_default_port(const char *scheme)
{
    static const struct {
        const char *scheme;
        int port;
    } defaults[] = {{"http", 80},
                    {"https", 443},
                    {"redis", 6379},
                    {"smtp", 25},
                    {"smtps", 465}};
    for (size_t i = 0; i < KJ_ARRAY_LEN(defaults); i++)
        if (strcmp(scheme, defaults[i].scheme) == 0)
            return defaults[i].port;
    return 0;
}

int
kj_url_parse(const char *url, kj_url_t *u, char *err, size_t err_size)
{
    memset(u, 0, sizeof *u);
    u->rest = "";
    if (!url)
        return s_fail(err, err_size, "no URL");
    /* Curl and redisConnect would refuse these, or cut the URL at them;
     * a header or log line must never carry them either. */
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return s_fail(err, err_size, "control character or space in URL");

    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
    size_t slen = 0;
    while (isalnum((unsigned char)url[slen]) || url[slen] == '+' ||
           url[slen] == '-' || url[slen] == '.')
        slen++;
    if (slen == 0 || !isalpha((unsigned char)url[0]) ||
        strncmp(url + slen, "://", 3) != 0)
        return s_fail(err, err_size, "no scheme:// at the start");
    if (slen >= sizeof u->scheme)
        return s_fail(err, err_size, "scheme too long");
    for (size_t i = 0; i < slen; i++)
        u->scheme[i] = (char)tolower((unsigned char)url[i]);

    const char *auth = url + slen + 3;
    size_t alen = strcspn(auth, "/?#");
    const char *end = auth + alen;
    u->rest = end;

    /* The last '@' ends the userinfo, so a password may hold an '@'. */
    const char *at = NULL;
    for (const char *q = auth; q < end; q++)
        if (*q == '@')
            at = q;
    const char *hs = auth;
    if (at) {
        u->has_userinfo = true;
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        const char *uend = colon ? colon : at;
        if (s_unescape(u->user, sizeof u->user, auth, (size_t)(uend - auth)) !=
            0)
            return s_fail(err, err_size, "bad or too long user");
        if (colon) {
            u->has_password = true;
            if (s_unescape(u->password, sizeof u->password, colon + 1,
                           (size_t)(at - colon - 1)) != 0)
                return s_fail(err, err_size, "bad or too long password");
        }
        hs = at + 1;
    }

    /* host or [v6 host], then an optional :port */
    const char *he, *after;
    if (*hs == '[') {
        const char *close = memchr(hs, ']', (size_t)(end - hs));
        if (!close)
            return s_fail(err, err_size, "unclosed [ in host");
        u->ipv6 = true;
        after = close + 1;
        he = close;
        hs++;
    } else {
        const char *colon = memchr(hs, ':', (size_t)(end - hs));
        he = colon ? colon : end;
        after = he;
    }
    if (he == hs)
        return s_fail(err, err_size, "no host");
    if ((size_t)(he - hs) >= sizeof u->host) {
        char msg[64];
        snprintf(msg, sizeof msg, "host longer than %zu bytes",
                 sizeof u->host - 1);
        return s_fail(err, err_size, msg);
    }
    memcpy(u->host, hs, (size_t)(he - hs));
    u->host[he - hs] = '\0';

    u->port = kj_url_default_port(u->scheme);
    if (after < end) {
        if (*after != ':')
            return s_fail(err, err_size, "bad port (1..65535)");
        const char *digits = after + 1;
        size_t dlen = (size_t)(end - digits);
        if (dlen == 0) {
            u->port_empty = true;
        } else {
            long v = 0;
            if (dlen > 5)
                return s_fail(err, err_size, "bad port (1..65535)");
            for (size_t i = 0; i < dlen; i++) {
                if (!isdigit((unsigned char)digits[i]))
                    return s_fail(err, err_size, "bad port (1..65535)");
                v = v * 10 + (digits[i] - '0');
            }
            if (v < 1 || v > 65535)
                return s_fail(err, err_size, "bad port (1..65535)");
            u->port = (int)v;
            u->port_given = true;
        }
    }
    return 0;
}

int
kj_url_origin(const kj_url_t *u, char *out, size_t size)
{
    if (size == 0)
        return -1;
    out[0] = '\0';
    if (u->port <= 0)
        return -1;
    int n = snprintf(out, size, "%s://%s%s%s:%d", u->scheme, u->ipv6 ? "[" : "",
                     u->host, u->ipv6 ? "]" : "", u->port);
    if (n < 0 || (size_t)n >= size) {
        out[0] = '\0';
        return -1;
    }
    /* Host names are case-insensitive: one origin per host. */
    for (char *p = out + strlen(u->scheme) + 3; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return 0;
}

void
kj_url_redact(const char *url, char *out, size_t size)
{
    if (size == 0)
        return;
    kj_url_t u;
    if (kj_url_parse(url, &u, NULL, 0) != 0) {
        kj_strlcpy(out, "(invalid URL)", size);
        return;
    }
    /* A webhook's path or query often holds its token (Slack's
     * /services/T0/B0/XXXX): only say that there was one. */
    bool more = u.rest[0] && strcmp(u.rest, "/") != 0;
    char port[8] = "";
    if (u.port_given)
        snprintf(port, sizeof port, ":%d", u.port);
    snprintf(out, size, "%s://%s%s%s%s%s", u.scheme, u.ipv6 ? "[" : "", u.host,
             u.ipv6 ? "]" : "", port, more ? "/..." : "");
}
