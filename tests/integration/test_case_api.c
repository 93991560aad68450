/* The case, agent and customer endpoints on the real pipeline
 * (redis-server, the five binaries, API keys checked): an agent put on the
 * roster, a public negative Japanese post routed, filed in a case and
 * assigned to them, the agent's actions through POST /v1/cases/{id}/events
 * (first reply, pending, the customer writing again into the same case,
 * resolve), the refusals with their stable codes, and the customer's
 * history. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_apikey.h"
#include "kj_harness.h"
#include "kj_redis.h"
#include "kj_testredis.h"
#include "kj_util.h"

static kj_pipeline_t *g_p;

static void
setup(void)
{
    kj_pipeline_opts_t o = {.auth_keys = true};
    g_p = kj_pipeline_new(&o);
    cr_assert(ne(ptr, g_p, NULL));
}

static void
teardown(void)
{
    kj_pipeline_destroy(&g_p);
}

TestSuite(case_api, .init = setup, .fini = teardown, .timeout = 120);

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

static const char *
error_code(json_t *o)
{
    return jstr(json_object_get(o, "error"), "code");
}

static const char s_post[] =
    "{\"channel\":\"x\",\"public\":true,\"customer\":{\"id\":\"cust-ja-1\"},"
    "\"text\":\"荷物が届かない。最悪です。返事もない。\"}";

/* Post a complaint and wait until it is delivered; its record. */
static json_t *
delivered(const char *json)
{
    char id[32];
    int st = kj_pipeline_post(g_p, json, NULL, id);
    cr_assert(st == 202 || st == 200, "post: %d", st);
    json_t *rec = kj_pipeline_wait_state(g_p, id, "delivered", 20000);
    cr_assert(ne(ptr, rec, NULL));
    return rec;
}

static void
event(const char *case_id, const char *body, int want_status,
      const char *want_code)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/cases/%s/events", case_id);
    json_t *o = NULL;
    int st = call("POST", path, body, &o);
    cr_assert(eq(int, st, want_status), "%s -> %d", body, st);
    if (want_code)
        cr_assert(eq(str, (char *)error_code(o), (char *)want_code), "%s",
                  body);
    json_decref(o);
}

Test(case_api, the_life_of_a_case)
{
    json_t *o = NULL;
    cr_assert(eq(int,
                 call("PUT", "/v1/agents/aiko",
                      "{\"name\":\"Aiko\",\"teams\":[\"social-media\"],"
                      "\"languages\":[\"ja\",\"en\"],\"skills\":[],"
                      "\"capacity\":2,\"status\":\"online\"}",
                      &o),
                 201));
    cr_assert(eq(str, (char *)jstr(o, "status"), "online"));
    json_decref(o);
    /* Replacing answers 200. */
    cr_assert(eq(int,
                 call("PUT", "/v1/agents/aiko",
                      "{\"name\":\"Aiko S\",\"teams\":[\"social-media\"],"
                      "\"languages\":[\"ja\",\"en\"],\"capacity\":2}",
                      NULL),
                 200));

    json_t *rec = delivered(s_post);
    const char *case_id = jstr(rec, "case_id");
    cr_assert(eq(sz, strlen(case_id), 20), "the record has a case_id");
    json_t *a = json_object_get(rec, "assignment");
    cr_assert(eq(str, (char *)jstr(a, "team"), "social-media"));
    cr_assert(eq(str, (char *)jstr(a, "assignee"), "aiko"));
    char cid[32];
    kj_strlcpy(cid, case_id, sizeof cid);
    json_decref(rec);

    char path[128];
    snprintf(path, sizeof path, "/v1/cases/%s", cid);
    cr_assert(eq(int, call("GET", path, NULL, &o), 200));
    cr_assert(eq(str, (char *)jstr(o, "status"), "open"));
    cr_assert(eq(str, (char *)jstr(o, "assignee"), "aiko"));
    cr_assert(eq(str, (char *)jstr(o, "team"), "social-media"));
    cr_assert(eq(sz, json_array_size(json_object_get(o, "complaints")), 1));
    json_t *clocks = json_object_get(o, "clocks");
    cr_assert(eq(
        str, (char *)jstr(json_object_get(clocks, "first_response"), "state"),
        "running"));
    cr_assert(ne(ptr, json_object_get(clocks, "ack"), NULL));
    cr_assert(ge(sz, json_array_size(json_object_get(o, "timeline")), 2));
    json_decref(o);

    event(cid,
          "{\"type\":\"reply\",\"agent\":\"aiko\",\"public\":true,"
          "\"text\":\"ご不便をおかけし申し訳ございません。\"}",
          200, NULL);
    event(cid, "{\"type\":\"pending\",\"agent\":\"aiko\"}", 200, NULL);
    event(cid, "{\"type\":\"pending\",\"agent\":\"aiko\"}", 409,
          "illegal_transition");
    /* The customer writes again: the same case, open again. */
    json_t *again = delivered(s_post);
    cr_assert(eq(str, (char *)jstr(again, "case_id"), cid));
    json_decref(again);
    cr_assert(eq(int, call("GET", path, NULL, &o), 200));
    cr_assert(eq(str, (char *)jstr(o, "status"), "open"));
    cr_assert(eq(sz, json_array_size(json_object_get(o, "complaints")), 2));
    json_t *fr =
        json_object_get(json_object_get(o, "clocks"), "first_response");
    cr_assert(eq(str, (char *)jstr(fr, "state"), "met"));
    json_decref(o);

    event(cid, "{\"type\":\"resolve\",\"agent\":\"aiko\"}", 200, NULL);
    event(cid, "{\"type\":\"resolve\",\"agent\":\"aiko\"}", 409,
          "illegal_transition");
    event(cid, "{\"type\":\"note\",\"agent\":\"ghost\"}", 404, "no_such_agent");
    event("00000000000000000000", "{\"type\":\"note\",\"agent\":\"aiko\"}", 404,
          "no_such_case");
    event(cid, "{\"type\":\"dance\",\"agent\":\"aiko\"}", 400, "invalid_value");
    event(cid, "{\"type\":\"note\",\"agent\":\"aiko\",\"mood\":1}", 400,
          "unknown_field");
    event(cid, "{\"type\":\"note\"}", 400, "missing_field");
    event(cid, "{\"type\":\"note\",\"agent\":\"aiko\",\"public\":\"yes\"}", 400,
          "wrong_type");
    event(cid, "not json", 400, "invalid_json");

    cr_assert(eq(int, call("GET", path, NULL, &o), 200));
    cr_assert(eq(str, (char *)jstr(o, "status"), "resolved"));
    json_t *tl = json_object_get(o, "timeline");
    const char *want[] = {"opened", "assigned", "reply",  "pending",
                          "status", "message",  "resolve"};
    size_t w = 0;
    for (size_t i = 0; i < json_array_size(tl) && w < KJ_ARRAY_LEN(want); i++)
        if (strcmp(jstr(json_array_get(tl, i), "type"), want[w]) == 0) {
            cr_assert(
                ne(ptr, json_object_get(json_array_get(tl, i), "at"), NULL));
            w++;
        }
    cr_assert(eq(sz, w, KJ_ARRAY_LEN(want)), "timeline in order (%zu)", w);
    json_decref(o);

    cr_assert(eq(int, call("GET", "/v1/customers/cust-ja-1", NULL, &o), 200));
    cr_assert(eq(sz, json_array_size(json_object_get(o, "cases")), 1));
    cr_assert(eq(sz, json_array_size(json_object_get(o, "complaints")), 2));
    cr_assert(eq(sz, json_array_size(json_object_get(o, "trajectory")), 2));
    json_decref(o);
    cr_assert(eq(int, call("GET", "/v1/customers/nobody", NULL, &o), 404));
    cr_assert(eq(str, (char *)error_code(o), "no_such_customer"));
    json_decref(o);

    cr_assert(eq(int, call("GET", "/v1/agents", NULL, &o), 200));
    json_t *agents = json_object_get(o, "agents");
    cr_assert(eq(sz, json_array_size(agents), 1));
    cr_assert(
        eq(str, (char *)jstr(json_array_get(agents, 0), "name"), "Aiko S"));
    cr_assert(eq(
        int,
        json_integer_value(json_object_get(json_array_get(agents, 0), "load")),
        0));
    json_decref(o);
    cr_assert(eq(
        int,
        call("POST", "/v1/agents/aiko/status", "{\"status\":\"offline\"}", &o),
        200));
    cr_assert(eq(str, (char *)jstr(o, "status"), "offline"));
    json_decref(o);
}

Test(case_api, bad_requests_and_scopes)
{
    json_t *o = NULL;
    cr_assert(eq(int, call("GET", "/v1/cases/nope", NULL, &o), 404));
    cr_assert(eq(str, (char *)error_code(o), "no_such_case"));
    json_decref(o);
    cr_assert(eq(int, call("GET", "/v1/agents/nobody", NULL, &o), 404));
    cr_assert(eq(str, (char *)error_code(o), "no_such_agent"));
    json_decref(o);
    cr_assert(eq(int, call("DELETE", "/v1/agents/x", "{}", &o), 405));
    json_decref(o);
    cr_assert(eq(int, call("GET", "/v1/cases", NULL, &o), 404));
    json_decref(o);
    const char *bad[][2] = {
        {"{\"teams\":[],\"capacity\":1}", "invalid_value"},
        {"{\"teams\":[\"a b\"],\"capacity\":1}", "invalid_value"},
        {"{\"teams\":[\"a\",\"a\"],\"capacity\":1}", "invalid_value"},
        {"{\"teams\":[\"a\"]}", "missing_field"},
        {"{\"teams\":[\"a\"],\"capacity\":-1}", "invalid_value"},
        {"{\"teams\":[\"a\"],\"capacity\":1.5}", "invalid_value"},
        {"{\"teams\":[\"a\"],\"capacity\":1,\"status\":\"asleep\"}",
         "invalid_value"},
        {"{\"teams\":\"a\",\"capacity\":1}", "wrong_type"},
        {"{\"teams\":[\"a\"],\"capacity\":1,\"boss\":true}", "unknown_field"},
        {"[]", "wrong_type"},
    };
    for (size_t i = 0; i < KJ_ARRAY_LEN(bad); i++) {
        cr_assert(eq(int, call("PUT", "/v1/agents/x", bad[i][0], &o), 400),
                  "%s", bad[i][0]);
        cr_assert(eq(str, (char *)error_code(o), (char *)bad[i][1]), "%s",
                  bad[i][0]);
        json_decref(o);
    }
    /* No key: 401; a key without the agents scope: 403. */
    kj_client_t *anon = kj_client_new(5000);
    char url[256];
    snprintf(url, sizeof url, "%s/v1/agents",
             kj_pipeline_url(g_p, KJ_SVC_INGEST, 0));
    kj_resp_t r = {0};
    cr_assert(eq(int, kj_client_get(anon, url, &r), 0));
    cr_assert(eq(int, (int)r.status, 401));
    kj_resp_free(&r);
    char err[256], key[KJ_APIKEY_LEN + 1];
    kj_apikey_info_t info;
    kj_redis_t *redis =
        kj_redis_new(kj_pipeline_redis(g_p)->url, 2000, err, sizeof err);
    cr_assert(eq(int,
                 kj_apikey_create(redis, kj_pipeline_prefix(g_p), "default",
                                  KJ_SCOPE_COMPLAINTS_READ, "reader", 0,
                                  kj_now_ms(), key, &info, err, sizeof err),
                 0),
              "%s", err);
    kj_redis_destroy(&redis);
    kj_client_set_api_key(anon, key);
    cr_assert(eq(int, kj_client_get(anon, url, &r), 0));
    cr_assert(eq(int, (int)r.status, 403));
    kj_resp_free(&r);
    /* The roster needs admin, not only agents. */
    cr_assert(eq(int, kj_client_send_json(anon, "PUT", url, "{}", &r), 0));
    cr_assert(eq(int, (int)r.status, 405), "PUT on the collection");
    kj_resp_free(&r);
    kj_client_destroy(&anon);
}

/* Hostile input on the case and agent endpoints, each with its exact
 * answer: nothing is written, nothing leaks across tenants. */
Test(case_api, hostile_inputs)
{
    json_t *o = NULL;
    cr_assert(eq(int,
                 call("PUT", "/v1/agents/ann",
                      "{\"teams\":[\"care-en\"],\"capacity\":2}", NULL),
                 201));
    /* A huge body: 413 before it is parsed. */
    size_t big = 200 * 1024;
    char *huge = kj_malloc(big + 64);
    int n = snprintf(huge, 64, "{\"teams\":[\"care-en\"],\"name\":\"");
    memset(huge + n, 'a', big);
    strcpy(huge + n + big, "\",\"capacity\":1}");
    cr_assert(eq(int, call("PUT", "/v1/agents/ann", huge, &o), 413));
    cr_assert(eq(str, (char *)error_code(o), "body_too_large"));
    json_decref(o);
    free(huge);
    const struct {
        const char *method, *path, *body;
        int status;
        const char *code;
    } cases[] = {
        /* NUL inside a string: jansson refuses it unless allowed. */
        {"PUT", "/v1/agents/ann",
         "{\"teams\":[\"care-en\"],\"name\":\"a\\u0000b\",\"capacity\":1}", 400,
         "invalid_json"},
        /* A control character in a name list entry. */
        {"PUT", "/v1/agents/ann",
         "{\"teams\":[\"care\\u0007en\"],\"capacity\":1}", 400,
         "invalid_value"},
        /* A control character or a slash in an agent id. */
        {"PUT", "/v1/agents/a%07b", "{\"teams\":[\"x\"],\"capacity\":1}", 400,
         "invalid_value"},
        {"GET", "/v1/agents/a%00b", NULL, 404, "no_such_agent"},
        {"GET", "/v1/customers/a%01b", NULL, 404, "no_such_customer"},
        /* Malformed and truncated JSON, wrong top-level type. */
        {"POST", "/v1/agents/ann/status", "{\"status\":", 400, "invalid_json"},
        {"POST", "/v1/agents/ann/status", "\"online\"", 400, "invalid_json"},
        {"POST", "/v1/agents/ann/status", "[\"online\"]", 400, "wrong_type"},
        {"POST", "/v1/agents/ann/status",
         "{\"status\":\"online\",\"status\":"
         "\"away\"}",
         400, "invalid_json"},
        {"POST", "/v1/cases/00000000000000000000/events",
         "{\"type\":\"note\",\"agent\":\"ann\",\"text\":7}", 400, "wrong_type"},
        /* Ids that cannot be ids. */
        {"POST", "/v1/cases/zz/events", "{\"type\":\"note\",\"agent\":\"ann\"}",
         404, "no_such_case"},
        {"GET", "/v1/cases/00000000000000000000/events", NULL, 405,
         "method_not_allowed"},
        {"POST", "/v1/agents/nobody/status", "{\"status\":\"online\"}", 404,
         "no_such_agent"},
    };
    for (size_t i = 0; i < KJ_ARRAY_LEN(cases); i++) {
        cr_assert(eq(int,
                     call(cases[i].method, cases[i].path, cases[i].body, &o),
                     cases[i].status),
                  "%s %s %s", cases[i].method, cases[i].path,
                  cases[i].body ? cases[i].body : "");
        cr_assert(eq(str, (char *)error_code(o), (char *)cases[i].code),
                  "%s %s %s", cases[i].method, cases[i].path,
                  cases[i].body ? cases[i].body : "");
        json_decref(o);
    }
    /* The agent is as it was: nothing above wrote. */
    cr_assert(eq(int, call("GET", "/v1/agents/ann", NULL, &o), 200));
    cr_assert(eq(int, json_integer_value(json_object_get(o, "capacity")), 2));
    json_decref(o);

    /* Another tenant's key sees none of this tenant's agents, cases or
     * customers, and cannot act on them. */
    json_t *rec = delivered(s_post);
    char cid[32];
    kj_strlcpy(cid, jstr(rec, "case_id"), sizeof cid);
    json_decref(rec);
    char err[256], key[KJ_APIKEY_LEN + 1];
    kj_apikey_info_t info;
    kj_redis_t *redis =
        kj_redis_new(kj_pipeline_redis(g_p)->url, 2000, err, sizeof err);
    cr_assert(eq(int,
                 kj_apikey_create(redis, kj_pipeline_prefix(g_p), "other",
                                  KJ_SCOPE_AGENTS | KJ_SCOPE_ADMIN, "other", 0,
                                  kj_now_ms(), key, &info, err, sizeof err),
                 0),
              "%s", err);
    kj_redis_destroy(&redis);
    kj_client_t *other = kj_client_new(5000);
    kj_client_set_api_key(other, key);
    const char *base = kj_pipeline_url(g_p, KJ_SVC_INGEST, 0);
    char url[256];
    kj_resp_t r = {0};
    snprintf(url, sizeof url, "%s/v1/cases/%s", base, cid);
    cr_assert(eq(int, kj_client_get(other, url, &r), 0));
    cr_assert(eq(int, (int)r.status, 404));
    kj_resp_free(&r);
    snprintf(url, sizeof url, "%s/v1/cases/%s/events", base, cid);
    cr_assert(
        eq(int,
           kj_client_send_json(other, "POST", url,
                               "{\"type\":\"resolve\",\"agent\":\"ann\"}", &r),
           0));
    cr_assert(eq(int, (int)r.status, 404));
    kj_resp_free(&r);
    snprintf(url, sizeof url, "%s/v1/agents/ann", base);
    cr_assert(eq(int, kj_client_get(other, url, &r), 0));
    cr_assert(eq(int, (int)r.status, 404));
    kj_resp_free(&r);
    snprintf(url, sizeof url, "%s/v1/customers/cust-ja-1", base);
    cr_assert(eq(int, kj_client_get(other, url, &r), 0));
    cr_assert(eq(int, (int)r.status, 404));
    kj_resp_free(&r);
    kj_client_destroy(&other);
    /* Still open for its own tenant. */
    char path[96];
    snprintf(path, sizeof path, "/v1/cases/%s", cid);
    cr_assert(eq(int, call("GET", path, NULL, &o), 200));
    cr_assert(eq(str, (char *)jstr(o, "status"), "open"));
    json_decref(o);
}
