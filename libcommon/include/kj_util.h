/* kj_util: allocation that aborts on failure, clocks, bounded strings and
 * the stable return-code names shared by every service. */
#ifndef KJ_UTIL_H
#define KJ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* kj_utf8_valid moved to kj_utf8; kept visible to kj_util users. */
#include "kj_utf8.h"

/* Allocation failure aborts the process (like Redis's zmalloc). */
void *
kj_malloc(size_t n);
void *
kj_calloc(size_t count, size_t n);
void *
kj_realloc(void *p, size_t n);
char *
kj_strdup(const char *s);
char *
kj_strndup(const char *s, size_t n);

/* Wall-clock milliseconds since the Unix epoch. */
int64_t
kj_now_ms(void);

/* Monotonic milliseconds, for timeouts and latency. */
int64_t
kj_mono_ms(void);

/* Copy src into dst[size], always NUL-terminated. Returns strlen(src), so
 * a result >= size means it was truncated (like BSD strlcpy). */
size_t
kj_strlcpy(char *dst, const char *src, size_t size);

/* 64-bit FNV-1a, for partitions and hashed features. */
uint64_t
kj_hash64(const void *data, size_t len);

/* splitmix64 step: a small fast PRNG for jitter and ids. */
uint64_t
kj_rand64(uint64_t *state);

/* A seed from the OS entropy pool (getrandom), mixed with the clock. */
uint64_t
kj_seed(void);

/* Parse a decimal integer from s[0..len) (not NUL-terminated, e.g. a Redis
 * reply). 0 on success; -1 if empty, too long, not all digits or out of
 * range. */
int
kj_parse_i64(const char *s, size_t len, int64_t *out);

/* Expected failures. Values are only ever appended; kj_rc_name() gives the
 * stable name used verbatim in logs, metric labels, dead-letter reasons and
 * HTTP error bodies. */
typedef enum {
    KJ_OK = 0,
    KJ_ERR_INVALID,      /* "invalid" */
    KJ_ERR_NOMEM,        /* "no_memory" */
    KJ_ERR_REDIS,        /* "redis_error" */
    KJ_ERR_ZMQ,          /* "zmq_error" */
    KJ_ERR_DECODE,       /* "decode_error" */
    KJ_ERR_STALE,        /* "stale" */
    KJ_ERR_TIMEOUT,      /* "timeout" */
    KJ_ERR_HTTP,         /* "http_error" */
    KJ_ERR_MAX_ATTEMPTS, /* "max_attempts" */
    KJ_ERR_CONFIG,       /* "config_error" */
    KJ_ERR_TOO_BIG,      /* "too_big" */
    KJ_ERR_IO,           /* "io_error" */
    KJ_RC_COUNT
} kj_rc_t;

const char *
kj_rc_name(kj_rc_t rc);

#define KJ_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
