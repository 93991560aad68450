/* kj_hours: business-hours calendars. The zone's UTC offsets are read
 * from glibc once, at parse, into a table of changes (1970..2100), so the
 * hot calls (deadline, open_between, is_open) are pure arithmetic over
 * local days: no zone files, no TZ switching, no locks, and safe from any
 * thread. Every local day maps to at most KJ_HOURS_DAY_MAX open spans in
 * UTC; searches walk days, never minutes, and stop at the horizon. */
#include "kj_hours.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "kj_time.h"
#include "kj_util.h"

#define S_NAME_MAX 63 /* like every other name in the rules file */
#define S_TZ_MAX 63   /* the longest IANA names are about 30 bytes */
#define S_DAY_S 86400
/* Real offsets stay within ±15 h; this bounds the search for the UTC
 * instant of a local time generously. */
#define S_OFF_MAX (26 * 3600)
/* Instants are clamped to ±2^52 ms (about ±142,000 years) so that day
 * arithmetic in ms can never overflow. */
#define S_MS_LIMIT (INT64_C(1) << 52)

static const char *const s_days[7] = {"mon", "tue", "wed", "thu",
                                      "fri", "sat", "sun"};

/* One open interval, in minutes after local midnight (end <= 1440). */
typedef struct {
    int start;
    int end;
} s_span_t;

/* Room for a zone abbreviation ("JST", "EDT", "+0545") and its NUL. */
#define S_ABBR_MAX 8

/* From UTC second at on, the zone's offset is off seconds. */
typedef struct {
    int64_t at;
    int32_t off;
    char abbr[S_ABBR_MAX]; /* what %Z says then, for people (kj_hours_local) */
} s_change_t;

struct kj_hours {
    char *name;
    char *timezone;
    s_span_t week[7][KJ_HOURS_DAY_MAX]; /* [0] is Monday */
    int n_week[7];                      /* intervals per day */
    int64_t *holidays;                  /* local day numbers, sorted */
    size_t n_holidays;
    int32_t off_first; /* offset before the first change (and pre-1970) */
    char abbr_first[S_ABBR_MAX]; /* its abbreviation */
    s_change_t *changes;         /* offset changes in time order */
    size_t n_changes;
};

/* Guards TZ switching at parse: setenv/tzset are process-wide. */
static pthread_mutex_t s_tz_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- civil calendar arithmetic (proleptic Gregorian) ---------------- */

static int64_t
s_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* 0 = Monday for a day number (1970-01-01 was a Thursday). */
static int
s_weekday(int64_t day)
{
    return (int)(((day + 3) % 7 + 7) % 7);
}

static int
s_days_in_month(int y, int m)
{
    static const int n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : n[m - 1];
}

/* ---- the zone's offsets --------------------------------------------- */

/* The offset glibc gives for t under the current TZ, and its
 * abbreviation into abbr[S_ABBR_MAX] when abbr is not NULL (strftime's
 * %Z: tm_zone is not POSIX). */
static int32_t
s_sys_offset_abbr(int64_t t, char *abbr)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (abbr)
        abbr[0] = '\0';
    if (!localtime_r(&tt, &tm))
        return 0;
    if (abbr && strftime(abbr, S_ABBR_MAX, "%Z", &tm) == 0)
        abbr[0] = '\0';
    int64_t local = kj_time_days_from_civil(tm.tm_year + 1900LL, tm.tm_mon + 1,
                                            tm.tm_mday) *
                        S_DAY_S +
                    tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
    return (int32_t)(local - t);
}

static int32_t
s_sys_offset(int64_t t)
{
    return s_sys_offset_abbr(t, NULL);
}

static void
s_add_change(kj_hours_t *h, size_t *cap, int64_t at)
{
    if (h->n_changes == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        h->changes = kj_realloc(h->changes, *cap * sizeof *h->changes);
    }
    s_change_t *ch = &h->changes[h->n_changes++];
    ch->at = at;
    ch->off = s_sys_offset_abbr(at, ch->abbr);
}

/* Fill the change table for 1970..2100 from glibc under TZ=:<zone>. One
 * localtime_r a day, bisecting to the second where the offset changed;
 * zones never change twice within a day since 1970. */
static void
s_build_offsets(kj_hours_t *h)
{
    pthread_mutex_lock(&s_tz_lock);
    const char *old = getenv("TZ");
    char *saved = old ? kj_strdup(old) : NULL;
    char tz[S_TZ_MAX + 2];
    snprintf(tz, sizeof tz, ":%s", h->timezone);
    setenv("TZ", tz, 1);
    tzset();

    size_t cap = 0;
    int64_t end = kj_time_days_from_civil(2100, 1, 1) * S_DAY_S;
    int32_t prev = s_sys_offset_abbr(0, h->abbr_first);
    h->off_first = prev;
    for (int64_t t = S_DAY_S; t <= end; t += S_DAY_S) {
        int32_t off = s_sys_offset(t);
        if (off == prev)
            continue;
        int64_t lo = t - S_DAY_S, hi = t; /* lo has prev, hi has not */
        while (hi - lo > 1) {
            int64_t mid = lo + (hi - lo) / 2;
            if (s_sys_offset(mid) == prev)
                lo = mid;
            else
                hi = mid;
        }
        s_add_change(h, &cap, hi);
        prev = off;
    }

    if (saved)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    pthread_mutex_unlock(&s_tz_lock);
    free(saved);
}

/* How many changes are at or before UTC second t. */
static size_t
s_changes_upto(const kj_hours_t *h, int64_t t)
{
    size_t lo = 0, hi = h->n_changes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->changes[mid].at <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int32_t
s_offset_at(const kj_hours_t *h, int64_t t)
{
    size_t i = s_changes_upto(h, t);
    return i ? h->changes[i - 1].off : h->off_first;
}

/* The UTC second of local second L: the first occurrence if L happens
 * twice, the instant the clocks jumped if L never happens. */
static int64_t
s_local_to_utc(const kj_hours_t *h, int64_t L)
{
    int64_t seg_start = L - S_OFF_MAX;
    size_t i = s_changes_upto(h, seg_start);
    int32_t off = i ? h->changes[i - 1].off : h->off_first;
    /* Walk the (at most a few) constant-offset segments around L. */
    for (;;) {
        int64_t seg_end = i < h->n_changes ? h->changes[i].at : INT64_MAX;
        int64_t t = L - off;
        if (t >= seg_start && t < seg_end)
            return t;
        if (seg_end > L + S_OFF_MAX)
            return t;
        int32_t next = h->changes[i].off;
        if (t >= seg_end && L - next < seg_end)
            return seg_end; /* in the gap of a spring-forward */
        off = next;
        seg_start = seg_end;
        i++;
    }
}

/* The local day number of UTC instant ms. */
static int64_t
s_local_day(const kj_hours_t *h, int64_t ms)
{
    int64_t s = s_floor_div(ms, 1000);
    return s_floor_div(s + s_offset_at(h, s), S_DAY_S);
}

static bool
s_is_holiday(const kj_hours_t *h, int64_t day)
{
    size_t lo = 0, hi = h->n_holidays;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->holidays[mid] == day)
            return true;
        if (h->holidays[mid] < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* The open spans of local day `day` as UTC ms [a, b), in order. Spans
 * of consecutive days never overlap because local-to-UTC is monotonic. */
static int
s_day_spans(const kj_hours_t *h, int64_t day, int64_t out[][2])
{
    if (s_is_holiday(h, day))
        return 0;
    int w = s_weekday(day);
    int n = 0;
    for (int i = 0; i < h->n_week[w]; i++) {
        const s_span_t *sp = &h->week[w][i];
        int64_t a = s_local_to_utc(h, day * S_DAY_S + sp->start * 60LL);
        int64_t b = s_local_to_utc(h, day * S_DAY_S + sp->end * 60LL);
        if (b > a) {
            out[n][0] = a * 1000;
            out[n][1] = b * 1000;
            n++;
        }
    }
    return n;
}

static int64_t
s_clamp(int64_t ms)
{
    return ms < -S_MS_LIMIT ? -S_MS_LIMIT : ms > S_MS_LIMIT ? S_MS_LIMIT : ms;
}

/* ---- queries -------------------------------------------------------- */

int64_t
kj_hours_deadline(const kj_hours_t *self, int64_t start_ms, int64_t open_ms)
{
    int64_t rem = open_ms > 0 ? open_ms : 0;
    if (!self)
        return start_ms > INT64_MAX - rem ? INT64_MAX : start_ms + rem;
    int64_t cur = s_clamp(start_ms);
    /* Start a day early: the previous local day's last span may still be
     * open at start. */
    int64_t first = s_local_day(self, cur) - 1;
    int64_t spans[KJ_HOURS_DAY_MAX][2];
    for (int64_t day = first; day <= first + KJ_HOURS_HORIZON_DAYS + 1; day++) {
        int n = s_day_spans(self, day, spans);
        for (int i = 0; i < n; i++) {
            int64_t a = spans[i][0], b = spans[i][1];
            if (b <= cur)
                continue;
            if (a < cur)
                a = cur;
            if (rem <= b - a)
                return a + rem;
            rem -= b - a;
            cur = b;
        }
    }
    return INT64_MAX;
}

int64_t
kj_hours_open_between(const kj_hours_t *self, int64_t from_ms, int64_t to_ms)
{
    if (to_ms <= from_ms)
        return 0;
    if (!self) {
        /* Saturate rather than overflow on absurd inputs. */
        if (from_ms < 0 && to_ms > INT64_MAX + from_ms)
            return INT64_MAX;
        return to_ms - from_ms;
    }
    int64_t from = s_clamp(from_ms), to = s_clamp(to_ms);
    int64_t first = s_local_day(self, from) - 1;
    int64_t last = s_local_day(self, to) + 1;
    if (last > first + KJ_HOURS_HORIZON_DAYS + 1)
        last = first + KJ_HOURS_HORIZON_DAYS + 1;
    int64_t spans[KJ_HOURS_DAY_MAX][2];
    int64_t total = 0;
    for (int64_t day = first; day <= last; day++) {
        int n = s_day_spans(self, day, spans);
        for (int i = 0; i < n; i++) {
            int64_t a = spans[i][0] > from ? spans[i][0] : from;
            int64_t b = spans[i][1] < to ? spans[i][1] : to;
            if (b > a)
                total += b - a;
        }
    }
    return total;
}

bool
kj_hours_is_open(const kj_hours_t *self, int64_t at_ms)
{
    if (!self)
        return true;
    int64_t at = s_clamp(at_ms);
    int64_t day = s_local_day(self, at);
    int64_t spans[KJ_HOURS_DAY_MAX][2];
    for (int64_t d = day - 1; d <= day + 1; d++) {
        int n = s_day_spans(self, d, spans);
        for (int i = 0; i < n; i++)
            if (spans[i][0] <= at && at < spans[i][1])
                return true;
    }
    return false;
}

void
kj_hours_local(const kj_hours_t *self, int64_t at_ms, kj_hours_local_t *out)
{
    memset(out, 0, sizeof *out);
    int64_t s = s_floor_div(s_clamp(at_ms), 1000);
    const char *abbr = "UTC";
    if (self) {
        size_t i = s_changes_upto(self, s);
        out->utc_offset_s = i ? self->changes[i - 1].off : self->off_first;
        abbr = i ? self->changes[i - 1].abbr : self->abbr_first;
    }
    kj_strlcpy(out->abbr, abbr, sizeof out->abbr);
    int64_t local = s + out->utc_offset_s;
    int64_t day = s_floor_div(local, S_DAY_S);
    int64_t sec = local - day * S_DAY_S;
    out->weekday = s_weekday(day);
    out->hour = (int)(sec / 3600);
    out->minute = (int)(sec / 60 % 60);
    out->second = (int)(sec % 60);
    /* civil_from_days (H. Hinnant), the inverse of days_from_civil. */
    int64_t z = day + 719468;
    int64_t era = s_floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    out->day = (int)(doy - (153 * mp + 2) / 5 + 1);
    out->month = (int)(mp < 10 ? mp + 3 : mp - 9);
    out->year = yoe + era * 400 + (out->month <= 2);
}

const char *
kj_hours_name(const kj_hours_t *self)
{
    return self->name;
}

const char *
kj_hours_timezone(const kj_hours_t *self)
{
    return self->timezone;
}

/* ---- parsing ---------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static int
s_err(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
    return -1;
}

/* A non-empty string of at most max bytes without control characters. */
static const char *
s_string(json_t *v, size_t max)
{
    if (!json_is_string(v))
        return NULL;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 || n > max || strlen(s) != n)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20)
            return NULL;
    return s;
}

static int
s_parse_name(kj_hours_t *h, json_t *v, char *err, size_t size)
{
    if (!json_is_string(v))
        return s_err(err, size, "name: expected a string");
    if (!s_string(v, S_NAME_MAX))
        return s_err(err, size,
                     "name: must be 1..%d bytes without control characters",
                     S_NAME_MAX);
    h->name = kj_strdup(json_string_value(v));
    return 0;
}

/* True if name is a plausible zone name whose file in the zone database
 * starts with the TZif magic. glibc silently falls back to UTC for a
 * missing zone, hence the check here. */
static bool
s_zone_exists(const char *name)
{
    if (name[0] == '/' || name[0] == '.' || strstr(name, "..") ||
        strstr(name, "/."))
        return false;
    for (const char *p = name; *p; p++) {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '/' || ch == '_' || ch == '-' ||
              ch == '+'))
            return false;
    }
    const char *dir = getenv("TZDIR");
    if (!dir || !dir[0])
        dir = "/usr/share/zoneinfo";
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    char magic[4] = {0};
    size_t n = fread(magic, 1, sizeof magic, f);
    fclose(f);
    return n == 4 && memcmp(magic, "TZif", 4) == 0;
}

static int
s_parse_timezone(kj_hours_t *h, json_t *v, char *err, size_t size)
{
    if (!json_is_string(v))
        return s_err(err, size, "timezone: expected a string");
    const char *tz = s_string(v, S_TZ_MAX);
    if (!tz || !s_zone_exists(tz))
        return s_err(err, size,
                     "timezone: unknown time zone \"%.64s\" (not in the "
                     "system zone database)",
                     json_string_value(v));
    h->timezone = kj_strdup(tz);
    return 0;
}

/* "HH:MM" at s into minutes; 24:00 only if end. -1 if malformed. */
static int
s_parse_hm(const char *s, bool end)
{
    for (int i = 0; i < 5; i++)
        if (i == 2 ? s[i] != ':' : (s[i] < '0' || s[i] > '9'))
            return -1;
    int hh = (s[0] - '0') * 10 + (s[1] - '0');
    int mm = (s[3] - '0') * 10 + (s[4] - '0');
    if (mm > 59 || hh > 24 || (hh == 24 && (mm != 0 || !end)))
        return -1;
    return hh * 60 + mm;
}

static int
s_parse_day(kj_hours_t *h, int w, json_t *arr, char *err, size_t size)
{
    const char *day = s_days[w];
    if (!json_is_array(arr))
        return s_err(err, size,
                     "week.%s: expected an array of \"HH:MM-HH:MM\" strings",
                     day);
    size_t n = json_array_size(arr);
    if (n > KJ_HOURS_DAY_MAX)
        return s_err(err, size, "week.%s: more than %d intervals", day,
                     KJ_HOURS_DAY_MAX);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_string(v))
            return s_err(err, size,
                         "week.%s[%zu]: expected a string \"HH:MM-HH:MM\"", day,
                         i);
        const char *s = json_string_value(v);
        if (json_string_length(v) != 11 || s[5] != '-')
            return s_err(err, size,
                         "week.%s[%zu]: bad interval \"%.32s\" (expected "
                         "\"HH:MM-HH:MM\")",
                         day, i, s);
        int start = s_parse_hm(s, false);
        int end = s_parse_hm(s + 6, true);
        if (start < 0 || end < 0)
            return s_err(err, size,
                         "week.%s[%zu]: bad time \"%.5s\" in \"%s\" (00:00 to "
                         "23:59, or 24:00 as an end)",
                         day, i, start < 0 ? s : s + 6, s);
        if (start >= end)
            return s_err(err, size,
                         "week.%s[%zu]: \"%s\" must start before it ends", day,
                         i, s);
        if (i > 0 && start < h->week[w][i - 1].end)
            return s_err(err, size,
                         "week.%s[%zu]: \"%s\" overlaps or comes before the "
                         "previous interval (intervals must be in order and "
                         "not overlap)",
                         day, i, s);
        h->week[w][i] = (s_span_t){.start = start, .end = end};
        h->n_week[w] = (int)i + 1;
    }
    return 0;
}

static int
s_parse_week(kj_hours_t *h, json_t *week, char *err, size_t size)
{
    if (!json_is_object(week))
        return s_err(err, size, "week: expected an object of day: intervals");
    const char *key;
    json_t *v;
    json_object_foreach(week, key, v)
    {
        int w = -1;
        for (int i = 0; i < 7; i++)
            if (strcmp(key, s_days[i]) == 0)
                w = i;
        if (w < 0)
            return s_err(err, size,
                         "week: unknown day \"%.32s\" (mon, tue, wed, thu, "
                         "fri, sat or sun)",
                         key);
    }
    bool any = false;
    for (int w = 0; w < 7; w++) {
        json_t *arr = json_object_get(week, s_days[w]);
        if (arr && s_parse_day(h, w, arr, err, size) < 0)
            return -1;
        any = any || h->n_week[w] > 0;
    }
    if (!any)
        return s_err(err, size, "week: no open time on any day");
    return 0;
}

static int
s_parse_holidays(kj_hours_t *h, json_t *arr, char *err, size_t size)
{
    if (!json_is_array(arr))
        return s_err(err, size,
                     "holidays: expected an array of \"YYYY-MM-DD\" strings");
    size_t n = json_array_size(arr);
    if (n > KJ_HOURS_HOLIDAYS_MAX)
        return s_err(err, size, "holidays: more than %d dates",
                     KJ_HOURS_HOLIDAYS_MAX);
    h->holidays = kj_calloc(n ? n : 1, sizeof *h->holidays);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_string(v))
            return s_err(err, size,
                         "holidays[%zu]: expected a string \"YYYY-MM-DD\"", i);
        const char *s = json_string_value(v);
        bool ok = json_string_length(v) == 10 && s[4] == '-' && s[7] == '-';
        for (int k = 0; ok && k < 10; k++)
            if (k != 4 && k != 7 && (s[k] < '0' || s[k] > '9'))
                ok = false;
        int y = 0, m = 0, d = 0;
        if (ok) {
            y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
                (s[3] - '0');
            m = (s[5] - '0') * 10 + (s[6] - '0');
            d = (s[8] - '0') * 10 + (s[9] - '0');
            ok = y >= 1970 && m >= 1 && m <= 12 && d >= 1 &&
                 d <= s_days_in_month(y, m);
        }
        if (!ok)
            return s_err(err, size,
                         "holidays[%zu]: bad date \"%.32s\" (expected a real "
                         "date YYYY-MM-DD, 1970 or later)",
                         i, s);
        int64_t day = kj_time_days_from_civil(y, m, d);
        for (size_t j = 0; j < h->n_holidays; j++)
            if (h->holidays[j] == day)
                return s_err(err, size, "holidays[%zu]: duplicate \"%s\"", i,
                             s);
        h->holidays[h->n_holidays++] = day;
    }
    /* Sorted for the binary search; insertion sort is fine at this size. */
    for (size_t i = 1; i < h->n_holidays; i++) {
        int64_t x = h->holidays[i];
        size_t j = i;
        for (; j > 0 && h->holidays[j - 1] > x; j--)
            h->holidays[j] = h->holidays[j - 1];
        h->holidays[j] = x;
    }
    return 0;
}

static int
s_parse(kj_hours_t *h, json_t *o, char *err, size_t size)
{
    static const char *const keys[] = {"name", "timezone", "week", "holidays"};
    if (!json_is_object(o))
        return s_err(err, size, "expected an object");
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        bool ok = false;
        for (size_t i = 0; i < KJ_ARRAY_LEN(keys); i++)
            ok = ok || strcmp(key, keys[i]) == 0;
        if (!ok)
            return s_err(err, size, "unknown key \"%.32s\"", key);
    }
    for (size_t i = 0; i < 3; i++)
        if (!json_object_get(o, keys[i]))
            return s_err(err, size, "missing key \"%s\"", keys[i]);
    if (s_parse_name(h, json_object_get(o, "name"), err, size) < 0 ||
        s_parse_timezone(h, json_object_get(o, "timezone"), err, size) < 0 ||
        s_parse_week(h, json_object_get(o, "week"), err, size) < 0)
        return -1;
    json_t *hol = json_object_get(o, "holidays");
    if (hol && s_parse_holidays(h, hol, err, size) < 0)
        return -1;
    s_build_offsets(h);
    return 0;
}

kj_hours_t *
kj_hours_from_json(const void *json_obj, char *err, size_t err_size)
{
    char dummy[1];
    if (!err || err_size == 0) {
        err = dummy;
        err_size = sizeof dummy;
    }
    err[0] = '\0';
    kj_hours_t *self = kj_calloc(1, sizeof *self);
    /* jansson's getters take a non-const json_t but do not modify it. */
    if (s_parse(self, (json_t *)(uintptr_t)json_obj, err, err_size) < 0)
        kj_hours_destroy(&self);
    return self;
}

void
kj_hours_destroy(kj_hours_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kj_hours_t *self = *self_p;
    free(self->name);
    free(self->timezone);
    free(self->holidays);
    free(self->changes);
    free(self);
    *self_p = NULL;
}
