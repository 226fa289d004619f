/* server.c - chapter 3: the master takes messages from clients over a
 * Unix-domain socket and hands them to its workers round-robin.
 *
 * Usage: ./server [-w N] [-s PATH]
 *        N workers, 1..64 (default 3); the socket at PATH (default
 *        master.sock in the current directory). Send with ./client.
 *
 * The master creates the listening socket, then one queue per worker, then
 * forks the workers. Its loop accepts a connection, reads one message with
 * one read(2), puts it on the next worker's queue, replies "OK" and closes
 * the connection. A worker logs each message it takes from its queue.
 *
 * New here: socket(2), bind(2), listen(2), accept(2) and, in client.c,
 * connect(2); struct sockaddr_un; removing a stale socket file safely; the
 * socket's permissions; SIGPIPE.
 *
 * This loop has three faults, shown in README.md: one read(2) is not one
 * message; a client that connects and sends nothing stops every other
 * client; and Ctrl-C kills the master before it removes its queues.
 *
 * Read next: ../step4-select-loop/server.c serves every client at once.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* strsignal() */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define WORKERS_DEFAULT 3
#define WORKERS_MAX     64

/* A System V message: the kernel reads a long, the type, then up to the size
 * given to msgsnd() of bytes. The type must be positive. */
struct message {
    long mtype;
    char mtext[MSG_MAX];
};

/* The two kinds of message. msgrcv() with type 0 takes them in the order
 * they were sent, so an exit message never overtakes the data before it. */
enum { MSG_DATA = 1, MSG_EXIT = 2 };

static void usage(FILE *out)
{
    fprintf(out,
            "usage: server [-w N] [-s PATH]\n"
            "  -w N      worker count, 1..%d (default %d)\n"
            "  -s PATH   socket path (default %s)\n",
            WORKERS_MAX, WORKERS_DEFAULT, SOCKET_PATH_DEFAULT);
}

/* Parses a worker count: digits only, 1..WORKERS_MAX. Returns -1 if bad. */
static int parse_workers(const char *s)
{
    char *end;
    long n;

    if (*s < '0' || *s > '9') /* strtol() would take " 2" and "+2" too */
        return -1;
    errno = 0;
    n = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || n < 1 || n > WORKERS_MAX)
        return -1;
    return (int)n;
}

/* Puts LEN bytes of DATA on queue QID as a message of type TYPE. When the
 * queue is full, msgsnd() without IPC_NOWAIT sleeps until a worker makes
 * room. Returns 0, or -1 with errno set. */
static int send_message(int qid, long type, const char *data, size_t len)
{
    struct message msg;

    msg.mtype = type;
    memcpy(msg.mtext, data, len);
    /* The size is that of mtext only, not the whole struct, and only the
     * bytes in use: the kernel copies exactly that many. */
    while (msgsnd(qid, &msg, len, 0) == -1) {
        if (errno != EINTR)
            return -1;
    }
    return 0;
}

/* What a worker does: take messages from its queue, oldest first, and log
 * each one until the exit message comes. */
static void worker_main(int qid)
{
    struct message msg;
    char text[ESCAPED_SIZE(MSG_MAX)];
    int status = EXIT_SUCCESS;

    set_role("worker");
    log_line("started");
    for (;;) {
        /* Type 0: the first message on the queue, whatever its type. */
        ssize_t len = msgrcv(qid, &msg, sizeof msg.mtext, 0, 0);

        if (len == -1) {
            if (errno == EINTR)
                continue;
            warn_errno("msgrcv"); /* EIDRM: the queue was removed */
            status = EXIT_FAILURE;
            break;
        }
        if (msg.mtype == MSG_EXIT)
            break;
        escape(text, msg.mtext, (size_t)len);
        log_line("received \"%s\"", text);
    }
    log_line("exited");
    _exit(status); /* not exit(): see chapter 1 */
}

/* Logs how one child ended: its exit status, or the signal that killed it. */
static void log_child_status(pid_t pid, int status)
{
    if (WIFEXITED(status))
        log_line("worker %ld exited with status %d", (long)pid,
                 WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        log_line("worker %ld was killed by signal %d (%s)", (long)pid,
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
}

/* Waits for every child (chapter 1). Returns 0, or -1 if waitpid() failed
 * for a reason other than "no more children". */
static int reap_all(void)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);

        if (pid == -1) {
            if (errno == EINTR)
                continue;
            if (errno == ECHILD)
                return 0;
            warn_errno("waitpid");
            return -1;
        }
        log_child_status(pid, status);
    }
}

/* Creates N private queues. IPC_PRIVATE always makes a new queue with a key
 * no other program can look up; only processes that are told the id (here:
 * children, which inherit it) use it. Mode 0600: only our user may read or
 * write it, although any process of ours that guesses the id could.
 * Returns 0, or -1 after removing the queues it made. */
static int create_queues(int *qids, int n)
{
    for (int i = 0; i < n; i++) {
        qids[i] = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        if (qids[i] == -1) {
            warn_errno("msgget");
            while (i-- > 0)
                msgctl(qids[i], IPC_RMID, NULL);
            return -1;
        }
    }
    return 0;
}

/* Removes the queues. A queue outlives every process that used it: without
 * IPC_RMID it stays in the kernel until reboot (see ipcs -q). */
static int remove_queues(const int *qids, int n)
{
    int status = 0;

    for (int i = 0; i < n; i++) {
        if (msgctl(qids[i], IPC_RMID, NULL) == -1) {
            warn_errno("msgctl IPC_RMID");
            status = -1;
        }
    }
    return status;
}

/* Forks one worker per queue. Returns how many were started: fewer than N
 * if fork() failed. */
static int start_workers(const int *qids, int n, int listener)
{
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();

        if (pid == -1) {
            warn_errno("fork");
            return i;
        }
        if (pid == 0) {
            /* The child has a copy of every descriptor, the listening
             * socket too. A worker never accepts; and while any process
             * holds the socket open, clients can still connect to it and
             * queue up even after the master is gone. */
            close(listener);
            worker_main(qids[i]); /* never returns */
        }
    }
    return n;
}

/* Makes PATH free for bind(), which fails with EADDRINUSE if any file is
 * there, even the socket file of a server long gone. Blindly unlinking
 * whatever is at PATH (as the article this pool comes from does) would
 * delete a regular file given by mistake, or steal the path of a server that
 * is still running: its clients would reach us from then on. So only a
 * socket is removed, and only when nobody answers on it. A race remains: a
 * server starting between our connect() and unlink() loses its path.
 * Returns 0 when PATH is free, or -1 after saying why not. */
static int remove_stale_socket(const struct sockaddr_un *addr)
{
    const char *path = addr->sun_path;
    struct stat st;
    int fd, rc, saved;

    if (lstat(path, &st) == -1) {
        if (errno == ENOENT) /* nothing there */
            return 0;
        warn_errno(path);
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        warn("%s: exists and is not a socket; not removed", path);
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd == -1) {
        warn_errno("socket");
        return -1;
    }
    rc = connect(fd, (const struct sockaddr *)addr, sizeof *addr);
    saved = errno; /* before close(), which may change it */
    close(fd);
    if (rc == 0) {
        warn("%s: already in use by a running server", path);
        return -1;
    }
    if (saved != ECONNREFUSED) { /* EACCES, say: not ours to judge */
        errno = saved;
        warn_errno(path);
        return -1;
    }
    /* ECONNREFUSED: a socket file that no process listens on. */
    if (unlink(path) == -1) {
        warn_errno(path);
        return -1;
    }
    return 0;
}

/* Creates the listening socket at ADDR. Returns its descriptor, or -1 after
 * saying why not. */
static int open_listener(const struct sockaddr_un *addr)
{
    const char *path = addr->sun_path;
    mode_t old_mask;
    int fd, rc;

    if (remove_stale_socket(addr) == -1)
        return -1;
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd == -1) {
        warn_errno("socket");
        return -1;
    }
    /* bind() creates the socket file with mode 0777 minus the umask, and
     * connect() needs write permission on it. With umask 0177 the file is
     * born 0600: only our user can connect. A chmod() after bind() would
     * leave a moment in which anyone could. */
    old_mask = umask(0177);
    rc = bind(fd, (const struct sockaddr *)addr, sizeof *addr);
    umask(old_mask);
    if (rc == -1) {
        warn_errno(path);
        close(fd);
        return -1;
    }
    /* Until listen(), the file exists but connect() is refused. The backlog
     * is how many connections the kernel keeps waiting for accept(). */
    if (listen(fd, SOMAXCONN) == -1) {
        warn_errno("listen");
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

/* Reads one message from a client with one read(2), puts it on the next
 * worker's queue and replies. A stream socket keeps no message boundaries:
 * one read() returns whatever bytes have arrived, part of a message or
 * several at once (see README.md). Returns 0, or -1 if msgsnd() failed. */
static int serve_client(int fd, const int *qids, int n, int *cursor)
{
    char buf[MSG_MAX + 1]; /* one byte more, to notice a message too long */
    const char *reply = "OK\n";
    ssize_t len;

    do
        len = read(fd, buf, sizeof buf);
    while (len == -1 && errno == EINTR);
    if (len == -1) {
        warn_errno("read");
        return 0;
    }
    if (len == 0) /* the client closed without sending anything */
        return 0;
    if (buf[len - 1] == '\n')
        len--;
    if (len > MSG_MAX) {
        reply = "ERR message too long\n";
    } else if (send_message(qids[next_slot(cursor, n)], MSG_DATA, buf,
                            (size_t)len) == -1) {
        warn_errno("msgsnd");
        return -1;
    }
    /* EPIPE if the client has gone: SIGPIPE is ignored (see main). */
    if (write_all(fd, reply, strlen(reply)) == -1)
        warn_errno("write reply");
    return 0;
}

/* Serves clients one after another. Returns only when accept() or msgsnd()
 * fails for good. */
static void serve(int listener, const int *qids, int n)
{
    int cursor = 0;

    for (;;) {
        int fd = accept(listener, NULL, NULL), rc;

        if (fd == -1) {
            /* ECONNABORTED: a client left while waiting in the backlog. */
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            warn_errno("accept"); /* EMFILE, ENOBUFS...: give up */
            return;
        }
        rc = serve_client(fd, qids, n, &cursor);
        close(fd);
        if (rc == -1)
            return;
    }
}

/* Tells each worker to leave once it has handled its queue. */
static int stop_workers(const int *qids, int n)
{
    int status = 0;

    for (int i = 0; i < n; i++) {
        if (send_message(qids[i], MSG_EXIT, "", 0) == -1) {
            warn_errno("msgsnd exit message");
            status = -1;
        }
    }
    return status;
}

int main(int argc, char *argv[])
{
    const char *path = SOCKET_PATH_DEFAULT;
    struct sockaddr_un addr;
    int qids[WORKERS_MAX];
    int workers = WORKERS_DEFAULT;
    int listener, started;
    int opt;

    while ((opt = getopt(argc, argv, "w:s:h")) != -1) {
        switch (opt) {
        case 'w':
            workers = parse_workers(optarg);
            if (workers == -1) {
                fprintf(stderr, "server: bad worker count '%s'\n", optarg);
                usage(stderr);
                return 2;
            }
            break;
        case 's':
            path = optarg;
            break;
        case 'h':
            usage(stdout);
            return EXIT_SUCCESS;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (make_address(&addr, path) == -1) {
        warn("bad socket path '%s': %s (at most %zu bytes)", path,
             strerror(errno), sizeof addr.sun_path - 1);
        usage(stderr);
        return 2;
    }

    /* Writing to a socket whose reader has gone raises SIGPIPE, and its
     * default action ends the process: any client that leaves before its
     * reply would kill the server. Ignored, write() fails with EPIPE. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        warn_errno("signal");
        return EXIT_FAILURE;
    }
    listener = open_listener(&addr);
    if (listener == -1)
        return EXIT_FAILURE;
    /* The queues exist before fork(), so every worker inherits its id. */
    if (create_queues(qids, workers) == -1) {
        close(listener);
        unlink(path);
        return EXIT_FAILURE;
    }
    log_line("started");
    started = start_workers(qids, workers, listener);
    if (started == workers)
        serve(listener, qids, workers); /* returns only when it cannot go on */
    close(listener);
    unlink(path);

    /* Exit messages go behind the data: each worker first empties its queue.
     * Only workers that were started get one; nobody reads the others. Each
     * step reports its own failure; the exit status is 1 whatever happens. */
    stop_workers(qids, started);
    reap_all();
    remove_queues(qids, workers);
    log_line("exited");
    return EXIT_FAILURE;
}
