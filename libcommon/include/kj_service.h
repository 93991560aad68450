/* kj_service: the runtime every kujo binary runs. It owns what the five
 * services share, written once:
 *
 *   - the shared option rows (Redis, prefix, admin port, log level, lease,
 *     drain, and for pipeline stages attempts, ZeroMQ, batching, rules),
 *     parsed with the service's own rows, checked, logged with secrets
 *     redacted;
 *   - logging setup, signals (a signalfd, blocked before any thread starts)
 *     and a stop eventfd for embedders;
 *   - the metrics registry and the admin port (/healthz, /readyz, /metrics);
 *   - readiness, told to the admin port and logged once per change;
 *   - the main thread's Redis connection;
 *   - one reloadable rules holder: loaded and validated at start, reread on
 *     SIGHUP and swapped whole, logged once;
 *   - the poll loop and the drain: the first SIGTERM turns /readyz 503 and
 *     asks the service's driver to drain, a second one exits at once.
 *
 * A service plugs in through a driver (kj_service_driver_t): its own fds or
 * sockets to poll, its periodic tick, what to do after each poll, how to
 * drain and when it has drained. Pipeline stages use kj_stage, which is
 * such a driver; ingest and analytics bring their own. */
#ifndef KJ_SERVICE_H
#define KJ_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "kj_config.h"
#include "kj_curve.h"
#include "kj_metrics.h"
#include "kj_redis.h"
#include "kj_rules.h"

typedef struct kj_service kj_service_t;

/* Which shared option rows a binary takes besides the ones every service
 * has (Redis URL, prefix, admin address, log level, lease, drain). */
enum {
    KJ_SVC_PUSH = 1 << 0,  /* pushes envelopes: KUJO_MAX_ATTEMPTS, KUJO_HWM
                            * (PUSH or PULL: KUJO_CURVE_SECRET_KEY,
                            * KUJO_CURVE_PEERS) */
    KJ_SVC_PULL = 1 << 1,  /* a pipeline stage: KUJO_ZMQ_BIND,
                            * KUJO_ZMQ_ADVERTISE, KUJO_BATCH */
    KJ_SVC_RULES = 1 << 2, /* reads KUJO_RULES */
};

/* The values of the shared rows. Strings are owned by the service. */
typedef struct kj_service_cfg {
    char *redis_url;      /* secret: may carry a password */
    char *prefix;         /* key prefix in Redis */
    char *admin_addr;     /* host:port of the admin port */
    char *log_level;      /* debug, info, warn, error */
    char *rules_path;     /* NULL or "" without KJ_SVC_RULES or when unset */
    char *zmq_bind;       /* KJ_SVC_PULL: the PULL endpoint */
    char *zmq_advertise;  /* KJ_SVC_PULL: host registered instead */
    int64_t lease_ms;     /* how long taken work is owned */
    int64_t drain_ms;     /* longest drain after SIGTERM */
    int64_t max_attempts; /* KJ_SVC_PUSH: claims before dead-lettering */
    int64_t hwm;          /* KJ_SVC_PUSH: ZeroMQ high-water mark */
    int64_t batch;        /* KJ_SVC_PULL: envelopes per Redis round trip */
    char *curve_secret;   /* PUSH/PULL: Z85 secret key; NULL/"": plain */
    char *curve_peers;    /* PUSH/PULL: client public keys let in */
} kj_service_cfg_t;

/* How a binary is made: its name, its options and what it needs. */
typedef struct {
    const char *binary;        /* "kujo-router": --help, stderr messages */
    const char *name;          /* "router": log svc, metrics, registry */
    const char *summary;       /* one line for --help */
    const char *admin_default; /* "127.0.0.1:9103" */
    unsigned features;         /* KJ_SVC_* */
    int64_t batch_limit;       /* KJ_SVC_PULL: largest KUJO_BATCH */
    bool rules_required;       /* KJ_SVC_RULES: a missing file is an error */
    const char *rules_help;  /* KJ_SVC_RULES: what this binary uses them for */
    const kj_cfg_opt_t *own; /* the binary's own rows */
    size_t n_own;
    /* Checks the table cannot make (across options, formats), after
     * parsing and before anything starts: print each problem to stderr
     * and return how many. NULL: none. */
    int (*check)(const struct kj_service_cfg *cfg);
} kj_service_def_t;

/* What an embedder (a test running a stage on a thread) gives instead of
 * a command line. Logging is left as the embedder set it. */
typedef struct {
    const char *name; /* as kj_service_def_t.name */
    const char *redis_url;
    const char *admin_addr; /* "127.0.0.1:0" for any port */
    const char *rules_path; /* NULL: no rules */
    int64_t drain_ms;
} kj_service_opts_t;

/* Parse the command line and environment for def, check every value,
 * start logging, log the effective configuration, block signals, load the
 * rules and start the admin port. NULL when the process should exit with
 * *exit_code: 0 after --help/--version, 64 for a bad flag, 78 for a bad
 * value (every problem printed to stderr first, secrets never shown),
 * 1 when something could not start (logged). */
kj_service_t *
kj_service_new_from_args(const kj_service_def_t *def, int argc, char **argv,
                         int *exit_code);

/* The same runtime for an embedder: no parsing, no logging setup. NULL
 * with a logged error. */
kj_service_t *
kj_service_new(const kj_service_opts_t *opts);

/* Stop serving and free everything. Safe on NULL. */
void
kj_service_destroy(kj_service_t **self_p);

/* The shared option values (borrowed). */
const kj_service_cfg_t *
kj_service_cfg(const kj_service_t *self);

/* The CURVE keypair and peers from KUJO_CURVE_*, or NULL in plain mode
 * (or for an embedder). Borrowed; lives as long as the service. */
kj_curve_t *
kj_service_curve(kj_service_t *self);

/* "router" */
const char *
kj_service_name(const kj_service_t *self);

/* The metrics registry: build_info is already in it. */
kj_metrics_t *
kj_service_metrics(kj_service_t *self);

/* The main thread's Redis connection (not connected until first used). */
kj_redis_t *
kj_service_redis(kj_service_t *self);

/* The admin port actually bound. */
int
kj_service_admin_port(const kj_service_t *self);

/* The current rules, or NULL when the binary runs without. Borrowed: valid
 * until the next reload, which happens only inside kj_service_run between
 * driver calls. */
const kj_rules_t *
kj_service_rules(const kj_service_t *self);

/* Tell /readyz; reason says why not ready ("redis: connection refused").
 * Logs each change once. Ignored while draining (503 "draining"). */
void
kj_service_set_ready(kj_service_t *self, bool ready, const char *reason);

/* True once a drain has begun. */
bool
kj_service_draining(const kj_service_t *self);

/* A service's part of the loop. Every hook is optional. */
typedef struct {
    /* Add poll items for the service's sockets and fds; returns how many
     * (at most max). */
    size_t (*pollitems)(void *ctx, zmq_pollitem_t *items, size_t max);
    /* The longest the loop may sleep, in ms (-1: no limit of its own). */
    long (*timeout_ms)(void *ctx);
    /* After each poll, with the service's items and their revents. */
    void (*after_poll)(void *ctx, const zmq_pollitem_t *items, size_t n);
    /* Periodic work (reconnect, heartbeat, peers); returns ms until the
     * next call. Called once before the first poll. */
    int64_t (*tick)(void *ctx);
    /* The first SIGTERM: stop taking new work. */
    void (*drain_begin)(void *ctx);
    /* During a drain: true once nothing is left to finish. took_ms is the
     * time since the drain began. */
    bool (*drained)(void *ctx, int64_t took_ms);
    /* What a drain cut short by drain_ms leaves behind, for the log. */
    const char *drain_cut_note;
    /* A reload read new, valid rules: adopt them (0), or refuse them (-1,
     * err filled) and the old ones stay. Not called at start. */
    int (*rules_changed)(void *ctx, const kj_rules_t *rules, char *err,
                         size_t err_size);
    /* SIGHUP beyond the rules (models): 0, or -1 with err filled. */
    int (*reload)(void *ctx, char *err, size_t err_size);
} kj_service_driver_t;

/* Run the loop until drained after SIGTERM/SIGINT or kj_service_stop.
 * Returns the exit code: 0 after a drain (even one cut short by drain_ms),
 * 1 when a second signal, SIGQUIT or a poll failure ended it at once. */
int
kj_service_run(kj_service_t *self, const kj_service_driver_t *driver,
               void *ctx);

/* Ask the loop to stop, from any thread or a signal handler: the first
 * call drains like SIGTERM, a second one exits at once. */
void
kj_service_stop(kj_service_t *self);

#endif
