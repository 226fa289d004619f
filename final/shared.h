/* shared.h - final: the memory each worker shares with the master.
 *
 * One record per slot, in a shared anonymous mapping made before the first
 * fork(), so the master sees what a worker does without any message:
 * when it took its current message (for --timeout), and which message it
 * holds and whether it finished it (to hand an unfinished message to the
 * replacement of a worker that died).
 */
#ifndef SHARED_H
#define SHARED_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "queue.h"

struct slot_record {
    /* The worker's msgrcv() writes the message straight here, so a message
     * taken off the queue is never only in a process that may die. */
    struct message msg;
    atomic_uint_least64_t done;   /* the seq of the last message finished */
    atomic_int_least64_t busy_ms; /* when it took msg (monotonic), 0: idle */
    /* Written by the master, for a worker that outlives it: the slot's
     * queue (-1: none) and its worker (0: none right now), so that an
     * orphaned worker can remove the queues nobody else will. */
    atomic_int qid;
    atomic_int pid;
};

/* Maps N zeroed records shared with every child forked afterwards. Returns
 * them, or NULL with errno set. */
struct slot_record *records_create(int n);

void records_destroy(struct slot_record *records, int n);

/* True when the record holds a data message its worker did not finish. */
bool record_unfinished(const struct slot_record *r);

/* Milliseconds on the monotonic clock, which no clock change moves. */
int64_t monotonic_ms(void);

#endif
