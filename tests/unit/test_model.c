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
    classifier_result_t r = s_triage(
        "@united my bag was lost on UA123, call me at +1 (415) 555-0100", NULL);
    cr_assert(eq(str, r.language, "en"));
    cr_assert(gt(flt, r.language_confidence, 0.9f));
    cr_assert(eq(str, r.sentiment, "negative"));
    cr_assert(lt(flt, r.sentiment_score, 0.0f));
    cr_assert(eq(str, r.reason, "Lost Luggage"));
    cr_assert(eq(str, r.masked,
                 "@united my bag was lost on UA123, call me "
                 "at [PHONE]"));
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
    r = s_triage("部屋が汚くてがっかりしました", NULL);
    cr_assert(eq(str, r.sentiment, "negative"));
    cr_assert(lt(flt, r.sentiment_score, -0.3f));
    cr_assert(ge(flt, r.sentiment_confidence, 0.34f));
}

Test(models, reason_english_model_and_japanese_rules)
{
    classifier_result_t r = s_triage("@AmericanAir my flight got cancelled "
                                     "and I am stuck at DFW",
                                     NULL);
    cr_assert(eq(str, r.reason, "Cancelled Flight"));
    cr_assert(not(eq(str, r.reason_model, "")));
    r = s_triage("荷物が紛失したまま連絡がありません", NULL);
    cr_assert(eq(str, r.language, "ja"));
    cr_assert(eq(str, r.reason, "Lost Luggage"));
    cr_assert(eq(str, r.reason_model, "rules:reason-ja"));
    r = s_triage("なんとなく不満です", NULL);
    cr_assert(eq(str, r.reason, "Can't Tell"));
}

Test(models, urgency_rules)
{
    classifier_result_t r = s_triage("Your seat collapsed and my son was "
                                     "injured, I am calling my lawyer",
                                     NULL);
    cr_assert(eq(str, r.urgency, "critical"));
    r = s_triage("カードが不正利用されています", NULL);
    cr_assert(eq(str, r.urgency, "critical"));
    r = s_triage("URGENT: stranded in Chicago, flight cancelled, need a "
                 "hotel tonight",
                 NULL);
    cr_assert(eq(str, r.urgency, "high"));
    r = s_triage("至急対応してください、アプリにログインできない", NULL);
    cr_assert(eq(str, r.urgency, "high"));
    r = s_triage("Thanks for the lovely flight yesterday!", NULL);
    cr_assert(eq(str, r.urgency, "low"));
    cr_assert(gt(flt, r.urgency_confidence, 0.5f));
}

Test(models, actionable_rules)
{
    classifier_result_t r = s_triage("you suck", NULL);
    cr_assert(not(r.actionable));
    r = s_triage("クソ会社", NULL);
    cr_assert(not(r.actionable));
    r = s_triage("My booking ABC123 shows the wrong date, can you fix it?",
                 NULL);
    cr_assert(r.actionable);
    /* rude but specific still needs an answer */
    r = s_triage("worst airline, you lost my bag on flight 1234, fix it", NULL);
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
