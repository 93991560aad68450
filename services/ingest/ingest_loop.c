/* ingest_loop: ingest's part of the kj_service loop. One thread:
 * libmicrohttpd, Redis and ZeroMQ are all driven from here, so nothing
 * needs a lock and each turn's requests share one Redis round trip. */
#include "ingest_loop.h"

#include <stdio.h>

#include "kj_log.h"
#include "kj_util.h"

#define S_TICK_MS 1000     /* housekeeping period with classifiers known */
#define S_TICK_NONE_MS 200 /* while none is: readiness waits on this */
#define S_POLL_MAX_MS 100  /* longest sleep, so timers stay honest */

/* Reconnect Redis, follow the classifier copies, measure the queue and
 * tell readiness. */
static int64_t
s_tick(void *ctx)
{
    ingest_loop_t *l = ctx;
    kj_redis_t *redis = kj_service_redis(l->service);
    char why[300];
    /* Slow clients are cut whatever Redis does: at most a tick late. */
    ingest_api_sweep(l->api, kj_mono_ms());
    if (kj_redis_connect(redis) < 0) {
        snprintf(why, sizeof why, "redis: %s", kj_redis_errstr(redis));
        kj_service_set_ready(l->service, false, why);
        return S_TICK_NONE_MS;
    }
    int peers = kj_downstream_refresh(l->down, kj_mono_ms(), kj_now_ms());
    if (peers >= 0)
        kj_gauge_set(l->metrics->peers, (double)peers);
    else
        kj_counter_inc(l->metrics->redis_errors);
    int64_t depth = kj_store_depth(l->store, "received");
    if (depth >= 0)
        kj_gauge_set(l->metrics->queue_depth, (double)depth);
    else
        kj_counter_inc(l->metrics->redis_errors);

    int known = kj_downstream_peers(l->down);
    if (!kj_redis_connected(redis)) {
        snprintf(why, sizeof why, "redis: %s", kj_redis_errstr(redis));
        kj_service_set_ready(l->service, false, why);
    } else if (known == 0) {
        /* Accepting now would leave complaints waiting out their lease
         * until a classifier appears. */
        kj_service_set_ready(l->service, false,
                             "no classifier copy registered yet");
    } else {
        snprintf(why, sizeof why, "%d classifier %s", known,
                 known == 1 ? "copy" : "copies");
        kj_service_set_ready(l->service, true, why);
    }
    return known > 0 ? S_TICK_MS : S_TICK_NONE_MS;
}

static size_t
s_pollitems(void *ctx, zmq_pollitem_t *items, size_t max)
{
    ingest_loop_t *l = ctx;
    (void)max;
    items[0] = (zmq_pollitem_t){NULL, ingest_api_fd(l->api), ZMQ_POLLIN, 0};
    return 1;
}

static long
s_timeout_ms(void *ctx)
{
    ingest_loop_t *l = ctx;
    long t = ingest_api_timeout_ms(l->api);
    return t >= 0 && t < S_POLL_MAX_MS ? t : S_POLL_MAX_MS;
}

static void
s_after_poll(void *ctx, const zmq_pollitem_t *items, size_t n)
{
    ingest_loop_t *l = ctx;
    (void)items;
    (void)n;
    /* libmicrohttpd wants a run after every poll, ready or not. */
    ingest_api_run(l->api);
}

static void
s_drain_begin(void *ctx)
{
    ingest_loop_t *l = ctx;
    ingest_api_quiesce(l->api);
}

static bool
s_drained(void *ctx, int64_t took_ms)
{
    ingest_loop_t *l = ctx;
    (void)took_ms;
    return ingest_api_idle(l->api);
}

int
ingest_loop_run(ingest_loop_t *loop)
{
    const kj_service_driver_t driver = {
        .pollitems = s_pollitems,
        .timeout_ms = s_timeout_ms,
        .after_poll = s_after_poll,
        .tick = s_tick,
        .drain_begin = s_drain_begin,
        .drained = s_drained,
        /* Accepted complaints were answered with their batch; what is
         * left is requests still arriving, which promised nothing. */
        .drain_cut_note = "open requests are closed unanswered",
    };
    return kj_service_run(loop->service, &driver, loop);
}
