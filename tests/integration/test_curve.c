/* ZeroMQ CURVE between the real stage binaries on loopback: with keys the
 * pipeline delivers end to end; a raw PUSH without CURVE, and one with a
 * CURVE key not in KUJO_CURVE_PEERS, aimed at the notifier's registered
 * endpoint gets nothing in (the refused counter rises, the record in Redis
 * stays as it was); a copy rolled to a new key while PEERS lists both
 * keeps delivering; and plain mode on a non-loopback bind exits 78. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <zmq.h>

#include "kj_curve.h"
#include "kj_harness.h"
#include "kj_util.h"

static kj_pipeline_t *s_pl;

static void
s_teardown(void)
{
    kj_pipeline_destroy(&s_pl);
}

TestSuite(curve, .fini = s_teardown, .timeout = 180);

typedef struct {
    char pub[41], sec[41];
} s_pair_t;

static void
s_keypair(s_pair_t *k)
{
    cr_assert(eq(int, zmq_curve_keypair(k->pub, k->sec), 0));
}

/* Post one complaint and wait for it to be delivered. */
static void
s_deliver(const char *idem, char id[32])
{
    char *body =
        kj_test_complaint("web", "c-curve", "standard",
                          "The app crashes when I open my orders.", NULL);
    int status = kj_pipeline_post(s_pl, body, idem, id);
    free(body);
    KJ_PL_ASSERT(s_pl, status == 202, "POST answered %d", status);
    json_t *rec = kj_pipeline_wait_state(s_pl, id, "delivered", 30000);
    KJ_PL_ASSERT(s_pl, rec != NULL, "%s not delivered over CURVE", id);
    json_decref(rec);
}

static redisContext *
s_redis(void)
{
    redisContext *c = redisConnect("127.0.0.1", kj_pipeline_redis(s_pl)->port);
    cr_assert(c && !c->err);
    return c;
}

/* The notifier's first registry entry ("tcp://127.0.0.1:p#key"). */
static void
s_notifier_entry(char *out, size_t size)
{
    redisContext *c = s_redis();
    redisReply *r = redisCommand(c, "ZRANGE %s:reg:notifier 0 -1",
                                 kj_pipeline_prefix(s_pl));
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1);
    kj_strlcpy(out, r->element[0]->str, size);
    freeReplyObject(r);
    redisFree(c);
}

/* Every field of the record of id, as one string (caller frees), and the
 * stored envelope bytes (a real, decodable envelope to replay). */
static char *
s_record_dump(const char *id, char **env, size_t *env_len)
{
    redisContext *c = s_redis();
    redisReply *keys =
        redisCommand(c, "KEYS %s:{*}:c:%s", kj_pipeline_prefix(s_pl), id);
    cr_assert(keys && keys->type == REDIS_REPLY_ARRAY && keys->elements == 1);
    redisReply *r = redisCommand(c, "HGETALL %s", keys->element[0]->str);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements > 0);
    size_t total = 1;
    for (size_t i = 0; i < r->elements; i++)
        total += r->element[i]->len + 1;
    char *dump = kj_calloc(1, total);
    size_t at = 0;
    for (size_t i = 0; i < r->elements; i++) {
        memcpy(dump + at, r->element[i]->str, r->element[i]->len);
        at += r->element[i]->len;
        dump[at++] = '\n';
        if (env && i + 1 < r->elements &&
            strcmp(r->element[i]->str, "env") == 0) {
            *env_len = r->element[i + 1]->len;
            *env = kj_malloc(*env_len);
            memcpy(*env, r->element[i + 1]->str, *env_len);
        }
    }
    freeReplyObject(r);
    freeReplyObject(keys);
    redisFree(c);
    return dump;
}

static double
s_metric(kj_svc_t svc, const char *name)
{
    double v = 0;
    if (kj_pipeline_metric(s_pl, svc, 0, name, NULL, &v) != 0)
        return -1;
    return v;
}

/* Push data at endpoint from a fresh context, as a client without CURVE
 * (client NULL) or with the client keypair and the server key. */
static void
s_raw_push(const char *endpoint, const char *server_key, const s_pair_t *client,
           const void *data, size_t len)
{
    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_PUSH);
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    if (client) {
        zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_key, 40);
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, client->pub, 40);
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, client->sec, 40);
    }
    cr_assert(eq(int, zmq_connect(sock, endpoint), 0));
    /* Without ZMQ_IMMEDIATE the message queues at once; it would leave
     * only over a completed handshake. */
    for (int i = 0; i < 5; i++)
        zmq_send(sock, data, len, ZMQ_DONTWAIT);
    kj_test_sleep_ms(1500);
    zmq_close(sock);
    zmq_ctx_term(ctx);
}

Test(curve, delivers_and_refuses_strangers)
{
    s_pair_t k, stranger;
    s_keypair(&k);
    s_keypair(&stranger);
    char sec[80], peers[80];
    snprintf(sec, sizeof sec, "KUJO_CURVE_SECRET_KEY=%s", k.sec);
    snprintf(peers, sizeof peers, "KUJO_CURVE_PEERS=%s", k.pub);
    const char *env[] = {sec, peers, NULL};
    kj_pipeline_opts_t o = {.env = env};
    s_pl = kj_pipeline_new(&o);
    cr_assert(not(eq(ptr, s_pl, NULL)));

    char id[32];
    s_deliver("curve-1", id);

    char entry[256], ep[256], key[64];
    s_notifier_entry(entry, sizeof entry);
    cr_assert(eq(int,
                 kj_curve_endpoint_split(entry, ep, sizeof ep, key, sizeof key),
                 1),
              "notifier registered %s without a key", entry);
    cr_assert(eq(str, key, k.pub), "all copies share one keypair here");

    char *env_bytes = NULL;
    size_t env_len = 0;
    char *before = s_record_dump(id, &env_bytes, &env_len);
    cr_assert(not(eq(ptr, env_bytes, NULL)));
    double in0 = s_metric(KJ_SVC_NOTIFIER, "kujo_envelopes_in_total");
    double refused0 = s_metric(KJ_SVC_NOTIFIER, "kujo_zmq_auth_refused_total");
    cr_assert(in0 >= 1 && refused0 == 0, "in %f refused %f", in0, refused0);

    /* No CURVE at all: the handshake fails before ZAP is asked. */
    s_raw_push(ep, NULL, NULL, env_bytes, env_len);
    /* CURVE with the right server key but a client key not in PEERS. */
    s_raw_push(ep, k.pub, &stranger, env_bytes, env_len);

    double in1 = s_metric(KJ_SVC_NOTIFIER, "kujo_envelopes_in_total");
    double refused1 = s_metric(KJ_SVC_NOTIFIER, "kujo_zmq_auth_refused_total");
    double failed = 0;
    kj_pipeline_metric(s_pl, KJ_SVC_NOTIFIER, 0, "kujo_envelopes_failed_total",
                       NULL, &failed);
    KJ_PL_ASSERT(s_pl, in1 == in0, "a forged envelope got in (%f -> %f)", in0,
                 in1);
    KJ_PL_ASSERT(s_pl, failed == 0, "the notifier saw %f bad envelopes",
                 failed);
    KJ_PL_ASSERT(s_pl, refused1 >= 1, "the stranger's key was not refused");
    /* The secret key never reaches a log; the refused key (public) does. */
    bool named = false;
    for (int svc = 0; svc < KJ_SVC_COUNT; svc++) {
        kj_proc_t *p = kj_pipeline_proc(s_pl, (kj_svc_t)svc, 0);
        FILE *f = p ? fopen(kj_proc_log_path(p), "r") : NULL;
        if (!f)
            continue;
        char line[8192];
        while (fgets(line, sizeof line, f)) {
            cr_assert(eq(ptr, strstr(line, k.sec), NULL),
                      "%s logged the secret key", kj_svc_name((kj_svc_t)svc));
            named = named || strstr(line, stranger.pub) != NULL;
        }
        fclose(f);
    }
    cr_assert(named, "the refused client key was not logged");
    char *after = s_record_dump(id, NULL, NULL);
    cr_assert(eq(str, after, before), "the record changed");
    free(after);
    free(before);
    free(env_bytes);
}

Test(curve, rotation_with_both_keys_listed)
{
    s_pair_t old, new;
    s_keypair(&old);
    s_keypair(&new);
    char sec[80], peers[128];
    snprintf(sec, sizeof sec, "KUJO_CURVE_SECRET_KEY=%s", old.sec);
    snprintf(peers, sizeof peers, "KUJO_CURVE_PEERS=%s,%s", old.pub, new.pub);
    const char *env[] = {sec, peers, NULL};
    kj_pipeline_opts_t o = {.env = env};
    s_pl = kj_pipeline_new(&o);
    cr_assert(not(eq(ptr, s_pl, NULL)));
    char id[32];
    s_deliver("rot-1", id);

    /* Roll the router to the new secret key: the classifier finds the new
     * server key in the registry, the notifier lets the new client key
     * in. */
    KJ_PL_ASSERT(s_pl, kj_pipeline_stop(s_pl, KJ_SVC_ROUTER, 0, 10000) == 0,
                 "router did not drain");
    kj_proc_setenv(kj_pipeline_proc(s_pl, KJ_SVC_ROUTER, 0),
                   "KUJO_CURVE_SECRET_KEY", new.sec);
    cr_assert(eq(int, kj_pipeline_restart(s_pl, KJ_SVC_ROUTER, 0), 0));
    KJ_PL_ASSERT(s_pl,
                 kj_pipeline_wait_ready(s_pl, KJ_SVC_ROUTER, 0, 15000) == 0,
                 "router with the new key not ready");
    KJ_PL_ASSERT(s_pl,
                 kj_pipeline_wait_peers(s_pl, KJ_SVC_ROUTER, 0, 1, 15000) == 0,
                 "router with the new key has no notifier peer");
    KJ_PL_ASSERT(
        s_pl, kj_pipeline_wait_peers(s_pl, KJ_SVC_CLASSIFIER, 0, 1, 15000) == 0,
        "classifier lost the router");
    s_deliver("rot-2", id);
    double refused = -1;
    kj_pipeline_metric(s_pl, KJ_SVC_NOTIFIER, 0, "kujo_zmq_auth_refused_total",
                       NULL, &refused);
    cr_assert(eq(dbl, refused, 0.0), "a rolled copy was refused");
}

Test(curve, plain_mode_refuses_a_public_bind)
{
    kj_testredis_t redis;
    cr_assert(eq(int, kj_testredis_start(&redis, false), 0));
    char url[96], admin[64], log[256];
    snprintf(url, sizeof url, "KUJO_REDIS_URL=%s", redis.url);
    snprintf(admin, sizeof admin, "KUJO_ADMIN_ADDR=127.0.0.1:%d",
             kj_test_free_port());
    snprintf(log, sizeof log, "/tmp/kujo-curve-plain.%d.log", (int)getpid());
    const char *env[] = {url, admin, "KUJO_ZMQ_BIND=tcp://0.0.0.0:*",
                         "KUJO_ZMQ_ADVERTISE=127.0.0.1", NULL};
    kj_proc_t *p =
        kj_proc_start("router", KJ_BIN_DIR "/kujo-router", NULL, env, log);
    cr_assert(not(eq(ptr, p, NULL)));
    int status = kj_proc_wait(p, 10000);
    kj_proc_destroy(&p);
    kj_testredis_stop(&redis);
    bool config_exit = WIFEXITED(status) && WEXITSTATUS(status) == 78;
    cr_assert(config_exit, "status %d", status);
    FILE *f = fopen(log, "r");
    cr_assert(not(eq(ptr, f, NULL)));
    char buf[8192] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    unlink(log);
    cr_assert(not(eq(ptr, strstr(buf, "KUJO_CURVE_SECRET_KEY"), NULL)), "%s",
              buf);
}
