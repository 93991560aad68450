/* kj_service: the shared runtime (see kj_service.h). One thread runs the
 * loop: signals, the stop eventfd and the driver's items share one
 * zmq_poll, so a service never needs a lock for its own state. */
#include "kj_service.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/eventfd.h>

#include "kj_admin.h"
#include "kj_assert.h"
#include "kj_log.h"
#include "kj_signal.h"
#include "kj_util.h"

#ifndef KJ_VERSION
#define KJ_VERSION "0.0.0"
#endif

#define S_REDIS_TIMEOUT_MS 2000
#define S_DRAIN_POLL_MS 50 /* check the drain this often */
#define S_ITEMS_MAX 64     /* driver poll items */
#define S_SHARED_MAX 14    /* shared rows at most */

struct kj_service {
    char *name;           /* "router" */
    kj_service_cfg_t cfg; /* shared values; strings owned */
    kj_cfg_opt_t *opts;   /* shared + own rows, for kj_config_free */
    size_t n_opts;
    bool own_cfg; /* cfg strings came from kj_config_parse */

    int sigfd;  /* TERM/INT/HUP/QUIT */
    int stopfd; /* eventfd written by kj_service_stop */
    kj_metrics_t *metrics;
    kj_admin_t *admin;
    kj_redis_t *redis; /* main thread's connection */
    kj_rules_t *rules; /* NULL without KUJO_RULES */
    kj_curve_t *curve; /* NULL in plain mode */

    int ready;              /* last readiness told, -1 none yet */
    char ready_reason[256]; /* and its reason, to log changes only */
    bool draining;
    int64_t drain_started; /* monotonic ms */
};

/* The rows every binary shares, bound to cfg. Declared once: a binary's
 * main.c lists only its own. */
static size_t
s_shared_rows(const kj_service_def_t *def, kj_service_cfg_t *cfg,
              kj_cfg_opt_t *out)
{
    size_t n = 0;
    out[n++] = (kj_cfg_opt_t){
        .env = "KUJO_REDIS_URL",
        .flag = "redis-url",
        .type = KJ_CFG_STR,
        .def = "redis://127.0.0.1:6379/0",
        .help = "Redis URL: redis://[:password@]host[:port][/db]",
        .secret = true,
        .required = true,
        .dest = &cfg->redis_url,
    };
    out[n++] = (kj_cfg_opt_t){
        .env = "KUJO_PREFIX",
        .flag = "prefix",
        .type = KJ_CFG_STR,
        .def = "kj",
        .help = "key prefix in Redis",
        .required = true,
        .dest = &cfg->prefix,
    };
    out[n++] = (kj_cfg_opt_t){
        .env = "KUJO_ADMIN_ADDR",
        .flag = "admin-addr",
        .type = KJ_CFG_STR,
        .def = def->admin_default,
        .help = "admin HTTP (/healthz /readyz /metrics) host:port",
        .required = true,
        .dest = &cfg->admin_addr,
    };
    out[n++] = (kj_cfg_opt_t){
        .env = "KUJO_LOG_LEVEL",
        .flag = "log-level",
        .type = KJ_CFG_STR,
        .def = "info",
        .help = "debug, info, warn or error",
        .required = true,
        .dest = &cfg->log_level,
    };
    out[n++] = (kj_cfg_opt_t){
        .env = "KUJO_LEASE_MS",
        .flag = "lease-ms",
        .type = KJ_CFG_INT,
        .def = "10000",
        .min = 100,
        .max = 3600000,
        .help = "ms taken work (a complaint, an event) is owned before "
                "another copy may claim it",
        .dest = &cfg->lease_ms,
    };
    out[n++] = (kj_cfg_opt_t){
        .env = "KUJO_DRAIN_MS",
        .flag = "drain-ms",
        .type = KJ_CFG_INT,
        .def = "10000",
        .min = 0,
        .max = 600000,
        .help = "longest time to finish work after SIGTERM",
        .dest = &cfg->drain_ms,
    };
    if (def->features & KJ_SVC_PUSH) {
        out[n++] = (kj_cfg_opt_t){
            .env = "KUJO_MAX_ATTEMPTS",
            .flag = "max-attempts",
            .type = KJ_CFG_INT,
            .def = "5",
            .min = 1,
            .max = 100,
            .help = "attempts before a complaint is dead-lettered",
            .dest = &cfg->max_attempts,
        };
        out[n++] = (kj_cfg_opt_t){
            .env = "KUJO_HWM",
            .flag = "hwm",
            .type = KJ_CFG_INT,
            .def = "1000",
            .min = 1,
            .max = 1000000,
            .help = "ZeroMQ high-water mark (messages queued per peer)",
            .dest = &cfg->hwm,
        };
    }
    /* The default batch must be one every stage accepts. */
    kj_assert(!(def->features & KJ_SVC_PULL) || def->batch_limit >= 256);
    if (def->features & KJ_SVC_PULL) {
        out[n++] = (kj_cfg_opt_t){
            .env = "KUJO_ZMQ_BIND",
            .flag = "zmq-bind",
            .type = KJ_CFG_STR,
            .def = "tcp://127.0.0.1:*",
            .help = "ZeroMQ PULL endpoint to bind",
            .required = true,
            .dest = &cfg->zmq_bind,
        };
        out[n++] = (kj_cfg_opt_t){
            .env = "KUJO_ZMQ_ADVERTISE",
            .flag = "zmq-advertise",
            .type = KJ_CFG_STR,
            .help = "host to register instead of the bound one",
            .dest = &cfg->zmq_advertise,
        };
        out[n++] = (kj_cfg_opt_t){
            .env = "KUJO_BATCH",
            .flag = "batch",
            .type = KJ_CFG_INT,
            .def = "256",
            .min = 1,
            .max = def->batch_limit,
            .help = "most complaints handled per Redis round trip",
            .dest = &cfg->batch,
        };
    }
    if (def->features & (KJ_SVC_PUSH | KJ_SVC_PULL)) {
        out[n++] = (kj_cfg_opt_t){
            .env = "KUJO_CURVE_SECRET_KEY",
            .flag = "curve-secret-key",
            .type = KJ_CFG_STR,
            .help = "this copy's ZeroMQ CURVE secret key (Z85, from "
                    "kujo-keygen); unset: plain ZeroMQ, loopback only",
            .secret = true,
            .dest = &cfg->curve_secret,
        };
        /* Public keys are no secret; the row is marked so only to get
         * KUJO_CURVE_PEERS_FILE. The count is logged when CURVE starts. */
        out[n++] = (kj_cfg_opt_t){
            .env = "KUJO_CURVE_PEERS",
            .flag = "curve-peers",
            .type = KJ_CFG_STR,
            .help = "Z85 public keys of the copies allowed to push to this "
                    "one (comma, space or newline separated)",
            .secret = true,
            .dest = &cfg->curve_peers,
        };
    }
    if (def->features & KJ_SVC_RULES) {
        out[n++] = (kj_cfg_opt_t){
            .env = "KUJO_RULES",
            .flag = "rules",
            .type = KJ_CFG_STR,
            .def = def->rules_required ? "deploy/rules.json" : NULL,
            .help = def->rules_help ? def->rules_help
                                    : "rules file (reread on SIGHUP)",
            .required = def->rules_required,
            .dest = &cfg->rules_path,
        };
    }
    kj_assert(n <= S_SHARED_MAX);
    return n;
}

static bool
s_set(const char *s)
{
    return s && s[0];
}

/* CURVE or plain: a key that loads, peers that parse, and plain ZeroMQ
 * only where nothing but this machine can reach the PULL. */
static int
s_check_curve(const kj_service_def_t *def, const kj_service_cfg_t *cfg)
{
    if (!(def->features & (KJ_SVC_PUSH | KJ_SVC_PULL)))
        return 0;
    char err[256];
    if (s_set(cfg->curve_secret)) {
        char(*keys)[KJ_CURVE_KEY_LEN + 1] =
            kj_calloc(KJ_CURVE_PEERS_MAX, sizeof *keys);
        int n = kj_curve_peers_parse(cfg->curve_peers, keys, KJ_CURVE_PEERS_MAX,
                                     err, sizeof err);
        free(keys);
        if (n < 0) {
            fprintf(stderr, "%s: KUJO_CURVE_PEERS: %s\n", def->binary, err);
            return 1;
        }
        /* The messages never repeat the key. */
        kj_curve_t *curve =
            kj_curve_new(cfg->curve_secret, NULL, err, sizeof err);
        if (!curve) {
            fprintf(stderr, "%s: KUJO_CURVE_SECRET_KEY: %s\n", def->binary,
                    err);
            return 1;
        }
        kj_curve_destroy(&curve);
        if (n == 0 && (def->features & KJ_SVC_PULL)) {
            fprintf(stderr,
                    "%s: KUJO_CURVE_PEERS: empty, so no copy could push to "
                    "this one; list the public keys of the upstream copies "
                    "(kujo-keygen prints one)\n",
                    def->binary);
            return 1;
        }
        return 0;
    }
    if (s_set(cfg->curve_peers)) {
        fprintf(stderr,
                "%s: KUJO_CURVE_PEERS: set without KUJO_CURVE_SECRET_KEY\n",
                def->binary);
        return 1;
    }
    if (!(def->features & KJ_SVC_PULL))
        return 0;
    /* The advertised host is what upstream dials: it must be loopback as
     * well as the bind. */
    bool local = kj_curve_endpoint_local(cfg->zmq_bind);
    if (local && s_set(cfg->zmq_advertise)) {
        char ep[300];
        bool v6 = strchr(cfg->zmq_advertise, ':') != NULL &&
                  cfg->zmq_advertise[0] != '[';
        snprintf(ep, sizeof ep, "tcp://%s%s%s:1", v6 ? "[" : "",
                 cfg->zmq_advertise, v6 ? "]" : "");
        local = kj_curve_endpoint_local(ep);
    }
    if (!local) {
        fprintf(stderr,
                "%s: KUJO_CURVE_SECRET_KEY: not set, and plain ZeroMQ is "
                "allowed only on loopback (KUJO_ZMQ_BIND=%s%s%s); set "
                "KUJO_CURVE_SECRET_KEY (or _FILE) and KUJO_CURVE_PEERS "
                "(kujo-keygen makes keys)\n",
                def->binary, cfg->zmq_bind,
                s_set(cfg->zmq_advertise) ? ", KUJO_ZMQ_ADVERTISE=" : "",
                s_set(cfg->zmq_advertise) ? cfg->zmq_advertise : "");
        return 1;
    }
    return 0;
}

/* Checks the table cannot make. Prints "<binary>: <VARIABLE>: <problem>"
 * for each; returns how many. */
static int
s_check(const kj_service_def_t *def, const kj_service_cfg_t *cfg)
{
    int problems = 0;
    if (kj_log_level_parse(cfg->log_level) < 0) {
        fprintf(stderr,
                "%s: KUJO_LOG_LEVEL: unknown level \"%s\" (debug, info, "
                "warn, error)\n",
                def->binary, cfg->log_level);
        problems++;
    }
    /* The parser's message never repeats the URL, which may hold a
     * password. */
    char err[512], host[256], password[256];
    int port = 0, db = 0;
    if (kj_redis_parse_url(cfg->redis_url, host, sizeof host, &port, &db,
                           password, sizeof password, err, sizeof err) != 0) {
        fprintf(stderr, "%s: KUJO_REDIS_URL: %s\n", def->binary, err);
        problems++;
    }
    memset(password, 0, sizeof password);
    problems += s_check_curve(def, cfg);
    if (kj_addr_split(cfg->admin_addr, host, sizeof host, &port) != 0) {
        fprintf(stderr, "%s: KUJO_ADMIN_ADDR: expected host:port, got \"%s\"\n",
                def->binary, cfg->admin_addr);
        problems++;
    }
    return problems;
}

/* Load the rules at path. 0, or -1 with the problem in err. */
static int
s_load_rules(kj_service_t *self, const char *path, char *err, size_t err_size)
{
    kj_rules_t *rules = kj_rules_load(path, err, err_size);
    if (!rules)
        return -1;
    kj_rules_destroy(&self->rules);
    self->rules = rules;
    return 0;
}

/* Signals, metrics, Redis and the admin port: the part both constructors
 * share. 0, or -1 with a logged error. */
static int
s_start(kj_service_t *self, const char *redis_url, const char *admin_addr)
{
    /* Signals first: ZeroMQ's I/O threads and the admin thread must
     * inherit the blocked mask, or a SIGTERM could land on one of them
     * and kill the process instead of reaching the signalfd. */
    self->sigfd = kj_signal_init();
    if (self->sigfd < 0) {
        kj_error("signal setup failed");
        return -1;
    }
    self->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->stopfd < 0) {
        int e = errno;
        kj_error("eventfd failed", "s:error", strerror(e));
        return -1;
    }
    self->metrics = kj_metrics_new(self->name);
    kj_gauge_set(kj_metrics_gauge(self->metrics, "build_info", "Build version",
                                  "version=\"" KJ_VERSION "\""),
                 1);
    char err[256] = "";
    self->redis = kj_redis_new(redis_url, S_REDIS_TIMEOUT_MS, err, sizeof err);
    if (!self->redis) {
        kj_error("redis url invalid", "s:error", err);
        return -1;
    }
    self->admin = kj_admin_new(admin_addr, self->metrics);
    if (!self->admin)
        return -1;
    return 0;
}

static kj_service_t *
s_alloc(const char *name)
{
    kj_service_t *self = kj_calloc(1, sizeof *self);
    self->name = kj_strdup(name);
    self->sigfd = -1;
    self->stopfd = -1;
    self->ready = -1;
    return self;
}

kj_service_t *
kj_service_new_from_args(const kj_service_def_t *def, int argc, char **argv,
                         int *exit_code)
{
    kj_assert(def && def->binary && def->name && def->admin_default);
    kj_service_t *self = s_alloc(def->name);
    self->own_cfg = true;
    self->opts = kj_calloc(S_SHARED_MAX + def->n_own, sizeof *self->opts);
    self->n_opts = s_shared_rows(def, &self->cfg, self->opts);
    for (size_t i = 0; i < def->n_own; i++)
        self->opts[self->n_opts++] = def->own[i];

    if (kj_config_parse(self->opts, self->n_opts, argc, argv, def->binary,
                        def->summary, exit_code) != 0)
        goto fail;
    int problems = s_check(def, &self->cfg);
    if (def->check)
        problems += def->check(&self->cfg);
    if (problems > 0) {
        *exit_code = KJ_EX_CONFIG;
        goto fail;
    }
    kj_log_init(def->name,
                (kj_log_level_t)kj_log_level_parse(self->cfg.log_level));
    kj_config_log(self->opts, self->n_opts);
    if (s_set(self->cfg.curve_secret)) {
        char err[256];
        self->curve = kj_curve_new(self->cfg.curve_secret,
                                   self->cfg.curve_peers, err, sizeof err);
        kj_assert(self->curve); /* s_check loaded it already */
    } else if (def->features & (KJ_SVC_PUSH | KJ_SVC_PULL)) {
        kj_warn("zmq curve off: stages talk plain ZeroMQ, unauthenticated; "
                "allowed on loopback only (set KUJO_CURVE_SECRET_KEY)");
    }

    const char *path = self->cfg.rules_path;
    if (path && path[0]) {
        char err[512];
        if (s_load_rules(self, path, err, sizeof err) != 0) {
            fprintf(stderr, "%s: KUJO_RULES: %s\n", def->binary, err);
            *exit_code = KJ_EX_CONFIG;
            goto fail;
        }
    }
    if (s_start(self, self->cfg.redis_url, self->cfg.admin_addr) != 0) {
        *exit_code = 1;
        goto fail;
    }
    *exit_code = 0;
    return self;
fail:
    kj_service_destroy(&self);
    return NULL;
}

kj_service_t *
kj_service_new(const kj_service_opts_t *opts)
{
    kj_assert(opts && opts->name && opts->redis_url && opts->admin_addr);
    kj_service_t *self = s_alloc(opts->name);
    self->cfg.drain_ms = opts->drain_ms;
    if (opts->rules_path) {
        self->cfg.rules_path = kj_strdup(opts->rules_path);
        char err[512];
        if (s_load_rules(self, opts->rules_path, err, sizeof err) != 0) {
            kj_error("rules invalid", "s:path", opts->rules_path, "s:error",
                     err);
            goto fail;
        }
    }
    if (s_start(self, opts->redis_url, opts->admin_addr) != 0)
        goto fail;
    return self;
fail:
    kj_service_destroy(&self);
    return NULL;
}

void
kj_service_destroy(kj_service_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kj_service_t *self = *self_p;
    /* First: its ZAP thread counts into the metrics. */
    kj_curve_destroy(&self->curve);
    kj_admin_destroy(&self->admin);
    kj_redis_destroy(&self->redis);
    kj_rules_destroy(&self->rules);
    kj_metrics_destroy(&self->metrics);
    if (self->stopfd >= 0)
        close(self->stopfd);
    if (self->sigfd >= 0)
        close(self->sigfd);
    if (self->own_cfg)
        kj_config_free(self->opts, self->n_opts);
    else
        free(self->cfg.rules_path);
    free(self->opts);
    free(self->name);
    free(self);
    *self_p = NULL;
}

kj_curve_t *
kj_service_curve(kj_service_t *self)
{
    return self->curve;
}

const kj_service_cfg_t *
kj_service_cfg(const kj_service_t *self)
{
    return &self->cfg;
}

const char *
kj_service_name(const kj_service_t *self)
{
    return self->name;
}

kj_metrics_t *
kj_service_metrics(kj_service_t *self)
{
    return self->metrics;
}

kj_redis_t *
kj_service_redis(kj_service_t *self)
{
    return self->redis;
}

int
kj_service_admin_port(const kj_service_t *self)
{
    return kj_admin_port(self->admin);
}

const kj_rules_t *
kj_service_rules(const kj_service_t *self)
{
    return self->rules;
}

void
kj_service_set_ready(kj_service_t *self, bool ready, const char *reason)
{
    if (!reason)
        reason = "";
    if (self->ready == (int)ready && strcmp(self->ready_reason, reason) == 0)
        return;
    bool changed = self->ready != (int)ready;
    self->ready = ready;
    kj_strlcpy(self->ready_reason, reason, sizeof self->ready_reason);
    kj_admin_set_ready(self->admin, ready, reason);
    if (!changed || self->draining)
        return;
    if (ready)
        kj_info("ready", "s:detail", reason[0] ? reason : NULL);
    else
        kj_warn("not ready", "s:reason", reason);
}

bool
kj_service_draining(const kj_service_t *self)
{
    return self->draining;
}

/* SIGHUP: reread the rules, let the driver adopt them, then the rest the
 * driver reloads. Logged once, here. */
static void
s_reload(kj_service_t *self, const kj_service_driver_t *d, void *ctx)
{
    char err[512] = "";
    const char *path = self->cfg.rules_path;
    bool any = false;
    if (path && path[0]) {
        any = true;
        kj_rules_t *rules = kj_rules_load(path, err, sizeof err);
        if (rules && d->rules_changed &&
            d->rules_changed(ctx, rules, err, sizeof err) != 0)
            kj_rules_destroy(&rules);
        if (!rules) {
            kj_error("reload failed; keeping the old rules", "s:what", "rules",
                     "s:path", path, "s:error", err);
            return;
        }
        kj_rules_destroy(&self->rules);
        self->rules = rules;
    }
    if (d->reload) {
        any = true;
        if (d->reload(ctx, err, sizeof err) != 0) {
            kj_error("reload failed; keeping the old configuration", "s:what",
                     "models", "s:error", err);
            return;
        }
    }
    if (any)
        kj_info("reloaded", "s:rules", path && path[0] ? path : NULL);
    else
        kj_info("SIGHUP: nothing to reload");
}

static void
s_begin_drain(kj_service_t *self, const kj_service_driver_t *d, void *ctx,
              const char *why)
{
    self->draining = true;
    self->drain_started = kj_mono_ms();
    kj_info("draining", "s:why", why, "l:drain_ms",
            (long long)self->cfg.drain_ms);
    kj_admin_set_draining(self->admin);
    if (d->drain_begin)
        d->drain_begin(ctx);
}

/* Read the signalfd and the stop eventfd. -1 to exit at once. */
static int
s_signals(kj_service_t *self, const kj_service_driver_t *d, void *ctx,
          bool sig_ready, bool stop_ready)
{
    if (stop_ready) {
        uint64_t v = 0;
        if (read(self->stopfd, &v, sizeof v) == (ssize_t)sizeof v && v > 0) {
            if (self->draining || v > 1) {
                kj_warn("second stop request: exiting now");
                return -1;
            }
            s_begin_drain(self, d, ctx, "stop");
        }
    }
    if (!sig_ready)
        return 0;
    int sig;
    while ((sig = kj_signal_read(self->sigfd)) > 0) {
        if (sig == SIGTERM || sig == SIGINT) {
            if (self->draining) {
                kj_warn("second signal: exiting now", "i:signal", sig);
                return -1;
            }
            s_begin_drain(self, d, ctx, sig == SIGTERM ? "SIGTERM" : "SIGINT");
        } else if (sig == SIGQUIT) {
            kj_warn("SIGQUIT: exiting now");
            return -1;
        } else if (sig == SIGHUP) {
            s_reload(self, d, ctx);
        }
    }
    return 0;
}

/* 1 once the drain is over (done, or cut short by drain_ms). */
static int
s_drain_over(kj_service_t *self, const kj_service_driver_t *d, void *ctx)
{
    int64_t took = kj_mono_ms() - self->drain_started;
    if (!d->drained || d->drained(ctx, took)) {
        kj_info("drained", "l:took_ms", (long long)took);
        return 1;
    }
    if (took >= self->cfg.drain_ms) {
        kj_warn("drain timed out", "l:took_ms", (long long)took, "s:left",
                d->drain_cut_note);
        return 1;
    }
    return 0;
}

int
kj_service_run(kj_service_t *self, const kj_service_driver_t *driver, void *ctx)
{
    static const kj_service_driver_t none = {0};
    const kj_service_driver_t *d = driver ? driver : &none;
    zmq_pollitem_t items[2 + S_ITEMS_MAX];
    int64_t next_tick = kj_mono_ms();
    int code = 0;
    for (;;) {
        int64_t mono = kj_mono_ms();
        if (mono >= next_tick) {
            int64_t every = d->tick ? d->tick(ctx) : 1000;
            mono = kj_mono_ms();
            next_tick = mono + (every > 0 ? every : 1);
        }
        if (self->draining && s_drain_over(self, d, ctx))
            break;

        long timeout = (long)(next_tick - mono);
        if (d->timeout_ms) {
            long t = d->timeout_ms(ctx);
            if (t >= 0 && t < timeout)
                timeout = t;
        }
        if (self->draining && timeout > S_DRAIN_POLL_MS)
            timeout = S_DRAIN_POLL_MS;
        if (timeout < 0)
            timeout = 0;

        items[0] = (zmq_pollitem_t){NULL, self->sigfd, ZMQ_POLLIN, 0};
        items[1] = (zmq_pollitem_t){NULL, self->stopfd, ZMQ_POLLIN, 0};
        size_t n = d->pollitems ? d->pollitems(ctx, items + 2, S_ITEMS_MAX) : 0;
        kj_assert(n <= S_ITEMS_MAX);
        if (zmq_poll(items, (int)(2 + n), timeout) < 0) {
            int e = zmq_errno();
            if (e == EINTR)
                continue;
            kj_error("zmq_poll failed", "s:error", zmq_strerror(e));
            code = 1;
            break;
        }
        if (s_signals(self, d, ctx, items[0].revents & ZMQ_POLLIN,
                      items[1].revents & ZMQ_POLLIN) < 0) {
            code = 1;
            break;
        }
        if (d->after_poll)
            d->after_poll(ctx, items + 2, n);
    }
    return code;
}

void
kj_service_stop(kj_service_t *self)
{
    /* write(2) on an eventfd is async-signal-safe and thread-safe. */
    uint64_t one = 1;
    ssize_t rc = write(self->stopfd, &one, sizeof one);
    (void)rc;
}
