/* signals.h - final: the master's signals, turned into loop events.
 *
 * Each handler writes one byte into a pipe that the event loop watches (the
 * self-pipe trick, chapter 5): the byte says which signal came, so the loop
 * takes them in the order they came. Signals that the terminal sends, not
 * an operator, are told apart (SPEC 5).
 */
#ifndef SIGNALS_H
#define SIGNALS_H

#include <signal.h>
#include <stdbool.h>

enum sig_event {
    EV_NONE,        /* no signal is waiting */
    EV_INT,         /* SIGINT: stop */
    EV_TERM,        /* SIGTERM: stop */
    EV_HUP_PROCESS, /* SIGHUP sent by a process: reload, or a hang-up relayed */
    EV_HUP_KERNEL,  /* SIGHUP sent by the kernel: the terminal hung up */
    EV_CHILD,       /* SIGCHLD: a worker ended */
    EV_STATUS,      /* SIGUSR1 */
    EV_GROW,        /* SIGTTIN sent by a process */
    EV_SHRINK       /* SIGTTOU sent by a process */
};

/* Ignores SIGPIPE, creates the self-pipe and installs the handlers. From
 * here on SIGTTIN and SIGTTOU are blocked except inside the wait
 * (signals_wait_mask()). Returns 0, or -1 after saying why not. */
int signals_init(void);

/* The read end of the self-pipe, for select(). */
int signals_fd(void);

/* The next signal, in the order they came; EV_NONE when none is left. */
enum sig_event signals_next(void);

/* The signal mask for pselect(): the master's, with SIGTTIN and SIGTTOU
 * let in. */
const sigset_t *signals_wait_mask(void);

/* True if the master had a controlling terminal at start and has none now:
 * the terminal has hung up. */
bool signals_terminal_gone(void);

/* Blocks the master's signals around fork(), saving the mask in OLD. */
int signals_block(sigset_t *old);

/* Puts back the mask OLD saved by signals_block(). */
int signals_restore(const sigset_t *old);

/* In a new worker, with signals still blocked: closes the self-pipe and
 * sets the worker's dispositions of every signal the master handles. The
 * worker installs its own handler, then unblocks (worker.c). */
int signals_reset_for_worker(void);

#endif
