/* kujo-classifier: takes received complaints, works out language,
 * sentiment, reason and urgency from the trained models and the operator's
 * rules, masks personal data, and passes them on to the router. The loop,
 * transport and state machine are kj_stage's; the per-message work is
 * classifier_triage.c. */
#include <stdio.h>
#include <stdlib.h>

#include "classifier_triage.h"
#include "kj_config.h"
#include "kj_stage.h"
#include "kj_stage_config.h"
#include "kj_util.h"

int
main(int argc, char **argv)
{
    kj_stage_cfg_t cfg = {0};
    char *rules_path = NULL, *models_dir = NULL;
    const kj_cfg_opt_t own[] = {
        {"KUJO_RULES", "rules", KJ_CFG_STR, "deploy/rules.json", 0, 0,
         "rules file (categories, urgency, teams, routes)", false, true,
         &rules_path},
        {"KUJO_MODELS", "models", KJ_CFG_STR, "models", 0, 0,
         "directory of trained models (models.json); empty: rules only", false,
         false, &models_dir},
    };
    kj_cfg_opt_t opts[KJ_STAGE_CFG_N + KJ_ARRAY_LEN(own)];
    kj_stage_cfg_opts(&cfg, "127.0.0.1:9102", 1024, opts);
    for (size_t i = 0; i < KJ_ARRAY_LEN(own); i++)
        opts[KJ_STAGE_CFG_N + i] = own[i];
    const size_t n_opts = KJ_ARRAY_LEN(opts);
    classifier_triage_t *triage = NULL;
    kj_stage_t *stage = NULL;
    int rc = 0;

    if (kj_config_parse(opts, n_opts, argc, argv, "kujo-classifier",
                        "language, category and urgency of complaints",
                        &rc) != 0)
        goto out;
    if ((rc = kj_stage_cfg_check(&cfg, "kujo-classifier", "classifier")) != 0)
        goto out;
    kj_config_log(opts, n_opts);

    char err[512];
    triage = classifier_triage_new(rules_path, err, sizeof err);
    if (!triage) {
        fprintf(stderr, "kujo-classifier: KUJO_RULES: %s\n", err);
        rc = KJ_EX_CONFIG;
        goto out;
    }
    if (models_dir && models_dir[0] &&
        classifier_triage_use_models(triage, models_dir, err, sizeof err) !=
            0) {
        fprintf(stderr, "kujo-classifier: KUJO_MODELS: %s\n", err);
        rc = KJ_EX_CONFIG;
        goto out;
    }

    const kj_stage_opts_t stage_opts = kj_stage_cfg_stage_opts(
        &cfg, "classifier", "received", "classified", "router");
    stage = kj_stage_new(&stage_opts);
    if (!stage) {
        rc = 1;
        goto out;
    }
    const kj_stage_hooks_t hooks = {.reload = classifier_triage_reload};
    rc = kj_stage_run(stage, classifier_triage_process, &hooks, triage);

out:
    kj_stage_destroy(&stage);
    classifier_triage_destroy(&triage);
    kj_config_free(opts, n_opts);
    return rc;
}
