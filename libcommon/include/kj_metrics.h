/* kj_metrics: counters, gauges and histograms rendered in the Prometheus
 * text format. Updates are lock-free atomics and safe from any thread;
 * registration and rendering take a mutex. Every metric name gets the
 * "kujo_" prefix and a constant label svc="<service>". */
#ifndef KJ_METRICS_H
#define KJ_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct kj_metrics kj_metrics_t;
typedef struct kj_counter kj_counter_t;
typedef struct kj_gauge kj_gauge_t;
typedef struct kj_histogram kj_histogram_t;

/* A registry for one service. Caller owns the result. */
kj_metrics_t *
kj_metrics_new(const char *svc);

/* Destroy and set *self_p to NULL. Safe on NULL. */
void
kj_metrics_destroy(kj_metrics_t **self_p);

/* Find or create a counter. name without prefix ("envelopes_in_total");
 * labels is NULL or preformatted Prometheus pairs, e.g. "reason=\"stale\"".
 * The same (name, labels) returns the same object; metrics of one name
 * share HELP/TYPE lines. The registry owns the result. */
kj_counter_t *
kj_metrics_counter(kj_metrics_t *self, const char *name, const char *help,
                   const char *labels);

kj_gauge_t *
kj_metrics_gauge(kj_metrics_t *self, const char *name, const char *help,
                 const char *labels);

/* bounds: ascending upper bounds, +Inf is implicit. Copied. */
kj_histogram_t *
kj_metrics_histogram(kj_metrics_t *self, const char *name, const char *help,
                     const char *labels, const double *bounds, size_t n);

void
kj_counter_add(kj_counter_t *c, uint64_t n);
#define kj_counter_inc(c) kj_counter_add((c), 1)

void
kj_gauge_set(kj_gauge_t *g, double v);
void
kj_gauge_add(kj_gauge_t *g, double v);

void
kj_histogram_observe(kj_histogram_t *h, double v);

/* Current values, for tests and for /readyz decisions. */
uint64_t
kj_counter_value(const kj_counter_t *c);
double
kj_gauge_value(const kj_gauge_t *g);

/* The whole registry in text format 0.0.4. Caller frees. */
char *
kj_metrics_render(kj_metrics_t *self);

/* Escape a label value for the labels argument above (backslash, double
 * quote and newline, per the text format) into out[size]. Returns the
 * escaped length, or -1 if it does not fit (out is then "").
 * Labels given to the registry are checked, and a malformed one is a
 * programming error: values that come from outside input must go through
 * this first. */
int
kj_metrics_label_escape(const char *value, char *out, size_t size);

/* Latency buckets in seconds used by every stage_latency_seconds. */
extern const double kj_latency_buckets[];
extern const size_t kj_latency_buckets_len;

#endif
