/* pool.c - final: the pool's mechanism (SPEC 1, 4, 6).
 * Owns: the slots' queues, fork(2) and waitpid(2), round-robin, restart
 * delays, --timeout, and carrying out what slot_transition() decides. What the
 * operator's signals do with it is control.c's. */
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

/* How often to try again an exit order that found its queue full. */
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

/* The errors of a call on a queue that no longer exists. */
static bool queue_gone(int err)
{
    return err == EIDRM || err == EINVAL;
}

/* Gives slot I a new queue. Returns 0, or -1 after saying why not. */
static int make_queue(struct pool *p, int i)
{
    int qid = queue_create();

    if (qid == -1) {
        log_warn("msgget");
        return -1;
    }
    p->slots[i].qid = qid;
    publish(p, i);
    return 0;
}

/* Only the pool removes its queues, but anyone with the same user id can
 * (ipcrm -q). The messages on it are gone with it, and its worker fails in
 * msgrcv(); without a new queue the slot would fail for ever. */
static int replace_lost_queue(struct pool *p, int i)
{
    int old = p->slots[i].qid;

    if (make_queue(p, i) == -1)
        return -1;
    log_line("the queue of slot %d (%d) was removed by someone else; it has "
             "a new one (%d)",
             i, old, p->slots[i].qid);
    return 0;
}

long pool_queued(const struct pool *p, int i)
{
    if (p->slots[i].qid == -1) {
        errno = EINVAL;
        return -1;
    }
    return queue_depth(p->slots[i].qid);
}

/* What slot I still has to hand to a worker: the messages on its queue,
 * and one its dead worker took and did not finish. */
static long messages_left(const struct pool *p, int i)
{
    long n = pool_queued(p, i);

    if (n < 0)
        n = 0;
    return n + (record_unfinished(&p->records[i]) ? 1 : 0);
}

static struct slot_facts facts_of(const struct pool *p, int i)
{
    struct slot_facts f;

    f.wanted = p->phase == POOL_RUNNING && i < p->count;
    f.pending = messages_left(p, i) > 0;
    f.terminating = p->phase == POOL_TERMINATING;
    return f;
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
        log_warn("mmap");
        return -1;
    }
    for (int i = 0; i < WORKERS_MAX; i++)
        publish(p, i);
    for (int i = 0; i < opt->workers; i++) {
        if (make_queue(p, i) == -1) {
            pool_destroy(p);
            return -1;
        }
        p->slots[i].state = SLOT_WAITING;
    }
    p->count = p->high = opt->workers;
    return 0;
}

/* Forks the worker of slot I. Returns 0, or -1 if there is none. */
static int spawn(struct pool *p, int i)
{
    struct slot *s = &p->slots[i];
    struct worker_args args;
    sigset_t old;
    pid_t pid;

    if (pool_queued(p, i) == -1 && queue_gone(errno) &&
        replace_lost_queue(p, i) == -1)
        return -1;
    args = (struct worker_args){
        .qid = s->qid,
        .rec = &p->records[i],
        .all = p->records,
        .work_ms = p->work_ms,
        .crash_on = p->crash_on,
        .master = getpid(),
        .serial = p->spawned + 1,
    };
    /* Blocked until the child has put its own handlers in place: until
     * then it has the master's, which write to the master's self-pipe. */
    if (signals_block(&old) == -1)
        return -1;
    pid = fork();
    if (pid == 0) {
        p->close_fds(p->ctx);
        if (signals_reset_for_worker() == -1)
            _exit(1);
        worker_main(&args); /* unblocks once its handlers are in place */
    }
    signals_restore(&old);
    if (pid == -1) {
        log_warn("fork");
        return -1;
    }
    p->spawned = args.serial;
    s->serial = args.serial;
    s->pid = pid;
    s->started_ms = monotonic_ms();
    publish(p, i);
    if (s->redeliver_from != 0) {
        log_line("redelivering message %llu from worker[%ld] to worker[%ld]",
                 (unsigned long long)s->redelivered, (long)s->redeliver_from,
                 (long)pid);
        s->redeliver_from = 0;
    }
    return 0;
}

int pool_start(struct pool *p)
{
    for (int i = 0; i < p->count; i++) {
        pool_apply(p, i, SE_DUE);
        if (p->slots[i].pid == 0)
            return -1;
    }
    return 0;
}

int pool_open_slot(struct pool *p, int i)
{
    clear_slot(&p->slots[i]);
    memset(&p->records[i], 0, sizeof p->records[i]);
    if (make_queue(p, i) == -1)
        return -1;
    p->slots[i].state = SLOT_WAITING;
    if (i >= p->high)
        p->high = i + 1;
    pool_apply(p, i, SE_DUE);
    return 0;
}

static void start_worker(struct pool *p, int i)
{
    pool_apply(p, i, spawn(p, i) == 0 ? SE_STARTED : SE_START_FAILED);
}

/* After a death: a new worker at once if the last one lived long enough,
 * else after a growing delay. */
static void restart(struct pool *p, int i)
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
    if (s->backoff_ms > 0) {
        s->due_at = now + s->backoff_ms;
        log_line("worker %ld (slot %d) died %lld ms after start; restarting "
                 "in %u ms",
                 (long)s->gone, i, (long long)lived, s->backoff_ms);
        return;
    }
    start_worker(p, i);
    if (s->pid != 0)
        log_line("restarted slot %d: worker %ld replaced by worker %ld", i,
                 (long)s->gone, (long)s->pid);
}

/* Puts the exit order of slot I's worker on its queue, behind the data:
 * the worker leaves when it comes to it. It names the worker (its serial),
 * which obeys no other. Never waiting: a full queue fails with EAGAIN, and
 * pool_tick() tries again. A queue someone removed fails the worker too:
 * its death is reaped, and the next worker gets a new queue (spawn()). */
static void send_exit(struct pool *p, int i)
{
    struct slot *s = &p->slots[i];

    if (queue_send(s->qid, MSG_EXIT, s->serial, "", 0) == 0) {
        pool_apply(p, i, SE_ORDER_SENT);
        return;
    }
    s->due_at = monotonic_ms() + RETRY_MS;
    if (errno != EAGAIN && !queue_gone(errno))
        log_warn("msgsnd exit order");
}

/* Removes slot I's queue. It is empty (invariant 1), unless a stop at once
 * abandons what is left on it: that is counted, and logged at the end. */
static void remove_queue(struct pool *p, int i)
{
    struct slot *s = &p->slots[i];
    bool retired = p->phase == POOL_RUNNING && i >= p->count;

    if (p->phase == POOL_TERMINATING)
        p->abandoned += (unsigned long)messages_left(p, i);
    if (queue_remove(s->qid) == -1 && !queue_gone(errno))
        log_warn("msgctl IPC_RMID");
    clear_slot(s);
    publish(p, i);
    if (retired)
        log_line("slot %d retired", i);
}

/* SIGTERM, then SIGCONT: a stopped worker (SIGSTOP, a debugger, Ctrl-Z)
 * keeps SIGTERM pending until it runs again, and the master would wait for
 * it forever. SIGCONT wakes it, and the pending SIGTERM is delivered first. */
static void terminate_worker(pid_t pid)
{
    if (kill(pid, SIGTERM) == -1 || kill(pid, SIGCONT) == -1)
        log_warn("kill");
}

void pool_apply(struct pool *p, int i, enum slot_event event)
{
    struct slot *s = &p->slots[i];
    struct slot_facts f = facts_of(p, i);
    struct slot_step step = slot_transition(s->state, event, f);

    s->state = step.next;
    if (step.actions & DO_REMOVE_QUEUE)
        remove_queue(p, i);
    if ((step.actions & DO_KILL) && kill(s->pid, SIGKILL) == -1)
        log_warn("kill");
    if (step.actions & DO_TERMINATE)
        terminate_worker(s->pid);
    if (step.actions & DO_SPAWN) {
        start_worker(p, i);
        if (event == SE_EXITED_0 && !f.wanted && s->pid != 0)
            log_line("slot %d: worker %ld takes what is left on the queue", i,
                     (long)s->pid);
    }
    if (step.actions & DO_RESTART)
        restart(p, i);
    if (step.actions & DO_RETRY)
        s->due_at = monotonic_ms() + RESTART_MAX_MS;
    if (step.actions & DO_SEND_EXIT)
        send_exit(p, i);
}

/* Round-robin over the slots that take messages now. The cursor may point
 * past a count that just shrank: the modulo brings it back in range. */
static int next_slot(struct pool *p)
{
    int i = p->cursor % p->count;

    p->cursor = (i + 1) % p->count;
    return i;
}

/* Puts a message on slot I's queue. A full queue fails at once with
 * EAGAIN, so the master never sleeps on one queue while every client
 * waits, and never says OK for a message that is not on a queue. */
static int send_data(struct pool *p, int i, const char *msg, size_t len)
{
    uint64_t seq = p->next_seq + 1;

    if (queue_send(p->slots[i].qid, MSG_DATA, seq, msg, len) == 0)
        return 0;
    if (!queue_gone(errno)) {
        if (errno != EAGAIN)
            log_warn("msgsnd");
        return -1;
    }
    if (replace_lost_queue(p, i) == -1)
        return -1;
    return queue_send(p->slots[i].qid, MSG_DATA, seq, msg, len);
}

void pool_new_batch(struct pool *p)
{
    p->full_len = 0;
}

const char *pool_dispatch(struct pool *p, const char *msg, size_t len)
{
    int first = next_slot(p);
    bool full = false;

    /* Every queue refused a message this long a moment ago, for an earlier
     * message of the same read: the workers are behind, and a msgsnd() per
     * queue for each message after it would only take CPU time from them
     * (on a busy machine, the same cores). A queue's room is counted in
     * bytes (msgop(2)): one that had none for LEN bytes has none for more.
     * A shorter message is tried. */
    if (p->full_len != 0 && len >= p->full_len)
        return "BUSY\n";

    /* The next slot in turn, or if its queue is full the one after, and so
     * on: BUSY only when every queue is full. */
    for (int k = 0; k < p->count; k++) {
        int i = (first + k) % p->count;

        if (send_data(p, i, msg, len) == 0) {
            p->next_seq++;
            p->slots[i].dispatched++;
            return "OK\n";
        }
        if (errno == EAGAIN)
            full = true;
    }
    if (full)
        p->full_len = len;
    return full ? "BUSY\n" : "ERR cannot queue message\n";
}

/* Logs how a worker ended, when it did not leave on its order. */
static void log_end(int i, pid_t pid, int status)
{
    if (WIFSIGNALED(status))
        log_line("worker %ld (slot %d) was killed by signal %d (%s)", (long)pid,
                 i, WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
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
        char text[ESCAPED_SIZE(MSG_MAX)];

        atomic_store(&r->done, seq);
        p->dropped++;
        escape(text, r->msg.body.text, r->msg.body.len);
        log_line("dropping message \"%s\": worker[%ld] died on it after "
                 "redelivery",
                 text, (long)dead);
        return;
    }
    s->redelivered = seq;
    s->redeliver_from = dead;
}

/* Slot I's worker PID has ended with STATUS. */
static void worker_ended(struct pool *p, int i, pid_t pid, int status)
{
    struct slot *s = &p->slots[i];
    bool exited_0 = WIFEXITED(status) && WEXITSTATUS(status) == 0;

    s->pid = 0;
    s->gone = pid;
    publish(p, i);
    /* Nobody works on a message in this slot now. Left set, the time would
     * make --timeout kill the next worker before it took anything. */
    atomic_store(&p->records[i].busy_ms, 0);
    if (!exited_0 || s->state != SLOT_LEAVING)
        log_end(i, pid, status);
    /* Invariant 2: an exit order on the queue now was meant for the worker
     * that just ended, which did not live to read it. Taken back, it cannot
     * send the next worker away, nor count as a message still queued. Only
     * the master reads the queue while no worker lives. */
    queue_take_exit(s->qid);
    if (p->phase != POOL_TERMINATING)
        settle_unfinished(p, i, pid);
    pool_apply(p, i, exited_0 ? SE_EXITED_0 : SE_DIED);
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
        log_warn("waitpid");
}

/* Kills the worker of slot I if it has been on one message too long. */
static void check_stuck(struct pool *p, int i, int64_t now)
{
    struct slot *s = &p->slots[i];
    int64_t busy = atomic_load(&p->records[i].busy_ms);

    if (p->timeout_secs == 0 || s->pid == 0 || s->state == SLOT_KILLED ||
        busy == 0 || now - busy < (int64_t)p->timeout_secs * 1000)
        return;
    log_line("worker %ld (slot %d) stuck on one message for over %u s; "
             "killing it",
             (long)s->pid, i, p->timeout_secs);
    pool_apply(p, i, SE_STUCK);
}

void pool_tick(struct pool *p)
{
    int64_t now = monotonic_ms();

    for (int i = 0; i < p->high; i++) {
        struct slot *s = &p->slots[i];

        if (s->state == SLOT_WAITING && s->due_at <= now) {
            pool_apply(p, i, SE_DUE);
            if (s->pid != 0)
                log_line("slot %d: started worker %ld (restart %u)", i,
                         (long)s->pid, s->restarts);
        } else if (s->state == SLOT_EXIT_DUE && s->due_at <= now) {
            pool_apply(p, i, SE_ASK_EXIT);
        }
        check_stuck(p, i, now);
    }
}

int64_t pool_next_tick(const struct pool *p)
{
    int64_t now = monotonic_ms(), next = -1;

    for (int i = 0; i < p->high; i++) {
        const struct slot *s = &p->slots[i];
        int64_t busy = atomic_load(&p->records[i].busy_ms);
        int64_t at = -1;

        if (s->state == SLOT_WAITING || s->state == SLOT_EXIT_DUE)
            at = s->due_at;
        else if (p->timeout_secs > 0 && s->pid != 0 &&
                 s->state != SLOT_KILLED && busy != 0)
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

void pool_destroy(struct pool *p)
{
    for (int i = 0; i < WORKERS_MAX; i++) {
        if (p->slots[i].qid != -1 && queue_remove(p->slots[i].qid) == -1 &&
            !queue_gone(errno))
            log_warn("msgctl IPC_RMID");
        clear_slot(&p->slots[i]);
        if (p->records != NULL)
            publish(p, i);
    }
    if (p->records != NULL)
        records_destroy(p->records, WORKERS_MAX);
    p->records = NULL;
}
