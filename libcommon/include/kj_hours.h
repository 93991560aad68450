/* kj_hours: a team's business hours, so that SLA clocks count only the
 * time the team is open (issue 11). A calendar is a set of weekly open
 * intervals in an IANA time zone plus whole-day holidays (local dates):
 *
 * {"name": "tokyo", "timezone": "Asia/Tokyo",
 *  "week": {"mon": ["09:00-12:00", "13:00-18:00"], "tue": [...], ...,
 *           "sun": []},
 *  "holidays": ["2027-01-01", "2027-01-11"]}
 *
 * Days missing from "week" are closed; "24:00" is allowed as an end;
 * intervals within a day are in order, do not overlap and start before
 * they end. The zone comes from the system database (/usr/share/zoneinfo,
 * or $TZDIR); its UTC offsets are computed once at parse for 1970..2100
 * (instants outside use the offset in force at the nearer end), so no call
 * after parse touches the zone files or the process's TZ.
 *
 * Across DST changes, a local time that does not exist (spring forward)
 * means the instant the clocks jump; a local time that happens twice (fall
 * back) means its first occurrence. So 09:00-17:00 is always 8 hours, but
 * an interval spanning the change is an hour shorter or longer.
 *
 * Searches are bounded: deadline and open_between look at most
 * KJ_HOURS_HORIZON_DAYS local days ahead of their start. A NULL calendar
 * means 24/7 everywhere. */
#ifndef KJ_HOURS_H
#define KJ_HOURS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How far (local days) deadline and open_between look: two years. */
#define KJ_HOURS_HORIZON_DAYS 731

/* Most intervals in one day and most holidays in one calendar. */
#define KJ_HOURS_DAY_MAX 16
#define KJ_HOURS_HOLIDAYS_MAX 1000

typedef struct kj_hours kj_hours_t;

/* Parse one business_hours object (a jansson json_t *). NULL with a
 * precise message in err: the field's path inside the object, then what
 * is wrong with which value ("week.mon[1]: bad time \"25:00\" in ...").
 * Switches the process's TZ briefly (under a mutex, restored after), so
 * parse calendars at startup, before other threads call localtime.
 * Caller owns the result. */
kj_hours_t *
kj_hours_from_json(const void *json_obj, char *err, size_t err_size);

/* Destroy and set *self_p to NULL. Safe on NULL. */
void
kj_hours_destroy(kj_hours_t **self_p);

/* A UTC instant as wall time in a calendar's zone, for people: an SLA due
 * time in the team's zone (notifier_slack). */
typedef struct {
    int64_t year;
    int month;   /* 1..12 */
    int day;     /* 1..31 */
    int weekday; /* 0 = Monday .. 6 = Sunday */
    int hour, minute, second;
    int32_t utc_offset_s; /* local minus UTC, seconds */
    char abbr[8];         /* the zone's abbreviation then ("JST", "EDT",
                             "+0545"); "UTC" for a NULL calendar */
} kj_hours_local_t;

/* at_ms as local time in the calendar's zone (NULL self: UTC) into *out,
 * from the offsets read at parse (no zone files, any thread). */
void
kj_hours_local(const kj_hours_t *self, int64_t at_ms, kj_hours_local_t *out);

/* The calendar's name (borrowed). */
const char *
kj_hours_name(const kj_hours_t *self);

/* The calendar's IANA time zone name (borrowed). */
const char *
kj_hours_timezone(const kj_hours_t *self);

/* The instant when open_ms of open time has elapsed counting from
 * start_ms. If start_ms is closed, counting starts at the next opening;
 * open_ms <= 0 gives start_ms if open, else the next opening. NULL
 * self: start_ms + open_ms. INT64_MAX if the deadline lies beyond
 * KJ_HOURS_HORIZON_DAYS (only for very long clocks on sparse calendars). */
int64_t
kj_hours_deadline(const kj_hours_t *self, int64_t start_ms, int64_t open_ms);

/* Open time in [from_ms, to_ms), 0 if to_ms <= from_ms; counts at most
 * KJ_HOURS_HORIZON_DAYS after from_ms. NULL self: to_ms - from_ms. Pauses
 * a clock: remaining = kj_hours_open_between(self, now, deadline). */
int64_t
kj_hours_open_between(const kj_hours_t *self, int64_t from_ms, int64_t to_ms);

/* Whether at_ms is in open hours (NULL self: always). */
bool
kj_hours_is_open(const kj_hours_t *self, int64_t at_ms);

#endif
