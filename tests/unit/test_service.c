/* kj_service: the shared option rows each kind of binary gets, the checks
 * before anything starts, the rules holder and the embedder's runtime. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kj_log.h"
#include "kj_service.h"
#include "kj_util.h"

#define KJ_RULES_PATH KJ_SOURCE_DIR "/deploy/rules.json"

static void
s_clear_env(void)
{
    static const char *const vars[] = {
        "KUJO_REDIS_URL", "KUJO_PREFIX",       "KUJO_ADMIN_ADDR",
        "KUJO_LOG_LEVEL", "KUJO_LEASE_MS",     "KUJO_DRAIN_MS",
        "KUJO_RULES",     "KUJO_BATCH",        "KUJO_HWM",
        "KUJO_ZMQ_BIND",  "KUJO_MAX_ATTEMPTS",
    };
    for (size_t i = 0; i < KJ_ARRAY_LEN(vars); i++)
        unsetenv(vars[i]);
    kj_log_init("test", KJ_LOG_ERROR + 1);
}

TestSuite(service, .init = s_clear_env, .timeout = 30);

static int s_checks;

static int
s_check(const kj_service_cfg_t *cfg)
{
    s_checks++;
    if (cfg->lease_ms == 4242) {
        fprintf(stderr, "kujo-test: KUJO_LEASE_MS: 4242 is refused\n");
        return 1;
    }
    return 0;
}

static const kj_service_def_t s_stage_def = {
    .binary = "kujo-test",
    .name = "test",
    .summary = "a stage",
    .admin_default = "127.0.0.1:0",
    .features = KJ_SVC_PUSH | KJ_SVC_PULL | KJ_SVC_RULES,
    .batch_limit = 1024,
    .rules_required = true,
    .check = s_check,
};

Test(service, usage_example_a_stage_from_its_command_line)
{
    char *argv[] = {"kujo-test",
                    "--rules",
                    KJ_RULES_PATH,
                    "--batch",
                    "1024",
                    "--redis-url",
                    "redis://:pw@127.0.0.1:1/0",
                    NULL};
    int rc = -1;
    kj_service_t *svc = kj_service_new_from_args(&s_stage_def, 7, argv, &rc);
    cr_assert(ne(ptr, svc, NULL));
    cr_assert(eq(int, rc, 0));
    const kj_service_cfg_t *cfg = kj_service_cfg(svc);
    cr_assert(eq(i64, cfg->batch, 1024));
    cr_assert(eq(i64, cfg->lease_ms, 10000));
    cr_assert(eq(i64, cfg->max_attempts, 5));
    cr_assert(eq(str, cfg->zmq_bind, "tcp://127.0.0.1:*"));
    cr_assert(eq(str, (char *)kj_service_name(svc), "test"));
    cr_assert(ne(ptr, (void *)kj_service_rules(svc), NULL));
    cr_assert(gt(int, kj_service_admin_port(svc), 0));
    cr_assert(ne(ptr, kj_service_metrics(svc), NULL));
    cr_assert(eq(int, s_checks, 1));
    kj_service_destroy(&svc);
    kj_service_destroy(&svc); /* safe on NULL */
}

Test(service, rows_follow_the_features)
{
    /* Ingest pushes but pulls nothing and reads no rules: --batch and
     * --rules are unknown flags to it. */
    const kj_service_def_t ingest = {.binary = "kujo-test",
                                     .name = "test",
                                     .admin_default = "127.0.0.1:0",
                                     .features = KJ_SVC_PUSH};
    char *argv[] = {"kujo-test", "--batch", "10", NULL};
    int rc = -1;
    cr_assert(eq(ptr, kj_service_new_from_args(&ingest, 3, argv, &rc), NULL));
    cr_assert(eq(int, rc, KJ_EX_USAGE));
    char *argv2[] = {"kujo-test", "--hwm", "10", NULL};
    kj_service_t *svc = kj_service_new_from_args(&ingest, 3, argv2, &rc);
    cr_assert(ne(ptr, svc, NULL));
    cr_assert(eq(i64, kj_service_cfg(svc)->hwm, 10));
    cr_assert(eq(ptr, (void *)kj_service_rules(svc), NULL));
    kj_service_destroy(&svc);
}

Test(service, every_problem_is_a_configuration_error_before_starting)
{
    int rc = -1;
    char *over[] = {"kujo-test", "--rules", KJ_RULES_PATH,
                    "--batch",   "1025",    NULL};
    cr_assert(
        eq(ptr, kj_service_new_from_args(&s_stage_def, 5, over, &rc), NULL));
    cr_assert(eq(int, rc, KJ_EX_CONFIG));
    char *level[] = {"kujo-test",   "--rules", KJ_RULES_PATH,
                     "--log-level", "loud",    NULL};
    cr_assert(
        eq(ptr, kj_service_new_from_args(&s_stage_def, 5, level, &rc), NULL));
    cr_assert(eq(int, rc, KJ_EX_CONFIG));
    char *url[] = {"kujo-test",   "--rules",  KJ_RULES_PATH,
                   "--redis-url", "http://x", NULL};
    cr_assert(
        eq(ptr, kj_service_new_from_args(&s_stage_def, 5, url, &rc), NULL));
    cr_assert(eq(int, rc, KJ_EX_CONFIG));
    char *own[] = {"kujo-test",  "--rules", KJ_RULES_PATH,
                   "--lease-ms", "4242",    NULL};
    cr_assert(
        eq(ptr, kj_service_new_from_args(&s_stage_def, 5, own, &rc), NULL));
    cr_assert(eq(int, rc, KJ_EX_CONFIG));
    char *rules[] = {"kujo-test", "--rules", "/nonexistent/rules.json", NULL};
    cr_assert(
        eq(ptr, kj_service_new_from_args(&s_stage_def, 3, rules, &rc), NULL));
    cr_assert(eq(int, rc, KJ_EX_CONFIG));
    char *help[] = {"kujo-test", "--help", NULL};
    fflush(stdout);
    cr_assert(
        eq(ptr, kj_service_new_from_args(&s_stage_def, 2, help, &rc), NULL));
    cr_assert(eq(int, rc, 0));
}

static int s_rules_seen;

static int
s_rules_changed(void *ctx, const kj_rules_t *rules, char *err, size_t size)
{
    (void)ctx;
    (void)rules;
    s_rules_seen++;
    snprintf(err, size, "refused on purpose");
    return s_rules_seen == 1 ? -1 : 0;
}

static int64_t
s_tick_hup(void *ctx)
{
    kj_service_t *svc = ctx;
    /* Raise SIGHUP for the signalfd (blocked: it waits there), then stop
     * once the reloads were seen. */
    if (s_rules_seen < 2)
        raise(SIGHUP);
    else
        kj_service_stop(svc);
    return 10;
}

Test(service, sighup_swaps_rules_only_when_the_service_takes_them)
{
    const kj_service_opts_t o = {.name = "test",
                                 .redis_url = "redis://127.0.0.1:1/0",
                                 .admin_addr = "127.0.0.1:0",
                                 .rules_path = KJ_RULES_PATH,
                                 .drain_ms = 100};
    kj_service_t *svc = kj_service_new(&o);
    cr_assert(ne(ptr, svc, NULL));
    const kj_rules_t *first = kj_service_rules(svc);
    cr_assert(ne(ptr, (void *)first, NULL));
    kj_service_set_ready(svc, true, "detail");
    const kj_service_driver_t d = {.tick = s_tick_hup,
                                   .rules_changed = s_rules_changed};
    cr_assert(eq(int, kj_service_run(svc, &d, svc), 0));
    cr_assert(ge(int, s_rules_seen, 2));
    cr_assert(kj_service_draining(svc));
    kj_service_destroy(&svc);
}
