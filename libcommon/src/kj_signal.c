/* kj_signal: signals as a file descriptor (pgbouncer handles them in its
 * event loop the same way), so no handler runs at an arbitrary point. */
#include "kj_signal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "kj_log.h"

int
kj_signal_init(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    /* Blocked here, before any thread starts, so every thread inherits the
     * mask and the signals wait in the fd instead of killing a thread. */
    int rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (rc != 0) {
        kj_error("pthread_sigmask failed", "s:error", strerror(rc));
        return -1;
    }
    /* A peer closing a socket mid-write must be an EPIPE, not a death. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        kj_error("signalfd failed", "s:error", strerror(err));
        return -1;
    }
    return fd;
}

int
kj_signal_read(int fd)
{
    struct signalfd_siginfo si;
    for (;;) {
        ssize_t n = read(fd, &si, sizeof(si));
        if (n == (ssize_t)sizeof(si))
            return (int)si.ssi_signo;
        if (n < 0 && errno == EINTR)
            continue;
        return 0;
    }
}
