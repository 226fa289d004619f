/* fuzz_escape.c - libFuzzer target for the log escaper (final/log.c).
 *
 * Properties: the escaped text holds no byte below 0x20, no 0x7f and no
 * bare double quote, so it can neither break a log line nor end the quoted
 * message early; and undoing the escapes gives the input back. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hex_value(char c)
{
    return c >= 'a' ? c - 'a' + 10 : c - '0';
}

/* The inverse of escape(), for the test only. Returns the length. */
static size_t unescape(char *dst, const char *src, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        if (src[i] != '\\') {
            dst[n++] = src[i];
            continue;
        }
        assert(i + 1 < len); /* a backslash never ends the text */
        switch (src[++i]) {
        case 't':
            dst[n++] = '\t';
            break;
        case 'r':
            dst[n++] = '\r';
            break;
        case 'x':
            assert(i + 2 < len);
            dst[n++] =
                (char)(hex_value(src[i + 1]) * 16 + hex_value(src[i + 2]));
            i += 2;
            break;
        default:
            assert(src[i] == '\\' || src[i] == '"');
            dst[n++] = src[i];
        }
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char out[ESCAPED_SIZE(MSG_MAX)], back[MSG_MAX];
    size_t len;

    if (size > MSG_MAX)
        return 0; /* the server never escapes more */
    len = escape(out, (const char *)data, size);
    assert(len < sizeof out);
    assert(out[len] == '\0');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)out[i];

        assert(c >= 0x20 && c != 0x7f);
        if (c == '"')
            assert(i > 0 && out[i - 1] == '\\');
    }
    assert(unescape(back, out, len) == size);
    assert(memcmp(back, data, size) == 0);
    return 0;
}
