#!/usr/bin/env bats
# Chapter 1: a master forks N workers, each logs "started" and "exited",
# and the master reaps them all. Also the stdio buffer that fork() copies.
#
#   bats tests/step1.bats
#   STAGE=/some/copy bats tests/step1.bats    (test a modified copy)

STAGE=${STAGE:-$BATS_TEST_DIRNAME/../step1-fork}

load helpers

setup_file() { build_stage "$STAGE"; }
setup() { common_setup; }
teardown() { common_teardown; }

# run_server ARGS... - runs the server in the background with its output in
# the file $OUT, and waits (with a deadline) until it has ended. The master's
# pid is then in $MASTER and its exit status in $EXIT_STATUS.
run_server() {
    start_bg "$STAGE/server" "$@"
    MASTER=$BG_PID
    wait_exit "$MASTER"
}

# count PATTERN - how many lines of $OUT match the extended regex PATTERN.
count() {
    grep -c -E -- "$1" "$OUT" || true
}

# check_pool N - the run in $OUT was a clean run of N workers: each started
# once and exited once, the master reaped each one (after the worker's own
# last line), no worker is left, and nothing was logged twice.
check_pool() {
    local n=$1 pid worker_exited reaped
    local -a pids

    [ "$EXIT_STATUS" -eq 0 ]
    [ ! -s "$ERR" ]
    [ "$(count "^master\[$MASTER\]: started$")" -eq 1 ]
    [ "$(sed -n 1p "$OUT")" = "master[$MASTER]: started" ]
    [ "$(sed -n '$p' "$OUT")" = "master[$MASTER]: exited" ]

    mapfile -t pids < <(worker_pids "$OUT")
    [ "${#pids[@]}" -eq "$n" ]
    [ "$(printf '%s\n' "${pids[@]}" | sort -u | wc -l)" -eq "$n" ]
    [ "$(count '^worker\[[0-9]+\]: exited$')" -eq "$n" ]
    [ "$(count "^master\[$MASTER\]: worker [0-9]+ exited with status 0$")" -eq "$n" ]

    for pid in "${pids[@]}"; do
        [ "$pid" -ne "$MASTER" ]
        [ "$(count "^worker\[$pid\]: exited$")" -eq 1 ]
        [ "$(count "^master\[$MASTER\]: worker $pid exited with status 0$")" -eq 1 ]
        # The master can only reap a worker after the worker's last write.
        worker_exited=$(grep -n -x "worker\[$pid\]: exited" "$OUT" | cut -d: -f1)
        reaped=$(grep -n -x "master\[$MASTER\]: worker $pid exited with status 0" "$OUT" | cut -d: -f1)
        [ "$worker_exited" -lt "$reaped" ]
        # Reaped: not even a zombie is left.
        [ ! -e "/proc/$pid" ]
    done

    # started + exited per worker, one reaping line each, two for the master.
    [ "$(wc -l <"$OUT")" -eq $((3 * n + 2)) ]
    [ -z "$(grep -v -E '^(master|worker)\[[0-9]+\]: ' "$OUT")" ]
    [ -z "$(sort "$OUT" | uniq -d)" ]
}

@test "-w 1: one worker starts, exits and is reaped" {
    run_server -w 1
    check_pool 1
}

@test "no -w: three workers by default" {
    run_server
    check_pool 3
}

@test "-w 5: five workers, every one reaped" {
    run_server -w 5
    check_pool 5
}

@test "-w 64: the largest pool starts and is reaped" {
    run_server -w 64
    check_pool 64
}

@test "output to a file: no line is written twice" {
    run_server -w 8
    [ "$EXIT_STATUS" -eq 0 ]
    [ "$(wc -l <"$OUT")" -eq 26 ]
    [ -z "$(sort "$OUT" | uniq -d)" ]
}

@test "output to a pipe: no line is written twice" {
    run bash -c '"$1" -w 4 | cat' _ "$STAGE/server"
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 14 ]
    [ -z "$(printf '%s\n' "${lines[@]}" | sort | uniq -d)" ]
}

@test "stdio-dup: the line printed before fork() comes out twice into a pipe" {
    run bash -c '"$1" | cat' _ "$STAGE/stdio-dup"
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 2 ]
    [[ "${lines[0]}" =~ ^master\[[0-9]+\]:\ started$ ]]
    [ "${lines[1]}" = "${lines[0]}" ]
}

@test "stdio-dup: the same into a file" {
    "$STAGE/stdio-dup" >"$OUT"
    [ "$(wc -l <"$OUT")" -eq 2 ]
    [ "$(sort -u "$OUT" | wc -l)" -eq 1 ]
}

@test "stdio-dup: only once on a terminal" {
    command -v script >/dev/null || skip "script(1) is not installed"
    # script(1) runs the program on a pseudo-terminal: stdout is then line
    # buffered, so the line leaves the buffer before fork().
    run script -q -e -c "$STAGE/stdio-dup" /dev/null </dev/null
    [ "$status" -eq 0 ]
    [ "$(printf '%s\n' "$output" | grep -c 'started')" -eq 1 ]
}

# usage_error ARGS... - the server given ARGS exits 2, prints the usage on
# standard error and nothing on standard output.
usage_error() {
    local rc=0
    "$STAGE/server" "$@" >"$OUT" 2>"$ERR" </dev/null || rc=$?
    [ "$rc" -eq 2 ]
    grep -q '^usage: server' "$ERR"
    [ ! -s "$OUT" ]
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

@test "-w 3x is a usage error" {
    usage_error -w 3x
}

@test "-w without a number is a usage error" {
    usage_error -w
}

@test "an unknown option is a usage error" {
    usage_error -x
}

@test "an extra argument is a usage error" {
    usage_error -w 2 extra
}

@test "-h prints the usage on standard output and exits 0" {
    local rc=0
    "$STAGE/server" -h >"$OUT" 2>"$ERR" || rc=$?
    [ "$rc" -eq 0 ]
    grep -q '^usage: server' "$OUT"
    [ ! -s "$ERR" ]
}
