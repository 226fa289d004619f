/* util.h - chapter 1: the two helpers every program of this chapter uses.
 *
 * warn_errno() reports a failed call on standard error; log_line() writes one
 * event line to standard output with a single write(2), so that lines from
 * the master and its workers never mix and are never duplicated by fork().
 */
#ifndef UTIL_H
#define UTIL_H

/* Longest log line, newline included. Longer lines are cut, never split. */
#define LOG_LINE_MAX 4096

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

#endif
