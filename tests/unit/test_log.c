/* kj_log: each line is one valid JSON object, escaped and bounded. stdout
 * is redirected to a temporary file for each test and read back. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "kj_log.h"
#include "kj_util.h"

static int s_saved_stdout = -1;
static char s_path[64];

static void
s_capture_start(void)
{
    snprintf(s_path, sizeof(s_path), "/tmp/kj_test_log_XXXXXX");
    int fd = mkstemp(s_path);
    cr_assert(ge(int, fd, 0));
    fflush(stdout);
    s_saved_stdout = dup(STDOUT_FILENO);
    dup2(fd, STDOUT_FILENO);
    close(fd);
}

/* Restore stdout and return everything written meanwhile. Caller frees. */
static char *
s_capture_end(size_t *len_out)
{
    fflush(stdout);
    dup2(s_saved_stdout, STDOUT_FILENO);
    close(s_saved_stdout);
    FILE *f = fopen(s_path, "rb");
    cr_assert(not(eq(ptr, f, NULL)));
    size_t cap = 1 << 20, len = 0;
    char *buf = kj_malloc(cap + 1);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            cap *= 2;
            buf = kj_realloc(buf, cap + 1);
        }
    }
    buf[len] = '\0';
    fclose(f);
    unlink(s_path);
    if (len_out)
        *len_out = len;
    return buf;
}

/* Parse one line (which must end with the only newline) as JSON. */
static json_t *
s_parse_line(const char *text)
{
    const char *nl = strchr(text, '\n');
    cr_assert(not(eq(ptr, (void *)nl, NULL)), "no newline in: %s", text);
    cr_assert(eq(chr, nl[1], '\0'), "more than one line: %s", text);
    json_error_t err;
    json_t *j = json_loadb(text, (size_t)(nl - text), 0, &err);
    cr_assert(not(eq(ptr, j, NULL)), "invalid JSON (%s): %s", err.text, text);
    return j;
}

/* jansson's json_is_* are macros that Criterion's cr_assert cannot take. */
static bool
s_is_true(const json_t *j)
{
    return json_is_true(j);
}

static bool
s_is_false(const json_t *j)
{
    return json_is_false(j);
}

static bool
s_is_null(const json_t *j)
{
    return json_is_null(j);
}

static void
s_init(void)
{
    kj_log_init("ingest", KJ_LOG_DEBUG);
}

TestSuite(log, .init = s_init, .timeout = 30);

Test(log, usage_example)
{
    s_capture_start();
    kj_info("listening", "s:addr", "127.0.0.1:8080", "i:port", 8080, "l:big",
            1234567890123LL, "f:ratio", 0.25, "b:tls", 0, "s:none",
            (const char *)NULL);
    char *out = s_capture_end(NULL);
    json_t *j = s_parse_line(out);
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "level")),
                 "info"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "svc")),
                 "ingest"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "msg")),
                 "listening"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "addr")),
                 "127.0.0.1:8080"));
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "port")), 8080));
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "big")),
                 1234567890123LL));
    cr_assert(eq(dbl, json_real_value(json_object_get(j, "ratio")), 0.25));
    cr_assert(s_is_false(json_object_get(j, "tls")));
    cr_assert(s_is_null(json_object_get(j, "none")));
    /* The line starts with ts, level, svc, msg in that order. */
    cr_assert(eq(int, strncmp(out, "{\"ts\":\"", 7), 0));
    cr_assert(not(eq(ptr,
                     strstr(out, "\",\"level\":\"info\",\"svc\":\"ingest\","
                                 "\"msg\":\"listening\""),
                     NULL)));
    json_decref(j);
    free(out);
}

Test(log, timestamp_format)
{
    s_capture_start();
    kj_info("tick");
    char *out = s_capture_end(NULL);
    json_t *j = s_parse_line(out);
    const char *ts = json_string_value(json_object_get(j, "ts"));
    cr_assert(not(eq(ptr, (void *)ts, NULL)));
    /* 2026-11-23T09:00:00.123Z */
    cr_assert(eq(sz, strlen(ts), 24));
    int y, mo, d, h, mi, s, ms;
    char z;
    cr_assert(eq(int,
                 sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h,
                        &mi, &s, &ms, &z),
                 8));
    cr_assert(eq(chr, z, 'Z'));
    cr_assert(ge(int, y, 2020));
    json_decref(j);
    free(out);
}

Test(log, escaping)
{
    s_capture_start();
    kj_warn("escape \"me\"", "s:v",
            "quote\" back\\ nl\n tab\t bell\x07 del\x7f", "s:key\"odd", "x");
    char *out = s_capture_end(NULL);
    json_t *j = s_parse_line(out);
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "msg")),
                 "escape \"me\""));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "v")),
                 "quote\" back\\ nl\n tab\t bell\x07 del\x7f"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "key\"odd")),
                 "x"));
    /* Control characters are written as \u00XX. */
    cr_assert(not(eq(ptr, strstr(out, "\\u000a"), NULL)));
    cr_assert(not(eq(ptr, strstr(out, "\\u0007"), NULL)));
    json_decref(j);
    free(out);
}

Test(log, invalid_utf8_replaced)
{
    s_capture_start();
    kj_error("bad bytes", "s:v",
             "a\xFF"
             "b\xC0\x80"
             "c\xE3\x81"
             "日本");
    char *out = s_capture_end(NULL);
    /* jansson rejects invalid UTF-8, so parsing at all proves the fix. */
    json_t *j = s_parse_line(out);
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "v")),
                 "a\xEF\xBF\xBD"
                 "b\xEF\xBF\xBD\xEF\xBF\xBD"
                 "c\xEF\xBF\xBD\xEF\xBF\xBD"
                 "日本"));
    json_decref(j);
    free(out);
}

Test(log, non_finite_doubles_are_null)
{
    s_capture_start();
    kj_info("x", "f:a", 1.0 / 0.0, "f:b", 0.1);
    char *out = s_capture_end(NULL);
    json_t *j = s_parse_line(out);
    cr_assert(s_is_null(json_object_get(j, "a")));
    cr_assert(eq(dbl, json_real_value(json_object_get(j, "b")), 0.1));
    json_decref(j);
    free(out);
}

Test(log, long_values_are_truncated_to_valid_json)
{
    /* Multi-byte characters so that a cut could land inside one. */
    size_t n = 5000;
    char *big = kj_malloc(n * 3 + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(big + 3 * i, "語", 3);
    big[n * 3] = '\0';
    s_capture_start();
    kj_info("big", "s:first", big, "i:after", 7, "s:second", big);
    size_t len;
    char *out = s_capture_end(&len);
    cr_assert(le(sz, len, 8192));
    json_t *j = s_parse_line(out);
    cr_assert(s_is_true(json_object_get(j, "truncated")));
    const char *first = json_string_value(json_object_get(j, "first"));
    cr_assert(not(eq(ptr, (void *)first, NULL)));
    cr_assert(gt(sz, strlen(first), 6000));
    cr_assert(eq(int, (int)(strlen(first) % 3), 0));
    /* Fields after the cut are left out whole, never half-written. */
    cr_assert(eq(ptr, json_object_get(j, "after"), NULL));
    cr_assert(eq(ptr, json_object_get(j, "second"), NULL));
    json_decref(j);
    free(out);
    free(big);
}

Test(log, many_fields_fill_the_line)
{
    char v[200];
    memset(v, 'v', sizeof(v) - 1);
    v[sizeof(v) - 1] = '\0';
    s_capture_start();
    /* 60 fields of ~210 bytes overflow 8 KiB. */
    kj_info("many", "s:k00", v, "s:k01", v, "s:k02", v, "s:k03", v, "s:k04", v,
            "s:k05", v, "s:k06", v, "s:k07", v, "s:k08", v, "s:k09", v, "s:k10",
            v, "s:k11", v, "s:k12", v, "s:k13", v, "s:k14", v, "s:k15", v,
            "s:k16", v, "s:k17", v, "s:k18", v, "s:k19", v, "s:k20", v, "s:k21",
            v, "s:k22", v, "s:k23", v, "s:k24", v, "s:k25", v, "s:k26", v,
            "s:k27", v, "s:k28", v, "s:k29", v, "s:k30", v, "s:k31", v, "s:k32",
            v, "s:k33", v, "s:k34", v, "s:k35", v, "s:k36", v, "s:k37", v,
            "s:k38", v, "s:k39", v, "s:k40", v, "s:k41", v, "s:k42", v, "s:k43",
            v, "s:k44", v, "s:k45", v, "s:k46", v, "s:k47", v, "s:k48", v,
            "s:k49", v, "i:last", 1);
    size_t len;
    char *out = s_capture_end(&len);
    cr_assert(le(sz, len, 8192));
    json_t *j = s_parse_line(out);
    cr_assert(s_is_true(json_object_get(j, "truncated")));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "k00")), v));
    cr_assert(eq(ptr, json_object_get(j, "last"), NULL));
    json_decref(j);
    free(out);
}

Test(log, level_filter_and_parse)
{
    cr_assert(eq(int, kj_log_level_parse("debug"), KJ_LOG_DEBUG));
    cr_assert(eq(int, kj_log_level_parse("info"), KJ_LOG_INFO));
    cr_assert(eq(int, kj_log_level_parse("warn"), KJ_LOG_WARN));
    cr_assert(eq(int, kj_log_level_parse("error"), KJ_LOG_ERROR));
    cr_assert(eq(int, kj_log_level_parse("INFO"), -1));
    cr_assert(eq(int, kj_log_level_parse(""), -1));
    cr_assert(eq(int, kj_log_level_parse(NULL), -1));

    kj_log_init("router", KJ_LOG_WARN);
    cr_assert(not(kj_log_enabled(KJ_LOG_INFO)));
    cr_assert(kj_log_enabled(KJ_LOG_ERROR));
    int evaluated = 0;
    s_capture_start();
    kj_debug("hidden", "i:n", ++evaluated);
    kj_info("hidden");
    kj_warn("shown");
    char *out = s_capture_end(NULL);
    /* The level check comes before the arguments are evaluated. */
    cr_assert(eq(int, evaluated, 0));
    json_t *j = s_parse_line(out);
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "level")),
                 "warn"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "svc")),
                 "router"));
    json_decref(j);
    free(out);
}

Test(log, write_array_types)
{
    const char *keys[] = {"s:url",   "l:port",  "b:on",   "l:bad",
                          "b:weird", "s:unset", "f:ratio"};
    const char *vals[] = {"redis://x", "6379", "true",  "12abc",
                          "maybe",     NULL,   "-1.5e3"};
    s_capture_start();
    kj_log_write_array(KJ_LOG_INFO, "config", keys, vals, KJ_ARRAY_LEN(keys));
    char *out = s_capture_end(NULL);
    json_t *j = s_parse_line(out);
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "url")),
                 "redis://x"));
    cr_assert(eq(i64, json_integer_value(json_object_get(j, "port")), 6379));
    cr_assert(s_is_true(json_object_get(j, "on")));
    /* Text that is not a number or boolean is kept, as a string. */
    cr_assert(
        eq(str, (char *)json_string_value(json_object_get(j, "bad")), "12abc"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "weird")),
                 "maybe"));
    cr_assert(s_is_null(json_object_get(j, "unset")));
    cr_assert(eq(dbl, json_real_value(json_object_get(j, "ratio")), -1500.0));
    json_decref(j);
    free(out);
}

#define S_THREADS 4
#define S_LINES 300

static void *
s_writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    char v[1500];
    memset(v, 'a' + id, sizeof(v) - 1);
    v[sizeof(v) - 1] = '\0';
    for (int i = 0; i < S_LINES; i++)
        kj_info("concurrent", "i:thread", id, "i:i", i, "s:pad", v);
    return NULL;
}

Test(log, threads_never_interleave)
{
    pthread_t t[S_THREADS];
    s_capture_start();
    for (int i = 0; i < S_THREADS; i++)
        pthread_create(&t[i], NULL, s_writer, (void *)(intptr_t)i);
    for (int i = 0; i < S_THREADS; i++)
        pthread_join(t[i], NULL);
    char *out = s_capture_end(NULL);
    int lines = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        json_error_t err;
        json_t *j = json_loads(line, 0, &err);
        cr_assert(not(eq(ptr, j, NULL)), "line %d: %s", lines, err.text);
        int id = (int)json_integer_value(json_object_get(j, "thread"));
        const char *pad = json_string_value(json_object_get(j, "pad"));
        cr_assert(eq(sz, strlen(pad), 1499));
        cr_assert(eq(chr, pad[0], (char)('a' + id)));
        cr_assert(eq(chr, pad[1498], (char)('a' + id)));
        json_decref(j);
        lines++;
    }
    cr_assert(eq(int, lines, S_THREADS *S_LINES));
    free(out);
}
