/* kj_signal: blocked signals arrive through the signalfd. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include "kj_signal.h"

TestSuite(signal, .timeout = 30);

Test(signal, usage_example)
{
    int fd = kj_signal_init();
    cr_assert(ge(int, fd, 0));
    /* Nothing pending yet. */
    cr_assert(eq(int, kj_signal_read(fd), 0));
    raise(SIGTERM);
    /* Still alive: the signal waits in the fd for the poll loop. */
    struct pollfd p = {fd, POLLIN, 0};
    cr_assert(eq(int, poll(&p, 1, 5000), 1));
    cr_assert(eq(int, kj_signal_read(fd), SIGTERM));
    cr_assert(eq(int, kj_signal_read(fd), 0));
    close(fd);
}

Test(signal, several_signals)
{
    int fd = kj_signal_init();
    cr_assert(ge(int, fd, 0));
    raise(SIGHUP);
    raise(SIGINT);
    int seen_hup = 0, seen_int = 0;
    for (int i = 0; i < 2; i++) {
        int s = kj_signal_read(fd);
        seen_hup += s == SIGHUP;
        seen_int += s == SIGINT;
    }
    cr_assert(eq(int, seen_hup, 1));
    cr_assert(eq(int, seen_int, 1));
    close(fd);
}

Test(signal, sigpipe_ignored)
{
    int fd = kj_signal_init();
    cr_assert(ge(int, fd, 0));
    int pipefd[2];
    cr_assert(eq(int, pipe(pipefd), 0));
    close(pipefd[0]);
    /* Without the ignore this write would kill the test process. */
    errno = 0;
    cr_assert(eq(long, (long)write(pipefd[1], "x", 1), -1L));
    cr_assert(eq(int, errno, EPIPE));
    close(pipefd[1]);
    close(fd);
}
