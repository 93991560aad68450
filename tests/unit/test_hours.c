/* kj_hours: business-hours calendars in real IANA zones (from the system
 * database): deadlines across weekends, holidays, lunch breaks and DST in
 * both directions, open time between two instants, and parse errors with
 * the field and value they name. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "kj_hours.h"

#define MIN (60 * INT64_C(1000))
#define HOUR (60 * MIN)

/* Days since 1970-01-01 (the same civil arithmetic, written apart). */
static int64_t
s_days(int y, int m, int d)
{
    int64_t days = 0;
    for (int yy = 1970; yy < y; yy++)
        days += (yy % 4 == 0 && (yy % 100 != 0 || yy % 400 == 0)) ? 366 : 365;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30};
    for (int mm = 1; mm < m; mm++)
        days += mdays[mm - 1] +
                (mm == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
    return days + d - 1;
}

/* The UTC ms of a local wall time at a UTC offset given in hours. */
static int64_t
s_at(int y, int m, int d, int hh, int mm, int off_hours)
{
    return (s_days(y, m, d) * 86400 + hh * 3600 + mm * 60 - off_hours * 3600) *
           INT64_C(1000);
}

static kj_hours_t *
s_parse(const char *json)
{
    json_error_t jerr;
    json_t *o = json_loads(json, 0, &jerr);
    cr_assert(not(zero(ptr, o)), "bad test JSON: %s", jerr.text);
    char err[256];
    kj_hours_t *h = kj_hours_from_json(o, err, sizeof err);
    json_decref(o);
    cr_assert(not(zero(ptr, h)), "unexpected error: %s", err);
    return h;
}

#define TOKYO                                                                  \
    "{\"name\":\"tokyo\",\"timezone\":\"Asia/Tokyo\",\"week\":{"               \
    "\"mon\":[\"09:00-18:00\"],\"tue\":[\"09:00-18:00\"],"                     \
    "\"wed\":[\"09:00-18:00\"],\"thu\":[\"09:00-18:00\"],"                     \
    "\"fri\":[\"09:00-18:00\"]},"                                              \
    "\"holidays\":[\"2027-01-11\",\"2027-01-01\"]}"

#define NEW_YORK                                                               \
    "{\"name\":\"ny\",\"timezone\":\"America/New_York\",\"week\":{"            \
    "\"mon\":[\"09:00-17:00\"],\"tue\":[\"09:00-17:00\"],"                     \
    "\"wed\":[\"09:00-17:00\"],\"thu\":[\"09:00-17:00\"],"                     \
    "\"fri\":[\"09:00-17:00\"],\"sat\":[],\"sun\":[]}}"

Test(hours, usage_example)
{
    kj_hours_t *tokyo = s_parse(TOKYO);
    cr_assert(eq(str, (char *)kj_hours_name(tokyo), "tokyo"));
    cr_assert(eq(str, (char *)kj_hours_timezone(tokyo), "Asia/Tokyo"));
    /* Friday 2026-12-04 17:30 JST plus 60 open minutes: 30 on Friday,
     * the weekend closed, 30 on Monday. */
    int64_t start = s_at(2026, 12, 4, 17, 30, 9);
    cr_assert(eq(i64, kj_hours_deadline(tokyo, start, 60 * MIN),
                 s_at(2026, 12, 7, 9, 30, 9)));
    cr_assert(kj_hours_is_open(tokyo, start));
    cr_assert(not(kj_hours_is_open(tokyo, s_at(2026, 12, 5, 12, 0, 9))));
    kj_hours_destroy(&tokyo);
    cr_assert(zero(ptr, tokyo));
    kj_hours_destroy(&tokyo); /* safe on NULL */
}

Test(hours, weekend_and_a_monday_holiday)
{
    kj_hours_t *h = s_parse(TOKYO);
    /* Friday 2027-01-08 17:30; Monday 2027-01-11 is Coming of Age Day. */
    int64_t start = s_at(2027, 1, 8, 17, 30, 9);
    cr_assert(eq(i64, kj_hours_deadline(h, start, 60 * MIN),
                 s_at(2027, 1, 12, 9, 30, 9)));
    cr_assert(not(kj_hours_is_open(h, s_at(2027, 1, 11, 12, 0, 9))));
    /* A full day of work (9 h) from Friday 17:30: 0.5 + 8.5 on Tuesday. */
    cr_assert(eq(i64, kj_hours_deadline(h, start, 9 * HOUR),
                 s_at(2027, 1, 12, 17, 30, 9)));
    /* Ending exactly at closing time stays on that day. */
    cr_assert(eq(i64, kj_hours_deadline(h, start, 30 * MIN),
                 s_at(2027, 1, 8, 18, 0, 9)));
    /* New Year's Day (a Friday) is closed too. */
    cr_assert(eq(i64,
                 kj_hours_deadline(h, s_at(2026, 12, 31, 17, 0, 9), 2 * HOUR),
                 s_at(2027, 1, 4, 10, 0, 9)));
    kj_hours_destroy(&h);
}

Test(hours, lunch_break_splits_the_day)
{
    kj_hours_t *h =
        s_parse("{\"name\":\"lunch\",\"timezone\":\"Asia/Tokyo\",\"week\":{"
                "\"mon\":[\"09:00-12:00\",\"13:00-18:00\"]}}");
    /* Monday 2026-12-07 11:30 + 60 min: 30 before lunch, 30 after. */
    int64_t start = s_at(2026, 12, 7, 11, 30, 9);
    cr_assert(eq(i64, kj_hours_deadline(h, start, 60 * MIN),
                 s_at(2026, 12, 7, 13, 30, 9)));
    cr_assert(not(kj_hours_is_open(h, s_at(2026, 12, 7, 12, 30, 9))));
    cr_assert(kj_hours_is_open(h, s_at(2026, 12, 7, 13, 0, 9)));
    cr_assert(eq(i64,
                 kj_hours_open_between(h, s_at(2026, 12, 7, 9, 0, 9),
                                       s_at(2026, 12, 7, 18, 0, 9)),
                 8 * HOUR));
    /* Only Mondays: 8 open hours a week, the next Monday after 18:00. */
    cr_assert(eq(i64,
                 kj_hours_deadline(h, s_at(2026, 12, 7, 17, 0, 9), 2 * HOUR),
                 s_at(2026, 12, 14, 10, 0, 9)));
    kj_hours_destroy(&h);
}

Test(hours, start_in_closed_hours_counts_from_the_next_opening)
{
    kj_hours_t *h = s_parse(TOKYO);
    /* Tuesday 2026-12-08 03:00 JST: counting starts at 09:00. */
    int64_t night = s_at(2026, 12, 8, 3, 0, 9);
    cr_assert(eq(i64, kj_hours_deadline(h, night, 90 * MIN),
                 s_at(2026, 12, 8, 10, 30, 9)));
    /* Zero open time: the next opening if closed, the start if open. */
    cr_assert(
        eq(i64, kj_hours_deadline(h, night, 0), s_at(2026, 12, 8, 9, 0, 9)));
    int64_t noon = s_at(2026, 12, 8, 12, 0, 9);
    cr_assert(eq(i64, kj_hours_deadline(h, noon, 0), noon));
    cr_assert(eq(i64, kj_hours_deadline(h, noon, -5), noon));
    /* Saturday: Monday's opening. */
    cr_assert(eq(i64, kj_hours_deadline(h, s_at(2026, 12, 12, 10, 0, 9), 0),
                 s_at(2026, 12, 14, 9, 0, 9)));
    kj_hours_destroy(&h);
}

Test(hours, open_between_over_a_weekend)
{
    kj_hours_t *h = s_parse(TOKYO);
    /* Friday 2026-12-04 17:00 to Monday 12-07 10:00: 1 h + 1 h. */
    cr_assert(eq(i64,
                 kj_hours_open_between(h, s_at(2026, 12, 4, 17, 0, 9),
                                       s_at(2026, 12, 7, 10, 0, 9)),
                 2 * HOUR));
    /* A whole week is 45 h; an empty or reversed range is 0. */
    int64_t mon = s_at(2026, 12, 7, 0, 0, 9);
    cr_assert(
        eq(i64, kj_hours_open_between(h, mon, mon + 7 * 24 * HOUR), 45 * HOUR));
    cr_assert(eq(i64, kj_hours_open_between(h, mon, mon), 0));
    cr_assert(eq(i64, kj_hours_open_between(h, mon + HOUR, mon), 0));
    /* Pause and resume: what is left of a deadline is open_between. */
    int64_t start = s_at(2026, 12, 4, 17, 30, 9);
    int64_t deadline = kj_hours_deadline(h, start, 4 * HOUR);
    int64_t paused = s_at(2026, 12, 7, 9, 15, 9);
    int64_t left = kj_hours_open_between(h, paused, deadline);
    cr_assert(eq(i64, left, 4 * HOUR - 45 * MIN));
    cr_assert(eq(i64, kj_hours_deadline(h, paused, left), deadline));
    kj_hours_destroy(&h);
}

Test(hours, is_open_edges)
{
    kj_hours_t *h = s_parse(TOKYO);
    cr_assert(kj_hours_is_open(h, s_at(2026, 12, 7, 9, 0, 9)));
    cr_assert(not(kj_hours_is_open(h, s_at(2026, 12, 7, 9, 0, 9) - 1)));
    cr_assert(kj_hours_is_open(h, s_at(2026, 12, 7, 18, 0, 9) - 1));
    cr_assert(not(kj_hours_is_open(h, s_at(2026, 12, 7, 18, 0, 9))));
    /* 09:00 JST is midnight UTC: the local day, not the UTC day, counts. */
    cr_assert(kj_hours_is_open(h, s_at(2026, 12, 7, 8, 0, 0)));
    cr_assert(not(kj_hours_is_open(h, s_at(2026, 12, 6, 23, 59, 0))));
    kj_hours_destroy(&h);
}

Test(hours, null_means_24_7)
{
    int64_t t = s_at(2026, 12, 5, 3, 0, 0); /* a Saturday night */
    cr_assert(eq(i64, kj_hours_deadline(NULL, t, 90 * MIN), t + 90 * MIN));
    cr_assert(eq(i64, kj_hours_deadline(NULL, t, -1), t));
    cr_assert(eq(i64, kj_hours_deadline(NULL, INT64_MAX - 5, HOUR), INT64_MAX));
    cr_assert(eq(i64, kj_hours_open_between(NULL, t, t + HOUR), HOUR));
    cr_assert(eq(i64, kj_hours_open_between(NULL, t, t - HOUR), 0));
    cr_assert(kj_hours_is_open(NULL, t));
}

Test(hours, new_york_spring_forward)
{
    kj_hours_t *h = s_parse(NEW_YORK);
    /* Friday 2027-03-12 16:00 EST (UTC-5) plus 2 h: 1 h on Friday; the
     * clocks go forward on Sunday 03-14, so Monday 10:00 is EDT (UTC-4). */
    int64_t start = s_at(2027, 3, 12, 16, 0, -5);
    int64_t want = s_at(2027, 3, 15, 10, 0, -4);
    cr_assert(eq(i64, kj_hours_deadline(h, start, 2 * HOUR), want));
    cr_assert(eq(i64, kj_hours_open_between(h, start, want), 2 * HOUR));
    cr_assert(kj_hours_is_open(h, s_at(2027, 3, 15, 9, 0, -4)));
    cr_assert(not(kj_hours_is_open(h, s_at(2027, 3, 15, 8, 30, -4))));
    kj_hours_destroy(&h);

    /* Around the clock: the change day is 23 h, and an interval over the
     * gap (01:00-04:00 local) is 2 h long. */
    h = s_parse("{\"name\":\"always\",\"timezone\":\"America/New_York\","
                "\"week\":{\"sun\":[\"00:00-24:00\"],\"mon\":[\"01:00-04:00\"]"
                "}}");
    cr_assert(eq(i64,
                 kj_hours_open_between(h, s_at(2027, 3, 13, 0, 0, 0),
                                       s_at(2027, 3, 16, 0, 0, 0)),
                 23 * HOUR + 3 * HOUR));
    kj_hours_destroy(&h);
    h = s_parse("{\"name\":\"gap\",\"timezone\":\"America/New_York\","
                "\"week\":{\"sun\":[\"01:00-04:00\"]}}");
    int64_t sun = s_at(2027, 3, 14, 0, 0, -5);
    cr_assert(
        eq(i64, kj_hours_open_between(h, sun, sun + 24 * HOUR), 2 * HOUR));
    /* 02:30 does not exist that day: 01:00 EST + 1 h lands at 03:00 EDT. */
    cr_assert(
        eq(i64, kj_hours_deadline(h, sun, HOUR), s_at(2027, 3, 14, 3, 0, -4)));
    kj_hours_destroy(&h);
    /* An interval starting in the gap starts when the clocks jump. */
    h = s_parse("{\"name\":\"gap\",\"timezone\":\"America/New_York\","
                "\"week\":{\"sun\":[\"02:30-05:00\"]}}");
    cr_assert(
        eq(i64, kj_hours_open_between(h, sun, sun + 24 * HOUR), 2 * HOUR));
    cr_assert(
        eq(i64, kj_hours_deadline(h, sun, 0), s_at(2027, 3, 14, 3, 0, -4)));
    kj_hours_destroy(&h);
}

Test(hours, new_york_fall_back)
{
    kj_hours_t *h = s_parse(NEW_YORK);
    /* Friday 2027-11-05 16:00 EDT plus 2 h: Monday 11-08 10:00 EST. */
    int64_t start = s_at(2027, 11, 5, 16, 0, -4);
    int64_t want = s_at(2027, 11, 8, 10, 0, -5);
    cr_assert(eq(i64, kj_hours_deadline(h, start, 2 * HOUR), want));
    cr_assert(eq(i64, kj_hours_open_between(h, start, want), 2 * HOUR));
    kj_hours_destroy(&h);

    /* The change day is 25 h long. */
    h = s_parse("{\"name\":\"always\",\"timezone\":\"America/New_York\","
                "\"week\":{\"sun\":[\"00:00-24:00\"]}}");
    int64_t sun = s_at(2027, 11, 7, 0, 0, -4);
    int64_t mon = s_at(2027, 11, 8, 0, 0, -5);
    cr_assert(
        eq(i64, kj_hours_open_between(h, sun - HOUR, mon + HOUR), 25 * HOUR));
    cr_assert(eq(i64, kj_hours_deadline(h, sun, 25 * HOUR), mon));
    kj_hours_destroy(&h);

    /* 01:30 happens twice that day: an interval from it starts at the
     * first (EDT), so 01:30-03:00 is 2.5 h. */
    h = s_parse("{\"name\":\"twice\",\"timezone\":\"America/New_York\","
                "\"week\":{\"sun\":[\"01:30-03:00\"]}}");
    cr_assert(
        eq(i64, kj_hours_deadline(h, sun, 0), s_at(2027, 11, 7, 1, 30, -4)));
    cr_assert(eq(i64, kj_hours_open_between(h, sun, mon), 5 * HOUR / 2));
    kj_hours_destroy(&h);
}

Test(hours, far_deadlines_are_bounded)
{
    kj_hours_t *h =
        s_parse("{\"name\":\"sparse\",\"timezone\":\"Europe/London\","
                "\"week\":{\"wed\":[\"10:00-11:00\"]}}");
    /* One hour a week: 52 open hours take about a year, found by
     * stepping days; 200 are beyond the two-year horizon. */
    int64_t start = s_at(2026, 12, 7, 0, 0, 0);
    int64_t d = kj_hours_deadline(h, start, 52 * HOUR);
    cr_assert(gt(i64, d, start + 300 * 24 * HOUR));
    cr_assert(lt(i64, d, start + 400 * 24 * HOUR));
    cr_assert(eq(i64, kj_hours_open_between(h, start, d), 52 * HOUR));
    cr_assert(eq(i64, kj_hours_deadline(h, start, 200 * HOUR), INT64_MAX));
    cr_assert(eq(i64, kj_hours_deadline(h, start, INT64_MAX), INT64_MAX));
    /* Absurd instants are clamped, never overflow. */
    (void)kj_hours_deadline(h, INT64_MIN, HOUR);
    (void)kj_hours_open_between(h, INT64_MIN, INT64_MAX);
    (void)kj_hours_is_open(h, INT64_MAX);
    kj_hours_destroy(&h);
}

Test(hours, the_process_tz_is_restored)
{
    setenv("TZ", "Pacific/Auckland", 1);
    tzset();
    kj_hours_t *h = s_parse(TOKYO);
    cr_assert(eq(str, getenv("TZ"), "Pacific/Auckland"));
    kj_hours_destroy(&h);
    unsetenv("TZ");
    tzset();
    h = s_parse(TOKYO);
    cr_assert(zero(ptr, getenv("TZ")));
    kj_hours_destroy(&h);
}

/* ---- parse errors, each with the exact message it must give ---------- */

#define WEEK(day) "{\"name\":\"x\",\"timezone\":\"UTC\",\"week\":" day "}"

typedef struct {
    const char *json;
    const char *expect; /* the whole message */
} s_bad_t;

static const s_bad_t s_bad[] = {
    {"[]", "expected an object"},
    {"{\"name\":\"x\",\"timezone\":\"Asia/Tokio\",\"week\":{\"mon\":["
     "\"09:00-18:00\"]}}",
     "timezone: unknown time zone \"Asia/Tokio\" (not in the system zone "
     "database)"},
    {"{\"name\":\"x\",\"timezone\":\"../../etc/passwd\",\"week\":{}}",
     "timezone: unknown time zone \"../../etc/passwd\" (not in the system "
     "zone database)"},
    {"{\"name\":\"x\",\"timezone\":9,\"week\":{}}",
     "timezone: expected a string"},
    {WEEK("{\"mon\":[\"09:00-25:00\"]}"),
     "week.mon[0]: bad time \"25:00\" in \"09:00-25:00\" (00:00 to 23:59, or "
     "24:00 as an end)"},
    {WEEK("{\"tue\":[\"24:00-24:00\"]}"),
     "week.tue[0]: bad time \"24:00\" in \"24:00-24:00\" (00:00 to 23:59, or "
     "24:00 as an end)"},
    {WEEK("{\"mon\":[\"09:60-10:00\"]}"),
     "week.mon[0]: bad time \"09:60\" in \"09:60-10:00\" (00:00 to 23:59, or "
     "24:00 as an end)"},
    {WEEK("{\"mon\":[\"9-18\"]}"),
     "week.mon[0]: bad interval \"9-18\" (expected \"HH:MM-HH:MM\")"},
    {WEEK("{\"mon\":[\"09:00-12:00\",\"11:00-13:00\"]}"),
     "week.mon[1]: \"11:00-13:00\" overlaps or comes before the previous "
     "interval (intervals must be in order and not overlap)"},
    {WEEK("{\"fri\":[\"13:00-14:00\",\"09:00-10:00\"]}"),
     "week.fri[1]: \"09:00-10:00\" overlaps or comes before the previous "
     "interval (intervals must be in order and not overlap)"},
    {WEEK("{\"mon\":[\"18:00-09:00\"]}"),
     "week.mon[0]: \"18:00-09:00\" must start before it ends"},
    {WEEK("{\"mon\":\"09:00-18:00\"}"),
     "week.mon: expected an array of \"HH:MM-HH:MM\" strings"},
    {WEEK("{\"mon\":[9]}"), "week.mon[0]: expected a string \"HH:MM-HH:MM\""},
    {WEEK("{\"monday\":[\"09:00-18:00\"]}"),
     "week: unknown day \"monday\" (mon, tue, wed, thu, fri, sat or sun)"},
    {WEEK("{\"mon\":[],\"sun\":[]}"), "week: no open time on any day"},
    {WEEK("{}"), "week: no open time on any day"},
    {WEEK("[]"), "week: expected an object of day: intervals"},
    {"{\"name\":\"x\",\"timezone\":\"UTC\",\"week\":{\"mon\":[\"09:00-10:00\""
     "]},\"holidays\":[\"2027-01-01\",\"2027-02-30\"]}",
     "holidays[1]: bad date \"2027-02-30\" (expected a real date YYYY-MM-DD, "
     "1970 or later)"},
    {"{\"name\":\"x\",\"timezone\":\"UTC\",\"week\":{\"mon\":[\"09:00-10:00\""
     "]},\"holidays\":[\"1/1/2027\"]}",
     "holidays[0]: bad date \"1/1/2027\" (expected a real date YYYY-MM-DD, "
     "1970 or later)"},
    {"{\"name\":\"x\",\"timezone\":\"UTC\",\"week\":{\"mon\":[\"09:00-10:00\""
     "]},\"holidays\":[\"2027-01-01\",\"2027-01-01\"]}",
     "holidays[1]: duplicate \"2027-01-01\""},
    {"{\"name\":\"x\",\"timezone\":\"UTC\",\"week\":{\"mon\":[\"09:00-10:00\""
     "]},\"holidays\":\"2027-01-01\"}",
     "holidays: expected an array of \"YYYY-MM-DD\" strings"},
    {"{\"name\":\"x\",\"timezone\":\"UTC\",\"week\":{\"mon\":[\"09:00-10:00\""
     "]},\"tz\":\"UTC\"}",
     "unknown key \"tz\""},
    {"{\"name\":\"x\",\"week\":{\"mon\":[\"09:00-10:00\"]}}",
     "missing key \"timezone\""},
    {"{\"name\":\"\",\"timezone\":\"UTC\",\"week\":{\"mon\":[\"09:00-10:00\""
     "]}}",
     "name: must be 1..63 bytes without control characters"},
};

Test(hours, parse_errors_are_precise)
{
    for (size_t i = 0; i < sizeof s_bad / sizeof *s_bad; i++) {
        json_error_t jerr;
        json_t *o = json_loads(s_bad[i].json, 0, &jerr);
        cr_assert(not(zero(ptr, o)), "case %zu: bad test JSON: %s", i,
                  jerr.text);
        char err[256] = "untouched";
        kj_hours_t *h = kj_hours_from_json(o, err, sizeof err);
        json_decref(o);
        cr_expect(zero(ptr, h), "case %zu parsed: %s", i, s_bad[i].json);
        cr_expect(eq(str, err, (char *)s_bad[i].expect), "case %zu", i);
        kj_hours_destroy(&h);
    }
}

Test(hours, a_24_00_end_and_null_error_buffer)
{
    kj_hours_t *h = s_parse(WEEK("{\"sat\":[\"22:00-24:00\"]}"));
    /* Saturday 2026-12-05 23:00 UTC + 90 min: 1 h, then next Saturday. */
    cr_assert(eq(i64,
                 kj_hours_deadline(h, s_at(2026, 12, 5, 23, 0, 0), 90 * MIN),
                 s_at(2026, 12, 12, 22, 30, 0)));
    kj_hours_destroy(&h);
    json_t *o = json_loads("{}", 0, NULL);
    cr_assert(zero(ptr, kj_hours_from_json(o, NULL, 0)));
    json_decref(o);
}

/* Wall time in the calendar's zone, with the zone's abbreviation, across
 * New York's DST change and in Tokyo (no DST); NULL is UTC. */
Test(hours, local_time_in_the_zone)
{
    kj_hours_t *ny =
        s_parse("{\"name\":\"ny\",\"timezone\":"
                "\"America/New_York\",\"week\":{\"mon\":[\"09:00-17:00\"]}}");
    kj_hours_t *tk =
        s_parse("{\"name\":\"tk\",\"timezone\":"
                "\"Asia/Tokyo\",\"week\":{\"mon\":[\"09:00-17:00\"]}}");
    kj_hours_local_t t;
    /* 2027-03-14 06:59:59Z is 01:59:59 EST; a second later 03:00 EDT. */
    int64_t jump = s_at(2027, 3, 14, 7, 0, 0);
    kj_hours_local(ny, jump - 1000, &t);
    cr_assert(eq(int, t.hour, 1));
    cr_assert(eq(int, t.minute, 59));
    cr_assert(eq(str, t.abbr, "EST"));
    cr_assert(eq(i32, t.utc_offset_s, -5 * 3600));
    kj_hours_local(ny, jump, &t);
    cr_assert(eq(int, t.hour, 3));
    cr_assert(eq(int, t.minute, 0));
    cr_assert(eq(str, t.abbr, "EDT"));
    cr_assert(eq(i32, t.utc_offset_s, -4 * 3600));
    cr_assert(eq(int, t.weekday, 6)); /* a Sunday */
    cr_assert(eq(i64, t.year, 2027));
    cr_assert(eq(int, t.month, 3));
    cr_assert(eq(int, t.day, 14));
    /* Tokyo: 2026-12-31T15:30Z is 00:30 on New Year's Day. */
    kj_hours_local(tk, s_at(2026, 12, 31, 15, 30, 0), &t);
    cr_assert(eq(i64, t.year, 2027));
    cr_assert(eq(int, t.month, 1));
    cr_assert(eq(int, t.day, 1));
    cr_assert(eq(int, t.hour, 0));
    cr_assert(eq(int, t.minute, 30));
    cr_assert(eq(int, t.weekday, 4)); /* a Friday */
    cr_assert(eq(str, t.abbr, "JST"));
    kj_hours_local(NULL, s_at(2026, 12, 31, 15, 30, 0), &t);
    cr_assert(eq(int, t.hour, 15));
    cr_assert(eq(str, t.abbr, "UTC"));
    cr_assert(eq(i32, t.utc_offset_s, 0));
    /* Before 1970: the offset in force at the near end, the date exact. */
    kj_hours_local(NULL, -1, &t);
    cr_assert(eq(i64, t.year, 1969));
    cr_assert(eq(int, t.second, 59));
    kj_hours_destroy(&ny);
    kj_hours_destroy(&tk);
}
