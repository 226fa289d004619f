/* master.c - final: the event loop (chapters 4 and 5, grown up).
 * Owns: pselect(2), accepting connections, and what each signal means
 * (SPEC 5). */
#define _GNU_SOURCE /* accept4(), Linux; POSIX only since 2024 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "listener.h"
#include "log.h"
#include "master.h"
#include "notify.h"
#include "signals.h"

/* In a new worker: closes what the master holds open. A worker holding the
 * listening socket would keep it alive after the master; one holding a
 * client's connection would keep that client from seeing it closed; one
 * holding the daemon's old directory would keep its file system busy. */
static void close_master_fds(void *ctx)
{
    struct master *m = ctx;

    if (m->listener != -1)
        close(m->listener);
    if (m->ready_fd != -1)
        close(m->ready_fd);
    if (m->dir_fd != AT_FDCWD)
        close(m->dir_fd);
    if (m->spare_fd != -1)
        close(m->spare_fd);
    if (pidfile_fd() != -1)
        close(pidfile_fd());
    for (int fd = 0; fd <= m->high_fd; fd++) {
        if (m->conns[fd] != NULL)
            close(fd); /* the memory is only a copy: nothing to free */
    }
}

int master_init(struct master *m, const struct options *opt)
{
    memset(m, 0, sizeof *m);
    m->socket_path = opt->socket_path;
    m->dir_fd = AT_FDCWD;
    m->ready_fd = -1;
    m->high_fd = -1;
    /* Kept in reserve for a connection to refuse (refuse_one()). */
    m->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    m->listener = listener_open(opt->socket_path);
    if (m->listener == -1)
        return -1;
    if (pool_init(&m->pool, opt, close_master_fds, m) == -1) {
        close(m->listener);
        unlink(m->socket_path);
        return -1;
    }
    return 0;
}

static const char *dispatch(void *ctx, const char *msg, size_t len)
{
    return pool_dispatch(ctx, msg, len);
}

static void drop_conn(struct master *m, int fd)
{
    conn_close(m->conns[fd]);
    m->conns[fd] = NULL;
    m->connections--;
    m->paused_until = 0; /* a descriptor is free again */
    m->refusing = false;
    while (m->high_fd >= 0 && m->conns[m->high_fd] == NULL)
        m->high_fd--;
}

/* Drops every connection, with the replies its client never read. */
static void drop_conns(struct master *m)
{
    for (int fd = 0; fd <= m->high_fd; fd++) {
        if (m->conns[fd] != NULL)
            drop_conn(m, fd);
    }
}

/* Closes the listening socket, if it is still open, and removes its file:
 * from then on a client finds no server there, rather than waiting in a
 * backlog that nobody will read. */
static void close_socket(struct master *m)
{
    if (m->listener == -1)
        return;
    close(m->listener);
    m->listener = -1;
    if (unlinkat(m->dir_fd, m->socket_path, 0) == -1)
        log_warn("%s", m->socket_path);
}

static void add_conn(struct master *m, int fd)
{
    /* FD_SET() on a descriptor >= FD_SETSIZE writes past the end of the
     * fixed-size fd_set: memory corruption, not an error. Refuse it. */
    if (fd >= FD_SETSIZE) {
        log_line("connection refused: descriptor %d is beyond FD_SETSIZE "
                 "(%d)",
                 fd, FD_SETSIZE);
        close(fd);
        return;
    }
    m->conns[fd] = conn_open(fd);
    if (m->conns[fd] == NULL)
        return;
    m->connections++;
    if (fd > m->high_fd)
        m->high_fd = fd;
    /* A client usually sends its message right after connect(), before we
     * accept: read at once rather than after one more trip through
     * select(). If nothing is there yet, read() says EAGAIN. */
    pool_new_batch(&m->pool);
    if (conn_ready(m->conns[fd], true, false, dispatch, &m->pool) == -1)
        drop_conn(m, fd);
}

/* Out of file descriptors: accept() fails, the client waits in the backlog
 * with no answer, and the listener stays readable, so select() would wake
 * at once, forever. The spare descriptor, given up for a moment, makes
 * room to take the connection and close it: the client sees it closed
 * rather than hanging. Returns 0 when one was refused, 1 when none was
 * waiting, -1 when there is no spare. */
static int refuse_one(struct master *m)
{
    int fd;

    if (m->spare_fd == -1)
        return -1;
    close(m->spare_fd);
    fd = accept(m->listener, NULL, NULL);
    if (fd != -1)
        close(fd);
    m->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return 1;
    if (!m->refusing)
        log_line("out of file descriptors; refusing connections until one "
                 "closes");
    m->refusing = true;
    return 0;
}

/* How many connections to accept per wake-up. Clients that connect, send
 * and close at a high rate would otherwise keep this loop accepting while
 * the connections already answered wait for select() to see them close:
 * descriptors would run up to FD_SETSIZE and new clients be refused. */
#define ACCEPT_BATCH 32

/* How long to stop accepting when no descriptor is left (see below). */
#define ACCEPT_PAUSE_MS 1000

static void accept_clients(struct master *m)
{
    for (int n = 0; n < ACCEPT_BATCH; n++) {
        /* accept4() makes the new socket non-blocking and close-on-exec in
         * the same call: two fcntl() calls less per connection. */
        int fd = accept4(m->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EMFILE || errno == ENFILE) {
                int rc = refuse_one(m);

                if (rc == 0)
                    continue;
                if (rc == 1)
                    return;
                /* No spare: the connection waits in the backlog, and
                 * watching the listener now would wake pselect() at once,
                 * for ever. Pause until a connection closes, or for a
                 * while if none is open: the shortage may end without us
                 * (ENFILE: other processes close files; EMFILE: someone
                 * raises our limit with prlimit). */
                log_line("out of file descriptors; not accepting for a "
                         "second or until a connection closes");
                m->paused_until = monotonic_ms() + ACCEPT_PAUSE_MS;
                return;
            }
            log_warn("accept");
            return;
        }
        add_conn(m, fd);
    }
}

/* Graceful stop, first part: no new clients, answers for the messages
 * already read, then every worker gets its exit order. */
static void begin_stop(struct master *m, const char *why)
{
    log_line("stopping on %s", why);
    log_line("event loop stopped");
    notify_stopping();
    /* First the socket file: no new client. */
    close_socket(m);
    /* The replies to messages already queued go out, while the workers
     * empty their queues: a client that is told nothing might send its
     * message again. A client that does not read them holds up nothing. */
    for (int fd = 0; fd <= m->high_fd; fd++) {
        if (m->conns[fd] == NULL)
            continue;
        pool_new_batch(&m->pool);
        if (!conn_finish(m->conns[fd], dispatch, &m->pool))
            drop_conn(m, fd);
    }
    pool_stop(&m->pool);
}

/* The pool cannot go on (no worker could be started, or the wait fails):
 * the socket file goes first, as in a stop, and every connection with it,
 * for no message could be put on a queue now: their workers are being
 * terminated. */
static void give_up(struct master *m)
{
    close_socket(m); /* a stop may have closed it */
    drop_conns(m);
    pool_terminate(&m->pool);
}

/* A stop signal: the first begins a graceful stop; SIGINT or SIGTERM
 * again during it (AGAIN_ENDS_IT) stops at once. */
static void stop(struct master *m, const char *why, bool again_ends_it)
{
    if (m->pool.phase == POOL_RUNNING) {
        begin_stop(m, why);
    } else if (m->pool.phase == POOL_STOPPING && again_ends_it) {
        log_line("%s again: terminating the workers", why);
        pool_terminate(&m->pool);
    }
}

/* What each signal means (SPEC 5). A hang-up is a stop, but never a
 * stop at once: a closing terminal may send more than one SIGHUP (the
 * kernel's, and the one the shell relays to its jobs). */
static void handle_signal(struct master *m, enum sig_event ev)
{
    static const char hangup[] = "SIGHUP (the terminal hung up)";
    /* Reload and scaling make no sense during a stop. */
    bool running = m->pool.phase == POOL_RUNNING;

    switch (ev) {
    case EV_CHILD:
        pool_reap(&m->pool);
        break;
    case EV_INT:
        stop(m, "SIGINT", true);
        break;
    case EV_TERM:
        stop(m, "SIGTERM", true);
        break;
    case EV_HUP_KERNEL:
        stop(m, hangup, false);
        break;
    case EV_HUP_PROCESS:
        /* From a process. The shell relays the hang-up of its terminal to
         * its jobs this way, after the kernel has taken the terminal from
         * every process of the session: no terminal, no reload. */
        if (signals_terminal_gone())
            stop(m, hangup, false);
        else if (running)
            pool_reload(&m->pool);
        break;
    case EV_STATUS: /* during a stop too: what is left to drain */
        pool_status(&m->pool, m->connections);
        break;
    case EV_GROW:
        if (running)
            pool_grow(&m->pool);
        break;
    case EV_SHRINK:
        if (running)
            pool_shrink(&m->pool);
        break;
    case EV_NONE:
        break;
    }
}

/* Every signal that came, in the order it came. One that comes after the
 * last byte is read writes a new one, which wakes the next pselect(). */
static void handle_signals(struct master *m)
{
    enum sig_event ev;

    while ((ev = signals_next()) != EV_NONE)
        handle_signal(m, ev);
}

/* True while accepting is paused for want of descriptors. */
static bool accept_paused(struct master *m)
{
    if (m->paused_until != 0 && monotonic_ms() >= m->paused_until)
        m->paused_until = 0;
    return m->paused_until != 0;
}

/* Milliseconds the loop may sleep: until the pool's next timer, or the end
 * of a pause in accepting; -1 for no limit. */
static int64_t wait_limit(struct master *m)
{
    int64_t wait_ms = pool_next_tick(&m->pool);
    int64_t pause_ms;

    if (!accept_paused(m))
        return wait_ms;
    pause_ms = m->paused_until - monotonic_ms();
    if (pause_ms < 0)
        pause_ms = 0;
    return wait_ms == -1 || pause_ms < wait_ms ? pause_ms : wait_ms;
}

/* Fills the sets with what each descriptor waits for; returns the highest
 * descriptor in them. */
static int watch(struct master *m, fd_set *rd, fd_set *wr)
{
    int max_fd = signals_fd();

    FD_ZERO(rd);
    FD_ZERO(wr);
    FD_SET(signals_fd(), rd);
    if (m->listener != -1 && !accept_paused(m)) {
        FD_SET(m->listener, rd);
        if (m->listener > max_fd)
            max_fd = m->listener;
    }
    for (int fd = 0; fd <= m->high_fd; fd++) {
        const struct conn *c = m->conns[fd];

        if (c == NULL)
            continue;
        if (conn_wants_read(c))
            FD_SET(fd, rd);
        if (conn_wants_write(c))
            FD_SET(fd, wr);
        if (fd > max_fd)
            max_fd = fd;
    }
    return max_fd;
}

static void serve_clients(struct master *m, int max_fd, fd_set *rd, fd_set *wr)
{
    if (m->listener != -1 && FD_ISSET(m->listener, rd))
        accept_clients(m);
    for (int fd = 0; fd <= max_fd; fd++) {
        bool readable, writable;
        int rc;

        /* A connection accepted just now is in neither set. */
        if (m->conns[fd] == NULL || fd == m->listener)
            continue;
        readable = FD_ISSET(fd, rd);
        writable = FD_ISSET(fd, wr);
        if (!readable && !writable)
            continue;
        pool_new_batch(&m->pool);
        if (m->pool.phase == POOL_RUNNING)
            rc = conn_ready(m->conns[fd], readable, writable, dispatch,
                            &m->pool);
        else /* stopping: only the last replies go out */
            rc = conn_flush(m->conns[fd]);
        if (rc == -1)
            drop_conn(m, fd);
    }
}

/* How long to pause before a failed wait is tried again. */
#define RETRY_WAIT_MS 10

/* After a failed wait: no SIGCHLD byte could be read, so the workers are
 * reaped here, and the pause keeps a wait that fails again from spinning
 * the loop until they are. */
static void after_failed_wait(struct master *m)
{
    struct timespec delay = {0, RETRY_WAIT_MS * 1000000L};

    pool_reap(&m->pool);
    pool_tick(&m->pool);
    /* EINTR: a signal ended the pause early; it is only a shorter pause. */
    if (nanosleep(&delay, NULL) == -1 && errno != EINTR)
        log_warn("nanosleep");
}

int master_run(struct master *m)
{
    int status = 0;

    if (pool_start(&m->pool) == -1) {
        status = 1;
        give_up(m);
    } else {
        log_line("event loop started");
        daemon_ready(&m->ready_fd);
        notify_ready(m->pool.count);
    }
    while (!pool_finished(&m->pool)) {
        fd_set rd, wr;
        int max_fd = watch(m, &rd, &wr);
        int64_t wait_ms = wait_limit(m);
        struct timespec ts = {(time_t)(wait_ms / 1000),
                              (long)(wait_ms % 1000) * 1000000L};

        /* pselect(), not select(): it lets SIGTTIN and SIGTTOU in while it
         * waits, and only then, in one call (signals.h). */
        if (pselect(max_fd + 1, &rd, &wr, NULL, wait_ms < 0 ? NULL : &ts,
                    signals_wait_mask()) == -1) {
            if (errno == EINTR) /* a signal: its byte is in the pipe now */
                continue;
            if (!m->wait_failed) {
                log_warn("pselect");
                status = 1;
                if (m->pool.phase == POOL_RUNNING)
                    notify_stopping();
                give_up(m);
                m->wait_failed = true;
            }
            after_failed_wait(m);
            continue;
        }
        if (FD_ISSET(signals_fd(), &rd))
            handle_signals(m);
        /* After a stop began just now, the sets may name connections that
         * are gone (skipped) and others that may only be written to. */
        serve_clients(m, max_fd, &rd, &wr);
        pool_tick(&m->pool);
        pool_reload_continue(&m->pool);
    }
    /* SPEC 5: a stop at once says what it abandoned (so does a failure
     * that abandoned anything). */
    if (m->pool.phase == POOL_TERMINATING &&
        (status == 0 || m->pool.abandoned > 0))
        log_line("abandoned %lu OK'd message%s", m->pool.abandoned,
                 m->pool.abandoned == 1 ? "" : "s");
    return status;
}

void master_close(struct master *m)
{
    drop_conns(m);   /* replies the clients never read */
    close_socket(m); /* unless a stop closed it */
    pool_destroy(&m->pool);
}
