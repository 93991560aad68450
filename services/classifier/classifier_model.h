/* classifier_model: one trained linear model for one task (multinomial
 * logistic regression over hashed n-gram features), its file format, and
 * prediction with calibrated probabilities.
 *
 * File format, version 1 (all integers and floats little-endian):
 *
 *   offset  size   what
 *   0       8      magic "KJMODEL\n"
 *   8       4      u32 format version (1)
 *   12      4      u32 M, length of the metadata
 *   16      M      metadata: a UTF-8 JSON object (below)
 *   ..      0-3    zero bytes up to a multiple of 4
 *   ..      4      u32 K, number of labels (equals metadata "labels")
 *   ..      4      u32 R, number of weight rows
 *   ..      4K     f32 bias per label
 *   ..      4R     u32 feature bucket of each row, strictly ascending
 *   ..      4R     f32 idf of each row
 *   ..      4R     f32 scale of each row
 *   ..      R*K    i8 weights, row-major: weight = scale[row] * q[row][k]
 *   end-8   8      u64 FNV-1a 64 of every byte before it
 *
 * Metadata keys read on load (others, such as "datasets", "training" and
 * "dev", are kept and printed but not interpreted):
 *   "format": "kujo-model", "task": string, "labels": [string, ...],
 *   "features": {"hash_version": 1, "hash_bits": n,
 *                "word_ngrams": [min, max], "char_ngrams": [min, max],
 *                "normalise": "nfkc,casefold,...", "tf": "sublinear"|"raw",
 *                "word_weight": x, "char_weight": x, "idf_unseen": x},
 *   "temperature": x.
 *
 * Scoring a text: normalise with the model's flags, extract features,
 * weight each as tf (1 + ln count when sublinear) times its row's idf
 * (idf_unseen for a bucket with no row), scale each family to unit L2
 * norm times its weight, then logit[k] = bias[k] + sum(value * weight),
 * and probabilities = softmax(logit / temperature).
 *
 * A loaded model is read-only: one model serves many threads, each with
 * its own classifier_norm_t and classifier_feats_t. */
#ifndef CLASSIFIER_MODEL_H
#define CLASSIFIER_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "classifier_features.h"
#include "classifier_normalize.h"

#define CLASSIFIER_MODEL_VERSION 1
#define CLASSIFIER_MODEL_MAX_LABELS 256
#define CLASSIFIER_MODEL_LABEL_MAX 64 /* bytes, with the NUL */
#define CLASSIFIER_MODEL_TASK_MAX 32
/* Larger files are refused before reading them. */
#define CLASSIFIER_MODEL_MAX_FILE (64u << 20)
#define CLASSIFIER_MODEL_MAX_META (1u << 20)

typedef struct classifier_model classifier_model_t;

/* Everything but the weights. */
typedef struct {
    const char *task;          /* e.g. "sentiment" */
    const char *const *labels; /* n_labels names, unique, non-empty */
    uint32_t n_labels;         /* 2..CLASSIFIER_MODEL_MAX_LABELS */
    classifier_feat_config_t feat;
    unsigned norm_flags; /* CLASSIFIER_NORM_* */
    bool sublinear_tf;   /* 1 + ln(count) instead of count */
    float word_weight;   /* family weights after per-family L2 */
    float char_weight;
    float idf_unseen;  /* idf of a bucket with no row */
    float temperature; /* softmax temperature, > 0 */
} classifier_model_spec_t;

/* Build a model from trained weights: rows[n_rows] ascending buckets,
 * idf[n_rows], weights[n_rows * n_labels] row-major, bias[n_labels].
 * Weights are quantised to 8 bits per row. NULL with the reason in err. */
classifier_model_t *
classifier_model_build(const classifier_model_spec_t *spec, uint32_t n_rows,
                       const uint32_t *rows, const float *idf,
                       const float *weights, const float *bias, char *err,
                       size_t err_size);

/* Load and verify a model file. If task is not NULL the model must be for
 * that task. NULL with a precise message in err (bad magic, version,
 * truncation, checksum, metadata, task mismatch). */
classifier_model_t *
classifier_model_load(const char *path, const char *task, char *err,
                      size_t err_size);

/* The same from bytes in memory (the file's whole contents). */
classifier_model_t *
classifier_model_parse(const void *buf, size_t len, const char *task, char *err,
                       size_t err_size);

/* Write the model file (to path.tmp, then renamed). 0, or -1 with err. */
int
classifier_model_save(const classifier_model_t *self, const char *path,
                      char *err, size_t err_size);

/* Serialise into a new buffer (caller frees); *len gets its size. */
void *
classifier_model_serialise(const classifier_model_t *self, size_t *len);

/* Destroy and set *self_p to NULL. Safe on NULL. */
void
classifier_model_destroy(classifier_model_t **self_p);

const char *
classifier_model_task(const classifier_model_t *self);

uint32_t
classifier_model_n_labels(const classifier_model_t *self);

/* Label i's name (borrowed), NULL if out of range. */
const char *
classifier_model_label(const classifier_model_t *self, uint32_t i);

/* Index of the label called name, or -1. */
int
classifier_model_label_index(const classifier_model_t *self, const char *name);

const classifier_feat_config_t *
classifier_model_feat_config(const classifier_model_t *self);

unsigned
classifier_model_norm_flags(const classifier_model_t *self);

/* Number of weight rows (features kept). */
uint32_t
classifier_model_n_rows(const classifier_model_t *self);

/* The checksum stored in (or, for a built model, that will be written to)
 * the file; 0 for a built model until serialised. */
uint64_t
classifier_model_checksum(const classifier_model_t *self);

/* The metadata object (borrowed). Callers may add keys before saving
 * (the trainer adds "datasets", "training" and "dev"); the keys read on
 * load are owned by the model and are rewritten on save. */
json_t *
classifier_model_meta(classifier_model_t *self);

float
classifier_model_temperature(const classifier_model_t *self);

/* Set the softmax temperature; values outside 0.001..1000 are ignored. */
void
classifier_model_set_temperature(classifier_model_t *self, float t);

/* Raw logits of extracted features into logits[n_labels]. */
void
classifier_model_logits(const classifier_model_t *self,
                        const classifier_feat_t *items, size_t n,
                        float *logits);

/* Probabilities (softmax of logits / temperature) into probs[n_labels].
 * Returns the index of the most probable label. */
int
classifier_model_predict(const classifier_model_t *self,
                         const classifier_feat_t *items, size_t n,
                         float *probs);

/* Normalise, extract and predict in one call with the caller's reusable
 * scratch. Returns the most probable label's index. */
int
classifier_model_predict_text(const classifier_model_t *self,
                              classifier_norm_t *norm,
                              classifier_feats_t *feats, const char *text,
                              size_t len, float *probs);

/* A group: models that read the same features (equal feature settings,
 * normaliser flags and tf; at most 16 labels each) scored together from
 * one merged row table, so that a feature costs one memory access for
 * all of them (classifier_models uses one per language). */
#define CLASSIFIER_GROUP_MAX 8
typedef struct classifier_model_group classifier_model_group_t;

/* Merge models[n] (borrowed: they must outlive the group). NULL if n is 0
 * or above CLASSIFIER_GROUP_MAX, or the models differ in features or have
 * more than 16 labels. */
classifier_model_group_t *
classifier_model_group_new(const classifier_model_t *const *models, size_t n);

void
classifier_model_group_destroy(classifier_model_group_t **self_p);

/* Number of models in the group. */
size_t
classifier_model_group_size(const classifier_model_group_t *self);

/* Every model's raw logits: logits[m] gets model m's, equal to
 * classifier_model_logits up to float rounding (sums in another order). */
void
classifier_model_group_logits(const classifier_model_group_t *self,
                              const classifier_feat_t *items, size_t n,
                              float *const *logits);

/* Softmax of logits[k] / t into probs[k] (numerically stable). */
void
classifier_softmax(const float *logits, uint32_t k, float t, float *probs);

#endif
