/* ingest_imap: the IMAP poller, on libcurl's IMAP (login, SELECT, literals,
 * TLS for imaps://). Two libcurl limits shape it:
 *   - its own fetch (URL ;UID=n) sends BODY[], which sets \Seen at once,
 *     before anything is recorded. So each batch starts with EXAMINE (a
 *     read-only session: RFC 3501 says nothing may change there, \Seen
 *     included), fetches in it, and SELECTs read-write again only to
 *     flag what is recorded.
 *   - a custom FETCH is no answer: libcurl reads a literal line by line
 *     as responses, so a body line starting "* " or over its header limit
 *     (300 kB) breaks the command. Only SEARCH, EXAMINE, SELECT and STORE
 *     go through CURLOPT_CUSTOMREQUEST.
 * libcurl keeps the connection and believes the mailbox it SELECTed is
 * still selected, so it sends the fetch straight into our EXAMINE
 * session; if it had to reconnect (a new SELECT of its own, read-write)
 * the batch is dropped and retried, see s_fetch. */
#include "ingest_imap.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ingest_batch.h"
#include "ingest_email.h"
#include "ingest_imap_state.h"
#include "kj_downstream.h"
#include "kj_log.h"
#include "kj_mq.h"
#include "kj_redis.h"
#include "kj_util.h"

#define S_URL_MAX 1024
#define S_REDIS_TIMEOUT_MS 2000
#define S_CONNECT_TIMEOUT_MS 10000
#define S_TRANSFER_TIMEOUT_MS 120000L /* at most, and 2/3 of the lease */
#define S_PUSH_TIMEOUT_MS 20
#define S_UIDS_MAX 512           /* UIDs kept from one SEARCH */
#define S_RESP_SLACK (64 * 1024) /* response lines around a literal */
#define S_SLEEP_STEP_MS 50       /* how soon a stop is noticed */

/* One mailbox: where it is, who we are there, and its connection. */
typedef struct {
    char id[S_URL_MAX];   /* "imap://host:port/INBOX": keys, logs, labels */
    char base[S_URL_MAX]; /* "imap://host:port/" (no credentials) */
    char name[S_URL_MAX]; /* "INBOX", decoded */
    char path[S_URL_MAX]; /* "INBOX" as written in the URL */
    char *user;           /* NULL: none */
    char *password;
    CURL *curl;             /* kept: one login per connection, not per call */
    kj_gauge_t *lease_held; /* 1 while this copy holds the lease */
    bool held;              /* we hold the lease (last we knew) */
    bool warned_busy;       /* "held by another copy" logged once */
} s_mailbox_t;

/* A response buffer with a cap: what is over it is counted, not kept. */
typedef struct {
    char *data;
    size_t len, cap;
    bool too_big;
} s_buf_t;

struct ingest_imap {
    ingest_imap_opts_t opts; /* strings below are our copies */
    char *tenant;
    s_mailbox_t mailboxes[INGEST_IMAP_MAILBOXES_MAX];
    size_t n_mailboxes;
    kj_service_t *service; /* borrowed */
    ingest_metrics_t *metrics;
    kj_redis_t *redis; /* the thread's own: kj_redis is one per thread */
    kj_store_t *store;
    kj_push_t *push;
    kj_downstream_t *down;
    ingest_imap_state_t *state;
    ingest_batch_t *batch;
    ingest_email_t *mail; /* parse scratch: large, reused */
    s_buf_t resp;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    /* kujo_ingest_imap_messages_total{outcome} */
    kj_counter_t *recorded, *duplicate, *unparsed;
    kj_counter_t *imap_errors, *redis_errors, *polls;
};

/* ------------------------------------------------------------------ */
/* URLs */

static int
s_hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decode s[len] into out[size]. -1 if malformed or too long. */
static int
s_decode(const char *s, size_t len, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int h, l;
            if (i + 2 >= len || (h = s_hex(s[i + 1])) < 0 ||
                (l = s_hex(s[i + 2])) < 0)
                return -1;
            c = h * 16 + l;
            i += 2;
        }
        if (o + 1 >= size)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

/* Split one URL into mb. 0, or -1 with a reason in err. */
static int
s_parse_url(const char *url, size_t len, s_mailbox_t *mb, const char **err)
{
    size_t scheme_len;
    if (len > 7 && strncmp(url, "imap://", 7) == 0)
        scheme_len = 7;
    else if (len > 8 && strncmp(url, "imaps://", 8) == 0)
        scheme_len = 8;
    else {
        *err = "expected imap:// or imaps://";
        return -1;
    }
    const char *auth = url + scheme_len, *end = url + len;
    const char *slash = memchr(auth, '/', (size_t)(end - auth));
    const char *hostend = slash ? slash : end;
    /* The last '@' ends the userinfo: a password may hold an '@'. */
    const char *at = NULL;
    for (const char *p = auth; p < hostend; p++)
        if (*p == '@')
            at = p;
    const char *host = at ? at + 1 : auth;
    if (host == hostend) {
        *err = "no host";
        return -1;
    }
    const char *path = slash ? slash + 1 : end;
    size_t path_len = (size_t)(end - path);
    if (path_len == 0) {
        path = "INBOX";
        path_len = 5;
    }
    if (path_len >= sizeof mb->path || memchr(path, ';', path_len) ||
        memchr(path, '?', path_len)) {
        *err = "mailbox too long or with ;/? parameters";
        return -1;
    }
    memcpy(mb->path, path, path_len);
    mb->path[path_len] = '\0';
    if (s_decode(path, path_len, mb->name, sizeof mb->name) < 0) {
        *err = "malformed %-escape in the mailbox";
        return -1;
    }
    for (const char *p = mb->name; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) {
            /* It goes into a quoted STATUS argument. */
            *err = "mailbox name with a quote, backslash or control byte";
            return -1;
        }
    snprintf(mb->base, sizeof mb->base, "%.*s%.*s/", (int)scheme_len, url,
             (int)(hostend - host), host);
    snprintf(mb->id, sizeof mb->id, "%s%s", mb->base, mb->path);
    if (at) {
        char user[512], pass[512];
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        const char *uend = colon ? colon : at;
        if (s_decode(auth, (size_t)(uend - auth), user, sizeof user) < 0 ||
            (colon && s_decode(colon + 1, (size_t)(at - colon - 1), pass,
                               sizeof pass) < 0)) {
            *err = "malformed user or password in the URL";
            return -1;
        }
        mb->user = kj_strdup(user);
        mb->password = colon ? kj_strdup(pass) : NULL;
    }
    return 0;
}

/* Call each(url, len) for every comma-separated URL; stops at the first
 * -1. Returns the count, or -1. */
static int
s_each_url(const char *urls, int (*each)(void *, const char *, size_t),
           void *ctx)
{
    int n = 0;
    const char *p = urls;
    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && isspace((unsigned char)*p)) {
            p++;
            len--;
        }
        while (len && isspace((unsigned char)p[len - 1]))
            len--;
        if (len > 0) {
            if (each(ctx, p, len) < 0)
                return -1;
            n++;
        }
        p = comma ? comma + 1 : NULL;
    }
    return n;
}

typedef struct {
    const char *binary;
    int problems;
} s_check_t;

static int
s_check_one(void *ctx, const char *url, size_t len)
{
    s_check_t *c = ctx;
    s_mailbox_t mb;
    memset(&mb, 0, sizeof mb);
    const char *err = NULL;
    if (len >= S_URL_MAX || s_parse_url(url, len, &mb, &err) < 0) {
        /* The URL may carry a password: say which, not what. */
        fprintf(stderr, "%s: KUJO_IMAP_URL: mailbox %d: %s\n", c->binary,
                c->problems + 1, err ? err : "too long");
        c->problems++;
    }
    free(mb.user);
    free(mb.password);
    return 0;
}

int
ingest_imap_check_urls(const char *binary, const char *urls)
{
    s_check_t c = {.binary = binary};
    int n = s_each_url(urls, s_check_one, &c);
    if (n > INGEST_IMAP_MAILBOXES_MAX) {
        fprintf(stderr, "%s: KUJO_IMAP_URL: %d mailboxes, at most %d\n", binary,
                n, INGEST_IMAP_MAILBOXES_MAX);
        c.problems++;
    }
    return c.problems;
}

/* ------------------------------------------------------------------ */
/* IMAP through libcurl */

static size_t
s_on_lines(char *data, size_t size, size_t n, void *ctx)
{
    s_buf_t *b = ctx;
    size_t len = size * n;
    if (b->len + len > b->cap) {
        b->too_big = true; /* keep reading: the command must complete */
        return len;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return len;
}

static size_t
s_discard(char *data, size_t size, size_t n, void *ctx)
{
    (void)data;
    (void)ctx;
    return size * n;
}

/* A stop cuts a transfer in progress: SIGTERM is not held up by a large
 * fetch. */
static int
s_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut,
           curl_off_t un)
{
    ingest_imap_t *self = ctx;
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    return atomic_load(&self->stop) ? 1 : 0;
}

/* Run cmd against url on mb's connection (cmd NULL: libcurl's own
 * command for the URL, a fetch); the untagged responses of a custom
 * command, or the fetched message, land in self->resp. *reconnected says
 * whether libcurl had to open a new connection. 0, -2 when the server
 * has no such message (a fetch of one expunged since the SEARCH), or -1
 * (counted and logged). */
static int
s_imap(ingest_imap_t *self, s_mailbox_t *mb, const char *url, const char *cmd,
       bool *reconnected)
{
    if (!mb->curl) {
        mb->curl = curl_easy_init();
        if (!mb->curl)
            return -1;
    }
    CURL *c = mb->curl;
    self->resp.len = 0;
    self->resp.too_big = false;
    self->resp.data[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, cmd);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, s_discard);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_on_lines);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &self->resp);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)S_CONNECT_TIMEOUT_MS);
    /* No command may outlive the lease renewed before it, or a second copy
     * could start on the mailbox meanwhile. */
    long timeout = (long)(self->opts.lease_ms * 2 / 3);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                     timeout < S_TRANSFER_TIMEOUT_MS ? timeout
                                                     : S_TRANSFER_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, s_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, self);
    if (mb->user)
        curl_easy_setopt(c, CURLOPT_USERNAME, mb->user);
    if (mb->password)
        curl_easy_setopt(c, CURLOPT_PASSWORD, mb->password);
    CURLcode rc = curl_easy_perform(c);
    long connects = 0;
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
    if (reconnected)
        *reconnected = connects > 0;
    if (rc == CURLE_REMOTE_FILE_NOT_FOUND && !cmd)
        return -2;
    if (rc != CURLE_OK) {
        kj_counter_inc(self->imap_errors);
        if (!atomic_load(&self->stop))
            kj_warn("imap command failed", "s:mailbox", mb->id, "s:command",
                    cmd ? cmd : "UID FETCH", "s:error", curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

/* The number after key in resp ("UIDVALIDITY 123"). 0 if absent. */
static uint64_t
s_number_after(const char *resp, const char *key)
{
    const char *p = strstr(resp, key);
    return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

/* Open mb read-only; its UIDVALIDITY and UIDNEXT. 0 or -1. */
static int
s_examine(ingest_imap_t *self, s_mailbox_t *mb, const char *url,
          uint64_t *validity, uint64_t *next)
{
    char cmd[S_URL_MAX + 64];
    snprintf(cmd, sizeof cmd, "EXAMINE \"%s\"", mb->name);
    if (s_imap(self, mb, url, cmd, NULL) < 0)
        return -1;
    *validity = s_number_after(self->resp.data, "[UIDVALIDITY ");
    *next = s_number_after(self->resp.data, "[UIDNEXT ");
    if (*validity == 0) {
        kj_counter_inc(self->imap_errors);
        kj_warn("imap EXAMINE without UIDVALIDITY", "s:mailbox", mb->id);
        return -1;
    }
    return 0;
}

/* The UIDs after last, ascending, at most max. Their count, or -1. */
static int
s_search(ingest_imap_t *self, s_mailbox_t *mb, const char *url, uint64_t last,
         uint64_t *uids, int max)
{
    char cmd[64];
    snprintf(cmd, sizeof cmd, "UID SEARCH UID %" PRIu64 ":*", last + 1);
    bool reconnected = false;
    if (s_imap(self, mb, url, cmd, &reconnected) < 0)
        return -1;
    if (reconnected) {
        /* libcurl's own SELECT replaced our EXAMINE: fetching now could set
         * \Seen before anything is recorded. */
        kj_counter_inc(self->imap_errors);
        kj_warn("imap connection lost mid-batch; batch retried", "s:mailbox",
                mb->id);
        return -1;
    }
    const char *p = strstr(self->resp.data, "* SEARCH");
    int n = 0;
    if (!p)
        return 0;
    p += 8;
    while (*p && *p != '\r' && *p != '\n') {
        char *end;
        uint64_t uid = strtoull(p, &end, 10);
        if (end == p)
            break;
        p = end;
        /* "N:*" always matches the highest UID, even one below N. */
        if (uid <= last)
            continue;
        /* Keep the lowest max, ascending: the rest come next poll. */
        int i;
        if (n < max)
            i = n++;
        else if (uid < uids[max - 1])
            i = max - 1;
        else
            continue;
        uids[i] = uid;
        for (; i > 0 && uids[i - 1] > uids[i]; i--) {
            uint64_t tmp = uids[i - 1];
            uids[i - 1] = uids[i];
            uids[i] = tmp;
        }
    }
    return n;
}

/* Fetch one message in the EXAMINE session (so \Seen stays as it was):
 * *raw points into self->resp. 1 fetched, 0 fetched but not whole (*why
 * says why, *size how much came), -1 the command failed or the session
 * was lost (the batch is retried). */
static int
s_fetch(ingest_imap_t *self, s_mailbox_t *mb, uint64_t uid, const char **raw,
        size_t *size, const char **why)
{
    char url[S_URL_MAX + 64];
    bool reconnected = false;
    snprintf(url, sizeof url, "%s%s;UID=%" PRIu64, mb->base, mb->path, uid);
    int rc = s_imap(self, mb, url, NULL, &reconnected);
    if (reconnected) {
        /* libcurl logged in again and SELECTed read-write: this fetch may
         * have set \Seen. Harmless (the position, not the flag, says what
         * is taken) but the read-only session is gone: start over. */
        kj_counter_inc(self->imap_errors);
        kj_warn("imap connection lost mid-batch; batch retried", "s:mailbox",
                mb->id);
        return -1;
    }
    if (rc == -2) {
        *size = 0;
        *why = "expunged";
        return 0;
    }
    if (rc < 0)
        return -1;
    *size = self->resp.len;
    if (self->resp.too_big) {
        *why = "body_too_large";
        return 0;
    }
    if (self->resp.len == 0) {
        /* Expunged between SEARCH and FETCH: nothing to record. */
        *why = "no_body";
        return 0;
    }
    *raw = self->resp.data;
    return 1;
}

/* Flag the taken UIDs \Seen, in a read-write session again. Only a
 * courtesy to people reading the mailbox: the position in Redis, not the
 * flag, says what was taken, so a failure is counted and logged, nothing
 * more. */
static void
s_mark_seen(ingest_imap_t *self, s_mailbox_t *mb, const char *url,
            const uint64_t *uids, int n)
{
    char cmd[S_UIDS_MAX * 21 + 64];
    snprintf(cmd, sizeof cmd, "SELECT \"%s\"", mb->name);
    if (s_imap(self, mb, url, cmd, NULL) < 0)
        return;
    size_t o = (size_t)snprintf(cmd, sizeof cmd, "UID STORE ");
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(cmd + o, sizeof cmd - o, "%s%" PRIu64,
                              i ? "," : "", uids[i]);
    snprintf(cmd + o, sizeof cmd - o, " +FLAGS.SILENT (\\Seen)");
    s_imap(self, mb, url, cmd, NULL);
}

/* ------------------------------------------------------------------ */
/* Messages */

/* A held-back message's description. Caller frees. */
static char *
s_parked_json(uint64_t uid, size_t size, const char *label, const char *code,
              const char *message, const char *message_id)
{
    json_t *o = json_pack("{s:I, s:I, s:I}", "uid", (json_int_t)uid, "size",
                          (json_int_t)size, "at_ms", (json_int_t)kj_now_ms());
    if (label)
        json_object_set_new(o, "label", json_string(label));
    if (code)
        json_object_set_new(o, "reason", json_string(code));
    if (message)
        json_object_set_new(o, "error", json_string(message));
    if (message_id && message_id[0])
        json_object_set_new(o, "message_id", json_string(message_id));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* What one poll decided about its messages before writing anything. */
typedef struct {
    uint64_t uids[S_UIDS_MAX]; /* taken, ascending */
    int n;
    ingest_imap_parked_t parked[S_UIDS_MAX];
    char *parked_json[S_UIDS_MAX];
    size_t n_parked, n_dead;
} s_take_t;

static void
s_park(s_take_t *t, const char *kind, uint64_t uid, char *json)
{
    t->parked_json[t->n_parked] = json;
    t->parked[t->n_parked++] =
        (ingest_imap_parked_t){.kind = kind, .uid = uid, .json = json};
    t->n_dead++;
}

/* Decide about one fetched message: a complaint in the batch, or parked. */
static void
s_take(ingest_imap_t *self, s_take_t *t, const char *url_id, uint64_t validity,
       uint64_t uid, const char *raw, size_t len)
{
    ingest_error_t err;
    ingest_email_t *mail = self->mail;
    if (ingest_email_parse(raw, len, mail, &err) < 0) {
        s_park(t, "dead", uid,
               s_parked_json(uid, len, NULL, err.code, err.message, NULL));
        return;
    }
    if (!mail->message_id[0]) {
        /* No Message-ID: the mailbox's own stable name for the message
         * keeps a re-fetch idempotent. */
        snprintf(mail->message_id, sizeof mail->message_id,
                 "imap-%" PRIu64 "-%" PRIu64 "@%.200s", validity, uid, url_id);
    }
    json_t *body = ingest_email_complaint(mail);
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    kj_complaint_t *slot = ingest_batch_slot(self->batch);
    if (!s || ingest_validate_complaint_as(s, strlen(s), self->tenant, slot,
                                           &err) < 0)
        s_park(t, "dead", uid,
               s_parked_json(uid, len, NULL, s ? err.code : "encode",
                             s ? err.message : "not encodable",
                             mail->message_id));
    else
        ingest_batch_add(self->batch, NULL, NULL, kj_now_ms());
    free(s);
}

static void
s_take_free(s_take_t *t)
{
    for (size_t i = 0; i < t->n_parked; i++)
        free(t->parked_json[i]);
    t->n_parked = 0;
}

/* ------------------------------------------------------------------ */
/* Polling */

static void
s_set_held(s_mailbox_t *mb, bool held)
{
    mb->held = held;
    kj_gauge_set(mb->lease_held, held ? 1.0 : 0.0);
}

/* Take (or keep) the lease. true if we may poll. */
static bool
s_lease(ingest_imap_t *self, s_mailbox_t *mb)
{
    int rc = ingest_imap_lease_take(self->state, mb->id);
    if (rc < 0) {
        kj_counter_inc(self->redis_errors);
        s_set_held(mb, false);
        return false;
    }
    if (rc == 0) {
        if (mb->held || !mb->warned_busy)
            kj_info("imap mailbox polled by another copy", "s:mailbox", mb->id);
        mb->warned_busy = true;
        s_set_held(mb, false);
        return false;
    }
    if (!mb->held)
        kj_info("imap mailbox lease taken", "s:mailbox", mb->id);
    mb->warned_busy = false;
    s_set_held(mb, true);
    return true;
}

/* One batch of one mailbox. Returns how many messages were taken (the
 * caller polls again while batches come back full), or -1. */
static int
s_poll_batch(ingest_imap_t *self, s_mailbox_t *mb, s_take_t *t)
{
    uint64_t validity, next, saved_validity, last;
    if (!s_lease(self, mb))
        return -1;
    char url[S_URL_MAX];
    snprintf(url, sizeof url, "%s%s", mb->base, mb->path);
    if (s_examine(self, mb, url, &validity, &next) < 0)
        return -1;
    int found =
        ingest_imap_pos_get(self->state, mb->id, &saved_validity, &last);
    if (found < 0) {
        kj_counter_inc(self->redis_errors);
        return -1;
    }
    if (found == 1 && saved_validity != validity) {
        /* The server renumbered the mailbox: the saved UID means nothing
         * now. Start over; Message-IDs keep records from doubling. */
        kj_warn("imap UIDVALIDITY changed; position reset", "s:mailbox", mb->id,
                "l:uidvalidity_was", (long long)saved_validity, "l:uidvalidity",
                (long long)validity, "l:last_uid_was", (long long)last);
        last = 0;
        if (ingest_imap_pos_set(self->state, mb->id, validity, 0) < 0)
            kj_counter_inc(self->redis_errors);
    }
    if (found == 1 && saved_validity == validity && next > 0 &&
        next <= last + 1)
        return 0; /* nothing new: no SEARCH */
    int max = (int)self->opts.batch;
    uint64_t uids[S_UIDS_MAX];
    int n = s_search(self, mb, url, last, uids, max);
    if (n <= 0)
        return n;

    memset(t, 0, sizeof *t);
    ingest_batch_clear(self->batch);
    int rc = -1;
    for (int i = 0; i < n; i++) {
        /* Renewed per message: a batch never outlives our hold on the
         * mailbox, so a second copy cannot start on it meanwhile. */
        if (atomic_load(&self->stop) || !s_lease(self, mb))
            goto out;
        const char *raw = NULL, *why = NULL;
        size_t size = 0;
        int got = s_fetch(self, mb, uids[i], &raw, &size, &why);
        if (got < 0)
            goto out;
        if (got == 0)
            s_park(t, "dead", uids[i],
                   s_parked_json(uids[i], size, NULL, why, NULL, NULL));
        else
            s_take(self, t, mb->id, validity, uids[i], raw, size);
        t->uids[t->n++] = uids[i];
    }
    /* Record first; only then \Seen and the position. */
    size_t created = 0, dup = 0, batched = ingest_batch_count(self->batch);
    if (batched > 0) {
        if (ingest_batch_flush(self->batch, self->store, kj_now_ms()) < 0) {
            kj_counter_inc(self->redis_errors);
            kj_error("imap batch not stored", "s:mailbox", mb->id, "i:count",
                     (int)batched);
            goto out;
        }
        for (size_t i = 0; i < batched; i++) {
            int r = ingest_batch_result(self->batch, i)->result;
            if (r == 1)
                created++;
            else if (r == 0)
                dup++;
            else {
                kj_counter_inc(self->redis_errors);
                goto out; /* retried next poll: nothing moves */
            }
        }
    }
    if (ingest_imap_park(self->state, mb->id, validity, t->parked,
                         t->n_parked) < 0) {
        kj_counter_inc(self->redis_errors);
        kj_error("imap held-back messages not stored", "s:mailbox", mb->id);
        goto out;
    }
    ingest_batch_push(self->batch, self->push);
    s_mark_seen(self, mb, url, t->uids, t->n);
    int pos =
        ingest_imap_pos_set(self->state, mb->id, validity, t->uids[t->n - 1]);
    if (pos < 0)
        kj_counter_inc(self->redis_errors);
    else if (pos == 0) {
        /* Recorded all the same; the copy that took over takes these
         * again and finds them recorded. */
        kj_warn("imap lease lost before the position was saved", "s:mailbox",
                mb->id);
        s_set_held(mb, false);
    }
    kj_counter_add(self->recorded, created);
    kj_counter_add(self->duplicate, dup);
    kj_counter_add(self->unparsed, t->n_dead);
    kj_info("imap messages taken", "s:mailbox", mb->id, "i:taken", t->n,
            "i:recorded", (int)created, "i:duplicate", (int)dup, "i:unparsed",
            (int)t->n_dead, "l:last_uid", (long long)t->uids[t->n - 1],
            "s:tenant", self->tenant);
    rc = pos == 1 ? t->n : -1;
out:
    ingest_batch_clear(self->batch);
    s_take_free(t);
    return rc;
}

static void
s_sleep(ingest_imap_t *self, int64_t ms)
{
    for (int64_t left = ms; left > 0 && !atomic_load(&self->stop);
         left -= S_SLEEP_STEP_MS) {
        int64_t step = left < S_SLEEP_STEP_MS ? left : S_SLEEP_STEP_MS;
        struct timespec ts = {step / 1000, (long)(step % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void *
s_run(void *arg)
{
    ingest_imap_t *self = arg;
    s_take_t *t = kj_calloc(1, sizeof *t);
    while (!atomic_load(&self->stop)) {
        kj_counter_inc(self->polls);
        if (kj_redis_connect(self->redis) == 0)
            kj_downstream_refresh(self->down, kj_mono_ms(), kj_now_ms());
        for (size_t i = 0; i < self->n_mailboxes; i++) {
            /* A full batch means more is waiting: go on before sleeping. */
            while (!atomic_load(&self->stop) &&
                   s_poll_batch(self, &self->mailboxes[i], t) >=
                       self->opts.batch)
                ;
        }
        s_sleep(self, self->opts.poll_ms);
    }
    free(t);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Life */

static int
s_add_mailbox(void *ctx, const char *url, size_t len)
{
    ingest_imap_t *self = ctx;
    const char *err = NULL;
    if (self->n_mailboxes >= INGEST_IMAP_MAILBOXES_MAX || len >= S_URL_MAX)
        return -1;
    s_mailbox_t *mb = &self->mailboxes[self->n_mailboxes];
    if (s_parse_url(url, len, mb, &err) < 0)
        return -1;
    if (!mb->user && self->opts.user && self->opts.user[0]) {
        mb->user = kj_strdup(self->opts.user);
        if (self->opts.password)
            mb->password = kj_strdup(self->opts.password);
    }
    char label[S_URL_MAX + 32], esc[S_URL_MAX * 2];
    if (kj_metrics_label_escape(mb->id, esc, sizeof esc) < 0)
        return -1;
    snprintf(label, sizeof label, "mailbox=\"%s\"", esc);
    mb->lease_held = kj_metrics_gauge(
        self->metrics->registry, "ingest_imap_lease_held",
        "1 while this copy holds the mailbox's polling lease", label);
    self->n_mailboxes++;
    return 0;
}

static kj_counter_t *
s_outcome(kj_metrics_t *reg, const char *outcome)
{
    char label[64];
    snprintf(label, sizeof label, "outcome=\"%s\"", outcome);
    return kj_metrics_counter(reg, "ingest_imap_messages_total",
                              "messages taken from IMAP mailboxes, by what "
                              "became of them",
                              label);
}

ingest_imap_t *
ingest_imap_new(const ingest_imap_opts_t *opts, kj_service_t *service,
                ingest_metrics_t *metrics, void *zctx)
{
    char err[256], owner[128], host[64] = "?";
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        kj_error("curl_global_init failed");
        return NULL;
    }
    ingest_imap_t *self = kj_calloc(1, sizeof *self);
    self->opts = *opts;
    self->tenant = kj_strdup(opts->tenant);
    self->service = service;
    self->metrics = metrics;
    atomic_init(&self->stop, false);
    kj_metrics_t *reg = metrics->registry;
    self->recorded = s_outcome(reg, "recorded");
    self->duplicate = s_outcome(reg, "duplicate");
    self->unparsed = s_outcome(reg, "unparsed");
    self->imap_errors = kj_metrics_counter(
        reg, "ingest_imap_errors_total",
        "failed IMAP commands and Redis calls of the poller", "kind=\"imap\"");
    self->redis_errors = kj_metrics_counter(
        reg, "ingest_imap_errors_total",
        "failed IMAP commands and Redis calls of the poller", "kind=\"redis\"");
    self->polls = kj_metrics_counter(reg, "ingest_imap_polls_total",
                                     "rounds over every mailbox", NULL);
    if (s_each_url(opts->urls, s_add_mailbox, self) <= 0) {
        kj_error("imap: bad KUJO_IMAP_URL");
        goto fail;
    }
    const kj_service_cfg_t *cfg = kj_service_cfg(service);
    self->redis =
        kj_redis_new(cfg->redis_url, S_REDIS_TIMEOUT_MS, err, sizeof err);
    if (!self->redis) {
        kj_error("imap: redis", "s:error", err);
        goto fail;
    }
    self->store = kj_store_new(self->redis, &opts->store);
    self->push = kj_push_new_curve(zctx, (int)opts->hwm, S_PUSH_TIMEOUT_MS,
                                   kj_service_curve(service));
    if (!self->store || !self->push)
        goto fail;
    self->down = kj_downstream_new(self->redis, self->push, cfg->prefix,
                                   "classifier", "received");
    gethostname(host, sizeof host - 1);
    uint64_t seed = kj_seed();
    snprintf(owner, sizeof owner, "%s:%d:%016" PRIx64, host, (int)getpid(),
             seed);
    self->state =
        ingest_imap_state_new(self->redis, cfg->prefix, owner, opts->lease_ms);
    self->batch = ingest_batch_new((size_t)opts->batch, metrics);
    self->mail = kj_calloc(1, sizeof *self->mail);
    self->resp.cap = INGEST_EMAIL_RAW_MAX + S_RESP_SLACK;
    self->resp.data = kj_malloc(self->resp.cap + 1);
    self->resp.data[0] = '\0';
    for (size_t i = 0; i < self->n_mailboxes; i++)
        kj_info("imap mailbox", "s:mailbox", self->mailboxes[i].id,
                "b:credentials", self->mailboxes[i].user != NULL, "s:tenant",
                self->tenant, "s:owner", owner);
    return self;
fail:
    ingest_imap_destroy(&self);
    return NULL;
}

int
ingest_imap_start(ingest_imap_t *self)
{
    if (pthread_create(&self->thread, NULL, s_run, self) != 0) {
        kj_error("imap: thread not started");
        return -1;
    }
    self->started = true;
    return 0;
}

void
ingest_imap_destroy(ingest_imap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ingest_imap_t *self = *self_p;
    atomic_store(&self->stop, true);
    if (self->started)
        pthread_join(self->thread, NULL);
    for (size_t i = 0; i < self->n_mailboxes; i++) {
        s_mailbox_t *mb = &self->mailboxes[i];
        /* Handing the mailbox over now instead of after lease_ms: a
         * rolling restart does not pause the mail. */
        if (mb->held && self->state &&
            ingest_imap_lease_release(self->state, mb->id) == 0)
            kj_info("imap mailbox lease released", "s:mailbox", mb->id);
        if (mb->lease_held)
            kj_gauge_set(mb->lease_held, 0.0);
        if (mb->curl)
            curl_easy_cleanup(mb->curl);
        free(mb->user);
        if (mb->password) {
            memset(mb->password, 0, strlen(mb->password));
            free(mb->password);
        }
    }
    free(self->resp.data);
    free(self->mail);
    ingest_batch_destroy(&self->batch);
    ingest_imap_state_destroy(&self->state);
    kj_downstream_destroy(&self->down);
    kj_push_destroy(&self->push);
    kj_store_destroy(&self->store);
    kj_redis_destroy(&self->redis);
    free(self->tenant);
    free(self);
    curl_global_cleanup();
    *self_p = NULL;
}
