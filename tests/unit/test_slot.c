/* test_slot.c - the slot state machine of the final pool (final/slot.c),
 * every state with every event and every combination of facts.
 *
 * Two checks. First, the table below states the lifecycle a second time,
 * independently of slot.c's code, as rules with wildcards: every
 * combination must match exactly one rule and give what it says. Second,
 * the invariants of slot.h, checked on every combination whatever the
 * table says, so a wrong rule in both places is still caught. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>

#include "slot.h"

/* A fact in a rule: must be false, must be true, or either. */
enum { NO, YES, ANY };

struct rule {
    enum slot_state state;
    int event; /* an enum slot_event, or ANY_EVENT */
    int wanted, pending, terminating;
    enum slot_state next;
    unsigned actions;
};
#define ANY_EVENT (-1)

/* Shorter names for the table. */
#define FREE     SLOT_FREE
#define WAITING  SLOT_WAITING
#define RUNNING  SLOT_RUNNING
#define EXIT_DUE SLOT_EXIT_DUE
#define LEAVING  SLOT_LEAVING
#define KILLED   SLOT_KILLED

static const struct rule rules[] = {
    /* A free slot has no queue and no worker: nothing happens to it. */
    {FREE, ANY_EVENT, ANY, ANY, ANY, FREE, 0},

    /* No worker yet. */
    {WAITING, SE_DUE, ANY, ANY, NO, WAITING, DO_SPAWN},
    {WAITING, SE_STARTED, YES, ANY, NO, RUNNING, 0},
    {WAITING, SE_STARTED, NO, ANY, NO, EXIT_DUE, DO_SEND_EXIT},
    {WAITING, SE_START_FAILED, ANY, ANY, NO, WAITING, DO_RETRY},
    {WAITING, SE_ASK_EXIT, YES, ANY, NO, WAITING, 0},
    {WAITING, SE_ASK_EXIT, NO, YES, NO, WAITING, 0},
    {WAITING, SE_ASK_EXIT, NO, NO, NO, FREE, DO_REMOVE_QUEUE},
    {WAITING, SE_TERMINATE, ANY, ANY, NO, FREE, DO_REMOVE_QUEUE},
    {WAITING, SE_ORDER_SENT, ANY, ANY, NO, WAITING, 0},
    {WAITING, SE_STUCK, ANY, ANY, NO, WAITING, 0},
    {WAITING, SE_EXITED_0, ANY, ANY, NO, WAITING, 0},
    {WAITING, SE_DIED, ANY, ANY, NO, WAITING, 0},
    /* A stop at once: what has no worker is abandoned; a worker that
     * started as it began is ended too. */
    {WAITING, SE_DUE, ANY, ANY, YES, FREE, DO_REMOVE_QUEUE},
    {WAITING, SE_STARTED, ANY, ANY, YES, KILLED, DO_TERMINATE},
    {WAITING, SE_START_FAILED, ANY, ANY, YES, FREE, DO_REMOVE_QUEUE},
    {WAITING, SE_ASK_EXIT, ANY, ANY, YES, FREE, DO_REMOVE_QUEUE},
    {WAITING, SE_TERMINATE, ANY, ANY, YES, FREE, DO_REMOVE_QUEUE},
    {WAITING, SE_ORDER_SENT, ANY, ANY, YES, FREE, DO_REMOVE_QUEUE},
    {WAITING, SE_STUCK, ANY, ANY, YES, FREE, DO_REMOVE_QUEUE},
    {WAITING, SE_EXITED_0, ANY, ANY, YES, FREE, DO_REMOVE_QUEUE},
    {WAITING, SE_DIED, ANY, ANY, YES, FREE, DO_REMOVE_QUEUE},

    /* A worker takes messages. */
    {RUNNING, SE_ASK_EXIT, ANY, ANY, ANY, EXIT_DUE, DO_SEND_EXIT},
    {RUNNING, SE_STUCK, ANY, ANY, ANY, KILLED, DO_KILL},
    {RUNNING, SE_TERMINATE, ANY, ANY, ANY, KILLED, DO_TERMINATE},
    {RUNNING, SE_DUE, ANY, ANY, ANY, RUNNING, 0},
    {RUNNING, SE_STARTED, ANY, ANY, ANY, RUNNING, 0},
    {RUNNING, SE_START_FAILED, ANY, ANY, ANY, RUNNING, 0},
    {RUNNING, SE_ORDER_SENT, ANY, ANY, ANY, RUNNING, 0},

    /* It must leave; the order waits for room on the queue. */
    {EXIT_DUE, SE_ASK_EXIT, ANY, ANY, ANY, EXIT_DUE, DO_SEND_EXIT},
    {EXIT_DUE, SE_ORDER_SENT, ANY, ANY, ANY, LEAVING, 0},
    {EXIT_DUE, SE_STUCK, ANY, ANY, ANY, KILLED, DO_KILL},
    {EXIT_DUE, SE_TERMINATE, ANY, ANY, ANY, KILLED, DO_TERMINATE},
    {EXIT_DUE, SE_DUE, ANY, ANY, ANY, EXIT_DUE, 0},
    {EXIT_DUE, SE_STARTED, ANY, ANY, ANY, EXIT_DUE, 0},
    {EXIT_DUE, SE_START_FAILED, ANY, ANY, ANY, EXIT_DUE, 0},

    /* Its order is on the queue. */
    {LEAVING, SE_ASK_EXIT, ANY, ANY, ANY, LEAVING, 0},
    {LEAVING, SE_ORDER_SENT, ANY, ANY, ANY, LEAVING, 0},
    {LEAVING, SE_STUCK, ANY, ANY, ANY, KILLED, DO_KILL},
    {LEAVING, SE_TERMINATE, ANY, ANY, ANY, KILLED, DO_TERMINATE},
    {LEAVING, SE_DUE, ANY, ANY, ANY, LEAVING, 0},
    {LEAVING, SE_STARTED, ANY, ANY, ANY, LEAVING, 0},
    {LEAVING, SE_START_FAILED, ANY, ANY, ANY, LEAVING, 0},
    /* It left on its order: a successor at once if one is needed. */
    {LEAVING, SE_EXITED_0, ANY, ANY, YES, FREE, DO_REMOVE_QUEUE},
    {LEAVING, SE_EXITED_0, YES, ANY, NO, WAITING, DO_SPAWN},
    {LEAVING, SE_EXITED_0, NO, YES, NO, WAITING, DO_SPAWN},
    {LEAVING, SE_EXITED_0, NO, NO, NO, FREE, DO_REMOVE_QUEUE},

    /* Sent a fatal signal: only its end matters. */
    {KILLED, SE_DUE, ANY, ANY, ANY, KILLED, 0},
    {KILLED, SE_STARTED, ANY, ANY, ANY, KILLED, 0},
    {KILLED, SE_START_FAILED, ANY, ANY, ANY, KILLED, 0},
    {KILLED, SE_ASK_EXIT, ANY, ANY, ANY, KILLED, 0},
    {KILLED, SE_ORDER_SENT, ANY, ANY, ANY, KILLED, 0},
    {KILLED, SE_STUCK, ANY, ANY, ANY, KILLED, 0},
    {KILLED, SE_TERMINATE, ANY, ANY, ANY, KILLED, 0},
};

/* A worker that ended any other way (a death, or exit 0 without an order
 * on the queue) is restarted through the delays, if it must be replaced. */
static const enum slot_state with_worker[] = {RUNNING, EXIT_DUE, LEAVING,
                                              KILLED};

static bool death_rule(enum slot_state s, enum slot_event e,
                       struct slot_facts f, struct slot_step *want)
{
    bool worker = false;

    for (size_t i = 0; i < sizeof with_worker / sizeof with_worker[0]; i++)
        worker = worker || with_worker[i] == s;
    if (!worker || !(e == SE_DIED || (e == SE_EXITED_0 && s != LEAVING)))
        return false;
    if (f.terminating)
        *want = (struct slot_step){FREE, DO_REMOVE_QUEUE};
    else if (f.wanted || f.pending)
        *want = (struct slot_step){WAITING, DO_RESTART};
    else
        *want = (struct slot_step){FREE, DO_REMOVE_QUEUE};
    return true;
}

static bool fits(int rule_fact, bool fact)
{
    return rule_fact == ANY || (rule_fact == YES) == fact;
}

static bool matches(const struct rule *r, enum slot_state s, enum slot_event e,
                    struct slot_facts f)
{
    return r->state == s && (r->event == ANY_EVENT || r->event == (int)e) &&
           fits(r->wanted, f.wanted) && fits(r->pending, f.pending) &&
           fits(r->terminating, f.terminating);
}

/* Calls CHECK for every state, event and combination of facts. */
static void for_every_case(void (*check)(enum slot_state, enum slot_event,
                                         struct slot_facts))
{
    for (int s = 0; s < SLOT_STATES; s++)
        for (int e = 0; e < SLOT_EVENTS; e++)
            for (int bits = 0; bits < 8; bits++) {
                struct slot_facts f = {bits & 1, (bits & 2) != 0,
                                       (bits & 4) != 0};

                check((enum slot_state)s, (enum slot_event)e, f);
            }
}

static void check_against_table(enum slot_state s, enum slot_event e,
                                struct slot_facts f)
{
    struct slot_step want, got = slot_transition(s, e, f);
    int found = 0;
    char where[96];

    snprintf(where, sizeof where,
             "state %d, event %d, wanted %d pending %d "
             "terminating %d",
             s, e, f.wanted, f.pending, f.terminating);
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        if (matches(&rules[i], s, e, f)) {
            want = (struct slot_step){rules[i].next, rules[i].actions};
            found++;
        }
    }
    if (death_rule(s, e, f, &want))
        found++;
    if (found != 1)
        fail_msg("%s: %d rules of the table match", where, found);
    if (got.next != want.next || got.actions != want.actions)
        fail_msg("%s: got state %d actions %#x, the table says %d, %#x", where,
                 got.next, got.actions, want.next, want.actions);
}

static void every_case_is_as_the_table_says(void **state)
{
    (void)state;
    for_every_case(check_against_table);
}

/* True if a worker lives once EVENT has happened in STATE. */
static bool has_worker_after_event(enum slot_state s, enum slot_event e)
{
    if (s == FREE)
        return false;
    if (s == WAITING)
        return e == SE_STARTED;
    return e != SE_EXITED_0 && e != SE_DIED;
}

static void check_invariants(enum slot_state s, enum slot_event e,
                             struct slot_facts f)
{
    struct slot_step got = slot_transition(s, e, f);
    bool worker = has_worker_after_event(s, e);
    bool at_once = f.terminating || e == SE_TERMINATE; /* a stop at once */

    /* 1. A queue goes only when empty and no worker of it lives, or at a
     * stop at once; and then the slot is free. */
    if (got.actions & DO_REMOVE_QUEUE) {
        assert_false(worker);
        assert_true(at_once || !f.pending);
        assert_int_equal(got.next, FREE);
    }
    if (got.next == FREE && s != FREE)
        assert_true(got.actions & DO_REMOVE_QUEUE);
    /* 3. A slot with something queued, or a wanted slot, never ends up
     * without a worker to come, unless a stop at once abandons it. */
    if (!worker && s != FREE && !at_once && (f.pending || f.wanted)) {
        assert_int_equal(got.next, WAITING);
        if ((e == SE_EXITED_0 || e == SE_DIED) && s != WAITING)
            assert_true(got.actions & (DO_SPAWN | DO_RESTART));
    }
    /* A stop at once starts nothing, and keeps no queue that has no
     * worker. */
    if (f.terminating) {
        assert_false(got.actions & (DO_SPAWN | DO_RESTART | DO_RETRY));
        if (!worker && s != FREE && e != SE_STARTED)
            assert_int_equal(got.next, FREE);
    }
    /* An exit order goes only to a worker that is alive, and only to one
     * that is then known to have it coming. */
    if (got.actions & DO_SEND_EXIT)
        assert_int_equal(got.next, EXIT_DUE);
    /* A worker is forked only where none lives. */
    if (got.actions & (DO_SPAWN | DO_RESTART))
        assert_false(worker);
    /* Signals go only to a worker that lives. */
    if (got.actions & (DO_KILL | DO_TERMINATE))
        assert_true(worker);
}

static void the_invariants_hold_in_every_case(void **state)
{
    (void)state;
    for_every_case(check_invariants);
}

/* The paths the pool takes most, step by step. */
static enum slot_state walk(enum slot_state s, const enum slot_event *events,
                            size_t n, struct slot_facts f)
{
    for (size_t i = 0; i < n; i++)
        s = slot_transition(s, events[i], f).next;
    return s;
}

static void a_reload_gives_the_slot_a_new_worker(void **state)
{
    static const enum slot_event reload[] = {SE_ASK_EXIT, SE_ORDER_SENT,
                                             SE_EXITED_0, SE_DUE, SE_STARTED};
    struct slot_facts f = {.wanted = true};

    (void)state;
    assert_int_equal(walk(RUNNING, reload, 5, f), RUNNING);
    assert_int_equal(slot_transition(LEAVING, SE_EXITED_0, f).actions,
                     DO_SPAWN);
}

/* A worker killed before it read its order: the next one takes what is
 * left on the queue and leaves in its turn (stop or retirement). */
static void a_stop_outlives_a_killed_worker(void **state)
{
    static const enum slot_event steps[] = {SE_ASK_EXIT, SE_ORDER_SENT, SE_DIED,
                                            SE_DUE, SE_STARTED};
    struct slot_facts f = {.pending = true};

    (void)state;
    assert_int_equal(walk(RUNNING, steps, 5, f), EXIT_DUE);
    f.pending = false;
    assert_int_equal(slot_transition(LEAVING, SE_EXITED_0, f).next, FREE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_case_is_as_the_table_says),
        cmocka_unit_test(the_invariants_hold_in_every_case),
        cmocka_unit_test(a_reload_gives_the_slot_a_new_worker),
        cmocka_unit_test(a_stop_outlives_a_killed_worker),
    };

    return cmocka_run_group_tests_name("slot", tests, NULL, NULL);
}
