/* kj_util: allocation that aborts, clocks, UTF-8 validation, hashing, a
 * small PRNG and the stable return-code names. */
#include "kj_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Out of memory is not an expected failure in kujo: a service that cannot
 * allocate a few bytes cannot make progress, so it dies loudly and the
 * supervisor restarts it (Redis's zmalloc_oom_handler). */
static void
s_oom(size_t n)
{
    fprintf(stderr, "kujo: out of memory allocating %zu bytes\n", n);
    fflush(stderr);
    abort();
}

void *
kj_malloc(size_t n)
{
    /* malloc(0) may return NULL legitimately; ask for one byte instead so
     * that NULL always means failure. */
    void *p = malloc(n ? n : 1);
    if (!p)
        s_oom(n);
    return p;
}

void *
kj_calloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (!p)
        s_oom(count * n);
    return p;
}

void *
kj_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        s_oom(n);
    return q;
}

char *
kj_strdup(const char *s)
{
    size_t len = strlen(s);
    char *p = kj_malloc(len + 1);
    memcpy(p, s, len + 1);
    return p;
}

char *
kj_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = kj_malloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

static int64_t
s_clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
kj_now_ms(void)
{
    return s_clock_ms(CLOCK_REALTIME);
}

int64_t
kj_mono_ms(void)
{
    return s_clock_ms(CLOCK_MONOTONIC);
}

size_t
kj_strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);
    if (size > 0) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

uint64_t
kj_hash64(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t
kj_rand64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t
kj_seed(void)
{
    uint64_t r = 0;
    /* getrandom may be short or fail (very old kernels, seccomp); the
     * clock and pid still make copies started together differ. */
    ssize_t got = getrandom(&r, sizeof(r), GRND_NONBLOCK);
    (void)got;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t mix = r ^ ((uint64_t)ts.tv_sec * 1000000007ULL) ^
                   (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
    /* One splitmix step spreads the clock bits over the whole word. */
    return kj_rand64(&mix);
}

int
kj_parse_i64(const char *s, size_t len, int64_t *out)
{
    char buf[24]; /* "-9223372036854775808" and a NUL */
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end = NULL;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = (int64_t)v;
    return 0;
}

size_t
kj_format_i64(char *out, long long v, int width)
{
    char tmp[24];
    size_t k = 0, n = 0;
    unsigned long long u =
        v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[k++] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    while ((int)k < width && k < sizeof tmp)
        tmp[k++] = '0';
    if (v < 0)
        out[n++] = '-';
    while (k > 0)
        out[n++] = tmp[--k];
    return n;
}
