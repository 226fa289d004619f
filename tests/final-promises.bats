#!/usr/bin/env bats
# final-promises.bats - promises of final/SPEC.md that only a planted bug
# showed untested (tests/mutants/final-*.patch, `make mutate`): the queues'
# mode (SPEC 1), each log line in one write(2) (SPEC 3), a retiring slot in
# the SIGUSR1 status and two signals that come together (SPEC 5), and no
# client connection held by a worker forked while the client is connected
# (SPEC 4, 6), and a BUSY that does not outlast the read it came in
# (SPEC 4). Each test is short, and the file is named first in its
# mutants' tests, so that they are caught fast.
#
#   unshare --ipc bats tests/final-promises.bats

STAGE=${STAGE:-$BATS_TEST_DIRNAME/../final}

load helpers

setup_file() { build_stage "$STAGE"; }

setup() {
    common_setup
    STOPPED=()
    IDLE_PID=
    HOLD_FD=
}

teardown() {
    if [ "${#STOPPED[@]}" -gt 0 ]; then
        kill -CONT "${STOPPED[@]}" 2>/dev/null || true
    fi
    if [ -n "$IDLE_PID" ]; then
        kill_tree "$IDLE_PID"
        wait "$IDLE_PID" 2>/dev/null || true
    fi
    if [ -n "$HOLD_FD" ]; then
        exec {HOLD_FD}>&-
    fi
    common_teardown
}

serve() {
    start_server "$STAGE/server" -s "$SOCK" "$@"
}

# slot_worker N - the pid of slot N's worker, from a status table.
slot_worker() {
    kill -USR1 "$SERVER_PID"
    wait_for "the status table" log_has "master\\[$SERVER_PID\\]: status: slot $1, .*"
    sed -n "s/^master\\[$SERVER_PID\\]: status: slot $1, worker \\([0-9]*\\), .*/\\1/p" "$OUT" | tail -n 1
}

# status_lines - how many status summaries the log holds.
status_lines() {
    grep -c -E "^master\\[$SERVER_PID\\]: status: [0-9]+ workers?, " "$OUT" || true
}

status_lines_are() {
    [ "$(status_lines)" -eq "$1" ]
}

sockets_are() {
    [ "$(sockets_of "$1")" -eq "$2" ]
}

# stopped PID - true once PID is stopped (state T).
stopped() {
    [ "$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$1/stat")" = T ]
}

# lines_are FILE N - true once FILE has N lines.
lines_are() {
    [ "$(wc -l <"$1")" -eq "$2" ]
}

# received_are N - true once the workers have logged N messages.
received_are() {
    [ "$(all_received "$OUT" | wc -l)" -eq "$1" ]
}

@test "the queues have mode 0600" {
    serve -w 2
    mapfile -t ids < <(new_queues)
    [ "${#ids[@]}" -eq 2 ]
    for id in "${ids[@]}"; do
        [ "$(awk -v id="$id" 'NR > 1 && $2 == id { print $3 }' /proc/sysvipc/msg)" = 600 ]
    done
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
}

@test "every log line is written whole, by one write(2)" {
    local trace=$BATS_TEST_TMPDIR/trace writes=$BATS_TEST_TMPDIR/writes tracer

    # -ff: a file per process, so that no write is shown cut in two by
    # another process's; -s: whole strings.
    start_bg env "$NO_LSAN" strace -ff -q -s 4096 -e trace=write -o "$trace" \
        "$STAGE/server" -s "$SOCK" -w 2
    tracer=$BG_PID
    wait_for "a connection to $SOCK" nc -U -z "$SOCK"
    SERVER_PID=$(children_of "$tracer")
    [ -n "$SERVER_PID" ]
    run timeout "$DEADLINE" "$STAGE/client" -s "$SOCK" one two
    [ "$status" -eq 0 ]
    wait_for "two received" log_has 'worker\[[0-9]+\]: received "two"'
    kill -INT "$SERVER_PID"
    wait_exit "$tracer" # strace exits with the master's status
    [ "$EXIT_STATUS" -eq 0 ]
    # Every write(1, ...) is one line: it ends with its newline and holds
    # no other. (strace shows a newline inside a string as \n, and may
    # pad before the " = ".)
    cat "$trace".* | grep -E '^write\(1, ' >"$writes"
    [ "$(wc -l <"$writes")" -ge 10 ]
    [ -z "$(grep -v -E '^write\(1, "([^"\\]|\\[^n])*\\n", [0-9]+\) += [0-9]+$' "$writes")" ]
    [ "$(grep -c -E '^worker\[[0-9]+\]: received "(one|two)"$' "$OUT")" -eq 2 ]
}

# bats test_tags=status
@test "SIGUSR1 while a slot retires: its line says retiring" {
    serve -w 2
    retiring=$(slot_worker 1)
    [ -n "$retiring" ]
    # Stopped, it cannot take its exit order: the slot stays retiring.
    kill -STOP "$retiring"
    STOPPED+=("$retiring")
    kill -TTOU "$SERVER_PID"
    wait_for "slot 1 to retire" log_has "master\\[$SERVER_PID\\]: retiring slot 1 \\(worker $retiring\\); 1 workers?"
    before=$(status_lines)
    kill -USR1 "$SERVER_PID"
    wait_for "a status table" status_lines_are $((before + 1))
    log_has "master\\[$SERVER_PID\\]: status: slot 1, worker $retiring, [0-9]+ dispatched, [0-9]+ queued, 0 restarts, retiring"
    # Two workers live, one of them retiring: the summary counts both.
    log_has "master\\[$SERVER_PID\\]: status: 2 workers, 1 retiring, .*"

    kill -CONT "$retiring"
    STOPPED=()
    wait_for "slot 1 to be retired" log_has "master\\[$SERVER_PID\\]: slot 1 retired"
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ -z "$(new_queues)" ]
}

# bats test_tags=scaling
@test "a worker started while a client is connected does not hold its connection" {
    local hold=$BATS_TEST_TMPDIR/hold

    serve -w 1
    # Only the listener once start_server's probe connection is gone.
    wait_for "the probe connection to close" sockets_are "$SERVER_PID" 1
    # nc reads from a FIFO that we hold open and never write to: it
    # connects, sends nothing, and stays.
    mkfifo "$hold"
    nc -U "$SOCK" <"$hold" >/dev/null 2>&1 3>&- &
    IDLE_PID=$!
    exec {HOLD_FD}>"$hold"
    wait_for "the master to accept the idle connection" \
        sockets_are "$SERVER_PID" 2
    kill -TTIN "$SERVER_PID"
    wait_for "a second slot" log_has "master\\[$SERVER_PID\\]: added slot 1 \\(worker [0-9]+\\); 2 workers"
    added=$(sed -n "s/^master\\[$SERVER_PID\\]: added slot 1 (worker \\([0-9]*\\)); 2 workers\$/\\1/p" "$OUT")
    wait_for "the new worker to start" log_has "worker\\[$added\\]: started"
    [ "$(sockets_of "$added")" -eq 0 ]
    # The master has both still.
    [ "$(sockets_of "$SERVER_PID")" -eq 2 ]
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    wait_exit "$IDLE_PID" # the stop closed its connection
    IDLE_PID=
}

# bats test_tags=status
@test "two signals that come together are both handled: SIGUSR1 and SIGTERM to a stopped master" {
    serve -w 1
    # Stopped, the master takes neither until SIGCONT: then both handlers
    # run (SIGUSR1 first, the lower number) before the loop looks at its
    # self-pipe, which holds two bytes. (Not SIGTTIN: SIGCONT discards a
    # pending SIGTTIN or SIGTTOU.)
    kill -STOP "$SERVER_PID"
    STOPPED+=("$SERVER_PID")
    wait_for "the master to stop" stopped "$SERVER_PID"
    kill -USR1 "$SERVER_PID"
    kill -TERM "$SERVER_PID"
    kill -CONT "$SERVER_PID"
    STOPPED=()
    wait_for "a status table" log_has "master\\[$SERVER_PID\\]: status: 1 workers?, .*"
    wait_for "the stop" log_has "master\\[$SERVER_PID\\]: stopping on SIGTERM"
    wait_exit "$SERVER_PID"
    [ "$EXIT_STATUS" -eq 0 ]
}

# bats test_tags=status
@test "a BUSY lasts only for the read it came in: the same connection gets OK once there is room" {
    local hold=$BATS_TEST_TMPDIR/hold replies=$BATS_TEST_TMPDIR/replies
    local line ok n

    serve -w 1
    worker=$(slot_worker 0)
    [ -n "$worker" ]
    # Its worker stopped, the one queue fills: it holds msgmnb bytes
    # (16384 by default), and each line of 100 bytes takes more than 100,
    # so some of N lines come back BUSY.
    n=$(($(cat /proc/sys/kernel/msgmnb) / 100 + 10))
    kill -STOP "$worker"
    STOPPED+=("$worker")
    mkfifo "$hold"
    nc -U "$SOCK" <"$hold" >"$replies" 2>&1 3>&- &
    IDLE_PID=$!
    exec {HOLD_FD}>"$hold"
    line=$(printf 'x%.0s' $(seq 100))
    for _ in $(seq "$n"); do
        printf '%s\n' "$line"
    done >&"$HOLD_FD"
    wait_for "$n replies" lines_are "$replies" "$n"
    grep -q -x BUSY "$replies"
    ok=$(grep -c -x OK "$replies")
    # Room again: the worker takes every OK'd line off the queue.
    kill -CONT "$worker"
    STOPPED=()
    wait_for "$ok lines received" received_are "$ok"
    # A later read of the same connection tries the queue again, even
    # for a line as long as the one that met it full.
    printf '%s\n' "$line" >&"$HOLD_FD"
    wait_for "one more reply" lines_are "$replies" $((n + 1))
    [ "$(tail -n 1 "$replies")" = OK ]
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
}
