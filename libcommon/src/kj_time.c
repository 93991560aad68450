/* kj_time: RFC 3339 UTC formatting. Three copies (the log, ingest's record
 * answer, the notifier's payload) became this one. */
#include "kj_time.h"

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

static size_t
s_format(int64_t ms, bool with_ms, char *buf, size_t size)
{
    if (size == 0)
        return 0;
    buf[0] = '\0';
    /* Floor division, so that times before 1970 keep a positive ms part
     * and print the right second. */
    int64_t secs = ms / 1000, rem = ms % 1000;
    if (rem < 0) {
        rem += 1000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return 0;
    int n;
    if (with_ms)
        n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, (int)rem);
    else
        n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec);
    /* A cut time string would read as a different time: all or nothing. */
    if (n < 0 || (size_t)n >= size) {
        buf[0] = '\0';
        return 0;
    }
    return (size_t)n;
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
