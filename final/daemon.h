/* daemon.h - final: running detached, and the pidfile (SPEC 7).
 *
 * daemon_start() forks twice so the server is not the child of the shell,
 * not a session leader, and has no terminal; the command that started it
 * returns only when the daemon says it is ready, with its exit status.
 */
#ifndef DAEMON_H
#define DAEMON_H

/* Opens /dev/null on whichever of descriptors 0, 1 and 2 is closed, as
 * daemons do first: otherwise the next file opened would take its number,
 * and a write meant for standard output or error would land in a socket,
 * the log or the self-pipe. Returns 0, or -1 with errno set. */
int std_fds_open(void);

/* In the calling process: becomes the daemon's waiting parent and exits
 * with 0 once the daemon is ready, or 1 if it failed first. Returns only in
 * the daemon, with *READY_FD set for daemon_ready(); or -1 on failure. */
int daemon_start(int *ready_fd);

/* In the daemon, once it can serve: standard input, output and error go to
 * /dev/null, and the working directory to "/", so the daemon keeps no
 * terminal and keeps no mount point busy as its working directory; it
 * keeps the old directory open as *DIR_FD all the same (below), for
 * the relative paths still to be removed at the end. Returns 0, or -1. */
int daemon_detach(int *dir_fd);

/* Tells the waiting parent the daemon is ready; *READY_FD becomes -1.
 * Does nothing if *READY_FD is already -1 (not a daemon). */
void daemon_ready(int *ready_fd);

/* Refuses (returns -1, saying why) if a live master holds PATH. */
int pidfile_check(const char *path);

/* Takes PATH for this process: locks it and writes our pid. Returns 0, or
 * -1 after saying why not. */
int pidfile_write(const char *path);

/* The pidfile's descriptor, or -1 (a worker closes it). */
int pidfile_fd(void);

/* Removes PATH (relative to DIR_FD) if pidfile_write() took it. */
void pidfile_remove(int dir_fd, const char *path);

#endif
