/* kj_redis: a hiredis 0.14 connection that reconnects with backoff, keeps a
 * sticky error string for /readyz (like hiredis's c->errstr), and owns the
 * Lua scripts registered on it, (re)loading them after every connect.
 * Not thread-safe: one per thread. */
#ifndef KJ_REDIS_H
#define KJ_REDIS_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

typedef struct kj_redis kj_redis_t;

#define KJ_REDIS_REPLY_MAX (64 * 1024 * 1024) /* hiredis reader buffer cap */

/* Parse redis://[:password@]host[:port][/db]. Returns 0, or -1 with a
 * message in err. */
int
kj_redis_parse_url(const char *url, char *host, size_t host_size, int *port,
                   int *db, char *password, size_t password_size, char *err,
                   size_t err_size);

/* A connection to url (not connected yet). NULL if the URL is bad (message
 * in err). timeout_ms bounds connect and every command. */
kj_redis_t *
kj_redis_new(const char *url, int timeout_ms, char *err, size_t err_size);

void
kj_redis_destroy(kj_redis_t **self_p);

/* Connect if not connected (AUTH, SELECT, SCRIPT LOAD of every registered
 * script). Reconnect attempts back off up to 1 s. 0 if connected. */
int
kj_redis_connect(kj_redis_t *self);

bool
kj_redis_connected(const kj_redis_t *self);

/* The last error ("" when none), sticky until the next success. */
const char *
kj_redis_errstr(const kj_redis_t *self);

/* Drop the connection after an I/O or protocol error so the next call
 * reconnects. Records what in the sticky error. */
void
kj_redis_fail(kj_redis_t *self, const char *what);

/* Run one command, connecting first if needed. NULL if it could not run
 * (the error is recorded); an error reply is returned as a reply. Caller
 * frees with freeReplyObject. */
redisReply *
kj_redis_command(kj_redis_t *self, const char *fmt, ...);

redisReply *
kj_redis_commandargv(kj_redis_t *self, int argc, const char **argv,
                     const size_t *argvlen);

/* Pipelining: append commands, then read one reply per appended command.
 * kj_redis_append* return 0, or -1 if not connected. kj_redis_get_reply
 * returns NULL on I/O error (and drops the connection). */
int
kj_redis_append(kj_redis_t *self, const char *fmt, ...);

int
kj_redis_appendargv(kj_redis_t *self, int argc, const char **argv,
                    const size_t *argvlen);

redisReply *
kj_redis_get_reply(kj_redis_t *self);

/* HGETALL of n keys in one pipelined round trip (connecting first if
 * needed), calling each(ctx, k, field, flen, value, vlen) for every
 * string pair of keys[k]. Returns 0, or -1 if any reply failed; the
 * callback may then have seen only some keys. */
typedef void (*kj_redis_field_fn)(void *ctx, size_t k, const char *field,
                                  size_t flen, const char *value, size_t vlen);
int
kj_redis_hgetall_each(kj_redis_t *self, const char *const *keys, size_t n,
                      kj_redis_field_fn each, void *ctx);

/* Register a Lua script; it is loaded now if connected and after every
 * reconnect. Returns its handle (>= 0). */
int
kj_redis_script_add(kj_redis_t *self, const char *source);

/* The script's SHA1 (40 hex digits), borrowed. */
const char *
kj_redis_script_sha(const kj_redis_t *self, int handle);

/* SCRIPT LOAD every registered script again (after a NOSCRIPT reply). */
int
kj_redis_scripts_reload(kj_redis_t *self);

/* True if reply is an error reply starting with "NOSCRIPT". */
bool
kj_redis_is_noscript(const redisReply *reply);

/* One EVALSHA of a batch: its KEYS then ARGV (all borrowed until the
 * batch returns), and what came back. */
typedef struct {
    int nkeys;
    int argc;              /* keys + args */
    const char **argv;     /* [argc]: keys first */
    const size_t *argvlen; /* [argc], or NULL: each strlen */
    redisReply *reply;     /* out: caller frees (kj_redis_eval_clear) */
    bool pending;          /* internal: still to run */
} kj_redis_eval_t;

/* Run the registered script for every call in one pipeline (one round
 * trip); calls answered NOSCRIPT (Redis restarted, SCRIPT FLUSH) run again
 * after the scripts are reloaded, the others never twice. Returns 0 (every
 * reply set; error replies are replies), -1 if Redis could not be reached
 * (nothing ran), or -2 if the connection broke after sending: the calls
 * without a reply may or may not have run. */
int
kj_redis_eval_batch(kj_redis_t *self, int script, kj_redis_eval_t *calls,
                    size_t n);

/* Free the replies of calls[0..n) and set them NULL. */
void
kj_redis_eval_clear(kj_redis_eval_t *calls, size_t n);

#endif
