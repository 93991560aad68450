/* kj_log: one JSON object per line on stdout: ts (RFC 3339 UTC, ms), level,
 * svc, msg (a constant you can grep), then typed fields. Thread-safe.
 * Never log complaint text or personal data. */
#ifndef KJ_LOG_H
#define KJ_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    KJ_LOG_DEBUG = 0,
    KJ_LOG_INFO,
    KJ_LOG_WARN,
    KJ_LOG_ERROR,
} kj_log_level_t;

/* Set the service name and minimum level. Call once before threads. */
void
kj_log_init(const char *svc, kj_log_level_t level);

/* Parse "debug", "info", "warn", "error". -1 if unknown. */
int
kj_log_level_parse(const char *s);

/* True if level would be written. */
bool
kj_log_enabled(kj_log_level_t level);

/* Write one line. The variadic part is (key, value) pairs ended by NULL;
 * the key's first two characters give the value's type:
 *   "s:name" const char *   (JSON-escaped; NULL written as null)
 *   "i:name" int
 *   "l:name" long long
 *   "f:name" double
 *   "b:name" int, written as true/false
 * Example: kj_log_write(KJ_LOG_INFO, "listening", "s:addr", a, NULL); */
void
kj_log_write(kj_log_level_t level, const char *msg, ...);

/* Write one line whose fields come from arrays, for callers that only know
 * the number of fields at run time (kj_config_log). keys[i] uses the same
 * type prefixes as kj_log_write; values[i] is text: "s:" is escaped (NULL
 * is null), "i:"/"l:"/"f:" are written as a JSON number and "b:" as a
 * JSON boolean only if the text is one ("true"/"false"), else as a string. */
void
kj_log_write_array(kj_log_level_t level, const char *msg,
                   const char *const *keys, const char *const *values,
                   size_t n);

/* Level check before the arguments are evaluated (Redis's serverLog). */
#define KJ_LOG(level, ...)                                                     \
    do {                                                                       \
        if (kj_log_enabled(level))                                             \
            kj_log_write(level, __VA_ARGS__, (const char *)0);                 \
    } while (0)
#define kj_debug(...) KJ_LOG(KJ_LOG_DEBUG, __VA_ARGS__)
#define kj_info(...) KJ_LOG(KJ_LOG_INFO, __VA_ARGS__)
#define kj_warn(...) KJ_LOG(KJ_LOG_WARN, __VA_ARGS__)
#define kj_error(...) KJ_LOG(KJ_LOG_ERROR, __VA_ARGS__)

#endif
