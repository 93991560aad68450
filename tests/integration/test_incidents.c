/* Proactive notice (issue 18), end to end: the real binaries as the Redis
 * ACL user, a real SMTP server (tests/support/smtp_sink.py) and the
 * webhook sink as the LINE connector and as KUJO_WEBHOOK_URL. 500
 * customers complain through ingest (e-mail with an address, LINE, web
 * form); an operator opens an incident on analytics naming the category
 * most of their cases got plus, listed, the customers whose case got
 * another; the notifier is killed with -9 mid-broadcast and started
 * again. Exactly 500 incident_notice keys arrive (a repeat is only ever
 * the same key again), each in the customer's language, and no channel
 * gets more than its KUJO_NOTICE_RATE (measured over every 1-s window at
 * the receivers, logged). Resolving owes the same 500 an
 * incident_resolved. GET /v1/incidents and /v1/incidents/{id} show it. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "analytics_incident.h"
#include "kj_harness.h"
#include "kj_redis.h"
#include "kj_sink.h"
#include "kj_testredis.h"
#include "kj_util.h"

#define S_PY "/usr/bin/python3"
#define S_N 500         /* customers */
#define S_RATE_EMAIL 40 /* KUJO_NOTICE_RATE */
#define S_RATE_LINE 40
#define S_RATE_WEB 60
#define S_POLL_MS 100 /* KUJO_OUTBOX_POLL_MS */
/* The limiter holds the rate when notices are sent; the receivers time
 * them when they arrive, and a slow transfer (an SMTP transaction under
 * a sanitizer) can carry a few sent in one second into the next: a fifth
 * of the rate is allowed for that (seen: 47 at 40/s + 4 under ASan). */
#define S_JITTER(rate) ((rate) / 5)
#define S_MAX_SEEN 4096

static const char *const s_channels[] = {"email", "line", "web"};
static const int s_rates[] = {S_RATE_EMAIL, S_RATE_LINE, S_RATE_WEB};

/* What the sink saw of incident kinds: each key once, its first arrival
 * (ms, wall clock), its channel, and how often it came. */
typedef struct {
    char key[128];
    char kind[32];
    int channel; /* index in s_channels */
    int64_t at_ms;
    int count;
    bool text_ok; /* the text is the message in the customer's language */
} s_seen_t;

static pthread_mutex_t s_mu = PTHREAD_MUTEX_INITIALIZER;
static s_seen_t s_seen[S_MAX_SEEN];
static int s_nseen;
static int s_repeats;

static kj_pipeline_t *s_pl;
static kj_proc_t *s_smtp;
static kj_redis_t *s_r;
static char s_dir[256], s_rules[300];
static int s_port;

#define S_NOTICE_JA "配送センターの障害で配達が遅れています"
#define S_NOTICE_EN "A fault at our delivery centre is delaying parcels"
#define S_DONE_JA "配送センターは復旧しました"
#define S_DONE_EN "The delivery centre is running again"

static int64_t
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
s_channel_index(const char *ch)
{
    for (int i = 0; i < 3; i++)
        if (ch && strcmp(ch, s_channels[i]) == 0)
            return i;
    return -1;
}

static void
s_record(const char *key, const char *kind, int channel, int64_t at_ms,
         bool text_ok)
{
    pthread_mutex_lock(&s_mu);
    for (int i = 0; i < s_nseen; i++)
        if (strcmp(s_seen[i].key, key) == 0) {
            s_seen[i].count++;
            s_repeats++;
            pthread_mutex_unlock(&s_mu);
            return;
        }
    if (s_nseen < S_MAX_SEEN) {
        s_seen_t *e = &s_seen[s_nseen++];
        snprintf(e->key, sizeof e->key, "%s", key);
        snprintf(e->kind, sizeof e->kind, "%s", kind);
        e->channel = channel;
        e->at_ms = at_ms;
        e->count = 1;
        e->text_ok = text_ok;
    }
    pthread_mutex_unlock(&s_mu);
}

static const char *
s_jstr(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

/* The webhook sink: the LINE connector and KUJO_WEBHOOK_URL. */
static void
s_on_post(const kj_sink_event_t *ev, void *arg)
{
    (void)arg;
    const char *kind = s_jstr(ev->body, "kind");
    if (!ev->key || strncmp(kind, "incident_", 9) != 0)
        return;
    const char *lang = s_jstr(ev->body, "language");
    const char *text = s_jstr(ev->body, "text");
    bool resolved = strcmp(kind, "incident_resolved") == 0;
    bool ja = strncmp(lang, "ja", 2) == 0;
    const char *want = resolved ? (ja ? S_DONE_JA : S_DONE_EN)
                                : (ja ? S_NOTICE_JA : S_NOTICE_EN);
    s_record(ev->key, kind, s_channel_index(s_jstr(ev->body, "channel")),
             s_now_ms(), strcmp(text, want) == 0);
}

/* Mails not read yet are read into s_seen: the Message-ID is the job id
 * with '.' for ':' (notifier_smtp_message_id), the arrival the file's
 * mtime. */
static int s_mail_next = 1;

static void
s_read_mail(void)
{
    for (;;) {
        char path[320];
        snprintf(path, sizeof path, "%s/%06d.eml", s_dir, s_mail_next);
        FILE *f = fopen(path, "r");
        if (!f)
            return;
        struct stat st;
        int64_t at = 0;
        if (fstat(fileno(f), &st) == 0)
            at = (int64_t)st.st_mtim.tv_sec * 1000 +
                 st.st_mtim.tv_nsec / 1000000;
        char line[1024], key[128] = "";
        bool in_id = false;
        while (fgets(line, sizeof line, f)) {
            if (line[0] == '\r' || line[0] == '\n')
                break; /* end of the header */
            /* GMime folds a long Message-ID onto the next line. */
            bool cont = line[0] == ' ' || line[0] == '\t';
            if (strncasecmp(line, "Message-ID:", 11) == 0)
                in_id = true;
            else if (!cont)
                in_id = false;
            if (!in_id || key[0])
                continue;
            char *lt = strchr(line, '<'), *at_sign = lt ? strchr(lt, '@') : 0;
            if (lt && at_sign && at_sign - lt - 1 < (long)sizeof key) {
                memcpy(key, lt + 1, (size_t)(at_sign - lt - 1));
                key[at_sign - lt - 1] = '\0';
            }
        }
        fclose(f);
        const char *kind =
            strstr(key, ".incident_resolved.") ? "incident_resolved"
            : strstr(key, ".incident_notice.") ? "incident_notice"
                                               : NULL;
        if (kind)
            s_record(key, kind, 0, at, true);
        s_mail_next++;
    }
}

/* Distinct keys of kind seen so far, per channel into per[3]. */
static int
s_count(const char *kind, int per[3])
{
    s_read_mail();
    int n = 0;
    if (per)
        per[0] = per[1] = per[2] = 0;
    pthread_mutex_lock(&s_mu);
    for (int i = 0; i < s_nseen; i++)
        if (strcmp(s_seen[i].kind, kind) == 0) {
            n++;
            if (per && s_seen[i].channel >= 0)
                per[s_seen[i].channel]++;
        }
    pthread_mutex_unlock(&s_mu);
    return n;
}

static bool
s_wait_count(const char *kind, int n, int timeout_ms)
{
    for (int w = 0; w <= timeout_ms; w += 100) {
        if (s_count(kind, NULL) >= n)
            return true;
        kj_test_sleep_ms(100);
    }
    return false;
}

static int
s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The most arrivals of kind on channel inside any 1-s window. */
static int
s_max_per_s(const char *kind, int channel, double *avg)
{
    int64_t t[S_MAX_SEEN];
    int n = 0;
    pthread_mutex_lock(&s_mu);
    for (int i = 0; i < s_nseen; i++)
        if (s_seen[i].channel == channel && strcmp(s_seen[i].kind, kind) == 0)
            t[n++] = s_seen[i].at_ms;
    pthread_mutex_unlock(&s_mu);
    qsort(t, (size_t)n, sizeof t[0], s_cmp_i64);
    int best = 0;
    for (int i = 0, j = 0; i < n; i++) {
        while (t[i] - t[j] >= 1000)
            j++;
        if (i - j + 1 > best)
            best = i - j + 1;
    }
    *avg = n > 1 && t[n - 1] > t[0]
               ? (n - 1) * 1000.0 / (double)(t[n - 1] - t[0])
               : 0;
    return best;
}

static void
s_down(void)
{
    kj_proc_destroy(&s_smtp);
    kj_redis_destroy(&s_r);
    kj_pipeline_destroy(&s_pl);
    if (s_dir[0]) {
        char cmd[900];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s.log' '%s'", s_dir, s_dir,
                 s_rules);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", s_dir);
    }
}

TestSuite(incidents, .fini = s_down, .timeout = 300);

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

/* deploy/rules.json with the sink as the LINE connector. */
static void
s_write_rules(const char *sink_url)
{
    json_error_t je;
    json_t *r = json_load_file(KJ_SOURCE_DIR "/deploy/rules.json", 0, &je);
    cr_assert(r != NULL, "%s", je.text);
    json_object_set_new(r, "connectors", json_pack("{s:s}", "line", sink_url));
    snprintf(s_rules, sizeof s_rules, "/tmp/kj-incident-rules-%d.json",
             (int)getpid());
    cr_assert(eq(int, json_dump_file(r, s_rules, JSON_INDENT(1)), 0));
    json_decref(r);
}

static json_t *
s_analytics(const char *method, const char *path, const char *body,
            const char *idem, long *status)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s",
             kj_pipeline_url(s_pl, KJ_SVC_ANALYTICS, 0), path);
    kj_client_t *c = kj_client_new(30000);
    kj_resp_t r = {0};
    int rc = strcmp(method, "GET") == 0
                 ? kj_client_get(c, url, &r)
                 : kj_client_post_json(c, url, body, idem, &r);
    cr_assert(eq(int, rc, 0), "%s %s: %s", method, path, r.error);
    *status = r.status;
    json_t *j = kj_resp_json(&r);
    if (r.status >= 300)
        fprintf(stderr, "%s %s -> %ld %s\n", method, path, r.status, r.body);
    kj_resp_free(&r);
    kj_client_destroy(&c);
    return j;
}

Test(incidents, five_hundred_customers_notified_once_at_the_channel_rates)
{
    /* The receivers. */
    s_port = kj_test_free_port();
    snprintf(s_dir, sizeof s_dir, "/tmp/kj-incident-smtp-%d-%d", (int)getpid(),
             s_port);
    char port[16], log[300];
    snprintf(port, sizeof port, "%d", s_port);
    snprintf(log, sizeof log, "%s.log", s_dir);
    cr_assert(eq(int, mkdir(s_dir, 0700), 0));
    char *argv[] = {S_PY, KJ_SOURCE_DIR "/tests/support/smtp_sink.py", port,
                    s_dir, NULL};
    s_smtp = kj_proc_start("smtp", S_PY, argv, NULL, log);
    cr_assert(s_smtp != NULL);
    for (int w = 0; w < 10000 && !s_listening(s_port); w += 100)
        kj_test_sleep_ms(100);
    cr_assert(s_listening(s_port), "the SMTP server did not start");

    /* The pipeline: the sink URL is only known once it runs, so the LINE
     * connector is the pipeline's sink under another path. */
    char smtp_url[64], rate[128], rules_env[340], sink_url[128];
    snprintf(smtp_url, sizeof smtp_url, "KUJO_SMTP_URL=smtp://127.0.0.1:%d",
             s_port);
    snprintf(rate, sizeof rate, "KUJO_NOTICE_RATE=email=%d,line=%d,web=%d",
             S_RATE_EMAIL, S_RATE_LINE, S_RATE_WEB);
    int sink_port = kj_test_free_port();
    snprintf(sink_url, sizeof sink_url, "http://127.0.0.1:%d/line", sink_port);
    s_write_rules(sink_url);
    snprintf(rules_env, sizeof rules_env, "KUJO_RULES=%s", s_rules);
    char poll[64];
    snprintf(poll, sizeof poll, "KUJO_OUTBOX_POLL_MS=%d", S_POLL_MS);
    const char *env[] = {smtp_url, "KUJO_SMTP_FROM=care@kujo.example",
                         rate,     rules_env,
                         poll,     NULL};
    kj_pipeline_opts_t o = {.env = env, .redis_acl = true, .max_attempts = 8};
    s_pl = kj_pipeline_new(&o);
    cr_assert(s_pl != NULL, "the pipeline did not start");
    /* The LINE connector: a second sink on the port the rules name. */
    kj_sink_t *line =
        kj_sink_new("127.0.0.1", sink_port, kj_pipeline_secret(s_pl));
    cr_assert(line != NULL);
    kj_sink_set_callback(line, s_on_post, NULL);
    /* The harness's sink counts team alerts only; the callback must see
     * every kind. */
    kj_sink_only_kind(kj_pipeline_sink(s_pl), NULL);
    kj_sink_set_callback(kj_pipeline_sink(s_pl), s_on_post, NULL);
    char err[128];
    s_r = kj_redis_new(kj_pipeline_service_redis_url(s_pl), 5000, err,
                       sizeof err);
    cr_assert(s_r != NULL, "%s", err);

    /* 500 customers complain, a third each by e-mail, LINE and web form,
     * every other one in English. */
    int64_t t0 = s_now_ms();
    static char ids[S_N][32];
    static char cust[S_N][32];
    for (int i = 0; i < S_N; i++) {
        const char *ch = s_channels[i % 3];
        snprintf(cust[i], sizeof cust[i], "c-%s-%03d", ch, i);
        json_t *c = json_pack("{s:s}", "id", cust[i]);
        if (i % 3 == 0) {
            char addr[64];
            snprintf(addr, sizeof addr, "%s@example.jp", cust[i]);
            json_object_set_new(c, "email", json_string(addr));
        }
        char text[300];
        if (i % 2)
            snprintf(text, sizeof text,
                     "My order %d has not arrived after two weeks and "
                     "nobody answers. Where is my parcel?",
                     1000 + i);
        else
            snprintf(text, sizeof text,
                     "注文番号%dの商品がまだ届きません。一週間以上待って"
                     "いますが連絡もなく困っています。",
                     1000 + i);
        json_t *b = json_pack("{s:s, s:o, s:s}", "channel", ch, "customer", c,
                              "text", text);
        char *body = json_dumps(b, JSON_COMPACT);
        json_decref(b);
        int st = kj_pipeline_post(s_pl, body, NULL, ids[i]);
        free(body);
        KJ_PL_ASSERT(s_pl, st == 202, "POST %d answered %d", i, st);
    }
    int done = kj_pipeline_wait_all(s_pl, ids, S_N, "delivered", 60000);
    KJ_PL_ASSERT(s_pl, done == S_N, "%d of %d delivered", done, S_N);
    /* The acknowledgements go first (and are not what is counted). */
    char outbox[160], base[128];
    snprintf(base, sizeof base, "%s:{t:default}", kj_pipeline_prefix(s_pl));
    snprintf(outbox, sizeof outbox, "%s:outbox", base);
    for (int w = 0; w < 30000; w += 200) {
        redisReply *r = kj_redis_command(s_r, "ZCARD %s", outbox);
        long long left = r ? r->integer : -1;
        freeReplyObject(r);
        if (left == 0)
            break;
        kj_test_sleep_ms(200);
    }
    fprintf(stderr, "incidents: 500 complaints filed in %lld ms\n",
            (long long)(s_now_ms() - t0));

    /* The category most cases got selects them; the others are listed. */
    char cat[64] = "";
    int best = 0;
    json_t *counts = json_object();
    static char cat_of[S_N][64];
    for (int i = 0; i < S_N; i++) {
        redisReply *r =
            kj_redis_command(s_r, "HGET %s:cust:%s case", base, cust[i]);
        cr_assert(r && r->type == REDIS_REPLY_STRING, "%s has no case",
                  cust[i]);
        redisReply *c =
            kj_redis_command(s_r, "HGET %s:case:%s category", base, r->str);
        snprintf(cat_of[i], sizeof cat_of[i], "%s",
                 c && c->type == REDIS_REPLY_STRING ? c->str : "");
        freeReplyObject(r);
        freeReplyObject(c);
        json_int_t n = json_integer_value(json_object_get(counts, cat_of[i]));
        json_object_set_new(counts, cat_of[i], json_integer(n + 1));
        if (cat_of[i][0] && n + 1 > best) {
            best = (int)n + 1;
            snprintf(cat, sizeof cat, "%s", cat_of[i]);
        }
    }
    json_decref(counts);
    cr_assert(cat[0] != '\0', "no case has a category");
    json_t *listed = json_array();
    /* Also the first 50 by hand: each is notified once all the same. */
    for (int i = 0; i < S_N; i++)
        if (strcmp(cat_of[i], cat) != 0 || i < 50)
            json_array_append_new(listed, json_string(cust[i]));
    fprintf(stderr, "incidents: %d customers by category \"%s\", %zu listed\n",
            best, cat, json_array_size(listed));

    /* product needs complaint attributes (issue 14). */
    long status = 0;
    json_t *j = s_analytics(
        "POST", "/v1/incidents",
        "{\"product\":\"p\",\"customers\":[\"a\"],\"message\":{\"en\":\"x\"}}",
        NULL, &status);
    cr_assert(eq(long, status, 400));
    json_decref(j);

    char from[40];
    time_t fs = (time_t)((t0 - 60000) / 1000);
    strftime(from, sizeof from, "%Y-%m-%dT%H:%M:%SZ", gmtime(&fs));
    json_t *req = json_pack(
        "{s:s, s:{s:s}, s:o, s:s, s:{s:s, s:s}}", "category", cat, "window",
        "from", from, "customers", listed, "title", "Delivery centre fault",
        "message", "ja", S_NOTICE_JA, "en", S_NOTICE_EN);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    int64_t opened = s_now_ms();
    j = s_analytics("POST", "/v1/incidents", body, "op-incident-1", &status);
    KJ_PL_ASSERT(s_pl, status == 201, "POST /v1/incidents answered %ld",
                 status);
    char id[32];
    snprintf(id, sizeof id, "%s", s_jstr(j, "id"));
    cr_assert(eq(int,
                 (int)json_integer_value(json_object_get(j, "members_total")),
                 S_N));
    json_t *notices = json_object_get(j, "notices");
    cr_assert(eq(int, (int)json_integer_value(json_object_get(notices, "owed")),
                 S_N));
    json_decref(j);
    fprintf(stderr, "incidents: %s opened, 500 notices owed in %lld ms\n", id,
            (long long)(s_now_ms() - opened));
    /* The same Idempotency-Key: the same incident, nothing owed again. */
    j = s_analytics("POST", "/v1/incidents", body, "op-incident-1", &status);
    cr_assert(eq(long, status, 200));
    cr_assert(eq(str, (char *)s_jstr(j, "id"), id));
    json_decref(j);
    free(body);

    /* kill -9 of the notifier mid-broadcast, then back. */
    KJ_PL_ASSERT(s_pl, s_wait_count("incident_notice", 120, 30000),
                 "the broadcast did not start: %d notices",
                 s_count("incident_notice", NULL));
    cr_assert(eq(int, kj_pipeline_kill9(s_pl, KJ_SVC_NOTIFIER, 0), 0));
    int at_kill = s_count("incident_notice", NULL);
    fprintf(stderr, "incidents: notifier killed (-9) after %d notices\n",
            at_kill);
    KJ_PL_ASSERT(s_pl, at_kill < S_N, "the broadcast ended before the kill");
    kj_test_sleep_ms(1000);
    cr_assert(eq(int, kj_pipeline_restart(s_pl, KJ_SVC_NOTIFIER, 0), 0));
    KJ_PL_ASSERT(s_pl,
                 kj_pipeline_wait_ready(s_pl, KJ_SVC_NOTIFIER, 0, 15000) == 0,
                 "the notifier did not come back");

    KJ_PL_ASSERT(s_pl, s_wait_count("incident_notice", S_N, 60000),
                 "%d of %d notices", s_count("incident_notice", NULL), S_N);
    kj_test_sleep_ms(3000); /* anything extra would arrive by now */
    int per[3];
    int total = s_count("incident_notice", per);
    fprintf(stderr,
            "incidents: notices: %d distinct keys (email %d, line %d, web "
            "%d), %d repeats of a key\n",
            total, per[0], per[1], per[2], s_repeats);
    cr_assert(eq(int, total, S_N));
    cr_assert(eq(int, per[0], (S_N + 2) / 3));
    cr_assert(eq(int, per[1], (S_N + 1) / 3));
    cr_assert(eq(int, per[2], S_N / 3));
    /* A repeat is the same key again (a send the kill cut short), never a
     * second notice: at most what was in flight when it died. */
    cr_assert(le(int, s_repeats, 64));
    pthread_mutex_lock(&s_mu);
    for (int i = 0; i < s_nseen; i++)
        cr_assert(s_seen[i].text_ok, "%s: text not in the customer's language",
                  s_seen[i].key);
    pthread_mutex_unlock(&s_mu);
    for (int c = 0; c < 3; c++) {
        double avg = 0;
        int max = s_max_per_s("incident_notice", c, &avg);
        int burst = s_rates[c] * S_POLL_MS / 1000;
        fprintf(stderr,
                "incidents: notice rate %s: max %d in any 1 s (limit %d/s, "
                "bucket %d), average %.1f/s\n",
                s_channels[c], max, s_rates[c], burst, avg);
        cr_assert(le(int, max, s_rates[c] + burst + S_JITTER(s_rates[c])),
                  "%s: %d notices in one second", s_channels[c], max);
    }

    /* GET shapes (issue 14 extends them). */
    j = s_analytics("GET", "/v1/incidents", NULL, NULL, &status);
    cr_assert(eq(long, status, 200));
    json_t *list = json_object_get(j, "incidents");
    cr_assert(eq(sz, json_array_size(list), 1));
    cr_assert(eq(str, (char *)s_jstr(json_array_get(list, 0), "id"), id));
    json_decref(j);
    char path[128];
    snprintf(path, sizeof path, "/v1/incidents/%s", id);
    j = s_analytics("GET", path, NULL, NULL, &status);
    cr_assert(eq(long, status, 200));
    cr_assert(eq(str, (char *)s_jstr(j, "status"), "open"));
    cr_assert(eq(sz, json_array_size(json_object_get(j, "members")), S_N));
    cr_assert(ge(sz, json_array_size(json_object_get(j, "timeline")), 2));
    json_decref(j);

    /* Resolved: the same 500 get the follow-up. */
    snprintf(path, sizeof path, "/v1/incidents/%s/resolve", id);
    j = s_analytics("POST", path,
                    "{\"message\":{\"ja\":\"" S_DONE_JA "\",\"en\":\"" S_DONE_EN
                    "\"}}",
                    NULL, &status);
    cr_assert(eq(long, status, 200));
    cr_assert(eq(str, (char *)s_jstr(j, "status"), "resolved"));
    json_decref(j);
    KJ_PL_ASSERT(s_pl, s_wait_count("incident_resolved", S_N, 60000),
                 "%d of %d follow-ups", s_count("incident_resolved", NULL),
                 S_N);
    kj_test_sleep_ms(1500);
    total = s_count("incident_resolved", per);
    fprintf(stderr,
            "incidents: follow-ups: %d distinct keys (email %d, line %d, web "
            "%d)\n",
            total, per[0], per[1], per[2]);
    cr_assert(eq(int, total, S_N));
    for (int c = 0; c < 3; c++) {
        double avg = 0;
        int max = s_max_per_s("incident_resolved", c, &avg);
        int burst = s_rates[c] * S_POLL_MS / 1000;
        fprintf(stderr,
                "incidents: follow-up rate %s: max %d in any 1 s (limit "
                "%d/s), average %.1f/s\n",
                s_channels[c], max, s_rates[c], avg);
        cr_assert(le(int, max, s_rates[c] + burst + S_JITTER(s_rates[c])));
    }
    snprintf(path, sizeof path, "/v1/incidents/%s/resolve",
             "0123456789abcdef0123");
    j = s_analytics("POST", path, "{\"message\":{\"en\":\"x\"}}", NULL,
                    &status);
    cr_assert(eq(long, status, 404));
    json_decref(j);
    kj_sink_destroy(&line);
}

/* ------------------------------------------------------------------ */
/* The broadcast alone, on a Redis of its own (no services): who is
 * selected, how due times are spaced, and that a broadcast run again
 * (its cursor moved back, its pending entry left by a crash) owes no one
 * twice, even after some jobs were delivered and their hashes are gone. */

static kj_testredis_t s_tr;

static void
s_tr_down(void)
{
    kj_redis_destroy(&s_r);
    kj_testredis_stop(&s_tr);
}

static long long
s_int_cmd(const char *fmt, const char *a, const char *b)
{
    redisReply *r = kj_redis_command(s_r, fmt, a, b);
    cr_assert(r != NULL && r->type != REDIS_REPLY_ERROR, "%s: %s", fmt,
              r ? r->str : kj_redis_errstr(s_r));
    long long v = r->type == REDIS_REPLY_INTEGER  ? r->integer
                  : r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10)
                                                  : -1;
    freeReplyObject(r);
    return v;
}

Test(incidents, a_broadcast_run_again_owes_no_one_twice, .fini = s_tr_down)
{
    cr_assert(eq(int, kj_testredis_start(&s_tr, false), 0));
    char err[128];
    s_r = kj_redis_new(s_tr.url, 5000, err, sizeof err);
    cr_assert(s_r != NULL, "%s", err);
    const char *B = "kt:{t:acme}";
    int64_t now = s_now_ms();
    char k[128], v[256], nowbuf[24];
    snprintf(nowbuf, sizeof nowbuf, "%lld", (long long)now);
    /* 450 customers with a case each; the first 300 in the category's
     * index, 250.. listed (so 250..299 are both), and one listed
     * customer kujo has never heard of. */
    json_t *listed = json_array();
    for (int i = 0; i < 450; i++) {
        char c[16], cid[16];
        snprintf(c, sizeof c, "c%03d", i);
        snprintf(cid, sizeof cid, "C%03d", i);
        snprintf(k, sizeof k, "%s:cust:%s", B, c);
        s_int_cmd("HSET %s case %s", k, cid);
        snprintf(k, sizeof k, "%s:cust:%s:msgs", B, c);
        snprintf(v, sizeof v,
                 "{\"id\":\"X%03d\",\"case\":\"%s\",\"channel\":\"web\","
                 "\"language\":\"%s\"}",
                 i, cid, i % 2 ? "en" : "ja");
        s_int_cmd("LPUSH %s %s", k, v);
        snprintf(k, sizeof k, "%s:case:%s", B, cid);
        s_int_cmd("HSET %s customer %s", k, c);
        if (i < 300) {
            snprintf(k, sizeof k, "%s:cases_by:delivery", B);
            redisReply *r =
                kj_redis_command(s_r, "ZADD %s %s %s", k, nowbuf, cid);
            freeReplyObject(r);
        }
        if (i >= 250)
            json_array_append_new(listed, json_string(c));
    }
    json_array_append_new(listed, json_string("stranger"));
    /* A case of another category is not selected. */
    snprintf(k, sizeof k, "%s:cases_by:billing", B);
    redisReply *r = kj_redis_command(s_r, "ZADD %s %s C999", k, nowbuf);
    freeReplyObject(r);

    kj_outbox_rate_t rates[1] = {{.channel = "web", .per_s = 10}};
    analytics_incidents_t *inc = analytics_incidents_new(s_r, "kt", rates, 1);
    char from[40];
    time_t fs = (time_t)(now / 1000 - 3600);
    strftime(from, sizeof from, "%Y-%m-%dT%H:%M:%SZ", gmtime(&fs));
    json_t *b = json_pack("{s:s, s:{s:s}, s:o, s:{s:s, s:s}}", "category",
                          "delivery", "window", "from", from, "customers",
                          listed, "message", "ja", "障害", "en", "Outage");
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    analytics_incident_req_t req;
    cr_assert(eq(int,
                 analytics_incident_parse_open(body, strlen(body), now, &req,
                                               err, sizeof err),
                 KJ_OK),
              "%s", err);
    free(body);
    char id[KJ_ID_LEN + 1];
    bool created = false;
    cr_assert(
        eq(int,
           analytics_incidents_open(inc, "acme", &req, NULL, now, id, &created),
           0));
    cr_assert(created);
    analytics_incident_req_clear(&req);

    char ik[128], outbox[64];
    snprintf(ik, sizeof ik, "%s:incident:%s", B, id);
    snprintf(outbox, sizeof outbox, "%s:outbox", B);
    cr_assert(eq(i64, s_int_cmd("HGET %s %s", ik, "members"), 451));
    cr_assert(
        eq(i64, s_int_cmd("HGET %s %s", ik, "incident_notice_owed"), 450));
    cr_assert(
        eq(i64, s_int_cmd("HGET %s %s", ik, "incident_notice_skipped"), 1));
    cr_assert(eq(i64, s_int_cmd("ZCARD %s%s", outbox, ""), 450));
    /* 450 web jobs at 10/s: the last is due 44.9 s after the first. */
    redisReply *first =
        kj_redis_command(s_r, "ZRANGE %s 0 0 WITHSCORES", outbox);
    redisReply *last =
        kj_redis_command(s_r, "ZRANGE %s -1 -1 WITHSCORES", outbox);
    cr_assert(eq(i64,
                 strtoll(last->element[1]->str, NULL, 10) -
                     strtoll(first->element[1]->str, NULL, 10),
                 44900));
    /* A job's payload: the customer's language and reply route. */
    snprintf(k, sizeof k, "%s:ob:%s", B, first->element[0]->str);
    redisReply *p = kj_redis_command(s_r, "HGET %s payload", k);
    json_t *pay = json_loads(p->str, 0, NULL);
    cr_assert(eq(str, (char *)s_jstr(pay, "kind"), "incident_notice"));
    cr_assert(eq(str, (char *)s_jstr(pay, "incident_id"), id));
    cr_assert(eq(str, (char *)s_jstr(pay, "channel"), "web"));
    bool priv = json_is_false(json_object_get(pay, "public"));
    cr_assert(priv, "public must be false");
    const char *lang = s_jstr(pay, "language");
    cr_assert(eq(str, (char *)s_jstr(pay, "text"),
                 strcmp(lang, "ja") == 0 ? "障害" : "Outage"));
    json_decref(pay);
    freeReplyObject(p);
    freeReplyObject(first);
    freeReplyObject(last);

    /* Ten are delivered (their jobs gone), then the broadcast is run
     * again from the start, as after a crash. */
    redisReply *ten = kj_redis_command(s_r, "ZRANGE %s 0 9", outbox);
    for (size_t i = 0; i < ten->elements; i++) {
        snprintf(k, sizeof k, "%s:ob:%s", B, ten->element[i]->str);
        s_int_cmd("DEL %s%s", k, "");
        s_int_cmd("ZREM %s %s", outbox, ten->element[i]->str);
    }
    freeReplyObject(ten);
    s_int_cmd("HSET %s incident_notice_cursor %s", ik, "0");
    s_int_cmd("HDEL %s %s", ik, "incident_notice_done");
    char member[128];
    snprintf(member, sizeof member, "acme\t%s\tincident_notice", id);
    s_int_cmd("SADD kt:incident_broadcasts %s%s", member, "");
    cr_assert(eq(int, analytics_incidents_resume(inc, now + 1000), 1));
    cr_assert(eq(i64, s_int_cmd("ZCARD %s%s", outbox, ""), 440));
    cr_assert(
        eq(i64, s_int_cmd("HGET %s %s", ik, "incident_notice_owed"), 450));
    cr_assert(eq(i64, s_int_cmd("HGET %s %s", ik, "incident_notice_done"), 1));
    cr_assert(
        eq(i64, s_int_cmd("SCARD kt:incident_broadcasts%s%s", "", ""), 0));

    /* Resolve: the same 450 owed a follow-up; again changes nothing. */
    analytics_incident_req_t res;
    const char *rb = "{\"message\":{\"en\":\"Fixed\"}}";
    cr_assert(eq(
        int,
        analytics_incident_parse_resolve(rb, strlen(rb), &res, err, sizeof err),
        KJ_OK));
    cr_assert(
        eq(int, analytics_incidents_resolve(inc, "acme", id, &res, now), 1));
    cr_assert(
        eq(int, analytics_incidents_resolve(inc, "acme", id, &res, now), 1));
    cr_assert(
        eq(i64, s_int_cmd("HGET %s %s", ik, "incident_resolved_owed"), 450));
    cr_assert(eq(int,
                 analytics_incidents_resolve(inc, "acme",
                                             "0123456789abcdef0123", &res, now),
                 0));
    analytics_incident_req_clear(&res);
    json_t *o = NULL;
    cr_assert(eq(int, analytics_incidents_get(inc, "acme", id, true, &o), 1));
    cr_assert(eq(str, (char *)s_jstr(o, "status"), "resolved"));
    cr_assert(eq(sz, json_array_size(json_object_get(o, "members")), 451));
    json_decref(o);
    analytics_incidents_destroy(&inc);
}
