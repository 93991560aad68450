/* kujo-router: takes classified complaints, decides from the operator's
 * rules which team owns each, its priority and SLA deadlines, and passes
 * them on to the notifier. The loop, transport and state machine are
 * kj_stage's; the per-message work is router_assign.c. */
#include <stdio.h>
#include <stdlib.h>

#include "kj_config.h"
#include "kj_stage.h"
#include "kj_stage_config.h"
#include "kj_util.h"
#include "router_assign.h"

int
main(int argc, char **argv)
{
    kj_stage_cfg_t cfg = {0};
    char *rules_path = NULL;
    const kj_cfg_opt_t own[] = {
        {"KUJO_RULES", "rules", KJ_CFG_STR, "deploy/rules.json", 0, 0,
         "rules file (categories, urgency, teams, routes)", false, true,
         &rules_path},
    };
    kj_cfg_opt_t opts[KJ_STAGE_CFG_N + KJ_ARRAY_LEN(own)];
    kj_stage_cfg_opts(&cfg, "127.0.0.1:9103", 1024, opts);
    for (size_t i = 0; i < KJ_ARRAY_LEN(own); i++)
        opts[KJ_STAGE_CFG_N + i] = own[i];
    const size_t n_opts = KJ_ARRAY_LEN(opts);
    router_assign_t *assign = NULL;
    kj_stage_t *stage = NULL;
    int rc = 0;

    if (kj_config_parse(opts, n_opts, argc, argv, "kujo-router",
                        "team, priority and SLA deadlines of complaints",
                        &rc) != 0)
        goto out;
    if ((rc = kj_stage_cfg_check(&cfg, "kujo-router", "router")) != 0)
        goto out;
    kj_config_log(opts, n_opts);

    char err[512];
    assign = router_assign_new(rules_path, err, sizeof err);
    if (!assign) {
        fprintf(stderr, "kujo-router: KUJO_RULES: %s\n", err);
        rc = KJ_EX_CONFIG;
        goto out;
    }

    const kj_stage_opts_t stage_opts = kj_stage_cfg_stage_opts(
        &cfg, "router", "classified", "routed", "notifier");
    stage = kj_stage_new(&stage_opts);
    if (!stage) {
        rc = 1;
        goto out;
    }
    const kj_stage_hooks_t hooks = {.reload = router_assign_reload};
    rc = kj_stage_run(stage, router_assign_process, &hooks, assign);

out:
    kj_stage_destroy(&stage);
    router_assign_destroy(&assign);
    kj_config_free(opts, n_opts);
    return rc;
}
