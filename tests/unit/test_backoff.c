/* kj_backoff: full jitter within [0, min(cap, base * 2^(attempt-1))]. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <limits.h>

#include "kj_backoff.h"

Test(backoff, usage_example)
{
    uint64_t rng = 42;
    /* Third retry with base 500 ms, cap 60 s: somewhere in [0, 2000]. */
    int64_t d = kj_backoff_delay_ms(3, 500, 60000, &rng);
    cr_assert(ge(i64, d, 0));
    cr_assert(le(i64, d, 2000));
}

/* Draw many delays; check the bound and that the draws use the range. */
static void
s_check_range(int attempt, int64_t base, int64_t cap, int64_t want_ceiling)
{
    uint64_t rng = 7;
    int64_t lo = INT64_MAX, hi = -1;
    for (int i = 0; i < 20000; i++) {
        int64_t d = kj_backoff_delay_ms(attempt, base, cap, &rng);
        cr_assert(ge(i64, d, 0), "attempt %d", attempt);
        cr_assert(le(i64, d, want_ceiling), "attempt %d", attempt);
        if (d < lo)
            lo = d;
        if (d > hi)
            hi = d;
    }
    /* Full jitter: both ends of the window are reached (to within 1%). */
    cr_assert(le(i64, lo, want_ceiling / 100), "attempt %d lo %lld", attempt,
              (long long)lo);
    cr_assert(ge(i64, hi, want_ceiling - want_ceiling / 100),
              "attempt %d hi %lld", attempt, (long long)hi);
}

Test(backoff, exponential_ceiling)
{
    s_check_range(1, 500, 60000, 500);
    s_check_range(2, 500, 60000, 1000);
    s_check_range(4, 500, 60000, 4000);
    s_check_range(7, 500, 60000, 32000);
    s_check_range(8, 500, 60000, 60000);
    s_check_range(20, 500, 60000, 60000);
}

Test(backoff, huge_attempts_do_not_overflow)
{
    static const int attempts[] = {31, 32, 62, 63, 64, 65, 1000, INT_MAX};
    for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++)
        s_check_range(attempts[i], 500, 60000, 60000);
    s_check_range(INT_MAX, 1, INT64_MAX / 2, INT64_MAX / 2);
    s_check_range(40, 3, INT64_MAX, 3LL << 39);
}

Test(backoff, degenerate_bounds)
{
    uint64_t rng = 1;
    cr_assert(eq(i64, kj_backoff_delay_ms(1, 500, 0, &rng), 0));
    cr_assert(eq(i64, kj_backoff_delay_ms(1, 0, 1000, &rng), 0));
    cr_assert(eq(i64, kj_backoff_delay_ms(1, -5, 1000, &rng), 0));
    cr_assert(eq(i64, kj_backoff_delay_ms(3, 500, -1, &rng), 0));
    /* Attempt below 1 is treated as the first retry. */
    s_check_range(0, 500, 60000, 500);
    s_check_range(-3, 500, 60000, 500);
    /* base above cap: cap wins from the start. */
    s_check_range(1, 5000, 1000, 1000);
}

Test(backoff, deterministic_for_a_seed)
{
    uint64_t a = 99, b = 99;
    for (int i = 1; i < 10; i++)
        cr_assert(eq(i64, kj_backoff_delay_ms(i, 100, 10000, &a),
                     kj_backoff_delay_ms(i, 100, 10000, &b)));
}
