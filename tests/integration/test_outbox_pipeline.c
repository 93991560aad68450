/* The outbox end to end: the real binaries and the sink (a webhook
 * receiver that checks signatures). A complaint goes through the pipeline;
 * then a customer acknowledgement and an SLA warning are owed for it with
 * kj_outbox_put, as the router and the playbook owe them. Each reaches the
 * sink signed, with its kind and its job id as the Idempotency-Key, and
 * GET /v1/complaints/{id} lists both after the team alert. A notifier
 * killed with -9 while a job's request is out leaves the job leased; the
 * next notifier sends it again with the same key, and it is recorded
 * once. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_harness.h"
#include "kj_outbox.h"
#include "kj_redis.h"
#include "kj_sink.h"
#include "kj_testredis.h"
#include "kj_util.h"

static kj_pipeline_t *s_pl;
static kj_redis_t *s_r;
static kj_outbox_t *s_o;

static void
s_down(void)
{
    kj_outbox_destroy(&s_o);
    kj_redis_destroy(&s_r);
    kj_pipeline_destroy(&s_pl);
}

TestSuite(outbox_pipeline, .fini = s_down, .timeout = 180);

/* No circuit breaker: a refusing receiver also refuses the router's own
 * acknowledgement for the complaint, and the breaker would then hold the
 * job under test instead of letting it spend its attempts. */
static const char *const s_env[] = {"KUJO_OUTBOX_POLL_MS=100",
                                    "KUJO_CIRCUIT_FAILURES=0", NULL};

/* The pipeline, a delivered complaint (its id, tenant and case), and an
 * outbox on the pipeline's Redis. */
static void
s_up(char id[32], char *tenant, size_t tsize, char *case_id, size_t csize)
{
    kj_pipeline_opts_t o = {.env = s_env};
    s_pl = kj_pipeline_new(&o);
    cr_assert(s_pl != NULL, "the pipeline did not start");
    char *body = kj_test_complaint("x", "c-ob", "gold",
                                   "The app crashes every time I open the "
                                   "order history screen.",
                                   NULL);
    int status = kj_pipeline_post(s_pl, body, "ob-1", id);
    free(body);
    KJ_PL_ASSERT(s_pl, status == 202, "POST answered %d", status);
    json_t *rec = kj_pipeline_wait_state(s_pl, id, "delivered", 30000);
    KJ_PL_ASSERT(s_pl, rec != NULL, "%s not delivered", id);
    const char *t = json_string_value(json_object_get(rec, "tenant"));
    const char *c = json_string_value(json_object_get(rec, "case_id"));
    cr_assert(t && *t);
    snprintf(tenant, tsize, "%s", t);
    snprintf(case_id, csize, "%s", c ? c : "");
    json_decref(rec);
    char err[128];
    s_r = kj_redis_new(kj_pipeline_redis(s_pl)->url, 5000, err, sizeof err);
    cr_assert(s_r != NULL, "%s", err);
    s_o = kj_outbox_new(s_r, kj_pipeline_prefix(s_pl));
}

/* Owe kind for complaint id, due now. */
static void
s_owe(const char *id, const char *tenant, const char *case_id, const char *kind)
{
    char job[64], payload[512];
    snprintf(job, sizeof job, "%s:%s", id, kind);
    bool customer = kj_outbox_kind_customer(kind);
    snprintf(payload, sizeof payload,
             "{\"kind\":\"%s\",\"complaint_id\":\"%s\",\"case_id\":\"%s\","
             "\"tenant\":\"%s\",\"team\":\"care-en\",\"channel\":\"x\","
             "\"language\":\"en\",\"priority\":\"p2\",%s}",
             kind, id, case_id, tenant,
             customer ? "\"text\":\"Thanks, we are on it.\""
                      : "\"to\":\"a-1\",\"due_at_ms\":1");
    cr_assert(eq(int,
                 kj_outbox_put(s_o, tenant, job, kind, id, case_id, payload,
                               kj_now_ms()),
                 1));
}

/* Wait until key reached the sink n times. */
static bool
s_wait_key(const char *key, unsigned n, int timeout_ms)
{
    kj_sink_t *sink = kj_pipeline_sink(s_pl);
    kj_sink_only_kind(sink, NULL); /* the outbox kinds are the point */
    for (int w = 0; w <= timeout_ms; w += 50) {
        if (kj_sink_key_count(sink, key) >= n)
            return true;
        kj_test_sleep_ms(50);
    }
    return false;
}

/* The record's deliveries of kind: how many, and the status of the last. */
static int
s_listed(const char *id, const char *kind, const char **status_out,
         json_t **rec_out)
{
    json_t *rec = kj_pipeline_record(s_pl, id);
    cr_assert(rec != NULL);
    json_t *ds = json_object_get(rec, "deliveries");
    int n = 0;
    size_t i;
    json_t *d;
    json_array_foreach(ds, i, d)
    {
        if (strcmp(json_string_value(json_object_get(d, "kind")), kind) == 0) {
            n++;
            *status_out = json_string_value(json_object_get(d, "status"));
        }
    }
    *rec_out = rec;
    return n;
}

static bool
s_wait_listed(const char *id, const char *kind, int timeout_ms)
{
    for (int w = 0; w <= timeout_ms; w += 100) {
        const char *st = NULL;
        json_t *rec = NULL;
        int n = s_listed(id, kind, &st, &rec);
        json_decref(rec);
        if (n > 0)
            return true;
        kj_test_sleep_ms(100);
    }
    return false;
}

Test(outbox_pipeline, owed_jobs_arrive_signed_once_and_are_listed)
{
    char id[32], tenant[128], case_id[32];
    s_up(id, tenant, sizeof tenant, case_id, sizeof case_id);
    s_owe(id, tenant, case_id, "survey_request");
    s_owe(id, tenant, case_id, "sla_warning");
    /* Owing again changes nothing. (survey_request is the customer-facing
     * kind here: the router owes this complaint its own customer_ack.) */
    char job[64];
    snprintf(job, sizeof job, "%s:survey_request", id);
    cr_assert(eq(int,
                 kj_outbox_put(s_o, tenant, job, "survey_request", id, case_id,
                               "{}", kj_now_ms()),
                 0));

    kj_sink_t *sink = kj_pipeline_sink(s_pl);
    kj_sink_only_kind(sink, NULL); /* the outbox kinds are the point */
    static const char *const kinds[] = {"survey_request", "sla_warning"};
    for (size_t k = 0; k < 2; k++) {
        char key[64];
        snprintf(key, sizeof key, "%s:%s", id, kinds[k]);
        KJ_PL_ASSERT(s_pl, s_wait_key(key, 1, 15000), "%s never arrived", key);
        KJ_PL_ASSERT(s_pl, s_wait_listed(id, kinds[k], 5000), "%s not listed",
                     key);
    }
    /* Time for a duplicate to show up if there were one. */
    kj_test_sleep_ms(1000);
    for (size_t k = 0; k < 2; k++) {
        char key[64];
        snprintf(key, sizeof key, "%s:%s", id, kinds[k]);
        cr_assert(eq(u32, kj_sink_key_count(sink, key), 1), "%s", key);
        cr_assert(eq(u32, kj_sink_key_signed(sink, key), 1), "%s", key);
        json_t *b = kj_sink_key_body(sink, key);
        cr_assert(b != NULL);
        cr_assert(eq(str, (char *)json_string_value(json_object_get(b, "kind")),
                     (char *)kinds[k]));
        cr_assert(eq(
            str, (char *)json_string_value(json_object_get(b, "job_id")), key));
        cr_assert(eq(
            str, (char *)json_string_value(json_object_get(b, "complaint_id")),
            id));
        json_decref(b);
        const char *st = NULL;
        json_t *rec = NULL;
        cr_assert(eq(int, s_listed(id, kinds[k], &st, &rec), 1), "%s", key);
        cr_assert(eq(str, (char *)st, "delivered"));
        json_decref(rec);
    }
    kj_sink_stats_t s;
    kj_sink_stats(sink, &s);
    cr_assert(eq(u64, s.bad_signature, 0));
    cr_assert(eq(u64, s.key_mismatch, 0));
    /* The team alert is still there, first. */
    const char *st = NULL;
    json_t *rec = NULL;
    cr_assert(eq(int, s_listed(id, "team_alert", &st, &rec), 1));
    const char *first = json_string_value(json_object_get(
        json_array_get(json_object_get(rec, "deliveries"), 0), "kind"));
    cr_assert(eq(str, (char *)first, "team_alert"));
    json_decref(rec);
    /* The metrics count the new kinds. */
    double v = 0;
    cr_assert(eq(
        int,
        kj_pipeline_metric(s_pl, KJ_SVC_NOTIFIER, 0, "kujo_deliveries_total",
                           "kind=\"survey_request\",result=\"delivered\"", &v),
        0));
    cr_assert(eq(dbl, v, 1.0));
    cr_assert(
        eq(int,
           kj_pipeline_metric(s_pl, KJ_SVC_NOTIFIER, 0, "kujo_deliveries_total",
                              "kind=\"escalation\",result=\"failed\"", &v),
           0));
    cr_assert(eq(dbl, v, 0.0));
}

Test(outbox_pipeline, a_notifier_killed_mid_request_sends_again_same_key)
{
    char id[32], tenant[128], case_id[32];
    s_up(id, tenant, sizeof tenant, case_id, sizeof case_id);
    kj_sink_t *sink = kj_pipeline_sink(s_pl);
    kj_sink_only_kind(sink, NULL); /* the outbox kinds are the point */
    /* The answer comes after the notifier is gone. */
    kj_sink_set_delay_ms(sink, 1500);
    s_owe(id, tenant, case_id, "survey_request");
    char key[64];
    snprintf(key, sizeof key, "%s:survey_request", id);
    KJ_PL_ASSERT(s_pl, s_wait_key(key, 1, 15000), "%s never arrived", key);
    cr_assert(eq(int, kj_pipeline_kill9(s_pl, KJ_SVC_NOTIFIER, 0), 0));
    kj_sink_set_delay_ms(sink, 0);
    cr_assert(eq(int, kj_pipeline_restart(s_pl, KJ_SVC_NOTIFIER, 0), 0));
    /* After the lease the next notifier sends it again, same key. */
    KJ_PL_ASSERT(s_pl, s_wait_key(key, 2, 20000), "%s not sent again", key);
    KJ_PL_ASSERT(s_pl, s_wait_listed(id, "survey_request", 5000),
                 "%s not listed", key);
    kj_test_sleep_ms(1000);
    cr_assert(eq(u32, kj_sink_key_count(sink, key), 2));
    cr_assert(eq(u32, kj_sink_key_signed(sink, key), 2));
    const char *st = NULL;
    json_t *rec = NULL;
    cr_assert(eq(int, s_listed(id, "survey_request", &st, &rec), 1));
    cr_assert(eq(str, (char *)st, "delivered"));
    json_decref(rec);
}

Test(outbox_pipeline, a_refusing_receiver_makes_the_job_dead_and_listed_failed)
{
    char id[32], tenant[128], case_id[32];
    s_up(id, tenant, sizeof tenant, case_id, sizeof case_id);
    kj_sink_t *sink = kj_pipeline_sink(s_pl);
    kj_sink_only_kind(sink, NULL); /* the outbox kinds are the point */
    kj_sink_set_status(sink, 500);
    s_owe(id, tenant, case_id, "escalation");
    char key[64];
    snprintf(key, sizeof key, "%s:escalation", id);
    /* KUJO_MAX_ATTEMPTS (5) tries, then dead, recorded once as failed. */
    KJ_PL_ASSERT(s_pl, s_wait_key(key, 5, 20000), "%s: %u tries", key,
                 kj_sink_key_count(sink, key));
    KJ_PL_ASSERT(s_pl, s_wait_listed(id, "escalation", 5000), "%s not listed",
                 key);
    kj_test_sleep_ms(1500);
    cr_assert(eq(u32, kj_sink_key_count(sink, key), 5));
    const char *st = NULL;
    json_t *rec = NULL;
    cr_assert(eq(int, s_listed(id, "escalation", &st, &rec), 1));
    cr_assert(eq(str, (char *)st, "failed"));
    json_decref(rec);
    char zkey[256];
    snprintf(zkey, sizeof zkey, "%s:{t:%s}:outbox_dead",
             kj_pipeline_prefix(s_pl), tenant);
    redisReply *z = kj_redis_command(s_r, "ZSCORE %s %s", zkey, key);
    cr_assert(z && z->type == REDIS_REPLY_STRING, "%s not in %s", key, zkey);
    freeReplyObject(z);
    z = kj_redis_command(s_r, "HGET %s:{t:%s}:ob:%s last_error",
                         kj_pipeline_prefix(s_pl), tenant, key);
    cr_assert(z && z->type == REDIS_REPLY_STRING);
    cr_assert(ne(ptr, strstr(z->str, "HTTP 500"), NULL), "%s", z->str);
    freeReplyObject(z);
    double v = 0;
    cr_assert(
        eq(int,
           kj_pipeline_metric(s_pl, KJ_SVC_NOTIFIER, 0, "kujo_deliveries_total",
                              "kind=\"escalation\",result=\"failed\"", &v),
           0));
    cr_assert(eq(dbl, v, 5.0));
}
