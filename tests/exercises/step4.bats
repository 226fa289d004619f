#!/usr/bin/env bats
# Chapter 4's exercises: the client refuses a message with a newline in it
# before it connects, so the server never sees it (exercise 1); the server
# takes -t SECONDS and closes a connection that has been silent that long,
# while the other connections go on (exercise 4).
#   make exercise STEP=4 [DIR=path/to/your/copy]
STAGE=${STAGE:-$BATS_TEST_DIRNAME/../../step4-select-loop}
load ../helpers
setup_file() { build_stage "$STAGE"; }
setup() { common_setup; }
teardown() { common_teardown; }

# up_or_gone - true once the server accepts connections, or has exited (a
# server without -t rejects it at once: no need to wait for the deadline).
up_or_gone() {
    nc -U -z "$SOCK" || not_running "$SERVER_PID"
}

# was_received MSG - true once some worker has logged MSG.
was_received() {
    all_received "$OUT" | grep -q -x -F -- "$1"
}

@test "exercise 1: a message with a newline is refused before connecting" {
    start_server "$STAGE/server" -s "$SOCK" -w 1
    run "$STAGE/client" -s "$SOCK" "$(printf 'x\ny')"
    echo "$output"
    [ "$status" -ne 0 ]
    [[ $output != *'sent'* ]]
    # One worker takes its queue in order: once "after" is logged, any
    # message sent before it would have been logged too.
    run "$STAGE/client" -s "$SOCK" after
    [ "$status" -eq 0 ]
    wait_for "after to be logged" was_received after
    ! was_received x || false
    ! was_received y || false
}

@test "exercise 4: -t closes an idle connection, the others go on" {
    start_bg "$STAGE/server" -s "$SOCK" -t 1
    SERVER_PID=$BG_PID
    wait_for "the server to start" up_or_gone
    running "$SERVER_PID"
    # A silent client: nc ends when the server closes the connection.
    nc -U "$SOCK" </dev/null >"$BATS_TEST_TMPDIR/idle.out" 3>&- &
    BG_PIDS+=("$!")
    local idle=$!
    wait_exit "$idle"
    [ "$EXIT_STATUS" -eq 0 ]
    running "$SERVER_PID"
    run "$STAGE/client" -s "$SOCK" still here
    [ "$status" -eq 0 ]
    wait_for "the next message to be logged" was_received here
}
