#!/usr/bin/env bats
# Chapter 2: one System V message queue per worker. The master sends the
# messages (from its arguments or from standard input) round-robin, then an
# exit message to each worker, reaps them and removes the queues.
#
#   bats tests/step2.bats
#   STAGE=/some/copy bats tests/step2.bats    (test a modified copy)

STAGE=${STAGE:-$BATS_TEST_DIRNAME/../step2-msgqueue}

load helpers

setup_file() { build_stage "$STAGE"; }

setup() {
    common_setup
    IN=$BATS_TEST_TMPDIR/input
    GO=$BATS_TEST_TMPDIR/go
}

teardown() { common_teardown; }

# serve ARGS... - runs the server with messages from ARGS, output in $OUT
# and $ERR, and waits (with a deadline) for it to end. Sets $MASTER and
# $EXIT_STATUS.
serve() {
    start_bg "$STAGE/server" "$@"
    MASTER=$BG_PID
    wait_exit "$MASTER"
}

# serve_stdin FILE ARGS... - the same, reading messages from FILE on
# standard input. (A command started with & gets /dev/null as standard
# input unless it redirects its own, hence the bash -c.)
serve_stdin() {
    local input=$1
    shift
    start_bg bash -c 'exec "$@" <"$0"' "$input" "$STAGE/server" "$@"
    MASTER=$BG_PID
    wait_exit "$MASTER"
}

# start_held FILE ARGS... - starts the server in the background with its
# standard input on a named pipe that stays empty until the file $GO exists;
# then FILE is fed to it. Until then the master waits in read(), so its
# queues and workers can be looked at. Sets $MASTER.
start_held() {
    local input=$1 fifo=$BATS_TEST_TMPDIR/stdin
    shift
    mkfifo "$fifo"
    # Opening a named pipe waits for the other end, so the feeder opens it
    # at once and writes only later.
    start_bg bash -c 'exec >"$0"; until [ -e "$1" ]; do sleep 0.05; done
        exec cat "$2"' "$fifo" "$GO" "$input"
    start_bg bash -c 'exec "$@" <"$0"' "$fifo" "$STAGE/server" "$@"
    MASTER=$BG_PID
}

# workers_started N - true once N workers have logged "started".
workers_started() {
    [ "$(worker_pids "$OUT" | wc -l)" -ge "$1" ]
}

# check_clean_end N - the master reaped N workers, each after its last
# received line and its exited line, exited 0 and left no queue behind.
check_clean_end() {
    local n=$1 pid last_received exited reaped

    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(sed -n '$p' "$OUT")" = "master[$MASTER]: exited" ]
    [ "$(worker_pids "$OUT" | wc -l)" -eq "$n" ]
    for pid in $(worker_pids "$OUT"); do
        last_received=$(grep -n "^worker\[$pid\]: received " "$OUT" | tail -n 1 | cut -d: -f1)
        exited=$(grep -n -x "worker\[$pid\]: exited" "$OUT" | cut -d: -f1)
        reaped=$(grep -n -x "master\[$MASTER\]: worker $pid exited with status 0" "$OUT" | cut -d: -f1)
        [ -n "$exited" ]
        [ -n "$reaped" ]
        # The exit message came after the data: nothing received after it.
        [ "${last_received:-0}" -lt "$exited" ]
        [ "$exited" -lt "$reaped" ]
        [ ! -e "/proc/$pid" ]
    done
    [ -z "$(new_queues)" ]
}

@test "3 workers, 9 messages: round-robin by content" {
    seq -f 'm%g' 9 >"$IN"
    serve -w 3 $(cat "$IN")
    check_round_robin 3 "$IN"
    check_clean_end 3
}

@test "1 worker gets every message, in order" {
    seq -f 'm%g' 4 >"$IN"
    serve -w 1 $(cat "$IN")
    check_round_robin 1 "$IN"
    check_clean_end 1
}

@test "5 workers, 12 messages: round-robin wraps around unevenly" {
    seq -f 'm%g' 12 >"$IN"
    serve -w 5 $(cat "$IN")
    check_round_robin 5 "$IN"
    check_clean_end 5
}

@test "default: 3 workers" {
    printf '%s\n' a b c >"$IN"
    serve $(cat "$IN")
    check_round_robin 3 "$IN"
    check_clean_end 3
}

@test "more workers than messages: the idle ones still exit" {
    serve -w 4 only
    [ "$(all_received "$OUT")" = only ]
    check_clean_end 4
}

@test "standard input: one message per line, the last one without a newline" {
    printf 'one\ntwo words\nthree\nfour' >"$IN"
    serve_stdin "$IN" -w 2
    [ ! -s "$ERR" ]
    printf '%s\n' one 'two words' three four >"$BATS_TEST_TMPDIR/expected"
    check_round_robin 2 "$BATS_TEST_TMPDIR/expected"
    check_clean_end 2
}

@test "3000 messages through standard input: each exactly once, in order" {
    # 3000 x ~60 bytes: far more than the queues hold at once
    # (/proc/sys/kernel/msgmnb), so the master may wait in msgsnd().
    seq -f 'message %04g, padded so that a few hundred fill a queue' 3000 >"$IN"
    serve_stdin "$IN" -w 3
    [ ! -s "$ERR" ]
    check_round_robin 3 "$IN"
    check_clean_end 3
}

# queue_bytes QID - the bytes waiting on queue QID.
queue_bytes() {
    awk -v id="$1" '$2 == id { print $4 }' /proc/sysvipc/msg
}

# queue_full QID SIZE - true when no message of SIZE bytes fits on QID.
queue_full() {
    [ $(($(queue_bytes "$1") + $2)) -gt "$(cat /proc/sys/kernel/msgmnb)" ]
}

@test "a full queue makes the master wait, and nothing is lost" {
    local worker qid lines
    # Twice what one queue holds, in lines of 64 bytes (newline included).
    lines=$(($(cat /proc/sys/kernel/msgmnb) / 64 * 2))
    seq -f 'message %06g padded to sixty-three bytes ....................' "$lines" >"$IN"
    [ "$(head -n 1 "$IN" | wc -c)" -eq 64 ]
    start_held "$IN" -w 1
    wait_for "the worker to start" workers_started 1
    worker=$(worker_pids "$OUT")
    qid=$(new_queues)
    kill -STOP "$worker"
    touch "$GO"
    wait_for "the queue to fill" queue_full "$qid" 63
    # The master is still there, waiting for room; the worker has not run.
    running "$MASTER"
    [ -z "$(all_received "$OUT")" ]
    kill -CONT "$worker"
    wait_exit "$MASTER"
    [ "$(received_by "$worker" "$OUT")" = "$(cat "$IN")" ]
    check_clean_end 1
}

@test "while the master runs: one private queue per worker, mode 0600" {
    local qid
    : >"$IN"
    start_held "$IN" -w 3
    wait_for "3 workers" workers_started 3
    [ "$(new_queues | wc -l)" -eq 3 ]
    for qid in $(new_queues); do
        # key 0 is IPC_PRIVATE; perms are printed in octal
        [ "$(awk -v id="$qid" '$2 == id { print $1, $3 }' /proc/sysvipc/msg)" = "0 600" ]
    done
    touch "$GO"
    wait_exit "$MASTER"
    check_clean_end 3
}

@test "no queue is left behind" {
    serve -w 6 a b c d e f g
    [ "$EXIT_STATUS" -eq 0 ]
    [ -z "$(new_queues)" ]
}

@test "odd bytes are escaped; UTF-8 passes through" {
    local -a got
    serve -w 1 'say "hi"' 'back\slash' $'tab\there' $'cr\rhere' \
        $'esc\e[31mred' $'del\x7f' $'one\x01' 'héllo wörld ✓' \
        $'two\nlines' $'fake\nworker[1]: exited'
    [ "$EXIT_STATUS" -eq 0 ]
    mapfile -t got < <(all_received "$OUT")
    [ "${#got[@]}" -eq 10 ]
    [ "${got[0]}" = 'say \"hi\"' ]
    [ "${got[1]}" = 'back\\slash' ]
    [ "${got[2]}" = 'tab\there' ]
    [ "${got[3]}" = 'cr\rhere' ]
    [ "${got[4]}" = 'esc\x1b[31mred' ]
    [ "${got[5]}" = 'del\x7f' ]
    [ "${got[6]}" = 'one\x01' ]
    [ "${got[7]}" = 'héllo wörld ✓' ]
    [ "${got[8]}" = 'two\x0alines' ]
    [ "${got[9]}" = 'fake\x0aworker[1]: exited' ]
    # No message made a line of its own, or a line that is not an event.
    [ "$(wc -l <"$OUT")" -eq 15 ]
    [ -z "$(grep -v -E '^(master|worker)\[[0-9]+\]: ' "$OUT")" ]
    ! grep -q -x 'worker\[1\]: exited' "$OUT" || false
    check_clean_end 1
}

@test "a message of 1025 bytes is skipped with a warning; the others arrive" {
    local long
    long=$(head -c 1025 /dev/zero | tr '\0' x)
    serve -w 2 before "$long" after
    [ "$EXIT_STATUS" -eq 0 ]
    grep -q '1025 bytes.*skipped' "$ERR"
    [ "$(all_received "$OUT" | sort)" = "$(printf '%s\n' after before)" ]
    ! grep -q xxxxxxxxxx "$OUT" || false
    check_clean_end 2
}

@test "a message of exactly 1024 bytes is accepted" {
    local max
    max=$(head -c 1024 /dev/zero | tr '\0' y)
    serve -w 1 "$max"
    [ ! -s "$ERR" ]
    [ "$(all_received "$OUT")" = "$max" ]
    check_clean_end 1
}

@test "standard input: a 1025-byte line is skipped, 1024 bytes pass" {
    { echo before; head -c 1025 /dev/zero | tr '\0' x; echo; head -c 1024 /dev/zero | tr '\0' y; echo; echo after; } >"$IN"
    serve_stdin "$IN" -w 1
    [ "$EXIT_STATUS" -eq 0 ]
    grep -q '1025 bytes.*skipped' "$ERR"
    [ "$(all_received "$OUT")" = "$(grep -v x "$IN")" ]
    check_clean_end 1
}

@test "after --, a message may start with a dash" {
    serve -w 2 -- -dash --double
    [ "$(all_received "$OUT" | sort)" = "$(printf '%s\n' --double -dash)" ]
    check_clean_end 2
}

# usage_error ARGS... - the server given ARGS exits 2 with the usage on
# standard error, nothing on standard output, and no queue created.
usage_error() {
    local rc=0
    "$STAGE/server" "$@" >"$OUT" 2>"$ERR" </dev/null || rc=$?
    [ "$rc" -eq 2 ]
    grep -q '^usage: server' "$ERR"
    [ ! -s "$OUT" ]
    [ -z "$(new_queues)" ]
}

@test "-w 0 is a usage error" {
    usage_error -w 0
}

@test "-w 65 is a usage error" {
    usage_error -w 65
}

@test "-w abc is a usage error" {
    usage_error -w abc
}

@test "-w '' is a usage error" {
    usage_error -w ''
}

@test "an unknown option is a usage error" {
    usage_error -x hello
}

@test "-h prints the usage on standard output and exits 0" {
    local rc=0
    "$STAGE/server" -h >"$OUT" 2>"$ERR" </dev/null || rc=$?
    [ "$rc" -eq 0 ]
    grep -q '^usage: server' "$OUT"
    [ ! -s "$ERR" ]
}
