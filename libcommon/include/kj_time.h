/* kj_time: the one place that writes times as RFC 3339 UTC strings, for
 * logs, record answers, alert payloads and kj_assert. Async-signal-safe:
 * no gmtime_r, no stdio, no locale. */
#ifndef KJ_TIME_H
#define KJ_TIME_H

#include <stddef.h>
#include <stdint.h>

/* Room for "2026-11-23T09:00:00.000Z" and its NUL; years past 9999 need
 * more, and the functions below then say so by returning 0. */
#define KJ_TIME_RFC3339_LEN 25

/* Write ms since the Unix epoch as RFC 3339 UTC with milliseconds
 * ("2026-11-23T09:00:00.000Z") into buf[size]. Times before 1970 floor
 * (-1 is "1969-12-31T23:59:59.999Z"). Returns the length written, or 0
 * with buf "" (when size > 0) if it does not fit. */
size_t
kj_time_rfc3339(int64_t ms, char *buf, size_t size);

/* The same to the second, without milliseconds ("2026-11-23T09:00:00Z"),
 * for text read by people. */
size_t
kj_time_rfc3339_sec(int64_t ms, char *buf, size_t size);

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d (m 1..12,
 * d 1..31), negative before 1970 (H. Hinnant's days_from_civil). */
int64_t
kj_time_days_from_civil(int64_t y, int m, int d);

/* Parse an RFC 3339 time ("2026-11-23T09:00:00.000Z", any offset, 't',
 * 'z' or a space allowed) into ms since the epoch. 0, or -1 if malformed
 * or out of range. (ingest and analytics both read such times.) */
int
kj_time_parse_rfc3339(const char *s, size_t len, int64_t *ms);

#endif
