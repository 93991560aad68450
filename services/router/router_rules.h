/* router_rules: the routing decision. The first route of the operator's
 * rules file (kj_rules) whose "when" tests all pass owns the complaint;
 * the last route has no tests, so every complaint gets a route. Routes,
 * teams and SLA policies live here with the router, which is where
 * assignment and SLA clocks grow. */
#ifndef ROUTER_RULES_H
#define ROUTER_RULES_H

#include <stdbool.h>

#include "kj_rules.h"

/* What a route can test: the triage plus the complaint's channel, tier
 * and whether it was posted in public. NULL or "" never passes a test. */
typedef struct {
    const char *language, *category, *channel, *tier, *urgency, *sentiment;
    bool is_public;
} router_rules_input_t;

/* Route a triaged complaint. Always matches (the catch-all is last).
 * Strings in out are borrowed from the rules. */
void
router_rules_route(const kj_rules_t *rules, const router_rules_input_t *in,
                   kj_route_t *out);

#endif
