/* shared.c - final: the slot records in shared memory (see shared.h).
 * Owns: the mapping, and the rule that says a message is unfinished. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */

#include <stddef.h>
#include <sys/mman.h>
#include <time.h>

#include "log.h"
#include "shared.h"

struct slot_record *records_create(int n)
{
    /* MAP_SHARED: after fork() parent and child see the same pages, where
     * MAP_PRIVATE would give each its own copy on the first write. An
     * anonymous mapping starts zeroed and needs no file. */
    void *p = mmap(NULL, (size_t)n * sizeof(struct slot_record),
                   PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    return p == MAP_FAILED ? NULL : p;
}

void records_destroy(struct slot_record *records, int n)
{
    if (munmap(records, (size_t)n * sizeof(struct slot_record)) == -1)
        log_warn("munmap");
}

bool record_unfinished(const struct slot_record *r)
{
    /* After an exit order mtype is MSG_EXIT; before any message, 0. A
     * length beyond MSG_MAX is no message of ours (queue_receive() refuses
     * it, but its worker may die before it can): nothing to hand on. */
    return r->msg.mtype == MSG_DATA && r->msg.body.len <= MSG_MAX &&
           r->msg.body.seq != atomic_load(&r->done);
}

int64_t monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail for this clock */
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
