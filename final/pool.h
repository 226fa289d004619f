/* pool.h - final: the worker slots and what the master does with them.
 *
 * Slot i has a queue, a shared record and, most of the time, a worker. Its
 * life is the state machine of slot.h. Two files act on it, as nginx splits
 * ngx_process.c from ngx_process_cycle.c:
 *
 *   pool.c     the mechanism: queues, fork(), waitpid(), round-robin, the
 *              restart delays, --timeout, and carrying out what
 *              slot_transition() decides;
 *   control.c  the policy: what reload, scaling, stop and status do to
 *              the slots (the operator's signals, SPEC 5).
 */
#ifndef POOL_H
#define POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "options.h"
#include "shared.h"
#include "slot.h"

struct slot {
    enum slot_state state;
    int qid;              /* -1 while SLOT_FREE */
    pid_t pid;            /* its worker, 0 while none runs */
    uint64_t serial;      /* that worker's number, named in its exit order */
    pid_t gone;           /* the worker that ended last, for the log */
    int64_t started_ms;   /* when the worker started */
    int64_t due_at;       /* SLOT_WAITING: when the next worker starts;
                             SLOT_EXIT_DUE: when to try the order again */
    unsigned backoff_ms;  /* the delay before the last restart */
    uint64_t redelivered; /* seq of a message already handed on once */
    pid_t redeliver_from; /* log the hand-on when the next worker starts */
    unsigned long dispatched;
    unsigned restarts;
};

enum pool_phase { POOL_RUNNING, POOL_STOPPING, POOL_TERMINATING };

struct pool {
    enum pool_phase phase;
    struct slot slots[WORKERS_MAX];
    struct slot_record *records;
    int count;  /* slots 0..count-1 take new messages */
    int high;   /* slots 0..high-1 have been in use: the loops stop there */
    int cursor; /* round-robin position */
    size_t full_len;   /* 0, or the length of a message every queue refused
                          in this batch (pool_dispatch()) */
    uint64_t next_seq; /* sequence number of the next message */
    uint64_t spawned;  /* workers forked so far: the next one's serial */
    unsigned work_ms;
    const char *crash_on;
    unsigned timeout_secs;
    int reloading;           /* control.c: the slot being reloaded, or -1 */
    pid_t reload_pid;        /* the worker asked to leave for it */
    bool reload_again;       /* SIGHUP during a reload: one more round */
    unsigned long dropped;   /* poison messages dropped */
    unsigned long abandoned; /* OK'd messages a stop at once left behind */
    /* In a new worker, closes the descriptors of the master's (the
     * listening socket, the client connections). */
    void (*close_fds)(void *ctx);
    void *ctx;
};

/* pool.c: the mechanism. */

/* Creates the records and a queue for each of OPT's workers. Returns 0, or
 * -1 after removing what it made. */
int pool_init(struct pool *p, const struct options *opt,
              void (*close_fds)(void *), void *ctx);

/* Starts a worker in every slot. Returns 0, or -1 if fork() failed. */
int pool_start(struct pool *p);

/* Gives slot I, which is SLOT_FREE, a new queue and starts its worker.
 * Returns 0, or -1 (the slot stays free) if there is no queue to be had. */
int pool_open_slot(struct pool *p, int i);

/* Feeds EVENT to slot I's state machine and carries out what it says. */
void pool_apply(struct pool *p, int i, enum slot_event event);

/* Puts a message on the next slot's queue, without ever waiting. Returns
 * the reply line: "OK\n", "BUSY\n" (queue full) or an "ERR ...\n". Once
 * every queue has refused a message, the messages after it that are as
 * long or longer get BUSY without a try, until pool_new_batch(). */
const char *pool_dispatch(struct pool *p, const char *msg, size_t len);

/* Before the messages of one read of one client: queues found full before
 * are tried again. */
void pool_new_batch(struct pool *p);

/* Reaps every worker that has ended, and tells its slot. */
void pool_reap(struct pool *p);

/* Does what is due by now: delayed starts, --timeout kills, exit orders
 * that found a full queue. */
void pool_tick(struct pool *p);

/* Milliseconds until pool_tick() has something to do, or -1: no hurry. */
int64_t pool_next_tick(const struct pool *p);

/* Messages on slot I's queue, or -1 if it has none (errno set). */
long pool_queued(const struct pool *p, int i);

/* Removes every queue that is left, and the records. */
void pool_destroy(struct pool *p);

/* control.c: the policy. */

void pool_reload(struct pool *p);                        /* SIGHUP */
void pool_grow(struct pool *p);                          /* SIGTTIN */
void pool_shrink(struct pool *p);                        /* SIGTTOU */
void pool_status(const struct pool *p, int connections); /* SIGUSR1 */

/* Moves a reload on to the next slot once the one it waits for has its new
 * worker. Call after pool_reap() and pool_tick(). */
void pool_reload_continue(struct pool *p);

/* Graceful stop: every worker leaves when it comes to its exit order,
 * behind everything queued before it. */
void pool_stop(struct pool *p);

/* Stop at once: SIGTERM to every worker; what is queued is abandoned. */
void pool_terminate(struct pool *p);

/* True once a stop has begun and every slot is free: no worker, no queue. */
bool pool_finished(const struct pool *p);

#endif
