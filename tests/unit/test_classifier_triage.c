/* classifier_triage: one envelope in, language, category and urgency out,
 * with the shipped rules and with rules files written by the test (for
 * reload). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classifier_triage.h"
#include "kj_log.h"

#define KJ_RULES_PATH KJ_SOURCE_DIR "/deploy/rules.json"

static void
s_quiet(void)
{
    /* Reload errors are logged; keep the test output readable. */
    kj_log_init("test", KJ_LOG_ERROR + 1);
}

/* The rules a test's triage uses; the service holds them in the binary. */
static kj_rules_t *s_rules;

static void
s_free_rules(void)
{
    kj_rules_destroy(&s_rules);
}

TestSuite(classifier_triage, .fini = s_free_rules);

static kj_rules_t *
s_load(const char *path)
{
    char err[512];
    kj_rules_t *rules = kj_rules_load(path, err, sizeof err);
    cr_assert(not(zero(ptr, rules)), "%s", err);
    return rules;
}

static classifier_triage_t *
s_new(const char *path)
{
    kj_rules_destroy(&s_rules);
    s_rules = s_load(path);
    return classifier_triage_new(s_rules);
}

static kj_envelope_t *
s_env(const char *subject, const char *text, const char *hint)
{
    kj_envelope_t *env = calloc(1, sizeof *env);
    cr_assert(not(zero(ptr, env)));
    strcpy(env->complaint.id, "0193a5b2c3d4e5f6a7b8");
    strcpy(env->complaint.channel, "email");
    snprintf(env->complaint.subject, sizeof env->complaint.subject, "%s",
             subject);
    snprintf(env->complaint.text, sizeof env->complaint.text, "%s", text);
    snprintf(env->complaint.lang_hint, sizeof env->complaint.lang_hint, "%s",
             hint);
    return env;
}

static kj_verdict_t
s_run(classifier_triage_t *t, kj_envelope_t *env)
{
    char err[KJ_ERRMSG_MAX] = "";
    int64_t retry_at = 0;
    return classifier_triage_process(t, env, 1700000000000, err, sizeof err,
                                     &retry_at);
}

Test(classifier_triage, usage_example, .init = s_quiet)
{
    classifier_triage_t *t = s_new(KJ_RULES_PATH);
    kj_envelope_t *env =
        s_env("", "荷物がまだ届かない。至急対応してください", "");
    cr_assert(eq(int, s_run(t, env), KJ_VERDICT_DONE));
    cr_assert(env->has_triage);
    cr_assert(eq(str, env->triage.language, "ja"));
    cr_assert(env->triage.language_confidence > 0.9f);
    cr_assert(eq(str, env->triage.category, "delivery"));
    cr_assert(epsilon_eq(flt, env->triage.category_confidence, 0.8f, 1e-5));
    cr_assert(eq(str, env->triage.urgency, "high")); /* まだ, 至急 */
    cr_assert(epsilon_eq(flt, env->triage.urgency_confidence, 0.8f, 1e-5));
    cr_assert(eq(str, env->triage.model, "rules"));
    /* Left for the trained models: never invented here. */
    cr_assert(eq(str, env->triage.sentiment, ""));
    cr_assert(not(env->triage.actionable));
    /* PII masking runs without models too; this text has none, so the
     * masked text and the complaint are the text as it came. */
    cr_assert(eq(str, env->triage.masked_text,
                 "荷物がまだ届かない。至急対応してください"));
    cr_assert(eq(sz, env->triage.n_pii, 0));
    cr_assert(eq(str, env->complaint.text,
                 "荷物がまだ届かない。至急対応してください"));
    free(env);
    classifier_triage_destroy(&t);
    cr_assert(zero(ptr, t));
    classifier_triage_destroy(&t);
}

typedef struct {
    const char *subject, *text, *hint;
    const char *language, *category, *urgency;
    float category_confidence, urgency_confidence;
} s_case_t;

static const s_case_t s_cases[] = {
    /* charged twice, charged, refund: three hits. */
    {"", "I was charged twice and want a refund", "", "en", "billing", "normal",
     0.95f, 0.5f},
    {"REFUND", "please help me with this", "", "en", "billing", "normal", 0.65f,
     0.5f},
    {"", "ＲＥＦＵＮＤ ＰＬＥＡＳＥ", "", "en", "billing", "normal", 0.65f,
     0.5f},
    {"", "The app is down, I will contact my lawyer", "", "en", "outage",
     "critical", 0.65f, 0.65f},
    {"", "Thanks, the new design is lovely", "", "en", "other", "normal", 0.3f,
     0.5f},
    {"", "Error error error error error error", "", "en", "outage", "normal",
     0.95f, 0.5f},
    {"", "ログインできない！エラーが出る", "", "ja", "outage", "normal", 0.8f,
     0.5f},
    {"", "個人情報が流出していませんか", "", "ja", "security", "normal", 0.8f,
     0.5f},
    {"", "アプリの改善を提案します", "", "ja", "other", "low", 0.3f, 0.65f},
    /* Hints decide what the text leaves open, and nothing else. */
    {"", "😡😡😡", "ja", "ja", "other", "normal", 0.3f, 0.5f},
    {"", "😡😡😡", "", "und", "other", "normal", 0.3f, 0.5f},
    {"", "Wi-Fi down", "ja-JP", "ja", "outage", "normal", 0.65f, 0.5f},
    {"", "配送が遅延しています", "en", "ja", "delivery", "normal", 0.8f, 0.5f},
};

Test(classifier_triage, table_over_the_shipped_rules, .init = s_quiet)
{
    classifier_triage_t *t = s_new(KJ_RULES_PATH);
    for (size_t i = 0; i < sizeof s_cases / sizeof *s_cases; i++) {
        const s_case_t *c = &s_cases[i];
        kj_envelope_t *env = s_env(c->subject, c->text, c->hint);
        cr_expect(eq(int, s_run(t, env), KJ_VERDICT_DONE));
        cr_expect(eq(str, env->triage.language, (char *)c->language),
                  "case %zu", i);
        cr_expect(eq(str, env->triage.category, (char *)c->category),
                  "case %zu", i);
        cr_expect(eq(str, env->triage.urgency, (char *)c->urgency), "case %zu",
                  i);
        cr_expect(epsilon_eq(flt, env->triage.category_confidence,
                             c->category_confidence, 1e-5),
                  "case %zu", i);
        cr_expect(epsilon_eq(flt, env->triage.urgency_confidence,
                             c->urgency_confidence, 1e-5),
                  "case %zu", i);
        free(env);
    }
    classifier_triage_destroy(&t);
}

static void
s_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(not(zero(ptr, f)));
    cr_assert(eq(int, fputs(text, f) >= 0, 1));
    cr_assert(eq(int, fclose(f), 0));
}

static const char s_rules_fmt[] =
    "{\"version\":1,\"categories\":[{\"name\":\"%s\",\"keywords\":"
    "[\"zebra\",\"foo bar\"]}],"
    "\"teams\":[{\"name\":\"t\"}],\"sla_policies\":[{\"name\":\"s\","
    "\"first_response_minutes\":1,\"resolution_hours\":1}],"
    "\"routes\":[{\"name\":\"d\",\"team\":\"t\",\"priority\":\"p3\","
    "\"sla\":\"s\"}]}";

Test(classifier_triage, reload_swaps_rules_and_keeps_them_on_error,
     .init = s_quiet)
{
    char path[] = "/tmp/kj_triage_rules_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    char doc[1024];
    snprintf(doc, sizeof doc, s_rules_fmt, "alpha");
    s_write(path, doc);
    classifier_triage_t *t = s_new(path);
    kj_envelope_t *env = s_env("", "a zebra ate my parcel", "");
    s_run(t, env);
    cr_assert(eq(str, env->triage.category, "alpha"));

    /* SIGHUP: the service read valid rules and hands them over. */
    snprintf(doc, sizeof doc, s_rules_fmt, "beta");
    s_write(path, doc);
    kj_rules_t *beta = s_load(path);
    char err[64];
    cr_assert(
        eq(int, classifier_triage_rules_changed(t, beta, err, sizeof err), 0));
    s_run(t, env);
    cr_assert(eq(str, env->triage.category, "beta"));
    cr_assert(eq(ptr, (void *)classifier_triage_rules(t), beta));
    /* No models: reloading them is nothing to do. */
    cr_assert(eq(int, classifier_triage_reload_models(t, err, sizeof err), 0));
    unlink(path);

    /* Subject and text are joined with a break a keyword cannot span. */
    kj_envelope_t *split = s_env("foo", "bar", "");
    s_run(t, split);
    cr_assert(eq(str, split->triage.category, "other"));
    kj_envelope_t *joined = s_env("", "foo bar", "");
    s_run(t, joined);
    cr_assert(eq(str, joined->triage.category, "beta"));
    free(split);
    free(joined);
    free(env);
    classifier_triage_destroy(&t);
    kj_rules_destroy(&beta);
}

/* With the shipped model set: the models decide category and urgency
 * without any keyword; the operator's keywords still override where the
 * policy says (models/README.md, "The operator's rules"). */
Test(classifier_triage, models_decide_and_the_operators_keywords_override,
     .init = s_quiet)
{
    classifier_triage_t *t = s_new(KJ_RULES_PATH);
    char err[512];
    cr_assert(eq(int,
                 classifier_triage_use_models(t, KJ_SOURCE_DIR "/models", err,
                                              sizeof err),
                 0),
              "%s", err);
    /* No keyword of the rules file in this text: the model answers. */
    kj_envelope_t *env = s_env(
        "", "I ordered a lamp two weeks ago and it has still not turned up",
        "");
    s_run(t, env);
    cr_assert(eq(str, env->triage.category, "delivery"));
    cr_assert(eq(str, env->triage.reason, "delivery"));
    cr_assert(gt(flt, env->triage.category_confidence, 0.5f));
    cr_assert(eq(int, strncmp(env->triage.model, "kujo-models:", 12), 0));
    free(env);
    /* A critical keyword ("lawyer") forces critical, whatever the model
     * says. */
    env =
        s_env("", "Your invoice is wrong again, I will talk to my lawyer", "");
    s_run(t, env);
    cr_assert(eq(str, env->triage.urgency, "critical"));
    free(env);
    classifier_triage_destroy(&t);

    /* Rules whose only category ("alpha", keyword zebra) no model label
     * maps to: the keyword decides; without a keyword hit the model's
     * label cannot name an operator category, so "other" stays. */
    char path[] = "/tmp/kj_triage_rules_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    char doc[1024];
    snprintf(doc, sizeof doc, s_rules_fmt, "alpha");
    s_write(path, doc);
    t = s_new(path);
    cr_assert(eq(int,
                 classifier_triage_use_models(t, KJ_SOURCE_DIR "/models", err,
                                              sizeof err),
                 0),
              "%s", err);
    env = s_env("", "a zebra ate my parcel and the delivery never arrived", "");
    s_run(t, env);
    cr_assert(eq(str, env->triage.category, "alpha"));
    free(env);
    env =
        s_env("", "I was charged twice for my subscription, refund please", "");
    s_run(t, env);
    cr_assert(eq(str, env->triage.category, "other"));
    free(env);
    classifier_triage_destroy(&t);
    unlink(path);
}

Test(classifier_triage, bad_rules_file_is_a_precise_error)
{
    char err[512];
    cr_assert(
        zero(ptr, kj_rules_load("/nonexistent/rules.json", err, sizeof err)));
    cr_assert(not(zero(ptr, strstr(err, "/nonexistent/rules.json"))), "%s",
              err);
}

Test(classifier_triage, replayed_envelope_is_triaged_afresh, .init = s_quiet)
{
    classifier_triage_t *t = s_new(KJ_RULES_PATH);
    kj_envelope_t *env = s_env("", "my refund never came", "");
    env->has_triage = true;
    strcpy(env->triage.category, "outage");
    strcpy(env->triage.sentiment, "positive");
    strcpy(env->triage.model, "old");
    s_run(t, env);
    cr_assert(eq(str, env->triage.category, "billing"));
    cr_assert(eq(str, env->triage.sentiment, ""));
    cr_assert(eq(str, env->triage.model, "rules"));
    free(env);
    classifier_triage_destroy(&t);
}

Test(classifier_triage, largest_texts_fold_within_bounds, .init = s_quiet)
{
    classifier_triage_t *t = s_new(KJ_RULES_PATH);
    /* Full-width letters fold to a third of their size... */
    kj_envelope_t *env = s_env("", "", "");
    size_t off = 0;
    const char *word = "ｒｅｆｕｎｄ "; /* 19 bytes */
    while (off + strlen(word) <= KJ_TEXT_MAX) {
        memcpy(env->complaint.text + off, word, strlen(word));
        off += strlen(word);
    }
    env->complaint.text[off] = '\0';
    memset(env->complaint.subject, 'x', KJ_SUBJECT_MAX);
    env->complaint.subject[KJ_SUBJECT_MAX] = '\0';
    cr_assert(eq(int, s_run(t, env), KJ_VERDICT_DONE));
    cr_assert(eq(str, env->triage.category, "billing"));
    cr_assert(epsilon_eq(flt, env->triage.category_confidence, 0.95f, 1e-5));

    /* ...and U+FDFA grows eighteen-fold: the fold is cut, not overrun. */
    off = 0;
    while (off + 3 <= KJ_TEXT_MAX) {
        memcpy(env->complaint.text + off, "\xEF\xB7\xBA", 3);
        off += 3;
    }
    env->complaint.text[off] = '\0';
    cr_assert(eq(int, s_run(t, env), KJ_VERDICT_DONE));
    cr_assert(env->has_triage);
    cr_assert(eq(str, env->triage.category, "other"));
    free(env);
    classifier_triage_destroy(&t);
}

/* ---- PII without models -------------------------------------------- */

typedef struct {
    const char *subject, *text;
    const char *secret; /* must not survive anywhere in the envelope */
    const char *kind;   /* Triage.pii kind of the text's first span, or "" */
} s_pii_case_t;

static const s_pii_case_t s_pii_cases[] = {
    {"", "mail me at taro.yamada@example.jp please", "taro.yamada@example.jp",
     "email"},
    {"", "連絡先はtaro_yamada@example.jpです", "taro_yamada@example.jp",
     "email"},
    {"", "call 090-1234-5678 asap", "090-1234-5678", "phone"},
    {"", "電話は０３－１２３４－５６７８まで", "１２３４－５６７８", "phone"},
    {"", "my number is +81 90 1234 5678", "1234 5678", "phone"},
    {"", "(415) 555-0100 is my cell", "555-0100", "phone"},
    {"", "charged twice on 4111 1111 1111 1111", "4111 1111 1111 1111", "card"},
    {"", "card 4111-1111-1111-1111 refund", "4111-1111-1111-1111", "card"},
    {"", "カード番号は4111111111111111です", "4111111111111111", "card"},
    /* in the subject: masked too */
    {"refund to 4111111111111111", "see subject", "4111111111111111", ""},
    {"reply to a@b.co", "see subject", "a@b.co", ""},
};

Test(classifier_triage, contact_details_are_not_stored, .init = s_quiet)
{
    /* An envelope from an ingest that still copied them. */
    classifier_triage_t *t = s_new(KJ_RULES_PATH);
    kj_envelope_t *env = s_env("", "the app crashes", "");
    strcpy(env->complaint.customer.id, "c-17");
    strcpy(env->complaint.customer.name, "Hana Sato");
    strcpy(env->complaint.customer.email, "hana@example.jp");
    cr_assert(eq(int, s_run(t, env), KJ_VERDICT_DONE));
    cr_assert(eq(str, env->complaint.customer.name, ""));
    cr_assert(eq(str, env->complaint.customer.email, ""));
    cr_assert(eq(str, env->complaint.customer.id, "c-17"));
    free(env);
    classifier_triage_destroy(&t);
}

Test(classifier_triage, rules_only_never_lets_pii_through, .init = s_quiet)
{
    /* No classifier_triage_use_models: the KUJO_MODELS="" configuration. */
    classifier_triage_t *t = s_new(KJ_RULES_PATH);
    for (size_t i = 0; i < sizeof s_pii_cases / sizeof *s_pii_cases; i++) {
        const s_pii_case_t *c = &s_pii_cases[i];
        kj_envelope_t *env = s_env(c->subject, c->text, "");
        cr_assert(eq(int, s_run(t, env), KJ_VERDICT_DONE));
        cr_expect(eq(str, env->triage.model, "rules"), "case %zu", i);
        cr_expect(zero(ptr, strstr(env->complaint.text, c->secret)),
                  "case %zu: text %s", i, env->complaint.text);
        cr_expect(zero(ptr, strstr(env->complaint.subject, c->secret)),
                  "case %zu: subject %s", i, env->complaint.subject);
        cr_expect(zero(ptr, strstr(env->triage.masked_text, c->secret)),
                  "case %zu: masked %s", i, env->triage.masked_text);
        cr_expect(eq(str, env->triage.masked_text, env->complaint.text),
                  "case %zu", i);
        if (c->kind[0]) {
            cr_expect(eq(sz, env->triage.n_pii, 1), "case %zu", i);
            cr_expect(eq(str, env->triage.pii[0].kind, (char *)c->kind),
                      "case %zu", i);
        } else {
            cr_expect(eq(sz, env->triage.n_pii, 0), "case %zu", i);
        }
        free(env);
    }
    classifier_triage_destroy(&t);
}

Test(classifier_triage, rules_only_masks_and_still_matches_keywords,
     .init = s_quiet)
{
    /* Keywords are matched on the original text (the card number does not
     * hide "refund"), and the masked text carries the placeholders. */
    classifier_triage_t *t = s_new(KJ_RULES_PATH);
    kj_envelope_t *env = s_env("", "refund 4111 1111 1111 1111 to a@b.co", "");
    cr_assert(eq(int, s_run(t, env), KJ_VERDICT_DONE));
    cr_assert(eq(str, env->triage.category, "billing"));
    cr_assert(eq(str, env->complaint.text, "refund [CARD] to [EMAIL]"));
    cr_assert(eq(str, env->triage.masked_text, "refund [CARD] to [EMAIL]"));
    cr_assert(eq(sz, env->triage.n_pii, 2));
    cr_assert(eq(str, env->triage.pii[0].kind, "card"));
    cr_assert(eq(u32, env->triage.pii[0].start, 7));
    cr_assert(eq(str, env->triage.pii[1].kind, "email"));
    free(env);
    classifier_triage_destroy(&t);
}
