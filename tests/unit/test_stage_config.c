/* kj_stage_config: the options every stage shares, their defaults and
 * bounds, the checks after parsing, and the stage options they make. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <stdlib.h>

#include "kj_stage_config.h"
#include "kj_util.h"

static void
s_clear_env(void)
{
    static const char *const vars[] = {
        "KUJO_REDIS_URL", "KUJO_PREFIX",        "KUJO_ADMIN_ADDR",
        "KUJO_LOG_LEVEL", "KUJO_MAX_ATTEMPTS",  "KUJO_LEASE_MS",
        "KUJO_ZMQ_BIND",  "KUJO_ZMQ_ADVERTISE", "KUJO_BATCH",
        "KUJO_HWM",       "KUJO_DRAIN_MS",
    };
    for (size_t i = 0; i < KJ_ARRAY_LEN(vars); i++)
        unsetenv(vars[i]);
}

TestSuite(stage_config, .init = s_clear_env);

Test(stage_config, defaults_and_stage_opts)
{
    kj_stage_cfg_t cfg = {0};
    kj_cfg_opt_t opts[KJ_STAGE_CFG_N];
    kj_stage_cfg_opts(&cfg, "127.0.0.1:9199", 1024, opts);
    char *argv[] = {"kujo-test", NULL};
    int rc = -1;
    cr_assert(eq(int,
                 kj_config_parse(opts, KJ_STAGE_CFG_N, 1, argv, "kujo-test",
                                 "test", &rc),
                 0));
    cr_assert(eq(str, cfg.redis_url, "redis://127.0.0.1:6379/0"));
    cr_assert(eq(str, cfg.admin_addr, "127.0.0.1:9199"));
    cr_assert(eq(i64, cfg.batch, 256));
    cr_assert(eq(i64, cfg.lease_ms, 10000));
    cr_assert(cfg.zmq_advertise == NULL);
    cr_assert(eq(int, kj_stage_cfg_check(&cfg, "kujo-test", "test"), 0));

    kj_stage_opts_t so = kj_stage_cfg_stage_opts(&cfg, "router", "classified",
                                                 "routed", "notifier");
    cr_assert(eq(str, (char *)so.name, "router"));
    cr_assert(eq(str, (char *)so.next, "notifier"));
    cr_assert(eq(str, (char *)so.redis_url, cfg.redis_url));
    cr_assert(eq(i64, so.batch_max, 256));
    cr_assert(eq(i64, so.drain_ms, 10000));
    cr_assert(gt(i64, so.retention_s, 0));
    kj_config_free(opts, KJ_STAGE_CFG_N);
}

Test(stage_config, flags_env_and_batch_limit)
{
    kj_stage_cfg_t cfg = {0};
    kj_cfg_opt_t opts[KJ_STAGE_CFG_N];
    kj_stage_cfg_opts(&cfg, "127.0.0.1:9199", 100, opts);
    setenv("KUJO_LEASE_MS", "2500", 1);
    char *argv[] = {"kujo-test",       "--batch",  "100",
                    "--zmq-advertise", "10.0.0.7", NULL};
    int rc = -1;
    cr_assert(eq(int,
                 kj_config_parse(opts, KJ_STAGE_CFG_N, 5, argv, "kujo-test",
                                 "test", &rc),
                 0));
    cr_assert(eq(i64, cfg.lease_ms, 2500));
    cr_assert(eq(i64, cfg.batch, 100));
    cr_assert(eq(str, cfg.zmq_advertise, "10.0.0.7"));
    kj_config_free(opts, KJ_STAGE_CFG_N);

    /* Above the stage's batch limit is a configuration error. */
    kj_stage_cfg_opts(&cfg, "127.0.0.1:9199", 100, opts);
    char *argv2[] = {"kujo-test", "--batch", "101", NULL};
    fflush(stderr);
    cr_assert(ne(int,
                 kj_config_parse(opts, KJ_STAGE_CFG_N, 3, argv2, "kujo-test",
                                 "test", &rc),
                 0));
    cr_assert(eq(int, rc, KJ_EX_CONFIG));
    kj_config_free(opts, KJ_STAGE_CFG_N);
}

Test(stage_config, check_refuses_bad_level_and_url)
{
    kj_stage_cfg_t cfg = {.redis_url = "redis://127.0.0.1:6379/0",
                          .log_level = "loud"};
    cr_assert(
        eq(int, kj_stage_cfg_check(&cfg, "kujo-test", "test"), KJ_EX_CONFIG));
    cfg.log_level = "warn";
    cfg.redis_url = "http://127.0.0.1:6379";
    cr_assert(
        eq(int, kj_stage_cfg_check(&cfg, "kujo-test", "test"), KJ_EX_CONFIG));
    cfg.redis_url = "redis://:pw@10.1.2.3:6380/2";
    cr_assert(eq(int, kj_stage_cfg_check(&cfg, "kujo-test", "test"), 0));
}
