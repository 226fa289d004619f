/* test_escape.c - unit tests for escape(): the rule that keeps client bytes
 * from forging or breaking a log line (final/SPEC.md section 3). Built twice:
 * against chapter 2's util.c, and with -DFINAL against final/log.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#ifdef FINAL
#include "log.h"
#include "queue.h"
#else
#include "util.h"
#endif

/* Escapes LEN bytes of SRC and checks the text and its returned length. */
static void check(const char *src, size_t len, const char *want)
{
    char out[ESCAPED_SIZE(MSG_MAX)];
    size_t n = escape(out, src, len);

    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void plain_text_is_unchanged(void **state)
{
    (void)state;
    check("hello, world", 12, "hello, world");
}

static void empty_message_gives_empty_text(void **state)
{
    (void)state;
    check("", 0, "");
}

static void backslash_and_quote_get_a_backslash(void **state)
{
    (void)state;
    check("a\\b\"c", 5, "a\\\\b\\\"c");
}

static void tab_and_carriage_return_are_named(void **state)
{
    (void)state;
    check("\t\r", 2, "\\t\\r");
}

static void newline_cannot_start_a_forged_line(void **state)
{
    (void)state;
    check("x\nworker[1]: exited", 19, "x\\x0aworker[1]: exited");
}

static void nul_and_esc_and_del_are_hex(void **state)
{
    (void)state;
    check("\0\x1b[31m\x7f", 7, "\\x00\\x1b[31m\\x7f");
}

static void utf8_passes_through(void **state)
{
    (void)state;
    check("caf\xc3\xa9 \xe6\x97\xa5", 9, "caf\xc3\xa9 \xe6\x97\xa5");
}

/* The worst case, every byte escaped to four, fits ESCAPED_SIZE exactly. */
static void worst_case_fits_escaped_size(void **state)
{
    char src[MSG_MAX];
    char out[ESCAPED_SIZE(MSG_MAX)];

    (void)state;
    memset(src, 0x01, sizeof src);
    assert_int_equal(escape(out, src, sizeof src), 4 * MSG_MAX);
    assert_int_equal(out[4 * MSG_MAX], '\0');
    assert_memory_equal(out + 4 * (MSG_MAX - 1), "\\x01", 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_text_is_unchanged),
        cmocka_unit_test(empty_message_gives_empty_text),
        cmocka_unit_test(backslash_and_quote_get_a_backslash),
        cmocka_unit_test(tab_and_carriage_return_are_named),
        cmocka_unit_test(newline_cannot_start_a_forged_line),
        cmocka_unit_test(nul_and_esc_and_del_are_hex),
        cmocka_unit_test(utf8_passes_through),
        cmocka_unit_test(worst_case_fits_escaped_size),
    };

    return cmocka_run_group_tests_name("escape", tests, NULL, NULL);
}
