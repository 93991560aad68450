/* ingest_inbound: the adapter table, configuration, verify-then-parse and
 * the answer of a delivery. Adding an adapter (e-mail, say) is a parser
 * in its own file, a verifier below and one row in s_adapters. */
#include "ingest_inbound.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kj_assert.h"
#include "kj_utf8.h"
#include "kj_util.h"

#define S_LIST_MIN 4
#define S_CHALLENGE_MAX 256 /* bytes of a hub.challenge echoed back */

typedef struct {
    char name[INGEST_INBOUND_SOURCE_MAX + 1];
    char *secret;
} s_source_t;

/* Per adapter, what the metrics count. */
typedef struct {
    kj_counter_t *recorded;      /* complaints written (new records) */
    kj_counter_t *duplicates;    /* redeliveries answered with their id */
    kj_counter_t *ignored;       /* events acknowledged, not recorded */
    kj_counter_t *bad_signature; /* deliveries refused: 401 */
    kj_counter_t *invalid;       /* deliveries refused: 4xx of the body */
} s_counters_t;

struct ingest_inbound {
    char *line_secret; /* NULL: LINE is off */
    char *meta_secret; /* NULL: Meta is off */
    char *meta_token;  /* NULL: the GET handshake always answers 403 */
    s_source_t sources[INGEST_INBOUND_SOURCES_MAX]; /* social secrets */
    size_t n_sources;                               /* 0: social is off */
    char *tenant;
    int64_t tolerance_s;
    s_counters_t counters[8]; /* by adapter index */
    kj_complaint_t scratch;   /* validation target: not the batch's slot */
};

/* A verifier: 0 with source[] filled (the signer's name, "" if the
 * adapter has one signer), or -1 with *err (401 bad_signature). */
typedef int (*s_verify_fn)(const ingest_inbound_t *self,
                           ingest_inbound_get_fn header, void *ctx,
                           const char *body, size_t len, int64_t now_s,
                           char source[INGEST_INBOUND_SOURCE_MAX + 1],
                           ingest_error_t *err);

struct ingest_inbound_adapter {
    const char *name;              /* path segment and metric label */
    s_verify_fn verify;            /* runs before anything reads the body */
    ingest_inbound_parse_fn parse; /* pure: body -> complaints */
    bool (*enabled)(const ingest_inbound_t *self);
    /* A GET handshake (NULL: POST only). */
    unsigned (*get)(const ingest_inbound_t *self, ingest_inbound_get_fn query,
                    void *ctx, const char **answer, ingest_error_t *err);
    bool by_key;              /* an API key, not a signature, says who */
    const char *content_type; /* the body's, NULL: JSON (parser checks) */
};

static int
s_bad_signature(ingest_error_t *err, const char *what)
{
    ingest_error_set(err, KJ_ERR_BAD_SIGNATURE, "%s", what);
    return -1;
}

/* ---- LINE ---------------------------------------------------------- */

static bool
s_line_on(const ingest_inbound_t *self)
{
    return self->line_secret != NULL;
}

static int
s_line_verify(const ingest_inbound_t *self, ingest_inbound_get_fn header,
              void *ctx, const char *body, size_t len, int64_t now_s,
              char source[INGEST_INBOUND_SOURCE_MAX + 1], ingest_error_t *err)
{
    (void)now_s;
    source[0] = '\0';
    const char *sig = header(ctx, "x-line-signature");
    if (!sig)
        return s_bad_signature(err, "header x-line-signature is missing");
    if (!ingest_inbound_verify_line(self->line_secret, sig, body, len))
        return s_bad_signature(err, "header x-line-signature does not match "
                                    "the body and the channel secret");
    return 0;
}

/* ---- Meta ---------------------------------------------------------- */

static bool
s_meta_on(const ingest_inbound_t *self)
{
    return self->meta_secret != NULL;
}

static int
s_meta_verify(const ingest_inbound_t *self, ingest_inbound_get_fn header,
              void *ctx, const char *body, size_t len, int64_t now_s,
              char source[INGEST_INBOUND_SOURCE_MAX + 1], ingest_error_t *err)
{
    (void)now_s;
    source[0] = '\0';
    const char *sig = header(ctx, "X-Hub-Signature-256");
    if (!sig)
        return s_bad_signature(err, "header X-Hub-Signature-256 is missing");
    if (!ingest_inbound_verify_meta(self->meta_secret, sig, body, len))
        return s_bad_signature(err, "header X-Hub-Signature-256 does not "
                                    "match the body and the app secret");
    return 0;
}

/* Meta's subscription check: echo hub.challenge when hub.verify_token is
 * ours. Compared in constant time like a secret, since it is one. */
static unsigned
s_meta_get(const ingest_inbound_t *self, ingest_inbound_get_fn query, void *ctx,
           const char **answer, ingest_error_t *err)
{
    const char *mode = query(ctx, "hub.mode");
    const char *token = query(ctx, "hub.verify_token");
    const char *challenge = query(ctx, "hub.challenge");
    bool ok = self->meta_token && mode && token && challenge &&
              strcmp(mode, "subscribe") == 0;
    if (ok) {
        size_t a = strlen(token), b = strlen(self->meta_token);
        unsigned diff = a == b ? 0 : 1;
        for (size_t i = 0; i < a && i < b; i++)
            diff |=
                (unsigned char)token[i] ^ (unsigned char)self->meta_token[i];
        ok = diff == 0;
    }
    size_t clen = challenge ? strlen(challenge) : 0;
    for (size_t i = 0; ok && i < clen; i++)
        ok = challenge[i] > 0x20 && challenge[i] < 0x7f;
    if (!ok || clen == 0 || clen > S_CHALLENGE_MAX) {
        ingest_error_set(err, KJ_ERR_FORBIDDEN,
                         "hub.mode must be subscribe and hub.verify_token "
                         "must match KUJO_META_VERIFY_TOKEN (with a "
                         "printable hub.challenge of at most %d bytes)",
                         S_CHALLENGE_MAX);
        return 403;
    }
    *answer = challenge;
    return 200;
}

/* ---- social -------------------------------------------------------- */

static bool
s_social_on(const ingest_inbound_t *self)
{
    return self->n_sources > 0;
}

static int
s_social_verify(const ingest_inbound_t *self, ingest_inbound_get_fn header,
                void *ctx, const char *body, size_t len, int64_t now_s,
                char source[INGEST_INBOUND_SOURCE_MAX + 1], ingest_error_t *err)
{
    const char *name = header(ctx, "X-Kujo-Source");
    const char *ts = header(ctx, "X-Kujo-Timestamp");
    const char *sig = header(ctx, "X-Kujo-Signature");
    if (!name || !ts || !sig)
        return s_bad_signature(err, "headers X-Kujo-Source, X-Kujo-Timestamp "
                                    "and X-Kujo-Signature are required");
    const s_source_t *src = NULL;
    for (size_t i = 0; i < self->n_sources; i++)
        if (strcmp(self->sources[i].name, name) == 0)
            src = &self->sources[i];
    /* An unknown source is a bad signature too: no secret can sign it. */
    if (!src)
        return s_bad_signature(err, "X-Kujo-Source names no configured "
                                    "source (KUJO_SOCIAL_SECRETS)");
    if (!ingest_inbound_verify_social(src->secret, ts, sig, body, len, now_s,
                                      self->tolerance_s)) {
        ingest_error_set(err, KJ_ERR_BAD_SIGNATURE,
                         "X-Kujo-Signature does not match \"<X-Kujo-"
                         "Timestamp>.<body>\" under the source's secret, or "
                         "the timestamp is more than %" PRId64 " s from now",
                         self->tolerance_s);
        return -1;
    }
    kj_strlcpy(source, src->name, INGEST_INBOUND_SOURCE_MAX + 1);
    return 0;
}

/* ---- e-mail ------------------------------------------------------- */

/* Always on: a relay needs an API key with the inbound:email scope, which
 * ingest_api checked before the body was read. */
static bool
s_email_on(const ingest_inbound_t *self)
{
    (void)self;
    return true;
}

static int
s_by_key_verify(const ingest_inbound_t *self, ingest_inbound_get_fn header,
                void *ctx, const char *body, size_t len, int64_t now_s,
                char source[INGEST_INBOUND_SOURCE_MAX + 1], ingest_error_t *err)
{
    (void)self, (void)header, (void)ctx, (void)body, (void)len, (void)now_s;
    (void)err;
    source[0] = '\0';
    return 0;
}

/* The adapters. */
static const ingest_inbound_adapter_t s_adapters[] = {
    {"line", s_line_verify, ingest_inbound_parse_line, s_line_on, NULL, false,
     NULL},
    {"meta", s_meta_verify, ingest_inbound_parse_meta, s_meta_on, s_meta_get,
     false, NULL},
    {"social", s_social_verify, ingest_inbound_parse_social, s_social_on, NULL,
     false, NULL},
    {"email", s_by_key_verify, ingest_inbound_parse_email, s_email_on, NULL,
     true, "message/rfc822"},
};

#define S_N_ADAPTERS (sizeof s_adapters / sizeof s_adapters[0])

/* ---- the list ------------------------------------------------------ */

int
ingest_inbound_list_add(ingest_inbound_list_t *self, json_t **complaint,
                        const char *kind, const char *id, ingest_error_t *err)
{
    json_t *c = *complaint;
    *complaint = NULL;
    if (self->n >= INGEST_INBOUND_MAX_ITEMS) {
        json_decref(c);
        ingest_error_set(err, KJ_ERR_BODY_TOO_LARGE,
                         "a delivery holds at most %d complaints",
                         INGEST_INBOUND_MAX_ITEMS);
        return -1;
    }
    char key[INGEST_IDEM_KEY_MAX + 2];
    int n = snprintf(key, sizeof key, "%s:%s", kind, id);
    ingest_error_t why;
    if (n < 0 || (size_t)n >= sizeof key - 1 ||
        ingest_validate_idem_key(key, &why) < 0) {
        json_decref(c);
        ingest_error_set(err, KJ_ERR_INVALID_VALUE,
                         "event id of %s: expected 1..%d printable ASCII "
                         "characters",
                         kind, INGEST_IDEM_KEY_MAX - (int)strlen(kind) - 1);
        return -1;
    }
    if (self->n == self->cap) {
        self->cap = self->cap ? self->cap * 2 : S_LIST_MIN;
        self->items = kj_realloc(self->items, self->cap * sizeof *self->items);
    }
    ingest_inbound_item_t *it = &self->items[self->n++];
    memset(it, 0, sizeof *it);
    it->complaint = c;
    kj_strlcpy(it->key, key, sizeof it->key);
    return 0;
}

void
ingest_inbound_list_clear(ingest_inbound_list_t *self)
{
    for (size_t i = 0; i < self->n; i++)
        json_decref(self->items[i].complaint);
    self->n = 0;
    self->ignored = 0;
}

void
ingest_inbound_list_free(ingest_inbound_list_t *self)
{
    ingest_inbound_list_clear(self);
    free(self->items);
    self->items = NULL;
    self->cap = 0;
}

json_t *
ingest_inbound_load(const char *body, size_t len, ingest_error_t *err)
{
    if (!kj_utf8_valid(body, len)) {
        ingest_error_set(err, KJ_ERR_INVALID_UTF8,
                         "the body is not valid UTF-8");
        return NULL;
    }
    json_error_t jerr;
    json_t *root =
        json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        ingest_error_set(err, KJ_ERR_INVALID_JSON,
                         "invalid JSON at line %d, column %d: %s", jerr.line,
                         jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        ingest_error_set(err, KJ_ERR_WRONG_TYPE,
                         "the body: expected an object");
        return NULL;
    }
    return root;
}

int
ingest_inbound_field(const json_t *obj, const char *key, json_type want,
                     bool required, const char *where, json_t **out,
                     ingest_error_t *err)
{
    static const char *const names[] = {
        [JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array",
        [JSON_STRING] = "a string",  [JSON_INTEGER] = "an integer",
        [JSON_REAL] = "a number",    [JSON_TRUE] = "a boolean",
        [JSON_FALSE] = "a boolean",  [JSON_NULL] = "null",
    };
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (!required)
            return 0;
        ingest_error_set(err, KJ_ERR_MISSING_FIELD,
                         "field \"%s%s%s\" is required", where,
                         *where ? "." : "", key);
        return -1;
    }
    bool ok = want == JSON_TRUE ? json_is_boolean(v) : json_typeof(v) == want;
    if (!ok) {
        ingest_error_set(err, KJ_ERR_WRONG_TYPE,
                         "field \"%s%s%s\": expected %s", where,
                         *where ? "." : "", key, names[want]);
        return -1;
    }
    *out = v;
    return 0;
}

/* ---- configuration ------------------------------------------------- */

/* Parse spec into sources[] (secrets copied) when sources is not NULL.
 * Returns how many, or -1 with msg. */
static int
s_parse_secrets(const char *spec, s_source_t *sources, char *msg, size_t size)
{
    size_t n = 0;
    const char *p = spec;
    /* Every entry is checked, an empty one too ("x=s," is a typo). */
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t nlen = eq ? (size_t)(eq - p) : 0;
        size_t slen = eq ? len - nlen - 1 : 0;
        bool ok = eq && nlen >= 1 && nlen <= INGEST_INBOUND_SOURCE_MAX &&
                  slen >= 1 && slen <= INGEST_INBOUND_SECRET_MAX;
        for (size_t i = 0; ok && i < nlen; i++)
            ok = (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') ||
                 p[i] == '_' || p[i] == '-';
        if (!ok) {
            snprintf(msg, size,
                     "entry %zu: expected <source>=<secret>, source 1..%d of "
                     "[a-z0-9_-], secret 1..%d bytes without ','",
                     n + 1, INGEST_INBOUND_SOURCE_MAX,
                     INGEST_INBOUND_SECRET_MAX);
            return -1;
        }
        if (n >= INGEST_INBOUND_SOURCES_MAX) {
            snprintf(msg, size, "at most %d sources",
                     INGEST_INBOUND_SOURCES_MAX);
            return -1;
        }
        char name[INGEST_INBOUND_SOURCE_MAX + 1];
        memcpy(name, p, nlen);
        name[nlen] = '\0';
        for (size_t i = 0; sources && i < n; i++)
            if (strcmp(sources[i].name, name) == 0) {
                snprintf(msg, size, "source %s is named twice", name);
                return -1;
            }
        if (sources) {
            kj_strlcpy(sources[n].name, name, sizeof sources[n].name);
            sources[n].secret = kj_strndup(eq + 1, slen);
        }
        n++;
        if (!end)
            break;
        p = end + 1;
    }
    return (int)n;
}

int
ingest_inbound_check_secrets(const char *spec, char *msg, size_t size)
{
    s_source_t tmp[INGEST_INBOUND_SOURCES_MAX];
    memset(tmp, 0, sizeof tmp);
    int n = s_parse_secrets(spec, tmp, msg, size);
    for (size_t i = 0; i < INGEST_INBOUND_SOURCES_MAX; i++)
        free(tmp[i].secret);
    return n < 0 ? -1 : 0;
}

static char *
s_opt(const char *s)
{
    return s && *s ? kj_strdup(s) : NULL;
}

static void
s_counters(s_counters_t *c, kj_metrics_t *m, const char *name)
{
    static const char help[] =
        "inbound webhook events by adapter and outcome (recorded, "
        "duplicate, ignored: not a complaint; bad_signature, invalid: "
        "deliveries refused)";
    char labels[96];
#define S_COUNTER(field, outcome)                                              \
    snprintf(labels, sizeof labels, "adapter=\"%s\",outcome=\"" outcome "\"",  \
             name);                                                            \
    c->field = kj_metrics_counter(m, "inbound_events_total", help, labels)
    S_COUNTER(recorded, "recorded");
    S_COUNTER(duplicates, "duplicate");
    S_COUNTER(ignored, "ignored");
    S_COUNTER(bad_signature, "bad_signature");
    S_COUNTER(invalid, "invalid");
#undef S_COUNTER
}

ingest_inbound_t *
ingest_inbound_new(const ingest_inbound_opts_t *opts, kj_metrics_t *metrics,
                   char *msg, size_t size)
{
    ingest_inbound_t *self = kj_calloc(1, sizeof *self);
    if (opts->social_secrets && *opts->social_secrets) {
        int n = s_parse_secrets(opts->social_secrets, self->sources, msg, size);
        if (n < 0) {
            ingest_inbound_destroy(&self);
            return NULL;
        }
        self->n_sources = (size_t)n;
    }
    self->line_secret = s_opt(opts->line_secret);
    self->meta_secret = s_opt(opts->meta_secret);
    self->meta_token = s_opt(opts->meta_verify_token);
    self->tenant =
        kj_strdup(opts->tenant && *opts->tenant ? opts->tenant : "default");
    self->tolerance_s = opts->tolerance_s > 0 ? opts->tolerance_s : 300;
    kj_assert(S_N_ADAPTERS <= KJ_ARRAY_LEN(self->counters));
    for (size_t i = 0; metrics && i < S_N_ADAPTERS; i++)
        s_counters(&self->counters[i], metrics, s_adapters[i].name);
    return self;
}

void
ingest_inbound_destroy(ingest_inbound_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ingest_inbound_t *self = *self_p;
    free(self->line_secret);
    free(self->meta_secret);
    free(self->meta_token);
    for (size_t i = 0; i < INGEST_INBOUND_SOURCES_MAX; i++)
        free(self->sources[i].secret);
    free(self->tenant);
    free(self);
    *self_p = NULL;
}

/* ---- requests ------------------------------------------------------ */

const ingest_inbound_adapter_t *
ingest_inbound_match(const char *url)
{
    size_t plen = sizeof INGEST_INBOUND_PREFIX - 1;
    if (strncmp(url, INGEST_INBOUND_PREFIX, plen) != 0)
        return NULL;
    for (size_t i = 0; i < S_N_ADAPTERS; i++)
        if (strcmp(url + plen, s_adapters[i].name) == 0)
            return &s_adapters[i];
    return NULL;
}

const char *
ingest_inbound_name(const ingest_inbound_adapter_t *a)
{
    return a->name;
}

bool
ingest_inbound_enabled(const ingest_inbound_t *self,
                       const ingest_inbound_adapter_t *a)
{
    return self && a && a->enabled(self);
}

bool
ingest_inbound_has_get(const ingest_inbound_adapter_t *a)
{
    return a->get != NULL;
}

const char *
ingest_inbound_tenant(const ingest_inbound_t *self)
{
    return self->tenant;
}

/* Counters are NULL when built without metrics (unit tests). */
static void
s_add(kj_counter_t *c, uint64_t n)
{
    if (c)
        kj_counter_add(c, n);
}

static s_counters_t *
s_of(ingest_inbound_t *self, const ingest_inbound_adapter_t *a)
{
    return &self->counters[a - s_adapters];
}

bool
ingest_inbound_by_key(const ingest_inbound_adapter_t *a)
{
    return a->by_key;
}

const char *
ingest_inbound_content_type(const ingest_inbound_adapter_t *a)
{
    return a->content_type;
}

int
ingest_inbound_handle(ingest_inbound_t *self, const ingest_inbound_adapter_t *a,
                      ingest_inbound_get_fn header, void *ctx, const char *body,
                      size_t len, int64_t now_s, ingest_inbound_list_t *out,
                      ingest_error_t *err)
{
    return ingest_inbound_handle_as(self, a, self->tenant, header, ctx, body,
                                    len, now_s, out, err);
}

int
ingest_inbound_handle_as(ingest_inbound_t *self,
                         const ingest_inbound_adapter_t *a, const char *tenant,
                         ingest_inbound_get_fn header, void *ctx,
                         const char *body, size_t len, int64_t now_s,
                         ingest_inbound_list_t *out, ingest_error_t *err)
{
    s_counters_t *m = s_of(self, a);
    char source[INGEST_INBOUND_SOURCE_MAX + 1];
    ingest_inbound_list_clear(out);
    /* The signature first: an unsigned body is never parsed. */
    if (a->verify(self, header, ctx, body, len, now_s, source, err) < 0) {
        s_add(m->bad_signature, 1);
        return -1;
    }
    if (a->parse(body, len, source, out, err) < 0)
        goto invalid;
    /* Each complaint must pass what POST /v1/complaints checks, so that
     * the API can add it to the batch without a second outcome. */
    for (size_t i = 0; i < out->n; i++) {
        char *json = json_dumps(out->items[i].complaint, JSON_COMPACT);
        if (!json)
            abort(); /* out of memory: jansson holds valid UTF-8 only */
        int rc = ingest_validate_complaint_as(json, strlen(json), tenant,
                                              &self->scratch, err);
        free(json);
        if (rc < 0) {
            char why[INGEST_MSG_MAX];
            kj_strlcpy(why, err->message, sizeof why);
            ingest_error_set(err, err->rc, "complaint %zu of the delivery: %s",
                             i + 1, why);
            goto invalid;
        }
    }
    s_add(m->ignored, out->ignored);
    return 0;
invalid:
    s_add(m->invalid, 1);
    ingest_inbound_list_clear(out);
    return -1;
}

unsigned
ingest_inbound_get(const ingest_inbound_t *self,
                   const ingest_inbound_adapter_t *a,
                   ingest_inbound_get_fn query, void *ctx, const char **answer,
                   ingest_error_t *err)
{
    kj_assert(a->get);
    return a->get(self, query, ctx, answer, err);
}

char *
ingest_inbound_answer(const ingest_inbound_list_t *list)
{
    size_t created = 0, dups = 0;
    json_t *ids = json_array();
    for (size_t i = 0; i < list->n; i++) {
        const ingest_inbound_item_t *it = &list->items[i];
        created += it->result == 1;
        dups += it->result == 0;
        json_array_append_new(ids, json_string(it->id));
    }
    json_t *j = json_pack("{s:I,s:I,s:I,s:o}", "recorded", (json_int_t)created,
                          "duplicates", (json_int_t)dups, "ignored",
                          (json_int_t)list->ignored, "ids", ids);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s)
        abort(); /* out of memory */
    return s;
}

void
ingest_inbound_count_written(ingest_inbound_t *self,
                             const ingest_inbound_adapter_t *a, size_t created,
                             size_t duplicates)
{
    s_counters_t *m = s_of(self, a);
    s_add(m->recorded, created);
    s_add(m->duplicates, duplicates);
}
