/* test_log.c - final/log.c: each line names the process that wrote it. A
 * worker keeps its pid from log_set_role() rather than asking getpid() for
 * every line; a child made by fork() must take its own there, not keep the
 * one its parent had taken before the fork. */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

static void a_forked_worker_logs_its_own_pid(void **state)
{
    char got[256], want[256];
    int fds[2], saved, status;
    pid_t child;
    ssize_t n;

    (void)state;
    /* The lines go to standard output: a pipe for this test. cmocka's own
     * output is flushed first and goes back to the terminal after. */
    assert_int_equal(pipe(fds), 0);
    fflush(stdout);
    saved = dup(STDOUT_FILENO);
    assert_true(saved != -1);
    assert_true(dup2(fds[1], STDOUT_FILENO) != -1);
    log_set_role("worker");
    log_line("parent");
    child = fork();
    assert_true(child != -1);
    if (child == 0) {
        log_set_role("worker");
        log_line("child");
        _exit(0);
    }
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(dup2(saved, STDOUT_FILENO) != -1);
    close(saved);
    close(fds[1]);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    n = read(fds[0], got, sizeof got - 1);
    assert_true(n > 0);
    got[n] = '\0';
    snprintf(want, sizeof want, "worker[%ld]: parent\nworker[%ld]: child\n",
             (long)getpid(), (long)child);
    assert_string_equal(got, want);
    close(fds[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_forked_worker_logs_its_own_pid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
