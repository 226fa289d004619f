/* loadgen.c - bench: drives a pool server with many clients at once.
 *
 * Usage: loadgen -s PATH -m conn|pipe|idle [-c CONNS] [-n MSGS] [-d DEPTH]
 *
 *   conn  one connection per message, as the seed article's client does:
 *         connect, send one line, read the reply, close; CONNS at a time.
 *   pipe  CONNS connections kept open, each with up to DEPTH messages sent
 *         and not yet answered.
 *   idle  opens CONNS connections, prints "ready", and holds them until its
 *         standard input ends.
 *
 * Prints one line of key=value pairs: counts of OK, BUSY, ERR and failed
 * messages, OK messages per second, and reply latency p50/p99/max in
 * microseconds. One process, one poll(2) loop: no threads, and no limit on
 * descriptor numbers such as select() has.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum mode { MODE_CONN, MODE_PIPE, MODE_IDLE };

struct client {
    int fd;           /* -1: no connection now */
    size_t inflight;  /* messages sent whose reply has not come */
    size_t head;      /* ring index of the oldest of them */
    int64_t *sent_at; /* ring of DEPTH send times, in ns */
    char in[4096];    /* reply bytes not yet cut into lines */
    size_t in_len;
    char out[8192]; /* request bytes not yet written */
    size_t out_len;
};

struct run {
    enum mode mode;
    struct sockaddr_un addr;
    size_t conns, msgs, depth;
    size_t next; /* number of the next message to send */
    size_t done; /* messages answered or given up */
    size_t ok, busy, err, failed;
    uint32_t *lat_us; /* latency of every answered message */
    size_t n_lat;
};

static void die(const char *what)
{
    fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Connects to the server. Returns the socket, or -1 with errno set. */
static int dial(const struct run *r)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd == -1)
        return -1;
    if (connect(fd, (const struct sockaddr *)&r->addr, sizeof r->addr) == -1) {
        int saved = errno;

        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static void set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
        die("fcntl");
}

/* Queues as many new messages on C as its window and buffer allow. */
static void fill(struct run *r, struct client *c)
{
    while (c->inflight < r->depth && r->next < r->msgs &&
           c->out_len + 32 <= sizeof c->out) {
        int n = snprintf(c->out + c->out_len, sizeof c->out - c->out_len,
                         "m%zu\n", r->next++);

        c->out_len += (size_t)n;
        c->sent_at[(c->head + c->inflight) % r->depth] = now_ns();
        c->inflight++;
    }
}

/* Counts one reply line for the oldest message in flight on C. */
static void answered(struct run *r, struct client *c, const char *line,
                     size_t len)
{
    int64_t lat = (now_ns() - c->sent_at[c->head]) / 1000;

    if (len == 2 && memcmp(line, "OK", 2) == 0)
        r->ok++;
    else if (len == 4 && memcmp(line, "BUSY", 4) == 0)
        r->busy++;
    else
        r->err++;
    r->lat_us[r->n_lat++] = lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
    c->head = (c->head + 1) % r->depth;
    c->inflight--;
    r->done++;
}

/* Gives up on C's connection: what was in flight counts as failed. */
static void drop(struct run *r, struct client *c)
{
    r->failed += c->inflight;
    r->done += c->inflight;
    c->inflight = 0;
    c->in_len = 0;
    c->out_len = 0;
    close(c->fd);
    c->fd = -1;
}

/* Reads replies; returns -1 when the server closed the connection. */
static int read_replies(struct run *r, struct client *c)
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
        if (c->inflight > 0)
            answered(r, c, line, (size_t)(nl - line));
        line = nl + 1;
    }
    c->in_len -= (size_t)(line - c->in);
    memmove(c->in, line, c->in_len);
    return 0;
}

static int write_requests(struct client *c)
{
    ssize_t n = write(c->fd, c->out, c->out_len);

    if (n == -1)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    c->out_len -= (size_t)n;
    memmove(c->out, c->out + n, c->out_len);
    return 0;
}

/* conn mode: a new connection for the next message, if one is left. */
static void start_one(struct run *r, struct client *c)
{
    if (r->next >= r->msgs)
        return;
    c->fd = dial(r);
    if (c->fd == -1) { /* counted, and the message is not retried */
        r->next++;
        r->failed++;
        r->done++;
        return;
    }
    set_nonblocking(c->fd);
    fill(r, c);
}

static void run_load(struct run *r, struct client *cl)
{
    struct pollfd *pfd = calloc(r->conns, sizeof *pfd);

    if (pfd == NULL)
        die("calloc");
    while (r->done < r->msgs) {
        for (size_t i = 0; i < r->conns; i++) {
            struct client *c = &cl[i];

            if (c->fd == -1 && r->mode == MODE_CONN)
                start_one(r, c);
            else if (c->fd != -1 && r->mode == MODE_PIPE)
                fill(r, c);
            pfd[i].fd = c->fd; /* -1: poll() skips it */
            pfd[i].events = POLLIN | (c->out_len > 0 ? POLLOUT : 0);
            pfd[i].revents = 0;
        }
        if (r->done >= r->msgs)
            break;
        if (poll(pfd, r->conns, 10000) == -1) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        for (size_t i = 0; i < r->conns; i++) {
            struct client *c = &cl[i];

            if (c->fd == -1 || pfd[i].revents == 0)
                continue;
            if ((pfd[i].revents & POLLOUT) && write_requests(c) == -1) {
                drop(r, c);
                continue;
            }
            if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
                read_replies(r, c) == -1) {
                drop(r, c);
                continue;
            }
            if (r->mode == MODE_CONN && c->inflight == 0) {
                close(c->fd); /* answered: the next message, a new one */
                c->fd = -1;
            }
        }
    }
    free(pfd);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

static void report(struct run *r, double secs)
{
    uint32_t p50 = 0, p99 = 0, max = 0;

    if (r->n_lat > 0) {
        qsort(r->lat_us, r->n_lat, sizeof *r->lat_us, cmp_u32);
        p50 = r->lat_us[r->n_lat / 2];
        p99 = r->lat_us[(r->n_lat * 99) / 100];
        max = r->lat_us[r->n_lat - 1];
    }
    printf("mode=%s conns=%zu msgs=%zu ok=%zu busy=%zu err=%zu failed=%zu "
           "secs=%.3f rate=%.0f p50_us=%u p99_us=%u max_us=%u\n",
           r->mode == MODE_CONN ? "conn" : "pipe", r->conns, r->msgs, r->ok,
           r->busy, r->err, r->failed, secs, r->ok / secs, p50, p99, max);
}

/* idle mode: hold CONNS connections until standard input ends. */
static void hold_idle(struct run *r)
{
    char buf[64];

    for (size_t i = 0; i < r->conns; i++) {
        if (dial(r) == -1)
            die("connect");
    }
    printf("ready\n");
    fflush(stdout);
    while (read(STDIN_FILENO, buf, sizeof buf) > 0)
        ;
}

static void usage(void)
{
    fprintf(stderr, "usage: loadgen -s PATH -m conn|pipe|idle [-c CONNS] "
                    "[-n MSGS] [-d DEPTH]\n");
    exit(2);
}

int main(int argc, char *argv[])
{
    struct run r = {.conns = 4, .msgs = 10000, .depth = 64};
    const char *path = NULL, *mode = NULL;
    struct client *cl;
    int64_t start;
    int opt;

    while ((opt = getopt(argc, argv, "s:m:c:n:d:")) != -1) {
        switch (opt) {
        case 's':
            path = optarg;
            break;
        case 'm':
            mode = optarg;
            break;
        case 'c':
            r.conns = strtoul(optarg, NULL, 10);
            break;
        case 'n':
            r.msgs = strtoul(optarg, NULL, 10);
            break;
        case 'd':
            r.depth = strtoul(optarg, NULL, 10);
            break;
        default:
            usage();
        }
    }
    if (path == NULL || mode == NULL || r.conns == 0 || r.depth == 0 ||
        strlen(path) >= sizeof r.addr.sun_path)
        usage();
    if (strcmp(mode, "conn") == 0)
        r.mode = MODE_CONN;
    else if (strcmp(mode, "pipe") == 0)
        r.mode = MODE_PIPE;
    else if (strcmp(mode, "idle") == 0)
        r.mode = MODE_IDLE;
    else
        usage();
    r.addr.sun_family = AF_UNIX;
    strcpy(r.addr.sun_path, path);
    signal(SIGPIPE, SIG_IGN); /* a dropped connection is counted, not fatal */

    if (r.mode == MODE_IDLE) {
        hold_idle(&r);
        return 0;
    }
    if (r.mode == MODE_CONN)
        r.depth = 1;
    cl = calloc(r.conns, sizeof *cl);
    r.lat_us = calloc(r.msgs + 1, sizeof *r.lat_us);
    if (cl == NULL || r.lat_us == NULL)
        die("calloc");
    for (size_t i = 0; i < r.conns; i++) {
        cl[i].fd = -1;
        cl[i].sent_at = calloc(r.depth, sizeof *cl[i].sent_at);
        if (cl[i].sent_at == NULL)
            die("calloc");
    }
    start = now_ns();
    if (r.mode == MODE_PIPE) {
        for (size_t i = 0; i < r.conns; i++) {
            cl[i].fd = dial(&r);
            if (cl[i].fd == -1)
                die("connect");
            set_nonblocking(cl[i].fd);
        }
    }
    run_load(&r, cl);
    report(&r, (double)(now_ns() - start) / 1e9);
    return r.failed > 0 ? 1 : 0;
}
