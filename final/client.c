/* client.c - final: sends messages to the pool and prints the replies.
 *
 * Usage: ./client [-s PATH] [MESSAGE...]
 *        Sends each MESSAGE (default: hello) over one connection, in order,
 *        and prints what it sent and what came back (SPEC 2). Exit status 0
 *        if every reply was OK; 1 if one was not or the server cannot be
 *        reached; 2 for bad usage.
 *
 * As chapter 4's client, plus a check that no MESSAGE holds a newline,
 * which the server would read as two messages.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"

#define DEFAULT_PATH "master.sock"
/* Longest reply line we expect ("ERR message too long"), newline included. */
#define REPLY_MAX 64

static void usage(FILE *out)
{
    fprintf(out,
            "usage: client [-s PATH] [MESSAGE...]\n"
            "  -s PATH   socket path (default %s)\n"
            "  MESSAGE   sent in order over one connection "
            "(default: hello)\n",
            DEFAULT_PATH);
}

static int connect_to(const struct sockaddr_un *addr)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    if (fd == -1) {
        log_warn("socket");
        return -1;
    }
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) == -1) {
        log_warn("%s", addr->sun_path); /* ENOENT, ECONNREFUSED, EACCES... */
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads one reply line into BUF, without its newline. It may come in
 * pieces; only one request is outstanding, so nothing after it is read.
 * Returns its length (0: the server closed), or -1. */
static ssize_t read_reply(int fd, char *buf, size_t size)
{
    size_t len = 0;

    while (len < size) {
        ssize_t n = read(fd, buf + len, size - len);

        if (n == -1) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (memchr(buf + len - (size_t)n, '\n', (size_t)n) != NULL)
            break;
    }
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    return (ssize_t)len;
}

/* Prints `client: WHAT "TEXT"` with TEXT escaped. Returns 0, or -1. */
static int show(const char *what, const char *text, size_t len)
{
    char *shown = malloc(ESCAPED_SIZE(len));

    if (shown == NULL) {
        log_warn("malloc");
        return -1;
    }
    escape(shown, text, len);
    printf("client: %s \"%s\"\n", what, shown);
    free(shown);
    return 0;
}

/* Sends MSG and its newline in one write(2). In two writes, chapter 3's
 * server could read the message alone with its single read(), reply and
 * close, and our second write would fail with EPIPE. Returns 0, or -1 with
 * errno set. */
static int send_line(int fd, const char *msg, size_t len)
{
    char *line = malloc(len + 1);
    int rc, saved;

    if (line == NULL)
        return -1;
    memcpy(line, msg, len);
    line[len] = '\n';
    rc = write_all(fd, line, len + 1);
    saved = errno;
    free(line);
    errno = saved;
    return rc;
}

/* Sends MSG and waits for its reply. Returns 0 if it was OK, 1 if it was
 * something else, -1 if the connection broke. */
static int send_one(int fd, const char *msg)
{
    char reply[REPLY_MAX];
    size_t len = strlen(msg);
    ssize_t got;

    if (send_line(fd, msg, len) == -1) {
        log_warn("write");
        return -1;
    }
    if (show("sent", msg, len) == -1)
        return -1;
    got = read_reply(fd, reply, sizeof reply);
    if (got == -1) {
        log_warn("read");
        return -1;
    }
    if (got == 0) {
        log_warnx("the server closed the connection without a reply");
        return -1;
    }
    if (show("received", reply, (size_t)got) == -1)
        return -1;
    return got == 2 && memcmp(reply, "OK", 2) == 0 ? 0 : 1;
}

int main(int argc, char *argv[])
{
    static char *hello[] = {"hello", NULL};
    const char *path = DEFAULT_PATH;
    struct sockaddr_un addr;
    char **msgs;
    int fd, opt, status = EXIT_SUCCESS;

    log_set_program("client");
    /* Line by line, as on a terminal, even into a pipe or a file: a client
     * left waiting for its reply has already said what it sent. */
    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0) {
        log_warnx("cannot line-buffer standard output");
        return EXIT_FAILURE;
    }
    while ((opt = getopt(argc, argv, "s:h")) != -1) {
        switch (opt) {
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
    if (unix_address(&addr, path) == -1) {
        log_warn("bad socket path '%s'", path);
        usage(stderr);
        return 2;
    }
    msgs = optind < argc ? argv + optind : hello;
    for (char **m = msgs; *m != NULL; m++) {
        if (strchr(*m, '\n') != NULL) {
            log_warnx("a message cannot hold a newline: it would be two");
            return 2;
        }
    }
    /* A server that closes early would make write() raise SIGPIPE and end
     * us without a word; ignored, write() reports EPIPE. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        log_warn("signal");
        return EXIT_FAILURE;
    }

    fd = connect_to(&addr);
    if (fd == -1)
        return EXIT_FAILURE;
    for (; *msgs != NULL; msgs++) {
        int rc = send_one(fd, *msgs);

        if (rc != 0)
            status = EXIT_FAILURE;
        if (rc == -1)
            break;
    }
    close(fd);
    if (fflush(stdout) == EOF) {
        log_warn("write standard output");
        return EXIT_FAILURE;
    }
    return status;
}
