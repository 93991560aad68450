/* kj_rules: the operator's rules file (KUJO_RULES, JSON; deploy/rules.json
 * is the default). The classifier reads categories and urgency keywords
 * from it, the router reads teams, SLA policies and routes. Parsing is
 * strict: unknown keys, wrong types, dangling references and a missing
 * catch-all route are errors with the JSON path and line.
 *
 * {
 *   "version": 1,
 *   "categories": [{"name": "billing", "keywords": ["refund", "返金"]}],
 *   "model_labels": {"Late Flight": "delay"},
 *   "urgency": [{"level": "critical", "keywords": ["lawsuit", "訴訟"]}],
 *   "teams": [{"name": "care-en", "webhook": "http://..."}],
 *   "sla_policies": [{"name": "social", "first_response_minutes": 60,
 *                     "resolution_hours": 24}],
 *   "routes": [{"name": "ja", "when": {"language": ["ja"]},
 *               "team": "care-ja", "priority": "p2", "sla": "standard"},
 *              {"name": "default", "team": "care-en", "priority": "p3",
 *               "sla": "standard"}]
 * }
 *
 * "when" may test language, category, channel, tier, urgency, sentiment
 * (each a list of accepted values) and public (true/false); the first
 * route whose tests all pass wins, and the last route must have no "when". */
#ifndef KJ_RULES_H
#define KJ_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kj_rules kj_rules_t;

/* Load and validate a rules file. NULL with a precise message in err. */
kj_rules_t *
kj_rules_load(const char *path, char *err, size_t err_size);

kj_rules_t *
kj_rules_parse(const char *json, size_t len, char *err, size_t err_size);

void
kj_rules_destroy(kj_rules_t **self_p);

/* The category whose keywords match folded text most often (ties: the
 * first in the file), or "other". *hits gets the match count. Keywords are
 * folded with kj_text_fold at load time. */
const char *
kj_rules_category(const kj_rules_t *self, const char *folded, int *hits);

/* The first urgency level (in file order) with a keyword in folded text,
 * or "normal". */
const char *
kj_rules_urgency(const kj_rules_t *self, const char *folded, int *hits);

/* The operator category a model label maps to, or NULL if unmapped. */
const char *
kj_rules_map_label(const kj_rules_t *self, const char *model_label);

typedef struct {
    const char *language, *category, *channel, *tier, *urgency, *sentiment;
    bool is_public;
} kj_route_input_t;

typedef struct {
    const char *rule;     /* the route's name */
    const char *team;
    const char *priority; /* p1..p4 */
    const char *sla;
    const char *webhook;  /* the team's webhook, NULL if none */
    int64_t first_response_ms;
    int64_t resolution_ms;
} kj_route_t;

/* Route a triaged complaint. Always matches (the catch-all is last).
 * Strings in out are borrowed from the rules. */
void
kj_rules_route(const kj_rules_t *self, const kj_route_input_t *in,
               kj_route_t *out);

/* How many routes the file has. With kj_rules_route_at, lets a service
 * list everything routing can produce (team webhooks, team x priority
 * metric series) before any complaint arrives. */
size_t
kj_rules_n_routes(const kj_rules_t *self);

/* Route i (< kj_rules_n_routes) in file order, as kj_rules_route would
 * return it. Strings are borrowed from the rules. */
void
kj_rules_route_at(const kj_rules_t *self, size_t i, kj_route_t *out);

#endif
