/* kj_harness: what the integration tests run the real pipeline with.
 *
 *   kj_proc_*      a child process: fork/execve with an explicit
 *                  environment, output to a log file, stop with SIGTERM and
 *                  a deadline, kill -9.
 *   kj_client_*    an HTTP client over libcurl (one per thread) and
 *                  kj_resp_t answers; JSON read with jansson.
 *   kj_prom_value  read one metric out of a Prometheus text page.
 *   kj_pipeline_*  redis-server (kj_testredis) + the webhook sink (kj_sink)
 *                  + the five services on free loopback ports with a shared
 *                  KUJO_PREFIX, ready and registered; start extra copies,
 *                  kill -9, stop, restart; post, read and wait on records.
 *
 * Every wait is bounded by a timeout in milliseconds. Nothing here asserts:
 * functions return -1 or NULL and say why on stderr, and the tests decide.
 * Processes must be started from a thread that lives as long as they do
 * (the main thread): children get SIGKILL when it exits, so that a test
 * that crashes leaves no service behind. */
#ifndef KJ_HARNESS_H
#define KJ_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "kj_sink.h"
#include "kj_testredis.h"

/* ------------------------------------------------------------------ */
/* Child processes */

typedef struct kj_proc kj_proc_t;

/* Start path with argv (NULL-terminated; NULL means just the path)
 * and the current environment minus every KUJO_* variable, plus env
 * ("NAME=value" strings, NULL-terminated; later ones win). stdout and
 * stderr are appended to log_path. name is for messages. NULL on failure. */
kj_proc_t *
kj_proc_start(const char *name, const char *path, char *const argv[],
              const char *const env[], const char *log_path);

/* SIGTERM, then SIGKILL if it has not exited within timeout_ms; reaps it.
 * Returns the exit status as waitpid gives it, or -1 if not running. */
int
kj_proc_stop(kj_proc_t *self, int timeout_ms);

/* Send sig. 0, or -1 if it is not running. */
int
kj_proc_signal(kj_proc_t *self, int sig);

/* Wait up to timeout_ms for it to exit and reap it. Returns the waitpid
 * status, or -1 if it is still running (or was not). */
int
kj_proc_wait(kj_proc_t *self, int timeout_ms);

/* kill -9 and reap. 0, or -1 if it was not running. */
int
kj_proc_kill9(kj_proc_t *self);

/* Start it again with the same command, environment and log file. */
int
kj_proc_restart(kj_proc_t *self);

/* True while the child has not exited (reaps it if it has). */
bool
kj_proc_alive(kj_proc_t *self);

pid_t
kj_proc_pid(const kj_proc_t *self);

const char *
kj_proc_name(const kj_proc_t *self);

const char *
kj_proc_log_path(const kj_proc_t *self);

/* Replace one "NAME=value" in its environment (used before a restart). */
void
kj_proc_setenv(kj_proc_t *self, const char *name, const char *value);

/* Write the last lines of its log to f, under a header with its name. */
void
kj_proc_print_log_tail(const kj_proc_t *self, FILE *f, int lines);

/* Stop (SIGKILL if still running), free, set *self_p to NULL. */
void
kj_proc_destroy(kj_proc_t **self_p);

/* ------------------------------------------------------------------ */
/* HTTP client */

/* An answer: status 0 means no HTTP answer came (error says why). */
typedef struct {
    long status;
    char *body; /* NUL-terminated, owned */
    size_t len;
    char error[256]; /* curl's message on a transport failure */
} kj_resp_t;

typedef struct kj_client kj_client_t;

/* A client that keeps its connections alive. Use from one thread. */
kj_client_t *
kj_client_new(int timeout_ms);

void
kj_client_destroy(kj_client_t **self_p);

/* Send Authorization: Bearer key with every request (NULL: none). */
void
kj_client_set_api_key(kj_client_t *self, const char *key);

/* POST json with Content-Type: application/json and, when idem_key is not
 * NULL, Idempotency-Key. 0 when an answer came, -1 on a transport error.
 * Answers over 8 MiB are cut off and count as a transport error. */
int
kj_client_post_json(kj_client_t *self, const char *url, const char *json,
                    const char *idem_key, kj_resp_t *out);

/* A JSON body with another method (PUT), as kj_client_post_json. */
int
kj_client_send_json(kj_client_t *self, const char *method, const char *url,
                    const char *json, kj_resp_t *out);

/* GET url. 0 when an answer came, -1 on a transport error. */
int
kj_client_get(kj_client_t *self, const char *url, kj_resp_t *out);

/* The body parsed as JSON, or NULL. Caller json_decref's. */
json_t *
kj_resp_json(const kj_resp_t *resp);

/* Free the body and clear the answer. Safe twice. */
void
kj_resp_free(kj_resp_t *resp);

/* ------------------------------------------------------------------ */
/* Prometheus text */

/* Sum of every sample of metric name (exactly that name, any labels)
 * whose label set contains label_substr (NULL: any) into *out. Returns
 * how many samples matched (0: absent). */
int
kj_prom_value(const char *text, const char *name, const char *label_substr,
              double *out);

/* True if the page mentions name: a sample or a # TYPE line. */
bool
kj_prom_has(const char *text, const char *name);

/* ------------------------------------------------------------------ */
/* The pipeline */

typedef enum {
    KJ_SVC_INGEST = 0,
    KJ_SVC_CLASSIFIER,
    KJ_SVC_ROUTER,
    KJ_SVC_NOTIFIER,
    KJ_SVC_ANALYTICS,
    KJ_SVC_COUNT
} kj_svc_t;

/* Most copies of one service a pipeline holds. */
#define KJ_PIPELINE_MAX_COPIES 8

/* "ingest", "classifier", ... */
const char *
kj_svc_name(kj_svc_t svc);

/* Every field may be left 0/NULL for its default. */
typedef struct {
    int copies[KJ_SVC_COUNT]; /* copies to start (0: 1; -1: none) */
    int lease_ms;             /* KUJO_LEASE_MS (default 2000) */
    int max_attempts;         /* KUJO_MAX_ATTEMPTS (default 5) */
    int retry_base_ms;        /* KUJO_RETRY_BASE_MS (default 100) */
    int retry_cap_ms;         /* KUJO_RETRY_CAP_MS (default 1000) */
    int http_timeout_ms;      /* KUJO_HTTP_TIMEOUT_MS (default lease/2) */
    int drain_ms;             /* KUJO_DRAIN_MS (default 2000) */
    const char *log_level;    /* KUJO_LOG_LEVEL (default "info") */
    const char *const *env;   /* more "NAME=value" for every service */
    bool redis_aof;           /* run redis with appendonly yes */
    /* Services connect as the ACL user deploy/redis/kujo-acl.sh defines
     * (only kujo's commands, only its prefix), as compose and k8s do. */
    bool redis_acl;
    int ready_timeout_ms; /* bound on start-up waits (default 15000) */
    /* Start every service upstream first, the way a cold start goes at
     * its worst, and return without waiting for any of them. */
    bool no_wait;
    /* Ingest checks API keys (KUJO_AUTH=keys) and the pipeline's client
     * sends a key of tenant "default" with complaints:write,
     * complaints:read, agents and admin (kj_pipeline_api_key). The default is
     * open mode (every bind is loopback), so tests post without a key. */
    bool auth_keys;
} kj_pipeline_opts_t;

typedef struct kj_pipeline kj_pipeline_t;

/* Start redis, the sink (secret kj_pipeline_secret) and every service;
 * wait until each /readyz is 200, classifier, router and notifier have
 * live registry entries, and the upstream copies report a downstream peer
 * (kujo_downstream_peers; a service that never does only gets a warning,
 * since the lease would still move its work). NULL, with the logs of what
 * failed on stderr, on failure. opts may be NULL. */
kj_pipeline_t *
kj_pipeline_new(const kj_pipeline_opts_t *opts);

/* Stop every process (SIGTERM, then SIGKILL), the sink and redis, and
 * remove the log directory, unless a failure was reported through
 * kj_pipeline_dump_logs or KJ_KEEP_LOGS is set: then it says where the
 * logs are. Safe on NULL. */
void
kj_pipeline_destroy(kj_pipeline_t **self_p);

/* Start one more copy of svc (free admin port, and a free HTTP port for
 * ingest and analytics). Returns its copy index, or -1. Does not wait. */
int
kj_pipeline_start_copy(kj_pipeline_t *self, kj_svc_t svc);

/* kill -9 one copy. 0 or -1. */
int
kj_pipeline_kill9(kj_pipeline_t *self, kj_svc_t svc, int copy);

/* SIGTERM one copy and wait up to timeout_ms for it to drain and exit.
 * Returns its waitpid status, or -1. */
int
kj_pipeline_stop(kj_pipeline_t *self, kj_svc_t svc, int copy, int timeout_ms);

/* Start a stopped or killed copy again (same ports). Does not wait. */
int
kj_pipeline_restart(kj_pipeline_t *self, kj_svc_t svc, int copy);

/* Poll one copy's admin /readyz until 200. 0, or -1 on timeout or exit. */
int
kj_pipeline_wait_ready(kj_pipeline_t *self, kj_svc_t svc, int copy,
                       int timeout_ms);

/* Wait until <prefix>:reg:<stage> holds at least min live endpoints.
 * Returns the count seen last, or -1 on timeout. */
int
kj_pipeline_wait_registered(kj_pipeline_t *self, const char *stage, int min,
                            int timeout_ms);

/* Wait until a copy's kujo_downstream_peers gauge is at least min. 0 or
 * -1. */
int
kj_pipeline_wait_peers(kj_pipeline_t *self, kj_svc_t svc, int copy, int min,
                       int timeout_ms);

/* Number of copies slots used for svc (started at some point). */
int
kj_pipeline_copies(const kj_pipeline_t *self, kj_svc_t svc);

/* The process of one copy (borrowed), or NULL. */
kj_proc_t *
kj_pipeline_proc(kj_pipeline_t *self, kj_svc_t svc, int copy);

/* "http://127.0.0.1:<port>": a copy's API (ingest, analytics) or admin
 * port. Borrowed; "" if the copy does not exist. */
const char *
kj_pipeline_url(const kj_pipeline_t *self, kj_svc_t svc, int copy);
const char *
kj_pipeline_admin_url(const kj_pipeline_t *self, kj_svc_t svc, int copy);

kj_sink_t *
kj_pipeline_sink(kj_pipeline_t *self);

const char *
kj_pipeline_prefix(const kj_pipeline_t *self);

const char *
kj_pipeline_secret(const kj_pipeline_t *self);

/* With opts.auth_keys, the key the pipeline's client sends (for other
 * threads' clients); "" otherwise. */
const char *
kj_pipeline_api_key(const kj_pipeline_t *self);

const kj_testredis_t *
kj_pipeline_redis(const kj_pipeline_t *self);

/* The KUJO_REDIS_URL the services were given (with the ACL user's
 * password when opts.redis_acl). Borrowed. */
const char *
kj_pipeline_service_redis_url(const kj_pipeline_t *self);

/* POST json to ingest copy 0. The answer's id goes to id[32] on 200/202.
 * Transport failures are retried (same Idempotency-Key) for up to 5 s.
 * Returns the HTTP status, or -1. */
int
kj_pipeline_post(kj_pipeline_t *self, const char *json, const char *idem_key,
                 char id[32]);

/* POST json once to ingest copy `copy`, as a load balancer in front of
 * several copies would. client NULL uses the pipeline's own (main thread
 * only); other threads pass their own kj_client_t. The answer's id goes to
 * id[32] on 200/202. Returns the HTTP status, or -1 when no answer came
 * (the copy is gone or went away mid-request), with curl's message in
 * err[256] when err is not NULL. Prints nothing: a caller that retries
 * decides what is worth saying. */
int
kj_pipeline_post_copy(kj_pipeline_t *self, kj_client_t *client, int copy,
                      const char *json, const char *idem_key, char id[32],
                      char err[256]);

/* The lowest copy of svc whose process is running, or -1 if none. */
int
kj_pipeline_live_copy(kj_pipeline_t *self, kj_svc_t svc);

/* METHOD path (with a JSON body unless GET) on ingest copy 0, with the
 * pipeline's API key when opts.auth_keys: the HTTP status, and the answer
 * parsed into *out (caller json_decref's; may be NULL). -1 when no answer
 * came. Uses a client of its own: any thread. */
int
kj_pipeline_call(kj_pipeline_t *self, const char *method, const char *path,
                 const char *body, json_t **out);

/* GET /v1/complaints/<id> from the first running ingest copy (copy 0
 * while it runs); the record, or NULL. */
json_t *
kj_pipeline_record(kj_pipeline_t *self, const char *id);

/* Poll the record until its state is state (or "dead" when state is not
 * "dead": that is final). The record once reached, or NULL after
 * timeout_ms, with the last state seen on stderr. */
json_t *
kj_pipeline_wait_state(kj_pipeline_t *self, const char *id, const char *state,
                       int timeout_ms);

/* Poll every id until all are in state or timeout_ms passes. Returns how
 * many are in state; lists up to 10 of the others, with their states, on
 * stderr. */
int
kj_pipeline_wait_all(kj_pipeline_t *self, char (*ids)[32], int n,
                     const char *state, int timeout_ms);

/* GET the analytics /v1/stats, or NULL. */
json_t *
kj_pipeline_stats(kj_pipeline_t *self);

/* The /metrics page of one copy (caller frees), or NULL. */
char *
kj_pipeline_metrics(kj_pipeline_t *self, kj_svc_t svc, int copy);

/* One metric of one copy (see kj_prom_value). 0, or -1 if absent or the
 * page could not be read. */
int
kj_pipeline_metric(kj_pipeline_t *self, kj_svc_t svc, int copy,
                   const char *name, const char *label_substr, double *out);

/* Mark the run failed (logs are kept) and write the tail of every
 * process's log and the sink's counters to f. */
void
kj_pipeline_dump_logs(kj_pipeline_t *self, FILE *f, int lines);

/* cr_assert that first dumps the pipeline's logs when cond is false. Only
 * for files that include Criterion. */
#define KJ_PL_ASSERT(pl, cond, ...)                                            \
    do {                                                                       \
        bool kj_pl_ok_ = (cond);                                               \
        if (!kj_pl_ok_ && (pl))                                                \
            kj_pipeline_dump_logs((pl), stderr, 40);                           \
        cr_assert(kj_pl_ok_, __VA_ARGS__);                                     \
    } while (0)

/* A POST /v1/complaints body with the strings JSON-escaped. tier and
 * external_id may be NULL. Caller frees. */
char *
kj_test_complaint(const char *channel, const char *customer_id,
                  const char *tier, const char *text, const char *external_id);

/* Sleep ms milliseconds. */
void
kj_test_sleep_ms(int ms);

#endif
