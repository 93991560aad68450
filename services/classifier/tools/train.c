/* kujo-train: TSV in, model file out. Reproducible: the same data, flags
 * and --seed give the same bytes. Prints dev scores after every epoch and
 * the final (quantised, calibrated) model's dev scores, which it records
 * in the file. See models/README.md for the commands that built the
 * shipped models. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier_model.h"
#include "classifier_train.h"
#include "kj_util.h"

#define S_MAX_SETS 8

static const char s_usage[] =
    "usage: kujo-train --data TRAIN.tsv --licence LICENCE [--data ... "
    "--licence ...]\n"
    "                  --task TASK --out FILE [options]\n"
    "\n"
    "  --data PATH          training TSV (header row); repeat to pool sets\n"
    "  --licence TEXT       licence of the preceding --data's data set\n"
    "  --weight X           weight of each row of the preceding --data "
    "(default 1)\n"
    "  --dev PATH           dev TSV for per-epoch scores and temperature\n"
    "                       (repeatable)\n"
    "  --split S            only the rows of split S (train, dev, test) of\n"
    "                       the preceding --data or --dev, by a hash of the\n"
    "                       id column (models/corpus/GUIDE.md); such a file\n"
    "                       is read as corpus text (\\n is a line break)\n"
    "  --cv K               K-fold cross-validation on the training rows\n"
    "                       (held out: rows read with --split, else all);\n"
    "                       prints the scores as JSON, writes no model\n"
    "  --text-column C      text column (default text)\n"
    "  --label-column C     label column (default: the task name)\n"
    "  --task NAME          recorded in the model; loaders check it\n"
    "  --languages L        languages the model is for, e.g. en or ja,en\n"
    "  --out FILE           model file to write\n"
    "  --hash-bits N        feature buckets 2^N (default 20)\n"
    "  --word-ngrams A,B    word n-gram orders, 0 = none (default 1,2)\n"
    "  --char-ngrams A,B    character n-gram lengths, 0 = none "
    "(default 1,4)\n"
    "  --normalise FLAGS    nfkc,casefold,url,mention,number,repeat (default "
    "all)\n"
    "  --tf sublinear|raw   term frequency (default sublinear)\n"
    "  --no-idf             every idf is 1\n"
    "  --word-weight X      weight of the word family (default 1)\n"
    "  --char-weight X      weight of the character family (default 1)\n"
    "  --min-df N           keep buckets seen in >= N rows (default 2)\n"
    "  --epochs N           passes over the data (default 10)\n"
    "  --lambda X           L2 strength (default 1e-5)\n"
    "  --eta0 X             initial learning rate (default 0.5)\n"
    "  --class-weight W     none, balanced or sqrt (default none)\n"
    "  --seed N             shuffling seed (default 1)\n"
    "  --prune X            drop rows whose largest weight is below X, then\n"
    "                       train again (smaller, faster model; default 0)\n"
    "  --temperature T      fit (on dev; default), or a number\n"
    "  --help\n";

typedef struct {
    const char *data[S_MAX_SETS];
    const char *licence[S_MAX_SETS];
    float weight[S_MAX_SETS];
    classifier_split_t split[S_MAX_SETS];
    size_t n_data;
    const char *dev[S_MAX_SETS];
    classifier_split_t dev_split[S_MAX_SETS];
    size_t n_dev;
    bool last_is_dev; /* --split applies to the last --data or --dev */
    unsigned cv;      /* folds, 0 = train a model */
    const char *text_column;
    const char *label_column;
    const char *languages;
    const char *out;
    const char *temperature;
    classifier_train_opts_t opts;
} s_args_t;

static int
s_pair(const char *s, unsigned *a, unsigned *b)
{
    if (strcmp(s, "0") == 0) {
        *a = *b = 0;
        return 0;
    }
    char *end;
    unsigned long x = strtoul(s, &end, 10);
    if (*end != ',')
        return -1;
    unsigned long y = strtoul(end + 1, &end, 10);
    if (*end || x == 0 || y < x || y > 64)
        return -1;
    *a = (unsigned)x;
    *b = (unsigned)y;
    return 0;
}

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

static int
s_parse(int argc, char **argv, s_args_t *a)
{
    memset(a, 0, sizeof(*a));
    a->text_column = "text";
    a->temperature = "fit";
    classifier_train_opts_t *o = &a->opts;
    o->feat = (classifier_feat_config_t){20, 1, 2, 1, 4};
    o->norm_flags = CLASSIFIER_NORM_ALL;
    o->sublinear_tf = true;
    o->idf = true;
    o->word_weight = 1;
    o->char_weight = 1;
    o->min_df = 2;
    o->epochs = 10;
    o->lambda = 1e-5;
    o->eta0 = 0.5;
    o->class_weight = CLASSIFIER_CW_NONE;
    o->seed = 1;
    o->progress = stderr;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (strcmp(f, "--help") == 0) {
            fputs(s_usage, stdout);
            exit(0);
        }
        if (strcmp(f, "--no-idf") == 0) {
            o->idf = false;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "kujo-train: %s needs a value\n", f);
            return -1;
        }
        const char *v = argv[++i];
        double x;
        if (strcmp(f, "--data") == 0) {
            if (a->n_data == S_MAX_SETS) {
                fprintf(stderr, "kujo-train: at most %d --data\n", S_MAX_SETS);
                return -1;
            }
            a->data[a->n_data++] = v;
            a->last_is_dev = false;
        } else if (strcmp(f, "--weight") == 0 && s_number(v, &x) == 0 &&
                   x > 0 && a->n_data > 0 && !a->last_is_dev) {
            a->weight[a->n_data - 1] = (float)x;
        } else if (strcmp(f, "--split") == 0 && (a->n_data || a->n_dev)) {
            classifier_split_t sp;
            if (classifier_split_parse(v, &sp) < 0) {
                fprintf(stderr, "kujo-train: --split is train, dev or test\n");
                return -1;
            }
            if (a->last_is_dev)
                a->dev_split[a->n_dev - 1] = sp;
            else
                a->split[a->n_data - 1] = sp;
        } else if (strcmp(f, "--cv") == 0 && s_number(v, &x) == 0 && x >= 2 &&
                   x <= 100) {
            a->cv = (unsigned)x;
        } else if (strcmp(f, "--licence") == 0) {
            if (a->n_data == 0 || a->licence[a->n_data - 1]) {
                fprintf(stderr, "kujo-train: --licence must follow its "
                                "--data\n");
                return -1;
            }
            a->licence[a->n_data - 1] = v;
        } else if (strcmp(f, "--dev") == 0) {
            if (a->n_dev == S_MAX_SETS) {
                fprintf(stderr, "kujo-train: at most %d --dev\n", S_MAX_SETS);
                return -1;
            }
            a->dev[a->n_dev++] = v;
            a->last_is_dev = true;
        } else if (strcmp(f, "--text-column") == 0) {
            a->text_column = v;
        } else if (strcmp(f, "--label-column") == 0) {
            a->label_column = v;
        } else if (strcmp(f, "--task") == 0) {
            o->task = v;
        } else if (strcmp(f, "--languages") == 0) {
            a->languages = v;
        } else if (strcmp(f, "--out") == 0) {
            a->out = v;
        } else if (strcmp(f, "--hash-bits") == 0 && s_number(v, &x) == 0) {
            o->feat.hash_bits = (unsigned)x;
        } else if (strcmp(f, "--word-ngrams") == 0 &&
                   s_pair(v, &o->feat.word_min, &o->feat.word_max) == 0) {
        } else if (strcmp(f, "--char-ngrams") == 0 &&
                   s_pair(v, &o->feat.char_min, &o->feat.char_max) == 0) {
        } else if (strcmp(f, "--normalise") == 0 &&
                   classifier_norm_flags_parse(v, &o->norm_flags) == 0) {
        } else if (strcmp(f, "--tf") == 0 &&
                   (strcmp(v, "sublinear") == 0 || strcmp(v, "raw") == 0)) {
            o->sublinear_tf = strcmp(v, "sublinear") == 0;
        } else if (strcmp(f, "--word-weight") == 0 && s_number(v, &x) == 0 &&
                   x >= 0) {
            o->word_weight = (float)x;
        } else if (strcmp(f, "--char-weight") == 0 && s_number(v, &x) == 0 &&
                   x >= 0) {
            o->char_weight = (float)x;
        } else if (strcmp(f, "--min-df") == 0 && s_number(v, &x) == 0 &&
                   x >= 1) {
            o->min_df = (uint32_t)x;
        } else if (strcmp(f, "--epochs") == 0 && s_number(v, &x) == 0 &&
                   x >= 1 && x <= 1000) {
            o->epochs = (unsigned)x;
        } else if (strcmp(f, "--lambda") == 0 && s_number(v, &x) == 0 &&
                   x > 0) {
            o->lambda = x;
        } else if (strcmp(f, "--eta0") == 0 && s_number(v, &x) == 0 && x > 0) {
            o->eta0 = x;
        } else if (strcmp(f, "--class-weight") == 0 &&
                   classifier_class_weight_parse(v, &o->class_weight) == 0) {
        } else if (strcmp(f, "--seed") == 0 && s_number(v, &x) == 0 && x >= 0) {
            o->seed = (uint64_t)x;
        } else if (strcmp(f, "--prune") == 0 && s_number(v, &x) == 0 &&
                   x >= 0) {
            o->prune = (float)x;
        } else if (strcmp(f, "--temperature") == 0 &&
                   (strcmp(v, "fit") == 0 || (s_number(v, &x) == 0 && x > 0))) {
            a->temperature = v;
        } else {
            fprintf(stderr, "kujo-train: bad flag or value: %s %s\n", f, v);
            return -1;
        }
    }
    if (a->n_data == 0 || !o->task || (!a->out && !a->cv)) {
        fprintf(stderr, "kujo-train: --data, --task and --out (or --cv) are "
                        "required\n");
        return -1;
    }
    for (size_t i = 0; i < a->n_data; i++) {
        if (!a->licence[i]) {
            fprintf(stderr, "kujo-train: --data %s has no --licence\n",
                    a->data[i]);
            return -1;
        }
    }
    if (o->lambda * o->eta0 >= 1) {
        fprintf(stderr, "kujo-train: lambda * eta0 must be below 1\n");
        return -1;
    }
    if (!a->label_column)
        a->label_column = o->task;
    return 0;
}

/* The data set's name: the folder that holds the file. */
static json_t *
s_dataset_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return json_string(".");
    const char *start = slash;
    while (start > path && start[-1] != '/')
        start--;
    return json_stringn(start, (size_t)(slash - start));
}

static const char *
s_base(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static classifier_tsv_t *
s_read(const s_args_t *a, const char *path, classifier_split_t split,
       float weight, char *err, size_t err_size)
{
    classifier_tsv_opts_t o = {
        .text_column = a->text_column,
        .label_column = a->label_column,
        .split = split,
        .unescape = split != CLASSIFIER_SPLIT_ALL,
        .weight = weight,
    };
    return classifier_tsv_read_opts(path, &o, err, err_size);
}

/* Cross-validate and print one JSON line with the scores. */
static int
s_cv(const s_args_t *a, const classifier_tsv_t *train)
{
    char err[1024];
    classifier_metrics_t *mx = NULL;
    if (classifier_cross_validate(&a->opts, train, a->cv, &mx, err,
                                  sizeof(err)) < 0) {
        fprintf(stderr, "kujo-train: %s\n", err);
        return 1;
    }
    printf("{\"cv\":%u,\"n\":%llu,\"accuracy\":%.6f,\"macro_f1\":%.6f}\n",
           a->cv, (unsigned long long)classifier_metrics_n(mx),
           classifier_metrics_accuracy(mx), classifier_metrics_macro_f1(mx));
    classifier_metrics_destroy(&mx);
    return 0;
}

int
main(int argc, char **argv)
{
    s_args_t a;
    if (s_parse(argc, argv, &a) < 0) {
        fputs(s_usage, stderr);
        return 64;
    }
    int rc = 1;
    char err[1024];
    classifier_tsv_t *train_sets[S_MAX_SETS] = {0};
    classifier_tsv_t *dev_sets[S_MAX_SETS] = {0};
    classifier_tsv_t *train = NULL, *dev = NULL;
    classifier_model_t *model = NULL;
    classifier_eval_t ev;
    memset(&ev, 0, sizeof(ev));

    for (size_t i = 0; i < a.n_data; i++) {
        train_sets[i] =
            s_read(&a, a.data[i], a.split[i], a.weight[i], err, sizeof(err));
        if (!train_sets[i]) {
            fprintf(stderr, "kujo-train: %s\n", err);
            goto out;
        }
    }
    for (size_t i = 0; i < a.n_dev; i++) {
        dev_sets[i] =
            s_read(&a, a.dev[i], a.dev_split[i], 1.0f, err, sizeof(err));
        if (!dev_sets[i]) {
            fprintf(stderr, "kujo-train: %s\n", err);
            goto out;
        }
    }
    train = classifier_tsv_pool(train_sets, a.n_data);
    if (a.cv) {
        rc = s_cv(&a, train);
        goto out;
    }
    if (a.n_dev)
        dev = classifier_tsv_pool(dev_sets, a.n_dev);
    size_t skipped = 0;
    for (size_t i = 0; i < a.n_data; i++)
        skipped += classifier_tsv_skipped(train_sets[i]);
    fprintf(stderr,
            "kujo-train: %zu training rows (%zu without a label skipped), "
            "%zu dev rows\n",
            classifier_tsv_count(train), skipped,
            dev ? classifier_tsv_count(dev) : (size_t)0);

    model = classifier_train(&a.opts, train, dev, err, sizeof(err));
    if (!model) {
        fprintf(stderr, "kujo-train: %s\n", err);
        goto out;
    }
    double t;
    if (strcmp(a.temperature, "fit") == 0) {
        if (dev)
            classifier_fit_temperature(model, dev);
    } else if (s_number(a.temperature, &t) == 0) {
        classifier_model_set_temperature(model, (float)t);
    }

    /* Metadata: what the model was trained on and how. */
    json_t *meta = classifier_model_meta(model);
    json_t *sets = json_array();
    bool nc = false;
    for (size_t i = 0; i < a.n_data; i++) {
        json_t *d = json_object();
        json_object_set_new(d, "name", s_dataset_name(a.data[i]));
        json_object_set_new(d, "file", json_string(s_base(a.data[i])));
        json_object_set_new(d, "licence", json_string(a.licence[i]));
        if (a.split[i] != CLASSIFIER_SPLIT_ALL)
            json_object_set_new(d, "split",
                                json_string(classifier_split_name(a.split[i])));
        if (a.weight[i] > 0)
            json_object_set_new(d, "weight", json_real(a.weight[i]));
        json_object_set_new(d, "text_column", json_string(a.text_column));
        json_object_set_new(d, "label_column", json_string(a.label_column));
        json_object_set_new(
            d, "rows",
            json_integer((json_int_t)classifier_tsv_count(train_sets[i])));
        json_array_append_new(sets, d);
        if (strstr(a.licence[i], "NC"))
            nc = true;
    }
    json_object_set_new(meta, "datasets", sets);
    json_object_set_new(meta, "non_commercial", json_boolean(nc));
    if (nc)
        json_object_set_new(
            meta, "licence_note",
            json_string("trained on non-commercial (CC BY-NC) data: do not "
                        "use this model in a commercial product"));
    if (a.languages)
        json_object_set_new(meta, "languages", json_string(a.languages));
    const classifier_train_opts_t *o = &a.opts;
    json_t *cmd = json_array();
    for (int i = 1; i < argc; i++)
        json_array_append_new(cmd, json_string(argv[i]));
    json_object_set_new(
        meta, "training",
        json_pack("{s:s, s:I, s:f, s:f, s:I, s:s, s:I, s:b, s:f, s:s, s:o}",
                  "method", "multinomial logistic regression, averaged SGD",
                  "seed", (json_int_t)o->seed, "lambda", o->lambda, "eta0",
                  o->eta0, "epochs", (json_int_t)o->epochs, "class_weight",
                  classifier_class_weight_name(o->class_weight), "min_df",
                  (json_int_t)o->min_df, "idf", o->idf, "prune",
                  (double)o->prune, "temperature_fit",
                  strcmp(a.temperature, "fit") == 0 && dev ? "dev" : "none",
                  "args", cmd));

    if (dev) {
        classifier_evaluate(model, dev, &ev);
        double acc = classifier_metrics_accuracy(ev.metrics);
        double f1 = classifier_metrics_macro_f1(ev.metrics);
        fprintf(stderr,
                "kujo-train: final model on dev: accuracy=%.4f "
                "macro_f1=%.4f nll=%.4f n=%zu temperature=%.3f rows=%u\n",
                acc, f1, ev.nll, classifier_tsv_count(dev),
                classifier_model_temperature(model),
                classifier_model_n_rows(model));
        json_t *devs = json_array();
        for (size_t i = 0; i < a.n_dev; i++)
            json_array_append_new(devs, s_dataset_name(a.dev[i]));
        json_object_set_new(
            meta, "dev",
            json_pack("{s:o, s:I, s:f, s:f, s:f}", "datasets", devs, "n",
                      (json_int_t)classifier_tsv_count(dev), "accuracy", acc,
                      "macro_f1", f1, "nll", ev.nll));
    }
    if (classifier_model_save(model, a.out, err, sizeof(err)) < 0) {
        fprintf(stderr, "kujo-train: %s\n", err);
        goto out;
    }
    fprintf(stderr, "kujo-train: wrote %s (checksum %016llx)\n", a.out,
            (unsigned long long)classifier_model_checksum(model));
    rc = 0;
out:
    classifier_eval_release(&ev);
    classifier_model_destroy(&model);
    classifier_tsv_destroy(&train);
    classifier_tsv_destroy(&dev);
    for (size_t i = 0; i < S_MAX_SETS; i++) {
        classifier_tsv_destroy(&train_sets[i]);
        classifier_tsv_destroy(&dev_sets[i]);
    }
    return rc;
}
