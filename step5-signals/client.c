/* client.c - chapter 4: sends messages to the server and prints its replies.
 *
 * Usage: ./client [-s PATH] [MESSAGE...]
 *        Sends each MESSAGE (default: hello) to the server at PATH (default
 *        master.sock), all over one connection, and prints what it sent and
 *        what came back. Exit status 0 if every reply was OK, 1 if any was
 *        not or the server cannot be reached, 2 for bad usage.
 *
 * New in chapter 4: one connection carries every message, since the server
 * now frames messages by newline (chapter 3 needed one connection each).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

/* Longest reply line we expect ("ERR message too long"), newline included. */
#define REPLY_MAX 64

static void usage(FILE *out)
{
    fprintf(out,
            "usage: client [-s PATH] [MESSAGE...]\n"
            "  -s PATH   socket path (default %s)\n"
            "  MESSAGE   sent one by one (default: hello)\n",
            SOCKET_PATH_DEFAULT);
}

/* Connects to the server at ADDR. Returns the socket, or -1 after saying
 * why not (ENOENT: no socket file; ECONNREFUSED: nobody listens on it). */
static int connect_to(const struct sockaddr_un *addr)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    if (fd == -1) {
        warn_errno("socket");
        return -1;
    }
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) == -1) {
        warn_errno(addr->sun_path);
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads one reply line into BUF (SIZE bytes), without its newline. A stream
 * socket may hand the line over in pieces, so read until the newline, the
 * end of the stream, or a full buffer. Returns its length, or -1. */
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
        if (n == 0) /* the server closed the connection */
            break;
        len += (size_t)n;
        if (memchr(buf + len - (size_t)n, '\n', (size_t)n) != NULL)
            break;
    }
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    return (ssize_t)len;
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

/* Sends MSG and a newline over FD, waits for the reply and prints the
 * exchange. The next message is sent only after this reply has come, so a
 * read never takes in part of the reply after it. Returns 0 if the reply was
 * OK, 1 if it was something else, -1 if the connection broke. */
static int send_one(int fd, const char *msg)
{
    char reply[REPLY_MAX];
    char text[ESCAPED_SIZE(REPLY_MAX)];
    char *shown;
    size_t len = strlen(msg);
    ssize_t got;

    if (send_line(fd, msg, len) == -1) {
        warn_errno("write");
        return -1;
    }
    shown = malloc(ESCAPED_SIZE(len));
    if (shown == NULL) {
        warn_errno("malloc");
        return -1;
    }
    escape(shown, msg, len);
    printf("client: sent \"%s\"\n", shown);
    free(shown);

    got = read_reply(fd, reply, sizeof reply);
    if (got == -1) {
        warn_errno("read");
        return 1;
    }
    if (got == 0) {
        warn("no reply");
        return -1;
    }
    escape(text, reply, (size_t)got);
    printf("client: received \"%s\"\n", text);
    return got == 2 && memcmp(reply, "OK", 2) == 0 ? 0 : 1;
}

int main(int argc, char *argv[])
{
    const char *path = SOCKET_PATH_DEFAULT;
    static char *hello[] = {"hello", NULL};
    struct sockaddr_un addr;
    char **msgs;
    int fd, status = EXIT_SUCCESS;
    int opt;

    set_program("client");
    /* Line by line, as on a terminal, even into a pipe or a file: a client
     * left waiting for its reply has already said what it sent. */
    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0) {
        warn("cannot line-buffer standard output");
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
    if (make_address(&addr, path) == -1) {
        warn("bad socket path '%s': %s", path, strerror(errno));
        usage(stderr);
        return 2;
    }
    /* A server that closes before reading everything would make our write()
     * raise SIGPIPE and kill us silently; ignored, write() reports EPIPE. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        warn_errno("signal");
        return EXIT_FAILURE;
    }

    fd = connect_to(&addr);
    if (fd == -1)
        return EXIT_FAILURE;
    msgs = optind < argc ? argv + optind : hello;
    for (; *msgs != NULL; msgs++) {
        int rc = send_one(fd, *msgs);

        if (rc != 0)
            status = EXIT_FAILURE;
        if (rc == -1)
            break;
    }
    close(fd);
    /* stdout may be a pipe: flush it and make sure that worked. */
    if (fflush(stdout) == EOF) {
        warn_errno("write standard output");
        return EXIT_FAILURE;
    }
    return status;
}
