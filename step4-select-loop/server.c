/* server.c - chapter 4: one select() loop serves every client at once.
 *
 * Usage: ./server [-w N] [-s PATH]
 *        N workers, 1..64 (default 3); the socket at PATH (default
 *        master.sock in the current directory). Send with ./client.
 *
 * As in chapter 3, the master listens on a Unix-domain socket and hands each
 * message to the next worker's queue. Now one select() loop watches the
 * listening socket and every connection, all non-blocking, so a slow or
 * silent client holds up nobody. Each connection has a framer (frame.c)
 * that cuts its bytes into newline-terminated messages, any number per
 * connection, and a buffer for replies the client has not read yet. A full
 * queue gets the reply BUSY instead of stopping the master.
 *
 * New here: select(2) and the fd_set macros, FD_SETSIZE, fcntl(2) with
 * O_NONBLOCK, EAGAIN, msgsnd(2) with IPC_NOWAIT, and clock_gettime(2) with
 * CLOCK_MONOTONIC for the one timeout the loop has.
 *
 * Still wrong, shown in README.md: Ctrl-C kills the master at once, leaving
 * its queues, its socket file and its workers behind.
 *
 * Read next: ../step5-signals/server.c stops cleanly on a signal.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* strsignal() */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
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
 * queue is full, msgsnd() sleeps until a worker makes room, or with FLAGS
 * IPC_NOWAIT fails at once with EAGAIN. Returns 0, or -1 with errno set. */
static int send_message(int qid, long type, const char *data, size_t len,
                        int flags)
{
    struct message msg;

    msg.mtype = type;
    memcpy(msg.mtext, data, len);
    /* The size is that of mtext only, not the whole struct, and only the
     * bytes in use: the kernel copies exactly that many. */
    while (msgsnd(qid, &msg, len, flags) == -1) {
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

/* Sets O_NONBLOCK on FD: read(), write() and accept() then return EAGAIN
 * instead of sleeping, so no single client can stop the loop. */
static int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
        warn_errno("fcntl O_NONBLOCK");
        return -1;
    }
    return 0;
}

/* Replies waiting to be written to one client. A client may send many
 * messages before it reads a reply; when this buffer has no room for one
 * more reply, the master stops taking messages from that client (and stops
 * reading from it) until the client reads. */
#define OUT_MAX 4096
/* The longest reply line: "ERR message too long\n" and room to spare. */
#define REPLY_MAX 32

/* One client connection. */
struct conn {
    int fd;
    bool eof;         /* the client has closed its sending side */
    bool pending;     /* the framer may still hold whole messages */
    struct framer in; /* bytes read, not yet handed out as messages */
    size_t out_len;   /* reply bytes waiting in out */
    char out[OUT_MAX];
};

/* What the loop keeps track of. Connections are found by descriptor:
 * select() can only watch descriptors below FD_SETSIZE anyway. */
struct pool {
    int listener;
    bool listener_paused; /* out of descriptors: stop accepting for now */
    int64_t resume_at;    /* while paused: when to try again (monotonic_ms) */
    const int *qids;
    int workers;
    int cursor;
    struct conn *conns[FD_SETSIZE];
};

/* Puts one message on the next worker's queue, without waiting: with
 * IPC_NOWAIT a full queue makes msgsnd() fail with EAGAIN at once. The
 * master must never sleep on one queue while every client waits on it.
 * Returns the reply for the client. */
static const char *dispatch(struct pool *p, const char *msg, size_t len)
{
    int qid;

    if (len == 0)
        return "ERR empty message\n";
    qid = p->qids[next_slot(&p->cursor, p->workers)];
    if (send_message(qid, MSG_DATA, msg, len, IPC_NOWAIT) == 0)
        return "OK\n";
    if (errno == EAGAIN) /* queue full: the client may try again */
        return "BUSY\n";
    warn_errno("msgsnd"); /* EIDRM: someone removed the queue */
    return "ERR cannot queue message\n";
}

static void close_conn(struct pool *p, struct conn *c)
{
    p->conns[c->fd] = NULL;
    close(c->fd);
    free(c);
    p->listener_paused = false; /* a descriptor is free again */
}

/* Writes as much of the waiting replies as the socket takes now. Returns 0,
 * or -1 if the client is gone (EPIPE, ECONNRESET). */
static int flush_replies(struct conn *c)
{
    while (c->out_len > 0) {
        ssize_t n = write(c->fd, c->out, c->out_len);

        if (n == -1) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0; /* the socket buffer is full: select() says when */
            return -1;
        }
        /* A short write: keep the rest at the front for next time. */
        memmove(c->out, c->out + n, c->out_len - (size_t)n);
        c->out_len -= (size_t)n;
    }
    return 0;
}

/* Hands out every whole message the framer holds, while there is room for
 * its reply, then writes the replies. Returns 0, or -1 if the connection is
 * finished (the client has gone, or said all it had to and got every reply)
 * and should be closed. */
static int handle_messages(struct pool *p, struct conn *c)
{
    do {
        c->pending = true;
        while (c->out_len + REPLY_MAX <= sizeof c->out) {
            const char *msg, *reply;
            size_t len;
            enum frame_result r = framer_next(&c->in, c->eof, &msg, &len);

            if (r == FRAME_MORE) {
                c->pending = false;
                break;
            }
            reply = r == FRAME_TOO_LONG ? "ERR message too long\n"
                                        : dispatch(p, msg, len);
            memcpy(c->out + c->out_len, reply, strlen(reply));
            c->out_len += strlen(reply);
        }
        if (flush_replies(c) == -1)
            return -1;
        /* If the socket took every reply, there is room again for the
         * messages still held: take them now. Waiting would wait forever,
         * since a connection with nothing to write and messages held is in
         * neither of select()'s sets. */
    } while (c->pending && c->out_len + REPLY_MAX <= sizeof c->out);
    return c->eof && !c->pending && c->out_len == 0 ? -1 : 0;
}

/* Reads what the client has sent. Returns 0, or -1 if the connection should
 * be closed. */
static int handle_readable(struct pool *p, struct conn *c)
{
    size_t room;
    char *space = framer_space(&c->in, &room);
    ssize_t n = read(c->fd, space, room);

    if (n == -1) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            return 0; /* nothing after all: select() will tell us again */
        return -1;    /* ECONNRESET: the client is gone */
    }
    if (n == 0)
        c->eof = true; /* a last line without a newline counts now */
    framer_added(&c->in, (size_t)n);
    return handle_messages(p, c);
}

/* Takes a new connection into the pool, or closes it if the pool cannot
 * watch it. */
static void add_conn(struct pool *p, int fd)
{
    struct conn *c;

    /* FD_SET() on a descriptor >= FD_SETSIZE writes past the end of the
     * fixed-size fd_set bitmap: memory corruption, not an error. poll(2)
     * and epoll(7) have no such limit. */
    if (fd >= FD_SETSIZE) {
        log_line("connection refused: descriptor %d is beyond FD_SETSIZE "
                 "(%d)",
                 fd, FD_SETSIZE);
        close(fd);
        return;
    }
    c = malloc(sizeof *c);
    if (c == NULL || set_nonblocking(fd) == -1) {
        if (c == NULL)
            warn_errno("malloc");
        free(c);
        close(fd);
        return;
    }
    c->fd = fd;
    c->eof = false;
    c->pending = false;
    framer_init(&c->in);
    c->out_len = 0;
    p->conns[fd] = c;
}

/* Milliseconds on a clock that only goes forward: the time of day can be
 * set back, and a pause measured with it would then last that much longer. */
static int64_t monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail for this clock */
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* How many connections one wake-up accepts at most. Clients that keep
 * connecting would otherwise keep this loop accepting while those already
 * taken wait: their messages unread, and the connections their clients
 * have closed still holding a descriptor each until select() reports the
 * close. The rest stay in the backlog, and the next select() reports the
 * listener again at once. */
#define ACCEPT_BATCH 32

/* How long the listener rests when accept() runs out of descriptors. */
#define PAUSE_MS 1000

/* Accepts the connections waiting in the backlog, ACCEPT_BATCH at most. */
static void accept_clients(struct pool *p)
{
    for (int n = 0; n < ACCEPT_BATCH; n++) {
        int fd = accept(p->listener, NULL, NULL);

        if (fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return; /* the backlog is empty */
            if (errno == EMFILE || errno == ENFILE) {
                /* Out of descriptors. The connection stays in the backlog;
                 * watching the listener now would wake select() at once,
                 * forever. Pause it until a connection closes, or for
                 * PAUSE_MS: with no connection open, none will close, and a
                 * descriptor can also come free elsewhere (ENFILE is the
                 * whole system's limit) or the limit be raised. */
                log_line("out of file descriptors; not accepting for a "
                         "second or until a connection closes");
                p->listener_paused = true;
                p->resume_at = monotonic_ms() + PAUSE_MS;
                return;
            }
            warn_errno("accept");
            return;
        }
        add_conn(p, fd);
    }
}

/* Fills the sets with what each descriptor waits for; returns the highest. */
static int watch(struct pool *p, fd_set *rd, fd_set *wr)
{
    int max_fd = -1;

    FD_ZERO(rd);
    FD_ZERO(wr);
    if (!p->listener_paused) {
        FD_SET(p->listener, rd);
        max_fd = p->listener;
    }
    for (int fd = 0; fd < FD_SETSIZE; fd++) {
        struct conn *c = p->conns[fd];

        if (c == NULL)
            continue;
        /* Read only once every message read so far has its reply in out:
         * a client that sends and never reads is then held back by its own
         * socket buffer, and costs the master no memory. */
        if (!c->eof && !c->pending)
            FD_SET(fd, rd);
        if (c->out_len > 0)
            FD_SET(fd, wr);
        if (fd > max_fd)
            max_fd = fd;
    }
    return max_fd;
}

/* While the listener is paused: ends the pause once its time is up, and
 * until then puts the time left in TV, for select() to wake up then even if
 * nothing else happens. Returns TV, or NULL (no timeout) when the listener
 * is watched. */
static struct timeval *pause_timeout(struct pool *p, struct timeval *tv)
{
    int64_t left;

    if (!p->listener_paused)
        return NULL;
    left = p->resume_at - monotonic_ms();
    if (left <= 0) {
        p->listener_paused = false;
        return NULL;
    }
    tv->tv_sec = (time_t)(left / 1000);
    tv->tv_usec = (suseconds_t)(left % 1000 * 1000);
    return tv;
}

/* Serves every client at once: one select() wakes up the loop when any
 * descriptor is ready, and each is served without waiting on the others.
 * Returns only when select() fails. */
static void serve(struct pool *p)
{
    for (;;) {
        fd_set rd, wr;
        /* The timeout first: it may end the pause, and watch() then puts
         * the listener back in the read set. */
        struct timeval tv, *timeout = pause_timeout(p, &tv);
        int max_fd = watch(p, &rd, &wr);

        if (select(max_fd + 1, &rd, &wr, NULL, timeout) == -1) {
            if (errno == EINTR)
                continue;
            warn_errno("select");
            return;
        }
        if (!p->listener_paused && FD_ISSET(p->listener, &rd))
            accept_clients(p);
        for (int fd = 0; fd <= max_fd; fd++) {
            struct conn *c = p->conns[fd];
            int rc = 0;

            /* A connection accepted just now is in neither set. */
            if (c == NULL)
                continue;
            if (FD_ISSET(fd, &wr)) /* room again: take held messages too */
                rc = handle_messages(p, c);
            if (rc == 0 && FD_ISSET(fd, &rd))
                rc = handle_readable(p, c);
            if (rc == -1)
                close_conn(p, c);
        }
    }
}

/* Tells each worker to leave once it has handled its queue. */
static int stop_workers(const int *qids, int n)
{
    int status = 0;

    for (int i = 0; i < n; i++) {
        if (send_message(qids[i], MSG_EXIT, "", 0, 0) == -1) {
            warn_errno("msgsnd exit message");
            status = -1;
        }
    }
    return status;
}

int main(int argc, char *argv[])
{
    const char *path = SOCKET_PATH_DEFAULT;
    static struct pool pool; /* static: its table is too big for a stack */
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
    /* Non-blocking, so that accept() never sleeps: accept_clients() calls
     * it until the backlog is empty, and the call that finds it empty must
     * say EAGAIN, not wait for the next client with every client waiting. */
    if (set_nonblocking(listener) == -1) {
        close(listener);
        unlink(path);
        return EXIT_FAILURE;
    }
    /* The queues exist before fork(), so every worker inherits its id. */
    if (create_queues(qids, workers) == -1) {
        close(listener);
        unlink(path);
        return EXIT_FAILURE;
    }
    log_line("started");
    started = start_workers(qids, workers, listener);
    if (started == workers) {
        pool.listener = listener;
        pool.qids = qids;
        pool.workers = workers;
        serve(&pool); /* returns only when it cannot go on */
    }
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
