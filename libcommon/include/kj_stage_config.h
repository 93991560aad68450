/* kj_stage_config: the options every pipeline stage (classifier, router,
 * notifier) shares — Redis, admin port, logging, leases, ZeroMQ, batching,
 * drain — as one block of the kj_config table, with the checks that follow
 * parsing and the kj_stage_opts_t they make. A stage's main.c adds only its
 * own options. */
#ifndef KJ_STAGE_CONFIG_H
#define KJ_STAGE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "kj_config.h"
#include "kj_stage.h"

typedef struct {
    char *redis_url, *prefix, *admin_addr, *log_level;
    char *zmq_bind, *zmq_advertise;
    int64_t max_attempts, lease_ms, batch, hwm, drain_ms;
} kj_stage_cfg_t;

/* How many table entries kj_stage_cfg_opts writes. */
#define KJ_STAGE_CFG_N 11

/* Write the shared options, bound to cfg, to out[0..KJ_STAGE_CFG_N).
 * admin_default is the stage's default admin address ("127.0.0.1:9103");
 * batch_limit the largest KUJO_BATCH it accepts. */
void
kj_stage_cfg_opts(kj_stage_cfg_t *cfg, const char *admin_default,
                  int64_t batch_limit, kj_cfg_opt_t *out);

/* After kj_config_parse: check the log level and the Redis URL, printing
 * "<binary>: <VARIABLE>: <problem>" to stderr, then start logging as svc.
 * Returns 0, or KJ_EX_CONFIG (the exit code). */
int
kj_stage_cfg_check(const kj_stage_cfg_t *cfg, const char *binary,
                   const char *svc);

/* The stage options for cfg; name, states and next as in kj_stage_opts_t.
 * Every stage keeps final records 30 days and caps event streams near 100k
 * entries per partition. */
kj_stage_opts_t
kj_stage_cfg_stage_opts(const kj_stage_cfg_t *cfg, const char *name,
                        const char *in_state, const char *out_state,
                        const char *next);

#endif
