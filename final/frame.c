/* frame.c - final (as in chapter 4): newline framing of a byte stream.
 * Owns: where one message ends and the next begins (SPEC 4). */
#include <string.h>

#include "frame.h"

void framer_init(struct framer *f)
{
    f->start = 0;
    f->end = 0;
    f->skipping = false;
}

char *framer_space(struct framer *f, size_t *room)
{
    *room = sizeof f->buf - f->end;
    return f->buf + f->end;
}

void framer_added(struct framer *f, size_t n)
{
    f->end += n;
}

/* Moves the unread bytes to the front, making room at the end. */
static void compact(struct framer *f)
{
    size_t pending = f->end - f->start;

    memmove(f->buf, f->buf + f->start, pending);
    f->start = 0;
    f->end = pending;
}

enum frame_result framer_next(struct framer *f, bool at_eof, const char **msg,
                              size_t *len)
{
    size_t pending = f->end - f->start;
    char *line = f->buf + f->start;
    char *newline = memchr(line, '\n', pending);

    if (f->skipping) {
        if (newline == NULL) { /* the long line goes on: drop it all */
            f->start = f->end = 0;
            if (at_eof)
                f->skipping = false;
            return FRAME_MORE;
        }
        f->skipping = false; /* its end: what follows is a new line */
        f->start += (size_t)(newline - line) + 1;
        return framer_next(f, at_eof, msg, len);
    }
    if (newline != NULL) {
        *msg = line;
        *len = (size_t)(newline - line);
        f->start += *len + 1;
        return FRAME_MESSAGE;
    }
    if (pending > MSG_MAX) { /* the buffer is full and holds no newline */
        f->start = f->end = 0;
        f->skipping = !at_eof;
        return FRAME_TOO_LONG;
    }
    if (at_eof && pending > 0) { /* the last line, unterminated */
        *msg = line;
        *len = pending;
        f->start = f->end;
        return FRAME_MESSAGE;
    }
    compact(f);
    return FRAME_MORE;
}
