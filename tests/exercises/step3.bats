#!/usr/bin/env bats
# Chapter 3's exercises: exercise 4, framing by hand. A correct solution
# keeps reading a connection until a newline (or 1025 bytes), so a message
# that arrives in two pieces reaches a worker whole, with one OK.
#   make exercise STEP=3 [DIR=path/to/your/copy]
STAGE=${STAGE:-$BATS_TEST_DIRNAME/../../step3-unix-socket}
load ../helpers
setup_file() { build_stage "$STAGE"; }
setup() { common_setup; }
teardown() { common_teardown; }

# read_at_least PID N - PID has read N bytes or more with read(2) since it
# started (the rchar line of /proc/PID/io; recv(2) is not counted there, so
# the solution is expected to keep the chapter's read(2), as the hint says).
read_at_least() {
    [ "$(sed -n 's/^rchar: //p' "/proc/$1/io")" -ge "$2" ]
}

@test "exercise 4: a message in two writes reaches a worker whole, with one OK" {
    local hold=$BATS_TEST_TMPDIR/hold replies=$BATS_TEST_TMPDIR/replies
    local writer sender before

    start_server "$STAGE/server" -s "$SOCK" -w 1
    # nc sends what the test writes into the FIFO, when it writes it.
    mkfifo "$hold"
    nc -U -N "$SOCK" <"$hold" >"$replies" 2>/dev/null 3>&- &
    sender=$!
    BG_PIDS+=("$sender")
    exec {writer}>"$hold"
    # The first piece, and a wait until the master has read it: the two
    # pieces reach the master in two read(2) calls, whatever the timing.
    before=$(sed -n 's/^rchar: //p' "/proc/$SERVER_PID/io")
    printf 'hel' >&"$writer"
    wait_for "the master to read hel" read_at_least "$SERVER_PID" $((before + 3))
    # The rest. If the master has already hung up, nc is gone and this
    # write fails: in a subshell, so that SIGPIPE ends only the subshell.
    (printf 'lo\n' >&"$writer") 2>/dev/null || true
    exec {writer}>&-
    wait_exit "$sender"
    [ "$(cat "$replies")" = OK ]
    wait_for "a message received" grep -q '^worker\[[0-9]*\]: received ' "$OUT"
    [ "$(all_received "$OUT")" = hello ]
}
