/* kj_log: JSON lines on stdout. Each line is built in a fixed buffer on
 * the stack and handed to write(2) in one call under a mutex, so lines
 * from different threads never interleave and logging never allocates. */
#include "kj_log.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kj_time.h"
#include "kj_utf8.h"
#include "kj_util.h"

/* The longest line written, newline included. Values that do not fit are
 * cut on a character boundary and the line says "truncated":true. */
#define KJ_LOG_LINE_MAX 8192
/* Room kept at the end for ,"truncated":true}\n so that a full line can
 * always be closed as valid JSON. */
#define KJ_LOG_RESERVE 24

static const char *const s_level_names[] = {"debug", "info", "warn", "error"};

/* Set once by kj_log_init before threads start; read by every thread. */
static char s_svc[64] = "kujo";
/* Atomic so that a level check from any thread is well defined even if a
 * reload ever changes it. */
static atomic_int s_level = KJ_LOG_INFO;
/* Serialises the write(2) calls: a line longer than PIPE_BUF is not atomic
 * on a pipe by itself. */
static pthread_mutex_t s_write_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct {
    char *buf;      /* the line being built */
    size_t len;     /* bytes used */
    size_t cap;     /* bytes usable for content before the reserve */
    bool truncated; /* something was cut or dropped */
} s_line_t;

void
kj_log_init(const char *svc, kj_log_level_t level)
{
    kj_strlcpy(s_svc, svc ? svc : "kujo", sizeof(s_svc));
    atomic_store(&s_level, (int)level);
}

int
kj_log_level_parse(const char *s)
{
    if (!s)
        return -1;
    for (size_t i = 0; i < KJ_ARRAY_LEN(s_level_names); i++) {
        if (strcmp(s, s_level_names[i]) == 0)
            return (int)i;
    }
    return -1;
}

bool
kj_log_enabled(kj_log_level_t level)
{
    return (int)level >= atomic_load(&s_level);
}

/* Append raw bytes if they fit; false (and nothing written) if not. */
static bool
s_raw(s_line_t *l, const char *s, size_t n)
{
    if (l->len + n > l->cap) {
        l->truncated = true;
        return false;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    return true;
}

/* Append s as a JSON string, quotes included. Control characters become
 * \u00XX, invalid UTF-8 becomes U+FFFD; if the value does not fit it is
 * cut on a character boundary and still closed with a quote. */
static void
s_string(s_line_t *l, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t left = strlen(str);
    /* Keep one byte for the closing quote whatever happens. */
    size_t saved_cap = l->cap;
    if (!s_raw(l, "\"", 1))
        return;
    l->cap--;
    while (left > 0) {
        char esc[8];
        const char *out = (const char *)s;
        size_t out_len, used;
        unsigned c = s[0];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            out = esc;
            out_len = 2;
            used = 1;
        } else if (c < 0x20 || c == 0x7f) {
            static const char hex[] = "0123456789abcdef";
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            out = esc;
            out_len = 6;
            used = 1;
        } else {
            used = kj_utf8_decode((const char *)s, left, NULL);
            if (used == 0) {
                out = "\xEF\xBF\xBD"; /* U+FFFD */
                out_len = 3;
                used = 1;
            } else {
                out_len = used;
            }
        }
        if (!s_raw(l, out, out_len))
            break;
        s += used;
        left -= used;
    }
    l->cap = saved_cap;
    l->buf[l->len++] = '"';
}

static void
s_double(char *out, size_t size, double v)
{
    /* The shortest of %.15g and %.17g that reads back as the same value. */
    snprintf(out, size, "%.15g", v);
    if (strtod(out, NULL) != v)
        snprintf(out, size, "%.17g", v);
}

static void
s_timestamp(char *out, size_t size)
{
    kj_time_rfc3339(kj_now_ms(), out, size);
}

static void
s_emit(const char *buf, size_t len)
{
    pthread_mutex_lock(&s_write_lock);
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(STDOUT_FILENO, buf + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        /* Nowhere to report a failed log write; give up on this line. */
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    pthread_mutex_unlock(&s_write_lock);
}

/* Append ,"name":value. raw is JSON text written as is (a number, true,
 * false, null); otherwise str is written as a JSON string. A field is
 * written whole or not at all, except that a long string value may be cut;
 * once something is dropped, nothing more is added. */
static void
s_field(s_line_t *l, const char *name, const char *raw, const char *str)
{
    if (l->truncated)
        return;
    size_t mark = l->len;
    bool ok = s_raw(l, ",", 1);
    if (ok) {
        s_string(l, name);
        ok = !l->truncated && s_raw(l, ":", 1);
    }
    if (ok && raw)
        ok = s_raw(l, raw, strlen(raw));
    else if (ok)
        ok = l->len + 2 <= l->cap; /* room for at least "" */
    if (!ok) {
        l->len = mark;
        l->truncated = true;
        return;
    }
    if (!raw)
        s_string(l, str);
}

/* A key without a type prefix means the arguments can no longer be read
 * safely: a programming error, caught on first use. */
static void
s_check_key(const char *key, const char *msg)
{
    if (strlen(key) < 3 || key[1] != ':' || !strchr("silfb", key[0])) {
        fprintf(stderr, "kj_log: bad key \"%s\" in \"%s\"\n", key,
                msg ? msg : "");
        abort();
    }
}

static void
s_begin(s_line_t *l, kj_log_level_t level, const char *msg)
{
    char ts[40];
    int lvl = (int)level;

    if (lvl < 0 || lvl >= (int)KJ_ARRAY_LEN(s_level_names))
        lvl = KJ_LOG_ERROR;
    s_timestamp(ts, sizeof(ts));
    s_raw(l, "{\"ts\":\"", 7);
    s_raw(l, ts, strlen(ts));
    s_raw(l, "\",\"level\":\"", 11);
    s_raw(l, s_level_names[lvl], strlen(s_level_names[lvl]));
    s_raw(l, "\",\"svc\":", 8);
    s_string(l, s_svc);
    s_raw(l, ",\"msg\":", 7);
    s_string(l, msg ? msg : "");
}

static void
s_end(s_line_t *l, size_t size)
{
    /* The reserve always has room for these. */
    l->cap = size;
    if (l->truncated)
        s_raw(l, ",\"truncated\":true", 17);
    s_raw(l, "}\n", 2);
    s_emit(l->buf, l->len);
}

void
kj_log_write(kj_log_level_t level, const char *msg, ...)
{
    char buf[KJ_LOG_LINE_MAX];
    s_line_t l = {buf, 0, sizeof(buf) - KJ_LOG_RESERVE, false};

    s_begin(&l, level, msg);
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (!key)
            break;
        s_check_key(key, msg);
        char num[40];
        const char *raw = num;
        const char *str = NULL;
        switch (key[0]) {
        case 's':
            str = va_arg(ap, const char *);
            raw = str ? NULL : "null";
            break;
        case 'i':
            snprintf(num, sizeof(num), "%d", va_arg(ap, int));
            break;
        case 'l':
            snprintf(num, sizeof(num), "%lld", va_arg(ap, long long));
            break;
        case 'f': {
            double v = va_arg(ap, double);
            /* JSON has no NaN or infinity. */
            if (isfinite(v))
                s_double(num, sizeof(num), v);
            else
                raw = "null";
            break;
        }
        default: /* 'b' */
            raw = va_arg(ap, int) ? "true" : "false";
            break;
        }
        /* Keep reading the list even when full: every argument must be
         * consumed in order. */
        s_field(&l, key + 2, raw, str);
    }
    va_end(ap);
    s_end(&l, sizeof(buf));
}

/* True if s is a JSON number as strtod and JSON both read it: optional
 * minus, digits, optional fraction and exponent. */
static bool
s_is_json_number(const char *s)
{
    if (*s == '-')
        s++;
    if (!(*s >= '0' && *s <= '9'))
        return false;
    if (*s == '0' && s[1] >= '0' && s[1] <= '9')
        return false;
    while (*s >= '0' && *s <= '9')
        s++;
    if (*s == '.') {
        s++;
        if (!(*s >= '0' && *s <= '9'))
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == '\0';
}

void
kj_log_write_array(kj_log_level_t level, const char *msg,
                   const char *const *keys, const char *const *values, size_t n)
{
    char buf[KJ_LOG_LINE_MAX];
    s_line_t l = {buf, 0, sizeof(buf) - KJ_LOG_RESERVE, false};

    s_begin(&l, level, msg);
    for (size_t i = 0; i < n; i++) {
        s_check_key(keys[i], msg);
        const char *v = values[i];
        const char *raw = NULL;
        if (!v) {
            raw = "null";
        } else if (keys[i][0] == 'b') {
            if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
                raw = v;
        } else if (keys[i][0] != 's') {
            if (s_is_json_number(v))
                raw = v;
        }
        s_field(&l, keys[i] + 2, raw, v);
    }
    s_end(&l, sizeof(buf));
}
