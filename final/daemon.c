/* daemon.c - final: detaching from the terminal, the Stevens way, and the
 * pidfile. Owns: setsid(2), the double fork, the readiness pipe. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

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
        warn_errno("pipe");
        return -1;
    }
    /* Nothing is buffered in stdout here (only the usage ever goes through
     * it, and not on this path), so fork() duplicates no pending output. */
    pid = fork();
    if (pid == -1) {
        warn_errno("fork");
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
        warn_errno("setsid");
        _exit(EXIT_FAILURE);
    }
    /* Fork again and let the session leader go: a process that is not a
     * session leader can never acquire a controlling terminal by opening
     * one. */
    pid = fork();
    if (pid == -1) {
        warn_errno("fork");
        _exit(EXIT_FAILURE);
    }
    if (pid > 0)
        _exit(EXIT_SUCCESS);
    *ready_fd = fds[1];
    return 0;
}

int daemon_detach(int *dir_fd)
{
    int null = open("/dev/null", O_RDWR);

    if (null == -1) {
        warn_errno("/dev/null");
        return -1;
    }
    /* Keep the old directory open: the socket file and the pidfile may
     * have been given relative to it, and are removed at the end. */
    *dir_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*dir_fd == -1) {
        warn_errno("open .");
        close(null);
        return -1;
    }
    if (chdir("/") == -1) {
        warn_errno("chdir /");
        close(null);
        return -1;
    }
    /* The terminal may be gone at any time: reading it or writing to it
     * would then fail or stop us (SIGTTIN, SIGTTOU). */
    if (dup2(null, STDIN_FILENO) == -1 || dup2(null, STDOUT_FILENO) == -1 ||
        dup2(null, STDERR_FILENO) == -1) {
        warn_errno("dup2");
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
        warn_errno("write to the waiting parent");
    close(*ready_fd);
    *ready_fd = -1;
}

/* The pidfile stays open, with a write lock on it, for the master's whole
 * life. The lock, not the pid written inside, says whether a master is
 * alive: the kernel drops it when the process dies, however it dies, and a
 * pid in a stale file may have been given to some other process since.
 * fcntl() locks belong to a process and are not inherited by fork(), so
 * workers never hold it. */
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

int pidfile_check(const char *path)
{
    struct flock fl = whole_file();
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd == -1) {
        if (errno == ENOENT)
            return 0;
        warn_errno(path);
        return -1;
    }
    /* F_GETLK: would our lock be refused, and by whom? */
    if (fcntl(fd, F_GETLK, &fl) == -1) {
        warn_errno(path);
        close(fd);
        return -1;
    }
    close(fd);
    if (fl.l_type != F_UNLCK) {
        warn("%s: held by a running master (pid %ld)", path, (long)fl.l_pid);
        return -1;
    }
    return 0;
}

int pidfile_write(const char *path)
{
    struct flock fl = whole_file();
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());

    pid_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (pid_fd == -1) {
        warn_errno(path);
        return -1;
    }
    /* F_SETLK, not F_SETLKW: another master starting at the same moment
     * may have won since pidfile_check(); then we refuse, not wait. */
    if (fcntl(pid_fd, F_SETLK, &fl) == -1) {
        if (errno == EACCES || errno == EAGAIN)
            warn("%s: held by a running master", path);
        else
            warn_errno(path);
        close(pid_fd);
        pid_fd = -1;
        return -1;
    }
    /* Only now, with the lock, may the old contents go. */
    if (ftruncate(pid_fd, 0) == -1 ||
        write_all(pid_fd, buf, (size_t)len) == -1) {
        warn_errno(path);
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
    /* Unlink first, while the lock still keeps a new master out. */
    if (unlinkat(dir_fd, path, 0) == -1)
        warn_errno(path);
    close(pid_fd);
    pid_fd = -1;
}
