/* ingest_loop: poll -> serve -> (once a second) housekeeping. One thread:
 * libmicrohttpd, Redis and ZeroMQ are all driven from here, so nothing
 * needs a lock and each turn's requests share one Redis round trip. */
#include "ingest_loop.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>

#include "kj_log.h"
#include "kj_registry.h"
#include "kj_signal.h"
#include "kj_util.h"

#define S_TICK_MS 1000    /* housekeeping period */
#define S_POLL_MAX_MS 100 /* longest sleep, so timers stay honest */

/* Reconnect Redis, follow the classifier copies, measure the queue and
 * report readiness: ready exactly when Redis is connected. */
static void
s_tick(const ingest_loop_opts_t *o)
{
    if (kj_redis_connect(o->redis) < 0) {
        kj_admin_set_ready(o->admin, false, kj_redis_errstr(o->redis));
        return;
    }
    char **eps = NULL;
    int n =
        kj_registry_list(o->redis, o->prefix, "classifier", kj_now_ms(), &eps);
    if (n >= 0) {
        size_t peers = kj_push_set_peers(o->push, eps, (size_t)n);
        kj_gauge_set(o->metrics->peers, (double)peers);
        kj_registry_free(eps);
    } else {
        kj_counter_inc(o->metrics->redis_errors);
    }
    int64_t depth = kj_store_depth(o->store, "received");
    if (depth >= 0)
        kj_gauge_set(o->metrics->queue_depth, (double)depth);
    else
        kj_counter_inc(o->metrics->redis_errors);
    bool up = kj_redis_connected(o->redis);
    kj_admin_set_ready(o->admin, up, up ? "" : kj_redis_errstr(o->redis));
}

/* Read pending signals. Returns -1 to exit at once, 1 when a drain
 * begins, 0 otherwise. */
static int
s_signals(const ingest_loop_opts_t *o, bool draining)
{
    int sig, rc = 0;
    while ((sig = kj_signal_read(o->sigfd)) > 0) {
        if (sig == SIGTERM || sig == SIGINT) {
            if (draining || rc == 1) {
                kj_warn("second signal: exiting now", "i:signal", sig);
                return -1;
            }
            rc = 1;
        } else if (sig == SIGQUIT) {
            kj_warn("SIGQUIT: exiting now");
            return -1;
        } else if (sig == SIGHUP) {
            kj_info("SIGHUP: nothing to reload");
        }
    }
    return rc;
}

int
ingest_loop_run(const ingest_loop_opts_t *o)
{
    bool draining = false;
    int64_t drain_started = 0;
    int64_t next_tick = kj_mono_ms();
    int code = 0;
    for (;;) {
        int64_t now = kj_mono_ms();
        if (now >= next_tick) {
            s_tick(o);
            now = kj_mono_ms();
            next_tick = now + S_TICK_MS;
        }
        long timeout = (long)(next_tick - now);
        if (timeout > S_POLL_MAX_MS)
            timeout = S_POLL_MAX_MS;
        long t = ingest_api_timeout_ms(o->api);
        if (t >= 0 && t < timeout)
            timeout = t;
        if (timeout < 0)
            timeout = 0;
        struct pollfd fds[2] = {
            {.fd = ingest_api_fd(o->api), .events = POLLIN},
            {.fd = o->sigfd, .events = POLLIN},
        };
        if (poll(fds, 2, (int)timeout) < 0 && errno != EINTR) {
            kj_error("poll failed", "s:error", strerror(errno));
            code = 1;
            break;
        }
        if (fds[1].revents & POLLIN) {
            int s = s_signals(o, draining);
            if (s < 0) {
                code = 1;
                break;
            }
            if (s == 1) {
                draining = true;
                drain_started = kj_mono_ms();
                kj_info("draining", "l:drain_ms", (long long)o->drain_ms);
                kj_admin_set_draining(o->admin);
                ingest_api_quiesce(o->api);
            }
        }
        /* libmicrohttpd wants a run after every poll, ready or not. */
        ingest_api_run(o->api);
        if (!draining)
            continue;
        int64_t took = kj_mono_ms() - drain_started;
        if (ingest_api_idle(o->api)) {
            kj_info("drained", "l:took_ms", (long long)took);
            break;
        }
        if (took >= o->drain_ms) {
            /* Accepted complaints were answered with their batch; what is
             * left is requests still arriving, which promised nothing. */
            kj_warn("drain timed out; closing open requests", "l:took_ms",
                    (long long)took);
            break;
        }
    }
    return code;
}
