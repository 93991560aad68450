/* kujo-eval: score a model file on a labelled TSV: accuracy, macro-F1,
 * per-label precision / recall / F1, the confusion matrix and texts/s
 * (prediction only: normalise + features + model; reading the file is not
 * timed). With --json, one JSON object on stdout. With --min-accuracy or
 * --min-macro-f1, exits 2 when the model falls below. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "classifier_model.h"
#include "classifier_models.h"
#include "classifier_train.h"

static const char s_usage[] =
    "usage: kujo-eval --model FILE --data TSV [--text-column C]\n"
    "                 [--label-column C] [--json] [--min-accuracy X]\n"
    "                 [--min-macro-f1 X] [--show-errors N]\n"
    "       kujo-eval --models DIR --data TSV [--field F] [--text-column C]\n"
    "                 [--label-column C] [--json] [--show-errors N]\n"
    "\n"
    "--models runs the whole triage of the model set in DIR (models.json):\n"
    "PII masking, normalising, every model and the rules; texts_per_s is\n"
    "then the service's speed per core, and F (language, sentiment, reason\n"
    "or intent; default language, compared with the column lang) is scored.\n"
    "\n"
    "Columns default to the ones the model was trained on. Rows whose label\n"
    "is empty are skipped. --show-errors prints up to N misclassified rows\n"
    "(true label, predicted label, its probability, text) to stderr.\n"
    "Exit status: 0 ok, 1 error, 2 below a --min-*\n"
    "floor, 64 usage.\n";

static int
s_number(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* A column name recorded in the model's first data set, or NULL. */
static const char *
s_trained_column(classifier_model_t *m, const char *key)
{
    json_t *sets = json_object_get(classifier_model_meta(m), "datasets");
    json_t *v = json_object_get(json_array_get(sets, 0), key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Misclassified rows, for looking at what a model gets wrong. */
static void
s_show_errors(const classifier_model_t *m, const classifier_tsv_t *data,
              size_t max)
{
    classifier_norm_t *norm = classifier_norm_new();
    classifier_feats_t *feats = classifier_feats_new();
    float probs[CLASSIFIER_MODEL_MAX_LABELS];
    size_t shown = 0;
    for (size_t r = 0; r < classifier_tsv_count(data) && shown < max; r++) {
        size_t len;
        const char *text = classifier_tsv_text(data, r, &len);
        int p = classifier_model_predict_text(m, norm, feats, text, len, probs);
        const char *pred = classifier_model_label(m, (uint32_t)p);
        const char *truth = classifier_tsv_label(data, r);
        if (strcmp(pred, truth) == 0)
            continue;
        fprintf(stderr, "%s\t%s\t%.3f\t%s\n", truth, pred, probs[p], text);
        shown++;
    }
    classifier_feats_destroy(&feats);
    classifier_norm_destroy(&norm);
}

static void
s_print_text(const char *model_path, classifier_model_t *m,
             const char *data_path, const classifier_tsv_t *data,
             const classifier_eval_t *ev)
{
    const classifier_metrics_t *mx = ev->metrics;
    printf("model       %s (task %s, %u labels, %u rows, temperature %.3f)\n",
           model_path, classifier_model_task(m), classifier_model_n_labels(m),
           classifier_model_n_rows(m), classifier_model_temperature(m));
    printf("data        %s: %zu rows (%zu with an empty label skipped)\n",
           data_path, classifier_tsv_count(data), classifier_tsv_skipped(data));
    if (ev->n_unknown)
        printf("            %u rows have a label the model does not know\n",
               ev->n_unknown);
    printf("accuracy    %.4f\n", classifier_metrics_accuracy(mx));
    printf("macro_f1    %.4f\n", classifier_metrics_macro_f1(mx));
    printf("nll         %.4f\n", ev->nll);
    printf("n           %llu\n", (unsigned long long)classifier_metrics_n(mx));
    printf("texts_per_s %.0f (one core; normalise + features + model)\n\n",
           ev->texts_per_s);
    int w = 5;
    for (uint32_t i = 0; i < ev->n_labels; i++)
        if ((int)strlen(ev->labels[i]) > w)
            w = (int)strlen(ev->labels[i]);
    printf("%-*s  %9s %9s %9s %8s\n", w, "label", "precision", "recall", "f1",
           "support");
    for (uint32_t i = 0; i < ev->n_labels; i++)
        printf("%-*s  %9.4f %9.4f %9.4f %8llu\n", w, ev->labels[i],
               classifier_metrics_precision(mx, i),
               classifier_metrics_recall(mx, i), classifier_metrics_f1(mx, i),
               (unsigned long long)classifier_metrics_support(mx, i));
    printf("\nconfusion (rows: true label, columns: predicted, by number)\n");
    printf("%*s", w + 6, "");
    for (uint32_t j = 0; j < ev->n_labels; j++)
        printf(" %5u", j);
    printf("\n");
    for (uint32_t i = 0; i < ev->n_labels; i++) {
        printf("%-*s %5u", w, ev->labels[i], i);
        for (uint32_t j = 0; j < ev->n_labels; j++)
            printf(" %5llu",
                   (unsigned long long)classifier_metrics_cell(mx, i, j));
        printf("\n");
    }
}

static void
s_print_json(const char *model_path, classifier_model_t *m,
             const char *data_path, const classifier_tsv_t *data,
             const classifier_eval_t *ev)
{
    const classifier_metrics_t *mx = ev->metrics;
    json_t *per = json_object();
    json_t *names = json_array();
    json_t *matrix = json_array();
    for (uint32_t i = 0; i < ev->n_labels; i++) {
        json_object_set_new(
            per, ev->labels[i],
            json_pack("{s:f, s:f, s:f, s:I}", "precision",
                      classifier_metrics_precision(mx, i), "recall",
                      classifier_metrics_recall(mx, i), "f1",
                      classifier_metrics_f1(mx, i), "support",
                      (json_int_t)classifier_metrics_support(mx, i)));
        json_array_append_new(names, json_string(ev->labels[i]));
        json_t *row = json_array();
        for (uint32_t j = 0; j < ev->n_labels; j++)
            json_array_append_new(
                row,
                json_integer((json_int_t)classifier_metrics_cell(mx, i, j)));
        json_array_append_new(matrix, row);
    }
    json_t *out = json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:f, s:f, s:f, s:I, s:f, s:o, s:{s:o, "
        "s:o}}",
        "model", model_path, "task", classifier_model_task(m), "data",
        data_path, "n", (json_int_t)classifier_metrics_n(mx), "skipped",
        (json_int_t)classifier_tsv_skipped(data), "accuracy",
        classifier_metrics_accuracy(mx), "macro_f1",
        classifier_metrics_macro_f1(mx), "nll", ev->nll, "unknown_labels",
        (json_int_t)ev->n_unknown, "texts_per_s", ev->texts_per_s, "labels",
        per, "confusion", "labels", names, "matrix", matrix);
    char *s = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                  JSON_REAL_PRECISION(6));
    if (s)
        puts(s);
    free(s);
    json_decref(out);
}

static double
s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *
s_field(const classifier_result_t *r, const char *field)
{
    if (strcmp(field, "sentiment") == 0)
        return r->sentiment;
    if (strcmp(field, "reason") == 0)
        return r->reason;
    if (strcmp(field, "intent") == 0)
        return r->intent;
    return r->language;
}

/* Index of name in names[*n], appended if new. */
static uint32_t
s_intern(char (*names)[CLASSIFIER_MODEL_LABEL_MAX], uint32_t *n, uint32_t cap,
         const char *name)
{
    for (uint32_t i = 0; i < *n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    if (*n == cap)
        return cap - 1; /* the last slot collects the overflow */
    snprintf(names[*n], CLASSIFIER_MODEL_LABEL_MAX, "%s", name);
    return (*n)++;
}

/* The whole triage over data; score one field. */
static int
s_run_models(const char *dir, const char *data_path, const char *field,
             const char *text_column, const char *label_column, bool as_json,
             size_t show_errors)
{
    char err[1024];
    classifier_models_t *set = classifier_models_load(dir, err, sizeof(err));
    if (!set) {
        fprintf(stderr, "kujo-eval: %s\n", err);
        return 1;
    }
    classifier_tsv_t *data = classifier_tsv_read(
        data_path, text_column, label_column, err, sizeof(err));
    if (!data) {
        fprintf(stderr, "kujo-eval: %s\n", err);
        classifier_models_destroy(&set);
        return 1;
    }
    size_t n = classifier_tsv_count(data);
    char(*pred)[CLASSIFIER_MODEL_LABEL_MAX] =
        calloc(n + 1, CLASSIFIER_MODEL_LABEL_MAX);
    classifier_scratch_t *scratch = classifier_scratch_new();
    static char masked[2 * CLASSIFIER_NORM_MAX_IN + 1];
    classifier_result_t r;
    double t0 = s_now();
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *text = classifier_tsv_text(data, i, &len);
        r.masked = masked;
        r.masked_size = sizeof(masked);
        classifier_models_triage(set, scratch, text, len, NULL, &r);
        memcpy(pred[i], s_field(&r, field), CLASSIFIER_MODEL_LABEL_MAX);
    }
    double secs = s_now() - t0;
    double tps = secs > 0 ? (double)n / secs : 0;
    enum { CAP = CLASSIFIER_MODEL_MAX_LABELS };
    static char names[CAP][CLASSIFIER_MODEL_LABEL_MAX];
    uint32_t k = 0;
    uint32_t *truth = calloc(n + 1, sizeof(uint32_t));
    uint32_t *guess = calloc(n + 1, sizeof(uint32_t));
    for (size_t i = 0; i < n; i++) {
        truth[i] = s_intern(names, &k, CAP, classifier_tsv_label(data, i));
        guess[i] = s_intern(names, &k, CAP, pred[i]);
    }
    classifier_metrics_t *mx = classifier_metrics_new(k ? k : 1);
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) {
        classifier_metrics_add(mx, truth[i], guess[i]);
        if (truth[i] != guess[i] && shown < show_errors) {
            fprintf(stderr, "%s\t%s\t%s\n", names[truth[i]], names[guess[i]],
                    classifier_tsv_text(data, i, NULL));
            shown++;
        }
    }
    double acc = classifier_metrics_accuracy(mx);
    double f1 = classifier_metrics_macro_f1(mx);
    if (as_json) {
        printf("{\"models\":\"%s\",\"field\":\"%s\",\"n\":%zu,"
               "\"accuracy\":%.6f,\"macro_f1\":%.6f,\"texts_per_s\":%.1f}\n",
               classifier_models_id(set), field, n, acc, f1, tps);
    } else {
        printf("models      %s (%s)\n", dir, classifier_models_id(set));
        printf("data        %s: %zu rows\n", data_path, n);
        printf("field       %s against column %s\n", field, label_column);
        printf("accuracy    %.4f\n", acc);
        printf("macro_f1    %.4f\n", f1);
        printf("texts_per_s %.0f (one core; the whole triage: PII masking, "
               "normalising, every model, rules)\n",
               tps);
        for (uint32_t i = 0; i < k; i++)
            printf("  %-28s precision %.4f recall %.4f support %llu\n",
                   names[i], classifier_metrics_precision(mx, i),
                   classifier_metrics_recall(mx, i),
                   (unsigned long long)classifier_metrics_support(mx, i));
    }
    classifier_metrics_destroy(&mx);
    free(truth);
    free(guess);
    free(pred);
    classifier_scratch_destroy(&scratch);
    classifier_tsv_destroy(&data);
    classifier_models_destroy(&set);
    return n ? 0 : 1;
}

int
main(int argc, char **argv)
{
    const char *model_path = NULL, *data_path = NULL, *models_dir = NULL;
    const char *field = "language";
    const char *text_column = NULL, *label_column = NULL;
    bool as_json = false;
    double min_acc = -1, min_f1 = -1, show_errors = 0;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (strcmp(f, "--help") == 0) {
            fputs(s_usage, stdout);
            return 0;
        }
        if (strcmp(f, "--json") == 0) {
            as_json = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "kujo-eval: %s needs a value\n%s", f, s_usage);
            return 64;
        }
        const char *v = argv[++i];
        if (strcmp(f, "--model") == 0) {
            model_path = v;
        } else if (strcmp(f, "--models") == 0) {
            models_dir = v;
        } else if (strcmp(f, "--field") == 0 &&
                   (strcmp(v, "language") == 0 || strcmp(v, "sentiment") == 0 ||
                    strcmp(v, "reason") == 0 || strcmp(v, "intent") == 0)) {
            field = v;
        } else if (strcmp(f, "--data") == 0) {
            data_path = v;
        } else if (strcmp(f, "--text-column") == 0) {
            text_column = v;
        } else if (strcmp(f, "--label-column") == 0) {
            label_column = v;
        } else if (strcmp(f, "--min-accuracy") == 0 &&
                   s_number(v, &min_acc) == 0) {
        } else if (strcmp(f, "--min-macro-f1") == 0 &&
                   s_number(v, &min_f1) == 0) {
        } else if (strcmp(f, "--show-errors") == 0 &&
                   s_number(v, &show_errors) == 0 && show_errors >= 0) {
        } else {
            fprintf(stderr, "kujo-eval: bad flag or value: %s %s\n%s", f, v,
                    s_usage);
            return 64;
        }
    }
    if (models_dir && data_path && !model_path) {
        const char *lc = label_column;
        if (!lc)
            lc = strcmp(field, "language") == 0 ? "lang" : field;
        return s_run_models(models_dir, data_path, field,
                            text_column ? text_column : "text", lc, as_json,
                            (size_t)show_errors);
    }
    if (!model_path || !data_path) {
        fprintf(stderr, "kujo-eval: --model and --data are required\n%s",
                s_usage);
        return 64;
    }
    char err[1024];
    classifier_model_t *m =
        classifier_model_load(model_path, NULL, err, sizeof(err));
    if (!m) {
        fprintf(stderr, "kujo-eval: %s\n", err);
        return 1;
    }
    if (!text_column)
        text_column = s_trained_column(m, "text_column");
    if (!text_column)
        text_column = "text";
    if (!label_column)
        label_column = s_trained_column(m, "label_column");
    if (!label_column)
        label_column = classifier_model_task(m);
    classifier_tsv_t *data = classifier_tsv_read(
        data_path, text_column, label_column, err, sizeof(err));
    if (!data) {
        fprintf(stderr, "kujo-eval: %s\n", err);
        classifier_model_destroy(&m);
        return 1;
    }
    classifier_eval_t ev;
    classifier_evaluate(m, data, &ev);
    if (show_errors > 0)
        s_show_errors(m, data, (size_t)show_errors);
    if (as_json)
        s_print_json(model_path, m, data_path, data, &ev);
    else
        s_print_text(model_path, m, data_path, data, &ev);
    int rc = 0;
    double acc = classifier_metrics_accuracy(ev.metrics);
    double f1 = classifier_metrics_macro_f1(ev.metrics);
    if (classifier_metrics_n(ev.metrics) == 0) {
        fprintf(stderr, "kujo-eval: no labelled rows in %s\n", data_path);
        rc = 1;
    } else if ((min_acc >= 0 && acc < min_acc) ||
               (min_f1 >= 0 && f1 < min_f1)) {
        fprintf(stderr,
                "kujo-eval: below floor: accuracy %.4f (min %.4f), macro_f1 "
                "%.4f (min %.4f)\n",
                acc, min_acc, f1, min_f1);
        rc = 2;
    }
    classifier_eval_release(&ev);
    classifier_tsv_destroy(&data);
    classifier_model_destroy(&m);
    return rc;
}
