/* classifier_triage: the classifier's one pipeline for an envelope: fold
 * the subject and text once (kj_text_fold), mask PII (always, with or
 * without models), count keywords with the one engine
 * (classifier_keywords), detect the language once (the models' detector
 * when a model set is loaded, else classifier_lang), then let the models
 * add sentiment, reason, urgency and actionable. The operator's keyword
 * rules win over a model's guess. Buffers belong to the context, so the
 * hot path allocates nothing per message. */
#include "classifier_triage.h"

#include <stdlib.h>
#include <string.h>

#include "classifier_keywords.h"
#include "classifier_lang.h"
#include "classifier_models.h"
#include "classifier_pii.h"
#include "kj_log.h"
#include "kj_metrics.h"
#include "kj_spam.h"
#include "kj_text.h"
#include "kj_assert.h"
#include "kj_util.h"

/* Folding can grow text (NFKC expands some compatibility characters);
 * four times the largest subject + text covers real input, and anything
 * beyond is cut on a character boundary by kj_text_fold, which only means
 * a keyword at the very end of a pathological text is missed. */
#define S_FOLD_SIZE (4 * (KJ_SUBJECT_MAX + 1 + KJ_TEXT_MAX) + 1)

struct classifier_triage {
    /* The service's rules (kj_service holds them and swaps them on
     * SIGHUP, telling us through classifier_triage_rules_changed). */
    const kj_rules_t *rules;

    classifier_keywords_t *kw; /* the rules' keyword sets, never NULL */
    int *hits;                 /* one per class of kw */
    char folded[S_FOLD_SIZE];
    char *models_dir;              /* NULL: rules only */
    classifier_models_t *models;   /* swapped whole on reload */
    classifier_scratch_t *scratch; /* model buffers, reused per message */
    char masked[2 * KJ_TEXT_MAX + 1];
    char masked_subject[2 * KJ_SUBJECT_MAX + 1];
    char spam_text[KJ_SPAM_TEXT_MAX]; /* kj_spam_text's line */
    kj_counter_t *spam;               /* complaints labelled spam, or NULL */
};

int
classifier_triage_use_models(classifier_triage_t *self, const char *models_dir,
                             char *err, size_t err_size)
{
    classifier_models_t *m = classifier_models_load(models_dir, err, err_size);
    if (!m)
        return -1;
    classifier_models_destroy(&self->models);
    self->models = m;
    if (!self->scratch)
        self->scratch = classifier_scratch_new();
    if (self->models_dir != models_dir) {
        free(self->models_dir);
        self->models_dir = kj_strdup(models_dir);
    }
    return 0;
}

/* Use rules (borrowed) and build their keyword table. */
static void
s_set_rules(classifier_triage_t *self, const kj_rules_t *rules)
{
    classifier_keywords_destroy(&self->kw);
    free(self->hits);
    self->rules = rules;
    self->kw = classifier_keywords_from_rules(rules);
    size_t n = classifier_keywords_classes(self->kw);
    self->hits = kj_calloc(n ? n : 1, sizeof *self->hits);
}

classifier_triage_t *
classifier_triage_new(const kj_rules_t *rules)
{
    kj_assert(rules);
    classifier_triage_t *self = kj_calloc(1, sizeof *self);
    s_set_rules(self, rules);
    return self;
}

void
classifier_triage_destroy(classifier_triage_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    classifier_triage_t *self = *self_p;
    classifier_keywords_destroy(&self->kw);
    free(self->hits);
    classifier_models_destroy(&self->models);
    classifier_scratch_destroy(&self->scratch);
    free(self->models_dir);
    free(self);
    *self_p = NULL;
}

const kj_rules_t *
classifier_triage_rules(const classifier_triage_t *self)
{
    return self->rules;
}

int
classifier_triage_rules_changed(void *ctx, const kj_rules_t *rules, char *err,
                                size_t err_size)
{
    (void)err;
    (void)err_size;
    s_set_rules(ctx, rules);
    return 0;
}

int
classifier_triage_reload_models(void *ctx, char *err, size_t err_size)
{
    classifier_triage_t *self = ctx;
    if (!self->models_dir)
        return 0;
    return classifier_triage_use_models(self, self->models_dir, err, err_size);
}

void
classifier_triage_use_metrics(classifier_triage_t *self, kj_metrics_t *metrics)
{
    self->spam = kj_metrics_counter(
        metrics, "classifier_spam_total",
        "Complaints the spam model labelled spam (kept and passed on with "
        "triage.spam set, never dropped)",
        NULL);
}

/* The spam model's verdict, on the raw subject, sender and text (before
 * masking: the model was trained on what ingest hands over, built by the
 * same kj_spam_text in kujo-mail2tsv), for the channels and languages the
 * set applies it to. */
static void
s_spam(classifier_triage_t *self, kj_envelope_t *env)
{
    kj_triage_t *t = &env->triage;
    long n =
        kj_spam_text(&env->complaint, self->spam_text, sizeof self->spam_text);
    if (n < 0)
        return;
    if (classifier_models_spam(
            self->models, self->scratch, env->complaint.channel, t->language,
            self->spam_text, (size_t)n, &t->spam_confidence, &t->spam) == 0 &&
        t->spam && self->spam)
        kj_counter_inc(self->spam);
}

/* Keyword hits to a confidence: one hit is a fair guess, each more makes
 * it surer, and rules never claim certainty. */
static float
s_confidence(int hits)
{
    float c = 0.5f + 0.15f * (float)hits;
    return c > 0.95f ? 0.95f : c;
}

/* Copy src into dst[size] cutting on a UTF-8 character boundary, so a long
 * masked text never ends in half a character. */
static void
s_copy_utf8(char *dst, const char *src, size_t size)
{
    size_t n = kj_strlcpy(dst, src, size);
    if (n < size)
        return;
    size_t end = size - 1;
    while (end > 0 && ((unsigned char)dst[end] & 0xC0) == 0x80)
        end--;
    dst[end] = '\0';
}

/* Mask the complaint's text into self->masked and record the spans. */
static void
s_mask(classifier_triage_t *self, const kj_complaint_t *c, kj_triage_t *t,
       size_t *pii_total)
{
    classifier_pii_span_t spans[KJ_MAX_PII];
    classifier_pii_mask(c->text, strlen(c->text), self->masked,
                        sizeof self->masked, spans, KJ_MAX_PII, pii_total);
    t->n_pii = 0;
    for (size_t i = 0; i < *pii_total && i < KJ_MAX_PII; i++) {
        kj_strlcpy(t->pii[i].kind, classifier_pii_kind_name(spans[i].kind),
                   sizeof t->pii[i].kind);
        t->pii[i].start = (uint32_t)spans[i].start;
        t->pii[i].end = (uint32_t)spans[i].end;
        t->n_pii++;
    }
}

/* Below this probability a model is "unsure": an operator's category or
 * urgency keyword then decides instead (models/README.md, "The
 * operator's rules"). Chosen on the corpus dev split. */
#define S_MODEL_SURE 0.5f

/* The operator category a model label stands for: the rules file's
 * model_labels entry, else the label itself when it names one of the
 * rules file's categories or is "other"; NULL if neither. */
static const char *
s_category_of(const kj_rules_t *rules, const char *label)
{
    const char *mapped = classifier_keywords_map_label(rules, label);
    if (mapped)
        return mapped;
    if (strcmp(label, "other") == 0)
        return "other";
    size_t n;
    const kj_rules_kwset_t *cats = kj_rules_categories(rules, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(cats[i].name, label) == 0)
            return cats[i].name;
    return NULL;
}

/* The model set's view, merged with the operator's keyword rules: a
 * critical keyword always makes the complaint critical; a category or
 * other urgency keyword decides when the model is unsure (or the set has
 * no such model); otherwise the model decides. */
static void
s_apply_models(classifier_triage_t *self, kj_envelope_t *env, size_t folded_len,
               size_t pii_total, int category_hits, int urgency_hits)
{
    kj_complaint_t *c = &env->complaint;
    kj_triage_t *t = &env->triage;
    classifier_result_t r;
    memset(&r, 0, sizeof r);
    r.pii_total = pii_total;
    classifier_models_run(self->models, self->scratch, c->text, strlen(c->text),
                          self->folded, folded_len, c->lang_hint, &r);

    kj_strlcpy(t->language, r.language, sizeof t->language);
    t->language_confidence = r.language_confidence;
    kj_strlcpy(t->sentiment, r.sentiment, sizeof t->sentiment);
    t->sentiment_score = r.sentiment_score;
    t->sentiment_confidence = r.sentiment_confidence;
    kj_strlcpy(t->reason, r.reason, sizeof t->reason);
    const char *model_cat =
        r.category[0] ? s_category_of(self->rules, r.category) : NULL;
    if (model_cat) {
        if (category_hits == 0 || r.category_confidence >= S_MODEL_SURE) {
            kj_strlcpy(t->category, model_cat, sizeof t->category);
            t->category_confidence = r.category_confidence;
        }
        /* The reason field says what the model answered. */
        if (!r.reason[0])
            kj_strlcpy(t->reason, r.category, sizeof t->reason);
    } else if (category_hits == 0 && r.reason[0]) {
        const char *mapped =
            classifier_keywords_map_label(self->rules, r.reason);
        if (mapped) {
            kj_strlcpy(t->category, mapped, sizeof t->category);
            t->category_confidence = r.reason_confidence;
        }
    }
    bool rules_critical =
        urgency_hits > 0 && strcmp(t->urgency, "critical") == 0;
    if (r.urgency_from_model) {
        if (!rules_critical &&
            (urgency_hits == 0 || r.urgency_confidence >= S_MODEL_SURE)) {
            kj_strlcpy(t->urgency, r.urgency, sizeof t->urgency);
            t->urgency_confidence = r.urgency_confidence;
        }
    } else if ((urgency_hits == 0 ||
                (strcmp(r.urgency, "critical") == 0 && !rules_critical)) &&
               r.urgency[0]) {
        /* Without an urgency model: the keyword rules (a critical keyword
         * of the models' table still counts). */
        kj_strlcpy(t->urgency, r.urgency, sizeof t->urgency);
        t->urgency_confidence = r.urgency_confidence;
    }
    t->actionable = r.actionable;
    t->actionable_confidence = r.actionable_confidence;
    kj_strlcpy(t->model, r.model, sizeof t->model);
}

kj_verdict_t
classifier_triage_process(void *ctx, kj_envelope_t *env, int64_t now_ms,
                          char *err, size_t err_size, int64_t *retry_at)
{
    classifier_triage_t *self = ctx;
    (void)now_ms;
    (void)err;
    (void)err_size;
    (void)retry_at;
    kj_complaint_t *c = &env->complaint;
    kj_triage_t *t = &env->triage;

    /* Subject and text are matched together; the newline keeps a keyword
     * from spanning the two. */
    size_t off = 0;
    self->folded[0] = '\0';
    if (c->subject[0]) {
        long n = kj_text_fold(c->subject, strlen(c->subject), self->folded,
                              sizeof self->folded - 1);
        if (n > 0) {
            off = (size_t)n;
            self->folded[off++] = '\n';
            self->folded[off] = '\0';
        }
    }
    long n = kj_text_fold(c->text, strlen(c->text), self->folded + off,
                          sizeof self->folded - off);
    if (n > 0)
        off += (size_t)n;

    /* A replayed record is triaged afresh. */
    memset(t, 0, sizeof *t);

    /* PII is masked on every path: nothing downstream stores personal
     * data, whether or not a model set is loaded. The subject is masked
     * too (its spans are not recorded: Triage.pii offsets are the text's). */
    size_t pii_total = 0;
    s_mask(self, c, t, &pii_total);
    classifier_pii_mask(c->subject, strlen(c->subject), self->masked_subject,
                        sizeof self->masked_subject, NULL, 0, NULL);

    size_t n_classes = classifier_keywords_classes(self->kw);
    memset(self->hits, 0, n_classes * sizeof *self->hits);
    classifier_keywords_match(self->kw, self->folded, off, self->hits);

    int hits = 0;
    const char *category =
        classifier_keywords_category(self->rules, self->hits, &hits);
    kj_strlcpy(t->category, category, sizeof t->category);
    t->category_confidence = hits > 0 ? s_confidence(hits) : 0.3f;
    int category_hits = hits;

    const char *urgency =
        classifier_keywords_urgency(self->rules, self->hits, &hits);
    kj_strlcpy(t->urgency, urgency, sizeof t->urgency);
    /* "normal" is the absence of a signal, as sure as one keyword. */
    t->urgency_confidence = hits > 0 ? s_confidence(hits) : 0.5f;

    if (self->models) {
        /* The models detect the language themselves (script counts, the
         * language model, keyword cues), so it is done once, there. */
        s_apply_models(self, env, off, pii_total, category_hits, hits);
        s_spam(self, env);
    } else {
        classifier_lang_t lang;
        classifier_lang_detect(self->folded, off, &lang);
        classifier_lang_apply_hint(&lang, c->lang_hint);
        kj_strlcpy(t->language, lang.language, sizeof t->language);
        t->language_confidence = lang.confidence;
        kj_strlcpy(t->model, "rules", sizeof t->model);
    }
    s_copy_utf8(t->masked_text, self->masked, sizeof t->masked_text);
    s_copy_utf8(c->text, self->masked, sizeof c->text);
    s_copy_utf8(c->subject, self->masked_subject, sizeof c->subject);
    /* Contact details live in the PII record only; an envelope from an
     * older ingest that still carries them is stored without. */
    c->customer.name[0] = '\0';
    c->customer.email[0] = '\0';
    env->has_triage = true;
    return KJ_VERDICT_DONE;
}
