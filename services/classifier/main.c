/* kujo-classifier: takes received complaints, works out language,
 * sentiment, reason and urgency from the trained models and the operator's
 * rules, masks personal data, and passes them on to the router. The
 * runtime is kj_service, the loop and state machine kj_stage; the
 * per-message work is classifier_triage.c. */
#include <stdio.h>

#include "classifier_triage.h"
#include "kj_service.h"
#include "kj_stage.h"

static char *s_models_dir;

static const kj_cfg_opt_t s_own[] = {
    {.env = "KUJO_MODELS",
     .flag = "models",
     .type = KJ_CFG_STR,
     .def = "models",
     .help = "trained model set: a directory (its models.json) or a set's "
             ".json file (models/models-nc.json); empty: rules only",
     .empty_is_value = true,
     .dest = &s_models_dir},
};

static const kj_service_def_t s_def = {
    .binary = "kujo-classifier",
    .name = "classifier",
    .summary = "language, category and urgency of complaints",
    .admin_default = "127.0.0.1:9102",
    .features = KJ_SVC_PUSH | KJ_SVC_PULL | KJ_SVC_RULES,
    .batch_limit = 1024,
    .rules_required = true,
    .rules_help = "rules file (categories, urgency, label map); reread on "
                  "SIGHUP",
    .own = s_own,
    .n_own = sizeof s_own / sizeof s_own[0],
};

int
main(int argc, char **argv)
{
    classifier_triage_t *triage = NULL;
    kj_stage_t *stage = NULL;
    int rc = 0;

    kj_service_t *service = kj_service_new_from_args(&s_def, argc, argv, &rc);
    if (!service)
        return rc;
    char err[512];
    triage = classifier_triage_new(kj_service_rules(service));
    if (s_models_dir && s_models_dir[0] &&
        classifier_triage_use_models(triage, s_models_dir, err, sizeof err) !=
            0) {
        fprintf(stderr, "kujo-classifier: KUJO_MODELS: %s\n", err);
        rc = KJ_EX_CONFIG;
        goto out;
    }
    const kj_stage_opts_t so =
        kj_stage_opts_for(service, "received", "classified", "router");
    stage = kj_stage_new(&so);
    if (!stage) {
        rc = 1;
        goto out;
    }
    classifier_triage_use_metrics(triage, kj_stage_metrics(stage));
    const kj_stage_hooks_t hooks = {
        .rules_changed = classifier_triage_rules_changed,
        .reload = classifier_triage_reload_models,
    };
    rc = kj_stage_run(stage, classifier_triage_process, &hooks, triage);

out:
    kj_stage_destroy(&stage);
    classifier_triage_destroy(&triage);
    kj_service_destroy(&service);
    return rc;
}
