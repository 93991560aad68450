/* kj_redis: one hiredis 0.14 connection with reconnect and scripts (see
 * kj_redis.h). */
#include "kj_redis.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/time.h>

#include <openssl/evp.h>

#include "kj_assert.h"
#include "kj_log.h"
#include "kj_url.h"
#include "kj_util.h"

#define KJ_REDIS_HOST_MAX 256
#define KJ_REDIS_SECRET_MAX 256
#define KJ_REDIS_ERR_MAX 256

/* After a failed connect, wait this long before the next try, doubling up
 * to the cap: a Redis outage costs each copy a few attempts a second, not
 * a busy loop, and recovery is noticed within a second. */
#define KJ_REDIS_BACKOFF_MIN_MS 100
#define KJ_REDIS_BACKOFF_MAX_MS 1000

/* Idle read buffer hiredis may keep between replies. The default (16 KiB)
 * frees and reallocates the buffer around every pipelined batch of
 * envelopes; 1 MiB keeps it. */
#define KJ_REDIS_READER_KEEP (1024 * 1024)

typedef struct {
    char *source; /* Lua source, owned */
    char sha[41]; /* SHA1 hex of source, computed locally */
} s_script_t;

struct kj_redis {
    redisContext *c;                    /* NULL while disconnected */
    char host[KJ_REDIS_HOST_MAX];       /* from the URL */
    int port;                           /* from the URL, default 6379 */
    int db;                             /* SELECTed after connect if > 0 */
    char user[KJ_REDIS_SECRET_MAX];     /* ACL user, "" for the default */
    char password[KJ_REDIS_SECRET_MAX]; /* "" for none; never logged */
    int timeout_ms;                     /* connect and per-command bound */
    char errstr[KJ_REDIS_ERR_MAX];      /* sticky until the next connect */
    int64_t next_try_ms;                /* monotonic: no connect before */
    int64_t backoff_ms;                 /* next wait after a failure */
    bool down_logged;                   /* logged this outage already */
    size_t pending;                     /* commands sent, replies unread */
    s_script_t *scripts;                /* registered Lua scripts */
    size_t n_scripts;                   /* entries used in scripts */
    size_t cap_scripts;                 /* entries allocated */
};

/* ---- URL ------------------------------------------------------------ */

/* A decimal number in s within [lo, hi], or -1. */
static long
s_number(const char *s, long lo, long hi)
{
    size_t len = strlen(s);
    if (len == 0 || len > 10)
        return -1;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v < lo || v > hi ? -1 : v;
}

/* redis://[[user]:password@]host[:port][/db]: kj_url splits it; what is
 * Redis's own (the scheme, no query, a password with the user, the
 * database number) is checked here. */
static int
s_parse_url(const char *url, char *host, size_t host_size, int *port, int *db,
            char *user, size_t user_size, char *password, size_t password_size,
            char *err, size_t err_size)
{
    static const char scheme[] = "redis://";
    host[0] = '\0';
    user[0] = '\0';
    password[0] = '\0';
    *port = 6379;
    *db = 0;
    if (!url || strncmp(url, scheme, sizeof scheme - 1) != 0) {
        if (url && strncmp(url, "rediss://", 9) == 0)
            snprintf(err, err_size,
                     "redis url: TLS (rediss://) is not "
                     "supported");
        else
            snprintf(err, err_size, "redis url: must start with redis://");
        return -1;
    }
    if (strchr(url, '?')) {
        snprintf(err, err_size,
                 "redis url: query parameters are not "
                 "supported");
        return -1;
    }
    kj_url_t u;
    char why[128];
    if (kj_url_parse(url, &u, why, sizeof why) != 0) {
        snprintf(err, err_size, "redis url: %s", why);
        return -1;
    }
    if (u.has_userinfo && !u.has_password) {
        snprintf(err, err_size,
                 "redis url: credentials must be "
                 "[user]:password@");
        return -1;
    }
    if (strlen(u.host) >= host_size) {
        snprintf(err, err_size, "redis url: host longer than %zu bytes",
                 host_size - 1);
        return -1;
    }
    if (kj_strlcpy(user, u.user, user_size) >= user_size) {
        snprintf(err, err_size, "redis url: bad or too long user");
        return -1;
    }
    if (kj_strlcpy(password, u.password, password_size) >= password_size) {
        snprintf(err, err_size, "redis url: bad or too long password");
        return -1;
    }
    /* RFC 3986 allows "host:" for the default port; for a Redis URL it is
     * more likely a port left out by mistake. */
    if (u.port_empty) {
        snprintf(err, err_size, "redis url: bad port (1..65535)");
        return -1;
    }
    kj_strlcpy(host, u.host, host_size);
    *port = u.port;
    if (u.rest[0] && strcmp(u.rest, "/") != 0) {
        long v = u.rest[0] == '/' ? s_number(u.rest + 1, 0, INT_MAX) : -1;
        if (v < 0) {
            snprintf(err, err_size, "redis url: bad database number");
            return -1;
        }
        *db = (int)v;
    }
    return 0;
}

int
kj_redis_parse_url(const char *url, char *host, size_t host_size, int *port,
                   int *db, char *password, size_t password_size, char *err,
                   size_t err_size)
{
    char user[KJ_REDIS_SECRET_MAX];
    return s_parse_url(url, host, host_size, port, db, user, sizeof user,
                       password, password_size, err, err_size);
}

/* ---- lifecycle ------------------------------------------------------ */

kj_redis_t *
kj_redis_new(const char *url, int timeout_ms, char *err, size_t err_size)
{
    kj_redis_t *self = kj_calloc(1, sizeof *self);
    if (s_parse_url(url, self->host, sizeof self->host, &self->port, &self->db,
                    self->user, sizeof self->user, self->password,
                    sizeof self->password, err, err_size) != 0) {
        free(self);
        return NULL;
    }
    self->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
    snprintf(self->errstr, sizeof self->errstr, "not connected yet");
    return self;
}

void
kj_redis_destroy(kj_redis_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kj_redis_t *self = *self_p;
    if (self->c)
        redisFree(self->c);
    for (size_t i = 0; i < self->n_scripts; i++)
        free(self->scripts[i].source);
    free(self->scripts);
    /* The password should not outlive the object in freed memory. */
    memset(self->password, 0, sizeof self->password);
    free(self);
    *self_p = NULL;
}

bool
kj_redis_connected(const kj_redis_t *self)
{
    return self->c != NULL;
}

const char *
kj_redis_errstr(const kj_redis_t *self)
{
    return self->errstr;
}

/* Record an error and schedule the next connect attempt. */
static void
s_down(kj_redis_t *self)
{
    int64_t now = kj_mono_ms();
    self->next_try_ms = now + self->backoff_ms;
    self->backoff_ms =
        self->backoff_ms ? self->backoff_ms * 2 : KJ_REDIS_BACKOFF_MIN_MS;
    if (self->backoff_ms > KJ_REDIS_BACKOFF_MAX_MS)
        self->backoff_ms = KJ_REDIS_BACKOFF_MAX_MS;
    if (!self->down_logged) {
        kj_warn("redis unavailable", "s:host", self->host, "i:port", self->port,
                "s:error", self->errstr);
        self->down_logged = true;
    }
}

void
kj_redis_fail(kj_redis_t *self, const char *what)
{
    if (self->c && self->c->err)
        snprintf(self->errstr, sizeof self->errstr, "%s: %s", what,
                 self->c->errstr);
    else
        snprintf(self->errstr, sizeof self->errstr, "%s", what);
    if (self->c) {
        redisFree(self->c);
        self->c = NULL;
    }
    self->pending = 0;
    s_down(self);
}

/* ---- reading replies ------------------------------------------------ */

/* redisGetReply, but the bytes buffered for one reply are capped at
 * KJ_REDIS_REPLY_MAX: hiredis 0.14 has no such limit, and a runaway reply
 * must not take the process's memory. NULL on failure (connection
 * dropped). */
static redisReply *
s_get_reply(kj_redis_t *self)
{
    if (!self->c) {
        if (!self->errstr[0])
            snprintf(self->errstr, sizeof self->errstr, "not connected");
        return NULL;
    }
    redisContext *c = self->c;
    void *reply = NULL;
    if (redisGetReplyFromReader(c, &reply) != REDIS_OK)
        goto fail;
    if (reply) {
        self->pending -= self->pending > 0;
        return reply;
    }
    int done = 0;
    while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK)
            goto fail;
    size_t got = 0;
    while (!reply) {
        size_t before = c->reader->len;
        if (redisBufferRead(c) != REDIS_OK)
            goto fail;
        got += c->reader->len - before;
        if (got > KJ_REDIS_REPLY_MAX) {
            kj_redis_fail(self, "redis reply larger than the cap");
            return NULL;
        }
        if (redisGetReplyFromReader(c, &reply) != REDIS_OK)
            goto fail;
    }
    self->pending -= self->pending > 0;
    return reply;
fail:
    kj_redis_fail(self, "redis i/o");
    return NULL;
}

redisReply *
kj_redis_get_reply(kj_redis_t *self)
{
    return s_get_reply(self);
}

int
kj_redis_hgetall_each(kj_redis_t *self, const char *const *keys, size_t n,
                      kj_redis_field_fn each, void *ctx)
{
    if (!kj_redis_connected(self) && kj_redis_connect(self) < 0)
        return -1;
    for (size_t k = 0; k < n; k++) {
        const char *argv[] = {"HGETALL", keys[k]};
        if (kj_redis_appendargv(self, 2, argv, NULL) < 0)
            return -1;
    }
    int rc = 0;
    bool io_failed = false;
    for (size_t k = 0; k < n; k++) {
        /* An error reply is one key's problem: read on, or the replies
         * left in the buffer would answer later commands. After an I/O
         * failure the connection is gone: the rest fail fast. */
        redisReply *r = io_failed ? NULL : s_get_reply(self);
        if (!r) {
            io_failed = true;
            rc = -1;
            continue;
        }
        if (r->type == REDIS_REPLY_ARRAY) {
            for (size_t i = 0; i + 1 < r->elements; i += 2) {
                const redisReply *f = r->element[i];
                const redisReply *v = r->element[i + 1];
                if (f->type == REDIS_REPLY_STRING &&
                    v->type == REDIS_REPLY_STRING)
                    each(ctx, k, f->str, f->len, v->str, v->len);
            }
        } else {
            kj_warn("HGETALL failed", "s:key", keys[k], "s:error",
                    r->type == REDIS_REPLY_ERROR ? r->str : "not a hash");
            rc = -1;
        }
        freeReplyObject(r);
    }
    return rc;
}

/* ---- scripts -------------------------------------------------------- */

static void
s_sha1_hex(const char *src, char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int ok = EVP_Digest(src, strlen(src), md, &n, EVP_sha1(), NULL);
    kj_assert(ok == 1 && n == 20);
    (void)ok;
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 20; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[40] = '\0';
}

/* SCRIPT LOAD every script in one pipeline on the live connection. */
static int
s_load_scripts(kj_redis_t *self)
{
    for (size_t i = 0; i < self->n_scripts; i++) {
        const char *argv[] = {"SCRIPT", "LOAD", self->scripts[i].source};
        if (redisAppendCommandArgv(self->c, 3, argv, NULL) != REDIS_OK) {
            kj_redis_fail(self, "redis append");
            return -1;
        }
    }
    int rc = 0;
    for (size_t i = 0; i < self->n_scripts; i++) {
        redisReply *r = s_get_reply(self);
        if (!r)
            return -1;
        if (r->type != REDIS_REPLY_STRING ||
            strcmp(r->str, self->scripts[i].sha) != 0) {
            /* A script that does not compile is a bug in this program;
             * keep reading the pipeline, then report it. */
            snprintf(self->errstr, sizeof self->errstr,
                     "SCRIPT LOAD failed: %s",
                     r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
            kj_error("redis script load failed", "s:error", self->errstr);
            rc = -1;
        }
        freeReplyObject(r);
    }
    return rc;
}

int
kj_redis_script_add(kj_redis_t *self, const char *source)
{
    if (self->n_scripts == self->cap_scripts) {
        self->cap_scripts = self->cap_scripts ? self->cap_scripts * 2 : 8;
        self->scripts = kj_realloc(self->scripts,
                                   self->cap_scripts * sizeof *self->scripts);
    }
    s_script_t *s = &self->scripts[self->n_scripts];
    s->source = kj_strdup(source);
    s_sha1_hex(source, s->sha);
    int handle = (int)self->n_scripts++;
    if (self->c) {
        const char *argv[] = {"SCRIPT", "LOAD", s->source};
        redisReply *r = kj_redis_commandargv(self, 3, argv, NULL);
        if (r && r->type == REDIS_REPLY_ERROR)
            kj_error("redis script load failed", "s:error", r->str);
        if (r)
            freeReplyObject(r);
    }
    return handle;
}

const char *
kj_redis_script_sha(const kj_redis_t *self, int handle)
{
    kj_assert(handle >= 0 && (size_t)handle < self->n_scripts);
    return self->scripts[handle].sha;
}

int
kj_redis_scripts_reload(kj_redis_t *self)
{
    if (!self->c)
        return kj_redis_connect(self);
    return s_load_scripts(self);
}

bool
kj_redis_is_noscript(const redisReply *reply)
{
    return reply && reply->type == REDIS_REPLY_ERROR && reply->str &&
           strncmp(reply->str, "NOSCRIPT", 8) == 0;
}

/* ---- connect -------------------------------------------------------- */

/* One command during the handshake; 0 if it did not answer an error. */
static int
s_handshake(kj_redis_t *self, int argc, const char **argv, const char *what)
{
    redisReply *r = NULL;
    if (redisAppendCommandArgv(self->c, argc, argv, NULL) == REDIS_OK)
        r = s_get_reply(self);
    if (!r) {
        if (self->c)
            kj_redis_fail(self, what);
        return -1;
    }
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(self->errstr, sizeof self->errstr, "%s: %s", what, r->str);
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

/* Did an idle connection die while we were not looking (Redis restarted,
 * a proxy closed it)? Redis never speaks unasked, so an idle socket that
 * polls readable holds an EOF or an error. Found here, it is a reconnect;
 * found by sending, it would be a command whose outcome is unknown. Costs
 * one poll(2) per call; skipped while replies are awaited. */
static bool
s_hung_up(kj_redis_t *self)
{
    if (self->pending > 0 || self->c->fd < 0)
        return false;
    struct pollfd p = {.fd = self->c->fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR)))
        return false;
    kj_redis_fail(self, "the server closed the idle connection");
    /* Not an outage of its own: reconnect at once. */
    self->next_try_ms = 0;
    self->backoff_ms = 0;
    return true;
}

int
kj_redis_connect(kj_redis_t *self)
{
    if (self->c && !s_hung_up(self))
        return 0;
    int64_t now = kj_mono_ms();
    if (now < self->next_try_ms)
        return -1; /* backing off; errstr still says why */
    struct timeval tv = {.tv_sec = self->timeout_ms / 1000,
                         .tv_usec = (self->timeout_ms % 1000) * 1000};
    self->pending = 0;
    self->c = redisConnectWithTimeout(self->host, self->port, tv);
    if (!self->c) {
        snprintf(self->errstr, sizeof self->errstr, "connect: out of memory");
        s_down(self);
        return -1;
    }
    if (self->c->err) {
        kj_redis_fail(self, "connect");
        return -1;
    }
    if (redisSetTimeout(self->c, tv) != REDIS_OK) {
        kj_redis_fail(self, "set timeout");
        return -1;
    }
    /* Idle peers behind NAT or load balancers drop silent connections. */
    (void)redisEnableKeepAlive(self->c);
    self->c->reader->maxbuf = KJ_REDIS_READER_KEEP;

    if (self->password[0]) {
        /* AUTH user password (Redis 6 ACLs) or the classic AUTH password. */
        const char *with_user[] = {"AUTH", self->user, self->password};
        const char *classic[] = {"AUTH", self->password};
        int rc = self->user[0] ? s_handshake(self, 3, with_user, "AUTH")
                               : s_handshake(self, 2, classic, "AUTH");
        if (rc != 0)
            goto fail;
    }
    if (self->db > 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", self->db);
        const char *argv[] = {"SELECT", db};
        if (s_handshake(self, 2, argv, "SELECT") != 0)
            goto fail;
    }
    if (s_load_scripts(self) != 0)
        goto fail;

    if (self->down_logged)
        kj_info("redis connected", "s:host", self->host, "i:port", self->port);
    self->down_logged = false;
    self->errstr[0] = '\0';
    self->backoff_ms = 0;
    self->next_try_ms = 0;
    return 0;
fail:
    /* An error reply (wrong password, bad db, bad script) leaves the
     * socket up; drop it so the next call starts over, keeping the reply
     * text as the reason. */
    if (self->c) {
        redisFree(self->c);
        self->c = NULL;
        s_down(self);
    }
    return -1;
}

/* ---- commands ------------------------------------------------------- */

redisReply *
kj_redis_command(kj_redis_t *self, const char *fmt, ...)
{
    if (kj_redis_connect(self) != 0)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAppendCommand(self->c, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        kj_redis_fail(self, "redis append");
        return NULL;
    }
    self->pending++;
    return s_get_reply(self);
}

redisReply *
kj_redis_commandargv(kj_redis_t *self, int argc, const char **argv,
                     const size_t *argvlen)
{
    if (kj_redis_connect(self) != 0)
        return NULL;
    if (redisAppendCommandArgv(self->c, argc, argv, argvlen) != REDIS_OK) {
        kj_redis_fail(self, "redis append");
        return NULL;
    }
    self->pending++;
    return s_get_reply(self);
}

int
kj_redis_append(kj_redis_t *self, const char *fmt, ...)
{
    if (!self->c)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAppendCommand(self->c, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        kj_redis_fail(self, "redis append");
        return -1;
    }
    self->pending++;
    return 0;
}

int
kj_redis_appendargv(kj_redis_t *self, int argc, const char **argv,
                    const size_t *argvlen)
{
    if (!self->c)
        return -1;
    if (redisAppendCommandArgv(self->c, argc, argv, argvlen) != REDIS_OK) {
        kj_redis_fail(self, "redis append");
        return -1;
    }
    self->pending++;
    return 0;
}

#define S_EVAL_ARGV_MAX 40 /* keys + args of one batched EVALSHA */
#define S_NOSCRIPT_ROUNDS 3

/* Append one EVALSHA for call c. */
static int
s_append_eval(kj_redis_t *self, const char *sha, const kj_redis_eval_t *c)
{
    const char *argv[3 + S_EVAL_ARGV_MAX];
    size_t lens[3 + S_EVAL_ARGV_MAX];
    char nkeys[16];
    kj_assert(c->argc >= c->nkeys && c->argc <= S_EVAL_ARGV_MAX);
    snprintf(nkeys, sizeof nkeys, "%d", c->nkeys);
    argv[0] = "EVALSHA";
    lens[0] = 7;
    argv[1] = sha;
    lens[1] = strlen(sha);
    argv[2] = nkeys;
    lens[2] = strlen(nkeys);
    for (int i = 0; i < c->argc; i++) {
        argv[3 + i] = c->argv[i];
        lens[3 + i] = c->argvlen ? c->argvlen[i] : strlen(c->argv[i]);
    }
    return kj_redis_appendargv(self, 3 + c->argc, argv, lens);
}

int
kj_redis_eval_batch(kj_redis_t *self, int script, kj_redis_eval_t *calls,
                    size_t n)
{
    for (size_t i = 0; i < n; i++) {
        calls[i].reply = NULL;
        calls[i].pending = true;
    }
    for (int round = 0; round < S_NOSCRIPT_ROUNDS; round++) {
        if (kj_redis_connect(self) != 0)
            return -1;
        const char *sha = kj_redis_script_sha(self, script);
        size_t sent = 0;
        for (size_t i = 0; i < n; i++) {
            if (!calls[i].pending)
                continue;
            if (s_append_eval(self, sha, &calls[i]) != 0)
                return sent == 0 && round == 0 ? -1 : -2;
            sent++;
        }
        bool noscript = false;
        for (size_t i = 0; i < n; i++) {
            if (!calls[i].pending)
                continue;
            redisReply *rep = kj_redis_get_reply(self);
            if (!rep)
                return -2;
            if (kj_redis_is_noscript(rep)) {
                freeReplyObject(rep);
                noscript = true;
                continue;
            }
            calls[i].pending = false;
            calls[i].reply = rep;
        }
        if (!noscript)
            return 0;
        kj_warn("redis lost the scripts; reloading", "s:script", sha);
        if (kj_redis_scripts_reload(self) != 0)
            return -1;
    }
    kj_error("redis keeps answering NOSCRIPT");
    return -1;
}

void
kj_redis_eval_clear(kj_redis_eval_t *calls, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (calls[i].reply)
            freeReplyObject(calls[i].reply);
        calls[i].reply = NULL;
    }
}
