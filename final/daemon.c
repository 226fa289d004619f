/* daemon.c - final: detaching from the terminal, the Stevens way, and the
 * pidfile. Owns: descriptors 0-2, setsid(2), the double fork, the
 * readiness pipe, the pidfile's lock. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

int std_fds_open(void)
{
    for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
        int null;

        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
            continue;
        /* open() returns the lowest free descriptor: this one, since those
         * below it are open by now. */
        null = open("/dev/null", fd == STDIN_FILENO ? O_RDONLY : O_WRONLY);
        if (null == -1)
            return -1;
        if (null != fd) { /* cannot happen, but would hide an error */
            close(null);
            errno = EBADF;
            return -1;
        }
    }
    return 0;
}

/* The original process: waits for the daemon's one byte, or for the end of
 * the pipe if the daemon died first, and leaves with the verdict. */
static void wait_for_daemon(int fd, pid_t child)
{
    char byte;
    ssize_t n;

    do
        n = read(fd, &byte, 1);
    while (n == -1 && errno == EINTR);
    /* The first child left at once; collect it, so it is no zombie. */
    while (waitpid(child, NULL, 0) == -1 && errno == EINTR)
        ;
    _exit(n == 1 ? EXIT_SUCCESS : EXIT_FAILURE);
}

int daemon_start(int *ready_fd)
{
    int fds[2];
    pid_t pid;

    if (pipe(fds) == -1) {
        log_warn("pipe");
        return -1;
    }
    /* Nothing is buffered in stdout here (only the usage ever goes through
     * it, and not on this path), so fork() duplicates no pending output. */
    pid = fork();
    if (pid == -1) {
        log_warn("fork");
        return -1;
    }
    if (pid > 0) {
        close(fds[1]);
        wait_for_daemon(fds[0], pid);
    }
    close(fds[0]);
    /* A new session: no controlling terminal, and not in the shell's
     * process group, so Ctrl-C or a closed terminal cannot reach us. */
    if (setsid() == -1) {
        log_warn("setsid");
        _exit(EXIT_FAILURE);
    }
    /* Fork again and let the session leader go: a process that is not a
     * session leader can never acquire a controlling terminal by opening
     * one. */
    pid = fork();
    if (pid == -1) {
        log_warn("fork");
        _exit(EXIT_FAILURE);
    }
    if (pid > 0)
        _exit(EXIT_SUCCESS);
    *ready_fd = fds[1];
    return 0;
}

int daemon_detach(int *dir_fd)
{
    int null = open("/dev/null", O_RDWR), dir;

    if (null == -1) {
        log_warn("/dev/null");
        return -1;
    }
    /* Keep the old directory open: the socket file and the pidfile may
     * have been given relative to it, and are removed at the end. */
    dir = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir == -1) {
        log_warn("open .");
        close(null);
        return -1;
    }
    *dir_fd = dir;
    if (chdir("/") == -1) {
        log_warn("chdir /");
        close(null);
        return -1;
    }
    /* Standard input, output and error may still be the terminal we were
     * started from: no longer our controlling terminal, but it may hang
     * up at any time, and reading or writing it would then fail (EIO). */
    if (dup2(null, STDIN_FILENO) == -1 || dup2(null, STDOUT_FILENO) == -1 ||
        dup2(null, STDERR_FILENO) == -1) {
        log_warn("dup2");
        close(null);
        return -1;
    }
    if (null > STDERR_FILENO)
        close(null);
    return 0;
}

void daemon_ready(int *ready_fd)
{
    if (*ready_fd == -1)
        return;
    if (write_all(*ready_fd, "", 1) == -1)
        log_warn("write to the waiting parent");
    close(*ready_fd);
    *ready_fd = -1;
}

/* The pidfile stays open, with a write lock on it, for the master's whole
 * life. The lock, not the pid written inside, says whether a master is
 * alive: the kernel drops it when the process dies, however it dies, and a
 * pid in a stale file may have been given to some other process since.
 *
 * fcntl() locks belong to a process and are not inherited by fork(), so
 * workers never hold it. They have a trap (POSIX, fcntl(2)): the process
 * loses its lock when it closes *any* descriptor of the file, not only the
 * one it locked with. pidfile_check() opens and closes the file before we
 * lock it, and nothing opens it after. Linux's open file description locks
 * (F_OFD_SETLK) have no such trap, but they are shared with every child
 * that inherits the descriptor. */
static int pid_fd = -1;

/* A write lock on the whole file. */
static struct flock whole_file(void)
{
    struct flock fl;

    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET; /* l_start 0, l_len 0: the whole file */
    return fl;
}

/* Opens the pidfile PATH with FLAGS. A pidfile must be a regular file, and
 * is never reached through a symbolic link: the master often runs as root,
 * with its pidfile in a directory others can write to, and following a
 * link planted there would truncate whatever file it names. O_NONBLOCK: a
 * FIFO planted there would make open() wait for a writer for ever; it is
 * refused below instead. Returns the descriptor, or -1 with errno set
 * (ELOOP: a symbolic link; EINVAL: not a regular file). */
static int open_pidfile(const char *path, int flags)
{
    struct stat st;
    int fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);

    if (fd == -1)
        return -1;
    if (fstat(fd, &st) == -1) {
        int saved = errno;

        close(fd);
        errno = saved;
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    return fd;
}

/* Says why open_pidfile() refused PATH. */
static void pidfile_refused(const char *path)
{
    if (errno == EINVAL)
        log_warnx("%s: not a regular file; left alone", path);
    else if (errno == ELOOP)
        log_warnx("%s: a symbolic link; a pidfile is never followed", path);
    else
        log_warn("%s", path);
}

int pidfile_check(const char *path)
{
    struct flock fl = whole_file();
    int fd = open_pidfile(path, O_RDONLY);

    if (fd == -1) {
        if (errno == ENOENT)
            return 0;
        pidfile_refused(path);
        return -1;
    }
    /* F_GETLK: would our lock be refused, and by whom? */
    if (fcntl(fd, F_GETLK, &fl) == -1) {
        log_warn("%s", path);
        close(fd);
        return -1;
    }
    close(fd);
    if (fl.l_type != F_UNLCK) {
        log_warnx("%s: held by a running master (pid %ld)", path,
                  (long)fl.l_pid);
        return -1;
    }
    return 0;
}

/* True if PATH still names the file open on FD. */
static bool names_file(const char *path, int fd)
{
    struct stat by_path, by_fd;

    if (stat(path, &by_path) == -1 || fstat(fd, &by_fd) == -1)
        return false;
    return by_path.st_dev == by_fd.st_dev && by_path.st_ino == by_fd.st_ino;
}

/* Opens PATH and locks it. A master that stops unlinks its pidfile and
 * only then lets the lock go (pidfile_remove()): if it did so between our
 * open() and our lock, we hold a lock on a file no path leads to, and a
 * third master would take the path as free. So, once locked, the path must
 * still name our file; if not, start again with the file it names now.
 * Returns the descriptor, or -1 after saying why not. */
static int open_locked(const char *path)
{
    for (int tries = 0; tries < 10; tries++) {
        struct flock fl = whole_file();
        int fd = open_pidfile(path, O_RDWR | O_CREAT);

        if (fd == -1) {
            pidfile_refused(path);
            return -1;
        }
        /* F_SETLK, not F_SETLKW: another master starting at the same
         * moment may have won since pidfile_check(); then we refuse, not
         * wait. */
        if (fcntl(fd, F_SETLK, &fl) == -1) {
            if (errno == EACCES || errno == EAGAIN)
                log_warnx("%s: held by a running master", path);
            else
                log_warn("%s", path);
            close(fd);
            return -1;
        }
        if (names_file(path, fd))
            return fd;
        close(fd);
    }
    log_warnx("%s: keeps being replaced; not taken", path);
    return -1;
}

int pidfile_write(const char *path)
{
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());

    pid_fd = open_locked(path);
    if (pid_fd == -1)
        return -1;
    /* Only now, with the lock, may the old contents go. */
    if (ftruncate(pid_fd, 0) == -1 ||
        write_all(pid_fd, buf, (size_t)len) == -1) {
        log_warn("%s", path);
        pidfile_remove(AT_FDCWD, path);
        return -1;
    }
    return 0;
}

int pidfile_fd(void)
{
    return pid_fd;
}

void pidfile_remove(int dir_fd, const char *path)
{
    if (pid_fd == -1)
        return;
    /* Unlink first, then close, which lets the lock go. The other order
     * has a window: between close() and unlink(), a new master could lock
     * the file and write its pid, and our unlink() would take its pidfile
     * away. In this order a new master that opened the file before the
     * unlink() finds, once it has the lock, that the path no longer leads
     * to it, and starts again (open_locked()). */
    if (unlinkat(dir_fd, path, 0) == -1)
        log_warn("%s", path);
    close(pid_fd);
    pid_fd = -1;
}
