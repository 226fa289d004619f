/* server.c - final: the pre-forked pool, as a reader could run it.
 *
 * Usage: ./server [options]   (./server --help; the contract is SPEC.md)
 *
 * Chapter 5's pool plus what production pools have: workers replaced when
 * they die, stuck workers killed (--timeout), reload (SIGHUP), scaling
 * (SIGTTIN, SIGTTOU), status (SIGUSR1), a daemon mode with a pidfile and a
 * log file, and workers that clean up if the master is killed.
 *
 * This file only puts the pieces together, in the order that matters; each
 * mechanism lives in the file named after it (README.md has the map).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon.h"
#include "log.h"
#include "master.h"
#include "notify.h"
#include "options.h"
#include "signals.h"

int main(int argc, char *argv[])
{
    static struct master m; /* static: its table is too big for a stack */
    struct options opt;
    int ready_fd = -1, status = EXIT_FAILURE;
    bool started = false;

    /* First of all: a descriptor that came closed would be taken by the
     * first file we open (SPEC 1). */
    if (std_fds_open() == -1)
        return EXIT_FAILURE;
    /* Everything that can be refused is checked before anything exists. */
    switch (parse_options(argc, argv, &opt, stdout, stderr)) {
    case PARSE_HELP:
        return EXIT_SUCCESS;
    case PARSE_BAD:
        return 2;
    case PARSE_OK:
        break;
    }
    if (opt.log_path != NULL && log_open(opt.log_path) == -1) {
        log_warn("%s", opt.log_path);
        return EXIT_FAILURE;
    }
    if (opt.pidfile != NULL && pidfile_check(opt.pidfile) == -1)
        return EXIT_FAILURE;
    /* From here on, in the daemon if -d: the pid is the master's for good. */
    if (opt.daemon && daemon_start(&ready_fd) == -1)
        return EXIT_FAILURE;
    /* Takes NOTIFY_SOCKET out of the environment before any worker is
     * forked, so that none inherits it (notify.h). */
    notify_init();
    if (signals_init() == -1)
        return EXIT_FAILURE;
    if (opt.pidfile != NULL && pidfile_write(opt.pidfile) == -1)
        return EXIT_FAILURE;
    /* From here on, every way out goes through the clean-up at the end:
     * no socket file, queue or pidfile is left behind by a failure. */
    if (master_init(&m, &opt) == -1)
        goto remove_pidfile;
    /* Detach before the first worker exists, so none inherits the
     * terminal. Start-up errors above still reached it. */
    if (opt.daemon && daemon_detach(&m.dir_fd) == -1)
        goto close_master;
    m.ready_fd = ready_fd;

    log_errors_as_events();
    log_line("started");
    started = true;
    status = master_run(&m);
close_master:
    master_close(&m);
remove_pidfile:
    if (opt.pidfile != NULL)
        pidfile_remove(m.dir_fd, opt.pidfile);
    if (started)
        log_line("exited");
    return status;
}
