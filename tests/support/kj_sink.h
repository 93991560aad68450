/* kj_sink: a real webhook receiver for tests, the demo and the benchmark.
 * A libmicrohttpd server on a loopback port that takes every POST, checks
 * the Kujo-Signature header (kj_hmac.h) and the JSON body, records each
 * Idempotency-Key with a count, and answers a status that can be changed at
 * runtime. It can be stopped and started again on the same port, to play a
 * receiver that goes away. All functions are thread-safe. */
#ifndef KJ_SINK_H
#define KJ_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct kj_sink kj_sink_t;

/* Counters since the sink was created (restarts keep them). */
typedef struct {
    uint64_t requests;      /* POSTs answered (any status) */
    uint64_t answered_2xx;  /* of those, answered with a 2xx */
    uint64_t bad_signature; /* signature missing or wrong (secret set) */
    uint64_t missing_key;   /* no Idempotency-Key header */
    uint64_t bad_body;      /* not a JSON object with a string complaint_id */
    uint64_t key_mismatch;  /* key is not "<complaint_id>:<kind>" */
    uint64_t too_large;     /* body over the limit, answered 413 */
    uint64_t not_post;      /* other methods, answered 405 */
    uint64_t distinct_keys; /* distinct Idempotency-Keys recorded */
    uint64_t keys_dropped;  /* keys not recorded: the table was full */
    uint64_t other_kinds;   /* taken (200) but not counted: kj_sink_only_kind */
} kj_sink_stats_t;

/* What the sink saw in one request, handed to the callback. */
typedef struct {
    const char *key;          /* Idempotency-Key, or NULL */
    const json_t *body;       /* parsed body, or NULL if not JSON */
    const char *complaint_id; /* body's complaint_id, or NULL */
    int signature_ok;         /* 1 valid, 0 bad or missing, -1 no secret */
    unsigned status;          /* what the sink answered */
} kj_sink_event_t;

/* Called on a server thread for every POST, after checks and before the
 * answer is sent. Must be thread-safe and quick. */
typedef void(kj_sink_cb_t)(const kj_sink_event_t *ev, void *arg);

/* Start listening on host:port (host a numeric IPv4 address; port 0: a
 * free port). secret NULL or "" turns signature checks off. NULL if it
 * cannot listen. */
/* Count only deliveries of kind (NULL: every kind, the default): others
 * are answered 200 at once and only tallied in other_kinds, so a test of
 * team alerts is not disturbed by the case lifecycle's deliveries. */
void
kj_sink_only_kind(kj_sink_t *self, const char *kind);

kj_sink_t *
kj_sink_new(const char *host, int port, const char *secret);

/* Stop and free, including recorded keys. Safe on NULL. */
void
kj_sink_destroy(kj_sink_t **self_p);

/* The port listened on (stays the same across stop/start). */
int
kj_sink_port(const kj_sink_t *self);

/* "http://127.0.0.1:<port>/alerts" into out[size]. */
void
kj_sink_url(const kj_sink_t *self, char *out, size_t size);

/* Answer this status from now on (200 by default). */
void
kj_sink_set_status(kj_sink_t *self, unsigned status);

/* Sleep delay_ms before answering each request (0 by default), to play a
 * slow receiver. Capped at 60 s. */
void
kj_sink_set_delay_ms(kj_sink_t *self, int delay_ms);

/* Keep a copy of the last body seen for each key (on by default). The
 * webhook-sink binary turns it off so long runs use little memory. */
void
kj_sink_keep_bodies(kj_sink_t *self, bool keep);

/* Callback for every POST (NULL to remove). */
void
kj_sink_set_callback(kj_sink_t *self, kj_sink_cb_t *cb, void *arg);

/* Stop listening; recorded keys and counters stay. 0 or -1. */
int
kj_sink_stop(kj_sink_t *self);

/* Listen again on the same port. 0, or -1 if it cannot bind. */
int
kj_sink_start(kj_sink_t *self);

/* Copy the counters into *out. */
void
kj_sink_stats(kj_sink_t *self, kj_sink_stats_t *out);

/* Times key was seen (0 if never). */
unsigned
kj_sink_key_count(kj_sink_t *self, const char *key);

/* Times key was answered with a 2xx: more than 1 is a duplicate
 * delivery (a retry after a 2xx the sender never recorded). */
unsigned
kj_sink_key_ok(kj_sink_t *self, const char *key);

/* Flap: from now on every other request (the first included) is answered
 * 500, the others with the set status, to play a receiver that fails
 * intermittently. */
void
kj_sink_set_flap(kj_sink_t *self, bool flap);

/* Times key was seen with a valid signature. */
unsigned
kj_sink_key_signed(kj_sink_t *self, const char *key);

/* A copy of the last body seen with key (caller json_decref's), or NULL. */
json_t *
kj_sink_key_body(kj_sink_t *self, const char *key);

/* Forget recorded keys and reset the counters. */
void
kj_sink_reset(kj_sink_t *self);

#endif
