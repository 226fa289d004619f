/* listener.c - final: creating the listening socket (chapter 3), with the
 * checks SPEC section 7 asks for.
 * Owns: socket(2), bind(2), listen(2) and the socket file at start-up. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"

int unix_address(struct sockaddr_un *addr, const char *path)
{
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof addr->sun_path) {
        errno = len == 0 ? ENOENT : ENAMETOOLONG;
        return -1;
    }
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path, path, len + 1);
    return 0;
}

int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
        log_warn("fcntl O_NONBLOCK");
        return -1;
    }
    return 0;
}

/* Makes the path free for bind(). Only a socket file that nobody answers on
 * is removed: unlinking whatever is there would delete a file named by
 * mistake, or steal the path of a running server. A server that starts
 * between our connect() and unlink() can still lose its path; --pidfile
 * closes that gap for servers that share one. Returns 0, or -1. */
static int remove_stale_socket(const struct sockaddr_un *addr)
{
    const char *path = addr->sun_path;
    struct stat st;
    int fd, rc, saved;

    if (lstat(path, &st) == -1) {
        if (errno == ENOENT)
            return 0;
        log_warn("%s", path);
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        log_warnx("%s: exists and is not a socket; not removed", path);
        return -1;
    }
    /* Non-blocking: a live server with a full backlog must not make us wait;
     * it answers EAGAIN, which also means "in use". */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        log_warn("socket");
        return -1;
    }
    rc = connect(fd, (const struct sockaddr *)addr, sizeof *addr);
    saved = errno;
    close(fd);
    if (rc == 0 || saved == EAGAIN) {
        log_warnx("%s: already in use by a running server", path);
        return -1;
    }
    if (saved != ECONNREFUSED) { /* EACCES, say: not ours to judge */
        errno = saved;
        log_warn("%s", path);
        return -1;
    }
    if (unlink(path) == -1) { /* nobody listens: a stale socket */
        log_warn("%s", path);
        return -1;
    }
    return 0;
}

int listener_open(const char *path)
{
    struct sockaddr_un addr;
    mode_t old_mask;
    int fd, rc;

    if (unix_address(&addr, path) == -1) {
        log_warn("%s", path);
        return -1;
    }
    if (remove_stale_socket(&addr) == -1)
        return -1;
    /* SOCK_CLOEXEC: nothing we exec should inherit it. Workers are forked,
     * not exec'd, and close it themselves (close_master_fds(), master.c). */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        log_warn("socket");
        return -1;
    }
    /* The file is born with mode 0777 minus the umask; umask 0177 makes it
     * 0600 from the start, so there is no moment in which another user
     * could connect. On Linux connect() needs write permission on it
     * (unix(7)); some systems ignore a socket file's mode, and only a
     * directory of mode 0700 around it keeps others out everywhere. */
    old_mask = umask(0177);
    rc = bind(fd, (const struct sockaddr *)&addr, sizeof addr);
    umask(old_mask);
    if (rc == -1) {
        log_warn("%s", path);
        close(fd);
        return -1;
    }
    if (listen(fd, SOMAXCONN) == -1)
        log_warn("listen");
    else if (set_nonblocking(fd) == 0) /* if not, it said why */
        return fd;
    close(fd);
    unlink(path);
    return -1;
}
