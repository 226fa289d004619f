# helpers.bash - what every bats file here shares. Load it with
#     load helpers
# and call common_setup / common_teardown from setup / teardown.
#
# Each test gets its own directory ($BATS_TEST_TMPDIR), socket path ($SOCK)
# and output files. Whatever a test starts in the background is killed and
# reaped in teardown, by pid, and the System V queues its programs made are
# removed (never another program's: see "System V queues" below), so a
# failing test leaves nothing behind for the next one.

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
    OWN_PIDS=()
    # Every process the test starts, and every one those start, inherits
    # this mark: tagged() tells the test's processes from the machine's.
    export POOL_TEST_ID=$BATS_TEST_TMPDIR
    # A suite run inside a systemd service (Type=notify) would hand its
    # NOTIFY_SOCKET to every test server, whose STOPPING=1 could then stop
    # that service. Tests that want one set their own.
    unset NOTIFY_SOCKET
    PRIVATE_IPC=0
    if ipc_ns_is_private; then
        PRIVATE_IPC=1
    fi
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
    remove_own_queues
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
    OWN_PIDS+=("$BG_PID")
}

# own_pid PID - PID is the test's, though not started by start_bg (a
# daemon's master, known from its pidfile): a queue it used is the test's.
own_pid() {
    OWN_PIDS+=("$1")
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
    own_pid "$1"
    for child in $(children_of "$1"); do
        kill_tree "$child"
    done
    kill -KILL "$1" 2>/dev/null || true
}

# --- System V queues ------------------------------------------------------
#
# A test fails if its programs leave a queue behind, and removes in teardown
# what they made; another program's queues it must neither count nor
# remove. The kernel does not record which process made a message queue
# (/proc/sysvipc/msg has no creator's pid, only lspid and lrpid: the last
# process to send to it and the last to receive from it), so:
#
#  - In an IPC namespace of the run's own, made by tests/run
#    (TESTS_IPC_NS) or around bats by hand (`unshare --ipc bats ...`, see
#    ipc_ns_is_private), every queue is the run's, and the tests run one
#    at a time: the queues made since a test began are its own, all of
#    them.
#  - Elsewhere, a queue made since the test began is known to be the test's
#    when its last sender or receiver is one of the test's processes, and
#    known to be another program's when it is a live process that is not.
#    The test counts every queue not known to be another's (one that no
#    message has gone through yet cannot be told apart, so a queue made
#    meanwhile by another program can fail a check: run the tests with
#    tests/run or `unshare --ipc`), and removes only those known to be its
#    own.

# ipc_ns_is_private - true when this IPC namespace is known to be the run's
# own: tests/run made it (TESTS_IPC_NS), or one of this shell's ancestors,
# pid 1 included, is in another one (where its link can be read), so that
# the namespace was made inside this session, by `unshare --ipc bats ...`
# say. Where nothing shows it (an ancestor's link cannot be read, or the
# run is in a PID namespace of its own whose pid 1 shares the IPC
# namespace), it is taken for shared: the safe side, where queues are told
# apart by pid.
ipc_ns_is_private() {
    local here pid=$$ ns

    here=$(readlink /proc/self/ns/ipc) || return 1
    if [ -n "${TESTS_IPC_NS:-}" ] && [ "$here" = "$TESTS_IPC_NS" ]; then
        return 0
    fi
    while [ "$pid" -gt 1 ]; do
        pid=$(awk '$1 == "PPid:" { print $2 }' "/proc/$pid/status" 2>/dev/null)
        [ -n "$pid" ] && [ "$pid" -gt 0 ] || return 1
        ns=$(readlink "/proc/$pid/ns/ipc" 2>/dev/null) || continue
        [ "$ns" = "$here" ] || return 0
    done
    return 1
}

# The ids of every System V message queue in this IPC namespace.
queue_ids() {
    awk 'NR > 1 { print $2 }' /proc/sysvipc/msg | sort
}

# queues_since_setup - "ID LSPID LRPID" for each queue made since the test
# began.
queues_since_setup() {
    awk -v before="$QUEUES_BEFORE" '
        BEGIN { n = split(before, ids, "\n"); for (i = 1; i <= n; i++) old[ids[i]] = 1 }
        NR > 1 && !($2 in old) { print $2, $6, $7 }' /proc/sysvipc/msg
}

# tagged PID - true if PID carries this test's POOL_TEST_ID in its
# environment: the test started it, or a process the test started did. The
# braces: the shell opens the file before the command's own 2>/dev/null is
# in place, so the error for a process that has just ended would escape.
tagged() {
    { tr '\0' '\n' <"/proc/$1/environ"; } 2>/dev/null |
        grep -q -x -F -- "POOL_TEST_ID=$POOL_TEST_ID"
}

# pid_is_ours PID - PID (a queue's lspid or lrpid; 0 for none) is one of
# the test's processes: a live one that carries its mark, or one that has
# ended and whose pid the test kept (start_bg, own_pid, kill_tree). A pid
# the kernel gave to another process meanwhile is that process's: it lacks
# the mark.
pid_is_ours() {
    local pid
    [ "$1" -ne 0 ] || return 1
    tagged "$1" && return 0
    running "$1" && return 1
    for pid in "${OWN_PIDS[@]}"; do
        [ "$pid" != "$1" ] || return 0
    done
    return 1
}

# pid_is_foreign PID - PID is a live process that is not the test's.
pid_is_foreign() {
    [ "$1" -ne 0 ] && ! tagged "$1" && running "$1"
}

# new_queues - the queues made since the test began, one id per line (what
# a test counts): outside a namespace of the run's own, all but those
# another program is seen to use.
new_queues() {
    local id lspid lrpid
    while read -r id lspid lrpid; do
        if [ "$PRIVATE_IPC" -eq 1 ] || pid_is_ours "$lspid" ||
            pid_is_ours "$lrpid"; then
            echo "$id"
        elif ! pid_is_foreign "$lspid" && ! pid_is_foreign "$lrpid"; then
            echo "$id"
            echo "(queue $id: made during the test, by a process not known" \
                "to be the test's; outside a private IPC namespace it may" \
                "be another program's)" >&2
        fi
    done < <(queues_since_setup)
}

# remove_own_queues - removes the queues made since the test began that are
# known to be the test's (all of them in a namespace of the run's own).
remove_own_queues() {
    local id lspid lrpid
    while read -r id lspid lrpid; do
        if [ "$PRIVATE_IPC" -eq 1 ] || pid_is_ours "$lspid" ||
            pid_is_ours "$lrpid"; then
            ipcrm -q "$id" 2>/dev/null || true
        fi
    done < <(queues_since_setup)
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

# was_received MSG - true once some worker has logged MSG as received (MSG
# as the log shows it, escaped; the whole message, not a part of one).
was_received() {
    all_received "$OUT" | grep -q -x -F -- "$1"
}

# worker_of MSG - the pid of each worker that logged MSG (as the log shows
# it, escaped; any bytes) as received, one per line.
worker_of() {
    MSG=$1 awk 'match($0, /^worker\[[0-9]+\]: received "/) &&
        substr($0, RLENGTH + 1) == ENVIRON["MSG"] "\"" {
            print substr($0, 8, index($0, "]") - 8)
        }' "$OUT"
}

# check_round_robin N FILE - the messages in FILE (one a line, in the order
# they were sent, as the log shows them, at least N, no two alike) went
# round-robin to the N workers of $OUT. Judged by what each worker got, not
# by the order of the log's lines, in which workers write as they are
# scheduled: N workers started; the worker that got message k got messages
# k, k+N, k+2N, ... in that order (its queue is first in, first out) and
# nothing else, for each k from 1 to N; those N are the N that started; and
# every message was received exactly once, nothing else.
check_round_robin() {
    local n=$1 k pid
    local -a msgs slot_pids=()

    mapfile -t msgs <"$2"
    [ "${#msgs[@]}" -ge "$n" ]
    [ "$(worker_pids "$OUT" | wc -l)" -eq "$n" ]
    [ "$(all_received "$OUT" | sort)" = "$(printf '%s\n' "${msgs[@]}" | sort)" ]
    for ((k = 1; k <= n; k++)); do
        pid=$(worker_of "${msgs[k - 1]}")
        [ -n "$pid" ]
        [ "$(received_by "$pid" "$OUT")" = "$(printf '%s\n' "${msgs[@]}" |
            awk -v n="$n" -v k="$k" 'NR % n == k % n')" ]
        slot_pids+=("$pid")
    done
    [ "$(printf '%s\n' "${slot_pids[@]}" | sort)" = "$(worker_pids "$OUT" | sort)" ]
}

# sockets_of PID - how many sockets PID has open.
sockets_of() {
    find "/proc/$1/fd" -mindepth 1 -lname 'socket:*' 2>/dev/null | wc -l
}

# Under strace, LeakSanitizer (make SAN=1) cannot run and fails the
# process: "LeakSanitizer does not work under ptrace". The other tests
# check for leaks.
NO_LSAN=ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0

# stage_handles SIGNAL - true unless the stage is one of the final's steps
# (tests/steps test sets FINAL_STEP) whose server does not name SIGNAL in
# the signals block of its --help. The steps add their signals one at a
# time: a test of an earlier step's promise checks what a later step's
# signal shows (the SIGUSR1 status) only once it exists, and on the final
# always.
stage_handles() {
    [ -z "${FINAL_STEP:-}" ] || "$STAGE/server" --help 2>/dev/null | grep -q -w -- "$1"
}

# log_has REGEX [FILE] - true if a whole line of FILE ($OUT by default)
# matches the extended REGEX.
log_has() {
    grep -q -x -E -- "$1" "${2:-$OUT}"
}

# log_count REGEX [FILE] - how many lines of FILE ($OUT) match REGEX.
log_count() {
    grep -c -x -E -- "$1" "${2:-$OUT}" || true
}
