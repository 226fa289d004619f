/* test_frame.c - unit tests for the line framer (chapter 4, frame.c): how a
 * byte stream that arrives in arbitrary pieces becomes messages
 * (final/SPEC.md section 4). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "frame.h"

/* Feeds LEN bytes of DATA to the framer as one read() would. */
static void feed(struct framer *f, const char *data, size_t len)
{
    size_t room;
    char *space = framer_space(f, &room);

    assert_true(len <= room);
    memcpy(space, data, len);
    framer_added(f, len);
}

/* Expects the next result to be a message equal to WANT. */
static void expect_message(struct framer *f, bool at_eof, const char *want)
{
    const char *msg;
    size_t len;

    assert_int_equal(framer_next(f, at_eof, &msg, &len), FRAME_MESSAGE);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(msg, want, len);
}

static void expect(struct framer *f, bool at_eof, enum frame_result want)
{
    const char *msg;
    size_t len;

    assert_int_equal(framer_next(f, at_eof, &msg, &len), want);
}

static void one_line_is_one_message(void **state)
{
    struct framer f;

    (void)state;
    framer_init(&f);
    feed(&f, "hello\n", 6);
    expect_message(&f, false, "hello");
    expect(&f, false, FRAME_MORE);
}

static void a_split_message_waits_for_its_end(void **state)
{
    struct framer f;

    (void)state;
    framer_init(&f);
    feed(&f, "hel", 3);
    expect(&f, false, FRAME_MORE);
    feed(&f, "lo\n", 3);
    expect_message(&f, false, "hello");
}

static void one_byte_at_a_time(void **state)
{
    const char *text = "abc\nde\n";
    struct framer f;

    (void)state;
    framer_init(&f);
    for (size_t i = 0; i < 3; i++) {
        feed(&f, text + i, 1);
        expect(&f, false, FRAME_MORE);
    }
    feed(&f, text + 3, 1);
    expect_message(&f, false, "abc");
    feed(&f, text + 4, 1);
    expect(&f, false, FRAME_MORE);
    feed(&f, text + 5, 2);
    expect_message(&f, false, "de");
}

static void merged_messages_come_out_one_by_one(void **state)
{
    struct framer f;

    (void)state;
    framer_init(&f);
    feed(&f, "a\nbb\nccc\nd", 10);
    expect_message(&f, false, "a");
    expect_message(&f, false, "bb");
    expect_message(&f, false, "ccc");
    expect(&f, false, FRAME_MORE);
    feed(&f, "\n", 1);
    expect_message(&f, false, "d");
}

static void unterminated_last_line_counts_at_eof(void **state)
{
    struct framer f;

    (void)state;
    framer_init(&f);
    feed(&f, "a\nlast", 6);
    expect_message(&f, false, "a");
    expect(&f, false, FRAME_MORE);
    expect_message(&f, true, "last");
    expect(&f, true, FRAME_MORE);
}

static void nothing_left_at_eof_is_no_message(void **state)
{
    struct framer f;

    (void)state;
    framer_init(&f);
    expect(&f, true, FRAME_MORE);
}

static void empty_line_is_an_empty_message(void **state)
{
    struct framer f;

    (void)state;
    framer_init(&f);
    feed(&f, "\nx\n", 3);
    expect_message(&f, false, "");
    expect_message(&f, false, "x");
}

static void exactly_msg_max_bytes_is_accepted(void **state)
{
    char line[MSG_MAX + 1];
    struct framer f;
    const char *msg;
    size_t len;

    (void)state;
    memset(line, 'x', MSG_MAX);
    line[MSG_MAX] = '\n';
    framer_init(&f);
    feed(&f, line, sizeof line);
    assert_int_equal(framer_next(&f, false, &msg, &len), FRAME_MESSAGE);
    assert_int_equal(len, MSG_MAX);
}

static void too_long_is_reported_once_then_skipped(void **state)
{
    char chunk[MSG_MAX + 1];
    struct framer f;

    (void)state;
    memset(chunk, 'x', sizeof chunk);
    framer_init(&f);
    feed(&f, chunk, sizeof chunk); /* MSG_MAX + 1 bytes, no newline */
    expect(&f, false, FRAME_TOO_LONG);
    feed(&f, chunk, 500); /* more of the same line */
    expect(&f, false, FRAME_MORE);
    feed(&f, "xx\nnext\n", 8);
    expect_message(&f, false, "next");
    expect(&f, false, FRAME_MORE);
}

static void too_long_line_ending_in_the_same_read(void **state)
{
    char chunk[MSG_MAX + 1];
    struct framer f;

    (void)state;
    memset(chunk, 'y', sizeof chunk);
    framer_init(&f);
    feed(&f, chunk, sizeof chunk);
    expect(&f, false, FRAME_TOO_LONG);
    feed(&f, "\nok\n", 4);
    expect_message(&f, false, "ok");
}

static void too_long_at_eof_is_dropped(void **state)
{
    char chunk[MSG_MAX + 1];
    struct framer f;

    (void)state;
    memset(chunk, 'z', sizeof chunk);
    framer_init(&f);
    feed(&f, chunk, sizeof chunk);
    expect(&f, true, FRAME_TOO_LONG);
    expect(&f, true, FRAME_MORE);
}

/* After FRAME_MORE there is always room for the next read. */
static void room_after_a_partial_line(void **state)
{
    char chunk[MSG_MAX];
    struct framer f;
    size_t room;

    (void)state;
    memset(chunk, 'p', sizeof chunk);
    framer_init(&f);
    feed(&f, "a\n", 2);
    feed(&f, chunk, sizeof chunk - 2);
    expect_message(&f, false, "a");
    expect(&f, false, FRAME_MORE);
    framer_space(&f, &room);
    assert_int_equal(room, 3); /* MSG_MAX + 1 - (MSG_MAX - 2) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_line_is_one_message),
        cmocka_unit_test(a_split_message_waits_for_its_end),
        cmocka_unit_test(one_byte_at_a_time),
        cmocka_unit_test(merged_messages_come_out_one_by_one),
        cmocka_unit_test(unterminated_last_line_counts_at_eof),
        cmocka_unit_test(nothing_left_at_eof_is_no_message),
        cmocka_unit_test(empty_line_is_an_empty_message),
        cmocka_unit_test(exactly_msg_max_bytes_is_accepted),
        cmocka_unit_test(too_long_is_reported_once_then_skipped),
        cmocka_unit_test(too_long_line_ending_in_the_same_read),
        cmocka_unit_test(too_long_at_eof_is_dropped),
        cmocka_unit_test(room_after_a_partial_line),
    };

    return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
