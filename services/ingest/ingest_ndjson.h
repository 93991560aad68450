/* ingest_ndjson: the line splitter of POST /v1/complaints:batch, and the
 * result lines it answers with. Bytes arrive in whatever pieces the HTTP
 * server hands over; a line may span any number of them. The splitter
 * holds at most one line (line_max bytes, the single-complaint body
 * limit), so a body of any length is read in bounded memory. Pure: no
 * I/O, no clock, no JSON parsing (each line goes to ingest_validate), so
 * it is unit-tested and fuzzed.
 *
 * The rules (README.md, "Batches"):
 *   - a line ends at LF; one CR before the LF is dropped (CRLF);
 *   - a blank line (nothing but spaces, tabs and CR) is skipped: it has
 *     no result line but keeps its number, so "line" is always the
 *     line's 1-based physical number in the body;
 *   - a last line without LF is a line;
 *   - a line longer than line_max is reported INGEST_NDJSON_TOO_LONG (its
 *     bytes are dropped as they come) and reading goes on with the next;
 *   - the (lines_max + 1)th non-blank line is reported
 *     INGEST_NDJSON_TOO_MANY and reading stops: the rest is ignored. */
#ifndef INGEST_NDJSON_H
#define INGEST_NDJSON_H

#include <stdbool.h>
#include <stddef.h>

#include "ingest_validate.h"

#define INGEST_NDJSON_MAX_LINES 10000 /* non-blank lines of one batch */
#define INGEST_NDJSON_TYPE "application/x-ndjson"

typedef struct ingest_ndjson ingest_ndjson_t;

/* What a reported line is. */
typedef enum {
    INGEST_NDJSON_LINE,     /* a complete non-blank line, without CR LF */
    INGEST_NDJSON_TOO_LONG, /* longer than line_max: its bytes are gone */
    INGEST_NDJSON_TOO_MANY, /* past lines_max: reading stopped before it */
} ingest_ndjson_kind_t;

/* Called for each reported line, with its 1-based physical number; data
 * and len are the line for INGEST_NDJSON_LINE (borrowed, valid during the
 * call only), NULL and 0 otherwise. */
typedef void (*ingest_ndjson_fn)(void *ctx, ingest_ndjson_kind_t kind,
                                 size_t line, const char *data, size_t len);

/* A splitter for lines of at most line_max bytes and at most lines_max
 * non-blank lines. Caller owns the result. */
ingest_ndjson_t *
ingest_ndjson_new(size_t line_max, size_t lines_max);

/* Destroy and set *self_p to NULL. Safe on NULL. */
void
ingest_ndjson_destroy(ingest_ndjson_t **self_p);

/* Start a new body (the buffer is kept). */
void
ingest_ndjson_reset(ingest_ndjson_t *self);

/* Split n more bytes of the body, calling fn for every line they
 * complete. Returns 0, or -1 once reading has stopped (too many lines):
 * then and after, bytes are ignored. */
int
ingest_ndjson_feed(ingest_ndjson_t *self, const char *data, size_t n,
                   ingest_ndjson_fn fn, void *ctx);

/* The body is complete: report a last line that had no LF. Returns as
 * ingest_ndjson_feed. */
int
ingest_ndjson_finish(ingest_ndjson_t *self, ingest_ndjson_fn fn, void *ctx);

/* True once reading has stopped (INGEST_NDJSON_TOO_MANY reported). */
bool
ingest_ndjson_stopped(const ingest_ndjson_t *self);

/* The physical number of the line being read now (the first line not
 * yet complete): where a body cut by the byte limit stops. */
size_t
ingest_ndjson_line_now(const ingest_ndjson_t *self);

/* Non-blank lines reported so far (LINE and TOO_LONG). */
size_t
ingest_ndjson_count(const ingest_ndjson_t *self);

/* True if content_type is application/x-ndjson, optionally with
 * charset=utf-8; else false with *err set (415 unsupported_media_type). */
bool
ingest_ndjson_type_ok(const char *content_type, ingest_error_t *err);

/* The answer's result lines, growing; at most one line per body line. */
typedef struct {
    char *data; /* the lines so far, [cap] */
    size_t len, cap;
} ingest_ndjson_out_t;

/* Append {"line":n,"id":"<id>"} and LF. */
void
ingest_ndjson_put_id(ingest_ndjson_out_t *out, size_t line, const char *id);

/* Append {"line":n,"error":{"code":...,"message":...}} and LF. */
void
ingest_ndjson_put_error(ingest_ndjson_out_t *out, size_t line,
                        const ingest_error_t *err);

/* Free the lines and empty *out. */
void
ingest_ndjson_out_free(ingest_ndjson_out_t *out);

#endif
