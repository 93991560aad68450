/* classifier_triage: rules-based triage of one envelope. The folded text
 * lives in a buffer owned by the context, so the hot path allocates
 * nothing per message. */
#include "classifier_triage.h"

#include <stdlib.h>
#include <string.h>

#include "classifier_lang.h"
#include "kj_log.h"
#include "kj_text.h"
#include "kj_util.h"

/* Folding can grow text (NFKC expands some compatibility characters);
 * four times the largest subject + text covers real input, and anything
 * beyond is cut on a character boundary by kj_text_fold, which only means
 * a keyword at the very end of a pathological text is missed. */
#define S_FOLD_SIZE (4 * (KJ_SUBJECT_MAX + 1 + KJ_TEXT_MAX) + 1)

struct classifier_triage {
    char *rules_path;  /* reloaded from here on SIGHUP */
    kj_rules_t *rules; /* never NULL */
    char folded[S_FOLD_SIZE];
};

classifier_triage_t *
classifier_triage_new(const char *rules_path, char *err, size_t err_size)
{
    kj_rules_t *rules = kj_rules_load(rules_path, err, err_size);
    if (!rules)
        return NULL;
    classifier_triage_t *self = kj_calloc(1, sizeof *self);
    self->rules_path = kj_strdup(rules_path);
    self->rules = rules;
    return self;
}

void
classifier_triage_destroy(classifier_triage_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    classifier_triage_t *self = *self_p;
    kj_rules_destroy(&self->rules);
    free(self->rules_path);
    free(self);
    *self_p = NULL;
}

const kj_rules_t *
classifier_triage_rules(const classifier_triage_t *self)
{
    return self->rules;
}

int
classifier_triage_reload(void *ctx)
{
    classifier_triage_t *self = ctx;
    char err[512];
    kj_rules_t *rules = kj_rules_load(self->rules_path, err, sizeof err);
    if (!rules) {
        kj_error("rules reload failed, keeping the old rules", "s:path",
                 self->rules_path, "s:error", err);
        return -1;
    }
    kj_rules_destroy(&self->rules);
    self->rules = rules;
    kj_info("rules reloaded", "s:path", self->rules_path);
    return 0;
}

/* Keyword hits to a confidence: one hit is a fair guess, each more makes
 * it surer, and rules never claim certainty. */
static float
s_confidence(int hits)
{
    float c = 0.5f + 0.15f * (float)hits;
    return c > 0.95f ? 0.95f : c;
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
    const kj_complaint_t *c = &env->complaint;
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

    classifier_lang_t lang;
    classifier_lang_detect(self->folded, off, &lang);
    classifier_lang_apply_hint(&lang, c->lang_hint);
    kj_strlcpy(t->language, lang.language, sizeof t->language);
    t->language_confidence = lang.confidence;

    int hits = 0;
    const char *category = kj_rules_category(self->rules, self->folded, &hits);
    kj_strlcpy(t->category, category, sizeof t->category);
    t->category_confidence = hits > 0 ? s_confidence(hits) : 0.3f;

    const char *urgency = kj_rules_urgency(self->rules, self->folded, &hits);
    kj_strlcpy(t->urgency, urgency, sizeof t->urgency);
    /* "normal" is the absence of a signal, as sure as one keyword. */
    t->urgency_confidence = hits > 0 ? s_confidence(hits) : 0.5f;

    kj_strlcpy(t->model, "rules", sizeof t->model);
    env->has_triage = true;
    return KJ_VERDICT_DONE;
}
