/* kj_redis_parse_url and kj_redis_new: the URL forms we accept and the
 * errors for the ones we do not. No server needed. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <string.h>

#include "kj_redis.h"

/* Usage: split a URL into what redisConnect and AUTH/SELECT need. */
Test(redis_url, usage)
{
    char host[64], password[64], err[128];
    int port, db;
    int rc = kj_redis_parse_url("redis://:s3cret@10.0.0.5:6380/2", host,
                                sizeof host, &port, &db, password,
                                sizeof password, err, sizeof err);
    cr_assert(eq(int, rc, 0), "%s", err);
    cr_assert(eq(str, host, "10.0.0.5"));
    cr_assert(eq(int, port, 6380));
    cr_assert(eq(int, db, 2));
    cr_assert(eq(str, password, "s3cret"));
}

typedef struct {
    const char *url;
    const char *host;
    int port, db;
    const char *password;
} good_t;

Test(redis_url, accepted_forms)
{
    static const good_t cases[] = {
        {"redis://127.0.0.1:6379/0", "127.0.0.1", 6379, 0, ""},
        {"redis://localhost", "localhost", 6379, 0, ""},
        {"redis://localhost/", "localhost", 6379, 0, ""},
        {"redis://redis:7000", "redis", 7000, 0, ""},
        {"redis://redis/15", "redis", 6379, 15, ""},
        {"redis://user:pw@redis:1/3", "redis", 1, 3, "pw"},
        {"redis://:p%40ss@h", "h", 6379, 0, "p@ss"},
        {"redis://:a@b@h:65535", "h", 65535, 0, "a@b"},
        {"redis://[::1]:6390/1", "::1", 6390, 1, ""},
        {"redis://[::1]", "::1", 6379, 0, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const good_t *c = &cases[i];
        char host[64], password[64], err[128] = "";
        int port = -1, db = -1;
        int rc = kj_redis_parse_url(c->url, host, sizeof host, &port, &db,
                                    password, sizeof password, err, sizeof err);
        cr_assert(eq(int, rc, 0), "%s: %s", c->url, err);
        cr_assert(eq(str, host, (char *)c->host), "%s", c->url);
        cr_assert(eq(int, port, c->port), "%s", c->url);
        cr_assert(eq(int, db, c->db), "%s", c->url);
        cr_assert(eq(str, password, (char *)c->password), "%s", c->url);
    }
}

typedef struct {
    const char *url;
    const char *err;
} bad_t;

Test(redis_url, rejected_forms)
{
    static const bad_t cases[] = {
        {"http://localhost", "redis url: must start with redis://"},
        {"localhost:6379", "redis url: must start with redis://"},
        {"rediss://h", "redis url: TLS (rediss://) is not supported"},
        {"redis://", "redis url: no host"},
        {"redis://:6379", "redis url: no host"},
        {"redis://h:0", "redis url: bad port (1..65535)"},
        {"redis://h:65536", "redis url: bad port (1..65535)"},
        {"redis://h:", "redis url: bad port (1..65535)"},
        {"redis://h:12ab", "redis url: bad port (1..65535)"},
        {"redis://h:-1", "redis url: bad port (1..65535)"},
        {"redis://h/x", "redis url: bad database number"},
        {"redis://h/-1", "redis url: bad database number"},
        {"redis://h/1/2", "redis url: bad database number"},
        {"redis://h/99999999999", "redis url: bad database number"},
        {"redis://pw@h", "redis url: credentials must be [user]:password@"},
        {"redis://:%4@h", "redis url: bad or too long password"},
        {"redis://:%00@h", "redis url: bad or too long password"},
        {"redis://h?db=1", "redis url: query parameters are not supported"},
        {"redis://[::1", "redis url: unclosed [ in host"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_t *c = &cases[i];
        char host[64], password[64], err[128] = "";
        int port, db;
        int rc = kj_redis_parse_url(c->url, host, sizeof host, &port, &db,
                                    password, sizeof password, err, sizeof err);
        cr_assert(eq(int, rc, -1), "%s", c->url);
        cr_assert(eq(str, err, (char *)c->err), "%s", c->url);
    }
}

Test(redis_url, respects_buffer_sizes)
{
    char host[8], password[4], err[128];
    int port, db;
    cr_assert(eq(int,
                 kj_redis_parse_url("redis://averylonghostname", host,
                                    sizeof host, &port, &db, password,
                                    sizeof password, err, sizeof err),
                 -1));
    cr_assert(eq(str, err, "redis url: host longer than 7 bytes"));
    cr_assert(
        eq(int,
           kj_redis_parse_url("redis://:longpass@h", host, sizeof host, &port,
                              &db, password, sizeof password, err, sizeof err),
           -1));
    cr_assert(eq(str, err, "redis url: bad or too long password"));
}

Test(redis_url, new_checks_the_url_and_does_not_connect)
{
    char err[128] = "";
    kj_redis_t *r = kj_redis_new("nope://x", 100, err, sizeof err);
    cr_assert(eq(ptr, r, NULL));
    cr_assert(eq(str, err, "redis url: must start with redis://"));

    /* Port 1 on loopback: nothing listens, so the connect fails fast. */
    r = kj_redis_new("redis://127.0.0.1:1/0", 100, err, sizeof err);
    cr_assert(ne(ptr, r, NULL));
    cr_assert(not(kj_redis_connected(r)));
    cr_assert(eq(int, kj_redis_connect(r), -1));
    cr_assert(ne(str, (char *)kj_redis_errstr(r), ""));
    /* Backing off: the next try within 100 ms does not even dial. */
    cr_assert(eq(int, kj_redis_connect(r), -1));
    cr_assert(eq(ptr, kj_redis_command(r, "PING"), NULL));
    /* Appending to a closed connection is refused, not buffered. */
    cr_assert(eq(int, kj_redis_append(r, "PING"), -1));
    kj_redis_destroy(&r);
    cr_assert(eq(ptr, r, NULL));
}

Test(redis_url, script_sha_is_known_before_connecting)
{
    char err[128];
    kj_redis_t *r = kj_redis_new("redis://127.0.0.1:1", 100, err, sizeof err);
    int h = kj_redis_script_add(r, "return 1");
    cr_assert(ge(int, h, 0));
    /* SHA1("return 1"), as SCRIPT LOAD would answer. */
    cr_assert(eq(str, (char *)kj_redis_script_sha(r, h),
                 "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"));
    kj_redis_destroy(&r);
}
