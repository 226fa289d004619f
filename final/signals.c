/* signals.c - final: signal handlers and the self-pipe (chapter 5).
 * Owns: sigaction(2), the handlers, which signals are requests, and the
 * signal mask (around fork(), and while the loop waits). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"
#include "signals.h"

/* The signals the master handles, the event each one is, and what a
 * worker does with it. A worker ignores Ctrl-C, which reaches the whole
 * process group: it leaves only when the master says so. It ignores the
 * operator's other requests, which are the master's business and reach
 * workers too when sent to a process group or by name (`pkill -USR1
 * server`): SIGUSR1, whose default would kill it, and SIGTTIN and SIGTTOU,
 * for one more reason: writing to a terminal with `stty tostop` in the
 * background, it would be stopped by SIGTTOU, which the kernel does not
 * send to a process that ignores it (it lets the write through). SIGTERM
 * ends it: that is how a stop at once ends the workers. */
static const struct {
    int sig;
    enum sig_event ev;
    void (*in_worker)(int);
} handled[] = {
    {SIGINT, EV_INT, SIG_IGN},         {SIGTERM, EV_TERM, SIG_DFL},
    {SIGHUP, EV_HUP_PROCESS, SIG_DFL}, {SIGCHLD, EV_CHILD, SIG_DFL},
    {SIGUSR1, EV_STATUS, SIG_IGN},     {SIGTTIN, EV_GROW, SIG_IGN},
    {SIGTTOU, EV_SHRINK, SIG_IGN},
};
#define N_HANDLED (sizeof handled / sizeof handled[0])

static int self_pipe[2] = {-1, -1};
static sigset_t wait_mask;
static bool had_terminal;

/* The kernel sends SIGTTIN and SIGTTOU to a background process group that
 * reads from or writes to its terminal (job control), and SIGHUP when the
 * terminal hangs up: si_code is then SI_KERNEL, where kill(2) gives
 * SI_USER. Job control is not a request to scale (SPEC 5): no byte. */
static void on_signal(int sig, siginfo_t *info, void *context)
{
    int saved = errno; /* the interrupted code may be about to read errno */
    unsigned char ev = EV_NONE;

    (void)context;
    for (size_t i = 0; i < N_HANDLED; i++) {
        if (handled[i].sig == sig)
            ev = (unsigned char)handled[i].ev;
    }
    if (info->si_code == SI_KERNEL) {
        if (sig == SIGTTIN || sig == SIGTTOU)
            ev = EV_NONE;
        else if (sig == SIGHUP)
            ev = EV_HUP_KERNEL;
    }
    /* write(2) is async-signal-safe; printf() and malloc() are not. The
     * pipe holds 64 KiB (pipe(7)), one byte per signal, and the loop
     * empties it on every pass: it would take 65,536 signals between two
     * passes of the loop to fill it. A byte that does not fit is lost
     * (EAGAIN), with its signal. */
    if (ev != EV_NONE) {
        ssize_t n = write(self_pipe[1], &ev, 1);

        (void)n;
    }
    errno = saved;
}

static void handled_set(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < N_HANDLED; i++)
        sigaddset(set, handled[i].sig);
}

/* True if the process has a controlling terminal: /dev/tty is always it.
 * After a hang-up the kernel takes the terminal from every process of its
 * session, and opening /dev/tty fails (ENXIO); a pseudo-terminal whose far
 * end has closed fails it already, a moment before the hang-up (EIO). */
static bool have_terminal(void)
{
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

    if (fd == -1)
        return false;
    close(fd);
    return true;
}

/* SIGTTIN and SIGTTOU blocked except while the loop waits: the kernel lets
 * a process that blocks SIGTTOU write to its terminal even in the
 * background with `stty tostop`, rather than send it SIGTTOU and make it
 * try again (a handled SIGTTOU would make every log line loop for ever).
 * The loop writes nothing while it waits, and an operator's SIGTTIN or
 * SIGTTOU that comes meanwhile is delivered at the next wait. The other
 * handled signals are let in, whatever mask we were started with. */
static int set_mask(void)
{
    sigset_t handled_now, job_control;

    handled_set(&handled_now);
    sigemptyset(&job_control);
    sigaddset(&job_control, SIGTTIN);
    sigaddset(&job_control, SIGTTOU);
    if (sigprocmask(SIG_UNBLOCK, &handled_now, NULL) == -1 ||
        sigprocmask(SIG_BLOCK, &job_control, &wait_mask) == -1) {
        log_warn("sigprocmask");
        return -1;
    }
    sigdelset(&wait_mask, SIGTTIN);
    sigdelset(&wait_mask, SIGTTOU);
    return 0;
}

int signals_init(void)
{
    struct sigaction sa;

    /* A client that leaves before its reply would make write() raise
     * SIGPIPE and kill the master; ignored, write() fails with EPIPE. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        log_warn("signal SIGPIPE");
        return -1;
    }
    if (pipe(self_pipe) == -1) {
        log_warn("pipe");
        return -1;
    }
    /* Non-blocking at both ends: a handler must never block on a full pipe,
     * and draining must stop when it is empty. Close-on-exec: nothing we
     * might exec has any use for it. */
    for (int i = 0; i < 2; i++) {
        if (set_nonblocking(self_pipe[i]) == -1)
            return -1;
        if (fcntl(self_pipe[i], F_SETFD, FD_CLOEXEC) == -1) {
            log_warn("fcntl FD_CLOEXEC");
            return -1;
        }
    }
    had_terminal = have_terminal();

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    /* Every handled signal is blocked while any handler runs. */
    handled_set(&sa.sa_mask);
    /* SA_SIGINFO: the handler learns who sent the signal (si_code).
     * SA_RESTART: reads and writes are restarted after the handler instead
     * of failing with EINTR; select() and msgsnd() never are (signal(7)).
     * SA_NOCLDSTOP: no SIGCHLD when a worker is only stopped (SIGSTOP). */
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NOCLDSTOP;
    for (size_t i = 0; i < N_HANDLED; i++) {
        if (sigaction(handled[i].sig, &sa, NULL) == -1) {
            log_warn("sigaction");
            return -1;
        }
    }
    return set_mask();
}

int signals_fd(void)
{
    return self_pipe[0];
}

enum sig_event signals_next(void)
{
    static unsigned char buf[64];
    static ssize_t len, pos;

    if (pos == len) {
        pos = 0;
        len = read(self_pipe[0], buf, sizeof buf);
        if (len <= 0) { /* EAGAIN: empty */
            len = 0;
            return EV_NONE;
        }
    }
    return (enum sig_event)buf[pos++];
}

const sigset_t *signals_wait_mask(void)
{
    return &wait_mask;
}

bool signals_terminal_gone(void)
{
    return had_terminal && !have_terminal();
}

int signals_block(sigset_t *old)
{
    sigset_t set;

    handled_set(&set);
    if (sigprocmask(SIG_BLOCK, &set, old) == -1) {
        log_warn("sigprocmask");
        return -1;
    }
    return 0;
}

int signals_restore(const sigset_t *old)
{
    if (sigprocmask(SIG_SETMASK, old, NULL) == -1) {
        log_warn("sigprocmask");
        return -1;
    }
    return 0;
}

int signals_reset_for_worker(void)
{
    struct sigaction sa;

    close(self_pipe[0]);
    close(self_pipe[1]);
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < N_HANDLED; i++) {
        sa.sa_handler = handled[i].in_worker;
        if (sigaction(handled[i].sig, &sa, NULL) == -1) {
            log_warn("sigaction");
            return -1;
        }
    }
    return 0;
}
