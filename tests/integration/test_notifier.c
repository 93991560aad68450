/* kujo-notifier end to end: a real redis-server, the real binary, a record
 * put in state routed through the store, its envelope pushed to the
 * notifier's registered PULL endpoint, and a real HTTP receiver (below)
 * that checks signatures and answers what the test says. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <zmq.h>

#include "kj_envelope.h"
#include "kj_harness.h"
#include "kj_hmac.h"
#include "kj_id.h"
#include "kj_mq.h"
#include "kj_outbox.h"
#include "kj_redis.h"
#include "kj_registry.h"
#include "kj_store.h"
#include "kj_testredis.h"
#include "kj_util.h"

#define SECRET "it-s3cret"
#define RX_MAX 64
#define RX_BODY_MAX (64 * 1024)

/* ------------------------------------------------------------------ */
/* The receiver: a libmicrohttpd server that records every POST. */

typedef struct {
    char path[64];
    char key[128]; /* Idempotency-Key */
    char user_agent[64];
    char content_type[64];
    char complaint_id[32]; /* from the body */
    char text[512];        /* the body's summary line */
    int attempt;           /* the body's attempt */
    bool signed_ok;        /* Kujo-Signature verified */
    bool has_signature;
    unsigned answered; /* the status sent */
    int64_t at_ms;     /* when it came (monotonic) */
    char body[8192];   /* the body as sent (cut if longer) */
} rx_req_t;

typedef struct {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t lock;
    unsigned status;      /* what to answer */
    int delay_ms;         /* wait before answering */
    char retry_after[64]; /* Retry-After on non-2xx answers; "" none */
    int active, max_active; /* requests being answered now, and the most */
    rx_req_t reqs[RX_MAX];
    size_t n;
} rx_t;

typedef struct {
    char *buf;
    size_t len;
    bool too_big;
} rx_conn_t;

static enum MHD_Result
rx_handler(void *cls, struct MHD_Connection *c, const char *url,
           const char *method, const char *version, const char *upload,
           size_t *upload_size, void **con_cls)
{
    (void)version;
    rx_t *rx = cls;
    if (!*con_cls) {
        rx_conn_t *conn = calloc(1, sizeof *conn);
        *con_cls = conn;
        return MHD_YES;
    }
    rx_conn_t *conn = *con_cls;
    if (*upload_size) {
        if (conn->len + *upload_size > RX_BODY_MAX) {
            conn->too_big = true;
        } else {
            conn->buf = realloc(conn->buf, conn->len + *upload_size + 1);
            memcpy(conn->buf + conn->len, upload, *upload_size);
            conn->len += *upload_size;
            conn->buf[conn->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    rx_req_t req;
    memset(&req, 0, sizeof req);
    req.at_ms = kj_mono_ms();
    snprintf(req.path, sizeof req.path, "%s", url);
    const char *h;
    h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    snprintf(req.key, sizeof req.key, "%s", h ? h : "");
    h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "User-Agent");
    snprintf(req.user_agent, sizeof req.user_agent, "%s", h ? h : "");
    h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    snprintf(req.content_type, sizeof req.content_type, "%s", h ? h : "");
    h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Kujo-Signature");
    req.has_signature = h != NULL;
    req.signed_ok = h && conn->buf &&
                    kj_signature_verify(SECRET, h, conn->buf, conn->len,
                                        kj_now_ms() / 1000, 300);
    snprintf(req.body, sizeof req.body, "%s", conn->buf ? conn->buf : "");
    json_t *body = conn->buf ? json_loadb(conn->buf, conn->len, 0, NULL) : NULL;
    const char *cid = json_string_value(json_object_get(body, "complaint_id"));
    snprintf(req.complaint_id, sizeof req.complaint_id, "%s", cid ? cid : "");
    const char *text = json_string_value(json_object_get(body, "text"));
    snprintf(req.text, sizeof req.text, "%s", text ? text : "");
    req.attempt = (int)json_integer_value(json_object_get(body, "attempt"));
    json_decref(body);

    pthread_mutex_lock(&rx->lock);
    unsigned status = strcmp(method, "POST") == 0 ? rx->status : 405;
    int delay = rx->delay_ms;
    char retry_after[64];
    snprintf(retry_after, sizeof retry_after, "%s",
             status >= 300 ? rx->retry_after : "");
    req.answered = status;
    if (rx->n < RX_MAX)
        rx->reqs[rx->n++] = req;
    rx->active++;
    if (rx->active > rx->max_active)
        rx->max_active = rx->active;
    pthread_mutex_unlock(&rx->lock);
    if (delay > 0)
        kj_test_sleep_ms(delay);
    pthread_mutex_lock(&rx->lock);
    rx->active--;
    pthread_mutex_unlock(&rx->lock);
    static const char ok[] = "{\"ok\":true}";
    struct MHD_Response *r = MHD_create_response_from_buffer(
        sizeof ok - 1, (void *)ok, MHD_RESPMEM_PERSISTENT);
    if (retry_after[0])
        MHD_add_response_header(r, "Retry-After", retry_after);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static void
rx_completed(void *cls, struct MHD_Connection *c, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    rx_conn_t *conn = *con_cls;
    if (conn) {
        free(conn->buf);
        free(conn);
    }
    *con_cls = NULL;
}

static int
rx_listen(rx_t *rx)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)rx->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* A thread per connection, so a delayed answer holds only its own. */
    rx->d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
        (uint16_t)rx->port, NULL, NULL, rx_handler, rx,
        MHD_OPTION_NOTIFY_COMPLETED, rx_completed, rx,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1U, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_END);
    return rx->d ? 0 : -1;
}

/* A receiver on a free loopback port; listening unless down. */
static rx_t *
rx_new(bool listening)
{
    rx_t *rx = calloc(1, sizeof *rx);
    pthread_mutex_init(&rx->lock, NULL);
    rx->status = 200;
    rx->port = kj_test_free_port();
    cr_assert(gt(int, rx->port, 0));
    if (listening)
        cr_assert(eq(int, rx_listen(rx), 0));
    return rx;
}

static void
rx_stop(rx_t *rx)
{
    if (rx->d)
        MHD_stop_daemon(rx->d);
    rx->d = NULL;
}

static void
rx_destroy(rx_t **rx_p)
{
    rx_t *rx = *rx_p;
    if (!rx)
        return;
    rx_stop(rx);
    pthread_mutex_destroy(&rx->lock);
    free(rx);
    *rx_p = NULL;
}

static size_t
rx_count(rx_t *rx)
{
    pthread_mutex_lock(&rx->lock);
    size_t n = rx->n;
    pthread_mutex_unlock(&rx->lock);
    return n;
}

static rx_req_t
rx_get(rx_t *rx, size_t i)
{
    pthread_mutex_lock(&rx->lock);
    rx_req_t r = rx->reqs[i];
    pthread_mutex_unlock(&rx->lock);
    return r;
}

static void
rx_set(rx_t *rx, unsigned status, int delay_ms)
{
    pthread_mutex_lock(&rx->lock);
    rx->status = status;
    rx->delay_ms = delay_ms;
    pthread_mutex_unlock(&rx->lock);
}

/* ------------------------------------------------------------------ */
/* The world of one test: redis, a store on it, the notifier process. */

typedef struct {
    kj_testredis_t redis;
    kj_redis_t *r;
    kj_store_t *store;
    char prefix[32];
    char log[128];
    int admin_port;
    kj_proc_t *proc;
    void *zctx;
    kj_push_t *push;
    uint64_t rng;
} world_t;

static world_t W;
static rx_t *RX;

static void
world_up(void)
{
    memset(&W, 0, sizeof W);
    cr_assert(eq(int, kj_testredis_start(&W.redis, false), 0));
    char err[256];
    W.r = kj_redis_new(W.redis.url, 2000, err, sizeof err);
    cr_assert_not_null(W.r, "%s", err);
    W.rng = kj_seed();
    snprintf(W.prefix, sizeof W.prefix, "itn%d", (int)getpid());
    const kj_store_opts_t so = {
        .prefix = W.prefix,
        .lease_ms = 2000,
        .max_attempts = 3,
        .stream_maxlen = 1000,
        .retention_s = 0,
        .idem_ttl_s = 3600,
    };
    W.store = kj_store_new(W.r, &so);
    cr_assert_not_null(W.store);
    W.zctx = zmq_ctx_new();
    W.push = kj_push_new(W.zctx, 100, 2000);
    cr_assert_not_null(W.push);
    snprintf(W.log, sizeof W.log, "/tmp/kj-it-notifier-%d.log", (int)getpid());
    unlink(W.log);
}

static void
world_down(void)
{
    kj_proc_destroy(&W.proc);
    kj_push_destroy(&W.push);
    if (W.zctx)
        zmq_ctx_term(W.zctx);
    kj_store_destroy(&W.store);
    kj_redis_destroy(&W.r);
    kj_testredis_stop(&W.redis);
    rx_destroy(&RX);
    char rules[160];
    snprintf(rules, sizeof rules, "%s.rules.json", W.log);
    unlink(rules);
    unlink(W.log);
}

/* Start kujo-notifier with the test settings plus extra ("NAME=value"
 * strings, NULL-terminated), and wait for its registry entry. */
static void
notifier_start(const char *webhook_path, const char *const *extra)
{
    static char env[24][256];
    const char *envp[25];
    size_t n = 0;
    W.admin_port = kj_test_free_port();
    snprintf(env[n++], 256, "KUJO_REDIS_URL=%s", W.redis.url);
    snprintf(env[n++], 256, "KUJO_PREFIX=%s", W.prefix);
    snprintf(env[n++], 256, "KUJO_ADMIN_ADDR=127.0.0.1:%d", W.admin_port);
    snprintf(env[n++], 256, "KUJO_LOG_LEVEL=debug");
    snprintf(env[n++], 256, "KUJO_MAX_ATTEMPTS=3");
    snprintf(env[n++], 256, "KUJO_RETRY_BASE_MS=50");
    snprintf(env[n++], 256, "KUJO_RETRY_CAP_MS=200");
    snprintf(env[n++], 256, "KUJO_LEASE_MS=2000");
    snprintf(env[n++], 256, "KUJO_HTTP_TIMEOUT_MS=1000");
    snprintf(env[n++], 256, "KUJO_DRAIN_MS=3000");
    snprintf(env[n++], 256, "KUJO_WEBHOOK_SECRET=%s", SECRET);
    if (webhook_path)
        snprintf(env[n++], 256, "KUJO_WEBHOOK_URL=http://127.0.0.1:%d%s",
                 RX->port, webhook_path);
    for (size_t i = 0; extra && extra[i] && n < 24; i++)
        snprintf(env[n++], 256, "%s", extra[i]);
    for (size_t i = 0; i < n; i++)
        envp[i] = env[i];
    envp[n] = NULL;
    char *argv[] = {"kujo-notifier", NULL};
    W.proc = kj_proc_start("notifier", KJ_BIN_DIR "/kujo-notifier", argv, envp,
                           W.log);
    cr_assert_not_null(W.proc);
    int64_t deadline = kj_mono_ms() + 10000;
    for (;;) {
        char **list = NULL;
        int got =
            kj_registry_list(W.r, W.prefix, "notifier", kj_now_ms(), &list);
        if (got > 0) {
            kj_push_set_peers(W.push, list, (size_t)got);
            kj_registry_free(list);
            return;
        }
        if (list)
            kj_registry_free(list);
        if (!kj_proc_alive(W.proc) || kj_mono_ms() > deadline) {
            kj_proc_print_log_tail(W.proc, stderr, 40);
            cr_fatal("notifier did not register");
        }
        kj_test_sleep_ms(50);
    }
}

/* A rules file (W.log with ".rules.json") in which team care-en has
 * webhook url and team care-ja none; returns its path for KUJO_RULES. The
 * notifier takes team webhooks only from its own rules, never from the
 * envelope. */
static const char *
rules_with_webhook(const char *url)
{
    static char path[160];
    snprintf(path, sizeof path, "%s.rules.json", W.log);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "{\"version\":1,\"categories\":[],"
            "\"teams\":[{\"name\":\"care-en\",\"webhook\":\"%s\"},"
            "{\"name\":\"care-ja\"}],"
            "\"sla_policies\":[{\"name\":\"social\","
            "\"first_response_minutes\":60,\"resolution_hours\":24}],"
            "\"routes\":[{\"name\":\"ja\",\"when\":{\"language\":[\"ja\"]},"
            "\"team\":\"care-ja\",\"priority\":\"p2\",\"sla\":\"social\"},"
            "{\"name\":\"default\",\"team\":\"care-en\",\"priority\":"
            "\"p2\",\"sla\":\"social\"}]}\n",
            url);
    fclose(f);
    return path;
}

/* A rules file whose team care-en has a Slack-format webhook url and
 * Tokyo business hours (so due times are shown in JST). */
static const char *
rules_with_slack(const char *url)
{
    static char path[160];
    snprintf(path, sizeof path, "%s.rules.json", W.log);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "{\"version\":1,\"categories\":[],"
            "\"business_hours\":[{\"name\":\"tokyo\",\"timezone\":"
            "\"Asia/Tokyo\",\"week\":{\"mon\":[\"09:00-18:00\"]}}],"
            "\"teams\":[{\"name\":\"care-en\",\"webhook\":\"%s\","
            "\"webhook_format\":\"slack\",\"hours\":\"tokyo\"}],"
            "\"sla_policies\":[{\"name\":\"social\","
            "\"first_response_minutes\":60,\"resolution_hours\":24}],"
            "\"routes\":[{\"name\":\"default\",\"team\":\"care-en\","
            "\"priority\":\"p2\",\"sla\":\"social\"}]}\n",
            url);
    fclose(f);
    return path;
}

/* A complaint as the router leaves it. */
static void
make_routed(kj_envelope_t *env, const char *team_webhook)
{
    memset(env, 0, sizeof *env);
    int64_t now = kj_now_ms();
    kj_id_new(env->complaint.id, now, -1, &W.rng);
    kj_trace_id_new(env->trace_id, &W.rng);
    env->attempt = 1;
    strcpy(env->complaint.tenant, "default");
    strcpy(env->complaint.channel, "x");
    strcpy(env->complaint.customer.id, "c-17");
    strcpy(env->complaint.customer.tier, "gold");
    strcpy(env->complaint.text, "the app is down again");
    env->complaint.is_public = true;
    env->complaint.received_at_ms = now;
    env->complaint.accepted_at_ms = now;
    kj_envelope_stamp(env, "ingest", now, now);
    env->has_triage = true;
    strcpy(env->triage.language, "en");
    strcpy(env->triage.sentiment, "negative");
    strcpy(env->triage.category, "outage");
    strcpy(env->triage.urgency, "high");
    strcpy(env->triage.masked_text, "the app is down again");
    env->triage.actionable = true;
    env->has_assignment = true;
    strcpy(env->assignment.team, "care-en");
    strcpy(env->assignment.priority, "p2");
    strcpy(env->assignment.sla_policy, "social");
    env->assignment.due_at_ms = now + 3600000;
    if (team_webhook)
        snprintf(env->assignment.webhook_url,
                 sizeof env->assignment.webhook_url, "%s", team_webhook);
}

/* Create the record and move it received -> classified -> routed, as the
 * real stages would, then push the envelope to the notifier. */
static void
put_routed(const kj_envelope_t *env)
{
    kj_codec_t *codec = kj_codec_new();
    int64_t now = kj_now_ms();
    const uint8_t *bytes;
    int len = kj_envelope_encode(codec, env, &bytes);
    cr_assert(gt(int, len, 0));
    uint8_t *env_bytes = malloc((size_t)len);
    memcpy(env_bytes, bytes, (size_t)len);

    kj_event_t ev;
    const uint8_t *evb;
    kj_event_from_envelope(&ev, env, "received", "ingest", now);
    int evlen = kj_event_encode(codec, &ev, &evb);
    cr_assert(gt(int, evlen, 0));
    kj_store_create_t c = {.id = env->complaint.id,
                           .env = env_bytes,
                           .env_len = (size_t)len,
                           .event = evb,
                           .event_len = (size_t)evlen};
    cr_assert(eq(int, kj_store_create(W.store, &c, 1, now), 0));
    cr_assert(eq(int, c.result, 1));

    const char *path[][2] = {{"received", "classified"},
                             {"classified", "routed"}};
    for (int i = 0; i < 2; i++) {
        kj_event_from_envelope(&ev, env, path[i][1], "test", now);
        evlen = kj_event_encode(codec, &ev, &evb);
        kj_store_transition_t t = {.id = env->complaint.id,
                                   .from = path[i][0],
                                   .to = path[i][1],
                                   .env = env_bytes,
                                   .env_len = (size_t)len,
                                   .due_ms = now + 2000,
                                   .event = evb,
                                   .event_len = (size_t)evlen};
        cr_assert(eq(int, kj_store_transition(W.store, &t, 1, now), 0));
        cr_assert(eq(int, t.result, 1), "%s -> %s", path[i][0], path[i][1]);
    }
    cr_assert(eq(int, kj_push_send(W.push, env_bytes, (size_t)len), 0));
    free(env_bytes);
    kj_codec_destroy(&codec);
}

/* Poll the record until it is in state (or timeout_ms passes). Fills rec
 * (caller frees rec->env) and returns true if the state was reached. */
static bool
wait_state(const char *id, const char *state, int timeout_ms,
           kj_store_record_t *rec)
{
    int64_t deadline = kj_mono_ms() + timeout_ms;
    for (;;) {
        memset(rec, 0, sizeof *rec);
        int got = kj_store_get(W.store, id, rec);
        if (got == 1 && strcmp(rec->state, state) == 0)
            return true;
        if (kj_mono_ms() > deadline) {
            fprintf(stderr, "record %s: state %s (wanted %s), last_error %s\n",
                    id, got == 1 ? rec->state : "?", state, rec->last_error);
            if (W.proc)
                kj_proc_print_log_tail(W.proc, stderr, 40);
            return false;
        }
        free(rec->env);
        kj_test_sleep_ms(30);
    }
}

/* The exit code of a waitpid status, -1 if it did not exit normally. */
static int
exit_code(int status)
{
    if (status < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static double
admin_metric(const char *name, const char *labels)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", W.admin_port);
    kj_client_t *cl = kj_client_new(2000);
    kj_resp_t r = {0};
    double v = -1;
    if (kj_client_get(cl, url, &r) == 0 && r.status == 200 &&
        kj_prom_value(r.body, name, labels, &v) == 0)
        v = -1;
    kj_resp_free(&r);
    kj_client_destroy(&cl);
    return v;
}

TestSuite(notifier, .init = world_up, .fini = world_down, .timeout = 120);

Test(notifier, delivers_signed_alert_and_records_delivery)
{
    RX = rx_new(true);
    notifier_start("/alerts", NULL);
    kj_envelope_t *env = malloc(sizeof *env);
    make_routed(env, NULL);
    put_routed(env);

    kj_store_record_t rec;
    cr_assert(wait_state(env->complaint.id, "delivered", 10000, &rec));
    cr_assert(eq(sz, rx_count(RX), 1));
    rx_req_t req = rx_get(RX, 0);
    char key[64];
    snprintf(key, sizeof key, "%s:team_alert", env->complaint.id);
    cr_assert(eq(str, req.key, key));
    cr_assert(eq(str, req.path, "/alerts"));
    cr_assert(req.has_signature);
    cr_assert(req.signed_ok);
    cr_assert(eq(str, req.user_agent, "kujo/" KJ_VERSION));
    cr_assert(eq(str, req.content_type, "application/json"));
    cr_assert(eq(str, req.complaint_id, env->complaint.id));
    cr_assert(eq(int, req.attempt, 1));
    cr_assert_not_null(strstr(req.text, "[p2] outage complaint (en, x) for "
                                        "care-en, first reply due "));

    /* The stored envelope carries the delivery, with the URL's origin only. */
    kj_codec_t *codec = kj_codec_new();
    kj_envelope_t *got = malloc(sizeof *got);
    cr_assert(eq(int, kj_envelope_decode(codec, rec.env, rec.env_len, got), 0));
    cr_assert(eq(sz, got->n_deliveries, 1));
    const kj_delivery_t *d = &got->deliveries[0];
    cr_assert(eq(str, (char *)d->kind, "team_alert"));
    cr_assert(eq(str, (char *)d->status, "delivered"));
    cr_assert(eq(int, d->http_status, 200));
    cr_assert(eq(int, d->attempts, 1));
    cr_assert(eq(str, (char *)d->idempotency_key, key));
    char origin[64];
    snprintf(origin, sizeof origin, "http://127.0.0.1:%d", RX->port);
    cr_assert(eq(str, (char *)d->endpoint, origin));
    cr_assert(gt(i64, d->at_ms, 0));
    bool stamped = false;
    for (size_t i = 0; i < got->n_stages; i++)
        if (strcmp(got->stages[i].stage, "notifier") == 0)
            stamped = got->stages[i].out_ms >= got->stages[i].in_ms &&
                      got->stages[i].in_ms > 0;
    cr_assert(stamped);
    free(rec.env);
    free(got);
    kj_codec_destroy(&codec);

    cr_assert(eq(dbl,
                 admin_metric("kujo_deliveries_total", "result=\"delivered\""),
                 1.0));

    /* SIGTERM drains and exits 0. */
    int status = kj_proc_stop(W.proc, 10000);
    cr_assert(eq(int, exit_code(status), 0), "status %d", status);
    free(env);
}

Test(notifier, http_500_goes_dead_after_max_attempts)
{
    RX = rx_new(true);
    rx_set(RX, 500, 0);
    notifier_start("/alerts", NULL);
    kj_envelope_t *env = malloc(sizeof *env);
    make_routed(env, NULL);
    put_routed(env);

    kj_store_record_t rec;
    cr_assert(wait_state(env->complaint.id, "dead", 15000, &rec));
    /* The kj_rc name first, so that reasons group; the detail after. */
    cr_assert(eq(str, rec.reason, "http_error: HTTP 500 after 3 attempts"));
    cr_assert(eq(str, rec.dead_from, "routed"));
    /* Exactly max attempts, each signed with the same key; the body's
     * attempt counts up. */
    cr_assert(eq(sz, rx_count(RX), 3));
    for (size_t i = 0; i < 3; i++) {
        rx_req_t req = rx_get(RX, i);
        cr_assert(req.signed_ok);
        cr_assert(eq(int, req.attempt, (int)i + 1));
        cr_assert(eq(str, req.complaint_id, env->complaint.id));
    }
    free(rec.env);
    cr_assert(eq(
        dbl, admin_metric("kujo_deliveries_total", "result=\"failed\""), 3.0));
    free(env);
}

/* Wait until the receiver has seen n requests. */
static void
rx_wait(rx_t *rx, size_t n, int timeout_ms)
{
    int64_t deadline = kj_mono_ms() + timeout_ms;
    while (rx_count(rx) < n) {
        cr_assert(lt(i64, kj_mono_ms(), deadline), "%zu of %zu requests",
                  rx_count(rx), n);
        kj_test_sleep_ms(10);
    }
}

/* A receiver that says "slow down, come back in 2 s" (429 Retry-After in
 * seconds, then 503 with an HTTP date): no request reaches it before
 * then, this alert's retry or another complaint's alert, although the
 * backoff alone would retry within 200 ms. Gaps are measured here. */
Test(notifier, retry_after_is_honoured_for_the_endpoint)
{
    RX = rx_new(true);
    snprintf(RX->retry_after, sizeof RX->retry_after, "2");
    rx_set(RX, 429, 0);
    const char *extra[] = {"KUJO_MAX_ATTEMPTS=10", NULL};
    notifier_start("/alerts", extra);
    kj_envelope_t *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    make_routed(a, NULL);
    put_routed(a);
    rx_wait(RX, 1, 10000);
    rx_set(RX, 200, 0);
    make_routed(b, NULL);
    put_routed(b); /* while the endpoint is held */
    kj_store_record_t rec;
    cr_assert(wait_state(a->complaint.id, "delivered", 15000, &rec));
    free(rec.env);
    cr_assert(wait_state(b->complaint.id, "delivered", 15000, &rec));
    free(rec.env);
    cr_assert(eq(sz, rx_count(RX), 3)); /* a's 429, then a and b */
    int64_t first = rx_get(RX, 0).at_ms;
    int64_t gap1 = rx_get(RX, 1).at_ms - first;
    int64_t gap2 = rx_get(RX, 2).at_ms - first;
    cr_log_info("429 Retry-After 2: next requests %lld and %lld ms later",
                (long long)gap1, (long long)gap2);
    cr_assert(ge(i64, gap1, 1950));
    cr_assert(ge(i64, gap2, 1950));
    cr_assert(lt(i64, gap1, 6000));

    /* 503 with an HTTP date three seconds ahead (dates count whole
     * seconds, so at least two of them are kept). */
    kj_envelope_t *c = malloc(sizeof *c);
    time_t when = time(NULL) + 3;
    struct tm tm;
    gmtime_r(&when, &tm);
    pthread_mutex_lock(&RX->lock);
    strftime(RX->retry_after, sizeof RX->retry_after,
             "%a, %d %b %Y %H:%M:%S GMT", &tm);
    RX->status = 503;
    pthread_mutex_unlock(&RX->lock);
    make_routed(c, NULL);
    put_routed(c);
    rx_wait(RX, 4, 10000);
    rx_set(RX, 200, 0);
    cr_assert(wait_state(c->complaint.id, "delivered", 15000, &rec));
    free(rec.env);
    int64_t gap3 = rx_get(RX, 4).at_ms - rx_get(RX, 3).at_ms;
    cr_log_info("503 Retry-After HTTP date +3 s: retried %lld ms later",
                (long long)gap3);
    cr_assert(ge(i64, gap3, 1950));
    free(a);
    free(b);
    free(c);
}

/* A slow endpoint gets at most KUJO_ENDPOINT_CONCURRENCY requests at
 * once; the others wait their turn without spending an attempt. */
Test(notifier, endpoint_concurrency_is_bounded)
{
    RX = rx_new(true);
    rx_set(RX, 200, 300);
    const char *extra[] = {"KUJO_ENDPOINT_CONCURRENCY=2", NULL};
    notifier_start("/alerts", extra);
    enum { N = 8 };
    kj_envelope_t *env = malloc(N * sizeof *env);
    for (int i = 0; i < N; i++) {
        make_routed(&env[i], NULL);
        put_routed(&env[i]);
    }
    kj_store_record_t rec;
    for (int i = 0; i < N; i++) {
        cr_assert(wait_state(env[i].complaint.id, "delivered", 20000, &rec));
        cr_assert(eq(i64, rec.attempts, 1), "a wait spent an attempt");
        free(rec.env);
    }
    pthread_mutex_lock(&RX->lock);
    int most = RX->max_active;
    pthread_mutex_unlock(&RX->lock);
    cr_log_info("at most %d requests at once of %d", most, N);
    cr_assert(eq(int, most, 2));
    cr_assert(eq(sz, rx_count(RX), N));
    free(env);
}

Test(notifier, receiver_down_then_up_is_delivered)
{
    RX = rx_new(false);
    const char *extra[] = {"KUJO_MAX_ATTEMPTS=50", NULL};
    notifier_start("/alerts", extra);
    kj_envelope_t *env = malloc(sizeof *env);
    make_routed(env, NULL);
    put_routed(env);

    /* Wait until at least two attempts failed with the port closed. */
    int64_t deadline = kj_mono_ms() + 10000;
    kj_store_record_t rec;
    for (;;) {
        memset(&rec, 0, sizeof rec);
        cr_assert(eq(int, kj_store_get(W.store, env->complaint.id, &rec), 1));
        bool seen =
            rec.attempts >= 2 &&
            strstr(rec.last_error, "io_error: connection refused") != NULL;
        free(rec.env);
        if (seen)
            break;
        cr_assert(lt(i64, kj_mono_ms(), deadline), "last_error %s",
                  rec.last_error);
        kj_test_sleep_ms(30);
    }
    cr_assert(eq(str, rec.state, "routed"));
    cr_assert(eq(int, rx_listen(RX), 0));

    cr_assert(wait_state(env->complaint.id, "delivered", 10000, &rec));
    cr_assert(ge(sz, rx_count(RX), 1));
    kj_codec_t *codec = kj_codec_new();
    kj_envelope_t *got = malloc(sizeof *got);
    cr_assert(eq(int, kj_envelope_decode(codec, rec.env, rec.env_len, got), 0));
    cr_assert(eq(str, (char *)got->deliveries[0].status, "delivered"));
    cr_assert(ge(int, got->deliveries[0].attempts, 2));
    free(rec.env);
    free(got);
    kj_codec_destroy(&codec);
    free(env);
}

Test(notifier, team_webhook_wins_and_missing_webhook_is_dead)
{
    RX = rx_new(true);
    kj_envelope_t *a = malloc(sizeof *a);
    kj_envelope_t *b = malloc(sizeof *b);
    char team_url[128], rules[200];
    snprintf(team_url, sizeof team_url, "http://127.0.0.1:%d/team/care-en",
             RX->port);
    /* No KUJO_WEBHOOK_URL: only teams with their own webhook in the
     * notifier's rules get alerts. */
    snprintf(rules, sizeof rules, "KUJO_RULES=%s",
             rules_with_webhook(team_url));
    const char *extra[] = {rules, NULL};
    notifier_start(NULL, extra);
    make_routed(a, NULL);
    make_routed(b, NULL);
    strcpy(b->assignment.team, "care-ja");
    put_routed(a);
    put_routed(b);

    kj_store_record_t rec;
    cr_assert(wait_state(a->complaint.id, "delivered", 10000, &rec));
    free(rec.env);
    cr_assert(eq(sz, rx_count(RX), 1));
    cr_assert(eq(str, rx_get(RX, 0).path, "/team/care-en"));

    cr_assert(wait_state(b->complaint.id, "dead", 10000, &rec));
    cr_assert(eq(str, rec.reason,
                 "config_error: no webhook configured for team care-ja"));
    free(rec.env);
    cr_assert(eq(sz, rx_count(RX), 1));
    free(a);
    free(b);
}

Test(notifier, drain_waits_for_requests_in_flight)
{
    RX = rx_new(true);
    rx_set(RX, 200, 600);
    notifier_start("/alerts", NULL);
    kj_envelope_t *env = malloc(sizeof *env);
    make_routed(env, NULL);
    put_routed(env);
    /* SIGTERM while the receiver is still holding the request. */
    int64_t deadline = kj_mono_ms() + 5000;
    while (rx_count(RX) == 0 && kj_mono_ms() < deadline)
        kj_test_sleep_ms(5);
    cr_assert(eq(sz, rx_count(RX), 1));
    cr_assert(eq(int, kj_proc_signal(W.proc, SIGTERM), 0));
    int status = kj_proc_wait(W.proc, 10000);
    cr_assert(eq(int, exit_code(status), 0), "status %d", status);
    kj_store_record_t rec;
    cr_assert(wait_state(env->complaint.id, "delivered", 1000, &rec));
    free(rec.env);
    free(env);
}

/* The whole of a file, NUL-terminated; the caller frees it. */
static char *
s_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len < 2)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* Neither a webhook URL's path nor its userinfo reaches the log, the
 * /metrics page or the stored record: only scheme://host:port does. */
Test(notifier, logs_and_metrics_show_only_the_origin)
{
    RX = rx_new(true);
    char dflt[256], team_url[128];
    snprintf(dflt, sizeof dflt,
             "KUJO_WEBHOOK_URL=http://hookuser:HOOKPASS77@127.0.0.1:%d"
             "/hook/SECRETPATH123?token=SECRETQUERY",
             RX->port);
    snprintf(team_url, sizeof team_url,
             "http://teamuser:TEAMPASS88@127.0.0.1:%d/team/SECRETTEAM456",
             RX->port);
    char rules[200];
    snprintf(rules, sizeof rules, "KUJO_RULES=%s",
             rules_with_webhook(team_url));
    /* A breaker that opens after two failures and tries again soon: its
     * log lines name the endpoint too. */
    const char *extra[] = {dflt, rules, "KUJO_CIRCUIT_FAILURES=2",
                           "KUJO_CIRCUIT_OPEN_MS=200", NULL};
    notifier_start(NULL, extra);

    /* One delivered to the default webhook, one that fails until dead on
     * a team's own webhook: every log line that names an endpoint. */
    kj_envelope_t *a = malloc(sizeof *a);
    kj_envelope_t *b = malloc(sizeof *b);
    make_routed(a, NULL);
    strcpy(a->assignment.team, "care-ja");
    make_routed(b, NULL);
    put_routed(a);
    kj_store_record_t rec;
    cr_assert(wait_state(a->complaint.id, "delivered", 10000, &rec));
    free(rec.env);
    cr_assert(eq(str, rx_get(RX, 0).path, "/hook/SECRETPATH123"));
    rx_set(RX, 500, 0);
    put_routed(b);
    cr_assert(wait_state(b->complaint.id, "dead", 15000, &rec));
    char *reason = kj_strdup(rec.reason);
    free(rec.env);

    char origin[64];
    snprintf(origin, sizeof origin, "http://127.0.0.1:%d", RX->port);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", W.admin_port);
    kj_client_t *cl = kj_client_new(2000);
    kj_resp_t r = {0};
    cr_assert(eq(int, kj_client_get(cl, url, &r), 0));
    cr_assert(eq(int, r.status, 200));
    int status = kj_proc_stop(W.proc, 10000);
    cr_assert(eq(int, exit_code(status), 0), "status %d", status);
    char *log = s_slurp(W.log);

    const char *secrets[] = {"SECRETPATH123", "SECRETQUERY",   "hookuser",
                             "HOOKPASS77",    "SECRETTEAM456", "teamuser",
                             "TEAMPASS88",    "/...",          NULL};
    const char *where[][2] = {
        {"log", log}, {"metrics", r.body}, {"dead reason", reason}};
    for (size_t w = 0; w < 3; w++)
        for (size_t i = 0; secrets[i]; i++) {
            const char *at = strstr(where[w][1], secrets[i]);
            cr_assert_null(at, "%s shows %s: ...%.200s", where[w][0],
                           secrets[i],
                           at - 100 > where[w][1] ? at - 100 : where[w][1]);
        }
    char quoted[80];
    snprintf(quoted, sizeof quoted, "\"endpoint\":\"%s\"", origin);
    cr_assert_not_null(strstr(log, quoted), "no %s in the log", quoted);
    snprintf(quoted, sizeof quoted, "endpoint=\"%s\"", origin);
    cr_assert_not_null(strstr(r.body, quoted), "no %s in /metrics", quoted);
    free(log);
    free(reason);
    kj_resp_free(&r);
    kj_client_destroy(&cl);
    free(a);
    free(b);
}

Test(notifier, bad_configuration_exits_78)
{
    RX = rx_new(false);
    /* The lease must outlast a request, and the default endpoint and the
     * case link must be web URLs. */
    const char *bad[][3] = {
        {"KUJO_LEASE_MS=1000", "KUJO_HTTP_TIMEOUT_MS=1000", NULL},
        {"KUJO_WEBHOOK_URL=file:///etc/passwd", NULL, NULL},
        {"KUJO_RETRY_BASE_MS=500", "KUJO_RETRY_CAP_MS=100", NULL},
        /* The Slack case link: a web URL with {case_id}. */
        {"KUJO_CASE_URL=https://care.example.com/cases", NULL, NULL},
        {"KUJO_CASE_URL=javascript:alert(1)//{case_id}", NULL, NULL},
    };
    char *argv[] = {"kujo-notifier", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        W.proc = kj_proc_start("notifier", KJ_BIN_DIR "/kujo-notifier", argv,
                               bad[i], W.log);
        cr_assert_not_null(W.proc);
        int status = kj_proc_wait(W.proc, 5000);
        cr_assert(eq(int, exit_code(status), 78), "case %zu: status %d", i,
                  status);
        kj_proc_destroy(&W.proc);
    }
}

/* The Block Kit checks every Slack body must pass: a text fallback and
 * blocks of known types, each with what Slack requires of its type, no
 * mrkdwn text with a raw < or > (mentions, links). Returns the root. */
static json_t *
slack_check(const char *body)
{
    json_error_t jerr;
    json_t *root = json_loads(body, 0, &jerr);
    cr_assert_not_null(root, "not JSON: %s", jerr.text);
    cr_assert(json_string_value(json_object_get(root, "text")) != NULL);
    cr_assert(eq(sz, json_object_size(root), 2), "%s", body);
    json_t *blocks = json_object_get(root, "blocks");
    cr_assert(json_array_size(blocks) > 0);
    cr_assert(ge(sz, json_array_size(blocks), 4));
    cr_assert(le(sz, json_array_size(blocks), 50));
    size_t i;
    json_t *b;
    json_array_foreach(blocks, i, b)
    {
        const char *type = json_string_value(json_object_get(b, "type"));
        cr_assert_not_null(type);
        json_t *text = json_object_get(b, "text");
        if (strcmp(type, "header") == 0) {
            cr_assert(eq(
                str, (char *)json_string_value(json_object_get(text, "type")),
                "plain_text"));
        } else if (strcmp(type, "section") == 0) {
            cr_assert(text ||
                      json_array_size(json_object_get(b, "fields")) > 0);
            if (text) {
                const char *t =
                    json_string_value(json_object_get(text, "text"));
                cr_assert(le(sz, strlen(t), 4 * 3000));
                cr_assert(zero(ptr, strpbrk(t, "<>")), "%s", t);
            }
        } else if (strcmp(type, "context") == 0 ||
                   strcmp(type, "actions") == 0) {
            cr_assert(json_array_size(json_object_get(b, "elements")) > 0);
        } else {
            cr_fail("unexpected block type %s", type);
        }
    }
    return root;
}

static const char *
block_text(json_t *root, size_t i)
{
    json_t *b = json_array_get(json_object_get(root, "blocks"), i);
    json_t *t = json_object_get(b, "text");
    if (!t)
        t = json_array_get(json_object_get(b, "elements"), 0);
    return json_string_value(json_object_get(t, "text"));
}

/* A team whose webhook is in the Slack format gets valid Block Kit: the
 * masked text (escaped, never the original), the due time in the team's
 * zone (Tokyo), the case button from KUJO_CASE_URL; still signed, with
 * its Idempotency-Key. An SLA warning for that team gets Block Kit too. */
Test(notifier, slack_team_webhook_gets_block_kit)
{
    RX = rx_new(true);
    char url[128], rules[200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/services/T0/B0/x", RX->port);
    snprintf(rules, sizeof rules, "KUJO_RULES=%s", rules_with_slack(url));
    const char *extra[] = {
        rules, "KUJO_CASE_URL=https://care.example.com/cases/{case_id}",
        "KUJO_OUTBOX_POLL_MS=100", NULL};
    notifier_start(NULL, extra);
    kj_envelope_t *a = malloc(sizeof *a);
    make_routed(a, NULL);
    strcpy(a->complaint.text, "mail me at alice@example.com <!channel>");
    strcpy(a->triage.masked_text, "mail me at [email] <!channel> & <@U1>");
    strcpy(a->assignment.case_id, "0193CASE0000000000AA");
    put_routed(a);
    kj_store_record_t rec;
    cr_assert(wait_state(a->complaint.id, "delivered", 10000, &rec));
    free(rec.env);
    cr_assert(eq(sz, rx_count(RX), 1));
    rx_req_t req = rx_get(RX, 0);
    cr_assert(eq(str, req.path, "/services/T0/B0/x"));
    cr_log_info("slack body: %s", req.body);
    /* Slack ignores them, but they are still sent (and right). */
    cr_assert(req.signed_ok);
    char key[64];
    snprintf(key, sizeof key, "%s:team_alert", a->complaint.id);
    cr_assert(eq(str, req.key, key));
    cr_assert(zero(ptr, strstr(req.body, "alice")));
    cr_assert(zero(ptr, strstr(req.body, "team_alert")));
    json_t *root = slack_check(req.body);
    cr_assert(eq(str, (char *)block_text(root, 0), "P2 \xc2\xb7 outage"));
    cr_assert(eq(str, (char *)block_text(root, 1),
                 "mail me at [email] &lt;!channel&gt; &amp; &lt;@U1&gt;"));
    const char *ctx = block_text(root, 3);
    cr_assert(not(zero(ptr, strstr(ctx, " JST* (UTC+09:00)"))), "%s", ctx);
    const char *fallback = json_string_value(json_object_get(root, "text"));
    cr_assert(not(zero(ptr, strstr(fallback, "[P2] outage \xe2\x80\x94 case "
                                             "0193CASE0000000000AA"))),
              "%s", fallback);
    json_t *btn = json_array_get(
        json_object_get(json_array_get(json_object_get(root, "blocks"), 4),
                        "elements"),
        0);
    cr_assert(eq(str, (char *)json_string_value(json_object_get(btn, "url")),
                 "https://care.example.com/cases/0193CASE0000000000AA"));
    json_decref(root);

    /* An SLA warning the router owes the team: Block Kit as well. */
    kj_outbox_t *ob = kj_outbox_new(W.r, W.prefix);
    cr_assert_not_null(ob);
    char job[64], payload[512];
    snprintf(job, sizeof job, "%s:sla_warning:fr_warn", a->complaint.id);
    snprintf(payload, sizeof payload,
             "{\"kind\":\"sla_warning\",\"complaint_id\":\"%s\","
             "\"case_id\":\"0193CASE0000000000AA\",\"tenant\":\"default\","
             "\"team\":\"care-en\",\"channel\":\"x\",\"language\":\"en\","
             "\"priority\":\"p2\",\"to\":\"agent-7\",\"clock\":"
             "\"first_response\",\"due_at_ms\":%lld}",
             a->complaint.id, (long long)a->assignment.due_at_ms);
    cr_assert(
        eq(int,
           kj_outbox_put(ob, "default", job, "sla_warning", a->complaint.id,
                         "0193CASE0000000000AA", payload, kj_now_ms()),
           1));
    rx_wait(RX, 2, 10000);
    req = rx_get(RX, 1);
    cr_assert(eq(str, req.key, job));
    cr_assert(req.signed_ok);
    cr_log_info("slack sla_warning body: %s", req.body);
    root = slack_check(req.body);
    cr_assert(eq(str, (char *)block_text(root, 0), "P2 \xc2\xb7 SLA warning"));
    ctx = block_text(root, 3);
    cr_assert(not(zero(ptr, strstr(ctx, "First reply due *"))), "%s", ctx);
    cr_assert(not(zero(ptr, strstr(ctx, " JST* (UTC+09:00)"))), "%s", ctx);
    json_decref(root);
    kj_outbox_destroy(&ob);
    free(a);
}

/* Slack's rate limit: 429 with Retry-After: 2 on a Slack-format webhook.
 * The next request comes no sooner than 2 s later (measured and logged),
 * although the backoff alone would retry within 200 ms. */
Test(notifier, slack_429_retry_after_is_honoured)
{
    RX = rx_new(true);
    snprintf(RX->retry_after, sizeof RX->retry_after, "2");
    rx_set(RX, 429, 0);
    char url[128], rules[200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/services/T0/B0/y", RX->port);
    snprintf(rules, sizeof rules, "KUJO_RULES=%s", rules_with_slack(url));
    const char *extra[] = {rules, "KUJO_MAX_ATTEMPTS=10", NULL};
    notifier_start(NULL, extra);
    kj_envelope_t *a = malloc(sizeof *a);
    make_routed(a, NULL);
    put_routed(a);
    rx_wait(RX, 1, 10000);
    rx_set(RX, 200, 0);
    kj_store_record_t rec;
    cr_assert(wait_state(a->complaint.id, "delivered", 15000, &rec));
    free(rec.env);
    cr_assert(eq(sz, rx_count(RX), 2));
    int64_t gap = rx_get(RX, 1).at_ms - rx_get(RX, 0).at_ms;
    cr_log_info("slack 429 Retry-After 2: next request %lld ms later",
                (long long)gap);
    fprintf(stderr, "slack 429 Retry-After 2: next request %lld ms later\n",
            (long long)gap);
    cr_assert(ge(i64, gap, 1950));
    cr_assert(lt(i64, gap, 6000));
    /* Both requests were Block Kit. */
    json_decref(slack_check(rx_get(RX, 0).body));
    json_decref(slack_check(rx_get(RX, 1).body));
    free(a);
}
