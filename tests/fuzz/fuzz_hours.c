/* libFuzzer target for business-hours calendars (the business_hours
 * entries of KUJO_RULES, written by operators): any bytes that are JSON
 * either build a calendar or give a non-empty message that fits its
 * buffer, and a calendar answers deadline, open_between and is_open for
 * instants derived from the input, consistently with each other:
 * the deadline never precedes the start, and the open time from the
 * start to a deadline within the horizon is what was asked for. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kj_hours.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Eight input bytes (wrapping, zero-padded) as an integer. */
static int64_t
s_i64(const uint8_t *data, size_t size, size_t at)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8 && size > 0; i++)
        v = v << 8 | data[(at + i) % size];
    return (int64_t)v;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *root = json_loadb((const char *)data, size, 0, NULL);
    if (!root)
        return 0;
    char err[128];
    memset(err, 'x', sizeof err);
    kj_hours_t *h = kj_hours_from_json(root, err, sizeof err);
    json_decref(root);
    if (!h) {
        if (!memchr(err, '\0', sizeof err) || err[0] == '\0')
            abort();
        return 0;
    }
    if (!kj_hours_name(h) || !kj_hours_timezone(h))
        abort();
    /* Starts around 2020..2030 plus any instant at all; clocks from zero
     * to a few days and anything. */
    int64_t base = INT64_C(1577836800000); /* 2020-01-01 */
    int64_t span = INT64_C(10) * 366 * 86400000;
    int64_t raw = s_i64(data, size, 0);
    int64_t starts[] = {base + (int64_t)((uint64_t)raw % (uint64_t)span), raw};
    int64_t opens[] = {0, s_i64(data, size, 3) % (INT64_C(72) * 3600000),
                       s_i64(data, size, 5)};
    for (size_t i = 0; i < sizeof starts / sizeof *starts; i++) {
        for (size_t j = 0; j < sizeof opens / sizeof *opens; j++) {
            int64_t start = starts[i];
            int64_t open = opens[j];
            int64_t d = kj_hours_deadline(h, start, open);
            (void)kj_hours_is_open(h, start);
            int64_t between = kj_hours_open_between(h, start, d);
            if (between < 0)
                abort();
            /* The exact check holds where nothing is clamped. */
            if (i == 0 && open >= 0 && d != INT64_MAX &&
                (d < start || between != open))
                abort();
        }
    }
    kj_hours_destroy(&h);
    if (h)
        abort();
    return 0;
}
