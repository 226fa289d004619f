/* load.c - chaos: pipelined load on the final pool, and a record of every
 * message for tests/chaos/check.
 *
 * Usage: load -s SOCKET -o RECORD [-c CONNS] [-d DEPTH] [-r RATE]
 *             [-p POISON]
 *
 * Opens CONNS connections (retrying until the server accepts, for up to
 * 20 s), prints "ready" on standard output, then keeps up to DEPTH messages
 * unanswered on each connection, at most RATE new messages a second in all.
 * Connection K sends unique texts cK-000001, cK-000002, ... and reads the
 * replies in order: the Nth reply line on a connection answers its Nth
 * message (SPEC 4). It runs until the server has closed every connection,
 * as it does when it stops, then exits 0.
 *
 * Commands, one a line on standard input (tests/chaos/one sends them):
 *   vanish   a new client sends a partial line "vN-000001" (no newline)
 *            and closes: a last line without a newline counts as a message
 *   poison   the next message of the next connection is POISON (the text
 *            the server was given with --crash-on)
 *
 * RECORD gets one line per fact; tests/chaos/check holds them against the
 * server's log:
 *   sent TEXT      a whole line about to be written to the server
 *   partial TEXT   a vanishing client's line, about to be written
 *   ok TEXT MS     the reply to TEXT was OK: the server promised to handle
 *                  it; MS is when it was read (ms since the Epoch), which
 *                  check uses to say when lost messages were OK'd
 *   busy TEXT, err TEXT   any other reply
 *   stray          a reply line on a connection with nothing in flight
 * "sent" and "partial" come before the write, so the record holds every
 * text the server can have seen; "ok" only after OK was read.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CONNS_MAX        16
#define DEPTH_MAX        64
#define TEXT_MAX         48    /* a text and its NUL */
#define DIAL_DEADLINE_MS 20000 /* how long to wait for the server */

struct conn {
    int fd;         /* -1 once the server has closed it */
    int id;         /* K in the texts cK-NNNNNN */
    unsigned next;  /* number of the next text */
    bool can_write; /* false after EPIPE: only replies are left to read */
    size_t inflight, head; /* ring of texts not yet answered */
    char texts[DEPTH_MAX][TEXT_MAX];
    char in[1024]; /* reply bytes not yet cut into lines */
    size_t in_len;
    char out[DEPTH_MAX * TEXT_MAX]; /* request bytes not yet written */
    size_t out_len;
};

struct load {
    struct sockaddr_un addr;
    size_t nconns, depth;
    unsigned rate;
    const char *poison;
    unsigned poison_due; /* "poison" commands not yet acted on */
    unsigned vanished;   /* vanishing clients so far */
    uint64_t sent;       /* messages sent, for the rate */
    int64_t start_ms;
    size_t next_conn; /* which connection takes the next poison */
    FILE *record;
    char cmd[256]; /* command bytes not yet cut into lines */
    size_t cmd_len;
    bool cmd_open; /* standard input not at its end */
    struct conn conns[CONNS_MAX];
};

static void die(const char *what)
{
    fprintf(stderr, "load: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Milliseconds on CLOCK (CLOCK_MONOTONIC for intervals, CLOCK_REALTIME for
 * times the driver's clock can be compared with). */
static int64_t clock_ms(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

/* Connects a non-blocking socket to the server. Returns it, or -1 with
 * errno set (a full backlog is EAGAIN: the socket is non-blocking). */
static int dial(const struct load *l)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd == -1)
        return -1;
    if (connect(fd, (const struct sockaddr *)&l->addr, sizeof l->addr) == -1) {
        int saved = errno;

        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* dial(), again every 50 ms until the server is there or DIAL_DEADLINE_MS
 * has passed: the socket file exists before listen(), so only a connection
 * shows the server is ready. */
static int dial_when_ready(const struct load *l)
{
    int64_t give_up = now_ms() + DIAL_DEADLINE_MS;
    struct timespec pause = {0, 50 * 1000000L};
    int fd;

    while ((fd = dial(l)) == -1 && now_ms() < give_up)
        nanosleep(&pause, NULL);
    return fd;
}

/* True if the rate allows one more message now. A full pipeline's worth
 * may go at once; after that, RATE a second. */
static bool rate_allows(const struct load *l)
{
    int64_t elapsed = now_ms() - l->start_ms;
    uint64_t allowed =
        l->nconns * l->depth + (uint64_t)elapsed * l->rate / 1000;

    return l->sent < allowed;
}

/* Puts the next message of C in its output and in flight. */
static void queue_message(struct load *l, struct conn *c, bool poison)
{
    char *text = c->texts[(c->head + c->inflight) % DEPTH_MAX];
    int len;

    if (poison)
        len = snprintf(text, TEXT_MAX, "%s", l->poison);
    else
        len = snprintf(text, TEXT_MAX, "c%d-%06u", c->id, ++c->next);
    fprintf(l->record, "sent %s\n", text);
    memcpy(c->out + c->out_len, text, (size_t)len);
    c->out[c->out_len + (size_t)len] = '\n';
    c->out_len += (size_t)len + 1;
    c->inflight++;
    l->sent++;
}

/* Fills every open connection's window, as far as the rate allows. The
 * poison, when due, goes on the connections in turn. */
static void fill(struct load *l)
{
    for (size_t k = 0; k < l->nconns; k++) {
        size_t i = (l->next_conn + k) % l->nconns;
        struct conn *c = &l->conns[i];

        while (c->fd != -1 && c->can_write && c->inflight < l->depth &&
               rate_allows(l)) {
            bool poison = l->poison_due > 0;

            queue_message(l, c, poison);
            if (poison) {
                l->poison_due--;
                l->next_conn = (i + 1) % l->nconns;
            }
        }
    }
}

/* A client that sends part of a line and leaves. If the server is gone or
 * stopping (no listener), there is no such client: nothing is recorded. */
static void vanish(struct load *l)
{
    char text[TEXT_MAX];
    int fd = dial(l), len;
    ssize_t n;

    if (fd == -1)
        return;
    len = snprintf(text, sizeof text, "v%u-000001", ++l->vanished);
    fprintf(l->record, "partial %s\n", text);
    n = write(fd, text, (size_t)len);
    (void)n; /* EPIPE: the server stopped meanwhile; it was recorded anyway */
    close(fd);
}

/* Acts on the whole command lines read from standard input. */
static void take_commands(struct load *l)
{
    char *line = l->cmd, *nl;

    while ((nl = memchr(line, '\n', l->cmd_len - (size_t)(line - l->cmd)))) {
        *nl = '\0';
        if (strcmp(line, "vanish") == 0)
            vanish(l);
        else if (strcmp(line, "poison") == 0 && l->poison != NULL)
            l->poison_due++;
        else
            fprintf(stderr, "load: unknown command '%s'\n", line);
        line = nl + 1;
    }
    l->cmd_len -= (size_t)(line - l->cmd);
    memmove(l->cmd, line, l->cmd_len);
}

static void read_commands(struct load *l)
{
    ssize_t n =
        read(STDIN_FILENO, l->cmd + l->cmd_len, sizeof l->cmd - l->cmd_len);

    if (n == -1 && errno == EINTR)
        return;
    if (n <= 0 || l->cmd_len + (size_t)n == sizeof l->cmd) {
        l->cmd_open = false; /* at its end, or a line too long to be ours */
        return;
    }
    l->cmd_len += (size_t)n;
    take_commands(l);
}

/* Records the reply LINE to the oldest message in flight on C. */
static void answered(struct load *l, struct conn *c, const char *line,
                     size_t len)
{
    const char *text = c->texts[c->head];

    if (c->inflight == 0) {
        fprintf(l->record, "stray\n");
        return;
    }
    if (len == 2 && memcmp(line, "OK", 2) == 0)
        fprintf(l->record, "ok %s %lld\n", text,
                (long long)clock_ms(CLOCK_REALTIME));
    else if (len == 4 && memcmp(line, "BUSY", 4) == 0)
        fprintf(l->record, "busy %s\n", text);
    else
        fprintf(l->record, "err %s\n", text);
    c->head = (c->head + 1) % DEPTH_MAX;
    c->inflight--;
}

/* Reads replies. Returns -1 once the server has closed the connection
 * (end of file, or ECONNRESET: the kernel gives the data first). */
static int read_replies(struct load *l, struct conn *c)
{
    ssize_t n = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);
    char *line, *nl;

    if (n == -1)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    if (n == 0)
        return -1;
    c->in_len += (size_t)n;
    line = c->in;
    while ((nl = memchr(line, '\n', c->in_len - (size_t)(line - c->in)))) {
        answered(l, c, line, (size_t)(nl - line));
        line = nl + 1;
    }
    c->in_len -= (size_t)(line - c->in);
    memmove(c->in, line, c->in_len);
    if (c->in_len == sizeof c->in) /* no reply line is this long */
        return -1;
    return 0;
}

/* Writes what the socket takes. A server that has stopped reading closes
 * the connection (EPIPE): the replies already sent are still to be read. */
static void write_requests(struct conn *c)
{
    ssize_t n = write(c->fd, c->out, c->out_len);

    if (n == -1) {
        if (errno != EAGAIN && errno != EINTR)
            c->can_write = false;
        return;
    }
    c->out_len -= (size_t)n;
    memmove(c->out, c->out + n, c->out_len);
}

static void close_conn(struct conn *c)
{
    close(c->fd);
    c->fd = -1;
}

static size_t open_conns(const struct load *l)
{
    size_t n = 0;

    for (size_t i = 0; i < l->nconns; i++)
        n += l->conns[i].fd != -1;
    return n;
}

/* How long poll() may sleep: until the rate allows the next message if a
 * window has room, else until something happens. */
static int poll_timeout(const struct load *l)
{
    for (size_t i = 0; i < l->nconns; i++) {
        const struct conn *c = &l->conns[i];

        if (c->fd != -1 && c->can_write && c->inflight < l->depth)
            return 5;
    }
    return -1;
}

static void run(struct load *l)
{
    struct pollfd pfd[CONNS_MAX + 1];

    while (open_conns(l) > 0) {
        fill(l);
        pfd[0].fd = l->cmd_open ? STDIN_FILENO : -1; /* -1: poll skips it */
        pfd[0].events = POLLIN;
        for (size_t i = 0; i < l->nconns; i++) {
            const struct conn *c = &l->conns[i];

            pfd[i + 1].fd = c->fd;
            pfd[i + 1].events =
                POLLIN | (c->out_len > 0 && c->can_write ? POLLOUT : 0);
        }
        if (poll(pfd, l->nconns + 1, poll_timeout(l)) == -1) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        if (pfd[0].revents != 0)
            read_commands(l);
        for (size_t i = 0; i < l->nconns; i++) {
            struct conn *c = &l->conns[i];
            short ev = pfd[i + 1].revents;

            if (c->fd == -1 || ev == 0)
                continue;
            if (ev & POLLOUT)
                write_requests(c);
            if ((ev & (POLLIN | POLLHUP | POLLERR)) && read_replies(l, c) == -1)
                close_conn(c);
        }
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: load -s SOCKET -o RECORD [-c CONNS] [-d DEPTH] "
                    "[-r RATE] [-p POISON]\n");
    exit(2);
}

/* A number in 1..MAX, or the usage. */
static unsigned long number(const char *s, unsigned long max)
{
    char *end;
    unsigned long n = strtoul(s, &end, 10);

    if (*s < '0' || *s > '9' || *end != '\0' || n < 1 || n > max)
        usage();
    return n;
}

static void parse(struct load *l, int argc, char *argv[], const char **record)
{
    const char *path = NULL;
    int opt;

    while ((opt = getopt(argc, argv, "s:o:c:d:r:p:")) != -1) {
        switch (opt) {
        case 's':
            path = optarg;
            break;
        case 'o':
            *record = optarg;
            break;
        case 'c':
            l->nconns = number(optarg, CONNS_MAX);
            break;
        case 'd':
            l->depth = number(optarg, DEPTH_MAX);
            break;
        case 'r':
            l->rate = (unsigned)number(optarg, 1000000);
            break;
        case 'p':
            l->poison = optarg;
            break;
        default:
            usage();
        }
    }
    if (path == NULL || *record == NULL || optind != argc ||
        strlen(path) >= sizeof l->addr.sun_path ||
        (l->poison != NULL && strlen(l->poison) >= TEXT_MAX))
        usage();
    l->addr.sun_family = AF_UNIX;
    memcpy(l->addr.sun_path, path, strlen(path) + 1); /* length checked */
}

int main(int argc, char *argv[])
{
    static struct load l = {.nconns = 3, .depth = 8, .rate = 300};
    const char *record = NULL;

    parse(&l, argc, argv, &record);
    /* A connection the server closed makes write() fail with EPIPE, and
     * a vanishing client may write to a server that has just stopped. */
    signal(SIGPIPE, SIG_IGN);
    l.record = fopen(record, "w");
    if (l.record == NULL)
        die(record);
    for (size_t i = 0; i < l.nconns; i++) {
        l.conns[i] = (struct conn){.id = (int)i + 1, .can_write = true};
        l.conns[i].fd = dial_when_ready(&l);
        if (l.conns[i].fd == -1)
            die("connect");
    }
    printf("ready\n");
    fflush(stdout);
    l.cmd_open = true;
    l.start_ms = now_ms();
    run(&l);
    if (fclose(l.record) == EOF)
        die(record);
    return 0;
}
