/* signals.h - final: the master's signals, turned into loop events.
 *
 * Each handler counts its signal and writes one byte into a pipe that the
 * event loop watches with select() (the self-pipe trick, chapter 5). The
 * loop then asks how many of each kind came since it last looked.
 */
#ifndef SIGNALS_H
#define SIGNALS_H

#include <signal.h>

enum sig_event {
    EV_STOP,   /* SIGINT, SIGTERM */
    EV_CHILD,  /* SIGCHLD: a worker ended */
    EV_RELOAD, /* SIGHUP */
    EV_STATUS, /* SIGUSR1 */
    EV_GROW,   /* SIGTTIN */
    EV_SHRINK, /* SIGTTOU */
    EV_COUNT
};

/* Ignores SIGPIPE, creates the self-pipe and installs the handlers.
 * Returns 0, or -1 after saying why not. */
int signals_init(void);

/* The read end of the self-pipe, for select(). */
int signals_fd(void);

/* Empties the self-pipe; the bytes only say "look at the counts". */
void signals_drain(void);

/* How many signals of kind EV came since the last call. */
int signals_take(enum sig_event ev);

/* The name of the signal that last asked for a stop ("SIGINT"). */
const char *signals_stop_name(void);

/* Blocks the master's signals around fork(), saving the mask in OLD. */
int signals_block(sigset_t *old);

/* Puts back the mask OLD saved by signals_block(). */
int signals_unblock(const sigset_t *old);

/* In a new worker: closes the self-pipe, gives every signal the master
 * handles its default action back, except SIGINT, which a worker ignores,
 * and lets in the signals blocked by signals_block(). */
int signals_reset_for_worker(const sigset_t *old);

#endif
