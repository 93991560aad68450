/* ingest_ndjson: NDJSON bodies -> lines, and the result lines. */
#include "ingest_ndjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kj_assert.h"
#include "kj_util.h"

struct ingest_ndjson {
    size_t line_max;  /* longest line, without CR LF */
    size_t lines_max; /* most non-blank lines */
    char *buf;        /* the line in progress, when split over pieces */
    size_t len, cap;  /* cap grows up to line_max + 1 (room for a CR) */
    size_t line;      /* physical number of the line in progress */
    size_t count;     /* non-blank lines reported */
    bool dropping;    /* the line in progress is too long: skip to LF */
    bool stopped;     /* too many lines: the rest is ignored */
};

ingest_ndjson_t *
ingest_ndjson_new(size_t line_max, size_t lines_max)
{
    kj_assert(line_max > 0);
    ingest_ndjson_t *self = kj_calloc(1, sizeof *self);
    self->line_max = line_max;
    self->lines_max = lines_max;
    ingest_ndjson_reset(self);
    return self;
}

void
ingest_ndjson_destroy(ingest_ndjson_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->buf);
    free(*self_p);
    *self_p = NULL;
}

void
ingest_ndjson_reset(ingest_ndjson_t *self)
{
    self->len = 0;
    self->line = 1;
    self->count = 0;
    self->dropping = false;
    self->stopped = false;
}

static bool
s_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

/* Report one non-blank line, unless it is one too many. -1: stopped. */
static int
s_report(ingest_ndjson_t *self, ingest_ndjson_kind_t kind, const char *data,
         size_t len, ingest_ndjson_fn fn, void *ctx)
{
    if (self->count >= self->lines_max) {
        self->stopped = true;
        fn(ctx, INGEST_NDJSON_TOO_MANY, self->line, NULL, 0);
        return -1;
    }
    self->count++;
    fn(ctx, kind, self->line, data, len);
    return 0;
}

/* A complete line (LF removed): drop a CR, skip it if blank, else
 * report it. */
static int
s_line(ingest_ndjson_t *self, const char *data, size_t len, ingest_ndjson_fn fn,
       void *ctx)
{
    if (len > 0 && data[len - 1] == '\r')
        len--;
    if (len > self->line_max)
        return s_report(self, INGEST_NDJSON_TOO_LONG, NULL, 0, fn, ctx);
    if (s_blank(data, len))
        return 0;
    return s_report(self, INGEST_NDJSON_LINE, data, len, fn, ctx);
}

/* Keep a piece of the line in progress; past line_max (+1 for a CR that
 * may end it) the line is dropped instead, so the buffer stays bounded. */
static void
s_keep(ingest_ndjson_t *self, const char *data, size_t n)
{
    if (self->dropping)
        return;
    if (n > self->line_max + 1 - self->len) {
        self->dropping = true;
        self->len = 0;
        return;
    }
    if (self->len + n > self->cap) {
        size_t cap = self->cap ? self->cap : 1024;
        while (cap < self->len + n)
            cap *= 2;
        if (cap > self->line_max + 1)
            cap = self->line_max + 1;
        self->buf = kj_realloc(self->buf, cap);
        self->cap = cap;
    }
    memcpy(self->buf + self->len, data, n);
    self->len += n;
}

int
ingest_ndjson_feed(ingest_ndjson_t *self, const char *data, size_t n,
                   ingest_ndjson_fn fn, void *ctx)
{
    const char *p = data, *end = data + n;
    while (p < end && !self->stopped) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            s_keep(self, p, (size_t)(end - p));
            break;
        }
        size_t seg = (size_t)(nl - p);
        int rc;
        if (self->dropping) {
            rc = s_report(self, INGEST_NDJSON_TOO_LONG, NULL, 0, fn, ctx);
        } else if (self->len == 0) {
            /* The whole line is in this piece: no copy. */
            rc = s_line(self, p, seg, fn, ctx);
        } else {
            s_keep(self, p, seg);
            rc = self->dropping
                     ? s_report(self, INGEST_NDJSON_TOO_LONG, NULL, 0, fn, ctx)
                     : s_line(self, self->buf, self->len, fn, ctx);
        }
        if (rc < 0)
            break;
        self->len = 0;
        self->dropping = false;
        self->line++;
        p = nl + 1;
    }
    return self->stopped ? -1 : 0;
}

int
ingest_ndjson_finish(ingest_ndjson_t *self, ingest_ndjson_fn fn, void *ctx)
{
    if (self->stopped)
        return -1;
    if (self->dropping)
        (void)s_report(self, INGEST_NDJSON_TOO_LONG, NULL, 0, fn, ctx);
    else if (self->len > 0)
        (void)s_line(self, self->buf, self->len, fn, ctx);
    self->len = 0;
    self->dropping = false;
    return self->stopped ? -1 : 0;
}

bool
ingest_ndjson_stopped(const ingest_ndjson_t *self)
{
    return self->stopped;
}

size_t
ingest_ndjson_line_now(const ingest_ndjson_t *self)
{
    return self->line;
}

size_t
ingest_ndjson_count(const ingest_ndjson_t *self)
{
    return self->count;
}

bool
ingest_ndjson_type_ok(const char *type, ingest_error_t *err)
{
    if (ingest_media_type_is(type, INGEST_NDJSON_TYPE))
        return true;
    ingest_error_set(err, KJ_ERR_UNSUPPORTED_MEDIA_TYPE,
                     "Content-Type must be " INGEST_NDJSON_TYPE
                     " (one complaint JSON object per line)");
    return false;
}

static void
s_reserve(ingest_ndjson_out_t *out, size_t more)
{
    if (out->len + more <= out->cap)
        return;
    size_t cap = out->cap ? out->cap : 4096;
    while (cap < out->len + more)
        cap *= 2;
    out->data = kj_realloc(out->data, cap);
    out->cap = cap;
}

void
ingest_ndjson_put_id(ingest_ndjson_out_t *out, size_t line, const char *id)
{
    s_reserve(out, 64 + strlen(id));
    out->len += (size_t)snprintf(out->data + out->len, out->cap - out->len,
                                 "{\"line\":%zu,\"id\":\"%s\"}\n", line, id);
}

void
ingest_ndjson_put_error(ingest_ndjson_out_t *out, size_t line,
                        const ingest_error_t *err)
{
    /* Messages are printable ASCII (ingest_error_set) and codes are
     * snake_case: only '"' and '\\' need escaping, each to two bytes. */
    s_reserve(out, 96 + strlen(err->code) + 2 * strlen(err->message));
    char *w = out->data + out->len;
    w += sprintf(w, "{\"line\":%zu,\"error\":{\"code\":\"%s\",\"message\":\"",
                 line, err->code);
    for (const char *m = err->message; *m; m++) {
        if (*m == '"' || *m == '\\')
            *w++ = '\\';
        *w++ = *m;
    }
    memcpy(w, "\"}}\n", 4);
    w += 4;
    out->len = (size_t)(w - out->data);
}

void
ingest_ndjson_out_free(ingest_ndjson_out_t *out)
{
    free(out->data);
    *out = (ingest_ndjson_out_t){0};
}
