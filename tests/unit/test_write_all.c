/* test_write_all.c - unit tests for write_all() (chapter 2, util.c): short
 * writes and EINTR, which a real terminal or pipe produces only now and
 * then, are produced here on demand by a fake write(2).
 *
 * The test is linked with -Wl,--wrap=write: every call to write() in
 * util.c then goes to __wrap_write() below, and __real_write() would reach
 * the real one. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/types.h>

#include "util.h"

ssize_t __wrap_write(int fd, const void *buf, size_t len);

/* What the fake write() has been given, in order. */
static char written[256];
static size_t written_len;

/* Each call takes two queued values: how many bytes to accept (or -1) and
 * the errno to fail with when it is -1. */
ssize_t __wrap_write(int fd, const void *buf, size_t len)
{
    int accept = mock_type(int);
    int err = mock_type(int);

    (void)fd;
    if (accept < 0) {
        errno = err;
        return -1;
    }
    if ((size_t)accept < len)
        len = (size_t)accept; /* a short write */
    memcpy(written + written_len, buf, len);
    written_len += len;
    return (ssize_t)len;
}

static void will_write(int accept, int err)
{
    will_return(__wrap_write, accept);
    will_return(__wrap_write, err);
}

static int reset(void **state)
{
    (void)state;
    written_len = 0;
    return 0;
}

static void whole_write_at_once(void **state)
{
    (void)state;
    will_write(100, 0);
    assert_int_equal(write_all(1, "hello", 5), 0);
    assert_int_equal(written_len, 5);
    assert_memory_equal(written, "hello", 5);
}

static void short_writes_are_continued(void **state)
{
    (void)state;
    will_write(2, 0);
    will_write(1, 0);
    will_write(100, 0);
    assert_int_equal(write_all(1, "abcdef", 6), 0);
    assert_int_equal(written_len, 6);
    assert_memory_equal(written, "abcdef", 6);
}

static void eintr_is_retried(void **state)
{
    (void)state;
    will_write(-1, EINTR);
    will_write(3, 0);
    will_write(-1, EINTR);
    will_write(100, 0);
    assert_int_equal(write_all(1, "abcdef", 6), 0);
    assert_memory_equal(written, "abcdef", 6);
}

static void other_errors_are_reported(void **state)
{
    (void)state;
    will_write(2, 0);
    will_write(-1, EPIPE);
    errno = 0;
    assert_int_equal(write_all(1, "abcdef", 6), -1);
    assert_int_equal(errno, EPIPE);
    assert_int_equal(written_len, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(whole_write_at_once, reset),
        cmocka_unit_test_setup(short_writes_are_continued, reset),
        cmocka_unit_test_setup(eintr_is_retried, reset),
        cmocka_unit_test_setup(other_errors_are_reported, reset),
    };

    return cmocka_run_group_tests_name("write_all", tests, NULL, NULL);
}
