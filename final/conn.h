/* conn.h - final: one client connection (chapter 4).
 *
 * A connection reads bytes as they come, cuts them into messages with its
 * framer, has each message dispatched through a callback, and keeps the
 * replies in order until the client reads them. All of it non-blocking: a
 * slow, idle or misbehaving client costs the master nothing but memory,
 * which is bounded.
 */
#ifndef CONN_H
#define CONN_H

#include <stdbool.h>
#include <stddef.h>

struct conn;

/* Queues one message and returns its reply line ("OK\n", "BUSY\n"...). */
typedef const char *dispatch_fn(void *ctx, const char *msg, size_t len);

/* Takes the accepted socket FD, which must be non-blocking. Returns the
 * connection, or NULL after closing FD and saying why. */
struct conn *conn_open(int fd);

/* Closes the socket and frees the connection. */
void conn_close(struct conn *c);

/* What select() should watch this connection for. */
bool conn_wants_read(const struct conn *c);
bool conn_wants_write(const struct conn *c);

/* Does what the socket is ready for. Returns 0, or -1 when the connection
 * is finished (the client has gone, or has closed and got every reply) and
 * should be closed. */
int conn_ready(struct conn *c, bool readable, bool writable,
               dispatch_fn *dispatch, void *ctx);

/* At a stop: dispatches the whole messages already read, as far as the
 * reply buffer allows, and writes what the socket takes without waiting.
 * Nothing is read or dispatched after this. Returns true while replies
 * still wait for the client to read them (see conn_flush()). */
bool conn_finish(struct conn *c, dispatch_fn *dispatch, void *ctx);

/* After conn_finish(): writes more of the waiting replies. Returns 0 while
 * some still wait, or -1 when none is left or the client has gone. */
int conn_flush(struct conn *c);

#endif
