/* classifier_train: TSV data sets, metrics, evaluation and the trainer.
 *
 * The trainer is Bottou's averaged SGD (ASGD) for L2-regularised
 * multinomial logistic regression: the weight vector is kept as w / wdiv
 * so the L2 shrink of every step is one division, and the running average
 * as (a + wfrac * w) / adiv so that averaging costs only the features a
 * row touches. Feature vectors are computed once, exactly as the model
 * computes them when scoring (classifier_model.h), over the buckets seen
 * in at least min_df training rows. */
#include "classifier_train.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "kj_util.h"

/* ---- data sets ---------------------------------------------------- */

struct classifier_tsv {
    char *buf;          /* file contents; fields NUL-terminated in place */
    const char **text;  /* row -> text */
    size_t *text_len;   /* row -> text length */
    const char **label; /* row -> label */
    uint64_t *key;      /* row -> hash of its id (or text): CV folds */
    float *weight;      /* row -> training weight */
    bool *held;         /* row -> cross-validation may hold it out */
    bool has_split;     /* read with a split (or pooled with such a set) */
    size_t n;           /* rows kept */
    size_t cap;         /* allocated rows */
    size_t skipped;     /* rows with an empty label */
    char **owned;       /* strings to free (from_arrays), or NULL */
    size_t n_owned;
};

static void
s_tsv_push(classifier_tsv_t *self, const char *text, size_t len,
           const char *label, uint64_t key, float weight, bool held)
{
    if (self->n == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 1024;
        self->text = kj_realloc(self->text, self->cap * sizeof(char *));
        self->text_len = kj_realloc(self->text_len, self->cap * sizeof(size_t));
        self->label = kj_realloc(self->label, self->cap * sizeof(char *));
        self->key = kj_realloc(self->key, self->cap * sizeof(uint64_t));
        self->weight = kj_realloc(self->weight, self->cap * sizeof(float));
        self->held = kj_realloc(self->held, self->cap * sizeof(bool));
    }
    self->text[self->n] = text;
    self->text_len[self->n] = len;
    self->label[self->n] = label;
    self->key[self->n] = key;
    self->weight[self->n] = weight;
    self->held[self->n] = held;
    self->n++;
}

/* Split line (NUL-terminated, no newline) on TABs in place. Returns the
 * field count; at most max fields are stored. */
static size_t
s_split(char *line, char **fields, size_t max)
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        if (n < max)
            fields[n] = p;
        n++;
        char *tab = strchr(p, '\t');
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    return n;
}

#define S_MAX_FIELDS 256

static uint64_t
s_fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

/* FNV-1a 64 of s[len], mixed. */
static uint64_t
s_hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return s_fmix64(h);
}

classifier_split_t
classifier_split_of(const char *id, size_t len)
{
    unsigned b = (unsigned)(s_hash(id, len) % 100);
    return b < 70   ? CLASSIFIER_SPLIT_TRAIN
           : b < 85 ? CLASSIFIER_SPLIT_DEV
                    : CLASSIFIER_SPLIT_TEST;
}

static const char *const s_split_names[] = {
    [CLASSIFIER_SPLIT_ALL] = "all",
    [CLASSIFIER_SPLIT_TRAIN] = "train",
    [CLASSIFIER_SPLIT_DEV] = "dev",
    [CLASSIFIER_SPLIT_TEST] = "test",
};

int
classifier_split_parse(const char *s, classifier_split_t *out)
{
    for (size_t i = 0; i < KJ_ARRAY_LEN(s_split_names); i++) {
        if (strcmp(s, s_split_names[i]) == 0) {
            *out = (classifier_split_t)i;
            return 0;
        }
    }
    return -1;
}

const char *
classifier_split_name(classifier_split_t split)
{
    return (size_t)split < KJ_ARRAY_LEN(s_split_names) ? s_split_names[split]
                                                       : "?";
}

/* Undo the corpus escapes in place ("\n" -> line break, "\\" -> "\");
 * returns the new length. */
static size_t
s_unescape(char *s)
{
    char *o = s;
    for (const char *p = s; *p; p++) {
        if (p[0] == '\\' && p[1] == 'n') {
            *o++ = '\n';
            p++;
        } else if (p[0] == '\\' && p[1] == '\\') {
            *o++ = '\\';
            p++;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return (size_t)(o - s);
}

classifier_tsv_t *
classifier_tsv_read(const char *path, const char *text_column,
                    const char *label_column, char *err, size_t err_size)
{
    classifier_tsv_opts_t o = {.text_column = text_column,
                               .label_column = label_column};
    return classifier_tsv_read_opts(path, &o, err, err_size);
}

classifier_tsv_t *
classifier_tsv_read_opts(const char *path, const classifier_tsv_opts_t *opts,
                         char *err, size_t err_size)
{
    const char *text_column = opts->text_column ? opts->text_column : "text";
    const char *label_column = opts->label_column;
    float weight = opts->weight > 0 ? opts->weight : 1.0f;
    classifier_tsv_t *self = kj_calloc(1, sizeof(*self));
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
        (uint64_t)st.st_size > CLASSIFIER_TSV_MAX_FILE) {
        snprintf(err, err_size, "%s: not a regular file of at most %u bytes",
                 path, CLASSIFIER_TSV_MAX_FILE);
        goto fail;
    }
    size_t len = (size_t)st.st_size;
    self->buf = kj_malloc(len + 1);
    if (fread(self->buf, 1, len, f) != len) {
        snprintf(err, err_size, "%s: short read", path);
        goto fail;
    }
    fclose(f);
    f = NULL;
    self->buf[len] = '\0';

    char *fields[S_MAX_FIELDS];
    char *p = self->buf;
    size_t lineno = 0;
    long ti = -1, li = -1, ii = -1;
    size_t need = 0;
    while (*p) {
        char *nl = strchr(p, '\n');
        char *next = nl ? nl + 1 : p + strlen(p);
        if (nl)
            *nl = '\0';
        size_t ll = strlen(p);
        if (ll > 0 && p[ll - 1] == '\r')
            p[--ll] = '\0';
        lineno++;
        if (ll == 0) {
            p = next;
            continue;
        }
        size_t nf = s_split(p, fields, S_MAX_FIELDS);
        if (ti < 0) {
            for (size_t i = 0; i < nf && i < S_MAX_FIELDS; i++) {
                if (strcmp(fields[i], text_column) == 0)
                    ti = (long)i;
                if (strcmp(fields[i], label_column) == 0)
                    li = (long)i;
                if (strcmp(fields[i], "id") == 0)
                    ii = (long)i;
            }
            if (ti < 0 || li < 0 ||
                (ii < 0 && opts->split != CLASSIFIER_SPLIT_ALL)) {
                char names[512];
                size_t o = 0;
                names[0] = '\0';
                for (size_t i = 0; i < nf && i < S_MAX_FIELDS; i++) {
                    int w = snprintf(names + o, sizeof(names) - o, "%s%s",
                                     i ? ", " : "", fields[i]);
                    if (w < 0 || (size_t)w >= sizeof(names) - o)
                        break;
                    o += (size_t)w;
                }
                snprintf(err, err_size, "%s: no column \"%s\" (columns: %s)",
                         path,
                         ti < 0   ? text_column
                         : li < 0 ? label_column
                                  : "id",
                         names);
                goto fail;
            }
            need = (size_t)(ti > li ? ti : li) + 1;
            if (ii >= 0 && (size_t)ii + 1 > need)
                need = (size_t)ii + 1;
            p = next;
            continue;
        }
        if (nf < need) {
            snprintf(err, err_size, "%s:%zu: %zu fields, need at least %zu",
                     path, lineno, nf, need);
            goto fail;
        }
        const char *id = ii >= 0 ? fields[ii] : NULL;
        if (opts->split != CLASSIFIER_SPLIT_ALL &&
            classifier_split_of(id, strlen(id)) != opts->split) {
            p = next;
            continue;
        }
        const char *label = fields[li];
        char *text = fields[ti];
        size_t tl = opts->unescape ? s_unescape(text) : strlen(text);
        if (label[0] == '\0')
            self->skipped++;
        else
            s_tsv_push(self, text, tl, label,
                       id ? s_hash(id, strlen(id)) : s_hash(text, tl), weight,
                       true);
        p = next;
    }
    if (ti < 0) {
        snprintf(err, err_size, "%s: empty file (no header row)", path);
        goto fail;
    }
    self->has_split = opts->split != CLASSIFIER_SPLIT_ALL;
    return self;
fail:
    if (f)
        fclose(f);
    classifier_tsv_destroy(&self);
    return NULL;
}

classifier_tsv_t *
classifier_tsv_pool(classifier_tsv_t *const *sets, size_t n)
{
    classifier_tsv_t *self = kj_calloc(1, sizeof(*self));
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += sets[i]->n;
    self->owned = kj_calloc(2 * total + 1, sizeof(char *));
    /* Pooled with a set read with a split (our corpus), only that set's
     * rows are held out: the others (public sets) are always trained on,
     * so that cross-validation scores the rows the split is about. */
    bool any_split = false;
    for (size_t i = 0; i < n; i++)
        any_split = any_split || sets[i]->has_split;
    self->has_split = any_split;
    for (size_t i = 0; i < n; i++) {
        self->skipped += sets[i]->skipped;
        for (size_t r = 0; r < sets[i]->n; r++) {
            char *t = kj_malloc(sets[i]->text_len[r] + 1);
            memcpy(t, sets[i]->text[r], sets[i]->text_len[r] + 1);
            char *l = kj_strdup(sets[i]->label[r]);
            self->owned[self->n_owned++] = t;
            self->owned[self->n_owned++] = l;
            s_tsv_push(self, t, sets[i]->text_len[r], l, sets[i]->key[r],
                       sets[i]->weight[r],
                       sets[i]->held[r] && (!any_split || sets[i]->has_split));
        }
    }
    return self;
}

float
classifier_tsv_weight(const classifier_tsv_t *self, size_t i)
{
    return self->weight[i];
}

uint64_t
classifier_tsv_key(const classifier_tsv_t *self, size_t i)
{
    return self->key[i];
}

bool
classifier_tsv_held(const classifier_tsv_t *self, size_t i)
{
    return self->held[i];
}

classifier_tsv_t *
classifier_tsv_from_arrays(const char *const *texts, const char *const *labels,
                           size_t n)
{
    classifier_tsv_t *self = kj_calloc(1, sizeof(*self));
    self->owned = kj_calloc(2 * n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        if (!labels[i] || !labels[i][0]) {
            self->skipped++;
            continue;
        }
        char *t = kj_strdup(texts[i]);
        char *l = kj_strdup(labels[i]);
        self->owned[self->n_owned++] = t;
        self->owned[self->n_owned++] = l;
        s_tsv_push(self, t, strlen(t), l, s_hash(t, strlen(t)), 1.0f, true);
    }
    return self;
}

void
classifier_tsv_destroy(classifier_tsv_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    classifier_tsv_t *self = *self_p;
    for (size_t i = 0; i < self->n_owned; i++)
        free(self->owned[i]);
    free(self->owned);
    free(self->buf);
    free(self->text);
    free(self->text_len);
    free(self->label);
    free(self->key);
    free(self->weight);
    free(self->held);
    free(self);
    *self_p = NULL;
}

size_t
classifier_tsv_count(const classifier_tsv_t *self)
{
    return self->n;
}

size_t
classifier_tsv_skipped(const classifier_tsv_t *self)
{
    return self->skipped;
}

const char *
classifier_tsv_text(const classifier_tsv_t *self, size_t i, size_t *len)
{
    if (len)
        *len = self->text_len[i];
    return self->text[i];
}

const char *
classifier_tsv_label(const classifier_tsv_t *self, size_t i)
{
    return self->label[i];
}

/* ---- metrics ------------------------------------------------------- */

struct classifier_metrics {
    uint32_t k;     /* labels */
    uint64_t *cell; /* k x k, truth-major */
    uint64_t n;     /* rows added */
};

classifier_metrics_t *
classifier_metrics_new(uint32_t k)
{
    classifier_metrics_t *self = kj_calloc(1, sizeof(*self));
    self->k = k;
    self->cell = kj_calloc((size_t)k * k + 1, sizeof(uint64_t));
    return self;
}

void
classifier_metrics_destroy(classifier_metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->cell);
    free(*self_p);
    *self_p = NULL;
}

void
classifier_metrics_add(classifier_metrics_t *self, uint32_t truth,
                       uint32_t pred)
{
    if (truth >= self->k || pred >= self->k)
        return;
    self->cell[(size_t)truth * self->k + pred]++;
    self->n++;
}

uint64_t
classifier_metrics_n(const classifier_metrics_t *self)
{
    return self->n;
}

uint64_t
classifier_metrics_cell(const classifier_metrics_t *self, uint32_t i,
                        uint32_t j)
{
    if (i >= self->k || j >= self->k)
        return 0;
    return self->cell[(size_t)i * self->k + j];
}

double
classifier_metrics_accuracy(const classifier_metrics_t *self)
{
    if (self->n == 0)
        return 0;
    uint64_t ok = 0;
    for (uint32_t i = 0; i < self->k; i++)
        ok += self->cell[(size_t)i * self->k + i];
    return (double)ok / (double)self->n;
}

uint64_t
classifier_metrics_support(const classifier_metrics_t *self, uint32_t i)
{
    uint64_t s = 0;
    for (uint32_t j = 0; j < self->k; j++)
        s += classifier_metrics_cell(self, i, j);
    return s;
}

static uint64_t
s_predicted(const classifier_metrics_t *self, uint32_t j)
{
    uint64_t s = 0;
    for (uint32_t i = 0; i < self->k; i++)
        s += classifier_metrics_cell(self, i, j);
    return s;
}

double
classifier_metrics_precision(const classifier_metrics_t *self, uint32_t i)
{
    uint64_t p = s_predicted(self, i);
    return p ? (double)classifier_metrics_cell(self, i, i) / (double)p : 0;
}

double
classifier_metrics_recall(const classifier_metrics_t *self, uint32_t i)
{
    uint64_t s = classifier_metrics_support(self, i);
    return s ? (double)classifier_metrics_cell(self, i, i) / (double)s : 0;
}

double
classifier_metrics_f1(const classifier_metrics_t *self, uint32_t i)
{
    double p = classifier_metrics_precision(self, i);
    double r = classifier_metrics_recall(self, i);
    return p + r > 0 ? 2 * p * r / (p + r) : 0;
}

double
classifier_metrics_macro_f1(const classifier_metrics_t *self)
{
    double sum = 0;
    uint32_t used = 0;
    for (uint32_t i = 0; i < self->k; i++) {
        if (classifier_metrics_support(self, i) == 0 &&
            s_predicted(self, i) == 0)
            continue;
        sum += classifier_metrics_f1(self, i);
        used++;
    }
    return used ? sum / used : 0;
}

/* ---- evaluation ---------------------------------------------------- */

static double
s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
classifier_evaluate(const classifier_model_t *model,
                    const classifier_tsv_t *data, classifier_eval_t *out)
{
    memset(out, 0, sizeof(*out));
    uint32_t k = classifier_model_n_labels(model);
    size_t n = classifier_tsv_count(data);
    /* Labels: the model's, then each data label the model lacks. */
    size_t cap = k + 16;
    out->labels = kj_malloc(cap * sizeof(char *));
    for (uint32_t i = 0; i < k; i++)
        out->labels[i] = kj_strdup(classifier_model_label(model, i));
    out->n_labels = k;
    uint32_t *truth = kj_malloc((n + 1) * sizeof(uint32_t));
    for (size_t r = 0; r < n; r++) {
        const char *l = classifier_tsv_label(data, r);
        int t = classifier_model_label_index(model, l);
        if (t < 0) {
            uint32_t j;
            for (j = k; j < out->n_labels; j++)
                if (strcmp(out->labels[j], l) == 0)
                    break;
            if (j == out->n_labels) {
                if (out->n_labels == cap) {
                    cap *= 2;
                    out->labels = kj_realloc(out->labels, cap * sizeof(char *));
                }
                out->labels[out->n_labels++] = kj_strdup(l);
            }
            t = (int)j;
            out->n_unknown++;
        }
        truth[r] = (uint32_t)t;
    }
    uint32_t *pred = kj_malloc((n + 1) * sizeof(uint32_t));
    float *ptrue = kj_malloc((n + 1) * sizeof(float));
    classifier_norm_t *norm = classifier_norm_new();
    classifier_feats_t *feats = classifier_feats_new();
    float probs[CLASSIFIER_MODEL_MAX_LABELS];
    /* CPU time: the cost on one core, whatever else the machine runs. */
    struct timespec c0, c1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    for (size_t r = 0; r < n; r++) {
        size_t len;
        const char *text = classifier_tsv_text(data, r, &len);
        int p =
            classifier_model_predict_text(model, norm, feats, text, len, probs);
        pred[r] = (uint32_t)p;
        ptrue[r] = truth[r] < k ? probs[truth[r]] : 0;
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    out->seconds = (double)(c1.tv_sec - c0.tv_sec) +
                   (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
    out->texts_per_s = out->seconds > 0 ? (double)n / out->seconds : 0;
    out->metrics = classifier_metrics_new(out->n_labels);
    double nll = 0;
    size_t known = 0;
    for (size_t r = 0; r < n; r++) {
        classifier_metrics_add(out->metrics, truth[r], pred[r]);
        if (truth[r] < k) {
            nll -= log(ptrue[r] > 1e-30f ? ptrue[r] : 1e-30f);
            known++;
        }
    }
    out->nll = known ? nll / (double)known : 0;
    classifier_feats_destroy(&feats);
    classifier_norm_destroy(&norm);
    free(truth);
    free(pred);
    free(ptrue);
}

void
classifier_eval_release(classifier_eval_t *ev)
{
    classifier_metrics_destroy(&ev->metrics);
    for (uint32_t i = 0; i < ev->n_labels; i++)
        free(ev->labels[i]);
    free(ev->labels);
    memset(ev, 0, sizeof(*ev));
}

/* Mean NLL of rows under temperature t, from stored logits. */
static double
s_nll_at(const float *logits, const uint32_t *truth, size_t n, uint32_t k,
         double t)
{
    double sum = 0;
    float probs[CLASSIFIER_MODEL_MAX_LABELS];
    for (size_t r = 0; r < n; r++) {
        classifier_softmax(logits + r * k, k, (float)t, probs);
        float p = probs[truth[r]];
        sum -= log(p > 1e-30f ? p : 1e-30f);
    }
    return n ? sum / (double)n : 0;
}

float
classifier_fit_temperature(classifier_model_t *model,
                           const classifier_tsv_t *data)
{
    uint32_t k = classifier_model_n_labels(model);
    size_t n = classifier_tsv_count(data);
    float *logits = kj_malloc((n + 1) * k * sizeof(float));
    uint32_t *truth = kj_malloc((n + 1) * sizeof(uint32_t));
    size_t m = 0;
    classifier_norm_t *norm = classifier_norm_new();
    classifier_feats_t *feats = classifier_feats_new();
    for (size_t r = 0; r < n; r++) {
        int t =
            classifier_model_label_index(model, classifier_tsv_label(data, r));
        if (t < 0)
            continue;
        size_t len, nf, ncp;
        const char *text = classifier_tsv_text(data, r, &len);
        classifier_norm_run(norm, text, len,
                            classifier_model_norm_flags(model));
        const int32_t *cps = classifier_norm_codepoints(norm, &ncp);
        classifier_feats_extract(feats, classifier_model_feat_config(model),
                                 cps, ncp);
        const classifier_feat_t *items = classifier_feats_items(feats, &nf);
        classifier_model_logits(model, items, nf, logits + m * k);
        truth[m++] = (uint32_t)t;
    }
    /* Golden-section search on ln(t) over [ln 0.05, ln 20]; the NLL is
     * unimodal in t for a fixed model. */
    double lo = log(0.05), hi = log(20.0);
    const double g = 0.6180339887498949;
    double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
    double f1 = s_nll_at(logits, truth, m, k, exp(x1));
    double f2 = s_nll_at(logits, truth, m, k, exp(x2));
    for (int it = 0; it < 60; it++) {
        if (f1 < f2) {
            hi = x2;
            x2 = x1;
            f2 = f1;
            x1 = hi - g * (hi - lo);
            f1 = s_nll_at(logits, truth, m, k, exp(x1));
        } else {
            lo = x1;
            x1 = x2;
            f1 = f2;
            x2 = lo + g * (hi - lo);
            f2 = s_nll_at(logits, truth, m, k, exp(x2));
        }
    }
    float t = m ? (float)exp((lo + hi) / 2) : 1.0f;
    classifier_model_set_temperature(model, t);
    classifier_feats_destroy(&feats);
    classifier_norm_destroy(&norm);
    free(logits);
    free(truth);
    return t;
}

/* ---- training ------------------------------------------------------ */

int
classifier_class_weight_parse(const char *s, classifier_class_weight_t *out)
{
    if (strcmp(s, "none") == 0)
        *out = CLASSIFIER_CW_NONE;
    else if (strcmp(s, "balanced") == 0)
        *out = CLASSIFIER_CW_BALANCED;
    else if (strcmp(s, "sqrt") == 0)
        *out = CLASSIFIER_CW_SQRT;
    else
        return -1;
    return 0;
}

const char *
classifier_class_weight_name(classifier_class_weight_t cw)
{
    switch (cw) {
    case CLASSIFIER_CW_BALANCED:
        return "balanced";
    case CLASSIFIER_CW_SQRT:
        return "sqrt";
    default:
        return "none";
    }
}

/* Sparse rows: doc d's entries are [start[d], start[d + 1]). */
typedef struct {
    size_t n;      /* documents */
    size_t *start; /* n + 1 offsets */
    uint32_t *row; /* weight row of each entry */
    float *val;    /* its value */
    uint32_t *y;   /* label index, or UINT32_MAX if unknown */
    float *w;      /* row weight */
} s_csr_t;

static void
s_csr_free(s_csr_t *m)
{
    free(m->start);
    free(m->row);
    free(m->val);
    free(m->y);
    free(m->w);
    memset(m, 0, sizeof(*m));
}

typedef struct {
    const classifier_train_opts_t *opts;
    uint32_t k;          /* labels */
    const char **labels; /* sorted label names (borrowed from train) */
    int32_t *map;        /* bucket -> row or -1 */
    uint32_t n_rows;
    uint32_t *rows; /* row -> bucket */
    float *idf;     /* row -> idf */
    float idf_unseen;
    classifier_norm_t *norm;
    classifier_feats_t *feats;
} s_trainer_t;

static int
s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static float
s_tf(const s_trainer_t *tr, uint16_t c)
{
    return tr->opts->sublinear_tf ? 1.0f + logf((float)c) : (float)c;
}

static const classifier_feat_t *
s_featurise(s_trainer_t *tr, const char *text, size_t len, size_t *n)
{
    size_t ncp;
    classifier_norm_run(tr->norm, text, len, tr->opts->norm_flags);
    const int32_t *cps = classifier_norm_codepoints(tr->norm, &ncp);
    classifier_feats_extract(tr->feats, &tr->opts->feat, cps, ncp);
    return classifier_feats_items(tr->feats, n);
}

static int
s_label_of(const s_trainer_t *tr, const char *l)
{
    const char **hit =
        bsearch(&l, tr->labels, tr->k, sizeof(char *), s_cmp_str);
    return hit ? (int)(hit - tr->labels) : -1;
}

/* Vectors of data exactly as classifier_model_logits weighs them. */
static void
s_vectorise(s_trainer_t *tr, const classifier_tsv_t *data, s_csr_t *m)
{
    size_t n = classifier_tsv_count(data);
    m->n = n;
    m->start = kj_malloc((n + 1) * sizeof(size_t));
    m->y = kj_malloc((n + 1) * sizeof(uint32_t));
    m->w = kj_malloc((n + 1) * sizeof(float));
    size_t cap = 1024, used = 0;
    m->row = kj_malloc(cap * sizeof(uint32_t));
    m->val = kj_malloc(cap * sizeof(float));
    float fw[2] = {tr->opts->word_weight, tr->opts->char_weight};
    for (size_t d = 0; d < n; d++) {
        size_t len, nf;
        const char *text = classifier_tsv_text(data, d, &len);
        const classifier_feat_t *items = s_featurise(tr, text, len, &nf);
        int y = s_label_of(tr, classifier_tsv_label(data, d));
        m->y[d] = y < 0 ? UINT32_MAX : (uint32_t)y;
        m->w[d] = classifier_tsv_weight(data, d);
        m->start[d] = used;
        float norm2[2] = {0, 0};
        for (size_t i = 0; i < nf; i++) {
            int32_t r = tr->map[items[i].bucket];
            float v = s_tf(tr, items[i].count) *
                      (r >= 0 ? tr->idf[r] : tr->idf_unseen);
            norm2[items[i].family & 1] += v * v;
        }
        float mult[2];
        for (int f = 0; f < 2; f++)
            mult[f] = norm2[f] > 0 ? fw[f] / sqrtf(norm2[f]) : 0;
        if (used + nf > cap) {
            while (used + nf > cap)
                cap *= 2;
            m->row = kj_realloc(m->row, cap * sizeof(uint32_t));
            m->val = kj_realloc(m->val, cap * sizeof(float));
        }
        for (size_t i = 0; i < nf; i++) {
            int32_t r = tr->map[items[i].bucket];
            if (r < 0)
                continue;
            m->row[used] = (uint32_t)r;
            m->val[used] = s_tf(tr, items[i].count) * tr->idf[r] *
                           mult[items[i].family & 1];
            used++;
        }
    }
    m->start[n] = used;
}

/* The averaged-SGD state: weights are w / wdiv; the average is
 * (a + wfrac * w) / adiv once averaging has started, else w / wdiv. */
typedef struct {
    uint32_t k, r;
    float *w, *a;
    double wdiv, adiv, wfrac;
    double *bw, *ba; /* bias and its average (never regularised) */
    bool averaging;
} s_asgd_t;

static void
s_asgd_renorm(s_asgd_t *s)
{
    size_t n = (size_t)s->r * s->k;
    if (s->averaging) {
        for (size_t i = 0; i < n; i++)
            s->a[i] = (float)((s->a[i] + s->wfrac * s->w[i]) / s->adiv);
        s->adiv = 1;
        s->wfrac = 0;
    }
    for (size_t i = 0; i < n; i++)
        s->w[i] = (float)(s->w[i] / s->wdiv);
    s->wdiv = 1;
}

/* The averaged weight of (row, label) and bias of label. */
static float
s_avg_w(const s_asgd_t *s, size_t i)
{
    if (!s->averaging)
        return (float)(s->w[i] / s->wdiv);
    return (float)((s->a[i] + s->wfrac * s->w[i]) / s->adiv);
}

static double
s_avg_b(const s_asgd_t *s, uint32_t j)
{
    return s->averaging ? s->ba[j] : s->bw[j];
}

static void
s_score_avg(const s_asgd_t *s, const s_csr_t *m, size_t d, float *z)
{
    for (uint32_t j = 0; j < s->k; j++)
        z[j] = (float)s_avg_b(s, j);
    for (size_t e = m->start[d]; e < m->start[d + 1]; e++) {
        size_t base = (size_t)m->row[e] * s->k;
        for (uint32_t j = 0; j < s->k; j++)
            z[j] += m->val[e] * s_avg_w(s, base + j);
    }
}

/* Dev accuracy, macro-F1 and NLL of the averaged weights. */
static void
s_dev_scores(const s_asgd_t *s, const s_csr_t *dev, double *acc, double *f1,
             double *nll)
{
    classifier_metrics_t *mx = classifier_metrics_new(s->k + 1);
    float z[CLASSIFIER_MODEL_MAX_LABELS], p[CLASSIFIER_MODEL_MAX_LABELS];
    double sum = 0;
    size_t known = 0;
    for (size_t d = 0; d < dev->n; d++) {
        s_score_avg(s, dev, d, z);
        classifier_softmax(z, s->k, 1.0f, p);
        uint32_t best = 0;
        for (uint32_t j = 1; j < s->k; j++)
            if (p[j] > p[best])
                best = j;
        uint32_t y = dev->y[d] == UINT32_MAX ? s->k : dev->y[d];
        classifier_metrics_add(mx, y, best);
        if (y < s->k) {
            sum -= log(p[y] > 1e-30f ? p[y] : 1e-30f);
            known++;
        }
    }
    *acc = classifier_metrics_accuracy(mx);
    *f1 = classifier_metrics_macro_f1(mx);
    *nll = known ? sum / (double)known : 0;
    classifier_metrics_destroy(&mx);
}

/* Averaged SGD over xt; reports per epoch on xd (if it has rows); the
 * averaged weights go to w[nr * k] and b[k]. */
static void
s_fit(const classifier_train_opts_t *opts, uint32_t k, uint32_t nr,
      const s_csr_t *xtp, const s_csr_t *xdp, const double *cw, float *w,
      float *b)
{
    const s_csr_t xt = *xtp;
    size_t n = xt.n;
    s_asgd_t s;
    memset(&s, 0, sizeof(s));
    size_t *order;
    s.k = k;
    s.r = nr;
    s.w = kj_calloc((size_t)nr * k + 1, sizeof(float));
    s.a = kj_calloc((size_t)nr * k + 1, sizeof(float));
    s.bw = kj_calloc(k, sizeof(double));
    s.ba = kj_calloc(k, sizeof(double));
    s.wdiv = s.adiv = 1;
    s.wfrac = 0;
    order = kj_malloc(n * sizeof(size_t));
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    uint64_t rng = opts->seed;
    double t = 0;
    /* Averaging starts after the first epoch (Bottou's ASGD default). */
    double avg_start = (double)n;
    unsigned epochs = opts->epochs ? opts->epochs : 1;
    float z[CLASSIFIER_MODEL_MAX_LABELS], p[CLASSIFIER_MODEL_MAX_LABELS];
    double etd[CLASSIFIER_MODEL_MAX_LABELS];
    for (unsigned ep = 1; ep <= epochs; ep++) {
        double t_ep = s_now();
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = (size_t)(kj_rand64(&rng) % (i + 1));
            size_t tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        double loss = 0;
        for (size_t oi = 0; oi < n; oi++) {
            size_t d = order[oi];
            if (s.wdiv > 1e5 || s.adiv > 1e5)
                s_asgd_renorm(&s);
            double eta =
                opts->eta0 / pow(1.0 + opts->lambda * opts->eta0 * t, 0.75);
            double mu = t <= avg_start ? 1.0 : 1.0 / (1.0 + t - avg_start);
            /* Forward with the current (not averaged) weights. */
            for (uint32_t j = 0; j < k; j++)
                z[j] = (float)s.bw[j];
            double inv = 1.0 / s.wdiv;
            for (size_t e = xt.start[d]; e < xt.start[d + 1]; e++) {
                const float *wr = s.w + (size_t)xt.row[e] * k;
                float v = (float)(xt.val[e] * inv);
                for (uint32_t j = 0; j < k; j++)
                    z[j] += v * wr[j];
            }
            classifier_softmax(z, k, 1.0f, p);
            uint32_t y = xt.y[d];
            double rw = cw[y] * xt.w[d];
            loss -= rw * log(p[y] > 1e-30f ? p[y] : 1e-30f);
            /* L2 shrink of every weight, as one division. */
            s.wdiv /= 1.0 - eta * opts->lambda;
            for (uint32_t j = 0; j < k; j++) {
                double g = rw * ((j == y ? 1.0 : 0.0) - p[j]);
                etd[j] = eta * g * s.wdiv;
                s.bw[j] += eta * g;
            }
            if (mu >= 1.0) {
                if (s.averaging) {
                    memset(s.a, 0, (size_t)nr * k * sizeof(float));
                    s.averaging = false;
                }
            } else if (!s.averaging) {
                /* Averaging starts from the current weights. */
                s.averaging = true;
                s.adiv = s.wdiv;
                s.wfrac = 1;
                memcpy(s.ba, s.bw, k * sizeof(double));
            }
            for (size_t e = xt.start[d]; e < xt.start[d + 1]; e++) {
                float *wr = s.w + (size_t)xt.row[e] * k;
                float *ar = s.a + (size_t)xt.row[e] * k;
                double v = xt.val[e];
                for (uint32_t j = 0; j < k; j++) {
                    wr[j] += (float)(etd[j] * v);
                    if (s.averaging)
                        ar[j] -= (float)(s.wfrac * etd[j] * v);
                }
            }
            if (s.averaging) {
                s.adiv /= 1.0 - mu;
                s.wfrac += mu * s.adiv / s.wdiv;
                for (uint32_t j = 0; j < k; j++)
                    s.ba[j] += mu * (s.bw[j] - s.ba[j]);
            }
            t += 1;
        }
        if (opts->progress) {
            fprintf(opts->progress, "epoch %u/%u train_loss=%.4f", ep, epochs,
                    loss / (double)n);
            if (xdp->n > 0) {
                double acc, f1, nll;
                s_dev_scores(&s, xdp, &acc, &f1, &nll);
                fprintf(opts->progress,
                        " dev_accuracy=%.4f dev_macro_f1=%.4f dev_nll=%.4f",
                        acc, f1, nll);
            }
            fprintf(opts->progress, " (%.1f s)\n", s_now() - t_ep);
            fflush(opts->progress);
        }
    }

    for (size_t i = 0; i < (size_t)nr * k; i++)
        w[i] = s_avg_w(&s, i);
    for (uint32_t j = 0; j < k; j++)
        b[j] = (float)s_avg_b(&s, j);
    free(s.w);
    free(s.a);
    free(s.bw);
    free(s.ba);
    free(order);
}

classifier_model_t *
classifier_train(const classifier_train_opts_t *opts,
                 const classifier_tsv_t *train, const classifier_tsv_t *dev,
                 char *err, size_t err_size)
{
    classifier_model_t *model = NULL;
    s_trainer_t tr;
    memset(&tr, 0, sizeof(tr));
    tr.opts = opts;
    s_csr_t xt, xd;
    memset(&xt, 0, sizeof(xt));
    memset(&xd, 0, sizeof(xd));
    uint32_t *df = NULL, *seen = NULL;
    float *wfinal = NULL, *bfinal = NULL;
    double *cw = NULL;

    char ferr[128];
    if (classifier_feat_config_check(&opts->feat, ferr, sizeof(ferr)) < 0) {
        snprintf(err, err_size, "features: %s", ferr);
        goto out;
    }
    size_t n = classifier_tsv_count(train);
    if (n == 0) {
        snprintf(err, err_size, "no labelled training rows");
        goto out;
    }
    /* Labels, sorted by name so that the order never depends on rows. */
    tr.labels = kj_malloc(n * sizeof(char *));
    for (size_t i = 0; i < n; i++)
        tr.labels[i] = classifier_tsv_label(train, i);
    qsort(tr.labels, n, sizeof(char *), s_cmp_str);
    uint32_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k == 0 || strcmp(tr.labels[k - 1], tr.labels[i]) != 0) {
            if (k == CLASSIFIER_MODEL_MAX_LABELS) {
                snprintf(err, err_size, "more than %d labels",
                         CLASSIFIER_MODEL_MAX_LABELS);
                goto out;
            }
            tr.labels[k++] = tr.labels[i];
        }
    }
    tr.k = k;
    if (k < 2) {
        snprintf(err, err_size, "training data has only one label");
        goto out;
    }
    tr.norm = classifier_norm_new();
    tr.feats = classifier_feats_new();

    /* Document frequency of every bucket. */
    size_t nb = (size_t)1 << opts->feat.hash_bits;
    df = kj_calloc(nb, sizeof(uint32_t));
    seen = kj_calloc(nb, sizeof(uint32_t));
    for (size_t d = 0; d < n; d++) {
        size_t len, nf;
        const char *text = classifier_tsv_text(train, d, &len);
        const classifier_feat_t *items = s_featurise(&tr, text, len, &nf);
        for (size_t i = 0; i < nf; i++) {
            uint32_t b = items[i].bucket;
            if (seen[b] != d + 1) {
                seen[b] = (uint32_t)(d + 1);
                df[b]++;
            }
        }
    }
    tr.map = kj_malloc(nb * sizeof(int32_t));
    uint32_t min_df = opts->min_df ? opts->min_df : 1;
    uint32_t nr = 0;
    for (size_t b = 0; b < nb; b++)
        if (df[b] >= min_df)
            nr++;
    tr.n_rows = nr;
    tr.rows = kj_malloc((nr + 1) * sizeof(uint32_t));
    tr.idf = kj_malloc((nr + 1) * sizeof(float));
    /* Smoothed idf, as scikit-learn: ln((1 + n) / (1 + df)) + 1. */
    tr.idf_unseen = opts->idf ? (float)(log(1.0 + (double)n) + 1.0) : 1.0f;
    nr = 0;
    for (size_t b = 0; b < nb; b++) {
        if (df[b] >= min_df) {
            tr.rows[nr] = (uint32_t)b;
            tr.idf[nr] =
                opts->idf
                    ? (float)(log((1.0 + (double)n) / (1.0 + (double)df[b])) +
                              1.0)
                    : 1.0f;
            tr.map[b] = (int32_t)nr++;
        } else {
            tr.map[b] = -1;
        }
    }
    s_vectorise(&tr, train, &xt);
    if (dev)
        s_vectorise(&tr, dev, &xd);

    /* Class weights from label counts (each row counted at its weight). */
    cw = kj_calloc(k, sizeof(double));
    double total_w = 0;
    for (size_t d = 0; d < n; d++) {
        cw[xt.y[d]] += xt.w[d];
        total_w += xt.w[d];
    }
    for (uint32_t j = 0; j < k; j++) {
        double bal = total_w / ((double)k * cw[j]);
        cw[j] = opts->class_weight == CLASSIFIER_CW_BALANCED ? bal
                : opts->class_weight == CLASSIFIER_CW_SQRT   ? sqrt(bal)
                                                             : 1.0;
    }

    wfinal = kj_malloc(((size_t)nr * k + 1) * sizeof(float));
    bfinal = kj_malloc(k * sizeof(float));
    s_fit(opts, k, nr, &xt, &xd, cw, wfinal, bfinal);
    if (opts->prune > 0) {
        /* Rows whose weights are all tiny cost memory (and time: scoring
         * is bound by memory) for nothing. Drop them, then train again
         * with their buckets unseen, so that training computes norms
         * exactly as scoring the smaller model will. */
        uint32_t keep = 0;
        for (uint32_t r = 0; r < nr; r++) {
            float mx = 0;
            for (uint32_t j = 0; j < k; j++)
                mx = fmaxf(mx, fabsf(wfinal[(size_t)r * k + j]));
            if (mx >= opts->prune) {
                tr.rows[keep] = tr.rows[r];
                tr.idf[keep] = tr.idf[r];
                tr.map[tr.rows[r]] = (int32_t)keep++;
            } else {
                tr.map[tr.rows[r]] = -1;
            }
        }
        if (opts->progress)
            fprintf(opts->progress,
                    "pruned %u of %u rows (largest weight below %g); "
                    "training again\n",
                    nr - keep, nr, opts->prune);
        nr = keep;
        tr.n_rows = nr;
        s_csr_free(&xt);
        s_csr_free(&xd);
        s_vectorise(&tr, train, &xt);
        if (dev)
            s_vectorise(&tr, dev, &xd);
        s_fit(opts, k, nr, &xt, &xd, cw, wfinal, bfinal);
    }
    classifier_model_spec_t spec = {
        .task = opts->task,
        .labels = tr.labels,
        .n_labels = k,
        .feat = opts->feat,
        .norm_flags = opts->norm_flags,
        .sublinear_tf = opts->sublinear_tf,
        .word_weight = opts->word_weight,
        .char_weight = opts->char_weight,
        .idf_unseen = tr.idf_unseen,
        .temperature = 1.0f,
    };
    model = classifier_model_build(&spec, nr, tr.rows, tr.idf, wfinal, bfinal,
                                   err, err_size);
out:
    s_csr_free(&xt);
    s_csr_free(&xd);
    free(df);
    free(seen);
    free(wfinal);
    free(bfinal);
    free(cw);
    free(tr.labels);
    free(tr.map);
    free(tr.rows);
    free(tr.idf);
    classifier_norm_destroy(&tr.norm);
    classifier_feats_destroy(&tr.feats);
    return model;
}

/* ---- cross-validation ---------------------------------------------- */

/* A view of data's rows where keep[i] (borrowed strings). */
static classifier_tsv_t *
s_tsv_subset(const classifier_tsv_t *data, const bool *keep)
{
    classifier_tsv_t *self = kj_calloc(1, sizeof(*self));
    for (size_t i = 0; i < data->n; i++)
        if (keep[i])
            s_tsv_push(self, data->text[i], data->text_len[i], data->label[i],
                       data->key[i], data->weight[i], data->held[i]);
    return self;
}

int
classifier_cross_validate(const classifier_train_opts_t *opts,
                          const classifier_tsv_t *data, unsigned k,
                          classifier_metrics_t **metrics, char *err,
                          size_t err_size)
{
    *metrics = NULL;
    if (k < 2 || k > 100) {
        snprintf(err, err_size, "folds must be 2..100");
        return -1;
    }
    size_t n = data->n;
    /* The labels as the trainer orders them: sorted, unique. */
    const char **labels = kj_malloc((n + 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++)
        labels[i] = data->label[i];
    qsort(labels, n, sizeof(char *), s_cmp_str);
    uint32_t nl = 0;
    for (size_t i = 0; i < n; i++)
        if (nl == 0 || strcmp(labels[nl - 1], labels[i]) != 0)
            labels[nl++] = labels[i];
    classifier_metrics_t *mx = classifier_metrics_new(nl ? nl : 1);
    bool *keep = kj_malloc((n + 1) * sizeof(bool));
    unsigned *fold = kj_malloc((n + 1) * sizeof(unsigned));
    for (size_t i = 0; i < n; i++)
        fold[i] =
            (unsigned)(s_fmix64(data->key[i] ^ 0x9e3779b97f4a7c15ULL) % k);
    classifier_train_opts_t o = *opts;
    o.progress = NULL;
    classifier_norm_t *norm = classifier_norm_new();
    classifier_feats_t *feats = classifier_feats_new();
    float probs[CLASSIFIER_MODEL_MAX_LABELS];
    int rc = 0;
    for (unsigned f = 0; f < k && rc == 0; f++) {
        size_t held = 0;
        for (size_t i = 0; i < n; i++) {
            keep[i] = !(data->held[i] && fold[i] == f);
            held += !keep[i];
        }
        if (held == 0)
            continue;
        classifier_tsv_t *tr = s_tsv_subset(data, keep);
        classifier_model_t *m = classifier_train(&o, tr, NULL, err, err_size);
        classifier_tsv_destroy(&tr);
        if (!m) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            if (keep[i])
                continue;
            int p = classifier_model_predict_text(m, norm, feats, data->text[i],
                                                  data->text_len[i], probs);
            const char *pl = classifier_model_label(m, (uint32_t)p);
            const char **t =
                bsearch(&data->label[i], labels, nl, sizeof(char *), s_cmp_str);
            const char **q =
                bsearch(&pl, labels, nl, sizeof(char *), s_cmp_str);
            if (t && q)
                classifier_metrics_add(mx, (uint32_t)(t - labels),
                                       (uint32_t)(q - labels));
        }
        classifier_model_destroy(&m);
    }
    classifier_feats_destroy(&feats);
    classifier_norm_destroy(&norm);
    free(fold);
    free(keep);
    free(labels);
    if (rc < 0) {
        classifier_metrics_destroy(&mx);
        return -1;
    }
    *metrics = mx;
    return 0;
}
