/* kj_mq: ZeroMQ PUSH/PULL between stages (see kj_mq.h). */
#include "kj_mq.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "kj_assert.h"
#include "kj_log.h"
#include "kj_util.h"

/* Longest endpoint string we keep ("tcp://[v6 address]:port" fits). */
#define KJ_ENDPOINT_MAX 256

/* Bounded so that zmq_ctx_term cannot hang on a dead peer (libzmq's
 * default is to wait forever). Long enough to flush a healthy TCP peer. */
#define KJ_PUSH_LINGER_MS 1000

struct kj_pull {
    void *sock;                     /* ZMQ_PULL, bound */
    char endpoint[KJ_ENDPOINT_MAX]; /* what we advertise in the registry */
    zmq_msg_t msg;                  /* last message, valid until next recv */
    bool msg_live;                  /* msg holds data to close */
};

struct kj_push {
    void *sock;              /* ZMQ_PUSH, connected to every peer */
    const kj_curve_t *curve; /* our keypair (borrowed); NULL: plain */
    char **peers;            /* registry entries connected (owned) */
    size_t n;                /* live entries in peers */
    size_t cap;              /* allocated entries in peers */
    char **skipped;          /* entries refused for their mode (owned) */
    size_t n_skipped;        /* live entries in skipped */
    uint64_t added;          /* peers ever connected, to see new copies */
};

static int
s_setint(void *sock, int opt, int value, const char *name)
{
    if (zmq_setsockopt(sock, opt, &value, sizeof value) == 0)
        return 0;
    int e = zmq_errno();
    kj_error("zmq_setsockopt failed", "s:option", name, "s:error",
             zmq_strerror(e));
    return -1;
}

/* True if host is an "any address" that other machines cannot dial. */
static bool
s_is_wildcard(const char *host, size_t len)
{
    static const char *const wild[] = {"0.0.0.0", "*", "[::]", "::", "[*]"};
    for (size_t i = 0; i < KJ_ARRAY_LEN(wild); i++)
        if (strlen(wild[i]) == len && memcmp(host, wild[i], len) == 0)
            return true;
    return false;
}

/* Split "tcp://host:port" into host and port. 0, or -1 if it is not tcp
 * or has no port. */
static int
s_tcp_split(const char *endpoint, const char **host, size_t *host_len,
            const char **port)
{
    static const char tcp[] = "tcp://";
    if (strncmp(endpoint, tcp, sizeof tcp - 1) != 0)
        return -1;
    const char *h = endpoint + sizeof tcp - 1;
    const char *colon = strrchr(h, ':');
    if (!colon || colon == h || colon[1] == '\0')
        return -1;
    *host = h;
    *host_len = (size_t)(colon - h);
    *port = colon + 1;
    return 0;
}

/* Turn ZMQ_LAST_ENDPOINT into the endpoint peers should dial. Only tcp://
 * has a host to replace or check; ipc:// and inproc:// are used as bound. */
static int
s_advertised(const char *last, const char *advertise, char *out, size_t size)
{
    const char *host, *port;
    size_t host_len;
    if (s_tcp_split(last, &host, &host_len, &port) != 0) {
        if (kj_strlcpy(out, last, size) >= size) {
            kj_error("zmq endpoint too long", "s:endpoint", last);
            return -1;
        }
        return 0;
    }
    int n;
    if (advertise && advertise[0]) {
        /* A bare IPv6 address needs brackets before the port. */
        bool v6 = strchr(advertise, ':') != NULL && advertise[0] != '[';
        n = snprintf(out, size, "tcp://%s%s%s:%s", v6 ? "[" : "", advertise,
                     v6 ? "]" : "", port);
    } else {
        if (s_is_wildcard(host, host_len)) {
            kj_error("zmq bind is a wildcard address and no advertise host "
                     "is set; set KUJO_ZMQ_ADVERTISE",
                     "s:endpoint", last);
            return -1;
        }
        n = snprintf(out, size, "%s", last);
    }
    if (n < 0 || (size_t)n >= size) {
        kj_error("zmq endpoint too long", "s:endpoint", last);
        return -1;
    }
    return 0;
}

kj_pull_t *
kj_pull_new(void *zctx, const char *bind, const char *advertise, int hwm)
{
    return kj_pull_new_curve(zctx, bind, advertise, hwm, NULL);
}

/* Make sock a CURVE server with curve's secret key; ZAP decides which
 * clients get in. */
static int
s_curve_server(void *sock, const kj_curve_t *curve)
{
    static const char domain[] = "kujo";
    if (s_setint(sock, ZMQ_CURVE_SERVER, 1, "curve_server") != 0)
        return -1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, kj_curve_secret(curve),
                       KJ_CURVE_KEY_LEN) != 0 ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, domain, sizeof domain - 1) != 0) {
        int e = zmq_errno();
        kj_error("zmq curve setup failed", "s:error", zmq_strerror(e));
        return -1;
    }
    return 0;
}

kj_pull_t *
kj_pull_new_curve(void *zctx, const char *bind, const char *advertise, int hwm,
                  const kj_curve_t *curve)
{
    kj_assert(zctx && bind);
    kj_pull_t *self = kj_calloc(1, sizeof *self);
    self->sock = zmq_socket(zctx, ZMQ_PULL);
    if (!self->sock) {
        int e = zmq_errno();
        kj_error("zmq_socket failed", "s:type", "pull", "s:error",
                 zmq_strerror(e));
        goto fail;
    }
    if (s_setint(self->sock, ZMQ_RCVHWM, hwm, "rcvhwm") != 0 ||
        s_setint(self->sock, ZMQ_LINGER, 0, "linger") != 0)
        goto fail;
    if (curve && s_curve_server(self->sock, curve) != 0)
        goto fail;
    /* Refuse a wildcard without an advertise host before binding, so a
     * misconfigured copy never listens on every interface. */
    const char *host, *port;
    size_t host_len;
    if (!(advertise && advertise[0]) &&
        s_tcp_split(bind, &host, &host_len, &port) == 0 &&
        s_is_wildcard(host, host_len)) {
        kj_error("zmq bind is a wildcard address and no advertise host is "
                 "set; set KUJO_ZMQ_ADVERTISE",
                 "s:bind", bind);
        goto fail;
    }
    if (zmq_bind(self->sock, bind) != 0) {
        int e = zmq_errno();
        kj_error("zmq_bind failed", "s:bind", bind, "s:error", zmq_strerror(e));
        goto fail;
    }
    char last[KJ_ENDPOINT_MAX];
    size_t len = sizeof last;
    if (zmq_getsockopt(self->sock, ZMQ_LAST_ENDPOINT, last, &len) != 0) {
        int e = zmq_errno();
        kj_error("zmq_getsockopt failed", "s:option", "last_endpoint",
                 "s:error", zmq_strerror(e));
        goto fail;
    }
    last[sizeof last - 1] = '\0';
    if (s_advertised(last, advertise, self->endpoint, sizeof self->endpoint) !=
        0)
        goto fail;
    if (curve) {
        /* The server key travels with the endpoint, so clients follow a
         * server's key rotation through the registry. */
        size_t used = strlen(self->endpoint);
        int n = snprintf(self->endpoint + used, sizeof self->endpoint - used,
                         "#%s", kj_curve_public(curve));
        if (n < 0 || (size_t)n >= sizeof self->endpoint - used) {
            kj_error("zmq endpoint too long", "s:endpoint", last);
            goto fail;
        }
    }
    kj_info("zmq pull bound", "s:bound", last, "s:endpoint", self->endpoint,
            "i:hwm", hwm, "s:mode", curve ? "curve" : "plain");
    return self;
fail:
    kj_pull_destroy(&self);
    return NULL;
}

void
kj_pull_destroy(kj_pull_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kj_pull_t *self = *self_p;
    if (self->msg_live)
        zmq_msg_close(&self->msg);
    if (self->sock)
        zmq_close(self->sock);
    free(self);
    *self_p = NULL;
}

const char *
kj_pull_endpoint(const kj_pull_t *self)
{
    return self->endpoint;
}

void *
kj_pull_socket(kj_pull_t *self)
{
    return self->sock;
}

int
kj_pull_recv(kj_pull_t *self, const uint8_t **data, size_t *len)
{
    /* The previous message stays valid until now so callers can decode it
     * without a copy. */
    if (self->msg_live) {
        zmq_msg_close(&self->msg);
        self->msg_live = false;
    }
    zmq_msg_init(&self->msg);
    self->msg_live = true;
    if (zmq_msg_recv(&self->msg, self->sock, ZMQ_DONTWAIT) < 0) {
        int e = zmq_errno();
        if (e == EAGAIN || e == EINTR)
            return 0;
        kj_error("zmq receive failed", "s:error", zmq_strerror(e));
        return -1;
    }
    *data = zmq_msg_data(&self->msg);
    *len = zmq_msg_size(&self->msg);
    return 1;
}

kj_push_t *
kj_push_new(void *zctx, int hwm, int send_timeout_ms)
{
    return kj_push_new_curve(zctx, hwm, send_timeout_ms, NULL);
}

kj_push_t *
kj_push_new_curve(void *zctx, int hwm, int send_timeout_ms,
                  const kj_curve_t *curve)
{
    kj_assert(zctx);
    kj_push_t *self = kj_calloc(1, sizeof *self);
    self->curve = curve;
    self->sock = zmq_socket(zctx, ZMQ_PUSH);
    if (!self->sock) {
        int e = zmq_errno();
        kj_error("zmq_socket failed", "s:type", "push", "s:error",
                 zmq_strerror(e));
        goto fail;
    }
    /* IMMEDIATE: queue only to completed connections, so an endpoint
     * whose process died does not swallow messages into its pipe. */
    if (s_setint(self->sock, ZMQ_SNDHWM, hwm, "sndhwm") != 0 ||
        s_setint(self->sock, ZMQ_LINGER, KJ_PUSH_LINGER_MS, "linger") != 0 ||
        s_setint(self->sock, ZMQ_SNDTIMEO, send_timeout_ms, "sndtimeo") != 0 ||
        s_setint(self->sock, ZMQ_IMMEDIATE, 1, "immediate") != 0)
        goto fail;
    if (curve &&
        (zmq_setsockopt(self->sock, ZMQ_CURVE_PUBLICKEY, kj_curve_public(curve),
                        KJ_CURVE_KEY_LEN) != 0 ||
         zmq_setsockopt(self->sock, ZMQ_CURVE_SECRETKEY, kj_curve_secret(curve),
                        KJ_CURVE_KEY_LEN) != 0)) {
        int e = zmq_errno();
        kj_error("zmq curve setup failed", "s:error", zmq_strerror(e));
        goto fail;
    }
    return self;
fail:
    kj_push_destroy(&self);
    return NULL;
}

void
kj_push_destroy(kj_push_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kj_push_t *self = *self_p;
    if (self->sock)
        zmq_close(self->sock);
    for (size_t i = 0; i < self->n; i++)
        free(self->peers[i]);
    free(self->peers);
    for (size_t i = 0; i < self->n_skipped; i++)
        free(self->skipped[i]);
    free(self->skipped);
    free(self);
    *self_p = NULL;
}

static bool
s_contains(char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] && strcmp(list[i], s) == 0)
            return true;
    return false;
}

size_t
kj_push_set_peers(kj_push_t *self, char *const *endpoints, size_t n)
{
    /* Drop the peers that are gone first, compacting in place. Peer lists
     * are a handful of copies, so quadratic matching is cheapest. */
    size_t kept = 0;
    for (size_t i = 0; i < self->n; i++) {
        if (s_contains(endpoints, n, self->peers[i])) {
            self->peers[kept++] = self->peers[i];
            continue;
        }
        char ep[KJ_ENDPOINT_MAX], key[KJ_CURVE_KEY_LEN + 1];
        /* Only entries that split were ever connected. */
        int split = kj_curve_endpoint_split(self->peers[i], ep, sizeof ep, key,
                                            sizeof key);
        kj_assert(split >= 0);
        if (zmq_disconnect(self->sock, ep) != 0) {
            int e = zmq_errno();
            kj_warn("zmq_disconnect failed", "s:endpoint", ep, "s:error",
                    zmq_strerror(e));
        } else {
            kj_info("zmq peer removed", "s:endpoint", ep);
        }
        free(self->peers[i]);
    }
    self->n = kept;
    /* Entries skipped for their mode are logged when first seen, not at
     * every refresh: the list is rebuilt from what is skipped now. */
    char **was = self->skipped;
    size_t n_was = self->n_skipped;
    self->skipped = n ? kj_calloc(n, sizeof(char *)) : NULL;
    self->n_skipped = 0;
    for (size_t i = 0; i < n; i++) {
        const char *entry = endpoints[i];
        if (!entry || !entry[0] || strlen(entry) >= KJ_ENDPOINT_MAX ||
            s_contains(self->peers, self->n, entry))
            continue;
        char ep[KJ_ENDPOINT_MAX], key[KJ_CURVE_KEY_LEN + 1];
        int keyed =
            kj_curve_endpoint_split(entry, ep, sizeof ep, key, sizeof key);
        const char *why = NULL;
        if (keyed < 0)
            why = "zmq peer skipped: malformed server key in its endpoint";
        else if (keyed == 1 && !self->curve)
            why = "zmq peer skipped: it runs CURVE and this copy has no "
                  "KUJO_CURVE_SECRET_KEY";
        else if (keyed == 0 && self->curve)
            why = "zmq peer skipped: it runs without CURVE and this copy "
                  "does not downgrade";
        if (why) {
            if (!s_contains(was, n_was, entry))
                kj_warn(why, "s:endpoint", ep);
            self->skipped[self->n_skipped++] = kj_strdup(entry);
            continue;
        }
        /* libzmq copies the socket's options at connect time, so the
         * server key set now applies to this connection only. */
        if (keyed == 1 && zmq_setsockopt(self->sock, ZMQ_CURVE_SERVERKEY, key,
                                         KJ_CURVE_KEY_LEN) != 0) {
            int e = zmq_errno();
            kj_warn("zmq curve server key refused", "s:endpoint", ep, "s:error",
                    zmq_strerror(e));
            continue;
        }
        if (zmq_connect(self->sock, ep) != 0) {
            /* A bad registry entry must not stop the others. */
            int e = zmq_errno();
            kj_warn("zmq_connect failed", "s:endpoint", ep, "s:error",
                    zmq_strerror(e));
            continue;
        }
        if (self->n == self->cap) {
            self->cap = self->cap ? self->cap * 2 : 8;
            self->peers = kj_realloc(self->peers, self->cap * sizeof(char *));
        }
        self->peers[self->n++] = kj_strdup(entry);
        self->added++;
        kj_info("zmq peer added", "s:endpoint", ep, "s:mode",
                keyed == 1 ? "curve" : "plain");
    }
    for (size_t i = 0; i < n_was; i++)
        free(was[i]);
    free(was);
    return self->n;
}

size_t
kj_push_peers(const kj_push_t *self)
{
    return self->n;
}

uint64_t
kj_push_added(const kj_push_t *self)
{
    return self->added;
}

int
kj_push_send(kj_push_t *self, const void *data, size_t len)
{
    if (zmq_send(self->sock, data, len, 0) >= 0)
        return 0;
    /* EAGAIN: no completed peer had room within the send timeout. The
     * caller counts it; the record stays due in Redis. */
    return -1;
}
