/* util.c - chapter 3: error reporting, whole-line logging, escaping, the
 * round-robin choice of a worker and Unix-domain socket addresses.
 *
 * Why not printf()? stdio keeps output in a buffer inside the process. When
 * standard output is a pipe or a file that buffer is flushed only when it is
 * full or at exit(), and fork() copies it: a line printed before fork() but
 * not yet flushed is then written twice, once by the parent and once by the
 * child. Formatting into a local array and handing it to write(2) at once
 * leaves nothing behind for fork() to copy. One write(2) per line also keeps
 * lines whole when several processes share the output (see README.md).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

static const char *log_role = "master";
static const char *program = "server";

void set_role(const char *role)
{
    log_role = role;
}

void set_program(const char *name)
{
    program = name;
}

void warn(const char *fmt, ...)
{
    char text[512];
    va_list ap;

    /* Formatted first, then printed by one call: stderr is unbuffered, and
     * pieces printed one by one could mix with another process's. */
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s\n", program, text);
}

void warn_errno(const char *what)
{
    int saved = errno; /* fprintf() may change errno */

    warn("%s: %s", what, strerror(saved));
    errno = saved;
}

int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n == -1) {
            /* A signal arrived before anything was written: again. */
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n; /* a short write: the rest goes in the next round */
        len -= (size_t)n;
    }
    return 0;
}

void log_line(const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    va_list ap;
    int head, body;
    size_t len;

    head = snprintf(line, sizeof line, "%s[%ld]: ", log_role, (long)getpid());
    va_start(ap, fmt);
    body = vsnprintf(line + head, sizeof line - (size_t)head, fmt, ap);
    va_end(ap);
    if (body < 0) /* an output error: log the prefix alone, not garbage */
        body = 0;

    /* vsnprintf() returns the length it wanted; cut to what fits, keeping one
     * byte for the newline (the terminating NUL is not written). */
    len = (size_t)head + (size_t)body;
    if (len > sizeof line - 1)
        len = sizeof line - 1;
    line[len++] = '\n';

    if (write_all(STDOUT_FILENO, line, len) == -1)
        warn_errno("write to standard output");
}

size_t escape(char *dst, const char *src, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char *out = dst;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];

        if (c == '\\' || c == '"') {
            *out++ = '\\';
            *out++ = (char)c;
        } else if (c == '\t') {
            *out++ = '\\';
            *out++ = 't';
        } else if (c == '\r') {
            *out++ = '\\';
            *out++ = 'r';
        } else if (c < 0x20 || c == 0x7f) {
            *out++ = '\\';
            *out++ = 'x';
            *out++ = hex[c >> 4];
            *out++ = hex[c & 0xf];
        } else {
            *out++ = (char)c;
        }
    }
    *out = '\0';
    return (size_t)(out - dst);
}

int next_slot(int *cursor, int n)
{
    int slot = *cursor % n;

    *cursor = (slot + 1) % n;
    return slot;
}

int make_address(struct sockaddr_un *addr, const char *path)
{
    size_t len = strlen(path);

    if (len == 0) {
        errno = ENOENT;
        return -1;
    }
    if (len >= sizeof addr->sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path, path, len + 1);
    return 0;
}
