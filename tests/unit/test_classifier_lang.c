/* classifier_lang: language from scripts and English function words, and
 * when a client's hint may decide. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <string.h>

#include "classifier_lang.h"

Test(classifier_lang, usage_example)
{
    const char *text = "荷物がまだ届きません。至急確認してください";
    classifier_lang_t lang;
    classifier_lang_detect(text, strlen(text), &lang);
    cr_assert(eq(str, (char *)lang.language, "ja"));
    cr_assert(lang.confidence >= 0.9f);
    cr_assert(not(lang.ambiguous));

    /* A hint only decides what the text leaves open. */
    cr_assert(not(classifier_lang_apply_hint(&lang, "en")));
    cr_assert(eq(str, (char *)lang.language, "ja"));
}

typedef struct {
    const char *text;
    const char *language;
    float min_conf, max_conf;
    bool ambiguous;
} s_case_t;

static const s_case_t s_cases[] = {
    /* Japanese. */
    {"荷物がまだ届きません", "ja", 0.9f, 1.0f, false},
    {"エラー", "ja", 0.9f, 1.0f, false},
    {"ｴﾗｰ", "ja", 0.9f, 1.0f, false}, /* half-width katakana, unfolded */
    {"ログインできない！！！", "ja", 0.9f, 1.0f, false},
    /* English. */
    {"My package never arrived and nobody answers my emails", "en", 0.8f, 1.0f,
     false},
    {"I was charged twice for the same order", "en", 0.8f, 1.0f, false},
    {"refund please", "en", 0.5f, 1.0f, false},
    {"i can't log in", "en", 0.8f, 1.0f, false},
    {"I’m still waiting", "en", 0.8f, 1.0f, false}, /* curly apostrophe */
    /* Short Latin text without function words: English, but open. */
    {"App down", "en", 0.3f, 0.6f, true},
    {"WIFI", "en", 0.3f, 0.6f, true},
    /* Mixed: the script with more weight wins, less surely. */
    {"iPhoneのアプリでログインできません", "ja", 0.7f, 0.95f, false},
    {"Amazon Prime Videoが見れない", "ja", 0.5f, 0.8f, false},
    {"I bought the ポケモン figure and it is broken", "en", 0.5f, 0.9f, false},
    {"The app shows an エラー message and I cannot log in", "en", 0.5f, 0.9f,
     false},
    /* Ideographs without kana could be Chinese. */
    {"系统故障", "ja", 0.4f, 0.7f, true},
    /* Other languages. */
    {"배송이 너무 늦어요", "other", 0.9f, 1.0f, false},
    {"Мой заказ не пришёл", "other", 0.9f, 1.0f, false},
    {"لم يصل طلبي بعد", "other", 0.9f, 1.0f, false},
    /* Other Latin-script languages give themselves away by their own
     * function words. */
    {"Mon colis n'est jamais arrivé et personne ne répond à mes messages",
     "other", 0.9f, 1.0f, false},
    {"Mi pedido no ha llegado todavía, quiero un reembolso", "other", 0.9f,
     1.0f, false},
    {"Ich habe was bestellt und es ist nicht angekommen", "other", 0.9f, 1.0f,
     false},
    {"Qualité médiocre, livraison tardive, service client inexistant", "other",
     0.4f, 0.6f, true},
    /* Telegraphic English: nothing marks another language, but open. */
    {"Package delayed, tracking shows nothing, terrible service", "en", 0.3f,
     0.6f, true},
    /* No letters at all. */
    {"😡😡😡", "und", 0.0f, 0.0f, true},
    {"", "und", 0.0f, 0.0f, true},
    {"12345 !!! ??? 500", "und", 0.0f, 0.0f, true},
    /* Invalid bytes are skipped. */
    {"\xff\xfe the site is down again", "en", 0.8f, 1.0f, false},
};

Test(classifier_lang, detection_table)
{
    for (size_t i = 0; i < sizeof s_cases / sizeof *s_cases; i++) {
        const s_case_t *c = &s_cases[i];
        classifier_lang_t lang;
        classifier_lang_detect(c->text, strlen(c->text), &lang);
        cr_expect(eq(str, (char *)lang.language, (char *)c->language),
                  "case %zu: %s", i, c->text);
        cr_expect(
            lang.confidence >= c->min_conf && lang.confidence <= c->max_conf,
            "case %zu: %s: confidence %f not in [%f, %f]", i, c->text,
            (double)lang.confidence, (double)c->min_conf, (double)c->max_conf);
        cr_expect(eq(int, lang.ambiguous, c->ambiguous), "case %zu: %s", i,
                  c->text);
    }
}

Test(classifier_lang, counts_letters_by_script_and_words)
{
    const char *text = "Wi-Fiが繋がらない for 3 days, the ルーター";
    classifier_lang_t lang;
    classifier_lang_detect(text, strlen(text), &lang);
    cr_assert(eq(sz, lang.latin, 14)); /* WiFi forday sthe */
    cr_assert(eq(sz, lang.kana, 9));   /* が がらない ルーター */
    cr_assert(eq(sz, lang.cjk, 1));    /* 繋 */
    cr_assert(eq(sz, lang.other, 0));
    cr_assert(eq(sz, lang.words, 5)); /* wi fi for days the */
    cr_assert(eq(sz, lang.function_words, 2));
    cr_assert(eq(sz, lang.foreign_words, 0));
    cr_assert(eq(str, (char *)lang.language, "ja"));
}

Test(classifier_lang, a_mix_is_less_sure_than_one_script)
{
    classifier_lang_t pure, mixed;
    const char *a = "アプリでログインできません";
    const char *b = "iPhoneのアプリでログインできません";
    classifier_lang_detect(a, strlen(a), &pure);
    classifier_lang_detect(b, strlen(b), &mixed);
    cr_assert(eq(str, (char *)mixed.language, "ja"));
    cr_assert(mixed.confidence < pure.confidence);
}

Test(classifier_lang, hints_decide_only_ambiguous_text)
{
    static const struct {
        const char *text, *hint, *language;
        bool applied;
    } cases[] = {
        {"😡", "ja", "ja", true},
        {"😡", "ja-JP", "ja", true},
        {"😡", "EN_us", "en", true},
        {"😡", "fr", "und", false},
        {"😡", "jap", "und", false},
        {"😡", "j", "und", false},
        {"😡", "", "und", false},
        {"😡", NULL, "und", false},
        {"App down", "ja", "ja", true},
        {"系统故障", "en", "en", true},
        {"Package delayed, tracking shows nothing, terrible service", "ja",
         "ja", true},
        {"Mi pedido no ha llegado, quiero un reembolso", "en", "other", false},
        {"Mi pedido no ha llegado", "en", "en", true}, /* one "mi" */
        {"荷物がまだ届きません", "en", "ja", false},
        {"My package never arrived", "ja", "en", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        classifier_lang_t lang;
        classifier_lang_detect(cases[i].text, strlen(cases[i].text), &lang);
        bool applied = classifier_lang_apply_hint(&lang, cases[i].hint);
        cr_expect(eq(int, applied, cases[i].applied), "case %zu", i);
        cr_expect(eq(str, (char *)lang.language, (char *)cases[i].language),
                  "case %zu", i);
        if (applied) {
            cr_expect(lang.confidence >= 0.6f, "case %zu", i);
            cr_expect(not(lang.ambiguous), "case %zu", i);
        }
    }
}
