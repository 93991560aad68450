#include "notifier_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "kj_log.h"
#include "kj_url.h"
#include "kj_util.h"

/* One request in flight, and everything curl borrows while it runs. */
typedef struct {
    CURL *easy;                   /* kept across requests: connection reuse */
    size_t idx;                   /* its place in notifier_http.slots */
    bool busy;                    /* a request is in flight */
    char *body;                   /* the POST body curl reads from */
    struct curl_slist *headers;   /* the request headers */
    char url[KJ_URL_MAX];         /* where it goes */
    int64_t started_ms;           /* monotonic start, for elapsed_ms */
    char errbuf[CURL_ERROR_SIZE]; /* curl's detailed message, logged only */
    kj_envelope_t env;            /* the envelope to complete */
    notifier_transfer_t xfer;     /* a non-HTTP transfer's data, or zeroed */
} s_slot_t;

/* A socket curl asked us to watch. */
typedef struct {
    curl_socket_t fd;
    int what; /* CURL_POLL_IN, _OUT or _INOUT */
} s_sock_t;

struct notifier_http {
    CURLM *multi;       /* all requests share its connection cache */
    int64_t timeout_ms; /* per request, connect to last byte */
    s_slot_t **slots;   /* max_slots entries, allocated when first used */
    size_t max_slots;   /* the bound on requests in flight */
    size_t *free_idx;   /* stack of free slot indexes */
    size_t n_free;      /* entries on the stack */
    s_sock_t *socks;    /* curl's sockets, in the order reported */
    size_t n_socks, cap_socks;
    size_t n_polled;       /* sockets that fit in the last pollitems */
    int64_t timer_at_ms;   /* monotonic time curl wants a call, -1 none */
    notifier_done_fn done; /* result callback */
    void *ctx;             /* its argument */
};

/* If not every socket fits in the poll set, the loop wakes at least this
 * often to let curl look at the others. */
#define S_OVERFLOW_POLL_MS 10

static int
s_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    (void)socketp;
    notifier_http_t *self = userp;
    size_t i;
    for (i = 0; i < self->n_socks; i++)
        if (self->socks[i].fd == fd)
            break;
    if (what == CURL_POLL_REMOVE) {
        if (i < self->n_socks) {
            self->socks[i] = self->socks[self->n_socks - 1];
            self->n_socks--;
        }
        return 0;
    }
    if (i == self->n_socks) {
        /* curl opens at most a few sockets per transfer, so this grows
         * with the slot count, which is bounded. */
        if (self->n_socks == self->cap_socks) {
            self->cap_socks = self->cap_socks ? self->cap_socks * 2 : 16;
            self->socks =
                kj_realloc(self->socks, self->cap_socks * sizeof *self->socks);
        }
        self->n_socks++;
    }
    self->socks[i].fd = fd;
    self->socks[i].what = what;
    return 0;
}

static int
s_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    notifier_http_t *self = userp;
    self->timer_at_ms = timeout_ms < 0 ? -1 : kj_mono_ms() + timeout_ms;
    return 0;
}

/* Answers are not read: a 2xx is all a webhook has to say. */
static size_t
s_discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

notifier_http_t *
notifier_http_new(int64_t timeout_ms, size_t max_slots, notifier_done_fn done,
                  void *ctx)
{
    if (timeout_ms <= 0 || max_slots == 0 || !done)
        return NULL;
    notifier_http_t *self = kj_calloc(1, sizeof *self);
    self->multi = curl_multi_init();
    if (!self->multi) {
        free(self);
        return NULL;
    }
    self->timeout_ms = timeout_ms;
    self->max_slots = max_slots;
    self->slots = kj_calloc(max_slots, sizeof *self->slots);
    self->free_idx = kj_calloc(max_slots, sizeof *self->free_idx);
    /* Lowest index on top, so a quiet service touches few slots. */
    for (size_t i = 0; i < max_slots; i++)
        self->free_idx[i] = max_slots - 1 - i;
    self->n_free = max_slots;
    self->timer_at_ms = -1;
    self->done = done;
    self->ctx = ctx;
    curl_multi_setopt(self->multi, CURLMOPT_SOCKETFUNCTION, s_socket_cb);
    curl_multi_setopt(self->multi, CURLMOPT_SOCKETDATA, self);
    curl_multi_setopt(self->multi, CURLMOPT_TIMERFUNCTION, s_timer_cb);
    curl_multi_setopt(self->multi, CURLMOPT_TIMERDATA, self);
    return self;
}

static void
s_slot_release(notifier_http_t *self, size_t idx)
{
    s_slot_t *slot = self->slots[idx];
    free(slot->body);
    slot->body = NULL;
    curl_slist_free_all(slot->headers);
    slot->headers = NULL;
    if (slot->xfer.release)
        slot->xfer.release(slot->xfer.data);
    memset(&slot->xfer, 0, sizeof slot->xfer);
    slot->busy = false;
    self->free_idx[self->n_free++] = idx;
}

void
notifier_http_destroy(notifier_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    notifier_http_t *self = *self_p;
    for (size_t i = 0; i < self->max_slots; i++) {
        s_slot_t *slot = self->slots[i];
        if (!slot)
            continue;
        if (slot->busy)
            curl_multi_remove_handle(self->multi, slot->easy);
        free(slot->body);
        curl_slist_free_all(slot->headers);
        if (slot->xfer.release)
            slot->xfer.release(slot->xfer.data);
        curl_easy_cleanup(slot->easy);
        free(slot);
    }
    curl_multi_cleanup(self->multi);
    free(self->slots);
    free(self->free_idx);
    free(self->socks);
    free(self);
    *self_p = NULL;
}

static struct curl_slist *
s_header(struct curl_slist *list, const char *name, const char *value)
{
    char line[256];
    snprintf(line, sizeof line, "%s: %s", name, value);
    struct curl_slist *out = curl_slist_append(list, line);
    if (!out)
        abort(); /* curl_slist_append fails only when out of memory */
    return out;
}

/* Take a free slot with a ready easy handle (new, or reset), or NULL
 * with a message in err. */
static s_slot_t *
s_slot_take(notifier_http_t *self, const char *url, const kj_envelope_t *env,
            char *err, size_t err_size)
{
    if (self->n_free == 0) {
        snprintf(err, err_size, "all %zu delivery slots busy", self->max_slots);
        return NULL;
    }
    if (strlen(url) >= KJ_URL_MAX) {
        snprintf(err, err_size, "endpoint URL too long");
        return NULL;
    }
    size_t idx = self->free_idx[self->n_free - 1];
    s_slot_t *slot = self->slots[idx];
    if (!slot) {
        slot = kj_calloc(1, sizeof *slot);
        slot->easy = curl_easy_init();
        if (!slot->easy) {
            free(slot);
            snprintf(err, err_size, "curl_easy_init failed");
            return NULL;
        }
        slot->idx = idx;
        self->slots[idx] = slot;
    } else {
        /* Forget the last request's options; the multi handle keeps the
         * connection cache, so reuse survives the reset. */
        curl_easy_reset(slot->easy);
    }
    self->n_free--;
    slot->busy = true;
    kj_strlcpy(slot->url, url, sizeof slot->url);
    slot->env = *env;
    slot->errbuf[0] = '\0';
    slot->started_ms = kj_mono_ms();
    return slot;
}

/* The options every transfer shares, then into the multi handle. 0, or
 * -1 (slot released, message in err). */
static int
s_slot_add(notifier_http_t *self, s_slot_t *slot, char *err, size_t err_size)
{
    CURL *e = slot->easy;
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)self->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)self->timeout_ms);
    /* Signals belong to the stage's signalfd, and DNS timeouts must not
     * use alarm(). */
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, slot->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)slot);
    CURLMcode mc = curl_multi_add_handle(self->multi, e);
    if (mc != CURLM_OK) {
        snprintf(err, err_size, "curl_multi_add_handle: %s",
                 curl_multi_strerror(mc));
        s_slot_release(self, slot->idx);
        return -1;
    }
    return 0;
}

int
notifier_http_start(notifier_http_t *self, const char *url,
                    const kj_envelope_t *env, char **body_p, size_t body_len,
                    const notifier_headers_t *h, char *err, size_t err_size)
{
    s_slot_t *slot = s_slot_take(self, url, env, err, err_size);
    if (!slot)
        return -1;
    slot->body = *body_p;
    *body_p = NULL;

    struct curl_slist *hl = NULL;
    hl = s_header(hl, "Content-Type", h->content_type);
    hl = s_header(hl, "User-Agent", h->user_agent);
    hl = s_header(hl, "Idempotency-Key", h->idempotency_key);
    if (h->signature[0])
        hl = s_header(hl, "Kujo-Signature", h->signature);
    /* No "Expect: 100-continue" round trip before larger bodies. */
    hl = curl_slist_append(hl, "Expect:");
    if (!hl)
        abort();
    slot->headers = hl;

    CURL *e = slot->easy;
    curl_easy_setopt(e, CURLOPT_URL, slot->url);
    /* Only web URLs: a rules file must not turn alerts into file:// reads
     * or gopher requests, and redirects are not followed (a 3xx is a
     * failure the operator should see). */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, slot->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, slot->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_discard);
    return s_slot_add(self, slot, err, err_size);
}

int
notifier_http_start_transfer(notifier_http_t *self, const char *url,
                             const kj_envelope_t *env,
                             notifier_transfer_t *xfer, char *err,
                             size_t err_size)
{
    notifier_transfer_t x = *xfer;
    memset(xfer, 0, sizeof *xfer);
    s_slot_t *slot = s_slot_take(self, url, env, err, err_size);
    if (!slot) {
        if (x.release)
            x.release(x.data);
        return -1;
    }
    slot->xfer = x; /* released with the slot from here on */
    if (x.setup(slot->easy, x.data, err, err_size) != 0) {
        s_slot_release(self, slot->idx);
        return -1;
    }
    return s_slot_add(self, slot, err, err_size);
}

size_t
notifier_http_pollitems(notifier_http_t *self, zmq_pollitem_t *items,
                        size_t max)
{
    size_t n = self->n_socks < max ? self->n_socks : max;
    for (size_t i = 0; i < n; i++) {
        items[i].socket = NULL;
        items[i].fd = self->socks[i].fd;
        items[i].events = 0;
        if (self->socks[i].what & CURL_POLL_IN)
            items[i].events |= ZMQ_POLLIN;
        if (self->socks[i].what & CURL_POLL_OUT)
            items[i].events |= ZMQ_POLLOUT;
        items[i].revents = 0;
    }
    self->n_polled = n;
    return n;
}

long
notifier_http_timeout_ms(notifier_http_t *self)
{
    long t = -1;
    if (self->timer_at_ms >= 0) {
        int64_t left = self->timer_at_ms - kj_mono_ms();
        t = left < 0 ? 0 : (long)left;
    }
    if (self->n_socks > self->n_polled && (t < 0 || t > S_OVERFLOW_POLL_MS))
        t = S_OVERFLOW_POLL_MS;
    return t;
}

/* The short, stable error a record and a metric label can carry. curl's
 * own message (errbuf) can name hosts and is only logged. */
static void
s_describe(CURLcode rc, CURL *easy, long status, notifier_result_t *res)
{
    res->http_status = (int)status;
    if (rc == CURLE_OK) {
        res->delivered = status >= 200 && status < 300;
        if (!res->delivered)
            snprintf(res->error, sizeof res->error, "HTTP %ld", status);
        return;
    }
    long os_errno = 0;
    curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        snprintf(res->error, sizeof res->error, "%s",
                 os_errno == ECONNREFUSED ? "connection refused"
                                          : "could not connect");
        break;
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(res->error, sizeof res->error, "timeout");
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(res->error, sizeof res->error, "could not resolve host");
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        res->permanent = true;
        snprintf(res->error, sizeof res->error, "%s", curl_easy_strerror(rc));
        break;
    default:
        snprintf(res->error, sizeof res->error, "%s", curl_easy_strerror(rc));
        break;
    }
}

/* An SMTP transfer's result. curl's CURLE_OK means the server took the
 * message (250 after DATA). A 5xx reply is permanent for this message
 * (the recipient or the content was refused) except the authentication
 * ones (530, 534, 535, 538): those are the operator's to fix, so the job
 * keeps its attempts. */
static void
s_describe_smtp(CURLcode rc, CURL *easy, long code, notifier_result_t *res)
{
    res->smtp_status = (int)code;
    if (rc == CURLE_OK) {
        res->delivered = true;
        return;
    }
    if (rc == CURLE_LOGIN_DENIED) {
        snprintf(res->error, sizeof res->error, "SMTP authentication failed");
        return;
    }
    if (rc == CURLE_USE_SSL_FAILED) {
        snprintf(res->error, sizeof res->error,
                 "SMTP server offers no STARTTLS (KUJO_SMTP_TLS=require)");
        return;
    }
    if (code >= 400 && code < 600) {
        bool auth = code == 530 || code == 534 || code == 535 || code == 538;
        res->permanent = code >= 500 && !auth;
        snprintf(res->error, sizeof res->error, "SMTP %ld", code);
        return;
    }
    notifier_result_t web;
    memset(&web, 0, sizeof web);
    s_describe(rc, easy, 0, &web);
    res->permanent = web.permanent;
    kj_strlcpy(res->error, web.error, sizeof res->error);
}

/* Retry-After counts only on "slow down" (429) and "unavailable" (503). */
static int64_t
s_retry_after_ms(CURL *easy, long status)
{
    if (status != 429 && status != 503)
        return 0;
    curl_off_t s = 0;
    if (curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &s) != CURLE_OK || s <= 0)
        return 0;
    if (s > NOTIFIER_RETRY_AFTER_MAX_MS / 1000)
        return NOTIFIER_RETRY_AFTER_MAX_MS;
    return (int64_t)s * 1000;
}

static void
s_reap(notifier_http_t *self)
{
    CURLMsg *msg;
    int left = 0;
    while ((msg = curl_multi_info_read(self->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        char *priv = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        s_slot_t *slot = (s_slot_t *)(void *)priv;
        long status = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        notifier_result_t res;
        memset(&res, 0, sizeof res);
        if (slot->xfer.smtp) {
            s_describe_smtp(rc, easy, status, &res);
        } else {
            s_describe(rc, easy, status, &res);
            res.retry_after_ms = s_retry_after_ms(easy, status);
        }
        res.elapsed_ms = kj_mono_ms() - slot->started_ms;
        if (rc != CURLE_OK)
            kj_debug("curl transfer failed", "s:error", slot->errbuf, NULL);
        curl_multi_remove_handle(self->multi, easy);
        self->done(self->ctx, &slot->env, slot->url, &res);
        s_slot_release(self, slot->idx);
    }
}

static int
s_mask(short revents)
{
    int mask = 0;
    if (revents & ZMQ_POLLIN)
        mask |= CURL_CSELECT_IN;
    if (revents & ZMQ_POLLOUT)
        mask |= CURL_CSELECT_OUT;
    if (revents & ZMQ_POLLERR)
        mask |= CURL_CSELECT_ERR;
    return mask;
}

static bool
s_ours(const notifier_http_t *self, curl_socket_t fd)
{
    for (size_t i = 0; i < self->n_socks; i++)
        if (self->socks[i].fd == fd)
            return true;
    return false;
}

void
notifier_http_after_poll(notifier_http_t *self, const zmq_pollitem_t *items,
                         size_t n)
{
    int running = 0;
    /* Sockets that did not fit in the poll set are checked blindly (mask
     * 0 lets curl find out itself); snapshot them before curl changes the
     * table. */
    size_t n_over =
        self->n_socks > self->n_polled ? self->n_socks - self->n_polled : 0;
    curl_socket_t *over = NULL;
    if (n_over) {
        over = kj_calloc(n_over, sizeof *over);
        for (size_t i = 0; i < n_over; i++)
            over[i] = self->socks[self->n_polled + i].fd;
    }
    for (size_t i = 0; i < n; i++) {
        if (items[i].socket != NULL || items[i].revents == 0)
            continue;
        if (!s_ours(self, items[i].fd))
            continue;
        curl_multi_socket_action(self->multi, items[i].fd,
                                 s_mask(items[i].revents), &running);
    }
    for (size_t i = 0; i < n_over; i++)
        if (s_ours(self, over[i]))
            curl_multi_socket_action(self->multi, over[i], 0, &running);
    free(over);
    if (self->timer_at_ms >= 0 && kj_mono_ms() >= self->timer_at_ms) {
        /* curl sets a new timer from inside the call if it needs one. */
        self->timer_at_ms = -1;
        curl_multi_socket_action(self->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    s_reap(self);
}

size_t
notifier_http_inflight(const notifier_http_t *self)
{
    return self->max_slots - self->n_free;
}

size_t
notifier_http_capacity(const notifier_http_t *self)
{
    return self->max_slots;
}

bool
notifier_url_ok(const char *url)
{
    kj_url_t u;
    if (kj_url_parse(url, &u, NULL, 0) != 0)
        return false;
    if (strcmp(u.scheme, "http") != 0 && strcmp(u.scheme, "https") != 0)
        return false;
    return strlen(url) < KJ_URL_MAX;
}

void
notifier_url_origin(const char *url, char *out, size_t size)
{
    /* kj_url_origin, not kj_url_redact: not even a "/..." hint that a
     * path followed, and the same form as the circuit's endpoint label. */
    kj_url_t u;
    if (kj_url_parse(url, &u, NULL, 0) != 0 ||
        kj_url_origin(&u, out, size) != 0)
        kj_strlcpy(out, "(invalid URL)", size);
}
