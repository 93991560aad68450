/* kj_time: RFC 3339 UTC strings, the one formatter for logs, records and
 * alerts. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kj_time.h"

Test(time, usage_example)
{
    char buf[KJ_TIME_RFC3339_LEN];
    size_t n = kj_time_rfc3339(1795424400007LL, buf, sizeof buf);
    cr_assert(eq(str, buf, "2026-11-23T09:00:00.007Z"));
    cr_assert(eq(sz, n, strlen(buf)));
}

Test(time, epoch_leap_day_and_before_1970)
{
    char buf[KJ_TIME_RFC3339_LEN];
    cr_assert(eq(sz, kj_time_rfc3339(0, buf, sizeof buf), 24));
    cr_assert(eq(str, buf, "1970-01-01T00:00:00.000Z"));
    kj_time_rfc3339(951782400000LL, buf, sizeof buf);
    cr_assert(eq(str, buf, "2000-02-29T00:00:00.000Z"));
    /* Floor, not truncation toward zero: one ms before the epoch. */
    kj_time_rfc3339(-1, buf, sizeof buf);
    cr_assert(eq(str, buf, "1969-12-31T23:59:59.999Z"));
    kj_time_rfc3339(-1001, buf, sizeof buf);
    cr_assert(eq(str, buf, "1969-12-31T23:59:58.999Z"));
}

Test(time, seconds_only)
{
    char buf[KJ_TIME_RFC3339_LEN];
    cr_assert(
        eq(sz, kj_time_rfc3339_sec(1795428000123LL, buf, sizeof buf), 20));
    cr_assert(eq(str, buf, "2026-11-23T10:00:00Z"));
    kj_time_rfc3339_sec(-1, buf, sizeof buf);
    cr_assert(eq(str, buf, "1969-12-31T23:59:59Z"));
}

Test(time, too_small_buffer_writes_nothing)
{
    char buf[KJ_TIME_RFC3339_LEN];
    memset(buf, 'x', sizeof buf);
    cr_assert(eq(sz, kj_time_rfc3339(0, buf, 10), 0));
    cr_assert(eq(str, buf, ""));
    /* Exactly the length without room for the NUL is still too small. */
    cr_assert(eq(sz, kj_time_rfc3339(0, buf, 24), 0));
    cr_assert(eq(sz, kj_time_rfc3339_sec(0, buf, 20), 0));
    cr_assert(eq(sz, kj_time_rfc3339_sec(0, buf, 21), 20));
    cr_assert(eq(sz, kj_time_rfc3339(0, NULL, 0), 0));
}

Test(time, years_past_9999_need_a_bigger_buffer)
{
    char buf[40];
    /* 10000-01-01T00:00:00.000Z */
    int64_t ms = 253402300800000LL;
    cr_assert(eq(sz, kj_time_rfc3339(ms, buf, KJ_TIME_RFC3339_LEN), 0));
    cr_assert(eq(sz, kj_time_rfc3339(ms, buf, sizeof buf), 25));
    cr_assert(eq(str, buf, "10000-01-01T00:00:00.000Z"));
}

/* The civil-date arithmetic against gmtime_r, a day and a bit apart
 * across 1900..2400 (leap centuries included) and around the epoch. */
Test(time, agrees_with_gmtime)
{
    char got[40], want[40];
    for (int64_t ms = -2208988800000LL; ms < 13569465600000LL;
         ms += 86400000LL + 3723004LL) {
        time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
        struct tm tm;
        cr_assert(not(eq(ptr, gmtime_r(&t, &tm), NULL)));
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, (int)(((ms % 1000) + 1000) % 1000));
        kj_time_rfc3339(ms, got, sizeof got);
        if (strcmp(got, want) != 0)
            cr_fatal("%lld: %s, want %s", (long long)ms, got, want);
    }
}

Test(time, days_from_civil)
{
    cr_assert(eq(i64, kj_time_days_from_civil(1970, 1, 1), 0));
    cr_assert(eq(i64, kj_time_days_from_civil(1969, 12, 31), -1));
    cr_assert(eq(i64, kj_time_days_from_civil(2000, 3, 1), 11017));
    cr_assert(eq(i64, kj_time_days_from_civil(2024, 2, 29), 19782));
    cr_assert(eq(i64, kj_time_days_from_civil(2100, 1, 1), 47482));
}
