/* The whole life of a case on the real pipeline (redis-server with kujo's
 * ACL user, the five binaries, the webhook sink), in Japanese and in
 * English side by side: a public negative post is routed to the social
 * desk and assigned to an agent who speaks its language; the playbook's
 * acknowledgement is delivered within the ack clock; nobody answers, so
 * the 75 % warning goes to the agent, then the breach raises the priority
 * and escalates to the team lead; the agent replies and sets the case
 * pending; the customer writes again (same case, open again, clocks
 * resumed); resolved, a survey request goes out. GET /v1/cases/{id}
 * shows every step with its time.
 *
 * Time moves with the router's clock offset (KUJO_CLOCK_OFFSET_MS, the
 * router restarted with a later one), not sleeps: the social desk's first
 * response is due in 60 minutes, its warning at 45. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_harness.h"
#include "kj_testredis.h"
#include "kj_util.h"

#define MIN 60000LL

static kj_pipeline_t *g_p;

static void
setup(void)
{
    kj_pipeline_opts_t o = {.auth_keys = true, .redis_acl = true};
    g_p = kj_pipeline_new(&o);
    cr_assert(ne(ptr, g_p, NULL));
}

static void
teardown(void)
{
    kj_pipeline_destroy(&g_p);
}

TestSuite(case_life, .init = setup, .fini = teardown, .timeout = 180);

/* method path body -> status (the answer into *out, may be NULL). */
static int
call(const char *method, const char *path, const char *body, json_t **out)
{
    int status = kj_pipeline_call(g_p, method, path, body, out);
    cr_assert(ge(int, status, 0), "%s %s: no answer", method, path);
    return status;
}

static const char *
jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

typedef struct {
    const char *lang;
    const char *agent;
    const char *post;  /* the public post */
    const char *again; /* the customer's second message */
    char complaint[32];
    char case_id[32];
} s_story_t;

static s_story_t s_stories[] = {
    {"ja", "aiko",
     "{\"channel\":\"x\",\"public\":true,\"customer\":{\"id\":\"life-ja\"},"
     "\"external_id\":\"post-ja-1\","
     "\"text\":\"荷物が届きません。対応がひどすぎます。もう二度と利用しません。"
     "\"}",
     "{\"channel\":\"x\",\"public\":true,\"customer\":{\"id\":\"life-ja\"},"
     "\"external_id\":\"post-ja-2\","
     "\"text\":\"まだ荷物が届いていません。いつ届くのか教えてください。\"}",
     "", ""},
    {"en", "emma",
     "{\"channel\":\"facebook\",\"public\":true,\"customer\":{\"id\":"
     "\"life-en\"},\"external_id\":\"post-en-1\","
     "\"text\":\"My package never arrived. The tracking has "
     "not moved in a week and nobody answers my messages. Terrible "
     "service.\"}",
     "{\"channel\":\"facebook\",\"public\":true,\"customer\":{\"id\":"
     "\"life-en\"},\"external_id\":\"post-en-2\","
     "\"text\":\"Still no package. When will it arrive?\"}",
     "", ""},
};

#define N_STORIES (sizeof s_stories / sizeof *s_stories)

static json_t *
get_case(const s_story_t *s)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/cases/%s", s->case_id);
    json_t *o = NULL;
    cr_assert(eq(int, call("GET", path, NULL, &o), 200));
    return o;
}

/* The case's timeline has an entry of type (and clock, if not NULL). */
static bool
has_step(json_t *c, const char *type, const char *clock)
{
    json_t *tl = json_object_get(c, "timeline");
    for (size_t i = 0; i < json_array_size(tl); i++) {
        json_t *e = json_array_get(tl, i);
        if (strcmp(jstr(e, "type"), type) == 0 &&
            (!clock || strcmp(jstr(e, "clock"), clock) == 0))
            return true;
    }
    return false;
}

/* The complaint's delivery of kind, once delivered; NULL until then. */
static json_t *
delivery(const char *complaint, const char *kind)
{
    json_t *rec = kj_pipeline_record(g_p, complaint);
    json_t *found = NULL;
    json_t *dl = json_object_get(rec, "deliveries");
    for (size_t i = 0; i < json_array_size(dl); i++) {
        json_t *d = json_array_get(dl, i);
        if (strcmp(jstr(d, "kind"), kind) == 0 &&
            strcmp(jstr(d, "status"), "delivered") == 0)
            found = json_incref(d);
    }
    json_decref(rec);
    return found;
}

/* Poll until every story's case has the step (or 20 s pass). */
static void
wait_step(const char *type, const char *clock)
{
    for (size_t k = 0; k < N_STORIES; k++) {
        int64_t deadline = kj_mono_ms() + 20000;
        bool ok = false;
        while (!ok && kj_mono_ms() < deadline) {
            json_t *c = get_case(&s_stories[k]);
            ok = has_step(c, type, clock);
            json_decref(c);
            if (!ok)
                kj_test_sleep_ms(100);
        }
        cr_assert(ok, "%s: no %s %s on the timeline", s_stories[k].lang, type,
                  clock ? clock : "");
    }
}

static void
wait_delivery(const char *complaint, const char *kind)
{
    int64_t deadline = kj_mono_ms() + 20000;
    json_t *d = NULL;
    while (!(d = delivery(complaint, kind)) && kj_mono_ms() < deadline)
        kj_test_sleep_ms(100);
    cr_assert(ne(ptr, d, NULL), "%s: no %s delivered", complaint, kind);
    json_decref(d);
}

/* The router again, its clock offset minutes ahead. */
static void
router_at(long long minutes)
{
    char v[32];
    snprintf(v, sizeof v, "%lld", minutes * MIN);
    kj_proc_t *router = kj_pipeline_proc(g_p, KJ_SVC_ROUTER, 0);
    kj_proc_setenv(router, "KUJO_CLOCK_OFFSET_MS", v);
    cr_assert(eq(int, kj_pipeline_restart(g_p, KJ_SVC_ROUTER, 0), 0));
    cr_assert(eq(int, kj_pipeline_wait_ready(g_p, KJ_SVC_ROUTER, 0, 15000), 0));
}

static void
event(const s_story_t *s, const char *type)
{
    char path[96], body[160];
    snprintf(path, sizeof path, "/v1/cases/%s/events", s->case_id);
    snprintf(body, sizeof body, "{\"type\":\"%s\",\"agent\":\"%s\"%s}", type,
             s->agent,
             strcmp(type, "reply") == 0 ? ",\"public\":false,\"text\":\"ok\""
                                        : "");
    cr_assert(eq(int, call("POST", path, body, NULL), 200), "%s %s", s->lang,
              type);
}

Test(case_life, public_negative_post_from_ack_to_survey_in_ja_and_en)
{
    /* The sink keeps every kind's bodies: the customer's are read below. */
    kj_sink_only_kind(kj_pipeline_sink(g_p), NULL);
    cr_assert(eq(int,
                 call("PUT", "/v1/agents/aiko",
                      "{\"name\":\"Aiko\",\"teams\":[\"social-media\"],"
                      "\"languages\":[\"ja\"],\"capacity\":3}",
                      NULL),
                 201));
    cr_assert(eq(int,
                 call("PUT", "/v1/agents/emma",
                      "{\"name\":\"Emma\",\"teams\":[\"social-media\"],"
                      "\"languages\":[\"en\"],\"capacity\":3}",
                      NULL),
                 201));

    /* Routed to the social desk, filed, assigned by language. */
    for (size_t k = 0; k < N_STORIES; k++) {
        s_story_t *s = &s_stories[k];
        cr_assert(
            eq(int, kj_pipeline_post(g_p, s->post, NULL, s->complaint), 202));
        json_t *rec =
            kj_pipeline_wait_state(g_p, s->complaint, "delivered", 20000);
        cr_assert(ne(ptr, rec, NULL));
        json_t *a = json_object_get(rec, "assignment");
        cr_assert(eq(str, (char *)jstr(a, "team"), "social-media"));
        cr_assert(eq(str, (char *)jstr(a, "assignee"), (char *)s->agent));
        /* The playbook chose the public acknowledgement. */
        json_t *t = json_object_get(rec, "triage");
        cr_assert(
            eq(str, (char *)jstr(a, "ack_template"),
               strcmp(s->lang, "ja") == 0 ? "ack_public_ja" : "ack_public_en"),
            "%s: sentiment %s, category %s", s->lang, jstr(t, "sentiment"),
            jstr(t, "category"));
        kj_strlcpy(s->case_id, jstr(rec, "case_id"), sizeof s->case_id);
        json_decref(rec);
    }

    /* The acknowledgement, delivered within its clock: met. */
    for (size_t k = 0; k < N_STORIES; k++)
        wait_delivery(s_stories[k].complaint, "customer_ack");
    /* What a channel connector needs to answer where they wrote: the
     * customer, the post to answer, in public. */
    for (size_t k = 0; k < N_STORIES; k++) {
        char key[64];
        snprintf(key, sizeof key, "%s:customer_ack", s_stories[k].complaint);
        json_t *b = kj_sink_key_body(kj_pipeline_sink(g_p), key);
        cr_assert(ne(ptr, b, NULL), "%s", key);
        cr_assert(eq(str, (char *)jstr(b, "customer"),
                     k == 0 ? "life-ja" : "life-en"));
        cr_assert(eq(str, (char *)jstr(b, "reply_to"),
                     k == 0 ? "post-ja-1" : "post-en-1"));
        bool in_public = json_is_true(json_object_get(b, "public"));
        cr_assert(in_public);
        json_decref(b);
    }
    for (size_t k = 0; k < N_STORIES; k++) {
        json_t *c = get_case(&s_stories[k]);
        json_t *ack = json_object_get(json_object_get(c, "clocks"), "ack");
        cr_assert(eq(str, (char *)jstr(ack, "state"), "met"), "%s",
                  s_stories[k].lang);
        cr_assert(eq(str, (char *)jstr(c, "priority"), "p2"));
        json_decref(c);
    }

    /* 46 minutes later nobody has answered: the 75 % warning. */
    router_at(46);
    wait_step("sla_warning", "first_response");
    for (size_t k = 0; k < N_STORIES; k++)
        wait_delivery(s_stories[k].complaint, "sla_warning");

    /* 61 minutes: the breach, the priority up, the escalation. */
    router_at(61);
    wait_step("breached", "first_response");
    wait_step("escalation", "first_response");
    for (size_t k = 0; k < N_STORIES; k++) {
        wait_delivery(s_stories[k].complaint, "escalation");
        json_t *c = get_case(&s_stories[k]);
        cr_assert(eq(str, (char *)jstr(c, "priority"), "p1"));
        json_t *fr =
            json_object_get(json_object_get(c, "clocks"), "first_response");
        cr_assert(eq(str, (char *)jstr(fr, "state"), "breached"));
        json_decref(c);
    }

    /* The agent answers and waits on the customer; the customer writes
     * again: the same case, open again, its clocks running again. */
    for (size_t k = 0; k < N_STORIES; k++) {
        event(&s_stories[k], "reply");
        event(&s_stories[k], "pending");
        char again[32];
        cr_assert(eq(
            int, kj_pipeline_post(g_p, s_stories[k].again, NULL, again), 202));
        json_t *rec = kj_pipeline_wait_state(g_p, again, "delivered", 20000);
        cr_assert(ne(ptr, rec, NULL));
        cr_assert(eq(str, (char *)jstr(rec, "case_id"), s_stories[k].case_id));
        json_decref(rec);
        json_t *c = get_case(&s_stories[k]);
        cr_assert(eq(str, (char *)jstr(c, "status"), "open"));
        cr_assert(eq(sz, json_array_size(json_object_get(c, "complaints")), 2));
        json_decref(c);
    }

    /* Resolved: thank-you and survey. */
    for (size_t k = 0; k < N_STORIES; k++)
        event(&s_stories[k], "resolve");
    for (size_t k = 0; k < N_STORIES; k++)
        wait_delivery(s_stories[k].complaint, "survey_request");
    /* The survey answers the customer's latest message, in private. */
    for (size_t k = 0; k < N_STORIES; k++) {
        char key[64];
        snprintf(key, sizeof key, "%s:survey_request:1",
                 s_stories[k].complaint);
        json_t *b = kj_sink_key_body(kj_pipeline_sink(g_p), key);
        cr_assert(ne(ptr, b, NULL), "%s", key);
        cr_assert(eq(str, (char *)jstr(b, "reply_to"),
                     k == 0 ? "post-ja-2" : "post-en-2"));
        bool in_private = json_is_false(json_object_get(b, "public"));
        cr_assert(in_private);
        json_decref(b);
    }

    /* Every step on the timeline, in order, each with its time. */
    const char *steps[] = {"opened",      "customer_ack", "assigned",
                           "sla_warning", "breached",     "escalation",
                           "reply",       "pending",      "status",
                           "message",     "resolve",      "survey_request"};
    for (size_t k = 0; k < N_STORIES; k++) {
        json_t *c = get_case(&s_stories[k]);
        json_t *tl = json_object_get(c, "timeline");
        size_t w = 0;
        for (size_t i = 0; i < json_array_size(tl) && w < KJ_ARRAY_LEN(steps);
             i++) {
            json_t *e = json_array_get(tl, i);
            if (strcmp(jstr(e, "type"), steps[w]) != 0)
                continue;
            cr_assert(json_object_get(e, "at") != NULL &&
                          json_is_string(json_object_get(e, "at")),
                      "%s at", steps[w]);
            w++;
        }
        char seen[512] = "";
        for (size_t i = 0; i < json_array_size(tl); i++) {
            strncat(seen, jstr(json_array_get(tl, i), "type"),
                    sizeof seen - strlen(seen) - 2);
            strncat(seen, " ", sizeof seen - strlen(seen) - 1);
        }
        cr_assert(eq(sz, w, KJ_ARRAY_LEN(steps)),
                  "%s: the timeline lacks %s (in order): %s", s_stories[k].lang,
                  w < KJ_ARRAY_LEN(steps) ? steps[w] : "", seen);
        cr_assert(eq(str, (char *)jstr(c, "status"), "resolved"));
        json_decref(c);
    }
}
