/* test_accept_loop.c - the accept loop of chapters 4 and 5 (one source,
 * built once against each chapter's server.c), with accept() and
 * clock_gettime() faked by -Wl,--wrap:
 * - a flood of waiting clients is taken ACCEPT_BATCH at a time, and the
 *   loop goes back to select() in between;
 * - EMFILE pauses the listener for PAUSE_MS, and the pause ends when that
 *   time is up, also when no connection is open whose close could end it.
 *
 * server.c is included, not linked, to reach its static functions; its
 * main() is renamed, as the test has its own. */
int server_main(int argc, char *argv[]);
#define main server_main
#include "server.c"
#undef main

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

int __wrap_accept(int fd, struct sockaddr *addr, socklen_t *len);
int __wrap_clock_gettime(clockid_t id, struct timespec *ts);

/* The fake accept() answers from this script: WAITING clients wait in the
 * backlog (each accepted one gets a fresh descriptor), then either EAGAIN
 * or, with OUT_OF_FDS, EMFILE. */
static struct {
    int waiting;
    bool out_of_fds;
    int calls;
} backlog;

int __wrap_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    (void)fd;
    (void)addr;
    (void)len;
    backlog.calls++;
    if (backlog.out_of_fds) {
        errno = EMFILE;
        return -1;
    }
    if (backlog.waiting == 0) {
        errno = EAGAIN;
        return -1;
    }
    backlog.waiting--;
    return open("/dev/null", O_RDWR); /* a descriptor of its own */
}

/* The fake clock: CLOCK_MONOTONIC reads now_ms. */
static int64_t now_ms;

int __wrap_clock_gettime(clockid_t id, struct timespec *ts)
{
    assert_int_equal(id, CLOCK_MONOTONIC);
    ts->tv_sec = (time_t)(now_ms / 1000);
    ts->tv_nsec = (long)(now_ms % 1000) * 1000000;
    return 0;
}

static struct pool pool;

static int open_connections(void)
{
    int n = 0;

    for (int fd = 0; fd < FD_SETSIZE; fd++)
        n += pool.conns[fd] != NULL;
    return n;
}

static int reset(void **state)
{
    (void)state;
    memset(&backlog, 0, sizeof backlog);
    memset(&pool, 0, sizeof pool);
    pool.listener = -1; /* accept() is faked: no socket needed */
    now_ms = 5000;
    return 0;
}

static int close_all(void **state)
{
    (void)state;
    for (int fd = 0; fd < FD_SETSIZE; fd++) {
        if (pool.conns[fd] != NULL)
            close_conn(&pool, pool.conns[fd]);
    }
    return 0;
}

static void a_flood_is_taken_one_batch_per_wake_up(void **state)
{
    (void)state;
    backlog.waiting = 3 * ACCEPT_BATCH;
    accept_clients(&pool);
    assert_int_equal(backlog.calls, ACCEPT_BATCH);
    assert_int_equal(open_connections(), ACCEPT_BATCH);
    /* The next wake-up takes the next batch. */
    accept_clients(&pool);
    assert_int_equal(backlog.calls, 2 * ACCEPT_BATCH);
    assert_int_equal(open_connections(), 2 * ACCEPT_BATCH);
}

static void a_short_backlog_ends_at_eagain(void **state)
{
    (void)state;
    backlog.waiting = 3;
    accept_clients(&pool);
    assert_int_equal(backlog.calls, 4); /* three clients, then EAGAIN */
    assert_int_equal(open_connections(), 3);
    assert_false(pool.listener_paused);
}

static void emfile_pauses_until_the_time_is_up(void **state)
{
    struct timeval tv;
    struct timeval *timeout;

    (void)state;
    backlog.out_of_fds = true;
    accept_clients(&pool);
    assert_int_equal(backlog.calls, 1);
    assert_true(pool.listener_paused);
    assert_int_equal(open_connections(), 0); /* none to close */

    /* select() gets the time left as its timeout... */
    timeout = pause_timeout(&pool, &tv);
    assert_ptr_equal(timeout, &tv);
    assert_int_equal(tv.tv_sec * 1000 + tv.tv_usec / 1000, PAUSE_MS);
    now_ms += PAUSE_MS - 1;
    timeout = pause_timeout(&pool, &tv);
    assert_ptr_equal(timeout, &tv);
    assert_int_equal(tv.tv_sec, 0);
    assert_int_equal(tv.tv_usec, 1000);
    assert_true(pool.listener_paused);

    /* ...and once it is up, the listener is watched again, with no
     * timeout, although no connection has closed. */
    now_ms += 1;
    assert_null(pause_timeout(&pool, &tv));
    assert_false(pool.listener_paused);
}

static void no_pause_no_timeout(void **state)
{
    struct timeval tv;

    (void)state;
    assert_null(pause_timeout(&pool, &tv));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_flood_is_taken_one_batch_per_wake_up,
                                        reset, close_all),
        cmocka_unit_test_setup_teardown(a_short_backlog_ends_at_eagain, reset,
                                        close_all),
        cmocka_unit_test_setup_teardown(emfile_pauses_until_the_time_is_up,
                                        reset, close_all),
        cmocka_unit_test_setup_teardown(no_pause_no_timeout, reset, close_all),
    };

    return cmocka_run_group_tests_name(STAGE_NAME " accept loop", tests, NULL,
                                       NULL);
}
