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
#include "classifier_triage.h"
#include "kj_envelope.h"
#include "kj_rules.h"
#include "kj_util.h"

#define S_MAX_DATA 8

static const char s_usage[] =
    "usage: kujo-eval --model FILE --data TSV [--data TSV]... [--split S]\n"
    "                 [--text-column C] [--label-column C] [--json]\n"
    "                 [--min-accuracy X] [--min-macro-f1 X] [--show-errors N]\n"
    "       kujo-eval --models SET --data TSV [--data TSV]... [--split S]\n"
    "                 [--field F] [--rules FILE] [--channel C]\n"
    "                 [--text-column C]\n"
    "                 [--label-column C] [--json] [--min-accuracy X]\n"
    "                 [--min-macro-f1 X] [--show-errors N]\n"
    "\n"
    "--models runs the whole triage of the model set SET (a directory with\n"
    "models.json, or a set's .json file): PII masking, normalising, every\n"
    "model and the rules; texts_per_s is then the service's speed per core,\n"
    "and F (language, sentiment, category, urgency, actionable, reason,\n"
    "intent or spam; default language, compared with the column lang) is\n"
    "scored. spam (ham or spam, at the set's threshold, for the set's\n"
    "channels and languages) reads kujo-mail2tsv's text as the complaints'\n"
    "of channel C (--channel, default email).\n"
    "With --rules, the classifier's own pipeline runs instead, with the\n"
    "operator's rules file (deploy/rules.json) overriding as in service.\n"
    "\n"
    "--split S keeps the rows of corpus split S (train, dev, test; by a hash\n"
    "of the id column, models/corpus/GUIDE.md) and reads the text as corpus\n"
    "text (\\n is a line break). Several --data are scored together.\n"
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

/* Per-label precision / recall / F1 / support and the confusion matrix. */
static void
s_print_labels(const classifier_eval_t *ev)
{
    const classifier_metrics_t *mx = ev->metrics;
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
s_print_text(const char *model_path, classifier_model_t *m,
             const char *data_path, size_t rows, size_t skipped,
             const classifier_eval_t *ev)
{
    const classifier_metrics_t *mx = ev->metrics;
    printf("model       %s (task %s, %u labels, %u rows, temperature %.3f)\n",
           model_path, classifier_model_task(m), classifier_model_n_labels(m),
           classifier_model_n_rows(m), classifier_model_temperature(m));
    printf("data        %s: %zu rows (%zu with an empty label skipped)\n",
           data_path, rows, skipped);
    if (ev->n_unknown)
        printf("            %u rows have a label the model does not know\n",
               ev->n_unknown);
    printf("accuracy    %.4f\n", classifier_metrics_accuracy(mx));
    printf("macro_f1    %.4f\n", classifier_metrics_macro_f1(mx));
    printf("nll         %.4f\n", ev->nll);
    printf("n           %llu\n", (unsigned long long)classifier_metrics_n(mx));
    printf("texts_per_s %.0f (one core; normalise + features + model)\n\n",
           ev->texts_per_s);
    s_print_labels(ev);
}

/* "labels" (per label scores) and "confusion" for the JSON output. */
static void
s_json_labels(json_t *out, const classifier_eval_t *ev)
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
    json_object_set_new(out, "labels", per);
    json_object_set_new(
        out, "confusion",
        json_pack("{s:o, s:o}", "labels", names, "matrix", matrix));
}

static void
s_json_print(json_t *out)
{
    char *s = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                  JSON_REAL_PRECISION(6));
    if (s)
        puts(s);
    free(s);
}

static void
s_print_json(const char *model_path, classifier_model_t *m,
             const char *data_path, size_t skipped, const classifier_eval_t *ev)
{
    const classifier_metrics_t *mx = ev->metrics;
    json_t *out = json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:f, s:f, s:f, s:I, s:f}", "model",
        model_path, "task", classifier_model_task(m), "data", data_path, "n",
        (json_int_t)classifier_metrics_n(mx), "skipped", (json_int_t)skipped,
        "accuracy", classifier_metrics_accuracy(mx), "macro_f1",
        classifier_metrics_macro_f1(mx), "nll", ev->nll, "unknown_labels",
        (json_int_t)ev->n_unknown, "texts_per_s", ev->texts_per_s);
    s_json_labels(out, ev);
    s_json_print(out);
    json_decref(out);
}

/* CPU seconds of this process: texts/s is then the cost on one core,
 * whatever else the machine runs at the time (wall time on a shared
 * machine counts the other processes too). */
static double
s_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const s_fields[] = {"language", "sentiment",  "category",
                                       "urgency",  "actionable", "reason",
                                       "intent",   "spam"};

static const char *
s_field(const classifier_result_t *r, const char *field)
{
    if (strcmp(field, "sentiment") == 0)
        return r->sentiment;
    if (strcmp(field, "category") == 0)
        return r->category;
    if (strcmp(field, "urgency") == 0)
        return r->urgency;
    if (strcmp(field, "actionable") == 0)
        return r->actionable ? "true" : "false";
    if (strcmp(field, "reason") == 0)
        return r->reason;
    if (strcmp(field, "intent") == 0)
        return r->intent;
    return r->language;
}

/* The same field of the service's triage (the --rules path). */
static const char *
s_triage_field(const kj_triage_t *t, const char *field)
{
    if (strcmp(field, "sentiment") == 0)
        return t->sentiment;
    if (strcmp(field, "category") == 0)
        return t->category;
    if (strcmp(field, "urgency") == 0)
        return t->urgency;
    if (strcmp(field, "actionable") == 0)
        return t->actionable ? "true" : "false";
    if (strcmp(field, "reason") == 0 || strcmp(field, "intent") == 0)
        return t->reason;
    if (strcmp(field, "spam") == 0)
        return t->spam ? "spam" : "ham";
    return t->language;
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

typedef struct {
    const char *data[S_MAX_DATA]; /* --data paths, scored together */
    size_t n_data;
    classifier_split_t split;
    const char *text_column, *label_column;
    const char *field;
    const char *rules;   /* --rules: the service's pipeline */
    const char *channel; /* --channel: the complaints' channel (spam) */
    bool as_json;
    double min_acc, min_f1;
    size_t show_errors;
} s_opts_t;

/* Read every --data with the options and pool them. */
static classifier_tsv_t *
s_read_data(const s_opts_t *o, const char *text_column,
            const char *label_column, char *err, size_t err_size)
{
    classifier_tsv_t *sets[S_MAX_DATA] = {0};
    classifier_tsv_opts_t to = {.text_column = text_column,
                                .label_column = label_column,
                                .split = o->split,
                                .unescape = o->split != CLASSIFIER_SPLIT_ALL};
    classifier_tsv_t *pooled = NULL;
    for (size_t i = 0; i < o->n_data; i++) {
        sets[i] = classifier_tsv_read_opts(o->data[i], &to, err, err_size);
        if (!sets[i])
            goto out;
    }
    pooled = classifier_tsv_pool(sets, o->n_data);
out:
    for (size_t i = 0; i < o->n_data; i++)
        classifier_tsv_destroy(&sets[i]);
    return pooled;
}

/* The data's description for the output: the files and the split. */
static void
s_describe(const s_opts_t *o, char *buf, size_t size)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < o->n_data && off < size; i++)
        off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? "," : "",
                                o->data[i]);
    if (o->split != CLASSIFIER_SPLIT_ALL && off < size)
        snprintf(buf + off, size - off, " (split %s)",
                 classifier_split_name(o->split));
}

/* The whole triage over data; score one field. */
static int
s_run_models(const char *set_path, const s_opts_t *o)
{
    char err[1024];
    int rc = 1;
    classifier_models_t *set = NULL;
    classifier_triage_t *triage = NULL;
    kj_rules_t *rules = NULL;
    kj_envelope_t *env = NULL;
    classifier_tsv_t *data = NULL;
    char(*pred)[CLASSIFIER_MODEL_LABEL_MAX] = NULL;
    uint32_t *truth = NULL, *guess = NULL;
    classifier_scratch_t *scratch = NULL;
    classifier_metrics_t *mx = NULL;
    const char *label_column = o->label_column;
    if (!label_column)
        label_column = strcmp(o->field, "language") == 0 ? "lang" : o->field;

    set = classifier_models_load(set_path, err, sizeof(err));
    if (!set) {
        fprintf(stderr, "kujo-eval: %s\n", err);
        goto out;
    }
    if (o->rules) {
        rules = kj_rules_load(o->rules, err, sizeof(err));
        if (!rules) {
            fprintf(stderr, "kujo-eval: %s\n", err);
            goto out;
        }
        triage = classifier_triage_new(rules);
        if (classifier_triage_use_models(triage, set_path, err, sizeof(err))) {
            fprintf(stderr, "kujo-eval: %s\n", err);
            goto out;
        }
        env = kj_calloc(1, sizeof(*env));
    }
    data = s_read_data(o, o->text_column ? o->text_column : "text",
                       label_column, err, sizeof(err));
    if (!data) {
        fprintf(stderr, "kujo-eval: %s\n", err);
        goto out;
    }
    size_t n = classifier_tsv_count(data);
    pred = kj_calloc(n + 1, CLASSIFIER_MODEL_LABEL_MAX);
    scratch = classifier_scratch_new();
    static char masked[2 * CLASSIFIER_NORM_MAX_IN + 1];
    classifier_result_t r;
    double t0 = s_cpu_now();
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *text = classifier_tsv_text(data, i, &len);
        if (env) {
            memset(&env->complaint, 0, sizeof(env->complaint));
            size_t cut = len < KJ_TEXT_MAX ? len : KJ_TEXT_MAX;
            memcpy(env->complaint.text, text, cut);
            env->complaint.text[cut] = '\0';
            kj_strlcpy(env->complaint.channel, o->channel,
                       sizeof env->complaint.channel);
            int64_t retry = 0;
            classifier_triage_process(triage, env, 0, err, sizeof(err), &retry);
            snprintf(pred[i], CLASSIFIER_MODEL_LABEL_MAX, "%s",
                     s_triage_field(&env->triage, o->field));
            continue;
        }
        r.masked = masked;
        r.masked_size = sizeof(masked);
        classifier_models_triage(set, scratch, text, len, NULL, &r);
        snprintf(pred[i], CLASSIFIER_MODEL_LABEL_MAX, "%s",
                 s_field(&r, o->field));
        if (strcmp(o->field, "spam") == 0) {
            /* The row's text is kj_spam_text's line (kujo-mail2tsv); the
             * triage above gave its language, as the service's does. */
            float p;
            bool is_spam;
            classifier_models_spam(set, scratch, o->channel, r.language, text,
                                   len, &p, &is_spam);
            snprintf(pred[i], CLASSIFIER_MODEL_LABEL_MAX, "%s",
                     is_spam ? "spam" : "ham");
        }
    }
    double secs = s_cpu_now() - t0;
    double tps = secs > 0 ? (double)n / secs : 0;
    enum { CAP = CLASSIFIER_MODEL_MAX_LABELS };
    static char names[CAP][CLASSIFIER_MODEL_LABEL_MAX];
    uint32_t k = 0;
    truth = kj_calloc(n + 1, sizeof(uint32_t));
    guess = kj_calloc(n + 1, sizeof(uint32_t));
    for (size_t i = 0; i < n; i++) {
        truth[i] = s_intern(names, &k, CAP, classifier_tsv_label(data, i));
        guess[i] = s_intern(names, &k, CAP, pred[i]);
    }
    mx = classifier_metrics_new(k ? k : 1);
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) {
        classifier_metrics_add(mx, truth[i], guess[i]);
        if (truth[i] != guess[i] && shown < o->show_errors) {
            fprintf(stderr, "%s\t%s\t%s\n", names[truth[i]], names[guess[i]],
                    classifier_tsv_text(data, i, NULL));
            shown++;
        }
    }
    char *label_ptrs[CAP];
    for (uint32_t i = 0; i < k; i++)
        label_ptrs[i] = names[i];
    classifier_eval_t ev = {
        .metrics = mx, .labels = label_ptrs, .n_labels = k, .texts_per_s = tps};
    double acc = classifier_metrics_accuracy(mx);
    double f1 = classifier_metrics_macro_f1(mx);
    char desc[1024];
    s_describe(o, desc, sizeof(desc));
    if (o->as_json) {
        json_t *out = json_pack(
            "{s:s, s:s, s:s, s:s, s:b, s:I, s:f, s:f, s:f}", "models", set_path,
            "id", classifier_models_id(set), "field", o->field, "data", desc,
            "rules", o->rules != NULL, "n", (json_int_t)n, "accuracy", acc,
            "macro_f1", f1, "texts_per_s", tps);
        s_json_labels(out, &ev);
        s_json_print(out);
        json_decref(out);
    } else {
        printf("models      %s (%s)\n", set_path, classifier_models_id(set));
        if (o->rules)
            printf("rules       %s (the service's pipeline)\n", o->rules);
        printf("data        %s: %zu rows\n", desc, n);
        printf("field       %s against column %s\n", o->field, label_column);
        printf("accuracy    %.4f\n", acc);
        printf("macro_f1    %.4f\n", f1);
        printf("texts_per_s %.0f (one core; the whole triage: PII masking, "
               "normalising, every model, rules)\n\n",
               tps);
        s_print_labels(&ev);
    }
    rc = 0;
    if (n == 0) {
        fprintf(stderr, "kujo-eval: no labelled rows\n");
        rc = 1;
    } else if ((o->min_acc >= 0 && acc < o->min_acc) ||
               (o->min_f1 >= 0 && f1 < o->min_f1)) {
        fprintf(stderr,
                "kujo-eval: below floor: accuracy %.4f (min %.4f), macro_f1 "
                "%.4f (min %.4f)\n",
                acc, o->min_acc, f1, o->min_f1);
        rc = 2;
    }
out:
    classifier_metrics_destroy(&mx);
    free(truth);
    free(guess);
    free(pred);
    free(env);
    classifier_scratch_destroy(&scratch);
    classifier_tsv_destroy(&data);
    classifier_triage_destroy(&triage);
    kj_rules_destroy(&rules);
    classifier_models_destroy(&set);
    return rc;
}

int
main(int argc, char **argv)
{
    const char *model_path = NULL, *models_dir = NULL;
    s_opts_t o = {
        .field = "language", .channel = "email", .min_acc = -1, .min_f1 = -1};
    double show_errors = 0;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (strcmp(f, "--help") == 0) {
            fputs(s_usage, stdout);
            return 0;
        }
        if (strcmp(f, "--json") == 0) {
            o.as_json = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "kujo-eval: %s needs a value\n%s", f, s_usage);
            return 64;
        }
        const char *v = argv[++i];
        bool field_ok = false;
        for (size_t j = 0; j < KJ_ARRAY_LEN(s_fields); j++)
            field_ok = field_ok || strcmp(v, s_fields[j]) == 0;
        if (strcmp(f, "--model") == 0) {
            model_path = v;
        } else if (strcmp(f, "--models") == 0) {
            models_dir = v;
        } else if (strcmp(f, "--field") == 0 && field_ok) {
            o.field = v;
        } else if (strcmp(f, "--data") == 0 && o.n_data < S_MAX_DATA) {
            o.data[o.n_data++] = v;
        } else if (strcmp(f, "--split") == 0 &&
                   classifier_split_parse(v, &o.split) == 0) {
        } else if (strcmp(f, "--rules") == 0) {
            o.rules = v;
        } else if (strcmp(f, "--channel") == 0) {
            o.channel = v;
        } else if (strcmp(f, "--text-column") == 0) {
            o.text_column = v;
        } else if (strcmp(f, "--label-column") == 0) {
            o.label_column = v;
        } else if (strcmp(f, "--min-accuracy") == 0 &&
                   s_number(v, &o.min_acc) == 0) {
        } else if (strcmp(f, "--min-macro-f1") == 0 &&
                   s_number(v, &o.min_f1) == 0) {
        } else if (strcmp(f, "--show-errors") == 0 &&
                   s_number(v, &show_errors) == 0 && show_errors >= 0) {
        } else {
            fprintf(stderr, "kujo-eval: bad flag or value: %s %s\n%s", f, v,
                    s_usage);
            return 64;
        }
    }
    o.show_errors = (size_t)show_errors;
    if (models_dir && o.n_data && !model_path)
        return s_run_models(models_dir, &o);
    if (!model_path || !o.n_data) {
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
    const char *text_column = o.text_column, *label_column = o.label_column;
    if (!text_column)
        text_column = s_trained_column(m, "text_column");
    if (!text_column)
        text_column = "text";
    if (!label_column)
        label_column = s_trained_column(m, "label_column");
    if (!label_column)
        label_column = classifier_model_task(m);
    classifier_tsv_t *data =
        s_read_data(&o, text_column, label_column, err, sizeof(err));
    if (!data) {
        fprintf(stderr, "kujo-eval: %s\n", err);
        classifier_model_destroy(&m);
        return 1;
    }
    classifier_eval_t ev;
    classifier_evaluate(m, data, &ev);
    if (o.show_errors > 0)
        s_show_errors(m, data, o.show_errors);
    char desc[1024];
    s_describe(&o, desc, sizeof(desc));
    if (o.as_json)
        s_print_json(model_path, m, desc, classifier_tsv_skipped(data), &ev);
    else
        s_print_text(model_path, m, desc, classifier_tsv_count(data),
                     classifier_tsv_skipped(data), &ev);
    int rc = 0;
    double acc = classifier_metrics_accuracy(ev.metrics);
    double f1 = classifier_metrics_macro_f1(ev.metrics);
    if (classifier_metrics_n(ev.metrics) == 0) {
        fprintf(stderr, "kujo-eval: no labelled rows in %s\n", desc);
        rc = 1;
    } else if ((o.min_acc >= 0 && acc < o.min_acc) ||
               (o.min_f1 >= 0 && f1 < o.min_f1)) {
        fprintf(stderr,
                "kujo-eval: below floor: accuracy %.4f (min %.4f), macro_f1 "
                "%.4f (min %.4f)\n",
                acc, o.min_acc, f1, o.min_f1);
        rc = 2;
    }
    classifier_eval_release(&ev);
    classifier_tsv_destroy(&data);
    classifier_model_destroy(&m);
    return rc;
}
