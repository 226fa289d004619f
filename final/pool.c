/* pool.c - final: starting, watching and replacing workers (SPEC 5, 6).
 * Owns: fork(2) and waitpid(2), the slot states, round-robin, restart
 * delays, --timeout, reload, scaling, status, and the order of a stop. */
#define _DEFAULT_SOURCE /* strsignal() */

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "pool.h"
#include "queue.h"
#include "signals.h"
#include "worker.h"

/* A worker that lived this long was healthy: its replacement starts at
 * once. One that died sooner is restarted after a delay that doubles each
 * time, from RESTART_FIRST_MS up to RESTART_MAX_MS, so a worker that
 * crashes on start costs a few forks a second, not a tight loop. */
#define HEALTHY_MS       2000
#define RESTART_FIRST_MS 100
#define RESTART_MAX_MS   3200

/* How often to retry an exit message that found its queue full. */
#define RETRY_MS 20

static void clear_slot(struct slot *s)
{
    memset(s, 0, sizeof *s);
    s->state = SLOT_FREE;
    s->qid = -1;
}

/* Tells the shared record which queue and worker slot I has now. */
static void publish(struct pool *p, int i)
{
    atomic_store(&p->records[i].qid, p->slots[i].qid);
    atomic_store(&p->records[i].pid, (int)p->slots[i].pid);
}

/* Gives slot I a fresh queue and a zeroed record. */
static int open_slot(struct pool *p, int i)
{
    clear_slot(&p->slots[i]);
    memset(&p->records[i], 0, sizeof p->records[i]);
    p->slots[i].qid = queue_create();
    publish(p, i);
    if (p->slots[i].qid == -1) {
        warn_errno("msgget");
        return -1;
    }
    p->slots[i].state = SLOT_WAITING;
    if (i >= p->high)
        p->high = i + 1;
    return 0;
}

int pool_init(struct pool *p, const struct options *opt,
              void (*close_fds)(void *), void *ctx)
{
    memset(p, 0, sizeof *p);
    p->phase = POOL_RUNNING;
    p->work_ms = opt->work_ms;
    p->crash_on = opt->crash_on;
    p->timeout_secs = opt->timeout_secs;
    p->reloading = -1;
    p->close_fds = close_fds;
    p->ctx = ctx;
    for (int i = 0; i < WORKERS_MAX; i++)
        clear_slot(&p->slots[i]);
    /* Records for every slot there could ever be: the mapping must exist
     * before the first fork() to be shared, and never moves after. */
    p->records = records_create(WORKERS_MAX);
    if (p->records == NULL) {
        warn_errno("mmap");
        return -1;
    }
    for (int i = 0; i < WORKERS_MAX; i++)
        publish(p, i);
    for (p->count = 0; p->count < opt->workers; p->count++) {
        if (open_slot(p, p->count) == -1) {
            pool_destroy(p);
            return -1;
        }
    }
    return 0;
}

/* Sends slot S its exit message if one is due. It goes behind the data
 * already queued, so the worker first handles all of it. */
static void send_exit(struct slot *s)
{
    if (!s->exit_due || s->exit_sent || s->pid == 0)
        return;
    if (queue_send(s->qid, MSG_EXIT, 0, "", 0, IPC_NOWAIT) == 0)
        s->exit_sent = true;
    else if (errno != EAGAIN) /* EAGAIN: full; pool_tick() tries again */
        warn_errno("msgsnd exit message");
}

static void ask_to_exit(struct slot *s)
{
    s->exit_due = true;
    s->exit_sent = false;
    send_exit(s);
}

/* Forks a worker for slot I. Returns 0, or -1 if fork() failed. */
static int spawn(struct pool *p, int i)
{
    struct slot *s = &p->slots[i];
    struct worker_args args = {
        .qid = s->qid,
        .rec = &p->records[i],
        .all = p->records,
        .work_ms = p->work_ms,
        .crash_on = p->crash_on,
        .master = getpid(),
    };
    sigset_t old;
    pid_t pid;

    /* Blocked until the child has put its own dispositions in place: until
     * then it has the master's handlers and self-pipe. */
    if (signals_block(&old) == -1)
        return -1;
    pid = fork();
    if (pid == 0) {
        p->close_fds(p->ctx);
        if (signals_reset_for_worker(&old) == -1)
            _exit(1);
        worker_main(&args);
    }
    signals_unblock(&old);
    if (pid == -1) {
        warn_errno("fork");
        return -1;
    }
    s->pid = pid;
    publish(p, i);
    s->started_ms = monotonic_ms();
    s->state = SLOT_RUNNING;
    s->exit_due = false;
    s->exit_sent = false;
    s->killed = false;
    if (s->redeliver_from != 0) {
        log_line("redelivering message %llu from worker[%ld] to worker[%ld]",
                 (unsigned long long)s->redelivered, (long)s->redeliver_from,
                 (long)pid);
        s->redeliver_from = 0;
    }
    /* A worker that must leave once its queue is empty. */
    if (s->retiring || p->phase == POOL_STOPPING)
        ask_to_exit(s);
    return 0;
}

int pool_start(struct pool *p)
{
    for (int i = 0; i < p->count; i++) {
        if (spawn(p, i) == -1)
            return -1;
    }
    return 0;
}

/* Round-robin over the slots that take messages now. The cursor may point
 * past a count that just shrank: the modulo brings it back in range. */
static int next_slot(struct pool *p)
{
    int i = p->cursor % p->count;

    p->cursor = (i + 1) % p->count;
    return i;
}

const char *pool_dispatch(struct pool *p, const char *msg, size_t len)
{
    int first = next_slot(p);
    bool full = false;

    /* The next slot in turn, or if its queue is full the one after, and so
     * on: BUSY only when every queue is full. IPC_NOWAIT: a full queue
     * fails at once with EAGAIN, so the master never sleeps on one queue
     * while every client waits, and never says OK for a message that is not
     * on a queue. */
    for (int k = 0; k < p->count; k++) {
        struct slot *s = &p->slots[(first + k) % p->count];

        if (queue_send(s->qid, MSG_DATA, p->next_seq + 1, msg, len,
                       IPC_NOWAIT) == 0) {
            p->next_seq++;
            s->dispatched++;
            return "OK\n";
        }
        if (errno == EAGAIN)
            full = true;
        else /* EIDRM, EINVAL: someone removed this queue; try the next */
            warn_errno("msgsnd");
    }
    return full ? "BUSY\n" : "ERR cannot queue message\n";
}

/* Logs how a worker ended, unless it left normally when asked. */
static void log_end(int i, pid_t pid, int status)
{
    if (WIFSIGNALED(status))
        log_line("worker %ld (slot %d) was killed by signal %d (%s)", (long)pid,
                 i, WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (WEXITSTATUS(status) != 0)
        log_line("worker %ld (slot %d) exited with status %d", (long)pid, i,
                 WEXITSTATUS(status));
}

/* A worker died holding a message it had not finished: its replacement
 * takes it first (worker.c). If that message was itself handed on already,
 * it has now cost two workers: it is dropped (SPEC 6: poison). */
static void settle_unfinished(struct pool *p, int i, pid_t dead)
{
    struct slot *s = &p->slots[i];
    struct slot_record *r = &p->records[i];
    uint64_t seq = r->msg.body.seq;

    if (!record_unfinished(r))
        return;
    if (s->redelivered == seq) {
        atomic_store(&r->done, seq);
        p->dropped++;
        log_line("dropping message %llu: worker[%ld] died on it after "
                 "redelivery",
                 (unsigned long long)seq, (long)dead);
        return;
    }
    s->redelivered = seq;
    s->redeliver_from = dead;
}

/* Starts a replacement for a worker that died unasked: at once if the last
 * one lived long enough, else after a growing delay. */
static void schedule_restart(struct pool *p, int i, pid_t dead)
{
    struct slot *s = &p->slots[i];
    int64_t now = monotonic_ms();
    int64_t lived = now - s->started_ms;

    s->restarts++;
    if (lived >= HEALTHY_MS)
        s->backoff_ms = 0;
    else if (s->backoff_ms == 0)
        s->backoff_ms = RESTART_FIRST_MS;
    else if (s->backoff_ms < RESTART_MAX_MS)
        s->backoff_ms *= 2;
    s->state = SLOT_WAITING;
    s->respawn_at = now + s->backoff_ms;
    if (s->backoff_ms > 0)
        log_line("worker %ld (slot %d) died %lld ms after start; restarting "
                 "in %u ms",
                 (long)dead, i, (long long)lived, s->backoff_ms);
}

/* Starts the slot's next worker and says so. */
static void restart(struct pool *p, int i, pid_t old, const char *why)
{
    if (spawn(p, i) == -1) { /* try again later */
        p->slots[i].state = SLOT_WAITING;
        p->slots[i].respawn_at = monotonic_ms() + RESTART_MAX_MS;
        return;
    }
    log_line("%s slot %d: worker %ld replaced by worker %ld", why, i, (long)old,
             (long)p->slots[i].pid);
}

static void reload_next(struct pool *p);

/* Slot I's old worker PID has left: its successor starts, and then the
 * next slot's turn comes. */
static void reload_done(struct pool *p, int i, pid_t pid)
{
    p->slots[i].exit_due = false;
    restart(p, i, pid, "reloaded");
    if (p->reloading == i)
        reload_next(p);
}

/* Slot I's retiring worker has emptied its queue and left: the queue goes. */
static void retire(struct pool *p, int i)
{
    if (queue_remove(p->slots[i].qid) == -1)
        warn_errno("msgctl IPC_RMID");
    clear_slot(&p->slots[i]);
    publish(p, i);
    log_line("slot %d retired", i);
    if (p->grow_pending > 0) {
        p->grow_pending--;
        pool_grow(p);
    }
}

/* What slot I needs once its worker PID has ended with STATUS. A worker
 * "was asked" when it exited 0 after we sent it an exit message: it left
 * with its queue empty. Any other end is a death: its unfinished message is
 * settled and, unless we are terminating, a new worker takes the queue. */
static void worker_ended(struct pool *p, int i, pid_t pid, int status)
{
    struct slot *s = &p->slots[i];
    bool asked = WIFEXITED(status) && WEXITSTATUS(status) == 0 && s->exit_sent;

    s->pid = 0;
    publish(p, i);
    /* Nobody works on a message in this slot now. Left set, the time would
     * make --timeout kill the next worker before it took anything. */
    atomic_store(&p->records[i].busy_ms, 0);
    if (!asked)
        log_end(i, pid, status);
    if (p->phase == POOL_TERMINATING) {
        s->state = SLOT_DONE;
        return;
    }
    if (asked) {
        if (s->retiring)
            retire(p, i);
        else if (p->phase == POOL_STOPPING)
            s->state = SLOT_DONE;
        else /* reloading: the next worker takes over the queue */
            reload_done(p, i, pid);
        return;
    }
    settle_unfinished(p, i, pid);
    /* In a stop, a successor is needed only for something to hand on: a
     * message to redeliver, or a queue not yet empty (if only its exit
     * message is left, the successor takes that and leaves). Otherwise a
     * worker that always dies on its way out would keep the stop going. */
    if (p->phase == POOL_STOPPING && s->redeliver_from == 0 &&
        queue_depth(s->qid) <= 0) {
        s->state = SLOT_DONE;
        return;
    }
    if (s->state == SLOT_RELOADING) { /* died on the way out */
        reload_done(p, i, pid);
        return;
    }
    /* A death. The replacement, when it comes, takes the same queue; in a
     * stop or a retirement it too gets an exit message (spawn()). */
    schedule_restart(p, i, pid);
    if (s->backoff_ms == 0)
        restart(p, i, pid, "restarted");
}

void pool_reap(struct pool *p)
{
    int status;
    pid_t pid;

    /* One SIGCHLD may stand for several children: reap until none is
     * left to reap (WNOHANG: 0 means the others still run). */
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int i = 0; i < p->high; i++) {
            if (p->slots[i].pid == pid) {
                worker_ended(p, i, pid, status);
                break;
            }
        }
    }
    if (pid == -1 && errno != ECHILD)
        warn_errno("waitpid");
}

/* Kills the worker of slot I if it has been on one message too long. */
static void check_stuck(struct pool *p, int i, int64_t now)
{
    struct slot *s = &p->slots[i];
    int64_t busy = atomic_load(&p->records[i].busy_ms);

    if (p->timeout_secs == 0 || s->pid == 0 || s->killed || busy == 0)
        return;
    if (now - busy < (int64_t)p->timeout_secs * 1000)
        return;
    log_line("worker %ld (slot %d) stuck on one message for over %u s; "
             "killing it",
             (long)s->pid, i, p->timeout_secs);
    if (kill(s->pid, SIGKILL) == -1)
        warn_errno("kill");
    s->killed = true;
}

void pool_tick(struct pool *p)
{
    int64_t now = monotonic_ms();

    for (int i = 0; i < p->high; i++) {
        struct slot *s = &p->slots[i];

        if (s->state == SLOT_WAITING && s->respawn_at <= now &&
            p->phase != POOL_TERMINATING) {
            if (spawn(p, i) == 0)
                log_line("slot %d: started worker %ld (restart %u)", i,
                         (long)s->pid, s->restarts);
            else
                s->respawn_at = now + RESTART_MAX_MS;
        }
        check_stuck(p, i, now);
        send_exit(s);
    }
}

int64_t pool_next_tick(const struct pool *p)
{
    int64_t now = monotonic_ms(), next = -1;

    for (int i = 0; i < p->high; i++) {
        const struct slot *s = &p->slots[i];
        int64_t busy = atomic_load(&p->records[i].busy_ms);
        int64_t at = -1;

        if (s->state == SLOT_WAITING)
            at = s->respawn_at;
        else if (s->exit_due && !s->exit_sent && s->pid != 0)
            at = now + RETRY_MS;
        else if (p->timeout_secs > 0 && s->pid != 0 && !s->killed && busy)
            at = busy + (int64_t)p->timeout_secs * 1000;
        if (at == -1)
            continue;
        at = at > now ? at - now : 0;
        if (next == -1 || at < next)
            next = at;
    }
    /* A worker may take a message at any time without telling us: with a
     * timeout, look again at least once a second. */
    if (p->timeout_secs > 0 && (next == -1 || next > 1000))
        next = 1000;
    return next;
}

/* Sends the exit message to the next slot to reload, from p->reloading on;
 * its replacement starts when it has left (worker_ended()). */
static void reload_next(struct pool *p)
{
    for (int i = p->reloading + 1; i < p->count; i++) {
        struct slot *s = &p->slots[i];

        if (s->state == SLOT_RUNNING) {
            p->reloading = i;
            s->state = SLOT_RELOADING;
            ask_to_exit(s);
            return;
        }
    }
    p->reloading = -1;
    log_line("reload finished");
    if (p->reload_again) {
        p->reload_again = false;
        pool_reload(p);
    }
}

void pool_reload(struct pool *p)
{
    if (p->reloading != -1) {
        p->reload_again = true;
        return;
    }
    log_line("reloading %d workers, one slot at a time", p->count);
    p->reloading = -1;
    reload_next(p);
}

void pool_grow(struct pool *p)
{
    int i = p->count;

    if (i == WORKERS_MAX) {
        log_line("already %d workers; not adding one", WORKERS_MAX);
        return;
    }
    if (p->slots[i].retiring) { /* its queue is still in use */
        p->grow_pending++;
        return;
    }
    if (open_slot(p, i) == -1)
        return;
    p->count++;
    if (spawn(p, i) == -1) {
        p->slots[i].respawn_at = monotonic_ms() + RESTART_MAX_MS;
        p->slots[i].state = SLOT_WAITING;
    }
    log_line("added slot %d (worker %ld); %d workers", i, (long)p->slots[i].pid,
             p->count);
}

void pool_shrink(struct pool *p)
{
    struct slot *s;

    if (p->grow_pending > 0) { /* a pending SIGTTIN and this one cancel */
        p->grow_pending--;
        return;
    }
    if (p->count == 1) {
        log_line("only one worker left; not removing it");
        return;
    }
    s = &p->slots[--p->count];
    /* The worker leaves once its queue is empty; then the queue goes. A
     * slot waiting for a restart gets its worker now (pool_tick()). */
    s->retiring = true;
    if (s->pid != 0)
        ask_to_exit(s);
    else
        s->respawn_at = 0;
    log_line("retiring slot %d (worker %ld); %d workers", p->count,
             (long)s->pid, p->count);
    if (p->reloading == p->count) /* it was being reloaded: that is over */
        reload_next(p);
}

void pool_status(const struct pool *p, int connections)
{
    for (int i = 0; i < WORKERS_MAX; i++) {
        const struct slot *s = &p->slots[i];

        if (s->state == SLOT_FREE)
            continue;
        log_line("status: slot %d, worker %ld, %lu dispatched, %ld queued, "
                 "%u restarts%s",
                 i, (long)s->pid, s->dispatched, queue_depth(s->qid),
                 s->restarts, s->retiring ? ", retiring" : "");
    }
    /* next_seq counts every message ever queued, also by retired slots. */
    log_line("status: %d worker%s, %llu dispatched, %lu dropped, "
             "%d connection%s",
             p->count, p->count == 1 ? "" : "s",
             (unsigned long long)p->next_seq, p->dropped, connections,
             connections == 1 ? "" : "s");
}

void pool_stop(struct pool *p)
{
    p->phase = POOL_STOPPING;
    p->reloading = -1;
    for (int i = 0; i < WORKERS_MAX; i++) {
        struct slot *s = &p->slots[i];

        if (s->state == SLOT_FREE)
            continue;
        if (s->pid == 0) { /* waiting for a restart: start it now */
            s->respawn_at = 0;
            continue; /* pool_tick() starts it and asks it to exit */
        }
        if (!s->exit_sent)
            ask_to_exit(s);
    }
}

/* SIGTERM, then SIGCONT: a stopped worker (SIGSTOP, a debugger, Ctrl-Z)
 * keeps SIGTERM pending until it runs again, and the master would wait for
 * it forever. SIGCONT wakes it, and the pending SIGTERM is delivered first. */
static void terminate_worker(pid_t pid)
{
    if (kill(pid, SIGTERM) == -1 || kill(pid, SIGCONT) == -1)
        warn_errno("kill");
}

void pool_terminate(struct pool *p)
{
    p->phase = POOL_TERMINATING;
    for (int i = 0; i < WORKERS_MAX; i++) {
        struct slot *s = &p->slots[i];

        if (s->pid != 0)
            terminate_worker(s->pid);
        if (s->pid == 0 && s->state != SLOT_FREE)
            s->state = SLOT_DONE;
    }
}

bool pool_finished(const struct pool *p)
{
    if (p->phase == POOL_RUNNING)
        return false;
    for (int i = 0; i < WORKERS_MAX; i++) {
        if (p->slots[i].pid != 0 || p->slots[i].state == SLOT_WAITING)
            return false;
    }
    return true;
}

void pool_destroy(struct pool *p)
{
    for (int i = 0; i < WORKERS_MAX; i++) {
        if (p->slots[i].qid != -1 && queue_remove(p->slots[i].qid) == -1)
            warn_errno("msgctl IPC_RMID");
        clear_slot(&p->slots[i]);
        if (p->records != NULL)
            publish(p, i);
    }
    if (p->records != NULL)
        records_destroy(p->records, WORKERS_MAX);
    p->records = NULL;
}
