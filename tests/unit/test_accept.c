/* test_accept.c - the final master's accept loop under failing accept()
 * calls, faked with -Wl,--wrap: EINTR and ECONNABORTED are retried,
 * EAGAIN ends the round, and EMFILE (out of descriptors) refuses the
 * waiting connection with the spare descriptor, or pauses the listener
 * when there is no spare, instead of spinning or crashing.
 *
 * master.c is included, not linked, to reach its static accept_clients(). */
#define _GNU_SOURCE

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "../../final/master.c"

int __wrap_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int __wrap_accept(int fd, struct sockaddr *addr, socklen_t *len);

/* Each fake accept, either kind, takes the next queued value: a descriptor,
 * or -errno. */
static int fake_accept(void)
{
    int r = mock_type(int);

    if (r < 0) {
        errno = -r;
        return -1;
    }
    return r;
}

int __wrap_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    (void)fd;
    (void)addr;
    (void)len;
    assert_int_equal(flags, SOCK_NONBLOCK | SOCK_CLOEXEC);
    return fake_accept();
}

/* refuse_one() uses plain accept() on the spare's descriptor. */
int __wrap_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    (void)fd;
    (void)addr;
    (void)len;
    return fake_accept();
}

static struct master m;

/* A master with no pool and no listening socket: accept() is faked. */
static int make_master(void **state)
{
    (void)state;
    memset(&m, 0, sizeof m);
    m.listener = -1;
    m.high_fd = -1;
    m.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(m.spare_fd >= 0);
    return 0;
}

static int free_master(void **state)
{
    (void)state;
    for (int fd = 0; fd <= m.high_fd; fd++) {
        if (m.conns[fd] != NULL)
            drop_conn(&m, fd);
    }
    if (m.spare_fd != -1)
        close(m.spare_fd);
    return 0;
}

/* One end of a fresh socket pair, non-blocking as accept4() would make it:
 * a real descriptor for the connection, with nothing to read yet. */
static int new_client(void)
{
    int sv[2];

    assert_int_equal(
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv),
        0);
    close(sv[1]); /* the client hung up: its end-of-file is read at once */
    return sv[0];
}

static void eintr_and_econnaborted_are_retried(void **state)
{
    (void)state;
    will_return(fake_accept, -EINTR);
    will_return(fake_accept, -ECONNABORTED);
    will_return(fake_accept, -EAGAIN);
    accept_clients(&m);
    assert_int_equal(m.paused_until, 0);
}

static void eagain_ends_the_round(void **state)
{
    int fd = new_client();

    (void)state;
    will_return(fake_accept, fd);
    will_return(fake_accept, -EAGAIN);
    accept_clients(&m);
    /* Accepted, read at once: end of file, no message, closed again. */
    assert_null(m.conns[fd]);
    assert_int_equal(m.connections, 0);
}

static void emfile_refuses_with_the_spare(void **state)
{
    (void)state;
    will_return(fake_accept, -EMFILE);
    will_return(fake_accept, new_client()); /* taken and closed */
    will_return(fake_accept, -EAGAIN);
    accept_clients(&m);
    assert_true(m.refusing);
    assert_int_equal(m.paused_until, 0);
    assert_true(m.spare_fd >= 0); /* given up for a moment, then back */
}

static void emfile_without_a_spare_pauses_the_listener(void **state)
{
    (void)state;
    close(m.spare_fd);
    m.spare_fd = -1;
    will_return(fake_accept, -EMFILE);
    accept_clients(&m);
    assert_true(m.paused_until != 0);
}

static void a_full_batch_returns_to_select(void **state)
{
    (void)state;
    for (int i = 0; i < ACCEPT_BATCH; i++)
        will_return(fake_accept, -EINTR);
    accept_clients(&m); /* no EAGAIN queued: a 33rd call would fail */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(eintr_and_econnaborted_are_retried,
                                        make_master, free_master),
        cmocka_unit_test_setup_teardown(eagain_ends_the_round, make_master,
                                        free_master),
        cmocka_unit_test_setup_teardown(emfile_refuses_with_the_spare,
                                        make_master, free_master),
        cmocka_unit_test_setup_teardown(
            emfile_without_a_spare_pauses_the_listener, make_master,
            free_master),
        cmocka_unit_test_setup_teardown(a_full_batch_returns_to_select,
                                        make_master, free_master),
    };

    return cmocka_run_group_tests_name("accept", tests, NULL, NULL);
}
