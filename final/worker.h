/* worker.h - final: what a worker process does.
 *
 * A worker takes messages from its slot's queue, oldest first, logs each,
 * does its simulated work, and leaves on the exit message. It notices its
 * master's death, even by SIGKILL, and then cleans up after it.
 */
#ifndef WORKER_H
#define WORKER_H

#include <stdint.h>
#include <sys/types.h>

#include "options.h"
#include "shared.h"

struct worker_args {
    int qid;                 /* its slot's queue */
    struct slot_record *rec; /* its slot's shared record */
    struct slot_record *all; /* every slot's, WORKERS_MAX of them */
    unsigned work_ms;        /* simulated work per message */
    const char *crash_on;    /* die on this message (a test aid), or NULL */
    pid_t master;            /* the pid it expects as its parent */
    uint64_t serial;         /* its number: it obeys only exit orders
                                that carry it (queue.h) */
};

/* Runs the worker; never returns. Called in the new child with the
 * master's signals still blocked: it installs its handler first. */
void worker_main(const struct worker_args *args) __attribute__((noreturn));

#endif
