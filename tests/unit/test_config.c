/* kj_config: precedence, flag forms, every problem reported, exit codes,
 * --help/--version, secrets never echoed, secrets from <ENV>_FILE, address
 * splitting. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kj_config.h"
#include "kj_log.h"
#include "kj_util.h"

/* Redirect fd (1 or 2) to a temporary file until s_capture_end. */
typedef struct {
    int fd;    /* the redirected descriptor */
    int saved; /* its original, restored at the end */
    char path[64];
} s_capture_t;

static void
s_capture_start(s_capture_t *c, int fd)
{
    c->fd = fd;
    snprintf(c->path, sizeof(c->path), "/tmp/kj_test_cfg_XXXXXX");
    int tmp = mkstemp(c->path);
    cr_assert(ge(int, tmp, 0));
    fflush(stdout);
    fflush(stderr);
    c->saved = dup(fd);
    dup2(tmp, fd);
    close(tmp);
}

static char *
s_capture_end(s_capture_t *c)
{
    fflush(stdout);
    fflush(stderr);
    dup2(c->saved, c->fd);
    close(c->saved);
    FILE *f = fopen(c->path, "rb");
    cr_assert(not(eq(ptr, f, NULL)));
    char *buf = kj_calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    unlink(c->path);
    return buf;
}

static int
s_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The table a service would declare. */
static char *s_url;
static char *s_secret;
static char *s_advertise;
static int64_t s_attempts;
static int64_t s_lease;
static bool s_verbose;

static const kj_cfg_opt_t s_opts[] = {
    {.env = "KJT_REDIS_URL",
     .flag = "redis-url",
     .type = KJ_CFG_STR,
     .def = "redis://127.0.0.1:6379/0",
     .help = "Redis URL",
     .dest = &s_url},
    {.env = "KJT_SECRET",
     .flag = "webhook-secret",
     .type = KJ_CFG_STR,
     .help = "HMAC secret for webhooks",
     .secret = true,
     .dest = &s_secret},
    {.env = "KJT_ADVERTISE",
     .flag = "zmq-advertise",
     .type = KJ_CFG_STR,
     .help = "host to advertise",
     .dest = &s_advertise},
    {.env = "KJT_MAX_ATTEMPTS",
     .flag = "max-attempts",
     .type = KJ_CFG_INT,
     .def = "5",
     .min = 1,
     .max = 100,
     .help = "attempts before dead",
     .dest = &s_attempts},
    {.env = "KJT_LEASE_MS",
     .flag = "lease-ms",
     .type = KJ_CFG_INT,
     .def = "10000",
     .min = 100,
     .max = 3600000,
     .help = "lease in ms",
     .dest = &s_lease},
    {.env = "KJT_VERBOSE",
     .flag = "verbose",
     .type = KJ_CFG_BOOL,
     .def = "false",
     .help = "more logs",
     .dest = &s_verbose},
};
#define S_N KJ_ARRAY_LEN(s_opts)

static void
s_reset(void)
{
    static const char *const env[] = {
        "KJT_REDIS_URL", "KJT_SECRET",  "KJT_ADVERTISE",  "KJT_MAX_ATTEMPTS",
        "KJT_LEASE_MS",  "KJT_VERBOSE", "KJT_SECRET_FILE"};
    for (size_t i = 0; i < KJ_ARRAY_LEN(env); i++)
        unsetenv(env[i]);
    kj_config_free(s_opts, S_N);
    s_attempts = s_lease = -1;
    s_verbose = false;
}

/* Parse argv (NULL-terminated list after the binary), capturing stderr. */
static int
s_parse(int *exit_code, char **err_out, const char *const *args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"kujo-test";
    for (; args && args[argc - 1]; argc++)
        argv[argc] = (char *)args[argc - 1];
    argv[argc] = NULL;
    s_capture_t c;
    s_capture_start(&c, STDERR_FILENO);
    int rc = kj_config_parse(s_opts, S_N, argc, argv, "kujo-test",
                             "A test binary.", exit_code);
    char *err = s_capture_end(&c);
    if (err_out)
        *err_out = err;
    else
        free(err);
    return rc;
}

TestSuite(config, .init = s_reset, .fini = s_reset, .timeout = 30);

Test(config, usage_example)
{
    /* Defaults, overridden by the environment, overridden by flags. */
    setenv("KJT_MAX_ATTEMPTS", "7", 1);
    setenv("KJT_LEASE_MS", "2000", 1);
    const char *args[] = {"--lease-ms", "3000", NULL};
    int code = -1;
    cr_assert(eq(int, s_parse(&code, NULL, args), 0));
    cr_assert(eq(int, code, 0));
    cr_assert(eq(str, s_url, "redis://127.0.0.1:6379/0"));
    cr_assert(eq(ptr, s_secret, NULL));
    cr_assert(eq(i64, s_attempts, 7));
    cr_assert(eq(i64, s_lease, 3000));
    cr_assert(not(s_verbose));
    kj_config_free(s_opts, S_N);
    cr_assert(eq(ptr, s_url, NULL));
}

Test(config, flag_forms)
{
    const char *args[] = {"--redis-url=redis://h:1/2",
                          "--zmq-advertise",
                          "10.0.0.5",
                          "--verbose",
                          "--max-attempts=9",
                          NULL};
    int code = -1;
    cr_assert(eq(int, s_parse(&code, NULL, args), 0));
    cr_assert(eq(str, s_url, "redis://h:1/2"));
    cr_assert(eq(str, s_advertise, "10.0.0.5"));
    cr_assert(s_verbose);
    cr_assert(eq(i64, s_attempts, 9));
}

Test(config, bool_values)
{
    static const struct {
        const char *arg;
        const char *next;
        bool want;
    } cases[] = {
        {"--verbose=true", NULL, true},        {"--verbose=0", NULL, false},
        {"--verbose=yes", NULL, true},         {"--verbose=off", NULL, false},
        {"--verbose", "false", false},         {"--verbose", "on", true},
        {"--verbose", "--lease-ms=200", true},
    };
    for (size_t i = 0; i < KJ_ARRAY_LEN(cases); i++) {
        s_reset();
        const char *args[] = {cases[i].arg, cases[i].next, NULL};
        int code = -1;
        cr_assert(eq(int, s_parse(&code, NULL, args), 0), "case %zu", i);
        cr_assert(eq(int, s_verbose, cases[i].want), "case %zu", i);
    }
    s_reset();
    setenv("KJT_VERBOSE", "1", 1);
    int code = -1;
    cr_assert(eq(int, s_parse(&code, NULL, NULL), 0));
    cr_assert(s_verbose);
}

Test(config, empty_env_means_unset)
{
    setenv("KJT_REDIS_URL", "", 1);
    setenv("KJT_MAX_ATTEMPTS", "", 1);
    int code = -1;
    cr_assert(eq(int, s_parse(&code, NULL, NULL), 0));
    cr_assert(eq(str, s_url, "redis://127.0.0.1:6379/0"));
    cr_assert(eq(i64, s_attempts, 5));
}

Test(config, unknown_flag_is_usage_error)
{
    const char *args[] = {"--nope", "1", NULL};
    int code = -1;
    char *err;
    cr_assert(eq(int, s_parse(&code, &err, args), -1));
    cr_assert(eq(int, code, KJ_EX_USAGE));
    cr_assert(not(eq(ptr, strstr(err, "--nope"), NULL)), "%s", err);
    /* Nothing was written on failure. */
    cr_assert(eq(ptr, s_url, NULL));
    free(err);
}

Test(config, missing_value_is_usage_error)
{
    const char *args[] = {"--redis-url", NULL};
    int code = -1;
    char *err;
    cr_assert(eq(int, s_parse(&code, &err, args), -1));
    cr_assert(eq(int, code, KJ_EX_USAGE));
    cr_assert(not(eq(ptr, strstr(err, "--redis-url"), NULL)), "%s", err);
    free(err);

    const char *args2[] = {"--lease-ms", "--verbose", NULL};
    cr_assert(eq(int, s_parse(&code, NULL, args2), -1));
    cr_assert(eq(int, code, KJ_EX_USAGE));

    const char *args3[] = {"stray", NULL};
    cr_assert(eq(int, s_parse(&code, NULL, args3), -1));
    cr_assert(eq(int, code, KJ_EX_USAGE));
}

Test(config, every_bad_value_reported)
{
    setenv("KJT_MAX_ATTEMPTS", "lots", 1);
    const char *args[] = {"--lease-ms=5", "--verbose=maybe", NULL};
    int code = -1;
    char *err;
    cr_assert(eq(int, s_parse(&code, &err, args), -1));
    cr_assert(eq(int, code, KJ_EX_CONFIG));
    /* Each message names the variable or flag and the value. */
    cr_assert(not(eq(ptr, strstr(err, "KJT_MAX_ATTEMPTS"), NULL)), "%s", err);
    cr_assert(not(eq(ptr, strstr(err, "\"lots\""), NULL)), "%s", err);
    cr_assert(not(eq(ptr, strstr(err, "--lease-ms"), NULL)), "%s", err);
    cr_assert(not(eq(ptr, strstr(err, "\"5\""), NULL)), "%s", err);
    cr_assert(not(eq(ptr, strstr(err, "out of range [100, 3600000]"), NULL)),
              "%s", err);
    cr_assert(not(eq(ptr, strstr(err, "\"maybe\""), NULL)), "%s", err);
    cr_assert(eq(int, s_count(err, "\n"), 3), "%s", err);
    cr_assert(eq(ptr, s_url, NULL));
    free(err);
}

Test(config, usage_and_value_errors_together)
{
    const char *args[] = {"--max-attempts=0", "--bogus", NULL};
    int code = -1;
    char *err;
    cr_assert(eq(int, s_parse(&code, &err, args), -1));
    /* A bad flag wins the exit code, but both are reported. */
    cr_assert(eq(int, code, KJ_EX_USAGE));
    cr_assert(not(eq(ptr, strstr(err, "--bogus"), NULL)), "%s", err);
    cr_assert(not(eq(ptr, strstr(err, "--max-attempts"), NULL)), "%s", err);
    free(err);
}

Test(config, int_edges)
{
    static const char *const bad[] = {
        "", " 5", "5 ", "0x10", "1e3", "-", "99999999999999999999", "101", "0"};
    for (size_t i = 0; i < KJ_ARRAY_LEN(bad); i++) {
        char arg[64];
        snprintf(arg, sizeof(arg), "--max-attempts=%s", bad[i]);
        const char *args[] = {arg, NULL};
        int code = -1;
        cr_assert(eq(int, s_parse(&code, NULL, args), -1), "%s", arg);
        cr_assert(eq(int, code, KJ_EX_CONFIG), "%s", arg);
    }
    const char *ok[] = {"--max-attempts=1", "--lease-ms", "3600000", NULL};
    int code = -1;
    cr_assert(eq(int, s_parse(&code, NULL, ok), 0));
    cr_assert(eq(i64, s_attempts, 1));
    cr_assert(eq(i64, s_lease, 3600000));
}

static char *s_req;
static const kj_cfg_opt_t s_req_opts[] = {
    {.env = "KJT_REQ_SECRET",
     .flag = "req-secret",
     .type = KJ_CFG_STR,
     .help = "needed",
     .secret = true,
     .required = true,
     .dest = &s_req},
};

Test(config, required_missing)
{
    unsetenv("KJT_REQ_SECRET");
    char *argv[] = {(char *)"kujo-test", NULL};
    int code = -1;
    s_capture_t c;
    s_capture_start(&c, STDERR_FILENO);
    int rc = kj_config_parse(s_req_opts, 1, 1, argv, "kujo-test", "", &code);
    char *err = s_capture_end(&c);
    cr_assert(eq(int, rc, -1));
    cr_assert(eq(int, code, KJ_EX_CONFIG));
    cr_assert(not(eq(ptr, strstr(err, "KJT_REQ_SECRET"), NULL)), "%s", err);
    free(err);

    setenv("KJT_REQ_SECRET", "s3cr3t-value", 1);
    rc = kj_config_parse(s_req_opts, 1, 1, argv, "kujo-test", "", &code);
    cr_assert(eq(int, rc, 0));
    cr_assert(eq(str, s_req, "s3cr3t-value"));
    unsetenv("KJT_REQ_SECRET");
    kj_config_free(s_req_opts, 1);
}

static int64_t s_secret_int;
static const kj_cfg_opt_t s_secret_int_opts[] = {
    {.env = "KJT_PIN",
     .flag = "pin",
     .type = KJ_CFG_INT,
     .def = "1",
     .min = 0,
     .max = 9999,
     .help = "a secret number",
     .secret = true,
     .dest = &s_secret_int},
};

Test(config, secrets_never_echoed)
{
    char *argv[] = {(char *)"kujo-test", (char *)"--pin=hunter2", NULL};
    int code = -1;
    s_capture_t c;
    s_capture_start(&c, STDERR_FILENO);
    int rc =
        kj_config_parse(s_secret_int_opts, 1, 2, argv, "kujo-test", "", &code);
    char *err = s_capture_end(&c);
    cr_assert(eq(int, rc, -1));
    cr_assert(eq(int, code, KJ_EX_CONFIG));
    cr_assert(not(eq(ptr, strstr(err, "--pin"), NULL)), "%s", err);
    cr_assert(eq(ptr, strstr(err, "hunter2"), NULL), "%s", err);
    free(err);
}

Test(config, help)
{
    setenv("KJT_SECRET", "topsecret", 1);
    const char *args[] = {"--bogus", "--help", NULL};
    s_capture_t out;
    s_capture_start(&out, STDOUT_FILENO);
    int code = -1;
    int rc = s_parse(&code, NULL, args);
    char *text = s_capture_end(&out);
    cr_assert(eq(int, rc, -1));
    cr_assert(eq(int, code, 0));
    cr_assert(eq(int, strncmp(text, "usage: kujo-test [options]\n", 27), 0),
              "%s", text);
    cr_assert(not(eq(ptr, strstr(text, "A test binary."), NULL)));
    /* One line per option with flag, env name, help and default. */
    const char *line = strstr(text, "--redis-url");
    cr_assert(not(eq(ptr, (void *)line, NULL)), "%s", text);
    const char *eol = strchr(line, '\n');
    char buf[256];
    snprintf(buf, sizeof(buf), "%.*s", (int)(eol - line), line);
    cr_assert(not(eq(ptr, strstr(buf, "KJT_REDIS_URL"), NULL)), "%s", buf);
    cr_assert(not(eq(ptr, strstr(buf, "Redis URL"), NULL)), "%s", buf);
    cr_assert(not(eq(ptr, strstr(buf, "redis://127.0.0.1:6379/0"), NULL)), "%s",
              buf);
    cr_assert(not(eq(ptr, strstr(text, "(secret)"), NULL)), "%s", text);
    cr_assert(eq(ptr, strstr(text, "topsecret"), NULL), "%s", text);
    cr_assert(not(eq(ptr, strstr(text, "--version"), NULL)), "%s", text);
    for (size_t i = 0; i < S_N; i++)
        cr_assert(not(eq(ptr, strstr(text, s_opts[i].env), NULL)));
    free(text);
}

Test(config, version)
{
    const char *args[] = {"--version", NULL};
    s_capture_t out;
    s_capture_start(&out, STDOUT_FILENO);
    int code = -1;
    int rc = s_parse(&code, NULL, args);
    char *text = s_capture_end(&out);
    cr_assert(eq(int, rc, -1));
    cr_assert(eq(int, code, 0));
    cr_assert(eq(str, text, "kujo-test " KJ_VERSION "\n"));
    free(text);
}

Test(config, log_redacts_secrets)
{
    setenv("KJT_SECRET", "topsecret", 1);
    const char *args[] = {"--max-attempts", "3", NULL};
    int code = -1;
    cr_assert(eq(int, s_parse(&code, NULL, args), 0));
    kj_log_init("test", KJ_LOG_INFO);
    s_capture_t out;
    s_capture_start(&out, STDOUT_FILENO);
    kj_config_log(s_opts, S_N);
    char *text = s_capture_end(&out);
    cr_assert(eq(int, s_count(text, "\n"), 1), "%s", text);
    cr_assert(not(eq(ptr, strstr(text, "\"msg\":\"config\""), NULL)), "%s",
              text);
    cr_assert(not(eq(ptr, strstr(text, "\"webhook_secret\":\"***\""), NULL)),
              "%s", text);
    cr_assert(eq(ptr, strstr(text, "topsecret"), NULL), "%s", text);
    cr_assert(not(eq(ptr, strstr(text, "\"max_attempts\":3"), NULL)), "%s",
              text);
    cr_assert(not(eq(ptr, strstr(text, "\"verbose\":false"), NULL)), "%s",
              text);
    cr_assert(not(eq(ptr, strstr(text, "\"zmq_advertise\":null"), NULL)), "%s",
              text);
    cr_assert(
        not(eq(ptr, strstr(text, "\"redis_url\":\"redis://127.0.0.1:6379/0\""),
               NULL)),
        "%s", text);
    free(text);
}

Test(config, addr_split)
{
    char host[64];
    int port = -1;
    cr_assert(
        eq(int, kj_addr_split("127.0.0.1:9101", host, sizeof(host), &port), 0));
    cr_assert(eq(str, host, "127.0.0.1"));
    cr_assert(eq(int, port, 9101));
    cr_assert(eq(int, kj_addr_split("[::1]:80", host, sizeof(host), &port), 0));
    cr_assert(eq(str, host, "::1"));
    cr_assert(eq(int, port, 80));
    cr_assert(eq(int, kj_addr_split("*:0", host, sizeof(host), &port), 0));
    cr_assert(eq(str, host, "*"));
    cr_assert(eq(int, port, 0));
    cr_assert(
        eq(int, kj_addr_split("localhost:*", host, sizeof(host), &port), 0));
    cr_assert(eq(str, host, "localhost"));
    cr_assert(eq(int, port, 0));
    cr_assert(eq(int, kj_addr_split(":9102", host, sizeof(host), &port), 0));
    cr_assert(eq(str, host, ""));
    cr_assert(eq(int, port, 9102));
    cr_assert(eq(int, kj_addr_split("h:65535", host, sizeof(host), &port), 0));
    cr_assert(eq(int, port, 65535));

    static const char *const bad[] = {
        "127.0.0.1", "127.0.0.1:", "host:65536", "host:99999999",
        "host:-1",   "host:8o",    "::1:80",     "[::1]80",
        "[::1]",     "[]:80",      "ho st:80",   "host:80 ",
        "host:+80",  "",           "[::1:80",    "a\"b:80",
    };
    for (size_t i = 0; i < KJ_ARRAY_LEN(bad); i++) {
        port = 12345;
        cr_assert(eq(int, kj_addr_split(bad[i], host, sizeof(host), &port), -1),
                  "\"%s\"", bad[i]);
        cr_assert(eq(int, port, 12345));
    }
    char small[4];
    cr_assert(eq(
        int, kj_addr_split("example.com:80", small, sizeof(small), &port), -1));
}

static char *s_models;
static const kj_cfg_opt_t s_empty_opts[] = {
    {.env = "KJT_MODELS",
     .flag = "models",
     .type = KJ_CFG_STR,
     .def = "models",
     .help = "on by default; empty turns it off",
     .empty_is_value = true,
     .dest = &s_models},
    {.env = "KJT_ADVERTISE",
     .flag = "zmq-advertise",
     .type = KJ_CFG_STR,
     .def = "fallback",
     .help = "an empty variable is unset",
     .dest = &s_advertise},
};

Test(config, empty_variable_is_a_value_only_where_the_row_says_so)
{
    setenv("KJT_MODELS", "", 1);
    setenv("KJT_ADVERTISE", "", 1);
    char *argv[] = {(char *)"kujo-test", NULL};
    int code = -1;
    cr_assert(eq(
        int, kj_config_parse(s_empty_opts, 2, 1, argv, "kujo-test", "", &code),
        0));
    cr_assert(eq(str, s_models, ""));
    cr_assert(eq(str, s_advertise, "fallback"));
    kj_config_free(s_empty_opts, 2);
    unsetenv("KJT_MODELS");
    unsetenv("KJT_ADVERTISE");
    cr_assert(eq(
        int, kj_config_parse(s_empty_opts, 2, 1, argv, "kujo-test", "", &code),
        0));
    cr_assert(eq(str, s_models, "models"));
    kj_config_free(s_empty_opts, 2);
}

/* Write len bytes to a new temporary file; its path goes to path. */
static void
s_secret_file(char *path, size_t size, const char *data, size_t len)
{
    snprintf(path, size, "/tmp/kj_test_secret_XXXXXX");
    int fd = mkstemp(path);
    cr_assert(ge(int, fd, 0));
    cr_assert(eq(sz, (size_t)write(fd, data, len), len));
    close(fd);
}

Test(config, secret_from_file)
{
    char path[64];
    s_secret_file(path, sizeof(path), "filesecret", 10);
    setenv("KJT_SECRET_FILE", path, 1);
    int code = -1;
    cr_assert(eq(int, s_parse(&code, NULL, NULL), 0));
    cr_assert(eq(int, code, 0));
    cr_assert(eq(str, s_secret, "filesecret"));
    /* A flag still wins over the file. */
    kj_config_free(s_opts, S_N);
    const char *args[] = {"--webhook-secret", "flagsecret", NULL};
    cr_assert(eq(int, s_parse(&code, NULL, args), 0));
    cr_assert(eq(str, s_secret, "flagsecret"));
    /* An empty KJT_SECRET_FILE counts as unset. */
    kj_config_free(s_opts, S_N);
    setenv("KJT_SECRET_FILE", "", 1);
    cr_assert(eq(int, s_parse(&code, NULL, NULL), 0));
    cr_assert(eq(ptr, s_secret, NULL));
    unlink(path);
}

Test(config, secret_file_loses_one_trailing_newline)
{
    static const struct {
        const char *data;
        const char *want;
    } cases[] = {
        {"abc\n", "abc"},           {"abc\r\n", "abc"}, {"abc\n\n", "abc\n"},
        {"abc\r\n\r\n", "abc\r\n"}, {"a\nb", "a\nb"},   {"abc\r", "abc\r"},
        {" abc ", " abc "},         {"\n", ""},
    };
    for (size_t i = 0; i < KJ_ARRAY_LEN(cases); i++) {
        char path[64];
        s_secret_file(path, sizeof(path), cases[i].data, strlen(cases[i].data));
        setenv("KJT_SECRET_FILE", path, 1);
        int code = -1;
        cr_assert(eq(int, s_parse(&code, NULL, NULL), 0));
        cr_assert(eq(str, s_secret, (char *)cases[i].want), "case %zu", i);
        kj_config_free(s_opts, S_N);
        unlink(path);
    }
}

Test(config, secret_in_variable_and_file_is_an_error)
{
    char path[64];
    s_secret_file(path, sizeof(path), "filesecret\n", 11);
    setenv("KJT_SECRET_FILE", path, 1);
    setenv("KJT_SECRET", "envsecret", 1);
    /* Even with the flag given: the environment itself is ambiguous. */
    const char *args[] = {"--webhook-secret=flagsecret", NULL};
    int code = -1;
    char *err = NULL;
    cr_assert(eq(int, s_parse(&code, &err, args), -1));
    cr_assert(eq(int, code, KJ_EX_CONFIG));
    cr_assert(eq(ptr, s_secret, NULL));
    cr_assert(not(eq(ptr, strstr(err, "KJT_SECRET "), NULL)), "%s", err);
    cr_assert(not(eq(ptr, strstr(err, "KJT_SECRET_FILE"), NULL)), "%s", err);
    cr_assert(eq(ptr, strstr(err, "filesecret"), NULL), "%s", err);
    cr_assert(eq(ptr, strstr(err, "envsecret"), NULL), "%s", err);
    cr_assert(eq(ptr, strstr(err, "flagsecret"), NULL), "%s", err);
    free(err);
    unlink(path);
}

Test(config, unreadable_secret_file)
{
    setenv("KJT_SECRET_FILE", "/nonexistent/kj_test/hook", 1);
    int code = -1;
    char *err = NULL;
    cr_assert(eq(int, s_parse(&code, &err, NULL), -1));
    cr_assert(eq(int, code, KJ_EX_CONFIG));
    cr_assert(eq(str, err,
                 "kujo-test: KJT_SECRET_FILE: cannot read "
                 "/nonexistent/kj_test/hook: No such file or directory\n"));
    free(err);

    /* A directory is not a secret. */
    setenv("KJT_SECRET_FILE", "/tmp", 1);
    cr_assert(eq(int, s_parse(&code, &err, NULL), -1));
    cr_assert(eq(int, code, KJ_EX_CONFIG));
    cr_assert(not(eq(ptr, strstr(err, "cannot read /tmp"), NULL)), "%s", err);
    free(err);

    /* A file with no read permission: the path is named, the contents not.
     * (root reads it anyway, so then it must simply be taken.) */
    char path[64];
    s_secret_file(path, sizeof(path), "unreadablesecret", 16);
    chmod(path, 0);
    setenv("KJT_SECRET_FILE", path, 1);
    int rc = s_parse(&code, &err, NULL);
    if (geteuid() != 0) {
        cr_assert(eq(int, rc, -1));
        cr_assert(eq(int, code, KJ_EX_CONFIG));
        cr_assert(not(eq(ptr, strstr(err, path), NULL)), "%s", err);
        cr_assert(not(eq(ptr, strstr(err, "Permission denied"), NULL)), "%s",
                  err);
    } else {
        cr_assert(eq(int, rc, 0));
        cr_assert(eq(str, s_secret, "unreadablesecret"));
    }
    cr_assert(eq(ptr, strstr(err, "unreadablesecret"), NULL), "%s", err);
    free(err);
    unlink(path);
}

Test(config, secret_file_too_large)
{
    size_t len = 64 * 1024 + 1;
    char *data = kj_malloc(len);
    memset(data, 'x', len);
    char path[64];
    s_secret_file(path, sizeof(path), data, len);
    setenv("KJT_SECRET_FILE", path, 1);
    int code = -1;
    char *err = NULL;
    cr_assert(eq(int, s_parse(&code, &err, NULL), -1));
    cr_assert(eq(int, code, KJ_EX_CONFIG));
    cr_assert(not(eq(ptr, strstr(err, "larger than 65536 bytes"), NULL)), "%s",
              err);
    cr_assert(eq(ptr, strstr(err, "xxxx"), NULL), "%s", err);
    free(err);
    unlink(path);

    /* Exactly the maximum fits. */
    s_secret_file(path, sizeof(path), data, len - 1);
    setenv("KJT_SECRET_FILE", path, 1);
    cr_assert(eq(int, s_parse(&code, NULL, NULL), 0));
    cr_assert(eq(sz, strlen(s_secret), len - 1));
    unlink(path);
    free(data);
}

Test(config, empty_secret_file_is_an_empty_value)
{
    char path[64];
    s_secret_file(path, sizeof(path), "", 0);
    setenv("KJT_REQ_SECRET_FILE", path, 1);
    unsetenv("KJT_REQ_SECRET");
    char *argv[] = {(char *)"kujo-test", NULL};
    int code = -1;
    s_capture_t c;
    s_capture_start(&c, STDERR_FILENO);
    int rc = kj_config_parse(s_req_opts, 1, 1, argv, "kujo-test", "", &code);
    char *err = s_capture_end(&c);
    cr_assert(eq(int, rc, -1));
    cr_assert(eq(int, code, KJ_EX_CONFIG));
    cr_assert(not(eq(ptr,
                     strstr(err, "KJT_REQ_SECRET (--req-secret) is "
                                 "required"),
                     NULL)),
              "%s", err);
    cr_assert(not(eq(ptr, strstr(err, path), NULL)), "%s", err);
    free(err);
    unsetenv("KJT_REQ_SECRET_FILE");
    unlink(path);
}

Test(config, secret_from_file_never_shown)
{
    char path[64];
    s_secret_file(path, sizeof(path), "topfilesecret\n", 14);
    setenv("KJT_SECRET_FILE", path, 1);
    /* A problem elsewhere: stderr names it but not the secret. */
    const char *bad[] = {"--lease-ms", "banana", NULL};
    int code = -1;
    char *err = NULL;
    cr_assert(eq(int, s_parse(&code, &err, bad), -1));
    cr_assert(eq(int, code, KJ_EX_CONFIG));
    cr_assert(not(eq(ptr, strstr(err, "--lease-ms"), NULL)), "%s", err);
    cr_assert(eq(ptr, strstr(err, "topfilesecret"), NULL), "%s", err);
    free(err);

    /* The config log line redacts it. */
    cr_assert(eq(int, s_parse(&code, &err, NULL), 0));
    cr_assert(eq(str, err, ""));
    free(err);
    kj_log_init("test", KJ_LOG_INFO);
    s_capture_t out;
    s_capture_start(&out, STDOUT_FILENO);
    kj_config_log(s_opts, S_N);
    char *text = s_capture_end(&out);
    cr_assert(not(eq(ptr, strstr(text, "\"webhook_secret\":\"***\""), NULL)),
              "%s", text);
    cr_assert(eq(ptr, strstr(text, "topfilesecret"), NULL), "%s", text);
    free(text);

    /* --help names the _FILE variable for secret rows only. */
    const char *help[] = {"--help", NULL};
    s_capture_start(&out, STDOUT_FILENO);
    cr_assert(eq(int, s_parse(&code, NULL, help), -1));
    text = s_capture_end(&out);
    cr_assert(eq(int, code, 0));
    cr_assert(eq(int, s_count(text, "_FILE"), 1), "%s", text);
    const char *line = strstr(text, "--webhook-secret");
    cr_assert(not(eq(ptr, (void *)line, NULL)), "%s", text);
    const char *eol = strchr(line, '\n');
    char buf[256];
    snprintf(buf, sizeof(buf), "%.*s", (int)(eol - line), line);
    cr_assert(not(eq(ptr, strstr(buf, "(or KJT_SECRET_FILE)"), NULL)), "%s",
              buf);
    cr_assert(eq(ptr, strstr(text, "topfilesecret"), NULL), "%s", text);
    free(text);
    unlink(path);
}
