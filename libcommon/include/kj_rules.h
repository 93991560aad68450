/* kj_rules: the operator's rules file (KUJO_RULES, JSON; deploy/rules.json
 * is the default). The classifier reads categories and urgency keywords
 * from it, the router reads teams, SLA policies and routes. This module
 * parses and validates; the matching is done by the services that own it
 * (classifier_keywords, router_rules). Parsing is strict: unknown keys,
 * wrong types, dangling references and a missing catch-all route are
 * errors with the JSON path and line.
 *
 * {
 *   "version": 1,
 *   "categories": [{"name": "billing", "keywords": ["refund", "返金"]}],
 *   "model_labels": {"Late Flight": "delay"},
 *   "urgency": [{"level": "critical", "keywords": ["lawsuit", "訴訟"]}],
 *   "business_hours": [{"name": "tokyo", "timezone": "Asia/Tokyo",
 *                       "week": {"mon": ["09:00-18:00"], ...},
 *                       "holidays": ["2027-01-01"]}],
 *   "teams": [{"name": "care-ja", "webhook": "http://...",
 *              "webhook_format": "kujo",
 *              "hours": "tokyo", "escalation": ["lead-ja", "manager"]}],
 *   "sla_policies": [{"name": "social", "first_response_minutes": 60,
 *                     "resolution_hours": 24, "ack_minutes": 5,
 *                     "next_response_minutes": 60, "hours": "24/7"}],
 *   "routes": [{"name": "ja", "when": {"language": ["ja"]},
 *               "team": "care-ja", "priority": "p2", "sla": "standard"},
 *              {"name": "default", "team": "care-en", "priority": "p3",
 *               "sla": "standard"}],
 *   "cases": {"reopen_days": 7, "close_days": 3, "offline_requeue": true,
 *             "survey_cooldown_days": 30, "trajectory": 10,
 *             "tone_drop": 0.5}
 * }
 *
 * "when" may test language, category, channel, tier, urgency, sentiment
 * (each a list of accepted values) and public (true/false); the first
 * route whose tests all pass wins, and the last route must have no "when".
 *
 * A team's "webhook_format" (issue 18, optional, only with its own
 * "webhook") says what body the webhook expects: "kujo" (the signed
 * team_alert JSON) or "slack" (a Slack incoming webhook: Block Kit).
 * Without it, a webhook under https://hooks.slack.com/ is "slack" and any
 * other "kujo"; teams that share a webhook must agree on its format.
 *
 * For the case lifecycle (issue 11): "business_hours" (optional, names
 * unique; see kj_hours.h for the object) are calendars that SLA clocks
 * count in. A team may name its calendar in "hours" (none: 24/7) and list
 * up to 8 agent ids to escalate to, team lead first, in "escalation". A
 * policy's "ack_minutes" (default 5) is the automatic acknowledgement
 * clock, "next_response_minutes" (default: first_response_minutes) the
 * clock for each later reply, and "hours" says what its clocks count:
 * "team" (the default: the routed team's calendar), "24/7", or a
 * business_hours name. "cases" (optional, each key too) holds the
 * lifecycle's settings: reopen_days, close_days and survey_cooldown_days
 * (integers 0..3650), offline_requeue (boolean), trajectory (1..100) and
 * tone_drop (a number in (0, 2]).
 *
 * The care playbook (issue 11, see kj_playbook.h for choosing and
 * rendering): "templates" (optional) lists reply texts, each
 *   {"name": "ack_public_ja", "kind": "customer_ack", "language": "ja",
 *    "when": {"public": true, "sentiment": ["negative"],
 *             "channel": ["x"], "category": [...], "urgency": [...],
 *             "actionable": true},
 *    "text": "... {{case_number}} ...",
 *    "alternatives": ["a refund", "a replacement"]}
 * with a unique name, a kind (customer_ack, suggested_reply,
 * survey_request, follow_up, sla_warning, escalation), a short language
 * tag ("ja", "en", "pt-BR"), an optional "when" (each key optional, but
 * not none), a text of 1..2000 bytes whose only {{variables}} are
 * customer_name, case_number, agent_name, team, survey_url,
 * alternative_1 and alternative_2, and "alternatives" (exactly two
 * strings) if and only if the text uses alternative_1 or alternative_2.
 * "playbook" (optional, each key too) holds survey_url (http or https,
 * default none), vague_max_chars (0..1000, default 25) and
 * abusive_words (keywords folded and matched like categories', default
 * none). */
#ifndef KJ_RULES_H
#define KJ_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kj_hours.h"

typedef struct kj_rules kj_rules_t;

/* Load and validate a rules file. NULL with a precise message in err. */
kj_rules_t *
kj_rules_load(const char *path, char *err, size_t err_size);

kj_rules_t *
kj_rules_parse(const char *json, size_t len, char *err, size_t err_size);

void
kj_rules_destroy(kj_rules_t **self_p);

/* ---- read-only views of the parsed file ----------------------------
 * The decisions made with this data live with their owners: keyword
 * matching in the classifier (classifier_keywords), routing in the router
 * (router_rules). Everything returned is borrowed from the rules and
 * stays valid until kj_rules_destroy. */

/* A keyword, folded with kj_text_fold at load. An edge that is an ASCII
 * letter or digit needs a word boundary in the text ("down" must not
 * match inside "download"); any other edge (Japanese) matches anywhere. */
typedef struct {
    char *text;
    size_t len; /* bytes in text */
    bool edge_start;
    bool edge_end;
} kj_rules_keyword_t;

/* A named keyword set: a category or an urgency level. */
typedef struct {
    char *name;
    kj_rules_keyword_t *kws;
    size_t n_kws;
} kj_rules_kwset_t;

/* A model label and the operator category it maps to ("other" allowed). */
typedef struct {
    char *label;
    char *category;
} kj_rules_label_t;

/* The categories in file order (file order breaks ties); *n their count. */
const kj_rules_kwset_t *
kj_rules_categories(const kj_rules_t *self, size_t *n);

/* The urgency levels in file order (the first that matches wins). */
const kj_rules_kwset_t *
kj_rules_urgency_levels(const kj_rules_t *self, size_t *n);

/* The model_labels map in file order. */
const kj_rules_label_t *
kj_rules_labels(const kj_rules_t *self, size_t *n);

/* The fields a route's "when" can test against a list of values, in the
 * order of kj_route_t.when. */
enum {
    KJ_ROUTE_LANGUAGE,
    KJ_ROUTE_CATEGORY,
    KJ_ROUTE_CHANNEL,
    KJ_ROUTE_TIER,
    KJ_ROUTE_URGENCY,
    KJ_ROUTE_SENTIMENT,
    KJ_ROUTE_FIELDS
};

typedef struct {
    bool present;            /* the route tests this field */
    const char *const *vals; /* accepted values */
    size_t n;
} kj_route_test_t;

/* The body a webhook expects (values only ever appended). */
typedef enum {
    KJ_WEBHOOK_KUJO,  /* the signed team_alert JSON (docs/ARCHITECTURE.md) */
    KJ_WEBHOOK_SLACK, /* a Slack incoming webhook: Block Kit */
} kj_webhook_format_t;

/* "kujo" or "slack", as written in the rules. */
const char *
kj_webhook_format_name(kj_webhook_format_t format);

/* The format a URL implies by itself: slack under https://hooks.slack.com/,
 * else kujo (NULL: kujo). */
kj_webhook_format_t
kj_webhook_format_guess(const char *url);

/* The format of webhook url: that of the teams in self whose webhook it
 * is, else kj_webhook_format_guess(url). self may be NULL (no rules). */
kj_webhook_format_t
kj_rules_webhook_format(const kj_rules_t *self, const char *url);

/* One route with its team and SLA policy resolved. */
typedef struct {
    const char *rule; /* the route's name */
    const char *team;
    const char *priority; /* p1..p4 */
    const char *sla;
    const char *webhook;                /* the team's webhook, NULL if none */
    kj_webhook_format_t webhook_format; /* what that webhook expects */
    int64_t first_response_ms;
    int64_t resolution_ms;
    int64_t ack_ms;           /* automatic acknowledgement clock */
    int64_t next_response_ms; /* clock for each reply after the first */
    /* What the clocks count: the policy's named calendar, the team's
     * when the policy says "team", NULL for 24/7. */
    const kj_hours_t *hours;
    kj_route_test_t when[KJ_ROUTE_FIELDS];
    int public_test; /* -1: not tested, else the required is_public */
} kj_route_t;

/* How many routes the file has (at least one: the last is the catch-all
 * with no tests). With kj_rules_route_at, lets a service list everything
 * routing can produce (team webhooks, team x priority metric series)
 * before any complaint arrives. */
size_t
kj_rules_n_routes(const kj_rules_t *self);

/* Route i (< kj_rules_n_routes) in file order. */
void
kj_rules_route_at(const kj_rules_t *self, size_t i, kj_route_t *out);

/* The team's business hours; NULL if it has none (24/7) or the team is
 * unknown. */
const kj_hours_t *
kj_rules_team_hours(const kj_rules_t *self, const char *team);

/* The team's escalation chain (agent ids, team lead first); NULL with
 * *n = 0 if it has none or the team is unknown. */
const char *const *
kj_rules_team_escalation(const kj_rules_t *self, const char *team, size_t *n);

/* The "cases" section, with the defaults for what the file leaves out. */
typedef struct {
    int64_t reopen_ms;          /* a resolved case reopens within this */
    int64_t close_ms;           /* resolved -> closed after this */
    int64_t survey_cooldown_ms; /* at most one survey per customer in this */
    bool offline_requeue;       /* requeue an offline agent's cases */
    int trajectory;             /* messages in the tone trajectory */
    double tone_drop;           /* a tone drop this large escalates */
} kj_rules_cases_t;

const kj_rules_cases_t *
kj_rules_cases(const kj_rules_t *self);

/* How many business_hours calendars the file has. */
size_t
kj_rules_n_business_hours(const kj_rules_t *self);

/* The business_hours calendar by name, NULL if none. */
const kj_hours_t *
kj_rules_business_hours(const kj_rules_t *self, const char *name);

/* The webhook of the channel connector that reaches customers on channel
 * (the "connectors" section), or NULL. Borrowed, valid until
 * kj_rules_destroy. */
const char *
kj_rules_connector(const kj_rules_t *self, const char *channel);

/* ---- the care playbook (kj_playbook.h chooses and renders) ---------- */

/* The "when" fields of a template that test a value against a list. */
enum {
    KJ_TEMPLATE_CHANNEL,
    KJ_TEMPLATE_SENTIMENT,
    KJ_TEMPLATE_CATEGORY,
    KJ_TEMPLATE_URGENCY,
    KJ_TEMPLATE_FIELDS
};

/* One list test of a template's "when". */
typedef struct {
    bool present; /* the template tests this field */
    char **vals;  /* accepted values */
    size_t n;
} kj_rules_list_t;

/* One template as parsed (strings owned by the rules). */
typedef struct {
    char *name;
    char *kind;     /* customer_ack, suggested_reply, survey_request, ... */
    char *language; /* "ja", "en", ... */
    kj_rules_list_t when[KJ_TEMPLATE_FIELDS];
    int public_test;     /* -1: not tested, else the required is_public */
    int actionable_test; /* -1: not tested, else the required actionable */
    char *text;          /* validated: only known {{variables}} */
    size_t text_len;
    char *alternatives[2]; /* both NULL unless the text uses them */
} kj_rules_template_t;

/* The "playbook" section, with the defaults for what the file leaves
 * out. */
typedef struct {
    char *survey_url;    /* NULL: none configured */
    int vague_max_chars; /* shorter (in code points) can be vague */
    kj_rules_keyword_t *abusive_words; /* folded like category keywords */
    size_t n_abusive_words;
} kj_rules_playbook_t;

/* The templates in file order (order decides which matches first); *n
 * their count (0 if the file has none). */
const kj_rules_template_t *
kj_rules_templates(const kj_rules_t *self, size_t *n);

/* The "playbook" section, defaults filled in. */
const kj_rules_playbook_t *
kj_rules_playbook(const kj_rules_t *self);

#endif
