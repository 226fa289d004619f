/* slot.h - final: the life of a worker slot, as a state machine.
 *
 * A slot is a queue and, most of the time, a worker that takes messages
 * from it. What the slot is doing is one of the states below; what happens
 * to it (a worker starts, is asked to leave, dies) is an event; and
 * slot_transition() says, for every state and event, the next state and what
 * the pool must do about it: fork, send an exit order, kill, remove the queue.
 * slot_transition() makes no system call, so that every pair can be tested
 * alone (tests/unit/test_slot.c); pool.c carries the actions out.
 *
 * What the pool keeps true through it (README.md, "The life of a slot"):
 *
 * 1. A queue is removed only when it is empty and no worker of it lives;
 *    a stop at once (a second stop signal) is the one exception, and the
 *    master logs how many OK'd messages it abandoned.
 * 2. No worker obeys an exit order meant for another: each order names the
 *    worker it is for, and the order of a worker that died before reading
 *    it is taken back before any other worker reads that queue.
 * 3. Every OK'd message is handled at least once: a slot whose queue holds
 *    messages, or whose dead worker held one unfinished, always gets a
 *    worker, whatever else is happening; a message that kills two workers
 *    is dropped, with its text in the log.
 * 4. Slots 0..count-1 take new messages, and count moves by one for each
 *    SIGTTIN or SIGTTOU delivered, in the order they are delivered,
 *    between 1 and WORKERS_MAX. The kernel keeps one pending signal of a
 *    kind, delivers pending signals lowest number first (SIGTTIN before
 *    SIGTTOU), and discards a pending SIGTTIN or SIGTTOU when SIGCONT
 *    comes: signals sent while the master cannot take them may merge, be
 *    reordered or be lost. A slot beyond count keeps its queue only until
 *    it is empty.
 */
#ifndef SLOT_H
#define SLOT_H

#include <stdbool.h>

enum slot_state {
    SLOT_FREE,     /* no queue, no worker */
    SLOT_WAITING,  /* a queue, no worker: one starts when its time comes */
    SLOT_RUNNING,  /* a worker takes the messages */
    SLOT_EXIT_DUE, /* it must leave; its exit order waits for room */
    SLOT_LEAVING,  /* its exit order is on the queue, behind the data */
    SLOT_KILLED,   /* it was sent SIGKILL or SIGTERM, and has not ended */
    SLOT_STATES
};

enum slot_event {
    SE_DUE,          /* the time to start a worker has come */
    SE_STARTED,      /* fork() made one */
    SE_START_FAILED, /* fork() failed */
    SE_ASK_EXIT,     /* reload, retire or stop: leave behind what is queued
                        (again, while its order still waits for room) */
    SE_ORDER_SENT,   /* the exit order is on the queue */
    SE_STUCK,        /* busy on one message for longer than --timeout */
    SE_TERMINATE,    /* a second stop signal: end at once */
    SE_EXITED_0,     /* the worker ended with exit status 0 */
    SE_DIED,         /* the worker ended any other way */
    SLOT_EVENTS
};

/* What the pool knows of the slot when the event comes. */
struct slot_facts {
    bool wanted;      /* the slot takes new messages (it is below count) and
                         no stop has begun: it must always have a worker */
    bool pending;     /* the queue holds messages, or a dead worker's
                         unfinished one waits to be handed on */
    bool terminating; /* a stop at once: start nothing, keep nothing */
};

/* What the pool must do, in this order. */
enum slot_action {
    DO_REMOVE_QUEUE = 1 << 0, /* it is empty, or abandoned (terminating) */
    DO_KILL = 1 << 1,         /* SIGKILL */
    DO_TERMINATE = 1 << 2,    /* SIGTERM, then SIGCONT */
    DO_SPAWN = 1 << 3,        /* fork a worker now */
    DO_RESTART = 1 << 4,      /* after a death: fork one now, or after a
                                 growing delay if it died young */
    DO_RETRY = 1 << 5,        /* fork() failed: try again a while later */
    DO_SEND_EXIT = 1 << 6     /* put the worker's exit order on the queue */
};

struct slot_step {
    enum slot_state next;
    unsigned actions; /* enum slot_action bits */
};

struct slot_step slot_transition(enum slot_state state, enum slot_event event,
                                 struct slot_facts facts);

#endif
