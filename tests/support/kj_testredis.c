#include "kj_testredis.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

/* Ports are picked below Linux's ephemeral range (32768-60999), where the
 * kernel also picks the local ports of outgoing connections: a port handed
 * out here and bound a moment later by a child process cannot meanwhile be
 * taken by some connection's local end. Ports already handed out by this
 * process are never handed out again, so two children never share one. */
enum { S_PORT_LOW = 20000, S_PORT_HIGH = 32767 };

static bool
s_port_bindable(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

int
kj_test_free_port(void)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static bool used[S_PORT_HIGH - S_PORT_LOW + 1];
    static unsigned seed;
    int port = -1;
    pthread_mutex_lock(&mu);
    if (!seed)
        seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    for (int tries = 0; tries < 1000 && port < 0; tries++) {
        int p =
            S_PORT_LOW + (int)(rand_r(&seed) % (S_PORT_HIGH - S_PORT_LOW + 1));
        if (used[p - S_PORT_LOW] || !s_port_bindable(p))
            continue;
        used[p - S_PORT_LOW] = true;
        port = p;
    }
    pthread_mutex_unlock(&mu);
    return port;
}

static int
s_ping(int port)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    int ok = -1;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PING");
        if (r && r->type == REDIS_REPLY_STATUS)
            ok = 0;
        if (r)
            freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    return ok;
}

/* Start redis-server on r->port in r->dir and wait for its PING. 0, or -1
 * if it died (the port was taken) or never answered. */
static int
s_spawn(kj_testredis_t *r)
{
    char port[16];
    snprintf(port, sizeof port, "%d", r->port);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        char acl[300];
        snprintf(acl, sizeof acl, "%s/users.acl", r->dir);
        /* Without an ACL file the list ends at the NULL before acl. */
        const char *argv[] = {"redis-server",
                              "--bind",
                              "127.0.0.1",
                              "--port",
                              port,
                              "--dir",
                              r->dir,
                              "--save",
                              "",
                              "--appendonly",
                              r->aof ? "yes" : "no",
                              "--appendfsync",
                              "everysec",
                              "--protected-mode",
                              "yes",
                              r->acl ? "--aclfile" : NULL,
                              acl,
                              NULL};
        execv(KJ_REDIS_SERVER, (char *const *)argv);
        _exit(127);
    }
    r->pid = pid;
    for (int i = 0; i < 100; i++) {
        if (s_ping(r->port) == 0) {
            snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d/0", r->port);
            return 0;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            break; /* died: port taken */
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    r->pid = 0;
    return -1;
}

static int
s_start(kj_testredis_t *r, bool aof, const char *acl_line)
{
    memset(r, 0, sizeof *r);
    r->aof = aof;
    snprintf(r->dir, sizeof r->dir, "/tmp/kj-redis-XXXXXX");
    if (!mkdtemp(r->dir))
        return -1;
    if (acl_line) {
        char path[300];
        snprintf(path, sizeof path, "%s/users.acl", r->dir);
        FILE *f = fopen(path, "w");
        if (!f)
            return -1;
        fprintf(f, "user default on nopass ~* &* +@all\n%s\n", acl_line);
        if (fclose(f) != 0)
            return -1;
        r->acl = true;
    }
    /* Retry on the rare race where another process takes the port. */
    for (int tries = 0; tries < 5; tries++) {
        r->port = kj_test_free_port();
        if (s_spawn(r) == 0)
            return 0;
    }
    return -1;
}

int
kj_testredis_start(kj_testredis_t *r, bool aof)
{
    return s_start(r, aof, NULL);
}

int
kj_testredis_start_acl(kj_testredis_t *r, bool aof, const char *acl_line)
{
    return s_start(r, aof, acl_line);
}

int
kj_testredis_restart(kj_testredis_t *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        waitpid(r->pid, NULL, 0);
        r->pid = 0;
    }
    /* The port was just ours; a few tries cover a slow release. */
    for (int tries = 0; tries < 20; tries++) {
        if (s_spawn(r) == 0)
            return 0;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

void
kj_testredis_stop(kj_testredis_t *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        waitpid(r->pid, NULL, 0);
        r->pid = 0;
    }
    if (r->dir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "kj_testredis: could not remove %s\n", r->dir);
        r->dir[0] = '\0';
    }
}
