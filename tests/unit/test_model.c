/* Model files (build, save, load, corruption), training, metrics, and the
 * shipped model set: language ID and the triage rules. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classifier_model.h"
#include "classifier_models.h"
#include "classifier_train.h"
#include "kj_util.h"

/* A small data set a linear model can learn. */
static const char *const s_texts[] = {
    "my flight was cancelled",
    "flight cancelled again",
    "they cancelled my flight",
    "cancelled without notice",
    "lost my bag",
    "my luggage is lost",
    "bag lost in transit",
    "where is my lost suitcase",
    "great crew thank you",
    "thank you for the great service",
    "loved the crew",
    "great flight thanks",
    "フライトが欠航になった",
    "また欠航です",
    "荷物をなくされた",
    "荷物が届かない",
};
static const char *const s_labels[] = {
    "cancel", "cancel", "cancel", "cancel", "lost",   "lost",   "lost", "lost",
    "thanks", "thanks", "thanks", "thanks", "cancel", "cancel", "lost", "lost",
};
#define S_N (sizeof(s_texts) / sizeof(s_texts[0]))

static classifier_train_opts_t
s_opts(void)
{
    classifier_train_opts_t o;
    memset(&o, 0, sizeof(o));
    o.task = "reason";
    o.feat = (classifier_feat_config_t){16, 1, 2, 1, 3};
    o.norm_flags = CLASSIFIER_NORM_ALL;
    o.sublinear_tf = true;
    o.idf = true;
    o.word_weight = 1;
    o.char_weight = 1;
    o.min_df = 1;
    o.epochs = 30;
    o.lambda = 1e-4;
    o.eta0 = 0.5;
    o.seed = 7;
    return o;
}

static classifier_model_t *
s_train_small(void)
{
    classifier_tsv_t *data = classifier_tsv_from_arrays(s_texts, s_labels, S_N);
    classifier_train_opts_t o = s_opts();
    char err[256];
    classifier_model_t *m = classifier_train(&o, data, NULL, err, sizeof(err));
    cr_assert(not(eq(ptr, m, NULL)), "train: %s", err);
    classifier_tsv_destroy(&data);
    return m;
}

static char s_tmp[256];

static void
s_mktemp(void)
{
    strcpy(s_tmp, "/tmp/kj_test_model_XXXXXX");
    cr_assert(not(eq(ptr, mkdtemp(s_tmp), NULL)));
}

static void
s_rmtemp(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", s_tmp);
    cr_assert(eq(int, system(cmd), 0));
}

static void
s_write(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert(not(eq(ptr, f, NULL)));
    cr_assert(eq(sz, fwrite(buf, 1, len, f), len));
    fclose(f);
}

static int
s_argmax(const classifier_model_t *m, const char *text)
{
    classifier_norm_t *norm = classifier_norm_new();
    classifier_feats_t *feats = classifier_feats_new();
    float probs[CLASSIFIER_MODEL_MAX_LABELS];
    int best = classifier_model_predict_text(m, norm, feats, text, strlen(text),
                                             probs);
    float sum = 0;
    for (uint32_t i = 0; i < classifier_model_n_labels(m); i++)
        sum += probs[i];
    cr_assert(ieee_ulp_eq(flt, sum, 1.0f, 64));
    classifier_feats_destroy(&feats);
    classifier_norm_destroy(&norm);
    return best;
}

TestSuite(model, .init = s_mktemp, .fini = s_rmtemp);

Test(model, usage_example)
{
    /* Train (kujo-train does this from a TSV), save, load with the task
     * checked, predict with calibrated probabilities. */
    classifier_model_t *m = s_train_small();
    char path[512], err[512];
    snprintf(path, sizeof(path), "%s/reason.kjm", s_tmp);
    cr_assert(eq(int, classifier_model_save(m, path, err, sizeof(err)), 0),
              "%s", err);
    classifier_model_destroy(&m);

    classifier_model_t *loaded =
        classifier_model_load(path, "reason", err, sizeof(err));
    cr_assert(not(eq(ptr, loaded, NULL)), "%s", err);
    cr_assert(eq(str, (char *)classifier_model_task(loaded), "reason"));
    cr_assert(eq(u32, classifier_model_n_labels(loaded), 3));
    int i = s_argmax(loaded, "they lost my bag");
    cr_assert(
        eq(str, (char *)classifier_model_label(loaded, (uint32_t)i), "lost"));
    i = s_argmax(loaded, "欠航しました");
    cr_assert(
        eq(str, (char *)classifier_model_label(loaded, (uint32_t)i), "cancel"));
    classifier_model_destroy(&loaded);
    cr_assert(eq(ptr, loaded, NULL));
}

Test(model, labels_are_sorted_and_trained_data_fits)
{
    classifier_model_t *m = s_train_small();
    cr_assert(eq(str, (char *)classifier_model_label(m, 0), "cancel"));
    cr_assert(eq(str, (char *)classifier_model_label(m, 1), "lost"));
    cr_assert(eq(str, (char *)classifier_model_label(m, 2), "thanks"));
    cr_assert(eq(ptr, (void *)classifier_model_label(m, 3), NULL));
    cr_assert(eq(int, classifier_model_label_index(m, "thanks"), 2));
    cr_assert(eq(int, classifier_model_label_index(m, "nope"), -1));
    for (size_t i = 0; i < S_N; i++) {
        int p = s_argmax(m, s_texts[i]);
        cr_expect(eq(str, (char *)classifier_model_label(m, (uint32_t)p),
                     (char *)s_labels[i]),
                  "text %zu", i);
    }
    classifier_model_destroy(&m);
}

Test(model, round_trip_keeps_every_logit)
{
    classifier_model_t *m = s_train_small();
    classifier_model_set_temperature(m, 0.75f);
    json_object_set_new(classifier_model_meta(m), "note", json_string("x"));
    size_t len;
    void *buf = classifier_model_serialise(m, &len);
    char err[256];
    classifier_model_t *b =
        classifier_model_parse(buf, len, NULL, err, sizeof(err));
    cr_assert(not(eq(ptr, b, NULL)), "%s", err);
    cr_assert(
        eq(u64, classifier_model_checksum(b), classifier_model_checksum(m)));
    cr_assert(eq(flt, classifier_model_temperature(b), 0.75f));
    cr_assert(eq(u32, classifier_model_n_rows(b), classifier_model_n_rows(m)));
    cr_assert(eq(str,
                 (char *)json_string_value(
                     json_object_get(classifier_model_meta(b), "note")),
                 "x"));
    const classifier_feat_config_t *fa = classifier_model_feat_config(m);
    const classifier_feat_config_t *fb = classifier_model_feat_config(b);
    cr_assert(eq(u32, fa->hash_bits, fb->hash_bits));
    cr_assert(eq(u32, fa->char_max, fb->char_max));
    cr_assert(eq(u32, classifier_model_norm_flags(b), CLASSIFIER_NORM_ALL));

    classifier_norm_t *norm = classifier_norm_new();
    classifier_feats_t *feats = classifier_feats_new();
    for (size_t i = 0; i < S_N; i++) {
        size_t ncp, n;
        classifier_norm_run(norm, s_texts[i], strlen(s_texts[i]),
                            CLASSIFIER_NORM_ALL);
        const int32_t *cps = classifier_norm_codepoints(norm, &ncp);
        classifier_feats_extract(feats, fa, cps, ncp);
        const classifier_feat_t *it = classifier_feats_items(feats, &n);
        float la[8], lb[8];
        classifier_model_logits(m, it, n, la);
        classifier_model_logits(b, it, n, lb);
        for (int k = 0; k < 3; k++)
            cr_assert(eq(flt, la[k], lb[k]));
    }
    /* serialising again gives the same bytes */
    size_t len2;
    void *buf2 = classifier_model_serialise(b, &len2);
    cr_assert(eq(sz, len, len2));
    cr_assert(eq(int, memcmp(buf, buf2, len), 0));
    free(buf2);
    classifier_feats_destroy(&feats);
    classifier_norm_destroy(&norm);
    free(buf);
    classifier_model_destroy(&b);
    classifier_model_destroy(&m);
}

Test(model, training_is_reproducible_with_a_seed)
{
    classifier_model_t *a = s_train_small();
    classifier_model_t *b = s_train_small();
    size_t la, lb;
    void *ba = classifier_model_serialise(a, &la);
    void *bb = classifier_model_serialise(b, &lb);
    cr_assert(eq(sz, la, lb));
    cr_assert(eq(int, memcmp(ba, bb, la), 0));
    free(ba);
    free(bb);
    classifier_model_destroy(&a);
    classifier_model_destroy(&b);
}

/* Parse buf with one change and expect an error containing want. */
static void
s_expect_error(const uint8_t *buf, size_t len, const char *task,
               const char *want)
{
    char err[512] = "";
    classifier_model_t *m =
        classifier_model_parse(buf, len, task, err, sizeof(err));
    cr_expect(eq(ptr, m, NULL), "parsed, expected \"%s\"", want);
    cr_expect(not(eq(ptr, strstr(err, want), NULL)),
              "error \"%s\", want "
              "\"%s\"",
              err, want);
    classifier_model_destroy(&m);
}

/* Re-seal a file whose bytes were edited on purpose. */
static void
s_reseal(uint8_t *buf, size_t len)
{
    uint64_t h = kj_hash64(buf, len - 8);
    for (int i = 0; i < 8; i++)
        buf[len - 8 + i] = (uint8_t)(h >> (8 * i));
}

Test(model, corrupt_files_fail_with_precise_messages)
{
    classifier_model_t *m = s_train_small();
    size_t len;
    uint8_t *good = classifier_model_serialise(m, &len);
    uint8_t *buf = malloc(len + 16);

    memcpy(buf, good, len);
    buf[len - 20] ^= 0x40; /* a weight */
    s_expect_error(buf, len, NULL, "checksum mismatch");

    s_expect_error(good, len - 1, NULL, "truncated");
    s_expect_error(good, len / 2, NULL, "truncated");
    s_expect_error(good, 12, NULL, "truncated");
    s_expect_error(good, 3, NULL, "bad magic");

    memcpy(buf, good, len);
    memset(buf + len, 0, 16);
    s_expect_error(buf, len + 16, NULL, "unexpected bytes");

    memcpy(buf, good, len);
    buf[0] = 'X';
    s_expect_error(buf, len, NULL, "bad magic");

    memcpy(buf, good, len);
    buf[8] = 2;
    s_expect_error(buf, len, NULL, "version 2");

    s_expect_error(good, len, "sentiment",
                   "model is for task \"reason\", expected \"sentiment\"");

    /* metadata edited and re-sealed: the loader checks meaning too */
    memcpy(buf, good, len);
    char *meta = (char *)buf + 16;
    char *p = strstr(meta, "\"hash_version\": 1");
    cr_assert(not(eq(ptr, p, NULL)));
    p[16] = '7';
    s_reseal(buf, len);
    s_expect_error(buf, len, NULL, "hash_version");

    memcpy(buf, good, len);
    p = strstr(meta, "\"thanks\"");
    cr_assert(not(eq(ptr, p, NULL)));
    memcpy(p, "\"cancel\"", 8);
    s_reseal(buf, len);
    s_expect_error(buf, len, NULL, "appears twice");

    memcpy(buf, good, len);
    p = strstr(meta, "{");
    *p = '[';
    s_reseal(buf, len);
    s_expect_error(buf, len, NULL, "metadata");

    free(buf);
    free(good);
    classifier_model_destroy(&m);
}

Test(model, load_reports_the_path)
{
    char err[512];
    char path[512];
    snprintf(path, sizeof(path), "%s/missing.kjm", s_tmp);
    cr_assert(
        eq(ptr, classifier_model_load(path, NULL, err, sizeof(err)), NULL));
    cr_assert(not(eq(ptr, strstr(err, "missing.kjm"), NULL)));
    cr_assert(not(eq(ptr, strstr(err, "No such file"), NULL)));
    snprintf(path, sizeof(path), "%s/junk.kjm", s_tmp);
    s_write(path, "hello", 5);
    cr_assert(
        eq(ptr, classifier_model_load(path, NULL, err, sizeof(err)), NULL));
    cr_assert(not(eq(ptr, strstr(err, "junk.kjm: not a kujo model"), NULL)));
}

Test(model, build_rejects_bad_input)
{
    const char *labels[] = {"a", "a"};
    classifier_model_spec_t spec = {.task = "t",
                                    .labels = labels,
                                    .n_labels = 2,
                                    .feat = {16, 1, 1, 0, 0},
                                    .norm_flags = 0,
                                    .sublinear_tf = true,
                                    .word_weight = 1,
                                    .char_weight = 1,
                                    .idf_unseen = 1,
                                    .temperature = 1};
    uint32_t rows[2] = {5, 3};
    float idf[2] = {1, 1}, w[4] = {0}, bias[2] = {0};
    char err[256];
    cr_assert(eq(
        ptr,
        classifier_model_build(&spec, 0, rows, idf, w, bias, err, sizeof(err)),
        NULL));
    cr_assert(not(eq(ptr, strstr(err, "twice"), NULL)));
    labels[1] = "b";
    cr_assert(eq(
        ptr,
        classifier_model_build(&spec, 2, rows, idf, w, bias, err, sizeof(err)),
        NULL));
    cr_assert(not(eq(ptr, strstr(err, "ascending"), NULL)));
    spec.temperature = 0;
    cr_assert(eq(
        ptr,
        classifier_model_build(&spec, 0, rows, idf, w, bias, err, sizeof(err)),
        NULL));
}

Test(model, temperature_fit_lowers_nll)
{
    classifier_model_t *m = s_train_small();
    classifier_tsv_t *dev = classifier_tsv_from_arrays(s_texts, s_labels, S_N);
    classifier_eval_t before, after;
    classifier_evaluate(m, dev, &before);
    float t = classifier_fit_temperature(m, dev);
    cr_assert(gt(flt, t, 0.0f));
    classifier_evaluate(m, dev, &after);
    cr_assert(le(dbl, after.nll, before.nll + 1e-9));
    cr_assert(eq(dbl, classifier_metrics_accuracy(after.metrics), 1.0));
    cr_assert(gt(dbl, after.texts_per_s, 0.0));
    classifier_eval_release(&before);
    classifier_eval_release(&after);
    classifier_tsv_destroy(&dev);
    classifier_model_destroy(&m);
}

Test(model, evaluation_counts_labels_the_model_lacks)
{
    classifier_model_t *m = s_train_small();
    const char *texts[] = {"lost bag", "new label here"};
    const char *labels[] = {"lost", "other"};
    classifier_tsv_t *d = classifier_tsv_from_arrays(texts, labels, 2);
    classifier_eval_t ev;
    classifier_evaluate(m, d, &ev);
    cr_assert(eq(u32, ev.n_unknown, 1));
    cr_assert(eq(u32, ev.n_labels, 4));
    cr_assert(eq(str, ev.labels[3], "other"));
    cr_assert(eq(dbl, classifier_metrics_accuracy(ev.metrics), 0.5));
    classifier_eval_release(&ev);
    classifier_tsv_destroy(&d);
    classifier_model_destroy(&m);
}

Test(model, metrics_match_hand_computation)
{
    classifier_metrics_t *mx = classifier_metrics_new(3);
    /* truth 0: 3 right, 1 as 1; truth 1: 1 right, 1 as 2; label 2 never
     * true */
    classifier_metrics_add(mx, 0, 0);
    classifier_metrics_add(mx, 0, 0);
    classifier_metrics_add(mx, 0, 0);
    classifier_metrics_add(mx, 0, 1);
    classifier_metrics_add(mx, 1, 1);
    classifier_metrics_add(mx, 1, 2);
    cr_assert(eq(u64, classifier_metrics_n(mx), 6));
    cr_assert(ieee_ulp_eq(dbl, classifier_metrics_accuracy(mx), 4.0 / 6, 4));
    cr_assert(ieee_ulp_eq(dbl, classifier_metrics_precision(mx, 1), 0.5, 4));
    cr_assert(ieee_ulp_eq(dbl, classifier_metrics_recall(mx, 0), 0.75, 4));
    /* F1: 0 -> 6/7, 1 -> 1/2, 2 -> 0 (predicted once, never true) */
    cr_assert(ieee_ulp_eq(dbl, classifier_metrics_macro_f1(mx),
                          (6.0 / 7 + 0.5 + 0) / 3, 4));
    cr_assert(eq(u64, classifier_metrics_cell(mx, 1, 2), 1));
    cr_assert(eq(u64, classifier_metrics_support(mx, 2), 0));
    classifier_metrics_destroy(&mx);
}

Test(model, tsv_reading)
{
    char path[512], err[512];
    snprintf(path, sizeof(path), "%s/d.tsv", s_tmp);
    const char *tsv = "id\tlabel\ttext\r\n1\tpos\tgood\n2\t\tskipped\n"
                      "\n3\tneg\tbad\n";
    s_write(path, tsv, strlen(tsv));
    classifier_tsv_t *t =
        classifier_tsv_read(path, "text", "label", err, sizeof(err));
    cr_assert(not(eq(ptr, t, NULL)), "%s", err);
    cr_assert(eq(sz, classifier_tsv_count(t), 2));
    cr_assert(eq(sz, classifier_tsv_skipped(t), 1));
    cr_assert(eq(str, (char *)classifier_tsv_text(t, 1, NULL), "bad"));
    cr_assert(eq(str, (char *)classifier_tsv_label(t, 0), "pos"));
    classifier_tsv_destroy(&t);

    cr_assert(eq(ptr,
                 classifier_tsv_read(path, "body", "label", err, sizeof(err)),
                 NULL));
    cr_assert(not(eq(ptr,
                     strstr(err, "no column \"body\" (columns: id, "
                                 "label, text)"),
                     NULL)),
              "%s", err);
    const char *short_row = "label\ttext\npos\tok\nneg\n";
    s_write(path, short_row, strlen(short_row));
    cr_assert(eq(ptr,
                 classifier_tsv_read(path, "text", "label", err, sizeof(err)),
                 NULL));
    cr_assert(not(eq(ptr, strstr(err, ":3: 1 fields"), NULL)), "%s", err);
}

/* A group scores its models from one merged table: the same logits as
 * each model alone, up to float rounding. */
Test(model, group_scores_like_each_model_alone)
{
    classifier_model_t *a = s_train_small();
    /* A second model on the same features with other labels (and so other
     * rows, weights and idf). */
    const char *labels2[S_N];
    for (size_t i = 0; i < S_N; i++)
        labels2[i] = i % 3 == 0 ? "x" : i % 3 == 1 ? "y" : "z";
    classifier_tsv_t *data = classifier_tsv_from_arrays(s_texts, labels2, S_N);
    classifier_train_opts_t o = s_opts();
    o.min_df = 2;
    char err[256];
    classifier_model_t *b = classifier_train(&o, data, NULL, err, sizeof(err));
    cr_assert(not(eq(ptr, b, NULL)), "%s", err);
    classifier_tsv_destroy(&data);
    const classifier_model_t *ms[] = {a, b};
    classifier_model_group_t *g = classifier_model_group_new(ms, 2);
    cr_assert(not(eq(ptr, g, NULL)));
    cr_assert(eq(sz, classifier_model_group_size(g), 2));

    classifier_norm_t *norm = classifier_norm_new();
    classifier_feats_t *feats = classifier_feats_new();
    const char *probes[] = {"my bag was cancelled", "great crew", "荷物が欠航",
                            "nothing known here", ""};
    for (size_t p = 0; p < sizeof(probes) / sizeof(probes[0]); p++) {
        size_t ncp, n;
        classifier_norm_run(norm, probes[p], strlen(probes[p]),
                            classifier_model_norm_flags(a));
        const int32_t *cps = classifier_norm_codepoints(norm, &ncp);
        classifier_feats_extract(feats, classifier_model_feat_config(a), cps,
                                 ncp);
        const classifier_feat_t *items = classifier_feats_items(feats, &n);
        float la[CLASSIFIER_MODEL_MAX_LABELS], lb[CLASSIFIER_MODEL_MAX_LABELS];
        float ga[CLASSIFIER_MODEL_MAX_LABELS], gb[CLASSIFIER_MODEL_MAX_LABELS];
        classifier_model_logits(a, items, n, la);
        classifier_model_logits(b, items, n, lb);
        float *rows[] = {ga, gb};
        classifier_model_group_logits(g, items, n, rows);
        for (uint32_t j = 0; j < classifier_model_n_labels(a); j++)
            cr_expect(epsilon_eq(flt, ga[j], la[j], 1e-4f), "%s: %u", probes[p],
                      j);
        for (uint32_t j = 0; j < classifier_model_n_labels(b); j++)
            cr_expect(epsilon_eq(flt, gb[j], lb[j], 1e-4f), "%s: %u", probes[p],
                      j);
    }
    classifier_feats_destroy(&feats);
    classifier_norm_destroy(&norm);
    classifier_model_group_destroy(&g);
    cr_assert(eq(ptr, g, NULL));

    /* Models that read other features cannot share a table. */
    o = s_opts();
    o.feat.char_max = 4;
    data = classifier_tsv_from_arrays(s_texts, s_labels, S_N);
    classifier_model_t *c = classifier_train(&o, data, NULL, err, sizeof(err));
    classifier_tsv_destroy(&data);
    const classifier_model_t *mixed[] = {a, c};
    cr_assert(eq(ptr, classifier_model_group_new(mixed, 2), NULL));
    cr_assert(eq(ptr, classifier_model_group_new(mixed, 0), NULL));
    classifier_model_destroy(&c);
    classifier_model_destroy(&b);
    classifier_model_destroy(&a);
}

/* The corpus split is a pure function of the id (models/corpus/GUIDE.md);
 * these values were computed independently from the guide's description
 * (FNV-1a 64, fmix64, mod 100). */
Test(model, corpus_split_by_id)
{
    cr_assert(eq(int, classifier_split_of("ja-1-0001", 9),
                 CLASSIFIER_SPLIT_TRAIN)); /* 20 */
    cr_assert(
        eq(int, classifier_split_of("ja-1-0008", 9), CLASSIFIER_SPLIT_DEV));
    cr_assert(
        eq(int, classifier_split_of("ja-1-0012", 9), CLASSIFIER_SPLIT_TEST));
    /* about 70 / 15 / 15 over many ids */
    size_t n[4] = {0};
    char id[32];
    for (int i = 0; i < 20000; i++) {
        int len = snprintf(id, sizeof(id), "en-%d-%04d", i % 4, i);
        n[classifier_split_of(id, (size_t)len)]++;
    }
    cr_assert(eq(sz, n[CLASSIFIER_SPLIT_ALL], 0));
    cr_assert(gt(sz, n[CLASSIFIER_SPLIT_TRAIN], 13600));
    cr_assert(lt(sz, n[CLASSIFIER_SPLIT_TRAIN], 14400));
    cr_assert(gt(sz, n[CLASSIFIER_SPLIT_DEV], 2700));
    cr_assert(lt(sz, n[CLASSIFIER_SPLIT_DEV], 3300));
    cr_assert(gt(sz, n[CLASSIFIER_SPLIT_TEST], 2700));
    cr_assert(lt(sz, n[CLASSIFIER_SPLIT_TEST], 3300));
    classifier_split_t sp;
    cr_assert(eq(int, classifier_split_parse("test", &sp), 0));
    cr_assert(eq(int, sp, CLASSIFIER_SPLIT_TEST));
    cr_assert(eq(int, classifier_split_parse("holdout", &sp), -1));
    cr_assert(
        eq(str, (char *)classifier_split_name(CLASSIFIER_SPLIT_DEV), "dev"));
}

Test(model, corpus_reading_split_escapes_and_weights)
{
    char path[512], err[512];
    snprintf(path, sizeof(path), "%s/ja-1.tsv", s_tmp);
    const char *tsv = "id\tlang\tsentiment\ttext\n"
                      "ja-1-0001\tja\tnegative\tline one\\nline two\n"
                      "ja-1-0008\tja\tneutral\tdev row\n"
                      "ja-1-0012\tja\tpositive\ttest row \\\\ ok\n";
    s_write(path, tsv, strlen(tsv));
    classifier_tsv_opts_t o = {.label_column = "sentiment",
                               .split = CLASSIFIER_SPLIT_TRAIN,
                               .unescape = true,
                               .weight = 0.5f};
    classifier_tsv_t *train =
        classifier_tsv_read_opts(path, &o, err, sizeof(err));
    cr_assert(not(eq(ptr, train, NULL)), "%s", err);
    cr_assert(eq(sz, classifier_tsv_count(train), 1));
    size_t len;
    cr_assert(eq(str, (char *)classifier_tsv_text(train, 0, &len),
                 "line one\nline two"));
    cr_assert(eq(sz, len, 17));
    cr_assert(eq(flt, classifier_tsv_weight(train, 0), 0.5f));
    o.split = CLASSIFIER_SPLIT_TEST;
    o.weight = 0;
    classifier_tsv_t *test =
        classifier_tsv_read_opts(path, &o, err, sizeof(err));
    cr_assert(eq(sz, classifier_tsv_count(test), 1));
    cr_assert(
        eq(str, (char *)classifier_tsv_text(test, 0, NULL), "test row \\ ok"));
    cr_assert(eq(flt, classifier_tsv_weight(test, 0), 1.0f));

    /* Pooled with a set read without a split, only the split rows are
     * held out in cross-validation. */
    classifier_tsv_t *pub = classifier_tsv_from_arrays(s_texts, s_labels, 2);
    classifier_tsv_t *sets[] = {train, pub};
    classifier_tsv_t *pool = classifier_tsv_pool(sets, 2);
    cr_assert(eq(sz, classifier_tsv_count(pool), 3));
    cr_assert(classifier_tsv_held(pool, 0));
    cr_assert(not(classifier_tsv_held(pool, 1)));
    cr_assert(not(classifier_tsv_held(pool, 2)));
    cr_assert(eq(str, (char *)classifier_tsv_text(pool, 0, NULL),
                 "line one\nline two"));
    classifier_tsv_destroy(&pool);
    classifier_tsv_destroy(&pub);
    classifier_tsv_destroy(&train);
    classifier_tsv_destroy(&test);

    /* A split needs the id column. */
    const char *no_id = "lang\tsentiment\ttext\nja\tpositive\tok\n";
    s_write(path, no_id, strlen(no_id));
    o.split = CLASSIFIER_SPLIT_DEV;
    cr_assert(
        eq(ptr, classifier_tsv_read_opts(path, &o, err, sizeof(err)), NULL));
    cr_assert(not(eq(ptr, strstr(err, "no column \"id\""), NULL)), "%s", err);
}

Test(model, cross_validation_scores_held_out_rows)
{
    /* Four copies of the small set under distinct texts: every fold has
     * near neighbours of its rows in training. */
    const char *texts[4 * S_N], *labels[4 * S_N];
    char buf[4 * S_N][128];
    for (size_t i = 0; i < 4 * S_N; i++) {
        snprintf(buf[i], sizeof(buf[i]), "%s %s", s_texts[i % S_N],
                 i / S_N == 0   ? ""
                 : i / S_N == 1 ? "!"
                 : i / S_N == 2 ? "?"
                                : ".");
        texts[i] = buf[i];
        labels[i] = s_labels[i % S_N];
    }
    classifier_tsv_t *data = classifier_tsv_from_arrays(texts, labels, 4 * S_N);
    classifier_train_opts_t o = s_opts();
    classifier_metrics_t *mx = NULL;
    char err[256];
    cr_assert(eq(int,
                 classifier_cross_validate(&o, data, 4, &mx, err, sizeof(err)),
                 0),
              "%s", err);
    /* every row predicted once, by a model that never saw it */
    cr_assert(eq(u64, classifier_metrics_n(mx), 4 * S_N));
    cr_assert(ge(dbl, classifier_metrics_accuracy(mx), 0.9));
    classifier_metrics_destroy(&mx);
    cr_assert(eq(int,
                 classifier_cross_validate(&o, data, 1, &mx, err, sizeof(err)),
                 -1));
    classifier_tsv_destroy(&data);
}

/* ---- the shipped model set ------------------------------------------ */

static classifier_models_t *s_set;
static classifier_scratch_t *s_scratch;
static char s_masked[1024];

static void
s_set_up(void)
{
    char err[512];
    s_set = classifier_models_load(KJ_SOURCE_DIR "/models", err, sizeof(err));
    cr_assert(not(eq(ptr, s_set, NULL)), "%s", err);
    s_scratch = classifier_scratch_new();
}

static void
s_set_down(void)
{
    classifier_scratch_destroy(&s_scratch);
    classifier_models_destroy(&s_set);
}

static classifier_result_t
s_triage(const char *text, const char *hint)
{
    classifier_result_t r;
    r.masked = s_masked;
    r.masked_size = sizeof(s_masked);
    classifier_models_triage(s_set, s_scratch, text, strlen(text), hint, &r);
    return r;
}

TestSuite(models, .init = s_set_up, .fini = s_set_down);

Test(models, usage_example)
{
    classifier_result_t r =
        s_triage("Hi, my parcel (order #A-4431) was marked as delivered "
                 "yesterday but nothing arrived. Please call me at "
                 "+1 (415) 555-0100",
                 NULL);
    cr_assert(eq(str, r.language, "en"));
    cr_assert(gt(flt, r.language_confidence, 0.9f));
    cr_assert(eq(str, r.sentiment, "negative"));
    cr_assert(lt(flt, r.sentiment_score, 0.0f));
    /* the category model answers; the default set has no (non-commercial)
     * airline reason model */
    cr_assert(eq(str, r.category, "delivery"));
    cr_assert(eq(str, r.category_model, "category-en"));
    cr_assert(eq(str, r.reason, ""));
    cr_assert(r.urgency_from_model);
    cr_assert(r.actionable_from_model);
    cr_assert(eq(str, r.masked,
                 "Hi, my parcel (order #A-4431) was marked as delivered "
                 "yesterday but nothing arrived. Please call me at "
                 "[PHONE]"));
    cr_assert(eq(sz, r.pii_count, 1));
    cr_assert(eq(int, r.pii[0].kind, CLASSIFIER_PII_PHONE));
    cr_assert(r.actionable);
    cr_assert(eq(int, strncmp(r.model, "kujo-models:", 12), 0));
}

Test(models, every_listed_model_loaded)
{
    cr_assert(ge(sz, classifier_models_count(s_set), 5));
    for (size_t i = 0; i < classifier_models_count(s_set); i++) {
        const char *name;
        const classifier_model_t *m = classifier_models_get(s_set, i, &name);
        cr_assert(not(eq(ptr, (void *)m, NULL)));
        cr_assert(gt(sz, strlen(name), 0));
    }
    cr_assert(eq(ptr, (void *)classifier_models_get(s_set, 99, NULL), NULL));
}

typedef struct {
    const char *text;
    const char *hint;
    const char *lang;
} s_lang_case_t;

Test(models, language_id)
{
    static const s_lang_case_t cases[] = {
        {"My flight was delayed for three hours and nobody told us why", NULL,
         "en"},
        {"where is my card", NULL, "en"},
        {"部屋が狭くて残念でした", NULL, "ja"},
        {"フロントの対応が最悪", NULL, "ja"},
        /* mixed: Japanese with English words is Japanese */
        {"新しいiPhoneのバッテリーがすぐ切れる", NULL, "ja"},
        {"Wi-Fiが繋がらないので困っています", NULL, "ja"},
        /* and English with one Japanese word is English */
        {"The staff at the Shinjuku branch said 大丈夫 but nothing happened",
         NULL, "en"},
        /* other scripts and languages */
        {"배송이 너무 늦어요 환불해 주세요", NULL, "other"},
        {"Мой рейс отменили, верните деньги", NULL, "other"},
        {"Le vol est annulé et je ne peux pas obtenir de remboursement", NULL,
         "other"},
        {"Mi vuelo fue cancelado y no me dan el reembolso para el hotel", NULL,
         "other"},
        {"我的航班被取消了请退款给我谢谢", NULL, "other"},
        /* no letters: the client's hint decides */
        {"😡😡😡", "ja-JP", "ja"},
        {"!!!", "en", "en"},
        {"👍", NULL, "other"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        classifier_result_t r = s_triage(cases[i].text, cases[i].hint);
        cr_expect(eq(str, r.language, (char *)cases[i].lang), "text: %s",
                  cases[i].text);
        cr_expect(gt(flt, r.language_confidence, 0.0f));
        cr_expect(le(flt, r.language_confidence, 1.0f));
    }
}

Test(models, sentiment_both_languages)
{
    classifier_result_t r = s_triage("Thank you so much, the crew was "
                                     "wonderful!",
                                     NULL);
    cr_assert(eq(str, r.sentiment, "positive"));
    cr_assert(gt(flt, r.sentiment_score, 0.3f));
    r = s_triage("Worst airline ever. Three hours late and rude staff.", NULL);
    cr_assert(eq(str, r.sentiment, "negative"));
    r = s_triage("スタッフの対応がとても丁寧で満足しました", NULL);
    cr_assert(eq(str, r.sentiment, "positive"));
    r = s_triage("届いた商品が壊れていて本当にがっかりです。返品したいです",
                 NULL);
    cr_assert(eq(str, r.sentiment, "negative"));
    cr_assert(lt(flt, r.sentiment_score, -0.3f));
    cr_assert(ge(flt, r.sentiment_confidence, 0.34f));
}

/* Category is a model in both languages: no keyword needed. */
Test(models, category_models_both_languages)
{
    static const struct {
        const char *text, *category;
    } cases[] = {
        {"I was charged twice for my subscription this month, please "
         "refund one of them",
         "billing"},
        {"The app keeps crashing when I open it, since this morning", "outage"},
        {"Someone logged into my account from another country and changed "
         "my email",
         "security"},
        {"先月の請求額が二重になっています。返金をお願いします", "billing"},
        {"荷物がまだ届きません。追跡番号を見ても動きがないです", "delivery"},
        {"解約したいのですが、手続きの方法を教えてください", "cancellation"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        classifier_result_t r = s_triage(cases[i].text, NULL);
        cr_expect(eq(str, r.category, (char *)cases[i].category), "text: %s",
                  cases[i].text);
        cr_expect(gt(flt, r.category_confidence, 0.0f));
        cr_expect(le(flt, r.category_confidence, 1.0f));
    }
}

/* The non-commercial set, named by its file (KUJO_MODELS may point at
 * it): the airline reason model, and Japanese reasons from keywords. */
Test(models, non_commercial_set_by_its_file)
{
    char err[512];
    classifier_models_t *nc = classifier_models_load(
        KJ_SOURCE_DIR "/models/models-nc.json", err, sizeof(err));
    cr_assert(not(eq(ptr, nc, NULL)), "%s", err);
    cr_assert(not(eq(str, (char *)classifier_models_id(nc),
                     (char *)classifier_models_id(s_set))));
    classifier_result_t r;
    r.masked = s_masked;
    r.masked_size = sizeof(s_masked);
    const char *t =
        "@AmericanAir my flight got cancelled and I am stuck at DFW";
    classifier_models_triage(nc, s_scratch, t, strlen(t), NULL, &r);
    cr_assert(eq(str, r.reason, "Cancelled Flight"));
    cr_assert(eq(str, r.reason_model, "reason-en-airline"));
    cr_assert(eq(str, r.category_model, "category-en"));
    t = "荷物が紛失したまま連絡がありません";
    classifier_models_triage(nc, s_scratch, t, strlen(t), NULL, &r);
    cr_assert(eq(str, r.language, "ja"));
    cr_assert(eq(str, r.reason, "Lost Luggage"));
    cr_assert(eq(str, r.reason_model, "rules:reason-ja"));
    t = "なんとなく不満です";
    classifier_models_triage(nc, s_scratch, t, strlen(t), NULL, &r);
    cr_assert(eq(str, r.reason, "Can't Tell"));
    classifier_models_destroy(&nc);
    cr_assert(eq(ptr,
                 classifier_models_load(KJ_SOURCE_DIR "/models/nope.json", err,
                                        sizeof(err)),
                 NULL));
    cr_assert(not(eq(ptr, strstr(err, "nope.json"), NULL)), "%s", err);
}

/* Urgency is the models' (a critical keyword still forces critical). */
Test(models, urgency_models_and_the_critical_override)
{
    classifier_result_t r = s_triage("Your seat collapsed and my son was "
                                     "injured, I am calling my lawyer",
                                     NULL);
    cr_assert(eq(str, r.urgency, "critical"));
    r = s_triage("カードが不正利用されています", NULL);
    cr_assert(eq(str, r.urgency, "critical"));
    r = s_triage("My flight tomorrow morning was cancelled and I can't get "
                 "through to anyone, I need to be in Berlin by noon",
                 NULL);
    cr_assert(eq(str, r.urgency, "high"));
    r = s_triage("至急対応してください、アプリにログインできない", NULL);
    cr_assert(eq(str, r.urgency, "high"));
    r = s_triage("Thanks for the lovely flight yesterday!", NULL);
    cr_assert(eq(str, r.urgency, "low"));
    cr_assert(gt(flt, r.urgency_confidence, 0.5f));
}

Test(models, actionable_models)
{
    classifier_result_t r = s_triage("you suck", NULL);
    cr_assert(not(r.actionable));
    r = s_triage("クソ会社", NULL);
    cr_assert(not(r.actionable));
    r = s_triage("My booking ABC123 shows the wrong date, can you fix it?",
                 NULL);
    cr_assert(r.actionable);
    r = s_triage("Hi, my parcel (order #A-4431) was marked as delivered "
                 "yesterday but nothing arrived.",
                 NULL);
    cr_assert(r.actionable);
    r = s_triage("予約した部屋と違う部屋に案内されました。交換してください",
                 NULL);
    cr_assert(r.actionable);
    cr_assert(ge(flt, r.actionable_confidence, 0.5f));
    cr_assert(le(flt, r.actionable_confidence, 1.0f));
}

Test(models, hostile_input_is_safe)
{
    char junk[3000];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (char)((i * 151 + 3) & 0xff);
    classifier_result_t r;
    r.masked = s_masked;
    r.masked_size = sizeof(s_masked);
    classifier_models_triage(s_set, s_scratch, junk, sizeof(junk), "xx", &r);
    cr_assert(gt(sz, strlen(r.language), 0));
    cr_assert(lt(sz, r.masked_len, sizeof(s_masked)));
    classifier_models_triage(s_set, s_scratch, "", 0, NULL, &r);
    cr_assert(eq(str, r.masked, ""));
    cr_assert(eq(str, r.sentiment, "neutral"));
    /* no masked buffer: spans are still found */
    r.masked = NULL;
    r.masked_size = 0;
    classifier_models_triage(s_set, s_scratch, "a@b.jp", 6, NULL, &r);
    cr_assert(eq(sz, r.pii_total, 1));
}

/* Write dir/models.json pointing at the shipped files (copied, with the
 * keyword table). */
static void
s_copy_models(const char *dir, const char *json)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cp %s/models/*.kjm %s/models/keywords.tsv %s/",
             KJ_SOURCE_DIR, KJ_SOURCE_DIR, dir);
    cr_assert(eq(int, system(cmd), 0));
    char path[512];
    snprintf(path, sizeof(path), "%s/models.json", dir);
    s_write(path, json, strlen(json));
}

Test(model, bad_model_sets_fail_with_precise_messages)
{
    char err[512];
    cr_assert(eq(ptr, classifier_models_load(s_tmp, err, sizeof(err)), NULL));
    cr_assert(not(eq(ptr, strstr(err, "models.json"), NULL)), "%s", err);

    s_copy_models(s_tmp, "{\"version\": 1, \"models\": [{\"name\": \"l\", "
                         "\"file\": \"language.kjm\", \"task\": "
                         "\"sentiment\"}], \"triage\": {\"language\": "
                         "\"l\"}}");
    cr_assert(eq(ptr, classifier_models_load(s_tmp, err, sizeof(err)), NULL));
    cr_assert(not(eq(ptr, strstr(err, "expected \"sentiment\""), NULL)), "%s",
              err);

    s_copy_models(s_tmp, "{\"version\": 1, \"models\": [{\"name\": \"l\", "
                         "\"file\": \"../x.kjm\", \"task\": \"language\"}], "
                         "\"triage\": {\"language\": \"l\"}}");
    cr_assert(eq(ptr, classifier_models_load(s_tmp, err, sizeof(err)), NULL));
    cr_assert(not(eq(ptr, strstr(err, "plain file name"), NULL)), "%s", err);

    s_copy_models(s_tmp, "{\"version\": 1, \"models\": [{\"name\": \"l\", "
                         "\"file\": \"language.kjm\", \"task\": "
                         "\"language\"}], \"triage\": {\"language\": \"l\", "
                         "\"sentiment\": {\"en\": \"nope\"}}}");
    cr_assert(eq(ptr, classifier_models_load(s_tmp, err, sizeof(err)), NULL));
    cr_assert(not(eq(ptr, strstr(err, "unknown model \"nope\""), NULL)), "%s",
              err);

    /* a flipped byte in a model file */
    s_copy_models(s_tmp, "{\"version\": 1, \"models\": [{\"name\": \"l\", "
                         "\"file\": \"language.kjm\", \"task\": "
                         "\"language\"}], \"triage\": {\"language\": "
                         "\"l\"}}");
    char path[512];
    snprintf(path, sizeof(path), "%s/language.kjm", s_tmp);
    FILE *f = fopen(path, "r+b");
    cr_assert(not(eq(ptr, f, NULL)));
    fseek(f, -12, SEEK_END);
    int c = fgetc(f);
    fseek(f, -12, SEEK_END);
    fputc(c ^ 1, f);
    fclose(f);
    cr_assert(eq(ptr, classifier_models_load(s_tmp, err, sizeof(err)), NULL));
    cr_assert(not(eq(ptr, strstr(err, "model \"l\""), NULL)), "%s", err);
    cr_assert(not(eq(ptr, strstr(err, "checksum mismatch"), NULL)), "%s", err);

    /* a set without its keyword table, or one that climbs out of dir */
    const char *no_kw = "{\"version\": 1, \"models\": [{\"name\": \"l\", "
                        "\"file\": \"language.kjm\", \"task\": "
                        "\"language\"}], \"triage\": {\"language\": \"l\"}";
    char json[512];
    snprintf(json, sizeof(json), "%s}", no_kw);
    s_copy_models(s_tmp, json);
    cr_assert(eq(ptr, classifier_models_load(s_tmp, err, sizeof(err)), NULL));
    cr_assert(not(eq(ptr, strstr(err, "\"keywords\" must name"), NULL)), "%s",
              err);
    snprintf(json, sizeof(json), "%s, \"keywords\": \"../keywords.tsv\"}",
             no_kw);
    s_copy_models(s_tmp, json);
    cr_assert(eq(ptr, classifier_models_load(s_tmp, err, sizeof(err)), NULL));
    cr_assert(not(eq(ptr, strstr(err, "plain file name"), NULL)), "%s", err);
    /* a bad line in the table names the file and line */
    snprintf(json, sizeof(json), "%s, \"keywords\": \"kw.tsv\"}", no_kw);
    s_copy_models(s_tmp, json);
    snprintf(path, sizeof(path), "%s/kw.tsv", s_tmp);
    const char *bad = "critical\tlawsuit\nurgent\tnow\n";
    s_write(path, bad, strlen(bad));
    cr_assert(eq(ptr, classifier_models_load(s_tmp, err, sizeof(err)), NULL));
    cr_assert(
        not(eq(ptr, strstr(err, "kw.tsv:2: unknown class \"urgent\""), NULL)),
        "%s", err);
}

Test(model, intent_runs_when_the_set_names_it)
{
    s_copy_models(s_tmp,
                  "{\"version\": 1, \"models\": ["
                  "{\"name\": \"l\", \"file\": \"language.kjm\", \"task\": "
                  "\"language\"},"
                  "{\"name\": \"i\", \"file\": \"intent-en-banking77.kjm\", "
                  "\"task\": \"intent\"}],"
                  "\"triage\": {\"language\": \"l\", \"intent\": {\"en\": "
                  "\"i\"}}, \"keywords\": \"keywords.tsv\"}");
    char err[512];
    classifier_models_t *set = classifier_models_load(s_tmp, err, sizeof(err));
    cr_assert(not(eq(ptr, set, NULL)), "%s", err);
    classifier_scratch_t *scratch = classifier_scratch_new();
    classifier_result_t r;
    char masked[256];
    r.masked = masked;
    r.masked_size = sizeof(masked);
    const char *text = "I was charged twice for the same card payment";
    classifier_models_triage(set, scratch, text, strlen(text), NULL, &r);
    cr_assert(eq(str, r.intent, "transaction_charged_twice"));
    cr_assert(gt(flt, r.intent_confidence, 0.3f));
    /* no sentiment model named: neutral at 1/3 */
    cr_assert(eq(str, r.sentiment, "neutral"));
    classifier_scratch_destroy(&scratch);
    classifier_models_destroy(&set);
}
