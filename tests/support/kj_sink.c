#include "kj_sink.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "kj_hmac.h"
#include "kj_util.h"

/* A body bigger than any alert the notifier sends (masked text is at most
 * 8 KiB), with room to spare; beyond it the sink answers 413. */
#define KJ_SINK_MAX_BODY (1024 * 1024)
/* Keys are "<20 hex>:<kind>"; anything longer is not one of ours. */
#define KJ_SINK_MAX_KEY 256
/* Bounds the key table: the benchmark sends tens of thousands. */
#define KJ_SINK_MAX_KEYS (1u << 21)
/* How long a signature's timestamp may be off our clock. */
#define KJ_SINK_TOLERANCE_S 300

typedef struct {
    char *key;          /* the Idempotency-Key, owned */
    unsigned count;     /* times seen */
    unsigned signed_ok; /* times seen with a valid signature */
    unsigned ok;        /* times answered with a 2xx */
    json_t *body;       /* last body seen, when keep_bodies */
} s_entry_t;

struct kj_sink {
    pthread_mutex_t life_mu;   /* serialises start/stop/destroy */
    struct MHD_Daemon *daemon; /* NULL while stopped */
    char host[64];             /* listening host */
    int port;                  /* fixed after the first start */
    char *secret;              /* NULL: no signature checks */

    pthread_mutex_t mu; /* guards everything below */
    unsigned status;    /* what to answer */
    int delay_ms;       /* sleep before answering */
    bool flap;          /* every other request answered 500 */
    uint64_t n_flap;    /* requests seen while flapping */
    bool keep_bodies;   /* keep each key's last body */
    char only_kind[32]; /* "": count every kind */
    kj_sink_cb_t *cb;   /* called for every POST */
    void *cb_arg;
    kj_sink_stats_t stats;
    s_entry_t *table; /* open addressing, capacity a power of 2 */
    size_t cap;
};

/* One request's body as it arrives. */
typedef struct {
    char *buf;
    size_t len;
    size_t cap;
    bool too_big; /* went over KJ_SINK_MAX_BODY: answered 413 */
} s_req_t;

static s_entry_t *
s_find(kj_sink_t *self, const char *key, bool create)
{
    if (self->cap == 0) {
        if (!create)
            return NULL;
        self->cap = 1024;
        self->table = kj_calloc(self->cap, sizeof *self->table);
    }
    /* Grow at half full so probes stay short. */
    if (create && (self->stats.distinct_keys + 1) * 2 > self->cap) {
        size_t ncap = self->cap * 2;
        s_entry_t *nt = kj_calloc(ncap, sizeof *nt);
        for (size_t i = 0; i < self->cap; i++) {
            if (!self->table[i].key)
                continue;
            uint64_t h =
                kj_hash64(self->table[i].key, strlen(self->table[i].key));
            size_t j = (size_t)h & (ncap - 1);
            while (nt[j].key)
                j = (j + 1) & (ncap - 1);
            nt[j] = self->table[i];
        }
        free(self->table);
        self->table = nt;
        self->cap = ncap;
    }
    uint64_t h = kj_hash64(key, strlen(key));
    size_t i = (size_t)h & (self->cap - 1);
    while (self->table[i].key) {
        if (strcmp(self->table[i].key, key) == 0)
            return &self->table[i];
        i = (i + 1) & (self->cap - 1);
    }
    if (!create)
        return NULL;
    if (self->stats.distinct_keys >= KJ_SINK_MAX_KEYS) {
        self->stats.keys_dropped++;
        return NULL;
    }
    self->table[i].key = kj_strdup(key);
    self->stats.distinct_keys++;
    return &self->table[i];
}

static void
s_table_clear(kj_sink_t *self)
{
    for (size_t i = 0; i < self->cap; i++) {
        free(self->table[i].key);
        if (self->table[i].body)
            json_decref(self->table[i].body);
    }
    free(self->table);
    self->table = NULL;
    self->cap = 0;
}

static enum MHD_Result
s_reply(struct MHD_Connection *c, unsigned status, const char *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Key must be "<complaint_id>:<kind>" with a non-empty kind. */
static bool
s_key_matches(const char *key, const char *id)
{
    size_t n = strlen(id);
    return n > 0 && strncmp(key, id, n) == 0 && key[n] == ':' &&
           key[n + 1] != '\0';
}

static void
s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Checks and records one complete POST, then answers it. */
static enum MHD_Result
s_finish(kj_sink_t *self, struct MHD_Connection *c, s_req_t *req)
{
    const char *key =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    const char *sig =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Kujo-Signature");
    int sig_ok = -1;
    if (self->secret)
        sig_ok =
            sig && kj_signature_verify(self->secret, sig, req->buf, req->len,
                                       (int64_t)time(NULL), KJ_SINK_TOLERANCE_S)
                ? 1
                : 0;
    json_error_t jerr;
    json_t *body = req->len ? json_loadb(req->buf, req->len, 0, &jerr) : NULL;
    const char *id = NULL;
    if (body && json_is_object(body))
        id = json_string_value(json_object_get(body, "complaint_id"));

    pthread_mutex_lock(&self->mu);
    /* Another kind than the one counted: taken (200), only tallied. */
    const char *kind =
        body ? json_string_value(json_object_get(body, "kind")) : NULL;
    if (self->only_kind[0] && kind && strcmp(kind, self->only_kind) != 0) {
        self->stats.other_kinds++;
        pthread_mutex_unlock(&self->mu);
        json_decref(body);
        return s_reply(c, 200, "{\"status\":200}");
    }
    unsigned status = self->status;
    if (self->flap && self->n_flap++ % 2 == 0)
        status = 500;
    int delay = self->delay_ms;
    kj_sink_cb_t *cb = self->cb;
    void *cb_arg = self->cb_arg;
    self->stats.requests++;
    if (status >= 200 && status < 300)
        self->stats.answered_2xx++;
    if (sig_ok == 0)
        self->stats.bad_signature++;
    if (!id)
        self->stats.bad_body++;
    if (!key) {
        self->stats.missing_key++;
    } else if (strlen(key) >= KJ_SINK_MAX_KEY ||
               (id && !s_key_matches(key, id))) {
        self->stats.key_mismatch++;
    }
    if (key && strlen(key) < KJ_SINK_MAX_KEY) {
        s_entry_t *e = s_find(self, key, true);
        if (e) {
            e->count++;
            if (status >= 200 && status < 300)
                e->ok++;
            if (sig_ok == 1)
                e->signed_ok++;
            if (self->keep_bodies && body) {
                if (e->body)
                    json_decref(e->body);
                e->body = json_incref(body);
            }
        }
    }
    pthread_mutex_unlock(&self->mu);

    if (cb) {
        kj_sink_event_t ev = {key, body, id, sig_ok, status};
        cb(&ev, cb_arg);
    }
    if (body)
        json_decref(body);
    if (delay > 0)
        s_sleep_ms(delay);
    char answer[96];
    snprintf(answer, sizeof answer, "{\"status\":%u}", status);
    return s_reply(c, status, answer);
}

static enum MHD_Result
s_handle(void *cls, struct MHD_Connection *c, const char *url,
         const char *method, const char *version, const char *upload_data,
         size_t *upload_size, void **con_cls)
{
    (void)url;
    (void)version;
    kj_sink_t *self = cls;
    s_req_t *req = *con_cls;
    if (!req) {
        /* First call: headers only. Remember the request so that the
         * body's calls and the completion callback find it. */
        req = kj_calloc(1, sizeof *req);
        *con_cls = req;
        if (strcmp(method, "POST") != 0) {
            pthread_mutex_lock(&self->mu);
            self->stats.not_post++;
            pthread_mutex_unlock(&self->mu);
            return s_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                           "{\"error\":\"method_not_allowed\"}");
        }
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (!req->too_big && req->len + *upload_size > KJ_SINK_MAX_BODY) {
            req->too_big = true;
            free(req->buf);
            req->buf = NULL;
            req->len = req->cap = 0;
        }
        if (!req->too_big) {
            if (req->len + *upload_size + 1 > req->cap) {
                size_t ncap = req->cap ? req->cap : 4096;
                while (ncap < req->len + *upload_size + 1)
                    ncap *= 2;
                req->buf = kj_realloc(req->buf, ncap);
                req->cap = ncap;
            }
            memcpy(req->buf + req->len, upload_data, *upload_size);
            req->len += *upload_size;
            req->buf[req->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (req->too_big) {
        pthread_mutex_lock(&self->mu);
        self->stats.too_large++;
        pthread_mutex_unlock(&self->mu);
        return s_reply(c, MHD_HTTP_CONTENT_TOO_LARGE,
                       "{\"error\":\"body_too_large\"}");
    }
    return s_finish(self, c, req);
}

static void
s_completed(void *cls, struct MHD_Connection *c, void **con_cls,
            enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    s_req_t *req = *con_cls;
    if (req) {
        free(req->buf);
        free(req);
        *con_cls = NULL;
    }
}

static int
s_listen(kj_sink_t *self)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, self->host, &sa.sin_addr) != 1)
        return -1;
    sa.sin_port = htons((uint16_t)self->port);
    /* A thread per connection: a slow answer (set_delay_ms) holds up only
     * its own connection, as with a real receiver. */
    self->daemon = MHD_start_daemon(
        MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
        NULL, s_handle, self, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (!self->daemon)
        return -1;
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (info && info->port)
        self->port = info->port;
    return 0;
}

kj_sink_t *
kj_sink_new(const char *host, int port, const char *secret)
{
    if (!host || port < 0 || port > 65535)
        return NULL;
    kj_sink_t *self = kj_calloc(1, sizeof *self);
    pthread_mutex_init(&self->life_mu, NULL);
    pthread_mutex_init(&self->mu, NULL);
    kj_strlcpy(self->host, host, sizeof self->host);
    self->port = port;
    if (secret && *secret)
        self->secret = kj_strdup(secret);
    self->status = 200;
    self->keep_bodies = true;
    if (s_listen(self) != 0)
        kj_sink_destroy(&self);
    return self;
}

void
kj_sink_destroy(kj_sink_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kj_sink_t *self = *self_p;
    kj_sink_stop(self);
    s_table_clear(self);
    free(self->secret);
    pthread_mutex_destroy(&self->mu);
    pthread_mutex_destroy(&self->life_mu);
    free(self);
    *self_p = NULL;
}

int
kj_sink_port(const kj_sink_t *self)
{
    return self->port;
}

void
kj_sink_url(const kj_sink_t *self, char *out, size_t size)
{
    snprintf(out, size, "http://%s:%d/alerts", self->host, self->port);
}

void
kj_sink_only_kind(kj_sink_t *self, const char *kind)
{
    pthread_mutex_lock(&self->mu);
    snprintf(self->only_kind, sizeof self->only_kind, "%s", kind ? kind : "");
    pthread_mutex_unlock(&self->mu);
}

void
kj_sink_set_status(kj_sink_t *self, unsigned status)
{
    pthread_mutex_lock(&self->mu);
    self->status = status;
    pthread_mutex_unlock(&self->mu);
}

void
kj_sink_set_delay_ms(kj_sink_t *self, int delay_ms)
{
    if (delay_ms < 0)
        delay_ms = 0;
    if (delay_ms > 60000)
        delay_ms = 60000;
    pthread_mutex_lock(&self->mu);
    self->delay_ms = delay_ms;
    pthread_mutex_unlock(&self->mu);
}

void
kj_sink_keep_bodies(kj_sink_t *self, bool keep)
{
    pthread_mutex_lock(&self->mu);
    self->keep_bodies = keep;
    pthread_mutex_unlock(&self->mu);
}

void
kj_sink_set_callback(kj_sink_t *self, kj_sink_cb_t *cb, void *arg)
{
    pthread_mutex_lock(&self->mu);
    self->cb = cb;
    self->cb_arg = arg;
    pthread_mutex_unlock(&self->mu);
}

int
kj_sink_stop(kj_sink_t *self)
{
    pthread_mutex_lock(&self->life_mu);
    if (self->daemon) {
        MHD_stop_daemon(self->daemon);
        self->daemon = NULL;
    }
    pthread_mutex_unlock(&self->life_mu);
    return 0;
}

int
kj_sink_start(kj_sink_t *self)
{
    int rc = 0;
    pthread_mutex_lock(&self->life_mu);
    if (!self->daemon)
        rc = s_listen(self);
    pthread_mutex_unlock(&self->life_mu);
    return rc;
}

void
kj_sink_stats(kj_sink_t *self, kj_sink_stats_t *out)
{
    pthread_mutex_lock(&self->mu);
    *out = self->stats;
    pthread_mutex_unlock(&self->mu);
}

unsigned
kj_sink_key_count(kj_sink_t *self, const char *key)
{
    pthread_mutex_lock(&self->mu);
    s_entry_t *e = s_find(self, key, false);
    unsigned n = e ? e->count : 0;
    pthread_mutex_unlock(&self->mu);
    return n;
}

unsigned
kj_sink_key_ok(kj_sink_t *self, const char *key)
{
    pthread_mutex_lock(&self->mu);
    s_entry_t *e = s_find(self, key, false);
    unsigned n = e ? e->ok : 0;
    pthread_mutex_unlock(&self->mu);
    return n;
}

void
kj_sink_set_flap(kj_sink_t *self, bool flap)
{
    pthread_mutex_lock(&self->mu);
    self->flap = flap;
    self->n_flap = 0;
    pthread_mutex_unlock(&self->mu);
}

unsigned
kj_sink_key_signed(kj_sink_t *self, const char *key)
{
    pthread_mutex_lock(&self->mu);
    s_entry_t *e = s_find(self, key, false);
    unsigned n = e ? e->signed_ok : 0;
    pthread_mutex_unlock(&self->mu);
    return n;
}

json_t *
kj_sink_key_body(kj_sink_t *self, const char *key)
{
    pthread_mutex_lock(&self->mu);
    s_entry_t *e = s_find(self, key, false);
    json_t *copy = e && e->body ? json_deep_copy(e->body) : NULL;
    pthread_mutex_unlock(&self->mu);
    return copy;
}

void
kj_sink_reset(kj_sink_t *self)
{
    pthread_mutex_lock(&self->mu);
    s_table_clear(self);
    memset(&self->stats, 0, sizeof self->stats);
    pthread_mutex_unlock(&self->mu);
}
