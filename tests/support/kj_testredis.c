#include "kj_testredis.h"

#include <arpa/inet.h>
#include <netinet/in.h>
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

int
kj_test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
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

int
kj_testredis_start(kj_testredis_t *r, bool aof)
{
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/kj-redis-XXXXXX");
    if (!mkdtemp(r->dir))
        return -1;
    /* Retry on the rare race where another process takes the port. */
    for (int tries = 0; tries < 5; tries++) {
        r->port = kj_test_free_port();
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
            execl(KJ_REDIS_SERVER, "redis-server", "--bind", "127.0.0.1",
                  "--port", port, "--dir", r->dir, "--save", "",
                  "--appendonly", aof ? "yes" : "no", "--appendfsync",
                  "everysec", "--protected-mode", "yes", (char *)NULL);
            _exit(127);
        }
        r->pid = pid;
        for (int i = 0; i < 100; i++) {
            if (s_ping(r->port) == 0) {
                snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d/0",
                         r->port);
                return 0;
            }
            int status;
            if (waitpid(pid, &status, WNOHANG) == pid)
                break; /* died: port taken, try another */
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        r->pid = 0;
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
