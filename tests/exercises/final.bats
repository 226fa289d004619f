#!/usr/bin/env bats
# The final's exercises: --max-messages N (exercise 1) recycles a worker
# once it has been given N messages: the slot's worker is replaced the way
# a reload replaces it, by a new process on the same queue, and no message
# is lost or handled twice. A value that is not a whole number from
# 1 up is bad usage (exit 2), like any other bad option.
#   make exercise STEP=final [DIR=path/to/your/copy]
STAGE=${STAGE:-$BATS_TEST_DIRNAME/../../final}
load ../helpers
setup_file() { build_stage "$STAGE"; }
setup() { common_setup; }
teardown() { common_teardown; }

# received N - true once N messages have been logged as received.
received() {
    [ "$(all_received "$OUT" | wc -l)" -ge "$1" ]
}

# workers_started N - true once N workers have logged "started".
workers_started() {
    [ "$(worker_pids "$OUT" | wc -l)" -ge "$1" ]
}

# workers_are N - true once the master has exactly N children.
workers_are() {
    [ "$(children_of "$SERVER_PID" | wc -l)" -eq "$1" ]
}

# handler_of MSG - the pid of the worker that logged MSG as received.
handler_of() {
    sed -n "s/^worker\\[\\([0-9]*\\)\\]: received \"$1\"\$/\\1/p" "$OUT"
}

# A recycled worker is replaced as a reload replaces it, on its exit order:
# no worker died, none was restarted through the delays. A worker that
# left by itself after N messages would be a death to the master.
planned_replacements_only() {
    ! grep -E 'exited with status|killed by signal|restarting in' "$OUT" || false
}

@test "exercise 1: -w 1 --max-messages 2: m1 m2 by one worker, m3 m4 by a new one, m5 by a third" {
    run "$STAGE/server" --max-messages 2 --help
    [ "$status" -eq 0 ]
    start_server "$STAGE/server" -s "$SOCK" -w 1 --max-messages 2
    run "$STAGE/client" -s "$SOCK" m1 m2
    [ "$status" -eq 0 ]
    wait_for "a second worker" workers_started 2
    run "$STAGE/client" -s "$SOCK" m3 m4
    [ "$status" -eq 0 ]
    wait_for "a third worker" workers_started 3
    run "$STAGE/client" -s "$SOCK" m5
    [ "$status" -eq 0 ]
    wait_for "5 messages to be received" received 5

    [ "$(all_received "$OUT" | tr '\n' ' ')" = "m1 m2 m3 m4 m5 " ]
    [ "$(handler_of m1)" = "$(handler_of m2)" ]
    [ "$(handler_of m3)" = "$(handler_of m4)" ]
    [ "$(handler_of m2)" != "$(handler_of m3)" ]
    [ "$(handler_of m4)" != "$(handler_of m5)" ]
    [ "$(handler_of m1)" != "$(handler_of m5)" ]
    # The recycled workers have left: one worker runs, the one of m5.
    wait_for "one worker left" workers_are 1
    [ "$(children_of "$SERVER_PID")" = "$(handler_of m5)" ]

    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(all_received "$OUT" | wc -l)" -eq 5 ]
    [ -z "$(new_queues)" ]
    planned_replacements_only
}

@test "exercise 1: -w 2 --max-messages 3: each slot counts its own messages" {
    run "$STAGE/server" --max-messages 3 --help
    [ "$status" -eq 0 ]
    start_server "$STAGE/server" -s "$SOCK" -w 2 --max-messages 3
    run "$STAGE/client" -s "$SOCK" a1 b1 a2 b2 a3 b3
    [ "$status" -eq 0 ]
    wait_for "both workers replaced" workers_started 4
    run "$STAGE/client" -s "$SOCK" a4 b4
    [ "$status" -eq 0 ]
    wait_for "8 messages to be received" received 8

    # Round-robin: slot 0 gets a1..a4, slot 1 b1..b4.
    [ "$(handler_of a1)" = "$(handler_of a3)" ]
    [ "$(handler_of a3)" != "$(handler_of a4)" ]
    [ "$(handler_of b1)" = "$(handler_of b3)" ]
    [ "$(handler_of b3)" != "$(handler_of b4)" ]
    [ "$(handler_of a1)" != "$(handler_of b1)" ]

    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(all_received "$OUT" | sort | tr '\n' ' ')" = "a1 a2 a3 a4 b1 b2 b3 b4 " ]
    [ -z "$(new_queues)" ]
    planned_replacements_only
}

@test "exercise 1: --max-messages 0 and --max-messages abc are bad usage: exit 2, nothing created" {
    # Known at all first: a server that knows the option accepts it.
    run "$STAGE/server" --max-messages 1 --help
    [ "$status" -eq 0 ]
    # ...and leaves it out of the usage, which SPEC fixes.
    [[ $output != *max-messages* ]]

    # A server that takes the value runs until timeout stops it (124).
    run timeout "$DEADLINE" "$STAGE/server" -s "$SOCK" --max-messages 0
    [ "$status" -eq 2 ]
    run timeout "$DEADLINE" "$STAGE/server" -s "$SOCK" --max-messages abc
    [ "$status" -eq 2 ]
    [ ! -e "$SOCK" ]
    [ -z "$(new_queues)" ]
}
