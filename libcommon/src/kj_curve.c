/* kj_curve: CURVE keys, the peers list and the ZAP handler (see
 * kj_curve.h). */
#include "kj_curve.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "kj_assert.h"
#include "kj_log.h"
#include "kj_util.h"

/* Where libzmq sends ZAP requests (RFC 27), per context. */
#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
/* The handler wakes this often to see whether it should stop. */
#define S_ZAP_POLL_MS 200
/* One refusal warning at most this often; the rest are counted in it. */
#define S_REFUSED_LOG_MS 10000
/* Frames in a ZAP request: version, id, domain, address, identity,
 * mechanism, then credentials (one for CURVE). More is malformed. */
#define S_ZAP_FRAMES 8
#define S_FRAME_MAX 256

struct kj_curve {
    char secret[KJ_CURVE_KEY_LEN + 1];   /* Z85, never logged */
    char public[KJ_CURVE_KEY_LEN + 1];   /* Z85, derived from secret */
    char (*peers)[KJ_CURVE_KEY_LEN + 1]; /* allowed client keys */
    size_t n_peers;                      /* entries in peers */
    void *zap;                           /* ZMQ_REP on the ZAP endpoint */
    pthread_t thread;                    /* runs s_zap_loop */
    bool thread_live;                    /* thread to join in destroy */
    atomic_bool stop;                    /* asks the thread to end */
    atomic_uint_fast64_t refused;        /* clients refused so far */
    kj_counter_t *m_refused;             /* NULL without metrics */
    int64_t log_at;                      /* thread only: last warning */
    uint64_t quiet;                      /* thread only: refusals unlogged */
};

/* Z85's alphabet (ZeroMQ RFC 32). */
static const char s_z85[] = "0123456789abcdefghijklmnopqrstuvwxyz"
                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

bool
kj_curve_key_valid(const char *s, size_t len)
{
    if (!s || len != KJ_CURVE_KEY_LEN)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\0' || !strchr(s_z85, s[i]))
            return false;
    return true;
}

static bool
s_is_sep(char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int
kj_curve_peers_parse(const char *text, char (*out)[KJ_CURVE_KEY_LEN + 1],
                     size_t max, char *err, size_t err_size)
{
    size_t n = 0;
    const char *p = text ? text : "";
    while (*p) {
        while (*p && s_is_sep(*p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && !s_is_sep(*p))
            p++;
        size_t len = (size_t)(p - start);
        if (!kj_curve_key_valid(start, len)) {
            /* The entry is a public key or a typo of one: the position is
             * enough to find it, and says nothing secret. */
            snprintf(err, err_size,
                     "entry %zu is not a Z85 public key (%d characters of "
                     "the Z85 alphabet expected, got %zu characters)",
                     n + 1, KJ_CURVE_KEY_LEN, len);
            return -1;
        }
        bool dup = false;
        for (size_t i = 0; i < n && !dup; i++)
            dup = memcmp(out[i], start, KJ_CURVE_KEY_LEN) == 0;
        if (dup)
            continue;
        if (n == max) {
            snprintf(err, err_size, "more than %zu keys", max);
            return -1;
        }
        memcpy(out[n], start, KJ_CURVE_KEY_LEN);
        out[n][KJ_CURVE_KEY_LEN] = '\0';
        n++;
    }
    return (int)n;
}

int
kj_curve_endpoint_split(const char *entry, char *endpoint, size_t ep_size,
                        char *key, size_t key_size)
{
    const char *hash = strchr(entry, '#');
    size_t ep_len = hash ? (size_t)(hash - entry) : strlen(entry);
    if (ep_len == 0 || ep_len >= ep_size || key_size < 1)
        return -1;
    memcpy(endpoint, entry, ep_len);
    endpoint[ep_len] = '\0';
    key[0] = '\0';
    if (!hash)
        return 0;
    size_t key_len = strlen(hash + 1);
    if (!kj_curve_key_valid(hash + 1, key_len) || key_len >= key_size)
        return -1;
    memcpy(key, hash + 1, key_len + 1);
    return 1;
}

bool
kj_curve_endpoint_local(const char *endpoint)
{
    if (!endpoint)
        return false;
    /* No network behind these transports. */
    if (strncmp(endpoint, "ipc://", 6) == 0 ||
        strncmp(endpoint, "inproc://", 9) == 0)
        return true;
    if (strncmp(endpoint, "tcp://", 6) != 0)
        return false;
    const char *host = endpoint + 6;
    const char *colon = strrchr(host, ':');
    if (!colon || colon == host)
        return false;
    size_t len = (size_t)(colon - host);
    char h[64];
    if (len >= sizeof h)
        return false;
    memcpy(h, host, len);
    h[len] = '\0';
    if (strcmp(h, "localhost") == 0 || strcmp(h, "[::1]") == 0 ||
        strcmp(h, "::1") == 0)
        return true;
    /* 127.0.0.0/8 written as four decimal octets, nothing else (a name
     * such as "127.evil.example" is not loopback). */
    unsigned a, b, c, d;
    char tail;
    if (sscanf(h, "%3u.%3u.%3u.%3u%c", &a, &b, &c, &d, &tail) != 4)
        return false;
    if (strspn(h, "0123456789.") != len)
        return false;
    return a == 127 && b <= 255 && c <= 255 && d <= 255;
}

kj_curve_t *
kj_curve_new(const char *secret, const char *peers, char *err, size_t err_size)
{
    if (!secret || !kj_curve_key_valid(secret, strlen(secret))) {
        snprintf(err, err_size,
                 "not a Z85 secret key (%d characters; make one with "
                 "kujo-keygen)",
                 KJ_CURVE_KEY_LEN);
        return NULL;
    }
    kj_curve_t *self = kj_calloc(1, sizeof *self);
    memcpy(self->secret, secret, KJ_CURVE_KEY_LEN + 1);
    if (zmq_curve_public(self->public, self->secret) != 0) {
        int e = zmq_errno();
        snprintf(err, err_size, "cannot derive the public key: %s",
                 e == ENOTSUP ? "libzmq was built without CURVE"
                              : zmq_strerror(e));
        goto fail;
    }
    self->peers = kj_calloc(KJ_CURVE_PEERS_MAX, sizeof *self->peers);
    int n = kj_curve_peers_parse(peers, self->peers, KJ_CURVE_PEERS_MAX, err,
                                 err_size);
    if (n < 0)
        goto fail;
    self->n_peers = (size_t)n;
    atomic_init(&self->stop, false);
    atomic_init(&self->refused, 0);
    return self;
fail:
    kj_curve_destroy(&self);
    return NULL;
}

void
kj_curve_destroy(kj_curve_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kj_curve_t *self = *self_p;
    if (self->thread_live) {
        atomic_store(&self->stop, true);
        pthread_join(self->thread, NULL);
    }
    /* Secrets do not linger in freed memory. */
    memset(self->secret, 0, sizeof self->secret);
    free(self->peers);
    free(self);
    *self_p = NULL;
}

const char *
kj_curve_public(const kj_curve_t *self)
{
    return self->public;
}

const char *
kj_curve_secret(const kj_curve_t *self)
{
    return self->secret;
}

size_t
kj_curve_peer_count(const kj_curve_t *self)
{
    return self->n_peers;
}

bool
kj_curve_allowed(const kj_curve_t *self, const char *public_z85)
{
    for (size_t i = 0; i < self->n_peers; i++)
        if (strcmp(self->peers[i], public_z85) == 0)
            return true;
    return false;
}

uint64_t
kj_curve_refused(const kj_curve_t *self)
{
    return atomic_load(&self->refused);
}

/* One frame of a ZAP exchange. */
typedef struct {
    char data[S_FRAME_MAX];
    size_t len;
} s_frame_t;

/* Read one whole request (all its frames). Returns the number of frames,
 * 0 for one with too many (already drained), -1 on ETERM or error. */
static int
s_zap_recv(void *sock, s_frame_t *f, int max)
{
    int n = 0;
    int more = 1;
    while (more) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, sock, 0) < 0) {
            zmq_msg_close(&msg);
            return -1;
        }
        if (n < max) {
            size_t len = zmq_msg_size(&msg);
            f[n].len = len < S_FRAME_MAX ? len : S_FRAME_MAX;
            memcpy(f[n].data, zmq_msg_data(&msg), f[n].len);
        }
        n++;
        more = zmq_msg_more(&msg);
        zmq_msg_close(&msg);
    }
    return n <= max ? n : 0;
}

static int
s_zap_reply(void *sock, const s_frame_t *id, const char *code, const char *text,
            const char *user)
{
    /* version, request id, status code, status text, user id, metadata */
    if (zmq_send(sock, "1.0", 3, ZMQ_SNDMORE) < 0 ||
        zmq_send(sock, id ? id->data : "", id ? id->len : 0, ZMQ_SNDMORE) < 0 ||
        zmq_send(sock, code, strlen(code), ZMQ_SNDMORE) < 0 ||
        zmq_send(sock, text, strlen(text), ZMQ_SNDMORE) < 0 ||
        zmq_send(sock, user, strlen(user), ZMQ_SNDMORE) < 0 ||
        zmq_send(sock, "", 0, 0) < 0)
        return -1;
    return 0;
}

static void
s_refused(kj_curve_t *self, const char *key, const char *address)
{
    atomic_fetch_add(&self->refused, 1);
    if (self->m_refused)
        kj_counter_inc(self->m_refused);
    int64_t now = kj_mono_ms();
    if (self->log_at != 0 && now - self->log_at < S_REFUSED_LOG_MS) {
        self->quiet++;
        return;
    }
    /* A public key is no secret: logging it tells the operator which
     * copy (or which stale key) knocked. */
    kj_warn("zmq client refused: public key not in KUJO_CURVE_PEERS",
            "s:client_key", key, "s:address", address, "l:unlogged_since",
            (long long)self->quiet);
    self->log_at = now;
    self->quiet = 0;
}

/* Answer one ZAP request. -1 when the context is gone. */
static int
s_zap_handle(kj_curve_t *self, void *sock)
{
    s_frame_t f[S_ZAP_FRAMES];
    int n = s_zap_recv(sock, f, S_ZAP_FRAMES);
    if (n < 0)
        return -1;
    /* A REP socket must answer whatever it received. */
    if (n < 6 || f[0].len != 3 || memcmp(f[0].data, "1.0", 3) != 0)
        return s_zap_reply(sock, n >= 2 ? &f[1] : NULL, "500",
                           "malformed ZAP request", "") < 0
                   ? -1
                   : 0;
    char address[64];
    size_t alen = f[3].len < sizeof address ? f[3].len : sizeof address - 1;
    memcpy(address, f[3].data, alen);
    address[alen] = '\0';
    bool curve = f[5].len == 5 && memcmp(f[5].data, "CURVE", 5) == 0;
    char key[KJ_CURVE_KEY_LEN + 1] = "";
    if (curve && n == 7 && f[6].len == 32)
        zmq_z85_encode(key, (const uint8_t *)f[6].data, 32);
    if (key[0] && kj_curve_allowed(self, key))
        return s_zap_reply(sock, &f[1], "200", "OK", key) < 0 ? -1 : 0;
    s_refused(self, key[0] ? key : "(none)", address);
    return s_zap_reply(sock, &f[1], "400", "unknown client key", "") < 0 ? -1
                                                                         : 0;
}

static void *
s_zap_loop(void *arg)
{
    kj_curve_t *self = arg;
    while (!atomic_load(&self->stop)) {
        zmq_pollitem_t item = {self->zap, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&item, 1, S_ZAP_POLL_MS);
        if (rc < 0) {
            if (zmq_errno() == EINTR)
                continue;
            break; /* ETERM: the context is ending */
        }
        if (rc > 0 && s_zap_handle(self, self->zap) < 0 && zmq_errno() != EINTR)
            break;
    }
    /* Closing here lets a zmq_ctx_term waiting on us return. */
    zmq_close(self->zap);
    self->zap = NULL;
    return NULL;
}

int
kj_curve_zap_start(kj_curve_t *self, void *zctx, kj_metrics_t *metrics)
{
    kj_assert(self && zctx && !self->thread_live);
    if (metrics)
        self->m_refused = kj_metrics_counter(
            metrics, "zmq_auth_refused_total",
            "ZeroMQ clients refused (CURVE key not in KUJO_CURVE_PEERS)", NULL);
    self->zap = zmq_socket(zctx, ZMQ_REP);
    if (!self->zap) {
        int e = zmq_errno();
        kj_error("zmq_socket failed", "s:type", "zap", "s:error",
                 zmq_strerror(e));
        return -1;
    }
    int linger = 0;
    zmq_setsockopt(self->zap, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(self->zap, S_ZAP_ENDPOINT) != 0) {
        int e = zmq_errno();
        kj_error("zap handler bind failed", "s:error", zmq_strerror(e));
        goto fail;
    }
    /* The socket moves to the thread; pthread_create is the memory
     * barrier libzmq asks for when a socket changes threads. */
    int rc = pthread_create(&self->thread, NULL, s_zap_loop, self);
    if (rc != 0) {
        kj_error("zap handler thread failed", "s:error", strerror(rc));
        goto fail;
    }
    self->thread_live = true;
    kj_info("zmq curve on", "s:public_key", self->public, "l:peers",
            (long long)self->n_peers);
    return 0;
fail:
    zmq_close(self->zap);
    self->zap = NULL;
    return -1;
}
