/* kj_metrics: a registry of families (one name, one HELP/TYPE) each holding
 * series (one label set). Series values are C11 atomics so that hot paths
 * never take a lock; the registry's mutex only guards the lists, which
 * change when a series is first used and when /metrics renders. */
#include "kj_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_util.h"

const double kj_latency_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                     0.025,  0.05,  0.1,    0.25,  0.5,
                                     1,      2.5,   5,      10};
const size_t kj_latency_buckets_len = KJ_ARRAY_LEN(kj_latency_buckets);

typedef enum { S_COUNTER, S_GAUGE, S_HISTOGRAM } s_type_t;

static const char *const s_type_names[] = {"counter", "gauge", "histogram"};

struct kj_counter {
    _Atomic uint64_t value; /* monotonic count */
};

struct kj_gauge {
    _Atomic uint64_t bits; /* a double's bits: there is no atomic double */
};

struct kj_histogram {
    double *bounds;            /* ascending upper bounds, +Inf implicit */
    size_t n;                  /* number of bounds */
    _Atomic uint64_t *buckets; /* n + 1 per-bucket (not cumulative) counts */
    _Atomic uint64_t sum_bits; /* the sum of observations, as double bits */
};

typedef struct {
    char *labels; /* preformatted pairs, "" for none */
    union {
        kj_counter_t counter;
        kj_gauge_t gauge;
        kj_histogram_t histogram;
    } u; /* the value, by the family's type */
} s_series_t;

typedef struct {
    char *name;          /* full name with the kujo_ prefix */
    char *help;          /* from the first registration */
    s_type_t type;       /* every series of a family has one type */
    s_series_t **series; /* in registration order; pointers stay stable */
    size_t n_series;     /* used */
    size_t cap_series;   /* allocated */
} s_family_t;

struct kj_metrics {
    char *svc_label;       /* svc="<service>", escaped, ready to print */
    pthread_mutex_t lock;  /* guards the lists below, not the values */
    s_family_t **families; /* in order of first registration */
    size_t n_families;     /* used */
    size_t cap_families;   /* allocated */
};

static uint64_t
s_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static double
s_double(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

/* Add to a double kept as bits: retry until no other thread changed it in
 * between. */
static void
s_atomic_add_double(_Atomic uint64_t *bits, double v)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(
        bits, &old, s_bits(s_double(old) + v), memory_order_relaxed,
        memory_order_relaxed)) {
    }
}

int
kj_metrics_label_escape(const char *value, char *out, size_t size)
{
    size_t n = 0;
    if (size == 0)
        return -1;
    for (const char *p = value; *p; p++) {
        const char *rep = NULL;
        if (*p == '\\')
            rep = "\\\\";
        else if (*p == '"')
            rep = "\\\"";
        else if (*p == '\n')
            rep = "\\n";
        size_t len = rep ? 2 : 1;
        if (n + len >= size) {
            out[0] = '\0';
            return -1;
        }
        if (rep)
            memcpy(out + n, rep, 2);
        else
            out[n] = *p;
        n += len;
    }
    out[n] = '\0';
    return (int)n;
}

static bool
s_name_char(char c, bool first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
        return true;
    return !first && c >= '0' && c <= '9';
}

/* True if labels is a list of name="value" pairs separated by commas, with
 * values escaped per the text format, none named svc or le (ours). */
static bool
s_labels_valid(const char *s)
{
    if (!kj_utf8_valid(s, strlen(s)))
        return false;
    while (*s) {
        const char *name = s;
        if (!s_name_char(*s, true))
            return false;
        while (s_name_char(*s, false))
            s++;
        size_t len = (size_t)(s - name);
        if ((len == 3 && strncmp(name, "svc", 3) == 0) ||
            (len == 2 && strncmp(name, "le", 2) == 0) ||
            strncmp(name, "__", 2) == 0)
            return false;
        if (s[0] != '=' || s[1] != '"')
            return false;
        s += 2;
        while (*s != '"') {
            if (*s == '\0' || *s == '\n')
                return false;
            if (*s == '\\') {
                if (s[1] != '\\' && s[1] != '"' && s[1] != 'n')
                    return false;
                s++;
            }
            s++;
        }
        s++;
        if (*s == ',') {
            s++;
            if (*s == '\0')
                return false;
        } else if (*s != '\0') {
            return false;
        }
    }
    return true;
}

static bool
s_metric_name_valid(const char *s)
{
    if (!s_name_char(*s, true))
        return false;
    for (; *s; s++) {
        if (!s_name_char(*s, false) && *s != ':')
            return false;
    }
    return true;
}

/* Misuse of the registry is a programming error: it stays fatal in
 * release builds and says what was wrong. */
static void
s_misuse(const char *what, const char *name, const char *labels)
{
    fprintf(stderr, "kj_metrics: %s: kujo_%s{%s}\n", what, name,
            labels ? labels : "");
    abort();
}

kj_metrics_t *
kj_metrics_new(const char *svc)
{
    char esc[256];
    kj_metrics_t *self = kj_calloc(1, sizeof(*self));
    if (kj_metrics_label_escape(svc ? svc : "", esc, sizeof(esc)) < 0)
        s_misuse("service name too long", "", svc);
    size_t len = strlen(esc) + sizeof("svc=\"\"");
    self->svc_label = kj_malloc(len);
    snprintf(self->svc_label, len, "svc=\"%s\"", esc);
    pthread_mutex_init(&self->lock, NULL);
    return self;
}

static void
s_series_free(s_series_t *s, s_type_t type)
{
    if (type == S_HISTOGRAM) {
        free(s->u.histogram.bounds);
        free(s->u.histogram.buckets);
    }
    free(s->labels);
    free(s);
}

void
kj_metrics_destroy(kj_metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kj_metrics_t *self = *self_p;
    for (size_t i = 0; i < self->n_families; i++) {
        s_family_t *f = self->families[i];
        for (size_t k = 0; k < f->n_series; k++)
            s_series_free(f->series[k], f->type);
        free(f->series);
        free(f->name);
        free(f->help);
        free(f);
    }
    free(self->families);
    free(self->svc_label);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

/* Find or create the series (name, labels) under the lock. *created says
 * whether the caller must initialise the value part. */
static s_series_t *
s_lookup(kj_metrics_t *self, const char *name, const char *help,
         const char *labels, s_type_t type, bool *created)
{
    if (!name || !s_metric_name_valid(name))
        s_misuse("bad metric name", name ? name : "(null)", labels);
    if (!labels)
        labels = "";
    if (!s_labels_valid(labels))
        s_misuse("bad labels (escape values with kj_metrics_label_escape)",
                 name, labels);

    size_t full_len = strlen(name) + sizeof("kujo_");
    char *full = kj_malloc(full_len);
    snprintf(full, full_len, "kujo_%s", name);

    s_family_t *f = NULL;
    for (size_t i = 0; i < self->n_families; i++) {
        if (strcmp(self->families[i]->name, full) == 0) {
            f = self->families[i];
            break;
        }
    }
    if (f) {
        free(full);
        if (f->type != type)
            s_misuse("registered again with another type", name, labels);
        for (size_t k = 0; k < f->n_series; k++) {
            if (strcmp(f->series[k]->labels, labels) == 0) {
                *created = false;
                return f->series[k];
            }
        }
    } else {
        f = kj_calloc(1, sizeof(*f));
        f->name = full;
        f->help = kj_strdup(help ? help : "");
        f->type = type;
        if (self->n_families == self->cap_families) {
            self->cap_families =
                self->cap_families ? self->cap_families * 2 : 16;
            self->families = kj_realloc(
                self->families, self->cap_families * sizeof(*self->families));
        }
        self->families[self->n_families++] = f;
    }
    s_series_t *s = kj_calloc(1, sizeof(*s));
    s->labels = kj_strdup(labels);
    if (f->n_series == f->cap_series) {
        f->cap_series = f->cap_series ? f->cap_series * 2 : 4;
        f->series = kj_realloc(f->series, f->cap_series * sizeof(*f->series));
    }
    f->series[f->n_series++] = s;
    *created = true;
    return s;
}

kj_counter_t *
kj_metrics_counter(kj_metrics_t *self, const char *name, const char *help,
                   const char *labels)
{
    bool created;
    pthread_mutex_lock(&self->lock);
    s_series_t *s = s_lookup(self, name, help, labels, S_COUNTER, &created);
    if (created)
        atomic_init(&s->u.counter.value, 0);
    pthread_mutex_unlock(&self->lock);
    return &s->u.counter;
}

kj_gauge_t *
kj_metrics_gauge(kj_metrics_t *self, const char *name, const char *help,
                 const char *labels)
{
    bool created;
    pthread_mutex_lock(&self->lock);
    s_series_t *s = s_lookup(self, name, help, labels, S_GAUGE, &created);
    if (created)
        atomic_init(&s->u.gauge.bits, s_bits(0.0));
    pthread_mutex_unlock(&self->lock);
    return &s->u.gauge;
}

kj_histogram_t *
kj_metrics_histogram(kj_metrics_t *self, const char *name, const char *help,
                     const char *labels, const double *bounds, size_t n)
{
    bool created;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
            s_misuse("histogram bounds must be finite and ascending", name,
                     labels);
    }
    pthread_mutex_lock(&self->lock);
    s_series_t *s = s_lookup(self, name, help, labels, S_HISTOGRAM, &created);
    kj_histogram_t *h = &s->u.histogram;
    if (created) {
        h->n = n;
        h->bounds = kj_calloc(n ? n : 1, sizeof(*h->bounds));
        if (n)
            memcpy(h->bounds, bounds, n * sizeof(*bounds));
        h->buckets = kj_calloc(n + 1, sizeof(*h->buckets));
        for (size_t i = 0; i <= n; i++)
            atomic_init(&h->buckets[i], 0);
        atomic_init(&h->sum_bits, s_bits(0.0));
    }
    pthread_mutex_unlock(&self->lock);
    return h;
}

void
kj_counter_add(kj_counter_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}

void
kj_gauge_set(kj_gauge_t *g, double v)
{
    atomic_store_explicit(&g->bits, s_bits(v), memory_order_relaxed);
}

void
kj_gauge_add(kj_gauge_t *g, double v)
{
    s_atomic_add_double(&g->bits, v);
}

void
kj_histogram_observe(kj_histogram_t *h, double v)
{
    /* A NaN would poison _sum for the life of the process. */
    if (isnan(v))
        return;
    size_t i = 0;
    while (i < h->n && v > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    s_atomic_add_double(&h->sum_bits, v);
}

uint64_t
kj_counter_value(const kj_counter_t *c)
{
    return atomic_load_explicit(&((kj_counter_t *)c)->value,
                                memory_order_relaxed);
}

double
kj_gauge_value(const kj_gauge_t *g)
{
    return s_double(
        atomic_load_explicit(&((kj_gauge_t *)g)->bits, memory_order_relaxed));
}

/* A growing text buffer for render; it only grows with what the code
 * registered, never with outside input. */
typedef struct {
    char *buf;  /* NUL-terminated text */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
} s_text_t;

static void
s_printf(s_text_t *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = (t->cap + (size_t)n + 1) * 2;
        t->buf = kj_realloc(t->buf, t->cap);
    }
}

/* A sample value in the text format: Go's float syntax, so NaN and
 * +Inf/-Inf are spelled as Prometheus reads them. */
static void
s_format_value(char *out, size_t size, double v)
{
    if (isnan(v))
        snprintf(out, size, "NaN");
    else if (isinf(v))
        snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
    else {
        snprintf(out, size, "%.15g", v);
        if (strtod(out, NULL) != v)
            snprintf(out, size, "%.17g", v);
    }
}

/* HELP text escapes backslash and newline only. */
static void
s_help_line(s_text_t *t, const s_family_t *f)
{
    s_printf(t, "# HELP %s ", f->name);
    for (const char *p = f->help; *p; p++) {
        if (*p == '\\')
            s_printf(t, "\\\\");
        else if (*p == '\n')
            s_printf(t, "\\n");
        else
            s_printf(t, "%c", *p);
    }
    s_printf(t, "\n# TYPE %s %s\n", f->name, s_type_names[f->type]);
}

static void
s_render_histogram(s_text_t *t, const kj_metrics_t *self, const s_family_t *f,
                   const s_series_t *s)
{
    const kj_histogram_t *h = &s->u.histogram;
    const char *sep = s->labels[0] ? "," : "";
    uint64_t cumulative = 0;
    char le[40];
    for (size_t i = 0; i <= h->n; i++) {
        cumulative += atomic_load_explicit(&((kj_histogram_t *)h)->buckets[i],
                                           memory_order_relaxed);
        if (i < h->n)
            s_format_value(le, sizeof(le), h->bounds[i]);
        else
            snprintf(le, sizeof(le), "+Inf");
        s_printf(t, "%s_bucket{%s%s%s,le=\"%s\"} %llu\n", f->name,
                 self->svc_label, sep, s->labels, le,
                 (unsigned long long)cumulative);
    }
    char sum[40];
    s_format_value(
        sum, sizeof(sum),
        s_double(atomic_load_explicit(&((kj_histogram_t *)h)->sum_bits,
                                      memory_order_relaxed)));
    s_printf(t, "%s_sum{%s%s%s} %s\n", f->name, self->svc_label, sep, s->labels,
             sum);
    /* _count is the +Inf bucket read above, so the two always agree even
     * while other threads observe. */
    s_printf(t, "%s_count{%s%s%s} %llu\n", f->name, self->svc_label, sep,
             s->labels, (unsigned long long)cumulative);
}

char *
kj_metrics_render(kj_metrics_t *self)
{
    s_text_t t = {kj_malloc(4096), 0, 4096};
    t.buf[0] = '\0';
    pthread_mutex_lock(&self->lock);
    for (size_t i = 0; i < self->n_families; i++) {
        const s_family_t *f = self->families[i];
        s_help_line(&t, f);
        for (size_t k = 0; k < f->n_series; k++) {
            const s_series_t *s = f->series[k];
            const char *sep = s->labels[0] ? "," : "";
            char val[40];
            switch (f->type) {
            case S_COUNTER:
                s_printf(&t, "%s{%s%s%s} %llu\n", f->name, self->svc_label, sep,
                         s->labels,
                         (unsigned long long)kj_counter_value(&s->u.counter));
                break;
            case S_GAUGE:
                s_format_value(val, sizeof(val), kj_gauge_value(&s->u.gauge));
                s_printf(&t, "%s{%s%s%s} %s\n", f->name, self->svc_label, sep,
                         s->labels, val);
                break;
            default:
                s_render_histogram(&t, self, f, s);
                break;
            }
        }
    }
    pthread_mutex_unlock(&self->lock);
    return t.buf;
}
