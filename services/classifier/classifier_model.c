/* classifier_model: build, serialise, verify, load and score one linear
 * model. The file layout is documented in classifier_model.h. */
#include "classifier_model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kj_util.h"

static const char s_magic[8] = {'K', 'J', 'M', 'O', 'D', 'E', 'L', '\n'};

/* Empty slot marker in the row table (buckets are below 2^24). */
#define S_EMPTY UINT32_MAX
/* 1 + ln(c) is tabled for small counts, so scoring needs no logf. */
#define S_LOG_TABLE 64

struct classifier_model {
    char task[CLASSIFIER_MODEL_TASK_MAX];       /* what the model predicts */
    uint32_t k;                                 /* number of labels */
    char (*labels)[CLASSIFIER_MODEL_LABEL_MAX]; /* label names */
    classifier_feat_config_t feat;              /* how features are made */
    unsigned norm_flags;                        /* how text is normalised */
    bool sublinear_tf;                          /* 1 + ln(count) */
    float family_weight[2];                     /* word, char */
    float idf_unseen;                           /* idf of a missing row */
    float temperature;                          /* softmax temperature */
    uint32_t n_rows;                            /* weight rows */
    uint32_t *bucket;                           /* row -> bucket, ascending */
    uint32_t kp;         /* k rounded up to a multiple of 8 */
    size_t rec_size;     /* bytes per slot: 12 + kp */
    uint8_t *slots;      /* open-addressed row table; a slot holds u32 bucket
                          * (S_EMPTY if free), f32 idf, f32 scale, i8 q[kp]
                          * (0-padded), so that scoring a feature costs one
                          * random memory access, not an index and a row */
    uint32_t slot_mask;  /* slots - 1 (a power of two, load <= 0.7) */
    uint64_t *present;   /* bit per bucket: has a row. Small enough to stay
                          * in cache, so a feature without a row (most, in a
                          * pruned model) never reaches the table */
    unsigned slot_shift; /* 32 - log2(slots): slots take the product's high
                          * bits */
    float *bias;         /* label -> bias */
    json_t *meta;        /* the metadata object, saved as is */
    float tf_table[S_LOG_TABLE]; /* 1 + ln(c) for c < S_LOG_TABLE */
    uint64_t checksum; /* as read from (or last written to) the file */
};

static float
s_tf(const classifier_model_t *self, uint16_t count)
{
    if (!self->sublinear_tf)
        return (float)count;
    if (count < S_LOG_TABLE)
        return self->tf_table[count];
    return 1.0f + logf((float)count);
}

static bool
s_finite(float x)
{
    return isfinite(x);
}

/* Trained values are far inside this; a file outside it is corrupt, and
 * rejecting it keeps every logit finite. */
#define S_MAX_VALUE 1e6f

static bool
s_in_range(float x, float lo, float hi)
{
    return isfinite(x) && x >= lo && x <= hi;
}

static inline uint32_t
s_slot_of(const classifier_model_t *self, uint32_t bucket)
{
    return (bucket * 0x9e3779b1u) >> self->slot_shift;
}

/* The record of bucket (its idf at offset 4), or NULL if it has no row. */
static inline const uint8_t *
s_find(const classifier_model_t *self, uint32_t bucket)
{
    uint32_t i = s_slot_of(self, bucket);
    for (;;) {
        const uint8_t *slot = self->slots + (size_t)i * self->rec_size;
        uint32_t b;
        memcpy(&b, slot, 4);
        if (b == bucket)
            return slot + 4;
        if (b == S_EMPTY)
            return NULL;
        i = (i + 1) & self->slot_mask;
    }
}

static inline const uint8_t *
s_slot_ptr(const classifier_model_t *self, uint32_t bucket)
{
    return self->slots + (size_t)s_slot_of(self, bucket) * self->rec_size;
}

static inline bool
s_present(const classifier_model_t *self, uint32_t bucket)
{
    return (self->present[bucket >> 6] >> (bucket & 63)) & 1;
}

/* Claim the slot of a bucket not yet in the table; its record. */
static uint8_t *
s_insert(classifier_model_t *self, uint32_t bucket)
{
    self->present[bucket >> 6] |= 1ull << (bucket & 63);
    uint32_t i = s_slot_of(self, bucket);
    for (;;) {
        uint8_t *slot = self->slots + (size_t)i * self->rec_size;
        uint32_t b;
        memcpy(&b, slot, 4);
        if (b == S_EMPTY) {
            memcpy(slot, &bucket, 4);
            return slot + 4;
        }
        i = (i + 1) & self->slot_mask;
    }
}

/* Row r's record (rows are the sorted bucket list). */
static inline uint8_t *
s_rec(const classifier_model_t *self, uint32_t r)
{
    return (uint8_t *)s_find(self, self->bucket[r]);
}

static inline float
s_rec_idf(const uint8_t *rec)
{
    float f;
    memcpy(&f, rec, 4);
    return f;
}

static inline float
s_rec_scale(const uint8_t *rec)
{
    float f;
    memcpy(&f, rec + 4, 4);
    return f;
}

static inline void
s_rec_set(uint8_t *rec, float idf, float scale)
{
    memcpy(rec, &idf, 4);
    memcpy(rec + 4, &scale, 4);
}

/* Check the parts of a spec that both build and load depend on. */
static int
s_spec_check(const classifier_model_spec_t *spec, char *err, size_t err_size)
{
    if (!spec->task || !spec->task[0] ||
        strlen(spec->task) >= CLASSIFIER_MODEL_TASK_MAX) {
        snprintf(err, err_size, "task name empty or longer than %d bytes",
                 CLASSIFIER_MODEL_TASK_MAX - 1);
        return -1;
    }
    if (spec->n_labels < 2 || spec->n_labels > CLASSIFIER_MODEL_MAX_LABELS) {
        snprintf(err, err_size, "%u labels, need 2..%d", spec->n_labels,
                 CLASSIFIER_MODEL_MAX_LABELS);
        return -1;
    }
    for (uint32_t i = 0; i < spec->n_labels; i++) {
        const char *l = spec->labels[i];
        size_t n = l ? strlen(l) : 0;
        if (n == 0 || n >= CLASSIFIER_MODEL_LABEL_MAX || !kj_utf8_valid(l, n)) {
            snprintf(err, err_size,
                     "label %u is empty, not UTF-8 or longer than %d bytes", i,
                     CLASSIFIER_MODEL_LABEL_MAX - 1);
            return -1;
        }
        for (uint32_t j = 0; j < i; j++) {
            if (strcmp(spec->labels[j], l) == 0) {
                snprintf(err, err_size, "label \"%s\" appears twice", l);
                return -1;
            }
        }
    }
    char ferr[128];
    if (classifier_feat_config_check(&spec->feat, ferr, sizeof(ferr)) < 0) {
        snprintf(err, err_size, "features: %s", ferr);
        return -1;
    }
    if (spec->norm_flags & ~(unsigned)CLASSIFIER_NORM_ALL) {
        snprintf(err, err_size, "unknown normaliser flags 0x%x",
                 spec->norm_flags);
        return -1;
    }
    if (!s_in_range(spec->word_weight, 0, S_MAX_VALUE) ||
        !s_in_range(spec->char_weight, 0, S_MAX_VALUE) ||
        !s_in_range(spec->idf_unseen, 1e-6f, S_MAX_VALUE) ||
        !s_in_range(spec->temperature, 1e-3f, 1e3f)) {
        snprintf(err, err_size,
                 "family weights, idf_unseen or temperature out of range");
        return -1;
    }
    return 0;
}

static json_t *
s_pair(unsigned a, unsigned b)
{
    return json_pack("[ii]", (json_int_t)a, (json_int_t)b);
}

/* The metadata keys the loader reads, from the model's own fields. */
static void
s_meta_sync(classifier_model_t *self)
{
    json_t *labels = json_array();
    for (uint32_t i = 0; i < self->k; i++)
        json_array_append_new(labels, json_string(self->labels[i]));
    char norm[128];
    classifier_norm_flags_format(self->norm_flags, norm, sizeof(norm));
    json_t *feat = json_object();
    json_object_set_new(feat, "hash_version", json_integer(1));
    json_object_set_new(feat, "hash_bits",
                        json_integer((json_int_t)self->feat.hash_bits));
    json_object_set_new(feat, "word_ngrams",
                        s_pair(self->feat.word_min, self->feat.word_max));
    json_object_set_new(feat, "char_ngrams",
                        s_pair(self->feat.char_min, self->feat.char_max));
    json_object_set_new(feat, "normalise", json_string(norm));
    json_object_set_new(feat, "tf",
                        json_string(self->sublinear_tf ? "sublinear" : "raw"));
    json_object_set_new(feat, "word_weight", json_real(self->family_weight[0]));
    json_object_set_new(feat, "char_weight", json_real(self->family_weight[1]));
    json_object_set_new(feat, "idf_unseen", json_real(self->idf_unseen));
    json_object_set_new(self->meta, "format", json_string("kujo-model"));
    json_object_set_new(self->meta, "task", json_string(self->task));
    json_object_set_new(self->meta, "labels", labels);
    json_object_set_new(self->meta, "features", feat);
    json_object_set_new(self->meta, "temperature",
                        json_real(self->temperature));
}

/* Allocate a model for spec with room for n_rows rows. */
static classifier_model_t *
s_alloc(const classifier_model_spec_t *spec, uint32_t n_rows)
{
    classifier_model_t *self = kj_calloc(1, sizeof(*self));
    kj_strlcpy(self->task, spec->task, sizeof(self->task));
    self->k = spec->n_labels;
    self->labels = kj_calloc(self->k, sizeof(*self->labels));
    for (uint32_t i = 0; i < self->k; i++)
        kj_strlcpy(self->labels[i], spec->labels[i], sizeof(self->labels[i]));
    self->feat = spec->feat;
    self->norm_flags = spec->norm_flags;
    self->sublinear_tf = spec->sublinear_tf;
    self->family_weight[0] = spec->word_weight;
    self->family_weight[1] = spec->char_weight;
    self->idf_unseen = spec->idf_unseen;
    self->temperature = spec->temperature;
    self->n_rows = n_rows;
    size_t r = n_rows ? n_rows : 1;
    self->bucket = kj_malloc(r * sizeof(uint32_t));
    self->kp = (self->k + 7) & ~7u;
    self->rec_size = 12 + self->kp;
    size_t slots = 16;
    unsigned bits = 4;
    while (slots * 7 < (size_t)n_rows * 10) {
        slots <<= 1;
        bits++;
    }
    self->slot_mask = (uint32_t)(slots - 1);
    self->slot_shift = 32 - bits;
    self->slots = kj_calloc(slots, self->rec_size);
    self->present = kj_calloc(((size_t)1 << spec->feat.hash_bits) / 64 + 1, 8);
    for (size_t i = 0; i < slots; i++)
        memset(self->slots + i * self->rec_size, 0xff, 4);
    self->bias = kj_calloc(self->k, sizeof(float));
    self->meta = json_object();
    for (int i = 1; i < S_LOG_TABLE; i++)
        self->tf_table[i] = 1.0f + logf((float)i);
    return self;
}

classifier_model_t *
classifier_model_build(const classifier_model_spec_t *spec, uint32_t n_rows,
                       const uint32_t *rows, const float *idf,
                       const float *weights, const float *bias, char *err,
                       size_t err_size)
{
    if (s_spec_check(spec, err, err_size) < 0)
        return NULL;
    uint64_t nb = (uint64_t)1 << spec->feat.hash_bits;
    for (uint32_t r = 0; r < n_rows; r++) {
        if (rows[r] >= nb || (r > 0 && rows[r] <= rows[r - 1])) {
            snprintf(err, err_size,
                     "row %u: bucket %u out of range or not ascending", r,
                     rows[r]);
            return NULL;
        }
    }
    for (uint32_t k = 0; k < spec->n_labels; k++) {
        if (!s_in_range(bias[k], -S_MAX_VALUE, S_MAX_VALUE)) {
            snprintf(err, err_size, "bias %u out of range", k);
            return NULL;
        }
    }
    classifier_model_t *self = s_alloc(spec, n_rows);
    uint32_t k = self->k;
    memcpy(self->bias, bias, k * sizeof(float));
    for (uint32_t r = 0; r < n_rows; r++) {
        const float *w = weights + (size_t)r * k;
        float maxabs = 0;
        for (uint32_t j = 0; j < k; j++) {
            float a = fabsf(w[j]);
            if (s_finite(a) && a > maxabs)
                maxabs = a;
        }
        /* Symmetric 8-bit quantisation per row: the error is at most
         * 1/254 of the row's largest weight. */
        float scale = maxabs / 127.0f;
        self->bucket[r] = rows[r];
        uint8_t *rec = s_insert(self, rows[r]);
        s_rec_set(rec, s_finite(idf[r]) ? idf[r] : spec->idf_unseen, scale);
        int8_t *q = (int8_t *)rec + 8;
        for (uint32_t j = 0; j < k; j++) {
            float v = (scale > 0 && s_finite(w[j])) ? w[j] / scale : 0;
            long iv = lrintf(v);
            q[j] = (int8_t)(iv > 127 ? 127 : iv < -127 ? -127 : iv);
        }
    }
    s_meta_sync(self);
    return self;
}

void
classifier_model_destroy(classifier_model_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    classifier_model_t *self = *self_p;
    free(self->labels);
    free(self->bucket);
    free(self->slots);
    free(self->present);
    free(self->bias);
    json_decref(self->meta);
    free(self);
    *self_p = NULL;
}

/* Little-endian writers and readers, independent of the host's order. */
static void
s_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void
s_putf(uint8_t *p, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    s_put32(p, v);
}

static uint32_t
s_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static float
s_getf(const uint8_t *p)
{
    uint32_t v = s_get32(p);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

static uint64_t
s_get64(const uint8_t *p)
{
    return (uint64_t)s_get32(p) | (uint64_t)s_get32(p + 4) << 32;
}

void *
classifier_model_serialise(const classifier_model_t *self, size_t *len)
{
    /* The loader-read keys are rewritten so the file cannot disagree with
     * the weights (a caller may have changed the temperature). */
    s_meta_sync((classifier_model_t *)self);
    char *meta = json_dumps(self->meta, JSON_INDENT(1) | JSON_PRESERVE_ORDER |
                                            JSON_REAL_PRECISION(9));
    if (!meta)
        abort(); /* only fails on allocation */
    size_t m = strlen(meta);
    size_t off = 16 + m;
    size_t pad = (4 - off % 4) % 4;
    size_t k = self->k, r = self->n_rows;
    size_t total = off + pad + 8 + 4 * k + 12 * r + r * k + 8;
    uint8_t *buf = kj_calloc(1, total);
    memcpy(buf, s_magic, 8);
    s_put32(buf + 8, CLASSIFIER_MODEL_VERSION);
    s_put32(buf + 12, (uint32_t)m);
    memcpy(buf + 16, meta, m);
    free(meta);
    uint8_t *p = buf + off + pad;
    s_put32(p, (uint32_t)k);
    s_put32(p + 4, (uint32_t)r);
    p += 8;
    for (size_t i = 0; i < k; i++, p += 4)
        s_putf(p, self->bias[i]);
    for (size_t i = 0; i < r; i++, p += 4)
        s_put32(p, self->bucket[i]);
    for (size_t i = 0; i < r; i++, p += 4)
        s_putf(p, s_rec_idf(s_rec(self, (uint32_t)i)));
    for (size_t i = 0; i < r; i++, p += 4)
        s_putf(p, s_rec_scale(s_rec(self, (uint32_t)i)));
    for (size_t i = 0; i < r; i++, p += k)
        memcpy(p, s_rec(self, (uint32_t)i) + 8, k);
    uint64_t sum = kj_hash64(buf, (size_t)(p - buf));
    s_put32(p, (uint32_t)sum);
    s_put32(p + 4, (uint32_t)(sum >> 32));
    ((classifier_model_t *)self)->checksum = sum;
    *len = total;
    return buf;
}

int
classifier_model_save(const classifier_model_t *self, const char *path,
                      char *err, size_t err_size)
{
    size_t len;
    void *buf = classifier_model_serialise(self, &len);
    int rc = -1;
    char tmp[4096];
    FILE *f = NULL;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
        snprintf(err, err_size, "%s: path too long", path);
        goto out;
    }
    f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, err_size, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    if (fwrite(buf, 1, len, f) != len || fflush(f) != 0) {
        snprintf(err, err_size, "%s: write: %s", tmp, strerror(errno));
        goto out;
    }
    if (fclose(f) != 0) {
        f = NULL;
        snprintf(err, err_size, "%s: close: %s", tmp, strerror(errno));
        goto out;
    }
    f = NULL;
    if (rename(tmp, path) != 0) {
        snprintf(err, err_size, "%s: rename: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (f) {
        fclose(f);
        remove(tmp);
    }
    free(buf);
    return rc;
}

/* Read an integer pair [a, b] from obj[key]. */
static int
s_meta_pair(json_t *obj, const char *key, unsigned *a, unsigned *b, char *err,
            size_t err_size)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_array(v) || json_array_size(v) != 2 ||
        !json_is_integer(json_array_get(v, 0)) ||
        !json_is_integer(json_array_get(v, 1))) {
        snprintf(err, err_size, "metadata: features.%s must be [min, max]",
                 key);
        return -1;
    }
    json_int_t x = json_integer_value(json_array_get(v, 0));
    json_int_t y = json_integer_value(json_array_get(v, 1));
    if (x < 0 || y < 0 || x > 64 || y > 64) {
        snprintf(err, err_size, "metadata: features.%s out of range", key);
        return -1;
    }
    *a = (unsigned)x;
    *b = (unsigned)y;
    return 0;
}

static int
s_meta_real(json_t *obj, const char *where, const char *key, float *out,
            char *err, size_t err_size)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_number(v)) {
        snprintf(err, err_size, "metadata: %s%s must be a number", where, key);
        return -1;
    }
    *out = (float)json_number_value(v);
    return 0;
}

/* Fill spec from the metadata; label strings are borrowed from meta. */
static int
s_meta_read(json_t *meta, classifier_model_spec_t *spec, const char **labels,
            char *err, size_t err_size)
{
    json_t *v = json_object_get(meta, "format");
    if (!json_is_string(v) || strcmp(json_string_value(v), "kujo-model")) {
        snprintf(err, err_size, "metadata: \"format\" is not \"kujo-model\"");
        return -1;
    }
    v = json_object_get(meta, "task");
    if (!json_is_string(v)) {
        snprintf(err, err_size, "metadata: \"task\" missing");
        return -1;
    }
    spec->task = json_string_value(v);
    json_t *ls = json_object_get(meta, "labels");
    if (!json_is_array(ls) || json_array_size(ls) < 2 ||
        json_array_size(ls) > CLASSIFIER_MODEL_MAX_LABELS) {
        snprintf(err, err_size, "metadata: \"labels\" must list 2..%d names",
                 CLASSIFIER_MODEL_MAX_LABELS);
        return -1;
    }
    spec->n_labels = (uint32_t)json_array_size(ls);
    for (uint32_t i = 0; i < spec->n_labels; i++) {
        json_t *l = json_array_get(ls, i);
        if (!json_is_string(l)) {
            snprintf(err, err_size, "metadata: label %u is not a string", i);
            return -1;
        }
        labels[i] = json_string_value(l);
    }
    spec->labels = labels;
    json_t *f = json_object_get(meta, "features");
    if (!json_is_object(f)) {
        snprintf(err, err_size, "metadata: \"features\" missing");
        return -1;
    }
    v = json_object_get(f, "hash_version");
    if (!json_is_integer(v) || json_integer_value(v) != 1) {
        snprintf(err, err_size,
                 "metadata: features.hash_version is not 1 (this build "
                 "hashes with version 1)");
        return -1;
    }
    v = json_object_get(f, "hash_bits");
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > 64) {
        snprintf(err, err_size, "metadata: features.hash_bits missing");
        return -1;
    }
    spec->feat.hash_bits = (unsigned)json_integer_value(v);
    if (s_meta_pair(f, "word_ngrams", &spec->feat.word_min,
                    &spec->feat.word_max, err, err_size) < 0 ||
        s_meta_pair(f, "char_ngrams", &spec->feat.char_min,
                    &spec->feat.char_max, err, err_size) < 0)
        return -1;
    v = json_object_get(f, "normalise");
    if (!json_is_string(v) ||
        classifier_norm_flags_parse(json_string_value(v), &spec->norm_flags) <
            0) {
        snprintf(err, err_size,
                 "metadata: features.normalise is not a list of known "
                 "normaliser flags");
        return -1;
    }
    v = json_object_get(f, "tf");
    if (!json_is_string(v) || (strcmp(json_string_value(v), "sublinear") &&
                               strcmp(json_string_value(v), "raw"))) {
        snprintf(err, err_size,
                 "metadata: features.tf must be \"sublinear\" or \"raw\"");
        return -1;
    }
    spec->sublinear_tf = strcmp(json_string_value(v), "sublinear") == 0;
    if (s_meta_real(f, "features.", "word_weight", &spec->word_weight, err,
                    err_size) < 0 ||
        s_meta_real(f, "features.", "char_weight", &spec->char_weight, err,
                    err_size) < 0 ||
        s_meta_real(f, "features.", "idf_unseen", &spec->idf_unseen, err,
                    err_size) < 0 ||
        s_meta_real(meta, "", "temperature", &spec->temperature, err,
                    err_size) < 0)
        return -1;
    return 0;
}

classifier_model_t *
classifier_model_parse(const void *data, size_t len, const char *task,
                       char *err, size_t err_size)
{
    const uint8_t *buf = data;
    classifier_model_t *self = NULL;
    json_t *meta = NULL;
    if (len < 8 || memcmp(buf, s_magic, 8) != 0) {
        snprintf(err, err_size, "not a kujo model file (bad magic)");
        goto fail;
    }
    if (len < 16 + 8 + 8) {
        snprintf(err, err_size, "truncated: %zu bytes", len);
        goto fail;
    }
    uint32_t version = s_get32(buf + 8);
    if (version != CLASSIFIER_MODEL_VERSION) {
        snprintf(err, err_size,
                 "unsupported model format version %u (this build reads %d)",
                 version, CLASSIFIER_MODEL_VERSION);
        goto fail;
    }
    size_t m = s_get32(buf + 12);
    if (m > CLASSIFIER_MODEL_MAX_META) {
        snprintf(err, err_size, "metadata length %zu exceeds %u bytes", m,
                 CLASSIFIER_MODEL_MAX_META);
        goto fail;
    }
    size_t off = 16 + m;
    off += (4 - off % 4) % 4;
    if (len < off + 8 + 8) {
        snprintf(err, err_size,
                 "truncated: %zu bytes, the header alone needs %zu", len,
                 off + 16);
        goto fail;
    }
    uint32_t k = s_get32(buf + off);
    uint32_t r = s_get32(buf + off + 4);
    if (k < 2 || k > CLASSIFIER_MODEL_MAX_LABELS || r > (1u << 24)) {
        snprintf(err, err_size, "corrupt header: %u labels, %u rows", k, r);
        goto fail;
    }
    size_t expect =
        off + 8 + 4 * (size_t)k + 12 * (size_t)r + (size_t)r * k + 8;
    if (len < expect) {
        snprintf(err, err_size, "truncated: %zu bytes, expected %zu", len,
                 expect);
        goto fail;
    }
    if (len > expect) {
        snprintf(err, err_size, "%zu unexpected bytes after the weights",
                 len - expect);
        goto fail;
    }
    uint64_t stored = s_get64(buf + len - 8);
    uint64_t computed = kj_hash64(buf, len - 8);
    if (stored != computed) {
        snprintf(err, err_size,
                 "checksum mismatch: file says %016llx, contents hash to "
                 "%016llx (corrupt or edited file)",
                 (unsigned long long)stored, (unsigned long long)computed);
        goto fail;
    }
    json_error_t jerr;
    meta = json_loadb((const char *)buf + 16, m, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(meta)) {
        snprintf(err, err_size, "metadata is not a JSON object (line %d: %s)",
                 meta ? 0 : jerr.line, meta ? "not an object" : jerr.text);
        goto fail;
    }
    classifier_model_spec_t spec;
    const char *labels[CLASSIFIER_MODEL_MAX_LABELS];
    if (s_meta_read(meta, &spec, labels, err, err_size) < 0)
        goto fail;
    if (spec.n_labels != k) {
        snprintf(err, err_size,
                 "metadata lists %u labels but the weights have %u",
                 spec.n_labels, k);
        goto fail;
    }
    char serr[256];
    if (s_spec_check(&spec, serr, sizeof(serr)) < 0) {
        snprintf(err, err_size, "metadata: %s", serr);
        goto fail;
    }
    if (task && strcmp(spec.task, task) != 0) {
        snprintf(err, err_size, "model is for task \"%s\", expected \"%s\"",
                 spec.task, task);
        goto fail;
    }
    self = s_alloc(&spec, r);
    const uint8_t *p = buf + off + 8;
    for (uint32_t i = 0; i < k; i++, p += 4)
        self->bias[i] = s_getf(p);
    uint64_t nb = (uint64_t)1 << spec.feat.hash_bits;
    for (uint32_t i = 0; i < k; i++) {
        if (!s_in_range(self->bias[i], -S_MAX_VALUE, S_MAX_VALUE)) {
            snprintf(err, err_size, "bias %u out of range", i);
            goto fail;
        }
    }
    /* Buckets first: the row table needs them unique. */
    for (uint32_t i = 0; i < r; i++, p += 4) {
        self->bucket[i] = s_get32(p);
        if (self->bucket[i] >= nb ||
            (i > 0 && self->bucket[i] <= self->bucket[i - 1])) {
            snprintf(err, err_size,
                     "row %u: bucket out of range or not ascending", i);
            goto fail;
        }
    }
    const uint8_t *pscale = p + 4 * (size_t)r;
    const uint8_t *pq = p + 8 * (size_t)r;
    for (uint32_t i = 0; i < r; i++) {
        float idf = s_getf(p + 4 * (size_t)i);
        float scale = s_getf(pscale + 4 * (size_t)i);
        if (!s_in_range(idf, 0, S_MAX_VALUE) ||
            !s_in_range(scale, 0, S_MAX_VALUE)) {
            snprintf(err, err_size, "row %u: idf or scale out of range", i);
            goto fail;
        }
        uint8_t *rec = s_insert(self, self->bucket[i]);
        s_rec_set(rec, idf, scale);
        memcpy(rec + 8, pq + (size_t)i * k, k);
    }
    /* The model keeps the whole metadata (datasets, dev scores, ...). */
    json_decref(self->meta);
    self->meta = meta;
    meta = NULL;
    self->checksum = stored;
    return self;
fail:
    json_decref(meta);
    classifier_model_destroy(&self);
    return NULL;
}

classifier_model_t *
classifier_model_load(const char *path, const char *task, char *err,
                      size_t err_size)
{
    classifier_model_t *self = NULL;
    uint8_t *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size < 0 ||
        (uint64_t)st.st_size > CLASSIFIER_MODEL_MAX_FILE) {
        snprintf(err, err_size, "%s: not a regular file of at most %u bytes",
                 path, CLASSIFIER_MODEL_MAX_FILE);
        goto out;
    }
    size_t len = (size_t)st.st_size;
    buf = kj_malloc(len ? len : 1);
    if (fread(buf, 1, len, f) != len) {
        snprintf(err, err_size, "%s: short read", path);
        goto out;
    }
    char perr[512];
    self = classifier_model_parse(buf, len, task, perr, sizeof(perr));
    if (!self)
        snprintf(err, err_size, "%s: %s", path, perr);
out:
    if (f)
        fclose(f);
    free(buf);
    return self;
}

const char *
classifier_model_task(const classifier_model_t *self)
{
    return self->task;
}

uint32_t
classifier_model_n_labels(const classifier_model_t *self)
{
    return self->k;
}

const char *
classifier_model_label(const classifier_model_t *self, uint32_t i)
{
    return i < self->k ? self->labels[i] : NULL;
}

int
classifier_model_label_index(const classifier_model_t *self, const char *name)
{
    for (uint32_t i = 0; i < self->k; i++)
        if (strcmp(self->labels[i], name) == 0)
            return (int)i;
    return -1;
}

const classifier_feat_config_t *
classifier_model_feat_config(const classifier_model_t *self)
{
    return &self->feat;
}

unsigned
classifier_model_norm_flags(const classifier_model_t *self)
{
    return self->norm_flags;
}

uint32_t
classifier_model_n_rows(const classifier_model_t *self)
{
    return self->n_rows;
}

uint64_t
classifier_model_checksum(const classifier_model_t *self)
{
    return self->checksum;
}

json_t *
classifier_model_meta(classifier_model_t *self)
{
    return self->meta;
}

float
classifier_model_temperature(const classifier_model_t *self)
{
    return self->temperature;
}

void
classifier_model_set_temperature(classifier_model_t *self, float t)
{
    if (s_in_range(t, 1e-3f, 1e3f))
        self->temperature = t;
}

/* Vectors of 8 (GCC/clang vector extensions): plain SSE2 code by default,
 * and on x86-64 with GCC an AVX2 copy of the scoring function picked at
 * load time (ifunc), so 8-bit weights convert and multiply 8 at a time
 * without depending on the optimiser's cost model. */
typedef float s_v8f __attribute__((vector_size(32)));
typedef int8_t s_v8b __attribute__((vector_size(8)));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define S_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define S_CLONES
#endif

/* acc[0..kp) += c * q[0..kp) */
static inline void
s_axpy(float *acc, const int8_t *q, float c, uint32_t kp)
{
    for (uint32_t j = 0; j < kp; j += 8) {
        s_v8b qb;
        s_v8f a;
        memcpy(&qb, q + j, sizeof(qb));
        memcpy(&a, acc + j, sizeof(a));
        a += __builtin_convertvector(qb, s_v8f) * c;
        memcpy(acc + j, &a, sizeof(a));
    }
}

S_CLONES void
classifier_model_logits(const classifier_model_t *self,
                        const classifier_feat_t *items, size_t n, float *logits)
{
    /* One pass: each family's dot product is summed before its L2 norm
     * is known, and scaled by it at the end. Scoring is bound by memory
     * latency (the row table is megabytes, read at random), so the slot
     * of a feature AHEAD places on is prefetched: the misses overlap. */
    enum {
        AHEAD = 16, /* features prefetched ahead of the one scored */
        CHUNK = 256 /* features listed at a time */
    };
    float acc[2][CLASSIFIER_MODEL_MAX_LABELS];
    uint32_t kp = self->kp;
    memset(acc, 0, sizeof(acc));
    float norm2[2] = {0, 0};
    /* Models of up to 16 labels keep both families' sums in registers;
     * more labels go through s_axpy. */
    s_v8f w_lo = {0}, w_hi = {0}, c_lo = {0}, c_hi = {0};
    float unseen2 = self->idf_unseen * self->idf_unseen;
    float n_word = 0, n_char = 0;
    uint32_t hit[CHUNK];
    for (size_t b = 0; b < n; b += CHUNK) {
        size_t m = n - b < CHUNK ? n - b : CHUNK;
        const classifier_feat_t *blk = items + b;
        /* Pass 1, without branches on the data: features without a row
         * only add to the norm; the others are listed. */
        size_t nh = 0;
        for (size_t i = 0; i < m; i++) {
            const classifier_feat_t *it = &blk[i];
            unsigned want = (unsigned)classifier_feat_wanted(&self->feat, it);
            unsigned has = want & (unsigned)s_present(self, it->bucket);
            float tf = s_tf(self, it->count);
            /* Both sums stay in registers: an indexed norm2[f] += ...
             * would chain every feature through a store and a load. */
            float add = (float)(want & ~has) * tf * tf * unseen2;
            float isc = (float)(it->family & 1);
            n_char += add * isc;
            n_word += add - add * isc;
            hit[nh] = (uint32_t)i;
            nh += has;
        }
        /* Pass 2: the listed features, their slots prefetched ahead. */
        for (size_t j = 0; j < nh && j < AHEAD; j++)
            __builtin_prefetch(s_slot_ptr(self, blk[hit[j]].bucket));
        for (size_t j = 0; j < nh; j++) {
            if (j + AHEAD < nh)
                __builtin_prefetch(
                    s_slot_ptr(self, blk[hit[j + AHEAD]].bucket));
            const classifier_feat_t *it = &blk[hit[j]];
            int f = it->family & 1;
            const uint8_t *rec = s_find(self, it->bucket);
            float v = s_tf(self, it->count) * s_rec_idf(rec);
            if (f)
                n_char += v * v;
            else
                n_word += v * v;
            float c = v * s_rec_scale(rec);
            const int8_t *q = (const int8_t *)rec + 8;
            if (kp == 8) {
                /* Items come words first, then characters: the branch on
                 * the family is predictable, and the sums stay in
                 * registers (an array indexed by f would live in memory). */
                s_v8b qa;
                memcpy(&qa, q, sizeof(qa));
                s_v8f lo = __builtin_convertvector(qa, s_v8f) * c;
                if (f)
                    c_lo += lo;
                else
                    w_lo += lo;
            } else if (kp == 16) {
                s_v8b qa, qb;
                memcpy(&qa, q, sizeof(qa));
                memcpy(&qb, q + 8, sizeof(qb));
                s_v8f lo = __builtin_convertvector(qa, s_v8f) * c;
                s_v8f hi = __builtin_convertvector(qb, s_v8f) * c;
                if (f) {
                    c_lo += lo;
                    c_hi += hi;
                } else {
                    w_lo += lo;
                    w_hi += hi;
                }
            } else {
                s_axpy(acc[f], q, c, kp);
            }
        }
    }
    norm2[0] = n_word;
    norm2[1] = n_char;
    if (kp <= 16) {
        memcpy(acc[0], &w_lo, sizeof(w_lo));
        memcpy(acc[0] + 8, &w_hi, sizeof(w_hi));
        memcpy(acc[1], &c_lo, sizeof(c_lo));
        memcpy(acc[1] + 8, &c_hi, sizeof(c_hi));
    }
    float mult[2];
    for (int f = 0; f < 2; f++)
        mult[f] = norm2[f] > 0 ? self->family_weight[f] / sqrtf(norm2[f]) : 0;
    for (uint32_t j = 0; j < self->k; j++)
        logits[j] = self->bias[j] + mult[0] * acc[0][j] + mult[1] * acc[1][j];
}

void
classifier_softmax(const float *logits, uint32_t k, float t, float *probs)
{
    float max = logits[0];
    for (uint32_t i = 1; i < k; i++)
        if (logits[i] > max)
            max = logits[i];
    float sum = 0;
    for (uint32_t i = 0; i < k; i++) {
        probs[i] = expf((logits[i] - max) / t);
        sum += probs[i];
    }
    for (uint32_t i = 0; i < k; i++)
        probs[i] /= sum;
}

int
classifier_model_predict(const classifier_model_t *self,
                         const classifier_feat_t *items, size_t n, float *probs)
{
    float logits[CLASSIFIER_MODEL_MAX_LABELS];
    classifier_model_logits(self, items, n, logits);
    classifier_softmax(logits, self->k, self->temperature, probs);
    int best = 0;
    for (uint32_t i = 1; i < self->k; i++)
        if (probs[i] > probs[best])
            best = (int)i;
    return best;
}

int
classifier_model_predict_text(const classifier_model_t *self,
                              classifier_norm_t *norm,
                              classifier_feats_t *feats, const char *text,
                              size_t len, float *probs)
{
    size_t ncp;
    classifier_norm_run(norm, text, len, self->norm_flags);
    const int32_t *cps = classifier_norm_codepoints(norm, &ncp);
    size_t n;
    classifier_feats_extract(feats, &self->feat, cps, ncp);
    const classifier_feat_t *items = classifier_feats_items(feats, &n);
    return classifier_model_predict(self, items, n, probs);
}

/* ---- groups: one row table for several models ------------------------ */

/* The models' rows merged into one open-addressed table keyed by bucket:
 * a record holds the bucket, then for each model its idf, scale and
 * 8-bit weights (a model without that row: its idf_unseen, scale 0 and
 * zero weights, which is exactly how it scores a feature it has no row
 * for). Scoring a feature then costs one random memory access for all
 * the models of a language instead of one each, which is what scoring
 * is bound by. */
struct classifier_model_group {
    const classifier_model_t *m[CLASSIFIER_GROUP_MAX]; /* borrowed */
    size_t n;                                          /* models */
    size_t off[CLASSIFIER_GROUP_MAX]; /* model's part of a record */
    size_t rec_size;                  /* bytes per slot */
    uint8_t *slots;                   /* u32 bucket, then the parts */
    uint32_t slot_mask;               /* slots - 1 */
    unsigned slot_shift;              /* 32 - log2(slots) */
    uint64_t *present;                /* bit per bucket: some model has it */
};

static inline const uint8_t *
s_group_find(const classifier_model_group_t *g, uint32_t bucket)
{
    uint32_t i = (bucket * 0x9e3779b1u) >> g->slot_shift;
    for (;;) {
        const uint8_t *slot = g->slots + (size_t)i * g->rec_size;
        uint32_t b;
        memcpy(&b, slot, 4);
        if (b == bucket)
            return slot;
        if (b == S_EMPTY)
            return NULL;
        i = (i + 1) & g->slot_mask;
    }
}

static uint8_t *
s_group_slot(classifier_model_group_t *g, uint32_t bucket)
{
    uint32_t i = (bucket * 0x9e3779b1u) >> g->slot_shift;
    for (;;) {
        uint8_t *slot = g->slots + (size_t)i * g->rec_size;
        uint32_t b;
        memcpy(&b, slot, 4);
        if (b == bucket)
            return slot;
        if (b == S_EMPTY) {
            /* New: every model starts as "no row". */
            memcpy(slot, &bucket, 4);
            for (size_t m = 0; m < g->n; m++) {
                s_rec_set(slot + g->off[m], g->m[m]->idf_unseen, 0);
                memset(slot + g->off[m] + 8, 0, g->m[m]->kp);
            }
            g->present[bucket >> 6] |= 1ull << (bucket & 63);
            return slot;
        }
        i = (i + 1) & g->slot_mask;
    }
}

classifier_model_group_t *
classifier_model_group_new(const classifier_model_t *const *models, size_t n)
{
    if (n == 0 || n > CLASSIFIER_GROUP_MAX)
        return NULL;
    const classifier_model_t *a = models[0];
    size_t rows = 0;
    for (size_t m = 0; m < n; m++) {
        const classifier_model_t *b = models[m];
        if (b->kp > 16 || b->norm_flags != a->norm_flags ||
            b->sublinear_tf != a->sublinear_tf ||
            memcmp(&b->feat, &a->feat, sizeof(a->feat)) != 0)
            return NULL;
        rows += b->n_rows;
    }
    classifier_model_group_t *g = kj_calloc(1, sizeof(*g));
    g->n = n;
    size_t off = 4;
    for (size_t m = 0; m < n; m++) {
        g->m[m] = models[m];
        g->off[m] = off;
        off += 8 + models[m]->kp;
    }
    g->rec_size = off;
    size_t slots = 16;
    unsigned bits = 4;
    while (slots * 7 < rows * 10) {
        slots <<= 1;
        bits++;
    }
    g->slot_mask = (uint32_t)(slots - 1);
    g->slot_shift = 32 - bits;
    g->slots = kj_calloc(slots, g->rec_size);
    for (size_t i = 0; i < slots; i++)
        memset(g->slots + i * g->rec_size, 0xff, 4);
    g->present = kj_calloc(((size_t)1 << a->feat.hash_bits) / 64 + 1, 8);
    /* Each model's own table read in order (no random reads): its
     * records go to their buckets' group records. */
    for (size_t m = 0; m < n; m++) {
        const classifier_model_t *b = models[m];
        size_t ns = (size_t)b->slot_mask + 1;
        for (size_t i = 0; i < ns; i++) {
            const uint8_t *slot = b->slots + i * b->rec_size;
            uint32_t bucket;
            memcpy(&bucket, slot, 4);
            if (bucket == S_EMPTY)
                continue;
            uint8_t *dst = s_group_slot(g, bucket) + g->off[m];
            memcpy(dst, slot + 4, 8 + b->kp);
        }
    }
    return g;
}

void
classifier_model_group_destroy(classifier_model_group_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->slots);
    free((*self_p)->present);
    free(*self_p);
    *self_p = NULL;
}

size_t
classifier_model_group_size(const classifier_model_group_t *self)
{
    return self->n;
}

S_CLONES void
classifier_model_group_logits(const classifier_model_group_t *g,
                              const classifier_feat_t *items, size_t n,
                              float *const *logits)
{
    enum { AHEAD = 16, CHUNK = 256, M = CLASSIFIER_GROUP_MAX };
    const classifier_model_t *m0 = g->m[0];
    /* Per model and family (word, char) sums over 16 labels, and norms. */
    s_v8f acc[M][2][2];
    float n_word[M], n_char[M], unseen2[M];
    memset(acc, 0, sizeof(acc));
    for (size_t m = 0; m < g->n; m++) {
        n_word[m] = n_char[m] = 0;
        unseen2[m] = g->m[m]->idf_unseen * g->m[m]->idf_unseen;
    }
    uint32_t hit[CHUNK];
    for (size_t b = 0; b < n; b += CHUNK) {
        size_t len = n - b < CHUNK ? n - b : CHUNK;
        const classifier_feat_t *blk = items + b;
        /* Pass 1: features no model has only add to the norms. */
        size_t nh = 0;
        for (size_t i = 0; i < len; i++) {
            const classifier_feat_t *it = &blk[i];
            unsigned want = (unsigned)classifier_feat_wanted(&m0->feat, it);
            unsigned has =
                want &
                (unsigned)((g->present[it->bucket >> 6] >> (it->bucket & 63)) &
                           1);
            float tf = s_tf(m0, it->count);
            float isc = (float)(it->family & 1);
            float w = (float)(want & ~has) * tf * tf;
            for (size_t m = 0; m < g->n; m++) {
                float add = w * unseen2[m];
                n_char[m] += add * isc;
                n_word[m] += add - add * isc;
            }
            hit[nh] = (uint32_t)i;
            nh += has;
        }
        /* Pass 2: one record serves every model. */
        for (size_t j = 0; j < nh && j < AHEAD; j++)
            __builtin_prefetch(
                g->slots +
                (size_t)((blk[hit[j]].bucket * 0x9e3779b1u) >> g->slot_shift) *
                    g->rec_size);
        for (size_t j = 0; j < nh; j++) {
            if (j + AHEAD < nh)
                __builtin_prefetch(
                    g->slots +
                    (size_t)((blk[hit[j + AHEAD]].bucket * 0x9e3779b1u) >>
                             g->slot_shift) *
                        g->rec_size);
            const classifier_feat_t *it = &blk[hit[j]];
            int f = it->family & 1;
            const uint8_t *slot = s_group_find(g, it->bucket);
            float tf = s_tf(m0, it->count);
            for (size_t m = 0; m < g->n; m++) {
                const uint8_t *rec = slot + g->off[m];
                float v = tf * s_rec_idf(rec);
                if (f)
                    n_char[m] += v * v;
                else
                    n_word[m] += v * v;
                float c = v * s_rec_scale(rec);
                const int8_t *q = (const int8_t *)rec + 8;
                s_v8b qa;
                memcpy(&qa, q, sizeof(qa));
                acc[m][f][0] += __builtin_convertvector(qa, s_v8f) * c;
                if (g->m[m]->kp == 16) {
                    memcpy(&qa, q + 8, sizeof(qa));
                    acc[m][f][1] += __builtin_convertvector(qa, s_v8f) * c;
                }
            }
        }
    }
    for (size_t m = 0; m < g->n; m++) {
        const classifier_model_t *md = g->m[m];
        float sums[2][16];
        memcpy(sums[0], &acc[m][0][0], 32);
        memcpy(sums[0] + 8, &acc[m][0][1], 32);
        memcpy(sums[1], &acc[m][1][0], 32);
        memcpy(sums[1] + 8, &acc[m][1][1], 32);
        float norm2[2] = {n_word[m], n_char[m]};
        float mult[2];
        for (int f = 0; f < 2; f++)
            mult[f] = norm2[f] > 0 ? md->family_weight[f] / sqrtf(norm2[f]) : 0;
        for (uint32_t j = 0; j < md->k; j++)
            logits[m][j] =
                md->bias[j] + mult[0] * sums[0][j] + mult[1] * sums[1][j];
    }
}
