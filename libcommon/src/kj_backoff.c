/* kj_backoff: full jitter spreads retries from many copies evenly over the
 * whole window instead of bunching them at the exponential steps. */
#include "kj_backoff.h"

#include "kj_util.h"

int64_t
kj_backoff_delay_ms(int attempt, int64_t base_ms, int64_t cap_ms, uint64_t *rng)
{
    if (cap_ms <= 0 || base_ms <= 0)
        return 0;
    if (attempt < 1)
        attempt = 1;
    /* base * 2^(attempt-1) overflows long before attempt reaches 64; the
     * ceiling is cap as soon as the doubling would pass it, checked by
     * division so that nothing is ever shifted out. */
    int64_t ceiling = cap_ms;
    int shift = attempt - 1;
    if (base_ms <= cap_ms && shift < 62 && base_ms <= (cap_ms >> shift))
        ceiling = base_ms << shift;
    /* Uniform in [0, ceiling]; the modulo bias is below 2^-40 for any
     * ceiling a retry delay can have. */
    return (int64_t)(kj_rand64(rng) % ((uint64_t)ceiling + 1));
}
