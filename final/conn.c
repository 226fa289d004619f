/* conn.c - final: reading, framing and answering one client connection.
 * Owns: the per-connection buffers and the reply order (SPEC 4). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "frame.h"
#include "log.h"

/* Room for replies the client has not read. When it cannot take one more
 * reply, the connection stops taking messages, and stops reading, until
 * the client reads: its own socket buffer then holds it back. */
#define OUT_MAX 4096
/* Longest reply line, with room to spare. */
#define REPLY_MAX 64

struct conn {
    int fd;
    bool eof;         /* the client has closed its sending side */
    bool held;        /* the framer may still hold whole messages */
    struct framer in; /* bytes read, not yet handed out as messages */
    size_t out_len;   /* reply bytes waiting in out */
    char out[OUT_MAX];
};

struct conn *conn_open(int fd)
{
    struct conn *c = malloc(sizeof *c);

    if (c == NULL) {
        log_warn("malloc");
        close(fd);
        return NULL;
    }
    c->fd = fd;
    c->eof = false;
    c->held = false;
    framer_init(&c->in);
    c->out_len = 0;
    return c;
}

void conn_close(struct conn *c)
{
    close(c->fd);
    free(c);
}

bool conn_wants_read(const struct conn *c)
{
    /* Read only once every message read so far has its reply queued. */
    return !c->eof && !c->held;
}

bool conn_wants_write(const struct conn *c)
{
    return c->out_len > 0;
}

/* Writes as much of the replies as the socket takes now. Returns 0, or -1
 * if the client is gone (EPIPE, ECONNRESET). */
static int flush_replies(struct conn *c)
{
    while (c->out_len > 0) {
        ssize_t n = write(c->fd, c->out, c->out_len);

        if (n == -1) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0; /* socket buffer full: select() says when */
            return -1;
        }
        memmove(c->out, c->out + n, c->out_len - (size_t)n);
        c->out_len -= (size_t)n;
    }
    return 0;
}

/* Dispatches the whole messages the framer holds while there is room for
 * their replies. */
static void take_messages(struct conn *c, dispatch_fn *dispatch, void *ctx)
{
    c->held = true;
    while (c->out_len + REPLY_MAX <= sizeof c->out) {
        const char *msg, *reply;
        size_t len;
        enum frame_result r = framer_next(&c->in, c->eof, &msg, &len);

        if (r == FRAME_MORE) {
            c->held = false;
            return;
        }
        if (r == FRAME_TOO_LONG)
            reply = "ERR message too long\n";
        else if (len == 0)
            reply = "ERR empty message\n";
        else
            reply = dispatch(ctx, msg, len);
        memcpy(c->out + c->out_len, reply, strlen(reply));
        c->out_len += strlen(reply);
    }
}

/* Reads what the client has sent. Returns 0, or -1 if the client is gone. */
static int read_bytes(struct conn *c)
{
    size_t room;
    char *space = framer_space(&c->in, &room);
    ssize_t n = read(c->fd, space, room);

    if (n == -1) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -1; /* ECONNRESET */
    }
    if (n == 0)
        c->eof = true; /* a last line without a newline counts now */
    framer_added(&c->in, (size_t)n);
    return 0;
}

int conn_ready(struct conn *c, bool readable, bool writable,
               dispatch_fn *dispatch, void *ctx)
{
    if (readable && conn_wants_read(c) && read_bytes(c) == -1)
        return -1;
    if (!readable && !writable)
        return 0;
    /* New bytes, or room for the replies of held messages. If the socket
     * takes every reply, there is room again: take more now, for a
     * connection with nothing to write and messages held would be in
     * neither of select()'s sets, and wait forever. */
    do {
        take_messages(c, dispatch, ctx);
        if (flush_replies(c) == -1)
            return -1;
    } while (c->held && c->out_len + REPLY_MAX <= sizeof c->out);
    return c->eof && !c->held && c->out_len == 0 ? -1 : 0;
}

bool conn_finish(struct conn *c, dispatch_fn *dispatch, void *ctx)
{
    take_messages(c, dispatch, ctx);
    c->eof = true; /* read no more */
    c->held = false;
    return conn_flush(c) == 0;
}

int conn_flush(struct conn *c)
{
    if (flush_replies(c) == -1)
        return -1;
    return c->out_len > 0 ? 0 : -1;
}
