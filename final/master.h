/* master.h - final: the master's event loop.
 *
 * One pselect() loop watches the self-pipe, the listening socket and every
 * client connection. Client messages go to the pool round-robin; signals
 * become pool operations; the loop ends when a stop has finished.
 */
#ifndef MASTER_H
#define MASTER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/select.h>

#include "conn.h"
#include "options.h"
#include "pool.h"

struct master {
    int listener; /* -1 once closed */
    const char *socket_path;
    int dir_fd;           /* socket_path is relative to it (daemon.h) */
    int ready_fd;         /* -d: told when the loop runs, or -1 */
    int64_t paused_until; /* out of descriptors: not accepting until then
                             (monotonic ms), or 0 */
    bool refusing;        /* out of descriptors: refusing, said once */
    int spare_fd;         /* reserved for refusing a connection */
    int connections;      /* how many entries of conns are in use */
    int high_fd;          /* the highest of them, or -1 */
    struct conn *conns[FD_SETSIZE];
    bool wait_failed; /* the wait failed: said once */
    struct pool pool;
};

/* Creates the listening socket and the pool's queues. Returns 0, or -1
 * after undoing what it did. */
int master_init(struct master *m, const struct options *opt);

/* Starts the workers and runs the loop until a stop has finished. Returns
 * the exit status: 0 after a clean stop. */
int master_run(struct master *m);

/* Closes the connections and the listener, removes the socket file and
 * every queue that is left: after master_run(), or after a failure between
 * master_init() and it. */
void master_close(struct master *m);

#endif
