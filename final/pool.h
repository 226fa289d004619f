/* pool.h - final: the worker slots.
 *
 * Slot i has a queue, a shared record and, most of the time, a worker. The
 * pool starts workers, hands them messages round-robin, replaces those that
 * die (with growing delays if they keep dying), kills those stuck longer
 * than --timeout, replaces all on reload, adds and retires slots, and at a
 * stop lets every worker empty its queue before it leaves.
 */
#ifndef POOL_H
#define POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "options.h"
#include "shared.h"

enum slot_state {
    SLOT_FREE,      /* no queue: beyond the workers, or retired */
    SLOT_WAITING,   /* queue, no worker: one starts at respawn_at */
    SLOT_RUNNING,   /* queue and worker */
    SLOT_RELOADING, /* the worker has its exit message; a new one follows */
    SLOT_DONE       /* stopping: the worker has left */
};

struct slot {
    enum slot_state state;
    int qid;
    pid_t pid;            /* 0 while no worker runs */
    int64_t started_ms;   /* when the worker started */
    int64_t respawn_at;   /* SLOT_WAITING: when to start the next one */
    unsigned backoff_ms;  /* the delay before the last restart */
    bool exit_due;        /* an exit message must be sent... */
    bool exit_sent;       /* ...and has been */
    bool killed;          /* SIGKILLed for --timeout, not yet reaped */
    bool retiring;        /* beyond count: its queue goes once empty */
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
    uint64_t next_seq; /* sequence number of the next message */
    unsigned work_ms;
    const char *crash_on;
    unsigned timeout_secs;
    int reloading;         /* the slot being reloaded, or -1 */
    bool reload_again;     /* SIGHUP during a reload: one more round */
    int grow_pending;      /* SIGTTIN while the next slot still retires */
    unsigned long dropped; /* poison messages dropped */
    /* In a new worker, closes the descriptors of the master's (the
     * listening socket, the client connections). */
    void (*close_fds)(void *ctx);
    void *ctx;
};

/* Creates the records and a queue for each of OPT's workers. Returns 0, or
 * -1 after removing what it made. */
int pool_init(struct pool *p, const struct options *opt,
              void (*close_fds)(void *), void *ctx);

/* Starts a worker in every slot. Returns 0, or -1 if fork() failed. */
int pool_start(struct pool *p);

/* Puts a message on the next slot's queue, without ever waiting. Returns
 * the reply line: "OK\n", "BUSY\n" (queue full) or an "ERR ...\n". */
const char *pool_dispatch(struct pool *p, const char *msg, size_t len);

/* Reaps every worker that has ended, and does what its slot needs. */
void pool_reap(struct pool *p);

/* Does what is due by now: delayed restarts, --timeout kills, exit messages
 * that found a full queue. */
void pool_tick(struct pool *p);

/* Milliseconds until pool_tick() has something to do, or -1: no hurry. */
int64_t pool_next_tick(const struct pool *p);

void pool_reload(struct pool *p);                        /* SIGHUP */
void pool_grow(struct pool *p);                          /* SIGTTIN */
void pool_shrink(struct pool *p);                        /* SIGTTOU */
void pool_status(const struct pool *p, int connections); /* SIGUSR1 */

/* Graceful stop: every worker gets an exit message behind its data. */
void pool_stop(struct pool *p);

/* Stop at once: SIGTERM to every worker. */
void pool_terminate(struct pool *p);

/* True once a stop has begun and every worker has left. */
bool pool_finished(const struct pool *p);

/* Removes every queue and the records. */
void pool_destroy(struct pool *p);

#endif
