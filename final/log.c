/* log.c - final: whole-line logging, error reports and escaping.
 *
 * A line is formatted into a local array and handed to write(2) at once.
 * To a file opened with O_APPEND, each write(2) goes to the end of the file
 * as it is then, so two processes never write over each other; a write
 * that is cut short (a signal during a long write, a disk that fills up)
 * is finished by write_all() in a second write, and another process's line
 * may come between the two. On a full disk the rest fails too: the line
 * stays cut, the next one is glued to it, and the error can only be
 * reported where the log goes. To a pipe, a write of at most PIPE_BUF
 * (4096) bytes is never cut or mixed. Only a "received" line of a
 * 1024-byte message of control bytes, each escaped to four, is longer.
 *
 * Logging waits: a log reader that stops reading (a pipe to a pager that
 * is not scrolled) stops the process that writes, master or worker, until
 * it reads again. Production servers that must never wait give the log a
 * buffer and a thread of its own, or drop lines; this pool keeps it
 * simple, and says so.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "queue.h"

/* Longest line, newline included: a message escaped in full, and the text
 * around it. Longer lines are cut, never split. */
#define LOG_LINE_MAX (ESCAPED_SIZE(MSG_MAX) + 128)

static int out_fd = STDOUT_FILENO;
static const char *log_role = "master";
static pid_t log_pid; /* 0: ask getpid() for every line */
static const char *program = "server";
static bool errors_as_events;

int log_open(const char *path)
{
    /* O_APPEND: every write goes to the current end of the file, even when
     * several processes (or a log rotator) write to it. O_CLOEXEC: nothing
     * we run would need it. O_NONBLOCK for open() only: the log may be a
     * FIFO to a log collector, and one with no reader would make open()
     * wait for ever; it fails with ENXIO instead. Writes then wait, as to
     * standard output (log.c's header says what that costs). */
    int new_fd = open(
        path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0600);

    if (new_fd == -1)
        return -1;
    if (fcntl(new_fd, F_SETFL, O_WRONLY | O_APPEND) == -1) {
        close(new_fd);
        return -1;
    }
    out_fd = new_fd;
    return 0;
}

void log_set_role(const char *role)
{
    log_role = role;
    /* getpid() is a system call each time: glibc stopped caching the pid
     * in 2.25, since a process made by a bare clone() could see its
     * parent's. A worker writes a line per message and its pid never
     * changes, so it asks once, here. The master keeps asking: it may
     * still fork into a daemon after its first lines, and it writes few. */
    log_pid = getpid();
}

void log_set_program(const char *name)
{
    program = name;
}

void log_errors_as_events(void)
{
    errors_as_events = true;
}

int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n == -1) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n; /* a short write: the rest goes in the next round */
        len -= (size_t)n;
    }
    return 0;
}

/* Formats "ROLE[PID]: " and the text into LINE and writes it whole. */
static void vlog_line(const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    int head, body;
    size_t len;

    head = snprintf(line, sizeof line, "%s[%ld]: ", log_role,
                    (long)(log_pid != 0 ? log_pid : getpid()));
    body = vsnprintf(line + head, sizeof line - (size_t)head, fmt, ap);
    if (body < 0)
        body = 0;
    /* vsnprintf() returns the length it wanted: cut to what fits, keeping
     * one byte for the newline. */
    len = (size_t)head + (size_t)body;
    if (len > sizeof line - 1)
        len = sizeof line - 1;
    line[len++] = '\n';
    if (write_all(out_fd, line, len) == -1 && !errors_as_events)
        fprintf(stderr, "%s: write log: %s\n", program, strerror(errno));
}

void log_line(const char *fmt, ...)
{
    va_list ap;
    int saved = errno;

    va_start(ap, fmt);
    vlog_line(fmt, ap);
    va_end(ap);
    errno = saved;
}

/* Formats FMT into an error message, with ": " and the reason for ERR
 * after it unless ERR is 0, and reports it where errors go now. */
static void vwarn(int err, const char *fmt, va_list ap)
{
    char text[512];
    int n = vsnprintf(text, sizeof text, fmt, ap);

    if (err != 0 && n >= 0 && (size_t)n < sizeof text)
        snprintf(text + n, sizeof text - (size_t)n, ": %s", strerror(err));
    if (errors_as_events)
        log_line("error: %s", text);
    else
        fprintf(stderr, "%s: %s\n", program, text);
}

void log_warn(const char *fmt, ...)
{
    va_list ap;
    int saved = errno;

    va_start(ap, fmt);
    vwarn(saved, fmt, ap);
    va_end(ap);
    errno = saved;
}

void log_warnx(const char *fmt, ...)
{
    va_list ap;
    int saved = errno;

    va_start(ap, fmt);
    vwarn(0, fmt, ap);
    va_end(ap);
    errno = saved;
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
