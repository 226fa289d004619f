/* server.c - chapter 5: SIGINT and SIGTERM stop the pool cleanly.
 *
 * Usage: ./server [-w N] [-s PATH]
 *        N workers, 1..64 (default 3); the socket at PATH (default
 *        master.sock in the current directory). Send with ./client; stop
 *        with Ctrl-C or kill -TERM.
 *
 * Chapter 4's select() loop, plus a clean stop. The handler for SIGINT and
 * SIGTERM writes one byte into a pipe that select() watches with the
 * sockets (the self-pipe trick), so the loop notices every signal at once.
 * On a stop the master removes its socket file, answers the messages it has
 * read, closes the connections, sends each worker an exit message behind
 * its queued data, reaps the workers, removes the queues and exits 0. It
 * never sleeps on a queue or a worker, so a dead worker cannot hold up the
 * stop, and a second signal ends it: the workers are terminated, and the
 * log counts the messages they leave on their queues. Workers ignore
 * SIGINT: Ctrl-C reaches the whole process group, but only the master
 * decides when a worker is done.
 *
 * New here: sigaction(2), SA_RESTART, sigprocmask(2), pipe(2), which calls
 * a signal handler may make (signal-safety(7)), waitpid(2) with WNOHANG,
 * and kill(2).
 *
 * Read next: ../final/ adds what a production pool needs.
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

/* The self-pipe trick. A signal may arrive at any moment, also just after
 * the loop has checked a flag and just before it sleeps in select(): the
 * signal would then wait unnoticed until some client happens to wake the
 * loop. So the handler writes a byte into this pipe, and select() watches
 * its read end with the sockets: a signal becomes one more readable
 * descriptor, and cannot be missed. */
static int signal_pipe[2] = {-1, -1};

/* Which stop signal came, for the log. A handler may only touch a volatile
 * sig_atomic_t: anything wider could be read half-written. */
static volatile sig_atomic_t stop_signal;

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

/* Reaps every worker that has ended, without waiting for the others
 * (WNOHANG), and sets its entry in PIDS to 0. Returns how many of the N
 * are still running, or -1 if waitpid() failed. */
static int reap_ended(pid_t *pids, int n)
{
    int running = 0;

    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);

        if (pid == 0) /* children left, none of them ended */
            break;
        if (pid == -1) {
            if (errno == EINTR)
                continue;
            if (errno == ECHILD) /* no children at all */
                return 0;
            warn_errno("waitpid");
            return -1;
        }
        log_child_status(pid, status);
        for (int i = 0; i < n; i++) {
            if (pids[i] == pid)
                pids[i] = 0;
        }
    }
    for (int i = 0; i < n; i++) {
        if (pids[i] != 0)
            running++;
    }
    return running;
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

/* Takes the data messages still on queue QID off it, without waiting, and
 * returns how many there were (exit messages are not counted). */
static long drop_data(int qid)
{
    struct message msg;
    long n = 0;

    while (msgrcv(qid, &msg, sizeof msg.mtext, MSG_DATA, IPC_NOWAIT) != -1)
        n++;
    if (errno != ENOMSG) /* ENOMSG: none left */
        warn_errno("msgrcv");
    return n;
}

/* Removes the queues; PIDS names the worker of each, for the log. A queue
 * outlives every process that used it: without IPC_RMID it stays in the
 * kernel until reboot (see ipcs -q). Once every worker has left, a queue
 * still holds messages only if its worker died, or was terminated by a
 * second stop signal: messages answered OK that nobody will ever handle.
 * They go with the queue, and the log says how many. */
static int remove_queues(const int *qids, const pid_t *pids, int n)
{
    int status = 0;

    for (int i = 0; i < n; i++) {
        long lost = drop_data(qids[i]);

        if (msgctl(qids[i], IPC_RMID, NULL) == -1) {
            warn_errno("msgctl IPC_RMID");
            status = -1;
        } else if (lost > 0) {
            log_line("removed the queue of worker %ld with %ld unhandled "
                     "message%s",
                     (long)pids[i], lost, lost == 1 ? "" : "s");
        }
    }
    return status;
}

/* Sets up a new worker's signals. Ctrl-C in a terminal sends SIGINT to the
 * whole process group, workers too, but a worker must not die with messages
 * on its queue: it ignores SIGINT and leaves when the master tells it to.
 * SIGTERM gets its default action back, so a worker can still be killed.
 * Then the signals the master blocked around fork() are let in; a SIGINT
 * pending meanwhile is discarded, since it is now ignored. */
static int reset_worker_signals(const sigset_t *mask)
{
    if (signal(SIGINT, SIG_IGN) == SIG_ERR ||
        signal(SIGTERM, SIG_DFL) == SIG_ERR) {
        warn_errno("signal");
        return -1;
    }
    if (sigprocmask(SIG_SETMASK, mask, NULL) == -1) {
        warn_errno("sigprocmask");
        return -1;
    }
    return 0;
}

/* Forks one worker per queue and puts its pid in PIDS. Returns how many
 * were started: fewer than N if fork() failed. */
static int start_workers(const int *qids, pid_t *pids, int n, int listener)
{
    sigset_t stops, old;
    int started = n;

    /* A child inherits the master's handlers. Until it has reset them, a
     * SIGINT would run on_stop_signal() in the worker and write to the
     * master's pipe; blocked, the signal waits until the child is ready. */
    sigemptyset(&stops);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &stops, &old) == -1) {
        warn_errno("sigprocmask");
        return 0;
    }
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();

        if (pid == -1) {
            warn_errno("fork");
            started = i;
            break;
        }
        if (pid == 0) {
            /* The child has a copy of every descriptor: the listening
             * socket, which it must not hold open (clients could still
             * connect while it lives), and the master's self-pipe. */
            close(listener);
            close(signal_pipe[0]);
            close(signal_pipe[1]);
            if (reset_worker_signals(&old) == -1)
                _exit(EXIT_FAILURE);
            worker_main(qids[i]); /* never returns */
        }
        pids[i] = pid;
    }
    if (sigprocmask(SIG_SETMASK, &old, NULL) == -1)
        warn_errno("sigprocmask");
    return started;
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

/* The handler does only what is async-signal-safe (signal-safety(7)):
 * write(2) is, but printf() and malloc() are not, since the signal may have
 * interrupted the very same call holding a lock or half-updated state. */
static void on_stop_signal(int sig)
{
    int saved = errno; /* write() may change errno under the interrupted code */
    ssize_t n;

    stop_signal = sig;
    n = write(signal_pipe[1], "", 1);
    (void)n; /* EAGAIN: the pipe is full, so a wake-up is pending anyway */
    errno = saved;
}

/* Creates the self-pipe, non-blocking at both ends: a handler must never
 * block on a full pipe, and draining it must stop when it is empty. Then
 * installs the handler for SIGINT and SIGTERM. Returns 0, or -1. */
static int catch_stop_signals(void)
{
    struct sigaction sa;

    if (pipe(signal_pipe) == -1) {
        warn_errno("pipe");
        return -1;
    }
    if (set_nonblocking(signal_pipe[0]) == -1 ||
        set_nonblocking(signal_pipe[1]) == -1)
        return -1;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    /* SA_RESTART: a read() or write() the signal interrupts is restarted by
     * the kernel instead of failing with EINTR. Some calls are never
     * restarted (signal(7)): select(), msgsnd() and msgrcv() among them, so
     * the loops around those still retry on EINTR. */
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGINT, &sa, NULL) == -1 ||
        sigaction(SIGTERM, &sa, NULL) == -1) {
        warn_errno("sigaction");
        return -1;
    }
    return 0;
}

/* Empties the self-pipe; the bytes only say "a signal came". */
static void drain_signal_pipe(void)
{
    char buf[64];

    while (read(signal_pipe[0], buf, sizeof buf) > 0)
        ;
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
    int max_fd;

    FD_ZERO(rd);
    FD_ZERO(wr);
    FD_SET(signal_pipe[0], rd);
    max_fd = signal_pipe[0];
    if (!p->listener_paused) {
        FD_SET(p->listener, rd);
        if (p->listener > max_fd)
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
 * Returns 0 when SIGINT or SIGTERM asks it to stop, -1 if select() fails. */
static int serve(struct pool *p)
{
    for (;;) {
        fd_set rd, wr;
        /* The timeout first: it may end the pause, and watch() then puts
         * the listener back in the read set. */
        struct timeval tv, *timeout = pause_timeout(p, &tv);
        int max_fd = watch(p, &rd, &wr);

        if (select(max_fd + 1, &rd, &wr, NULL, timeout) == -1) {
            if (errno == EINTR) /* a signal: its byte is in the pipe now */
                continue;
            warn_errno("select");
            return -1;
        }
        if (FD_ISSET(signal_pipe[0], &rd)) {
            drain_signal_pipe();
            log_line("%s received; stopping",
                     stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
            return 0;
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

/* At a stop: answers the whole messages already read from each client, as
 * far as its reply buffer allows, writes what the socket takes without
 * waiting, and closes every connection. A message read only in part gets no
 * reply: it was never queued, and the client can tell. */
static void finish_clients(struct pool *p)
{
    for (int fd = 0; fd < FD_SETSIZE; fd++) {
        struct conn *c = p->conns[fd];

        if (c != NULL) {
            handle_messages(p, c);
            close_conn(p, c);
        }
    }
}

/* How often the stop looks again at what it waits for. select() cannot
 * watch a System V queue, so an exit message that finds its queue full is
 * tried again on a timer; and this chapter catches no SIGCHLD (the final
 * one does), so the same timer is when it looks for workers that ended. */
#define STOP_TICK_MS 20

/* Puts an exit message behind the data on the queue of each worker still
 * running that has not been sent one (ASKED). IPC_NOWAIT: a full queue must
 * not put the master to sleep, since its worker may be dead or stopped and
 * never make room; the next tick tries again. Returns 0, or -1 if a message
 * could not be sent for another reason. */
static int send_exit_messages(const int *qids, const pid_t *pids, bool *asked,
                              int n)
{
    int status = 0;

    for (int i = 0; i < n; i++) {
        if (pids[i] == 0 || asked[i])
            continue;
        if (send_message(qids[i], MSG_EXIT, "", 0, IPC_NOWAIT) == 0) {
            asked[i] = true;
        } else if (errno != EAGAIN) {
            /* EIDRM: the queue is gone, and its worker ends with it. */
            warn_errno("msgsnd exit message");
            asked[i] = true;
            status = -1;
        }
    }
    return status;
}

/* A second stop signal: the operator will not wait. SIGTERM ends a worker
 * (its default action) whatever is on its queue. SIGCONT wakes one that is
 * stopped, which would keep SIGTERM pending, and the master waiting, until
 * it ran again. A pid in PIDS is not reaped yet, so it cannot be another
 * process's by now. */
static void terminate_workers(const pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        if (pids[i] != 0 &&
            (kill(pids[i], SIGTERM) == -1 || kill(pids[i], SIGCONT) == -1))
            warn_errno("kill");
    }
}

/* Sleeps for one tick, or less if a stop signal comes: in select(), on the
 * self-pipe alone. Returns 1 if a signal came, 0 if not, -1 if select()
 * failed. */
static int wait_tick(void)
{
    struct timeval tv = {0, (suseconds_t)STOP_TICK_MS * 1000};
    fd_set rd;

    FD_ZERO(&rd);
    FD_SET(signal_pipe[0], &rd);
    if (select(signal_pipe[0] + 1, &rd, NULL, NULL, &tv) == -1) {
        if (errno == EINTR) /* the byte is in the pipe: seen next tick */
            return 0;
        warn_errno("select");
        return -1;
    }
    if (!FD_ISSET(signal_pipe[0], &rd))
        return 0;
    drain_signal_pipe();
    return 1;
}

/* Tells each worker in PIDS to leave once it has handled its queue, and
 * waits until every one has left. As in the loop, the master sleeps only
 * in select(), never in msgsnd() or waitpid(), so it sees a worker that
 * died and a second SIGINT or SIGTERM, which ends the wait by terminating
 * the workers, messages queued or not. Returns 0, or -1 if a call failed. */
static int stop_workers(const int *qids, const pid_t *pids, int n)
{
    pid_t live[WORKERS_MAX]; /* a worker's pid, until it is reaped */
    bool asked[WORKERS_MAX] = {false};
    int status = 0;

    memcpy(live, pids, (size_t)n * sizeof *live);
    for (;;) {
        /* Reap first: a worker already dead gets no exit message. */
        int running = reap_ended(live, n);

        if (running == -1)
            return -1;
        if (running == 0)
            return status;
        if (send_exit_messages(qids, live, asked, n) == -1)
            status = -1;
        switch (wait_tick()) {
        case -1:
            return -1;
        case 1:
            log_line("%s again: terminating the workers",
                     stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
            terminate_workers(live, n);
            break;
        }
    }
}

int main(int argc, char *argv[])
{
    const char *path = SOCKET_PATH_DEFAULT;
    static struct pool pool; /* static: its table is too big for a stack */
    struct sockaddr_un addr;
    int qids[WORKERS_MAX];
    pid_t pids[WORKERS_MAX] = {0};
    int workers = WORKERS_DEFAULT;
    int listener, started, status = EXIT_FAILURE;
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
    if (catch_stop_signals() == -1)
        return EXIT_FAILURE;
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
    started = start_workers(qids, pids, workers, listener);
    if (started == workers) {
        pool.listener = listener;
        pool.qids = qids;
        pool.workers = workers;
        log_line("event loop started");
        if (serve(&pool) == 0)
            status = EXIT_SUCCESS;
        log_line("event loop stopped");
    }
    /* Stop accepting first: from now on a client finds no socket file,
     * instead of waiting in a backlog that nobody will read. */
    close(listener);
    unlink(path);
    finish_clients(&pool);

    /* Exit messages go behind the data: each worker first empties its queue.
     * Only workers that were started get one; nobody reads the others. */
    if (stop_workers(qids, pids, started) == -1)
        status = EXIT_FAILURE;
    if (remove_queues(qids, pids, workers) == -1)
        status = EXIT_FAILURE;
    log_line("exited");
    return status;
}
