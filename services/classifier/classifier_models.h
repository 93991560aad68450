/* classifier_models: the set of shipped models (models/models.json) and
 * the triage that runs them all on one complaint: language, sentiment,
 * category, reason, intent, urgency, actionable and PII masking.
 *
 * Wiring (for the classifier service):
 *
 *   char err[512];
 *   classifier_models_t *models = classifier_models_load("models", err,
 *                                                        sizeof(err));
 *   // or a set's file: classifier_models_load("models/models-nc.json", ...)
 *   if (!models) { log err; exit 78; }
 *   classifier_scratch_t *scratch = classifier_scratch_new(); // per thread
 *   char masked[2 * 8192 + 1];
 *   classifier_result_t r;
 *   r.masked = masked;
 *   r.masked_size = sizeof(masked);
 *   classifier_models_triage(models, scratch, text, len, lang_hint, &r);
 *   ... copy r into the Triage message ...
 *
 * Reload on SIGHUP: load a new set; on success swap the pointer between
 * batches and destroy the old set, on failure keep the old one and log the
 * error. A result holds copies of every string, so it stays valid after
 * its set is destroyed. A set is read-only once loaded: any number of
 * threads may triage with it at once, each with its own scratch.
 *
 * models.json:
 *   {"version": 1,
 *    "models": [{"name": "sentiment-en", "file": "sentiment-en.kjm",
 *                "task": "sentiment", "languages": ["en"], ...}, ...],
 *    "triage": {"language": "language",
 *               "sentiment": {"en": "sentiment-en", "ja": "sentiment-ja"},
 *               "category": {"en": "category-en", "ja": "category-ja"},
 *               "urgency": {"en": "urgency-en", "ja": "urgency-ja"},
 *               "actionable": {"en": "actionable-en", ...},
 *               "reason": {"en": "reason-en"},
 *               "intent": {"en": "intent-en"},
 *               "spam": {"model": "spam-en", "threshold": 0.8,
 *                        "channels": ["email"],
 *                        "languages": ["en", "other"]}}}
 * Every listed model is loaded and verified (checksum, task, labels);
 * "triage" names which model serves each task and language. Only
 * "language" is required; a missing entry makes that field empty, or
 * falls back to the keyword rules below (urgency, actionable, and reason
 * for Japanese when the set has an English reason model). "keywords"
 * names the keyword table (keywords.tsv, models/README.md), required.
 * Model files are named relative to the directory of models.json.
 *
 * The rules on top of the models (documented in models/README.md):
 *   language   script counts first: mostly Hangul, Cyrillic, Arabic, Thai
 *              or other non-Latin, non-CJK letters, or a long run of Han
 *              with no kana, is "other"; text without kana or Han is en,
 *              or "other" when it has more non-English than English
 *              function words (le, und, que ...); text without Latin
 *              letters is ja; mixed text goes to the language model
 *              (ja / en). A text with no letters, or a confidence under
 *              0.6, takes lang_hint if it is ja or en.
 *   sentiment  the language's model; "mixed" counts as neutral; score is
 *              P(positive) - P(negative); for "other", neutral at 1/3.
 *   category   the language's category model (labels are the rules file's
 *              categories and "other"); empty without one.
 *   reason     the language's reason model; Japanese with no reason model
 *              maps keywords (遅延, 欠航, 紛失 ...) to the English model's
 *              airline labels, else "Can't Tell"; reason_model says which.
 *   urgency    the language's urgency model (low, normal, high, critical)
 *              when the set has one, raised to critical by a critical
 *              keyword of the table. Without a model: critical on a
 *              safety, legal or fraud keyword (lawsuit,
 *              injured, 訴訟, 怪我, 不正利用 ...); high on a time or outage
 *              keyword (urgent, stranded, 至急, 繋がらない ...) with a
 *              negative text or two such keywords, or a very negative
 *              specific complaint; low for positive or vague texts; else
 *              normal.
 *   actionable the language's actionable model (true / false) when the
 *              set has one; else a score from specific cues (product words,
 *              numbers, contact
 *              details, a confident reason or intent, a question) against
 *              abuse and vagueness (insults, very short texts, praise with
 *              nothing specific); abuse only weighs much when nothing
 *              specific was said, as the care guides advise.
 *   spam       triage.spam's model (task spam, labels ham / spam) on
 *              kj_spam_text's line (subject, sender domain, text) for the
 *              listed channels and triage languages only ("other" is a
 *              language kujo does not triage); spam from P(spam) >=
 *              threshold. Asked by classifier_models_spam, not by
 *              classifier_models_run: the line is not the triage's text.
 * Model confidences are calibrated probabilities (temperature fitted on
 * dev); the rule confidences are fixed heuristics, not calibrated. */
#ifndef CLASSIFIER_MODELS_H
#define CLASSIFIER_MODELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "classifier_model.h"
#include "classifier_pii.h"

#define CLASSIFIER_PII_MAX 32 /* spans recorded per text (all are masked) */
#define CLASSIFIER_MODELS_MAX 32

typedef struct classifier_models classifier_models_t;
typedef struct classifier_scratch classifier_scratch_t;

typedef struct {
    /* in: where the masked text goes; size >= 2 * len + 1 never cuts */
    char *masked;
    size_t masked_size;
    /* out */
    size_t masked_len; /* bytes in masked */
    char language[8];  /* "ja", "en", "other" */
    float language_confidence;
    char sentiment[16];    /* "negative", "neutral", "positive" */
    float sentiment_score; /* -1 .. 1 */
    float sentiment_confidence;
    char category[CLASSIFIER_MODEL_LABEL_MAX]; /* model label, "" if none */
    float category_confidence;
    char category_model[48];                 /* model name, "" */
    char reason[CLASSIFIER_MODEL_LABEL_MAX]; /* model label, "" if none */
    float reason_confidence;
    char reason_model[48]; /* model name, "rules:reason-ja", "" */
    char intent[CLASSIFIER_MODEL_LABEL_MAX]; /* e.g. banking77 intent, "" */
    float intent_confidence;
    char urgency[12]; /* "low", "normal", "high", "critical" */
    float urgency_confidence;
    bool urgency_from_model; /* false: the keyword rules decided */
    bool actionable;
    float actionable_confidence;
    bool actionable_from_model;
    classifier_pii_span_t pii[CLASSIFIER_PII_MAX]; /* first pii_count spans */
    size_t pii_count;                              /* spans in pii */
    size_t pii_total; /* spans masked (may exceed the max) */
    char model[40];   /* "kujo-models:<hex>": the set used */
} classifier_result_t;

/* Load a model set and every model it lists, verifying each file's
 * checksum and task and the triage references. path is a directory
 * (its models.json) or a set's JSON file itself (a path ending in
 * ".json", e.g. models/models-nc.json); model files and the keyword table
 * are read from the same directory. NULL with a precise message in err.
 * Loading takes well under a second. */
classifier_models_t *
classifier_models_load(const char *path, char *err, size_t err_size);

/* Destroy and set *self_p to NULL. Safe on NULL. */
void
classifier_models_destroy(classifier_models_t **self_p);

/* "kujo-models:" and 16 hex digits folded from every model's checksum. */
const char *
classifier_models_id(const classifier_models_t *self);

/* Number of models loaded, and model i (borrowed) with its name. */
size_t
classifier_models_count(const classifier_models_t *self);
const classifier_model_t *
classifier_models_get(const classifier_models_t *self, size_t i,
                      const char **name);

/* Per-thread buffers for triage (a few MB). Caller owns it. */
classifier_scratch_t *
classifier_scratch_new(void);

void
classifier_scratch_destroy(classifier_scratch_t **self_p);

/* Triage text[len] (any bytes; invalid UTF-8 is tolerated). lang_hint is
 * the client's "lang" (NULL or "" if none; "ja-JP" counts as ja). Masks
 * PII, folds the text (kj_text_fold) for the keyword table, then runs
 * classifier_models_run. Fills every out field; allocates nothing. This is
 * the tools' entry (kujo-eval); the service's pipeline (classifier_triage)
 * masks and folds once itself and calls classifier_models_run. */
void
classifier_models_triage(const classifier_models_t *self,
                         classifier_scratch_t *scratch, const char *text,
                         size_t len, const char *lang_hint,
                         classifier_result_t *out);

/* The models' part of a triage, for a caller that has already masked PII
 * (out->pii_total set, which counts as a specific detail) and folded the
 * complaint for keywords (folded[folded_len], kj_text_fold of the subject
 * and text). Fills language, sentiment, reason, intent, urgency,
 * actionable and model; leaves the masked text and PII fields alone. */
void
classifier_models_run(const classifier_models_t *self,
                      classifier_scratch_t *scratch, const char *text,
                      size_t len, const char *folded, size_t folded_len,
                      const char *lang_hint, classifier_result_t *out);

/* Whether the set has a spam model (models.json triage.spam). */
bool
classifier_models_has_spam(const classifier_models_t *self);

/* The spam model on text[len], kj_spam_text's line for the complaint,
 * when the set has one for channel and language (the triage's language):
 * 0 with *p_spam its P(spam) and *is_spam whether that reaches the set's
 * threshold. -1, with both zero, when it does not apply. Invalidates the
 * scratch's cached features (call it before or after
 * classifier_models_run, never between its use of them). */
int
classifier_models_spam(const classifier_models_t *self, classifier_scratch_t *s,
                       const char *channel, const char *language,
                       const char *text, size_t len, float *p_spam,
                       bool *is_spam);

#endif
