/* kujo-bench-raw: the raw ceilings of this machine's stack, measured in the
 * same run as the pipeline so the pipeline's numbers can be read as ratios:
 *   zmq3hop  - a realistic envelope through three ZeroMQ PUSH->PULL hops over
 *              tcp loopback, with a protobuf decode + encode at every hop;
 *   redis    - the records' write pattern (HSET + XADD) pipelined 100 at a
 *              time against a real redis-server.
 * Prints one JSON object. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "kj_envelope.h"
#include "kj_redis.h"
#include "kj_util.h"

#define HOPS 3

typedef struct {
    void *zctx;
    char in[64];  /* endpoint to bind (PULL) */
    char out[64]; /* endpoint to connect (PUSH), "" for the sink */
    long n;
    int64_t done_ms;
} hop_t;

static void
s_fill(kj_envelope_t *env)
{
    memset(env, 0, sizeof *env);
    uint64_t rng = 42;
    kj_id_new(env->complaint.id, kj_now_ms(), -1, &rng);
    kj_trace_id_new(env->trace_id, &rng);
    env->attempt = 1;
    kj_strlcpy(env->complaint.channel, "x", sizeof env->complaint.channel);
    kj_strlcpy(env->complaint.tenant, "default", sizeof env->complaint.tenant);
    kj_strlcpy(env->complaint.customer.id, "@customer_1234",
               sizeof env->complaint.customer.id);
    kj_strlcpy(env->complaint.text,
               "I have been trying to log in to the app since this morning "
               "and it keeps failing with an error. I was also charged twice "
               "for my subscription this month. Please fix this today, this "
               "is the third time I am writing to you about it!",
               sizeof env->complaint.text);
    env->complaint.accepted_at_ms = kj_now_ms();
    env->has_triage = true;
    kj_strlcpy(env->triage.language, "en", sizeof env->triage.language);
    kj_strlcpy(env->triage.category, "outage", sizeof env->triage.category);
    kj_strlcpy(env->triage.urgency, "high", sizeof env->triage.urgency);
    kj_envelope_stamp(env, "ingest", 1, 2);
}

static void *
s_hop(void *arg)
{
    hop_t *h = arg;
    void *pull = zmq_socket(h->zctx, ZMQ_PULL);
    int linger = 0;
    zmq_setsockopt(pull, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(pull, h->in) != 0)
        abort();
    void *push = NULL;
    if (h->out[0]) {
        /* A hop closes its PUSH as soon as it has sent its last message:
         * it must linger until the queue reaches the next hop. */
        int drain_ms = 10000;
        push = zmq_socket(h->zctx, ZMQ_PUSH);
        zmq_setsockopt(push, ZMQ_LINGER, &drain_ms, sizeof drain_ms);
        if (zmq_connect(push, h->out) != 0)
            abort();
    }
    kj_codec_t *codec = kj_codec_new();
    kj_envelope_t *env = kj_malloc(sizeof *env);
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    for (long i = 0; i < h->n; i++) {
        if (zmq_msg_recv(&msg, pull, 0) < 0)
            abort();
        if (kj_envelope_decode(codec, zmq_msg_data(&msg), zmq_msg_size(&msg),
                               env) != 0)
            abort();
        if (push) {
            const uint8_t *out;
            int len = kj_envelope_encode(codec, env, &out);
            if (len < 0 || zmq_send(push, out, (size_t)len, 0) < 0)
                abort();
        }
    }
    h->done_ms = kj_mono_ms();
    zmq_msg_close(&msg);
    free(env);
    kj_codec_destroy(&codec);
    if (push)
        zmq_close(push);
    zmq_close(pull);
    return NULL;
}

static double
s_zmq_3hop(long n, size_t *wire_len)
{
    void *zctx = zmq_ctx_new();
    hop_t hops[HOPS];
    pthread_t th[HOPS];
    int base = 30000 + (int)(kj_seed() % 20000);
    for (int i = 0; i < HOPS; i++) {
        memset(&hops[i], 0, sizeof hops[i]);
        hops[i].zctx = zctx;
        hops[i].n = n;
        snprintf(hops[i].in, sizeof hops[i].in, "tcp://127.0.0.1:%d", base + i);
        if (i + 1 < HOPS)
            snprintf(hops[i].out, sizeof hops[i].out, "tcp://127.0.0.1:%d",
                     base + i + 1);
    }
    for (int i = HOPS - 1; i >= 0; i--)
        pthread_create(&th[i], NULL, s_hop, &hops[i]);

    void *push = zmq_socket(zctx, ZMQ_PUSH);
    int linger = 0;
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(push, hops[0].in);
    kj_codec_t *codec = kj_codec_new();
    kj_envelope_t *env = kj_malloc(sizeof *env);
    s_fill(env);
    const uint8_t *wire;
    int len = kj_envelope_encode(codec, env, &wire);
    *wire_len = (size_t)len;
    int64_t t0 = kj_mono_ms();
    for (long i = 0; i < n; i++)
        if (zmq_send(push, wire, (size_t)len, 0) < 0)
            abort();
    for (int i = 0; i < HOPS; i++)
        pthread_join(th[i], NULL);
    int64_t ms = hops[HOPS - 1].done_ms - t0;
    free(env);
    kj_codec_destroy(&codec);
    zmq_close(push);
    zmq_ctx_term(zctx);
    return (double)n * 1000.0 / (double)(ms > 0 ? ms : 1);
}

static double
s_redis_pipelined(const char *url, long n, size_t wire_len)
{
    char err[256];
    kj_redis_t *r = kj_redis_new(url, 5000, err, sizeof err);
    if (!r || kj_redis_connect(r) != 0) {
        fprintf(stderr, "bench-raw: redis: %s\n", r ? kj_redis_errstr(r) : err);
        exit(1);
    }
    char *payload = kj_malloc(wire_len);
    memset(payload, 'x', wire_len);
    const long batch = 100;
    int64_t t0 = kj_mono_ms();
    for (long i = 0; i < n; i += batch) {
        long m = (n - i < batch) ? n - i : batch;
        for (long j = 0; j < m; j++) {
            kj_redis_append(r, "HSET bench:{%ld}:c:%ld state received env %b",
                            (i + j) % 16, i + j, payload, wire_len);
            kj_redis_append(r, "XADD bench:{%ld}:events MAXLEN ~ 100000 * e %b",
                            (i + j) % 16, payload, (size_t)64);
        }
        for (long j = 0; j < 2 * m; j++) {
            redisReply *rep = kj_redis_get_reply(r);
            if (!rep || rep->type == REDIS_REPLY_ERROR) {
                fprintf(stderr, "bench-raw: redis reply failed\n");
                exit(1);
            }
            freeReplyObject(rep);
        }
    }
    int64_t ms = kj_mono_ms() - t0;
    redisReply *rep = kj_redis_command(r, "EVAL %s 0",
                                       "for _, k in ipairs(redis.call('KEYS', "
                                       "'bench:*')) do redis.call('DEL', k) "
                                       "end return 0");
    if (rep)
        freeReplyObject(rep);
    free(payload);
    kj_redis_destroy(&r);
    return (double)n * 1000.0 / (double)(ms > 0 ? ms : 1);
}

int
main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s REDIS_URL ZMQ_MESSAGES REDIS_MESSAGES\n",
                argv[0]);
        return 64;
    }
    long zn = atol(argv[2]), rn = atol(argv[3]);
    size_t wire_len = 0;
    double zmq_rate = s_zmq_3hop(zn, &wire_len);
    double redis_rate = s_redis_pipelined(argv[1], rn, wire_len);
    printf("{\"raw_zmq_3hop_per_s\": %.0f, \"raw_redis_pipelined_per_s\": "
           "%.0f, \"envelope_bytes\": %zu, \"zmq_messages\": %ld, "
           "\"redis_messages\": %ld}\n",
           zmq_rate, redis_rate, wire_len, zn, rn);
    return 0;
}
