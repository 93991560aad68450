/* kj_assert: the failure path of kj_assert(). It may run with kj_log's
 * lock held (an assertion inside kj_log), from a signal handler or before
 * kj_log_init, so it cannot use kj_log: it builds its line by hand in a
 * stack buffer with async-signal-safe calls only (clock_gettime, write,
 * abort) and sends it to stderr, where a half-written stdout line from
 * another thread cannot interleave with it. */
#define _GNU_SOURCE /* program_invocation_short_name */
#include "kj_assert.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kj_time.h"
#include "kj_util.h"

#define S_LINE_MAX 1024

typedef struct {
    char buf[S_LINE_MAX];
    size_t len;
} s_line_t;

/* Room kept for the closing "}\n". */
#define S_RESERVE 2

static void
s_raw(s_line_t *l, const char *s, size_t n)
{
    if (n > S_LINE_MAX - S_RESERVE - l->len)
        n = S_LINE_MAX - S_RESERVE - l->len;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void
s_str(s_line_t *l, const char *s)
{
    s_raw(l, s, strlen(s));
}

/* Append s as a JSON string body (no quotes). A condition is source
 * text, so it may hold quotes and backslashes; control bytes are dropped
 * rather than escaped to keep this short. Stops short of the reserve
 * (and of the closing quote) so the line stays valid JSON. */
static void
s_escaped(s_line_t *l, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20)
            continue;
        if (l->len + 2 + 1 > S_LINE_MAX - S_RESERVE - 64)
            break; /* keep room for the fields after this one */
        if (c == '"' || c == '\\')
            l->buf[l->len++] = '\\';
        l->buf[l->len++] = (char)c;
    }
}

/* Append v in decimal, at least width digits. */
static void
s_num(s_line_t *l, long long v, int width)
{
    char tmp[48];
    s_raw(l, tmp, kj_format_i64(tmp, v, width));
}

/* RFC 3339 UTC with milliseconds, like kj_log's ts (kj_time, which is
 * async-signal-safe). */
static void
s_ts(s_line_t *l)
{
    struct timespec ts;
    char buf[64];
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 ||
        kj_time_rfc3339((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, buf,
                        sizeof buf) == 0) {
        s_str(l, "null");
        return;
    }
    s_raw(l, "\"", 1);
    s_str(l, buf);
    s_raw(l, "\"", 1);
}

/* __FILE__ is an absolute build path; the base name is what a reader
 * needs and does not leak the build machine's layout. */
static const char *
s_base(const char *file)
{
    const char *slash = strrchr(file, '/');
    return slash ? slash + 1 : file;
}

_Noreturn void
kj_assert_fail(const char *cond, const char *file, int line, const char *func)
{
    int saved = errno;
    s_line_t l = {.len = 0};
    s_str(&l, "{\"ts\":");
    s_ts(&l);
    s_str(&l, ",\"level\":\"error\",\"prog\":\"");
    s_escaped(&l, program_invocation_short_name);
    s_str(&l, "\",\"msg\":\"assertion failed\",\"at\":\"");
    s_escaped(&l, s_base(file ? file : "?"));
    s_raw(&l, ":", 1);
    s_num(&l, line, 1);
    s_str(&l, "\",\"func\":\"");
    s_escaped(&l, func ? func : "?");
    s_str(&l, "\",\"errno\":");
    s_num(&l, saved, 1);
    s_str(&l, ",\"cond\":\"");
    s_escaped(&l, cond ? cond : "?");
    s_raw(&l, "\"", 1);
    /* The reserve guarantees room for these two bytes. */
    l.buf[l.len++] = '}';
    l.buf[l.len++] = '\n';
    size_t off = 0;
    while (off < l.len) {
        ssize_t n = write(STDERR_FILENO, l.buf + off, l.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    abort();
}
