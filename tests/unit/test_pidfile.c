/* test_pidfile.c - the final pool's pidfile (final/daemon.c) when another
 * master removes it at the worst moment. A master that stops unlinks its
 * pidfile and then lets the lock go; a new master that opened the file just
 * before the unlink would lock a file no path leads to, and a third master
 * would find the path free. fcntl() is faked (-Wl,--wrap) to unlink the
 * file between the new master's open() and its lock, once. */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"

int __wrap_fcntl(int fd, int cmd, ...);
int __real_fcntl(int fd, int cmd, ...);

static const char *unlink_before_lock; /* the path, once; then NULL */

int __wrap_fcntl(int fd, int cmd, ...)
{
    va_list ap;
    void *arg;

    va_start(ap, cmd);
    arg = va_arg(ap, void *);
    va_end(ap);
    if (cmd == F_SETLK && unlink_before_lock != NULL) {
        assert_int_equal(unlink(unlink_before_lock), 0);
        unlink_before_lock = NULL;
    }
    return __real_fcntl(fd, cmd, arg);
}

static void same_file(const char *path, int fd)
{
    struct stat a, b;

    assert_int_equal(stat(path, &a), 0);
    assert_int_equal(fstat(fd, &b), 0);
    assert_true(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
}

/* The lock must end up on the file the path names, with our pid in it. */
static void a_pidfile_unlinked_before_the_lock_is_taken_again(void **state)
{
    char dir[] = "/tmp/test_pidfile.XXXXXX", path[64], text[32];
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/pid", dir);
    f = fopen(path, "w"); /* the stopping master's file */
    assert_non_null(f);
    fputs("1\n", f);
    fclose(f);

    unlink_before_lock = path;
    assert_int_equal(pidfile_write(path), 0);
    assert_null(unlink_before_lock); /* the unlink did happen */
    same_file(path, pidfile_fd());
    f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(text, sizeof text, f));
    fclose(f);
    assert_int_equal(atol(text), (long)getpid());

    pidfile_remove(AT_FDCWD, path);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_pidfile_unlinked_before_the_lock_is_taken_again),
    };

    return cmocka_run_group_tests_name("pidfile", tests, NULL, NULL);
}
