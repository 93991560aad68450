/* kujo-router: takes classified complaints, decides from the operator's
 * rules which team owns each, its priority and SLA deadlines, and passes
 * them on to the notifier, filing each in its customer's case and
 * assigning cases to agents (router_cases.c over kj_cases). The runtime
 * is kj_service, the loop and state machine kj_stage; the per-message
 * work is router_assign.c. */
#include "kj_config.h"
#include "kj_service.h"
#include "kj_stage.h"
#include "router_assign.h"

static int64_t s_clock_offset_ms;

static const kj_cfg_opt_t s_own[] = {
    {.env = "KUJO_CLOCK_OFFSET_MS",
     .flag = "clock-offset-ms",
     .type = KJ_CFG_INT,
     .def = "0",
     .min = -31536000000LL,
     .max = 31536000000LL,
     .help = "SLA timers fire as if it were this much later: tests and "
             "demos simulate hours passing; leave 0 in production",
     .dest = &s_clock_offset_ms},
};

static const kj_service_def_t s_def = {
    .binary = "kujo-router",
    .name = "router",
    .summary = "team, priority and SLA deadlines of complaints",
    .admin_default = "127.0.0.1:9103",
    .features = KJ_SVC_PUSH | KJ_SVC_PULL | KJ_SVC_RULES,
    .batch_limit = 1024,
    .rules_required = true,
    .rules_help = "rules file (teams, SLA policies, routes); reread on SIGHUP",
    .own = s_own,
    .n_own = sizeof s_own / sizeof s_own[0],
};

int
main(int argc, char **argv)
{
    router_assign_t *assign = NULL;
    kj_stage_t *stage = NULL;
    int rc = 0;

    kj_service_t *service = kj_service_new_from_args(&s_def, argc, argv, &rc);
    if (!service)
        return rc;
    assign = router_assign_new(kj_service_rules(service));
    kj_stage_opts_t so =
        kj_stage_opts_for(service, "classified", "routed", "notifier");
    /* Filing in a case writes before the transition: check pushed
     * envelopes against their records first. */
    so.verify_pushed = true;
    stage = kj_stage_new(&so);
    if (!stage) {
        rc = 1;
        goto out;
    }
    router_assign_use_cases(assign, kj_stage_redis(stage), so.prefix);
    router_assign_use_metrics(assign, kj_stage_metrics(stage));
    router_assign_use_clocks(assign, kj_stage_redis(stage), so.prefix,
                             s_clock_offset_ms, so.lease_ms,
                             kj_stage_metrics(stage));
    const kj_stage_hooks_t hooks = {
        .rules_changed = router_assign_rules_changed,
        .before_batch = router_assign_before_batch,
        .timeout_ms = router_assign_timeout_ms,
        .after_poll = router_assign_after_poll,
    };
    rc = kj_stage_run(stage, router_assign_process, &hooks, assign);

out:
    kj_stage_destroy(&stage);
    router_assign_destroy(&assign);
    kj_service_destroy(&service);
    return rc;
}
