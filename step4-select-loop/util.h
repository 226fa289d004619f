/* util.h - chapter 3: the helpers the server and the client share.
 *
 * warn_errno() reports a failed call on standard error; log_line() writes one
 * event line to standard output with a single write(2), so that lines from
 * the master and its workers never mix and are never duplicated by fork().
 * escape() makes message bytes safe to log, and next_slot() is the
 * round-robin choice of a worker (chapter 2). New in chapter 3: warn() and
 * set_program() for the client's messages, and make_address(), which refuses
 * a socket path that does not fit instead of cutting it.
 */
#ifndef UTIL_H
#define UTIL_H

#include <stddef.h>
#include <sys/un.h>

/* Where the server listens unless told otherwise (-s PATH). */
#define SOCKET_PATH_DEFAULT "master.sock"

/* Longest message, in bytes. */
#define MSG_MAX 1024

/* Longest log line, newline included: room for a message in which every
 * byte is escaped to four ("\xHH") plus the "worker[PID]: received" text.
 * Longer lines are cut, never split. */
#define LOG_LINE_MAX (4 * MSG_MAX + 128)

/* Room escape() may need for LEN bytes, terminating NUL included. */
#define ESCAPED_SIZE(len) (4 * (len) + 1)

/* "master" or "worker": the name log_line() puts before "[PID]: ". */
void set_role(const char *role);

/* "server" (the default) or "client": the name warnings start with. */
void set_program(const char *name);

/* Prints "PROGRAM: <formatted text>" on standard error. */
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "PROGRAM: WHAT: <reason from errno>" on standard error.
 * errno is left as it was, so the caller can still look at it. */
void warn_errno(const char *what);

/* Writes all LEN bytes of BUF to FD, retrying after short writes and EINTR.
 * Returns 0, or -1 with errno set. */
int write_all(int fd, const void *buf, size_t len);

/* Logs "ROLE[PID]: <formatted text>\n" to standard output in one write(2). */
void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Copies LEN bytes of SRC to DST as printable text and NUL-terminates it:
 * backslash and double quote get a backslash before them, tab and carriage
 * return become \t and \r, every other byte below 0x20 and 0x7f becomes
 * \xHH, and bytes from 0x80 up pass through so UTF-8 stays readable. A
 * newline in a message thus can never start a line of its own in the log.
 * DST must hold ESCAPED_SIZE(LEN) bytes. Returns the length written. */
size_t escape(char *dst, const char *src, size_t len);

/* Round-robin: returns the slot after *CURSOR among N slots (0..N-1) and
 * moves the cursor on. */
int next_slot(int *cursor, int n);

/* Fills ADDR with the Unix-domain address PATH. sun_path is a fixed array
 * (108 bytes on Linux); a longer path would be cut, and bind() or connect()
 * would then use a different file. Returns 0, or -1 (errno ENAMETOOLONG) if
 * PATH and its terminating NUL do not fit, or (errno ENOENT) if it is empty. */
int make_address(struct sockaddr_un *addr, const char *path);

#endif
