/* kj_assert: an assertion for programming errors that stays on in release
 * builds (the default build defines NDEBUG, so assert() would vanish).
 * Outside input must never reach one: it is for "this cannot happen". */
#ifndef KJ_ASSERT_H
#define KJ_ASSERT_H

/* Write one JSON line to stderr naming file:line, the function and the
 * condition, then abort(). No allocation, no locks, no stdio: it works in
 * any thread, inside kj_log, in a signal handler and before kj_log_init. */
_Noreturn void
kj_assert_fail(const char *cond, const char *file, int line, const char *func)
    __attribute__((cold));

/* Abort with a log line if cond is false. cond is evaluated exactly once,
 * whatever NDEBUG says. */
#define kj_assert(cond)                                                        \
    (__builtin_expect(!!(cond), 1)                                             \
         ? (void)0                                                             \
         : kj_assert_fail(#cond, __FILE__, __LINE__, __func__))

#endif
