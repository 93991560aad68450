/* kujo-admin: operator commands against a kujo Redis.
 *
 *   kujo-admin key create --tenant <t> --scopes <s1,s2,...>
 *                         [--name <text>] [--rate <req/s>]
 *   kujo-admin key list
 *   kujo-admin key revoke <id>
 *   kujo-admin dead list|replay|drop ...   (admin_dead.h)
 *
 * Reads KUJO_REDIS_URL (or KUJO_REDIS_URL_FILE) and KUJO_PREFIX with the
 * services' defaults. `key create` prints the new key alone on the last
 * line of stdout, once: only its SHA-256 is stored. Nothing prints the
 * Redis password. Exit codes: 0, 1 (Redis failed, no such key, or a dead
 * letter not replayed or dropped), 64 (bad usage), 78 (bad configuration). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "admin_dead.h"
#include "admin_args.h"
#include "kj_apikey.h"
#include "kj_config.h"
#include "kj_log.h"
#include "kj_redis.h"
#include "kj_time.h"
#include "kj_util.h"

#define S_BINARY "kujo-admin"
#define S_REDIS_TIMEOUT_MS 5000

static char *s_redis_url;
static char *s_prefix;

static const kj_cfg_opt_t s_cfg[] = {
    {.env = "KUJO_REDIS_URL",
     .flag = "redis-url",
     .type = KJ_CFG_STR,
     .def = "redis://127.0.0.1:6379/0",
     .help = "Redis URL: redis://[:password@]host[:port][/db]",
     .secret = true,
     .required = true,
     .dest = &s_redis_url},
    {.env = "KUJO_PREFIX",
     .flag = "prefix",
     .type = KJ_CFG_STR,
     .def = "kj",
     .help = "key prefix in Redis",
     .required = true,
     .dest = &s_prefix},
};

static void
s_usage(FILE *f)
{
    fprintf(f, "usage: " S_BINARY " key create --tenant <tenant> --scopes "
               "<s1,s2,...> [--name <text>] [--rate <req/s>]\n"
               "       " S_BINARY " key list\n"
               "       " S_BINARY " key revoke <id>\n");
    admin_dead_usage(f);
    fprintf(f,
            "\n"
            "scopes: complaints:write, complaints:read, complaints:read_pii, "
            "agents, admin, inbound:<channel>\n"
            "environment: KUJO_REDIS_URL (or KUJO_REDIS_URL_FILE), "
            "KUJO_PREFIX\n");
}

/* Connect, or say why not without the password. */
static kj_redis_t *
s_connect(void)
{
    char err[256], host[256], password[256];
    int port = 0, db = 0;
    if (kj_redis_parse_url(s_redis_url, host, sizeof host, &port, &db, password,
                           sizeof password, err, sizeof err) < 0) {
        fprintf(stderr, S_BINARY ": KUJO_REDIS_URL: %s\n", err);
        return NULL;
    }
    OPENSSL_cleanse(password, sizeof password);
    kj_redis_t *redis =
        kj_redis_new(s_redis_url, S_REDIS_TIMEOUT_MS, err, sizeof err);
    if (!redis) {
        fprintf(stderr, S_BINARY ": KUJO_REDIS_URL: %s\n", err);
        return NULL;
    }
    if (kj_redis_connect(redis) != 0) {
        fprintf(stderr, S_BINARY ": cannot use Redis at %s:%d: %s\n", host,
                port, kj_redis_errstr(redis));
        kj_redis_destroy(&redis);
    }
    return redis;
}

static int
s_key_create(int argc, char **argv)
{
    const char *tenant = NULL, *scopes_text = NULL, *name = NULL,
               *rate_text = NULL;
    for (int i = 0; i < argc; i++) {
        bool missing = false;
        const char *v;
        if ((v = admin_flag(argc, argv, &i, "--tenant", &missing)))
            tenant = v;
        else if ((v = admin_flag(argc, argv, &i, "--scopes", &missing)))
            scopes_text = v;
        else if ((v = admin_flag(argc, argv, &i, "--name", &missing)))
            name = v;
        else if ((v = admin_flag(argc, argv, &i, "--rate", &missing)))
            rate_text = v;
        else {
            fprintf(stderr, S_BINARY ": key create: %s %s\n",
                    missing ? "missing value after" : "unknown argument",
                    argv[i]);
            return KJ_EX_USAGE;
        }
    }
    if (!tenant || !scopes_text) {
        fprintf(stderr, S_BINARY ": key create: --tenant and --scopes are "
                                 "required\n");
        return KJ_EX_USAGE;
    }
    if (!kj_apikey_tenant_valid(tenant)) {
        fprintf(stderr,
                S_BINARY ": --tenant: expected 1..%d characters of "
                         "[a-z0-9_-]\n",
                KJ_APIKEY_TENANT_MAX);
        return KJ_EX_USAGE;
    }
    uint32_t scopes = 0;
    char err[KJ_APIKEY_ERR_MAX * 2];
    if (kj_apikey_scopes_parse(scopes_text, &scopes, err, sizeof err) < 0) {
        fprintf(stderr, S_BINARY ": --scopes: %s\n", err);
        return KJ_EX_USAGE;
    }
    if (name && strlen(name) > KJ_APIKEY_NAME_MAX) {
        fprintf(stderr, S_BINARY ": --name: at most %d bytes\n",
                KJ_APIKEY_NAME_MAX);
        return KJ_EX_USAGE;
    }
    for (const char *p = name ? name : ""; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            fprintf(stderr, S_BINARY ": --name: no control characters\n");
            return KJ_EX_USAGE;
        }
    int64_t rate = 0;
    if (rate_text) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(rate_text, &end, 10);
        if (errno || end == rate_text || *end || v < 0 || v > 1000000000) {
            fprintf(stderr, S_BINARY ": --rate: expected 0..1000000000 "
                                     "requests per second (0: the default)\n");
            return KJ_EX_USAGE;
        }
        rate = v;
    }
    kj_redis_t *redis = s_connect();
    if (!redis)
        return 1;
    char key[KJ_APIKEY_LEN + 1];
    kj_apikey_info_t info;
    int rc = kj_apikey_create(redis, s_prefix, tenant, scopes, name, rate,
                              kj_now_ms(), key, &info, err, sizeof err);
    kj_redis_destroy(&redis);
    if (rc < 0) {
        fprintf(stderr, S_BINARY ": key create: %s\n", err);
        return 1;
    }
    char canon[KJ_APIKEY_SCOPES_TEXT_MAX];
    kj_apikey_scopes_format(info.scopes, canon, sizeof canon);
    printf("id: %s\ntenant: %s\nscopes: %s\n", info.id, info.tenant, canon);
    if (info.name[0])
        printf("name: %s\n", info.name);
    printf("rate: %" PRId64 "\n", info.rate);
    printf("# the key, shown this once (Redis keeps only its SHA-256):\n");
    printf("%s\n", key);
    fflush(stdout);
    OPENSSL_cleanse(key, sizeof key);
    return 0;
}

static int
s_key_list(int argc, char **argv)
{
    (void)argv;
    if (argc > 0) {
        fprintf(stderr, S_BINARY ": key list takes no arguments\n");
        return KJ_EX_USAGE;
    }
    kj_redis_t *redis = s_connect();
    if (!redis)
        return 1;
    kj_apikey_info_t *list = NULL;
    size_t n = 0;
    char err[KJ_APIKEY_ERR_MAX];
    int rc = kj_apikey_list(redis, s_prefix, &list, &n, err, sizeof err);
    kj_redis_destroy(&redis);
    if (rc < 0) {
        fprintf(stderr, S_BINARY ": key list: %s\n", err);
        return 1;
    }
    printf("id\ttenant\tscopes\tcreated\trate\tname\n");
    for (size_t i = 0; i < n; i++) {
        char canon[KJ_APIKEY_SCOPES_TEXT_MAX], created[40];
        kj_apikey_scopes_format(list[i].scopes, canon, sizeof canon);
        kj_time_rfc3339_sec(list[i].created_ms, created, sizeof created);
        printf("%s\t%s\t%s\t%s\t%" PRId64 "\t%s\n", list[i].id, list[i].tenant,
               canon, created, list[i].rate, list[i].name);
    }
    free(list);
    return 0;
}

static int
s_key_revoke(int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, S_BINARY ": usage: key revoke <id>\n");
        return KJ_EX_USAGE;
    }
    kj_redis_t *redis = s_connect();
    if (!redis)
        return 1;
    char err[KJ_APIKEY_ERR_MAX];
    int rc = kj_apikey_revoke(redis, s_prefix, argv[0], err, sizeof err);
    kj_redis_destroy(&redis);
    if (rc < 0) {
        fprintf(stderr, S_BINARY ": key revoke: %s\n", err);
        return strstr(err, "not a key id") ? KJ_EX_USAGE : 1;
    }
    if (rc == 0) {
        fprintf(stderr, S_BINARY ": key revoke: no key with id %s\n", argv[0]);
        return 1;
    }
    /* Running services may accept it for up to their cache TTL (2 s). */
    printf("revoked %s\n", argv[0]);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc >= 2 &&
        (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        s_usage(stdout);
        return 0;
    }
    bool dead = argc >= 3 && strcmp(argv[1], "dead") == 0;
    if (argc < 3 || (strcmp(argv[1], "key") != 0 && !dead)) {
        s_usage(stderr);
        return KJ_EX_USAGE;
    }
    /* Problems are told on stderr in words; the JSON log lines of the
     * library (kj_redis's "redis unavailable") would only repeat them on
     * stdout, whose last line belongs to the key. */
    kj_log_init("admin", KJ_LOG_ERROR);
    /* Only the environment: the command line is the subcommand's. */
    int code = 0;
    char *none[] = {argv[0], NULL};
    if (kj_config_parse(s_cfg, KJ_ARRAY_LEN(s_cfg), 1, none, S_BINARY,
                        "operator commands", &code) != 0)
        return code;
    const char *cmd = argv[2];
    int sub_argc = argc - 3;
    char **sub_argv = argv + 3;
    if (dead)
        code = admin_dead_run(argc - 2, argv + 2, s_prefix, s_connect);
    else if (strcmp(cmd, "create") == 0)
        code = s_key_create(sub_argc, sub_argv);
    else if (strcmp(cmd, "list") == 0)
        code = s_key_list(sub_argc, sub_argv);
    else if (strcmp(cmd, "revoke") == 0)
        code = s_key_revoke(sub_argc, sub_argv);
    else {
        s_usage(stderr);
        code = KJ_EX_USAGE;
    }
    kj_config_free(s_cfg, KJ_ARRAY_LEN(s_cfg));
    return code;
}
