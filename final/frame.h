/* frame.h - final (as in chapter 4): cuts the byte stream of a connection
 * into messages.
 *
 * A stream socket keeps no boundaries: one read(2) may return half a message
 * or three. The framer collects the bytes of one connection and hands out
 * whole lines, one at a time: a message is the bytes before a newline, and
 * a last line without one counts once the client has closed its side. A
 * line longer than MSG_MAX is reported once and skipped to its newline.
 * The framer does no I/O, so it can be tested alone (tests/unit/test_frame.c).
 */
#ifndef FRAME_H
#define FRAME_H

#include <stdbool.h>
#include <stddef.h>

#include "queue.h"

struct framer {
    char buf[MSG_MAX + 1]; /* the longest message and its newline */
    size_t start, end;     /* the bytes not yet handed out: buf[start, end) */
    bool skipping;         /* inside a too-long line: drop up to its newline */
};

enum frame_result {
    FRAME_MORE,    /* no whole message yet: read more */
    FRAME_MESSAGE, /* *msg and *len hold the next message */
    FRAME_TOO_LONG /* a line longer than MSG_MAX: it is being skipped */
};

void framer_init(struct framer *f);

/* Where the next read() may put its bytes: returns the place and sets *ROOM
 * to its size, at least 1 after framer_next() has returned FRAME_MORE. */
char *framer_space(struct framer *f, size_t *room);

/* Records that read() put N bytes at framer_space(). */
void framer_added(struct framer *f, size_t n);

/* Takes the next message. AT_EOF: the peer has closed its sending side, so
 * a last line without a newline is a message too. The message stays valid
 * until the next call. */
enum frame_result framer_next(struct framer *f, bool at_eof, const char **msg,
                              size_t *len);

#endif
