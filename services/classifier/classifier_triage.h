/* classifier_triage: the classifier's per-message pipeline. It folds the
 * subject and text once (NFKC + case folding), masks PII in both (always,
 * with or without models), counts the operator's keywords with the one
 * keyword engine (classifier_keywords), detects the language once, and,
 * when a model set is loaded, adds the models' view (classifier_models_run).
 * The rules stay as the override an operator controls. */
#ifndef CLASSIFIER_TRIAGE_H
#define CLASSIFIER_TRIAGE_H

#include <stddef.h>
#include <stdint.h>

#include "kj_envelope.h"
#include "kj_metrics.h"
#include "kj_rules.h"
#include "kj_stage.h"

typedef struct classifier_triage classifier_triage_t;

/* Triage with rules (borrowed: the service's, kept until it replaces them
 * through classifier_triage_rules_changed). */
classifier_triage_t *
classifier_triage_new(const kj_rules_t *rules);

/* Also use the trained model set in models_dir (its models.json): language,
 * sentiment, reason, urgency, actionable and PII masking. The rules still
 * win where their keywords match. 0, or -1 with a precise message. */
int
classifier_triage_use_models(classifier_triage_t *self, const char *models_dir,
                             char *err, size_t err_size);

/* Count spam verdicts in metrics (the stage's registry):
 * kujo_classifier_spam_total. Without this call nothing is counted. */
void
classifier_triage_use_metrics(classifier_triage_t *self, kj_metrics_t *metrics);

void
classifier_triage_destroy(classifier_triage_t **self_p);

/* The rules in use (borrowed; replaced by a successful reload). */
const kj_rules_t *
classifier_triage_rules(const classifier_triage_t *self);

/* kj_stage rules hook: SIGHUP read new, valid rules; use them (and their
 * keywords) from now on. Always 0. */
int
classifier_triage_rules_changed(void *ctx, const kj_rules_t *rules, char *err,
                                size_t err_size);

/* kj_stage reload hook (SIGHUP): load the models again from the same
 * directory. 0, or -1 with err filled and the old models still in use. */
int
classifier_triage_reload_models(void *ctx, char *err, size_t err_size);

/* kj_stage process function: fills env->triage (language, category,
 * urgency and their confidences, PII spans and masked text; model "rules"
 * without models; spam and spam_confidence when the model set has a spam
 * model for the complaint's channel and language) and replaces the complaint's
 * text and subject with their masked forms. Never fails on content: every
 * complaint gets a triage. */
kj_verdict_t
classifier_triage_process(void *ctx, kj_envelope_t *env, int64_t now_ms,
                          char *err, size_t err_size, int64_t *retry_at);

#endif
