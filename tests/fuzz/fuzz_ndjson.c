/* libFuzzer target: the NDJSON splitter of POST /v1/complaints:batch.
 * The first byte picks a piece size and a line limit; the rest is the
 * body, fed in those pieces. Whatever the bytes: every reported line is
 * at most the limit, non-blank and free of LF, numbers only grow, at
 * most the line limit of lines are reported before a stop, splitting in
 * pieces reports exactly what one piece does, and each line goes through
 * the complaint validator (0, or a 4xx) and a result line that is
 * JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ingest_ndjson.h"
#include "ingest_validate.h"

#define S_LINES_MAX 50

typedef struct {
    size_t line_max;
    size_t last;  /* last line number reported */
    size_t count; /* lines reported */
    uint64_t sum; /* a digest of what was reported, to compare runs */
    bool validate;
    bool stopped;
} s_run_t;

static kj_complaint_t g_c;

static void
s_check(void *ctx, ingest_ndjson_kind_t kind, size_t line, const char *data,
        size_t len)
{
    s_run_t *r = ctx;
    if (line <= r->last || r->stopped)
        abort();
    r->last = line;
    r->count++;
    r->sum = r->sum * 1000003u + line * 31u + (uint64_t)kind;
    if (kind == INGEST_NDJSON_TOO_MANY) {
        if (r->count != S_LINES_MAX + 1)
            abort();
        r->stopped = true;
        return;
    }
    if (kind == INGEST_NDJSON_TOO_LONG)
        return;
    if (len == 0 || len > r->line_max || memchr(data, '\n', len))
        abort();
    bool blank = true;
    for (size_t i = 0; i < len; i++) {
        r->sum = r->sum * 131u + (unsigned char)data[i];
        if (data[i] != ' ' && data[i] != '\t' && data[i] != '\r')
            blank = false;
    }
    if (blank)
        abort();
    if (!r->validate)
        return;
    ingest_error_t err;
    ingest_ndjson_out_t out = {0};
    if (ingest_validate_complaint(data, len, &g_c, &err) < 0) {
        if (err.status < 400 || err.status >= 500)
            abort();
        ingest_ndjson_put_error(&out, line, &err);
    } else {
        ingest_ndjson_put_id(&out, line, "0193a0b1c2d3e4f5a6b7");
    }
    json_t *j = json_loadb(out.data, out.len, JSON_DISABLE_EOF_CHECK, NULL);
    if (!j || out.data[out.len - 1] != '\n')
        abort();
    json_decref(j);
    ingest_ndjson_out_free(&out);
}

static uint64_t
s_run(const char *body, size_t len, size_t piece, size_t line_max,
      bool validate, size_t *count)
{
    s_run_t r = {.line_max = line_max, .validate = validate};
    ingest_ndjson_t *nd = ingest_ndjson_new(line_max, S_LINES_MAX);
    int rc = 0;
    for (size_t off = 0; off < len; off += piece) {
        size_t n = len - off < piece ? len - off : piece;
        rc = ingest_ndjson_feed(nd, body + off, n, s_check, &r);
    }
    if (rc == 0)
        rc = ingest_ndjson_finish(nd, s_check, &r);
    if ((rc < 0) != r.stopped || ingest_ndjson_stopped(nd) != r.stopped)
        abort();
    ingest_ndjson_destroy(&nd);
    *count = r.count;
    return r.sum;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t piece = (size_t)(data[0] & 0x0f) + 1;
    size_t line_max = (size_t)(data[0] >> 4) * 16 + 1;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    size_t n1, n2;
    uint64_t whole = s_run(body, len, len ? len : 1, line_max, true, &n1);
    uint64_t split = s_run(body, len, piece, line_max, false, &n2);
    if (whole != split || n1 != n2)
        abort();
    return 0;
}
