/* kj_testredis: a real redis-server for tests, on a free loopback port, in
 * its own temporary directory, stopped (and the directory removed) by
 * kj_testredis_stop. */
#ifndef KJ_TESTREDIS_H
#define KJ_TESTREDIS_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct {
    int port;
    pid_t pid;
    char dir[256];
    char url[64]; /* redis://127.0.0.1:<port>/0 */
    bool aof;     /* appendonly, kept for restarts */
    bool acl;     /* started with <dir>/users.acl */
} kj_testredis_t;

/* A free TCP port on 127.0.0.1 (bound then released), below the ephemeral
 * range and never the same twice in one process. */
int
kj_test_free_port(void);

/* Start redis-server (with appendonly yes when aof) and wait until it
 * answers PING. 0 or -1. */
int
kj_testredis_start(kj_testredis_t *r, bool aof);

/* Like kj_testredis_start, with an ACL file: acl_line (one "user ..."
 * line, e.g. from deploy/redis/kujo-acl.sh) and a default user that may do
 * everything, so the test itself can look at any key. 0 or -1. */
int
kj_testredis_start_acl(kj_testredis_t *r, bool aof, const char *acl_line);

/* Stop the server (SIGTERM) and start a new one on the same port and
 * directory (with AOF, the data comes back). 0 or -1. */
int
kj_testredis_restart(kj_testredis_t *r);

/* SIGTERM, wait, remove the directory. Safe to call twice. */
void
kj_testredis_stop(kj_testredis_t *r);

#endif
