/* classifier_models: load the model set named by models.json (models and
 * the keyword table, keywords.tsv) and triage one text with it: one
 * normalisation, features computed once per distinct feature setting,
 * every model for the text's language, and the keyword rules (hits from
 * classifier_keywords over the folded text) for language cues, urgency,
 * actionable and Japanese reasons. PII masking and folding are the
 * caller's (classifier_triage) or classifier_models_triage's.
 * The rules are described in classifier_models.h and models/README.md. */
#include "classifier_models.h"

#include "classifier_keywords.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_text.h"
#include "kj_util.h"

#define S_MODELS_JSON_MAX (1u << 20)
/* Features of this many distinct settings are kept per text. */
#define S_FEAT_SLOTS 2
/* classifier_models_triage folds at most CLASSIFIER_NORM_MAX_IN bytes;
 * folding can grow text, and kj_text_fold cuts what does not fit on a
 * character boundary. */
#define S_FOLD_SIZE (4 * CLASSIFIER_NORM_MAX_IN + 1)

enum { S_EN = 0, S_JA = 1, S_LANGS };

#define S_SPAM_CHANNELS 8 /* channels triage.spam may list */
#define S_SPAM_CHANNEL_LEN 32

/* The reason the Japanese keyword rules give when none matched. */
#define S_CANT_TELL "Can't Tell"

/* ---- the set ------------------------------------------------------- */

typedef struct {
    char name[48];
    classifier_model_t *model;
} s_entry_t;

struct classifier_models {
    s_entry_t entries[CLASSIFIER_MODELS_MAX]; /* every listed model */
    size_t n;
    const s_entry_t *language; /* ja / en model */
    int lang_idx[S_LANGS];     /* its en and ja labels */
    const s_entry_t *sentiment[S_LANGS];
    const s_entry_t *category[S_LANGS];
    const s_entry_t *urgency[S_LANGS];
    const s_entry_t *actionable[S_LANGS];
    const s_entry_t *reason[S_LANGS];
    const s_entry_t *intent[S_LANGS];
    /* Per language, the union of the feature ranges of its models that
     * share the first one's normaliser flags and hash bits: extracted
     * once per text, it serves them all. */
    classifier_feat_config_t ucfg[S_LANGS];
    unsigned uflags[S_LANGS];
    bool uvalid[S_LANGS];
    /* Per language, the models that read the same features merged into
     * one row table (classifier_model_group_t), and which they are. */
    classifier_model_group_t *group[S_LANGS];
    const s_entry_t *gmember[S_LANGS][CLASSIFIER_GROUP_MAX];
    classifier_keywords_t *kw; /* the keyword table (models.json "keywords") */
    char id[40];               /* "kujo-models:<hex>" */
    /* triage.spam: the model (NULL: none), P(spam) from which a complaint
     * is spam, and the channels and languages it is applied to. */
    const s_entry_t *spam;
    float spam_threshold;
    char spam_channels[S_SPAM_CHANNELS][S_SPAM_CHANNEL_LEN];
    size_t n_spam_channels;
    bool spam_lang[S_LANGS + 1]; /* en, ja, and "other" last */
};

typedef struct {
    bool valid;                   /* holds this text's features */
    unsigned flags;               /* normaliser flags they came from */
    classifier_feat_config_t cfg; /* feature setting */
    classifier_feats_t *feats;
} s_slot_t;

struct classifier_scratch {
    char *fold;              /* classifier_models_triage's folded text */
    classifier_norm_t *norm; /* the current normalisation */
    unsigned norm_flags;     /* its flags */
    bool norm_valid;
    s_slot_t slots[S_FEAT_SLOTS]; /* features per distinct setting */
    unsigned next_slot;           /* round-robin victim */
    /* The text's logits of its language's group, computed once. */
    bool gvalid;
    float glogits[CLASSIFIER_GROUP_MAX][16];
};

classifier_scratch_t *
classifier_scratch_new(void)
{
    classifier_scratch_t *self = kj_calloc(1, sizeof(*self));
    self->fold = kj_malloc(S_FOLD_SIZE);
    self->norm = classifier_norm_new();
    for (int i = 0; i < S_FEAT_SLOTS; i++)
        self->slots[i].feats = classifier_feats_new();
    return self;
}

void
classifier_scratch_destroy(classifier_scratch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    classifier_scratch_t *self = *self_p;
    classifier_norm_destroy(&self->norm);
    for (int i = 0; i < S_FEAT_SLOTS; i++)
        classifier_feats_destroy(&self->slots[i].feats);
    free(self->fold);
    free(self);
    *self_p = NULL;
}

void
classifier_models_destroy(classifier_models_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    classifier_models_t *self = *self_p;
    for (int l = 0; l < S_LANGS; l++)
        classifier_model_group_destroy(&self->group[l]);
    for (size_t i = 0; i < self->n; i++)
        classifier_model_destroy(&self->entries[i].model);
    classifier_keywords_destroy(&self->kw);
    free(self);
    *self_p = NULL;
}

static const s_entry_t *
s_find(const classifier_models_t *self, const char *name)
{
    for (size_t i = 0; i < self->n; i++)
        if (strcmp(self->entries[i].name, name) == 0)
            return &self->entries[i];
    return NULL;
}

/* Resolve triage.<task> ({"en": name, "ja": name}) into out[]. */
static int
s_resolve(classifier_models_t *self, json_t *triage, const char *task,
          const s_entry_t **out, char *err, size_t err_size)
{
    json_t *obj = json_object_get(triage, task);
    if (!obj)
        return 0;
    if (!json_is_object(obj)) {
        snprintf(err, err_size,
                 "models.json: triage.%s must be an object of language -> "
                 "model name",
                 task);
        return -1;
    }
    const char *lang;
    json_t *v;
    json_object_foreach(obj, lang, v)
    {
        int li = strcmp(lang, "en") == 0   ? S_EN
                 : strcmp(lang, "ja") == 0 ? S_JA
                                           : -1;
        if (li < 0 || !json_is_string(v)) {
            snprintf(err, err_size,
                     "models.json: triage.%s.%s: languages are en and ja, "
                     "values model names",
                     task, lang);
            return -1;
        }
        const s_entry_t *e = s_find(self, json_string_value(v));
        if (!e) {
            snprintf(err, err_size,
                     "models.json: triage.%s.%s names unknown model \"%s\"",
                     task, lang, json_string_value(v));
            return -1;
        }
        if (strcmp(classifier_model_task(e->model), task) != 0) {
            snprintf(err, err_size,
                     "models.json: triage.%s.%s: model \"%s\" is for task "
                     "\"%s\"",
                     task, lang, e->name, classifier_model_task(e->model));
            return -1;
        }
        out[li] = e;
    }
    return 0;
}

static int
s_load_entry(classifier_models_t *self, const char *dir, json_t *m, size_t idx,
             char *err, size_t err_size)
{
    json_t *name = json_object_get(m, "name");
    json_t *file = json_object_get(m, "file");
    json_t *task = json_object_get(m, "task");
    if (!json_is_string(name) || !json_is_string(file) ||
        !json_is_string(task)) {
        snprintf(err, err_size,
                 "models.json: models[%zu] needs string name, file and task",
                 idx);
        return -1;
    }
    const char *nm = json_string_value(name);
    const char *fl = json_string_value(file);
    if (strlen(nm) == 0 || strlen(nm) >= sizeof(self->entries[0].name) ||
        s_find(self, nm)) {
        snprintf(err, err_size,
                 "models.json: models[%zu]: name empty, too long or repeated",
                 idx);
        return -1;
    }
    /* Files live in dir itself: no paths that climb out of it. */
    if (strchr(fl, '/') || fl[0] == '.') {
        snprintf(err, err_size,
                 "models.json: model \"%s\": file must be a plain file name",
                 nm);
        return -1;
    }
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, fl) >=
        sizeof(path)) {
        snprintf(err, err_size, "models.json: model \"%s\": path too long", nm);
        return -1;
    }
    char merr[512];
    classifier_model_t *model = classifier_model_load(
        path, json_string_value(task), merr, sizeof(merr));
    if (!model) {
        snprintf(err, err_size, "models.json: model \"%s\": %s", nm, merr);
        return -1;
    }
    s_entry_t *e = &self->entries[self->n++];
    kj_strlcpy(e->name, nm, sizeof(e->name));
    e->model = model;
    return 0;
}

static int
s_check_labels(const s_entry_t *e, const char *const *need, size_t n, char *err,
               size_t err_size);

/* triage.spam: {"model": name, "threshold": P, "channels": [...],
 * "languages": [...]}; absent means no spam verdicts. */
static int
s_resolve_spam(classifier_models_t *self, json_t *triage, char *err,
               size_t err_size)
{
    json_t *o = json_object_get(triage, "spam");
    if (!o)
        return 0;
    json_t *model = json_object_get(o, "model");
    json_t *thr = json_object_get(o, "threshold");
    json_t *chans = json_object_get(o, "channels");
    json_t *langs = json_object_get(o, "languages");
    if (!json_is_object(o) || !json_is_string(model) || !json_is_number(thr) ||
        !json_is_array(chans) || json_array_size(chans) == 0 ||
        json_array_size(chans) > S_SPAM_CHANNELS || !json_is_array(langs) ||
        json_array_size(langs) == 0) {
        snprintf(err, err_size,
                 "models.json: triage.spam must be {\"model\": name, "
                 "\"threshold\": 0..1, \"channels\": [1..%d names], "
                 "\"languages\": [en, ja and/or other]}",
                 S_SPAM_CHANNELS);
        return -1;
    }
    self->spam = s_find(self, json_string_value(model));
    if (!self->spam ||
        strcmp(classifier_model_task(self->spam->model), "spam")) {
        snprintf(err, err_size,
                 "models.json: triage.spam.model must name a model of task "
                 "spam");
        return -1;
    }
    static const char *const spam_labels[] = {"ham", "spam"};
    if (s_check_labels(self->spam, spam_labels, 2, err, err_size) < 0)
        return -1;
    double t = json_number_value(thr);
    if (!(t > 0 && t <= 1)) {
        snprintf(err, err_size,
                 "models.json: triage.spam.threshold must be "
                 "in (0, 1]");
        return -1;
    }
    self->spam_threshold = (float)t;
    size_t i;
    json_t *v;
    json_array_foreach(chans, i, v)
    {
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            json_string_length(v) >= S_SPAM_CHANNEL_LEN) {
            snprintf(err, err_size,
                     "models.json: triage.spam.channels: names of 1..%d bytes",
                     S_SPAM_CHANNEL_LEN - 1);
            return -1;
        }
        kj_strlcpy(self->spam_channels[self->n_spam_channels++],
                   json_string_value(v), S_SPAM_CHANNEL_LEN);
    }
    json_array_foreach(langs, i, v)
    {
        const char *l = json_is_string(v) ? json_string_value(v) : "";
        if (strcmp(l, "en") == 0)
            self->spam_lang[S_EN] = true;
        else if (strcmp(l, "ja") == 0)
            self->spam_lang[S_JA] = true;
        else if (strcmp(l, "other") == 0)
            self->spam_lang[S_LANGS] = true;
        else {
            snprintf(err, err_size,
                     "models.json: triage.spam.languages: "
                     "languages are en, ja and other");
            return -1;
        }
    }
    return 0;
}

/* Labels a role needs, so that a wrong file fails at load, not later. */
static int
s_check_labels(const s_entry_t *e, const char *const *need, size_t n, char *err,
               size_t err_size)
{
    for (size_t i = 0; i < n; i++) {
        if (classifier_model_label_index(e->model, need[i]) < 0) {
            snprintf(err, err_size,
                     "models.json: model \"%s\" has no label \"%s\"", e->name,
                     need[i]);
            return -1;
        }
    }
    return 0;
}

/* The keyword table models.json names ("keywords": "keywords.tsv"). Its
 * reason labels must be labels of the English reason model, so that the
 * rules file's model_labels map both languages the same way. */
static int
s_load_keywords(classifier_models_t *self, const char *dir, json_t *root,
                const char *json_path, char *err, size_t err_size)
{
    json_t *v = json_object_get(root, "keywords");
    const char *file = json_is_string(v) ? json_string_value(v) : NULL;
    /* Files live in dir itself: no paths that climb out of it. */
    if (!file || !file[0] || strchr(file, '/') || file[0] == '.') {
        snprintf(err, err_size,
                 "%s: \"keywords\" must name the keyword table, a plain file "
                 "name in the same directory",
                 json_path);
        return -1;
    }
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >=
        sizeof(path)) {
        snprintf(err, err_size, "%s: keywords: path too long", json_path);
        return -1;
    }
    self->kw = classifier_keywords_load(path, err, err_size);
    if (!self->kw)
        return -1;
    const s_entry_t *reason = self->reason[S_EN];
    for (size_t i = 0; reason && i < classifier_keywords_n_reasons(self->kw);
         i++) {
        const char *label = classifier_keywords_reason(self->kw, i);
        if (classifier_model_label_index(reason->model, label) < 0) {
            snprintf(err, err_size,
                     "%s: reason label \"%s\" is not a label of model \"%s\"",
                     path, label, reason->name);
            return -1;
        }
    }
    return 0;
}

/* A set is named by its directory (dir/models.json) or by its JSON file
 * (models/models-nc.json), whose directory holds the model files. */
static int
s_locate(const char *where, char *dir, size_t dir_size, char *path,
         size_t path_size)
{
    size_t n = strlen(where);
    if (n >= 5 && strcmp(where + n - 5, ".json") == 0) {
        const char *slash = strrchr(where, '/');
        size_t dl = slash ? (size_t)(slash - where) : 0;
        if (n + 1 > path_size || dl + 2 > dir_size)
            return -1;
        memcpy(path, where, n + 1);
        if (slash) {
            memcpy(dir, where, dl ? dl : 1);
            dir[dl ? dl : 1] = '\0';
        } else {
            kj_strlcpy(dir, ".", dir_size);
        }
        return 0;
    }
    if ((size_t)snprintf(path, path_size, "%s/models.json", where) >=
            path_size ||
        kj_strlcpy(dir, where, dir_size) >= dir_size)
        return -1;
    return 0;
}

static bool
s_same_features(const classifier_model_t *a, const classifier_model_t *b)
{
    const classifier_feat_config_t *x = classifier_model_feat_config(a);
    const classifier_feat_config_t *y = classifier_model_feat_config(b);
    return classifier_model_norm_flags(a) == classifier_model_norm_flags(b) &&
           x->hash_bits == y->hash_bits && x->word_min == y->word_min &&
           x->word_max == y->word_max && x->char_min == y->char_min &&
           x->char_max == y->char_max;
}

/* Per language, merge the triage models that read the same features as
 * the first of them into one group (one lookup per feature for all). */
static void
s_build_groups(classifier_models_t *self)
{
    for (int l = 0; l < S_LANGS; l++) {
        const s_entry_t *cand[] = {self->sentiment[l], self->category[l],
                                   self->urgency[l],   self->actionable[l],
                                   self->reason[l],    self->intent[l]};
        const classifier_model_t *ms[CLASSIFIER_GROUP_MAX];
        size_t n = 0;
        for (size_t i = 0; i < KJ_ARRAY_LEN(cand); i++) {
            const s_entry_t *e = cand[i];
            if (!e || n == CLASSIFIER_GROUP_MAX ||
                classifier_model_n_labels(e->model) > 16 ||
                (n > 0 && !s_same_features(ms[0], e->model)))
                continue;
            bool dup = false;
            for (size_t j = 0; j < n; j++)
                dup = dup || self->gmember[l][j] == e;
            if (dup)
                continue;
            self->gmember[l][n] = e;
            ms[n++] = e->model;
        }
        /* A group of one gains nothing. */
        if (n >= 2)
            self->group[l] = classifier_model_group_new(ms, n);
        if (!self->group[l])
            memset(self->gmember[l], 0, sizeof(self->gmember[l]));
    }
}

classifier_models_t *
classifier_models_load(const char *where, char *err, size_t err_size)
{
    classifier_models_t *self = kj_calloc(1, sizeof(*self));
    json_t *root = NULL;
    char path[4096], dir[4096];
    if (s_locate(where, dir, sizeof(dir), path, sizeof(path)) < 0) {
        snprintf(err, err_size, "%s: path too long", where);
        goto fail;
    }
    json_error_t jerr;
    root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, err_size, "%s: line %d: %s", path, jerr.line, jerr.text);
        goto fail;
    }
    json_t *ver = json_object_get(root, "version");
    if (!json_is_integer(ver) || json_integer_value(ver) != 1) {
        snprintf(err, err_size, "%s: \"version\" must be 1", path);
        goto fail;
    }
    json_t *models = json_object_get(root, "models");
    if (!json_is_array(models) || json_array_size(models) == 0 ||
        json_array_size(models) > CLASSIFIER_MODELS_MAX) {
        snprintf(err, err_size, "%s: \"models\" must list 1..%d models", path,
                 CLASSIFIER_MODELS_MAX);
        goto fail;
    }
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m)
    {
        if (s_load_entry(self, dir, m, i, err, err_size) < 0)
            goto fail;
    }
    json_t *triage = json_object_get(root, "triage");
    json_t *lang = json_object_get(triage, "language");
    if (!json_is_object(triage) || !json_is_string(lang)) {
        snprintf(err, err_size,
                 "%s: \"triage\" must name at least the \"language\" model",
                 path);
        goto fail;
    }
    self->language = s_find(self, json_string_value(lang));
    if (!self->language ||
        strcmp(classifier_model_task(self->language->model), "language")) {
        snprintf(err, err_size,
                 "%s: triage.language must name a model of task language",
                 path);
        goto fail;
    }
    static const char *const lang_labels[] = {"en", "ja"};
    if (s_check_labels(self->language, lang_labels, 2, err, err_size) < 0)
        goto fail;
    self->lang_idx[S_EN] =
        classifier_model_label_index(self->language->model, "en");
    self->lang_idx[S_JA] =
        classifier_model_label_index(self->language->model, "ja");
    if (s_resolve(self, triage, "sentiment", self->sentiment, err, err_size) <
            0 ||
        s_resolve(self, triage, "category", self->category, err, err_size) <
            0 ||
        s_resolve(self, triage, "urgency", self->urgency, err, err_size) < 0 ||
        s_resolve(self, triage, "actionable", self->actionable, err, err_size) <
            0 ||
        s_resolve(self, triage, "reason", self->reason, err, err_size) < 0 ||
        s_resolve(self, triage, "intent", self->intent, err, err_size) < 0 ||
        s_resolve_spam(self, triage, err, err_size) < 0)
        goto fail;
    static const char *const sent_labels[] = {"negative", "positive"};
    static const char *const urg_labels[] = {"low", "normal", "high",
                                             "critical"};
    static const char *const act_labels[] = {"false", "true"};
    for (int l = 0; l < S_LANGS; l++)
        if ((self->sentiment[l] &&
             s_check_labels(self->sentiment[l], sent_labels, 2, err, err_size) <
                 0) ||
            (self->urgency[l] && s_check_labels(self->urgency[l], urg_labels, 4,
                                                err, err_size) < 0) ||
            (self->actionable[l] &&
             s_check_labels(self->actionable[l], act_labels, 2, err, err_size) <
                 0))
            goto fail;
    for (int l = 0; l < S_LANGS; l++) {
        const s_entry_t *group[] = {self->sentiment[l], self->category[l],
                                    self->urgency[l],   self->actionable[l],
                                    self->reason[l],    self->intent[l]};
        for (size_t g = 0; g < KJ_ARRAY_LEN(group); g++) {
            if (!group[g])
                continue;
            const classifier_model_t *gm = group[g]->model;
            const classifier_feat_config_t *c =
                classifier_model_feat_config(gm);
            if (!self->uvalid[l]) {
                self->uvalid[l] = true;
                self->uflags[l] = classifier_model_norm_flags(gm);
                self->ucfg[l] = *c;
            } else if (classifier_model_norm_flags(gm) == self->uflags[l] &&
                       c->hash_bits == self->ucfg[l].hash_bits) {
                self->ucfg[l] = classifier_feat_config_union(&self->ucfg[l], c);
            }
        }
    }
    s_build_groups(self);
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t k = 0; k < self->n; k++) {
        h ^= classifier_model_checksum(self->entries[k].model);
        h *= 0x100000001b3ULL;
    }
    snprintf(self->id, sizeof(self->id), "kujo-models:%016llx",
             (unsigned long long)h);
    if (s_load_keywords(self, dir, root, path, err, err_size) < 0)
        goto fail;
    json_decref(root);
    return self;
fail:
    json_decref(root);
    classifier_models_destroy(&self);
    return NULL;
}

const char *
classifier_models_id(const classifier_models_t *self)
{
    return self->id;
}

size_t
classifier_models_count(const classifier_models_t *self)
{
    return self->n;
}

const classifier_model_t *
classifier_models_get(const classifier_models_t *self, size_t i,
                      const char **name)
{
    if (i >= self->n)
        return NULL;
    if (name)
        *name = self->entries[i].name;
    return self->entries[i].model;
}

/* ---- triage -------------------------------------------------------- */

/* Normalise the text with flags unless it already is. */
static void
s_normalise(classifier_scratch_t *s, const char *text, size_t len,
            unsigned flags)
{
    if (s->norm_valid && s->norm_flags == flags)
        return;
    classifier_norm_run(s->norm, text, len, flags);
    s->norm_flags = flags;
    s->norm_valid = true;
    for (int i = 0; i < S_FEAT_SLOTS; i++)
        s->slots[i].valid = false;
}

static bool
s_cfg_eq(const classifier_feat_config_t *a, const classifier_feat_config_t *b)
{
    return a->hash_bits == b->hash_bits && a->word_min == b->word_min &&
           a->word_max == b->word_max && a->char_min == b->char_min &&
           a->char_max == b->char_max;
}

/* The text's features for model m, reusing those of an equal setting.
 * They are extracted with ucfg (a superset of the model's ranges with the
 * same hash bits) when it is not NULL. */
static const classifier_feat_t *
s_items(classifier_scratch_t *s, const classifier_model_t *m,
        const classifier_feat_config_t *ucfg, const char *text, size_t len,
        size_t *n)
{
    unsigned flags = classifier_model_norm_flags(m);
    const classifier_feat_config_t *cfg =
        ucfg ? ucfg : classifier_model_feat_config(m);
    s_normalise(s, text, len, flags);
    s_slot_t *slot = NULL;
    for (int i = 0; i < S_FEAT_SLOTS; i++) {
        if (s->slots[i].valid && s->slots[i].flags == flags &&
            s_cfg_eq(&s->slots[i].cfg, cfg)) {
            slot = &s->slots[i];
            break;
        }
    }
    if (!slot) {
        slot = &s->slots[s->next_slot];
        s->next_slot = (s->next_slot + 1) % S_FEAT_SLOTS;
        size_t ncp;
        const int32_t *cps = classifier_norm_codepoints(s->norm, &ncp);
        classifier_feats_extract(slot->feats, cfg, cps, ncp);
        slot->valid = true;
        slot->flags = flags;
        slot->cfg = *cfg;
    }
    return classifier_feats_items(slot->feats, n);
}

/* Run one model on the text (features as s_items). */
static int
s_predict(classifier_scratch_t *s, const classifier_model_t *m,
          const classifier_feat_config_t *ucfg, const char *text, size_t len,
          float *probs)
{
    size_t n;
    const classifier_feat_t *items = s_items(s, m, ucfg, text, len, &n);
    return classifier_model_predict(m, items, n, probs);
}

static const classifier_feat_config_t *
s_group(const classifier_models_t *self, int lang, const classifier_model_t *m);

/* Probabilities of entry e for the text: from the language's merged group
 * when e is in it (its logits computed once per text for all members),
 * else the model alone. Returns the best label's index. */
static int
s_probs(const classifier_models_t *self, classifier_scratch_t *s, int lang,
        const s_entry_t *e, const char *text, size_t len, float *probs)
{
    const classifier_model_group_t *g = lang >= 0 ? self->group[lang] : NULL;
    size_t gi = CLASSIFIER_GROUP_MAX;
    for (size_t i = 0; g && i < classifier_model_group_size(g); i++)
        if (self->gmember[lang][i] == e)
            gi = i;
    if (gi == CLASSIFIER_GROUP_MAX)
        return s_predict(s, e->model, s_group(self, lang, e->model), text, len,
                         probs);
    if (!s->gvalid) {
        /* The features (shared with every model of the language). */
        const classifier_model_t *m0 = self->gmember[lang][0]->model;
        size_t n;
        const classifier_feat_t *items =
            s_items(s, m0, s_group(self, lang, m0), text, len, &n);
        float *rows[CLASSIFIER_GROUP_MAX];
        for (size_t i = 0; i < CLASSIFIER_GROUP_MAX; i++)
            rows[i] = s->glogits[i];
        classifier_model_group_logits(g, items, n, rows);
        s->gvalid = true;
    }
    const classifier_model_t *m = e->model;
    uint32_t k = classifier_model_n_labels(m);
    classifier_softmax(s->glogits[gi], k, classifier_model_temperature(m),
                       probs);
    int best = 0;
    for (uint32_t i = 1; i < k; i++)
        if (probs[i] > probs[best])
            best = (int)i;
    return best;
}

/* The shared extraction setting for a model of language lang, or NULL
 * if the model does not belong to the language's group. */
static const classifier_feat_config_t *
s_group(const classifier_models_t *self, int lang, const classifier_model_t *m)
{
    if (lang < 0 || !self->uvalid[lang] ||
        classifier_model_norm_flags(m) != self->uflags[lang] ||
        classifier_model_feat_config(m)->hash_bits !=
            self->ucfg[lang].hash_bits)
        return NULL;
    return &self->ucfg[lang];
}

static float
s_prob_of(const classifier_model_t *m, const float *probs, const char *label)
{
    int i = classifier_model_label_index(m, label);
    return i >= 0 ? probs[i] : 0.0f;
}

static float
s_clamp(float x, float lo, float hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

/* What the script counts of a text say. */
typedef struct {
    int latin, han, kana, foreign, letters; /* letter counts */
    int words;                              /* whitespace-separated tokens */
    bool question;                          /* has ? */
    bool number;                            /* has a number placeholder */
} s_shape_t;

static void
s_shape(const int32_t *cps, size_t n, s_shape_t *sh)
{
    memset(sh, 0, sizeof(*sh));
    bool in_word = false;
    for (size_t i = 0; i < n; i++) {
        int32_t c = cps[i];
        if (c == ' ') {
            in_word = false;
            continue;
        }
        if (!in_word)
            sh->words++;
        in_word = true;
        if (c == '?')
            sh->question = true;
        if (c == '0' && (i == 0 || cps[i - 1] < '0' || cps[i - 1] > '9'))
            sh->number = true;
        switch (classifier_script(c)) {
        case CLASSIFIER_SCRIPT_NONE:
            break;
        case CLASSIFIER_SCRIPT_LATIN:
            sh->latin++;
            sh->letters++;
            break;
        case CLASSIFIER_SCRIPT_HAN:
            sh->han++;
            sh->letters++;
            break;
        case CLASSIFIER_SCRIPT_HIRAGANA:
        case CLASSIFIER_SCRIPT_KATAKANA:
            sh->kana++;
            sh->letters++;
            break;
        default:
            sh->foreign++;
            sh->letters++;
            break;
        }
    }
}

/* ja or en from a hint such as "ja-JP"; -1 if none. */
static int
s_hint(const char *hint)
{
    if (!hint)
        return -1;
    if ((hint[0] == 'j' || hint[0] == 'J') &&
        (hint[1] == 'a' || hint[1] == 'A') &&
        (hint[2] == '\0' || hint[2] == '-' || hint[2] == '_'))
        return S_JA;
    if ((hint[0] == 'e' || hint[0] == 'E') &&
        (hint[1] == 'n' || hint[1] == 'N') &&
        (hint[2] == '\0' || hint[2] == '-' || hint[2] == '_'))
        return S_EN;
    return -1;
}

static const char *const s_lang_names[] = {"en", "ja"};

/* Language: S_EN, S_JA or -1 for other; *conf its confidence. */
static int
s_language(const classifier_models_t *self, classifier_scratch_t *s,
           const char *text, size_t len, const s_shape_t *sh, const int *kw,
           const char *hint, float *conf)
{
    int h = s_hint(hint);
    if (sh->letters == 0) {
        *conf = h >= 0 ? 0.5f : 0.34f;
        return h;
    }
    if (sh->foreign * 2 > sh->letters) {
        *conf = s_clamp((float)sh->foreign / (float)sh->letters, 0.5f, 0.99f);
        return -1;
    }
    /* Long Han text with no kana at all is Chinese, not Japanese. */
    if (sh->kana == 0 && sh->han >= 8 && sh->han * 2 > sh->letters) {
        *conf = 0.7f;
        return -1;
    }
    int jp = sh->kana + sh->han;
    int lang;
    float c;
    if (jp == 0) {
        /* No Japanese letters at all: English unless its function words
         * say it is another European language. */
        if (sh->latin * 2 > sh->letters && kw[CLASSIFIER_KW_OTHER_CUE] >= 2 &&
            kw[CLASSIFIER_KW_OTHER_CUE] > kw[CLASSIFIER_KW_EN_CUE]) {
            int tot = kw[CLASSIFIER_KW_OTHER_CUE] + kw[CLASSIFIER_KW_EN_CUE];
            *conf = s_clamp(0.5f + 0.5f *
                                       (float)(kw[CLASSIFIER_KW_OTHER_CUE] -
                                               kw[CLASSIFIER_KW_EN_CUE]) /
                                       (float)tot,
                            0.5f, 0.95f);
            return -1;
        }
        lang = S_EN;
        c = sh->latin >= 4 ? 0.95f : 0.75f;
    } else if (sh->latin == 0) {
        lang = S_JA;
        c = sh->kana > 0 ? 0.95f : 0.8f;
    } else {
        /* Mixed scripts: the model weighs them. */
        float probs[CLASSIFIER_MODEL_MAX_LABELS];
        s_predict(s, self->language->model, NULL, text, len, probs);
        float pen = probs[self->lang_idx[S_EN]];
        float pja = probs[self->lang_idx[S_JA]];
        lang = pja > pen ? S_JA : S_EN;
        c = (lang == S_JA ? pja : pen) / (pja + pen > 0 ? pja + pen : 1);
    }
    if (c < 0.6f && h >= 0) {
        *conf = 0.6f;
        return h;
    }
    *conf = c;
    return lang;
}

static void
s_sentiment(const classifier_models_t *self, classifier_scratch_t *s,
            const char *text, size_t len, int lang, classifier_result_t *out,
            float *p_neg, float *p_pos)
{
    const s_entry_t *e = lang >= 0 ? self->sentiment[lang] : NULL;
    if (!e) {
        kj_strlcpy(out->sentiment, "neutral", sizeof(out->sentiment));
        out->sentiment_score = 0;
        out->sentiment_confidence = 1.0f / 3;
        *p_neg = *p_pos = 1.0f / 3;
        return;
    }
    float probs[CLASSIFIER_MODEL_MAX_LABELS];
    s_probs(self, s, lang, e, text, len, probs);
    float neg = s_prob_of(e->model, probs, "negative");
    float pos = s_prob_of(e->model, probs, "positive");
    /* Everything else (neutral, chABSA's mixed) is neutral. */
    float neu = 1.0f - neg - pos;
    if (neu < 0)
        neu = 0;
    const char *label = "neutral";
    float conf = neu;
    if (neg >= pos && neg >= neu) {
        label = "negative";
        conf = neg;
    } else if (pos >= neg && pos >= neu) {
        label = "positive";
        conf = pos;
    }
    kj_strlcpy(out->sentiment, label, sizeof(out->sentiment));
    out->sentiment_score = s_clamp(pos - neg, -1.0f, 1.0f);
    out->sentiment_confidence = conf;
    *p_neg = neg;
    *p_pos = pos;
}

static void
s_top_label(const classifier_models_t *self, classifier_scratch_t *s, int lang,
            const s_entry_t *e, const char *text, size_t len, char *label,
            size_t label_size, float *conf)
{
    float probs[CLASSIFIER_MODEL_MAX_LABELS];
    int best = s_probs(self, s, lang, e, text, len, probs);
    kj_strlcpy(label, classifier_model_label(e->model, (uint32_t)best),
               label_size);
    *conf = probs[best];
}

static void
s_reason(const classifier_models_t *self, classifier_scratch_t *s,
         const char *text, size_t len, int lang, const int *kw,
         classifier_result_t *out)
{
    const s_entry_t *e = lang >= 0 ? self->reason[lang] : NULL;
    if (e) {
        s_top_label(self, s, lang, e, text, len, out->reason,
                    sizeof(out->reason), &out->reason_confidence);
        kj_strlcpy(out->reason_model, e->name, sizeof(out->reason_model));
        return;
    }
    /* The Japanese keyword rules answer the English reason model's
     * labels, so they run only beside one. */
    if (lang != S_JA || !self->reason[S_EN])
        return;
    /* Japanese keyword rules: the reason with most hits (ties: the first
     * in the keyword file, which lists concrete reasons before the broad
     * "Customer Service Issue" and "Bad Flight"). */
    int best = -1, hits = 0;
    for (size_t r = 0; r < classifier_keywords_n_reasons(self->kw); r++) {
        if (kw[CLASSIFIER_KW_REASON + r] > hits) {
            hits = kw[CLASSIFIER_KW_REASON + r];
            best = (int)r;
        }
    }
    if (best < 0) {
        kj_strlcpy(out->reason, S_CANT_TELL, sizeof(out->reason));
        out->reason_confidence = 0.3f;
    } else {
        kj_strlcpy(out->reason,
                   classifier_keywords_reason(self->kw, (size_t)best),
                   sizeof(out->reason));
        out->reason_confidence =
            s_clamp(0.4f + 0.15f * (float)hits, 0.4f, 0.75f);
    }
    kj_strlcpy(out->reason_model, "rules:reason-ja", sizeof(out->reason_model));
}

/* Actionable and urgency from keyword hits and model outputs. */
static void
s_rules(const s_shape_t *sh, const int *kw, float p_neg, float p_pos,
        classifier_result_t *out)
{
    int specific = kw[CLASSIFIER_KW_SPECIFIC] + (sh->number ? 1 : 0) +
                   (out->pii_total > 0 ? 1 : 0) +
                   (out->reason[0] && strcmp(out->reason, S_CANT_TELL) &&
                            out->reason_confidence >= 0.5f
                        ? 1
                        : 0) +
                   (out->intent[0] && out->intent_confidence >= 0.5f ? 1 : 0);
    if (specific > 4)
        specific = 4;
    int abuse = kw[CLASSIFIER_KW_ABUSE] > 3 ? 3 : kw[CLASSIFIER_KW_ABUSE];
    /* Japanese has no spaces: count roughly three characters a word. */
    int words = sh->words;
    if (sh->kana + sh->han > sh->latin)
        words = (sh->kana + sh->han) / 3;
    float score = 0.35f + 0.15f * (float)specific;
    score -= (specific == 0 ? 0.2f : 0.05f) * (float)abuse;
    if (words < 4)
        score -= 0.15f;
    if (specific == 0 && p_pos >= 0.6f)
        score -= 0.2f;
    if (sh->question)
        score += 0.1f;
    out->actionable = score >= 0.5f;
    out->actionable_confidence = s_clamp(
        0.5f + (score >= 0.5f ? score - 0.5f : 0.5f - score), 0.5f, 0.95f);

    int crit = kw[CLASSIFIER_KW_CRITICAL], high = kw[CLASSIFIER_KW_HIGH];
    const char *level;
    float conf;
    if (crit > 0) {
        level = "critical";
        conf = s_clamp(0.6f + 0.1f * (float)crit, 0.6f, 0.9f);
    } else if ((high > 0 && p_neg >= 0.5f) || high >= 2) {
        level = "high";
        conf = s_clamp(0.55f + 0.1f * (float)high * p_neg, 0.55f, 0.85f);
    } else if (p_neg >= 0.9f && out->actionable && specific >= 2) {
        level = "high";
        conf = 0.55f;
    } else if (high == 0 && (p_pos >= 0.6f || !out->actionable)) {
        level = "low";
        conf = kw[CLASSIFIER_KW_LOW] > 0 || p_pos >= 0.8f ? 0.7f : 0.6f;
    } else {
        level = "normal";
        conf = 0.6f;
    }
    kj_strlcpy(out->urgency, level, sizeof(out->urgency));
    out->urgency_confidence = conf;
}

/* Category, urgency and actionable from the language's models, where the
 * set has them; urgency and actionable replace the keyword rules' guess
 * (a critical keyword still makes a text critical: those words name a
 * legal threat, an injury or fraud, which the care guide always treats
 * as critical, and a model trained on a few hundred examples can miss a
 * rare one). */
static void
s_models(const classifier_models_t *self, classifier_scratch_t *s,
         const char *text, size_t len, int lang, const int *kw,
         classifier_result_t *out)
{
    if (lang < 0)
        return;
    const s_entry_t *e = self->category[lang];
    if (e) {
        s_top_label(self, s, lang, e, text, len, out->category,
                    sizeof(out->category), &out->category_confidence);
        kj_strlcpy(out->category_model, e->name, sizeof(out->category_model));
    }
    e = self->urgency[lang];
    if (e) {
        s_top_label(self, s, lang, e, text, len, out->urgency,
                    sizeof(out->urgency), &out->urgency_confidence);
        out->urgency_from_model = true;
        if (kw[CLASSIFIER_KW_CRITICAL] > 0 &&
            strcmp(out->urgency, "critical") != 0) {
            kj_strlcpy(out->urgency, "critical", sizeof(out->urgency));
            out->urgency_confidence = s_clamp(
                0.6f + 0.1f * (float)kw[CLASSIFIER_KW_CRITICAL], 0.6f, 0.9f);
            out->urgency_from_model = false;
        }
    }
    e = self->actionable[lang];
    if (e) {
        char label[CLASSIFIER_MODEL_LABEL_MAX];
        s_top_label(self, s, lang, e, text, len, label, sizeof(label),
                    &out->actionable_confidence);
        out->actionable = strcmp(label, "true") == 0;
        out->actionable_from_model = true;
    }
}

void
classifier_models_run(const classifier_models_t *self, classifier_scratch_t *s,
                      const char *text, size_t len, const char *folded,
                      size_t folded_len, const char *lang_hint,
                      classifier_result_t *out)
{
    if (!text)
        len = 0;
    kj_strlcpy(out->model, self->id, sizeof(out->model));

    /* One normalisation serves every model that uses the same flags (all
     * shipped ones do) and the script counts. */
    s->norm_valid = false;
    s->gvalid = false;
    s_normalise(s, text, len, CLASSIFIER_NORM_ALL);
    size_t ncp;
    const int32_t *cps = classifier_norm_codepoints(s->norm, &ncp);
    s_shape_t sh;
    s_shape(cps, ncp, &sh);
    int kw[CLASSIFIER_KW_CLASSES_MAX];
    memset(kw, 0, sizeof(kw));
    classifier_keywords_match(self->kw, folded, folded_len, kw);

    float lconf;
    int lang = s_language(self, s, text, len, &sh, kw, lang_hint, &lconf);
    kj_strlcpy(out->language, lang >= 0 ? s_lang_names[lang] : "other",
               sizeof(out->language));
    out->language_confidence = lconf;

    float p_neg, p_pos;
    s_sentiment(self, s, text, len, lang, out, &p_neg, &p_pos);
    s_reason(self, s, text, len, lang, kw, out);
    const s_entry_t *ie = lang >= 0 ? self->intent[lang] : NULL;
    if (ie)
        s_top_label(self, s, lang, ie, text, len, out->intent,
                    sizeof(out->intent), &out->intent_confidence);
    s_rules(&sh, kw, p_neg, p_pos, out);
    s_models(self, s, text, len, lang, kw, out);
    s->norm_valid = false;
}

void
classifier_models_triage(const classifier_models_t *self,
                         classifier_scratch_t *s, const char *text, size_t len,
                         const char *lang_hint, classifier_result_t *out)
{
    char *masked = out->masked;
    size_t masked_size = out->masked_size;
    memset(out, 0, sizeof(*out));
    out->masked = masked;
    out->masked_size = masked_size;
    if (!text)
        len = 0;

    /* PII first: it reads the original bytes. */
    if (masked && masked_size > 0)
        out->masked_len =
            classifier_pii_mask(text ? text : "", len, masked, masked_size,
                                out->pii, CLASSIFIER_PII_MAX, &out->pii_total);
    else
        out->pii_total = classifier_pii_find(text ? text : "", len, out->pii,
                                             CLASSIFIER_PII_MAX);
    out->pii_count = out->pii_total < CLASSIFIER_PII_MAX ? out->pii_total
                                                         : CLASSIFIER_PII_MAX;

    size_t in = len < CLASSIFIER_NORM_MAX_IN ? len : CLASSIFIER_NORM_MAX_IN;
    long n = kj_text_fold(text ? text : "", in, s->fold, S_FOLD_SIZE);
    classifier_models_run(self, s, text, len, s->fold, n > 0 ? (size_t)n : 0,
                          lang_hint, out);
}

bool
classifier_models_has_spam(const classifier_models_t *self)
{
    return self->spam != NULL;
}

int
classifier_models_spam(const classifier_models_t *self, classifier_scratch_t *s,
                       const char *channel, const char *language,
                       const char *text, size_t len, float *p_spam,
                       bool *is_spam)
{
    *p_spam = 0;
    *is_spam = false;
    if (!self->spam)
        return -1;
    bool chan = false;
    for (size_t i = 0; i < self->n_spam_channels; i++)
        chan = chan || strcmp(self->spam_channels[i], channel) == 0;
    /* en and ja by name, "other" (a language kujo does not triage) in
     * the last slot; anything else ("und": no letters) is not asked. */
    int lang = strcmp(language, "en") == 0      ? S_EN
               : strcmp(language, "ja") == 0    ? S_JA
               : strcmp(language, "other") == 0 ? S_LANGS
                                                : -1;
    /* The model knows only the languages it was trained on: outside them
     * (a Japanese complaint for the English model) it is not asked. */
    if (!chan || lang < 0 || !self->spam_lang[lang])
        return -1;
    float probs[CLASSIFIER_MODEL_MAX_LABELS];
    /* Another text than the triage's: drop the scratch's cached
     * normalisation and features before and after. */
    s->norm_valid = false;
    s->gvalid = false;
    s_predict(s, self->spam->model, NULL, text ? text : "", text ? len : 0,
              probs);
    s->norm_valid = false;
    s->gvalid = false;
    int k = classifier_model_label_index(self->spam->model, "spam");
    *p_spam = probs[k];
    *is_spam = *p_spam >= self->spam_threshold;
    return 0;
}
