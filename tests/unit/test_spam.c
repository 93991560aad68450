/* The spam model: kj_spam_text (the one line training and the classifier
 * both read), the shipped model set's spam verdicts on clear spam and
 * complaints, the channel and language gates, and every complaint e-mail
 * fixture through the real parser and the classifier's pipeline. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier_models.h"
#include "classifier_triage.h"
#include "ingest_email.h"
#include "ingest_validate.h"
#include "kj_log.h"
#include "kj_metrics.h"
#include "kj_spam.h"

Test(spam, usage_example)
{
    kj_complaint_t c;
    memset(&c, 0, sizeof c);
    strcpy(c.channel, "email");
    strcpy(c.subject, "Refund\tplease");
    strcpy(c.customer.id, "ann@Mail.Example.COM");
    strcpy(c.text, "I was charged twice.\n\nOrder 42.");
    char line[KJ_SPAM_TEXT_MAX];
    long n = kj_spam_text(&c, line, sizeof line);
    cr_assert(eq(str, line,
                 "Refund please _from_mail_example_com_ _tld_com_ I was "
                 "charged twice. Order 42."));
    cr_assert(eq(long, n, (long)strlen(line)));
    /* customer.email wins over the id; no address, no sender tokens. */
    strcpy(c.customer.email, "bob@shop.jp");
    kj_spam_text(&c, line, sizeof line);
    cr_assert(eq(
        int, strncmp(line, "Refund please _from_shop_jp_ _tld_jp_ ", 38), 0));
    memset(&c.customer, 0, sizeof c.customer);
    strcpy(c.customer.id, "C-1001");
    kj_spam_text(&c, line, sizeof line);
    cr_assert(eq(str, line, "Refund please I was charged twice. Order 42."));
    cr_assert(eq(long, kj_spam_text(&c, line, 0), -1));
}

Test(spam, a_short_buffer_cuts_on_a_character_boundary)
{
    kj_complaint_t c;
    memset(&c, 0, sizeof c);
    strcpy(c.text, "ab\xe3\x81\x82\xe3\x81\x84"); /* ab あい */
    char line[6];
    kj_spam_text(&c, line, sizeof line); /* room for 5 bytes */
    cr_assert(eq(str, line, "ab\xe3\x81\x82"));
    char tiny[4];
    kj_spam_text(&c, tiny, sizeof tiny);
    cr_assert(eq(str, tiny, "ab"));
}

/* ---- the shipped set ------------------------------------------------ */

static classifier_models_t *s_set;
static classifier_scratch_t *s_scratch;

static void
s_set_up(void)
{
    kj_log_init("test", KJ_LOG_ERROR + 1);
    char err[512];
    s_set = classifier_models_load(KJ_SOURCE_DIR "/models", err, sizeof err);
    cr_assert(not(eq(ptr, s_set, NULL)), "%s", err);
    s_scratch = classifier_scratch_new();
}

static void
s_set_down(void)
{
    classifier_scratch_destroy(&s_scratch);
    classifier_models_destroy(&s_set);
}

/* P(spam) of an e-mail complaint, -1 when the model is not asked. */
static float
s_p(const char *channel, const char *lang, const char *subject,
    const char *from, const char *text, bool *is_spam)
{
    static kj_complaint_t c;
    memset(&c, 0, sizeof c);
    snprintf(c.subject, sizeof c.subject, "%s", subject);
    snprintf(c.customer.id, sizeof c.customer.id, "%s", from);
    snprintf(c.text, sizeof c.text, "%s", text);
    static char line[KJ_SPAM_TEXT_MAX];
    long n = kj_spam_text(&c, line, sizeof line);
    float p;
    if (classifier_models_spam(s_set, s_scratch, channel, lang, line, (size_t)n,
                               &p, is_spam) < 0)
        return -1;
    return p;
}

TestSuite(spam_models, .init = s_set_up, .fini = s_set_down);

Test(spam_models, clear_spam_is_spam_and_complaints_are_not)
{
    cr_assert(classifier_models_has_spam(s_set));
    static const char *const spam[][3] = {
        {"Make Money Fast!!! Work from home", "offers@cash4you.biz",
         "EARN $5000 A WEEK FROM HOME! No experience needed. This is NOT a "
         "scam. Click here to order now and get your FREE report. To be "
         "removed from our mailing list click here."},
        {"Lowest mortgage rates - approved in minutes", "deals@lowrates.net",
         "Dear Homeowner, you have been pre-approved for a low interest "
         "mortgage. Refinance today and save thousands! Limited time offer, "
         "act now. Click below. To unsubscribe reply with REMOVE."},
    };
    for (size_t i = 0; i < sizeof spam / sizeof spam[0]; i++) {
        bool is = false;
        float p = s_p("email", "en", spam[i][0], spam[i][1], spam[i][2], &is);
        cr_assert(is, "spam #%zu: P(spam) %.3f", i, p);
    }
    static const char *const ham[][3] = {
        {"Charged twice", "ann@example.com",
         "Hello, I was charged twice for order 4431 on my credit card. "
         "Please refund the duplicate charge. Thanks, Ann"},
        {"Late delivery", "eve@example.com",
         "My parcel was due on Tuesday and the tracking page has not changed "
         "in six days. Where is my package?"},
        {"", "bob@corp.example",
         "Your agent hung up on me twice this morning. I want to speak to a "
         "supervisor about my broken router."},
    };
    for (size_t i = 0; i < sizeof ham / sizeof ham[0]; i++) {
        bool is = true;
        float p = s_p("email", "en", ham[i][0], ham[i][1], ham[i][2], &is);
        cr_assert(not(is), "ham #%zu: P(spam) %.3f", i, p);
        cr_assert(lt(flt, p, 0.5f), "ham #%zu: P(spam) %.3f", i, p);
    }
}

Test(spam_models, japanese_and_other_channels_are_never_asked)
{
    bool is = true;
    /* No Japanese spam in the data: the set does not ask the model. */
    cr_assert(eq(flt,
                 s_p("email", "ja", "儲かる話", "x@spam.example",
                     "今すぐクリック！無料で百万円稼げます", &is),
                 -1.0f));
    cr_assert(not(is));
    is = true;
    cr_assert(
        eq(flt,
           s_p("chat", "en", "", "",
               "EARN $5000 A WEEK FROM HOME! Click here, FREE report", &is),
           -1.0f));
    cr_assert(not(is));
}

/* The complaint e-mail fixture name through the real intake (parser,
 * complaint JSON, validation, the wire's stripped contact details) into
 * an envelope. false for a fixture the intake refuses or calls noise. */
static bool
s_fixture_envelope(const char *name, kj_envelope_t *env)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tests/data/email/%s", KJ_SOURCE_DIR, name);
    FILE *f = fopen(path, "rb");
    cr_assert(not(zero(ptr, f)), "%s", path);
    static char raw[1 << 20];
    size_t len = fread(raw, 1, sizeof raw, f);
    fclose(f);
    static ingest_email_t mail;
    ingest_error_t err;
    if (ingest_email_parse(raw, len, &mail, &err) < 0 ||
        mail.noise != INGEST_EMAIL_NOISE_NONE)
        return false;
    json_t *body = ingest_email_complaint(&mail);
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    memset(env, 0, sizeof *env);
    int rc = ingest_validate_complaint(s, strlen(s), &env->complaint, &err);
    free(s);
    cr_assert(eq(int, rc, 0), "%s: %s", name, err.message);
    env->complaint.customer.name[0] = '\0';
    env->complaint.customer.email[0] = '\0';
    strcpy(env->complaint.id, "0193a5b2c3d4e5f6a7b8");
    return true;
}

Test(spam_models, complaint_emails_through_the_classifier_are_not_spam)
{
    char err[512];
    kj_rules_t *rules =
        kj_rules_load(KJ_SOURCE_DIR "/deploy/rules.json", err, sizeof err);
    cr_assert(not(zero(ptr, rules)), "%s", err);
    classifier_triage_t *t = classifier_triage_new(rules);
    cr_assert(eq(int,
                 classifier_triage_use_models(t, KJ_SOURCE_DIR "/models", err,
                                              sizeof err),
                 0),
              "%s", err);
    kj_metrics_t *metrics = kj_metrics_new("classifier");
    classifier_triage_use_metrics(t, metrics);
    kj_envelope_t *env = calloc(1, sizeof *env);
    DIR *d = opendir(KJ_SOURCE_DIR "/tests/data/email");
    cr_assert(not(zero(ptr, d)));
    int complaints = 0, english = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 4 || strcmp(de->d_name + n - 4, ".eml") != 0 ||
            !s_fixture_envelope(de->d_name, env))
            continue;
        int64_t retry = 0;
        classifier_triage_process(t, env, 0, err, sizeof err, &retry);
        cr_assert(not(env->triage.spam), "%s: spam at P %.3f", de->d_name,
                  env->triage.spam_confidence);
        cr_assert(lt(flt, env->triage.spam_confidence, 0.5f), "%s: P %.3f",
                  de->d_name, env->triage.spam_confidence);
        complaints++;
        english += strcmp(env->triage.language, "en") == 0;
    }
    closedir(d);
    cr_assert(ge(int, complaints, 8));
    cr_assert(ge(int, english, 4)); /* the model was asked about these */

    /* Spam is labelled and counted, never dropped. */
    memset(env, 0, sizeof *env);
    strcpy(env->complaint.id, "0193a5b2c3d4e5f6a7b9");
    strcpy(env->complaint.channel, "email");
    strcpy(env->complaint.customer.id, "offers@cash4you.biz");
    strcpy(env->complaint.subject, "Make Money Fast!!! Work from home");
    strcpy(env->complaint.text,
           "EARN $5000 A WEEK FROM HOME! No experience needed. This is NOT a "
           "scam. Click here to order now and get your FREE report. To be "
           "removed from our mailing list click here.");
    int64_t retry = 0;
    cr_assert(eq(int,
                 classifier_triage_process(t, env, 0, err, sizeof err, &retry),
                 KJ_VERDICT_DONE));
    cr_assert(env->has_triage);
    cr_assert(env->triage.spam);
    cr_assert(ge(flt, env->triage.spam_confidence, 0.8f));
    char *text = kj_metrics_render(metrics);
    cr_assert(
        not(zero(
            ptr,
            strstr(text, "kujo_classifier_spam_total{svc=\"classifier\"} 1"))),
        "%s", text);
    free(text);
    free(env);
    kj_metrics_destroy(&metrics);
    classifier_triage_destroy(&t);
    kj_rules_destroy(&rules);
}
