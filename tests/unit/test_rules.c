/* kj_rules: strict parsing with precise errors; over the parsed rules, the
 * classifier's keyword matching on folded text and label mapping
 * (classifier_keywords) and the router's routing (router_rules), also over
 * the shipped deploy/rules.json. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classifier_keywords.h"
#include "kj_rules.h"
#include "kj_text.h"
#include "router_rules.h"

#define KJ_RULES_PATH KJ_SOURCE_DIR "/deploy/rules.json"

/* The text as the classifier hands it over: folded. */
static const char *
s_fold(const char *text)
{
    static char buf[4096];
    long n = kj_text_fold(text, strlen(text), buf, sizeof buf);
    cr_assert(n >= 0);
    return buf;
}

/* The rules' category / urgency for a folded text, as classifier_triage
 * gets them: one pass of the rules' keyword table, then the verdict. */
static const char *
s_verdict(const kj_rules_t *r, const char *folded, int *hits, bool urgency)
{
    classifier_keywords_t *kw = classifier_keywords_from_rules(r);
    int counts[256] = {0};
    cr_assert(classifier_keywords_classes(kw) <= 256);
    classifier_keywords_match(kw, folded, strlen(folded), counts);
    classifier_keywords_destroy(&kw);
    return urgency ? classifier_keywords_urgency(r, counts, hits)
                   : classifier_keywords_category(r, counts, hits);
}

static const char *
s_category(const kj_rules_t *r, const char *folded, int *hits)
{
    return s_verdict(r, folded, hits, false);
}

static const char *
s_urgency(const kj_rules_t *r, const char *folded, int *hits)
{
    return s_verdict(r, folded, hits, true);
}

static kj_rules_t *
s_parse(const char *json)
{
    char err[512];
    kj_rules_t *r = kj_rules_parse(json, strlen(json), err, sizeof err);
    cr_assert(not(zero(ptr, r)), "unexpected error: %s", err);
    return r;
}

Test(rules, usage_example)
{
    const char *json =
        "{\"version\": 1,"
        " \"categories\": [{\"name\": \"billing\","
        "                   \"keywords\": [\"refund\", \"返金\"]}],"
        " \"urgency\": [{\"level\": \"high\", \"keywords\": [\"urgent\"]}],"
        " \"teams\": [{\"name\": \"care-en\"}, {\"name\": \"care-ja\","
        "             \"webhook\": \"https://hooks.example/ja\"}],"
        " \"sla_policies\": [{\"name\": \"standard\","
        "   \"first_response_minutes\": 240, \"resolution_hours\": 48}],"
        " \"routes\": ["
        "   {\"name\": \"ja\", \"when\": {\"language\": [\"ja\"]},"
        "    \"team\": \"care-ja\", \"priority\": \"p2\", \"sla\": "
        "\"standard\"},"
        "   {\"name\": \"default\", \"team\": \"care-en\", \"priority\": "
        "\"p3\","
        "    \"sla\": \"standard\"}]}";
    char err[256];
    kj_rules_t *rules = kj_rules_parse(json, strlen(json), err, sizeof err);
    cr_assert(not(zero(ptr, rules)), "%s", err);

    int hits = 0;
    const char *folded = s_fold("URGENT: I want a REFUND");
    cr_assert(eq(str, (char *)s_category(rules, folded, &hits), "billing"));
    cr_assert(eq(int, hits, 1));
    cr_assert(eq(str, (char *)s_urgency(rules, folded, &hits), "high"));

    router_rules_input_t in = {.language = "ja", .category = "billing"};
    kj_route_t route;
    router_rules_route(rules, &in, &route);
    cr_assert(eq(str, (char *)route.rule, "ja"));
    cr_assert(eq(str, (char *)route.team, "care-ja"));
    cr_assert(eq(str, (char *)route.priority, "p2"));
    cr_assert(eq(str, (char *)route.webhook, "https://hooks.example/ja"));
    cr_assert(eq(i64, route.first_response_ms, 240 * 60 * 1000));
    cr_assert(eq(i64, route.resolution_ms, 48LL * 3600 * 1000));
    kj_rules_destroy(&rules);
    cr_assert(zero(ptr, rules));
    kj_rules_destroy(&rules); /* safe on NULL */
}

/* ---- invalid documents, each with the exact message it must give ---- */

#define HEAD "{\"version\":1,"
#define CATS                                                                   \
    "\"categories\":[{\"name\":\"billing\",\"keywords\":[\"refund\"]}],"
#define TEAMS "\"teams\":[{\"name\":\"care-en\"}],"
#define SLAS                                                                   \
    "\"sla_policies\":[{\"name\":\"std\",\"first_response_minutes\":60,"       \
    "\"resolution_hours\":24}],"
#define DEFAULT_ROUTE                                                          \
    "{\"name\":\"default\",\"team\":\"care-en\",\"priority\":\"p3\","          \
    "\"sla\":\"std\"}"
#define ROUTES_ONLY_DEFAULT "\"routes\":[" DEFAULT_ROUTE "]}"
/* A minimal document with a "connectors" section. */
#define WITH_CONNECTORS(c)                                                     \
    HEAD CATS "\"connectors\":" c "," TEAMS SLAS ROUTES_ONLY_DEFAULT
/* A minimal document with its own "teams" (care-en must be there). */
#define WITH_TEAMS(t) HEAD CATS "\"teams\":" t "," SLAS ROUTES_ONLY_DEFAULT
/* A document with one route before the default. */
#define WITH_ROUTE(r)                                                          \
    HEAD CATS TEAMS SLAS "\"routes\":[" r "," DEFAULT_ROUTE "]}"
#define ROUTE_WHEN(w)                                                          \
    WITH_ROUTE("{\"name\":\"r\",\"when\":" w ",\"team\":\"care-en\","          \
               "\"priority\":\"p2\",\"sla\":\"std\"}")

/* business_hours, a team, an SLA policy or cases under test (issue 11). */
#define TOKYO_BH                                                               \
    "{\"name\":\"tokyo\",\"timezone\":\"Asia/Tokyo\","                         \
    "\"week\":{\"mon\":[\"09:00-18:00\"]}}"
#define WITH_BH(b)                                                             \
    HEAD CATS "\"business_hours\":[" b "]," TEAMS SLAS ROUTES_ONLY_DEFAULT
#define WITH_TEAM(t)                                                           \
    HEAD CATS "\"business_hours\":[" TOKYO_BH "],\"teams\":[" t                \
              "]," SLAS ROUTES_ONLY_DEFAULT
#define WITH_ESCALATION(e)                                                     \
    WITH_TEAM("{\"name\":\"care-en\",\"escalation\":" e "}")
#define WITH_SLA(x)                                                            \
    HEAD CATS "\"business_hours\":[" TOKYO_BH "]," TEAMS                       \
              "\"sla_policies\":[{\"name\":\"std\","                           \
              "\"first_response_minutes\":60,\"resolution_hours\":24," x       \
              "}]," ROUTES_ONLY_DEFAULT
#define WITH_CASES(x)                                                          \
    HEAD CATS TEAMS SLAS "\"cases\":" x "," ROUTES_ONLY_DEFAULT
/* Templates and the playbook section (issue 11's care playbook). */
#define WITH_TEMPLATES(t)                                                      \
    HEAD CATS TEAMS SLAS "\"templates\":[" t "]," ROUTES_ONLY_DEFAULT
#define TEMPLATE(rest)                                                         \
    WITH_TEMPLATES("{\"name\":\"a\",\"kind\":\"follow_up\","                   \
                   "\"language\":\"en\"," rest "}")
#define TEXT(t) TEMPLATE("\"text\":\"" t "\"")
#define WHEN(w) TEMPLATE("\"text\":\"hi\",\"when\":" w)
#define WITH_PLAYBOOK(p)                                                       \
    HEAD CATS TEAMS SLAS "\"playbook\":" p "," ROUTES_ONLY_DEFAULT

typedef struct {
    const char *json;
    const char *expect; /* a substring of the error */
} s_bad_t;

static const s_bad_t s_bad[] = {
    /* Syntax: jansson's message with line and column. */
    {"", "line 1 column 0: "},
    {"{\"version\":1,,}", "line 1 column 14: "},
    {"{\n  \"version\": 1,\n  \"teams\": [}\n}", "line 3 column"},
    {"{\"version\":1,\"version\":1}", "duplicate object key"},
    {"{\"version\":1} trailing", "end of file expected"},
    {"{\"version\":\"\xff\"}", "unable to decode byte"},
    {"{\"version\":1,\"teams\":[{\"name\":\"a\\u0000b\"}]}",
     "\\u0000 is not allowed"},
    /* Structure. */
    {"[]", "the rules file must be a JSON object"},
    {"{\"version\":2}", "version: expected 1"},
    {"{\"version\":\"1\"}", "version: expected 1"},
    {"{\"categories\":[]}", "missing key \"version\""},
    {HEAD "\"foo\":1}", "unknown key \"foo\""},
    {HEAD TEAMS SLAS ROUTES_ONLY_DEFAULT, "missing key \"categories\""},
    {HEAD CATS TEAMS SLAS "\"x\":1}", "unknown key \"x\""},
    {HEAD CATS TEAMS "\"sla_policies\":[{\"name\":\"std\","
                     "\"first_response_minutes\":60,\"resolution_hours\":1}]}",
     "missing key \"routes\""},
    {HEAD CATS SLAS ROUTES_ONLY_DEFAULT, "missing key \"teams\""},
    {HEAD CATS TEAMS ROUTES_ONLY_DEFAULT, "missing key \"sla_policies\""},
    /* categories and keywords. */
    {HEAD "\"categories\":{}," TEAMS SLAS ROUTES_ONLY_DEFAULT,
     "categories: expected an array"},
    {HEAD "\"categories\":[{\"name\":\"a\",\"keywords\":[]}]," TEAMS SLAS
         ROUTES_ONLY_DEFAULT,
     "categories[0].keywords: must not be empty"},
    {HEAD "\"categories\":[{\"name\":\"a\",\"keywords\":\"x\"}]," TEAMS SLAS
         ROUTES_ONLY_DEFAULT,
     "categories[0].keywords: expected an array of strings"},
    {HEAD "\"categories\":[{\"name\":\"a\",\"keywords\":[\"x\",1]}]," TEAMS SLAS
         ROUTES_ONLY_DEFAULT,
     "categories[0].keywords[1]: expected a string"},
    {HEAD "\"categories\":[{\"name\":\"a\",\"keywords\":[\"\"]}]," TEAMS SLAS
         ROUTES_ONLY_DEFAULT,
     "categories[0].keywords[0]: must not be empty"},
    {HEAD
     "\"categories\":[{\"name\":\"a\",\"keywords\":[\"\\u00ad\"]}]," TEAMS SLAS
         ROUTES_ONLY_DEFAULT,
     "categories[0].keywords[0]: is empty once folded"},
    {HEAD "\"categories\":[{\"name\":\"a\"}]," TEAMS SLAS ROUTES_ONLY_DEFAULT,
     "missing key \"keywords\" at categories[0]"},
    {HEAD "\"categories\":[{\"name\":\"\",\"keywords\":[\"x\"]}]," TEAMS SLAS
         ROUTES_ONLY_DEFAULT,
     "categories[0].name: must not be empty"},
    {HEAD
     "\"categories\":[{\"name\":\"a\",\"keywords\":[\"x\"]},"
     "{\"name\":\"a\",\"keywords\":[\"y\"]}]," TEAMS SLAS ROUTES_ONLY_DEFAULT,
     "categories[1].name: duplicate \"a\""},
    {HEAD
     "\"categories\":[{\"name\":\"a\",\"keywords\":[\"x\"],\"kw\":1}]," TEAMS
         SLAS ROUTES_ONLY_DEFAULT,
     "unknown key \"kw\" at categories[0]"},
    /* urgency and model_labels. */
    {HEAD CATS
     "\"urgency\":[{\"level\":\"normal\",\"keywords\":[\"x\"]}]," TEAMS SLAS
         ROUTES_ONLY_DEFAULT,
     "urgency[0].level: \"normal\" is reserved"},
    {HEAD CATS
     "\"urgency\":[{\"name\":\"high\",\"keywords\":[\"x\"]}]," TEAMS SLAS
         ROUTES_ONLY_DEFAULT,
     "unknown key \"name\" at urgency[0]"},
    {HEAD CATS "\"urgency\":[{\"level\":\"very-very-urgent\","
               "\"keywords\":[\"x\"]}]," TEAMS SLAS ROUTES_ONLY_DEFAULT,
     "urgency[0].level: longer than 15 bytes"},
    {HEAD CATS "\"model_labels\":{\"Late Flight\":\"delay\"}," TEAMS SLAS
         ROUTES_ONLY_DEFAULT,
     "model_labels[\"Late Flight\"]: unknown category \"delay\""},
    {HEAD CATS "\"model_labels\":{\"x\":1}," TEAMS SLAS ROUTES_ONLY_DEFAULT,
     "model_labels.x: expected a category name"},
    {HEAD CATS "\"model_labels\":[]," TEAMS SLAS ROUTES_ONLY_DEFAULT,
     "model_labels: expected an object"},
    /* teams. */
    {HEAD CATS "\"teams\":[]," SLAS ROUTES_ONLY_DEFAULT,
     "teams: must not be empty"},
    {HEAD CATS "\"teams\":[{\"name\":\"\"}]," SLAS ROUTES_ONLY_DEFAULT,
     "teams[0].name: must not be empty"},
    {HEAD CATS "\"teams\":[{\"name\":"
               "\"0123456789012345678901234567890123456789012345678901234567890"
               "123\"}]," SLAS ROUTES_ONLY_DEFAULT,
     "teams[0].name: longer than 63 bytes"},
    {HEAD CATS "\"teams\":[{\"name\":7}]," SLAS ROUTES_ONLY_DEFAULT,
     "teams[0].name: expected a string"},
    {HEAD CATS "\"teams\":[{\"name\":\"care-en\"},{\"name\":\"care-en\"}]," SLAS
         ROUTES_ONLY_DEFAULT,
     "teams[1].name: duplicate \"care-en\""},
    {HEAD CATS
     "\"teams\":[{\"name\":\"care-en\",\"webhook\":\"ftp://x\"}]," SLAS
         ROUTES_ONLY_DEFAULT,
     "teams[0].webhook: must start with http:// or https://"},
    {HEAD CATS "\"teams\":[{\"name\":\"care-en\",\"url\":\"http://x\"}]," SLAS
         ROUTES_ONLY_DEFAULT,
     "unknown key \"url\" at teams[0]"},
    /* sla_policies. */
    {HEAD CATS TEAMS "\"sla_policies\":[{\"name\":\"std\","
                     "\"first_response_minutes\":0,\"resolution_hours\":24}]"
                     "," ROUTES_ONLY_DEFAULT,
     "sla_policies[0].first_response_minutes: expected a positive integer"},
    {HEAD CATS TEAMS "\"sla_policies\":[{\"name\":\"std\","
                     "\"first_response_minutes\":-5,\"resolution_hours\":24}]"
                     "," ROUTES_ONLY_DEFAULT,
     "sla_policies[0].first_response_minutes: expected a positive integer"},
    {HEAD CATS TEAMS "\"sla_policies\":[{\"name\":\"std\","
                     "\"first_response_minutes\":60,\"resolution_hours\":1.5}]"
                     "," ROUTES_ONLY_DEFAULT,
     "sla_policies[0].resolution_hours: expected a positive integer"},
    {HEAD CATS TEAMS "\"sla_policies\":[{\"name\":\"std\","
                     "\"first_response_minutes\":60,"
                     "\"resolution_hours\":\"24\"}]," ROUTES_ONLY_DEFAULT,
     "sla_policies[0].resolution_hours: expected a positive integer"},
    {HEAD CATS TEAMS "\"sla_policies\":[{\"name\":\"std\","
                     "\"first_response_minutes\":60,"
                     "\"resolution_hours\":99999999}]," ROUTES_ONLY_DEFAULT,
     "sla_policies[0].resolution_hours: at most 8784"},
    {HEAD CATS TEAMS "\"sla_policies\":[{\"name\":\"std\","
                     "\"first_response_minutes\":60}]," ROUTES_ONLY_DEFAULT,
     "missing key \"resolution_hours\" at sla_policies[0]"},
    /* routes. */
    {HEAD CATS TEAMS SLAS "\"routes\":[]}", "routes: must not be empty"},
    {HEAD CATS TEAMS SLAS "\"routes\":{}}", "routes: expected an array"},
    {WITH_ROUTE("{\"name\":\"r\",\"when\":{\"tier\":[\"gold\"]},"
                "\"team\":\"x\",\"priority\":\"p2\",\"sla\":\"std\"}"),
     "routes[0].team: unknown team \"x\""},
    {WITH_ROUTE("{\"name\":\"r\",\"when\":{\"tier\":[\"gold\"]},"
                "\"team\":\"care-en\",\"priority\":\"p5\",\"sla\":\"std\"}"),
     "routes[0].priority: expected \"p1\", \"p2\", \"p3\" or \"p4\""},
    {WITH_ROUTE("{\"name\":\"r\",\"when\":{\"tier\":[\"gold\"]},"
                "\"team\":\"care-en\",\"priority\":\"P1\",\"sla\":\"std\"}"),
     "routes[0].priority: expected \"p1\""},
    {WITH_ROUTE("{\"name\":\"r\",\"when\":{\"tier\":[\"gold\"]},"
                "\"team\":\"care-en\",\"priority\":\"p1\",\"sla\":\"fast\"}"),
     "routes[0].sla: unknown SLA policy \"fast\""},
    {WITH_ROUTE("{\"name\":\"r\",\"when\":{\"tier\":[\"gold\"]},"
                "\"team\":\"care-en\",\"priority\":\"p1\"}"),
     "missing key \"sla\" at routes[0]"},
    {WITH_ROUTE("{\"name\":\"r\",\"when\":{\"tier\":[\"gold\"]},"
                "\"team\":\"care-en\",\"priority\":\"p1\",\"sla\":\"std\","
                "\"foo\":1}"),
     "unknown key \"foo\" at routes[0]"},
    {HEAD CATS TEAMS SLAS "\"routes\":[{\"name\":\"r\",\"when\":{\"tier\":"
                          "[\"gold\"]},\"team\":\"care-en\",\"priority\":"
                          "\"p1\",\"sla\":\"std\"},"
                          "{\"name\":\"d2\",\"team\":\"care-en\",\"priority\":"
                          "\"p3\",\"sla\":\"std\",\"foo\":1}]}",
     "unknown key \"foo\" at routes[1]"},
    {WITH_ROUTE("{\"name\":\"default\",\"when\":{\"tier\":[\"gold\"]},"
                "\"team\":\"care-en\",\"priority\":\"p1\",\"sla\":\"std\"}"),
     "routes[1].name: duplicate \"default\""},
    {HEAD CATS TEAMS SLAS "\"routes\":[{\"name\":\"r\",\"when\":{\"tier\":"
                          "[\"gold\"]},\"team\":\"care-en\",\"priority\":"
                          "\"p1\",\"sla\":\"std\"}]}",
     "routes: the last route must have no \"when\" (it is the catch-all)"},
    {HEAD CATS TEAMS SLAS "\"routes\":[" DEFAULT_ROUTE "," DEFAULT_ROUTE "]}",
     "routes[0]: only the last route may omit \"when\""},
    {ROUTE_WHEN("{\"language\":\"ja\"}"),
     "routes[0].when.language: expected an array of strings"},
    {ROUTE_WHEN("{\"language\":[\"ja\",2]}"),
     "routes[0].when.language: expected an array of strings"},
    {ROUTE_WHEN("{\"language\":[]}"),
     "routes[0].when.language: must not be empty"},
    {ROUTE_WHEN("{\"tier\":[\"\"]}"),
     "routes[0].when.tier[0]: must not be empty"},
    {ROUTE_WHEN("{\"category\":[\"biling\"]}"),
     "routes[0].when.category[0]: unknown category \"biling\""},
    {ROUTE_WHEN("{\"urgency\":[\"urgent\"]}"),
     "routes[0].when.urgency[0]: unknown urgency \"urgent\""},
    {ROUTE_WHEN("{\"channel\":[\"x\",\"twitter\"]}"),
     "routes[0].when.channel[1]: unknown channel \"twitter\""},
    {ROUTE_WHEN("{\"sentiment\":[\"angry\"]}"),
     "routes[0].when.sentiment[0]: unknown sentiment \"angry\""},
    {ROUTE_WHEN("{\"public\":\"yes\"}"),
     "routes[0].when.public: expected true or false"},
    {ROUTE_WHEN("{}"), "routes[0].when: must test something"},
    {ROUTE_WHEN("[]"), "routes[0].when: expected an object"},
    {ROUTE_WHEN("{\"lang\":[\"ja\"]}"),
     "unknown key \"lang\" at routes[0].when"},
    /* business_hours: kj_hours' message under the entry's path. */
    {HEAD CATS "\"business_hours\":{}," TEAMS SLAS ROUTES_ONLY_DEFAULT,
     "business_hours: expected an array"},
    {WITH_BH("{\"name\":\"x\",\"timezone\":\"Mars/Base\","
             "\"week\":{\"mon\":[\"09:00-18:00\"]}}"),
     "business_hours[0].timezone: unknown time zone \"Mars/Base\""},
    {WITH_BH(TOKYO_BH ",{\"name\":\"ny\",\"timezone\":\"America/New_York\","
                      "\"week\":{\"mon\":[\"09:00-25:00\"]}}"),
     "business_hours[1].week.mon[0]: bad time \"25:00\" in \"09:00-25:00\""},
    {WITH_BH("{\"name\":\"x\",\"timezone\":\"UTC\",\"week\":{\"mon\":["
             "\"09:00-12:00\",\"11:00-13:00\"]}}"),
     "business_hours[0].week.mon[1]: \"11:00-13:00\" overlaps"},
    {WITH_BH("{\"name\":\"x\",\"timezone\":\"UTC\",\"week\":{\"mo\":["
             "\"09:00-12:00\"]}}"),
     "business_hours[0].week: unknown day \"mo\""},
    {WITH_BH("{\"name\":\"x\",\"timezone\":\"UTC\",\"week\":{}}"),
     "business_hours[0].week: no open time on any day"},
    {WITH_BH("{\"name\":\"x\",\"timezone\":\"UTC\",\"week\":{\"mon\":["
             "\"09:00-12:00\"]},\"holidays\":[\"2027-13-01\"]}"),
     "business_hours[0].holidays[0]: bad date \"2027-13-01\""},
    {WITH_BH("{\"name\":\"x\",\"timezone\":\"UTC\",\"week\":{\"mon\":["
             "\"09:00-12:00\"]},\"tz\":1}"),
     "unknown key \"tz\" at business_hours[0]"},
    {WITH_BH("{\"name\":\"x\",\"week\":{\"mon\":[\"09:00-12:00\"]}}"),
     "missing key \"timezone\" at business_hours[0]"},
    {WITH_BH("7"), "business_hours[0]: expected an object"},
    {WITH_BH(TOKYO_BH "," TOKYO_BH),
     "business_hours[1].name: duplicate \"tokyo\""},
    {WITH_BH("{\"name\":\"24/7\",\"timezone\":\"UTC\","
             "\"week\":{\"mon\":[\"09:00-12:00\"]}}"),
     "business_hours[0].name: \"24/7\" is reserved"},
    /* teams: hours and escalation. */
    {WITH_TEAM("{\"name\":\"care-en\",\"hours\":\"paris\"}"),
     "teams[0].hours: unknown business_hours \"paris\""},
    {HEAD CATS "\"teams\":[{\"name\":\"care-en\",\"hours\":\"tokyo\"}]," SLAS
         ROUTES_ONLY_DEFAULT,
     "teams[0].hours: unknown business_hours \"tokyo\""},
    {WITH_TEAM("{\"name\":\"care-en\",\"hours\":[\"tokyo\"]}"),
     "teams[0].hours: expected a business_hours name"},
    {WITH_ESCALATION("\"lead-en\""),
     "teams[0].escalation: expected an array of agent ids"},
    {WITH_ESCALATION("[]"), "teams[0].escalation: must not be empty"},
    {WITH_ESCALATION("[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]"),
     "teams[0].escalation: more than 8 agents"},
    {WITH_ESCALATION("[\"lead-en\",7]"),
     "teams[0].escalation[1]: expected a string"},
    {WITH_ESCALATION("[\"\"]"), "teams[0].escalation[0]: must not be empty"},
    {WITH_ESCALATION("[\"lead-en\",\"lead-en\"]"),
     "teams[0].escalation[1]: duplicate \"lead-en\""},
    /* sla_policies: ack, next response, hours. */
    {WITH_SLA("\"ack_minutes\":0"),
     "sla_policies[0].ack_minutes: expected a positive integer"},
    {WITH_SLA("\"ack_minutes\":600000"),
     "sla_policies[0].ack_minutes: at most 527040"},
    {WITH_SLA("\"next_response_minutes\":\"60\""),
     "sla_policies[0].next_response_minutes: expected a positive integer"},
    {WITH_SLA("\"hours\":\"paris\""),
     "sla_policies[0].hours: unknown business_hours \"paris\" (or \"team\", "
     "\"24/7\")"},
    {WITH_SLA("\"hours\":24"),
     "sla_policies[0].hours: expected \"team\", \"24/7\" or a business_hours "
     "name"},
    {WITH_SLA("\"ack\":5"), "unknown key \"ack\" at sla_policies[0]"},
    /* cases. */
    {WITH_CASES("[]"), "cases: expected an object"},
    {WITH_CASES("{\"reopen\":7}"), "unknown key \"reopen\" at cases"},
    {WITH_CASES("{\"reopen_days\":-1}"),
     "cases.reopen_days: expected a non-negative integer of days"},
    {WITH_CASES("{\"close_days\":1.5}"),
     "cases.close_days: expected a non-negative integer of days"},
    {WITH_CASES("{\"survey_cooldown_days\":4000}"),
     "cases.survey_cooldown_days: at most 3650"},
    {WITH_CASES("{\"offline_requeue\":1}"),
     "cases.offline_requeue: expected true or false"},
    {WITH_CASES("{\"trajectory\":0}"),
     "cases.trajectory: expected an integer from 1 to 100"},
    {WITH_CASES("{\"trajectory\":101}"),
     "cases.trajectory: expected an integer from 1 to 100"},
    {WITH_CASES("{\"trajectory\":\"10\"}"),
     "cases.trajectory: expected an integer from 1 to 100"},
    {WITH_CASES("{\"tone_drop\":0}"),
     "cases.tone_drop: expected a number in (0, 2]"},
    {WITH_CASES("{\"tone_drop\":2.01}"),
     "cases.tone_drop: expected a number in (0, 2]"},
    {WITH_CASES("{\"tone_drop\":\"0.5\"}"),
     "cases.tone_drop: expected a number in (0, 2]"},
    /* connectors. */
    {WITH_CONNECTORS("[]"),
     "connectors: expected an object of channel -> webhook URL"},
    {WITH_CONNECTORS("{\"fax\":\"http://x\"}"),
     "connectors.fax: unknown channel \"fax\""},
    {WITH_CONNECTORS("{\"email\":\"ftp://x\"}"),
     "connectors.email: must start with http:// or https://"},
    {WITH_CONNECTORS("{\"email\":\"http://a b\"}"),
     "connectors.email: must not contain spaces"},
    {WITH_CONNECTORS("{\"x\":7}"), "connectors.x: expected a string"},
    {WITH_CONNECTORS("{\"x\":\"\"}"), "connectors.x: must not be empty"},
    /* teams' webhook_format (issue 18). */
    {WITH_TEAMS("[{\"name\":\"care-en\",\"webhook\":\"http://a/\","
                "\"webhook_format\":7}]"),
     "teams[0].webhook_format: expected \"kujo\" or \"slack\""},
    {WITH_TEAMS("[{\"name\":\"care-en\",\"webhook\":\"http://a/\","
                "\"webhook_format\":\"teams\"}]"),
     "teams[0].webhook_format: unknown format \"teams\" (expected \"kujo\" "
     "or \"slack\")"},
    {WITH_TEAMS("[{\"name\":\"care-en\",\"webhook_format\":\"slack\"}]"),
     "teams[0].webhook_format: needs a \"webhook\" in the same team"},
    {WITH_TEAMS("[{\"name\":\"care-en\",\"webhook\":\"http://a/\"},"
                "{\"name\":\"care-ja\",\"webhook\":\"http://a/\","
                "\"webhook_format\":\"slack\"}]"),
     "teams[1].webhook_format: \"slack\" but team \"care-en\" sends the same "
     "webhook \"kujo\""},
    {WITH_TEAMS("[{\"name\":\"care-en\",\"webhook_fromat\":\"slack\"}]"),
     "unknown key \"webhook_fromat\""},
    /* templates: the text's variables. */
    {WITH_TEMPLATES("{}"), "missing key \"name\" at templates[0]"},
    {WITH_TEMPLATES("7"), "templates[0]: expected an object"},
    {HEAD CATS TEAMS SLAS "\"templates\":{}," ROUTES_ONLY_DEFAULT,
     "templates: expected an array"},
    {TEMPLATE("\"txt\":\"hi\""), "unknown key \"txt\" at templates[0]"},
    {TEMPLATE("\"when\":{}"), "missing key \"text\" at templates[0]"},
    {TEXT("Dear {{name}}"),
     "templates[0].text: unknown variable \"{{name}}\" (known: "
     "customer_name, case_number, agent_name, team, survey_url, "
     "alternative_1, alternative_2)"},
    {TEXT("Dear {{ customer_name }}"),
     "templates[0].text: unknown variable \"{{ customer_name }}\""},
    {TEXT("{{{customer_name}}"),
     "templates[0].text: unknown variable \"{{{customer_name}}\""},
    {TEXT("Dear {{customer_name}, thanks"),
     "templates[0].text: unclosed \"{{\" (a variable is written {{name}})"},
    {TEXT("Case {{case_number}} {{"), "templates[0].text: unclosed \"{{\""},
    {TEXT(""), "templates[0].text: must not be empty"},
    {TEXT("bell\\u0007"),
     "templates[0].text: must not contain control characters"},
    {TEXT("nul\\u0000"), "\\u0000 is not allowed"},
    {TEMPLATE("\"text\":7"), "templates[0].text: expected a string"},
    /* templates: alternatives. */
    {TEXT("{{alternative_1}} or {{alternative_2}}"),
     "missing key \"alternatives\" (the text uses {{alternative_1}} or "
     "{{alternative_2}}) at templates[0]"},
    {TEMPLATE("\"text\":\"{{alternative_2}}\",\"alternatives\":[\"a\"]"),
     "templates[0].alternatives: expected exactly two strings"},
    {TEMPLATE("\"text\":\"{{alternative_1}}\","
              "\"alternatives\":[\"a\",\"b\",\"c\"]"),
     "templates[0].alternatives: expected exactly two strings"},
    {TEMPLATE("\"text\":\"{{alternative_1}}\",\"alternatives\":\"a\""),
     "templates[0].alternatives: expected exactly two strings"},
    {TEMPLATE("\"text\":\"{{alternative_1}}\",\"alternatives\":[\"a\",7]"),
     "templates[0].alternatives[1]: expected a string"},
    {TEMPLATE("\"text\":\"{{alternative_1}}\",\"alternatives\":[\"\",\"b\"]"),
     "templates[0].alternatives[0]: must not be empty"},
    {TEMPLATE("\"text\":\"{{alternative_1}}\","
              "\"alternatives\":[\"a\",\"{{team}}\"]"),
     "templates[0].alternatives[1]: must not contain \"{{\""},
    {TEMPLATE("\"text\":\"hi\",\"alternatives\":[\"a\",\"b\"]"),
     "templates[0].alternatives: the text uses neither {{alternative_1}} "
     "nor {{alternative_2}}"},
    /* templates: name, kind, language. */
    {WITH_TEMPLATES("{\"name\":\"a\",\"kind\":\"apology\","
                    "\"language\":\"en\",\"text\":\"hi\"}"),
     "templates[0].kind: expected \"customer_ack\", \"suggested_reply\", "
     "\"survey_request\", \"follow_up\", \"sla_warning\" or "
     "\"escalation\""},
    {WITH_TEMPLATES("{\"name\":\"a\",\"kind\":1,"
                    "\"language\":\"en\",\"text\":\"hi\"}"),
     "templates[0].kind: expected \"customer_ack\""},
    {WITH_TEMPLATES("{\"name\":\"a\",\"kind\":\"follow_up\","
                    "\"language\":\"en\",\"text\":\"hi\"},"
                    "{\"name\":\"a\",\"kind\":\"escalation\","
                    "\"language\":\"ja\",\"text\":\"hi\"}"),
     "templates[1].name: duplicate \"a\""},
    {WITH_TEMPLATES("{\"name\":\"\",\"kind\":\"follow_up\","
                    "\"language\":\"en\",\"text\":\"hi\"}"),
     "templates[0].name: must not be empty"},
    {WITH_TEMPLATES("{\"name\":\"a\",\"kind\":\"follow_up\","
                    "\"language\":\"japanese!\",\"text\":\"hi\"}"),
     "templates[0].language: expected a language tag such as \"ja\" or "
     "\"en\""},
    {WITH_TEMPLATES("{\"name\":\"a\",\"kind\":\"follow_up\","
                    "\"language\":\"e\",\"text\":\"hi\"}"),
     "templates[0].language: expected a language tag"},
    /* templates: when. */
    {WHEN("[]"), "templates[0].when: expected an object"},
    {WHEN("{}"),
     "templates[0].when: must test something (leave \"when\" out to match "
     "always)"},
    {WHEN("{\"language\":[\"ja\"]}"),
     "unknown key \"language\" at templates[0].when"},
    {WHEN("{\"public\":\"yes\"}"),
     "templates[0].when.public: expected true or false"},
    {WHEN("{\"actionable\":1}"),
     "templates[0].when.actionable: expected true or false"},
    {WHEN("{\"category\":[\"nope\"]}"),
     "templates[0].when.category[0]: unknown category \"nope\""},
    {WHEN("{\"channel\":[\"x\",\"telegram\"]}"),
     "templates[0].when.channel[1]: unknown channel \"telegram\""},
    {WHEN("{\"sentiment\":[\"angry\"]}"),
     "templates[0].when.sentiment[0]: unknown sentiment \"angry\""},
    {WHEN("{\"urgency\":[\"high\"]}"),
     "templates[0].when.urgency[0]: unknown urgency \"high\""},
    {WHEN("{\"channel\":\"x\"}"),
     "templates[0].when.channel: expected an array of strings"},
    {WHEN("{\"category\":[]}"), "templates[0].when.category: must not be "
                                "empty"},
    /* playbook. */
    {WITH_PLAYBOOK("[]"), "playbook: expected an object"},
    {WITH_PLAYBOOK("{\"survey\":\"https://s\"}"),
     "unknown key \"survey\" at playbook"},
    {WITH_PLAYBOOK("{\"survey_url\":\"ftp://s.example\"}"),
     "playbook.survey_url: must start with http:// or https://"},
    {WITH_PLAYBOOK("{\"survey_url\":\"https://s.example/a b\"}"),
     "playbook.survey_url: must not contain spaces"},
    {WITH_PLAYBOOK("{\"vague_max_chars\":-1}"),
     "playbook.vague_max_chars: expected an integer from 0 to 1000"},
    {WITH_PLAYBOOK("{\"vague_max_chars\":1001}"),
     "playbook.vague_max_chars: expected an integer from 0 to 1000"},
    {WITH_PLAYBOOK("{\"abusive_words\":\"idiot\"}"),
     "playbook.abusive_words: expected an array of strings"},
    {WITH_PLAYBOOK("{\"abusive_words\":[\"idiot\",\"\"]}"),
     "playbook.abusive_words[1]: must not be empty"},
};

Test(rules, invalid_documents_give_precise_errors)
{
    for (size_t i = 0; i < sizeof s_bad / sizeof *s_bad; i++) {
        char err[512] = "untouched";
        kj_rules_t *r = kj_rules_parse(s_bad[i].json, strlen(s_bad[i].json),
                                       err, sizeof err);
        cr_expect(zero(ptr, r), "case %zu parsed: %s", i, s_bad[i].json);
        cr_expect(not(zero(ptr, strstr(err, s_bad[i].expect))),
                  "case %zu: want \"%s\" in \"%s\"", i, s_bad[i].expect, err);
        kj_rules_destroy(&r);
    }
}

Test(rules, validation_errors_carry_the_line)
{
    const char *json =
        "{\n"
        "  \"version\": 1,\n"
        "  \"categories\": [],\n"
        "  \"teams\": [{\"name\": \"care-en\"}],\n"
        "  \"sla_policies\": [{\"name\": \"std\",\n"
        "    \"first_response_minutes\": 60,\n"
        "    \"resolution_hours\": 24}],\n"
        "  \"routes\": [\n"
        "    {\"name\": \"a\", \"when\": {\"tier\": [\"gold\"]},\n"
        "     \"team\": \"care-en\", \"priority\": \"p1\",\n"
        "     \"sla\": \"std\"},\n"
        "    {\"name\": \"b\", \"when\": {\"tier\": [\"gold\"]},\n"
        "     \"team\": \"nobody\", \"priority\": \"p1\",\n"
        "     \"sla\": \"std\"},\n"
        "    {\"name\": \"default\", \"team\": \"care-en\",\n"
        "     \"priority\": \"p3\", \"sla\": \"std\"}]}\n";
    char err[256];
    cr_assert(zero(ptr, kj_rules_parse(json, strlen(json), err, sizeof err)));
    cr_assert(eq(str, err, "line 13: routes[1].team: unknown team \"nobody\""));
}

Test(rules, load_reports_the_path_and_bad_files)
{
    char err[512];
    cr_assert(
        zero(ptr, kj_rules_load("/nonexistent/rules.json", err, sizeof err)));
    cr_assert(not(zero(ptr, strstr(err, "/nonexistent/rules.json: cannot "
                                        "open"))),
              "%s", err);

    char path[] = "/tmp/kj_rules_test_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    const char *bad = "{\"version\": 1,\n\"teams\": [}";
    cr_assert(eq(long, (long)write(fd, bad, strlen(bad)), (long)strlen(bad)));
    close(fd);
    cr_assert(zero(ptr, kj_rules_load(path, err, sizeof err)));
    cr_assert(not(zero(ptr, strstr(err, path))), "%s", err);
    cr_assert(not(zero(ptr, strstr(err, "line 2 column"))), "%s", err);

    /* Larger than any hand-written file: refused before parsing. */
    FILE *f = fopen(path, "w");
    cr_assert(not(zero(ptr, f)));
    for (int i = 0; i < 1100 * 1024; i++)
        fputc(' ', f);
    fclose(f);
    cr_assert(zero(ptr, kj_rules_load(path, err, sizeof err)));
    cr_assert(not(zero(ptr, strstr(err, "larger than"))), "%s", err);
    unlink(path);
}

Test(rules, valid_minimal_documents)
{
    /* No urgency, no model labels, no categories: all optional or empty. */
    kj_rules_t *r = s_parse(
        "{\"version\":1,\"categories\":[]," TEAMS SLAS ROUTES_ONLY_DEFAULT);
    int hits = -1;
    cr_assert(eq(str, (char *)s_category(r, "anything", &hits), "other"));
    cr_assert(eq(int, hits, 0));
    cr_assert(eq(str, (char *)s_urgency(r, "urgent", &hits), "normal"));
    cr_assert(eq(int, hits, 0));
    cr_assert(
        zero(ptr, (void *)classifier_keywords_map_label(r, "Late Flight")));
    kj_route_t route;
    router_rules_input_t in = {0};
    router_rules_route(r, &in, &route);
    cr_assert(eq(str, (char *)route.rule, "default"));
    cr_assert(zero(ptr, (void *)route.webhook));
    kj_rules_destroy(&r);
}

Test(rules, the_shipped_rules_file_loads)
{
    char err[512];
    kj_rules_t *r = kj_rules_load(KJ_RULES_PATH, err, sizeof err);
    cr_assert(not(zero(ptr, r)), "%s", err);
    static const char *const labels[][2] = {
        {"Bad Flight", "product_quality"},
        {"Can't Tell", "other"},
        {"Late Flight", "delivery"},
        {"Customer Service Issue", "staff"},
        {"Flight Booking Problems", "account"},
        {"Lost Luggage", "delivery"},
        {"Flight Attendant Complaints", "staff"},
        {"Cancelled Flight", "cancellation"},
        {"Damaged Luggage", "product_quality"},
        {"longlines", "delivery"},
    };
    for (size_t i = 0; i < sizeof labels / sizeof *labels; i++)
        cr_expect(eq(str,
                     (char *)classifier_keywords_map_label(r, labels[i][0]),
                     (char *)labels[i][1]));
    cr_assert(
        zero(ptr, (void *)classifier_keywords_map_label(r, "late flight")));
    cr_assert(zero(ptr, (void *)classifier_keywords_map_label(r, NULL)));
    kj_rules_destroy(&r);
}

/* ---- matching ------------------------------------------------------ */

static const char *s_match_json =
    "{\"version\":1,"
    " \"categories\":["
    "  {\"name\":\"outage\",\"keywords\":[\"down\",\"not working\",\"障害\","
    "                                   \"エラー\",\"Wi-Fi\"]},"
    "  {\"name\":\"billing\",\"keywords\":[\"refund\",\"charged twice\","
    "                                    \"返金\",\"二重\"]},"
    "  {\"name\":\"delivery\",\"keywords\":[\"late\",\"届かない\"]}],"
    " \"urgency\":["
    "  {\"level\":\"critical\",\"keywords\":[\"lawsuit\",\"訴訟\"]},"
    "  {\"level\":\"high\",\"keywords\":[\"urgent\",\"まだ\"]},"
    "  {\"level\":\"low\",\"keywords\":[\"suggestion\"]}],"
    " \"model_labels\":{\"Late Flight\":\"delivery\"}," TEAMS SLAS
        ROUTES_ONLY_DEFAULT;

typedef struct {
    const char *text; /* raw: folded by the test */
    const char *category;
    int category_hits;
    const char *urgency;
    int urgency_hits;
} s_match_t;

static const s_match_t s_matches[] = {
    {"The app is down", "outage", 1, "normal", 0},
    {"download failed", "other", 0, "normal", 0},
    {"downtime again", "other", 0, "normal", 0},
    {"down2 is a band", "other", 0, "normal", 0},
    {"(down).", "outage", 1, "normal", 0},
    {"DOWN DOWN down", "outage", 3, "normal", 0},
    {"site not working", "outage", 1, "normal", 0},
    {"Refund please, I was charged twice. REFUND!", "billing", 3, "normal", 0},
    {"refunds", "other", 0, "normal", 0},
    /* Ties go to the first category in the file. */
    {"down and refund", "outage", 1, "normal", 0},
    {"refund and down", "outage", 1, "normal", 0},
    /* Japanese: plain substrings, no word boundaries. */
    {"システム障害でエラーが出ます", "outage", 2, "normal", 0},
    {"返金してください", "billing", 1, "normal", 0},
    {"二重に請求されました。返金を", "billing", 2, "normal", 0},
    {"荷物がまだ届かない", "delivery", 1, "high", 1},
    /* ASCII keywords next to Japanese still match. */
    {"downしてる", "outage", 1, "normal", 0},
    {"Wi-Fiが使えない", "outage", 1, "normal", 0},
    /* Full-width and upper case fold to the keyword. */
    {"ＲＥＦＵＮＤ please", "billing", 1, "normal", 0},
    {"ｒｅｆｕｎｄ", "billing", 1, "normal", 0},
    /* Half-width katakana fold to full-width (NFKC). */
    {"ｴﾗｰです", "outage", 1, "normal", 0},
    /* Urgency: the first level in file order wins, not the first hit. */
    {"urgent: lawsuit coming", "other", 0, "critical", 1},
    {"Urgent urgent URGENT", "other", 0, "high", 3},
    {"訴訟を検討しています", "other", 0, "critical", 1},
    {"a suggestion", "other", 0, "low", 1},
    {"", "other", 0, "normal", 0},
};

Test(rules, category_and_urgency_matching)
{
    kj_rules_t *r = s_parse(s_match_json);
    for (size_t i = 0; i < sizeof s_matches / sizeof *s_matches; i++) {
        const s_match_t *m = &s_matches[i];
        const char *folded = s_fold(m->text);
        int hits = -1;
        cr_expect(
            eq(str, (char *)s_category(r, folded, &hits), (char *)m->category),
            "case %zu: %s", i, m->text);
        cr_expect(eq(int, hits, m->category_hits), "case %zu: %s", i, m->text);
        hits = -1;
        cr_expect(
            eq(str, (char *)s_urgency(r, folded, &hits), (char *)m->urgency),
            "case %zu: %s", i, m->text);
        cr_expect(eq(int, hits, m->urgency_hits), "case %zu: %s", i, m->text);
    }
    /* hits may be NULL. */
    cr_assert(eq(str, (char *)s_category(r, "down", NULL), "outage"));
    cr_assert(eq(str, (char *)s_urgency(r, "urgent", NULL), "high"));
    cr_assert(eq(str, (char *)classifier_keywords_map_label(r, "Late Flight"),
                 "delivery"));
    cr_assert(
        zero(ptr, (void *)classifier_keywords_map_label(r, "Bad Flight")));
    kj_rules_destroy(&r);
}

Test(rules, keywords_are_folded_at_load)
{
    /* An operator may write keywords in any case or width. */
    kj_rules_t *r = s_parse(
        "{\"version\":1,\"categories\":[{\"name\":\"billing\","
        "\"keywords\":[\"ＲＥＦＵＮＤ\",\"Charged Twice\"]}]," TEAMS SLAS
            ROUTES_ONLY_DEFAULT);
    int hits = 0;
    cr_assert(
        eq(str,
           (char *)s_category(r, s_fold("Refund! I was CHARGED TWICE"), &hits),
           "billing"));
    cr_assert(eq(int, hits, 2));
    kj_rules_destroy(&r);
}

/* ---- routing ------------------------------------------------------- */

typedef struct {
    router_rules_input_t in;
    const char *rule, *team, *priority, *sla;
    int64_t first_min, resolve_h;
} s_route_case_t;

static const s_route_case_t s_routes[] = {
    {{.language = "en",
      .category = "billing",
      .urgency = "critical",
      .channel = "email"},
     "critical",
     "trust-safety",
     "p1",
     "urgent",
     15,
     4},
    {{.language = "ja",
      .category = "security",
      .urgency = "normal",
      .channel = "x",
      .is_public = true},
     "security",
     "trust-safety",
     "p1",
     "urgent",
     15,
     4},
    {{.language = "ja",
      .category = "outage",
      .urgency = "high",
      .channel = "chat"},
     "outage",
     "tech-ops",
     "p2",
     "urgent",
     15,
     4},
    {{.language = "en",
      .category = "billing",
      .urgency = "normal",
      .channel = "x",
      .is_public = true},
     "billing",
     "billing",
     "p2",
     "standard",
     240,
     48},
    {{.language = "en",
      .category = "delivery",
      .urgency = "normal",
      .channel = "x",
      .is_public = true},
     "social-public",
     "social-media",
     "p2",
     "social",
     60,
     24},
    {{.language = "ja",
      .category = "staff",
      .urgency = "low",
      .channel = "instagram",
      .is_public = true},
     "social-public",
     "social-media",
     "p2",
     "social",
     60,
     24},
    /* A direct message on X is not public. */
    {{.language = "ja",
      .category = "delivery",
      .urgency = "normal",
      .channel = "x",
      .is_public = false},
     "ja",
     "care-ja",
     "p3",
     "standard",
     240,
     48},
    {{.language = "ja",
      .category = "other",
      .urgency = "normal",
      .channel = "email"},
     "ja",
     "care-ja",
     "p3",
     "standard",
     240,
     48},
    /* Public but not a social channel. */
    {{.language = "en",
      .category = "delivery",
      .urgency = "normal",
      .channel = "app_review",
      .is_public = true},
     "default",
     "care-en",
     "p3",
     "standard",
     240,
     48},
    {{.language = "en",
      .category = "other",
      .urgency = "normal",
      .channel = "email"},
     "default",
     "care-en",
     "p3",
     "standard",
     240,
     48},
    {{.language = "other", .category = "cancellation", .channel = "web"},
     "default",
     "care-en",
     "p3",
     "standard",
     240,
     48},
    /* Missing values never satisfy a test. */
    {{0}, "default", "care-en", "p3", "standard", 240, 48},
    {{.language = "", .category = "", .urgency = "", .channel = ""},
     "default",
     "care-en",
     "p3",
     "standard",
     240,
     48},
};

Test(rules, routing_over_the_shipped_rules)
{
    char err[512];
    kj_rules_t *r = kj_rules_load(KJ_RULES_PATH, err, sizeof err);
    cr_assert(not(zero(ptr, r)), "%s", err);
    for (size_t i = 0; i < sizeof s_routes / sizeof *s_routes; i++) {
        const s_route_case_t *c = &s_routes[i];
        kj_route_t out;
        memset(&out, 0, sizeof out);
        router_rules_route(r, &c->in, &out);
        cr_expect(eq(str, (char *)out.rule, (char *)c->rule), "case %zu", i);
        cr_expect(eq(str, (char *)out.team, (char *)c->team), "case %zu", i);
        cr_expect(eq(str, (char *)out.priority, (char *)c->priority),
                  "case %zu", i);
        cr_expect(eq(str, (char *)out.sla, (char *)c->sla), "case %zu", i);
        cr_expect(eq(i64, out.first_response_ms, c->first_min * 60000),
                  "case %zu", i);
        cr_expect(eq(i64, out.resolution_ms, c->resolve_h * 3600000),
                  "case %zu", i);
        /* No team in the shipped file names a webhook. */
        cr_expect(zero(ptr, (void *)out.webhook), "case %zu", i);
    }
    kj_rules_destroy(&r);
}

Test(rules, route_tests_combine_and_empty_values_never_match)
{
    kj_rules_t *r = s_parse(
        "{\"version\":1,\"categories\":[],"
        "\"teams\":[{\"name\":\"vip\",\"webhook\":\"http://127.0.0.1:1/v\"},"
        "{\"name\":\"care-en\"}]," SLAS "\"routes\":["
        "{\"name\":\"vip-ja\",\"when\":{\"tier\":[\"gold\",\"platinum\"],"
        " \"language\":[\"ja\"],\"public\":false},"
        " \"team\":\"vip\",\"priority\":\"p1\",\"sla\":\"std\"},"
        "{\"name\":\"negative\",\"when\":{\"sentiment\":[\"negative\"]},"
        " \"team\":\"vip\",\"priority\":\"p2\",\"sla\":\"std\"}," DEFAULT_ROUTE
        "]}");
    kj_route_t out;
    router_rules_input_t in = {.tier = "gold", .language = "ja"};
    router_rules_route(r, &in, &out);
    cr_assert(eq(str, (char *)out.rule, "vip-ja"));
    cr_assert(eq(str, (char *)out.webhook, "http://127.0.0.1:1/v"));
    in.is_public = true;
    router_rules_route(r, &in, &out);
    cr_assert(eq(str, (char *)out.rule, "default"));
    in = (router_rules_input_t){.tier = "silver", .language = "ja"};
    router_rules_route(r, &in, &out);
    cr_assert(eq(str, (char *)out.rule, "default"));
    in = (router_rules_input_t){.tier = NULL, .language = "ja"};
    router_rules_route(r, &in, &out);
    cr_assert(eq(str, (char *)out.rule, "default"));
    in = (router_rules_input_t){.tier = "gold",
                                .language = "ja",
                                .sentiment = "negative",
                                .is_public = true};
    router_rules_route(r, &in, &out);
    cr_assert(eq(str, (char *)out.rule, "negative"));
    cr_assert(eq(str, (char *)out.priority, "p2"));
    in.sentiment = "";
    router_rules_route(r, &in, &out);
    cr_assert(eq(str, (char *)out.rule, "default"));
    cr_assert(zero(ptr, (void *)out.webhook));
    kj_rules_destroy(&r);
}

/* ---- the case lifecycle's fields (issue 11) -------------------------- */

Test(rules, template_errors_carry_the_line)
{
    const char *json =
        "{\n"
        "  \"version\": 1,\n"
        "  \"categories\": [],\n"
        "  \"teams\": [{\"name\": \"care-en\"}],\n"
        "  \"sla_policies\": [{\"name\": \"std\",\n"
        "    \"first_response_minutes\": 60, \"resolution_hours\": 24}],\n"
        "  \"routes\": [{\"name\": \"default\", \"team\": \"care-en\",\n"
        "     \"priority\": \"p3\", \"sla\": \"std\"}],\n"
        "  \"templates\": [\n"
        "    {\"name\": \"ok\", \"kind\": \"follow_up\", \"language\": "
        "\"en\",\n"
        "     \"text\": \"Case {{case_number}}\"},\n"
        "    {\"name\": \"bad\", \"kind\": \"follow_up\", \"language\": "
        "\"ja\",\n"
        "     \"text\": \"受付番号 {{case_no}}\"}]}\n";
    char err[512];
    cr_assert(zero(ptr, kj_rules_parse(json, strlen(json), err, sizeof err)));
    cr_assert(eq(str, err,
                 "line 13: templates[1].text: unknown variable "
                 "\"{{case_no}}\" (known: customer_name, case_number, "
                 "agent_name, team, survey_url, alternative_1, "
                 "alternative_2)"));
}

Test(rules, template_text_length_and_playbook_values)
{
    /* 2000 bytes of text are fine, 2001 are not. */
    static char json[8192], text[2100];
    for (size_t len = 2000; len <= 2001; len++) {
        memset(text, 'a', len);
        text[len] = '\0';
        snprintf(json, sizeof json, TEXT("%s"), text);
        char err[512];
        kj_rules_t *r = kj_rules_parse(json, strlen(json), err, sizeof err);
        if (len == 2000) {
            cr_assert(not(zero(ptr, r)), "%s", err);
            size_t n;
            const kj_rules_template_t *t = kj_rules_templates(r, &n);
            cr_assert(eq(sz, n, 1));
            cr_assert(eq(sz, t->text_len, 2000));
            cr_assert(eq(int, t->public_test, -1));
            cr_assert(eq(int, t->actionable_test, -1));
        } else {
            cr_assert(zero(ptr, r));
            cr_assert(eq(str, err,
                         "line 1: templates[0].text: longer than 2000 "
                         "bytes"));
        }
        kj_rules_destroy(&r);
    }

    /* What a full template and playbook section parse into. */
    kj_rules_t *r = s_parse(
        HEAD CATS TEAMS SLAS
        "\"playbook\":{\"survey_url\":\"https://s.example/csat\","
        "\"vague_max_chars\":0,\"abusive_words\":[\"ＩＤＩＯＴ\",\"馬鹿\"]},"
        "\"templates\":[{\"name\":\"s\",\"kind\":\"suggested_reply\","
        "\"language\":\"ja\",\"when\":{\"public\":false,\"actionable\":true,"
        "\"category\":[\"billing\",\"other\"],\"channel\":[\"email\"],"
        "\"sentiment\":[\"negative\"],\"urgency\":[\"normal\"]},"
        "\"text\":\"{{alternative_1}}か{{alternative_2}}\","
        "\"alternatives\":[\"返金\",\"再発行\"]}]," ROUTES_ONLY_DEFAULT);
    const kj_rules_playbook_t *pb = kj_rules_playbook(r);
    cr_assert(eq(str, pb->survey_url, "https://s.example/csat"));
    cr_assert(eq(int, pb->vague_max_chars, 0));
    cr_assert(eq(sz, pb->n_abusive_words, 2));
    /* Folded at load, like category keywords. */
    cr_assert(eq(str, pb->abusive_words[0].text, "idiot"));
    cr_assert(pb->abusive_words[0].edge_start && pb->abusive_words[0].edge_end);
    cr_assert(not(pb->abusive_words[1].edge_start));
    size_t n;
    const kj_rules_template_t *t = kj_rules_templates(r, &n);
    cr_assert(eq(sz, n, 1));
    cr_assert(eq(str, t->kind, "suggested_reply"));
    cr_assert(eq(str, t->language, "ja"));
    cr_assert(eq(int, t->public_test, 0));
    cr_assert(eq(int, t->actionable_test, 1));
    cr_assert(eq(sz, t->when[KJ_TEMPLATE_CATEGORY].n, 2));
    cr_assert(eq(str, t->when[KJ_TEMPLATE_CATEGORY].vals[1], "other"));
    cr_assert(eq(str, t->when[KJ_TEMPLATE_URGENCY].vals[0], "normal"));
    cr_assert(t->when[KJ_TEMPLATE_CHANNEL].present);
    cr_assert(t->when[KJ_TEMPLATE_SENTIMENT].present);
    cr_assert(eq(str, t->alternatives[1], "再発行"));
    kj_rules_destroy(&r);

    /* Neither section: no templates, the defaults. */
    r = s_parse(HEAD CATS TEAMS SLAS ROUTES_ONLY_DEFAULT);
    cr_assert(zero(ptr, (void *)kj_rules_templates(r, &n)));
    cr_assert(eq(sz, n, 0));
    cr_assert(eq(int, kj_rules_playbook(r)->vague_max_chars, 25));
    kj_rules_destroy(&r);
}

Test(rules, business_hours_errors_carry_the_line)
{
    const char *json =
        "{\n"
        "  \"version\": 1,\n"
        "  \"categories\": [],\n"
        "  \"business_hours\": [\n"
        "    {\"name\": \"tokyo\", \"timezone\": \"Asia/Tokyo\",\n"
        "     \"week\": {\n"
        "       \"mon\": [\"09:00-12:00\",\n"
        "               \"11:00-18:00\"]}}],\n"
        "  \"teams\": [{\"name\": \"care-en\"}],\n"
        "  \"sla_policies\": [{\"name\": \"std\",\n"
        "    \"first_response_minutes\": 60, \"resolution_hours\": 24}],\n"
        "  \"routes\": [{\"name\": \"default\", \"team\": \"care-en\",\n"
        "     \"priority\": \"p3\", \"sla\": \"std\"}]}\n";
    char err[256];
    cr_assert(zero(ptr, kj_rules_parse(json, strlen(json), err, sizeof err)));
    cr_assert(eq(str, err,
                 "line 8: business_hours[0].week.mon[1]: \"11:00-18:00\" "
                 "overlaps or comes before the previous interval (intervals "
                 "must be in order and not overlap)"));
}

Test(rules, lifecycle_fields_and_their_defaults)
{
    kj_rules_t *r = s_parse(
        "{\"version\":1,\"categories\":[],"
        "\"business_hours\":[" TOKYO_BH ","
        " {\"name\":\"ny\",\"timezone\":\"America/New_York\","
        "  \"week\":{\"fri\":[\"09:00-17:00\"]}}],"
        "\"teams\":[{\"name\":\"care-ja\",\"hours\":\"tokyo\","
        "            \"escalation\":[\"lead-ja\",\"manager-care\"]},"
        "           {\"name\":\"care-en\"}],"
        "\"sla_policies\":["
        " {\"name\":\"team\",\"first_response_minutes\":60,"
        "  \"resolution_hours\":24},"
        " {\"name\":\"always\",\"first_response_minutes\":30,"
        "  \"resolution_hours\":4,\"ack_minutes\":2,"
        "  \"next_response_minutes\":15,\"hours\":\"24/7\"},"
        " {\"name\":\"named\",\"first_response_minutes\":30,"
        "  \"resolution_hours\":4,\"hours\":\"ny\"},"
        " {\"name\":\"explicit\",\"first_response_minutes\":30,"
        "  \"resolution_hours\":4,\"hours\":\"team\"}],"
        "\"routes\":["
        " {\"name\":\"a\",\"when\":{\"tier\":[\"a\"]},\"team\":\"care-ja\","
        "  \"priority\":\"p1\",\"sla\":\"team\"},"
        " {\"name\":\"b\",\"when\":{\"tier\":[\"b\"]},\"team\":\"care-ja\","
        "  \"priority\":\"p1\",\"sla\":\"always\"},"
        " {\"name\":\"c\",\"when\":{\"tier\":[\"c\"]},\"team\":\"care-ja\","
        "  \"priority\":\"p1\",\"sla\":\"named\"},"
        " {\"name\":\"d\",\"when\":{\"tier\":[\"d\"]},\"team\":\"care-ja\","
        "  \"priority\":\"p1\",\"sla\":\"explicit\"},"
        " {\"name\":\"e\",\"team\":\"care-en\",\"priority\":\"p3\","
        "  \"sla\":\"team\"}]}");
    const kj_hours_t *tokyo = kj_rules_business_hours(r, "tokyo");
    const kj_hours_t *ny = kj_rules_business_hours(r, "ny");
    cr_assert(not(zero(ptr, (void *)tokyo)));
    cr_assert(eq(str, (char *)kj_hours_name(ny), "ny"));
    cr_assert(zero(ptr, (void *)kj_rules_business_hours(r, "paris")));
    cr_assert(eq(sz, kj_rules_n_business_hours(r), 2));

    /* Team hours and escalation. */
    cr_assert(
        eq(ptr, (void *)kj_rules_team_hours(r, "care-ja"), (void *)tokyo));
    cr_assert(zero(ptr, (void *)kj_rules_team_hours(r, "care-en")));
    cr_assert(zero(ptr, (void *)kj_rules_team_hours(r, "nobody")));
    size_t n = 99;
    const char *const *esc = kj_rules_team_escalation(r, "care-ja", &n);
    cr_assert(eq(sz, n, 2));
    cr_assert(eq(str, (char *)esc[0], "lead-ja"));
    cr_assert(eq(str, (char *)esc[1], "manager-care"));
    n = 99;
    cr_assert(zero(ptr, (void *)kj_rules_team_escalation(r, "care-en", &n)));
    cr_assert(eq(sz, n, 0));
    n = 99;
    cr_assert(zero(ptr, (void *)kj_rules_team_escalation(r, "nobody", &n)));
    cr_assert(eq(sz, n, 0));

    /* Routes: the clocks and the calendar they count in. */
    kj_route_t rt;
    kj_rules_route_at(r, 0, &rt); /* policy defaults, the team's hours */
    cr_assert(eq(i64, rt.ack_ms, 5 * 60000));
    cr_assert(eq(i64, rt.next_response_ms, 60 * 60000));
    cr_assert(eq(ptr, (void *)rt.hours, (void *)tokyo));
    kj_rules_route_at(r, 1, &rt); /* explicit clocks, 24/7 */
    cr_assert(eq(i64, rt.ack_ms, 2 * 60000));
    cr_assert(eq(i64, rt.next_response_ms, 15 * 60000));
    cr_assert(eq(i64, rt.first_response_ms, 30 * 60000));
    cr_assert(zero(ptr, (void *)rt.hours));
    kj_rules_route_at(r, 2, &rt); /* a named calendar, not the team's */
    cr_assert(eq(ptr, (void *)rt.hours, (void *)ny));
    cr_assert(eq(i64, rt.next_response_ms, 30 * 60000));
    kj_rules_route_at(r, 3, &rt); /* "team" said explicitly */
    cr_assert(eq(ptr, (void *)rt.hours, (void *)tokyo));
    kj_rules_route_at(r, 4, &rt); /* "team" for a team without hours */
    cr_assert(zero(ptr, (void *)rt.hours));

    /* No "cases": every default. */
    const kj_rules_cases_t *k = kj_rules_cases(r);
    cr_assert(eq(i64, k->reopen_ms, 7 * 86400000LL));
    cr_assert(eq(i64, k->close_ms, 3 * 86400000LL));
    cr_assert(eq(i64, k->survey_cooldown_ms, 30 * 86400000LL));
    cr_assert(k->offline_requeue);
    cr_assert(eq(int, k->trajectory, 10));
    cr_assert(eq(dbl, k->tone_drop, 0.5));
    kj_rules_destroy(&r);
}

Test(rules, cases_section_overrides_each_default)
{
    kj_rules_t *r = s_parse(WITH_CASES(
        "{\"reopen_days\":0,\"close_days\":10,\"offline_requeue\":false,"
        "\"survey_cooldown_days\":3650,\"trajectory\":100,\"tone_drop\":2}"));
    const kj_rules_cases_t *k = kj_rules_cases(r);
    cr_assert(eq(i64, k->reopen_ms, 0));
    cr_assert(eq(i64, k->close_ms, 10 * 86400000LL));
    cr_assert(eq(i64, k->survey_cooldown_ms, 3650 * 86400000LL));
    cr_assert(not(k->offline_requeue));
    cr_assert(eq(int, k->trajectory, 100));
    cr_assert(eq(dbl, k->tone_drop, 2.0));
    kj_rules_destroy(&r);
    /* Only some keys: the rest keep their defaults. */
    r = s_parse(WITH_CASES("{\"trajectory\":1,\"tone_drop\":0.25}"));
    k = kj_rules_cases(r);
    cr_assert(eq(int, k->trajectory, 1));
    cr_assert(eq(dbl, k->tone_drop, 0.25));
    cr_assert(eq(i64, k->reopen_ms, 7 * 86400000LL));
    cr_assert(k->offline_requeue);
    kj_rules_destroy(&r);
    /* An empty business_hours list is allowed. */
    r = s_parse(WITH_BH(""));
    cr_assert(eq(sz, kj_rules_n_business_hours(r), 0));
    kj_rules_destroy(&r);
}

Test(rules, the_shipped_rules_have_hours_escalation_and_cases)
{
    char err[512];
    kj_rules_t *r = kj_rules_load(KJ_RULES_PATH, err, sizeof err);
    cr_assert(not(zero(ptr, r)), "%s", err);
    const kj_hours_t *tokyo = kj_rules_team_hours(r, "care-ja");
    cr_assert(eq(str, (char *)kj_hours_name(tokyo), "tokyo"));
    cr_assert(eq(str, (char *)kj_hours_timezone(tokyo), "Asia/Tokyo"));
    const kj_hours_t *ny = kj_rules_team_hours(r, "care-en");
    cr_assert(eq(str, (char *)kj_hours_timezone(ny), "America/New_York"));
    cr_assert(eq(ptr, (void *)kj_rules_team_hours(r, "billing"), (void *)ny));
    cr_assert(zero(ptr, (void *)kj_rules_team_hours(r, "social-media")));
    cr_assert(zero(ptr, (void *)kj_rules_team_hours(r, "tech-ops")));
    cr_assert(zero(ptr, (void *)kj_rules_team_hours(r, "trust-safety")));
    static const char *const teams[] = {"care-en",      "care-ja",
                                        "billing",      "tech-ops",
                                        "trust-safety", "social-media"};
    for (size_t i = 0; i < sizeof teams / sizeof *teams; i++) {
        size_t n = 0;
        const char *const *esc = kj_rules_team_escalation(r, teams[i], &n);
        cr_expect(ge(sz, n, 1), "%s has no escalation", teams[i]);
        cr_expect(n == 0 || strncmp(esc[0], "lead-", 5) == 0,
                  "%s: the team lead comes first", teams[i]);
    }
    size_t n = 0;
    const char *const *esc = kj_rules_team_escalation(r, "care-ja", &n);
    cr_assert(eq(sz, n, 2));
    cr_assert(eq(str, (char *)esc[0], "lead-ja"));
    cr_assert(eq(str, (char *)esc[1], "manager-care"));

    /* Friday 2027-01-08 17:00 JST: a Japanese complaint's 240 open
     * minutes run 1 h on Friday, skip the weekend and Coming of Age Day
     * (Monday 01-11), and end Tuesday 12:00 JST (03:00 UTC). */
    router_rules_input_t in = {.language = "ja", .category = "other"};
    kj_route_t rt;
    router_rules_route(r, &in, &rt);
    cr_assert(eq(str, (char *)rt.rule, "ja"));
    cr_assert(eq(ptr, (void *)rt.hours, (void *)tokyo));
    int64_t fri = INT64_C(1799366400000) + 8 * 3600000; /* 01-08 08:00Z */
    cr_assert(eq(i64, kj_hours_deadline(rt.hours, fri, rt.first_response_ms),
                 INT64_C(1799712000000) + 3 * 3600000)); /* 01-12 03:00Z */
    /* The social policy counts around the clock. */
    in = (router_rules_input_t){.channel = "x", .is_public = true};
    router_rules_route(r, &in, &rt);
    cr_assert(eq(str, (char *)rt.sla, "social"));
    cr_assert(zero(ptr, (void *)rt.hours));
    cr_assert(eq(i64, rt.ack_ms, 5 * 60000));
    cr_assert(eq(i64, rt.first_response_ms, 60 * 60000));

    const kj_rules_cases_t *k = kj_rules_cases(r);
    cr_assert(eq(i64, k->reopen_ms, 7 * 86400000LL));
    cr_assert(eq(i64, k->close_ms, 3 * 86400000LL));
    cr_assert(eq(i64, k->survey_cooldown_ms, 30 * 86400000LL));
    cr_assert(k->offline_requeue);
    cr_assert(eq(int, k->trajectory, 10));
    cr_assert(eq(dbl, k->tone_drop, 0.5));
    kj_rules_destroy(&r);
}

Test(rules, connectors_name_a_webhook_per_channel)
{
    kj_rules_t *r =
        s_parse(WITH_CONNECTORS("{\"x\":\"http://127.0.0.1:9/x\","
                                "\"email\":\"https://mail.example/send\"}"));
    cr_assert(
        eq(str, (char *)kj_rules_connector(r, "x"), "http://127.0.0.1:9/x"));
    cr_assert(eq(str, (char *)kj_rules_connector(r, "email"),
                 "https://mail.example/send"));
    cr_assert(zero(ptr, (void *)kj_rules_connector(r, "chat")));
    cr_assert(zero(ptr, (void *)kj_rules_connector(r, NULL)));
    kj_rules_destroy(&r);
    /* Optional: without the section, no channel has one. */
    r = s_parse(HEAD CATS TEAMS SLAS ROUTES_ONLY_DEFAULT);
    cr_assert(zero(ptr, (void *)kj_rules_connector(r, "x")));
    kj_rules_destroy(&r);
}

Test(rules, webhook_format_is_given_or_guessed_from_the_url)
{
    kj_rules_t *r = s_parse(WITH_TEAMS(
        "[{\"name\":\"care-en\",\"webhook\":\"http://127.0.0.1:9/s\","
        "\"webhook_format\":\"slack\"},"
        "{\"name\":\"care-ja\",\"webhook\":"
        "\"https://hooks.slack.com/services/T0/B0/x\"},"
        "{\"name\":\"care-pt\",\"webhook\":"
        "\"https://hooks.slack.com/services/T0/B1/y\","
        "\"webhook_format\":\"kujo\"},"
        "{\"name\":\"care-de\",\"webhook\":\"https://hooks.example/x\"},"
        "{\"name\":\"care-fr\"}]"));
    /* Given: slack on a plain URL (a proxy, or a test receiver). */
    cr_assert(eq(int, kj_rules_webhook_format(r, "http://127.0.0.1:9/s"),
                 KJ_WEBHOOK_SLACK));
    /* Guessed from Slack's host, unless the team says otherwise. */
    cr_assert(eq(
        int,
        kj_rules_webhook_format(r, "https://hooks.slack.com/services/T0/B0/x"),
        KJ_WEBHOOK_SLACK));
    cr_assert(eq(
        int,
        kj_rules_webhook_format(r, "https://hooks.slack.com/services/T0/B1/y"),
        KJ_WEBHOOK_KUJO));
    cr_assert(eq(int, kj_rules_webhook_format(r, "https://hooks.example/x"),
                 KJ_WEBHOOK_KUJO));
    /* KUJO_WEBHOOK_URL (no team has it) and no rules at all: the URL. */
    cr_assert(eq(int,
                 kj_rules_webhook_format(r, "https://hooks.slack.com/T/B/z"),
                 KJ_WEBHOOK_SLACK));
    cr_assert(eq(int, kj_rules_webhook_format(NULL, "http://hooks.slack.com/"),
                 KJ_WEBHOOK_KUJO));
    cr_assert(eq(int, kj_rules_webhook_format(NULL, NULL), KJ_WEBHOOK_KUJO));
    cr_assert(
        eq(str, (char *)kj_webhook_format_name(KJ_WEBHOOK_SLACK), "slack"));
    kj_route_t rt;
    kj_rules_route_at(r, 0, &rt);
    cr_assert(eq(int, rt.webhook_format, KJ_WEBHOOK_SLACK));
    kj_rules_destroy(&r);
    /* Teams sharing a webhook may both say so, if they agree. */
    r = s_parse(WITH_TEAMS("[{\"name\":\"care-en\",\"webhook\":\"http://a/\","
                           "\"webhook_format\":\"slack\"},"
                           "{\"name\":\"care-ja\",\"webhook\":\"http://a/\","
                           "\"webhook_format\":\"slack\"}]"));
    cr_assert(
        eq(int, kj_rules_webhook_format(r, "http://a/"), KJ_WEBHOOK_SLACK));
    kj_rules_destroy(&r);
}

/* examples/rules-slack.json (the README's Slack example) loads, each team
 * with the format it says or its URL implies. */
Test(rules, the_slack_example_loads)
{
    char err[512];
    kj_rules_t *r = kj_rules_load(KJ_SOURCE_DIR "/examples/rules-slack.json",
                                  err, sizeof err);
    cr_assert(not(zero(ptr, r)), "%s", err);
    static const struct {
        const char *team;
        kj_webhook_format_t format;
    } want[] = {{"tech-ops", KJ_WEBHOOK_KUJO},
                {"care-ja", KJ_WEBHOOK_SLACK},
                {"care-en", KJ_WEBHOOK_SLACK}};
    for (size_t i = 0; i < kj_rules_n_routes(r); i++) {
        kj_route_t rt;
        kj_rules_route_at(r, i, &rt);
        cr_assert(eq(str, (char *)rt.team, (char *)want[i].team));
        cr_assert(eq(int, rt.webhook_format, want[i].format), "%s", rt.team);
        cr_assert(
            eq(int, kj_rules_webhook_format(r, rt.webhook), want[i].format));
        if (strcmp(rt.team, "tech-ops") != 0)
            cr_assert(not(zero(ptr, (void *)kj_rules_team_hours(r, rt.team))));
    }
    kj_rules_destroy(&r);
}
