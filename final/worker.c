/* worker.c - final: the worker loop.
 * Owns: taking, logging and finishing messages; leaving on the exit
 * message; noticing the master's death (Linux: PR_SET_PDEATHSIG). */
#define _DEFAULT_SOURCE /* prctl's constants come with it */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "worker.h"

/* Set by on_master_death(). */
static volatile sig_atomic_t orphaned;
static int own_qid;
static pid_t master_pid;
static struct message exit_order = {.mtype = MSG_EXIT}; /* its own */

/* The kernel sends SIGHUP when the master dies (PR_SET_PDEATHSIG below).
 * The worker may be anywhere: about to sleep in msgrcv() on a queue nobody
 * will write to again. So the handler also puts the worker's own exit
 * order on its queue: behind any data still there, and certain to wake it.
 * msgsnd() is not in POSIX's list of async-signal-safe calls, but on Linux
 * it is a bare system call that touches no library state; with IPC_NOWAIT
 * it cannot block. If the queue is full, the worker has messages to take
 * and sees the flag after the next one. */
static void on_master_death(int sig)
{
    int saved = errno;

    (void)sig;
    /* Anyone may send SIGHUP: a shell relays its terminal's hang-up to its
     * jobs, workers too, and an operator may signal the whole process
     * group. Only a new parent means the master is gone: the kernel gives
     * us one before it sends the death signal, and getppid() is
     * async-signal-safe. */
    if (getppid() == master_pid)
        return;
    orphaned = 1;
    msgsnd(own_qid, &exit_order, MSG_HEADER, IPC_NOWAIT);
    errno = saved;
}

/* Asks the kernel to send SIGHUP when the master dies, and closes the race
 * in which it died before the request: then our parent is already another
 * process. PR_SET_PDEATHSIG is Linux only; elsewhere a worker would poll
 * getppid(). The handler is in place before any signal is let in: until
 * then, a SIGHUP sent to the whole process group (by a shell whose
 * terminal hung up, or by an operator) would have killed us. Returns 0, or -1
 * after saying why not. */
static int watch_master(pid_t master)
{
    struct sigaction sa;
    sigset_t none;

    master_pid = master;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_master_death;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGHUP, &sa, NULL) == -1) {
        log_warn("sigaction SIGHUP");
        return -1;
    }
    if (prctl(PR_SET_PDEATHSIG, SIGHUP) == -1) {
        log_warn("prctl PR_SET_PDEATHSIG");
        return -1;
    }
    /* A worker runs with no signal blocked, as nginx's do: what the master
     * had blocked when it forked is the master's business. */
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) == -1) {
        log_warn("sigprocmask");
        return -1;
    }
    if (getppid() != master)
        raise(SIGHUP);
    return 0;
}

/* Sleeps MS milliseconds: the simulated work. A signal cuts the sleep
 * short; the rest is slept, unless the master has died meanwhile. */
static void work(unsigned ms)
{
    struct timespec t = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    /* Even a zero sleep is a system call, and the kernel may round it up
     * to its timer slack (50 us by default): none at all for no work. */
    if (ms == 0)
        return;
    while (nanosleep(&t, &t) == -1 && errno == EINTR && !orphaned)
        ;
}

/* Handles the message in the record: log it, work, mark it finished. The
 * mark comes last, so a worker killed at any point before it leaves the
 * message unfinished for its replacement (SPEC 6). With --crash-on, a
 * message equal to that text kills the worker right after it is logged:
 * the worst moment, since the message was seen but not finished. */
static void handle(const struct worker_args *a)
{
    struct slot_record *rec = a->rec;
    const struct message *m = &rec->msg;
    char text[ESCAPED_SIZE(MSG_MAX)];

    atomic_store(&rec->busy_ms, monotonic_ms());
    escape(text, m->body.text, m->body.len);
    log_line("received \"%s\"", text);
    if (a->crash_on != NULL && strlen(a->crash_on) == m->body.len &&
        memcmp(a->crash_on, m->body.text, m->body.len) == 0)
        raise(SIGKILL);
    if (!orphaned) /* with the master gone, leave quickly */
        work(a->work_ms);
    atomic_store(&rec->done, m->body.seq);
    atomic_store(&rec->busy_ms, 0);
}

/* True if PID is a live process: not gone, and not a zombie that nobody
 * has reaped yet (with the master dead, its dead children are reparented,
 * and until their new parent reaps them kill() still finds them). */
static bool alive(pid_t pid)
{
    char path[64], buf[256], *paren;
    ssize_t n;
    int fd;

    if (pid <= 0 || (kill(pid, 0) == -1 && errno == ESRCH))
        return false;
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return false;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    /* "PID (COMMAND) STATE ...": the command may hold ") ". */
    paren = strrchr(buf, ')');
    return paren == NULL || paren[1] == '\0' || paren[2] != 'Z';
}

/* The master is gone: take what is left on the queue without waiting, then
 * remove the queue, which nobody else will. Then the queues of slots that
 * have no live worker: those would be left behind by everyone. Two workers
 * may both remove one; the second is told EINVAL or EIDRM. */
static void clean_up_after_master(const struct worker_args *a)
{
    for (;;) {
        if (queue_receive(a->qid, &a->rec->msg, IPC_NOWAIT) == -1) {
            if (errno == EINTR || errno == EBADMSG)
                continue;
            break; /* ENOMSG: empty */
        }
        if (a->rec->msg.mtype == MSG_DATA)
            handle(a);
    }
    log_line("master is gone; removing queue and leaving");
    if (queue_remove(a->qid) == -1 && errno != EINVAL && errno != EIDRM)
        log_warn("msgctl IPC_RMID");
    for (int i = 0; i < WORKERS_MAX; i++) {
        const struct slot_record *r = &a->all[i];
        int qid = atomic_load(&r->qid);

        if (r == a->rec || qid == -1 || alive(atomic_load(&r->pid)))
            continue;
        if (queue_remove(qid) == 0)
            log_line("removed the queue of slot %d, which had no worker", i);
    }
}

void worker_main(const struct worker_args *a)
{
    int status = EXIT_SUCCESS;

    log_set_role("worker");
    own_qid = a->qid;
    exit_order.body.seq = a->serial;
    log_line("started");
    if (watch_master(a->master) == -1)
        _exit(EXIT_FAILURE);
    /* A message its predecessor took and did not finish comes first. */
    if (record_unfinished(a->rec))
        handle(a);

    while (!orphaned) {
        const struct message *m = &a->rec->msg;

        if (queue_receive(a->qid, &a->rec->msg, 0) == -1) {
            if (errno == EINTR)
                continue;
            if (errno == EBADMSG) { /* not one of ours; off the queue now */
                log_line("ignoring a malformed message on the queue");
                continue;
            }
            log_warn("msgrcv"); /* EIDRM: someone removed the queue */
            status = EXIT_FAILURE;
            break;
        }
        if (m->mtype == MSG_EXIT && m->body.seq == a->serial)
            break;
        if (m->mtype == MSG_EXIT) { /* invariant 2 of slot.h */
            log_line("ignoring an exit order meant for another worker");
            continue;
        }
        handle(a);
    }
    if (orphaned)
        clean_up_after_master(a);
    log_line("exited");
    /* _exit(), not exit(): the stdio buffers and atexit handlers copied
     * from the master are the master's to flush. */
    _exit(status);
}
