/* log.h - final: event lines and error messages.
 *
 * Every event is one line, "master[PID]: ..." or "worker[PID]: ...",
 * written by a single write(2) to standard output or to the --log file,
 * so that lines of different processes do not mix (log.c says when they
 * still could) and fork() never duplicates one (no stdio buffer is
 * involved). Bytes that came from a client are escaped first, so no client
 * can forge an event line.
 */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>

/* Room escape() may need for LEN bytes, terminating NUL included. */
#define ESCAPED_SIZE(len) (4 * (len) + 1)

/* Sends log lines to PATH, opened for appending, instead of standard
 * output. Returns 0, or -1 with errno set. */
int log_open(const char *path);

/* "master" or "worker": the name each line starts with. Called by the
 * process whose lines they are (a worker, right after fork()): it also
 * keeps the pid for those lines, so that they cost no getpid() each. */
void log_set_role(const char *role);

/* "server" (the default) or "client": the name error messages start with. */
void log_set_program(const char *name);

/* From now on, log_warn() and log_warnx() write event lines through
 * log_line() instead of "server: ..." on standard error: once the pool
 * runs, perhaps as a daemon with no terminal, an error is an event like any
 * other. */
void log_errors_as_events(void);

/* Logs "ROLE[PID]: <formatted text>" as one line, in one write(2). */
void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Errors, named as in OpenBSD's daemons (httpd, relayd, ntpd):
 * log_warn() appends ": " and strerror(errno), log_warnx() does not. Each
 * writes "PROGRAM: <text>" on standard error, or an event line once
 * log_errors_as_events() has been called; errno is kept.
 *
 * The rule for errors, in every file of final/: a thin wrapper of a system
 * call (queue.c, shared.c, unix_address()) returns -1 with errno set and
 * says nothing, since only its caller knows what it was doing; any other
 * function that fails says what failed and why, once, with one of these,
 * and returns -1 ("after saying why", in its comment). */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes all LEN bytes of BUF to FD, retrying after short writes and EINTR.
 * Returns 0, or -1 with errno set. */
int write_all(int fd, const void *buf, size_t len);

/* Copies LEN bytes of SRC to DST as printable text (SPEC 3): backslash and
 * double quote get a backslash, tab and carriage return become \t and \r,
 * every other byte below 0x20 and 0x7f becomes \xHH, bytes from 0x80 up
 * pass through. DST must hold ESCAPED_SIZE(LEN) bytes. Returns the length
 * written, terminating NUL not counted. */
size_t escape(char *dst, const char *src, size_t len);

#endif
