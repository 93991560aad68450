/* Customer e-mail over SMTP, end to end: the real binaries, a real Redis
 * and a real SMTP server (aiosmtpd, tests/support/smtp_sink.py) that
 * stores each message as it was received; every message is parsed back
 * with Python's email package (tests/support/mail_parse.py, policy
 * default). A complaint that came by e-mail gets its customer_ack by
 * mail, in Japanese, threaded onto the customer's message; a server that
 * is down and comes up gets the mail once, after retries; a recipient
 * with CR/LF is refused for good and nothing is sent; AUTH works with
 * the password from KUJO_SMTP_PASSWORD_FILE, and a recipient the server
 * refuses (550) is dead at its first attempt; without KUJO_SMTP_URL the
 * acknowledgement goes to the webhook as before. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kj_harness.h"
#include "kj_outbox.h"
#include "kj_redis.h"
#include "kj_sink.h"
#include "kj_testredis.h"
#include "kj_util.h"

#define S_PY "/usr/bin/python3"
#define S_FROM "care@kujo.example"

static kj_pipeline_t *s_pl;
static kj_proc_t *s_smtp;
static kj_redis_t *s_r;
static char s_dir[256];
static int s_port;

static void
s_down(void)
{
    kj_proc_destroy(&s_smtp);
    kj_redis_destroy(&s_r);
    kj_pipeline_destroy(&s_pl);
    if (s_dir[0]) {
        char cmd[900];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s.log' '%s.pw'", s_dir, s_dir,
                 s_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", s_dir);
    }
}

TestSuite(smtp, .fini = s_down, .timeout = 240);

/* True once something accepts on 127.0.0.1:port. */
static bool
s_listening(int port)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd,
             "exec 3<>/dev/tcp/127.0.0.1/%d 2>/dev/null && exec 3>&-", port);
    char *argv[] = {"bash", "-c", cmd, NULL};
    kj_proc_t *p = kj_proc_start("probe", "/bin/bash", argv, NULL, "/dev/null");
    int st = p ? kj_proc_wait(p, 2000) : -1;
    kj_proc_destroy(&p);
    return st == 0;
}

/* Start the SMTP server on s_port storing into s_dir, with up to four
 * more arguments (--auth USER:PASSWORD, --reject-domain DOMAIN). */
static void
s_smtp_up_with(const char *a, const char *b, const char *c, const char *d)
{
    char port[16], log[300];
    snprintf(port, sizeof port, "%d", s_port);
    snprintf(log, sizeof log, "%s.log", s_dir);
    char *argv[] = {S_PY,      KJ_SOURCE_DIR "/tests/support/smtp_sink.py",
                    port,      s_dir,
                    (char *)a, (char *)b,
                    (char *)c, (char *)d,
                    NULL};
    s_smtp = kj_proc_start("smtp", S_PY, argv, NULL, log);
    cr_assert(s_smtp != NULL);
    for (int w = 0; w < 10000 && !s_listening(s_port); w += 100)
        kj_test_sleep_ms(100);
    cr_assert(s_listening(s_port), "the SMTP server did not start");
}

static void
s_smtp_up(void)
{
    s_smtp_up_with(NULL, NULL, NULL, NULL);
}

/* The pipeline with extra env; the SMTP port and mail directory chosen. */
static void
s_pipeline(const char *const *env, int max_attempts)
{
    kj_pipeline_opts_t o = {.env = env, .max_attempts = max_attempts};
    s_pl = kj_pipeline_new(&o);
    cr_assert(s_pl != NULL, "the pipeline did not start");
    char err[128];
    s_r = kj_redis_new(kj_pipeline_redis(s_pl)->url, 5000, err, sizeof err);
    cr_assert(s_r != NULL, "%s", err);
}

static void
s_pick(void)
{
    s_port = kj_test_free_port();
    snprintf(s_dir, sizeof s_dir, "/tmp/kj-smtp-%d-%d", (int)getpid(), s_port);
}

/* POST a complaint by e-mail in Japanese from address (NULL: none);
 * its id into id. */
static void
s_post(const char *channel, const char *address, const char *customer,
       char id[32])
{
    json_t *c = json_pack("{s:s, s:s}", "id", customer, "name", "山田花子");
    if (address)
        json_object_set_new(c, "email", json_string(address));
    /* The customer's mail's Message-ID, one per customer (ingest drops a
     * repeated external_id as a duplicate). */
    char ext[128];
    snprintf(ext, sizeof ext, "<%s@mail.example.jp>", customer);
    json_t *b = json_pack(
        "{s:s, s:o, s:s, s:s, s:s, s:[s]}", "channel", channel, "customer", c,
        "text",
        "注文した商品がまだ届きません。一週間以上待っていますが、連絡もなく"
        "とても困っています。",
        "subject", "配送について", "external_id", ext, "references",
        "<root-1@mail.example.jp>");
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    int status = kj_pipeline_post(s_pl, body, NULL, id);
    free(body);
    KJ_PL_ASSERT(s_pl, status == 202, "POST answered %d", status);
}

/* Wait for id delivered; its tenant and case into the buffers. */
static void
s_delivered(const char *id, char *tenant, size_t tsize, char *case_id,
            size_t csize)
{
    json_t *rec = kj_pipeline_wait_state(s_pl, id, "delivered", 30000);
    KJ_PL_ASSERT(s_pl, rec != NULL, "%s not delivered", id);
    snprintf(tenant, tsize, "%s",
             json_string_value(json_object_get(rec, "tenant")));
    const char *c = json_string_value(json_object_get(rec, "case_id"));
    snprintf(case_id, csize, "%s", c ? c : "");
    json_decref(rec);
}

/* Messages stored so far. */
static int
s_count_mail(void)
{
    DIR *d = opendir(s_dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".eml") == 0)
            n++;
    }
    closedir(d);
    return n;
}

static bool
s_wait_mail(int n, int timeout_ms)
{
    for (int w = 0; w <= timeout_ms; w += 100) {
        if (s_count_mail() >= n)
            return true;
        kj_test_sleep_ms(100);
    }
    return false;
}

/* Message n (1-based) parsed by Python's email package. */
static json_t *
s_parse(int n)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s %s/tests/support/mail_parse.py %s/%06d.eml",
             S_PY, KJ_SOURCE_DIR, s_dir, n);
    FILE *f = popen(cmd, "r");
    cr_assert(f != NULL);
    json_error_t je;
    json_t *j = json_loadf(f, 0, &je);
    pclose(f);
    cr_assert(j != NULL, "mail_parse: %s", je.text);
    return j;
}

static json_t *
s_envelope(int n)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%06d.json", s_dir, n);
    json_t *j = json_load_file(path, 0, NULL);
    cr_assert(j != NULL);
    return j;
}

static const char *
s_str(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

/* The complaint's deliveries of kind: how many, the last one's status
 * and endpoint. */
static int
s_listed(const char *id, const char *kind, char *status, char *endpoint)
{
    json_t *rec = kj_pipeline_record(s_pl, id);
    cr_assert(rec != NULL);
    int n = 0;
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(rec, "deliveries"), i, d)
    {
        if (strcmp(s_str(d, "kind"), kind) != 0)
            continue;
        n++;
        snprintf(status, 32, "%s", s_str(d, "status"));
        snprintf(endpoint, 128, "%s", s_str(d, "endpoint"));
    }
    json_decref(rec);
    return n;
}

static bool
s_wait_listed(const char *id, const char *kind, int timeout_ms)
{
    char st[32], ep[128];
    for (int w = 0; w <= timeout_ms; w += 100) {
        if (s_listed(id, kind, st, ep) > 0)
            return true;
        kj_test_sleep_ms(100);
    }
    return false;
}

static double
s_metric(const char *name, const char *labels)
{
    double v = -1;
    cr_assert(eq(int,
                 kj_pipeline_metric(s_pl, KJ_SVC_NOTIFIER, 0, name, labels, &v),
                 0),
              "%s{%s} missing", name, labels);
    return v;
}

/* The notifier's log holds no customer address (personal data). */
static void
s_no_address_logged(const char *needle)
{
    const char *path =
        kj_proc_log_path(kj_pipeline_proc(s_pl, KJ_SVC_NOTIFIER, 0));
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL);
    char line[8192];
    while (fgets(line, sizeof line, f))
        cr_assert(eq(ptr, strstr(line, needle), NULL), "logged: %s", line);
    fclose(f);
}

static char s_smtp_env[64];
static const char *s_env_smtp[] = {
    "KUJO_OUTBOX_POLL_MS=100", "KUJO_CIRCUIT_FAILURES=0", s_smtp_env,
    "KUJO_SMTP_FROM=Kujo サポート <" S_FROM ">", NULL};

Test(smtp, an_email_complaint_gets_its_ack_by_mail_threaded_in_japanese)
{
    s_pick();
    snprintf(s_smtp_env, sizeof s_smtp_env, "KUJO_SMTP_URL=smtp://127.0.0.1:%d",
             s_port);
    s_smtp_up();
    s_pipeline(s_env_smtp, 0);
    kj_sink_t *sink = kj_pipeline_sink(s_pl);
    kj_sink_only_kind(sink, NULL);
    char id[32], tenant[128], case_id[32];
    s_post("email", "hanako@example.jp", "c-mail-1", id);
    s_delivered(id, tenant, sizeof tenant, case_id, sizeof case_id);
    KJ_PL_ASSERT(s_pl, s_wait_mail(1, 20000), "no mail arrived");
    KJ_PL_ASSERT(s_pl, s_wait_listed(id, "customer_ack", 5000),
                 "customer_ack not listed");

    json_t *m = s_parse(1);
    char want[256];
    snprintf(want, sizeof want, "お問い合わせを受け付けました（ケース番号 %s）",
             case_id);
    cr_assert(eq(str, (char *)s_str(m, "subject"), want));
    cr_assert(ne(ptr, strstr(s_str(m, "body"), "お問い合わせいただき"), NULL),
              "body: %s", s_str(m, "body"));
    /* The playbook's text as queued (the name is not in it: masked). */
    snprintf(want, sizeof want, "受付番号: %s", case_id);
    cr_assert(ne(ptr, strstr(s_str(m, "body"), want), NULL), "body: %s",
              s_str(m, "body"));
    snprintf(want, sizeof want, "<kujo.%s.customer_ack@kujo.example>", id);
    cr_assert(eq(str, (char *)s_str(m, "message_id"), want));
    cr_assert(
        eq(str, (char *)s_str(m, "in_reply_to"), "<c-mail-1@mail.example.jp>"));
    cr_assert(eq(str, (char *)s_str(m, "references"),
                 "<root-1@mail.example.jp> <c-mail-1@mail.example.jp>"));
    cr_assert(eq(str, (char *)s_str(m, "auto_submitted"), "auto-replied"));
    cr_assert(eq(str, (char *)s_str(m, "from_addr"), S_FROM));
    cr_assert(ne(ptr, strstr(s_str(m, "from"), "Kujo サポート"), NULL), "%s",
              s_str(m, "from"));
    json_t *to = json_object_get(m, "to");
    cr_assert(eq(sz, json_array_size(to), 1));
    cr_assert(eq(str, (char *)json_string_value(json_array_get(to, 0)),
                 "hanako@example.jp"));
    cr_assert(eq(str, (char *)s_str(m, "charset"), "utf-8"));
    cr_assert(eq(str, (char *)s_str(m, "mime_version"), "1.0"));
    bool dated = s_str(m, "date")[0] != '\0';
    cr_assert(dated);
    bool crlf = json_is_true(json_object_get(m, "crlf"));
    cr_assert(crlf, "a line without CRLF");
    cr_assert(eq(sz, json_array_size(json_object_get(m, "defects")), 0));
    json_decref(m);
    json_t *e = s_envelope(1);
    cr_assert(eq(str, (char *)s_str(e, "mail_from"), S_FROM));
    cr_assert(eq(str,
                 (char *)json_string_value(
                     json_array_get(json_object_get(e, "rcpt_tos"), 0)),
                 "hanako@example.jp"));
    cr_assert(eq(sz, json_array_size(json_object_get(e, "rcpt_tos")), 1));
    json_decref(e);

    /* Recorded as delivered by mail; not also sent to the webhook. */
    char st[32], ep[128];
    cr_assert(eq(int, s_listed(id, "customer_ack", st, ep), 1));
    cr_assert(eq(str, st, "delivered"));
    snprintf(want, sizeof want, "smtp://127.0.0.1:%d", s_port);
    cr_assert(eq(str, ep, want));
    char key[64];
    snprintf(key, sizeof key, "%s:customer_ack", id);
    cr_assert(eq(u32, kj_sink_key_count(sink, key), 0));
    cr_assert(eq(dbl,
                 s_metric("kujo_smtp_deliveries_total",
                          "kind=\"customer_ack\",result=\"delivered\""),
                 1.0));
    cr_assert(eq(dbl,
                 s_metric("kujo_deliveries_total",
                          "kind=\"customer_ack\",result=\"delivered\""),
                 1.0));

    /* A chat complaint with no address: its ack goes to the webhook, as
     * without SMTP. */
    char id2[32], t2[128], c2[32];
    s_post("chat", NULL, "c-chat-2", id2);
    s_delivered(id2, t2, sizeof t2, c2, sizeof c2);
    snprintf(key, sizeof key, "%s:customer_ack", id2);
    for (int w = 0; w < 15000 && kj_sink_key_count(sink, key) == 0; w += 100)
        kj_test_sleep_ms(100);
    KJ_PL_ASSERT(s_pl, kj_sink_key_count(sink, key) == 1,
                 "the chat ack did not reach the webhook");
    kj_test_sleep_ms(1000);
    cr_assert(eq(int, s_count_mail(), 1));
    cr_assert(eq(u32, kj_sink_key_count(sink, key), 1));

    /* A survey request owed for the e-mail complaint goes the same way. */
    kj_outbox_t *ob = kj_outbox_new(s_r, kj_pipeline_prefix(s_pl));
    char job[64], payload[512];
    snprintf(job, sizeof job, "%s:survey_request", id);
    snprintf(payload, sizeof payload,
             "{\"kind\":\"survey_request\",\"complaint_id\":\"%s\","
             "\"case_id\":\"%s\",\"tenant\":\"%s\",\"channel\":\"email\","
             "\"language\":\"ja\",\"text\":\"アンケートにご協力ください。\"}",
             id, case_id, tenant);
    cr_assert(eq(int,
                 kj_outbox_put(ob, tenant, job, "survey_request", id, case_id,
                               payload, kj_now_ms()),
                 1));
    kj_outbox_destroy(&ob);
    KJ_PL_ASSERT(s_pl, s_wait_mail(2, 15000), "no survey mail");
    m = s_parse(2);
    snprintf(want, sizeof want, "アンケートへのご協力のお願い（ケース番号 %s）",
             case_id);
    cr_assert(eq(str, (char *)s_str(m, "subject"), want));
    snprintf(want, sizeof want, "<kujo.%s.survey_request@kujo.example>", id);
    cr_assert(eq(str, (char *)s_str(m, "message_id"), want));
    cr_assert(
        eq(str, (char *)s_str(m, "body"), "アンケートにご協力ください。"));
    json_decref(m);
    s_no_address_logged("hanako@");
}

Test(smtp, a_server_down_then_up_gets_the_mail_once_after_retries)
{
    s_pick();
    snprintf(s_smtp_env, sizeof s_smtp_env, "KUJO_SMTP_URL=smtp://127.0.0.1:%d",
             s_port);
    s_pipeline(s_env_smtp, 20);
    char id[32], tenant[128], case_id[32];
    s_post("email", "taro@example.jp", "c-mail-3", id);
    s_delivered(id, tenant, sizeof tenant, case_id, sizeof case_id);
    /* Refused connections: retried, not dead. */
    char job[64];
    snprintf(job, sizeof job, "%s:customer_ack", id);
    bool failed_twice = false;
    for (int w = 0; w < 20000 && !failed_twice; w += 100) {
        redisReply *r =
            kj_redis_command(s_r, "HMGET %s:{t:%s}:ob:%s attempts last_error",
                             kj_pipeline_prefix(s_pl), tenant, job);
        failed_twice = r && r->type == REDIS_REPLY_ARRAY &&
                       r->element[0]->type == REDIS_REPLY_STRING &&
                       atoi(r->element[0]->str) >= 2 &&
                       r->element[1]->type == REDIS_REPLY_STRING &&
                       strstr(r->element[1]->str, "connection refused");
        freeReplyObject(r);
        if (!failed_twice)
            kj_test_sleep_ms(100);
    }
    KJ_PL_ASSERT(s_pl, failed_twice, "the job was not retried");
    double failed = s_metric("kujo_smtp_deliveries_total",
                             "kind=\"customer_ack\",result=\"failed\"");
    cr_assert(ge(dbl, failed, 2.0));
    s_smtp_up();
    KJ_PL_ASSERT(s_pl, s_wait_mail(1, 20000), "no mail after the server came");
    KJ_PL_ASSERT(s_pl, s_wait_listed(id, "customer_ack", 5000), "not listed");
    kj_test_sleep_ms(2000); /* room for a second copy, if there were one */
    cr_assert(eq(int, s_count_mail(), 1));
    json_t *m = s_parse(1);
    char want[128];
    snprintf(want, sizeof want, "<kujo.%s.customer_ack@kujo.example>", id);
    cr_assert(eq(str, (char *)s_str(m, "message_id"), want));
    json_decref(m);
    char st[32], ep[128];
    cr_assert(eq(int, s_listed(id, "customer_ack", st, ep), 1));
    cr_assert(eq(str, st, "delivered"));
    cr_assert(eq(dbl,
                 s_metric("kujo_smtp_deliveries_total",
                          "kind=\"customer_ack\",result=\"delivered\""),
                 1.0));
}

Test(smtp, a_recipient_with_crlf_is_refused_for_good_and_nothing_is_sent)
{
    s_pick();
    snprintf(s_smtp_env, sizeof s_smtp_env, "KUJO_SMTP_URL=smtp://127.0.0.1:%d",
             s_port);
    s_smtp_up();
    s_pipeline(s_env_smtp, 0);
    kj_sink_t *sink = kj_pipeline_sink(s_pl);
    kj_sink_only_kind(sink, NULL);
    char id[32], tenant[128], case_id[32];
    s_post("email", "hanako@example.jp\r\nBcc: victim@attacker.example",
           "c-mail-4", id);
    s_delivered(id, tenant, sizeof tenant, case_id, sizeof case_id);
    char job[64];
    snprintf(job, sizeof job, "%s:customer_ack", id);
    char zkey[256];
    snprintf(zkey, sizeof zkey, "%s:{t:%s}:outbox_dead",
             kj_pipeline_prefix(s_pl), tenant);
    bool dead = false;
    for (int w = 0; w < 15000 && !dead; w += 100) {
        redisReply *z = kj_redis_command(s_r, "ZSCORE %s %s", zkey, job);
        dead = z && z->type == REDIS_REPLY_STRING;
        freeReplyObject(z);
        if (!dead)
            kj_test_sleep_ms(100);
    }
    KJ_PL_ASSERT(s_pl, dead, "%s not dead", job);
    redisReply *r =
        kj_redis_command(s_r, "HMGET %s:{t:%s}:ob:%s last_error attempts",
                         kj_pipeline_prefix(s_pl), tenant, job);
    bool got = r && r->type == REDIS_REPLY_ARRAY &&
               r->element[0]->type == REDIS_REPLY_STRING;
    cr_assert(got);
    cr_assert(ne(ptr, strstr(r->element[0]->str, "CR or LF"), NULL), "%s",
              r->element[0]->str);
    cr_assert(eq(int, atoi(r->element[1]->str), 1), "refused at once");
    freeReplyObject(r);
    kj_test_sleep_ms(1000);
    cr_assert(eq(int, s_count_mail(), 0));
    cr_assert(eq(u32, kj_sink_key_count(sink, job), 0));
    char st[32], ep[128];
    KJ_PL_ASSERT(s_pl, s_wait_listed(id, "customer_ack", 5000), "not listed");
    cr_assert(eq(int, s_listed(id, "customer_ack", st, ep), 1));
    cr_assert(eq(str, st, "failed"));
    cr_assert(eq(dbl,
                 s_metric("kujo_smtp_deliveries_total",
                          "kind=\"customer_ack\",result=\"refused\""),
                 1.0));
    s_no_address_logged("victim@");
}

Test(smtp, without_smtp_email_acks_keep_going_to_the_webhook)
{
    static const char *const env[] = {"KUJO_OUTBOX_POLL_MS=100", NULL};
    s_pipeline(env, 0);
    kj_sink_t *sink = kj_pipeline_sink(s_pl);
    kj_sink_only_kind(sink, NULL);
    char id[32], tenant[128], case_id[32];
    s_post("email", "hanako@example.jp", "c-mail-5", id);
    s_delivered(id, tenant, sizeof tenant, case_id, sizeof case_id);
    char key[64];
    snprintf(key, sizeof key, "%s:customer_ack", id);
    for (int w = 0; w < 15000 && kj_sink_key_count(sink, key) == 0; w += 100)
        kj_test_sleep_ms(100);
    KJ_PL_ASSERT(s_pl, kj_sink_key_count(sink, key) == 1,
                 "the ack did not reach the webhook");
    KJ_PL_ASSERT(s_pl, s_wait_listed(id, "customer_ack", 5000), "not listed");
    char st[32], ep[128];
    cr_assert(eq(int, s_listed(id, "customer_ack", st, ep), 1));
    cr_assert(eq(str, st, "delivered"));
    cr_assert(eq(ptr, strstr(ep, "smtp"), NULL), "%s", ep);
}

Test(smtp, auth_from_a_password_file_and_a_recipient_the_server_refuses)
{
    s_pick();
    snprintf(s_smtp_env, sizeof s_smtp_env, "KUJO_SMTP_URL=smtp://127.0.0.1:%d",
             s_port);
    s_smtp_up_with("--auth", "kujo:s3cret pw", "--reject-domain",
                   "reject.example");
    char pwfile[300], pwenv[320];
    snprintf(pwfile, sizeof pwfile, "%s.pw", s_dir);
    FILE *f = fopen(pwfile, "w");
    cr_assert(f != NULL);
    fputs("s3cret pw\n", f); /* one trailing newline is dropped */
    fclose(f);
    snprintf(pwenv, sizeof pwenv, "KUJO_SMTP_PASSWORD_FILE=%s", pwfile);
    const char *env[] = {"KUJO_OUTBOX_POLL_MS=100",
                         "KUJO_CIRCUIT_FAILURES=0",
                         s_smtp_env,
                         "KUJO_SMTP_FROM=" S_FROM,
                         "KUJO_SMTP_USER=kujo",
                         pwenv,
                         NULL};
    s_pipeline(env, 0);
    char id[32], tenant[128], case_id[32];
    s_post("email", "ok@example.jp", "c-mail-6", id);
    s_delivered(id, tenant, sizeof tenant, case_id, sizeof case_id);
    KJ_PL_ASSERT(s_pl, s_wait_mail(1, 20000), "no mail with AUTH");
    json_t *e = s_envelope(1);
    cr_assert(eq(str, (char *)s_str(e, "login"), "kujo"));
    json_decref(e);
    unlink(pwfile);

    /* 550 to RCPT: dead at the first attempt, no mail. */
    char id2[32], t2[128], c2[32];
    s_post("email", "nobody@reject.example", "c-mail-7", id2);
    s_delivered(id2, t2, sizeof t2, c2, sizeof c2);
    char job[64], zkey[256];
    snprintf(job, sizeof job, "%s:customer_ack", id2);
    snprintf(zkey, sizeof zkey, "%s:{t:%s}:outbox_dead",
             kj_pipeline_prefix(s_pl), t2);
    bool dead = false;
    for (int w = 0; w < 15000 && !dead; w += 100) {
        redisReply *z = kj_redis_command(s_r, "ZSCORE %s %s", zkey, job);
        dead = z && z->type == REDIS_REPLY_STRING;
        freeReplyObject(z);
        if (!dead)
            kj_test_sleep_ms(100);
    }
    KJ_PL_ASSERT(s_pl, dead, "%s not dead", job);
    redisReply *r =
        kj_redis_command(s_r, "HMGET %s:{t:%s}:ob:%s last_error attempts",
                         kj_pipeline_prefix(s_pl), t2, job);
    bool got = r && r->type == REDIS_REPLY_ARRAY &&
               r->element[0]->type == REDIS_REPLY_STRING;
    cr_assert(got);
    cr_assert(ne(ptr, strstr(r->element[0]->str, "SMTP 550"), NULL), "%s",
              r->element[0]->str);
    cr_assert(eq(int, atoi(r->element[1]->str), 1), "no retry after a 550");
    freeReplyObject(r);
    cr_assert(eq(int, s_count_mail(), 1));
    s_no_address_logged("nobody@");
}
