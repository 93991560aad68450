/* kj_config: one table of options per service (Redis's createIntConfig,
 * pgbouncer's CF_ABS). Precedence: default < KUJO_* environment < --flag.
 * A secret row also reads <ENV>_FILE (the file's contents, one trailing
 * newline removed), below <ENV>; setting both <ENV> and <ENV>_FILE is a
 * configuration error.
 * --help is generated from the table; every problem is reported before
 * returning; the effective configuration is logged with secrets redacted. */
#ifndef KJ_CONFIG_H
#define KJ_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes from sysexits.h. */
#define KJ_EX_USAGE 64
#define KJ_EX_CONFIG 78

typedef enum {
    KJ_CFG_STR,  /* dest is char **, set to a kj_strdup'ed copy (or NULL) */
    KJ_CFG_INT,  /* dest is int64_t *, checked against [min, max] */
    KJ_CFG_BOOL, /* dest is bool *: true/false/1/0/yes/no/on/off */
} kj_cfg_type_t;

typedef struct {
    const char *env;  /* "KUJO_REDIS_URL" */
    const char *flag; /* "redis-url", used as --redis-url VALUE or =VALUE */
    kj_cfg_type_t type;
    const char *def;  /* default as text; NULL: unset (STR only) */
    int64_t min, max; /* bounds for INT */
    const char *help; /* one line for --help */
    bool secret;      /* redacted in --help and the log; <env>_FILE read */
    bool required;    /* missing or empty is a configuration error */
    void *dest;
    /* An empty KUJO_* variable is a value ("" means off), not unset: for
     * options whose default is on, like KUJO_MODELS. */
    bool empty_is_value;
} kj_cfg_opt_t;

/* Parse environment then argv into the table's destinations.
 * Returns 0 to go on; otherwise the process should exit with *exit_code
 * (0 after --help or --version, 64 for a bad flag, 78 for a bad value).
 * Messages go to stderr, all of them, before returning. */
int
kj_config_parse(const kj_cfg_opt_t *opts, size_t n, int argc, char **argv,
                const char *binary, const char *summary, int *exit_code);

/* Log the effective configuration once ("config" line), secrets redacted. */
void
kj_config_log(const kj_cfg_opt_t *opts, size_t n);

/* Free every KJ_CFG_STR destination and set it to NULL. */
void
kj_config_free(const kj_cfg_opt_t *opts, size_t n);

/* Split "host:port" (port may be 0 or "*" for any). Returns 0 or -1. */
int
kj_addr_split(const char *addr, char *host, size_t host_size, int *port);

#endif
