/* notifier_http: webhook POSTs on one libcurl multi handle, driven from the
 * stage's zmq_poll loop instead of a thread of their own: curl tells us
 * which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when it wants a
 * timer (CURLMOPT_TIMERFUNCTION); we hand those to zmq_poll as plain-fd
 * pollitems and give readiness back with curl_multi_socket_action.
 *
 * A fixed number of slots bounds the requests in flight; each slot keeps
 * its easy handle (so connections and TLS sessions are reused), the body,
 * the headers and a copy of the envelope until the answer comes. */
#ifndef NOTIFIER_HTTP_H
#define NOTIFIER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <zmq.h>

#include "kj_envelope.h"
#include "notifier_payload.h"

typedef struct notifier_http notifier_http_t;

/* How one request ended. */
typedef struct {
    bool delivered;            /* a 2xx answer */
    bool permanent;            /* retrying cannot help (bad URL or scheme) */
    int http_status;           /* 0 without an answer */
    char error[KJ_ERRMSG_MAX]; /* "HTTP 500", "connection refused",
                                  "timeout"; "" when delivered */
    int64_t elapsed_ms;        /* from start to answer */
    /* A 429 or 503 answer's Retry-After (seconds or an HTTP date, read by
     * libcurl) as ms from now, at most NOTIFIER_RETRY_AFTER_MAX_MS; 0 when
     * there was none. */
    int64_t retry_after_ms;
    /* An SMTP transfer's last reply code (250, 550, ...), 0 without one
     * or for HTTP. A 5xx that names the recipient or the message is
     * permanent; see notifier_smtp.h. */
    int smtp_status;
} notifier_result_t;

/* The longest wait a Retry-After may impose: an endpoint must not park
 * deliveries for days. */
#define NOTIFIER_RETRY_AFTER_MAX_MS (60 * 60 * 1000)

/* Called from notifier_http_after_poll for every finished request. env is
 * the slot's copy, writable, valid during the call only. */
typedef void (*notifier_done_fn)(void *ctx, kj_envelope_t *env, const char *url,
                                 const notifier_result_t *result);

/* Up to max_slots requests at once, each bounded by timeout_ms end to end.
 * Call curl_global_init before. Caller owns the result. */
notifier_http_t *
notifier_http_new(int64_t timeout_ms, size_t max_slots, notifier_done_fn done,
                  void *ctx);

/* Abort what is in flight (no callbacks) and free. Safe on NULL. */
void
notifier_http_destroy(notifier_http_t **self_p);

/* Start POSTing body (taken: *body_p is cleared and freed later) to url
 * with the headers. env is copied. Returns 0, or -1 when every slot is
 * busy or curl refused the request (message in err). */
int
notifier_http_start(notifier_http_t *self, const char *url,
                    const kj_envelope_t *env, char **body_p, size_t body_len,
                    const notifier_headers_t *headers, char *err,
                    size_t err_size);

/* A transfer that is not a webhook POST (notifier_smtp's mail): setup
 * sets the protocol options of a reset easy handle (URL, allowed
 * protocols, upload source); the slot sets the timeouts, NOSIGNAL, the
 * error buffer and its own private pointer. data lives until the slot is
 * released, then release(data) frees it. */
typedef struct {
    int (*setup)(CURL *easy, void *data, char *err, size_t err_size);
    void (*release)(void *data);
    void *data;
    bool smtp; /* results read as SMTP replies (smtp_status) */
} notifier_transfer_t;

/* Start xfer (taken: *xfer is cleared; released by the slot, or here on
 * failure) for env towards url, the endpoint name the result carries.
 * Returns 0, or -1 when every slot is busy or setup or curl refused
 * (message in err). */
int
notifier_http_start_transfer(notifier_http_t *self, const char *url,
                             const kj_envelope_t *env,
                             notifier_transfer_t *xfer, char *err,
                             size_t err_size);

/* Pollitems (socket NULL, fd set) for curl's sockets into items[max].
 * Returns how many were written. */
size_t
notifier_http_pollitems(notifier_http_t *self, zmq_pollitem_t *items,
                        size_t max);

/* How long the loop may sleep before curl needs a call, -1: no limit. */
long
notifier_http_timeout_ms(notifier_http_t *self);

/* Drive curl after a poll: readiness of items[n] (as returned by the poll,
 * other entries ignored) and expired timers; calls done for finished
 * requests. */
void
notifier_http_after_poll(notifier_http_t *self, const zmq_pollitem_t *items,
                         size_t n);

/* Requests in flight. */
size_t
notifier_http_inflight(const notifier_http_t *self);

/* The most requests in flight at once. */
size_t
notifier_http_capacity(const notifier_http_t *self);

/* The part of url that is safe to log and store: its origin,
 * scheme://host:port with the port always written (kj_url_origin), the
 * form of the circuit's endpoint label; "(invalid URL)" if it does not
 * parse. A webhook URL's path or query is often its secret (Slack's
 * are), and user:password@ always is, so neither appears, nor a hint. */
void
notifier_url_origin(const char *url, char *out, size_t size);

/* True for an absolute http:// or https:// URL with a host. */
bool
notifier_url_ok(const char *url);

#endif
