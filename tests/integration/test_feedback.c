/* Surveys end to end (issue 13) on the real pipeline (redis-server with
 * kujo's ACL user, the five binaries, the webhook sink): a case is
 * resolved, the survey_request delivered carries a signed token and the
 * link with it; POST /v1/feedback with NPS 3 and a comment is recorded
 * (202), the comment is triaged as a survey complaint and reopens the
 * customer's case, analytics shows NPS -100. The same answer again is
 * answered the same (200, same comment id); another answer with the
 * token is 409 token_used; a forged token is 401 bad_token and writes
 * nothing; two simultaneous answers with one token record exactly one. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_harness.h"
#include "kj_survey.h"
#include "kj_testredis.h"
#include "kj_util.h"

#define S_SECRET "integration-survey-secret-0123456789"
#define S_BASE "https://survey.example.com/s"

static kj_pipeline_t *g_p;

static void
setup(void)
{
    static const char *const env[] = {"KUJO_SURVEY_SECRET=" S_SECRET,
                                      "KUJO_SURVEY_URL=" S_BASE, NULL};
    kj_pipeline_opts_t o = {.auth_keys = true, .redis_acl = true, .env = env};
    g_p = kj_pipeline_new(&o);
    cr_assert(ne(ptr, g_p, NULL));
    kj_sink_keep_bodies(kj_pipeline_sink(g_p), true);
    kj_sink_only_kind(kj_pipeline_sink(g_p), NULL); /* the survey too */
}

static void
teardown(void)
{
    kj_pipeline_destroy(&g_p);
}

TestSuite(feedback, .init = setup, .fini = teardown, .timeout = 180);

static int
call(const char *method, const char *path, const char *body, json_t **out)
{
    int status = kj_pipeline_call(g_p, method, path, body, out);
    cr_assert(ge(int, status, 0), "%s %s: no answer", method, path);
    return status;
}

static const char *
jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static json_t *
get_case(const char *id)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/cases/%s", id);
    json_t *o = NULL;
    cr_assert(eq(int, call("GET", path, NULL, &o), 200));
    return o;
}

static int
timeline_count(const char *case_id, const char *type)
{
    json_t *c = get_case(case_id);
    json_t *tl = json_object_get(c, "timeline");
    int n = 0;
    for (size_t i = 0; i < json_array_size(tl); i++)
        n += strcmp(jstr(json_array_get(tl, i), "type"), type) == 0;
    json_decref(c);
    return n;
}

/* POST /v1/feedback without an API key (the token is the credential). */
static int
feedback(kj_client_t *client, const char *body, json_t **out)
{
    char url[160];
    snprintf(url, sizeof url, "%s/v1/feedback",
             kj_pipeline_url(g_p, KJ_SVC_INGEST, 0));
    kj_resp_t r;
    memset(&r, 0, sizeof r);
    cr_assert(eq(int, kj_client_post_json(client, url, body, NULL, &r), 0));
    int status = (int)r.status;
    if (out)
        *out = kj_resp_json(&r);
    kj_resp_free(&r);
    return status;
}

static const char *
err_code(const json_t *o)
{
    return jstr(json_object_get(o, "error"), "code");
}

/* The analytics NPS responses of the whole deployment (-1: no answer). */
static json_int_t
nps_responses(json_t **stats_out)
{
    json_t *s = kj_pipeline_stats(g_p);
    json_t *nps = json_object_get(json_object_get(s, "surveys"), "nps");
    json_int_t n =
        nps ? json_integer_value(json_object_get(nps, "responses")) : -1;
    if (stats_out)
        *stats_out = s;
    else
        json_decref(s);
    return n;
}

typedef struct {
    const char *body;
    int status;
} s_racer_t;

static void *
s_race(void *arg)
{
    s_racer_t *r = arg;
    kj_client_t *client = kj_client_new(10000);
    char url[160];
    snprintf(url, sizeof url, "%s/v1/feedback",
             kj_pipeline_url(g_p, KJ_SVC_INGEST, 0));
    kj_resp_t resp;
    memset(&resp, 0, sizeof resp);
    r->status = kj_client_post_json(client, url, r->body, NULL, &resp) == 0
                    ? (int)resp.status
                    : -1;
    kj_resp_free(&resp);
    kj_client_destroy(&client);
    return NULL;
}

Test(feedback, resolve_survey_answer_comment_analytics_and_refusals)
{
    cr_assert(eq(int,
                 call("PUT", "/v1/agents/emma",
                      "{\"name\":\"Emma\",\"teams\":[\"social-media\"],"
                      "\"languages\":[\"en\"],\"capacity\":3}",
                      NULL),
                 201));
    char complaint[32];
    cr_assert(eq(int,
                 kj_pipeline_post(
                     g_p,
                     "{\"channel\":\"facebook\",\"public\":true,\"customer\":"
                     "{\"id\":\"fb-cust\"},\"text\":\"My package never "
                     "arrived. Nobody answers my messages. Terrible "
                     "service.\"}",
                     NULL, complaint),
                 202));
    json_t *rec = kj_pipeline_wait_state(g_p, complaint, "delivered", 20000);
    cr_assert(ne(ptr, rec, NULL));
    char case_id[32], tenant[64];
    kj_strlcpy(case_id, jstr(rec, "case_id"), sizeof case_id);
    kj_strlcpy(tenant, jstr(rec, "tenant"), sizeof tenant);
    json_decref(rec);
    cr_assert(eq(int, (int)strlen(case_id), 20));

    /* Resolved: the survey_request carries the token and the link. */
    char path[96];
    snprintf(path, sizeof path, "/v1/cases/%s/events", case_id);
    cr_assert(eq(
        int,
        call("POST", path, "{\"type\":\"resolve\",\"agent\":\"emma\"}", NULL),
        200));
    char key[96];
    snprintf(key, sizeof key, "%s:survey_request:1", complaint);
    json_t *sr = NULL;
    for (int i = 0; i < 200 && !sr; i++) {
        sr = kj_sink_key_body(kj_pipeline_sink(g_p), key);
        if (!sr)
            kj_test_sleep_ms(100);
    }
    if (!sr) {
        json_t *dbg = get_case(case_id);
        char *d = json_dumps(dbg, JSON_COMPACT);
        json_t *r2 = kj_pipeline_record(g_p, complaint);
        char *d2 = json_dumps(json_object_get(r2, "deliveries"), JSON_COMPACT);
        cr_log_error("case %s\ndeliveries %s", d, d2);
        free(d);
        free(d2);
        json_decref(dbg);
        json_decref(r2);
    }
    cr_assert(ne(ptr, sr, NULL), "no survey_request delivered");
    char token[KJ_SURVEY_TOKEN_MAX + 1];
    kj_strlcpy(token, jstr(sr, "survey_token"), sizeof token);
    cr_assert(gt(sz, strlen(token), 40));
    char want_url[KJ_SURVEY_TOKEN_MAX + 64];
    snprintf(want_url, sizeof want_url, S_BASE "?token=%s", token);
    cr_assert(eq(str, (char *)jstr(sr, "survey_url"), want_url));
    cr_assert(ne(ptr, strstr(jstr(sr, "text"), want_url), NULL),
              "the message's link carries the token: %s", jstr(sr, "text"));
    json_decref(sr);
    kj_survey_claims_t claims;
    cr_assert(
        eq(int,
           kj_survey_token_verify(S_SECRET, strlen(S_SECRET), token,
                                  strlen(token), kj_now_ms() / 1000, &claims),
           KJ_OK));
    cr_assert(eq(str, claims.case_id, case_id));
    cr_assert(eq(str, claims.complaint_id, complaint));
    cr_assert(eq(str, claims.customer, "fb-cust"));

    kj_client_t *client = kj_client_new(10000);
    /* A forged token (one character changed): 401, nothing written. */
    char forged[sizeof token];
    kj_strlcpy(forged, token, sizeof forged);
    forged[10] = forged[10] == 'A' ? 'B' : 'A';
    char body[1024];
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"nps\":0}", forged);
    json_t *ans = NULL;
    cr_assert(eq(int, feedback(client, body, &ans), 401));
    cr_assert(eq(str, (char *)err_code(ans), "bad_token"));
    json_decref(ans);
    cr_assert(eq(int, timeline_count(case_id, "feedback"), 0));

    /* The answer: NPS 3 with a comment. */
    char first[1024];
    snprintf(first, sizeof first,
             "{\"token\":\"%s\",\"nps\":3,\"comment\":\"The refund still "
             "has not arrived and support stopped answering.\","
             "\"lang\":\"en\"}",
             token);
    cr_assert(eq(int, feedback(client, first, &ans), 202));
    char comment_id[32];
    kj_strlcpy(comment_id, jstr(ans, "comment_id"), sizeof comment_id);
    cr_assert(eq(str, (char *)jstr(ans, "kind"), "nps"));
    cr_assert(eq(str, (char *)jstr(ans, "bucket"), "detractor"));
    cr_assert(eq(str, (char *)jstr(ans, "case_id"), case_id));
    cr_assert(eq(int, (int)strlen(comment_id), 20));
    json_decref(ans);

    /* The same answer again: the same result, 200. */
    cr_assert(eq(int, feedback(client, first, &ans), 200));
    cr_assert(eq(str, (char *)jstr(ans, "comment_id"), comment_id));
    json_decref(ans);
    /* Another answer with the used token: 409. */
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"nps\":10}", token);
    cr_assert(eq(int, feedback(client, body, &ans), 409));
    cr_assert(eq(str, (char *)err_code(ans), "token_used"));
    json_decref(ans);

    /* The comment went through triage as a survey complaint, into the
     * customer's case (reopened: it had just been resolved). */
    rec = kj_pipeline_wait_state(g_p, comment_id, "delivered", 20000);
    cr_assert(ne(ptr, rec, NULL));
    cr_assert(eq(str, (char *)jstr(rec, "channel"), "survey"));
    cr_assert(eq(str, (char *)jstr(rec, "case_id"), case_id));
    cr_assert(ne(ptr, json_object_get(rec, "triage"), NULL));
    json_t *fb = json_object_get(rec, "feedback");
    cr_assert(eq(str, (char *)jstr(fb, "kind"), "nps"));
    cr_assert(
        eq(int, (int)json_integer_value(json_object_get(fb, "score")), 3));
    cr_assert(eq(str, (char *)jstr(fb, "case_id"), case_id));
    cr_assert(eq(str, (char *)jstr(fb, "complaint_id"), complaint));
    cr_assert(eq(str, (char *)jstr(json_object_get(rec, "customer"), "id"),
                 "fb-cust"));
    json_decref(rec);
    cr_assert(eq(int, timeline_count(case_id, "feedback"), 1));
    json_t *c = get_case(case_id);
    cr_assert(eq(str, (char *)jstr(c, "status"), "open"));
    json_decref(c);

    /* Analytics: one detractor, NPS -100. */
    json_t *stats = NULL;
    for (int i = 0; i < 100 && nps_responses(NULL) != 1; i++)
        kj_test_sleep_ms(100);
    cr_assert(eq(i64, nps_responses(&stats), 1));
    json_t *nps = json_object_get(json_object_get(stats, "surveys"), "nps");
    cr_assert(
        eq(i64, json_integer_value(json_object_get(nps, "detractors")), 1));
    cr_assert(
        eq(dbl, json_number_value(json_object_get(nps, "score")), -100.0));
    json_t *bt = json_object_get(
        json_object_get(json_object_get(stats, "surveys"), "by_tenant"),
        tenant);
    cr_assert(ne(ptr, bt, NULL), "surveys.by_tenant.%s", tenant);
    cr_assert(eq(i64,
                 json_integer_value(
                     json_object_get(json_object_get(bt, "nps"), "responses")),
                 1));
    json_decref(stats);

    /* Two simultaneous answers with one (fresh) token, different bodies:
     * exactly one recorded, the other 409. */
    kj_survey_claims_t c2 = claims;
    c2.expires_s = kj_now_ms() / 1000 + 3600;
    char token2[KJ_SURVEY_TOKEN_MAX + 1];
    cr_assert(gt(int,
                 kj_survey_token_new(S_SECRET, strlen(S_SECRET), &c2, token2,
                                     sizeof token2),
                 0));
    char b1[1024], b2[1024];
    snprintf(b1, sizeof b1, "{\"token\":\"%s\",\"csat\":5}", token2);
    snprintf(b2, sizeof b2, "{\"token\":\"%s\",\"csat\":1}", token2);
    s_racer_t r[2] = {{.body = b1}, {.body = b2}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        cr_assert(eq(int, pthread_create(&t[i], NULL, s_race, &r[i]), 0));
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    bool one_won = (r[0].status == 202 && r[1].status == 409) ||
                   (r[0].status == 409 && r[1].status == 202);
    cr_assert(one_won, "answers %d and %d", r[0].status, r[1].status);
    stats = NULL;
    nps_responses(&stats);
    json_t *csat = json_object_get(json_object_get(stats, "surveys"), "csat");
    cr_assert(
        eq(i64, json_integer_value(json_object_get(csat, "responses")), 1));
    json_decref(stats);
    cr_assert(eq(int, timeline_count(case_id, "feedback"), 2));
    kj_client_destroy(&client);
}
