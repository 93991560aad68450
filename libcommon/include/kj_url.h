/* kj_url: the one URL parser (RFC 3986 authority forms) for webhook and
 * Redis URLs, and the forms of a URL that are safe to show. */
#ifndef KJ_URL_H
#define KJ_URL_H

#include <stdbool.h>
#include <stddef.h>

#define KJ_URL_SCHEME_MAX 16
#define KJ_URL_HOST_MAX 256
#define KJ_URL_SECRET_MAX 256

/* A parsed scheme://[user[:password]@]host[:port][/path?query#fragment]. */
typedef struct {
    char scheme[KJ_URL_SCHEME_MAX];   /* lowercase: "http", "redis" */
    char user[KJ_URL_SECRET_MAX];     /* percent-decoded; "" for none */
    char password[KJ_URL_SECRET_MAX]; /* percent-decoded; never log it */
    bool has_userinfo;                /* there was an '@' */
    bool has_password;                /* the userinfo had a ':' */
    char host[KJ_URL_HOST_MAX];       /* as written, without [] for IPv6 */
    bool ipv6;                        /* host was written in [] */
    int port;         /* as written, else the scheme's default, else 0 */
    bool port_given;  /* digits followed the ':' */
    bool port_empty;  /* "host:" (the default port, RFC 3986) */
    const char *rest; /* path, query and fragment, borrowed from the
                         parsed string; "" when none */
} kj_url_t;

/* Parse url into *u. 0, or -1 with a message without the URL in err (it
 * may hold a password): no scheme, no host, a bad port, an unclosed [,
 * a control character or space, a bad %-escape in the userinfo. */
int
kj_url_parse(const char *url, kj_url_t *u, char *err, size_t err_size);

/* The default port of a lowercase scheme (http 80, https 443, redis 6379),
 * 0 if unknown. */
int
kj_url_default_port(const char *scheme);

/* u's origin as a key: lowercase scheme and host, always a port
 * ("http://hooks.example:80", "https://[::1]:443"). 0, or -1 (out "")
 * if it does not fit or u has no port. */
int
kj_url_origin(const kj_url_t *u, char *out, size_t size);

/* url with what may be secret removed, for logs and stored errors:
 * scheme://host[:port] as written, "/..." when a path, query or fragment
 * followed, no userinfo ("http://10.0.0.7:9000/..."); "(invalid URL)" if
 * url does not parse. Cut to fit out[size]. */
void
kj_url_redact(const char *url, char *out, size_t size);

#endif
