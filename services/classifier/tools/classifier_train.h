/* classifier_train: what kujo-train and kujo-eval share: labelled TSV data
 * sets, the trainer (multinomial logistic regression, averaged SGD with
 * L2 and class weights), temperature fitting, and accuracy / macro-F1 /
 * confusion metrics. Not used by the running service. */
#ifndef CLASSIFIER_TRAIN_H
#define CLASSIFIER_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "classifier_model.h"

/* Data files larger than this are refused. */
#define CLASSIFIER_TSV_MAX_FILE (1u << 30)

/* ---- data sets ---------------------------------------------------- */

typedef struct classifier_tsv classifier_tsv_t;

/* Read a TSV with a header row and keep the text and label columns of
 * each row; rows whose label is empty are skipped. NULL with a precise
 * message (missing column with the header's names, short row with its
 * line number, invalid UTF-8) in err. */
classifier_tsv_t *
classifier_tsv_read(const char *path, const char *text_column,
                    const char *label_column, char *err, size_t err_size);

/* The corpus split of a row (models/corpus/GUIDE.md, "Splits"): FNV-1a 64
 * over the id's bytes, then murmur3's fmix64, modulo 100: below 70 is
 * train, below 85 dev, else test. It depends on the id alone, so a row
 * never changes split when rows are added. */
typedef enum {
    CLASSIFIER_SPLIT_ALL = 0, /* no split: every row */
    CLASSIFIER_SPLIT_TRAIN,
    CLASSIFIER_SPLIT_DEV,
    CLASSIFIER_SPLIT_TEST,
} classifier_split_t;

/* The split of the row called id[len]. */
classifier_split_t
classifier_split_of(const char *id, size_t len);

/* Parse "train", "dev", "test" (or "all"). -1 if unknown. */
int
classifier_split_parse(const char *s, classifier_split_t *out);

const char *
classifier_split_name(classifier_split_t split);

typedef struct {
    const char *text_column;  /* default "text" */
    const char *label_column; /* required */
    /* Rows of this split only (by the id column, which must then exist);
     * such rows are also the ones cross-validation holds out. */
    classifier_split_t split;
    /* The corpus escapes: "\n" in a text is a line break, "\\" a
     * backslash. */
    bool unescape;
    float weight; /* each row's weight in training; 0 counts as 1 */
} classifier_tsv_opts_t;

/* classifier_tsv_read with options. Every row gets a key (a hash of its
 * id, or of its text when the file has no id column) that spreads rows
 * over cross-validation folds. */
classifier_tsv_t *
classifier_tsv_read_opts(const char *path, const classifier_tsv_opts_t *opts,
                         char *err, size_t err_size);

/* One set of the rows of sets[n], in order, with their weights, keys and
 * held-out marks. */
classifier_tsv_t *
classifier_tsv_pool(classifier_tsv_t *const *sets, size_t n);

/* Row i's training weight (1 unless read with a weight). */
float
classifier_tsv_weight(const classifier_tsv_t *self, size_t i);

/* Row i's key (see classifier_tsv_read_opts). */
uint64_t
classifier_tsv_key(const classifier_tsv_t *self, size_t i);

/* Whether cross-validation may hold row i out: rows read with a split;
 * when no row of a set has a split, every row. */
bool
classifier_tsv_held(const classifier_tsv_t *self, size_t i);

/* Build a data set from memory (tests): texts[i] with labels[i]. */
classifier_tsv_t *
classifier_tsv_from_arrays(const char *const *texts, const char *const *labels,
                           size_t n);

void
classifier_tsv_destroy(classifier_tsv_t **self_p);

/* Rows kept. */
size_t
classifier_tsv_count(const classifier_tsv_t *self);

/* Rows skipped because their label was empty. */
size_t
classifier_tsv_skipped(const classifier_tsv_t *self);

const char *
classifier_tsv_text(const classifier_tsv_t *self, size_t i, size_t *len);

const char *
classifier_tsv_label(const classifier_tsv_t *self, size_t i);

/* ---- metrics ------------------------------------------------------- */

typedef struct classifier_metrics classifier_metrics_t;

/* A k x k confusion matrix over label indices 0..k-1. */
classifier_metrics_t *
classifier_metrics_new(uint32_t k);

void
classifier_metrics_destroy(classifier_metrics_t **self_p);

void
classifier_metrics_add(classifier_metrics_t *self, uint32_t truth,
                       uint32_t pred);

uint64_t
classifier_metrics_n(const classifier_metrics_t *self);

double
classifier_metrics_accuracy(const classifier_metrics_t *self);

/* Mean F1 over the labels that occur as truth or prediction (labels never
 * seen either way are left out, as scikit-learn does). */
double
classifier_metrics_macro_f1(const classifier_metrics_t *self);

/* Per label: precision, recall, F1 (0 when undefined) and support. */
double
classifier_metrics_precision(const classifier_metrics_t *self, uint32_t i);
double
classifier_metrics_recall(const classifier_metrics_t *self, uint32_t i);
double
classifier_metrics_f1(const classifier_metrics_t *self, uint32_t i);
uint64_t
classifier_metrics_support(const classifier_metrics_t *self, uint32_t i);

/* Rows with truth i predicted as j. */
uint64_t
classifier_metrics_cell(const classifier_metrics_t *self, uint32_t i,
                        uint32_t j);

/* ---- evaluation ---------------------------------------------------- */

typedef struct {
    classifier_metrics_t *metrics; /* over labels[] below */
    char **labels;      /* the model's labels, then any only in the data */
    uint32_t n_labels;  /* size of labels and of the confusion matrix */
    uint32_t n_unknown; /* rows whose label the model does not have */
    double nll;         /* mean negative log-likelihood (known labels) */
    double seconds;     /* time spent predicting only */
    double texts_per_s; /* rows / seconds */
} classifier_eval_t;

/* Predict every row of data with model and score it. Only normalising,
 * feature extraction and scoring are timed. Fill *out; release it with
 * classifier_eval_release. */
void
classifier_evaluate(const classifier_model_t *model,
                    const classifier_tsv_t *data, classifier_eval_t *out);

void
classifier_eval_release(classifier_eval_t *ev);

/* Fit the softmax temperature that minimises the negative log-likelihood
 * of data (a dev split) under model, set it on the model and return it. */
float
classifier_fit_temperature(classifier_model_t *model,
                           const classifier_tsv_t *data);

/* ---- training ------------------------------------------------------ */

typedef enum {
    CLASSIFIER_CW_NONE = 0, /* every row weighs 1 */
    CLASSIFIER_CW_BALANCED, /* n / (k * count(label)) */
    CLASSIFIER_CW_SQRT,     /* square root of balanced */
} classifier_class_weight_t;

typedef struct {
    const char *task; /* recorded in the model */
    classifier_feat_config_t feat;
    unsigned norm_flags; /* CLASSIFIER_NORM_* */
    bool sublinear_tf;
    bool idf; /* false: every idf is 1 */
    float word_weight;
    float char_weight;
    uint32_t min_df; /* drop buckets in fewer training rows */
    unsigned epochs; /* passes over the data */
    double lambda;   /* L2 strength */
    double eta0;     /* initial learning rate */
    classifier_class_weight_t class_weight;
    uint64_t seed;  /* shuffling; same seed, same model */
    float prune;    /* > 0: drop rows whose largest weight is
                     * below this and train again */
    FILE *progress; /* per-epoch lines, or NULL */
} classifier_train_opts_t;

/* Train on train (labels sorted by name); after each epoch, score dev if
 * not NULL and print to opts->progress. Returns the built model, or NULL
 * with the reason in err. */
classifier_model_t *
classifier_train(const classifier_train_opts_t *opts,
                 const classifier_tsv_t *train, const classifier_tsv_t *dev,
                 char *err, size_t err_size);

/* K-fold cross-validation of opts on data: rows that
 * classifier_tsv_held allows are spread over k folds by their key; each
 * fold's rows are predicted by a model trained on every other row (rows
 * that may not be held out are always trained on). The pooled
 * predictions are scored into *metrics (labels sorted by name, as the
 * trainer orders them; caller destroys it). 0, or -1 with err. */
int
classifier_cross_validate(const classifier_train_opts_t *opts,
                          const classifier_tsv_t *data, unsigned k,
                          classifier_metrics_t **metrics, char *err,
                          size_t err_size);

/* Parse "none", "balanced", "sqrt". -1 if unknown. */
int
classifier_class_weight_parse(const char *s, classifier_class_weight_t *out);

const char *
classifier_class_weight_name(classifier_class_weight_t cw);

#endif
