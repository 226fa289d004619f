/* fuzz_frame.c - libFuzzer target for the final pool's line framer
 * (final/frame.c), fed the way the server feeds it: in pieces of any size.
 *
 * Property, not just "no crash": the framer's output is exactly the input
 * cut at its newlines (the last line counting at the end of the stream),
 * with each line longer than MSG_MAX replaced by one FRAME_TOO_LONG. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The expected next result, computed from the input directly: the line
 * starting at *POS. */
static enum frame_result expected(const uint8_t *in, size_t size, size_t *pos,
                                  const uint8_t **line, size_t *len)
{
    const uint8_t *start = in + *pos;
    const uint8_t *nl = memchr(start, '\n', size - *pos);
    size_t n = nl != NULL ? (size_t)(nl - start) : size - *pos;

    *pos += n + (nl != NULL);
    *line = start;
    *len = n;
    return n > MSG_MAX ? FRAME_TOO_LONG : FRAME_MESSAGE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct framer f;
    const uint8_t *in;
    size_t in_size, fed = 0, pos = 0;
    uint8_t step;

    if (size < 1)
        return 0;
    step = data[0]; /* the first byte chooses the piece sizes */
    in = data + 1;
    in_size = size - 1;
    framer_init(&f);
    for (;;) {
        bool eof = fed == in_size;
        const char *msg;
        size_t len;
        enum frame_result r = framer_next(&f, eof, &msg, &len);

        if (r == FRAME_MORE) {
            size_t room, n;
            char *space;

            if (eof)
                break;
            space = framer_space(&f, &room);
            assert(room > 0);
            n = (size_t)(step % 7) + 1 + (fed % 13); /* 1..19 bytes */
            if (n > room)
                n = room;
            if (n > in_size - fed)
                n = in_size - fed;
            memcpy(space, in + fed, n);
            framer_added(&f, n);
            fed += n;
            continue;
        }
        {
            const uint8_t *want;
            size_t want_len;
            enum frame_result w = expected(in, in_size, &pos, &want, &want_len);

            assert(r == w);
            if (r == FRAME_MESSAGE) {
                assert(len == want_len);
                assert(memcmp(msg, want, len) == 0);
            }
        }
    }
    /* Everything was handed out: no line was lost at the end. */
    assert(pos == in_size);
    return 0;
}
