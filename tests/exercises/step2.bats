#!/usr/bin/env bats
# Chapter 2's exercises: with exercise 3 solved, every queue holds at most
# 512 bytes, and keeps its owner and mode; with exercise 5 solved, the
# workers share one queue, and every message still reaches exactly one
# worker, and every worker exits. Both pass on one copy that solves both.
#   make exercise STEP=2 [DIR=path/to/your/copy]
# They fail on the chapter as shipped: they describe the code you write.
STAGE=${STAGE:-$BATS_TEST_DIRNAME/../../step2-msgqueue}
load ../helpers
setup_file() { build_stage "$STAGE"; }

setup() {
    common_setup
    IN=$BATS_TEST_TMPDIR/input
    GO=$BATS_TEST_TMPDIR/go
}

teardown() { common_teardown; }

# start_held FILE ARGS... - starts the server with its standard input on a
# named pipe that stays empty until the file $GO exists; then FILE is fed to
# it. Until then the master waits in read(), so its queues can be looked at.
# Sets $MASTER. (As in tests/step2.bats.)
start_held() {
    local input=$1 fifo=$BATS_TEST_TMPDIR/stdin
    shift
    mkfifo "$fifo"
    start_bg bash -c 'exec >"$0"; until [ -e "$1" ]; do sleep 0.05; done
        exec cat "$2"' "$fifo" "$GO" "$input"
    start_bg bash -c 'exec "$@" <"$0"' "$fifo" "$STAGE/server" "$@"
    MASTER=$BG_PID
}

workers_started() {
    [ "$(worker_pids "$OUT" | wc -l)" -ge "$1" ]
}

# qbytes QID - the queue's limit in bytes, as ipcs(1) reads it (IPC_STAT).
qbytes() {
    ipcs -q -i "$1" | sed -n 's/.*qbytes=\([0-9]*\).*/\1/p'
}

# perms QID - the queue's owner, group, creator's ids and mode, as
# /proc/sysvipc/msg shows them: "uid gid cuid cgid mode".
perms() {
    awk -v id="$1" '$2 == id { print $8, $9, $10, $11, $3 }' /proc/sysvipc/msg
}

# check_clean_end N - the master exited 0 after reaping N workers that all
# exited 0, and no queue is left.
check_clean_end() {
    local pid
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(worker_pids "$OUT" | wc -l)" -eq "$1" ]
    for pid in $(worker_pids "$OUT"); do
        grep -q -x "master\[$MASTER\]: worker $pid exited with status 0" "$OUT"
    done
    [ -z "$(new_queues)" ]
}

@test "exercise 3: every queue is shrunk to 512 bytes, and nothing is lost" {
    local qid
    seq -f 'message %03g, long enough that a few fill 512 bytes' 200 >"$IN"
    start_held "$IN" -w 2
    wait_for "2 workers" workers_started 2
    [ "$(new_queues | wc -l)" -ge 1 ]
    for qid in $(new_queues); do
        [ "$(qbytes "$qid")" = 512 ]
        # IPC_SET sets the owner and mode too, from the same struct: they
        # are still the creator's, with mode 0600.
        [ "$(perms "$qid")" = "$(id -u) $(id -g) $(id -u) $(id -g) 600" ]
    done
    touch "$GO"
    wait_exit "$MASTER"
    [ "$(all_received "$OUT" | sort)" = "$(sort "$IN")" ]
    check_clean_end 2
}

@test "exercise 5: one queue for all workers; each message once, each worker exits" {
    seq -f 'm%g' 60 >"$IN"
    start_held "$IN" -w 3
    wait_for "3 workers" workers_started 3
    [ "$(new_queues | wc -l)" -eq 1 ]
    touch "$GO"
    wait_exit "$MASTER"
    # Every message exactly once, whoever took it.
    [ "$(all_received "$OUT" | sort)" = "$(sort "$IN")" ]
    check_clean_end 3
}
