/* util.c - chapter 1: error reporting and whole-line logging.
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
#include <unistd.h>

#include "util.h"

static const char *log_role = "master";

void set_role(const char *role)
{
    log_role = role;
}

void warn_errno(const char *what)
{
    int saved = errno; /* fprintf() may change errno */

    fprintf(stderr, "server: %s: %s\n", what, strerror(saved));
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
