/* kj_signal: signals as a file descriptor for the poll loop. SIGTERM and
 * SIGINT ask to drain, SIGHUP asks to reload; SIGPIPE is ignored. Call
 * kj_signal_init before starting any thread so every thread inherits the
 * blocked mask. */
#ifndef KJ_SIGNAL_H
#define KJ_SIGNAL_H

/* Block TERM/INT/HUP/QUIT, ignore PIPE, return a nonblocking signalfd. */
int
kj_signal_init(void);

/* Read one pending signal number from the fd, 0 if none. */
int
kj_signal_read(int fd);

#endif
