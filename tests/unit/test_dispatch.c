/* test_dispatch.c - the final pool's error paths, proven with fake system
 * calls (-Wl,--wrap): a full queue (msgsnd EAGAIN) spills to the next slot
 * and gives BUSY only when every queue is full (and then, for the rest of
 * that read, without trying again); a queue someone removed (EIDRM) is
 * replaced by a new one, or skipped if none can be made; a stop at once
 * ends a reload; and fork() failing with EAGAIN at start-up is reported,
 * not a crash. Links final/pool.c and what it needs. */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/msg.h>
#include <unistd.h>

#include "options.h"
#include "pool.h"

int __wrap_msgsnd(int qid, const void *msg, size_t size, int flags);
int __wrap_msgget(key_t key, int flags);
int __real_msgget(key_t key, int flags);
pid_t __wrap_fork(void);

/* A test that wants msgget() faked sets this; the others make real queues
 * (pool_init()). */
static int fake_msgget;

/* Each msgsnd() takes two queued values: 0 to accept, or an errno. The qid
 * it was called with is checked against a third. */
int __wrap_msgsnd(int qid, const void *msg, size_t size, int flags)
{
    int want_qid = mock_type(int);
    int err = mock_type(int);

    (void)msg;
    (void)size;
    assert_int_equal(qid, want_qid);
    assert_true(flags & IPC_NOWAIT); /* the master never waits on a queue */
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

/* Takes a queued qid to return, or -1 and then an errno. */
int __wrap_msgget(key_t key, int flags)
{
    int qid;

    if (!fake_msgget)
        return __real_msgget(key, flags);
    qid = mock_type(int);
    if (qid == -1)
        errno = mock_type(int);
    return qid;
}

pid_t __wrap_fork(void)
{
    errno = mock_type(int);
    return -1;
}

static void will_send(int qid, int err)
{
    will_return(__wrap_msgsnd, qid);
    will_return(__wrap_msgsnd, err);
}

/* A pool of three slots with queues 100, 101, 102, without processes. */
static struct pool pool;

static int make_pool(void **state)
{
    (void)state;
    static struct slot_record records[WORKERS_MAX];

    memset(&pool, 0, sizeof pool);
    memset(records, 0, sizeof records);
    pool.records = records;
    pool.phase = POOL_RUNNING;
    pool.count = 3;
    for (int i = 0; i < WORKERS_MAX; i++)
        pool.slots[i].qid = i < 3 ? 100 + i : -1;
    return 0;
}

static void round_robin_when_there_is_room(void **state)
{
    (void)state;
    will_send(100, 0);
    will_send(101, 0);
    will_send(102, 0);
    will_send(100, 0);
    for (int i = 0; i < 4; i++)
        assert_string_equal(pool_dispatch(&pool, "m", 1), "OK\n");
    assert_int_equal(pool.slots[0].dispatched, 2);
    assert_int_equal(pool.next_seq, 4);
}

static void a_full_queue_spills_to_the_next_slot(void **state)
{
    (void)state;
    will_send(100, EAGAIN);
    will_send(101, 0);
    assert_string_equal(pool_dispatch(&pool, "m", 1), "OK\n");
    assert_int_equal(pool.slots[1].dispatched, 1);
    /* The turn moved on from slot 0 all the same. */
    will_send(101, 0);
    assert_string_equal(pool_dispatch(&pool, "m", 1), "OK\n");
}

static void busy_only_when_every_queue_is_full(void **state)
{
    (void)state;
    will_send(100, EAGAIN);
    will_send(101, EAGAIN);
    will_send(102, EAGAIN);
    assert_string_equal(pool_dispatch(&pool, "m", 1), "BUSY\n");
    assert_int_equal(pool.next_seq, 0); /* nothing was queued */
}

/* Once every queue has refused a message, the messages after it in the
 * same read that are as long or longer get BUSY without a msgsnd() each
 * (the fake fails the test on a call it was not told to expect); a
 * shorter one may still fit, and is tried. The next read tries every
 * queue again. The turn moves on all the same. */
static void after_busy_the_same_read_tries_no_queue(void **state)
{
    (void)state;
    pool_new_batch(&pool);
    will_send(100, EAGAIN);
    will_send(101, EAGAIN);
    will_send(102, EAGAIN);
    assert_string_equal(pool_dispatch(&pool, "mm", 2), "BUSY\n");
    assert_string_equal(pool_dispatch(&pool, "mmm", 3), "BUSY\n");
    will_send(102, 0); /* the third turn: slot 2 */
    assert_string_equal(pool_dispatch(&pool, "m", 1), "OK\n");
    pool_new_batch(&pool);
    will_send(100, 0);
    assert_string_equal(pool_dispatch(&pool, "mmm", 3), "OK\n");
    assert_int_equal(pool.next_seq, 2);
}

/* Someone removed slot 0's queue (ipcrm): the slot gets a new one, and the
 * message goes there, still in turn. */
static void a_removed_queue_is_replaced(void **state)
{
    (void)state;
    fake_msgget = 1;
    will_send(100, EIDRM);
    will_return(__wrap_msgget, 200);
    will_send(200, 0);
    assert_string_equal(pool_dispatch(&pool, "m", 1), "OK\n");
    assert_int_equal(pool.slots[0].qid, 200);
    assert_int_equal(pool.slots[0].dispatched, 1);
    fake_msgget = 0;
}

/* With no new queue to be had, the slot is skipped: the next takes the
 * message; and with every queue gone, the client is told so. */
static void a_removed_queue_is_skipped_if_none_can_be_made(void **state)
{
    (void)state;
    fake_msgget = 1;
    will_send(100, EIDRM);
    will_return(__wrap_msgget, -1);
    will_return(__wrap_msgget, ENOSPC);
    will_send(101, 0);
    assert_string_equal(pool_dispatch(&pool, "m", 1), "OK\n");
    /* The next turn is slot 1's: one queue gone, one full, one gone. */
    will_send(101, EINVAL);
    will_return(__wrap_msgget, -1);
    will_return(__wrap_msgget, ENOSPC);
    will_send(102, EAGAIN);
    will_send(100, EIDRM);
    will_return(__wrap_msgget, -1);
    will_return(__wrap_msgget, ENOSPC);
    assert_string_equal(pool_dispatch(&pool, "m", 1), "BUSY\n");
    fake_msgget = 0;
}

static void close_nothing(void *ctx)
{
    (void)ctx;
}

/* A stop at once during a reload ends the reload: pool_reload_continue()
 * then starts no worker and says no "reload finished" (nor READY=1). */
static void terminating_ends_a_reload(void **state)
{
    (void)state;
    pool.reloading = 1;
    pool.reload_pid = 4242;
    pool_terminate(&pool);
    assert_int_equal(pool.phase, POOL_TERMINATING);
    assert_int_equal(pool.reloading, -1);
}

/* fork() failing at start-up: pool_start() says so, and no slot claims a
 * worker it does not have. */
static void fork_failing_is_reported(void **state)
{
    struct options opt = {.workers = 2, .socket_path = "x.sock"};
    struct pool p;

    (void)state;
    /* pool_init() makes real queues: msgget() is not faked. */
    assert_int_equal(pool_init(&p, &opt, close_nothing, NULL), 0);
    will_return(__wrap_fork, EAGAIN);
    assert_int_equal(pool_start(&p), -1);
    assert_int_equal(p.slots[0].pid, 0);
    assert_int_equal(p.slots[1].pid, 0);
    pool_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(round_robin_when_there_is_room, make_pool),
        cmocka_unit_test_setup(a_full_queue_spills_to_the_next_slot, make_pool),
        cmocka_unit_test_setup(busy_only_when_every_queue_is_full, make_pool),
        cmocka_unit_test_setup(after_busy_the_same_read_tries_no_queue,
                               make_pool),
        cmocka_unit_test_setup(a_removed_queue_is_replaced, make_pool),
        cmocka_unit_test_setup(a_removed_queue_is_skipped_if_none_can_be_made,
                               make_pool),
        cmocka_unit_test_setup(terminating_ends_a_reload, make_pool),
        cmocka_unit_test(fork_failing_is_reported),
    };

    /* The "server: msgsnd: ..." lines on standard error are expected: the
     * failures are made on purpose. */
    return cmocka_run_group_tests_name("dispatch", tests, NULL, NULL);
}
