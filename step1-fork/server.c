/* server.c - chapter 1: a master process forks N workers and waits for them.
 *
 * Usage: ./server [-w N]        N workers, 1..64 (default 3)
 *
 * The master forks N children, the workers. Each worker logs that it started,
 * does a little work (it sleeps), logs that it is leaving and ends with
 * _exit(). The master waits for every child with waitpid(), logs how each one
 * ended, and exits 0 once all are reaped.
 *
 * New here: fork(2), getpid(2), waitpid(2) with the WIFEXITED/WEXITSTATUS
 * macros, and _exit(2) in a child. util.c shows why every log line is one
 * write(2) and not a printf().
 *
 * Read next: ../step2-msgqueue/server.c gives each worker a message queue.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define WORKERS_DEFAULT 3
#define WORKERS_MAX     64

static void usage(FILE *out)
{
    fprintf(out,
            "usage: server [-w N]\n"
            "  -w N   worker count, 1..%d (default %d)\n",
            WORKERS_MAX, WORKERS_DEFAULT);
}

/* Parses a worker count: digits only, 1..WORKERS_MAX. Returns -1 if bad. */
static int parse_workers(const char *s)
{
    char *end;
    long n;

    if (*s < '0' || *s > '9') /* strtol() would take " 2" and "+2" too */
        return -1;
    errno = 0;
    n = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || n < 1 || n > WORKERS_MAX)
        return -1;
    return (int)n;
}

/* What a worker does: announce itself, work for a moment, leave.
 * Slot i sleeps (i + 1) tenths of a second, so the workers end one by one.
 * tv_nsec must stay below one second (or nanosleep() fails with EINVAL), so
 * whole seconds go in tv_sec. */
static void worker_main(int slot)
{
    struct timespec work = {(slot + 1) / 10,
                            (long)((slot + 1) % 10) * 100 * 1000 * 1000};

    set_role("worker");
    log_line("started");
    while (nanosleep(&work, &work) == -1 && errno == EINTR)
        ; /* a signal cut the sleep short: sleep what is left */
    log_line("exited");

    /* _exit(), not exit(): exit() would run the atexit handlers and flush
     * the stdio buffers this process inherited from the master, so anything
     * the master had buffered would come out a second time. */
    _exit(EXIT_SUCCESS);
}

/* Logs how one child ended: its exit status, or the signal that killed it. */
static void log_child_status(pid_t pid, int status)
{
    if (WIFEXITED(status))
        log_line("worker %ld exited with status %d", (long)pid,
                 WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        log_line("worker %ld was killed by signal %d (%s)", (long)pid,
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
}

/* Waits for every child. A child that has ended but is not yet waited for is
 * a zombie: the kernel keeps its pid and exit status until we collect them.
 * Returns 0, or -1 if waitpid() failed for a reason other than "no more
 * children" (ECHILD). */
static int reap_all(void)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);

        if (pid == -1) {
            if (errno == EINTR)
                continue;
            if (errno == ECHILD) /* every child has been reaped */
                return 0;
            warn_errno("waitpid");
            return -1;
        }
        log_child_status(pid, status);
    }
}

int main(int argc, char *argv[])
{
    int workers = WORKERS_DEFAULT;
    int status = EXIT_SUCCESS;
    int opt;

    while ((opt = getopt(argc, argv, "w:h")) != -1) {
        switch (opt) {
        case 'w':
            workers = parse_workers(optarg);
            if (workers == -1) {
                fprintf(stderr, "server: bad worker count '%s'\n", optarg);
                usage(stderr);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return EXIT_SUCCESS;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    log_line("started");
    for (int slot = 0; slot < workers; slot++) {
        pid_t pid = fork();

        if (pid == -1) { /* EAGAIN: too many processes; stop here, reap */
            warn_errno("fork");
            status = EXIT_FAILURE;
            break;
        }
        if (pid == 0)
            worker_main(slot); /* never returns */
    }

    if (reap_all() == -1)
        status = EXIT_FAILURE;
    log_line("exited");
    return status;
}
