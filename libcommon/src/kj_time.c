/* kj_time: RFC 3339 UTC formatting. Four copies (the log, ingest's record
 * answer, the notifier's payload, kj_assert's failure line) became this
 * one. kj_assert may run in a signal handler, so this uses neither
 * gmtime_r nor snprintf (neither is async-signal-safe): the civil date
 * comes from Howard Hinnant's civil_from_days, digits are written by
 * hand. */
#include "kj_time.h"

#include <stdbool.h>
#include <string.h>

#include "kj_util.h"

/* Append v in decimal, at least width digits, at out[*n] (out has room:
 * the caller's buffer is sized for the longest int64 date). */
static void
s_num(char *out, size_t *n, long long v, int width)
{
    *n += kj_format_i64(out + *n, v, width);
}

static size_t
s_format(int64_t ms, bool with_ms, char *buf, size_t size)
{
    if (size == 0)
        return 0;
    buf[0] = '\0';
    /* Floor division, so that times before 1970 keep a positive ms part
     * and print the right second and day. */
    long long secs = ms / 1000, msec = ms % 1000;
    if (msec < 0) {
        msec += 1000;
        secs -= 1;
    }
    long long days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    /* civil_from_days (http://howardhinnant.github.io/date_algorithms.html):
     * eras of 400 years, March-based years so that leap days come last. */
    long long z = days + 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    long long d = doy - (153 * mp + 2) / 5 + 1;
    long long m = mp < 10 ? mp + 3 : mp - 9;
    long long y = yoe + era * 400 + (m <= 2);

    char tmp[64]; /* a 20-digit year and the rest fit */
    size_t n = 0;
    s_num(tmp, &n, y, 4);
    tmp[n++] = '-';
    s_num(tmp, &n, m, 2);
    tmp[n++] = '-';
    s_num(tmp, &n, d, 2);
    tmp[n++] = 'T';
    s_num(tmp, &n, rem / 3600, 2);
    tmp[n++] = ':';
    s_num(tmp, &n, rem / 60 % 60, 2);
    tmp[n++] = ':';
    s_num(tmp, &n, rem % 60, 2);
    if (with_ms) {
        tmp[n++] = '.';
        s_num(tmp, &n, msec, 3);
    }
    tmp[n++] = 'Z';
    /* A cut time string would read as a different time: all or nothing. */
    if (n >= size)
        return 0;
    memcpy(buf, tmp, n);
    buf[n] = '\0';
    return n;
}

size_t
kj_time_rfc3339(int64_t ms, char *buf, size_t size)
{
    return s_format(ms, true, buf, size);
}

size_t
kj_time_rfc3339_sec(int64_t ms, char *buf, size_t size)
{
    return s_format(ms, false, buf, size);
}

int64_t
kj_time_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* n decimal digits at p, or -1. */
static int
s_digits(const char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

static int
s_month_days(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

int
kj_time_parse_rfc3339(const char *s, size_t len, int64_t *ms)
{
    /* date-time = full-date "T" partial-time time-offset, where RFC 3339
     * also allows a lower-case t and z and (section 5.6, note) a space. */
    if (len < 20 || len > 40)
        return -1;
    int y = s_digits(s, 4), mo = s_digits(s + 5, 2), d = s_digits(s + 8, 2);
    int h = s_digits(s + 11, 2), mi = s_digits(s + 14, 2);
    int sec = s_digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || sec < 0 || sec > 60 || s[4] != '-' || s[7] != '-' ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
        s[16] != ':' || d > s_month_days(y, mo))
        return -1;
    size_t i = 19;
    int frac_ms = 0;
    if (s[i] == '.') {
        i++;
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (i - start < 3)
                frac_ms = frac_ms * 10 + (s[i] - '0');
            i++;
        }
        size_t nd = i - start;
        if (nd == 0 || nd > 9)
            return -1;
        for (size_t k = nd; k < 3; k++)
            frac_ms *= 10;
    }
    if (i >= len)
        return -1;
    int offset_min = 0;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        if (len - i != 6 || s[i + 3] != ':')
            return -1;
        int oh = s_digits(s + i + 1, 2), om = s_digits(s + i + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -1;
        offset_min = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return -1;
    }
    if (i != len)
        return -1;
    int64_t days = kj_time_days_from_civil(y, mo, d);
    int64_t secs =
        days * 86400 + h * 3600 + mi * 60 + sec - (int64_t)offset_min * 60;
    *ms = secs * 1000 + frac_ms;
    return 0;
}
