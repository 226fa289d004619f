/* test_round_robin.c - unit tests for next_slot() (chapter 2, util.c), the
 * round-robin choice of a worker. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "util.h"

static void slots_come_in_order_and_wrap(void **state)
{
    int cursor = 0;

    (void)state;
    assert_int_equal(next_slot(&cursor, 3), 0);
    assert_int_equal(next_slot(&cursor, 3), 1);
    assert_int_equal(next_slot(&cursor, 3), 2);
    assert_int_equal(next_slot(&cursor, 3), 0);
}

static void one_worker_gets_everything(void **state)
{
    int cursor = 0;

    (void)state;
    for (int i = 0; i < 5; i++)
        assert_int_equal(next_slot(&cursor, 1), 0);
}

/* Over many rounds each of N slots is chosen equally often. */
static void every_slot_gets_its_share(void **state)
{
    int counts[64] = {0};
    int cursor = 0;

    (void)state;
    for (int i = 0; i < 64 * 10; i++)
        counts[next_slot(&cursor, 64)]++;
    for (int slot = 0; slot < 64; slot++)
        assert_int_equal(counts[slot], 10);
}

/* When the count shrinks below the cursor, the choice stays in range. */
static void cursor_beyond_a_smaller_count_stays_in_range(void **state)
{
    int cursor = 0;

    (void)state;
    for (int i = 0; i < 4; i++)
        next_slot(&cursor, 5); /* cursor is now 4 */
    assert_int_equal(next_slot(&cursor, 2), 0);
    assert_int_equal(next_slot(&cursor, 2), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(slots_come_in_order_and_wrap),
        cmocka_unit_test(one_worker_gets_everything),
        cmocka_unit_test(every_slot_gets_its_share),
        cmocka_unit_test(cursor_beyond_a_smaller_count_stays_in_range),
    };

    return cmocka_run_group_tests_name("round-robin", tests, NULL, NULL);
}
