#!/usr/bin/env bats
# Chapter 4's exercises: the client refuses a message with a newline in it
# before it connects, so nothing of that command line reaches the server
# (exercise 1); the server takes -t SECONDS and closes a connection that has
# been silent that long, while the other connections go on (exercise 4).
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

# client ARGS... - runs the client; its exit status in $status, its
# standard output and error in the files $COUT and $CERR.
client() {
    COUT=$BATS_TEST_TMPDIR/client.out
    CERR=$BATS_TEST_TMPDIR/client.err
    status=0
    "$STAGE/client" "$@" >"$COUT" 2>"$CERR" </dev/null || status=$?
    cat "$COUT" "$CERR"
}

# check_refused - the client just run failed, said why on its standard
# error, and printed no "sent" line.
check_refused() {
    [ "$status" -ne 0 ]
    [ -s "$CERR" ]
    ! grep -q '^client: sent ' "$COUT" || false
}

@test "exercise 1: a message with a newline is refused, and nothing of the command line is sent" {
    local nl=$'x\ny'
    start_server "$STAGE/server" -s "$SOCK" -w 1
    client -s "$SOCK" "$nl"
    check_refused
    # Checked before the first message goes: a and b are not sent either.
    client -s "$SOCK" a "$nl" b
    check_refused
    # One worker takes its queue in order: once "after" is logged, any
    # message sent before it would have been logged too.
    client -s "$SOCK" after
    [ "$status" -eq 0 ]
    wait_for "after to be logged" was_received after
    [ "$(all_received "$OUT")" = after ]
}

@test "exercise 1: the message is refused before connecting: without a server, the error is not the connection's" {
    client -s "$BATS_TEST_TMPDIR/nobody.sock" a $'x\ny'
    check_refused
    # connect(2) would have failed with ENOENT: no socket file.
    ! grep -q -i 'no such file' "$CERR" || false
}

# talk - sends "tick" over the talker's connection every 0.1 s, until that
# connection is gone. (The pause paces a load, it waits for nothing.)
talk() {
    while printf 'tick\n' >&"$TALK"; do
        sleep 0.1
    done
}

@test "exercise 4: -t closes a silent connection while another one talks, and only that one" {
    local hold=$BATS_TEST_TMPDIR/hold idle
    start_bg "$STAGE/server" -s "$SOCK" -t 2
    SERVER_PID=$BG_PID
    wait_for "the server to start" up_or_gone
    running "$SERVER_PID"

    # A talker: one connection, opened first, that sends all along. A
    # server that measures from accept() would close it first.
    mkfifo "$hold"
    nc -U "$SOCK" <"$hold" >"$BATS_TEST_TMPDIR/talker.out" 3>&- &
    BG_PIDS+=("$!")
    exec {TALK}>"$hold"
    (talk) 2>/dev/null 3>&- &
    BG_PIDS+=("$!")
    wait_for "the talker's first OK" grep -q -x OK "$BATS_TEST_TMPDIR/talker.out"

    # A silent client: nc ends when the server closes the connection. The
    # server is never quiet for 2 s meanwhile: a timeout on the whole
    # server instead of on each connection never fires.
    nc -U "$SOCK" </dev/null >"$BATS_TEST_TMPDIR/idle.out" 3>&- &
    idle=$!
    BG_PIDS+=("$idle")
    wait_exit "$idle"
    [ "$EXIT_STATUS" -eq 0 ]

    # The talker's connection is still served.
    (printf 'still talking\n' >&"$TALK") 2>/dev/null || true
    wait_for "the talker's next message to be logged" was_received 'still talking'
    running "$SERVER_PID"
    client -s "$SOCK" still here
    [ "$status" -eq 0 ]
    wait_for "the next message to be logged" was_received here
}
