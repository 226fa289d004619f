/* fail-wait.c - for tests/final-lifecycle.bats: an LD_PRELOAD library whose
 * pselect() and select() fail with EBADF, every time, once the file named
 * by FAIL_WAIT_FILE exists: a wait that keeps failing. Each failure takes
 * a millisecond, so that a program that retries at once fills its log
 * slowly enough for the test to see it, not the disk.
 *
 *   cc -shared -fPIC -o fail-wait.so fail-wait.c -ldl
 */
#define _GNU_SOURCE /* RTLD_NEXT */

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

static int failing(void)
{
    const char *path = getenv("FAIL_WAIT_FILE");
    struct timespec ms = {0, 1000000L};

    if (path == NULL || access(path, F_OK) == -1)
        return 0;
    nanosleep(&ms, NULL);
    errno = EBADF;
    return 1;
}

int pselect(int n, fd_set *rd, fd_set *wr, fd_set *ex,
            const struct timespec *timeout, const sigset_t *mask)
{
    int (*real)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
                const sigset_t *);

    if (failing())
        return -1;
    *(void **)&real = dlsym(RTLD_NEXT, "pselect");
    if (real == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return real(n, rd, wr, ex, timeout, mask);
}

int select(int n, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *timeout)
{
    int (*real)(int, fd_set *, fd_set *, fd_set *, struct timeval *);

    if (failing())
        return -1;
    *(void **)&real = dlsym(RTLD_NEXT, "select");
    if (real == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return real(n, rd, wr, ex, timeout);
}
