/* test_worker.c - the worker loop under fake msgrcv() results (-Wl,--wrap):
 * EINTR is retried and no message is lost, a removed queue ends the worker
 * with status 1, every message handled is marked finished in the shared
 * record, an exit order for another worker is not obeyed, and a message
 * longer than the protocol allows (anyone with our user id can put one on
 * the queue) is refused, not escaped into a buffer too small for it.
 * _exit() is faked too, to come back to the test instead of ending it. */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/msg.h>
#include <unistd.h>

#include "shared.h"
#include "worker.h"

ssize_t __wrap_msgrcv(int qid, void *msg, size_t size, long type, int flags);
void __wrap__exit(int status);

static jmp_buf back;

/* The worker's _exit(STATUS) comes back here as setjmp() returning
 * STATUS + 1 (setjmp() returning 0 means "first time"). */
void __wrap__exit(int status)
{
    longjmp(back, status + 1);
}

/* Each fake msgrcv() takes a queued pointer to a message to deliver, or
 * NULL and then an errno to fail with. Like the kernel, it never copies
 * more than SIZE bytes of body: a longer message fails with E2BIG, or with
 * MSG_NOERROR is cut to SIZE (and taken off the queue all the same). The
 * message's size is its header and body.len bytes, as the sender said. */
ssize_t __wrap_msgrcv(int qid, void *msg, size_t size, long type, int flags)
{
    const struct message *m = mock_ptr_type(const struct message *);
    size_t n;

    (void)qid;
    (void)type;
    if (m == NULL) {
        errno = mock_type(int);
        return -1;
    }
    n = MSG_HEADER + m->body.len;
    if (n > size && !(flags & MSG_NOERROR)) {
        errno = E2BIG;
        return -1;
    }
    if (n > size)
        n = size;
    memcpy(msg, m, sizeof(long) + n);
    return (ssize_t)n;
}

static struct message data(uint64_t seq, const char *text)
{
    struct message m = {.mtype = MSG_DATA};

    m.body.seq = seq;
    m.body.len = (uint32_t)strlen(text);
    memcpy(m.body.text, text, m.body.len);
    return m;
}

/* The exit order for the worker run_worker() starts, whose serial is 9. */
static const struct message exit_msg = {.mtype = MSG_EXIT, .body.seq = 9};

static int run_worker(struct slot_record *rec)
{
    static struct slot_record all[WORKERS_MAX];
    struct worker_args a = {
        .qid = 7, .rec = rec, .all = all, .master = getppid(), .serial = 9};
    int jumped = setjmp(back);

    if (jumped == 0)
        worker_main(&a); /* comes back through __wrap__exit() */
    return jumped - 1;
}

static void eintr_is_retried_and_nothing_is_lost(void **state)
{
    static struct slot_record rec;
    struct message one = data(1, "one"), two = data(2, "two");

    (void)state;
    will_return(__wrap_msgrcv, NULL);
    will_return(__wrap_msgrcv, EINTR);
    will_return(__wrap_msgrcv, &one);
    will_return(__wrap_msgrcv, NULL);
    will_return(__wrap_msgrcv, EINTR);
    will_return(__wrap_msgrcv, &two);
    will_return(__wrap_msgrcv, &exit_msg);
    assert_int_equal(run_worker(&rec), 0);
    assert_int_equal(atomic_load(&rec.done), 2); /* both finished */
    assert_int_equal(atomic_load(&rec.busy_ms), 0);
}

static void a_removed_queue_ends_the_worker_with_status_1(void **state)
{
    static struct slot_record rec;

    (void)state;
    will_return(__wrap_msgrcv, NULL);
    will_return(__wrap_msgrcv, EIDRM);
    assert_int_equal(run_worker(&rec), 1);
}

/* A record left unfinished by a dead predecessor is handled first. */
static void an_unfinished_message_is_handled_first(void **state)
{
    static struct slot_record rec;

    (void)state;
    rec.msg = data(5, "held");
    atomic_store(&rec.done, 4);
    will_return(__wrap_msgrcv, &exit_msg);
    assert_int_equal(run_worker(&rec), 0);
    assert_int_equal(atomic_load(&rec.done), 5);
}

/* An exit order left for a predecessor (the master takes those back, but
 * anyone with our user id can send one) is not obeyed. */
static void an_exit_order_for_another_worker_is_ignored(void **state)
{
    static struct slot_record rec;
    struct message stale = {.mtype = MSG_EXIT, .body.seq = 8};
    struct message after = data(1, "after");

    (void)state;
    will_return(__wrap_msgrcv, &stale);
    will_return(__wrap_msgrcv, &after);
    will_return(__wrap_msgrcv, &exit_msg);
    assert_int_equal(run_worker(&rec), 0);
    assert_int_equal(atomic_load(&rec.done), 1); /* "after" was handled */
}

/* A forged message whose length field fits in what msgrcv() copies but
 * says more than MSG_MAX bytes: refused, and left for no redelivery. */
static void a_message_longer_than_the_protocol_is_refused(void **state)
{
    static struct slot_record rec;
    static struct message forged = {.mtype = MSG_DATA};

    (void)state;
    forged.body.seq = 1;
    forged.body.len = (uint32_t)(sizeof forged.body - MSG_HEADER);
    assert_true(forged.body.len > MSG_MAX);
    memset(forged.body.text, '\x01', MSG_MAX);
    will_return(__wrap_msgrcv, &forged);
    will_return(__wrap_msgrcv, &exit_msg);
    assert_int_equal(run_worker(&rec), 0);
    assert_int_equal(atomic_load(&rec.done), 0); /* never handled */
    assert_false(record_unfinished(&rec));       /* nor handed on */
}

/* A forged message longer than any of ours, longer than the buffer too:
 * without MSG_NOERROR it would stay first on the queue, failing every
 * msgrcv() with E2BIG for ever. It is taken off, refused, and the worker
 * goes on. */
static void
a_message_longer_than_the_buffer_is_taken_off_and_refused(void **state)
{
    static struct slot_record rec;
    static struct message forged = {.mtype = MSG_DATA};
    struct message after = data(1, "after");

    (void)state;
    forged.body.seq = 7;
    forged.body.len = 2000; /* the sender's size: more than the buffer */
    will_return(__wrap_msgrcv, &forged);
    will_return(__wrap_msgrcv, &after);
    will_return(__wrap_msgrcv, &exit_msg);
    assert_int_equal(run_worker(&rec), 0);
    assert_int_equal(atomic_load(&rec.done), 1); /* "after" was handled */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(eintr_is_retried_and_nothing_is_lost),
        cmocka_unit_test(a_removed_queue_ends_the_worker_with_status_1),
        cmocka_unit_test(an_unfinished_message_is_handled_first),
        cmocka_unit_test(an_exit_order_for_another_worker_is_ignored),
        cmocka_unit_test(a_message_longer_than_the_protocol_is_refused),
        cmocka_unit_test(
            a_message_longer_than_the_buffer_is_taken_off_and_refused),
    };

    return cmocka_run_group_tests_name("worker", tests, NULL, NULL);
}
