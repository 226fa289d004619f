/* daemon.c - final: detaching from the terminal, the Stevens way, and the
 * pidfile. Owns: setsid(2), the double fork, the readiness pipe. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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

/* Reads the pid in PATH. Returns it, 0 if there is no usable pid, or -1
 * after saying why the file cannot be read. */
static long read_pid(const char *path)
{
    char buf[32];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd == -1) {
        if (errno == ENOENT)
            return 0;
        warn_errno(path);
        return -1;
    }
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return strtol(buf, NULL, 10) > 0 ? strtol(buf, NULL, 10) : 0;
}

int pidfile_check(const char *path)
{
    long pid = read_pid(path);

    if (pid == -1)
        return -1;
    /* kill() with signal 0 only checks: ESRCH means no such process. EPERM
     * means it exists but is not ours: still alive, still refused. */
    if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
        warn("%s: held by a running master (pid %ld)", path, pid);
        return -1;
    }
    return 0;
}

int pidfile_write(const char *path)
{
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (fd == -1) {
        warn_errno(path);
        return -1;
    }
    if (write_all(fd, buf, (size_t)len) == -1) {
        warn_errno(path);
        close(fd);
        return -1;
    }
    if (close(fd) == -1) {
        warn_errno(path);
        return -1;
    }
    return 0;
}

void pidfile_remove(int dir_fd, const char *path)
{
    char buf[32];
    ssize_t n;
    int fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC);

    if (fd == -1)
        return;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    /* Another master may have taken the file over since: leave it then. */
    if (strtol(buf, NULL, 10) == (long)getpid() &&
        unlinkat(dir_fd, path, 0) == -1)
        warn_errno(path);
}
