#!/usr/bin/env bats
# final-lifecycle.bats - the final pool when operations overlap, and how it
# starts and meets its terminal (SPEC 1, 5, 7): OK'd messages survive a
# reload overlapped by a stop, a retirement, or a worker killed before it
# read its exit order; scaling signals count once each, in order; a stop at
# once says what it abandoned; a queue removed by someone else is replaced;
# closed standard descriptors, a start that fails half-way, the kernel's
# job-control signals and a terminal that hangs up leave nothing broken.
# Random interleavings of all of these are `make chaos`'s (tests/chaos).
#
#   unshare --ipc bats tests/final-lifecycle.bats

STAGE=${STAGE:-$BATS_TEST_DIRNAME/../final}
STAGE=$(cd "$STAGE" && pwd -P)

load helpers

setup_file() { build_stage "$STAGE"; }

setup() {
    common_setup
    IN=$BATS_TEST_TMPDIR/input
    LOG=$BATS_TEST_TMPDIR/server.log
    STOPPED=()
    DAEMON=
    PTY_PID=
}

teardown() {
    # A failed test that used a terminal shows what it showed, and the log.
    if [ -n "$PTY_PID" ] && [ -z "${BATS_TEST_COMPLETED:-}" ]; then
        show_files "$SCREEN" "$LOG"
    fi
    if [ "${#STOPPED[@]}" -gt 0 ]; then
        kill -CONT "${STOPPED[@]}" 2>/dev/null || true
    fi
    if [ -n "$PTY_PID" ]; then
        exec 8>&-
    fi
    # A daemon, or a server started in a terminal, is not our child: its
    # pid comes from its log, and it is killed with its workers.
    if [ -n "$DAEMON" ] && [ "$(readlink "/proc/$DAEMON/exe")" = "$STAGE/server" ]; then
        kill_tree "$DAEMON"
    fi
    common_teardown
}

# show_files FILE... - each FILE that exists, under its name, on standard
# error: what a failed test leaves to read.
show_files() {
    local file
    for file in "$@"; do
        [ -e "$file" ] || continue
        printf '\n--- %s\n' "$file" >&2
        cat -v "$file" >&2
    done
}

# master_of FILE - the master's pid, from its "started" line in FILE. On a
# terminal the line may follow the shell's prompt, and ends with \r\n.
master_of() {
    tr -d '\r' <"$1" | sed -n 's/.*master\[\([0-9]*\)\]: started$/\1/p' | head -n 1
}

# The workers alive now: the master's children.
live_count() {
    children_of "$SERVER_PID" | wc -l
}

live_count_is() {
    [ "$(live_count)" -eq "$1" ]
}

# not_pending PID SIGNAL... - true if none of the signals waits to be
# delivered to PID. A signal sent while another of its kind is pending
# merges with it; one sent when none is pending is delivered alone.
not_pending() {
    local pid=$1 mask bit sig
    shift
    mask=$(awk '$1 == "ShdPnd:" || $1 == "SigPnd:" { printf "%s ", $2 }' \
        "/proc/$pid/status") || return 1
    for sig in "$@"; do
        bit=$(($(kill -l "$sig") - 1))
        for word in $mask; do
            if (((0x$word >> bit) & 1)); then return 1; fi
        done
    done
}

# signal_alone SIGNAL PID - sends SIGNAL once none of the scaling signals
# is pending, so that it is delivered on its own, in order.
signal_alone() {
    wait_for "SIGTTIN and SIGTTOU to be delivered" not_pending "$2" TTIN TTOU
    kill -"$1" "$2"
}

# send FILE - sends FILE's lines over one connection; prints the replies.
send() {
    timeout "$DEADLINE" nc -U -N "$SOCK" <"$1"
}

# oked FILE REPLIES - the lines of FILE whose reply in REPLIES was OK.
oked() {
    paste -d ' ' "$2" "$1" | sed -n 's/^OK //p'
}

# all_received_of FILE - true once every line of FILE is a received line.
all_received_of() {
    local missing
    missing=$(comm -23 <(sort -u "$1") <(all_received "$OUT" | sort -u))
    [ -z "$missing" ]
}

# slot_worker N - the pid of slot N's worker, from a status table.
slot_worker() {
    kill -USR1 "$SERVER_PID"
    wait_for "the status table" log_has "master\\[$SERVER_PID\\]: status: slot $1, .*"
    sed -n "s/^master\\[$SERVER_PID\\]: status: slot $1, worker \\([0-9]*\\), .*/\\1/p" "$OUT" | tail -n 1
}

# stop_worker PID - SIGSTOP: it takes nothing until SIGCONT, so its exit
# order stays on the queue, with whatever is sent behind it.
stop_worker() {
    kill -STOP "$1"
    STOPPED+=("$1")
}

# bats test_tags=reload
@test "a reload overlapped by a stop: the messages behind the exit order are handled" {
    start_server "$STAGE/server" -s "$SOCK" -w 1
    old=$(worker_pids "$OUT")
    stop_worker "$old"
    kill -HUP "$SERVER_PID"
    wait_for "the reload to begin" log_has "master\\[$SERVER_PID\\]: reloading 1 workers?, one slot at a time"
    # Behind the exit order: for the worker that comes next.
    printf 'm%d\n' 1 2 3 >"$IN"
    run send "$IN"
    [ "$output" = "$(printf 'OK\nOK\nOK')" ]
    kill -INT "$SERVER_PID"
    wait_for "the stop to begin" log_has "master\\[$SERVER_PID\\]: stopping on SIGINT"
    kill -CONT "$old"
    wait_exit "$SERVER_PID"
    [ "$EXIT_STATUS" -eq 0 ]
    for m in m1 m2 m3; do
        log_has "worker\\[[0-9]+\\]: received \"$m\""
    done
    ! log_has "worker\\[$old\\]: received .*" || false
    [ -z "$(new_queues)" ]
    [ ! -e "$SOCK" ]
}

# bats test_tags=status
@test "a reload overlapped by SIGTTOU: the retired slot's messages are handled" {
    start_server "$STAGE/server" -s "$SOCK" -w 2
    # Slot 1's worker, the last to be reloaded, takes nothing for now.
    old=$(slot_worker 1)
    stop_worker "$old"
    kill -HUP "$SERVER_PID"
    wait_for "slot 0 reloaded" log_has "master\\[$SERVER_PID\\]: reloaded slot 0: .*"
    printf 'u%d\n' 1 2 3 4 >"$IN" # u2 and u4 go to slot 1, behind its order
    run send "$IN"
    [ "$output" = "$(printf 'OK\nOK\nOK\nOK')" ]
    signal_alone TTOU "$SERVER_PID"
    wait_for "the retirement" log_has "master\\[$SERVER_PID\\]: retiring slot 1 .*"
    kill -CONT "$old"
    wait_for "slot 1 to retire" log_has "master\\[$SERVER_PID\\]: slot 1 retired"
    for m in u1 u2 u3 u4; do
        log_has "worker\\[[0-9]+\\]: received \"$m\""
    done
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ -z "$(new_queues)" ]
}

# bats test_tags=reload
@test "a worker killed before it reads its exit order: its successor ignores the order and serves on" {
    start_server "$STAGE/server" -s "$SOCK" -w 1 --work-ms 300
    printf 'a%d\n' 1 2 3 4 5 6 >"$IN"
    run send "$IN"
    [ "$output" = "$(printf 'OK\n%.0s' 1 2 3 4 5 6)" ]
    first=$(worker_pids "$OUT")
    kill -HUP "$SERVER_PID"
    wait_for "the reload to begin" log_has "master\\[$SERVER_PID\\]: reloading 1 workers?, one slot at a time"
    # a1..a6 take 1.8 s: the exit order is still behind them.
    kill -KILL "$first"
    wait_for "a new worker" live_count_is 1
    printf 'b%d\n' 1 2 3 >"$IN"
    run send "$IN"
    [ "$output" = "$(printf 'OK\nOK\nOK')" ]
    wait_for "b3 to be received" log_has 'worker\[[0-9]+\]: received "b3"'
    second=$(children_of "$SERVER_PID")
    [ "$second" != "$first" ]
    # The stale order was taken back: the new worker did not leave on it,
    # and no worker after it was needed.
    ! log_has "worker\\[$second\\]: exited" || false
    [ "$(worker_pids "$OUT" | wc -l)" -eq 2 ]
    running "$second"
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    for m in a2 a3 a4 a5 a6 b1 b2 b3; do
        log_has "worker\\[[0-9]+\\]: received \"$m\""
    done
    [ -z "$(new_queues)" ]
}

# bats test_tags=status
@test "SIGTTOU SIGTTOU SIGTTIN SIGTTIN while the slots still retire: back to 3 workers" {
    start_server "$STAGE/server" -s "$SOCK" -w 3
    wait_for "3 workers" live_count_is 3
    # Slots 2 and 1 stay retiring while their workers are stopped.
    for w in $(children_of "$SERVER_PID"); do
        stop_worker "$w"
    done
    for sig in TTOU TTOU TTIN TTIN; do
        signal_alone "$sig" "$SERVER_PID"
    done
    wait_for "4 scaling lines" eval \
        '[ "$(log_count "master\\[$SERVER_PID\\]: (retiring|added) slot .*")" -eq 4 ]'
    log_has "master\\[$SERVER_PID\\]: added slot 2 .*; 3 workers"
    kill -CONT "${STOPPED[@]}"
    wait_for "3 live workers" live_count_is 3
    kill -USR1 "$SERVER_PID"
    wait_for "the status" log_has "master\\[$SERVER_PID\\]: status: 3 workers, .*"
    [ "$(log_count "master\\[$SERVER_PID\\]: status: slot [0-9]+, worker [1-9][0-9]*, .*")" -eq 3 ]
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ -z "$(new_queues)" ]
}

# bats test_tags=scaling
@test "SIGTTIN and SIGTTOU count once each, in order: never below 1" {
    start_server "$STAGE/server" -s "$SOCK" -w 2
    wait_for "2 workers" live_count_is 2
    for w in $(children_of "$SERVER_PID"); do
        stop_worker "$w" # a retiring slot stays retiring
    done
    # 2 -1 -1(refused) +1 +1 -1 = 2
    for sig in TTOU TTOU TTIN TTIN TTOU; do
        signal_alone "$sig" "$SERVER_PID"
    done
    kill -CONT "${STOPPED[@]}"
    wait_for "the five answers" eval \
        '[ "$(log_count "master\\[$SERVER_PID\\]: ((retiring|added) slot .*|only one worker left; not removing it)")" -eq 5 ]'
    [ "$(log_count "master\\[$SERVER_PID\\]: only one worker left; not removing it")" -eq 1 ]
    wait_for "2 live workers" live_count_is 2
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
}

@test "a stop at once logs how many OK'd messages it abandoned" {
    start_server "$STAGE/server" -s "$SOCK" -w 1
    worker=$(worker_pids "$OUT")
    kill -STOP "$worker"
    STOPPED+=("$worker")
    printf 'x%d\n' 1 2 3 4 5 >"$IN"
    run send "$IN"
    [ "$output" = "$(printf 'OK\n%.0s' 1 2 3 4 5)" ]
    kill -INT "$SERVER_PID"
    wait_for "the graceful stop" log_has "master\\[$SERVER_PID\\]: stopping on SIGINT"
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    log_has "master\\[$SERVER_PID\\]: SIGINT again: terminating the workers"
    log_has "master\\[$SERVER_PID\\]: abandoned 5 OK'd messages"
    [ -z "$(new_queues)" ]
}

# bats test_tags=respawn
@test "a queue removed with ipcrm: the slot gets a new one, says so, and serves" {
    start_server "$STAGE/server" -s "$SOCK" -w 1
    qid=$(new_queues)
    [ -n "$qid" ]
    ipcrm -q "$qid"
    printf 'q%d\n' 1 2 3 >"$IN"
    run send "$IN"
    [ "$output" = "$(printf 'OK\nOK\nOK')" ]
    wait_for "q3 to be received" log_has 'worker\[[0-9]+\]: received "q3"'
    log_has "master\\[$SERVER_PID\\]: the queue of slot 0 \\($qid\\) was removed by someone else; it has a new one \\([0-9]+\\)"
    if stage_handles SIGUSR1; then
        kill -USR1 "$SERVER_PID"
        wait_for "the status" log_has "master\\[$SERVER_PID\\]: status: 1 worker, .*"
        log_has "master\\[$SERVER_PID\\]: status: slot 0, worker [0-9]+, 3 dispatched, 0 queued, [0-9]+ restarts?"
    fi
    # One replacement worker, not one every few seconds.
    [ "$(worker_pids "$OUT" | wc -l)" -eq 2 ]
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ -z "$(new_queues)" ]
}

# bats test_tags=daemon
@test "a worker holds no descriptor of the master's: no socket, no pidfile" {
    start_server "$STAGE/server" -s "$SOCK" -w 2 -p "$BATS_TEST_TMPDIR/pid"
    for w in $(children_of "$SERVER_PID"); do
        run ls -l "/proc/$w/fd"
        [[ "$output" != *"socket:"* ]]
        [[ "$output" != *"$BATS_TEST_TMPDIR/pid"* ]]
    done
    # The master has them.
    run ls -l "/proc/$SERVER_PID/fd"
    [[ "$output" == *"socket:"* ]]
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
}

# bats test_tags=status
@test "a worker ignores SIGINT, SIGUSR1, SIGTTIN and SIGTTOU, catches SIGHUP, and blocks nothing" {
    start_server "$STAGE/server" -s "$SOCK" -w 1
    w=$(children_of "$SERVER_PID")
    mask() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$w/status"; }
    bit() { echo $((1 << ($(kill -l "$1") - 1))); }
    (((0x$(mask SigIgn) & $(bit INT)) != 0))
    (((0x$(mask SigIgn) & $(bit USR1)) != 0))
    (((0x$(mask SigIgn) & $(bit TTIN)) != 0))
    (((0x$(mask SigIgn) & $(bit TTOU)) != 0))
    (((0x$(mask SigCgt) & $(bit HUP)) != 0))
    [ "$((0x$(mask SigBlk)))" -eq 0 ]
    stop_server INT
}

# bats test_tags=status
@test "SIGUSR1 to the whole process group, twice (pkill -USR1 server): a status, no worker dies, nothing dropped" {
    start_server setsid "$STAGE/server" -s "$SOCK" -w 2 --work-ms 1500
    printf 'important\n' >"$IN"
    run send "$IN"
    [ "$output" = OK ]
    wait_for "the message to be taken" log_has 'worker\[[0-9]+\]: received "important"'
    kill -USR1 -- "-$SERVER_PID"
    wait_for "a status" log_has "master\\[$SERVER_PID\\]: status: 2 workers, .*"
    kill -USR1 -- "-$SERVER_PID"
    wait_for "a second status" eval \
        '[ "$(log_count "master\\[$SERVER_PID\\]: status: 2 workers, .*")" -eq 2 ]'
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    ! grep -q -E 'killed by signal|dropping message' "$OUT" || false
    [ "$(log_count 'worker\[[0-9]+\]: received "important"')" -eq 1 ]
}

# bats test_tags=daemon
@test "a pidfile path that is a symbolic link or a FIFO is refused, and left alone" {
    echo secret >"$BATS_TEST_TMPDIR/victim"
    ln -s victim "$BATS_TEST_TMPDIR/pid"
    run timeout "$DEADLINE" "$STAGE/server" -s "$SOCK" -p "$BATS_TEST_TMPDIR/pid"
    [ "$status" -eq 1 ]
    [ "$output" = "server: $BATS_TEST_TMPDIR/pid: a symbolic link; a pidfile is never followed" ]
    [ "$(cat "$BATS_TEST_TMPDIR/victim")" = secret ]
    [ -L "$BATS_TEST_TMPDIR/pid" ]
    rm "$BATS_TEST_TMPDIR/pid"
    mkfifo "$BATS_TEST_TMPDIR/pid"
    run timeout "$DEADLINE" "$STAGE/server" -d -s "$SOCK" -p "$BATS_TEST_TMPDIR/pid"
    [ "$status" -eq 1 ] # not 124: timeout would have had to end it
    [ "$output" = "server: $BATS_TEST_TMPDIR/pid: not a regular file; left alone" ]
    [ -p "$BATS_TEST_TMPDIR/pid" ]
    [ ! -e "$SOCK" ]
    [ -z "$(new_queues)" ]
}

# bats test_tags=daemon
@test "a log path that is a FIFO with no reader: refused at once, not a hang" {
    mkfifo "$BATS_TEST_TMPDIR/log"
    run timeout "$DEADLINE" "$STAGE/server" -s "$SOCK" -l "$BATS_TEST_TMPDIR/log"
    [ "$status" -eq 1 ]
    [ "$output" = "server: $BATS_TEST_TMPDIR/log: No such device or address" ]
    [ ! -e "$SOCK" ]
}

# bats test_tags=reload
@test "SIGHUP to the whole process group while workers start: none dies of it" {
    # setsid: the server leads its own process group, and has no terminal,
    # so SIGHUP is a reload for the master (each one starts new workers)
    # and means nothing to a worker whose master lives.
    start_server setsid "$STAGE/server" -s "$SOCK" -w 4
    pgid=$SERVER_PID
    end=$((SECONDS + 3))
    while [ "$SECONDS" -lt "$end" ]; do
        kill -HUP -- "-$pgid"
    done
    wait_for "the last reload to finish" eval \
        '[ "$(log_count ".*reload finished")" -ge 1 ]'
    ! grep -q 'killed by signal 1 ' "$OUT" || false
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
    [ -z "$(new_queues)" ]
}

# bats test_tags=daemon
@test "a daemon's workers hold no descriptor of the directory it left, and work in /" {
    local dir w fd
    dir=$(cd "$BATS_TEST_TMPDIR" && pwd -P)
    cd "$dir"
    status=0
    "$STAGE/server" -d -w 2 -s master.sock -p pid -l server.log \
        >/dev/null 2>&1 3>&- || status=$?
    [ "$status" -eq 0 ]
    DAEMON=$(cat pid)
    SERVER_PID=$DAEMON
    wait_for "two workers" live_count_is 2
    # The master keeps the old directory open, for the relative paths it
    # removes at the end; a worker has no use for it.
    for fd in /proc/"$DAEMON"/fd/*; do
        [ "$(readlink "$fd")" != "$dir" ] || break
    done
    [ "$(readlink "$fd")" = "$dir" ]
    for w in $(children_of "$DAEMON"); do
        [ "$(readlink "/proc/$w/cwd")" = / ]
        for fd in /proc/"$w"/fd/*; do
            [ "$(readlink "$fd")" != "$dir" ]
        done
    done
    kill -TERM "$DAEMON"
    wait_for "the daemon to end" not_running "$DAEMON"
    [ ! -e master.sock ]
    [ ! -e pid ]
}

# bats test_tags=daemon
@test "standard descriptors closed at start: a daemon still starts, logs and stops" {
    # Not `run`: it would give the command a standard output and error.
    status=0
    "$STAGE/server" -d -s "$SOCK" -p "$BATS_TEST_TMPDIR/pid" -l "$LOG" \
        <&- >&- 2>&- 3>&- || status=$?
    [ "$status" -eq 0 ]
    DAEMON=$(cat "$BATS_TEST_TMPDIR/pid")
    wait_for "a connection" nc -U -z "$SOCK"
    run "$STAGE/client" -s "$SOCK" hi
    [ "$status" -eq 0 ]
    wait_for "hi in the log" log_has 'worker\[[0-9]+\]: received "hi"' "$LOG"
    log_has "master\\[$DAEMON\\]: started" "$LOG"
    for fd in 0 1 2; do
        [ "$(readlink "/proc/$DAEMON/fd/$fd")" = /dev/null ]
    done
    kill -TERM "$DAEMON"
    wait_for "the daemon to end" not_running "$DAEMON"
    log_has "master\\[$DAEMON\\]: exited" "$LOG"
    [ ! -e "$SOCK" ]
    [ ! -e "$BATS_TEST_TMPDIR/pid" ]
    [ -z "$(new_queues)" ]
}

# bats test_tags=daemon
@test "standard descriptors closed at start: no socket or log takes their numbers" {
    "$STAGE/server" -s "$SOCK" -l "$LOG" <&- >&- 2>&- 3>&- &
    SERVER_PID=$!
    BG_PIDS+=("$SERVER_PID")
    wait_for "a connection" nc -U -z "$SOCK"
    for fd in 0 1 2; do
        [ "$(readlink "/proc/$SERVER_PID/fd/$fd")" = /dev/null ]
    done
    stop_server INT
    [ "$EXIT_STATUS" -eq 0 ]
}

# bats test_tags=daemon
@test "a start that fails at any point leaves no queue, socket, pidfile or process" {
    # Too few descriptors for one more open(): each limit makes a later
    # step of the start fail, up to a limit at which it succeeds.
    local n started=0
    for n in 4 5 6 7 8 9 10 11 12 13 14; do
        rm -f "$LOG"
        run bash -c 'ulimit -n "$1"; shift; exec "$@" 3>&-' _ "$n" \
            "$STAGE/server" -d -s "$SOCK" -p "$BATS_TEST_TMPDIR/pid" -l "$LOG"
        if [ "$status" -eq 0 ]; then
            started=1
            DAEMON=$(cat "$BATS_TEST_TMPDIR/pid")
            kill -TERM "$DAEMON"
            wait_for "the daemon to end" not_running "$DAEMON"
            DAEMON=
        fi
        [ "$status" -eq 0 ] || [ "$status" -eq 1 ]
        [ -z "$(new_queues)" ]
        [ ! -e "$SOCK" ]
        [ ! -e "$BATS_TEST_TMPDIR/pid" ]
    done
    [ "$started" -eq 1 ] # the limits reached far enough
}

# bats test_tags=robust
@test "a wait that keeps failing: said once, exit 1, nothing left" {
    cc -shared -fPIC -o "$BATS_TEST_TMPDIR/fail-wait.so" \
        "$BATS_TEST_DIRNAME/fail-wait.c" -ldl
    local trigger=$BATS_TEST_TMPDIR/fail-now workers w
    # A sanitizer build (SAN=1) wants its runtime first: allow ours.
    start_server env LD_PRELOAD="$BATS_TEST_TMPDIR/fail-wait.so" \
        FAIL_WAIT_FILE="$trigger" \
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
        "$STAGE/server" -s "$SOCK" -w 2
    printf 'before\n' >"$IN"
    run send "$IN"
    [ "$output" = OK ]
    touch "$trigger"
    # A connection wakes the loop; every wait from then on fails.
    nc -U -z "$SOCK" || true
    wait_exit "$SERVER_PID"
    [ "$EXIT_STATUS" -eq 1 ]
    [ "$(log_count "master\\[$SERVER_PID\\]: error: pselect: Bad file descriptor")" -eq 1 ]
    [ ! -e "$SOCK" ]
    [ -z "$(new_queues)" ]
    workers=$(worker_pids "$OUT")
    [ -n "$workers" ]
    for w in $workers; do
        not_running "$w"
    done
}

# A person's terminal: an interactive bash in a new pseudo-terminal
# (script(1)), typed into through $PTY_IN; what it shows is in $SCREEN.
# Killing script closes the terminal, as closing the window does: the
# kernel hangs it up.
#
# The shell relays the hang-up to its jobs only if the kernel's SIGHUP
# reaches it first. The kernel wakes the shell's read of the terminal
# before it sends that SIGHUP, and on a busy machine bash may read the end
# of its input first and exit as on Ctrl-D, relaying nothing. A login
# shell with huponexit relays the SIGHUP on that way out too. HOME is the
# test's own: no history or ~/.bash_logout of the reader's is touched.
# script(1) runs its command with $SHELL -c; exec makes bash, not that
# shell, the session leader.
pty_start() {
    PTY_IN=$BATS_TEST_TMPDIR/pty.in
    SCREEN=$BATS_TEST_TMPDIR/screen
    mkfifo "$PTY_IN"
    HOME=$BATS_TEST_TMPDIR HISTFILE= \
        script -qfec "exec bash --norc --noprofile --login -O huponexit -i" /dev/null \
        <"$PTY_IN" >"$SCREEN" 2>&1 3>&- &
    PTY_PID=$!
    BG_PIDS+=("$PTY_PID")
    exec 8>"$PTY_IN"
}

type_in() {
    printf '%s\n' "$*" >&8
}

pty_hangup() {
    kill -KILL "$PTY_PID"
    wait "$PTY_PID" 2>/dev/null || true
    forget_pid "$PTY_PID"
}

has_master() {
    [ -n "$(master_of "$1")" ]
}

# master_in FILE - waits for the "started" line of a master started in the
# terminal, and sets DAEMON to its pid (it is not our child).
master_in() {
    wait_for "the master's first line" has_master "$1"
    DAEMON=$(master_of "$1")
}

# bats test_tags=daemon
@test "the terminal hangs up on a background master: a graceful stop, nothing left" {
    pty_start
    type_in "$STAGE/server -s $SOCK -l $LOG &"
    master_in "$LOG"
    wait_for "a connection" nc -U -z "$SOCK"
    run "$STAGE/client" -s "$SOCK" before
    [ "$status" -eq 0 ]
    pty_hangup
    wait_for "the master to end" not_running "$DAEMON"
    log_has "master\\[$DAEMON\\]: stopping on SIGHUP \\(the terminal hung up\\)" "$LOG"
    log_has "master\\[$DAEMON\\]: exited" "$LOG"
    ! log_has ".* again: terminating the workers" "$LOG" || false
    log_has 'worker\[[0-9]+\]: received "before"' "$LOG"
    ! log_has "master\\[$DAEMON\\]: reloading .*" "$LOG" || false
    [ ! -e "$SOCK" ]
    [ -z "$(new_queues)" ]
}

# bats test_tags=daemon
@test "the terminal hangs up on a foreground master: a graceful stop, nothing left" {
    pty_start
    type_in "$STAGE/server -s $SOCK -l $LOG"
    master_in "$LOG"
    wait_for "a connection" nc -U -z "$SOCK"
    pty_hangup
    wait_for "the master to end" not_running "$DAEMON"
    log_has "master\\[$DAEMON\\]: stopping on SIGHUP \\(the terminal hung up\\)" "$LOG"
    log_has "master\\[$DAEMON\\]: exited" "$LOG"
    ! log_has ".* again: terminating the workers" "$LOG" || false
    [ ! -e "$SOCK" ]
    [ -z "$(new_queues)" ]
}

# reloads_finished N - true when the log has N "reload finished" lines.
reloads_finished() {
    [ "$(log_count "master\\[$DAEMON\\]: reload finished" "$LOG")" -eq "$1" ]
}

# bats test_tags=daemon
@test "a SIGHUP during a hang-up's stop changes nothing; a SIGINT ends it at once" {
    pty_start
    type_in "$STAGE/server -s $SOCK -l $LOG -w 1 --work-ms 60000 &"
    master_in "$LOG"
    wait_for "a connection" nc -U -z "$SOCK"
    # Three minutes of work hold the stop open for as long as the test
    # needs. A stopped worker would not: when the shell exits, the kernel
    # continues (SIGCONT) the process group it leaves orphaned, if a
    # process in it is stopped.
    run "$STAGE/client" -s "$SOCK" held1 held2 held3
    [ "$status" -eq 0 ]
    pty_hangup
    wait_for "the stop" log_has "master\\[$DAEMON\\]: stopping on SIGHUP \\(the terminal hung up\\)" "$LOG"
    kill -HUP "$DAEMON"
    # The master takes signals in the order they come, and two pending at
    # once in the order of their numbers, SIGHUP (1) before SIGUSR1 (10):
    # once the status is there, so is whatever the SIGHUP did. A master
    # that took it for a stop at once has exited instead.
    kill -USR1 "$DAEMON"
    wait_for "the status" log_has "master\\[$DAEMON\\]: (status: slot 0, .*|exited)" "$LOG"
    ! log_has ".* again: terminating the workers" "$LOG" || false
    running "$DAEMON"
    kill -INT "$DAEMON"
    wait_for "the master to end" not_running "$DAEMON"
    log_has "master\\[$DAEMON\\]: SIGINT again: terminating the workers" "$LOG"
    log_has "master\\[$DAEMON\\]: exited" "$LOG"
    [ ! -e "$SOCK" ]
    [ -z "$(new_queues)" ]
}

# bats test_tags=daemon
@test "SIGHUP from an operator while the terminal is there: a reload" {
    pty_start
    type_in "$STAGE/server -s $SOCK -l $LOG &"
    master_in "$LOG"
    wait_for "a connection" nc -U -z "$SOCK"
    kill -HUP "$DAEMON"
    wait_for "the reload" log_has "master\\[$DAEMON\\]: reload finished" "$LOG"
    # The shell itself is the sender now, the session leader, as when it
    # relays a hang-up; but the terminal is still there.
    type_in "kill -HUP %1"
    wait_for "a second reload" reloads_finished 2
    running "$DAEMON"
    kill -INT "$DAEMON"
    wait_for "the master to end" not_running "$DAEMON"
    log_has "master\\[$DAEMON\\]: exited" "$LOG"
    [ -z "$(new_queues)" ]
}

# bats test_tags=status
@test "a background master writing to a tostop terminal: the kernel's SIGTTOU is no scaling request" {
    pty_start
    type_in "stty tostop"
    type_in "$STAGE/server -s $SOCK -w 2 &"
    master_in "$SCREEN"
    wait_for "a connection" nc -U -z "$SOCK"
    run "$STAGE/client" -s "$SOCK" t1 t2 t3 t4
    [ "$status" -eq 0 ]
    wait_for "t4 on the screen" grep -q 'received "t4"' "$SCREEN"
    kill -USR1 "$DAEMON"
    wait_for "the status on the screen" grep -q "master\\[$DAEMON\\]: status: 2 workers" "$SCREEN"
    ! grep -q -E 'retiring slot|only one worker left' "$SCREEN" || false
    [ "$(children_of "$DAEMON" | wc -l)" -eq 2 ]
    kill -INT "$DAEMON"
    wait_for "the master to end" not_running "$DAEMON"
    wait_for "its last line" grep -q "master\\[$DAEMON\\]: exited" "$SCREEN"
    [ -z "$(new_queues)" ]
}
