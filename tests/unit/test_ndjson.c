/* ingest_ndjson: the line splitter of POST /v1/complaints:batch and its
 * result lines. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ingest_ndjson.h"
#include "ingest_validate.h"

#define S_MAX_SEEN 10010

/* What the splitter reported, one entry per call. */
typedef struct {
    size_t n;
    ingest_ndjson_kind_t kind[S_MAX_SEEN];
    size_t line[S_MAX_SEEN];
    char *text[S_MAX_SEEN]; /* LINE only, NUL-terminated copy */
} s_seen_t;

static void
s_collect(void *ctx, ingest_ndjson_kind_t kind, size_t line, const char *data,
          size_t len)
{
    s_seen_t *s = ctx;
    cr_assert(lt(sz, s->n, S_MAX_SEEN));
    s->kind[s->n] = kind;
    s->line[s->n] = line;
    s->text[s->n] = NULL;
    if (kind == INGEST_NDJSON_LINE) {
        s->text[s->n] = malloc(len + 1);
        memcpy(s->text[s->n], data, len);
        s->text[s->n][len] = '\0';
    } else {
        cr_assert(eq(ptr, (void *)data, NULL));
        cr_assert(eq(sz, len, 0));
    }
    s->n++;
}

static s_seen_t *
s_seen_new(void)
{
    return calloc(1, sizeof(s_seen_t));
}

static void
s_seen_free(s_seen_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->text[i]);
    free(s);
}

/* Split body in pieces of at most piece bytes (0: one piece). */
static s_seen_t *
s_split(const char *body, size_t len, size_t piece, size_t line_max)
{
    s_seen_t *s = s_seen_new();
    ingest_ndjson_t *nd = ingest_ndjson_new(line_max, INGEST_NDJSON_MAX_LINES);
    size_t step = piece ? piece : (len ? len : 1);
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        ingest_ndjson_feed(nd, body + off, n, s_collect, s);
    }
    ingest_ndjson_finish(nd, s_collect, s);
    ingest_ndjson_destroy(&nd);
    cr_assert(eq(ptr, nd, NULL));
    return s;
}

static void
s_same(const s_seen_t *a, const s_seen_t *b)
{
    cr_assert(eq(sz, a->n, b->n));
    for (size_t i = 0; i < a->n; i++) {
        cr_assert(eq(int, a->kind[i], b->kind[i]));
        cr_assert(eq(sz, a->line[i], b->line[i]));
        if (a->text[i] || b->text[i])
            cr_assert(eq(str, a->text[i], b->text[i]));
    }
}

Test(ndjson, usage)
{
    const char body[] = "{\"channel\":\"web\"}\n\n{\"a\":1}";
    s_seen_t *s = s_seen_new();
    ingest_ndjson_t *nd = ingest_ndjson_new(65536, INGEST_NDJSON_MAX_LINES);
    /* Pieces as the HTTP server hands them over: anywhere. */
    cr_assert(eq(int, ingest_ndjson_feed(nd, body, 7, s_collect, s), 0));
    cr_assert(eq(sz, s->n, 0));
    cr_assert(
        eq(int, ingest_ndjson_feed(nd, body + 7, sizeof body - 8, s_collect, s),
           0));
    cr_assert(eq(sz, s->n, 1));
    cr_assert(eq(int, ingest_ndjson_finish(nd, s_collect, s), 0));
    cr_assert(eq(sz, s->n, 2));
    cr_assert(eq(str, s->text[0], "{\"channel\":\"web\"}"));
    cr_assert(eq(sz, s->line[0], 1));
    /* The blank line 2 has no result, but keeps its number. */
    cr_assert(eq(str, s->text[1], "{\"a\":1}"));
    cr_assert(eq(sz, s->line[1], 3));
    cr_assert(eq(sz, ingest_ndjson_count(nd), 2));
    ingest_ndjson_destroy(&nd);
    ingest_ndjson_destroy(&nd); /* safe on NULL */
    s_seen_free(s);
}

Test(ndjson, chunk_boundaries_anywhere)
{
    /* CRLF, a blank line, white space, a line over the limit (40), one
     * exactly at it, multibyte UTF-8, a last line without LF. */
    const char body[] = "{\"x\":\"\xe3\x81\x82\"}\r\n"
                        "\r\n"
                        "  \t \n"
                        "0123456789012345678901234567890123456789X\n"
                        "0123456789012345678901234567890123456789\r\n"
                        "{}\n"
                        "\n"
                        "last";
    size_t len = sizeof body - 1;
    s_seen_t *whole = s_split(body, len, 0, 40);
    cr_assert(eq(sz, whole->n, 5));
    cr_assert(eq(str, whole->text[0], "{\"x\":\"\xe3\x81\x82\"}"));
    cr_assert(eq(sz, whole->line[0], 1));
    cr_assert(eq(int, whole->kind[1], INGEST_NDJSON_TOO_LONG));
    cr_assert(eq(sz, whole->line[1], 4));
    cr_assert(eq(int, whole->kind[2], INGEST_NDJSON_LINE));
    cr_assert(eq(sz, whole->line[2], 5));
    cr_assert(eq(sz, strlen(whole->text[2]), 40));
    cr_assert(eq(str, whole->text[3], "{}"));
    cr_assert(eq(sz, whole->line[3], 6));
    cr_assert(eq(str, whole->text[4], "last"));
    cr_assert(eq(sz, whole->line[4], 8));
    /* Every piece size, and every split into two pieces at any byte. */
    for (size_t piece = 1; piece <= len; piece++) {
        s_seen_t *s = s_split(body, len, piece, 40);
        s_same(whole, s);
        s_seen_free(s);
    }
    for (size_t cut = 0; cut <= len; cut++) {
        s_seen_t *s = s_seen_new();
        ingest_ndjson_t *nd = ingest_ndjson_new(40, INGEST_NDJSON_MAX_LINES);
        ingest_ndjson_feed(nd, body, cut, s_collect, s);
        ingest_ndjson_feed(nd, body + cut, len - cut, s_collect, s);
        ingest_ndjson_finish(nd, s_collect, s);
        s_same(whole, s);
        ingest_ndjson_destroy(&nd);
        s_seen_free(s);
    }
    s_seen_free(whole);
}

Test(ndjson, crlf)
{
    const char body[] = "{\"a\":1}\r\n{\"b\":2}\r\n";
    s_seen_t *s = s_split(body, sizeof body - 1, 0, 100);
    cr_assert(eq(sz, s->n, 2));
    cr_assert(eq(str, s->text[0], "{\"a\":1}"));
    cr_assert(eq(str, s->text[1], "{\"b\":2}"));
    s_seen_free(s);
    /* Only one CR before the LF is the line end; a lone CR is data. */
    const char odd[] = "a\rb\r\r\n";
    s = s_split(odd, sizeof odd - 1, 0, 100);
    cr_assert(eq(sz, s->n, 1));
    cr_assert(eq(str, s->text[0], "a\rb\r"));
    s_seen_free(s);
}

Test(ndjson, blank_lines)
{
    const char body[] = "\n\r\n \n\t\r\n{}\n\n";
    s_seen_t *s = s_split(body, sizeof body - 1, 0, 100);
    cr_assert(eq(sz, s->n, 1));
    cr_assert(eq(sz, s->line[0], 5));
    s_seen_free(s);
    s = s_split("", 0, 0, 100);
    cr_assert(eq(sz, s->n, 0));
    s_seen_free(s);
}

Test(ndjson, over_long_line)
{
    /* Limit 10: a long line in one piece, one split over many pieces,
     * and reading goes on with the next line each time. */
    const char body[] = "0123456789A\n{\"ok\":1}\n0123456789\n"
                        "0123456789\r\nAAAAAAAAAAAAAAAAAAAAAAAAA";
    for (size_t piece = 0; piece <= 5; piece++) {
        s_seen_t *s = s_split(body, sizeof body - 1, piece, 10);
        cr_assert(eq(sz, s->n, 5));
        cr_assert(eq(int, s->kind[0], INGEST_NDJSON_TOO_LONG));
        cr_assert(eq(sz, s->line[0], 1));
        cr_assert(eq(str, s->text[1], "{\"ok\":1}"));
        cr_assert(eq(sz, s->line[1], 2));
        cr_assert(eq(str, s->text[2], "0123456789")); /* exactly the limit */
        cr_assert(eq(str, s->text[3], "0123456789")); /* the limit + CR */
        cr_assert(eq(int, s->kind[4], INGEST_NDJSON_TOO_LONG));
        cr_assert(eq(sz, s->line[4], 5));
        s_seen_free(s);
    }
}

Test(ndjson, invalid_utf8_reaches_the_validator)
{
    /* The splitter passes bytes through; the line is refused by the same
     * validator as a single complaint, with its precise code. */
    const char body[] = "{\"channel\":\"web\",\"text\":\"\xff\xfe\"}\n";
    s_seen_t *s = s_split(body, sizeof body - 1, 3, 1000);
    cr_assert(eq(sz, s->n, 1));
    kj_complaint_t *c = malloc(sizeof *c);
    ingest_error_t err;
    cr_assert(eq(
        int, ingest_validate_complaint(s->text[0], strlen(s->text[0]), c, &err),
        -1));
    cr_assert(eq(str, err.code, "invalid_utf8"));
    cr_assert(eq(u32, err.status, 400));
    free(c);
    s_seen_free(s);
}

Test(ndjson, json_but_not_an_object)
{
    const char body[] = "[1,2]\n\"text\"\n42\n";
    s_seen_t *s = s_split(body, sizeof body - 1, 0, 1000);
    cr_assert(eq(sz, s->n, 3));
    kj_complaint_t *c = malloc(sizeof *c);
    for (size_t i = 0; i < 3; i++) {
        ingest_error_t err;
        cr_assert(eq(
            int,
            ingest_validate_complaint(s->text[i], strlen(s->text[i]), c, &err),
            -1));
        cr_assert(eq(str, err.code, "wrong_type"));
    }
    free(c);
    s_seen_free(s);
}

Test(ndjson, ten_thousand_and_one_lines)
{
    size_t n = INGEST_NDJSON_MAX_LINES + 1;
    /* Blank lines in between do not count towards the limit. */
    char *body = malloc(n * 4 + 16);
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(body + len, "{}\n", 3);
        len += 3;
        if (i == 10)
            body[len++] = '\n';
    }
    memcpy(body + len, "{}\n", 3); /* line 10,003: never read */
    len += 3;
    s_seen_t *s = s_seen_new();
    ingest_ndjson_t *nd = ingest_ndjson_new(100, INGEST_NDJSON_MAX_LINES);
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0; off += 1000) {
        size_t piece = len - off < 1000 ? len - off : 1000;
        rc = ingest_ndjson_feed(nd, body + off, piece, s_collect, s);
    }
    cr_assert(eq(int, rc, -1));
    cr_assert(ingest_ndjson_stopped(nd));
    cr_assert(eq(int, ingest_ndjson_finish(nd, s_collect, s), -1));
    cr_assert(eq(int, ingest_ndjson_feed(nd, "{}\n", 3, s_collect, s), -1));
    cr_assert(eq(sz, s->n, INGEST_NDJSON_MAX_LINES + 1));
    for (size_t i = 0; i < INGEST_NDJSON_MAX_LINES; i++)
        cr_assert(eq(int, s->kind[i], INGEST_NDJSON_LINE));
    cr_assert(
        eq(int, s->kind[INGEST_NDJSON_MAX_LINES], INGEST_NDJSON_TOO_MANY));
    /* Its physical number: 10,001 complaints plus one blank line. */
    cr_assert(eq(sz, s->line[INGEST_NDJSON_MAX_LINES], n + 1));
    cr_assert(eq(sz, ingest_ndjson_count(nd), INGEST_NDJSON_MAX_LINES));
    /* A reset starts over. */
    ingest_ndjson_reset(nd);
    cr_assert(not(ingest_ndjson_stopped(nd)));
    cr_assert(eq(sz, ingest_ndjson_line_now(nd), 1));
    ingest_ndjson_destroy(&nd);
    s_seen_free(s);
    free(body);
}

Test(ndjson, line_now)
{
    ingest_ndjson_t *nd = ingest_ndjson_new(100, 10);
    s_seen_t *s = s_seen_new();
    ingest_ndjson_feed(nd, "{}\n\n{\"a", 7, s_collect, s);
    cr_assert(eq(sz, ingest_ndjson_line_now(nd), 3));
    ingest_ndjson_destroy(&nd);
    s_seen_free(s);
}

Test(ndjson, content_type)
{
    ingest_error_t err;
    cr_assert(ingest_ndjson_type_ok("application/x-ndjson", &err));
    cr_assert(ingest_ndjson_type_ok("Application/X-NDJSON", &err));
    cr_assert(
        ingest_ndjson_type_ok("application/x-ndjson; charset=utf-8", &err));
    cr_assert(
        ingest_ndjson_type_ok("application/x-ndjson;charset=\"UTF-8\"", &err));
    const char *bad[] = {NULL,
                         "",
                         "application/json",
                         "application/x-ndjsonx",
                         "application/x-ndjson; charset=latin1",
                         "application/x-ndjson; boundary=x",
                         "text/plain"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert(not(ingest_ndjson_type_ok(bad[i], &err)));
        cr_assert(eq(str, err.code, "unsupported_media_type"));
        cr_assert(eq(u32, err.status, 415));
    }
}

Test(ndjson, result_lines)
{
    ingest_ndjson_out_t out = {0};
    ingest_ndjson_put_id(&out, 1, "0193a0b1c2d3e4f5a6b7");
    ingest_error_t err;
    ingest_error_set(&err, KJ_ERR_UNKNOWN_FIELD, "unknown field \"x\\y\"");
    /* Many, so the buffer grows. */
    for (size_t i = 2; i <= 200; i++)
        ingest_ndjson_put_error(&out, i, &err);
    cr_assert(eq(u8, (unsigned char)out.data[out.len - 1], '\n'));
    const char want1[] = "{\"line\":1,\"id\":\"0193a0b1c2d3e4f5a6b7\"}\n";
    cr_assert(eq(int, memcmp(out.data, want1, sizeof want1 - 1), 0));
    /* Every line is JSON that says what was put. */
    size_t lines = 0;
    for (char *p = out.data; p < out.data + out.len;) {
        char *nl = memchr(p, '\n', (size_t)(out.data + out.len - p));
        cr_assert(ne(ptr, nl, NULL));
        json_error_t jerr;
        json_t *j = json_loadb(p, (size_t)(nl - p), 0, &jerr);
        cr_assert(ne(ptr, j, NULL), "%s", jerr.text);
        lines++;
        cr_assert(eq(int, (int)json_integer_value(json_object_get(j, "line")),
                     (int)lines));
        if (lines > 1) {
            json_t *e = json_object_get(j, "error");
            cr_assert(eq(str,
                         (char *)json_string_value(json_object_get(e, "code")),
                         "unknown_field"));
            cr_assert(eq(
                str, (char *)json_string_value(json_object_get(e, "message")),
                "unknown field \"x\\y\""));
        }
        json_decref(j);
        p = nl + 1;
    }
    cr_assert(eq(sz, lines, 200));
    ingest_ndjson_out_free(&out);
    cr_assert(eq(ptr, out.data, NULL));
    cr_assert(eq(sz, out.len, 0));
}
