/* util.h - chapter 2: the helpers the master and its workers share.
 *
 * warn_errno() reports a failed call on standard error; log_line() writes one
 * event line to standard output with a single write(2), so that lines from
 * the master and its workers never mix and are never duplicated by fork().
 * New in chapter 2: escape() makes message bytes safe to log, and next_slot()
 * is the round-robin choice of a worker.
 */
#ifndef UTIL_H
#define UTIL_H

#include <stddef.h>

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

/* Prints "server: WHAT: <reason from errno>" on standard error.
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

#endif
