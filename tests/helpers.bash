# helpers.bash - what every bats file here shares. Load it with
#     load helpers
# and call common_setup / common_teardown from setup / teardown.
#
# Each test gets its own directory ($BATS_TEST_TMPDIR), socket path ($SOCK)
# and output files. Whatever a test starts in the background is killed and
# reaped in teardown, by pid, and any System V queue created during the test
# is removed, so a failing test leaves nothing behind for the next one.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Seconds to wait for anything before a test gives up. Generous on purpose:
# the tests must pass on a slow, busy machine (and under the sanitizers).
DEADLINE=${DEADLINE:-20}

# Builds STAGE quietly; for setup_file, so `bats tests/stepN.bats` works
# straight after a clone.
build_stage() {
    make -s -C "$1" >&2
}

# own_chapter_only WHY - skips the test when tests/run carries this file's
# tests to a later stage (CARRIED is set, see tests/manifest): the test
# shows a fault the later chapters fix, or words they change. WHY says
# which.
own_chapter_only() {
    [ -z "${CARRIED:-}" ] || skip "$1"
}

# not_carried_to STAGE WHY - the same, only when the later stage is STAGE
# (a directory name such as final).
not_carried_to() {
    [ -z "${CARRIED:-}" ] || [ "$(basename "$STAGE")" != "$1" ] || skip "$2"
}

common_setup() {
    SOCK=$BATS_TEST_TMPDIR/master.sock
    OUT=$BATS_TEST_TMPDIR/server.out
    ERR=$BATS_TEST_TMPDIR/server.err
    BG_PIDS=()
    QUEUES_BEFORE=$(queue_ids)
}

common_teardown() {
    local pid
    for pid in "${BG_PIDS[@]}"; do
        kill_tree "$pid"
    done
    for pid in "${BG_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    remove_new_queues
}

# start_bg CMD ARGS... - runs a program in the background with its output in
# $OUT and $ERR and its pid in $BG_PID. 3>&- closes the descriptor bats
# reads test output from: a background process holding it would make bats
# wait for it forever. Its standard input is /dev/null, as for any
# background job of a non-interactive shell; to feed it a file, start
# `bash -c 'exec "$@" <"$0"' FILE CMD ARGS...`.
start_bg() {
    "$@" >"$OUT" 2>"$ERR" 3>&- &
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
}

# start_server CMD ARGS... - start_bg, then wait until the server accepts a
# connection on $SOCK. The socket file exists from bind(), before listen(),
# so only a successful connect shows the server is ready.
start_server() {
    start_bg "$@"
    SERVER_PID=$BG_PID
    wait_for "a connection to $SOCK" nc -U -z "$SOCK"
}

# wait_for WHAT CMD ARGS... - runs CMD every 50 ms until it succeeds; fails
# the test after $DEADLINE seconds.
wait_for() {
    local what=$1 tries=$((DEADLINE * 20))
    shift
    while ! "$@" 2>/dev/null; do
        tries=$((tries - 1))
        if [ "$tries" -le 0 ]; then
            echo "gave up waiting for $what after ${DEADLINE}s" >&2
            return 1
        fi
        sleep 0.05
    done
}

# True while PID runs: it exists and is not a zombie (a process that has
# ended but that its parent, here bats, has not yet waited for). The state
# is the field after the last ")": the command name before it may itself
# hold spaces or parentheses.
running() {
    local state
    state=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

not_running() {
    ! running "$1"
}

# wait_exit PID - waits until the background process PID ends and sets
# $EXIT_STATUS to its exit status; fails the test after $DEADLINE seconds.
wait_exit() {
    wait_for "process $1 to exit" not_running "$1" || return 1
    EXIT_STATUS=0
    wait "$1" || EXIT_STATUS=$?
    forget_pid "$1"
}

# forget_pid PID - takes a reaped PID off the teardown list: the kernel may
# give the number to some other process, which teardown must not kill.
forget_pid() {
    local pid keep=()
    for pid in "${BG_PIDS[@]}"; do
        [ "$pid" = "$1" ] || keep+=("$pid")
    done
    BG_PIDS=("${keep[@]}")
}

# stop_server SIGNAL - sends SIGNAL to the server and waits for it to end;
# its exit status is then in $EXIT_STATUS.
stop_server() {
    kill -"$1" "$SERVER_PID"
    wait_exit "$SERVER_PID"
}

# children_of PID - the pids whose parent is PID, one per line.
children_of() {
    local f
    for f in /proc/[0-9]*/status; do
        awk -v parent="$1" '$1 == "PPid:" && $2 == parent { found = 1 }
            END { exit !found }' "$f" 2>/dev/null &&
            basename "$(dirname "$f")"
    done
    return 0
}

# kill_tree PID - SIGKILLs PID and every process below it. PID is stopped
# first, so that it cannot fork a replacement for a child killed meanwhile
# (a master respawns its workers).
kill_tree() {
    local child
    kill -STOP "$1" 2>/dev/null || return 0
    for child in $(children_of "$1"); do
        kill_tree "$child"
    done
    kill -KILL "$1" 2>/dev/null || true
}

# The ids of every System V message queue on the machine, one per line.
queue_ids() {
    awk 'NR > 1 { print $2 }' /proc/sysvipc/msg | sort
}

# The queues created since the test began (a test runs alone, so these are
# the ones its programs made).
new_queues() {
    comm -13 <(echo "$QUEUES_BEFORE") <(queue_ids)
}

remove_new_queues() {
    local id
    for id in $(new_queues); do
        ipcrm -q "$id" 2>/dev/null || true
    done
}

# worker_pids FILE - the pids in FILE's "worker[PID]: started" lines.
worker_pids() {
    sed -n 's/^worker\[\([0-9]*\)\]: started$/\1/p' "$1"
}

# received_by PID FILE - the messages worker PID logged as received, one per
# line, still escaped.
received_by() {
    sed -n "s/^worker\\[$1\\]: received \"\\(.*\\)\"\$/\\1/p" "$2"
}

# all_received FILE - every message any worker logged as received.
all_received() {
    sed -n 's/^worker\[[0-9]*\]: received "\(.*\)"$/\1/p' "$1"
}
