#include "notifier_circuit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_id.h"
#include "kj_log.h"
#include "kj_url.h"
#include "kj_util.h"

/* Open-addressing index over the entries: twice their number of slots, so
 * probes stay short even when every entry is in use. */
#define S_SLOTS (2 * NOTIFIER_CIRCUIT_MAX)
/* While a trial is in flight, the other deliveries come back this soon
 * (jittered down to half), bounded by the open period itself. */
#define S_RECHECK_MS 1000
/* Deliveries held by an open circuit come back spread over up to this
 * share of the open period (and at most a second) after it ends, so the
 * trial and the backlog behind it do not all land in one tick. */
#define S_SPREAD_DIV 10
#define S_SPREAD_MAX_MS 1000

/* One endpoint's breaker. */
typedef struct {
    char key[NOTIFIER_ENDPOINT_MAX]; /* scheme://host:port */
    notifier_circuit_state_t state;
    int64_t fails;      /* consecutive failures while closed */
    int64_t open_ms;    /* the current open period (doubles on reopen) */
    int64_t open_until; /* OPEN: when the trial may go */
    int64_t opened_at;  /* when it left closed, for the close log */
    bool trial_busy;    /* HALF_OPEN: the trial is in flight */
    int64_t trial_at;   /* when it started */
    char trial_id[KJ_ID_LEN + 1]; /* its complaint, to know its answer */
    int64_t inflight;             /* requests out now (acquire/release) */
    kj_gauge_t *gauge;            /* its own series or "other" */
    kj_counter_t *opened;         /* likewise */
} s_entry_t;

struct notifier_circuit {
    notifier_circuit_opts_t opts;
    kj_metrics_t *metrics;      /* borrowed; NULL: no metrics */
    s_entry_t *entries;         /* NOTIFIER_CIRCUIT_MAX, first n used */
    size_t n;                   /* entries in use */
    int32_t slots[S_SLOTS];     /* entry index + 1; 0: empty */
    size_t n_series;            /* entries with a series of their own */
    kj_gauge_t *other_gauge;    /* endpoint="other": how many are open */
    kj_counter_t *other_opened; /* endpoint="other" */
    bool full_logged;           /* "table full" said once */
    uint64_t rng;               /* jitter */
};

static const char s_gauge_help[] =
    "1 while the webhook endpoint's circuit is open or half-open, 0 when "
    "closed";
static const char s_opened_help[] =
    "Times the webhook endpoint's circuit opened (closed to open)";

notifier_circuit_t *
notifier_circuit_new(const notifier_circuit_opts_t *opts, kj_metrics_t *metrics,
                     uint64_t seed)
{
    if (opts->failures < 0 || opts->open_ms <= 0 ||
        opts->open_max_ms < opts->open_ms || opts->trial_timeout_ms <= 0)
        return NULL;
    notifier_circuit_t *self = kj_calloc(1, sizeof *self);
    self->opts = *opts;
    self->metrics = metrics;
    self->entries = kj_calloc(NOTIFIER_CIRCUIT_MAX, sizeof *self->entries);
    self->rng = seed;
    if (metrics) {
        /* Present from the start, so that the metric exists (at 0) even
         * before any endpoint is known. */
        self->other_gauge =
            kj_metrics_gauge(metrics, "webhook_circuit_open", s_gauge_help,
                             "endpoint=\"other\"");
        self->other_opened =
            kj_metrics_counter(metrics, "webhook_circuit_opened_total",
                               s_opened_help, "endpoint=\"other\"");
    }
    return self;
}

void
notifier_circuit_destroy(notifier_circuit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    notifier_circuit_t *self = *self_p;
    free(self->entries);
    free(self);
    *self_p = NULL;
}

int
notifier_circuit_endpoint(const char *url, char *out, size_t size)
{
    kj_url_t u;
    if (size)
        out[0] = '\0';
    if (kj_url_parse(url, &u, NULL, 0) != 0)
        return -1;
    if (strcmp(u.scheme, "http") != 0 && strcmp(u.scheme, "https") != 0)
        return -1;
    /* user:password@ is no part of the endpoint (and is secret). */
    return kj_url_origin(&u, out, size);
}

/* The slot where key is, or the empty one where it would go. */
static size_t
s_probe(const notifier_circuit_t *self, const char *key)
{
    size_t i = (size_t)(kj_hash64(key, strlen(key)) % S_SLOTS);
    for (;;) {
        int32_t e = self->slots[i];
        if (e == 0 || strcmp(self->entries[e - 1].key, key) == 0)
            return i;
        i = (i + 1) % S_SLOTS;
    }
}

/* Give a new entry its series: its own while there is room, else the
 * shared endpoint="other". */
static void
s_series(notifier_circuit_t *self, s_entry_t *e)
{
    if (!self->metrics)
        return;
    char esc[2 * NOTIFIER_ENDPOINT_MAX];
    char labels[sizeof esc + 16];
    if (self->n_series < NOTIFIER_CIRCUIT_SERIES &&
        kj_metrics_label_escape(e->key, esc, sizeof esc) >= 0) {
        snprintf(labels, sizeof labels, "endpoint=\"%s\"", esc);
        e->gauge = kj_metrics_gauge(self->metrics, "webhook_circuit_open",
                                    s_gauge_help, labels);
        e->opened =
            kj_metrics_counter(self->metrics, "webhook_circuit_opened_total",
                               s_opened_help, labels);
        self->n_series++;
        return;
    }
    e->gauge = self->other_gauge;
    e->opened = self->other_opened;
}

/* The entry for url, created if new; NULL if url is not a web URL or the
 * table is full. */
static s_entry_t *
s_find(notifier_circuit_t *self, const char *url, bool create)
{
    char key[NOTIFIER_ENDPOINT_MAX];
    if (notifier_circuit_endpoint(url, key, sizeof key) < 0)
        return NULL;
    size_t slot = s_probe(self, key);
    if (self->slots[slot] != 0)
        return &self->entries[self->slots[slot] - 1];
    if (!create)
        return NULL;
    if (self->n == NOTIFIER_CIRCUIT_MAX) {
        if (!self->full_logged)
            kj_warn("circuit table full; new endpoints get no breaker",
                    "l:endpoints", (long long)self->n);
        self->full_logged = true;
        return NULL;
    }
    s_entry_t *e = &self->entries[self->n];
    memset(e, 0, sizeof *e);
    kj_strlcpy(e->key, key, sizeof e->key);
    e->state = NOTIFIER_CIRCUIT_CLOSED;
    e->open_ms = self->opts.open_ms;
    s_series(self, e);
    self->slots[slot] = (int32_t)++self->n;
    return e;
}

int
notifier_circuit_track(notifier_circuit_t *self, const char *url)
{
    return s_find(self, url, true) ? 0 : -1;
}

/* A random delay in [lo, hi]. */
static int64_t
s_jitter(notifier_circuit_t *self, int64_t lo, int64_t hi)
{
    if (hi <= lo)
        return lo;
    return lo + (int64_t)(kj_rand64(&self->rng) % (uint64_t)(hi - lo + 1));
}

/* When a delivery held by e should come back. */
static int64_t
s_come_back(notifier_circuit_t *self, const s_entry_t *e, int64_t now_ms)
{
    if (e->state == NOTIFIER_CIRCUIT_OPEN) {
        int64_t spread = e->open_ms / S_SPREAD_DIV;
        if (spread > S_SPREAD_MAX_MS)
            spread = S_SPREAD_MAX_MS;
        return e->open_until + s_jitter(self, 0, spread);
    }
    int64_t re =
        self->opts.open_ms < S_RECHECK_MS ? self->opts.open_ms : S_RECHECK_MS;
    return now_ms + s_jitter(self, re / 2, re);
}

static void
s_open(notifier_circuit_t *self, s_entry_t *e, int64_t now_ms,
       const char *error)
{
    e->state = NOTIFIER_CIRCUIT_OPEN;
    e->open_ms = self->opts.open_ms;
    e->open_until = now_ms + e->open_ms;
    e->opened_at = now_ms;
    e->trial_busy = false;
    if (e->gauge)
        kj_gauge_add(e->gauge, 1);
    if (e->opened)
        kj_counter_inc(e->opened);
    kj_warn("circuit opened", "s:endpoint", e->key, "l:failures",
            (long long)e->fails, "s:error", error ? error : "", "l:open_ms",
            (long long)e->open_ms);
    e->fails = 0;
}

/* The trial failed: open again for twice as long, up to the cap. */
static void
s_reopen(notifier_circuit_t *self, s_entry_t *e, int64_t now_ms,
         const char *error)
{
    e->state = NOTIFIER_CIRCUIT_OPEN;
    e->open_ms = e->open_ms > self->opts.open_max_ms / 2
                     ? self->opts.open_max_ms
                     : e->open_ms * 2;
    e->open_until = now_ms + e->open_ms;
    e->trial_busy = false;
    kj_warn("circuit reopened", "s:endpoint", e->key, "s:error",
            error ? error : "", "l:open_ms", (long long)e->open_ms);
}

static void
s_close(notifier_circuit_t *self, s_entry_t *e, int64_t now_ms)
{
    e->state = NOTIFIER_CIRCUIT_CLOSED;
    e->fails = 0;
    e->open_ms = self->opts.open_ms;
    e->trial_busy = false;
    if (e->gauge)
        kj_gauge_add(e->gauge, -1);
    kj_info("circuit closed", "s:endpoint", e->key, "l:open_for_ms",
            (long long)(now_ms - e->opened_at));
}

bool
notifier_circuit_allow(notifier_circuit_t *self, const char *url,
                       const char *id, int64_t now_ms, bool *trial,
                       int64_t *retry_at_ms)
{
    *trial = false;
    if (self->opts.failures == 0)
        return true;
    s_entry_t *e = s_find(self, url, true);
    if (!e || e->state == NOTIFIER_CIRCUIT_CLOSED)
        return true;
    if (e->state == NOTIFIER_CIRCUIT_OPEN) {
        if (now_ms < e->open_until) {
            *retry_at_ms = s_come_back(self, e, now_ms);
            return false;
        }
        e->state = NOTIFIER_CIRCUIT_HALF_OPEN;
        e->trial_busy = false;
    }
    /* Half-open. A trial gets an answer or a timeout from curl, so one
     * still unanswered long after is lost: count it as failed. */
    if (e->trial_busy && now_ms - e->trial_at > self->opts.trial_timeout_ms) {
        s_reopen(self, e, now_ms, "trial unanswered");
        *retry_at_ms = s_come_back(self, e, now_ms);
        return false;
    }
    if (e->trial_busy) {
        *retry_at_ms = s_come_back(self, e, now_ms);
        return false;
    }
    e->trial_busy = true;
    e->trial_at = now_ms;
    kj_strlcpy(e->trial_id, id ? id : "", sizeof e->trial_id);
    *trial = true;
    kj_info("circuit half-open: trial request", "s:endpoint", e->key, "s:id",
            e->trial_id);
    return true;
}

void
notifier_circuit_report(notifier_circuit_t *self, const char *url,
                        const char *id, notifier_outcome_t outcome,
                        const char *error, int64_t now_ms)
{
    if (self->opts.failures == 0)
        return;
    s_entry_t *e = s_find(self, url, true);
    if (!e)
        return;
    bool is_trial = e->state == NOTIFIER_CIRCUIT_HALF_OPEN && e->trial_busy &&
                    strcmp(e->trial_id, id ? id : "") == 0;
    switch (e->state) {
    case NOTIFIER_CIRCUIT_CLOSED:
        if (outcome == NOTIFIER_OUTCOME_UP) {
            e->fails = 0;
        } else if (outcome == NOTIFIER_OUTCOME_DOWN) {
            e->fails++;
            if (e->fails >= self->opts.failures)
                s_open(self, e, now_ms, error);
        }
        break;
    case NOTIFIER_CIRCUIT_OPEN:
        /* Requests that started before it opened: already accounted. */
        break;
    case NOTIFIER_CIRCUIT_HALF_OPEN:
        if (outcome == NOTIFIER_OUTCOME_UP)
            s_close(self, e, now_ms); /* any answer proves it is back */
        else if (is_trial && outcome == NOTIFIER_OUTCOME_DOWN)
            s_reopen(self, e, now_ms, error);
        else if (is_trial)
            e->trial_busy = false; /* said nothing: let another try */
        break;
    }
}

bool
notifier_circuit_acquire(notifier_circuit_t *self, const char *url)
{
    if (self->opts.max_inflight <= 0)
        return true;
    s_entry_t *e = s_find(self, url, true);
    if (!e)
        return true; /* the table is full: no bound, as no breaker */
    if (e->inflight >= self->opts.max_inflight)
        return false;
    e->inflight++;
    return true;
}

void
notifier_circuit_release(notifier_circuit_t *self, const char *url)
{
    if (self->opts.max_inflight <= 0)
        return;
    s_entry_t *e = s_find(self, url, false);
    if (e && e->inflight > 0)
        e->inflight--;
}

void
notifier_circuit_hold(notifier_circuit_t *self, const char *url,
                      int64_t until_ms, int64_t now_ms)
{
    if (self->opts.failures == 0 || until_ms <= now_ms)
        return;
    s_entry_t *e = s_find(self, url, true);
    if (!e)
        return;
    if (e->state == NOTIFIER_CIRCUIT_CLOSED) {
        e->opened_at = now_ms;
        if (e->gauge)
            kj_gauge_add(e->gauge, 1);
        if (e->opened)
            kj_counter_inc(e->opened);
        kj_warn("circuit held: the endpoint sent Retry-After", "s:endpoint",
                e->key, "l:hold_ms", (long long)(until_ms - now_ms));
    }
    e->state = NOTIFIER_CIRCUIT_OPEN;
    e->fails = 0;
    e->trial_busy = false;
    if (until_ms > e->open_until)
        e->open_until = until_ms;
}

notifier_outcome_t
notifier_circuit_outcome(bool delivered, bool permanent, int http_status)
{
    if (delivered)
        return NOTIFIER_OUTCOME_UP;
    if (permanent)
        return NOTIFIER_OUTCOME_NONE;
    if (http_status == 0 || http_status == 429 || http_status >= 500)
        return NOTIFIER_OUTCOME_DOWN;
    return NOTIFIER_OUTCOME_UP;
}

notifier_circuit_state_t
notifier_circuit_state(const notifier_circuit_t *self, const char *url)
{
    char key[NOTIFIER_ENDPOINT_MAX];
    if (notifier_circuit_endpoint(url, key, sizeof key) < 0)
        return NOTIFIER_CIRCUIT_CLOSED;
    size_t slot = s_probe(self, key);
    if (self->slots[slot] == 0)
        return NOTIFIER_CIRCUIT_CLOSED;
    return self->entries[self->slots[slot] - 1].state;
}
