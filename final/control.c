/* control.c - final: what the operator's signals do to the pool (SPEC 5).
 * Owns: reload one slot at a time, adding and retiring slots, the order
 * of a stop, and the status lines. Every change of a slot goes through
 * pool_apply(), so it follows the state machine of slot.h. */
#include <stdbool.h>

#include "log.h"
#include "pool.h"

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
    log_line("reloading %d workers, one slot at a time", p->count);
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
            log_line("added slot %d (worker %ld); %d workers", i,
                     (long)p->slots[i].pid, p->count);
        else /* fork() failed: it is tried again (slot.c, DO_RETRY) */
            log_line("added slot %d (its worker starts later); %d workers", i,
                     p->count);
        return;
    }
    /* Still retiring: its queue is in use, and its worker, if it has one,
     * leaves when it comes to its exit order. Wanted again, the slot then
     * gets a new worker, which takes what was queued behind the order. */
    log_line("added slot %d back (it was retiring); %d workers", i, p->count);
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
     * once it is empty
     * (slot.c). The cursor needs nothing: next_slot() takes it modulo. */
    log_line("retiring slot %d (worker %ld); %d workers", i,
             (long)p->slots[i].pid, p->count);
    pool_apply(p, i, SE_ASK_EXIT);
}

void pool_status(const struct pool *p, int connections)
{
    for (int i = 0; i < p->high; i++) {
        const struct slot *s = &p->slots[i];

        if (s->state == SLOT_FREE)
            continue;
        log_line("status: slot %d, worker %ld, %lu dispatched, %ld queued, "
                 "%u restarts%s",
                 i, (long)s->pid, s->dispatched, pool_queued(p, i), s->restarts,
                 i >= p->count ? ", retiring" : "");
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
    p->reload_again = false;
    for (int i = 0; i < p->high; i++)
        pool_apply(p, i, SE_ASK_EXIT);
}

void pool_terminate(struct pool *p)
{
    p->phase = POOL_TERMINATING;
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
