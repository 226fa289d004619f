/* slot.c - final: the slot state machine (see slot.h).
 * Owns: which state follows which, and why. No system calls here. */
#include "slot.h"

static struct slot_step next_is(enum slot_state next, unsigned actions)
{
    struct slot_step step = {next, actions};

    return step;
}

/* The worker has ended. A queue with something on it, or a slot that must
 * always have a worker, gets a new one: right away after a worker that
 * left on its order, through the restart delays after a death. Anything
 * else leaves a slot with nothing to do: its queue is empty and goes
 * (invariants 1 and 3). A stop at once starts nothing and keeps nothing. */
static struct slot_step when_worker_ends(bool obeyed, struct slot_facts f)
{
    if (f.terminating)
        return next_is(SLOT_FREE, DO_REMOVE_QUEUE);
    if (f.wanted || f.pending)
        return next_is(SLOT_WAITING, obeyed ? DO_SPAWN : DO_RESTART);
    return next_is(SLOT_FREE, DO_REMOVE_QUEUE);
}

/* No worker, none started yet. */
static struct slot_step waiting(enum slot_event e, struct slot_facts f)
{
    if (e == SE_STARTED) {
        /* A worker for a slot that is retiring or stopping only empties
         * the queue: its exit order goes behind what is there now. */
        if (f.terminating)
            return next_is(SLOT_KILLED, DO_TERMINATE);
        if (f.wanted)
            return next_is(SLOT_RUNNING, 0);
        return next_is(SLOT_EXIT_DUE, DO_SEND_EXIT);
    }
    if (f.terminating) /* a stop at once: nobody will take what is left */
        return next_is(SLOT_FREE, DO_REMOVE_QUEUE);
    switch (e) {
    case SE_DUE:
        return next_is(SLOT_WAITING, DO_SPAWN);
    case SE_START_FAILED:
        return next_is(SLOT_WAITING, DO_RETRY);
    case SE_ASK_EXIT:
        /* Nobody to ask. The worker to come is needed only if there is
         * something for it to do. */
        if (f.wanted || f.pending)
            return next_is(SLOT_WAITING, 0);
        return next_is(SLOT_FREE, DO_REMOVE_QUEUE);
    case SE_TERMINATE:
        return next_is(SLOT_FREE, DO_REMOVE_QUEUE);
    default: /* there is no worker to be stuck, to send to, or to end */
        return next_is(SLOT_WAITING, 0);
    }
}

/* A worker runs, or has been told to leave. */
static struct slot_step working(enum slot_state s, enum slot_event e,
                                struct slot_facts f)
{
    switch (e) {
    case SE_ASK_EXIT:
        if (s == SLOT_LEAVING) /* its order is on the queue already */
            return next_is(s, 0);
        return next_is(SLOT_EXIT_DUE, DO_SEND_EXIT);
    case SE_ORDER_SENT:
        return next_is(s == SLOT_EXIT_DUE ? SLOT_LEAVING : s, 0);
    case SE_STUCK:
        return next_is(SLOT_KILLED, DO_KILL);
    case SE_TERMINATE:
        return next_is(SLOT_KILLED, DO_TERMINATE);
    case SE_EXITED_0:
        /* A worker exits 0 on its order. Without one on the queue it went
         * away for a reason of its own: that is a death. */
        return when_worker_ends(s == SLOT_LEAVING, f);
    case SE_DIED:
        return when_worker_ends(false, f);
    default: /* SE_DUE, SE_STARTED, SE_START_FAILED: it has a worker */
        return next_is(s, 0);
    }
}

/* Sent a fatal signal: only its end matters now. SIGKILL cannot be caught
 * or delayed, and a worker terminated at a stop got SIGCONT too. */
static struct slot_step killed(enum slot_event e, struct slot_facts f)
{
    if (e == SE_EXITED_0 || e == SE_DIED)
        return when_worker_ends(false, f);
    return next_is(SLOT_KILLED, 0);
}

struct slot_step slot_transition(enum slot_state state, enum slot_event event,
                                 struct slot_facts facts)
{
    switch (state) {
    case SLOT_WAITING:
        return waiting(event, facts);
    case SLOT_RUNNING:
    case SLOT_EXIT_DUE:
    case SLOT_LEAVING:
        return working(state, event, facts);
    case SLOT_KILLED:
        return killed(event, facts);
    default: /* SLOT_FREE: no queue, no worker; nothing happens to it */
        return next_is(SLOT_FREE, 0);
    }
}
