/* kj_util: allocation that aborts on failure, clocks, bounded strings and
 * the stable return-code names shared by every service (kj_rc.h). */
#ifndef KJ_UTIL_H
#define KJ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* kj_rc_t and kj_utf8_valid used to live here; every user of kj_util.h
 * keeps seeing them. */
#include "kj_rc.h"
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

/* Write v in decimal, zero-padded to at least width digits, at out (which
 * has room for 21 + width bytes); no NUL. Returns the bytes written.
 * Async-signal-safe (no locale, no stdio): kj_time and kj_assert use it. */
size_t
kj_format_i64(char *out, long long v, int width);

#define KJ_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
