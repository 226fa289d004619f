/* test_frame.c - unit tests for the line framer (chapter 4, frame.c): how a
 * byte stream that arrives in arbitrary pieces becomes messages
 * (final/SPEC.md section 4). Built once against each stage's own frame.c:
 * chapters 4 and 5 and the final (tests/unit/Makefile). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
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

/* Takes every result the framer has now, up to FRAME_MORE, and appends
 * them to LOG (SIZE bytes): a message as its text and a newline, a
 * too-long line as "<too long>" and a newline. */
static void drain(struct framer *f, bool at_eof, char *log, size_t size)
{
    const char *msg;
    size_t len, used;
    enum frame_result r;

    while ((r = framer_next(f, at_eof, &msg, &len)) != FRAME_MORE) {
        used = strlen(log);
        if (r == FRAME_TOO_LONG) {
            assert_true(used + 11 < size);
            strcpy(log + used, "<too long>\n");
        } else {
            assert_true(used + len + 1 < size);
            memcpy(log + used, msg, len);
            log[used + len] = '\n';
            log[used + len + 1] = '\0';
        }
    }
}

/* Feeds DATA (LEN bytes) as the pieces it arrives in, cut at CUT1 and CUT2
 * (0 <= CUT1 <= CUT2 <= LEN), each piece with as few read()s as the room
 * the framer offers allows, taking every message after each read and at
 * the end of the stream; LOG gets what drain() writes. */
static void feed_in_pieces(const char *data, size_t len, size_t cut1,
                           size_t cut2, char *log, size_t size)
{
    size_t cuts[] = {0, cut1, cut2, len};
    struct framer f;

    framer_init(&f);
    log[0] = '\0';
    for (size_t i = 0; i < 3; i++) {
        size_t at = cuts[i];

        while (at < cuts[i + 1]) {
            size_t room, n = cuts[i + 1] - at;

            framer_space(&f, &room);
            assert_true(room > 0); /* else read() would say end of file */
            if (n > room)
                n = room;
            feed(&f, data + at, n);
            at += n;
            drain(&f, false, log, size);
        }
    }
    drain(&f, true, log, size);
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

/* Whatever the pieces a stream arrives in, the same messages come out: the
 * stream cut in two or three at every pair of byte positions. */
static void cut_at_every_byte_position(void **state)
{
    const char *text = "one\ntwo words\n\nthree\nlast";
    const char *want = "one\ntwo words\n\nthree\nlast\n";
    size_t len = strlen(text);
    char log[256];

    (void)state;
    for (size_t i = 0; i <= len; i++) {
        for (size_t j = i; j <= len; j++) {
            feed_in_pieces(text, len, i, j, log, sizeof log);
            if (strcmp(log, want) != 0)
                fail_msg("cut at %zu and %zu: got \"%s\"", i, j, log);
        }
    }
}

/* The longest message, and one byte more, cut in two at every position:
 * 1024 bytes are a message whatever the reads, 1025 are too long, and the
 * next line is a message again either way. */
static void limits_cut_at_every_byte_position(void **state)
{
    static char text[MSG_MAX + 1 + 1 + 5];
    char want[MSG_MAX + 16], log[2 * MSG_MAX];

    (void)state;
    for (size_t body = MSG_MAX; body <= MSG_MAX + 1; body++) {
        size_t len = body + 1 + 5;

        memset(text, 'x', body);
        memcpy(text + body, "\nnext\n", 6);
        if (body == MSG_MAX)
            snprintf(want, sizeof want, "%.*s\nnext\n", MSG_MAX, text);
        else
            snprintf(want, sizeof want, "<too long>\nnext\n");
        for (size_t i = 0; i <= len; i++) {
            feed_in_pieces(text, len, i, len, log, sizeof log);
            if (strcmp(log, want) != 0)
                fail_msg("%zu bytes, cut at %zu: got \"%.40s...\"", body, i,
                         log);
        }
    }
}

/* 1024 bytes, then the newline in a read of its own: MSG_MAX bytes and no
 * newline yet are the longest message still coming, not a line too long. */
static void msg_max_bytes_then_the_newline_later(void **state)
{
    char line[MSG_MAX];
    struct framer f;
    const char *msg;
    size_t len;

    (void)state;
    memset(line, 'x', sizeof line);
    framer_init(&f);
    feed(&f, line, 1000);
    expect(&f, false, FRAME_MORE);
    feed(&f, line, MSG_MAX - 1000);
    expect(&f, false, FRAME_MORE);
    feed(&f, "\n", 1);
    assert_int_equal(framer_next(&f, false, &msg, &len), FRAME_MESSAGE);
    assert_int_equal(len, MSG_MAX);
    expect(&f, false, FRAME_MORE);
}

/* 1025 bytes over three reads, then the newline and a message: one
 * FRAME_TOO_LONG, and the message after it arrives. */
static void msg_max_plus_one_over_several_reads(void **state)
{
    char line[MSG_MAX + 1];
    struct framer f;

    (void)state;
    memset(line, 'x', sizeof line);
    framer_init(&f);
    feed(&f, line, 1000);
    expect(&f, false, FRAME_MORE);
    feed(&f, line, MSG_MAX - 1000);
    expect(&f, false, FRAME_MORE);
    feed(&f, "x", 1);
    expect(&f, false, FRAME_TOO_LONG);
    expect(&f, false, FRAME_MORE);
    feed(&f, "\nnext\n", 6);
    expect_message(&f, false, "next");
    expect(&f, false, FRAME_MORE);
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
        cmocka_unit_test(cut_at_every_byte_position),
        cmocka_unit_test(limits_cut_at_every_byte_position),
        cmocka_unit_test(msg_max_bytes_then_the_newline_later),
        cmocka_unit_test(msg_max_plus_one_over_several_reads),
    };

    return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
