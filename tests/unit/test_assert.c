/* kj_assert: stays on with NDEBUG (as in the default RelWithDebInfo build),
 * logs one JSON line naming file:line and the condition, then aborts. */
#define NDEBUG 1 /* what a release build compiles with */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kj_assert.h"

#ifndef NDEBUG
#error "this file must be built with NDEBUG to prove kj_assert stays on"
#endif

static int s_calls;

static int
s_count(int v)
{
    s_calls++;
    return v;
}

Test(assert, true_condition_is_evaluated_once_and_passes)
{
    s_calls = 0;
    kj_assert(s_count(1) == 1);
    cr_assert(eq(int, s_calls, 1));
}

Test(assert, false_condition_aborts_under_ndebug, .signal = SIGABRT)
{
    int zero = s_count(0);
    kj_assert(zero == 1);
}

/* Run a failing kj_assert in a child with stderr on a pipe; returns the
 * wait status and the text the child wrote into out. */
static int
s_run_child(int *line, char *out, size_t size)
{
    int fds[2];
    cr_assert(eq(int, pipe(fds), 0));
    *line = __LINE__ + 7;
    pid_t pid = fork();
    cr_assert(ge(int, pid, 0));
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        const char *who = "kujo";
        kj_assert(strcmp(who, "\"quoted\"\\") == 0);
        _exit(0); /* not reached when kj_assert works */
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    while (len + 1 < size && (n = read(fds[0], out + len, size - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(fds[0]);
    int status = 0;
    cr_assert(eq(int, waitpid(pid, &status, 0), pid));
    return status;
}

Test(assert, failure_logs_file_line_and_condition_as_json)
{
    char out[2048];
    int line = 0;
    int status = s_run_child(&line, out, sizeof out);
    bool signaled = WIFSIGNALED(status);
    cr_assert(signaled, "child exited instead of aborting");
    int sig = WTERMSIG(status);
    cr_assert(eq(int, sig, SIGABRT));

    /* One line, valid JSON, the usual log fields. */
    size_t len = strlen(out);
    cr_assert(gt(sz, len, 0));
    cr_assert(eq(chr, out[len - 1], '\n'));
    cr_assert(eq(ptr, strchr(out, '\n'), out + len - 1), "%s", out);
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    cr_assert_not_null(j, "not JSON (%s): %s", jerr.text, out);
    char at[64];
    snprintf(at, sizeof at, "test_assert.c:%d", line);
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "at")), at));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "level")),
                 "error"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "msg")),
                 "assertion failed"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "cond")),
                 "strcmp(who, \"\\\"quoted\\\"\\\\\") == 0"));
    cr_assert(eq(str, (char *)json_string_value(json_object_get(j, "func")),
                 "s_run_child"));
    const char *ts = json_string_value(json_object_get(j, "ts"));
    cr_assert_not_null(ts);
    /* 2026-12-04T15:35:04.123Z */
    cr_assert(eq(sz, strlen(ts), 24), "%s", ts);
    cr_assert(eq(chr, ts[10], 'T'));
    cr_assert(eq(chr, ts[23], 'Z'));
    json_decref(j);
}
