/* signals.c - final: signal handlers and the self-pipe (chapter 5).
 * Owns: sigaction(2), the handlers, and the signal mask around fork(). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"
#include "signals.h"

/* The signals the master handles, and the event each one counts as. */
static const struct {
    int sig;
    enum sig_event ev;
} handled[] = {
    {SIGINT, EV_STOP},    {SIGTERM, EV_STOP},   {SIGCHLD, EV_CHILD},
    {SIGHUP, EV_RELOAD},  {SIGUSR1, EV_STATUS}, {SIGTTIN, EV_GROW},
    {SIGTTOU, EV_SHRINK},
};
#define N_HANDLED (sizeof handled / sizeof handled[0])

static int self_pipe[2] = {-1, -1};

/* Written only by the handler, read by the loop. Every handled signal is
 * blocked while any handler runs (sa_mask), so one handler never interrupts
 * another halfway through an increment. */
static volatile sig_atomic_t counts[EV_COUNT];
static volatile sig_atomic_t last_stop;
static int seen[EV_COUNT]; /* the loop's own: counts it has taken */

static void on_signal(int sig)
{
    int saved = errno; /* the interrupted code may be about to read errno */
    ssize_t n;

    for (size_t i = 0; i < N_HANDLED; i++) {
        if (handled[i].sig == sig)
            counts[handled[i].ev]++;
    }
    if (sig == SIGINT || sig == SIGTERM)
        last_stop = sig;
    /* write(2) is async-signal-safe; printf() and malloc() are not. */
    n = write(self_pipe[1], "", 1);
    (void)n; /* EAGAIN: the pipe is full, a wake-up is pending anyway */
    errno = saved;
}

static void handled_set(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < N_HANDLED; i++)
        sigaddset(set, handled[i].sig);
}

int signals_init(void)
{
    struct sigaction sa;

    /* A client that leaves before its reply would make write() raise
     * SIGPIPE and kill the master; ignored, write() fails with EPIPE. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        warn_errno("signal SIGPIPE");
        return -1;
    }
    if (pipe(self_pipe) == -1) {
        warn_errno("pipe");
        return -1;
    }
    /* Non-blocking at both ends: a handler must never block on a full pipe,
     * and draining must stop when it is empty. Close-on-exec: nothing we
     * might exec has any use for it. */
    for (int i = 0; i < 2; i++) {
        if (set_nonblocking(self_pipe[i]) == -1)
            return -1;
        if (fcntl(self_pipe[i], F_SETFD, FD_CLOEXEC) == -1) {
            warn_errno("fcntl FD_CLOEXEC");
            return -1;
        }
    }

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    handled_set(&sa.sa_mask);
    /* SA_RESTART: reads and writes are restarted after the handler instead
     * of failing with EINTR; select() and msgsnd() never are (signal(7)).
     * SA_NOCLDSTOP: no SIGCHLD when a worker is only stopped (SIGSTOP). */
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    for (size_t i = 0; i < N_HANDLED; i++) {
        if (sigaction(handled[i].sig, &sa, NULL) == -1) {
            warn_errno("sigaction");
            return -1;
        }
    }
    return 0;
}

int signals_fd(void)
{
    return self_pipe[0];
}

void signals_drain(void)
{
    char buf[64];

    while (read(self_pipe[0], buf, sizeof buf) > 0)
        ;
}

int signals_take(enum sig_event ev)
{
    int now = counts[ev];
    int n = now - seen[ev];

    seen[ev] = now;
    return n;
}

const char *signals_stop_name(void)
{
    return last_stop == SIGTERM ? "SIGTERM" : "SIGINT";
}

int signals_block(sigset_t *old)
{
    sigset_t set;

    handled_set(&set);
    if (sigprocmask(SIG_BLOCK, &set, old) == -1) {
        warn_errno("sigprocmask");
        return -1;
    }
    return 0;
}

int signals_unblock(const sigset_t *old)
{
    if (sigprocmask(SIG_SETMASK, old, NULL) == -1) {
        warn_errno("sigprocmask");
        return -1;
    }
    return 0;
}

int signals_reset_for_worker(const sigset_t *old)
{
    struct sigaction dfl;

    close(self_pipe[0]);
    close(self_pipe[1]);
    memset(&dfl, 0, sizeof dfl);
    sigemptyset(&dfl.sa_mask);
    for (size_t i = 0; i < N_HANDLED; i++) {
        /* Ctrl-C reaches the whole process group; a worker leaves only when
         * the master says so, after its queue is empty. */
        dfl.sa_handler = handled[i].sig == SIGINT ? SIG_IGN : SIG_DFL;
        if (sigaction(handled[i].sig, &dfl, NULL) == -1) {
            warn_errno("sigaction");
            return -1;
        }
    }
    return signals_unblock(old);
}
