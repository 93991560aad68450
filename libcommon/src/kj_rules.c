/* kj_rules: the operator's rules file, parsed once into plain arrays so
 * that the services' matching (classifier_keywords) and routing
 * (router_rules) on the hot path allocate nothing and never
 * touch jansson. Validation is strict and every error names the JSON path
 * (and, when it can be found, the line) so an operator can fix the file
 * without reading this code. */
#include "kj_rules.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kj_assert.h"
#include "kj_channels.h"
#include "kj_hours.h"
#include "kj_text.h"
#include "kj_util.h"

/* A rules file is written by hand; anything bigger is a mistake, and the
 * cap bounds every array and string parsed from it. */
#define S_FILE_MAX (1024 * 1024)
#define S_NAME_MAX 63      /* names travel in KJ_SHORT_MAX (64) fields */
#define S_LEVEL_MAX 15     /* urgency levels travel in 16-byte fields */
#define S_KEYWORD_MAX 255  /* bytes of one keyword before folding */
#define S_URL_MAX 511      /* webhooks travel in KJ_URL_MAX (512) fields */
#define S_PATH_DEPTH 6     /* routes[i].when.language[j] is the deepest */
#define S_ESCALATION_MAX 8 /* a chain longer than this is never read */
/* Cases' day counts stay below ten years: larger is a typo. */
#define S_DAYS_MAX 3650
/* NFKC can expand one code point to at most 18 (U+FDFA); case folding
 * stays within that on top, so this many output bytes per input byte is
 * always enough for a keyword. */
#define S_FOLD_GROWTH 18

/* Keywords, keyword sets and labels use the public view types of
 * kj_rules.h directly, so their accessors hand out the parsed arrays. */
typedef kj_rules_keyword_t s_keyword_t;
typedef kj_rules_kwset_t s_kwset_t;
typedef kj_rules_label_t s_label_t;

typedef struct {
    char *name;
    char *webhook; /* NULL: the notifier's KUJO_WEBHOOK_URL */
    /* The body the webhook expects: "webhook_format", else guessed from
     * the URL (kj_webhook_format_guess). */
    kj_webhook_format_t format;
    const kj_hours_t *hours; /* borrowed from the rules; NULL: 24/7 */
    char **escalation;       /* agent ids, team lead first */
    size_t n_escalation;
} s_team_t;

/* Which calendar an SLA policy's clocks count. */
typedef enum {
    S_SLA_HOURS_TEAM, /* the routed team's hours (24/7 if it has none) */
    S_SLA_HOURS_ALWAYS,
    S_SLA_HOURS_NAMED
} s_sla_hours_t;

typedef struct {
    char *name;
    int64_t first_response_ms;
    int64_t resolution_ms;
    int64_t ack_ms;           /* automatic acknowledgement clock */
    int64_t next_response_ms; /* clock for each reply after the first */
    s_sla_hours_t hours_mode;
    const kj_hours_t *hours; /* for S_SLA_HOURS_NAMED, borrowed */
} s_sla_t;

/* The "when" fields that test a value against a list, in input order. */
enum {
    S_T_LANGUAGE = KJ_ROUTE_LANGUAGE,
    S_T_CATEGORY = KJ_ROUTE_CATEGORY,
    S_T_CHANNEL = KJ_ROUTE_CHANNEL,
    S_T_TIER = KJ_ROUTE_TIER,
    S_T_URGENCY = KJ_ROUTE_URGENCY,
    S_T_SENTIMENT = KJ_ROUTE_SENTIMENT,
    S_T_COUNT = KJ_ROUTE_FIELDS
};

static const char *const s_test_names[S_T_COUNT] = {
    "language", "category", "channel", "tier", "urgency", "sentiment"};

typedef struct {
    bool present; /* the route tests this field */
    char **vals;  /* accepted values */
    size_t n;
} s_test_t;

typedef struct {
    char *name;
    s_test_t tests[S_T_COUNT];
    int public_test; /* -1: not tested, else the required is_public */
    size_t team;     /* index into teams */
    size_t sla;      /* index into slas */
    char priority[3];
} s_route_t;

struct kj_rules {
    kj_hours_t **hours; /* business_hours in file order, owned */
    size_t n_hours;
    kj_rules_cases_t cases; /* the "cases" section, defaults filled in */
    s_kwset_t *categories;  /* file order decides ties */
    size_t n_categories;
    s_kwset_t *urgency; /* file order decides which level wins */
    size_t n_urgency;
    s_label_t *labels;
    size_t n_labels;
    s_team_t *teams;
    size_t n_teams;
    s_sla_t *slas;
    size_t n_slas;
    s_route_t *routes; /* the last one has no tests */
    size_t n_routes;
    /* "connectors": channel -> the webhook URL that reaches customers on
     * it (the notifier's customer acknowledgements and surveys). */
    char **connector_channels;
    char **connector_urls;
    size_t n_connectors;
    kj_rules_template_t *templates; /* file order decides the first match */
    size_t n_templates;
    kj_rules_playbook_t playbook; /* the "playbook" section, defaults in */
};

static const char *const s_sentiments[] = {"negative", "neutral", "positive"};

/* ---- error reporting with JSON paths ------------------------------- */

typedef struct {
    const char *key; /* object member, or NULL for an array index */
    size_t index;
} s_comp_t;

typedef struct {
    const char *json; /* the raw document, to find the line of a path */
    size_t len;
    char *err;
    size_t err_size;
    s_comp_t path[S_PATH_DEPTH];
    int depth;
    int hide; /* trailing components located but left out of the path */
} s_ctx_t;

static void
s_push_key(s_ctx_t *c, const char *key)
{
    if (c->depth < S_PATH_DEPTH)
        c->path[c->depth] = (s_comp_t){.key = key};
    c->depth++;
}

static void
s_push_index(s_ctx_t *c, size_t i)
{
    if (c->depth < S_PATH_DEPTH)
        c->path[c->depth] = (s_comp_t){.index = i};
    c->depth++;
}

static void
s_pop(s_ctx_t *c)
{
    c->depth--;
}

static bool
s_is_ident(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        char ch = *s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

/* "routes[2].when.language", or model_labels["Late Flight"] for keys that
 * are not plain identifiers. */
static void
s_path_format(const s_ctx_t *c, char *buf, size_t size)
{
    size_t off = 0;
    buf[0] = '\0';
    int depth = c->depth < S_PATH_DEPTH ? c->depth : S_PATH_DEPTH;
    depth -= c->hide;
    for (int i = 0; i < depth && off < size; i++) {
        const s_comp_t *p = &c->path[i];
        int n;
        if (!p->key)
            n = snprintf(buf + off, size - off, "[%zu]", p->index);
        else if (!s_is_ident(p->key))
            n = snprintf(buf + off, size - off, "[\"%s\"]", p->key);
        else
            n = snprintf(buf + off, size - off, "%s%s", i ? "." : "", p->key);
        if (n < 0)
            break;
        off += (size_t)n;
    }
}

/* A tiny scanner over the already-valid document, used only to turn a
 * path into a line number for the error message. */
static size_t
s_skip_ws(const char *s, size_t len, size_t i)
{
    while (i < len &&
           (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* i is at the opening quote; returns the index after the closing one. */
static size_t
s_skip_string(const char *s, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return len;
}

/* Skip one value of any kind, without recursion (the parser already
 * accepted the document, so only strings and brackets need care). */
static size_t
s_skip_value(const char *s, size_t len, size_t i)
{
    if (i >= len)
        return len;
    if (s[i] == '"')
        return s_skip_string(s, len, i);
    if (s[i] == '{' || s[i] == '[') {
        size_t depth = 0;
        while (i < len) {
            char ch = s[i];
            if (ch == '"') {
                i = s_skip_string(s, len, i);
                continue;
            }
            if (ch == '{' || ch == '[') {
                depth++;
            } else if (ch == '}' || ch == ']') {
                if (--depth == 0)
                    return i + 1;
            }
            i++;
        }
        return len;
    }
    while (i < len && s[i] != ',' && s[i] != '}' && s[i] != ']' &&
           s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
        i++;
    return i;
}

/* True if the JSON string at s[i] (opening quote) spells key. Escapes
 * are compared literally only when key needs none, which is every key
 * this module looks up by path except unusual model labels; for those
 * the line is simply left out. */
static bool
s_key_equals(const char *s, size_t len, size_t i, const char *key)
{
    size_t klen = strlen(key);
    if (i + klen + 2 > len || memcmp(s + i + 1, key, klen) != 0)
        return false;
    return s[i + 1 + klen] == '"';
}

/* Offset of the value at the context's path, or -1 if not found. */
static long
s_locate(const s_ctx_t *c)
{
    const char *s = c->json;
    size_t len = c->len;
    size_t i = s_skip_ws(s, len, 0);
    int depth = c->depth < S_PATH_DEPTH ? c->depth : S_PATH_DEPTH;
    for (int d = 0; d < depth; d++) {
        const s_comp_t *p = &c->path[d];
        if (i >= len)
            return -1;
        if (p->key) {
            if (s[i] != '{')
                return -1;
            i = s_skip_ws(s, len, i + 1);
            bool found = false;
            while (i < len && s[i] == '"') {
                bool match = s_key_equals(s, len, i, p->key);
                i = s_skip_string(s, len, i);
                i = s_skip_ws(s, len, i);
                if (i >= len || s[i] != ':')
                    return -1;
                i = s_skip_ws(s, len, i + 1);
                if (match) {
                    found = true;
                    break;
                }
                i = s_skip_ws(s, len, s_skip_value(s, len, i));
                if (i < len && s[i] == ',')
                    i = s_skip_ws(s, len, i + 1);
            }
            if (!found)
                return -1;
        } else {
            if (s[i] != '[')
                return -1;
            i = s_skip_ws(s, len, i + 1);
            for (size_t k = 0; k < p->index; k++) {
                i = s_skip_ws(s, len, s_skip_value(s, len, i));
                if (i >= len || s[i] != ',')
                    return -1;
                i = s_skip_ws(s, len, i + 1);
            }
        }
    }
    return i < len ? (long)i : -1;
}

static int
s_line_of(const char *s, size_t off)
{
    int line = 1;
    for (size_t i = 0; i < off; i++)
        if (s[i] == '\n')
            line++;
    return line;
}

/* Write "line L: <path>: <msg>" (at = false) or "line L: <msg> at <path>"
 * (at = true) into the context's error buffer. Returns -1 for the caller
 * to pass up. */
__attribute__((format(printf, 3, 0))) static int
s_vfail(s_ctx_t *c, bool at, const char *fmt, va_list ap)
{
    char msg[512], path[256], line[32] = "";
    vsnprintf(msg, sizeof msg, fmt, ap);
    s_path_format(c, path, sizeof path);
    long off = c->json ? s_locate(c) : -1;
    if (off >= 0)
        snprintf(line, sizeof line,
                 "line %d: ", s_line_of(c->json, (size_t)off));
    if (!path[0])
        snprintf(c->err, c->err_size, "%s%s", line, msg);
    else if (at)
        snprintf(c->err, c->err_size, "%s%s at %s", line, msg, path);
    else
        snprintf(c->err, c->err_size, "%s%s: %s", line, path, msg);
    return -1;
}

__attribute__((format(printf, 2, 3))) static int
s_fail(s_ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vfail(c, false, fmt, ap);
    va_end(ap);
    return -1;
}

__attribute__((format(printf, 2, 3))) static int
s_fail_at(s_ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vfail(c, true, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- validation helpers ------------------------------------------- */

/* Every key of obj must be in allowed (NULL-terminated). */
static int
s_check_keys(s_ctx_t *c, json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(key, *a) == 0)
                ok = true;
        if (!ok) {
            /* The line is the key's own; the path names its parent. */
            s_push_key(c, key);
            c->hide = 1;
            return s_fail_at(c, "unknown key \"%s\"", key);
        }
    }
    return 0;
}

/* The member key of obj, which must exist. */
static json_t *
s_require(s_ctx_t *c, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        s_fail_at(c, "missing key \"%s\"", key);
    return v;
}

/* A non-empty name of at most max bytes, copied into *out. The path must
 * already point at the value. */
static int
s_name(s_ctx_t *c, json_t *v, size_t max, char **out)
{
    if (!json_is_string(v))
        return s_fail(c, "expected a string");
    size_t n = json_string_length(v);
    if (n == 0)
        return s_fail(c, "must not be empty");
    if (n > max)
        return s_fail(c, "longer than %zu bytes", max);
    const char *s = json_string_value(v);
    if (strlen(s) != n)
        return s_fail(c, "must not contain NUL");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20)
            return s_fail(c, "must not contain control characters");
    *out = kj_strdup(s);
    return 0;
}

static bool
s_in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

static bool
s_is_alnum(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9');
}

/* ---- sections ------------------------------------------------------ */

static void
s_kwset_free(s_kwset_t *k)
{
    free(k->name);
    for (size_t i = 0; i < k->n_kws; i++)
        free(k->kws[i].text);
    free(k->kws);
}

static int
s_keyword(s_ctx_t *c, json_t *v, s_keyword_t *kw)
{
    if (!json_is_string(v))
        return s_fail(c, "expected a string");
    size_t n = json_string_length(v);
    if (n == 0)
        return s_fail(c, "must not be empty");
    if (n > S_KEYWORD_MAX)
        return s_fail(c, "longer than %d bytes", S_KEYWORD_MAX);
    const char *s = json_string_value(v);
    if (strlen(s) != n)
        return s_fail(c, "must not contain NUL");
    size_t size = n * S_FOLD_GROWTH + 8;
    char *folded = kj_malloc(size);
    long flen = kj_text_fold(s, n, folded, size);
    if (flen <= 0) {
        free(folded);
        return s_fail(c, "is empty once folded (NFKC + case folding)");
    }
    kw->text = folded;
    kw->len = (size_t)flen;
    kw->edge_start = s_is_alnum((unsigned char)folded[0]);
    kw->edge_end = s_is_alnum((unsigned char)folded[flen - 1]);
    return 0;
}

/* Parse [{"<namekey>": "...", "keywords": [...]}, ...] into sets. */
static int
s_kwsets(s_ctx_t *c, json_t *arr, const char *namekey, size_t name_max,
         s_kwset_t **out, size_t *n_out)
{
    static const char *const cat_keys[] = {"name", "keywords", NULL};
    static const char *const lvl_keys[] = {"level", "keywords", NULL};
    const char *const *keys =
        strcmp(namekey, "name") == 0 ? cat_keys : lvl_keys;
    if (!json_is_array(arr))
        return s_fail(c, "expected an array");
    size_t n = json_array_size(arr);
    *out = kj_calloc(n ? n : 1, sizeof **out);
    *n_out = 0;
    for (size_t i = 0; i < n; i++) {
        s_push_index(c, i);
        json_t *o = json_array_get(arr, i);
        s_kwset_t *k = &(*out)[i];
        *n_out = i + 1;
        if (!json_is_object(o))
            return s_fail(c, "expected an object");
        if (s_check_keys(c, o, keys) < 0)
            return -1;
        json_t *name = s_require(c, o, namekey);
        json_t *kws = name ? s_require(c, o, "keywords") : NULL;
        if (!kws)
            return -1;
        s_push_key(c, namekey);
        if (s_name(c, name, name_max, &k->name) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp((*out)[j].name, k->name) == 0)
                return s_fail(c, "duplicate \"%s\"", k->name);
        s_pop(c);
        s_push_key(c, "keywords");
        if (!json_is_array(kws))
            return s_fail(c, "expected an array of strings");
        size_t m = json_array_size(kws);
        if (m == 0)
            return s_fail(c, "must not be empty");
        k->kws = kj_calloc(m, sizeof *k->kws);
        for (size_t j = 0; j < m; j++) {
            s_push_index(c, j);
            if (s_keyword(c, json_array_get(kws, j), &k->kws[j]) < 0)
                return -1;
            k->n_kws = j + 1;
            s_pop(c);
        }
        s_pop(c);
        s_pop(c);
    }
    return 0;
}

static const s_kwset_t *
s_kwset_find(const s_kwset_t *sets, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(sets[i].name, name) == 0)
            return &sets[i];
    return NULL;
}

static int
s_labels(s_ctx_t *c, kj_rules_t *r, json_t *obj)
{
    if (!json_is_object(obj))
        return s_fail(c, "expected an object of label: category");
    r->labels = kj_calloc(json_object_size(obj) + 1, sizeof *r->labels);
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        s_push_key(c, key);
        if (!key[0] || strlen(key) > S_NAME_MAX)
            return s_fail(c, "a label must be 1..%d bytes", S_NAME_MAX);
        if (!json_is_string(v))
            return s_fail(c, "expected a category name");
        const char *cat = json_string_value(v);
        if (strcmp(cat, "other") != 0 &&
            !s_kwset_find(r->categories, r->n_categories, cat))
            return s_fail(c, "unknown category \"%s\"", cat);
        s_label_t *l = &r->labels[r->n_labels++];
        l->label = kj_strdup(key);
        l->category = kj_strdup(cat);
        s_pop(c);
    }
    return 0;
}

/* Report kj_hours' message ("week.mon[1]: bad time ..." or, for the
 * object itself, "unknown key ...") under the current path, with the
 * line of the field it names. */
static int
s_hours_fail(s_ctx_t *c, const char *msg)
{
    const char *colon = strstr(msg, ": ");
    size_t plen = colon ? (size_t)(colon - msg) : 0;
    bool is_path = plen > 0 && plen < 128;
    for (size_t i = 0; is_path && i < plen; i++) {
        char ch = msg[i];
        is_path = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                  ch == '_' || ch == '.' || ch == '[' || ch == ']';
    }
    if (!is_path) {
        if (strncmp(msg, "unknown key", 11) == 0 ||
            strncmp(msg, "missing key", 11) == 0)
            return s_fail_at(c, "%s", msg);
        return s_fail(c, "%s", msg);
    }
    /* Push "week.mon[1]" as components; the keys live in names until
     * the message is written. */
    char names[S_PATH_DEPTH][32];
    int nk = 0;
    const char *p = msg, *end = msg + plen;
    while (p < end && nk < S_PATH_DEPTH) {
        if (*p == '[') {
            char *after;
            s_push_index(c, (size_t)strtoul(p + 1, &after, 10));
            p = *after == ']' ? after + 1 : after;
            continue;
        }
        if (*p == '.')
            p++;
        size_t n = 0;
        for (; p < end && *p != '.' && *p != '['; p++)
            if (n + 1 < sizeof names[nk])
                names[nk][n++] = *p;
        names[nk][n] = '\0';
        s_push_key(c, names[nk]);
        nk++;
    }
    return s_fail(c, "%s", colon + 2);
}

static const kj_hours_t *
s_find_hours(const kj_rules_t *r, const char *name)
{
    for (size_t i = 0; i < r->n_hours; i++)
        if (strcmp(kj_hours_name(r->hours[i]), name) == 0)
            return r->hours[i];
    return NULL;
}

static int
s_business_hours(s_ctx_t *c, kj_rules_t *r, json_t *arr)
{
    if (!json_is_array(arr))
        return s_fail(c, "expected an array");
    size_t n = json_array_size(arr);
    r->hours = kj_calloc(n ? n : 1, sizeof *r->hours);
    for (size_t i = 0; i < n; i++) {
        s_push_index(c, i);
        char msg[256];
        kj_hours_t *h =
            kj_hours_from_json(json_array_get(arr, i), msg, sizeof msg);
        if (!h)
            return s_hours_fail(c, msg);
        r->hours[r->n_hours++] = h;
        s_push_key(c, "name");
        const char *name = kj_hours_name(h);
        /* An SLA policy's "hours" names a calendar or one of these. */
        if (strcmp(name, "team") == 0 || strcmp(name, "24/7") == 0)
            return s_fail(c,
                          "\"%s\" is reserved (an SLA policy's "
                          "\"hours\" uses it)",
                          name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(kj_hours_name(r->hours[j]), name) == 0)
                return s_fail(c, "duplicate \"%s\"", name);
        s_pop(c);
        s_pop(c);
    }
    return 0;
}

/* A team's "escalation": agent ids to escalate to, in order. */
static int
s_escalation(s_ctx_t *c, json_t *arr, s_team_t *t)
{
    if (!json_is_array(arr))
        return s_fail(c, "expected an array of agent ids");
    size_t n = json_array_size(arr);
    if (n == 0)
        return s_fail(c, "must not be empty (leave it out instead)");
    if (n > S_ESCALATION_MAX)
        return s_fail(c, "more than %d agents", S_ESCALATION_MAX);
    t->escalation = kj_calloc(n, sizeof *t->escalation);
    for (size_t i = 0; i < n; i++) {
        s_push_index(c, i);
        if (s_name(c, json_array_get(arr, i), S_NAME_MAX, &t->escalation[i]) <
            0)
            return -1;
        t->n_escalation = i + 1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(t->escalation[j], t->escalation[i]) == 0)
                return s_fail(c, "duplicate \"%s\"", t->escalation[i]);
        s_pop(c);
    }
    return 0;
}

/* A webhook URL (teams' and connectors'): a string of up to S_URL_MAX
 * bytes, http:// or https://, without spaces, into *out. */
static int
s_webhook(s_ctx_t *c, json_t *v, char **out)
{
    if (s_name(c, v, S_URL_MAX, out) < 0)
        return -1;
    if (strncmp(*out, "http://", 7) != 0 && strncmp(*out, "https://", 8) != 0)
        return s_fail(c, "must start with http:// or https://");
    if (strchr(*out, ' '))
        return s_fail(c, "must not contain spaces");
    return 0;
}

/* A team's "webhook_format" (optional): "kujo" or "slack", only with a
 * "webhook" of its own, and the same for every team that shares that
 * webhook (the format belongs to the endpoint). */
static int
s_webhook_format(s_ctx_t *c, kj_rules_t *r, json_t *o, s_team_t *t)
{
    json_t *v = json_object_get(o, "webhook_format");
    if (!v)
        return 0;
    s_push_key(c, "webhook_format");
    if (!json_is_string(v))
        return s_fail(c, "expected \"kujo\" or \"slack\"");
    const char *name = json_string_value(v);
    if (strcmp(name, "kujo") == 0)
        t->format = KJ_WEBHOOK_KUJO;
    else if (strcmp(name, "slack") == 0)
        t->format = KJ_WEBHOOK_SLACK;
    else
        return s_fail(c,
                      "unknown format \"%.32s\" (expected \"kujo\" or "
                      "\"slack\")",
                      name);
    if (!t->webhook)
        return s_fail(c, "needs a \"webhook\" in the same team (the format "
                         "of KUJO_WEBHOOK_URL follows its URL)");
    for (s_team_t *u = r->teams; u < t; u++)
        if (u->webhook && strcmp(u->webhook, t->webhook) == 0 &&
            u->format != t->format)
            return s_fail(c,
                          "\"%s\" but team \"%s\" sends the same webhook "
                          "\"%s\"",
                          name, u->name, kj_webhook_format_name(u->format));
    s_pop(c);
    return 0;
}

static int
s_teams(s_ctx_t *c, kj_rules_t *r, json_t *arr)
{
    static const char *const keys[] = {"name",  "webhook",    "webhook_format",
                                       "hours", "escalation", NULL};
    if (!json_is_array(arr))
        return s_fail(c, "expected an array");
    size_t n = json_array_size(arr);
    if (n == 0)
        return s_fail(c, "must not be empty");
    r->teams = kj_calloc(n, sizeof *r->teams);
    for (size_t i = 0; i < n; i++) {
        s_push_index(c, i);
        json_t *o = json_array_get(arr, i);
        s_team_t *t = &r->teams[i];
        r->n_teams = i + 1;
        if (!json_is_object(o))
            return s_fail(c, "expected an object");
        if (s_check_keys(c, o, keys) < 0)
            return -1;
        json_t *name = s_require(c, o, "name");
        if (!name)
            return -1;
        s_push_key(c, "name");
        if (s_name(c, name, S_NAME_MAX, &t->name) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->teams[j].name, t->name) == 0)
                return s_fail(c, "duplicate \"%s\"", t->name);
        s_pop(c);
        json_t *hook = json_object_get(o, "webhook");
        if (hook) {
            s_push_key(c, "webhook");
            if (s_webhook(c, hook, &t->webhook) < 0)
                return -1;
            t->format = kj_webhook_format_guess(t->webhook);
            s_pop(c);
        }
        if (s_webhook_format(c, r, o, t) < 0)
            return -1;
        json_t *hours = json_object_get(o, "hours");
        if (hours) {
            s_push_key(c, "hours");
            if (!json_is_string(hours))
                return s_fail(c, "expected a business_hours name");
            t->hours = s_find_hours(r, json_string_value(hours));
            if (!t->hours)
                return s_fail(c, "unknown business_hours \"%s\"",
                              json_string_value(hours));
            s_pop(c);
        }
        json_t *esc = json_object_get(o, "escalation");
        if (esc) {
            s_push_key(c, "escalation");
            if (s_escalation(c, esc, t) < 0)
                return -1;
            s_pop(c);
        }
        s_pop(c);
    }
    return 0;
}

/* A positive integer of at most max into *out. */
static int
s_positive(s_ctx_t *c, json_t *o, const char *key, int64_t max, int64_t *out)
{
    json_t *v = s_require(c, o, key);
    if (!v)
        return -1;
    s_push_key(c, key);
    if (!json_is_integer(v) || json_integer_value(v) <= 0)
        return s_fail(c, "expected a positive integer");
    if (json_integer_value(v) > max)
        return s_fail(c, "at most %lld", (long long)max);
    *out = (int64_t)json_integer_value(v);
    s_pop(c);
    return 0;
}

/* Like s_positive for an optional key: *out keeps its default if absent. */
static int
s_positive_opt(s_ctx_t *c, json_t *o, const char *key, int64_t max,
               int64_t *out)
{
    if (!json_object_get(o, key))
        return 0;
    return s_positive(c, o, key, max, out);
}

/* An SLA policy's "hours": "team", "24/7" or a business_hours name. */
static int
s_sla_hours(s_ctx_t *c, const kj_rules_t *r, json_t *v, s_sla_t *s)
{
    if (!json_is_string(v))
        return s_fail(c, "expected \"team\", \"24/7\" or a business_hours "
                         "name");
    const char *name = json_string_value(v);
    if (strcmp(name, "team") == 0) {
        s->hours_mode = S_SLA_HOURS_TEAM;
    } else if (strcmp(name, "24/7") == 0) {
        s->hours_mode = S_SLA_HOURS_ALWAYS;
    } else {
        s->hours_mode = S_SLA_HOURS_NAMED;
        s->hours = s_find_hours(r, name);
        if (!s->hours)
            return s_fail(c,
                          "unknown business_hours \"%s\" (or \"team\", "
                          "\"24/7\")",
                          name);
    }
    return 0;
}

static int
s_slas(s_ctx_t *c, kj_rules_t *r, json_t *arr)
{
    static const char *const keys[] = {
        "name",        "first_response_minutes", "resolution_hours",
        "ack_minutes", "next_response_minutes",  "hours",
        NULL};
    if (!json_is_array(arr))
        return s_fail(c, "expected an array");
    size_t n = json_array_size(arr);
    if (n == 0)
        return s_fail(c, "must not be empty");
    r->slas = kj_calloc(n, sizeof *r->slas);
    for (size_t i = 0; i < n; i++) {
        s_push_index(c, i);
        json_t *o = json_array_get(arr, i);
        s_sla_t *s = &r->slas[i];
        r->n_slas = i + 1;
        if (!json_is_object(o))
            return s_fail(c, "expected an object");
        if (s_check_keys(c, o, keys) < 0)
            return -1;
        json_t *name = s_require(c, o, "name");
        if (!name)
            return -1;
        s_push_key(c, "name");
        if (s_name(c, name, S_NAME_MAX, &s->name) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->slas[j].name, s->name) == 0)
                return s_fail(c, "duplicate \"%s\"", s->name);
        s_pop(c);
        /* A year bounds both: larger is a typo, and keeps ms in range. */
        int64_t minutes, hours;
        if (s_positive(c, o, "first_response_minutes", 366 * 24 * 60,
                       &minutes) < 0 ||
            s_positive(c, o, "resolution_hours", 366 * 24, &hours) < 0)
            return -1;
        s->first_response_ms = minutes * 60 * 1000;
        s->resolution_ms = hours * 3600 * 1000;
        int64_t ack = 5, next = minutes;
        if (s_positive_opt(c, o, "ack_minutes", 366 * 24 * 60, &ack) < 0 ||
            s_positive_opt(c, o, "next_response_minutes", 366 * 24 * 60,
                           &next) < 0)
            return -1;
        s->ack_ms = ack * 60 * 1000;
        s->next_response_ms = next * 60 * 1000;
        json_t *hv = json_object_get(o, "hours");
        if (hv) {
            s_push_key(c, "hours");
            if (s_sla_hours(c, r, hv, s) < 0)
                return -1;
            s_pop(c);
        }
        s_pop(c);
    }
    return 0;
}

/* Validate one "when" list value against what the file and the contract
 * know, so a typo is an error instead of a route that never matches. */
static int
s_check_when_value(s_ctx_t *c, const kj_rules_t *r, int t, const char *v)
{
    switch (t) {
    case S_T_CATEGORY:
        if (strcmp(v, "other") != 0 &&
            !s_kwset_find(r->categories, r->n_categories, v))
            return s_fail(c, "unknown category \"%s\"", v);
        break;
    case S_T_URGENCY:
        if (strcmp(v, "normal") != 0 &&
            !s_kwset_find(r->urgency, r->n_urgency, v))
            return s_fail(c, "unknown urgency \"%s\"", v);
        break;
    case S_T_CHANNEL:
        /* A route testing a channel ingest refuses is a typo that would
         * silently never match. */
        if (!kj_channel_valid(v, strlen(v)))
            return s_fail(c, "unknown channel \"%s\"", v);
        break;
    case S_T_SENTIMENT:
        if (!s_in_list(v, s_sentiments, KJ_ARRAY_LEN(s_sentiments)))
            return s_fail(c,
                          "unknown sentiment \"%s\" (negative, "
                          "neutral or positive)",
                          v);
        break;
    default:
        break;
    }
    return 0;
}

static int
s_when(s_ctx_t *c, const kj_rules_t *r, json_t *when, s_route_t *rt)
{
    static const char *const keys[] = {"language", "category", "channel",
                                       "tier",     "urgency",  "sentiment",
                                       "public",   NULL};
    if (!json_is_object(when))
        return s_fail(c, "expected an object");
    if (s_check_keys(c, when, keys) < 0)
        return -1;
    if (json_object_size(when) == 0)
        return s_fail(c, "must test something (only the last route, "
                         "without \"when\", catches all)");
    for (int t = 0; t < S_T_COUNT; t++) {
        json_t *arr = json_object_get(when, s_test_names[t]);
        if (!arr)
            continue;
        s_push_key(c, s_test_names[t]);
        if (!json_is_array(arr))
            return s_fail(c, "expected an array of strings");
        size_t n = json_array_size(arr);
        if (n == 0)
            return s_fail(c, "must not be empty");
        s_test_t *test = &rt->tests[t];
        test->present = true;
        test->vals = kj_calloc(n, sizeof *test->vals);
        for (size_t i = 0; i < n; i++) {
            json_t *v = json_array_get(arr, i);
            if (!json_is_string(v))
                return s_fail(c, "expected an array of strings");
            s_push_index(c, i);
            if (s_name(c, v, S_NAME_MAX, &test->vals[i]) < 0)
                return -1;
            test->n = i + 1;
            if (s_check_when_value(c, r, t, test->vals[i]) < 0)
                return -1;
            s_pop(c);
        }
        s_pop(c);
    }
    json_t *pub = json_object_get(when, "public");
    rt->public_test = -1;
    if (pub) {
        s_push_key(c, "public");
        if (!json_is_boolean(pub))
            return s_fail(c, "expected true or false");
        rt->public_test = json_is_true(pub) ? 1 : 0;
        s_pop(c);
    }
    return 0;
}

static int
s_routes(s_ctx_t *c, kj_rules_t *r, json_t *arr)
{
    static const char *const keys[] = {"name",     "when", "team",
                                       "priority", "sla",  NULL};
    if (!json_is_array(arr))
        return s_fail(c, "expected an array");
    size_t n = json_array_size(arr);
    if (n == 0)
        return s_fail(c, "must not be empty (the last route catches all)");
    r->routes = kj_calloc(n, sizeof *r->routes);
    for (size_t i = 0; i < n; i++) {
        s_push_index(c, i);
        json_t *o = json_array_get(arr, i);
        s_route_t *rt = &r->routes[i];
        rt->public_test = -1;
        r->n_routes = i + 1;
        if (!json_is_object(o))
            return s_fail(c, "expected an object");
        if (s_check_keys(c, o, keys) < 0)
            return -1;
        json_t *name = s_require(c, o, "name");
        json_t *team = name ? s_require(c, o, "team") : NULL;
        json_t *prio = team ? s_require(c, o, "priority") : NULL;
        json_t *sla = prio ? s_require(c, o, "sla") : NULL;
        if (!sla)
            return -1;
        s_push_key(c, "name");
        if (s_name(c, name, S_NAME_MAX, &rt->name) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->routes[j].name, rt->name) == 0)
                return s_fail(c, "duplicate \"%s\"", rt->name);
        s_pop(c);

        s_push_key(c, "team");
        if (!json_is_string(team))
            return s_fail(c, "expected a team name");
        bool found = false;
        for (size_t j = 0; j < r->n_teams && !found; j++)
            if (strcmp(r->teams[j].name, json_string_value(team)) == 0) {
                rt->team = j;
                found = true;
            }
        if (!found)
            return s_fail(c, "unknown team \"%s\"", json_string_value(team));
        s_pop(c);

        s_push_key(c, "priority");
        const char *p = json_is_string(prio) ? json_string_value(prio) : "";
        if (strlen(p) != 2 || p[0] != 'p' || p[1] < '1' || p[1] > '4')
            return s_fail(c, "expected \"p1\", \"p2\", \"p3\" or \"p4\"");
        memcpy(rt->priority, p, 3);
        s_pop(c);

        s_push_key(c, "sla");
        if (!json_is_string(sla))
            return s_fail(c, "expected an SLA policy name");
        found = false;
        for (size_t j = 0; j < r->n_slas && !found; j++)
            if (strcmp(r->slas[j].name, json_string_value(sla)) == 0) {
                rt->sla = j;
                found = true;
            }
        if (!found)
            return s_fail(c, "unknown SLA policy \"%s\"",
                          json_string_value(sla));
        s_pop(c);

        json_t *when = json_object_get(o, "when");
        if (when) {
            s_push_key(c, "when");
            if (s_when(c, r, when, rt) < 0)
                return -1;
            s_pop(c);
        }
        bool last = i + 1 == n;
        if (last && when) {
            s_pop(c);
            return s_fail(c, "the last route must have no \"when\" (it is "
                             "the catch-all)");
        }
        if (!last && !when)
            return s_fail(c, "only the last route may omit \"when\" (the "
                             "routes after it could never match)");
        s_pop(c);
    }
    return 0;
}

/* A non-negative integer of days (at most S_DAYS_MAX) as ms. */
static int
s_days(s_ctx_t *c, json_t *o, const char *key, int64_t *out_ms)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    s_push_key(c, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return s_fail(c, "expected a non-negative integer of days");
    if (json_integer_value(v) > S_DAYS_MAX)
        return s_fail(c, "at most %d", S_DAYS_MAX);
    *out_ms = (int64_t)json_integer_value(v) * 86400 * 1000;
    s_pop(c);
    return 0;
}

static int
s_cases(s_ctx_t *c, kj_rules_t *r, json_t *o)
{
    static const char *const keys[] = {"reopen_days",
                                       "close_days",
                                       "offline_requeue",
                                       "survey_cooldown_days",
                                       "trajectory",
                                       "tone_drop",
                                       NULL};
    kj_rules_cases_t *k = &r->cases;
    if (!json_is_object(o))
        return s_fail(c, "expected an object");
    if (s_check_keys(c, o, keys) < 0)
        return -1;
    if (s_days(c, o, "reopen_days", &k->reopen_ms) < 0 ||
        s_days(c, o, "close_days", &k->close_ms) < 0 ||
        s_days(c, o, "survey_cooldown_days", &k->survey_cooldown_ms) < 0)
        return -1;
    json_t *v = json_object_get(o, "offline_requeue");
    if (v) {
        s_push_key(c, "offline_requeue");
        if (!json_is_boolean(v))
            return s_fail(c, "expected true or false");
        k->offline_requeue = json_is_true(v);
        s_pop(c);
    }
    v = json_object_get(o, "trajectory");
    if (v) {
        s_push_key(c, "trajectory");
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > 100)
            return s_fail(c, "expected an integer from 1 to 100");
        k->trajectory = (int)json_integer_value(v);
        s_pop(c);
    }
    v = json_object_get(o, "tone_drop");
    if (v) {
        s_push_key(c, "tone_drop");
        double d = json_number_value(v);
        /* !(d > 0) also refuses NaN, which jansson never gives anyway. */
        if (!json_is_number(v) || !(d > 0) || d > 2)
            return s_fail(c, "expected a number in (0, 2]");
        k->tone_drop = d;
        s_pop(c);
    }
    return 0;
}

/* ---- templates and playbook (issue 11) ------------------------------ */

#define S_TEXT_MAX 2000 /* bytes of one template text */
#define S_ALT_MAX 500   /* bytes of one alternative */
#define S_LANG_MAX 15   /* languages travel in 16-byte fields */
#define S_VAGUE_MAX 1000

static const char *const s_kinds[] = {"customer_ack",   "suggested_reply",
                                      "survey_request", "follow_up",
                                      "sla_warning",    "escalation"};

static const char *const s_variables[] = {
    "customer_name", "case_number",   "agent_name",   "team",
    "survey_url",    "alternative_1", "alternative_2"};

static const char *const s_tpl_test_names[KJ_TEMPLATE_FIELDS] = {
    [KJ_TEMPLATE_CHANNEL] = "channel",
    [KJ_TEMPLATE_SENTIMENT] = "sentiment",
    [KJ_TEMPLATE_CATEGORY] = "category",
    [KJ_TEMPLATE_URGENCY] = "urgency"};

/* The route test whose values a template test checks the same way. */
static const int s_tpl_route_test[KJ_TEMPLATE_FIELDS] = {
    [KJ_TEMPLATE_CHANNEL] = S_T_CHANNEL,
    [KJ_TEMPLATE_SENTIMENT] = S_T_SENTIMENT,
    [KJ_TEMPLATE_CATEGORY] = S_T_CATEGORY,
    [KJ_TEMPLATE_URGENCY] = S_T_URGENCY};

static void
s_template_free(kj_rules_template_t *t)
{
    free(t->name);
    free(t->kind);
    free(t->language);
    for (int f = 0; f < KJ_TEMPLATE_FIELDS; f++) {
        for (size_t j = 0; j < t->when[f].n; j++)
            free(t->when[f].vals[j]);
        free(t->when[f].vals);
    }
    free(t->text);
    free(t->alternatives[0]);
    free(t->alternatives[1]);
}

/* A language tag like "ja", "en" or "pt-BR": letters first, then letters,
 * digits and hyphens. */
static bool
s_is_language(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > S_LANG_MAX)
        return false;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!s_is_alnum((unsigned char)s[i]) && s[i] != '-')
            return false;
    return s[n - 1] != '-';
}

/* A string of 1..max bytes that is valid UTF-8 (jansson checks the
 * document, but "\u0000" can still hide a NUL) with no control
 * characters other than newline and tab; copied into *out. */
static int
s_text(s_ctx_t *c, json_t *v, size_t max, char **out)
{
    if (!json_is_string(v))
        return s_fail(c, "expected a string");
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n == 0)
        return s_fail(c, "must not be empty");
    if (n > max)
        return s_fail(c, "longer than %zu bytes", max);
    if (strlen(s) != n)
        return s_fail(c, "must not contain NUL");
    if (!kj_utf8_valid(s, n))
        return s_fail(c, "must be valid UTF-8");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7f)
            return s_fail(c, "must not contain control characters");
    }
    *out = kj_strdup(s);
    return 0;
}

/* Check every {{variable}} in text: known, closed. Sets *uses_alt if it
 * uses alternative_1 or alternative_2. */
static int
s_text_variables(s_ctx_t *c, const char *text, bool *uses_alt)
{
    *uses_alt = false;
    for (const char *p = strstr(text, "{{"); p; p = strstr(p, "{{")) {
        const char *name = p + 2;
        const char *close = strstr(name, "}}");
        if (!close)
            return s_fail(c, "unclosed \"{{\" (a variable is written "
                             "{{name}})");
        size_t len = (size_t)(close - name);
        bool known = false;
        for (size_t i = 0; i < KJ_ARRAY_LEN(s_variables) && !known; i++)
            known = strlen(s_variables[i]) == len &&
                    memcmp(s_variables[i], name, len) == 0;
        if (!known)
            return s_fail(c,
                          "unknown variable \"{{%.*s}}\" (known: "
                          "customer_name, case_number, agent_name, team, "
                          "survey_url, alternative_1, alternative_2)",
                          (int)(len > 64 ? 64 : len), name);
        if (strncmp(name, "alternative_", 12) == 0)
            *uses_alt = true;
        p = close + 2;
    }
    return 0;
}

static int
s_template_when(s_ctx_t *c, const kj_rules_t *r, json_t *when,
                kj_rules_template_t *t)
{
    static const char *const keys[] = {"public",   "channel", "sentiment",
                                       "category", "urgency", "actionable",
                                       NULL};
    if (!json_is_object(when))
        return s_fail(c, "expected an object");
    if (s_check_keys(c, when, keys) < 0)
        return -1;
    if (json_object_size(when) == 0)
        return s_fail(c, "must test something (leave \"when\" out to "
                         "match always)");
    for (int f = 0; f < KJ_TEMPLATE_FIELDS; f++) {
        json_t *arr = json_object_get(when, s_tpl_test_names[f]);
        if (!arr)
            continue;
        s_push_key(c, s_tpl_test_names[f]);
        if (!json_is_array(arr))
            return s_fail(c, "expected an array of strings");
        size_t n = json_array_size(arr);
        if (n == 0)
            return s_fail(c, "must not be empty");
        kj_rules_list_t *l = &t->when[f];
        l->present = true;
        l->vals = kj_calloc(n, sizeof *l->vals);
        for (size_t i = 0; i < n; i++) {
            s_push_index(c, i);
            if (s_name(c, json_array_get(arr, i), S_NAME_MAX, &l->vals[i]) < 0)
                return -1;
            l->n = i + 1;
            if (s_check_when_value(c, r, s_tpl_route_test[f], l->vals[i]) < 0)
                return -1;
            s_pop(c);
        }
        s_pop(c);
    }
    static const char *const bools[] = {"public", "actionable"};
    int *outs[] = {&t->public_test, &t->actionable_test};
    for (size_t i = 0; i < 2; i++) {
        json_t *b = json_object_get(when, bools[i]);
        if (!b)
            continue;
        s_push_key(c, bools[i]);
        if (!json_is_boolean(b))
            return s_fail(c, "expected true or false");
        *outs[i] = json_is_true(b) ? 1 : 0;
        s_pop(c);
    }
    return 0;
}

static int
s_alternatives(s_ctx_t *c, json_t *arr, kj_rules_template_t *t)
{
    if (!json_is_array(arr) || json_array_size(arr) != 2)
        return s_fail(c, "expected exactly two strings");
    for (size_t i = 0; i < 2; i++) {
        s_push_index(c, i);
        if (s_text(c, json_array_get(arr, i), S_ALT_MAX, &t->alternatives[i]) <
            0)
            return -1;
        /* Rendering is one pass: an alternative is inserted as is. */
        if (strstr(t->alternatives[i], "{{"))
            return s_fail(c, "must not contain \"{{\"");
        s_pop(c);
    }
    return 0;
}

static int
s_template(s_ctx_t *c, const kj_rules_t *r, json_t *o, kj_rules_template_t *t)
{
    static const char *const keys[] = {
        "name", "kind", "language", "when", "text", "alternatives", NULL};
    if (!json_is_object(o))
        return s_fail(c, "expected an object");
    if (s_check_keys(c, o, keys) < 0)
        return -1;
    json_t *name = s_require(c, o, "name");
    json_t *kind = name ? s_require(c, o, "kind") : NULL;
    json_t *lang = kind ? s_require(c, o, "language") : NULL;
    json_t *text = lang ? s_require(c, o, "text") : NULL;
    if (!text)
        return -1;
    s_push_key(c, "name");
    if (s_name(c, name, S_NAME_MAX, &t->name) < 0)
        return -1;
    for (size_t j = 0; j < r->n_templates; j++)
        if (&r->templates[j] != t && r->templates[j].name &&
            strcmp(r->templates[j].name, t->name) == 0)
            return s_fail(c, "duplicate \"%s\"", t->name);
    s_pop(c);

    s_push_key(c, "kind");
    if (!json_is_string(kind) ||
        !s_in_list(json_string_value(kind), s_kinds, KJ_ARRAY_LEN(s_kinds)))
        return s_fail(c, "expected \"customer_ack\", \"suggested_reply\", "
                         "\"survey_request\", \"follow_up\", "
                         "\"sla_warning\" or \"escalation\"");
    t->kind = kj_strdup(json_string_value(kind));
    s_pop(c);

    s_push_key(c, "language");
    if (!json_is_string(lang) || !s_is_language(json_string_value(lang)))
        return s_fail(c, "expected a language tag such as \"ja\" or \"en\"");
    t->language = kj_strdup(json_string_value(lang));
    s_pop(c);

    json_t *when = json_object_get(o, "when");
    if (when) {
        s_push_key(c, "when");
        if (s_template_when(c, r, when, t) < 0)
            return -1;
        s_pop(c);
    }

    s_push_key(c, "text");
    bool uses_alt;
    if (s_text(c, text, S_TEXT_MAX, &t->text) < 0 ||
        s_text_variables(c, t->text, &uses_alt) < 0)
        return -1;
    t->text_len = strlen(t->text);
    s_pop(c);

    json_t *alts = json_object_get(o, "alternatives");
    if (uses_alt && !alts)
        return s_fail_at(c, "missing key \"alternatives\" (the text uses "
                            "{{alternative_1}} or {{alternative_2}})");
    if (alts) {
        s_push_key(c, "alternatives");
        if (!uses_alt)
            return s_fail(c, "the text uses neither {{alternative_1}} nor "
                             "{{alternative_2}}");
        if (s_alternatives(c, alts, t) < 0)
            return -1;
        s_pop(c);
    }
    return 0;
}

static int
s_templates(s_ctx_t *c, kj_rules_t *r, json_t *arr)
{
    if (!json_is_array(arr))
        return s_fail(c, "expected an array");
    size_t n = json_array_size(arr);
    r->templates = kj_calloc(n ? n : 1, sizeof *r->templates);
    for (size_t i = 0; i < n; i++) {
        s_push_index(c, i);
        kj_rules_template_t *t = &r->templates[i];
        t->public_test = -1;
        t->actionable_test = -1;
        r->n_templates = i + 1;
        if (s_template(c, r, json_array_get(arr, i), t) < 0)
            return -1;
        s_pop(c);
    }
    return 0;
}

static int
s_playbook(s_ctx_t *c, kj_rules_t *r, json_t *o)
{
    static const char *const keys[] = {"survey_url", "vague_max_chars",
                                       "abusive_words", NULL};
    kj_rules_playbook_t *p = &r->playbook;
    if (!json_is_object(o))
        return s_fail(c, "expected an object");
    if (s_check_keys(c, o, keys) < 0)
        return -1;
    json_t *v = json_object_get(o, "survey_url");
    if (v) {
        s_push_key(c, "survey_url");
        if (s_name(c, v, S_URL_MAX, &p->survey_url) < 0)
            return -1;
        if (strncmp(p->survey_url, "http://", 7) != 0 &&
            strncmp(p->survey_url, "https://", 8) != 0)
            return s_fail(c, "must start with http:// or https://");
        if (strchr(p->survey_url, ' '))
            return s_fail(c, "must not contain spaces");
        s_pop(c);
    }
    v = json_object_get(o, "vague_max_chars");
    if (v) {
        s_push_key(c, "vague_max_chars");
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > S_VAGUE_MAX)
            return s_fail(c, "expected an integer from 0 to %d", S_VAGUE_MAX);
        p->vague_max_chars = (int)json_integer_value(v);
        s_pop(c);
    }
    v = json_object_get(o, "abusive_words");
    if (v) {
        s_push_key(c, "abusive_words");
        if (!json_is_array(v))
            return s_fail(c, "expected an array of strings");
        size_t n = json_array_size(v);
        p->abusive_words = kj_calloc(n ? n : 1, sizeof *p->abusive_words);
        for (size_t i = 0; i < n; i++) {
            s_push_index(c, i);
            if (s_keyword(c, json_array_get(v, i), &p->abusive_words[i]) < 0)
                return -1;
            p->n_abusive_words = i + 1;
            s_pop(c);
        }
        s_pop(c);
    }
    return 0;
}

/* Both optional; templates check their "when" against the categories
 * and urgency levels, so this runs after those. */
static int
s_parse_playbook(s_ctx_t *c, kj_rules_t *r, json_t *root)
{
    r->playbook = (kj_rules_playbook_t){.vague_max_chars = 25};
    json_t *pb = json_object_get(root, "playbook");
    if (pb) {
        s_push_key(c, "playbook");
        if (s_playbook(c, r, pb) < 0)
            return -1;
        s_pop(c);
    }
    json_t *tpls = json_object_get(root, "templates");
    if (tpls) {
        s_push_key(c, "templates");
        if (s_templates(c, r, tpls) < 0)
            return -1;
        s_pop(c);
    }
    return 0;
}

static void
s_playbook_free(kj_rules_t *r)
{
    for (size_t i = 0; i < r->n_templates; i++)
        s_template_free(&r->templates[i]);
    free(r->templates);
    free(r->playbook.survey_url);
    for (size_t i = 0; i < r->playbook.n_abusive_words; i++)
        free(r->playbook.abusive_words[i].text);
    free(r->playbook.abusive_words);
}

/* ---- parse / load / destroy ---------------------------------------- */

/* "connectors": {"<channel>": "<webhook URL>", ...}, every key a channel
 * ingest knows. */
static int
s_connectors(s_ctx_t *c, kj_rules_t *r, json_t *o)
{
    if (!json_is_object(o))
        return s_fail(c, "expected an object of channel -> webhook URL");
    size_t n = json_object_size(o);
    r->connector_channels = kj_calloc(n ? n : 1, sizeof(char *));
    r->connector_urls = kj_calloc(n ? n : 1, sizeof(char *));
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        s_push_key(c, key);
        if (!kj_channel_valid(key, strlen(key)))
            return s_fail(c, "unknown channel \"%s\"", key);
        size_t i = r->n_connectors;
        r->connector_channels[i] = kj_strdup(key);
        r->n_connectors++;
        if (s_webhook(c, v, &r->connector_urls[i]) < 0)
            return -1;
        s_pop(c);
    }
    return 0;
}

static int
s_parse_doc(s_ctx_t *c, kj_rules_t *r, json_t *root)
{
    static const char *const keys[] = {
        "version", "categories",   "model_labels", "urgency",
        "teams",   "sla_policies", "routes",       "business_hours",
        "cases",   "connectors",   "templates",    "playbook",
        NULL};
    if (!json_is_object(root))
        return s_fail(c, "the rules file must be a JSON object");
    if (s_check_keys(c, root, keys) < 0)
        return -1;
    json_t *v = s_require(c, root, "version");
    if (!v)
        return -1;
    s_push_key(c, "version");
    if (!json_is_integer(v) || json_integer_value(v) != 1)
        return s_fail(c, "expected 1");
    s_pop(c);

    json_t *cats = s_require(c, root, "categories");
    if (!cats)
        return -1;
    s_push_key(c, "categories");
    if (s_kwsets(c, cats, "name", S_NAME_MAX, &r->categories,
                 &r->n_categories) < 0)
        return -1;
    s_pop(c);

    json_t *urg = json_object_get(root, "urgency");
    if (urg) {
        s_push_key(c, "urgency");
        if (s_kwsets(c, urg, "level", S_LEVEL_MAX, &r->urgency, &r->n_urgency) <
            0)
            return -1;
        for (size_t i = 0; i < r->n_urgency; i++)
            if (strcmp(r->urgency[i].name, "normal") == 0) {
                s_push_index(c, i);
                s_push_key(c, "level");
                return s_fail(c, "\"normal\" is reserved (it means no "
                                 "urgency keyword matched)");
            }
        s_pop(c);
    }

    json_t *labels = json_object_get(root, "model_labels");
    if (labels) {
        s_push_key(c, "model_labels");
        if (s_labels(c, r, labels) < 0)
            return -1;
        s_pop(c);
    }

    /* Teams and SLA policies refer to calendars by name. */
    json_t *bh = json_object_get(root, "business_hours");
    if (bh) {
        s_push_key(c, "business_hours");
        if (s_business_hours(c, r, bh) < 0)
            return -1;
        s_pop(c);
    }

    r->cases =
        (kj_rules_cases_t){.reopen_ms = 7 * 86400 * INT64_C(1000),
                           .close_ms = 3 * 86400 * INT64_C(1000),
                           .survey_cooldown_ms = 30 * 86400 * INT64_C(1000),
                           .offline_requeue = true,
                           .trajectory = 10,
                           .tone_drop = 0.5};
    json_t *cases = json_object_get(root, "cases");
    if (cases) {
        s_push_key(c, "cases");
        if (s_cases(c, r, cases) < 0)
            return -1;
        s_pop(c);
    }

    json_t *conn = json_object_get(root, "connectors");
    if (conn) {
        s_push_key(c, "connectors");
        if (s_connectors(c, r, conn) < 0)
            return -1;
        s_pop(c);
    }

    json_t *teams = s_require(c, root, "teams");
    if (!teams)
        return -1;
    s_push_key(c, "teams");
    if (s_teams(c, r, teams) < 0)
        return -1;
    s_pop(c);

    json_t *slas = s_require(c, root, "sla_policies");
    if (!slas)
        return -1;
    s_push_key(c, "sla_policies");
    if (s_slas(c, r, slas) < 0)
        return -1;
    s_pop(c);

    json_t *routes = s_require(c, root, "routes");
    if (!routes)
        return -1;
    s_push_key(c, "routes");
    if (s_routes(c, r, routes) < 0)
        return -1;
    s_pop(c);
    return s_parse_playbook(c, r, root);
}

kj_rules_t *
kj_rules_parse(const char *json, size_t len, char *err, size_t err_size)
{
    char dummy[1];
    if (!err || err_size == 0) {
        err = dummy;
        err_size = sizeof dummy;
    }
    err[0] = '\0';
    if (len > S_FILE_MAX) {
        snprintf(err, err_size, "larger than %d bytes", S_FILE_MAX);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, err_size, "line %d column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        return NULL;
    }
    kj_rules_t *self = kj_calloc(1, sizeof *self);
    s_ctx_t c = {.json = json, .len = len, .err = err, .err_size = err_size};
    if (s_parse_doc(&c, self, root) < 0)
        kj_rules_destroy(&self);
    json_decref(root);
    return self;
}

kj_rules_t *
kj_rules_load(const char *path, char *err, size_t err_size)
{
    char dummy[1];
    if (!err || err_size == 0) {
        err = dummy;
        err_size = sizeof dummy;
    }
    kj_rules_t *self = NULL;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    /* Read one byte past the cap so an oversized file is detected. */
    buf = kj_malloc(S_FILE_MAX + 1);
    size_t n = fread(buf, 1, S_FILE_MAX + 1, f);
    if (ferror(f)) {
        snprintf(err, err_size, "%s: read error", path);
        goto out;
    }
    if (n > S_FILE_MAX) {
        snprintf(err, err_size, "%s: larger than %d bytes", path, S_FILE_MAX);
        goto out;
    }
    char msg[512];
    self = kj_rules_parse(buf, n, msg, sizeof msg);
    if (!self)
        snprintf(err, err_size, "%s: %s", path, msg);
out:
    if (f)
        fclose(f);
    free(buf);
    return self;
}

void
kj_rules_destroy(kj_rules_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kj_rules_t *self = *self_p;
    for (size_t i = 0; i < self->n_categories; i++)
        s_kwset_free(&self->categories[i]);
    free(self->categories);
    for (size_t i = 0; i < self->n_urgency; i++)
        s_kwset_free(&self->urgency[i]);
    free(self->urgency);
    for (size_t i = 0; i < self->n_labels; i++) {
        free(self->labels[i].label);
        free(self->labels[i].category);
    }
    free(self->labels);
    for (size_t i = 0; i < self->n_connectors; i++) {
        free(self->connector_channels[i]);
        free(self->connector_urls[i]);
    }
    free(self->connector_channels);
    free(self->connector_urls);
    for (size_t i = 0; i < self->n_teams; i++) {
        free(self->teams[i].name);
        free(self->teams[i].webhook);
        for (size_t j = 0; j < self->teams[i].n_escalation; j++)
            free(self->teams[i].escalation[j]);
        free(self->teams[i].escalation);
    }
    free(self->teams);
    for (size_t i = 0; i < self->n_slas; i++)
        free(self->slas[i].name);
    free(self->slas);
    for (size_t i = 0; i < self->n_routes; i++) {
        s_route_t *rt = &self->routes[i];
        free(rt->name);
        for (int t = 0; t < S_T_COUNT; t++) {
            for (size_t j = 0; j < rt->tests[t].n; j++)
                free(rt->tests[t].vals[j]);
            free(rt->tests[t].vals);
        }
    }
    free(self->routes);
    s_playbook_free(self);
    for (size_t i = 0; i < self->n_hours; i++)
        kj_hours_destroy(&self->hours[i]);
    free(self->hours);
    free(self);
    *self_p = NULL;
}

/* ---- read-only views ------------------------------------------------ */

const kj_rules_kwset_t *
kj_rules_categories(const kj_rules_t *self, size_t *n)
{
    *n = self->n_categories;
    return self->categories;
}

const kj_rules_kwset_t *
kj_rules_urgency_levels(const kj_rules_t *self, size_t *n)
{
    *n = self->n_urgency;
    return self->urgency;
}

const kj_rules_label_t *
kj_rules_labels(const kj_rules_t *self, size_t *n)
{
    *n = self->n_labels;
    return self->labels;
}

size_t
kj_rules_n_routes(const kj_rules_t *self)
{
    return self->n_routes;
}

void
kj_rules_route_at(const kj_rules_t *self, size_t i, kj_route_t *out)
{
    kj_assert(i < self->n_routes);
    const s_route_t *rt = &self->routes[i];
    const s_team_t *team = &self->teams[rt->team];
    const s_sla_t *sla = &self->slas[rt->sla];
    out->rule = rt->name;
    out->team = team->name;
    out->priority = rt->priority;
    out->sla = sla->name;
    out->webhook = team->webhook;
    out->webhook_format = team->format;
    out->first_response_ms = sla->first_response_ms;
    out->resolution_ms = sla->resolution_ms;
    out->ack_ms = sla->ack_ms;
    out->next_response_ms = sla->next_response_ms;
    out->hours = sla->hours_mode == S_SLA_HOURS_NAMED  ? sla->hours
                 : sla->hours_mode == S_SLA_HOURS_TEAM ? team->hours
                                                       : NULL;
    for (int t = 0; t < S_T_COUNT; t++) {
        out->when[t].present = rt->tests[t].present;
        out->when[t].vals = (const char *const *)rt->tests[t].vals;
        out->when[t].n = rt->tests[t].n;
    }
    out->public_test = rt->public_test;
}

/* The team by name, NULL if unknown. */
static const s_team_t *
s_team(const kj_rules_t *self, const char *name)
{
    for (size_t i = 0; name && i < self->n_teams; i++)
        if (strcmp(self->teams[i].name, name) == 0)
            return &self->teams[i];
    return NULL;
}

const kj_hours_t *
kj_rules_team_hours(const kj_rules_t *self, const char *team)
{
    const s_team_t *t = s_team(self, team);
    return t ? t->hours : NULL;
}

const char *const *
kj_rules_team_escalation(const kj_rules_t *self, const char *team, size_t *n)
{
    const s_team_t *t = s_team(self, team);
    *n = t ? t->n_escalation : 0;
    return t && t->n_escalation ? (const char *const *)t->escalation : NULL;
}

const kj_rules_cases_t *
kj_rules_cases(const kj_rules_t *self)
{
    return &self->cases;
}

size_t
kj_rules_n_business_hours(const kj_rules_t *self)
{
    return self->n_hours;
}

const kj_hours_t *
kj_rules_business_hours(const kj_rules_t *self, const char *name)
{
    return name ? s_find_hours(self, name) : NULL;
}

const char *
kj_rules_connector(const kj_rules_t *self, const char *channel)
{
    for (size_t i = 0; self && channel && i < self->n_connectors; i++)
        if (strcmp(self->connector_channels[i], channel) == 0)
            return self->connector_urls[i];
    return NULL;
}

const kj_rules_template_t *
kj_rules_templates(const kj_rules_t *self, size_t *n)
{
    *n = self->n_templates;
    return self->templates;
}

const kj_rules_playbook_t *
kj_rules_playbook(const kj_rules_t *self)
{
    return &self->playbook;
}

const char *
kj_webhook_format_name(kj_webhook_format_t format)
{
    return format == KJ_WEBHOOK_SLACK ? "slack" : "kujo";
}

kj_webhook_format_t
kj_webhook_format_guess(const char *url)
{
    static const char slack[] = "https://hooks.slack.com/";
    return url && strncmp(url, slack, sizeof slack - 1) == 0 ? KJ_WEBHOOK_SLACK
                                                             : KJ_WEBHOOK_KUJO;
}

kj_webhook_format_t
kj_rules_webhook_format(const kj_rules_t *self, const char *url)
{
    for (size_t i = 0; self && url && i < self->n_teams; i++)
        if (self->teams[i].webhook && strcmp(self->teams[i].webhook, url) == 0)
            return self->teams[i].format;
    return kj_webhook_format_guess(url);
}
