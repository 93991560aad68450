/* router_rules: first-match routing over the parsed routes. No I/O and
 * no allocation: a route is read through kj_rules_route_at's view. */
#include "router_rules.h"

#include <string.h>

/* A present test passes only for a non-empty value in its list. */
static bool
s_test_pass(const kj_route_test_t *t, const char *value)
{
    if (!t->present)
        return true;
    if (!value || !value[0])
        return false;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->vals[i], value) == 0)
            return true;
    return false;
}

static bool
s_route_pass(const kj_route_t *rt, const router_rules_input_t *in)
{
    const char *vals[KJ_ROUTE_FIELDS] = {[KJ_ROUTE_LANGUAGE] = in->language,
                                         [KJ_ROUTE_CATEGORY] = in->category,
                                         [KJ_ROUTE_CHANNEL] = in->channel,
                                         [KJ_ROUTE_TIER] = in->tier,
                                         [KJ_ROUTE_URGENCY] = in->urgency,
                                         [KJ_ROUTE_SENTIMENT] = in->sentiment};
    if (rt->public_test >= 0 && (rt->public_test == 1) != in->is_public)
        return false;
    for (int t = 0; t < KJ_ROUTE_FIELDS; t++)
        if (!s_test_pass(&rt->when[t], vals[t]))
            return false;
    return true;
}

void
router_rules_route(const kj_rules_t *rules, const router_rules_input_t *in,
                   kj_route_t *out)
{
    /* Validation guarantees at least one route and a last one without
     * tests, so this always ends on a match. */
    size_t n = kj_rules_n_routes(rules);
    for (size_t i = 0; i < n; i++) {
        kj_rules_route_at(rules, i, out);
        if (s_route_pass(out, in))
            return;
    }
}
