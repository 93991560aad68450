/* kj_config: option tables. Values are gathered as text first (default,
 * then a secret's KUJO_*_FILE, then KUJO_* environment, then --flags), then
 * converted and checked all at once, so that one run reports every problem
 * and destinations are only written when the whole configuration is good. */
#include "kj_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kj_log.h"
#include "kj_util.h"

#ifndef KJ_VERSION
#define KJ_VERSION "unknown"
#endif

/* A secret file is a password or a key, not a document: anything larger
 * is the wrong file, and reading it whole would be unbounded. */
#define S_SECRET_FILE_MAX (64 * 1024)

/* Where an option's text came from, for messages that tell the operator
 * what to fix. */
typedef enum {
    S_FROM_DEFAULT,
    S_FROM_FILE,
    S_FROM_ENV,
    S_FROM_FLAG
} s_source_t;

typedef struct {
    const char *text;  /* borrowed from the table, environ or argv, or owned */
    s_source_t source; /* where text came from */
    char *owned;       /* a secret file's contents, freed after parsing */
    const char *path;  /* the secret file, when source is S_FROM_FILE */
} s_value_t;

/* Parse a boolean word. 0 or -1. */
static int
s_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < KJ_ARRAY_LEN(yes); i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* Parse a whole base-10 integer. 0 or -1. */
static int
s_parse_int(const char *s, int64_t *out)
{
    char *end = NULL;
    if (*s == '\0' || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = (int64_t)v;
    return 0;
}

static const kj_cfg_opt_t *
s_find_flag(const kj_cfg_opt_t *opts, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (opts[i].flag && strlen(opts[i].flag) == len &&
            strncmp(opts[i].flag, name, len) == 0)
            return &opts[i];
    }
    return NULL;
}

static const char *
s_type_hint(kj_cfg_type_t type)
{
    switch (type) {
    case KJ_CFG_INT:
        return "N";
    case KJ_CFG_BOOL:
        return "[BOOL]";
    default:
        return "VALUE";
    }
}

static void
s_help(const kj_cfg_opt_t *opts, size_t n, const char *binary,
       const char *summary)
{
    printf("usage: %s [options]\n", binary);
    if (summary && *summary)
        printf("%s\n", summary);
    printf("\noptions (flags override KUJO_* variables, which override "
           "defaults):\n");
    for (size_t i = 0; i < n; i++) {
        char flag[96];
        char def[256];
        const kj_cfg_opt_t *o = &opts[i];
        snprintf(flag, sizeof(flag), "--%s %s", o->flag ? o->flag : "?",
                 s_type_hint(o->type));
        if (o->secret)
            snprintf(def, sizeof(def), "(secret)");
        else if (o->def)
            snprintf(def, sizeof(def), "%s", o->def);
        else
            snprintf(def, sizeof(def), "(none)");
        /* A secret can also come from a file (Docker and Kubernetes mount
         * secrets as files), so its help names both variables. */
        const char *env = o->env ? o->env : "";
        char file_env[160] = "";
        if (o->secret && o->env)
            snprintf(file_env, sizeof(file_env), " (or %s_FILE)", o->env);
        printf("  %-26s %-24s %s%s (default: %s%s)\n", flag, env,
               o->help ? o->help : "", file_env, def,
               o->required ? ", required" : "");
    }
    printf("  %-26s %-24s %s\n", "--help", "", "show this help and exit");
    printf("  %-26s %-24s %s\n", "--version", "", "show the version and exit");
}

/* Read argv into vals. Returns the number of usage problems; sets *help or
 * *version when asked for. */
static int
s_parse_argv(const kj_cfg_opt_t *opts, size_t n, int argc, char **argv,
             const char *binary, s_value_t *vals, bool *help, bool *version)
{
    int problems = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            *help = true;
            continue;
        }
        if (strcmp(arg, "--version") == 0) {
            *version = true;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            fprintf(stderr, "%s: unexpected argument \"%s\" (try --help)\n",
                    binary, arg);
            problems++;
            continue;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        const kj_cfg_opt_t *o = s_find_flag(opts, n, name, name_len);
        if (!o) {
            fprintf(stderr, "%s: unknown flag --%.*s (try --help)\n", binary,
                    (int)name_len, name);
            problems++;
            continue;
        }
        s_value_t *v = &vals[o - opts];
        if (eq) {
            v->text = eq + 1;
        } else if (o->type == KJ_CFG_BOOL) {
            /* A bare boolean flag means true; it takes the next argument
             * only when that is a boolean word, so "--flag --other" and
             * "--flag" at the end both work. */
            bool b;
            if (i + 1 < argc && s_parse_bool(argv[i + 1], &b) == 0)
                v->text = argv[++i];
            else
                v->text = "true";
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            v->text = argv[++i];
        } else {
            fprintf(stderr, "%s: flag --%s needs a value (try --help)\n",
                    binary, o->flag);
            problems++;
            continue;
        }
        v->source = S_FROM_FLAG;
    }
    return problems;
}

/* Print one bad-value message naming the variable or flag and, unless the
 * option is secret, the value. */
static void
s_bad_value(const char *binary, const kj_cfg_opt_t *o, const s_value_t *v,
            const char *why)
{
    /* Name where the value came from first, and the other spelling of the
     * option after it, so the operator finds it whichever they used. */
    char where[160];
    if (v->source == S_FROM_FLAG)
        snprintf(where, sizeof(where), "--%s (env %s)", o->flag, o->env);
    else if (v->source == S_FROM_ENV)
        snprintf(where, sizeof(where), "%s (flag --%s)", o->env, o->flag);
    else if (v->source == S_FROM_FILE)
        snprintf(where, sizeof(where), "%s_FILE %s (flag --%s)", o->env,
                 v->path, o->flag);
    else
        snprintf(where, sizeof(where), "the default of %s (flag --%s)", o->env,
                 o->flag);
    if (o->secret || !v->text)
        fprintf(stderr, "%s: bad value for %s: %s\n", binary, where, why);
    else
        fprintf(stderr, "%s: bad value \"%s\" for %s: %s\n", binary, v->text,
                where, why);
}

/* Check vals; if out is true, write the destinations. Returns the number
 * of problems. */
static int
s_convert(const kj_cfg_opt_t *opts, size_t n, const s_value_t *vals,
          const char *binary, bool out)
{
    int problems = 0;
    for (size_t i = 0; i < n; i++) {
        const kj_cfg_opt_t *o = &opts[i];
        const s_value_t *v = &vals[i];
        bool missing = !v->text || v->text[0] == '\0';
        if (o->required && missing) {
            if (!out && v->source == S_FROM_FILE) {
                fprintf(stderr,
                        "%s: %s (--%s) is required; %s_FILE %s is empty\n",
                        binary, o->env, o->flag, o->env, v->path);
                problems++;
            } else if (!out) {
                fprintf(stderr, "%s: %s (--%s) is required\n", binary, o->env,
                        o->flag);
                problems++;
            }
            continue;
        }
        switch (o->type) {
        case KJ_CFG_STR:
            if (out)
                *(char **)o->dest = v->text ? kj_strdup(v->text) : NULL;
            break;
        case KJ_CFG_INT: {
            int64_t x = 0;
            if (!v->text) {
                /* No default and not given: zero, like a fresh struct. */
            } else if (s_parse_int(v->text, &x) != 0) {
                if (!out)
                    s_bad_value(binary, o, v, "not an integer");
                problems++;
                break;
            } else if (x < o->min || x > o->max) {
                char why[96];
                snprintf(why, sizeof(why), "out of range [%lld, %lld]",
                         (long long)o->min, (long long)o->max);
                if (!out)
                    s_bad_value(binary, o, v, why);
                problems++;
                break;
            }
            if (out)
                *(int64_t *)o->dest = x;
            break;
        }
        case KJ_CFG_BOOL: {
            bool b = false;
            if (v->text && s_parse_bool(v->text, &b) != 0) {
                if (!out)
                    s_bad_value(binary, o, v,
                                "not a boolean (true/false/1/0/yes/no/on/off)");
                problems++;
                break;
            }
            if (out)
                *(bool *)o->dest = b;
            break;
        }
        default:
            if (!out)
                fprintf(stderr, "%s: option %s has an unknown type\n", binary,
                        o->env);
            problems++;
            break;
        }
    }
    return problems;
}

/* Read a secret file whole into *out (NUL-terminated, caller frees), with
 * one trailing "\n" or "\r\n" removed: editors and `echo` add one, and a
 * password never ends in one. Returns 0, or -1 after saying why on stderr.
 * The contents are never printed. */
static int
s_read_secret_file(const char *binary, const char *var, const char *path,
                   char **out)
{
    int rc = -1;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int err = errno;
        fprintf(stderr, "%s: %s: cannot read %s: %s\n", binary, var, path,
                strerror(err));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "%s: %s: cannot read %s: %s\n", binary, var, path,
                strerror(EISDIR));
        goto out;
    }
    /* One byte more than the maximum tells "too large" from "just fits". */
    buf = kj_malloc(S_SECRET_FILE_MAX + 2);
    size_t len = fread(buf, 1, S_SECRET_FILE_MAX + 1, f);
    if (ferror(f)) {
        int err = errno;
        fprintf(stderr, "%s: %s: cannot read %s: %s\n", binary, var, path,
                strerror(err ? err : EIO));
        goto out;
    }
    if (len > S_SECRET_FILE_MAX) {
        fprintf(stderr, "%s: %s: %s is larger than %d bytes\n", binary, var,
                path, S_SECRET_FILE_MAX);
        goto out;
    }
    if (memchr(buf, '\0', len)) {
        fprintf(stderr, "%s: %s: %s contains a NUL byte\n", binary, var, path);
        goto out;
    }
    if (len > 0 && buf[len - 1] == '\n') {
        len--;
        if (len > 0 && buf[len - 1] == '\r')
            len--;
    }
    buf[len] = '\0';
    *out = buf;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    fclose(f);
    return rc;
}

/* For every secret row, take <ENV>_FILE when it is set: below <ENV> and
 * --flag in precedence, but setting both <ENV> and <ENV>_FILE is an error,
 * since the operator could not tell which one is used. Returns the number
 * of problems. */
static int
s_read_secret_files(const kj_cfg_opt_t *opts, size_t n, const char *binary,
                    s_value_t *vals)
{
    int problems = 0;
    for (size_t i = 0; i < n; i++) {
        const kj_cfg_opt_t *o = &opts[i];
        if (!o->secret || !o->env)
            continue;
        size_t len = strlen(o->env) + sizeof("_FILE");
        char *var = kj_malloc(len);
        snprintf(var, len, "%s_FILE", o->env);
        /* Empty counts as unset, as for every other variable. */
        const char *path = getenv(var);
        const char *env = getenv(o->env);
        if (!path || !*path) {
            free(var);
            continue;
        }
        if (env && *env) {
            fprintf(stderr,
                    "%s: both %s and %s are set; set only one of them\n",
                    binary, o->env, var);
            problems++;
        } else if (s_read_secret_file(binary, var, path, &vals[i].owned) != 0) {
            problems++;
        } else if (vals[i].source != S_FROM_FLAG) {
            vals[i].text = vals[i].owned;
            vals[i].source = S_FROM_FILE;
            vals[i].path = path;
        }
        free(var);
    }
    return problems;
}

int
kj_config_parse(const kj_cfg_opt_t *opts, size_t n, int argc, char **argv,
                const char *binary, const char *summary, int *exit_code)
{
    int rc = -1;
    bool help = false, version = false;
    s_value_t *vals = kj_calloc(n ? n : 1, sizeof(*vals));

    if (!binary)
        binary = argc > 0 && argv[0] ? argv[0] : "kujo";
    for (size_t i = 0; i < n; i++) {
        vals[i].text = opts[i].def;
        vals[i].source = S_FROM_DEFAULT;
        /* An empty variable counts as unset, so that compose files can
         * pass KUJO_X=${X:-} through without overriding the default. */
        const char *env = opts[i].env ? getenv(opts[i].env) : NULL;
        if (env && (*env || opts[i].empty_is_value)) {
            vals[i].text = env;
            vals[i].source = S_FROM_ENV;
        }
    }
    int usage =
        s_parse_argv(opts, n, argc, argv, binary, vals, &help, &version);
    if (help) {
        s_help(opts, n, binary, summary);
        fflush(stdout);
        *exit_code = 0;
        goto out;
    }
    if (version) {
        printf("%s %s\n", binary, KJ_VERSION);
        fflush(stdout);
        *exit_code = 0;
        goto out;
    }
    int bad = s_read_secret_files(opts, n, binary, vals);
    bad += s_convert(opts, n, vals, binary, false);
    if (usage > 0 || bad > 0) {
        *exit_code = usage > 0 ? KJ_EX_USAGE : KJ_EX_CONFIG;
        goto out;
    }
    s_convert(opts, n, vals, binary, true);
    *exit_code = 0;
    rc = 0;
out:
    /* Secret file contents were copied into the destinations (kj_strdup)
     * or parsed; the buffers go now, wiped first so that the secret does
     * not linger in freed heap memory. */
    for (size_t i = 0; i < n; i++) {
        if (vals[i].owned) {
            volatile char *p = vals[i].owned;
            while (*p)
                *p++ = '\0';
            free(vals[i].owned);
        }
    }
    free(vals);
    return rc;
}

void
kj_config_log(const kj_cfg_opt_t *opts, size_t n)
{
    const char **keys = kj_calloc(n ? n : 1, sizeof(*keys));
    const char **values = kj_calloc(n ? n : 1, sizeof(*values));
    char **owned = kj_calloc(n ? n : 1, sizeof(*owned));

    for (size_t i = 0; i < n; i++) {
        const kj_cfg_opt_t *o = &opts[i];
        const char *name = o->flag ? o->flag : (o->env ? o->env : "?");
        /* Log keys are snake_case so that log queries need no quoting. */
        size_t len = strlen(name);
        char *key = kj_malloc(len + 3);
        key[0] = o->type == KJ_CFG_STR   ? 's'
                 : o->type == KJ_CFG_INT ? 'l'
                                         : 'b';
        key[1] = ':';
        for (size_t k = 0; k <= len; k++)
            key[k + 2] = name[k] == '-' ? '_' : name[k];
        keys[i] = key;
        if (o->secret) {
            bool set = o->type != KJ_CFG_STR || *(char **)o->dest;
            key[0] = 's';
            values[i] = set ? "***" : NULL;
            continue;
        }
        switch (o->type) {
        case KJ_CFG_STR:
            values[i] = *(char **)o->dest;
            break;
        case KJ_CFG_INT: {
            char num[32];
            snprintf(num, sizeof(num), "%lld", (long long)*(int64_t *)o->dest);
            owned[i] = kj_strdup(num);
            values[i] = owned[i];
            break;
        }
        default:
            values[i] = *(bool *)o->dest ? "true" : "false";
            break;
        }
    }
    kj_log_write_array(KJ_LOG_INFO, "config", keys, values, n);
    for (size_t i = 0; i < n; i++) {
        free((char *)keys[i]);
        free(owned[i]);
    }
    free(keys);
    free(values);
    free(owned);
}

void
kj_config_free(const kj_cfg_opt_t *opts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (opts[i].type == KJ_CFG_STR && opts[i].dest) {
            char **p = opts[i].dest;
            free(*p);
            *p = NULL;
        }
    }
}

/* Host characters we accept without brackets: names and IPv4 literals. */
static bool
s_host_ok(const char *s, size_t len, bool bracketed)
{
    if (!bracketed && len == 1 && s[0] == '*')
        return true;
    if (bracketed && len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '.' || c == '-' || c == '_')
            continue;
        if (bracketed && (c == ':' || c == '%'))
            continue;
        return false;
    }
    return true;
}

int
kj_addr_split(const char *addr, char *host, size_t host_size, int *port)
{
    if (!addr || !host || host_size == 0 || !port)
        return -1;
    const char *h = addr;
    size_t hlen;
    const char *p;
    bool bracketed = addr[0] == '[';
    if (bracketed) {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':')
            return -1;
        h = addr + 1;
        hlen = (size_t)(close - h);
        p = close + 2;
    } else {
        const char *colon = strrchr(addr, ':');
        if (!colon)
            return -1;
        hlen = (size_t)(colon - addr);
        /* An unbracketed IPv6 literal is ambiguous: "::1:80". */
        if (memchr(addr, ':', hlen))
            return -1;
        p = colon + 1;
    }
    if (!s_host_ok(h, hlen, bracketed) || hlen >= host_size)
        return -1;
    int value;
    if (strcmp(p, "*") == 0) {
        value = 0;
    } else {
        size_t plen = strlen(p);
        if (plen == 0 || plen > 5)
            return -1;
        value = 0;
        for (size_t i = 0; i < plen; i++) {
            if (p[i] < '0' || p[i] > '9')
                return -1;
            value = value * 10 + (p[i] - '0');
        }
        if (value > 65535)
            return -1;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = value;
    return 0;
}
