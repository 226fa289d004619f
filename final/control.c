/* control.c - final: what the operator's signals do to the pool (SPEC 5).
 * Owns: reload one slot at a time, adding and retiring slots, the order
 * of a stop, and the status lines. Every change of a slot goes through
 * pool_apply(), so it follows the state machine of slot.h. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "notify.h"
#include "pool.h"

/* "1 worker", "2 workers": the log reads as sentences (SPEC 3). */
static const char *plural(long n)
{
    return n == 1 ? "" : "s";
}

/* Asks the first running worker from slot I on to leave. It leaves once
 * it comes to its exit order; its slot, still wanted, gets a new worker at once
 * (slot.c), and pool_reload_continue() moves on to the next slot. Slots
 * with no worker, or whose worker is leaving already, get a new one anyway. */
static void reload_from(struct pool *p, int i)
{
    for (; i < p->count; i++) {
        if (p->slots[i].state == SLOT_RUNNING) {
            p->reloading = i;
            p->reload_pid = p->slots[i].pid;
            pool_apply(p, i, SE_ASK_EXIT);
            return;
        }
    }
    p->reloading = -1;
    log_line("reload finished");
    notify_ready(p->count);
    if (p->reload_again) {
        p->reload_again = false;
        pool_reload(p);
    }
}

void pool_reload(struct pool *p)
{
    if (p->reloading != -1) { /* SIGHUP during a reload: once more after */
        p->reload_again = true;
        return;
    }
    log_line("reloading %d worker%s, one slot at a time", p->count,
             plural(p->count));
    notify_reloading(p->count);
    reload_from(p, 0);
}

void pool_reload_continue(struct pool *p)
{
    int i = p->reloading;

    if (i == -1)
        return;
    if (i < p->count && p->slots[i].pid == p->reload_pid)
        return; /* its old worker is still emptying the queue */
    if (i < p->count && p->slots[i].pid != 0)
        log_line("reloaded slot %d: worker %ld replaced by worker %ld", i,
                 (long)p->reload_pid, (long)p->slots[i].pid);
    reload_from(p, i + 1);
}

void pool_grow(struct pool *p)
{
    int i = p->count;

    if (i == WORKERS_MAX) {
        log_line("already %d workers; not adding one", WORKERS_MAX);
        return;
    }
    /* Counted first: the slot's new worker must find it wanted. */
    p->count++;
    if (p->slots[i].state == SLOT_FREE) {
        if (pool_open_slot(p, i) == -1) {
            p->count--;
            return;
        }
        if (p->slots[i].pid != 0)
            log_line("added slot %d (worker %ld); %d worker%s", i,
                     (long)p->slots[i].pid, p->count, plural(p->count));
        else /* fork() failed: it is tried again (slot.c, DO_RETRY) */
            log_line("added slot %d (its worker starts later); %d worker%s", i,
                     p->count, plural(p->count));
        notify_status(p->count);
        return;
    }
    /* Still retiring: its queue is in use, and its worker, if it has one,
     * leaves when it comes to its exit order. Wanted again, the slot then
     * gets a new worker, which takes what was queued behind the order. */
    log_line("added slot %d back (it was retiring); %d worker%s", i, p->count,
             plural(p->count));
    notify_status(p->count);
}

void pool_shrink(struct pool *p)
{
    int i;

    if (p->count == 1) {
        log_line("only one worker left; not removing it");
        return;
    }
    i = --p->count;
    /* Its worker leaves when it comes to its exit order, and the queue goes
     * once it is empty (slot.c). The cursor needs nothing: next_slot() takes it
     * modulo. */
    log_line("retiring slot %d (worker %ld); %d worker%s", i,
             (long)p->slots[i].pid, p->count, plural(p->count));
    notify_status(p->count);
    pool_apply(p, i, SE_ASK_EXIT);
}

/* What a slot's worker is: its pid, or, in a slot that has none (a restart
 * delay, or fork() to be tried again), when the next one starts. */
static void describe_worker(const struct slot *s, char *buf, size_t size)
{
    int64_t in_ms;

    if (s->pid != 0) {
        snprintf(buf, size, "worker %ld", (long)s->pid);
        return;
    }
    in_ms = s->due_at - monotonic_ms();
    snprintf(buf, size, "no worker (one starts in %lld ms)",
             (long long)(in_ms > 0 ? in_ms : 0));
}

/* Appends formatted text to the string in BUF (SIZE bytes in all). */
__attribute__((format(printf, 3, 4))) static void append(char *buf, size_t size,
                                                         const char *fmt, ...)
{
    size_t used = strlen(buf);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf + used, size - used, fmt, ap);
    va_end(ap);
}

/* The messages slot I has still to handle, QUEUED of them on its queue
 * (msg_qnum, which counts any kind): the data there, without the exit
 * order of a worker asked to leave, which is on the queue until that
 * worker's msgrcv() copies it into the record; and the one its worker
 * holds, or its dead worker held, unfinished. The record may change as
 * it is read (a worker takes its next message): the count is of that
 * instant, for a log line, and nothing acts on it. */
static long left_to_handle(const struct pool *p, int i, long queued)
{
    const struct slot_record *r = &p->records[i];
    bool order_taken =
        r->msg.mtype == MSG_EXIT && r->msg.body.seq == p->slots[i].serial;
    long left = queued > 0 ? queued : 0;

    if (p->slots[i].state == SLOT_LEAVING && !order_taken && left > 0)
        left--;
    return left + (record_unfinished(r) ? 1 : 0);
}

void pool_status(const struct pool *p, int connections)
{
    int workers = 0, retiring = 0, waiting = 0;
    long left = 0;
    char parts[160] = "";

    for (int i = 0; i < p->high; i++) {
        const struct slot *s = &p->slots[i];
        long queued;
        char who[64];

        if (s->state == SLOT_FREE)
            continue;
        queued = pool_queued(p, i);
        left += left_to_handle(p, i, queued);
        if (s->pid != 0) {
            workers++;
            retiring += i >= p->count;
        } else {
            waiting++;
        }
        describe_worker(s, who, sizeof who);
        log_line("status: slot %d, %s, %lu dispatched, %ld queued, "
                 "%u restart%s%s",
                 i, who, s->dispatched, queued, s->restarts,
                 plural(s->restarts), i >= p->count ? ", retiring" : "");
    }
    /* The workers that live, not the slots that want one: a slot waiting
     * out a restart delay has none, a retiring one still has its own. */
    if (retiring > 0)
        append(parts, sizeof parts, ", %d retiring", retiring);
    if (waiting > 0)
        append(parts, sizeof parts, ", %d slot%s with no worker yet", waiting,
               plural(waiting));
    /* During a stop: what the workers have to do before the master can
     * exit. */
    if (p->phase == POOL_STOPPING)
        append(parts, sizeof parts, ", stopping with %ld message%s left", left,
               plural(left));
    else if (p->phase == POOL_TERMINATING)
        append(parts, sizeof parts, ", terminating");
    /* next_seq counts every message ever queued, also by retired slots. */
    log_line("status: %d worker%s%s, %llu dispatched, %lu dropped, "
             "%d connection%s",
             workers, plural(workers), parts, (unsigned long long)p->next_seq,
             p->dropped, connections, plural(connections));
}

void pool_stop(struct pool *p)
{
    p->phase = POOL_STOPPING;
    p->reloading = -1;
    p->reload_again = false;
    for (int i = 0; i < p->high; i++)
        pool_apply(p, i, SE_ASK_EXIT);
}

void pool_terminate(struct pool *p)
{
    p->phase = POOL_TERMINATING;
    /* A reload in progress ends here: its next slot would otherwise get a
     * new worker, and the service manager a READY=1, while everything
     * stops. */
    p->reloading = -1;
    for (int i = 0; i < p->high; i++)
        pool_apply(p, i, SE_TERMINATE);
}

bool pool_finished(const struct pool *p)
{
    if (p->phase == POOL_RUNNING)
        return false;
    for (int i = 0; i < p->high; i++) {
        if (p->slots[i].state != SLOT_FREE)
            return false;
    }
    return true;
}
